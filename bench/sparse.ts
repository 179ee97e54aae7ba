#!/usr/bin/env bun
/**
 * A file with holes against its data alone: `dispatchcopy FILE DIR` (default settings) of a
 * 16 GiB file holding 64 MiB of data (64 pieces of 1 MiB, one every 256 MiB) and of the 64 MiB
 * of data as a dense file, in interleaved rounds. Prints, per case, the median and range of the
 * wall time and of the CPU time (user + system) of the whole process, and the allocated blocks of
 * source and copy.
 *
 *   bun bench/sparse.ts DIR [--rounds N] [--size GiB] [-t ALGO] [--before PATH-TO-DISPATCHCOPY]
 *
 * DIR is where the files are made and copied (a tmpfs, a loop-mounted XFS...); `--before` adds
 * the same copy by another build (the one before a change) to every round.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, readSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { folderAndOptions } from "./common.ts";

const { dir, value } = folderAndOptions("bun bench/sparse.ts DIR [--rounds N] [--size GiB] [-t ALGO] [--before DISPATCHCOPY]");
const rounds = Number(value("--rounds") ?? 5);
const size = Number(value("--size") ?? 16) * 2 ** 30;
const algorithm = value("-t");
const before = value("--before");
const tool = join(import.meta.dir, "..", "dist", "dispatchcopy");

const dense = join(dir, "data64");
const sparse = join(dir, "sparse");
{
  const data = new Uint8Array(1 << 20);
  const d = openSync(dense, "w");
  const s = openSync(sparse, "w");
  const random = openSync("/dev/urandom", "r");
  ftruncateSync(s, size);
  for (let k = 0; k < 64; k++) {
    readSync(random, data, 0, data.length, null);
    writeSync(d, data, 0, data.length, k << 20);
    writeSync(s, data, 0, data.length, Math.floor(size / 64) * k);
  }
  for (const fd of [d, s, random]) closeSync(fd);
}

const cases: Array<{ name: string; cmd: (out: string) => string[] }> = [
  { name: "dense 64 MiB", cmd: (out) => [tool, ...(algorithm ? ["-t", algorithm] : []), dense, out] },
  { name: `sparse ${size / 2 ** 30} GiB`, cmd: (out) => [tool, ...(algorithm ? ["-t", algorithm] : []), sparse, out] },
];
if (before) cases.push({ name: `sparse ${size / 2 ** 30} GiB, before`, cmd: (out) => [before, ...(algorithm ? ["-t", algorithm] : []), sparse, out] });

const times = new Map(cases.map((c) => [c.name, { wall: [] as number[], cpu: [] as number[], blocks: 0 }]));
const out = join(dir, "out");
for (let round = 0; round < rounds; round++) {
  for (const c of cases) {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
    const started = performance.now();
    const proc = Bun.spawnSync({ cmd: c.cmd(out), stdout: "ignore", stderr: "pipe" });
    const wall = (performance.now() - started) / 1000;
    if (proc.exitCode !== 0) throw new Error(`${c.name}: exit ${proc.exitCode}: ${proc.stderr.toString()}`);
    const t = times.get(c.name)!;
    t.wall.push(wall);
    t.cpu.push(Number(proc.resourceUsage!.cpuTime.total) / 1e6);
    t.blocks = statSync(join(out, c.name.startsWith("dense") ? "data64" : "sparse")).blocks;
  }
}
rmSync(out, { recursive: true, force: true });

const show = (list: number[]) => {
  const sorted = [...list].sort((a, b) => a - b);
  return `${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} (${sorted[0]!.toFixed(2)}–${sorted.at(-1)!.toFixed(2)})`;
};
console.log(`${rounds} interleaved rounds in ${dir}${algorithm ? `, -t ${algorithm}` : ""}; source blocks: dense ${statSync(dense).blocks}, sparse ${statSync(sparse).blocks}`);
console.log("| case | wall s | CPU s (user+system) | copy's blocks |");
console.log("|---|---:|---:|---:|");
for (const [name, t] of times) console.log(`| ${name} | ${show(t.wall)} | ${show(t.cpu)} | ${t.blocks} |`);
rmSync(dense);
rmSync(sparse);
