#!/usr/bin/env bun
/**
 * ltfs-pack — put folders of camera cards onto LTFS tapes. `plan` spans the sources over the
 * fewest tapes, never splitting a file and keeping each card or roll on one tape where it fits.
 */
import { defineCommand } from "citty";
import { usageError } from "../lib/cli/errors.ts";
import { Output } from "../lib/cli/output.ts";
import { runTool } from "../lib/cli/run.ts";
import { LTO_GENERATIONS, parseReserve, parseTape, tapeCapacity } from "../lib/ltfs/capacity.ts";
import { formatPlanTable, formatPlanText, planTapes, planToJson } from "../lib/ltfs/plan.ts";
import { VERSION } from "../lib/version.ts";

const TOOL = "ltfs-pack";

const EXIT_CODES = `Exit codes:
  0  the plan was made
  2  usage error, unknown command, unreadable source, or a file larger than a tape`;

const plan = defineCommand({
  meta: { name: `${TOOL} plan`, version: VERSION, description: "Span folders over LTFS tapes: fewest tapes, no file split, each card/roll on one tape where it fits." },
  args: {
    src: { type: "positional", description: "Folders to plan (more may follow); the folders in each (cards, rolls) are kept together" },
    tape: { type: "string", required: true, description: `Tape: ${LTO_GENERATIONS.map((g) => g.name).join(", ")}, or the data partition's size in bytes (e.g. 10MiB)`, valueHint: "TAPE" },
    reserve: { type: "string", description: "Held back for indexes: a percentage or a size (default 5%, at least 100GB)", valueHint: "SIZE|PCT%" },
    json: { type: "boolean", description: "Print the plan file as JSON (what `write` reads)" },
  },
});

const PLAN_EPILOGUE = `Capacity: an LTO tape's data partition is its native capacity (LTO-5 1.5 TB,
LTO-6 2.5 TB, LTO-7 6 TB, LTO-8 12 TB, LTO-9 18 TB) less the index partition and
guard wraps (4 wraps of 80/136/112/208/280); a size given to --tape is taken as
the data partition. From it come the reserve and the 7 blocks LTFS writes when
formatting (labels, first index); files take whole 524288-byte blocks each, an
empty file none. The default reserve is 5% and at least 100 GB; a --reserve you
give is used as given (0 plans to the last block).

Plan: whole top-level folders first-fit decreasing; a folder larger than a tape
is split at its next level. If that needs more tapes than the total requires,
fewer tapes are tried, splitting folders that fit nowhere, and each split is
reported. Files are written in path order. OS litter (.DS_Store, ._*, …) is
left out. Output: a table on a terminal, plain text otherwise, JSON with --json.

${EXIT_CODES}`;

const command = defineCommand({
  meta: { name: TOOL, version: VERSION, description: "Plan and write LTFS tapes from camera cards." },
  subCommands: { plan },
});

const EPILOGUE = `Run '${TOOL} plan --help' for the plan command's options.

${EXIT_CODES}`;

async function runPlan(args: Record<string, unknown>): Promise<number> {
  const sources = (args._ as string[] | undefined) ?? [];
  const capacity = tapeCapacity(parseTape(String(args.tape)), parseReserve(args.reserve as string | undefined));
  const out = new Output();
  const result = planTapes(sources, { capacity, onProblem: (problem) => out.error(`${TOOL}: ${problem.path}: ${problem.message}`) });
  if (args.json) out.data(`${JSON.stringify(planToJson(result), null, 2)}\n`);
  else if (process.stdout.isTTY) out.data(formatPlanTable(result, { color: !process.env.NO_COLOR }));
  else out.data(formatPlanText(result));
  out.flush();
  return 0;
}

/** The subcommand's position: the first argument that is not an option of `ltfs-pack` itself. */
const raw = process.argv.slice(2);
const at = raw.findIndex((arg) => !arg.startsWith("-"));
const name = at < 0 || raw.slice(0, at).includes("--") ? undefined : raw[at];

if (name === "plan") {
  await runTool({ command: plan, epilogue: PLAN_EPILOGUE, main: (args) => runPlan(args as Record<string, unknown>) }, [...raw.slice(0, at), ...raw.slice(at + 1)]);
} else {
  await runTool({
    command,
    epilogue: EPILOGUE,
    main: async () => {
      throw usageError(name === undefined ? `missing command; see '${TOOL} --help'` : `unknown command '${name}'; see '${TOOL} --help'`);
    },
  }, raw);
}
