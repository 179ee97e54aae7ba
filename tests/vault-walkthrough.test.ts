/**
 * README's "Versions of a project", run as written: the shell block is taken from README itself
 * and run with the compiled tools first on PATH, on a card and a graded clip made here.
 */
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes, ROOT, run, tempDir } from "./helpers.ts";

/** The first ```sh block after a heading of README. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const at = readme.indexOf(`\n${heading}\n`);
  expect(at).toBeGreaterThan(0);
  const start = readme.indexOf("```sh\n", at) + "```sh\n".length;
  return readme.slice(start, readme.indexOf("```", start));
}

test("README: versions of a project — offload, commit, branch for a regrade, diff, merge, checkout, verify", () => {
  const dir = tempDir("vault-walkthrough-");
  mkdirSync(join(dir, "A001", "CLIPS"), { recursive: true });
  mkdirSync(join(dir, "GRADED"));
  writeFileSync(join(dir, "A001", "CLIPS", "A001C001.mov"), randomBytes(3_000_000, 61));
  writeFileSync(join(dir, "A001", "CLIPS", "A001C002.mov"), randomBytes(2_000_000, 62));
  writeFileSync(join(dir, "A001", "notes.txt"), "scene 12\n");
  const graded = randomBytes(3_000_000, 63);
  writeFileSync(join(dir, "GRADED", "A001C001.mov"), graded);
  const script = readmeBlock("## Versions of a project");
  expect(script).toContain("cartvault merge RAID/VAULT regrade --into main");
  const result = run(["bash", "-e", "-o", "pipefail", "-c", script], { cwd: dir, env: { ...process.env, PATH: `${join(ROOT, "dist")}:${process.env.PATH}` } as Record<string, string> });
  expect([result.code, result.stderr.split("\n").filter((l) => !/^(dispatchcopy|cartvault \w+): /.test(l) && l !== "")]).toEqual([0, []]);
  expect(result.stdout).toContain("M\tDAY01/A001/CLIPS/A001C001.mov\n");
  expect(result.stdout).toMatch(/^verified RAID\/VAULT: 4 objects \(7\.6 MiB hashed again\), 3 commits, 2 branches: all sound$/m);
  expect(result.stdout).toMatch(/^main +[0-9a-f]{12} +3 +4\.8 MiB$/m);
  expect(result.stdout).toMatch(/^regrade +[0-9a-f]{12} +3 +4\.8 MiB$/m);
  expect(result.stderr).toContain("cartvault commit: committed 3 files (4.8 MiB) to 'regrade' as ");
  expect(result.stderr).toContain("; 3 file(s) read, 1 new object(s) stored (2.9 MiB) by ");
  expect(readFileSync(join(dir, "DELIVERY/PX/DAY01/A001/CLIPS/A001C001.mov"))).toEqual(Buffer.from(graded));
  expect(readFileSync(join(dir, "DELIVERY/PX/DAY01/A001/CLIPS/A001C002.mov"))).toEqual(readFileSync(join(dir, "A001/CLIPS/A001C002.mov")));
}, 120_000);
