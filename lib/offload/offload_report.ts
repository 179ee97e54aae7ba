/**
 * The offload report a person reads: gathers what one run did (its job, its source volume,
 * every file with its digests and outcome per destination, the verdicts, the throughput) into
 * an {@link OffloadReport}, probes the clips, and writes it as HTML or, through Chromium, PDF.
 * `--report FILE.json` stays the JSON record of lib/offload/records.ts.
 */
import { statfsSync } from "node:fs";
import { joinPath, showName } from "../core/names.ts";
import { VERSION } from "../core/version.ts";
import { writeFileAtomically } from "../io/atomic_file.ts";
import { shellLine } from "../tc/ffmpeg.ts";
import { GOOD_STATUSES, type VerifyMode } from "./copy.ts";
import { hashLabel, type HashChoice } from "./dispatch_log.ts";
import type { JobRun } from "./job_run.ts";
import { currentUser, hostName } from "./jobs.ts";
import { describeClips, isClipName } from "./report_media.ts";
import { renderReportHtml, type OffloadReport, type ReportFile } from "./report_html.ts";
import { findChromium, printPdf } from "./report_pdf.ts";
import type { RecordProblem } from "./records.ts";
import { unreadLine, unseenLine } from "./summary.ts";
import type { FileResult, OffloadPlan, OffloadResult, PlannedFile } from "./tree.ts";
import { describeVolume } from "./volume.ts";
import { atNearestExisting } from "./places.ts";

/** What `--report FILE` writes, by the file's ending: `.html`/`.htm`, `.pdf`, anything else JSON. */
export type ReportKind = "json" | "html" | "pdf";

/** The kind of report a file name asks for. */
export function reportKindOf(path: string): ReportKind {
  const lower = path.toLowerCase();
  if (lower.endsWith(".html") || lower.endsWith(".htm")) return "html";
  if (lower.endsWith(".pdf")) return "pdf";
  return "json";
}

/** One run, as the tool saw it end. */
export interface ReportRun {
  job: JobRun | undefined;
  source: string;
  /** The arguments the tool was given. */
  args: string[];
  files: ReadonlyArray<{ file: PlannedFile; result: FileResult }>;
  choices: HashChoice[];
  verify: VerifyMode;
  /** Each destination's verdict. */
  destinations: ReadonlyArray<{ root: string; complete: boolean; line: string }>;
  /** Problems beyond single files (already worded for people). */
  problems: string[];
  exitCode: number;
  started: Date;
  ended: Date;
}

const VERIFY_WORDS: Record<VerifyMode, string> = {
  dest: "every copy read back from its device (cache dropped first) and compared with the source's digests",
  "source+dest": "the source read again, and every copy read back from its device and compared",
  size: "sizes only (no read-back)",
  none: "none (copies not checked)",
};

function space(root: string): { free: number | null; total: number | null } {
  return (
    atNearestExisting(root, (existing) => {
      const fs = statfsSync(existing);
      return { free: Number(fs.bavail) * Number(fs.bsize), total: Number(fs.blocks) * Number(fs.bsize) };
    }) ?? { free: null, total: null }
  );
}

/** `verified on 2 of 2`, `present on 1, verified on 1`, `FAILED on 1 of 2`. */
function fileStatus(result: FileResult, destinations: number): { status: string; ok: boolean } {
  const good = result.destinations.filter((d) => GOOD_STATUSES.has(d.status));
  if (result.sourceError) return { status: "source could not be read", ok: false };
  if (good.length < destinations) return { status: `FAILED on ${destinations - good.length} of ${destinations}`, ok: false };
  const counts = new Map<string, number>();
  for (const d of good) counts.set(d.status, (counts.get(d.status) ?? 0) + 1);
  if (counts.size === 1) return { status: `${[...counts.keys()][0]} on ${good.length} of ${destinations}`, ok: true };
  return { status: [...counts].map(([s, n]) => `${s} on ${n}`).join(", "), ok: true };
}

/** Gathers the report of a run (probing clips with ffprobe and ffmpeg where they are found). */
export async function buildOffloadReport(run: ReportRun): Promise<OffloadReport> {
  const volume = describeVolume(run.source);
  const clipDetails = await describeClips(run.source, run.files);
  const record = run.job?.record;
  const destinations = run.destinations.map((d) => {
    const failures: Array<{ path: string; status: string; reason: string }> = [];
    let verified = 0;
    for (const { file, result } of run.files) {
      const mine = result.destinations.find((o) => o.root === d.root);
      // Read back (or found identical, or a history compared): a copy not read back is good, but not verified.
      if (mine && GOOD_STATUSES.has(mine.status)) {
        if (mine.status === "verified" || mine.status === "present" || mine.status === "continued") verified++;
      } else failures.push({ path: file.destinationPath, status: mine?.status ?? "failed", reason: mine?.reason ?? result.sourceError ?? "no result for this destination" });
    }
    const { free, total } = space(d.root);
    return { root: d.root, complete: d.complete, line: d.line, freeBytes: free, totalBytes: total, verified, failed: failures.length, failures };
  });
  const clips: ReportFile[] = [];
  const others: ReportFile[] = [];
  for (const { file, result } of [...run.files].sort((a, b) => (a.file.destinationPath < b.file.destinationPath ? -1 : a.file.destinationPath > b.file.destinationPath ? 1 : 0))) {
    const hashes = run.choices.flatMap((c): Array<[string, string]> => {
      const hex = result.hexes.get(c.algorithm);
      return hex ? [[c.label, hashLabel(c, hex).slice(c.label.length + 1)]] : [];
    });
    const entry: ReportFile = { path: file.destinationPath, size: file.size, hashes, ...fileStatus(result, run.destinations.length) };
    if (file.kind === "link") entry.note = `link to ${showName(file.linkTarget ?? "")}`;
    const details = clipDetails.get(file.destinationPath);
    if (file.kind !== "link" && isClipName(file.destinationPath)) clips.push({ ...entry, ...details });
    else others.push(entry);
  }
  const ok = run.exitCode === 0;
  const incomplete = destinations.filter((d) => !d.complete).length;
  const mismatched = run.files.some(({ result }) => result.destinations.some((d) => d.status === "mismatch"));
  const verdict = ok
    ? `${run.verify === "dest" || run.verify === "source+dest" ? "VERIFIED" : "COPIED"}: every destination holds all ${run.files.length} files${run.verify === "dest" || run.verify === "source+dest" ? ", read back from its device and identical to the source" : ` (${VERIFY_WORDS[run.verify]})`}`
    : `${mismatched ? "VERIFICATION FAILED" : "NOT COMPLETE"}: ${incomplete} of ${destinations.length} destination${destinations.length === 1 ? "" : "s"} ${incomplete === 1 ? "does" : "do"} not hold every file verified${run.problems.length ? `; ${run.problems.length} other problem${run.problems.length === 1 ? "" : "s"}` : ""} (exit code ${run.exitCode})`;
  return {
    title: volume?.label ?? (run.source.replace(/\/+$/, "").split("/").pop() || run.source),
    ok,
    verdict,
    job: {
      id: record?.id ?? null,
      state: ok ? "done" : "failed",
      started: record?.started ?? run.started.toISOString(),
      ended: run.ended.toISOString(),
      seconds: (run.ended.getTime() - Date.parse(record?.started ?? run.started.toISOString())) / 1000,
      host: record?.host ?? hostName(),
      user: record?.user ?? currentUser(),
      tool: `dispatchcopy ${VERSION} (cartkit)`,
      command: shellLine(["dispatchcopy", ...run.args]),
      exitCode: run.exitCode,
    },
    source: { path: run.source, ...(volume ? { volume } : {}) },
    files: run.files.length,
    bytes: run.files.reduce((sum, { file }) => sum + file.size, 0),
    algorithms: run.choices.map((c) => c.label),
    verification: VERIFY_WORDS[run.verify],
    destinations,
    problems: run.problems,
    throughput: { samples: run.job?.samples ?? [], failures: run.job?.failures ?? [] },
    clips,
    others,
    made: new Date().toISOString(),
  };
}

/**
 * Writes the report as HTML or PDF (by `path`'s ending).
 * @throws with the reason when it cannot be written or printed.
 */
export async function writeOffloadReport(path: string, report: OffloadReport, env: Record<string, string | undefined> = process.env): Promise<void> {
  const html = renderReportHtml(report);
  if (reportKindOf(path) === "pdf") {
    const chromium = findChromium(env);
    if (!chromium) throw new Error(noChromiumMessage(path));
    await printPdf(html, path, chromium);
  } else {
    writeFileAtomically(path, html, { overwrite: true });
  }
}

/** The one line said when a PDF is asked for and no Chromium is found. */
export function noChromiumMessage(path: string): string {
  const html = path.replace(/\.pdf$/i, ".html");
  return `no Chromium or Chrome found to print the PDF report (looked for $CHROMIUM, chromium, chromium-browser, google-chrome on PATH); use --report ${html} and print that page instead`;
}

/**
 * The problems of a tree offload beyond single files on a destination, worded as dispatchcopy
 * says them: entries of the source that could not be copied, destination problems, files that
 * appeared or changed during the run, records that could not be written.
 */
export function runProblems(source: string, plan: OffloadPlan, result: OffloadResult, records: readonly RecordProblem[]): string[] {
  return [
    ...plan.problems.map((p) => `${showName(p.path)}: ${p.message}`),
    ...[...result.rootProblems.values()].flat(),
    ...[...result.strays].flatMap(([root, paths]) => paths.map((path) => `${showName(root)}/${showName(path)}: appeared in this destination during the offload and is not from the source`)),
    ...result.newInSource.map((path) => `${showName(joinPath(source, path))}: appeared in the source during the offload; not copied`),
    ...result.changedInSource.map((path) => `${showName(joinPath(source, path))}: changed after it was copied; the copies hold it as it was read`),
    ...result.unreadInSource.map((entry) => unreadLine(source, entry)),
    ...(result.sourceUnseen === undefined ? [] : [unseenLine(source, result.sourceUnseen)]),
    ...records.map((r) => r.message),
  ];
}
