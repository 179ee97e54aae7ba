/**
 * What tc-extract needs to know about a media file, read with ffprobe: frame rate, start
 * timecode (tmcd track, stream or format tags, in any letter case: Matroska writes `TIMECODE`),
 * frame count, reel name, audio streams, whether every video frame is a keyframe (so stream
 * copy can cut on any frame), and where the first video frame and each audio stream start on
 * the container's clock, so that seeks land on frames counted from the first video frame and
 * audio is cut at the samples that play with them.
 */
import { closeSync, constants, openSync } from "node:fs";
import { CliError, describeSystemError, ExitCode } from "../core/errors.ts";
import { baseOf, fsPath, showName } from "../core/names.ts";
import { childFdPath, ffmpegPath, INPUT_GUARD, inputGuard, runProgram } from "./ffmpeg.ts";
import { type FrameRate, rateNear } from "./rate.ts";
import { Timecode, TimecodeRange } from "./timecode.ts";

/** An exact rational `num/den` (seconds, or a rate), in integers that stay exact. */
export interface Ratio {
  num: bigint;
  den: bigint;
}

/**
 * A media file to read: its path for people and a way to open it for ffmpeg, either a
 * descriptor this process opens (files on disk) or an http address of our own loopback server
 * (media that lives on a tape or in a store, served by cartserve).
 */
export interface MediaSource {
  /** The path as given or found (for messages, `--dry-run` and reports). */
  path: string;
  /** Opens it for reading; the descriptor is handed to ffprobe/ffmpeg and closed by the caller. */
  open?(): number;
  /** An http:// address ffmpeg reads it from (only http and tcp allowed for it), instead of a descriptor. */
  url?: string;
}

/** An audio stream of a probed file. */
export interface AudioStream {
  sampleRate: number;
  channels: number;
  /** When its first sample plays, in seconds on the container's clock. */
  start: Ratio;
  /** When its last sample ends, in seconds on the container's clock (null when the file does not say). */
  end: Ratio | null;
}

/** A probed media file. */
export interface MediaInfo {
  path: string;
  source: MediaSource;
  /** The SMPTE rate its timecode counts at. */
  rate: FrameRate;
  /** The video stream's own frame rate as stored (e.g. 2997/100): what its frames are timed by. */
  streamRate: Ratio;
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
  /** When the first video frame plays, in seconds on the container's clock. */
  videoStart: Ratio;
  /** The video stream's time base (packet timestamps are in it). */
  videoTimeBase: Ratio;
  /** The container's start time in µs: where ffmpeg's `-ss 0` is. */
  formatStartUs: bigint;
  audio: AudioStream[];
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
  time_base?: string;
  start_pts?: number;
  duration_ts?: number;
  nb_frames?: string;
  duration?: string;
  sample_rate?: string;
  channels?: number;
  width?: number;
  height?: number;
  tags?: Record<string, string>;
}

/** `a/b` as a ratio, or undefined. */
export function parseRatio(text: string | undefined): Ratio | undefined {
  const match = /^(-?\d+)\/(\d+)$/.exec(text ?? "");
  if (!match || match[2] === "0") return undefined;
  return { num: BigInt(match[1]!), den: BigInt(match[2]!) };
}

/** A decimal like "0.066733" or "-1.5" as exact µs. */
export function decimalToMicroseconds(text: string): bigint {
  const match = /^(-?)(\d+)(?:\.(\d{1,6})\d*)?$/.exec(text.trim());
  if (!match) return 0n;
  const us = BigInt(match[2]!) * 1_000_000n + BigInt((match[3] ?? "").padEnd(6, "0"));
  return match[1] ? -us : us;
}

/** The value of a tag in any letter case (`timecode`, `TIMECODE`). */
function tag(tags: Record<string, string> | undefined, name: string): string | undefined {
  if (!tags) return undefined;
  const key = Object.keys(tags).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : tags[key];
}

/** The video frames' time span on the file's own clock. */
export function mediaRange(info: MediaInfo): TimecodeRange {
  return new TimecodeRange(info.start, info.start.add(info.frames));
}

/** A media file named by the user: opened by its path (links in it followed: the user chose it). */
export function fileSource(path: string): MediaSource {
  return {
    path,
    open: () => {
      try {
        return openSync(fsPath(path), constants.O_RDONLY | constants.O_NONBLOCK);
      } catch (error) {
        throw new CliError(`cannot read: ${describeSystemError(error)}`, { path: showName(path) });
      }
    },
  };
}

/** Runs ffprobe on `source` (handed over as a descriptor) with `args` before the input. */
export async function probeSource(source: MediaSource, ffprobe: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  if (source.url !== undefined) return runProgram([ffprobe, "-v", "error", ...args, ...inputGuard(source), source.url]);
  const fd = source.open!();
  try {
    return await runProgram([ffprobe, "-v", "error", ...args, ...INPUT_GUARD, ffmpegPath(childFdPath(0))], { fds: [fd] });
  } finally {
    closeSync(fd);
  }
}

/**
 * Probes a file with ffprobe. `checkKeyframes: false` leaves out the packet scan that tells an
 * intra-only encoding of a long-GOP codec (then `intraOnly` is only true for intra-only codecs).
 *
 * @example
 * ```ts
 * import { findProgram } from "./binaries.ts";
 * import { fileSource, probeMedia } from "./probe.ts";
 * const info = await probeMedia(fileSource("A001C003.mov"), findProgram("ffprobe"));
 * info.start.toString(); // "01:00:00;00"
 * ```
 */
export async function probeMedia(source: MediaSource, ffprobe: string, options: { checkKeyframes?: boolean } = {}): Promise<MediaInfo> {
  const path = source.path;
  const fail = (message: string) => new CliError(message, { path: showName(path), exitCode: ExitCode.UsageOrIo });
  const result = await probeSource(source, ffprobe, ["-print_format", "json", "-show_streams", "-show_format"]);
  if (result.code !== 0) throw fail(`not a media file ffprobe can read (mov, mp4, mxf, mkv, ts, avi): ${showName(result.stderr.trim().split("\n").pop() ?? "")}`);
  const data = JSON.parse(result.stdout) as { streams?: ProbeStream[]; format?: { tags?: Record<string, string>; duration?: string; start_time?: string } };
  const streams = data.streams ?? [];
  const video = streams.find((s) => s.codec_type === "video");
  if (!video) throw fail(`no video stream`);
  const streamRate = parseRatio(video.r_frame_rate) ?? parseRatio(video.avg_frame_rate);
  const rate = streamRate ? rateNear(Number(streamRate.num), Number(streamRate.den)) : undefined;
  if (!streamRate || !rate) throw fail(`frame rate ${video.r_frame_rate} has no SMPTE timecode`);
  const tagSets = [...streams.filter((s) => s.codec_type === "data").map((s) => s.tags), video.tags, data.format?.tags];
  const label = tagSets.map((t) => tag(t, "timecode")).find((t) => t !== undefined);
  const reel = tagSets.map((t) => tag(t, "reel_name")).find((t) => t !== undefined) ?? null;
  let start: Timecode;
  try {
    start = label ? Timecode.parse(label, rate) : Timecode.fromFrames(0, rate);
  } catch (error) {
    throw fail(`its timecode: ${(error as Error).message}`);
  }
  const timeBase = parseRatio(video.time_base) ?? { num: 1n, den: 1_000_000n };
  const startPts = BigInt(video.start_pts ?? 0);
  const formatStartUs = decimalToMicroseconds(data.format?.start_time ?? "0");
  const videoStart = { num: startPts * timeBase.num, den: timeBase.den };
  const seconds = Number(video.duration ?? data.format?.duration ?? 0);
  const frames = video.nb_frames && Number(video.nb_frames) > 0 ? Number(video.nb_frames) : Math.round((seconds * Number(streamRate.num)) / Number(streamRate.den));
  const codec = video.codec_name ?? "unknown";
  return {
    path,
    source,
    rate,
    streamRate,
    dropFrame: start.dropFrame,
    start,
    hasTimecode: label !== undefined,
    frames,
    videoCodec: codec,
    // Reading packets costs a second ffprobe: a caller that does not cut skips it (intra-only codecs still say so).
    intraOnly: INTRA_CODECS.has(codec) || (options.checkKeyframes !== false && (await allKeyframes(source, ffprobe))),
    videoStart,
    videoTimeBase: timeBase,
    formatStartUs,
    audio: streams.filter((s) => s.codec_type === "audio").map((s) => ({ sampleRate: Number(s.sample_rate ?? 48000), channels: s.channels ?? 0, start: streamStart(s), end: streamEnd(s) })),
    reel,
    width: video.width ?? 0,
    height: video.height ?? 0,
  };
}

/** Where a stream starts: start_pts × time base. */
function streamStart(stream: ProbeStream): Ratio {
  const tb = parseRatio(stream.time_base) ?? { num: 0n, den: 1n };
  return { num: BigInt(stream.start_pts ?? 0) * tb.num, den: tb.den };
}

/** Where a stream's last sample ends: (start_pts + duration_ts) × time base. */
function streamEnd(stream: ProbeStream): Ratio | null {
  const tb = parseRatio(stream.time_base);
  if (!tb || stream.duration_ts === undefined) return null;
  return { num: (BigInt(stream.start_pts ?? 0) + BigInt(stream.duration_ts)) * tb.num, den: tb.den };
}

/** Whether the first 120 video packets are all keyframes (an intra-only encoding such as H.264 with GOP 1). */
async function allKeyframes(source: MediaSource, ffprobe: string): Promise<boolean> {
  const result = await probeSource(source, ffprobe, ["-select_streams", "v:0", "-read_intervals", "%+#120", "-show_entries", "packet=flags", "-of", "csv=p=0"]);
  const flags = result.stdout.split("\n").filter((l) => l.trim() !== "");
  return result.code === 0 && flags.length > 0 && flags.every((f) => f.startsWith("K"));
}

/** A video packet: timestamps in the stream's time base, and whether it is a keyframe. */
export interface VideoPacket {
  pts: bigint;
  dts: bigint;
  key: boolean;
}

/**
 * The video packets between two times (seconds on the container's clock, widened to whole
 * seconds), in file order.
 */
export async function videoPackets(info: MediaInfo, ffprobe: string, fromSeconds: number, toSeconds: number): Promise<VideoPacket[]> {
  const from = Math.max(0, Math.floor(fromSeconds));
  const result = await probeSource(info.source, ffprobe, ["-select_streams", "v:0", "-read_intervals", `${from}%${Math.ceil(toSeconds) + 1}`, "-show_entries", "packet=pts,dts,flags", "-of", "csv=p=0"]);
  if (result.code !== 0) throw new CliError(`ffprobe cannot list its packets: ${showName(result.stderr.trim().split("\n").pop() ?? "")}`, { path: showName(info.path) });
  const packets: VideoPacket[] = [];
  for (const line of result.stdout.split("\n")) {
    const [pts, dts, flags] = line.trim().split(",");
    if (!pts || !/^-?\d+$/.test(pts)) continue;
    packets.push({ pts: BigInt(pts), dts: /^-?\d+$/.test(dts ?? "") ? BigInt(dts!) : BigInt(pts), key: (flags ?? "").startsWith("K") });
  }
  return packets;
}

/** The name without folder and extension: what clip names and reels are matched against. */
export function clipStem(path: string): string {
  return baseOf(path).replace(/\.[^.]*$/, "");
}
