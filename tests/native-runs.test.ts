/**
 * Small files hashed in native runs (lib/hash/native_batch.ts) give what the per-file path
 * gives, byte for byte, on stdout and stderr, with the same exit code: `xxsum -r` in every XXH
 * format, `mhl-verify create` and `verify`, over a tree of more files than a run holds, sizes on both
 * sides of every limit (XXH3's 240 bytes, a run's 4 MiB), links that stay inside, leave or
 * dangle, a FIFO, a name that is not UTF-8 and nested folders; and each regular file's digest
 * is the one `xxhsum` gives. CARTKIT_NATIVE_RUNS=0 is the per-file path. The compiled tools
 * must set runs up (nothing said with CARTKIT_DEBUG=1), and a file swapped for a link after the
 * walk is never read through it.
 */
import { describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHasher } from "../lib/hash/registry.ts";
import { type NativeRuns, nativeRuns, PIECES, preparePieces, RunsAhead, RUN_FILES } from "../lib/hash/native_batch.ts";
import { DirectoryHash, hashOfHashList } from "../lib/mhl/directory_hash.ts";
import { HeldFolder } from "../lib/io/held_folder.ts";
import { anchor, randomBytes, run, runners, straceOrSkip, tempDir, tool } from "./helpers.ts";

const OFF = { CARTKIT_NATIVE_RUNS: "0" };
const MHL_CLOCK = { CARTKIT_MHL_NOW: "2026-12-04T10:00:00Z", CARTKIT_MHL_HOSTNAME: "cart" };

/** More files in one folder than a run holds, the sizes around each limit, and the hard cases. */
function makeTree(root: string): string {
  const tree = join(root, "T");
  mkdirSync(join(tree, "A"), { recursive: true });
  const sizes = [0, 1, 16, 17, 128, 129, 240, 241, 1024, 5000, 65_536, 65_537];
  for (let i = 0; i < RUN_FILES + 44; i++) writeFileSync(join(tree, "A", `frame_${String(i).padStart(4, "0")}.dng`), randomBytes(i < sizes.length ? sizes[i]! : (i * 7919) % 70_000, i + 1));
  mkdirSync(join(tree, "B"));
  for (const [i, size] of [(1 << 20) - 1, 1 << 20, (4 << 20) - 1, 4 << 20, (5 << 20) + 3, 2_000_001].entries()) writeFileSync(join(tree, "B", `plate_${i}.exr`), randomBytes(size, 900 + i));
  writeFileSync(Buffer.from(`${tree}/B/caf\xe9.dng`, "latin1"), "a latin-1 name");
  symlinkSync("../A/frame_0003.dng", join(tree, "B", "inside.dng"));
  symlinkSync("/etc/hostname", join(tree, "B", "outside.dng"));
  symlinkSync("nothing.dng", join(tree, "B", "dangling.dng"));
  mkdirSync(join(tree, "C", "D"), { recursive: true });
  for (let i = 0; i < 3; i++) writeFileSync(join(tree, "C", "D", `f${i}.bin`), randomBytes(3000 + i, 70 + i));
  writeFileSync(join(tree, "C", "top.bin"), randomBytes(10, 80));
  return tree;
}

/** Every regular file beneath `tree` (links not followed), relative, in byte order. */
function regularFiles(tree: string, under = ""): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(tree, under), { withFileTypes: true })) {
    const rel = under ? `${under}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...regularFiles(tree, rel));
    else if (entry.isFile() && /^[\x20-\x7e]+$/.test(rel)) out.push(rel);
  }
  return out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

describe("native runs: the library", () => {
  /** Each kind of run: XXH hashed in native code on one thread or several, BLAKE3 read natively and hashed here, read ahead on a thread or not. */
  const KINDS = [
    { algorithm: "xxh128", threads: 1 },
    { algorithm: "xxh128", threads: 4 },
    { algorithm: "blake3", threads: 1 },
    { algorithm: "blake3", threads: 2 },
  ] as const;

  for (const { algorithm, threads } of KINDS) {
    test(`${algorithm} runs on ${threads} thread(s) give the per-file engine's digest for each file, and leave links, FIFOs and large files to the per-file path`, async () => {
      const root = tempDir("cartkit-runs-lib-");
      const tree = makeTree(root);
      execFileSync("mkfifo", [join(tree, "B", "pipe")]);
      const runs = await nativeRuns([algorithm], {}, threads);
      if (process.platform !== "linux") return expect(runs).toBeUndefined();
      expect(runs?.algorithm).toBe(algorithm);
      const held = HeldFolder.open(tree);
      try {
        for (const folder of ["A", "B"]) {
          const names = readdirSync(join(tree, folder), { encoding: "buffer" }).map((n) => n.toString("latin1"));
          const items = names.map((name) => ({ relative: `${folder}/${name}` }));
          const ahead = new RunsAhead([...items], runs!, (item) => ({ folder: held, relative: item.relative }));
          for (const item of items) {
            const result = ahead.take(item);
            const path = join(tree, item.relative);
            // Runs that read whole leave every file of 64 KiB or more to the per-file path; XXH runs, those of 4 MiB or more.
            const large = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
            if (/inside|outside|dangling|pipe|caf/.test(item.relative) || large >= (algorithm === "blake3" ? 64 << 10 : 4 << 20)) {
              // caf\xe9 is named here by latin-1 code units, which are not its bytes: not found, left to the per-file path.
              expect({ name: item.relative, result }).toEqual({ name: item.relative, result: undefined });
              continue;
            }
            const reference = await createHasher(algorithm, { engine: "native" });
            const bytes = readFileSync(path);
            reference.update(bytes);
            expect({ name: item.relative, result }).toEqual({ name: item.relative, result: { hex: reference.hex(), size: bytes.length } });
          }
        }
      } finally {
        held.close();
        rmSync(root, { recursive: true, force: true });
      }
    });
  }

  for (const { algorithm, threads } of [...KINDS, { algorithm: "xxh64", threads: 1 }] as const) {
    test(`a ${algorithm} run on ${threads} thread(s) cut short by its time limit leaves the files it did not come to for the next run (XXH) or the per-file path (BLAKE3): every file gets its own digest, in order`, async () => {
      // No time at all: each run stops after its first file.
      const runs = await nativeRuns([algorithm], {}, threads, 0n);
      if (process.platform !== "linux") return expect(runs).toBeUndefined();
      const root = tempDir("cartkit-runs-short-");
      mkdirSync(join(root, "T"));
      const names = Array.from({ length: 40 }, (_, i) => `f${String(i).padStart(2, "0")}`);
      for (const [i, name] of names.entries()) writeFileSync(join(root, "T", name), randomBytes(i * 37, i + 1));
      const held = HeldFolder.open(join(root, "T"));
      let calls = 0;
      const counted: NativeRuns = {
        algorithm: runs!.algorithm,
        largest: runs!.largest,
        runBytes: runs!.runBytes,
        get largeLeft() {
          return runs!.largeLeft;
        },
        settle() {
          runs!.settle();
        },
        hash(dirfd, batch, flags, next) {
          calls++;
          return runs!.hash(dirfd, batch, flags, next);
        },
      };
      try {
        const ahead = new RunsAhead([...names], counted, (name) => ({ folder: held, relative: name, size: 37 }));
        let hashed = 0;
        for (const [i, name] of names.entries()) {
          const reference = await createHasher(algorithm, { engine: "native" });
          reference.update(randomBytes(i * 37, i + 1));
          const digest = { hex: reference.hex(), size: i * 37 };
          const result = ahead.take(name);
          if (result) hashed++;
          // BLAKE3 runs leave the files they did not come to to the per-file path (undefined).
          expect({ name, result: algorithm === "blake3" ? (result ?? digest) : result }).toEqual({ name, result: digest });
        }
        // XXH: each run hashed one file, the next run started with the next. BLAKE3: one run took them all, and hashed its first.
        expect({ calls, hashed }).toEqual(algorithm === "blake3" ? { calls: 1, hashed: 1 } : { calls: names.length, hashed: names.length });
      } finally {
        held.close();
        rmSync(root, { recursive: true, force: true });
      }
    });
  }

  for (const algorithm of ["blake3", "xxh128"] as const) {
    test(`${algorithm} runs on 2 threads go ahead (BLAKE3 read, XXH hashed, on a thread): a run gone ahead that the caller does not ask for is dropped, sizes the walk gave wrong end a BLAKE3 run early, and every digest is the file's own`, async () => {
      const runs = await nativeRuns([algorithm], {}, 2);
      if (process.platform !== "linux") return expect(runs).toBeUndefined();
      expect(runs?.runBytes).toBe(algorithm === "blake3" ? 4 << 20 : undefined);
      const root = tempDir("cartkit-runs-ahead-");
      mkdirSync(join(root, "T"));
      // 600 files of up to 60,000 bytes and two large ones (per-file path): runs of 4 MiB end at
      // about 140 files, so each is read ahead while the one before is hashed.
      const names = Array.from({ length: 600 }, (_, i) => `f${String(i).padStart(3, "0")}`);
      const sizeOf = (i: number) => (i % 250 === 200 ? 70_000 : (i * 7919) % 60_000);
      for (const [i, name] of names.entries()) writeFileSync(join(root, "T", name), randomBytes(sizeOf(i), i + 1));
      const digests = await Promise.all(
        names.map(async (_, i) => {
          const reference = await createHasher(algorithm, { engine: "native" });
          reference.update(randomBytes(sizeOf(i), i + 1));
          return { hex: reference.hex(), size: sizeOf(i) };
        }),
      );
      const held = HeldFolder.open(join(root, "T"));
      try {
        for (const [label, said, skip] of [
          // The sizes the walk gave; every 31st file, and then more files than a run holds, passed
          // over by the caller (hashed another way): the run read ahead is not the one asked for.
          ["true sizes, files passed over", (i: number) => sizeOf(i), (i: number) => i % 31 === 7 || (i >= 100 && i < 450)],
          // Sizes said to be 1 byte: runs planned for 4 MiB of them hold far more, and end where the room does.
          ...(algorithm === "blake3" ? ([["sizes said too small", () => 1, () => false]] as const) : []),
        ] as const) {
          const ahead = new RunsAhead([...names.keys()], runs!, (i) => ({ folder: held, relative: names[i]!, size: said(i) }));
          let fromRuns = 0;
          let small = 0;
          for (const i of names.keys()) {
            if (skip(i)) continue;
            const result = ahead.take(i);
            if (algorithm === "blake3" && sizeOf(i) >= 64 << 10) {
              expect({ label, i, result }).toEqual({ label, i, result: undefined });
              continue;
            }
            small++;
            // A file a run could not fit is left to the per-file path; any other gets its own digest.
            if (result !== undefined) fromRuns++;
            expect({ label, i, result: result ?? digests[i] }).toEqual({ label, i, result: digests[i] });
          }
          ahead.settle();
          // Planned by true sizes, every file fits its run; by sizes too small, at least half do.
          if (label.includes("true")) expect({ label, fromRuns }).toEqual({ label, fromRuns: small });
          else expect({ label, half: fromRuns > small / 2 }).toEqual({ label, half: true });
        }
      } finally {
        held.close();
        rmSync(root, { recursive: true, force: true });
      }
    });
  }

  for (const algorithm of ["blake3", "xxh128"] as const) {
    test(`a ${algorithm} run gone ahead that no file asks for is waited for when the list is settled: its descriptor is closed, and the next list is hashed right`, async () => {
      const runs = await nativeRuns([algorithm], {}, 2);
      if (process.platform !== "linux") return expect(runs).toBeUndefined();
      const root = tempDir("cartkit-runs-settle-");
      mkdirSync(join(root, "T"));
      const names = Array.from({ length: 400 }, (_, i) => `f${String(i).padStart(3, "0")}`);
      for (const [i, name] of names.entries()) writeFileSync(join(root, "T", name), randomBytes(40_000, i + 1));
      const open = () => readdirSync("/proc/self/fd").length;
      const before = open();
      const held = HeldFolder.open(join(root, "T"));
      try {
        for (let round = 0; round < 3; round++) {
          const ahead = new RunsAhead([...names], runs!, (name) => ({ folder: held, relative: name, size: 40_000 }));
          // The first file's run is hashed, and the next one goes ahead; no file of it is asked for.
          const reference = await createHasher(algorithm, { engine: "native" });
          reference.update(randomBytes(40_000, 1));
          expect(ahead.take(names[0]!)).toEqual({ hex: reference.hex(), size: 40_000 });
          // The run gone ahead holds a descriptor of its folder of its own until it is waited for
          // (and one of the file its thread is reading, if it is reading one).
          const inFlight = open();
          ahead.settle();
          expect({ round, heldUntilSettled: inFlight - open() >= 1 }).toEqual({ round, heldUntilSettled: true });
        }
      } finally {
        held.close();
        rmSync(root, { recursive: true, force: true });
      }
      expect(open()).toBe(before);
    });
  }

  test("structure hashes made in native pieces are the engine's: more children than a call takes, long and non-ASCII names, folders, every XXH format", async () => {
    for (const format of ["xxh64", "xxh3", "xxh128"] as const) {
      const prepared = await preparePieces(format);
      if (process.platform !== "linux") return expect(prepared).toBe(false);
      expect(prepared).toBe(true);
      const gathered = new DirectoryHash(format);
      const contents: string[] = [];
      const structures: string[] = [];
      const printed = async (...parts: Uint8Array[]) => {
        const hasher = await createHasher(format, { engine: "native" });
        for (const part of parts) hasher.update(part);
        return hasher.hex();
      };
      for (let i = 0; i < 2 * PIECES + 300; i++) {
        // Long names fill a call's bytes before its count; one name is longer than a call holds.
        const name = i === 777 ? "n".repeat(30_000) : i % 7 === 0 ? `${"é".repeat(200)}${i}` : i % 11 === 0 ? `${"x".repeat(250)}${i}` : `frame_${i}.dng`;
        const digest = await printed(randomBytes(10 + (i % 50), i + 1));
        if (i % 13 === 0) {
          const structure = await printed(randomBytes(8, i + 5000));
          gathered.addDirectory(name, digest, structure);
          structures.push(await printed(Buffer.from(name, "utf8"), Buffer.from(structure, "hex")));
        } else {
          gathered.addFile(name, digest);
          structures.push(await printed(Buffer.from(name, "utf8"), Buffer.from(digest, "hex")));
        }
        contents.push(digest);
      }
      expect({ format, hashes: await gathered.finish() }).toEqual({ format, hashes: { content: await hashOfHashList(format, contents), structure: await hashOfHashList(format, structures) } });
    }
  });

  test("a file swapped for a link after the walk is not read through it", async () => {
    const runs = await nativeRuns(["xxh64"], {});
    if (process.platform !== "linux") return expect(runs).toBeUndefined();
    const root = tempDir("cartkit-runs-swap-");
    mkdirSync(join(root, "T"));
    writeFileSync(join(root, "secret"), "outside the tree");
    for (const name of ["a", "b", "c"]) writeFileSync(join(root, "T", name), name);
    const held = HeldFolder.open(join(root, "T"));
    try {
      rmSync(join(root, "T", "b"));
      symlinkSync(join(root, "secret"), join(root, "T", "b"));
      const items = ["a", "b", "c"];
      const ahead = new RunsAhead([...items], runs!, (name) => ({ folder: held, relative: name }));
      expect(ahead.take("a")).toMatchObject({ size: 1 });
      expect(ahead.take("b")).toBeUndefined();
      expect(ahead.take("c")).toMatchObject({ size: 1 });
    } finally {
      held.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/**
 * The FUSE file system of tests/fixtures/short_reads_fs.c, built with gcc against libfuse 2 and
 * mounted: its files are longer than their sizes say, and give 100 bytes a read. Undefined
 * (the test skipped, said) without gcc, libfuse's headers, FUSE or root; CI has them all.
 */
function shortReadsMount(root: string): { mount: string; stop: () => void } | undefined {
  const missing = [!Bun.which("gcc") && "gcc", !existsSync("/usr/include/fuse.h") && "libfuse-dev", !existsSync("/dev/fuse") && "/dev/fuse", !Bun.which("fusermount") && "fusermount", process.getuid?.() !== 0 && "root"].filter(Boolean);
  if (missing.length > 0) {
    if (process.env.CI === "true") throw new Error(`the short-reads test needs ${missing.join(", ")} in CI`);
    console.warn(`skipped: needs ${missing.join(", ")}`);
    return undefined;
  }
  const binary = join(root, "short_reads_fs");
  execFileSync("gcc", ["-D_FILE_OFFSET_BITS=64", "-I/usr/include/fuse", join(import.meta.dir, "fixtures", "short_reads_fs.c"), "-o", binary, "-lfuse", "-pthread"]);
  const mount = join(root, "short");
  mkdirSync(mount);
  const daemon = Bun.spawn([binary, mount, "-f"], { stdout: "ignore", stderr: "ignore" });
  const until = Date.now() + 10_000;
  while (Date.now() < until && !existsSync(join(mount, "f00"))) Bun.sleepSync(20);
  return {
    mount,
    stop: () => {
      run(["fusermount", "-u", mount]);
      daemon.kill();
    },
  };
}

/** What file fNN of the short-reads file system holds. */
function shortReadsFile(i: number): Uint8Array {
  return Uint8Array.from({ length: 5000 + 37 * i }, (_, k) => 97 + ((7 * k + i) % 26));
}

describe("a file system whose reads are short before the end (FUSE, direct I/O) and whose sizes say less", () => {
  test("xxsum -r and b3sum-ts -r read each file to a read that gives nothing, with runs and without, by default and with --jobs 1 and 2 (needs gcc, libfuse-dev, root)", async () => {
    const root = tempDir("cartkit-short-reads-");
    const mounted = shortReadsMount(root);
    if (!mounted) return;
    try {
      for (const [name, algorithm, args] of [
        ["xxsum", "xxh128", ["-H2"]],
        ["b3sum-ts", "blake3", []],
      ] as const) {
        const expected: string[] = [];
        for (let i = 0; i < 30; i++) {
          const hasher = await createHasher(algorithm, { engine: "native" });
          hasher.update(shortReadsFile(i));
          expected.push(`${hasher.hex()}  ${`f${String(i).padStart(2, "0")}`}`);
        }
        for (const runner of runners()) {
          for (const jobs of [[], ["--jobs", "1"], ["--jobs", "2"]]) {
            for (const env of [{}, OFF]) {
              const result = tool(runner, name, [...args, "-r", "short", ...jobs], { cwd: root, env });
              expect({ name, runner: runner.label, jobs, env, code: result.code, lines: result.stdout.trimEnd().split("\n") }).toEqual({ name, runner: runner.label, jobs, env, code: 0, lines: expected });
            }
          }
        }
      }
    } finally {
      mounted.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);
});

for (const runner of runners()) {
  describe(`native runs give what the per-file path gives (${runner.label})`, () => {
    const root = tempDir("cartkit-runs-");
    const tree = makeTree(root);
    execFileSync("mkfifo", [join(tree, "B", "pipe")]);

    for (const h of ["0", "1", "2", "3"]) {
      test(`xxsum -H${h} -r: the same stdout, stderr and exit code with runs and without; each digest is xxhsum's`, () => {
        const withRuns = tool(runner, "xxsum", [`-H${h}`, "-r", "T"], { cwd: root, env: { CARTKIT_DEBUG: "1" } });
        const without = tool(runner, "xxsum", [`-H${h}`, "-r", "T"], { cwd: root, env: OFF });
        expect(withRuns.stderr).not.toContain("native runs");
        expect(withRuns.stderr).not.toContain("hashed one at a time");
        expect({ code: withRuns.code, stdout: withRuns.stdout, stderr: withRuns.stderr }).toEqual({ code: without.code, stdout: without.stdout, stderr: without.stderr });
        // The FIFO and the link that leaves are named; the dangling link too.
        expect(without.code).toBe(1);
        expect(without.stderr).toContain("pipe");
        // Names are printed relative to the folder walked, as xxhsum prints the names it is given.
        const files = regularFiles(tree);
        const xxhsum = anchor("xxhsum");
        if (!xxhsum) return;
        const expected = execFileSync(xxhsum, [`-H${h}`, ...files], { cwd: tree, maxBuffer: 1 << 26 }).toString();
        // -H3 lines are BSD-style, as xxhsum writes them: XXH3 (name) = digest.
        const named = new Set(files.flatMap((f) => [`  ${f}`, `(${f})`]));
        const ours = withRuns.stdout.split("\n").filter((line) => [...named].some((n) => line.endsWith(n) || line.includes(`${n} = `)));
        expect(ours.join("\n") + "\n").toBe(expected);
      });
    }

    test("b3sum-ts -r: the same stdout, stderr and exit code with runs and without, by default and with --jobs 1, 2 and 3; each digest is b3sum's", () => {
      const files = regularFiles(tree);
      const b3sum = anchor("b3sum");
      const expected = b3sum ? execFileSync(b3sum, ["--no-names", ...files], { cwd: tree, maxBuffer: 1 << 26 }).toString() : undefined;
      for (const jobs of [[], ["--jobs", "1"], ["--jobs", "2"], ["--jobs", "3"]]) {
        const withRuns = tool(runner, "b3sum-ts", ["-r", "T", ...jobs], { cwd: root, env: { CARTKIT_DEBUG: "1" } });
        const without = tool(runner, "b3sum-ts", ["-r", "T", ...jobs], { cwd: root, env: OFF });
        expect(withRuns.stderr).not.toContain("hashed one at a time");
        expect({ jobs, code: withRuns.code, stdout: withRuns.stdout, stderr: withRuns.stderr }).toEqual({ jobs, code: without.code, stdout: without.stdout, stderr: without.stderr });
        expect(without.code).toBe(1);
        expect(without.stderr).toContain("pipe");
        if (expected === undefined) continue;
        const digests = new Map(withRuns.stdout.split("\n").map((line) => [line.slice(66), line.slice(0, 64)]));
        expect({ jobs, digests: files.map((f) => digests.get(f)).join("\n") + "\n" }).toEqual({ jobs, digests: expected });
      }
    });

    test("b3sum-ts -r and xxsum -r on threads open each file once: no file is read again by the per-file path, nor by another run; in a folder of files too large for runs, runs stop after one (needs strace)", () => {
      const strace = straceOrSkip();
      if (!strace) return;
      const card = join(root, "once");
      mkdirSync(card);
      // Runs of 4 MiB read ahead, and read from both ends by two threads.
      for (let i = 0; i < 1500; i++) writeFileSync(join(card, `f${String(i).padStart(4, "0")}`), randomBytes(1000 + ((i * 7919) % 60_000), i + 1));
      // Files of 70,000 bytes, over what a BLAKE3 run reads whole; the walk gives no sizes.
      const large = join(root, "once-large");
      mkdirSync(large);
      for (let i = 0; i < 300; i++) writeFileSync(join(large, `f${String(i).padStart(4, "0")}`), randomBytes(70_000, i + 1));
      for (const [name, args] of [
        ["b3sum-ts", ["-r", "once", "--jobs", "2"]],
        ["b3sum-ts", ["-r", "once"]],
        ["xxsum", ["-H2", "-r", "once", "--jobs", "4"]],
      ] as const) {
        const log = join(root, `strace-once-${name}.txt`);
        const result = run([strace, "-f", "-o", log, "-e", "trace=openat", ...runner.command(name), ...args], { cwd: root });
        expect({ name, code: result.code }).toEqual({ name, code: 0 });
        const opens = new Map<string, number>();
        for (const line of readFileSync(log, "utf8").split("\n")) {
          const file = /openat\(\d+, "(f\d{4})"/.exec(line)?.[1] ?? /openat\(AT_FDCWD, "[^"]*\/(f\d{4})"/.exec(line)?.[1];
          if (file) opens.set(file, (opens.get(file) ?? 0) + 1);
        }
        expect({ name, files: opens.size, more: [...opens].filter(([, n]) => n !== 1) }).toEqual({ name, files: 1500, more: [] });
      }
      const log = join(root, "strace-once-large.txt");
      const result = run([strace, "-f", "-o", log, "-e", "trace=openat", ...runner.command("b3sum-ts"), "-r", "once-large", "--jobs", "2"], { cwd: root });
      expect(result.code).toBe(0);
      const opens = new Map<string, number>();
      for (const line of readFileSync(log, "utf8").split("\n")) {
        const file = /openat\(\d+, "(f\d{4})"/.exec(line)?.[1];
        if (file) opens.set(file, (opens.get(file) ?? 0) + 1);
      }
      // The first run (of at most 4 MiB / 64 KiB files) opens its files for nothing; no run follows it.
      const twice = [...opens].filter(([, n]) => n === 2).length;
      expect({ files: opens.size, more: [...opens].filter(([, n]) => n > 2), twiceAtMostOneRun: twice <= 64 }).toEqual({ files: 300, more: [], twiceAtMostOneRun: true });
    });

    test("a file whose read fails (EIO) is reported as the per-file path reports it, and read once, not again (needs strace)", () => {
      const strace = straceOrSkip();
      if (!strace) return;
      const card = join(root, "eio");
      mkdirSync(card);
      for (let i = 0; i < 40; i++) writeFileSync(join(card, `f${String(i).padStart(2, "0")}`), `frame ${i}\n`);
      expect(tool(runner, "mhl-verify", ["create", card, "-h", "xxh128"], { env: MHL_CLOCK }).code).toBe(0);
      const bad = join(card, "f07");
      // Every read of that one file fails; strace says how many there were.
      const failing = (name: string, args: string[], env: Record<string, string>) => {
        const log = join(root, `strace-${name}-${env.CARTKIT_NATIVE_RUNS ?? "runs"}.txt`);
        const result = run([strace, "-f", "-o", log, "-P", bad, "-e", "trace=pread64,read", "-e", "inject=pread64:error=EIO", "-e", "inject=read:error=EIO", ...runner.command(name), ...args], { cwd: root, env: { ...env, ...MHL_CLOCK } });
        const injected = readFileSync(log, "utf8")
          .split("\n")
          .filter((line) => line.includes("(INJECTED)")).length;
        return { code: result.code, stdout: result.stdout, stderr: result.stderr, injected };
      };
      for (const [name, args, says] of [
        ["xxsum", ["-H2", "-r", "eio"], "xxsum: eio/f07: Input/output error\n"],
        ["b3sum-ts", ["-r", "eio", "--jobs", "2"], "b3sum-ts: eio/f07: Input/output error (os error 5)\n"],
        ["mhl-verify", ["verify", card], "ERROR: could not read f07: Input/output error\n"],
        ["mhl-verify", ["create", card, "-h", "xxh128"], `mhl-verify: ${bad}: Input/output error\n`],
      ] as const) {
        const withRuns = failing(name, [...args], {});
        const without = failing(name, [...args], OFF);
        expect({ ...withRuns, injected: 1 }).toEqual(without);
        expect(withRuns.injected).toBe(1);
        expect(withRuns.code).not.toBe(0);
        expect(withRuns.stderr).toContain(says);
      }
    });

    test("read errors the runtime's util has no name for (EUCLEAN from a bad checksum, ECOMM) are reported in the per-file path's words, --json's code too (needs strace)", () => {
      const strace = straceOrSkip();
      if (!strace) return;
      const card = join(root, "euclean");
      mkdirSync(card, { recursive: true });
      for (let i = 0; i < 40; i++) writeFileSync(join(card, `f${String(i).padStart(2, "0")}`), `frame ${i}\n`);
      const bad = join(card, "f07");
      for (const errno of ["EUCLEAN", "ECOMM"]) {
        for (const [name, args] of [
          ["xxsum", ["-H2", "-r", "euclean"]],
          ["b3sum-ts", ["-r", "euclean", "--json"]],
        ] as const) {
          const failing = (env: Record<string, string>) => {
            const result = run([strace, "-f", "-qq", "-o", "/dev/null", "-P", bad, "-e", "trace=pread64,read", "-e", `inject=pread64:error=${errno}`, "-e", `inject=read:error=${errno}`, ...runner.command(name), ...args], { cwd: root, env });
            return { code: result.code, stdout: result.stdout, stderr: result.stderr };
          };
          const withRuns = failing({});
          expect({ errno, name, ...withRuns }).toEqual({ errno, name, ...failing(OFF) });
          expect(withRuns.code).toBe(1);
          expect(withRuns.stderr + withRuns.stdout).toContain(errno === "EUCLEAN" ? (name === "xxsum" ? "f07: Structure needs cleaning" : '"code":"EUCLEAN"') : name === "xxsum" ? "f07: Communication error on send" : '"code":"ECOMM"');
        }
      }
    });

    test("files of /proc/sys (empty by their size, refusing large reads) are hashed as the per-file path hashes them", () => {
      if (!existsSync("/proc/sys/fs/nr_open")) return;
      for (const [name, args] of [
        ["xxsum", ["-H1", "-r", "/proc/sys/fs"]],
        ["b3sum-ts", ["-r", "/proc/sys/fs"]],
      ] as const) {
        const withRuns = tool(runner, name, [...args]);
        const without = tool(runner, name, [...args], { env: OFF });
        // Some of them change from one moment to the next (file-nr); these do not.
        const steady = (out: string) => out.split("\n").filter((line) => / {2}(nr_open|pipe-max-size|lease-break-time|protected_symlinks)$/.test(line));
        expect({ name, code: withRuns.code, stderr: withRuns.stderr, steady: steady(withRuns.stdout) }).toEqual({ name, code: 0, stderr: "", steady: steady(without.stdout) });
        expect(steady(withRuns.stdout)).toHaveLength(4);
      }
    });

    test("the compiler's header folder in TMPDIR is made private (0700); one someone else made, open to others, or a link, is not written through (runs are off); BUN_TMPDIR is Bun's choice first", () => {
      const uid = process.getuid?.() ?? 0;
      const without = tool(runner, "xxsum", ["-H2", "-r", "T"], { cwd: root, env: OFF });
      const fresh = join(root, "tmp-fresh");
      mkdirSync(fresh);
      const clean = tool(runner, "xxsum", ["-H2", "-r", "T"], { cwd: root, env: { TMPDIR: fresh, CARTKIT_DEBUG: "1" } });
      expect(clean.stdout).toBe(without.stdout);
      expect(clean.stderr).not.toContain("hashed one at a time");
      // A compiled binary's runtime unpacks its hashing engine there (.bun-*): that is not ours.
      expect(readdirSync(fresh).filter((name) => !name.startsWith(".bun-"))).toEqual([`bun-cc-${uid}`]);
      expect(statSync(join(fresh, `bun-cc-${uid}`)).mode & 0o777).toBe(0o700);
      // Kept for the next run, which uses it as it is.
      const again = tool(runner, "xxsum", ["-H2", "-r", "T"], { cwd: root, env: { TMPDIR: fresh, CARTKIT_DEBUG: "1" } });
      expect([again.stdout, again.stderr.includes("hashed one at a time")]).toEqual([without.stdout, false]);
      for (const kind of ["link", "open folder"]) {
        const hostile = join(root, `tmp-${kind.replace(" ", "-")}`);
        const target = join(root, `target-${kind.replace(" ", "-")}`);
        mkdirSync(hostile);
        mkdirSync(target, { mode: 0o777 });
        chmodSync(target, 0o777);
        if (kind === "link") symlinkSync(target, join(hostile, `bun-cc-${uid}`));
        else {
          mkdirSync(join(hostile, `bun-cc-${uid}`));
          chmodSync(join(hostile, `bun-cc-${uid}`), 0o777);
        }
        // Through BUN_TMPDIR for the link (Bun's compiler looks there first), TMPDIR for the other.
        const env: Record<string, string> = kind === "link" ? { BUN_TMPDIR: hostile, TMPDIR: fresh } : { TMPDIR: hostile };
        const result = tool(runner, "xxsum", ["-H2", "-r", "T"], { cwd: root, env: { ...env, CARTKIT_DEBUG: "1" } });
        expect({ kind, code: result.code, stdout: result.stdout }).toEqual({ kind, code: without.code, stdout: without.stdout });
        expect(result.stderr).toContain(`bun-cc-${uid} is not a private folder of this user`);
        expect(readdirSync(kind === "link" ? target : join(hostile, `bun-cc-${uid}`))).toEqual([]);
      }
    });

    test("mhl-verify create -h xxh128 and -h xxh64 write the same generation with runs and without, and it verifies", () => {
      for (const format of ["xxh128", "xxh64"]) {
        const copies = ["R", "P"].map((name) => {
          const copy = join(root, `${name}-${format}`);
          execFileSync("cp", ["-a", join(root, "T"), copy]);
          rmSync(join(copy, "B", "pipe"));
          rmSync(join(copy, "B", "outside.dng"));
          rmSync(join(copy, "B", "dangling.dng"));
          // ASC MHL cannot hold a name that is not UTF-8.
          rmSync(Buffer.from(`${copy}/B/caf\xe9.dng`, "latin1"));
          // The removals dated the folder: both copies get the same date.
          utimesSync(join(copy, "B"), 1_700_000_000, 1_700_000_000);
          return copy;
        });
        const [withRuns, without] = [tool(runner, "mhl-verify", ["create", copies[0]!, "-h", format], { env: { ...MHL_CLOCK, CARTKIT_DEBUG: "1" } }), tool(runner, "mhl-verify", ["create", copies[1]!, "-h", format], { env: { ...MHL_CLOCK, ...OFF } })];
        expect({ format, code: withRuns.code }).toEqual({ format, code: 0 });
        expect({ format, code: without.code }).toEqual({ format, code: 0 });
        expect(withRuns.stderr).not.toContain("hashed one at a time");
        const generation = (copy: string) => readFileSync(join(copy, "ascmhl", readdirSync(join(copy, "ascmhl")).find((f) => f.endsWith(".mhl"))!)).toString();
        expect(generation(copies[0]!)).toBe(generation(copies[1]!));
        expect(generation(copies[0]!)).toContain(`<${format} action="original"`);
        const verified = tool(runner, "mhl-verify", ["verify", copies[0]!, "-v"]);
        const verifiedWithout = tool(runner, "mhl-verify", ["verify", copies[0]!, "-v"], { env: OFF });
        expect({ code: verified.code, stdout: verified.stdout, stderr: verified.stderr }).toEqual({ code: 0, stdout: verifiedWithout.stdout, stderr: verifiedWithout.stderr });
        expect(verified.stdout + verified.stderr).toContain("A/frame_0299.dng: OK");
        // A changed byte is found.
        const victim = join(copies[0]!, "A", "frame_0100.dng");
        const bytes = readFileSync(victim);
        bytes[0] = bytes[0]! ^ 1;
        writeFileSync(victim, bytes);
        const broken = tool(runner, "mhl-verify", ["verify", copies[0]!]);
        const brokenWithout = tool(runner, "mhl-verify", ["verify", copies[0]!], { env: OFF });
        expect({ code: broken.code, stdout: broken.stdout, stderr: broken.stderr }).toEqual({ code: brokenWithout.code, stdout: brokenWithout.stdout, stderr: brokenWithout.stderr });
        expect(broken.code).toBe(11);
        expect(broken.stderr).toContain(`ERROR: hash mismatch        for A/frame_0100.dng old ${format}`);
      }
    });
  });
}
