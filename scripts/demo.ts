#!/usr/bin/env bun
/**
 * The main job on built-in sample data, end to end: a camera card is made in a temp folder
 * (clips with embedded timecode made by ffmpeg, sidecars, small files, OS litter), offloaded with
 * `dispatchcopy -r` to two destinations (xxh128, read back from the device, an ASC MHL each),
 * both proven with `mhl-verify`, one EDL event extracted with handles by `tc-extract`, each
 * destination's project planned and written to its own virtual LTO tape by `ltfs-pack`, both
 * tapes verified, and a catalog of them built; then the project is committed into a vault,
 * branched for a regrade, and what the branch costs is shown. A summary gives each step's time
 * and where everything is, and the command that serves the tapes and the vault's versions in
 * cartserve's portal (run with `--serve` to start it). Exit 0 only if every verification passed. Uses the compiled
 * tools in dist/ when present, else runs them from source.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram } from "../lib/tc/binaries.ts";

const root = join(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "cartkit-demo-"));

function toolCommand(name: string): string[] {
  const compiled = join(root, "dist", name);
  return existsSync(compiled) ? [compiled] : [process.execPath, join(root, "tools", `${name}.ts`)];
}

interface Step {
  title: string;
  seconds: number;
  ok: boolean;
}
const steps: Step[] = [];

function quote(arg: string): string {
  return /[\s'"|;&<>()$]/.test(arg) ? `'${arg.replace(/'/g, "'\\''")}'` : arg;
}

/** Runs one tool from the work folder, echoing the command line and everything it prints. */
function sh(name: string, args: string[], expect = 0): boolean {
  process.stdout.write(`$ ${name} ${args.map(quote).join(" ")}\n`);
  const proc = Bun.spawnSync({ cmd: [...toolCommand(name), ...args], cwd: work, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  process.stdout.write(proc.stdout.toString());
  if (proc.stderr.length) process.stdout.write(proc.stderr.toString());
  process.stdout.write(`(exit ${proc.exitCode})\n`);
  return proc.exitCode === expect;
}

/** A titled step: its commands run, its time is taken, and it passes only if each command did. */
function step(title: string, body: () => boolean): void {
  process.stdout.write(`\n== ${title}\n`);
  const start = performance.now();
  let ok = false;
  try {
    ok = body();
  } catch (error) {
    process.stdout.write(`error: ${(error as Error).message}\n`);
  }
  steps.push({ title, seconds: (performance.now() - start) / 1000, ok });
}

/** A clip as a camera writes one: ProRes with PCM audio, its start timecode and reel in the file. */
function clip(ffmpeg: string, path: string, timecode: string, seconds: number, pattern: string): void {
  const proc = Bun.spawnSync({
    cmd: [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", `${pattern}=s=320x180:r=25:d=${seconds}`, "-f", "lavfi", "-i", `sine=f=1000:d=${seconds}`, "-shortest", "-c:v", "prores_ks", "-profile:v", "0", "-c:a", "pcm_s16le", "-timecode", timecode, "-metadata:s:v:0", "reel_name=A001", path],
    stdout: "ignore",
    stderr: "pipe",
  });
  if (proc.exitCode !== 0) throw new Error(`ffmpeg could not make ${path}: ${proc.stderr.toString().trim()}`);
}

step("A camera card: clips with timecode, sidecars, a few small files, and OS litter", () => {
  const ffmpeg = findProgram("ffmpeg");
  const card = join(work, "CARDS", "A001");
  mkdirSync(join(card, "CLIPS"), { recursive: true });
  mkdirSync(join(card, "META"), { recursive: true });
  clip(ffmpeg, join(card, "CLIPS", "A001C001_261122AB.mov"), "10:00:00:00", 4, "testsrc2");
  clip(ffmpeg, join(card, "CLIPS", "A001C002_261122AB.mov"), "10:05:00:00", 6, "smptebars");
  for (const name of ["A001C001_261122AB", "A001C002_261122AB"]) {
    writeFileSync(join(card, "CLIPS", `${name}.xml`), `<?xml version="1.0"?>\n<clip name="${name}" reel="A001" fps="25"/>\n`);
  }
  writeFileSync(join(card, "META", "camera.json"), `${JSON.stringify({ camera: "A", card: "A001", operator: "demo" })}\n`);
  writeFileSync(join(card, "META", "notes.txt"), "Day 1, scene 12, takes 1-2.\n");
  writeFileSync(join(card, ".DS_Store"), "finder");
  writeFileSync(join(card, "CLIPS", "._A001C001_261122AB.mov"), "resource fork");
  writeFileSync(join(work, "cut.edl"), ["TITLE: DEMO CUT", "FCM: NON-DROP FRAME", "", "001  A001C002 V     C        10:05:01:00 10:05:03:00 01:00:00:00 01:00:02:00", "* FROM CLIP NAME: A001C002_261122AB", ""].join("\n"));
  process.stdout.write(`card: ${card} (2 clips of 4 s and 6 s, ProRes + PCM, timecode 10:00:00:00 and 10:05:00:00)\n`);
  return true;
});

step("Offload the card to two destinations: read once, xxh128 in flight, each copy read back, an MHL each", () => sh("dispatchcopy", ["-r", "-t", "xxh128", "--sums", "A001.xxh128", "CARDS/A001", "RAID/PROJECT/DAY01/A001", "SHUTTLE/PROJECT/DAY01/A001"]));

step("Prove both destinations with their ASC MHL histories", () => sh("mhl-verify", ["verify", "RAID/PROJECT/DAY01/A001"]) && sh("mhl-verify", ["verify", "SHUTTLE/PROJECT/DAY01/A001"]));

step("Extract the cut's one event, with 10 frames of handles, from the RAID copy", () => sh("tc-extract", ["--edl", "cut.edl", "--media", "RAID/PROJECT/DAY01/A001", "-o", "CONFORM", "--handles", "10", "--rate", "25", "--codec", "prores_proxy"]));

step(
  "Plan each destination's project onto LTO-9 and write it to a virtual tape",
  () =>
    sh("ltfs-pack", ["plan", "RAID/PROJECT", "--tape", "LTO-9"]) &&
    writePlan("RAID/PROJECT", "raid-plan.json") &&
    writePlan("SHUTTLE/PROJECT", "shuttle-plan.json") &&
    sh("ltfs-pack", ["write", "raid-plan.json", "--tape", "1", "--vtape", "TAPES/PX0001", "--serial", "PX0001"]) &&
    sh("ltfs-pack", ["write", "shuttle-plan.json", "--tape", "1", "--vtape", "TAPES/PX0101", "--serial", "PX0101"]),
);

step("Verify both tapes: every file read back in start-block order against the tape's MHL", () => sh("ltfs-pack", ["verify", "--vtape", "TAPES/PX0001"]) && sh("ltfs-pack", ["verify", "--vtape", "TAPES/PX0101"]) && sh("ltfs-pack", ["index", "--vtape", "TAPES/PX0001", "--check"]));

step("Catalog both tapes for searching with no tape loaded", () => sh("ltfs-pack", ["catalog", "TAPES/PX0001", "TAPES/PX0101", "-o", "CATALOG"]));

step(
  "Keep versions in a vault: commit the project, branch it for a regrade, and see what the branch costs",
  () =>
    sh("cartvault", ["init", "VAULT"]) &&
    sh("cartvault", ["commit", "VAULT", "RAID/PROJECT", "-m", "day 1 offload"]) &&
    sh("cartvault", ["branch", "VAULT", "regrade", "--from", "main"]) &&
    sh("cartvault", ["du", "VAULT"]) &&
    sh("cartvault", ["checkout", "VAULT", "regrade", "WORK/regrade"]) &&
    regrade("WORK/regrade/DAY01/A001/CLIPS") &&
    sh("cartvault", ["commit", "VAULT", "WORK/regrade", "--branch", "regrade", "-m", "regrade of A001C002"]) &&
    sh("cartvault", ["diff", "VAULT", "main", "regrade"]) &&
    sh("cartvault", ["du", "VAULT"]),
);

/** The colourist's work on the branch: a CDL for one clip and its sidecar updated. */
function regrade(clips: string): boolean {
  writeFileSync(join(work, clips, "A001C002_261122AB.cdl"), '<ColorDecisionList><ColorDecision><ColorCorrection id="A001C002"><SOPNode><Slope>1.05 1.0 0.95</Slope><Offset>0 0 0.01</Offset><Power>1 1 1</Power></SOPNode></ColorCorrection></ColorDecision></ColorDecisionList>\n');
  writeFileSync(join(work, clips, "A001C002_261122AB.xml"), '<?xml version="1.0"?>\n<clip name="A001C002_261122AB" reel="A001" fps="25" grade="A001C002_261122AB.cdl"/>\n');
  process.stdout.write(`(the regrade: ${clips}/A001C002_261122AB.cdl added, its .xml sidecar updated)\n`);
  return true;
}

/** Saves a plan file (the plan command's JSON) for `write`. */
function writePlan(source: string, file: string): boolean {
  const proc = Bun.spawnSync({ cmd: [...toolCommand("ltfs-pack"), "plan", source, "--tape", "LTO-9", "--json"], cwd: work, stdout: "pipe", stderr: "pipe" });
  writeFileSync(join(work, file), proc.stdout);
  process.stdout.write(`$ ltfs-pack plan ${source} --tape LTO-9 --json > ${file}\n(exit ${proc.exitCode})\n`);
  return proc.exitCode === 0;
}

const ok = steps.every((s) => s.ok);
process.stdout.write("\n== Summary\n");
for (const s of steps) process.stdout.write(`${s.ok ? "ok    " : "FAILED"} ${s.seconds.toFixed(2).padStart(6)} s  ${s.title}\n`);
process.stdout.write(
  [
    "",
    `Everything is in ${work}:`,
    "  CARDS/A001                      the card as shot",
    "  RAID/, SHUTTLE/                 the two offloads, each with ascmhl/ (A001.xxh128: the sums)",
    "  CONFORM/                        the extracted event, report.json, the conformed EDL",
    "  TAPES/PX0001, TAPES/PX0101      the virtual LTO-9 tapes (LTFS file-backend layout)",
    "  CATALOG/index.html              the tape catalog: open it in a browser",
    "  VAULT/                          the project's versions: main and the regrade branch (cartvault)",
    "",
    ok ? "Every verification passed.\n" : "Something did not verify: see the steps marked FAILED above.\n",
  ].join("\n"),
);

// Browse both tapes, every version in the vault and the RAID copy in the portal: search, play proxies, mark in/out, extract.
const serveArgs = ["TAPES/PX0001", "TAPES/PX0101", "VAULT", "RAID=RAID/PROJECT/DAY01/A001", "--proxies", "PREVIEWS"];
process.stdout.write(`Portal: http://127.0.0.1:8740/ (cd ${work} && cartserve ${serveArgs.join(" ")}${process.argv.includes("--serve") ? "" : "; or npm run demo -- --serve"})\n`);
if (process.argv.includes("--serve") && ok) {
  const server = Bun.spawn({ cmd: [...toolCommand("cartserve"), ...serveArgs], cwd: work, stdin: "ignore", stdout: "inherit", stderr: "inherit" });
  process.exitCode = await server.exited;
} else process.exitCode = ok ? 0 : 1;
