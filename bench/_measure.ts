// Measuring helpers shared by the benchmarks: medians, and a child process's
// wall time and peak resident memory.

/** Debian's Python, with torch and numpy (plain `python3` may lack them). */
export const PYTHON = "/usr/bin/python3";

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Wall time and peak resident memory of one run. */
export interface Measure {
  /** Wall-clock seconds. */
  seconds: number;
  /** Peak resident set size (VmHWM) in MiB. */
  peakMiB: number;
}

// Runs a command under Python, which reads the child's ru_maxrss (its VmHWM):
// Deno has no getrusage for children, and /usr/bin/time is not everywhere.
const MEASURE = `
import resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
dt = time.perf_counter() - t
print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)
`;

/** Run `cmd` once (stdout discarded) and measure it; throws when it fails. */
export async function measureProcess(cmd: readonly string[]): Promise<Measure> {
  const out = await new Deno.Command(PYTHON, { args: ["-c", MEASURE, ...cmd], stdout: "piped" }).output();
  const [seconds, maxrssKiB, code] = new TextDecoder().decode(out.stdout).trim().split(" ").map(Number);
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed with exit code ${code}`);
  return { seconds, peakMiB: maxrssKiB / 1024 };
}
