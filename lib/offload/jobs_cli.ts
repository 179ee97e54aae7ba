/**
 * `dispatchcopy jobs`: the offloads in flight and done, read from their state files
 * (lib/offload/jobs.ts) — a table, one job's details, cancel, resume, prune, and every job's
 * metrics. The arguments and the command's words are here so that the tool file stays wiring.
 */
import type { ArgsDef } from "citty";
import { defineCommand } from "citty";
import { CliError, describeSystemError, ExitCode, usageError } from "../core/errors.ts";
import { showLine, showName } from "../core/names.ts";
import type { LineSink } from "../core/sink.ts";
import { formatBytes, formatDuration, parseDuration } from "../core/units.ts";
import { VERSION } from "../core/version.ts";
import { shellLine } from "../tc/ffmpeg.ts";
import { defaultStateDir, hostName, isAlive, isFinished, JobStore, pruneJobs, signalJob, stateOf, type JobRecord } from "./jobs.ts";
import { formatMetrics } from "./metrics.ts";

/** The environment variable a resumed run finds the job it continues in. */
export const RESUME_JOB_VARIABLE = "CARTKIT_JOB_ID";

const STATE_DIR_ARG = { type: "string", description: "Folder of the job state files (default $XDG_STATE_HOME/cartkit/jobs, ~/.local/state/cartkit/jobs)", valueHint: "DIR" } as const;

/** The options of `dispatchcopy jobs`. */
export const JOBS_ARGS = {
  json: { type: "boolean", description: "One JSON object per job (list, show)" },
  metrics: { type: "boolean", description: "Print every known job's metrics in the Prometheus text format" },
  "state-dir": STATE_DIR_ARG,
  "older-than": { type: "string", description: "prune: jobs that ended longer ago than this (default 7d; 0 for all)", valueHint: "AGE" },
  timeout: { type: "string", description: "cancel: how long to wait for the job to confirm (default 60s)", valueHint: "AGE" },
} as const satisfies ArgsDef;

/** The `jobs` command: its own options, and its actions as sub-commands (for help and completions). */
export const JOBS_COMMAND = defineCommand({
  meta: { name: "dispatchcopy jobs", version: VERSION, description: "List, show, cancel, resume and prune offload jobs (every dispatchcopy run is one)." },
  args: JOBS_ARGS,
  subCommands: {
    show: defineCommand({ meta: { name: "show", description: "Everything about one job: state, progress per destination, the command that resumes it" }, args: { json: JOBS_ARGS.json, "state-dir": STATE_DIR_ARG } }),
    cancel: defineCommand({ meta: { name: "cancel", description: "Stop a running or queued job (SIGTERM: partial files removed); exit 0 once it confirmed" }, args: { timeout: JOBS_ARGS.timeout, "state-dir": STATE_DIR_ARG } }),
    resume: defineCommand({ meta: { name: "resume", description: "Run an interrupted, cancelled or failed job again with --resume, as the same job" }, args: { "state-dir": STATE_DIR_ARG } }),
    prune: defineCommand({ meta: { name: "prune", description: "Remove the state files of jobs that ended long enough ago" }, args: { "older-than": JOBS_ARGS["older-than"], "state-dir": STATE_DIR_ARG } }),
  },
});

/** The text after `dispatchcopy jobs --help`. */
export const JOBS_EPILOGUE = `USAGE: dispatchcopy jobs [--json | --metrics]     a table of every known job
       dispatchcopy jobs show ID [--json]       one job
       dispatchcopy jobs cancel ID [--timeout 60s]
       dispatchcopy jobs resume ID
       dispatchcopy jobs prune [--older-than 7d]

ID is a job's id (printed when it starts, in --json events and reports), or a part of it
that starts or ends only one id (e.g. its last four characters). A job whose state file says
running or queued but whose process is gone (killed, crashed, rebooted) is shown as
interrupted, with the command that resumes it. Nothing needs to be running for this to work:
each job keeps its own state file.

Exit codes:
  0  done; cancel: the job confirmed it was cancelled; resume: the resumed run's exit code
  2  usage error, unknown or ambiguous ID, a job that cannot be cancelled or resumed in its
     state, a cancel the job did not confirm in time, a state file that cannot be read`;

/** What the jobs command needs from the tool. */
export interface JobsContext {
  out: LineSink;
  /** How to start this tool again (the executable, and the script when run from source). */
  self: string[];
  /** The tool's name in messages. */
  tool: string;
}

/** Runs `dispatchcopy jobs …`; returns the exit code. */
export async function runJobsCommand(args: Record<string, unknown>, context: JobsContext): Promise<number> {
  const positionals = (args._ as string[] | undefined) ?? [];
  const [action = "list", id, ...extra] = positionals;
  const store = new JobStore(args["state-dir"] === undefined ? defaultStateDir() : String(args["state-dir"]));
  const needsId = action === "show" || action === "cancel" || action === "resume";
  if (!["list", "show", "cancel", "resume", "prune"].includes(action)) throw usageError(`unknown jobs command '${showLine(action)}'; use show, cancel, resume or prune (see 'dispatchcopy jobs --help')`);
  if (needsId && id === undefined) throw usageError(`jobs ${action} needs a job ID; see 'dispatchcopy jobs'`);
  if (extra.length || (!needsId && id !== undefined)) throw usageError(`unexpected argument '${showLine(needsId ? extra[0]! : id!)}'; see 'dispatchcopy jobs --help'`);
  switch (action) {
    case "show":
      return show(store, store.find(id!), Boolean(args.json), context);
    case "cancel":
      return cancel(store, store.find(id!), args.timeout === undefined ? 60 : parseDuration(String(args.timeout), "--timeout"), context);
    case "resume":
      return resume(store, store.find(id!), args["state-dir"] !== undefined, context);
    case "prune": {
      const olderThan = args["older-than"] === undefined ? 7 * 86400 : parseDuration(String(args["older-than"]), "--older-than");
      for (const job of pruneJobs(store, olderThan)) context.out.data(`${job.id}\n`);
      context.out.flush();
      return ExitCode.Ok;
    }
    default:
      return list(store, Boolean(args.json), Boolean(args.metrics), context);
  }
}

/** The command that resumes a job, as people type it. */
export function resumeCommand(job: Pick<JobRecord, "id">): string {
  return `dispatchcopy jobs resume ${job.id}`;
}

/** A job as `--json` shows it: its file, what it is now, and how to resume it when it stopped. */
function jobJson(job: JobRecord, now: number): Record<string, unknown> {
  const state = stateOf(job, now);
  return { ...job, state, recordedState: job.state, ...(state === "interrupted" || state === "cancelled" || state === "failed" ? { resume: resumeCommand(job) } : {}) };
}

function percent(job: JobRecord, state: string): string {
  if (state === "done") return "100%";
  if (job.bytes === undefined) return "-";
  if (job.bytes === 0) return job.files ? `${Math.floor((100 * job.doneFiles) / job.files)}%` : "100%";
  return `${Math.min(100, Math.floor((100 * job.copiedBytes) / job.bytes))}%`;
}

/** `5s`, `3m`, `2h`, `4d`: how long ago. */
export function age(fromIso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(fromIso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** The table of jobs, one row each (and a line with the resume command under an interrupted one). */
export function formatJobTable(jobs: readonly JobRecord[], now = Date.now()): string {
  const rows = jobs.map((job) => {
    const state = stateOf(job, now);
    return {
      job,
      state,
      cells: [
        job.id,
        state === "queued" && job.position ? `queued #${job.position}` : state,
        percent(job, state),
        state === "running" ? `${formatBytes(job.rate)}/s` : "-",
        state === "running" && job.eta !== null ? formatDuration(job.eta) : "-",
        age(job.created, now),
        `${showName(job.source)} → ${job.destinations.map(showName).join(", ")}`,
      ],
    };
  });
  const head = ["ID", "STATE", "DONE", "RATE", "ETA", "AGE", "SOURCE → DESTINATIONS"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  let text = `${line(head)}\n`;
  for (const row of rows) {
    text += `${line(row.cells)}\n`;
    if (row.state === "interrupted") text += `${" ".repeat(widths[0]! + 2)}interrupted (its process ${row.job.pid} is gone); resume with: ${resumeCommand(row.job)}\n`;
  }
  return text;
}

function list(store: JobStore, json: boolean, metrics: boolean, { out, tool }: JobsContext): number {
  const { jobs, problems } = store.list();
  const now = Date.now();
  for (const p of problems) out.error(`${tool}: ${showName(p.path)}: ${p.message}`);
  if (metrics) out.data(formatMetrics(jobs, now));
  else if (json) for (const job of jobs) out.data(`${JSON.stringify(jobJson(job, now))}\n`);
  else if (jobs.length) out.data(formatJobTable(jobs, now));
  else out.error(`${tool}: no jobs in ${showName(store.dir)}`);
  out.flush();
  return problems.length ? ExitCode.UsageOrIo : ExitCode.Ok;
}

/** One job, in lines of `label  value`. */
export function formatJobDetail(job: JobRecord, now = Date.now()): string {
  const state = stateOf(job, now);
  const when = (iso: string | undefined) => (iso ? `${iso.replace("T", " ").replace(/\.\d+Z$/, "Z")} (${age(iso, now)} ago)` : "-");
  const lines: Array<[string, string]> = [
    ["job", job.id],
    ["state", state === "interrupted" ? `interrupted: its process ${job.pid} on ${job.host} is gone (the file says ${job.state})` : `${state}${state === "running" || state === "queued" ? ` (pid ${job.pid} on ${job.host})` : ""}${job.signal ? ` by ${job.signal}` : ""}`],
  ];
  if (state === "queued") lines.push(["queue", `position ${job.position ?? "?"}, waiting for ${job.waitingFor?.join(", ") || "-"}`]);
  lines.push(
    ["source", showName(job.source)],
    ["command", `cd ${showLine(shellLine([job.cwd]))} && ${showLine(shellLine(["dispatchcopy", ...job.args]))}`],
    ["user", `${job.user} on ${job.host}`],
    ["created", when(job.created)],
    ["started", when(job.started)],
    ["ended", when(job.ended)],
    ["progress", `${job.doneFiles} of ${job.files ?? "?"} files, ${formatBytes(job.copiedBytes)} of ${job.bytes === undefined ? "?" : formatBytes(job.bytes)} (${percent(job, state)})${state === "running" ? `, ${formatBytes(job.rate)}/s${job.eta !== null ? `, ETA ${formatDuration(job.eta)}` : ""}` : ""}`],
  );
  for (const d of job.destinationProgress) {
    lines.push(["destination", `${showName(d.root)}: ${d.copiedFiles} copied, ${d.verifiedFiles} verified (${formatBytes(d.verifiedBytes)}), ${d.errors} failed${d.verificationFailures ? ` (${d.verificationFailures} read back differently)` : ""}${d.summary ? `; ${showLine(d.summary)}` : ""}`]);
  }
  if (job.exitCode !== undefined && isFinished(state)) lines.push(["exit code", String(job.exitCode)]);
  if (job.report) lines.push(["report", showName(job.report)]);
  if (job.metrics) lines.push(["metrics", showName(job.metrics)]);
  if (job.runs > 1) lines.push(["runs", `${job.runs} (resumed ${job.runs - 1} time${job.runs > 2 ? "s" : ""})`]);
  if (state === "interrupted" || state === "cancelled" || state === "failed") lines.push(["resume", resumeCommand(job)]);
  const width = Math.max(...lines.map(([label]) => label.length));
  return lines.map(([label, value]) => `${label.padEnd(width)}  ${value}\n`).join("");
}

function show(_store: JobStore, job: JobRecord, json: boolean, { out }: JobsContext): number {
  out.data(json ? `${JSON.stringify(jobJson(job, Date.now()))}\n` : formatJobDetail(job));
  out.flush();
  return ExitCode.Ok;
}

async function cancel(store: JobStore, job: JobRecord, timeoutSeconds: number, { out, tool }: JobsContext): Promise<number> {
  const state = stateOf(job);
  if (isFinished(state)) throw new CliError(`job ${job.id} is ${state}; there is nothing to cancel`, { exitCode: ExitCode.UsageOrIo });
  if (job.host !== hostName()) throw new CliError(`job ${job.id} runs on ${job.host}; cancel it there`, { exitCode: ExitCode.UsageOrIo });
  store.assertTrusted(job);
  try {
    signalJob(job, "SIGTERM");
  } catch (error) {
    if ((error as { code?: string }).code !== "ESRCH") throw new CliError(`job ${job.id}: cannot signal its process ${job.pid}: ${describeSystemError(error)}`, { exitCode: ExitCode.UsageOrIo });
  }
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (isAlive(job) && Date.now() < deadline) await Bun.sleep(50);
  if (isAlive(job)) {
    throw new CliError(`job ${job.id} did not stop within ${formatDuration(timeoutSeconds)} (pid ${job.pid}); try again, or end it with 'kill -9 ${job.pid}' and finish it later with '${resumeCommand(job)}'`, { exitCode: ExitCode.UsageOrIo });
  }
  const after = store.read(job.id);
  const now = after ? stateOf(after) : undefined;
  if (now !== "cancelled") {
    throw new CliError(`job ${job.id} ended as ${now ?? "a job whose state file is gone"} without confirming the cancel${now === "done" ? " (it finished first)" : ""}`, { exitCode: ExitCode.UsageOrIo });
  }
  out.error(`${tool}: job ${job.id} cancelled; its partial files are removed; '${resumeCommand(job)}' finishes it`);
  return ExitCode.Ok;
}

async function resume(store: JobStore, job: JobRecord, stateDirGiven: boolean, { self }: JobsContext): Promise<number> {
  const state = stateOf(job);
  if (state === "running" || state === "queued") throw new CliError(`job ${job.id} is still ${state} (pid ${job.pid} on ${job.host}); cancel it first, or wait for it`, { exitCode: ExitCode.UsageOrIo });
  if (state === "done") throw new CliError(`job ${job.id} is done; there is nothing to resume (see 'dispatchcopy jobs show ${job.id}')`, { exitCode: ExitCode.UsageOrIo });
  store.assertTrusted(job);
  // A name that is not UTF-8 cannot be handed to a new process as text without turning into
  // another name (U+FFFD): the user runs it again, by bytes, from their shell.
  if (![...job.args, job.cwd].every((a) => a.isWellFormed())) {
    throw new CliError(`job ${job.id} was started with a name that is not UTF-8, which cannot be passed on unchanged; in ${showName(job.cwd)} run it again yourself with --resume (the bytes shown as \\xHH): dispatchcopy ${job.args.map((a) => showName(a)).join(" ")} --resume`, { exitCode: ExitCode.UsageOrIo });
  }
  const hasStateDir = job.args.some((a) => a === "--state-dir" || a.startsWith("--state-dir="));
  const cmd = [...self, ...job.args, "--resume", ...(stateDirGiven && !hasStateDir ? ["--state-dir", store.dir] : [])];
  let child;
  try {
    child = Bun.spawn({ cmd, cwd: job.cwd, env: { ...process.env, [RESUME_JOB_VARIABLE]: job.id }, stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  } catch (error) {
    throw new CliError(`job ${job.id}: cannot run it again in ${showName(job.cwd)}: ${describeSystemError(error)}`, { exitCode: ExitCode.UsageOrIo });
  }
  return await child.exited;
}
