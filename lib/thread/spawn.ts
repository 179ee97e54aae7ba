/**
 * Starting worker threads, from source and from a `bun build --compile` executable. From
 * source, entry points are the repository's files. In a compiled executable the library is
 * bundled into the tool's entry at the root of the embedded file system, and each worker (an
 * extra entry point, lib/thread/entry_points.ts) keeps its path below that root.
 */
import { WORKER_ENTRY_POINTS, type WorkerName } from "./entry_points.ts";

/** This file's path from the repository root: what is left of `import.meta.url` is the root. */
const THIS_FILE = "lib/thread/spawn.ts";

/** A registered worker, or (tests) any script: one that does not exist makes a thread that never starts. */
export type WorkerSource = WorkerName | { script: string };

/**
 * The URL of a worker's script.
 * @example
 * new Worker(workerUrl("hash"));
 */
export function workerUrl(worker: WorkerSource): string {
  if (typeof worker !== "string") return worker.script;
  const path = WORKER_ENTRY_POINTS[worker];
  const here = import.meta.url;
  if (here.endsWith(`/${THIS_FILE}`)) return new URL(path, here.slice(0, here.length - THIS_FILE.length)).href;
  return new URL(`./${path}`, here).href;
}

/**
 * Starts a worker thread. It is unref'd: an idle thread never keeps the process alive (whoever
 * waits for it refs it, or blocks on shared memory).
 * @example
 * const thread = spawnWorker("flush");
 */
export function spawnWorker(worker: WorkerSource): Worker {
  const thread = new Worker(workerUrl(worker));
  thread.unref();
  return thread;
}

/**
 * Threads kept alive from one job to the next (starting one costs milliseconds, a file may take
 * less), lent to one job at a time: a caller that finds them lent does the work its own way.
 * @example
 * const readers = new KeptThreads("read");
 * const threads = readers.borrow(1);
 * if (threads) {
 *   try {
 *     // the job, on threads
 *   } finally {
 *     readers.giveBack();
 *   }
 * }
 */
export class KeptThreads {
  readonly #worker: WorkerName;
  #threads: Worker[] = [];
  #url: string | undefined;
  #lent = false;

  /** Threads of the entry point `worker`, none started yet. */
  constructor(worker: WorkerName) {
    this.#worker = worker;
  }

  /**
   * The first `count` threads, started as needed, or undefined while another job has them.
   * `script` (tests) replaces the entry point; the threads of another script are ended first.
   */
  borrow(count: number, script?: string): Worker[] | undefined {
    if (this.#lent) return undefined;
    const source: WorkerSource = script === undefined ? this.#worker : { script };
    const url = workerUrl(source);
    if (url !== this.#url) {
      for (const thread of this.#threads) thread.terminate();
      this.#threads = [];
      this.#url = url;
    }
    while (this.#threads.length < count) this.#threads.push(spawnWorker(source));
    this.#lent = true;
    return this.#threads.slice(0, count);
  }

  /** Takes the threads back, once the job has let go of them (see `Ring.release`). */
  giveBack(): void {
    this.#lent = false;
  }
}
