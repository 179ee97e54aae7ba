/**
 * dispatchcopy --verify none and its ASC MHL generations: a copy not read back is sealed with the
 * digests of the bytes written to it (the card's), not hashed again from what the destination
 * gives back, so that a later `mhl-verify verify` compares it with what it must hold.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashPath } from "../lib/hash/mod.ts";
import { randomBytes, readStdoutUntil, run, runners, smallCard, straceOrSkip, tempDir, tool, withoutJobLine } from "./helpers.ts";

// Every test here starts real processes; on a busy 2-core machine one can take longer than 5 s.
setDefaultTimeout(120_000);

const ENV = { TZ: "UTC", CARTKIT_MHL_HOSTNAME: "cart-01" };
const FILES = ["A001/C001.mov", "A001/C002.mov", "A002/sub/C003.mov", "readme.txt"];

/** The xxh64 each `<hash>` of a generation records, by path. */
function recorded(generation: string): Map<string, string> {
  const text = readFileSync(generation, "utf8");
  return new Map([...text.matchAll(/<path [^>]*>([^<]+)<\/path>\s*<xxh64 action="original"[^>]*>([0-9a-f]{16})<\/xxh64>/g)].map((m) => [m[1]!, m[2]!]));
}

for (const runner of runners()) {
  describe(`dispatchcopy --verify none and its generations (${runner.label})`, () => {
    const dir = tempDir("offload-unverified-");
    let n = 0;
    const card = () => smallCard(join(dir, `${runner.label}-${++n}`), FILES);

    /**
     * `dispatchcopy -r --verify none` of a card with a slow last file (`zz.mov`, copied last by
     * name), done to `A001/C001.mov`'s copy by `change` once its `copied` event is out, while the
     * run goes on: its exit code and stderr.
     */
    const changedMidRun = async (root: string, d1: string, extra: string[], change: (copy: string) => void): Promise<[number, string]> => {
      writeFileSync(join(root, "zz.mov"), randomBytes(3_000_000, 9));
      const child = Bun.spawn([...runner.command("dispatchcopy"), "-r", ...extra, "--verify", "none", "-t", "xxh64", "--json", "--rate-limit", "1MB/s", root, d1], { env: { ...process.env, ...ENV }, stdout: "pipe", stderr: "pipe" });
      const copy = join(d1, "A001", "C001.mov");
      await readStdoutUntil(child.stdout, `"destination":${JSON.stringify(copy)},"status":"copied"`);
      change(copy);
      return [await child.exited, await new Response(child.stderr).text()];
    };

    test("each copy is sealed with the card's digests, and verifies", async () => {
      const { root, top } = card();
      const [d1, d2] = [join(top, "D1"), join(top, "D2")];
      const r = tool(runner, "dispatchcopy", ["-r", "--verify", "none", "-t", "xxh64", root, d1, d2], { env: ENV });
      expect([r.code, withoutJobLine(r.stderr)]).toEqual([0, [d1, d2].map((d) => `dispatchcopy: ${d}: 4 files, 17.6 KiB copied, not verified\n`).join("")]);
      const digests = new Map(await Promise.all(FILES.map(async (path) => [path, (await hashPath(join(root, path), ["xxh64"])).hexes.get("xxh64")!] as const)));
      for (const d of [d1, d2]) {
        const generation = join(d, "ascmhl", readdirSync(join(d, "ascmhl")).find((name) => name.endsWith(".mhl"))!);
        expect(recorded(generation)).toEqual(digests);
        const verified = tool(runner, "mhl-verify", ["verify", d], { env: ENV });
        expect([verified.code, verified.stderr]).toEqual([0, ""]);
      }
    });

    test("a file the destination's history has a record of is hashed: a copy damaged before its generation is refused, never recorded verified by the card's digest", async () => {
      const { root, top } = card();
      const d1 = join(top, "D1");
      expect(tool(runner, "dispatchcopy", ["-r", "-t", "xxh64", root, d1], { env: ENV }).code).toBe(0);
      const copy = join(d1, "A001", "C001.mov");
      // Other bytes, with the size and the time (to the nanosecond) the copy was given.
      const [code, stderr] = await changedMidRun(root, d1, ["--overwrite"], (path) => {
        expect(run(["python3", "-c", "import os, sys; p = sys.argv[1]; s = os.stat(p); f = open(p, 'r+b'); f.write(b'\\0' * 8); f.close(); os.utime(p, ns=(s.st_atime_ns, s.st_mtime_ns))", path]).code).toBe(0);
      });
      expect([code, stderr]).toEqual([2, expect.stringContaining(`: ASC MHL generation not written: ${copy}: holds other bytes than were written to it (changed after it was copied); not sealed into an ASC MHL (run again to copy it)\n`)]);
      // No generation claims it: the history holds the first run's alone.
      expect(readdirSync(join(d1, "ascmhl")).filter((name) => name.endsWith(".mhl"))).toHaveLength(1);
    });

    test("a copy gone from the destination before the run ends is named, and the run fails", async () => {
      const { root, top } = card();
      const d1 = join(top, "D1");
      const copy = join(d1, "A001", "C001.mov");
      const [code, stderr] = await changedMidRun(root, d1, [], (path) => rmSync(path));
      expect([code, withoutJobLine(stderr)]).toEqual([
        2,
        `dispatchcopy: ${copy}: failed: gone from the destination after it was copied: what is there now is not what was copied (run again to copy it)\ndispatchcopy: ${d1}: NOT COMPLETE: 1 of 5 files FAILED; ${copy}: failed: gone from the destination after it was copied: what is there now is not what was copied (run again to copy it)\n`,
      ]);
    });

    test("a copy rewritten before its generation (another size) holds other bytes than were written: not sealed, named, exit 2", async () => {
      const { root, top } = card();
      const d1 = join(top, "D1");
      const copy = join(d1, "A001", "C001.mov");
      const [code, stderr] = await changedMidRun(root, d1, [], (path) => writeFileSync(path, "other bytes"));
      expect([code, withoutJobLine(stderr)]).toEqual([
        2,
        `dispatchcopy: ${d1}: ASC MHL generation not written: ${copy}: holds other bytes than were written to it (changed after it was copied); not sealed into an ASC MHL (run again to copy it)\ndispatchcopy: ${d1}: NOT COMPLETE: ASC MHL generation not written: ${copy}: holds other bytes than were written to it (changed after it was copied); not sealed into an ASC MHL (run again to copy it)\n`,
      ]);
      expect(readdirSync(d1)).not.toContain("ascmhl");
    });

    test("an ignore pattern of the destination's history that would leave a copy out is named, without calling it verified", () => {
      const { root, top } = card();
      // Read back, in a hash ASC MHL does not know (no digest for the generation): still verified.
      const read = join(top, "D-read");
      mkdirSync(read);
      writeFileSync(join(read, "keep.txt"), "the destination's own");
      expect(tool(runner, "mhl-verify", ["create", "-h", "xxh64", "-i", "*.mov", read], { env: ENV }).code).toBe(0);
      const sha = tool(runner, "dispatchcopy", ["-r", "-t", "sha256", root, read], { env: ENV });
      expect([sha.code, sha.stderr]).toEqual([2, expect.stringContaining(": ASC MHL generation not written: 3 verified file(s) would not be recorded: ")]);
      expect(sha.stderr).toContain("; the copies themselves are verified\n");
      // Not read back, in a hash ASC MHL does not know: named all the same.
      const unread = join(top, "D-unread");
      mkdirSync(unread);
      writeFileSync(join(unread, "keep.txt"), "the destination's own");
      expect(tool(runner, "mhl-verify", ["create", "-h", "xxh64", "-i", "*.mov", unread], { env: ENV }).code).toBe(0);
      const quiet = tool(runner, "dispatchcopy", ["-r", "--verify", "none", "-t", "sha256", root, unread], { env: ENV });
      expect([quiet.code, quiet.stderr]).toEqual([2, expect.stringContaining(": ASC MHL generation not written: 3 copied file(s) would not be recorded: ")]);
      for (const mode of ["none", "size"]) {
        const d1 = join(top, `D-${mode}`);
        mkdirSync(d1);
        writeFileSync(join(d1, "keep.txt"), "the destination's own");
        expect(tool(runner, "mhl-verify", ["create", "-h", "xxh64", "-i", "*.mov", d1], { env: ENV }).code).toBe(0);
        const r = tool(runner, "dispatchcopy", ["-r", "--verify", mode, "-t", "xxh64", root, d1], { env: ENV });
        expect([r.code, r.stderr]).toEqual([
          2,
          expect.stringContaining(`${d1}: ASC MHL generation not written: 3 copied file(s) would not be recorded: the history's ignore patterns ('.DS_Store', 'ascmhl', 'ascmhl/', '*.mov') match 'A001/C001.mov', 'A001/C002.mov', 'A002/sub/C003.mov'; the copies themselves are in place, not read back\n`),
        ]);
      }
    });

    test("the HTML report counts no copy that was not read back as verified", () => {
      const { root, top } = card();
      const cells = (mode: string) => {
        const report = join(top, `report-${mode}.html`);
        expect(tool(runner, "dispatchcopy", ["-r", "--verify", mode, "-t", "xxh64", "--report", report, root, join(top, `D-${mode}`)], { env: ENV }).code).toBe(0);
        const row = /<tr class="destination" data-index="0">(.*?)<\/tr>/.exec(readFileSync(report, "utf8"))?.[1] ?? "";
        return [...row.matchAll(/<td class="num[^"]*">(\d+)<\/td>/g)].map((m) => Number(m[1]));
      };
      // Verified, then failed.
      expect([cells("none"), cells("dest")]).toEqual([
        [0, 0],
        [4, 0],
      ]);
    });

    test("the copies are not opened again to be sealed: each name is opened once, on the card (needs strace)", () => {
      const strace = straceOrSkip();
      if (!strace) return;
      const { root, top } = card();
      const log = join(top, "opens.log");
      const r = run([strace, "-f", "-qq", "-o", log, "-e", "trace=open,openat,openat2", ...runner.command("dispatchcopy"), "-r", "--verify", "none", "-t", "xxh64", root, join(top, "D1"), join(top, "D2")], { env: ENV });
      expect(r.code).toBe(0);
      const opens = readFileSync(log, "utf8").split("\n");
      // Before, the generation of each destination read every copy again from the page cache: 3 opens.
      expect(FILES.map((path) => opens.filter((line) => line.includes(`"${path.split("/").at(-1)}"`) && line.includes("O_RDONLY")).length)).toEqual([1, 1, 1, 1]);
    });
  });
}
