/**
 * The offload report a producer reads, opened in headless Chromium (Debian's, driven by
 * playwright-core): it renders without an error or a single request, shows the job, the card's
 * volume name, each destination with its free space and every failure's reason, a throughput
 * plot per destination, and a clip table whose thumbnails are the clips' own middle frames
 * (compared pixel by pixel with the frame ffmpeg decodes). A 300-clip card prints to a PDF of
 * the pages the layout promises; without a Chromium, `.pdf` is refused before anything is copied.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium as playwright, type Page } from "playwright-core";
import { anchor, COMPILED, IS_ROOT, randomBytes, ROOT, run, runners, SOURCE, tempDir, tool } from "./helpers.ts";
import { formatBytes } from "../lib/core/units.ts";
import { CLIPS_PER_PAGE, OTHERS_PER_PAGE } from "../lib/offload/report_html.ts";
import { headlessFlags } from "../lib/offload/report_pdf.ts";

const CHROMIUM = anchor("chromium");
const FFMPEG = anchor("ffmpeg");
const FFPROBE = anchor("ffprobe");
const PDFINFO = anchor("pdfinfo");

function ffmpeg(args: string[], cwd?: string): void {
  const r = run([FFMPEG!, "-hide_banner", "-v", "error", "-y", ...args], { cwd });
  if (r.code !== 0) throw new Error(`ffmpeg ${args.join(" ")}: ${r.stderr}`);
}

/** Four short clips that look nothing alike, with start timecodes and a reel, and a sidecar. */
function clips(folder: string): string[] {
  mkdirSync(join(folder, "CLIPS"), { recursive: true });
  const sources = ["testsrc2=s=320x180:r=25:d=2", "smptebars=s=320x180:r=25:d=2", "mandelbrot=s=320x180:r=25", "rgbtestsrc=s=320x180:r=25:d=2"];
  const names: string[] = [];
  sources.forEach((source, i) => {
    const name = `CLIPS/A001C00${i + 1}.mov`;
    const codec = i === 1 ? ["-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p"] : ["-c:v", "prores_ks", "-profile:v", "0"];
    ffmpeg(["-f", "lavfi", "-i", source, "-t", "2", ...codec, "-timecode", `10:00:0${i}:00`, "-metadata:s:v:0", "reel_name=A001", join(folder, name)]);
    names.push(name);
  });
  writeFileSync(join(folder, "A001.xml"), "<clip/>\n");
  return names;
}

/** An exFAT card named A001, through FUSE on a loop device (root), or a plain folder. */
function cardVolume(dir: string): { path: string; label: string | null } {
  const image = join(dir, "card.img");
  const mount = join(dir, "card");
  mkdirSync(mount);
  if (IS_ROOT && Bun.which("mkfs.exfat") && Bun.which("mount.exfat-fuse")) {
    run(["truncate", "-s", "64M", image]);
    if (run(["mkfs.exfat", "-L", "A001", image]).code === 0) {
      const loop = run(["losetup", "-f", "--show", image]).stdout.trim();
      if (loop && run(["mount.exfat-fuse", loop, mount]).code === 0) return { path: mount, label: "A001" };
    }
  }
  if (process.env.CI === "true") throw new Error("CI must be able to mount an exFAT card (root, exfatprogs, exfat-fuse)");
  return { path: mount, label: null };
}

/** Opens a page in headless Chromium; collects console errors, page errors and every request. */
async function inChromium<T>(url: string, use: (page: Page, seen: { errors: string[]; requests: string[] }) => Promise<T>): Promise<T> {
  const browser = await playwright.launch({ executablePath: CHROMIUM!, args: headlessFlags(tempDir("cartkit-chromium-")).filter((f) => f !== "--headless" && !f.startsWith("--user-data-dir")) });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    const seen = { errors: [] as string[], requests: [] as string[] };
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") seen.errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => seen.errors.push(`pageerror: ${e.message}`));
    page.on("dialog", (d) => {
      seen.errors.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    page.on("request", (r) => seen.requests.push(r.url()));
    page.on("requestfailed", (r) => seen.errors.push(`request failed: ${r.url()}`));
    await page.goto(url, { waitUntil: "load" });
    return await use(page, seen);
  } finally {
    await browser.close();
  }
}

/** A picture as 48×27 grey pixels (ffmpeg decodes it, picks a frame with `select` when given, and scales it). */
function grey(input: string, options: { cwd?: string; select?: string } = {}): Uint8Array {
  const filter = `${options.select ? `select=${options.select},` : ""}scale=48:27,format=gray`;
  const r = Bun.spawnSync({ cmd: [FFMPEG!, "-hide_banner", "-v", "error", "-i", input, "-vf", filter, "-frames:v", "1", "-f", "rawvideo", "pipe:1"], cwd: options.cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(r.stderr.toString());
  return new Uint8Array(r.stdout);
}

function meanDifference(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

const ready = Boolean(CHROMIUM && FFMPEG && FFPROBE);

/** What the page's elements are read for (the tests type-check without the DOM library). */
type Shown = { innerText: string };
type Picture = { complete: boolean; naturalWidth: number };

describe.skipIf(!ready)("the offload report", () => {
  test("--report FILE.html: Chromium renders it with no error and no request; job, volume, destinations, failures, plots, clips and other files", async () => {
    const dir = tempDir("cartkit-report-");
    const volume = cardVolume(dir);
    const names = clips(volume.path);
    // d2 holds a folder where one clip goes: that clip fails there, with its reason.
    mkdirSync(join(dir, "d2", "A001", "CLIPS", "A001C003.mov"), { recursive: true });
    const result = tool(COMPILED, "dispatchcopy", ["-r", "-t", "xxh128", "-t", "md5", "--state-dir", "state", "--report", "report.html", volume.path, "d1/A001", "d2/A001"], { cwd: dir });
    expect(result.code).toBe(2);
    const id = /^dispatchcopy: job (\S+)$/m.exec(result.stderr)![1]!;
    const html = readFileSync(join(dir, "report.html"), "utf8");
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">`);
    expect(html).not.toMatch(/<script|<link|src="(?!data:)/);

    const facts = await inChromium(`file://${join(dir, "report.html")}`, async (page, seen) => {
      const text = (selector: string) => page.locator(selector).first().innerText();
      const out = {
        errors: seen.errors,
        requests: seen.requests,
        title: await page.title(),
        verdict: await text("#verdict"),
        job: await text("#job-id"),
        label: await text("#volume-label"),
        files: await text("#file-count"),
        destinations: await page.locator("tr.destination").evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll("td")].map((td) => (td as unknown as Shown).innerText))),
        failures: await page.locator("ul.failures li").allInnerTexts(),
        plots: await page.locator(".plot svg polyline.written").count(),
        clips: await page.locator("tr.clip").evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll("td")].slice(1, 4).map((td) => (td as unknown as Shown).innerText.replace(/\s+/g, " ").trim()))),
        images: await page.locator("tr.clip img").evaluateAll((imgs) => imgs.map((i) => [(i as unknown as Picture).complete, (i as unknown as Picture).naturalWidth])),
        others: await page.locator("tr.other td:first-child").allInnerTexts(),
      };
      return out;
    });
    expect(facts.errors).toEqual([]);
    expect(facts.requests).toEqual([`file://${join(dir, "report.html")}`]);
    expect(facts.title).toBe(`Offload report: ${volume.label ?? "card"}`);
    expect(facts.verdict).toBe("NOT COMPLETE: 1 of 2 destinations does not hold every file verified (exit code 2)");
    expect(facts.job).toBe(id);
    expect(facts.label).toBe(volume.label ?? "no name");
    expect(facts.files).toBe("5");
    expect(facts.destinations.map((d) => [d[0], d[2], d[3]])).toEqual([
      ["d1/A001", "5", "0"],
      ["d2/A001", "4", "1"],
    ]);
    for (const d of facts.destinations) expect(d[1]).toMatch(/^\d+\.\d (MiB|GiB|TiB) of \d+\.\d (MiB|GiB|TiB)$/);
    expect(facts.destinations[1]![4]).toBe("NOT COMPLETE: 1 of 5 files FAILED");
    expect(facts.failures).toEqual(["CLIPS/A001C003.mov: failed: a folder is at this name; it is never replaced"]);
    expect(facts.plots).toBe(2);
    expect(facts.clips).toEqual(names.map((name, i) => [`${name} ${formatBytes(statSync(join(volume.path, name)).size)}`, `${i === 1 ? "h264" : "prores"} 320×180 25 fps`, `00:00:02:00 (50 frames) TC 10:00:0${i}:00 reel A001`]));
    expect(facts.images).toEqual(names.map(() => [true, 192]));
    expect(facts.others).toEqual(["A001.xml"]);
  }, 120_000);

  test("thumbnails are the clips' middle frames: each matches its clip's frame as ffmpeg decodes it, and no other clip's", async () => {
    const dir = tempDir("cartkit-report-thumbs-");
    const names = clips(join(dir, "A001"));
    expect(tool(SOURCE, "dispatchcopy", ["-r", "--state-dir", "state", "--report", "report.html", "A001", "d1/A001"], { cwd: dir }).code).toBe(0);
    const html = readFileSync(join(dir, "report.html"), "utf8");
    const thumbs = [...html.matchAll(/<img src="data:image\/jpeg;base64,([^"]+)" alt="frame (\d+) \(([^)]+)\) of ([^"]+)" data-frame="\d+">/g)].map((m) => ({ jpeg: Buffer.from(m[1]!, "base64"), frame: Number(m[2]), timecode: m[3], path: m[4] }));
    // 50 frames at 25 fps: the middle one is frame 25, one second after the start timecode.
    expect(thumbs.map((t) => [t.path, t.frame, t.timecode])).toEqual(names.map((n, i) => [n, 25, `10:00:0${i + 1}:00`]));
    const shown = thumbs.map((t, i) => {
      writeFileSync(join(dir, `thumb${i}.jpg`), t.jpeg);
      return grey(`thumb${i}.jpg`, { cwd: dir });
    });
    // ffmpeg's own frame 25 of each clip, picked by its number (not by seeking).
    const frames = names.map((n) => grey(join(dir, "A001", n), { select: "eq(n\\,25)" }));
    for (let i = 0; i < names.length; i++) {
      expect(meanDifference(shown[i]!, frames[i]!)).toBeLessThan(6);
      for (let j = 0; j < names.length; j++) if (j !== i) expect(meanDifference(shown[i]!, frames[j]!)).toBeGreaterThan(15);
    }
    // And not the frame next to it: the clips move.
    const next = grey(join(dir, "A001", names[0]!), { select: "eq(n\\,35)" });
    expect(meanDifference(shown[0]!, next)).toBeGreaterThan(meanDifference(shown[0]!, frames[0]!));
  }, 120_000);

  test.skipIf(!PDFINFO)(
    "a 300-clip card's --report FILE.pdf has one page of job and destinations, the clips ten to a page, and a page of other files",
    () => {
      const dir = tempDir("cartkit-report-pdf-");
      mkdirSync(join(dir, "A002", "CLIPS"), { recursive: true });
      // One encode, cut into 300 one-second clips (intra-only, so each starts on a keyframe).
      ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=300", "-c:v", "mjpeg", "-q:v", "8", "-f", "segment", "-segment_time", "1", "-reset_timestamps", "1", "-segment_format", "mov", join(dir, "A002", "CLIPS", "A002C%03d.mov")]);
      expect(readdirSync(join(dir, "A002", "CLIPS")).length).toBe(300);
      for (const name of ["A002.xml", "A002.ale", "INDEX.BIN"]) writeFileSync(join(dir, "A002", name), randomBytes(5000, name.length));
      const started = performance.now();
      const result = tool(COMPILED, "dispatchcopy", ["-r", "-t", "xxh128", "--state-dir", "state", "--report", "A002.pdf", "A002", "d1/A002", "d2/A002"], { cwd: dir });
      const seconds = (performance.now() - started) / 1000;
      expect([
        result.code,
        result.stderr
          .split("\n")
          .filter((l) => !l.startsWith("dispatchcopy: job "))
          .join("\n"),
      ]).toEqual([0, "dispatchcopy: d1/A002: 303 files, 6.0 MiB verified from the device\ndispatchcopy: d2/A002: 303 files, 6.0 MiB verified from the device\n".replace(/6\.0 MiB/g, result.stderr.match(/303 files, ([\d.]+ \w+) verified/)![1]!)]);
      const info = run([PDFINFO!, join(dir, "A002.pdf")]);
      expect(info.code).toBe(0);
      const pages = Number(/^Pages:\s+(\d+)$/m.exec(info.stdout)![1]);
      expect(pages).toBe(1 + Math.ceil(300 / CLIPS_PER_PAGE) + Math.ceil(3 / OTHERS_PER_PAGE));
      expect(pages).toBe(32);
      expect(info.stdout).toMatch(/^Page size:\s+59[45]\.\d+ x 841\.\d+ pts \(A4\)$/m);
      // The last clip is on the second-to-last page; every page is numbered "page N of 32".
      const text = run(["pdftotext", "-layout", join(dir, "A002.pdf"), "-"]).stdout.split("\f");
      expect(text[pages - 2]).toContain("CLIPS/A002C299.mov");
      expect(text[pages - 1]).toContain("INDEX.BIN");
      for (let p = 0; p < pages; p++) expect(text[p]).toContain(`page ${p + 1} of ${pages}`);
      process.stderr.write(`300-clip card, 2 destinations, PDF report: ${seconds.toFixed(1)} s\n`);
    },
    400_000,
  );

  for (const runner of runners()) {
    test(`--report FILE.pdf with no Chromium: one line that suggests .html, exit 2, nothing copied (${runner.label})`, () => {
      const dir = tempDir("cartkit-report-nochrome-");
      mkdirSync(join(dir, "A001"));
      writeFileSync(join(dir, "A001", "a.mov"), "x");
      const result = tool(runner, "dispatchcopy", ["-r", "--state-dir", "state", "--report", "A001.pdf", "A001", "d1/A001"], { cwd: dir, env: { PATH: join(dir, "nothing"), CHROMIUM: "" } });
      expect([result.code, result.stdout, result.stderr]).toEqual([2, "", "dispatchcopy: A001.pdf: no Chromium or Chrome found to print the PDF report (looked for $CHROMIUM, chromium, chromium-browser, google-chrome on PATH); use --report A001.html and print that page instead\n"]);
      expect(existsSync(join(dir, "d1"))).toBe(false);
      expect(existsSync(join(dir, "state"))).toBe(false);
    });
  }

  test("names that are markup stay text: nothing runs, nothing loads", async () => {
    const dir = tempDir("cartkit-report-names-");
    mkdirSync(join(dir, "A001"));
    const evil = ["<img src=x onerror=alert(1)>.mov", '"><svg onload=alert(2)>.txt', "café\u202e.xml"];
    for (const name of evil) writeFileSync(join(dir, "A001", name), "not media");
    expect(tool(COMPILED, "dispatchcopy", ["-r", "--state-dir", "state", "--report", "report.html", "A001", "d1/A001"], { cwd: dir }).code).toBe(0);
    const facts = await inChromium(`file://${join(dir, "report.html")}`, async (page, seen) => ({
      errors: seen.errors,
      requests: seen.requests,
      clips: await page.locator("tr.clip").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-path"))),
      others: await page.locator("tr.other td:first-child").allInnerTexts(),
      images: await page.locator("img").count(),
      scripts: await page.locator("script").count(),
    }));
    expect(facts).toEqual({
      errors: [],
      requests: [`file://${join(dir, "report.html")}`],
      clips: ["<img src=x onerror=alert(1)>.mov"],
      others: ['"><svg onload=alert(2)>.txt', "café\\u{202e}.xml"],
      images: 0,
      scripts: 0,
    });
  }, 60_000);

  test("README shows the report as the screenshot script made it (docs/report.png)", () => {
    const png = readFileSync(join(ROOT, "docs", "report.png"));
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    expect(png.length).toBeGreaterThan(50_000);
    expect(readFileSync(join(ROOT, "README.md"), "utf8")).toContain("![An offload report as Chromium renders it](docs/report.png)");
    expect(existsSync(join(ROOT, "scripts", "report-screenshot.ts"))).toBe(true);
  });
});
