/**
 * mhl-verify without `--jobs` spreads files in md5, sha1 and c4 (formats slower than reading them)
 * over the cores. It must write and report exactly what `--jobs 1` does: the same generation and
 * chain to the byte, the same lines on stdout and stderr, the same exit code, for create, verify
 * (with files changed and missing), verify -dh and legacy MHL, over a tree of small files (more
 * than a batch holds), files of 256 KiB to 2 MiB and files too large for a batch.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { hashingPlan } from "../lib/hash/pool.ts";
import { randomBytes, run, runners, tempDir, tool } from "./helpers.ts";

const ENV = { TZ: "UTC", CARTKIT_MHL_HOSTNAME: "cart.local", CARTKIT_MHL_NOW: "2026-03-04T05:06:07Z" };

/** `--jobs N`; "default": no `--jobs`. */
const JOBS = ["1", "default", "3"];

function jobsArgs(n: string): string[] {
  return n === "default" ? [] : ["--jobs", n];
}

/** 3 folders of 70 frames (empty to 60 KB), six plates of 256 KiB to 2 MiB, two clips of 3 and 5 MiB. */
function makeTree(root: string): string {
  const tree = join(root, "A001");
  for (let f = 0; f < 3; f++) {
    mkdirSync(join(tree, "FRAMES", `R${f}`), { recursive: true });
    for (let i = 0; i < 70; i++) writeFileSync(join(tree, "FRAMES", `R${f}`, `f${String(i).padStart(3, "0")}.dng`), randomBytes(((f * 70 + i) * 877) % 60_000, f * 70 + i + 1));
  }
  mkdirSync(join(tree, "PLATES"));
  for (const [i, size] of [256 << 10, 300_001, 1 << 20, 1_500_007, (2 << 20) - 1, 700_000].entries()) writeFileSync(join(tree, "PLATES", `p${i}.exr`), randomBytes(size, 700 + i));
  mkdirSync(join(tree, "CLIPS"));
  writeFileSync(join(tree, "CLIPS", "c1.mov"), randomBytes(3 << 20, 800));
  writeFileSync(join(tree, "CLIPS", "c2.mov"), randomBytes(5 << 20, 801));
  return tree;
}

/** The same bytes, with one byte changed in the middle. */
function corrupt(path: string): void {
  const bytes = readFileSync(path);
  const middle = bytes.length >> 1;
  bytes[middle] = bytes[middle]! ^ 0x5a;
  writeFileSync(path, bytes);
}

type Result = { code: number; stdout: string; stderr: string };

function expectAllSame(results: Array<Result & Record<string, unknown>>): void {
  const one = results[0]!;
  for (const [i, result] of results.entries()) expect({ jobs: JOBS[i], ...result }).toEqual({ jobs: JOBS[i], ...one });
}

test("with no --jobs, formats slower than reading are spread over the cores; the xxh formats, one file or an asked N are not", () => {
  const cores = availableParallelism();
  expect(hashingPlan(undefined, ["md5"])).toEqual(cores > 1 ? { parallelism: cores, options: { largeHere: true, hereBelow: 0 } } : { parallelism: 1, options: {} });
  expect(hashingPlan(undefined, ["c4", "xxh128"], 10)).toEqual(cores > 1 ? { parallelism: cores, options: { largeHere: true, hereBelow: 0 } } : { parallelism: 1, options: {} });
  expect(hashingPlan(undefined, ["blake3"], 10)).toEqual(cores > 1 ? { parallelism: cores, options: { largeHere: true, hereBelow: 256 << 10 } } : { parallelism: 1, options: {} });
  expect(hashingPlan(undefined, ["xxh128", "xxh64"])).toEqual({ parallelism: 1, options: {} });
  expect(hashingPlan(undefined, [])).toEqual({ parallelism: 1, options: {} });
  expect(hashingPlan(undefined, ["md5"], 1)).toEqual({ parallelism: 1, options: {} });
  expect(hashingPlan(4, ["md5"])).toEqual({ parallelism: 4, options: {} });
  expect(hashingPlan(4, ["xxh128"], 1)).toEqual({ parallelism: 1, options: {} });
});

for (const runner of runners()) {
  describe(`mhl-verify with no --jobs writes and says what --jobs 1 does (${runner.label})`, () => {
    const mhl = (args: string[], env: Record<string, string> = {}): Result => tool(runner, "mhl-verify", args, { env: { ...ENV, ...env } });

    for (const format of ["md5", "sha1", "c4"]) {
      test(`-h ${format}: create, verify of changed and missing files, verify -dh`, { timeout: 180_000 }, () => {
        const tree = makeTree(tempDir(`mhl-jobs-${format}-`));
        const created = JOBS.map((n) => {
          rmSync(join(tree, "ascmhl"), { recursive: true, force: true });
          const r = mhl(["create", tree, "-h", format, ...jobsArgs(n)]);
          const files = readdirSync(join(tree, "ascmhl")).sort();
          return { ...r, files, bytes: files.map((f) => readFileSync(join(tree, "ascmhl", f), "utf8")) };
        });
        expect(created[0]!.code).toBe(0);
        expect(created[0]!.files).toEqual(["0001_A001_2026-03-04_050607Z.mhl", "ascmhl_chain.xml"]);
        // 210 frames, 6 plates, 2 clips; each with its digest in the format asked.
        expect(created[0]!.bytes[0]!.match(new RegExp(`<${format} action="original"`, "g"))).toHaveLength(218);
        expectAllSame(created);

        const verified = JOBS.map((n) => mhl(["verify", tree, ...jobsArgs(n)]));
        expect(verified[0]!.code).toBe(0);
        expectAllSame(verified);

        corrupt(join(tree, "FRAMES", "R1", "f033.dng"));
        corrupt(join(tree, "PLATES", "p3.exr"));
        corrupt(join(tree, "CLIPS", "c2.mov"));
        rmSync(join(tree, "FRAMES", "R2", "f010.dng"));
        const broken = JOBS.map((n) => mhl(["verify", tree, ...jobsArgs(n)]));
        expect(broken[0]!.code).not.toBe(0);
        for (const name of ["FRAMES/R1/f033.dng", "PLATES/p3.exr", "CLIPS/c2.mov"]) expect(broken[0]!.stderr).toContain(`ERROR: hash mismatch        for ${name} old ${format}`);
        expect(broken[0]!.stderr.match(/hash mismatch/g)).toHaveLength(3);
        expect(broken[0]!.stdout + broken[0]!.stderr).toContain("FRAMES/R2/f010.dng");
        expectAllSame(broken);

        const directories = JOBS.map((n) => mhl(["verify", "-dh", tree, ...jobsArgs(n)]));
        expect(directories[0]!.code).not.toBe(0);
        expectAllSame(directories);
      });
    }

    test("legacy MHL in md5 and sha1: create --legacy and verify FILE.mhl of changed files", { timeout: 180_000 }, () => {
      const tree = makeTree(tempDir("mhl-jobs-legacy-"));
      const created = JOBS.map((n) => {
        for (const f of readdirSync(tree)) if (f.endsWith(".mhl")) rmSync(join(tree, f));
        const r = mhl(["create", tree, "--legacy", "-h", "md5", "-h", "sha1", ...jobsArgs(n)]);
        const files = readdirSync(tree).filter((f) => f.endsWith(".mhl"));
        return { ...r, files, bytes: files.map((f) => readFileSync(join(tree, f), "utf8").replace(/<hashdate>[^<]*<\/hashdate>/g, "")) };
      });
      expect(created[0]!.code).toBe(0);
      expect(created[0]!.bytes[0]!.match(/<md5>/g)).toHaveLength(218);
      expectAllSame(created);
      const list = join(tree, created[0]!.files[0]!);

      expectAllSame(JOBS.map((n) => mhl([list, ...jobsArgs(n)])));
      corrupt(join(tree, "FRAMES", "R0", "f001.dng"));
      corrupt(join(tree, "PLATES", "p4.exr"));
      corrupt(join(tree, "CLIPS", "c1.mov"));
      const broken = JOBS.map((n) => mhl([list, ...jobsArgs(n)]));
      expect(broken[0]!.code).not.toBe(0);
      for (const name of ["FRAMES/R0/f001.dng", "PLATES/p4.exr", "CLIPS/c1.mov"]) expect(broken[0]!.stdout + broken[0]!.stderr).toContain(name);
      expectAllSame(broken);
    });

    test("under a low limit on open files (ulimit -n 32) the default keeps one thread and writes the same generation", { timeout: 120_000 }, () => {
      const tree = makeTree(tempDir("mhl-jobs-ulimit-"));
      const created = ["1", "default"].map((n) => {
        rmSync(join(tree, "ascmhl"), { recursive: true, force: true });
        const r = run(["sh", "-c", 'ulimit -n 32 && exec "$@"', "sh", ...runner.command("mhl-verify"), "create", tree, "-h", "md5", ...jobsArgs(n)], { env: { ...process.env, ...ENV } });
        return { ...r, bytes: readFileSync(join(tree, "ascmhl", "0001_A001_2026-03-04_050607Z.mhl"), "utf8") };
      });
      expect(created[0]!.code).toBe(0);
      expectAllSame(created);
    });
  });
}
