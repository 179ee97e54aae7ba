/**
 * Hashing many files in parallel with Workers while handing results back in input order, so
 * `--jobs N` prints exactly what `--jobs 1` prints.
 */
import type { Algorithm } from "./algorithms.ts";
import { workerUrl } from "../thread/worker_url.ts";
import { hashFd, hashPath, type HashFileOptions } from "./file.ts";

/** One file to hash. */
export interface HashJob {
  id: number;
  /** The file to open; with `fd`, only named in messages. */
  path: string;
  /**
   * A descriptor already open on the file, read instead of opening `path` (threads share the
   * process's descriptors): for callers that opened it safely, beneath a folder and without
   * following links out of it. The caller closes it once the result is in.
   */
  fd?: number;
  algorithms: Algorithm[];
  options: HashFileOptions;
}

/** What a worker reports for one job. */
export type HashJobResult =
  | { id: number; ok: true; hexes: [Algorithm, string][]; size: number }
  | { id: number; ok: false; code: string | undefined; message: string };

/** Runs jobs on a fixed set of Workers, each busy with one file at a time. */
export class HashPool {
  #workers: Worker[] = [];
  #idle: Worker[] = [];
  #waiting: Array<() => void> = [];
  #pending = new Map<number, (result: HashJobResult) => void>();
  #broken: string | undefined;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(workerUrl(import.meta.url, "lib/hash/pool.ts", "lib/hash/hash_worker.ts"));
      worker.onmessage = (event: MessageEvent<HashJobResult>) => {
        const resolve = this.#pending.get(event.data.id);
        this.#pending.delete(event.data.id);
        this.#release(worker);
        resolve?.(event.data);
      };
      // A worker that fails to load must not leave its jobs waiting forever.
      worker.onerror = (event: ErrorEvent) => {
        this.#broken = `hash worker failed: ${event.message}`;
        for (const [id, resolve] of this.#pending) resolve({ id, ok: false, code: undefined, message: this.#broken });
        this.#pending.clear();
        for (const wake of this.#waiting.splice(0)) wake();
      };
      this.#workers.push(worker);
      this.#idle.push(worker);
    }
  }

  #release(worker: Worker): void {
    const next = this.#waiting.shift();
    this.#idle.push(worker);
    next?.();
  }

  async #acquire(): Promise<Worker> {
    while (this.#idle.length === 0 && !this.#broken) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return this.#idle.pop()!;
  }

  /** Hashes one file on the next free worker. */
  async run(job: HashJob): Promise<HashJobResult> {
    if (this.#broken) return { id: job.id, ok: false, code: undefined, message: this.#broken };
    const worker = await this.#acquire();
    if (this.#broken) return { id: job.id, ok: false, code: undefined, message: this.#broken };
    return new Promise((resolve) => {
      this.#pending.set(job.id, resolve);
      worker.postMessage(job);
    });
  }

  /** Stops every worker. */
  close(): void {
    for (const worker of this.#workers) worker.terminate();
  }
}

/** Hashes one job in this thread, reporting errors the way a worker does. */
export async function runJobHere(job: HashJob): Promise<HashJobResult> {
  try {
    const { hexes, size } = job.fd === undefined ? await hashPath(job.path, job.algorithms, job.options) : await hashFd(job.fd, job.algorithms, job.options);
    return { id: job.id, ok: true, hexes: [...hexes.entries()], size };
  } catch (error) {
    const e = error as { code?: string; message?: string };
    return { id: job.id, ok: false, code: e.code, message: e.message ?? String(error) };
  }
}

/** What to do for one item of {@link hashInOrder}: hash a file, run something here, or nothing. */
export type Work =
  | { job: Omit<HashJob, "id"> }
  | { here: () => Promise<HashJobResult> }
  | undefined;

/**
 * Hashes the items with `parallelism` workers (in this thread when it is 1) and calls
 * `onResult` in input order as soon as each next result is ready, so the output is the same
 * whatever the parallelism. Items whose work is `here` (stdin) run in this thread; items with
 * no work get `undefined`. At most `parallelism * 4` results wait in memory.
 */
export async function hashInOrder<T>(
  items: Iterable<T>,
  parallelism: number,
  plan: (item: T) => Work,
  onResult: (item: T, result: HashJobResult | undefined) => void | Promise<void>,
): Promise<void> {
  const pool = parallelism > 1 ? new HashPool(parallelism) : undefined;
  let nextId = 0;
  const run = (job: Omit<HashJob, "id">): Promise<HashJobResult> => {
    const withId: HashJob = { ...job, id: nextId++ };
    return pool ? pool.run(withId) : runJobHere(withId);
  };
  try {
    const window: Array<{ item: T; result: Promise<HashJobResult> | undefined }> = [];
    const limit = Math.max(1, parallelism * 4);
    for (const item of items) {
      const work = plan(item);
      // Work that must run in this thread waits for everything before it, keeping order.
      if (work && "here" in work) {
        for (const head of window.splice(0)) await onResult(head.item, await head.result);
        await onResult(item, await work.here());
        continue;
      }
      const result = work ? run(work.job) : undefined;
      if (!pool) {
        await onResult(item, await result);
        continue;
      }
      window.push({ item, result });
      if (window.length >= limit) {
        const head = window.shift()!;
        await onResult(head.item, await head.result);
      }
    }
    for (const head of window) await onResult(head.item, await head.result);
  } finally {
    pool?.close();
  }
}
