#!/usr/bin/env bun
/**
 * cartvault against the tools its targets name, in the same run, on a loop-mounted XFS made
 * here with reflinks (`mkfs.xfs -m reflink=1`, the image's loop device with direct I/O, so
 * nothing is cached twice):
 *
 * - `branch` on a commit of 100,000 files (target < 50 ms, the whole process);
 * - a second commit of that unchanged tree: no file data read (strace -y: bytes read through
 *   descriptors of the tree's files; must be 0), and its time (target < 2 s);
 * - a 2 GiB project (200 × 10 MiB): commit with `--import copy` against `cp -r` + `sync -f`
 *   (`--reflink=never`: coreutils 9 reflinks by default where it can, copying nothing), and
 *   against that followed by a cold read of the copy (bench/cold_read.ts: the floor of a copy
 *   read back from the device, as `--import copy` reads it back),
 *   with `--import reflink` against `cp -r --reflink=always` (target ≤ 1.2× each); checkout
 *   with `--link reflink` against `cp -r --reflink=always` of the vault's objects and with
 *   `--link copy` against `cp -r --reflink=never` + `sync -f` (target ≤ 1.2× each);
 * - ten commits of that project, each changing 1% of the files: the vault's allocated bytes
 *   against one copy's (`du`, target ≤ 1.12×).
 *
 * Rows of one table run round-robin (the order rotates each round), each from the same state
 * (its target removed, the file system flushed, the source read into the page cache first);
 * medians and ranges are reported with the load average seen. Needs root (the loop mount),
 * xfsprogs and strace.
 *
 *   bun bench/vault.ts            full run: 100,000 files, 2 GiB, 5 runs; writes BENCHMARKS.md
 *   bun bench/vault.ts --quick    10,000 files, 200 MiB, 3 runs; prints only
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, GiB, MiB, ROOT, check, describeMachine, fail, loadAverage, median, randomFile, sec, timed, warmCache, writeReport } from "./common.ts";

const quick = process.argv.includes("--quick");
const runs = quick ? 3 : 5;
const SMALL_FILES = quick ? 10_000 : 100_000;
const CLIPS = 200;
const CLIP_BYTES = quick ? 1 * MiB : 10 * MiB;
const CV = join(ROOT, "dist/cartvault");

interface Row {
  key: string;
  label: string;
  /** Brings the row's target to its starting state (not timed). */
  prepare: () => void;
  /** The command, or a function that gives each run's (a new branch name each time). */
  cmd: string[] | (() => string[]);
}

interface Result {
  label: string;
  cmd: string[];
  times: number[];
}

const loads: string[] = [];

/** Runs rows round-robin `runs` times each (after one untimed warm-up), each from its prepared state. */
async function interleaved(rows: Row[], warm: () => void): Promise<Map<string, Result>> {
  const commandOf = (r: Row) => (typeof r.cmd === "function" ? r.cmd() : r.cmd);
  const results = new Map(rows.map((r) => [r.key, { label: r.label, cmd: commandOf(r), times: [] as number[] }]));
  for (let round = -1; round < runs; round++) {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[(i + Math.max(0, round)) % rows.length]!;
      row.prepare();
      warm();
      const cmd = commandOf(row);
      const sample = await timed(cmd);
      if (sample.code !== 0) fail(`${cmd.join(" ")} exited ${sample.code}: ${sample.stderr.trim()}`);
      if (round >= 0) results.get(row.key)!.times.push(sample.seconds);
    }
    loads.push(loadAverage());
  }
  for (const r of results.values()) console.log(`  ${r.label.padEnd(40)} median ${sec(median(r.times))} s  [${r.times.map(sec).join(" ")}]`);
  return results;
}

function range(times: number[]): string {
  return `${sec(Math.min(...times))}–${sec(Math.max(...times))}`;
}

function sh(script: string): string[] {
  return ["sh", "-c", script];
}

/** Allocated bytes of a tree (du, each inode once). */
function du(path: string): number {
  return Number(check(["du", "-s", "--block-size=1", path]).split(/\s/)[0]);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) fail("needs root: the benchmark mounts a loop XFS");
  for (const tool of ["mkfs.xfs", "losetup", "strace"]) if (!Bun.which(tool)) fail(`needs ${tool}`);
  check([BUN, join(ROOT, "scripts/build.ts"), "cartvault"]);
  const machine = describeMachine([`cp: ${check(["cp", "--version"]).split("\n")[0]}`, `xfsprogs: ${check(["mkfs.xfs", "-V"]).trim()}`]);
  const loadBefore = loadAverage();
  const dir = mkdtempSync(join(tmpdir(), "cartkit-bench-vault-"));
  const image = join(dir, "xfs.img");
  const fs = join(dir, "xfs");
  const imageBytes = quick ? 3 * GiB : 16 * GiB;
  check(["truncate", "-s", String(imageBytes), image]);
  const device = check(["losetup", "-f", "--show", "--direct-io=on", image]).trim();
  const cleanup = () => {
    Bun.spawnSync({ cmd: ["umount", fs] });
    Bun.spawnSync({ cmd: ["losetup", "-d", device] });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    check(["mkfs.xfs", "-q", "-m", "reflink=1", device]);
    mkdirSync(fs);
    check(["mount", device, fs]);
    const flush = () => check(["sync", "-f", fs]);
    const rm = (...paths: string[]) => {
      for (const p of paths) rmSync(join(fs, p), { recursive: true, force: true });
      flush();
    };
    const cv = (...args: string[]) => [CV, ...args];
    const section: string[] = [];

    // ---------------------------------------------------------------- 100,000 files
    console.log(`\n${SMALL_FILES} small files: branch, and a second commit of the unchanged tree`);
    const small = join(fs, "SMALL");
    for (let d = 0; d < SMALL_FILES / 1000; d++) {
      const folder = join(small, `R${String(d).padStart(3, "0")}`);
      mkdirSync(folder, { recursive: true });
      for (let f = 0; f < 1000; f++) writeFileSync(join(folder, `F${String(f).padStart(4, "0")}.dpx`), `frame ${d * 1000 + f} `.repeat(100));
    }
    check(cv("init", join(fs, "VS")));
    const firstStarted = performance.now();
    check(cv("commit", join(fs, "VS"), small, "--import", "reflink", "-m", "100,000 frames"));
    const firstSeconds = (performance.now() - firstStarted) / 1000;
    Bun.sleepSync(2100);
    // A second commit sees every file as the first left it (older than the racy window now).
    check(cv("commit", join(fs, "VS"), small));
    let branchNumber = 0;
    const smallRows: Row[] = [
      { key: "branch", label: `cartvault branch (${SMALL_FILES}-file commit)`, prepare: () => {}, cmd: () => cv("branch", join(fs, "VS"), `b${branchNumber++}`, "--from", "main") },
      { key: "recommit", label: "cartvault commit, tree unchanged", prepare: () => {}, cmd: cv("commit", join(fs, "VS"), small, "--json") },
      { key: "find", label: "find -printf size, times, inode (a walk)", prepare: () => {}, cmd: ["find", small, "-type", "f", "-printf", "%s %T@ %C@ %i %P\n"] },
    ];
    const smallResults = await interleaved(smallRows, () => {});
    const recommit = await timed(cv("commit", join(fs, "VS"), small, "--json"));
    const report = JSON.parse(recommit.stdout);
    if (!report.unchanged || report.read.files !== 0) fail(`the second commit read files: ${recommit.stdout}`);
    // What the unchanged commit read, by descriptor (strace -y names each descriptor's file).
    const trace = join(dir, "recommit.strace");
    check(["strace", "-f", "-y", "-qq", "-e", "trace=read,pread64,readv,preadv,preadv2", "-o", trace, ...cv("commit", join(fs, "VS"), small)]);
    let fromTree = 0;
    let fromVault = 0;
    let other = 0;
    for (const line of readFileSync(trace, "utf8").split("\n")) {
      const m = /^\d+\s+\w+\(\d+<([^>]*)>.*\)\s+=\s+(\d+)/.exec(line);
      if (!m) continue;
      const bytes = Number(m[2]);
      if (m[1]!.startsWith(`${small}/`)) fromTree += bytes;
      else if (m[1]!.startsWith(join(fs, "VS"))) fromVault += bytes;
      else other += bytes;
    }
    console.log(`  unchanged commit read ${fromTree} bytes from the tree's files, ${fromVault} from the vault (stat cache, commit header), ${other} elsewhere`);
    if (fromTree !== 0) fail("the unchanged commit read file data");
    const median_ = (k: string) => median(smallResults.get(k)!.times);

    // ---------------------------------------------------------------- the 2 GiB project
    console.log(`\n${CLIPS} × ${CLIP_BYTES / MiB} MiB project`);
    const project = join(fs, "PROJECT");
    const clips: string[] = [];
    for (let i = 0; i < CLIPS; i++) {
      const folder = join(project, `A${String(Math.floor(i / 50) + 1).padStart(3, "0")}`);
      mkdirSync(folder, { recursive: true });
      const clip = join(folder, `C${String(i).padStart(4, "0")}.mov`);
      randomFile(clip, CLIP_BYTES);
      clips.push(clip);
    }
    flush();
    const warmProject = () => warmCache(clips);
    const fresh = (name: string) => () => {
      rm(name);
      check(cv("init", join(fs, name)));
    };
    const commitRows: Row[] = [
      { key: "commit-copy", label: "cartvault commit --import copy", prepare: fresh("VC"), cmd: cv("commit", join(fs, "VC"), project, "--import", "copy") },
      { key: "cp", label: "cp -r --reflink=never && sync -f", prepare: () => rm("CP"), cmd: sh(`cp -r --reflink=never ${project} ${fs}/CP && sync -f ${fs}/CP`) },
      { key: "cp-cold", label: "the same && a cold read of the copy (floor)", prepare: () => rm("CPC"), cmd: sh(`cp -r --reflink=never ${project} ${fs}/CPC && sync -f ${fs}/CPC && ${BUN} ${ROOT}/bench/cold_read.ts ${fs}/CPC`) },
      { key: "commit-reflink", label: "cartvault commit --import reflink", prepare: fresh("VR"), cmd: cv("commit", join(fs, "VR"), project, "--import", "reflink") },
      { key: "cp-reflink", label: "cp -r --reflink=always", prepare: () => rm("CPR"), cmd: ["cp", "-r", "--reflink=always", project, join(fs, "CPR")] },
      { key: "cp-reflink-b3sum", label: "cp -r --reflink=always && b3sum (floor)", prepare: () => rm("CPRB"), cmd: sh(`cp -r --reflink=always ${project} ${fs}/CPRB && b3sum --no-names ${fs}/CPRB/*/* > /dev/null`) },
    ];
    console.log("commit:");
    const commits = await interleaved(commitRows, warmProject);
    rm("VC", "CP", "CPC", "CPR", "CPRB");

    // Checkouts from a vault holding the project (reflinked in, as the commit row left it).
    const vault = join(fs, "VR");
    const objects = readdirSync(join(vault, "objects")).flatMap((f) => readdirSync(join(vault, "objects", f)).map((n) => join(vault, "objects", f, n)));
    const warmObjects = () => warmCache(objects);
    const checkoutRows: Row[] = [
      { key: "co-reflink", label: "cartvault checkout --link reflink", prepare: () => rm("CO1"), cmd: cv("checkout", vault, "main", join(fs, "CO1"), "--link", "reflink") },
      { key: "cp-reflink", label: "cp -r --reflink=always (objects)", prepare: () => rm("CO2"), cmd: ["cp", "-r", "--reflink=always", join(vault, "objects"), join(fs, "CO2")] },
      { key: "cp-reflink-b3sum", label: "the same && b3sum of the copies (floor)", prepare: () => rm("CO5"), cmd: sh(`cp -r --reflink=always ${vault}/objects ${fs}/CO5 && b3sum --no-names ${fs}/CO5/*/* > /dev/null`) },
      { key: "co-copy", label: "cartvault checkout --link copy", prepare: () => rm("CO3"), cmd: cv("checkout", vault, "main", join(fs, "CO3"), "--link", "copy") },
      { key: "cp", label: "cp -r --reflink=never && sync -f (objects)", prepare: () => rm("CO4"), cmd: sh(`cp -r --reflink=never ${vault}/objects ${fs}/CO4 && sync -f ${fs}/CO4`) },
    ];
    console.log("checkout:");
    const checkouts = await interleaved(checkoutRows, warmObjects);
    rm("CO1", "CO2", "CO3", "CO4", "CO5", "VR");

    // ---------------------------------------------------------------- ten commits, 1% each
    console.log("ten commits, each changing 1% of the files:");
    const history = join(fs, "VH");
    check(cv("init", history));
    check(cv("commit", history, project, "--import", "copy", "-m", "version 1"));
    let seed = 99;
    for (let version = 2; version <= 11; version++) {
      for (let k = 0; k < CLIPS / 100; k++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        rmSync(clips[seed % CLIPS]!);
        randomFile(clips[seed % CLIPS]!, CLIP_BYTES);
      }
      check(cv("commit", history, project, "--import", "copy", "-m", `version ${version}`));
    }
    flush();
    const oneCopy = du(project);
    const vaultBytes = du(history);
    const usage = JSON.parse(check(cv("du", history, "--json")));
    console.log(`  one copy ${oneCopy} bytes; the vault after 11 commits (10 of them changing 1%) ${vaultBytes} bytes: ${(vaultBytes / oneCopy).toFixed(3)}×; history ${usage.history.commits} commits, ${usage.history.bytes} logical bytes`);

    // ---------------------------------------------------------------- the table
    const row = (what: string, ours: Result, theirs: Result | undefined, target: number | undefined, floor?: Result) => {
      const r = theirs ? median(ours.times) / median(theirs.times) : undefined;
      const verdict = target === undefined || r === undefined ? "" : r <= target ? "yes" : "**no**";
      return `| ${what} | ${sec(median(ours.times))} (${range(ours.times)}) | ${theirs ? `${sec(median(theirs.times))} (${range(theirs.times)})` : ""} | ${r === undefined ? "" : `${r.toFixed(2)}×`} | ${target === undefined ? "" : `≤ ${target}×: ${verdict}`}${floor ? `; against ${floor.label}: ${(median(ours.times) / median(floor.times)).toFixed(2)}×` : ""} |`;
    };
    const load = `${loadBefore} before; ${loads.join(", ")} after each round; ${loadAverage()} at the end`;
    section.push(
      `Run ${machine.date}${quick ? " (--quick)" : ""}.`,
      "",
      `- CPU: ${machine.cpu}; \`nproc\`: ${machine.nproc}; memory: ${machine.memory}`,
      `- OS: ${machine.kernel}; Bun: ${machine.bun}; source: ${machine.source}`,
      `- ${machine.anchors.join("; ")}`,
      `- file system: XFS (\`mkfs.xfs -m reflink=1\`) on a loop device with direct I/O over a ${imageBytes / GiB} GiB image on the root disk`,
      `- load average (1 min): ${load} (on ${machine.nproc} cores)`,
      "",
      `Seconds, whole processes, median of ${runs} interleaved runs (range in brackets); ratio = ours / theirs (below 1 we are faster).`,
      "",
      `| job | cartvault s | anchor s | ratio | target |`,
      `|---|---:|---:|---:|---|`,
      `| \`branch\` on a commit of ${SMALL_FILES.toLocaleString("en-US")} files | ${sec(median_("branch"))} (${range(smallResults.get("branch")!.times)}) | | | < 0.050 s: ${median_("branch") < 0.05 ? "yes" : "**no**"} |`,
      `| second \`commit\` of the unchanged ${SMALL_FILES.toLocaleString("en-US")}-file tree (${fromTree} bytes of file data read) | ${sec(median_("recommit"))} (${range(smallResults.get("recommit")!.times)}) | ${sec(median_("find"))} (\`find -printf\`) | ${(median_("recommit") / median_("find")).toFixed(2)}× | < 2 s: ${median_("recommit") < 2 ? "yes" : "**no**"} |`,
      row(`\`commit --import copy\`, ${CLIPS} × ${CLIP_BYTES / MiB} MiB, against \`cp -r --reflink=never && sync -f\``, commits.get("commit-copy")!, commits.get("cp"), 1.2, commits.get("cp-cold")),
      row(`\`commit --import reflink\`, against \`cp -r --reflink=always\``, commits.get("commit-reflink")!, commits.get("cp-reflink"), 1.2, commits.get("cp-reflink-b3sum")),
      row(`\`checkout --link reflink\`, against \`cp -r --reflink=always\` of the objects`, checkouts.get("co-reflink")!, checkouts.get("cp-reflink"), 1.2, checkouts.get("cp-reflink-b3sum")),
      row(`\`checkout --link copy\`, against \`cp -r --reflink=never && sync -f\` of the objects`, checkouts.get("co-copy")!, checkouts.get("cp"), 1.2),
      `| vault after 11 commits of the project, 10 of them changing 1% of the files (\`du\`) | ${(vaultBytes / GiB).toFixed(3)} GiB | one copy: ${(oneCopy / GiB).toFixed(3)} GiB | ${(vaultBytes / oneCopy).toFixed(3)}× | ≤ 1.12×: ${vaultBytes / oneCopy <= 1.12 ? "yes" : "**no**"} |`,
      "",
      `The first commit of the ${SMALL_FILES.toLocaleString("en-US")} files (reflinks, every file hashed) took ${firstSeconds.toFixed(1)} s. The unchanged commit read ${fromVault.toLocaleString("en-US")} bytes from the vault (its stat cache and the branch's commit header) and ${other.toLocaleString("en-US")} bytes elsewhere (the program itself, /proc), counted with \`strace -f -y\`.`,
      "",
      `Reproduce: \`node_modules/.bin/bun bench/vault.ts${quick ? " --quick" : ""}\` (as root; about ${quick ? 4 : 20} GiB free under /tmp).`,
    );
    console.log(`\n${section.join("\n")}`);
    if (!quick) writeReport("vault.ts", section);
  } finally {
    cleanup();
  }
}

await main();
