#!/usr/bin/env bun
/**
 * The chaos harness: many randomized offloads under random faults, each checked against the
 * invariant (tests/faults/chaos.ts says what is built, which faults, and what is checked).
 *
 *   bun bench/chaos.ts [--runs N] [--seed S] [--fault NAME] [--tool NAME]
 *
 * Runs the compiled tools in dist/ (npm run build first). Needs root for the mounted faults
 * (tmpfs, loop XFS, exFAT through FUSE, runs as nobody); without root it runs the others.
 * Prints one line per run and a summary; exits 1 if any run broke the invariant, printing its
 * seed so that `--seed S --runs 1` replays it.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { abandon, chaosRun, FAULTS, type Fault, TOOL_FAULTS, TOOLS, type Tool } from "../tests/faults/chaos.ts";

const args = process.argv.slice(2);
const value = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const runs = Number(value("--runs") ?? 300);
const first = Number(value("--seed") ?? Date.now() % 100_000);
const fault = value("--fault") as Fault | undefined;
if (fault && !FAULTS.includes(fault)) {
  process.stderr.write(`chaos: unknown --fault '${fault}'; use one of ${FAULTS.join(", ")}\n`);
  process.exit(2);
}
const tool = value("--tool") as Tool | undefined;
if (tool && !TOOLS.includes(tool)) {
  process.stderr.write(`chaos: unknown --tool '${tool}'; use one of ${TOOLS.join(", ")}\n`);
  process.exit(2);
}
if (tool && fault && !TOOL_FAULTS[tool].includes(fault)) {
  process.stderr.write(`chaos: ${tool} is not tried under ${fault}; use one of ${TOOL_FAULTS[tool].join(", ")}\n`);
  process.exit(2);
}

let clean = 0;
const failed: number[] = [];
const byFault = new Map<string, { runs: number; clean: number; exit0: number }>();
const started = performance.now();
for (let i = 0; i < runs; i++) {
  const seed = first + i;
  const work = join(tmpdir(), `cartkit-chaos-${process.pid}-${seed}`);
  let result;
  try {
    result = await chaosRun(seed, work, fault, tool);
  } catch (error) {
    abandon(work);
    process.stdout.write(`seed ${seed}: harness error: ${(error as Error).stack}\n`);
    failed.push(seed);
    continue;
  }
  const key = `${result.tool} | ${result.fault}`;
  const tally = byFault.get(key) ?? { runs: 0, clean: 0, exit0: 0 };
  tally.runs++;
  if (result.exitCode === 0) tally.exit0++;
  if (result.violations.length === 0) {
    clean++;
    tally.clean++;
  } else failed.push(seed);
  byFault.set(key, tally);
  process.stdout.write(`seed ${seed} ${result.tool.padEnd(12)} ${result.fault.padEnd(13)} exit ${result.exitCode} files ${String(result.files).padStart(3)} ${result.seconds.toFixed(1)} s ${result.violations.length ? `VIOLATIONS:\n  ${result.violations.join("\n  ")}` : "clean"}\n`);
}
process.stdout.write(`\n${clean} of ${runs} runs clean in ${((performance.now() - started) / 1000).toFixed(0)} s (seeds ${first}–${first + runs - 1})\n`);
process.stdout.write("| tool | fault | runs | clean | exit 0 |\n|---|---|---|---|---|\n");
for (const [name, t] of [...byFault].sort()) process.stdout.write(`| ${name} | ${t.runs} | ${t.clean} | ${t.exit0} |\n`);
if (failed.length) process.stdout.write(`\nruns that broke the invariant (replay with --seed S --runs 1): ${failed.join(", ")}\n`);
process.exit(failed.length ? 1 : 0);
