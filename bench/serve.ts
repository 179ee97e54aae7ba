#!/usr/bin/env bun
/**
 * Serving speed: `dist/cartserve` serving a 1 GiB clip from a virtual tape (records read by
 * their extents) against nginx serving the same file from a folder (sendfile), both on
 * loopback, loaded by wrk with 64 connections asking for random 1 MiB ranges. wrk's Lua checks
 * every response: status 206, 1 MiB, and the body equal to the file's bytes at the range its
 * Content-Range names. Targets: throughput ≥ 0.8 × nginx's, p99 latency ≤ 1.5 × nginx's.
 *
 * Then 200 slow clients (half reading a whole file, half 1 MiB ranges, each taking a few KiB a
 * second) stay connected while wrk measures again: cartserve's RSS must stay under 300 MiB and
 * the others keep their speed. Last, time to first frame in the portal (headless Chromium) for a
 * 1080p original whose proxies are made.
 *
 *   bun bench/serve.ts                  full run: 3 × 30 s per server, interleaved
 *   bun bench/serve.ts --quick          1 × 5 s per server, prints only
 *   bun bench/serve.ts --baseline DIR   also DIR/dist/cartserve (another checkout), in the same rounds
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { BUN, GiB, MiB, ROOT, availableBytes, baselineOption, check, describeMachine, fail, loadAverage, median, probe, randomFile, ratio, warmCache, writeReport } from "./common.ts";

const quick = process.argv.includes("--quick");
const runs = quick ? 1 : 3;
const seconds = quick ? 5 : 30;
const SIZE = quick ? 256 * MiB : GiB;
const RANGE = MiB;
const CONNECTIONS = 64;
const SLOW_CLIENTS = 200;
const baseline = baselineOption(process.argv);

type Server = "nginx" | "cartserve" | "baseline";

interface WrkResult {
  requestsPerSecond: number;
  bytesPerSecond: number;
  p50ms: number;
  p99ms: number;
  responses: number;
  bad: number;
}

/** The wrk script: random 1 MiB ranges; every response checked against the file. */
function wrkScript(file: string, size: number): string {
  return `
local size = ${size}
local chunk = ${RANGE}
local path = "${file}"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  checked = 0
  bad = 0
  file = io.open(path, "rb")
end
function request()
  local s = math.random(0, size - chunk)
  return wrk.format("GET", nil, { ["Range"] = "bytes=" .. s .. "-" .. (s + chunk - 1) })
end
function response(status, headers, body)
  checked = checked + 1
  local cr = headers["Content-Range"] or headers["content-range"] or ""
  local a, b = cr:match("bytes (%d+)%-(%d+)/")
  if status ~= 206 or not a or #body ~= chunk or tonumber(b) - tonumber(a) + 1 ~= chunk then
    bad = bad + 1
    return
  end
  file:seek("set", tonumber(a))
  if file:read(chunk) ~= body then bad = bad + 1 end
end
function done(summary, latency, requests)
  local c, b = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("checked")
    b = b + t:get("bad")
  end
  io.write(string.format("CHECKED %d BAD %d\\n", c, b))
  io.write(string.format("P50 %f P99 %f\\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("RPS %f BYTES %f\\n", summary.requests / (summary.duration / 1e6), summary.bytes / (summary.duration / 1e6)))
end
`;
}

async function runWrk(url: string, script: string, duration: number, connections = CONNECTIONS): Promise<WrkResult> {
  const proc = Bun.spawn({ cmd: ["wrk", "-t2", `-c${connections}`, `-d${duration}s`, "--timeout", "10s", "-s", script, url], stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) fail(`wrk exited ${code}: ${err}${out}`);
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const result = {
    requestsPerSecond: num(/RPS ([\d.]+)/),
    bytesPerSecond: num(/BYTES ([\d.]+)/),
    p50ms: num(/P50 ([\d.]+)/),
    p99ms: num(/P99 ([\d.]+)/),
    responses: num(/CHECKED (\d+)/),
    bad: num(/BAD (\d+)/),
  };
  if (Number.isNaN(result.requestsPerSecond) || result.responses === 0) fail(`wrk printed no result:\n${out}\n${err}`);
  return result;
}

/** Resident memory of a process, bytes. */
function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Starts a process and waits until `url` answers. */
async function startServer(cmd: string[], url: string, cwd: string): Promise<ReturnType<typeof Bun.spawn>> {
  const proc = Bun.spawn({ cmd, cwd, stdout: "pipe", stderr: "pipe" });
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(url, { method: "HEAD" });
      return proc;
    } catch {
      await Bun.sleep(50);
    }
  }
  proc.kill();
  fail(`${cmd[0]} did not start: ${await new Response(proc.stderr as ReadableStream).text()}`);
}

/**
 * Idle and slow clients: half hold a connection with a request never finished; half are curl
 * reading at 16 KiB/s (of those, half ask for the whole file, half for a 1 MiB range), so the
 * server's writes back up against full sockets.
 */
function slowClients(port: number, path: string, count: number): { stop: () => Promise<void> } {
  const sockets: Socket[] = [];
  const curls: ReturnType<typeof Bun.spawn>[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) {
      const socket = connect(port, "127.0.0.1", () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`));
      socket.on("error", () => {});
      sockets.push(socket);
      continue;
    }
    const start = Math.floor(Math.random() * (SIZE - RANGE));
    const range = i % 4 === 1 ? [] : ["-r", `${start}-${start + RANGE - 1}`];
    curls.push(Bun.spawn({ cmd: ["curl", "-s", "--limit-rate", "16k", "-o", "/dev/null", ...range, `http://127.0.0.1:${port}${path}`], stdout: "ignore", stderr: "ignore" }));
  }
  return {
    async stop() {
      for (const socket of sockets) socket.destroy();
      for (const curl of curls) curl.kill();
      await Promise.all(curls.map((c) => c.exited));
    },
  };
}

async function timeToFirstFrame(portal: string, clipPath: string, rounds: number): Promise<{ ms: number[]; heights: number[] }> {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
  });
  const ms: number[] = [];
  const heights: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
      await page.goto(portal);
      await page.fill("#q", clipPath);
      await page.waitForSelector("tr.file");
      await page.click("tr.file");
      await page.waitForFunction(() => /^(proxy ready|no preview)/.test((globalThis as any).document.getElementById("proxy-state").textContent), undefined, { timeout: 60_000 });
      await page.click("#play");
      await page.waitForFunction(() => (globalThis as any).document.getElementById("ttff").dataset.ms !== undefined, undefined, { timeout: 60_000 });
      ms.push(Number(await page.locator("#ttff").getAttribute("data-ms")));
      heights.push(await page.evaluate(() => (globalThis as any).document.getElementById("video").videoHeight as number));
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return { ms, heights };
}

async function main(): Promise<void> {
  check([BUN, join(ROOT, "scripts/build.ts"), "cartserve", "ltfs-pack", "mhl-verify"]);
  const nginxVersion = probe(["nginx", "-v"]) ?? "nginx";
  const machine = describeMachine([nginxVersion, probe(["wrk", "--version"])?.split(" ").slice(0, 2).join(" ") ?? "wrk"]);
  const loadBefore = loadAverage();
  const dir = mkdtempSync(join(tmpdir(), "cartkit-bench-serve-"));
  const processes: ReturnType<typeof Bun.spawn>[] = [];
  try {
    if (availableBytes(dir) < 3 * SIZE + GiB) fail(`not enough space in ${dir}`);
    const card = join(dir, "www", "A001");
    mkdirSync(join(card, "CLIPS"), { recursive: true });
    const clip = join(card, "CLIPS", "A001C001.bin");
    randomFile(clip, SIZE);
    writeFileSync(join(dir, "plan.json"), check([join(ROOT, "dist/ltfs-pack"), "plan", "www/A001", "--tape", "LTO-9", "--json"], dir));
    check([join(ROOT, "dist/ltfs-pack"), "write", "plan.json", "--tape", "1", "--vtape", "vt", "--serial", "BX0001"], dir);
    // nginx's workers run as nobody: let them read the folder.
    check(["chmod", "-R", "a+rX", dir]);
    warmCache([clip]);
    check(["sh", "-c", "cat vt/1_*_R > /dev/null"], dir);

    // nginx as Debian configures it (worker_processes auto, sendfile on), serving the folder.
    const nginxPort = 18_780;
    const servePort = 18_781;
    mkdirSync(join(dir, "nginx"));
    writeFileSync(
      join(dir, "nginx", "nginx.conf"),
      [
        "worker_processes auto;",
        "daemon off;",
        `pid ${dir}/nginx/nginx.pid;`,
        `error_log ${dir}/nginx/error.log;`,
        "events { worker_connections 1024; }",
        "http {",
        "  access_log off;",
        "  sendfile on;",
        "  tcp_nopush on;",
        "  keepalive_requests 100000;",
        ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${dir}/nginx;`),
        `  server { listen 127.0.0.1:${nginxPort}; root ${dir}/www; location / { } }`,
        "}",
        "",
      ].join("\n"),
    );
    const script = join(dir, "ranges.lua");
    writeFileSync(script, wrkScript(clip, SIZE));
    const nginxUrl = `http://127.0.0.1:${nginxPort}/A001/CLIPS/A001C001.bin`;
    const serveUrl = `http://127.0.0.1:${servePort}/files/BX0001/A001/CLIPS/A001C001.bin`;
    const nginx = await startServer(["nginx", "-c", join(dir, "nginx", "nginx.conf")], nginxUrl, dir);
    processes.push(nginx);
    const serve = await startServer([join(ROOT, "dist/cartserve"), "vt", "--listen", `127.0.0.1:${servePort}`, "--proxies", join(dir, "proxies")], serveUrl, dir);
    processes.push(serve);
    const basePort = 18_783;
    const baseUrl = `http://127.0.0.1:${basePort}/files/BX0001/A001/CLIPS/A001C001.bin`;
    if (baseline) processes.push(await startServer([join(baseline.dir, "dist/cartserve"), "vt", "--listen", `127.0.0.1:${basePort}`, "--proxies", join(dir, "proxies-baseline")], baseUrl, dir));
    const urls: Record<Server, string> = { nginx: nginxUrl, cartserve: serveUrl, baseline: baseUrl };

    // 1. Random 1 MiB ranges, interleaved.
    const servers: Server[] = baseline ? ["nginx", "cartserve", "baseline"] : ["nginx", "cartserve"];
    const results: Record<Server, WrkResult[]> = { nginx: [], cartserve: [], baseline: [] };
    for (const who of servers) await runWrk(urls[who], script, 2);
    for (let i = 0; i < runs; i++) {
      // The order rotates, so no server always runs right after another.
      const order = servers.map((_, k) => servers[(k + i) % servers.length]!);
      for (const who of order) {
        const r = await runWrk(urls[who], script, seconds);
        console.log(`${who.padEnd(9)} ${(r.bytesPerSecond / MiB).toFixed(0)} MiB/s  ${r.requestsPerSecond.toFixed(0)} req/s  p50 ${r.p50ms.toFixed(1)} ms  p99 ${r.p99ms.toFixed(1)} ms  ${r.responses} responses, ${r.bad} wrong`);
        if (r.bad > 0) fail(`${who}: ${r.bad} responses were not the file's bytes`);
        results[who].push(r);
      }
    }
    const med = (who: Server, key: keyof WrkResult) => median(results[who].map((r) => r[key]));
    /** Median and range of one measure, e.g. `154 (140–170)`. */
    const spread = (who: Server, key: keyof WrkResult, show: (v: number) => string) => {
      const values = results[who].map((r) => r[key]);
      return values.length > 1 ? `${show(median(values))} (${show(Math.min(...values))}–${show(Math.max(...values))})` : show(values[0]!);
    };
    /** The ratio of one measure, cartserve (or the baseline) to nginx, in each round: `1.2× 1.4× 1.3×`. */
    const perRound = (who: Server, key: keyof WrkResult) => results[who].map((r, i) => ratio(r[key] / results.nginx[i]![key])).join(" ");
    const throughput = med("cartserve", "bytesPerSecond") / med("nginx", "bytesPerSecond");
    const p99 = med("cartserve", "p99ms") / med("nginx", "p99ms");

    // 2. 200 slow clients; the others' speed with and without them.
    const alone = await runWrk(serveUrl, script, quick ? 5 : 10);
    const rssBefore = rss(serve.pid);
    const slow = slowClients(servePort, "/files/BX0001/A001/CLIPS/A001C001.bin", SLOW_CLIENTS);
    await Bun.sleep(3000);
    let peak = rss(serve.pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rss(serve.pid))), 200);
    const withSlow = await runWrk(serveUrl, script, quick ? 5 : 10);
    clearInterval(sampler);
    peak = Math.max(peak, rss(serve.pid));
    await slow.stop();
    if (withSlow.bad > 0) fail(`cartserve with slow clients: ${withSlow.bad} responses were not the file's bytes`);
    console.log(`slow clients: RSS ${(rssBefore / MiB).toFixed(0)} → peak ${(peak / MiB).toFixed(0)} MiB; others ${(alone.bytesPerSecond / MiB).toFixed(0)} → ${(withSlow.bytesPerSecond / MiB).toFixed(0)} MiB/s, p99 ${alone.p99ms.toFixed(1)} → ${withSlow.p99ms.toFixed(1)} ms`);

    // 3. Time to first frame for a 1080p original's proxies.
    const original = join(dir, "www", "A001", "CLIPS", "A001C002.mov");
    check(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=25:d=4", "-c:v", "prores", "-profile:v", "0", "-timecode", "10:00:00:00", original]);
    const portalPort = 18_782;
    const portal = await startServer([join(ROOT, "dist/cartserve"), "www/A001", "--listen", `127.0.0.1:${portalPort}`, "--proxies", join(dir, "proxies-portal")], `http://127.0.0.1:${portalPort}/`, dir);
    processes.push(portal);
    // The proxies are made first (what is timed is playback, not encoding).
    const clipUrl = encodeURIComponent("/files/A001/CLIPS/A001C002.mov");
    for (let i = 0; ; i++) {
      const state = (await (await fetch(`http://127.0.0.1:${portalPort}/api/proxies?url=${clipUrl}`)).json()) as { error?: string; proxies?: { state: string; message?: string } };
      if (state.error || state.proxies?.state === "failed") fail(`the proxies could not be made: ${state.error ?? state.proxies?.message}`);
      if (state.proxies?.state === "ready") break;
      if (i > 3000) fail("the proxies took more than 10 minutes");
      await Bun.sleep(200);
    }
    const frames = await timeToFirstFrame(`http://127.0.0.1:${portalPort}/`, "A001C002", quick ? 3 : 7);
    console.log(`time to first frame: ${frames.ms.map((m) => m.toFixed(0)).join(", ")} ms (renditions ${[...new Set(frames.heights)].join(", ")}p)`);
    const loadAfter = loadAverage();

    const yes = (ok: boolean) => (ok ? "yes" : "**no**");
    const mibs = (b: number) => `${(b / MiB).toFixed(0)} MiB/s`;
    const lines = [
      `Run ${machine.date}${quick ? " (quick run)" : ""}; CPU: ${machine.cpu}; \`nproc\`: ${machine.nproc}; Bun ${machine.bun}; source ${machine.source}; ${machine.anchors.join("; ")}; load average before: ${loadBefore}, after: ${loadAfter} (wrk runs on the same ${machine.nproc} cores).`,
      "",
      `${CONNECTIONS} connections (wrk, 2 threads) asking for random 1 MiB ranges of a ${SIZE / MiB} MiB file for ${seconds} s; median (range) of ${runs} interleaved runs. cartserve serves it from a virtual tape (512 KiB records read by their extents), nginx from a folder (sendfile). Every response was checked by wrk's Lua against the file's bytes at its Content-Range: ${servers.map((who) => `${results[who].reduce((s, r) => s + r.responses, 0)} ${who}`).join(", ")} responses, none wrong.`,
      "",
      "| server | throughput MiB/s | requests/s | p50 ms | p99 ms | p99 / nginx's, each round |",
      "|---|---:|---:|---:|---:|---|",
      ...servers.map(
        (who) =>
          `| ${{ nginx: "nginx (folder, sendfile)", cartserve: "cartserve (virtual tape)", baseline: `cartserve before (${baseline?.source}), same rounds` }[who]} | ${spread(who, "bytesPerSecond", (v) => (v / MiB).toFixed(0))} | ${spread(who, "requestsPerSecond", (v) => v.toFixed(0))} | ${spread(who, "p50ms", (v) => v.toFixed(0))} | ${spread(who, "p99ms", (v) => v.toFixed(0))} | ${who === "nginx" ? "" : perRound(who, "p99ms")} |`,
      ),
      "",
      "| target | measured | met |",
      "|---|---:|---|",
      `| throughput ≥ 0.8 × nginx | ${ratio(throughput)} | ${yes(throughput >= 0.8)} |`,
      `| p99 latency ≤ 1.5 × nginx | ${ratio(p99)} | ${yes(p99 <= 1.5)} |`,
      `| ${SLOW_CLIENTS} slow clients: RSS < 300 MiB | ${(peak / MiB).toFixed(0)} MiB peak (${(rssBefore / MiB).toFixed(0)} MiB before) | ${yes(peak < 300 * MiB)} |`,
      `| the others keep their speed (64 connections, with / without the slow clients) | ${mibs(withSlow.bytesPerSecond)} / ${mibs(alone.bytesPerSecond)} = ${ratio(withSlow.bytesPerSecond / alone.bytesPerSecond)}; p99 ${withSlow.p99ms.toFixed(1)} / ${alone.p99ms.toFixed(1)} ms | ${yes(withSlow.bytesPerSecond >= 0.8 * alone.bytesPerSecond)} |`,
      `| time to first frame in the portal < 1 s (1080p original, proxies made; headless Chromium) | median ${median(frames.ms).toFixed(0)} ms [${frames.ms.map((m) => m.toFixed(0)).join(" ")}], rendition ${[...new Set(frames.heights)].join("/")}p | ${yes(median(frames.ms) < 1000)} |`,
      "",
      `Reproduce: \`node_modules/.bin/bun bench/serve.ts${baseline ? " --baseline DIR" : ""}\` (needs nginx, wrk, ffmpeg and chromium${baseline ? "; DIR is another checkout with dist/ built" : ""}).`,
    ];
    console.log(`\n${lines.join("\n")}`);
    if (!quick) writeReport("serve.ts", lines);
  } finally {
    for (const proc of processes.reverse()) {
      proc.kill();
      await proc.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
