#!/usr/bin/env bun
/**
 * Virtual-tape write speed: `dist/ltfs-pack write PLAN --vtape DIR` (hashing xxh128 in flight,
 * one file per 512 KiB record, an index per card) against `cp -r` of the same tree, sources in
 * the page cache, target on the same file system. Both are also timed with their data on disk
 * (`cp -r && sync` against the default write, which flushes before every index; and
 * `--no-flush`, which flushes nothing, as cp). Before every timed run the target is removed,
 * and, when run as root, clean page cache is dropped and the sources read back in, so each run
 * starts from the same memory state. Target: cp -r time / ours ≥ 0.8. Medians of interleaved
 * runs; writes its section of BENCHMARKS.md on a full run.
 *
 *   bun bench/ltfs.ts            full run: 4 cards × (6 × 40 MiB + 100 small files), 7 runs
 *   bun bench/ltfs.ts --quick    4 cards × (2 × 8 MiB + 20 small files), 3 runs, prints only
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, MiB, ROOT, availableBytes, check, describeMachine, fail, loadAverage, median, mib, randomFile, ratio, sec, timed, warmCache, writeReport } from "./common.ts";

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
  try {
    const total = 4 * (big * bigSize + small * 16);
    if (availableBytes(dir) < 4 * total + 1024 * MiB) fail(`not enough space in ${dir}`);
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
    const prepare = () => {
      rmSync(join(dir, "out"), { recursive: true, force: true });
      check(["sync"]);
      if (root_) writeFileSync("/proc/sys/vm/drop_caches", "1");
      warmCache(files);
    };
    const contenders = [
      { key: "cp -r", cmd: ["cp", "-r", root, join(dir, "out")] },
      { key: "cp -r && sync", cmd: ["sh", "-c", `cp -r '${root}' '${join(dir, "out")}' && sync`] },
      { key: "write --vtape", cmd: [pack, "write", join(dir, "plan.json"), "--tape", "1", "--vtape", join(dir, "out")] },
      { key: "write --vtape --no-flush", cmd: [pack, "write", join(dir, "plan.json"), "--tape", "1", "--vtape", join(dir, "out"), "--no-flush"] },
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
    rmSync(join(dir, "out"), { recursive: true, force: true });
    const m = (key: string) => median(times.get(key)!);
    for (const [key, t] of times) console.log(`  ${key.padEnd(26)} median ${sec(median(t))} s  [${t.map(sec).join(" ")}]`);
    const vsCp = m("cp -r") / m("write --vtape");
    const vsCpNoFlush = m("cp -r") / m("write --vtape --no-flush");
    const vsSync = m("cp -r && sync") / m("write --vtape");
    const vsSyncNoFlush = m("cp -r && sync") / m("write --vtape --no-flush");
    const row = (what: string, key: string, cpRatio: number | undefined, syncRatio: number | undefined) =>
      `| ${what} | ${sec(m(key))} | ${cpRatio === undefined ? "" : ratio(cpRatio)} | ${syncRatio === undefined ? "" : ratio(syncRatio)} | ${cpRatio === undefined ? "" : cpRatio >= TARGET ? "yes" : "**no**"} |`;
    const lines = [
      `Run ${machine.date}${quick ? " (quick run)" : ""}; CPU: ${machine.cpu}; \`nproc\`: ${machine.nproc}; Bun ${machine.bun}; source ${machine.source}; ${machine.anchors.join("; ")}; load before the run: ${load}.`,
      "",
      `Writing one tape of ${files.length} files (${mib(total)}: 4 cards of ${big} × ${mib(bigSize)} and ${small} small files) from the page cache to a virtual tape on the same file system, against copying the tree with \`cp -r\`; whole process, median of ${runs} interleaved runs${root_ ? ", clean page cache dropped and the sources read back in before each run" : ""}. Speed ratio = the other command's time / ours (≥ 1 means ours is as fast or faster).`,
      "",
      "| command | median s | cp -r time / ours | (cp -r && sync) time / ours | ≥ 0.8 × cp -r |",
      "|---|---:|---:|---:|---|",
      row("`ltfs-pack write --vtape` (flushes before every index)", "write --vtape", vsCp, vsSync),
      row("`ltfs-pack write --vtape --no-flush` (nothing flushed, as cp)", "write --vtape --no-flush", vsCpNoFlush, vsSyncNoFlush),
      `| \`cp -r\` (nothing flushed) | ${sec(m("cp -r"))} | 1.00× |  |  |`,
      `| \`cp -r && sync\` | ${sec(m("cp -r && sync"))} |  | 1.00× |  |`,
      "",
      `Reproduce: \`node_modules/.bin/bun bench/ltfs.ts\` (as root, to drop the page cache between runs).`,
    ];
    console.log(`\n${lines.join("\n")}`);
    if (!quick) writeReport("ltfs.ts", lines);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
