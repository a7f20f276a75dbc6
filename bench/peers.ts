// Benchmarks against the peers, in one run (not a test; writes bench/RESULTS.md):
//   - .pt → safetensors: ckpt convert vs dd (copy, fsync) vs Python torch.load + write
//   - safetensors decode: ckpt (every tensor read) vs numpy (np.fromfile per tensor)
//   - pickle parsing: ckpt loadPickle vs the npm `pickleparser` package, same pickles
//   - GGUF header parsing: ckpt openGguf vs `@huggingface/gguf`, same file
//   - quantization: ckpt int8 per-channel and F16 cast (CPU) vs PyTorch
// Every measurement runs in its own process: median wall time of several runs,
// and the process's peak resident memory (VmHWM).
//
//   deno task bench:peers [--quick] [--runs 3] [--out bench/RESULTS.md]
//
// Needs Debian's /usr/bin/python3 with torch and numpy. Data goes to bench/data/.

import { parseArgs } from "node:util";
import { type Measure, measureProcess, median, PYTHON } from "./_measure.ts";
import { MAKE_TORCH_MODEL, PY_PEAK, TORCH_TO_SAFETENSORS } from "./_python_routes.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DATA = `${REPO}/bench/data`;
const SELF = new URL(import.meta.url).pathname;

function peakMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

// ---- child tasks: run in their own process, print {seconds, peakMiB} ----

async function timeRuns(runs: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  await fn(); // warm-up (JIT, page cache)
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / 1000);
  }
  return median(times);
}

async function child(task: string, args: string[]): Promise<void> {
  const runs = Number(args[0]);
  const path = args[1];
  let seconds = 0;
  if (task === "st-read" || task === "st-read-reuse") {
    const { fileSource } = await import("../lib/byte_source.ts");
    const { openSafetensors } = await import("../formats/safetensors/mod.ts");
    // A streaming pipeline reads every tensor into one buffer it keeps; fresh
    // memory costs page faults that a reused buffer (or malloc's reuse in numpy) does not.
    let reused = new Uint8Array(0);
    seconds = await timeRuns(runs, async () => {
      const file = await openSafetensors(await fileSource(path));
      let sum = 0;
      for (const t of file.tensors) {
        if (task === "st-read") {
          sum += (await t.read())[0];
        } else {
          if (reused.length < t.byteLength) reused = new Uint8Array(t.byteLength);
          sum += (await t.read(reused))[0];
        }
      }
      await file.close();
      return sum;
    });
  } else if (task === "pickle-ckpt" || task === "pickle-peer") {
    const bytes = await Deno.readFile(path);
    const repeat = Number(args[2]);
    const { loadPickle } = await import("../formats/pickle/mod.ts");
    const { Parser } = await import("pickleparser");
    const parser = new Parser({
      persistentResolver: { resolve: (pid: unknown) => pid },
    } as never);
    const parse = task === "pickle-ckpt"
      ? () => loadPickle(bytes, { permissive: true })
      : () => parser.parse(bytes as never);
    seconds = await timeRuns(runs, () => {
      for (let i = 0; i < repeat; i++) parse();
    }) / repeat;
  } else if (task === "gguf-ckpt" || task === "gguf-peer") {
    const repeat = Number(args[2]);
    const { fileSource } = await import("../lib/byte_source.ts");
    const { openGguf } = await import("../formats/gguf/mod.ts");
    const { gguf } = await import("@huggingface/gguf");
    const parse = task === "gguf-ckpt"
      ? async () => {
        const file = await openGguf(await fileSource(path));
        await file.close();
      }
      : async () => await gguf(path, { allowLocalFile: true });
    seconds = await timeRuns(runs, async () => {
      for (let i = 0; i < repeat; i++) await parse();
    }) / repeat;
  } else if (task === "quant-int8" || task === "quant-f16") {
    const { tensorFromBytes } = await import("../lib/tensor.ts");
    const { pipe, cast } = await import("../lib/pipeline.ts");
    const { quantize } = await import("../lib/quant/mod.ts");
    const bytes = await Deno.readFile(path);
    const n = Math.sqrt(bytes.length / 4);
    const entry = tensorFromBytes("w", "F32", [n, n], bytes);
    const transform = task === "quant-int8"
      ? quantize({ scheme: "int8", perChannel: true, axis: 0 }, { device: "cpu", metrics: false })
      : cast("F16");
    seconds = await timeRuns(runs, async () => {
      for await (const t of pipe({ metadata: {}, tensors: [entry] }, transform).tensors) await t.read();
    });
  } else {
    throw new Error(`Unknown child task ${task}`);
  }
  console.log(JSON.stringify({ seconds, peakMiB: peakMiB() }));
}

// ---- parent ----

// What a Python user does to halve a safetensors checkpoint: load it whole, .half() each tensor, save.
const PY_HALF = PY_PEAK + `
import sys
from safetensors.torch import load_file, save_file
tensors = load_file(sys.argv[1])
save_file({k: v.half() for k, v in tensors.items()}, sys.argv[2])
`;

const PY_TIMER = PY_PEAK + `
import time, json, statistics
def _time(runs, fn):
    fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)
`;

const PY_ST_READ = PY_TIMER + `
import sys, json, struct, numpy as np
runs, path = int(sys.argv[1]), sys.argv[2]
def read_all():
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    base = 8 + n
    s = 0.0
    for k, v in header.items():
        if k == "__metadata__": continue
        b, e = v["data_offsets"]
        a = np.fromfile(path, dtype=np.float32, count=(e - b) // 4, offset=base + b)
        s += float(a[0])
    return s
print(json.dumps({"seconds": _time(runs, read_all), "peakMiB": _peak()}))
`;

const PY_QUANT = PY_TIMER + `
import sys, json, numpy as np, torch
runs, task, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
w = torch.from_numpy(np.fromfile(path, dtype=np.float32))
n = int(round(w.numel() ** 0.5))
w = w.reshape(n, n)
def int8():
    amax = torch.maximum(w.min(dim=1).values.abs(), w.max(dim=1).values.abs())
    scale = torch.clamp(amax / 127.5, min=torch.finfo(torch.float32).eps)
    return torch.quantize_per_channel(w, scale, torch.zeros(n, dtype=torch.int64), 0, torch.qint8).int_repr()
def f16():
    return w.half()
print(json.dumps({"seconds": _time(runs, int8 if task == "int8" else f16), "peakMiB": _peak()}))
`;

const MAKE_PICKLE = `
import sys, pickle
obj = {f"model.layers.{i}.weight": [i, float(i) / 3, str(i), (i, i + 1), None, True] for i in range(int(sys.argv[2]))}
open(sys.argv[1], "wb").write(pickle.dumps(obj, protocol=2))
`;

async function jsonOf(cmd: string[]): Promise<Measure> {
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`${cmd.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

const denoChild = (task: string, ...args: (string | number)[]) => [
  Deno.execPath(),
  "run",
  "--quiet",
  "--allow-all",
  `--config=${REPO}/deno.json`,
  SELF,
  "--child",
  task,
  ...args.map(String),
];

async function python(script: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(PYTHON, { args: ["-c", script, ...args], stderr: "piped" }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

interface Row {
  route: string;
  seconds: number;
  peakMiB: number;
  note?: string;
}

function table(title: string, rows: Row[], bytes: number | undefined, baseline: string, unit = "s"): string {
  const base = rows.find((r) => r.route === baseline)!;
  const lines = [
    `### ${title}`,
    "",
    `| route | median ${unit === "s" ? "time" : unit} | ${
      bytes ? "throughput | " : ""
    }vs ${baseline} | peak RSS |`,
    `|---|---:|${bytes ? "---:|" : ""}---:|---:|`,
  ];
  for (const r of rows) {
    const time = r.seconds >= 0.1 ? `${r.seconds.toFixed(3)} s` : `${(r.seconds * 1000).toFixed(3)} ms`;
    const rate = bytes ? ` ${(bytes / r.seconds / 1e9).toFixed(2)} GB/s |` : "";
    lines.push(
      `| ${r.route} | ${time} |${rate} ${(r.seconds / base.seconds).toFixed(2)}× | ${
        r.peakMiB.toFixed(0)
      } MiB |`,
    );
  }
  return lines.join("\n");
}

/**
 * Each route's median time and largest peak over `runs` runs, removing
 * `output` before every run of a route that writes it, so each run writes a
 * fresh file.
 */
async function measureRoutes(
  label: string,
  routes: readonly [string, string[]][],
  runs: number,
  output: string,
  log: (s: string) => void,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [route, cmd] of routes) {
    log(`${label}: ${route}`);
    const ms: Measure[] = [];
    for (let i = 0; i < runs; i++) {
      if (cmd.includes(output)) await Deno.remove(output).catch(() => {});
      ms.push(await measureProcess(cmd));
    }
    rows.push({
      route,
      seconds: median(ms.map((m) => m.seconds)),
      peakMiB: Math.max(...ms.map((m) => m.peakMiB)),
    });
  }
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      runs: { type: "string" },
      out: { type: "string", default: `${REPO}/bench/RESULTS.md` },
      // Set by bench/results.ts, which appends the other benches' sections.
      "with-others": { type: "boolean" },
    },
  });
  const quick = values.quick === true;
  const runs = Number(values.runs ?? 3);
  const modelMiB = quick ? 64 : 256;
  const quantN = quick ? 1024 : 4096;
  await Deno.mkdir(DATA, { recursive: true });
  const sections: string[] = [];
  const log = (s: string) => console.error(s);

  // 1. .pt → safetensors
  const pt = `${DATA}/peers_model_${modelMiB}m.pt`;
  if (!(await exists(pt))) {
    log(`making ${pt} with torch…`);
    await python(MAKE_TORCH_MODEL, [pt, String(modelMiB)]);
  }
  const ptBytes = (await Deno.stat(pt)).size;
  const st = `${DATA}/peers_out.safetensors`;
  const convertRoutes: [string, string[]][] = [
    ["dd (copy, fsync)", ["dd", `if=${pt}`, `of=${DATA}/peers_out.dd`, "bs=8M", "conv=fsync", "status=none"]],
    ["ckpt convert", [
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-read",
      "--allow-write",
      `${REPO}/cli/ckpt.ts`,
      "convert",
      pt,
      st,
      "--quiet",
    ]],
    ["python torch.load + write", [
      PYTHON,
      "-c",
      TORCH_TO_SAFETENSORS,
      pt,
      `${DATA}/peers_out.py.safetensors`,
    ]],
  ];
  const convertRows = await measureRoutes("convert", convertRoutes, runs, st, log);
  sections.push(
    table(
      `Conversion: ${(ptBytes / 2 ** 20).toFixed(0)} MiB PyTorch state dict → safetensors`,
      convertRows,
      ptBytes,
      "dd (copy, fsync)",
    ),
  );

  // 1b. F32 → F16 convert of a 1 GiB safetensors file, against safetensors + torch `.half()` (the oracle venv).
  const venvPython = `${Deno.env.get("CKPT_ORACLES") ?? `${REPO}/.oracles`}/venv/bin/python`;
  if (await exists(venvPython)) {
    const f32Path = `${DATA}/peers_f32_${quick ? 128 : 1024}m.safetensors`;
    if (!(await exists(f32Path))) {
      log(`making ${f32Path}…`);
      const { writeTensorFile } = await import("../formats/write_tensor_file.ts");
      const { tensorFromBytes } = await import("../lib/tensor.ts");
      const count = quick ? 8 : 64;
      const tensors = Array.from({ length: count }, (_, i) => {
        const values = new Float32Array(4 * 2 ** 20).map((_, j) => Math.sin(j * 0.001 + i));
        return tensorFromBytes(`layer.${i}.weight`, "F32", [4096, 1024], new Uint8Array(values.buffer));
      });
      await writeTensorFile({ metadata: {}, tensors }, f32Path);
    }
    const f32Bytes = (await Deno.stat(f32Path)).size;
    const f16Out = `${DATA}/peers_out_f16.safetensors`;
    const castRoutes: [string, string[]][] = [
      ["python safetensors + torch .half()", [
        venvPython,
        "-c",
        PY_HALF,
        f32Path,
        `${DATA}/peers_out_f16.py.safetensors`,
      ]],
      ["ckpt convert --dtype F16", [
        Deno.execPath(),
        "run",
        "--quiet",
        "--allow-read",
        "--allow-write",
        `${REPO}/cli/ckpt.ts`,
        "convert",
        f32Path,
        f16Out,
        "--dtype",
        "F16",
        "--quiet",
      ]],
    ];
    const castRows = await measureRoutes("convert F16", castRoutes, runs, f16Out, log);
    sections.push(
      table(
        `Conversion: ${(f32Bytes / 2 ** 30).toFixed(2)} GiB F32 safetensors → F16 safetensors`,
        castRows,
        f32Bytes,
        "python safetensors + torch .half()",
      ),
    );
  }

  // 2. safetensors decode
  const stBytes = (await Deno.stat(st)).size;
  log("safetensors decode");
  const decodeRows: Row[] = [
    {
      route: "numpy (np.fromfile per tensor)",
      ...(await jsonOf([PYTHON, "-c", PY_ST_READ, String(runs), st])),
    },
    { route: "ckpt openSafetensors + read()", ...(await jsonOf(denoChild("st-read", runs, st))) },
    {
      route: "ckpt openSafetensors + read(buffer), one reused buffer",
      ...(await jsonOf(denoChild("st-read-reuse", runs, st))),
    },
  ];
  sections.push(
    table(
      `safetensors decode: every tensor of a ${
        (stBytes / 2 ** 20).toFixed(0)
      } MiB file read (page cache warm)`,
      decodeRows,
      stBytes,
      "numpy (np.fromfile per tensor)",
    ),
  );

  // 3. pickle parsing
  const bigPickle = `${DATA}/peers_big.pkl`;
  const entries = quick ? 20_000 : 100_000;
  log("pickle parsing");
  await python(MAKE_PICKLE, [bigPickle, String(entries)]);
  const smallPickle = `${DATA}/peers_data.pkl`;
  {
    const { openZip, readZipEntry } = await import("../formats/zip/mod.ts");
    const { fileSource } = await import("../lib/byte_source.ts");
    const archive = await openZip(await fileSource(pt));
    const entry = archive.entries.find((e) => e.name.endsWith("data.pkl"))!;
    await Deno.writeFile(smallPickle, await readZipEntry(archive, entry));
    await archive.source.close();
  }
  for (
    const [label, path, repeat] of [["PyTorch data.pkl", smallPickle, 200], [
      `${entries} dict entries`,
      bigPickle,
      1,
    ]] as const
  ) {
    const size = (await Deno.stat(path)).size;
    const rows: Row[] = [
      { route: "npm pickleparser 0.2.1", ...(await jsonOf(denoChild("pickle-peer", runs, path, repeat))) },
      { route: "ckpt loadPickle", ...(await jsonOf(denoChild("pickle-ckpt", runs, path, repeat))) },
    ];
    sections.push(table(`Pickle parsing: ${label} (${size} bytes)`, rows, size, "npm pickleparser 0.2.1"));
  }

  // 4. GGUF header parsing
  log("GGUF header parsing");
  const ggufPath = `${DATA}/peers_header.gguf`;
  {
    const { writeGguf, ggufValueToString, metadataKeyFromGguf } = await import("../formats/gguf/mod.ts");
    const { fileSink, withSink } = await import("../lib/byte_sink.ts");
    const { tensorFromBytes } = await import("../lib/tensor.ts");
    const tensorCount = quick ? 500 : 2000;
    const vocab = quick ? 32_000 : 128_000;
    const tensors = Array.from(
      { length: tensorCount },
      (_, i) => tensorFromBytes(`blk.${i >> 3}.attn_${i & 7}.weight`, "F32", [4, 8], new Uint8Array(128)),
    );
    const kv = [
      { key: "general.architecture", type: "string" as const, value: "llama" },
      { key: "llama.context_length", type: "u32" as const, value: 8192 },
      {
        key: "tokenizer.ggml.tokens",
        type: "array" as const,
        value: { itemType: "string" as const, items: Array.from({ length: vocab }, (_, i) => `tok_${i}`) },
      },
      {
        key: "tokenizer.ggml.scores",
        type: "array" as const,
        value: { itemType: "f32" as const, items: Array.from({ length: vocab }, (_, i) => -i / vocab) },
      },
    ];
    // The writer keeps a typed value only where the stream's metadata still agrees with it.
    const metadata = Object.fromEntries(
      kv.map((e) => [metadataKeyFromGguf(e.key), ggufValueToString(e.type, e.value)]),
    );
    await withSink(await fileSink(ggufPath), (sink) => writeGguf({ metadata, tensors }, sink, { kv }));
  }
  const ggufSize = (await Deno.stat(ggufPath)).size;
  const ggufRows: Row[] = [
    { route: "@huggingface/gguf 0.4.6", ...(await jsonOf(denoChild("gguf-peer", runs, ggufPath, 5))) },
    { route: "ckpt openGguf", ...(await jsonOf(denoChild("gguf-ckpt", runs, ggufPath, 5))) },
  ];
  sections.push(
    table(
      `GGUF header parsing: ${ggufSize} bytes, header-heavy (vocabulary + many tensors)`,
      ggufRows,
      undefined,
      "@huggingface/gguf 0.4.6",
    ),
  );

  // 5. quantization
  log("quantization");
  const w = `${DATA}/peers_w_${quantN}.f32`;
  if (!(await exists(w))) {
    const values = new Float32Array(quantN * quantN);
    let seed = 12345;
    for (let i = 0; i < values.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      values[i] = (seed / 4294967296 - 0.5) * 4;
    }
    await Deno.writeFile(w, new Uint8Array(values.buffer));
  }
  const wBytes = quantN * quantN * 4;
  for (
    const [task, label] of [["int8", "int8 per-channel (qint8, axis 0)"], ["f16", "F32 → F16 cast"]] as const
  ) {
    const rows: Row[] = [
      { route: "PyTorch 1.13 (CPU)", ...(await jsonOf([PYTHON, "-c", PY_QUANT, String(runs), task, w])) },
      { route: "ckpt (CPU)", ...(await jsonOf(denoChild(`quant-${task}`, runs, w))) },
    ];
    sections.push(
      table(`Quantization: ${label} of a ${quantN}×${quantN} F32 matrix`, rows, wBytes, "PyTorch 1.13 (CPU)"),
    );
  }

  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  const text = `# ckpt against its peers

Generated by ${
    values["with-others"]
      ? `\`deno task bench:results\` (these sections by bench/peers.ts, the later ones by the benches they name)`
      : `\`deno task bench:peers${quick ? " --quick" : ""}\``
  } on ${new Date().toISOString().slice(0, 10)}:
${navigator.hardwareConcurrency} cores (${cpu}), Deno ${Deno.version.deno}, Debian's Python with torch 1.13 and numpy.
Each figure is the median of ${runs} runs (after a warm-up for in-process timings); peak RSS is the
process's high-water mark (VmHWM / ru_maxrss), so it includes the runtime itself (Deno ≈ 40–60 MiB,
Python with torch ≈ 150–250 MiB). Ratios are time relative to the first row (lower is faster).

${sections.join("\n\n")}
`;
  await Deno.writeTextFile(values.out!, text);
  console.log(text);
  for (const f of ["peers_out.dd", "peers_out.py.safetensors"]) {
    await Deno.remove(`${DATA}/${f}`).catch(() => {});
  }
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--child");
  if (at >= 0) await child(Deno.args[at + 1], Deno.args.slice(at + 2));
  else await main();
}
