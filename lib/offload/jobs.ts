/**
 * Offloads as jobs, with no daemon: every run keeps a small state file in a folder
 * (`$XDG_STATE_HOME/cartkit/jobs/<id>.json`), rewritten atomically as it goes, so that any other
 * process can list the runs, tell which are still alive, queue behind them and cancel them.
 *
 * Whether a job is alive is decided from its process, never from what its file says: a file
 * that says "running" for a process that is gone (killed, crashed, machine rebooted) is an
 * interrupted job. A process is identified by its pid and its start time (Linux: boot id and
 * start ticks from /proc), so a reused pid is not mistaken for the job.
 *
 * Queueing: jobs that asked to queue start only when no other live job writes to any of their
 * destination devices (st_dev of each destination, or of its nearest existing parent), first
 * come first served per device. The decision and the write that records it are made under one
 * lock (flock on `<dir>/.lock`), so two processes can never both decide to start on one drive;
 * the kernel drops the lock of a process that dies holding it.
 */
import { accessSync, closeSync, constants, fstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { randomBytes } from "node:crypto";
import { CliError, describeSystemError, ExitCode } from "../core/errors.ts";
import { fsPath, joinPath, showName } from "../core/names.ts";
import { loginName } from "../core/user.ts";
import { atNearestExisting } from "./places.ts";
import { writeFileAtomically } from "../io/atomic_file.ts";
import { FileLock } from "../io/file_lock.ts";
import { openRegularFile, readRegularFile } from "../io/held_folder.ts";

/** What a job is doing, or how it ended. */
export type JobState = "queued" | "running" | "done" | "failed" | "cancelled" | "interrupted";
export const JOB_STATES: readonly JobState[] = ["queued", "running", "done", "failed", "cancelled", "interrupted"];

/** One destination's counts, as the job has seen its files finish. */
export interface DestinationProgress {
  root: string;
  /** Files written to it and put in place (whatever their check then said), and their bytes. */
  copiedFiles: number;
  copiedBytes: number;
  /** Files read back from it and identical to the source (or already there, identical). */
  verifiedFiles: number;
  verifiedBytes: number;
  /** Files that failed on it, verification failures included. */
  errors: number;
  /** Files that read back differently from the source. */
  verificationFailures: number;
  /** Bytes per second written to it over the last seconds. */
  rate: number;
  /** At the end: whether it holds every file, verified, and the summary line. */
  complete?: boolean;
  summary?: string;
}

/** The state file of a job. */
export interface JobRecord {
  format: "cartkit-job/1";
  id: string;
  /** As the job last wrote it; see {@link stateOf} for what it is now. */
  state: JobState;
  pid: number;
  /** The process's identity (boot id and start time on Linux), to tell a reused pid apart. */
  process: string | null;
  host: string;
  user: string;
  cwd: string;
  /** How the tool was started (the executable, and the script when run from source). */
  command: string[];
  /** The arguments as given (without a --resume a resumed run added). */
  args: string[];
  source: string;
  destinations: string[];
  /** The destinations' devices (st_dev). */
  devices: string[];
  /** Place in the order of arrival, for the queue. */
  ticket: number;
  /** Asked to wait for the destinations' devices (`--queue`). */
  queue: boolean;
  /** While queued: 1 for the next to start. */
  position?: number;
  /** While queued: the jobs it waits for. */
  waitingFor?: string[];
  created: string;
  started?: string;
  ended?: string;
  updated: string;
  /** Planned files and bytes (once known). */
  files?: number;
  bytes?: number;
  /** Files finished, and bytes read from the source and written so far. */
  doneFiles: number;
  copiedBytes: number;
  /** Bytes per second over the last seconds, and the seconds left at that rate. */
  rate: number;
  eta: number | null;
  destinationProgress: DestinationProgress[];
  exitCode?: number;
  /** The signal that ended it, when one did. */
  signal?: string;
  /** How many times it ran (1, then one more for each resume). */
  runs: number;
  report?: string;
  metrics?: string;
}

/** How long a job on another host may go without an update before it counts as gone. */
export const OTHER_HOST_STALE_MS = 60_000;

/**
 * The folder of the state files: `$XDG_STATE_HOME/cartkit/jobs`, or
 * `~/.local/state/cartkit/jobs` (the XDG default).
 */
export function defaultStateDir(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_STATE_HOME?.startsWith("/") ? env.XDG_STATE_HOME : joinPath(env.HOME || userHome(), ".local/state");
  return joinPath(base, "cartkit/jobs");
}

function userHome(): string {
  try {
    return userInfo().homedir;
  } catch {
    return "/";
  }
}

/** Who runs this process: the user name (with the sudo user behind it), or the uid. */
export function currentUser(env: Record<string, string | undefined> = process.env): string {
  // id(1) asks NSS, for a user the runtime and /etc/passwd do not know; the uid where none can say.
  const name = loginName() ?? idName() ?? String(process.getuid?.() ?? "?");
  return env.SUDO_USER && env.SUDO_USER !== name ? `${name} (sudo by ${env.SUDO_USER})` : name;
}

/** This process's user name as id(1) gives it, or undefined (no id, no /dev/null to start it with). */
function idName(): string | undefined {
  try {
    const id = Bun.spawnSync({ cmd: ["id", "-un"], stdin: "ignore", stdout: "pipe", stderr: "ignore" });
    return id.exitCode === 0 ? id.stdout.toString().trim() || undefined : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A new job id: the UTC time it was made and four random hex digits, `20261201-224401-a3f9`
 * (sorts by time; the random part is short enough to type).
 */
export function newJobId(now = new Date()): string {
  const iso = now.toISOString();
  return `${iso.slice(0, 10).replace(/-/g, "")}-${iso.slice(11, 19).replace(/:/g, "")}-${randomBytes(2).toString("hex")}`;
}

let bootId: string | null | undefined;

/** The process's identity: `<boot id>:<start ticks>` on Linux, null where /proc cannot tell. */
export function processIdentity(pid: number): string | null {
  if (bootId === undefined) {
    try {
      bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    } catch {
      bootId = null;
    }
  }
  if (bootId === null) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The name (field 2) is in parentheses and may hold anything: count from its end.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return null;
    return `${bootId}:${fields[19]}`;
  } catch {
    return null;
  }
}

/** Whether the process that wrote `record` is still running (see the module's notes). */
export function isAlive(record: JobRecord, now = Date.now()): boolean {
  if (record.host !== hostname()) return now - Date.parse(record.updated) < OTHER_HOST_STALE_MS;
  if (record.process !== null) return processIdentity(record.pid) === record.process;
  try {
    process.kill(record.pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

/** What a job is now: one whose file says running or queued and whose process is gone is interrupted. */
export function stateOf(record: JobRecord, now = Date.now()): JobState {
  return (record.state === "running" || record.state === "queued") && !isAlive(record, now) ? "interrupted" : record.state;
}

/** True for states a job never leaves by itself. */
export function isFinished(state: JobState): boolean {
  return state !== "running" && state !== "queued";
}

/** The device (st_dev) that holds `path`, or its nearest existing parent. */
export function deviceOf(path: string): string {
  return atNearestExisting(path, (existing) => String(statSync(fsPath(existing)).dev)) ?? "unknown";
}

/** A state file that could not be read, and why. */
export interface JobFileProblem {
  path: string;
  message: string;
}

/**
 * The store's index: the ids of the jobs whose state files say they ended (done, failed,
 * cancelled), whose files are not read again at a job's start (until it is resumed), and the
 * last queue ticket given. Read only when it is this user's own.
 * A start reads only the state files the index does not name: the live jobs', those an earlier
 * version or another host wrote, and the interrupted. Thousands of finished jobs' files, cold
 * after a day of offloads, took each start 0.4 s.
 */
const INDEX_FILE = "ended";
const INDEX_HEAD = "cartkit-ended-jobs/1";
/** The most of the index a start reads (some 22 bytes a job). */
const INDEX_MOST_BYTES = 64 << 20;
/** An id the index may hold (one line; a file named otherwise is read each time). */
const LISTABLE_ID = /^[\w][\w.-]*$/;

interface StoreIndex {
  lastTicket: number;
  ended: Set<string>;
}

/** The folder of job state files. */
export class JobStore {
  readonly dir: string;
  /** The index as the last {@link liveJobs} left it (under the lock). */
  #index: StoreIndex | undefined;

  constructor(dir: string = defaultStateDir()) {
    this.dir = dir;
  }

  /**
   * Under the lock: the jobs that may be live (queued or running), and the last queue ticket
   * given. Reads the state files the index does not name as ended, and adds to it those that say
   * they ended. An index that cannot be read (none yet, another version's, damaged) is read as
   * empty: every file is read, as before there was one.
   */
  liveJobs(): { jobs: JobRecord[]; lastTicket: number } {
    const index = this.#readIndex();
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") names = [];
      else throw error;
    }
    const jobs: JobRecord[] = [];
    let grown = false;
    for (const name of names.sort()) {
      if (!name.endsWith(".json") || name.startsWith(".")) continue;
      const id = name.slice(0, -5);
      if (index.ended.has(id)) continue;
      let job: JobRecord;
      try {
        job = parseRecord(readRegularFile(joinPath(this.dir, name)).toString("utf8"), id);
      } catch {
        continue; // removed meanwhile, or not a job's: `jobs` names it
      }
      if (job.ticket > index.lastTicket) {
        index.lastTicket = job.ticket;
        grown = true;
      }
      // Only what its file says ended: an interrupted job is read each time (a start that cannot
      // see its process, from another PID namespace say, must not hide it from the next ones).
      if (isFinished(job.state)) {
        if (!LISTABLE_ID.test(id)) continue;
        index.ended.add(id);
        grown = true;
      } else if (!isFinished(stateOf(job))) jobs.push(job);
    }
    if (grown) {
      // Ids whose files are gone (pruned) leave it as it is written again.
      const present = new Set(names.filter((name) => name.endsWith(".json")).map((name) => name.slice(0, -5)));
      for (const id of index.ended) if (!present.has(id)) index.ended.delete(id);
      this.#writeIndex(index);
    }
    this.#index = index;
    return { jobs, lastTicket: index.lastTicket };
  }

  /**
   * Under the lock, after {@link liveJobs}: a job that starts again (`--resume`) is no longer
   * one that ended, and a new one's ticket is the last given.
   */
  started(record: JobRecord): void {
    const index = this.#index ?? this.#readIndex();
    const ended = index.ended.delete(record.id);
    if (!ended && record.ticket <= index.lastTicket) return;
    index.lastTicket = Math.max(index.lastTicket, record.ticket);
    this.#writeIndex(index);
  }

  #readIndex(): StoreIndex {
    const empty = { lastTicket: 0, ended: new Set<string>() };
    let text: string;
    try {
      const fd = openRegularFile(joinPath(this.dir, INDEX_FILE));
      try {
        const stats = fstatSync(fd);
        // Another user's list (a store others can write) could hide a live job: not read.
        if (stats.size > INDEX_MOST_BYTES || (process.getuid !== undefined && stats.uid !== process.getuid())) return empty;
        text = readFileSync(fd, "utf8");
      } finally {
        closeSync(fd);
      }
    } catch {
      return empty;
    }
    const lines = text.split("\n");
    const head = /^cartkit-ended-jobs\/1 ticket=(\d{1,15})$/.exec(lines[0] ?? "");
    if (!head) return empty;
    return { lastTicket: Number(head[1]), ended: new Set(lines.slice(1).filter((line) => LISTABLE_ID.test(line))) };
  }

  /** Writes the index (a reader sees the old or the new file); one that cannot be written is made again by a later start. */
  #writeIndex(index: StoreIndex): void {
    try {
      writeFileAtomically(joinPath(this.dir, INDEX_FILE), `${INDEX_HEAD} ticket=${index.lastTicket}\n${[...index.ended].join("\n")}\n`, { overwrite: true });
    } catch {
      // the state files themselves are what counts; the index only spares reading them
    }
  }

  /**
   * Makes the folder (private to the user: job files hold command lines).
   * @throws when it cannot be made, or written in.
   */
  ensure(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    accessSync(this.dir, constants.W_OK | constants.X_OK);
  }

  /** The state file of a job. */
  pathOf(id: string): string {
    return joinPath(this.dir, `${id}.json`);
  }

  /** Every job, oldest first, and the files that could not be read. */
  list(): { jobs: JobRecord[]; problems: JobFileProblem[] } {
    const jobs: JobRecord[] = [];
    const problems: JobFileProblem[] = [];
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return { jobs, problems };
      throw error;
    }
    for (const name of names.sort()) {
      if (!name.endsWith(".json") || name.startsWith(".")) continue;
      const path = joinPath(this.dir, name);
      try {
        jobs.push(parseRecord(readRegularFile(path).toString("utf8"), name.slice(0, -5)));
      } catch (error) {
        // Removed by a prune meanwhile: not a problem.
        if ((error as { code?: string }).code === "ENOENT") continue;
        problems.push({ path, message: error instanceof SyntaxError || (error as { code?: string }).code === "EBADJOB" ? `not a job state file: ${(error as Error).message}` : describeSystemError(error) });
      }
    }
    jobs.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
    return { jobs, problems };
  }

  /** One job by id; undefined when there is none. */
  read(id: string): JobRecord | undefined {
    try {
      return parseRecord(readRegularFile(this.pathOf(id)).toString("utf8"), id);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return undefined;
      throw Object.assign(error as Error, { path: this.pathOf(id) });
    }
  }

  /**
   * The job a user means: its whole id, or a part of it that starts or ends it and fits only
   * one job (`a3f9`, `20261201-2244`).
   * @throws CliError (exit 2) when none fits, or several do.
   */
  find(query: string): JobRecord {
    const exact = /^[\w-]+$/.test(query) ? this.read(query) : undefined;
    if (exact) return exact;
    const { jobs } = this.list();
    const fits = query ? jobs.filter((j) => j.id.startsWith(query) || j.id.endsWith(query)) : [];
    if (fits.length === 1) return fits[0]!;
    if (fits.length === 0) throw new CliError(`no job '${query}' in ${showName(this.dir)}; see 'dispatchcopy jobs'`, { exitCode: ExitCode.UsageOrIo });
    throw new CliError(
      `'${query}' fits ${fits.length} jobs (${fits
        .slice(0, 4)
        .map((j) => j.id)
        .join(", ")}${fits.length > 4 ? ", …" : ""}); give more of the id`,
      { exitCode: ExitCode.UsageOrIo },
    );
  }

  /** Writes a job's state file atomically (a reader sees the old or the new file, never half). */
  save(record: JobRecord): void {
    writeFileAtomically(this.pathOf(record.id), `${JSON.stringify(record, null, 1)}\n`, { overwrite: true });
  }

  /** Writes a new job's state file; EEXIST when the id is taken. */
  create(record: JobRecord): void {
    writeFileAtomically(this.pathOf(record.id), `${JSON.stringify(record, null, 1)}\n`, { overwrite: false });
  }

  /**
   * Refuses to act on a job (signal its process, run its command line again) whose state file,
   * or folder, someone else could have written: owned by another user, or writable by group or
   * others. A job file is input, and `cancel`/`resume` may run as root.
   * @throws CliError (exit 2) saying which and how to fix it.
   */
  assertTrusted(job: Pick<JobRecord, "id">): void {
    const uid = process.getuid?.();
    if (uid === undefined) return;
    for (const path of [this.dir, this.pathOf(job.id)]) {
      const stats = statSync(path);
      if (stats.uid !== uid || (stats.mode & 0o022) !== 0) {
        throw new CliError(`${stats.uid !== uid ? `is owned by uid ${stats.uid}, not by you` : `can be written by others (mode ${(stats.mode & 0o777).toString(8)})`}: its jobs are not cancelled or resumed from here (make it yours and 'chmod go-w' it)`, { path, exitCode: ExitCode.UsageOrIo });
      }
    }
  }

  /** Removes a job's state file. */
  remove(id: string): void {
    rmSync(this.pathOf(id), { force: true });
  }

  /** Waits for the lock that orders the jobs' decisions. */
  lock(): Promise<FileLock> {
    this.ensure();
    return FileLock.acquire(joinPath(this.dir, ".lock"));
  }
}

function parseRecord(text: string, id: string): JobRecord {
  const record = JSON.parse(text) as JobRecord;
  if (record?.format !== "cartkit-job/1" || record.id !== id || !JOB_STATES.includes(record.state) || !Array.isArray(record.destinations)) {
    throw Object.assign(new Error("its format, id or state is not a job's"), { code: "EBADJOB" });
  }
  // The fields the listing, the queue and a resume use, each of its kind: a file that lacks one is
  // named as not a job's, never read as one (a listing once stopped on a missing source).
  const strings = ["source", "host", "user", "cwd", "created", "updated"] as const;
  const numbers = ["pid", "ticket", "doneFiles", "copiedBytes", "rate", "runs"] as const;
  const lists = ["args", "destinations", "devices", "destinationProgress"] as const;
  const wrong = [
    ...strings.filter((key) => typeof record[key] !== "string"),
    ...numbers.filter((key) => typeof record[key] !== "number"),
    ...lists.filter((key) => !Array.isArray(record[key])),
    ...(record.destinations.some((d) => typeof d !== "string") || record.args.some((a) => typeof a !== "string") ? ["destinations or args"] : []),
  ];
  if (wrong.length > 0) throw Object.assign(new Error(`${wrong.join(", ")} missing or not of its kind`), { code: "EBADJOB" });
  return record;
}

/** Whether two jobs write to a device in common. */
export function shareDevice(a: Pick<JobRecord, "devices">, b: Pick<JobRecord, "devices">): boolean {
  return a.devices.some((d) => b.devices.includes(d));
}

/** What the queue decided for a job. */
export interface Admission {
  start: boolean;
  /** 1 for the next to start. */
  position: number;
  /** The live jobs it waits for: running on its devices, or queued before it there. */
  waitingFor: JobRecord[];
}

/**
 * Decides, from the other jobs' files, whether `job` may start: a job that did not ask to
 * queue always may; one that did waits while a live job runs on one of its devices, or a live
 * job queued before it (lower ticket) waits for one of them. Call it under the store's lock.
 */
export function admit(job: JobRecord, others: readonly JobRecord[], now = Date.now()): Admission {
  const live = others.filter((o) => o.id !== job.id && !isFinished(o.state) && shareDevice(o, job) && isAlive(o, now));
  const running = live.filter((o) => o.state === "running");
  const ahead = live.filter((o) => o.state === "queued" && o.ticket < job.ticket);
  if (!job.queue) return { start: true, position: 0, waitingFor: [] };
  return { start: running.length === 0 && ahead.length === 0, position: ahead.length + 1, waitingFor: [...running, ...ahead] };
}

/** Removes the files of finished jobs that ended (or were last heard of) longer ago than `olderThanSeconds`. */
export function pruneJobs(store: JobStore, olderThanSeconds: number, now = Date.now()): JobRecord[] {
  const removed: JobRecord[] = [];
  for (const job of store.list().jobs) {
    const state = stateOf(job, now);
    if (!isFinished(state)) continue;
    const last = Date.parse(job.ended ?? job.updated);
    if (now - last < olderThanSeconds * 1000) continue;
    store.remove(job.id);
    removed.push(job);
  }
  return removed;
}

/** Sends SIGTERM to a live job's process. */
export function signalJob(job: JobRecord, signal: NodeJS.Signals = "SIGTERM"): void {
  process.kill(job.pid, signal);
}

/** This machine's name, as job files record it. */
export function hostName(): string {
  return hostname();
}
