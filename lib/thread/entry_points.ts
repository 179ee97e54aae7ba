/**
 * Every worker entry point of the library, by name. A worker's file is its own entry point:
 * scripts/build.ts compiles each one listed here into every tool (built from the tool alone, a
 * binary runs but its Workers never answer), and {@link spawnWorker} starts workers by these
 * names only, so a worker that is not listed cannot be started. tests/thread.test.ts checks that
 * every worker file under lib/ is listed.
 */
export const WORKER_ENTRY_POINTS = {
  /** Hashes one file per request (lib/hash/pool.ts). */
  hash: "lib/hash/hash_worker.ts",
  /** Fills the read ring (lib/io/reader.ts). */
  read: "lib/io/read_worker.ts",
  /** Runs syncfs off the calling thread (lib/io/flusher.ts). */
  flush: "lib/io/flush_worker.ts",
  /** Writes one destination of a fan-out (lib/io/fanout.ts). */
  fanout: "lib/io/fanout_worker.ts",
  /** Writes virtual-tape records (lib/ltfs/vtape.ts). */
  record: "lib/ltfs/record_worker.ts",
  /** Reads tape records into a response's buffer (lib/serve/range_reads.ts). */
  range: "lib/serve/range_worker.ts",
} as const;

/** The name of a worker entry point. */
export type WorkerName = keyof typeof WORKER_ENTRY_POINTS;
