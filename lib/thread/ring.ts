/**
 * A ring of shared buffers between the calling thread and threads that work beside it without
 * a message per buffer: `slots` buffers of `slotBytes` bytes, and counters in shared memory that
 * both sides read and wait on. Slot number k (0, 1, 2 …) always lives in buffer k % slots.
 *
 * Each thread works one lane of the ring, and takes its lane's job with the handshake of
 * lib/thread/handshake.ts. A lane whose thread has not started within {@link THREAD_START_MS}
 * is taken back and worked on the calling thread, with the same code: a {@link LaneWork} is
 * made from the lane's parameters on whichever thread works the lane. So a thread that never
 * starts (a compiled binary without its entry point, say) costs speed, never data.
 *
 * Who fills the slots is the ring's shape:
 * - `producer: "caller"`: the calling thread fills slot after slot ({@link Ring.slot},
 *   {@link Ring.commit}) and every lane works on every slot, in order, at its own pace; a
 *   buffer is filled again once every lane still working has done with it ({@link
 *   Ring.waitDone}). The fan-out writer (one lane per destination) and the virtual-tape writer.
 * - `producer: "lanes"`: lanes claim slot numbers and fill them, the calling thread consumes
 *   them in order ({@link Ring.next}, {@link Ring.recycle}) and, when asked, fills a slot nobody
 *   has claimed yet itself rather than wait. The read ring.
 *
 * A ring's shared memory is kept and reused job after job ({@link Ring.open}): fresh pages would
 * be faulted in and zeroed for every file.
 */
import { errnoError, errnoOf } from "../core/errors.ts";
import type { WorkerName } from "./entry_points.ts";
import { reportThreadFallback } from "./fallback.ts";
import { jobKept, jobTaken, newJobId, offerJob, takeBackJob, takeJob, THREAD_START_MS } from "./handshake.ts";

declare const self: Worker;

/** The size and kind of a ring, fixed when its shared memory is made. */
export interface RingShape {
  /** Who fills the slots: the calling thread (lanes consume) or the lanes (the calling thread consumes). */
  producer: "caller" | "lanes";
  /** Buffers in the ring. */
  slots: number;
  /** Bytes per buffer. */
  slotBytes: number;
  /** Lanes, one thread each. */
  lanes: number;
  /**
   * Words of metadata per slot besides its length (a record's partition and block, say).
   * @default 0
   */
  metaWords?: number;
}

/** Largest slot number: the end, while it is not known. */
export const NO_END = 0x7fffffff;

// The control array: ring counters, then each lane's, then each slot's.
/** Slots the calling thread has committed (producer "caller") or consumed (producer "lanes"). */
const HEAD = 0;
/** Set by the calling thread: the lanes stop. */
const STOP = 1;
/** Next slot number nobody has claimed (producer "lanes"). */
const CLAIM = 2;
/** First slot number past the end (producer "lanes"). */
const END = 3;
const RING_WORDS = 4;
/** A lane's job, by the handshake's encoding. */
const OWNER = 0;
/**
 * 1 from when the lane is offered until its thread, if it took the job, lets go of the ring:
 * the calling thread waits for 0 before it reuses the ring or closes what the job uses.
 */
const BUSY = 1;
/** Slots the lane has done: consumed, or (producer "lanes") the last it filled + 1. */
const DONE = 2;
/** errno of the lane's failure (0: none). */
const ERRNO = 3;
/** Slot number the lane failed at (-1: before its first). */
const FAILED_AT = 4;
const LANE_WORDS = 5;
/** Slot number + 1 of what the slot holds, set when a lane has filled it (producer "lanes"). */
const SEQ = 0;
/** Bytes in the slot. */
const LENGTH = 1;
const SLOT_WORDS = 2;

/** Words of a ring's control array. */
function controlWords(shape: RingShape): number {
  return RING_WORDS + LANE_WORDS * shape.lanes + (SLOT_WORDS + (shape.metaWords ?? 0)) * shape.slots;
}

/** What a lane's thread is sent: the ring, its lane, its job id, and what its work needs. */
export interface LaneJob<P> {
  id: number;
  lane: number;
  shape: RingShape;
  data: SharedArrayBuffer;
  control: SharedArrayBuffer;
  params: P;
}

/**
 * A lane's work on slots, the same on a lane's thread and on the calling thread. An error it
 * throws (with an errno `code`) fails the lane, and the calling thread is told.
 */
export interface LaneWork {
  /** Before the first slot (a file's blocks reserved, say). */
  start?(): void;
  /**
   * Slot `k`. With producer "caller", it consumes the slot's bytes ({@link Ring.bytes}); with
   * producer "lanes", it fills {@link Ring.slot}, sets {@link Ring.setLength} and marks the end
   * ({@link Ring.endAt}) when `k` is the last.
   */
  step(k: number): void;
}

/** Makes a lane's work from the ring and the lane's parameters. */
export type LaneWorkFactory<P> = (ring: Ring, params: P) => LaneWork;

/** How {@link Ring.start} starts a job. */
export interface RingStart<P> {
  /** The lanes' threads' entry point, for messages. */
  worker: WorkerName;
  /** Per lane, what its work needs (a descriptor, a folder…): sent to its thread as they are. */
  params: P[];
  /** Per lane, its thread; a lane without one is worked on the calling thread from the start. */
  threads: readonly Worker[];
  /** The lanes' work, for lanes worked on the calling thread (and, producer "lanes", for slots it fills). */
  work: LaneWorkFactory<P>;
  /** Told when a lane's thread did not start in time and the lane is worked on the calling thread. */
  onKept?: (lane: number) => void;
  /** Producer "lanes": the calling thread fills a slot nobody has claimed instead of waiting for it. */
  callerClaims?: boolean;
  /**
   * How long a thread may take to start.
   * @default 3000 ({@link THREAD_START_MS})
   */
  startTimeoutMs?: number;
}

/** Why a lane failed: the errno, and the slot number it failed at (-1: before its first). */
export interface LaneFailure {
  errno: number;
  at: number;
}

/** Longest the calling thread blocks at a time before it looks again for a thread that never started. */
const WAIT_SLICE_MS = 100;

/** Shared memory of rings no job uses now, by shape. */
const spare = new Map<string, { data: SharedArrayBuffer; control: SharedArrayBuffer }[]>();

function shapeKey(shape: RingShape): string {
  return `${shape.producer}/${shape.slots}/${shape.slotBytes}/${shape.lanes}/${shape.metaWords ?? 0}`;
}

/** A ring of shared buffers; see the file's comment. */
export class Ring {
  readonly shape: RingShape;
  readonly #data: Uint8Array;
  readonly #control: Int32Array;
  readonly #slotWords: number;
  readonly #slotsAt: number;
  // The calling thread's side.
  #start: RingStart<unknown> | undefined;
  #ids: number[] = [];
  /** Per lane: known to be taken by its thread or kept here (no more to look at). */
  #settled: boolean[] = [];
  /** Per lane kept here: its work, made when first needed. */
  #here: (LaneWork | undefined)[] = [];
  /** Producer "lanes": the work the calling thread fills slots with. */
  #own: LaneWork | undefined;
  #startedAt = 0;
  #released = false;

  private constructor(shape: RingShape, data: SharedArrayBuffer, control: SharedArrayBuffer) {
    if (control.byteLength !== 4 * controlWords(shape) || data.byteLength !== shape.slots * shape.slotBytes) throw new Error("ring layout mismatch");
    this.shape = shape;
    this.#data = new Uint8Array(data);
    this.#control = new Int32Array(control);
    this.#slotWords = SLOT_WORDS + (shape.metaWords ?? 0);
    this.#slotsAt = RING_WORDS + LANE_WORDS * shape.lanes;
  }

  /** On the calling thread: a ring of this shape, with the shared memory of an earlier one no job uses any more. */
  static open(shape: RingShape): Ring {
    const memory = spare.get(shapeKey(shape))?.pop() ?? { data: new SharedArrayBuffer(shape.slots * shape.slotBytes), control: new SharedArrayBuffer(4 * controlWords(shape)) };
    return new Ring(shape, memory.data, memory.control);
  }

  /** On a lane's thread: the ring its job is on. */
  static of(job: LaneJob<unknown>): Ring {
    return new Ring(job.shape, job.data, job.control);
  }

  // ------------------------------------------------------------ slots (both sides)

  /** Every slot's buffer, one after another: slot k from {@link offset}(k), {@link RingShape.slotBytes} long. */
  get data(): Uint8Array {
    return this.#data;
  }

  /** Where slot `k`'s buffer starts in {@link data}. */
  offset(k: number): number {
    return (k % this.shape.slots) * this.shape.slotBytes;
  }

  /** Slot `k`'s whole buffer. */
  slot(k: number): Uint8Array {
    const at = (k % this.shape.slots) * this.shape.slotBytes;
    return this.#data.subarray(at, at + this.shape.slotBytes);
  }

  /** Slot `k`'s bytes: its buffer up to its length. */
  bytes(k: number): Uint8Array {
    const at = (k % this.shape.slots) * this.shape.slotBytes;
    return this.#data.subarray(at, at + this.length(k));
  }

  length(k: number): number {
    return Atomics.load(this.#control, this.#slotWord(k, LENGTH));
  }

  setLength(k: number, length: number): void {
    Atomics.store(this.#control, this.#slotWord(k, LENGTH), length);
  }

  /** Slot `k`'s metadata word `i` (0 ≤ i < metaWords). */
  meta(k: number, i: number): number {
    return Atomics.load(this.#control, this.#slotWord(k, SLOT_WORDS + i));
  }

  setMeta(k: number, i: number, value: number): void {
    Atomics.store(this.#control, this.#slotWord(k, SLOT_WORDS + i), value);
  }

  /** Marks `count` the end: no slot from there on exists (producer "lanes"). */
  endAt(count: number): void {
    let end = Atomics.load(this.#control, END);
    while (count < end) {
      const seen = Atomics.compareExchange(this.#control, END, end, count);
      if (seen === end) break;
      end = seen;
    }
  }

  /** The calling thread has stopped the job: a lane's work can give up what it waits for. */
  stopped(): boolean {
    return Atomics.load(this.#control, STOP) !== 0;
  }

  // ------------------------------------------------------------ the calling thread

  /**
   * Starts a job on the ring: each lane with a thread is offered to it, the others are worked
   * here. The ring must be new from {@link open} or released.
   */
  start<P>(start: RingStart<P>): void {
    const control = this.#control;
    control.fill(0);
    Atomics.store(control, END, NO_END);
    this.#start = start as RingStart<unknown>;
    this.#ids = [];
    this.#settled = [];
    this.#here = [];
    this.#own = undefined;
    this.#released = false;
    this.#startedAt = performance.now();
    for (let lane = 0; lane < this.shape.lanes; lane++) {
      const thread = start.threads[lane];
      const id = thread ? newJobId() : 0;
      this.#ids.push(id);
      this.#settled.push(!thread);
      if (!thread) continue;
      // Busy until the thread lets go, if it takes the job: set here, cleared by the thread.
      Atomics.store(control, this.#laneWord(lane, BUSY), 1);
      offerJob(control, this.#laneWord(lane, OWNER), id);
      const job: LaneJob<P> = { id, lane, shape: this.shape, data: this.#data.buffer as SharedArrayBuffer, control: control.buffer as SharedArrayBuffer, params: start.params[lane]! };
      thread.postMessage(job);
    }
  }

  /** The calling thread's count: slots committed (producer "caller") or consumed (producer "lanes"). */
  get head(): number {
    return Atomics.load(this.#control, HEAD);
  }

  /**
   * Producer "caller": hands the next slot ({@link head}), `length` bytes of it, to every lane;
   * lanes worked here do it now.
   */
  commit(length: number): void {
    const k = this.head;
    this.setLength(k, length);
    Atomics.store(this.#control, HEAD, k + 1);
    Atomics.notify(this.#control, HEAD);
    for (let lane = 0; lane < this.shape.lanes; lane++) if (this.#kept(lane)) this.#catchUp(lane, k + 1);
  }

  /**
   * Producer "caller": waits until every lane that has not failed has done `count` slots,
   * blocking until `until` (a `performance.now()` time) at most; false when they have not yet.
   * Lanes kept here, and lanes whose thread has not started in time, are worked here meanwhile.
   */
  waitDone(count: number, until = Number.POSITIVE_INFINITY): boolean {
    for (let lane = 0; lane < this.shape.lanes; lane++) {
      const doneAt = this.#laneWord(lane, DONE);
      for (;;) {
        if (this.#failed(lane)) break;
        const done = Atomics.load(this.#control, doneAt);
        if (done >= count) break;
        if (this.#kept(lane) || this.#keepIfLate(lane)) {
          this.#catchUp(lane, count);
          continue;
        }
        const now = performance.now();
        if (now >= until) return false;
        Atomics.wait(this.#control, doneAt, done, Math.min(until - now, WAIT_SLICE_MS));
      }
    }
    return true;
  }

  /**
   * Producer "lanes": waits for slot `k` (the next to consume, {@link head}) and returns its
   * length, or -1 when `k` is past the end. When nobody has claimed it yet and the calling
   * thread may fill slots (`callerClaims`, or a lane kept here), it is filled here instead; an
   * error doing so is thrown as it is.
   * @throws the errno error of a lane that failed
   */
  next(k: number, failure = "failed"): number {
    const seqAt = this.#slotWord(k, SEQ);
    for (;;) {
      const seq = Atomics.load(this.#control, seqAt);
      if (seq === k + 1) return this.length(k);
      for (let lane = 0; lane < this.shape.lanes; lane++) {
        const errno = Atomics.load(this.#control, this.#laneWord(lane, ERRNO));
        if (errno !== 0) throw errnoError(errno, failure);
      }
      if (k >= Atomics.load(this.#control, END)) return -1;
      if ((this.#start?.callerClaims || this.#anyKept()) && Atomics.compareExchange(this.#control, CLAIM, k, k + 1) === k) {
        this.#own ??= this.#makeWork(0);
        this.#own.step(k);
        return this.length(k);
      }
      // Sleep until the slot's mark moves on from the value seen above (a lane may have filled
      // the slot meanwhile, and that wake-up must not be missed).
      Atomics.wait(this.#control, seqAt, seq, WAIT_SLICE_MS);
      for (let lane = 0; lane < this.shape.lanes; lane++) this.#keepIfLate(lane);
    }
  }

  /** Producer "lanes": the calling thread is done with slot {@link head}; its buffer goes back to the lanes. */
  recycle(): void {
    Atomics.store(this.#control, HEAD, this.head + 1);
    Atomics.notify(this.#control, HEAD);
  }

  /**
   * Lane `lane`'s failure, once its thread has let go of the ring (so the caller may close what
   * the lane used); undefined while it has not failed.
   */
  failure(lane: number): LaneFailure | undefined {
    const errno = Atomics.load(this.#control, this.#laneWord(lane, ERRNO));
    if (errno === 0) return undefined;
    this.#waitIdle(lane);
    return { errno, at: Atomics.load(this.#control, this.#laneWord(lane, FAILED_AT)) };
  }

  /**
   * Ends the job: the lanes stop (what they have not done is dropped), a job no thread has taken
   * is taken back so that none ever will, and this waits until every thread has let go of the
   * ring. Then its shared memory serves the next ring of its shape.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    Atomics.store(this.#control, STOP, 1);
    Atomics.notify(this.#control, HEAD);
    for (let lane = 0; lane < this.shape.lanes; lane++) {
      const id = this.#ids[lane]!;
      if (id !== 0 && !takeBackJob(this.#control, this.#laneWord(lane, OWNER), id)) this.#waitIdle(lane);
    }
    const key = shapeKey(this.shape);
    const list = spare.get(key) ?? [];
    list.push({ data: this.#data.buffer as SharedArrayBuffer, control: this.#control.buffer as SharedArrayBuffer });
    spare.set(key, list);
  }

  #slotWord(k: number, word: number): number {
    return this.#slotsAt + (k % this.shape.slots) * this.#slotWords + word;
  }

  #laneWord(lane: number, word: number): number {
    return RING_WORDS + LANE_WORDS * lane + word;
  }

  #failed(lane: number): boolean {
    return Atomics.load(this.#control, this.#laneWord(lane, ERRNO)) !== 0;
  }

  /** Lane `lane` is worked here: it has no thread, or was taken back from one. */
  #kept(lane: number): boolean {
    return this.#settled[lane]! && jobKept(this.#control, this.#laneWord(lane, OWNER));
  }

  #anyKept(): boolean {
    for (let lane = 0; lane < this.shape.lanes; lane++) if (this.#kept(lane)) return true;
    return false;
  }

  /** Takes lane `lane` back when its thread has not taken it in time; true when it did so. */
  #keepIfLate(lane: number): boolean {
    if (this.#settled[lane]) return false;
    const owner = this.#laneWord(lane, OWNER);
    const id = this.#ids[lane]!;
    if (jobTaken(this.#control, owner, id)) {
      this.#settled[lane] = true;
      return false;
    }
    const timeout = this.#start?.startTimeoutMs ?? THREAD_START_MS;
    if (performance.now() - this.#startedAt <= timeout) return false;
    if (!takeBackJob(this.#control, owner, id)) return false;
    this.#settled[lane] = true;
    reportThreadFallback(`the ${this.#start?.worker} thread did not start within ${timeout / 1000} s; the calling thread does its work`);
    this.#start?.onKept?.(lane);
    return true;
  }

  #makeWork(lane: number): LaneWork {
    const start = this.#start!;
    return start.work(this, start.params[lane]);
  }

  /** Works lane `lane`'s slots up to `count` here; a failure is the lane's, as on its thread. */
  #catchUp(lane: number, count: number): void {
    const doneAt = this.#laneWord(lane, DONE);
    let k = -1;
    try {
      let work = this.#here[lane];
      if (!work) {
        work = this.#here[lane] = this.#makeWork(lane);
        work.start?.();
      }
      for (k = Atomics.load(this.#control, doneAt); k < count && !this.#failed(lane); k++) {
        work.step(k);
        Atomics.store(this.#control, doneAt, k + 1);
      }
    } catch (error) {
      laneFailed(this.#control, this.#laneWord(lane, 0), k, error);
    }
  }

  /** Waits until the thread that took lane `lane` lets go of the ring. */
  #waitIdle(lane: number): void {
    const id = this.#ids[lane]!;
    if (id === 0 || !jobTaken(this.#control, this.#laneWord(lane, OWNER), id)) return;
    const busy = this.#laneWord(lane, BUSY);
    while (Atomics.load(this.#control, busy) === 1) Atomics.wait(this.#control, busy, 1, 50);
  }

  // ------------------------------------------------------------ a lane's thread

  /** Works a job's lane on this thread until the job ends or fails, unless the job is not this thread's to take. */
  static work<P>(job: LaneJob<P>, make: LaneWorkFactory<P>): void {
    const ring = Ring.of(job);
    const control = ring.#control;
    const lane = RING_WORDS + LANE_WORDS * job.lane;
    // Taken back, or a late message for a job the ring no longer serves: touch nothing.
    if (!takeJob(control, lane + OWNER, job.id)) return;
    let k = -1;
    try {
      const work = make(ring, job.params);
      work.start?.();
      if (job.shape.producer === "caller") {
        for (k = Atomics.load(control, lane + DONE); ring.#committed(k); k++) {
          work.step(k);
          Atomics.store(control, lane + DONE, k + 1);
          Atomics.notify(control, lane + DONE);
        }
      } else {
        for (k = ring.#claim(); k >= 0; k = ring.#claim()) {
          work.step(k);
          const seq = ring.#slotWord(k, SEQ);
          Atomics.store(control, seq, k + 1);
          Atomics.notify(control, seq);
          Atomics.store(control, lane + DONE, k + 1);
        }
      }
    } catch (error) {
      laneFailed(control, lane, k, error);
      // Whoever waits for a slot of this ring learns of it now.
      for (let slot = 0; slot < job.shape.slots; slot++) Atomics.notify(control, ring.#slotWord(slot, SEQ));
    } finally {
      Atomics.store(control, lane + BUSY, 0);
      Atomics.notify(control, lane + BUSY);
    }
  }

  /** On a lane's thread (producer "caller"): waits until slot `k` is committed; false once the job is stopped. */
  #committed(k: number): boolean {
    for (;;) {
      if (this.stopped()) return false;
      const head = Atomics.load(this.#control, HEAD);
      if (k < head) return true;
      Atomics.wait(this.#control, HEAD, head, 1000);
    }
  }

  /**
   * On a lane's thread (producer "lanes"): claims the next slot nobody has claimed, once its
   * buffer is free; -1 once the job is stopped or the end is reached.
   */
  #claim(): number {
    for (;;) {
      if (this.stopped()) return -1;
      const k = Atomics.load(this.#control, CLAIM);
      if (k >= Atomics.load(this.#control, END)) return -1;
      const head = Atomics.load(this.#control, HEAD);
      if (k - head >= this.shape.slots) {
        Atomics.wait(this.#control, HEAD, head, WAIT_SLICE_MS);
        continue;
      }
      if (Atomics.compareExchange(this.#control, CLAIM, k, k + 1) === k) return k;
    }
  }
}

/** Records a lane's failure at slot `k` and wakes whoever waits for the lane. */
function laneFailed(control: Int32Array, lane: number, k: number, error: unknown): void {
  Atomics.store(control, lane + FAILED_AT, k);
  Atomics.store(control, lane + ERRNO, errnoOf(error));
  Atomics.notify(control, lane + DONE);
}

/**
 * A lane thread's entry point: works each job it is sent with `make`'s work.
 * @example
 * // a lane thread's entry point (as lib/io/fanout_worker.ts is); lib/thread imports nothing above it
 * declare const fanoutLane: LaneWorkFactory<unknown>;
 * serveRing(fanoutLane);
 */
export function serveRing<P>(make: LaneWorkFactory<P>): void {
  self.onmessage = (event: MessageEvent<LaneJob<P>>) => Ring.work(event.data, make);
}
