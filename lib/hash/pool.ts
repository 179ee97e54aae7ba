/**
 * Hashing many files in parallel with Workers while handing results back in input order, so
 * `--jobs N` prints exactly what `--jobs 1` prints.
 *
 * A job names its file by path (a name that is not UTF-8 carries its bytes as lib/core/names.ts
 * describes, and is opened with `fsPath`), or hands over a descriptor the caller already opened
 * safely (beneath a held folder, say): descriptors belong to the process, so a worker reads it
 * as well as this thread would.
 */
import { closeSync } from "node:fs";
import type { Algorithm } from "./algorithms.ts";
import { workerUrl } from "../thread/worker_url.ts";
import { hashOpenFile, hashPath, type HashFileOptions } from "./file.ts";

/** One file to hash. */
export interface HashJob {
  id: number;
  /** The file's path; with `fd`, only the name it goes by. */
  path: string;
  /**
   * A descriptor open for reading, used instead of opening `path`. The job owns it: it is
   * closed when the job ends, whether it ran or not (unless {@link keepFd}).
   */
  fd?: number;
  /** The caller keeps `fd` open, and closes it itself (it does more with it afterwards). */
  keepFd?: boolean;
  algorithms: Algorithm[];
  options: HashFileOptions;
}

/** What a worker reports for one job. */
export type HashJobResult =
  | { id: number; ok: true; hexes: [Algorithm, string][]; size: number }
  | { id: number; ok: false; code: string | undefined; message: string; detail?: string };

/** A failed result for an error (its code, message and, when it says more than strerror, detail). */
export function failedResult(id: number, error: unknown): HashJobResult & { ok: false } {
  const e = (error ?? {}) as { code?: string; message?: string; detail?: unknown };
  return {
    id,
    ok: false,
    code: e.code,
    message: e.message ?? String(error),
    ...(typeof e.detail === "string" ? { detail: e.detail } : {}),
  };
}

function closeQuietly(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    closeSync(fd);
  } catch {
    // already closed: nothing to release
  }
}

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
    if (this.#broken) {
      if (!job.keepFd) closeQuietly(job.fd);
      return { id: job.id, ok: false, code: undefined, message: this.#broken };
    }
    const worker = await this.#acquire();
    if (this.#broken) {
      if (!job.keepFd) closeQuietly(job.fd);
      return { id: job.id, ok: false, code: undefined, message: this.#broken };
    }
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
    const { hexes, size } = job.fd === undefined
      ? await hashPath(job.path, job.algorithms, job.options)
      : await hashOpenFile(job.fd, job.algorithms, job.options);
    return { id: job.id, ok: true, hexes: [...hexes.entries()], size };
  } catch (error) {
    return failedResult(job.id, error);
  } finally {
    if (!job.keepFd) closeQuietly(job.fd);
  }
}

/**
 * What to do for one item of {@link hashInOrder}: hash a file, run something here, report a
 * failure known already (a file that could not be opened), or nothing.
 */
export type Work =
  | { job: Omit<HashJob, "id"> }
  | { here: () => Promise<HashJobResult> }
  | { failed: unknown }
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
      const result = !work ? undefined : "failed" in work ? Promise.resolve(failedResult(-1, work.failed)) : run(work.job);
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
