/**
 * mhl-verify against the reference ascmhl's own scenarios: the same small trees its tests build
 * (a root with Stuff.txt and A/A1.txt, a clock fixed at 2020-01-15 13:00 then 2020-01-16 09:15,
 * host myHost.local), the same commands, the exit codes and lines its tests expect.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { readGeneration, writeGeneration } from "../lib/mhl/generation.ts";
import { c4OfFile } from "../lib/mhl/history.ts";
import { runners, tempDir, tool } from "./helpers.ts";

// Every test here starts real processes; on a busy 2-core machine one can take longer than 5 s.
setDefaultTimeout(120_000);

const FIXTURES = join(import.meta.dir, "fixtures/ascmhl/scenarios");
const ENV = { TZ: "UTC", CARTKIT_MHL_HOSTNAME: "myHost.local" };
const FIRST = "2020-01-15T13:00:00Z";
const LATER = "2020-01-16T09:15:00Z";

function write(path: string, text: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
}

for (const runner of runners()) {
  describe(`mhl-verify, the reference's scenarios (${runner.label})`, () => {
    const dir = tempDir("mhl-reference-");
    let n = 0;
    const mhl = (args: string[], now = LATER, cwd?: string) => tool(runner, "mhl-verify", args, { env: { ...ENV, CARTKIT_MHL_NOW: now }, cwd });

    /** The reference's simple_mhl_history: Stuff.txt and A/A1.txt sealed once in xxh64. */
    function simpleHistory(): string {
      const root = join(dir, `${runner.label}-${++n}`, "root");
      write(join(root, "Stuff.txt"), "stuff\n");
      write(join(root, "A/A1.txt"), "A1\n");
      expect(mhl(["create", root, "-h", "xxh64"], FIRST).code).toBe(0);
      return root;
    }

    /** The files of the reference's renaming tests, sealed twice in xxh64. */
    function renamingTree(): string {
      const root = join(dir, `${runner.label}-${++n}`, "root");
      write(join(root, "Stuff.txt"), "stuff\n");
      write(join(root, "A/A1.txt"), "A1\n");
      write(join(root, "B/B1.txt"), "B1\n");
      write(join(root, "A/AA/AA1.txt"), "AA1\n");
      expect(mhl(["create", root, "-h", "xxh64"]).code).toBe(0);
      expect(mhl(["create", root, "-h", "xxh64"]).code).toBe(0);
      return root;
    }

    test("info -sf FILE without ROOT finds the history above the file (test_simple_info, test_info)", () => {
      const root = simpleHistory();
      let r = mhl(["info", "-sf", join(root, "Stuff.txt")]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, `Info with history at path: ${root}\nStuff.txt:\n  Generation 1 (2020-01-15T13:00:00+00:00) xxh64: 94c399c2a9a21f9a (original)\n`, ""]);
      expect(mhl(["create", root, "-h", "xxh64"]).code).toBe(0);
      expect(mhl(["create", root, "-h", "md5"]).code).toBe(0);
      expect(mhl(["create", root, "-h", "xxh64"]).code).toBe(0);
      // from inside a sub-folder, by a relative name
      r = mhl(["info", "-sf", "../Stuff.txt"], LATER, join(root, "A"));
      expect([r.code, r.stdout]).toEqual([
        0,
        `Info with history at path: ${root}\nStuff.txt:\n` +
          "  Generation 1 (2020-01-15T13:00:00+00:00) xxh64: 94c399c2a9a21f9a (original)\n" +
          "  Generation 2 (2020-01-16T09:15:00+00:00) xxh64: 94c399c2a9a21f9a (verified)\n" +
          "  Generation 3 (2020-01-16T09:15:00+00:00) md5: 9eb84090956c484e32cb6c08455a667b (verified)\n" +
          "  Generation 3 (2020-01-16T09:15:00+00:00) xxh64: 94c399c2a9a21f9a (verified)\n" +
          "  Generation 4 (2020-01-16T09:15:00+00:00) xxh64: 94c399c2a9a21f9a (verified)\n",
      ]);
    });

    test("info -sf and verify FILE with no history above give 30 (test_simple_info_fails_no_history)", () => {
      const root = simpleHistory();
      renameSync(join(root, "ascmhl"), join(root, "_ascmhl"));
      let r = mhl(["info", "-sf", join(root, "Stuff.txt")]);
      expect([r.code, r.stderr]).toEqual([30, `mhl-verify: Missing ASC MHL history at path ${join(root, "Stuff.txt")}\n`]);
      r = mhl(["verify", "-v", join(root, "Stuff.txt")]);
      expect([r.code, r.stderr]).toEqual([30, `mhl-verify: Missing ASC MHL history at path ${join(root, "Stuff.txt")}\n`]);
    });

    test("an altered file: info shows the failed generations (test_altered_file)", () => {
      const root = simpleHistory();
      appendFileSync(join(root, "Stuff.txt"), "!!");
      expect(mhl(["create", root]).code).toBe(11);
      expect(mhl(["create", root, "-h", "md5"]).code).toBe(11);
      const r = mhl(["info", "-sf", join(root, "Stuff.txt")]);
      expect([r.code, r.stdout]).toEqual([
        0,
        `Info with history at path: ${root}\nStuff.txt:\n` + "  Generation 1 (2020-01-15T13:00:00+00:00) xxh64: 94c399c2a9a21f9a (original)\n" + "  Generation 2 (2020-01-16T09:15:00+00:00) xxh64: 2346e97eb08788cc (failed)\n" + "  Generation 3 (2020-01-16T09:15:00+00:00) xxh64: 2346e97eb08788cc (failed)\n",
      ]);
    });

    test("a rename is detected across hash formats, and back to the earlier name (test_detect_renamed_files*)", () => {
      const root = renamingTree();
      renameSync(join(root, "A/AA/AA1.txt"), join(root, "A/AA/AA1_renamed.txt"));
      write(join(root, "B/B2.txt"), "B2\n");
      // history in xxh64, this generation in the default xxh128
      let r = mhl(["create", root, "-v", "-dr"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(r.stdout).toContain("a renamed file was detected: from A/AA/AA1.txt to A/AA/AA1_renamed.txt\n");
      const third = readFileSync(join(root, "ascmhl", readdirSync(join(root, "ascmhl")).sort()[2]!), "utf8");
      expect(third).toContain("<previousPath>A/AA/AA1.txt</previousPath>");
      expect(mhl(["verify", root, "-h", "xxh64"]).code).toBe(0);
      // and back: the earlier name is known, but not to the latest generation
      renameSync(join(root, "A/AA/AA1_renamed.txt"), join(root, "A/AA/AA1.txt"));
      r = mhl(["create", root, "-h", "xxh64", "-v", "-dr"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const fourth = readFileSync(join(root, "ascmhl", readdirSync(join(root, "ascmhl")).sort()[3]!), "utf8");
      expect(fourth).toContain("<previousPath>A/AA/AA1_renamed.txt</previousPath>");
      expect(mhl(["verify", root]).code).toBe(0);
      // without -dr the rename is a missing file (test_do_not_detect_renamed_files)
      renameSync(join(root, "A/AA/AA1.txt"), join(root, "A/AA/AA1_other.txt"));
      expect(mhl(["create", root, "-h", "xxh64"]).code).toBe(10);
    });

    test("a renamed folder that holds its own history, with a renamed file inside (test_detect_renamed_folders)", () => {
      const root = join(dir, `${runner.label}-${++n}`, "root");
      write(join(root, "Stuff.txt"), "stuff\n");
      write(join(root, "A/A1.txt"), "A1\n");
      write(join(root, "B/B1.txt"), "B1\n");
      write(join(root, "A/AA/AA1.txt"), "AA1\n");
      expect(mhl(["create", join(root, "A/AA"), "-h", "xxh64", "-v"]).code).toBe(0);
      expect(mhl(["create", root, "-h", "xxh64", "-v"]).code).toBe(0);
      expect(mhl(["verify", root]).code).toBe(0);
      renameSync(join(root, "A/AA"), join(root, "A/AB"));
      renameSync(join(root, "A/AB/AA1.txt"), join(root, "A/AB/AA2.txt"));
      let r = mhl(["create", root, "-h", "xxh64", "-v", "-dr"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(r.stdout).toContain("a renamed folder was detected: from A/AA to A/AB\n");
      expect(r.stdout).toContain("a renamed file was detected: from AA1.txt to A/AB/AA2.txt\n");
      // the file's rename in the nested history, the folder's on the parent's entry for it
      expect(readFileSync(join(root, "A/AB/ascmhl/0003_AB_2020-01-16_091500Z.mhl"), "utf8")).toContain("<previousPath>AA1.txt</previousPath>");
      expect(readFileSync(join(root, "ascmhl/0002_root_2020-01-16_091500Z.mhl"), "utf8")).toContain("<previousPath>A/AA</previousPath>");
      expect(mhl(["verify", root, "-h", "xxh64"]).code).toBe(0);
      r = mhl(["create", root, "-h", "xxh64", "-v", "-dr"]);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain("a renamed");
    });

    test("info -sf -v after a rename prints each generation's details and the previous name's section (test_verify_renamed_files)", () => {
      const root = renamingTree();
      renameSync(join(root, "A/AA/AA1.txt"), join(root, "A/AA/AA1_renamed.txt"));
      expect(mhl(["create", root, "-h", "xxh64", "-dr"]).code).toBe(0);
      const r = mhl(["info", "-sf", join(root, "A/AA/AA1_renamed.txt"), "-v", root]);
      expect(r.code).toBe(0);
      const count = (s: string) => r.stdout.split(s).length - 1;
      // the reference's test counts the same things in its own three-generation history
      expect([count("AA1.txt"), count("AA1_renamed.txt"), count("Generation 3"), count(" In previous generations the file was named: A/AA/AA1.txt")]).toEqual([4, 3, 2, 1]);
      // a name new to the history is recorded as original, also when -dr finds it was renamed
      const digest = r.stdout.match(/xxh64: ([0-9a-f]{16}) /)![1]!;
      expect(r.stdout).toStartWith(`Info with history at path: ${root}\nA/AA/AA1_renamed.txt:\n  Generation 3 (2020-01-16T09:15:00+00:00) xxh64: ${digest} (original) \n    ${root}/A/AA/AA1_renamed.txt\n     CreatorInfo: myHost.local, mhl-verify `);
      expect(r.stdout).toContain(`\n     ProcessInfo: in-place\n In previous generations the file was named: A/AA/AA1.txt\n\n\nInfo with history at path: ${root}\nA/AA/AA1.txt:\n  Generation 1 `);
    });

    test("info -sf FILE ROOT for a file in a nested history prints its generations there (documented difference)", () => {
      const root = join(dir, `${runner.label}-${++n}`, "root");
      write(join(root, "Stuff.txt"), "stuff\n");
      write(join(root, "A/AA/AA1.txt"), "AA1\n");
      expect(mhl(["create", join(root, "A/AA"), "-h", "xxh64"], FIRST).code).toBe(0);
      expect(mhl(["create", root, "-h", "xxh64"]).code).toBe(0);
      const r = mhl(["info", "-sf", join(root, "A/AA/AA1.txt"), root]);
      expect(r.stdout).toBe(
        `Info with history at path: ${root}\nA/AA/AA1.txt:\n  Generation 1 (2020-01-15T13:00:00+00:00) xxh64: 5f3ca2d23fb4bcc1 (original)\n  Generation 2 (2020-01-16T09:15:00+00:00) xxh64: 5f3ca2d23fb4bcc1 (verified)\n`.replace(/5f3ca2d23fb4bcc1/g, r.stdout.match(/xxh64: ([0-9a-f]{16}) \(original\)/)![1]!),
      );
    });

    test("info and verify -dh -co print on stdout, errors on stderr", () => {
      const root = simpleHistory();
      let r = mhl(["info", root]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, `Info with history at path: ${root}\n  Generation 1 (2020-01-15T13:00:00+00:00)\n`, ""]);
      r = mhl(["verify", "-dh", "-co", root]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/^  calculated directory hash for A  xxh64: [0-9a-f]{16} \(content\), [0-9a-f]{16} \(structure\)\n  calculated root hash  xxh64: [0-9a-f]{16} \(content\), [0-9a-f]{16} \(structure\)\n$/);
      rmSync(join(root, "A/A1.txt"));
      r = mhl(["verify", root]);
      expect([r.code, r.stdout]).toEqual([10, ""]);
      expect(r.stderr).toStartWith("ERROR: 1 missing file(s):\n  A/A1.txt\n");
    });

    test("verify -dh: only the root's directory hash differs, exit 12 (the reference prints the errors and exits 0)", () => {
      const root = simpleHistory();
      // a new empty file at the root changes the root's hashes only; -i keeps verify of files quiet
      writeFileSync(join(root, "new.txt"), "");
      const r = mhl(["verify", "-dh", root]);
      expect(r.code).toBe(12);
      expect(r.stderr).toContain("ERROR: content hash mismatch   for . old xxh64: ");
      expect(r.stderr).not.toContain("for A old");
    });

    test("flatten writes the reference's bytes: no modification dates, recorded actions, first-recorded order", async () => {
      const root = simpleHistory();
      expect(mhl(["create", root, "-h", "md5"]).code).toBe(0);
      const out = join(dir, `${runner.label}-flat-${++n}`);
      const r = mhl(["flatten", root, out]);
      expect(r.code).toBe(0);
      const folder = join(out, "collection_2020-01-16");
      const list = readdirSync(folder).find((f) => f.startsWith("packinglist_"))!;
      const text = readFileSync(join(folder, list), "utf8");
      expect(text).toBe(`<?xml version="1.0" encoding="UTF-8"?>
<hashlist version="2.0" xmlns="urn:ASC:MHL:v2.0">
  <creatorinfo>
    <creationdate>2020-01-16T09:15:00+00:00</creationdate>
    <hostname>myHost.local</hostname>
${text.match(/^    <tool .*$/m)![0]}
  </creatorinfo>
  <processinfo>
    <process>flatten</process>
    <ignore>
      <pattern>.DS_Store</pattern>
      <pattern>ascmhl</pattern>
      <pattern>ascmhl/</pattern>
    </ignore>
  </processinfo>
  <hashes>
    <hash>
      <path size="3">A/A1.txt</path>
      <md5 action="verified" hashdate="2020-01-16T09:15:00+00:00">fe6975a937016c20b43b17540e6c6246</md5>
      <xxh64 action="original" hashdate="2020-01-15T13:00:00+00:00">${text.match(/<xxh64 action="original" hashdate="[^"]+">([0-9a-f]+)<\/xxh64>/)![1]}</xxh64>
    </hash>
    <hash>
      <path size="6">Stuff.txt</path>
      <md5 action="verified" hashdate="2020-01-16T09:15:00+00:00">9eb84090956c484e32cb6c08455a667b</md5>
      <xxh64 action="original" hashdate="2020-01-15T13:00:00+00:00">94c399c2a9a21f9a</xxh64>
    </hash>
  </hashes>
</hashlist>
`);
      expect(readFileSync(join(folder, "ascmhl_collection.xml"), "utf8")).toContain(`<c4>${await c4OfFile(join(folder, list))}</c4>`);
    });

    test("an empty <hashes> is written as the reference writes it: open and close tags (so its C4 is the reference's)", () => {
      // A reference generation with its entries taken out, laid out as the reference's writer does.
      const file = join(FIXTURES, "scenario_01/travel_01/A002R2EC/ascmhl/0001_A002R2EC_2020-01-16_091500Z.mhl");
      const original = readFileSync(file, "utf8");
      expect(writeGeneration(readGeneration(original, file))).toBe(original);
      const generation = readGeneration(original, file);
      generation.hashes = [];
      const empty = original.replace(/  <hashes>\n[\s\S]*?  <\/hashes>\n/, "  <hashes>\n  </hashes>\n");
      expect(writeGeneration(generation)).toBe(empty);
      expect(empty).not.toContain("<hashes/>");
      // the same for a file of size 0: the reference writes no size attribute
      const root = join(dir, `${runner.label}-${++n}`, "root");
      write(join(root, "empty.txt"), "");
      expect(mhl(["create", root, "-h", "xxh64"]).code).toBe(0);
      const text = readFileSync(join(root, "ascmhl", readdirSync(join(root, "ascmhl")).find((f) => f.endsWith(".mhl"))!), "utf8");
      expect(text).toContain("<path lastmodificationdate=");
      expect(text).not.toContain('size="0"');
    });
  });
}
