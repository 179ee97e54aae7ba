#!/usr/bin/env bun
/**
 * Hashing benchmarks against the native tools, in one run on one machine:
 *
 *   1. one large random file in the page cache: the compiled `dist/xxsum` and `dist/b3sum-ts`
 *      against `xxhsum` and `b3sum --num-threads 1`, and the library's MD5/SHA-1/SHA-256
 *      (bench/hash_file.ts under bun) against `openssl`; plus the portable engines
 *      (`--engine wasm` / `--engine js`);
 *   2. `--jobs 2` against `--jobs 1` over a tree of many random files;
 *   3. peak RSS hashing a 10 GiB sparse file and 10 GiB piped through stdin.
 *
 * Every time is the whole process, spawn to exit (performance.now() around Bun.spawn and
 * `exited`), measured in interleaved runs; tables show medians. Every digest is compared with
 * the native tool's and the run fails loudly on any difference. Options: see {@link USAGE}.
 */
import { existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { BUN, BenchError, type Contender, GiB, type Machine, MiB, OURS, ROOT, availableBytes, baselineCommand, baselineOption, check, describeMachine, digestOf, fail, loadAverage, loadSpread, measure, median, mib, randomFile, ratio, sec, shellQuote, show, spread, timed, warmCache, writeReport } from "./common.ts";

// ---------------------------------------------------------------- options

type Section = "single" | "parallel" | "memory";
const SECTIONS: readonly Section[] = ["single", "parallel", "memory"];

interface Config {
  quick: boolean;
  runs: number;
  /** Runs of the slow portable-engine commands. */
  slowRuns: number;
  bigSize: number;
  /** File for the pure-TypeScript engines, which would take minutes on the big one. */
  smallSize: number;
  treeFiles: number;
  treeFileSize: number;
  memorySize: number;
  /** Peak RSS target for the memory section. */
  rssTargetMiB: number;
  sections: Section[];
  dir: string | undefined;
  build: boolean;
  write: boolean;
  /** Another checkout whose binaries are timed beside ours (`--baseline DIR`). */
  baseline: { dir: string; source: string } | undefined;
}

const USAGE = `usage: bun bench/hash.ts [options]

  (no options)       full run: 1 GiB file, 200 × 8 MiB tree, 10 GiB memory input, 7 runs;
                     rewrites the results section of BENCHMARKS.md
  --quick            256 MiB file, 40 × 4 MiB tree, 1 GiB memory input, 3 runs; prints only
  --runs N           runs per command (default 7; --quick 3)
  --only LIST        sections to run, comma-separated: single,parallel,memory (default all)
  --dir DIR          keep the test data in DIR and reuse it next time (default: a new
                     folder under /tmp, removed at the end)
  --no-build         do not run scripts/build.ts first
  --write            update BENCHMARKS.md (default on full runs of every section)
  --no-write         only print
  --baseline DIR     also time DIR's dist/ binaries and bench/hash_file.ts (another checkout,
                     built) in the same rounds as ours, and add a before/after table (wall and
                     CPU time)
  --ours DIR         time DIR's dist/ binaries and bench/hash_file.ts (another checkout, built)
                     as ours instead of this checkout's; implies --no-build
`;

function parseOptions(argv: string[]): Config {
  let quick = false;
  let runs: number | undefined;
  let sections: Section[] = [...SECTIONS];
  let dir: string | undefined;
  let build = true;
  let write: boolean | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => argv[++i] ?? fail(`${arg} needs a value`);
    switch (arg) {
      case "--quick":
        quick = true;
        break;
      case "--runs":
        runs = Number(value());
        break;
      case "--only":
        sections = value()
          .split(",")
          .map((s) => s.trim()) as Section[];
        break;
      case "--dir":
        dir = value();
        break;
      case "--no-build":
        build = false;
        break;
      case "--write":
        write = true;
        break;
      case "--no-write":
        write = false;
        break;
      case "--baseline":
        value();
        break;
      case "--ours":
        value();
        build = false;
        break;
      case "-h":
      case "--help":
        process.stdout.write(USAGE);
        return process.exit(0);
      default:
        fail(`unknown option '${arg}' (see --help)`);
    }
  }
  if (runs !== undefined && !(Number.isInteger(runs) && runs >= 1)) fail("--runs must be a whole number ≥ 1");
  for (const s of sections) if (!SECTIONS.includes(s)) fail(`unknown section '${s}'; use ${SECTIONS.join(",")}`);
  const base = quick ? { runs: 3, slowRuns: 1, bigSize: 256 * MiB, smallSize: 16 * MiB, treeFiles: 40, treeFileSize: 4 * MiB, memorySize: 1 * GiB } : { runs: 7, slowRuns: 3, bigSize: 1 * GiB, smallSize: 64 * MiB, treeFiles: 200, treeFileSize: 8 * MiB, memorySize: 10 * GiB };
  return {
    quick,
    ...base,
    runs: runs ?? base.runs,
    slowRuns: Math.min(runs ?? base.slowRuns, base.slowRuns),
    rssTargetMiB: 150,
    sections,
    dir,
    build,
    write: write ?? (!quick && sections.length === SECTIONS.length),
    baseline: baselineOption(argv),
  };
}

// ---------------------------------------------------------------- before and after

/** One of our commands timed beside the baseline's twin. */
interface Comparison {
  label: string;
  before: number[];
  after: number[];
  /** CPU time (user + system) of the same runs; empty for one-run rows. */
  beforeCpu: number[];
  afterCpu: number[];
}

/** Rows of the before/after table, filled by the sections as they run. */
const comparisons: Comparison[] = [];

/** The baseline's twin of a contender of ours, keyed `before <key>`; none without a baseline. */
function twin(config: Config, contender: Contender): Contender[] {
  return config.baseline ? [{ ...contender, key: `before ${contender.key}`, cmd: baselineCommand(contender.cmd, config.baseline.dir) }] : [];
}

function compare(config: Config, label: string, measured: Map<string, { times: number[]; cpus: number[]; stdout: string }>, key: string): void {
  if (!config.baseline) return;
  const after = measured.get(key)!;
  const before = measured.get(`before ${key}`)!;
  if (before.stdout !== after.stdout) fail(`${label}: the baseline printed something else:\n${before.stdout}---\n${after.stdout}`);
  comparisons.push({ label, before: before.times, after: after.times, beforeCpu: before.cpus, afterCpu: after.cpus });
}

/** Median of `after` against median of `before`: `+1.2%`. */
function change(after: readonly number[], before: readonly number[]): string {
  const pct = (median(after) / median(before) - 1) * 100;
  return `${pct >= 0 ? "+" : ""}${pct.toFixed(1)}%`;
}

function comparisonLines(config: Config): string[] {
  if (!config.baseline) return [];
  return [
    "### Before and after",
    "",
    `Our commands above, and the same commands with the baseline's binaries and \`bench/hash_file.ts\` (source ${config.baseline.source}), timed in the same rounds (each pair's output identical). CPU is user + system time of the whole process, every thread. Peak RSS: one run each.`,
    "",
    "| command | before wall s, median (range) | after wall s, median (range) | wall after vs before | before CPU s | after CPU s | CPU after vs before |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...comparisons.map((c) => (c.before.length === 1 ? `| ${c.label} | ${c.before[0]!.toFixed(1)} | ${c.after[0]!.toFixed(1)} | | | | |` : `| ${c.label} | ${spread(c.before)} | ${spread(c.after)} | ${change(c.after, c.before)} | ${spread(c.beforeCpu)} | ${spread(c.afterCpu)} | ${change(c.afterCpu, c.beforeCpu)} |`)),
    "",
  ];
}

// ---------------------------------------------------------------- section 0: engines

/**
 * Which engine each program can actually load: `--engine auto` silently falls back to a portable
 * engine when the native one fails, which would otherwise show up only as a slow benchmark.
 */
function engineCheck(tiny: string): string[] {
  const xxsum = join(OURS, "dist/xxsum");
  const cases: Array<[string, string[]]> = [["xxh64", [xxsum, "-H1"]], ["xxh3", [xxsum, "-H3"]], ["xxh128", [xxsum, "-H2"]], ["blake3", [join(OURS, "dist/b3sum-ts")]], ...(["md5", "sha1", "sha256"] as const).map((a): [string, string[]] => [a, [BUN, join(OURS, "bench/hash_file.ts"), a]])];
  const rows = ["| algorithm | program | `--engine native` |", "|---|---|---|"];
  for (const [algorithm, program] of cases) {
    const cmd = [...program, "--engine", "native", tiny];
    const proc = Bun.spawnSync({ cmd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const error = proc.stderr.toString().trim().replaceAll(tiny, "FILE");
    console.log(`  ${algorithm.padEnd(7)} ${show(program).padEnd(28)} native engine ${proc.exitCode === 0 ? "loads" : `FAILS: ${error}`}`);
    rows.push(`| ${algorithm} | \`${show(program)}\` | ${proc.exitCode === 0 ? "loads" : `**fails** (\`auto\` falls back to a portable engine): \`${error}\``} |`);
  }
  return rows;
}

// ---------------------------------------------------------------- section 1: one big file

interface SingleRow {
  label: string;
  ours: string[];
  native: string[];
  target: number;
  /** Drop-in tools must print exactly what the native tool prints. */
  sameStdout: boolean;
  portable?: { engine: string; cmd: string[]; native: string[]; onSmall: boolean };
}

/** One target and whether it was met. */
interface Verdict {
  name: string;
  value: number;
  /** `≥ 1.0` for ratios and speedups, `< 150` for memory. */
  target: string;
  met: boolean;
}

async function singleFile(config: Config, big: string, small: string): Promise<{ lines: string[]; verdicts: Verdict[] }> {
  const xxsum = join(OURS, "dist/xxsum");
  const b3 = join(OURS, "dist/b3sum-ts");
  const harness = [BUN, join(OURS, "bench/hash_file.ts")];
  const rows: SingleRow[] = [
    ...(
      [
        ["XXH64", "-H1", 1.0],
        ["XXH3", "-H3", 0.9],
        ["XXH128", "-H2", 0.8],
      ] as const
    ).map(([label, h, target]) => ({
      label,
      ours: [xxsum, h, big],
      native: ["xxhsum", h, big],
      target,
      sameStdout: true,
      portable: { engine: "wasm", cmd: [xxsum, h, "--engine", "wasm", big], native: ["xxhsum", h, big], onSmall: false },
    })),
    {
      label: "BLAKE3",
      ours: [b3, big],
      native: ["b3sum", "--num-threads", "1", big],
      target: 0.8,
      sameStdout: true,
      portable: { engine: "js", cmd: [b3, "--engine", "js", small], native: ["b3sum", "--num-threads", "1", small], onSmall: true },
    },
    ...(["md5", "sha1", "sha256"] as const).map((algo) => ({
      label: algo === "md5" ? "MD5" : algo === "sha1" ? "SHA-1" : "SHA-256",
      ours: [...harness, algo, big],
      native: ["openssl", algo, big],
      target: 0.9,
      sameStdout: false,
      portable: { engine: "js", cmd: [...harness, algo, small, "--engine", "js"], native: ["openssl", algo, small], onSmall: true },
    })),
  ];

  const table = [`| hash | ours | native | ours median s | native median s | ratio native/ours | target | met | portable engine: median s (ratio) |`, `|---|---|---|---:|---:|---:|---:|---|---|`];
  const verdicts: Verdict[] = [];
  const commands: string[] = [];
  for (const row of rows) {
    console.log(`\n${row.label}`);
    const mine: Contender = { key: "ours", cmd: row.ours, runs: config.runs };
    const contenders: Contender[] = [mine, { key: "native", cmd: row.native, runs: config.runs }, ...twin(config, mine)];
    if (row.portable) {
      contenders.push({ key: `ours --engine ${row.portable.engine}`, cmd: row.portable.cmd, runs: row.portable.onSmall ? config.runs : config.slowRuns });
      if (row.portable.onSmall) contenders.push({ key: "native (small file)", cmd: row.portable.native, runs: config.runs });
    }
    const m = await measure(contenders);
    compare(config, `${row.label}: \`${show(row.ours).replaceAll(big, "FILE")}\``, m, "ours");
    const ours = m.get("ours")!;
    const native = m.get("native")!;

    // The digests must agree, or the timing means nothing.
    if (row.sameStdout && ours.stdout !== native.stdout) fail(`${row.label}: output differs from the native tool:\n  ours:   ${ours.stdout}  native: ${native.stdout}`);
    if (digestOf(ours.stdout) !== digestOf(native.stdout)) fail(`${row.label}: digest ${digestOf(ours.stdout)} != native ${digestOf(native.stdout)}`);
    let portableCell = "";
    if (row.portable) {
      const p = m.get(`ours --engine ${row.portable.engine}`)!;
      const pn = row.portable.onSmall ? m.get("native (small file)")! : native;
      if (digestOf(p.stdout) !== digestOf(pn.stdout)) fail(`${row.label} --engine ${row.portable.engine}: digest ${digestOf(p.stdout)} != native ${digestOf(pn.stdout)}`);
      const size = row.portable.onSmall ? `, ${mib(config.smallSize)} file` : "";
      portableCell = `${row.portable.engine}${size}: ${sec(p.median)} (${ratio(pn.median / p.median)})`;
      commands.push(`- ${row.label} ${row.portable.engine}: \`${show(row.portable.cmd)}\`${row.portable.onSmall ? ` vs \`${show(row.portable.native)}\`` : ""}`);
    }
    const r = native.median / ours.median;
    const met = r >= row.target;
    verdicts.push({ name: `${row.label} ratio native/ours`, value: r, target: `≥ ${row.target.toFixed(1)}`, met });
    table.push(`| ${row.label} | ${oursLabel(row.ours)} | \`${row.native[0]}\` | ${sec(ours.median)} | ${sec(native.median)} | ${ratio(r)} | ≥ ${row.target.toFixed(1)} | ${met ? "yes" : "**no**"} | ${portableCell} |`);
    commands.push(`- ${row.label}: \`${show(row.ours)}\` vs \`${show(row.native)}\``);
  }
  const lines = [
    `### 1. One ${mib(config.bigSize)} random file, in the page cache`,
    "",
    `Whole process, spawn to exit; median of ${config.runs} interleaved runs after one warm-up run each` +
      ` (portable engines on the big file: ${config.slowRuns} runs; the \`js\` rows use a ${mib(config.smallSize)} file, timed against the native tool on that same file).` +
      " Ratio = native time / our time: above 1 we are faster. Every digest was checked against the native tool's" +
      " (the drop-in tools' whole stdout must match byte for byte).",
    "",
    ...table,
    "",
    "Commands (FILE is the big file, SMALL the small one):",
    "",
    ...commands.map((c) => c.replaceAll(big, "FILE").replaceAll(small, "SMALL")),
  ];
  return { lines, verdicts };
}

function oursLabel(cmd: readonly string[]): string {
  return cmd[0] === BUN ? "`bun bench/hash_file.ts`" : `\`${show(cmd.slice(0, 1))}\``;
}

// ---------------------------------------------------------------- section 2: parallelism

async function parallel(config: Config, tree: string): Promise<{ lines: string[]; verdicts: Verdict[] }> {
  const names = readdirSync(tree).sort();
  const rows: Array<{ label: string; tool: string[]; native: string[] }> = [
    { label: "BLAKE3", tool: [join(OURS, "dist/b3sum-ts")], native: ["b3sum", "--num-threads", "1"] },
    { label: "XXH64", tool: [join(OURS, "dist/xxsum"), "-H1"], native: ["xxhsum", "-H1"] },
  ];
  const table = ["| hash | command | `--jobs 1` median s | `--jobs 2` median s | speedup jobs1/jobs2 | target | met | native, one process, same files: median s |", "|---|---|---:|---:|---:|---:|---|---:|"];
  const verdicts: Verdict[] = [];
  for (const row of rows) {
    console.log(`\n${row.label}: ${config.treeFiles} × ${mib(config.treeFileSize)}`);
    const jobs1: Contender = { key: "--jobs 1", cmd: [...row.tool, "-r", tree, "--jobs", "1"], runs: config.runs };
    const jobs2: Contender = { key: "--jobs 2", cmd: [...row.tool, "-r", tree, "--jobs", "2"], runs: config.runs };
    const m = await measure([
      jobs1,
      jobs2,
      // Relative names from inside the tree: the same lines `-r TREE` prints.
      { key: "native", cmd: [...row.native, ...names], runs: config.runs, cwd: tree },
      ...twin(config, jobs1),
      ...twin(config, jobs2),
    ]);
    for (const key of ["--jobs 1", "--jobs 2"]) compare(config, `${row.label}: \`${show(row.tool)} -r TREE ${key}\``, m, key);
    const j1 = m.get("--jobs 1")!;
    const j2 = m.get("--jobs 2")!;
    const native = m.get("native")!;
    if (j1.stdout !== j2.stdout) fail(`${row.label}: --jobs 2 printed something other than --jobs 1`);
    if (j1.stdout !== native.stdout) fail(`${row.label}: -r output differs from the native tool's over the same files`);
    if (j1.stdout.trim().split("\n").length !== names.length) fail(`${row.label}: expected ${names.length} lines`);
    const speedup = j1.median / j2.median;
    verdicts.push({ name: `${row.label} --jobs 2 speedup`, value: speedup, target: "≥ 1.6", met: speedup >= 1.6 });
    table.push(`| ${row.label} | \`${show(row.tool)} -r TREE --jobs N\` | ${sec(j1.median)} | ${sec(j2.median)} | ${ratio(speedup)} | ≥ 1.6 | ${speedup >= 1.6 ? "yes" : "**no**"} | ${sec(native.median)} |`);
  }
  const lines = [
    `### 2. Parallel jobs: ${config.treeFiles} random files × ${mib(config.treeFileSize)}, in the page cache`,
    "",
    `Median of ${config.runs} interleaved runs. The \`--jobs 1\` and \`--jobs 2\` outputs were identical in every run,` + " and equal to the native tool's output over the same files (run inside TREE with the sorted relative names).",
    "",
    ...table,
  ];
  return { lines, verdicts };
}

// ---------------------------------------------------------------- section 3: memory

interface MemoryResult {
  rssKiB: number;
  seconds: number;
  stdout: string;
}

const TIME = "/usr/bin/time";

/** Large files to delete even when the run is interrupted. */
const temporary = new Set<string>();

/**
 * Peak RSS of `cmd` (optionally fed by `feeder | cmd`), from `/usr/bin/time -f %M`, or when that
 * is missing by polling VmHWM in /proc/PID/status (a lower bound, read every 20 ms).
 */
async function peakRss(cmd: string[], feeder: string[] | undefined, scratch: string): Promise<MemoryResult> {
  const start = performance.now();
  if (existsSync(TIME)) {
    const out = join(scratch, "rss.txt");
    const timedCmd = [TIME, "-f", "%M", "-o", out, ...cmd];
    const full = feeder ? ["sh", "-c", `${feeder.map(shellQuote).join(" ")} | ${timedCmd.map(shellQuote).join(" ")}`] : timedCmd;
    const s = await timed(full);
    if (s.code !== 0) fail(`${show(full)} exited ${s.code}: ${s.stderr.trim()}`);
    return { rssKiB: Number(readFileSync(out, "utf8").trim().split("\n").at(-1)), seconds: (performance.now() - start) / 1000, stdout: s.stdout };
  }
  // Fallback: the measured program is started directly; a feeder's output goes in through a FIFO.
  let stdin: "ignore" | number = "ignore";
  let feed: ReturnType<typeof Bun.spawn> | undefined;
  if (feeder) {
    const fifo = join(scratch, "feed.fifo");
    rmSync(fifo, { force: true });
    check(["mkfifo", fifo]);
    feed = Bun.spawn({ cmd: ["sh", "-c", `exec ${feeder.map(shellQuote).join(" ")} > ${shellQuote(fifo)}`], stdout: "ignore" });
    stdin = openSync(fifo, "r");
  }
  const proc = Bun.spawn({ cmd, stdin, stdout: "pipe", stderr: "pipe" });
  if (typeof stdin === "number") closeSync(stdin);
  const stdout = new Response(proc.stdout).text();
  let hwm = 0;
  const poll = setInterval(() => {
    try {
      const m = /^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"));
      if (m) hwm = Math.max(hwm, Number(m[1]));
    } catch {
      // exited
    }
  }, 20);
  const code = await proc.exited;
  clearInterval(poll);
  await feed?.exited;
  if (code !== 0) fail(`${show(cmd)} exited ${code}`);
  return { rssKiB: hwm, seconds: (performance.now() - start) / 1000, stdout: await stdout };
}

async function memory(config: Config, dir: string): Promise<{ lines: string[]; verdicts: Verdict[] }> {
  const sparse = join(dir, `sparse-${config.memorySize / GiB}g.bin`);
  const size = String(config.memorySize);
  temporary.add(sparse);
  const fd = openSync(sparse, "w");
  ftruncateSync(fd, config.memorySize); // a hole: no disk space used
  closeSync(fd);
  // The first read of a hole fills the page cache with zero pages; pay that before timing.
  warmCache([sparse]);
  const xxsum = join(OURS, "dist/xxsum");
  const b3 = join(OURS, "dist/b3sum-ts");
  const feeder = ["head", "-c", size, "/dev/zero"];
  const cases: Array<{ label: string; input: "file" | "stdin"; cmd: string[]; native: boolean; before?: boolean }> = [
    { label: "`dist/xxsum -H1 FILE`", input: "file", cmd: [xxsum, "-H1", sparse], native: false },
    { label: "`head -c N /dev/zero \\| dist/xxsum -H1 -`", input: "stdin", cmd: [xxsum, "-H1", "-"], native: false },
    { label: "`dist/b3sum-ts FILE`", input: "file", cmd: [b3, sparse], native: false },
    { label: "`head -c N /dev/zero \\| dist/b3sum-ts -`", input: "stdin", cmd: [b3, "-"], native: false },
    { label: "`xxhsum -H1 FILE` (reference)", input: "file", cmd: ["xxhsum", "-H1", sparse], native: true },
    { label: "`head -c N /dev/zero \\| xxhsum -H1 -` (reference)", input: "stdin", cmd: ["xxhsum", "-H1", "-"], native: true },
    { label: "`b3sum --num-threads 1 --no-mmap FILE` (reference)", input: "file", cmd: ["b3sum", "--num-threads", "1", "--no-mmap", sparse], native: true },
    { label: "`head -c N /dev/zero \\| b3sum --num-threads 1 -` (reference)", input: "stdin", cmd: ["b3sum", "--num-threads", "1", "-"], native: true },
  ];
  // The baseline's twins of our commands, each right after ours.
  if (config.baseline) {
    for (let i = cases.length - 1; i >= 0; i--) {
      const c = cases[i]!;
      if (!c.native) cases.splice(i + 1, 0, { ...c, cmd: baselineCommand(c.cmd, config.baseline.dir), before: true });
    }
  }
  const table = ["| command | input | peak RSS MiB | wall s | target | met |", "|---|---|---:|---:|---:|---|"];
  const ourRss = new Map<string, MemoryResult>();
  const verdicts: Verdict[] = [];
  const digests = new Map<string, string>();
  try {
    for (const c of cases) {
      const r = await peakRss(c.cmd, c.input === "stdin" ? feeder : undefined, dir);
      const rss = r.rssKiB / 1024;
      const hex = digestOf(r.stdout);
      const algo = c.cmd.includes("-H1") ? "xxh64" : "blake3";
      console.log(`  ${show(c.cmd).replaceAll(sparse, "FILE")}${c.input === "stdin" ? " (stdin)" : ""}: peak RSS ${rss.toFixed(1)} MiB, ${sec(r.seconds)} s, ${hex}`);
      if (digests.has(algo) && digests.get(algo) !== hex) fail(`${c.label}: digest ${hex} differs from ${digests.get(algo)} for the same ${mib(config.memorySize)} of zeros`);
      digests.set(algo, hex);
      if (c.before) {
        const after = ourRss.get(c.label)!;
        comparisons.push({ label: `${c.label} peak RSS MiB`, before: [r.rssKiB / 1024], after: [after.rssKiB / 1024], beforeCpu: [], afterCpu: [] });
        comparisons.push({ label: `${c.label} wall s (one run)`, before: [r.seconds], after: [after.seconds], beforeCpu: [], afterCpu: [] });
        continue;
      }
      if (!c.native) ourRss.set(c.label, r);
      const met = rss < config.rssTargetMiB;
      if (!c.native) verdicts.push({ name: `${c.label} peak RSS MiB`, value: rss, target: `< ${config.rssTargetMiB}`, met });
      table.push(`| ${c.label} | ${c.input === "stdin" ? "pipe" : "sparse file"} | ${rss.toFixed(1)} | ${sec(r.seconds)} | ${c.native ? "" : `< ${config.rssTargetMiB}`} | ${c.native ? "" : met ? "yes" : "**no**"} |`);
    }
  } finally {
    rmSync(sparse, { force: true });
    temporary.delete(sparse);
  }
  const lines = [
    `### 3. Memory: ${mib(config.memorySize)} input`,
    "",
    `Peak RSS from \`${existsSync(TIME) ? "/usr/bin/time -f %M" : "VmHWM in /proc/PID/status"}\`. FILE is a sparse ${mib(config.memorySize)} file` + ` (\`ftruncate\`, deleted afterwards); the pipe is \`head -c ${size} /dev/zero\`. All inputs are zeros, and every program printed the same digest per algorithm.`,
    "",
    ...table,
  ];
  return { lines, verdicts };
}

// ---------------------------------------------------------------- report

function machineLines(machine: Machine, config: Config, loadAtStart: string, loadAtEnd?: string): string[] {
  return [
    `Run ${machine.date}${config.quick ? " (quick run: reduced sizes and runs)" : ""}.`,
    "",
    `- CPU: ${machine.cpu}; \`nproc\`: ${machine.nproc}; memory: ${machine.memory}`,
    `- OS: ${machine.kernel}`,
    `- Bun: ${machine.bun}`,
    `- source: ${machine.source}`,
    `- native tools: ${machine.anchors.join("; ")}`,
    `- load average (1 min) before the run: ${loadAtStart}${loadAtEnd === undefined ? "" : `, after: ${loadAtEnd}; at the start of the timed commands: median ${loadSpread()}`}`,
    ...(config.baseline ? [`- baseline timed beside it: source ${config.baseline.source}`] : []),
    `- reproduce: \`npm run build && node_modules/.bin/bun bench/hash.ts${config.quick ? " --quick" : ""}${OURS === ROOT ? "" : " --ours DIR"}${config.baseline ? " --baseline DIR" : ""}\` (or \`npm run bench\`)`,
  ];
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const config = parseOptions(process.argv.slice(2));
  const machine = describeMachine();
  const loadAtStart = loadAverage();
  console.log(machineLines(machine, config, loadAtStart).join("\n"));
  for (const tool of ["xxhsum", "b3sum", "openssl"]) if (!Bun.which(tool)) fail(`${tool} is not installed (Debian: apt-get install xxhash b3sum openssl)`);

  if (config.build) {
    console.log("\nbuilding dist/ …");
    check([BUN, join(ROOT, "scripts/build.ts")]);
  }
  for (const tool of ["xxsum", "b3sum-ts"]) if (!existsSync(join(OURS, "dist", tool))) fail(`dist/${tool} is missing: run npm run build`);

  const ownDir = config.dir === undefined;
  const dir = config.dir ?? mkdtempSync(join(tmpdir(), "cartkit-bench-"));
  mkdirSync(dir, { recursive: true });
  const cleanup = (): void => {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  process.on("SIGINT", () => {
    for (const path of temporary) rmSync(path, { force: true });
    cleanup();
    process.exit(130);
  });

  try {
    console.log(`\ndata in ${dir}`);
    const needed = (config.sections.includes("single") ? config.bigSize + config.smallSize : 0) + (config.sections.includes("parallel") ? config.treeFiles * config.treeFileSize : 0);
    const available = availableBytes(dir);
    if (available < needed + GiB) fail(`${dir} has ${mib(available)} free; the benchmark needs ${mib(needed)} plus 1 GiB headroom`);
    if (totalmem() < needed * 1.5) console.log(`  warning: ${mib(totalmem())} of memory may not keep ${mib(needed)} of test data cached`);

    const tiny = join(dir, "tiny.bin");
    randomFile(tiny, 4096);
    console.log("\nengines in the compiled tools");
    const engines = engineCheck(tiny);

    const out: string[] = ["### Engines loaded", "", ...engines, ""];
    const verdicts: Verdict[] = [];

    if (config.sections.includes("single")) {
      const big = join(dir, `random-${config.bigSize / MiB}m.bin`);
      const small = join(dir, `random-${config.smallSize / MiB}m.bin`);
      console.log(`\ncreating ${mib(config.bigSize)} and ${mib(config.smallSize)} random files`);
      randomFile(big, config.bigSize);
      randomFile(small, config.smallSize);
      warmCache([big, small]);
      const r = await singleFile(config, big, small);
      out.push(...r.lines, "");
      verdicts.push(...r.verdicts);
    }
    if (config.sections.includes("parallel")) {
      const tree = join(dir, `tree-${config.treeFiles}x${config.treeFileSize / MiB}m`);
      mkdirSync(tree, { recursive: true });
      console.log(`\ncreating ${config.treeFiles} × ${mib(config.treeFileSize)} random files`);
      const paths = Array.from({ length: config.treeFiles }, (_, i) => join(tree, `clip-${String(i).padStart(4, "0")}.bin`));
      for (const p of paths) randomFile(p, config.treeFileSize);
      warmCache(paths);
      const r = await parallel(config, tree);
      out.push(...r.lines, "");
      verdicts.push(...r.verdicts);
    }
    if (config.sections.includes("memory")) {
      console.log(`\nmemory: ${mib(config.memorySize)} sparse file and pipe`);
      const r = await memory(config, dir);
      out.push(...r.lines, "");
      verdicts.push(...r.verdicts);
    }

    out.push(...comparisonLines(config));
    const missed = verdicts.filter((v) => !v.met);
    out.push("### Targets", "", `${verdicts.length - missed.length} of ${verdicts.length} targets met.${missed.length ? " Missed:" : ""}`, ...(missed.length ? ["", ...missed.map((v) => `- ${v.name}: ${v.value.toFixed(2)} (target ${v.target})`)] : []));
    out.unshift(...machineLines(machine, config, loadAtStart, loadAverage()), "");
    console.log(`\n${"=".repeat(72)}\n\n${out.join("\n")}`);
    if (config.write) writeReport("hash.ts", out);
    else console.log("\n(BENCHMARKS.md not updated: pass --write to update it)");
  } finally {
    cleanup();
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: ${error instanceof BenchError ? error.message : ((error as Error).stack ?? String(error))}\n`);
  process.exit(1);
}
