#!/usr/bin/env bun
/**
 * Virtual-tape write speed: `dist/ltfs-pack write PLAN --vtape DIR` (hashing xxh128 in flight,
 * one file per 512 KiB record, an index per card) against `cp -r` of the same tree, sources in
 * the page cache. Both are also timed with their data on disk (`cp -r && sync` against the
 * default write, which flushes before every index; and `--no-flush`, which flushes nothing, as
 * cp). Target: cp -r time / ours ≥ 0.8. Medians of interleaved runs; writes its section of
 * BENCHMARKS.md on a full run.
 *
 * Every run starts from the same state. The target is removed, and when run as root the clean
 * page cache is dropped and the sources read back in. As root, the target is a fresh journaled
 * ext4 file system on a loop device. On a file system without a journal, ext4 skips inodes
 * deleted in the last seconds and scans past each one, so whoever creates files right after the
 * previous run's were deleted pays for the deletion. Last, memory is touched and freed just
 * before the command: a VM that hands freed memory back to its host (free page reporting) makes
 * the first touch of a page cost a host fault, and without this it charges whichever command
 * runs when more memory was handed back.
 *
 *   bun bench/ltfs.ts            full run: 4 cards × (6 × 40 MiB + 100 small files), 7 runs
 *   bun bench/ltfs.ts --quick    4 cards × (2 × 8 MiB + 20 small files), 3 runs, prints only
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, GiB, MiB, ROOT, availableBytes, check, describeMachine, fail, journaledFileSystem, loadAverage, median, mib, randomFile, ratio, sec, timed, touchMemory, unmount, warmCache, writeReport } from "./common.ts";

const quick = process.argv.includes("--quick");
const runs = quick ? 3 : 7;
const big = quick ? 2 : 6;
const bigSize = quick ? 8 * MiB : 40 * MiB;
const small = quick ? 20 : 100;
const TARGET = 0.8;

async function main(): Promise<void> {
  check([BUN, join(ROOT, "scripts/build.ts")]);
  const pack = join(ROOT, "dist/ltfs-pack");
  const machine = describeMachine([`cp: ${check(["cp", "--version"]).split("\n")[0]}`]);
  const load = loadAverage();
  const dir = mkdtempSync(join(tmpdir(), "cartkit-bench-ltfs-"));
  const cleanups: (() => void)[] = [];
  try {
    const total = 4 * (big * bigSize + small * 16);
    if (availableBytes(dir) < 5 * total + 1024 * MiB) fail(`not enough space in ${dir}`);
    const root = join(dir, "PROJECT");
    const files: string[] = [];
    for (const card of ["A001", "A002", "A003", "A004"]) {
      mkdirSync(join(root, card), { recursive: true });
      for (let i = 0; i < big; i++) files.push(join(root, card, `C${String(i).padStart(3, "0")}.mov`));
      for (const f of files.slice(-big)) randomFile(f, bigSize);
      for (let i = 0; i < small; i++) {
        const f = join(root, card, `S${String(i).padStart(3, "0")}.xml`);
        writeFileSync(f, `<sidecar n="${i}"/>\n`.padEnd(16, " "));
        files.push(f);
      }
    }
    writeFileSync(join(dir, "plan.json"), check([pack, "plan", root, "--tape", "LTO-9", "--json"]));
    const root_ = process.getuid?.() === 0;
    const target = root_ ? journaledFileSystem(dir, 3 * total + 512 * MiB) : dir;
    cleanups.push(() => target !== dir && unmount(target));
    const out = join(target, "out");
    const touch = Math.ceil((2 * total) / GiB + 1) * GiB;
    const prepare = () => {
      rmSync(out, { recursive: true, force: true });
      check(["sync"]);
      if (root_) writeFileSync("/proc/sys/vm/drop_caches", "1");
      // The programs too: a dropped cache would charge each its own start from disk.
      warmCache([...files, pack, Bun.which("cp")!, Bun.which("sh")!]);
      touchMemory(touch);
    };
    const contenders = [
      { key: "cp -r", cmd: ["cp", "-r", root, out] },
      { key: "cp -r && sync", cmd: ["sh", "-c", `cp -r '${root}' '${out}' && sync`] },
      { key: "write --vtape", cmd: [pack, "write", join(dir, "plan.json"), "--tape", "1", "--vtape", out] },
      { key: "write --vtape --no-flush", cmd: [pack, "write", join(dir, "plan.json"), "--tape", "1", "--vtape", out, "--no-flush"] },
    ];
    const times = new Map<string, number[]>(contenders.map((c) => [c.key, []]));
    console.log(`${files.length} files, ${mib(total)}; ${runs} rounds of ${contenders.length} commands${root_ ? ", clean page cache dropped before each" : ""}`);
    for (let round = -1; round < runs; round++) {
      for (let i = 0; i < contenders.length; i++) {
        const c = contenders[(i + Math.max(round, 0)) % contenders.length]!;
        prepare();
        const sample = await timed(c.cmd, dir);
        if (sample.code !== 0) fail(`${c.cmd.join(" ")} exited ${sample.code}: ${sample.stderr.trim()}`);
        if (round >= 0) times.get(c.key)!.push(sample.seconds);
      }
    }
    rmSync(out, { recursive: true, force: true });
    const m = (key: string) => median(times.get(key)!);
    for (const [key, t] of times) console.log(`  ${key.padEnd(26)} median ${sec(median(t))} s  [${t.map(sec).join(" ")}]`);
    const vsCp = m("cp -r") / m("write --vtape");
    const vsCpNoFlush = m("cp -r") / m("write --vtape --no-flush");
    const vsSync = m("cp -r && sync") / m("write --vtape");
    const vsSyncNoFlush = m("cp -r && sync") / m("write --vtape --no-flush");
    const row = (what: string, key: string, cpRatio: number | undefined, syncRatio: number | undefined) => `| ${what} | ${sec(m(key))} | ${cpRatio === undefined ? "" : ratio(cpRatio)} | ${syncRatio === undefined ? "" : ratio(syncRatio)} | ${cpRatio === undefined ? "" : cpRatio >= TARGET ? "yes" : "**no**"} |`;
    const lines = [
      `Run ${machine.date}${quick ? " (quick run)" : ""}; CPU: ${machine.cpu}; \`nproc\`: ${machine.nproc}; Bun ${machine.bun}; source ${machine.source}; ${machine.anchors.join("; ")}; load before the run: ${load}.`,
      "",
      `Writing one tape of ${files.length} files (${Math.round(total / MiB)} MiB: 4 cards of ${big} × ${mib(bigSize)} and ${small} small files) from the page cache to a virtual tape, against copying the tree with \`cp -r\` to the same file system${root_ ? " (a fresh journaled ext4 on a loop device)" : ""}; whole process, median of ${runs} interleaved runs; before each run the target removed${root_ ? ", clean page cache dropped and the sources read back in" : ""}, and ${mib(touch)} of memory touched and freed. Speed ratio = the other command's time / ours (≥ 1 means ours is as fast or faster).`,
      "",
      "| command | median s | cp -r time / ours | (cp -r && sync) time / ours | ≥ 0.8 × cp -r |",
      "|---|---:|---:|---:|---|",
      row("`ltfs-pack write --vtape` (flushes before every index)", "write --vtape", vsCp, vsSync),
      row("`ltfs-pack write --vtape --no-flush` (nothing flushed, as cp)", "write --vtape --no-flush", vsCpNoFlush, vsSyncNoFlush),
      `| \`cp -r\` (nothing flushed) | ${sec(m("cp -r"))} | 1.00× |  |  |`,
      `| \`cp -r && sync\` | ${sec(m("cp -r && sync"))} |  | 1.00× |  |`,
      "",
      `Reproduce: \`node_modules/.bin/bun bench/ltfs.ts\` (as root, to drop the page cache between runs and to write to a fresh file system).`,
    ];
    console.log(`\n${lines.join("\n")}`);
    if (!quick) writeReport("ltfs.ts", lines);
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
