/**
 * Self-identifying media for tc-extract's tests, made with the real ffmpeg: every video frame
 * carries its own index as 16 black or white bars (bit i of the index is bar i, 16 pixels wide,
 * which survives any codec), and every audio sample is its own index (a 24-bit ramp, n / 2^23
 * as a float, exact through PCM). An output can then be read back frame by frame and sample by
 * sample and compared with the frames and samples it should hold.
 */
import { run } from "./helpers.ts";

/** ffmpeg and ffprobe, or undefined (tests skip); in CI a missing ffmpeg fails. */
export function ffmpegTools(): { ffmpeg: string; ffprobe: string } | undefined {
  const ffmpeg = process.env.FFMPEG ?? Bun.which("ffmpeg");
  const ffprobe = process.env.FFPROBE ?? Bun.which("ffprobe");
  if (ffmpeg && ffprobe) return { ffmpeg, ffprobe };
  if (process.env.CI === "true") throw new Error("ffmpeg and ffprobe are required in CI (apt-get install ffmpeg)");
  return undefined;
}

export const BINS = ffmpegTools();

/** Runs ffmpeg (overwriting its output: test scratch files only); throws with its stderr. */
export function ffmpeg(args: string[]): string {
  const result = run([BINS!.ffmpeg, "-hide_banner", "-v", "error", "-y", ...args]);
  if (result.code !== 0) throw new Error(result.stderr);
  return result.stdout;
}

/** One ffprobe entry as text (`-show_entries ENTRY`, values one per line). */
export function probe(path: string, entry: string, streams?: string): string {
  return run([BINS!.ffprobe, "-v", "error", ...(streams ? ["-select_streams", streams] : []), "-show_entries", entry, "-of", "default=nw=1:nk=1", path]).stdout.trim();
}

/** The filter that draws the frame index as 16 bars into a 16×2 picture, then scales it to 256 wide. */
export function indexBars(height: number): string {
  return `geq=lum='255*mod(floor(N/pow(2,X)),2)':cb=128:cr=128,scale=256:${height}:flags=neighbor`;
}

/** What a test source is made of. */
export interface SourceSpec {
  /** Frame rate as ffmpeg takes it: "30000/1001", "25". */
  rate: string;
  seconds: number;
  /** Video codec arguments (default ProRes proxy). */
  video?: string[];
  /** Audio codec arguments, or null for no audio (default 24-bit PCM). */
  audio?: string[] | null;
  /** Audio channels (each a copy of the ramp). */
  channels?: number;
  timecode?: string;
  /** Arguments before the output name (container options, metadata). */
  extra?: string[];
  height?: number;
}

/** Makes a self-identifying source at `path`. */
export function makeSource(path: string, spec: SourceSpec): void {
  const audio = spec.audio === undefined ? ["-c:a", "pcm_s24le"] : spec.audio;
  const layout = (spec.channels ?? 1) === 1 ? "mono" : spec.channels === 2 ? "stereo" : `${spec.channels}c`;
  ffmpeg([
    "-f",
    "lavfi",
    "-i",
    `color=c=black:s=16x2:r=${spec.rate}:d=${spec.seconds}`,
    ...(audio ? ["-f", "lavfi", "-i", `aevalsrc=n/8388608:s=48000:d=${spec.seconds}:c=${layout}`] : []),
    "-vf",
    indexBars(spec.height ?? 128),
    ...(spec.video ?? ["-c:v", "prores_ks", "-profile:v", "0"]),
    ...(audio ?? []),
    ...(spec.timecode ? ["-timecode", spec.timecode] : []),
    ...(spec.extra ?? []),
    path,
  ]);
}

/** The index drawn in each decoded video frame, in order (frames as stored, none added or dropped). */
export function frameIndices(path: string): number[] {
  const bytes = run([BINS!.ffmpeg, "-v", "error", "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough", "-vf", "scale=16:1:flags=area,format=gray", "-f", "rawvideo", "-"]).stdoutBytes;
  const indices: number[] = [];
  for (let i = 0; i + 16 <= bytes.length; i += 16) {
    let n = 0;
    for (let bit = 0; bit < 16; bit++) if (bytes[i + bit]! > 128) n |= 1 << bit;
    indices.push(n);
  }
  return indices;
}

/** The first channel of audio stream `stream` as signed 32-bit samples. */
export function samples32(path: string, stream = 0): Int32Array {
  const bytes = run([BINS!.ffmpeg, "-v", "error", "-i", path, "-map", `0:a:${stream}`, "-af", "pan=mono|c0=c0", "-f", "s32le", "-c:a", "pcm_s32le", "-"]).stdoutBytes;
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
}

/** The ramp's sample indices in an audio stream (24-bit PCM: the top 24 bits of each sample). */
export function sampleIndices(path: string, stream = 0): number[] {
  return Array.from(samples32(path, stream), (s) => s >> 8);
}

/** A summary of a run of indices that reads well in a failed expect: first, last, count, and whether they are consecutive. */
export function runOf(indices: readonly number[]): { first: number | undefined; last: number | undefined; count: number; consecutive: boolean } {
  return { first: indices[0], last: indices.at(-1), count: indices.length, consecutive: indices.every((x, i) => i === 0 || x === indices[i - 1]! + 1) };
}

/** What a run of `count` consecutive indices from `first` looks like in {@link runOf}. */
export function expectedRun(first: number, count: number): ReturnType<typeof runOf> {
  return { first: count > 0 ? first : undefined, last: count > 0 ? first + count - 1 : undefined, count, consecutive: true };
}
