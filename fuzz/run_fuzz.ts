/**
 * Mutation fuzzing of every ckpt decoder. Seeds come from the files under
 * tests/data and from each format's own writer; each mutated input is
 * decoded in a worker (every tensor read) and judged: a typed ckpt error is
 * a correct rejection; any other exception, a run over the time limit, or an
 * allocation beyond the input's size times a small factor is a finding.
 *
 * @module
 */

import { Prng } from "./_prng.ts";
import { mutate } from "./mutate.ts";

/** How one input ended. */
export type FuzzStatus = "ok" | "rejected" | "crash" | "hang" | "alloc" | "memory";

/** The result of decoding one input. */
export interface FuzzOutcome {
  /** `ok` and `rejected` are correct behaviour; the rest are findings. */
  readonly status: FuzzStatus;
  /** Error class name, when it threw. */
  readonly error: string;
  /** Error message, when it threw. */
  readonly message: string;
  /** Stack of the error or of the refused allocation. */
  readonly stack: string;
  /** Largest single allocation seen, in bytes. */
  readonly largest: number;
  /** Change of heap plus external memory over the run, in bytes. */
  readonly growth: number;
}

/** One finding: an input that made a decoder misbehave. */
export interface FuzzFinding {
  /** Target name (format). */
  readonly target: string;
  /** The outcome. */
  readonly outcome: FuzzOutcome;
  /** What identifies the bug: status, error class and the first frame in ckpt's code. */
  readonly signature: string;
  /** The (minimized) input. */
  readonly input: Uint8Array;
  /** Size before minimization. */
  readonly originalSize: number;
  /** Seed file it was mutated from. */
  readonly seedName: string;
  /** Mutations applied. */
  readonly ops: readonly string[];
  /** Where it was saved, when it was. */
  readonly file?: string;
}

/** Per-target counts. */
export interface FuzzStats {
  /** Target name. */
  readonly target: string;
  /** Seeds available. */
  seeds: number;
  /** Inputs decoded. */
  runs: number;
  /** Decoded without error. */
  ok: number;
  /** Rejected with a typed error. */
  rejected: number;
  /** Findings (before de-duplication). */
  findings: number;
  /** How often each rejection (error class and message start, digits elided) was seen. */
  readonly reasons: Map<string, number>;
}

/** What a fuzz round produced. */
export interface FuzzReport {
  /** Counts per target. */
  readonly stats: FuzzStats[];
  /** Distinct findings (one per signature). */
  readonly findings: FuzzFinding[];
  /** Targets skipped for want of seeds. */
  readonly skipped: string[];
  /** Wall time, in seconds. */
  readonly seconds: number;
}

/** Options for {@linkcode runFuzz}. */
export interface FuzzOptions {
  /** PRNG seed. @default 1 */
  seed?: number;
  /** Inputs per target (seeds included). @default Infinity (then `seconds` bounds the run) */
  count?: number;
  /** Stop after this many seconds. @default Infinity */
  seconds?: number;
  /** Only these targets. @default every target */
  targets?: readonly string[];
  /** Time limit per input, in milliseconds. @default 2000 */
  timeoutMs?: number;
  /** Shrink each finding's input while it still fails the same way. @default true */
  minimize?: boolean;
  /** Save findings as `<target>-<hash>.bin` plus a line in `findings.jsonl` here. @default not saved */
  findingsDir?: string;
  /** Folder of seed files. @default tests/data beside this folder */
  seedsDir?: string;
  /** Progress lines. @default none */
  log?: (line: string) => void;
}

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const MAX_SEED_BYTES = 512 * 1024;
// Heap growth tolerated beyond 64× the input (engine noise, lazily built tables).
const GROWTH_SLACK = 16 * 1024 * 1024;

interface Pending {
  resolve(outcome: FuzzOutcome): void;
}

const MARK = "\u001eFUZZ ";

function failed(status: FuzzStatus, error: string, message: string): FuzzOutcome {
  return { status, error, message, stack: "", largest: 0, growth: 0 };
}

/**
 * Runs inputs in a child Deno process and kills it when one takes too long,
 * so a hang is detected rather than suffered (a Worker stuck in a loop can't
 * be terminated). The child is capped at 4 GiB of heap.
 */
export class FuzzExecutor {
  #child?: Deno.ChildProcess;
  #writer?: WritableStreamDefaultWriter<Uint8Array>;
  #ready?: Promise<string[]>;
  #pending = new Map<number, Pending>();
  #nextId = 0;

  /** Start the child (if needed) and list its targets. */
  start(): Promise<string[]> {
    if (this.#ready) return this.#ready;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--allow-read",
        "--allow-env",
        `--config=${REPO}/deno.json`,
        "--v8-flags=--expose-gc,--max-old-space-size=4096",
        `${REPO}/fuzz/_child.ts`,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    let onReady!: (targets: string[]) => void;
    this.#ready = new Promise<string[]>((resolve) => (onReady = resolve));
    const pending = this.#pending;
    (async () => {
      const decoder = new TextDecoder();
      let text = "";
      try {
        for await (const chunk of child.stdout) {
          text += decoder.decode(chunk, { stream: true });
          let newline: number;
          while ((newline = text.indexOf("\n")) >= 0) {
            const line = text.slice(0, newline);
            text = text.slice(newline + 1);
            const at = line.indexOf(MARK);
            if (at < 0) continue;
            const data = JSON.parse(line.slice(at + MARK.length));
            if (data.id === -1) {
              onReady(data.targets);
              continue;
            }
            const waiting = pending.get(data.id);
            if (!waiting) continue;
            pending.delete(data.id);
            waiting.resolve({
              status: data.status,
              error: data.error,
              message: data.message,
              stack: data.stack,
              largest: data.largest,
              growth: data.growth,
            });
          }
        }
      } catch {
        // The child was killed; its pending inputs are answered below.
      }
      const status = await child.status.catch(() => undefined);
      if (this.#child === child) this.#reset();
      for (const [id, waiting] of pending) {
        pending.delete(id);
        waiting.resolve(
          failed(
            "crash",
            "ChildExit",
            `The decoding process exited (code ${status?.code}, signal ${status?.signal})`,
          ),
        );
      }
    })();
    return this.#ready;
  }

  /** Decode `bytes` with `target`; a run over `timeoutMs` is reported as `hang`. */
  async run(
    target: string,
    bytes: Uint8Array,
    timeoutMs: number,
    options: { collect?: boolean } = {},
  ): Promise<FuzzOutcome> {
    await this.start();
    const id = this.#nextId++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = new Promise<FuzzOutcome>((resolve) => {
      this.#pending.set(id, { resolve });
      timer = setTimeout(() => {
        this.#pending.delete(id);
        this.stop();
        resolve(failed("hang", "Timeout", `Decoding took longer than ${timeoutMs} ms`));
      }, timeoutMs);
    });
    const name = new TextEncoder().encode(target);
    const frame = new Uint8Array(16 + name.length + bytes.length);
    const view = new DataView(frame.buffer);
    view.setUint32(0, id, true);
    view.setUint32(4, options.collect ? 1 : 0, true);
    view.setUint32(8, name.length, true);
    frame.set(name, 12);
    view.setUint32(12 + name.length, bytes.length, true);
    frame.set(bytes, 16 + name.length);
    this.#writer!.write(frame).catch(() => {});
    try {
      return await result;
    } finally {
      clearTimeout(timer);
    }
  }

  #reset(): void {
    this.#child = undefined;
    this.#writer = undefined;
    this.#ready = undefined;
    // A killed child's exit, seen later, must fail only the inputs sent to it, not the next child's.
    this.#pending = new Map();
  }

  /** Kill the child; the next `run` starts a fresh one. */
  stop(): void {
    const child = this.#child;
    const writer = this.#writer;
    this.#reset();
    if (!child) return;
    writer?.close().catch(() => {});
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** True when an outcome is a finding rather than a correct accept or reject. */
export function isFinding(outcome: FuzzOutcome): boolean {
  return outcome.status !== "ok" && outcome.status !== "rejected";
}

/**
 * Decode one input with `target` and judge it, confirming hangs and memory
 * growth with a second run before calling them findings.
 */
export async function checkInput(
  executor: FuzzExecutor,
  target: string,
  bytes: Uint8Array,
  timeoutMs = 2000,
): Promise<FuzzOutcome> {
  let outcome = await executor.run(target, bytes, timeoutMs);
  if (outcome.status === "hang") {
    // A loaded machine can stall one run: only a second timeout is a hang.
    outcome = await executor.run(target, bytes, timeoutMs * 2);
  }
  const growthLimit = 64 * bytes.length + GROWTH_SLACK;
  if (!isFinding(outcome) && outcome.growth > growthLimit) {
    // Without a collection first, garbage from earlier inputs counts: measure again from a clean heap.
    const again = await executor.run(target, bytes, timeoutMs, { collect: true });
    if (again.growth > growthLimit) {
      return {
        ...again,
        status: "memory",
        error: "MemoryGrowth",
        message: `Memory grew by ${again.growth} bytes decoding ${bytes.length} bytes`,
      };
    }
  }
  return outcome;
}

function frames(stack: string): string[] {
  const out: string[] = [];
  for (const line of stack.split("\n")) {
    const match = /(?:file:\/\/)?(\/[^\s()]+?):(\d+):\d+\)?\s*$/.exec(line.trim());
    if (!match) continue;
    const path = match[1].startsWith(REPO) ? match[1].slice(REPO.length + 1) : match[1];
    out.push(`${path}:${match[2]}`);
  }
  return out;
}

/** What identifies a bug: status, error class and the first frame in ckpt's own code. */
export function signatureOf(target: string, outcome: FuzzOutcome): string {
  const own = frames(outcome.stack).find((f) => !f.startsWith("fuzz/") && !f.startsWith("/"));
  return `${target}|${outcome.status}|${outcome.error}|${own ?? "?"}`;
}

/** Shrink `bytes` by deleting chunks while `same(candidate)` holds. */
export async function minimize(
  bytes: Uint8Array,
  same: (candidate: Uint8Array) => Promise<boolean>,
  options: { maxAttempts?: number; deadline?: number } = {},
): Promise<Uint8Array> {
  let current = bytes;
  let attempts = 0;
  const maxAttempts = options.maxAttempts ?? 400;
  const deadline = options.deadline ?? Infinity;
  const budget = () => attempts < maxAttempts && performance.now() < deadline;
  // First the shortest prefix (most findings live in headers), then chunks.
  for (let cut = current.length >> 1; cut >= 1 && budget(); cut >>= 1) {
    while (current.length > cut && budget()) {
      attempts++;
      const candidate = current.slice(0, current.length - cut);
      if (!(await same(candidate))) break;
      current = candidate;
    }
  }
  for (let chunk = current.length >> 1; chunk >= 1 && budget(); chunk >>= 1) {
    let at = 0;
    while (at < current.length && budget()) {
      attempts++;
      const candidate = new Uint8Array(current.length - Math.min(chunk, current.length - at));
      candidate.set(current.subarray(0, at));
      candidate.set(current.subarray(at + chunk), at);
      if (await same(candidate)) current = candidate;
      else at += chunk;
    }
  }
  return current;
}

async function walk(dir: string, out: string[]): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      if (entry.name !== "fuzz") await walk(path, out);
    } else if (entry.isFile) out.push(path);
  }
}

/** A seed: its name (path or writer) and bytes. */
export interface FuzzSeed {
  /** Where it came from. */
  readonly name: string;
  /** Its bytes. */
  readonly bytes: Uint8Array;
}

/** Seeds per target: test files by sniffing, pickles inside zips, and writer output. */
export async function collectSeeds(seedsDir = `${REPO}/tests/data`): Promise<Map<string, FuzzSeed[]>> {
  const { TARGETS, writerSeeds } = await import("./targets.ts");
  const { openZip, readZipEntry } = await import("../formats/zip/mod.ts");
  const { bytesSource } = await import("../lib/byte_source.ts");
  const seeds = new Map<string, FuzzSeed[]>(TARGETS.map((t) => [t.name, []]));
  const add = (target: string, seed: FuzzSeed) => seeds.get(target)?.push(seed);
  const paths: string[] = [];
  await walk(seedsDir, paths);
  for (const path of paths) {
    const info = await Deno.stat(path);
    if (info.size === 0 || info.size > MAX_SEED_BYTES) continue;
    const bytes = await Deno.readFile(path);
    const name = path.startsWith(REPO) ? path.slice(REPO.length + 1) : path;
    const head = bytes.subarray(0, 65536);
    for (const target of TARGETS) {
      if (target.accepts(head, bytes.length, name)) add(target.name, { name, bytes });
    }
    // Pickles inside zips (PyTorch's data.pkl, npz object arrays) seed the pickle targets.
    if (bytes[0] === 0x50 && bytes[1] === 0x4b) {
      try {
        const archive = await openZip(bytesSource(bytes));
        for (const entry of archive.entries) {
          if (!entry.name.endsWith(".pkl")) continue;
          const pickle = await readZipEntry(archive, entry);
          add("pickle", { name: `${name}:${entry.name}`, bytes: pickle });
          add("scan", { name: `${name}:${entry.name}`, bytes: pickle });
        }
      } catch {
        // Not a readable zip: it seeds only what accepted it above.
      }
    }
  }
  for (const [target, list] of await writerSeeds()) {
    list.forEach((bytes, i) => add(target, { name: `writer:${target}#${i}`, bytes }));
  }
  return seeds;
}

async function hashHex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes.slice()));
  return Array.from(digest.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Save a finding as `<target>-<hash>.bin` in `dir` and append a JSON line
 * describing it to `dir/findings.jsonl`. Returns the file's path.
 */
export async function saveFinding(dir: string, finding: Omit<FuzzFinding, "file">): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const file = `${dir}/${finding.target}-${await hashHex(finding.input)}.bin`;
  await Deno.writeFile(file, finding.input);
  const line = {
    file: file.slice(file.lastIndexOf("/") + 1),
    target: finding.target,
    status: finding.outcome.status,
    error: finding.outcome.error,
    message: finding.outcome.message.slice(0, 500),
    signature: finding.signature,
    stack: frames(finding.outcome.stack).slice(0, 8),
    size: finding.input.length,
    originalSize: finding.originalSize,
    seed: finding.seedName,
    ops: finding.ops,
  };
  await Deno.writeTextFile(`${dir}/findings.jsonl`, JSON.stringify(line) + "\n", { append: true });
  return file;
}

function streamOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/**
 * Run a fuzz round: every seed once, then mutants round-robin over the
 * targets until each has had `count` inputs or `seconds` have passed.
 *
 * @example
 * ```ts ignore
 * import { runFuzz } from "./run_fuzz.ts";
 * const report = await runFuzz({ seed: 1, count: 100, targets: ["safetensors"] });
 * console.log(report.findings.length);
 * ```
 */
export async function runFuzz(options: FuzzOptions = {}): Promise<FuzzReport> {
  const started = performance.now();
  const seed = options.seed ?? 1;
  const count = options.count ?? Infinity;
  const deadline = started + (options.seconds ?? Infinity) * 1000;
  const timeoutMs = options.timeoutMs ?? 2000;
  const log = options.log ?? (() => {});
  const allSeeds = await collectSeeds(options.seedsDir);
  const wanted = options.targets ? new Set(options.targets) : undefined;
  const stats: FuzzStats[] = [];
  const skipped: string[] = [];
  const active: { stats: FuzzStats; seeds: FuzzSeed[]; rng: Prng; next: number }[] = [];
  for (const [target, seeds] of allSeeds) {
    if (wanted && !wanted.has(target)) continue;
    const s: FuzzStats = {
      target,
      seeds: seeds.length,
      runs: 0,
      ok: 0,
      rejected: 0,
      findings: 0,
      reasons: new Map(),
    };
    stats.push(s);
    if (seeds.length === 0) {
      skipped.push(target);
      continue;
    }
    active.push({ stats: s, seeds, rng: new Prng(seed, streamOf(target)), next: 0 });
  }
  if (wanted) {
    for (const name of wanted) {
      if (!allSeeds.has(name)) {
        throw new TypeError(`Unknown fuzz target '${name}'; known: ${[...allSeeds.keys()].join(", ")}`);
      }
    }
  }
  const executor = new FuzzExecutor();
  const findings = new Map<string, FuzzFinding>();
  try {
    let progress = true;
    while (progress && performance.now() < deadline) {
      progress = false;
      for (const t of active) {
        if (t.stats.runs >= count || performance.now() >= deadline) continue;
        progress = true;
        let input: Uint8Array;
        let seedName: string;
        let ops: readonly string[];
        if (t.next < t.seeds.length) {
          ({ bytes: input, name: seedName } = t.seeds[t.next++]);
          ops = [];
        } else {
          const base = t.rng.pick(t.seeds);
          const other = t.rng.pick(t.seeds);
          ({ bytes: input, ops } = mutate(t.rng, base.bytes, other.bytes));
          seedName = base.name;
        }
        const outcome = await checkInput(executor, t.stats.target, input, timeoutMs);
        t.stats.runs++;
        if (outcome.status === "ok") t.stats.ok++;
        else if (outcome.status === "rejected") {
          t.stats.rejected++;
          const reason = `${outcome.error}: ${outcome.message.replace(/\d+/g, "N").slice(0, 90)}`;
          t.stats.reasons.set(reason, (t.stats.reasons.get(reason) ?? 0) + 1);
        } else {
          t.stats.findings++;
          const signature = signatureOf(t.stats.target, outcome);
          if (findings.has(signature)) continue;
          log(`finding ${signature}: ${outcome.message.slice(0, 200)}`);
          let small = input;
          if ((options.minimize ?? true) && outcome.status !== "hang") {
            small = await minimize(input, async (candidate) => {
              const again = await executor.run(t.stats.target, candidate, timeoutMs);
              return isFinding(again) && signatureOf(t.stats.target, again) === signature;
            }, { deadline: performance.now() + 30_000 });
          }
          const finding: FuzzFinding = {
            target: t.stats.target,
            outcome,
            signature,
            input: small,
            originalSize: input.length,
            seedName,
            ops,
          };
          const file = options.findingsDir ? await saveFinding(options.findingsDir, finding) : undefined;
          findings.set(signature, { ...finding, file });
        }
      }
    }
  } finally {
    executor.stop();
  }
  return { stats, findings: [...findings.values()], skipped, seconds: (performance.now() - started) / 1000 };
}
