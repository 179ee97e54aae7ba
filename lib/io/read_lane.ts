/**
 * The read ring's work (lib/io/reader.ts), on the reader thread and on the calling thread. Its
 * own file so that the reader thread loads only what it needs (every module a worker imports
 * costs memory in that thread).
 */
import { fillChunk } from "./fill.ts";
import type { LaneWork, Ring } from "../thread/ring.ts";

/** What the reader thread is sent for one file. */
export interface ReadJob {
  fd: number;
  /** Positioned reads (regular files: both threads read) or sequential (pipes: the reader thread only). */
  positioned: boolean;
}

/**
 * Fills slot k with chunk k of the file (or a pipe's next bytes), and marks the end at the first
 * short chunk (an empty one from a pipe).
 */
export function readLane(ring: Ring, job: ReadJob): LaneWork {
  const chunkSize = ring.shape.slotBytes;
  const stopped = () => ring.stopped();
  return {
    step(k) {
      // Into the ring's buffer at the slot's offset: no view made per chunk (a pipe gives 64 KiB at a time).
      const n = fillChunk(job.fd, ring.data, ring.offset(k), chunkSize, job.positioned ? k * chunkSize : null, stopped);
      ring.setLength(k, n);
      if (job.positioned ? n < chunkSize : n === 0) ring.endAt(k + 1);
    },
  };
}
