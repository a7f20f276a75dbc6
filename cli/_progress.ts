/**
 * A progress line for long reads and writes: bytes done of total, rate and
 * time left, drawn on stderr only when stderr is a terminal and the job is
 * big enough to be worth watching. Everywhere else it does nothing, so
 * commands can call it unconditionally.
 *
 * @module
 */

import { mapEntries, type Transform } from "../lib/pipeline.ts";
import { formatBytes } from "../lib/units.ts";

/** Jobs smaller than this finish before a progress line would help. */
export const PROGRESS_THRESHOLD_BYTES = 256 * 1024 * 1024;

/** At most ten redraws a second: more only costs terminal time. */
const REDRAW_INTERVAL_MS = 100;

/** Where the line is drawn; `Deno.stderr` satisfies it. */
export interface ProgressStream {
  /** True when the stream is an interactive terminal. */
  isTerminal(): boolean;
  /** Write bytes synchronously. */
  writeSync(bytes: Uint8Array): number;
}

/** Options for {@linkcode createProgress}. */
export interface ProgressOptions {
  /** Total bytes the job will read or write. */
  total: number;
  /** Word shown before the bar, e.g. `reading` or `converting`. @default "" */
  label?: string;
  /** Draw nothing (the command's `--quiet`). @default false */
  quiet?: boolean;
  /** Draw only when `total` exceeds this many bytes. @default 256 MiB */
  threshold?: number;
  /** Where to draw. @default Deno.stderr */
  stream?: ProgressStream;
  /** Clock in milliseconds. @default performance.now */
  now?: () => number;
  /** Line width in columns. @default the terminal's width, or 80 */
  columns?: number;
}

/**
 * A running progress line. Disposable, so `using progress = createProgress(…)`
 * clears it however the scope ends, before an error message is printed.
 */
export interface Progress extends Disposable {
  /** Count `bytes` more as done; redraws at most ten times a second. */
  advance(bytes: number): void;
  /** Clear the line. Safe to call twice; later calls to `advance` draw nothing. */
  done(): void;
}

/** One moment of a job, for {@linkcode formatProgressLine}. */
export interface ProgressState {
  /** Bytes done. */
  done: number;
  /** Bytes in all. */
  total: number;
  /** Milliseconds since the job started. */
  elapsedMs: number;
  /** Word before the bar. @default "" */
  label?: string;
  /** Width of the whole line in columns. @default 80 */
  columns?: number;
}

const NOOP: Progress = Object.freeze({ advance() {}, done() {}, [Symbol.dispose]() {} });
const encoder = new TextEncoder();

/**
 * Start a progress line, or a no-op when stderr is not a terminal, the job
 * is below the threshold, or `quiet` is set.
 *
 * @example
 * ```ts
 * import { createProgress } from "./_progress.ts";
 * using progress = createProgress({ total: 2 ** 30, label: "writing" });
 * progress.advance(2 ** 29); // cleared when the scope ends
 * ```
 */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? Deno.stderr;
  const threshold = options.threshold ?? PROGRESS_THRESHOLD_BYTES;
  if (options.quiet || !(options.total > threshold) || !isTerminal(stream)) return NOOP;
  const now = options.now ?? (() => performance.now());
  const columns = options.columns ?? terminalColumns();
  const start = now();
  let bytesDone = 0;
  let lastDraw = -Infinity;
  let finished = false;
  const write = (text: string) => {
    try {
      stream.writeSync(encoder.encode(text));
    } catch {
      // A closed terminal must not fail the job it reports on.
    }
  };
  const done = (): void => {
    if (finished) return;
    finished = true;
    if (lastDraw !== -Infinity) write("\r\x1b[K");
  };
  return {
    advance(bytes: number): void {
      if (finished) return;
      bytesDone = Math.min(options.total, bytesDone + bytes);
      const t = now();
      if (t - lastDraw < REDRAW_INTERVAL_MS && bytesDone < options.total) return;
      lastDraw = t;
      const line = formatProgressLine({
        done: bytesDone,
        total: options.total,
        elapsedMs: t - start,
        label: options.label,
        columns,
      });
      // Carriage return, the line, then erase whatever a longer line left.
      write(`\r${line}\x1b[K`);
    },
    done,
    [Symbol.dispose]: done,
  };
}

function isTerminal(stream: ProgressStream): boolean {
  try {
    return stream.isTerminal();
  } catch {
    return false;
  }
}

function terminalColumns(): number {
  try {
    // Some pseudo-terminals report zero columns.
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

/**
 * The text of one progress line: label, bar, percent, bytes done of total,
 * rate, and time left. Pure, so it can be tested without a terminal.
 *
 * @example
 * ```ts
 * import { formatProgressLine } from "./_progress.ts";
 * const line = formatProgressLine({ done: 2 ** 29, total: 2 ** 30, elapsedMs: 2000, label: "reading" });
 * // "reading [██████████          ]  50%  512.00 MiB / 1.00 GiB  256.00 MiB/s  0:02 left"
 * ```
 */
export function formatProgressLine(state: ProgressState): string {
  const { done, total } = state;
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
  const seconds = state.elapsedMs / 1000;
  const rate = seconds > 0 ? done / seconds : 0;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const amounts = `${formatBytes(done)} / ${formatBytes(total)}`;
  const speed = rate > 0 ? `${formatBytes(Math.round(rate))}/s` : "—/s";
  const left = rate > 0 ? `${formatDuration((total - done) / rate)} left` : "";
  const label = state.label ? `${state.label} ` : "";
  const tail = `${percent}  ${amounts}  ${speed}${left ? `  ${left}` : ""}`;
  const columns = state.columns ?? 80;
  // The bar takes what the text leaves, between 10 and 30 cells; dropped on narrow terminals.
  const barWidth = Math.min(30, columns - label.length - tail.length - 4);
  if (barWidth < 10) return `${label}${tail}`.slice(0, Math.max(0, columns - 1));
  const filled = Math.round(fraction * barWidth);
  return `${label}[${"█".repeat(filled)}${" ".repeat(barWidth - filled)}] ${tail}`;
}

/**
 * Seconds as `0:07`, `12:34` or `1:02:03`; `--:--` when not finite.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./_progress.ts";
 * console.log(formatDuration(3723)); // 1:02:03
 * ```
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.ceil(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/**
 * A pipeline stage that advances `progress` by each tensor's byte length
 * once its bytes have been read, so an encoder pulling the stream moves the
 * bar. The line is cleared by `progress.done()` or when a `using` scope ends.
 *
 * @example
 * ```ts ignore
 * using progress = createProgress({ total: file.tensors.reduce((n, t) => n + t.byteLength, 0), label: "convert", quiet });
 * await format.write(pipe(file, trackProgress(progress)), sink);
 * ```
 */
export function trackProgress(progress: Progress): Transform {
  return mapEntries((entry) => ({
    name: entry.name,
    dtype: entry.dtype,
    shape: entry.shape,
    byteLength: entry.byteLength,
    ...(entry.encoding !== undefined ? { encoding: entry.encoding } : {}),
    async read(out?: Uint8Array): Promise<Uint8Array> {
      const bytes = await entry.read(out);
      progress.advance(entry.byteLength);
      return bytes;
    },
  }));
}
