#!/usr/bin/env bun
/**
 * b3sum-ts — BLAKE3 sums and checks, a drop-in for b3sum 1.x (same stdout, same check
 * behaviour), plus recursive manifests, parallel jobs, file lists and checking a copy.
 */
// First: a run of many files restarts before the rest is loaded.
import "../lib/cli/restart_first.ts";
import { readFileSync } from "node:fs";
import { defineCommand, type ArgsDef, type ParsedArgs } from "citty";
import { usageError } from "../lib/core/errors.ts";
import { guardedWait } from "../lib/core/interrupt_guard.ts";
import { Output } from "../lib/cli/output.ts";
import { progressFor } from "../lib/cli/progress.ts";
import { runTool } from "../lib/cli/run.ts";
import { assertEngineSupports } from "../lib/hash/registry.ts";
import { b3sumDialect } from "../lib/sums/b3sum_dialect.ts";
import { resolveSharedSumOptions, runSharedChecks, SHARED_SUM_ARGS, SHARED_SUM_EPILOGUE, readingOptions, sharedInputs } from "../lib/sums/cli.ts";
import { commandLine } from "../lib/cli/command_line.ts";
import { runSums } from "../lib/sums/summer.ts";
import { VERSION } from "../lib/core/version.ts";

const TOOL = "b3sum-ts";

const ARGS = {
  check: { type: "boolean", alias: "c", description: "Read BLAKE3 sums from the FILEs and check them" },
  keyed: { type: "boolean", description: "Keyed mode: the 32-byte key is read from stdin" },
  "derive-key": { type: "string", description: "Key derivation mode with this context string", valueHint: "CONTEXT" },
  length: { type: "string", alias: "l", description: "Output bytes before hex encoding (default 32)", valueHint: "LEN" },
  names: { type: "boolean", default: true, description: "Print file names (--no-names omits them)" },
  raw: { type: "boolean", description: "Write raw output bytes (one input only)" },
  quiet: { type: "boolean", description: "With --check: skip printing OK for each verified file" },
  "num-threads": { type: "string", description: "Accepted for compatibility; use --jobs for parallelism", valueHint: "NUM" },
  mmap: { type: "boolean", default: true, description: "Accepted for compatibility (files are never memory-mapped)" },
  ...SHARED_SUM_ARGS,
} as const satisfies ArgsDef;

type Args = ParsedArgs<typeof ARGS>;

const command = defineCommand({
  meta: { name: TOOL, version: VERSION, description: "Print or check BLAKE3 sums (b3sum-compatible)." },
  args: ARGS,
});

const EPILOGUE = `${SHARED_SUM_EPILOGUE}

Exit codes (b3sum's, but for usage errors):
  0  every file was hashed, or every listed file was read back and matched
  1  a file could not be read or hashed, a -r walk could not include
     something, a digest did not match, a check line was malformed or
     refused, a check file could not be read or listed nothing
  2  usage error (b3sum: 1), or the key, the file list or the --root
     folder could not be read
  141  standard output was closed before everything was written (| head):
     the rest was not done (the status a shell gives the anchor, killed by
     SIGPIPE then)

Differences from b3sum 1.2 (stdout and exit codes are otherwise the same):
  - usage errors exit 2, with one line naming the problem; --num-threads
    must be a whole number, and it and --no-mmap change nothing (files are
    never memory-mapped; use --jobs N)
  - error lines on stderr name the check file and line, and show names
    escaped (control characters, bytes that are not UTF-8)
  - an empty check file fails (b3sum passes it: nothing was verified)
  - a check line that is not UTF-8, or longer than 32,766 bytes, is
    refused and checking goes on (b3sum stops at a line that is not UTF-8)
  - a check file that cannot be read is named and the next one is checked
    (b3sum stops there); both exit 1
  - names found by -r that are not UTF-8 are written with \\xHH escapes,
    which -c reads (b3sum refuses \\x as an invalid escape); a FILE named on
    the command line is printed as b3sum prints it, with U+FFFD`;

async function main(args: Args): Promise<number> {
  const shared = resolveSharedSumOptions(args);
  const operands = args._;
  const check = Boolean(args.check);
  for (const flag of ["raw", "keyed"] as const) if (check && args[flag]) throw usageError(`--${flag} cannot be used with --check`);
  if (check && args.names === false) throw usageError("--no-names cannot be used with --check");
  if (check && args.length !== undefined) throw usageError("--length cannot be used with --check");
  if (check && args["derive-key"] !== undefined) throw usageError("--derive-key cannot be used with --check");
  if (args.keyed && args["derive-key"] !== undefined) throw usageError("--keyed cannot be used with --derive-key");
  if (args.quiet && !check) throw usageError("--quiet only applies to --check");

  if (args["num-threads"] !== undefined && !/^\+?\d+$/.test(args["num-threads"])) {
    throw usageError(`invalid value '${args["num-threads"]}' for --num-threads; expected a whole number (it changes nothing here: use --jobs N)`);
  }
  let outputLength = 32;
  if (args.length !== undefined) {
    const text = args.length;
    if (!/^\+?\d+$/.test(text)) throw usageError(`invalid length '${text}' for --length; expected a whole number of bytes`);
    outputLength = Number(text);
  }
  let key: Uint8Array | undefined;
  if (args.keyed) {
    if (operands.length === 0 && shared.filesFrom === undefined) throw usageError("--keyed reads the key from stdin, so FILE arguments are required");
    await guardedWait(0);
    const bytes = readFileSync(0);
    // The end of a pipe may be the signal's doing (Ctrl-C stops the writer too): its handler
    // gets its turn (a timer: the loop then polls) before a short key is called a usage error.
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (bytes.length !== 32) throw usageError(`--keyed needs exactly 32 key bytes on stdin, found ${bytes.length}`);
    key = new Uint8Array(bytes);
  }

  assertEngineSupports(["blake3"], shared.engine);
  if (shared.engine === "native" && outputLength > 32) throw usageError("the native BLAKE3 engine writes at most 32 bytes; use --engine js (or auto) for --length above 32");
  const out = new Output();
  const hasher = {
    engine: shared.engine,
    outputLength,
    ...(key ? { key } : {}),
    ...(args["derive-key"] !== undefined ? { deriveKeyContext: args["derive-key"] } : {}),
  };
  const dialect = b3sumDialect(TOOL, { noNames: args.names === false, raw: Boolean(args.raw) });

  if (check) {
    return runSharedChecks(operands, dialect, shared, hasher, out);
  }
  if (shared.filesFrom !== undefined) await guardedWait(shared.filesFrom);
  const { inputs, problems } = sharedInputs(operands, shared, dialect, out);
  if (args.raw && inputs.length !== 1) throw usageError("--raw writes one digest: give exactly one input");
  let failures = problems;
  const sumOptions = { algorithm: "blake3" as const, hasher: readingOptions(shared, hasher), jobs: shared.jobs, spread: shared.spread, json: shared.json, progress: progressFor(shared.progress) };
  if (key) {
    const stdinInputs = inputs.filter((i) => i.kind === "stdin");
    for (const input of stdinInputs) out.error(`${TOOL}: ${input.name}: cannot read stdin in keyed mode (the key came from stdin)`);
    failures += stdinInputs.length;
    failures += await runSums(
      inputs.filter((i) => i.kind !== "stdin"),
      dialect,
      sumOptions,
      out,
    );
  } else {
    failures += await runSums(inputs, dialect, sumOptions, out);
  }
  return failures > 0 ? 1 : 0;
}

await runTool({ command, operands: "[FILE]...", epilogue: EPILOGUE, main: (args) => main(args) }, () => commandLine().args);
