/**
 * b3sum-ts against what b3sum's own CLI tests check (BLAKE3-team/BLAKE3 b3sum/tests/cli_tests.rs),
 * case by case beside the installed b3sum 1.2, and the drop-in's remaining differences: a file
 * named with bytes that are not UTF-8, stdin read from where it stands, a check file starting
 * with a byte order mark, --num-threads that is not a number. Where b3sum 1.2 is the contract,
 * stdout bytes and exit codes are compared with it; where we differ on purpose (usage errors
 * exit 2, stderr wording) the test says so.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { blake3 as blake3Hash, Blake3Hasher } from "@napi-rs/blake-hash";
import { anchor, run, runners, tempDir, tool, type RunResult } from "./helpers.ts";

const B3SUM = anchor("b3sum");
const hex = (data: string | Uint8Array) => blake3Hash(Buffer.from(data)).toString("hex");

/** What to compare with the anchor: stdout as bytes and the exit code. */
const seen = (r: RunResult) => ({ stdout: Buffer.from(r.stdoutBytes).toString("hex"), code: r.code });

for (const runner of runners()) {
  describe(`b3sum-ts against b3sum's CLI tests (${runner.label})`, () => {
    const dir = tempDir("cartkit-b3up-");
    writeFileSync(join(dir, "file1"), "foo");
    writeFileSync(join(dir, "file2"), "bar");
    const ours = (args: string[], options: { stdin?: string | Uint8Array; cwd?: string } = {}) => tool(runner, "b3sum-ts", args, { cwd: options.cwd ?? dir, stdin: options.stdin });
    const theirs = (args: string[], options: { stdin?: string | Uint8Array; cwd?: string } = {}) => run([B3SUM!, ...args], { cwd: options.cwd ?? dir, stdin: options.stdin });
    const same = (args: string[], options: { stdin?: string | Uint8Array; cwd?: string } = {}) => {
      const result = ours(args, options);
      if (B3SUM) expect({ args, ...seen(result) }).toEqual({ args, ...seen(theirs(args, options)) });
      return result;
    };

    test("one input from stdin, hex and --raw", { timeout: 60_000 }, () => {
      expect(same([], { stdin: "foo" }).stdout).toBe(`${hex("foo")}  -\n`);
      expect(Buffer.from(same(["--raw"], { stdin: "foo" }).stdoutBytes).toString("hex")).toBe(hex("foo"));
    });

    test("many files by absolute path, with and without names; a missing file fails but the rest are hashed", { timeout: 60_000 }, () => {
      const [f1, f2] = [join(dir, "file1"), join(dir, "file2")];
      expect(same([f1, f2]).stdout).toBe(`${hex("foo")}  ${f1}\n${hex("bar")}  ${f2}\n`);
      expect(same(["--no-names", f1, f2]).stdout).toBe(`${hex("foo")}\n${hex("bar")}\n`);
      const missing = same(["file1", "missing_file", "file2"]);
      expect(missing).toMatchObject({ code: 1, stdout: `${hex("foo")}  file1\n${hex("bar")}  file2\n` });
      // The stderr line: b3sum's wording but our tool's name (a documented difference).
      expect(missing.stderr).toBe("b3sum-ts: missing_file: No such file or directory (os error 2)\n");
    });

    test("--length: extended output as hex and raw; a missing value is an error", { timeout: 60_000 }, () => {
      const raw100 = Buffer.from(same(["--raw", "--length=100"], { stdin: "foo" }).stdoutBytes);
      expect(raw100.length).toBe(100);
      expect(Buffer.from(same(["--raw", "--length=99"], { stdin: "foo" }).stdoutBytes)).toEqual(raw100.subarray(0, 99));
      expect(same(["--length=100"], { stdin: "foo" }).stdout).toBe(`${raw100.toString("hex")}  -\n`);
      const noValue = ours(["--length"], { stdin: "foo" });
      expect(noValue.code).not.toBe(0);
      expect(noValue.stdout).toBe("");
      if (B3SUM) expect(theirs(["--length"], { stdin: "foo" }).code).not.toBe(0);
    });

    test("--keyed reads exactly 32 key bytes from stdin; other lengths are refused, naming the key bytes", { timeout: 60_000 }, () => {
      const key = Buffer.alloc(32, 42);
      expect(same(["--keyed", "--no-names", "file1"], { stdin: key }).stdout).toBe(`${keyed(key, "foo")}\n`);
      for (const length of [0, 1, 31, 33]) {
        const result = ours(["--keyed", "file1"], { stdin: Buffer.alloc(length) });
        expect({ length, code: result.code, stdout: result.stdout }).toEqual({ length, code: 2, stdout: "" });
        expect(result.stderr).toContain("key bytes");
        // b3sum refuses too, with its exit code for every error: 1.
        if (B3SUM) expect(theirs(["--keyed", "file1"], { stdin: Buffer.alloc(length) }).code).toBe(1);
      }
    });

    test("--derive-key and --no-mmap", { timeout: 60_000 }, () => {
      writeFileSync(join(dir, "material"), "key material");
      const context = "BLAKE3 2019-12-28 10:28:41 example context";
      expect(same(["--derive-key", context, "--no-names", "material"]).code).toBe(0);
      expect(same(["--no-mmap", "--no-names", "file1"]).stdout).toBe(`${hex("foo")}\n`);
    });

    test("--raw with more than one file is an error; with one it is not", { timeout: 60_000 }, () => {
      expect(same(["--raw", "file1"]).code).toBe(0);
      const two = ours(["--raw", "file1", "file2"]);
      expect(two).toMatchObject({ code: 2, stdout: "", stderr: "b3sum-ts: --raw writes one digest: give exactly one input\n" });
      if (B3SUM) expect(theirs(["--raw", "file1", "file2"]).code).toBe(1);
    });

    test("names with a newline or backslash are escaped as b3sum 1.2 escapes them", { timeout: 60_000 }, () => {
      const names = ["abcdef", "abc\ndef", "abc\\def", "abc\rdef", "abc\r\ndef", "subdir/foo"];
      const escDir = join(dir, "escapes");
      mkdirSync(join(escDir, "subdir"), { recursive: true });
      for (const name of names) writeFileSync(join(escDir, name), "");
      const e = hex("");
      expect(same(names, { cwd: escDir }).stdout).toBe(`${e}  abcdef\n\\${e}  abc\\ndef\n\\${e}  abc\\\\def\n${e}  abc\rdef\n\\${e}  abc\r\\ndef\n${e}  subdir/foo\n`);
    });

    test("a FILE whose name is not UTF-8 is hashed and printed with U+FFFD, exit 0, as b3sum does", { timeout: 60_000 }, () => {
      const bad = Buffer.from("abc\xffdef", "latin1");
      const uniDir = join(dir, "unicode");
      mkdirSync(uniDir, { recursive: true });
      writeFileSync(join(uniDir, "abcdef"), "");
      writeFileSync(Buffer.concat([Buffer.from(`${uniDir}/`), bad]), "");
      // The argument reaches the tool as bytes, through a shell.
      const cmd = (bin: string[]) => run(["sh", "-c", `${bin.map((a) => `'${a}'`).join(" ")} abcdef "$(printf 'abc\\377def')"`], { cwd: uniDir });
      const mine = cmd(runner.command("b3sum-ts"));
      expect(mine).toMatchObject({ code: 0, stderr: "", stdout: `${hex("")}  abcdef\n${hex("")}  abc\ufffddef\n` });
      if (B3SUM) expect(seen(mine)).toEqual(seen(cmd([B3SUM])));
    });

    test("check: stdin, twice, corrupted and deleted files, --quiet (stdout and exit as b3sum 1.2)", { timeout: 60_000 }, () => {
      const checkDir = join(dir, "check");
      mkdirSync(join(checkDir, "c"), { recursive: true });
      writeFileSync(join(checkDir, "a"), "a");
      writeFileSync(join(checkDir, "b"), "b");
      writeFileSync(join(checkDir, "c", "d"), "cd");
      const at = { cwd: checkDir };
      const checkfile = same(["a", "b", "c/d"], at).stdout;
      expect(checkfile).toBe(`${hex("a")}  a\n${hex("b")}  b\n${hex("cd")}  c/d\n`);
      const okLines = "a: OK\nb: OK\nc/d: OK\n";
      expect(same(["--check"], { ...at, stdin: checkfile })).toMatchObject({ code: 0, stdout: okLines, stderr: "" });
      writeFileSync(join(checkDir, "checkfile"), checkfile);
      expect(same(["--check", "checkfile", "checkfile"], at)).toMatchObject({ code: 0, stdout: okLines + okLines });
      writeFileSync(join(checkDir, "b"), "CORRUPTION");
      expect(same(["--check", "checkfile"], at)).toMatchObject({ code: 1, stdout: "a: OK\nb: FAILED\nc/d: OK\n" });
      rmSync(join(checkDir, "b"));
      expect(same(["--check", "checkfile"], at)).toMatchObject({ code: 1, stdout: "a: OK\nb: FAILED (No such file or directory (os error 2))\nc/d: OK\n" });
      expect(same(["--check", "--quiet", "checkfile"], at)).toMatchObject({ code: 1, stdout: "b: FAILED (No such file or directory (os error 2))\n" });
      // Windows line ends: b3sum 1.2 keeps the '\r' in the name (later b3sum strips it).
      expect(same(["--check"], { ...at, stdin: checkfile.replaceAll("\n", "\r\n") }).code).toBe(1);
    });

    test("check refuses a NUL, U+FFFD and an invalid escape in a path", { timeout: 60_000 }, () => {
      const zeros = "0".repeat(64);
      for (const [line, reason] of [
        [`${zeros}  \0`, "Null character in path"],
        [`${zeros}  \ufffd`, "Unicode replacement character in path"],
        [`\\${zeros}  \\a`, "Invalid backslash escape"],
      ] as const) {
        const result = same(["--check"], { stdin: line });
        expect({ reason, code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({ reason, code: 1, stdout: "", stderr: `b3sum-ts: -:1: ${reason}\n` });
      }
    });

    test("shell globbing hands the files over in order", { timeout: 60_000 }, () => {
      const globDir = join(dir, "glob");
      mkdirSync(globDir, { recursive: true });
      writeFileSync(join(globDir, "file1"), "foo");
      writeFileSync(join(globDir, "file2"), "bar");
      const cmd = (bin: string[]) => run(["sh", "-c", `${bin.map((a) => `'${a}'`).join(" ")} *`], { cwd: globDir });
      const mine = cmd(runner.command("b3sum-ts"));
      expect(mine.stdout).toBe(`${hex("foo")}  file1\n${hex("bar")}  file2\n`);
      if (B3SUM) expect(seen(mine)).toEqual(seen(cmd([B3SUM])));
    });

    test("'-' reads stdin from where it stands: the rest of a file after a shell read, nothing the second time", { timeout: 60_000 }, () => {
      writeFileSync(join(dir, "two.txt"), "line1\nrest of file\n");
      const cmd = (bin: string[], args: string) => run(["sh", "-c", `{ read -r line; ${bin.map((a) => `'${a}'`).join(" ")} ${args}; } < two.txt`], { cwd: dir });
      const rest = cmd(runner.command("b3sum-ts"), "-");
      expect(rest).toMatchObject({ code: 0, stdout: `${hex("rest of file\n")}  -\n` });
      const twice = run(
        [
          "sh",
          "-c",
          `${runner
            .command("b3sum-ts")
            .map((a) => `'${a}'`)
            .join(" ")} - - < two.txt`,
        ],
        { cwd: dir },
      );
      expect(twice.stdout).toBe(`${hex("line1\nrest of file\n")}  -\n${hex("")}  -\n`);
      if (B3SUM) {
        expect(seen(rest)).toEqual(seen(cmd([B3SUM], "-")));
        expect(twice.stdout).toBe(run(["sh", "-c", `'${B3SUM}' - - < two.txt`], { cwd: dir }).stdout);
      }
    });

    test("a check file starting with a byte order mark: that line is refused (Non-ASCII prefix), the rest checked, exit 1", { timeout: 60_000 }, () => {
      writeFileSync(join(dir, "bom.b3"), `\ufeff${hex("foo")}  file1\n${hex("bar")}  file2\n`);
      const result = same(["-c", "bom.b3"]);
      expect(result).toMatchObject({ code: 1, stdout: "file2: OK\n", stderr: "b3sum-ts: bom.b3:1: Non-ASCII prefix\n" });
    });

    test("--num-threads must be a whole number (a usage error, exit 2; b3sum exits 1); 0 and +2 are taken as b3sum takes them", { timeout: 60_000 }, () => {
      const bad = ours(["--num-threads=abc", "file1"]);
      expect(bad).toMatchObject({ code: 2, stdout: "", stderr: "b3sum-ts: invalid value 'abc' for --num-threads; expected a whole number (it changes nothing here: use --jobs N)\n" });
      if (B3SUM) expect(theirs(["--num-threads=abc", "file1"])).toMatchObject({ code: 1, stdout: "" });
      for (const value of ["0", "+2", "4"]) same([`--num-threads=${value}`, "file1"]);
    });
  });
}

function keyed(key: Uint8Array, text: string): string {
  const hasher = Blake3Hasher.newKeyed(Buffer.from(key));
  hasher.update(Buffer.from(text));
  return Buffer.from(hasher.digestBuffer()).toString("hex");
}
