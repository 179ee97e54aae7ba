/**
 * An advisory lock on a file, held through flock(2): the kernel releases it when its holder
 * closes the file or dies, so a process killed while it held the lock never leaves it taken.
 * Processes that decide something together (which offload may write to a drive now) take it
 * around the decision and the write that records it.
 */
import { closeSync, openSync } from "node:fs";
import { dlopen, FFIType, toArrayBuffer } from "bun:ffi";
import { errnoError } from "../core/errors.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
/** EWOULDBLOCK: Linux 11, macOS 35. */
const WOULD_BLOCK = process.platform === "darwin" ? 35 : 11;
const EINTR = 4;

type Flock = { flock: (fd: number, operation: number) => number; errno: () => number };

let calls: Flock | null | undefined;

function load(): Flock | null {
  if (calls !== undefined) return calls;
  calls = null;
  try {
    if (process.platform === "linux") {
      const lib = dlopen("libc.so.6", {
        flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        __errno_location: { args: [], returns: FFIType.ptr },
      });
      calls = { flock: (fd, op) => lib.symbols.flock(fd, op), errno: () => new Int32Array(toArrayBuffer(lib.symbols.__errno_location()!, 0, 4))[0]! };
    } else if (process.platform === "darwin") {
      const lib = dlopen("libSystem.B.dylib", {
        flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        __error: { args: [], returns: FFIType.ptr },
      });
      calls = { flock: (fd, op) => lib.symbols.flock(fd, op), errno: () => new Int32Array(toArrayBuffer(lib.symbols.__error()!, 0, 4))[0]! };
    }
  } catch {
    calls = null;
  }
  return calls;
}

/** True where {@link FileLock} works (flock reachable through bun:ffi: Linux, macOS). */
export function canLockFiles(): boolean {
  return load() !== null;
}

/**
 * An exclusive lock on `path` (the file is created when missing and never removed: removing a
 * lock file while another process waits on its descriptor would let a third one lock a new file
 * beside it).
 * @example
 * const lock = await FileLock.acquire("/var/lib/x/.lock");
 * try {
 *   // decide and record the decision
 * } finally {
 *   lock.release();
 * }
 */
export class FileLock {
  readonly path: string;
  #fd: number | undefined;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Takes the lock when it is free; `undefined` when another process holds it.
   * @throws ENOTSUP where flock cannot be called; the open's error (EACCES…) with the path.
   */
  static tryAcquire(path: string): FileLock | undefined {
    const c = load();
    if (!c) throw Object.assign(new Error(`file locks (flock) are not available on ${process.platform}`), { code: "ENOTSUP", path });
    const fd = openSync(path, "a", 0o600);
    for (;;) {
      if (c.flock(fd, LOCK_EX | LOCK_NB) === 0) return new FileLock(path, fd);
      const errno = c.errno();
      if (errno === EINTR) continue;
      closeSync(fd);
      if (errno === WOULD_BLOCK) return undefined;
      throw errnoError(errno, "flock failed", path);
    }
  }

  /**
   * Takes the lock of a folder on `own`, a descriptor of it of its own (`HeldFolder.openAgain`),
   * which the lock then keeps until {@link release} or the process ends (closed here when the
   * lock is not taken): two processes writing into one folder at once cannot both hold it,
   * whatever path each reached it by.
   * @returns the lock; `"busy"` when another descriptor holds it; undefined where the folder
   *   cannot be locked (no flock, or a file system that refuses it for folders).
   */
  static tryFolder(own: number, path: string): FileLock | "busy" | undefined {
    const c = load();
    for (;;) {
      if (c && c.flock(own, LOCK_EX | LOCK_NB) === 0) return new FileLock(path, own);
      const errno = c?.errno();
      if (errno === EINTR) continue;
      closeSync(own);
      return errno === WOULD_BLOCK ? "busy" : undefined;
    }
  }

  /**
   * Waits for the lock, trying every `pollMs` (never blocking the thread, so signals and timers
   * still run while it waits).
   */
  static async acquire(path: string, options: { pollMs?: number } = {}): Promise<FileLock> {
    for (;;) {
      const lock = FileLock.tryAcquire(path);
      if (lock) return lock;
      await Bun.sleep(options.pollMs ?? 20);
    }
  }

  /** Releases the lock (idempotent). */
  release(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    try {
      load()?.flock(fd, LOCK_UN);
    } finally {
      closeSync(fd);
    }
  }
}
