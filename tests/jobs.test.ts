/**
 * Offloads as jobs, with real processes: every run keeps a state file; `dispatchcopy jobs`
 * lists, shows, cancels, resumes and prunes them; a killed job shows as interrupted and resumes
 * to the same result; a cancel during a 2 GiB copy leaves no partial file; `--queue` keeps two
 * cards on one drive from ever writing at the same time, and lets cards on different drives go
 * at once; a process that dies holding the queue's lock does not block it.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { asNobody, COMPILED, IS_ROOT, randomBytes, run, runners, straceOrSkip, tempDir, tool } from "./helpers.ts";
import { exfat, tmpfs, xfs } from "./faults/mounts.ts";
import { currentUser, JobStore, type JobRecord } from "../lib/offload/jobs.ts";

const ID = /^dispatchcopy: job (\d{8}-\d{6}-[0-9a-f]{4})$/m;

/** A card of `count` files of `size` bytes in CLIPS/, and a sidecar. */
function card(path: string, count = 3, size = 1_000_000, seed = 1): string {
  mkdirSync(join(path, "CLIPS"), { recursive: true });
  for (let i = 1; i <= count; i++) writeFileSync(join(path, "CLIPS", `C${String(i).padStart(3, "0")}.mov`), randomBytes(size, seed * 100 + i));
  writeFileSync(join(path, "meta.xml"), "<clip/>\n");
  return path;
}

/** Every job state file in a folder. */
function jobsIn(stateDir: string): JobRecord[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(".json") && !n.startsWith("."))
    .flatMap((n) => {
      try {
        return [JSON.parse(readFileSync(join(stateDir, n), "utf8")) as JobRecord];
      } catch {
        return []; // being replaced: the next look sees it
      }
    });
}

/** Polls until `check` gives a value (or fails the test after `ms`). */
async function waitFor<T>(what: string, check: () => T | undefined, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

/** A dispatchcopy process, its output collected. */
function start(args: string[], cwd: string): { proc: ReturnType<typeof Bun.spawn>; done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> } {
  const proc = Bun.spawn([join(COMPILED.command("dispatchcopy")[0]!), ...args], { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const done = (async () => {
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout as ReadableStream).text(), new Response(proc.stderr as ReadableStream).text()]);
    await proc.exited;
    return { code: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode), stdout, stderr };
  })();
  return { proc, done };
}

for (const runner of runners()) {
  describe(`dispatchcopy jobs (${runner.label})`, () => {
    const dc = (args: string[], cwd: string, env?: Record<string, string>) => tool(runner, "dispatchcopy", args, { cwd, env });

    test("a job that starts reads no state file of a job that ended once it is in the index; its ticket still follows the last given (needs strace)", () => {
      const strace = straceOrSkip();
      if (!strace) return;
      const dir = tempDir("cartkit-jobs-index-");
      card(join(dir, "A001"), 1, 1000);
      const state = join(dir, "state");
      // A store of an earlier version: no index; forty jobs that ended.
      const first = ID.exec(dc(["-r", "--state-dir", "state", "A001", "d1/A001"], dir).stderr)![1]!;
      rmSync(join(state, "ended"), { force: true });
      const done = JSON.parse(readFileSync(join(state, `${first}.json`), "utf8")) as JobRecord;
      for (let i = 0; i < 40; i++) {
        const id = `20250101-000000-${String(i).padStart(4, "0")}`;
        writeFileSync(join(state, `${id}.json`), JSON.stringify({ ...done, id, ticket: 100 + i }));
      }
      const opened = (log: string) =>
        readFileSync(log, "utf8")
          .split("\n")
          .filter((line) => /openat\(.*"state\/[^"]*\.json"/.test(line) && line.includes("O_RDONLY"))
          .map((line) => /"state\/([^"]*\.json)"/.exec(line)![1]!);
      const runTraced = (name: string) => {
        const log = join(dir, `${name}.strace`);
        const r = run([strace, "-f", "-qq", "-o", log, "-e", "trace=openat", ...runner.command("dispatchcopy"), "-r", "--state-dir", "state", "A001", `${name}/A001`], { cwd: dir });
        expect(r.code).toBe(0);
        return { id: ID.exec(r.stderr)![1]!, opened: opened(log) };
      };
      // The first start after them reads them all, once.
      const indexing = runTraced("d2");
      expect(indexing.opened.length).toBeGreaterThanOrEqual(41);
      // Then only what the index does not name: the job before (which ended after that start),
      // one an earlier version wrote and left running as its file says (its process gone), and
      // another host's that looks stale: the last two read each time (a start that cannot see a
      // process, from another PID namespace say, must not hide it from the next ones).
      const other = "20250102-000000-abcd";
      writeFileSync(join(state, `${other}.json`), JSON.stringify({ ...done, id: other, state: "running", pid: 999_999_999, ticket: 7 }));
      const elsewhere = "20250102-000000-ef01";
      writeFileSync(join(state, `${elsewhere}.json`), JSON.stringify({ ...done, id: elsewhere, host: "another-cart", state: "running", updated: "2025-01-02T00:00:00.000Z", ticket: 8 }));
      const next = runTraced("d3");
      expect(next.opened.sort()).toEqual([`${indexing.id}.json`, `${other}.json`, `${elsewhere}.json`].sort());
      const last = runTraced("d4");
      expect(last.opened.sort()).toEqual([`${next.id}.json`, `${other}.json`, `${elsewhere}.json`].sort());
      // A name the list cannot hold as one line is read each time, never listed.
      const odd = "20250103-000000-a\nb";
      writeFileSync(join(state, `${odd}.json`), JSON.stringify({ ...done, id: odd }));
      runTraced("d5");
      expect(readFileSync(join(state, "ended"), "utf8")).not.toContain("a\nb");
      // (strace shows the newline as \n)
      expect(runTraced("d6").opened).toContain("20250103-000000-a\\nb.json");
      // Another user's list is not read: a store others can write could hide a live job with it.
      if (IS_ROOT) {
        run(["chown", "65534", join(state, "ended")]);
        expect(runTraced("d7").opened.length).toBeGreaterThanOrEqual(45);
      }
      const ticket = (id: string) => (JSON.parse(readFileSync(join(state, `${id}.json`), "utf8")) as JobRecord).ticket;
      expect([ticket(indexing.id), ticket(next.id), ticket(last.id)]).toEqual([140, 141, 142]);
      expect(readFileSync(join(state, "ended"), "utf8").startsWith("cartkit-ended-jobs/1 ticket=")).toBe(true);
      // An index that is a FIFO, a link, or not one is read as none: every file is read, none written through.
      for (const plant of ["fifo", "link", "garbage"]) {
        rmSync(join(state, "ended"), { force: true });
        if (plant === "fifo") run(["mkfifo", join(state, "ended")]);
        else if (plant === "link") symlinkSync(join(dir, "outside.txt"), join(state, "ended"));
        else writeFileSync(join(state, "ended"), "not an index\n");
        writeFileSync(join(dir, "outside.txt"), "outside\n");
        const planted = runTraced(`p-${plant}`);
        expect(planted.opened.length).toBeGreaterThanOrEqual(45);
        expect(readFileSync(join(dir, "outside.txt"), "utf8")).toBe("outside\n");
      }
    });

    test("every run is a job: its id on stderr at start, in every --json event and the report; its state file says how it ended", () => {
      const dir = tempDir("cartkit-jobs-");
      card(join(dir, "A001"));
      const result = dc(["-r", "--json", "-t", "xxh128", "--state-dir", "state", "--report", "report.json", "A001", "d1/A001", "d2/A001"], dir);
      expect(result.code).toBe(0);
      const id = ID.exec(result.stderr)![1]!;
      expect(result.stderr.split("\n")[0]).toBe(`dispatchcopy: job ${id}`);
      const events = result.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(events.length).toBeGreaterThan(5);
      expect(events.filter((e) => e.job !== id)).toEqual([]);
      expect(events[0]).toMatchObject({ event: "start", job: id, files: 4 });
      expect(JSON.parse(readFileSync(join(dir, "report.json"), "utf8")).job).toBe(id);

      const record = JSON.parse(readFileSync(join(dir, "state", `${id}.json`), "utf8")) as JobRecord;
      const bytes = 3 * 1_000_000 + 8;
      expect(record).toMatchObject({
        format: "cartkit-job/1",
        id,
        state: "done",
        exitCode: 0,
        cwd: dir,
        source: "A001",
        destinations: ["d1/A001", "d2/A001"],
        args: ["-r", "--json", "-t", "xxh128", "--state-dir", "state", "--report", "report.json", "A001", "d1/A001", "d2/A001"],
        files: 4,
        bytes,
        doneFiles: 4,
        copiedBytes: bytes,
        runs: 1,
        queue: false,
        report: "report.json",
      });
      expect(record.destinationProgress).toEqual(
        ["d1/A001", "d2/A001"].map((root) => ({
          root,
          copiedFiles: 4,
          copiedBytes: bytes,
          verifiedFiles: 4,
          verifiedBytes: bytes,
          errors: 0,
          verificationFailures: 0,
          rate: 0,
          complete: true,
          summary: "4 files, 2.9 MiB verified from the device",
        })),
      );
      expect(Date.parse(record.ended!)).toBeGreaterThanOrEqual(Date.parse(record.started!));

      const table = dc(["jobs", "--state-dir", "state"], dir);
      expect(table.code).toBe(0);
      expect(table.stdout.split("\n")[0]).toBe("ID                    STATE  DONE  RATE  ETA  AGE  SOURCE → DESTINATIONS");
      expect(table.stdout.split("\n")[1]).toMatch(new RegExp(`^${id}  done   100%  -     -    \\d+s   A001 → d1/A001, d2/A001$`));
    });

    test("file mode keeps its stderr (no job line off a terminal; -v: Offload Manager's lines), and is still a job", () => {
      const dir = tempDir("cartkit-jobs-");
      mkdirSync(join(dir, "d1"));
      writeFileSync(join(dir, "clip.mov"), randomBytes(300_000, 5));
      const result = dc(["-v", "--state-dir", "state", "clip.mov", "d1"], dir);
      expect(result.code).toBe(0);
      expect(result.stderr.split("\n")[0]).toBe("INFO: copying clip.mov...");
      expect(result.stderr).not.toContain("dispatchcopy: job");
      const [record] = jobsIn(join(dir, "state"));
      expect(record).toMatchObject({ state: "done", exitCode: 0, files: 1, bytes: 300_000, destinations: ["d1"] });
      const quiet = dc(["--state-dir", "state2", "clip.mov", "d2/clip.mov"], dir);
      mkdirSync(join(dir, "d2"));
      const plain = dc(["--state-dir", "state2", "clip.mov", "d2"], dir);
      expect([quiet.code, quiet.stderr, plain.code, plain.stderr]).toEqual([2, "dispatchcopy: d2/clip.mov: failed: its folder cannot be used: No such file or directory\n", 0, ""]);
      expect(
        jobsIn(join(dir, "state2"))
          .map((j) => j.state)
          .sort(),
      ).toEqual(["done", "failed"]);
      expect(record!.destinationProgress[0]).toMatchObject({ root: "d1", verifiedFiles: 1, verifiedBytes: 300_000, complete: true, summary: "verified" });
    });

    test("jobs show by a part of the id; unknown, ambiguous and impossible requests are one line and exit 2", () => {
      const dir = tempDir("cartkit-jobs-");
      card(join(dir, "A001"), 1);
      const ids = [dc(["-r", "--state-dir", "state", "A001", "d1/A001"], dir), dc(["-r", "--state-dir", "state", "A001", "d2/A001"], dir)].map((r) => ID.exec(r.stderr)![1]!);
      const show = dc(["jobs", "show", ids[1]!.slice(-4), "--state-dir", "state"], dir);
      expect(show.code).toBe(0);
      expect(show.stdout).toContain(`job          ${ids[1]}\nstate        done\nsource       A001\ncommand      cd ${dir} && dispatchcopy -r --state-dir state A001 d2/A001\n`);
      expect(show.stdout).toContain("destination  d2/A001: 2 copied, 2 verified (976.6 KiB), 0 failed; 2 files, 976.6 KiB verified from the device\n");
      const json = JSON.parse(dc(["jobs", "show", ids[0]!, "--json", "--state-dir", "state"], dir).stdout);
      expect(json).toMatchObject({ id: ids[0], state: "done", recordedState: "done", destinations: ["d1/A001"] });
      const lines = dc(["jobs", "--json", "--state-dir", "state"], dir)
        .stdout.trim()
        .split("\n")
        .map((l) => JSON.parse(l).id);
      expect(lines).toEqual(ids);

      const state = join(dir, "state");
      const cases: Array<[string[], string]> = [
        [["jobs", "show", "nope"], `dispatchcopy jobs: no job 'nope' in ${state}; see 'dispatchcopy jobs'\n`],
        [["jobs", "show", "20"], `dispatchcopy jobs: '20' fits 2 jobs (${ids.join(", ")}); give more of the id\n`],
        [["jobs", "show"], "dispatchcopy jobs: jobs show needs a job ID; see 'dispatchcopy jobs'\n"],
        [["jobs", "frob"], "dispatchcopy jobs: unknown jobs command 'frob'; use show, cancel, resume or prune (see 'dispatchcopy jobs --help')\n"],
        [["jobs", "cancel", ids[0]!], `dispatchcopy jobs: job ${ids[0]} is done; there is nothing to cancel\n`],
        [["jobs", "resume", ids[0]!], `dispatchcopy jobs: job ${ids[0]} is done; there is nothing to resume (see 'dispatchcopy jobs show ${ids[0]}')\n`],
        [["jobs", "prune", "--older-than", "soon"], "dispatchcopy jobs: invalid --older-than 'soon'; use a number with s, m, h, d or w, e.g. 90s, 12h, 7d, 1h30m\n"],
      ];
      for (const [args, stderr] of cases) {
        const r = dc([...args, "--state-dir", state], dir);
        expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 2, stderr });
      }
      const empty = dc(["jobs", "--state-dir", "none"], dir);
      expect([empty.code, empty.stdout, empty.stderr]).toEqual([0, "", "dispatchcopy: no jobs in none\n"]);
    });

    test("a state folder that cannot be used is said and the run goes on; --queue refuses to run without one", () => {
      const dir = tempDir("cartkit-jobs-");
      card(join(dir, "A001"), 1);
      writeFileSync(join(dir, "file"), "");
      const result = dc(["-r", "--state-dir", "file/jobs", "A001", "d1/A001"], dir);
      expect(result.code).toBe(0);
      expect(result.stderr.split("\n")[0]).toBe("dispatchcopy: file/jobs: job state not kept: Not a directory");
      const queued = dc(["-r", "--queue", "--state-dir", "file/jobs", "A001", "d2/A001"], dir);
      expect([queued.code, queued.stderr]).toEqual([2, "dispatchcopy: file/jobs: --queue needs the job state folder, which cannot be used: Not a directory\n"]);
      if (IS_ROOT) {
        // Someone else's folder: nobody may not write in it.
        mkdirSync(join(dir, "theirs"), { mode: 0o700 });
        run(["chmod", "-R", "a+rwX", join(dir, "A001")]);
        run(["chmod", "a+rwx", dir]);
        const cmd = runner.command("dispatchcopy");
        const nobody = run(asNobody([...cmd, "-r", "--state-dir", "theirs", "A001", "d3/A001"]), { cwd: dir });
        expect([nobody.code, nobody.stderr.split("\n")[0]]).toEqual([0, "dispatchcopy: theirs: job state not kept: Permission denied"]);
      }
    });

    test("a state file that is not a job's is named, the others listed, exit 2", () => {
      const dir = tempDir("cartkit-jobs-");
      card(join(dir, "A001"), 1);
      const id = ID.exec(dc(["-r", "--state-dir", "state", "A001", "d1/A001"], dir).stderr)![1]!;
      writeFileSync(join(dir, "state", "20261201-000000-dead.json"), "{");
      writeFileSync(join(dir, "state", "20261201-000000-beef.json"), JSON.stringify({ format: "something-else" }));
      // A job's file but for the fields a listing shows; a FIFO and a link under a job's name.
      const done = JSON.parse(readFileSync(join(dir, "state", `${id}.json`), "utf8")) as Record<string, unknown>;
      writeFileSync(join(dir, "state", "20261201-000000-cafe.json"), JSON.stringify({ ...done, id: "20261201-000000-cafe", source: undefined, ticket: "7" }));
      run(["mkfifo", join(dir, "state", "20261201-000000-f1f0.json")]);
      writeFileSync(join(dir, "outside.json"), JSON.stringify({ ...done, id: "20261201-000000-1111" }));
      symlinkSync(join(dir, "outside.json"), join(dir, "state", "20261201-000000-1111.json"));
      const listed = dc(["jobs", "--state-dir", "state"], dir);
      expect(listed.code).toBe(2);
      expect(listed.stdout.split("\n")[1]).toStartWith(`${id}  done`);
      expect(listed.stdout.split("\n").length).toBe(3);
      const lines = listed.stderr.trim().split("\n");
      expect(lines[0]).toBe("dispatchcopy: state/20261201-000000-1111.json: a symbolic link");
      expect(lines[1]).toBe("dispatchcopy: state/20261201-000000-beef.json: not a job state file: its format, id or state is not a job's");
      expect(lines[2]).toBe("dispatchcopy: state/20261201-000000-cafe.json: not a job state file: source, ticket missing or not of its kind");
      expect(lines[3]).toStartWith("dispatchcopy: state/20261201-000000-dead.json: not a job state file: ");
      expect(lines[4]).toBe("dispatchcopy: state/20261201-000000-f1f0.json: not a regular file");
      expect(lines.length).toBe(5);
      // A start reads past them all, and waits on none.
      expect(dc(["-r", "--state-dir", "state", "A001", "d2/A001"], dir).code).toBe(0);
    });
  });
}

test("the store's index: a job that ended is not read again, until it starts again (--resume); one that says it runs is read each time", () => {
  const dir = tempDir("cartkit-jobs-store-");
  const store = new JobStore(join(dir, "state"));
  store.ensure();
  const now = new Date().toISOString();
  const record = (id: string, state: JobRecord["state"], ticket: number) =>
    ({ format: "cartkit-job/1", id, state, ticket, pid: 999_999_999, process: null, host: "elsewhere", user: "someone", cwd: "/", source: "A001", args: [], created: now, updated: now, destinations: [], devices: ["1"], destinationProgress: [], doneFiles: 0, copiedBytes: 0, rate: 0, runs: 1 }) as unknown as JobRecord;
  store.create(record("20260101-000000-aaaa", "failed", 3));
  store.create(record("20260101-000000-bbbb", "running", 4));
  expect(store.liveJobs()).toEqual({ jobs: [expect.objectContaining({ id: "20260101-000000-bbbb" })], lastTicket: 4 });
  expect(readFileSync(join(dir, "state", "ended"), "utf8")).toBe("cartkit-ended-jobs/1 ticket=4\n20260101-000000-aaaa\n");
  // Ended, then resumed: its file says it runs again, and the index lets it be read.
  store.liveJobs();
  const resumed = record("20260101-000000-aaaa", "running", 5);
  store.started(resumed);
  store.save(resumed);
  expect(new JobStore(join(dir, "state")).liveJobs().jobs.map((j) => j.id)).toEqual(["20260101-000000-aaaa", "20260101-000000-bbbb"]);
  expect(readFileSync(join(dir, "state", "ended"), "utf8")).toBe("cartkit-ended-jobs/1 ticket=5\n\n");
});

describe("dispatchcopy jobs with real processes (compiled)", () => {
  const dc = (args: string[], cwd: string, env?: Record<string, string>) => tool(COMPILED, "dispatchcopy", args, { cwd, env });

  test("a job killed with SIGKILL is listed as interrupted with the command that resumes it; resumed, it ends as a run that was never stopped", async () => {
    const dir = tempDir("cartkit-jobs-kill-");
    card(join(dir, "A001"), 6, 2_000_000);
    const args = ["-r", "-t", "xxh128", "--sums", "A001.xxh", "--rate-limit", "3MB/s", "--state-dir", "state", "A001", "d1/A001", "d2/A001"];
    const { proc, done } = start(args, dir);
    const running = await waitFor("the job to copy its first files", () => jobsIn(join(dir, "state")).find((j) => j.state === "running" && j.doneFiles >= 1));
    proc.kill("SIGKILL");
    expect((await done).signal).toBe("SIGKILL");

    const listed = JSON.parse(dc(["jobs", "--json", "--state-dir", "state"], dir).stdout);
    expect(listed).toMatchObject({ id: running.id, state: "interrupted", recordedState: "running", resume: `dispatchcopy jobs resume ${running.id}` });
    const table = dc(["jobs", "--state-dir", "state"], dir).stdout.split("\n");
    expect(table[1]).toMatch(new RegExp(`^${running.id}  interrupted  \\d+%`));
    expect(table[2]).toBe(`${" ".repeat(22)}interrupted (its process ${running.pid} is gone); resume with: dispatchcopy jobs resume ${running.id}`);

    const resumed = dc(["jobs", "resume", running.id, "--state-dir", "state"], dir);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`dispatchcopy: job ${running.id}\n`);
    const after = JSON.parse(readFileSync(join(dir, "state", `${running.id}.json`), "utf8")) as JobRecord;
    expect(after).toMatchObject({ id: running.id, state: "done", exitCode: 0, runs: 2, args, created: running.created });
    expect(dc(["jobs", "resume", running.id, "--state-dir", "state"], dir).code).toBe(2);

    // The same as a run that was never interrupted: sums, files, ASC MHL.
    expect(dc(["-r", "-t", "xxh128", "--sums", "ref.xxh", "--state-dir", "state", "A001", "ref/A001"], dir).code).toBe(0);
    expect(readFileSync(join(dir, "A001.xxh"), "utf8")).toBe(readFileSync(join(dir, "ref.xxh"), "utf8"));
    for (const d of ["d1", "d2"]) {
      expect(readdirSync(join(dir, d, "A001", "CLIPS")).sort()).toEqual(readdirSync(join(dir, "A001", "CLIPS")).sort());
      for (const name of readdirSync(join(dir, "A001", "CLIPS"))) expect(readFileSync(join(dir, d, "A001", "CLIPS", name)).equals(readFileSync(join(dir, "A001", "CLIPS", name)))).toBe(true);
      expect(run(["xxhsum", "-c", join(dir, "A001.xxh")], { cwd: join(dir, d, "A001") }).code).toBe(0);
      expect(tool(COMPILED, "mhl-verify", ["verify", join(dir, d, "A001")]).code).toBe(0);
    }
  }, 120_000);

  test("jobs cancel during a 2 GiB copy: SIGTERM, the partial file removed, the job recorded as cancelled, cancel exits 0", async () => {
    const dir = tempDir("cartkit-jobs-cancel-");
    // A file system without nameless files (exFAT through FUSE) shows the partial file by name.
    const dest = (IS_ROOT ? exfat(dir, "dest", 3000)?.path : undefined) ?? join(dir, "dest");
    mkdirSync(dest, { recursive: true });
    expect(run(["dd", "if=/dev/zero", `of=${join(dir, "big.mov")}`, "bs=1M", "count=2048", "status=none"]).code).toBe(0);
    expect(statSync(join(dir, "big.mov")).size).toBe(2 * 1024 ** 3);
    const { done } = start(["--rate-limit", "150MB/s", "--state-dir", "state", "big.mov", dest], dir);
    const job = await waitFor("the copy to be under way", () => jobsIn(join(dir, "state")).find((j) => j.state === "running" && j.copiedBytes > 64 * 1024 * 1024));
    const partials = () => readdirSync(dest).filter((n) => n.endsWith(".partial"));
    if (IS_ROOT) expect(partials().length).toBe(1);
    const cancel = dc(["jobs", "cancel", job.id, "--state-dir", "state"], dir);
    expect([cancel.code, cancel.stdout, cancel.stderr]).toEqual([0, "", `dispatchcopy: job ${job.id} cancelled; its partial files are removed; 'dispatchcopy jobs resume ${job.id}' finishes it\n`]);
    const ended = await done;
    expect(ended.code).toBe(143);
    expect(ended.stderr).toContain("dispatchcopy: interrupted (SIGTERM)");
    expect(readdirSync(dest)).toEqual([]);
    const record = JSON.parse(readFileSync(join(dir, "state", `${job.id}.json`), "utf8")) as JobRecord;
    expect(record).toMatchObject({ state: "cancelled", signal: "SIGTERM", exitCode: 143 });
    expect(record.copiedBytes).toBeLessThan(2 * 1024 ** 3);
    const again = dc(["jobs", "cancel", job.id, "--state-dir", "state"], dir);
    expect([again.code, again.stderr]).toEqual([2, `dispatchcopy jobs: job ${job.id} is cancelled; there is nothing to cancel\n`]);
  }, 120_000);

  test("--queue: a second card on the same drive waits and starts when the first ends; their writes never interleave", async () => {
    const dir = tempDir("cartkit-jobs-queue-");
    // A real file system that records birth times: every write of B must come after A's last change.
    const raid = (IS_ROOT ? xfs(dir, "raid", 300)?.path : undefined) ?? join(dir, "raid");
    card(join(dir, "A001"), 4, 1_000_000, 1);
    card(join(dir, "B001"), 4, 1_000_000, 2);
    const a = start(["-r", "--queue", "--rate-limit", "2MB/s", "--state-dir", "state", "A001", join(raid, "A001")], dir);
    const first = await waitFor("A to run", () => jobsIn(join(dir, "state")).find((j) => j.source === "A001" && j.state === "running"));
    const b = start(["-r", "--queue", "--json", "--rate-limit", "2MB/s", "--state-dir", "state", "B001", join(raid, "B001")], dir);
    const queued = await waitFor("B to queue", () => jobsIn(join(dir, "state")).find((j) => j.source === "B001" && j.state === "queued"));
    expect(queued).toMatchObject({ position: 1, waitingFor: [first.id], queue: true });
    const table = dc(["jobs", "--state-dir", "state"], dir).stdout;
    expect(table).toMatch(new RegExp(`\\n${queued.id}  queued #1 `));
    // Never both running, however often one looks.
    let both = 0;
    let looks = 0;
    const watching = (async () => {
      for (;;) {
        const jobs = jobsIn(join(dir, "state"));
        if (jobs.filter((j) => j.state === "running").length > 1) both++;
        looks++;
        if (jobs.length === 2 && jobs.every((j) => j.state === "done")) return;
        await Bun.sleep(20);
      }
    })();
    const [ra, rb] = await Promise.all([a.done, b.done]);
    await watching;
    expect([ra.code, rb.code]).toEqual([0, 0]);
    expect(both).toBe(0);
    expect(looks).toBeGreaterThan(20);
    expect(rb.stderr).toContain(`dispatchcopy: job ${queued.id} queued (position 1): waiting for job ${first.id} (running, A001)\n`);
    expect(rb.stderr).toMatch(new RegExp(`dispatchcopy: job ${queued.id} started after \\d+s in the queue\\n`));
    expect(rb.stdout.split("\n")[0]).toBe(JSON.stringify({ event: "queued", job: queued.id, position: 1, waitingFor: [first.id] }));
    const [ja, jb] = [first.id, queued.id].map((id) => JSON.parse(readFileSync(join(dir, "state", `${id}.json`), "utf8")) as JobRecord);
    expect(Date.parse(jb!.started!)).toBeGreaterThanOrEqual(Date.parse(ja!.ended!));
    // On the drive itself: B's first file was made after A's last change.
    const entries = (root: string): string[] => readdirSync(root, { recursive: true, encoding: "utf8" }).map((p) => join(root, p));
    const lastChangeOfA = Math.max(...entries(join(raid, "A001")).map((p) => Number(statSync(p, { bigint: true }).ctimeNs / 1000n)));
    const bFiles = entries(join(raid, "B001")).filter((p) => statSync(p).isFile());
    const firstBirthOfB = Math.min(...bFiles.map((p) => Number(statSync(p, { bigint: true }).birthtimeNs / 1000n)));
    expect(bFiles.length).toBeGreaterThanOrEqual(5);
    expect(firstBirthOfB).toBeGreaterThan(lastChangeOfA);
  }, 120_000);

  test("--queue: cards on different drives run at once; three cards queued at the same moment on one drive run one at a time", async () => {
    const dir = tempDir("cartkit-jobs-drives-");
    const driveA = IS_ROOT ? tmpfs(dir, "driveA", "64m")?.path : undefined;
    const driveB = IS_ROOT ? tmpfs(dir, "driveB", "64m")?.path : undefined;
    if (!driveA || !driveB) return; // needs root to mount (CI is root: tmpfs() fails the test there)
    expect(statSync(driveA).dev).not.toBe(statSync(driveB).dev);
    card(join(dir, "A001"), 4, 1_000_000, 1);
    card(join(dir, "B001"), 4, 1_000_000, 2);
    const a = start(["-r", "--queue", "--rate-limit", "2MB/s", "--state-dir", "state", "A001", join(driveA, "A001")], dir);
    const b = start(["-r", "--queue", "--rate-limit", "2MB/s", "--state-dir", "state", "B001", join(driveB, "B001")], dir);
    await waitFor("both to run at once", () => {
      const jobs = jobsIn(join(dir, "state"));
      return jobs.length === 2 && jobs.every((j) => j.state === "running");
    });
    expect((await Promise.all([a.done, b.done])).map((r) => r.code)).toEqual([0, 0]);

    // Three at the same moment, one drive: the lock lets exactly one start; the others follow in order.
    const runs = ["C1", "C2", "C3"]
      .map((name, i) => {
        card(join(dir, name), 2, 500_000, 10 + i);
        return name;
      })
      .map((name) => start(["-r", "--queue", "--rate-limit", "2MB/s", "--state-dir", "state3", name, join(driveA, name)], dir));
    expect((await Promise.all(runs.map((r) => r.done))).map((r) => r.code)).toEqual([0, 0, 0]);
    const jobs = jobsIn(join(dir, "state3")).sort((x, y) => Date.parse(x.started!) - Date.parse(y.started!));
    expect(jobs.map((j) => j.state)).toEqual(["done", "done", "done"]);
    expect(new Set(jobs.map((j) => j.ticket)).size).toBe(3);
    for (let i = 1; i < jobs.length; i++) expect(Date.parse(jobs[i]!.started!)).toBeGreaterThanOrEqual(Date.parse(jobs[i - 1]!.ended!));
    expect(jobs.map((j) => j.ticket)).toEqual([...jobs.map((j) => j.ticket)].sort((x, y) => x - y));
  }, 120_000);

  test("a process that dies holding the queue's lock does not block it (flock -o, killed)", async () => {
    const dir = tempDir("cartkit-jobs-lock-");
    card(join(dir, "A001"), 1);
    mkdirSync(join(dir, "state"), { mode: 0o700 });
    const holder = Bun.spawn(["flock", "-o", join(dir, "state", ".lock"), "sleep", "120"], { stdout: "ignore", stderr: "ignore" });
    await waitFor("flock to hold the lock", () => run(["flock", "-n", join(dir, "state", ".lock"), "true"]).code !== 0 || undefined);
    const job = start(["-r", "--queue", "--state-dir", "state", "A001", "d1/A001"], dir);
    await Bun.sleep(1000);
    // Still waiting for the lock: nothing decided, nothing written.
    expect(job.proc.exitCode).toBe(null);
    expect(jobsIn(join(dir, "state"))).toEqual([]);
    // flock -o holds the lock itself (its child, sleep, does not): killing flock frees it.
    const sleeper = Number(readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, "utf8").trim());
    holder.kill("SIGKILL");
    await holder.exited;
    if (sleeper > 0) process.kill(sleeper, "SIGKILL");
    const ended = await job.done;
    expect(ended.code).toBe(0);
    expect(jobsIn(join(dir, "state")).map((j) => j.state)).toEqual(["done"]);
  }, 60_000);

  test("prune removes finished jobs older than the age and never a live one; a live job cannot be resumed twice", async () => {
    const dir = tempDir("cartkit-jobs-prune-");
    card(join(dir, "A001"), 2, 1_000_000);
    const finished = ID.exec(dc(["-r", "--state-dir", "state", "A001", "d1/A001"], dir).stderr)![1]!;
    const live = start(["-r", "--rate-limit", "500KB/s", "--state-dir", "state", "A001", "d2/A001"], dir);
    const running = await waitFor("the live job", () => jobsIn(join(dir, "state")).find((j) => j.state === "running"));
    const twice = dc(["-r", "--state-dir", "state", "A001", "d2/A001"], dir, { CARTKIT_JOB_ID: running.id });
    expect([twice.code, twice.stderr]).toEqual([2, `dispatchcopy: job ${running.id} is still running (pid ${running.pid} on ${running.host}); it cannot be resumed twice\n`]);
    const resume = dc(["jobs", "resume", running.id.slice(-4), "--state-dir", "state"], dir);
    expect([resume.code, resume.stderr]).toEqual([2, `dispatchcopy jobs: job ${running.id} is still running (pid ${running.pid} on ${running.host}); cancel it first, or wait for it\n`]);
    expect(dc(["jobs", "prune", "--older-than", "1h", "--state-dir", "state"], dir).stdout).toBe("");
    const pruned = dc(["jobs", "prune", "--older-than", "0", "--state-dir", "state"], dir);
    expect([pruned.code, pruned.stdout]).toEqual([0, `${finished}\n`]);
    expect(jobsIn(join(dir, "state")).map((j) => j.id)).toEqual([running.id]);
    // A folder others can write in: its job files could be anyone's; nothing is signalled or run from it.
    chmodSync(join(dir, "state"), 0o777);
    const untrusted = dc(["jobs", "cancel", running.id, "--state-dir", "state"], dir);
    expect([untrusted.code, untrusted.stderr]).toEqual([2, "dispatchcopy jobs: state: can be written by others (mode 777): its jobs are not cancelled or resumed from here (make it yours and 'chmod go-w' it)\n"]);
    expect(jobsIn(join(dir, "state")).find((j) => j.id === running.id)?.state).toBe("running");
    chmodSync(join(dir, "state"), 0o700);
    expect(dc(["jobs", "cancel", running.id, "--state-dir", "state"], dir).code).toBe(0);
    expect((await live.done).code).toBe(143);
  }, 60_000);
});

test("the user a job records is the one id(1) names, and the sudo user behind it", () => {
  const id = Bun.spawnSync(["id", "-un"]).stdout.toString().trim();
  expect(currentUser({})).toBe(id);
  expect(currentUser({ SUDO_USER: "wrangler" })).toBe(id === "wrangler" ? id : `${id} (sudo by wrangler)`);
});
