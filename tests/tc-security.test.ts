/**
 * tc-extract against hostile names and lists, through the real ffmpeg: a clip name is drawn as
 * it is and never read as filtergraph syntax; an EDL's reel or clip name never makes a path
 * outside the output folder; nothing is written through a link or over a file this run did not
 * make; the media search follows no link out of its folder and opens no playlist.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { shellLine } from "../lib/tc/ffmpeg.ts";
import { run, SOURCE, tempDir, tool } from "./helpers.ts";
import { BINS, ffmpeg, frameIndices, makeSource } from "./tc-media.ts";

setDefaultTimeout(60_000);
const dir = tempDir("cartkit-tc-security-");

/** MD5 of each decoded video frame. */
function framemd5(path: string): string[] {
  return ffmpeg(["-i", path, "-map", "0:v:0", "-f", "framemd5", "-"])
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(",").pop()!.trim());
}

/** Every path below `root`, with its size and mtime: what a run must leave as it was. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(root, { recursive: true }) as string[]) {
    const stat = lstatSync(join(root, name));
    out.push(`${name} ${stat.isSymbolicLink() ? `-> ${readlinkSync(join(root, name))}` : `${stat.size} ${stat.mtimeMs}`}`);
  }
  return out.sort();
}

describe.skipIf(!BINS)("burn-in text is drawn as it is, never read as filtergraph syntax", () => {
  // Each name holds some of ' \ : , ; [ ] = % newline and a leading '-'.
  const NAMES = ["a',drawtext=textfile=secret.txt:x=0,c", "c',metadata=mode=print:file=clobbered.txt,drawtext=text=z", "-lead 100% %{pts} %{eif\\:1+1\\:d}", "semi;colon[in]=eq\\back\\\\slash'", "new\nline: two, lines"];

  test("proxy --burn name: each output frame equals the literal name drawn from a file; secret.txt unread, clobbered.txt untouched", () => {
    const work = join(dir, "burn");
    mkdirSync(work);
    writeFileSync(join(work, "secret.txt"), "SECRET");
    writeFileSync(join(work, "clobbered.txt"), "keep me");
    const sources = NAMES.map((name, i) => {
      const path = join(work, `${name}.mov`);
      makeSource(path, { rate: "25", seconds: 0.12, audio: null, height: 128 + 2 * i });
      return path;
    });
    const before = snapshot(work);
    // Relative names from inside the folder, where a relative textfile= or file= would land.
    const result = tool(SOURCE, "tc-extract", ["proxy", "-o", "proxies", "--burn", "name", "--jobs", "2", "--", ...NAMES.map((n) => `${n}.mov`)], { cwd: work });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
    expect(snapshot(work).filter((l) => !l.startsWith("proxies"))).toEqual(before);
    expect(readFileSync(join(work, "clobbered.txt"), "utf8")).toBe("keep me");
    expect(readdirSync(join(work, "proxies")).sort()).toEqual(NAMES.map((n) => `${n}.mov`).sort());
    NAMES.forEach((name, i) => {
      // The same frames with the name handed to drawtext in a file of this test's own.
      const text = join(dir, `text-${i}.txt`);
      writeFileSync(text, name);
      const drawn = (file: string, out: string) => {
        ffmpeg(["-i", sources[i]!, "-vf", `drawtext=textfile=${file}:expansion=none:x=10:y=10:fontcolor=white:box=1:boxcolor=black@0.5`, "-c:v", "prores", "-profile:v", "0", "-pix_fmt", "yuv422p10le", out]);
        return framemd5(out);
      };
      const proxy = framemd5(join(work, "proxies", `${name}.mov`));
      expect({ name, frames: proxy }).toEqual({ name, frames: drawn(text, join(dir, `ref-${i}.mov`)) });
      writeFileSync(join(dir, "secret-text.txt"), "SECRET");
      expect(proxy).not.toEqual(drawn(join(dir, "secret-text.txt"), join(dir, `secret-${i}.mov`)));
    });
  });
});

describe.skipIf(!BINS)("outputs stay inside -o, as new files", () => {
  const media = join(dir, "media");
  const out = join(dir, "out", "conform");
  const victim = join(dir, "victim");

  test("a reel or clip name with ../ or / makes a safe name inside -o; nothing outside is written", () => {
    mkdirSync(media, { recursive: true });
    mkdirSync(victim, { recursive: true });
    mkdirSync(join(dir, "out"));
    makeSource(join(media, "A001C003.mov"), { rate: "25", seconds: 1, timecode: "10:00:00:00" });
    writeFileSync(join(victim, "x.mov"), "victim");
    writeFileSync(join(dir, "out", "x.mov"), "victim too");
    const list = join(dir, "traversal.edl");
    writeFileSync(
      list,
      [
        "001  ../../../victim/x V     C        10:00:00:00 10:00:00:05 01:00:00:00 01:00:00:05",
        "* FROM CLIP NAME: A001C003",
        "002  /etc/passwd V     C        10:00:00:05 10:00:00:10 01:00:00:05 01:00:00:10",
        "* FROM CLIP NAME: A001C003",
        "003  ..     V     C        10:00:00:10 10:00:00:15 01:00:00:10 01:00:00:15",
        "* FROM CLIP NAME: A001C003",
        "",
      ].join("\n"),
    );
    const victimBefore = snapshot(victim);
    const result = tool(SOURCE, "tc-extract", ["--edl", list, "--media", media, "-o", out, "--json"]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
    const outputs = result.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l).output as string);
    expect(outputs).toEqual([join(out, "001__._.._.._victim_x_A001C003.mov"), join(out, "002__etc_passwd_A001C003.mov"), join(out, "003__._A001C003.mov")]);
    expect(readdirSync(out).sort()).toEqual(["001__._.._.._victim_x_A001C003.mov", "002__etc_passwd_A001C003.mov", "003__._A001C003.mov", "report.json", "traversal_conformed.edl"]);
    expect(snapshot(victim)).toEqual(victimBefore);
    expect(readFileSync(join(dir, "out", "x.mov"), "utf8")).toBe("victim too");
    expect(frameIndices(outputs[0]!)).toEqual([0, 1, 2, 3, 4]);
  });

  test("a link planted at an output's name is never written through: refused, or replaced as a link with --force", () => {
    const target = join(victim, "shadow");
    writeFileSync(target, "do not touch");
    const planted = join(dir, "planted");
    mkdirSync(planted);
    symlinkSync(target, join(planted, "001_A001C003_A001C003.mov"));
    symlinkSync(target, join(planted, "report.json"));
    const list = join(dir, "one.edl");
    writeFileSync(list, "001  A001C003 V     C        10:00:00:00 10:00:00:05 01:00:00:00 01:00:00:05\n");
    const refused = tool(SOURCE, "tc-extract", ["--edl", list, "--media", media, "-o", planted]);
    expect(refused).toMatchObject({ code: 2, stderr: `tc-extract: ${join(planted, "report.json")}: already exists; tc-extract never replaces a file it did not write in this run (pass --force to replace it)\n` });
    const single = tool(SOURCE, "tc-extract", [join(media, "A001C003.mov"), "--in", "10:00:00:00", "--out", "10:00:00:05", "-o", join(planted, "001_A001C003_A001C003.mov")]);
    expect(single.code).toBe(2);
    expect(readFileSync(target, "utf8")).toBe("do not touch");
    const forced = tool(SOURCE, "tc-extract", ["--edl", list, "--media", media, "-o", planted, "--force"]);
    expect({ code: forced.code, stderr: forced.stderr }).toEqual({ code: 0, stderr: "" });
    expect(readFileSync(target, "utf8")).toBe("do not touch");
    expect(lstatSync(join(planted, "001_A001C003_A001C003.mov")).isFile()).toBe(true);
    expect(lstatSync(join(planted, "report.json")).isFile()).toBe(true);
    expect(frameIndices(join(planted, "001_A001C003_A001C003.mov"))).toEqual([0, 1, 2, 3, 4]);
  });

  test("an ffmpeg that fails halfway leaves nothing under the final name, nor a partial file", () => {
    const broken = join(dir, "broken");
    mkdirSync(broken);
    // DNxHR needs at least 256×120: ffmpeg fails after the output was created.
    makeSource(join(broken, "small.mov"), { rate: "25", seconds: 0.2, height: 32, audio: null });
    const result = tool(SOURCE, "tc-extract", [join(broken, "small.mov"), "--in", "00:00:00:00", "--out", "00:00:00:03", "--codec", "dnxhr_lb", "-o", join(broken, "cut.mov")]);
    expect(result.code).toBe(2);
    expect(result.stderr).toStartWith(`tc-extract: ${join(broken, "small.mov")}: ffmpeg failed (exit 1): `);
    expect(readdirSync(broken)).toEqual(["small.mov"]);
  });
});

describe.skipIf(!BINS)("the media search", () => {
  test("follows no link out of the media folder, opens no playlist posing as a clip, and names what it skipped", () => {
    const root = join(dir, "search");
    const inside = join(root, "media");
    const outside = join(root, "elsewhere");
    mkdirSync(inside, { recursive: true });
    mkdirSync(outside);
    makeSource(join(outside, "B001C001.mov"), { rate: "25", seconds: 1, timecode: "10:00:00:00" });
    symlinkSync(join(outside, "B001C001.mov"), join(inside, "B001C001.mov"));
    writeFileSync(join(root, "secret.txt"), "SECRET");
    writeFileSync(join(inside, "C001C001.mov"), "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n../secret.txt\n#EXT-X-ENDLIST\n");
    const list = join(root, "cut.edl");
    writeFileSync(list, ["001  B001C001 V     C        10:00:00:00 10:00:00:05 01:00:00:00 01:00:00:05", "002  C001C001 V     C        10:00:00:00 10:00:00:05 01:00:00:05 01:00:00:10", ""].join("\n"));
    const atime = statSync(join(root, "secret.txt")).atimeMs;
    const result = tool(SOURCE, "tc-extract", ["--edl", list, "--media", inside, "-o", join(root, "out")]);
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe(`tc-extract: ${join(inside, "B001C001.mov")}: not searched: symbolic link that leaves the tree, not followed`);
    expect(lines[1]).toStartWith(`tc-extract: ${join(inside, "C001C001.mov")}: skipped: not a media file ffprobe can read (mov, mp4, mxf, mkv, ts, avi): `);
    expect(lines.slice(2)).toEqual([`tc-extract: event 001 (line 1, reel B001C001): no media under ${inside} covers 10:00:00:00-10:00:00:05`, `tc-extract: event 002 (line 2, reel C001C001): no media under ${inside} covers 10:00:00:00-10:00:00:05`]);
    expect(statSync(join(root, "secret.txt")).atimeMs).toBe(atime);
  });

  test("names from the list reach stderr escaped: a bidirectional override, a byte that is not UTF-8", () => {
    const list = join(dir, "names.edl");
    writeFileSync(list, Buffer.concat([Buffer.from("001  R\u202eTXT V     C        10:00:00:00 10:00:00:05 01:00:00:00 01:00:00:05\n* FROM CLIP NAME: caf"), Buffer.from([0xe9]), Buffer.from("\n")]));
    const result = tool(SOURCE, "tc-extract", ["--edl", list, "--media", join(dir, "media"), "-o", join(dir, "names-out")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`tc-extract: event 001 (line 1, reel R\\u{202e}TXT, clip caf\\xe9): no media under ${join(dir, "media")} covers 10:00:00:00-10:00:00:05\n`);
  });
});

describe("--dry-run lines", () => {
  test("show a name's newline, C1 control, bidirectional override and non-UTF-8 byte as escapes, and run as printed", () => {
    const args = ["-i", "file:a\nb\u009bc\u202ed'e\\f caf\udce9.mov", "plain-name.mov", "it's"];
    const line = shellLine(args);
    expect(line).toBe("-i $'file:a\\x0ab\\xc2\\x9bc\\xe2\\x80\\xaed\\'e\\\\f caf\\xe9.mov' plain-name.mov 'it'\\''s'");
    // bash reads each word back to exactly the bytes of the argument.
    const printed = run(["bash", "-c", `for a in ${line}; do printf '%s\\0' "$a"; done`]).stdoutBytes;
    expect(Buffer.from(printed).toString("latin1")).toBe(["-i", Buffer.concat([Buffer.from("file:a\nb\u009bc\u202ed'e\\f caf"), Buffer.from([0xe9]), Buffer.from(".mov")]).toString("latin1"), "plain-name.mov", "it's", ""].join("\0"));
  });
});
