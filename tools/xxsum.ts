#!/usr/bin/env bun
/**
 * xxsum — XXH32/XXH64/XXH3/XXH128 sums and checks, a drop-in for xxhsum 0.8 (same stdout,
 * same check behaviour), plus recursive manifests, parallel jobs, file lists and checking a copy.
 */
// First: a run of many files restarts before the rest is loaded.
import "../lib/cli/restart_first.ts";
import { readFileSync, writeSync } from "node:fs";
import { isatty } from "node:tty";
import { guardedWait, guardWaitOn } from "../lib/core/interrupt_guard.ts";
import { defineCommand, type ArgsDef, type ParsedArgs } from "citty";
import { describeSystemError, usageError } from "../lib/core/errors.ts";
import { fsPath, showName } from "../lib/core/names.ts";
import { Output } from "../lib/cli/output.ts";
import { progressFor } from "../lib/cli/progress.ts";
import { rewriteArgs, runTool } from "../lib/cli/run.ts";
import { parseSize } from "../lib/core/units.ts";
import { resolveAlgorithm, type Algorithm } from "../lib/hash/algorithms.ts";
import { assertEngineSupports } from "../lib/hash/registry.ts";
import { resolveSharedSumOptions, runSharedChecks, SHARED_SUM_ARGS, SHARED_SUM_EPILOGUE, readingOptions, sharedInputs } from "../lib/sums/cli.ts";
import { commandLine } from "../lib/cli/command_line.ts";
import { runSums } from "../lib/sums/summer.ts";
import { benchSample, runBenchmark } from "../lib/sums/xxhsum_bench.ts";
import { xxhsumDialect } from "../lib/sums/xxhsum_dialect.ts";
import { VERSION } from "../lib/core/version.ts";

const TOOL = "xxsum";
const CALLED = commandLine();

/**
 * Called as `xxh32sum`, `xxh64sum`, `xxh128sum` (a link to the binary), xxhsum 0.8 hashes with
 * that algorithm; `xxh3sum` (known to later xxhsum) with XXH3, in tagged lines as `-H3`.
 */
function algorithmCalledFor(invokedAs: string): string | undefined {
  let hash: string | undefined;
  if (invokedAs.includes("xxh32sum")) hash = "0";
  if (invokedAs.includes("xxh64sum")) hash = "1";
  if (invokedAs.includes("xxh128sum")) hash = "2";
  if (invokedAs.includes("xxh3sum")) hash = "3";
  return hash;
}

const ARGS = {
  hash: { type: "string", alias: "H", description: "Algorithm: 0|32 XXH32, 1|64 XXH64 (default), 2|128 XXH128, 3 XXH3; or a name", valueHint: "#" },
  check: { type: "boolean", alias: "c", description: "Read xxHash sums from the FILEs and check them" },
  tag: { type: "boolean", description: "BSD-style lines: ALGO (name) = hash" },
  "little-endian": { type: "boolean", description: "Digests in little-endian byte order" },
  quiet: { type: "boolean", alias: "q", description: "With --check: don't print OK for each verified file" },
  bench: { type: "string", description: "Benchmark on stderr (-b; -b#,# for variants: 1 XXH32, 3 XXH64, 5 XXH3, 11 XXH128, even ids unaligned; --benchmark-all or -b29 every one); with FILEs, their bytes", valueHint: "IDS" },
  iterations: { type: "string", description: "Benchmark rounds of about a second (-i#, default 3; 0: one quick round)", valueHint: "N" },
  "sample-size": { type: "string", description: "Benchmark sample size (-B#, default 100KB)", valueHint: "SIZE" },
  ...SHARED_SUM_ARGS,
} as const satisfies ArgsDef;

type Args = ParsedArgs<typeof ARGS>;

const command = defineCommand({
  meta: { name: TOOL, version: VERSION, description: "Print or check xxHash sums (xxhsum-compatible)." },
  args: ARGS,
});

const EPILOGUE = `${SHARED_SUM_EPILOGUE}

Called as xxh32sum, xxh64sum, xxh128sum or xxh3sum (a link to xxsum), the
default algorithm is XXH32, XXH64, XXH128 or XXH3 (tagged lines, as -H3).

Exit codes (xxhsum's, but for usage errors):
  0  every file was hashed, or every listed file was read back and matched
  1  a file could not be read, a -r walk could not include something, a
     digest did not match, a listed path was refused, a check file could
     not be read, had a line too long, listed nothing properly formatted,
     or (with --strict) had an improperly formatted line
  2  usage error (xxhsum: 1), or the file list or --root folder could not
     be read
  141  standard output was closed before everything was written (| head):
     the rest was not done (the status a shell gives the anchor, killed by
     SIGPIPE then)

Differences from xxhsum 0.8.1 (stdout and exit codes are otherwise the same):
  - usage errors exit 2; --help prints to stdout (-V, --version to stderr,
    as xxhsum)
  - a name holding a newline is written escaped ('\\' first on the line,
    '\\n', '\\\\'), where xxhsum writes it raw and breaks its own file; names
    found by -r that are not UTF-8 are written with '\\xHH' escapes
  - options may follow file names, and '-' means stdin wherever it is
    given, each time read on from where stdin stands (xxhsum reads stdin
    once for a '-' before every file name, and opens a file named '-'
    after one)
  - a folder listed in a check file is reported as unreadable and checking
    goes on (xxhsum stops everything: "a failure occurred reading")
  - a check file that cannot be read, or is a folder, is named on stderr
    as 'xxsum: FILE: reason'; error lines name files as 'xxsum: NAME:
    reason' (xxhsum: "Error: Could not open 'NAME': reason"), names shown
    escaped
  - xxh3sum hashes with XXH3 (xxhsum 0.8.1 does not know the name); the
    links check every algorithm, as 0.8.1 does (0.8.2 accepts only theirs)
  - -b times the streaming engines; seeded and secret variants (ids 7-10,
    13-16, 23, 24, 27, 28) are listed as not measured; no version header`;

/**
 * One of xxhsum's short-option clusters in long form, read letter by letter as xxhsum reads it
 * (`-H`, `-H1`, `-cq`, `-b`, `-b1,2,3`, `-bi0`, `-i5`, `-B64K`, `-V`), or undefined when it
 * holds a letter xxhsum does not have (then citty reads it: `-r`, `-0`, `-Hsha256`). XXH3 is
 * written only as tagged lines, and a later -H keeps the tag.
 */
function xxhsumCluster(arg: string): string[] | undefined {
  const out: string[] = [];
  let i = 1;
  const take = (pattern: RegExp): string => {
    const match = pattern.exec(arg.slice(i))![0];
    i += match.length;
    return match;
  };
  while (i < arg.length) {
    const letter = arg[i++];
    switch (letter) {
      case "c":
        out.push("--check");
        break;
      case "w":
        out.push("--warn");
        break;
      case "q":
        out.push("--quiet");
        break;
      case "h":
        out.push("--help");
        break;
      case "V":
        out.push("--version");
        break;
      case "H": {
        const digits = take(/^\d*/);
        if (digits === "" && i < arg.length) return undefined;
        out.push(`--hash=${digits || "0"}`);
        if (digits === "3") out.push("--tag");
        break;
      }
      case "b":
        out.push(`--bench=${take(/^[\d,]*/)}`);
        break;
      case "i":
        out.push(`--iterations=${take(/^\d*/) || "0"}`);
        break;
      case "B":
        out.push(`--sample-size=${take(/^\d*(?:[KM]i?B?)?/)}`);
        break;
      default:
        return undefined;
    }
  }
  return out;
}

/** The command line in citty's terms; everything from `--` on is kept as it is. */
function normalizeArgs(raw: readonly string[]): string[] {
  return rewriteArgs(raw, (arg) => {
    if (arg === "--benchmark-all" || arg === "--bench-all") return ["--bench=99"];
    if (/^-[^-]/.test(arg)) return xxhsumCluster(arg) ?? [arg];
    return [arg];
  });
}

/** xxhsum prints its version on stderr (scripts that read it look there); help stays on stdout. */
function printVersionIfAsked(args: readonly string[]): void {
  const options = args.includes("--") ? args.slice(0, args.indexOf("--")) : args;
  const version = options.indexOf("--version");
  const help = options.indexOf("--help");
  if (version < 0 || (help >= 0 && help < version)) return;
  writeSync(2, `${TOOL} ${VERSION}\n`);
  process.exit(0);
}

function algorithmOf(value: string | undefined): Algorithm {
  switch (value ?? algorithmCalledFor(CALLED.invokedAs) ?? "1") {
    case "0":
    case "32":
      return "xxh32";
    case "1":
    case "64":
      return "xxh64";
    case "2":
    case "128":
      return "xxh128";
    case "3":
      return "xxh3";
  }
  const algorithm = resolveAlgorithm(value!);
  if (!["xxh32", "xxh64", "xxh3", "xxh128"].includes(algorithm)) throw usageError(`-H ${value}: xxsum computes XXH32, XXH64, XXH3 and XXH128 only`);
  return algorithm;
}

async function main(args: Args): Promise<number> {
  const shared = resolveSharedSumOptions(args);
  const operands = args._;
  const algorithm = algorithmOf(args.hash);
  const tag = Boolean(args.tag) || (args.hash === undefined && algorithm === "xxh3");
  const hasher = { engine: shared.engine };
  assertEngineSupports(args.check ? ["xxh32", "xxh64", "xxh3", "xxh128"] : [algorithm], shared.engine);
  const out = new Output();

  if (args.bench !== undefined) return benchmark(args, operands, hasher, out);

  // xxhsum will not wait for a hash of what is typed at a terminal.
  if (operands.length === 0 && shared.filesFrom === undefined && isatty(0)) {
    throw usageError("no input: give FILEs, '-' for stdin, or pipe data in");
  }
  const dialect = xxhsumDialect(TOOL, { algorithm, tag, littleEndian: Boolean(args["little-endian"]) });
  if (args.check) return runSharedChecks(operands, dialect, shared, hasher, out);
  if (shared.filesFrom !== undefined) await guardedWait(shared.filesFrom);
  const { inputs, problems } = sharedInputs(operands, shared, dialect, out);
  const failures = await runSums(inputs, dialect, { algorithm, hasher: readingOptions(shared, hasher), jobs: shared.jobs, spread: shared.spread, json: shared.json, progress: progressFor(shared.progress) }, out);
  return failures + problems > 0 ? 1 : 0;
}

/** `-b`: the built-in sample, or each FILE's bytes, timed on stderr. */
async function benchmark(args: Args, files: readonly string[], hasher: { engine: ReturnType<typeof resolveSharedSumOptions>["engine"] }, out: Output): Promise<number> {
  const ids = (args.bench ?? "").split(",").filter(Boolean).map(Number);
  const iterations = args.iterations === undefined ? 3 : Number(args.iterations);
  if (!Number.isInteger(iterations) || iterations < 0) throw usageError(`invalid value '${args.iterations}' for -i; expected a whole number`);
  if (files.length === 0) {
    const size = args["sample-size"] === undefined ? 100 * 1024 : parseSize(args["sample-size"], "sample size");
    for (const line of await runBenchmark(ids, iterations, benchSample(size), hasher)) out.error(line);
    return 0;
  }
  let failures = 0;
  for (const file of files) {
    let bytes: Uint8Array;
    try {
      guardWaitOn(file);
      bytes = readFileSync(fsPath(file));
    } catch (error) {
      out.error(`${TOOL}: ${showName(file)}: ${describeSystemError(error)}`);
      failures++;
      continue;
    }
    for (const line of await runBenchmark(ids, iterations, { bytes }, hasher)) out.error(line);
  }
  return failures > 0 ? 1 : 0;
}

await runTool({ command, operands: "[FILE]...", epilogue: EPILOGUE, main: (args) => main(args) }, () => {
  const args = normalizeArgs(CALLED.args);
  printVersionIfAsked(args);
  return args;
});
