/**
 * An unreadable file is reported and the rest goes on. Root reads everything, so the tools run
 * as `nobody` (setpriv) when these tests run as root; otherwise as the current user.
 */
import { expect, test } from "bun:test";
import { chmodSync, copyFileSync, writeFileSync } from "node:fs";
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
