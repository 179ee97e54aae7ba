#!/usr/bin/env bun
/**
 * The memory of a copy of a file with many data ranges: a file of `--size` GiB holding 4 KiB of
 * data every 8 KiB (a range per 8 KiB: 524,288 for 4 GiB), copied by `dispatchcopy FILE DIR`
 * (default settings) under `/usr/bin/time -v`, in interleaved rounds. Prints, per build, the
 * median and range of the maximum resident set size, the wall time and the CPU time.
 *
 *   bun bench/sparse_ranges.ts DIR [--rounds N] [--size GiB] [--before PATH-TO-DISPATCHCOPY]
 *
 * DIR must keep holes (a tmpfs such as /dev/shm, ext4, XFS) and hold the data twice (half the
 * size, for the file and its copy).
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { folderAndOptions } from "./common.ts";

const { dir, value } = folderAndOptions("bun bench/sparse_ranges.ts DIR [--rounds N] [--size GiB] [--before DISPATCHCOPY]");
const rounds = Number(value("--rounds") ?? 3);
const size = Number(value("--size") ?? 4) * 2 ** 30;
const before = value("--before");
const builds: Array<[string, string]> = [["now", join(import.meta.dir, "..", "dist", "dispatchcopy")]];
if (before) builds.unshift(["before", before]);

const file = join(dir, "ranges.img");
{
  const fd = openSync(file, "w");
  ftruncateSync(fd, size);
  const page = new Uint8Array(4096);
  for (let at = 0, k = 1; at < size; at += 8192, k++) {
    page.fill(k & 0xff || 1);
    writeSync(fd, page, 0, page.length, at);
  }
  closeSync(fd);
}

const results = new Map(builds.map(([name]) => [name, { rss: [] as number[], wall: [] as number[], cpu: [] as number[] }]));
const out = join(dir, "out");
for (let round = 0; round < rounds; round++) {
  for (const [name, tool] of builds) {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
    // time's report goes to a file of its own, apart from the tool's stderr.
    const report = join(dir, "time.txt");
    const proc = Bun.spawnSync({ cmd: ["/usr/bin/time", "-v", "-o", report, tool, file, out], stdout: "ignore", stderr: "pipe" });
    const text = readFileSync(report, "utf8");
    if (proc.exitCode !== 0) throw new Error(`${name}: exit ${proc.exitCode}: ${proc.stderr.toString()}`);
    const field = (label: string) =>
      text
        .split("\n")
        .find((l) => l.trim().startsWith(label))!
        .split(": ")
        .at(-1)!
        .trim();
    const [minutes, seconds] = field("Elapsed (wall clock) time").split(":").map(Number).slice(-2) as [number, number];
    const r = results.get(name)!;
    r.rss.push(Number(field("Maximum resident set size")) / 1000);
    r.wall.push(minutes * 60 + seconds);
    r.cpu.push(Number(field("User time")) + Number(field("System time")));
  }
}
rmSync(out, { recursive: true, force: true });
rmSync(file);
rmSync(join(dir, "time.txt"), { force: true });

const show = (list: number[], digits: number) => {
  const sorted = [...list].sort((a, b) => a - b);
  return `${sorted[Math.floor(sorted.length / 2)]!.toFixed(digits)} (${sorted[0]!.toFixed(digits)}–${sorted.at(-1)!.toFixed(digits)})`;
};
console.log(`${rounds} interleaved rounds in ${dir}: ${size / 2 ** 30} GiB, ${size / 8192} data ranges of 4 KiB`);
console.log("| build | max RSS, MB | wall s | CPU s (user+system) |");
console.log("|---|---:|---:|---:|");
for (const [name, r] of results) console.log(`| ${name} | ${show(r.rss, 1)} | ${show(r.wall, 2)} | ${show(r.cpu, 2)} |`);
