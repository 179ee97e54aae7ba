/**
 * Offload jobs in the Prometheus text exposition format (version 0.0.4), for node_exporter's
 * textfile collector or any scraper: per job its state, times, planned and finished work, read
 * rate and ETA; per job and destination the files and bytes copied and verified, errors,
 * verification failures, the write rate and, at the end, whether it is complete.
 *
 * Every family is written once with its HELP and TYPE, its samples for all jobs together, as the
 * format requires. Counters restart at zero when a job is resumed (a new process), which
 * Prometheus reads as a counter reset. Names are shown as people see them (lib/core/names.ts
 * `showName`: a name that is not UTF-8 is escaped), then escaped for a label value.
 */
import { showName } from "../core/names.ts";
import { JOB_STATES, stateOf, type DestinationProgress, type JobRecord, type JobState } from "./jobs.ts";

/** The prefix of every metric name. */
export const METRIC_PREFIX = "cartkit_offload";

type Kind = "gauge" | "counter";

interface Family<T> {
  name: string;
  kind: Kind;
  help: string;
  value: (item: T) => number | undefined;
}

const JOB_FAMILIES: Array<Family<{ job: JobRecord; state: JobState }>> = [
  { name: "job_start_timestamp_seconds", kind: "gauge", help: "When the job started copying (queued jobs: when it was made), Unix time.", value: ({ job }) => seconds(job.started ?? job.created) },
  { name: "job_end_timestamp_seconds", kind: "gauge", help: "When the job ended, Unix time (only for ended jobs).", value: ({ job }) => (job.ended ? seconds(job.ended) : undefined) },
  { name: "job_last_update_timestamp_seconds", kind: "gauge", help: "When the job last wrote its state, Unix time.", value: ({ job }) => seconds(job.updated) },
  { name: "job_planned_files", kind: "gauge", help: "Files the job copies (once its source has been walked).", value: ({ job }) => job.files },
  { name: "job_planned_bytes", kind: "gauge", help: "Bytes the job copies (once its source has been walked).", value: ({ job }) => job.bytes },
  { name: "job_files_done_total", kind: "counter", help: "Files the job has finished, whatever became of them.", value: ({ job }) => job.doneFiles },
  { name: "job_read_bytes_total", kind: "counter", help: "Bytes read from the source and written to the destinations.", value: ({ job }) => job.copiedBytes },
  { name: "job_rate_bytes_per_second", kind: "gauge", help: "Bytes per second read from the source over the last seconds (0 when not running).", value: ({ job, state }) => (state === "running" ? job.rate : 0) },
  { name: "job_eta_seconds", kind: "gauge", help: "Seconds of copying left at the current rate (only while running and known).", value: ({ job, state }) => (state === "running" && job.eta !== null ? job.eta : undefined) },
  { name: "job_queue_position", kind: "gauge", help: "Place in the queue for the job's drives, 1 next (only while queued).", value: ({ job, state }) => (state === "queued" ? job.position : undefined) },
  { name: "job_exit_code", kind: "gauge", help: "The job's exit code: 0 every destination complete and verified, 1 a copy read back differently, 2 other failures (only for ended jobs).", value: ({ job, state }) => (state === "running" || state === "queued" ? undefined : job.exitCode) },
];

const DESTINATION_FAMILIES: Array<Family<{ job: JobRecord; state: JobState; d: DestinationProgress }>> = [
  { name: "destination_copied_files_total", kind: "counter", help: "Files in place on the destination (written, or already there and identical).", value: ({ d }) => d.copiedFiles },
  { name: "destination_copied_bytes_total", kind: "counter", help: "Bytes of the files in place on the destination.", value: ({ d }) => d.copiedBytes },
  { name: "destination_verified_files_total", kind: "counter", help: "Files read back from the destination's device and identical to the source.", value: ({ d }) => d.verifiedFiles },
  { name: "destination_verified_bytes_total", kind: "counter", help: "Bytes of the files read back from the destination and identical to the source.", value: ({ d }) => d.verifiedBytes },
  { name: "destination_errors_total", kind: "counter", help: "Files that failed on the destination (verification failures included).", value: ({ d }) => d.errors },
  { name: "destination_verification_failures_total", kind: "counter", help: "Files that read back from the destination differently from the source.", value: ({ d }) => d.verificationFailures },
  { name: "destination_rate_bytes_per_second", kind: "gauge", help: "Bytes per second written to the destination over the last seconds (0 when not running).", value: ({ d, state }) => (state === "running" ? d.rate : 0) },
  { name: "destination_complete", kind: "gauge", help: "1 when the ended job left every file on the destination, verified; 0 when not (only for ended jobs).", value: ({ d }) => (d.complete === undefined ? undefined : d.complete ? 1 : 0) },
];

function seconds(iso: string): number {
  return Date.parse(iso) / 1000;
}

/** A label value escaped as the format asks: backslash, double quote and line feed. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(",")}}`;
}

function number(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
}

function header(name: string, kind: Kind, help: string): string {
  return `# HELP ${METRIC_PREFIX}_${name} ${help}\n# TYPE ${METRIC_PREFIX}_${name} ${kind}\n`;
}

/**
 * The jobs' metrics as one exposition. `now` decides which running jobs are alive (see
 * lib/offload/jobs.ts `stateOf`).
 * @example
 * import { writeFileAtomically } from "../io/atomic_file.ts";
 * import { JobStore } from "./jobs.ts";
 * const store = new JobStore();
 * writeFileAtomically("/var/lib/node_exporter/textfile/cartkit.prom", formatMetrics(store.list().jobs), { overwrite: true });
 */
export function formatMetrics(jobs: readonly JobRecord[], now = Date.now()): string {
  const items = jobs.map((job) => ({ job, state: stateOf(job, now) }));
  if (items.length === 0) return "";
  let text = header("job_info", "gauge", "One per job, always 1: its source, host and user as labels.");
  for (const { job } of items) text += `${METRIC_PREFIX}_job_info${labels({ job: job.id, source: showName(job.source), host: job.host, user: job.user })} 1\n`;
  text += header("job_state", "gauge", `1 for the job's state, 0 for the others (${JOB_STATES.join(", ")}).`);
  for (const { job, state } of items) {
    for (const s of JOB_STATES) text += `${METRIC_PREFIX}_job_state${labels({ job: job.id, state: s })} ${s === state ? 1 : 0}\n`;
  }
  for (const family of JOB_FAMILIES) {
    let lines = "";
    for (const item of items) {
      const value = family.value(item);
      if (value !== undefined) lines += `${METRIC_PREFIX}_${family.name}${labels({ job: item.job.id })} ${number(value)}\n`;
    }
    if (lines) text += header(family.name, family.kind, family.help) + lines;
  }
  for (const family of DESTINATION_FAMILIES) {
    let lines = "";
    for (const item of items) {
      for (const d of item.job.destinationProgress) {
        const value = family.value({ ...item, d });
        if (value !== undefined) lines += `${METRIC_PREFIX}_${family.name}${labels({ job: item.job.id, destination: showName(d.root) })} ${number(value)}\n`;
      }
    }
    if (lines) text += header(family.name, family.kind, family.help) + lines;
  }
  return text;
}
