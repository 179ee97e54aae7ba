/**
 * One stream of chunks written to several files at once, each file by its own writer thread
 * (lib/io/fanout_worker.ts), through a ring of shared buffers: the calling thread reads each
 * chunk straight into the next free buffer and hashes it there, and every writer thread writes
 * it to its file at that file's pace. A buffer is reused once every file still being written
 * has written it. Each thread reserves its file's blocks first and can start write-back as it
 * goes ({@link FanoutOptions.size}, {@link FanoutFile.writeback}).
 *
 * Measured (1 GiB to three destinations, BENCHMARKS.md): writes through the thread pool, each
 * chunk awaited by every destination before the next, left the cores idle between chunks and
 * took about twice as long as three `cp`; with a thread per destination the copy keeps up with
 * them.
 *
 * One fan-out uses the threads at a time ({@link Fanout.open} returns undefined while another
 * holds them, and the caller writes its own way). A writer thread that has not started within
 * a few seconds is replaced by the calling thread for its file.
 */
import { errnoError, errnoOf } from "../core/errors.ts";
import { writeAll } from "./atomic_file.ts";
import { workerUrl } from "../thread/worker_url.ts";

/** Counter indexes in the control array (shared with lib/io/fanout_worker.ts). */
export const FANOUT = {
  /** Chunks handed over. */
  posted: 0,
  /** Set when no more chunks will come (finished or given up). */
  stop: 1,
  /** First of the per-file counters, {@link FANOUT_PER_FILE} each. */
  files: 2,
} as const;

/**
 * Per file: chunks written; errno of a failed write (0: none); who writes it, in one field so
 * that taking it is one atomic step (the caller sets the job's id, the thread takes it by
 * swapping id for -id, the caller takes it back by swapping id for 0 and then writes the file
 * itself); and 1 while the thread works on the file.
 */
export const FANOUT_PER_FILE = 4;
export const FILE = { written: 0, errno: 1, owner: 2, busy: 3 } as const;

/** Control array index of file `i`'s counter `field`. */
export function fileField(i: number, field: number): number {
  return FANOUT.files + FANOUT_PER_FILE * i + field;
}

/** Control array index of a slot's length, for a fan-out to `files` files. */
export function slotLength(files: number, slot: number): number {
  return FANOUT.files + FANOUT_PER_FILE * files + slot;
}

/** What a writer thread is sent for one file of a fan-out. */
export interface FanoutJob {
  id: number;
  /** Which file of the fan-out. */
  index: number;
  files: number;
  fd: number;
  /** Bytes to reserve before writing (0: none); see {@link FanoutOptions.size}. */
  reserve: number;
  /** Start write-back every {@link WRITEBACK_BYTES}; see {@link FanoutFile.writeback}. */
  writeback: boolean;
  data: SharedArrayBuffer;
  control: SharedArrayBuffer;
  slots: number;
  chunkSize: number;
}

/** Most files one fan-out writes (one thread each). */
export const FANOUT_MAX_FILES = 8;
/** Bytes in the ring: 16 chunks of 256 KiB, so a destination may run 4 MiB ahead of the slowest. */
const RING_BYTES = 4 << 20;
/** Most and fewest buffers in the ring (large chunks: at least two, one filled while the other is written). */
const MAX_SLOTS = 16;
const MIN_SLOTS = 2;
/** How long a writer thread may take to start before the calling thread writes its file. */
const START_MS = 3000;
/** Longest this thread blocks at a time waiting for the writer threads. */
const WAIT_SLICE_MS = 20;

/**
 * Bytes a writer thread writes between two starts of write-back. Measured (1 GiB to three
 * destinations on one disk, each file reserved first, memory in the same state before each run
 * as in bench/copy.ts): 8 MiB 1.52 s, 32 MiB 1.74 s, none 1.66 s, medians of five interleaved
 * runs; three `cp` and a `sync`: 1.64 s.
 */
export const WRITEBACK_BYTES = 8 << 20;

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
   * written side by side on one disk are not interleaved with each other (with write-back every
   * 8 MiB, 1 GiB copies came out in about 100 pieces each, and in 2 to 4 with the reservation),
   * and a file that cannot fit fails before a byte of it is written.
   */
  size?: number;
  /** The writer threads' script, when not lib/io/fanout_worker.ts (tests). */
  workerScript?: string;
}

let threads: Worker[] = [];
let threadScript: string | undefined;
let inUse = false;
let lastJob = 0;
const rings = new Map<string, { data: SharedArrayBuffer; control: SharedArrayBuffer }>();

function thread(i: number, script: string): Worker {
  if (script !== threadScript) {
    for (const t of threads) t.terminate();
    threads = [];
    threadScript = script;
  }
  while (threads.length <= i) {
    const worker = new Worker(script);
    worker.unref();
    threads.push(worker);
  }
  return threads[i]!;
}

/** A file whose write failed: its index in the fan-out and the error (its `code` is ENOSPC, EIO…). */
export interface FanoutFailure {
  index: number;
  error: Error & { code?: string; errno: number };
}

/** One stream of chunks being written to several files. */
export class Fanout {
  readonly #fds: number[];
  readonly #chunkSize: number;
  readonly #slots: number;
  readonly #data: Uint8Array;
  readonly #control: Int32Array;
  readonly #ids: number[];
  readonly #started = performance.now();
  #posted = 0;
  /** Files whose failure was reported; they no longer hold buffers back. */
  readonly #dropped = new Set<number>();
  #closed = false;

  private constructor(files: FanoutFile[], chunkSize: number, options: FanoutOptions, script: string) {
    const fds = files.map((f) => f.fd);
    this.#fds = fds;
    this.#chunkSize = chunkSize;
    this.#slots = Math.max(MIN_SLOTS, Math.min(MAX_SLOTS, Math.floor(RING_BYTES / chunkSize)));
    // One ring per shape, reused file after file (the threads have let go of it when the last fan-out closed).
    const key = `${chunkSize}/${fds.length}`;
    let ring = rings.get(key);
    if (!ring) {
      ring = { data: new SharedArrayBuffer(this.#slots * chunkSize), control: new SharedArrayBuffer(4 * slotLength(fds.length, this.#slots)) };
      rings.set(key, ring);
    }
    this.#data = new Uint8Array(ring.data);
    this.#control = new Int32Array(ring.control);
    this.#control.fill(0);
    this.#ids = fds.map(() => ++lastJob);
    for (const [i, fd] of fds.entries()) {
      Atomics.store(this.#control, fileField(i, FILE.owner), this.#ids[i]!);
      const job: FanoutJob = {
        id: this.#ids[i]!, index: i, files: fds.length, fd, reserve: options.size ?? 0, writeback: files[i]!.writeback ?? false,
        data: ring.data, control: ring.control, slots: this.#slots, chunkSize,
      };
      thread(i, script).postMessage(job);
    }
  }

  /**
   * Starts a fan-out to `files`, or returns undefined when another fan-out holds the threads or
   * the file count is out of range.
   */
  static open(files: FanoutFile[], chunkSize: number, options: FanoutOptions = {}): Fanout | undefined {
    if (inUse || files.length === 0 || files.length > FANOUT_MAX_FILES) return undefined;
    inUse = true;
    return new Fanout(files, chunkSize, options, options.workerScript ?? workerUrl(import.meta.url, "lib/io/fanout.ts", "lib/io/fanout_worker.ts"));
  }

  /**
   * The buffer for the next chunk (the chunk size the fan-out was opened with). When the ring is full it waits
   * until half of it is free again; a wait that lasts lets this thread's other work run between
   * short blocking waits (Bun's Atomics.waitAsync spins a core while it waits, measured: 1 s of
   * CPU for a 1 s wait, which the writer threads need).
   */
  buffer(): Uint8Array | Promise<Uint8Array> {
    const reuse = this.#posted - this.#slots + 1;
    if (reuse <= 0) return this.#slot(this.#posted);
    const count = Math.min(this.#posted, reuse + Math.floor(this.#slots / 2) - 1);
    if (this.#allWritten(reuse) || this.#waitAll(count)) return this.#slot(this.#posted);
    return this.#waitLonger(count).then(() => this.#slot(this.#posted));
  }

  /** Hands the first `length` bytes of the last {@link buffer} to every file, at the next position. */
  commit(length: number): void {
    const k = this.#posted;
    Atomics.store(this.#control, slotLength(this.#fds.length, k % this.#slots), length);
    this.#posted = k + 1;
    Atomics.store(this.#control, FANOUT.posted, this.#posted);
    Atomics.notify(this.#control, FANOUT.posted);
    // Files whose thread never started are written here, now.
    for (let i = 0; i < this.#fds.length; i++) if (this.#ownedHere(i) && !this.#done(i)) this.#writeHere(i, this.#posted);
  }

  /** Files whose writes failed since they were last asked about. Their threads have let go of them. */
  failures(): FanoutFailure[] {
    const out: FanoutFailure[] = [];
    for (let i = 0; i < this.#fds.length; i++) {
      if (this.#dropped.has(i)) continue;
      const errno = Atomics.load(this.#control, fileField(i, FILE.errno));
      if (errno === 0) continue;
      // The thread stores the errno, then lets go: wait for that before the caller closes the file.
      if (!this.#ownedHere(i)) this.#waitIdle(i);
      out.push({ index: i, error: errnoError(errno, "write failed") });
      this.#dropped.add(i);
    }
    return out;
  }

  /**
   * Waits until every chunk handed over is written to every file still being written, then lets
   * the threads go. Returns the failures not yet reported by {@link failures}.
   */
  async finish(): Promise<FanoutFailure[]> {
    if (!this.#waitAll(this.#posted)) await this.#waitLonger(this.#posted);
    const failed = this.failures();
    this.close();
    return failed;
  }

  /** Stops the threads (what they have not written is dropped) and waits until they let go of the files. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#control, FANOUT.stop, 1);
    Atomics.notify(this.#control, FANOUT.posted);
    for (let i = 0; i < this.#fds.length; i++) {
      // A thread that has not taken its job yet never will: take it back so that it stays away.
      Atomics.compareExchange(this.#control, fileField(i, FILE.owner), this.#ids[i]!, 0);
      this.#waitIdle(i);
    }
    inUse = false;
  }

  #slot(k: number): Uint8Array {
    const slot = k % this.#slots;
    return this.#data.subarray(slot * this.#chunkSize, (slot + 1) * this.#chunkSize);
  }

  #ownedHere(i: number): boolean {
    return Atomics.load(this.#control, fileField(i, FILE.owner)) === 0;
  }

  /** File `i` needs nothing more: reported failed, or failed since. */
  #done(i: number): boolean {
    return this.#dropped.has(i) || Atomics.load(this.#control, fileField(i, FILE.errno)) !== 0;
  }

  #allWritten(count: number): boolean {
    for (let i = 0; i < this.#fds.length; i++) {
      if (!this.#done(i) && Atomics.load(this.#control, fileField(i, FILE.written)) < count) return false;
    }
    return true;
  }

  /**
   * Waits, blocking this thread for at most {@link WAIT_SLICE_MS}, until every file still being
   * written has written `count` chunks; false when they have not yet.
   */
  #waitAll(count: number): boolean {
    const until = performance.now() + WAIT_SLICE_MS;
    for (let i = 0; i < this.#fds.length; i++) {
      for (;;) {
        if (this.#done(i)) break;
        const writtenAt = fileField(i, FILE.written);
        const written = Atomics.load(this.#control, writtenAt);
        if (written >= count) break;
        const now = performance.now();
        if (this.#ownedHere(i) || (now - this.#started > START_MS && Atomics.compareExchange(this.#control, fileField(i, FILE.owner), this.#ids[i]!, 0) === this.#ids[i]!)) {
          this.#writeHere(i, count);
          continue;
        }
        if (now >= until) return false;
        Atomics.wait(this.#control, writtenAt, written, until - now);
      }
    }
    return true;
  }

  /** {@link #waitAll} for as long as it takes, letting this thread's other work run in between. */
  async #waitLonger(count: number): Promise<void> {
    while (!this.#waitAll(count)) await new Promise((resolve) => setImmediate(resolve));
  }

  #waitIdle(i: number): void {
    const busy = fileField(i, FILE.busy);
    while (Atomics.load(this.#control, busy) === 1) Atomics.wait(this.#control, busy, 1, 50);
  }

  /** Writes file `i`'s chunks up to `count` on this thread. */
  #writeHere(i: number, count: number): void {
    const files = this.#fds.length;
    for (let k = Atomics.load(this.#control, fileField(i, FILE.written)); k < count; k++) {
      const slot = k % this.#slots;
      const length = Atomics.load(this.#control, slotLength(files, slot));
      try {
        writeAll(this.#fds[i]!, this.#data.subarray(slot * this.#chunkSize, slot * this.#chunkSize + length), k * this.#chunkSize);
      } catch (error) {
        Atomics.store(this.#control, fileField(i, FILE.errno), errnoOf(error));
        return;
      }
      Atomics.store(this.#control, fileField(i, FILE.written), k + 1);
    }
  }
}
