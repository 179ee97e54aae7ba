/**
 * lib/offload/copy: real files on real file systems. Every destination is read back from the device;
 * a full destination fails alone; a source that changes under the copy fails loudly.
 */
import { afterAll, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync, chmodSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { copyFile as copyHeld, FANOUT_MIN_BYTES, hashManyFromDevice, PARALLEL_READ_BACK_MIN_BYTES, type CopyFileOptions, type CopyOutcome } from "../lib/offload/copy.ts";
import { hashPath } from "../lib/hash/mod.ts";
import { HeldFolder } from "../lib/io/held_folder.ts";
import { randomBytes, run, tempDir } from "./helpers.ts";

/** The engine by paths: each side's folder held, the names beneath them. */
async function copyFile(source: string, targets: Array<{ path: string; flush?: boolean }>, options: CopyFileOptions): Promise<CopyOutcome> {
  const held: HeldFolder[] = [];
  const hold = (path: string) => {
    const h = HeldFolder.open(dirname(path));
    held.push(h);
    return h;
  };
  try {
    return await copyHeld(
      { folder: hold(source), relative: basename(source) },
      targets.map((t) => ({ folder: hold(t.path), relative: basename(t.path), flush: t.flush })),
      options,
    );
  } finally {
    for (const h of held) h.close();
  }
}

function setup() {
  const dir = tempDir("cartkit-copy-");
  for (const d of ["src", "a", "b", "c"]) mkdirSync(join(dir, d));
  return dir;
}

test("copies to three destinations, keeps mtime and mode, verifies each from the device", async () => {
  const dir = setup();
  const name = "A001C001 ünï\ncode.mov";
  const data = randomBytes(3 * 1024 * 1024 + 7, 3);
  const src = join(dir, "src", name);
  writeFileSync(src, data);
  chmodSync(src, 0o640);
  utimesSync(src, new Date("2026-01-02T03:04:05Z"), new Date("2026-01-02T03:04:05Z"));
  const expected = await hashPath(src, ["xxh64", "md5"]);
  const outcome = await copyFile(
    src,
    ["a", "b", "c"].map((d) => ({ path: join(dir, d, name) })),
    { algorithms: ["xxh64", "md5"] },
  );
  expect(outcome.sourceError).toBeUndefined();
  expect(Object.fromEntries(outcome.hexes)).toEqual(Object.fromEntries(expected.hexes));
  // The read-back dropped the file's pages before and after reading: nothing of it is cached
  // (checked before this test reads the copies itself).
  if (Bun.which("fincore")) {
    for (const d of ["a", "b", "c"]) {
      expect(run(["fincore", "--bytes", "--noheadings", "--output", "RES", join(dir, d, name)]).stdout.trim()).toBe("0");
    }
  }
  for (const d of outcome.destinations) {
    expect({ path: d.path, status: d.status, cold: d.coldRead }).toEqual({ path: d.path, status: "verified", cold: true });
    expect(Object.fromEntries(d.hexes!)).toEqual(Object.fromEntries(expected.hexes));
    expect(readFileSync(d.path).equals(Buffer.from(data))).toBe(true);
    const st = statSync(d.path);
    expect(st.mtime.toISOString()).toBe("2026-01-02T03:04:05.000Z");
    expect(st.mode & 0o777).toBe(0o640);
    // No partial file is left beside it.
    expect(readdirSync(join(d.path, "..")).filter((f) => f.endsWith(".partial"))).toEqual([]);
  }
});

test("a 0-byte file copies and verifies", async () => {
  const dir = setup();
  writeFileSync(join(dir, "src", "empty"), "");
  const outcome = await copyFile(join(dir, "src", "empty"), [{ path: join(dir, "a", "empty") }], { algorithms: ["xxh64"] });
  expect(outcome.destinations[0]).toMatchObject({ status: "verified" });
  expect(outcome.hexes.get("xxh64")).toBe("ef46db3751d8e999");
});

test("an identical existing file is reported present; a different one is refused unless --overwrite", async () => {
  const dir = setup();
  const data = randomBytes(100_000, 9);
  writeFileSync(join(dir, "src", "f"), data);
  writeFileSync(join(dir, "a", "f"), data);
  const other = randomBytes(100_000, 10);
  writeFileSync(join(dir, "b", "f"), other);
  writeFileSync(join(dir, "c", "f"), "short");
  const targets = ["a", "b", "c"].map((d) => ({ path: join(dir, d, "f") }));
  const outcome = await copyFile(join(dir, "src", "f"), targets, { algorithms: ["xxh64"] });
  expect(outcome.destinations.map((d) => [d.status, d.reason])).toEqual([
    ["present", undefined],
    ["failed", "already exists with different content"],
    ["failed", "already exists and differs"],
  ]);
  expect(readFileSync(join(dir, "b", "f")).equals(Buffer.from(other))).toBe(true);
  const again = await copyFile(join(dir, "src", "f"), targets.slice(1), { algorithms: ["xxh64"], overwrite: true });
  expect(again.destinations.map((d) => d.status)).toEqual(["verified", "verified"]);
  expect(readFileSync(join(dir, "c", "f")).equals(Buffer.from(data))).toBe(true);
});

test("a full destination fails alone, its partial removed; the others verify", async () => {
  const dir = setup();
  const small = join(dir, "small");
  mkdirSync(small);
  const mounted = run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small]).code === 0;
  if (!mounted) {
    if (process.env.CI === "true") throw new Error("CI must be able to mount a tmpfs (root) for the full-disk test");
    return;
  }
  afterAll(() => run(["umount", small]));
  // Written through the thread pool, and (large) by a writer thread per destination.
  for (const size of [3 * 1024 * 1024, FANOUT_MIN_BYTES + 5]) {
    const data = randomBytes(size, 12);
    writeFileSync(join(dir, "src", "big.mov"), data);
    const targets = [join(dir, "a", "big.mov"), join(small, "big.mov"), join(dir, "b", "big.mov")];
    const outcome = await copyFile(
      join(dir, "src", "big.mov"),
      targets.map((path) => ({ path })),
      { algorithms: ["xxh64"] },
    );
    expect([size, outcome.destinations.map((d) => d.status)]).toEqual([size, ["verified", "failed", "verified"]]);
    expect(outcome.destinations[1]!.reason).toBe("write failed: No space left on device");
    expect(readdirSync(small)).toEqual([]);
    for (const t of [targets[0]!, targets[2]!]) {
      expect(readFileSync(t).equals(Buffer.from(data))).toBe(true);
      rmSync(t);
    }
  }
});

test.each([8 * 1024 * 1024, FANOUT_MIN_BYTES + 4 * 1024 * 1024])("a source that shrinks during the copy fails every destination and leaves nothing behind (%d bytes)", async (size) => {
  const dir = setup();
  const src = join(dir, "src", "growing.mov");
  writeFileSync(src, randomBytes(size, 13));
  let truncated = false;
  const outcome = await copyFile(src, [{ path: join(dir, "a", "growing.mov") }, { path: join(dir, "b", "growing.mov") }], {
    algorithms: ["xxh64"],
    chunkSize: 256 * 1024,
    rateLimit: 64 * 1024 * 1024,
    onProgress: (copied) => {
      if (!truncated && copied >= 2 * 1024 * 1024) {
        truncated = true;
        truncateSync(src, 1024 * 1024);
      }
    },
  });
  expect(truncated).toBe(true);
  expect(outcome.sourceError).toMatch(/^changed while it was copied \(/);
  expect(outcome.destinations.map((d) => d.status)).toEqual(["failed", "failed"]);
  expect(readdirSync(join(dir, "a"))).toEqual([]);
  expect(readdirSync(join(dir, "b"))).toEqual([]);
});

test("-f_size: a source of another size is refused before anything is written", async () => {
  const dir = setup();
  writeFileSync(join(dir, "src", "f"), "12345");
  const outcome = await copyFile(join(dir, "src", "f"), [{ path: join(dir, "a", "f") }], { algorithms: ["xxh64"], expectedSize: 6 });
  expect(outcome.destinations[0]).toMatchObject({ status: "failed", reason: "file size check failed: source size is 5 bytes, expected 6" });
  expect(existsSync(join(dir, "a", "f"))).toBe(false);
});

test("the flush barrier makes waiting files durable together, and falls back to each file's fsync", async () => {
  const { FlushBarrier } = await import("../lib/io/flush_barrier.ts");
  const dir = setup();
  const barrier = new FlushBarrier(3, 60_000);
  const own: string[] = [];
  const done: string[] = [];
  const wait = (path: string) => barrier.wait(path, async () => void own.push(path)).then(() => void done.push(path));
  const a = wait(join(dir, "a"));
  const b = wait(join(dir, "b"));
  expect(barrier.waiting).toBe(2);
  await Bun.sleep(20);
  expect(done).toEqual([]); // nobody is released before the flush
  const c = wait(join(dir, "gone")); // the third waiter triggers the flush
  await Promise.all([a, b, c]);
  expect(done.sort()).toEqual([join(dir, "a"), join(dir, "b"), join(dir, "gone")].sort());
  // One syncfs covered a and b (same file system); the folder that does not exist fell back.
  expect(own).toEqual([join(dir, "gone")]);
});

test("large copies are read back together, each settled on its own: a match, a flipped bit, a folder", async () => {
  const dir = tempDir("cartkit-readback-");
  const data = randomBytes(PARALLEL_READ_BACK_MIN_BYTES + 4097, 31);
  writeFileSync(join(dir, "good.bin"), data);
  const rotten = Buffer.from(data);
  rotten[rotten.length - 5]! ^= 0x10;
  writeFileSync(join(dir, "rotten.bin"), rotten);
  const expected = (await hashPath(join(dir, "good.bin"), ["xxh64", "md5"])).hexes;
  const fds = ["good.bin", "rotten.bin"].map((n) => openSync(join(dir, n), "r"));
  // A descriptor that is no file: a folder's.
  const folder = openSync(dir, "r");
  const results = await hashManyFromDevice([...fds, folder], data.length, ["xxh64", "md5"]);
  for (const fd of [...fds, folder]) closeSync(fd);
  expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
  const [good, bad, missing] = results as [PromiseFulfilledResult<{ hexes: Map<string, string>; size: number }>, PromiseFulfilledResult<{ hexes: Map<string, string>; size: number }>, PromiseRejectedResult];
  expect([good.value.size, [...good.value.hexes]]).toEqual([data.length, [...expected]]);
  expect(bad.value.hexes.get("xxh64")).not.toBe(expected.get("xxh64"));
  expect(bad.value.hexes.get("md5")).toBe((await hashPath(join(dir, "rotten.bin"), ["md5"])).hexes.get("md5"));
  expect((missing.reason as { code?: string }).code).toBe("EISDIR");
});

test("two large copies at once (only one can hold the writer threads) are both written whole and verified", async () => {
  const dir = setup();
  const sources = [FANOUT_MIN_BYTES * 2 + 11, FANOUT_MIN_BYTES + 7].map((size, i) => {
    const path = join(dir, "src", `clip${i}.mov`);
    writeFileSync(path, randomBytes(size, 20 + i));
    return path;
  });
  const outcomes = await Promise.all(
    sources.map((src, i) =>
      copyFile(
        src,
        ["a", "b", "c"].map((d) => ({ path: join(dir, d, `clip${i}.mov`) })),
        { algorithms: ["xxh64"] },
      ),
    ),
  );
  for (const [i, outcome] of outcomes.entries()) {
    expect(outcome.destinations.map((d) => d.status)).toEqual(["verified", "verified", "verified"]);
    const want = readFileSync(sources[i]!);
    for (const d of ["a", "b", "c"]) expect(readFileSync(join(dir, d, `clip${i}.mov`)).equals(want)).toBe(true);
  }
});

test("a large copy lets this thread's timers run while it writes, even when the destination keeps up with the source", async () => {
  const dir = setup();
  const src = join(dir, "src", "clip.mov");
  // SHA-256 on this thread is slower than the writer thread: the ring never fills, so only the
  // copy's own pauses let other work in.
  writeFileSync(src, randomBytes(FANOUT_MIN_BYTES * 4, 22));
  let ticks = 0;
  let first = -1;
  let last = -1;
  const timer = setInterval(() => ticks++, 1);
  try {
    const outcome = await copyFile(src, [{ path: join(dir, "a", "clip.mov") }], {
      algorithms: ["sha256"],
      verify: "none",
      onProgress: () => {
        if (first < 0) first = ticks;
        last = ticks;
      },
    });
    expect(outcome.destinations.map((d) => d.status)).toEqual(["copied"]);
  } finally {
    clearInterval(timer);
  }
  expect(last - first).toBeGreaterThan(0);
});
