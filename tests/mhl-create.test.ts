/**
 * lib/mhl/create.ts for callers that already read the files: known digests replace hashing only
 * while size and mtime still match, and the creator tool can be named; an offload's records
 * hand its verified digests to the generation it writes.
 */
import { expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashPath } from "../lib/hash/mod.ts";
import { IgnoreList, DEFAULT_IGNORES } from "../lib/io/ignore.ts";
import { planOffload, runOffload } from "../lib/offload/tree.ts";
import { knownDigestsFor, writeOffloadRecords } from "../lib/offload/records.ts";
import { hashChoice } from "../lib/offload/dispatch_log.ts";
import { Output } from "../lib/cli/output.ts";
import { createGeneration, type KnownDigest } from "../lib/mhl/create.ts";
import { MhlLog } from "../lib/mhl/log.ts";
import { randomBytes, run, runners, tempDir, tool } from "./helpers.ts";
import { tmpfs } from "./faults/mounts.ts";

// Every test here starts real processes; on a busy 2-core machine one can take longer than 5 s.
setDefaultTimeout(120_000);

const quiet = () => new MhlLog({ output: new Output() });

function onlyGeneration(root: string): string {
  const names = readdirSync(join(root, "ascmhl")).filter((f) => f.endsWith(".mhl"));
  expect(names).toHaveLength(1);
  return readFileSync(join(root, "ascmhl", names[0]!), "utf8");
}

/** The `<xxh64>`/`<md5>` value recorded for a path in a generation. */
function recorded(text: string, path: string, format: string): string | undefined {
  const block = text.split("<hash>").find((b) => b.includes(`>${path}</path>`));
  return block?.match(new RegExp(`<${format}[^>]*>([^<]+)</${format}>`))?.[1];
}

test("known digests are recorded without reading the file when size and mtime match; otherwise the file is hashed", async () => {
  const root = join(tempDir("mhl-known-"), "A001");
  mkdirSync(join(root, "Clips"), { recursive: true });
  for (const name of ["used.mov", "touched.mov", "resized.mov", "other-format.mov", "unknown.mov"]) writeFileSync(join(root, "Clips", name), `content of ${name}`);
  const when = new Date("2024-03-04T05:06:07.123Z");
  for (const name of readdirSync(join(root, "Clips"))) utimesSync(join(root, "Clips", name), when, when);
  const real = async (name: string) => (await hashPath(join(root, "Clips", name), ["xxh64"])).hexes.get("xxh64")!;
  const stat = (name: string) => statSync(join(root, "Clips", name));
  const FAKE = "0123456789abcdef";
  const known = new Map<string, KnownDigest>([
    ["Clips/used.mov", { size: stat("used.mov").size, mtimeMs: stat("used.mov").mtimeMs, hexes: new Map([["xxh64", FAKE]]) }],
    ["Clips/touched.mov", { size: stat("touched.mov").size, mtimeMs: stat("touched.mov").mtimeMs + 1, hexes: new Map([["xxh64", FAKE]]) }],
    ["Clips/resized.mov", { size: stat("resized.mov").size + 1, mtimeMs: stat("resized.mov").mtimeMs, hexes: new Map([["xxh64", FAKE]]) }],
    ["Clips/other-format.mov", { size: stat("other-format.mov").size, mtimeMs: stat("other-format.mov").mtimeMs, hexes: new Map([["md5", "00000000000000000000000000000000"]]) }],
  ]);
  await createGeneration(root, { formats: ["xxh64"], knownDigests: known, tool: { name: "dispatchcopy", version: "9.8.7" } }, quiet());
  const text = onlyGeneration(root);
  // the digest given is what the generation records: the file was not read
  expect(recorded(text, "Clips/used.mov", "xxh64")).toBe(FAKE);
  expect(FAKE).not.toBe(await real("used.mov"));
  // an mtime or a size that differs, or a format not given: hashed as usual
  expect(recorded(text, "Clips/touched.mov", "xxh64")).toBe(await real("touched.mov"));
  expect(recorded(text, "Clips/resized.mov", "xxh64")).toBe(await real("resized.mov"));
  expect(recorded(text, "Clips/other-format.mov", "xxh64")).toBe(await real("other-format.mov"));
  expect(recorded(text, "Clips/other-format.mov", "md5")).toBeUndefined();
  expect(recorded(text, "Clips/unknown.mov", "xxh64")).toBe(await real("unknown.mov"));
  expect(text).toContain('<tool version="9.8.7">dispatchcopy</tool>');
});

test("known digests are found for a path written in another Unicode normalization, and work with --jobs", async () => {
  const root = join(tempDir("mhl-known-nfc-"), "card");
  mkdirSync(root, { recursive: true });
  const onDisk = "cafe\u0301.mov"; // NFD on disk
  writeFileSync(join(root, onDisk), "x");
  writeFileSync(join(root, "b.mov"), "y");
  const s = statSync(join(root, onDisk));
  const known = new Map<string, KnownDigest>([["caf\u00e9.mov", { size: s.size, mtimeMs: s.mtimeMs, hexes: new Map([["xxh64", "fedcba9876543210"]]) }]]);
  await createGeneration(root, { formats: ["xxh64"], knownDigests: known, jobs: 2 }, quiet());
  const text = onlyGeneration(root);
  expect(recorded(text, onDisk, "xxh64")).toBe("fedcba9876543210");
  expect(recorded(text, "b.mov", "xxh64")).toBe((await hashPath(join(root, "b.mov"), ["xxh64"])).hexes.get("xxh64")!);
  expect(text).toContain(">mhl-verify</tool>");
});

test("an offload's generation seals the digests compared at read-back (no third read), and never a copy changed since", async () => {
  const dir = tempDir("mhl-known-offload-");
  const source = join(dir, "A001");
  mkdirSync(join(source, "CLIPS"), { recursive: true });
  writeFileSync(join(source, "CLIPS", "A001C001.mov"), randomBytes(300_000, 7));
  writeFileSync(join(source, "CLIPS", "A001C002.mov"), randomBytes(1000, 8));
  writeFileSync(join(source, "meta.xml"), "<clip/>");
  const destinations = [join(dir, "S1", "A001"), join(dir, "S2", "A001")];
  const ignore = new IgnoreList(DEFAULT_IGNORES);
  const plan = planOffload(source, destinations, { ignore, overwrite: false });
  const choices = [hashChoice("xxh64"), hashChoice("md5")];
  const result = await runOffload(plan, {
    algorithms: choices.map((c) => c.algorithm),
    verify: "dest",
    overwrite: false,
    jobs: 2,
    ignore,
    flush: () => true,
  });
  expect(result.completeRoots).toEqual(destinations);
  for (const root of destinations) {
    const { known, changed } = knownDigestsFor(root, result.files);
    expect(changed).toEqual([]);
    expect([...known.keys()].sort()).toEqual(["CLIPS/A001C001.mov", "CLIPS/A001C002.mov", "meta.xml"]);
    for (const [path, digest] of known) {
      const s = statSync(join(root, path));
      expect([digest.size, digest.mtimeMs]).toEqual([s.size, s.mtimeMs]);
      expect(digest.hexes.get("xxh64")).toBe((await hashPath(join(root, path), ["xxh64"])).hexes.get("xxh64")!);
    }
  }

  // A copy changed after it was read back, even with its size and mtime put back as they were
  // (its change time and content moved on), is not sealed: that destination gets no generation.
  const planted = join(destinations[1]!, "CLIPS", "A001C002.mov");
  const before = statSync(planted);
  writeFileSync(planted, randomBytes(1000, 9));
  utimesSync(planted, before.atime, before.mtime);
  expect(knownDigestsFor(destinations[1]!, result.files).changed).toEqual(["CLIPS/A001C002.mov"]);

  // The other's copies are not read again for its generation: their pages, dropped by the
  // read-back, are still not cached after it.
  const fincore = Bun.which("fincore");
  const evict = (path: string) => run(["dd", `if=${path}`, "iflag=nocache", "count=0", "status=none"]);
  for (const path of ["CLIPS/A001C001.mov", "CLIPS/A001C002.mov", "meta.xml"]) evict(join(destinations[0]!, path));
  const problems = await writeOffloadRecords({ mhlRoots: destinations, output: new Output() }, result.files, choices);
  expect(problems.map((p) => p.message)).toEqual([`${destinations[1]}/CLIPS/A001C002.mov: changed after it was verified; not sealed into an ASC MHL`, `${destinations[1]}: ASC MHL generation not written: files changed after they were verified`]);
  expect(existsSync(join(destinations[1]!, "ascmhl"))).toBe(false);
  if (fincore) {
    const resident = run([fincore, "--bytes", "--noheadings", "--output", "RES", join(destinations[0]!, "CLIPS", "A001C001.mov")]).stdout.trim();
    expect(resident).toBe("0");
  }
  const text = onlyGeneration(destinations[0]!);
  expect(text).toMatch(/<tool version="[^"]+">dispatchcopy<\/tool>/);
  for (const path of ["CLIPS/A001C001.mov", "CLIPS/A001C002.mov", "meta.xml"]) {
    const hexes = (await hashPath(join(source, path), ["md5", "xxh64"])).hexes;
    expect([recorded(text, path, "md5"), recorded(text, path, "xxh64")]).toEqual([hexes.get("md5"), hexes.get("xxh64")]);
  }
});

test("a copy changed after its digests were handed to the generation, its mtime put back or not, is refused as the generation takes them, not sealed or hashed anew", async () => {
  const dir = tempDir("mhl-known-late-");
  const source = join(dir, "A001");
  mkdirSync(source, { recursive: true });
  for (const [i, name] of ["a.mov", "b.mov", "c.mov"].entries()) writeFileSync(join(source, name), randomBytes(10_000, 20 + i));
  const ignore = new IgnoreList(DEFAULT_IGNORES);
  // (BLAKE3 is no ASC MHL format: the generation hashes such copies itself, while they are the copies checked)
  for (const [algorithm, change] of [
    ["xxh64", "in place, mtime put back"],
    ["xxh64", "grown"],
    ["blake3", "in place, mtime put back"],
  ] as const) {
    const root = join(dir, `${algorithm}-${change.replace(/\W+/g, "-")}`);
    const plan = planOffload(source, [root], { ignore, overwrite: false });
    const result = await runOffload(plan, { algorithms: [algorithm], verify: "dest", overwrite: false, jobs: 1, ignore, flush: () => true });
    const { known, changed } = knownDigestsFor(root, result.files);
    expect([changed, known.size]).toEqual([[], 3]);
    const copy = join(root, "b.mov");
    const before = statSync(copy);
    if (change === "grown") writeFileSync(copy, randomBytes(12_000, 99));
    else {
      writeFileSync(copy, randomBytes(10_000, 99));
      utimesSync(copy, before.atime, before.mtime);
    }
    await expect(createGeneration(root, { formats: ["xxh64"], knownDigests: known }, quiet())).rejects.toThrow("changed after it was verified; not sealed into an ASC MHL (run again to copy it)");
    expect({ change, history: existsSync(join(root, "ascmhl")) && readdirSync(join(root, "ascmhl")).length > 0 }).toEqual({ change, history: false });
  }
});

test("a file that appears in a destination after its stray check and before its generation is never sealed beside the copies: no generation there, the other destination's written", async () => {
  const dir = tempDir("mhl-expected-");
  const source = join(dir, "A001");
  mkdirSync(join(source, "CLIPS"), { recursive: true });
  writeFileSync(join(source, "CLIPS", "A001C001.mov"), randomBytes(1000, 7));
  const destinations = [join(dir, "S1", "A001"), join(dir, "S2", "A001")];
  // S2 held a file before the run: it is not the offload's, and not a stray either.
  mkdirSync(destinations[1]!, { recursive: true });
  writeFileSync(join(destinations[1]!, "notes.txt"), "there before");
  const ignore = new IgnoreList(DEFAULT_IGNORES);
  const plan = planOffload(source, destinations, { ignore, overwrite: false });
  const choices = [hashChoice("xxh64")];
  const result = await runOffload(plan, { algorithms: [choices[0]!.algorithm], verify: "dest", overwrite: false, jobs: 1, ignore, flush: () => true });
  expect(result.completeRoots).toEqual(destinations);
  writeFileSync(join(destinations[0]!, "CLIPS", "late.mov"), "not from the card");
  const problems = await writeOffloadRecords({ mhlRoots: destinations, output: new Output(), existing: plan.existing }, result.files, choices);
  expect(problems).toEqual([
    {
      root: destinations[0],
      message: `${destinations[0]}: ASC MHL generation not written: ${join(destinations[0]!, "CLIPS", "late.mov")}: appeared while the generation was being made and is not one of the files copied; no generation written (check it, then run again)`,
    },
  ]);
  expect(existsSync(join(destinations[0]!, "ascmhl"))).toBe(false);
  const generation = onlyGeneration(destinations[1]!);
  expect(generation.includes(">CLIPS/A001C001.mov</path>")).toBe(true);
  expect(generation.includes(">notes.txt</path>")).toBe(true);
});

for (const runner of runners()) {
  test.if(process.getuid?.() === 0)(`${runner.label}: create names a file or folder dated past what a date holds, writes no generation (exit 2); years 1 and 1 BC are written as xs:dateTime holds them`, () => {
    const dir = tempDir("mhl-fartime-");
    // tmpfs keeps any 64-bit time.
    expect(run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir]).code).toBe(0);
    try {
      mkdirSync(join(dir, "CARD"));
      writeFileSync(join(dir, "CARD", "far.bin"), "far");
      writeFileSync(join(dir, "CARD", "old.bin"), "old");
      expect(run(["python3", "-c", `import os; os.utime(${JSON.stringify(join(dir, "CARD", "far.bin"))}, ns=(2**62 * 10**9,) * 2)`]).code).toBe(0);
      expect(run(["touch", "-d", "0001-01-01 00:00:00 UTC", join(dir, "CARD", "old.bin")]).code).toBe(0);
      const far = tool(runner, "mhl-verify", ["create", "CARD"], { cwd: dir, env: { TZ: "UTC" } });
      expect({ code: far.code, stderr: far.stderr }).toEqual({ code: 2, stderr: "mhl-verify: far.bin: has a modification time no date can hold; give it a real one (touch) and create again\n" });
      expect(existsSync(join(dir, "CARD", "ascmhl"))).toBe(false);
      rmSync(join(dir, "CARD", "far.bin"));
      // A folder's time too.
      mkdirSync(join(dir, "CARD", "D"));
      writeFileSync(join(dir, "CARD", "D", "in.bin"), "in");
      expect(run(["python3", "-c", `import os; os.utime(${JSON.stringify(join(dir, "CARD", "D"))}, ns=(0, -9 * 10**21))`]).code).toBe(0);
      const folder = tool(runner, "mhl-verify", ["create", "CARD"], { cwd: dir, env: { TZ: "UTC" } });
      expect({ code: folder.code, stderr: folder.stderr }).toEqual({ code: 2, stderr: "mhl-verify: D: has a modification time no date can hold; give it a real one (touch) and create again\n" });
      expect(existsSync(join(dir, "CARD", "ascmhl"))).toBe(false);
      rmSync(join(dir, "CARD", "D"), { recursive: true });
      // The year JavaScript numbers 0 is 1 BC: -0001 in xs:dateTime, which has no year 0.
      writeFileSync(join(dir, "CARD", "bc.bin"), "bc");
      expect(run(["python3", "-c", `import os; os.utime(${JSON.stringify(join(dir, "CARD", "bc.bin"))}, ns=(0, -62167219200 * 10**9))`]).code).toBe(0);
      expect(tool(runner, "mhl-verify", ["create", "CARD"], { cwd: dir, env: { TZ: "UTC" } }).code).toBe(0);
      const text = onlyGeneration(join(dir, "CARD"));
      expect(text).toContain('<path size="3" lastmodificationdate="0001-01-01T00:00:00+00:00">old.bin</path>');
      expect(text).toContain('<path size="2" lastmodificationdate="-0001-01-01T00:00:00+00:00">bc.bin</path>');
      const generation = join(dir, "CARD", "ascmhl", readdirSync(join(dir, "CARD", "ascmhl")).find((f) => f.endsWith(".mhl"))!);
      const valid = run(["xmllint", "--noout", "--schema", join(import.meta.dir, "fixtures", "ascmhl", "xsd", "ASCMHL.xsd"), generation]);
      expect([valid.code, valid.stderr.trim()]).toEqual([0, `${generation} validates`]);
    } finally {
      run(["umount", dir]);
    }
  });

  test(`${runner.label}: a generation written out as it is made is the same, byte for byte, as one held whole, and nothing stays in TMPDIR`, () => {
    // `create` sets each entry aside in a nameless file in TMPDIR; `create -dr` (renames are
    // looked for afterwards) holds them. On a first generation both record the same.
    const work = tempDir("mhl-spool-");
    const trees = ["spooled", "held"].map((kind) => join(work, kind, "A001"));
    for (const root of trees) {
      for (let f = 0; f < 30; f++) {
        const folder = join(root, `Reel ${f % 3}`, f % 2 ? "sub" : "");
        mkdirSync(folder, { recursive: true });
        // Names with characters that take 2, 3 and 4 bytes, so that pieces of the file hold whole characters only.
        for (let i = 0; i < 40; i++) writeFileSync(join(folder, `é中😀 clip ${f}-${i} <&>.dng`), `${f}:${i}`);
      }
      // A nested history: its own generation, referenced by the outer one.
      mkdirSync(join(root, "Nested"));
      writeFileSync(join(root, "Nested", "inner.wav"), "inner");
      expect(tool(runner, "mhl-verify", ["create", join(root, "Nested"), "-h", "xxh64"], { env: { CARTKIT_MHL_NOW: "2026-01-02T03:04:05Z", CARTKIT_MHL_HOSTNAME: "cart" } }).code).toBe(0);
      // The same times in both trees (a generation records them), however long making them took.
      const when = new Date("2025-06-07T08:09:10Z");
      for (const entry of readdirSync(root, { recursive: true, encoding: "utf8" })) utimesSync(join(root, entry), when, when);
      utimesSync(root, when, when);
    }
    const spoolFolder = join(work, "tmp");
    mkdirSync(spoolFolder);
    const env = { CARTKIT_MHL_NOW: "2026-01-02T03:04:05Z", CARTKIT_MHL_HOSTNAME: "cart", TMPDIR: spoolFolder };
    const spooled = tool(runner, "mhl-verify", ["create", trees[0]!, "-h", "xxh128", "-h", "md5"], { env });
    const held = tool(runner, "mhl-verify", ["create", trees[1]!, "-h", "xxh128", "-h", "md5", "-dr"], { env });
    expect([spooled.code, spooled.stderr]).toEqual([0, ""]);
    expect([held.code, held.stderr]).toEqual([0, ""]);
    const generation = (root: string) => readFileSync(join(root, "ascmhl", readdirSync(join(root, "ascmhl")).find((f) => f.startsWith("0001_"))!));
    const text = generation(trees[0]!).toString();
    // More than one piece of the spool (64 KiB each), every file and folder in it.
    expect(text.length).toBeGreaterThan(200_000);
    expect(text.split("<hash>").length - 1).toBe(1_200);
    expect(text.includes(">Nested</path>")).toBe(true);
    expect(Buffer.compare(generation(trees[0]!), generation(trees[1]!))).toBe(0);
    expect(readFileSync(join(trees[0]!, "ascmhl", "ascmhl_chain.xml"))).toEqual(readFileSync(join(trees[1]!, "ascmhl", "ascmhl_chain.xml")));
    // (a compiled binary's runtime unpacks its native hashing engine there, and Bun's compiler its headers: not ours)
    expect(readdirSync(spoolFolder).filter((name) => !name.startsWith(".bun-") && !name.startsWith("bun-cc-"))).toEqual([]);
    expect(tool(runner, "mhl-verify", ["verify", trees[0]!]).code).toBe(0);
  });

  test(`${runner.label}: where TMPDIR cannot be used, or fills up while the entries are set aside, create says so once and holds them in memory: the same generations, nothing left behind`, () => {
    const work = tempDir("mhl-spool-");
    const env = { CARTKIT_MHL_NOW: "2026-01-02T03:04:05Z", CARTKIT_MHL_HOSTNAME: "cart" };
    const when = new Date("2025-06-07T08:09:10Z");
    // 60 nested histories, so that many generations are written in one run, and enough
    // entries that the temporary folder below fills up part of the way through.
    const original = join(work, "original", "A001");
    for (let n = 0; n < 60; n++) {
      mkdirSync(join(original, `roll ${n}`), { recursive: true });
      for (let i = 0; i < 40; i++) writeFileSync(join(original, `roll ${n}`, `frame ${i} ${"x".repeat(60)}.dng`), `${n}/${i}`);
      expect(tool(runner, "mhl-verify", ["create", join(original, `roll ${n}`), "-h", "xxh64"], { env }).code).toBe(0);
    }
    for (const entry of readdirSync(original, { recursive: true, encoding: "utf8" })) utimesSync(join(original, entry), when, when);
    utimesSync(original, when, when);
    const make = (root: string) => {
      mkdirSync(join(root, ".."), { recursive: true });
      expect(run(["cp", "-a", original, root]).code).toBe(0);
    };
    const generations = (root: string) =>
      (readdirSync(root, { recursive: true, encoding: "utf8" }) as string[])
        .filter((p) => p.endsWith(".mhl") || p.endsWith("ascmhl_chain.xml"))
        .sort()
        .map((p) => [p, readFileSync(join(root, p)).toString("base64")]);
    const expected = join(work, "expected", "A001");
    make(expected);
    const normal = tool(runner, "mhl-verify", ["create", expected, "-h", "xxh128"], { env });
    expect([normal.code, normal.stderr]).toEqual([0, ""]);

    // No such folder: nothing is set aside.
    const missing = join(work, "no-such-folder");
    const first = join(work, "missing", "A001");
    make(first);
    const noFolder = tool(runner, "mhl-verify", ["create", first, "-h", "xxh128"], { env: { ...env, TMPDIR: missing } });
    expect(noFolder.code).toBe(0);
    expect(noFolder.stderr).toBe(`${missing}: cannot set work aside in the temporary folder (No such file or directory); it is kept in memory instead (set TMPDIR to a folder with room)\n`);
    expect(generations(first)).toEqual(generations(expected));
    expect(existsSync(missing)).toBe(false);

    // A folder that fills up after some pieces were set aside (as root: a small tmpfs).
    const small = tmpfs(work, "small", "128k");
    if (!small) return;
    const second = join(work, "full", "A001");
    make(second);
    const full = tool(runner, "mhl-verify", ["create", second, "-h", "xxh128"], { env: { ...env, TMPDIR: small.path } });
    expect(full.code).toBe(0);
    expect(full.stderr).toBe(`${small.path}: cannot set work aside in the temporary folder (No space left on device); it is kept in memory instead (set TMPDIR to a folder with room)\n`);
    expect(generations(second)).toEqual(generations(expected));
    // (a compiled binary's runtime unpacks its native hashing engine there, and Bun's compiler its headers: not ours)
    expect(readdirSync(small.path).filter((name) => !name.startsWith(".bun-") && !name.startsWith("bun-cc-"))).toEqual([]);
  });
}

for (const runner of runners()) {
  test(`${runner.label}: dispatchcopy, where TMPDIR cannot be used, says so once in a run however many destinations get a generation`, () => {
    const work = tempDir("mhl-spool-");
    mkdirSync(join(work, "A001", "CLIPS"), { recursive: true });
    for (let i = 0; i < 3; i++) writeFileSync(join(work, "A001", "CLIPS", `C00${i}.mov`), randomBytes(1000, i + 1));
    const missing = join(work, "no-such-folder");
    const result = tool(runner, "dispatchcopy", ["-r", "A001", "S1/A001", "S2/A001", "S3/A001"], { cwd: work, env: { TMPDIR: missing } });
    expect(result.code).toBe(0);
    expect(result.stderr.replace(/^dispatchcopy: job .*\n/, "")).toBe(
      [`${missing}: cannot set work aside in the temporary folder (No such file or directory); it is kept in memory instead (set TMPDIR to a folder with room)\n`, ...["S1", "S2", "S3"].map((s) => `dispatchcopy: ${s}/A001: 3 files, 2.9 KiB verified from the device\n`)].join(""),
    );
    for (const s of ["S1", "S2", "S3"]) expect(tool(runner, "mhl-verify", ["verify", join(work, s, "A001")]).code).toBe(0);
  });

  test(`${runner.label}: a TMPDIR whose name is not UTF-8 is used as the folder it names: no fallback to memory, the same generations`, () => {
    const work = tempDir("mhl-spool-");
    const env = { CARTKIT_MHL_NOW: "2026-01-02T03:04:05Z", CARTKIT_MHL_HOSTNAME: "cart" };
    // The name's byte 0xFF reaches the tool as the kernel has it: through the shell, not a JS string.
    const odd = Buffer.concat([Buffer.from(`${work}/t`), Buffer.from([0xff])]);
    mkdirSync(odd);
    const withOddTmp = (args: string[]) => run(["sh", "-c", `TMPDIR="$(printf '%s/t\\377' "$WORK")" exec "$@"`, "sh", ...runner.command(args[0]!), ...args.slice(1)], { cwd: work, env: { ...env, WORK: work } });
    const when = new Date("2025-06-07T08:09:10Z");
    for (const kind of ["plain", "odd"]) {
      const root = join(work, kind, "A001");
      mkdirSync(join(root, "CLIPS"), { recursive: true });
      for (let i = 0; i < 20; i++) writeFileSync(join(root, "CLIPS", `C${i}.mov`), `${i}`);
      for (const entry of readdirSync(root, { recursive: true, encoding: "utf8" })) utimesSync(join(root, entry), when, when);
      utimesSync(root, when, when);
    }
    // dispatchcopy's generations, one per destination.
    const copies = withOddTmp(["dispatchcopy", "-r", "plain/A001", "S1/A001", "S2/A001"]);
    expect([copies.code, copies.stderr.replace(/^dispatchcopy: job .*\n/, "")]).toEqual([0, "dispatchcopy: S1/A001: 20 files, 30 B verified from the device\ndispatchcopy: S2/A001: 20 files, 30 B verified from the device\n"]);
    for (const s of ["S1", "S2"]) expect(tool(runner, "mhl-verify", ["verify", join(work, s, "A001")]).code).toBe(0);
    // mhl-verify create's, the same byte for byte as with a TMPDIR named in UTF-8.
    const plainTmp = join(work, "tmp");
    mkdirSync(plainTmp);
    const plain = tool(runner, "mhl-verify", ["create", join(work, "plain", "A001"), "-h", "xxh128"], { env: { ...env, TMPDIR: plainTmp } });
    const odd1 = withOddTmp(["mhl-verify", "create", join(work, "odd", "A001"), "-h", "xxh128"]);
    expect([plain.code, plain.stderr]).toEqual([0, ""]);
    expect([odd1.code, odd1.stderr]).toEqual([0, ""]);
    const generation = (kind: string) => readdirSync(join(work, kind, "A001", "ascmhl")).map((name) => [name, readFileSync(join(work, kind, "A001", "ascmhl", name), "utf8")]);
    expect(generation("odd")).toEqual(generation("plain"));
    // Nothing of ours left in it (a compiled binary's runtime unpacks its native hashing engine there, and Bun's compiler its headers: not ours).
    expect((readdirSync(odd) as string[]).filter((name) => !name.startsWith(".bun-") && !name.startsWith("bun-cc-"))).toEqual([]);
  });
}

test("a file that may not be recorded stops create after everything before it is said, with or without --jobs", async () => {
  const root = join(tempDir("mhl-stop-"), "A001");
  mkdirSync(root, { recursive: true });
  for (let i = 1; i <= 120; i++) writeFileSync(join(root, `f${String(i).padStart(3, "0")}`), `frame ${i}`);
  await createGeneration(root, { formats: ["md5"] }, quiet());
  writeFileSync(join(root, "f005"), "frame 5, changed");
  const said = async (jobs: number | undefined) => {
    const lines: string[] = [];
    const output = { data: (s: string) => lines.push(`out ${s}`), error: (s: string) => lines.push(`err ${s}`), flush: () => {} } as unknown as Output;
    let thrown = "";
    try {
      await createGeneration(root, { formats: ["md5"], jobs, expected: (path) => path !== "f090" }, new MhlLog({ output }));
    } catch (error) {
      thrown = (error as Error).message;
    }
    return { lines, thrown };
  };
  const one = await said(1);
  expect(one.thrown).toContain("appeared while the generation was being made");
  // The changed file comes before the one refused: its mismatch is said first, as one thread says it.
  expect(one.lines.filter((l) => l.startsWith("err "))).toEqual([expect.stringMatching(/^err ERROR: hash mismatch +for +f005 +md5 \(old\): /)]);
  for (const jobs of [undefined, 3]) expect(await said(jobs)).toEqual(one);
  expect(readdirSync(join(root, "ascmhl")).filter((f) => f.endsWith(".mhl"))).toHaveLength(1);
});

for (const runner of runners()) {
  test.if(process.getuid?.() === 0)(`${runner.label}: a chain that cannot be written (a full disk) leaves the history as it was, and the next create works`, () => {
    const work = tempDir("mhl-chainfull-");
    const disk = tmpfs(work, "disk", "512k");
    if (!disk) return;
    const card = join(disk.path, "card");
    mkdirSync(card);
    for (let i = 1; i <= 40; i++) writeFileSync(join(card, `f${i}`), `file ${i}\n`);
    const env = { CARTKIT_MHL_NOW: "2026-11-30T09:00:00Z", CARTKIT_MHL_HOSTNAME: "cart-01" };
    const pagesFree = () => Number(run(["stat", "-f", "-c", "%a", disk.path]).stdout.trim());
    /** Room for the generation (3 pages of 4 KiB: 8.6 KB) and none for the chain after it. */
    const fillTo = (pages: number) => writeFileSync(join(disk.path, "filler"), new Uint8Array((pagesFree() - pages) * 4096));
    for (const round of [1, 2]) {
      const before = existsSync(join(card, "ascmhl")) ? readdirSync(join(card, "ascmhl")).sort() : undefined;
      fillTo(3);
      const full = tool(runner, "mhl-verify", ["create", card, "-h", "xxh64"], { env });
      expect([round, full.code, full.stderr]).toEqual([round, 2, `mhl-verify: ${join(card, "ascmhl", "ascmhl_chain.xml")}: No space left on device\n`]);
      expect(existsSync(join(card, "ascmhl")) ? readdirSync(join(card, "ascmhl")).sort() : undefined).toEqual(before);
      rmSync(join(disk.path, "filler"));
      expect(tool(runner, "mhl-verify", ["create", card, "-h", "xxh64"], { env }).code).toBe(0);
      expect(tool(runner, "mhl-verify", ["verify", card]).code).toBe(0);
    }
  });
}
