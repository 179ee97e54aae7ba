/**
 * Hashing many files in parallel with Workers while handing results back in input order, so
 * `--jobs N` prints exactly what `--jobs 1` prints.
 *
 * A job names its file by path (a name that is not UTF-8 carries its bytes as lib/core/names.ts
 * describes, and is opened with `fsPath`), or hands over a descriptor the caller already opened
 * safely (beneath a held folder, say): descriptors belong to the process, so a worker reads it
 * as well as this thread would.
 */
import { closeSync, fstatSync, openSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { Algorithm } from "./algorithms.ts";
import { RequestPool, ThreadFailure, type RequestPoolOptions } from "../thread/requests.ts";
import { hashOpenedPath, hashOpenFile, hashOpenFileNow, hashPath, type HashFileOptions } from "./file.ts";
import { collectNowAndThen } from "../core/memory.ts";
import { fsPath } from "../core/names.ts";
import { turnDue } from "../core/turns.ts";
import { openFileLimit, waitingDescriptors } from "../io/libc.ts";

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

/** What a batch's file stands for until its result is in: the result, or the promise of it. */
export type PendingResult = HashJobResult | Promise<HashJobResult>;

/**
 * Runs jobs on a fixed set of hashing threads (lib/hash/hash_worker.ts), each working through
 * the requests it holds one at a time, with the next one queued so that it never waits for a
 * hand-off. A job its thread never got to run (the thread did not start, or the pool failed
 * before) is hashed on the calling thread instead; a job whose thread failed or ended while it
 * ran fails, saying so.
 */
export class HashPool {
  readonly #threads: RequestPool<HashJob | HashJob[] | BatchRequest, HashJobResult | HashJobResult[] | BatchReply>;
  readonly #batchThreads: number;

  /**
   * `size` threads, started as jobs come; `options` (tests) replace their script or start
   * timeout. Batches go to fewer ({@link batchThreads}).
   */
  constructor(size: number, options: Pick<RequestPoolOptions, "script" | "startTimeoutMs"> = {}) {
    this.#threads = new RequestPool("hash", { ...options, size, depth: 2 });
    this.#batchThreads = batchThreads(size);
  }

  /** Whether a batch sent now would go to a thread at once; otherwise the caller may hash it itself. */
  hasRoomForBatch(): boolean {
    return this.#threads.hasRoom(this.#batchThreads);
  }

  /** Hashes one file on the next free thread. */
  async run(job: HashJob): Promise<HashJobResult> {
    try {
      return (await this.#threads.request(job)) as HashJobResult;
    } catch (error) {
      if (error instanceof ThreadFailure && !error.ran) return hashHere(job);
      // It may have run, in part: its descriptor may be closed already, and is left alone.
      return failedResult(job.id, error);
    }
  }

  /**
   * Hashes several files, one after the other, on the next free thread: for small files, one
   * hand-off between threads costs more than hashing one.
   */
  async runBatch(jobs: HashJob[]): Promise<PendingResult[]> {
    return this.sendBatch(jobs).results;
  }

  /**
   * {@link runBatch}, with the right to take the batch back while no thread has started on it
   * (the caller then hashes it itself, with {@link hashHere}).
   */
  sendBatch(jobs: HashJob[]): { results: Promise<PendingResult[]>; takeBack: () => boolean } {
    const request = batchRequest(jobs);
    const sent = this.#threads.requestTakeable(request ?? jobs, this.#batchThreads);
    return { results: this.#batchResults(jobs, request, sent.answer), takeBack: sent.takeBack };
  }

  async #batchResults(jobs: HashJob[], request: BatchRequest | undefined, answer: Promise<HashJobResult | HashJobResult[] | BatchReply>): Promise<PendingResult[]> {
    let reply: BatchReply | HashJobResult[];
    try {
      reply = (await answer) as BatchReply | HashJobResult[];
    } catch (error) {
      if (error instanceof ThreadFailure && !error.ran) return runBatchHere(jobs);
      return jobs.map((job) => failedResult(job.id, error));
    }
    if (!request) return reply as HashJobResult[];
    return resultsOfBatch(jobs, reply as BatchReply);
  }

  /** Stops every thread. */
  close(): void {
    this.#threads.close();
  }
}

/**
 * The threads that take batches of small files for a pool of `size`: one fewer than the cores
 * it may use, the calling thread hashing a batch whenever they all have theirs. Small files
 * cost the cores, not the disk: a thread more than the cores (or a thread beside a calling
 * thread that could hash) only adds hand-offs and its own copy of the compiled code.
 */
export function batchThreads(size: number): number {
  return Math.max(1, Math.min(size, availableParallelism()) - 1);
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

/** Hashes one job on this thread, without a promise when it is a small file. */
export function hashHere(job: HashJob): PendingResult {
  return runJobNow(job) ?? runJobHere(job);
}

/**
 * A batch of files as it crosses to a hashing thread: numbers, and the few settings its
 * files share. Copying a message costs by the object: an object per file cost more to copy
 * (there and back) than hashing a 32 KiB file.
 */
export interface BatchRequest {
  /** The distinct algorithm lists and options of the batch; each file names its own by index. */
  kinds: Array<{ algorithms: Algorithm[]; options: HashFileOptions }>;
  kind: number[];
  /** Each file's descriptor. */
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
    request.sizes.push(job.size ?? -1);
    request.keep.push(job.keepFd ? 1 : 0);
    request.fds.push(job.fd);
  }
  return request;
}

/** Runs a {@link BatchRequest} here, one file after the other (on a hashing thread). */
export async function answerBatch(request: BatchRequest): Promise<BatchReply> {
  const reply: BatchReply = { sizes: [], counts: [], pairs: [], failures: [] };
  for (let i = 0; i < request.fds.length; i++) {
    const { algorithms, options } = request.kinds[request.kind[i]!]!;
    const fd = request.fds[i]!;
    const size = request.sizes[i]!;
    const keep = request.keep[i]!;
    const job: HashJob = { id: i, path: "", fd, algorithms, options, ...(size >= 0 ? { size } : {}), ...(keep ? { keepFd: true } : {}) };
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

/** Hashes jobs one after the other in this thread (a batch a thread was sent, or one no thread ran). */
export async function runBatchHere(jobs: readonly HashJob[]): Promise<HashJobResult[]> {
  const results: HashJobResult[] = [];
  for (const job of jobs) results.push(await hashHere(job));
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
 * Descriptors held open by the calling thread and waiting for their results, at most: files it
 * opened itself ({@link HashJob.fd}). Under a low limit on open files (`ulimit -n`), a quarter
 * of it, so that `--jobs N` opens no more than `--jobs 1` can.
 */
const WINDOW_FDS = 256;
/** Files sent to a thread together, at most, and their bytes (a larger file goes alone). */
const BATCH_FILES = 64;
const BATCH_BYTES = 2 << 20;
/** Batches waiting for their results per thread, at most: the one it works on, the one queued, one being filled. */
const BATCHES_PER_THREAD = 3;

/**
 * For {@link InOrderOptions.largeHere}, the work for a file named by path: a regular file small
 * enough for a batch is opened, to be spread; anything else (a FIFO, which may wait in open()
 * for its writer; a folder; a large file; a path stat cannot see) is opened and hashed here in
 * its turn, as `--jobs 1` does. A path replaced since the stat (by a FIFO, a device, a larger
 * file) is read as what was opened, in its turn: a FIFO closed unread would end its writer.
 */
function spreadWork(job: Omit<HashJob, "id">): Work {
  const inTurn = { here: () => runJobHere({ ...job, id: -1 }) };
  try {
    const stats = statSync(fsPath(job.path));
    if (!stats.isFile() || stats.size >= BATCH_BYTES) return inTurn;
  } catch {
    return inTurn;
  }
  let fd: number;
  try {
    fd = openSync(fsPath(job.path), "r");
  } catch (error) {
    return { failed: error };
  }
  const size = sizeOfOpen(fd);
  if (size === undefined || size >= BATCH_BYTES) return { here: () => runOpenedHere(job, fd), abandon: () => closeQuietly(fd) };
  return { job: { ...job, fd, size } };
}

/** Hashes, in this thread, a path {@link spreadWork} opened and kept; closes it. */
async function runOpenedHere(job: Omit<HashJob, "id">, fd: number): Promise<HashJobResult> {
  try {
    const { hexes, size } = await hashOpenedPath(fd, job.algorithms, job.options);
    return { id: -1, ok: true, hexes: [...hexes.entries()], size };
  } catch (error) {
    return failedResult(-1, error);
  } finally {
    closeQuietly(fd);
  }
}

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
 * failure known already (a file that could not be opened) or a result (a file hashed in a
 * native run, lib/hash/native_batch.ts), or nothing. `abandon` releases what
 * a `here` holds (a descriptor it opened) when it never runs.
 */
export type Work = { job: Omit<HashJob, "id"> } | { here: () => Promise<HashJobResult>; abandon?: () => void } | { failed: unknown } | { done: HashJobResult } | undefined;

/**
 * Formats so quick (tens of GB/s) that a file under {@link BATCH_BYTES} costs more to hand to a
 * thread than to hash: a batch of such files is hashed on the calling thread, so `--jobs N`
 * costs about what `--jobs 1` costs with them (BENCHMARKS.md, `--jobs`). Larger files still go
 * to threads.
 */
const HASHED_HERE = new Set<Algorithm>(["xxh32", "xxh64", "xxh3", "xxh128", "crc32"]);

/** Whether every one of `algorithms` is {@link HASHED_HERE}: a thread for their small files only adds hand-offs. */
function hashedHere(algorithms: readonly Algorithm[]): boolean {
  return algorithms.every((a) => HASHED_HERE.has(a));
}

/**
 * With no `--jobs`, files of a format from this size up to a batch's ({@link BATCH_BYTES}) are
 * spread over the cores; smaller ones are hashed on the calling thread, where the hand-off to
 * a thread would cost what it saves. Formats not named here (MD5, SHA-1, SHA-2, C4: hundreds of
 * MB/s) gain from the smallest files (BENCHMARKS.md, "With no `--jobs`").
 * BLAKE3: on cached trees of 32 KiB to 256 KiB files a thread beside this one saved nothing
 * (and took a quarter more CPU on the 32 KiB files); on 2,000 × 1 MiB it took 0.43 s to 0.33 s.
 */
const SPREAD_FROM: Partial<Record<Algorithm, number>> = { blake3: 256 << 10 };
/** Spreading needs a limit on open files (`ulimit -n`) of at least this: each thread takes descriptors of its own. */
const SPREAD_MIN_OPEN_FILES = 64;

/** How {@link hashInOrder} is run: its parallelism and options. */
export interface HashingPlan {
  parallelism: number;
  options: InOrderOptions;
}

/**
 * How to hash `files` files (unknown: many) in `algorithms`: on `jobs` threads as asked
 * (`--jobs`), or with none asked, files in formats slower than reading spread over the cores in
 * batches ({@link SPREAD_FROM}) while larger ones are read in order here with read-ahead, as
 * one thread reads them. One thread where spreading cannot pay: XXH formats (faster than the
 * hand-off), a single file, one core, or a low limit on open files.
 * @example
 * const { parallelism, options } = hashingPlan(undefined, ["md5"]);
 * // parallelism: the cores; options: { largeHere: true, hereBelow: 0 }
 */
export function hashingPlan(jobs: number | undefined, algorithms: Iterable<Algorithm>, files = Number.POSITIVE_INFINITY): HashingPlan {
  if (jobs !== undefined) return { parallelism: files > 1 ? Math.max(1, jobs) : 1, options: {} };
  const slow = [...new Set(algorithms)].filter((a) => !HASHED_HERE.has(a));
  const cores = availableParallelism();
  if (files <= 1 || cores < 2 || slow.length === 0 || openFileLimit() < SPREAD_MIN_OPEN_FILES) return { parallelism: 1, options: {} };
  return { parallelism: cores, options: { largeHere: true, hereBelow: Math.min(...slow.map((a) => SPREAD_FROM[a] ?? 0)) } };
}

/** How {@link hashInOrder} treats files too large for a batch. */
export interface InOrderOptions {
  /**
   * Hash them on the calling thread, one at a time, reading ahead on a second thread (the
   * default mode of the summers: large files read in order, small ones spread over the cores),
   * instead of each on a hashing thread.
   */
  largeHere?: boolean;
  /**
   * Files smaller than this are hashed on the calling thread, in order, whatever their format:
   * the hand-off to a thread and back costs about what it saves on them (BENCHMARKS.md).
   */
  hereBelow?: number;
}

/** Items of {@link hashInOrder} waiting for their results, in input order: one, or a batch's. */
interface Group<T> {
  /** Of a batch: every job's formats are {@link HASHED_HERE} (hashed on the calling thread). */
  here?: boolean;
  items: T[];
  /** The results, in the order of `items`; undefined for an item with no work. */
  results: Promise<Array<PendingResult | undefined>> | Array<PendingResult | undefined>;
  /** Of a batch: its jobs (not sent yet, or sent and perhaps to be taken back). */
  jobs?: HashJob[];
  /** Of a batch sent to a thread: takes it back if no thread has started on it. */
  takeBack?: () => boolean;
  /** Descriptors it holds open. */
  fds: number;
}

/**
 * Hashes the items with `parallelism` workers (in this thread when it is 1) and calls
 * `onResult` in input order as soon as each next result is ready, so the output is the same
 * whatever the parallelism. Items whose work is `here` (stdin) run in this thread; items with
 * no work get `undefined`. Small files go to the workers in
 * batches, one promise a batch. At most {@link BATCHES_PER_THREAD} batches per thread wait,
 * and {@link WINDOW_FDS} files opened by this thread (fewer under a low `ulimit -n`).
 */
export async function hashInOrder<T>(items: Iterable<T>, parallelism: number, plan: (item: T) => Work, onResult: (item: T, result: HashJobResult | undefined) => void | Promise<void>, options: InOrderOptions = {}): Promise<void> {
  if (parallelism <= 1) {
    let nextId = 0;
    for (const item of items) {
      collectNowAndThen();
      const turn = turnDue();
      if (turn) await turn;
      const work = plan(item);
      let result: PendingResult | undefined;
      if (work && "here" in work) result = work.here();
      else if (work && "job" in work) result = hashHere({ ...work.job, id: nextId++ });
      else if (work && "done" in work) result = work.done;
      else if (work) result = failedResult(-1, work.failed);
      // Sequential: a small file is hashed and reported without a promise between.
      const reported = onResult(item, result instanceof Promise ? await result : result);
      if (reported) await reported;
    }
    return;
  }
  const pool = new HashPool(parallelism);
  try {
    await hashInGroups(pool, parallelism, items, plan, onResult, options);
  } finally {
    pool.close();
  }
}

async function hashInGroups<T>(pool: HashPool, parallelism: number, items: Iterable<T>, plan: (item: T) => Work, onResult: (item: T, result: HashJobResult | undefined) => void | Promise<void>, options: InOrderOptions): Promise<void> {
  let nextId = 0;
  const window: Group<T>[] = [];
  let windowFds = 0;
  // A batch holds the descriptors of its files: small enough that every thread has its batches
  // within the window's descriptors.
  const fdsAllowed = Math.max(8, Math.min(WINDOW_FDS, waitingDescriptors()));
  const batchFiles = Math.max(8, Math.min(BATCH_FILES, Math.floor(fdsAllowed / (BATCHES_PER_THREAD * parallelism))));
  const batchLimit = BATCHES_PER_THREAD * parallelism;
  /** The batch being filled (the window's last group), and its bytes. */
  let filling: Group<T> | undefined;
  let fillingBytes = 0;
  const send = (): void => {
    if (!filling) return;
    // Every thread that takes batches has one and the next: this thread hashes this one, rather
    // than let it wait.
    if (!filling.here && pool.hasRoomForBatch()) {
      const sent = pool.sendBatch(filling.jobs!);
      filling.results = sent.results;
      filling.takeBack = sent.takeBack;
    } else {
      filling.results = filling.jobs!.map(hashHere);
      filling.jobs = undefined;
    }
    filling = undefined;
    fillingBytes = 0;
  };
  const next = async (): Promise<void> => {
    const head = window.shift()!;
    if (head === filling) send();
    windowFds -= head.fds;
    // Needed now and not started by its thread (busy, or not given the processor): hashed here
    // rather than waited for.
    if (head.takeBack?.()) head.results = head.jobs!.map(hashHere);
    const results = head.results instanceof Promise ? await head.results : head.results;
    for (let i = 0; i < head.items.length; i++) {
      const result = results[i];
      const reported = onResult(head.items[i]!, result instanceof Promise ? await result : result);
      if (reported) await reported;
    }
  };
  const single = (item: T, result: PendingResult | undefined, fds = 0): void => {
    send();
    window.push({ items: [item], results: [result], fds });
    windowFds += fds;
  };
  try {
    for (const item of items) {
      collectNowAndThen();
      const turn = turnDue();
      if (turn) await turn;
      let planned: Work;
      try {
        planned = plan(item);
      } catch (error) {
        // As one thread would have it: everything before the item is reported before its error.
        send();
        while (window.length > 0) await next();
        throw error;
      }
      const work = options.largeHere && planned && "job" in planned && planned.job.fd === undefined ? spreadWork(planned.job) : planned;
      // Work that must run in this thread waits for everything before it, keeping order.
      if (work && "here" in work) {
        send();
        try {
          while (window.length > 0) await next();
        } catch (error) {
          work.abandon?.();
          throw error;
        }
        await onResult(item, await work.here());
        continue;
      }
      // Work done already (a native run hashed it) with nothing before it waiting: reported at
      // once, as one thread would, without a group and a promise a file.
      if (work && "done" in work && window.length === 0) {
        const reported = onResult(item, work.done);
        if (reported) await reported;
        continue;
      }
      if (!work || "failed" in work || "done" in work) {
        single(item, !work ? undefined : "done" in work ? work.done : failedResult(-1, work.failed));
      } else {
        const job: HashJob = { ...work.job, id: nextId++ };
        let size = -1;
        if (job.fd !== undefined) {
          size = job.size ?? sizeOfOpen(job.fd) ?? -1;
          if (size >= 0) job.size = size;
        }
        if (size >= 0 && size < BATCH_BYTES) {
          const here = hashedHere(job.algorithms) || size < (options.hereBelow ?? 0);
          // A batch is all of one kind: hashed here, or sent.
          if (filling && filling.here !== here) send();
          if (!filling) {
            filling = { here, items: [], results: [], jobs: [], fds: 0 };
            window.push(filling);
          }
          filling.items.push(item);
          filling.jobs!.push(job);
          if (job.fd !== undefined) {
            filling.fds++;
            windowFds++;
          }
          fillingBytes += Math.max(0, size);
          if (filling.items.length >= batchFiles || fillingBytes >= BATCH_BYTES) send();
        } else {
          send();
          single(item, options.largeHere ? hashHere(job) : pool.run(job), job.fd === undefined ? 0 : 1);
        }
      }
      while (window.length > 0 && (window.length > batchLimit || windowFds >= fdsAllowed)) await next();
    }
    send();
    while (window.length > 0) await next();
  } catch (error) {
    // Descriptors the jobs own (not kept by their caller) of batches that will never run: the
    // one being filled, and those taken back from a thread that had not begun them. A batch a
    // thread has begun closes its own as it goes.
    for (const group of window) {
      if (group !== filling && !group.takeBack?.()) continue;
      for (const job of group.jobs ?? []) if (job.fd !== undefined && !job.keepFd) closeQuietly(job.fd);
    }
    throw error;
  }
}
