/**
 * Editorial proxies that relink: the same start timecode, frame rate, frame count, audio
 * channels and base filename as the camera original, smaller picture and cheaper codec, every
 * frame of the original in order (timed from the first video frame, audio cut to match).
 * ProRes proxies use ffmpeg's `prores` encoder, not `prores_ks` (why: BENCHMARKS.md, "Notes on
 * tc-extract proxies").
 *
 * Burn-in text reaches drawtext as one escaped option value with text expansion off: a clip
 * name holding `'`, `:`, `,`, `%{…}` or `[` is drawn as it is, never read as filtergraph syntax.
 */
import { usageError } from "../core/errors.ts";
import { showName } from "../core/names.ts";
import type { LineSink } from "../core/sink.ts";
import { findProgram } from "./binaries.ts";
import { type ExtractionPlan, planReencode, runPlan } from "./extract.ts";
import { filterValue, runLimited, shellLine } from "./ffmpeg.ts";
import { OutputFolder } from "./outputs.ts";
import { clipStem, fileSource, type MediaInfo, probeMedia } from "./probe.ts";
import { rateRatio } from "./rate.ts";

/** Proxy presets: video codec arguments and the picture height. */
export const PROXY_PRESETS: Record<string, { video: string[]; height: number | null }> = {
  prores_proxy: { video: ["-c:v", "prores", "-profile:v", "0", "-pix_fmt", "yuv422p10le"], height: null },
  dnxhr_lb: { video: ["-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p"], height: null },
  h264_540p: { video: ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"], height: 540 },
};

/** Options of `tc-extract proxy`. */
export interface ProxyOptions {
  outDir: string;
  preset?: string;
  burn?: string;
  jobs: number;
  force: boolean;
  dryRun: boolean;
  json: boolean;
  out: LineSink;
}

/** Where burn-in text sits: white on a half-transparent box. */
const BOX = ":fontcolor=white:box=1:boxcolor=black@0.5";

/**
 * The drawtext filters for a burn-in: the running timecode (wrapping at 24 hours, as the
 * labels do) at the bottom, the clip name at the top.
 */
export function burnFilters(info: MediaInfo, burn: readonly string[]): string[] {
  const filters: string[] = [];
  if (burn.includes("tc")) filters.push(`drawtext=timecode=${filterValue(info.start.toString())}:timecode_rate=${filterValue(rateRatio(info.rate))}:tc24hmax=1:x=10:y=h-th-10${BOX}`);
  if (burn.includes("name")) filters.push(`drawtext=text=${filterValue(clipStem(info.path).toWellFormed())}:expansion=none:x=10:y=10${BOX}`);
  return filters;
}

/** The ffmpeg command for one proxy: every frame of `info`, into `output`. */
export function planProxy(info: MediaInfo, output: string, ffmpeg: string, preset: string, burn: string[]): ExtractionPlan {
  const settings = PROXY_PRESETS[preset]!;
  const filters = [...(settings.height !== null ? [`scale=-2:${Math.min(settings.height, info.height)}`] : []), ...burnFilters(info, burn)];
  return planReencode(info, 0, info.frames, output, ffmpeg, { video: settings.video, filters, audio: "pcm_s16le", mode: preset });
}

/** `tc-extract proxy SOURCE... -o DIR`. */
export async function runProxies(sources: string[], options: ProxyOptions): Promise<number> {
  if (sources.length === 0) throw usageError(`proxy needs at least one SOURCE`);
  const preset = options.preset ?? "prores_proxy";
  if (!(preset in PROXY_PRESETS)) throw usageError(`--preset ${preset}: expected one of ${Object.keys(PROXY_PRESETS).join(", ")}`);
  const burn = options.burn ? options.burn.split(",").map((b) => b.trim()) : [];
  for (const b of burn) if (b !== "tc" && b !== "name") throw usageError(`--burn ${options.burn}: expected tc, name or tc,name`);
  const ffprobe = findProgram("ffprobe");
  const ffmpeg = findProgram("ffmpeg");
  const infos = await runLimited(
    sources.map((s) => () => probeMedia(fileSource(s), ffprobe)),
    options.jobs,
  );
  const names = infos.map((info) => `${clipStem(info.path)}.mov`);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined) throw usageError(`two sources would make the same proxy ${showName(duplicate)}: give them separately, with different -o`);
  const plans = infos.map((info, i) => planProxy(info, `${options.outDir.replace(/\/+$/, "")}/${names[i]}`, ffmpeg, preset, burn));
  if (options.dryRun) {
    for (const plan of plans) options.out.data(`${shellLine(plan.command)}\n`);
    return 0;
  }
  const folder = OutputFolder.open(options.outDir, { create: true, replace: options.force });
  let failed = 0;
  try {
    for (const name of names) folder.check(name);
    const problems = await runLimited(
      plans.map((plan, i) => () => runPlan(plan, folder, folder.create(names[i]!), ffprobe)),
      options.jobs,
    );
    problems.forEach((list, i) => {
      for (const problem of list) options.out.error(`tc-extract: ${showName(plans[i]!.output)}: ${problem}`);
      if (list.length > 0) failed++;
    });
    if (options.json) {
      for (const [i, info] of infos.entries()) options.out.data(`${JSON.stringify({ source: info.path, output: plans[i]!.output, start: info.start.toString(), frames: info.frames, preset })}\n`);
    }
  } finally {
    folder.close();
  }
  return failed > 0 ? 1 : 0;
}
