/**
 * b3sum-ts, run from source and as the compiled binary: byte-identical stdout to b3sum 1.2
 * (where installed) for awkward names, stdin and check files with good, bad, missing and
 * malformed lines; the extensions; errors and exit codes.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { blake3 as blake3Hash } from "@napi-rs/blake-hash";
import { anchor, run, runners, tempDir, tool, type RunResult } from "./helpers.ts";

const B3SUM = anchor("b3sum");
const HELLO = "8e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99";
const EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

/** A folder of awkward names, shared by the tests below. */
function makeTree(): string {
  const dir = tempDir("cartkit-b3-");
  const files: Record<string, string> = {
    "a.txt": "hello\n",
    empty: "",
    "sp ace.txt": "s",
    "back\\slash": "x",
    "new\nline": "y",
    "b\\n\nx": "z",
    "car\rret": "c",
    "héllo_日本.txt": "u",
    "tab\there": "t",
  };
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  mkdirSync(join(dir, "dir"));
  return dir;
}

const NAMES = ["a.txt", "empty", "sp ace.txt", "back\\slash", "new\nline", "b\\n\nx", "car\rret", "héllo_日本.txt", "tab\there"];

const B3 = (hex: string, name: string) => `${hex}  ${name}\n`;

/** BLAKE3 of a short string, from the library (itself tested against vectors and b3sum). */
const blake3 = (text: string) => blake3Hash(text).toString("hex");

/** Check-file lines with every outcome and every malformed shape b3sum knows. */
function checkFileLines(): string {
  return [
    B3(HELLO, "a.txt"),
    B3(EMPTY, "a.txt"), // mismatch
    B3(HELLO, "missing"),
    B3(HELLO, "dir"),
    `${HELLO.slice(2)}  a.txt\n`, // short hash → Invalid space
    `${HELLO.toUpperCase()}  a.txt\n`,
    `${HELLO} a.txt\n`,
    "\n",
    `${HELLO}  \n`,
    `\\${HELLO}  a\\qb\n`,
    B3(EMPTY, "empty"),
    `\\${HELLO}  a.txt\n`,
    `${HELLO}  a.txt\r\n`,
    `${HELLO}  a.txt`, // no final newline
  ].join("");
}

for (const runner of runners()) {
  describe(`b3sum-ts (${runner.label})`, () => {
    const dir = makeTree();
    const b3 = (args: string[], stdin?: string): RunResult => tool(runner, "b3sum-ts", args, { cwd: dir, stdin });

    test("hashes files with every awkward name exactly as b3sum prints them", { timeout: 60_000 }, () => {
      const result = b3(NAMES);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe("");
      const lines = result.stdout;
      expect(lines.startsWith(`${HELLO}  a.txt\n${EMPTY}  empty\n`)).toBe(true);
      expect(lines).toContain(`\\${blake3("x")}  back\\\\slash\n`);
      expect(lines).toContain(`\\${blake3("y")}  new\\nline\n`);
      expect(lines).toContain(`\\${blake3("z")}  b\\\\n\\nx\n`);
      expect(lines).toContain(`${blake3("c")}  car\rret\n`);
      if (B3SUM) expect(lines).toBe(run([B3SUM, ...NAMES], { cwd: dir }).stdout);
    });

    test.skipIf(!B3SUM)("stdout and exit code equal b3sum's for flags, stdin and errors", { timeout: 60_000 }, () => {
      const cases: Array<{ args: string[]; stdin?: string }> = [
        { args: [], stdin: "hello\n" },
        { args: ["-"], stdin: "hello\n" },
        { args: ["a.txt", "-", "empty"], stdin: "from stdin" },
        { args: ["--no-names", ...NAMES] },
        { args: ["-l", "16", "a.txt", "back\\slash"] },
        { args: ["-l", "64", "a.txt"] },
        { args: ["-l", "100", "empty"] },
        { args: ["-l", "0", "a.txt"] },
        { args: ["--derive-key", "my ctx", "a.txt"] },
        { args: ["--derive-key", "", "a.txt"] },
        { args: ["--keyed", "a.txt", "empty"], stdin: "0123456789abcdef0123456789abcdef" },
        { args: ["--raw", "a.txt"] },
        { args: ["--raw", "-l", "8", "a.txt"] },
        { args: ["a.txt", "missing", "empty"] },
        { args: ["a.txt", "dir"] },
        { args: ["--num-threads", "1", "--no-mmap", "a.txt"] },
        { args: ["--", "a.txt"] },
      ];
      for (const { args, stdin } of cases) {
        const ours = b3(args, stdin);
        const theirs = run([B3SUM!, ...args], { cwd: dir, stdin });
        expect({ args, stdout: Buffer.from(ours.stdoutBytes).toString("hex"), code: ours.code }).toEqual({ args, stdout: Buffer.from(theirs.stdoutBytes).toString("hex"), code: theirs.code });
      }
    });

    test("reports unreadable inputs on stderr, keeps going, exits 1", { timeout: 60_000 }, () => {
      const result = b3(["a.txt", "missing", "dir", "empty"]);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe(`${B3(HELLO, "a.txt")}${B3(EMPTY, "empty")}`);
      expect(result.stderr).toBe("b3sum-ts: missing: No such file or directory (os error 2)\nb3sum-ts: dir: Is a directory (os error 21); use -r to hash the files in it\n");
    });

    test("check mode: OK, FAILED, FAILED (reason) on stdout, malformed lines on stderr, exit 1", { timeout: 60_000 }, () => {
      writeFileSync(join(dir, "check.b3"), checkFileLines());
      const result = b3(["-c", "check.b3"]);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe(["a.txt: OK", "a.txt: FAILED", "missing: FAILED (No such file or directory (os error 2))", "dir: FAILED (Is a directory (os error 21))", "empty: OK", "\\a.txt: OK", "a.txt\r: FAILED (No such file or directory (os error 2))", "a.txt: OK", ""].join("\n"));
      expect(result.stderr.split("\n")).toEqual(["b3sum-ts: check.b3:5: Invalid space", "b3sum-ts: check.b3:6: Invalid hex", "b3sum-ts: check.b3:7: Invalid space", "b3sum-ts: check.b3:8: Empty line", "b3sum-ts: check.b3:9: Short line", "b3sum-ts: check.b3:10: Invalid backslash escape", ""]);
      if (B3SUM) {
        const theirs = run([B3SUM, "-c", "check.b3"], { cwd: dir });
        expect(result.stdout).toBe(theirs.stdout);
        expect(result.code).toBe(theirs.code);
      }
      // --quiet drops the OK lines only.
      expect(b3(["-c", "--quiet", "check.b3"]).stdout).toBe(
        result.stdout
          .split("\n")
          .filter((l) => !l.endsWith(": OK"))
          .join("\n"),
      );
    });

    test("check mode round-trips a manifest of awkward names, from a file and from stdin", { timeout: 60_000 }, () => {
      const manifest = b3(NAMES).stdout;
      writeFileSync(join(dir, "names.b3"), manifest);
      const expected = NAMES.map((n) => `${n.includes("\\") || n.includes("\n") ? `\\${n.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")}` : n}: OK\n`).join("");
      for (const result of [b3(["-c", "names.b3"]), b3(["-c"], manifest), b3(["-c", "-"], manifest), b3(["--check", "names.b3", "--jobs", "2"])]) {
        expect(result.stdout).toBe(expected);
        expect(result.code).toBe(0);
      }
      if (B3SUM) expect(run([B3SUM, "-c", "names.b3"], { cwd: dir }).stdout).toBe(expected);
    });

    test("an empty check file verifies nothing, and says so", { timeout: 60_000 }, () => {
      writeFileSync(join(dir, "empty.b3"), "");
      const result = b3(["-c", "empty.b3"]);
      expect(result).toMatchObject({ code: 1, stdout: "", stderr: "b3sum-ts: empty.b3: no checksum lines found; nothing was verified\n" });
    });

    test("--status prints nothing on stdout; the exit code tells", { timeout: 60_000 }, () => {
      writeFileSync(join(dir, "bad.b3"), `${B3(HELLO, "a.txt")}${B3(HELLO, "empty")}`);
      expect(b3(["-c", "--status", "bad.b3"])).toMatchObject({ code: 1, stdout: "" });
      writeFileSync(join(dir, "good.b3"), B3(HELLO, "a.txt"));
      expect(b3(["-c", "--status", "good.b3"])).toMatchObject({ code: 0, stdout: "" });
    });

    test("a check file that cannot be read is named and fails with b3sum's exit code 1; the next one is still checked", { timeout: 60_000 }, () => {
      const result = b3(["-c", "nope.b3"]);
      expect(result).toMatchObject({ code: 1, stdout: "", stderr: "b3sum-ts: nope.b3: No such file or directory (os error 2)\n" });
      writeFileSync(join(dir, "one.b3"), B3(HELLO, "a.txt"));
      expect(b3(["-c", "nope.b3", "one.b3"])).toMatchObject({ code: 1, stdout: "a.txt: OK\n" });
      if (B3SUM) expect(run([B3SUM, "-c", "nope.b3"], { cwd: dir }).code).toBe(1);
    });

    test("usage errors exit 2 with one line naming the problem", { timeout: 60_000 }, () => {
      const cases: Array<[string[], string]> = [
        [["--bogus", "a.txt"], "b3sum-ts: unrecognized option '--bogus'; see 'b3sum-ts --help'\n"],
        [["-l", "abc", "a.txt"], "b3sum-ts: invalid length 'abc' for --length; expected a whole number of bytes\n"],
        [["--raw", "a.txt", "empty"], "b3sum-ts: --raw writes one digest: give exactly one input\n"],
        [["-c", "--raw", "x"], "b3sum-ts: --raw cannot be used with --check\n"],
        [["--quiet", "a.txt"], "b3sum-ts: --quiet only applies to --check\n"],
        [["--jobs", "0", "a.txt"], "b3sum-ts: invalid value '0' for --jobs; expected a whole number of at least 1\n"],
        [["--engine", "gpu", "a.txt"], "b3sum-ts: unknown engine 'gpu'; use one of: auto, native, wasm, js\n"],
      ];
      for (const [args, stderr] of cases) expect({ args, ...pick(b3(args)) }).toEqual({ args, code: 2, stdout: "", stderr });
      const key = b3(["--keyed", "a.txt"], "short");
      expect(key).toMatchObject({ code: 2, stderr: "b3sum-ts: --keyed needs exactly 32 key bytes on stdin, found 5\n" });
    });

    test("--help documents the exit codes; --version prints the version", { timeout: 60_000 }, () => {
      const help = b3(["--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("Exit codes (b3sum's, but for usage errors):");
      expect(help.stdout).toContain("--recursive");
      expect(b3(["--version"]).stdout).toMatch(/^b3sum-ts \d+\.\d+\.\d+\n$/);
    });
  });
}

function pick(r: RunResult) {
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}
