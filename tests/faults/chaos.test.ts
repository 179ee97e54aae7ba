/**
 * The chaos harness, short: 30 randomized offloads with fixed seeds, five under each fault
 * (tests/faults/chaos.ts; bench/chaos.ts runs hundreds). Every counter-example the harness
 * ever found is a named test of its own in tests/faults/verified.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IS_ROOT } from "../helpers.ts";
import { abandon, chaosRun, FAULTS } from "./chaos.ts";

if (!IS_ROOT && process.env.CI === "true") throw new Error("the chaos harness must run as root in CI (tmpfs, loop XFS, exFAT, setpriv)");

const faults = FAULTS.filter((f) => IS_ROOT || !["tmpfs-full", "xfs-pull", "exfat-kill", "as-nobody"].includes(f));

describe("chaos: exit 0 means every file everywhere; anything else names what is missing", () => {
  test("30 randomized runs, each fault five times", async () => {
    const broken: string[] = [];
    for (let i = 0; i < 30; i++) {
      const seed = 9000 + i;
      const fault = faults[i % faults.length]!;
      const work = join(tmpdir(), `cartkit-chaos-test-${process.pid}-${seed}`);
      try {
        const result = await chaosRun(seed, work, fault);
        for (const v of result.violations) broken.push(`seed ${seed} (${fault}): ${v}`);
      } finally {
        abandon(work);
      }
    }
    expect(broken).toEqual([]);
  }, 600_000);
});
