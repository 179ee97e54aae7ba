/**
 * Frame-exact extraction of a run of frames. Frame k of a file plays at the first video frame's
 * time plus k frame durations of the stream's own rate, on the container's clock (which is
 * what ffmpeg's `-ss` counts from, plus the container's start): a long-GOP MOV whose video
 * starts 2 frames late, a video track an edit list delays, an MPEG-TS whose video starts after
 * its audio all seek to the right frame.
 *
 * - Re-encoding (ProRes, DNxHR, all-intra H.264): ffmpeg seeks to half a frame before the first
 *   frame and decodes from there, `trim` keeps exactly the frames asked for and `setpts` times
 *   them from zero. Each audio stream is cut by `atrim` at the samples that play with those
 *   frames (the nearest sample to each frame boundary, so consecutive segments tile the audio),
 *   and written as PCM.
 * - Stream copy (`--copy`): video packets are copied from a keyframe to the packet before
 *   another keyframe, so the output holds whole GOPs. From an intra-only source that is exactly
 *   the frames asked for; from a long-GOP source (`--allow-inexact`) it starts at the last
 *   keyframe at or before the in point and ends before the first keyframe at or after the out
 *   point, and says so. Audio is cut to the output's frames as when re-encoding.
 *
 * Afterwards the output is probed: its video frames and each audio stream's samples must be
 * what the plan says, or the extraction is reported as failed.
 */
import { closeSync } from "node:fs";
import { CliError, ExitCode, usageError } from "../core/errors.ts";
import { parentOf, baseOf, showName } from "../core/names.ts";
import type { LineSink } from "../core/sink.ts";
import { findProgram } from "./binaries.ts";
import { childFdPath, ffmpegPath, inputGuard, runFfmpeg, runProgram, shellLine } from "./ffmpeg.ts";
import { type NewOutput, OutputFolder } from "./outputs.ts";
import { type AudioStream, clipStem, fileSource, type MediaInfo, probeMedia, type Ratio, videoPackets } from "./probe.ts";
import { formatMicroseconds, Timecode } from "./timecode.ts";

/** Re-encode targets: intra-frame codecs, so the output can itself be cut on any frame. */
export const CODECS: Record<string, string[]> = {
  prores_proxy: ["-c:v", "prores_ks", "-profile:v", "0", "-pix_fmt", "yuv422p10le"],
  prores_lt: ["-c:v", "prores_ks", "-profile:v", "1", "-pix_fmt", "yuv422p10le"],
  prores_422: ["-c:v", "prores_ks", "-profile:v", "2", "-pix_fmt", "yuv422p10le"],
  prores_hq: ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le"],
  dnxhr_lb: ["-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p"],
  dnxhr_hq: ["-c:v", "dnxhd", "-profile:v", "dnxhr_hq", "-pix_fmt", "yuv422p"],
  h264_intra: ["-c:v", "libx264", "-g", "1", "-bf", "0", "-crf", "10", "-pix_fmt", "yuv420p"],
};

/** Output containers by file extension. */
const CONTAINERS: Record<string, string> = { mov: "mov", mxf: "mxf" };

/** How a range is written. */
export interface ExtractionOptions {
  /** A key of {@link CODECS}. @default "prores_hq" */
  codec?: string;
  /** Stream copy instead of re-encoding. @default false */
  copy?: boolean;
  /** With `copy`, accept a long-GOP source (the output holds whole GOPs around the range). @default false */
  allowInexact?: boolean;
}

/** A planned extraction: the ffmpeg command and what it will produce. */
export interface ExtractionPlan {
  info: MediaInfo;
  /** Where it goes (for messages and reports). */
  output: string;
  /** Timecode of the output's first frame. */
  start: string;
  /** Video frames it will hold. */
  frames: number;
  /** Samples each audio stream will hold. */
  samples: number[];
  /** The codec name, `copy`, or `copy-inexact` (whole GOPs around the frames asked for). */
  mode: string;
  /** What was asked, when the output holds more (`copy-inexact`). */
  requested: { start: string; frames: number } | null;
  /** The command with the real paths, as `--dry-run` prints it. */
  command: string[];
  /** The command as run: input and output handed over as descriptors. */
  run: string[];
}

/** Checks a codec name, returning it (prores_hq when none is given). */
export function resolveCodec(codec: string | undefined): string {
  const name = codec ?? "prores_hq";
  if (!(name in CODECS)) throw usageError(`--codec ${name}: expected one of ${Object.keys(CODECS).join(", ")}`);
  return name;
}

/** The muxer for an output path, from its extension. */
export function containerFor(path: string): string {
  const extension = /\.([^./]+)$/.exec(baseOf(path))?.[1]?.toLowerCase() ?? "";
  const container = CONTAINERS[extension];
  if (!container) throw usageError(`${showName(path)}: tc-extract writes .mov or .mxf files`);
  return container;
}

const MICRO = 1_000_000n;

/** When frame `k` plays, in seconds on the container's clock: first video frame + k frames. */
function frameTime(info: MediaInfo, k: number): Ratio {
  const { videoStart: start, streamRate: rate } = info;
  return { num: start.num * rate.num + BigInt(k) * rate.den * start.den, den: start.den * rate.num };
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** Nearest integer to a/b (halves up). */
function roundDiv(a: bigint, b: bigint): bigint {
  return floorDiv(2n * a + b, 2n * b);
}

/** A time in whole µs, floored (a seek that lands on or before it). */
function floorUs(t: Ratio): bigint {
  return floorDiv(t.num * MICRO, t.den);
}

/** Half a frame of the stream, in µs (floored). */
function halfFrameUs(info: MediaInfo): bigint {
  return floorDiv(info.streamRate.den * MICRO, 2n * info.streamRate.num);
}

/** The `-ss` (from the container's start) that lands half a frame before frame k, and the clock time it stands for (µs). */
function seekBefore(info: MediaInfo, k: number): { ss: bigint; at: bigint } {
  const ss = floorUs(frameTime(info, k)) - halfFrameUs(info) - info.formatStartUs;
  const clamped = ss < 0n ? 0n : ss;
  return { ss: clamped, at: clamped + info.formatStartUs };
}

/**
 * Where `atrim` cuts an audio stream for frames [k0, k1) after a seek to `originUs`: at the
 * samples nearest the two frame boundaries, counted from the stream's first sample, as
 * timestamps in 1/sample-rate units the way ffmpeg shifts them by the seek (the stream's
 * start in samples, less the seek rounded to a sample). Where the stream ends before the
 * frames do, the cut ends with it.
 */
function audioCut(info: MediaInfo, stream: AudioStream, originUs: bigint, k0: number, k1: number): [bigint, bigint] {
  const sr = BigInt(stream.sampleRate);
  const index = (t: Ratio) => roundDiv((t.num * stream.start.den - stream.start.num * t.den) * sr, t.den * stream.start.den);
  const shift = roundDiv(stream.start.num * sr, stream.start.den) - roundHalfAway(originUs * sr, MICRO);
  const start = index(frameTime(info, k0));
  const end = index(frameTime(info, k1));
  const last = stream.end ? index(stream.end) : end;
  // biome-ignore lint/complexity/useMathMinMax: bigints, which Math.max does not take
  return [start + shift, (end < last ? end : last < start ? start : last) + shift];
}

/** a/b to the nearest integer, halves away from zero (ffmpeg's rescaling). */
function roundHalfAway(a: bigint, b: bigint): bigint {
  return a < 0n ? -roundDiv(-a, b) : roundDiv(a, b);
}

function audioArgs(info: MediaInfo, inputIndex: number, originUs: bigint, k0: number, k1: number): { maps: string[]; filters: string[]; samples: number[] } {
  const maps: string[] = [];
  const filters: string[] = [];
  const samples: number[] = [];
  info.audio.forEach((stream, i) => {
    const [a0, a1] = audioCut(info, stream, originUs, k0, k1);
    maps.push("-map", `${inputIndex}:a:${i}`);
    filters.push(`-filter:a:${i}`, `atrim=start_pts=${a0}:end_pts=${a1},asetpts=PTS-STARTPTS`);
    samples.push(Number(a1 - a0));
  });
  return { maps, filters, samples };
}

/**
 * The ffmpeg command that writes `frames` frames of `info` from frame `first` (counted from the
 * file's first video frame) to `output`.
 *
 * @example
 * ```ts
 * import type { MediaInfo } from "./probe.ts";
 * declare const info: MediaInfo, ffmpeg: string, ffprobe: string;
 * const plan = await planExtraction(info, 40, 30, "clip.mov", ffmpeg, ffprobe, {});
 * plan.command.join(" "); // "/usr/bin/ffmpeg -hide_banner -nostdin -v error … -ss 1.384716 -i file:A.mov …"
 * ```
 */
export async function planExtraction(info: MediaInfo, first: number, frames: number, output: string, ffmpeg: string, ffprobe: string, options: ExtractionOptions): Promise<ExtractionPlan> {
  if (first < 0 || frames <= 0 || first + frames > info.frames) {
    throw new CliError(`frames ${first}–${first + frames - 1} are outside the source's ${info.frames}`, { path: showName(info.path), exitCode: ExitCode.UsageOrIo });
  }
  if (!options.copy) {
    const mode = resolveCodec(options.codec);
    return planReencode(info, first, frames, output, ffmpeg, { video: CODECS[mode]!, filters: [], audio: "pcm_s24le", mode });
  }
  if (!info.intraOnly && !options.allowInexact) {
    throw new CliError(`--copy needs an intra-only source, but ${info.videoCodec} here is long-GOP: a stream copy can only start on a keyframe, so the first frames would be wrong or missing. Re-encode (--codec) or pass --allow-inexact (the output then holds whole GOPs around the range)`, {
      path: showName(info.path),
      exitCode: ExitCode.UsageOrIo,
    });
  }
  const gop = await wholeGops(info, ffprobe, first, first + frames);
  // From the keyframe's presentation time: it is kept (its pts is not before the seek) and
  // played at 0, its decode delay becoming the output's edit list as in any B-frame encode.
  const videoSs = gop.startPtsUs - info.formatStartUs < 0n ? 0n : gop.startPtsUs - info.formatStartUs;
  const videoAt = videoSs + info.formatStartUs;
  const length = gop.endDtsUs === null ? null : gop.endDtsUs - videoAt - halfFrameUs(info);
  const audioSeek = seekBefore(info, gop.first);
  const audio = audioArgs(info, 1, audioSeek.at, gop.first, gop.end);
  const middle = ["-map", "0:v:0", ...audio.maps, "-map_metadata", "-1", "-c:v", "copy", ...audio.filters, "-c:a", "pcm_s24le"];
  const start = info.start.add(gop.first);
  const exact = gop.first === first && gop.end === first + frames;
  const container = containerFor(output);
  const inputs = [
    ["-ss", formatMicroseconds(videoSs), ...(length === null ? [] : ["-t", formatMicroseconds(length)])],
    ["-ss", formatMicroseconds(audioSeek.ss)],
  ];
  const make = (input: string, out: string, overwrite: boolean) => [ffmpeg, "-hide_banner", "-nostdin", ...(overwrite ? ["-y"] : []), "-v", "error", ...inputs.flatMap((seek) => [...inputGuard(info.source), ...seek, "-i", input]), ...middle, ...outputTail(info, start, container), out];
  return plan(info, output, start, gop.end - gop.first, audio.samples, exact ? "copy" : "copy-inexact", exact ? null : { start: info.start.add(first).toString(), frames }, make);
}

/** How {@link planReencode} encodes. */
export interface Encoding {
  /** Video codec arguments. */
  video: string[];
  /** Filters after the frames are cut and timed (scale, burn-in). */
  filters: string[];
  /** Audio codec. */
  audio: string;
  /** The name the plan reports. */
  mode: string;
}

/**
 * Re-encodes frames [first, first + frames): seek half a frame before the first, `trim` keeps
 * exactly the frames, `setpts` times them from zero, `atrim` cuts each audio stream at the
 * samples that play with them.
 */
export function planReencode(info: MediaInfo, first: number, frames: number, output: string, ffmpeg: string, encoding: Encoding): ExtractionPlan {
  const container = containerFor(output);
  const seek = seekBefore(info, first);
  const audio = audioArgs(info, 0, seek.at, first, first + frames);
  const rate = info.streamRate;
  const video = [`trim=end_frame=${frames}`, `setpts=N*${rate.den}/(${rate.num}*TB)`, ...encoding.filters].join(",");
  const start = info.start.add(first);
  const make = (input: string, out: string, overwrite: boolean) => [
    ffmpeg,
    "-hide_banner",
    "-nostdin",
    ...(overwrite ? ["-y"] : []),
    "-v",
    "error",
    ...inputGuard(info.source),
    "-ss",
    formatMicroseconds(seek.ss),
    "-i",
    input,
    "-map",
    "0:v:0",
    ...audio.maps,
    "-map_metadata",
    "-1",
    "-filter:v",
    video,
    ...audio.filters,
    ...encoding.video,
    "-c:a",
    encoding.audio,
    ...outputTail(info, start, container),
    out,
  ];
  return plan(info, output, start, frames, audio.samples, encoding.mode, null, make);
}

/** Timecode, reel and container of an output. */
function outputTail(info: MediaInfo, start: Timecode, container: string): string[] {
  return ["-timecode", start.toString(), ...(info.reel ? ["-metadata:s:v:0", `reel_name=${info.reel}`] : []), "-f", container];
}

function plan(info: MediaInfo, output: string, start: Timecode, frames: number, samples: number[], mode: string, requested: ExtractionPlan["requested"], make: (input: string, out: string, overwrite: boolean) => string[]): ExtractionPlan {
  return {
    info,
    output,
    start: start.toString(),
    frames,
    samples,
    mode,
    requested,
    command: make(info.source.url ?? ffmpegPath(info.path), ffmpegPath(output), false),
    run: make(info.source.url ?? ffmpegPath(childFdPath(1)), ffmpegPath(childFdPath(0)), true),
  };
}

/**
 * The whole GOPs that hold frames [first, end): from the last keyframe at or before `first` to
 * the first keyframe at or after `end` (or the end of the file), with the times (µs) a stream
 * copy starts at (the first keyframe's presentation) and stops before (the next one's decoding).
 */
async function wholeGops(info: MediaInfo, ffprobe: string, first: number, end: number): Promise<{ first: number; end: number; startPtsUs: bigint; endDtsUs: bigint | null }> {
  const seconds = (t: Ratio) => Number(t.num) / Number(t.den);
  const from = seconds(frameTime(info, first));
  const to = seconds(frameTime(info, end));
  const tb = info.videoTimeBase;
  const indexOf = (pts: bigint) => {
    // (pts × tb − videoStart) × rate, to the nearest frame.
    const { videoStart: vs, streamRate: r } = info;
    return Number(roundDiv((pts * tb.num * vs.den - vs.num * tb.den) * r.num, tb.den * vs.den * r.den));
  };
  const toUs = (ts: bigint) => floorDiv(ts * tb.num * MICRO, tb.den);
  for (const back of [10, Infinity]) {
    const packets = await videoPackets(info, ffprobe, Number.isFinite(back) ? from - back : 0, to + 10);
    const keys = packets.filter((p) => p.key).map((p) => ({ index: indexOf(p.pts), pts: p.pts, dts: p.dts }));
    const start = keys.filter((k) => k.index <= first).sort((a, b) => b.index - a.index)[0];
    if (!start) {
      if (Number.isFinite(back) && from - back > 0) continue;
      throw new CliError(`no keyframe at or before frame ${first}: a stream copy cannot start there`, { path: showName(info.path), exitCode: ExitCode.UsageOrIo });
    }
    const stop = end >= info.frames ? undefined : keys.filter((k) => k.index >= end).sort((a, b) => a.index - b.index)[0];
    return { first: start.index, end: stop ? stop.index : info.frames, startPtsUs: toUs(start.pts), endDtsUs: stop ? toUs(stop.dts) : null };
  }
  throw new Error("unreachable");
}

/** What an output holds, probed. */
export interface OutputCheck {
  frames: number;
  samples: number[];
}

/**
 * Probes a written output (through its descriptor) and compares it with the plan. Returns the
 * problems found, as sentences; none when it holds what was planned.
 */
export async function checkOutput(plan: ExtractionPlan, fd: number, ffprobe: string): Promise<string[]> {
  const result = await runProgram([ffprobe, "-v", "error", "-count_packets", "-show_entries", "stream=codec_type,nb_read_packets,duration_ts,time_base,sample_rate", "-of", "json", ffmpegPath(childFdPath(0))], { fds: [fd] });
  if (result.code !== 0) return [`ffprobe cannot read the output back: ${showName(result.stderr.trim().split("\n").pop() ?? "")}`];
  const streams = (JSON.parse(result.stdout) as { streams?: { codec_type?: string; nb_read_packets?: string; duration_ts?: number; time_base?: string; sample_rate?: string }[] }).streams ?? [];
  const problems: string[] = [];
  const video = streams.find((s) => s.codec_type === "video");
  const frames = Number(video?.nb_read_packets ?? 0);
  if (frames !== plan.frames) problems.push(`it holds ${frames} video frames, ${plan.frames} were planned`);
  streams
    .filter((s) => s.codec_type === "audio")
    .forEach((s, i) => {
      const tb = /^(\d+)\/(\d+)$/.exec(s.time_base ?? "");
      if (!tb || s.duration_ts === undefined) return;
      const samples = Math.round((s.duration_ts * Number(tb[1]) * Number(s.sample_rate ?? 0)) / Number(tb[2]));
      if (samples !== plan.samples[i]) problems.push(`audio stream ${i + 1} holds ${samples} samples, ${plan.samples[i]} were planned`);
    });
  return problems;
}

/**
 * Runs a plan into `output` (a new file in an output folder): ffmpeg, then the check. Returns
 * the problems the check found (the output is placed either way: it holds what the source has).
 */
export async function runPlan(plan: ExtractionPlan, folder: OutputFolder, output: NewOutput, ffprobe: string): Promise<string[]> {
  const input = plan.info.source.url === undefined ? plan.info.source.open!() : undefined;
  try {
    await runFfmpeg(plan.run, showName(plan.info.path), { fds: input === undefined ? [output.fd] : [output.fd, input] });
  } catch (error) {
    folder.discard(output);
    throw error;
  } finally {
    if (input !== undefined) closeSync(input);
  }
  let problems: string[];
  try {
    problems = await checkOutput(plan, output.fd, ffprobe);
  } catch (error) {
    folder.discard(output);
    throw error;
  }
  folder.place(output);
  return problems;
}

/** Options of the single-range command. */
export interface SingleExtraction extends ExtractionOptions {
  source: string;
  inPoint: string;
  outPoint: string;
  handles: number;
  output?: string;
  force: boolean;
  dryRun: boolean;
  json: boolean;
  out: LineSink;
}

/** Default output name: the source's name with the segment's start timecode, as a .mov. */
export function defaultOutputName(source: string, start: Timecode): string {
  return `${clipStem(source)}_${start.toString().replace(/[:;]/g, "")}.mov`;
}

/** Handles as far as the media allows: how many frames before and after fit. */
export function fitHandles(handles: number, first: number, frames: number, total: number): { before: number; after: number } {
  return { before: Math.min(handles, first), after: Math.min(handles, Math.max(0, total - first - frames)) };
}

/** The note for handles the media could not give, or undefined. */
export function handlesNote(handles: number, fit: { before: number; after: number }): string | undefined {
  if (fit.before === handles && fit.after === handles) return undefined;
  const parts = [fit.before < handles ? `${fit.before} before (the source starts there)` : "", fit.after < handles ? `${fit.after} after (the source ends there)` : ""].filter(Boolean);
  return `handles of ${handles} cut to ${parts.join(" and ")}`;
}

/**
 * Where [in, out) lies in the source: the first frame's index and the frame count.
 * @throws CliError naming the source and what is wrong: a point outside it, or out not after in.
 */
export function locateRange(info: MediaInfo, inPoint: Timecode, outPoint: Timecode): { first: number; frames: number } {
  const covers = `${info.start}-${info.start.add(info.frames)}`;
  const first = inPoint.since(info.start);
  const last = outPoint.since(info.start);
  const fail = (message: string) => new CliError(message, { path: showName(info.path), exitCode: ExitCode.UsageOrIo });
  if (first >= info.frames) throw fail(`--in ${inPoint} is outside the source, which covers ${covers}`);
  if (last <= first) throw fail(`--out ${outPoint} is not after --in ${inPoint}`);
  if (last > info.frames) throw fail(`--out ${outPoint} is outside the source, which covers ${covers}`);
  return { first, frames: last - first };
}

/** `tc-extract SOURCE --in TC --out TC`: probe, plan, run (or print), check, report. */
export async function runExtraction(options: SingleExtraction): Promise<number> {
  const ffprobe = findProgram("ffprobe");
  const ffmpeg = options.dryRun ? (safeFind() ?? "ffmpeg") : findProgram("ffmpeg");
  const info = await probeMedia(fileSource(options.source), ffprobe);
  const clock = { dropFrame: info.dropFrame };
  const range = locateRange(info, Timecode.parse(options.inPoint, info.rate, clock), Timecode.parse(options.outPoint, info.rate, clock));
  const fit = fitHandles(options.handles, range.first, range.frames, info.frames);
  const note = handlesNote(options.handles, fit);
  if (note) options.out.error(`tc-extract: ${showName(options.source)}: ${note}`);
  const first = range.first - fit.before;
  const frames = range.frames + fit.before + fit.after;
  const outputPath = options.output ?? defaultOutputName(options.source, info.start.add(first));
  containerFor(outputPath);
  const folder = options.dryRun ? undefined : OutputFolder.open(parentOf(outputPath), { create: false, replace: options.force });
  let plan: ExtractionPlan;
  let problems: string[] = [];
  try {
    folder?.check(baseOf(outputPath));
    plan = await planExtraction(info, first, frames, outputPath, ffmpeg, ffprobe, options);
    if (plan.requested) options.out.error(`tc-extract: ${showName(options.source)}: --allow-inexact: the output holds whole GOPs, ${plan.frames} frames from ${plan.start} (${plan.requested.frames} asked for from ${plan.requested.start})`);
    if (!folder) {
      options.out.data(`${shellLine(plan.command)}\n`);
      return 0;
    }
    problems = await runPlan(plan, folder, folder.create(baseOf(outputPath)), ffprobe);
  } finally {
    folder?.close();
  }
  for (const problem of problems) options.out.error(`tc-extract: ${showName(outputPath)}: ${problem}`);
  if (options.json) {
    options.out.data(
      `${JSON.stringify({
        source: info.path,
        output: outputPath,
        start: plan.start,
        frames: plan.frames,
        mode: plan.mode,
        handlesBefore: fit.before,
        handlesAfter: fit.after,
        requested: plan.requested,
        samples: plan.samples,
        problems,
        command: shellLine(plan.command),
      })}\n`,
    );
  }
  return problems.length > 0 ? ExitCode.VerifyFailed : 0;
}

function safeFind(): string | undefined {
  try {
    return findProgram("ffmpeg");
  } catch {
    return undefined;
  }
}
