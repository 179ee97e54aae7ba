/**
 * The chaos harness, short: 30 randomized runs with fixed seeds, every tool under every fault it
 * is tried under at least once (tests/faults/chaos.ts; bench/chaos.ts runs hundreds). Every
 * counter-example the harness ever found is a named test of its own (tests/faults/verified.test.ts,
 * tests/ltfs-write.test.ts).
 */
import { describe, expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IS_ROOT } from "../helpers.ts";
import { abandon, chaosRun, type Fault, TOOL_FAULTS, TOOLS, type Tool } from "./chaos.ts";

if (!IS_ROOT && process.env.CI === "true") throw new Error("the chaos harness must run as root in CI (tmpfs, loop XFS, exFAT, FAT, setpriv)");

const MOUNTED: readonly Fault[] = ["tmpfs-full", "xfs-pull", "exfat-kill", "fat-kill", "as-nobody"];
const pairs: Array<[Tool, Fault]> = TOOLS.flatMap((tool) => TOOL_FAULTS[tool].filter((f) => IS_ROOT || !MOUNTED.includes(f)).map((f): [Tool, Fault] => [tool, f]));

describe("chaos: exit 0 means every file everywhere; anything else names what is missing", () => {
  test("30 randomized runs, every tool under each of its faults", async () => {
    expect(pairs.length).toBeLessThanOrEqual(30);
    const broken: string[] = [];
    for (let i = 0; i < 30; i++) {
      const seed = 9000 + i;
      const [tool, fault] = pairs[i % pairs.length]!;
      const work = join(tmpdir(), `cartkit-chaos-test-${process.pid}-${seed}`);
      try {
        const result = await chaosRun(seed, work, fault, tool);
        for (const v of result.violations) broken.push(`seed ${seed} (${tool}, ${fault}): ${v}`);
      } finally {
        abandon(work);
      }
    }
    expect(broken).toEqual([]);
  }, 600_000);
});
