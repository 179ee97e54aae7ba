/**
 * dispatchcopy over a card that carries its own ASC MHL history, run again: the card's
 * generations are found in place, each chain the destination's history continues is counted as
 * continued, and the run adds its generation after them; a destination whose history is not the
 * card's continued gets none of the card's files written into it, and says so by name.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readChain } from "../lib/mhl/chain.ts";
import { readStdoutUntil, runners, tempDir, tool } from "./helpers.ts";

// Every test here starts real processes; on a busy 2-core machine one can take longer than 5 s.
setDefaultTimeout(120_000);

const ENV = { TZ: "UTC", CARTKIT_MHL_HOSTNAME: "cart-01" };

/** The file names a chain lists, in order. */
function chained(historyFolder: string): string[] {
  const file = join(historyFolder, "ascmhl_chain.xml");
  return readChain(readFileSync(file, "utf8"), file).map((link) => link.fileName);
}

/** The summary lines of a run, their size in words as SIZE. */
function summaries(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((line) => / \d+ files, /.test(line))
    .map((line) => line.replace(/ files, [\d.]+ (B|KiB) /, " files, SIZE "));
}

/** What a history folder holds, sorted. */
function listing(historyFolder: string): string[] {
  return readdirSync(historyFolder).sort();
}

for (const runner of runners()) {
  describe(`dispatchcopy and a card's own ASC MHL history (${runner.label})`, () => {
    const dir = tempDir("offload-history-");
    let n = 0;
    const dc = (args: string[]) => tool(runner, "dispatchcopy", args, { env: ENV });
    const mhl = (args: string[]) => tool(runner, "mhl-verify", args, { env: ENV });
    /** A card with clips, a history in `A002/` and one at its root that references it. */
    const card = (): { card: string; top: string } => {
      const top = join(dir, `${runner.label}-${++n}`);
      const root = join(top, "CARD");
      mkdirSync(join(root, "A001"), { recursive: true });
      mkdirSync(join(root, "A002"), { recursive: true });
      writeFileSync(join(root, "A001", "C001.mov"), "clip one");
      writeFileSync(join(root, "A002", "C002.mov"), "clip two");
      expect(mhl(["create", "-h", "xxh64", join(root, "A002")]).code).toBe(0);
      expect(mhl(["create", "-h", "xxh64", root]).code).toBe(0);
      return { card: root, top };
    };

    test("run again, plain and with --resume: the card's generations are present, its chains continued, and each run adds a generation", () => {
      const { card: root, top } = card();
      const [d1, d2] = [join(top, "D1"), join(top, "D2")];
      const cardRoot = chained(join(root, "ascmhl"));
      const cardNested = chained(join(root, "A002", "ascmhl"));
      expect(dc(["-r", root, d1, d2]).code).toBe(0);
      let last = "";
      for (const args of [
        ["-r", root, d1, d2],
        ["-r", "--resume", "--report", join(top, "report.json"), "--sums", join(top, "sums.txt"), root, d1, d2],
      ]) {
        const r = dc(args);
        expect([r.code, summaries(r.stderr)]).toEqual([0, [d1, d2].map((d) => `dispatchcopy: ${d}: 7 files, SIZE verified from the device; 2 of them the card's ASC MHL chains, which this destination's history continues (not copied again)`)]);
        last = r.stderr;
      }
      // The root histories of D1 and D2 name their generations each for itself: their chains
      // differ, and neither is the card's any more. The sum file leaves that chain out, and says
      // so. The nested history's generations are named for A002 in both: its line is theirs.
      const sums = readFileSync(join(top, "sums.txt"), "utf8");
      const xxh64 = (path: string) => Bun.hash.xxHash64(readFileSync(path)).toString(16).padStart(16, "0");
      const nested = "A002/ascmhl/ascmhl_chain.xml";
      expect([xxh64(join(d1, nested)) === xxh64(join(d2, nested)), xxh64(join(d1, nested)) === xxh64(join(root, nested))]).toEqual([true, false]);
      expect(sums.split("\n").filter((line) => line.includes("ascmhl_chain.xml"))).toEqual([`${xxh64(join(d1, nested))}  ${nested}`]);
      expect(sums).toContain("  A001/C001.mov\n");
      expect(last.split("\n").filter((line) => line.includes(" left out: "))).toEqual([`dispatchcopy: ${join(top, "sums.txt")}: ascmhl/ascmhl_chain.xml left out: the destinations' ASC MHL chains differ, each listing its own generations (${d1}, ${d2}); mhl-verify verify checks each`]);
      const report = JSON.parse(readFileSync(join(top, "report.json"), "utf8"));
      const statusOf = (path: string) => report.files.find((f: { path: string }) => f.path === path).destinations.map((d: { status: string }) => d.status);
      expect([statusOf("ascmhl/ascmhl_chain.xml"), statusOf("A002/ascmhl/ascmhl_chain.xml"), statusOf(`ascmhl/${cardRoot[0]}`), statusOf("A001/C001.mov")]).toEqual([
        ["continued", "continued"],
        ["continued", "continued"],
        ["present", "present"],
        ["present", "present"],
      ]);
      for (const d of [d1, d2]) {
        // The card's generations first, then one of this destination's for each of the three runs.
        const rootChain = chained(join(d, "ascmhl"));
        const nestedChain = chained(join(d, "A002", "ascmhl"));
        expect([rootChain.slice(0, cardRoot.length), rootChain.length, nestedChain.slice(0, cardNested.length), nestedChain.length]).toEqual([cardRoot, cardRoot.length + 3, cardNested, cardNested.length + 3]);
        expect(listing(join(d, "ascmhl"))).toEqual([...rootChain, "ascmhl_chain.xml"].sort());
        const verified = mhl(["verify", d]);
        expect([verified.code, verified.stderr]).toEqual([0, ""]);
      }
    });

    test("--sums: a chain the run's generations extended gets the destinations' digest, and a check passes in each destination", () => {
      const { card: root, top } = card();
      const [d1, d2] = [join(top, "D1", "CARD"), join(top, "D2", "CARD")];
      const sums = join(top, "sums.txt");
      const xxh64 = (path: string) => Bun.hash.xxHash64(readFileSync(path)).toString(16).padStart(16, "0");
      const chains = ["A002/ascmhl/ascmhl_chain.xml", "ascmhl/ascmhl_chain.xml"];
      const r = dc(["-r", "--sums", sums, root, d1, d2]);
      expect([r.code, r.stderr.includes(" left out: ")]).toEqual([0, false]);
      for (const path of chains) {
        // Same folder name, same generations: the two destinations hold the same chain, which is not the card's.
        expect(xxh64(join(d1, path))).toBe(xxh64(join(d2, path)));
        expect(xxh64(join(d1, path))).not.toBe(xxh64(join(root, path)));
      }
      const text = readFileSync(sums, "utf8");
      expect(text.split("\n").filter((line) => line.includes("ascmhl_chain.xml"))).toEqual(chains.map((path) => `${xxh64(join(d1, path))}  ${path}`));
      for (const d of [d1, d2]) {
        const check = tool(runner, "xxsum", ["-c", sums], { cwd: d });
        expect([check.code, check.stdout.split("\n").filter((line) => !line.endsWith(": OK") && line !== "")]).toEqual([0, []]);
      }
      // Without generations the chains stay the card's, and so do their lines.
      const plain = join(top, "plain.txt");
      const d3 = join(top, "D3", "CARD");
      expect(dc(["-r", "--no-mhl", "--sums", plain, root, d3]).code).toBe(0);
      const chainLines = (file: string) =>
        readFileSync(file, "utf8")
          .split("\n")
          .filter((line) => line.includes("ascmhl_chain.xml"));
      expect(chainLines(plain)).toEqual(chains.map((path) => `${xxh64(join(root, path))}  ${path}`));
      // --no-mhl into D1, whose history continues the card's chains (the run above added its
      // generation): D1's chains are not the card's, and the lines are D1's.
      const again = dc(["-r", "--no-mhl", "--sums", plain, root, d1]);
      expect([again.code, again.stderr.includes(" left out: ")]).toEqual([0, false]);
      expect(chainLines(plain)).toEqual(chains.map((path) => `${xxh64(join(d1, path))}  ${path}`));
      const check = tool(runner, "xxsum", ["-c", plain], { cwd: d1 });
      expect([check.code, check.stdout.split("\n").filter((line) => !line.endsWith(": OK") && line !== "")]).toEqual([0, []]);
      // D1 (continued) beside D3 (the card's as copied): they differ, and are left out, said.
      const both = dc(["-r", "--no-mhl", "--sums", plain, root, d1, d3]);
      expect([both.code, both.stderr.split("\n").filter((line) => line.includes(" left out: "))]).toEqual([0, chains.map((path) => `dispatchcopy: ${plain}: ${path} left out: the destinations' ASC MHL chains differ, each listing its own generations (${d1}, ${d3}); mhl-verify verify checks each`)]);
      expect(chainLines(plain)).toEqual([]);
    });

    test("a run killed while it wrote a nested history's generation: the next run sets that one aside, and seals", () => {
      const { card: root, top } = card();
      const d1 = join(top, "D1");
      expect(dc(["-r", root, d1]).code).toBe(0);
      // What a kill leaves after the nested generation is placed and before its chain lists it:
      // a generation of this tool's, numbered next, not in the chain.
      const nested = join(d1, "A002", "ascmhl");
      const ours = chained(nested).at(-1)!;
      const next = `${String(chained(nested).length + 1).padStart(4, "0")}_A002_2026-01-02_030405Z.mhl`;
      writeFileSync(join(nested, next), readFileSync(join(nested, ours)));
      expect(mhl(["verify", d1]).code).toBe(31);
      const r = dc(["-r", "--resume", root, d1]);
      expect([r.code, r.stderr.split("\n").filter((line) => line.includes("not in the history's chain"))]).toEqual([0, [`dispatchcopy: ${join(nested, next)}: not in the history's chain (left by a run stopped before it added it, or its chain was replaced since); kept as ${next}.unchained, which no history reads`]]);
      expect(listing(nested).includes(`${next}.unchained`)).toBe(true);
      const verified = mhl(["verify", d1]);
      expect([verified.code, verified.stderr]).toEqual([0, ""]);
    });

    test("a run killed before its generation (the card's history copied as it is): the next run finds the chains identical, and seals", () => {
      const { card: root, top } = card();
      const d1 = join(top, "D1");
      // --no-mhl leaves the destination as a run killed after its copies leaves it.
      expect(dc(["-r", "--no-mhl", root, d1]).code).toBe(0);
      expect(readFileSync(join(d1, "ascmhl", "ascmhl_chain.xml"), "utf8")).toBe(readFileSync(join(root, "ascmhl", "ascmhl_chain.xml"), "utf8"));
      const r = dc(["-r", "--resume", root, d1]);
      expect([r.code, summaries(r.stderr)]).toEqual([0, [`dispatchcopy: ${d1}: 7 files, SIZE verified from the device`]]);
      expect(chained(join(d1, "ascmhl")).length).toBe(chained(join(root, "ascmhl")).length + 1);
      expect(mhl(["verify", d1]).code).toBe(0);
    });

    test("a card whose history went on since it was copied: none of its files is written into the destination's history, each named, exit 2", () => {
      const { card: root, top } = card();
      const d1 = join(top, "D1");
      expect(dc(["-r", root, d1]).code).toBe(0);
      const before = listing(join(d1, "ascmhl"));
      const chainBefore = readFileSync(join(d1, "ascmhl", "ascmhl_chain.xml"), "utf8");
      const nestedBefore = listing(join(d1, "A002", "ascmhl"));
      // The card's own second generation of the root (the run's own is second in the destination).
      writeFileSync(join(root, "A001", "C003.mov"), "clip three");
      expect(mhl(["create", "-h", "xxh64", root]).code).toBe(0);
      const r = dc(["-r", root, d1]);
      expect(r.code).toBe(2);
      // `create` of the card's root wrote a generation into its nested history too: both went on.
      const apart = (history: string) => r.stderr.split("\n").filter((line) => line.includes(`: failed: not copied: this destination's ASC MHL history (${history}) is not the card's continued: `));
      const pathsOf = (lines: string[]) => lines.map((line) => line.slice("dispatchcopy: ".length, line.indexOf(": failed:")));
      expect([pathsOf(apart("ascmhl/")), pathsOf(apart("A002/ascmhl/"))]).toEqual(["ascmhl", "A002/ascmhl"].map((history) => listing(join(root, history)).map((name) => join(d1, history, name))));
      const [cardRoot, cardNested] = [chained(join(root, "ascmhl")), chained(join(root, "A002", "ascmhl"))];
      expect(apart("ascmhl/")[0]).toEndWith(`its generation 2 (${chained(join(d1, "ascmhl"))[1]}) is not the card's generation 2 (${cardRoot[1]}); none of the card's files is written into it (compare the two with mhl-verify info; --overwrite would replace the destination's history)`);
      // Made in the same second, the two third generations have one name; else two.
      expect(apart("A002/ascmhl/")[0]).toContain(`its generation 3 (${nestedBefore.filter((name) => name.endsWith(".mhl"))[2]}) ${nestedBefore.includes(cardNested[2]!) ? "is another file than the card's of that name (another C4 ID)" : `is not the card's generation 3 (${cardNested[2]})`}; none of the card's files`);
      expect(r.stderr).toContain(`dispatchcopy: ${d1}: NOT COMPLETE: 7 of 10 files FAILED`);
      // The destination's histories are as they were, and still prove what they recorded.
      expect([listing(join(d1, "ascmhl")), readFileSync(join(d1, "ascmhl", "ascmhl_chain.xml"), "utf8"), listing(join(d1, "A002", "ascmhl"))]).toEqual([before, chainBefore, nestedBefore]);
      expect(readFileSync(join(d1, "A001", "C003.mov"), "utf8")).toBe("clip three");
      const verified = mhl(["verify", d1]);
      expect([verified.code, verified.stderr]).toEqual([21, `found new file A001/C003.mov\nmhl-verify: New files not referenced in the ASC MHL history have been found\n`]);
    });

    test("--overwrite takes the card's root history again: the destination's earlier generation, out of the new chain, is kept aside, never removed", () => {
      const { card: root, top } = card();
      // A history in a folder is refused by name after --overwrite (README): this card has none.
      rmSync(join(root, "A002", "ascmhl"), { recursive: true });
      rmSync(join(root, "ascmhl"), { recursive: true });
      expect(mhl(["create", "-h", "xxh64", root]).code).toBe(0);
      // 75 characters of 3 bytes: the generation's name is 253 bytes, too long for ".unchained" after it.
      const d1 = join(top, "撮".repeat(75));
      expect(dc(["-r", root, d1]).code).toBe(0);
      const [earlier] = chained(join(d1, "ascmhl")).slice(-1);
      const bytes = readFileSync(join(d1, "ascmhl", earlier!));
      const r = dc(["-r", "--overwrite", root, d1]);
      expect([r.code, r.stderr.split("\n").filter((line) => line.includes("kept as"))]).toEqual([0, [`dispatchcopy: ${d1}/ascmhl/${earlier}: not in the history's chain (left by a run stopped before it added it, or its chain was replaced since); kept as 0002.unchained, which no history reads`]]);
      expect(readFileSync(join(d1, "ascmhl", "0002.unchained"))).toEqual(bytes);
      expect(mhl(["verify", d1]).code).toBe(0);
      // Where no name is free to set one aside, the run fails, and the generation stays where it is.
      const [second] = chained(join(d1, "ascmhl")).slice(-1);
      for (let n = 2; n <= 1000; n++) writeFileSync(join(d1, "ascmhl", `0002.unchained-${n}`), "taken");
      const full = dc(["-r", "--overwrite", root, d1]);
      expect([full.code, full.stderr]).toEqual([2, expect.stringContaining(": ASC MHL generation not written: File exists (")]);
      expect(listing(join(d1, "ascmhl")).filter((name) => name.endsWith(".mhl"))).toEqual([chained(join(root, "ascmhl"))[0]!, second!].sort());
    });

    test("the card's chain changed after it was compared: named, exit 2", async () => {
      const { card: root, top } = card();
      // Copied after the card's history (names in byte order): the run is still going when the chain changes.
      mkdirSync(join(root, "zz"));
      writeFileSync(join(root, "zz", "big.mov"), new Uint8Array(20_000_000).fill(7));
      const d1 = join(top, "D1");
      expect(dc(["-r", "--no-mhl", root, d1]).code).toBe(0);
      expect(dc(["-r", root, d1]).code).toBe(0);
      const child = Bun.spawn([...runner.command("dispatchcopy"), "-r", "--json", "--rate-limit", "10MB/s", root, d1], { env: { ...process.env, ...ENV }, stdout: "pipe", stderr: "pipe" });
      await readStdoutUntil(child.stdout, (text) => text.includes(`"destination":${JSON.stringify(join(d1, "ascmhl", "ascmhl_chain.xml"))},"status":"continued"`));
      writeFileSync(join(root, "ascmhl", "ascmhl_chain.xml"), `${readFileSync(join(root, "ascmhl", "ascmhl_chain.xml"), "utf8")}<!-- later -->\n`);
      const [code, stderr] = [await child.exited, await new Response(child.stderr).text()];
      expect([code, stderr.split("\n").filter((line) => line.includes("ascmhl_chain.xml"))]).toEqual([2, [`dispatchcopy: ${join(root, "ascmhl", "ascmhl_chain.xml")}: changed after it was copied; the copies hold it as it was read (run again with --overwrite to copy it as it is now)`]]);
    });

    test("a destination whose history is another's, or whose chain is a link: the card's history is not written into it", () => {
      const { card: root, top } = card();
      const other = join(top, "OTHER");
      mkdirSync(other);
      writeFileSync(join(other, "x.mov"), "another card");
      // A folder in the card's history is the history's too.
      mkdirSync(join(root, "ascmhl", "notes"));
      writeFileSync(join(root, "ascmhl", "notes", "n.txt"), "a note");
      const d1 = join(top, "D1");
      expect(dc(["-r", other, d1]).code).toBe(0);
      const before = listing(join(d1, "ascmhl"));
      const r = dc(["-r", root, d1]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${join(d1, "ascmhl", "ascmhl_chain.xml")}: failed: not copied: this destination's ASC MHL history (ascmhl/) is not the card's continued: its generation 1 (`);
      expect(r.stderr).toContain(`${join(d1, "ascmhl", "notes", "n.txt")}: failed: not copied: this destination's ASC MHL history (ascmhl/) is not the card's continued: `);
      // The card's folders are made before any file is copied: that one stays, empty.
      expect([listing(join(d1, "ascmhl")), listing(join(d1, "ascmhl", "notes"))]).toEqual([[...before, "notes"].sort(), []]);
      rmSync(join(d1, "ascmhl", "notes"), { recursive: true });
      // A card's chain that lists no generation holds nothing the destination could lack: continued
      // by any history, run after run.
      const empty = join(top, "EMPTY");
      mkdirSync(join(empty, "ascmhl"), { recursive: true });
      writeFileSync(join(empty, "ascmhl", "ascmhl_chain.xml"), `<?xml version="1.0" encoding="UTF-8"?>\n<ascmhldirectory xmlns="urn:ASC:MHL:DIRECTORY:v2.0"/>\n`);
      const fresh = join(top, "FRESH");
      const continues = "; 1 of them the card's ASC MHL chain, which this destination's history continues (not copied again)";
      for (const [d, suffix] of [
        [fresh, ""],
        [fresh, continues],
        [d1, continues],
      ]) {
        const again = dc(["-r", empty, d!]);
        expect([again.code, summaries(again.stderr)]).toEqual([0, [`dispatchcopy: ${d}: 1 files, SIZE verified from the device${suffix}`]]);
        expect(mhl(["verify", d!]).code).toBe(0);
      }
      // A chain that is a link to a file outside is never read through, nor written through.
      const d2 = join(top, "D2");
      mkdirSync(join(d2, "ascmhl"), { recursive: true });
      const outside = join(top, "outside.xml");
      writeFileSync(outside, readFileSync(join(root, "ascmhl", "ascmhl_chain.xml")));
      symlinkSync(outside, join(d2, "ascmhl", "ascmhl_chain.xml"));
      const linked = dc(["-r", root, d2]);
      expect(linked.code).toBe(2);
      expect(linked.stderr).toContain(`${join(d2, "ascmhl", "ascmhl_chain.xml")}: failed: not copied: this destination's ASC MHL history (ascmhl/) is not the card's continued: its chain cannot be read as one (`);
      expect(linked.stderr).toContain("it is a symbolic link, never followed in a history");
      expect([listing(join(d2, "ascmhl")), listing(join(d2, "ascmhl", "notes"))]).toEqual([["ascmhl_chain.xml", "notes"], []]);
      expect(readFileSync(outside, "utf8")).toBe(readFileSync(join(root, "ascmhl", "ascmhl_chain.xml"), "utf8"));
      rmSync(outside);
    });
  });
}
