/**
 * The copy engine: read the source once, hash it in flight, write every chunk to all
 * destinations at once, flush, rename into place, then prove each destination by reading it
 * back from the device. A failing destination is dropped (its partial removed) and the others
 * finish. A source that changes while it is read fails loudly.
 */
import { fstatSync, futimes, fchmod, fsync, openSync, closeSync, statSync, write, type Stats } from "node:fs";
import { describeSystemError } from "../core/errors.ts";
import type { Algorithm } from "../hash/algorithms.ts";
import { hashFd } from "../hash/file.ts";
import { HashPool } from "../hash/pool.ts";
import type { HasherOptions } from "../hash/options.ts";
import { createHashers } from "../hash/registry.ts";
import { AtomicFile } from "../io/atomic_file.ts";
import { Fanout, type FanoutFailure, type FanoutOptions } from "../io/fanout.ts";
import { fillChunk } from "../io/fill.ts";
import { evictFromCache, evictionIsFileWide } from "../io/libc.ts";
import { readChunks } from "../io/reader.ts";

/**
 * Bytes per read and write when copying: 256 KiB. Measured here, 1 GiB to three destinations
 * on a fresh journaled file system, memory in the same state before each run (bench/common.ts),
 * interleaved: 256 KiB median 3.0 s and 4 MiB 4.5 s over ten runs each, 1 MiB 4.2 s over five
 * (three `cp` and a `sync`: 1.7 s). A small chunk is
 * still in the CPU's cache when the second and third destinations copy it; the same comparison
 * without that care had put 4 MiB first.
 */
export const COPY_CHUNK_SIZE = 256 << 10;

/**
 * Bytes per read when reading a copy back from the device: 1 MiB. Measured here, a cold 1 GiB
 * file on a journaled file system, hashed by hashFromDevice: 256 KiB 1.7–2.4 s (3 runs), 1 MiB
 * median 0.58 s (7 runs), 4 MiB median 2.2 s (7 runs).
 */
export const VERIFY_CHUNK_SIZE = 1 << 20;

/**
 * Files at least this large are written by one thread per destination (lib/io/fanout.ts);
 * smaller ones, often many in flight at once in tree mode, through the thread pool.
 */
export const FANOUT_MIN_BYTES = 16 << 20;

/** How destinations are checked after the copy. */
export type VerifyMode = "dest" | "source+dest" | "size" | "none";
export const VERIFY_MODES: readonly VerifyMode[] = ["dest", "source+dest", "size", "none"];

/** One destination of a copy. */
export interface CopyTarget {
  /** Final path of the file. */
  path: string;
  /**
   * fsync before the rename.
   * @default true
   */
  flush?: boolean;
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
  /** Replace existing destination files. @default false */
  overwrite?: boolean;
  /** Refuse the source unless it has exactly this size (`-f_size`). */
  expectedSize?: number;
  /** Bytes per second, at most. */
  rateLimit?: number;
  /** Called after each chunk with the bytes copied so far. */
  onProgress?: (copied: number, total: number) => void;
  /**
   * Makes a written destination durable instead of its own fsync (a caller that flushes many
   * files at once, see lib/io/flush_barrier.ts). Called with the destination's final path and
   * the file's own fsync, for where a group flush is unavailable.
   */
  flushVia?: (path: string, fsyncOwn: () => Promise<void>) => Promise<void>;
  /** The writer threads of large copies (tests). */
  fanout?: Pick<FanoutOptions, "workerScript">;
  /** Called once every byte is written, before the flush: the copy no longer needs the source. */
  onWritten?: () => void;
  /**
   * Flush each destination folder after the rename. A caller copying many files into the same
   * folders turns this off and flushes every folder once at the end ({@link flushFolder}).
   * @default true
   */
  flushFolders?: boolean;
}

/** What became of one destination. */
export type DestinationStatus =
  /** Read back from the device and identical to the source. */
  | "verified"
  /** Written; its size checked (`--verify size`). */
  | "size-checked"
  /** Written, not checked (`--verify none`). */
  | "copied"
  /** An identical file (same size and digests) was already there; not written again. */
  | "present"
  /** Read back and different from the source. */
  | "mismatch"
  /** Not written, or written and lost; `reason` says why. */
  | "failed";

/** One destination's result. */
export interface DestinationOutcome {
  path: string;
  status: DestinationStatus;
  reason?: string;
  /** Digests read back (verify dest). */
  hexes?: Map<Algorithm, string>;
  /** False when the page cache could not be dropped before reading back. */
  coldRead?: boolean;
}

/** The result of one copy. */
export interface CopyOutcome {
  source: string;
  size: number;
  /** Source digests computed in flight (empty when the source failed). */
  hexes: Map<Algorithm, string>;
  destinations: DestinationOutcome[];
  /** Seconds spent reading, hashing and writing (without verification). */
  copySeconds: number;
  /** Why the source failed, when it did (every destination then failed too). */
  sourceError?: string;
}

interface Live {
  target: CopyTarget;
  file: AtomicFile;
  outcome: DestinationOutcome;
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

function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
}

/**
 * Source times and permissions onto a written copy, off this thread: on a journaled file system
 * these wait for the journal while a flush commits it, and copies in flight must not wait too.
 */
function copyMetadata(fd: number, from: Stats): Promise<void> {
  return new Promise((resolve, reject) =>
    futimes(fd, from.atime, from.mtime, (error) => {
      if (error) reject(error);
      else fchmod(fd, from.mode & 0o7777, (error2) => (error2 ? reject(error2) : resolve()));
    }));
}

function sameHexes(a: Map<Algorithm, string>, b: Map<Algorithm, string>): boolean {
  for (const [algorithm, hex] of a) if (b.get(algorithm) !== hex) return false;
  return true;
}

/**
 * Reads a file back from the device: flushes it (dirty pages cannot be dropped), drops its
 * cached pages, hashes it, and drops them again.
 */
export async function hashFromDevice(path: string, algorithms: Algorithm[], hasher: HasherOptions = {}, chunkSize?: number): Promise<{ hexes: Map<Algorithm, string>; size: number; cold: boolean }> {
  const fd = openSync(path, "r");
  try {
    const cold = await dropFromCache(fd);
    const { hexes, size } = await hashFd(fd, algorithms, { ...hasher, chunkSize });
    evictFromCache(fd);
    return { hexes, size, cold };
  } finally {
    closeSync(fd);
  }
}

/** Flushes a file (dirty pages cannot be dropped) and drops its cached pages; false when they could not be dropped. */
async function dropFromCache(fd: number): Promise<boolean> {
  try {
    await fsyncAsync(fd);
  } catch {
    // read-only media cannot be flushed, and have nothing dirty to flush
  }
  return evictFromCache(fd);
}

/**
 * Copies at least this large are read back all at once, each on its own thread: three copies on
 * one disk read back together in 1.5–1.9 s against 2.9–4.0 s one after another (1 GiB each,
 * cold, `cat`), and copies on separate drives each read at their drive's speed.
 */
export const PARALLEL_READ_BACK_MIN_BYTES = 16 << 20;

/**
 * {@link hashFromDevice} for several files: one after another, or for large files all at once
 * on hashing threads (lib/hash/pool.ts). Each result is settled on its own.
 */
export async function hashManyFromDevice(paths: readonly string[], size: number, algorithms: Algorithm[], hasher: HasherOptions = {}, chunkSize?: number): Promise<PromiseSettledResult<{ hexes: Map<Algorithm, string>; size: number; cold: boolean }>[]> {
  // On the threads each copy is opened again: that reads from the device only where dropping
  // a file's pages holds for every descriptor (Linux), not where it is one descriptor's setting.
  if (paths.length < 2 || size < PARALLEL_READ_BACK_MIN_BYTES || !evictionIsFileWide()) {
    const out: PromiseSettledResult<{ hexes: Map<Algorithm, string>; size: number; cold: boolean }>[] = [];
    for (const path of paths) {
      try {
        out.push({ status: "fulfilled", value: await hashFromDevice(path, algorithms, hasher, chunkSize) });
      } catch (reason) {
        out.push({ status: "rejected", reason });
      }
    }
    return out;
  }
  const withFd = async <T>(path: string, body: (fd: number) => Promise<T> | T): Promise<T> => {
    const fd = openSync(path, "r");
    try {
      return await body(fd);
    } finally {
      closeSync(fd);
    }
  };
  const pool = new HashPool(paths.length);
  try {
    return await Promise.allSettled(paths.map(async (path, id) => {
      const cold = await withFd(path, dropFromCache);
      const result = await pool.run({ id, path, algorithms, options: { ...hasher, chunkSize } });
      try {
        await withFd(path, evictFromCache);
      } catch {
        // leaving the pages cached is harmless; the digest stands
      }
      if (!result.ok) throw Object.assign(new Error(result.message), { code: result.code });
      return { hexes: new Map(result.hexes), size: result.size, cold };
    }));
  } finally {
    pool.close();
  }
}

function failed(path: string, reason: string): DestinationOutcome {
  return { path, status: "failed", reason };
}

/**
 * Copies one file to every target.
 * @example
 * const outcome = await copyFile("/Volumes/A001/C001.mov", [{ path: "/mnt/a/C001.mov" }, { path: "/mnt/b/C001.mov" }],
 *   { algorithms: ["xxh64"] });
 */
export async function copyFile(source: string, targets: readonly CopyTarget[], options: CopyFileOptions): Promise<CopyOutcome> {
  const chunkSize = options.chunkSize ?? COPY_CHUNK_SIZE;
  const readBackChunkSize = options.chunkSize ?? VERIFY_CHUNK_SIZE;
  const verify = options.verify ?? "dest";
  const started = performance.now();
  const outcome: CopyOutcome = { source, size: 0, hexes: new Map(), destinations: [], copySeconds: 0 };
  let srcFd: number;
  let before: Stats;
  try {
    srcFd = openSync(source, "r");
    before = fstatSync(srcFd);
  } catch (error) {
    outcome.sourceError = describeSystemError(error);
    outcome.destinations = targets.map((t) => failed(t.path, `source unreadable: ${outcome.sourceError}`));
    return outcome;
  }
  outcome.size = before.size;
  const live: Live[] = [];
  const presentCandidates: DestinationOutcome[] = [];
  try {
    if (!before.isFile()) throw Object.assign(new Error("not a regular file"), { code: before.isDirectory() ? "EISDIR" : "EINVAL" });
    if (options.expectedSize !== undefined && options.expectedSize !== before.size) {
      outcome.sourceError = `size is ${before.size} bytes, expected ${options.expectedSize}`;
      outcome.destinations = targets.map((t) => failed(t.path, `file size check failed: source ${outcome.sourceError}`));
      return outcome;
    }
    for (const target of targets) {
      const result: DestinationOutcome = { path: target.path, status: "failed" };
      outcome.destinations.push(result);
      let existing: Stats | undefined;
      try {
        existing = statSync(target.path);
      } catch {
        existing = undefined;
      }
      if (existing && !options.overwrite) {
        if (existing.isFile() && existing.size === before.size) presentCandidates.push(result);
        else result.reason = "already exists and differs; use --overwrite to replace it";
        continue;
      }
      try {
        live.push({ target, file: new AtomicFile(target.path, 0o600), outcome: result });
      } catch (error) {
        result.reason = `cannot create: ${describeSystemError(error)}`;
      }
    }

    const set = await createHashers(options.algorithms, options.hasher);
    let position = 0;
    const drop = (d: Live, stage: string, error: unknown) => {
      d.outcome.status = "failed";
      d.outcome.reason = `${stage}: ${describeSystemError(error)}`;
      d.file.discard();
      live.splice(live.indexOf(d), 1);
    };
    const copied = async (length: number) => {
      position += length;
      options.onProgress?.(position, before.size);
      if (options.rateLimit) {
        const due = (position / options.rateLimit) * 1000 - (performance.now() - started);
        if (due > 1) await Bun.sleep(due);
      }
    };
    const fanout = before.size >= FANOUT_MIN_BYTES
      ? Fanout.open(live.map((d) => ({ fd: d.file.fd, writeback: d.target.flush ?? true })), chunkSize, { ...options.fanout, size: before.size })
      : undefined;
    if (fanout) {
      // Large files: each destination written by its own thread (lib/io/fanout.ts).
      const fanned = [...live];
      const dropFailed = (failures: FanoutFailure[]) => {
        for (const f of failures) drop(fanned[f.index]!, "write failed", f.error);
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
          const chunk = buffer.subarray(0, n);
          set.update(chunk);
          fanout.commit(n);
          dropFailed(fanout.failures());
          await copied(n);
          if (n < chunkSize) break;
        }
        dropFailed(await fanout.finish());
      } finally {
        fanout.close();
      }
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
    const after = fstatSync(srcFd);
    // A file renamed over the source while it was read leaves this descriptor on the old one:
    // what was copied is no longer what the path holds.
    let now: Stats | undefined;
    try {
      now = statSync(source);
    } catch {
      now = undefined;
    }
    const replaced = !now || now.ino !== before.ino || now.dev !== before.dev;
    if (position !== before.size || after.size !== before.size || after.mtimeMs !== before.mtimeMs || replaced) {
      const what = position !== before.size ? `read ${position} bytes of ${before.size}`
        : replaced ? (now ? "the file was replaced by another" : "the file was removed")
        : `size ${before.size} → ${after.size} bytes, modified ${new Date(after.mtimeMs).toISOString()}`;
      throw Object.assign(new Error(`source changed while it was copied (${what}); nothing was put in place`), { code: "ESRCCHANGED" });
    }
    outcome.hexes = set.hexes();
    closeSync(srcFd);
    srcFd = -1;
    options.onWritten?.();

    // Metadata, flush, rename: a file under its final name is complete and on the device.
    await Promise.all([...live].map(async (d) => {
      try {
        await copyMetadata(d.file.fd, before);
        if (d.target.flush ?? true) await (options.flushVia ? options.flushVia(d.target.path, () => fsyncAsync(d.file.fd)) : fsyncAsync(d.file.fd));
      } catch (error) {
        drop(d, "flush failed", error);
      }
    }));
    for (const d of [...live]) {
      try {
        d.file.commit(options.overwrite ?? false, (options.flushFolders ?? true) && (d.target.flush ?? true));
        d.outcome.status = "copied";
      } catch (error) {
        drop(d, (error as { code?: string }).code === "EEXIST" ? "a file appeared under the final name" : "rename failed", error);
      }
    }
    outcome.copySeconds = (performance.now() - started) / 1000;
  } catch (error) {
    for (const d of live) {
      d.file.discard();
      d.outcome.status = "failed";
      d.outcome.reason = (error as { code?: string }).code === "ESRCCHANGED" ? (error as Error).message : `source read failed: ${describeSystemError(error)}`;
    }
    live.length = 0;
    outcome.sourceError = (error as { code?: string }).code === "ESRCCHANGED" ? (error as Error).message : describeSystemError(error);
    for (const p of presentCandidates) Object.assign(p, failed(p.path, `not checked: ${outcome.sourceError}`));
    return outcome;
  } finally {
    if (srcFd >= 0) closeSync(srcFd);
  }

  // Existing files of the right size: identical ones are reported present, others refused.
  for (const p of presentCandidates) {
    try {
      const back = await hashFromDevice(p.path, options.algorithms, options.hasher, readBackChunkSize);
      if (sameHexes(outcome.hexes, back.hexes)) Object.assign(p, { status: "present", hexes: back.hexes, coldRead: back.cold });
      else Object.assign(p, failed(p.path, "already exists with different content; use --overwrite to replace it"));
    } catch (error) {
      Object.assign(p, failed(p.path, `already exists and cannot be read: ${describeSystemError(error)}`));
    }
  }

  await verifyDestinations(outcome, verify, options, readBackChunkSize);
  return outcome;
}

async function verifyDestinations(outcome: CopyOutcome, verify: VerifyMode, options: CopyFileOptions, chunkSize: number): Promise<void> {
  const written = outcome.destinations.filter((d) => d.status === "copied");
  if (verify === "none") return;
  if (verify === "size") {
    for (const d of written) {
      try {
        const size = statSync(d.path).size;
        if (size === outcome.size) d.status = "size-checked";
        else Object.assign(d, { status: "mismatch", reason: `size is ${size} bytes, source has ${outcome.size}` });
      } catch (error) {
        Object.assign(d, failed(d.path, `cannot stat: ${describeSystemError(error)}`));
      }
    }
    return;
  }
  if (verify === "source+dest") {
    try {
      const again = await hashFromDevice(outcome.source, options.algorithms, options.hasher, chunkSize);
      if (!sameHexes(outcome.hexes, again.hexes)) {
        for (const d of written) Object.assign(d, { status: "mismatch", reason: "the source read back differs from the source read during the copy: the source is unstable" });
        return;
      }
    } catch (error) {
      for (const d of written) Object.assign(d, failed(d.path, `source read back failed: ${describeSystemError(error)}`));
      return;
    }
  }
  const backs = await hashManyFromDevice(written.map((d) => d.path), outcome.size, options.algorithms, options.hasher, chunkSize);
  for (const [i, d] of written.entries()) {
    const result = backs[i]!;
    if (result.status === "rejected") {
      Object.assign(d, failed(d.path, `read back failed: ${describeSystemError(result.reason)}`));
      continue;
    }
    const back = result.value;
    d.hexes = back.hexes;
    d.coldRead = back.cold;
    if (back.size !== outcome.size) Object.assign(d, { status: "mismatch", reason: `read back ${back.size} bytes, source has ${outcome.size}` });
    else if (sameHexes(outcome.hexes, back.hexes)) d.status = "verified";
    else d.status = "mismatch", d.reason = "read back from the device, the digest differs from the source's";
  }
}
