/**
 * `--jobs N`, and the default without `--jobs`, print what `--jobs 1` prints, byte for byte and in
 * the same order, on stdout and stderr, with the same exit code: over a tree of more small files
 * than one batch holds, files the default spreads over the cores (256 KiB to 2 MiB), files large
 * enough to be hashed alone, a name that is not UTF-8, a link that stays inside and ones
 * that leave or dangle, a file nobody may read and one that disappears. Each failure is named on
 * stderr as `--jobs 1` names it and counted in the exit code. Run as nobody, so that permissions
 * count.
 */
import { describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { asNobody, randomBytes, run, runners, tempDir } from "./helpers.ts";

const TOOLS = [
  { name: "b3sum-ts", args: [] as string[] },
  { name: "xxsum", args: ["-H2"] },
];

/** 4 folders of 90 files of awkward sizes (empty to 70 KB), six of 256 KiB to 2 MiB, two large files, and the hard cases. */
function makeTree(root: string): string {
  const tree = join(root, "T");
  for (let f = 0; f < 4; f++) {
    mkdirSync(join(tree, `F${f}`), { recursive: true });
    for (let i = 0; i < 90; i++) writeFileSync(join(tree, `F${f}`, `frame_${String(i).padStart(3, "0")}.dng`), randomBytes(((f * 90 + i) * 1931) % 70_000, f * 90 + i + 1));
  }
  for (const [i, size] of [256 << 10, 300_001, 1 << 20, 1_500_007, (2 << 20) - 1, 700_000].entries()) writeFileSync(join(tree, `F${i % 4}`, `plate_${i}.exr`), randomBytes(size, 600 + i));
  writeFileSync(join(tree, "F1", "clip.mov"), randomBytes(3 << 20, 500));
  writeFileSync(join(tree, "F3", "clip.mov"), randomBytes(5 << 20, 501));
  writeFileSync(Buffer.from(`${tree}/F2/caf\xe9.dng`, "latin1"), "a latin-1 name");
  symlinkSync("../F0/frame_003.dng", join(tree, "F1", "inside.dng"));
  symlinkSync("/etc/hostname", join(tree, "F2", "outside.dng"));
  symlinkSync("nothing.dng", join(tree, "F2", "dangling.dng"));
  writeFileSync(join(tree, "F2", "locked.dng"), "nobody may read this");
  chmodSync(join(tree, "F2", "locked.dng"), 0o000);
  return tree;
}

/** `--jobs N`; "default": no `--jobs` (small files here, middling ones spread over the cores, large ones read ahead). */
const JOBS = ["1", "default", "2", "3", "8"];

/** The arguments that ask for `n` jobs. */
function jobsArgs(n: string): string[] {
  return n === "default" ? [] : ["--jobs", n];
}

/** The same result for every N, to the byte. */
function expectAllSame(results: Array<{ code: number; stdout: string; stderr: string }>): void {
  const one = results[0]!;
  for (const [i, result] of results.entries()) {
    expect({ jobs: JOBS[i], code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({ jobs: JOBS[i], code: one.code, stdout: one.stdout, stderr: one.stderr });
  }
}

for (const runner of runners()) {
  for (const t of TOOLS) {
    describe(`${t.name} --jobs keeps the order and the failures of --jobs 1 (${runner.label})`, () => {
      const root = tempDir("cartkit-sumjobs-");
      chmodSync(root, 0o755);
      makeTree(root);
      const sum = (args: string[], stdin?: string) => run(asNobody([...runner.command(t.name), ...t.args, ...args]), { cwd: root, ...(stdin === undefined ? {} : { stdin }) });
      const denied = t.name === "b3sum-ts" ? "Permission denied (os error 13)" : "Permission denied";

      test("-r: every file in byte order, each failure named once and counted, the same for every N", { timeout: 120_000 }, () => {
        const results = JOBS.map((n) => sum(["-r", ...jobsArgs(n), "T"]));
        const one = results[0]!;
        const lines = one.stdout.trimEnd().split("\n");
        // 360 frames, 6 plates, 2 clips, the latin-1 name and the link inside; not the locked file.
        expect(lines).toHaveLength(370);
        const names = lines.map((l) => l.slice(l.indexOf("  ") + 2));
        expect(names).toEqual([...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
        expect(names.slice(0, 3)).toEqual(["F0/frame_000.dng", "F0/frame_001.dng", "F0/frame_002.dng"]);
        expect(names.filter((n) => n.endsWith("clip.mov"))).toEqual(["F1/clip.mov", "F3/clip.mov"]);
        expect(lines.filter((l) => l.startsWith("\\"))).toEqual([expect.stringMatching(/^\\[0-9a-f]+ {2}F2\/caf\\xe9\.dng$/)]);
        // The link inside is hashed as the file it leads to.
        expect(lines.find((l) => l.endsWith("  F1/inside.dng"))!.split("  ")[0]).toBe(lines[3]!.split("  ")[0]);
        expect(one.stderr).toBe([`${t.name}: T/F2/dangling.dng: dangling symbolic link`, `${t.name}: T/F2/outside.dng: symbolic link that leaves the tree, not followed`, `${t.name}: T/F2/locked.dng: ${denied}`, ""].join("\n"));
        expect(one.code).toBe(1);
        expectAllSame(results);
      });

      test("-r under a low limit on open files (ulimit -n 64): --jobs 8 and the default hold no more descriptors than they may, and print what --jobs 1 prints", { timeout: 120_000 }, () => {
        const limited = (n: string) => run(asNobody(["sh", "-c", 'ulimit -n 64 && exec "$@"', "sh", ...runner.command(t.name), ...t.args, "-r", ...jobsArgs(n), "T"]), { cwd: root });
        const one = sum(["-r", "--jobs", "1", "T"]);
        for (const n of ["1", "default", "8"]) {
          const result = limited(n);
          expect({ jobs: n, code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({ jobs: n, code: one.code, stdout: one.stdout, stderr: one.stderr });
        }
        // Lower still, the default hashes on one thread, as --jobs 1 does.
        for (const n of ["1", "default"]) {
          const result = run(asNobody(["sh", "-c", 'ulimit -n 16 && exec "$@"', "sh", ...runner.command(t.name), ...t.args, "-r", ...jobsArgs(n), "T"]), { cwd: root });
          expect({ jobs: n, code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({ jobs: n, code: one.code, stdout: one.stdout, stderr: one.stderr });
        }
      });

      test("-r of 200 folders under ulimit -n 64: the folders held open are bounded by the limit too, for --jobs 1, 8 and the default", { timeout: 120_000 }, () => {
        const wide = join(root, "W");
        for (let f = 0; f < 200; f++) {
          mkdirSync(join(wide, `D${String(f).padStart(3, "0")}`), { recursive: true });
          for (let i = 0; i < 3; i++) writeFileSync(join(wide, `D${String(f).padStart(3, "0")}`, `f${i}.dng`), randomBytes(1000 + i, f * 3 + i + 1));
        }
        const one = sum(["-r", "--jobs", "1", "W"]);
        expect({ code: one.code, lines: one.stdout.trimEnd().split("\n").length, stderr: one.stderr }).toEqual({ code: 0, lines: 600, stderr: "" });
        for (const n of ["1", "default", "8"]) {
          const result = run(asNobody(["sh", "-c", 'ulimit -n 64 && exec "$@"', "sh", ...runner.command(t.name), ...t.args, "-r", ...jobsArgs(n), "W"]), { cwd: root });
          expect({ jobs: n, code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({ jobs: n, code: 0, stdout: one.stdout, stderr: "" });
        }
      });

      test("FILE...: regular files of every size, a folder, a missing file and two FIFOs fed one after the other, the same for every N", { timeout: 120_000 }, () => {
        const list = ["F0/plate_0.exr", "fifo_a", "fifo_b", "F0/frame_001.dng", "F1/plate_1.exr", "F1/clip.mov", "F1", "F9/gone.dng", "F2/plate_2.exr", "F3/plate_3.exr", "F2/locked.dng", "F1/plate_5.exr"];
        for (const fifo of ["fifo_a", "fifo_b"]) {
          rmSync(join(root, fifo), { force: true });
          execFileSync("mkfifo", ["-m", "0644", join(root, fifo)]);
        }
        // The writer opens each FIFO only after the one before was read to its end.
        const fed = (n: string) => run(["sh", "-c", '(cat T/F0/plate_0.exr > fifo_a; cat T/F1/clip.mov > fifo_b) & exec "$@"', "sh", ...asNobody([...runner.command(t.name), ...t.args, ...jobsArgs(n), ...list.map((f) => (f.startsWith("fifo") ? f : `T/${f}`))])], { cwd: root, timeoutMs: 60_000 });
        const results = JOBS.map(fed);
        const one = results[0]!;
        expect(one.code).toBe(1);
        const lines = one.stdout.trimEnd().split("\n");
        expect(lines.map((l) => l.slice(l.indexOf("  ") + 2))).toEqual(["T/F0/plate_0.exr", "fifo_a", "fifo_b", "T/F0/frame_001.dng", "T/F1/plate_1.exr", "T/F1/clip.mov", "T/F2/plate_2.exr", "T/F3/plate_3.exr", "T/F1/plate_5.exr"]);
        // Each FIFO carried a file of the tree (more than a pipe holds): the same digest.
        expect(lines[1]!.split("  ")[0]).toBe(lines[0]!.split("  ")[0]);
        expect(lines[2]!.split("  ")[0]).toBe(lines[5]!.split("  ")[0]);
        expect(one.stderr.split("\n").filter(Boolean)).toHaveLength(3);
        expectAllSame(results);
      });

      test("FILE...: a name swapped between a file and a link to /dev/null while the list is hashed is read as whatever it is when opened, as --jobs 1 reads it", { timeout: 120_000 }, () => {
        const dir = join(root, "swap");
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, "reg"), randomBytes(300_000, 700));
        writeFileSync(join(dir, "x"), randomBytes(300_000, 700));
        // Each swap is one rename: the name is always a regular file of 300,000 bytes or the link.
        const swapper = Bun.spawn({
          cmd: [process.execPath, "-e", `const { linkSync, renameSync, symlinkSync, rmSync } = require("node:fs"); for (let i = 0; ; i++) { rmSync("t", { force: true }); if (i % 2) symlinkSync("/dev/null", "t"); else linkSync("reg", "t"); renameSync("t", "x"); }`],
          cwd: dir,
          stdout: "ignore",
          stderr: "ignore",
        });
        try {
          const list: string[] = [];
          for (let i = 0; i < 400; i++) list.push("swap/x", `T/F${i % 4}/plate_${i % 4}.exr`);
          const [file, empty] = [sum(["swap/reg"]).stdout.split("  ")[0], sum(["/dev/null"]).stdout.split("  ")[0]];
          for (const n of ["default", "1"]) {
            const result = run([...runner.command(t.name), ...t.args, ...jobsArgs(n), ...list], { cwd: root, timeoutMs: 60_000 });
            expect({ jobs: n, code: result.code, stderr: result.stderr, lines: result.stdout.trimEnd().split("\n").length }).toEqual({ jobs: n, code: 0, stderr: "", lines: 800 });
            const digests = new Set(
              result.stdout
                .trimEnd()
                .split("\n")
                .filter((l) => l.endsWith("  swap/x"))
                .map((l) => l.split("  ")[0]),
            );
            expect([...digests].filter((d) => d !== file && d !== empty)).toEqual([]);
          }
        } finally {
          swapper.kill("SIGKILL");
        }
      });

      test("-c --root: every verdict in line order, a missing and an unreadable file named and counted, the same for every N", { timeout: 120_000 }, () => {
        const lines = sum(["-r", "--jobs", "1", "T"]).stdout.trimEnd().split("\n");
        const hex = lines[0]!.split("  ")[0]!;
        // A file that is not there in the middle of the manifest, the unreadable one at its end.
        const manifest = [...lines.slice(0, 200), `${hex}  F9/gone.dng`, ...lines.slice(200), `${hex}  F2/locked.dng`, ""].join("\n");
        const results = JOBS.map((n) => sum(["-c", ...jobsArgs(n), "--root", "T", "-"], manifest));
        const one = results[0]!;
        expect(one.code).toBe(1);
        const verdicts = one.stdout.trimEnd().split("\n");
        expect(verdicts.filter((l) => l.endsWith(": OK"))).toHaveLength(370);
        if (t.name === "b3sum-ts") {
          expect(verdicts[200]).toBe("F9/gone.dng: FAILED (No such file or directory (os error 2))");
          expect(verdicts.at(-1)).toBe(`F2/locked.dng: FAILED (${denied})`);
          expect(one.stderr).toBe("");
        } else {
          // xxhsum says it in its place on stdout, and counts at the end.
          expect(verdicts[200]).toBe("stdin:201: Could not open or read 'F9/gone.dng': No such file or directory.");
          expect(verdicts.slice(-2)).toEqual(["stdin:372: Could not open or read 'F2/locked.dng': Permission denied.", "2 listed files could not be read"]);
          expect(one.stderr).toBe("");
        }
        expectAllSame(results);
      });
    });
  }
}
