#!/usr/bin/env bun
/**
 * ASC MHL verification speed: `dist/mhl-verify verify ROOT` over a 4 GiB tree (xxh128, the
 * default format) against `xxhsum -H2` hashing the same files, in the page cache, whole process,
 * interleaved runs, medians. Target: our time ≤ 1.2× xxhsum's. Writes its section of
 * BENCHMARKS.md on a full run.
 *
 *   bun bench/mhl.ts            full run: 32 × 128 MiB in 4 card folders, 7 runs
 *   bun bench/mhl.ts --quick    16 × 16 MiB, 3 runs, prints only
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, GiB, MiB, ROOT, availableBytes, check, describeMachine, fail, loadAverage, measure, mib, probe, randomFile, ratio, sec, warmCache, writeReport } from "./common.ts";

const quick = process.argv.includes("--quick");
const runs = quick ? 3 : 7;
const files = quick ? 16 : 32;
const fileSize = quick ? 16 * MiB : 128 * MiB;
const TARGET = 1.2;

async function main(): Promise<void> {
  for (const tool of ["xxhsum"]) if (!Bun.which(tool)) fail(`${tool} is not installed (Debian: apt-get install xxhash)`);
  check([BUN, join(ROOT, "scripts/build.ts")]);
  const mhl = join(ROOT, "dist/mhl-verify");
  const machine = describeMachine([probe(["xxhsum", "--version"])?.replace(/ by .*/, "") ?? "xxhsum missing"]);
  const load = loadAverage();
  const dir = mkdtempSync(join(tmpdir(), "cartkit-bench-mhl-"));
  try {
    if (availableBytes(dir) < files * fileSize + GiB) fail(`not enough space in ${dir}`);
    const root = join(dir, "PROJECT");
    const names: string[] = [];
    for (let i = 0; i < files; i++) {
      const card = `A00${(i % 4) + 1}`;
      mkdirSync(join(root, card), { recursive: true });
      names.push(`${card}/C${String(i).padStart(3, "0")}.mov`);
    }
    console.log(`creating ${files} × ${mib(fileSize)} in ${root}`);
    for (const name of names) randomFile(join(root, name), fileSize);
    warmCache(names.map((n) => join(root, n)));
    check([mhl, "create", root, "-h", "xxh128"]);

    const results = await measure([
      { key: "mhl-verify verify", cmd: [mhl, "verify", root], runs },
      { key: "xxhsum -H2", cmd: ["xxhsum", "-H2", ...names], runs, cwd: root },
    ]);
    const ours = results.get("mhl-verify verify")!.median;
    const native = results.get("xxhsum -H2")!.median;
    const factor = ours / native;
    const lines = [
      `Run ${machine.date}${quick ? " (quick run)" : ""}; CPU: ${machine.cpu}; \`nproc\`: ${machine.nproc}; Bun ${machine.bun}; source ${machine.source}; ${machine.anchors.join("; ")}; load before the run: ${load}.`,
      "",
      `Verifying an ASC MHL history of ${files} files × ${mib(fileSize)} (${mib(files * fileSize)}, xxh128, in the page cache) against hashing the same files with \`xxhsum -H2\`; whole process, median of ${runs} interleaved runs.`,
      "",
      "| command | median s | × xxhsum | target | met |",
      "|---|---:|---:|---:|---|",
      `| \`dist/mhl-verify verify ROOT\` | ${sec(ours)} | ${ratio(factor)} | ≤ ${TARGET}× | ${factor <= TARGET ? "yes" : "**no**"} |`,
      `| \`xxhsum -H2 FILES\` | ${sec(native)} | 1.00× |  |  |`,
      "",
      `Reproduce: \`node_modules/.bin/bun bench/mhl.ts\`.`,
    ];
    console.log(`\n${lines.join("\n")}`);
    if (!quick) writeReport("mhl.ts", lines);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
