/**
 * C compiled at run time by the compiler Bun carries (bun:ffi `cc`), for the few loops that
 * cost too much as calls out of JavaScript, or that must run where JavaScript cannot. No header
 * is included by the sources: a cart machine has no C library headers, only the compiler inside
 * Bun. Each source is compiled from a memory file; nothing of it is written to disk.
 */
import { cc, dlopen, type FFIFunction } from "bun:ffi";
import { closeSync, lstatSync, mkdirSync, writeSync } from "node:fs";
import { environmentValue, temporaryFolder } from "./environment.ts";
import { fsPath, joinPath, showName } from "./names.ts";

/**
 * The folder Bun's compiler writes its headers to, `bun-cc-UID` in `$BUN_TMPDIR` or the
 * temporary folder, made here (mode 0700) or found to be a folder of this user's that no one
 * else may enter: as root in a shared /tmp, a link someone else put there would otherwise be
 * written through. It is kept, as Bun keeps it, for the next run: a tool that removed it could
 * pull it from under another one compiling at the same time.
 * @throws where it cannot be made, or is not private.
 */
function compilerFolder(): string {
  const uid = process.getuid?.() ?? 0;
  const path = joinPath(environmentValue("BUN_TMPDIR") || temporaryFolder(), `bun-cc-${uid}`);
  try {
    mkdirSync(fsPath(path), { mode: 0o700 });
  } catch (error) {
    if ((error as { code?: string }).code !== "EEXIST") throw error;
  }
  const stats = lstatSync(fsPath(path));
  if (!stats.isDirectory() || stats.uid !== uid || (stats.mode & 0o077) !== 0) {
    throw new Error(`${showName(path)} is not a private folder of this user: the compiler's headers are not written there`);
  }
  return path;
}

/**
 * Compiles `source` (Linux: from a memory file named `name`) and gives its functions. The
 * compiled code lives as long as the returned object is referenced.
 * @throws where it cannot be compiled (no compiler, no private folder for its headers, not Linux).
 * @example
 * const { symbols } = compileNative("cartkit-twice", "int twice(int x) { return 2 * x; }", { twice: { args: ["i32"], returns: "i32" } });
 */
export function compileNative<T extends Record<string, FFIFunction>>(name: string, source: string, symbols: T) {
  if (process.platform !== "linux") throw new Error("native code is compiled on Linux only");
  compilerFolder();
  const libc = dlopen("libc.so.6", { memfd_create: { args: ["ptr", "u32"], returns: "i32" } });
  const fd = libc.symbols.memfd_create(Buffer.from(`${name}\0`), 1 /* MFD_CLOEXEC */);
  libc.close();
  if (fd < 0) throw new Error("memfd_create failed");
  try {
    writeSync(fd, source);
    return cc({ source: `/proc/self/fd/${fd}`, symbols });
  } finally {
    closeSync(fd);
  }
}

/**
 * {@link compileNative} at first use, once: the returned function gives `shape` of the symbols
 * (the calls as their users type them), or null where native code is off (`off()`), not on
 * Linux, or could not be compiled (`onFailure` is told why). The library stays referenced for
 * as long as the process runs.
 * @example
 * const twice = compiledOnce("cartkit-twice", "int twice(int x) { return 2 * x; }", { twice: { args: ["i32"], returns: "i32" } }, (s) => s.twice);
 * twice()?.(21); // 42
 */
export function compiledOnce<T extends Record<string, FFIFunction>, R>(name: string, source: string, symbols: T, shape: (symbols: ReturnType<typeof compileNative<T>>["symbols"]) => R, options: { off?: () => boolean; onFailure?: (error: unknown) => void } = {}): () => R | null {
  let done = false;
  let result: R | null = null;
  return () => {
    if (done) return result;
    done = true;
    if (process.platform !== "linux" || options.off?.()) return result;
    try {
      const library = compileNative(name, source, symbols);
      KEPT.push(library);
      result = shape(library.symbols);
    } catch (error) {
      options.onFailure?.(error);
    }
    return result;
  };
}

/** The libraries {@link compiledOnce} compiled: their code must outlive every call into it. */
const KEPT: unknown[] = [];
