/**
 * Hashing whole files and streams: the reader feeding a set of hashers.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { explainedError } from "../core/errors.ts";
import { guardedWait } from "../core/interrupt_guard.ts";
import { fsPath } from "../core/names.ts";
import { turnDue } from "../core/turns.ts";
import { fillChunk } from "../io/fill.ts";
import { DEFAULT_CHUNK_SIZE, readChunks, type ReadChunksOptions } from "../io/reader.ts";
import type { Algorithm } from "./algorithms.ts";
import type { Hasher } from "./hasher.ts";
import type { HasherOptions } from "./options.ts";
import { createHashers, createHashersNow, type HasherSet } from "./registry.ts";

/** Native XXH3 and XXH128 hash faster than a core copies from the page cache. */
function outrunsReading(hasher: Hasher): boolean {
  return hasher.engine === "native" && (hasher.algorithm === "xxh3" || hasher.algorithm === "xxh128");
}

/** Digests of one input. */
export interface FileDigests {
  /** Printed digest per algorithm, in the order asked for. */
  hexes: Map<Algorithm, string>;
  /** Raw digest bytes per algorithm (canonical order). */
  digests: Map<Algorithm, Uint8Array>;
  /** Bytes read. */
  size: number;
}

/** Options for {@link hashFd} and {@link hashPath}. */
export interface HashFileOptions extends HasherOptions, ReadChunksOptions {}

/** Whether `fd` is a regular file (not a pipe, socket, terminal or device); false if fstat fails. */
function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

/** The end of the last read loop this thread started ({@link oneAtATime}). */
let lastRead: Promise<void> = Promise.resolve();

/**
 * Runs read loops on this thread one at a time, in the order asked. A loop gives the event loop
 * a turn now and then ({@link turnDue}), so that Ctrl-C and SIGTERM are handled while a large
 * file (or an endless device) is read; in that turn another loop must not start, or two large
 * files would be read by turns (seeking on a spinning disk) where they are read in order.
 */
async function oneAtATime<T>(loop: () => Promise<T>): Promise<T> {
  const before = lastRead;
  let done!: () => void;
  lastRead = new Promise((resolve) => {
    done = resolve;
  });
  try {
    await before;
    return await loop();
  } finally {
    done();
  }
}

/**
 * Hashes everything readable from an open descriptor (a file, a pipe, stdin) with one or more
 * algorithms in a single pass.
 */
export function hashFd(fd: number, algorithms: readonly Algorithm[], options: HashFileOptions = {}): Promise<FileDigests> {
  return oneAtATime(async () => {
    const set = await createHashers(algorithms, options);
    let size = 0;
    // A hash that outruns the copy from the page cache gains nothing from a reader thread, and
    // loses the cache locality of reading on the hashing core (measured: BENCHMARKS.md).
    const overlap = options.overlap ?? (set.hashers.every(outrunsReading) ? false : undefined);
    for (const chunk of readChunks(fd, { ...options, overlap })) {
      set.update(chunk);
      size += chunk.length;
      const turn = turnDue();
      if (turn) await turn;
    }
    // The end of a pipe may be the signal's doing: Ctrl-C stops `cat` and this tool together,
    // and a digest of what came before it must not be printed as the input's, with exit 0. The
    // signal's handler gets its turn before the digest is given.
    if (!isRegularFile(fd)) await new Promise((resolve) => setImmediate(resolve));
    return {
      hexes: set.hexes(),
      digests: new Map(set.hashers.map((h) => [h.algorithm, h.digest()])),
      size,
    };
  });
}

/**
 * Hashes what is readable from `fd` from where its position is now, moving the position to the
 * end: standard input as the anchors read it (`{ read -r line; b3sum -; } < file` hashes the
 * rest of the file, and a second `-` the nothing that is left). {@link hashFd} reads a regular
 * file from its first byte, whatever its position.
 */
export async function hashFromPosition(fd: number, algorithms: readonly Algorithm[], options: HashFileOptions = {}): Promise<FileDigests> {
  // Pipes and terminals have no position to respect: the chunked reader reads them in order.
  if (!fstatSync(fd).isFile()) return hashFd(fd, algorithms, options);
  return oneAtATime(async () => {
    const set = await createHashers(algorithms, options);
    const buffer = Buffer.allocUnsafe(options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    let size = 0;
    for (;;) {
      const n = fillChunk(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      set.update(buffer.subarray(0, n));
      size += n;
      const turn = turnDue();
      if (turn) await turn;
    }
    return { hexes: set.hexes(), digests: new Map(set.hashers.map((h) => [h.algorithm, h.digest()])), size };
  });
}

function isDirectoryError(): Error {
  return Object.assign(new Error(`EISDIR: illegal operation on a directory, read`), { code: "EISDIR" });
}

/**
 * Opens and hashes a file. Directories are refused with EISDIR, as `read(2)` would. A path
 * holding bytes that are not UTF-8 (lib/core/names.ts) reaches the kernel as those bytes.
 * @example
 * const { hexes } = await hashPath("clip.mov", ["xxh64", "md5"]);
 */
export async function hashPath(path: string, algorithms: readonly Algorithm[], options: HashFileOptions = {}): Promise<FileDigests> {
  // Opening a FIFO waits for its writer, as the anchors' open does: what is done is let out first.
  await guardedWait(path);
  const fd = openSync(fsPath(path), "r");
  try {
    return await hashOpenedPath(fd, algorithms, options);
  } finally {
    closeSync(fd);
  }
}

/**
 * {@link hashPath} of a path the caller has opened: whatever it turned out to be (a FIFO, a
 * device) is read as the anchors read it, a folder refused with EISDIR. The descriptor stays open.
 */
export async function hashOpenedPath(fd: number, algorithms: readonly Algorithm[], options: HashFileOptions = {}): Promise<FileDigests> {
  if (fstatSync(fd).isDirectory()) throw isDirectoryError();
  return hashFd(fd, algorithms, options);
}

/**
 * Hashes a file the caller opened (beneath a held folder, without following a link out of it),
 * leaving the descriptor open. Only a regular file is read: a folder is refused with EISDIR,
 * and a FIFO, socket or device (which may never end, or block) with EFTYPE.
 */
export async function hashOpenFile(fd: number, algorithms: readonly Algorithm[], options: HashFileOptions = {}): Promise<FileDigests> {
  return hashOpenFileNow(fd, algorithms, options) ?? hashFd(fd, algorithms, options);
}

/**
 * {@link hashOpenFile} for a small file once its engines are loaded, on this thread without
 * waiting on anything (a promise per file costs more than hashing it); undefined for a file
 * only {@link hashFd} reads (large, or with reading options), which the caller then hands to it.
 * `regularSize`: the caller has just seen with fstat that `fd` is a regular file of this size
 * (not asked again).
 * @throws like {@link hashOpenFile} for what is not a regular file.
 */
export function hashOpenFileNow(fd: number, algorithms: readonly Algorithm[], options: HashFileOptions = {}, regularSize?: number): FileDigests | undefined {
  let size = regularSize;
  if (size === undefined) {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) throw isDirectoryError();
    if (!stats.isFile()) throw explainedError("EFTYPE", "not a regular file (a FIFO, socket or device), not read");
    size = stats.size;
  }
  // `overlap: false` (`--jobs 1`: one thread) is what this does anyway; only asking for a reader
  // thread, or for a chunk size, sends a small file to hashFd.
  if (size >= ONE_READ_BYTES || options.chunkSize !== undefined || options.overlap === true) return undefined;
  const set = createHashersNow(algorithms, options);
  return set ? hashSmallFile(fd, set) : undefined;
}

/** Files up to this size are read in one go on the calling thread (no reader thread, no chunk ring). */
export const ONE_READ_BYTES = 1 << 20;
let oneReadBuffer: Buffer | undefined;

/**
 * A small regular file hashed without waiting on anything: read from its first byte into a
 * buffer this thread keeps, to a read that gives nothing, as the chunked reader reads: a short
 * read is not the end everywhere (a FUSE file system with direct I/O gives what it has, and a
 * size that says less).
 */
function hashSmallFile(fd: number, set: HasherSet): FileDigests {
  const buffer = (oneReadBuffer ??= Buffer.allocUnsafe(ONE_READ_BYTES));
  let size = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buffer, 0, buffer.length, size);
    } catch (error) {
      // O_NONBLOCK from the open: a file system that says "again" is asked again, as fillChunk does.
      if ((error as { code?: string }).code !== "EAGAIN") throw error;
      n = fillChunk(fd, buffer, 0, buffer.length, size);
    }
    if (n === 0) break;
    set.update(buffer.subarray(0, n));
    size += n;
  }
  const hexes = new Map<Algorithm, string>();
  const digests = new Map<Algorithm, Uint8Array>();
  for (const hasher of set.hashers) {
    digests.set(hasher.algorithm, hasher.digest());
    hexes.set(hasher.algorithm, hasher.hex());
  }
  return { hexes, digests, size };
}
