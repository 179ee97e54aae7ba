import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type EdlEvent, EdlParser, eventRecord, parseEdl } from "../lib/tc/edl.ts";
import { linesOfChunks } from "../lib/tc/edl_lines.ts";
import { type FrameRate, parseRate } from "../lib/tc/rate.ts";
import { runners, tempDir, tool } from "./helpers.ts";

/** An event with the source frames it needs at `rate`, as `edl --json` prints it. */
function needs(events: EdlEvent[], rate: FrameRate): Record<string, unknown>[] {
  return events.map((e) => eventRecord(e, rate));
}

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
    expect(needs(edl.events, edl.rate).map((e) => [e.event, e.reel, e.track, e.neededFrames])).toEqual([
      ["001", "A001C003", "V", 48],
      ["002", "A002C001", "AA/V", 24],
      ["003", "BL", "V", 0],
      ["004", "BARS", "V", 0],
      ["005", "A001C003", "A2", 24],
    ]);
    const first = edl.events[0]!;
    expect(first).toMatchObject({
      transition: "C",
      transitionFrames: null,
      sourceIn: "01:00:10:00",
      sourceOut: "01:00:12:00",
      recordIn: "00:59:58:00",
      recordOut: "01:00:00:00",
      clipName: "A001C003_220101_R1AB",
      sourceFile: "/Volumes/CARD/A001C003.mov",
      toClipName: null,
      markers: [{ timecode: "00:59:59:00", color: "RED", comment: "focus soft" }],
      cdl: { sop: "(1.1 1.0 0.9)(0.01 0 -0.01)(1 1 1)", sat: "0.85" },
      line: 4,
    });
    expect(edl.events[1]!.comments).toEqual(["a note from the editor"]);
    expect(edl.events[2]!.generator).toBe("black");
    expect(edl.events[3]!.generator).toBe("bars");
    expect(edl.events[4]).toMatchObject({ audio: ["3", "4"], splits: ["AUDIO DELAY=  00:00:00:08"] });
  });

  test("dissolves and wipes: the outgoing clip needs the transition's length past its out point", () => {
    const edl = parseEdl(DISSOLVE, { rate: parseRate("24") });
    const [e1, out2, in2, out3, in3] = needs(edl.events, edl.rate);
    expect(e1).toMatchObject({ event: "000001", neededIn: "01:00:10:00", neededOut: "01:00:12:12", neededFrames: 60 });
    expect(out2).toMatchObject({ event: "000002", side: "from", clipName: "A001C003", toClipName: "B007C002", neededIn: "01:00:12:00", neededOut: "01:00:12:12", neededFrames: 12 });
    expect(in2).toMatchObject({ side: "to", transition: "D", transitionFrames: 12, clipName: "B007C002", toClipName: "B007C002", neededFrames: 54, neededOut: "03:00:07:06" });
    // 48 frames of its own, and 6 more because the wipe of event 3 leaves it at 03:00:07:00.
    expect(out3).toMatchObject({ transition: "W001", transitionFrames: 6, neededFrames: 6 });
    expect(in3).toMatchObject({ track: "B", transition: "W001", transitionFrames: 6, neededFrames: 24 });
  });

  test("M2 speed, reverse, freeze; FCM changing mid-list; tabs", () => {
    const edl = parseEdl(SPEED, {});
    expect(edl.rate.label).toBe("29.97");
    const [fast, reverse, freeze] = needs(edl.events, edl.rate);
    expect(fast).toMatchObject({ dropFrame: true, speed: { reel: "R1", fps: 60, timecode: "01:00:00;00" }, neededIn: "01:00:00;00", neededOut: "01:00:02;00", neededFrames: 60 });
    expect(reverse).toMatchObject({ speed: { fps: -15 }, neededIn: "01:00:09;16", neededOut: "01:00:10;01", neededFrames: 15 });
    expect(freeze).toMatchObject({ dropFrame: false, freeze: true, neededFrames: 1, comments: ["FREEZE FRAME"] });
  });

  test("malformed lines name the line and what was expected", () => {
    expect(() => parseEdl("TITLE: X\n001  A  V  C  01:00:00:00 01:00:01:00 00:00:00:00\n", { path: "x.edl" })).toThrow("line 2: expected four timecodes (source in, source out, record in, record out), got '01:00:00:00 01:00:01:00 00:00:00:00'");
    expect(() => parseEdl("001  A  V  D  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n")).toThrow("line 1: expected the dissolve length in frames after 'D', got '01:00:00:00'");
    expect(() => parseEdl("001  A  V  K  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n")).toThrow("line 1: key transitions (K) are not supported");
    expect(() => parseEdl("001  A  X  C  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n")).toThrow("line 1: expected a track (V, A, A2, AA, B, A2/V, AA/V, NONE), got 'X'");
    expect(() => parseEdl("FCM: DROP FRAME\n", { rate: parseRate("25") })).toThrow("line 1: FCM: DROP FRAME needs a 29.97 or 59.94 rate (given 25); pass --rate");
    expect(() => parseEdl("FCM: DROP FRAME\n001 A V C 00:01:00;00 00:01:01;00 00:00:00;00 00:00:01;00\n")).toThrow("line 2: invalid drop-frame timecode '00:01:00;00'");
    expect(() => parseEdl("hello\n")).toThrow("line 1: expected an event line");
    const lenient = parseEdl("garbage here\n001  A  V  C  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n", { lenient: true });
    expect(lenient.events.length).toBe(1);
    expect(lenient.warnings).toEqual(["line 1: expected an event line (NNN REEL TRACK TRANSITION [DURATION] SRC-IN SRC-OUT REC-IN REC-OUT), a comment (*) or TITLE/FCM, got 'garbage here' (skipped)"]);
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
      const events = result.stdout
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(events.length).toBe(5);
      expect(events[1]).toEqual({
        event: "000002",
        reel: "A001C003",
        track: "V",
        transition: "C",
        transitionFrames: null,
        sourceIn: "01:00:12:00",
        sourceOut: "01:00:12:00",
        recordIn: "01:00:02:00",
        recordOut: "01:00:02:00",
        clipName: "A001C003",
        toClipName: "B007C002",
        sourceFile: null,
        markers: [],
        speed: null,
        freeze: false,
        generator: null,
        cdl: { sop: null, sat: null },
        splits: [],
        audio: [],
        comments: [],
        dropFrame: false,
        neededIn: "01:00:12:00",
        neededOut: "01:00:12:12",
        neededFrames: 12,
        line: 5,
        side: "from",
      });
    });
    test("a malformed line exits 2 naming it; --lenient warns and goes on", () => {
      const path = join(dir, "bad.edl");
      expect(tool(runner, "tc-extract", ["edl", path, "--json"])).toMatchObject({
        code: 2,
        stdout: "",
        stderr: `tc-extract: ${path}: line 2: expected four timecodes (source in, source out, record in, record out), got '01:00:00:00'\n`,
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

const FIXTURES = join(import.meta.dir, "fixtures", "edl");
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");
const rate25 = parseRate("25");

/** What a test checks of each event: number, side, reel, clip name, source file, and the frames it needs at 25 fps. */
function summary(events: EdlEvent[]): unknown[] {
  return events.map((e) => {
    const need = eventRecord(e, rate25);
    return [e.event, e.side, e.reel, e.clipName, e.sourceFile, need.neededIn, need.neededFrames];
  });
}

describe("EDLs as editing systems write them", () => {
  test("Avid Media Composer: CRLF, trailing spaces, AA tracks, AUD, EFFECTS NAME IS without '*', M2, LOC, black", () => {
    const edl = parseEdl(fixture("avid_media_composer.edl"), { rate: rate25 });
    expect(edl.title).toBe("REEL1_CUT_V3");
    expect(summary(edl.events)).toEqual([
      // Event 001 continues into the dissolve of 003 (same reel, same video track): 20 + 10 frames.
      ["001", null, "A001C003", "A001C003_220101_R1AB", null, "10:00:00:05", 30],
      // The AA event shares no channel with the dissolve's video: its own 20 frames.
      ["002", null, "A001C003", "A001C003_220101_R1AB", null, "10:00:00:05", 20],
      ["003", "from", "A001C003", "A001C003_220101_R1AB", null, "10:00:01:00", 10],
      ["003", "to", "B002C007", "B002C007_220101_R2CD", null, "20:00:00:10", 25],
      // M2 at 12.5 fps of a 25 fps list: 50 record frames need 25 source frames.
      ["004", null, "B002C007", "B002C007_220101_R2CD", null, "20:00:01:10", 25],
      ["005", null, "BL", null, null, "00:00:00:00", 0],
    ]);
    expect(edl.events[1]!.audio).toEqual(["3", "4"]);
    expect(edl.events[3]!.comments).toEqual(["EFFECTS NAME IS CROSS DISSOLVE"]);
    expect(edl.events[4]).toMatchObject({ speed: { reel: "B002C007", fps: 12.5, timecode: "20:00:01:10" }, markers: [{ timecode: "01:00:02:00", color: "RED", comment: "CHECK FOCUS" }] });
  });

  test("Premiere Pro: a dissolve's outgoing line under another event number is an error naming the line, read as one with --lenient", () => {
    expect(() => parseEdl(fixture("premiere_pro.edl"), { rate: rate25, path: "premiere_pro.edl" })).toThrow("line 10: the dissolve is event 000003 but its outgoing zero-length line (line 8) is event 000002; the two lines of a transition share one number (--lenient reads them as one transition)");
    const edl = parseEdl(fixture("premiere_pro.edl"), { rate: rate25, lenient: true });
    expect(edl.warnings).toEqual(["line 10: the dissolve is event 000003 but its outgoing zero-length line (line 8) is event 000002; the two lines of a transition share one number (--lenient reads them as one transition) (read as one)"]);
    expect(summary(edl.events)).toEqual([
      ["000001", null, "AX", "A001C003_220101_R1AB.mov", null, "10:00:00:05", 30],
      ["000002", "from", "AX", "A001C003_220101_R1AB.mov", null, "10:00:01:00", 10],
      ["000003", "to", "AX", "B002C007_220101_R2CD.mov", null, "20:00:00:10", 25],
      ["000004", null, "AX", "B002C007_220101_R2CD.mov", null, "20:00:01:10", 25],
    ]);
    expect(edl.events[0]!.comments).toEqual(["AUDIO LEVEL AT 10:00:00:05 IS -3.00 DB  (REEL AX A1)"]);
  });

  test("Resolve: blank lines between events, marker lines without '*', '*ASC_SOP' without a space", () => {
    const edl = parseEdl(fixture("davinci_resolve.edl"), { rate: rate25 });
    expect(summary(edl.events)).toEqual([
      ["001", null, "A001C003", "A001C003_220101_R1AB.mov", null, "10:00:00:05", 30],
      ["002", "from", "A001C003", "A001C003_220101_R1AB.mov", null, "10:00:01:00", 10],
      ["002", "to", "B002C007", "B002C007_220101_R2CD.mov", null, "20:00:00:10", 25],
      ["003", null, "B002C007", "B002C007_220101_R2CD.mov", null, "20:00:01:10", 25],
    ]);
    expect(edl.events[3]).toMatchObject({
      markers: [{ timecode: "01:00:01:20", color: "ResolveColorBlue", comment: "VFX 01: Needs a clean plate" }],
      cdl: { sop: "(1.0 1.0 1.0)(0.0 0.0 0.0)(1.0 1.0 1.0)", sat: "1.0" },
    });
  });

  test("Final Cut Pro through XML-to-EDL: reel names longer than 8 characters, SOURCE FILE, a footer comment", () => {
    const edl = parseEdl(fixture("final_cut_xml_to_edl.edl"), { rate: rate25 });
    expect(summary(edl.events)).toEqual([
      ["001", null, "A001C003_220101_R1AB", "A001C003_220101_R1AB", "/Volumes/RAID/OCF/A001C003_220101_R1AB.mov", "10:00:00:05", 30],
      ["002", null, "A001C003_220101_R1AB", "A001C003_220101_R1AB", null, "10:00:00:05", 20],
      ["003", "from", "A001C003_220101_R1AB", "A001C003_220101_R1AB", null, "10:00:01:00", 10],
      ["003", "to", "B002C007_220101_R2CD", "B002C007_220101_R2CD", null, "20:00:00:10", 25],
    ]);
    expect(edl.events[3]!.comments).toEqual(["LIST TYPE: STRICT, WITH VIDEO TRACK NUMBERS. MADE FROM FCPXML 1.10"]);
  });

  test("Nucoda: FROM FILE and TO FILE with Windows paths", () => {
    const edl = parseEdl(fixture("nucoda.edl"), { rate: rate25 });
    expect(summary(edl.events)).toEqual([
      ["001", null, "A001C003", "A001C003", "S:\\OCF\\DAY01\\A001C003_220101_R1AB.mov", "10:00:00:05", 30],
      ["002", "from", "A001C003", "A001C003", "S:\\OCF\\DAY01\\A001C003_220101_R1AB.mov", "10:00:01:00", 10],
      ["002", "to", "B002C007", "B002C007", "S:\\OCF\\DAY02\\B002C007_220101_R2CD.mov", "20:00:00:10", 25],
    ]);
  });

  test("comment lines written without '*' read like their '*' form", () => {
    const event = "001  A001C003 V     C        10:00:00:00 10:00:01:00 01:00:00:00 01:00:01:00";
    const comments = ["FROM CLIP NAME: A001C003_X", "SOURCE FILE: /media/A001C003_X.mov", "LOC: 01:00:00:12 GREEN note", "ASC_SAT 0.9", "FREEZE FRAME", "EFFECTS NAME IS CROSS DISSOLVE"];
    const bare = parseEdl([event, ...comments, ""].join("\n"), { rate: rate25 }).events[0]!;
    const starred = parseEdl([event, ...comments.map((c) => `* ${c}`), ""].join("\n"), { rate: rate25 }).events[0]!;
    expect({ ...bare, attached: [] }).toEqual({ ...starred, attached: [] });
    expect(bare).toMatchObject({ clipName: "A001C003_X", sourceFile: "/media/A001C003_X.mov", freeze: true, cdl: { sat: "0.9" }, markers: [{ timecode: "01:00:00:12", color: "GREEN", comment: "note" }] });
    // Anything else without '*' is still an error.
    expect(() => parseEdl(`${event}\nNOT A COMMENT\n`, { rate: rate25 })).toThrow("line 2: expected an event line");
  });
});

describe("hostile lists", () => {
  test("C1 controls (U+009B) and DEL are refused, naming the line; bytes that are not UTF-8 are carried as bytes and shown escaped", () => {
    for (const bad of ["\u009b", "\u007f", "\u0085", "\u001b[2J"]) {
      expect(() => parseEdl(`001  A001 V C 01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n* FROM CLIP NAME: x${bad}y\n`, { rate: rate25 })).toThrow("line 2: contains a control character (NUL or other); an EDL is plain text");
    }
    const latin1 = Buffer.concat([Buffer.from("001  CAF V C 01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n* FROM CLIP NAME: caf"), Buffer.from([0xe9]), Buffer.from("\nhello \u202e there\n")]);
    const events: EdlEvent[] = [];
    const parser = new EdlParser({ rate: rate25 });
    expect(() => {
      for (const e of parser.events(linesOfChunks([latin1]))) events.push(e);
    }).toThrow("line 3: expected an event line (NNN REEL TRACK TRANSITION [DURATION] SRC-IN SRC-OUT REC-IN REC-OUT), a comment (*) or TITLE/FCM, got 'hello \\u{202e} there'");
    const edl = parseEdl(`001  CAF V C 01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n`, { rate: rate25 });
    expect(edl.events.length).toBe(1);
    const [event] = [...new EdlParser({ rate: rate25 }).events(linesOfChunks([latin1.subarray(0, latin1.indexOf(0x0a, latin1.indexOf(0xe9)) + 1)]))];
    expect(event!.clipName).toBe("caf\udce9");
  });

  test("a line longer than 4,096 characters is refused, naming its length; a 1 GiB line after its first MiB, never held", () => {
    let served = 0;
    function* gigabyteLine(): Generator<Uint8Array> {
      const chunk = new Uint8Array(64 << 10).fill(0x41);
      for (let i = 0; i < 16384; i++) {
        served++;
        yield chunk;
      }
    }
    const parser = new EdlParser({ rate: rate25 });
    expect(() => [...parser.events(linesOfChunks(gigabyteLine()))]).toThrow("line 1: is longer than 1048576 characters; EDL lines are at most 4096");
    // 16 chunks of 64 KiB make the MiB counted; the 17th passes it.
    expect(served).toBe(17);
    // Characters, not bytes: 3,000 × 'é' (6,000 bytes) fit; 5,000 do not.
    const lenient = parseEdl(`${"é".repeat(3000)}\n${"é".repeat(5000)}\n001  A V C 01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n`, { rate: rate25, lenient: true });
    expect(lenient.warnings).toEqual([`line 1: expected an event line (NNN REEL TRACK TRANSITION [DURATION] SRC-IN SRC-OUT REC-IN REC-OUT), a comment (*) or TITLE/FCM, got '${"é".repeat(3000)}' (skipped)`, "line 2: is 5000 characters long; EDL lines are at most 4096 (skipped)"]);
    expect(lenient.events.length).toBe(1);
  });

  test("events are handed out as the list is read: 20,000 events, never more than a window held", () => {
    const parser = new EdlParser({ rate: rate25 });
    let read = 0;
    let out = 0;
    let held = 0;
    const tc = (n: number) => `${String(Math.floor(n / 90000) % 24).padStart(2, "0")}:${String(Math.floor(n / 1500) % 60).padStart(2, "0")}:${String(Math.floor(n / 25) % 60).padStart(2, "0")}:${String(n % 25).padStart(2, "0")}`;
    for (let i = 0; i < 20_000; i++) {
      const lines = [`${String(i % 1000).padStart(3, "0")}  R${i % 7} V C ${tc(i * 10)} ${tc(i * 10 + 10)} ${tc(i * 10)} ${tc(i * 10 + 10)}`, `* FROM CLIP NAME: C${i}`];
      for (const text of lines) out += parser.push({ number: ++read, text }).length;
      held = Math.max(held, i + 1 - out);
    }
    out += parser.end().length;
    expect(out).toBe(20_000);
    expect(held).toBeLessThanOrEqual(66);
  });

  test("a source out before its source in is refused naming the line, unless the event really crosses midnight", () => {
    expect(() => parseEdl("001  A V C 01:00:10:00 01:00:05:00 00:00:00:00 00:00:05:00\n", { rate: rate25 })).toThrow("line 1: source out 01:00:05:00 is before source in 01:00:10:00: a reversed event (over midnight it would be 2159875 frames at 25 fps, but its record side is 125)");
    expect(() => parseEdl("001  A V C 01:00:00:00 01:00:05:00 00:00:10:00 00:00:05:00\n", { rate: rate25 })).toThrow("line 1: record out 00:00:05:00 is before record in 00:00:10:00");
    const midnight = parseEdl("001  A V C 23:59:59:00 00:00:01:00 01:00:00:00 01:00:02:00\n", { rate: rate25 });
    expect(eventRecord(midnight.events[0]!, rate25)).toMatchObject({ neededIn: "23:59:59:00", neededOut: "00:00:01:00", neededFrames: 50 });
  });
});

writeFileSync(join(dir, "hostile-names.edl"), "001  \u202eEVIL V C 01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n002  C1\u009bX V C 01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n");
writeFileSync(join(dir, "bidi.edl"), "001  \u202eEVIL V C 01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n");

describe("tc-extract edl: what reaches the terminal", () => {
  test("a reel name's bidirectional override is shown escaped; a C1 control refuses the line", () => {
    expect(tool(runners()[0]!, "tc-extract", ["edl", join(dir, "bidi.edl"), "--rate", "25"])).toMatchObject({
      code: 0,
      stderr: "",
      stdout: "001 \\u{202e}EVIL V C 01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00 need 01:00:00:00-01:00:01:00 (25)\n",
    });
    expect(tool(runners()[0]!, "tc-extract", ["edl", join(dir, "hostile-names.edl"), "--rate", "25"])).toMatchObject({
      code: 2,
      stderr: `tc-extract: ${join(dir, "hostile-names.edl")}: line 2: contains a control character (NUL or other); an EDL is plain text\n`,
    });
  });
});
