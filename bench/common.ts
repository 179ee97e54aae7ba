/**
 * What the benchmarks share: timing whole processes, interleaved runs and medians, random test
 * data in the page cache, a description of the machine, and the generated section of
 * BENCHMARKS.md each benchmark rewrites between its own markers.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import { totalmem } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = join(import.meta.dir, "..");
export const BUN = process.execPath;
export const MiB = 1 << 20;
export const GiB = 1 << 30;
export const REPORT = join(ROOT, "BENCHMARKS.md");

/** A failed check: ends the run (after cleaning up) with this message. */
export class BenchError extends Error {}

export function fail(message: string): never {
  throw new BenchError(message);
}

/**
 * A benchmark's command line: a folder to work in first, then `--name value` options. Without
 * the folder, prints `usage` and exits 2.
 */
export function folderAndOptions(usage: string): { dir: string; value: (name: string) => string | undefined } {
  const args = process.argv.slice(2);
  const dir = args[0];
  if (!dir || dir.startsWith("-")) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(2);
  }
  return {
    dir,
    value: (name) => {
      const at = args.indexOf(name);
      return at >= 0 ? args[at + 1] : undefined;
    },
  };
}

// ---------------------------------------------------------------- processes

export interface Sample {
  seconds: number;
  /** CPU time of the process and every thread of it, user + system, seconds. */
  cpu: number;
  /** The same as {@link Sample.cpu}. */
  cpuSeconds: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** The 1-minute load average when each timed command started (see {@link loadSpread}). */
const loads: number[] = [];

/** Runs a command, timing spawn to exit. Output is collected concurrently so pipes never fill. */
export async function timed(cmd: string[], cwd = ROOT): Promise<Sample> {
  const load = Number(loadAverage());
  if (Number.isFinite(load)) loads.push(load);
  const start = performance.now();
  const proc = Bun.spawn({ cmd, cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const stdout = new Response(proc.stdout).text();
  const stderr = new Response(proc.stderr).text();
  const code = await proc.exited;
  const seconds = (performance.now() - start) / 1000;
  const usage = proc.resourceUsage();
  const cpu = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6 : NaN;
  return { seconds, cpu, cpuSeconds: cpu, code, stdout: await stdout, stderr: await stderr };
}

/** Runs a command to completion and returns its stdout; fails the benchmark if it fails. */
export function check(cmd: string[], cwd = ROOT): string {
  const proc = Bun.spawnSync({ cmd, cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  if (proc.exitCode !== 0) fail(`${cmd.join(" ")} exited ${proc.exitCode}: ${proc.stderr.toString().trim()}`);
  return proc.stdout.toString();
}

/** Like {@link check}, but returns undefined instead of failing (version probes). */
export function probe(cmd: string[]): string | undefined {
  try {
    const proc = Bun.spawnSync({ cmd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    return `${proc.stdout.toString()}${proc.stderr.toString()}`.trim().split("\n")[0];
  } catch {
    return undefined;
  }
}

export function shellQuote(arg: string): string {
  return /^[\w./=:+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/** A command as a reader would type it from the repository root (long argument lists cut). */
export function show(cmd: readonly string[]): string {
  const args = cmd.map((a) => (a === BUN ? "bun" : a.startsWith(`${OURS}/`) ? a.slice(OURS.length + 1) : a.startsWith(`${ROOT}/`) ? a.slice(ROOT.length + 1) : a)).map(shellQuote);
  return (args.length > 12 ? [...args.slice(0, 6), `… (${args.length - 6} more)`] : args).join(" ");
}

// ---------------------------------------------------------------- statistics

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const sec = (s: number): string => s.toFixed(3);
/** Median and range: `1.234 (1.100–1.500)`. */
export const spread = (values: readonly number[]): string => `${sec(median(values))} (${sec(Math.min(...values))}–${sec(Math.max(...values))})`;
export const ratio = (r: number): string => `${r.toFixed(2)}×`;
export const mib = (bytes: number): string => (bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`);

/** The digest in one line of output: `HEX  NAME`, `ALGO (NAME) = HEX`, `ALGO(NAME)= HEX` or `HEX`. */
export function digestOf(output: string): string {
  const line = output.trim().split("\n")[0] ?? "";
  const eq = line.lastIndexOf("= ");
  const hex = eq >= 0 ? line.slice(eq + 2).trim() : line.split(/\s+/)[0]!;
  if (!/^[0-9a-f]{8,}$/.test(hex)) fail(`no digest in output: ${JSON.stringify(output.slice(0, 200))}`);
  return hex;
}

// ---------------------------------------------------------------- interleaved measurement

/** One command measured in a group. */
export interface Contender {
  key: string;
  cmd: string[];
  runs: number;
  cwd?: string;
}

/** A command's samples, checked for success. */
export interface Measured {
  cmd: string[];
  times: number[];
  /** CPU time of each run, user + system, seconds (same order as `times`). */
  cpus: number[];
  median: number;
  /** stdout of the first run (every run must print the same). */
  stdout: string;
}

/**
 * Runs every command `runs` times, round-robin (the order rotates each round so no command always
 * follows the same neighbour), after one untimed warm-up each. Fails on a non-zero exit or on
 * output that changes between runs.
 */
export async function measure(contenders: readonly Contender[]): Promise<Map<string, Measured>> {
  const results = new Map<string, Measured>();
  for (const c of contenders) {
    const warm = await timed(c.cmd, c.cwd);
    if (warm.code !== 0) fail(`${show(c.cmd)} exited ${warm.code}: ${warm.stderr.trim()}`);
    results.set(c.key, { cmd: c.cmd, times: [], cpus: [], median: NaN, stdout: warm.stdout });
  }
  const rounds = Math.max(...contenders.map((c) => c.runs));
  for (let round = 0; round < rounds; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
    for (const c of order) {
      const m = results.get(c.key)!;
      if (m.times.length >= c.runs) continue;
      const s = await timed(c.cmd, c.cwd);
      if (s.code !== 0) fail(`${show(c.cmd)} exited ${s.code}: ${s.stderr.trim()}`);
      if (s.stdout !== m.stdout) fail(`${show(c.cmd)} printed different output on run ${m.times.length + 1}:\n${m.stdout}---\n${s.stdout}`);
      m.times.push(s.seconds);
      m.cpus.push(s.cpu);
    }
  }
  for (const [key, m] of results) {
    m.median = median(m.times);
    console.log(`  ${key.padEnd(22)} median ${sec(m.median)} s  [${m.times.map(sec).join(" ")}]  cpu ${sec(median(m.cpus))} s  ${show(m.cmd)}`);
  }
  return results;
}

// ---------------------------------------------------------------- before and after

/**
 * Another checkout of cartkit to time beside this one (`--baseline DIR`), with its `dist/` built:
 * its commands run in the same rounds as ours, so both see the same machine. Undefined without
 * the option.
 */
export function baselineOption(argv: readonly string[]): { dir: string; source: string } | undefined {
  return checkoutOption(argv, "--baseline");
}

/** A built checkout named by `flag DIR` (`--baseline`, `--ours`), and the commit it holds. */
export function checkoutOption(argv: readonly string[], flag: string): { dir: string; source: string } | undefined {
  const at = argv.indexOf(flag);
  if (at < 0) return undefined;
  const dir = argv[at + 1];
  if (!dir) fail(`${flag} needs a folder: another checkout of cartkit with dist/ built`);
  const absolute = resolve(dir);
  if (!existsSync(join(absolute, "dist"))) fail(`${absolute}/dist is missing: build that checkout first (bun scripts/build.ts there)`);
  // A checkout names its commit; an exported tree (git archive) may name it in a BASELINE file.
  const commit = probe(["git", "-C", absolute, "rev-parse", "--short", "HEAD"]) ?? "";
  const named = join(absolute, "BASELINE");
  const source = /^[0-9a-f]{7,}$/.test(commit) ? commit : existsSync(named) ? readFileSync(named, "utf8").trim() : "unknown";
  return { dir: absolute, source };
}

/**
 * The checkout whose `dist/` binaries (and bench scripts run from source) are timed as ours:
 * this one, or another built checkout named with `--ours DIR`, so that one harness can time any
 * two builds against each other (`--ours A --baseline B`).
 */
export const OURS: string = checkoutOption(process.argv, "--ours")?.dir ?? ROOT;

/** A command of ours as the baseline runs it: its dist/ binaries and bench scripts instead of ours. */
export function baselineCommand(cmd: readonly string[], baseline: string): string[] {
  return cmd.map((arg) => (arg.startsWith(`${OURS}/dist/`) || arg.startsWith(`${OURS}/bench/`) ? `${baseline}/${arg.slice(OURS.length + 1)}` : arg));
}

// ---------------------------------------------------------------- test data

/** Writes `size` random bytes to `path` (kept if it already has that size). */
export function randomFile(path: string, size: number): void {
  if (existsSync(path) && statSync(path).size === size) return;
  const chunk = Buffer.allocUnsafe(Math.min(size, 8 * MiB));
  const fd = openSync(path, "w");
  try {
    for (let left = size; left > 0; left -= chunk.length) {
      randomFillSync(chunk);
      const n = Math.min(left, chunk.length);
      for (let off = 0; off < n; ) off += writeSync(fd, chunk, off, n - off);
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads files once so they sit in the page cache (`cat FILE > /dev/null`). */
export function warmCache(paths: readonly string[]): void {
  for (let i = 0; i < paths.length; i += 50) {
    const proc = Bun.spawnSync({ cmd: ["cat", ...paths.slice(i, i + 50)], stdout: "ignore", stderr: "pipe" });
    if (proc.exitCode !== 0) fail(`cat failed: ${proc.stderr.toString()}`);
  }
}

/** Available bytes on the file system holding `dir` (`df -Pk`). */
export function availableBytes(dir: string): number {
  const out = check(["df", "-Pk", dir]);
  console.log(out.trimEnd().replace(/^/gm, "  "));
  const fields = out.trim().split("\n").at(-1)!.split(/\s+/);
  return Number(fields[3]) * 1024;
}

// ---------------------------------------------------------------- machine

export interface Machine {
  nproc: string;
  cpu: string;
  memory: string;
  kernel: string;
  bun: string;
  date: string;
  /** Commit benchmarked, and whether the working tree differed from it. */
  source: string;
  anchors: string[];
}

export function sourceState(): string {
  const commit = probe(["git", "-C", OURS, "rev-parse", "--short", "HEAD"]);
  if (!commit) return "not a git checkout";
  const changed = Bun.spawnSync({ cmd: ["git", "-C", OURS, "status", "--porcelain", "--", "lib", "tools", "scripts", "package.json"], stdout: "pipe" })
    .stdout.toString()
    .split("\n")
    .filter((l) => l.length > 3)
    .map((l) => l.slice(3));
  return changed.length ? `${commit} with uncommitted changes to ${changed.join(", ")}` : commit;
}

export function describeMachine(anchors: string[] = defaultAnchors()): Machine {
  const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  return {
    nproc: check(["nproc"]).trim(),
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    memory: `${(totalmem() / GiB).toFixed(1)} GiB`,
    kernel: probe(["uname", "-sr"]) ?? "unknown",
    bun: `${Bun.version} (${Bun.revision.slice(0, 9)})`,
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    source: sourceState(),
    anchors,
  };
}

/** Versions of the native tools the hash benchmarks compare against. */
export function defaultAnchors(): string[] {
  return [probe(["xxhsum", "--version"])?.replace(/ by .*/, "") ?? "xxhsum missing", probe(["b3sum", "--version"]) ?? "b3sum missing", probe(["openssl", "version"])?.replace(/ \(Library.*/, "") ?? "openssl missing"];
}

/** Median and range of the 1-minute load average at the start of every timed command so far. */
export function loadSpread(): string {
  if (loads.length === 0) return "n/a";
  return `${median(loads).toFixed(1)} (${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)})`;
}

/** The 1-minute load average: other work on the machine shows up in the timings. */
export function loadAverage(): string {
  return existsSync("/proc/loadavg") ? readFileSync("/proc/loadavg", "utf8").split(" ")[0]! : "n/a";
}

export function writeReport(name: string, section: string[]): void {
  const BEGIN = `<!-- bench/${name} results: begin (generated; edits here are overwritten) -->`;
  const END = `<!-- bench/${name} results: end -->`;
  const block = `${BEGIN}\n${section.join("\n")}\n${END}`;
  let text = existsSync(REPORT) ? readFileSync(REPORT, "utf8") : "# Benchmarks\n\n";
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  text = begin >= 0 && end > begin ? `${text.slice(0, begin)}${block}${text.slice(end + END.length)}` : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(REPORT, text);
  console.log(`\nwrote ${REPORT}`);
}

// ---------------------------------------------------------------- equal starting state
//
// On this project's VM two things charge whichever command runs at the wrong moment, not its own
// work: freed memory starts going back to the host within a second of the free (of 4 GiB, 1.3 GiB
// after 0.8 s and 2.6 GiB after 5 s), and the first touch of such a page is a host fault
// (touchMemory, twice what the run writes, just before it); and on an ext4 without a journal,
// new files skip inodes deleted in the last seconds, scanning past each one (a fresh journaled
// file system as the target, journaledFileSystem).

/** A fresh ext4 file system (with its journal) on a loop device over an image in `dir`; returns its mount point. */
export function journaledFileSystem(dir: string, bytes: number): string {
  const image = join(dir, "target.img");
  const mountPoint = join(dir, "target");
  check(["truncate", "-s", String(bytes), image]);
  check(["mkfs.ext4", "-q", "-F", image]);
  // Direct I/O to the image: written data is not cached twice (once in each file system).
  const device = check(["losetup", "-f", "--show", "--direct-io=on", image]).trim();
  mkdirSync(mountPoint);
  try {
    check(["mount", device, mountPoint]);
  } catch (error) {
    check(["losetup", "-d", device]);
    throw error;
  }
  return mountPoint;
}

export function unmount(mountPoint: string): void {
  const device = check(["findmnt", "-n", "-o", "SOURCE", mountPoint]).trim();
  check(["umount", mountPoint]);
  check(["losetup", "-d", device]);
}

/** Touches `bytes` of fresh memory in a child process, which then exits and frees it. */
export function touchMemory(bytes: number): void {
  // In pieces of at most 1 GiB, all held until the end (one typed array cannot be 8 GiB).
  check([BUN, "-e", `const held = []; for (let left = ${bytes}; left > 0; left -= 1 << 30) { const a = new Uint8Array(Math.min(left, 1 << 30)); for (let i = 0; i < a.length; i += 4096) a[i] = 1; held.push(a); }`]);
}
