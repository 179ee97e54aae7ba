/**
 * Prometheus metrics of offload jobs: `--metrics FILE` during and after a run, and `dispatchcopy
 * jobs --metrics` for every known job, each checked by promtool (the Prometheus project's own
 * linter) and read back value by value; failures and verification failures counted where they
 * happen, on real files.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, watch, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { anchor, COMPILED, randomBytes, run, runners, tempDir, tool } from "./helpers.ts";
import { escapeLabel } from "../lib/offload/metrics.ts";
import type { JobRecord } from "../lib/offload/jobs.ts";

const promtool = anchor("promtool");

/** promtool's verdict on an exposition: exit code and what it said. */
function promtoolCheck(text: string): { code: number; said: string } {
  const r = run([promtool!, "check", "metrics"], { stdin: text });
  return { code: r.code, said: (r.stdout + r.stderr).trim() };
}

/** The samples of an exposition, `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function card(path: string, count: number, size: number): void {
  mkdirSync(join(path, "CLIPS"), { recursive: true });
  for (let i = 1; i <= count; i++) writeFileSync(join(path, "CLIPS", `C00${i}.mov`), randomBytes(size, i));
}

describe.skipIf(!promtool)("metrics", () => {
  test("--metrics FILE is written while the job runs and at its end; promtool accepts both; every count per job and destination", async () => {
    const dir = tempDir("cartkit-metrics-");
    card(join(dir, "A001"), 4, 2_000_000);
    const proc = Bun.spawn([COMPILED.command("dispatchcopy")[0]!, "-r", "--rate-limit", "1MB/s", "--state-dir", "state", "--metrics", "job.prom", "A001", "d1/A001", "d2/A001"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    // The first write comes after five seconds, while the job still runs.
    let during = "";
    while (proc.exitCode === null && !during.includes('state="running"} 1')) {
      if (existsSync(join(dir, "job.prom"))) during = readFileSync(join(dir, "job.prom"), "utf8");
      await Bun.sleep(50);
    }
    expect(proc.exitCode).toBe(null);
    const id = /job="([^"]+)"/.exec(during)![1]!;
    expect(promtoolCheck(during)).toEqual({ code: 0, said: "" });
    const now = samples(during);
    expect(now.get(`cartkit_offload_job_state{job="${id}",state="running"}`)).toBe(1);
    expect(now.get(`cartkit_offload_job_planned_bytes{job="${id}"}`)).toBe(8_000_000);
    expect(now.get(`cartkit_offload_job_read_bytes_total{job="${id}"}`)).toBeGreaterThan(0);
    expect(now.get(`cartkit_offload_job_rate_bytes_per_second{job="${id}"}`)).toBeGreaterThan(0);
    expect(now.has(`cartkit_offload_job_eta_seconds{job="${id}"}`)).toBe(true);
    expect(await proc.exited).toBe(0);

    const end = readFileSync(join(dir, "job.prom"), "utf8");
    expect(promtoolCheck(end)).toEqual({ code: 0, said: "" });
    const last = samples(end);
    for (const state of ["queued", "running", "done", "failed", "cancelled", "interrupted"]) expect(last.get(`cartkit_offload_job_state{job="${id}",state="${state}"}`)).toBe(state === "done" ? 1 : 0);
    expect(last.get(`cartkit_offload_job_files_done_total{job="${id}"}`)).toBe(4);
    expect(last.get(`cartkit_offload_job_read_bytes_total{job="${id}"}`)).toBe(8_000_000);
    expect(last.get(`cartkit_offload_job_exit_code{job="${id}"}`)).toBe(0);
    expect(last.get(`cartkit_offload_job_rate_bytes_per_second{job="${id}"}`)).toBe(0);
    for (const d of ["d1/A001", "d2/A001"]) {
      const l = `{job="${id}",destination="${d}"}`;
      expect([
        last.get(`cartkit_offload_destination_copied_files_total${l}`),
        last.get(`cartkit_offload_destination_copied_bytes_total${l}`),
        last.get(`cartkit_offload_destination_verified_files_total${l}`),
        last.get(`cartkit_offload_destination_verified_bytes_total${l}`),
        last.get(`cartkit_offload_destination_errors_total${l}`),
        last.get(`cartkit_offload_destination_verification_failures_total${l}`),
        last.get(`cartkit_offload_destination_complete${l}`),
      ]).toEqual([4, 8_000_000, 4, 8_000_000, 0, 0, 1]);
    }
    expect(end).toContain(`cartkit_offload_job_info{job="${id}",source="A001",host="`);
    // The textfile collector reads *.prom only; nothing else is left beside it.
    expect(
      run(["ls", "-A", dir])
        .stdout.split("\n")
        .filter((n) => n.includes("prom")),
    ).toEqual(["job.prom"]);
  }, 60_000);

  test("a file that fails on a destination counts as an error there, a copy that reads back differently as a verification failure", async () => {
    const dir = tempDir("cartkit-metrics-fail-");
    mkdirSync(join(dir, "A001", "CLIPS"), { recursive: true });
    // Dense and big enough that its read-back, which starts as the copy gets its name, has not
    // reached its end when a bit there is flipped on d1 (a sparse file's read-back reads only its
    // data, done before the flip; the flip then fails the copy at the last look, exit 2).
    const fd = openSync(join(dir, "A001", "CLIPS", "C001.mov"), "w");
    const block = randomBytes(1024 * 1024, 1);
    for (let i = 0; i < 256; i++) {
      block[0] = i;
      writeSync(fd, block, 0, block.length, i * block.length);
    }
    closeSync(fd);
    writeFileSync(join(dir, "A001", "CLIPS", "C002.mov"), randomBytes(10_000, 3));
    // d2 has a folder where C002.mov goes: that file fails there.
    mkdirSync(join(dir, "d2", "A001", "CLIPS", "C002.mov"), { recursive: true });
    mkdirSync(join(dir, "d1", "A001", "CLIPS"), { recursive: true });
    const watcher = watch(join(dir, "d1", "A001", "CLIPS"), (_event, name) => {
      if (name !== "C001.mov") return;
      watcher.close();
      const path = join(dir, "d1", "A001", "CLIPS", "C001.mov");
      const at = 256 * 1024 * 1024 - 1000;
      const f = openSync(path, "r+");
      const byte = new Uint8Array(1);
      readSync(f, byte, 0, 1, at);
      byte[0] = byte[0]! ^ 8;
      writeSync(f, byte, 0, 1, at);
      closeSync(f);
    });
    const proc = Bun.spawn([COMPILED.command("dispatchcopy")[0]!, "-r", "--state-dir", "state", "--metrics", "job.prom", "A001", "d1/A001", "d2/A001"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    const code = await proc.exited;
    watcher.close();
    const stderr = await new Response(proc.stderr).text();
    expect(code).toBe(1);
    expect(stderr).toContain("dispatchcopy: d1/A001/CLIPS/C001.mov: VERIFICATION FAILED: read back from the device, the digest differs from the source's\n");
    const text = readFileSync(join(dir, "job.prom"), "utf8");
    expect(promtoolCheck(text)).toEqual({ code: 0, said: "" });
    const m = samples(text);
    const id = /job="([^"]+)"/.exec(text)![1]!;
    const of = (name: string, d: string) => m.get(`cartkit_offload_destination_${name}{job="${id}",destination="${d}"}`);
    expect(["errors_total", "verification_failures_total", "verified_files_total", "copied_files_total", "complete"].map((n) => of(n, "d1/A001"))).toEqual([1, 1, 1, 2, 0]);
    expect(["errors_total", "verification_failures_total", "verified_files_total", "copied_files_total", "complete"].map((n) => of(n, "d2/A001"))).toEqual([1, 0, 1, 1, 0]);
    expect(m.get(`cartkit_offload_job_state{job="${id}",state="failed"}`)).toBe(1);
    expect(m.get(`cartkit_offload_job_exit_code{job="${id}"}`)).toBe(1);
  }, 120_000);

  for (const runner of runners()) {
    test(`jobs --metrics prints every known job, names escaped; promtool accepts it (${runner.label})`, async () => {
      const dir = tempDir("cartkit-metrics-all-");
      card(join(dir, "A001"), 1, 100_000);
      const odd = 'we"ird\\name\nline';
      expect(tool(runner, "dispatchcopy", ["-r", "--state-dir", "state", "A001", join("d1", odd)], { cwd: dir }).code).toBe(0);
      expect(tool(runner, "dispatchcopy", ["-r", "--state-dir", "state", "A001", "d2"], { cwd: dir }).code).toBe(0);
      // A third, killed while it runs: interrupted.
      const proc = Bun.spawn([COMPILED.command("dispatchcopy")[0]!, "-r", "--rate-limit", "10KB/s", "--state-dir", "state", "A001", "d3"], { cwd: dir, stdout: "ignore", stderr: "ignore" });
      let killed: JobRecord | undefined;
      while (!killed) {
        const line = tool(runner, "dispatchcopy", ["jobs", "--json", "--state-dir", "state"], { cwd: dir })
          .stdout.split("\n")
          .find((l) => l.includes('"destinations":["d3"]'));
        killed = line ? (JSON.parse(line) as JobRecord) : undefined;
        await Bun.sleep(50);
      }
      proc.kill("SIGKILL");
      await proc.exited;
      const result = tool(runner, "dispatchcopy", ["jobs", "--metrics", "--state-dir", "state"], { cwd: dir });
      expect(result.code).toBe(0);
      expect(promtoolCheck(result.stdout)).toEqual({ code: 0, said: "" });
      const m = samples(result.stdout);
      const ids = [...new Set([...result.stdout.matchAll(/job_info\{job="([^"]+)"/g)].map((x) => x[1]!))];
      expect(ids.length).toBe(3);
      expect(m.get(`cartkit_offload_job_state{job="${killed.id}",state="interrupted"}`)).toBe(1);
      expect(m.get(`cartkit_offload_job_state{job="${ids[0]}",state="done"}`)).toBe(1);
      // showName turns the line feed into \n and doubles the backslash; the label escaping then doubles every backslash and escapes the quote.
      expect(escapeLabel(`d1/we"ird\\\\name\\nline`)).toBe('d1/we\\"ird\\\\\\\\name\\\\nline');
      expect(result.stdout).toContain(`cartkit_offload_destination_verified_files_total{job="${ids[0]}",destination="d1/we\\"ird\\\\\\\\name\\\\nline"} 1\n`);
    }, 60_000);
  }
});
