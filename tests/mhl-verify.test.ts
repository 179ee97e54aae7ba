/** mhl-verify: the reference's fixtures verify, tampering is caught with the reference's exit codes, create reproduces the reference's files. */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { cpSync, chmodSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync, appendFileSync, renameSync, mkdirSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { runners, tempDir, tool, run } from "./helpers.ts";
import { c4OfFile } from "../lib/mhl/history.ts";

// Every test here starts real processes; on a busy 2-core machine one can take longer than 5 s.
setDefaultTimeout(120_000);

const FIXTURES = join(import.meta.dir, "fixtures/ascmhl");
const SCENARIOS = join(FIXTURES, "scenarios");
const ENV = { TZ: "UTC", CARTKIT_MHL_HOSTNAME: "myHost.local" };

function writable(path: string): void {
  chmodSync(path, statSync(path).isDirectory() ? 0o755 : 0o644);
  if (statSync(path).isDirectory()) for (const name of readdirSync(path)) writable(join(path, name));
}

/** A writable copy of a fixture folder. */
let copies = 0;
function copyOf(dir: string, relative: string): string {
  const dest = join(dir, String(++copies), relative);
  cpSync(join(SCENARIOS, relative), dest, { recursive: true });
  writable(dest);
  return dest;
}

function setTimes(path: string, iso: string): void {
  const date = new Date(iso);
  if (statSync(path).isDirectory()) for (const name of readdirSync(path)) setTimes(join(path, name), iso);
  utimesSync(path, date, date);
}

function generations(root: string): string[] {
  return readdirSync(join(root, "ascmhl"))
    .filter((f) => f.endsWith(".mhl"))
    .sort();
}

/** The lines the reference printed from `first` up to and including the line `last`. */
function logLines(log: string, first: string, last: string): string {
  const start = log.indexOf(first);
  const end = log.indexOf(last, start);
  if (start < 0 || end < 0) throw new Error(`not in the log: ${first} … ${last}`);
  return log.slice(start, end + last.length);
}

const withoutTool = (text: string) => text.replace(/^\s*<tool.*\n/m, "");

for (const runner of runners()) {
  describe(`mhl-verify (${runner.label})`, () => {
    const dir = tempDir("mhl-verify-");
    const mhl = (args: string[], env: Record<string, string> = {}) => tool(runner, "mhl-verify", args, { env: { ...ENV, ...env } });

    test("every fixture history verifies with exit 0", () => {
      const roots = [
        "scenario_01/travel_01/A002R2EC",
        "scenario_02/travel_01/A002R2EC",
        "scenario_02/file_server/A002R2EC",
        "scenario_03/travel_01/A002R2EC",
        "scenario_03/file_server/A002R2EC",
        "scenario_04/travel_01/A002R2EC",
        "scenario_05/travel_01/Reels/A002R2EC",
        "scenario_05/travel_01/Reels/A003R2EC",
        "scenario_05/file_server/Reels",
      ];
      for (const root of roots) {
        const r = mhl(["verify", copyOf(dir, root)]);
        expect({ root, code: r.code, stderr: r.stderr }).toEqual({ root, code: 0, stderr: "" });
      }
      // scenario 04 records a failed verification: the file on the server differs from its original hash
      const r = mhl([copyOf(dir, "scenario_04/file_server/A002R2EC")]);
      expect(r.code).toBe(11);
      expect(r.stderr).toBe("ERROR: hash mismatch        for Sidecar.txt old xxh64: 3ab5a4166b9bde44, new xxh64: 70d2cf31aaa3eac4\nmhl-verify: Verification of files referenced in the ASC MHL history failed\n");
    });

    test("verbose verify of a nested history lists every file", () => {
      const root = copyOf(dir, "scenario_05/file_server/Reels");
      const r = mhl(["verify", "-v", root]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(
        `check folder at path: ${root}\n${["A002R2EC/Clips/A002C006_141024_R2EC.mov", "A002R2EC/Clips/A002C007_141024_R2EC.mov", "A002R2EC/Sidecar.txt", "A003R2EC/Clips/A003C011_141024_R2EC.mov", "A003R2EC/Clips/A003C012_141024_R2EC.mov", "A003R2EC/Sidecar.txt", "Summary.txt"]
          .map((p) => `verification (xxh64) of file ${p}: OK\n`)
          .join("")}`,
      );
    });

    test("a changed byte gives 11 naming the file, in a nested history too", () => {
      const root = copyOf(dir, "scenario_05/file_server/Reels");
      const file = join(root, "A003R2EC/Clips/A003C012_141024_R2EC.mov");
      const bytes = readFileSync(file);
      bytes[0] = bytes[0]! ^ 1;
      writeFileSync(file, bytes);
      const r = mhl([root]);
      expect(r.code).toBe(11);
      expect(r.stderr).toStartWith("ERROR: hash mismatch        for A003R2EC/Clips/A003C012_141024_R2EC.mov old xxh64: 5dbca064ddddd6fc, new xxh64: ");
    });

    test("a deleted file gives 10, an extra file 21, an edited .mhl 31, a deleted .mhl 33, no chain 32, no history 30", () => {
      let root = copyOf(dir, "scenario_02/file_server/A002R2EC");
      unlinkSync(join(root, "Sidecar.txt"));
      let r = mhl([root]);
      expect([r.code, r.stderr]).toEqual([10, "ERROR: 1 missing file(s):\n  Sidecar.txt\nmhl-verify: Files referenced in the ASC MHL history are missing\n"]);

      root = copyOf(dir, "scenario_01/travel_01/A002R2EC");
      writeFileSync(join(root, "Clips/extra.mov"), "x");
      r = mhl([root]);
      expect([r.code, r.stderr]).toEqual([21, "found new file Clips/extra.mov\nmhl-verify: New files not referenced in the ASC MHL history have been found\n"]);
      r = mhl(["diff", root]);
      expect(r.code).toBe(21);

      root = copyOf(dir, "scenario_03/file_server/A002R2EC");
      const gen = join(root, "ascmhl/0002_A002R2EC_2020-01-17_143000Z.mhl");
      writeFileSync(gen, readFileSync(gen, "utf8").replace("myHost.local", "myHost.locaI"));
      r = mhl([root]);
      expect([r.code, r.stderr]).toEqual([31, `mhl-verify: Modified ASC MHL manifest in history at path ${gen}\n`]);
      unlinkSync(gen);
      expect(mhl([root]).code).toBe(33);
      unlinkSync(join(root, "ascmhl/ascmhl_chain.xml"));
      expect(mhl([root]).code).toBe(32);
      rmSync(join(root, "ascmhl"), { recursive: true });
      r = mhl([root]);
      expect([r.code, r.stderr]).toEqual([30, `mhl-verify: Missing ASC MHL history at path ${root}\n`]);
    });

    test("a generation the chain does not list gives 31: an emptied chain lets no edited generation in", () => {
      const root = copyOf(dir, "scenario_03/file_server/A002R2EC");
      const gen = join(root, "ascmhl/0002_A002R2EC_2020-01-17_143000Z.mhl");
      writeFileSync(gen, readFileSync(gen, "utf8").replace("myHost.local", "myHost.locaI"));
      const chain = join(root, "ascmhl/ascmhl_chain.xml");
      writeFileSync(chain, '<?xml version="1.0" encoding="UTF-8"?>\n<ascmhldirectory xmlns="urn:ASC:MHL:DIRECTORY:v2.0">\n</ascmhldirectory>\n');
      const first = join(root, "ascmhl/0001_A002R2EC_2020-01-16_091500Z.mhl");
      let r = mhl([root]);
      expect([r.code, r.stderr]).toEqual([31, `mhl-verify: Modified ASC MHL manifest in history at path ${first} (it is not listed in ascmhl_chain.xml)\n`]);
      expect(mhl(["diff", root]).code).toBe(31);
      expect(mhl(["create", root]).code).toBe(31);
      // a generation added beside an intact chain
      const other = copyOf(dir, "scenario_03/file_server/A002R2EC");
      const planted = join(other, "ascmhl/0003_A002R2EC_2020-01-18_143000Z.mhl");
      writeFileSync(planted, readFileSync(join(other, "ascmhl/0002_A002R2EC_2020-01-17_143000Z.mhl")));
      r = mhl([other]);
      expect([r.code, r.stderr]).toEqual([31, `mhl-verify: Modified ASC MHL manifest in history at path ${planted} (it is not listed in ascmhl_chain.xml)\n`]);
    });

    test("a generation with a 2 MB path is refused in one line naming the file, not held whole", async () => {
      const root = join(dir, `long-path-${runner.label}`);
      mkdirSync(root, { recursive: true });
      writeFileSync(join(root, "a.mov"), "a");
      expect(mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z" }).code).toBe(0);
      const generation = join(root, "ascmhl", generations(root)[0]!);
      const chain = join(root, "ascmhl/ascmhl_chain.xml");
      const before = await c4OfFile(generation);
      const text = readFileSync(generation, "utf8");
      writeFileSync(generation, text.replace("  </hashes>", `    <hash>\n      <path size="1">${"b".repeat(2_000_000)}</path>\n      <xxh64 action="original">0000000000000000</xxh64>\n    </hash>\n  </hashes>`));
      writeFileSync(chain, readFileSync(chain, "utf8").replace(before, await c4OfFile(generation)));
      const line = text.slice(0, text.indexOf("  </hashes>")).split("\n").length + 1;
      const r = mhl([root]);
      expect([r.code, r.stderr]).toEqual([2, `mhl-verify: ${generation}: line ${line}: text of <path> is longer than 65536 characters\n`]);
    });

    test("a nested history the parent references and that is gone gives 30; its files are not verified, nor new", () => {
      const root = copyOf(dir, "scenario_05/file_server/Reels");
      rmSync(join(root, "A002R2EC/ascmhl"), { recursive: true });
      writeFileSync(join(root, "A002R2EC/Sidecar.txt"), "changed");
      const files = ["Clips/A002C006_141024_R2EC.mov", "Clips/A002C007_141024_R2EC.mov", "Sidecar.txt"];
      const expected =
        ["ERROR: missing ASC MHL history at A002R2EC (a generation references it): files beneath it cannot be verified", ...files.map((f) => `ERROR: not verified: A002R2EC/${f} (the ASC MHL history of A002R2EC is missing)`), `mhl-verify: Missing ASC MHL history at path ${join(root, "A002R2EC")}`].join("\n") + "\n";
      let r = mhl([root]);
      expect([r.code, r.stderr]).toEqual([30, expected]);
      r = mhl(["diff", root]);
      expect([r.code, r.stderr]).toEqual([30, expected]);
      // the whole folder gone: the parent's own entry for it is missing (10), and its history is named
      rmSync(join(root, "A002R2EC"), { recursive: true });
      r = mhl([root]);
      expect([r.code, r.stderr]).toEqual([10, `${expected.split("\n")[0]}\nERROR: 1 missing file(s):\n  A002R2EC\nmhl-verify: Files referenced in the ASC MHL history are missing\n`]);
    });

    test("a nested history replaced by a new one gives 33; a referenced generation with another C4 gives 31", async () => {
      let root = copyOf(dir, "scenario_05/file_server/Reels");
      const child = join(root, "A002R2EC");
      rmSync(join(child, "ascmhl"), { recursive: true });
      writeFileSync(join(child, "Sidecar.txt"), "changed");
      expect(mhl(["create", child, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z" }).code).toBe(0);
      let r = mhl([root]);
      expect([r.code, r.stderr]).toEqual([33, `mhl-verify: Missing ASC MHL manifest in history at path ${join(child, "ascmhl/0002_A002R2EC_2020-01-17_143000Z.mhl")}\n`]);

      // the child's generation edited and its own chain made to agree: the parent's reference still holds the old C4
      root = copyOf(dir, "scenario_05/file_server/Reels");
      const generation = join(root, "A002R2EC/ascmhl/0002_A002R2EC_2020-01-17_143000Z.mhl");
      const chain = join(root, "A002R2EC/ascmhl/ascmhl_chain.xml");
      const before = await c4OfFile(generation);
      writeFileSync(generation, readFileSync(generation, "utf8").replace("myHost.local", "myHost.locaI"));
      writeFileSync(chain, readFileSync(chain, "utf8").replace(before, await c4OfFile(generation)));
      r = mhl([join(root, "A002R2EC")]);
      expect(r.code).toBe(0);
      r = mhl([root]);
      expect([r.code, r.stderr]).toEqual([31, `mhl-verify: Modified ASC MHL manifest in history at path ${generation}\n`]);
    });

    test("create reproduces the reference's generation files byte for byte (but the tool line)", () => {
      const root = copyOf(dir, "scenario_05/travel_01/Reels");
      rmSync(join(root, "A002R2EC/ascmhl"), { recursive: true });
      rmSync(join(root, "A003R2EC/ascmhl"), { recursive: true });
      setTimes(join(root, "A002R2EC"), "2020-01-15T13:00:00Z");
      setTimes(join(root, "A003R2EC"), "2020-01-15T13:30:00Z");
      let r = mhl(["create", "-v", join(root, "A002R2EC"), "-h", "xxh64"], { CARTKIT_MHL_NOW: "2020-01-16T09:15:00Z" });
      expect(r.code).toBe(0);
      const log = readFileSync(join(SCENARIOS, "scenario_05/log.txt"), "utf8");
      const firstRun = logLines(log, "Creating new generation for folder at path: /travel_01/Reels/A002R2EC", "Created new generation ascmhl/0001_A002R2EC_2020-01-16_091500Z.mhl");
      expect(r.stdout).toBe(`${firstRun.replace("/travel_01/Reels/A002R2EC", join(root, "A002R2EC"))}\n`);
      r = mhl(["create", join(root, "A003R2EC"), "-h", "xxh64"], { CARTKIT_MHL_NOW: "2020-01-16T09:15:00Z" });
      expect([r.code, r.stderr]).toEqual([0, ""]);
      for (const card of ["A002R2EC", "A003R2EC"]) {
        const name = `0001_${card}_2020-01-16_091500Z.mhl`;
        const ours = readFileSync(join(root, card, "ascmhl", name), "utf8");
        const theirs = readFileSync(join(SCENARIOS, "scenario_05/travel_01/Reels", card, "ascmhl", name), "utf8");
        expect(ours).toContain('<tool version="');
        expect(withoutTool(ours)).toBe(withoutTool(theirs));
      }
      // the server: a new file and a new parent history referencing two new child generations
      writeFileSync(join(root, "Summary.txt"), readFileSync(join(SCENARIOS, "scenario_05/file_server/Reels/Summary.txt")));
      setTimes(join(root, "Summary.txt"), "2020-01-17T14:30:00Z");
      r = mhl(["create", "-v", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2020-01-17T14:30:00Z" });
      expect(r.code).toBe(0);
      const serverRun = logLines(log, "Creating new generation for folder at path: /file_server/Reels", "Created new generation ascmhl/0001_Reels_2020-01-17_143000Z.mhl");
      expect(r.stdout).toBe(`${serverRun.replace("/file_server/Reels", root)}\n`);
      const parent = readFileSync(join(root, "ascmhl/0001_Reels_2020-01-17_143000Z.mhl"), "utf8");
      const reference = readFileSync(join(SCENARIOS, "scenario_05/file_server/Reels/ascmhl/0001_Reels_2020-01-17_143000Z.mhl"), "utf8");
      const comparable = (t: string) =>
        withoutTool(t)
          .replace(/<c4>.*<\/c4>/g, "<c4/>")
          .replace(/lastmodificationdate="[^"]*">A00/g, '">A00');
      expect(comparable(parent)).toBe(comparable(reference));
      expect(mhl([root]).code).toBe(0);
    });

    test("a second generation with another format verifies the first and adds it (scenario 03's md5 hashes)", () => {
      const root = copyOf(dir, "scenario_03/travel_01/A002R2EC");
      const r = mhl(["create", "-v", "-h", "md5", root], { CARTKIT_MHL_NOW: "2020-01-17T14:30:00Z" });
      expect(r.code).toBe(0);
      const log = readFileSync(join(SCENARIOS, "scenario_03/log.txt"), "utf8");
      const run2 = logLines(log, "Creating new generation for folder at path: /file_server/A002R2EC", "Created new generation ascmhl/0002_A002R2EC_2020-01-17_143000Z.mhl");
      expect(r.stdout).toBe(`${run2.replace("/file_server/A002R2EC", root)}\n`);
      const ours = readFileSync(join(root, "ascmhl/0002_A002R2EC_2020-01-17_143000Z.mhl"), "utf8");
      const theirs = readFileSync(join(SCENARIOS, "scenario_03/file_server/A002R2EC/ascmhl/0002_A002R2EC_2020-01-17_143000Z.mhl"), "utf8");
      const hashesOnly = (t: string) =>
        t
          .split("\n")
          .filter((l) => /<(md5|xxh64)/.test(l))
          .join("\n");
      expect(hashesOnly(ours)).toBe(hashesOnly(theirs));
      expect(ours).toContain('<md5 action="verified" hashdate="2020-01-17T14:30:00+00:00">f5ac8127b3b6b85cdc13f237c6005d80</md5>');
    });

    test("create after a corruption writes the failed generation, then exits 11 (scenario 04)", () => {
      const root = copyOf(dir, "scenario_04/travel_01/A002R2EC");
      writeFileSync(join(root, "Sidecar.txt"), readFileSync(join(SCENARIOS, "scenario_04/file_server/A002R2EC/Sidecar.txt")));
      const r = mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2020-01-17T14:30:00Z" });
      expect([r.code, r.stderr]).toEqual([11, "ERROR: hash mismatch for        Sidecar.txt  xxh64 (old): 3ab5a4166b9bde44, xxh64 (new): 70d2cf31aaa3eac4\nmhl-verify: Verification of files referenced in the ASC MHL history failed\n"]);
      const ours = readFileSync(join(root, "ascmhl/0002_A002R2EC_2020-01-17_143000Z.mhl"), "utf8");
      expect(ours).toContain('<xxh64 action="failed" hashdate="2020-01-17T14:30:00+00:00">70d2cf31aaa3eac4</xxh64>');
      expect(ours).toContain('<xxh64 hashdate="2020-01-17T14:30:00+00:00">8e52e9c3d15e055c</xxh64>');
      expect(ours).toContain('<xxh64 hashdate="2020-01-17T14:30:00+00:00">32706d5f4b48f047</xxh64>');
    });

    test("round trip: create, verify, create again (verified), modify, verify; names with spaces, unicode and XML characters", () => {
      const root = join(dir, `card ${runner.label}`);
      mkdirSync(join(root, "Clips & <Takes>"), { recursive: true });
      const names = ["Clips & <Takes>/a \"quoted\" 'clip'.mov", "Clips & <Takes>/caf\u00e9.mov", "cafe\u0301 nfd.txt", "empty.bin", ".DS_Store"];
      for (const [i, n] of names.entries()) writeFileSync(join(root, n), n === "empty.bin" ? "" : `content ${i}`);
      mkdirSync(join(root, "empty folder"));
      let r = mhl(["create", root, "-h", "xxh128", "-h", "md5", "-h", "c4", "--jobs", "3"], { CARTKIT_MHL_NOW: "2024-02-03T04:05:06Z" });
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(generations(root)).toEqual([`0001_card ${runner.label}_2024-02-03_040506Z.mhl`]);
      const first = readFileSync(join(root, "ascmhl", generations(root)[0]!), "utf8");
      expect(first).toContain('<path size="9" lastmodificationdate=');
      expect(first).toContain(">Clips &amp; &lt;Takes&gt;/a \"quoted\" 'clip'.mov</path>");
      expect(first).not.toContain(".DS_Store</path>");
      expect(first).toContain(">empty folder</path>");
      expect(mhl([root]).code).toBe(0);
      r = mhl(["create", root, "-v", "-h", "xxh128"], { CARTKIT_MHL_NOW: "2024-02-04T04:05:06Z" });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("  verified                      cafe\u0301 nfd.txt  xxh128: OK\n");
      const second = readFileSync(join(root, "ascmhl", generations(root)[1]!), "utf8");
      expect(second).not.toContain('action="original"');
      expect(second.match(/action="verified"/g)?.length).toBe(4);
      appendFileSync(join(root, "Clips & <Takes>/caf\u00e9.mov"), "!");
      r = mhl([root, "--json"]);
      expect(r.code).toBe(11);
      const events = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(events.filter((e) => e.event === "mismatch").map((e) => [e.path, e.format])).toEqual([["Clips & <Takes>/caf\u00e9.mov", "c4"]]);
      expect(events.at(-1)).toEqual({ event: "result", exitCode: 11, checked: 4, newFiles: 0, unverified: 0, mismatches: 1, missing: 0, ignored: 0, problems: 0 });
    });

    test("renames are detected with -dr and recorded as previousPath", () => {
      const root = join(dir, `rename-${runner.label}`);
      mkdirSync(join(root, "A"), { recursive: true });
      writeFileSync(join(root, "A/one.mov"), "one");
      writeFileSync(join(root, "two.mov"), "two");
      expect(mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z" }).code).toBe(0);
      renameSync(join(root, "A/one.mov"), join(root, "A/uno.mov"));
      expect(mhl([root]).code).toBe(21);
      let r = mhl(["create", root, "-h", "xxh64", "-dr"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" });
      expect([r.code, r.stderr, r.stdout]).toEqual([0, "", "a renamed file was detected: from A/one.mov to A/uno.mov\n"]);
      const second = readFileSync(join(root, "ascmhl", generations(root)[1]!), "utf8");
      expect(second).toContain("<previousPath>A/one.mov</previousPath>");
      r = mhl([root]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
    });

    test("ignore patterns: -i and -ii are added to the defaults and carried to later generations", () => {
      const root = join(dir, `ignore-${runner.label}`);
      mkdirSync(join(root, "cache"), { recursive: true });
      writeFileSync(join(root, "clip.mov"), "clip");
      writeFileSync(join(root, "clip.tmp"), "tmp");
      writeFileSync(join(root, "cache/x.bin"), "x");
      writeFileSync(join(root, "notes.log"), "log");
      const spec = join(dir, `spec-${runner.label}.txt`);
      writeFileSync(spec, "*.log\n\ncache/\n");
      expect(mhl(["create", root, "-i", "*.tmp", "-ii", spec], { CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z" }).code).toBe(0);
      const first = readFileSync(join(root, "ascmhl", generations(root)[0]!), "utf8");
      expect(first).toContain("    <ignore>\n      <pattern>.DS_Store</pattern>\n      <pattern>ascmhl</pattern>\n      <pattern>ascmhl/</pattern>\n      <pattern>*.tmp</pattern>\n      <pattern>*.log</pattern>\n      <pattern>cache/</pattern>\n    </ignore>\n");
      expect(first.match(/<hash>/g)?.length).toBe(1);
      writeFileSync(join(root, "more.tmp"), "more");
      expect(mhl([root]).code).toBe(0);
      expect(mhl(["create", root], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" }).code).toBe(0);
      expect(readFileSync(join(root, "ascmhl", generations(root)[1]!), "utf8")).toContain("<pattern>cache/</pattern>");
    });

    test("a recorded file a later generation's pattern ignores is named as not verified (the reference passes it in silence)", () => {
      const root = join(dir, `ignored-later-${runner.label}`);
      mkdirSync(root, { recursive: true });
      writeFileSync(join(root, "a.mov"), "a");
      writeFileSync(join(root, "b.mov"), "b");
      expect(mhl(["create", root], { CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z" }).code).toBe(0);
      expect(mhl(["create", "-i", "a.mov", root], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" }).code).toBe(0);
      writeFileSync(join(root, "a.mov"), "EVIL");
      const note = "note: not verified: a.mov (recorded in the history, now matched by an ignore pattern)\n";
      for (const command of ["verify", "diff"]) {
        const r = mhl([command, root, "--json"]);
        expect([command, r.code, r.stderr]).toEqual([command, 0, note]);
        const events = r.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l));
        expect(events.filter((e) => e.event === "ignored")).toEqual([{ event: "ignored", path: "a.mov" }]);
        expect(events.at(-1).ignored).toBe(1);
      }
      rmSync(join(root, "a.mov"));
      expect(mhl([root]).stderr).toBe(note);
      // a file no generation recorded is ignored quietly, as before
      writeFileSync(join(root, "c.tmp"), "never recorded");
      expect(mhl([root, "-i", "c.tmp"]).stderr).toBe(note);
    });

    test("info lists generations; flatten writes one packing list that verifies the folder", async () => {
      const root = copyOf(dir, "scenario_03/file_server/A002R2EC");
      let r = mhl(["info", root]);
      expect([r.code, r.stderr, r.stdout]).toEqual([0, "", `Info with history at path: ${root}\n  Generation 1 (2020-01-16T09:15:00+00:00)\n  Generation 2 (2020-01-17T14:30:00+00:00)\n`]);
      r = mhl(["info", root, "-sf", join(root, "Sidecar.txt")]);
      expect(r.stdout).toBe(
        `Info with history at path: ${root}\nSidecar.txt:\n  Generation 1 (2020-01-16T09:15:00+00:00) xxh64: 3ab5a4166b9bde44 (original)\n  Generation 2 (2020-01-17T14:30:00+00:00) md5: 6425c5a180ca0f420dd2b25be4536a91 (verified)\n  Generation 2 (2020-01-17T14:30:00+00:00) xxh64: 3ab5a4166b9bde44 (verified)\n`,
      );
      const dest = join(dir, `flat-${runner.label}`);
      r = mhl(["flatten", root, dest], { CARTKIT_MHL_NOW: "2024-05-06T07:08:09Z" });
      expect(r.code).toBe(0);
      const list = join(dest, "collection_2024-05-06", "packinglist_A002R2EC_2024-05-06_070809Z.mhl");
      const text = readFileSync(list, "utf8");
      expect(text).toContain("<process>flatten</process>");
      expect(text).toContain('<md5 action="verified" hashdate="2020-01-17T14:30:00+00:00">6425c5a180ca0f420dd2b25be4536a91</md5>');
      expect(mhl(["verify", root, "-pl", list]).code).toBe(0);
      // A packing list is read in pieces: one with a NUL byte is refused where it is, one over
      // 512 MiB before it is read; one written into a FIFO is read as it comes.
      const sparse = join(dest, "sparse.mhl");
      writeFileSync(sparse, text);
      truncateSync(sparse, 600 * 2 ** 20);
      r = mhl(["verify", root, "-pl", sparse]);
      expect([r.code, r.stderr]).toEqual([2, `mhl-verify: ${sparse}: more than the 512.0 MiB a packing list is read up to; it is not read\n`]);
      truncateSync(sparse, text.length + 2 ** 20);
      r = mhl(["verify", root, "-pl", sparse]);
      expect([r.code, r.stderr]).toEqual([2, `mhl-verify: ${sparse}: line ${text.split("\n").length}: a NUL byte (byte ${Buffer.byteLength(text)}), which no XML text holds: not an ASC MHL file\n`]);
      const fifo = join(dest, "list.fifo");
      run(["mkfifo", fifo]);
      r = run(["sh", "-c", `cat '${list}' > '${fifo}' & exec "$@"`, "sh", ...runner.command("mhl-verify"), "verify", root, "-pl", fifo], { env: ENV });
      expect([r.code, r.stderr]).toEqual([0, ""]);
      // The collection's chain names the packing list by the C4 of its bytes.
      expect(readFileSync(join(dest, "collection_2024-05-06", "ascmhl_collection.xml"), "utf8")).toContain(`<c4>${await c4OfFile(list)}</c4>`);
      // A collection folder planted in DEST as a link out of it is never written through.
      const planted = join(dir, `planted-${runner.label}`);
      const victim = join(dir, `victim-${runner.label}`);
      mkdirSync(planted);
      mkdirSync(victim);
      symlinkSync(victim, join(planted, "collection_2024-05-06"));
      r = mhl(["flatten", root, planted], { CARTKIT_MHL_NOW: "2024-05-06T07:08:09Z" });
      expect([r.code, r.stderr, readdirSync(victim)]).toEqual([2, `mhl-verify: ${join(planted, "collection_2024-05-06")} is a symbolic link or not a folder; a packing list is never written through one (remove it, or give another DEST)\n`, []]);
    });

    test("verify -dh recomputes directory hashes; a changed file gives 12", () => {
      const root = copyOf(dir, "scenario_02/file_server/A002R2EC");
      let r = mhl(["verify", "-dh", "-v", root]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("  verification of folder        Clips OK (generation 0002)\n");
      expect(r.stdout).toContain("  verification of root folder   OK (generation 0001)\n");
      appendFileSync(join(root, "Clips/A002C007_141024_R2EC.mov"), "x");
      r = mhl(["verify", "-dh", root]);
      expect(r.code).toBe(12);
      expect(r.stderr).toContain("ERROR: content hash mismatch   for Clips old xxh64: 4c226b42e27d7af3, new xxh64: ");
    });

    test("verify -dh in a format the history holds no directory hashes in, or on a history made with -n, compares nothing: it says so and exits 2", () => {
      const root = copyOf(dir, "scenario_02/file_server/A002R2EC");
      appendFileSync(join(root, "Clips/A002C007_141024_R2EC.mov"), "x");
      const md5 = mhl(["verify", "-dh", "-h", "md5", root]);
      expect({ code: md5.code, stderr: md5.stderr }).toEqual({ code: 2, stderr: "mhl-verify: -h md5: the history holds no directory hashes in md5 (it holds xxh64); nothing would be compared\n" });
      expect(mhl(["verify", "-dh", "-h", "xxh64", root]).code).toBe(12);
      // -co only prints what it computes: any format.
      expect(mhl(["verify", "-dh", "-co", "-h", "md5", root]).code).toBe(0);
      const bare = join(dir, `bare-${runner.label}`);
      mkdirSync(join(bare, "A"), { recursive: true });
      writeFileSync(join(bare, "A", "a.mov"), "a");
      expect(mhl(["create", bare, "-n", "-h", "xxh64"]).code).toBe(0);
      const none = mhl(["verify", "-dh", bare]);
      expect({ code: none.code, stderr: none.stderr }).toEqual({ code: 2, stderr: "mhl-verify: the history holds no directory hashes (its generations were made with -n); nothing would be compared\n" });
    });

    test("a name stored NFD on disk verifies against its NFC path in the history, and the reverse", () => {
      const root = join(dir, `nfc-${runner.label}`);
      mkdirSync(join(root, "Caf\u00e9 Clips"), { recursive: true });
      writeFileSync(join(root, "Caf\u00e9 Clips/caf\u00e9.mov"), "nfc on disk");
      writeFileSync(join(root, "re\u0301sume\u0301.txt"), "nfd on disk");
      expect(mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z" }).code).toBe(0);
      const first = readFileSync(join(root, "ascmhl", generations(root)[0]!), "utf8");
      expect(first).toContain(">Caf\u00e9 Clips/caf\u00e9.mov</path>");
      expect(first).toContain(">re\u0301sume\u0301.txt</path>");
      // the names change normalization on disk (a copy through macOS or back)
      renameSync(join(root, "Caf\u00e9 Clips/caf\u00e9.mov"), join(root, "Caf\u00e9 Clips/cafe\u0301.mov"));
      renameSync(join(root, "Caf\u00e9 Clips"), join(root, "Cafe\u0301 Clips"));
      renameSync(join(root, "re\u0301sume\u0301.txt"), join(root, "r\u00e9sum\u00e9.txt"));
      expect(readdirSync(root).sort()).toEqual(["Cafe\u0301 Clips", "ascmhl", "r\u00e9sum\u00e9.txt"]);
      let r = mhl(["verify", "-v", root, "--jobs", "2"]);
      expect([r.code, r.stderr, r.stdout]).toEqual([0, "", `check folder at path: ${root}\nverification (xxh64) of file Cafe\u0301 Clips/cafe\u0301.mov: OK\nverification (xxh64) of file r\u00e9sum\u00e9.txt: OK\n`]);
      expect(mhl(["diff", root]).code).toBe(0);
      r = mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" });
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(readFileSync(join(root, "ascmhl", generations(root)[1]!), "utf8").match(/action="verified"/g)?.length).toBe(2);
    });

    test("a name detected as renamed, then renamed back by hand, is not given to the record of a file in another normalization", () => {
      const root = join(dir, `nfd-retired-${runner.label}`);
      mkdirSync(root, { recursive: true });
      writeFileSync(join(root, "caf\u00e9.txt"), "X\n");
      writeFileSync(join(root, "cafe\u0301.txt"), "Y\n");
      expect(mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z" }).code).toBe(0);
      renameSync(join(root, "caf\u00e9.txt"), join(root, "z.txt"));
      expect(mhl(["create", root, "-h", "xxh64", "-dr"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" }).code).toBe(0);
      renameSync(join(root, "z.txt"), join(root, "caf\u00e9.txt"));
      rmSync(join(root, "cafe\u0301.txt"));
      // X is compared with its own first hash, and Y, deleted, is missing
      const r = mhl(["verify", root]);
      expect([r.code, r.stderr]).toEqual([10, "ERROR: 2 missing file(s):\n  cafe\u0301.txt\n  z.txt\nmhl-verify: Files referenced in the ASC MHL history are missing\n"]);
    });

    test("create exits 30 after writing when a child history the latest generation references lost its ascmhl folder", () => {
      const root = copyOf(dir, "scenario_05/file_server/Reels");
      rmSync(join(root, "A002R2EC/ascmhl"), { recursive: true });
      const r = mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z" });
      expect([r.code, r.stderr]).toEqual([30, `mhl-verify: Missing ASC MHL history at path ${join(root, "A002R2EC")}\n`]);
      // the generation is written first, as the reference does; it records the files again
      expect(generations(root)).toEqual(["0001_Reels_2020-01-17_143000Z.mhl", "0002_Reels_2024-01-01_000000Z.mhl"]);
      expect(readFileSync(join(root, "ascmhl/0002_Reels_2024-01-01_000000Z.mhl"), "utf8")).toContain(">A002R2EC/Sidecar.txt</path>");
      // the next generation no longer references the lost history: create succeeds again
      expect(mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" }).code).toBe(0);
      expect(mhl([root]).code).toBe(0);
    });

    test("verify -dh --jobs hashes in parallel and prints what a serial run prints", () => {
      const root = copyOf(dir, "scenario_05/file_server/Reels");
      const serial = mhl(["verify", "-dh", "-v", root]);
      const parallel = mhl(["verify", "-dh", "-v", root, "--jobs", "4"]);
      expect(serial.code).toBe(0);
      expect(serial.stdout).toContain("  verification of folder        A003R2EC/Clips OK (generation 0001)\n");
      expect([parallel.code, parallel.stdout, parallel.stderr]).toEqual([0, serial.stdout, ""]);
      appendFileSync(join(root, "A003R2EC/Clips/A003C011_141024_R2EC.mov"), "x");
      const broken = mhl(["verify", "-dh", root, "--jobs", "4"]);
      expect(broken.code).toBe(12);
      expect(broken.stderr).toContain("ERROR: content hash mismatch   for A003R2EC/Clips old xxh64: ");
    });

    test("a renamed folder is detected with -dr and recorded as previousPath of its directory entry", () => {
      const root = join(dir, `rename-folder-${runner.label}`);
      mkdirSync(join(root, "A/sub"), { recursive: true });
      writeFileSync(join(root, "A/one.mov"), "one");
      writeFileSync(join(root, "A/sub/two.mov"), "two");
      expect(mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z" }).code).toBe(0);
      renameSync(join(root, "A"), join(root, "B"));
      const r = mhl(["create", root, "-h", "xxh64", "-dr"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" });
      expect([r.code, r.stderr, r.stdout]).toEqual([0, "", "a renamed folder was detected: from A to B\n"]);
      const second = readFileSync(join(root, "ascmhl", generations(root)[1]!), "utf8");
      expect(second).toMatch(/<path lastmodificationdate="[^"]+">B<\/path>\n(?:.*\n){6}      <previousPath>A<\/previousPath>\n    <\/directoryhash>/);
      expect(second).toContain("<previousPath>A/sub</previousPath>\n    </directoryhash>");
      expect(second).toContain("<previousPath>A/one.mov</previousPath>\n    </hash>");
      expect(mhl([root]).code).toBe(0);
    });

    test("legacy MHL v1.1: create --legacy, then verify it; a changed byte gives 11, a deleted file 10", () => {
      const root = join(dir, `legacy-${runner.label}`, "A001");
      mkdirSync(join(root, "Clips"), { recursive: true });
      writeFileSync(join(root, "Clips/A001C001.mov"), "clip one");
      writeFileSync(join(root, "Clips/A001C002.mov"), "clip two");
      writeFileSync(join(root, "Sidecar.txt"), "notes");
      writeFileSync(join(root, ".DS_Store"), "finder");
      const env = { CARTKIT_MHL_NOW: "2024-05-01T12:00:00Z" };
      let r = mhl(["create", root, "--legacy", "-h", "xxh64", "-h", "md5", "--jobs", "2"], env);
      expect([r.code, r.stderr, r.stdout]).toEqual([0, "", ""]);
      const name = "A001_2024-05-01_120000.mhl";
      expect(readdirSync(root).sort()).toEqual([".DS_Store", name, "Clips", "Sidecar.txt"]);
      const text = readFileSync(join(root, name), "utf8");
      expect(text).toStartWith('<?xml version="1.0" encoding="UTF-8"?>\n<hashlist version="1.1">\n  <creatorinfo>\n');
      expect(text).toContain("    <hostname>myHost.local</hostname>\n");
      expect(text).toContain("    <startdate>2024-05-01T12:00:00Z</startdate>\n");
      // xxh64 is written as the big-endian <xxhash64be> current v1.1 readers expect; md5 as hex
      expect(text).toContain("    <file>Sidecar.txt</file>\n    <size>5</size>\n");
      expect(text.match(/<hash>/g)?.length).toBe(3);
      expect(text).not.toContain(".DS_Store");
      expect(text).toContain("    <file>Sidecar.txt</file>\n    <size>5</size>\n    <lastmodificationdate>");
      // md5("notes"), xxh64("notes") as md5sum and xxhsum print them
      expect(text).toMatch(/<file>Sidecar\.txt<\/file>\n    <size>5<\/size>\n    <lastmodificationdate>[^<]+<\/lastmodificationdate>\n    <md5>4358b5009c67d0e31d7fbf1663fcd3bf<\/md5>\n    <xxhash64be>b262ca46b7dbdb0c<\/xxhash64be>\n    <hashdate>2024-05-01T12:00:00Z<\/hashdate>\n/);

      const file = join(root, name);
      r = mhl(["verify", file, "-v"]);
      expect([r.code, r.stderr, r.stdout]).toEqual([0, "", `check legacy MHL file at path: ${file}\n${["Clips/A001C001.mov", "Clips/A001C002.mov", "Sidecar.txt"].map((p) => `verification (md5) of file ${p}: OK\nverification (xxhash64be) of file ${p}: OK\n`).join("")}`]);
      // the default command, with JSON events and parallel hashing
      r = mhl([file, "--json", "--jobs", "3"]);
      expect(r.code).toBe(0);
      const events = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(events.filter((e) => e.event === "ok").length).toBe(6);
      expect(events.at(-1)).toEqual({ event: "result", exitCode: 0, checked: 3, newFiles: 0, mismatches: 0, missing: 0 });
      // a file added later is not an error: a legacy MHL seals what it lists
      writeFileSync(join(root, "Clips/later.mov"), "later");
      expect(mhl([file]).code).toBe(0);

      const clip = join(root, "Clips/A001C002.mov");
      writeFileSync(clip, "clip twO");
      r = mhl([file]);
      expect(r.code).toBe(11);
      expect(r.stderr).toMatch(/^ERROR: hash mismatch        for Clips\/A001C002\.mov old md5: [0-9a-f]{32}, new md5: [0-9a-f]{32}\nERROR: hash mismatch        for Clips\/A001C002\.mov old xxhash64be: [0-9a-f]{16}, new xxhash64be: [0-9a-f]{16}\n/);
      expect(r.stderr).toEndWith(`mhl-verify: ${file}: Verification of files listed in the MHL file failed\n`);
      writeFileSync(clip, "clip two");
      expect(mhl([file, "--jobs", "2"]).code).toBe(0);

      unlinkSync(join(root, "Sidecar.txt"));
      r = mhl(["verify", file, "--jobs", "2"]);
      expect([r.code, r.stderr]).toEqual([10, `ERROR: 1 missing file(s):\n  Sidecar.txt\nmhl-verify: ${file}: Files listed in the MHL file are missing\n`]);
    });

    test("legacy MHL: formats v1.1 cannot hold and v2-only options are usage errors", () => {
      const root = join(dir, `legacy-usage-${runner.label}`);
      mkdirSync(root, { recursive: true });
      writeFileSync(join(root, "a.mov"), "a");
      let r = mhl(["create", root, "--legacy", "-h", "xxh128"]);
      expect([r.code, r.stderr]).toEqual([2, "mhl-verify: hash format 'xxh128' cannot be written to a legacy MHL v1.1 file; use md5, sha1, xxh64 (xxhash64be), xxhash64 or xxhash\n"]);
      expect(mhl(["create", root, "--legacy", "-h", "c4"]).code).toBe(2);
      expect(readdirSync(root)).toEqual(["a.mov"]);
      r = mhl(["create", root, "--legacy", "-h", "sha1"], { CARTKIT_MHL_NOW: "2024-05-01T12:00:00Z" });
      expect(r.code).toBe(0);
      const file = join(root, `${root.split("/").at(-1)}_2024-05-01_120000.mhl`);
      expect(readFileSync(file, "utf8")).toContain("<sha1>86f7e437faa5a7fce15d1ddcb9eaeaea377667b8</sha1>");
      r = mhl(["verify", file, "-dh"]);
      expect([r.code, r.stderr]).toEqual([2, "mhl-verify: -dh does not apply to a legacy MHL file\n"]);
      // a second seal in the same second would overwrite the first: refused
      r = mhl(["create", root, "--legacy", "-h", "sha1"], { CARTKIT_MHL_NOW: "2024-05-01T12:00:00Z" });
      expect([r.code, r.stderr]).toEqual([2, `mhl-verify: ${file}: File exists\n`]);
    });

    test("usage: unknown option and missing root exit 2; help documents the exit codes", () => {
      expect(mhl(["verify", "--bogus", dir]).code).toBe(2);
      expect(mhl(["create"]).code).toBe(2);
      const help = mhl(["--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("31  a generation (.mhl) file was modified");
      expect(help.stdout).toContain("21  new files not referenced in the history were found");
    });
  });
}

test("generations written by create validate against the reference XSDs (xmllint)", () => {
  const xmllint = Bun.which("xmllint");
  if (!xmllint) {
    if (process.env.CI === "true") throw new Error("xmllint is required in CI (apt-get install libxml2-utils)");
    return;
  }
  const dir = tempDir("mhl-xsd-");
  const root = join(dir, "Reels");
  cpSync(join(SCENARIOS, "scenario_05/travel_01/Reels"), root, { recursive: true });
  writable(root);
  writeFileSync(join(root, "Summary & <notes>.txt"), "summary");
  const env = { env: { ...ENV, CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z" } };
  const r = tool(runners()[0]!, "mhl-verify", ["create", root, "-h", "xxh64", "-h", "md5", "-h", "c4", "-h", "sha1", "-h", "xxh3", "-h", "xxh128", "--author_name", "Ann", "--author_email", "ann@example.com", "--author_role", "DIT", "--location", "Set & stage", "--comment", "ok"], env);
  expect(r.code).toBe(0);
  for (const history of [root, join(root, "A002R2EC"), join(root, "A003R2EC")]) {
    for (const name of generations(history)) {
      const check = run([xmllint, "--noout", "--schema", join(FIXTURES, "xsd/ASCMHL.xsd"), join(history, "ascmhl", name)]);
      expect([name, check.code, check.stderr.trim()]).toEqual([name, 0, `${join(history, "ascmhl", name)} validates`]);
    }
    const chain = run([xmllint, "--noout", "--schema", join(FIXTURES, "xsd/ASCMHLDirectory__combined.xsd"), join(history, "ascmhl/ascmhl_chain.xml")]);
    expect(chain.code).toBe(0);
  }
});
