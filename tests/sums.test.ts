/** lib/sums: escaping, line writers and the two anchors' line parsers. */
import { expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_CHECK_LINE, readCheckLines } from "../lib/sums/check.ts";
import { escapeName, unescapeName } from "../lib/sums/escape.ts";
import { unsafeManifestPath } from "../lib/sums/inputs.ts";
import { formatBsdLine, formatGnuLine, parseB3sumLine, parseXxhsumLine } from "../lib/sums/lines.ts";
import { xxhsumDialect } from "../lib/sums/xxhsum_dialect.ts";

const H64 = "8e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99";

test("escaping round-trips every awkward name and only escapes when needed", () => {
  for (const name of ["plain", "sp ace", "back\\slash", "new\nline", "b\\n\nx", "car\rret", "日本", "\\", "\n"]) {
    const escaped = escapeName(name);
    expect(escaped.escaped).toBe(name.includes("\\") || name.includes("\n"));
    expect(escaped.text.includes("\n")).toBe(false);
    expect(escaped.escaped ? unescapeName(escaped.text) : escaped.text).toBe(name);
  }
  expect(escapeName("b\\n\nx").text).toBe("b\\\\n\\nx");
  expect(() => unescapeName("a\\qb")).toThrow("Invalid backslash escape");
  expect(() => unescapeName("a\\")).toThrow("Invalid backslash escape");
});

test("GNU and BSD lines are written as the native tools write them", () => {
  expect(formatGnuLine("abcd", escapeName("a b"))).toBe("abcd  a b\n");
  expect(formatGnuLine("abcd", escapeName("a b"), true)).toBe("abcd *a b\n");
  expect(formatGnuLine("abcd", escapeName("a\nb"))).toBe("\\abcd  a\\nb\n");
  expect(formatBsdLine("XXH3", "abcd", escapeName("x (1).mov"))).toBe("XXH3 (x (1).mov) = abcd\n");
});

test("b3sum's parser: strict layout, lowercase hex, escapes, refused characters, b3sum's reasons", () => {
  expect(parseB3sumLine(`${H64}  a.txt`)).toMatchObject({ hex: H64, name: "a.txt", display: "a.txt" });
  expect(parseB3sumLine(`\\${H64}  new\\nline`)).toMatchObject({ name: "new\nline", display: "\\new\\nline" });
  expect(parseB3sumLine(`${H64}  *a.txt`)).toMatchObject({ name: "*a.txt" });
  expect(parseB3sumLine(`${H64}  a\r`)).toMatchObject({ name: "a\r" });
  const reasons: Array<[string, string]> = [
    ["", "Empty line"],
    ["xyz", "Short line"],
    [`${H64}  `, "Short line"],
    [`${H64.slice(2)}  a.txt`, "Invalid space"],
    [`${H64} *a.txt`, "Invalid space"],
    [`${H64}\ta.txt`, "Invalid space"],
    [`${H64.toUpperCase()}  a.txt`, "Invalid hex"],
    [`é${H64.slice(1)}  a.txt`, "Non-ASCII prefix"],
    [`\\${H64}  a\\qb`, "Invalid backslash escape"],
    [`${H64}  a\0b`, "Null character in path"],
    [`${H64}  a\uFFFDb`, "Unicode replacement character in path"],
  ];
  for (const [line, reason] of reasons) expect({ line, result: parseB3sumLine(line) }).toEqual({ line, result: reason });
});

test("xxhsum's parser: GNU by hex length, BSD by tag, any second separator, any hex case", () => {
  expect(parseXxhsumLine("E4C191D091BD8853  a.txt")).toMatchObject({ style: "gnu", hex: "E4C191D091BD8853", name: "a.txt" });
  expect(parseXxhsumLine("e4c191d091bd8853 *a.txt")).toMatchObject({ name: "a.txt", binary: true });
  expect(parseXxhsumLine("e4c191d091bd8853 xa.txt")).toMatchObject({ name: "a.txt" });
  expect(parseXxhsumLine("XXH3 (a (1).txt) = 99fc819aaba2462a")).toMatchObject({ style: "bsd", tag: "XXH3", name: "a (1).txt" });
  for (const bad of ["", "nonsense", "e4c1 ", "XXH64 (a.txt)= e4c191d091bd8853", "XXH64 (a.txt) =e4c191d091bd8853", "zz  a"]) {
    expect({ bad, parsed: parseXxhsumLine(bad) }).toEqual({ bad, parsed: undefined });
  }
});

test("xxhsum's dialect picks algorithm and byte order like xxhsum 0.8", () => {
  const be = xxhsumDialect("xxsum", { algorithm: "xxh64", tag: false, littleEndian: false });
  const le = xxhsumDialect("xxsum", { algorithm: "xxh64", tag: false, littleEndian: true });
  const cases: Array<[string, string, string]> = [
    ["946b5bf9  a", "xxh32", "946b5bf9"],
    ["e4c191d091bd8853  a", "xxh64", "e4c191d091bd8853"],
    ["6bba86c7e069f56d5a10b435f1c8e49c  a", "xxh128", "6bba86c7e069f56d5a10b435f1c8e49c"],
    ["XXH3 (a) = 99fc819aaba2462a", "xxh3", "99fc819aaba2462a"],
    ["XXH3_LE (a) = 2a46a2ab9a81fc99", "xxh3", "99fc819aaba2462a"],
    ["XXH64_LE (a) = 5388bd91d091c1e4", "xxh64", "e4c191d091bd8853"],
    ["FOO (a) = e4c191d091bd8853", "xxh64", "e4c191d091bd8853"],
  ];
  for (const [line, algorithm, expectedHex] of cases) expect(be.parseCheckLine(line)).toMatchObject({ algorithm, expectedHex, name: "a" });
  expect(le.parseCheckLine("5388bd91d091c1e4  a")).toMatchObject({ algorithm: "xxh64", expectedHex: "e4c191d091bd8853" });
  expect(be.parseCheckLine("XXH32 (a) = e4c191d091bd8853")).toBe("Improperly formatted checksum line.");
  expect(be.parseCheckLine("e4c191d091bd88  a")).toBe("Improperly formatted checksum line.");
  expect(be.parseCheckLine("\\e4c191d091bd8853  new\\nline")).toMatchObject({ name: "new\nline", display: "\\new\\nline" });
});

test("manifest paths must be relative and stay inside their root", () => {
  expect(unsafeManifestPath("A001/C001.mov")).toBeUndefined();
  expect(unsafeManifestPath("..hidden/x")).toBeUndefined();
  expect(unsafeManifestPath("/etc/passwd")).toContain("absolute path");
  expect(unsafeManifestPath("A001/../../x")).toContain("escapes the manifest's root");
  expect(unsafeManifestPath("..")).toContain("escapes");
});

test("rewriteArgs maps anchor-style options, takes values, and keeps everything after --", async () => {
  const { rewriteArgs } = await import("../lib/cli/run.ts");
  const seen: string[] = [];
  const out = rewriteArgs(["-H", "-f_size", "12", "a", "--", "-H"], (arg, cursor) => {
    if (arg === "-H") return ["--hash=0"];
    if (arg === "-f_size") return [`--file-size=${cursor.take()}`];
    seen.push(arg);
    return [arg];
  });
  expect(out).toEqual(["--hash=0", "--file-size=12", "a", "--", "-H"]);
  expect(seen).toEqual(["a"]);
  expect(() => rewriteArgs(["-f_size"], (_arg, cursor) => [cursor.take()])).toThrow("option '-f_size' needs a value; see --help");
});

test("sizes and rates are read as people type them, and a bad one is named", async () => {
  const { parseByteRate, parseSize } = await import("../lib/core/units.ts");
  expect([parseSize("8MiB"), parseSize("8M"), parseSize("8388608"), parseSize("1GB")]).toEqual([8388608, 8388608, 8388608, 1e9]);
  expect([parseByteRate("200MB/s"), parseByteRate("64MiB/s"), parseByteRate("4MB")]).toEqual([2e8, 67108864, 4e6]);
  expect(() => parseByteRate("fast/s", "--rate-limit")).toThrow("invalid --rate-limit 'fast'");
});

test("bytes that are not UTF-8 are escaped as \\xHH only when asked, and read back as the same bytes", () => {
  const name = "caf\udce9\n\\\udcff.mov";
  expect(escapeName(name)).toEqual({ text: "caf\udce9\\n\\\\\udcff.mov", escaped: true });
  const escaped = escapeName(name, undefined, { bytes: true });
  expect(escaped).toEqual({ text: "caf\\xe9\\n\\\\\\xff.mov", escaped: true });
  expect(unescapeName(escaped.text, { bytes: true })).toBe(name);
  // A pair of surrogates (a character beyond U+FFFF) is not a byte.
  expect(escapeName("clip \u{10080}.mov", () => false, { bytes: true })).toEqual({ text: "clip \u{10080}.mov", escaped: false });
  // One spelling per name: \x only for bytes that are not part of valid UTF-8, and only when asked.
  for (const text of ["caf\\xc3\\xa9", "\\x41", "\\x7f", "\\xE9", "\\x", "\\xe"]) expect(() => unescapeName(text, { bytes: true })).toThrow("Invalid backslash escape");
  expect(() => unescapeName("caf\\xe9")).toThrow("Invalid backslash escape");
  expect(parseB3sumLine(`\\${H64}  caf\\xe9.mov`)).toMatchObject({ name: "caf\udce9.mov", display: "\\caf\\xe9.mov" });
  expect(parseXxhsumLine("\\e4c191d091bd8853  caf\\xe9.mov")).toMatchObject({ name: "caf\udce9.mov" });
});

test("check lines are read as they come, each held only up to the limit; a longer one is reported once", () => {
  const dir = mkdtempSync(join(tmpdir(), "cartkit-lines-"));
  try {
    const path = join(dir, "lines");
    writeFileSync(path, `a\n${"x".repeat(70_000)}\n\nb\r\nlast`);
    const fd = openSync(path, "r");
    // Each line's bytes are valid until the next is read: take them as they come.
    const seen: Array<[number, string]> = [];
    for (const l of readCheckLines(fd, 100)) seen.push([l.lineNumber, "bytes" in l ? Buffer.from(l.bytes).toString() : "too long"]);
    closeSync(fd);
    expect(seen).toEqual([
      [1, "a"],
      [2, "too long"],
      [3, ""],
      [4, "b\r"],
      [5, "last"],
    ]);
    expect(MAX_CHECK_LINE).toBe(32_766);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the command line: arguments that lost bytes are taken from /proc/self/cmdline, and the name called by", () => {
  const dir = mkdtempSync(join(tmpdir(), "cartkit-cmdline-"));
  try {
    const script = join(dir, "xxh32sum.ts");
    writeFileSync(script, `import { commandLine } from ${JSON.stringify(join(import.meta.dir, "..", "lib", "cli", "command_line.ts"))};\nconsole.log(JSON.stringify(commandLine()));\n`);
    const result = Bun.spawnSync(["sh", "-c", `'${process.execPath}' '${script}' plain "$(printf 'caf\\351')" "\u{fffd}real"`]);
    expect(JSON.parse(result.stdout.toString())).toEqual({ args: ["plain", "caf\udce9", "\u{fffd}real"], invokedAs: "xxh32sum" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
