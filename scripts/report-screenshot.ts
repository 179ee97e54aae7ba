#!/usr/bin/env bun
/**
 * Makes docs/report.png, the offload report README shows: a small card of test-pattern clips
 * (ffmpeg's lavfi sources, with start timecodes and a reel; on an exFAT volume named A007 when
 * run as root, as a camera card would be) offloaded to two destinations with
 * `--report`, the page opened in headless Chromium (playwright-core, Debian's chromium) and
 * its top captured. Run it again when the report's layout changes:
 *
 *   bun scripts/report-screenshot.ts            # → docs/report.png
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { findChromium, headlessFlags } from "../lib/offload/report_pdf.ts";

const root = join(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "cartkit-screenshot-"));

function run(cmd: string[], cwd = work): void {
  const proc = Bun.spawnSync({ cmd, cwd, stdout: "pipe", stderr: "pipe" });
  if (proc.exitCode !== 0) {
    throw new Error(`${cmd.join(" ")} exited ${proc.exitCode}: ${proc.stderr.toString()}`);
  }
}

/** An exFAT volume named A007 through FUSE on a loop device (root), else a folder. */
function cardFolder(): { path: string; unmount: () => void } {
  const path = join(work, "A007");
  mkdirSync(path);
  if (process.getuid?.() === 0 && Bun.which("mkfs.exfat") && Bun.which("mount.exfat-fuse")) {
    const image = join(work, "card.img");
    run(["truncate", "-s", "256M", image]);
    run(["mkfs.exfat", "-L", "A007", image]);
    const loop = Bun.spawnSync({ cmd: ["losetup", "-f", "--show", image], stdout: "pipe" })
      .stdout.toString()
      .trim();
    run(["mount.exfat-fuse", loop, path]);
    return { path, unmount: () => Bun.spawnSync({ cmd: ["sh", "-c", 'umount "$1" && losetup -d "$2"', "sh", path, loop] }) };
  }
  return { path, unmount: () => {} };
}

const volume = cardFolder();
try {
  const card = volume.path;
  mkdirSync(join(card, "CLIPS"), { recursive: true });
  const patterns = ["testsrc2", "smptehdbars", "mandelbrot", "rgbtestsrc", "testsrc", "cellauto=rule=110"];
  patterns.forEach((pattern, i) => {
    const source = `${pattern}${pattern.includes("=") ? ":" : "="}s=960x540:r=24000/1001${pattern === "mandelbrot" || pattern.startsWith("cellauto") ? "" : ":d=3"}`;
    run(["ffmpeg", "-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", "3", "-c:v", "prores_ks", "-profile:v", "1", "-timecode", `14:2${i}:0${i}:00`, "-metadata:s:v:0", "reel_name=A007", join(card, "CLIPS", `A007C00${i + 1}_261201_R1AB.mov`)]);
  });
  writeFileSync(join(card, "A007.xml"), "<clips/>\n");
  writeFileSync(join(card, "A007.ale"), "Heading\n");
  const report = join(work, "A007.html");
  const env = { ...process.env, XDG_STATE_HOME: join(work, "state") };
  const proc = Bun.spawnSync({
    cmd: [process.execPath, join(root, "tools", "dispatchcopy.ts"), "-r", "-t", "xxh128", "-t", "md5", "--rate-limit", "12MB/s", "--report", "A007.html", "A007", "RAID/A007", "SHUTTLE/A007"],
    cwd: work,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (proc.exitCode !== 0) throw new Error(`dispatchcopy exited ${proc.exitCode}: ${proc.stderr.toString()}`);
  const executablePath = findChromium();
  if (!executablePath) throw new Error("no Chromium found (set CHROMIUM)");
  const browser = await chromium.launch({ executablePath, args: headlessFlags(join(work, "profile")).filter((f) => f !== "--headless" && !f.startsWith("--user-data-dir")) });
  try {
    const page = await browser.newPage({ viewport: { width: 880, height: 1500 }, deviceScaleFactor: 1 });
    await page.goto(`file://${report}`, { waitUntil: "load" });
    mkdirSync(join(root, "docs"), { recursive: true });
    await page.screenshot({ path: join(root, "docs", "report.png"), fullPage: false });
  } finally {
    await browser.close();
  }
  process.stderr.write(`report-screenshot: ${join("docs", "report.png")}\n`);
} finally {
  volume.unmount();
  rmSync(work, { recursive: true, force: true });
}
