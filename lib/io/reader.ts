/**
 * The chunked reader: a file front to back in 256 KiB chunks, never memory-mapped (a pulled card
 * would kill the process with SIGBUS instead of giving an I/O error).
 *
 * Measured here (BENCHMARKS.md): reads into a buffer the thread keeps beat reads through the
 * thread pool; and on the main thread, a reader thread filling a shared ring while this thread
 * hashes lets reading and hashing use both cores. Small files, and every file read inside a
 * worker (`--jobs N` already keeps the cores busy), are read synchronously.
 */
import { fstatSync } from "node:fs";
import { isMainThread } from "node:worker_threads";
import { errnoError } from "../core/errors.ts";
import { fillChunk } from "./fill.ts";
import { controlLength, lengthIndex, NO_EOF, RING, type RingJob } from "./ring.ts";
import { workerUrl } from "../thread/worker_url.ts";

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
/** How long the caller waits for the reader thread to start before reading a pipe itself. */
const READER_START_MS = 3000;

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

/** The reader thread serves one file at a time; other readers meanwhile read on their own thread. */
let ringInUse = false;

/**
 * Yields the bytes readable from `fd` in order, as views that are valid only until the loop
 * asks for the next chunk. Works for regular files (positioned reads from offset 0) and for
 * pipes, terminals and stdin (sequential reads).
 * @example
 * for (const chunk of readChunks(fd)) hasher.update(chunk);
 */
export function readChunks(fd: number, options: ReadChunksOptions = {}): Generator<Uint8Array> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const stats = fstatSync(fd);
  const positioned = stats.isFile();
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

let readerThread: Worker | undefined;

function reader(): Worker {
  if (!readerThread) {
    readerThread = new Worker(workerUrl(import.meta.url, "lib/io/reader.ts", "lib/io/read_worker.ts"));
    readerThread.unref();
  }
  return readerThread;
}

const keptRings = new Map<number, { data: SharedArrayBuffer; control: SharedArrayBuffer }>();
let lastJobId = 0;

function* readOverlapped(fd: number, positioned: boolean, chunkSize: number): Generator<Uint8Array> {
  // Decided when reading starts, not when the generator is made: another reader may hold the ring.
  if (ringInUse) {
    yield* readHere(fd, positioned, chunkSize);
    return;
  }
  ringInUse = true;
  try {
    yield* readRing(fd, positioned, chunkSize);
  } finally {
    ringInUse = false;
  }
}

function* readRing(fd: number, positioned: boolean, chunkSize: number): Generator<Uint8Array> {
  const slots = RING_SLOTS;
  // One ring per chunk size, reused file after file (the reader has let go of it when the
  // previous file ended, see `finally` below).
  let ring = keptRings.get(chunkSize);
  if (!ring) {
    ring = { data: new SharedArrayBuffer(slots * chunkSize), control: new SharedArrayBuffer(4 * controlLength(slots)) };
    keptRings.set(chunkSize, ring);
  }
  const job: RingJob = { id: ++lastJobId, fd, positioned, data: ring.data, control: ring.control, slots, chunkSize };
  const control = new Int32Array(job.control);
  const data = new Uint8Array(job.data);
  control.fill(0);
  Atomics.store(control, RING.eofAt, NO_EOF);
  Atomics.store(control, RING.job, job.id);
  Atomics.store(control, RING.busy, 1);
  reader().postMessage(job);
  const posted = performance.now();
  try {
    for (let k = 0; ; k++) {
      const slot = k % slots;
      const offset = slot * chunkSize;
      let length: number;
      for (;;) {
        const tag = Atomics.load(control, RING.tags + slot);
        if (tag === k + 1) {
          length = Atomics.load(control, lengthIndex(slots, slot));
          break;
        }
        const errno = Atomics.load(control, RING.errno);
        if (errno) throw errnoError(errno, "read failed");
        if (k >= Atomics.load(control, RING.eofAt)) return;
        // Not claimed yet: read it here rather than wait (files only; a pipe's order is the reader's).
        if (positioned && Atomics.compareExchange(control, RING.claim, k, k + 1) === k) {
          length = fillChunk(fd, data, offset, chunkSize, k * chunkSize);
          break;
        }
        // Sleep until the slot's tag moves on from the value seen above (never a later one:
        // the reader may have tagged the slot meanwhile, and that wake-up must not be missed).
        Atomics.wait(control, RING.tags + slot, tag, 100);
        // A reader thread that never starts (it failed to load) must not leave a pipe unread.
        if (k === 0 && performance.now() - posted > READER_START_MS && Atomics.compareExchange(control, RING.job, job.id, 0) === job.id) {
          yield* readHere(fd, positioned, chunkSize);
          return;
        }
      }
      if (length === 0) return;
      yield data.subarray(offset, offset + length);
      Atomics.store(control, RING.consumed, k + 1);
      Atomics.notify(control, RING.consumed);
      if (positioned && length < chunkSize) return;
    }
  } finally {
    // Stop the reader thread and wait until it lets go, before the caller closes the descriptor
    // (unless it never took the job: then it never will).
    Atomics.store(control, RING.cancel, 1);
    Atomics.notify(control, RING.consumed);
    if (Atomics.compareExchange(control, RING.job, job.id, 0) === -job.id) {
      while (Atomics.load(control, RING.busy) === 1) Atomics.wait(control, RING.busy, 1, 50);
    }
  }
}
