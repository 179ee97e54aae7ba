/** lib/mhl: generation and chain files round-trip byte for byte; unsafe paths are refused; directory hashes and ignore patterns follow the reference. */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { readChain, writeChain } from "../lib/mhl/chain.ts";
import { DirectoryHash } from "../lib/mhl/directory_hash.ts";
import { readGeneration, writeGeneration } from "../lib/mhl/generation.ts";
import { IgnoreSpec } from "../lib/mhl/ignore.ts";

const SCENARIOS = join(import.meta.dir, "fixtures/ascmhl/scenarios");

function filesBelow(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? filesBelow(join(dir, name)) : [join(dir, name)]));
}

test("every fixture generation and chain reads and writes back to the same bytes", () => {
  const files = filesBelow(SCENARIOS).filter((f) => f.endsWith(".mhl") || f.endsWith("/ascmhl_chain.xml"));
  expect(files.length).toBe(29);
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const written = file.endsWith(".mhl") ? writeGeneration(readGeneration(text, file)) : writeChain(readChain(text, file));
    expect({ file, written }).toEqual({ file, written: text });
  }
});

test("directory hashes reproduce the fixtures (xxh64 and md5)", async () => {
  const clips = new DirectoryHash("xxh64");
  clips.addFile("A002C006_141024_R2EC.mov", "0ea03b369a463d9d");
  clips.addFile("A002C007_141024_R2EC.mov", "7680e5f98f4a80fd");
  expect(await clips.finish()).toEqual({ content: "4c226b42e27d7af3", structure: "906faa843d591a9f" });
  const root = new DirectoryHash("xxh64");
  root.addDirectory("Clips", "4c226b42e27d7af3", "906faa843d591a9f");
  root.addFile("Sidecar.txt", "3ab5a4166b9bde44");
  expect(await root.finish()).toEqual({ content: "8d02114c32e28cbe", structure: "f557f8ca8e5a88ef" });
  const md5 = new DirectoryHash("md5");
  md5.addFile("A002C006_141024_R2EC.mov", "f5ac8127b3b6b85cdc13f237c6005d80");
  md5.addFile("A002C007_141024_R2EC.mov", "614dd0e977becb4c6f7fa99e64549b12");
  expect(await md5.finish()).toEqual({ content: "202a2d71b56b080d9b089c1f4f29a4ba", structure: "4a739024fd19d928e9dea6bb5c480200" });
  // an empty folder is the hash of nothing
  expect(await new DirectoryHash("xxh64").finish()).toEqual({ content: "ef46db3751d8e999", structure: "ef46db3751d8e999" });
});

test("a <path> that is absolute or escapes the root is refused, naming file and line", () => {
  const file = join(SCENARIOS, "scenario_01/travel_01/A002R2EC/ascmhl/0001_A002R2EC_2020-01-16_091500Z.mhl");
  const text = readFileSync(file, "utf8");
  for (const [bad, reason] of [
    ["/etc/passwd", "absolute path '/etc/passwd'"],
    ["../../etc/passwd", "path '../../etc/passwd' escapes the root"],
    ["Clips/../../x", "path 'Clips/../../x' escapes the root"],
  ] as const) {
    let caught: { path?: string; message?: string } | undefined;
    try {
      readGeneration(text.replace(">Sidecar.txt<", `>${bad}<`), "evil.mhl");
    } catch (error) {
      caught = error as { path?: string; message?: string };
    }
    expect(`${caught?.path}: ${caught?.message}`).toBe(`evil.mhl: line 43: refusing ${reason}`);
  }
});

test("ignore patterns follow gitwildmatch", () => {
  const spec = IgnoreSpec.forRun(undefined, ["*.tmp", "/top.txt", "cache/", "a/**/z", "!keep.tmp"]);
  expect(spec.patterns).toEqual([".DS_Store", "ascmhl", "ascmhl/", "*.tmp", "/top.txt", "cache/", "a/**/z", "!keep.tmp"]);
  const cases: Array<[string, boolean, boolean]> = [
    ["x/.DS_Store", false, true],
    ["ascmhl", true, true],
    ["sub/ascmhl", true, true],
    ["b.tmp", false, true],
    ["d/e.tmp", false, true],
    ["keep.tmp", false, false],
    ["top.txt", false, true],
    ["d/top.txt", false, false],
    ["cache", true, true],
    ["cache", false, false],
    ["d/cache/f", false, true],
    ["a/z", false, true],
    ["a/b/c/z", false, true],
    ["b/a/z", false, false],
  ];
  for (const [path, isDirectory, ignored] of cases) expect([path, isDirectory, spec.ignores(path, isDirectory)]).toEqual([path, isDirectory, ignored]);
});
