/**
 * Files with holes (sparse files): copied with their holes, hashed as the zeros the holes read
 * as (the digests are those of the same bytes written out in full), read back hole and data.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Algorithm } from "../lib/hash/algorithms.ts";
import { c4FromSha512 } from "../lib/hash/c4.ts";
import { HeldFolder } from "../lib/io/held_folder.ts";
import { copyFile, type CopyOutcome } from "../lib/offload/copy.ts";
import { outside } from "../lib/offload/sparse.ts";
import { destinationBlocks, RANGE_RECORD_BYTES, spaceNeeded } from "../lib/offload/space.ts";
import { CAN_MOUNT, CAN_MOUNT_FAT, exfat, ext4, fat, tmpfs, xfs } from "./faults/mounts.ts";
import { COMPILED, randomBytes, run, runners, tempDir, tool, withoutJobLine } from "./helpers.ts";

/** A file of `size` bytes with `pieces` pieces of data (1 MiB each) spread over it, the rest holes. */
function sparseFile(path: string, size: number, pieces: number): void {
  const fd = openSync(path, "w");
  try {
    ftruncateSync(fd, size);
    for (let i = 0; i < pieces; i++) {
      const data = randomBytes(1 << 20, 100 + i);
      writeSync(fd, data, 0, data.length, Math.floor((size / pieces) * i) + 4096 * i);
    }
  } finally {
    closeSync(fd);
  }
}

const blocks = (path: string) => statSync(path).blocks;

test("a file with holes keeps them on every destination, its digest that of the full bytes, its copies verified", () => {
  const dir = tempDir("cartkit-sparse-");
  const size = 512 * 1024 ** 2 + 12_345;
  sparseFile(join(dir, "disk.img"), size, 16);
  for (const d of ["a", "b"]) mkdirSync(join(dir, d));
  const result = tool(COMPILED, "dispatchcopy", ["-v", "-t", "xxh64be", "-t", "md5", "disk.img", "a", "b"], { cwd: dir });
  expect(result.code).toBe(0);
  const xxh = run(["xxhsum", "-H1", join(dir, "disk.img")]).stdout.split(" ")[0];
  const md5 = run(["md5sum", join(dir, "disk.img")]).stdout.split(" ")[0];
  for (const d of ["a", "b"]) {
    const copy = join(dir, d, "disk.img");
    expect(result.stderr).toContain(`INFO: verified ${d}/disk.img: XXH64BE:${xxh} MD5:${md5}, read back from the device`);
    expect(statSync(copy).size).toBe(size);
    // Allocated blocks within 1% of the source's: the holes were not written.
    expect(Math.abs(blocks(copy) - blocks(join(dir, "disk.img")))).toBeLessThanOrEqual(blocks(join(dir, "disk.img")) / 100);
    expect(run(["cmp", join(dir, "disk.img"), copy]).code).toBe(0);
  }
}, 300_000);

test("a byte written into a hole of a copy is found: the read-back reads what the file system says is data", async () => {
  const dir = tempDir("cartkit-sparse-");
  sparseFile(join(dir, "disk.img"), 256 * 1024 * 1024, 4);
  mkdirSync(join(dir, "card"));
  renameSync(join(dir, "disk.img"), join(dir, "card", "disk.img"));
  expect(tool(COMPILED, "dispatchcopy", ["-r", "-t", "xxh128", "card", "out"], { cwd: dir }).code).toBe(0);
  const fd = openSync(join(dir, "out", "disk.img"), "r+");
  writeSync(fd, Buffer.from("X"), 0, 1, 200 * 1024 * 1024);
  closeSync(fd);
  const verified = tool(COMPILED, "mhl-verify", ["verify", join(dir, "out")], { cwd: dir });
  expect(verified.code).toBe(11);
  expect(readFileSync(join(dir, "card", "disk.img")).subarray(200 * 1024 * 1024, 200 * 1024 * 1024 + 1)[0]).toBe(0);
});

const ALL = ["xxh64be", "xxh64", "xxh3", "xxh128", "md5", "sha1", "sha256", "blake3", "c4"];

/** The digests of a file's bytes by the native tools (holes read as zeros), as dispatchcopy prints them. */
function anchorDigests(path: string): string {
  const first = (cmd: string[]) => run(cmd).stdout.trim().split(" ")[0]!;
  const xxh64 = first(["xxhsum", "-H1", path]);
  const xxh3 = run(["xxhsum", "-H3", "--tag", path]).stdout.trim().split(" = ")[1]!;
  const sha512 = Buffer.from(first(["sha512sum", path]), "hex");
  return [
    `XXH64BE:${xxh64}`,
    `XXH64:${Buffer.from(xxh64, "hex").reverse().toString("hex")}`,
    `XXH3:${xxh3}`,
    `XXH128:${first(["xxhsum", "-H2", path])}`,
    `MD5:${first(["md5sum", path])}`,
    `SHA1:${first(["sha1sum", path])}`,
    `SHA256:${first(["sha256sum", path])}`,
    `BLAKE3:${first(["b3sum", path])}`,
    `C4:${c4FromSha512(sha512)}`,
  ].join(" ");
}

/** A file of `size` bytes: data at `pieces` (offset, length), the rest holes. */
function withHoles(path: string, size: number, pieces: Array<[number, number]>): void {
  const fd = openSync(path, "w");
  try {
    ftruncateSync(fd, size);
    for (const [i, [at, length]] of pieces.entries()) writeSync(fd, randomBytes(length, 7 + i), 0, length, at);
  } finally {
    closeSync(fd);
  }
}

/** Where holes are kept: the temporary folder's file system, a tmpfs and a loop-mounted XFS. */
function places(dir: string): Array<[string, string]> {
  const out: Array<[string, string]> = [["temporary folder", dir]];
  if (CAN_MOUNT) {
    out.push(["tmpfs", tmpfs(dir, "tmpfs", "256m")!.path]);
    out.push(["XFS", xfs(dir, "xfs", 300)!.path]);
  }
  return out;
}

for (const runner of runners()) {
  test(`${runner.label}: a file with holes has the digests of its dense twin for every algorithm, on every file system, holes kept`, () => {
    const dir = tempDir("cartkit-sparse-");
    for (const [what, root] of places(dir)) {
      const source = join(root, "clip.mov");
      // Data at the start, in the middle (not block aligned) and at the very end; holes between.
      withHoles(source, 40 * 1024 ** 2 + 777, [
        [0, 100_000],
        [17 * 1024 ** 2 + 5, 1_000_000],
        [40 * 1024 ** 2 - 3000, 3777],
      ]);
      mkdirSync(join(root, "a"));
      const result = tool(runner, "dispatchcopy", ["-v", ...ALL.flatMap((t) => ["-t", t]), source, join(root, "a")], { cwd: root });
      expect([what, result.code]).toEqual([what, 0]);
      const copy = join(root, "a", "clip.mov");
      expect([what, blocks(source) < 2 * 2200, Math.abs(blocks(copy) - blocks(source)) <= blocks(source) / 100]).toEqual([what, true, true]);
      // The digests of the same bytes written out in full (the native tools read the dense twin:
      // b3sum maps a file, and a mapped hole of a tmpfs file gets a page).
      const dense = join(root, "dense");
      run(["dd", `if=${source}`, `of=${dense}`, "bs=1M", "status=none"]);
      expect(blocks(dense)).toBeGreaterThan(40 * 2048);
      expect(result.stderr).toContain(`INFO: verified ${copy}: ${anchorDigests(dense)}, read back from the device`);
      expect(run(["cmp", source, copy]).code).toBe(0);
    }
  }, 300_000);
}

/** The engine by paths, with `fault` run on each copy (still without a name) before it is flushed. */
async function copyWithFault(source: string, dests: string[], algorithms: Algorithm[], fault: (dest: string, copy: string) => void, chunkSize?: number): Promise<CopyOutcome> {
  const held = [HeldFolder.open(dirname(source)), ...dests.map((d) => HeldFolder.open(d))];
  try {
    return await copyFile(
      { folder: held[0]!, relative: basename(source) },
      held.slice(1).map((folder) => ({ folder, relative: basename(source) })),
      {
        algorithms,
        chunkSize,
        flushVia: async (folder, fsyncOwn) => {
          // The copy being written: this process's descriptor of a new file in that folder.
          for (const fd of readdirSync("/proc/self/fd")) {
            let target = "";
            try {
              target = readlinkSync(`/proc/self/fd/${fd}`);
            } catch {
              continue;
            }
            if (target.startsWith(`${folder.path}/`) && !target.endsWith(`/${basename(source)}`)) fault(folder.path, `/proc/${process.pid}/fd/${fd}`);
          }
          await fsyncOwn();
        },
      },
    );
  } finally {
    for (const h of held) h.close();
  }
}

describe("a copy of a file with holes is read back by what its file system holds", () => {
  const size = 64 * 1024 ** 2;
  const pieces: Array<[number, number]> = [
    [0, 1 << 20],
    [32 * 1024 ** 2, 1 << 20],
  ];
  const hole = 48 * 1024 ** 2;
  const setup = (root: string) => {
    const source = join(root, "src", "disk.img");
    for (const d of ["src", "good", "bad"]) mkdirSync(join(root, d), { recursive: true });
    withHoles(source, size, pieces);
    return source;
  };
  const xxh128 = (path: string) => run(["xxhsum", "-H2", path]).stdout.split(" ")[0];

  for (const place of ["temporary folder", "tmpfs", "XFS"]) {
    const mount = (dir: string) => (place === "tmpfs" ? tmpfs(dir, "t", "256m")!.path : place === "XFS" ? xfs(dir, "x", 300)!.path : dir);
    test.if(place === "temporary folder" || CAN_MOUNT)(`${place}: other bytes where a hole was fail the read-back, with the digest of what the copy holds`, async () => {
      const root = mount(tempDir("cartkit-sparse-"));
      const source = setup(root);
      const outcome = await copyWithFault(source, [join(root, "good"), join(root, "bad")], ["xxh128"], (dest, copy) => {
        if (dest.endsWith("/bad")) run(["dd", "if=/dev/urandom", `of=${copy}`, "bs=4096", "count=1", `seek=${hole / 4096}`, "conv=notrunc", "status=none"]);
      });
      expect(outcome.hexes.get("xxh128")).toBe(xxh128(source));
      const [good, bad] = outcome.destinations;
      expect(good!.status).toBe("verified");
      expect(good!.hexes).toEqual(outcome.hexes);
      expect(bad!.status).toBe("mismatch");
      expect(bad!.reason).toBe("read back from the device, the digest differs from the source's");
      // The copy was hashed in full, its holes as zeros: the digest is that of its bytes.
      expect(bad!.hexes!.get("xxh128")).toBe(xxh128(join(root, "bad", "disk.img")));
      expect(bad!.hexes!.get("xxh128")).not.toBe(xxh128(source));
    });

    test.if(place === "temporary folder" || CAN_MOUNT)(`${place}: zeros written where a hole was are read back and found zeros: verified`, async () => {
      const root = mount(tempDir("cartkit-sparse-"));
      const source = setup(root);
      const outcome = await copyWithFault(
        source,
        [join(root, "good"), join(root, "bad")],
        ["xxh64", "sha256"],
        (dest, copy) => {
          if (dest.endsWith("/bad")) run(["dd", "if=/dev/zero", `of=${copy}`, "bs=1M", "count=4", `seek=${hole / (1 << 20)}`, "conv=notrunc", "status=none"]);
          // Read in pieces of 4 MiB (-b 4MiB): the four MiB of zeros in one piece.
        },
        4 << 20,
      );
      const [good, bad] = outcome.destinations;
      // Four more MiB of data than the source: the zeros are on the device, where the source has a hole.
      expect(blocks(join(root, "bad", "disk.img")) - blocks(join(root, "good", "disk.img"))).toBeGreaterThanOrEqual(8192);
      expect([good!.status, bad!.status]).toEqual(["verified", "verified"]);
      expect(bad!.hexes).toEqual(outcome.hexes);
    });

    test.if(place === "temporary folder" || CAN_MOUNT)(`${place}: data of the source made a hole in the copy fails the read-back`, async () => {
      const root = mount(tempDir("cartkit-sparse-"));
      const source = setup(root);
      const outcome = await copyWithFault(source, [join(root, "good"), join(root, "bad")], ["xxh3"], (dest, copy) => {
        if (dest.endsWith("/bad")) expect(run(["fallocate", "--punch-hole", "-o", String(32 * 1024 ** 2 + 65536), "-l", "65536", copy]).code).toBe(0);
      });
      const [good, bad] = outcome.destinations;
      expect(good!.status).toBe("verified");
      expect(bad!.status).toBe("mismatch");
      expect(bad!.hexes!.get("xxh3")).not.toBe(outcome.hexes.get("xxh3"));
    });
  }
});

test("a source written into a hole after its copy: the copies are hashed in full, and verified against the bytes that were copied", async () => {
  const root = tempDir("cartkit-sparse-");
  const source = join(root, "src", "disk.img");
  for (const d of ["src", "a"]) mkdirSync(join(root, d), { recursive: true });
  withHoles(source, 64 * 1024 ** 2, [
    [0, 1 << 20],
    [32 * 1024 ** 2, 1 << 20],
  ]);
  const before = run(["xxhsum", "-H2", source]).stdout.split(" ")[0];
  const outcome = await copyWithFault(source, [join(root, "a")], ["xxh128"], () => {
    // After the copy, before its read-back: the source's map is no longer the one copied.
    const fd = openSync(source, "r+");
    writeSync(fd, Buffer.from("LATE"), 0, 4, 48 * 1024 ** 2);
    closeSync(fd);
  });
  expect(outcome.hexes.get("xxh128")).toBe(before);
  expect(outcome.destinations[0]!.status).toBe("verified");
  expect(outcome.destinations[0]!.hexes!.get("xxh128")).toBe(before);
  expect(run(["xxhsum", "-H2", join(root, "a", "disk.img")]).stdout.split(" ")[0]).toBe(before);
});

test("the parts of a copy's data outside the source's data ranges, taken as they come", () => {
  const parts = (ranges: Array<[number, number]>, minus: Array<[number, number]>) => [...outside(ranges, minus)];
  expect(
    parts(
      [[0, 100]],
      [
        [10, 20],
        [50, 60],
      ],
    ),
  ).toEqual([
    [0, 10],
    [20, 50],
    [60, 100],
  ]);
  expect(
    parts(
      [
        [0, 10],
        [20, 30],
        [40, 50],
      ],
      [
        [5, 25],
        [45, 100],
      ],
    ),
  ).toEqual([
    [0, 5],
    [25, 30],
    [40, 45],
  ]);
  expect(parts([[0, 4096]], [[0, 4096]])).toEqual([]);
  expect(parts([[100, 200]], [])).toEqual([[100, 200]]);
  expect(parts([], [[0, 10]])).toEqual([]);
  // One range of `minus` over several of `ranges`.
  expect(
    parts(
      [
        [0, 10],
        [20, 30],
        [40, 50],
      ],
      [[5, 45]],
    ),
  ).toEqual([
    [0, 5],
    [45, 50],
  ]);
  // `minus` is taken only as far as needed and left open: its caller takes the rest.
  const minus = [
    [0, 1],
    [200, 300],
    [400, 500],
  ][Symbol.iterator]() as Iterator<[number, number]> & Iterable<[number, number]>;
  expect([...outside([[0, 100]], minus)]).toEqual([[1, 100]]);
  expect([...minus]).toEqual([[400, 500]]);
});

describe("a write into a source's hole during its copy, on a clock that does not show it", () => {
  test.if(CAN_MOUNT)(
    "ext4 with 128-byte inodes (whole-second times): the map of holes is taken again, the file is named, nothing put in place",
    async () => {
      const dir = tempDir("cartkit-sparse-");
      const mount = ext4(dir, "e", 256, ["-I", "128"])!.path;
      mkdirSync(join(mount, "dst"));
      // Start within a second, so that the write lands in the second the file was last written in.
      await Bun.sleep(1000 - (Date.now() % 1000) + 10);
      const src = join(mount, "src");
      const fd = openSync(src, "w");
      ftruncateSync(fd, 64 * 1024 ** 2);
      writeSync(fd, randomBytes(8 * 1024 ** 2, 7), 0, 8 * 1024 ** 2, 0);
      closeSync(fd);
      const proc = Bun.spawn([...COMPILED.command("dispatchcopy"), "--rate-limit", "16MB/s", src, join(mount, "dst")], { stdout: "pipe", stderr: "pipe" });
      // The write must land while the copy reads: after it opened the source to read it (a
      // loaded machine may take seconds to start the binary), not while only a path to it is
      // open (O_PATH, as realpath takes it at start), and after its map of holes, taken just
      // after it opens the file; its read of 8 MB at 16 MB/s then goes on for half a second.
      const O_PATH = 0o10000000;
      let open = false;
      for (let i = 0; i < 4000 && !open; i++) {
        try {
          open = readdirSync(`/proc/${proc.pid}/fd`).some((n) => {
            try {
              if (readlinkSync(`/proc/${proc.pid}/fd/${n}`) !== src) return false;
              const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${proc.pid}/fdinfo/${n}`, "utf8"))?.[1];
              return flags !== undefined && (Number.parseInt(flags, 8) & O_PATH) === 0;
            } catch {
              return false;
            }
          });
        } catch {
          break;
        }
        if (!open) await Bun.sleep(5);
      }
      expect(open).toBe(true);
      await Bun.sleep(50);
      const into = openSync(src, "r+");
      writeSync(into, Buffer.from("INJECTED"), 0, 8, 40 * 1024 ** 2);
      closeSync(into);
      expect(await proc.exited).toBe(2);
      const stderr = await new Response(proc.stderr).text();
      expect(stderr).toMatch(/: changed while it was copied \(.+\); nothing was put in place\n/);
      expect(readdirSync(join(mount, "dst"))).toEqual([]);
    },
    60_000,
  );
});

describe("the space a destination needs for files with holes", () => {
  /** A card of `count` files of `size` bytes, each holding `data` bytes at 1 MiB (one range), the rest holes. */
  const card = (root: string, count: number, size: number, data: number) => {
    mkdirSync(join(root, "card", "CLIPS"), { recursive: true });
    for (let i = 1; i <= count; i++) withHoles(join(root, "card", "CLIPS", `C00${i}.img`), size, [[1 << 20, data]]);
  };
  /** Free bytes as `stat -f` gives them (blocks free to non-root × block size), and the block size. */
  const free = (path: string) => {
    const [available, blockSize] = run(["stat", "-f", "-c", "%a %S", path]).stdout.trim().split(" ").map(Number);
    return { bytes: available! * blockSize!, blockSize: blockSize! };
  };

  for (const runner of runners()) {
    test.if(CAN_MOUNT)(
      `${runner.label}: six files of 256 MiB holding 1 MiB each fit a 64 MiB ext4 and a 300 MiB XFS; an exFAT, which keeps no holes, is refused by their full size`,
      () => {
        const dir = tempDir("cartkit-sparse-");
        card(dir, 6, 256 * 1024 ** 2, 1 << 20);
        const e = ext4(dir, "e", 64, ["-b", "4096"])!.path;
        const x = xfs(dir, "x", 300)!.path;
        const f = exfat(dir, "f", 200)!.path;
        const onExfat = free(f);
        // exFAT: the full sizes, in its clusters (whole already).
        expect(onExfat.bytes).toBeLessThan(6 * 256 * 1024 ** 2);
        // --dry-run says what each needs: the data, in blocks, with a record per range; the full sizes.
        const dry = tool(runner, "dispatchcopy", ["--dry-run", "-r", "card", join(e, "A001"), join(f, "A001")], { cwd: dir });
        expect(dry.code).toBe(2);
        expect(dry.stderr.split("\n").filter((l) => l.includes("needs"))).toEqual([expect.stringMatching(/: needs 6\.0 MiB for 6 files, has [\d.]+ MiB free$/), expect.stringMatching(/: needs 1\.5 GiB for 6 files, has [\d.]+ MiB free — NOT ENOUGH$/)]);
        const result = tool(runner, "dispatchcopy", ["-r", "card", join(e, "A001"), join(x, "A001"), join(f, "A001")], { cwd: dir });
        expect(result.code).toBe(2);
        expect(result.stderr).toContain(`dispatchcopy: ${f}/A001: NOT COMPLETE: not enough space: needs ${6 * 256 * 1024 ** 2} bytes, has ${onExfat.bytes} free; none of the 6 files was copied to it\n`);
        expect(result.stderr).not.toContain(`${e}/A001: NOT COMPLETE`);
        expect(result.stderr).not.toContain(`${x}/A001: NOT COMPLETE`);
        for (const root of [e, x]) {
          for (let i = 1; i <= 6; i++) {
            const source = join(dir, "card", "CLIPS", `C00${i}.img`);
            const copy = join(root, "A001", "CLIPS", `C00${i}.img`);
            expect(run(["cmp", source, copy]).code).toBe(0);
            expect(Math.abs(blocks(copy) - blocks(source))).toBeLessThanOrEqual(blocks(source) / 100);
          }
        }
        expect(readdirSync(f)).toEqual([]);
        // The same card to the two that keep holes only: complete.
        const again = tool(runner, "dispatchcopy", ["-r", "card", join(e, "A002"), join(x, "A002")], { cwd: dir });
        expect([again.code, withoutJobLine(again.stderr)]).toEqual([0, `dispatchcopy: ${e}/A002: 6 files, 1.5 GiB verified from the device\ndispatchcopy: ${x}/A002: 6 files, 1.5 GiB verified from the device\n`]);
      },
      120_000,
    );

    test.if(CAN_MOUNT)(`${runner.label}: files with holes whose data does not fit are refused before anything is written, the data counted in blocks`, () => {
      const dir = tempDir("cartkit-sparse-");
      // Six times 10 MiB of data (and 4 KiB more, a block more each) on 64 MiB: about 57 MiB free.
      card(dir, 6, 256 * 1024 ** 2, 10 * 1024 ** 2 + 1);
      const e = ext4(dir, "e", 64, ["-b", "4096"])!.path;
      const space = free(e);
      expect(space.blockSize).toBe(4096);
      const needed = 6 * (10 * 1024 ** 2 + 4096 + RANGE_RECORD_BYTES);
      expect(needed).toBeGreaterThan(space.bytes);
      const result = tool(runner, "dispatchcopy", ["-r", "card", join(e, "A001")], { cwd: dir });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`dispatchcopy: ${e}/A001: NOT COMPLETE: not enough space: needs ${needed} bytes, has ${space.bytes} free; none of the 6 files was copied to it\n`);
      expect(readdirSync(e)).toEqual(["lost+found"]);
    });
  }
});

test.if(CAN_MOUNT && CAN_MOUNT_FAT)("space is counted in the block size statfs gives: a local file system's, exfat-fuse's cluster, fusefat's block", () => {
  const dir = tempDir("cartkit-blocks-");
  const e = ext4(dir, "e", 64, ["-b", "2048"])!.path;
  expect(destinationBlocks(join(e, "A001", "not", "made", "yet"))).toEqual({ blockSize: 2048, keepsHoles: true });
  const t = tmpfs(dir, "t", "16m")!.path;
  expect(destinationBlocks(t)).toEqual({ blockSize: 4096, keepsHoles: true });
  // exfat-fuse and fusefat keep no holes; exfat-fuse reports its cluster as its block, the unit
  // its files take (NFS and SMB, not mountable here, report a transfer size and count in bytes).
  for (const fuse of [exfat(dir, "x", 64)!.path, fat(dir, "f", 64)!.path]) {
    expect(run(["stat", "-f", "-c", "%T", fuse]).stdout.trim()).toBe("fuseblk");
    const reported = Number(run(["stat", "-f", "-c", "%s", fuse]).stdout.trim());
    expect(reported).toBeGreaterThan(1);
    expect(destinationBlocks(fuse)).toEqual({ blockSize: reported, keepsHoles: false });
  }
});

test.if(CAN_MOUNT)("an exFAT of 128 KiB clusters is counted by cluster: 700 small files that cannot fit are refused before anything is written", () => {
  const dir = tempDir("cartkit-clusters-");
  const ex = exfat(dir, "ex", 64, ["-c", "128K"])!.path;
  mkdirSync(join(dir, "card"));
  for (let i = 1; i <= 700; i++) writeFileSync(join(dir, "card", `f${i}.txt`), `file${i}`);
  const result = tool(COMPILED, "dispatchcopy", ["-r", "card", join(ex, "dst")], { cwd: dir });
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(`dispatchcopy: ${ex}/dst: NOT COMPLETE: not enough space: needs ${700 * 131072} bytes`);
  expect(readdirSync(ex)).toEqual([]);
});

test.if(CAN_MOUNT)("two destinations on one file system share its free space: a card that fits once but not twice is refused on both before anything is written", () => {
  const dir = tempDir("cartkit-shared-");
  const t = tmpfs(dir, "t", "64m")!.path;
  mkdirSync(join(dir, "card"));
  for (let i = 1; i <= 4; i++) writeFileSync(join(dir, "card", `c${i}.mov`), randomBytes(10 << 20, i));
  const dry = tool(COMPILED, "dispatchcopy", ["--dry-run", "-r", "card", join(t, "a"), join(t, "b")], { cwd: dir });
  expect(dry.code).toBe(2);
  expect(dry.stderr.split("\n").filter((l) => l.includes("needs"))).toEqual([`dispatchcopy: ${t}/a: needs 40.0 MiB for 4 files, has 24.0 MiB free beside ${t}/b (same file system) — NOT ENOUGH`, `dispatchcopy: ${t}/b: needs 40.0 MiB for 4 files, has 24.0 MiB free beside ${t}/a (same file system) — NOT ENOUGH`]);
  const result = tool(COMPILED, "dispatchcopy", ["-r", "card", join(t, "a"), join(t, "b")], { cwd: dir });
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(`dispatchcopy: ${t}/a: NOT COMPLETE: not enough space: needs ${40 << 20} bytes, has ${24 << 20} free once '${t}/b' on the same file system has what it needs`);
  expect(readdirSync(t)).toEqual([]);
});

test.if(CAN_MOUNT)("data ranges that share a destination block count it once: a source of 1 KiB blocks with two ranges in every 4 KiB", () => {
  const dir = tempDir("cartkit-shared-blocks-");
  const e = ext4(dir, "e", 64, ["-b", "1024"])!.path;
  const t = tmpfs(dir, "t", "16m")!.path;
  mkdirSync(join(e, "card"));
  const fd = openSync(join(e, "card", "s.img"), "w");
  ftruncateSync(fd, 4 << 20);
  const data = randomBytes(1024, 3);
  for (let at = 0; at < 4 << 20; at += 65536) {
    writeSync(fd, data, 0, 1024, at);
    writeSync(fd, data, 0, 1024, at + 2048);
  }
  closeSync(fd);
  // 64 pieces of 64 KiB, each two ranges in one 4 KiB block of the tmpfs: 64 blocks, 128 records.
  expect(spaceNeeded(join(e, "card"), [{ relativePath: "s.img", size: 4 << 20 }], t, 1)).toBe(64 * 4096 + 128 * RANGE_RECORD_BYTES);
});
