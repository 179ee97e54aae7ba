#!/usr/bin/env bun
/**
 * Copy benchmarks: `dist/dispatchcopy` against the raw I/O floor on the same disk, in one run,
 * whole process, interleaved runs, medians:
 *
 *   1. one 1 GiB file to 3 destinations, xxh64, fsync on, verification skipped, against three
 *      concurrent `cp` followed by `sync`                                target ≤ 1.10×
 *   2. the same with `--verify dest` (every copy read back cold), against that floor plus one
 *      cold `cat` of each destination                                    target ≤ 1.10×
 *   3. a tree of 2,000 × 256 KiB to 2 destinations, `--jobs 4`, against `cp -r` twice and `sync`
 *                                                                         target ≤ 1.2×
 *   4. peak RSS copying a 10 GiB file                                     target < 150 MiB
 *
 * Every timed run starts from the same state (see bench/common.ts): as root the destinations are
 * on a fresh journaled ext4, and memory is touched and freed just before each run.
 *
 *   bun bench/copy.ts           full run; rewrites its section of BENCHMARKS.md
 *   bun bench/copy.ts --quick   256 MiB, 200 files, 1 GiB; prints only
 *   bun bench/copy.ts --baseline DIR
 *                               also times DIR/dist/dispatchcopy (another checkout, built) in
 *                               the same rounds, the two in turn, and adds a before/after table
 *                               (wall and CPU time)
 *   bun bench/copy.ts --ours DIR
 *                               times DIR/dist/dispatchcopy (another checkout, built) as ours
 *                               instead of building and timing this checkout's
 *   bun bench/copy.ts --no-write
 *                               a full run that only prints
 */
import { existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, GiB, MiB, OURS, ROOT, availableBytes, baselineOption, check, describeMachine, fail, loadAverage, median, mib, probe, randomFile, spread, timed, journaledFileSystem, loadSpread, touchMemory, unmount, warmCache, writeReport, type Sample } from "./common.ts";

const quick = process.argv.includes("--quick");
const baseline = baselineOption(process.argv);
const write = !quick && !process.argv.includes("--no-write");
const runs = quick ? 3 : 5;
const bigSize = quick ? 256 * MiB : GiB;
const treeFiles = quick ? 200 : 2000;
const treeFileSize = 256 * 1024;
const memorySize = quick ? GiB : 10 * GiB;

/** Drops a file's pages from the page cache (GNU dd: nocache with count=0). */
function dropCache(paths: string[]): void {
  for (const p of paths) check(["dd", `if=${p}`, "iflag=nocache", "count=0", "status=none"]);
}

async function timedOk(cmd: string[], cwd?: string): Promise<Sample> {
  const s = await timed(cmd, cwd);
  if (s.code !== 0) fail(`${cmd.join(" ")} exited ${s.code}: ${s.stderr.trim()}`);
  return s;
}

async function main(): Promise<void> {
  if (OURS === ROOT) check([BUN, join(ROOT, "scripts/build.ts")]);
  const dc = join(OURS, "dist/dispatchcopy");
  const machine = describeMachine([probe(["cp", "--version"]) ?? "cp"]);
  const load = loadAverage();
  const dir = mkdtempSync(join(tmpdir(), "cartkit-bench-copy-"));
  const lines: string[] = [];
  let target: string | undefined;
  try {
    if (availableBytes(dir) < 4 * bigSize + 2 * treeFiles * treeFileSize + memorySize + 2 * GiB) fail(`not enough space in ${dir}`);
    const big = join(dir, "big.mov");
    randomFile(big, bigSize);
    warmCache([big]);
    const asRoot = process.getuid?.() === 0;
    target = asRoot ? journaledFileSystem(dir, 3 * bigSize + 2 * treeFiles * treeFileSize + GiB) : undefined;
    const destRoot = target ?? dir;
    // Twice what a run writes. This VM starts handing freed memory back to the host within a
    // second of the free (of 4 GiB: 1.3 GiB after 0.8 s, 2.6 GiB after 5 s), and a page handed
    // back costs a host fault at its next touch; with only what a run writes touched, part of
    // every run paid that, the more the longer it ran.
    const touch = 2 * (3 * bigSize + GiB);
    const dests = ["d1", "d2", "d3"].map((d) => join(destRoot, d));
    const clean = () => {
      for (const d of dests) {
        rmSync(d, { recursive: true, force: true });
        mkdirSync(d);
      }
    };

    // With a baseline, each of our runs has a twin by the baseline's binary, the two in turn.
    const builds: Array<{ key: "ours" | "before"; dc: string }> = [{ key: "ours", dc }, ...(baseline ? [{ key: "before" as const, dc: join(baseline.dir, "dist/dispatchcopy") }] : [])];
    const inTurn = (round: number) => (round % 2 ? [...builds].reverse() : builds);

    // 1 and 2: one big file to three destinations.
    const t = { cp: [] as number[], ours: [] as number[], oursVerify: [] as number[], cat: [] as number[], before: [] as number[], beforeVerify: [] as number[] };
    // CPU time (user + system, every thread) of the same runs of each build.
    const cpu = { ours: [] as number[], oursVerify: [] as number[], before: [] as number[], beforeVerify: [] as number[], oursTree: [] as number[], beforeTree: [] as number[] };
    for (let round = 0; round < runs; round++) {
      clean();
      check(["sync"]);
      touchMemory(touch);
      t.cp.push((await timedOk(["sh", "-c", `cp '${big}' '${dests[0]}/' & cp '${big}' '${dests[1]}/' & cp '${big}' '${dests[2]}/' & wait; sync`])).seconds);
      const copies = dests.map((d) => join(d, "big.mov"));
      dropCache(copies);
      touchMemory(touch);
      let catTotal = 0;
      for (const c of copies) catTotal += (await timedOk(["sh", "-c", `cat '${c}' > /dev/null`])).seconds;
      t.cat.push(catTotal);
      for (const build of inTurn(round)) {
        clean();
        check(["sync"]);
        touchMemory(touch);
        const s = await timedOk([build.dc, "-t", "xxh64", "--verify", "none", big, ...dests]);
        t[build.key].push(s.seconds);
        cpu[build.key].push(s.cpu);
      }
      for (const build of inTurn(round)) {
        clean();
        check(["sync"]);
        touchMemory(touch);
        const s = await timedOk([build.dc, "-t", "xxh64", "--verify", "dest", big, ...dests]);
        t[`${build.key}Verify`].push(s.seconds);
        cpu[`${build.key}Verify`].push(s.cpu);
      }
    }
    const floor = median(t.cp);
    const floorVerify = median(t.cp.map((c, i) => c + t.cat[i]!));
    const r1 = median(t.ours) / floor;
    const r2 = median(t.oursVerify) / floorVerify;

    // 3: a tree of small files to two destinations.
    const tree = join(dir, "TREE");
    mkdirSync(tree);
    for (let i = 0; i < treeFiles; i++) {
      const folder = join(tree, `F${String(i % 20).padStart(2, "0")}`);
      if (!existsSync(folder)) mkdirSync(folder);
      randomFile(join(folder, `clip${String(i).padStart(5, "0")}.bin`), treeFileSize);
    }
    check(["sh", "-c", `cat '${tree}'/*/* > /dev/null`]);
    const tt = { cp: [] as number[], ours: [] as number[], before: [] as number[] };
    const t1 = join(destRoot, "t1");
    const t2 = join(destRoot, "t2");
    for (let round = 0; round < runs; round++) {
      for (const d of [t1, t2]) rmSync(d, { recursive: true, force: true });
      check(["sync"]);
      touchMemory(touch);
      tt.cp.push((await timedOk(["sh", "-c", `cp -r '${tree}' '${t1}' && cp -r '${tree}' '${t2}' && sync`])).seconds);
      for (const build of inTurn(round)) {
        for (const d of [t1, t2]) rmSync(d, { recursive: true, force: true });
        check(["sync"]);
        touchMemory(touch);
        const s = await timedOk([build.dc, "-r", "-t", "xxh64", "--jobs", "4", "--verify", "none", "--no-mhl", tree, t1, t2]);
        tt[build.key].push(s.seconds);
        cpu[`${build.key}Tree`].push(s.cpu);
      }
    }
    const r3 = median(tt.ours) / median(tt.cp);
    const count = readdirSync(join(t1)).length;
    if (count !== 20) fail(`tree copy made ${count} folders, expected 20`);

    // 4: memory on a 10 GiB file (sparse source; written for real).
    const huge = join(dir, "huge.mov");
    const fd = openSync(huge, "w");
    ftruncateSync(fd, memorySize);
    closeSync(fd);
    for (const d of [t1, t2]) rmSync(d, { recursive: true, force: true });
    clean();
    const rssOut = join(dir, "rss.txt");
    // Written beside the source: the 10 GiB copy does not fit the fresh file system.
    const rssDest = join(dir, "rss");
    const rss: Record<string, number> = {};
    for (const build of builds) {
      rmSync(rssDest, { recursive: true, force: true });
      mkdirSync(rssDest);
      await timedOk(["/usr/bin/time", "-f", "%M", "-o", rssOut, build.dc, "-t", "xxh64", "--verify", "none", huge, rssDest]);
      rss[build.key] = Number(readFileSync(rssOut, "utf8").trim().split("\n").at(-1)) / 1024;
    }
    const rssMiB = rss.ours!;

    lines.push(
      `Run ${machine.date}${quick ? " (quick run)" : ""}; CPU: ${machine.cpu}; \`nproc\`: ${machine.nproc}; Bun ${machine.bun}; source ${machine.source}; load before the run: ${load}, after: ${loadAverage()}. One disk for source and destinations (page cache warm for the source)${target ? "; destinations on a fresh journaled ext4 (loop device, direct I/O to its image)" : ""}. Median of ${runs} runs, each starting from empty destinations after \`sync\`, with ${mib(touch)} of memory touched and freed just before.`,
      "",
      "| job | dispatchcopy s, median (range) | floor s, median (range) | × floor | target | met |",
      "|---|---:|---:|---:|---:|---|",
      `| ${mib(bigSize)} → 3 destinations, xxh64, fsync, no verification; floor: 3 concurrent \`cp\` + \`sync\` | ${spread(t.ours)} | ${spread(t.cp)} | ${r1.toFixed(2)}× | ≤ 1.10× | ${r1 <= 1.1 ? "yes" : "**no**"} |`,
      `| same with \`--verify dest\`; floor: that + one cold \`cat\` of each copy | ${spread(t.oursVerify)} | ${spread(t.cp.map((c, i) => c + t.cat[i]!))} | ${r2.toFixed(2)}× | ≤ 1.10× | ${r2 <= 1.1 ? "yes" : "**no**"} |`,
      `| ${treeFiles} × 256 KiB → 2 destinations, \`--jobs 4\`, no verification; floor: \`cp -r\` twice + \`sync\` | ${spread(tt.ours)} | ${spread(tt.cp)} | ${r3.toFixed(2)}× | ≤ 1.2× | ${r3 <= 1.2 ? "yes" : "**no**"} |`,
      "",
      `Peak RSS copying a ${mib(memorySize)} file: ${rssMiB.toFixed(1)} MiB (target < 150 MiB: ${rssMiB < 150 ? "met" : "**not met**"}).`,
      "",
      "Reproduce: `node_modules/.bin/bun bench/copy.ts`.",
    );
    if (baseline) {
      const change = (after: number[], before: number[]) => `${((median(after) / median(before) - 1) * 100).toFixed(1)}%`;
      const row = (job: string, before: number[], after: number[], beforeCpu: number[], afterCpu: number[]) => `| ${job} | ${spread(before)} | ${spread(after)} | ${change(after, before)} | ${spread(beforeCpu)} | ${spread(afterCpu)} | ${change(afterCpu, beforeCpu)} |`;
      lines.push(
        "",
        `Before and after: the same jobs by the baseline's \`dist/dispatchcopy\` (source ${baseline.source}), timed in the same rounds, the two in turn (${runs} runs each). CPU is user + system time of the whole process, every thread. Load average (1 min) at the start of the timed commands: median ${loadSpread()}.`,
        "",
        "| job | before wall s, median (range) | after wall s, median (range) | wall after vs before | before CPU s | after CPU s | CPU after vs before |",
        "|---|---:|---:|---:|---:|---:|---:|",
        row(`${mib(bigSize)} → 3 destinations, no verification`, t.before, t.ours, cpu.before, cpu.ours),
        row("same with `--verify dest`", t.beforeVerify, t.oursVerify, cpu.beforeVerify, cpu.oursVerify),
        row(`${treeFiles} × 256 KiB → 2 destinations, \`--jobs 4\``, tt.before, tt.ours, cpu.beforeTree, cpu.oursTree),
        `| peak RSS, ${mib(memorySize)} file | ${rss.before!.toFixed(1)} MiB | ${rss.ours!.toFixed(1)} MiB | | | | |`,
      );
    }
    console.log(lines.join("\n"));
    if (write) writeReport("copy.ts", lines);
  } finally {
    if (target) unmount(target);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
