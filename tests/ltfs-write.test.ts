/**
 * ltfs-pack write, verify, index and catalog on real trees: many small files (an index larger
 * than one record), a file of several blocks, exactly one block, empty files, deep folders and
 * unicode, colon and NFD names. Every volume is read back by our own reader byte for byte and
 * checked; where the reference LTFS tools are installed, `ltfsck` must call it consistent and a
 * read-only FUSE mount must hold identical files. The catalog page is tested in headless Chromium.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type CopyTarget, defaultSerials, writeCopies } from "../lib/ltfs/copies.ts";
import { readIndexXml } from "../lib/ltfs/index_xml.ts";
import { readPlanFile } from "../lib/ltfs/plan.ts";
import { readLabelXml } from "../lib/ltfs/label.ts";
import { indexFolders, Volume } from "../lib/ltfs/volume.ts";
import { VtapeWriter } from "../lib/ltfs/vtape.ts";
import { CliError } from "../lib/core/errors.ts";
import { setXattr } from "../lib/io/libc.ts";
import { c4FromSha512 } from "../lib/hash/c4.ts";
import type { LtfsDirectory } from "../lib/ltfs/index_model.ts";
import { anchor, asNobody, BUN, IS_ROOT, randomBytes, ROOT, readStdoutUntil, run, runners, straceOrSkip, tempDir, tool, type ToolRunner } from "./helpers.ts";

const BLOCK = 524_288;

/** A reference LTFS tool, from PATH or the usual install prefix; undefined when not installed. */
function reference(name: string): string | undefined {
  return Bun.which(name) ?? (existsSync(`/opt/ltfs-ref/bin/${name}`) ? `/opt/ltfs-ref/bin/${name}` : undefined);
}
const LTFSCK = reference("ltfsck");
const LTFS = reference("ltfs");
const MKLTFS = reference("mkltfs");
const CAN_MOUNT = LTFS !== undefined && MKLTFS !== undefined && existsSync("/dev/fuse") && process.getuid?.() === 0;

function put(root: string, path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), bytes);
}

/**
 * The test tree: returns relative path → bytes for every file. `nfd` adds a name in NFD (as
 * macOS may write it); LTFS presents names in NFC, so a tree compared by `diff -r` with a
 * mount leaves it out.
 */
function makeTree(root: string, nfd = true): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const add = (path: string, bytes: Uint8Array) => {
    put(root, path, bytes);
    files.set(path, bytes);
  };
  add("A001/CLIP/big.mov", randomBytes(2 * BLOCK + 251_424, 7));
  add("A001/empty.bin", new Uint8Array(0));
  for (let i = 0; i < 800; i++) add(`A001/small/f${String(i).padStart(3, "0")}.txt`, new TextEncoder().encode(`file ${i}\n`));
  add("B001/one-block.bin", randomBytes(BLOCK, 9));
  add("B001/empty2", new Uint8Array(0));
  add(`B001/${Array.from({ length: 12 }, (_, i) => `d${i + 1}`).join("/")}/deep.txt`, new TextEncoder().encode("deep\n"));
  add("C001/ünïcödé 日本語 🎬.txt", new TextEncoder().encode("unicode\n"));
  add("C001/colon: name.txt", new TextEncoder().encode("colon\n"));
  add(nfd ? "C001/cafe\u0301.mov" : "C001/caf\u00e9.mov", randomBytes(1000, 3));
  add("C001/<i>x.txt", new TextEncoder().encode("markup in a name\n"));
  return files;
}

function pack(runner: ToolRunner, args: string[], cwd?: string) {
  return tool(runner, "ltfs-pack", args, { cwd });
}

/** Three cards planned in plan.json: 2,000 small frames, one clip of `clipBytes` (holes), a note. */
function framesThenClip(runner: ToolRunner, clipBytes: number): string {
  const dir = tempDir("cartkit-ltfsw-");
  for (let i = 0; i < 2000; i++) put(join(dir, "DAY06"), `A001/f${String(i).padStart(4, "0")}.txt`, `frame ${i}\n`);
  put(join(dir, "DAY06"), "B001/big.mov", "");
  truncateSync(join(dir, "DAY06/B001/big.mov"), clipBytes);
  put(join(dir, "DAY06"), "C001/note.txt", "note\n");
  writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY06", "--tape", "LTO-9", "--json"], dir).stdout);
  return dir;
}

/** A planned and written tape: the folder layout used by most tests. */
function writtenTape(runner: ToolRunner, extra: string[] = [], nfd = true) {
  const dir = tempDir("cartkit-ltfsw-");
  const src = join(dir, "DAY01");
  const files = makeTree(src, nfd);
  const plan = pack(runner, ["plan", src, "--tape", "LTO-9", "--json"], dir);
  expect(plan.code).toBe(0);
  writeFileSync(join(dir, "plan.json"), plan.stdout);
  const write = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt", ...extra], dir);
  return { dir, src, files, write, vtape: join(dir, "vt") };
}

/**
 * Mounts a volume with the reference `ltfs` in the foreground, runs `body`, unmounts, and waits
 * for ltfs to finish writing its indexes (an unmount returns before that).
 */
async function withLtfsMount(devname: string, mnt: string, readOnly: boolean, body: () => void): Promise<void> {
  mkdirSync(mnt, { recursive: true });
  const proc = Bun.spawn([LTFS!, "-f", "-o", "tape_backend=file", "-o", `devname=${devname}`, ...(readOnly ? ["-o", "ro"] : []), mnt], { stdout: "ignore", stderr: "ignore" });
  for (let i = 0; i < 200 && !readFileSync("/proc/mounts", "utf8").includes(` ${mnt} `); i++) await Bun.sleep(50);
  expect(readFileSync("/proc/mounts", "utf8")).toContain(` ${mnt} `);
  try {
    body();
  } finally {
    run(["umount", mnt]);
    expect(await proc.exited).toBe(0);
  }
}

/** Copies every file and folder of a virtual tape out with our reader (bookkeeping included). */
function extract(vtape: string, to: string): void {
  const volume = Volume.open(vtape);
  for (const folder of indexFolders(volume.latest.index.root)) mkdirSync(join(to, folder), { recursive: true });
  for (const entry of volume.files()) put(to, entry.path, volume.readAll(entry));
}

describe.each(runners())("ltfs-pack write --vtape ($label)", (runner) => {
  test("a complete volume in the file backend's layout, read back byte for byte, checked and verified", () => {
    const { dir, files, write, vtape } = writtenTape(runner);
    const total = [...files.values()].reduce((sum, b) => sum + b.length, 0);
    expect(write.stderr).toBe("");
    expect(write.code).toBe(0);
    expect(write.stdout).toMatch(new RegExp(`^tape 1 of 1 → vtape vt: serial CA0001, ${files.size} files, ${total} bytes, \\d+ blocks on the data partition, index generation 2, volume [0-9a-f-]{36}\\n$`));

    // Label construct and first index on both partitions, as mkltfs lays them out.
    for (const p of [0, 1]) {
      expect(new TextDecoder().decode(readFileSync(join(vtape, `${p}_0_R`)))).toBe(`VOL1CA0001L${" ".repeat(13)}LTFS${" ".repeat(9)}${" ".repeat(42)}4`);
      for (const mark of [1, 3, 4]) expect(statSync(join(vtape, `${p}_${mark}_F`)).size).toBe(0);
      const label = readLabelXml(readFileSync(join(vtape, `${p}_2_R`), "utf8"), "label");
      expect(label).toMatchObject({ location: p === 0 ? "a" : "b", indexPartition: "a", dataPartition: "b", blockSize: BLOCK });
      expect(readdirSync(vtape).filter((n) => n.startsWith(`${p}_`) && n.endsWith("_E"))).toHaveLength(1);
    }
    // Generation 1 on the data partition (one record), then the first file at block 7.
    expect(readIndexXml(readFileSync(join(vtape, "1_5_R"), "utf8"), "1_5_R")).toMatchObject({ generationNumber: 1, location: { partition: "b", startBlock: 5 } });
    expect(statSync(join(vtape, "1_6_F")).size).toBe(0);

    const volume = Volume.open(vtape);
    expect(volume.label.serial).toBe("CA0001");
    expect(volume.latest.index.generationNumber).toBe(2);
    // The same generation closes both partitions; the index partition's copy is read. 800 small
    // files make it larger than one record.
    expect([volume.latest.partition, volume.latest.block]).toEqual([0, 5]);
    expect(volume.tape.kind(0, 6)).toBe("R");
    // The index partition holds the same generation, pointing back to the data partition's copy.
    const onIp = readIndexXml(readFileSync(join(vtape, "0_5_R"), "utf8") + readFileSync(join(vtape, "0_6_R"), "utf8"), "ip");
    expect([volume.tape.kind(0, 7), volume.tape.kind(0, 8)]).toEqual(["F", "E"]);
    expect(onIp.generationNumber).toBe(2);
    expect(onIp.location).toEqual({ partition: "a", startBlock: 5 });
    const back = onIp.previousGenerationLocation!;
    expect(back.partition).toBe("b");
    const onDp = readIndexXml(readFileSync(join(vtape, `1_${back.startBlock}_R`), "utf8") + readFileSync(join(vtape, `1_${back.startBlock + 1}_R`), "utf8"), "dp");
    expect([onDp.generationNumber, onDp.location.startBlock, volume.tape.kind(1, back.startBlock - 1), volume.tape.kind(1, back.startBlock + 2)]).toEqual([2, back.startBlock, "F", "F"]);

    const byPath = new Map(volume.files().map((f) => [f.path, f]));
    for (const [path, bytes] of files) {
      const entry = byPath.get(`DAY01/${path}`.normalize("NFC"));
      expect(entry).toBeDefined();
      expect(Buffer.compare(volume.readAll(entry!), bytes)).toBe(0);
    }
    const big = byPath.get("DAY01/A001/CLIP/big.mov")!.file;
    expect(big.extents).toHaveLength(1);
    expect(big.extents[0]!.startBlock).toBe(7);
    expect([7, 8, 9].map((b) => volume.tape.recordSize(1, b))).toEqual([BLOCK, BLOCK, 251_424]);
    expect(byPath.get("DAY01/A001/empty.bin")!.file.extents).toEqual([]);
    expect(big.xattrs.map((x) => x.key)).toEqual(["cartkit.hash.xxh128"]);
    // An NFD source name is stored in NFC, as LTFS presents names.
    expect(byPath.has("DAY01/C001/caf\u00e9.mov")).toBe(true);

    const check = pack(runner, ["index", "--vtape", "vt", "--check"], dir);
    expect([check.code, check.stdout, check.stderr]).toEqual([0, "", `ltfs-pack index: vt: index generation 2 is sound (${files.size + 3} files)\n`]);
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect(verify.stderr).toBe("");
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^verified vt: ${files.size + 1} files, \\d+ bytes read back, all match ascmhl/0001_CA0001_\\d{4}-\\d{2}-\\d{2}_\\d{6}Z\\.mhl\\n$`));

    // The tape's MHL is a valid ASC MHL history of the whole volume.
    extract(vtape, join(dir, "restored"));
    const mhl = tool(runner, "mhl-verify", ["verify", join(dir, "restored")]);
    expect([mhl.code, mhl.stderr]).toEqual([0, ""]);
  }, 60_000);
});

/** The fields of `/proc/PID/stat` after the command's name (state, parent, …); undefined once it is gone. */
function procStat(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8")
      .replace(/^.*\) /s, "")
      .split(" ");
  } catch {
    return undefined;
  }
}

/**
 * Runs `ltfs-pack ARGS` under strace with every `syscall` on `path` (as the tool names it, from
 * `cwd`) held for 30 s, waits until it is held there (stopped by strace for a second on end),
 * kills it with SIGKILL, and returns what it printed.
 */
async function heldAt(strace: string, path: string, syscall: string, cwd: string, args: string[]): Promise<string> {
  const proc = Bun.spawn([strace, "-f", "-qq", "--seccomp-bpf", "-o", "/dev/null", "-P", path, "-e", `trace=${syscall}`, "-e", `inject=${syscall}:delay_enter=30000000`, BUN, join(ROOT, "tools/ltfs-pack.ts"), ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  const output = new Response(proc.stdout).text();
  let tracee: number | undefined;
  for (let held = 0, i = 0; held < 20 && i < 400; i++) {
    await Bun.sleep(50);
    tracee ??= readdirSync("/proc")
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .find((pid) => procStat(pid)?.[1] === String(proc.pid));
    held = tracee !== undefined && procStat(tracee)?.[0] === "t" ? held + 1 : 0;
  }
  expect(tracee).toBeDefined();
  expect(procStat(tracee!)?.[0]).toBe("t");
  process.kill(tracee!, 9);
  // strace itself would wait out the hold.
  proc.kill(9);
  await proc.exited;
  return await output;
}

describe("ltfs-pack write: damage, interruption, mistakes", () => {
  const runner = runners()[0]!;

  test("verify finds a flipped byte, a missing record and an altered MHL (exit 1), naming each", () => {
    const { dir, write, vtape } = writtenTape(runner);
    expect(write.code).toBe(0);
    const bad = join(dir, "bad");
    cpSync(vtape, bad, { recursive: true });
    const record = readFileSync(join(bad, "1_8_R"));
    record[1000] = record[1000]! ^ 1;
    writeFileSync(join(bad, "1_8_R"), record);
    let result = pack(runner, ["verify", "--vtape", "bad"], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ltfs-pack verify: DAY01\/A001\/CLIP\/big\.mov: MISMATCH: xxh128 [0-9a-f]{32}, the MHL says [0-9a-f]{32}; xxh128 [0-9a-f]{32}, the index says [0-9a-f]{32}\n$/);
    expect(result.stdout).toMatch(/^FAILED bad: 1 of \d+ files do not verify/);

    rmSync(join(bad, "1_8_R"));
    result = pack(runner, ["verify", "--vtape", "bad"], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("DAY01/A001/CLIP/big.mov: UNREADABLE (DAY01/A001/CLIP/big.mov: block 8 of partition b holds no record)");

    const mhlWrong = join(dir, "mhl");
    cpSync(vtape, mhlWrong, { recursive: true });
    const volume = Volume.open(mhlWrong);
    const generation = volume.files().find((f) => f.path.endsWith(".mhl"))!;
    const block = generation.file.extents[0]!.startBlock;
    const text = readFileSync(join(mhlWrong, `1_${block}_R`), "utf8");
    writeFileSync(join(mhlWrong, `1_${block}_R`), text.replace("<hostname>", "<hostname>x"));
    result = pack(runner, ["verify", "--vtape", "mhl"], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/: C4 c4\w+ differs from the chain's c4\w+; the MHL was altered\n/);
  }, 60_000);

  test("kill -9 after the first card: the volume reads as of its last index, and checks sound", async () => {
    const dir = tempDir("cartkit-ltfsw-");
    // A first card large beside its index (a card's index waits for 20 times its size in data).
    put(join(dir, "DAY02"), "A001/a.mov", randomBytes(1 << 20, 2));
    put(join(dir, "DAY02"), "B001/big.mov", "");
    truncateSync(join(dir, "DAY02/B001/big.mov"), 512 * 1024 * 1024);
    const plan = pack(runner, ["plan", "DAY02", "--tape", "LTO-9", "--json"], dir);
    writeFileSync(join(dir, "plan.json"), plan.stdout);
    const proc = Bun.spawn([BUN, join(ROOT, "tools/ltfs-pack.ts"), "write", "plan.json", "--tape", "1", "--vtape", "vt", "--json"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    const text = await readStdoutUntil(proc.stdout, '"reason":"file set DAY02/A001"');
    proc.kill(9);
    expect(await proc.exited).not.toBe(0);
    expect(text).toContain('"reason":"file set DAY02/A001"');

    const check = pack(runner, ["index", "--vtape", "vt", "--check"], dir);
    expect([check.code, check.stderr]).toEqual([0, "ltfs-pack index: vt: index generation 2 is sound (1 files)\n"]);
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect(verify.code).toBe(1);
    // Without an MHL nothing is verified: stdout says so, as the exit does.
    expect(verify.stdout).toBe("FAILED vt: 0 of 1 files do not verify, 1 problem(s) with the tape, no ASC MHL (1048576 bytes read back)\n");
    expect(verify.stderr).toBe(
      "ltfs-pack verify: vt: the data partition holds a newer index (generation 2) than the index partition: the volume was not closed (a write or mount that did not finish; ltfsck recovers it)\n" + "ltfs-pack verify: vt: no ASC MHL on the tape (ascmhl/); compared with the index's digests only\n",
    );
    if (LTFSCK) {
      const ltfsck = run([LTFSCK, "-e", "file", join(dir, "vt")]);
      expect(ltfsck.stdout + ltfsck.stderr).toContain("Volume is consistent");
      expect(ltfsck.code).toBeLessThanOrEqual(1);
    }
  }, 60_000);

  test("write-back is started for records of 256 KiB and more only; small ones wait for the flush (needs strace)", () => {
    const strace = straceOrSkip();
    if (!strace) return;
    const dir = tempDir("cartkit-ltfsw-");
    for (let i = 0; i < 50; i++) put(join(dir, "DAY07"), `A001/f${i}.txt`, `small ${i}\n`);
    put(join(dir, "DAY07"), "A001/clip.mov", randomBytes(3 * BLOCK + 300_000, 8));
    put(join(dir, "DAY07"), "A001/tail.mov", randomBytes(BLOCK + 1000, 9));
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY07", "--tape", "LTO-9", "--json"], dir).stdout);
    const traced = run([strace, "-f", "-qq", "-e", "trace=sync_file_range,syncfs", "-o", join(dir, "trace"), ...runner.command("ltfs-pack"), "write", "plan.json", "--tape", "1", "--vtape", "vt"], { cwd: dir });
    expect([traced.code, traced.stderr]).toEqual([0, ""]);
    const calls = readFileSync(join(dir, "trace"), "utf8").split("\n");
    // clip.mov: 3 full records and one of 300,000 bytes; tail.mov: 1 full record and 1,000 bytes.
    expect(calls.filter((line) => line.includes("sync_file_range(")).length).toBe(5);
    expect(calls.filter((line) => line.includes("syncfs(")).length).toBeGreaterThan(0);
    expect(pack(runner, ["verify", "--vtape", "vt"], dir).code).toBe(0);
  }, 60_000);

  test("Ctrl-C during a write ends it at once (exit 130, said), leaving the tape as of its last index", async () => {
    const dir = tempDir("cartkit-ltfsw-");
    put(join(dir, "DAY07"), "A001/note.txt", "note\n");
    put(join(dir, "DAY07"), "B001/big.mov", "");
    // Holes read fast, but md5 of 1 GiB takes seconds.
    truncateSync(join(dir, "DAY07/B001/big.mov"), 1024 * 1024 * 1024);
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY07", "--tape", "LTO-9", "--json"], dir).stdout);
    const proc = Bun.spawn([...runner.command("ltfs-pack"), "write", "plan.json", "--tape", "1", "--vtape", "vt", "--hash", "md5"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    // Under way (the binary starts in well under a second; the write takes several).
    await Bun.sleep(1500);
    const sent = performance.now();
    proc.kill("SIGINT");
    const deaf = setTimeout(() => proc.kill("SIGKILL"), 30_000);
    const code = await proc.exited;
    clearTimeout(deaf);
    expect({ code, quick: performance.now() - sent < 5_000, stderr: await new Response(proc.stderr).text() }).toEqual({ code: 130, quick: true, stderr: "ltfs-pack: interrupted (SIGINT)\n" });
    expect(pack(runner, ["verify", "--vtape", "vt"], dir).code).toBe(1);
  }, 120_000);

  test("a card's index is skipped while it would take more tape than a twentieth of the data since the last one", () => {
    const dir = framesThenClip(runner, 128 * 1024 * 1024);
    const write = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt", "--json"], dir);
    expect([write.code, write.stderr]).toEqual([0, ""]);
    const indexes = write.stdout
      .split("\n")
      .filter((line) => line.includes('"event":"index"'))
      .map((line) => JSON.parse(line) as { partition: string; block: number; generation: number; reason: string });
    // 2,000 names make an index of about 2 MiB: not worth it after 20 KB of frames, worth it after
    // 128 MiB more, not after a note.
    expect(indexes.map((i) => [i.partition, i.generation, i.reason])).toEqual([
      ["b", 1, "format"],
      ["a", 1, "format"],
      ["b", 2, "file set DAY06/B001"],
      ["b", 3, "close"],
      ["a", 3, "close"],
    ]);
    const volume = Volume.open(join(dir, "vt"));
    const recordsFrom = (block: number) => {
      let n = 0;
      while (volume.tape.kind(1, block + n) === "R") n++;
      return n;
    };
    const afterB = indexes[2]!;
    const bytesOfIndex = Array.from({ length: recordsFrom(afterB.block) }, (_, k) => volume.tape.recordSize(1, afterB.block + k)).reduce((a, b) => a + b, 0);
    expect(bytesOfIndex).toBeGreaterThan(BLOCK);
    expect(20 * bytesOfIndex).toBeLessThanOrEqual(128 * 1024 * 1024);
    expect(pack(runner, ["index", "--vtape", "vt", "--check"], dir).stderr).toBe("ltfs-pack index: vt: index generation 3 is sound (2005 files)\n");
    expect(pack(runner, ["verify", "--vtape", "vt"], dir).code).toBe(0);
  }, 120_000);

  test("kill -9 before the first card's index: the formatted volume reads empty, and verify and catalog call the write unfinished (needs strace)", async () => {
    const strace = straceOrSkip();
    if (!strace) return;
    const dir = tempDir("cartkit-ltfsw-");
    put(join(dir, "DAY08"), "A001/a.txt", "first card\n");
    put(join(dir, "DAY08"), "B001/big.mov", randomBytes(1 << 20, 3));
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY08", "--tape", "LTO-9", "--json"], dir).stdout);
    // The second card's file is held at its open: the first card's index (not due) is behind.
    const traced = await heldAt(strace, join(dir, "DAY08/B001"), "openat", dir, ["write", "plan.json", "--tape", "1", "--vtape", "vt", "--json"]);
    expect(traced).not.toContain('"reason":"file set');

    const check = pack(runner, ["index", "--vtape", "vt", "--check"], dir);
    expect([check.code, check.stderr]).toEqual([0, "ltfs-pack index: vt: index generation 1 is sound (0 files)\n"]);
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect([verify.code, verify.stdout]).toEqual([1, "FAILED vt: 0 of 0 files do not verify, 1 problem(s) with the tape, no ASC MHL (0 bytes read back)\n"]);
    expect(verify.stderr).toBe("ltfs-pack verify: vt: no ltfs-pack-catalog.json on a volume ltfs-pack formatted: its write did not finish\nltfs-pack verify: vt: no ASC MHL on the tape (ascmhl/); compared with the index's digests only\n");
    const catalog = pack(runner, ["catalog", "vt", "-o", "cat"], dir);
    expect(catalog.code).toBe(1);
    expect(JSON.parse(readFileSync(join(dir, "cat/catalog.json"), "utf8")).tapes[0]).toMatchObject({ serial: "CA0001", files: 0, status: "incomplete", note: "its write did not finish (no ltfs-pack-catalog.json on a volume ltfs-pack formatted)" });
  }, 60_000);

  test("kill -9 after the data partition's closing index, before the index partition's: verify calls the volume not closed (needs strace)", async () => {
    const strace = straceOrSkip();
    if (!strace) return;
    const dir = tempDir("cartkit-ltfsw-");
    put(join(dir, "DAY09"), "A001/a.mov", randomBytes(1 << 20, 5));
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY09", "--tape", "LTO-9", "--json"], dir).stdout);
    mkdirSync(join(dir, "vt"));
    // The index partition is cut back (its end-of-data mark at block 4) before its closing index.
    const traced = await heldAt(strace, "vt/0_4_E", "openat", dir, ["write", "plan.json", "--tape", "1", "--vtape", "vt", "--json"]);
    expect(traced).toContain('"reason":"close"');
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/^FAILED vt: 0 of 2 files do not verify, 1 problem\(s\) with the tape \(\d+ bytes read back\)\n$/);
    expect(verify.stderr).toBe("ltfs-pack verify: vt: the data partition holds a newer index (generation 3) than the index partition: the volume was not closed (a write or mount that did not finish; ltfsck recovers it)\n");
    expect(pack(runner, ["catalog", "vt", "-o", "cat"], dir).code).toBe(1);
  }, 60_000);

  test("a source named ascmhl or ltfs-pack-catalog.json would take the tape's own records: plan and write refuse it (exit 2)", () => {
    const dir = tempDir("cartkit-ltfsw-");
    put(join(dir, "card"), "CLIPS/A001.mov", randomBytes(5000, 6));
    put(join(dir, "card"), "ascmhl/ascmhl_chain.xml", "<ascmhldirectory/>\n");
    put(join(dir, "card"), "ltfs-pack-catalog.json/x", "{}\n");
    for (const reserved of ["ascmhl", "ltfs-pack-catalog.json"]) {
      const plan = pack(runner, ["plan", "card/CLIPS", `card/${reserved}`, "--tape", "LTO-9", "--json"], dir);
      const what = reserved === "ascmhl" ? "ASC MHL history" : "catalog entry";
      expect([plan.code, plan.stdout, plan.stderr]).toEqual([2, "", `ltfs-pack plan: card/${reserved}: '${reserved}' at the tape's root is where the tape's own ${what} goes; give the folder that holds it (the card) instead\n`]);
    }
    // A plan edited to put a file there is refused before anything is written.
    const plan = pack(runner, ["plan", "card/CLIPS", "--tape", "LTO-9", "--json"], dir);
    expect(plan.code).toBe(0);
    writeFileSync(join(dir, "plan.json"), plan.stdout.replaceAll('"path": "CLIPS/A001.mov"', '"path": "ascmhl/A001.mov"'));
    expect(readFileSync(join(dir, "plan.json"), "utf8")).toContain('"path": "ascmhl/A001.mov"');
    const write = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt"], dir);
    expect(write.code).toBe(2);
    expect(write.stderr).toContain("'ascmhl' at the tape's root is where the tape's own ASC MHL history goes");
    expect(existsSync(join(dir, "vt"))).toBe(false);
  });

  test.if(process.getuid?.() === 0)(
    "a virtual tape whose drive fills up: a one-line error naming the record (exit 2); the tape reads as of its last index",
    () => {
      const dir = tempDir("cartkit-ltfsw-");
      put(join(dir, "DAY03"), "A001/a.mov", randomBytes(1 << 20, 4));
      put(join(dir, "DAY03"), "B001/big.mov", randomBytes(12 * 1024 * 1024, 5));
      const plan = pack(runner, ["plan", "DAY03", "--tape", "LTO-9", "--json"], dir);
      writeFileSync(join(dir, "plan.json"), plan.stdout);
      mkdirSync(join(dir, "small"));
      expect(run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", join(dir, "small")]).code).toBe(0);
      try {
        const write = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "small/vt"], dir);
        expect(write.code).toBe(2);
        expect(write.stdout).toBe("tape 1 of 1 → vtape small/vt: serial CA0001, NOT written: write failed: No space left on device; the virtual tape holds what was written up to its last index\n");
        expect(write.stderr).toMatch(/^ltfs-pack write: small\/vt\/1_\d+_R: write failed: No space left on device; the virtual tape holds what was written up to its last index\n$/);
        const check = pack(runner, ["index", "--vtape", "small/vt", "--check"], dir);
        expect([check.code, check.stderr]).toEqual([0, "ltfs-pack index: small/vt: index generation 2 is sound (1 files)\n"]);
        const verify = pack(runner, ["verify", "--vtape", "small/vt"], dir);
        expect([verify.code, verify.stdout]).toEqual([1, "FAILED small/vt: 0 of 1 files do not verify, 1 problem(s) with the tape, no ASC MHL (1048576 bytes read back)\n"]);
      } finally {
        run(["umount", join(dir, "small")]);
      }
    },
    60_000,
  );

  test("every hash format in flight: each digest in the index is what the reference tools print, and the tape verifies", () => {
    const dir = tempDir("cartkit-ltfsw-");
    const big = randomBytes(3 * BLOCK + 77, 21);
    put(join(dir, "DAY04"), "A001/clip.mov", big);
    put(join(dir, "DAY04"), "A001/note.txt", "note\n");
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY04", "--tape", "LTO-9", "--json"], dir).stdout);
    const write = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt", "--hash", "c4,md5,sha1,xxh64,xxh3,xxh128"], dir);
    expect([write.code, write.stderr]).toEqual([0, ""]);
    const index = readIndexXml(pack(runner, ["index", "--vtape", "vt"], dir).stdout, "index");
    const clip = (index.root.contents[0] as LtfsDirectory).contents.find((e) => e.name === "A001") as LtfsDirectory;
    const entry = clip.contents.find((e) => e.name === "clip.mov")!;
    const attrs = Object.fromEntries(entry.xattrs.map((x) => [x.key, x.value]));
    const file = join(dir, "DAY04/A001/clip.mov");
    expect(attrs["ltfs.hash.md5sum"]).toBe(run(["md5sum", file]).stdout.split(" ")[0]);
    expect(attrs["ltfs.hash.sha1sum"]).toBe(run(["sha1sum", file]).stdout.split(" ")[0]);
    const xxhsum = anchor("xxhsum");
    if (xxhsum) {
      expect(attrs["cartkit.hash.xxh64"]).toBe(run([xxhsum, "-H1", file]).stdout.split(" ")[0]);
      expect(attrs["cartkit.hash.xxh128"]).toBe(run([xxhsum, "-H2", file]).stdout.split(" ")[0]);
      expect(attrs["cartkit.hash.xxh3"]).toBe(/= ([0-9a-f]{16})\n$/.exec(run([xxhsum, "-H3", file]).stdout)?.[1]);
    }
    // A C4 ID is base58 of the SHA-512: mixed case, kept as written.
    expect(attrs["cartkit.hash.c4"]).toBe(c4FromSha512(new Bun.CryptoHasher("sha512").update(big).digest() as Uint8Array));
    expect(attrs["cartkit.hash.c4"]).toMatch(/^c4[1-9A-HJ-NP-Za-km-z]{88}$/);
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect([verify.code, verify.stderr]).toEqual([0, ""]);
    expect(verify.stdout).toMatch(/^verified vt: 3 files, \d+ bytes read back, all match ascmhl\/0001_CA0001_.*\.mhl\n$/);
  });

  test("mistakes are one-line errors (exit 2): a used folder, a bad plan, a missing tape, a bad serial, not a tape", () => {
    const { dir, write } = writtenTape(runner);
    expect(write.code).toBe(0);
    const used = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt"], dir);
    expect([used.code, used.stderr, used.stdout]).toEqual([2, "ltfs-pack write: vt: is not empty; a virtual tape is written into a new or empty folder, never over one\n", "tape 1 of 1 → vtape vt: serial CA0001, NOT written: is not empty; a virtual tape is written into a new or empty folder, never over one\n"]);
    const cases: [string[], number, string][] = [
      [["write", "DAY01/C001/colon: name.txt", "--tape", "1", "--vtape", "n"], 2, "ltfs-pack write: DAY01/C001/colon: name.txt: is not JSON (JSON Parse error: Unexpected identifier \"colon\"); make it with 'ltfs-pack plan --json'\n"],
      [["write", "plan.json", "--tape", "2", "--vtape", "n"], 2, "ltfs-pack write: the plan has 1 tape(s); --tape 2 is not one of them\n"],
      [["write", "plan.json", "--tape", "1", "--vtape", "n", "--serial", "ab-1"], 2, "ltfs-pack write: invalid serial 'AB-1': 1-6 of A-Z, 0-9\n"],
      [["write", "plan.json", "--tape", "1", "--vtape", "n", "--copies", "2"], 2, "ltfs-pack write: --copies 2 but 1 target(s) given; give one --vtape or --mount per copy\n"],
      [["write", "plan.json", "--tape", "1"], 2, "ltfs-pack write: give --vtape DIR or --mount MOUNTPOINT; see 'ltfs-pack write --help'\n"],
      [["verify", "--vtape", "DAY01"], 2, "ltfs-pack verify: DAY01: is not an LTFS virtual tape (no VOL1 record at block 0); give the folder written by 'ltfs-pack write --vtape'\n"],
      [["index", "plan.json"], 2, "ltfs-pack index: plan.json: line 1: text outside the root element\n"],
    ];
    for (const [args, code, stderr] of cases) {
      const result = pack(runner, args, dir);
      expect([args.join(" "), result.code, result.stderr]).toEqual([args.join(" "), code, stderr]);
      expect(result.stdout).toBe("");
    }
    expect(existsSync(join(dir, "n"))).toBe(false);
  }, 60_000);

  test("a source changed since the plan is refused and named (exit 2); the rest is written, the tape does not verify and is cataloged incomplete", () => {
    const dir = tempDir("cartkit-ltfsw-");
    put(join(dir, "DAY03"), "A001/a.mov", randomBytes(5000, 1));
    put(join(dir, "DAY03"), "A001/b.mov", randomBytes(6000, 2));
    const plan = pack(runner, ["plan", "DAY03", "--tape", "LTO-9", "--json"], dir);
    writeFileSync(join(dir, "plan.json"), plan.stdout);
    writeFileSync(join(dir, "DAY03/A001/b.mov"), randomBytes(6001, 2));
    const write = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt"], dir);
    expect(write.code).toBe(2);
    expect(write.stderr).toBe(`ltfs-pack write: ${join(dir, "DAY03/A001/b.mov")}: is 6001 bytes, the plan says 6000; the file changed since the plan was made, make it again\n`);
    expect(write.stdout).toMatch(/serial CA0001, 1 files, 5000 bytes, .*; 1 NOT written\n$/);
    // The tape holds what was written, and says what was not: it never verifies as complete.
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect([verify.code, verify.stdout]).toEqual([1, "FAILED vt: 1 of 3 files do not verify (5000+ bytes read back)\n".replace("5000+", String(Number(/\((\d+) bytes/.exec(verify.stdout)?.[1])))]);
    expect(verify.stderr).toBe(`ltfs-pack verify: DAY03/A001/b.mov: NOT WRITTEN (in the tape's plan but never written: ${join(dir, "DAY03/A001/b.mov")}: is 6001 bytes, the plan says 6000; the file changed since the plan was made, make it again)\n`);
    const json = pack(runner, ["verify", "--vtape", "vt", "--json"], dir);
    expect(
      json.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .map((r: { path: string; status: string }) => [r.path, r.status]),
    ).toEqual([
      ["DAY03/A001/a.mov", "ok"],
      ["ltfs-pack-catalog.json", "ok"],
      ["DAY03/A001/b.mov", "not-written"],
    ]);
    const catalog = pack(runner, ["catalog", "vt", "-o", "cat"], dir);
    expect(catalog.code).toBe(1);
    expect(catalog.stderr).toBe("ltfs-pack catalog: vt: tape CA0001 is INCOMPLETE: 1 file(s) of its plan not written: DAY03/A001/b.mov\n" + "ltfs-pack catalog: catalog of 1 tape(s), 1 files, 1 tape(s) incomplete or damaged: cat/catalog.json, cat/index.html\n");
    const tape = JSON.parse(readFileSync(join(dir, "cat/catalog.json"), "utf8")).tapes[0];
    expect([tape.status, tape.note, tape.notWritten.map((f: { path: string; size: number }) => [f.path, f.size])]).toEqual(["incomplete", "1 file(s) of its plan not written", [["DAY03/A001/b.mov", 6000]]]);
    const chromium = anchor("chromium");
    if (chromium) {
      const page = run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", `file://${join(dir, "cat/index.html")}`]);
      expect(page.stdout).toContain('<div class="tape" data-serial="CA0001" data-status="incomplete">');
      expect(page.stdout).toContain('<span class="incomplete">INCOMPLETE: 1 file(s) of its plan not written: DAY03/A001/b.mov</span>');
    }
  }, 60_000);
});

/** A small written tape of one 2,097,152-byte clip (4 blocks) and a note. */
function clipTape(runner: ToolRunner) {
  const dir = tempDir("cartkit-ltfsw-");
  put(join(dir, "DAY05"), "A001/clip.mov", randomBytes(2_097_152, 11));
  put(join(dir, "DAY05"), "A001/note.txt", "note\n");
  writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY05", "--tape", "LTO-9", "--json"], dir).stdout);
  const write = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt"], dir);
  expect([write.code, write.stderr]).toEqual([0, ""]);
  const vtape = join(dir, "vt");
  // The closing index: on the index partition at block 5 (one record), pointing back to its copy on the data partition.
  const onIndex = readIndexXml(readFileSync(join(vtape, "0_5_R"), "utf8"), "0_5_R");
  const dataBlock = onIndex.previousGenerationLocation!.startBlock;
  return { dir, vtape, indexRecord: join(vtape, "0_5_R"), dataRecord: join(vtape, `1_${dataBlock}_R`), dataBlock };
}

/** Rewrites a record's text, keeping its length (a bit flipped on the medium). */
function flip(record: string, from: string, to: string): void {
  const text = readFileSync(record, "utf8");
  expect(from.length).toBe(to.length);
  expect(text).toContain(from);
  writeFileSync(record, text.replace(from, to));
}

describe("ltfs-pack verify: every record of a file's size, both copies of the index", () => {
  const runner = runners()[1]!;

  test("one flipped bit in the index's <length> (2097152 → 2097150) is a MISMATCH, and the two index copies disagree (exit 1)", () => {
    const { dir, indexRecord, dataBlock } = clipTape(runner);
    flip(indexRecord, "<length>2097152</length>", "<length>2097150</length>");
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toBe("ltfs-pack verify: DAY05/A001/clip.mov: MISMATCH (read 2097152 bytes, the index says 2097150)\n" + `ltfs-pack verify: vt: /DAY05/A001/clip.mov: length is 2097150 in the index partition's copy, 2097152 in the data partition's copy (block ${dataBlock})\n`);
    expect(verify.stdout).toMatch(/^FAILED vt: 1 of 3 files do not verify, 1 problem\(s\) with the tape \(\d+ bytes read back\)\n$/);
    const check = pack(runner, ["index", "--vtape", "vt", "--check"], dir);
    expect([check.code, check.stdout]).toEqual([1, "/DAY05/A001/clip.mov: extent 1: ends at file offset 2097152, past the file length 2097150\n" + `/DAY05/A001/clip.mov: length is 2097150 in the index partition's copy, 2097152 in the data partition's copy (block ${dataBlock})\n`]);
    // The catalog does not take the damaged copy's word for it.
    const catalog = pack(runner, ["catalog", "vt", "-o", "cat"], dir);
    expect(catalog.code).toBe(1);
    expect(catalog.stderr.split("\n")[0]).toBe(`ltfs-pack catalog: vt: tape CA0001: INDEX DAMAGED: /DAY05/A001/clip.mov: length is 2097150 in the index partition's copy, 2097152 in the data partition's copy (block ${dataBlock}); verify it`);
    expect(JSON.parse(readFileSync(join(dir, "cat/catalog.json"), "utf8")).tapes[0].indexProblems).toHaveLength(1);
  });

  test("damage to the data partition's copy of the index is found by verify and index --check (exit 1)", () => {
    const { dir, vtape, dataRecord, dataBlock } = clipTape(runner);
    const bad = join(dir, "bad");
    cpSync(vtape, bad, { recursive: true });
    flip(join(bad, basename(dataRecord)), "<length>2097152</length>", "<length>2097150</length>");
    let verify = pack(runner, ["verify", "--vtape", "bad"], dir);
    expect([verify.code, verify.stderr]).toEqual([1, `ltfs-pack verify: bad: /DAY05/A001/clip.mov: length is 2097152 in the index partition's copy, 2097150 in the data partition's copy (block ${dataBlock})\n`]);
    expect(verify.stdout).toMatch(/^FAILED bad: 0 of 3 files do not verify, 1 problem\(s\) with the tape \(\d+ bytes read back\)\n$/);
    expect(pack(runner, ["index", "--vtape", "bad", "--check"], dir).code).toBe(1);

    // A copy that no longer reads at all.
    flip(dataRecord, "<fileuid>", "<fileuiD>");
    verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(new RegExp(`^ltfs-pack verify: vt: the data partition's copy \\(block ${dataBlock}\\) of generation 3 cannot be read: line \\d+: end tag </fileuid> does not match <fileuiD> \\(line \\d+\\)\\n$`));
    const check = pack(runner, ["index", "--vtape", "vt", "--check"], dir);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^ltfsindex: the data partition's copy \(block \d+\) of generation 3 cannot be read: /);
  });

  test("a digest turned into base64 bytes of the same text in one copy of the index is a difference (exit 1)", () => {
    const { dir, dataRecord, dataBlock } = clipTape(runner);
    const text = readFileSync(dataRecord, "utf8");
    const digest = /<value>([0-9a-f]{32})<\/value>/.exec(text)![1]!;
    writeFileSync(dataRecord, text.replace(`<value>${digest}</value>`, `<value type="base64">${digest}</value>`));
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(new RegExp(`^ltfs-pack verify: vt: /DAY05/A001/[a-z.]+: extendedattributes is .*"text","${digest}".* in the index partition's copy, .*"base64","${digest}".* in the data partition's copy \\(block ${dataBlock}\\)\\n$`));
    expect(pack(runner, ["index", "--vtape", "vt", "--check"], dir).code).toBe(1);
  });

  test("the index partition one generation ahead of the copy it points back to, as the reference leaves a volume changed without data: verifies", () => {
    const { dir, indexRecord } = clipTape(runner);
    const text = readFileSync(indexRecord, "utf8");
    const generation = Number(/<generationnumber>(\d+)<\/generationnumber>/.exec(text)![1]);
    // A folder's time set on a mount: a new generation on the index partition only.
    const at = text.indexOf("<modifytime>") + "<modifytime>".length + 11;
    writeFileSync(indexRecord, `${text.slice(0, at)}23${text.slice(at + 2)}`.replace(`<generationnumber>${generation}</generationnumber>`, `<generationnumber>${generation + 1}</generationnumber>`));
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect([verify.code, verify.stderr]).toEqual([0, ""]);
    expect(pack(runner, ["index", "--vtape", "vt", "--check"], dir).code).toBe(0);
    expect(pack(runner, ["catalog", "vt", "-o", "cat"], dir).code).toBe(0);
    // Behind it is not: the data partition's copy newer than the index partition's.
    writeFileSync(indexRecord, text.replace(`<generationnumber>${generation}</generationnumber>`, `<generationnumber>${generation - 1}</generationnumber>`));
    const behind = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect(behind.code).toBe(1);
    expect(behind.stderr).toContain(`is generation ${generation}, newer than the index partition's ${generation - 1}`);
  });

  test("copies that differ in access times alone agree, as the reference's unmount leaves them; in a modify time they do not", () => {
    const { dir, indexRecord, dataBlock } = clipTape(runner);
    const text = readFileSync(indexRecord, "utf8");
    const times = (tag: string) => [...text.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, "g"))].map((m) => m[0]);
    expect(times("accesstime").length).toBeGreaterThan(3);
    // An hour other than the one given, whatever the time of day the test runs at.
    const otherHour = (hour: string) => String((Number(hour) + 1) % 24).padStart(2, "0");
    // Every entry's access time moved on the index partition's copy, as after reading each file.
    let later = text;
    for (const old of new Set(times("accesstime")))
      later = later.replaceAll(
        old,
        old.replace(/T(\d\d)/, (_, hour: string) => `T${otherHour(hour)}`),
      );
    expect(later).not.toBe(text);
    writeFileSync(indexRecord, later);
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect([verify.code, verify.stderr]).toEqual([0, ""]);
    expect(pack(runner, ["index", "--vtape", "vt", "--check"], dir).code).toBe(0);

    const at = later.indexOf("<modifytime>", later.indexOf("<name>clip.mov</name>")) + "<modifytime>".length + 11;
    const hour = otherHour(later.slice(at, at + 2));
    writeFileSync(indexRecord, `${later.slice(0, at)}${hour}${later.slice(at + 2)}`);
    const again = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`^ltfs-pack verify: vt: /DAY05/A001/clip\\.mov: modifytime is [^ ]*T${hour}[^ ]* in the index partition's copy, [^ ]* in the data partition's copy \\(block ${dataBlock}\\)\\n$`));
  });

  test("names are shown escaped in verify's lines: newline and C1 cannot forge a line (ESC never reaches a tape)", () => {
    const dir = tempDir("cartkit-ltfsw-");
    const name = "a\nINFO: fake \u009bred.mov";
    put(join(dir, "DAY06"), `A001/${name}`, randomBytes(5000, 4));
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY06", "--tape", "LTO-9", "--json"], dir).stdout);
    expect(pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt"], dir).code).toBe(0);
    const record = readFileSync(join(dir, "vt/1_7_R"));
    record[10] = record[10]! ^ 1;
    writeFileSync(join(dir, "vt/1_7_R"), record);
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(/^ltfs-pack verify: DAY06\/A001\/a\\nINFO: fake \\x9bred\.mov: MISMATCH: xxh128 [0-9a-f]{32}, the MHL says [0-9a-f]{32}; xxh128 [0-9a-f]{32}, the index says [0-9a-f]{32}\n$/);
  });
});

/** The record file holding the first block of `path` on a written tape. */
function firstRecordOf(vtape: string, path: string): string {
  const volume = Volume.open(vtape);
  try {
    const extent = volume.files().find((f) => f.path === path)!.file.extents[0]!;
    return `${volume.partitionNumber(extent.partition)}_${extent.startBlock}_R`;
  } finally {
    volume.close();
  }
}

describe.each(runners())("a virtual tape's records are read beneath its folder, never through a link ($label)", (runner) => {
  test("a data record moved out and replaced by a link to it: verify names it and exits 1, though the bytes are right", () => {
    const { dir, vtape } = clipTape(runner);
    const record = firstRecordOf(vtape, "DAY05/A001/clip.mov");
    renameSync(join(vtape, record), join(dir, "outside"));
    symlinkSync(join(dir, "outside"), join(vtape, record));
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toBe(`ltfs-pack verify: DAY05/A001/clip.mov: UNREADABLE (DAY05/A001/clip.mov: ${record}: a symbolic link, not a tape record; never followed)\n`);
    expect(verify.stdout).toMatch(/^FAILED vt: 1 of 3 files do not verify \(\d+ bytes read back\)\n$/);
    // A link that stays inside the folder is no better: a record is its own file.
    rmSync(join(vtape, record));
    renameSync(join(dir, "outside"), join(vtape, "moved"));
    symlinkSync("moved", join(vtape, record));
    expect(pack(runner, ["verify", "--vtape", "vt"], dir).code).toBe(1);
  });

  test("an index record that is a link refuses the tape: verify, index and catalog name it (exit 1) and fall back on no other index", () => {
    const { dir, indexRecord } = clipTape(runner);
    renameSync(indexRecord, join(dir, "index-outside"));
    symlinkSync(join(dir, "index-outside"), indexRecord);
    const refused = `vt: ${basename(indexRecord)}: a symbolic link, not a tape record; never followed\n`;
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect([verify.code, verify.stdout, verify.stderr]).toEqual([1, "", `ltfs-pack verify: ${refused}`]);
    const index = pack(runner, ["index", "--vtape", "vt"], dir);
    expect([index.code, index.stdout, index.stderr]).toEqual([1, "", `ltfs-pack index: ${refused}`]);
    const catalog = pack(runner, ["catalog", "vt", "-o", "cat"], dir);
    expect([catalog.code, catalog.stderr]).toEqual([1, `ltfs-pack catalog: ${refused}`]);
  });

  test("a record that is a FIFO is refused without blocking on it", () => {
    const { dir, vtape } = clipTape(runner);
    const record = firstRecordOf(vtape, "DAY05/A001/clip.mov");
    rmSync(join(vtape, record));
    expect(run(["mkfifo", join(vtape, record)]).code).toBe(0);
    const verify = pack(runner, ["verify", "--vtape", "vt"], dir);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toBe(`ltfs-pack verify: DAY05/A001/clip.mov: UNREADABLE (DAY05/A001/clip.mov: ${record}: a FIFO, not a tape record; never read)\n`);
  }, 30_000);
});

describe("ltfs-pack write: copies, permissions, links and folders", () => {
  const runner = runners()[1]!;

  test.if(IS_ROOT)(
    "a copy whose drive fills up does not stop the others: they are written and verify, the failing one is named (exit 2)",
    () => {
      const dir = tempDir("cartkit-ltfsw-");
      put(join(dir, "DAY07"), "A001/a.txt", "first card\n");
      put(join(dir, "DAY07"), "B001/big.mov", randomBytes(12 * 1024 * 1024, 5));
      writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY07", "--tape", "LTO-9", "--json"], dir).stdout);
      mkdirSync(join(dir, "small"));
      expect(run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", join(dir, "small")]).code).toBe(0);
      try {
        const write = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "small/vt", "--vtape", "vt2", "--mount", "mnt"], dir);
        expect(write.code).toBe(2);
        expect(write.stderr).toMatch(/^ltfs-pack write: small\/vt\/1_\d+_R: write failed: No space left on device; the virtual tape holds what was written up to its last index\n/);
        expect(write.stderr).toMatch(/\nltfs-pack write: mnt: cannot be used: No such file or directory\nltfs-pack write: 2 of 3 copies NOT written: small\/vt, mnt\n$/);
        const lines = write.stdout.split("\n");
        expect(lines[0]).toMatch(/^tape 1 of 1 → vtape small\/vt: serial CA0001, NOT written: write failed: No space left on device/);
        expect(lines[1]).toMatch(/^tape 1 of 1 → vtape vt2: serial CB0001, 2 files, 12582923 bytes, \d+ blocks on the data partition, index generation 3, volume /);
        expect(lines[2]).toBe("tape 1 of 1 → mount mnt: serial CC0001, NOT written: cannot be used: No such file or directory");
        const verify = pack(runner, ["verify", "--vtape", "vt2"], dir);
        expect([verify.code, verify.stderr]).toEqual([0, ""]);
      } finally {
        run(["umount", join(dir, "small")]);
      }
    },
    60_000,
  );

  test.if(IS_ROOT)("a 0600 source stays private: virtual-tape records are 0600 and a --mount copy keeps its source's mode", () => {
    const dir = tempDir("cartkit-ltfsw-");
    chmodSync(dir, 0o755);
    put(join(dir, "DAY08"), "A001/secret.key", "private\n");
    put(join(dir, "DAY08"), "A001/public.txt", "public\n");
    chmodSync(join(dir, "DAY08/A001/secret.key"), 0o600);
    chmodSync(join(dir, "DAY08/A001/public.txt"), 0o644);
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY08", "--tape", "LTO-9", "--json"], dir).stdout);
    mkdirSync(join(dir, "mnt"));
    expect(pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt", "--mount", "mnt"], dir).code).toBe(0);
    const records = readdirSync(join(dir, "vt")).filter((n) => n.endsWith("_R"));
    expect(records.length).toBeGreaterThan(8);
    for (const name of records) expect([name, statSync(join(dir, "vt", name)).mode & 0o7777]).toEqual([name, 0o600]);
    // The secret's record: nobody cannot read it.
    const cat = run(asNobody(["cat", join(dir, "vt/1_7_R")]));
    expect([cat.code, cat.stdout]).toEqual([1, ""]);
    expect(statSync(join(dir, "mnt/DAY08/A001/secret.key")).mode & 0o7777).toBe(0o600);
    expect(statSync(join(dir, "mnt/DAY08/A001/public.txt")).mode & 0o7777).toBe(0o644);
    expect(pack(runner, ["verify", "--mount", "mnt"], dir).code).toBe(0);
  });

  test("a --mount copy keeps its source's modification time to the nanosecond, before 1970 and a tenth of a microsecond before a second", () => {
    const dir = tempDir("cartkit-ltfsw-");
    put(join(dir, "DAY10"), "A001/a.mov", "a\n");
    put(join(dir, "DAY10"), "A001/b.mov", "b\n");
    put(join(dir, "DAY10"), "A001/c.mov", "c\n");
    const times: Record<string, string> = { "a.mov": "2025-01-02 03:04:05.999999900", "b.mov": "1969-12-31 23:59:58.123456789", "c.mov": "2024-05-06 07:08:09.000000001" };
    for (const [name, when] of Object.entries(times)) expect(run(["touch", "-d", `${when} UTC`, join(dir, "DAY10/A001", name)]).code).toBe(0);
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY10", "--tape", "LTO-9", "--json"], dir).stdout);
    mkdirSync(join(dir, "mnt"));
    expect(pack(runner, ["write", "plan.json", "--tape", "1", "--mount", "mnt"], dir).code).toBe(0);
    for (const name of Object.keys(times)) {
      const source = statSync(join(dir, "DAY10/A001", name), { bigint: true }).mtimeNs;
      expect([name, statSync(join(dir, "mnt/DAY10/A001", name), { bigint: true }).mtimeNs]).toEqual([name, source]);
    }
    expect(statSync(join(dir, "mnt/DAY10/A001/a.mov"), { bigint: true }).mtimeNs).toBe(1_735_787_045_999_999_900n);
  });

  test.if(IS_ROOT)("a source dated past what a date holds is named and NOT written (exit 2), to a --mount copy and a virtual tape", () => {
    const dir = tempDir("cartkit-ltfsw-");
    // tmpfs keeps any 64-bit time.
    expect(run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", dir]).code).toBe(0);
    try {
      put(join(dir, "DAY11"), "A001/far.mov", "far\n");
      put(join(dir, "DAY11"), "A001/near.mov", "near\n");
      expect(run(["python3", "-c", `import os; os.utime(${JSON.stringify(join(dir, "DAY11/A001/far.mov"))}, ns=(2**62 * 10**9,) * 2)`]).code).toBe(0);
      // Planned before the time is set: the plan itself carries no date.
      writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY11", "--tape", "LTO-9", "--json"], dir).stdout);
      mkdirSync(join(dir, "mnt"));
      const write = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt", "--mount", "mnt"], dir);
      expect(write.code).toBe(2);
      expect(write.stderr).toContain("DAY11/A001/far.mov: has a modification time no date can hold (4611686018427387904000000000 ns from 1970); give it a real one (touch) and plan again");
      expect(write.stderr).not.toContain("Invalid Date");
      expect(existsSync(join(dir, "mnt/DAY11/A001/far.mov"))).toBe(false);
      expect(readFileSync(join(dir, "mnt/DAY11/A001/near.mov"), "utf8")).toBe("near\n");
    } finally {
      run(["umount", dir]);
    }
  });

  test("a link swapped in after the plan is not followed out of the source: that file is NOT written (exit 2)", () => {
    const dir = tempDir("cartkit-ltfsw-");
    put(join(dir, "DAY09"), "A001/a.txt", "a\n");
    put(join(dir, "DAY09"), "A001/b.txt", "b\n");
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY09", "--tape", "LTO-9", "--json"], dir).stdout);
    writeFileSync(join(dir, "secret"), "s\n");
    rmSync(join(dir, "DAY09/A001/b.txt"));
    symlinkSync(join(dir, "secret"), join(dir, "DAY09/A001/b.txt"));
    const write = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt"], dir);
    expect(write.code).toBe(2);
    expect(write.stderr).toBe(`ltfs-pack write: ${join(dir, "DAY09/A001/b.txt")}: cannot be read: a symbolic link on the way leaves ${join(dir, "DAY09")}; not followed\n`);
    expect(
      Volume.open(join(dir, "vt"))
        .files()
        .map((f) => f.path),
    ).toEqual(["DAY09/A001/a.txt", expect.stringMatching(/^ascmhl\/0001_/), "ascmhl/ascmhl_chain.xml", "ltfs-pack-catalog.json"]);
    expect(pack(runner, ["verify", "--vtape", "vt"], dir).code).toBe(1);
  });

  test("--mount never writes through a link planted in the volume", () => {
    const dir = tempDir("cartkit-ltfsw-");
    put(join(dir, "DAY10"), "A001/a.txt", "a\n");
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY10", "--tape", "LTO-9", "--json"], dir).stdout);
    mkdirSync(join(dir, "mnt"));
    mkdirSync(join(dir, "elsewhere"));
    symlinkSync(join(dir, "elsewhere"), join(dir, "mnt/DAY10"));
    const write = pack(runner, ["write", "plan.json", "--tape", "1", "--mount", "mnt"], dir);
    expect(write.code).toBe(2);
    expect(write.stderr).toBe(`ltfs-pack write: mnt/DAY10/A001/a.txt: cannot be written: a symbolic link is where a folder is needed: mnt/DAY10 (links inside a destination or source are never followed); nothing was written\n`);
    expect(readdirSync(join(dir, "elsewhere"))).toEqual([]);
    expect(readdirSync(join(dir, "mnt"))).toEqual(["DAY10"]);
  });

  test("an empty source folder (an empty card) is planned and written as an empty folder on tape", () => {
    const dir = tempDir("cartkit-ltfsw-");
    put(join(dir, "cards"), "C001/a.txt", "a\n");
    mkdirSync(join(dir, "cards/E001"));
    const plan = pack(runner, ["plan", "cards/E001", "cards/C001", "--tape", "LTO-9", "--json"], dir);
    expect(plan.code).toBe(0);
    writeFileSync(join(dir, "plan.json"), plan.stdout);
    const write = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt"], dir);
    expect([write.code, write.stderr]).toEqual([0, ""]);
    expect(indexFolders(Volume.open(join(dir, "vt")).latest.index.root)).toContain("E001");
    expect(pack(runner, ["verify", "--vtape", "vt"], dir).code).toBe(0);
    // Only a folder may be a source folder itself.
    writeFileSync(join(dir, "bad.json"), plan.stdout.replace('"source": "' + join(dir, "cards/C001/a.txt") + '"', '"source": "' + join(dir, "cards/C001") + '"'));
    expect(readFileSync(join(dir, "bad.json"), "utf8")).not.toBe(plan.stdout);
    const bad = pack(runner, ["write", "bad.json", "--tape", "1", "--vtape", "vt2"], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("has a source outside the plan's source folders");
  });

  test("empty folders go on tape, in the index and on a mount, and verify holds the tape to them", () => {
    const dir = tempDir("cartkit-ltfsw-");
    put(join(dir, "DAY11"), "A001/a.txt", "a\n");
    mkdirSync(join(dir, "DAY11/A001/EMPTY"));
    mkdirSync(join(dir, "DAY11/B001/sub"), { recursive: true });
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY11", "--tape", "LTO-9", "--json"], dir).stdout);
    mkdirSync(join(dir, "mnt"));
    const write = pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt", "--mount", "mnt"], dir);
    expect(write.code).toBe(2 - 2);
    expect(write.stdout).toMatch(/^tape 1 of 1 → vtape vt: serial CA0001, 1 files, 2 empty folders, 2 bytes,/);
    const volume = Volume.open(join(dir, "vt"));
    const a001 = (volume.latest.index.root.contents[0] as LtfsDirectory).contents.find((e) => e.name === "A001") as LtfsDirectory;
    expect(a001.contents.map((e) => [e.kind, e.name])).toEqual([
      ["directory", "EMPTY"],
      ["file", "a.txt"],
    ]);
    expect(statSync(join(dir, "mnt/DAY11/B001/sub")).isDirectory()).toBe(true);
    expect(pack(runner, ["verify", "--vtape", "vt"], dir).code).toBe(0);
    expect(pack(runner, ["verify", "--mount", "mnt"], dir).code).toBe(0);
    // The restored tree verifies as an ASC MHL history, its empty folders included.
    extract(join(dir, "vt"), join(dir, "restored"));
    expect(tool(runner, "mhl-verify", ["verify", join(dir, "restored")]).code).toBe(0);
    rmSync(join(dir, "mnt/DAY11/B001/sub"), { recursive: true });
    const verify = pack(runner, ["verify", "--mount", "mnt"], dir);
    expect([verify.code, verify.stderr]).toEqual([1, "ltfs-pack verify: DAY11/B001/sub/: MISSING (folder recorded in the tape's MHL or plan, but not on the tape)\n"]);
  });

  test.if(IS_ROOT)("a folder that cannot be read fails write and verify --mount, named (run as nobody)", () => {
    const dir = tempDir("cartkit-ltfsw-");
    chmodSync(dir, 0o755);
    put(join(dir, "DAY12"), "A001/a.txt", "a\n");
    put(join(dir, "DAY12"), "A002/b.txt", "b\n");
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY12", "--tape", "LTO-9", "--json"], dir).stdout);
    mkdirSync(join(dir, "out"));
    chownSync(join(dir, "out"), 65534, 65534);
    chmodSync(join(dir, "DAY12/A002"), 0o000);
    const write = run(asNobody([...runner.command("ltfs-pack"), "write", "plan.json", "--tape", "1", "--vtape", "out/vt", "--mount", "out/mnt"]), { cwd: dir });
    mkdirSync(join(dir, "out/mnt"));
    expect(write.code).toBe(2);
    expect(write.stderr.split("\n")[0]).toBe(`ltfs-pack write: ${join(dir, "DAY12/A002/b.txt")}: cannot be read: Permission denied`);
    const verify = pack(runner, ["verify", "--vtape", "out/vt"], dir);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toContain("ltfs-pack verify: DAY12/A002/b.txt: NOT WRITTEN");

    // A readable tape on a mount whose folder nobody may read.
    chmodSync(join(dir, "DAY12/A002"), 0o755);
    rmSync(join(dir, "out/mnt"), { recursive: true, force: true });
    mkdirSync(join(dir, "out/mnt"));
    expect(pack(runner, ["write", "plan.json", "--tape", "1", "--mount", "out/mnt"], dir).code).toBe(0);
    chmodSync(join(dir, "out/mnt/DAY12/A002"), 0o000);
    const hidden = run(asNobody([...runner.command("ltfs-pack"), "verify", "--mount", "out/mnt"]), { cwd: dir });
    expect(hidden.code).toBe(1);
    expect(hidden.stderr).toBe("ltfs-pack verify: DAY12/A002/b.txt: MISSING (recorded in ascmhl/" + /ascmhl\/(\S+) but/.exec(hidden.stderr)?.[1] + " but not on the tape)\n" + `ltfs-pack verify: ${join("out/mnt", "DAY12/A002")}: folder cannot be read: Permission denied\n`);
  });
});

describe("the virtual-tape record writer", () => {
  /** Writes the same positions through `w`: records of several sizes, file marks, an end mark. */
  function writeSample(w: VtapeWriter): void {
    const next = [0, 0];
    for (let i = 0; i < 40; i++) {
      const size = [BLOCK, 1, 80, BLOCK - 1, 0][i % 5]!;
      const partition = i % 3 === 0 ? 0 : 1;
      w.recordBuffer().set(randomBytes(size, i));
      expect(w.commitRecord(partition, size)).toBe(next[partition]!++);
      if (i % 7 === 6) expect(w.writeFilemark(1)).toBe(next[1]!++);
    }
    w.markEnd(1);
    w.close();
  }

  /**
   * Writes the sample through a writer made by `make` and through one with no thread, and
   * expects the same files with the same bytes; returns the file names and the folder.
   */
  function sameAsWithoutThread(make: (dir: string) => VtapeWriter): { names: string[]; dir: string } {
    const dir = tempDir("cartkit-vtw-");
    const tested = join(dir, "tested");
    const here = join(dir, "here");
    mkdirSync(tested);
    mkdirSync(here);
    writeSample(make(tested));
    writeSample(new VtapeWriter(here, { recordSize: BLOCK, thread: false }));
    const names = readdirSync(here).sort();
    expect(readdirSync(tested).sort()).toEqual(names);
    for (const name of names) expect(readFileSync(join(tested, name)).equals(readFileSync(join(here, name)))).toBe(true);
    return { names, dir: tested };
  }

  test("on its own thread it writes exactly what it writes without one", () => {
    const { names, dir } = sameAsWithoutThread((dir) => new VtapeWriter(dir, { recordSize: BLOCK }));
    expect(names.filter((n) => n.endsWith("_R")).length).toBe(40);
    expect(names).toContain("1_31_E");
    expect(names.filter((n) => n.endsWith("_F")).length).toBe(5);
    expect(statSync(join(dir, "0_0_R")).size).toBe(BLOCK);
  });

  test("a writer thread that never starts: the records are written here, and the caller is told", () => {
    let told = 0;
    const { names } = sameAsWithoutThread((dir) => new VtapeWriter(dir, { recordSize: BLOCK, workerScript: join(dir, "..", "no-such-worker.ts"), onNoThread: () => told++ }));
    expect(told).toBe(1);
    expect(names.filter((n) => n.endsWith("_R")).length).toBe(40);
  }, 20_000);

  test("a record that cannot be written stops the writer with a one-line error naming it", () => {
    const dir = tempDir("cartkit-vtw-");
    for (const thread of [true, false]) {
      const vt = join(dir, String(thread));
      mkdirSync(vt);
      // Something already holds position 1_3_R: records are never written over.
      writeFileSync(join(vt, "1_3_R"), "in the way");
      const w = new VtapeWriter(vt, { recordSize: BLOCK, thread });
      let error: unknown;
      try {
        for (let i = 0; i < 6; i++) w.writeRecord(1, randomBytes(1000, i));
        w.markEnd(1);
      } catch (caught) {
        error = caught;
      } finally {
        w.stop();
      }
      expect(error).toBeInstanceOf(CliError);
      expect([(error as CliError).path, (error as CliError).message]).toEqual([join(vt, "1_3_R"), "write failed: File exists; the virtual tape holds what was written up to its last index"]);
      expect(readFileSync(join(vt, "1_3_R"), "utf8")).toBe("in the way");
      expect(existsSync(join(vt, "1_6_E"))).toBe(false);
    }
  });
});

describe("ltfs-pack write --mount", () => {
  const runner = runners()[1]!;

  test("into a folder that is not LTFS: warned, written in plan order, verified; a corrupted file fails verify", () => {
    const dir = tempDir("cartkit-ltfsw-");
    const files = makeTree(join(dir, "DAY01"));
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY01", "--tape", "LTO-9", "--json"], dir).stdout);
    mkdirSync(join(dir, "mnt"));
    const write = pack(runner, ["write", "plan.json", "--tape", "1", "--mount", "mnt", "--hash", "md5"], dir);
    expect(write.code).toBe(0);
    expect(write.stderr).toBe("ltfs-pack write: mnt: not an LTFS mount (no user.ltfs.volumeUUID); written as a plain folder, no index syncs\n");
    for (const [path, bytes] of files) expect(Buffer.compare(readFileSync(join(dir, "mnt/DAY01", path)), bytes)).toBe(0);
    expect(readdirSync(join(dir, "mnt")).sort()).toEqual(["DAY01", "ascmhl", "ltfs-pack-catalog.json"]);
    expect(pack(runner, ["verify", "--mount", "mnt"], dir).code).toBe(0);
    expect(tool(runner, "mhl-verify", ["verify", join(dir, "mnt")]).code).toBe(0);
    writeFileSync(join(dir, "mnt/DAY01/C001/colon: name.txt"), "COLON\n");
    const bad = pack(runner, ["verify", "--mount", "mnt"], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ltfs-pack verify: DAY01\/C001\/colon: name\.txt: MISMATCH: md5 [0-9a-f]{32}, the MHL says [0-9a-f]{32}/);
    const again = pack(runner, ["write", "plan.json", "--tape", "1", "--mount", "mnt"], dir);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(`ltfs-pack write: ${join("mnt", "ascmhl")}: is on the volume: it holds a written tape already; nothing was written (load a blank tape)\n`);
    // Another plan's files onto it: refused before a byte, not verified later against the first MHL.
    put(join(dir, "DAY02"), "Z001/z.mov", randomBytes(3000, 7));
    writeFileSync(join(dir, "plan2.json"), pack(runner, ["plan", "DAY02", "--tape", "LTO-9", "--json"], dir).stdout);
    const other = pack(runner, ["write", "plan2.json", "--tape", "1", "--mount", "mnt"], dir);
    expect([other.code, other.stderr]).toEqual([2, `ltfs-pack write: ${join("mnt", "ascmhl")}: is on the volume: it holds a written tape already; nothing was written (load a blank tape)\n`]);
    expect(existsSync(join(dir, "mnt/DAY02"))).toBe(false);
    rmSync(join(dir, "mnt/ascmhl"), { recursive: true });
    expect(pack(runner, ["write", "plan2.json", "--tape", "1", "--mount", "mnt"], dir).stderr).toBe(`ltfs-pack write: ${join("mnt", "ltfs-pack-catalog.json")}: is on the volume: it holds a written tape already; nothing was written (load a blank tape)\n`);
  }, 60_000);

  test("verify --mount reads a card's own ascmhl/ as files of the tape, as verify --vtape does: a good tape verifies, a changed history fails", () => {
    const dir = tempDir("cartkit-ltfsw-");
    put(join(dir, "DAY01"), "A001/a.mov", randomBytes(3000, 1));
    expect(tool(runner, "mhl-verify", ["create", join(dir, "DAY01/A001"), "-h", "xxh128"]).code).toBe(0);
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY01", "--tape", "LTO-9", "--json"], dir).stdout);
    mkdirSync(join(dir, "mnt"));
    expect(pack(runner, ["write", "plan.json", "--tape", "1", "--mount", "mnt"], dir).code).toBe(0);
    expect(pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt"], dir).code).toBe(0);
    for (const args of [
      ["--mount", "mnt"],
      ["--vtape", "vt"],
    ]) {
      const good = pack(runner, ["verify", ...args], dir);
      expect([good.code, good.stderr]).toEqual([0, ""]);
      expect(good.stdout).toStartWith(`verified ${args[1]}: 4 files, `);
    }
    writeFileSync(join(dir, "mnt/DAY01/A001/ascmhl/ascmhl_chain.xml"), "changed\n");
    const bad = pack(runner, ["verify", "--mount", "mnt"], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ltfs-pack verify: DAY01\/A001\/ascmhl\/ascmhl_chain\.xml: MISMATCH: /);
  }, 60_000);

  test("catalog holds a tape to its catalog entry: a file removed, cut short, given another digest or (on LTFS) touched since is named, and the tape is incomplete (exit 1); an entry that does not read is named", () => {
    const dir = tempDir("cartkit-ltfsw-");
    for (const name of ["a", "b", "c", "d", "e", "cafe\u0301"]) put(join(dir, "DAY01"), `A001/${name}.mov`, randomBytes(3000, name.charCodeAt(0)));
    writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY01", "--tape", "LTO-9", "--json"], dir).stdout);
    mkdirSync(join(dir, "mnt"));
    expect(pack(runner, ["write", "plan.json", "--tape", "1", "--mount", "mnt"], dir).code).toBe(0);
    const catalog = () => {
      const result = pack(runner, ["catalog", "mnt", "-o", "cat", "--force"], dir);
      return { ...result, tape: JSON.parse(readFileSync(join(dir, "cat/catalog.json"), "utf8")).tapes[0] };
    };
    // The NFD name is on the folder as written, and in the entry as LTFS presents it (NFC).
    const clean = catalog();
    expect([clean.code, clean.tape.status, clean.tape.changed]).toEqual([0, "complete", undefined]);
    const clip = (name: string) => join(dir, "mnt/DAY01/A001", `${name}.mov`);
    const { mtime } = statSync(clip("b"));
    rmSync(clip("a"));
    writeFileSync(clip("b"), randomBytes(3000, 99)); // same size, same attributes: only its time moved
    truncateSync(clip("c"), 100);
    utimesSync(clip("c"), mtime, mtime);
    setXattr(clip("d"), "user.cartkit.hash.xxh128", "0".repeat(32));
    const reasons = (tape: { changed: { path: string; reason: string }[] }) => tape.changed.map((f) => [f.path, f.reason.replace(/\d{4}-[\d:.T-]+Z/g, "T")]);
    // A plain folder keeps times as coarse as its file system: they are not compared.
    const plain = catalog();
    expect(plain.code).toBe(1);
    expect(plain.tape).toMatchObject({ status: "incomplete", note: "3 file(s) written to it missing or changed on it since (verify it)", files: 5 });
    expect(reasons(plain.tape)).toEqual([
      ["DAY01/A001/a.mov", "not on the tape"],
      ["DAY01/A001/c.mov", "100 bytes on the tape, 3000 when written"],
      ["DAY01/A001/d.mov", "its digest on the tape is not the one written"],
    ]);
    expect(plain.stderr.split("\n")[0]).toBe(
      "ltfs-pack catalog: mnt: tape CA0001 is INCOMPLETE: 3 file(s) written to it missing or changed on it since (verify it): DAY01/A001/a.mov (not on the tape), DAY01/A001/c.mov (100 bytes on the tape, 3000 when written), DAY01/A001/d.mov (its digest on the tape is not the one written)",
    );
    // LTFS keeps them to the nanosecond: there the rewrite shows.
    setXattr(join(dir, "mnt"), "user.ltfs.volumeUUID", "5c2a3f0e-1f6b-4a57-9d1e-2b7a3c4d5e6f");
    expect(reasons(catalog().tape)).toEqual([
      ["DAY01/A001/a.mov", "not on the tape"],
      ["DAY01/A001/b.mov", "modified T on the tape, T when written"],
      ["DAY01/A001/c.mov", "100 bytes on the tape, 3000 when written"],
      ["DAY01/A001/d.mov", "its digest on the tape is not the one written"],
    ]);
    // What catalog cannot see without reading data, verify does: a rewrite with its time put back.
    writeFileSync(clip("e"), randomBytes(3000, 98));
    utimesSync(clip("e"), statSync(join(dir, "DAY01/A001/e.mov")).mtime, statSync(join(dir, "DAY01/A001/e.mov")).mtime);
    expect(catalog().tape.changed).toHaveLength(4);
    expect(pack(runner, ["verify", "--mount", "mnt"], dir).stderr).toContain("DAY01/A001/e.mov: MISMATCH");
    // An entry that is not what write writes holds the tape to nothing, and says so; a digest named like an object's own property is a digest.
    const entryPath = join(dir, "mnt/ltfs-pack-catalog.json");
    const entry = JSON.parse(readFileSync(entryPath, "utf8"));
    for (const [text, status, code] of [
      ["null", "unknown", 0],
      [JSON.stringify({ ...entry, files: { a: 1 } }), "unknown", 0],
      [JSON.stringify({ ...entry, files: [{ path: "DAY01/A001/e.mov", size: "3000" }] }), "unknown", 0],
    ] as const) {
      writeFileSync(entryPath, text);
      const bad = catalog();
      expect([bad.code, bad.tape.status, bad.tape.note, bad.stderr.includes("    at ")]).toEqual([code, status, "its ltfs-pack-catalog.json cannot be read", false]);
    }
    writeFileSync(entryPath, JSON.stringify({ ...entry, files: [{ path: "DAY01/A001/e.mov", size: 3000, hashes: { constructor: "abc", toString: "x" } }] }));
    expect([catalog().code, catalog().tape.status]).toEqual([0, "complete"]);
    // A FIFO where the entry goes is not waited on.
    rmSync(entryPath);
    expect(run(["mkfifo", entryPath]).code).toBe(0);
    const fifo = run([...runner.command("ltfs-pack"), "catalog", "mnt", "-o", "cat", "--force"], { cwd: dir, timeoutMs: 20_000 });
    expect([fifo.code, JSON.parse(readFileSync(join(dir, "cat/catalog.json"), "utf8")).tapes[0].status]).toEqual([0, "unknown"]);
  }, 60_000);
});

describe.if(LTFSCK !== undefined)("reference LTFS tools (installed here)", () => {
  const runner = runners()[1]!;

  test("ltfsck calls our volume consistent; a read-only FUSE mount holds identical files", async () => {
    const { dir, src, write, vtape } = writtenTape(runner, [], false);
    expect(write.code).toBe(0);
    const ltfsck = run([LTFSCK!, "-e", "file", vtape]);
    expect(ltfsck.stdout + ltfsck.stderr).toContain("LTFS16022I Volume is consistent.");
    expect(ltfsck.stdout + ltfsck.stderr).toContain("CA0001 : Gen = 2 / (a, 5)");
    expect(ltfsck.code).toBeLessThanOrEqual(1);
    if (!CAN_MOUNT) return;
    const mnt = join(dir, "mnt");
    await withLtfsMount(vtape, mnt, true, () => {
      const diff = run(["diff", "-r", src, join(mnt, "DAY01")]);
      expect([diff.code, diff.stdout]).toEqual([0, ""]);
      expect(tool(runner, "mhl-verify", ["verify", mnt]).code).toBe(0);
    });
  }, 120_000);

  test.if(CAN_MOUNT)(
    "catalog of a tape written through a mount with placement rules (files moved to the index partition) is complete; touched, or a file made a link, through a mount since, it is not",
    async () => {
      const dir = tempDir("cartkit-ltfsw-");
      put(join(dir, "DAY01"), "A001/small.txt", "small\n");
      put(join(dir, "DAY01"), "A001/empty.txt", "");
      put(join(dir, "DAY01"), "A001/clip.mov", randomBytes(300_000, 5));
      writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY01", "--tape", "LTO-9", "--json"], dir).stdout);
      mkdirSync(join(dir, "ref"));
      expect(run([MKLTFS!, "-e", "file", "-d", join(dir, "ref"), "-s", "REF007", "-n", "REF007", "-r", "size=100K"]).code).toBe(0);
      await withLtfsMount(join(dir, "ref"), join(dir, "mnt"), false, () => {
        expect(pack(runner, ["write", "plan.json", "--tape", "1", "--mount", "mnt", "--serial", "REF007"], dir).code).toBe(0);
      });
      const catalog = () => {
        const result = pack(runner, ["catalog", "ref", "-o", "cat", "--force"], dir);
        return { code: result.code, tape: JSON.parse(readFileSync(join(dir, "cat/catalog.json"), "utf8")).tapes[0] };
      };
      expect([catalog().code, catalog().tape.status]).toEqual([0, "complete"]);
      await withLtfsMount(join(dir, "ref"), join(dir, "mnt"), false, () => {
        expect(run(["touch", join(dir, "mnt/DAY01/A001/small.txt")]).code).toBe(0);
        rmSync(join(dir, "mnt/DAY01/A001/empty.txt"));
        symlinkSync("/etc/passwd", join(dir, "mnt/DAY01/A001/empty.txt"));
      });
      const after = catalog();
      expect(after.code).toBe(1);
      expect(after.tape.changed.map((f: { path: string; reason: string }) => [f.path, f.reason.split(" ")[0]])).toEqual([
        ["DAY01/A001/empty.txt", "not"],
        ["DAY01/A001/small.txt", "modified"],
      ]);
    },
    180_000,
  );

  test.if(CAN_MOUNT)(
    "--mount: a card's sync is skipped while its index would take more tape than a twentieth of the data since the last one",
    async () => {
      const dir = framesThenClip(runner, 64 * 1024 * 1024);
      mkdirSync(join(dir, "ref"));
      expect(run([MKLTFS!, "-e", "file", "-d", join(dir, "ref"), "-s", "REF006", "-n", "REF006"]).code).toBe(0);
      await withLtfsMount(join(dir, "ref"), join(dir, "mnt"), false, () => {
        const write = pack(runner, ["write", "plan.json", "--tape", "1", "--mount", "mnt", "--serial", "REF006", "--json"], dir);
        expect([write.code, write.stderr]).toEqual([0, ""]);
        const syncs = write.stdout
          .split("\n")
          .filter((line) => line.includes('"event":"index"'))
          .map((line) => (JSON.parse(line) as { reason: string }).reason);
        // 2,000 names: about 2 MiB of index, not worth it after 20 KB of frames; worth it after 64 MiB more, not after a note.
        expect(syncs).toEqual(["file set DAY06/B001", "close"]);
        expect(pack(runner, ["verify", "--mount", "mnt"], dir).code).toBe(0);
      });
      const ltfsck = run([LTFSCK!, "-e", "file", join(dir, "ref")]);
      expect(ltfsck.stdout + ltfsck.stderr).toContain("Volume is consistent");
      expect(pack(runner, ["verify", "--vtape", "ref"], dir).code).toBe(0);
    },
    180_000,
  );

  test.if(CAN_MOUNT)(
    "--mount through a real LTFS mount made by mkltfs; our reader verifies the reference's volume",
    async () => {
      const dir = tempDir("cartkit-ltfsw-");
      makeTree(join(dir, "DAY01"));
      writeFileSync(join(dir, "plan.json"), pack(runner, ["plan", "DAY01", "--tape", "LTO-9", "--json"], dir).stdout);
      mkdirSync(join(dir, "ref"));
      expect(run([MKLTFS!, "-e", "file", "-d", join(dir, "ref"), "-s", "REF001", "-n", "REF001"]).code).toBe(0);
      await withLtfsMount(join(dir, "ref"), join(dir, "mnt"), false, () => {
        const write = pack(runner, ["write", "plan.json", "--tape", "1", "--mount", "mnt", "--serial", "REF001"], dir);
        expect([write.code, write.stderr]).toEqual([0, ""]);
        expect(pack(runner, ["verify", "--mount", "mnt"], dir).code).toBe(0);
      });
      const ltfsck = run([LTFSCK!, "-e", "file", join(dir, "ref")]);
      expect(ltfsck.stdout + ltfsck.stderr).toContain("Volume is consistent");
      const verify = pack(runner, ["verify", "--vtape", "ref"], dir);
      expect([verify.code, verify.stderr]).toEqual([0, ""]);
      expect(pack(runner, ["index", "--vtape", "ref", "--check"], dir).code).toBe(0);
    },
    120_000,
  );
});

describe("ltfs-pack catalog", () => {
  const runner = runners()[1]!;

  test("two tapes and a saved index: JSON records, and a page that searches and shows tapes (headless Chromium)", () => {
    const { dir, write } = writtenTape(runner);
    expect(write.code).toBe(0);
    expect(pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt2", "--serial", "CB0001", "--hash", "xxh128,md5"], dir).code).toBe(0);
    expect(pack(runner, ["write", "plan.json", "--tape", "1", "--vtape", "vt3", "--serial", "CC0001"], dir).code).toBe(0);
    const saved = pack(runner, ["index", "--vtape", "vt3"], dir);
    writeFileSync(join(dir, "CC0001.xml"), saved.stdout);
    const made = pack(runner, ["catalog", "vt", "vt2", "CC0001.xml", "-o", "cat"], dir);
    expect(made.code).toBe(0);
    expect(made.stdout.split("\n").map((l) => l.split("\t").slice(0, 3).join(" "))).toEqual(["CA0001 vtape 809 files", "CB0001 vtape 809 files", "CC0001 index 809 files", ""]);
    const catalog = JSON.parse(readFileSync(join(dir, "cat/catalog.json"), "utf8"));
    expect(catalog.files).toHaveLength(3 * 809);
    const big = catalog.files.filter((f: { path: string }) => f.path === "DAY01/A001/CLIP/big.mov");
    expect(big.map((f: { tape: string; startBlock: number; size: number }) => [f.tape, f.startBlock, f.size])).toEqual([
      ["CA0001", 7, 1_300_000],
      ["CB0001", 7, 1_300_000],
      ["CC0001", 7, 1_300_000],
    ]);
    expect(Object.keys(big[1].hashes).sort()).toEqual(["md5", "xxh128"]);
    expect(catalog.tapes.map((t: { capacityBytes?: number }) => t.capacityBytes !== undefined)).toEqual([true, true, false]);
    const again = pack(runner, ["catalog", "vt", "-o", "cat"], dir);
    expect([again.code, again.stderr]).toEqual([2, `ltfs-pack catalog: ${join("cat", "catalog.json")}: already exists; give --force to replace it\n`]);

    const chromium = anchor("chromium");
    if (!chromium) return;
    const page = (query: string) => {
      const result = run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", `file://${join(dir, "cat/index.html")}${query}`]);
      expect(result.code).toBe(0);
      return result.stdout;
    };
    const rows = (html: string) => [...html.matchAll(/<tr class="file" data-path="([^"]*)"><td class="path">[^<]*<\/td><td class="size">[^<]*<\/td><td class="tapes">([^<]*)<\/td>/g)].map((m) => [m[1], m[2]]);
    let html = page("#q=big%20mov");
    expect(rows(html)).toEqual([["DAY01/A001/CLIP/big.mov", "CA0001, CB0001, CC0001"]]);
    expect(html).toContain('<p id="count" class="muted">1 file match</p>');
    expect(html).toContain('<td class="blocks">CA0001 @7, CB0001 @7, CC0001 @7</td>');
    html = page(`#q=${big[1].hashes.md5.slice(0, 12)}`);
    expect(rows(html)).toEqual([["DAY01/A001/CLIP/big.mov", "CA0001, CB0001, CC0001"]]);
    html = page("#q=%3Ci%3E");
    expect(rows(html)).toEqual([["DAY01/C001/&lt;i&gt;x.txt", "CA0001, CB0001, CC0001"]]);
    expect(page("#q=no-such-file")).toContain('<p id="count" class="muted">0 files match</p>');
    // A hand-made address with a broken escape: the page still shows, searching for it as written.
    for (const query of ["#q=%", "#q=big%2", "#q=%E9"]) {
      html = page(query);
      expect([query, /<p id="count" class="muted">([^<]*)<\/p>/.exec(html)?.[1]]).toEqual([query, "0 files match"]);
      expect(html).toContain(`<input id="q" type="search"`);
    }
    html = page("");
    expect(html).toContain('<p id="count" class="muted">809 files</p>');
    expect([...html.matchAll(/<div class="tape" data-serial="(\w+)" data-status="(\w+)">/g)].map((m) => [m[1], m[2]])).toEqual([
      ["CA0001", "complete"],
      ["CB0001", "complete"],
      ["CC0001", "unknown"],
    ]);
    expect(html).toMatch(/<div class="fill" style="width: 0%;"><\/div><\/div><span class="muted">809 files, 1\.7 MiB \(0\.0% of 15\.3 TiB\)<\/span>/);
    expect(html).toContain("809 files, 1.7 MiB (capacity unknown)");
  }, 120_000);
});

describe("a source that changes while its tape is written is named, even after every copy read it", () => {
  for (const [how, change] of [
    [
      "rewritten with its size and modification time put back",
      (path: string) => {
        // touch -r keeps the time to the nanosecond.
        writeFileSync(`${path}.times`, "");
        run(["touch", "-r", path, `${path}.times`]);
        writeFileSync(path, randomBytes(statSync(path).size, 99));
        run(["touch", "-r", `${path}.times`, path]);
      },
    ],
    [
      "replaced by another file",
      (path: string) => {
        writeFileSync(`${path}.new`, "another file");
        renameSync(`${path}.new`, path);
      },
    ],
    ["removed", (path: string) => rmSync(path)],
  ] as const) {
    test(`${how}: the write says so and fails; the copies are written`, async () => {
      const dir = tempDir("cartkit-ltfsw-");
      const src = join(dir, "DAY01");
      put(src, "A001/a.mov", randomBytes(300_000, 5));
      put(src, "A001/b.mov", randomBytes(1000, 6));
      const planned = tool(runners()[0]!, "ltfs-pack", ["plan", src, "--tape", "LTO-9", "--json"], { cwd: dir });
      expect(planned.code).toBe(0);
      const plan = readPlanFile(join(dir, "plan.json"), planned.stdout);
      const targets: CopyTarget[] = [
        { kind: "vtape", dir: join(dir, "vt1") },
        { kind: "vtape", dir: join(dir, "vt2") },
      ];
      // Both copies have read a.mov when it changes: only a look after the last copy can see it.
      const { outcomes, changed } = await writeCopies(targets, {
        plan,
        tapeNumber: 1,
        serials: defaultSerials(1, 2),
        formats: ["xxh128"],
        tool: { name: "ltfs-pack", version: "test" },
        flush: false,
        onCopy: (_, copy) => {
          if (copy === 1) change(join(src, "A001/a.mov"));
        },
      });
      expect(outcomes.map((o) => [o.error, o.disagreements, o.summary?.files.length])).toEqual([
        [undefined, [], 2],
        [undefined, [], 2],
      ]);
      expect(changed).toEqual([{ source: join(src, "A001/a.mov"), what: expect.any(String) }]);
      expect(changed[0]!.what).toBe(how.startsWith("rewritten") ? "its change time moved (written with its modification time put back, or its mode or owner changed)" : how === "removed" ? "removed or no longer readable" : "replaced by another file");
    });
  }

  test("a source away when the write began and back before it was read: named, since nothing can be compared with what the copies read", async () => {
    const dir = tempDir("cartkit-ltfsw-");
    const src = join(dir, "DAY01");
    put(src, "A001/a.mov", randomBytes(300_000, 5));
    const planned = tool(runners()[0]!, "ltfs-pack", ["plan", src, "--tape", "LTO-9", "--json"], { cwd: dir });
    expect(planned.code).toBe(0);
    const plan = readPlanFile(join(dir, "plan.json"), planned.stdout);
    const path = join(src, "A001/a.mov");
    renameSync(path, join(dir, "away"));
    const { outcomes, changed } = await writeCopies([{ kind: "vtape", dir: join(dir, "vt") }], {
      plan,
      tapeNumber: 1,
      serials: defaultSerials(1, 1),
      formats: ["xxh128"],
      tool: { name: "ltfs-pack", version: "test" },
      flush: false,
      onCopyStart: () => renameSync(join(dir, "away"), path),
    });
    expect(outcomes[0]!.summary?.files.length).toBe(1);
    expect(changed).toEqual([{ source: path, what: "it could not be looked at when the write began" }]);
  });
});
