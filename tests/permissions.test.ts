/**
 * An unreadable file is reported and the rest goes on. Root reads everything, so the tools run
 * as `nobody` (setpriv) when these tests run as root; otherwise as the current user.
 */
import { expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, run, tempDir } from "./helpers.ts";

const asRoot = process.getuid?.() === 0;
const setpriv = Bun.which("setpriv");

test.skipIf(asRoot && !setpriv)("a file that cannot be opened: one stderr line, the others hashed, exit 1", () => {
  const dir = tempDir("cartkit-perm-");
  chmodSync(dir, 0o755);
  for (const name of ["xxsum", "b3sum-ts"]) copyFileSync(join(ROOT, "dist", name), join(dir, name));
  writeFileSync(join(dir, "a.txt"), "hello\n");
  writeFileSync(join(dir, "secret"), "nobody may read this");
  chmodSync(join(dir, "a.txt"), 0o644);
  chmodSync(join(dir, "secret"), 0o000);
  writeFileSync(join(dir, "list.xxh"), "e4c191d091bd8853  secret\ne4c191d091bd8853  a.txt\n");
  chmodSync(join(dir, "list.xxh"), 0o644);
  const as = (cmd: string[]) => (asRoot ? [setpriv!, "--reuid=65534", "--regid=65534", "--clear-groups", ...cmd] : cmd);
  const env = { PATH: "/usr/bin:/bin", HOME: dir, TMPDIR: dir };

  const b3 = run(as([join(dir, "b3sum-ts"), "a.txt", "secret"]), { cwd: dir, env });
  expect(b3).toMatchObject({
    code: 1,
    stdout: "8e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99  a.txt\n",
    stderr: "b3sum-ts: secret: Permission denied (os error 13)\n",
  });
  const xx = run(as([join(dir, "xxsum"), "secret", "a.txt"]), { cwd: dir, env });
  expect(xx).toMatchObject({ code: 1, stdout: "e4c191d091bd8853  a.txt\n", stderr: "xxsum: secret: Permission denied\n" });
  const check = run(as([join(dir, "xxsum"), "-c", "list.xxh"]), { cwd: dir, env });
  expect(check).toMatchObject({
    code: 1,
    stdout: "list.xxh:1: Could not open or read 'secret': Permission denied.\na.txt: OK\n1 listed file could not be read\n",
  });
});

test.skipIf(asRoot && !setpriv)("-r: a folder that cannot be read (mode 000, or no x) is named, the rest hashed, exit 1", () => {
  const dir = tempDir("cartkit-perm-walk-");
  chmodSync(dir, 0o755);
  for (const name of ["xxsum", "b3sum-ts"]) copyFileSync(join(ROOT, "dist", name), join(dir, name));
  const card = join(dir, "card");
  for (const sub of ["locked", "no-x", "open"]) mkdirSync(join(card, sub), { recursive: true });
  writeFileSync(join(card, "open", "a.txt"), "hello\n");
  writeFileSync(join(card, "locked", "hidden.mov"), "never listed");
  writeFileSync(join(card, "no-x", "unreachable.mov"), "listed, never opened");
  for (const path of [card, join(card, "open")]) chmodSync(path, 0o755);
  chmodSync(join(card, "open", "a.txt"), 0o644);
  chmodSync(join(card, "locked"), 0o000);
  chmodSync(join(card, "no-x"), 0o644);
  const as = (cmd: string[]) => (asRoot ? [setpriv!, "--reuid=65534", "--regid=65534", "--clear-groups", ...cmd] : cmd);
  const env = { PATH: "/usr/bin:/bin", HOME: dir, TMPDIR: dir };

  const b3 = run(as([join(dir, "b3sum-ts"), "-r", "card"]), { cwd: dir, env });
  expect(b3.code).toBe(1);
  expect(b3.stdout).toBe("8e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99  open/a.txt\n");
  expect(b3.stderr).toContain("b3sum-ts: card/locked: folder cannot be read: ");
  expect(b3.stderr).toContain("card/no-x");
  const xx = run(as([join(dir, "xxsum"), "-r", "card"]), { cwd: dir, env });
  expect({ code: xx.code, stdout: xx.stdout }).toEqual({ code: 1, stdout: "e4c191d091bd8853  open/a.txt\n" });
  expect(xx.stderr.split("\n").filter(Boolean).length).toBeGreaterThanOrEqual(2);
  expect(xx.stderr).toContain("xxsum: card/locked: folder cannot be read: Permission denied");
});
