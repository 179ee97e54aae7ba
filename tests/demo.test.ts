/** `npm run demo`: the main job on built-in sample data runs, proves a copy and catches damage. */
import { expect, test } from "bun:test";
import { BUN, ROOT, run } from "./helpers.ts";

test("the demo proves a good copy and refuses a damaged one", () => {
  const result = run([BUN, `${ROOT}/scripts/demo.ts`]);
  expect(result.code).toBe(0);
  expect(result.stdout).toContain("CLIPS/A001C002_261122.mov: OK\n(exit 0)\n");
  expect(result.stdout).toContain("CLIPS/A001C002_261122.mov: FAILED\n(exit 1)\n");
  expect(result.stdout).toContain("The good copy verified; the damaged copy was refused.\n");
  expect(result.stdout).not.toContain(".DS_Store");
});
