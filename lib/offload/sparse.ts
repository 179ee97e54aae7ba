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
 */
import type { Algorithm } from "../hash/algorithms.ts";
import type { HasherOptions } from "../hash/options.ts";
import { createHashers } from "../hash/registry.ts";
import { createZeroRunHashers, type ZeroRunHashers } from "../hash/zero_runs.ts";
import { fillChunk } from "../io/fill.ts";
import { dataRanges } from "../io/libc.ts";

/** A source with holes as the copy saw it: its data ranges, their digests as one stream, the whole file's digests. */
export interface SparseSource {
  /** [start, end) data ranges of the source, in order; the rest of the file is holes. */
  ranges: ReadonlyArray<readonly [number, number]>;
  /** Digests of the bytes of {@link ranges}, one after another, holes left out. */
  dataHexes: Map<Algorithm, string>;
  /** Digests of the whole file, holes hashed as zeros. */
  hexes: Map<Algorithm, string>;
  /** The file's size. */
  size: number;
}

/**
 * True when a file's blocks hold less than its size: it has holes (or is compressed; then the
 * data ranges say it is all data, and it is copied as usual).
 */
export function isSparse(size: number, blocks: number): boolean {
  return size > 64 << 10 && blocks * 512 < size - (64 << 10);
}

/** Bytes of a file's holes given its data ranges. */
export function holeBytes(ranges: ReadonlyArray<readonly [number, number]>, size: number): number {
  return size - ranges.reduce((sum, [a, b]) => sum + b - a, 0);
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
 * The parts of `ranges` outside `minus` (both sorted [start, end) ranges that do not overlap).
 * @example
 * outside([[0, 100]], [[10, 20], [50, 60]]); // [[0, 10], [20, 50], [60, 100]]
 */
export function outside(ranges: ReadonlyArray<readonly [number, number]>, minus: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let k = 0;
  for (const [start, end] of ranges) {
    let at = start;
    while (k < minus.length && minus[k]![1] <= at) k++;
    for (let j = k; j < minus.length && minus[j]![0] < end; j++) {
      if (minus[j]![0] > at) out.push([at, minus[j]![0]]);
      at = Math.max(at, minus[j]![1]);
    }
    if (at < end) out.push([at, end]);
  }
  return out;
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
 * source's; when it does not, it is hashed in full and those digests are returned.
 */
export async function readBackSparse(fd: number, size: number, source: SparseSource, algorithms: Algorithm[], hasher: HasherOptions, chunkSize: number): Promise<{ hexes: Map<Algorithm, string>; size: number }> {
  if (size === source.size && (await holdsSource(fd, source, algorithms, hasher, chunkSize))) return { hexes: source.hexes, size };
  return hashWithHoles(fd, size, algorithms, hasher, chunkSize);
}

async function holdsSource(fd: number, source: SparseSource, algorithms: Algorithm[], hasher: HasherOptions, chunkSize: number): Promise<boolean> {
  const chunk = buffer(chunkSize);
  // The copy's data where the source has holes (blocks its file system allocated, or bytes
  // written into a hole since): read, and zeros or the copy differs.
  for (const [start, end] of outside(dataRanges(fd, source.size), source.ranges)) {
    for (let at = start; at < end; ) {
      const n = fillChunk(fd, chunk, 0, Math.min(chunkSize, end - at), at);
      if (n === 0 || !allZero(chunk.subarray(0, n))) return false;
      at += n;
    }
  }
  // The source's data, read from the copy (where the copy has a hole instead, that reads as zeros).
  const set = await createHashers(algorithms, hasher);
  for (const [start, end] of source.ranges) {
    for (let at = start; at < end; ) {
      const n = fillChunk(fd, chunk, 0, Math.min(chunkSize, end - at), at);
      if (n === 0) return false;
      set.update(chunk.subarray(0, n));
      at += n;
    }
  }
  const hexes = set.hexes();
  for (const [algorithm, hex] of source.dataHexes) if (hexes.get(algorithm) !== hex) return false;
  return true;
}
