import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, run } from "./helpers.ts";

/** Every file git tracks, as a user's clone has it. */
function trackedFiles(): string[] {
  const listed = run(["git", "ls-files", "-z"], { cwd: ROOT });
  expect(listed.code).toBe(0);
  return listed.stdout.split("\0").filter(Boolean);
}

describe("the repository stands alone", () => {
  test("no tracked file names a folder beside the repository", () => {
    // Built from parts so that this file does not name it itself.
    const outside = ["..", "shared"].join("/");
    const offenders = trackedFiles().filter((path) => {
      if (path.startsWith("tests/fixtures/")) return false;
      return readFileSync(join(ROOT, path)).includes(outside);
    });
    expect(offenders).toEqual([]);
  });

  test("the ASC MHL fixtures are in the repository, with their licence", () => {
    const files = trackedFiles();
    expect(files).toContain("tests/fixtures/ascmhl/LICENSE.md");
    expect(files).toContain("tests/fixtures/ascmhl/xsd/ASCMHL.xsd");
    expect(files.filter((f) => f.startsWith("tests/fixtures/ascmhl/scenarios/")).length).toBeGreaterThan(20);
  });
});
