/**
 * A walk stats a folder's entries in native calls of up to 1,024 (lib/io/stat_batch.ts): what
 * it gives is what lstat gives, for every kind of entry and past the end of a call.
 */
import { expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HeldFolder } from "../lib/io/held_folder.ts";
import { STAT_BATCH } from "../lib/io/stat_batch.ts";
import { walkFiles } from "../lib/io/walk.ts";
import { tempDir } from "./helpers.ts";

test("a folder of more entries than one call stats: every file's size, date and inode as lstat gives them; links, FIFOs and folders by their kind", () => {
  const root = tempDir("cartkit-stat-batch-");
  const big = join(root, "big");
  mkdirSync(big);
  const count = 2 * STAT_BATCH + 37;
  for (let i = 0; i < count; i++) {
    const path = join(big, `f${String(i).padStart(5, "0")}`);
    writeFileSync(path, Buffer.alloc(i % 977, i));
    utimesSync(path, 1_600_000_000 + i, 1_600_000_000 + i * 7 + 0.25);
  }
  symlinkSync("f00001", join(big, "link-in"));
  symlinkSync("/etc/passwd", join(big, "link-out"));
  execFileSync("mkfifo", [join(big, "pipe")]);
  mkdirSync(join(big, "sub"));
  writeFileSync(join(big, "sub", "inner"), "x");
  writeFileSync(join(big, "caf\xe9"), "y");
  const problems: string[] = [];
  const files = walkFiles(root, { onProblem: (p) => problems.push(`${p.relativePath}: ${p.message}`), links: "skip", special: "fail" });
  expect(problems).toEqual(["big/pipe: a FIFO (named pipe), not a regular file: it cannot be copied or hashed"]);
  const got = files.filter((f) => f.relativePath.startsWith("big/f")).map((f) => ({ name: f.relativePath, size: f.size, mtimeMs: f.mtimeMs, ino: f.ino }));
  const expected = Array.from({ length: count }, (_, i) => {
    const name = `big/f${String(i).padStart(5, "0")}`;
    const stats = lstatSync(join(root, name), { bigint: true });
    return { name, size: i % 977, mtimeMs: Number(stats.mtimeNs / 1000n) / 1000, ino: stats.ino };
  });
  expect(got).toEqual(expected);
  expect(files.filter((f) => !f.relativePath.startsWith("big/f")).map((f) => f.relativePath)).toEqual(["big/caf\xe9", "big/sub/inner"]);
  rmSync(root, { recursive: true, force: true });
});

test("entries removed after the listing are undefined, each other entry's state is its own", () => {
  const root = tempDir("cartkit-stat-gone-");
  for (let i = 0; i < 100; i++) writeFileSync(join(root, `f${i}`), Buffer.alloc(i));
  const held = HeldFolder.open(root);
  try {
    const listed = held.list("");
    for (let i = 0; i < 100; i += 3) rmSync(join(root, `f${i}`));
    const stats = held.statEntries("", listed);
    expect(stats).toBeDefined();
    const seen = listed.map((entry, i) => {
      const stat = stats![i];
      return { name: entry.name, size: stat instanceof Error ? "error" : stat?.size };
    });
    const expected = listed.map((entry) => {
      const i = Number(entry.name.slice(1));
      return { name: entry.name, size: i % 3 === 0 ? undefined : i };
    });
    expect(seen).toEqual(expected);
  } finally {
    held.close();
    rmSync(root, { recursive: true, force: true });
  }
});
