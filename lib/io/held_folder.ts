/**
 * A folder held open by its descriptor, with every name below it resolved beneath it and never
 * through a symbolic link. Offloads run as root onto drives and from cards that anyone may have
 * prepared: a planted `dst/sub -> /etc` must not make root write into /etc, and a card's
 * `clip.mov -> /etc/shadow` must not be read as the clip. So, on Linux:
 *
 * - folders are opened with openat2 `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` (where the kernel
 *   lacks openat2, one component at a time with `O_NOFOLLOW | O_DIRECTORY`), and the file
 *   itself with `O_NOFOLLOW` relative to its folder's descriptor;
 * - new files are made nameless (`O_TMPFILE`) and linked under their final name only when
 *   complete (`linkat`, which never replaces), or, where the file system cannot, under a hidden
 *   partial name renamed into place (`renameat2 RENAME_NOREPLACE`);
 * - folders are listed with getdents64 and names kept as bytes (lib/core/names.ts).
 *
 * The held folder itself is opened once, by the path the user gave (following links in that
 * path, which the user chose); {@link HeldFolder.stillAt} tells whether the path still leads
 * to it. Where the descriptor-relative calls are missing (other systems), the same methods work
 * on paths, checking each component with lstat first: correct, but not proof against a link
 * swapped in between the check and the use.
 */
import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmdirSync, statSync, symlinkSync, unlinkSync, type Stats } from "node:fs";
import { errnoError, explainedError } from "../core/errors.ts";
import { baseOf, compareUtf8, flatString, fsPath, joinPath, nameBytes, nameFromBytes, parentOf, showName } from "../core/names.ts";
import { atCalls, openFileLimit, openRetryingAgain, renameNoReplace, timespecs, waitingDescriptors } from "./libc.ts";
import { STAT_BATCH, statNames } from "./stat_batch.ts";

const O_RDONLY = constants.O_RDONLY;
const O_WRONLY = constants.O_WRONLY;
const O_CREAT = constants.O_CREAT;
const O_EXCL = constants.O_EXCL;
const O_NOFOLLOW = constants.O_NOFOLLOW;
const O_DIRECTORY = constants.O_DIRECTORY;
const O_NONBLOCK = constants.O_NONBLOCK;
/** Linux's generic values (x86-64 and arm64 alike). */
const O_CLOEXEC = 0o2000000;
const O_TMPFILE = 0o20000000 | O_DIRECTORY;
/**
 * How a file is opened for reading beneath its folder's descriptor without following a link
 * ({@link HeldFolder.openReadInside} tries this first): for code that opens files itself, by
 * `openat(folderFd, name, READ_NO_LINK)`, and leaves any that fail to openReadInside.
 */
export const READ_NO_LINK = O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_REMOVEDIR = 0x200;
const AT_SYMLINK_FOLLOW = 0x400;
const AT_EMPTY_PATH = 0x1000;
const RESOLVE_NO_SYMLINKS = 0x04;
const RESOLVE_BENEATH = 0x08;
const SYS_OPENAT2 = 437n;
const STATX_BASIC_STATS = 0x7ff;
const RENAME_NOREPLACE = 1;

const EPERM = 1;
const ENOENT = 2;
const EAGAIN = 11;
const EEXIST = 17;
const EXDEV = 18;
const ENOTDIR = 20;
const EINVAL = 22;
const ENOSYS = 38;
const ELOOP = 40;
const EOPNOTSUPP = 95;

/** What an entry is. */
export type EntryKind = "file" | "folder" | "link" | "fifo" | "socket" | "char-device" | "block-device";

/**
 * An entry's kind in words, for messages.
 * @example
 * kindInWords("fifo"); // "a FIFO (named pipe)"
 */
export function kindInWords(kind: EntryKind): string {
  return { file: "a file", folder: "a folder", link: "a symbolic link", fifo: "a FIFO (named pipe)", socket: "a socket", "char-device": "a character device", "block-device": "a block device" }[kind];
}

/**
 * An entry's identity and state as one string: device, inode, size, modification and change
 * times in nanoseconds, `/`-separated. Equal strings, the same file unchanged (as far as the
 * file system tells); compared whole.
 * @example
 * declare const stat: EntryStat;
 * stateKeyOf(stat); // "2049/1835011/4096/1796220884515100800/1796220884515100800"
 */
export function stateKeyOf(stat: Pick<EntryStat, "dev" | "ino" | "size" | "mtimeNs" | "ctimeNs">): string {
  return flatString(`${stat.dev}/${stat.ino}/${stat.size}/${stat.mtimeNs}/${stat.ctimeNs}`);
}

/**
 * How two {@link stateKeyOf} strings compare: `same`; `renumbered` when only the inode differs
 * (FAT, exFAT and FUSE number a file anew once the kernel forgot it, so only its bytes can tell
 * whether it is the same file); else `changed`.
 * @example
 * compareFileState("2049/12/5/7/7", "2049/13/5/7/7"); // "renumbered"
 */
export function compareFileState(a: string, b: string): "same" | "renumbered" | "changed" {
  if (a === b) return "same";
  const x = a.split("/");
  const y = b.split("/");
  return x.length === y.length && x.every((field, i) => i === 1 || field === y[i]) ? "renumbered" : "changed";
}

/** The state of an entry, as lstat gives it (a link is described, not followed). */
export interface EntryStat {
  kind: EntryKind;
  /** Permission bits and setuid/setgid/sticky (`mode & 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** 512-byte blocks allocated (holes and reservations show here). */
  blocks: number;
  mtimeMs: number;
  /** Modification time in whole nanoseconds, for exact comparisons. */
  mtimeNs: bigint;
  /** Access time in whole nanoseconds (what a copy is given, with the modification time). */
  atimeNs: bigint;
  ctimeNs: bigint;
  /** Device (as stat's st_dev, in decimal) and inode: the entry's identity. */
  dev: string;
  ino: bigint;
  nlink: number;
}

/** One name in a folder, as listed. */
export interface FolderEntry {
  name: string;
  /** The kind the listing gives, or undefined when the file system does not say (then stat it). */
  kind: EntryKind | undefined;
  /** The name's bytes with a NUL after them, as listed (for {@link HeldFolder.statEntry}). */
  cName?: Uint8Array;
}

/**
 * A system error with its code and the path it concerns: callers say what they were doing
 * ("cannot be read: Permission denied"); an errno with no name keeps its number.
 */
function failure(errno: number, what: string, path: string): Error {
  const error = errnoError(errno, what, path);
  return error.code ? error : Object.assign(error, { detail: `${what}: errno ${errno}` });
}

function kindOfMode(mode: number): EntryKind {
  switch (mode & 0o170000) {
    case 0o100000:
      return "file";
    case 0o040000:
      return "folder";
    case 0o120000:
      return "link";
    case 0o010000:
      return "fifo";
    case 0o140000:
      return "socket";
    case 0o020000:
      return "char-device";
    default:
      return "block-device";
  }
}

const DT_KINDS: Record<number, EntryKind> = { 1: "fifo", 2: "char-device", 4: "folder", 6: "block-device", 8: "file", 10: "link", 12: "socket" };

/** The state node:fs reports, in this module's shape (the fallback and descriptors). */
export function entryStatOf(stats: Stats): EntryStat {
  const mtimeNs = BigInt(Math.round(stats.mtimeMs * 1e6));
  return {
    kind: stats.isFile() ? "file" : stats.isDirectory() ? "folder" : stats.isSymbolicLink() ? "link" : kindOfMode(stats.mode),
    mode: stats.mode & 0o7777,
    uid: stats.uid,
    gid: stats.gid,
    size: stats.size,
    blocks: stats.blocks,
    mtimeMs: stats.mtimeMs,
    mtimeNs,
    atimeNs: BigInt(Math.round(stats.atimeMs * 1e6)),
    ctimeNs: BigInt(Math.round(stats.ctimeMs * 1e6)),
    dev: String(stats.dev),
    ino: BigInt(stats.ino),
    nlink: stats.nlink,
  };
}

const lastDev = { major: -1, minor: -1, text: "" };

/** The device number stat(2) gives (glibc's makedev), from statx's major and minor, as text. */
export function devNumber(major: number, minor: number): string {
  // A walk stats every entry of one device: the text is made once per device, not per entry.
  if (major === lastDev.major && minor === lastDev.minor) return lastDev.text;
  const value = ((BigInt(major) & 0xfffff000n) << 32n) | ((BigInt(major) & 0xfffn) << 8n) | ((BigInt(minor) & 0xffffff00n) << 12n) | (BigInt(minor) & 0xffn);
  lastDev.major = major;
  lastDev.minor = minor;
  lastDev.text = String(value);
  return lastDev.text;
}

/** One statx buffer per thread, reused: a stat must not allocate. */
const statxBuffer = new Uint8Array(256);
const statxView = new DataView(statxBuffer.buffer);

function entryStatOfStatx(): EntryStat {
  return entryStatAt(statxView, 0);
}

/** The state a statx buffer at `b` in `v` holds. */
function entryStatAt(v: DataView, b: number): EntryStat {
  const mode = v.getUint16(b + 28, true);
  const mtimeSec = v.getBigInt64(b + 112, true);
  const mtimeNsec = v.getUint32(b + 120, true);
  const ctimeSec = v.getBigInt64(b + 96, true);
  const ctimeNsec = v.getUint32(b + 104, true);
  return {
    kind: kindOfMode(mode),
    mode: mode & 0o7777,
    uid: v.getUint32(b + 20, true),
    gid: v.getUint32(b + 24, true),
    size: Number(v.getBigUint64(b + 40, true)),
    blocks: Number(v.getBigUint64(b + 48, true)),
    mtimeMs: Number(mtimeSec) * 1000 + mtimeNsec / 1e6,
    mtimeNs: mtimeSec * 1_000_000_000n + BigInt(mtimeNsec),
    atimeNs: v.getBigInt64(b + 64, true) * 1_000_000_000n + BigInt(v.getUint32(b + 72, true)),
    ctimeNs: ctimeSec * 1_000_000_000n + BigInt(ctimeNsec),
    dev: devNumber(v.getUint32(b + 136, true), v.getUint32(b + 140, true)),
    ino: v.getBigUint64(b + 32, true),
    nlink: v.getUint32(b + 16, true),
  };
}

/** `name` as the kernel takes it: its bytes (lib/core/names.ts) and a NUL. */
export function cString(name: string): Uint8Array {
  const bytes = nameBytes(name);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Whether linkat with AT_EMPTY_PATH was refused (older kernels: without CAP_DAC_READ_SEARCH): then only /proc is tried. */
let emptyPathRefused = false;
const EMPTY_NAME = new Uint8Array(1);

/**
 * Links the file open as `fd` (an O_TMPFILE file, or any other) under `name` in `dirfd`, never
 * replacing what is there: by the descriptor itself (AT_EMPTY_PATH, which older kernels allow
 * only with CAP_DAC_READ_SEARCH, as root has) or else through /proc/self/fd. The first skips the lookup of
 * /proc's magic link: 23 µs a call against 27 on ext4 (BENCHMARKS.md). Returns 0, or -1
 * with the errno in `at.errno()`.
 */
function linkOpenFile(at: NonNullable<ReturnType<typeof atCalls>>, fd: number, dirfd: number, name: Uint8Array): number {
  if (!emptyPathRefused) {
    const [empty, to] = at.hold(EMPTY_NAME, name);
    if (at.linkat(fd, empty, dirfd, to, AT_EMPTY_PATH) === 0) return 0;
    const errno = at.errno();
    // Without the capability the kernel answers ENOENT as if the name were empty; every other
    // answer (EEXIST, ENOSPC, EIO…) is the link's own.
    if (errno !== ENOENT && errno !== EPERM) return -1;
  }
  const [from, to] = at.hold(cString(`/proc/self/fd/${fd}`), name);
  if (at.linkat(AT_FDCWD, from, dirfd, to, AT_SYMLINK_FOLLOW) !== 0) return -1;
  emptyPathRefused = true;
  return 0;
}

/** Whether openat2 is known to be missing (set on the first ENOSYS). */
let noOpenat2 = false;

/**
 * Opens `relative` (a `/`-separated path of folders) beneath `dirfd` without following any
 * symbolic link, as a folder. Returns the descriptor or a negative errno.
 */
function openFolderBeneath(dirfd: number, relative: string): number {
  const at = atCalls()!;
  const flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  if (!noOpenat2) {
    const how = new BigUint64Array([BigInt(flags), 0n, BigInt(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)]);
    const [path, howPointer] = at.hold(cString(relative), new Uint8Array(how.buffer));
    const fd = Number(at.syscall4(SYS_OPENAT2, dirfd, path, howPointer, 24n));
    if (fd >= 0) return fd;
    const errno = at.errno();
    if (errno !== ENOSYS) return -errno;
    noOpenat2 = true;
  }
  // One component at a time, each without following a link; ".." is refused by the caller.
  let current = dirfd;
  for (const part of relative.split("/").filter((p) => p !== "" && p !== ".")) {
    const [name] = at.hold(cString(part));
    const next = at.openat(current, name, flags, 0);
    const errno = next < 0 ? at.errno() : 0;
    if (current !== dirfd) closeSync(current);
    if (next < 0) return -errno;
    current = next;
  }
  if (current === dirfd) {
    const [dot] = at.hold(cString("."));
    const again = at.openat(dirfd, dot, flags, 0);
    return again < 0 ? -at.errno() : again;
  }
  return current;
}

/** Refuses paths that are absolute, climb with `..`, or hold NUL: never resolved, whatever the caller. */
function checkRelative(relative: string): void {
  if (relative.startsWith("/") || relative.includes("\0") || relative.split("/").includes("..")) {
    throw Object.assign(new Error(`refused path '${relative}': absolute, '..' or NUL`), { code: "EINVAL", path: relative });
  }
}

/**
 * How many folder descriptors a held folder keeps open for the folders it works in: 64, fewer
 * under a low limit on open files (`ulimit -n`), where a run holds a source and destinations
 * (four shares of {@link waitingDescriptors}) besides the files it works on. Fixed for the
 * run: a cache that shrank as more folders are held would let go of the folders it works in
 * more often, and open them again by name.
 */
export function folderCacheFor(limit: number): number {
  return Math.max(4, Math.min(64, waitingDescriptors(4, limit)));
}

let folderCache: number | undefined;
function folderCacheSize(): number {
  folderCache ??= folderCacheFor(openFileLimit());
  return folderCache;
}

/**
 * A folder {@link HeldFolder.makeFolders} made that was no longer there, or no longer a folder,
 * when it was opened an instant later: moved or replaced meanwhile by someone else. Its `code`
 * and `detail` are the open's.
 */
export class MadeFolderLost extends Error {
  readonly code: string | undefined;
  readonly detail: string | undefined;
  readonly path: string | undefined;
  constructor(
    /** The folder, relative to the held one. */
    readonly relative: string,
    cause: unknown,
  ) {
    super(String((cause as { message?: unknown }).message ?? cause), { cause });
    this.code = (cause as { code?: string }).code;
    const detail = (cause as { detail?: unknown }).detail;
    this.detail = typeof detail === "string" ? detail : undefined;
    this.path = (cause as { path?: string }).path;
  }
}

/** A folder held open; names beneath it resolved without following links. */
export class HeldFolder {
  /** The path it was opened by. */
  readonly path: string;
  /** Its descriptor (-1 where the descriptor-relative calls are missing). */
  readonly fd: number;
  /** Its identity when opened. */
  readonly dev: string;
  readonly ino: bigint;
  readonly #at = atCalls();
  /** Descriptors of sub-folders in use, by relative path, oldest first. */
  #folders = new Map<string, number>();
  /** Folder descriptors lent out by {@link lendParent} and not yet given back, with how many times each. */
  readonly #lent = new Map<number, number>();
  /** Lent descriptors the cache let go of: closed when given back. */
  readonly #closeWhenBack = new Set<number>();

  private constructor(path: string, fd: number, stat: EntryStat) {
    this.path = path;
    this.fd = fd;
    this.dev = stat.dev;
    this.ino = stat.ino;
  }

  /**
   * Opens the folder at `path` (links in `path` itself are followed: the caller named it).
   * @throws ENOENT, ENOTDIR, EACCES… with the path.
   */
  static open(path: string): HeldFolder {
    if (!atCalls()) {
      const stats = statSync(fsPath(path));
      if (!stats.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, '${path}'`), { code: "ENOTDIR", path });
      return new HeldFolder(path, -1, entryStatOf(stats));
    }
    const fd = openSync(fsPath(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    try {
      return new HeldFolder(path, fd, entryStatOf(fstatSync(fd)));
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** True when this system resolves names by descriptor (no window for a swapped link). */
  get byDescriptor(): boolean {
    return this.fd >= 0;
  }

  /**
   * A new open file of this very folder (its `.`, read only, closed on exec), which the caller
   * closes: one that outlives this one's descriptor (a lock held on it).
   * @throws as openat fails (EMFILE…); ENOTSUP where names are not resolved by descriptor.
   */
  openAgain(): number {
    if (!this.#at || this.fd < 0) throw Object.assign(new Error(`ENOTSUP: a folder is not opened again by descriptor here, '${this.path}'`), { code: "ENOTSUP", path: this.path });
    const [dot] = this.#at.hold(cString("."));
    const fd = this.#at.openat(this.fd, dot, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) throw this.#explain(this.#at.errno(), "cannot open", "");
    return fd;
  }

  /** The absolute path of a relative one, for messages and for tools that take paths. */
  pathOf(relative: string): string {
    return relative === "" ? this.path : joinPath(this.path, relative);
  }

  /** True while the path it was opened by still leads to this folder. */
  stillAt(): boolean {
    try {
      const now = entryStatOf(statSync(fsPath(this.path)));
      return now.dev === this.dev && now.ino === this.ino;
    } catch {
      return false;
    }
  }

  /**
   * A descriptor of the folder `relative` (kept open for later calls; "" is the held folder).
   * @throws ELOOP when a component is a symbolic link, ENOTDIR when one is not a folder, EXDEV
   *   when the path leaves the folder.
   */
  folderFd(relative: string): number {
    if (relative === "" || relative === ".") return this.fd;
    const cached = this.#folders.get(relative);
    if (cached !== undefined) {
      // Most recently used last.
      this.#folders.delete(relative);
      this.#folders.set(relative, cached);
      return cached;
    }
    checkRelative(relative);
    // From the parent's descriptor when it is open: one component instead of the whole path.
    const slash = relative.lastIndexOf("/");
    const parentFd = slash < 0 ? this.fd : this.#folders.get(relative.slice(0, slash));
    const fd = parentFd !== undefined ? openFolderBeneath(parentFd, relative.slice(slash + 1)) : openFolderBeneath(this.fd, relative);
    if (fd < 0) throw this.#explainFolder(-fd, "cannot open folder", relative);
    this.#folders.set(relative, fd);
    if (this.#folders.size > folderCacheSize()) {
      const [oldest, oldFd] = this.#folders.entries().next().value as [string, number];
      this.#folders.delete(oldest);
      this.#closeFolder(oldFd);
    }
    return fd;
  }

  /** Forgets cached descriptors of `relative` and everything below it (after it was removed or renamed). */
  forget(relative: string): void {
    for (const [path, fd] of [...this.#folders]) {
      if (path === relative || path.startsWith(`${relative}/`)) {
        this.#folders.delete(path);
        this.#closeFolder(fd);
      }
    }
  }

  /** Closes a folder descriptor the cache lets go of, or once given back where it is lent. */
  #closeFolder(fd: number): void {
    if (this.#lent.has(fd)) this.#closeWhenBack.add(fd);
    else closeSync(fd);
  }

  /**
   * For a file made nameless and named on another thread (lib/io/write_threads.ts): the
   * descriptor of the folder `relative` goes in and its last name as the kernel takes it. The
   * descriptor stays open until {@link giveBack}, whatever the cache does meanwhile. Undefined
   * where files cannot be made nameless here (then {@link createNew} makes it).
   * @throws as {@link createNew} does for a path that cannot be used.
   */
  lendParent(relative: string): { dirfd: number; name: Uint8Array } | undefined {
    if (!this.#at || tmpfileWorks.get(this.dev) !== true) return undefined;
    const parent = this.#parent(relative);
    this.#lent.set(parent.dirfd, (this.#lent.get(parent.dirfd) ?? 0) + 1);
    return parent;
  }

  /** Gives back a descriptor {@link lendParent} lent. */
  giveBack(dirfd: number): void {
    const count = this.#lent.get(dirfd);
    if (count === undefined) return;
    if (count > 1) {
      this.#lent.set(dirfd, count - 1);
      return;
    }
    this.#lent.delete(dirfd);
    if (this.#closeWhenBack.delete(dirfd)) closeSync(dirfd);
  }

  /**
   * The error for a nameless file that could not be linked as `relative` into `dirfd` (its
   * folder's descriptor) with `errno`: what {@link placeNew} throws, and what a write thread's
   * failed link is told as.
   */
  placeError(relative: string, dirfd: number, errno: number): Error {
    if (errno !== EEXIST && statFd(dirfd).nlink === 0) return explainedError("ENOENT", "cannot put in place: its folder was removed during the run", this.pathOf(relative));
    return this.#explain(errno, "cannot put in place", relative);
  }

  #explain(errno: number, what: string, relative: string): Error {
    const path = this.pathOf(relative);
    if (errno === ELOOP) return explainedError("ELOOP", `${what}: it is a symbolic link (links inside a destination or source are never followed)`, path);
    if (errno === EXDEV) return explainedError("EXDEV", `${what}: the path leaves ${showName(this.path)}`, path);
    return failure(errno, what, path);
  }

  /**
   * The error for a folder path that could not be opened: a link or a file where a folder is
   * needed is named by the component that is in the way.
   */
  #explainFolder(errno: number, what: string, relative: string): Error {
    if (errno === ENOTDIR || errno === ELOOP) {
      const parts = relative.split("/").filter(Boolean);
      let dirfd = this.fd;
      const opened: number[] = [];
      try {
        for (let i = 0; i < parts.length; i++) {
          const prefix = parts.slice(0, i + 1).join("/");
          const [namePointer, buffer] = this.#at!.hold(cString(parts[i]!), statxBuffer);
          if (this.#at!.statx(dirfd, namePointer, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buffer) !== 0) break;
          const kind = entryStatOfStatx().kind;
          if (kind === "link") return explainedError("ELOOP", `a symbolic link is where a folder is needed: ${showName(this.pathOf(prefix))} (links inside a destination or source are never followed)`, this.pathOf(relative));
          if (kind !== "folder") return explainedError("ENOTDIR", `${kindInWords(kind)} is where a folder is needed: ${showName(this.pathOf(prefix))}`, this.pathOf(relative));
          const next = openFolderBeneath(dirfd, parts[i]!);
          if (next < 0) break;
          opened.push(next);
          dirfd = next;
        }
      } finally {
        for (const fd of opened) closeSync(fd);
      }
    }
    return this.#explain(errno, what, relative);
  }

  /** Splits a relative path into its folder's descriptor and its last name. */
  #parent(relative: string): { dirfd: number; name: Uint8Array } {
    checkRelative(relative);
    const name = baseOf(relative);
    if (name === "" || name === "." || name === "..") throw Object.assign(new Error(`not a file name: '${relative}'`), { code: "EINVAL", path: relative });
    return { dirfd: this.folderFd(relative.includes("/") ? parentOf(relative) : ""), name: cString(name) };
  }

  /**
   * The state of `relative` without following a link at its end or on its way (undefined when
   * nothing is there).
   */
  stat(relative: string): EntryStat | undefined {
    if (!this.#at) {
      this.#checkComponents(relative);
      try {
        return entryStatOf(lstatSync(fsPath(this.pathOf(relative))));
      } catch (error) {
        if ((error as { code?: string }).code === "ENOENT") return undefined;
        throw error;
      }
    }
    let dirfd: number;
    let name: Uint8Array;
    if (relative === "" || relative === ".") {
      dirfd = this.fd;
      name = cString("");
    } else {
      try {
        ({ dirfd, name } = this.#parent(relative));
      } catch (error) {
        if ((error as { code?: string }).code === "ENOENT") return undefined;
        throw error;
      }
    }
    const [namePointer, buffer] = this.#at.hold(name, statxBuffer);
    const flags = AT_SYMLINK_NOFOLLOW | (name.length === 1 ? AT_EMPTY_PATH : 0);
    if (this.#at.statx(dirfd, namePointer, flags, STATX_BASIC_STATS, buffer) !== 0) {
      const errno = this.#at.errno();
      if (errno === ENOENT) return undefined;
      throw this.#explain(errno, "cannot stat", relative);
    }
    return entryStatOfStatx();
  }

  /**
   * The state of an entry of the folder `folder` as {@link list} gave it: the same as
   * `stat(folder + "/" + entry.name)`, without resolving the folder again (a walk's fast path).
   */
  statEntry(folder: string, entry: FolderEntry): EntryStat | undefined {
    if (!this.#at || !entry.cName) return this.stat(folder === "" ? entry.name : `${folder}/${entry.name}`);
    const dirfd = this.folderFd(folder);
    const [namePointer, buffer] = this.#at.hold(entry.cName, statxBuffer);
    if (this.#at.statx(dirfd, namePointer, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buffer) !== 0) {
      const failure = this.#entryStatFailure(this.#at.errno(), folder, entry);
      if (failure) throw failure;
      return undefined;
    }
    return entryStatOfStatx();
  }

  /** Why an entry could not be stat'ed: undefined where it was removed since the listing. */
  #entryStatFailure(errno: number, folder: string, entry: FolderEntry): Error | undefined {
    return errno === ENOENT ? undefined : this.#explain(errno, "cannot stat", folder === "" ? entry.name : `${folder}/${entry.name}`);
  }

  /**
   * {@link statEntry} for each of `entries` (at most {@link STAT_BATCH}) in one native call:
   * each one's state, undefined where it was removed since the listing, or the error it cannot
   * be stat'ed with. Undefined where this cannot be done so (no descriptor-relative calls or
   * native code, an entry without its bytes, the folder gone): stat them one by one.
   */
  statEntries(folder: string, entries: readonly FolderEntry[]): Array<EntryStat | undefined | Error> | undefined {
    if (!this.#at || entries.length > STAT_BATCH) return undefined;
    const cNames: Uint8Array[] = [];
    for (const entry of entries) {
      if (!entry.cName) return undefined;
      cNames.push(entry.cName);
    }
    let dirfd: number;
    try {
      dirfd = this.folderFd(folder);
    } catch {
      return undefined;
    }
    const stats: Array<EntryStat | undefined | Error> = new Array(entries.length);
    const done = statNames(dirfd, cNames, (i, errno, view, offset) => {
      stats[i] = errno === 0 ? entryStatAt(view, offset) : this.#entryStatFailure(errno, folder, entries[i]!);
    });
    return done ? stats : undefined;
  }

  /** Where descriptor-relative calls are missing: each folder on the way must be a folder, not a link. */
  #checkComponents(relative: string): void {
    checkRelative(relative);
    const parts = relative.split("/").filter(Boolean);
    let path = this.path;
    for (const part of parts.slice(0, -1)) {
      path = joinPath(path, part);
      const stats = lstatSync(fsPath(path));
      if (stats.isSymbolicLink()) throw Object.assign(new Error(`a symbolic link is in the way (links inside a destination or source are never followed): '${path}'`), { code: "ELOOP", path });
      if (!stats.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, '${path}'`), { code: "ENOTDIR", path });
    }
  }

  /**
   * Opens the file `relative` for reading without following a link (a FIFO or device is opened
   * without blocking; the caller checks what it got with fstat).
   */
  openRead(relative: string): number {
    return openRetryingAgain(() => this.#open(relative, O_RDONLY | O_NONBLOCK, 0));
  }

  /**
   * Opens `relative` for reading, following links only while they stay beneath the held folder
   * (openat2 `RESOLVE_BENEATH`: an absolute target or one that climbs out fails with EXDEV).
   * Where that cannot be proven (no openat2), a link is not followed (ELOOP).
   */
  openReadInside(relative: string): number {
    return openRetryingAgain(() => this.#openReadInside(relative));
  }

  #openReadInside(relative: string): number {
    checkRelative(relative);
    // Most names hold no link at all: opened beneath their folder's descriptor without following
    // one, that is the same file openat2 would give. Anything else (a link on the way or at the
    // end, an error) takes the path below, which says what is wrong as it always has.
    const fd = this.#openNoLink(relative);
    if (fd >= 0) return fd;
    // An absolute link that names a place inside the folder (made with the folder's full path)
    // is followed as the relative path it stands for; any other absolute link leaves.
    for (let hop = 0; hop < 16; hop++) {
      try {
        return this.#openReadBeneath(relative);
      } catch (error) {
        if ((error as { code?: string }).code !== "EXDEV") throw error;
        const inside = this.#insideTarget(relative);
        if (inside === undefined) throw error;
        relative = inside;
      }
    }
    throw explainedError("ELOOP", "too many symbolic links on the way", this.pathOf(relative));
  }

  /** Where the link at `relative` points, relative to this folder, when it is an absolute path inside it. */
  #insideTarget(relative: string): string | undefined {
    let target: string;
    try {
      if (this.stat(relative)?.kind !== "link") return undefined;
      target = this.readLink(relative);
    } catch {
      return undefined;
    }
    if (!target.startsWith("/")) return undefined;
    let real: string;
    try {
      real = nameFromBytes(realpathSync(fsPath(this.path), { encoding: "buffer" }));
    } catch {
      return undefined;
    }
    const parts: string[] = [];
    for (const part of target.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") parts.pop();
      else parts.push(part);
    }
    const normal = `/${parts.join("/")}`;
    for (const base of new Set([real, this.path.replace(/\/+$/, "")])) {
      if (normal.startsWith(`${base}/`)) return normal.slice(base.length + 1);
    }
    return undefined;
  }

  #openReadBeneath(relative: string): number {
    if (this.#at && !noOpenat2) {
      const how = new BigUint64Array([BigInt(O_RDONLY | O_NONBLOCK | O_CLOEXEC), 0n, BigInt(RESOLVE_BENEATH)]);
      const [path, howPointer] = this.#at.hold(cString(relative), new Uint8Array(how.buffer));
      const fd = Number(this.#at.syscall4(SYS_OPENAT2, this.fd, path, howPointer, 24n));
      if (fd >= 0) return fd;
      const errno = this.#at.errno();
      if (errno !== ENOSYS) {
        if (errno === EXDEV) throw explainedError("EXDEV", `a symbolic link on the way leaves ${showName(this.path)}; not followed`, this.pathOf(relative));
        throw this.#explain(errno, "cannot open", relative);
      }
      noOpenat2 = true;
    }
    return this.#open(relative, O_RDONLY | O_NONBLOCK, 0);
  }

  /**
   * Opens `relative` for reading without following any link, or gives -1 (nothing thrown;
   * `EAGAIN`, a lease, thrown).
   */
  #openNoLink(relative: string): number {
    if (!this.#at) return -1;
    const slash = relative.lastIndexOf("/");
    const name = slash < 0 ? relative : relative.slice(slash + 1);
    if (name === "" || name === "." || name === "..") return -1;
    let dirfd: number;
    try {
      dirfd = this.folderFd(slash < 0 ? "" : relative.slice(0, slash));
    } catch {
      return -1;
    }
    const [namePointer] = this.#at.hold(cString(name));
    const fd = this.#at.openat(dirfd, namePointer, READ_NO_LINK, 0);
    if (fd < 0 && this.#at.errno() === EAGAIN) throw this.#explain(EAGAIN, "cannot open", relative);
    return fd;
  }

  /** Opens an existing file for writing, without following a link. */
  openWrite(relative: string): number {
    return this.#open(relative, O_WRONLY, 0);
  }

  #open(relative: string, flags: number, mode: number): number {
    if (!this.#at) {
      this.#checkComponents(relative);
      return openSync(fsPath(this.pathOf(relative)), flags | O_NOFOLLOW, mode);
    }
    const { dirfd, name } = this.#parent(relative);
    const [namePointer] = this.#at.hold(name);
    const fd = this.#at.openat(dirfd, namePointer, flags | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) throw this.#explain(this.#at.errno(), "cannot open", relative);
    return fd;
  }

  /**
   * Makes the folder `relative` and any missing folder above it (`mode`, less the umask). A
   * component that exists must be a real folder: a link or a file in the way is an error.
   */
  makeFolders(relative: string, mode = 0o777): void {
    if (relative === "" || relative === ".") return;
    checkRelative(relative);
    const parts = relative.split("/").filter(Boolean);
    // From the deepest folder already open: a tree thousands of folders deep costs one mkdirat
    // per folder, not one per ancestor of each.
    let from = parts.length;
    while (from > 0 && !this.#folders.has(parts.slice(0, from).join("/"))) from--;
    let done = parts.slice(0, from).join("/");
    for (const part of parts.slice(from)) {
      const next = done === "" ? part : `${done}/${part}`;
      if (!this.#folders.has(next)) {
        if (!this.#at) {
          this.#checkComponents(`${next}/x`);
          try {
            mkdirSync(fsPath(this.pathOf(next)), mode);
          } catch (error) {
            if ((error as { code?: string }).code !== "EEXIST") throw error;
          }
          const stats = lstatSync(fsPath(this.pathOf(next)));
          if (!stats.isDirectory()) throw Object.assign(new Error(`${stats.isSymbolicLink() ? "a symbolic link" : "a file"} is where a folder is needed`), { code: stats.isSymbolicLink() ? "ELOOP" : "ENOTDIR", path: this.pathOf(next) });
        } else {
          const dirfd = this.folderFd(done);
          const [namePointer] = this.#at.hold(cString(part));
          const made = this.#at.mkdirat(dirfd, namePointer, mode) === 0;
          if (!made) {
            const errno = this.#at.errno();
            if (errno !== EEXIST) throw this.#explain(errno, "cannot make folder", next);
          }
          try {
            this.folderFd(next);
          } catch (error) {
            throw made ? new MadeFolderLost(next, error) : error;
          }
        }
      }
      done = next;
    }
  }

  /**
   * A new, empty file that will become `relative` once complete: nameless where the file
   * system can (`O_TMPFILE`), else under a hidden partial name beside it, created exclusively.
   * Nothing is ever written under the final name before {@link placeNew}.
   */
  createNew(relative: string, mode: number): NewFile {
    const folder = relative.includes("/") ? parentOf(relative) : "";
    if (this.#at) {
      const dirfd = this.folderFd(folder);
      if (tmpfileWorks.get(this.dev) !== false) {
        const [dot] = this.#at.hold(cString("."));
        const fd = this.#at.openat(dirfd, dot, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
        if (fd >= 0) {
          tmpfileWorks.set(this.dev, true);
          return { fd, relative, partial: undefined };
        }
        const errno = this.#at.errno();
        if (errno !== EOPNOTSUPP && errno !== EINVAL && errno !== 21 /* EISDIR: no O_TMPFILE support */) {
          if (statFd(dirfd).nlink === 0) throw explainedError("ENOENT", "cannot create: its folder was removed during the run", this.pathOf(relative));
          throw this.#explain(errno, "cannot create", relative);
        }
        tmpfileWorks.set(this.dev, false);
      }
    }
    const partial = partialNameFor(relative);
    // biome-ignore lint/complexity/noCommaOperator: check the components, then open, as one expression
    const fd = this.#at ? this.#openCreate(partial, mode) : (this.#checkComponents(partial), openSync(fsPath(this.pathOf(partial)), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode));
    livePartials.add(this.pathOf(partial));
    return { fd, relative, partial };
  }

  #openCreate(relative: string, mode: number): number {
    const { dirfd, name } = this.#parent(relative);
    const [namePointer] = this.#at!.hold(name);
    const fd = this.#at!.openat(dirfd, namePointer, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
      const errno = this.#at!.errno();
      if (statFd(dirfd).nlink === 0) throw explainedError("ENOENT", "cannot create: its folder was removed during the run", this.pathOf(relative));
      throw this.#explain(errno, "cannot create", relative);
    }
    return fd;
  }

  /**
   * Puts a complete new file under its final name. Never replaces what is there unless
   * `replace` (then the entry at the final name is replaced as it is, a link included, never
   * written through).
   * @throws EEXIST when something is at the final name and `replace` is false.
   */
  placeNew(file: NewFile, replace: boolean): void {
    if (file.partial === undefined) {
      const at = this.#at!;
      const { dirfd, name } = this.#parent(file.relative);
      if (!replace) {
        if (linkOpenFile(at, file.fd, dirfd, name) !== 0) throw this.placeError(file.relative, dirfd, at.errno());
        return;
      }
      // Linked under a partial name first, then renamed over whatever is there.
      const partial = partialNameFor(file.relative);
      const { name: partialName } = this.#parent(partial);
      if (linkOpenFile(at, file.fd, dirfd, partialName) !== 0) throw this.#explain(at.errno(), "cannot put in place", file.relative);
      try {
        this.rename(partial, file.relative, true);
      } catch (error) {
        // Never left under the partial name: no file of this run stays behind it.
        try {
          this.remove(partial);
        } catch {
          // a dead device: its name is gone with it, or named by the stray check
        }
        throw error;
      }
      return;
    }
    this.rename(file.partial, file.relative, replace);
    livePartials.delete(this.pathOf(file.partial));
  }

  /** Removes what {@link createNew} made, if it has a name (a nameless file vanishes when closed). */
  discardNew(file: NewFile): void {
    if (file.partial === undefined) return;
    try {
      this.remove(file.partial);
    } finally {
      livePartials.delete(this.pathOf(file.partial));
    }
  }

  /**
   * Renames `from` to `to` (both relative), never replacing unless `replace`.
   * @throws EEXIST when `to` exists and `replace` is false.
   */
  rename(from: string, to: string, replace: boolean): void {
    if (!this.#at) {
      this.#checkComponents(from);
      this.#checkComponents(to);
      if (replace) renameSync(fsPath(this.pathOf(from)), fsPath(this.pathOf(to)));
      else renameNoReplace(this.pathOf(from), this.pathOf(to));
      return;
    }
    const a = this.#parent(from);
    const b = this.#parent(to);
    const [fromName, toName] = this.#at.hold(a.name, b.name);
    if (this.#at.renameat2(a.dirfd, fromName, b.dirfd, toName, replace ? 0 : RENAME_NOREPLACE) === 0) return;
    const errno = this.#at.errno();
    if ((errno === EINVAL || errno === ENOSYS) && !replace) {
      // A file system without RENAME_NOREPLACE: check, then rename (two steps).
      if (this.stat(to) !== undefined) throw failure(EEXIST, "already exists", this.pathOf(to));
      if (this.#at.renameat2(a.dirfd, fromName, b.dirfd, toName, 0) === 0) return;
    }
    throw this.#explain(this.#at.errno(), "cannot rename", to);
  }

  /** Removes a file or link (never what a link points to). */
  remove(relative: string): void {
    if (!this.#at) {
      this.#checkComponents(relative);
      unlinkSync(fsPath(this.pathOf(relative)));
      return;
    }
    const { dirfd, name } = this.#parent(relative);
    const [namePointer] = this.#at.hold(name);
    if (this.#at.unlinkat(dirfd, namePointer, 0) !== 0) throw this.#explain(this.#at.errno(), "cannot remove", relative);
  }

  /** Removes an empty folder. */
  removeFolder(relative: string): void {
    this.forget(relative);
    if (!this.#at) {
      this.#checkComponents(relative);
      rmdirSync(fsPath(this.pathOf(relative)));
      return;
    }
    const { dirfd, name } = this.#parent(relative);
    const [namePointer] = this.#at.hold(name);
    if (this.#at.unlinkat(dirfd, namePointer, AT_REMOVEDIR) !== 0) throw this.#explain(this.#at.errno(), "cannot remove folder", relative);
  }

  /** The target of the link `relative`, as a name (bytes kept). */
  readLink(relative: string): string {
    if (!this.#at) {
      this.#checkComponents(relative);
      return nameFromBytes(readlinkSync(fsPath(this.pathOf(relative)), { encoding: "buffer" }));
    }
    const { dirfd, name } = this.#parent(relative);
    const buffer = new Uint8Array(4096);
    const [namePointer, bufferPointer] = this.#at.hold(name, buffer);
    const n = Number(this.#at.readlinkat(dirfd, namePointer, bufferPointer, BigInt(buffer.length)));
    if (n < 0) throw this.#explain(this.#at.errno(), "cannot read link", relative);
    return nameFromBytes(buffer.subarray(0, n));
  }

  /** Makes a symbolic link `relative` → `target` (the target is stored as it is, never resolved). */
  makeLink(target: string, relative: string): void {
    if (!this.#at) {
      this.#checkComponents(relative);
      symlinkSync(fsPath(target), fsPath(this.pathOf(relative)));
      return;
    }
    const { dirfd, name } = this.#parent(relative);
    const [targetPointer, namePointer] = this.#at.hold(cString(target), name);
    if (this.#at.symlinkat(targetPointer, dirfd, namePointer) !== 0) throw this.#explain(this.#at.errno(), "cannot make link", relative);
  }

  /**
   * Gives the link `relative` itself (never what it points to) these times, to the nanosecond
   * (utimensat with AT_SYMLINK_NOFOLLOW).
   * @throws ENOTSUP where descriptor-relative calls are missing; as utimensat fails otherwise.
   */
  setLinkTimes(relative: string, atimeNs: bigint, mtimeNs: bigint): void {
    if (!this.#at) throw Object.assign(new Error("link times cannot be set here"), { code: "ENOTSUP" });
    const { dirfd, name } = this.#parent(relative);
    const [namePointer, times] = this.#at.hold(name, timespecs(atimeNs, mtimeNs));
    if (this.#at.utimensat(dirfd, namePointer, times, AT_SYMLINK_NOFOLLOW) !== 0) throw this.#explain(this.#at.errno(), "cannot set link times", relative);
  }

  /** Makes a hard link `relative` to the file open as `fd` ({@link linkOpenFile}). */
  linkFd(fd: number, relative: string): void {
    if (!this.#at) throw Object.assign(new Error("hard links by descriptor are not available here"), { code: "ENOTSUP" });
    const { dirfd, name } = this.#parent(relative);
    if (linkOpenFile(this.#at, fd, dirfd, name) !== 0) throw this.#explain(this.#at.errno(), "cannot link", relative);
  }

  /**
   * The entries of the folder `relative`, sorted in byte order, without `.` and `..`. Names are
   * read as bytes (lib/core/names.ts).
   */
  list(relative: string): FolderEntry[] {
    if (!this.#at) {
      this.#checkComponents(`${relative}/x`);
      const raw = readdirSync(fsPath(this.pathOf(relative)), { encoding: "buffer" }) as unknown as Buffer[];
      return raw.map((b) => ({ name: nameFromBytes(b), kind: undefined as EntryKind | undefined })).sort((x, y) => compareUtf8(x.name, y.name));
    }
    // A descriptor of its own: the held one's reading position must not move.
    let fd: number;
    try {
      fd = openFolderBeneath(this.folderFd(relative), ".");
    } catch (error) {
      throw Object.assign(error as Error, { message: `cannot list folder: ${(error as Error).message}` });
    }
    if (fd < 0) throw this.#explain(-fd, "cannot list folder", relative);
    try {
      return listDescriptor(fd, this.pathOf(relative));
    } finally {
      closeSync(fd);
    }
  }

  /** Closes every descriptor it holds. */
  close(): void {
    for (const fd of this.#folders.values()) this.#closeFolder(fd);
    this.#folders.clear();
    if (this.fd >= 0) closeSync(this.fd);
  }
}

/** Whether O_TMPFILE worked on a device (learned on first use; exFAT and FUSE have none). */
const tmpfileWorks = new Map<string, boolean>();

/** A file being written by {@link HeldFolder.createNew}. */
export interface NewFile {
  /** Open for writing. */
  fd: number;
  /** The final name it will get, relative to the held folder. */
  relative: string;
  /** The hidden partial name it has meanwhile, relative; undefined for a nameless file. */
  partial: string | undefined;
}

/** `.<name>.<8 hex>.partial` beside `relative`. */
export function partialNameFor(relative: string): string {
  const folder = relative.includes("/") ? `${parentOf(relative)}/` : "";
  return `${folder}.${baseOf(relative)}.${randomBytes(4).toString("hex")}.partial`;
}

/** Matches a partial name and gives the final name it was for. */
export function finalNameOfPartial(name: string): string | undefined {
  return /^\.(.+)\.[0-9a-f]{8}\.partial$/s.exec(name)?.[1];
}

/** Absolute paths of named partial files being written now, for a signal handler. */
const livePartials = new Set<string>();

/** Removes every named partial file still being written (Ctrl-C); returns how many. */
export function removeNewPartials(): number {
  let removed = 0;
  for (const path of livePartials) {
    try {
      unlinkSync(fsPath(path));
      removed++;
    } catch {
      // keep going: remove what can be removed
    }
  }
  livePartials.clear();
  return removed;
}

const dentsBuffer = new Uint8Array(64 << 10);

/** Every entry of an open folder (getdents64), sorted in byte order. */
function listDescriptor(fd: number, path: string): FolderEntry[] {
  const at = atCalls()!;
  const out: FolderEntry[] = [];
  const view = new DataView(dentsBuffer.buffer);
  for (;;) {
    const [bufferPointer] = at.hold(dentsBuffer);
    const n = Number(at.getdents64(fd, bufferPointer, BigInt(dentsBuffer.length)));
    if (n < 0) throw failure(at.errno(), "cannot list folder", path);
    if (n === 0) break;
    for (let offset = 0; offset < n; ) {
      const length = view.getUint16(offset + 16, true);
      const type = dentsBuffer[offset + 18]!;
      let end = offset + 19;
      while (dentsBuffer[end] !== 0) end++;
      const bytes = dentsBuffer.subarray(offset + 19, end);
      offset += length;
      if ((bytes.length === 1 && bytes[0] === 0x2e) || (bytes.length === 2 && bytes[0] === 0x2e && bytes[1] === 0x2e)) continue;
      out.push({ name: nameFromBytes(bytes), kind: DT_KINDS[type], cName: dentsBuffer.slice(offset - length + 19, end + 1) });
    }
  }
  // Byte order of the names as listed (NUL after each: a shorter name sorts before a longer one
  // it begins), compared as bytes: much faster than comparing the strings, same order.
  return out.sort((x, y) => Buffer.compare(x.cName!, y.cName!));
}

/**
 * The state of an open descriptor, exactly as {@link HeldFolder.stat} gives a name's (statx with
 * nanoseconds where available), so the two can be compared.
 */
export function statFd(fd: number): EntryStat {
  const at = atCalls();
  if (!at) return entryStatOf(fstatSync(fd));
  const [empty, buffer] = at.hold(new Uint8Array(1), statxBuffer);
  if (at.statx(fd, empty, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buffer) !== 0) throw failure(at.errno(), "cannot stat", `fd ${fd}`);
  return entryStatOfStatx();
}

/**
 * The bytes of the regular file at `path`, opened without following a link at its end and
 * without waiting (a FIFO planted there is never waited on): for a file found inside a tree,
 * which must be what it says.
 * @throws ELOOP for a link, EFTYPE for anything but a regular file, the system's error otherwise.
 * @example
 * readRegularFile("/Volumes/A001/ascmhl/ascmhl_chain.xml").toString("utf8");
 */
export function readRegularFile(path: string): Buffer {
  const fd = openRegularFile(path);
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens `path` for reading as {@link readRegularFile} does: never through a link, never waiting
 * on a FIFO, and only a regular file, looked at before it is opened (opening a device can act:
 * a tape rewinds when its rewinding node is closed) and again once open. The caller closes the
 * descriptor.
 * @throws an `ELOOP` error for a link, `EFTYPE` for what is not a regular file.
 */
export function openRegularFile(path: string): number {
  const before = lstatSync(fsPath(path));
  if (before.isSymbolicLink()) throw explainedError("ELOOP", "a symbolic link");
  if (!before.isFile()) throw explainedError("EFTYPE", "not a regular file");
  const fd = openSync(fsPath(path), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY);
  try {
    const now = fstatSync(fd);
    if (!now.isFile() || now.ino !== before.ino || now.dev !== before.dev) throw explainedError("EFTYPE", "not a regular file");
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}

/**
 * Opens `path` below `folder` without following a link (`inside`: following links only while
 * they stay inside, as {@link HeldFolder.openReadInside}), hands its descriptor to `use` and
 * closes it; undefined when it cannot be opened.
 * @example
 * import { fstatSync } from "node:fs";
 * declare const folder: HeldFolder;
 * withFileIn(folder, "CLIPS/A001.mov", (fd) => fstatSync(fd).size);
 */
export function withFileIn<T>(folder: HeldFolder, path: string, use: (fd: number) => T, options: { inside?: boolean } = {}): T | undefined {
  let fd: number;
  try {
    fd = options.inside ? folder.openReadInside(path) : folder.openRead(path);
  } catch {
    return undefined;
  }
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}
