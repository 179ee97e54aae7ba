/** Ignore patterns: gitwildmatch as the reference applies it, matched in linear time (a hostile pattern in a history cannot stall a run). */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { IgnoreList } from "../lib/io/ignore.ts";
import { Wildmatch } from "../lib/io/wildmatch.ts";
import { IgnoreSpec } from "../lib/mhl/ignore.ts";
import { runners, tempDir, tool } from "./helpers.ts";

// Every test here starts real processes; on a busy 2-core machine one can take longer than 5 s.
setDefaultTimeout(120_000);

/** `*a*a*…*c`: 15 stars. Against a name of 40 `a`s, a backtracking matcher tries some C(40,14) splits. */
const HOSTILE = `${"*a".repeat(14)}*c`;
const NAME = "a".repeat(40);

test("the 15-star pattern against a 40-character name is decided without backtracking", () => {
  expect(HOSTILE.split("*").length - 1).toBe(15);
  expect(Wildmatch.compile(HOSTILE, { anchored: false }).matches(NAME)).toBe(false);
  expect(Wildmatch.compile(HOSTILE, { anchored: false }).matches(`${NAME}c`)).toBe(true);
  expect(new IgnoreSpec([HOSTILE]).ignores(`x/${NAME}`, false)).toBe(false);
  expect(new IgnoreList([HOSTILE]).matches(`x/${NAME}`)).toBe(false);
  // a path of 2,000 names costs its last name for a pattern without `/`
  expect(new IgnoreSpec([HOSTILE]).ignores(`${"d/".repeat(2000)}${NAME}c`, false)).toBe(true);
});

test("gitwildmatch: **, a trailing /, negation, character classes and escapes", () => {
  const spec = IgnoreSpec.forRun(undefined, ["*.tmp", "/top.txt", "cache/", "a/**/z", "logs/**", "**/proxy", "!keep.tmp", "[Tt]humbs.db", "clip[0-9].mov", "take[!0-9].mov", "odd[]x].txt", "lit\\*.txt", "q\\?.txt", "\\#hash", "\\!bang", "sp\\ ", "# a comment"]);
  const cases: Array<[string, boolean, boolean]> = [
    ["x.tmp", false, true],
    ["deep/down/x.tmp", false, true],
    ["keep.tmp", false, false],
    ["x.tmpx", false, false],
    ["top.txt", false, true],
    ["sub/top.txt", false, false],
    ["cache", true, true],
    ["cache", false, false],
    ["sub/cache", true, true],
    ["cache/inside.mov", false, true],
    ["a/z", false, true],
    ["a/b/c/z", false, true],
    ["b/a/z", false, false],
    ["logs/x/y.txt", false, true],
    ["logs", true, false],
    ["proxy", true, true],
    ["deep/proxy", false, true],
    ["Thumbs.db", false, true],
    ["thumbs.db", false, true],
    ["xhumbs.db", false, false],
    ["clip7.mov", false, true],
    ["clipA.mov", false, false],
    ["takeA.mov", false, true],
    ["take1.mov", false, false],
    ["oddx.txt", false, true],
    ["odd].txt", false, true],
    ["oddy.txt", false, false],
    ["lit*.txt", false, true],
    ["litany.txt", false, false],
    ["q?.txt", false, true],
    ["qa.txt", false, false],
    ["#hash", false, true],
    ["!bang", false, true],
    ["sp ", false, true],
    ["sp", false, false],
    ["# a comment", false, false],
    // the defaults: the history folder, .DS_Store
    ["ascmhl", true, true],
    ["sub/.DS_Store", false, true],
  ];
  for (const [path, isDirectory, ignored] of cases) expect([path, isDirectory, spec.ignores(path, isDirectory)]).toEqual([path, isDirectory, ignored]);
  // `*` and `?` never match `/`; a class never matches `/`
  expect(Wildmatch.compile("a*b").matches("a/b")).toBe(false);
  expect(Wildmatch.compile("a?b").matches("a/b")).toBe(false);
  expect(Wildmatch.compile("a[!x]b").matches("a/b")).toBe(false);
  // a `[` that never closes is itself
  expect(Wildmatch.compile("a[b").matches("a[b")).toBe(true);
  // a name that is not UTF-8 (lone surrogate per byte) is matched as characters like any other
  expect(Wildmatch.compile("caf?.mov").matches("caf\udce9.mov")).toBe(true);
});

test("the literal, prefix* and *suffix shapes match as the general matcher does", () => {
  const cases: [string, boolean | undefined, string, boolean][] = [
    [".DS_Store", false, "a/b/.DS_Store", true],
    [".DS_Store", false, "a/.DS_Storex", false],
    [".DS_Store", undefined, ".DS_Store", true],
    [".DS_Store", undefined, "a/.DS_Store", false],
    ["._*", false, "x/._clip.mov", true],
    ["._*", false, "x/_.clip", false],
    ["._*", false, "._", true],
    ["*.tmp", false, "a/b.tmp", true],
    ["*.tmp", false, "a.tmp/b", false],
    ["*.tmp", undefined, "a/b.tmp", false],
    ["*.tmp", undefined, "b.tmp", true],
    ["a/b", false, "x/a/b", true],
    ["a/b", false, "x/ya/b", false],
    ["a/b", undefined, "a/b", true],
    ["a/b", undefined, "x/a/b", false],
  ];
  for (const [pattern, anchored, path, expected] of cases) {
    const options = anchored === undefined ? {} : { anchored };
    expect([pattern, anchored, path, Wildmatch.compile(pattern, options).matches(path)]).toEqual([pattern, anchored, path, expected]);
  }
});

test("the walk's ignore list keeps its meaning: names at any depth, paths with a slash", () => {
  const list = new IgnoreList(["._*", "CACHE/", "proxies/**/*.mp4", "[Dd]esktop.ini"]);
  expect(list.matches("A001/._clip.mov")).toBe(true);
  expect(list.matches("x/CACHE")).toBe(true);
  expect(list.matches("proxies/a/b/c.mp4")).toBe(true);
  expect(list.matches("proxies/c.mp4")).toBe(true);
  expect(list.matches("x/proxies/c.mp4")).toBe(false);
  expect(list.matches("sub/desktop.ini")).toBe(true);
});

for (const runner of runners()) {
  describe(`mhl-verify ignore patterns (${runner.label})`, () => {
    const dir = tempDir("mhl-ignore-");
    const mhl = (args: string[]) => tool(runner, "mhl-verify", args, { env: { TZ: "UTC", CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z" } });

    /** A folder whose history carries the hostile pattern, with 40-character names in it. */
    function hostileHistory(name: string): string {
      const root = join(dir, name);
      mkdirSync(join(root, "sub"), { recursive: true });
      for (let i = 0; i < 20; i++) writeFileSync(join(root, "sub", `${NAME.slice(0, 38)}${String(i).padStart(2, "0")}`), String(i));
      writeFileSync(join(root, NAME), "x");
      expect(mhl(["create", root, "-i", HOSTILE]).code).toBe(0);
      return root;
    }

    test("a history's 15-star pattern and 40-character names: verify and diff finish at once", () => {
      const root = hostileHistory("fast");
      // Bun.spawnSync has no deadline: the old matcher took 70 s per name here, so this would hang the suite.
      expect([mhl(["verify", root]).code, mhl(["diff", root]).code]).toEqual([0, 0]);
    });

    test("SIGTERM is obeyed while such a history is verified", async () => {
      const root = hostileHistory("term");
      const proc = Bun.spawn({ cmd: [...runner.command("mhl-verify"), "verify", "-v", root], stdout: "pipe", stderr: "pipe" });
      // wait for the first line: the run has begun
      const reader = proc.stdout.getReader();
      await reader.read();
      proc.kill("SIGTERM");
      const code = await proc.exited;
      // either it had finished (0) or it stopped on the signal (128 + 15): never deaf to it
      expect([0, 143]).toContain(code);
    });
  });
}
