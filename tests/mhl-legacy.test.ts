/** lib/mhl/legacy: reading, verifying and writing MHL 1.0/1.1 files, digests checked against the native tools. */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canonicalHex, isLegacyMhl, legacyNotation, readLegacyMhl, verifyLegacyMhl, writeLegacyMhl, type LegacyVerifyResult } from "../lib/mhl/legacy.ts";
import { randomBytes, run, runners, tempDir, tool } from "./helpers.ts";

// Every test here starts real processes; on a busy 2-core machine one can take longer than 5 s.
setDefaultTimeout(120_000);

/** The first field a native checksum tool prints for a file. */
function native(cmd: string[], path: string): string {
  const result = run([...cmd, path]);
  if (result.code !== 0) throw new Error(`${cmd.join(" ")} failed: ${result.stderr}`);
  return result.stdout.split(/\s+/)[0]!;
}
const md5 = (p: string) => native(["/usr/bin/md5sum"], p);
const sha1 = (p: string) => native(["/usr/bin/sha1sum"], p);
/** XXH32 as legacy MHL writes it: the 32-bit value in decimal (xxhsum prints hex). */
const xxhashDecimal = (p: string) => BigInt(`0x${native(["/usr/bin/xxhsum", "-H0"], p)}`).toString();
const xxh64be = (p: string) => native(["/usr/bin/xxhsum", "-H1"], p);
const xxh64le = (p: string) => native(["/usr/bin/xxhsum", "-H1", "--little-endian"], p);

const escapeXml = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;");

/** A card: three files with awkward names, in a sub-folder and at the top. */
function makeCard(): { root: string; files: string[] } {
  const root = tempDir("cartkit-legacy-");
  const files = ["Clips/A001 C001.mov", "Sound/Überspielung café.wav", "Tom & Jerry <1>.txt"];
  files.forEach((file, i) => {
    mkdirSync(join(root, file, ".."), { recursive: true });
    writeFileSync(join(root, file), randomBytes(70_000 + i * 1234, i + 7));
  });
  return { root, files };
}

/** How Silverstack / ShotPut Pro / Hedge write 1.1: xxhash64be (and md5), with dates. */
function silverstackStyle(root: string, files: string[]): string {
  const entries = files.map(
    (file) => `  <hash>
    <file>${escapeXml(file)}</file>
    <size>${readFileSync(join(root, file)).length}</size>
    <lastmodificationdate>2024-05-01T10:00:00Z</lastmodificationdate>
    <xxhash64be>${xxh64be(join(root, file))}</xxhash64be>
    <md5>${md5(join(root, file))}</md5>
    <hashdate>2024-05-01T10:05:00Z</hashdate>
  </hash>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>
<hashlist version="1.1">
  <creatorinfo>
    <name>Jane DIT</name>
    <username>jane</username>
    <hostname>cart-01.local</hostname>
    <tool>Silverstack 8.5</tool>
    <startdate>2024-05-01T10:00:00Z</startdate>
    <finishdate>2024-05-01T10:05:00Z</finishdate>
    <log>offload A001</log>
  </creatorinfo>
${entries.join("\n")}
</hashlist>
`;
}

/** How the original mhl tool writes 1.0: one element per type, xxhash decimal, xxhash64 little-endian. */
function originalToolStyle(root: string, files: string[]): string {
  const entries = files.map((file) => {
    const path = join(root, file);
    return `  <hash>
    <file>${escapeXml(file)}</file>
    <size>${readFileSync(path).length}</size>
    <sha1>${sha1(path)}</sha1>
    <xxhash>${xxhashDecimal(path)}</xxhash>
    <xxhash64>${xxh64le(path)}</xxhash64>
  </hash>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<hashlist version="1.0">

  <creatorinfo>
    <name>Simon</name>
    <username>simon</username>
    <hostname>mac.local</hostname>
    <tool>mhl ver. 0.2.32</tool>
    <startdate>2016-04-18T14:46:45Z</startdate>
    <finishdate>2016-04-18T14:46:45Z</finishdate>
  </creatorinfo>

${entries.join("\n\n")}

</hashlist>
`;
}

/** One line per result: status, file and the failing checks. */
function summary(results: LegacyVerifyResult[]): string[] {
  return results.map((r) => [r.status, r.entry.file, ...r.checks.filter((c) => !c.ok).map((c) => `${c.type} ${c.expected} != ${c.actual}`), ...(r.status === "size-mismatch" ? [`size ${r.entry.size} != ${r.actualSize}`] : []), ...(r.message ? [r.message] : [])].join(" | "));
}

/** The message of the error thrown by `fn`, as the tools print it (`path: message`). */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    const e = error as { path?: string; message: string };
    return `${e.path}: ${e.message}`;
  }
  return "no error";
}

describe("the conventions, on digests computed by the native tools", () => {
  test("xxhash is XXH32 in decimal, xxhash64 is XXH64 little-endian hex, xxhash64be big-endian", () => {
    const dir = tempDir();
    const path = join(dir, "f.bin");
    writeFileSync(path, randomBytes(555, 3));
    const xxh32 = native(["/usr/bin/xxhsum", "-H0"], path);
    expect(canonicalHex("xxhash", xxhashDecimal(path))).toBe(xxh32);
    expect(legacyNotation("xxhash", xxh32)).toBe(xxhashDecimal(path).padStart(10, "0"));
    expect(canonicalHex("xxhash64", xxh64le(path))).toBe(xxh64be(path));
    expect(legacyNotation("xxhash64", xxh64be(path))).toBe(xxh64le(path));
    expect(canonicalHex("xxhash64be", xxh64be(path))).toBe(xxh64be(path));
  });

  test("values from the original mhl tool's test files (pomfort/mhl-tool)", () => {
    // file0.txt of tests/aux_files: <xxhash>3204945916, <xxhash64>e338d99e661114f6, <xxhash64be>f61411669ed938e3
    expect(canonicalHex("xxhash", "3204945916")).toBe("bf0797fc");
    expect(canonicalHex("xxhash64", "e338d99e661114f6")).toBe("f61411669ed938e3");
    expect(canonicalHex("xxhash", "0012345678")).toBe("00bc614e");
  });
});

describe("isLegacyMhl", () => {
  test("knows 1.0 and 1.1 from ASC MHL and other XML", () => {
    expect(isLegacyMhl('<?xml version="1.0" encoding="UTF-8"?>\n<hashlist version="1.1">\n</hashlist>')).toBe(true);
    expect(isLegacyMhl("\uFEFF<!-- sealed -->\n<hashlist version='1.0'><hash/></hashlist>")).toBe(true);
    expect(isLegacyMhl('<hashlist version="1.1"/>')).toBe(true);
    expect(isLegacyMhl('<?xml version="1.0"?>\n<hashlist version="2.0" xmlns="urn:ASC:MHL:v2.0">')).toBe(false);
    expect(isLegacyMhl('<hashlist xmlns="urn:ASC:MHL:v2.0" version="1.1">')).toBe(false);
    expect(isLegacyMhl('<hashlist version="1.2">')).toBe(false);
    expect(isLegacyMhl('<ascmhldirectory xmlns="urn:ASC:MHL:DIRECTORY:v2.0">')).toBe(false);
    expect(isLegacyMhl('<hashlists version="1.1">')).toBe(false);
  });
});

describe("read and verify", () => {
  test("a 1.1 file as Silverstack writes it: model and every file ok", async () => {
    const { root, files } = makeCard();
    const mhl = join(root, "A001_2024-05-01_100500.mhl");
    writeFileSync(mhl, silverstackStyle(root, files));
    const list = readLegacyMhl(mhl);
    expect(list.version).toBe("1.1");
    expect(list.creator).toEqual({
      name: "Jane DIT",
      username: "jane",
      hostname: "cart-01.local",
      tool: "Silverstack 8.5",
      startdate: "2024-05-01T10:00:00Z",
      finishdate: "2024-05-01T10:05:00Z",
      log: "offload A001",
    });
    expect(list.entries.map((e) => [e.file, e.line, e.size])).toEqual([
      ["Clips/A001 C001.mov", 12, 70_000],
      ["Sound/Überspielung café.wav", 20, 71_234],
      ["Tom & Jerry <1>.txt", 28, 72_468],
    ]);
    expect(list.entries[0]!.hashes).toEqual({ xxhash64be: xxh64be(join(root, files[0]!)), md5: md5(join(root, files[0]!)) });
    expect(list.entries[0]!.lastmodificationdate).toBe("2024-05-01T10:00:00Z");
    expect(list.entries[0]!.hashdate).toBe("2024-05-01T10:05:00Z");

    const seen: string[] = [];
    const report = await verifyLegacyMhl(mhl, { onResult: (r) => seen.push(r.entry.file) });
    expect(summary(report.results)).toEqual(files.map((f) => `ok | ${f}`));
    expect(report.results[0]!.checks.map((c) => c.type)).toEqual(["md5", "xxhash64be"]);
    expect(seen).toEqual(files);
    expect(report.exitCode).toBe(0);
  });

  test("a 1.0 file as the original tool writes it (sha1, xxhash decimal, xxhash64 little-endian), with --jobs", async () => {
    const { root, files } = makeCard();
    const mhl = join(root, "card_2016-04-18_144645.mhl");
    writeFileSync(mhl, originalToolStyle(root, files));
    const list = readLegacyMhl(mhl);
    expect(list.version).toBe("1.0");
    expect(list.entries[2]!.hashes).toEqual({
      sha1: sha1(join(root, files[2]!)),
      xxhash: xxhashDecimal(join(root, files[2]!)),
      xxhash64: xxh64le(join(root, files[2]!)),
    });
    for (const jobs of [1, 3]) {
      const report = await verifyLegacyMhl(mhl, { jobs });
      expect(summary(report.results)).toEqual(files.map((f) => `ok | ${f}`));
      expect(report.results[1]!.checks.map((c) => `${c.type}=${c.actual}`)).toEqual([`sha1=${sha1(join(root, files[1]!))}`, `xxhash=${xxhashDecimal(join(root, files[1]!)).padStart(10, "0")}`, `xxhash64=${xxh64le(join(root, files[1]!))}`]);
      expect(report.exitCode).toBe(0);
    }
  });

  test("a changed byte is a mismatch naming the type, expected and actual; a deleted file is missing", async () => {
    const { root, files } = makeCard();
    const mhl = join(root, "A001.mhl");
    writeFileSync(mhl, silverstackStyle(root, files));
    const target = join(root, files[1]!);
    const wasBe = xxh64be(target);
    const wasMd5 = md5(target);
    const bytes = readFileSync(target);
    bytes[5000] = bytes[5000]! ^ 0x01;
    writeFileSync(target, bytes);
    rmSync(join(root, files[2]!));
    // A file the MHL does not list is not an error.
    writeFileSync(join(root, "Clips", "later.txt"), "added after sealing");

    const report = await verifyLegacyMhl(mhl);
    expect(summary(report.results)).toEqual([`ok | ${files[0]}`, `mismatch | ${files[1]} | md5 ${wasMd5} != ${md5(target)} | xxhash64be ${wasBe} != ${xxh64be(target)}`, `missing | ${files[2]} | No such file or directory`]);
    expect(report.counts).toEqual({ ok: 1, mismatch: 1, "size-mismatch": 0, missing: 1, unreadable: 0, unverified: 0 });
    expect(report.exitCode).toBe(11);

    // Only missing files: the reference tool's completeness code.
    writeFileSync(mhl, silverstackStyle(root, [files[0]!]).replace("</hashlist>", `  <hash><file>gone.mov</file><size>1</size><md5>${wasMd5}</md5></hash>\n</hashlist>`));
    const missingOnly = await verifyLegacyMhl(mhl);
    expect(summary(missingOnly.results)).toEqual([`ok | ${files[0]}`, "missing | gone.mov | No such file or directory"]);
    expect(missingOnly.exitCode).toBe(10);
  });

  test("a wrong size fails without reading; a directory is unreadable; an entry with only <null/> is unverified", async () => {
    const root = tempDir();
    writeFileSync(join(root, "a.bin"), randomBytes(100, 1));
    writeFileSync(join(root, "b.bin"), randomBytes(100, 2));
    mkdirSync(join(root, "dir"));
    const good = md5(join(root, "a.bin"));
    writeFileSync(
      join(root, "x.mhl"),
      `<hashlist version="1.1">
<hash><file>a.bin</file><size>99</size><md5>${good}</md5></hash>
<hash><file>dir</file><size>0</size><md5>${good}</md5></hash>
<hash><file>b.bin</file><size>100</size><null/></hash>
<hash><file>a.bin</file><size>100</size><sha256>abcd</sha256><md5>${good}</md5></hash>
</hashlist>`,
    );
    const report = await verifyLegacyMhl(join(root, "x.mhl"));
    expect(summary(report.results)).toEqual(["size-mismatch | a.bin | size 99 != 100", "unreadable | dir | Is a directory", "unverified | b.bin", "ok | a.bin"]);
    // Not read: nothing was hashed for the wrong size.
    expect(report.results[0]!.checks).toEqual([]);
    expect(report.results[3]!.unknownTypes).toEqual(["sha256"]);
    expect(report.results[3]!.entry.unknownHashes).toEqual({ sha256: "abcd" });
    expect(report.exitCode).toBe(11);
  });

  test("backslash paths from Windows writers and NFD names on disk are found", async () => {
    const root = tempDir();
    const nfd = "Cafe\u0301".normalize("NFD");
    mkdirSync(join(root, "Clips"));
    writeFileSync(join(root, "Clips", `${nfd}.mov`), randomBytes(300, 9));
    const hash = xxh64be(join(root, "Clips", `${nfd}.mov`));
    writeFileSync(join(root, "w.mhl"), `<hashlist version="1.1">\n<hash>\n<file>\n  Clips\\${"Café".normalize("NFC")}.mov\n</file><xxhash64be>${hash}</xxhash64be></hash>\n</hashlist>`);
    const report = await verifyLegacyMhl(join(root, "w.mhl"));
    expect(summary(report.results)).toEqual(["ok | Clips/Café.mov"]);
    expect(report.results[0]!.path).toBe(join(root, "Clips", `${nfd}.mov`));
  });

  test("UTF-16 files without a byte order mark read like UTF-8 ones", () => {
    const root = tempDir();
    const text = '<?xml version="1.0" encoding="UTF-16LE"?>\n<hashlist version="1.0">\n<hash><file>Kölner Dom.avi</file><size>3</size><md5>d29593e2cf81c621fb3c4089f9bbde4a</md5></hash>\n</hashlist>\n';
    writeFileSync(join(root, "u16.mhl"), Buffer.from(text, "utf16le"));
    expect(readLegacyMhl(join(root, "u16.mhl")).entries.map((e) => [e.file, e.line, e.hashes.md5])).toEqual([["Kölner Dom.avi", 3, "d29593e2cf81c621fb3c4089f9bbde4a"]]);
  });
});

describe("refusals name the .mhl and the line", () => {
  const root = tempDir();
  const mhl = join(root, "bad.mhl");
  const withFile = (file: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<hashlist version="1.1">\n  <hash>\n    <file>${file}</file>\n    <md5>d29593e2cf81c621fb3c4089f9bbde4a</md5>\n  </hash>\n</hashlist>\n`;
  const cases: Array<[string, string]> = [
    ["/etc/passwd", "line 4: absolute <file> path is not allowed: '/etc/passwd'"],
    ["C:\\Media\\A001.mov", "line 4: absolute <file> path is not allowed: 'C:\\Media\\A001.mov'"],
    ["\\\\server\\share\\x.mov", "line 4: absolute <file> path is not allowed: '\\\\server\\share\\x.mov'"],
    ["Clips/../../secret", "line 4: <file> path must not contain '..': 'Clips/../../secret'"],
    ["..\\outside.mov", "line 4: <file> path must not contain '..': '..\\outside.mov'"],
    ["", "line 4: empty <file> path: ''"],
  ];
  for (const [file, message] of cases) {
    test(`'${file}'`, () => {
      writeFileSync(mhl, withFile(file));
      expect(errorOf(() => readLegacyMhl(mhl))).toBe(`${mhl}: ${message}`);
    });
  }

  test("malformed values and documents", async () => {
    const cases: Array<[string, string]> = [
      ['<hashlist version="1.1">\n<hash><file>a</file>\n<xxhash>99999999999</xxhash></hash></hashlist>', "line 3: <xxhash> must be an XXH32 value (decimal, at most 10 digits), not '99999999999'"],
      ['<hashlist version="1.1">\n<hash><file>a</file>\n<xxhash>4294967296</xxhash></hash></hashlist>', "line 3: <xxhash> must be an XXH32 value (decimal, at most 4294967295), not '4294967296'"],
      ['<hashlist version="1.1">\n<hash><file>a</file>\n<md5>abc</md5></hash></hashlist>', "line 3: <md5> must be 32 hex digits, not 'abc'"],
      ['<hashlist version="1.1">\n<hash><file>a</file>\n<size>-1</size></hash></hashlist>', "line 3: <size> must be a number of bytes, not '-1'"],
      ['<hashlist version="1.1">\n\n<hash><size>1</size></hash></hashlist>', "line 3: <hash> has no <file>"],
      ['<hashlist version="2.0" xmlns="urn:ASC:MHL:v2.0"></hashlist>', "line 1: not a legacy MHL file (root element <hashlist> in urn:ASC:MHL:v2.0)"],
      ['<hashlist version="1.2"></hashlist>', "line 1: unsupported MHL version '1.2' (legacy MHL is 1.0 or 1.1)"],
      ['<?xml version="1.0"?>\n<!DOCTYPE hashlist [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<hashlist version="1.1"/>', "line 2: DOCTYPE declarations (DTDs) are not allowed"],
    ];
    for (const [xml, message] of cases) {
      writeFileSync(mhl, xml);
      expect(errorOf(() => readLegacyMhl(mhl))).toBe(`${mhl}: ${message}`);
    }
    expect(errorOf(() => readLegacyMhl(join(root, "absent.mhl")))).toBe(`${join(root, "absent.mhl")}: No such file or directory`);
    writeFileSync(mhl, withFile("../x"));
    await expect(verifyLegacyMhl(mhl)).rejects.toThrow("line 4: <file> path must not contain '..': '../x'");
  });
});

describe("write", () => {
  test("writes the 1.1 layout readers expect, reads back unchanged and verifies", async () => {
    const { root, files } = makeCard();
    const mhl = join(root, "A001_2024-05-01_120000.mhl");
    const entries = files.map((file) => {
      const path = join(root, file);
      return {
        file,
        size: readFileSync(path).length,
        lastmodificationdate: new Date(Date.UTC(2024, 4, 1, 9, 59, 58, 123)),
        hashdate: "2024-05-01T12:00:00Z",
        hashes: {
          xxhash64be: xxh64be(path),
          md5: md5(path),
          sha1: sha1(path),
          xxhash: legacyNotation("xxhash", native(["/usr/bin/xxhsum", "-H0"], path)),
          xxhash64: xxh64le(path),
        },
      };
    });
    const creator = {
      name: "Jane & Co",
      username: "jane",
      hostname: "cart-01",
      tool: "cartkit 0.1.0",
      startdate: new Date(Date.UTC(2024, 4, 1, 12, 0, 0)),
      finishdate: "2024-05-01T12:00:05Z",
    };
    writeLegacyMhl(mhl, { creator, entries });
    const text = readFileSync(mhl, "utf8");
    const first = entries[0]!;
    expect(text.split("\n").slice(0, 21).join("\n")).toBe(`<?xml version="1.0" encoding="UTF-8"?>
<hashlist version="1.1">
  <creatorinfo>
    <name>Jane &amp; Co</name>
    <username>jane</username>
    <hostname>cart-01</hostname>
    <tool>cartkit 0.1.0</tool>
    <startdate>2024-05-01T12:00:00Z</startdate>
    <finishdate>2024-05-01T12:00:05Z</finishdate>
  </creatorinfo>
  <hash>
    <file>Clips/A001 C001.mov</file>
    <size>70000</size>
    <lastmodificationdate>2024-05-01T09:59:58Z</lastmodificationdate>
    <md5>${first.hashes.md5}</md5>
    <sha1>${first.hashes.sha1}</sha1>
    <xxhash>${first.hashes.xxhash}</xxhash>
    <xxhash64>${first.hashes.xxhash64}</xxhash64>
    <xxhash64be>${first.hashes.xxhash64be}</xxhash64be>
    <hashdate>2024-05-01T12:00:00Z</hashdate>
  </hash>`);
    expect(text).toContain("<file>Tom &amp; Jerry &lt;1&gt;.txt</file>");
    expect(isLegacyMhl(text)).toBe(true);

    const back = readLegacyMhl(mhl);
    expect(back.creator).toEqual({ ...creator, startdate: "2024-05-01T12:00:00Z" });
    expect(back.entries.map((e) => ({ file: e.file, size: e.size, hashes: e.hashes, hashdate: e.hashdate }))).toEqual(entries.map((e) => ({ file: e.file, size: e.size, hashes: e.hashes, hashdate: e.hashdate })));
    const report = await verifyLegacyMhl(mhl);
    expect(summary(report.results)).toEqual(files.map((f) => `ok | ${f}`));
  });

  test("refuses unsafe paths and entries without a hash, leaving no file behind", () => {
    const root = tempDir();
    const mhl = join(root, "out.mhl");
    const creator = { tool: "cartkit" };
    expect(errorOf(() => writeLegacyMhl(mhl, { creator, entries: [{ file: "../x", size: 1, hashes: { md5: "d29593e2cf81c621fb3c4089f9bbde4a" } }] }))).toBe(`${mhl}: entry 1: <file> path must not contain '..': '../x'`);
    expect(errorOf(() => writeLegacyMhl(mhl, { creator, entries: [{ file: "a\\b", size: 1, hashes: { md5: "d29593e2cf81c621fb3c4089f9bbde4a" } }] }))).toBe(`${mhl}: entry 1: path must be relative and '/'-separated: 'a\\b'`);
    expect(errorOf(() => writeLegacyMhl(mhl, { creator, entries: [{ file: "a", size: 1, hashes: {} }] }))).toBe(`${mhl}: entry 1: 'a' has no hash`);
    expect(errorOf(() => writeLegacyMhl(mhl, { creator, entries: [{ file: "a", size: 1, hashes: { xxhash: "12345678901" } }] }))).toBe(`${mhl}: entry 1: <xxhash> must be an XXH32 value (decimal, at most 10 digits), not '12345678901'`);
    expect(run(["ls", "-A", root]).stdout).toBe("");
  });
});

for (const runner of runners()) {
  describe(`mhl-verify with hostile legacy files (${runner.label})`, () => {
    test("a list of nothing is never a success; a file of millions of other elements is refused; a long file is still known by its start", () => {
      const { root, files } = makeCard();
      const mhl = (name: string) => tool(runner, "mhl-verify", [join(root, name)]);
      writeFileSync(join(root, "empty.mhl"), '<?xml version="1.0"?>\n<hashlist version="1.1"></hashlist>\n');
      expect(mhl("empty.mhl")).toMatchObject({ code: 2, stderr: `mhl-verify: ${join(root, "empty.mhl")}: lists no file (no <hash> entry): nothing was verified\n` });
      // 300,000 empty elements (1.2 MB) would be held as 300,000 objects: refused where the bound is passed.
      writeFileSync(join(root, "bomb.mhl"), `<?xml version="1.0"?>\n<hashlist version="1.1">${"<a/>".repeat(300_000)}</hashlist>\n`);
      expect(mhl("bomb.mhl")).toMatchObject({ code: 2, stderr: `mhl-verify: ${join(root, "bomb.mhl")}: line 2: more than 200,000 elements, attributes and pieces of text\n` });
      // A file is known as legacy MHL by its first 64 KiB, which here end inside a two-byte character.
      const head = `<?xml version="1.0" encoding="UTF-8"?>\n<hashlist version="1.1">\n<!-- `;
      const start = Buffer.byteLength(head);
      const comment = "é".repeat(40_000);
      expect((65_536 - start) % 2).toBe(1);
      writeFileSync(join(root, "long.mhl"), `${head}${comment} -->\n${silverstackStyle(root, files).split('<hashlist version="1.1">\n')[1]}`);
      expect(mhl("long.mhl").code).toBe(0);
    });
  });
}
