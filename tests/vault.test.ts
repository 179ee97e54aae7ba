/**
 * cartvault's commands, from source and as the compiled binary: a project committed, committed
 * again unchanged without a byte read, branched, changed, compared, merged, checked out with
 * an ASC MHL that mhl-verify and the reference schema accept, verified, collected, measured.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashPath } from "../lib/hash/mod.ts";
import { tryLock } from "../lib/io/libc.ts";
import { run, runners, tempDir } from "./helpers.ts";
import { evict, jsonLines, jsonOf, project, resident, vault, writeTree } from "./vault-helpers.ts";

const FIXTURES = join(import.meta.dir, "fixtures", "ascmhl");
const ID = /^[0-9a-f]{64}$/;

async function blake3(path: string): Promise<string> {
  return (await hashPath(path, ["blake3"])).hexes.get("blake3")!;
}

for (const runner of runners()) {
  describe(`cartvault (${runner.label})`, () => {
    const cv = (args: string[], options: Parameters<typeof vault>[2] = {}) => vault(runner, args, options);

    test("init; commit prints the id; objects are named by BLAKE3; a second commit of the unchanged tree reads no file data", async () => {
      const dir = tempDir("vault-commit-");
      const src = join(dir, "PX");
      writeTree(src, project(1));
      writeFileSync(join(src, ".DS_Store"), "finder");
      writeFileSync(join(src, "A001", "._A001C001.mov"), "fork");
      // Changes less than 2 s old are read again by the next commit (their times may not move again).
      Bun.sleepSync(2100);
      const store = join(dir, "VAULT");
      expect(cv(["init", store])).toMatchObject({ code: 0, stdout: "", stderr: `cartvault init: made an empty vault in ${store}\n` });
      expect(readFileSync(join(store, "cartvault"), "utf8")).toBe("cartvault store 1\n");
      expect(cv(["init", store])).toMatchObject({ code: 2, stderr: `cartvault init: ${store}: is not empty; a vault is made in a new or empty folder\n` });

      const first = cv(["commit", store, src, "-m", "day 1"]);
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^[0-9a-f]{64}\n$/);
      const id = first.stdout.trim();
      expect(first.stderr).toContain(`cartvault commit: committed 5 files (`);
      expect(first.stderr).toContain(`to 'main' as ${id.slice(0, 12)}; 5 file(s) read, 5 new object(s) stored (`);
      expect(readFileSync(join(store, "refs", "heads", "main"), "utf8")).toBe(`${id}\n`);

      // Each object is the file's bytes under the BLAKE3 of those bytes, with its record.
      const listed = jsonLines(cv(["ls", store, "main", "--json"]));
      expect(listed.map((e) => e.path)).toEqual(["A001/A001C001.xml", "A001/CLIPS/A001C001.mov", "A001/CLIPS/A001C002.mov", "A002/CLIPS/A002C001.mov", "notes.txt"]);
      for (const e of listed) {
        const file = join(src, e.path);
        expect(e.id).toBe(await blake3(file));
        const object = join(store, "objects", e.id.slice(0, 2), e.id.slice(2));
        expect(readFileSync(object)).toEqual(readFileSync(file));
        expect(statSync(object).mode & 0o777).toBe(0o444);
        const xxh128 = (await hashPath(file, ["xxh128"])).hexes.get("xxh128");
        expect(readFileSync(join(store, "records", e.id.slice(0, 2), e.id.slice(2)), "utf8")).toBe(`${statSync(file).size} ${xxh128}\n`);
        expect([e.mode, e.size]).toEqual(["0644", statSync(file).size]);
      }

      // Unchanged: no commit, and no byte of the files read (they stay out of the page cache).
      const clips = listed.filter((e) => e.path.endsWith(".mov")).map((e) => join(src, e.path));
      for (const clip of clips) evict(clip);
      const again = cv(["commit", store, src, "-m", "day 1 again", "--json"]);
      expect(again.code).toBe(0);
      expect(jsonOf(again)).toMatchObject({ id, branch: "main", parent: id, unchanged: true, files: 5, read: { files: 0, bytes: 0 }, stored: { files: 0, bytes: 0 }, mode: "none" });
      expect(again.stderr).toBe(`cartvault commit: nothing changed since ${id.slice(0, 12)} on 'main'; no commit made (0 file(s) read, 0 new object(s) stored (0 B))\n`);
      for (const clip of clips) if (resident(clip) !== undefined) expect([clip, resident(clip)]).toEqual([clip, 0]);

      // A touched file is read again (same bytes: nothing new stored, a new commit for the new time).
      const touched = new Date(Date.now() - 1800_000);
      const { utimesSync } = await import("node:fs");
      utimesSync(join(src, "notes.txt"), touched, touched);
      const third = jsonOf(cv(["commit", store, src, "--json"]));
      expect(third).toMatchObject({ unchanged: false, parent: id, read: { files: 1 }, stored: { files: 0 } });
    });

    test("branch, commit to it, diff (added, removed, modified, renamed), merge, log, branches, ls, cat", async () => {
      const dir = tempDir("vault-branch-");
      const src = join(dir, "PX");
      const store = join(dir, "VAULT");
      writeTree(src, project(2));
      cv(["init", store]);
      const main = cv(["commit", store, src, "-m", "day 1"]).stdout.trim();
      const branched = cv(["branch", store, "regrade", "--from", "main"]);
      expect(branched).toMatchObject({ code: 0, stdout: `${main}\n`, stderr: `cartvault branch: branch 'regrade' made at ${main.slice(0, 12)} ('main')\n` });
      expect(cv(["branch", store, "regrade"])).toMatchObject({ code: 2, stderr: `cartvault branch: ${store}: branch 'regrade' exists already\n` });
      expect(cv(["branch", store, "../x"]).stderr).toStartWith("cartvault branch: bad branch name '../x': ");
      expect(cv(["branch", store, "v2", "--from", main.slice(0, 8), "--json"]).stdout).toBe(`${JSON.stringify({ branch: "v2", commit: main })}\n`);

      writeTree(src, { "A001/CLIPS/A001C001.mov": "graded", "A003/new.mov": "new clip" });
      renameSync(join(src, "notes.txt"), join(src, "NOTES.txt"));
      rmSync(join(src, "A002"), { recursive: true });
      const regrade = cv(["commit", store, src, "--branch", "regrade", "-m", "regrade\nof A001C001"]).stdout.trim();
      expect(regrade).toMatch(ID);
      expect(cv(["diff", store, "main", "regrade"])).toMatchObject({
        code: 0,
        stdout: "M\tA001/CLIPS/A001C001.mov\nD\tA002/CLIPS/A002C001.mov\nA\tA003/new.mov\nR\tnotes.txt\tNOTES.txt\n",
      });
      const changes = jsonLines(cv(["diff", store, main.slice(0, 10), "regrade", "--json"]));
      expect(changes.map((c) => c.change)).toEqual(["modified", "removed", "added", "renamed"]);
      expect(changes[3]).toMatchObject({ change: "renamed", from: "notes.txt", path: "NOTES.txt" });
      expect(cv(["diff", store, "regrade", "regrade"]).stdout).toBe("");

      const merged = cv(["merge", store, "regrade", "--into", "main"]);
      expect(merged.code).toBe(0);
      const mergeId = merged.stdout.trim();
      expect(mergeId).toMatch(ID);
      expect(merged.stderr).toBe(`cartvault merge: merged into 'main' as ${mergeId.slice(0, 12)}\n`);
      expect(cv(["ls", store, "main"]).stdout).toBe(cv(["ls", store, "regrade"]).stdout);
      expect(cv(["merge", store, "regrade", "--into", "main"])).toMatchObject({ code: 0, stdout: "", stderr: `cartvault merge: 'main' already holds ${regrade.slice(0, 12)}; nothing to merge\n` });

      const log = cv(["log", store, "main"]);
      expect(log.stdout).toStartWith(`commit ${mergeId} (main)\nmerge:  ${main.slice(0, 12)} ${regrade.slice(0, 12)}\nauthor: `);
      expect(log.stdout).toContain(`commit ${regrade} (regrade)\n`);
      expect(log.stdout).toContain("\n    regrade\n    of A001C001\n");
      expect(log.stdout).toContain(`commit ${main} (v2)\n`);
      const logged = jsonLines(cv(["log", store, "--json"]));
      expect(logged.map((c) => c.commit)).toEqual([mergeId, regrade, main]);
      expect(logged[0]).toMatchObject({ parents: [main, regrade], branches: ["main"], message: "merge 'regrade' into 'main'", files: 5 });

      expect(cv(["branches", store]).stdout).toBe(`main\t${mergeId}\nregrade\t${regrade}\nv2\t${main}\n`);
      expect(jsonLines(cv(["branches", store, "--json"]))).toEqual([
        { branch: "main", commit: mergeId },
        { branch: "regrade", commit: regrade },
        { branch: "v2", commit: main },
      ]);

      expect(
        cv(["ls", store, "main", "A001/"])
          .stdout.split("\n")
          .filter(Boolean)
          .map((l) => l.split(" ").at(-1)),
      ).toEqual(["A001/A001C001.xml", "A001/CLIPS/A001C001.mov", "A001/CLIPS/A001C002.mov"]);
      expect(cv(["ls", store, "main", "nothing"])).toMatchObject({ code: 2, stderr: `cartvault ls: ${store}: no file or folder 'nothing' in commit ${mergeId.slice(0, 12)}\n` });
      expect(cv(["cat", store, "main", "A001/CLIPS/A001C001.mov"])).toMatchObject({ code: 0, stdout: "graded" });
      expect(cv(["cat", store, "v2", "A001/CLIPS/A001C002.mov"]).stdoutBytes).toEqual(new Uint8Array(readFileSync(join(src, "A001/CLIPS/A001C002.mov"))));
      const described = jsonOf(cv(["cat", store, "main", "NOTES.txt", "--json"]));
      expect(described).toMatchObject({ path: "NOTES.txt", size: 20, mode: "0644", xxh128: (await hashPath(join(src, "NOTES.txt"), ["xxh128"])).hexes.get("xxh128") });
      expect(cv(["cat", store, "main", "notes.txt"])).toMatchObject({ code: 2, stdout: "" });
      expect(cv(["log", store, "nope"])).toMatchObject({ code: 2, stderr: `cartvault log: ${store}: no branch or commit 'nope' in this vault\n` });
    });

    test("checkout: the files as committed (bytes, modes, times), and an ASC MHL generation mhl-verify and the reference schema accept", async () => {
      const dir = tempDir("vault-checkout-");
      const src = join(dir, "PX");
      const store = join(dir, "VAULT");
      writeTree(src, project(3));
      const { chmodSync } = await import("node:fs");
      chmodSync(join(src, "notes.txt"), 0o600);
      cv(["init", store]);
      const id = cv(["commit", store, src]).stdout.trim();
      const out = join(dir, "OUT", "PX");
      const r = cv(["checkout", store, "main", out, "--link", "copy", "--json"]);
      expect(r.code).toBe(0);
      const result = jsonOf(r);
      expect(result).toMatchObject({ commit: id, dir: out, files: 5, mode: "copy", damaged: 0, failed: 0 });
      expect(result.generation).toMatch(/^ascmhl\/0001_PX_\d{4}-\d\d-\d\d_\d{6}Z\.mhl$/);
      expect(r.stderr).toBe(`cartvault checkout: checked out ${id.slice(0, 12)} ('main') into ${out}: 5 files, 605.5 KiB by copy, each checked against its id; ASC MHL ${result.generation}\n`);
      for (const path of Object.keys(project(3))) {
        expect(readFileSync(join(out, path))).toEqual(readFileSync(join(src, path)));
        const [a, b] = [statSync(join(out, path), { bigint: true }), statSync(join(src, path), { bigint: true })];
        expect([path, a.mtimeNs, a.mode & 0o777n]).toEqual([path, b.mtimeNs, b.mode & 0o777n]);
      }
      const mhl = run([...runner.command("mhl-verify"), "verify", out]);
      expect([mhl.code, mhl.stderr]).toEqual([0, ""]);
      const generation = readFileSync(join(out, result.generation), "utf8");
      expect(generation).toMatch(/<tool version="[^"]+">cartvault<\/tool>/);
      for (const path of Object.keys(project(3))) {
        const xxh128 = (await hashPath(join(src, path), ["xxh128"])).hexes.get("xxh128");
        expect(generation).toContain(`>${path}</path>\n      <xxh128 action="original" hashdate="`);
        expect(generation).toContain(`>${xxh128}</xxh128>`);
      }
      const xmllint = Bun.which("xmllint");
      if (xmllint) {
        expect(run([xmllint, "--noout", "--schema", join(FIXTURES, "xsd/ASCMHL.xsd"), join(out, result.generation)]).code).toBe(0);
        expect(run([xmllint, "--noout", "--schema", join(FIXTURES, "xsd/ASCMHLDirectory__combined.xsd"), join(out, "ascmhl/ascmhl_chain.xml")]).code).toBe(0);
      } else if (process.env.CI === "true") throw new Error("xmllint is required in CI");
      // The generation proves the checkout: a changed byte fails it.
      writeFileSync(join(out, "notes.txt"), "scene 13, takes 1-2\n");
      expect(run([...runner.command("mhl-verify"), "verify", out]).code).toBe(11);
      // Only into a new or empty folder.
      expect(cv(["checkout", store, "main", out])).toMatchObject({ code: 2, stderr: `cartvault checkout: ${out}: is not empty; a checkout goes into a new or empty folder\n` });
      // A checkout can be committed again as it is: its own ASC MHL history is not committed.
      const recommit = cv(["commit", store, out, "--branch", "main", "--json"]);
      expect(jsonOf(recommit)).toMatchObject({ parent: id, files: 5 });
      expect(recommit.stderr).toContain(`cartvault commit: ${out}/ascmhl: an ASC MHL history, not committed (a checkout writes its own)\n`);
    });

    test("verify, gc (only what no branch reaches, not while a command runs), du", () => {
      const dir = tempDir("vault-gc-");
      const store = join(dir, "VAULT");
      cv(["init", store]);
      writeTree(join(dir, "A"), project(4));
      writeTree(join(dir, "B"), { ...project(4), "extra.mov": "only on the scratch branch" });
      const main = cv(["commit", store, join(dir, "A")]).stdout.trim();
      cv(["branch", store, "scratch"]);
      const scratch = cv(["commit", store, join(dir, "B"), "--branch", "scratch"]).stdout.trim();
      expect(cv(["verify", store])).toMatchObject({ code: 0, stdout: `verified ${store}: 6 objects (605.5 KiB hashed again), 2 commits, 2 branches: all sound\n` });
      expect(jsonOf(cv(["verify", store, "--json", "--jobs", "2"]))).toEqual({ verified: true, objects: 6, bytes: 620_053 + 26, commits: 2, branches: 2, findings: 0 });

      const du = jsonOf(cv(["du", store, "--json"]));
      expect(du.branches.map((b: { name: string }) => b.name)).toEqual(["main", "scratch"]);
      expect(du.logical).toBe(du.branches[0].bytes + du.branches[1].bytes);
      expect(du.history).toEqual({ commits: 2, bytes: du.logical });
      expect(du.objects.count).toBe(6);
      expect(du.physical).toBeGreaterThanOrEqual(du.physicalObjects);
      expect(cv(["du", store]).stdout).toContain("ratio:  ");

      // Nothing to collect while every commit is on a branch.
      expect(cv(["gc", store])).toMatchObject({ code: 0, stderr: "cartvault gc: removed 0 commit(s), 0 object(s) (0 B), 0 record(s), 0 leftover(s); kept 2 commit(s), 6 object(s)\n" });
      // A branch dropped by hand: its commit and the object only it used go, nothing else.
      unlinkSync(join(store, "refs", "heads", "scratch"));
      const extra = jsonLines(cv(["ls", store, scratch, "--json"])).find((e) => e.path === "extra.mov")!.id;
      const dry = cv(["gc", store, "--dry-run"]);
      expect(dry.stdout.split("\n").filter(Boolean).sort()).toEqual([`would remove ${store}/commits/${scratch.slice(0, 2)}/${scratch.slice(2)}`, `would remove ${store}/objects/${extra.slice(0, 2)}/${extra.slice(2)}`, `would remove ${store}/records/${extra.slice(0, 2)}/${extra.slice(2)}`].sort());
      expect(existsSync(join(store, "objects", extra.slice(0, 2), extra.slice(2)))).toBe(true);
      // gc runs alone: while another command holds the vault, it is refused.
      const { openSync, closeSync } = require("node:fs");
      const held = openSync(join(store, "locks", "gc"), "r");
      expect(tryLock(held, "shared")).toBe(true);
      expect(cv(["gc", store])).toMatchObject({ code: 2, stderr: `cartvault gc: ${store}: another cartvault command is using this vault; run gc again when it is done\n` });
      closeSync(held);
      expect(jsonOf(cv(["gc", store, "--json"]))).toMatchObject({ dryRun: false, commits: { kept: 1, removed: [scratch] }, objects: { kept: 5, removed: 1, bytes: 26 }, records: 1 });
      expect(existsSync(join(store, "objects", extra.slice(0, 2), extra.slice(2)))).toBe(false);
      expect(cv(["verify", store]).code).toBe(0);
      expect(cv(["checkout", store, main, join(dir, "OUT")]).code).toBe(0);
    });

    test("what a commit cannot include is named and nothing is committed; --links skip and --special skip leave out with a note", () => {
      const dir = tempDir("vault-problems-");
      const src = join(dir, "PX");
      const store = join(dir, "VAULT");
      writeTree(src, { "a.mov": "a", "sub/b.mov": "b" });
      symlinkSync("/etc/passwd", join(src, "out.mov"));
      symlinkSync("a.mov", join(src, "inside.mov"));
      run(["mkfifo", join(src, "pipe")]);
      cv(["init", store]);
      const r = cv(["commit", store, src]);
      expect(r).toMatchObject({ code: 2, stdout: "" });
      expect(r.stderr).toBe(
        [`cartvault commit: ${src}/out.mov: symbolic link that leaves the tree, not followed`, `cartvault commit: ${src}/pipe: a FIFO (named pipe), not a regular file: it cannot be copied or hashed`, `cartvault commit: ${src}: 2 entries could not be included (named above); nothing was committed`, ""].join("\n"),
      );
      expect(readdirSync(join(store, "refs", "heads"))).toEqual([]);
      const skipped = cv(["commit", store, src, "--links", "skip", "--special", "skip", "--json"]);
      expect(skipped.code).toBe(0);
      expect(jsonOf(skipped)).toMatchObject({ files: 2 });
      expect(skipped.stderr).toContain(`cartvault commit: ${src}/out.mov: symbolic link, left out (--links skip)\n`);
      expect(skipped.stderr).toContain(`cartvault commit: ${src}/pipe: a FIFO (named pipe), left out (--special skip)\n`);
      unlinkSync(join(src, "out.mov"));
      unlinkSync(join(src, "pipe"));
      // A link to a file inside is that file.
      expect(
        cv(["ls", store, cv(["commit", store, src, "--json"]).stdout.match(/"id":"([0-9a-f]{64})"/)![1]!])
          .stdout.split("\n")
          .filter(Boolean)
          .map((l) => l.split(" ").at(-1)),
      ).toEqual(["a.mov", "inside.mov", "sub/b.mov"]);
    });

    test("usage: commands, options and places that cannot work are refused with one line; --help names the exit codes", () => {
      const dir = tempDir("vault-usage-");
      const store = join(dir, "VAULT");
      cv(["init", store]);
      mkdirSync(join(dir, "SRC"));
      expect(cv([])).toMatchObject({ code: 2, stderr: "cartvault: missing command; see 'cartvault --help'\n" });
      expect(cv(["frobnicate"])).toMatchObject({ code: 2, stderr: "cartvault: unknown command 'frobnicate'; see 'cartvault --help'\n" });
      expect(cv(["commit", store])).toMatchObject({ code: 2, stderr: "cartvault commit: Missing required positional argument: SRC; see 'cartvault commit --help'\n" });
      expect(cv(["commit", store, join(dir, "SRC"), "--import", "teleport"])).toMatchObject({ code: 2, stderr: "cartvault commit: invalid --import 'teleport'; use one of: auto, reflink, hardlink, copy\n" });
      expect(cv(["commit", store, join(dir, "SRC"), "--bogus"])).toMatchObject({ code: 2, stderr: "cartvault commit: unrecognized option '--bogus'; see 'cartvault commit --help'\n" });
      expect(cv(["commit", store, join(dir, "SRC"), "--branch", "a..b"]).stderr).toStartWith("cartvault commit: bad branch name 'a..b': ");
      expect(cv(["commit", store, dir])).toMatchObject({ code: 2, stderr: `cartvault commit: ${dir}: holds the vault; commit a folder the vault is not in\n` });
      expect(cv(["commit", store, join(store, "objects")])).toMatchObject({ code: 2, stderr: `cartvault commit: ${join(store, "objects")}: is inside the vault; commit a folder outside it\n` });
      expect(cv(["log", join(dir, "SRC")])).toMatchObject({ code: 2, stderr: `cartvault log: ${join(dir, "SRC")}: not a cartvault vault (no 'cartvault store 1' in its cartvault file); make one with 'cartvault init'\n` });
      expect(cv(["log", join(dir, "none")])).toMatchObject({ code: 2, stderr: `cartvault log: ${join(dir, "none")}: No such file or directory\n` });
      expect(cv(["merge", store, "main"]).code).toBe(2);
      const help = cv(["--help"]);
      expect(help.code).toBe(0);
      for (const command of ["init", "commit", "branch", "branches", "log", "ls", "cat", "diff", "merge", "checkout", "verify", "gc", "du"]) expect(help.stdout).toContain(`  ${command} STORE`);
      expect(help.stdout).toContain("  1  a verification failed");
      expect(cv(["checkout", "--help"]).stdout).toContain("--link");
    });
  });
}

test("names are bytes: a name that is not UTF-8 is committed and checked out byte for byte (its ASC MHL refused by name); an NFD name is kept in NFC", () => {
  const runner = runners()[0]!;
  const dir = tempDir("vault-names-");
  const src = join(dir, "PX");
  const store = join(dir, "VAULT");
  mkdirSync(src);
  const latin1 = Buffer.concat([Buffer.from(`${src}/caf`), Buffer.from([0xe9]), Buffer.from(".mov")]);
  writeFileSync(latin1, "latin-1 name");
  writeFileSync(join(src, "cafe\u0301 nfd.mov"), "nfd name");
  vault(runner, ["init", store]);
  const id = vault(runner, ["commit", store, src]).stdout.trim();
  const names = jsonLines(vault(runner, ["ls", store, id, "--json"])).map((e) => e.path);
  expect(names).toEqual(["caf\u00e9 nfd.mov", "caf\udce9.mov"]);
  const out = join(dir, "OUT");
  const r = vault(runner, ["checkout", store, id, out]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`cartvault checkout: ${out}/caf\\xe9.mov: its name is not UTF-8, which an ASC MHL cannot hold\n`);
  const listed = (readdirSync(out, { encoding: "buffer" }) as unknown as Buffer[]).map((b) => b.toString("hex")).sort();
  expect(listed).toEqual([Buffer.from("caf\u00e9 nfd.mov").toString("hex"), Buffer.concat([Buffer.from("caf"), Buffer.from([0xe9]), Buffer.from(".mov")]).toString("hex")].sort());
  expect(readFileSync(Buffer.concat([Buffer.from(`${out}/caf`), Buffer.from([0xe9]), Buffer.from(".mov")]), "utf8")).toBe("latin-1 name");
  // Two names that are one in NFC cannot both be committed.
  writeFileSync(join(src, "caf\u00e9 nfd.mov"), "nfc twin");
  const twin = vault(runner, ["commit", store, src]);
  expect(twin.code).toBe(2);
  expect(twin.stderr).toContain("are one name in Unicode NFC, as a commit holds names");
});
