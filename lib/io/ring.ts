/**
 * The read ring shared by the calling thread and a reader thread: a SharedArrayBuffer of
 * `slots` chunks and an Int32Array of counters. Chunk k always lands in slot k % slots.
 *
 * Either thread may read a chunk: each claims the next chunk number with a compare-and-swap,
 * reads it, then tags its slot with k + 1. The caller consumes chunks in order; when the next
 * one is not yet claimed it reads it itself instead of waiting, so fast hashes (XXH3 hashes
 * faster than the page cache can be copied) get two cores copying, and slow ones (SHA-256)
 * get all the reading done behind them. For pipes only the reader thread reads (order).
 */

/** Counter indexes in the control array. */
export const RING = {
  /** Next chunk number nobody has claimed yet. */
  claim: 0,
  /** Chunks the caller has finished with. */
  consumed: 1,
  /** First chunk number known to be past the end (a short or empty read). */
  eofAt: 2,
  /** errno of a failed read by the reader thread (0: none). */
  errno: 3,
  /** Set by the caller to stop the reader thread. */
  cancel: 4,
  /** 1 while the reader thread works on this ring, 0 once it has let go of it. */
  busy: 5,
  /**
   * The job the ring serves, and who has it, in one field so that taking it is one atomic step:
   * the caller sets the job's id; the reader thread takes it by swapping id for -id; the caller
   * takes it back (reading the file alone) by swapping id for 0. The ring is reused file after
   * file, so a job message the reader thread gets late finds another id and does nothing.
   */
  job: 6,
  /** First of `slots` tags: chunk number + 1 of the chunk in the slot. */
  tags: 7,
} as const;

/** Largest chunk number. */
export const NO_EOF = 0x7fffffff;

/** Control array length for a ring of `slots` slots: counters, tags, then lengths. */
export function controlLength(slots: number): number {
  return RING.tags + 2 * slots;
}

/** Index of a slot's length in the control array. */
export function lengthIndex(slots: number, slot: number): number {
  return RING.tags + slots + slot;
}

/** What the caller sends the reader thread for one file. */
export interface RingJob {
  /** Matches the control array's `job` while this job is the current one. */
  id: number;
  fd: number;
  /** Positioned reads (regular files, both threads read) or sequential (pipes, reader only). */
  positioned: boolean;
  data: SharedArrayBuffer;
  control: SharedArrayBuffer;
  slots: number;
  chunkSize: number;
}
