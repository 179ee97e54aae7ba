import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEdl } from "../lib/tc/edl.ts";
import { parseRate } from "../lib/tc/rate.ts";
import { runners, tempDir, tool } from "./helpers.ts";

const CUT = [
  "TITLE: REEL ONE CUT",
  "FCM: NON-DROP FRAME",
  "",
  "001  A001C003 V     C        01:00:10:00 01:00:12:00 00:59:58:00 01:00:00:00",
  "* FROM CLIP NAME: A001C003_220101_R1AB",
  "* FROM CLIP: /Volumes/CARD/A001C003.mov",
  "* LOC: 00:59:59:00 RED     focus soft",
  "* ASC_SOP (1.1 1.0 0.9)(0.01 0 -0.01)(1 1 1)",
  "* ASC_SAT 0.85",
  "002  A002C001 AA/V  C        02:00:00:00 02:00:01:00 01:00:00:00 01:00:01:00",
  "* FROM CLIP NAME: A002C001",
  "* a note from the editor",
  "003  BL       V     C        00:00:00:00 00:00:00:12 01:00:01:00 01:00:01:12",
  "004  BARS     V     C        00:00:00:00 00:00:01:00 01:00:01:12 01:00:02:12",
  "005  A001C003 A2    C        01:00:20:00 01:00:21:00 01:00:02:12 01:00:03:12",
  "AUD  3    4",
  "SPLIT:  AUDIO DELAY=  00:00:00:08",
  "",
].join("\n");

const DISSOLVE = [
  "TITLE: DISSOLVES",
  "FCM: NON-DROP FRAME",
  "000001  A001C003 V  C         01:00:10:00 01:00:12:00 01:00:00:00 01:00:02:00",
  "* FROM CLIP NAME: A001C003",
  "000002  A001C003 V  C         01:00:12:00 01:00:12:00 01:00:02:00 01:00:02:00",
  "000002  B007C002 V  D    012  03:00:05:00 03:00:07:00 01:00:02:00 01:00:04:00",
  "* FROM CLIP NAME: A001C003",
  "* TO CLIP NAME: B007C002",
  "000003  B007C002 V  W001 006  03:00:07:00 03:00:07:00 01:00:04:00 01:00:04:00",
  "000003  C001     B  W001 006  04:00:00:00 04:00:01:00 01:00:04:00 01:00:05:00",
  "",
].join("\r\n");

const SPEED = [
  "TITLE: SPEED",
  "FCM: DROP FRAME",
  "001  R1\tV\tC\t01:00:00;00 01:00:01;00 00:00:00;00 00:00:01;00",
  "M2   R1       060.0                01:00:00;00",
  "002  R1       V     C        01:00:10;00 01:00:11;00 00:00:01;00 00:00:02;00",
  "M2   R1       -015.0               01:00:10;00",
  "FCM: NON-DROP FRAME",
  "003  R2       V     C        01:00:20:00 01:00:20:01 00:00:02:00 00:00:03:00",
  "M2   R2       000.0                01:00:20:00",
  "* FREEZE FRAME",
  "",
].join("\n");

describe("CMX 3600 parser", () => {
  test("cuts with TITLE, FCM, clip names, source file, LOC, CDL, AUD, SPLIT, generators", () => {
    const edl = parseEdl(CUT, { rate: parseRate("24") });
    expect(edl.title).toBe("REEL ONE CUT");
    expect(edl.events.map((e) => [e.event, e.reel, e.track, e.neededFrames])).toEqual([
      ["001", "A001C003", "V", 48], ["002", "A002C001", "AA/V", 24], ["003", "BL", "V", 0], ["004", "BARS", "V", 0], ["005", "A001C003", "A2", 24],
    ]);
    const first = edl.events[0]!;
    expect(first).toMatchObject({
      transition: "C", transitionFrames: null, sourceIn: "01:00:10:00", sourceOut: "01:00:12:00", recordIn: "00:59:58:00", recordOut: "01:00:00:00",
      clipName: "A001C003_220101_R1AB", sourceFile: "/Volumes/CARD/A001C003.mov", toClipName: null,
      markers: [{ timecode: "00:59:59:00", color: "RED", comment: "focus soft" }],
      cdl: { sop: "(1.1 1.0 0.9)(0.01 0 -0.01)(1 1 1)", sat: "0.85" }, line: 4,
    });
    expect(edl.events[1]!.comments).toEqual(["a note from the editor"]);
    expect(edl.events[2]!.generator).toBe("black");
    expect(edl.events[3]!.generator).toBe("bars");
    expect(edl.events[4]).toMatchObject({ audio: ["3", "4"], splits: ["AUDIO DELAY=  00:00:00:08"] });
  });

  test("dissolves and wipes: the outgoing clip needs the transition's length past its out point", () => {
    const edl = parseEdl(DISSOLVE, { rate: parseRate("24") });
    const [e1, out2, in2, out3, in3] = edl.events;
    expect(e1).toMatchObject({ event: "000001", neededIn: "01:00:10:00", neededOut: "01:00:12:12", neededFrames: 60 });
    expect(out2).toMatchObject({ event: "000002", clipName: "A001C003", toClipName: "B007C002", neededIn: "01:00:12:00", neededOut: "01:00:12:12", neededFrames: 12 });
    expect(in2).toMatchObject({ transition: "D", transitionFrames: 12, clipName: "B007C002", toClipName: "B007C002", neededFrames: 54, neededOut: "03:00:07:06" });
    // 48 frames of its own, and 6 more because the wipe of event 3 leaves it at 03:00:07:00.
    expect(out3).toMatchObject({ transition: "W001", transitionFrames: 6, neededFrames: 6 });
    expect(in3).toMatchObject({ track: "B", transition: "W001", transitionFrames: 6, neededFrames: 24 });
  });

  test("M2 speed, reverse, freeze; FCM changing mid-list; tabs", () => {
    const edl = parseEdl(SPEED, {});
    expect(edl.rate.label).toBe("29.97");
    const [fast, reverse, freeze] = edl.events;
    expect(fast).toMatchObject({ dropFrame: true, speed: { reel: "R1", fps: 60, timecode: "01:00:00;00" }, neededIn: "01:00:00;00", neededOut: "01:00:02;00", neededFrames: 60 });
    expect(reverse).toMatchObject({ speed: { fps: -15 }, neededIn: "01:00:09;16", neededOut: "01:00:10;01", neededFrames: 15 });
    expect(freeze).toMatchObject({ dropFrame: false, freeze: true, neededFrames: 1, comments: ["FREEZE FRAME"] });
  });

  test("malformed lines name the line and what was expected", () => {
    expect(() => parseEdl("TITLE: X\n001  A  V  C  01:00:00:00 01:00:01:00 00:00:00:00\n", { path: "x.edl" }))
      .toThrow("line 2: expected four timecodes (source in, source out, record in, record out), got '01:00:00:00 01:00:01:00 00:00:00:00'");
    expect(() => parseEdl("001  A  V  D  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n")).toThrow("line 1: expected the dissolve length in frames after 'D', got '01:00:00:00'");
    expect(() => parseEdl("001  A  V  K  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n")).toThrow("line 1: key transitions (K) are not supported");
    expect(() => parseEdl("001  A  X  C  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n")).toThrow("line 1: expected a track (V, A, A2, AA, B, A2/V, AA/V), got 'X'");
    expect(() => parseEdl("FCM: DROP FRAME\n", { rate: parseRate("25") })).toThrow("line 1: FCM: DROP FRAME needs a 29.97 or 59.94 rate (given 25); pass --rate");
    expect(() => parseEdl("FCM: DROP FRAME\n001 A V C 00:01:00;00 00:01:01;00 00:00:00;00 00:00:01;00\n")).toThrow("line 2: invalid drop-frame timecode '00:01:00;00'");
    expect(() => parseEdl("hello\n")).toThrow("line 1: expected an event line");
    const lenient = parseEdl("garbage here\n001  A  V  C  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n", { lenient: true });
    expect(lenient.events.length).toBe(1);
    expect(lenient.warnings).toEqual(["line 1: expected an event line (NNN REEL TRACK TRANSITION [DURATION] SRC-IN SRC-OUT REC-IN REC-OUT), a comment (*) or TITLE/FCM, got 'garbage here'"]);
  });
});

const dir = tempDir("cartkit-tc-edl-");
writeFileSync(join(dir, "dissolve.edl"), DISSOLVE);
writeFileSync(join(dir, "bad.edl"), "TITLE: BAD\n001  A  V  C  01:00:00:00\n002  A  V  C  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n");

for (const runner of runners()) {
  describe(`tc-extract edl (${runner.label})`, () => {
    test("--json prints one object per event line", () => {
      const result = tool(runner, "tc-extract", ["edl", join(dir, "dissolve.edl"), "--rate", "24", "--json"]);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe("");
      const events = result.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
      expect(events.length).toBe(5);
      expect(events[1]).toEqual({
        event: "000002", reel: "A001C003", track: "V", transition: "C", transitionFrames: null,
        sourceIn: "01:00:12:00", sourceOut: "01:00:12:00", recordIn: "01:00:02:00", recordOut: "01:00:02:00",
        clipName: "A001C003", toClipName: "B007C002", sourceFile: null, markers: [], speed: null, freeze: false, generator: null,
        cdl: { sop: null, sat: null }, splits: [], audio: [], comments: [], dropFrame: false,
        neededIn: "01:00:12:00", neededOut: "01:00:12:12", neededFrames: 12, line: 5,
      });
    });
    test("a malformed line exits 2 naming it; --lenient warns and goes on", () => {
      const path = join(dir, "bad.edl");
      expect(tool(runner, "tc-extract", ["edl", path, "--json"])).toMatchObject({
        code: 2, stdout: "", stderr: `tc-extract: ${path}: line 2: expected four timecodes (source in, source out, record in, record out), got '01:00:00:00'\n`,
      });
      const lenient = tool(runner, "tc-extract", ["edl", path, "--lenient"]);
      expect(lenient).toMatchObject({
        code: 0,
        stdout: "002 A V C 01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00 need 01:00:00:00-01:00:01:00 (24)\n",
        stderr: `tc-extract: ${path}: warning: line 2: expected four timecodes (source in, source out, record in, record out), got '01:00:00:00' (skipped)\n`,
      });
      expect(tool(runner, "tc-extract", ["edl", join(dir, "missing.edl")]).code).toBe(2);
    });
  });
}
