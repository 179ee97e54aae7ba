/**
 * What cartvault must not believe, with real files and real processes: a checkout's folder
 * changed under it (a folder moved away and replaced, a file planted), a stat cache on a file
 * system whose change time cannot be trusted (exFAT through exfat-fuse), a source owned by
 * someone else imported by hard link, a stat cache written by someone else, and a store whose
 * lock file was deleted.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exfat } from "./faults/mounts.ts";
import { asNobody, COMPILED, IS_ROOT, randomBytes, run, runners, straceOrSkip, tempDir } from "./helpers.ts";
import { jsonOf, vault, writeTree } from "./vault-helpers.ts";

/** Spawns cartvault and collects what it prints. */
function spawnVault(runner: typeof COMPILED, args: string[]) {
  const proc = Bun.spawn({ cmd: [...runner.command("cartvault"), ...args], stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  return (async () => ({ code: await proc.exited, stdout: await new Response(proc.stdout).text(), stderr: await new Response(proc.stderr).text() }))();
}

/** Waits (busy, no timer granularity) until `path` exists; false when `running` ended first. */
async function whenThere(path: string, running: { settled: boolean }): Promise<boolean> {
  while (!running.settled) {
    if (existsSync(path)) return true;
    await Bun.sleep(0);
  }
  return false;
}

/** A vault holding a0 and six large files in sub/ (large: the checkout takes long enough to be changed under). */
function largeProject(dir: string): string {
  const src = join(dir, "src");
  const tree: Record<string, Uint8Array> = { a0: randomBytes(1000, 9) };
  for (let i = 1; i <= 6; i++) tree[`sub/f${i}`] = randomBytes(24 << 20, 10 + i);
  writeTree(src, tree);
  const store = join(dir, "store");
  return store;
}

for (const runner of runners()) {
  const cv = (args: string[]) => vault(runner, args);

  describe(`checkout whose folder changes under it (${runner.label})`, () => {
    const dir = tempDir("vault-swap-");
    const store = largeProject(dir);
    cv(["init", store]);
    const committed = cv(["commit", store, join(dir, "src"), "-m", "x"]);

    test("a folder moved away and replaced meanwhile: every file it held is named, exit 1, no ASC MHL sealing the moved files", async () => {
      expect(committed.code).toBe(0);
      const out = join(dir, "co");
      const state = { settled: false };
      const done = spawnVault(runner, ["checkout", "--link", "copy", store, "main", out]).finally(() => (state.settled = true));
      expect(await whenThere(join(out, "sub"), state)).toBe(true);
      renameSync(join(out, "sub"), join(out, "sub.old"));
      mkdirSync(join(out, "sub"));
      const r = await done;
      const lines = r.stderr.trimEnd().split("\n");
      // Swapped before the checkout opened the folder it made, the files are in the new one
      // (and proven); swapped after, each is named.
      const inNew = readdirSync(join(out, "sub")).sort();
      expect(inNew.length === 0 || inNew.join() === "f1,f2,f3,f4,f5,f6").toBe(true);
      const missing = inNew.length === 0 ? 6 : 0;
      for (let i = 1; i <= missing; i++) expect(lines).toContain(`cartvault checkout: ${out}/sub/f${i}: is not in place: its folder sub was moved or replaced during the checkout`);
      expect(lines).toContain(`cartvault checkout: ${out}/sub.old: appeared in the folder during the checkout; it is not part of commit ${jsonId(store)} and was not recorded`);
      expect(lines.at(-1)).toBe(`cartvault checkout: ${out}: ${missing ? "6 file(s) moved, removed or replaced during the checkout, " : ""}1 entry that appeared during the checkout (named above); no ASC MHL written`);
      expect(r.code).toBe(1);
      expect(existsSync(join(out, "ascmhl"))).toBe(false);
    }, 120_000);

    test("a folder moved away the instant it was made, before it was opened: never made again, each file meant for it named, exit 1 (needs strace)", async () => {
      const strace = straceOrSkip();
      if (!strace) return;
      const out = join(dir, "co4");
      mkdirSync(out);
      // The checkout waits 2 s before it opens the second folder under `out` (the first is
      // `out` itself), the one it just made: sub/. Meanwhile it is moved away.
      const traced = { command: (name: string) => [strace, "-f", "-qq", "-o", "/dev/null", "-P", out, "-e", "trace=openat2", "--inject=openat2:delay_enter=2000000:when=2", ...runner.command(name)], label: runner.label };
      const state = { settled: false };
      const done = spawnVault(traced, ["checkout", "--link", "copy", store, "main", out]).finally(() => (state.settled = true));
      expect(await whenThere(join(out, "sub"), state)).toBe(true);
      renameSync(join(out, "sub"), join(out, "sub.old"));
      const r = await done;
      const expected = [1, 2, 3, 4, 5, 6].map((i) => `cartvault checkout: ${out}/sub/f${i}: is not in place: its folder sub was moved or replaced during the checkout`);
      expected.push(`cartvault checkout: ${out}/sub.old: appeared in the folder during the checkout; it is not part of commit ${jsonId(store)} and was not recorded`);
      expected.push(`cartvault checkout: ${out}: 6 file(s) moved, removed or replaced during the checkout, 1 entry that appeared during the checkout (named above); no ASC MHL written`);
      expect(r.stderr).toBe(`${expected.join("\n")}\n`);
      expect(r.code).toBe(1);
      expect(readdirSync(out).sort()).toEqual(["a0", "sub.old"]);
      expect(readdirSync(join(out, "sub.old"))).toEqual([]);
    }, 120_000);

    test("a folder swapped for a link meanwhile: nothing written through it, every file named, exit 1", async () => {
      const out = join(dir, "co3");
      const elsewhere = join(dir, "elsewhere");
      mkdirSync(elsewhere);
      const state = { settled: false };
      const done = spawnVault(runner, ["checkout", "--link", "copy", store, "main", out]).finally(() => (state.settled = true));
      expect(await whenThere(join(out, "sub"), state)).toBe(true);
      renameSync(join(out, "sub"), join(out, "sub.old"));
      symlinkSync(elsewhere, join(out, "sub"));
      const r = await done;
      // Each file is named: as not in place (swapped after the checkout opened the folder), or
      // as not made (before: the link is never followed).
      for (let i = 1; i <= 6; i++) expect(r.stderr).toContain(`cartvault checkout: ${out}/sub/f${i}: `);
      expect(r.stderr).toEndWith("(named above); no ASC MHL written\n");
      expect(r.code).not.toBe(0);
      expect(readdirSync(elsewhere)).toEqual([]);
      expect(existsSync(join(out, "ascmhl"))).toBe(false);
    }, 120_000);

    test("a file planted meanwhile is named and never sealed; exit 1", async () => {
      const out = join(dir, "co2");
      const state = { settled: false };
      const done = spawnVault(runner, ["checkout", "--link", "copy", store, "main", out]).finally(() => (state.settled = true));
      expect(await whenThere(join(out, "sub"), state)).toBe(true);
      writeFileSync(join(out, "sub", "evil.sh"), "stray\n");
      const r = await done;
      expect(r.stderr).toBe(`cartvault checkout: ${out}/sub/evil.sh: appeared in the folder during the checkout; it is not part of commit ${jsonId(store)} and was not recorded\ncartvault checkout: ${out}: 1 entry that appeared during the checkout (named above); no ASC MHL written\n`);
      expect(r.code).toBe(1);
      expect(existsSync(join(out, "ascmhl"))).toBe(false);
      expect(readdirSync(join(out, "sub")).sort()).toEqual(["evil.sh", "f1", "f2", "f3", "f4", "f5", "f6"]);
    }, 120_000);
  });
}

describe("the stat cache, only where the change time is real", () => {
  const dir = tempDir("vault-ctime-");
  const card = exfat(dir, "card");

  for (const runner of runners()) {
    const cv = (args: string[]) => vault(runner, args);

    test.skipIf(!card)(
      `exFAT (exfat-fuse, change time = modification time): a file rewritten in place with its time put back is read and committed (${runner.label})`,
      () => {
        const src = join(card!.path, `A001-${runner.label}`);
        mkdirSync(src);
        const clip = join(src, "a.mov");
        writeFileSync(clip, "ORIGINAL-CONTENT");
        run(["touch", "-d", "2026-01-01 10:00:00", clip]);
        const store = join(dir, `store-${runner.label}`);
        cv(["init", store]);
        const note = `cartvault commit: ${src} is on a FUSE file system (exfat-fuse, ntfs-3g…), whose change time cannot be trusted: every file is read (the stat cache is used on ext4, XFS, Btrfs, tmpfs, ZFS, F2FS, bcachefs)\n`;
        const first = cv(["commit", store, src, "-m", "one"]);
        expect(first.code).toBe(0);
        expect(first.stderr.startsWith(note)).toBe(true);
        const before = statSync(clip, { bigint: true });
        writeFileSync(clip, "TAMPERED-CONTENT", { flag: "r+" });
        run(["touch", "-d", "2026-01-01 10:00:00", clip]);
        const after = statSync(clip, { bigint: true });
        // What makes the cache blind there: size, inode, modification and change time all as they were.
        expect([after.size, after.ino, after.mtimeNs, after.ctimeNs]).toEqual([before.size, before.ino, before.mtimeNs, before.ctimeNs]);
        const second = cv(["commit", store, src, "-m", "two", "--json"]);
        expect([second.code, second.stderr]).toEqual([0, note + `cartvault commit: committed 1 files (16 B) to 'main' as ${jsonOf(second).id.slice(0, 12)}; 1 file(s) read, 1 new object(s) stored (16 B) by copy\n`]);
        expect(cv(["cat", store, "main", "a.mov"]).stdout).toBe("TAMPERED-CONTENT");
      },
      120_000,
    );
  }

  test("--read-all reads every file where the cache would be used (ext4 here)", () => {
    const src = join(dir, "src");
    writeTree(src, { "a.mov": "one", "b.mov": "two" });
    // Older than the cache's racy window (their change time is now).
    Bun.sleepSync(2100);
    const store = join(dir, "store-all");
    vault(COMPILED, ["init", store]);
    expect(vault(COMPILED, ["commit", store, src]).code).toBe(0);
    expect(jsonOf(vault(COMPILED, ["commit", store, src, "--json"])).read).toEqual({ files: 0, bytes: 0 });
    expect(jsonOf(vault(COMPILED, ["commit", store, src, "--json", "--read-all"])).read).toEqual({ files: 2, bytes: 6 });
  });
});

for (const runner of runners()) {
  const cv = (args: string[]) => vault(runner, args);

  test.skipIf(!IS_ROOT)(
    `--import hardlink takes only files of the vault's user that no one else may write; nobody cannot change the vault through its own file (${runner.label})`,
    () => {
      const dir = tempDir("vault-owner-");
      chmodSync(dir, 0o755);
      const src = join(dir, "card");
      writeTree(src, { "n.mov": "nobody's bytes\n", "shared.mov": "group-writable\n", "mine.mov": "root's bytes\n" });
      chownSync(src, 65534, 65534);
      chownSync(join(src, "n.mov"), 65534, 65534);
      chmodSync(join(src, "shared.mov"), 0o664);
      const store = join(dir, "store");
      cv(["init", store]);
      const fix = "; a hard link would let them change the vault's object (use --import copy or reflink)";
      const refused = cv(["commit", store, src, "--import", "hardlink"]);
      expect([refused.code, refused.stderr]).toEqual([
        2,
        [
          `cartvault commit: ${src}/n.mov: cannot be hard-linked into the vault: it belongs to uid 65534, not to the vault's user (uid 0)${fix}`,
          `cartvault commit: ${src}/shared.mov: cannot be hard-linked into the vault: its group or others may write it (mode 0664)${fix}`,
          `cartvault commit: ${src}: 2 file(s) could not be imported (named above); nothing was committed (what was stored is kept for the next try)`,
          "",
        ].join("\n"),
      ]);
      // Copied instead, the object is the vault's own inode: nobody rewriting its file changes nothing there.
      expect(cv(["commit", store, src, "--import", "copy"]).code).toBe(0);
      const write = run(asNobody(["sh", "-c", `chmod u+w n.mov && printf 'tampered!\\n' > n.mov`]), { cwd: src });
      expect(write.code).toBe(0);
      expect(readFileSync(join(src, "n.mov"), "utf8")).toBe("tampered!\n");
      expect(cv(["cat", store, "main", "n.mov"]).stdout).toBe("nobody's bytes\n");
      expect(cv(["verify", store]).code).toBe(0);
    },
    60_000,
  );
}

for (const runner of runners()) {
  test(`a deleted lock file is made again: commits and gc go on (${runner.label})`, () => {
    const cv = (args: string[]) => vault(runner, args);
    const dir = tempDir("vault-locks-");
    const src = join(dir, "src");
    writeTree(src, { "a.mov": "one" });
    const store = join(dir, "store");
    cv(["init", store]);
    rmSync(join(store, "locks/refs"));
    expect(cv(["commit", store, src, "-m", "1"]).code).toBe(0);
    expect(statSync(join(store, "locks/refs")).size).toBe(0);
    rmSync(join(store, "locks"), { recursive: true });
    writeFileSync(join(src, "b.mov"), "two");
    const again = cv(["commit", store, src, "-m", "2", "--json"]);
    expect(again.code).toBe(0);
    expect(jsonOf(again).files).toBe(2);
    expect(readdirSync(join(store, "locks")).sort()).toEqual(["gc", "refs"]);
    rmSync(join(store, "locks/gc"));
    expect(cv(["gc", store]).code).toBe(0);
    expect(cv(["verify", store]).code).toBe(0);
    // A link where a lock file was is not followed: one line.
    rmSync(join(store, "locks/refs"));
    symlinkSync("/etc/passwd", join(store, "locks/refs"));
    writeFileSync(join(src, "c.mov"), "three");
    const linked = cv(["commit", store, src, "-m", "3"]);
    expect(linked.code).toBe(2);
    expect(linked.stderr).toStartWith(`cartvault commit: ${store}/locks/refs: cannot open the vault's lock: `);
    expect(linked.stderr.trimEnd().split("\n").length).toBe(1);
  }, 60_000);
}

for (const runner of runners()) {
  test(`a line planted in the stat cache (a changed file's state, its old object) is not believed: the file is read (${runner.label})`, () => {
    const cv = (args: string[]) => vault(runner, args);
    const dir = tempDir("vault-plant-");
    const src = join(dir, "src");
    writeTree(src, { "a.mov": "one\n", "b.mov": "two\n" });
    const store = join(dir, "store");
    cv(["init", store]);
    expect(cv(["commit", store, src, "-m", "1"]).code).toBe(0);
    const old = jsonOf(cv(["ls", store, "main", "a.mov", "--json"])).id as string;
    writeFileSync(join(src, "a.mov"), "EVL\n");
    Bun.sleepSync(2100);
    const [cacheName] = readdirSync(join(store, "cache")).filter((n) => n !== "key");
    const cacheFile = join(store, "cache", cacheName!);
    const s = statSync(join(src, "a.mov"), { bigint: true });
    const lines = readFileSync(cacheFile, "utf8")
      .split("\n")
      .filter((l) => l !== "" && !l.endsWith(" a.mov"));
    lines.splice(lines.length - 1, 0, `${s.mtimeNs} ${s.ctimeNs} ${s.size} ${s.ino} ${old} a.mov`);
    writeFileSync(cacheFile, `${lines.join("\n")}\n`);
    const second = cv(["commit", store, src, "-m", "2", "--json"]);
    expect(second.code).toBe(0);
    expect(jsonOf(second)).toMatchObject({ unchanged: false, read: { files: 2 } });
    expect(cv(["cat", store, "main", "a.mov"]).stdout).toBe("EVL\n");
    const key = statSync(join(store, "cache/key"));
    expect([key.size, key.mode & 0o777]).toEqual([32, 0o600]);
    // The cache written then is believed again.
    Bun.sleepSync(2100);
    expect(jsonOf(cv(["commit", store, src, "--json"]))).toMatchObject({ unchanged: true, read: { files: 0 } });
  }, 60_000);
}

/** The short id of main's commit. */
function jsonId(store: string): string {
  return readFileSync(join(store, "refs/heads/main"), "utf8").trim().slice(0, 12);
}
