/**
 * Batch extraction from an EDL: find each event's media under a folder (by clip name, source
 * file or reel, then by start-timecode range), extract the frames the event needs plus handles,
 * and write a JSON report and a conformed EDL whose events point at the extracted files.
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { writeFileAtomically } from "../io/atomic_file.ts";
import { basename, extname, join } from "node:path";
import { CliError } from "../core/errors.ts";
import type { LineSink } from "../core/sink.ts";
import { findProgram } from "./binaries.ts";
import { type EdlEvent, parseEdl } from "./edl.ts";
import { runFfmpeg, runLimited, shellLine } from "./ffmpeg.ts";
import { type ExtractionOptions, planExtraction, type ExtractionPlan } from "./extract.ts";
import { clipStem, mediaRange, type MediaInfo, probeMedia } from "./probe.ts";
import type { FrameRate } from "./rate.ts";
import { Timecode, TimecodeRange } from "./timecode.ts";

/** Extensions looked at under the media folder. */
const MEDIA_EXTENSIONS = new Set([".mov", ".mp4", ".mxf", ".mkv", ".avi", ".m4v", ".mts"]);

/** Options of `tc-extract --edl`. */
export interface BatchOptions extends ExtractionOptions {
  edlPath: string;
  mediaDir: string;
  outDir: string;
  handles: number;
  jobs: number;
  rate?: FrameRate;
  dryRun: boolean;
  json: boolean;
  out: LineSink;
}

/** One event's outcome in the report. */
export interface BatchResult {
  event: string;
  reel: string;
  clipName: string | null;
  status: "extracted" | "planned" | "missing";
  media: string | null;
  output: string | null;
  start: string | null;
  frames: number | null;
}

function mediaFiles(dir: string): string[] {
  try {
    return (readdirSync(dir, { recursive: true }) as string[])
      .filter((f) => MEDIA_EXTENSIONS.has(extname(f).toLowerCase()) && !basename(f).startsWith("."))
      .sort()
      .map((f) => join(dir, f));
  } catch (error) {
    throw new CliError(`cannot read the media folder: ${(error as Error).message}`, { path: dir });
  }
}

/** The media whose name matches the event (clip name, then source file, then reel) and whose timecode covers what it needs. */
export function matchMedia(event: EdlEvent, media: MediaInfo[]): MediaInfo | undefined {
  const names = [event.clipName, event.sourceFile ? clipStem(event.sourceFile.replace(/\\/g, "/")) : null].filter((n): n is string => !!n).map(clipStem);
  const byName = media.filter((m) => names.includes(clipStem(m.path)));
  const byReel = media.filter((m) => m.reel === event.reel || clipStem(m.path) === event.reel || clipStem(m.path).startsWith(`${event.reel}_`));
  for (const candidate of [...byName, ...byReel]) {
    const clock = { dropFrame: candidate.dropFrame };
    try {
      const needIn = Timecode.parse(event.neededIn, candidate.rate, clock);
      const range = mediaRange(candidate);
      if (range.contains(needIn) && needIn.since(candidate.start) + event.neededFrames <= candidate.frames) return candidate;
    } catch {
      // Another rate or counting mode: not this file.
    }
  }
  return undefined;
}

function conformedEdl(title: string | null, events: EdlEvent[], outputs: Map<EdlEvent, string>): string {
  const lines = [`TITLE: ${title ?? "CONFORMED"}`, `FCM: ${events[0]?.dropFrame ? "DROP FRAME" : "NON-DROP FRAME"}`, ""];
  for (const e of events) {
    const transition = e.transitionFrames === null ? e.transition.padEnd(9) : `${e.transition.padEnd(4)} ${String(e.transitionFrames).padStart(3, "0")} `;
    lines.push(`${e.event}  ${e.reel.padEnd(8)} ${e.track.padEnd(5)} ${transition} ${e.sourceIn} ${e.sourceOut} ${e.recordIn} ${e.recordOut}`);
    const output = outputs.get(e);
    if (output) {
      lines.push(`* FROM CLIP NAME: ${clipStem(output)}`, `* SOURCE FILE: ${output}`);
    } else if (e.clipName) lines.push(`* FROM CLIP NAME: ${e.clipName}`);
  }
  return `${lines.join("\n")}\n`;
}

/** `tc-extract --edl CUT.edl --media DIR`: returns 1 when some events had no media. */
export async function runBatch(options: BatchOptions): Promise<number> {
  let text: string;
  try {
    text = readFileSync(options.edlPath, "utf8");
  } catch (error) {
    throw new CliError(`cannot read: ${(error as Error).message}`, { path: options.edlPath });
  }
  const edl = parseEdl(text, { path: options.edlPath, rate: options.rate });
  const ffprobe = findProgram("ffprobe");
  const ffmpeg = findProgram("ffmpeg");
  const media = await runLimited(mediaFiles(options.mediaDir).map((path) => () => probeMedia(path, ffprobe).catch(() => undefined)), options.jobs);
  const known = media.filter((m): m is MediaInfo => m !== undefined);
  if (!options.dryRun) mkdirSync(options.outDir, { recursive: true });

  const results: BatchResult[] = [];
  const plans: ExtractionPlan[] = [];
  const outputs = new Map<EdlEvent, string>();
  for (const event of edl.events) {
    if (event.generator || event.neededFrames === 0) continue;
    const found = matchMedia(event, known);
    if (!found) {
      results.push({ event: event.event, reel: event.reel, clipName: event.clipName, status: "missing", media: null, output: null, start: null, frames: null });
      options.out.error(`tc-extract: event ${event.event} (reel ${event.reel}${event.clipName ? `, clip ${event.clipName}` : ""}): no media under ${options.mediaDir} covers ${event.neededIn}-${event.neededOut}`);
      continue;
    }
    const needIn = Timecode.parse(event.neededIn, found.rate, { dropFrame: found.dropFrame });
    // Handles stop where the media ends.
    const before = Math.min(options.handles, needIn.since(found.start));
    const after = Math.min(options.handles, found.frames - needIn.since(found.start) - event.neededFrames);
    const range = new TimecodeRange(needIn, needIn.add(event.neededFrames)).extend(before, after);
    const output = join(options.outDir, `${event.event}_${event.reel}_${clipStem(found.path)}.mov`);
    plans.push(planExtraction(found, range, output, ffmpeg, options));
    outputs.set(event, output);
    results.push({ event: event.event, reel: event.reel, clipName: event.clipName, status: options.dryRun ? "planned" : "extracted", media: found.path, output, start: range.in.toString(), frames: range.duration });
  }

  if (options.dryRun) for (const plan of plans) options.out.data(`${shellLine(plan.command)}\n`);
  else await runLimited(plans.map((plan) => () => runFfmpeg(plan.command, plan.source)), options.jobs);
  const missing = results.filter((r) => r.status === "missing").length;
  if (!options.dryRun) {
    const report = `${JSON.stringify({ edl: options.edlPath, media: options.mediaDir, handles: options.handles, missing, events: results }, null, 2)}\n`;
    writeFileAtomically(join(options.outDir, "report.json"), report, { overwrite: true });
    writeFileAtomically(join(options.outDir, `${clipStem(options.edlPath)}_conformed.edl`), conformedEdl(edl.title, edl.events, outputs), { overwrite: true });
  }
  if (options.json) for (const result of results) options.out.data(`${JSON.stringify(result)}\n`);
  return missing > 0 ? 1 : 0;
}
