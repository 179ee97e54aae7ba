/**
 * Hashing many files in parallel with Workers while handing results back in input order, so
 * `--jobs N` prints exactly what `--jobs 1` prints.
 *
 * A job names its file by path (a name that is not UTF-8 carries its bytes as lib/core/names.ts
 * describes, and is opened with `fsPath`), or hands over a descriptor the caller already opened
 * safely (beneath a held folder, say): descriptors belong to the process, so a worker reads it
 * as well as this thread would.
 */
import { closeSync, fstatSync } from "node:fs";
import type { Algorithm } from "./algorithms.ts";
import { RequestPool, ThreadFailure, type RequestPoolOptions } from "../thread/requests.ts";
import { hashOpenFile, hashOpenFileNow, hashPath, type HashFileOptions } from "./file.ts";

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
  /**
   * With `fd`: the caller has just asked fstat and `fd` is a regular file of this size, so the
   * hashing thread does not ask again (one system call per small file).
   */
  size?: number;
  algorithms: Algorithm[];
  options: HashFileOptions;
}

/** What a worker reports for one job. */
export type HashJobResult = { id: number; ok: true; hexes: [Algorithm, string][]; size: number } | { id: number; ok: false; code: string | undefined; message: string; detail?: string };

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

/**
 * Runs jobs on a fixed set of hashing threads (lib/hash/hash_worker.ts), each busy with one
 * file at a time. A job its thread never got to run (the thread did not start, or the pool
 * failed before) is hashed on the calling thread instead; a job whose thread failed or ended
 * while it ran fails, saying so.
 */
export class HashPool {
  readonly #threads: RequestPool<HashJob | HashJob[] | BatchRequest, HashJobResult | HashJobResult[] | BatchReply>;

  /** `size` threads, started as jobs come; `options` (tests) replace their script or start timeout. */
  constructor(size: number, options: Pick<RequestPoolOptions, "script" | "startTimeoutMs"> = {}) {
    this.#threads = new RequestPool("hash", { ...options, size });
  }

  /** Hashes one file on the next free thread. */
  async run(job: HashJob): Promise<HashJobResult> {
    try {
      return (await this.#threads.request(job)) as HashJobResult;
    } catch (error) {
      if (error instanceof ThreadFailure && !error.ran) return runJobHere(job);
      // It may have run, in part: its descriptor may be closed already, and is left alone.
      return failedResult(job.id, error);
    }
  }

  /**
   * Hashes several files, one after the other, on the next free thread: for small files, one
   * hand-off between threads costs more than hashing one.
   */
  async runBatch(jobs: HashJob[]): Promise<HashJobResult[]> {
    const request = batchRequest(jobs);
    try {
      const reply = await this.#threads.request(request ?? jobs);
      return request ? resultsOfBatch(jobs, reply as BatchReply) : (reply as HashJobResult[]);
    } catch (error) {
      if (error instanceof ThreadFailure && !error.ran) return runBatchHere(jobs);
      return jobs.map((job) => failedResult(job.id, error));
    }
  }

  /** Stops every thread. */
  close(): void {
    this.#threads.close();
  }
}

/**
 * {@link runJobHere} without waiting, for a small file named by descriptor once its engines are
 * loaded; undefined (nothing done, the descriptor untouched) for any other job.
 */
export function runJobNow(job: HashJob): HashJobResult | undefined {
  if (job.fd === undefined) return undefined;
  let result: HashJobResult;
  try {
    const digests = hashOpenFileNow(job.fd, job.algorithms, job.options, job.size);
    if (!digests) return undefined;
    result = { id: job.id, ok: true, hexes: [...digests.hexes.entries()], size: digests.size };
  } catch (error) {
    result = failedResult(job.id, error);
  }
  if (!job.keepFd) closeQuietly(job.fd);
  return result;
}

/**
 * A batch of files named by descriptor as it crosses to a hashing thread: numbers, and the few
 * settings its files share. Copying a message costs by the object: an object per file cost more
 * to copy (there and back) than hashing a 32 KiB file.
 */
export interface BatchRequest {
  /** The distinct algorithm lists and options of the batch; each file names its own by index. */
  kinds: Array<{ algorithms: Algorithm[]; options: HashFileOptions }>;
  kind: number[];
  fds: number[];
  /** Each file's size as its caller saw it (HashJob.size), or -1. */
  sizes: number[];
  /** 1 where the caller keeps the descriptor (HashJob.keepFd). */
  keep: number[];
}

/** The answer to a {@link BatchRequest}: per file its size and digest count, the digests as algorithm/hex pairs in one list; failures by index. */
export interface BatchReply {
  sizes: number[];
  counts: number[];
  pairs: string[];
  failures: Array<[number, HashJobResult & { ok: false }]>;
}

function sameSettings(a: { algorithms: readonly Algorithm[]; options: HashFileOptions }, b: HashJob): boolean {
  if (a.algorithms.length !== b.algorithms.length || a.algorithms.some((algorithm, i) => algorithm !== b.algorithms[i])) return false;
  return a.options === b.options || (Object.keys(a.options).length === 0 && Object.keys(b.options).length === 0);
}

/** The compact form of jobs that all name their file by descriptor; undefined for any other. */
function batchRequest(jobs: readonly HashJob[]): BatchRequest | undefined {
  const request: BatchRequest = { kinds: [], kind: [], fds: [], sizes: [], keep: [] };
  for (const job of jobs) {
    if (job.fd === undefined) return undefined;
    let kind = request.kinds.length - 1;
    if (kind < 0 || !sameSettings(request.kinds[kind]!, job)) {
      kind = request.kinds.findIndex((k) => sameSettings(k, job));
      if (kind < 0) kind = request.kinds.push({ algorithms: job.algorithms, options: job.options }) - 1;
    }
    request.kind.push(kind);
    request.fds.push(job.fd);
    request.sizes.push(job.size ?? -1);
    request.keep.push(job.keepFd ? 1 : 0);
  }
  return request;
}

/** Runs a {@link BatchRequest} here, one file after the other (on a hashing thread). */
export async function answerBatch(request: BatchRequest): Promise<BatchReply> {
  const reply: BatchReply = { sizes: [], counts: [], pairs: [], failures: [] };
  for (let i = 0; i < request.fds.length; i++) {
    const { algorithms, options } = request.kinds[request.kind[i]!]!;
    const size = request.sizes[i]!;
    const job: HashJob = { id: i, path: "", fd: request.fds[i]!, algorithms, options, ...(size >= 0 ? { size } : {}), ...(request.keep[i] ? { keepFd: true } : {}) };
    const result = runJobNow(job) ?? (await runJobHere(job));
    if (result.ok) {
      reply.sizes.push(result.size);
      reply.counts.push(result.hexes.length);
      for (const [algorithm, hex] of result.hexes) reply.pairs.push(algorithm, hex);
    } else {
      reply.sizes.push(0);
      reply.counts.push(0);
      reply.failures.push([i, result]);
    }
  }
  return reply;
}

/** The results a {@link BatchReply} stands for, with the ids of the jobs sent. */
function resultsOfBatch(jobs: readonly HashJob[], reply: BatchReply): HashJobResult[] {
  const failed = new Map(reply.failures);
  const results: HashJobResult[] = [];
  let at = 0;
  for (let i = 0; i < jobs.length; i++) {
    const failure = failed.get(i);
    if (failure) {
      results.push({ ...failure, id: jobs[i]!.id });
      continue;
    }
    const hexes: [Algorithm, string][] = [];
    for (let n = 0; n < reply.counts[i]!; n++, at += 2) hexes.push([reply.pairs[at] as Algorithm, reply.pairs[at + 1]!]);
    results.push({ id: jobs[i]!.id, ok: true, hexes, size: reply.sizes[i]! });
  }
  return results;
}

/** Hashes jobs one after the other in this thread (a batch a thread was sent). */
export async function runBatchHere(jobs: readonly HashJob[]): Promise<HashJobResult[]> {
  const results: HashJobResult[] = [];
  for (const job of jobs) results.push(runJobNow(job) ?? (await runJobHere(job)));
  return results;
}

/** Hashes one job in this thread, reporting errors the way a worker does. */
export async function runJobHere(job: HashJob): Promise<HashJobResult> {
  try {
    const { hexes, size } = job.fd === undefined ? await hashPath(job.path, job.algorithms, job.options) : await hashOpenFile(job.fd, job.algorithms, job.options);
    return { id: job.id, ok: true, hexes: [...hexes.entries()], size };
  } catch (error) {
    return failedResult(job.id, error);
  } finally {
    if (!job.keepFd) closeQuietly(job.fd);
  }
}

/**
 * Files open and waiting for their results, at most: a batch for each thread to work on and one
 * more for each to take next. Batches are as large as that allows, up to {@link BATCH_FILES}:
 * each message between threads costs tens of microseconds whatever it holds.
 */
const WINDOW_FILES = 256;
/** Files sent to a thread together, at most, and their bytes (a larger file goes alone). */
const BATCH_FILES = 64;
const BATCH_BYTES = 2 << 20;

/** The size of an open regular file, or undefined (not a regular file: its job says what is wrong). */
function sizeOfOpen(fd: number): number | undefined {
  try {
    const stats = fstatSync(fd);
    return stats.isFile() ? stats.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What to do for one item of {@link hashInOrder}: hash a file, run something here, report a
 * failure known already (a file that could not be opened), or nothing.
 */
export type Work = { job: Omit<HashJob, "id"> } | { here: () => Promise<HashJobResult> } | { failed: unknown } | undefined;

/**
 * Hashes the items with `parallelism` workers (in this thread when it is 1) and calls
 * `onResult` in input order as soon as each next result is ready, so the output is the same
 * whatever the parallelism. Items whose work is `here` (stdin) run in this thread; items with
 * no work get `undefined`. Small files go to the workers in batches. At most
 * {@link WINDOW_FILES} results (or two batches per thread) wait in memory, each with its file open.
 */
export async function hashInOrder<T>(items: Iterable<T>, parallelism: number, plan: (item: T) => Work, onResult: (item: T, result: HashJobResult | undefined) => void | Promise<void>): Promise<void> {
  const pool = parallelism > 1 ? new HashPool(parallelism) : undefined;
  let nextId = 0;
  try {
    /** Results in input order; `batch` while its job waits, unsent, in {@link batch}. */
    const window: Array<{ item: T; result: Promise<HashJobResult> | undefined; batch?: unknown[] }> = [];
    const batchFiles = Math.max(8, Math.min(BATCH_FILES, Math.floor(WINDOW_FILES / (2 * parallelism))));
    const limit = Math.max(1, parallelism * batchFiles * 2);
    // Small files not sent yet: they go to a thread together.
    let batch: Array<{ job: HashJob; settle: (result: HashJobResult) => void }> = [];
    let batchBytes = 0;
    const send = (): void => {
      if (batch.length === 0) return;
      const sent = batch;
      batch = [];
      batchBytes = 0;
      void pool!.runBatch(sent.map((b) => b.job)).then((results) => {
        for (const [i, b] of sent.entries()) b.settle(results[i]!);
      });
    };
    const next = async (): Promise<void> => {
      const head = window.shift()!;
      if (head.batch === batch) send();
      await onResult(head.item, await head.result);
    };
    for (const item of items) {
      const work = plan(item);
      // Work that must run in this thread waits for everything before it, keeping order.
      if (work && "here" in work) {
        send();
        while (window.length > 0) await next();
        await onResult(item, await work.here());
        continue;
      }
      if (!pool) {
        // Sequential: a small file is hashed and reported without a promise between.
        let result: HashJobResult | undefined;
        if (work && "job" in work) {
          const job: HashJob = { ...work.job, id: nextId++ };
          result = runJobNow(job) ?? (await runJobHere(job));
        } else if (work) result = failedResult(-1, work.failed);
        const reported = onResult(item, result);
        if (reported) await reported;
        continue;
      }
      let result: Promise<HashJobResult> | undefined;
      let inBatch: unknown[] | undefined;
      if (work && "job" in work) {
        const job: HashJob = { ...work.job, id: nextId++ };
        const size = job.fd === undefined ? undefined : sizeOfOpen(job.fd);
        if (size !== undefined) job.size = size;
        if (size !== undefined && size < BATCH_BYTES) {
          result = new Promise((settle) => batch.push({ job, settle }));
          inBatch = batch;
          batchBytes += size;
          if (batch.length >= batchFiles || batchBytes >= BATCH_BYTES) {
            send();
            // A thread's answer is a message, read only when this thread waits: let the answers
            // in, so that a thread done with its batch gets the next one now, not when the
            // window's head reaches its results.
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
        } else {
          send();
          result = pool.run(job);
        }
      } else if (work) result = Promise.resolve(failedResult(-1, work.failed));
      window.push({ item, result, ...(inBatch === batch ? { batch: inBatch } : {}) });
      if (window.length >= limit) await next();
    }
    send();
    while (window.length > 0) await next();
  } finally {
    pool?.close();
  }
}
