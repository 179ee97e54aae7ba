import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMPILED, run, SOURCE, tempDir, tool } from "./helpers.ts";

/** ffmpeg and ffprobe, or undefined (tests skip); in CI a missing ffmpeg fails. */
function ffmpegTools(): { ffmpeg: string; ffprobe: string } | undefined {
  const ffmpeg = process.env.FFMPEG ?? Bun.which("ffmpeg");
  const ffprobe = process.env.FFPROBE ?? Bun.which("ffprobe");
  if (ffmpeg && ffprobe) return { ffmpeg, ffprobe };
  if (process.env.CI === "true") throw new Error("ffmpeg and ffprobe are required in CI (apt-get install ffmpeg)");
  return undefined;
}

const bins = ffmpegTools();
const dir = tempDir("cartkit-tc-extract-");
const GOP = join(dir, "gop2997.mov");
const INTRA = join(dir, "A001C003.mov");

function ffmpeg(args: string[]): string {
  const result = run([bins!.ffmpeg, "-hide_banner", "-v", "error", "-y", ...args]);
  if (result.code !== 0) throw new Error(result.stderr);
  return result.stdout;
}

function probeTag(path: string, entry: string, streams = "v:0"): string {
  return run([bins!.ffprobe, "-v", "error", "-select_streams", streams, "-show_entries", entry, "-of", "default=nw=1:nk=1", path]).stdout.trim();
}

const ffmpegHelp = bins ? run([bins.ffmpeg, "-hide_banner", "-h", "full"]).stdout : "";

/** framemd5 hashes of the decoded video frames [first, first+count) (all when count is omitted). */
function frameHashes(path: string, first = 0, count?: number): string[] {
  // Keep selected frames as they are (no duplication to fill gaps): -fps_mode since ffmpeg 5.1, -vsync before.
  const passthrough = ffmpegHelp.includes("-fps_mode") ? ["-fps_mode", "passthrough"] : ["-vsync", "passthrough"];
  const filter = count === undefined ? [] : ["-vf", `select='between(n,${first},${first + count - 1})'`, ...passthrough];
  return ffmpeg(["-i", path, "-map", "0:v:0", ...filter, "-f", "framemd5", "-"]).split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(",").pop()!.trim());
}

/** Lowest per-frame PSNR (dB) of `output` against source frames [first, first+count). */
function minPsnr(output: string, source: string, first: number, count: number): number {
  const graph = `[1:v]select='between(n,${first},${first + count - 1})',setpts=N/FRAME_RATE/TB,format=yuv422p10le[s];[0:v]setpts=N/FRAME_RATE/TB,format=yuv422p10le[o];[o][s]psnr`;
  const result = run([bins!.ffmpeg, "-hide_banner", "-i", output, "-i", source, "-filter_complex", graph, "-f", "null", "-"]);
  const match = /PSNR .*min:([\d.]+|inf)/.exec(result.stderr);
  if (!match) throw new Error(result.stderr);
  return match[1] === "inf" ? Infinity : Number(match[1]);
}

describe.skipIf(!bins)("tc-extract SOURCE --in --out", () => {
  beforeAll(() => {
    // Long-GOP H.264 with B-frames at 29.97 drop-frame, starting just before the hour.
    ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=320x180:r=30000/1001:d=3", "-f", "lavfi", "-i", "sine=f=440:d=3",
      "-c:v", "libx264", "-g", "48", "-bf", "2", "-c:a", "aac", "-shortest", "-timecode", "00:59:59;00", GOP]);
    // Intra-only ProRes at 25 fps with a reel name.
    ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2", "-c:v", "prores_ks", "-profile:v", "0",
      "-timecode", "10:00:00:00", "-metadata:s:v:0", "reel_name=A001", INTRA]);
  });

  test("re-encode from long-GOP 29.97 DF across the hour, with handles: the same frames, stamped with the segment start", () => {
    const out = join(dir, "gop_cut.mov");
    const result = tool(SOURCE, "tc-extract", [GOP, "--in", "00:59:59;20", "--out", "01:00:00;10", "--handles", "4", "-o", out, "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ source: GOP, output: out, start: "00:59:59;16", frames: 28, mode: "prores_hq" });
    expect(probeTag(out, "stream_tags=timecode")).toBe("00:59:59;16");
    expect(probeTag(out, "stream=codec_name,nb_frames")).toBe("prores\n28");
    // 00:59:59;16 is frame 16 of the source: one frame off would drop PSNR far below 45 dB.
    expect(minPsnr(out, GOP, 16, 28)).toBeGreaterThan(45);
    expect(minPsnr(out, GOP, 17, 28)).toBeLessThan(30);
  });

  test("--copy from an intra-only source is bit-exact and keeps the reel name", () => {
    const out = join(dir, "copy.mov");
    const result = tool(SOURCE, "tc-extract", [INTRA, "--in", "10:00:01:00", "--out", "10:00:01:10", "--handles", "2", "--copy", "-o", out]);
    expect(result).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(frameHashes(out)).toEqual(frameHashes(INTRA, 23, 14));
    expect(probeTag(out, "stream_tags=timecode")).toBe("10:00:00:23");
    // The mov muxer writes the reel name on the timecode track.
    expect(probeTag(out, "stream_tags=reel_name", "d:0")).toBe("A001");
  });

  test("--copy from long-GOP is refused with the reason; --dry-run prints the command", () => {
    const refused = tool(SOURCE, "tc-extract", [GOP, "--in", "00:59:59;20", "--out", "01:00:00;10", "--copy", "-o", join(dir, "x.mov")]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(`tc-extract: ${GOP}: --copy needs an intra-only source, but h264 here is long-GOP: a stream copy can only start on a keyframe, so the first frames would be wrong or missing. Re-encode (--codec) or pass --allow-inexact\n`);
    const dry = tool(SOURCE, "tc-extract", [INTRA, "--in", "10:00:00:05", "--out", "10:00:00:15", "--codec", "dnxhr_lb", "--dry-run", "-o", "/tmp/o.mov"], { env: { FFMPEG: bins!.ffmpeg } });
    expect(dry).toMatchObject({
      code: 0, stderr: "",
      stdout: `${bins!.ffmpeg} -hide_banner -nostdin -y -v error -ss 0.200000 -i ${INTRA} -map 0:v:0 -map '0:a?' -map_metadata -1 -c:v dnxhd -profile:v dnxhr_lb -pix_fmt yuv422p -c:a pcm_s24le -frames:v 10 -t 0.400001 -timecode 10:00:00:05 -metadata:s:v:0 reel_name=A001 /tmp/o.mov\n`,
    });
  });

  test("a range outside the source, a bad codec and a missing ffmpeg exit 2", () => {
    expect(tool(SOURCE, "tc-extract", [INTRA, "--in", "10:00:01:20", "--out", "10:00:02:05"]).stderr)
      .toBe(`tc-extract: ${INTRA}: range 10:00:01:20-10:00:02:05 (10 frames) is outside the source, which covers 10:00:00:00-10:00:02:00\n`);
    expect(tool(SOURCE, "tc-extract", [INTRA, "--in", "10:00:00:00", "--out", "10:00:00:02", "--codec", "vp9"]).stderr)
      .toBe("tc-extract: --codec vp9: expected one of prores_proxy, prores_lt, prores_422, prores_hq, dnxhr_lb, dnxhr_hq, h264_intra\n");
    const missing = tool(SOURCE, "tc-extract", [INTRA, "--in", "10:00:00:00", "--out", "10:00:00:02"], { env: { FFPROBE: join(dir, "nope") } });
    expect(missing).toMatchObject({ code: 2, stderr: `tc-extract: FFPROBE=${join(dir, "nope")} is not an executable file\n` });
  });
});

describe.skipIf(!bins)("tc-extract --edl (batch) and proxy", () => {
  const media = join(dir, "media");
  const outDir = join(dir, "conform");
  beforeAll(() => {
    mkdirSync(media, { recursive: true });
    ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2", "-f", "lavfi", "-i", "sine=d=2", "-shortest", "-c:v", "prores_ks", "-profile:v", "0", "-c:a", "pcm_s16le",
      "-timecode", "10:00:00:00", join(media, "A001C003_220101.mov")]);
    writeFileSync(join(dir, "cut.edl"), [
      "TITLE: CONFORM",
      "FCM: NON-DROP FRAME",
      "001  A001C003 V     C        10:00:00:10 10:00:01:00 01:00:00:00 01:00:00:15",
      "* FROM CLIP NAME: A001C003_220101",
      "002  BL       V     C        00:00:00:00 00:00:00:05 01:00:00:15 01:00:00:20",
      "003  ZZZ999   V     C        05:00:00:00 05:00:01:00 01:00:00:20 01:00:01:20",
      "",
    ].join("\n"));
  });

  test("extracts what it finds, lists what it does not, exit 1", () => {
    const result = tool(SOURCE, "tc-extract", ["--edl", join(dir, "cut.edl"), "--media", media, "-o", outDir, "--handles", "5", "--json", "--rate", "25"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`tc-extract: event 003 (reel ZZZ999): no media under ${media} covers 05:00:00:00-05:00:01:00\n`);
    const lines = result.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    const output = join(outDir, "001_A001C003_A001C003_220101.mov");
    expect(lines).toEqual([
      { event: "001", reel: "A001C003", clipName: "A001C003_220101", status: "extracted", media: join(media, "A001C003_220101.mov"), output, start: "10:00:00:05", frames: 25 },
      { event: "003", reel: "ZZZ999", clipName: null, status: "missing", media: null, output: null, start: null, frames: null },
    ]);
    expect(frameHashes(output).length).toBe(25);
    expect(minPsnr(output, join(media, "A001C003_220101.mov"), 5, 25)).toBeGreaterThan(45);
    expect(probeTag(output, "stream_tags=timecode")).toBe("10:00:00:05");
    const report = JSON.parse(readFileSync(join(outDir, "report.json"), "utf8"));
    expect(report.missing).toBe(1);
    expect(readFileSync(join(outDir, "cut_conformed.edl"), "utf8")).toBe([
      "TITLE: CONFORM", "FCM: NON-DROP FRAME", "",
      "001  A001C003 V     C         10:00:00:10 10:00:01:00 01:00:00:00 01:00:00:15",
      "* FROM CLIP NAME: 001_A001C003_A001C003_220101",
      `* SOURCE FILE: ${output}`,
      "002  BL       V     C         00:00:00:00 00:00:00:05 01:00:00:15 01:00:00:20",
      "003  ZZZ999   V     C         05:00:00:00 05:00:01:00 01:00:00:20 01:00:01:20",
      "",
    ].join("\n"));
  });

  test("the compiled binary extracts with --jobs 2 the same frames, with the same report", () => {
    const out2 = join(dir, "conform-jobs2");
    const edl = join(dir, "cut2.edl");
    writeFileSync(edl, [
      "TITLE: TWO",
      "FCM: NON-DROP FRAME",
      "001  A001C003 V     C        10:00:00:10 10:00:01:00 01:00:00:00 01:00:00:15",
      "* FROM CLIP NAME: A001C003_220101",
      "002  A001C003 V     C        10:00:01:00 10:00:01:10 01:00:00:15 01:00:01:00",
      "* FROM CLIP NAME: A001C003_220101",
      "",
    ].join("\n"));
    const result = tool(COMPILED, "tc-extract", ["--edl", edl, "--media", media, "-o", out2, "--jobs", "2", "--json", "--rate", "25"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l: { event: string; status: string; start: string; frames: number }) => [l.event, l.status, l.start, l.frames])).toEqual([
      ["001", "extracted", "10:00:00:10", 15],
      ["002", "extracted", "10:00:01:00", 10],
    ]);
    expect(minPsnr(lines[0].output, join(media, "A001C003_220101.mov"), 10, 15)).toBeGreaterThan(45);
    expect(minPsnr(lines[1].output, join(media, "A001C003_220101.mov"), 25, 10)).toBeGreaterThan(45);
    expect(probeTag(lines[1].output, "stream_tags=timecode")).toBe("10:00:01:00");
  });

  test("the other proxy presets keep timecode, rate and frame count (compiled binary)", () => {
    const source = join(media, "A001C003_220101.mov");
    for (const [preset, codec] of [["dnxhr_lb", "dnxhd"], ["h264_540p", "h264"]] as const) {
      const proxies = join(dir, `proxies-${preset}`);
      const result = tool(COMPILED, "tc-extract", ["proxy", source, "-o", proxies, "--preset", preset, "--json"]);
      expect({ preset, code: result.code, stderr: result.stderr }).toEqual({ preset, code: 0, stderr: "" });
      const proxy = JSON.parse(result.stdout).output as string;
      expect(probeTag(proxy, "stream=codec_name,r_frame_rate,nb_frames")).toBe(`${codec}\n25/1\n50`);
      expect(probeTag(proxy, "stream_tags=timecode")).toBe("10:00:00:00");
    }
  });

  test("proxy keeps timecode, rate, frame count, audio channels and base name", () => {
    const source = join(media, "A001C003_220101.mov");
    const proxies = join(dir, "proxies");
    const result = tool(SOURCE, "tc-extract", ["proxy", source, "-o", proxies, "--burn", "tc,name", "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const proxy = join(proxies, "A001C003_220101.mov");
    expect(JSON.parse(result.stdout)).toEqual({ source, output: proxy, start: "10:00:00:00", frames: 50, preset: "prores_proxy" });
    expect(probeTag(proxy, "stream=codec_name,r_frame_rate,nb_frames")).toBe("prores\n25/1\n50");
    expect(probeTag(proxy, "stream_tags=timecode")).toBe("10:00:00:00");
    expect(probeTag(proxy, "stream=channels", "a:0")).toBe("1");
  });
});
