/**
 * The tools together, the way they are used: the shell pipelines README shows, the justfile's
 * `offload` and `archive` recipes, and all six compiled binaries copied to a folder with no
 * node_modules doing a day's job there.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { anchor, randomBytes, ROOT, run, tempDir } from "./helpers.ts";

const TOOLS = ["b3sum-ts", "xxsum", "dispatchcopy", "mhl-verify", "ltfs-pack", "tc-extract"];

/** A small card: two clips, a sidecar, a name with a space. */
function card(root: string): void {
  mkdirSync(join(root, "CLIPS"), { recursive: true });
  writeFileSync(join(root, "CLIPS", "A001C001.mov"), randomBytes(3 * 1024 * 1024 + 5, 11));
  writeFileSync(join(root, "CLIPS", "A001C002.mov"), randomBytes(700_000, 12));
  writeFileSync(join(root, "A001 notes.txt"), "scene 12\n");
}

/** Runs a shell pipeline with the compiled tools first on PATH. */
function sh(script: string, cwd: string) {
  return run(["bash", "-o", "pipefail", "-c", script], { cwd, env: { ...process.env, PATH: `${join(ROOT, "dist")}:${process.env.PATH}` } as Record<string, string> });
}

describe("README pipelines", () => {
  test("b3sum-ts manifest of a card, checked against a copy; a flipped bit fails it", () => {
    const dir = tempDir("cartkit-e2e-");
    card(join(dir, "SRC"));
    expect(sh("b3sum-ts -r SRC > SRC.b3 && cp -r SRC DST && b3sum-ts -c SRC.b3 --root DST", dir)).toMatchObject({ code: 0, stderr: "" });
    const clip = join(dir, "DST", "CLIPS", "A001C002.mov");
    const bytes = readFileSync(clip);
    bytes[1234] = bytes[1234]! ^ 0x04;
    writeFileSync(clip, bytes);
    const bad = sh("b3sum-ts -c SRC.b3 --root DST", dir);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("CLIPS/A001C002.mov: FAILED\n");
  });

  test("xxsum manifest through gzip and back through stdin", () => {
    const dir = tempDir("cartkit-e2e-");
    card(join(dir, "CARD"));
    const result = sh("xxsum -H2 -r CARD | gzip > card.xxh.gz && cp -r CARD DST && zcat card.xxh.gz | xxsum -c - --root DST", dir);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("CARD/A001 notes.txt: OK\nCARD/CLIPS/A001C001.mov: OK\nCARD/CLIPS/A001C002.mov: OK\n".replaceAll("CARD/", ""));
  });

  test("dispatchcopy --json into jq, and tc-extract edl --json into jq", () => {
    // jq is what README pipes into; CI installs it. Without it, the same filter runs in node.
    const jq = anchor("jq") ? "jq -r" : `node ${join(ROOT, "tests", "jq-lite.cjs")}`;
    const dir = tempDir("cartkit-e2e-");
    card(join(dir, "A001"));
    const copied = sh(`dispatchcopy -r --json A001 R1/A001 R2/A001 | ${jq} 'select(.event == "summary") | .files'`, dir);
    expect(copied.code).toBe(0);
    expect(copied.stdout.trim()).toBe("3");
    writeFileSync(join(dir, "cut.edl"), "TITLE: T\nFCM: NON-DROP FRAME\n001  A001C001 V     C        10:00:00:00 10:00:01:00 01:00:00:00 01:00:01:00\n");
    const events = sh(`tc-extract edl cut.edl --json --rate 25 | ${jq} '.reel'`, dir);
    expect([events.code, events.stdout]).toEqual([0, "A001C001\n"]);
  });
});

describe("justfile recipes", () => {
  const just = join(ROOT, "node_modules", ".bin", "just");

  test("just offload CARD DEST1 DEST2, then just archive DEST1 TAPES: copies proven, a tape written, verified, catalogued", () => {
    const dir = tempDir("cartkit-e2e-");
    card(join(dir, "CARD", "A001"));
    const offload = run([just, "--justfile", join(ROOT, "justfile"), "--working-directory", ROOT, "offload", join(dir, "CARD/A001"), join(dir, "RAID 1/A001"), join(dir, "SHUTTLE/A001")]);
    expect(offload.code).toBe(0);
    expect(offload.stderr).toContain(`dispatchcopy: ${join(dir, "RAID 1/A001")}: 3 files, 3.7 MiB verified from the device\n`);
    expect(readFileSync(join(dir, "SHUTTLE/A001/CLIPS/A001C002.mov"))).toEqual(readFileSync(join(dir, "CARD/A001/CLIPS/A001C002.mov")));
    const archive = run([just, "--justfile", join(ROOT, "justfile"), "--working-directory", ROOT, "archive", join(dir, "RAID 1"), join(dir, "TAPES")]);
    expect(archive.code).toBe(0);
    expect(archive.stdout).toMatch(new RegExp(`^verified ${join(dir, "TAPES/PX0001")}: 6 files, \\d+ bytes read back, all match ascmhl/0001_PX0001_`, "m"));
    const catalog = JSON.parse(readFileSync(join(dir, "TAPES/catalog/catalog.json"), "utf8"));
    expect(catalog.files.map((f: { path: string }) => f.path).sort()).toEqual(["RAID 1/A001/A001 notes.txt", "RAID 1/A001/CLIPS/A001C001.mov", "RAID 1/A001/CLIPS/A001C002.mov", expect.stringMatching(/^RAID 1\/A001\/ascmhl\/0001_A001_.*\.mhl$/), "RAID 1/A001/ascmhl/ascmhl_chain.xml"]);
  }, 120_000);
});

test("all six compiled tools run from a folder with no node_modules and do a day's job", () => {
  const dir = tempDir("cartkit-ship-");
  const bin = join(dir, "bin");
  mkdirSync(bin);
  for (const name of TOOLS) copyFileSync(join(ROOT, "dist", name), join(bin, name));
  card(join(dir, "A001"));
  const env = { PATH: `${bin}:/usr/bin:/bin`, HOME: dir };
  const step = (cmd: string[]) => {
    const result = run(cmd, { cwd: dir, env });
    expect([cmd.join(" "), result.code, result.stderr.includes("Error")]).toEqual([cmd.join(" "), 0, false]);
    return result;
  };
  step(["dispatchcopy", "-r", "-t", "xxh128", "A001", "RAID/A001", "SHUTTLE/A001"]);
  step(["mhl-verify", "verify", "RAID/A001"]);
  step(["xxsum", "-H2", "RAID/A001/CLIPS/A001C001.mov"]);
  step(["b3sum-ts", "--jobs", "2", "SHUTTLE/A001/CLIPS/A001C001.mov", "SHUTTLE/A001/CLIPS/A001C002.mov"]);
  expect(step(["tc-extract", "tc", "--rate", "25", "10:00:00:00+25"]).stdout).toBe("900025\n");
  writeFileSync(join(dir, "plan.json"), step(["ltfs-pack", "plan", "RAID", "--tape", "LTO-9", "--json"]).stdout);
  step(["ltfs-pack", "write", "plan.json", "--tape", "1", "--vtape", "TAPE"]);
  expect(step(["ltfs-pack", "verify", "--vtape", "TAPE"]).stdout).toMatch(/^verified TAPE: 6 files, \d+ bytes read back, all match ascmhl\//);
}, 60_000);
