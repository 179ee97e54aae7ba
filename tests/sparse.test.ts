/**
 * Files with holes (sparse files): copied with their holes, hashed as the zeros the holes read
 * as (the digests are those of the same bytes written out in full), read back hole and data.
 */
import { expect, test } from "bun:test";
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { COMPILED, randomBytes, run, tempDir, tool } from "./helpers.ts";

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
