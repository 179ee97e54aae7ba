/**
 * The few libc calls Node's fs lacks, through bun:ffi: dropping a file's pages from the page
 * cache (so a verification read comes from the device), renaming without replacing, sharing a
 * file's extents with another (reflinks), advisory locks that die with their process, and file
 * times to the nanosecond. Loaded on first use; where a call is missing (another libc, another
 * OS) the caller is told.
 */
import { closeSync, existsSync, futimesSync, openSync, readFileSync, renameSync } from "node:fs";
import { dlopen, FFIType, ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import { errnoCode, errnoError } from "../core/errors.ts";

/** posix_fadvise advice: the pages will not be needed, drop them. */
const POSIX_FADV_DONTNEED = 4;
/** posix_fadvise advice: the pages will be needed, start reading them now. */
const POSIX_FADV_WILLNEED = 3;
/** renameat2 flag: fail with EEXIST instead of replacing the target. */
const RENAME_NOREPLACE = 1;
const AT_FDCWD = -100;
/** fcntl command on macOS: bypass the cache for this descriptor. */
const F_NOCACHE = 48;

type Libc = {
  posix_fadvise?: (fd: number, offset: bigint, length: bigint, advice: number) => number;
  renameat2?: (olddirfd: number, oldpath: unknown, newdirfd: number, newpath: unknown, flags: number) => number;
  fcntl?: (fd: number, cmd: number, arg: number) => number;
  syncfs?: (fd: number) => number;
  sync_file_range?: (fd: number, offset: bigint, nbytes: bigint, flags: number) => number;
  fallocate?: (fd: number, mode: number, offset: bigint, length: bigint) => number;
  lseek?: (fd: number, offset: bigint, whence: number) => bigint;
  setxattr?: (path: unknown, name: unknown, value: unknown, size: bigint, flags: number) => number;
  getxattr?: (path: unknown, name: unknown, value: unknown, size: bigint) => number | bigint;
  ioctl?: (fd: number, request: bigint, arg: bigint) => number;
  flock?: (fd: number, operation: number) => number;
  futimens?: (fd: number, times: unknown) => number;
  fstatfs?: (fd: number, buffer: unknown) => number;
  errno?: () => number;
  /** The descriptor-relative calls ({@link atCalls}); all present or none. */
  at?: AtCalls;
};

/** Calls relative to a folder descriptor, the ground of lib/io/held_folder.ts. */
interface AtCalls {
  syscall4: (number: bigint, a: number, b: unknown, c: unknown, d: bigint) => bigint;
  openat: (dirfd: number, path: unknown, flags: number, mode: number) => number;
  statx: (dirfd: number, path: unknown, flags: number, mask: number, buffer: unknown) => number;
  getdents64: (fd: number, buffer: unknown, size: bigint) => bigint;
  mkdirat: (dirfd: number, path: unknown, mode: number) => number;
  linkat: (olddirfd: number, oldpath: unknown, newdirfd: number, newpath: unknown, flags: number) => number;
  unlinkat: (dirfd: number, path: unknown, flags: number) => number;
  readlinkat: (dirfd: number, path: unknown, buffer: unknown, size: bigint) => bigint;
  symlinkat: (target: unknown, dirfd: number, path: unknown) => number;
  utimensat: (dirfd: number, path: unknown, times: unknown, flags: number) => number;
  renameat2: (olddirfd: number, oldpath: unknown, newdirfd: number, newpath: unknown, flags: number) => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  libc = {};
  try {
    if (process.platform === "linux") {
      const lib = dlopen("libc.so.6", {
        posix_fadvise: { args: [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.i32], returns: FFIType.i32 },
        renameat2: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
        syncfs: { args: [FFIType.i32], returns: FFIType.i32 },
        sync_file_range: { args: [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.u32], returns: FFIType.i32 },
        fallocate: { args: [FFIType.i32, FFIType.i32, FFIType.i64, FFIType.i64], returns: FFIType.i32 },
        lseek: { args: [FFIType.i32, FFIType.i64, FFIType.i32], returns: FFIType.i64 },
        setxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
        getxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
        ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
        flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        futimens: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
        fstatfs: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
        __errno_location: { args: [], returns: FFIType.ptr },
      });
      const errnoPtr = lib.symbols.__errno_location;
      let at: AtCalls | undefined;
      try {
        // Separate, so that a libc without one of them (glibc before 2.30 has no getdents64)
        // still gives the calls above; callers then use paths.
        const atLib = dlopen("libc.so.6", {
          syscall: { args: [FFIType.i64, FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
          openat: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.u32], returns: FFIType.i32 },
          statx: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.u32, FFIType.ptr], returns: FFIType.i32 },
          getdents64: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
          mkdirat: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
          linkat: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
          unlinkat: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
          readlinkat: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
          symlinkat: { args: [FFIType.ptr, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
          utimensat: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
        });
        const y = atLib.symbols;
        at = {
          syscall4: (n, a, b, c, d) => y.syscall(n, a, b as never, c as never, d) as bigint,
          openat: (d, p, f, m) => y.openat(d, p as never, f, m),
          statx: (d, p, f, m, b) => y.statx(d, p as never, f, m, b as never),
          getdents64: (fd, b, n) => y.getdents64(fd, b as never, n) as bigint,
          mkdirat: (d, p, m) => y.mkdirat(d, p as never, m),
          linkat: (a, b, c, d, e) => y.linkat(a, b as never, c, d as never, e),
          unlinkat: (d, p, f) => y.unlinkat(d, p as never, f),
          readlinkat: (d, p, b, n) => y.readlinkat(d, p as never, b as never, n) as bigint,
          symlinkat: (t, d, p) => y.symlinkat(t as never, d, p as never),
          utimensat: (d, p, t, f) => y.utimensat(d, p as never, t as never, f),
          renameat2: (a, b, c, d, e) => lib.symbols.renameat2(a, b as never, c, d as never, e),
        };
      } catch {
        at = undefined;
      }
      libc = {
        posix_fadvise: (fd, offset, length, advice) => lib.symbols.posix_fadvise(fd, offset, length, advice),
        renameat2: (a, b, c, d, e) => lib.symbols.renameat2(a, b as never, c, d as never, e),
        syncfs: (fd) => lib.symbols.syncfs(fd),
        sync_file_range: (fd, offset, nbytes, flags) => lib.symbols.sync_file_range(fd, offset, nbytes, flags),
        fallocate: (fd, mode, offset, length) => lib.symbols.fallocate(fd, mode, offset, length),
        lseek: (fd, offset, whence) => lib.symbols.lseek(fd, offset, whence) as bigint,
        setxattr: (a, b, c, d, e) => lib.symbols.setxattr(a as never, b as never, c as never, d, e),
        getxattr: (a, b, c, d) => lib.symbols.getxattr(a as never, b as never, c as never, d),
        ioctl: (fd, request, arg) => lib.symbols.ioctl(fd, request, arg),
        flock: (fd, operation) => lib.symbols.flock(fd, operation),
        futimens: (fd, times) => lib.symbols.futimens(fd, times as never),
        fstatfs: (fd, buffer) => lib.symbols.fstatfs(fd, buffer as never),
        errno: () => new Int32Array(toArrayBuffer(errnoPtr()!, 0, 4))[0]!,
        at,
      };
    } else if (process.platform === "darwin") {
      const lib = dlopen("libSystem.B.dylib", {
        fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      });
      libc = { fcntl: (fd, cmd, arg) => lib.symbols.fcntl(fd, cmd, arg), flock: (fd, operation) => lib.symbols.flock(fd, operation) };
    }
  } catch {
    libc = {};
  }
  return libc;
}

function cString(text: string): Uint8Array {
  return Buffer.from(`${text}\0`, "utf8");
}

/** The buffers behind the pointers of the last call, referenced until the next one. */
// biome-ignore lint/correctness/noUnusedVariables: never read; holding the buffers is its purpose
let held: readonly Uint8Array[] = [];

/**
 * Pointers for a C call. Each buffer stays referenced until the next call: `ptr(temporary)`
 * leaves nothing referencing the temporary, which could then be collected, and its memory
 * reused, while the call's next argument is built.
 */
function pointers(...buffers: Uint8Array[]): Pointer[] {
  held = buffers;
  return buffers.map((b) => ptr(b));
}

/**
 * Drops the file's cached pages (Linux: posix_fadvise DONTNEED; the pages must be clean, so
 * flush first) or turns caching off for this descriptor (macOS: F_NOCACHE). Returns false when
 * neither is available, so the caller can say the verification read may come from the cache.
 */
export function evictFromCache(fd: number): boolean {
  const c = load();
  if (c.posix_fadvise) return c.posix_fadvise(fd, 0n, 0n, POSIX_FADV_DONTNEED) === 0;
  if (c.fcntl) return c.fcntl(fd, F_NOCACHE, 1) !== -1;
  return false;
}

/**
 * Starts reading a file's pages from the device into the cache without waiting (Linux
 * posix_fadvise WILLNEED): many small files asked for at once are read together instead of one
 * device round trip each. Dropped pages are read from the device again, so a read after
 * {@link evictFromCache} and this still reads what the device holds. False where unavailable.
 */
export function readAhead(fd: number): boolean {
  const c = load();
  return c.posix_fadvise ? c.posix_fadvise(fd, 0n, 0n, POSIX_FADV_WILLNEED) === 0 : false;
}

let knownLimit: number | undefined;

/**
 * How many descriptors this process may open (its soft limit, Linux /proc/self/limits, read
 * once); 256, a common low default, where that cannot be read.
 */
export function openFileLimit(): number {
  knownLimit ??= readOpenFileLimit();
  return knownLimit;
}

function readOpenFileLimit(): number {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const field = line?.split(/\s+/)[3];
    if (field === "unlimited") return 1 << 20;
    const soft = Number(field);
    if (Number.isFinite(soft) && soft > 0) return soft;
  } catch {
    // not Linux
  }
  return 256;
}

/**
 * Descriptors one part of the process may hold open while they wait (copies waiting for their
 * flush, files waiting for their hash): a quarter of {@link openFileLimit}, leaving the rest for
 * the folders held, the threads and the files being worked on; split among `shares` holders
 * each (a copy holds one per destination). `limit`: another limit than this process's, to
 * work out what a run would hold under it.
 */
export function waitingDescriptors(shares = 1, limit = openFileLimit()): number {
  return Math.floor(limit / 4 / Math.max(1, shares));
}

/**
 * True where {@link evictFromCache} drops the file's pages for everyone (posix_fadvise), so
 * another descriptor, or another thread, then reads from the device; false where it only turns
 * caching off for the one descriptor (macOS) or is missing.
 */
export function evictionIsFileWide(): boolean {
  return load().posix_fadvise !== undefined;
}

/** True where {@link flushFileSystem} is available (syncfs). */
export function canFlushFileSystem(): boolean {
  return load().syncfs !== undefined;
}

/**
 * Renames `from` to `to` unless `to` exists (then throws EEXIST), atomically where the kernel
 * and file system support it (renameat2 RENAME_NOREPLACE). Elsewhere the check and the rename
 * are two steps, and `undefined` is returned instead of `true`.
 */
export function renameNoReplace(from: string, to: string): true | undefined {
  const c = load();
  if (c.renameat2) {
    const [fromPath, toPath] = pointers(cString(from), cString(to));
    const result = c.renameat2(AT_FDCWD, fromPath, AT_FDCWD, toPath, RENAME_NOREPLACE);
    if (result === 0) return true;
    const errno = c.errno?.() ?? 0;
    if (errno === 17) throw Object.assign(new Error(`EEXIST: file already exists, rename '${from}' -> '${to}'`), { code: "EEXIST", path: to });
    // EINVAL/ENOSYS: the file system does not support the flag; fall through to two steps.
    if (errno !== 22 && errno !== 38) throw errnoError(errno, "renameat2 failed", to);
  }
  if (existsSync(to)) throw Object.assign(new Error(`EEXIST: file already exists, rename '${from}' -> '${to}'`), { code: "EEXIST", path: to });
  renameSync(from, to);
  return undefined;
}

/** sync_file_range flag: start writing the range's dirty pages back, without waiting. */
const SYNC_FILE_RANGE_WRITE = 2;

/**
 * Starts writing a file's dirty pages to the device without waiting (Linux sync_file_range), all
 * of them or `length` bytes from `offset`, so a later flush finds most of them already written.
 * Returns false where unavailable.
 */
export function startWriteback(fd: number, offset = 0, length = 0): boolean {
  const c = load();
  return c.sync_file_range ? c.sync_file_range(fd, BigInt(offset), BigInt(length), SYNC_FILE_RANGE_WRITE) === 0 : false;
}

/** fallocate mode: reserve the blocks, leave the file's size as it is. */
const FALLOC_FL_KEEP_SIZE = 1;

/**
 * Reserves `length` bytes of blocks for a file about to be written (Linux fallocate, the size
 * left as it is): the file system can lay it out in one piece even while other files are
 * written at the same time, and a file that cannot fit fails before a byte is written.
 * @returns undefined when reserved or when reserving is not available here (other file systems,
 *   other systems: the writes then allocate as they go); the error code (ENOSPC, EFBIG) when
 *   the file cannot fit.
 */
export function preallocate(fd: number, length: number): string | undefined {
  const c = load();
  if (!c.fallocate || length <= 0 || c.fallocate(fd, FALLOC_FL_KEEP_SIZE, 0n, BigInt(length)) === 0) return undefined;
  const code = errnoCode(c.errno?.() ?? 0);
  return code === "ENOSPC" || code === "EFBIG" ? code : undefined;
}

/**
 * Flushes everything written to the file system holding `folder` (Linux syncfs): one flush for
 * many files instead of one fsync each. Returns false where syncfs is missing or fails, so the
 * caller flushes file by file instead.
 */
export function flushFileSystem(folder: string): boolean {
  const c = load();
  if (!c.syncfs) return false;
  let fd: number | undefined;
  try {
    fd = openSync(folder, "r");
    return c.syncfs(fd) === 0;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Flushes everything written to the file system holding the open file or folder `fd` (Linux
 * syncfs). False where syncfs is missing or fails.
 */
export function flushFileSystemOf(fd: number): boolean {
  const c = load();
  return c.syncfs ? c.syncfs(fd) === 0 : false;
}

/**
 * Sets an extended attribute (Linux setxattr). On an LTFS mount, `user.ltfs.*` names reach
 * LTFS's own attributes (`user.ltfs.sync` writes an index).
 * @throws {Error} with the errno's `code` (ENOTSUP where the file system keeps none).
 */
export function setXattr(path: string, name: string, value: string | Uint8Array): void {
  const c = load();
  if (!c.setxattr) throw Object.assign(new Error(`extended attributes are not available on ${process.platform}`), { code: "ENOTSUP", path });
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  // An empty value is passed as NULL (there is no pointer to empty memory).
  const [pathPointer, namePointer, valuePointer = null] = bytes.length > 0 ? pointers(cString(path), cString(name), bytes) : pointers(cString(path), cString(name));
  const result = c.setxattr(pathPointer, namePointer, valuePointer, BigInt(bytes.length), 0);
  if (result !== 0) throw errnoError(c.errno?.() ?? 0, `setxattr ${name} failed`, path);
}

/** Reads an extended attribute as text; `undefined` when the file has no such attribute or none can be read. */
export function getXattr(path: string, name: string): string | undefined {
  const c = load();
  if (!c.getxattr) return undefined;
  const buffer = new Uint8Array(65536);
  const [pathPointer, namePointer, valuePointer] = pointers(cString(path), cString(name), buffer);
  const result = Number(c.getxattr(pathPointer, namePointer, valuePointer, BigInt(buffer.length)));
  if (result < 0) return undefined;
  return Buffer.from(buffer.subarray(0, result)).toString("utf8");
}

/**
 * The type of the file system holding the open file or folder `fd` (Linux fstatfs `f_type`, the
 * file system's magic number, e.g. 0xef53 for ext2/3/4); undefined where it cannot be asked.
 */
export function fileSystemType(fd: number): number | undefined {
  const c = load();
  if (!c.fstatfs) return undefined;
  // struct statfs is 120 bytes on 64-bit Linux (84 on 32-bit); f_type comes first, a word wide.
  const buffer = new Uint8Array(256);
  const [pointer] = pointers(buffer);
  if (c.fstatfs(fd, pointer) !== 0) return undefined;
  const view = new DataView(buffer.buffer);
  return process.arch === "x64" || process.arch === "arm64" ? Number(view.getBigUint64(0, true) & 0xffffffffn) : view.getUint32(0, true);
}

/** ioctl request (Linux, every architecture): make the target file share the source's extents. */
const FICLONE = 0x40049409n;

/**
 * Makes the file open for writing as `targetFd` a reflink of the file open as `sourceFd`: it
 * shares the source's extents, no data is copied, and either may change later without touching
 * the other (Linux FICLONE; XFS with reflink=1, Btrfs, bcachefs, OCFS2).
 * @returns undefined when done; otherwise the error code: EXDEV (two file systems),
 *   EOPNOTSUPP or EINVAL (the file system cannot), ENOTSUP (not available on this system), or
 *   whatever else the kernel said.
 */
export function cloneFile(targetFd: number, sourceFd: number): string | undefined {
  const c = load();
  if (!c.ioctl) return "ENOTSUP";
  if (c.ioctl(targetFd, FICLONE, BigInt(sourceFd)) === 0) return undefined;
  const errno = c.errno?.() ?? 0;
  return errnoCode(errno) ?? `errno ${errno}`;
}

/** flock operations (Linux and macOS alike). */
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EWOULDBLOCK = process.platform === "darwin" ? 35 : 11;

/**
 * Takes an advisory lock on an open file (flock): `shared` ones coexist, an `exclusive` one
 * excludes every other. The kernel drops the lock when the descriptor is closed or the process
 * dies, `kill -9` included, so a crash never leaves a stale lock behind.
 * @returns true when taken, false when another holds a lock that conflicts (never waits).
 * @throws {Error} with the errno's code when locks are not available (ENOTSUP, ENOLCK…).
 */
export function tryLock(fd: number, kind: "shared" | "exclusive"): boolean {
  const c = load();
  if (!c.flock) throw Object.assign(new Error(`file locks are not available on ${process.platform}`), { code: "ENOTSUP" });
  if (c.flock(fd, (kind === "shared" ? LOCK_SH : LOCK_EX) | LOCK_NB) === 0) return true;
  const errno = c.errno?.() ?? 0;
  if (errno === EWOULDBLOCK) return false;
  throw errnoError(errno, "flock failed");
}

/** Releases a lock taken with {@link tryLock} (closing the descriptor does too). */
export function unlock(fd: number): void {
  load().flock?.(fd, LOCK_UN);
}

/**
 * A time in nanoseconds from 1970 as a Date: whole milliseconds, rounded down (before 1970 too).
 * @example
 * dateOfNs(-1n).toISOString(); // "1969-12-31T23:59:59.999Z"
 */
export function dateOfNs(ns: bigint): Date {
  return new Date(Number(ns >= 0n ? ns / 1_000_000n : -((-ns + 999_999n) / 1_000_000n)));
}

/**
 * Sets a file's access and modification times to the nanosecond (futimens). Where futimens is
 * not called here (macOS, a libc that cannot be opened), node's futimes sets them to the
 * millisecond, from Dates: it takes a number of seconds as a float, which moves a time by up
 * to a microsecond, and a time before 1970 as "now".
 */
export function setFileTimes(fd: number, atimeNs: bigint, mtimeNs: bigint): void {
  const c = load();
  if (!c.futimens) {
    futimesSync(fd, dateOfNs(atimeNs), dateOfNs(mtimeNs));
    return;
  }
  const [pointer] = pointers(timespecs(atimeNs, mtimeNs));
  if (c.futimens(fd, pointer) !== 0) throw errnoError(c.errno?.() ?? 0, "futimens failed");
}

/** Two `struct timespec`s (access, then modification time) of whole nanoseconds, as futimens and utimensat take them. */
export function timespecs(atimeNs: bigint, mtimeNs: bigint): Uint8Array {
  const split = (ns: bigint) => {
    const sec = ns >= 0n ? ns / 1_000_000_000n : -((-ns + 999_999_999n) / 1_000_000_000n);
    return [sec, ns - sec * 1_000_000_000n];
  };
  return new Uint8Array(new BigInt64Array([...split(atimeNs), ...split(mtimeNs)]).buffer);
}

/**
 * The descriptor-relative calls where this system has them (Linux with glibc 2.30 or later),
 * with the errno of the last failed call; `undefined` elsewhere. lib/io/held_folder.ts builds
 * on them; nothing else should call them.
 */
export function atCalls(): (AtCalls & { errno: () => number; hold: (...buffers: Uint8Array[]) => Pointer[] }) | undefined {
  const c = load();
  if (!c.at || !c.errno) return undefined;
  return { ...c.at, errno: c.errno, hold: pointers };
}

/** lseek whences: the next byte of data, the next hole, at or after an offset (Linux, and macOS). */
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

/**
 * Where a file holds data: [start, end) ranges in order, everything else a hole that reads as
 * zeros (lseek SEEK_DATA/SEEK_HOLE), each range asked for as it is taken: a file of a million
 * ranges is walked in constant memory. Where the system or file system cannot tell, the whole
 * file is one range (and where it stops telling midway, the rest is). Ranges may include
 * unwritten (allocated, zero) blocks: they are data.
 * @example
 * import { fstatSync } from "node:fs";
 * declare const fd: number;
 * [...dataRanges(fd, fstatSync(fd).size)]; // [[0, 65536], [16777216, 16842752]]
 */
export function* dataRanges(fd: number, size: number): Generator<[number, number]> {
  const c = load();
  if (size === 0) return;
  if (!c.lseek) {
    yield [0, size];
    return;
  }
  let at = 0;
  while (at < size) {
    const data = Number(c.lseek(fd, BigInt(at), SEEK_DATA));
    if (data < 0) {
      const errno = c.errno?.() ?? 0;
      if (errno === 6 /* ENXIO: no data after this offset */) return;
      yield [at, size]; // EINVAL: the file system does not say
      return;
    }
    if (data >= size) return;
    const hole = Number(c.lseek(fd, BigInt(data), SEEK_HOLE));
    const end = hole < 0 ? size : Math.min(hole, size);
    yield [data, end];
    at = end;
  }
}

/**
 * How long an open that says "again" is tried again: a holder that answers gives its lease
 * back within moments; one that does not would hold the run for the kernel's lease-break time
 * (45 s by default), deaf to Ctrl-C all that while, so the file is named as not read instead.
 */
const AGAIN_MS = 10_000;

/**
 * Runs `open` (an open that does not wait, so a FIFO never blocks it) until it does not say
 * "again" (EAGAIN). That is said of a regular file another process holds a lease on (a Samba
 * oplock, an NFS delegation), from the first try until the holder gives the lease back (or the
 * kernel takes it, after its lease-break time), and by openat2 when a rename raced its walk of
 * `..`. It is asked again every 10 ms, never with an open that waits: the name may be a FIFO by
 * then. After {@link AGAIN_MS} the last EAGAIN is thrown, saying so.
 */
export function openRetryingAgain(open: () => number): number {
  let deadline: number | undefined;
  for (;;) {
    try {
      return open();
    } catch (error) {
      if ((error as { code?: string }).code !== "EAGAIN") throw error;
      deadline ??= performance.now() + AGAIN_MS;
      if (performance.now() > deadline) throw Object.assign(error as Error, { detail: `another process holds a lease on it (a file server's) and did not give it back within ${AGAIN_MS / 1000} s; not read` });
      Bun.sleepSync(10);
    }
  }
}
