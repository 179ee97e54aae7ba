/**
 * What tc-extract needs to know about a media file, read with ffprobe: frame rate, start
 * timecode (tmcd track, stream or format tags), frame count, reel name, audio channels, and
 * whether every video frame is a keyframe (so stream copy can cut on any frame).
 */
import { basename } from "node:path";
import { CliError, ExitCode } from "../core/errors.ts";
import { runProgram } from "./ffmpeg.ts";
import { type FrameRate, rateOfRatio } from "./rate.ts";
import { Timecode, TimecodeRange } from "./timecode.ts";

/** A probed media file. */
export interface MediaInfo {
  path: string;
  rate: FrameRate;
  dropFrame: boolean;
  /** Timecode of the first frame (00:00:00:00 when the file carries none). */
  start: Timecode;
  /** Whether the start timecode came from the file. */
  hasTimecode: boolean;
  /** Video frames in the file. */
  frames: number;
  videoCodec: string;
  /** Every video frame is a keyframe. */
  intraOnly: boolean;
  /** Channels of each audio stream. */
  audioChannels: number[];
  reel: string | null;
  width: number;
  height: number;
}

/** Codecs whose every frame is a keyframe. */
const INTRA_CODECS = new Set(["prores", "dnxhd", "mjpeg", "rawvideo", "v210", "ffv1", "jpeg2000", "cfhd", "huffyuv", "utvideo", "qtrle", "png", "dpx", "tiff"]);

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  nb_frames?: string;
  duration?: string;
  channels?: number;
  width?: number;
  height?: number;
  tags?: Record<string, string>;
}

/** The video frames' time span on the file's own clock. */
export function mediaRange(info: MediaInfo): TimecodeRange {
  return new TimecodeRange(info.start, info.start.add(info.frames));
}

/**
 * Probes a file with ffprobe. `checkKeyframes: false` leaves out the packet scan that tells an
 * intra-only encoding of a long-GOP codec (then `intraOnly` is only true for intra-only codecs).
 *
 * @example
 * ```ts
 * import { findProgram } from "./binaries.ts";
 * import { probeMedia } from "./probe.ts";
 * const info = await probeMedia("A001C003.mov", findProgram("ffprobe"));
 * info.start.toString(); // "01:00:00;00"
 * ```
 */
export async function probeMedia(path: string, ffprobe: string, options: { checkKeyframes?: boolean } = {}): Promise<MediaInfo> {
  const result = await runProgram([ffprobe, "-v", "error", "-print_format", "json", "-show_streams", "-show_format", path]);
  if (result.code !== 0) throw new CliError(`ffprobe cannot read it: ${result.stderr.trim().split("\n").pop() ?? ""}`, { path, exitCode: ExitCode.UsageOrIo });
  const data = JSON.parse(result.stdout) as { streams?: ProbeStream[]; format?: { tags?: Record<string, string>; duration?: string } };
  const streams = data.streams ?? [];
  const video = streams.find((s) => s.codec_type === "video");
  if (!video) throw new CliError(`no video stream`, { path, exitCode: ExitCode.UsageOrIo });
  const ratio = /^(\d+)\/(\d+)$/.exec(video.r_frame_rate ?? "") ?? /^(\d+)\/(\d+)$/.exec(video.avg_frame_rate ?? "");
  const rate = ratio ? rateOfRatio(Number(ratio[1]), Number(ratio[2])) : undefined;
  if (!rate) throw new CliError(`frame rate ${video.r_frame_rate} has no SMPTE timecode`, { path, exitCode: ExitCode.UsageOrIo });
  const tags = [...streams.filter((s) => s.codec_type === "data").map((s) => s.tags ?? {}), video.tags ?? {}, data.format?.tags ?? {}];
  const label = tags.map((t) => t.timecode).find((t) => t !== undefined);
  const reel = tags.map((t) => t.reel_name).find((t) => t !== undefined) ?? null;
  const start = label ? Timecode.parse(label, rate) : Timecode.fromFrames(0, rate);
  const seconds = Number(video.duration ?? data.format?.duration ?? 0);
  const frames = video.nb_frames && Number(video.nb_frames) > 0 ? Number(video.nb_frames) : Math.round((seconds * rate.num) / rate.den);
  const codec = video.codec_name ?? "unknown";
  return {
    path, rate, dropFrame: start.dropFrame, start, hasTimecode: label !== undefined, frames, videoCodec: codec,
    // Reading packets costs a second ffprobe: a caller that does not cut skips it (intra-only codecs still say so).
    intraOnly: INTRA_CODECS.has(codec) || (options.checkKeyframes !== false && (await allKeyframes(path, ffprobe))),
    audioChannels: streams.filter((s) => s.codec_type === "audio").map((s) => s.channels ?? 0),
    reel, width: video.width ?? 0, height: video.height ?? 0,
  };
}

/** Whether the first 120 video packets are all keyframes (an intra-only encoding such as H.264 with GOP 1). */
async function allKeyframes(path: string, ffprobe: string): Promise<boolean> {
  const result = await runProgram([ffprobe, "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#120", "-show_entries", "packet=flags", "-of", "csv=p=0", path]);
  const flags = result.stdout.split("\n").filter((l) => l.trim() !== "");
  return result.code === 0 && flags.length > 0 && flags.every((f) => f.startsWith("K"));
}

/** The name without folder and extension: what clip names and reels are matched against. */
export function clipStem(path: string): string {
  return basename(path).replace(/\.[^.]*$/, "");
}
