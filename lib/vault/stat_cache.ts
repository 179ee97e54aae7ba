/**
 * The stat cache: what a source's files looked like when they were last committed, as git's
 * index keeps it. A file whose size, modification time, change time and inode are all what the
 * cache says is taken to hold the object the cache names, and is not read again: a second
 * commit of an unchanged tree reads no file data.
 *
 * A file changed within two seconds before the walk began is not cached as clean (the "racily
 * clean" case: a change in the same clock tick as the last one leaves its times as they were,
 * and FAT keeps modification times to 2 s). The cache belongs to this machine: it lives in the
 * vault's cache/ folder, one file per source folder, and is never needed: a cache that cannot
 * be read is ignored and rebuilt. Nor is it believed over the branch: a commit takes a file
 * as unchanged only if the branch's commit holds the object the cache names at that path.
 *
 * The change time is what catches a file rewritten in place with its modification time put
 * back (`touch -d`), so the cache is used only on file systems known to keep a real one, by
 * their type (statfs `f_type`): ext2/3/4, XFS, Btrfs, tmpfs, ZFS, F2FS, bcachefs. Elsewhere
 * (exFAT and FAT have none, exfat-fuse reports the modification time as the change time, a
 * network or FUSE file system reports what its server says) every file is read.
 *
 * A cache file ends with an HMAC-SHA256 of all its bytes, keyed by a secret of the vault
 * (`cache/key`: 32 random bytes, made on first use, mode 0600, owned by the user cartvault runs
 * as; a key that is not so is not used, and then no cache is). A line planted in a cache (a
 * file's current state with an old object) by someone who can write the vault's cache/ but
 * cannot read the key, or a cache brought from another vault, is not believed: the whole file
 * is ignored. Whoever can read the key can also write objects and commits: the cache is no
 * weaker than the vault then.
 */
import { closeSync, readSync } from "node:fs";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { writeAll } from "../io/atomic_file.ts";
import { fileSystemType } from "../io/libc.ts";
import { statFd, type EntryStat } from "../io/held_folder.ts";
import { escapeField, isId, unescapeField } from "./layout.ts";
import { readLines } from "./lines.ts";
import type { Vault } from "./store.ts";

const MAGIC = "cartvault stat-cache 2";
const KEY_FILE = "cache/key";
const KEY_BYTES = 32;

/** A file as it was when committed, and the object that holds its bytes. */
export interface CachedStat {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  id: string;
}

/** A file as the cache has it: its state in one comparable text, and its object. */
export interface CachedLine {
  /** `<mtime ns> <ctime ns> <size> <inode>`, as {@link stateKey} makes it. */
  state: string;
  id: string;
  size: number;
}

/** A source's cache. */
export interface StatCache {
  /** The commit whose files the cache describes (undefined: none that landed on its branch). */
  commit: string | undefined;
  /** By path relative to the source, as walked (not normalized). */
  entries: Map<string, CachedLine>;
}

/** File systems whose change time the cache trusts, by statfs type. */
const KEEPS_CHANGE_TIME = new Map<number, string>([
  [0xef53, "ext4"],
  [0x58465342, "XFS"],
  [0x9123683e, "Btrfs"],
  [0x01021994, "tmpfs"],
  [0x2fc12fc1, "ZFS"],
  [0xf2f52010, "F2FS"],
  [0xca451a4e, "bcachefs"],
]);

/** File systems named in the note that says the cache is not used there. */
const OTHERS = new Map<number, string>([
  [0x65735546, "a FUSE file system (exfat-fuse, ntfs-3g…)"],
  [0x2011bab0, "exFAT"],
  [0x4d44, "FAT"],
  [0x5346544e, "NTFS"],
  [0x7366746e, "NTFS"],
  [0x482b, "HFS+"],
  [0x6969, "NFS"],
  [0xfe534d42, "SMB"],
  [0xff534d42, "SMB"],
  [0x794c7630, "overlayfs"],
  [0x01021997, "9p"],
]);

/** The file systems the cache is used on, for notes and help. */
export const TRUSTED_FILE_SYSTEMS = [...new Set(KEEPS_CHANGE_TIME.values())].join(", ");

/**
 * Whether the stat cache may be used for files on the file system of the open folder `fd`:
 * `trusted`, or the name of the file system it is not used on.
 */
export function changeTimeTrust(fd: number): { trusted: true } | { trusted: false; fileSystem: string } {
  const type = fd >= 0 ? fileSystemType(fd) : undefined;
  if (type !== undefined && KEEPS_CHANGE_TIME.has(type)) return { trusted: true };
  return { trusted: false, fileSystem: type === undefined ? "a file system whose type cannot be asked" : (OTHERS.get(type) ?? `a file system of type 0x${type.toString(16)}`) };
}

/** A file's state as the cache compares it. */
export function stateKey(stat: { size: number; mtimeNs: bigint; ctimeNs: bigint; ino: bigint }): string {
  return `${stat.mtimeNs} ${stat.ctimeNs} ${stat.size} ${stat.ino}`;
}

/** How much older than the walk a change must be for the cache to trust it later. */
export const RACY_NS = 2_000_000_000n;

/** The cache file of a source folder (by its absolute path and device). */
function cacheFile(source: string, dev: string): string {
  return `cache/${Bun.hash(`${dev}\0${source}`).toString(16).padStart(16, "0")}`;
}

const latin1 = new TextDecoder("latin1");
/** A path read as it is: ASCII without a backslash (nothing escaped in it). */
const ASCII_PLAIN = /^[\x01-\x5b\x5d-\x7f]*$/;

/**
 * The vault's cache key: 32 bytes from `cache/key`, made when missing and `make`. Undefined
 * when there is none, or the file is not a plain file of this user that only this user may
 * read (then the cache is neither believed nor written).
 */
function cacheKey(vault: Vault, make: boolean): Uint8Array | undefined {
  const read = (): Uint8Array | undefined => {
    let fd: number;
    try {
      fd = vault.held.openRead(KEY_FILE);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return undefined;
      throw error;
    }
    try {
      const stat = statFd(fd);
      const euid = process.geteuid?.();
      if (stat.kind !== "file" || stat.size !== KEY_BYTES || (stat.mode & 0o077) !== 0 || stat.nlink !== 1 || (euid !== undefined && stat.uid !== euid)) return undefined;
      const key = new Uint8Array(KEY_BYTES);
      return readSync(fd, key, 0, KEY_BYTES, 0) === KEY_BYTES ? key : undefined;
    } finally {
      closeSync(fd);
    }
  };
  try {
    const found = read();
    if (found || !make || vault.held.stat(KEY_FILE)) return found;
    const file = vault.held.createNew(KEY_FILE, 0o600);
    try {
      writeAll(file.fd, randomBytes(KEY_BYTES), 0);
      vault.held.placeNew(file, false);
    } catch (error) {
      vault.held.discardNew(file);
      if ((error as { code?: string }).code !== "EEXIST") throw error;
    } finally {
      closeSync(file.fd);
    }
    return read();
  } catch {
    return undefined;
  }
}

/** The last line of a cache file: `mac <hex>` of every byte before it. */
const MAC_PREFIX = "mac ";

/** The cache of a source folder, or an empty one when there is none or it cannot be read. */
export function loadStatCache(vault: Vault, source: string, dev: string): StatCache {
  const empty: StatCache = { commit: undefined, entries: new Map() };
  const key = cacheKey(vault, false);
  if (!key) return empty;
  let fd: number;
  try {
    fd = vault.held.openRead(cacheFile(source, dev));
  } catch {
    return empty;
  }
  try {
    const entries = new Map<string, CachedLine>();
    let commit: string | undefined;
    const header: string[] = [];
    const mac = createHmac("sha256", key);
    const newline = new Uint8Array([0x0a]);
    let sealed = false;
    for (const line of readLines(fd, () => {}, 64 << 10)) {
      if (line.tooLong || line.last || sealed) return empty;
      if (header.length === 4 && line.bytes[0] === 0x6d && latin1.decode(line.bytes.subarray(0, 4)) === MAC_PREFIX) {
        const given = Buffer.from(latin1.decode(line.bytes.subarray(4)), "hex");
        const digest = mac.digest();
        if (given.length !== digest.length || !timingSafeEqual(given, digest)) return empty;
        sealed = true;
        continue;
      }
      mac.update(line.bytes);
      mac.update(newline);
      if (header.length < 4) {
        const isSource = line.number === 2 && latin1.decode(line.bytes.subarray(0, 7)) === "source ";
        header.push(isSource ? (unescapeField(line.bytes.subarray(7)) ?? "") : latin1.decode(line.bytes));
        if (header.length === 4) {
          if (header[0] !== MAGIC || header[1] !== source || header[2] !== `dev ${dev}` || !/^commit ([0-9a-f]{64}|-)$/.test(header[3]!)) return empty;
          commit = header[3] === "commit -" ? undefined : header[3]!.slice(7);
        }
        continue;
      }
      // `<mtime> <ctime> <size> <inode> <id> <path>`: the first four are compared as text, so
      // a line is only cut, not parsed (a line that is not in this form never matches a file).
      const text = latin1.decode(line.bytes);
      let at = -1;
      for (let k = 0; k < 4 && (at = text.indexOf(" ", at + 1)) >= 0; k++);
      if (at < 0 || text.charCodeAt(at + 65) !== 0x20) return empty;
      const id = text.slice(at + 1, at + 65);
      const rawPath = text.slice(at + 66);
      const path = ASCII_PLAIN.test(rawPath) ? rawPath : unescapeField(line.bytes.subarray(at + 66));
      const state = text.slice(0, at);
      const size = Number(state.split(" ", 3)[2]);
      if (!isId(id) || path === undefined || !Number.isSafeInteger(size)) return empty;
      entries.set(path, { state, id, size });
    }
    return header.length === 4 && sealed ? { commit, entries } : empty;
  } finally {
    closeSync(fd);
  }
}

/** True when a file's state now is exactly what the cache says. */
export function stillAsCached(cached: CachedLine, now: EntryStat): boolean {
  return cached.state === stateKey(now);
}

/**
 * Replaces a source's cache (sealed with the vault's key; not written when there is no usable
 * key). Entries changed within {@link RACY_NS} of `walkStartNs` are left
 * out (they are read again next time).
 */
export function saveStatCache(vault: Vault, source: string, dev: string, cache: { commit: string | undefined; entries: Map<string, CachedStat> }, walkStartNs: bigint): void {
  const chunks: Uint8Array[] = [];
  const encoder = new TextEncoder();
  let text = `${MAGIC}\nsource `;
  chunks.push(encoder.encode(text));
  chunks.push(escapeField(source));
  text = `\ndev ${dev}\ncommit ${cache.commit ?? "-"}\n`;
  const limit = walkStartNs - RACY_NS;
  for (const [path, e] of cache.entries) {
    if (e.mtimeNs >= limit || e.ctimeNs >= limit) continue;
    const head = `${stateKey(e)} ${e.id} `;
    if (path.isWellFormed() && !/[\\\n\r]/.test(path)) {
      text += `${head}${path}\n`;
    } else {
      chunks.push(encoder.encode(text + head), escapeField(path), encoder.encode("\n"));
      text = "";
    }
    if (text.length > 1 << 16) {
      chunks.push(encoder.encode(text));
      text = "";
    }
  }
  chunks.push(encoder.encode(text));
  const key = cacheKey(vault, true);
  if (!key) return;
  const bytes = Buffer.concat(chunks);
  const sealed = Buffer.concat([bytes, encoder.encode(`${MAC_PREFIX}${createHmac("sha256", key).update(bytes).digest("hex")}\n`)]);
  const file = vault.held.createNew(cacheFile(source, dev), 0o644);
  try {
    writeAll(file.fd, sealed, 0);
    vault.held.placeNew(file, true);
  } catch (error) {
    vault.held.discardNew(file);
    throw error;
  } finally {
    closeSync(file.fd);
  }
}
