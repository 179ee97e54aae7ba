/**
 * The vault's formats and rules on their own: commits in their one canonical form (written and
 * read back exactly, names as bytes, refused when altered), the paths a commit may hold, branch
 * names, the escaping of texts, and the stat cache's rule for files changed just before a walk.
 */
import { describe, expect, test } from "bun:test";
import { openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeCommit, readCommit, type CommitEntry } from "../lib/vault/commit.ts";
import { branchNameProblem, commitPathProblem, escapeField, unescapeField } from "../lib/vault/layout.ts";
import { loadStatCache, RACY_NS, saveStatCache, stateKey, stillAsCached } from "../lib/vault/stat_cache.ts";
import { Vault } from "../lib/vault/store.ts";
import { tempDir } from "./helpers.ts";

const entry = (path: string, c: string, size = 1, mode = 0o644, mtimeNs = 1_700_000_000_123_456_789n): CommitEntry => ({ path, id: c.repeat(64), size, mode, mtimeNs });

describe("commits", () => {
  const draft = {
    parents: ["1".repeat(64)],
    author: "dit@cart",
    time: "2026-12-01T10:00:00.000Z",
    message: "day 1\nwith a second line and a \\ backslash",
    entries: [entry("A001/caf\udce9.mov", "a", 10), entry("A001/clip 1.mov", "b", 20, 0o755), entry("notes\nline.txt", "c", 3, 0o600, -5n)],
  };

  test("the canonical bytes, read back exactly; the id is the BLAKE3 of the bytes", async () => {
    const { id, tree, bytes } = await encodeCommit(draft);
    const text = Buffer.from(bytes).toString("latin1");
    expect(text).toBe(
      [
        "cartvault commit 1",
        `tree ${tree}`,
        `parent ${"1".repeat(64)}`,
        "author dit@cart",
        "time 2026-12-01T10:00:00.000Z",
        "message day 1\\nwith a second line and a \\\\ backslash",
        "files 3 33",
        "",
        `${"a".repeat(64)} 10 0644 1700000000123456789 A001/caf\xe9.mov`,
        `${"b".repeat(64)} 20 0755 1700000000123456789 A001/clip 1.mov`,
        `${"c".repeat(64)} 3 0600 -5 notes\\nline.txt`,
        "",
      ].join("\n"),
    );
    const b3sum = Bun.which("b3sum");
    const dir = tempDir("vault-format-");
    const file = join(dir, "commit");
    writeFileSync(file, bytes);
    if (b3sum)
      expect(
        Bun.spawnSync({ cmd: [b3sum, "--no-names", file] })
          .stdout.toString()
          .trim(),
      ).toBe(id);
    const read = await readCommit(openSync(file, "r"), id);
    expect(read).toEqual({ id, tree, parents: draft.parents, author: draft.author, time: draft.time, message: draft.message, files: 3, bytes: 33, entries: draft.entries });
    expect(await readCommit(openSync(file, "r"), id, true)).toEqual({ id, tree, parents: draft.parents, author: draft.author, time: draft.time, message: draft.message, files: 3, bytes: 33 });
  });

  test("a commit of many files, read across many chunks, comes back whole", async () => {
    const entries: CommitEntry[] = [];
    for (let i = 0; i < 30_000; i++) entries.push(entry(`R${String(Math.floor(i / 1000)).padStart(3, "0")}/F${String(i % 1000).padStart(4, "0")} ${"x".repeat(i % 97)}.dpx`, "0123456789abcdef"[i % 16]!, i, 0o644, BigInt(i) * 1_000_003n));
    entries.sort((a, b) => (a.path < b.path ? -1 : 1));
    const { id, bytes } = await encodeCommit({ ...draft, entries });
    expect(bytes.length).toBeGreaterThan(4 << 20);
    const file = join(tempDir("vault-format-"), "big");
    writeFileSync(file, bytes);
    expect((await readCommit(openSync(file, "r"), id)).entries).toEqual(entries);
  });

  test("a commit that is not exactly its canonical form, or not its id, is refused with the line", async () => {
    const { id, bytes } = await encodeCommit(draft);
    const dir = tempDir("vault-format-");
    const attempt = async (text: string, as = id) => {
      const file = join(dir, "c");
      writeFileSync(file, Buffer.from(text, "latin1"));
      try {
        await readCommit(openSync(file, "r"), as);
        return "read";
      } catch (error) {
        return (error as Error).message;
      }
    };
    const good = Buffer.from(bytes).toString("latin1");
    expect(await attempt(good.replace("day 1", "day 2"))).toBe("its bytes do not match its id (altered or damaged)");
    expect(await attempt(good.replace(" 10 0644 ", " 010 0644 "))).toBe('not a size: "010" (line 9)');
    expect(await attempt(good.replace(" 0755 ", " 4755 "))).toBe('not a mode: "4755" (line 10)');
    expect(await attempt(good.replace("A001/clip 1.mov", "A001/../clip 1.mov"))).toBe("refused: a path with a '..' part: \"A001/../clip 1.mov\" (line 10)");
    expect(await attempt(good.replace("A001/clip 1.mov", "/etc/clip 1.mov"))).toBe('refused: an absolute path: "/etc/clip 1.mov" (line 10)');
    expect(await attempt(good.replace("A001/clip 1.mov", "A001/ZZZ.mov"))).toBe('paths out of order or repeated at "A001/ZZZ.mov" (line 10)');
    expect(await attempt(good.replace("files 3 33", "files 3 34"))).toBe("says 3 files of 34 bytes, holds 3 of 33");
    expect(await attempt(good.slice(0, -1))).toBe("the last line has no newline (line 11)");
    expect(await attempt(good.replace("cartvault commit 1", "cartvault commit 2"))).toBe("not a cartvault commit (expected 'cartvault commit 1') (line 1)");
    expect(await attempt(good.replace("\r", "") + "x".repeat(70_000) + "\n")).toMatch(/^a line longer than 65536 bytes/);
    expect(await attempt(good, "f".repeat(64))).toBe("its bytes do not match its id (altered or damaged)");
    await expect(encodeCommit({ ...draft, entries: [entry("a", "a"), entry("a/b", "b")] })).rejects.toThrow('"a" is a file and a folder');
    await expect(encodeCommit({ ...draft, entries: [entry("b", "a"), entry("a", "b")] })).rejects.toThrow("paths out of order");
  });
});

describe("names and texts", () => {
  test("commit paths: relative, NFC, no empty, '.', '..' or NUL part", () => {
    expect(commitPathProblem("A001/CLIPS/c.mov")).toBeUndefined();
    expect(commitPathProblem("caf\udce9.mov")).toBeUndefined();
    expect(commitPathProblem("")).toBe("an empty path");
    expect(commitPathProblem("/etc/passwd")).toBe("an absolute path");
    expect(commitPathProblem("a/../b")).toBe("a path with a '..' part");
    expect(commitPathProblem("a/./b")).toBe("a path with a '.' part");
    expect(commitPathProblem("a//b")).toBe("a path with an empty part ('//' or a '/' at its end)");
    expect(commitPathProblem("a/")).toBe("a path with an empty part ('//' or a '/' at its end)");
    expect(commitPathProblem("a\0b")).toBe("a path with a NUL byte");
    expect(commitPathProblem("cafe\u0301")).toBe("a path that is not in Unicode NFC");
    expect(commitPathProblem("x".repeat(256))).toBe("a name longer than 255 bytes");
    expect(commitPathProblem("a\ud800b")).toBe("a path that is not a name (a lone UTF-16 surrogate)");
  });

  test("branch names", () => {
    for (const good of ["main", "regrade", "grade/v2", "v1.0", "_wip", "DAY-01"]) expect([good, branchNameProblem(good)]).toEqual([good, undefined]);
    for (const bad of ["", "../x", "a..b", ".hidden", "a/.b", "x.lock", "a b", "a/", "/a", "é", "a".repeat(201), "f".repeat(64)]) expect([bad, branchNameProblem(bad)]).not.toEqual([bad, undefined]);
  });

  test("fields keep their bytes; only backslash, newline and carriage return are escaped", () => {
    for (const text of ["plain", "a\\b", "two\nlines\r", "caf\udce9", "\\n literally"]) {
      expect(unescapeField(escapeField(text))).toBe(text);
    }
    expect(Buffer.from(escapeField("a\nb\\c\rd")).toString()).toBe("a\\nb\\\\c\\rd");
    expect(unescapeField(Buffer.from("bad\\x"))).toBeUndefined();
    expect(unescapeField(Buffer.from("raw\rreturn"))).toBeUndefined();
  });
});

describe("the stat cache", () => {
  test("saved and loaded as it was, without the files changed within 2 s of the walk; a cache of another source is not used", () => {
    const dir = tempDir("vault-cache-");
    const vault = Vault.init(join(dir, "VAULT"));
    try {
      const walk = 1_800_000_000_000_000_000n;
      const old = { size: 5, mtimeNs: walk - 10_000_000_000n, ctimeNs: walk - RACY_NS - 1n, ino: 42n, id: "a".repeat(64) };
      const racy = { ...old, ctimeNs: walk - RACY_NS + 1n, id: "b".repeat(64) };
      saveStatCache(
        vault,
        "/src",
        "2049",
        {
          commit: "c".repeat(64),
          entries: new Map([
            ["old.mov", old],
            ["racy.mov", racy],
            ["caf\udce9 \\\n.mov", old],
          ]),
        },
        walk,
      );
      const cache = loadStatCache(vault, "/src", "2049");
      expect(cache.commit).toBe("c".repeat(64));
      const line = { state: stateKey(old), id: old.id, size: 5 };
      expect(line.state).toBe(`${old.mtimeNs} ${old.ctimeNs} 5 42`);
      expect([...cache.entries]).toEqual([
        ["old.mov", line],
        ["caf\udce9 \\\n.mov", line],
      ]);
      expect(loadStatCache(vault, "/other", "2049").entries.size).toBe(0);
      expect(loadStatCache(vault, "/src", "2050").entries.size).toBe(0);
      const now = { kind: "file" as const, mode: 0o644, uid: 0, gid: 0, size: 5, blocks: 8, mtimeMs: 0, mtimeNs: old.mtimeNs, atimeNs: 0n, ctimeNs: old.ctimeNs, dev: "2049", ino: 42n, nlink: 1 };
      expect(stillAsCached(line, now)).toBe(true);
      expect(stillAsCached(line, { ...now, ctimeNs: now.ctimeNs + 1n })).toBe(false);
      expect(stillAsCached(line, { ...now, ino: 43n })).toBe(false);
      expect(stillAsCached(line, { ...now, size: 6 })).toBe(false);
      // A cache that is not in its form is ignored, never trusted.
      const files = Bun.spawnSync({ cmd: ["ls", join(dir, "VAULT", "cache")] })
        .stdout.toString()
        .trim()
        .split("\n");
      const file = join(dir, "VAULT", "cache", files[0]!);
      writeFileSync(file, readFileSync(file, "latin1").replace(` 42 ${"a".repeat(64)}`, ` 42 ${"a".repeat(63)}`), "latin1");
      expect(loadStatCache(vault, "/src", "2049").entries.size).toBe(0);
    } finally {
      vault.close();
    }
  });
});
