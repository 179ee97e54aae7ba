/**
 * Faults during an offload, as they happen on set. Every case checks the exit code, a one-line
 * message naming the file, that nothing incomplete carries a final name, that the destinations
 * that were fine are complete and proven, and that running again finishes the job.
 */
import { describe, expect, test } from "bun:test";
import { appendFileSync, chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { join, relative } from "node:path";
import { asNobody as nobodyCommand, COMPILED, randomBytes, ROOT, run, tempDir, tool, withoutJobLine } from "../helpers.ts";

const DISPATCHCOPY = join(ROOT, "dist", "dispatchcopy");

/**
 * Mounting a tmpfs and switching to another user need root. CI runs as root and must run these;
 * elsewhere they run when the tests do.
 */
const IS_ROOT = process.getuid?.() === 0;
if (!IS_ROOT && process.env.CI === "true") throw new Error("the fault suite must run as root in CI (tmpfs mounts, setpriv)");

/** Every file below `root`, relative, sorted. */
function files(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.push(relative(root, path));
    }
  };
  walk(root);
  return out.sort();
}

/** A card of `count` clips of `size` bytes. */
function card(root: string, count = 4, size = 4_000_000): void {
  mkdirSync(root, { recursive: true });
  for (let i = 0; i < count; i++) writeFileSync(join(root, `C${String(i).padStart(3, "0")}.mov`), randomBytes(size, i + 1));
}

/** The destination holds exactly the card (plus its history) byte for byte, and mhl-verify proves it. */
function expectComplete(cardRoot: string, dest: string): void {
  const want = files(cardRoot);
  expect(files(dest).filter((f) => !f.startsWith("ascmhl/"))).toEqual(want);
  for (const f of want) expect(Buffer.compare(readFileSync(join(dest, f)), readFileSync(join(cardRoot, f)))).toBe(0);
  const verified = tool(COMPILED, "mhl-verify", ["verify", dest]);
  expect([verified.code, verified.stderr]).toEqual([0, ""]);
}

/** No `.partial` anywhere below the folders. */
function expectNoPartials(...roots: string[]): void {
  for (const root of roots) if (existsSync(root)) expect(files(root).filter((f) => f.endsWith(".partial"))).toEqual([]);
}

/**
 * Waits until process `pid` is writing a file below `dest` (on a busy machine the start may take
 * a while): a nameless new file shows in /proc as `dest/…/#inode (deleted)`, a partial one by
 * its hidden `.partial` name.
 */
async function writing(pid: number, dest: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const real = existsSync(dest) ? realpathSync(dest) : dest;
    let open: string[] = [];
    try {
      open = readdirSync(`/proc/${pid}/fd`).map((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return "";
        }
      });
    } catch {
      open = [];
    }
    if (open.some((link) => link.startsWith(`${real}/`) && (link.endsWith(" (deleted)") || link.endsWith(".partial")))) return;
    if (performance.now() > deadline) throw new Error(`nothing was being written in ${dest} within 10 s`);
    await Bun.sleep(5);
  }
}

/** Starts a slowed offload, runs `fault` once it is under way, and returns its outcome. */
/** `--resume` of CARD to A/CARD and B/CARD exits 0 and says nothing but "verified". */
function expectResumeFinishes(dir: string): void {
  const finish = run([DISPATCHCOPY, "-r", "--resume", "CARD", "A/CARD", "B/CARD"], { cwd: dir });
  expect([
    finish.code,
    withoutJobLine(finish.stderr)
      .split("\n")
      .filter((l) => !l.endsWith("verified from the device") && l !== ""),
  ]).toEqual([0, []]);
}

async function offloadWithFault(dir: string, destinations: string[], fault: () => void, args: string[] = [], rate = "25MB/s") {
  const proc = Bun.spawn([DISPATCHCOPY, "-r", "--rate-limit", rate, ...args, "CARD", ...destinations], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  await writing(proc.pid, join(dir, destinations[0]!));
  fault();
  const code = await proc.exited;
  return { code, stderr: await new Response(proc.stderr).text(), stdout: await new Response(proc.stdout).text() };
}

describe("faults during an offload", () => {
  test("a destination folder deleted mid-run: that destination fails naming its files, the other is complete; a rerun finishes", async () => {
    const dir = tempDir("cartkit-fault-");
    card(join(dir, "CARD"));
    const result = await offloadWithFault(dir, ["A/CARD", "B/CARD"], () => rmSync(join(dir, "B"), { recursive: true, force: true }));
    expect(result.code).toBe(2);
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines.at(-1)).toMatch(/^dispatchcopy: B\/CARD: NOT COMPLETE: \d of 4 files FAILED; B\/CARD no longer leads to the folder the files were written into \(moved or replaced during the run\)$/);
    // Each file the vanished destination lost is named, with the reason, on a line of its own.
    const failedFiles = lines.filter((l) => l.startsWith("dispatchcopy: B/CARD/"));
    expect(failedFiles.length).toBeGreaterThanOrEqual(1);
    for (const line of failedFiles) expect(line).toMatch(/^dispatchcopy: B\/CARD\/C00\d\.mov: failed: .*(No such file or directory|its folder was removed during the run)$/);
    expect(Number(/(\d) of 4 files FAILED/.exec(lines.at(-1)!)![1])).toBe(failedFiles.length);
    expect(lines).toContain("dispatchcopy: A/CARD: 4 files, 15.3 MiB verified from the device");
    expectComplete(join(dir, "CARD"), join(dir, "A/CARD"));
    expectNoPartials(join(dir, "A"), join(dir, "B"));
    const again = run([DISPATCHCOPY, "-r", "CARD", "B/CARD"], { cwd: dir });
    expect(again.code).toBe(0);
    expectComplete(join(dir, "CARD"), join(dir, "B/CARD"));
  }, 30_000);

  test.if(IS_ROOT)(
    "a destination that fills up mid-file: it fails naming the file, the other is complete; with room again, --resume finishes",
    async () => {
      const dir = tempDir("cartkit-fault-");
      card(join(dir, "CARD"));
      const small = join(dir, "SMALL");
      mkdirSync(small);
      expect(run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", small]).code).toBe(0);
      try {
        // Room for the card when it starts; then something else takes most of the drive.
        const result = await offloadWithFault(dir, ["A/CARD", "SMALL/CARD"], () => writeFileSync(join(small, "filler.bin"), new Uint8Array(12 * 1024 * 1024)));
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(/^dispatchcopy: SMALL\/CARD\/C00\d\.mov: failed: .*No space left on device.*$/m);
        expect(result.stderr).toContain("dispatchcopy: A/CARD: 4 files, 15.3 MiB verified from the device\n");
        expectComplete(join(dir, "CARD"), join(dir, "A/CARD"));
        expectNoPartials(small);
        rmSync(join(small, "filler.bin"));
        const again = run([DISPATCHCOPY, "-r", "--resume", "CARD", "SMALL/CARD"], { cwd: dir });
        expect(again.code).toBe(0);
        expectComplete(join(dir, "CARD"), join(dir, "SMALL/CARD"));
      } finally {
        run(["umount", small]);
      }
    },
    30_000,
  );

  test.if(IS_ROOT)(
    "a destination that turns read-only mid-run: it fails with the reason, the other is complete; a rerun finishes",
    async () => {
      const dir = tempDir("cartkit-fault-");
      card(join(dir, "CARD"));
      mkdirSync(join(dir, "RO", "CARD"), { recursive: true });
      run(["chmod", "-R", "a+rwX", dir]);
      const asNobody = nobodyCommand([]);
      const proc = Bun.spawn([...asNobody, DISPATCHCOPY, "-r", "--rate-limit", "25MB/s", "CARD", "A/CARD", "RO/CARD"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
      await writing(proc.pid, join(dir, "RO", "CARD"));
      chmodSync(join(dir, "RO", "CARD"), 0o555);
      const code = await proc.exited;
      const stderr = await new Response(proc.stderr).text();
      expect(code).toBe(2);
      expect(stderr).toMatch(/^dispatchcopy: RO\/CARD\/C00\d\.mov: failed: .*Permission denied$/m);
      expect(stderr).toContain("dispatchcopy: A/CARD: 4 files, 15.3 MiB verified from the device\n");
      expect(stderr.trimEnd().split("\n").at(-1)).toMatch(/^dispatchcopy: RO\/CARD: NOT COMPLETE: \d of 4 files FAILED$/);
      expectComplete(join(dir, "CARD"), join(dir, "A/CARD"));
      chmodSync(join(dir, "RO", "CARD"), 0o777);
      const again = run([...asNobody, DISPATCHCOPY, "-r", "--resume", "CARD", "RO/CARD"], { cwd: dir });
      expect([again.code, withoutJobLine(again.stderr)]).toEqual([0, "dispatchcopy: RO/CARD: 4 files, 15.3 MiB verified from the device\n"]);
      expectComplete(join(dir, "CARD"), join(dir, "RO/CARD"));
      expectNoPartials(join(dir, "RO"));
    },
    30_000,
  );

  test("a source file grown, cut, replaced, or rewritten with its time put back, during its copy: refused on every destination, nothing in place; a rerun finishes", async () => {
    for (const change of ["grow", "truncate", "replace", "rewrite"] as const) {
      const dir = tempDir("cartkit-fault-");
      card(join(dir, "CARD"), 3, 8_000_000);
      const target = join(dir, "CARD", "C000.mov");
      const result = await offloadWithFault(
        dir,
        ["A/CARD", "B/CARD"],
        () => {
          if (change === "grow") appendFileSync(target, "more");
          else if (change === "truncate") truncateSync(target, 1_000_000);
          else if (change === "rewrite") {
            // Written in place with its modification time put back (touch -d): only the change time tells.
            const was = statSync(target);
            const fd = openSync(target, "r+");
            writeSync(fd, Buffer.from("EVIL"), 0, 4, 100);
            closeSync(fd);
            utimesSync(target, was.atime, was.mtime);
          } else {
            writeFileSync(`${target}.new`, randomBytes(8_000_000, 99));
            renameSync(`${target}.new`, target);
          }
          // A second and more per file: on a loaded machine the change still lands while the file is copied.
        },
        [],
        "6MB/s",
      );
      expect([change, result.code]).toEqual([change, 2]);
      expect(result.stderr).toMatch(/^dispatchcopy: CARD\/C000\.mov: changed while it was copied \(.+\); nothing was put in place$/m);
      if (change === "truncate") writeFileSync(target, randomBytes(8_000_000, 1));
      for (const d of ["A", "B"]) {
        expect(existsSync(join(dir, d, "CARD", "C000.mov"))).toBe(false);
        expectNoPartials(join(dir, d));
      }
      const again = run([DISPATCHCOPY, "-r", "--resume", "CARD", "A/CARD", "B/CARD"], { cwd: dir });
      expect(again.code).toBe(0);
      for (const d of ["A", "B"]) expectComplete(join(dir, "CARD"), join(dir, d, "CARD"));
    }
  }, 120_000);

  test("an unreadable source file: named, skipped on every destination (exit 2); readable again, a rerun finishes", () => {
    const dir = tempDir("cartkit-fault-");
    card(join(dir, "CARD"), 2, 100_000);
    chmodSync(join(dir, "CARD", "C001.mov"), 0);
    const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    run(["chmod", "-R", "a+rwX", dir]);
    chmodSync(join(dir, "CARD", "C001.mov"), 0);
    const result = run([...(process.getuid?.() === 0 ? nobody : []), DISPATCHCOPY, "-r", "CARD", "A/CARD", "B/CARD"], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^dispatchcopy: CARD\/C001\.mov: .*Permission denied.*$/m);
    for (const d of ["A", "B"]) {
      expect(existsSync(join(dir, d, "CARD", "C001.mov"))).toBe(false);
      expect(existsSync(join(dir, d, "CARD", "C000.mov"))).toBe(true);
      expectNoPartials(join(dir, d));
    }
    chmodSync(join(dir, "CARD", "C001.mov"), 0o644);
    expect(run([DISPATCHCOPY, "-r", "--resume", "CARD", "A/CARD", "B/CARD"], { cwd: dir }).code).toBe(0);
    for (const d of ["A", "B"]) expectComplete(join(dir, "CARD"), join(dir, d, "CARD"));
  }, 30_000);

  test("Ctrl-C: exits at once with 130, removes its partial files, says what finished; --resume finishes", async () => {
    const dir = tempDir("cartkit-fault-");
    card(join(dir, "CARD"), 4, 6_000_000);
    const proc = Bun.spawn([DISPATCHCOPY, "-r", "--rate-limit", "20MB/s", "CARD", "A/CARD", "B/CARD"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    await Bun.sleep(500);
    proc.kill("SIGINT");
    const start = performance.now();
    const code = await proc.exited;
    expect(performance.now() - start).toBeLessThan(2000);
    expect(code).toBe(130);
    expect(withoutJobLine(await new Response(proc.stderr).text())).toMatch(/^dispatchcopy: interrupted \(SIGINT\)(; \d+ partial file\(s\) removed)?; \d of 4 files done; run the same command again \(with --resume\) to finish: what is in place is read back and compared, the rest copied\n$/);
    expectNoPartials(join(dir, "A"), join(dir, "B"));
    expect(run([DISPATCHCOPY, "-r", "--resume", "CARD", "A/CARD", "B/CARD"], { cwd: dir }).code).toBe(0);
    for (const d of ["A", "B"]) {
      expectComplete(join(dir, "CARD"), join(dir, d, "CARD"));
    }
  }, 30_000);

  test("SIGKILL at 20 random points of a tree offload, each followed by --resume: trees identical, MHL valid, nothing left behind", async () => {
    const dir = tempDir("cartkit-fault-");
    card(join(dir, "CARD"), 12, 1_500_000);
    mkdirSync(join(dir, "CARD", "SUB"));
    writeFileSync(join(dir, "CARD", "SUB", "sidecar.xml"), "<x/>\n");
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 20; i++) {
      const proc = Bun.spawn([DISPATCHCOPY, "-r", "--resume", "--rate-limit", "30MB/s", "CARD", "A/CARD", "B/CARD"], { cwd: dir, stdout: "ignore", stderr: "ignore" });
      await Bun.sleep(20 + Math.floor(random() * 400));
      proc.kill("SIGKILL");
      await proc.exited;
    }
    expectResumeFinishes(dir);
    for (const d of ["A", "B"]) {
      expectComplete(join(dir, "CARD"), join(dir, d, "CARD"));
      expect(statSync(join(dir, d, "CARD")).isDirectory()).toBe(true);
    }
  }, 120_000);

  test("many small files, SIGKILL at random points while groups are written, flushed and put in place: every final-named file is whole; --resume finishes", async () => {
    const dir = tempDir("cartkit-fault-small-");
    // 800 files of 0 to 48 KiB in 8 folders: the path where files are copied in one piece,
    // flushed a group at a time and read back together.
    const cardRoot = join(dir, "CARD");
    let seed = 4242;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 800; i++) {
      const folder = join(cardRoot, `F${i % 8}`);
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, `frame_${String(i).padStart(5, "0")}.dng`), randomBytes(Math.floor(random() * 48 * 1024), 1000 + i));
    }
    const want = files(cardRoot);
    const placed = (root: string) => (existsSync(root) ? files(root).filter((f) => !f.startsWith("ascmhl/") && !f.endsWith(".partial")) : []);
    /** Every file under its final name holds exactly the source's bytes. */
    const expectWhole = () => {
      for (const d of ["A", "B"]) {
        for (const f of placed(join(dir, d, "CARD"))) {
          expect(want).toContain(f);
          expect([f, Buffer.compare(readFileSync(join(dir, d, "CARD", f)), readFileSync(join(cardRoot, f)))]).toEqual([f, 0]);
        }
      }
    };
    const inPlace = () => placed(join(dir, "A", "CARD")).length + placed(join(dir, "B", "CARD")).length;
    const kills: number[] = [];
    for (let i = 0; i < 8; i++) {
      // Few descriptors make small groups (the group is bounded by them): many group boundaries.
      // The rate keeps a run (19 MB) longer than a look at what is in place, on a fast machine
      // or a loaded one, so that the kills land while groups are written.
      const proc = Bun.spawn(["prlimit", "--nofile=512", DISPATCHCOPY, "-r", "--resume", "--rate-limit", "8MB/s", "CARD", "A/CARD", "B/CARD"], { cwd: dir, stdout: "ignore", stderr: "ignore" });
      // Killed once a random share of what is left is in place, then a random moment later:
      // before, between and after groups, and while the records are written.
      const start = inPlace();
      const share = random();
      const after = Math.floor(random() * 20);
      const deadline = performance.now() + 20_000;
      while (performance.now() < deadline && proc.exitCode === null && inPlace() < start + share * (2 * want.length - start)) await Bun.sleep(2);
      await Bun.sleep(after);
      proc.kill("SIGKILL");
      await proc.exited;
      kills.push(inPlace());
      expectWhole();
    }
    // At least one kill landed in the middle, with some files in place and some not.
    expect(kills.some((n) => n > 0 && n < 2 * want.length)).toBe(true);
    expectResumeFinishes(dir);
    for (const d of ["A", "B"]) expectComplete(cardRoot, join(dir, d, "CARD"));
    expectNoPartials(join(dir, "A"), join(dir, "B"));
  }, 120_000);

  test("a run killed while writing its MHL: the unchained generation and partials it left are cleared by the next run", () => {
    const dir = tempDir("cartkit-fault-");
    card(join(dir, "CARD"), 2, 10_000);
    // What a kill between writing the generation and the chain leaves: a generation, no chain.
    expect(run([DISPATCHCOPY, "-r", "CARD", "A/CARD"], { cwd: dir }).code).toBe(0);
    const history = join(dir, "A/CARD/ascmhl");
    const [generation] = readdirSync(history).filter((n) => n.endsWith(".mhl"));
    rmSync(join(history, "ascmhl_chain.xml"));
    writeFileSync(join(history, ".ascmhl_chain.xml.0badf00d.partial"), "<half");
    rmSync(join(dir, "A/CARD/C001.mov"));
    const again = run([DISPATCHCOPY, "-r", "CARD", "A/CARD"], { cwd: dir });
    expect([again.code, withoutJobLine(again.stderr)]).toEqual([0, "dispatchcopy: A/CARD: 2 files, 19.5 KiB verified from the device\n"]);
    // The orphan is gone; the new generation 1 (maybe under the same name) is in a new chain.
    expect(readdirSync(history).filter((n) => n.endsWith(".mhl"))).toHaveLength(1);
    expect(generation).toMatch(/^0001_CARD_/);
    expect(readFileSync(join(history, "ascmhl_chain.xml"), "utf8").match(/<hashlist /g)).toHaveLength(1);
    expect(readdirSync(history).some((n) => n.endsWith(".partial"))).toBe(false);
    expectComplete(join(dir, "CARD"), join(dir, "A/CARD"));
  });
});
