/**
 * The offload report as one self-contained, printable HTML page: what a producer or an insurer
 * reads to know whether a card is safe. Nothing is loaded from anywhere (styles inline, plots as
 * inline SVG, thumbnails as data: URIs) and the page carries no script; its Content Security
 * Policy forbids both, so the page stays what it is wherever it is opened.
 *
 * Printed (A4), the first page holds the job, the destinations with every failure, and the
 * throughput plots; then clips, {@link CLIPS_PER_PAGE} to a page, and the other files,
 * {@link OTHERS_PER_PAGE} to a page; each page is numbered. Everything from the card or the
 * command line is shown through `showName`/`showLine` (escaped for people) and then escaped for
 * HTML: a name cannot become markup.
 */
import { showLine, showName } from "../core/names.ts";
import { formatBytes, formatDuration } from "../core/units.ts";
import type { FailureMark, ThroughputSample } from "./job_run.ts";
import type { ClipMedia, Thumbnail } from "./report_media.ts";
import type { VolumeInfo } from "./volume.ts";

/** Clip rows on one printed page. */
export const CLIPS_PER_PAGE = 10;
/** Rows of the other files' list on one printed page. */
export const OTHERS_PER_PAGE = 40;
/** Most points drawn per line of a throughput plot (longer runs are averaged into this many). */
export const MAX_PLOT_POINTS = 600;

/** One destination in the report. */
export interface ReportDestination {
  root: string;
  complete: boolean;
  /** The verdict line (as dispatchcopy prints it). */
  line: string;
  freeBytes: number | null;
  totalBytes: number | null;
  verified: number;
  failed: number;
  /** Every file that failed there, and why. */
  failures: Array<{ path: string; status: string; reason: string }>;
}

/** One file of the card. */
export interface ReportFile {
  path: string;
  size: number;
  /** Hash label (as `-t` names it) and digest. */
  hashes: Array<[string, string]>;
  /** Short status over all destinations, e.g. "verified ×2". */
  status: string;
  ok: boolean;
  media?: ClipMedia;
  thumbnail?: Thumbnail;
  note?: string;
}

/** Everything the page shows. */
export interface OffloadReport {
  title: string;
  ok: boolean;
  verdict: string;
  job: {
    id: string | null;
    state: string;
    started: string;
    ended: string;
    seconds: number;
    host: string;
    user: string;
    tool: string;
    command: string;
    exitCode: number;
  };
  source: { path: string; volume?: VolumeInfo };
  files: number;
  bytes: number;
  algorithms: string[];
  verification: string;
  destinations: ReportDestination[];
  /** Problems beyond single files on a destination (the source, records, strays). */
  problems: string[];
  throughput: { samples: ThroughputSample[]; failures: FailureMark[] };
  clips: ReportFile[];
  others: ReportFile[];
  /** When the page was made. */
  made: string;
}

/** Text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const name = (text: string) => escapeHtml(showName(text));
const line = (text: string) => escapeHtml(showLine(text));

const STYLE = `
@page { size: A4; margin: 12mm 12mm 14mm; @bottom-right { content: "page " counter(page) " of " counter(pages); font: 8pt system-ui, sans-serif; color: #666; } @bottom-left { content: JOB_LINE; font: 8pt system-ui, sans-serif; color: #666; } }
* { box-sizing: border-box; }
body { font: 9.5pt/1.35 system-ui, "DejaVu Sans", sans-serif; color: #161616; margin: 0 auto; max-width: 190mm; padding: 8mm 0; }
h1 { font-size: 16pt; margin: 0 0 2mm; }
h2 { font-size: 11.5pt; margin: 6mm 0 2mm; border-bottom: 0.3mm solid #bbb; padding-bottom: 1mm; }
.verdict { font-size: 11pt; font-weight: 600; padding: 2mm 3mm; border-radius: 1mm; margin: 0 0 4mm; }
.verdict.ok { background: #e3f4e6; color: #145a23; border: 0.3mm solid #7fbf8c; }
.verdict.bad { background: #fbe5e3; color: #8a1c12; border: 0.3mm solid #e09a92; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 0.8mm 1.5mm; border-bottom: 0.2mm solid #e2e2e2; }
th { font-weight: 600; background: #f3f3f3; }
table.facts th { width: 24mm; background: none; font-weight: 600; color: #444; }
.columns { display: grid; grid-template-columns: 1fr 1fr; column-gap: 5mm; }
td.num { text-align: right; white-space: nowrap; }
.mono { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 7.5pt; word-break: break-all; }
.ok { color: #145a23; }
.bad { color: #8a1c12; font-weight: 600; }
.muted { color: #666; }
ul.failures { margin: 1mm 0 2mm 4mm; padding: 0; }
ul.failures li { margin: 0.4mm 0; }
.plot { margin: 1mm 0 2mm; break-inside: avoid; }
.plot svg { width: 100%; height: auto; display: block; }
.plot .caption { font-size: 8.5pt; margin: 0 0 0.5mm; }
table.clips { table-layout: fixed; }
table.clips td { height: 21mm; }
table.clips img { width: 32mm; height: auto; max-height: 19mm; object-fit: contain; display: block; background: #000; }
table.clips .nothumb { width: 32mm; height: 18mm; background: #eee; color: #888; font-size: 7pt; display: flex; align-items: center; justify-content: center; text-align: center; }
table.others td { padding: 0.4mm 1.5mm; }
section.page { margin-top: 8mm; }
section.page + section.page thead.repeat { display: none; }
@media print {
  body { padding: 0; max-width: none; }
  section.page { break-before: page; margin-top: 0; }
  section.page + section.page thead.repeat { display: table-header-group; }
  tr { break-inside: avoid; }
  h2 { break-after: avoid; }
}
`;

/** The page. */
export function renderReportHtml(report: OffloadReport): string {
  const job = report.job;
  const parts: string[] = [];
  parts.push(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="generator" content="${escapeHtml(job.tool)}">
<title>${line(`Offload report: ${report.title}`)}</title>
<style>${STYLE.replace("JOB_LINE", () => `"${escapeCss(`${report.title} · job ${job.id ?? "-"}`)}"`)}</style>
</head><body>
<h1>${line(`Offload report: ${report.title}`)}</h1>
<p class="verdict ${report.ok ? "ok" : "bad"}" id="verdict">${line(report.verdict)}</p>`);
  parts.push(jobSection(report));
  parts.push(destinationSection(report));
  if (report.problems.length) parts.push(`<h2>Problems</h2><ul class="failures" id="problems">${report.problems.map((p) => `<li class="bad">${line(p)}</li>`).join("")}</ul>`);
  parts.push(throughputSection(report));
  parts.push(clipPages(report.clips));
  parts.push(otherPages(report.others));
  parts.push(`<p class="muted">Made ${escapeHtml(report.made)} by ${escapeHtml(job.tool)}.</p>\n</body></html>\n`);
  return parts.join("\n");
}

function escapeCss(text: string): string {
  return showLine(text)
    .replace(/[\\"]/g, "\\$&")
    .replace(/[<>&]/g, (c) => `\\${c.charCodeAt(0).toString(16)} `);
}

function facts(rows: Array<[string, string | undefined]>): string {
  return `<table class="facts">${rows
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${v}</td></tr>`)
    .join("")}</table>`;
}

/** A local time with its UTC offset, `2026-12-01 22:44:01 +01:00`. */
export function localTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const offset = -date.getTimezoneOffset();
  const local = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, 19).replace("T", " ");
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `${local} ${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

function jobSection(report: OffloadReport): string {
  const { job, source } = report;
  const volume = source.volume;
  const device = volume?.device ? `${name(volume.device)}${volume.backingFile ? ` <span class="muted">(loop device backed by ${name(volume.backingFile)})</span>` : ""}` : undefined;
  const left = facts([
    ["Job", job.id ? `<span class="mono" id="job-id">${escapeHtml(job.id)}</span> <span class="muted">(${escapeHtml(job.state)}, exit code ${job.exitCode})</span>` : `<span class="muted">not kept (${escapeHtml(job.state)}, exit code ${job.exitCode})</span>`],
    ["Source", name(source.path)],
    ["Volume", volume ? `<span id="volume-label">${volume.label ? name(volume.label) : '<span class="muted">no name</span>'}</span> <span class="muted">· ${name(volume.fsType)} · mounted at ${name(volume.mountPoint)}${volume.uuid ? ` · UUID ${name(volume.uuid)}` : ""}</span>` : '<span class="muted">unknown</span>'],
    ["Card serial", `<span id="card-serial">${volume?.serial ? name(volume.serial) : '<span class="muted">not given by the system</span>'}</span>${volume?.model ? ` <span class="muted">(${name(volume.model)})</span>` : ""}`],
    ["Device", device],
    ["Host", escapeHtml(job.host)],
    ["User", escapeHtml(job.user)],
  ]);
  const right = facts([
    ["Started", escapeHtml(localTime(job.started))],
    ["Ended", escapeHtml(localTime(job.ended))],
    ["Duration", `${escapeHtml(formatDuration(job.seconds))} <span class="muted">(${job.seconds.toFixed(1)} s)</span>`],
    ["Files", `<span id="file-count">${report.files}</span>, ${escapeHtml(formatBytes(report.bytes))} <span class="muted">(${report.bytes} bytes)</span>`],
    ["Hashes", escapeHtml(report.algorithms.join(", "))],
    ["Verification", escapeHtml(report.verification)],
    ["Tool", escapeHtml(job.tool)],
  ]);
  return `<h2>Job</h2><div class="columns">${left}${right}</div>${facts([["Command", `<span class="mono">${line(job.command)}</span>`]])}`;
}

function destinationSection(report: OffloadReport): string {
  const rows = report.destinations.map((d, i) => {
    const space = d.freeBytes === null ? "-" : `${escapeHtml(formatBytes(d.freeBytes))}${d.totalBytes ? ` <span class="muted">of ${escapeHtml(formatBytes(d.totalBytes))}</span>` : ""}`;
    return `<tr class="destination" data-index="${i}"><td>${name(d.root)}</td><td class="num">${space}</td><td class="num ok">${d.verified}</td><td class="num ${d.failed ? "bad" : ""}">${d.failed}</td><td class="${d.complete ? "ok" : "bad"}">${line(d.line)}</td></tr>`;
  });
  const failures = report.destinations
    .filter((d) => d.failures.length)
    .map(
      (d) =>
        `<p><strong>${name(d.root)}</strong>: ${d.failures.length} file${d.failures.length === 1 ? "" : "s"} failed</p><ul class="failures">${d.failures.map((f) => `<li><span class="mono">${name(f.path)}</span>: <span class="bad">${escapeHtml(f.status === "mismatch" ? "VERIFICATION FAILED" : "failed")}</span>: ${line(f.reason)}</li>`).join("")}</ul>`,
    );
  return `<h2>Destinations</h2><table id="destinations"><thead><tr><th>Destination</th><th>Free after</th><th>Verified</th><th>Failed</th><th>Result</th></tr></thead><tbody>${rows.join("")}</tbody></table>${failures.join("")}`;
}

/** Averages samples into at most `max` points (rates stay rates). */
function downsample(samples: readonly ThroughputSample[], max: number): ThroughputSample[] {
  if (samples.length <= max) return [...samples];
  const size = Math.ceil(samples.length / max);
  const out: ThroughputSample[] = [];
  for (let i = 0; i < samples.length; i += size) {
    const group = samples.slice(i, i + size);
    const span = group.length;
    const sum = (pick: (s: ThroughputSample) => number[]) => pick(group[0]!).map((_, k) => group.reduce((acc, s) => acc + pick(s)[k]!, 0) / span);
    out.push({ t: group.at(-1)!.t, read: group.reduce((acc, s) => acc + s.read, 0) / span, written: sum((s) => s.written), verified: sum((s) => s.verified) });
  }
  return out;
}

/** A round axis maximum: 1, 2 or 5 times a power of ten, at least `value`. */
function niceCeiling(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** One destination's plot: MB/s written (line) and verified (dashed) per second; failures as red ticks. */
export function throughputSvg(samples: readonly ThroughputSample[], failures: readonly FailureMark[], index: number): string {
  const width = 680;
  const height = 96;
  const left = 44;
  const bottom = 18;
  const plotWidth = width - left - 8;
  const plotHeight = height - bottom - 8;
  const points = downsample(samples, MAX_PLOT_POINTS);
  const span = Math.max(points.at(-1)?.t ?? 1, 1);
  // Each sample covers the time since the one before it.
  const rateOf = (values: (s: ThroughputSample) => number) => points.map((s, k) => values(s) / Math.max(s.t - (k ? points[k - 1]!.t : 0), 1e-3) / 1e6);
  const written = rateOf((s) => s.written[index] ?? 0);
  const verified = rateOf((s) => s.verified[index] ?? 0);
  const top = niceCeiling(Math.max(...written, ...verified, 0));
  const x = (t: number) => (left + (t / span) * plotWidth).toFixed(1);
  const y = (v: number) => (8 + plotHeight - (v / top) * plotHeight).toFixed(1);
  // Each sample is the average over the time since the one before: drawn as a step.
  const path = (values: number[]) => values.map((v, k) => `${x(k ? points[k - 1]!.t : 0)},${y(v)} ${x(points[k]!.t)},${y(v)}`).join(" ");
  const ticks = failures.filter((f) => f.destination === index).map((f) => `<line x1="${x(f.t)}" x2="${x(f.t)}" y1="${8 + plotHeight - 6}" y2="${8 + plotHeight}" stroke="#c0392b" stroke-width="1.5"/>`);
  const grid = [0, 0.5, 1].map((f) => `<line x1="${left}" x2="${left + plotWidth}" y1="${y(top * f)}" y2="${y(top * f)}" stroke="#ddd" stroke-width="0.5"/><text x="${left - 4}" y="${(Number(y(top * f)) + 3).toFixed(1)}" text-anchor="end">${escapeHtml(formatRate(top * f))}</text>`);
  const lines = points.length
    ? `<polyline class="written" fill="none" stroke="#2f6fb3" stroke-width="1.4" points="${path(written)}"/><polyline class="verified" fill="none" stroke="#2e8b57" stroke-width="1.2" stroke-dasharray="3 2" points="${path(verified)}"/>`
    : `<text x="${left + plotWidth / 2}" y="${8 + plotHeight / 2}" text-anchor="middle" fill="#888">under a second: no samples</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="9" fill="#444" role="img" aria-label="throughput">
${grid.join("")}<line x1="${left}" x2="${left}" y1="8" y2="${8 + plotHeight}" stroke="#999" stroke-width="0.6"/>
${lines}${ticks.join("")}
<text x="${left}" y="${height - 4}">0:00</text><text x="${left + plotWidth}" y="${height - 4}" text-anchor="end">${escapeHtml(formatDuration(span))}</text>
</svg>`;
}

function formatRate(mbPerSecond: number): string {
  return `${mbPerSecond >= 10 || mbPerSecond === 0 ? Math.round(mbPerSecond) : mbPerSecond.toFixed(1)} MB/s`;
}

function throughputSection(report: OffloadReport): string {
  const { samples, failures } = report.throughput;
  const plots = report.destinations.map((d, i) => {
    const seconds = samples.length ? samples.at(-1)!.t : 0;
    const writtenBytes = samples.reduce((sum, s) => sum + (s.written[i] ?? 0), 0);
    const average = seconds > 0 ? writtenBytes / seconds / 1e6 : 0;
    return `<div class="plot" data-index="${i}"><p class="caption"><strong>${name(d.root)}</strong> <span class="muted">— written (blue, average ${escapeHtml(formatRate(average))}), verified from the device (green, dashed), failed files (red), one sample a second</span></p>${throughputSvg(samples, failures, i)}</div>`;
  });
  return `<h2>Throughput</h2>${plots.join("")}`;
}

function hashesCell(hashes: Array<[string, string]>): string {
  return hashes.map(([label, hex]) => `<div class="mono">${escapeHtml(label)} ${escapeHtml(hex)}</div>`).join("");
}

function statusCell(file: ReportFile): string {
  return `<td class="${file.ok ? "ok" : "bad"}">${line(file.status)}</td>`;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function clipRow(clip: ReportFile): string {
  const m = clip.media;
  const thumb = clip.thumbnail ? `<img src="data:image/jpeg;base64,${Buffer.from(clip.thumbnail.jpeg).toString("base64")}" alt="${name(`frame ${clip.thumbnail.frame} (${clip.thumbnail.timecode}) of ${clip.path}`)}" data-frame="${clip.thumbnail.frame}">` : `<div class="nothumb">no thumbnail</div>`;
  const media = m ? `<div>${escapeHtml(m.codec)}</div><div>${m.width}×${m.height}</div><div>${escapeHtml(m.rate)} fps</div>` : `<div class="muted">${line(clip.note ?? "not probed")}</div>`;
  const time = m ? `<div>${escapeHtml(m.duration)} <span class="muted">(${m.frames} frames)</span></div><div>TC ${m.start ? escapeHtml(m.start) : '<span class="muted">none</span>'}</div><div>reel ${m.reel ? line(m.reel) : '<span class="muted">none</span>'}</div>` : "";
  const note = m && clip.note ? `<div class="muted">${line(clip.note)}</div>` : "";
  return `<tr class="clip" data-path="${name(clip.path)}"><td>${thumb}</td><td><div class="mono">${name(clip.path)}</div><div class="muted">${escapeHtml(formatBytes(clip.size))}</div>${note}</td><td>${media}</td><td>${time}</td><td>${hashesCell(clip.hashes)}</td>${statusCell(clip)}</tr>`;
}

function clipPages(clips: readonly ReportFile[]): string {
  if (!clips.length) return "";
  const head = `<colgroup><col style="width:35mm"><col style="width:40mm"><col style="width:22mm"><col style="width:32mm"><col><col style="width:20mm"></colgroup><thead class="repeat"><tr><th>Frame</th><th>Clip</th><th>Video</th><th>Time</th><th>Digests</th><th>Status</th></tr></thead>`;
  return chunks(clips, CLIPS_PER_PAGE)
    .map((page, i) => `<section class="page clips-page">${i === 0 ? `<h2>Clips (${clips.length})</h2>` : ""}<table class="clips">${head}<tbody>${page.map(clipRow).join("")}</tbody></table></section>`)
    .join("\n");
}

function otherPages(others: readonly ReportFile[]): string {
  if (!others.length) return "";
  const head = `<thead class="repeat"><tr><th>File</th><th>Size</th><th>Digest</th><th>Status</th></tr></thead>`;
  return chunks(others, OTHERS_PER_PAGE)
    .map(
      (page, i) =>
        `<section class="page others-page">${i === 0 ? `<h2>Other files (${others.length})</h2>` : ""}<table class="others">${head}<tbody>${page.map((f) => `<tr class="other"><td class="mono">${name(f.path)}</td><td class="num">${escapeHtml(formatBytes(f.size))}</td><td class="mono">${f.hashes[0] ? `${escapeHtml(f.hashes[0][0])} ${escapeHtml(f.hashes[0][1])}` : "-"}</td>${statusCell(f)}</tr>`).join("")}</tbody></table></section>`,
    )
    .join("\n");
}
