#!/usr/bin/env bun
/**
 * Many small files: the shape of frame sequences, VFX pulls and source trees. Each job against
 * its floor in the same run, compiled tools, interleaved runs, medians and ranges:
 *
 *   trees: 20,000 × 32 KiB in 40 folders of 500, and 2,000 × 1 MiB in 20 folders
 *   1. dispatchcopy -r -t xxh64 to 2 destinations, default settings (flush, read-back from the
 *      device, an ASC MHL generation in each); floor: 2 concurrent `cp -r` + `sync` + a cold read
 *      of both copies                                                         target ≤ 1.3×
 *   2. the same with --verify none; floor: 2 concurrent `cp -r` + `sync`     target ≤ 1.3×
 *      (both again with --no-mhl, to show what the generations cost)
 *   3. xxsum -H2 -r and b3sum-ts -r on the cached tree; anchor: `find | sort | xargs` with
 *      xxhsum -H2 / b3sum                                                     target ≥ 0.9× speed
 *   4. mhl-verify create and verify; anchor: xxhsum -H2 over the same files  target ≤ 1.3×
 *   5. --jobs 1 2 4 8 for xxsum -r, b3sum-ts -r, mhl-verify create and verify, dispatchcopy -r: no N
 *      slower than 1; b3sum-ts -r --jobs 2 ≥ 1.3× faster than --jobs 1
 *   6. mhl-verify create and verify in md5, sha1 and c4, without --jobs (files under 2 MiB spread
 *      over the cores) against --jobs 1: the speed-up, and the CPU it costs
 *   7. xxsum -r, b3sum-ts -r, mhl-verify create and verify with small files in native runs
 *      against the per-file path (CARTKIT_NATIVE_RUNS=0)
 *   8. ltfs-pack write --vtape (flushed); anchor: the reference LTFS writing the same tree through
 *      its FUSE file backend (mkltfs -e file, ltfs -o tape_backend=file, cp -r, unmount, sync),
 *      where `mkltfs` and `ltfs` are on PATH (or in /opt/ltfs-ref/bin), and `cp -r` + `sync`
 *                                                                             target ≥ 2× speed
 *
 * As root the destinations are a fresh journaled ext4 (bench/common.ts), memory is touched and
 * freed before each timed run, and "cold" means the page cache dropped (drop_caches) and the
 * source read again so that only the copies are cold.
 *
 *   bun bench/small.ts [--quick] [--runs N] [--only copy,hash,mhl,jobs,formats,runs,ltfs]
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { BUN, GiB, ROOT, availableBytes, check, describeMachine, fail, journaledFileSystem, loadAverage, median, sec, timed, touchMemory, unmount, writeReport } from "./common.ts";

const quick = process.argv.includes("--quick");
/** Sections to run (`--only hash,mhl`), or every one. */
const only = (() => {
  const at = process.argv.indexOf("--only");
  return at >= 0 ? new Set((process.argv[at + 1] ?? "").split(",")) : undefined;
})();
const runs = (() => {
  const at = process.argv.indexOf("--runs");
  return at >= 0 ? Number(process.argv[at + 1]) : quick ? 2 : 3;
})();
const asRoot = process.getuid?.() === 0;
const dist = (tool: string) => join(ROOT, "dist", tool);

interface Tree {
  name: string;
  path: string;
  files: number;
  size: number;
  folders: number;
}

/** A tree of `files` files of `size` bytes, `perFolder` to a folder, random contents. */
function makeTree(dir: string, name: string, files: number, size: number, perFolder: number): Tree {
  const path = join(dir, name);
  if (!existsSync(path)) {
    const chunk = Buffer.allocUnsafe(size);
    for (let i = 0; i < files; i++) {
      const folder = join(path, `F${String(Math.floor(i / perFolder)).padStart(3, "0")}`);
      if (i % perFolder === 0) mkdirSync(folder, { recursive: true });
      for (let j = 0; j < size; j += 4) chunk.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, j);
      writeFileSync(join(folder, `frame_${String(i).padStart(7, "0")}.dng`), chunk);
    }
  }
  return { name, path, files, size, folders: Math.ceil(files / perFolder) };
}

function dropAllCaches(): void {
  check(["sync"]);
  if (asRoot) writeFileSync("/proc/sys/vm/drop_caches", "1");
}

function warm(tree: Tree): void {
  check(["sh", "-c", `find '${tree.path}' -type f -print0 | xargs -0 cat > /dev/null`]);
}

async function seconds(cmd: string[], cwd?: string): Promise<number> {
  return (await measured(cmd, cwd)).wall;
}

/** Wall and CPU time (user + system, every thread and child) of one run that must succeed. */
async function measured(cmd: string[], cwd?: string): Promise<{ wall: number; cpu: number }> {
  const s = await timed(cmd, cwd);
  if (s.code !== 0) fail(`${cmd.join(" ")} exited ${s.code}: ${s.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  return { wall: s.seconds, cpu: s.cpuSeconds };
}

/** Times of one job over the rounds. */
class Times {
  wall: number[] = [];
  cpu: number[] = [];
  add(t: { wall: number; cpu: number }): void {
    this.wall.push(t.wall);
    this.cpu.push(t.cpu);
  }
}

const spread = (values: number[]) => `${sec(median(values))} (${sec(Math.min(...values))}–${sec(Math.max(...values))})`;

async function main(): Promise<void> {
  check([BUN, join(ROOT, "scripts/build.ts")]);
  const machine = describeMachine();
  const load = loadAverage();
  const dir = mkdtempSync(join(tmpdir(), "cartkit-bench-small-"));
  const lines: string[] = [];
  let target: string | undefined;
  try {
    if (availableBytes(dir) < 8 * GiB) fail(`not enough space in ${dir}`);
    const trees = [makeTree(dir, "frames", quick ? 2000 : 20_000, 32 * 1024, 500), makeTree(dir, "clips", quick ? 200 : 2000, 1024 * 1024, 100)];
    // Written back before anything is timed: the first jobs would otherwise share the disk and
    // the processor with the write-back of 2.6 GB.
    check(["sync"]);
    target = asRoot ? journaledFileSystem(dir, 6 * GiB) : undefined;
    const destRoot = target ?? dir;
    const d1 = join(destRoot, "d1");
    const d2 = join(destRoot, "d2");
    const clean = () => {
      for (const d of [d1, d2]) rmSync(d, { recursive: true, force: true });
      check(["sync"]);
    };
    // Twice what a run writes (two copies of the tree), as bench/common.ts says: with less, a run
    // that follows the freeing of a larger one pays the host's faults for its page cache (the
    // 2,000 × 1 MiB tree's unverified copies took 10.9–16.4 s in a run with 2 GiB touched, and
    // 2.3–4.1 s by hand with 8 GiB, the same build on the same day). At most half the memory.
    const touchFor = (tree: Tree) => Math.min(Math.floor(totalmem() / 2), 2 * 2 * tree.files * tree.size);
    lines.push(
      `Run ${machine.date}${quick ? " (quick run)" : ""}; CPU: ${machine.cpu}; \`nproc\`: ${machine.nproc}; Bun ${machine.bun}; source ${machine.source}; load before the run: ${load}. Compiled tools; ${runs} interleaved runs of each job, median (range). Destinations on a fresh journaled ext4${target ? "" : " (not root: on the temp folder's file system)"}; before each timed run, twice what it writes of memory touched and freed (${trees.map((t) => `${sec(touchFor(t) / GiB)} GiB for the ${t.name}`).join(", ")}).`,
      "",
      "Ratios are of wall times (the targets'); CPU time (user + system of every thread and child) is given where measured, and is the steadier figure on a machine other work loads.",
      "",
      "| tree | job | cartkit s | anchor / floor s | ratio | cartkit CPU s | anchor CPU s | CPU ratio | target | met |",
      "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    );
    const row = (tree: Tree, job: string, ours: number[], floor: number[], ratio: number, target: string, met: boolean | undefined, cpu?: { ours: number[]; anchor: number[]; ratio: number }) =>
      lines.push(
        `| ${tree.files.toLocaleString("en")} × ${tree.size >= 1 << 20 ? `${tree.size >> 20} MiB` : `${tree.size >> 10} KiB`} | ${job} | ${spread(ours)} | ${spread(floor)} | ${ratio.toFixed(2)}× | ${cpu ? `${spread(cpu.ours)} | ${spread(cpu.anchor)} | ${cpu.ratio.toFixed(2)}×` : "— | — | —"} | ${target} | ${met === undefined ? "—" : met ? "yes" : "**no**"} |`,
      );

    for (const tree of trees) {
      if (!only || only.has("copy")) {
        const t = { cp: [] as number[], cold: [] as number[], ours: [] as number[], oursNone: [] as number[], noMhl: [] as number[], noMhlNone: [] as number[] };
        const copy = async (times: number[], options: string[]) => {
          clean();
          warm(tree);
          touchMemory(touchFor(tree));
          times.push(await seconds([dist("dispatchcopy"), "-r", "-t", "xxh64", ...options, tree.path, d1, d2]));
        };
        for (let round = 0; round < runs; round++) {
          clean();
          warm(tree);
          touchMemory(touchFor(tree));
          t.cp.push(await seconds(["sh", "-c", `cp -r '${tree.path}' '${d1}' & cp -r '${tree.path}' '${d2}' & wait; sync`]));
          dropAllCaches();
          warm(tree);
          touchMemory(touchFor(tree));
          t.cold.push(await seconds(["sh", "-c", `find '${d1}' '${d2}' -type f -print0 | xargs -0 -P 2 cat > /dev/null`]));
          await copy(t.ours, []);
          await copy(t.oursNone, ["--verify", "none"]);
          await copy(t.noMhl, ["--no-mhl"]);
          await copy(t.noMhlNone, ["--no-mhl", "--verify", "none"]);
        }
        if (readdirSync(d1).length !== tree.folders) fail(`${tree.name}: the copy has ${readdirSync(d1).length} folders, expected ${tree.folders}`);
        const floor = t.cp.map((c, i) => c + t.cold[i]!);
        const r1 = median(t.ours) / median(floor);
        const r2 = median(t.oursNone) / median(t.cp);
        row(tree, "dispatchcopy -r → 2, read back; floor: 2 × `cp -r` + `sync` + cold read of both copies", t.ours, floor, r1, "≤ 1.3×", r1 <= 1.3);
        row(tree, "dispatchcopy -r → 2, `--verify none`; floor: 2 × `cp -r` + `sync`", t.oursNone, t.cp, r2, "≤ 1.3×", r2 <= 1.3);
        const r3 = median(t.noMhl) / median(floor);
        const r4 = median(t.noMhlNone) / median(t.cp);
        row(tree, "the same, read back, `--no-mhl` (no ASC MHL generations)", t.noMhl, floor, r3, "—", undefined);
        row(tree, "the same, `--verify none --no-mhl`", t.noMhlNone, t.cp, r4, "—", undefined);
      }
      if (!only || only.has("hash")) {
        warm(tree);
        for (const [ours, anchor, label] of [
          [[dist("xxsum"), "-H2", "-r", tree.path], `find '${tree.path}' -type f -print0 | sort -z | xargs -0 xxhsum -H2 > /dev/null`, "xxsum -H2 -r; anchor: find | sort | xargs xxhsum -H2"],
          [[dist("b3sum-ts"), "-r", tree.path], `find '${tree.path}' -type f -print0 | sort -z | xargs -0 b3sum > /dev/null`, "b3sum-ts -r; anchor: find | sort | xargs b3sum"],
        ] as const) {
          const mine = new Times();
          const theirs = new Times();
          for (let round = 0; round < runs; round++) {
            theirs.add(await measured(["sh", "-c", anchor]));
            mine.add(await measured(["sh", "-c", `${ours.map((a) => `'${a}'`).join(" ")} > /dev/null`]));
          }
          const speed = median(theirs.wall) / median(mine.wall);
          row(tree, `${label} (cached)`, mine.wall, theirs.wall, speed, "≥ 0.9× speed", speed >= 0.9, { ours: mine.cpu, anchor: theirs.cpu, ratio: median(mine.cpu) / median(theirs.cpu) });
        }
      }
      if (!only || only.has("mhl")) {
        warm(tree);
        const create = new Times();
        const verify = new Times();
        const anchor = new Times();
        for (let round = 0; round < runs; round++) {
          rmSync(join(tree.path, "ascmhl"), { recursive: true, force: true });
          anchor.add(await measured(["sh", "-c", `find '${tree.path}' -type f -print0 | xargs -0 xxhsum -H2 > /dev/null`]));
          create.add(await measured([dist("mhl-verify"), "create", tree.path, "-h", "xxh128"]));
          verify.add(await measured([dist("mhl-verify"), "verify", tree.path]));
        }
        rmSync(join(tree.path, "ascmhl"), { recursive: true, force: true });
        const rc = median(create.wall) / median(anchor.wall);
        const rv = median(verify.wall) / median(anchor.wall);
        const cpu = (t: Times) => ({ ours: t.cpu, anchor: anchor.cpu, ratio: median(t.cpu) / median(anchor.cpu) });
        row(tree, "mhl-verify create -h xxh128 (cached); anchor: xxhsum -H2 over the files", create.wall, anchor.wall, rc, "≤ 1.3×", rc <= 1.3, cpu(create));
        row(tree, "mhl-verify verify (cached); anchor: xxhsum -H2 over the files", verify.wall, anchor.wall, rv, "≤ 1.3×", rv <= 1.3, cpu(verify));
      }
    }

    if (!only || only.has("jobs")) {
      const tree = trees[0]!;
      lines.push(
        "",
        `Scaling with \`--jobs\` on the ${tree.files.toLocaleString("en")}-file tree (median of ${runs} interleaved runs, wall seconds (range), speed-up over --jobs 1 in brackets; then CPU seconds, user + system of every thread; the tree cached):`,
        "",
        "| tool | 1 | 2 | 4 | 8 | never slower than 1 | CPU s: 1, 2, 4, 8 |",
        "|---|---:|---:|---:|---:|---|---|",
      );
      const jobsOf = [1, 2, 4, 8];
      let twoOverOne = 0;
      // [label, command, copies (destinations cleaned before), verifies (a history made before)]
      const tools: Array<[string, (n: number) => string[], boolean, boolean?]> = [
        ["xxsum -H2 -r", (n) => ["sh", "-c", `'${dist("xxsum")}' -H2 -r --jobs ${n} '${tree.path}' > /dev/null`], false],
        ["b3sum-ts -r", (n) => ["sh", "-c", `'${dist("b3sum-ts")}' -r --jobs ${n} '${tree.path}' > /dev/null`], false],
        ["mhl-verify create", (n) => [dist("mhl-verify"), "create", tree.path, "-h", "xxh128", "--jobs", String(n)], false],
        ["mhl-verify verify", (n) => [dist("mhl-verify"), "verify", tree.path, "--jobs", String(n)], false, true],
        ["dispatchcopy -r → 2, read back, --no-mhl", (n) => [dist("dispatchcopy"), "-r", "-t", "xxh64", "--no-mhl", "--jobs", String(n), tree.path, d1, d2], true],
      ];
      for (const [label, cmd, copies, verifies] of tools) {
        const times = new Map<number, number[]>(jobsOf.map((n) => [n, []]));
        const cpuTimes = new Map<number, number[]>(jobsOf.map((n) => [n, []]));
        for (let round = 0; round < runs; round++) {
          for (const n of jobsOf) {
            if (copies) clean();
            rmSync(join(tree.path, "ascmhl"), { recursive: true, force: true });
            if (verifies) check([dist("mhl-verify"), "create", tree.path, "-h", "xxh128"]);
            warm(tree);
            const t = await measured(cmd(n));
            times.get(n)!.push(t.wall);
            cpuTimes.get(n)!.push(t.cpu);
          }
        }
        rmSync(join(tree.path, "ascmhl"), { recursive: true, force: true });
        const m = jobsOf.map((n) => median(times.get(n)!));
        // Within the runs' own spread counts as not slower.
        const noise = Math.max(...times.get(1)!) / median(times.get(1)!);
        const ok = m.every((v) => v <= m[0]! * noise);
        const range = (n: number) => `${sec(Math.min(...times.get(n)!))}–${sec(Math.max(...times.get(n)!))}`;
        lines.push(`| ${label} | ${m.map((v, i) => (i === 0 ? `${sec(v)} (${range(jobsOf[i]!)})` : `${sec(v)} (${range(jobsOf[i]!)}) **${(m[0]! / v).toFixed(2)}×**`)).join(" | ")} | ${ok ? "yes" : "**no**"} | ${jobsOf.map((n) => sec(median(cpuTimes.get(n)!))).join(", ")} |`);
        console.error(lines.at(-1));
        if (label.startsWith("b3sum-ts")) twoOverOne = m[0]! / m[1]!;
      }
      lines.push("", `\`b3sum-ts -r --jobs 2\`: ${twoOverOne.toFixed(2)}× faster than \`--jobs 1\` (target ≥ 1.3×: ${twoOverOne >= 1.3 ? "met" : "**not met**"}).`);
      console.error(lines.at(-1));
    }
    if (!only || only.has("formats")) {
      lines.push(
        "",
        `\`mhl-verify\` in the formats slower than reading, without \`--jobs\` (files under 2 MiB spread over the cores) against \`--jobs 1\` (median of ${runs} interleaved runs, wall seconds (range); speed-up of the default; CPU seconds, user + system of every thread; the trees cached):`,
        "",
        "| tree | job | `--jobs 1` s | default s | speed-up | CPU s: `--jobs 1`, default |",
        "|---|---|---:|---:|---:|---|",
      );
      for (const tree of trees) {
        warm(tree);
        for (const format of ["md5", "sha1", "c4"]) {
          const times = { create: [new Times(), new Times()], verify: [new Times(), new Times()] };
          for (let round = 0; round < runs; round++) {
            for (const [i, jobs] of [["--jobs", "1"], []].entries()) {
              rmSync(join(tree.path, "ascmhl"), { recursive: true, force: true });
              times.create[i]!.add(await measured([dist("mhl-verify"), "create", tree.path, "-h", format, ...jobs]));
              times.verify[i]!.add(await measured([dist("mhl-verify"), "verify", tree.path, ...jobs]));
            }
          }
          rmSync(join(tree.path, "ascmhl"), { recursive: true, force: true });
          for (const [job, [one, spreadOut]] of Object.entries(times)) {
            lines.push(
              `| ${tree.files.toLocaleString("en")} × ${tree.size >= 1 << 20 ? `${tree.size >> 20} MiB` : `${tree.size >> 10} KiB`} | ${job} -h ${format} | ${spread(one!.wall)} | ${spread(spreadOut!.wall)} | ${(median(one!.wall) / median(spreadOut!.wall)).toFixed(2)}× | ${sec(median(one!.cpu))}, ${sec(median(spreadOut!.cpu))} |`,
            );
            console.error(lines.at(-1));
          }
        }
      }
    }
    if (!only || only.has("runs")) {
      lines.push(
        "",
        `Small files in native runs (XXH hashed in them, BLAKE3 read in them) against the per-file path (\`CARTKIT_NATIVE_RUNS=0\`), median of ${runs} interleaved runs, wall seconds (range); speed-up of runs; CPU seconds, user + system of every thread; the trees cached:`,
        "",
        "| tree | job | per file s | runs s | speed-up | CPU s: per file, runs |",
        "|---|---|---:|---:|---:|---|",
      );
      for (const tree of trees) {
        warm(tree);
        const jobs: Array<[string, string[], string[] | undefined]> = [
          ["xxsum -H2 -r", ["sh", "-c", `'${dist("xxsum")}' -H2 -r '${tree.path}' > /dev/null`], undefined],
          ["b3sum-ts -r", ["sh", "-c", `'${dist("b3sum-ts")}' -r '${tree.path}' > /dev/null`], undefined],
          ["mhl-verify create -h xxh128", [dist("mhl-verify"), "create", tree.path, "-h", "xxh128"], undefined],
          ["mhl-verify verify", [dist("mhl-verify"), "verify", tree.path], [dist("mhl-verify"), "create", tree.path, "-h", "xxh128"]],
        ];
        for (const [label, cmd, before] of jobs) {
          const times = [new Times(), new Times()];
          for (let round = 0; round < runs; round++) {
            for (const [i, env] of [["env", "CARTKIT_NATIVE_RUNS=0"], []].entries()) {
              rmSync(join(tree.path, "ascmhl"), { recursive: true, force: true });
              if (before) check(before);
              times[i]!.add(await measured([...env, ...cmd]));
            }
          }
          rmSync(join(tree.path, "ascmhl"), { recursive: true, force: true });
          const [perFile, inRuns] = times as [Times, Times];
          lines.push(
            `| ${tree.files.toLocaleString("en")} × ${tree.size >= 1 << 20 ? `${tree.size >> 20} MiB` : `${tree.size >> 10} KiB`} | ${label} | ${spread(perFile.wall)} | ${spread(inRuns.wall)} | ${(median(perFile.wall) / median(inRuns.wall)).toFixed(2)}× | ${sec(median(perFile.cpu))}, ${sec(median(inRuns.cpu))} |`,
          );
          console.error(lines.at(-1));
        }
      }
    }
    if (!only || only.has("ltfs")) await ltfsSection(trees, destRoot, runs, touchFor, lines);
    lines.push("", "Reproduce: `node_modules/.bin/bun bench/small.ts` (as root for the fresh file system and cold reads).");
    console.log(lines.join("\n"));
    if (!quick && !only) writeReport("small.ts", lines);
  } finally {
    if (target) unmount(target);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A reference LTFS tool on PATH or in the usual prefix. */
function referenceLtfs(name: string): string | undefined {
  return Bun.which(name) ?? (existsSync(`/opt/ltfs-ref/bin/${name}`) ? `/opt/ltfs-ref/bin/${name}` : undefined);
}

/**
 * The reference file backend's cartridge: its default (3 GB) counts every record as a full
 * 512 KiB block and is "full" after about 5,700 small files, so it is declared 100 GB.
 */
const REFERENCE_CARTRIDGE = `<?xml version="1.0" encoding="UTF-8"?>
<filedebug_cartridge_config><dummy_io>false</dummy_io><emulate_readonly>false</emulate_readonly><capacity_mb>102400</capacity_mb><cart_type>L5</cart_type><density_code>58</density_code><delay_mode>None</delay_mode><wraps>40</wraps><eot_to_bot_sec>12</eot_to_bot_sec><change_direction_us>2000000</change_direction_us><change_track_us>10000</change_track_us><threading_sec>0</threading_sec></filedebug_cartridge_config>
`;

/** One write of `tree` by the reference LTFS through FUSE: cp -r into the mount, unmount, wait for ltfs to end, sync. */
async function referenceWrite(tree: Tree, tape: string, mnt: string, mkltfs: string, ltfs: string): Promise<{ wall: number; cpu: number }> {
  rmSync(tape, { recursive: true, force: true });
  mkdirSync(tape, { recursive: true });
  mkdirSync(mnt, { recursive: true });
  writeFileSync(join(tape, "filedebug_tc_conf.xml"), REFERENCE_CARTRIDGE);
  check([mkltfs, "-q", "-f", "-e", "file", "-d", tape]);
  check(["sync"]);
  const daemon = Bun.spawn([ltfs, "-f", "-o", `devname=${tape}`, "-o", "tape_backend=file", "-o", "sync_type=unmount", mnt], { stdout: "ignore", stderr: "ignore" });
  for (let i = 0; i < 300 && !(await Bun.file("/proc/mounts").text()).includes(` ${mnt} `); i++) await Bun.sleep(50);
  const t = await measured(["sh", "-c", `cp -r '${tree.path}' '${mnt}/' && umount '${mnt}' && while kill -0 ${daemon.pid} 2>/dev/null; do sleep 0.02; done; sync -f '${tape}'`]);
  if ((await daemon.exited) !== 0) fail(`${ltfs} exited ${daemon.exitCode} writing ${tree.name}`);
  rmSync(tape, { recursive: true, force: true });
  return t;
}

/** Section 8: `ltfs-pack write --vtape` against the reference LTFS and `cp -r` + `sync`. */
async function ltfsSection(trees: Tree[], destRoot: string, runs: number, touchFor: (tree: Tree) => number, lines: string[]): Promise<void> {
  const mkltfs = referenceLtfs("mkltfs");
  const ltfs = referenceLtfs("ltfs");
  const withReference = mkltfs !== undefined && ltfs !== undefined && asRoot && existsSync("/dev/fuse");
  lines.push(
    "",
    `\`ltfs-pack write --vtape\` (flushed, xxh128 in flight) against ${withReference ? "the reference LTFS writing the same tree through its FUSE file backend (`cp -r` into the mount, unmount, `sync`) and " : "(the reference LTFS is not installed here) "}\`cp -r\` + \`sync\` to the same file system; median of ${runs} interleaved runs, wall seconds (range), CPU seconds; the trees cached:`,
    "",
    "| tree | ltfs-pack s | reference LTFS s | `cp -r` + `sync` s | speed against the reference | target ≥ 2× | CPU s: ltfs-pack, reference (its `cp`; not the ltfs daemon), cp |",
    "|---|---:|---:|---:|---:|---|---|",
  );
  const out = join(destRoot, "vt");
  const copy = join(destRoot, "cp");
  for (const tree of trees) {
    const plan = join(destRoot, `${tree.name}.plan.json`);
    writeFileSync(plan, check([dist("ltfs-pack"), "plan", tree.path, "--tape", "LTO-9", "--json"]));
    const ours = new Times();
    const reference = new Times();
    const cp = new Times();
    for (let round = 0; round < runs; round++) {
      for (const job of round % 2 === 0 ? ["ours", "reference", "cp"] : ["cp", "reference", "ours"]) {
        rmSync(out, { recursive: true, force: true });
        rmSync(copy, { recursive: true, force: true });
        check(["sync"]);
        warm(tree);
        touchMemory(touchFor(tree));
        if (job === "ours") ours.add(await measured([dist("ltfs-pack"), "write", plan, "--tape", "1", "--vtape", out]));
        else if (job === "cp") cp.add(await measured(["sh", "-c", `cp -r '${tree.path}' '${copy}' && sync -f '${destRoot}'`]));
        else if (withReference) reference.add(await referenceWrite(tree, join(destRoot, "ref"), join(destRoot, "refmnt"), mkltfs!, ltfs!));
      }
    }
    rmSync(out, { recursive: true, force: true });
    rmSync(copy, { recursive: true, force: true });
    const speed = withReference ? median(reference.wall) / median(ours.wall) : Number.NaN;
    lines.push(
      `| ${tree.files.toLocaleString("en")} × ${tree.size >= 1 << 20 ? `${tree.size >> 20} MiB` : `${tree.size >> 10} KiB`} | ${spread(ours.wall)} | ${withReference ? spread(reference.wall) : "—"} | ${spread(cp.wall)} | ${withReference ? `${speed.toFixed(2)}×` : "—"} | ${withReference ? (speed >= 2 ? "yes" : "**no**") : "not measured"} | ${sec(median(ours.cpu))}, ${withReference ? sec(median(reference.cpu)) : "—"}, ${sec(median(cp.cpu))} |`,
    );
    console.error(lines.at(-1));
  }
}

await main();
