/**
 * JavaScriptCore compiles a function that runs often in three tiers; the last (FTL) takes the
 * longest to compile. A tool's per-file work (a walk, a record, an XML element) is hot within a
 * second and done a few seconds later, and there FTL costs more than it gives back: on 20,000
 * files of 32 KiB, `mhl-verify create` spent 290 ms compiling 61 functions in FTL on the second
 * core, and ran 0.41 s instead of 0.53 s without it (BENCHMARKS.md, "The JIT's top tier").
 *
 * JavaScriptCore reads its options once, from the environment, as the process starts; a
 * compiled tool cannot change them afterwards. So a compiled tool started without
 * `BUN_JSC_useFTLJIT` in its environment replaces itself at once (`execve` of /proc/self/exe)
 * with the same arguments and environment, byte for byte, and that variable set to `false`. It
 * costs one start of the runtime (about 7 ms). Set `BUN_JSC_useFTLJIT` (to `true` to keep the
 * tier) and the tool runs as it was started; descriptors it was given stay open across the
 * restart. With `BUN_OPTIONS` (which would act twice) it is not restarted. From source
 * (`bun tools/…`) nothing is done.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { dlopen, FFIType, ptr } from "bun:ffi";
import { procEntries } from "./environment.ts";

/** The variable JavaScriptCore reads; set, the tool is not restarted. */
export const TOP_TIER_VARIABLE = "BUN_JSC_useFTLJIT";

/**
 * In a compiled tool on Linux, without {@link TOP_TIER_VARIABLE} in its environment: replaces
 * the process with itself, that variable set to `false`. Returns only where it could not (no
 * /proc, no `execve`), and the tool runs on as it is.
 * @example
 * restartWithoutTopTier(); // first thing, before any thread, descriptor or signal handler
 */
export function restartWithoutTopTier(): void {
  if (process.platform !== "linux" || !Bun.main.startsWith("/$bunfs/")) return;
  if (process.env[TOP_TIER_VARIABLE] !== undefined) {
    nameAsCalled();
    return;
  }
  // BUN_OPTIONS (a --preload, say) would act twice.
  if (process.env.BUN_OPTIONS !== undefined) return;
  const argv = procEntries("/proc/self/cmdline");
  const environ = procEntries("/proc/self/environ");
  if (!argv || argv.length === 0 || !environ) return;
  // The variable itself, should the kernel's copy hold it where process.env does not.
  const name = new TextEncoder().encode(`${TOP_TIER_VARIABLE}=`);
  const kept = environ.filter((entry) => !startsWith(entry, name));
  kept.push(new TextEncoder().encode(`${TOP_TIER_VARIABLE}=false`));
  const execve = libc()?.execve;
  if (!execve) return;
  const strings = [...argv, ...kept].map(terminated);
  const pointers = (list: Uint8Array[]) => BigUint64Array.from([...list.map((s) => BigInt(ptr(s))), 0n]);
  const args = pointers(strings.slice(0, argv.length));
  const env = pointers(strings.slice(argv.length));
  const given = givenDescriptors();
  if (!given || !closeOnExec(given, false)) {
    if (given) closeOnExec(given, true);
    return;
  }
  // The running binary, whatever its path names now: a path could be given another file
  // meanwhile. On success this does not return; on failure the process is put back as it was.
  execve(ptr(terminated(new TextEncoder().encode("/proc/self/exe"))), ptr(args), ptr(env));
  closeOnExec(given, true);
}

/** Descriptors of the runtime's own, open when a tool starts: its event loop's. */
const OWN_DESCRIPTORS = new Set(["anon_inode:[eventpoll]", "anon_inode:[eventfd]", "anon_inode:[timerfd]", "anon_inode:[signalfd]"]);

/**
 * The descriptors from 4 up the tool was given (`<(…)` hands one over as /dev/fd/63; a caller
 * may pass `4<file`), which must stay open across the restart: the runtime
 * marks every descriptor from 4 up to be closed on exec as it starts, and a descriptor of its
 * own is one of its event loop's. A copy the runtime made of stdout or stderr as the tool's
 * modules loaded is kept too (it cannot be told from one handed over): the restarted runtime
 * marks it close-on-exec again, as every descriptor from 4 up, so no child is given it.
 * Undefined where /proc/self/fd cannot be read.
 */
function givenDescriptors(): number[] | undefined {
  let fds: string[];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return undefined;
  }
  const given: number[] = [];
  for (const fd of fds) {
    // 0–2, and 3, which the runtime leaves as it was handed over.
    if (Number(fd) <= 3) continue;
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the listing's own descriptor, closed by now
    }
    if (!OWN_DESCRIPTORS.has(target)) given.push(Number(fd));
  }
  return given;
}

/** Sets (or clears) FD_CLOEXEC on each of `fds` (F_SETFD); false where one could not be. */
function closeOnExec(fds: readonly number[], set: boolean): boolean {
  const fcntl = libc()?.fcntl;
  if (!fcntl) return false;
  let all = true;
  for (const fd of fds) if (fcntl(fd, 2, set ? 1 : 0) !== 0) all = false;
  return all;
}

/**
 * The kernel names a process after the file it executed: "exe" after the restart. `ps -C`,
 * `pgrep` and `top` know a tool by that name, so it is set back to the last part of the name it
 * was called by, its argv[0] (the first 15 bytes, as the kernel keeps).
 */
function nameAsCalled(): void {
  let comm: string;
  try {
    comm = readFileSync("/proc/self/comm", "latin1");
  } catch {
    return;
  }
  const called = procEntries("/proc/self/cmdline")?.[0];
  if (comm !== "exe\n" || !called) return;
  const slash = called.lastIndexOf(0x2f);
  const base = called.subarray(slash + 1, slash + 1 + 15);
  if (base.length === 0) return;
  libc()?.prctl(PR_SET_NAME, ptr(terminated(base)), 0, 0, 0);
}

const PR_SET_NAME = 15;

let loaded: ReturnType<typeof load> | undefined;

function libc() {
  loaded ??= load();
  return loaded;
}

function load() {
  try {
    return dlopen("libc.so.6", {
      execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
      prctl: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
      fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    }).symbols;
  } catch {
    return undefined;
  }
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** The bytes with a NUL after them, in memory of their own (a C string). */
function terminated(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}
