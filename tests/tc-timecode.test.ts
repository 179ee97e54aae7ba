import { describe, expect, test } from "bun:test";
import { evaluateTimecode } from "../lib/tc/expression.ts";
import { FRAME_RATES, parseRate } from "../lib/tc/rate.ts";
import { formatMicroseconds, framesPerDay, framesPerHour, framesToMicroseconds, Timecode, TimecodeRange } from "../lib/tc/timecode.ts";
import { runners, tool } from "./helpers.ts";

const pad = (n: number) => String(n).padStart(2, "0");

describe("rates", () => {
  test("names and rationals resolve to the same rate", () => {
    expect(parseRate("23.98")).toBe(parseRate("24000/1001"));
    expect(parseRate("29.97")).toBe(parseRate("30000/1001"));
    expect(parseRate("47.952")).toBe(parseRate("48000/1001"));
    expect(parseRate("59.94")).toBe(parseRate("60000/1001"));
    expect(parseRate("50/1").label).toBe("50");
  });
  test("other rates are refused with the list", () => {
    expect(() => parseRate("29")).toThrow("unsupported frame rate '29': use one of 23.976, 24, 25, 29.97, 30, 47.952, 48, 50, 59.94, 60");
    expect(() => parseRate("15000/1001")).toThrow("unsupported frame rate");
  });
});

describe("every rate over whole hours, both ways", () => {
  const modes = FRAME_RATES.flatMap((rate) =>
    rate.dropPerMinute
      ? ([
          [rate, false],
          [rate, true],
        ] as const)
      : ([[rate, false]] as const),
  );
  for (const [rate, df] of modes) {
    test(`${rate.label}${df ? " DF" : ""}`, () => {
      const perHour = df ? rate.base * 3600 - 6 * 9 * rate.dropPerMinute : rate.base * 3600;
      expect(framesPerHour(rate, df)).toBe(perHour);
      for (let h = 0; h < 24; h++) {
        const label = `${pad(h)}:00:00${df ? ";" : ":"}00`;
        expect(Timecode.parse(label, rate).frames).toBe(h * perHour);
        expect(Timecode.fromFrames(h * perHour, rate, df).toString()).toBe(label);
        const last = `${pad(h)}:59:59${df ? ";" : ":"}${pad(rate.base - 1)}`;
        expect(Timecode.parse(last, rate).frames).toBe((h + 1) * perHour - 1);
        expect(Timecode.fromFrames((h + 1) * perHour - 1, rate, df).toString()).toBe(last);
      }
      // Every frame of the first 21 minutes survives the round trip, and labels only increase.
      let previous = "";
      for (let f = 0; f < rate.base * 60 * 21; f++) {
        const label = Timecode.fromFrames(f, rate, df).toString();
        expect(label > previous).toBe(true);
        expect(Timecode.parse(label, rate, { dropFrame: df }).frames).toBe(f);
        previous = label;
      }
    });
  }
});

describe("drop-frame boundaries", () => {
  const r2997 = parseRate("29.97");
  const r5994 = parseRate("59.94");
  test("29.97: the minute skips ;00 and ;01, the tenth minute does not", () => {
    expect(Timecode.parse("00:00:59;29", r2997).frames).toBe(1799);
    expect(Timecode.parse("00:01:00;02", r2997).frames).toBe(1800);
    expect(Timecode.fromFrames(1800, r2997, true).toString()).toBe("00:01:00;02");
    expect(Timecode.parse("00:09:59;29", r2997).frames).toBe(17981);
    expect(Timecode.parse("00:10:00;00", r2997).frames).toBe(17982);
    expect(Timecode.parse("00:10:00;01", r2997).frames).toBe(17983);
    expect(Timecode.parse("00:11:00;02", r2997).frames).toBe(17982 + 1800);
    expect(Timecode.parse("01:00:00;00", r2997).frames).toBe(107892);
  });
  test("59.94: the minute skips ;00 to ;03", () => {
    expect(Timecode.parse("00:00:59;59", r5994).frames).toBe(3599);
    expect(Timecode.parse("00:01:00;04", r5994).frames).toBe(3600);
    expect(Timecode.fromFrames(3600, r5994, true).toString()).toBe("00:01:00;04");
    expect(Timecode.parse("00:10:00;00", r5994).frames).toBe(35964);
    expect(Timecode.parse("01:00:00;00", r5994).frames).toBe(215784);
  });
  test("`.` marks drop-frame like `;`", () => {
    expect(Timecode.parse("00:01:00.02", r2997).toString()).toBe("00:01:00;02");
  });
  test("labels that do not exist are errors, never shifted", () => {
    expect(() => Timecode.parse("00:01:00;00", r2997)).toThrow("invalid drop-frame timecode '00:01:00;00': frames 00–01 of minute 01 are skipped at 29.97 DF");
    expect(() => Timecode.parse("00:01:00;01", r2997)).toThrow("skipped");
    expect(() => Timecode.parse("00:02:00;03", r5994)).toThrow("frames 00–03 of minute 02 are skipped at 59.94 DF");
    expect(() => Timecode.parse("00:00:00;30", r2997)).toThrow("fields out of range");
    expect(() => Timecode.parse("24:00:00:00", r2997)).toThrow("fields out of range");
    expect(() => Timecode.parse("1:2:3:4", r2997)).toThrow("invalid timecode '1:2:3:4'");
  });
  test("drop-frame exists only at 29.97 and 59.94; 23.976 is always non-drop", () => {
    expect(() => Timecode.parse("00:00:01;00", parseRate("23.976"))).toThrow("drop-frame does not exist at 23.976 fps");
    expect(() => Timecode.fromFrames(10, parseRate("25"), true)).toThrow("drop-frame timecode does not exist at 25 fps");
    expect(() => Timecode.parse("00:00:01;00", r2997, { dropFrame: false })).toThrow("is drop-frame but non-drop-frame was asked for");
  });
});

describe("arithmetic, ranges and the 24 h wrap", () => {
  const r2997 = parseRate("29.97");
  test("29.97 NDF day is 2592000 labels, not 29.97 × 86400", () => {
    expect(framesPerDay(r2997, false)).toBe(2592000);
    expect(framesPerDay(r2997, true)).toBe(2589408);
    expect(Timecode.parse("23:59:59:29", r2997).add(1).toString()).toBe("00:00:00:00");
    expect(Timecode.parse("23:59:59;29", r2997).add(1).toString()).toBe("00:00:00;00");
    expect(Timecode.parse("00:00:00;00", r2997).add(-1).toString()).toBe("23:59:59;29");
    expect(Timecode.parse("00:00:00:00", parseRate("59.94")).add(-1).toString()).toBe("23:59:59:59");
  });
  test("compare, since and ranges with an exclusive out", () => {
    const rate = parseRate("25");
    const a = Timecode.parse("01:00:00:00", rate);
    const b = Timecode.parse("01:00:10:00", rate);
    expect(b.since(a)).toBe(250);
    expect(Math.sign(a.compare(b))).toBe(-1);
    const range = new TimecodeRange(a, b);
    expect(range.duration).toBe(250);
    expect(range.contains(a)).toBe(true);
    expect(range.contains(b)).toBe(false);
    expect(range.extend(12).toString()).toBe("00:59:59:13-01:00:10:12");
    const midnight = new TimecodeRange(Timecode.parse("23:59:59:00", rate), Timecode.parse("00:00:01:00", rate));
    expect(midnight.duration).toBe(50);
    expect(() => a.since(Timecode.parse("01:00:00:00", parseRate("24")))).toThrow("cannot compare");
  });
  test("seconds are exact rationals, floored to microseconds for seeks", () => {
    expect(Timecode.parse("00:00:01;00", r2997).seconds()).toEqual({ num: 30030, den: 30000 });
    expect(formatMicroseconds(framesToMicroseconds(1, r2997))).toBe("0.033366");
    expect(formatMicroseconds(framesToMicroseconds(107892, r2997))).toBe("3599.996400");
    expect(formatMicroseconds(framesToMicroseconds(24, parseRate("23.976")))).toBe("1.001000");
  });
  test("expressions", () => {
    expect(evaluateTimecode("01:00:00:00+48", parseRate("24")).frames).toBe(86448);
    expect(evaluateTimecode("01:00:10:00-01:00:00:00", parseRate("24")).frames).toBe(240);
    expect(evaluateTimecode("00:01:00;02 - 2", r2997)).toEqual({ frames: 1798, startsWithTimecode: true, dropFrame: true });
    expect(() => evaluateTimecode("01:00:00:00+x", parseRate("24"))).toThrow("'x' is neither a timecode");
    expect(() => evaluateTimecode("+", parseRate("24"))).toThrow("invalid value '+'");
  });
});

for (const runner of runners()) {
  describe(`tc-extract tc (${runner.label})`, () => {
    test("converts arguments: timecode → frames, frames → timecode", () => {
      const result = tool(runner, "tc-extract", ["tc", "--rate", "29.97", "00:01:00;02", "01:00:00:00+48", "01:00:10:00-01:00:00:00", "--to", "frames"]);
      expect(result).toMatchObject({ code: 0, stdout: "1800\n108048\n300\n", stderr: "" });
      const back = tool(runner, "tc-extract", ["tc", "--rate", "29.97", "--df", "1800", "107892", "2589408"]);
      expect(back).toMatchObject({ code: 0, stdout: "00:01:00;02\n01:00:00;00\n00:00:00;00\n", stderr: "" });
    });
    test("reads one value per line from stdin; --to seconds", () => {
      const result = tool(runner, "tc-extract", ["tc", "--rate", "23.976", "--to", "seconds"], { stdin: "00:00:01:00\r\n48\n\n01:00:00:00\n" });
      expect(result).toMatchObject({ code: 0, stdout: "1.001000\n2.002000\n3603.600000\n", stderr: "" });
      const tc = tool(runner, "tc-extract", ["tc", "--rate", "59.94", "--ndf", "--to", "tc"], { stdin: "216000\n" });
      expect(tc).toMatchObject({ code: 0, stdout: "01:00:00:00\n" });
    });
    test("invalid labels and rates exit 2 with one line", () => {
      expect(tool(runner, "tc-extract", ["tc", "--rate", "29.97", "00:01:00;00"])).toMatchObject({
        code: 2,
        stdout: "",
        stderr: "tc-extract: invalid drop-frame timecode '00:01:00;00': frames 00–01 of minute 01 are skipped at 29.97 DF\n",
      });
      expect(tool(runner, "tc-extract", ["tc", "--rate", "12", "1"]).code).toBe(2);
      expect(tool(runner, "tc-extract", ["tc", "1"])).toMatchObject({ code: 2, stderr: "tc-extract: tc needs --rate; see 'tc-extract --help'\n" });
      expect(tool(runner, "tc-extract", ["tc", "--rate", "25", "--to", "feet", "1"]).stderr).toBe("tc-extract: --to feet: expected frames, tc or seconds\n");
    });
    test("--help documents the exit codes", () => {
      const help = tool(runner, "tc-extract", ["--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(["Exit codes:", "  0  done", "  1  some events had no media, an output did not hold what was planned, or", "     part of the media folder could not be searched", "  2  usage error, unreadable input, malformed EDL, an existing output,", "     ffmpeg failure"].join("\n"));
    });
  });
}
