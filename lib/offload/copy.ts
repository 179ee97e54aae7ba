/**
 * The copy engine: read the source once, hash it in flight, write every chunk to all
 * destinations at once, flush, put each copy in place, then prove each destination by reading
 * it back from the device. A failing destination is dropped and the others finish: whatever
 * one destination does (fills up, disappears, turns read-only, has a link planted in it), it
 * never costs another destination its file. A source that changes while it is read fails
 * loudly on every destination.
 *
 * Both sides are reached through held folders (lib/io/held_folder.ts): the source file is
 * opened beneath its folder without following a link out of it, and every destination name is
 * created, checked and read back beneath its destination without following any link. A new
 * copy has no name until it is complete and flushed (or a hidden partial name where the file
 * system cannot make nameless files), and it is never put over an existing entry unless asked.
 */
import { closeSync, fchmod, fchmodSync, fchown, fchownSync, fsync, ftruncateSync, write } from "node:fs";
import { describeSystemError, errnoError, strerrorOf } from "../core/errors.ts";
import type { Algorithm } from "../hash/algorithms.ts";
import { hashFd } from "../hash/file.ts";
import { HashPool } from "../hash/pool.ts";
import type { HasherOptions } from "../hash/options.ts";
import { createHashers } from "../hash/registry.ts";
import { createZeroRunHashers } from "../hash/zero_runs.ts";
import { inodesAreStable } from "../io/fat.ts";
import { Fanout, type FanoutFailure, type FanoutOptions } from "../io/fanout.ts";
import { writeAll } from "../io/atomic_file.ts";
import { fillChunk } from "../io/fill.ts";
import { devNumber, kindInWords, stateKeyOf, statFd, type EntryStat, type HeldFolder, type NewFile } from "../io/held_folder.ts";
import { dataRanges, evictFromCache, evictionIsFileWide, readAhead, setFileTimes, startWriteback, timespecs } from "../io/libc.ts";
import type { WriteThread, WriteThreads } from "../io/write_threads.ts";
import { readChunks } from "../io/reader.ts";
import { digested, hashHole, hashWithHoles, isSparse, RangeDigest, readBackSparse, summarizeMap, type SparseSource } from "./sparse.ts";

/** Bytes per read and write when copying (BENCHMARKS.md, "chunk size"). */
export const COPY_CHUNK_SIZE = 256 << 10;

/** Bytes per read when reading a copy back from the device (BENCHMARKS.md, "read-back chunk"). */
export const VERIFY_CHUNK_SIZE = 1 << 20;

/**
 * Files at least this large are written by one thread per destination (lib/io/fanout.ts);
 * smaller ones, often many in flight at once in tree mode, through the thread pool.
 */
export const FANOUT_MIN_BYTES = 16 << 20;

/** How destinations are checked after the copy. */
export type VerifyMode = "dest" | "source+dest" | "size" | "none";
export const VERIFY_MODES: readonly VerifyMode[] = ["dest", "source+dest", "size", "none"];

/** Where a copy's source is: a file beneath a held folder. */
export interface SourceRef {
  folder: HeldFolder;
  /** Path beneath the folder. */
  relative: string;
  /** Reached through a link inside the folder: links are followed while they stay beneath it. */
  throughLink?: boolean;
}

/** One destination of a copy: a final name beneath a held destination folder. */
export interface CopyTarget {
  folder: HeldFolder;
  /** The final name, beneath the folder; its folder must exist. */
  relative: string;
  /**
   * fsync before the copy is put in place.
   * @default true
   */
  flush?: boolean;
  /**
   * Nothing was at the final name when the caller looked (a tree offload walks each
   * destination once): the copy does not look again. Whatever appears meanwhile is still never
   * replaced: putting the copy in place fails.
   */
  absent?: boolean;
}

/** What is kept of the source's owner and mode bits. */
export interface ModePolicy {
  /** The umask applied to the source's permission bits (process.umask() by default). */
  umask: number;
  /** Give the copy the source's owner and group (as root). @default false */
  keepOwner?: boolean;
  /** Keep setuid, setgid and sticky bits; only together with {@link keepOwner}. @default false */
  keepSpecialBits?: boolean;
}

/** Options for {@link copyFile}. */
export interface CopyFileOptions {
  /** Algorithms computed over the source in flight (and over each destination when verifying). */
  algorithms: Algorithm[];
  hasher?: HasherOptions;
  /** Bytes per read and write, and per read when reading back. @default 262144 ({@link COPY_CHUNK_SIZE}); reading back 1048576 ({@link VERIFY_CHUNK_SIZE}) */
  chunkSize?: number;
  /** @default "dest" */
  verify?: VerifyMode;
  /** Replace existing destination entries. @default false */
  overwrite?: boolean;
  /** Refuse the source unless it has exactly this size (`-f_size`). */
  expectedSize?: number;
  /** Bytes per second, at most. */
  rateLimit?: number;
  /** Called after each chunk with the bytes copied so far. */
  onProgress?: (copied: number, total: number) => void;
  /**
   * Makes a written destination durable instead of its own fsync (a caller that flushes many
   * files at once, see lib/io/flush_barrier.ts). Called with the destination folder and the
   * file's own fsync, for where a group flush is unavailable.
   */
  flushVia?: (folder: HeldFolder, fsyncOwn: () => Promise<void>) => Promise<void>;
  /** The writer threads of large copies (tests). */
  fanout?: Pick<FanoutOptions, "workerScript">;
  /** Called once every byte is written, before the flush: the copy no longer needs the source. */
  onWritten?: () => void;
  /** Owner and mode bits. @default { umask: process.umask() } */
  modes?: ModePolicy;
  /**
   * Explains an entry that appeared under the final name while the copy was written (e.g. two
   * source names that are one name on a destination that ignores case); a generic reason
   * otherwise.
   */
  explainAppeared?: (target: CopyTarget) => string | undefined;
  /**
   * Threads that write small copies to each destination (lib/io/write_threads.ts), for a
   * caller that copies many files; without them every copy is written on this thread.
   */
  writeThreads?: WriteThreads;
}

/** What became of one destination. */
export type DestinationStatus =
  /** Read back from the device and identical to the source. */
  | "verified"
  /** Written; its size checked (`--verify size`). */
  | "size-checked"
  /** Written, not checked (`--verify none`). */
  | "copied"
  /** An identical file (same size and digests, read back) was already there; not written again. */
  | "present"
  /**
   * A card's ASC MHL chain file where the destination's own chain continues it (lib/offload/history_copy.ts):
   * not written again; the destination's generation, written after the copies, extends it.
   */
  | "continued"
  /** Read back and different from the source. */
  | "mismatch"
  /** Not written, or written and lost; `reason` says why. */
  | "failed";

/** Destination outcomes that count as success. */
export const GOOD_STATUSES: ReadonlySet<DestinationStatus> = new Set<DestinationStatus>(["verified", "present", "continued", "size-checked", "copied"]);

/**
 * Why a destination failed, for the caller's advice: `exists` (something is at the final name
 * and replacing was not asked), `source-itself` (the final name is the source's own file),
 * `destination` (the whole destination could not be used: said once for all its files).
 */
export type FailureKind = "exists" | "source-itself" | "destination" | "other";

/**
 * The identity and state of a copy when it was read back (device, inode, size, modification and
 * change times in nanoseconds), so that a later change is told apart. One string, compared whole:
 * an offload holds one per file and destination until its records are written, and a string of
 * the five is a quarter of the size of an object holding three bigints.
 */
export type ReadBackState = string;

/** The {@link ReadBackState} of a file as it is now. */
export function readBackStateOf(stat: Pick<EntryStat, "dev" | "ino" | "size" | "mtimeNs" | "ctimeNs">): ReadBackState {
  return stateKeyOf(stat);
}

/** One destination's result. */
export interface DestinationOutcome {
  /** The final path, for messages. */
  path: string;
  status: DestinationStatus;
  reason?: string;
  kind?: FailureKind;
  /** Digests read back (verify dest). */
  hexes?: Map<Algorithm, string>;
  /** False when the page cache could not be dropped before reading back. */
  coldRead?: boolean;
  /** The file as it was when read back (verified and present copies). */
  readBack?: ReadBackState;
}

/** The result of one copy. */
export interface CopyOutcome {
  /** The source, for messages. */
  source: string;
  size: number;
  /** Source digests computed in flight (empty when the source failed). */
  hexes: Map<Algorithm, string>;
  destinations: DestinationOutcome[];
  /** Seconds spent reading, hashing and writing (without verification). */
  copySeconds: number;
  /** Why the source failed, when it did (every destination then failed too). */
  sourceError?: string;
  /** The source's state when it was read. */
  sourceStat?: EntryStat;
}

interface Live {
  target: CopyTarget;
  file: NewFile;
  outcome: DestinationOutcome;
  /** Made, written and named by a write thread: its folder and name, and the new file's identity. */
  nameless?: Nameless & { ino: bigint; dev: string };
}

/** A destination whose copy a write thread makes: the folder descriptor lent for it, and the name it gets there. */
interface Nameless {
  target: CopyTarget;
  outcome: DestinationOutcome;
  thread: WriteThread;
  dirfd: number;
  name: Uint8Array;
}

function writeAt(fd: number, data: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number) =>
      write(fd, data, offset, data.length - offset, position + offset, (error, written) => {
        if (error) reject(error);
        else if (offset + written < data.length) step(offset + written);
        else resolve();
      });
    step(0);
  });
}

/** Files from this size start their writeback as soon as they are written, before their group's flush (BENCHMARKS.md, many small files). */
const WRITEBACK_FROM_BYTES = 512 << 10;

function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
}

function call(run: (done: (error: NodeJS.ErrnoException | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => run((error) => (error ? reject(error) : resolve())));
}

/** The permission bits a copy gets: the source's, less the umask, never setuid/setgid/sticky unless kept with the owner. */
export function copyMode(sourceMode: number, policy: ModePolicy): number {
  const special = policy.keepOwner && policy.keepSpecialBits ? sourceMode & 0o7000 : 0;
  return special | (sourceMode & 0o777 & ~policy.umask);
}

/**
 * Source times, mode and (when asked) owner onto a written copy, off this thread: on a
 * journaled file system these wait for the journal while a flush commits it, and copies in
 * flight must not wait too. The owner goes first: chown clears setuid and setgid. The times
 * are set here, to the nanosecond (node's futimes takes them as a float of seconds, which
 * moves them by up to a microsecond and can carry .9999999 into the next second).
 */
async function copyMetadata(fd: number, from: EntryStat, policy: ModePolicy): Promise<void> {
  if (policy.keepOwner) await call((done) => fchown(fd, from.uid, from.gid, done));
  tolerating(() => setFileTimes(fd, from.atimeNs, from.mtimeNs));
  await call((done) => fchmod(fd, copyMode(from.mode, policy), done)).catch(unlessUnsupported);
}

/**
 * A file system that keeps no times or permission bits (FAT through fusefat answers ENOSYS,
 * others EOPNOTSUPP) leaves the copy with what it gives every file, as `cp` does: the bytes are
 * what is copied and verified. Any other error stands.
 */
export function isUnsupported(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === "ENOSYS" || code === "EOPNOTSUPP" || code === "ENOTSUP";
}

function unlessUnsupported(error: NodeJS.ErrnoException): void {
  if (!isUnsupported(error)) throw error;
}

function tolerating(run: () => void): void {
  try {
    run();
  } catch (error) {
    unlessUnsupported(error as NodeJS.ErrnoException);
  }
}

/** {@link copyMetadata} on this thread, for small files in a run of many. */
function copyMetadataHere(fd: number, from: EntryStat, policy: ModePolicy): void {
  if (policy.keepOwner) fchownSync(fd, from.uid, from.gid);
  tolerating(() => setFileTimes(fd, from.atimeNs, from.mtimeNs));
  tolerating(() => fchmodSync(fd, copyMode(from.mode, policy)));
}

function sameHexes(a: Map<Algorithm, string>, b: Map<Algorithm, string>): boolean {
  for (const [algorithm, hex] of a) if (b.get(algorithm) !== hex) return false;
  return true;
}

/**
 * Drops a file's cached pages; false when they could not be dropped. Dirty pages cannot be
 * dropped, so the file is flushed first, unless the caller knows it is clean (it was flushed
 * since it was written).
 */
async function dropFromCache(fd: number, clean = false): Promise<boolean> {
  if (!clean) {
    try {
      await fsyncAsync(fd);
    } catch {
      // read-only media cannot be flushed, and have nothing dirty to flush
    }
  }
  return evictFromCache(fd);
}

/**
 * What the caller knows of a copy it reads back: flushed since written, its state when opened,
 * its size, whether it has holes, and the source with holes it was copied from (then the
 * source's data ranges are read back and compared, its holes not hashed again: lib/offload/sparse.ts).
 */
export interface KnownCopy {
  clean: boolean;
  state: ReadBackState;
  size: number;
  sparse?: boolean;
  sparseSource?: SparseSource;
}

/** A copy read back from the device: its digests, its size, whether the read was cold, its state then. */
export interface ReadBack {
  hexes: Map<Algorithm, string>;
  size: number;
  cold: boolean;
  state: ReadBackState;
}

/**
 * Reads an open file back from the device: flushes it (dirty pages cannot be dropped), drops
 * its cached pages, hashes it, and drops them again. The descriptor stays open.
 */
export async function hashFromDevice(fd: number, algorithms: Algorithm[], hasher: HasherOptions = {}, chunkSize?: number, known?: KnownCopy): Promise<ReadBack> {
  return hashDropped(fd, await dropFromCache(fd, known?.clean), algorithms, hasher, chunkSize, known);
}

/** {@link hashFromDevice} of a file whose pages were dropped already (`cold`: whether they could be). */
async function hashDropped(fd: number, cold: boolean, algorithms: Algorithm[], hasher: HasherOptions, chunkSize: number | undefined, known?: KnownCopy): Promise<ReadBack> {
  // A small file is read here in one piece: no reader thread, no second stat. A copy of a file
  // with holes is compared with it range by range; any other file with holes reads its data and
  // hashes its holes as zeros.
  const { hexes, size } = known?.sparseSource
    ? await readBackSparse(fd, known.size, known.sparseSource, algorithms, hasher, chunkSize ?? VERIFY_CHUNK_SIZE)
    : known?.sparse
      ? await hashWithHoles(fd, known.size, algorithms, hasher, chunkSize ?? VERIFY_CHUNK_SIZE)
      : known && known.size <= SMALL_FILE_BYTES
        ? await hashSmall(fd, known.size, algorithms, hasher)
        : await hashFd(fd, algorithms, { ...hasher, chunkSize });
  evictFromCache(fd);
  // Reading changes neither size nor times: the state before the read is the state read.
  return { hexes, size, cold, state: known?.state ?? readBackStateOf(statFd(fd)) };
}

/**
 * Hashes a small open file read in one piece into this thread's buffer: the `size` bytes its
 * stat gave (a file cut short reads fewer, and the caller compares sizes).
 */
async function hashSmall(fd: number, size: number, algorithms: Algorithm[], hasher: HasherOptions): Promise<{ hexes: Map<Algorithm, string>; size: number }> {
  const set = await createHashers(algorithms, hasher);
  const buffer = smallBuffer(Math.max(size, 1));
  const n = size === 0 ? 0 : fillChunk(fd, buffer, 0, size, 0);
  set.update(buffer.subarray(0, n));
  return { hexes: set.hexes(), size: n };
}

/** Files up to this size are read, written and read back on the calling thread, each in one piece. */
export const SMALL_FILE_BYTES = 1 << 20;

let sharedSmall = new Uint8Array(0);
/** This thread's buffer for small files, grown as needed (a file is copied in one piece). */
function smallBuffer(length: number): Uint8Array {
  if (sharedSmall.length < length) sharedSmall = new Uint8Array(Math.max(length, 64 << 10));
  return sharedSmall.subarray(0, length);
}

/**
 * Copies at least this large are read back all at once, each on its own thread: three copies on
 * one disk read back together faster than one after another (BENCHMARKS.md), and copies on
 * separate drives each read at their drive's speed.
 */
export const PARALLEL_READ_BACK_MIN_BYTES = 16 << 20;

/**
 * {@link hashFromDevice} for several open files: one after another, or for large files all at
 * once on hashing threads (lib/hash/pool.ts). Each result is settled on its own.
 */
export async function hashManyFromDevice(files: ReadonlyArray<number | { fd: number; known?: KnownCopy }>, size: number, algorithms: Algorithm[], hasher: HasherOptions = {}, chunkSize?: number): Promise<PromiseSettledResult<ReadBack>[]> {
  const list = files.map((f) => (typeof f === "number" ? { fd: f, known: undefined } : f));
  // On the threads each copy is read through the same descriptor: that reads from the device
  // only where dropping a file's pages holds for every reader (Linux), not for one descriptor.
  if (size <= SMALL_FILE_BYTES && list.every((f) => f.known && !f.known.sparse && !f.known.sparseSource)) {
    // Small copies: each one's pages dropped and asked for from the device at once, then this
    // thread lets the other copies in flight (a flushed group is read back together) do the
    // same before any is read: the device reads them all together, not one round trip each.
    const dropped: Array<boolean | Error> = [];
    for (const { fd, known } of list) {
      try {
        dropped.push(await dropFromCache(fd, known!.clean));
        readAhead(fd);
      } catch (error) {
        dropped.push(error as Error);
      }
    }
    await new Promise((resolve) => setImmediate(resolve));
    const out: PromiseSettledResult<ReadBack>[] = [];
    for (const [i, { fd, known }] of list.entries()) {
      const cold = dropped[i]!;
      try {
        if (cold instanceof Error) throw cold;
        out.push({ status: "fulfilled", value: await hashDropped(fd, cold, algorithms, hasher, chunkSize, known) });
      } catch (reason) {
        out.push({ status: "rejected", reason });
      }
    }
    return out;
  }
  if (list.length < 2 || size < PARALLEL_READ_BACK_MIN_BYTES || !evictionIsFileWide() || list.some((f) => f.known?.sparse || f.known?.sparseSource)) {
    const out: PromiseSettledResult<ReadBack>[] = [];
    for (const { fd, known } of list) {
      try {
        out.push({ status: "fulfilled", value: await hashFromDevice(fd, algorithms, hasher, chunkSize, known) });
      } catch (reason) {
        out.push({ status: "rejected", reason });
      }
    }
    return out;
  }
  const pool = new HashPool(list.length);
  try {
    return await Promise.allSettled(
      list.map(async ({ fd, known }, id) => {
        const cold = await dropFromCache(fd, known?.clean);
        const result = await pool.run({ id, path: `fd ${fd}`, fd, keepFd: true, algorithms, options: { ...hasher, chunkSize } });
        evictFromCache(fd);
        if (!result.ok) throw Object.assign(new Error(result.message), { code: result.code });
        return { hexes: new Map(result.hexes), size: result.size, cold, state: known?.state ?? readBackStateOf(statFd(fd)) };
      }),
    );
  } finally {
    pool.close();
  }
}

function failed(path: string, reason: string, kind: FailureKind = "other"): DestinationOutcome {
  return { path, status: "failed", reason, kind };
}

/** Closes a descriptor, whatever state its device is in. */
function closeQuietly(fd: number): void {
  // -1: a write thread has closed it (it named the file).
  if (fd < 0) return;
  try {
    closeSync(fd);
  } catch {
    // a dead device: the descriptor is gone either way
  }
}

/** Characters FAT and exFAT cannot hold in a name. */
const FAT_FORBIDDEN = /["*/:<>?\\|\u0000-\u001f]/;

/** Why a destination may have refused a name, when the name breaks FAT/exFAT's rules. */
export function nameRuleBroken(name: string): string | undefined {
  const bad = FAT_FORBIDDEN.exec(name);
  if (bad) return `FAT and exFAT cannot hold '${bad[0] === "\\" ? "\\\\" : bad[0]}' in a name`;
  if (/[. ]$/.test(name)) return "FAT and exFAT cannot hold a name that ends with a dot or a space";
  return undefined;
}

/** The reason for a failed create or put-in-place, with the name rule when that is what the destination refused. */
function placeFailure(stage: string, error: unknown, target: CopyTarget): string {
  const code = (error as { code?: string }).code;
  if (code === "EINVAL" || code === "EILSEQ" || code === "ENAMETOOLONG" || code === "ENOENT") {
    const name = target.relative.slice(target.relative.lastIndexOf("/") + 1);
    const rule = nameRuleBroken(name);
    if (rule) return `${stage}: this destination refuses the name (${rule}): ${strerrorOf(error)}`;
  }
  // A library error may already say what was being done ("cannot create: …").
  const said = describeSystemError(error);
  return said.startsWith(`${stage}: `) ? said : `${stage}: ${said}`;
}

/**
 * Copies one file to every target.
 * @example
 * import { HeldFolder } from "../io/held_folder.ts";
 * const card = HeldFolder.open("/Volumes/A001");
 * const raid = HeldFolder.open("/mnt/raid/A001");
 * const outcome = await copyFile({ folder: card, relative: "CLIPS/C001.mov" }, [{ folder: raid, relative: "CLIPS/C001.mov" }], { algorithms: ["xxh64"] });
 */
export async function copyFile(source: SourceRef, targets: readonly CopyTarget[], options: CopyFileOptions): Promise<CopyOutcome> {
  const chunkSize = options.chunkSize ?? COPY_CHUNK_SIZE;
  const readBackChunkSize = options.chunkSize ?? VERIFY_CHUNK_SIZE;
  const verify = options.verify ?? "dest";
  const modes = options.modes ?? { umask: process.umask() };
  const started = performance.now();
  const sourcePath = source.folder.pathOf(source.relative);
  const outcome: CopyOutcome = { source: sourcePath, size: 0, hexes: new Map(), destinations: [], copySeconds: 0 };
  const sourceFailed = (reason: string) => {
    outcome.sourceError = reason;
    outcome.destinations = targets.map((t) => failed(t.folder.pathOf(t.relative), `not copied: the source ${reason}`));
    return outcome;
  };
  let srcFd: number;
  let before: EntryStat;
  try {
    srcFd = source.throughLink ? source.folder.openReadInside(source.relative) : source.folder.openRead(source.relative);
  } catch (error) {
    return sourceFailed(`cannot be read: ${describeSystemError(error)}`);
  }
  try {
    // Through statx, as the name is looked at again: an inode above 2^53 (overlayfs with xino,
    // some network file systems) is exact only so.
    before = statFd(srcFd);
    outcome.sourceStat = before;
  } catch (error) {
    closeQuietly(srcFd);
    return sourceFailed(`cannot be read: ${describeSystemError(error)}`);
  }
  outcome.size = before.size;
  if (before.kind !== "file") {
    closeQuietly(srcFd);
    return sourceFailed(`is ${kindInWords(outcome.sourceStat.kind)}, not a regular file`);
  }
  // Past ±275,760 years a time is no date (a damaged or made-up file system gives one): no MHL,
  // report or journal could record the copy as made.
  if (Number.isNaN(new Date(before.mtimeMs).getTime())) {
    closeQuietly(srcFd);
    return sourceFailed(`has a modification time no date can hold (${before.mtimeNs} ns from 1970); give it a real one (touch) and copy again`);
  }
  if (options.expectedSize !== undefined && options.expectedSize !== before.size) {
    closeQuietly(srcFd);
    outcome.sourceError = `size is ${before.size} bytes, expected ${options.expectedSize}`;
    outcome.destinations = targets.map((t) => failed(t.folder.pathOf(t.relative), `file size check failed: source ${outcome.sourceError}`));
    return outcome;
  }

  const live: Live[] = [];
  // Small copies a write thread makes once the source is read; each holds its folder's descriptor until answered.
  const deferred: Nameless[] = [];
  const lentFor: Nameless[] = [];
  const requests: Promise<unknown>[] = [];
  let lentBuffer: Uint8Array | undefined;
  const threads = options.writeThreads && before.size <= SMALL_FILE_BYTES && !options.rateLimit && !options.overwrite && !isSparse(before.size, before.blocks) ? options.writeThreads : undefined;
  const presentCandidates: Array<{ target: CopyTarget; outcome: DestinationOutcome }> = [];
  // A source with holes, when its copies are read back by its data alone.
  let sparseSource: SparseSource | undefined;
  const written: Array<{ target: CopyTarget; outcome: DestinationOutcome; ino: bigint; dev: string }> = [];
  const drop = (d: Live, stage: string, error: unknown) => {
    d.outcome.status = "failed";
    d.outcome.reason = placeFailure(stage, error, d.target);
    discard(d);
    live.splice(live.indexOf(d), 1);
  };
  const discard = (d: Live) => {
    closeQuietly(d.file.fd);
    try {
      d.target.folder.discardNew(d.file);
    } catch {
      // a dead device: nothing more can be done about the partial; it never carries the final name
    }
  };
  try {
    for (const target of targets) {
      const path = target.folder.pathOf(target.relative);
      const result: DestinationOutcome = { path, status: "failed" };
      outcome.destinations.push(result);
      try {
        const existing = target.absent ? undefined : target.folder.stat(target.relative);
        if (existing) {
          if (existing.kind === "file" && existing.dev === outcome.sourceStat.dev && existing.ino === outcome.sourceStat.ino) {
            Object.assign(result, failed(path, "is the source file itself (a hard link to it or the same file), not a copy", "source-itself"));
            continue;
          }
          if (existing.kind === "folder") {
            Object.assign(result, failed(path, "a folder is at this name; it is never replaced", "other"));
            continue;
          }
          if (!options.overwrite) {
            if (existing.kind === "file" && existing.size === before.size) presentCandidates.push({ target, outcome: result });
            else if (existing.kind === "file") Object.assign(result, failed(path, "already exists and differs", "exists"));
            else if (existing.kind === "link") Object.assign(result, failed(path, "a symbolic link is at this name (it is never written through)", "exists"));
            else Object.assign(result, failed(path, `${kindInWords(existing.kind)} is at this name, not a regular file`, "exists"));
            continue;
          }
        }
        const thread = threads?.of(target.folder);
        let lent: { dirfd: number; name: Uint8Array } | undefined;
        try {
          lent = thread ? target.folder.lendParent(target.relative) : undefined;
        } catch {
          // createNew says what is wrong with the path
        }
        if (thread && lent) {
          deferred.push({ target, outcome: result, thread, ...lent });
          lentFor.push(deferred.at(-1)!);
        } else live.push({ target, file: target.folder.createNew(target.relative, 0o600), outcome: result });
      } catch (error) {
        result.reason = placeFailure("cannot create", error, target);
        result.kind = "other";
      }
    }

    let position = 0;
    let smallCopy: Uint8Array | undefined;
    const copied = async (length: number) => {
      position += length;
      options.onProgress?.(position, before.size);
      if (options.rateLimit) {
        const due = (position / options.rateLimit) * 1000 - (performance.now() - started);
        if (due > 1) await Bun.sleep(due);
      }
    };
    // A file with holes (a sparse file) is copied as it is: only its data is read and written,
    // each hole stays a hole, and is hashed as the zeros it reads as.
    // Its map is walked, not held (a million ranges would be hundreds of megabytes): once before
    // the copy for its data bytes, once by the copy as it goes, once after; the three must agree.
    const map = isSparse(before.size, before.blocks) ? summarizeMap(srcFd, before.size) : undefined;
    const holeBytes = map ? before.size - map.dataBytes : 0;
    const holes = holeBytes > 0;
    // Mostly holes: the data is hashed a second time on its own, so that each copy is read back
    // by its data alone (lib/offload/sparse.ts); with more data than holes that costs more than
    // hashing the holes again.
    const dataSet = holes && holeBytes >= before.size / 2 ? await createHashers(options.algorithms, options.hasher) : undefined;
    const mapDigest = map?.hex();
    let copiedMap: string | undefined;
    // Holes are hashed as zeros without reading a buffer of them where the algorithm allows.
    const runs = holes ? await createZeroRunHashers(options.algorithms, options.hasher) : undefined;
    const set = runs ?? (await createHashers(options.algorithms, options.hasher));
    const fanout =
      !holes && before.size >= FANOUT_MIN_BYTES && live.length > 0
        ? Fanout.open(
            live.map((d) => ({ fd: d.file.fd, writeback: d.target.flush ?? true })),
            chunkSize,
            { ...options.fanout, size: before.size },
          )
        : undefined;
    if (holes) {
      // The size first: every write then lands inside the file, and XFS reserves no blocks past
      // its end (speculative preallocation) that the size would then take into the file.
      // The end of the file may be a hole: the size makes it so.
      for (const d of [...live]) {
        try {
          ftruncateSync(d.file.fd, before.size);
        } catch (error) {
          drop(d, "write failed", error);
        }
      }
      const buffer = smallBuffer(chunkSize);
      let at = 0;
      const walked = new RangeDigest();
      for (const [start, end] of digested(dataRanges(srcFd, before.size), walked)) {
        await hashHole(runs!, start - at);
        position += start - at;
        for (at = start; at < end; ) {
          const n = fillChunk(srcFd, buffer, 0, Math.min(chunkSize, end - at), at);
          if (n === 0) break;
          const chunk = buffer.subarray(0, n);
          set.update(chunk);
          dataSet?.update(chunk);
          for (const d of [...live]) {
            try {
              writeAll(d.file.fd, chunk, at);
            } catch (error) {
              drop(d, "write failed", error);
            }
          }
          at += n;
          await copied(n);
        }
      }
      await hashHole(runs!, before.size - at);
      position += before.size - at;
      copiedMap = walked.hex();
      options.onProgress?.(position, before.size);
    } else if (fanout) {
      // Large files: each destination written by its own thread (lib/io/fanout.ts).
      const fanned = [...live];
      const dropFailed = (failures: FanoutFailure[]) => {
        for (const f of failures) if (live.includes(fanned[f.index]!)) drop(fanned[f.index]!, "write failed", f.error);
      };
      try {
        for (let k = 1; ; k++) {
          // Let this thread's other work run now and then (other copies in flight, a Ctrl-C):
          // the ring never fills when the destinations are faster than the source.
          if (k % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
          const next = fanout.buffer();
          const buffer = next instanceof Promise ? await next : next;
          const n = fillChunk(srcFd, buffer, 0, chunkSize, position);
          if (n === 0) break;
          set.update(buffer.subarray(0, n));
          fanout.commit(n);
          dropFailed(fanout.failures());
          await copied(n);
          if (n < chunkSize) break;
        }
        dropFailed(await fanout.finish());
      } finally {
        fanout.close();
      }
    } else if (before.size <= SMALL_FILE_BYTES && !options.rateLimit) {
      // Small files: one read, one write per destination, on this thread (a hand-off to the
      // thread pool costs more than the write into the page cache).
      // A write thread reads the bytes after this call returns: they are its own.
      const buffer = deferred.length > 0 ? (lentBuffer = await threads!.borrowBuffer(before.size)) : smallBuffer(Math.max(before.size, 1));
      const n = before.size === 0 ? 0 : fillChunk(srcFd, buffer, 0, before.size, 0);
      const chunk = (smallCopy = buffer.subarray(0, n));
      set.update(chunk);
      for (const d of [...live]) {
        try {
          writeAll(d.file.fd, chunk, 0);
        } catch (error) {
          drop(d, "write failed", error);
        }
      }
      await copied(n);
    } else {
      for (const chunk of readChunks(srcFd, { chunkSize, overlap: true })) {
        set.update(chunk);
        const writing = [...live];
        const results = await Promise.allSettled(writing.map((d) => writeAt(d.file.fd, chunk, position)));
        results.forEach((r, i) => {
          if (r.status === "rejected") drop(writing[i]!, "write failed", r.reason);
        });
        await copied(chunk.length);
      }
    }
    const after = statFd(srcFd);
    // A file renamed over the source while it was read leaves this descriptor on the old one:
    // what was copied is no longer what the name holds.
    let now: EntryStat | undefined;
    try {
      if (source.throughLink) {
        const again = source.folder.openReadInside(source.relative);
        try {
          now = statFd(again);
        } finally {
          closeQuietly(again);
        }
      } else {
        now = source.folder.stat(source.relative);
      }
    } catch {
      now = undefined;
    }
    const replaced = !now || now.ino !== outcome.sourceStat.ino || now.dev !== outcome.sourceStat.dev;
    // The change time too: a write whose modification time was put back (touch -d) still moves it.
    const touched = after.size === before.size && after.mtimeMs === before.mtimeMs && after.ctimeNs !== before.ctimeNs;
    // Only the data ranges were read: a write into a hole that a coarse clock (whole seconds on
    // ext4 with small inodes) does not show is seen in the map of holes and data, taken again.
    const holesMoved = map !== undefined && !touched && !replaced && ((copiedMap !== undefined && copiedMap !== mapDigest) || summarizeMap(srcFd, before.size).hex() !== mapDigest);
    if (position !== before.size || after.size !== before.size || after.mtimeMs !== before.mtimeMs || touched || replaced || holesMoved) {
      const what =
        position !== before.size
          ? `read ${position} bytes of ${before.size}`
          : replaced
            ? now
              ? "the file was replaced by another"
              : "the file was removed"
            : touched
              ? "its change time moved: written, or its mode or owner changed, with the modification time kept"
              : holesMoved && after.size === before.size && after.mtimeMs === before.mtimeMs
                ? "its holes and data moved: written into a hole"
                : `size ${before.size} → ${after.size} bytes, modified ${new Date(after.mtimeMs).toISOString()}`;
      throw Object.assign(new Error(`changed while it was copied (${what}); nothing was put in place`), { code: "ESRCCHANGED" });
    }
    outcome.hexes = set.hexes();
    if (dataSet) {
      // The source stays open until its copies are read back: they walk its map again.
      sparseSource = { fd: srcFd, map: mapDigest!, dataHexes: dataSet.hexes(), hexes: outcome.hexes, size: before.size };
    } else {
      closeSync(srcFd);
    }
    srcFd = -1;
    options.onWritten?.();
    if (deferred.length > 0) {
      try {
        const bytes = smallCopy ?? new Uint8Array(0);
        // Those no thread could make nameless are written here, as every small copy once was.
        for (const d of await makeNameless(deferred.splice(0), bytes, before, modes, options, live, requests)) {
          live.push(d);
          try {
            writeAll(d.file.fd, bytes, 0);
          } catch (error) {
            drop(d, "write failed", error);
          }
        }
      } finally {
        // Every request that reads it is answered: the next copy may have it.
        if (lentBuffer) threads!.giveBackBuffer(lentBuffer);
        lentBuffer = undefined;
      }
    }

    // Metadata, flush, put in place: a file under its final name is complete and on the device.
    await Promise.all(
      [...live].map(async (d) => {
        try {
          if (d.nameless) {
            // its thread set them
          } else if (before.size <= SMALL_FILE_BYTES) copyMetadataHere(d.file.fd, before, modes);
          else await copyMetadata(d.file.fd, before, modes);
        } catch (error) {
          drop(d, "cannot set times and mode", error);
          return;
        }
        try {
          if (!(d.target.flush ?? true)) return;
          if (!options.flushVia) return await fsyncAsync(d.file.fd);
          // A file of some size is written back from now on, so the group's flush finds less
          // left to write; small ones are left to the flush, which writes them together.
          if (before.size >= WRITEBACK_FROM_BYTES) startWriteback(d.file.fd);
          await options.flushVia(d.target.folder, () => fsyncAsync(d.file.fd));
        } catch (error) {
          drop(d, "flush failed", error);
        }
      }),
    );
    // Named by their threads all at once; each answer is then taken in order.
    const naming = new Map<Live, Promise<{ errno: number }>>();
    for (const d of live) {
      if (!d.nameless) continue;
      const request = d.nameless.thread.place(d.file.fd, d.nameless.dirfd, d.nameless.name);
      requests.push(request);
      naming.set(d, request);
      d.file.fd = -1;
    }
    for (const d of [...live]) {
      try {
        const named = naming.get(d);
        if (named) {
          const { errno } = await named;
          if (errno !== 0) throw d.target.folder.placeError(d.target.relative, d.nameless!.dirfd, errno);
        } else d.target.folder.placeNew(d.file, options.overwrite ?? false);
      } catch (error) {
        if ((error as { code?: string }).code === "EEXIST") {
          // A caller that knew the name free (a tree offload's walk lists files, not folders)
          // learns here that a folder holds it.
          let folderThere = false;
          try {
            folderThere = d.target.folder.stat(d.target.relative)?.kind === "folder";
          } catch {
            // as if something else appeared
          }
          const twin = options.explainAppeared?.(d.target);
          d.outcome.status = "failed";
          d.outcome.reason = folderThere ? "a folder is at this name; it is never replaced" : (twin ?? "something appeared under the final name while the file was copied; it was left as it is");
          // Replacing would be wrong for two source names that are one name here.
          d.outcome.kind = folderThere || twin ? "other" : "exists";
          discard(d);
          live.splice(live.indexOf(d), 1);
        } else {
          drop(d, "cannot put in place", error);
        }
        continue;
      }
      try {
        const mine = d.nameless ?? statFd(d.file.fd);
        written.push({ target: d.target, outcome: d.outcome, ino: mine.ino, dev: mine.dev });
        d.outcome.status = "copied";
      } catch (error) {
        d.outcome.status = "failed";
        d.outcome.reason = `lost after it was put in place: ${describeSystemError(error)}`;
      }
      closeQuietly(d.file.fd);
      live.splice(live.indexOf(d), 1);
    }
    outcome.copySeconds = (performance.now() - started) / 1000;
  } catch (error) {
    const changed = (error as { code?: string }).code === "ESRCCHANGED";
    const reason = changed ? (error as Error).message : `read failed: ${describeSystemError(error)}`;
    for (const d of [...live, ...deferred]) {
      if ("file" in d) discard(d);
      d.outcome.status = "failed";
      d.outcome.reason = `not copied: the source ${reason}`;
    }
    live.length = 0;
    deferred.length = 0;
    if (sparseSource) closeQuietly(sparseSource.fd);
    outcome.sourceError = reason;
    for (const p of presentCandidates) Object.assign(p.outcome, failed(p.outcome.path, `not checked: the source ${reason}`));
    return outcome;
  } finally {
    if (srcFd >= 0) closeQuietly(srcFd);
    for (const d of live) discard(d);
    // A descriptor lent to a thread is given back once the thread is done with it.
    if (requests.length > 0) await Promise.allSettled(requests);
    for (const d of lentFor) d.target.folder.giveBack(d.dirfd);
    if (lentBuffer) threads!.giveBackBuffer(lentBuffer);
  }

  // Existing files of the right size: identical ones are reported present, others refused.
  for (const p of presentCandidates) {
    let fd: number;
    try {
      fd = p.target.folder.openRead(p.target.relative);
    } catch (error) {
      Object.assign(p.outcome, failed(p.outcome.path, `already exists and cannot be read: ${describeSystemError(error)}`));
      continue;
    }
    try {
      // Its state before the read: a change made while it is read is then seen by the seal check.
      const stat = statFd(fd);
      const back = await hashFromDevice(fd, options.algorithms, options.hasher, readBackChunkSize, { clean: false, state: readBackStateOf(stat), size: stat.size, sparse: isSparse(stat.size, stat.blocks) });
      if (back.size === outcome.size && sameHexes(outcome.hexes, back.hexes)) Object.assign(p.outcome, { status: "present", hexes: back.hexes, coldRead: back.cold, readBack: back.state });
      else Object.assign(p.outcome, failed(p.outcome.path, "already exists with different content", "exists"));
    } catch (error) {
      Object.assign(p.outcome, failed(p.outcome.path, `already exists and cannot be read: ${describeSystemError(error)}`));
    } finally {
      closeQuietly(fd);
    }
  }

  try {
    await verifyDestinations(outcome, written, source, verify, options, readBackChunkSize, sparseSource);
  } finally {
    if (sparseSource) closeQuietly(sparseSource.fd);
  }
  return outcome;
}

/**
 * Has each destination's thread make its copy of a small file: nameless, written, with the
 * source's times and mode. A copy made joins `live`; one whose write or metadata failed is
 * failed as it would have been here. A destination whose thread could not make the file
 * nameless is made here as {@link HeldFolder.createNew} makes it (and fails as it fails), and
 * returned, to be written by the caller.
 */
async function makeNameless(deferred: Nameless[], bytes: Uint8Array, from: EntryStat, modes: ModePolicy, options: CopyFileOptions, live: Live[], requests: Promise<unknown>[]): Promise<Live[]> {
  const madeHere: Live[] = [];
  const times = timespecs(from.atimeNs, from.mtimeNs);
  const owner = modes.keepOwner ? { uid: from.uid, gid: from.gid } : undefined;
  const writeback = from.size >= WRITEBACK_FROM_BYTES && options.flushVia !== undefined;
  const made = deferred.map((d) => {
    const request = d.thread.create({ dirfd: d.dirfd, data: bytes, mode: copyMode(from.mode, modes), times, owner, writeback: writeback && (d.target.flush ?? true) });
    requests.push(request);
    return request;
  });
  const answers = await Promise.all(made);
  for (const [i, d] of deferred.entries()) {
    const answer = answers[i]!;
    if ("fd" in answer) {
      live.push({ target: d.target, outcome: d.outcome, file: { fd: answer.fd, relative: d.target.relative, partial: undefined }, nameless: { ...d, ino: answer.ino, dev: devNumber(answer.devMajor, answer.devMinor) } });
      continue;
    }
    if (answer.stage === "create") {
      // Made here instead: a mount inside the destination may have no nameless files.
      let file: NewFile;
      try {
        file = d.target.folder.createNew(d.target.relative, 0o600);
      } catch (error) {
        d.outcome.reason = placeFailure("cannot create", error, d.target);
        d.outcome.kind = "other";
        continue;
      }
      madeHere.push({ target: d.target, outcome: d.outcome, file });
      continue;
    }
    const stage = answer.stage === "write" ? "write failed" : answer.stage === "metadata" ? "cannot set times and mode" : "cannot stat the new copy";
    d.outcome.reason = placeFailure(stage, errnoError(answer.errno, stage), d.target);
  }
  return madeHere;
}

/**
 * Checks what was written, as `verify` says. Each copy is opened again by its final name
 * beneath its destination, and must be the very file that was written there (the same inode):
 * a file swapped in after the copy was put in place is not what was verified.
 */
async function verifyDestinations(outcome: CopyOutcome, written: Array<{ target: CopyTarget; outcome: DestinationOutcome; ino: bigint; dev: string }>, source: SourceRef, verify: VerifyMode, options: CopyFileOptions, chunkSize: number, sparseSource?: SparseSource): Promise<void> {
  if (verify === "none" || written.length === 0) return;
  const opened: Array<{ w: (typeof written)[number]; fd: number; stat: EntryStat }> = [];
  for (const w of written) {
    let fd: number;
    try {
      fd = w.target.folder.openRead(w.target.relative);
    } catch (error) {
      Object.assign(w.outcome, failed(w.outcome.path, `cannot be read back: ${describeSystemError(error)}`));
      continue;
    }
    let stat: EntryStat;
    try {
      stat = statFd(fd);
    } catch (error) {
      closeQuietly(fd);
      Object.assign(w.outcome, failed(w.outcome.path, `cannot be read back: ${describeSystemError(error)}`));
      continue;
    }
    // FAT, exFAT and FUSE number a file anew once the kernel forgot it: there the bytes read
    // back tell (a size check cannot).
    const renumbered = stat.ino !== w.ino && stat.dev === w.dev && verify !== "size" && !inodesAreStable(fd);
    if ((stat.ino !== w.ino && !renumbered) || stat.dev !== w.dev) {
      closeQuietly(fd);
      Object.assign(w.outcome, { status: "mismatch", reason: "the file under this name is not the copy that was written (replaced after it was put in place)" });
      continue;
    }
    if (verify === "size") {
      closeQuietly(fd);
      if (stat.size === outcome.size) Object.assign(w.outcome, { status: "size-checked", readBack: readBackStateOf(stat) });
      else Object.assign(w.outcome, { status: "mismatch", reason: `size is ${stat.size} bytes, source has ${outcome.size}` });
      continue;
    }
    opened.push({ w, fd, stat });
  }
  try {
    if (verify === "source+dest" && opened.length > 0) {
      let again: ReadBack | undefined;
      let problem: string | undefined;
      try {
        const fd = source.throughLink ? source.folder.openReadInside(source.relative) : source.folder.openRead(source.relative);
        try {
          again = await hashFromDevice(fd, options.algorithms, options.hasher, chunkSize);
        } finally {
          closeQuietly(fd);
        }
      } catch (error) {
        problem = `source read back failed: ${describeSystemError(error)}`;
      }
      if (problem || !sameHexes(outcome.hexes, again!.hexes)) {
        for (const { w } of opened) {
          Object.assign(w.outcome, problem ? failed(w.outcome.path, problem) : { status: "mismatch", reason: "the source read back differs from the source read during the copy: the source is unstable" });
        }
        return;
      }
    }
    // A copy flushed since it was written has no dirty pages: dropping them needs no flush.
    const backs = await hashManyFromDevice(
      opened.map((o) => ({ fd: o.fd, known: { clean: o.w.target.flush ?? true, state: readBackStateOf(o.stat), size: o.stat.size, sparse: isSparse(o.stat.size, o.stat.blocks), sparseSource } })),
      outcome.size,
      options.algorithms,
      options.hasher,
      chunkSize,
    );
    for (const [i, { w }] of opened.entries()) {
      const result = backs[i]!;
      if (result.status === "rejected") {
        Object.assign(w.outcome, failed(w.outcome.path, `read back failed: ${describeSystemError(result.reason)}`));
        continue;
      }
      const back = result.value;
      w.outcome.hexes = back.hexes;
      w.outcome.coldRead = back.cold;
      if (back.size !== outcome.size) Object.assign(w.outcome, { status: "mismatch", reason: `read back ${back.size} bytes, source has ${outcome.size}` });
      else if (sameHexes(outcome.hexes, back.hexes)) Object.assign(w.outcome, { status: "verified", readBack: back.state });
      else Object.assign(w.outcome, { status: "mismatch", reason: "read back from the device, the digest differs from the source's" });
    }
  } finally {
    for (const { fd } of opened) closeQuietly(fd);
  }
}
