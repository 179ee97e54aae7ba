/**
 * The job of the running offload: registers it (waiting in the queue when asked), follows its
 * progress through the copy engine's callbacks, rewrites its state file about once a second and
 * its metrics file every five seconds, keeps a throughput sample per second for the report, and
 * records how it ended — also when the process is ended by a signal.
 *
 * Per-destination write rates: the engine writes each chunk to every destination still taking
 * the file, and reports bytes read from the source (`onBytes`) and each file's outcome per
 * destination (`onFile`). Bytes read are credited to every destination that is taking files:
 * not refused before the run, not dropped as a whole, and whose last file did not fail there.
 * Verified bytes are counted per destination as each file's read-back finishes.
 */
import { CliError, describeSystemError, ExitCode } from "../core/errors.ts";
import { showName } from "../core/names.ts";
import { writeFileAtomically } from "../io/atomic_file.ts";
import { GOOD_STATUSES } from "./copy.ts";
import { admit, currentUser, deviceOf, hostName, isFinished, newJobId, processIdentity, stateOf, type Admission, type JobRecord, type JobState, type JobStore } from "./jobs.ts";
import { formatMetrics } from "./metrics.ts";
import type { FileResult, PlannedFile } from "./tree.ts";

/** Seconds between state file writes. */
export const STATE_INTERVAL_S = 1;
/** Seconds between metrics file writes. */
export const METRICS_INTERVAL_S = 5;
/** Seconds the rates are averaged over. */
const RATE_WINDOW_S = 5;
/** How often a queued job looks again (ms). */
const QUEUE_POLL_MS = 500;

/** One second of a run: bytes written to and verified on each destination (in `destinations` order). */
export interface ThroughputSample {
  /** Seconds since the job started copying. */
  t: number;
  /** Bytes read from the source. */
  read: number;
  written: number[];
  verified: number[];
}

/** A file that failed on a destination, when. */
export interface FailureMark {
  t: number;
  destination: number;
}

/** What {@link JobRun.start} needs. */
export interface JobRunOptions {
  /** Where state files live; undefined when none can be kept (then there is no queue either). */
  store: JobStore | undefined;
  /** Take over this job (a resumed run) instead of making a new one. */
  resume?: string;
  args: string[];
  cwd: string;
  command: string[];
  source: string;
  destinations: string[];
  queue: boolean;
  metrics?: string;
  /** Why the metrics or state file cannot be written at its path now (inside the card or a destination), asked before each write. */
  placeProblem?: (path: string) => string | undefined;
  report?: string;
  /** Called once the job's state file is written, before it waits in the queue. */
  onCreated?: (job: JobRun) => void;
  /** Called when the job is queued, and again when its place changes. */
  onQueued?: (admission: Admission, job: JobRun) => void;
  /** Called (once per kind) when the state or metrics file cannot be written during the run. */
  onProblem?: (message: string) => void;
}

/** A running job. */
export class JobRun {
  readonly record: JobRecord;
  readonly samples: ThroughputSample[] = [];
  readonly failures: FailureMark[] = [];
  readonly #options: JobRunOptions;
  #startedAt = performance.now();
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticks = 0;
  #pendingRead = 0;
  #pendingVerified: number[];
  #unusable = new Set<number>();
  #lastFailed: boolean[];
  #reported = new Set<string>();
  #finished = false;
  #sampling = true;

  private constructor(record: JobRecord, options: JobRunOptions) {
    this.record = record;
    this.#options = options;
    this.#pendingVerified = record.destinations.map(() => 0);
    this.#lastFailed = record.destinations.map(() => false);
  }

  /** The job's id. */
  get id(): string {
    return this.record.id;
  }

  /**
   * Makes the job (or takes over the one being resumed), writes its state file, and, with
   * `queue`, waits until no other live job writes to its destinations' devices.
   * @throws CliError when the job to resume is still running; the store's errors otherwise.
   */
  static async start(options: JobRunOptions): Promise<JobRun> {
    const now = new Date().toISOString();
    const record: JobRecord = {
      format: "cartkit-job/1",
      id: options.resume ?? newJobId(),
      state: options.queue ? "queued" : "running",
      pid: process.pid,
      process: processIdentity(process.pid),
      host: hostName(),
      user: currentUser(),
      cwd: options.cwd,
      command: options.command,
      args: options.args,
      source: options.source,
      destinations: options.destinations,
      devices: [...new Set(options.destinations.map(deviceOf))],
      ticket: 0,
      queue: options.queue,
      created: now,
      updated: now,
      doneFiles: 0,
      copiedBytes: 0,
      rate: 0,
      eta: null,
      destinationProgress: options.destinations.map((root) => ({ root, copiedFiles: 0, copiedBytes: 0, verifiedFiles: 0, verifiedBytes: 0, errors: 0, verificationFailures: 0, rate: 0 })),
      runs: 1,
      ...(options.report ? { report: options.report } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
    };
    const job = new JobRun(record, options);
    const store = options.store;
    if (!store) {
      options.onCreated?.(job);
      job.#begin();
      return job;
    }
    let last = "";
    for (let first = true; ; first = false) {
      const lock = await store.lock();
      let admission: Admission;
      try {
        const { jobs, lastTicket } = store.liveJobs();
        if (first) job.#register(jobs, lastTicket, store);
        record.updated = new Date().toISOString();
        admission = admit(record, jobs);
        if (admission.start) {
          record.state = "running";
          delete record.position;
          delete record.waitingFor;
        } else {
          record.state = "queued";
          record.position = admission.position;
          record.waitingFor = admission.waitingFor.map((j) => j.id);
        }
        if (first) store.started(record);
        if (first && !options.resume) {
          // Two jobs made in the same second with the same four random digits: draw again.
          for (let tries = 1; ; tries++) {
            try {
              store.create(record);
              break;
            } catch (error) {
              if ((error as { code?: string }).code !== "EEXIST" || tries >= 8) throw error;
              record.id = newJobId();
            }
          }
        } else {
          store.save(record);
        }
      } finally {
        lock.release();
      }
      if (first) options.onCreated?.(job);
      if (admission.start) break;
      const seen = `${admission.position}:${record.waitingFor?.join(",")}`;
      if (seen !== last) options.onQueued?.(admission, job);
      last = seen;
      await Bun.sleep(QUEUE_POLL_MS);
    }
    job.#begin();
    return job;
  }

  /** Under the lock, the first time: the queue ticket, and the resumed job's earlier runs. */
  #register(jobs: JobRecord[], lastTicket: number, store: JobStore): void {
    const record = this.record;
    record.ticket = lastTicket + 1;
    if (!this.#options.resume) return;
    const earlier = jobs.find((j) => j.id === record.id) ?? store.read(record.id);
    if (!earlier) return;
    if (!isFinished(stateOf(earlier))) throw new CliError(`job ${earlier.id} is still ${earlier.state} (pid ${earlier.pid} on ${earlier.host}); it cannot be resumed twice`, { exitCode: ExitCode.UsageOrIo });
    record.created = earlier.created;
    record.args = earlier.args;
    record.runs = earlier.runs + 1;
  }

  #begin(): void {
    this.record.started = new Date().toISOString();
    this.#startedAt = performance.now();
    this.#write();
    this.#timer = setInterval(() => this.#tick(), STATE_INTERVAL_S * 1000);
    this.#timer.unref?.();
  }

  /** The totals, once the source is walked; `unusable` destinations take no bytes. */
  planned(files: number, bytes: number, unusable: Iterable<string> = []): void {
    this.record.files = files;
    this.record.bytes = bytes;
    for (const root of unusable) {
      const i = this.record.destinations.indexOf(root);
      if (i >= 0) this.#unusable.add(i);
    }
  }

  /** Bytes read from the source and written since the last call (the engine's `onBytes`). */
  bytes(count: number): void {
    this.#pendingRead += count;
    this.record.copiedBytes += count;
  }

  /** A file finished (the engine's `onFile`): counts per destination. */
  fileDone(file: PlannedFile, result: FileResult): void {
    this.record.doneFiles++;
    const t = (performance.now() - this.#startedAt) / 1000;
    for (const outcome of result.destinations) {
      const i = this.record.destinations.indexOf(outcome.root);
      const d = this.record.destinationProgress[i];
      if (!d) continue;
      const good = GOOD_STATUSES.has(outcome.status);
      if (good || outcome.status === "mismatch") {
        d.copiedFiles++;
        d.copiedBytes += file.size;
      }
      if (outcome.status === "verified" || outcome.status === "present") {
        d.verifiedFiles++;
        d.verifiedBytes += file.size;
        this.#pendingVerified[i]! += file.size;
      }
      if (!good) {
        d.errors++;
        if (outcome.status === "mismatch") d.verificationFailures++;
        this.failures.push({ t, destination: i });
        if (outcome.kind === "destination") this.#unusable.add(i);
      }
      this.#lastFailed[i] = !good;
    }
  }

  #tick(): void {
    if (this.#sampling) this.#sample();
    this.#ticks++;
    this.#write();
    if (this.#options.metrics && this.#ticks % METRICS_INTERVAL_S === 0) {
      try {
        this.#writeMetrics();
      } catch (error) {
        this.#problem("metrics", `${showName(this.#options.metrics)}: metrics not written: ${describeSystemError(error)}`);
      }
    }
  }

  /** Closes the current second: a sample, and the rates over the last seconds. */
  #sample(): void {
    const t = (performance.now() - this.#startedAt) / 1000;
    const read = this.#pendingRead;
    this.#pendingRead = 0;
    const written = this.record.destinations.map((_, i) => (this.#unusable.has(i) || this.#lastFailed[i] ? 0 : read));
    this.samples.push({ t, read, written, verified: [...this.#pendingVerified] });
    this.#pendingVerified.fill(0);
    const window = this.samples.slice(-RATE_WINDOW_S);
    const span = Math.max(window.length === this.samples.length ? t : t - this.samples[this.samples.length - 1 - window.length]!.t, 1e-3);
    const readInWindow = window.reduce((sum, s) => sum + s.read, 0);
    this.record.rate = Math.round(readInWindow / span);
    this.record.destinationProgress.forEach((d, i) => {
      d.rate = Math.round(window.reduce((sum, s) => sum + s.written[i]!, 0) / span);
    });
    const left = (this.record.bytes ?? 0) - this.record.copiedBytes;
    this.record.eta = this.record.bytes === undefined ? null : left <= 0 ? 0 : this.record.rate > 0 ? Math.round(left / this.record.rate) : null;
  }

  #write(): void {
    this.record.updated = new Date().toISOString();
    const store = this.#options.store;
    if (!store) return;
    try {
      const problem = this.#options.placeProblem?.(store.pathOf(this.record.id));
      if (problem) throw new Error(problem);
      store.save(this.record);
    } catch (error) {
      this.#problem("state", `${showName(store.pathOf(this.record.id))}: job state not written: ${describeSystemError(error)}`);
    }
  }

  #writeMetrics(): void {
    const metrics = this.#options.metrics;
    if (!metrics) return;
    const problem = this.#options.placeProblem?.(metrics);
    if (problem) throw new Error(problem);
    writeFileAtomically(metrics, formatMetrics([this.record]), { overwrite: true });
  }

  #problem(kind: string, message: string): void {
    if (this.#reported.has(kind)) return;
    this.#reported.add(kind);
    this.#options.onProblem?.(message);
  }

  /**
   * Records how the run ended: `done` for exit 0, `failed` otherwise, with each destination's
   * verdict when there is one; writes the state and metrics files a last time.
   * @returns what could not be written (the metrics file the user asked for counts as a failure).
   */
  finish(exitCode: number, verdict?: ReadonlyArray<{ root: string; complete: boolean; line: string }>): string[] {
    if (this.#finished) return [];
    this.#end(exitCode === 0 ? "done" : "failed", exitCode);
    for (const v of verdict ?? []) {
      const d = this.record.destinationProgress.find((p) => p.root === v.root);
      if (d) Object.assign(d, { complete: v.complete, summary: v.line });
    }
    this.#write();
    if (!this.#options.metrics) return [];
    try {
      this.#writeMetrics();
      return [];
    } catch (error) {
      return [`${showName(this.#options.metrics)}: metrics not written: ${describeSystemError(error)}`];
    }
  }

  /**
   * The process is exiting without {@link finish}: `cancelled` after SIGINT or SIGTERM (exit
   * 130, 143), `failed` after an error that stopped the run, `interrupted` when it ends early
   * with 0 (stdout closed by its reader). Synchronous, for an `exit` handler; nothing can be
   * reported any more, so nothing throws.
   */
  exited(code: number): void {
    if (this.#finished) return;
    const signal = code === 130 ? "SIGINT" : code === 143 ? "SIGTERM" : undefined;
    this.#end(signal ? "cancelled" : code === 0 ? "interrupted" : "failed", code);
    if (signal) this.record.signal = signal;
    this.#write();
    try {
      this.#writeMetrics();
    } catch {
      // the process is ending; its exit code tells what happened
    }
  }

  #end(state: JobState, exitCode: number): void {
    this.#finished = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.record.started && this.#sampling) this.#sample();
    this.#sampling = false;
    this.record.state = state;
    this.record.exitCode = exitCode;
    this.record.ended = new Date().toISOString();
    this.record.rate = 0;
    this.record.eta = null;
    for (const d of this.record.destinationProgress) d.rate = 0;
    delete this.record.position;
    delete this.record.waitingFor;
  }

  /**
   * The copying is over (what follows, the records and the report, is not throughput): closes
   * the last sample. The state file is still rewritten until {@link finish}.
   */
  endSamples(): void {
    if (this.#sampling && this.record.started) this.#sample();
    this.#sampling = false;
  }

  /** Seconds since the job started copying. */
  get seconds(): number {
    return (performance.now() - this.#startedAt) / 1000;
  }
}
