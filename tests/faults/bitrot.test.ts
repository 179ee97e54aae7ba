/**
 * Bit rot: one flipped bit in a 1 GiB file is caught at every stage — by dispatchcopy's
 * read-back (the bit flips after the copy is in place, before it is read back), by mhl-verify,
 * by `xxsum -c` and `b3sum-ts -c` against the card's manifests, and by `ltfs-pack verify` on the
 * tape holding it.
 */
import { expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, readSync, watch, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { COMPILED, randomBytes, ROOT, run, tempDir, tool } from "../helpers.ts";

const GiB = 1024 * 1024 * 1024;

/** Flips one bit of a file in place. */
function flipBit(path: string, offset: number, bit = 3): void {
  const fd = openSync(path, "r+");
  try {
    const byte = new Uint8Array(1);
    readSync(fd, byte, 0, 1, offset);
    byte[0] = byte[0]! ^ (1 << bit);
    writeSync(fd, byte, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

/** A 1 GiB clip: random data at its start, middle and end, zeros (sparse) between. */
function clip(path: string): void {
  const fd = openSync(path, "w");
  try {
    for (const [at, seed] of [
      [0, 1],
      [GiB / 2, 2],
      [GiB - 4 * 1024 * 1024, 3],
    ] as const)
      writeSync(fd, randomBytes(4 * 1024 * 1024, seed), 0, 4 * 1024 * 1024, at);
  } finally {
    closeSync(fd);
  }
}

test("one flipped bit in a 1 GiB file is caught by --verify, mhl-verify, xxsum -c, b3sum-ts -c and ltfs-pack verify", async () => {
  const dir = tempDir("cartkit-bitrot-");
  mkdirSync(join(dir, "CARD"));
  clip(join(dir, "CARD", "A001C001.mov"));
  writeFileSync(join(dir, "CARD", "A001C001.xml"), "<clip/>\n");

  // 1. The copy rots after it is put in place, before dispatchcopy reads it back.
  mkdirSync(join(dir, "ROT"));
  const watcher = watch(join(dir, "ROT"), (_event, name) => {
    if (name === "A001C001.mov") {
      watcher.close();
      flipBit(join(dir, "ROT", "A001C001.mov"), GiB - 1000);
    }
  });
  const proc = Bun.spawn([join(ROOT, "dist", "dispatchcopy"), "-t", "xxh128", join(dir, "CARD", "A001C001.mov"), join(dir, "ROT", "A001C001.mov")], { stdout: "pipe", stderr: "pipe" });
  const code = await proc.exited;
  watcher.close();
  const stderr = await new Response(proc.stderr).text();
  expect(code).toBe(1);
  expect(stderr).toContain(`dispatchcopy: ${join(dir, "ROT", "A001C001.mov")}: VERIFICATION FAILED: read back from the device, the digest differs from the source's\n`);

  // 2. A good offload, the card's manifests, and a tape of it.
  expect(tool(COMPILED, "dispatchcopy", ["-r", "-t", "xxh128", "CARD", "RAID/CARD"], { cwd: dir }).code).toBe(0);
  writeFileSync(join(dir, "card.xxh"), tool(COMPILED, "xxsum", ["-H2", "-r", "CARD"], { cwd: dir }).stdout);
  writeFileSync(join(dir, "card.b3"), tool(COMPILED, "b3sum-ts", ["-r", "CARD"], { cwd: dir }).stdout);
  writeFileSync(join(dir, "plan.json"), tool(COMPILED, "ltfs-pack", ["plan", "RAID", "--tape", "LTO-9", "--json"], { cwd: dir }).stdout);
  expect(tool(COMPILED, "ltfs-pack", ["write", "plan.json", "--tape", "1", "--vtape", "TAPE"], { cwd: dir }).code).toBe(0);

  // 3. One bit flips on the drive, and on the tape.
  flipBit(join(dir, "RAID", "CARD", "A001C001.mov"), GiB / 2 + 12345);
  const mhl = tool(COMPILED, "mhl-verify", ["verify", join(dir, "RAID", "CARD")]);
  // The reference ascmhl's code for a hash mismatch, naming the file.
  expect(mhl.code).toBe(11);
  expect(mhl.stdout + mhl.stderr).toMatch(/ERROR: hash mismatch +for A001C001\.mov old xxh128: [0-9a-f]{32}, new xxh128: [0-9a-f]{32}/);
  const xx = tool(COMPILED, "xxsum", ["-c", "card.xxh", "--root", "RAID/CARD"], { cwd: dir });
  expect([xx.code, xx.stdout]).toEqual([1, "A001C001.mov: FAILED\nA001C001.xml: OK\n1 computed checksum did NOT match\n"]);
  const b3 = tool(COMPILED, "b3sum-ts", ["-c", "card.b3", "--root", "RAID/CARD"], { cwd: dir });
  expect([b3.code, b3.stdout]).toEqual([1, "A001C001.mov: FAILED\nA001C001.xml: OK\n"]);
  // The clip starts at block 7 of the data partition; its middle is 1024 blocks in.
  flipBit(join(dir, "TAPE", `1_${7 + 1024}_R`), 777);
  const tape = tool(COMPILED, "ltfs-pack", ["verify", "--vtape", "TAPE"], { cwd: dir });
  expect(tape.code).toBe(1);
  expect(tape.stderr).toMatch(/^ltfs-pack verify: RAID\/CARD\/A001C001\.mov: MISMATCH: /);
  expect(run(["rm", "-rf", dir]).code).toBe(0);
}, 180_000);
