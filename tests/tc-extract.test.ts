/**
 * tc-extract SOURCE --in --out and proxies, checked frame by frame and sample by sample: every
 * source draws its frame index into the picture and its audio is a ramp of its own sample
 * index (tests/tc-media.ts), so an output proves which frames and samples it holds.
 *
 * Expected audio: frame k of a source whose first video frame plays at Vs and whose audio
 * starts at As (seconds) plays with sample round((Vs + k / rate − As) × 48000).
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMPILED, SOURCE, tempDir, tool } from "./helpers.ts";
import { BINS, expectedRun, ffmpeg, frameIndices, makeSource, probe, runOf, sampleIndices, samples32 } from "./tc-media.ts";

setDefaultTimeout(60_000);
const dir = tempDir("cartkit-tc-extract-");
const src = (name: string) => join(dir, name);
/** The sample that plays with frame k at `rate` (frames per second as num/den), audio and video starting together. */
const sampleAt = (k: number, num: number, den: number, offsetSeconds = 0) => Math.round((offsetSeconds + (k * den) / num) * 48000);

/** A source made once, the first time a test asks for it. */
function source(name: string, make: (path: string) => void): () => string {
  let made = false;
  return () => {
    const path = src(name);
    if (!made) {
      make(path);
      made = true;
    }
    return path;
  };
}

const P2997 = source("A001C001.mov", (p) => makeSource(p, { rate: "30000/1001", seconds: 4, timecode: "00:00:58;00", extra: ["-metadata:s:v:0", "reel_name=A001"] }));
const P5994 = source("p5994.mov", (p) => makeSource(p, { rate: "60000/1001", seconds: 2, timecode: "00:09:59;30" }));
const H264I = source("h264i.mov", (p) => makeSource(p, { rate: "24000/1001", seconds: 2, timecode: "10:00:00:00", video: ["-c:v", "libx264", "-g", "1", "-bf", "0", "-crf", "18", "-pix_fmt", "yuv420p"] }));
const DNX = source("dnx.mxf", (p) => makeSource(p, { rate: "25", seconds: 2, timecode: "10:00:00:00", video: ["-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p"] }));
/** Long-GOP H.264 with B-frames and no edit list: its video starts 2 frames (0.0667 s) after its audio. */
const GOP = source("gop.mov", (p) => makeSource(p, { rate: "30000/1001", seconds: 3, timecode: "01:00:00;00", video: ["-c:v", "libx264", "-g", "12", "-bf", "2", "-pix_fmt", "yuv420p"], extra: ["-use_editlist", "0"] }));
/** Video delayed 0.1 s by an edit list. */
const DELAYED = source("delayed.mov", (p) => {
  makeSource(src("delayed-v.mov"), { rate: "30000/1001", seconds: 3, audio: null, video: ["-c:v", "libx264", "-g", "12", "-bf", "2", "-pix_fmt", "yuv420p"] });
  makeSource(src("delayed-a.mov"), { rate: "30000/1001", seconds: 3, video: ["-c:v", "prores_ks", "-profile:v", "0"] });
  ffmpeg(["-itsoffset", "0.1", "-i", src("delayed-v.mov"), "-i", src("delayed-a.mov"), "-map", "0:v", "-map", "1:a", "-c", "copy", "-timecode", "01:00:00;00", p]);
});
/** MPEG-TS whose video starts 10 ms after its audio (SMPTE 302M PCM: the ramp survives). */
const TS = source("late-video.ts", (p) => {
  makeSource(src("ts-v.mp4"), { rate: "25", seconds: 3, audio: null, video: ["-c:v", "libx264", "-g", "12", "-bf", "2", "-pix_fmt", "yuv420p"] });
  ffmpeg(["-itsoffset", "0.01", "-i", src("ts-v.mp4"), "-f", "lavfi", "-i", "aevalsrc=n/8388608:s=48000:d=3:c=stereo", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "s302m", "-strict", "-2", p]);
});
const AC3_TS = source("ac3.ts", (p) => makeSource(p, { rate: "25", seconds: 3, channels: 2, video: ["-c:v", "libx264", "-g", "12", "-bf", "2", "-pix_fmt", "yuv420p"], audio: ["-c:a", "ac3"] }));
/** Matroska carries its start timecode as a format-level TIMECODE tag. */
const MKV = source("night.mkv", (p) => makeSource(p, { rate: "25", seconds: 2, timecode: "23:59:59:00", video: ["-c:v", "ffv1"] }));
/** 29.97 stored with a 2997 time scale: the stream says 2997/100. */
const TS2997 = source("ts2997.mov", (p) => makeSource(p, { rate: "2997/100", seconds: 1, timecode: "01:00:00:00", extra: ["-video_track_timescale", "2997"] }));

/** Runs the extraction from source, expecting success; returns its JSON line. */
function extract(args: string[], runner = SOURCE): Record<string, unknown> {
  const result = tool(runner, "tc-extract", [...args, "--json"]);
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
  return JSON.parse(result.stdout);
}

describe.skipIf(!BINS)("tc-extract SOURCE --in --out: exact frames and samples", () => {
  test("re-encode at 29.97 DF across a dropped minute, with handles, ProRes MOV", () => {
    const out = src("r2997.mov");
    // 00:00:59;20 is frame 50; 00:01:00;12 is frame 70 (;00 and ;01 do not exist in minute 1).
    const plan = extract([P2997(), "--in", "00:00:59;20", "--out", "00:01:00;12", "--handles", "4", "-o", out]);
    expect(plan).toMatchObject({ start: "00:00:59;16", frames: 28, mode: "prores_hq", handlesBefore: 4, handlesAfter: 4, requested: null, problems: [] });
    expect(runOf(frameIndices(out))).toEqual(expectedRun(46, 28));
    const first = sampleAt(46, 30000, 1001);
    expect(runOf(sampleIndices(out))).toEqual(expectedRun(first, sampleAt(74, 30000, 1001) - first));
    expect(probe(out, "stream_tags=timecode", "v:0")).toBe("00:00:59;16");
    expect(probe(out, "stream=codec_name", "v:0")).toBe("prores");
    expect(probe(out, "stream_tags=reel_name", "d:0")).toBe("A001");
  });

  test("re-encode at 59.94 DF over the tenth minute (no labels dropped there), DNxHR", () => {
    const out = src("r5994.mov");
    extract([P5994(), "--in", "00:09:59;50", "--out", "00:10:00;10", "--codec", "dnxhr_lb", "-o", out]);
    expect(runOf(frameIndices(out))).toEqual(expectedRun(20, 20));
    expect(runOf(sampleIndices(out))).toEqual(expectedRun(sampleAt(20, 60000, 1001), sampleAt(40, 60000, 1001) - sampleAt(20, 60000, 1001)));
    expect(probe(out, "stream_tags=timecode", "v:0")).toBe("00:09:59;50");
  });

  test("re-encode into MXF at 25 from an MXF source (compiled binary)", () => {
    const out = src("r25.mxf");
    extract([DNX(), "--in", "10:00:00:05", "--out", "10:00:01:05", "--codec", "dnxhr_lb", "-o", out], COMPILED);
    expect(runOf(frameIndices(out))).toEqual(expectedRun(5, 25));
    expect(runOf(sampleIndices(out))).toEqual(expectedRun(9600, 48000));
    expect(probe(out, "format_tags=timecode")).toBe("10:00:00:05");
  });

  test("--copy keeps all the audio of the frames: 1 s at 29.97 is 30 frames and 48,048 samples (ProRes MOV)", () => {
    const out = src("copy2997.mov");
    const plan = extract([P2997(), "--in", "00:00:59;00", "--out", "00:01:00;02", "--copy", "-o", out]);
    expect(plan).toMatchObject({ start: "00:00:59;00", frames: 30, mode: "copy", samples: [48048] });
    expect(runOf(frameIndices(out))).toEqual(expectedRun(30, 30));
    expect(runOf(sampleIndices(out))).toEqual(expectedRun(sampleAt(30, 30000, 1001), 48048));
    expect(probe(out, "stream=codec_name", "v:0")).toBe("prores");
  });

  test("--copy of 2 frames at 25 holds 3,840 samples (DNxHR MXF), and all-intra H.264 at 23.976 copies exactly", () => {
    const mxf = src("copy25.mxf");
    extract([DNX(), "--in", "10:00:01:00", "--out", "10:00:01:02", "--copy", "-o", mxf], COMPILED);
    expect(runOf(frameIndices(mxf))).toEqual(expectedRun(25, 2));
    expect(runOf(sampleIndices(mxf))).toEqual(expectedRun(48000, 3840));
    const mov = src("copy2398.mov");
    extract([H264I(), "--in", "10:00:00:10", "--out", "10:00:01:10", "--copy", "-o", mov]);
    expect(runOf(frameIndices(mov))).toEqual(expectedRun(10, 24));
    expect(runOf(sampleIndices(mov))).toEqual(expectedRun(sampleAt(10, 24000, 1001), sampleAt(34, 24000, 1001) - sampleAt(10, 24000, 1001)));
    expect(probe(mov, "stream=codec_name", "v:0")).toBe("h264");
  });

  test("frames count from the first video frame: long-GOP MOV whose video starts 2 frames late", () => {
    const out = src("gop-cut.mov");
    extract([GOP(), "--in", "01:00:01;10", "--out", "01:00:02;10", "-o", out]);
    expect(runOf(frameIndices(out))).toEqual(expectedRun(40, 30));
    // The first video frame plays at 2002/30000 s.
    const first = sampleAt(40, 30000, 1001, 2002 / 30000);
    expect(first).toBe(67267);
    expect(runOf(sampleIndices(out))).toEqual(expectedRun(first, 48048));
  });

  test("frames count from the first video frame: video delayed 0.1 s by an edit list", () => {
    const out = src("delayed-cut.mov");
    extract([DELAYED(), "--in", "01:00:01;00", "--out", "01:00:02;00", "-o", out]);
    expect(runOf(frameIndices(out))).toEqual(expectedRun(30, 30));
    expect(runOf(sampleIndices(out))).toEqual(expectedRun(sampleAt(30, 30000, 1001, 0.1), 48048));
  });

  test("frames count from the first video frame: MPEG-TS whose video starts 10 ms after its audio", () => {
    const out = src("ts-cut.mov");
    extract([TS(), "--in", "00:00:01:00", "--out", "00:00:01:02", "-o", out]);
    expect(runOf(frameIndices(out))).toEqual(expectedRun(25, 2));
    expect(runOf(sampleIndices(out))).toEqual(expectedRun(sampleAt(25, 25, 1, 0.01), 3840));
  });

  test("an AC-3 MPEG-TS segment holds every sample of its frames", () => {
    const out = src("ac3-cut.mov");
    const plan = extract([AC3_TS(), "--in", "00:00:00:13", "--out", "00:00:01:20", "-o", out]);
    expect(plan).toMatchObject({ frames: 32, samples: [32 * 1920], problems: [] });
    expect(frameIndices(out).length).toBe(32);
    expect(samples32(out).length).toBe(32 * 1920);
  });

  test("Matroska's TIMECODE tag is the start; a range over midnight extracts (audio within its 1 ms timestamps)", () => {
    const out = src("night.mov");
    const plan = extract([MKV(), "--in", "23:59:59:10", "--out", "00:00:00:05", "-o", out]);
    expect(plan).toMatchObject({ start: "23:59:59:10", frames: 20 });
    expect(runOf(frameIndices(out))).toEqual(expectedRun(10, 20));
    const audio = runOf(sampleIndices(out));
    expect({ count: audio.count, consecutive: audio.consecutive }).toEqual({ count: 38400, consecutive: true });
    // Matroska stamps audio in whole milliseconds: 48 samples.
    expect(Math.abs(audio.first! - 19200)).toBeLessThanOrEqual(48);
    expect(probe(out, "stream_tags=timecode", "v:0")).toBe("23:59:59:10");
  });

  test("29.97 stored with a 2997 time scale is 29.97", () => {
    const out = src("ts2997-cut.mov");
    extract([TS2997(), "--in", "01:00:00:05", "--out", "01:00:00:15", "-o", out]);
    expect(runOf(frameIndices(out))).toEqual(expectedRun(5, 10));
    expect(probe(out, "stream_tags=timecode", "v:0")).toBe("01:00:00:05");
  });
});

describe.skipIf(!BINS)("tc-extract --copy --allow-inexact", () => {
  test("long-GOP: the output holds whole GOPs around the range, says which, and its audio matches them", () => {
    const out = src("inexact.mov");
    const result = tool(SOURCE, "tc-extract", [GOP(), "--in", "01:00:01;10", "--out", "01:00:02;10", "--copy", "--allow-inexact", "-o", out, "--json"]);
    expect(result.code).toBe(0);
    // GOPs of 12: frames 40–69 lie in the GOPs from keyframe 36 to keyframe 72.
    expect(result.stderr).toBe(`tc-extract: ${GOP()}: --allow-inexact: the output holds whole GOPs, 36 frames from 01:00:01;06 (30 asked for from 01:00:01;10)\n`);
    expect(JSON.parse(result.stdout)).toMatchObject({ start: "01:00:01;06", frames: 36, mode: "copy-inexact", requested: { start: "01:00:01;10", frames: 30 }, problems: [] });
    expect(runOf(frameIndices(out))).toEqual(expectedRun(36, 36));
    const first = sampleAt(36, 30000, 1001, 2002 / 30000);
    expect(runOf(sampleIndices(out))).toEqual(expectedRun(first, sampleAt(72, 30000, 1001, 2002 / 30000) - first));
    expect(probe(out, "stream_tags=timecode", "v:0")).toBe("01:00:01;06");
    expect(probe(out, "stream=start_time", "v:0")).toBe("0.000000");
  });

  test("without --allow-inexact a long-GOP copy is refused with the reason", () => {
    const refused = tool(SOURCE, "tc-extract", [GOP(), "--in", "01:00:01;10", "--out", "01:00:02;10", "--copy", "-o", src("refused.mov")]);
    expect(refused).toMatchObject({
      code: 2,
      stdout: "",
      stderr: `tc-extract: ${GOP()}: --copy needs an intra-only source, but h264 here is long-GOP: a stream copy can only start on a keyframe, so the first frames would be wrong or missing. Re-encode (--codec) or pass --allow-inexact (the output then holds whole GOPs around the range)\n`,
    });
    expect(existsSync(src("refused.mov"))).toBe(false);
  });
});

describe.skipIf(!BINS)("tc-extract SOURCE: ranges, handles, outputs and errors", () => {
  test("handles beyond the source are cut to what it has, and said so", () => {
    const out = src("handles.mov");
    const result = tool(SOURCE, "tc-extract", [DNX(), "--in", "10:00:00:02", "--out", "10:00:01:23", "--handles", "5", "-o", out, "--json"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`tc-extract: ${DNX()}: handles of 5 cut to 2 before (the source starts there) and 2 after (the source ends there)\n`);
    expect(JSON.parse(result.stdout)).toMatchObject({ start: "10:00:00:00", frames: 50, handlesBefore: 2, handlesAfter: 2 });
    expect(runOf(frameIndices(out))).toEqual(expectedRun(0, 50));
  });

  test("--in after --out, a point outside the source, a bad container or codec, a missing ffprobe: exit 2 naming them", () => {
    const cases: [string[], string][] = [
      [["--in", "10:00:01:00", "--out", "10:00:00:10"], `tc-extract: ${DNX()}: --out 10:00:00:10 is not after --in 10:00:01:00\n`],
      [["--in", "10:00:01:20", "--out", "10:00:02:05"], `tc-extract: ${DNX()}: --out 10:00:02:05 is outside the source, which covers 10:00:00:00-10:00:02:00\n`],
      [["--in", "09:00:00:00", "--out", "10:00:00:05"], `tc-extract: ${DNX()}: --in 09:00:00:00 is outside the source, which covers 10:00:00:00-10:00:02:00\n`],
      [["--in", "10:00:00:00", "--out", "10:00:00:02", "--codec", "vp9"], "tc-extract: --codec vp9: expected one of prores_proxy, prores_lt, prores_422, prores_hq, dnxhr_lb, dnxhr_hq, h264_intra\n"],
      [["--in", "10:00:00:00", "--out", "10:00:00:02", "-o", src("x.mp4")], `tc-extract: ${src("x.mp4")}: tc-extract writes .mov or .mxf files\n`],
      [["--in", "10:00:00:00", "--out", "10:00:00:02;00"], "tc-extract: invalid timecode '10:00:00:02;00': expected HH:MM:SS:FF (or HH:MM:SS;FF for drop-frame)\n"],
    ];
    for (const [args, stderr] of cases) expect(tool(SOURCE, "tc-extract", [DNX(), ...args])).toMatchObject({ code: 2, stdout: "", stderr });
    const missing = tool(SOURCE, "tc-extract", [DNX(), "--in", "10:00:00:00", "--out", "10:00:00:02"], { env: { FFPROBE: src("nope") } });
    expect(missing).toMatchObject({ code: 2, stderr: `tc-extract: FFPROBE=${src("nope")} is not an executable file\n` });
  });

  test("an existing output is never replaced unless --force; --dry-run prints the command, without -y", () => {
    const out = src("exists.mov");
    writeFileSync(out, "someone else's file");
    const refused = tool(SOURCE, "tc-extract", [DNX(), "--in", "10:00:00:00", "--out", "10:00:00:02", "-o", out]);
    expect(refused).toMatchObject({ code: 2, stdout: "", stderr: `tc-extract: ${out}: already exists; tc-extract never replaces a file it did not write in this run (pass --force to replace it)\n` });
    expect(readFileSync(out, "utf8")).toBe("someone else's file");
    expect(readdirSync(dir).filter((n) => n.includes("exists"))).toEqual(["exists.mov"]);
    const dry = tool(SOURCE, "tc-extract", [DNX(), "--in", "10:00:00:05", "--out", "10:00:00:15", "--codec", "dnxhr_lb", "--dry-run", "-o", "/tmp/o.mov"], { env: { FFMPEG: BINS!.ffmpeg } });
    expect(dry).toMatchObject({
      code: 0,
      stderr: "",
      stdout: `${BINS!.ffmpeg} -hide_banner -nostdin -v error -format_whitelist mov,mxf,matroska,mpegts,avi -protocol_whitelist file -ss 0.180000 -i file:${DNX()} -map 0:v:0 -map 0:a:0 -map_metadata -1 -filter:v 'trim=end_frame=10,setpts=N*1/(25*TB)' -filter:a:0 atrim=start_pts=960:end_pts=20160,asetpts=PTS-STARTPTS -c:v dnxhd -profile:v dnxhr_lb -pix_fmt yuv422p -c:a pcm_s24le -timecode 10:00:00:05 -f mov file:/tmp/o.mov\n`,
    });
    const forced = tool(SOURCE, "tc-extract", [DNX(), "--in", "10:00:00:00", "--out", "10:00:00:02", "-o", out, "--force"]);
    expect(forced).toMatchObject({ code: 0, stderr: "" });
    expect(runOf(frameIndices(out))).toEqual(expectedRun(0, 2));
  });
});

describe.skipIf(!BINS)("tc-extract proxy", () => {
  const media = join(dir, "media");
  const proxySource = source("media/A002C004_220101.mov", (p) => {
    mkdirSync(media, { recursive: true });
    makeSource(p, { rate: "25", seconds: 2, timecode: "10:00:00:00", video: ["-c:v", "prores_ks", "-profile:v", "0"], audio: ["-c:a", "pcm_s16le"] });
  });

  test("keeps timecode, rate, every frame in order, audio channels and base name", () => {
    const proxies = src("proxies");
    const result = tool(SOURCE, "tc-extract", ["proxy", proxySource(), "-o", proxies, "--burn", "tc,name", "--json"]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    const proxy = join(proxies, "A002C004_220101.mov");
    expect(JSON.parse(result.stdout)).toEqual({ source: proxySource(), output: proxy, start: "10:00:00:00", frames: 50, preset: "prores_proxy" });
    expect(probe(proxy, "stream=codec_name,r_frame_rate,nb_frames", "v:0")).toBe("prores\n25/1\n50");
    expect(probe(proxy, "stream_tags=timecode", "v:0")).toBe("10:00:00:00");
    expect(probe(proxy, "stream=channels", "a:0")).toBe("1");
    expect(frameIndices(proxy).length).toBe(50);
  });

  test("the other presets keep timecode, rate and frames (compiled binary); a long-GOP source's late video adds no frames", () => {
    for (const [preset, codec] of [
      ["dnxhr_lb", "dnxhd"],
      ["h264_540p", "h264"],
    ] as const) {
      const proxies = src(`proxies-${preset}`);
      const result = tool(COMPILED, "tc-extract", ["proxy", proxySource(), "-o", proxies, "--preset", preset, "--json"]);
      expect({ preset, code: result.code, stderr: result.stderr }).toEqual({ preset, code: 0, stderr: "" });
      const proxy = JSON.parse(result.stdout).output as string;
      expect(probe(proxy, "stream=codec_name,r_frame_rate,nb_frames", "v:0")).toBe(`${codec}\n25/1\n50`);
      expect(probe(proxy, "stream_tags=timecode", "v:0")).toBe("10:00:00:00");
    }
    const result = tool(SOURCE, "tc-extract", ["proxy", GOP(), "-o", src("proxies-gop")]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(runOf(frameIndices(join(src("proxies-gop"), "gop.mov")))).toEqual(expectedRun(0, 90));
  });

  test("a Matroska source's proxy carries its TIMECODE tag", () => {
    const result = tool(SOURCE, "tc-extract", ["proxy", MKV(), "-o", src("proxies-mkv"), "--json"]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(result.stdout)).toMatchObject({ start: "23:59:59:00", frames: 50 });
    expect(probe(join(src("proxies-mkv"), "night.mov"), "stream_tags=timecode", "v:0")).toBe("23:59:59:00");
  });

  test("burned-in timecode wraps at midnight: two frames after 00:00:00:00 reads 00:00:00:02", () => {
    const late = src("late.mov");
    makeSource(late, { rate: "25", seconds: 0.2, timecode: "23:59:59:23", audio: null });
    expect(tool(SOURCE, "tc-extract", ["proxy", late, "-o", src("proxies-late"), "--burn", "tc"])).toMatchObject({ code: 0, stderr: "" });
    // The same frame with the label drawn as plain text, through the same encoder.
    const drawn = (text: string) => {
      const out = src(`late-${text.replace(/:/g, "")}.mov`);
      ffmpeg(["-i", late, "-vf", `select=eq(n\\,4),drawtext=text=${text.replace(/:/g, "\\\\:")}:x=10:y=h-th-10:fontcolor=white:box=1:boxcolor=black@0.5`, "-fps_mode", "passthrough", "-c:v", "prores", "-profile:v", "0", "-pix_fmt", "yuv422p10le", out]);
      return framemd5(out)[0];
    };
    // Frames 0–4 are 23:59:59:23, 23:59:59:24, 00:00:00:00, 00:00:00:01, 00:00:00:02.
    const burned = framemd5(join(src("proxies-late"), "late.mov"))[4];
    expect(burned).toBe(drawn("00:00:00:02"));
    expect(burned).not.toBe(drawn("24:00:00:02"));
  });
});

/** MD5 of each decoded video frame. */
function framemd5(path: string): string[] {
  return ffmpeg(["-i", path, "-map", "0:v:0", "-f", "framemd5", "-"])
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(",").pop()!.trim());
}

describe("tc-extract tc", () => {
  test("mixing drop-frame and non-drop-frame labels needs --df or --ndf", () => {
    const result = tool(SOURCE, "tc-extract", ["tc", "--rate", "29.97", "00:01:00;02-00:00:59:29"]);
    expect(result).toMatchObject({ code: 2, stdout: "", stderr: "tc-extract: invalid value '00:01:00;02-00:00:59:29': it mixes drop-frame (;) and non-drop-frame (:) labels; pass --df or --ndf to say how to count them\n" });
    expect(tool(SOURCE, "tc-extract", ["tc", "--rate", "29.97", "--df", "00:01:00;02-00:00:59:29"]).stdout).toBe("1\n");
  });
});
