/**
 * What the portal shows of a clip, made once per content digest and kept in the proxies folder:
 * its ffprobe metadata (through lib/tc: rate, start timecode, reel, frames), a thumbnail, H.264
 * renditions served as HLS with a master playlist (360p, 720p, 1080p, as far as the original
 * goes), a progressive MP4 for other players (made when first asked for), and extractions made by tc-extract's planner with
 * handles. ffmpeg reads the original through the server's own `/files/…` address, so a clip on
 * a virtual tape is read by ranges from its records and never restored first; every ffmpeg and
 * ffprobe run takes lib/tc's input guard (http and tcp only, the containers tc-extract reads),
 * so a clip that is really a playlist cannot make it open local files or other hosts.
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
import { inputGuard, runFfmpeg, runProgram } from "../tc/ffmpeg.ts";
import { type MediaInfo, type MediaSource, probeMedia } from "../tc/probe.ts";
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
  /** The original's colour tags (ffprobe's names), carried into the proxies so players convert as for the original. */
  color: { space?: string; primaries?: string; transfer?: string; range?: string };
}

/** Where a clip's proxies are. */
export type ProxyState = { state: "none" } | { state: "making" } | { state: "ready"; hls: string } | { state: "failed"; message: string };

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
  readonly #mp4Failed = new Map<string, string>();
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
    return this.#once(`info:${key}`, () =>
      this.#quick.run(async () => {
        let media: MediaInfo;
        try {
          media = await probeMedia(this.#mediaSource(entry), this.#programs().ffprobe);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          this.#info.set(key, { error: message });
          throw new CliError(message, { path: entry.path });
        }
        const color = await colorTags(this.#sourceUrl(entry), this.#programs().ffprobe);
        const info: ClipInfo = {
          key,
          codec: media.videoCodec,
          width: media.width,
          height: media.height,
          rate: media.rate.label,
          rateNum: media.rate.num,
          rateDen: media.rate.den,
          dropFrame: media.dropFrame,
          start: media.start.toString(),
          hasTimecode: media.hasTimecode,
          frames: media.frames,
          reel: media.reel,
          audioChannels: media.audio.map((a) => a.channels),
          intraOnly: media.intraOnly,
          color,
        };
        mkdirSync(join(this.dir, key), { recursive: true });
        writeFileAtomically(join(this.dir, key, "info.json"), `${JSON.stringify(info, null, 2)}\n`, { overwrite: true });
        this.#info.set(key, info);
        return info;
      }),
    );
  }

  /** The thumbnail's path under the folder (`<key>/thumb.jpg`), made once. */
  async thumbnail(entry: CatalogEntry): Promise<string> {
    const info = await this.info(entry);
    const relative = `${info.key}/thumb.jpg`;
    if (existsSync(join(this.dir, relative))) return relative;
    return this.#once(`thumb:${info.key}`, () =>
      this.#quick.run(async () => {
        const seconds = Math.min(1, info.frames / 2 / (info.rateNum / info.rateDen));
        const partial = join(this.dir, info.key, `.thumb.${randomBytes(4).toString("hex")}.jpg`);
        try {
          await runFfmpeg([this.#programs().ffmpeg, "-hide_banner", "-nostdin", "-y", "-v", "error", "-ss", seconds.toFixed(3), ...inputGuard(this.#mediaSource(entry)), "-i", this.#sourceUrl(entry), "-frames:v", "1", "-vf", "scale=320:-2", "-q:v", "4", partial], entry.path);
          renameSync(partial, join(this.dir, relative));
        } finally {
          rmSync(partial, { force: true });
        }
        return relative;
      }),
    );
  }

  /** Where the clip's proxies stand. */
  proxyState(entry: CatalogEntry): ProxyState {
    const info = this.known(entry);
    if (!info) return { state: "none" };
    const state = this.#proxyState.get(info.key);
    if (state) return state;
    if (existsSync(join(this.dir, info.key, "hls", "master.m3u8"))) return { state: "ready", hls: `${info.key}/hls/master.m3u8` };
    return { state: "none" };
  }

  /** Starts making the HLS renditions unless they exist or are being made. */
  async startProxies(entry: CatalogEntry): Promise<ProxyState> {
    const info = await this.info(entry);
    const now = this.proxyState(entry);
    if (now.state === "ready" || now.state === "making") return now;
    this.#proxyState.set(info.key, { state: "making" });
    void this.#heavy.run(async () => {
      try {
        await this.#makeHls(entry, info);
        this.#proxyState.delete(info.key);
      } catch (error) {
        this.#proxyState.set(info.key, { state: "failed", message: error instanceof Error ? error.message : String(error) });
      }
    });
    return { state: "making" };
  }

  /**
   * The progressive MP4, made on first request (after any renditions already asked for):
   * `ready` with its path under the folder, or `making`.
   * @throws {CliError} when the clip cannot be probed or the last attempt failed.
   */
  async progressive(entry: CatalogEntry): Promise<{ state: "ready"; path: string } | { state: "making" }> {
    const info = await this.info(entry);
    const relative = `${info.key}/proxy.mp4`;
    if (existsSync(join(this.dir, relative))) return { state: "ready", path: relative };
    const failed = this.#mp4Failed.get(info.key);
    if (failed !== undefined) throw new CliError(failed, { path: entry.path });
    if (!this.#pending.has(`mp4:${info.key}`)) {
      void this.#once(`mp4:${info.key}`, () => this.#heavy.run(() => this.#makeMp4(entry, info))).catch((error: unknown) => {
        this.#mp4Failed.set(info.key, error instanceof Error ? error.message : String(error));
      });
    }
    return { state: "making" };
  }

  /** Waits until the clip's renditions are made (or failed); for tests and benchmarks. */
  async proxiesReady(entry: CatalogEntry): Promise<ProxyState> {
    for (;;) {
      const state = this.proxyState(entry);
      if (state.state === "failed" || state.state === "ready") return state;
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
    // tc-extract's planner needs the clip as ffprobe describes it, read through the server.
    const media = await probeMedia(this.#mediaSource(entry), this.#programs().ffprobe);
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
    return this.#once(`extract:${relative}`, () =>
      this.#heavy.run(async () => {
        mkdirSync(join(this.dir, "extracts", info.key), { recursive: true });
        const partial = join(this.dir, "extracts", info.key, `.${randomBytes(4).toString("hex")}.partial.mov`);
        try {
          const plan = await planExtraction(media, range.in.since(media.start), range.duration, partial, this.#programs().ffmpeg, this.#programs().ffprobe, { codec: chosen });
          await runFfmpeg(plan.command, entry.path);
          renameSync(partial, join(this.dir, relative));
        } finally {
          rmSync(partial, { force: true });
        }
        return result;
      }),
    );
  }

  /** The clip as lib/tc reads it: from this server's own address (ffmpeg may use http and tcp for it, nothing else). */
  #mediaSource(entry: CatalogEntry): MediaSource {
    return { path: entry.path, url: this.#sourceUrl(entry) };
  }
}

/** Frames per segment and per keyframe interval at the clip's rate. */
function framesPerSegment(info: ClipInfo): number {
  return Math.max(1, Math.round((SEGMENT_SECONDS * info.rateNum) / info.rateDen));
}

/**
 * The ffmpeg command for the HLS renditions: one decode, split and scaled per rendition, H.264
 * with a keyframe at the start of every segment in every rendition (so a player can switch at
 * any segment), no B-frames (a frame's time on screen is its presentation time), the original's
 * colour tags carried over (a player converts with the matrix the original was made with), fMP4
 * segments, and a master playlist naming them all.
 */
export function hlsCommand(ffmpeg: string, input: string, info: ClipInfo, outDir: string): string[] {
  const ladder = Previews.ladder(info.height);
  const gop = framesPerSegment(info);
  const audio = info.audioChannels.length > 0;
  const split = `[0:v:0]split=${ladder.length}${ladder.map((_, i) => `[s${i}]`).join("")};${ladder.map((r, i) => `[s${i}]scale=-2:${r.height}:flags=bicubic[v${i}]`).join(";")}`;
  const maps = ladder.flatMap((r, i) => ["-map", `[v${i}]`, `-maxrate:v:${i}`, String(r.maxrate), `-bufsize:v:${i}`, String(2 * r.maxrate), ...(audio ? ["-map", "0:a:0"] : [])]);
  return [
    ffmpeg,
    "-hide_banner",
    "-nostdin",
    "-y",
    "-v",
    "error",
    ...inputGuard({ url: input }),
    "-i",
    input,
    "-filter_complex",
    split,
    ...maps,
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-crf",
    "18",
    "-pix_fmt",
    "yuv420p",
    "-bf",
    "0",
    "-g",
    String(gop),
    "-keyint_min",
    String(gop),
    "-sc_threshold",
    "0",
    "-r",
    `${info.rateNum}/${info.rateDen}`,
    ...colorArguments(info),
    ...(audio ? ["-c:a", "aac", "-b:a", "128k", "-ac", "2"] : []),
    "-metadata",
    `timecode=${info.start}`,
    "-f",
    "hls",
    "-hls_time",
    String(SEGMENT_SECONDS),
    "-hls_playlist_type",
    "vod",
    "-hls_segment_type",
    "fmp4",
    "-hls_flags",
    "independent_segments",
    "-master_pl_name",
    "master.m3u8",
    "-var_stream_map",
    ladder.map((r, i) => `v:${i}${audio ? `,a:${i}` : ""},name:${r.name}`).join(" "),
    "-hls_fmp4_init_filename",
    "init.mp4",
    "-hls_segment_filename",
    join(outDir, "%v", "seg_%05d.m4s"),
    join(outDir, "%v", "index.m3u8"),
  ];
}

/** The progressive MP4 (the largest rendition up to 720p, the source timecode in a tmcd track, moov first). */
export function mp4Command(ffmpeg: string, input: string, info: ClipInfo, output: string): string[] {
  const rendition = Previews.ladder(Math.min(info.height, 720)).at(-1)!;
  return [
    ffmpeg,
    "-hide_banner",
    "-nostdin",
    "-y",
    "-v",
    "error",
    ...inputGuard({ url: input }),
    "-i",
    input,
    "-map",
    "0:v:0",
    ...(info.audioChannels.length > 0 ? ["-map", "0:a:0"] : []),
    "-map_metadata",
    "-1",
    "-vf",
    `scale=-2:${rendition.height}`,
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-crf",
    "20",
    "-pix_fmt",
    "yuv420p",
    "-bf",
    "0",
    "-r",
    `${info.rateNum}/${info.rateDen}`,
    ...colorArguments(info),
    ...(info.audioChannels.length > 0 ? ["-c:a", "aac", "-b:a", "128k", "-ac", "2"] : []),
    "-timecode",
    info.start,
    ...(info.reel ? ["-metadata:s:v:0", `reel_name=${info.reel}`] : []),
    "-movflags",
    "+faststart",
    "-f",
    "mp4",
    output,
  ];
}

/** The colour tags of a clip's first video stream, as ffprobe names them (unknown ones left out). */
async function colorTags(input: string, ffprobe: string): Promise<ClipInfo["color"]> {
  const result = await runProgram([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=color_space,color_primaries,color_transfer,color_range", "-of", "json", ...inputGuard({ url: input }), input]);
  if (result.code !== 0) return {};
  const stream = (JSON.parse(result.stdout) as { streams?: Record<string, string>[] }).streams?.[0] ?? {};
  const known = (value: string | undefined) => (value && value !== "unknown" && /^[a-z0-9_-]+$/.test(value) ? value : undefined);
  const color: ClipInfo["color"] = {};
  if (known(stream.color_space)) color.space = stream.color_space;
  if (known(stream.color_primaries)) color.primaries = stream.color_primaries;
  if (known(stream.color_transfer)) color.transfer = stream.color_transfer;
  if (known(stream.color_range)) color.range = stream.color_range;
  return color;
}

/** ffmpeg's options tagging the output with the original's colour (nothing for what the original does not say). */
function colorArguments(info: ClipInfo): string[] {
  const color = info.color ?? {};
  return [...(color.space ? ["-colorspace", color.space] : []), ...(color.primaries ? ["-color_primaries", color.primaries] : []), ...(color.transfer ? ["-color_trc", color.transfer] : []), ...(color.range ? ["-color_range", color.range] : [])];
}
