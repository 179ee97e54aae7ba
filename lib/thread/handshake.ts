/**
 * Who has a job, in one Int32 cell of shared memory, so that taking it is one atomic step and
 * exactly one thread ever does the work:
 *
 * - `id`: offered. The calling thread posted the job to a thread that has not taken it yet.
 * - `-id`: taken. The thread works on it.
 * - `0`: kept. The calling thread took it back (the thread did not start in time, or the job
 *   ended first) and does the work itself, or nobody does.
 *
 * A thread takes a job by swapping `id` for `-id`; the calling thread takes it back by swapping
 * `id` for 0. Whichever swap comes first wins, and the other then sees it lost. Ids are not
 * reused, so a job message that reaches a thread late, after its cell has moved on to another
 * job (shared memory is reused job after job), finds another id and is ignored.
 */

let lastId = 0;

/** A job id not used before by this thread (1 … 2³⁰, then again from 1). */
export function newJobId(): number {
  lastId = lastId >= 0x40000000 ? 1 : lastId + 1;
  return lastId;
}

/** Offers job `id` in `cells[index]`. */
export function offerJob(cells: Int32Array, index: number, id: number): void {
  Atomics.store(cells, index, id);
}

/** On the thread: takes job `id`; false when it was taken back or the cell serves another job. */
export function takeJob(cells: Int32Array, index: number, id: number): boolean {
  return Atomics.compareExchange(cells, index, id, -id) === id;
}

/** On the calling thread: takes job `id` back; false when the thread has taken it. */
export function takeBackJob(cells: Int32Array, index: number, id: number): boolean {
  return Atomics.compareExchange(cells, index, id, 0) === id;
}

/** True while job `id` is the thread's. */
export function jobTaken(cells: Int32Array, index: number, id: number): boolean {
  return Atomics.load(cells, index) === -id;
}

/** True when the calling thread keeps the job (taken back, or never offered). */
export function jobKept(cells: Int32Array, index: number): boolean {
  return Atomics.load(cells, index) === 0;
}

/** How long a thread may take to start on its first job before the calling thread does the work itself. */
export const THREAD_START_MS = 3000;
