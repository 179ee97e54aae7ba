/**
 * Shared test helpers: real temp folders, running the tools from source and as compiled
 * binaries, and finding the native anchors.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "bun:test";

export const ROOT = join(import.meta.dir, "..");
export const BUN = process.execPath;

// Every dispatchcopy run keeps a job state file ($XDG_STATE_HOME/cartkit/jobs): the tools the
// tests start keep theirs in a folder of this test run, never in the user's home.
if (!process.env.CARTKIT_TEST_STATE) {
  const state = mkdtempSync(join(tmpdir(), "cartkit-state-"));
  chmodSync(state, 0o1777);
  process.env.CARTKIT_TEST_STATE = state;
  process.env.XDG_STATE_HOME = state;
  process.on("exit", () => rmSync(state, { recursive: true, force: true }));
}

/**
 * A temp folder removed after the test file (after the test, when made inside one: Bun then runs
 * the hook as the test's own, with the hooks' 5-second default, which a busy disk can exceed).
 */
export function tempDir(prefix = "cartkit-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // rm -rf, not rmSync: Bun's recursive removal takes seconds on a deeply nested tree. File
  // systems a test mounted inside are unmounted first (deepest first), their loop devices freed.
  afterAll(
    () => {
      unmountBelow(dir);
      if (Bun.spawnSync({ cmd: ["rm", "-rf", "--", dir] }).exitCode !== 0) rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 120_000 },
  );
  return dir;
}

/** Unmounts every file system mounted at or below `dir` and detaches loop devices backed by files in it. */
function unmountBelow(dir: string): void {
  let mounts: string[] = [];
  try {
    mounts = readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((line) => line.split(" ")[1] ?? "")
      .map((p) => p.replace(/\\040/g, " "));
  } catch {
    return;
  }
  const below = mounts.filter((p) => p === dir || p.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
  for (const path of below) Bun.spawnSync({ cmd: ["umount", "-l", path] });
  if (!below.length && !Bun.which("losetup")) return;
  const loops = Bun.spawnSync({ cmd: ["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"] }).stdout.toString();
  for (const line of loops.split("\n")) {
    const [name, ...back] = line.trim().split(/\s+/);
    if (name && back.join(" ").startsWith(`${dir}/`)) Bun.spawnSync({ cmd: ["losetup", "-d", name] });
  }
}

/** What a process did. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Uint8Array;
}

/** Runs a command with optional stdin, in `cwd`. */
export function run(cmd: string[], options: { cwd?: string; stdin?: string | Uint8Array; env?: Record<string, string>; timeoutMs?: number } = {}): RunResult {
  const proc = Bun.spawnSync({
    cmd,
    // A command that would wait forever is killed (exit code -1) and the test fails, not hangs.
    ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs, killSignal: "SIGKILL" as const }),
    cwd: options.cwd ?? ROOT,
    stdin: options.stdin === undefined ? "ignore" : typeof options.stdin === "string" ? Buffer.from(options.stdin) : options.stdin,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...options.env },
  });
  return {
    code: proc.exitCode ?? -1,
    stdout: proc.stdout.toString(),
    stderr: proc.stderr.toString(),
    stdoutBytes: new Uint8Array(proc.stdout),
  };
}

/** How to start a tool: from source with bun, or the compiled binary in dist/. */
export interface ToolRunner {
  label: string;
  command(tool: string): string[];
}

export const SOURCE: ToolRunner = { label: "source", command: (tool) => [BUN, join(ROOT, "tools", `${tool}.ts`)] };
export const COMPILED: ToolRunner = { label: "compiled", command: (tool) => [join(ROOT, "dist", tool)] };

/**
 * Both runners. The compiled binaries must exist: `npm test` builds them first; a missing
 * binary is a failure, not a skip.
 */
export function runners(): ToolRunner[] {
  return [SOURCE, COMPILED];
}

/** Runs a tool with a runner. */
export function tool(runner: ToolRunner, name: string, args: string[], options: Parameters<typeof run>[1] = {}): RunResult {
  const cmd = runner.command(name);
  if (runner === COMPILED && !existsSync(cmd[0]!)) throw new Error(`${cmd[0]} is missing: run 'npm run build' first`);
  return run([...cmd, ...args], options);
}

/** Path of a native tool, or undefined. In CI (CI=true) a missing anchor fails the test. */
export function anchor(name: string): string | undefined {
  const path = Bun.which(name) ?? undefined;
  if (!path && process.env.CI === "true") throw new Error(`${name} is required in CI (apt-get install b3sum xxhash)`);
  return path;
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function randomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A card at `top/CARD` of small files of random bytes (`files`, `/`-separated, in folders made as
 * needed; the i-th holds 3,000 + 1,000 i bytes, seeded by its place): its root and `top`.
 */
export function smallCard(top: string, files: readonly string[]): { root: string; top: string } {
  const root = join(top, "CARD");
  for (const [i, path] of files.entries()) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), randomBytes(3000 + i * 1000, i + 1));
  }
  return { root, top };
}

/** True when the tests run as root (CI does). */
export const IS_ROOT = process.getuid?.() === 0;

/**
 * A command run as `nobody` when the tests run as root (permissions mean nothing to root), as
 * is otherwise. Needs util-linux's setpriv.
 */
export function asNobody(cmd: string[]): string[] {
  return IS_ROOT ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", `XDG_STATE_HOME=${nobodyState()}`, ...cmd] : cmd;
}

let nobodyStateDir: string | undefined;

/** nobody's own job state folder (a tool run as nobody keeps its job there, as in a real home). */
function nobodyState(): string {
  if (nobodyStateDir === undefined) {
    nobodyStateDir = join(process.env.CARTKIT_TEST_STATE!, "nobody");
    mkdirSync(nobodyStateDir, { recursive: true });
    chownSync(nobodyStateDir, 65534, 65534);
  }
  return nobodyStateDir;
}

/** stderr without the line a job-keeping run starts with (`dispatchcopy: job ID`; tests/jobs.test.ts checks it). */
export function withoutJobLine(stderr: string): string {
  return stderr.replace(/^dispatchcopy: job \d{8}-\d{6}-[0-9a-f]{4}\n/m, "");
}

/**
 * Reads a child's stdout until what was read so far satisfies `until` (a text it holds, or a
 * test of the whole text), or the stream ends; releases the stream and returns the text read.
 */
export async function readStdoutUntil(stream: ReadableStream<Uint8Array>, until: string | ((text: string) => boolean)): Promise<string> {
  const done = typeof until === "string" ? (text: string) => text.includes(until) : until;
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!done(text)) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    text += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  return text;
}

/**
 * Waits until process `pid` catches SIGINT and SIGTERM (its runtime has set their handlers, as
 * /proc/PID/status says), then `settleMs` more: a signal sent sooner meets the default action,
 * which ends the process without a word. A tool run from source on a loaded machine can take
 * seconds to get there. Gives up after `timeoutMs`.
 */
export async function untilSignalsCaught(pid: number, settleMs = 500, timeoutMs = 30_000): Promise<void> {
  const wanted = (1n << 1n) | (1n << 14n);
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    let caught = 0n;
    try {
      caught = BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "0"}`);
    } catch {
      return;
    }
    if ((caught & wanted) === wanted) break;
    await Bun.sleep(20);
  }
  await Bun.sleep(settleMs);
}

/** strace (to refuse or count system calls); undefined (said) where it is not installed, an error in CI. */
export function straceOrSkip(): string | undefined {
  const strace = Bun.which("strace");
  if (strace) return strace;
  if (process.env.CI === "true") throw new Error("strace is required in CI (apt-get install strace)");
  console.warn("skipped: needs strace");
  return undefined;
}

/** Every file below `root` (a link or special file as itself), relative with `/`, sorted. */
export function filesBelow(root: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, prefix), { withFileTypes: true })) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...filesBelow(root, relative));
    else out.push(relative);
  }
  return out.sort();
}
