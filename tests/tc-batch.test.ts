/**
 * tc-extract --edl: every event's media found, its timecodes read at that media's rate, its
 * frames extracted exactly (checked frame by frame and sample by sample), and a report and a
 * conformed EDL that say what holds what.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eventRecord, parseEdl } from "../lib/tc/edl.ts";
import { parseRate } from "../lib/tc/rate.ts";
import { COMPILED, SOURCE, tempDir, tool } from "./helpers.ts";
import { BINS, expectedRun, frameIndices, makeSource, probe, runOf, sampleIndices } from "./tc-media.ts";

setDefaultTimeout(60_000);
const dir = tempDir("cartkit-tc-batch-");
const media = join(dir, "media");
const FIXTURES = join(import.meta.dir, "fixtures", "edl");

/** The sample that plays with frame k at 25 fps. */
const at25 = (k: number) => k * 1920;

let made = false;
/** Two 25 fps clips (A: 10:00:00:00, 50 frames; B: 20:00:00:00, 75 frames) and a 59.94 DF one, made once. */
function mediaFolder(): string {
  if (!made) {
    mkdirSync(media, { recursive: true });
    makeSource(join(media, "A001C003_220101_R1AB.mov"), { rate: "25", seconds: 2, timecode: "10:00:00:00" });
    makeSource(join(media, "B002C007_220101_R2CD.mov"), { rate: "25", seconds: 3, timecode: "20:00:00:00" });
    makeSource(join(media, "C003C001.mov"), { rate: "60000/1001", seconds: 2, timecode: "01:00:00;00" });
    made = true;
  }
  return media;
}

function edl(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .trimEnd()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe.skipIf(!BINS)("tc-extract --edl", () => {
  test("Avid Media Composer list, 2 jobs, compiled: each event's frames and samples, both sides of the dissolve in their own files", () => {
    const out = join(dir, "avid");
    const result = tool(COMPILED, "tc-extract", ["--edl", join(FIXTURES, "avid_media_composer.edl"), "--media", mediaFolder(), "-o", out, "--jobs", "2", "--json"]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
    const results = jsonLines(result.stdout);
    const A = join(media, "A001C003_220101_R1AB.mov");
    const B = join(media, "B002C007_220101_R2CD.mov");
    expect(results.map((r) => [r.event, r.side, r.status, r.media, r.output, r.start, r.frames])).toEqual([
      ["001", null, "extracted", A, join(out, "001_A001C003_A001C003_220101_R1AB.mov"), "10:00:00:05", 30],
      ["002", null, "extracted", A, join(out, "002_A001C003_A001C003_220101_R1AB.mov"), "10:00:00:05", 20],
      ["003", "from", "extracted", A, join(out, "003_from_A001C003_A001C003_220101_R1AB.mov"), "10:00:01:00", 10],
      ["003", "to", "extracted", B, join(out, "003_to_B002C007_B002C007_220101_R2CD.mov"), "20:00:00:10", 25],
      ["004", null, "extracted", B, join(out, "004_B002C007_B002C007_220101_R2CD.mov"), "20:00:01:10", 25],
    ]);
    const firstFrames = [5, 5, 25, 10, 35];
    results.forEach((r, i) => {
      const frames = r.frames as number;
      expect({ event: r.event, side: r.side, frames: runOf(frameIndices(r.output as string)) }).toEqual({ event: r.event, side: r.side, frames: expectedRun(firstFrames[i]!, frames) });
      expect({ event: r.event, side: r.side, samples: runOf(sampleIndices(r.output as string)) }).toEqual({ event: r.event, side: r.side, samples: expectedRun(at25(firstFrames[i]!), at25(frames)) });
      expect(probe(r.output as string, "stream_tags=timecode", "v:0")).toBe(r.start as string);
    });
    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    expect(report).toMatchObject({ missing: 0, failed: 0, handles: 0 });
    expect(report.events.map((e: { output: string }) => e.output)).toEqual(results.map((r) => r.output));
    expect(readFileSync(join(out, "avid_media_composer_conformed.edl"), "utf8")).toBe(
      [
        "TITLE: REEL1_CUT_V3",
        "FCM: NON-DROP FRAME",
        "",
        "001  A001C003 V     C         10:00:00:05 10:00:01:00 01:00:00:00 01:00:00:20",
        "* FROM CLIP NAME: 001_A001C003_A001C003_220101_R1AB",
        "* SOURCE FILE: 001_A001C003_A001C003_220101_R1AB.mov",
        "002  A001C003 AA    C         10:00:00:05 10:00:01:00 01:00:00:00 01:00:00:20",
        "AUD  3    4",
        "* FROM CLIP NAME: 002_A001C003_A001C003_220101_R1AB",
        "* SOURCE FILE: 002_A001C003_A001C003_220101_R1AB.mov",
        "003  A001C003 V     C         10:00:01:00 10:00:01:00 01:00:00:20 01:00:00:20",
        "003  B002C007 V     D    010  20:00:00:10 20:00:01:10 01:00:00:20 01:00:01:20",
        "EFFECTS NAME IS CROSS DISSOLVE",
        "* FROM CLIP NAME: 003_from_A001C003_A001C003_220101_R1AB",
        "* TO CLIP NAME: 003_to_B002C007_B002C007_220101_R2CD",
        "* FROM FILE: 003_from_A001C003_A001C003_220101_R1AB.mov",
        "* TO FILE: 003_to_B002C007_B002C007_220101_R2CD.mov",
        "004  B002C007 V     C         20:00:01:10 20:00:02:10 01:00:01:20 01:00:03:20",
        "M2   B002C007       012.5                20:00:01:10",
        "* LOC: 01:00:02:00 RED     CHECK FOCUS",
        "* FROM CLIP NAME: 004_B002C007_B002C007_220101_R2CD",
        "* SOURCE FILE: 004_B002C007_B002C007_220101_R2CD.mov",
        "005  BL       V     C         00:00:00:00 00:00:01:00 01:00:03:20 01:00:04:20",
        "",
      ].join("\n"),
    );
  });

  test("the other systems' lists find the same frames (Resolve, Final Cut XML-to-EDL, Nucoda; Premiere with --lenient)", () => {
    const planned = (file: string, extra: string[] = []) => {
      const result = tool(SOURCE, "tc-extract", ["--edl", join(FIXTURES, file), "--media", mediaFolder(), "-o", join(dir, "dry"), "--dry-run", "--json", ...extra]);
      return {
        code: result.code,
        events: jsonLines(result.stdout)
          .filter((r) => r.status)
          .map((r) => [r.side, r.start, r.frames, (r.media as string).slice(media.length + 1)]),
      };
    };
    const A = "A001C003_220101_R1AB.mov";
    const B = "B002C007_220101_R2CD.mov";
    const pair = [
      ["from", "10:00:01:00", 10, A],
      ["to", "20:00:00:10", 25, B],
    ];
    expect(planned("davinci_resolve.edl")).toEqual({ code: 0, events: [[null, "10:00:00:05", 30, A], ...pair, [null, "20:00:01:10", 25, B]] });
    expect(planned("final_cut_xml_to_edl.edl")).toEqual({ code: 0, events: [[null, "10:00:00:05", 30, A], [null, "10:00:00:05", 20, A], ...pair] });
    expect(planned("nucoda.edl")).toEqual({ code: 0, events: [[null, "10:00:00:05", 30, A], ...pair] });
    expect(planned("premiere_pro.edl", ["--lenient"])).toEqual({ code: 0, events: [[null, "10:00:00:05", 30, A], ...pair, [null, "20:00:01:10", 25, B]] });
    const strict = tool(SOURCE, "tc-extract", ["--edl", join(FIXTURES, "premiere_pro.edl"), "--media", mediaFolder(), "-o", join(dir, "strict"), "--dry-run"]);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toBe(`tc-extract: ${join(FIXTURES, "premiere_pro.edl")}: line 10: the dissolve is event 000003 but its outgoing zero-length line (line 8) is event 000002; the two lines of a transition share one number (--lenient reads them as one transition)\n`);
  });

  test("the media's rate decides: a 2 s event is 50 frames of 25 fps media, a 1 s one 60 of 59.94 DF media; a label that cannot exist there names the line", () => {
    const list = edl("rates.edl", [
      "TITLE: RATES",
      "001  A001C003 V     C        10:00:00:00 10:00:02:00 01:00:00:00 01:00:02:00",
      "* FROM CLIP NAME: A001C003_220101_R1AB",
      "FCM: DROP FRAME",
      "002  C003C001 V     C        01:00:00;00 01:00:01;00 01:00:02;00 01:00:03;00",
      "FCM: NON-DROP FRAME",
      "003  A001C003 V     C        10:00:00:27 10:00:01:00 01:00:03:00 01:00:03:03",
      "* FROM CLIP NAME: A001C003_220101_R1AB",
    ]);
    const out = join(dir, "rates");
    const result = tool(SOURCE, "tc-extract", ["--edl", list, "--media", mediaFolder(), "-o", out, "--json"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`tc-extract: ${list}: line 7: invalid timecode '10:00:00:27': fields out of range at 25 fps (HH<24, MM<60, SS<60, FF<25) (the rate of ${join(media, "A001C003_220101_R1AB.mov")})\n`);
    const results = jsonLines(result.stdout);
    expect(results.map((r) => [r.event, r.status, r.start, r.frames])).toEqual([
      ["001", "extracted", "10:00:00:00", 50],
      ["002", "extracted", "01:00:00;00", 60],
      ["003", "failed", null, null],
    ]);
    expect(runOf(frameIndices(results[0]!.output as string))).toEqual(expectedRun(0, 50));
    expect(runOf(frameIndices(results[1]!.output as string))).toEqual(expectedRun(0, 60));
    // --rate says what the list is: media at another rate is an error, not a guess.
    const forced = tool(SOURCE, "tc-extract", ["--edl", list, "--media", mediaFolder(), "-o", join(dir, "rates24"), "--rate", "24", "--dry-run", "--json", "--lenient"]);
    expect(forced.code).toBe(2);
    expect(forced.stderr).toContain(`tc-extract: ${list}: its media ${join(media, "A001C003_220101_R1AB.mov")} runs at 25 fps, the list at 24 (--rate)\n`);
  });

  test("a dissolve within one reel: each side in its own file with its own frames, both in the report and the conformed EDL", () => {
    const list = edl("same-reel.edl", [
      "TITLE: SAME REEL",
      "006  A001C003 V     C        10:00:00:00 10:00:00:10 01:00:00:00 01:00:00:10",
      "* FROM CLIP NAME: A001C003_220101_R1AB",
      "007  A001C003 V     C        10:00:00:10 10:00:00:10 01:00:00:10 01:00:00:10",
      "007  A001C003 V     D    005 10:00:01:00 10:00:01:10 01:00:00:10 01:00:00:20",
      "* FROM CLIP NAME: A001C003_220101_R1AB",
      "* TO CLIP NAME: A001C003_220101_R1AB",
    ]);
    const out = join(dir, "same-reel");
    const result = tool(SOURCE, "tc-extract", ["--edl", list, "--media", mediaFolder(), "-o", out, "--json"]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
    const results = jsonLines(result.stdout);
    expect(results.map((r) => [r.event, r.side, r.output, r.start, r.frames])).toEqual([
      // 10 frames of its own and the 5 the dissolve plays from it.
      ["006", null, join(out, "006_A001C003_A001C003_220101_R1AB.mov"), "10:00:00:00", 15],
      ["007", "from", join(out, "007_from_A001C003_A001C003_220101_R1AB.mov"), "10:00:00:10", 5],
      ["007", "to", join(out, "007_to_A001C003_A001C003_220101_R1AB.mov"), "10:00:01:00", 10],
    ]);
    expect(results.map((r) => runOf(frameIndices(r.output as string)))).toEqual([expectedRun(0, 15), expectedRun(10, 5), expectedRun(25, 10)]);
    expect(results.map((r) => runOf(sampleIndices(r.output as string)))).toEqual([expectedRun(0, at25(15)), expectedRun(at25(10), at25(5)), expectedRun(at25(25), at25(10))]);
    expect(JSON.parse(readFileSync(join(out, "report.json"), "utf8")).events.map((e: { output: string }) => e.output)).toEqual(results.map((r) => r.output));
    expect(readFileSync(join(out, "same-reel_conformed.edl"), "utf8").split("\n").slice(6)).toEqual([
      "007  A001C003 V     C         10:00:00:10 10:00:00:10 01:00:00:10 01:00:00:10",
      "007  A001C003 V     D    005  10:00:01:00 10:00:01:10 01:00:00:10 01:00:00:20",
      "* FROM CLIP NAME: 007_from_A001C003_A001C003_220101_R1AB",
      "* TO CLIP NAME: 007_to_A001C003_A001C003_220101_R1AB",
      "* FROM FILE: 007_from_A001C003_A001C003_220101_R1AB.mov",
      "* TO FILE: 007_to_A001C003_A001C003_220101_R1AB.mov",
      "",
    ]);
  });

  test("the conformed EDL keeps M2 speed, freeze frames and markers, so it needs what the cut needs", () => {
    const list = edl("effects.edl", [
      "TITLE: EFFECTS",
      "FCM: NON-DROP FRAME",
      "001  A001C003 V     C        10:00:00:00 10:00:01:00 01:00:00:00 01:00:02:00",
      "M2   A001C003       012.5                10:00:00:00",
      "* FROM CLIP NAME: A001C003_220101_R1AB",
      "* LOC: 01:00:00:10 YELLOW half speed",
      "002  B002C007 V     C        20:00:00:00 20:00:00:01 01:00:02:00 01:00:03:05",
      "M2   B002C007       000.0                20:00:00:00",
      "* FREEZE FRAME",
      "* FROM CLIP NAME: B002C007_220101_R2CD",
    ]);
    const out = join(dir, "effects");
    const result = tool(SOURCE, "tc-extract", ["--edl", list, "--media", mediaFolder(), "-o", out, "--json"]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
    expect(jsonLines(result.stdout).map((r) => [r.event, r.start, r.frames])).toEqual([
      ["001", "10:00:00:00", 25],
      ["002", "20:00:00:00", 1],
    ]);
    const conformed = readFileSync(join(out, "effects_conformed.edl"), "utf8");
    expect(conformed).toBe(
      [
        "TITLE: EFFECTS",
        "FCM: NON-DROP FRAME",
        "",
        "001  A001C003 V     C         10:00:00:00 10:00:01:00 01:00:00:00 01:00:02:00",
        "M2   A001C003       012.5                10:00:00:00",
        "* LOC: 01:00:00:10 YELLOW half speed",
        "* FROM CLIP NAME: 001_A001C003_A001C003_220101_R1AB",
        "* SOURCE FILE: 001_A001C003_A001C003_220101_R1AB.mov",
        "002  B002C007 V     C         20:00:00:00 20:00:00:01 01:00:02:00 01:00:03:05",
        "M2   B002C007       000.0                20:00:00:00",
        "* FREEZE FRAME",
        "* FROM CLIP NAME: 002_B002C007_B002C007_220101_R2CD",
        "* SOURCE FILE: 002_B002C007_B002C007_220101_R2CD.mov",
        "",
      ].join("\n"),
    );
    const rate = parseRate("25");
    const again = parseEdl(conformed, { rate }).events.map((e) => eventRecord(e, rate));
    expect(again.map((e) => [e.neededIn, e.neededFrames, e.freeze, e.markers])).toEqual([
      ["10:00:00:00", 25, false, [{ timecode: "01:00:00:10", color: "YELLOW", comment: "half speed" }]],
      ["20:00:00:00", 1, true, []],
    ]);
  });

  test("handles stop where the media does, said as in single mode; events without media are named, exit 1", () => {
    const list = edl("handles.edl", ["001  A001C003 V     C        10:00:00:02 10:00:01:23 01:00:00:00 01:00:01:21", "* FROM CLIP NAME: A001C003_220101_R1AB", "002  ZZZ999   V     C        05:00:00:00 05:00:01:00 01:00:01:21 01:00:02:21"]);
    const out = join(dir, "handles");
    const result = tool(SOURCE, "tc-extract", ["--edl", list, "--media", mediaFolder(), "-o", out, "--handles", "5", "--json", "--rate", "25"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(["tc-extract: event 001 (line 1, reel A001C003, clip A001C003_220101_R1AB): handles of 5 cut to 2 before (the source starts there) and 2 after (the source ends there)", `tc-extract: event 002 (line 3, reel ZZZ999): no media under ${media} covers 05:00:00:00-05:00:01:00`, ""].join("\n"));
    const [first, second] = jsonLines(result.stdout);
    expect(first).toMatchObject({ start: "10:00:00:00", frames: 50, handlesBefore: 2, handlesAfter: 2 });
    expect(second).toMatchObject({ event: "002", status: "missing", output: null });
    expect(runOf(frameIndices(first!.output as string))).toEqual(expectedRun(0, 50));
    expect(JSON.parse(readFileSync(join(out, "report.json"), "utf8"))).toMatchObject({ missing: 1, failed: 0 });
    expect(readdirSync(out).sort()).toEqual(["001_A001C003_A001C003_220101_R1AB.mov", "handles_conformed.edl", "report.json"]);
  });

  test("a second run into the same folder refuses to replace what is there; --force replaces it", () => {
    const list = edl("again.edl", ["001  A001C003 V     C        10:00:00:00 10:00:00:02 01:00:00:00 01:00:00:02", "* FROM CLIP NAME: A001C003_220101_R1AB"]);
    const out = join(dir, "again");
    expect(tool(SOURCE, "tc-extract", ["--edl", list, "--media", mediaFolder(), "-o", out])).toMatchObject({ code: 0, stderr: "" });
    expect(tool(SOURCE, "tc-extract", ["--edl", list, "--media", mediaFolder(), "-o", out])).toMatchObject({
      code: 2,
      stderr: `tc-extract: ${join(out, "report.json")}: already exists; tc-extract never replaces a file it did not write in this run (pass --force to replace it)\n`,
    });
    cpSync(join(out, "report.json"), join(dir, "report-before.json"));
    expect(tool(SOURCE, "tc-extract", ["--edl", list, "--media", mediaFolder(), "-o", out, "--force"])).toMatchObject({ code: 0, stderr: "" });
    expect(readdirSync(out).sort()).toEqual(["001_A001C003_A001C003_220101_R1AB.mov", "again_conformed.edl", "report.json"]);
  });
});
