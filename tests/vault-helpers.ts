/**
 * What the cartvault tests share: small projects on disk, running the tool, flipping a bit,
 * dropping files from the page cache, and a loop-mounted XFS with reflinks.
 */
import { afterAll } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { IS_ROOT, randomBytes, run, tool, type RunResult, type ToolRunner } from "./helpers.ts";

/** Files of a small project: path → bytes. */
export type Tree = Record<string, Uint8Array | string>;

/** A camera card's worth of files, distinct bytes each (seeded). */
export function project(seed = 1): Tree {
  return {
    "A001/CLIPS/A001C001.mov": randomBytes(300_000, seed),
    "A001/CLIPS/A001C002.mov": randomBytes(120_000, seed + 1),
    "A001/A001C001.xml": `<clip name="A001C001" seed="${seed}"/>\n`,
    "A002/CLIPS/A002C001.mov": randomBytes(200_000, seed + 2),
    "notes.txt": "scene 12, takes 1-2\n",
  };
}

/** Writes a tree under `root`, every file dated an hour ago (older than the stat cache's racy window). */
export function writeTree(root: string, tree: Tree): void {
  const then = new Date(Date.now() - 3600_000);
  for (const [path, bytes] of Object.entries(tree)) {
    const file = join(root, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, bytes);
    utimesSync(file, then, then);
  }
}

/** Runs cartvault. */
export function vault(runner: ToolRunner, args: string[], options: Parameters<typeof tool>[3] = {}): RunResult {
  return tool(runner, "cartvault", args, options);
}

/** The one JSON object a --json command printed. */
export function jsonOf(result: RunResult): Record<string, any> {
  return JSON.parse(result.stdout);
}

/** The JSON lines a --json command printed. */
export function jsonLines(result: RunResult): Array<Record<string, any>> {
  return result.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/** Flips one bit of a file in place (its mode put back as it was). */
export function flipBit(path: string, offset: number, bit = 0x10): void {
  chmodSync(path, 0o644);
  const bytes = readFileSync(path);
  bytes[offset] = bytes[offset]! ^ bit;
  writeFileSync(path, bytes);
  chmodSync(path, 0o444);
}

/** Drops a file's pages from the page cache (dd's nocache flag: posix_fadvise DONTNEED). */
export function evict(path: string): void {
  run(["dd", `if=${path}`, "iflag=nocache", "count=0", "status=none"]);
}

/** Bytes of a file held in the page cache (fincore), or undefined without fincore. */
export function resident(path: string): number | undefined {
  const fincore = Bun.which("fincore");
  if (!fincore) return undefined;
  return Number(run([fincore, "--bytes", "--noheadings", "--output", "RES", path]).stdout.trim());
}

/** True when a file shares all its extents with others (reflinked): every extent flagged "shared" by filefrag. */
export function sharesExtents(path: string): boolean {
  const out = run(["filefrag", "-v", path]).stdout;
  const extents = out.split("\n").filter((line) => /^\s*\d+:/.test(line));
  return extents.length > 0 && extents.every((line) => line.includes("shared"));
}

const mounts: string[] = [];
afterAll(() => {
  for (const path of mounts.reverse()) run(["umount", "-l", path]);
});

/**
 * A loop-mounted XFS with reflinks (`mkfs.xfs -m reflink=1`) of `megabytes` at `dir/name`, or
 * undefined where it cannot be mounted (not root, no xfsprogs). In CI it must work.
 */
export function reflinkXfs(dir: string, name: string, megabytes = 300): string | undefined {
  const image = join(dir, `${name}.img`);
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  const ok = IS_ROOT && Bun.which("mkfs.xfs") !== null && run(["truncate", "-s", `${megabytes}M`, image]).code === 0 && run(["mkfs.xfs", "-q", "-m", "reflink=1", image]).code === 0 && run(["mount", "-o", "loop", image, path]).code === 0;
  if (!ok) {
    if (process.env.CI === "true") throw new Error("CI must be able to mount a loop XFS with reflinks (root, xfsprogs)");
    return undefined;
  }
  mounts.push(path);
  return path;
}
