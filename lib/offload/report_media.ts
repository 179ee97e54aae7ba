/**
 * What the offload report shows of each clip: codec, resolution, frame rate, duration, start
 * timecode and reel (ffprobe, through lib/tc's probe), and a thumbnail of its middle frame
 * (ffmpeg, a small JPEG).
 *
 * The clip is read from a copy that was verified on a destination (else from the source),
 * opened beneath its held folder without following links, and handed to ffprobe and ffmpeg as
 * `/proc/<pid>/fd/<n>`: no name from the card ever reaches their command lines (so neither a
 * name that looks like an option or a protocol, nor one that is not UTF-8, can mislead them).
 */
import { closeSync } from "node:fs";
import { isUtf8Name } from "../core/names.ts";
import { HeldFolder } from "../io/held_folder.ts";
import { findProgram } from "../tc/binaries.ts";
import { runLimited } from "../tc/ffmpeg.ts";
import { probeMedia } from "../tc/probe.ts";
import { Timecode } from "../tc/timecode.ts";
import type { FileResult, PlannedFile } from "./tree.ts";

/** File name endings of containers ffprobe reads video from. */
export const CLIP_EXTENSIONS: ReadonlySet<string> = new Set(["mov", "mp4", "m4v", "mxf", "avi", "mkv", "mts", "m2ts", "mpg", "mpeg", "webm", "3gp", "dv", "ts"]);

/** Width of the thumbnails, in pixels (height keeps the clip's aspect, even). */
export const THUMBNAIL_WIDTH = 192;

/** A clip's media facts. */
export interface ClipMedia {
  codec: string;
  width: number;
  height: number;
  /** "23.976", "25"… */
  rate: string;
  frames: number;
  /** The duration as timecode (`00:00:10:00`). */
  duration: string;
  /** Start timecode, or null when the file carries none. */
  start: string | null;
  reel: string | null;
}

/** A thumbnail: JPEG bytes and which frame it shows. */
export interface Thumbnail {
  jpeg: Uint8Array;
  /** Frame number counted from 0. */
  frame: number;
  /** The frame's timecode (from the start timecode; from 0 when the file has none). */
  timecode: string;
}

/** What the report knows of one clip. */
export interface ClipDetails {
  media?: ClipMedia;
  thumbnail?: Thumbnail;
  /** Why something is missing. */
  note?: string;
}

/** Whether a file's name says it is a clip ffprobe can read. */
export function isClipName(path: string): boolean {
  const dot = path.lastIndexOf(".");
  return dot > path.lastIndexOf("/") && CLIP_EXTENSIONS.has(path.slice(dot + 1).toLowerCase());
}

/** The frame a thumbnail shows: the middle one. */
export function thumbnailFrame(frames: number): number {
  return Math.max(0, Math.floor(frames / 2));
}

async function spawnBytes(cmd: string[]): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const proc = Bun.spawn({ cmd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout: new Uint8Array(stdout), stderr };
}

/** Opens each file where it was verified first, else in the source. */
class ClipOpener {
  #folders = new Map<string, HeldFolder | null>();

  #folder(root: string): HeldFolder | null {
    if (!this.#folders.has(root)) {
      try {
        this.#folders.set(root, HeldFolder.open(root));
      } catch {
        this.#folders.set(root, null);
      }
    }
    return this.#folders.get(root)!;
  }

  open(sourceRoot: string, file: PlannedFile, result: FileResult): number | undefined {
    const places: Array<[string, string]> = [
      ...result.destinations.filter((d) => d.status === "verified" || d.status === "present").map((d): [string, string] => [d.root, file.destinationPath]),
      [sourceRoot, file.relativePath],
    ];
    for (const [root, relative] of places) {
      try {
        const fd = this.#folder(root)?.openRead(relative);
        if (fd !== undefined) return fd;
      } catch {
        // the next place
      }
    }
    return undefined;
  }

  close(): void {
    for (const folder of this.#folders.values()) folder?.close();
  }
}

/**
 * Probes each clip and makes its thumbnail, `jobs` at a time.
 * @returns details by the file's destination path; a clip that could not be read has a note.
 */
export async function describeClips(
  sourceRoot: string, files: ReadonlyArray<{ file: PlannedFile; result: FileResult }>, options: { jobs?: number; env?: Record<string, string | undefined> } = {},
): Promise<Map<string, ClipDetails>> {
  const details = new Map<string, ClipDetails>();
  const clips = files.filter(({ file }) => file.kind !== "link" && isClipName(file.destinationPath));
  if (clips.length === 0) return details;
  let ffprobe: string;
  let ffmpeg: string | undefined;
  try {
    ffprobe = findProgram("ffprobe", options.env);
  } catch (error) {
    for (const { file } of clips) details.set(file.destinationPath, { note: (error as Error).message });
    return details;
  }
  let thumbnailNote: string | undefined;
  try {
    ffmpeg = findProgram("ffmpeg", options.env);
  } catch (error) {
    thumbnailNote = (error as Error).message;
  }
  const procFd = process.platform === "linux" ? (fd: number) => `/proc/${process.pid}/fd/${fd}` : undefined;
  const opener = new ClipOpener();
  try {
    await runLimited(clips.map(({ file, result }) => async () => {
      const fd = procFd ? opener.open(sourceRoot, file, result) : undefined;
      const path = fd !== undefined ? procFd!(fd) : isUtf8Name(file.source) ? file.source : undefined;
      if (path === undefined) {
        details.set(file.destinationPath, { note: "could not be opened for probing" });
        return;
      }
      try {
        details.set(file.destinationPath, await describeClip(path, ffprobe, ffmpeg, thumbnailNote));
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
    }), options.jobs ?? 2);
  } finally {
    opener.close();
  }
  return details;
}

async function describeClip(path: string, ffprobe: string, ffmpeg: string | undefined, thumbnailNote: string | undefined): Promise<ClipDetails> {
  let info;
  try {
    info = await probeMedia(path, ffprobe);
  } catch (error) {
    return { note: `ffprobe: ${(error as Error).message.replace(path, "the file")}` };
  }
  const media: ClipMedia = {
    codec: info.videoCodec, width: info.width, height: info.height, rate: info.rate.label, frames: info.frames,
    duration: Timecode.fromFrames(info.frames, info.rate, info.dropFrame).toString(),
    start: info.hasTimecode ? info.start.toString() : null,
    reel: info.reel,
  };
  if (!ffmpeg) return { media, note: `no thumbnail: ${thumbnailNote}` };
  const frame = thumbnailFrame(info.frames);
  // Half a frame before the frame's time: accurate seeking then stops on that frame exactly.
  const at = Math.max(0, ((frame - 0.5) * info.rate.den) / info.rate.num);
  const made = await spawnBytes([
    ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-ss", at.toFixed(6), "-i", `file:${path}`,
    "-map", "0:v:0", "-frames:v", "1", "-vf", `scale=${THUMBNAIL_WIDTH}:-2`, "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "4", "pipe:1",
  ]);
  if (made.code !== 0 || made.stdout.length === 0) return { media, note: `no thumbnail: ffmpeg: ${made.stderr.trim().split("\n").pop() ?? `exit ${made.code}`}` };
  return { media, thumbnail: { jpeg: made.stdout, frame, timecode: info.start.add(frame).toString() } };
}
