/**
 * xxsum against what xxHash's own CLI tests check (the Makefile's `check`, `test-xxhsum-c`
 * and `test-xxh-nnn-sums`, and tests/*.sh), case by case beside the installed xxhsum 0.8.1, and
 * the drop-in's remaining differences: the xxh32sum/xxh64sum/xxh128sum/xxh3sum names (through
 * real links to the binary), stdin read from where it stands, a byte order mark, a line too
 * long, the benchmark's option forms, -V on stderr, a check file that is missing or a folder.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { anchor, COMPILED, ROOT, run, runners, tempDir, tool, type RunResult } from "./helpers.ts";

const XXHSUM = anchor("xxhsum");
const seen = (r: RunResult) => ({ stdout: Buffer.from(r.stdoutBytes).toString("latin1"), code: r.code });

/** A small tree like the one xxHash's tests run in: a README, a Makefile, a LICENSE. */
function makeTree(): string {
  const dir = tempDir("cartkit-xxup-");
  writeFileSync(join(dir, "README.md"), "# xxHash\nExtremely fast hash algorithm\n".repeat(50));
  writeFileSync(join(dir, "Makefile"), "all:\n\techo xxhsum\n".repeat(40));
  writeFileSync(join(dir, "LICENSE"), "BSD 2-Clause License\n");
  writeFileSync(join(dir, "xxhash.c"), "int main(void) { return 0; }\n".repeat(300));
  writeFileSync(join(dir, "xxhash.h"), "#define XXH_VERSION 801\n");
  return dir;
}

const TEST_FILES = ["README.md", "Makefile", "LICENSE", "xxhash.c", "xxhash.h"];

for (const runner of runners()) {
  describe(`xxsum against xxHash's CLI tests (${runner.label})`, () => {
    const dir = makeTree();
    const ours = (args: string[], stdin?: string | Uint8Array) => tool(runner, "xxsum", args, { cwd: dir, stdin });
    const theirs = (args: string[], stdin?: string | Uint8Array) => run([XXHSUM!, ...args], { cwd: dir, stdin });
    const same = (args: string[], stdin?: string | Uint8Array) => {
      const result = ours(args, stdin);
      if (XXHSUM) expect({ args, ...seen(result) }).toEqual({ args, ...seen(theirs(args, stdin)) });
      return result;
    };
    const sh = (command: string) => run(["sh", "-c", command], { cwd: dir, env: { XXSUM: runner.command("xxsum").join(" ") } });

    test("make check: stdin, many files, each algorithm, XXH3 tagged, a bad -H refused", { timeout: 60_000 }, () => {
      same([], "int main(void) { return 0; }\n");
      same(["xxhash.c", "xxhash.h"]);
      same(["-H0", "xxhash.c"]);
      same(["-H2", "xxhash.c"]);
      expect(same(["-H3", "xxhash.c"]).stdout).toStartWith("XXH3 (xxhash.c) = ");
      // A bad variant: refused (ours exits 2, a usage error; xxhsum 1).
      expect(ours(["-H9", "xxhash.c"])).toMatchObject({ code: 2, stdout: "" });
      if (XXHSUM) expect(theirs(["-H9", "xxhash.c"]).code).toBe(1);
    });

    test("make check: the benchmark forms -bi0, --benchmark-all -i0, -b1,2,3 -i0 and -bi0 FILE are accepted", { timeout: 60_000 }, () => {
      const ids = (r: RunResult) =>
        r.stderr
          .trimEnd()
          .split("\n")
          .map((l) => Number(/^ *(\d+)#/.exec(l)![1]));
      const quick = ours(["-bi0"]);
      expect({ code: quick.code, stdout: quick.stdout, ids: ids(quick) }).toEqual({ code: 0, stdout: "", ids: [1, 3, 5, 11] });
      const all = ours(["--benchmark-all", "-i0"]);
      expect({ code: all.code, ids: ids(all) }).toEqual({ code: 0, ids: Array.from({ length: 28 }, (_, i) => i + 1) });
      expect(all.stderr).toContain(` 7#${"XXH3_64b w/seed".padEnd(29)} :     102400 -> not measured (xxsum computes unseeded digests only)\n`);
      expect(all.stderr).toMatch(/ 2#XXH32 unaligned {14} : {5}102400 -> +\d+ it\/s \( *\d+\.\d MB\/s\) \n/);
      const some = ours(["-b1,2,3", "-i0"]);
      expect({ code: some.code, ids: ids(some) }).toEqual({ code: 0, ids: [1, 2, 3] });
      const file = ours(["-bi0", "xxhash.c"]);
      expect({ code: file.code, ids: ids(file) }).toEqual({ code: 0, ids: [1, 3, 5, 11] });
      expect(file.stderr).toContain(` 1#XXH32                         :       ${"int main(void) { return 0; }\n".length * 300} -> `);
      if (XXHSUM) for (const args of [["-bi0"], ["-b1,2,3", "-i0"], ["-bi0", "xxhash.c"]]) expect({ args, code: theirs(args).code }).toEqual({ args, code: 0 });
      // -i0 without -b only sets the benchmark's rounds: the files are hashed.
      same(["-i0", "LICENSE"]);
    });

    test("make test-xxhsum-c: sums to and from pipes and files in every style, and the lines xxhsum rejects", { timeout: 120_000 }, () => {
      const variants: Array<[string, string[]]> = [
        [".test.xxh64", []],
        [".test.xxh64_tag", ["--tag"]],
        [".test.le_xxh64", ["--little-endian"]],
        [".test.le_xxh64_tag", ["--tag", "--little-endian"]],
        [".test.xxh32", ["-H0"]],
        [".test.xxh32_tag", ["-H0", "--tag"]],
        [".test.le_xxh32", ["-H0", "--little-endian"]],
        [".test.le_xxh32_tag", ["-H0", "--tag", "--little-endian"]],
        [".test.xxh128", ["-H2"]],
        [".test.xxh128_tag", ["-H2", "--tag"]],
        [".test.le_xxh128", ["-H2", "--little-endian"]],
        [".test.le_xxh128_tag", ["-H2", "--tag", "--little-endian"]],
        [".test.xxh3", ["-H3"]],
        [".test.xxh3_tag", ["-H3", "--tag"]],
        [".test.le_xxh3", ["-H3", "--little-endian"]],
        [".test.le_xxh3_tag", ["-H3", "--tag", "--little-endian"]],
      ];
      for (const [file, flags] of variants) writeFileSync(join(dir, file), same([...flags, ...TEST_FILES]).stdoutBytes);
      // to and from a pipe
      expect(same(["-c", "-"], same(TEST_FILES).stdout).code).toBe(0);
      expect(same(["-c", "-"], same(["-H0", ...TEST_FILES]).stdout).code).toBe(0);
      // a sum of stdin, checked with the same bytes on stdin (xxHash #470)
      writeFileSync(join(dir, ".test.README.md.xxh"), same([], "from stdin\n").stdout);
      expect(same(["-c", ".test.README.md.xxh"], "from stdin\n")).toMatchObject({ code: 0, stdout: "stdin: OK\n" });
      // every style read back, big- and little-endian
      const big = variants
        .map(([f]) => f)
        .filter((f) => !f.includes("le_"))
        .sort();
      const little = variants
        .map(([f]) => f)
        .filter((f) => f.includes("le_"))
        .sort();
      expect(same(["-c", ...big]).code).toBe(0);
      expect(same(["-c", "--little-endian", ...little]).code).toBe(0);
      expect(same(["-c", ...variants.map(([f]) => f).filter((f) => f.endsWith("_tag"))]).code).toBe(0);
      for (const f of [".test.xxh32", ".test.xxh64", ".test.xxh128", ".test.xxh3"]) expect(same(["-c"], readFileSync(join(dir, f))).code).toBe(0);
      expect(same(["-c", "-"], big.map((f) => readFileSync(join(dir, f), "latin1")).join("")).code).toBe(0);
      // '*' as the second separator
      expect(same(["-c"], readFileSync(join(dir, ".test.xxh32"), "latin1").replaceAll("  ", " *")).code).toBe(0);
      // tagged output names its algorithm
      for (const [flags, tagName] of [
        [["--tag"], "XXH64"],
        [["--tag", "-H0"], "XXH32"],
        [["--tag", "-H2"], "XXH128"],
        [["-H3"], "XXH3"],
        [["--tag", "-H32", "--little-endian"], "XXH32_LE"],
        [["-H3", "--little-endian"], "XXH3_LE"],
      ] as const) {
        expect(same([...flags, "LICENSE"]).stdout).toStartWith(`${tagName} (LICENSE) = `);
      }
      expect(same(["-c"], same(["--tag", "-H32", "--little-endian", ...TEST_FILES]).stdout).code).toBe(0);
      // improperly formatted lines are counted
      writeFileSync(join(dir, ".bad.xxh32"), `${readFileSync(join(dir, ".test.xxh32"), "latin1")}12345678 \n`);
      expect(same(["-c", ".bad.xxh32"]).stdout).toContain("1 line is improperly formatted\n");
      writeFileSync(join(dir, ".bad.xxh64"), `${readFileSync(join(dir, ".test.xxh64"), "latin1")}123456789  file\n`);
      expect(same(["-c", ".bad.xxh64"]).stdout).toContain("1 line is improperly formatted\n");
      // FAILED, and FAILED to open
      expect(same(["-c", "-"], "0000000000000000  LICENSE\n").code).toBe(1);
      expect(same(["-c", "-"], "00000000  LICENSE\n").code).toBe(1);
      expect(same(["-c", "-"], "0000000000000000  test-expects-file-not-found\n").code).toBe(1);
      expect(same(["-c", "-"], "00000000  test-expects-file-not-found\n").code).toBe(1);
      // a file that cannot be opened is named on stderr (our wording: 'xxsum: NAME: reason')
      expect(ours(["nonexistent"])).toMatchObject({ code: 1, stdout: "", stderr: "xxsum: nonexistent: No such file or directory\n" });
    });

    test("tests/cli-comment-line.sh: a comment line is improperly formatted, and only --strict fails on it", { timeout: 60_000 }, () => {
      for (const flags of [[], ["-H32"], ["-H64"], ["-H128"]]) {
        writeFileSync(join(dir, ".test.comment"), `# Test comment line\n${same([...flags, "Makefile"]).stdout}`);
        expect(same(["--check", ".test.comment"])).toMatchObject({ code: 0, stdout: "Makefile: OK\n1 line is improperly formatted\n" });
        expect(same(["--check", "--strict", ".test.comment"]).code).toBe(1);
      }
    });

    test("tests/cli-ignore-missing.sh: a missing file fails; --ignore-missing passes unless nothing was verified", { timeout: 60_000 }, () => {
      writeFileSync(join(dir, ".test.makefile"), "copy of the makefile");
      writeFileSync(join(dir, ".test.ignore"), ours(["Makefile", ".test.makefile"]).stdout);
      writeFileSync(join(dir, ".test.only"), ours([".test.makefile"]).stdout);
      rmSync(join(dir, ".test.makefile"));
      expect(ours(["--check", ".test.ignore"]).code).toBe(1);
      expect(ours(["--check", "--ignore-missing", ".test.ignore"])).toMatchObject({ code: 0, stdout: "Makefile: OK\n" });
      expect(ours(["--check", "--ignore-missing", ".test.only"])).toMatchObject({ code: 1, stderr: "xxsum: .test.only: no file was verified\n" });
    });

    test("tests/filename-escape.sh: a name with a newline is written escaped and checks back (xxhsum 0.8.1 writes it raw)", { timeout: 60_000 }, () => {
      writeFileSync(join(dir, "filename-escape-foo\nbar"), "filename-escape-test-string\n");
      for (const flags of [[], ["--tag"]]) {
        const line = ours([...flags, "filename-escape-foo\nbar"]).stdout;
        expect(line).toStartWith(flags.length ? "\\XXH64 (filename-escape-foo\\nbar) = " : "\\");
        expect(line.split("\n").length).toBe(2);
        expect(ours(["-c"], line)).toMatchObject({ code: 0, stdout: "\\filename-escape-foo\\nbar: OK\n" });
      }
    });

    test("'-' reads stdin from where it stands: the rest of a file after a shell read", { timeout: 60_000 }, () => {
      writeFileSync(join(dir, "two.txt"), "line1\nrest of file\n");
      const rest = sh(`{ read -r line; $XXSUM -; } < two.txt`);
      expect(rest.stdout).toBe(`${ours([], "rest of file\n").stdout}`);
      if (XXHSUM) expect(seen(rest)).toEqual(seen(run(["sh", "-c", `{ read -r line; '${XXHSUM}' -; } < two.txt`], { cwd: dir })));
      // Twice: the whole file, then nothing left (xxhsum reads stdin once for '- -': a documented difference).
      const twice = sh(`$XXSUM - - < two.txt`);
      expect(twice.stdout).toBe(`${ours([], "line1\nrest of file\n").stdout}${ours([], "").stdout}`);
      if (XXHSUM) expect(twice.stdout.startsWith(run(["sh", "-c", `'${XXHSUM}' - - < two.txt`], { cwd: dir }).stdout)).toBe(true);
    });

    test("a check file starting with a byte order mark: its first line is improperly formatted, the rest checked", { timeout: 60_000 }, () => {
      const sums = ours(["LICENSE", "Makefile"]).stdout;
      writeFileSync(join(dir, "bom.xxh"), `\ufeff${sums}`);
      expect(same(["-c", "bom.xxh"])).toMatchObject({ code: 0, stdout: "Makefile: OK\n1 line is improperly formatted\n" });
      expect(same(["-c", "--strict", "bom.xxh"]).code).toBe(1);
      expect(ours(["-c", "-w", "bom.xxh"]).stderr).toBe("bom.xxh:1: Error: Improperly formatted checksum line.\n");
    });

    test("a check line of 32,767 bytes or more is 'Line too long' and ends that file, exit 1; 32,766 is read", { timeout: 60_000 }, () => {
      const line = (length: number) => `e4c191d091bd8853  ${"a".repeat(length - 18)}\n`;
      writeFileSync(join(dir, "a.txt"), "hello\n");
      for (const length of [32_766, 32_767, 100_000]) {
        writeFileSync(join(dir, "long.xxh"), `${line(length)}e4c191d091bd8853  a.txt\n`);
        const result = same(["-c", "long.xxh"]);
        if (length === 32_766) expect(result).toMatchObject({ code: 1, stdout: `long.xxh:1: Could not open or read '${"a".repeat(length - 18)}': File name too long.\na.txt: OK\n1 listed file could not be read\n` });
        else expect(result).toMatchObject({ code: 1, stdout: "", stderr: "long.xxh:1: Error: Line too long.\nlong.xxh: no properly formatted xxHash checksum lines found\n" });
      }
      // Lines before the long one are checked and counted.
      writeFileSync(join(dir, "long.xxh"), `e4c191d091bd8853  a.txt\n${line(40_000)}e4c191d091bd8853  a.txt\n`);
      expect(same(["-c", "long.xxh"])).toMatchObject({ code: 1, stdout: "a.txt: OK\n", stderr: "long.xxh:2: Error: Line too long.\n" });
    });

    test("-V and --version print on stderr, exit 0; --help prints on stdout (a documented difference)", { timeout: 60_000 }, () => {
      for (const flag of ["-V", "--version"]) {
        const result = ours([flag]);
        expect(result).toMatchObject({ code: 0, stdout: "" });
        expect(result.stderr).toMatch(/^xxsum \d+\.\d+\.\d+\n$/);
        if (XXHSUM) expect(theirs([flag])).toMatchObject({ code: 0, stdout: "" });
      }
      expect(ours(["--help"]).stdout).toContain("Differences from xxhsum 0.8.1");
    });

    test("a check file that is missing or a folder fails with exit 1, as xxhsum's does; the next one is checked", { timeout: 60_000 }, () => {
      mkdirSync(join(dir, "folder"), { recursive: true });
      writeFileSync(join(dir, "one.xxh"), ours(["LICENSE"]).stdout);
      expect(ours(["-c", "nope.xxh"])).toMatchObject({ code: 1, stdout: "", stderr: "xxsum: nope.xxh: No such file or directory\n" });
      expect(ours(["-c", "folder"])).toMatchObject({ code: 1, stdout: "", stderr: "xxsum: folder: Is a directory\n" });
      expect(ours(["-c", "nope.xxh", "one.xxh"])).toMatchObject({ code: 1, stdout: "LICENSE: OK\n" });
      if (XXHSUM)
        for (const args of [
          ["-c", "nope.xxh"],
          ["-c", "folder"],
          ["-c", "nope.xxh", "one.xxh"],
        ])
          expect({ args, ...seen(ours(args)) }).toEqual({ args, ...seen(theirs(args)) });
    });
  });
}

describe("xxh32sum, xxh64sum, xxh128sum, xxh3sum: links to dist/xxsum pick the algorithm (make test-xxh-nnn-sums)", () => {
  const dir = makeTree();
  const names = ["xxh32sum", "xxh64sum", "xxh128sum", "xxh3sum"] as const;
  const links = join(dir, "bin");
  mkdirSync(links);
  for (const name of names) symlinkSync(join(ROOT, "dist", "xxsum"), join(links, name));
  const anchorLinks = join(dir, "anchor-bin");
  mkdirSync(anchorLinks);
  if (XXHSUM) for (const name of names) symlinkSync(XXHSUM, join(anchorLinks, name));
  const via = (name: string, args: string[]) => run([join(links, name), ...args], { cwd: dir });

  test("each name hashes with its algorithm, as xxhsum called so does (xxh3sum as -H3)", { timeout: 60_000 }, () => {
    const expected = {
      xxh32sum: tool(COMPILED, "xxsum", ["-H0", "README.md"], { cwd: dir }).stdout,
      xxh64sum: tool(COMPILED, "xxsum", ["-H1", "README.md"], { cwd: dir }).stdout,
      xxh128sum: tool(COMPILED, "xxsum", ["-H2", "README.md"], { cwd: dir }).stdout,
      xxh3sum: tool(COMPILED, "xxsum", ["-H3", "README.md"], { cwd: dir }).stdout,
    };
    for (const name of names) {
      const result = via(name, ["README.md"]);
      expect({ name, code: result.code, stdout: result.stdout }).toEqual({ name, code: 0, stdout: expected[name] });
      // xxhsum 0.8.1 knows the first three names; the fourth it hashes as XXH64.
      if (XXHSUM && name !== "xxh3sum") expect(result.stdout).toBe(run([join(anchorLinks, name), "README.md"], { cwd: dir }).stdout);
    }
    expect(expected.xxh3sum).toStartWith("XXH3 (README.md) = ");
    // An explicit -H still wins over the name.
    expect(via("xxh32sum", ["-H2", "README.md"]).stdout).toBe(expected.xxh128sum);
  });

  test("each name checks every algorithm's lines, as xxhsum 0.8.1's links do", { timeout: 60_000 }, () => {
    for (const name of names) writeFileSync(join(dir, `tmp.${name}.out`), via(name, ["README.md"]).stdout);
    writeFileSync(join(dir, "tmp.xxhsum.out"), tool(COMPILED, "xxsum", ["README.md"], { cwd: dir }).stdout);
    for (const checker of names) {
      for (const file of ["xxhsum", ...names]) {
        const result = via(checker, ["-c", `tmp.${file}.out`]);
        expect({ checker, file, code: result.code, stdout: result.stdout }).toEqual({ checker, file, code: 0, stdout: "README.md: OK\n" });
        if (XXHSUM && checker !== "xxh3sum") expect(seen(result)).toEqual(seen(run([join(anchorLinks, checker), "-c", `tmp.${file}.out`], { cwd: dir })));
      }
    }
  });
});
