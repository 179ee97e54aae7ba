/**
 * Files with holes (sparse files): copied as they are, hashed as the zeros their holes read as,
 * and read back without hashing those zeros a second time.
 *
 * A hole reads as zeros by the file system's definition, so a sparse file's digest is the digest
 * of its dense twin: every zero of every hole goes through the hashers once, during the copy
 * (there is no shortcut for XXH64, XXH3, BLAKE3, MD5 or SHA: their state after a run of zeros
 * depends on the state before it). The read-back then proves the copy holds the same bytes as
 * the source without a second pass over the zeros:
 * - during the copy the source's data ranges (SEEK_DATA/SEEK_HOLE) are also hashed on their own,
 *   one stream of only their bytes ({@link SparseSource}, the `dataHexes`);
 * - the copy's own map is asked from its file system: any of its data outside the source's data
 *   ranges is read from the device and must be zeros;
 * - the source's data ranges are read from the copy, from the device, hashed as one stream, and
 *   their digests must equal the source's `dataHexes`.
 * Then every byte of the copy equals the source's (data read and compared, the rest holes on both
 * sides or zeros read back) and the copy's digest is the source's. When any check fails the copy
 * is hashed in full, holes as zeros, and that digest is what the caller compares and reports.
 *
 * No map is held: a file of a million data ranges would take hundreds of megabytes as a list.
 * Every walk asks the file system for the next range as it goes (lib/io/libc.ts `dataRanges`),
 * and where two walks of one map must agree (before and after the copy, at the copy and at the
 * read-back) each is summed up by a digest of its ranges ({@link RangeDigest}).
 */
import { createHash, type Hash } from "node:crypto";
import type { Algorithm } from "../hash/algorithms.ts";
import type { HasherOptions } from "../hash/options.ts";
import { createHashers } from "../hash/registry.ts";
import { createZeroRunHashers, type ZeroRunHashers } from "../hash/zero_runs.ts";
import { fillChunk } from "../io/fill.ts";
import { dataRanges } from "../io/libc.ts";

/** A source with holes as the copy saw it: its map's digest, its data ranges' digests as one stream, the whole file's digests. */
export interface SparseSource {
  /**
   * The source, open (the caller closes it): each read-back walks its map again rather than
   * holding it.
   */
  fd: number;
  /** The {@link RangeDigest} of its map when it was copied; a map that differs since is not used. */
  map: string;
  /** Digests of the bytes of its data ranges, one after another, holes left out. */
  dataHexes: Map<Algorithm, string>;
  /** Digests of the whole file, holes hashed as zeros. */
  hexes: Map<Algorithm, string>;
  /** The file's size. */
  size: number;
}

/** Ranges summed up in a digest at a time. */
const RANGE_BATCH = 4096;

/**
 * A running digest of a map of data ranges, with their count and bytes: two walks of one map
 * give one digest; a range moved, grown or split between them gives another (SHA-256 of the
 * ranges' offsets, so no two maps a writer could make share one).
 * @example
 * const walk = new RangeDigest();
 * walk.add(0, 4096);
 * walk.add(1 << 20, (1 << 20) + 4096);
 * walk.dataBytes; // 8192
 * walk.hex() === new RangeDigest().hex(); // false
 */
export class RangeDigest {
  /** Ranges added. */
  ranges = 0;
  /** Bytes in the ranges added. */
  dataBytes = 0;
  readonly #hash: Hash = createHash("sha256");
  readonly #batch = new Float64Array(2 * RANGE_BATCH);
  #pending = 0;

  add(start: number, end: number): void {
    this.#batch[2 * this.#pending] = start;
    this.#batch[2 * this.#pending + 1] = end;
    this.ranges++;
    this.dataBytes += end - start;
    if (++this.#pending === RANGE_BATCH) this.#flush();
  }

  /** The digest of the ranges added (the digest is final: nothing more can be added). */
  hex(): string {
    this.#flush();
    return this.#hash.digest("hex");
  }

  #flush(): void {
    this.#hash.update(new Uint8Array(this.#batch.buffer, 0, 16 * this.#pending));
    this.#pending = 0;
  }
}

/** Yields `ranges` as they come, each added to `digest`. */
export function* digested(ranges: Iterable<[number, number]>, digest: RangeDigest): Generator<[number, number]> {
  for (const range of ranges) {
    digest.add(range[0], range[1]);
    yield range;
  }
}

/** An open file's map walked once: its {@link RangeDigest}, with its data ranges' count and bytes. */
export function summarizeMap(fd: number, size: number): RangeDigest {
  const digest = new RangeDigest();
  for (const [start, end] of dataRanges(fd, size)) digest.add(start, end);
  return digest;
}

/**
 * True when a file's blocks hold less than its size: it has holes (or is compressed; then the
 * data ranges say it is all data, and it is copied as usual).
 */
export function isSparse(size: number, blocks: number): boolean {
  return size > 64 << 10 && blocks * 512 < size - (64 << 10);
}

const ZEROS = new Uint8Array(1 << 20);

/** Holes are hashed in pieces this large, other work let in between (a hole of 16 GiB takes 30 s of MD5). */
const HOLE_PIECE = 1 << 30;

/**
 * Feeds a hole's `length` zeros to the hashers, letting this thread's other work (a Ctrl-C,
 * other copies in flight) run between pieces of it.
 */
export async function hashHole(set: ZeroRunHashers, length: number): Promise<void> {
  for (let left = length; left > 0; left -= HOLE_PIECE) {
    set.zeros(Math.min(left, HOLE_PIECE));
    if (left > HOLE_PIECE) await new Promise((resolve) => setImmediate(resolve));
  }
}

let sharedBuffer = new Uint8Array(0);
function buffer(length: number): Uint8Array {
  if (sharedBuffer.length < length) sharedBuffer = new Uint8Array(length);
  return sharedBuffer.subarray(0, length);
}

/**
 * Hashes an open file with holes in full: its data ranges read from the device, its holes as
 * zeros (nothing to read: the file system says they are holes). A file cut short gives the size
 * read.
 */
export async function hashWithHoles(fd: number, size: number, algorithms: Algorithm[], hasher: HasherOptions, chunkSize: number): Promise<{ hexes: Map<Algorithm, string>; size: number }> {
  const set = await createZeroRunHashers(algorithms, hasher);
  const chunk = buffer(chunkSize);
  let at = 0;
  for (const [start, end] of dataRanges(fd, size)) {
    await hashHole(set, start - at);
    for (at = start; at < end; ) {
      const n = fillChunk(fd, chunk, 0, Math.min(chunkSize, end - at), at);
      if (n === 0) return { hexes: set.hexes(), size: at };
      set.update(chunk.subarray(0, n));
      at += n;
    }
  }
  await hashHole(set, size - at);
  return { hexes: set.hexes(), size };
}

/**
 * The parts of `ranges` outside `minus` (both sorted [start, end) ranges that do not overlap),
 * as they come: `minus` is taken only as far as `ranges` need, and left open, so that its
 * caller can take the rest of it.
 * @example
 * [...outside([[0, 100]], [[10, 20], [50, 60]])]; // [[0, 10], [20, 50], [60, 100]]
 */
export function* outside(ranges: Iterable<readonly [number, number]>, minus: Iterable<readonly [number, number]>): Generator<[number, number]> {
  const rest = minus[Symbol.iterator]();
  let next = rest.next();
  for (const [start, end] of ranges) {
    let at = start;
    while (!next.done && next.value[1] <= at) next = rest.next();
    while (!next.done && next.value[0] < end) {
      if (next.value[0] > at) yield [at, next.value[0]];
      at = Math.max(at, next.value[1]);
      // A range of `minus` that goes on past this one is kept for the next.
      if (next.value[1] > end) break;
      next = rest.next();
    }
    if (at < end) yield [at, end];
  }
}

/** True when every byte is zero. */
function allZero(bytes: Uint8Array): boolean {
  for (let at = 0; at < bytes.length; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, bytes.length - at);
    if (!Buffer.from(bytes.buffer, bytes.byteOffset + at, n).equals(Buffer.from(ZEROS.buffer, 0, n))) return false;
  }
  return true;
}

/**
 * Reads a copy of a sparse source back (its pages already dropped) and says whether it holds the
 * source's bytes: its data outside the source's data ranges is zeros, and the source's data
 * ranges read from it hash to the source's `dataHexes`. When it does, its digests are the
 * source's; when it does not (or the source's map is no longer the one it was copied with), it
 * is hashed in full and those digests are returned.
 */
export async function readBackSparse(fd: number, size: number, source: SparseSource, algorithms: Algorithm[], hasher: HasherOptions, chunkSize: number): Promise<{ hexes: Map<Algorithm, string>; size: number }> {
  if (size === source.size && (await holdsSource(fd, source, algorithms, hasher, chunkSize))) return { hexes: source.hexes, size };
  return hashWithHoles(fd, size, algorithms, hasher, chunkSize);
}

async function holdsSource(fd: number, source: SparseSource, algorithms: Algorithm[], hasher: HasherOptions, chunkSize: number): Promise<boolean> {
  const chunk = buffer(chunkSize);
  const set = await createHashers(algorithms, hasher);
  const walked = new RangeDigest();
  let cutShort = false;
  // The source's data ranges, each read from the copy and hashed as it is taken (where the copy
  // has a hole instead, that reads as zeros). Its map is walked to its end, and its digest says
  // it is the map the copy was made with.
  function* sourceData(): Generator<[number, number]> {
    for (const range of dataRanges(source.fd, source.size)) {
      walked.add(range[0], range[1]);
      for (let at = range[0]; at < range[1]; ) {
        const n = fillChunk(fd, chunk, 0, Math.min(chunkSize, range[1] - at), at);
        if (n === 0) {
          cutShort = true;
          return;
        }
        set.update(chunk.subarray(0, n));
        at += n;
      }
      yield range;
    }
  }
  const sourceWalk = sourceData();
  // The copy's data where the source has holes (blocks its file system allocated, or bytes
  // written into a hole since): read, and zeros or the copy differs. Both maps are walked at once.
  // (One buffer serves both: each read is hashed or checked before the other walk moves.)
  for (const [start, end] of outside(dataRanges(fd, source.size), sourceWalk)) {
    for (let at = start; at < end; ) {
      const n = fillChunk(fd, chunk, 0, Math.min(chunkSize, end - at), at);
      if (n === 0 || !allZero(chunk.subarray(0, n))) return false;
      at += n;
    }
  }
  for (const _ of sourceWalk);
  if (cutShort || walked.hex() !== source.map) return false;
  const hexes = set.hexes();
  for (const [algorithm, hex] of source.dataHexes) if (hexes.get(algorithm) !== hex) return false;
  return true;
}
