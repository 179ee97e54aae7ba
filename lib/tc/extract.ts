/**
 * Frame-exact extraction of a timecode range. The range is turned into a frame offset from the
 * source's start timecode; ffmpeg seeks to that frame's time floored to whole microseconds
 * (so it lands on or just before the frame, and decoding drops everything earlier) and writes
 * exactly the range's frame count. The output carries the segment's first timecode.
 */
import { basename, join } from "node:path";
import { CliError, ExitCode, usageError } from "../core/errors.ts";
import type { LineSink } from "../core/sink.ts";
import { findProgram } from "./binaries.ts";
import { runFfmpeg, shellLine } from "./ffmpeg.ts";
import { clipStem, mediaRange, type MediaInfo, probeMedia } from "./probe.ts";
import { formatMicroseconds, framesToMicroseconds, Timecode, TimecodeRange } from "./timecode.ts";

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

/** How a range is written. */
export interface ExtractionOptions {
  /** A key of {@link CODECS}. @default "prores_hq" */
  codec?: string;
  /** Stream copy instead of re-encoding. @default false */
  copy?: boolean;
  /** With `copy`, accept a long-GOP source. @default false */
  allowInexact?: boolean;
}

/** A planned extraction: the ffmpeg command and what it will produce. */
export interface ExtractionPlan {
  source: string;
  output: string;
  /** Timecode of the output's first frame. */
  start: string;
  frames: number;
  mode: string;
  command: string[];
}

/** Checks a codec name, returning it (prores_hq when none is given). */
export function resolveCodec(codec: string | undefined): string {
  const name = codec ?? "prores_hq";
  if (!(name in CODECS)) throw usageError(`--codec ${name}: expected one of ${Object.keys(CODECS).join(", ")}`);
  return name;
}

/**
 * The ffmpeg command that writes `range` of `info` to `output`.
 *
 * @example
 * ```ts
 * const plan = planExtraction(info, range, "clip.mov", "/usr/bin/ffmpeg", {});
 * plan.command.join(" "); // "/usr/bin/ffmpeg -hide_banner -nostdin -y -ss 10.010000 -i A.mov …"
 * ```
 */
export function planExtraction(info: MediaInfo, range: TimecodeRange, output: string, ffmpeg: string, options: ExtractionOptions): ExtractionPlan {
  const available = mediaRange(info);
  const offset = range.in.since(info.start);
  if (!available.contains(range.in) || offset + range.duration > info.frames || range.duration === 0) {
    throw new CliError(`range ${range} (${range.duration} frames) is outside the source, which covers ${available}`, { path: info.path, exitCode: ExitCode.UsageOrIo });
  }
  let mode: string;
  let video: string[];
  if (options.copy) {
    if (!info.intraOnly && !options.allowInexact) {
      throw new CliError(`--copy needs an intra-only source, but ${info.videoCodec} here is long-GOP: a stream copy can only start on a keyframe, so the first frames would be wrong or missing. Re-encode (--codec) or pass --allow-inexact`, { path: info.path, exitCode: ExitCode.UsageOrIo });
    }
    mode = info.intraOnly ? "copy" : "copy-inexact";
    video = ["-c:v", "copy"];
  } else {
    mode = resolveCodec(options.codec);
    video = CODECS[mode]!;
  }
  const seek = formatMicroseconds(framesToMicroseconds(offset, info.rate));
  const length = formatMicroseconds(framesToMicroseconds(range.duration, info.rate) + 1n);
  const command = [
    ffmpeg, "-hide_banner", "-nostdin", "-y", "-v", "error",
    "-ss", seek, "-i", info.path,
    "-map", "0:v:0", "-map", "0:a?", "-map_metadata", "-1",
    ...video, "-c:a", "pcm_s24le",
    "-frames:v", String(range.duration), "-t", length,
    "-timecode", range.in.toString(),
    ...(info.reel ? ["-metadata:s:v:0", `reel_name=${info.reel}`] : []),
    output,
  ];
  return { source: info.path, output, start: range.in.toString(), frames: range.duration, mode, command };
}

/** Options of the single-range command. */
export interface SingleExtraction extends ExtractionOptions {
  source: string;
  inPoint: string;
  outPoint: string;
  handles: number;
  output?: string;
  dryRun: boolean;
  json: boolean;
  out: LineSink;
}

/** Default output name: the source's name with the segment's start timecode, as a .mov. */
export function defaultOutputName(source: string, start: Timecode): string {
  return `${clipStem(source)}_${start.toString().replace(/[:;]/g, "")}.mov`;
}

/** `tc-extract SOURCE --in TC --out TC`: probe, plan, run (or print), report. */
export async function runExtraction(options: SingleExtraction): Promise<number> {
  const ffprobe = findProgram("ffprobe");
  const ffmpeg = options.dryRun ? (safeFind() ?? "ffmpeg") : findProgram("ffmpeg");
  const info = await probeMedia(options.source, ffprobe);
  const clock = { dropFrame: info.dropFrame };
  const range = new TimecodeRange(Timecode.parse(options.inPoint, info.rate, clock), Timecode.parse(options.outPoint, info.rate, clock)).extend(options.handles);
  const output = options.output ?? join(".", defaultOutputName(basename(options.source), range.in));
  const plan = planExtraction(info, range, output, ffmpeg, options);
  if (options.dryRun) {
    options.out.data(`${shellLine(plan.command)}\n`);
    return 0;
  }
  await runFfmpeg(plan.command, options.source);
  if (options.json) {
    const { command, ...rest } = plan;
    options.out.data(`${JSON.stringify({ ...rest, command: shellLine(command) })}\n`);
  }
  return 0;
}

function safeFind(): string | undefined {
  try {
    return findProgram("ffmpeg");
  } catch {
    return undefined;
  }
}
