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
import { closeSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { isUtf8Name } from "../core/names.ts";
import { HeldFolder } from "../io/held_folder.ts";
import { findProgram } from "../tc/binaries.ts";
import { runLimited } from "../tc/ffmpeg.ts";
import { fileSource, probeMedia } from "../tc/probe.ts";
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

/**
 * Opens each clip where it was verified first, else in the source, and names it for ffprobe
 * and ffmpeg as `/proc/<pid>/fd/<n>` (elsewhere than Linux: its path, when that is UTF-8).
 */
class ClipOpener {
  readonly #sourceRoot: string;
  #folders = new Map<string, HeldFolder | null>();

  constructor(sourceRoot: string) {
    this.#sourceRoot = sourceRoot;
  }

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

  /** The clip opened, and the path that reaches it; undefined when it cannot be opened. */
  open(p: { file: PlannedFile; result: FileResult }): { fd?: number; path: string } | undefined {
    if (process.platform !== "linux") return isUtf8Name(p.file.source) ? { path: p.file.source } : undefined;
    const places: Array<[string, string]> = [...p.result.destinations.filter((d) => d.status === "verified" || d.status === "present").map((d): [string, string] => [d.root, p.file.destinationPath]), [this.#sourceRoot, p.file.relativePath]];
    for (const [root, relative] of places) {
      try {
        const fd = this.#folder(root)?.openRead(relative);
        if (fd !== undefined) return { fd, path: `/proc/${process.pid}/fd/${fd}` };
      } catch {
        // the next place
      }
    }
    return undefined;
  }

  /** Runs `use` with the clip's path (undefined when it cannot be opened), then closes it. */
  async with<T>(p: { file: PlannedFile; result: FileResult }, use: (path: string | undefined) => Promise<T>): Promise<T> {
    const opened = this.open(p);
    try {
      return await use(opened?.path);
    } finally {
      if (opened?.fd !== undefined) closeSync(opened.fd);
    }
  }

  close(): void {
    for (const folder of this.#folders.values()) folder?.close();
  }
}

/** Clips whose thumbnails one ffmpeg process makes (each process start costs more than a frame). */
export const THUMBNAIL_BATCH = 16;

/** A clip to show: where it is read, and what is known of it so far. */
interface Pending {
  file: PlannedFile;
  result: FileResult;
  details: ClipDetails;
  frame?: number;
  /** Seconds to seek to for that frame. */
  at?: number;
  timecode?: string;
}

/**
 * Probes each clip (one ffprobe each, `jobs` at a time) and makes the thumbnails (one ffmpeg for
 * up to {@link THUMBNAIL_BATCH} clips; a batch that fails is done clip by clip, so one bad clip
 * costs only its own thumbnail).
 * @returns details by the file's destination path; a clip that could not be read has a note.
 */
export async function describeClips(sourceRoot: string, files: ReadonlyArray<{ file: PlannedFile; result: FileResult }>, options: { jobs?: number; env?: Record<string, string | undefined> } = {}): Promise<Map<string, ClipDetails>> {
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
    thumbnailNote = `no thumbnail: ${(error as Error).message}`;
  }
  const jobs = options.jobs ?? Math.max(2, availableParallelism());
  const opener = new ClipOpener(sourceRoot);
  try {
    const pending: Pending[] = clips.map(({ file, result }) => ({ file, result, details: {} }));
    for (const p of pending) details.set(p.file.destinationPath, p.details);
    await runLimited(
      pending.map((p) => () => opener.with(p, (path) => probe(p, path, ffprobe))),
      jobs,
    );
    const wanted = pending.filter((p) => p.frame !== undefined);
    if (!ffmpeg) {
      for (const p of wanted) p.details.note = thumbnailNote;
      return details;
    }
    const batches: Pending[][] = [];
    for (let i = 0; i < wanted.length; i += THUMBNAIL_BATCH) batches.push(wanted.slice(i, i + THUMBNAIL_BATCH));
    await runLimited(
      batches.map((batch) => async () => {
        if (await thumbnails(batch, ffmpeg!, opener)) return;
        for (const p of batch) await thumbnails([p], ffmpeg!, opener);
      }),
      jobs,
    );
  } finally {
    opener.close();
  }
  return details;
}

/** ffprobe's facts of one clip; the frame its thumbnail shows. */
async function probe(p: Pending, path: string | undefined, ffprobe: string): Promise<void> {
  if (path === undefined) {
    p.details.note = "could not be opened for probing";
    return;
  }
  let info;
  try {
    info = await probeMedia(fileSource(path), ffprobe, { checkKeyframes: false });
  } catch (error) {
    p.details.note = `ffprobe: ${(error as Error).message}`;
    return;
  }
  p.details.media = {
    codec: info.videoCodec,
    width: info.width,
    height: info.height,
    rate: info.rate.label,
    frames: info.frames,
    duration: Timecode.fromFrames(info.frames, info.rate, info.dropFrame).toString(),
    start: info.hasTimecode ? info.start.toString() : null,
    reel: info.reel,
  };
  p.frame = thumbnailFrame(info.frames);
  // Half a frame before the frame's time: accurate seeking then stops on that frame exactly.
  p.at = Math.max(0, ((p.frame - 0.5) * info.rate.den) / info.rate.num);
  p.timecode = info.start.add(p.frame).toString();
}

/** One ffmpeg for a batch of clips; false when it failed (nothing of the batch is kept then). */
async function thumbnails(batch: Pending[], ffmpeg: string, opener: ClipOpener): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), "cartkit-thumbs-"));
  const fds: number[] = [];
  try {
    const inputs: string[] = [];
    const outputs: string[] = [];
    for (const [k, p] of batch.entries()) {
      const opened = opener.open(p);
      if (opened === undefined) {
        p.details.note = "no thumbnail: could not be opened";
        return batch.length === 1;
      }
      if (opened.fd !== undefined) fds.push(opened.fd);
      inputs.push("-ss", p.at!.toFixed(6), "-i", `file:${opened.path}`);
      outputs.push("-map", `${k}:v:0`, "-frames:v", "1", "-vf", `scale=${THUMBNAIL_WIDTH}:-2`, "-c:v", "mjpeg", "-q:v", "4", "-f", "image2", "-update", "1", join(dir, `${k}.jpg`));
    }
    const made = await spawnBytes([ffmpeg, "-hide_banner", "-nostdin", "-v", "error", ...inputs, ...outputs]);
    const pictures = batch.map((_, k) => {
      try {
        return readFileSync(join(dir, `${k}.jpg`));
      } catch {
        return undefined;
      }
    });
    if (made.code !== 0 || pictures.some((jpeg) => !jpeg?.length)) {
      if (batch.length === 1) batch[0]!.details.note = `no thumbnail: ffmpeg: ${made.stderr.trim().split("\n").pop() || `exit ${made.code}`}`;
      return false;
    }
    batch.forEach((p, k) => {
      p.details.thumbnail = { jpeg: new Uint8Array(pictures[k]!), frame: p.frame!, timecode: p.timecode ?? "" };
    });
    return true;
  } finally {
    for (const fd of fds) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}
