/**
 * Small copies written on each destination's own thread (lib/io/write_threads.ts): the same
 * copies, modes, times and report as the calling thread's writes, on the threads; a folder's
 * descriptor lent to a thread stays that folder's while the folder cache lets it go; and a
 * destination whose thread fails a write fails only its own copies, in the usual words.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMPILED, filesBelow, randomBytes, run, straceOrSkip, tempDir, withoutJobLine } from "./helpers.ts";

const dispatchcopy = COMPILED.command("dispatchcopy");

/** Mode bits and both times to the nanosecond, as `stat` gives them. */
function stateOf(path: string): string {
  const s = lstatSync(path, { bigint: true });
  return `${(s.mode & 0o7777n).toString(8)} ${s.atimeNs} ${s.mtimeNs}`;
}

/** A card of `folders` folders of `each` small files of assorted sizes, modes and times to the nanosecond. */
function makeFrames(root: string, folders: number, each: number): string {
  const card = join(root, "CARD");
  let n = 0;
  for (let f = 0; f < folders; f++) {
    const folder = join(card, `F${String(f).padStart(3, "0")}`);
    mkdirSync(folder, { recursive: true });
    for (let i = 0; i < each; i++, n++) {
      const path = join(folder, `frame ${String(i).padStart(4, "0")}.dng`);
      writeFileSync(path, randomBytes((n * 7919) % 70_000, n + 1));
      chmodSync(path, [0o644, 0o600, 0o755, 0o4755, 0o640, 0o444][n % 6]!);
      // An access time after the change time (tomorrow): reading the file, or a copy of it, does not move it (relatime).
      const seconds = Math.floor(Date.now() / 1000) + 86_400 - n;
      run(["touch", "-m", "-d", `@${seconds - 3 * 86_400}.${String((n * 104_729) % 1_000_000_000).padStart(9, "0")}`, path]);
      run(["touch", "-a", "-d", `@${seconds}.${String((n * 15_485_863) % 1_000_000_000).padStart(9, "0")}`, path]);
    }
  }
  return card;
}

describe("write threads (compiled)", () => {
  test("each destination's small copies are written by a thread of its own, and are what the calling thread writes: bytes, modes, times to the nanosecond, report (needs strace)", () => {
    const strace = straceOrSkip();
    if (!strace) return;
    const dir = tempDir("cartkit-wt-");
    const card = makeFrames(dir, 3, 40);
    const files = filesBelow(card);
    expect(files).toHaveLength(120);
    const log = join(dir, "strace");
    const threaded = run([strace, "-ff", "-qq", "-o", log, "-e", "trace=linkat", ...dispatchcopy, "-r", "--no-mhl", card, join(dir, "d1"), join(dir, "d2")], { cwd: dir });
    const here = run([...dispatchcopy, "-r", "--no-mhl", card, join(dir, "e1"), join(dir, "e2")], { cwd: dir, env: { CARTKIT_WRITE_THREADS: "0" } });
    expect([threaded.code, here.code]).toEqual([0, 0]);
    const said = (stderr: string, a: string, b: string) => withoutJobLine(stderr).replaceAll(join(dir, a), "D1").replaceAll(join(dir, b), "D2");
    expect(said(threaded.stderr, "d1", "d2")).toBe(said(here.stderr, "e1", "e2"));
    expect(said(threaded.stderr, "d1", "d2")).toBe("dispatchcopy: D1: 120 files, 3.9 MiB verified from the device\ndispatchcopy: D2: 120 files, 3.9 MiB verified from the device\n");
    for (const copy of ["d1", "d2", "e1", "e2"]) expect(filesBelow(join(dir, copy))).toEqual(files);
    // The states first: reading a copy may move its access time (relatime: its change time is newer).
    for (const f of files) {
      const wanted = stateOf(join(dir, "e1", f));
      for (const copy of ["d1", "d2", "e2"]) expect(`${f} ${stateOf(join(dir, copy, f))}`).toBe(`${f} ${wanted}`);
      // The source's times, and its mode less the umask, never setuid.
      const s = lstatSync(join(card, f), { bigint: true });
      expect(wanted).toBe(`${(s.mode & 0o777n & ~BigInt(process.umask())).toString(8)} ${s.atimeNs} ${s.mtimeNs}`);
    }
    for (const f of files) {
      const source = readFileSync(join(card, f));
      for (const copy of ["d1", "d2", "e1", "e2"]) expect(readFileSync(join(dir, copy, f)).equals(source)).toBe(true);
    }
    // Linked by threads other than the calling one: the first file's first copy is the calling
    // thread's (it learns that the destination makes nameless files); the rest are the threads'.
    const linking = readdirSync(dir).filter((n) => n.startsWith("strace.") && readFileSync(join(dir, n), "utf8").includes("linkat("));
    const counts = linking
      .map(
        (n) =>
          readFileSync(join(dir, n), "utf8")
            .split("\n")
            .filter((l) => l.startsWith("linkat(") && l.endsWith("= 0")).length,
      )
      .sort((a, b) => a - b);
    expect(counts).toEqual([1, 119, 120]);
  }, 120_000);

  test("a folder's descriptor lent to a write thread stays that folder's while the folder cache lets it go: 300 folders, every copy where it belongs", () => {
    const dir = tempDir("cartkit-wt-folders-");
    const card = join(dir, "CARD");
    for (let f = 0; f < 300; f++) {
      mkdirSync(join(card, `F${f}`), { recursive: true });
      for (let i = 0; i < 3; i++) writeFileSync(join(card, `F${f}`, `f${i}`), `${f}/${i}\n`);
    }
    const result = run([...dispatchcopy, "-r", "--no-mhl", "--verify", "none", card, join(dir, "d1"), join(dir, "d2")], { cwd: dir });
    expect([result.code, withoutJobLine(result.stderr)]).toEqual([0, `dispatchcopy: ${join(dir, "d1")}: 900 files, 5.0 KiB copied, not verified\ndispatchcopy: ${join(dir, "d2")}: 900 files, 5.0 KiB copied, not verified\n`]);
    const files = filesBelow(card);
    for (const copy of ["d1", "d2"]) {
      expect(filesBelow(join(dir, copy))).toEqual(files);
      for (const f of files) expect(`${f}: ${readFileSync(join(dir, copy, f), "utf8")}`).toBe(`${f}: ${f.slice(1).replace("/f", "/")}\n`);
    }
  }, 120_000);

  test("the bytes waiting for slow write threads are bounded: 200 × 1 MiB with each write delayed, peak memory well under the tree (needs strace)", async () => {
    const strace = straceOrSkip();
    if (!strace) return;
    const dir = tempDir("cartkit-wt-memory-");
    mkdirSync(join(dir, "CARD", "A"), { recursive: true });
    for (let i = 0; i < 200; i++) writeFileSync(join(dir, "CARD", "A", `f${i}`), randomBytes(1 << 20, i + 1));
    // Every write waits 3 ms: the source is read far faster than the threads write.
    const child = Bun.spawn([strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace=pwrite64", "--inject=pwrite64:delay_enter=3000", ...dispatchcopy, "-r", "--no-mhl", "--verify", "none", join(dir, "CARD"), join(dir, "d1"), join(dir, "d2")], { cwd: dir, stderr: "pipe", stdout: "pipe" });
    let peakKiB = 0;
    let pid: string | undefined;
    while (child.exitCode === null) {
      try {
        pid ??= readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(" ")[0] || undefined;
        const hwm = pid ? /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8")) : null;
        if (hwm) peakKiB = Math.max(peakKiB, Number(hwm[1]));
      } catch {
        // between the spawn and the tool's start, or just after its end
      }
      await Bun.sleep(20);
    }
    expect([await child.exited, withoutJobLine(await new Response(child.stderr).text())]).toEqual([0, `dispatchcopy: ${join(dir, "d1")}: 200 files, 200.0 MiB copied, not verified\ndispatchcopy: ${join(dir, "d2")}: 200 files, 200.0 MiB copied, not verified\n`]);
    // The tool alone is about 100 MiB; a build that read ahead of its threads without a bound held the whole tree (251 MiB).
    expect(peakKiB).toBeGreaterThan(0);
    expect(peakKiB).toBeLessThan(180 << 10);
    for (let i = 0; i < 200; i += 37) expect(readFileSync(join(dir, "d2", "A", `f${i}`)).equals(readFileSync(join(dir, "CARD", "A", `f${i}`)))).toBe(true);
  }, 120_000);

  test("a write a thread makes that fails (ENOSPC, injected) fails that copy alone, in the calling thread's words; nothing is left under its name (needs strace)", () => {
    const strace = straceOrSkip();
    if (!strace) return;
    const dir = tempDir("cartkit-wt-fail-");
    const card = makeFrames(dir, 1, 20);
    // strace counts per thread: each destination's thread fails its 10th write. The first file
    // (empty, no write) is the calling thread's; each thread writes frames 1 to 19 in order.
    const result = run([strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace=pwrite64", "--inject=pwrite64:error=ENOSPC:when=10", ...dispatchcopy, "-r", "--no-mhl", card, join(dir, "d1"), join(dir, "d2")], { cwd: dir });
    // An I/O error: 2, as a failed write on the calling thread gives.
    expect([result.code, withoutJobLine(result.stderr)]).toEqual([
      2,
      [
        `dispatchcopy: ${join(dir, "d1", "F000", "frame 0010.dng")}: failed: write failed: No space left on device`,
        `dispatchcopy: ${join(dir, "d2", "F000", "frame 0010.dng")}: failed: write failed: No space left on device`,
        `dispatchcopy: ${join(dir, "d1")}: NOT COMPLETE: 1 of 20 files FAILED`,
        `dispatchcopy: ${join(dir, "d2")}: NOT COMPLETE: 1 of 20 files FAILED`,
        "",
      ].join("\n"),
    ]);
    const files = filesBelow(card);
    for (const copy of ["d1", "d2"]) {
      expect(filesBelow(join(dir, copy))).toEqual(files.filter((f) => f !== "F000/frame 0010.dng"));
      for (const f of filesBelow(join(dir, copy))) expect(readFileSync(join(dir, copy, f)).equals(readFileSync(join(card, f)))).toBe(true);
    }
  }, 120_000);
});
