/**
 * Imports and checkouts that copy no data: reflinks on a loop-mounted XFS made here
 * (`mkfs.xfs -m reflink=1`), checked with filefrag (every extent of the object, and of the
 * checked-out file, is shared), and hard links (the object is the source file itself, made
 * read-only). Where a reflink cannot be made, `reflink` is refused with the reason and `auto`
 * copies.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes, run, runners, tempDir } from "./helpers.ts";
import { jsonLines, jsonOf, reflinkXfs, sharesExtents, vault, writeTree } from "./vault-helpers.ts";

function objectFile(store: string, id: string): string {
  return join(store, "objects", id.slice(0, 2), id.slice(2));
}

/** Allocated bytes of a file system (df), to see that a reflink took no new space. */
function usedBytes(path: string): number {
  const fields = run(["df", "-B1", "--output=used", path]).stdout.trim().split("\n").at(-1)!;
  return Number(fields.trim());
}

for (const runner of runners()) {
  describe(`reflinks on XFS (${runner.label})`, () => {
    test("commit --import reflink shares the source's extents; checkout --link reflink shares the object's; both are proven; nothing is copied", () => {
      const dir = tempDir("vault-xfs-");
      const xfs = reflinkXfs(dir, "xfs", 400);
      if (!xfs) {
        console.warn("skipped: a loop XFS with reflinks cannot be mounted here (needs root and xfsprogs)");
        return;
      }
      const src = join(xfs, "PX");
      const store = join(xfs, "VAULT");
      const clips: Record<string, Uint8Array> = {};
      for (let i = 0; i < 4; i++) clips[`A001/CLIPS/C${i}.mov`] = randomBytes(8 << 20, 40 + i);
      writeTree(src, { ...clips, "A001/notes.txt": "notes", "empty.txt": "" });
      const cv = (args: string[]) => vault(runner, args);
      expect(cv(["init", store]).code).toBe(0);
      const before = usedBytes(xfs);
      const r = cv(["commit", store, src, "--import", "reflink", "--json"]);
      expect(r.code).toBe(0);
      expect(jsonOf(r)).toMatchObject({ files: 6, mode: "reflink", stored: { files: 6 } });
      // 32 MiB committed, far less written: only metadata.
      expect(usedBytes(xfs) - before).toBeLessThan(4 << 20);
      const entries = jsonLines(cv(["ls", store, "main", "--json"]));
      for (const e of entries.filter((x) => x.path.endsWith(".mov"))) {
        expect([e.path, sharesExtents(objectFile(store, e.id))]).toEqual([e.path, true]);
        expect(readFileSync(objectFile(store, e.id))).toEqual(readFileSync(join(src, e.path)));
      }
      // Changing the source afterwards (copy on write) leaves the object as it was.
      const clip = join(src, "A001/CLIPS/C0.mov");
      const original = readFileSync(clip);
      const changed = Buffer.from(original);
      changed[100] = changed[100]! ^ 1;
      writeFileSync(clip, changed);
      const c0 = entries.find((e) => e.path === "A001/CLIPS/C0.mov")!;
      expect(readFileSync(objectFile(store, c0.id))).toEqual(original);
      expect(cv(["verify", store]).code).toBe(0);

      const out = join(xfs, "OUT");
      const mid = usedBytes(xfs);
      const co = cv(["checkout", store, "main", out, "--link", "reflink", "--json"]);
      expect(co.code).toBe(0);
      expect(jsonOf(co)).toMatchObject({ files: 6, mode: "reflink", damaged: 0 });
      expect(usedBytes(xfs) - mid).toBeLessThan(4 << 20);
      for (const e of entries.filter((x) => x.path.endsWith(".mov"))) {
        expect([e.path, sharesExtents(join(out, e.path))]).toEqual([e.path, true]);
      }
      expect(readFileSync(join(out, "A001/CLIPS/C0.mov"))).toEqual(original);
      expect(run([...runner.command("mhl-verify"), "verify", out]).code).toBe(0);
      // auto takes reflinks here.
      expect(jsonOf(cv(["checkout", store, "main", join(xfs, "OUT2"), "--json"]))).toMatchObject({ mode: "reflink" });
    }, 120_000);

    test("where reflinks cannot be made: --import reflink and --link reflink are refused with the reason; auto copies", () => {
      const dir = tempDir("vault-noreflink-");
      const xfs = reflinkXfs(dir, "xfs", 300);
      if (!xfs) {
        console.warn("skipped: a loop XFS with reflinks cannot be mounted here (needs root and xfsprogs)");
        return;
      }
      // The source on another file system than the vault.
      const src = join(dir, "PX");
      const store = join(xfs, "VAULT");
      writeTree(src, { "a.mov": randomBytes(100_000, 5) });
      const cv = (args: string[]) => vault(runner, args);
      cv(["init", store]);
      const refused = cv(["commit", store, src, "--import", "reflink"]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe(
        `cartvault commit: ${src}/a.mov: cannot be reflinked into the vault (EXDEV: the source and the vault must be on one file system that supports reflinks, e.g. XFS with reflink=1 or Btrfs); use --import copy\ncartvault commit: ${src}: 1 file(s) could not be imported (named above); nothing was committed (what was stored is kept for the next try)\n`,
      );
      expect(jsonOf(cv(["commit", store, src, "--json"]))).toMatchObject({ mode: "copy", files: 1 });
      const out = join(dir, "OUT");
      expect(cv(["checkout", store, "main", out, "--link", "reflink"])).toMatchObject({ code: 2, stderr: `cartvault checkout: ${out}: --link reflink: the folder and the vault cannot share extents (EXDEV); use --link copy\n` });
      expect(jsonOf(cv(["checkout", store, "main", join(dir, "OUT2"), "--json"]))).toMatchObject({ mode: "copy", files: 1 });
      expect(cv(["checkout", store, "main", join(dir, "OUT3"), "--link", "hardlink"])).toMatchObject({ code: 2, stderr: `cartvault checkout: ${join(dir, "OUT3")}: --link hardlink: the folder is not on the vault's file system; use --link copy or reflink\n` });
    }, 120_000);
  });

  test(`hard links (${runner.label}): the object is the source file itself, made read-only; a checkout links the object`, () => {
    const dir = tempDir("vault-hardlink-");
    const src = join(dir, "PX");
    const store = join(dir, "VAULT");
    writeTree(src, { "a.mov": randomBytes(200_000, 8), "b.mov": "b" });
    const cv = (args: string[]) => vault(runner, args);
    cv(["init", store]);
    expect(jsonOf(cv(["commit", store, src, "--import", "hardlink", "--json"]))).toMatchObject({ mode: "hardlink", stored: { files: 2 } });
    const a = jsonLines(cv(["ls", store, "main", "--json"])).find((e) => e.path === "a.mov")!;
    const [object, source] = [statSync(objectFile(store, a.id)), statSync(join(src, "a.mov"))];
    expect([object.ino, object.nlink, source.mode & 0o777]).toEqual([source.ino, 2, 0o444]);
    // The source file as it is now (read-only) is what a second commit sees: nothing changed.
    Bun.sleepSync(2100);
    cv(["commit", store, src, "--import", "hardlink"]);
    expect(jsonOf(cv(["commit", store, src, "--import", "hardlink", "--json"]))).toMatchObject({ unchanged: true, read: { files: 0 } });
    const out = join(dir, "OUT");
    expect(cv(["checkout", store, "main", out, "--link", "hardlink"]).code).toBe(0);
    expect(statSync(join(out, "a.mov")).ino).toBe(object.ino);
    expect(run([...runner.command("mhl-verify"), "verify", out]).code).toBe(0);
    expect(cv(["verify", store]).code).toBe(0);
  }, 60_000);
}
