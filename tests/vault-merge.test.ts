/**
 * Three-way merges at file level: what one side changed is taken, what both changed alike is
 * taken once, and every kind of conflict (both modified, deleted on one side and modified on
 * the other, both added, a file against a folder) is listed with both sides; the command then
 * writes nothing and exits 1, unless --prefer settles them. The base is the nearest common
 * ancestor, found through merges too.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { CommitEntry } from "../lib/vault/commit.ts";
import { mergeTrees } from "../lib/vault/merge.ts";
import { runners, tempDir } from "./helpers.ts";
import { jsonOf, vault, writeTree, type Tree } from "./vault-helpers.ts";

const id = (c: string) => c.repeat(64);
const file = (path: string, c: string, mode = 0o644): CommitEntry => ({ path, id: id(c), size: 1, mode, mtimeNs: 0n });
const paths = (entries: CommitEntry[]) => entries.map((e) => `${e.path}:${e.id[0]}`);

describe("mergeTrees", () => {
  const base = [file("keep", "a"), file("mine", "a"), file("theirs", "a"), file("both-same", "a"), file("gone-mine", "a"), file("gone-theirs", "a")];
  const ours = [file("keep", "a"), file("mine", "b"), file("theirs", "a"), file("both-same", "c"), file("gone-theirs", "a"), file("new-mine", "d")];
  const theirs = [file("keep", "a"), file("mine", "a"), file("theirs", "e"), file("both-same", "c"), file("gone-mine", "a"), file("new-theirs", "f")];

  test("takes each side's own changes, and changes both made alike once; no conflict", () => {
    const r = mergeTrees(base, ours, theirs);
    expect(r.conflicts).toEqual([]);
    expect(paths(r.entries)).toEqual(["both-same:c", "keep:a", "mine:b", "new-mine:d", "new-theirs:f", "theirs:e"]);
  });

  test("every kind of conflict, with both sides and the base", () => {
    const b = [file("both", "a"), file("del-ours", "a"), file("del-theirs", "a"), file("mode", "a")];
    const o = [file("both", "b"), file("del-theirs", "c"), file("added", "d"), file("clip", "e"), file("mode", "a", 0o755)];
    const t = [file("both", "f"), file("del-ours", "g"), file("added", "h"), file("clip/inside", "i"), file("mode", "a", 0o600)];
    const r = mergeTrees(b, o, t);
    expect(r.conflicts.map((c) => [c.kind, c.path])).toEqual([
      ["both-added", "added"],
      ["both-modified", "both"],
      ["deleted-by-ours", "del-ours"],
      ["deleted-by-theirs", "del-theirs"],
      ["both-modified", "mode"],
      ["file-folder", "clip"],
    ]);
    const both = r.conflicts[1]!;
    expect([both.base?.id, both.ours?.id, both.theirs?.id]).toEqual([id("a"), id("b"), id("f")]);
    expect(r.conflicts[5]).toMatchObject({ inside: "clip/inside", ours: { path: "clip" }, theirs: { path: "clip/inside" } });
    // --prefer settles each for one side: its file, or its deletion.
    const ours_ = mergeTrees(b, o, t, "ours");
    expect(ours_.conflicts).toEqual([]);
    expect(ours_.resolved.map((c) => c.kind)).toEqual(["both-added", "both-modified", "deleted-by-ours", "deleted-by-theirs", "both-modified", "file-folder"]);
    expect(paths(ours_.entries)).toEqual(["added:d", "both:b", "clip:e", "del-theirs:c", "mode:a"]);
    expect(ours_.entries.find((e) => e.path === "mode")!.mode).toBe(0o755);
    const theirs_ = mergeTrees(b, o, t, "theirs");
    expect(paths(theirs_.entries)).toEqual(["added:h", "both:f", "clip/inside:i", "del-ours:g", "mode:a"]);
  });

  test("no common ancestor: everything both have differently is a both-added conflict", () => {
    const r = mergeTrees([], [file("x", "a"), file("y", "b")], [file("x", "a"), file("y", "c"), file("z", "d")]);
    expect(r.conflicts.map((c) => [c.kind, c.path])).toEqual([["both-added", "y"]]);
  });
});

for (const runner of runners()) {
  test(`merge (${runner.label}): conflicts listed with both sides, exit 1, nothing written; --prefer settles them; the base is found through earlier merges`, () => {
    const dir = tempDir("vault-merge-");
    const store = join(dir, "VAULT");
    const cv = (args: string[]) => vault(runner, args);
    const commitTree = (tree: Tree, branch: string) => {
      const src = join(dir, `SRC-${branch}`);
      rmSync(src, { recursive: true, force: true });
      writeTree(src, tree);
      const r = cv(["commit", store, src, "--branch", branch]);
      expect(r.code).toBe(0);
      return r.stdout.trim();
    };
    cv(["init", store]);
    const base = commitTree({ "both.mov": "base", "del-ours.mov": "base", "del-theirs.mov": "base", "keep.mov": "base" }, "main");
    cv(["branch", store, "grade"]);
    // main (ours): changes both.mov, deletes del-ours.mov, changes del-theirs.mov, adds added.mov and a file clip.
    const ours = commitTree({ "both.mov": "ours", "del-theirs.mov": "ours", "keep.mov": "base", clip: "a file", "added.mov": "ours" }, "main");
    // grade (theirs): changes both.mov, changes del-ours.mov, deletes del-theirs.mov, adds added.mov and a folder clip/.
    const theirs = commitTree({ "both.mov": "theirs", "del-ours.mov": "theirs", "keep.mov": "base", "added.mov": "theirs!", "clip/inside.mov": "in a folder" }, "grade");
    const commitsBefore = readdirSync(join(store, "commits")).flatMap((f) => readdirSync(join(store, "commits", f))).length;

    const r = cv(["merge", store, "grade", "--into", "main"]);
    expect(r.code).toBe(1);
    const lines = r.stdout.split("\n").filter(Boolean);
    expect(lines.map((l) => l.replace(/[0-9a-f]{12} \d+ B/g, "ID"))).toEqual([
      "conflict (both added): added.mov: ours ID; theirs ID",
      "conflict (both modified): both.mov: ours ID; theirs ID; base ID",
      "conflict (deleted in ours, modified in theirs): del-ours.mov: ours deleted; theirs ID; base ID",
      "conflict (modified in ours, deleted in theirs): del-theirs.mov: ours ID; theirs deleted; base ID",
      "conflict (a file in one, a folder in the other): clip: ours clip ID; theirs clip/inside.mov ID",
    ]);
    expect(r.stderr).toBe("cartvault merge: 5 conflict(s) merging into 'main'; nothing was written (settle them with --prefer ours|theirs, or change a branch and merge again)\n");
    expect(cv(["branches", store]).stdout).toBe(`grade\t${theirs}\nmain\t${ours}\n`);
    expect(readdirSync(join(store, "commits")).flatMap((f) => readdirSync(join(store, "commits", f))).length).toBe(commitsBefore);
    const asJson = jsonOf(cv(["merge", store, "grade", "--into", "main", "--json"]));
    expect(asJson).toMatchObject({ into: "main", from: "grade", base, commit: null, upToDate: false });
    expect(asJson.conflicts.map((c: { conflict: string }) => c.conflict)).toEqual(["both-added", "both-modified", "deleted-by-ours", "deleted-by-theirs", "file-folder"]);
    expect(asJson.conflicts[1]).toMatchObject({ path: "both.mov", base: { size: 4 }, ours: { size: 4 }, theirs: { size: 6 } });

    // --prefer theirs: a merge commit with two parents and theirs' side of every conflict.
    const settled = cv(["merge", store, "grade", "--into", "main", "--prefer", "theirs", "-m", "take the grade"]);
    expect(settled.code).toBe(0);
    const merged = settled.stdout.trim().split("\n").at(-1)!;
    expect(settled.stderr).toBe(`cartvault merge: merged into 'main' as ${merged.slice(0, 12)} (5 conflict(s) settled for theirs)\n`);
    expect(
      cv(["ls", store, "main"])
        .stdout.split("\n")
        .filter(Boolean)
        .map((l) => l.split(" ").at(-1)),
    ).toEqual(["added.mov", "both.mov", "clip/inside.mov", "del-ours.mov", "keep.mov"]);
    expect(cv(["cat", store, "main", "added.mov"]).stdout).toBe("theirs!");
    expect(jsonOf({ ...settled, stdout: cv(["log", store, "main", "--json"]).stdout.split("\n")[0]! })).toMatchObject({ parents: [ours, theirs], message: "take the grade" });

    // Later: grade changes keep.mov, main changes nothing; the base is now the merge, so no conflict.
    const later = commitTree({ "keep.mov": "graded again", "added.mov": "theirs!", "both.mov": "theirs", "del-ours.mov": "theirs", "clip/inside.mov": "in a folder" }, "grade");
    const again = cv(["merge", store, "grade", "--into", "main", "--json"]);
    expect(again.code).toBe(0);
    expect(jsonOf(again)).toMatchObject({ base: theirs, conflicts: [] });
    expect(cv(["cat", store, "main", "keep.mov"]).stdout).toBe("graded again");
    expect(later).toMatch(/^[0-9a-f]{64}$/);

    // --prefer ours on a fresh conflict keeps main's file.
    commitTree({ "keep.mov": "main's", "added.mov": "theirs!", "both.mov": "theirs", "del-ours.mov": "theirs", "clip/inside.mov": "in a folder" }, "main");
    commitTree({ "keep.mov": "grade's", "added.mov": "theirs!", "both.mov": "theirs", "del-ours.mov": "theirs", "clip/inside.mov": "in a folder" }, "grade");
    expect(cv(["merge", store, "grade", "--into", "main"]).code).toBe(1);
    expect(cv(["merge", store, "grade", "--into", "main", "--prefer", "ours"]).code).toBe(0);
    expect(cv(["cat", store, "main", "keep.mov"]).stdout).toBe("main's");
    expect(cv(["verify", store]).code).toBe(0);
  }, 120_000);
}
