/**
 * The portal in headless Chromium (Debian's, driven by playwright-core): it lists and searches
 * the sources, plays a clip's HLS proxy made from a virtual tape, jumps to a typed timecode and
 * shows that very frame (drawn to a canvas and compared with ffmpeg's frame at that index of
 * the original: PSNR ≥ 35 dB, and lower for the frames beside it), steps one frame forward and
 * one back (each time the picture and the timecode shown are that frame's, by the same test),
 * marks in and out, and downloads an extraction whose first frame's timecode and frame count
 * are right.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { parseListen } from "../lib/serve/access.ts";
import { Catalog } from "../lib/serve/catalog.ts";
import { openSource, openSources } from "../lib/serve/open_source.ts";
import { startServer, type RunningServer } from "../lib/serve/server.ts";
import { findProgram } from "../lib/tc/binaries.ts";
import { anchor, COMPILED, run, runners, tempDir, tool } from "./helpers.ts";

const CHROMIUM = anchor("chromium");
/** ffmpeg and ffprobe as cartserve finds them (PATH, else the npm-installed binaries). */
const FFMPEG = findProgram("ffmpeg");
const FFPROBE = findProgram("ffprobe");
/** Flags for Chromium as root on a machine with no network beyond loopback. */
const CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"];

const WIDTH = 1280;
const HEIGHT = 720;
const dir = tempDir("cartserve-portal-");
let server: RunningServer;
let browser: Browser;

/**
 * RGB24 bytes of frame `index` of a file by ffmpeg, made the way a proxy's picture is: scaled to
 * the given size in 4:2:0 Y'CbCr, then converted with the BT.709 matrix the clip is tagged with.
 */
function ffmpegFrame(path: string, index: number, width: number, height: number): Uint8Array {
  const result = Bun.spawnSync({
    cmd: [FFMPEG, "-v", "error", "-i", path, "-vf", `select=eq(n\\,${index}),scale=${width}:${height}:flags=bicubic,format=yuv420p,scale=in_color_matrix=bt709`, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(result.exitCode).toBe(0);
  return new Uint8Array(result.stdout);
}

/**
 * PSNR in dB of the luma of two RGB24 pictures of the same size (Y' by the BT.709 weights): the
 * usual measure of video fidelity, and blind to how a player upsamples the 4:2:0 chroma.
 */
function psnr(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i += 3) {
    const d = 0.2126 * (a[i]! - b[i]!) + 0.7152 * (a[i + 1]! - b[i + 1]!) + 0.0722 * (a[i + 2]! - b[i + 2]!);
    sum += d * d;
  }
  const mse = sum / (a.length / 3);
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** The frame on screen, drawn to a canvas at the video's own size, as RGB24. */
async function frameOnScreen(page: Page): Promise<{ width: number; height: number; rgb: Uint8Array }> {
  const { width, height, base64 } = await page.evaluate(() => {
    const document = (globalThis as any).document;
    const video = document.getElementById("video");
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const context = canvas.getContext("2d")!;
    context.drawImage(video, 0, 0);
    const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const rgb = new Uint8Array((rgba.length / 4) * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
      rgb[j] = rgba[i]!;
      rgb[j + 1] = rgba[i + 1]!;
      rgb[j + 2] = rgba[i + 2]!;
    }
    let text = "";
    for (let i = 0; i < rgb.length; i += 0x8000) text += String.fromCharCode(...rgb.subarray(i, i + 0x8000));
    return { width: canvas.width, height: canvas.height, base64: btoa(text) };
  });
  return { width, height, rgb: new Uint8Array(Buffer.from(base64, "base64")) };
}

/** Waits until the player shows `label` and the video has settled on a frame. */
async function waitForTimecode(page: Page, label: string): Promise<void> {
  await page.waitForFunction(
    (want) => {
      const document = (globalThis as any).document;
      const video = document.getElementById("video");
      return document.getElementById("tc")!.textContent === want && !video.seeking && video.readyState >= 2;
    },
    label,
    { timeout: 30_000 },
  );
  // One more presented frame, so the picture drawn is the one the label names.
  await page.evaluate(
    () =>
      new Promise<void>((resolve) => {
        const video = (globalThis as any).document.getElementById("video");
        if ("requestVideoFrameCallback" in video) {
          video.requestVideoFrameCallback(() => resolve());
          setTimeout(resolve, 500);
        } else resolve();
      }),
  );
}

const clipPath = join(dir, "CARD", "CLIPS", "A001C007.mov");

/**
 * Checks that the player shows frame `index` of the clip: the timecode and frame number shown,
 * and the picture, whose PSNR against ffmpeg's frame `index` of the original is ≥ 35 dB and
 * higher than against the two frames either side (which stay under 35 dB).
 */
async function expectFrameShown(page: Page, index: number, timecode: string, what: string): Promise<void> {
  await waitForTimecode(page, timecode);
  expect([await page.locator("#tc").textContent(), await page.locator("#frame").textContent()]).toEqual([timecode, String(index)]);
  const shown = await frameOnScreen(page);
  const around = [index - 2, index - 1, index, index + 1, index + 2];
  const scores = around.map((n) => psnr(shown.rgb, ffmpegFrame(clipPath, n, shown.width, shown.height)));
  process.stderr.write(`portal: ${what}: PSNR of the frame on screen (${shown.width}x${shown.height}) against frames ${around[0]}-${around[4]}: ${scores.map((s) => s.toFixed(1)).join(", ")} dB\n`);
  expect(scores[2]!).toBeGreaterThanOrEqual(35);
  expect(Math.max(...scores)).toBe(scores[2]!);
  expect(scores[1]! < 35 && scores[3]! < 35).toBe(true);
}

beforeAll(async () => {
  if (!CHROMIUM) return;
  mkdirSync(join(dir, "CARD", "CLIPS"), { recursive: true });
  // A clip as a camera writes one: intra-frame, BT.709, timecode and reel in the file; testsrc2 moves every frame.
  const made = run([
    FFMPEG,
    "-v",
    "error",
    "-f",
    "lavfi",
    "-i",
    `testsrc2=s=${WIDTH}x${HEIGHT}:r=25:d=4`,
    "-f",
    "lavfi",
    "-i",
    "sine=f=440:d=4",
    "-vf",
    "scale=out_color_matrix=bt709,setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709",
    "-shortest",
    "-c:v",
    "prores",
    "-profile:v",
    "2",
    "-c:a",
    "pcm_s16le",
    "-timecode",
    "10:00:00:00",
    "-metadata:s:v:0",
    "reel_name=A001",
    clipPath,
  ]);
  expect(made.code).toBe(0);
  writeFileSync(join(dir, "CARD", "CLIPS", "A001C010.mov"), readFileSync(clipPath).subarray(0, 1000));
  writeFileSync(join(dir, "CARD", "notes s2.txt"), "s2\n");
  writeFileSync(join(dir, "CARD", "notes s10.txt"), "s10\n");
  const r = runners()[0]!;
  expect(tool(r, "mhl-verify", ["create", "CARD"], { cwd: dir }).code).toBe(0);
  writeFileSync(join(dir, "plan.json"), tool(r, "ltfs-pack", ["plan", "CARD", "--tape", "LTO-9", "--json"], { cwd: dir }).stdout);
  expect(tool(r, "ltfs-pack", ["write", "plan.json", "--tape", "1", "--vtape", "vt", "--serial", "PT0001"], { cwd: dir }).code).toBe(0);
  const sources = [await openSource(join(dir, "vt")), await openSource(join(dir, "CARD"))];
  server = startServer({ catalog: new Catalog(sources), listen: parseListen("127.0.0.1:0"), proxies: join(dir, "proxies") });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe("the portal in headless Chromium", () => {
  test("search, play the proxy, jump to a timecode (the frame is that frame), step, mark in/out, extract and download", async () => {
    if (!CHROMIUM) return;
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, acceptDownloads: true });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForSelector("tr.file");
    // Every file of both sources, in natural order (s2 before s10).
    expect(await page.locator("#count").textContent()).toBe("8 files");
    const paths = await page.locator("tr.file td.path").allTextContents();
    expect(paths.filter((p) => p.includes("notes"))).toEqual(["CARD/notes s2.txt", "CARD/notes s10.txt", "notes s2.txt", "notes s10.txt"]);
    // Search by name, then by digest.
    await page.fill("#q", "a001c007");
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll("tr.file").length === 2);
    const rows = await page.locator("tr.file").evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
    expect(rows.map((r) => [r[0], r[1], r[6]])).toEqual([
      ["PT0001", "CARD/CLIPS/A001C007.mov", "PT0001"],
      ["CARD", "CLIPS/A001C007.mov", "PT0001"],
    ]);
    const digest = rows[0]![5]!.split(":")[1]!;
    await page.fill("#q", digest.slice(0, 10));
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll("tr.file").length === 2);
    // Reels and timecodes are searchable once the clips are probed.
    await page.waitForFunction(
      async () => {
        const list = (await (await fetch("/api/files")).json()) as { timecode?: string }[];
        return list.some((f: { timecode?: string }) => f.timecode === "10:00:00:00");
      },
      undefined,
      { timeout: 60_000 },
    );
    await page.reload();
    await page.fill("#q", "10:00:00:00 a001 mov");
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll("tr.file").length === 2);

    // The clip on tape: its metadata and thumbnail.
    await page.click("tr.file");
    await page.waitForFunction(() => (globalThis as any).document.getElementById("meta")!.textContent!.includes("Start timecode"));
    const meta = await page.locator("#meta").textContent();
    expect(meta).toContain("Duration4.00 s (100 frames)");
    expect(meta).toContain("Codecprores");
    expect(meta).toContain(`Resolution${WIDTH}×${HEIGHT}`);
    expect(meta).toContain("Frame rate25");
    expect(meta).toContain("Start timecode10:00:00:00");
    expect(meta).toContain("ReelA001");
    await page.waitForFunction(() => (globalThis as any).document.getElementById("thumb").naturalWidth === 320);

    // Play: the proxies are made from the tape, then HLS plays and a first frame is shown.
    await page.click("#play");
    await page.waitForFunction(() => (globalThis as any).document.getElementById("ttff")!.dataset.ms !== undefined, undefined, { timeout: 120_000 });
    const ttff = Number(await page.locator("#ttff").getAttribute("data-ms"));
    process.stderr.write(`portal: first frame ${ttff.toFixed(0)} ms after the proxy was ready\n`);
    const master = (await (await fetch(new URL(`/api/clip?url=${encodeURIComponent("/files/PT0001/CARD/CLIPS/A001C007.mov")}`, server.url))).json()) as { proxies: { hls: string } };
    const playlist = await (await fetch(new URL(master.proxies.hls, server.url))).text();
    expect(playlist.match(/RESOLUTION=\d+x\d+/g)).toEqual(["RESOLUTION=640x360", "RESOLUTION=1280x720"]);

    // Jump to a typed timecode: the frame on screen is frame 60 of the original.
    await page.fill("#goto", "10:00:02:10");
    await page.click("#go");
    await expectFrameShown(page, 60, "10:00:02:10", "jump to 10:00:02:10");

    // Step one frame back and one forward: each time the picture and the timecode are that frame's.
    await page.click("#back");
    await expectFrameShown(page, 59, "10:00:02:09", "−1 frame");
    await page.click("#fwd");
    await expectFrameShown(page, 60, "10:00:02:10", "+1 frame");
    await page.click("#fwd");
    await expectFrameShown(page, 61, "10:00:02:11", "+1 frame");

    // Mark in; jump, mark out; extract with 5 frames of handles.
    await page.click("#mark-in");
    await page.fill("#goto", "10:00:03:00");
    await page.press("#goto", "Enter");
    await waitForTimecode(page, "10:00:03:00");
    await page.click("#mark-out");
    expect(await page.locator("#in").textContent()).toBe("10:00:02:11");
    expect(await page.locator("#out").textContent()).toBe("10:00:03:00");
    expect(await page.locator("#duration").textContent()).toBe("15 frames");
    await page.fill("#handles", "5");
    await page.selectOption("#codec", "prores_proxy");
    await page.click("#extract");
    await page.waitForSelector("#download:not([hidden])", { timeout: 120_000 });
    expect(await page.locator("#status").textContent()).toBe("25 frames from 10:00:02:06");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const saved = join(dir, "extracted.mov");
    await download.saveAs(saved);
    expect(download.suggestedFilename()).toBe("A001C007_10000206_25f_prores_proxy.mov");
    const probe = run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries", "stream=nb_read_frames:stream_tags=timecode", "-of", "default=nw=1", saved]);
    expect(probe.stdout).toBe("nb_read_frames=25\nTAG:timecode=10:00:02:06\n");
    // Its first frame is frame 56 of the original.
    const first = ffmpegFrame(saved, 0, 320, 180);
    expect(psnr(first, ffmpegFrame(clipPath, 56, 320, 180))).toBeGreaterThan(psnr(first, ffmpegFrame(clipPath, 57, 320, 180)));
    expect(psnr(first, ffmpegFrame(clipPath, 56, 320, 180))).toBeGreaterThanOrEqual(35);
    expect(existsSync(join(dir, "proxies", "extracts"))).toBe(true);
    expect(errors).toEqual([]);
    await page.close();

    // Other players: the progressive MP4, made when first asked for, served with ranges, carrying the source timecode.
    const mp4 = new URL(master.proxies.hls.replace(/hls\/master\.m3u8$/, "proxy.mp4"), server.url);
    let response = await fetch(mp4);
    expect([response.status, response.headers.get("retry-after")]).toEqual([503, "5"]);
    for (let i = 0; i < 600 && response.status === 503; i++) {
      await Bun.sleep(200);
      response = await fetch(mp4, { headers: { range: "bytes=0-99" } });
    }
    expect([response.status, response.headers.get("content-type")]).toEqual([206, "video/mp4"]);
    expect((await response.arrayBuffer()).byteLength).toBe(100);
    const whole = join(dir, "proxy.mp4");
    writeFileSync(whole, new Uint8Array(await (await fetch(mp4)).arrayBuffer()));
    // Proxies go out with their Content-Length, which some players want before they play.
    const span = Math.min(statSync(whole).size - 1000, 600_000);
    response = await fetch(mp4, { headers: { range: `bytes=1000-${999 + span}` } });
    expect([response.status, response.headers.get("content-length"), response.headers.get("transfer-encoding")]).toEqual([206, String(span), null]);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(new Uint8Array(readFileSync(whole).subarray(1000, 1000 + span)));
    const tags = run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries", "stream=height,nb_read_frames:stream_tags=timecode", "-of", "default=nw=1", whole]);
    expect(tags.stdout).toBe("height=720\nnb_read_frames=100\nTAG:timecode=10:00:00:00\n");
  }, 300_000);

  test("a vault's versions: each file's row and details say which branches (and commits) hold it; searching a branch finds them", async () => {
    if (!CHROMIUM) return;
    mkdirSync(join(dir, "grade"), { recursive: true });
    writeFileSync(join(dir, "grade", "A001C007.cdl"), "<ColorDecisionList/>\n");
    writeFileSync(join(dir, "grade", "A001C007.mov"), readFileSync(clipPath));
    mkdirSync(join(dir, "day1"), { recursive: true });
    writeFileSync(join(dir, "day1", "A001C007.mov"), readFileSync(clipPath));
    for (const args of [
      ["init", "VAULT"],
      ["commit", "VAULT", "day1", "-m", "day 1"],
      ["branch", "VAULT", "grade", "--from", "main"],
      ["commit", "VAULT", "grade", "--branch", "grade", "-m", "grade"],
    ]) {
      expect(tool(COMPILED, "cartvault", args, { cwd: dir }).code).toBe(0);
    }
    const commit = (branch: string) =>
      readFileSync(join(dir, "VAULT", "refs", "heads", branch), "utf8")
        .trim()
        .slice(0, 12);
    const sources = await openSources(join(dir, "VAULT"));
    const local = startServer({ catalog: new Catalog(sources), listen: parseListen("127.0.0.1:0"), proxies: join(dir, "proxies-vault"), probeClips: false });
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    try {
      await page.goto(local.url);
      await page.waitForSelector("tr.file");
      const rows = await page.locator("tr.file").evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
      expect(rows.map((r) => [r[0], r[1], r[7]])).toEqual([
        ["VAULT@grade", "A001C007.cdl", `VAULT@grade (${commit("grade")})`],
        ["VAULT@grade", "A001C007.mov", `VAULT@grade (${commit("grade")}), VAULT@main (${commit("main")})`],
        ["VAULT@main", "A001C007.mov", `VAULT@grade (${commit("grade")}), VAULT@main (${commit("main")})`],
      ]);
      expect(await page.locator("thead th").allTextContents()).toContain("Versions");
      await page.fill("#q", "vault@grade cdl");
      await page.waitForFunction(() => (globalThis as any).document.querySelectorAll("tr.file").length === 1);
      await page.click("tr.file");
      await page.waitForFunction(() => (globalThis as any).document.getElementById("meta")!.textContent!.includes("Versions"));
      expect(await page.locator("#meta").textContent()).toContain(`VersionsVAULT@grade (${commit("grade")})`);
    } finally {
      await page.close();
      await local.stop();
      for (const source of sources) source.close();
    }
  }, 120_000);
});
