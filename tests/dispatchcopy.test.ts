/**
 * dispatchcopy, from source and compiled: Offload Manager's arguments and log lines, several
 * destinations, a destination that fills up, existing files, tree mode with MHL, sums and report,
 * kill -9 then --resume, awkward names, a 0-byte file.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fsPath } from "../lib/core/names.ts";
import { hashPath } from "../lib/hash/mod.ts";
import { COMPILED, filesBelow, IS_ROOT, randomBytes, run, runners, straceOrSkip, tempDir, tool, type ToolRunner, withoutJobLine } from "./helpers.ts";

/** A card with clips in folders, an empty folder, OS litter, and awkward names. */
function makeCard(root: string): string {
  const card = join(root, "A001");
  mkdirSync(join(card, "CLIPS", "SUB"), { recursive: true });
  mkdirSync(join(card, "EMPTY"), { recursive: true });
  writeFileSync(join(card, "CLIPS", "A001C001.mov"), randomBytes(2 * 1024 * 1024 + 3, 1));
  writeFileSync(join(card, "CLIPS", "A001 C002 é.mov"), randomBytes(700_000, 2));
  writeFileSync(join(card, "CLIPS", "new\nline.mov"), randomBytes(1000, 3));
  writeFileSync(join(card, "CLIPS", "SUB", "zero.bin"), "");
  writeFileSync(join(card, "meta & <x>.xml"), "<clip/>");
  writeFileSync(join(card, ".DS_Store"), "finder");
  writeFileSync(join(card, "CLIPS", "._A001C001.mov"), "fork");
  utimesSync(join(card, "CLIPS"), new Date("2026-01-01T00:00:00Z"), new Date("2026-01-01T00:00:00Z"));
  return card;
}

const CARD_FILES = ["CLIPS/A001 C002 é.mov", "CLIPS/A001C001.mov", "CLIPS/SUB/zero.bin", "CLIPS/new\nline.mov", "meta & <x>.xml"];

for (const runner of runners()) {
  describe(`dispatchcopy (${runner.label})`, () => {
    const dc = (args: string[], cwd: string) => tool(runner, "dispatchcopy", args, { cwd });

    test("a destination another offload writes into (its folder locked, reached by another path) is left as it is; the other is copied, exit 2", async () => {
      const dir = tempDir("cartkit-dc-lock-");
      const card = makeCard(dir);
      const [d1, d2] = [join(dir, "D1", "A001"), join(dir, "D2", "A001")];
      // The other run's partial file: a run that took the folder for its own would clear it as stale.
      mkdirSync(join(d1, "CLIPS"), { recursive: true });
      const partial = join(d1, "CLIPS", ".A001C001.mov.0123abcd.partial");
      writeFileSync(partial, "being written");
      symlinkSync(d1, join(dir, "via"));
      // flock(1) holds the lock itself (-o: not its command, which waits for its input to end).
      const holder = Bun.spawn(["flock", "-o", d1, "-c", "echo held; read line"], { stdin: "pipe", stdout: "pipe" });
      try {
        const reader = holder.stdout.getReader();
        expect(new TextDecoder().decode((await reader.read()).value)).toBe("held\n");
        const r = dc(["-r", "--state-dir", join(dir, "st"), card, "via", d2], dir);
        expect([r.code, withoutJobLine(r.stderr)]).toEqual([
          2,
          "dispatchcopy: via: NOT COMPLETE: in use: another offload is writing into this folder now (it holds the folder's lock); run this one again when that one has finished; none of the 5 files was copied to it\n" + `dispatchcopy: ${d2}: 5 files, 2.7 MiB verified from the device\n`,
        ]);
        expect([readdirSync(d1), readdirSync(join(d1, "CLIPS")), readFileSync(partial, "utf8")]).toEqual([["CLIPS"], [".A001C001.mov.0123abcd.partial"], "being written"]);
        expect(tool(runner, "mhl-verify", ["verify", d2]).code).toBe(0);
      } finally {
        holder.kill();
        await holder.exited;
        await holder.stdin.end();
      }
      // The lock let go: the same command copies it, and the partial file left is cleared as stale.
      const again = dc(["-r", "--state-dir", join(dir, "st"), card, "via", d2], dir);
      expect([again.code, existsSync(partial), tool(runner, "mhl-verify", ["verify", d1]).code]).toEqual([0, false, 0]);
    });

    test("--sums and --report inside the card or a destination, or over a copy: refused before anything is written, exit 2", () => {
      const dir = tempDir("cartkit-dc-records-");
      const card = makeCard(dir);
      const [d1, d2] = [join(dir, "D1", "A001"), join(dir, "D2", "A001")];
      mkdirSync(join(dir, "D2"));
      const cases: Array<[string[], string]> = [
        [["--sums", join(d2, "CLIPS", "A001C001.mov")], `--sums ${join(d2, "CLIPS", "A001C001.mov")} is inside the destination ${d2}`],
        [["--sums", join(d1, "A001.xxh64")], `--sums ${join(d1, "A001.xxh64")} is inside the destination ${d1}`],
        [["--report", join(d2, "ascmhl", "ascmhl_chain.xml")], `--report ${join(d2, "ascmhl", "ascmhl_chain.xml")} is inside the destination ${d2}`],
        [["--report", d1], `--report ${d1} is the destination ${d1} itself`],
        [["--sums", join(card, "sums.xxh64")], `--sums ${join(card, "sums.xxh64")} is inside the source ${card}`],
        // Through a link to a folder of the destination: where it lands, not how it is spelled.
        [["--sums", join(dir, "via", "sums.xxh64")], `--sums ${join(dir, "via", "sums.xxh64")} is inside the destination ${d2}`],
      ];
      mkdirSync(d2, { recursive: true });
      symlinkSync(d2, join(dir, "via"));
      // A link that leads nowhere yet leads into a destination made later.
      mkdirSync(join(d2, "CLIPS"));
      symlinkSync(join(d2, "CLIPS"), join(dir, "up"));
      symlinkSync(join(d1, "CLIPS"), join(dir, "later"));
      symlinkSync(join(card, "CLIPS"), join(dir, "card-link"));
      mkdirSync(join(dir, "elsewhere", "x"), { recursive: true });
      cases.push([["--report", "later/A001C001.mov"], `--report later/A001C001.mov is inside the destination ${d1}`]);
      for (const [args, message] of cases) {
        const r = dc(["-r", "--state-dir", join(dir, "st"), ...args, card, d1, d2], dir);
        expect([r.code, withoutJobLine(r.stderr)]).toEqual([2, `dispatchcopy: ${message}; write it outside the card and the destinations\n`]);
      }
      // The job's state and the metrics, written as the run goes, are held to the same.
      for (const [option, value, role, what] of [
        ["--state-dir", join(d2, "st"), `the destination ${d2}`, "keep the job state"],
        ["--metrics", join(card, "m.prom"), `the source ${card}`, "write it"],
      ]) {
        const r = dc(["-r", ...(option === "--state-dir" ? [] : ["--state-dir", join(dir, "st")]), option!, value!, card, d1, d2], dir);
        expect([r.code, withoutJobLine(r.stderr)]).toEqual([2, `dispatchcopy: ${option} ${value} is inside ${role}; ${what} outside the card and the destinations\n`]);
      }
      expect([existsSync(d1), readdirSync(d2)]).toEqual([false, ["CLIPS"]]);
      // A path with `..` after a link leads where the kernel takes it, which a path built from it
      // as text would not: refused, saying where it leads. So is one through a link of /proc.
      symlinkSync(join(dir, "elsewhere", "x"), join(card, "CLIPS", "link-out"));
      for (const [args, message] of [
        [[card, "card-link/../.Trashes", d2], `the destination card-link/../.Trashes holds '..' after a link, which leads to ${join(card, ".Trashes")}; give that path`],
        [["--sums", "up/../A001C001.mov", card, d2], `--sums up/../A001C001.mov holds '..' after a link, which leads to ${join(d2, "A001C001.mov")}; give that path`],
        [["--sums", "card-link/../._sums.xxh64", card, d2], `--sums card-link/../._sums.xxh64 holds '..' after a link, which leads to ${join(card, "._sums.xxh64")}; give that path`],
        [["--report", `${card}/CLIPS/link-out/../r.json`, card, d2], `--report ${card}/CLIPS/link-out/../r.json holds '..' after a link, which leads to ${join(dir, "elsewhere", "r.json")}; give that path`],
        [["--report", "/proc/self/cwd/r.json", card, d2], "--report /proc/self/cwd/r.json goes through a link of /proc; give the folder's own path"],
        // `..` after a name that does not exist: the run would make a folder for that name (here, in the card).
        [[card, `${card}/CLIPS/newx/../../../elsewhere/W`], `the destination ${card}/CLIPS/newx/../../../elsewhere/W holds '..' after a name that does not exist (a folder would be made for it), which leads to ${join(dir, "elsewhere", "W")}; give that path`],
      ] as const) {
        const r = dc(["-r", "--no-mhl", "--state-dir", join(dir, "st"), ...args], dir);
        expect([r.code, withoutJobLine(r.stderr)]).toEqual([2, `dispatchcopy: ${message}\n`]);
      }
      expect([existsSync(join(card, ".Trashes")), existsSync(join(card, "CLIPS", "r.json")), existsSync(join(dir, "elsewhere", "r.json")), existsSync(join(card, "CLIPS", "newx"))]).toEqual([false, false, false, false]);
      rmSync(join(card, "CLIPS", "link-out"));
      // The job's state folder by default lies under the home folder: refused inside a destination too.
      const defaulted = tool(runner, "dispatchcopy", ["-r", card, join(dir, "home")], { cwd: dir, env: { HOME: join(dir, "home"), XDG_STATE_HOME: "" } });
      expect([defaulted.code, defaulted.stderr]).toEqual([2, `dispatchcopy: the job state folder ${join(dir, "home", ".local", "state", "cartkit", "jobs")} is inside the destination ${join(dir, "home")}; give --state-dir outside the card and the destinations\n`]);
      if (IS_ROOT) {
        // A proc file system mounted elsewhere leads where its links' text does not say, as /proc does.
        mkdirSync(join(dir, "proc2"));
        expect(run(["mount", "-t", "proc", "proc", join(dir, "proc2")]).code).toBe(0);
        try {
          const r = dc(["-r", "--state-dir", join(dir, "st"), "--report", join(dir, "proc2", "self", "cwd", "r.json"), card, d2], dir);
          expect([r.code, withoutJobLine(r.stderr)]).toEqual([2, `dispatchcopy: --report ${join(dir, "proc2", "self", "cwd", "r.json")} goes through a link of /proc; give the folder's own path\n`]);
        } finally {
          run(["umount", join(dir, "proc2")]);
        }
        // A folder of the card bound elsewhere is the card's under either name.
        mkdirSync(join(dir, "bound"));
        expect(run(["mount", "--bind", join(card, "CLIPS"), join(dir, "bound")]).code).toBe(0);
        try {
          const sums = dc(["-r", "--state-dir", join(dir, "st"), "--sums", join(dir, "bound", "s.xxh64"), card, d2], dir);
          expect([sums.code, withoutJobLine(sums.stderr)]).toEqual([2, `dispatchcopy: --sums ${join(dir, "bound", "s.xxh64")} is inside the source ${card}; write it outside the card and the destinations\n`]);
          const into = dc(["-r", "--no-mhl", "--state-dir", join(dir, "st"), card, join(dir, "bound", "X"), join(dir, "D3")], dir);
          expect(into.code).toBe(2);
          expect(into.stderr).toContain(`dispatchcopy: ${join(dir, "bound", "X")}: NOT COMPLETE: is inside the source; choose a folder outside the card; none of the 5 files was copied to it\n`);
          expect(readdirSync(join(card, "CLIPS")).sort()).toEqual(["._A001C001.mov", "A001 C002 é.mov", "A001C001.mov", "SUB", "new\nline.mov"].sort());
        } finally {
          run(["umount", join(dir, "bound")]);
        }
        // A mount covered by a later one is not where its path leads: the card's folder bound over
        // its parent is (the path's mount is the kernel's, not the longest mount point before it).
        mkdirSync(join(dir, "cover", "under"), { recursive: true });
        expect(run(["mount", "-t", "tmpfs", "covered", join(dir, "cover", "under")]).code).toBe(0);
        expect(run(["mount", "--bind", join(card, "CLIPS"), join(dir, "cover")]).code).toBe(0);
        try {
          mkdirSync(join(card, "CLIPS", "under"));
          const covered = dc(["-r", "--state-dir", join(dir, "st"), "--sums", join(dir, "cover", "under", "s.xxh64"), card, d2], dir);
          expect([covered.code, withoutJobLine(covered.stderr)]).toEqual([2, `dispatchcopy: --sums ${join(dir, "cover", "under", "s.xxh64")} is inside the source ${card}; write it outside the card and the destinations\n`]);
        } finally {
          run(["umount", join(dir, "cover")]);
          run(["umount", join(dir, "cover", "under")]);
          rmSync(join(card, "CLIPS", "under"), { recursive: true, force: true });
        }
      }
      rmSync(d2, { recursive: true });
      mkdirSync(d2);
      // File mode: the report over the source or the copy.
      const clip = join(card, "CLIPS", "A001C001.mov");
      for (const [report, message] of [
        [clip, `is the source ${clip} itself`],
        [join(dir, "D2", "copy.mov"), `is the destination ${join(dir, "D2", "copy.mov")} itself`],
        // DEST a folder: the copy is the file in it.
        [join(d2, "A001C001.mov"), `is the destination ${join(d2, "A001C001.mov")} itself`],
      ]) {
        const r = dc(["--state-dir", join(dir, "st"), "--report", report!, clip, join(dir, "D2", "copy.mov"), d2], dir);
        expect([r.code, withoutJobLine(r.stderr)]).toEqual([2, `dispatchcopy: --report ${report} ${message}; write it outside the card and the destinations\n`]);
      }
      expect(readdirSync(join(dir, "D2")).sort()).toEqual(["A001"]);
      // Beside them is fine.
      const ok = dc(["-r", "--state-dir", join(dir, "st"), "--sums", join(dir, "D1", "A001.xxh64"), card, d1], dir);
      expect(ok.code).toBe(0);
      expect(readFileSync(join(dir, "D1", "A001.xxh64"), "utf8")).toContain("  meta & <x>.xml\n");
    });

    test("--sums and --state-dir whose folder becomes a link into a destination during the run: not written there, named", async () => {
      const dir = tempDir("cartkit-dc-swap-");
      const card = join(dir, "CARD");
      mkdirSync(join(card, "clips"), { recursive: true });
      writeFileSync(join(card, "clips", "big.mov"), randomBytes(3_000_000, 4));
      writeFileSync(join(card, "clips", "small.mov"), "small");
      mkdirSync(join(dir, "out"));
      const cmd = [...runner.command("dispatchcopy"), "-r", "--rate-limit", "2MB/s", "--state-dir", join(dir, "st"), "--sums", "out/small.mov", card, join(dir, "D1"), join(dir, "D2")];
      const proc = Bun.spawn(cmd, { cwd: dir, stdout: "pipe", stderr: "pipe" });
      // Well after the start's look at the path, well before the end (3 MB at 2 MB/s).
      await Bun.sleep(700);
      renameSync(join(dir, "out"), join(dir, "out.before"));
      symlinkSync(join(dir, "D1", "clips"), join(dir, "out"));
      const [code, stderr] = [await proc.exited, await new Response(proc.stderr).text()];
      expect([code, stderr.split("\n").filter((line) => line.includes("out/small.mov"))]).toEqual([2, [`dispatchcopy: out/small.mov: sum file not written: it is inside the destination ${join(dir, "D1")} now (a folder of its path changed during the run)`]]);
      expect(readFileSync(join(dir, "D1", "clips", "small.mov"), "utf8")).toBe("small");
      expect(tool(runner, "mhl-verify", ["verify", join(dir, "D1")]).code).toBe(0);
      // The job's state, saved each second, the same: not written there (said once), the copies whole.
      mkdirSync(join(dir, "state"));
      const again = Bun.spawn([...runner.command("dispatchcopy"), "-r", "--rate-limit", "2MB/s", "--state-dir", "state", card, join(dir, "D3")], { cwd: dir, stdout: "pipe", stderr: "pipe" });
      await Bun.sleep(700);
      renameSync(join(dir, "state"), join(dir, "state.before"));
      symlinkSync(join(dir, "D3"), join(dir, "state"));
      const [againCode, againErr] = [await again.exited, await new Response(again.stderr).text()];
      expect([
        againCode,
        againErr
          .split("\n")
          .filter((line) => line.includes("job state not written"))
          .map((line) => line.replace(/state\/[\w-]+\.json/, "state/ID.json")),
      ]).toEqual([0, [`dispatchcopy: state/ID.json: job state not written: it is inside the destination ${join(dir, "D3")} now (a folder of its path changed during the run)`]]);
      expect(readdirSync(join(dir, "D3")).sort()).toEqual(["ascmhl", "clips"]);
      expect(tool(runner, "mhl-verify", ["verify", join(dir, "D3")]).code).toBe(0);
    });

    test("file mode: Offload Manager's arguments and log lines, three destinations verified", async () => {
      const dir = tempDir("cartkit-dc-");
      for (const d of ["d1", "d2", "d3"]) mkdirSync(join(dir, d));
      const data = randomBytes(1_500_000, 7);
      writeFileSync(join(dir, "A013C0002.MOV"), data);
      const expected = await hashPath(join(dir, "A013C0002.MOV"), ["xxh64", "md5"]);
      const le = Buffer.from(expected.hexes.get("xxh64")!, "hex").reverse().toString("hex");
      const result = dc(["-v", "-t", "xxh64be", "-t", "md5", "-t", "xxh64", "-k", "-f_size", String(data.length), "-b", "262144", "-noflush_dest", join(dir, "d3"), join(dir, "A013C0002.MOV"), join(dir, "d1"), join(dir, "d2"), join(dir, "d3", "renamed.MOV")], dir);
      expect(result.stdout).toBe("");
      expect(result.code).toBe(0);
      const lines = result.stderr.trimEnd().split("\n");
      expect(lines[0]).toBe(`INFO: copying ${join(dir, "A013C0002.MOV")}...`);
      expect(lines).toContain(`INFO: copied ${data.length} of ${data.length} bytes`);
      expect(lines).toContain(`INFO: hash XXH64BE:${expected.hexes.get("xxh64")}`);
      expect(lines).toContain(`INFO: hash MD5:${expected.hexes.get("md5")}`);
      expect(lines).toContain(`INFO: hash XXH64:${le}`);
      expect(lines.find((l) => l.startsWith("INFO: copy speed "))).toMatch(new RegExp(`^INFO: copy speed ${data.length} bytes in \\d+\\.\\d{5} sec \\(\\d+\\.\\d MB/sec\\)$`));
      for (const dest of [join(dir, "d1", "A013C0002.MOV"), join(dir, "d2", "A013C0002.MOV"), join(dir, "d3", "renamed.MOV")]) {
        expect(lines).toContain(`INFO: Copy completed successfully for destination file with file size check (${dest})`);
        expect(lines.some((l) => l.startsWith(`INFO: verified ${dest}: XXH64BE:${expected.hexes.get("xxh64")}`))).toBe(true);
        expect(readFileSync(dest).equals(Buffer.from(data))).toBe(true);
      }
      const tail = lines.slice(lines.indexOf("INFO: moving files in place.."));
      expect(tail[1]).toBe("INFO: flushing files");
      expect(tail.at(-1)).toBe("INFO: done.");
    });

    test("-r to three destinations under a low limit on open files (ulimit -n 64): every file verified on each, the copies waiting for their flush bounded by the limit", { timeout: 120_000 }, () => {
      const dir = tempDir("cartkit-dc-");
      const files: string[] = [];
      for (let d = 0; d < 20; d++) {
        mkdirSync(join(dir, "src", `d${d}`), { recursive: true });
        for (let f = 0; f < 10; f++) {
          writeFileSync(join(dir, "src", `d${d}`, `f${f}`), randomBytes(3000 + f, d * 10 + f));
          files.push(`d${d}/f${f}`);
        }
      }
      const result = run(["sh", "-c", 'ulimit -n 64 && exec "$@"', "sh", ...runner.command("dispatchcopy"), "-r", "src", "o1", "o2", "o3"], { cwd: dir });
      expect({ code: result.code, tail: result.stderr.trimEnd().split("\n").slice(-3) }).toEqual({ code: 0, tail: ["dispatchcopy: o1: 200 files, 586.8 KiB verified from the device", "dispatchcopy: o2: 200 files, 586.8 KiB verified from the device", "dispatchcopy: o3: 200 files, 586.8 KiB verified from the device"] });
      for (const out of ["o1", "o2", "o3"]) {
        expect(filesBelow(join(dir, out)).filter((p) => !p.startsWith("ascmhl/"))).toEqual(files.sort());
        for (const file of files) expect(readFileSync(join(dir, out, file)).equals(readFileSync(join(dir, "src", file)))).toBe(true);
      }
    });

    test("-r under a limit on open files too low for the run (ulimit -n 48, 4 destinations, --jobs 4): refused before anything is written, exit 2, saying what is needed", { timeout: 60_000 }, () => {
      const dir = tempDir("cartkit-dc-");
      mkdirSync(join(dir, "src", "d"), { recursive: true });
      for (let f = 0; f < 20; f++) writeFileSync(join(dir, "src", "d", `f${f}`), randomBytes(100, f));
      const result = run(["sh", "-c", 'ulimit -n 48 && exec "$@"', "sh", ...runner.command("dispatchcopy"), "-r", "--jobs", "4", "src", "o1", "o2", "o3", "o4"], { cwd: dir, env: { XDG_STATE_HOME: join(dir, "state") } });
      expect({ code: result.code, stdout: result.stdout, last: withoutJobLine(result.stderr) }).toEqual({
        code: 2,
        stdout: "",
        last: "dispatchcopy: the limit on open files (ulimit -n 48) is too low to copy to 4 destination(s) with 4 file(s) at once: at least 90 are needed; raise the limit to 90 or more, or use fewer destinations or a lower --jobs\n",
      });
      for (const out of ["o1", "o2", "o3", "o4"]) expect(existsSync(join(dir, out, "d"))).toBe(false);
    });

    test("file mode: an existing file is never overwritten; identical is 'present'; --overwrite replaces", () => {
      const dir = tempDir("cartkit-dc-");
      mkdirSync(join(dir, "d1"));
      mkdirSync(join(dir, "d2"));
      writeFileSync(join(dir, "clip.mov"), "new content");
      writeFileSync(join(dir, "d1", "clip.mov"), "new content");
      writeFileSync(join(dir, "d2", "clip.mov"), "old content");
      const result = dc(["-v", "clip.mov", "d1", "d2"], dir);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("INFO: already present d1/clip.mov: identical file (XXH64BE:");
      expect(result.stderr).toContain("dispatchcopy: d2/clip.mov: failed: already exists with different content; use --overwrite to replace it\n");
      expect(readFileSync(join(dir, "d2", "clip.mov"), "utf8")).toBe("old content");
      expect(dc(["--overwrite", "clip.mov", "d2"], dir).code).toBe(0);
      expect(readFileSync(join(dir, "d2", "clip.mov"), "utf8")).toBe("new content");
    });

    test("usage errors exit 2 with one line", () => {
      const dir = tempDir("cartkit-dc-");
      mkdirSync(join(dir, "card"));
      const cases: Array<[string[], string]> = [
        [["card", "x"], "dispatchcopy: card: is a folder; use -r to offload a folder\n"],
        [["only-source"], "dispatchcopy: give a SOURCE and at least one DEST; see 'dispatchcopy --help'\n"],
        [["-t", "crc32", "a", "b"], "dispatchcopy: -t crc32: use one of xxh64be, xxh64, xxh3, xxh128, md5, sha1, sha256, blake3, c4\n"],
        [["--verify", "maybe", "a", "b"], "dispatchcopy: invalid --verify 'maybe'; use one of: dest, source+dest, size, none\n"],
        [["missing.mov", "d"], "dispatchcopy: missing.mov: cannot read the source: No such file or directory\n"],
      ];
      for (const [args, stderr] of cases) expect({ args, code: dc(args, dir).code, stderr: dc(args, dir).stderr }).toEqual({ args, code: 2, stderr });
    });

    test("copies and their folders keep the source's modification times to the nanosecond, in tree and file mode, small files and large", () => {
      const dir = tempDir("cartkit-dc-times-");
      const card = join(dir, "CARD");
      mkdirSync(join(card, "CLIPS"), { recursive: true });
      // Small files are copied on one path, files over 1 MiB on another.
      writeFileSync(join(card, "CLIPS", "small.mov"), randomBytes(5000, 11));
      writeFileSync(join(card, "CLIPS", "large.mov"), randomBytes(3 * 1024 * 1024 + 1, 12));
      writeFileSync(join(card, "old.xml"), "<clip/>");
      const times: Array<[string, string]> = [
        // A tenth of a microsecond before a second: a float of seconds carries it into the next one.
        ["CLIPS/small.mov", "2025-01-02 03:04:05.999999900"],
        ["CLIPS/large.mov", "2024-05-06 07:08:09.123456789"],
        ["old.xml", "1969-12-31 23:59:58.000000001"],
        ["CLIPS", "2023-03-03 03:03:03.555555555"],
      ];
      for (const [name, when] of times) expect(run(["touch", "-d", `${when} UTC`, join(card, name)]).code).toBe(0);
      const mtimeNs = (path: string) => statSync(path, { bigint: true }).mtimeNs;
      expect(mtimeNs(join(card, "CLIPS", "small.mov"))).toBe(1_735_787_045_999_999_900n);
      const tree = dc(["-r", "--no-mhl", "CARD", "D1/CARD", "D2/CARD"], dir);
      expect([tree.code, tree.stderr.includes("FAILED")]).toEqual([0, false]);
      for (const d of ["D1", "D2"]) for (const [name] of times) expect([d, name, mtimeNs(join(dir, d, "CARD", name))]).toEqual([d, name, mtimeNs(join(card, name))]);
      mkdirSync(join(dir, "F1"));
      for (const name of ["CLIPS/small.mov", "CLIPS/large.mov", "old.xml"]) {
        const single = dc([join(card, name), join(dir, "F1")], dir);
        expect([name, single.code]).toEqual([name, 0]);
        const base = name.slice(name.lastIndexOf("/") + 1);
        expect([name, mtimeNs(join(dir, "F1", base))]).toEqual([name, mtimeNs(join(card, name))]);
      }
    });

    test.if(IS_ROOT)("a card file dated past what a date holds is named and not copied (exit 2); one dated year 1 is copied, and its MHL validates", () => {
      // tmpfs keeps any 64-bit time, for the card and the copies; ext4 and xfs cannot hold these.
      const dir = tempDir("cartkit-dc-fartime-");
      expect(run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir]).code).toBe(0);
      try {
        const card = join(dir, "src", "CARD");
        mkdirSync(card, { recursive: true });
        writeFileSync(join(card, "far.bin"), "far");
        writeFileSync(join(card, "old.bin"), "old");
        expect(run(["python3", "-c", `import os; os.utime(${JSON.stringify(join(card, "far.bin"))}, ns=(2**62 * 10**9,) * 2)`]).code).toBe(0);
        expect(run(["touch", "-d", "0001-01-01 00:00:00 UTC", join(card, "old.bin")]).code).toBe(0);
        const mixed = tool(runner, "dispatchcopy", ["-r", "src/CARD", "D/CARD"], { cwd: dir, env: { TZ: "UTC" } });
        expect(mixed.code).toBe(2);
        expect(mixed.stderr).toContain("dispatchcopy: src/CARD/far.bin: has a modification time no date can hold (4611686018427387904000000000 ns from 1970); give it a real one (touch) and copy again\n");
        expect(mixed.stderr).toContain("dispatchcopy: D/CARD: NOT COMPLETE: 1 of 2 files FAILED\n");
        expect(existsSync(join(dir, "D", "CARD", "far.bin"))).toBe(false);
        expect(readFileSync(join(dir, "D", "CARD", "old.bin"), "utf8")).toBe("old");
        rmSync(join(card, "far.bin"));
        const old = tool(runner, "dispatchcopy", ["-r", "src/CARD", "E/CARD"], { cwd: dir, env: { TZ: "UTC" } });
        expect(old.code).toBe(0);
        expect(statSync(join(dir, "E", "CARD", "old.bin"), { bigint: true }).mtimeNs).toBe(-62_135_596_800_000_000_000n);
        const generation = join(dir, "E", "CARD", "ascmhl", readdirSync(join(dir, "E", "CARD", "ascmhl")).find((f) => f.endsWith(".mhl"))!);
        expect(readFileSync(generation, "utf8")).toContain('<path size="3" lastmodificationdate="0001-01-01T00:00:00+00:00">old.bin</path>');
        const xsd = join(import.meta.dir, "fixtures", "ascmhl", "xsd", "ASCMHL.xsd");
        const valid = run(["xmllint", "--noout", "--schema", xsd, generation]);
        expect([valid.code, valid.stderr.trim()]).toEqual([0, `${generation} validates`]);
      } finally {
        run(["umount", dir]);
      }
    });

    test("tree mode: every file, empty folders and folder times, MHL that mhl-verify accepts, sums and report", () => {
      const dir = tempDir("cartkit-dc-");
      makeCard(dir);
      const result = dc(["-r", "-t", "md5", "-t", "xxh64", "--jobs", "2", "--sums", "A001.md5", "--report", "report.json", "A001", "SHUTTLE1/A001", "SHUTTLE2/A001"], dir);
      expect(result.code).toBe(0);
      expect(result.stderr).toContain("dispatchcopy: SHUTTLE1/A001: 5 files, ");
      for (const shuttle of ["SHUTTLE1", "SHUTTLE2"]) {
        const root = join(dir, shuttle, "A001");
        const files = filesBelow(root).filter((f) => !f.startsWith("ascmhl/"));
        expect(files).toEqual(CARD_FILES);
        for (const f of CARD_FILES) expect(readFileSync(join(root, f)).equals(readFileSync(join(dir, "A001", f)))).toBe(true);
        expect(existsSync(join(root, "EMPTY"))).toBe(true);
        expect(statSync(join(root, "CLIPS")).mtime.toISOString()).toBe("2026-01-01T00:00:00.000Z");
        expect(readdirSync(join(root, "ascmhl")).some((f) => /^0001_A001_\d{4}-\d\d-\d\d_\d{6}Z\.mhl$/.test(f))).toBe(true);
        const verified = tool(runner, "mhl-verify", ["verify", root], { cwd: dir });
        expect({ shuttle, code: verified.code, stderr: verified.stderr }).toEqual({ shuttle, code: 0, stderr: "" });
      }
      const sums = readFileSync(join(dir, "A001.md5"), "utf8");
      expect(sums.split("\n").filter(Boolean)).toHaveLength(5);
      expect(run(["md5sum", "-c", join(dir, "A001.md5")], { cwd: join(dir, "SHUTTLE1", "A001") }).code).toBe(0);
      const report = JSON.parse(readFileSync(join(dir, "report.json"), "utf8"));
      expect(report.files.map((f: { path: string }) => f.path)).toEqual(CARD_FILES);
      expect(report.files.every((f: { destinations: Array<{ status: string }> }) => f.destinations.every((d) => d.status === "verified"))).toBe(true);
    });

    test("tree mode: --progress reports files, bytes, rate and each destination on stderr", () => {
      const dir = tempDir("cartkit-dc-");
      makeCard(dir);
      const result = dc(["-r", "--progress", "A001", "P1", "P2"], dir);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(/^5\/5 files, 2\.7 MiB of 2\.7 MiB, [\d.]+ [KMG]?i?B\/s; P1 ok, P2 ok\n/m);
    });

    test("tree mode: --dry-run lists and sizes without writing; --rename renames and refuses collisions", () => {
      const dir = tempDir("cartkit-dc-");
      makeCard(dir);
      const dry = dc(["-r", "--dry-run", "A001", "OUT"], dir);
      expect(dry.code).toBe(0);
      // Names are escaped as in sum files: one line per file, whatever the name holds.
      expect(
        dry.stdout
          .split("\n")
          .filter(Boolean)
          .map((l) => l.split("\t")[0]),
      ).toEqual(CARD_FILES.map((f) => (f.includes("\n") ? `\\${f.replace("\n", "\\n")}` : f)));
      expect(dry.stderr).toMatch(/^dispatchcopy: OUT: needs 2\.7 MiB for 5 files, has .* free\n$/);
      expect(existsSync(join(dir, "OUT"))).toBe(false);
      // A name that is not UTF-8 is listed by its bytes, as the sum file and xxsum -r write it, never as U+FFFD.
      // (Joined by hand: path.join makes a name well-formed.)
      writeFileSync(fsPath(`${dir}/A001/caf\udce9 \udcff.mov`), "x");
      const bytes = dc(["-r", "--dry-run", "A001", "OUT"], dir);
      expect([bytes.code, bytes.stdout.split("\n").filter((l) => l.includes("caf"))]).toEqual([0, ["\\caf\\xe9 \\xff.mov\t1"]]);
      rmSync(fsPath(`${dir}/A001/caf\udce9 \udcff.mov`));
      const renamed = dc(["-r", "--rename", "s/^A001/B002/", "A001", "OUT"], dir);
      expect(renamed.code).toBe(0);
      expect(existsSync(join(dir, "OUT", "CLIPS", "B002C001.mov"))).toBe(true);
      const clash = dc(["-r", "--rename", "s/.*/same/", "A001", "OUT2"], dir);
      expect(clash.code).toBe(2);
      expect(clash.stderr).toContain("would both be written as");
    });

    test("tree mode: a rename whose result is one name as bytes is one name: two files refused, and a lone one named as the bytes read back", () => {
      const dir = tempDir("cartkit-dc-");
      mkdirSync(join(dir, "card"));
      // \xc3 X \xa9: not UTF-8; without the X it is the two bytes of "é".
      writeFileSync(Buffer.from([...Buffer.from(`${dir}/card/`), 0xc3, 0x58, 0xa9, ...Buffer.from(".mov")]), "bytes");
      writeFileSync(join(dir, "card", "é.mov"), "char");
      const clash = dc(["-r", "--rename", "s/X//", "--overwrite", "--no-mhl", "card", "OUT"], dir);
      expect(clash.code).toBe(2);
      expect(clash.stderr).toContain("would both be written as");
      rmSync(join(dir, "card", "é.mov"));
      const alone = dc(["-r", "--rename", "s/X//", "card", "OUT2"], dir);
      expect([alone.code, withoutJobLine(alone.stderr)]).toEqual([0, "dispatchcopy: OUT2: 1 files, 5 B verified from the device\n"]);
      expect(readdirSync(join(dir, "OUT2")).sort()).toEqual(["ascmhl", "é.mov"]);
    });

    test("tree mode: a rename that changes the order of the names still finds every copy as planned (no stray, a generation written)", () => {
      const dir = tempDir("cartkit-dc-");
      mkdirSync(join(dir, "card", "sub"), { recursive: true });
      for (const name of ["a1.mov", "b1.mov", "c1.mov", "sub/a2.mov", "sub/b2.mov"]) writeFileSync(join(dir, "card", name), name);
      // a… becomes z…: in the destination the renamed files sort after the others.
      const run = dc(["-r", "--rename", "s/^a/z/", "card", "OUT"], dir);
      expect([run.code, withoutJobLine(run.stderr)]).toEqual([0, "dispatchcopy: OUT: 5 files, 38 B verified from the device\n"]);
      expect(readdirSync(join(dir, "OUT")).sort()).toEqual(["ascmhl", "b1.mov", "c1.mov", "sub", "z1.mov"]);
      expect(readdirSync(join(dir, "OUT", "sub")).sort()).toEqual(["b2.mov", "z2.mov"]);
      expect(tool(runner, "mhl-verify", ["verify", join(dir, "OUT")]).code).toBe(0);
    });
  });
}

describe("dispatchcopy (compiled): crashes, full disks, big files", () => {
  const dc = (args: string[], cwd: string) => tool(COMPILED as ToolRunner, "dispatchcopy", args, { cwd });

  test("kill -9 in the middle of a card, then --resume: the same result as an uninterrupted run, nothing trusted unread", async () => {
    const dir = tempDir("cartkit-dc-resume-");
    const card = join(dir, "CARD");
    mkdirSync(card);
    for (let i = 0; i < 12; i++) writeFileSync(join(card, `C${String(i).padStart(3, "0")}.mov`), randomBytes(1024 * 1024, 100 + i));
    const proc = Bun.spawn({ cmd: [...COMPILED.command("dispatchcopy"), "-r", "--rate-limit", "4MB/s", "CARD", "OUT"], cwd: dir, stdout: "ignore", stderr: "ignore" });
    const placed = () => (existsSync(join(dir, "OUT")) ? readdirSync(join(dir, "OUT")).filter((f) => f.endsWith(".mov") && !f.startsWith(".")) : []);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && placed().length < 3) await Bun.sleep(20);
    proc.kill(9);
    await proc.exited;
    const before = placed().sort();
    expect(before.length).toBeGreaterThanOrEqual(3);
    expect(before.length).toBeLessThan(12);
    const resumed = dc(["-r", "--resume", "--json", "CARD", "OUT"], dir);
    expect(resumed.code).toBe(0);
    // What the killed run put in place is read back and compared with the source, read again
    // ("present"); every other file is copied and verified.
    const done = resumed.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((e) => e.event === "file-done");
    expect(done).toHaveLength(12);
    expect(
      done
        .filter((e) => e.destinations[0].status === "present")
        .map((e) => e.path)
        .sort(),
    ).toEqual(before);
    expect(done.filter((e) => e.destinations[0].status === "verified")).toHaveLength(12 - before.length);
    expect(readdirSync(join(dir, "OUT")).filter((f) => f.endsWith(".partial"))).toEqual([]);
    expect(filesBelow(join(dir, "OUT")).filter((f) => !f.startsWith("ascmhl/"))).toEqual(filesBelow(card));
    for (const f of filesBelow(card)) expect(readFileSync(join(dir, "OUT", f)).equals(readFileSync(join(card, f)))).toBe(true);
    expect(tool(COMPILED, "mhl-verify", ["verify", join(dir, "OUT")], { cwd: dir }).code).toBe(0);
  });

  test("a destination on a full file system fails alone; the others verify", () => {
    const dir = tempDir("cartkit-dc-full-");
    const small = join(dir, "small");
    mkdirSync(small);
    if (run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small]).code !== 0) {
      if (process.env.CI === "true") throw new Error("CI must be able to mount a tmpfs (root)");
      return;
    }
    afterAll(() => run(["umount", small]));
    mkdirSync(join(dir, "big"));
    writeFileSync(join(dir, "clip.mov"), randomBytes(2 * 1024 * 1024, 5));
    const result = dc(["clip.mov", "big", "small"], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`dispatchcopy: small/clip.mov: failed: write failed: No space left on device\n`);
    expect(readdirSync(small)).toEqual([]);
    expect(readFileSync(join(dir, "big", "clip.mov")).equals(readFileSync(join(dir, "clip.mov")))).toBe(true);
  });

  test("a large file to three destinations (the read-back that runs on hashing threads): every copy verified with its md5", async () => {
    const dir = tempDir("cartkit-dc-three-");
    writeFileSync(join(dir, "clip.mov"), randomBytes(20 * 1024 * 1024 + 11, 9));
    for (const d of ["a", "b", "c"]) mkdirSync(join(dir, d));
    const result = dc(["-v", "-t", "md5", "clip.mov", "a", "b", "c"], dir);
    expect([result.code, result.stdout]).toEqual([0, ""]);
    const md5 = run(["md5sum", join(dir, "clip.mov")]).stdout.split(" ")[0];
    const verified = result.stderr.split("\n").filter((l) => l.startsWith("INFO: verified"));
    expect(verified).toEqual(["a", "b", "c"].map((d) => `INFO: verified ${join(d, "clip.mov")}: MD5:${md5}, read back from the device`));
    for (const d of ["a", "b", "c"]) expect(readFileSync(join(dir, d, "clip.mov")).equals(readFileSync(join(dir, "clip.mov")))).toBe(true);
  });

  test("a file larger than 4 GiB (sparse source) copies and verifies", async () => {
    const dir = tempDir("cartkit-dc-big-");
    const size = 4 * 1024 ** 3 + 4097;
    const fd = (await import("node:fs")).openSync(join(dir, "huge.mov"), "w");
    (await import("node:fs")).ftruncateSync(fd, size);
    (await import("node:fs")).writeSync(fd, Buffer.from("tail"), 0, 4, size - 4);
    (await import("node:fs")).closeSync(fd);
    mkdirSync(join(dir, "out"));
    const result = dc(["-v", "huge.mov", "out"], dir);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`INFO: copied ${size} of ${size} bytes`);
    expect(result.stderr).toContain(`INFO: verified ${join("out", "huge.mov")}: XXH64BE:`);
    expect(statSync(join(dir, "out", "huge.mov")).size).toBe(size);
  }, 300_000);
});

test("a folder whose time cannot be set leaves its copies standing: unsupported is passed over, another error is named as what it is (needs strace)", () => {
  const strace = straceOrSkip();
  if (!strace) return;
  for (const [errno, code, said] of [
    ["ENOSYS", 0, ""],
    ["EIO", 2, "d1/CLIPS: folder time not set: Input/output error"],
  ] as const) {
    const dir = tempDir("cartkit-dc-foldertime-");
    mkdirSync(join(dir, "card", "CLIPS"), { recursive: true });
    writeFileSync(join(dir, "card", "CLIPS", "a.mov"), "a");
    writeFileSync(join(dir, "card", "b.mov"), "b");
    const log = join(dir, "strace.txt");
    // Only calls on the copy of CLIPS: its time is refused.
    const result = run([strace, "-f", "-qq", "-o", log, "-P", join(dir, "d1", "CLIPS"), "-e", "trace=utimensat", `--inject=utimensat:error=${errno}`, ...COMPILED.command("dispatchcopy"), "-r", "--no-mhl", "card", "d1"], { cwd: dir });
    const expected = code === 0 ? "dispatchcopy: d1: 2 files, 2 B verified from the device\n" : `dispatchcopy: ${said}\ndispatchcopy: d1: NOT COMPLETE: ${said}\n`;
    expect({ errno, code: result.code, stderr: withoutJobLine(result.stderr) }).toEqual({ errno, code, stderr: expected });
    expect(readFileSync(log, "utf8").match(/INJECTED/g)).toHaveLength(1);
    expect(readFileSync(join(dir, "d1", "CLIPS", "a.mov"), "utf8")).toBe("a");
  }
}, 60_000);

test("where the kernel refuses to link a copy by its descriptor, each copy is put in place through /proc, and the copies are whole (needs strace)", () => {
  const strace = straceOrSkip();
  if (!strace) return;
  for (const errno of ["ENOENT", "EPERM"]) {
    const dir = tempDir("cartkit-dc-link-");
    const card = makeCard(dir);
    const log = join(dir, "strace.txt");
    // The first linkat fails as an older kernel without CAP_DAC_READ_SEARCH answers.
    const result = run([strace, "-ff", "-qq", "-o", log, "-e", "trace=linkat", `--inject=linkat:error=${errno}:when=1`, ...COMPILED.command("dispatchcopy"), "-r", "--no-mhl", card, join(dir, "d1"), join(dir, "d2")], { cwd: dir });
    expect([result.code, withoutJobLine(result.stderr)]).toEqual([0, `dispatchcopy: ${join(dir, "d1")}: 5 files, 2.7 MiB verified from the device\ndispatchcopy: ${join(dir, "d2")}: 5 files, 2.7 MiB verified from the device\n`]);
    for (const d of ["d1", "d2"]) {
      expect(filesBelow(join(dir, d))).toEqual(CARD_FILES);
      for (const f of CARD_FILES) expect(readFileSync(join(dir, d, f)).equals(readFileSync(join(card, f)))).toBe(true);
    }
    // strace counts `when` per thread: each thread that links (the calling thread, for the first
    // file, and each destination's write thread) is refused its first call by descriptor, and
    // from then on links through /proc: 2 destinations × 5 files. One log per thread (-ff).
    const byThread = new Map<string, string[]>();
    for (const name of readdirSync(dir).filter((n) => n.startsWith("strace.txt."))) {
      const mine = readFileSync(join(dir, name), "utf8")
        .split("\n")
        .filter((c) => c.startsWith("linkat("));
      if (mine.length > 0) byThread.set(name, mine);
    }
    const calls = [...byThread.values()].flat();
    expect(byThread.size).toBe(3);
    for (const mine of byThread.values()) {
      expect(mine[0]).toContain("AT_EMPTY_PATH");
      expect(mine[0]).toContain("(INJECTED)");
      expect(mine.slice(1).every((c) => c.includes('"/proc/self/fd/') && c.endsWith("= 0"))).toBe(true);
    }
    expect(calls.filter((c) => c.includes("AT_EMPTY_PATH"))).toHaveLength(byThread.size);
    expect(calls.filter((c) => c.includes('"/proc/self/fd/') && c.endsWith("= 0"))).toHaveLength(10);
  }
}, 60_000);
