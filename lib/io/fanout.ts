/**
 * One stream of chunks written to several files at once, each file by its own writer thread
 * (lib/io/fanout_worker.ts), through a ring of shared buffers (lib/thread/ring.ts, producer
 * "caller", one lane per file): the calling thread reads each chunk straight into the next free
 * buffer and hashes it there, and every writer thread writes it to its file at that file's pace.
 * A buffer is reused once every file still being written has written it. Each thread reserves
 * its file's blocks first and can start write-back as it goes ({@link FanoutOptions.size},
 * {@link FanoutFile.writeback}).
 *
 * Why a thread per destination rather than writes through the thread pool, each chunk awaited by
 * every destination before the next: see BENCHMARKS.md, "Notes on the copy benchmark" (run 10).
 *
 * One fan-out uses the threads at a time ({@link Fanout.open} returns undefined while another
 * holds them, and the caller writes its own way). A writer thread that has not started within
 * a few seconds is replaced by the calling thread for its file.
 */
import { errnoError } from "../core/errors.ts";
import { writeAll } from "./atomic_file.ts";
import { preallocate, startWriteback } from "./libc.ts";
import { Ring, type LaneWork } from "../thread/ring.ts";
import { KeptThreads } from "../thread/spawn.ts";

/** What a writer thread is sent for one file of a fan-out. */
export interface FanoutJob {
  fd: number;
  /** Bytes to reserve before writing (0: none); see {@link FanoutOptions.size}. */
  reserve: number;
  /** Start write-back every {@link WRITEBACK_BYTES}; see {@link FanoutFile.writeback}. */
  writeback: boolean;
}

/** Most files one fan-out writes (one thread each). */
export const FANOUT_MAX_FILES = 8;
/** Bytes in the ring: 16 chunks of 256 KiB, so a destination may run 4 MiB ahead of the slowest. */
const RING_BYTES = 4 << 20;
/** Most and fewest buffers in the ring (large chunks: at least two, one filled while the other is written). */
const MAX_SLOTS = 16;
const MIN_SLOTS = 2;
/** Longest this thread blocks at a time waiting for the writer threads. */
const WAIT_SLICE_MS = 20;

/**
 * Bytes a writer thread writes between two starts of write-back (chosen by measurement: see
 * BENCHMARKS.md, "Notes on the copy benchmark", run 11).
 */
export const WRITEBACK_BYTES = 8 << 20;

/**
 * One file's lane of the ring, on its writer thread or (when that did not start) on the calling
 * thread: reserves the file's blocks, then writes chunk k at offset k × chunk size, starting
 * write-back every {@link WRITEBACK_BYTES} when asked.
 */
export function fanoutLane(ring: Ring, job: FanoutJob): LaneWork {
  const chunkSize = ring.shape.slotBytes;
  let writtenBack = 0;
  return {
    start() {
      const full = preallocate(job.fd, job.reserve);
      if (full) throw Object.assign(new Error(full), { code: full });
    },
    step(k) {
      const bytes = ring.bytes(k);
      writeAll(job.fd, bytes, k * chunkSize);
      const end = k * chunkSize + bytes.length;
      if (job.writeback && end - writtenBack >= WRITEBACK_BYTES) {
        startWriteback(job.fd, writtenBack, end - writtenBack);
        writtenBack = end;
      }
    },
  };
}

/** One file of a fan-out. */
export interface FanoutFile {
  /** Open for writing; chunk k goes to offset k × chunk size. */
  fd: number;
  /**
   * Start writing each 8 MiB to the device as soon as it is written (Linux), so that the
   * device works while the copy goes on and the flush at the end waits for little. Off for
   * files that are not flushed.
   */
  writeback?: boolean;
}

/** Options for {@link Fanout.open}. */
export interface FanoutOptions {
  /**
   * Bytes about to be written: each file reserves them first (Linux fallocate), so that files
   * written side by side on one disk are not interleaved with each other (how much that mattered
   * with write-back on: BENCHMARKS.md, copy notes, run 11), and a file that cannot fit fails
   * before a byte of it is written.
   */
  size?: number;
  /** The writer threads' script, when not lib/io/fanout_worker.ts (tests). */
  workerScript?: string;
}

const writers = new KeptThreads("fanout");

/** A file whose write failed: its index in the fan-out and the error (its `code` is ENOSPC, EIO…). */
export interface FanoutFailure {
  index: number;
  error: Error & { code?: string; errno: number };
}

/** One stream of chunks being written to several files. */
export class Fanout {
  readonly #ring: Ring;
  readonly #files: number;
  /** Files whose failure was reported. */
  readonly #reported = new Set<number>();
  #closed = false;

  private constructor(files: FanoutFile[], chunkSize: number, options: FanoutOptions, threads: Worker[]) {
    this.#files = files.length;
    const slots = Math.max(MIN_SLOTS, Math.min(MAX_SLOTS, Math.floor(RING_BYTES / chunkSize)));
    // One ring per shape, reused file after file.
    this.#ring = Ring.open({ producer: "caller", slots, slotBytes: chunkSize, lanes: files.length });
    this.#ring.start<FanoutJob>({
      worker: "fanout",
      params: files.map((f) => ({ fd: f.fd, reserve: options.size ?? 0, writeback: f.writeback ?? false })),
      threads,
      work: fanoutLane,
    });
  }

  /**
   * Starts a fan-out to `files`, or returns undefined when another fan-out holds the threads or
   * the file count is out of range.
   */
  static open(files: FanoutFile[], chunkSize: number, options: FanoutOptions = {}): Fanout | undefined {
    if (files.length === 0 || files.length > FANOUT_MAX_FILES) return undefined;
    const threads = writers.borrow(files.length, options.workerScript);
    return threads && new Fanout(files, chunkSize, options, threads);
  }

  /**
   * The buffer for the next chunk (the chunk size the fan-out was opened with). When the ring is
   * full it waits until half of it is free again; a wait that lasts lets this thread's other
   * work run between short blocking waits (Bun's Atomics.waitAsync keeps a core busy while it
   * waits, and the writer threads need it: BENCHMARKS.md, copy notes, run 10).
   */
  buffer(): Uint8Array | Promise<Uint8Array> {
    const ring = this.#ring;
    const posted = ring.head;
    const slots = ring.shape.slots;
    const reuse = posted - slots + 1;
    if (reuse <= 0 || ring.waitDone(reuse, 0)) return ring.slot(posted);
    const count = Math.min(posted, reuse + Math.floor(slots / 2) - 1);
    if (ring.waitDone(count, performance.now() + WAIT_SLICE_MS)) return ring.slot(posted);
    return this.#waitLonger(count).then(() => ring.slot(posted));
  }

  /** Hands the first `length` bytes of the last {@link buffer} to every file, at the next position. */
  commit(length: number): void {
    this.#ring.commit(length);
  }

  /** Files whose writes failed since they were last asked about. Their threads have let go of them. */
  failures(): FanoutFailure[] {
    const out: FanoutFailure[] = [];
    for (let i = 0; i < this.#files; i++) {
      if (this.#reported.has(i)) continue;
      const failure = this.#ring.failure(i);
      if (!failure) continue;
      out.push({ index: i, error: errnoError(failure.errno, "write failed") });
      this.#reported.add(i);
    }
    return out;
  }

  /**
   * Waits until every chunk handed over is written to every file still being written, then lets
   * the threads go. Returns the failures not yet reported by {@link failures}.
   */
  async finish(): Promise<FanoutFailure[]> {
    const posted = this.#ring.head;
    if (!this.#ring.waitDone(posted, performance.now() + WAIT_SLICE_MS)) await this.#waitLonger(posted);
    const failed = this.failures();
    this.close();
    return failed;
  }

  /** Stops the threads (what they have not written is dropped) and waits until they let go of the files. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ring.release();
    writers.giveBack();
  }

  /** Waits until every file still being written has written `count` chunks, letting this thread's other work run in between. */
  async #waitLonger(count: number): Promise<void> {
    while (!this.#ring.waitDone(count, performance.now() + WAIT_SLICE_MS)) await new Promise((resolve) => setImmediate(resolve));
  }
}
