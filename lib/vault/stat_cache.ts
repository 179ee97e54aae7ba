/**
 * The stat cache: what a source's files looked like when they were last committed, as git's
 * index keeps it. A file whose size, modification time, change time and inode are all what the
 * cache says is taken to hold the object the cache names, and is not read again: a second
 * commit of an unchanged tree reads no file data.
 *
 * A file changed within two seconds before the walk began is not cached as clean (the "racily
 * clean" case: a change in the same clock tick as the last one leaves its times as they were,
 * and FAT keeps modification times to 2 s). The cache belongs to this machine: it lives in the
 * vault's cache/ folder, one file per source folder, and is only ever trusted, never needed;
 * a cache that cannot be read is ignored and rebuilt.
 */
import { closeSync } from "node:fs";
import { writeAll } from "../io/atomic_file.ts";
import type { EntryStat } from "../io/held_folder.ts";
import { escapeField, isId, unescapeField } from "./layout.ts";
import { readLines } from "./lines.ts";
import type { Vault } from "./store.ts";

const MAGIC = "cartvault stat-cache 1";

/** A file as it was when committed, and the object that holds its bytes. */
export interface CachedStat {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  id: string;
}

/** A source's cache. */
export interface StatCache {
  /**
   * The commit whose files the cache describes: while the vault holds that commit, every
   * object the cache names is in the vault. Undefined when the cache describes files of no
   * commit that landed (their objects must be looked for).
   */
  commit: string | undefined;
  /** By path relative to the source, as walked (not normalized). */
  entries: Map<string, CachedStat>;
}

/** How much older than the walk a change must be for the cache to trust it later. */
export const RACY_NS = 2_000_000_000n;

/** The cache file of a source folder (by its absolute path and device). */
function cacheFile(source: string, dev: string): string {
  return `cache/${Bun.hash(`${dev}\0${source}`).toString(16).padStart(16, "0")}`;
}

const latin1 = new TextDecoder("latin1");

/** The cache of a source folder, or an empty one when there is none or it cannot be read. */
export function loadStatCache(vault: Vault, source: string, dev: string): StatCache {
  const empty: StatCache = { commit: undefined, entries: new Map() };
  let fd: number;
  try {
    fd = vault.held.openRead(cacheFile(source, dev));
  } catch {
    return empty;
  }
  try {
    const entries = new Map<string, CachedStat>();
    let commit: string | undefined;
    const header: string[] = [];
    for (const line of readLines(fd, () => {}, 64 << 10)) {
      if (line.tooLong || line.last) return empty;
      if (header.length < 4) {
        const isSource = line.number === 2 && latin1.decode(line.bytes.subarray(0, 7)) === "source ";
        header.push(isSource ? unescapeField(line.bytes.subarray(7)) ?? "" : latin1.decode(line.bytes));
        if (header.length === 4) {
          if (header[0] !== MAGIC || header[1] !== source || header[2] !== `dev ${dev}` || !/^commit ([0-9a-f]{64}|-)$/.test(header[3]!)) return empty;
          commit = header[3] === "commit -" ? undefined : header[3]!.slice(7);
        }
        continue;
      }
      const b = line.bytes;
      const fields: number[] = [];
      for (let i = 0; i < b.length && fields.length < 5; i++) if (b[i] === 0x20) fields.push(i);
      if (fields.length < 5) return empty;
      const [s1, s2, s3, s4, s5] = fields as [number, number, number, number, number];
      const id = latin1.decode(b.subarray(s4 + 1, s5));
      const path = unescapeField(b.subarray(s5 + 1));
      if (!isId(id) || path === undefined) return empty;
      try {
        entries.set(path, {
          mtimeNs: BigInt(latin1.decode(b.subarray(0, s1))),
          ctimeNs: BigInt(latin1.decode(b.subarray(s1 + 1, s2))),
          size: Number(latin1.decode(b.subarray(s2 + 1, s3))),
          ino: BigInt(latin1.decode(b.subarray(s3 + 1, s4))),
          id,
        });
      } catch {
        return empty;
      }
    }
    return header.length === 4 ? { commit, entries } : empty;
  } finally {
    closeSync(fd);
  }
}

/** True when a file's state now is exactly what the cache says. */
export function stillAsCached(cached: CachedStat, now: EntryStat): boolean {
  return cached.size === now.size && cached.mtimeNs === now.mtimeNs && cached.ctimeNs === now.ctimeNs && cached.ino === now.ino;
}

/**
 * Replaces a source's cache. Entries changed within {@link RACY_NS} of `walkStartNs` are left
 * out (they are read again next time).
 */
export function saveStatCache(vault: Vault, source: string, dev: string, cache: StatCache, walkStartNs: bigint): void {
  const chunks: Uint8Array[] = [];
  const encoder = new TextEncoder();
  let text = `${MAGIC}\nsource `;
  chunks.push(encoder.encode(text));
  chunks.push(escapeField(source));
  text = `\ndev ${dev}\ncommit ${cache.commit ?? "-"}\n`;
  const limit = walkStartNs - RACY_NS;
  for (const [path, e] of cache.entries) {
    if (e.mtimeNs >= limit || e.ctimeNs >= limit) continue;
    const head = `${e.mtimeNs} ${e.ctimeNs} ${e.size} ${e.ino} ${e.id} `;
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
  const file = vault.held.createNew(cacheFile(source, dev), 0o644);
  try {
    writeAll(file.fd, Buffer.concat(chunks), 0);
    vault.held.placeNew(file, true);
  } catch (error) {
    vault.held.discardNew(file);
    throw error;
  } finally {
    closeSync(file.fd);
  }
}
