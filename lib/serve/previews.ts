/**
 * What the portal shows of a clip, made once per content digest and kept in the proxies folder:
 * its ffprobe metadata (through lib/tc: rate, start timecode, reel, frames), a thumbnail, H.264
 * renditions served as HLS with a master playlist (360p, 720p, 1080p, as far as the original
 * goes), a progressive MP4 for other players, and extractions made by tc-extract's planner with
 * handles. ffmpeg reads the original through the server's own `/files/…` address, so a clip on
 * a virtual tape is read by ranges from its records and never restored first.
 *
 * Layout of the folder: `<key>/info.json`, `<key>/thumb.jpg`, `<key>/hls/master.m3u8` (with
 * `<rendition>/index.m3u8`, `init.mp4` and segments), `<key>/proxy.mp4`, and
 * `extracts/<key>/<name>.mov`. Everything is written under a temporary name and renamed into
 * place complete. Nothing else is ever written.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CliError, usageError } from "../core/errors.ts";
import { writeFileAtomically } from "../io/atomic_file.ts";
import { findProgram } from "../tc/binaries.ts";
import { defaultOutputName, planExtraction, resolveCodec } from "../tc/extract.ts";
import { runFfmpeg } from "../tc/ffmpeg.ts";
import { type MediaInfo, probeMedia } from "../tc/probe.ts";
import { rateOfRatio } from "../tc/rate.ts";
import { Timecode, TimecodeRange } from "../tc/timecode.ts";
import type { CatalogEntry } from "./catalog.ts";

/** What the portal knows of a clip. */
export interface ClipInfo {
  key: string;
  codec: string;
  width: number;
  height: number;
  /** Frame rate as a label (`25`, `29.97`) and as a ratio. */
  rate: string;
  rateNum: number;
  rateDen: number;
  dropFrame: boolean;
  /** Timecode of the first frame. */
  start: string;
  hasTimecode: boolean;
  frames: number;
  reel: string | null;
  audioChannels: number[];
  intraOnly: boolean;
}

/** Where a clip's proxies are. */
export type ProxyState = { state: "none" } | { state: "making" } | { state: "ready"; hls: string; mp4?: string } | { state: "failed"; message: string };

/** One H.264 rendition of the ladder. */
export interface Rendition {
  name: string;
  height: number;
  /** Peak video bit rate, bits per second. */
  maxrate: number;
}

/** The rendition ladder; renditions taller than the original are left out (the smallest is kept, at the original's height). */
export const RENDITIONS: readonly Rendition[] = [
  { name: "360p", height: 360, maxrate: 1_200_000 },
  { name: "720p", height: 720, maxrate: 4_000_000 },
  { name: "1080p", height: 1080, maxrate: 8_000_000 },
];

/** Seconds per HLS segment (each starts on a keyframe, at the same times in every rendition). */
const SEGMENT_SECONDS = 2;

/** Content keys as they appear in the folder: `<format>-<digest>` or `u-<hash>`. */
const KEY_PATTERN = /^[a-z0-9]+-[0-9A-Za-z]{8,128}$/;

/** Runs at most `limit` jobs at once. */
class Lane {
  readonly #limit: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(limit: number) {
    this.#limit = limit;
  }
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#running++;
    try {
      return await job();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }
}

/** Options of {@link Previews}. */
export interface PreviewOptions {
  /** The proxies folder (created when missing). */
  dir: string;
  /** The address ffmpeg reads an entry's original from (the server's own `/files/…` URL, token included). */
  sourceUrl: (entry: CatalogEntry) => string;
  /** ffmpeg and ffprobe; found through lib/tc when not given. */
  ffmpeg?: string;
  ffprobe?: string;
}

/** An extraction made for a request. */
export interface Extraction {
  /** Path under the proxies folder: `extracts/<key>/<name>`. */
  relative: string;
  name: string;
  start: string;
  frames: number;
  codec: string;
}

/** Previews, proxies and extractions of the catalog's clips. */
export class Previews {
  readonly dir: string;
  readonly #sourceUrl: PreviewOptions["sourceUrl"];
  #ffmpeg: string | undefined;
  #ffprobe: string | undefined;
  readonly #info = new Map<string, ClipInfo | { error: string }>();
  readonly #pending = new Map<string, Promise<unknown>>();
  readonly #proxyState = new Map<string, ProxyState>();
  /** Probes and thumbnails: quick, two at a time. */
  readonly #quick = new Lane(2);
  /** Renditions and extractions: one ffmpeg encode at a time, so playback and serving keep a core. */
  readonly #heavy = new Lane(1);

  constructor(options: PreviewOptions) {
    this.dir = options.dir;
    this.#sourceUrl = options.sourceUrl;
    this.#ffmpeg = options.ffmpeg;
    this.#ffprobe = options.ffprobe;
    mkdirSync(this.dir, { recursive: true });
  }

  /** The key a clip's previews are kept under: its content digest, else a hash of where it is. */
  static keyOf(entry: CatalogEntry): string {
    if (entry.key && KEY_PATTERN.test(entry.key)) return entry.key;
    const identity = `${entry.source}\0${entry.path}\0${entry.size}\0${entry.modified}`;
    return `u-${createHash("sha256").update(identity).digest("hex").slice(0, 32)}`;
  }

  /** Whether `key` is a well-formed key (what a `/proxies/<key>/…` address may name). */
  static isKey(key: string): boolean {
    return KEY_PATTERN.test(key);
  }

  #programs(): { ffmpeg: string; ffprobe: string } {
    this.#ffmpeg ??= findProgram("ffmpeg");
    this.#ffprobe ??= findProgram("ffprobe");
    return { ffmpeg: this.#ffmpeg, ffprobe: this.#ffprobe };
  }

  /** What is known already, without probing. */
  known(entry: CatalogEntry): ClipInfo | undefined {
    const key = Previews.keyOf(entry);
    let found = this.#info.get(key);
    if (found === undefined) {
      const path = join(this.dir, key, "info.json");
      if (existsSync(path)) {
        try {
          found = JSON.parse(readFileSync(path, "utf8")) as ClipInfo;
          this.#info.set(key, found);
        } catch {
          found = undefined;
        }
      }
    }
    return found && !("error" in found) ? found : undefined;
  }

  /** One job per key and kind at a time: a second caller waits for the first. */
  #once<T>(id: string, job: () => Promise<T>): Promise<T> {
    const running = this.#pending.get(id);
    if (running) return running as Promise<T>;
    const promise = job().finally(() => this.#pending.delete(id));
    this.#pending.set(id, promise);
    return promise;
  }

  /**
   * The clip's metadata, probed once (ffprobe through lib/tc) and kept in `<key>/info.json`.
   * @throws {CliError} when ffprobe cannot read it as a clip with timecode rules (the reason is kept).
   */
  async info(entry: CatalogEntry): Promise<ClipInfo> {
    const known = this.known(entry);
    if (known) return known;
    const key = Previews.keyOf(entry);
    const failed = this.#info.get(key);
    if (failed && "error" in failed) throw new CliError(failed.error, { path: entry.path });
    return this.#once(`info:${key}`, () => this.#quick.run(async () => {
      let media: MediaInfo;
      try {
        media = await probeMedia(this.#sourceUrl(entry), this.#programs().ffprobe);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.#info.set(key, { error: message });
        throw new CliError(message, { path: entry.path });
      }
      const info: ClipInfo = {
        key, codec: media.videoCodec, width: media.width, height: media.height, rate: media.rate.label,
        rateNum: media.rate.num, rateDen: media.rate.den, dropFrame: media.dropFrame, start: media.start.toString(),
        hasTimecode: media.hasTimecode, frames: media.frames, reel: media.reel, audioChannels: media.audioChannels, intraOnly: media.intraOnly,
      };
      mkdirSync(join(this.dir, key), { recursive: true });
      writeFileAtomically(join(this.dir, key, "info.json"), `${JSON.stringify(info, null, 2)}\n`, { overwrite: true });
      this.#info.set(key, info);
      return info;
    }));
  }

  /** The thumbnail's path under the folder (`<key>/thumb.jpg`), made once. */
  async thumbnail(entry: CatalogEntry): Promise<string> {
    const info = await this.info(entry);
    const relative = `${info.key}/thumb.jpg`;
    if (existsSync(join(this.dir, relative))) return relative;
    return this.#once(`thumb:${info.key}`, () => this.#quick.run(async () => {
      const seconds = Math.min(1, info.frames / 2 / (info.rateNum / info.rateDen));
      const partial = join(this.dir, info.key, `.thumb.${randomBytes(4).toString("hex")}.jpg`);
      try {
        await runFfmpeg([
          this.#programs().ffmpeg, "-hide_banner", "-nostdin", "-y", "-v", "error", "-ss", seconds.toFixed(3), "-i", this.#sourceUrl(entry),
          "-frames:v", "1", "-vf", "scale=320:-2", "-q:v", "4", partial,
        ], entry.path);
        renameSync(partial, join(this.dir, relative));
      } finally {
        rmSync(partial, { force: true });
      }
      return relative;
    }));
  }

  /** Where the clip's proxies stand. */
  proxyState(entry: CatalogEntry): ProxyState {
    const info = this.known(entry);
    if (!info) return { state: "none" };
    const state = this.#proxyState.get(info.key);
    if (state) return state;
    if (existsSync(join(this.dir, info.key, "hls", "master.m3u8"))) {
      const ready: ProxyState = { state: "ready", hls: `${info.key}/hls/master.m3u8`, ...(existsSync(join(this.dir, info.key, "proxy.mp4")) ? { mp4: `${info.key}/proxy.mp4` } : {}) };
      return ready;
    }
    return { state: "none" };
  }

  /** Starts making the proxies (HLS renditions, then the progressive MP4) unless they exist or are being made. */
  async startProxies(entry: CatalogEntry): Promise<ProxyState> {
    const info = await this.info(entry);
    const now = this.proxyState(entry);
    if (now.state === "ready" || now.state === "making") return now;
    this.#proxyState.set(info.key, { state: "making" });
    void this.#heavy.run(async () => {
      try {
        await this.#makeHls(entry, info);
        this.#proxyState.set(info.key, { state: "ready", hls: `${info.key}/hls/master.m3u8` });
        await this.#makeMp4(entry, info);
        this.#proxyState.delete(info.key);
      } catch (error) {
        this.#proxyState.set(info.key, { state: "failed", message: error instanceof Error ? error.message : String(error) });
      }
    });
    return { state: "making" };
  }

  /** Waits until the clip's proxies are made (or failed); for tests and benchmarks. */
  async proxiesReady(entry: CatalogEntry): Promise<ProxyState> {
    for (;;) {
      const state = this.proxyState(entry);
      if (state.state === "failed" || (state.state === "ready" && state.mp4 !== undefined)) return state;
      if (state.state === "none") await this.startProxies(entry);
      await Bun.sleep(100);
    }
  }

  /** The renditions made for an original of `height` lines. */
  static ladder(height: number): Rendition[] {
    const fitting = RENDITIONS.filter((r) => r.height <= height);
    return fitting.length > 0 ? fitting : [{ ...RENDITIONS[0]!, height: height - (height % 2) }];
  }

  async #makeHls(entry: CatalogEntry, info: ClipInfo): Promise<void> {
    const final = join(this.dir, info.key, "hls");
    const partial = join(this.dir, info.key, `.hls.${randomBytes(4).toString("hex")}`);
    mkdirSync(partial, { recursive: true });
    try {
      await runFfmpeg(hlsCommand(this.#programs().ffmpeg, this.#sourceUrl(entry), info, partial), entry.path);
      rmSync(final, { recursive: true, force: true });
      renameSync(partial, final);
    } finally {
      rmSync(partial, { recursive: true, force: true });
    }
  }

  async #makeMp4(entry: CatalogEntry, info: ClipInfo): Promise<void> {
    const final = join(this.dir, info.key, "proxy.mp4");
    const partial = join(this.dir, info.key, `.proxy.${randomBytes(4).toString("hex")}.mp4`);
    try {
      await runFfmpeg(mp4Command(this.#programs().ffmpeg, this.#sourceUrl(entry), info, partial), entry.path);
      renameSync(partial, final);
    } finally {
      rmSync(partial, { force: true });
    }
  }

  /**
   * Extracts `[inPoint, outPoint)` plus `handles` frames each side (cut where the clip ends) with
   * tc-extract's planner, frame-exact, the output's timecode the segment's first frame. An
   * extraction already made is reused.
   * @throws {CliError} (usage) for a timecode that does not parse or a range outside the clip.
   */
  async extract(entry: CatalogEntry, inPoint: string, outPoint: string, handles: number, codec: string | undefined): Promise<Extraction> {
    const info = await this.info(entry);
    const media = this.#media(entry, info);
    const clock = { dropFrame: info.dropFrame };
    const inTc = Timecode.parse(inPoint, media.rate, clock);
    const outTc = Timecode.parse(outPoint, media.rate, clock);
    const offset = inTc.since(media.start);
    const length = outTc.since(inTc);
    if (length === 0 || offset + length > media.frames) throw usageError(`${inPoint}-${outPoint} is not inside the clip (${media.start} + ${media.frames} frames)`);
    const before = Math.min(handles, offset);
    const after = Math.min(handles, media.frames - offset - length);
    const range = new TimecodeRange(inTc, outTc).extend(before, after);
    const chosen = resolveCodec(codec);
    const name = defaultOutputName(entry.path, range.in).replace(/\.mov$/, `_${range.duration}f_${chosen}.mov`);
    const relative = `extracts/${info.key}/${name}`;
    const result: Extraction = { relative, name, start: range.in.toString(), frames: range.duration, codec: chosen };
    if (existsSync(join(this.dir, relative))) return result;
    return this.#once(`extract:${relative}`, () => this.#heavy.run(async () => {
      mkdirSync(join(this.dir, "extracts", info.key), { recursive: true });
      const partial = join(this.dir, "extracts", info.key, `.${randomBytes(4).toString("hex")}.partial.mov`);
      try {
        const plan = planExtraction(media, range, partial, this.#programs().ffmpeg, { codec: chosen });
        await runFfmpeg(plan.command, entry.path);
        renameSync(partial, join(this.dir, relative));
      } finally {
        rmSync(partial, { force: true });
      }
      return result;
    }));
  }

  /** lib/tc's media description of the clip, for its planner, from what was probed (ffmpeg reads it through the server). */
  #media(entry: CatalogEntry, info: ClipInfo): MediaInfo {
    const rate = rateOfRatio(info.rateNum, info.rateDen);
    if (!rate) throw new CliError(`frame rate ${info.rateNum}/${info.rateDen} has no SMPTE timecode`, { path: entry.path });
    return {
      path: this.#sourceUrl(entry), rate, dropFrame: info.dropFrame, start: Timecode.parse(info.start, rate, { dropFrame: info.dropFrame }),
      hasTimecode: info.hasTimecode, frames: info.frames, videoCodec: info.codec, intraOnly: info.intraOnly,
      audioChannels: info.audioChannels, reel: info.reel, width: info.width, height: info.height,
    };
  }
}

/** Frames per segment and per keyframe interval at the clip's rate. */
function framesPerSegment(info: ClipInfo): number {
  return Math.max(1, Math.round((SEGMENT_SECONDS * info.rateNum) / info.rateDen));
}

/**
 * The ffmpeg command for the HLS renditions: one decode, split and scaled per rendition, H.264
 * with a keyframe at the start of every segment in every rendition (so a player can switch at
 * any segment), no B-frames (a frame's time on screen is its presentation time), fMP4 segments,
 * and a master playlist naming them all.
 */
export function hlsCommand(ffmpeg: string, input: string, info: ClipInfo, outDir: string): string[] {
  const ladder = Previews.ladder(info.height);
  const gop = framesPerSegment(info);
  const audio = info.audioChannels.length > 0;
  const split = `[0:v:0]split=${ladder.length}${ladder.map((_, i) => `[s${i}]`).join("")};${ladder.map((r, i) => `[s${i}]scale=-2:${r.height}:flags=bicubic[v${i}]`).join(";")}`;
  const maps = ladder.flatMap((r, i) => [
    "-map", `[v${i}]`, `-maxrate:v:${i}`, String(r.maxrate), `-bufsize:v:${i}`, String(2 * r.maxrate),
    ...(audio ? ["-map", "0:a:0"] : []),
  ]);
  return [
    ffmpeg, "-hide_banner", "-nostdin", "-y", "-v", "error", "-i", input,
    "-filter_complex", split, ...maps,
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-bf", "0",
    "-g", String(gop), "-keyint_min", String(gop), "-sc_threshold", "0", "-r", `${info.rateNum}/${info.rateDen}`,
    "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
    ...(audio ? ["-c:a", "aac", "-b:a", "128k", "-ac", "2"] : []),
    "-metadata", `timecode=${info.start}`,
    "-f", "hls", "-hls_time", String(SEGMENT_SECONDS), "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
    "-hls_flags", "independent_segments", "-master_pl_name", "master.m3u8",
    "-var_stream_map", ladder.map((r, i) => `v:${i}${audio ? `,a:${i}` : ""},name:${r.name}`).join(" "),
    "-hls_fmp4_init_filename", "init.mp4",
    "-hls_segment_filename", join(outDir, "%v", "seg_%05d.m4s"),
    join(outDir, "%v", "index.m3u8"),
  ];
}

/** The progressive MP4 (the largest rendition up to 720p, the source timecode in a tmcd track, moov first). */
export function mp4Command(ffmpeg: string, input: string, info: ClipInfo, output: string): string[] {
  const rendition = Previews.ladder(Math.min(info.height, 720)).at(-1)!;
  return [
    ffmpeg, "-hide_banner", "-nostdin", "-y", "-v", "error", "-i", input,
    "-map", "0:v:0", ...(info.audioChannels.length > 0 ? ["-map", "0:a:0"] : []), "-map_metadata", "-1",
    "-vf", `scale=-2:${rendition.height}`, "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-bf", "0",
    "-r", `${info.rateNum}/${info.rateDen}`,
    ...(info.audioChannels.length > 0 ? ["-c:a", "aac", "-b:a", "128k", "-ac", "2"] : []),
    "-timecode", info.start, ...(info.reel ? ["-metadata:s:v:0", `reel_name=${info.reel}`] : []),
    "-movflags", "+faststart", "-f", "mp4", output,
  ];
}
