/**
 * xxsum, run from source and as the compiled binary: byte-identical stdout to xxhsum 0.8.1
 * (where installed) for every algorithm and line style, stdin, and check files with good, bad,
 * missing and malformed lines; the safe difference for newlines in names; exit codes.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { anchor, run, runners, tempDir, tool, type RunResult } from "./helpers.ts";

const XXHSUM = anchor("xxhsum");

/** Names xxhsum writes safely (a newline in a name is the one documented difference). */
const NAMES = ["a.txt", "empty", "sp ace.txt", "back\\slash", "car\rret", "héllo_日本.txt", "tab\there", "(paren) x.mov"];

function makeTree(): string {
  const dir = tempDir("cartkit-xx-");
  writeFileSync(join(dir, "a.txt"), "hello\n");
  writeFileSync(join(dir, "empty"), "");
  for (const name of NAMES.slice(2)) writeFileSync(join(dir, name), `content of ${name}`);
  writeFileSync(join(dir, "new\nline"), "y");
  mkdirSync(join(dir, "dir"));
  return dir;
}

const FLAG_SETS = [[], ["-H0"], ["-H32"], ["-H1"], ["-H64"], ["-H2"], ["-H128"], ["-H3"], ["-H"], ["--tag"], ["--tag", "-H0"], ["--tag", "-H2"], ["--little-endian"], ["--little-endian", "-H0"], ["--little-endian", "-H2"], ["--little-endian", "-H3"], ["--tag", "--little-endian", "-H1"], ["-H3", "-H1"], ["-q", "-H2"]];

for (const runner of runners()) {
  describe(`xxsum (${runner.label})`, () => {
    const dir = makeTree();
    const xx = (args: string[], stdin?: string): RunResult => tool(runner, "xxsum", args, { cwd: dir, stdin });

    test("known digests and line styles for every algorithm", () => {
      expect(xx(["-H0", "a.txt"]).stdout).toBe("946b5bf9  a.txt\n");
      expect(xx(["a.txt"]).stdout).toBe("e4c191d091bd8853  a.txt\n");
      expect(xx(["-H2", "a.txt"]).stdout).toBe("6bba86c7e069f56d5a10b435f1c8e49c  a.txt\n");
      expect(xx(["-H3", "a.txt"]).stdout).toBe("XXH3 (a.txt) = 99fc819aaba2462a\n");
      expect(xx(["--tag", "--little-endian", "-H2", "a.txt"]).stdout).toBe("XXH128_LE (a.txt) = 9ce4c8f135b4105a6df569e0c786ba6b\n");
      expect(xx(["-"], "hello\n").stdout).toBe("e4c191d091bd8853  stdin\n");
      expect(xx([], "hello\n").stdout).toBe("e4c191d091bd8853  stdin\n");
    });

    test.skipIf(!XXHSUM)("stdout and exit code equal xxhsum's for every algorithm and style", { timeout: 120_000 }, () => {
      for (const flags of FLAG_SETS) {
        for (const [args, stdin] of [
          [[...flags, ...NAMES], undefined],
          [[...flags, "-"], "piped\n"],
          [[...flags, "a.txt", "missing", "dir", "empty"], undefined],
        ] as const) {
          const ours = xx([...args], stdin);
          const theirs = run([XXHSUM!, ...args], { cwd: dir, stdin });
          expect({ args, stdout: ours.stdout, code: ours.code }).toEqual({ args, stdout: theirs.stdout, code: theirs.code });
        }
      }
    });

    test("a name holding a newline is written escaped and checks back OK", () => {
      const result = xx(["new\nline", "back\\slash"]);
      expect(result.stdout.split("\n")[0]).toBe("\\dbf1f80caec65898  new\\nline".replace("dbf1f80caec65898", result.stdout.slice(1, 17)));
      expect(result.stdout).toMatch(/^\\[0-9a-f]{16} {2}new\\nline\n[0-9a-f]{16} {2}back\\slash\n$/);
      writeFileSync(join(dir, "nl.xxh"), result.stdout);
      expect(xx(["-c", "nl.xxh"])).toMatchObject({ code: 0, stdout: "\\new\\nline: OK\nback\\slash: OK\n" });
      const tagged = xx(["-H3", "new\nline"]).stdout;
      expect(tagged).toMatch(/^\\XXH3 \(new\\nline\) = [0-9a-f]{16}\n$/);
      writeFileSync(join(dir, "nl3.xxh"), tagged);
      expect(xx(["-c", "nl3.xxh"]).code).toBe(0);
    });

    test("check mode: every line style, mixed algorithms, failures and summary like xxhsum", () => {
      const lines = [
        "946b5bf9  a.txt",
        "e4c191d091bd8853  a.txt",
        "6BBA86C7E069F56D5A10B435F1C8E49C *a.txt",
        "XXH3 (a.txt) = 99fc819aaba2462a",
        "XXH64_LE (a.txt) = 5388bd91d091c1e4",
        "XXH3_LE (a.txt) = 2a46a2ab9a81fc99",
        "XXH32 (empty) = 02cc5d05",
        "0000000000000000  a.txt",
        "e4c191d091bd8853  missing",
        "garbage",
        "",
        "XXH32 (a.txt) = e4c191d091bd8853",
        "e4c191d091bd8853  a.txt\r",
      ];
      writeFileSync(join(dir, "mixed.xxh"), `${lines.join("\n")}\n`);
      const result = xx(["-c", "mixed.xxh"]);
      expect(result.stdout).toBe(
        [
          "a.txt: OK",
          "a.txt: OK",
          "a.txt: OK",
          "a.txt: OK",
          "a.txt: OK",
          "a.txt: OK",
          "empty: OK",
          "a.txt: FAILED",
          "mixed.xxh:9: Could not open or read 'missing': No such file or directory.",
          "mixed.xxh:13: Could not open or read 'a.txt\r': No such file or directory.",
          "3 lines are improperly formatted",
          "2 listed files could not be read",
          "1 computed checksum did NOT match",
          "",
        ].join("\n"),
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toBe("");
      if (XXHSUM) {
        for (const extra of [[], ["-q"], ["--status"], ["--strict"], ["-w"], ["--little-endian"]]) {
          const ours = xx(["-c", ...extra, "mixed.xxh"]);
          const theirs = run([XXHSUM, "-c", ...extra, "mixed.xxh"], { cwd: dir });
          expect({ extra, stdout: ours.stdout, code: ours.code }).toEqual({ extra, stdout: theirs.stdout, code: theirs.code });
        }
      }
      const warned = xx(["-c", "-w", "mixed.xxh"]);
      expect(warned.stderr).toBe(["mixed.xxh:10: Error: Improperly formatted checksum line.", "mixed.xxh:11: Error: Improperly formatted checksum line.", "mixed.xxh:12: Error: Improperly formatted checksum line.", ""].join("\n"));
    });

    test("malformed lines pass unless --strict; only malformed lines fail", () => {
      writeFileSync(join(dir, "m.xxh"), "e4c191d091bd8853  a.txt\ngarbage\n");
      expect(xx(["-c", "m.xxh"])).toMatchObject({ code: 0, stdout: "a.txt: OK\n1 line is improperly formatted\n" });
      expect(xx(["-c", "--strict", "m.xxh"]).code).toBe(1);
      writeFileSync(join(dir, "bad.xxh"), "garbage\n");
      expect(xx(["-c", "bad.xxh"])).toMatchObject({ code: 1, stdout: "", stderr: "bad.xxh: no properly formatted xxHash checksum lines found\n" });
      expect(xx(["-c"], "")).toMatchObject({ code: 1, stderr: "stdin: no properly formatted xxHash checksum lines found\n" });
      if (XXHSUM) {
        for (const args of [
          ["-c", "m.xxh"],
          ["-c", "--strict", "m.xxh"],
          ["-c", "bad.xxh"],
          ["-c", "--status", "m.xxh"],
          ["-c", "-q", "m.xxh"],
        ]) {
          const ours = xx(args);
          const theirs = run([XXHSUM, ...args], { cwd: dir });
          expect({ args, stdout: ours.stdout, code: ours.code }).toEqual({ args, stdout: theirs.stdout, code: theirs.code });
        }
      }
    });

    test("a folder listed in a check file is reported and checking goes on", () => {
      writeFileSync(join(dir, "d.xxh"), "e4c191d091bd8853  dir\ne4c191d091bd8853  a.txt\n");
      expect(xx(["-c", "d.xxh"])).toMatchObject({
        code: 1,
        stdout: "d.xxh:1: Could not open or read 'dir': Is a directory.\na.txt: OK\n1 listed file could not be read\n",
      });
    });

    test("errors: one stderr line each, processing continues; usage errors exit 2", () => {
      const result = xx(["a.txt", "missing", "dir"]);
      expect(result).toMatchObject({
        code: 1,
        stdout: "e4c191d091bd8853  a.txt\n",
        stderr: "xxsum: missing: No such file or directory\nxxsum: dir: Is a directory; use -r to hash the files in it\n",
      });
      expect(xx(["-H5", "a.txt"])).toMatchObject({ code: 2, stdout: "" });
      expect(xx(["-H5", "a.txt"]).stderr).toBe("xxsum: unknown hash algorithm '5'; use one of: xxh32, xxh64, xxh3, xxh128, blake3, md5, sha1, sha256, sha512, c4, crc32\n");
      expect(xx(["-Hsha256", "a.txt"]).stderr).toBe("xxsum: -H sha256: xxsum computes XXH32, XXH64, XXH3 and XXH128 only\n");
      expect(xx(["--frobnicate"])).toMatchObject({ code: 2, stderr: "xxsum: unrecognized option '--frobnicate'; see 'xxsum --help'\n" });
      // A check file that cannot be read fails as xxhsum's does: exit 1.
      expect(xx(["-c", "nope.xxh"])).toMatchObject({ code: 1, stderr: "xxsum: nope.xxh: No such file or directory\n" });
    });

    test("-b benchmarks each variant on stderr", () => {
      const result = xx(["-b3", "-i1", "-B4K"]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(/^ 3#XXH64 {24} : {7}4096 -> +\d+ it\/s \( *\d+\.\d MB\/s\) \n$/);
    });
  });
}
