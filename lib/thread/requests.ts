/**
 * Request and reply with worker threads: the calling thread sends a request, a thread answers
 * it, the promise settles. {@link RequestPool} holds the ids and the promises waiting for them;
 * {@link answerRequests} is the worker's side.
 *
 * A thread first takes a start job (lib/thread/handshake.ts) and says so. One that has not
 * started within {@link THREAD_START_MS} (its script could not be loaded, or a compiled binary
 * lacks it as an entry point and the thread silently never runs) is given up: the calling thread
 * takes the start job back, so the thread can never start answering afterwards, and what it was
 * sent fails with a {@link ThreadFailure} that says the request never ran. A thread that fails
 * or ends fails what it was working on the same way, saying it may have run.
 */
import { jobKept, newJobId, offerJob, takeBackJob, takeJob, THREAD_START_MS } from "./handshake.ts";
import type { WorkerName } from "./entry_points.ts";
import { reportThreadFallback } from "./fallback.ts";
import { spawnWorker } from "./spawn.ts";

declare const self: Worker;

/** Options for {@link RequestPool}. */
export interface RequestPoolOptions {
  /**
   * Threads, each answering one request at a time; started when requests need them.
   * @default 1
   */
  size?: number;
  /**
   * Requests each thread holds at once: the one it answers and the next ones, queued on the
   * thread, so that it starts the next without waiting for this thread to read its answer and
   * send another. It still answers them one at a time, in the order sent.
   * @default 1
   */
  depth?: number;
  /** The threads' script instead of the registered entry point (tests). */
  script?: string;
  /**
   * How long a thread may take to start.
   * @default 3000 ({@link THREAD_START_MS})
   */
  startTimeoutMs?: number;
}

/** Why a request got no answer: its thread did not start, failed or ended, or the pool was closed. */
export class ThreadFailure extends Error {
  readonly code = "ETHREAD";
  /**
   * False when the request surely did not run: its thread never started, or it was never
   * handed to one. The caller may then do the work itself.
   */
  readonly ran: boolean;

  constructor(message: string, ran: boolean) {
    super(message);
    this.name = "ThreadFailure";
    this.ran = ran;
  }
}

/** What the calling thread sends. */
type ToThread<Q> = { kind: "start"; cell: SharedArrayBuffer; id: number; answered: SharedArrayBuffer } | { kind: "request"; id: number; body: Q; cell?: SharedArrayBuffer };

/** What a thread sends back. */
type FromThread<A> = { kind: "started" } | { kind: "skipped"; id: number } | { kind: "reply"; id: number; ok: true; value: A } | { kind: "reply"; id: number; ok: false; error: { message: string; code?: string; errno?: number } };

interface Pending<Q, A> {
  id: number;
  body: Q;
  /** Only the first this many threads may answer it. */
  threads: number;
  /** A request that may be taken back: who has it (lib/thread/handshake.ts). */
  cell?: Int32Array;
  /** Taken back by the caller: its promise never settles, its thread skips it. */
  takenBack?: boolean;
  resolve: (value: A) => void;
  reject: (error: Error) => void;
}

/** A request the caller may take back, until a thread starts on it, to do the work itself. */
export interface TakeableRequest<A> {
  /** Settles as {@link RequestPool.request}'s promise does; never, once taken back. */
  answer: Promise<A>;
  /** True when no thread has started on it, nor ever will: the caller does the work. */
  takeBack(): boolean;
}

interface Member<Q, A> {
  worker: Worker;
  /** The start job's cell and id. */
  cell: Int32Array;
  startId: number;
  /**
   * How many requests the thread has answered, counted by the thread as each answer leaves:
   * this thread sees a thread free as soon as it is, even while busy itself and not reading
   * the answers yet.
   */
  answered: Int32Array;
  /** How many requests it was sent. */
  sentCount: number;
  started: boolean;
  /** Failed, ended or closed: it answers nothing more. */
  gone: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Sent and not yet answered, by id, in the order sent. */
  sent: Map<number, Pending<Q, A>>;
}

/**
 * Threads of one entry point answering requests, each one at a time, in the order asked (with
 * {@link RequestPoolOptions.depth}, a thread holds the next ones while it answers). Once
 * a thread fails (did not start, failed, ended), the pool is failed: the requests it was
 * answering, the ones waiting and any later ones fail with a {@link ThreadFailure}; the other
 * threads finish what they are answering.
 * @example
 * const pool = new RequestPool<string, boolean>("flush");
 * const flushed = await pool.request("/mnt/raid");
 * pool.close();
 */
export class RequestPool<Q, A> {
  readonly #name: WorkerName;
  readonly #size: number;
  readonly #depth: number;
  readonly #script: string | undefined;
  readonly #startTimeoutMs: number;
  readonly #members: Member<Q, A>[] = [];
  readonly #waiting: Pending<Q, A>[] = [];
  #failure: string | undefined;
  #lastId = 0;

  constructor(worker: WorkerName, options: RequestPoolOptions = {}) {
    this.#name = worker;
    this.#size = Math.max(1, options.size ?? 1);
    this.#depth = Math.max(1, options.depth ?? 1);
    this.#script = options.script;
    this.#startTimeoutMs = options.startTimeoutMs ?? THREAD_START_MS;
  }

  /**
   * Asks the next free thread (of the first `threads`, when given); settles with its answer, or
   * rejects with the error it threw, or with a {@link ThreadFailure}.
   */
  request(body: Q, threads = this.#size): Promise<A> {
    if (this.#failure !== undefined) return Promise.reject(new ThreadFailure(this.#failure, false));
    return new Promise<A>((resolve, reject) => {
      this.#waiting.push({ id: ++this.#lastId, body, threads: Math.max(1, Math.min(threads, this.#size)), resolve, reject });
      this.#dispatch();
    });
  }

  /**
   * {@link request}, with the right to take it back while no thread has started on it: a caller
   * that needs the answer now and finds its thread still busy with an earlier one (or not given
   * the processor by a loaded machine) does the work itself rather than wait.
   */
  requestTakeable(body: Q, threads = this.#size): TakeableRequest<A> {
    if (this.#failure !== undefined) return { answer: Promise.reject(new ThreadFailure(this.#failure, false)), takeBack: () => false };
    let pending!: Pending<Q, A>;
    const answer = new Promise<A>((resolve, reject) => {
      const id = ++this.#lastId;
      const cell = new Int32Array(new SharedArrayBuffer(4));
      offerJob(cell, 0, id);
      pending = { id, body, threads: Math.max(1, Math.min(threads, this.#size)), cell, resolve, reject };
    });
    this.#waiting.push(pending);
    this.#dispatch();
    const takeBack = (): boolean => {
      if (pending.takenBack) return true;
      const waiting = this.#waiting.indexOf(pending);
      if (waiting >= 0) this.#waiting.splice(waiting, 1);
      else if (!takeBackJob(pending.cell!, 0, pending.id)) return false;
      pending.takenBack = true;
      return true;
    };
    return { answer, takeBack };
  }

  /**
   * Whether a request sent now (to one of the first `threads`) would go to a thread at once,
   * nothing waiting before it: otherwise the caller may rather do the work itself.
   */
  hasRoom(threads = this.#size): boolean {
    if (this.#failure !== undefined || this.#waiting.length > 0) return false;
    return this.#least(Math.min(threads, this.#size)) !== undefined || this.#members.length < Math.min(threads, this.#size);
  }

  /** Of the first `threads` threads, the one with the fewest requests, if one can take another. */
  #least(threads: number): Member<Q, A> | undefined {
    let member: Member<Q, A> | undefined;
    for (let i = 0; i < Math.min(threads, this.#members.length); i++) {
      const m = this.#members[i]!;
      if (!m.gone && busy(m) < this.#depth && (!member || busy(m) < busy(member))) member = m;
    }
    return member;
  }

  /** Ends every thread; what is waiting or being answered fails. */
  close(): void {
    const reason = `the ${this.#name} threads were closed`;
    this.#fail(reason);
    for (const member of this.#members) this.#end(member, reason);
  }

  #dispatch(): void {
    while (this.#waiting.length > 0 && this.#failure === undefined) {
      const threads = this.#waiting[0]!.threads;
      // The least busy thread; a new one while every thread has work and there is room for one.
      let member = this.#least(threads);
      if ((!member || busy(member) > 0) && this.#members.length < threads) member = this.#spawn();
      if (!member) return;
      const pending = this.#waiting.shift()!;
      member.sent.set(pending.id, pending);
      member.sentCount++;
      // Busy, the thread keeps the process alive (the caller awaits it); idle, it must not.
      if (member.sent.size === 1) member.worker.ref();
      member.worker.postMessage({ kind: "request", id: pending.id, body: pending.body, ...(pending.cell ? { cell: pending.cell.buffer as SharedArrayBuffer } : {}) } satisfies ToThread<Q>);
    }
  }

  #spawn(): Member<Q, A> {
    const worker = spawnWorker(this.#script === undefined ? this.#name : { script: this.#script });
    const cell = new Int32Array(new SharedArrayBuffer(4));
    const answered = new Int32Array(new SharedArrayBuffer(4));
    const member: Member<Q, A> = { worker, cell, startId: newJobId(), started: false, gone: false, timer: undefined, sent: new Map(), answered, sentCount: 0 };
    offerJob(cell, 0, member.startId);
    worker.onmessage = (event: MessageEvent<FromThread<A>>) => this.#received(member, event.data);
    worker.onerror = (event: ErrorEvent) => this.#lost(member, `the ${this.#name} thread failed: ${event.message}`);
    worker.addEventListener("close", (event) => this.#lost(member, `the ${this.#name} thread ended (exit code ${(event as CloseEvent).code})`));
    worker.postMessage({ kind: "start", cell: cell.buffer as SharedArrayBuffer, id: member.startId, answered: answered.buffer as SharedArrayBuffer } satisfies ToThread<Q>);
    member.timer = setTimeout(() => {
      // Taken back, the start job can never be taken: the thread will never answer. Taken by the
      // thread already, its word is on its way.
      if (!member.started && takeBackJob(cell, 0, member.startId)) {
        this.#lost(member, `the ${this.#name} thread did not start within ${this.#startTimeoutMs / 1000} s`);
      }
    }, this.#startTimeoutMs);
    member.timer.unref();
    this.#members.push(member);
    return member;
  }

  #received(member: Member<Q, A>, message: FromThread<A>): void {
    if (member.gone) return;
    if (message.kind === "started") {
      member.started = true;
      clearTimeout(member.timer);
      return;
    }
    const pending = member.sent.get(message.id);
    if (!pending) return;
    member.sent.delete(message.id);
    if (member.sent.size === 0) member.worker.unref();
    if (message.kind === "skipped" || pending.takenBack) {
      this.#dispatch();
      return;
    }
    if (message.ok) pending.resolve(message.value);
    else pending.reject(Object.assign(new Error(message.error.message), { code: message.error.code, errno: message.error.errno }));
    this.#dispatch();
  }

  /** A thread failed or ended: the pool fails. */
  #lost(member: Member<Q, A>, reason: string): void {
    if (member.gone) return;
    // Said once: after the first, the pool fails as a whole.
    if (this.#failure === undefined) reportThreadFallback(reason);
    this.#end(member, reason);
    this.#fail(reason);
  }

  /** Ends a thread; what it was sent fails, saying whether it may have run. */
  #end(member: Member<Q, A>, reason: string): void {
    if (member.gone) return;
    // A thread that never took its start job never ran a request, and taken back now, never will.
    takeBackJob(member.cell, 0, member.startId);
    const started = member.started || !jobKept(member.cell, 0);
    member.gone = true;
    clearTimeout(member.timer);
    member.worker.terminate();
    const sent = [...member.sent.values()];
    member.sent.clear();
    for (const pending of sent) if (!pending.takenBack) pending.reject(new ThreadFailure(reason, started));
  }

  /** From now on every request fails; so do the waiting ones (they never ran). */
  #fail(reason: string): void {
    this.#failure ??= reason;
    for (const pending of this.#waiting.splice(0)) pending.reject(new ThreadFailure(this.#failure, false));
  }
}

/** Requests a thread holds that it has not answered yet (some answers may still be on their way). */
function busy(member: { sentCount: number; answered: Int32Array }): number {
  return member.sentCount - Atomics.load(member.answered, 0);
}

/**
 * The worker's side of a {@link RequestPool}: answers each request with `answer`'s value, or
 * the error it throws (its message, code and errno go back).
 * @example
 * // a worker's entry point (as lib/io/flush_worker.ts is); lib/thread imports nothing above it
 * declare function flushFileSystem(folder: string): void;
 * answerRequests((folder: string) => flushFileSystem(folder));
 */
export function answerRequests<Q, A>(answer: (body: Q) => A | Promise<A>): void {
  /** Set once this thread took its start job; a thread given up on answers nothing. */
  let serving = false;
  let answered: Int32Array | undefined;
  /** Requests received while one is being answered, in order. */
  const queued: Array<{ id: number; body: Q; cell?: SharedArrayBuffer }> = [];
  let answering = false;
  const answerOne = async (id: number, body: Q): Promise<void> => {
    let reply: FromThread<A>;
    try {
      reply = { kind: "reply", id, ok: true, value: await answer(body) };
    } catch (error) {
      const e = (error ?? {}) as { message?: string; code?: string; errno?: number };
      reply = { kind: "reply", id, ok: false, error: { message: e.message ?? String(error), code: e.code, errno: e.errno } };
    }
    // Counted before the answer leaves: by the time it is read, the count says this thread is free.
    if (answered) Atomics.add(answered, 0, 1);
    self.postMessage(reply);
  };
  self.onmessage = async (event: MessageEvent<ToThread<Q>>) => {
    const message = event.data;
    if (message.kind === "start") {
      serving = takeJob(new Int32Array(message.cell), 0, message.id);
      answered = new Int32Array(message.answered);
      if (serving) self.postMessage({ kind: "started" } satisfies FromThread<A>);
      return;
    }
    if (!serving) return;
    // One at a time, in the order sent: a request that waits (on a read thread, say) holds the
    // ones sent after it. The first starts at once, in this call.
    queued.push(message);
    if (answering) return;
    answering = true;
    while (queued.length > 0) {
      const next = queued.shift()!;
      if (next.cell && !takeJob(new Int32Array(next.cell), 0, next.id)) {
        // Taken back by the caller, who does it itself.
        if (answered) Atomics.add(answered, 0, 1);
        self.postMessage({ kind: "skipped", id: next.id } satisfies FromThread<A>);
        continue;
      }
      await answerOne(next.id, next.body);
    }
    answering = false;
  };
}
