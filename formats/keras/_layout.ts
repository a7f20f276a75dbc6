// Where a Keras file keeps its variables, and the names Keras gives them.
//
// Keras 3 (`.keras` member model.weights.h5, `.weights.h5`): each layer's
// variables are datasets `0`, `1`, … in a `vars` group whose `name` attribute
// is the layer's name; nested layers sit in subgroups. Variable names are not
// stored, so they come from the layer's class (config.json when there is
// one, else the group's key, which Keras derives from the class) and its
// config (`use_bias`, `center`, `scale`).
//
// Legacy HDF5 (Keras 2, tf.keras, Keras 3's `model.save("x.h5")`): layer
// groups listed in a `layer_names` attribute, each with a `weight_names`
// attribute naming its datasets, under `model_weights` (full model) or at the
// root (weights only); optimizer state under `optimizer_weights`.

import { FormatError, LimitError } from "../../lib/errors.ts";
import type { Hdf5File } from "./_hdf5.ts";

/** One variable: the tensor name ckpt gives it and its dataset's path. */
export interface KerasVariable {
  readonly name: string;
  readonly path: string;
}

/** A layer config from config.json, as far as naming needs it. */
interface LayerConfig {
  class_name?: string;
  config?: { name?: string; layers?: LayerConfig[]; trainable?: boolean; [key: string]: unknown };
}

// A hostile file can link groups into cycles: bound the walk.
const MAX_DEPTH = 64;
const MAX_GROUPS = 1_000_000;

// Variables of the built-in layers, in the order their build() creates them;
// `when` names the config flag that must not be false for the variable to exist.
interface VariableSpec {
  readonly name: string;
  readonly when?: string;
}
const KERNEL_BIAS: readonly VariableSpec[] = [{ name: "kernel" }, { name: "bias", when: "use_bias" }];
const RECURRENT: readonly VariableSpec[] = [
  { name: "kernel" },
  { name: "recurrent_kernel" },
  { name: "bias", when: "use_bias" },
];
const LAYER_VARIABLES: Readonly<Record<string, readonly VariableSpec[]>> = {
  dense: KERNEL_BIAS,
  conv1d: KERNEL_BIAS,
  conv2d: KERNEL_BIAS,
  conv3d: KERNEL_BIAS,
  conv1d_transpose: KERNEL_BIAS,
  conv2d_transpose: KERNEL_BIAS,
  conv3d_transpose: KERNEL_BIAS,
  depthwise_conv1d: KERNEL_BIAS,
  depthwise_conv2d: KERNEL_BIAS,
  separable_conv1d: [{ name: "depthwise_kernel" }, { name: "pointwise_kernel" }, {
    name: "bias",
    when: "use_bias",
  }],
  separable_conv2d: [{ name: "depthwise_kernel" }, { name: "pointwise_kernel" }, {
    name: "bias",
    when: "use_bias",
  }],
  embedding: [{ name: "embeddings" }],
  batch_normalization: [
    { name: "gamma", when: "scale" },
    { name: "beta", when: "center" },
    { name: "moving_mean" },
    { name: "moving_variance" },
  ],
  layer_normalization: [{ name: "gamma", when: "scale" }, { name: "beta", when: "center" }],
  group_normalization: [{ name: "gamma", when: "scale" }, { name: "beta", when: "center" }],
  p_re_lu: [{ name: "alpha" }],
  lstm_cell: RECURRENT,
  gru_cell: RECURRENT,
  simple_rnn_cell: RECURRENT,
};
// Variables Keras never trains (no optimizer slots).
const NON_TRAINABLE = new Set(["moving_mean", "moving_variance"]);

/** `BatchNormalization` → `batch_normalization`, as Keras' `to_snake_case`. */
function snakeCase(name: string): string {
  const s = name.replace(/(.)([A-Z][a-z]+)/g, "$1_$2").replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
  return s.replace(/^_+/, "");
}

/**
 * Names for `count` variables of a layer of class `snake`: from its config
 * when known, else the full list or the required-only list when the count
 * says which. Undefined when neither fits.
 */
function variableNames(
  snake: string,
  config: Record<string, unknown> | undefined,
  count: number,
): string[] | undefined {
  const spec = LAYER_VARIABLES[snake];
  if (!spec) return undefined;
  if (config) {
    const names = spec.filter((v) => !v.when || config[v.when] !== false).map((v) => v.name);
    return names.length === count ? names : undefined;
  }
  const all = spec.map((v) => v.name);
  if (all.length === count) return all;
  const required = spec.filter((v) => !v.when).map((v) => v.name);
  return required.length === count ? required : undefined;
}

/** The variable datasets of a `vars` group: numbered ones in number order, then any others by name. */
function variableKeys(file: Hdf5File, group: string): string[] {
  const keys = file.keys(group).filter((key) => file.kind(`${group}/${key}`) === "dataset");
  const numbered = keys.filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b));
  return [...numbered, ...keys.filter((k) => !/^\d+$/.test(k))];
}

/** True when the keys are exactly `0`, `1`, …, as Keras numbers a layer's variables. */
function isNumbered(keys: readonly string[]): boolean {
  return keys.every((k, i) => k === String(i));
}

interface LayerVars {
  chain: string[];
  group: string;
  keys: string[];
  key: string;
  config?: LayerConfig;
  trainable: boolean;
  order: number;
}

/** Layer configs by name chain (`block/inner_dense`), in model order, with their effective trainable flag. */
function configIndex(
  root: LayerConfig | undefined,
): Map<string, { config: LayerConfig; order: number; trainable: boolean }> {
  const index = new Map<string, { config: LayerConfig; order: number; trainable: boolean }>();
  let order = 0;
  const visit = (layers: LayerConfig[] | undefined, prefix: string, trainable: boolean, depth: number) => {
    if (!Array.isArray(layers) || depth > MAX_DEPTH) return;
    for (const layer of layers) {
      const name = layer?.config?.name;
      if (typeof name !== "string") continue;
      const chain = prefix ? `${prefix}/${name}` : name;
      const t = trainable && layer.config?.trainable !== false;
      if (!index.has(chain)) index.set(chain, { config: layer, order: order++, trainable: t });
      visit(layer.config?.layers, chain, t, depth + 1);
    }
  };
  visit(root?.config?.layers, "", root?.config?.trainable !== false, 0);
  return index;
}

/** What {@linkcode keras3Variables} finds. */
export interface Keras3Layout {
  readonly variables: KerasVariable[];
  /** How optimizer variables were named: from the model's config, or by index. */
  readonly optimizerNames: "derived" | "indexed" | "none";
}

/**
 * The variables of a Keras 3 weights file, model variables first (in model
 * order when `config` is given), then `optimizer/<optimizer name>/<variable>`.
 */
export function keras3Variables(
  file: Hdf5File,
  config?: LayerConfig & { compile_config?: unknown },
): Keras3Layout {
  const index = configIndex(config);
  const layers: LayerVars[] = [];
  let groups = 0;
  let walkOrder = 1_000_000_000;
  const walk = (group: string, chain: string[], depth: number) => {
    if (depth > MAX_DEPTH) {
      throw new LimitError(`Cannot read ${file.name}: groups nest deeper than ${MAX_DEPTH} at '${group}'`, {
        limit: MAX_DEPTH,
        actual: depth,
      });
    }
    if (++groups > MAX_GROUPS) {
      throw new LimitError(`Cannot read ${file.name}: more than ${MAX_GROUPS} groups`, { limit: MAX_GROUPS });
    }
    const keys = file.keys(group);
    let here = chain;
    if (keys.includes("vars") && file.kind(join(group, "vars")) === "group") {
      const varsGroup = join(group, "vars");
      const named = file.attribute(varsGroup, "name");
      const key = group.split("/").pop() ?? "";
      const layerName = typeof named === "string" && named ? named : key;
      // The root's vars belong to the model itself, whose name is not part of its layers' paths.
      here = group === "" ? [] : [...chain, layerName];
      const varKeys = variableKeys(file, varsGroup);
      if (varKeys.length > 0) {
        const found = index.get(here.join("/"));
        layers.push({
          chain: here.length > 0 ? here : [layerName],
          group: varsGroup,
          keys: varKeys,
          key,
          config: found?.config,
          trainable: found?.trainable ?? true,
          order: found?.order ?? walkOrder++,
        });
      }
    }
    for (const child of keys) {
      if (child === "vars") continue;
      if (group === "" && child === "optimizer") continue;
      const path = join(group, child);
      if (file.kind(path) === "group") walk(path, here, depth + 1);
    }
  };
  walk("", [], 0);
  layers.sort((a, b) => a.order - b.order);

  // A layer's variables are `<layer name>/<variable>`, as Keras names a model
  // rebuilt from its config; where two nested layers share a name, their
  // full name chains tell them apart.
  const short = new Map<string, number>();
  for (const layer of layers) {
    const name = layer.chain[layer.chain.length - 1];
    short.set(name, (short.get(name) ?? 0) + 1);
  }
  const variables: KerasVariable[] = [];
  const trainable: { path: string; name: string }[] = [];
  let allNamed = true;
  for (const layer of layers) {
    const last = layer.chain[layer.chain.length - 1];
    const prefix = (short.get(last) ?? 0) > 1 ? layer.chain.join("/") : last;
    const className = layer.config?.class_name;
    const candidates = [
      className ? snakeCase(className) : undefined,
      layer.key.replace(/_\d+$/, ""),
      last.replace(/_\d+$/, ""),
    ];
    let names: string[] | undefined;
    for (const snake of isNumbered(layer.keys) ? candidates : []) {
      if (!snake) continue;
      names = variableNames(snake, className ? layer.config?.config : undefined, layer.keys.length);
      if (names || className) break;
    }
    if (!names) allNamed = false;
    layer.keys.forEach((k, i) => {
      const variable = names ? names[i] : k;
      const path = `${layer.group}/${k}`;
      variables.push({ name: `${prefix}/${variable}`, path });
      if (layer.trainable && names && !NON_TRAINABLE.has(variable)) {
        trainable.push({ path, name: `${prefix}/${variable}` });
      }
    });
  }

  let optimizerNames: Keras3Layout["optimizerNames"] = "none";
  const rootKeys = file.keys("");
  if (rootKeys.includes("optimizer") && file.kind("optimizer/vars") === "group") {
    const named = file.attribute("optimizer/vars", "name");
    const optimizer = typeof named === "string" && named ? named : "optimizer";
    const keys = variableKeys(file, "optimizer/vars");
    const derived = config && allNamed
      ? optimizerVariableNames(file, config, keys.length, trainable)
      : undefined;
    optimizerNames = derived ? "derived" : keys.length > 0 ? "indexed" : "none";
    keys.forEach((k, i) => {
      variables.push({
        name: `optimizer/${optimizer}/${derived ? derived[i] : k}`,
        path: `optimizer/vars/${k}`,
      });
    });
  }
  return { variables, optimizerNames };
}

// Slot variables per trainable variable, in the order Keras 3 creates them.
const OPTIMIZER_SLOTS: Readonly<Record<string, readonly string[]>> = {
  Adam: ["momentum", "velocity"],
  AdamW: ["momentum", "velocity"],
};

/**
 * Keras 3 optimizer variable names (`iteration`, `learning_rate`, then
 * `<variable path with _>_<slot>` per trainable variable), when the
 * optimizer is one whose slots are known and every slot's shape matches its
 * variable's. Undefined otherwise (the caller names them by index).
 */
function optimizerVariableNames(
  file: Hdf5File,
  config: { compile_config?: unknown },
  count: number,
  trainable: { path: string; name: string }[],
): string[] | undefined {
  const compile = config.compile_config as {
    optimizer?: { class_name?: string; config?: Record<string, unknown> };
  };
  const optimizer = compile?.optimizer;
  const className = optimizer?.class_name;
  const options = optimizer?.config ?? {};
  if (!className) return undefined;
  let slots: readonly string[] | undefined = OPTIMIZER_SLOTS[className];
  if (className === "SGD") {
    slots = typeof options.momentum === "number" && options.momentum !== 0 ? ["momentum"] : [];
  }
  if (!slots || options.amsgrad === true || options.use_ema === true || options.gradient_accumulation_steps) {
    return undefined;
  }
  const names = ["iteration"];
  if (typeof options.learning_rate === "number") names.push("learning_rate");
  for (const variable of trainable) {
    for (const slot of slots) names.push(`${variable.name.replaceAll("/", "_")}_${slot}`);
  }
  if (names.length !== count) return undefined;
  // Each slot must have its variable's shape.
  let i = names.length - trainable.length * slots.length;
  for (const variable of trainable) {
    const shape = file.dataset(variable.path, variable.name).shape.join(",");
    for (const _ of slots) {
      const slotShape = file.dataset(`optimizer/vars/${i}`, names[i]).shape.join(",");
      if (slotShape !== shape) return undefined;
      i++;
    }
  }
  return names;
}

function join(group: string, child: string): string {
  return group ? `${group}/${child}` : child;
}

/** A string-list attribute, reassembled when Keras split it into `name0`, `name1`, … (HDF5's 64 KiB header limit). */
function stringList(file: Hdf5File, path: string, name: string): string[] | undefined {
  const read = (n: string): string[] | undefined => {
    const value = file.attribute(path, n);
    if (value === undefined) return undefined;
    const list = Array.isArray(value) ? value : [value];
    return list.map((v) => {
      if (typeof v !== "string") {
        throw new FormatError(
          `Cannot read ${file.name}: attribute '${n}' of '${path || "/"}' is not a list of strings`,
          {
            format: "keras",
          },
        );
      }
      return v;
    });
  };
  const whole = read(name);
  if (whole) return whole;
  const parts: string[] = [];
  for (let i = 0;; i++) {
    const part = read(`${name}${i}`);
    if (!part) break;
    parts.push(...part);
  }
  return parts.length > 0 || file.attribute(path, `${name}0`) !== undefined ? parts : undefined;
}

/** True when the file has the legacy layout (a `layer_names` list at the root or under `model_weights`). */
export function isLegacyLayout(file: Hdf5File): boolean {
  if (stringList(file, "", "layer_names")) return true;
  return file.keys("").includes("model_weights") &&
    stringList(file, "model_weights", "layer_names") !== undefined;
}

/**
 * The variables of a legacy Keras HDF5 file, named by their stored weight
 * names without TensorFlow's `:0` suffix; optimizer state as `optimizer/<name>`.
 */
export function legacyVariables(file: Hdf5File): KerasVariable[] {
  const root = stringList(file, "", "layer_names") ? "" : "model_weights";
  const layerNames = stringList(file, root, "layer_names") ?? [];
  const variables: KerasVariable[] = [];
  const seen = new Map<string, string>();
  const add = (name: string, path: string) => {
    const previous = seen.get(name);
    if (previous !== undefined) {
      throw new FormatError(
        `Cannot read ${file.name}: tensor '${name}' is stored twice ('${previous}' and '${path}')`,
        {
          format: "keras",
        },
      );
    }
    seen.set(name, path);
    variables.push({ name, path });
  };
  for (const layer of layerNames) {
    const group = join(root, layer);
    if (file.kind(group) !== "group") {
      throw new FormatError(`Cannot read ${file.name}: layer '${layer}' listed in layer_names has no group`, {
        format: "keras",
      });
    }
    const weights = stringList(file, group, "weight_names") ?? [];
    for (const weight of weights) {
      const path = `${group}/${weight}`;
      if (file.kind(path) !== "dataset") {
        throw new FormatError(
          `Cannot read ${file.name}: weight '${weight}' of layer '${layer}' has no dataset`,
          {
            format: "keras",
          },
        );
      }
      add(weight.replace(/:0$/, ""), path);
    }
  }
  if (root === "model_weights" && file.keys("").includes("optimizer_weights")) {
    const weights = stringList(file, "optimizer_weights", "weight_names") ?? [];
    for (const weight of weights) {
      const path = `optimizer_weights/${weight}`;
      if (file.kind(path) !== "dataset") {
        throw new FormatError(`Cannot read ${file.name}: optimizer weight '${weight}' has no dataset`, {
          format: "keras",
        });
      }
      add(`optimizer/${weight.replace(/:0$/, "")}`, path);
    }
  }
  return variables;
}
