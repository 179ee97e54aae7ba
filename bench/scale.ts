#!/usr/bin/env bun
/**
 * Scale: does a tool's memory stay bounded and its time per file stay flat as a tree grows from
 * 100,000 to 1,000,000 tiny files (a few bytes each, 1,000 to a folder)? Compiled tools, the
 * tree cached, max RSS and elapsed time from `/usr/bin/time -v`:
 *
 *   xxsum -r, mhl-verify create -h xxh128, dispatchcopy -r --dry-run
 *   targets: max RSS ≤ 500 MiB; time per file at 1,000,000 ≤ 1.5× the time per file at 100,000
 *
 * The trees take about 4 GiB of disk at 1,000,000 (a block per file) and minutes to make: they
 * are made in --dir (default: the temp folder) and kept there with --keep for the next run.
 *
 *   bun bench/scale.ts [--dir DIR] [--keep] [--runs N] [--files 100000,1000000] [--only xxsum|mhl|dry-run|copy]
 *
 * `--only copy` measures a real `dispatchcopy -r` of each tree to one destination in DIR (not
 * in the default run: it writes the whole tree, and its results are held per file until its
 * records are written, so its memory grows with the tree by design; the figure is kept in
 * BENCHMARKS.md beside the others).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, ROOT, check, describeMachine, fail, loadAverage, median, writeReport } from "./common.ts";

const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
};
const dir = option("--dir") ?? join(tmpdir(), "cartkit-bench-scale");
const keep = argv.includes("--keep");
const runs = Number(option("--runs") ?? 1);
const counts = (option("--files") ?? "100000,1000000").split(",").map(Number);
const only = option("--only");
const PER_FOLDER = 1000;
const dist = (tool: string) => join(ROOT, "dist", tool);

/** A tree of `files` files holding their own number, {@link PER_FOLDER} to a folder; made once. */
function makeTree(files: number): string {
  const path = join(dir, `tiny-${files}`);
  const done = join(dir, `tiny-${files}.done`);
  if (existsSync(done)) return path;
  rmSync(path, { recursive: true, force: true });
  const started = performance.now();
  for (let i = 0; i < files; i++) {
    const folder = join(path, `D${String(Math.floor(i / PER_FOLDER)).padStart(4, "0")}`);
    if (i % PER_FOLDER === 0) mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, `f${String(i).padStart(7, "0")}`), `${i}\n`);
  }
  writeFileSync(done, "");
  console.error(`made ${files.toLocaleString("en")} files in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return path;
}

interface Run {
  seconds: number;
  rssMiB: number;
}

/** Runs `cmd` under `/usr/bin/time -v`: elapsed wall time and maximum resident set size. */
function measured(cmd: string[]): Run {
  const report = join(dir, "time.txt");
  const proc = Bun.spawnSync({ cmd: ["/usr/bin/time", "-v", "-o", report, ...cmd], stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  if (proc.exitCode !== 0) fail(`${cmd.join(" ")} exited ${proc.exitCode}: ${proc.stderr.toString().trim().split("\n").slice(-3).join(" | ")}`);
  const text = readFileSync(report, "utf8");
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
  const elapsed = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(text);
  if (!rss || !elapsed) fail(`no measurement from /usr/bin/time for ${cmd.join(" ")}`);
  return { seconds: Number(elapsed[1] ?? 0) * 3600 + Number(elapsed[2]) * 60 + Number(elapsed[3]), rssMiB: Number(rss[1]) / 1024 };
}

async function main(): Promise<void> {
  if (!existsSync("/usr/bin/time")) fail("/usr/bin/time (GNU time) is needed for the memory measurement");
  check([BUN, join(ROOT, "scripts/build.ts")]);
  mkdirSync(dir, { recursive: true });
  const machine = describeMachine([]);
  const load = loadAverage();
  const trees = counts.map((files) => ({ files, path: makeTree(files) }));
  const dest = join(dir, "dest");
  const jobs: Array<[string, (tree: string) => string[], () => void]> = [
    ["xxsum -r", (tree) => [dist("xxsum"), "-r", tree], () => {}],
    [
      "mhl-verify create -h xxh128",
      (tree) => [dist("mhl-verify"), "create", tree, "-h", "xxh128"],
      () => {
        for (const t of trees) rmSync(join(t.path, "ascmhl"), { recursive: true, force: true });
      },
    ],
    ["dispatchcopy -r --dry-run", (tree) => [dist("dispatchcopy"), "-r", "--dry-run", tree, dest], () => rmSync(dest, { recursive: true, force: true })],
    ["dispatchcopy -r (copy)", (tree) => [dist("dispatchcopy"), "-r", tree, dest], () => rmSync(dest, { recursive: true, force: true })],
  ];
  const wanted = jobs.filter(([label]) => (only ? label.includes(only) : !label.includes("(copy)")));
  const lines = [
    `Run ${machine.date}; CPU: ${machine.cpu}; \`nproc\`: ${machine.nproc}; ${machine.memory}; Bun ${machine.bun}; source ${machine.source}; load before the run: ${load}. Compiled tools; trees of tiny files (${PER_FOLDER.toLocaleString("en")} to a folder) in ${dir}, cached; ${runs} interleaved run(s), median (range); max RSS from \`/usr/bin/time -v\`.`,
    "",
    `| job | ${trees.map((t) => `${t.files.toLocaleString("en")} files: s, µs/file, max RSS MiB`).join(" | ")} | per file, largest ÷ smallest | max RSS ≤ 500 MiB | per file ≤ 1.5× |`,
    `|---|${trees.map(() => "---:").join("|")}|---:|---|---|`,
  ];
  for (const [label, cmd, cleanUp] of wanted) {
    const results = new Map<number, Run[]>(trees.map((t) => [t.files, []]));
    for (let round = 0; round < runs; round++) {
      for (const tree of trees) {
        cleanUp();
        check(["sh", "-c", `find '${tree.path}' > /dev/null`]);
        const run = measured(cmd(tree.path));
        results.get(tree.files)!.push(run);
        console.error(`${label} ${tree.files}: ${run.seconds.toFixed(2)} s, ${run.rssMiB.toFixed(0)} MiB`);
      }
    }
    cleanUp();
    const perFile = trees.map((t) => median(results.get(t.files)!.map((r) => r.seconds)) / t.files);
    const rss = trees.map((t) => Math.max(...results.get(t.files)!.map((r) => r.rssMiB)));
    const growth = perFile.at(-1)! / perFile[0]!;
    const cells = trees.map((t, i) => {
      const s = results.get(t.files)!.map((r) => r.seconds);
      return `${median(s).toFixed(2)} (${Math.min(...s).toFixed(2)}–${Math.max(...s).toFixed(2)}), ${(perFile[i]! * 1e6).toFixed(1)}, ${rss[i]!.toFixed(0)}`;
    });
    const rssOk = rss.every((r) => r <= 500);
    lines.push(`| ${label} | ${cells.join(" | ")} | ${growth.toFixed(2)}× | ${rssOk ? "yes" : "**no**"} | ${growth <= 1.5 ? "yes" : "**no**"} |`);
  }
  lines.push("", "Reproduce: `node_modules/.bin/bun bench/scale.ts --keep` (the trees stay in the temp folder for the next run).");
  console.log(lines.join("\n"));
  if (!only && counts.join(",") === "100000,1000000") writeReport("scale.ts", lines);
  if (!keep) rmSync(dir, { recursive: true, force: true });
}

await main();
