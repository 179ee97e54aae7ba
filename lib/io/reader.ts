/**
 * The chunked reader: a file front to back in 256 KiB chunks, never memory-mapped (a pulled card
 * would kill the process with SIGBUS instead of giving an I/O error).
 *
 * Reads into a buffer the thread keeps beat reads through the thread pool (BENCHMARKS.md). On
 * the main thread, large files and pipes go through a read ring (lib/thread/ring.ts, producer
 * "lanes", lib/io/read_lane.ts): a reader thread (lib/io/read_worker.ts) claims chunks and copies them into the ring
 * while this thread hashes, and this thread reads a chunk nobody has claimed yet itself rather
 * than wait. So fast hashes (XXH3 hashes faster than the page cache can be copied) get two cores
 * copying, and slow ones (SHA-256) get all the reading done behind them. A pipe is read by the
 * reader thread only (its order is the thread's). Small files, and every file read inside a
 * worker (`--jobs N` already keeps the cores busy), are read synchronously.
 */
import { fstatSync } from "node:fs";
import { isMainThread } from "node:worker_threads";
import { guardWaitOn } from "../core/interrupt_guard.ts";
import { fillChunk } from "./fill.ts";
import { readLane, type ReadJob } from "./read_lane.ts";
import { Ring } from "../thread/ring.ts";
import { KeptThreads } from "../thread/spawn.ts";

/** Options for {@link readChunks}. */
export interface ReadChunksOptions {
  /**
   * Bytes per chunk.
   * @default 262144
   */
  chunkSize?: number;
  /**
   * Read on a second thread while the caller works on the previous chunk. By default on for
   * pipes and for files of at least {@link OVERLAP_MIN_BYTES}, on the main thread only.
   */
  overlap?: boolean;
}

/** Default chunk size: 256 KiB (measured fastest here with the ring; BENCHMARKS.md). */
export const DEFAULT_CHUNK_SIZE = 256 << 10;
/** Files smaller than this are read on the calling thread. */
export const OVERLAP_MIN_BYTES = 4 << 20;
const RING_SLOTS = 4;

/**
 * Buffers this thread keeps and reuses (fresh pages would be faulted in and zeroed for every
 * file). Readers that are open at the same time (copies in flight together) each get their own.
 */
const freeBuffers = new Map<number, Buffer[]>();

function takeBuffer(size: number): Buffer {
  return freeBuffers.get(size)?.pop() ?? Buffer.allocUnsafe(size);
}

function giveBack(buffer: Buffer): void {
  const list = freeBuffers.get(buffer.length) ?? [];
  list.push(buffer);
  freeBuffers.set(buffer.length, list);
}

/**
 * Yields the bytes readable from `fd` in order, as views that are valid only until the loop
 * asks for the next chunk. Works for regular files (positioned reads from offset 0) and for
 * pipes, terminals and stdin (sequential reads).
 * @example
 * declare const fd: number, hasher: { update(chunk: Uint8Array): void };
 * for (const chunk of readChunks(fd)) hasher.update(chunk);
 */
export function readChunks(fd: number, options: ReadChunksOptions = {}): Generator<Uint8Array> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const stats = fstatSync(fd);
  const positioned = stats.isFile();
  // The wait for a reader thread's next chunk holds this thread as a read would.
  if (!positioned) guardWaitOn(fd);
  const overlap = options.overlap ?? (isMainThread && (!positioned || stats.size >= OVERLAP_MIN_BYTES));
  return overlap ? readOverlapped(fd, positioned, chunkSize) : readHere(fd, positioned, chunkSize);
}

function* readHere(fd: number, positioned: boolean, chunkSize: number): Generator<Uint8Array> {
  const buffer = takeBuffer(chunkSize);
  try {
    let position = 0;
    for (;;) {
      const n = fillChunk(fd, buffer, 0, chunkSize, positioned ? position : null);
      if (n === 0) return;
      position += n;
      yield buffer.subarray(0, n);
      if (positioned && n < chunkSize) return;
    }
  } finally {
    giveBack(buffer);
  }
}

/** The reader thread serves one file at a time; other readers meanwhile read on their own thread. */
const readers = new KeptThreads("read");

function* readOverlapped(fd: number, positioned: boolean, chunkSize: number): Generator<Uint8Array> {
  // Decided when reading starts, not when the generator is made: another reader may hold the thread.
  const threads = readers.borrow(1);
  if (!threads) {
    yield* readHere(fd, positioned, chunkSize);
    return;
  }
  // One ring per chunk size, reused file after file.
  const ring = Ring.open({ producer: "lanes", slots: RING_SLOTS, slotBytes: chunkSize, lanes: 1 });
  try {
    ring.start<ReadJob>({ worker: "read", params: [{ fd, positioned }], threads, work: readLane, callerClaims: positioned });
    for (let k = 0; ; k++) {
      const length = ring.next(k, "read failed");
      if (length <= 0) return;
      yield ring.bytes(k);
      ring.recycle();
      if (positioned && length < chunkSize) return;
    }
  } finally {
    // The reader thread stops and lets go before the caller closes the descriptor.
    ring.release();
    readers.giveBack();
  }
}
