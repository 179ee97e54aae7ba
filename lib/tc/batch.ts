/**
 * Batch extraction from an EDL: find each event's media under a folder (by clip name, source
 * file or reel, then by start-timecode range), read the event's timecodes at that media's rate,
 * extract the frames it needs plus handles, and write a JSON report and a conformed EDL whose
 * events point at the extracted files.
 *
 * The list is read as a stream: events are matched and extracted in order, at most `jobs` at a
 * time, and the report and conformed EDL are written as each completes, so a list of any length
 * runs in bounded memory. Output names come from a safe alphabet, each distinct in the run,
 * and are written only as new files inside the output folder.
 */
import { CliError, describeSystemError, ExitCode } from "../core/errors.ts";
import { writeAll } from "../io/atomic_file.ts";
import { HeldFolder } from "../io/held_folder.ts";
import { walkFiles } from "../io/walk.ts";
import { showName } from "../core/names.ts";
import type { LineSink } from "../core/sink.ts";
import { findProgram } from "./binaries.ts";
import { ConformedEdl } from "./conform.ts";
import { type EdlEvent, eventNeed, EdlParser } from "./edl.ts";
import { linesOfFile } from "./edl_lines.ts";
import { type ExtractionOptions, fitHandles, handlesNote, type ExtractionPlan, planExtraction, runPlan } from "./extract.ts";
import { runLimited, shellLine } from "./ffmpeg.ts";
import { type NewOutput, OutputFolder, safeName } from "./outputs.ts";
import { clipStem, type MediaInfo, type MediaSource, probeMedia } from "./probe.ts";
import type { FrameRate } from "./rate.ts";
import type { Timecode } from "./timecode.ts";

/** Extensions looked at under the media folder. */
const MEDIA_EXTENSIONS = new Set(["mov", "mp4", "mxf", "mkv", "avi", "m4v", "mts"]);

/** Options of `tc-extract --edl`. */
export interface BatchOptions extends ExtractionOptions {
  edlPath: string;
  mediaDir: string;
  outDir: string;
  handles: number;
  jobs: number;
  /** The list's rate: its labels are checked at it, and media at another rate is refused. */
  rate?: FrameRate;
  lenient: boolean;
  force: boolean;
  dryRun: boolean;
  json: boolean;
  out: LineSink;
}

/** One event's outcome in the report. */
export interface BatchResult {
  event: string;
  reel: string;
  clipName: string | null;
  /** extracted, planned (--dry-run), missing (no media covers it), failed (an error or a failed check). */
  status: "extracted" | "planned" | "missing" | "failed";
  media: string | null;
  output: string | null;
  start: string | null;
  frames: number | null;
  line: number;
  track: string;
  side: "from" | "to" | null;
  handlesBefore: number | null;
  handlesAfter: number | null;
  mode: string | null;
  problems: string[];
  /** With --dry-run --json: the ffmpeg command. */
  command?: string;
}

/** Every media file under the folder (links followed only inside it), probed. */
async function findMedia(options: BatchOptions, ffprobe: string): Promise<{ media: MediaInfo[]; root: HeldFolder; problems: number }> {
  let root: HeldFolder;
  try {
    root = HeldFolder.open(options.mediaDir);
  } catch (error) {
    throw new CliError(`cannot read the media folder: ${describeSystemError(error)}`, { path: showName(options.mediaDir) });
  }
  let problems = 0;
  const entries = walkFiles(root, {
    links: "follow",
    special: "skip",
    onProblem: (problem) => {
      problems++;
      options.out.error(`tc-extract: ${showName(problem.path)}: not searched: ${problem.message}`);
    },
  }).filter((e) => {
    const name = e.relativePath.slice(e.relativePath.lastIndexOf("/") + 1);
    return !name.startsWith(".") && MEDIA_EXTENSIONS.has(/\.([^.]+)$/.exec(name)?.[1]?.toLowerCase() ?? "");
  });
  const probed = await runLimited(
    entries.map((entry) => async () => {
      const source: MediaSource = { path: entry.path, open: () => root.openReadInside(entry.relativePath) };
      try {
        return await probeMedia(source, ffprobe);
      } catch (error) {
        options.out.error(`tc-extract: ${showName(entry.path)}: skipped: ${(error as Error).message}`);
        return undefined;
      }
    }),
    options.jobs,
  );
  return { media: probed.filter((m): m is MediaInfo => m !== undefined), root, problems };
}

/** Where an event's frames are: the media, and the run of its frames there. */
interface Found {
  media: MediaInfo;
  first: number;
  frames: number;
  start: Timecode;
}

/**
 * The media whose name matches the event (clip name, then source file, then reel) and whose
 * frames cover what the event needs, its labels read at that media's rate. An event whose
 * labels cannot exist at the rate of the media its name points to is an error naming the line.
 */
export function matchMedia(event: EdlEvent, media: MediaInfo[], listRate?: FrameRate): Found | "none" | { error: string } | "nothing" {
  const names = [event.clipName, event.sourceFile ? clipStem(event.sourceFile.replace(/\\/g, "/")) : null].filter((n): n is string => !!n).map(clipStem);
  const byName = media.filter((m) => names.includes(clipStem(m.path)));
  const byReel = media.filter((m) => !byName.includes(m) && (m.reel === event.reel || clipStem(m.path) === event.reel || clipStem(m.path).startsWith(`${event.reel}_`)));
  let error: string | undefined;
  for (const candidate of [...byName, ...byReel]) {
    if (listRate && candidate.rate !== listRate) {
      error ??= `its media ${showName(candidate.path)} runs at ${candidate.rate.label} fps, the list at ${listRate.label} (--rate)`;
      continue;
    }
    let need;
    try {
      need = eventNeed(event, candidate.rate, candidate.dropFrame);
    } catch (e) {
      error ??= `${(e as Error).message} (the rate of ${showName(candidate.path)})`;
      continue;
    }
    if (need.frames === 0) return "nothing";
    const first = need.in.since(candidate.start);
    if (first < candidate.frames && first + need.frames <= candidate.frames) return { media: candidate, first, frames: need.frames, start: need.in };
  }
  return error === undefined ? "none" : { error };
}

/** Output names distinct within the run. */
class OutputNames {
  readonly #used = new Set<string>();

  /** `NNN[_from|_to]_REEL_CLIP.mov`, with `_2`, `_3`… when taken. */
  take(event: EdlEvent, media: MediaInfo): string {
    const base = `${safeName(event.event)}${event.side ? `_${event.side}` : ""}_${safeName(event.reel)}_${safeName(clipStem(media.path))}`;
    let name = `${base}.mov`;
    for (let n = 2; this.#used.has(name); n++) name = `${base}_${n}.mov`;
    this.#used.add(name);
    return name;
  }
}

/** A streamed JSON report: the events array written as results come. */
class ReportWriter {
  readonly #write: (text: string) => void;
  #first = true;

  constructor(write: (text: string) => void, head: Record<string, unknown>) {
    this.#write = write;
    write(
      `{\n${Object.entries(head)
        .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},\n`)
        .join("")}  "events": [`,
    );
  }

  add(result: BatchResult): void {
    this.#write(`${this.#first ? "\n" : ",\n"}    ${JSON.stringify(result)}`);
    this.#first = false;
  }

  end(tail: Record<string, unknown>): void {
    this.#write(
      `${this.#first ? "" : "\n  "}],\n${Object.entries(tail)
        .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`)
        .join(",\n")}\n}\n`,
    );
  }
}

/** `tc-extract --edl CUT.edl --media DIR`: returns 2 when an event failed with an error, 1 when some had no media or failed a check. */
export async function runBatch(options: BatchOptions): Promise<number> {
  const ffprobe = findProgram("ffprobe");
  const ffmpeg = options.dryRun ? "ffmpeg" : findProgram("ffmpeg");
  const { media, root, problems: searchProblems } = await findMedia(options, ffprobe);
  const folder = options.dryRun ? undefined : OutputFolder.open(options.outDir, { create: true, replace: options.force });
  const reportName = "report.json";
  const conformName = `${safeName(clipStem(options.edlPath))}_conformed.edl`;
  let report: NewOutput | undefined;
  let conform: NewOutput | undefined;
  const counts = { missing: 0, failed: 0, errors: 0 };
  try {
    folder?.check(reportName);
    folder?.check(conformName);
    report = folder?.create(reportName);
    conform = folder?.create(conformName);
    const writer = (output: NewOutput | undefined) => (text: string) => {
      if (!output) return;
      try {
        writeAll(output.fd, Buffer.from(text));
      } catch (error) {
        throw new CliError(`cannot write: ${describeSystemError(error)}`, { path: showName(output.path) });
      }
    };
    const reportWriter = new ReportWriter(writer(report), { edl: options.edlPath, media: options.mediaDir, handles: options.handles });
    const parser = new EdlParser({
      rate: options.rate,
      labelsOnly: !options.rate,
      lenient: options.lenient,
      path: showName(options.edlPath),
      onWarning: (warning) => options.out.error(`tc-extract: ${showName(options.edlPath)}: warning: ${warning}`),
    });
    let conformed: ConformedEdl | undefined;
    const names = new OutputNames();
    const queue: { event: EdlEvent; result: Promise<BatchResult | undefined> }[] = [];
    const finish = async (): Promise<void> => {
      const { event, result } = queue.shift()!;
      const done = await result;
      conformed ??= new ConformedEdl(writer(conform), parser.title, parser.dropFrame);
      conformed.add(event, done?.status === "extracted" || done?.status === "planned" ? done.output!.slice(done.output!.lastIndexOf("/") + 1) : null);
      if (!done) return;
      reportWriter.add(done);
      if (options.json) options.out.data(`${JSON.stringify(done)}\n`);
    };
    for (const event of parser.events(linesOfFile(options.edlPath))) {
      queue.push({ event, result: extractEvent(event, { media, names, folder, ffmpeg, ffprobe, counts, options }) });
      // Let the queue run `jobs` extractions at once; results leave in list order.
      if (queue.length >= Math.max(1, options.jobs)) await finish();
    }
    while (queue.length > 0) await finish();
    conformed ??= new ConformedEdl(writer(conform), parser.title, parser.dropFrame);
    reportWriter.end({ missing: counts.missing, failed: counts.failed + counts.errors, searchProblems });
    if (report) folder!.place(report);
    if (conform) folder!.place(conform);
    report = conform = undefined;
  } finally {
    if (report) folder?.discard(report);
    if (conform) folder?.discard(conform);
    folder?.close();
    root.close();
  }
  if (counts.errors > 0) return ExitCode.UsageOrIo;
  return counts.missing > 0 || counts.failed > 0 || searchProblems > 0 ? ExitCode.VerifyFailed : 0;
}

interface EventContext {
  media: MediaInfo[];
  names: OutputNames;
  folder: OutputFolder | undefined;
  ffmpeg: string;
  ffprobe: string;
  counts: { missing: number; failed: number; errors: number };
  options: BatchOptions;
}

/** Matches, plans and (unless --dry-run) extracts one event; undefined for events with nothing to extract. */
async function extractEvent(event: EdlEvent, context: EventContext): Promise<BatchResult | undefined> {
  const { options, counts } = context;
  if (event.generator) return undefined;
  const what = `event ${event.event} (line ${event.line}, reel ${showName(event.reel)}${event.clipName ? `, clip ${showName(event.clipName)}` : ""})`;
  const result: BatchResult = {
    event: event.event,
    reel: event.reel,
    clipName: event.clipName,
    status: "missing",
    media: null,
    output: null,
    start: null,
    frames: null,
    line: event.line,
    track: event.track,
    side: event.side,
    handlesBefore: null,
    handlesAfter: null,
    mode: null,
    problems: [],
  };
  const found = matchMedia(event, context.media, options.rate);
  if (found === "nothing") return undefined;
  if (found === "none") {
    counts.missing++;
    options.out.error(`tc-extract: ${what}: no media under ${showName(options.mediaDir)} covers ${event.sourceIn}-${event.sourceOut}`);
    return result;
  }
  if ("error" in found) {
    counts.errors++;
    options.out.error(`tc-extract: ${showName(options.edlPath)}: ${found.error}`);
    return { ...result, status: "failed", problems: [found.error] };
  }
  const fit = fitHandles(options.handles, found.first, found.frames, found.media.frames);
  const note = handlesNote(options.handles, fit);
  if (note) options.out.error(`tc-extract: ${what}: ${note}`);
  const name = context.names.take(event, found.media);
  const outputPath = context.folder ? context.folder.pathOf(name) : `${options.outDir.replace(/\/+$/, "")}/${name}`;
  let plan: ExtractionPlan;
  try {
    plan = await planExtraction(found.media, found.first - fit.before, found.frames + fit.before + fit.after, outputPath, context.ffmpeg, context.ffprobe, options);
  } catch (error) {
    counts.errors++;
    options.out.error(`tc-extract: ${what}: ${(error as Error).message}`);
    return { ...result, status: "failed", media: found.media.path, problems: [(error as Error).message] };
  }
  Object.assign(result, {
    status: options.dryRun ? "planned" : "extracted",
    media: found.media.path,
    output: outputPath,
    start: plan.start,
    frames: plan.frames,
    handlesBefore: fit.before,
    handlesAfter: fit.after,
    mode: plan.mode,
  });
  if (plan.requested) options.out.error(`tc-extract: ${what}: --allow-inexact: the output holds whole GOPs, ${plan.frames} frames from ${plan.start} (${plan.requested.frames} asked for from ${plan.requested.start})`);
  if (options.dryRun) {
    if (options.json) result.command = shellLine(plan.command);
    else options.out.data(`${shellLine(plan.command)}\n`);
    return result;
  }
  try {
    const folder = context.folder!;
    result.problems = await runPlan(plan, folder, folder.create(name), context.ffprobe);
  } catch (error) {
    counts.errors++;
    const message = error instanceof CliError ? error.message : describeSystemError(error);
    options.out.error(`tc-extract: ${what}: ${message}`);
    return { ...result, status: "failed", output: null, problems: [message] };
  }
  if (result.problems.length > 0) {
    counts.failed++;
    for (const problem of result.problems) options.out.error(`tc-extract: ${showName(outputPath)}: ${problem}`);
    result.status = "failed";
  }
  return result;
}
