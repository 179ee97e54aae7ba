#!/usr/bin/env bun
/**
 * xxsum — XXH32/XXH64/XXH3/XXH128 sums and checks, a drop-in for xxhsum 0.8 (same stdout,
 * same check behaviour), plus recursive manifests, parallel jobs, file lists and checking a copy.
 */
import { defineCommand } from "citty";
import { usageError } from "../lib/core/errors.ts";
import { Output } from "../lib/cli/output.ts";
import { progressFor } from "../lib/cli/progress.ts";
import { rewriteArgs, runTool } from "../lib/cli/run.ts";
import { parseCount, parseSize } from "../lib/core/units.ts";
import { resolveAlgorithm, type Algorithm } from "../lib/hash/algorithms.ts";
import { assertEngineSupports } from "../lib/hash/registry.ts";
import { runChecks } from "../lib/sums/check.ts";
import { resolveSharedSumOptions, SHARED_SUM_ARGS, SHARED_SUM_EPILOGUE, readingOptions, sharedCheckOptions, sharedInputs } from "../lib/sums/cli.ts";
import { runSums } from "../lib/sums/summer.ts";
import { runBenchmark } from "../lib/sums/xxhsum_bench.ts";
import { xxhsumDialect } from "../lib/sums/xxhsum_dialect.ts";
import { VERSION } from "../lib/core/version.ts";

const TOOL = "xxsum";

const command = defineCommand({
  meta: { name: TOOL, version: VERSION, description: "Print or check xxHash sums (xxhsum-compatible)." },
  args: {
    hash: { type: "string", alias: "H", description: "Algorithm: 0|32 XXH32, 1|64 XXH64 (default), 2|128 XXH128, 3 XXH3; or a name", valueHint: "#" },
    check: { type: "boolean", alias: "c", description: "Read xxHash sums from the FILEs and check them" },
    tag: { type: "boolean", description: "BSD-style lines: ALGO (name) = hash" },
    "little-endian": { type: "boolean", description: "Digests in little-endian byte order" },
    quiet: { type: "boolean", alias: "q", description: "With --check: don't print OK for each verified file" },
    bench: { type: "string", description: "Benchmark (-b, or -b# for one variant: 1 XXH32, 3 XXH64, 5 XXH3, 11 XXH128)", valueHint: "IDS" },
    iterations: { type: "string", description: "Benchmark rounds (-i#, default 3)", valueHint: "N" },
    "sample-size": { type: "string", description: "Benchmark sample size (-B#, default 100KB)", valueHint: "SIZE" },
    ...SHARED_SUM_ARGS,
  },
});

const EPILOGUE = `${SHARED_SUM_EPILOGUE}

Exit codes:
  0  every file was hashed, or every listed file was read back and matched
  1  a file could not be read, a digest did not match, a listed path was
     refused, or (with --strict) a line was improperly formatted
  2  usage error, or a check file or file list could not be read

Differences from xxhsum 0.8: a name holding a newline is written escaped
('\\' first on the line, '\\n', '\\\\'), where xxhsum writes it raw and breaks the
line; options may follow file names; '-' means stdin anywhere; a folder
listed in a check file is reported and checking goes on; help goes to
stdout; usage errors exit 2 (xxhsum: 1).`;

/** xxhsum's attached-number short options (and its sticky -H3 tag) (`-H`, `-H1`, `-b`, `-b1,3`, `-i5`, `-B64K`) in long form. */
function normalizeArgs(raw: string[]): string[] {
  return rewriteArgs(raw, (arg) => {
    if (arg === "-H") return ["--hash=0"];
    // xxhsum writes XXH3 only as tagged lines, and a later -H keeps the tag.
    if (arg === "-H3") return ["-H3", "--tag"];
    if (/^-b[\d,]*$/.test(arg)) return [`--bench=${arg.slice(2)}`];
    if (/^-i\d+$/.test(arg)) return [`--iterations=${arg.slice(2)}`];
    if (/^-B\d+[KM]?i?B?$/.test(arg)) return [`--sample-size=${arg.slice(2)}`];
    return [arg];
  });
}

function algorithmOf(value: string | undefined): Algorithm {
  switch (value ?? "1") {
    case "0": case "32": return "xxh32";
    case "1": case "64": return "xxh64";
    case "2": case "128": return "xxh128";
    case "3": return "xxh3";
  }
  const algorithm = resolveAlgorithm(value!);
  if (!["xxh32", "xxh64", "xxh3", "xxh128"].includes(algorithm)) throw usageError(`-H ${value}: xxsum computes XXH32, XXH64, XXH3 and XXH128 only`);
  return algorithm;
}

async function main(args: Record<string, unknown>): Promise<number> {
  const shared = resolveSharedSumOptions(args);
  const operands = (args._ as string[]) ?? [];
  const algorithm = algorithmOf(args.hash as string | undefined);
  const hasher = { engine: shared.engine };
  assertEngineSupports(args.check ? ["xxh32", "xxh64", "xxh3", "xxh128"] : [algorithm], shared.engine);
  const out = new Output();

  if (args.bench !== undefined) {
    const ids = String(args.bench).split(",").filter(Boolean).map(Number).filter((n) => n > 0);
    const iterations = args.iterations === undefined ? 3 : parseCount(String(args.iterations), "-i");
    const size = args["sample-size"] === undefined ? 100 * 1024 : parseSize(String(args["sample-size"]), "sample size");
    for (const line of await runBenchmark(ids, iterations, size, hasher)) out.error(line);
    return 0;
  }

  const dialect = xxhsumDialect(TOOL, { algorithm, tag: Boolean(args.tag), littleEndian: Boolean(args["little-endian"]) });
  if (args.check) {
    return runChecks(operands, dialect, sharedCheckOptions(shared, hasher), out);
  }
  const inputs = sharedInputs(operands, shared, dialect, out);
  const failures = await runSums(inputs, dialect, { algorithm, hasher: readingOptions(shared, hasher), jobs: shared.jobs, json: shared.json, progress: progressFor(shared.progress) }, out);
  return failures > 0 ? 1 : 0;
}

await runTool({ command, epilogue: EPILOGUE, main: (args) => main(args as Record<string, unknown>) }, () => normalizeArgs(process.argv.slice(2)));
