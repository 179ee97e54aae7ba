/**
 * The command-line surface both summing tools share beyond their anchors: recursive
 * manifests, parallel jobs, file lists, checking against another root, JSON, progress, engine
 * choice. One definition, so `b3sum-ts` and `xxsum` cannot drift apart.
 */
import type { ArgsDef } from "citty";
import { CliError, describeSystemError, usageError } from "../core/errors.ts";
import { showName } from "../core/names.ts";
import { parseCount } from "../core/units.ts";
import { ENGINES, type Engine } from "../hash/hasher.ts";
import { parseEngine } from "../hash/registry.ts";
import { DEFAULT_IGNORES, IgnoreList } from "../io/ignore.ts";
import type { LineSink } from "../core/sink.ts";
import type { HashFileOptions } from "../hash/file.ts";
import type { HasherOptions } from "../hash/options.ts";
import { runChecks, type CheckOptions } from "./check.ts";
import type { CheckFlags, SumDialect } from "./dialect.ts";
import { collectInputs, type SumInput } from "./inputs.ts";

/** Flags shared by b3sum-ts and xxsum. */
export const SHARED_SUM_ARGS = {
  recursive: { type: "boolean", alias: "r", description: "Hash every regular file below each FOLDER operand (sorted relative paths)" },
  jobs: {
    type: "string",
    description:
      "Threads: N files hashed at once, output order unchanged (small files go in batches to at most one thread per core, this one included); 1: a single thread (default: one file at a time, large ones read ahead on a second thread; files of 256 KiB to 2 MiB in batches on every core when the hash is slower than reading them, as BLAKE3 is)",
    valueHint: "N",
  },
  "files-from": { type: "string", description: "Read more operands from FILE, one per line ('-' for stdin)", valueHint: "FILE" },
  null: { type: "boolean", alias: "0", description: "Operands in --files-from are NUL-separated" },
  root: { type: "string", description: "With --check: open listed paths beneath DIR, never through a link out of it (check a copy against the source's manifest)", valueHint: "DIR" },
  json: { type: "boolean", description: "Print one JSON object per file instead of sum lines" },
  progress: { type: "boolean", description: "Show progress on stderr" },
  ignore: { type: "string", description: "Comma-separated patterns left out of -r walks (added to the defaults)", valueHint: "PATTERNS" },
  "default-ignores": { type: "boolean", default: true, description: `Leave out ${DEFAULT_IGNORES.join(" ")} in -r walks` },
  links: { type: "string", description: "Symbolic links met by -r: follow (default: a link to a file inside the folder is hashed as that file; one that leaves the folder or dangles is a failure) or skip (left out, noted on stderr)", valueHint: "follow|skip" },
  special: { type: "string", description: "FIFOs, sockets and devices met by -r: fail (default: each is a failure) or skip (left out, noted on stderr)", valueHint: "fail|skip" },
  "ignore-missing": { type: "boolean", description: "With --check: say nothing of listed files that do not exist" },
  strict: { type: "boolean", description: "With --check: fail when a line is improperly formatted" },
  status: { type: "boolean", description: "With --check: print nothing on stdout; the exit code tells" },
  warn: { type: "boolean", alias: "w", description: "With --check: warn about improperly formatted lines" },
  engine: { type: "string", description: `Hash engine: auto, ${ENGINES.join(", ")} (default auto: the fastest here)`, valueHint: "NAME" },
} as const satisfies ArgsDef;

/** The parsed shared flags. */
export interface SharedSumOptions {
  recursive: boolean;
  jobs: number;
  /** Reading ahead on a second thread is allowed (not with an explicit `--jobs 1`). */
  readAhead: boolean;
  /** No `--jobs`: small files spread over the cores, large ones one at a time (lib/sums/summer.ts). */
  spread: boolean;
  filesFrom: string | undefined;
  nulSeparated: boolean;
  root: string | undefined;
  json: boolean;
  progress: boolean;
  ignore: IgnoreList;
  links: "follow" | "skip";
  special: "fail" | "skip";
  engine: Engine | "auto";
  flags: CheckFlags;
}

function choice<T extends string>(value: unknown, flag: string, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if ((choices as readonly string[]).includes(String(value))) return value as T;
  throw usageError(`invalid value '${String(value)}' for --${flag}; use one of: ${choices.join(", ")}`);
}

type SharedParsed = { [K in keyof typeof SHARED_SUM_ARGS]?: string | boolean | undefined } & { quiet?: boolean | undefined };

/** Validates and converts the shared flags. */
export function resolveSharedSumOptions(args: SharedParsed): SharedSumOptions {
  const engine = parseEngine(args.engine as string | undefined);
  const patterns = [
    ...(args["default-ignores"] === false ? [] : DEFAULT_IGNORES),
    ...String(args.ignore ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean),
  ];
  return {
    recursive: Boolean(args.recursive),
    jobs: args.jobs === undefined ? 1 : parseCount(String(args.jobs), "--jobs"),
    readAhead: args.jobs === undefined || parseCount(String(args.jobs), "--jobs") > 1,
    spread: args.jobs === undefined,
    filesFrom: args["files-from"] as string | undefined,
    nulSeparated: Boolean(args.null),
    root: args.root as string | undefined,
    json: Boolean(args.json),
    progress: Boolean(args.progress),
    ignore: new IgnoreList(patterns),
    links: choice(args.links, "links", ["follow", "skip"] as const, "follow"),
    special: choice(args.special, "special", ["fail", "skip"] as const, "fail"),
    engine,
    flags: {
      quiet: Boolean(args.quiet),
      status: Boolean(args.status),
      strict: Boolean(args.strict),
      warn: Boolean(args.warn),
      ignoreMissing: Boolean(args["ignore-missing"]),
    },
  };
}

/** Help text for the shared extensions. */
export const SHARED_SUM_EPILOGUE = `Manifests:
  -r FOLDER writes paths relative to FOLDER when it is the only operand, so
  '-c MANIFEST --root COPY' checks a copy made elsewhere. Nothing is left out
  silently: a folder that cannot be read, a link that leaves the folder or
  dangles, a FIFO, socket or device is named on stderr and fails the run
  (exit 1) unless --links skip / --special skip say to leave it out.
  A name found by -r (or read from --files-from) that is not UTF-8 is
  written with '\\xHH' for each such byte, the line starting with '\\'
  (backslashes doubled, newlines as '\\n'); -c reads it back as the same
  bytes. Every name the anchor can write is written as the anchor writes it.

Checking:
  Check files are read as they stream in; each line is checked as it
  arrives. Listed paths that are absolute or contain '..' are refused,
  reported and counted as failed. With --root, each listed path is opened
  beneath DIR without following a link out of it (a link inside DIR is
  followed while it stays inside); one that leads out fails.`;

/** The inputs of hash mode, and how many things a walk could not include (each one named on stderr). */
export function sharedInputs(operands: readonly string[], shared: SharedSumOptions, dialect: SumDialect, out: LineSink): { inputs: SumInput[]; problems: number } {
  let problems = 0;
  const inputs = collectInputs(operands, {
    recursive: shared.recursive,
    ignore: shared.ignore,
    filesFrom: shared.filesFrom,
    nulSeparated: shared.nulSeparated,
    stdinName: dialect.stdinName,
    links: shared.links,
    special: shared.special,
    // Sizes are for the progress line only; without it each file is measured when it is opened.
    sizes: shared.progress,
    onProblem: (p) => {
      problems++;
      out.error(`${dialect.tool}: ${showName(p.path)}: ${p.message}`);
    },
    onSkipped: (p) => out.error(`${dialect.tool}: ${showName(p.path)}: ${p.message}`),
  });
  return { inputs, problems };
}

/** Check-mode options from the shared flags. */
export function sharedCheckOptions(shared: SharedSumOptions, hasher: HasherOptions): CheckOptions {
  return { flags: shared.flags, hasher: readingOptions(shared, hasher), jobs: shared.jobs, root: shared.root, json: shared.json };
}

/** Runs check mode; a `--root` folder that cannot be opened is an error naming it (exit 2). */
export async function runSharedChecks(checkFiles: readonly string[], dialect: SumDialect, shared: SharedSumOptions, hasher: HasherOptions, out: LineSink): Promise<number> {
  try {
    return await runChecks(checkFiles, dialect, sharedCheckOptions(shared, hasher), out);
  } catch (error) {
    if (shared.root !== undefined && (error as { path?: string }).path === shared.root) {
      throw new CliError(`cannot open the --root folder: ${describeSystemError(error)}`, { path: shared.root });
    }
    throw error;
  }
}

/**
 * Hasher options with the reading mode the flags ask for: `--jobs 1` means one thread, so no
 * reading ahead on a second one.
 */
export function readingOptions(shared: SharedSumOptions, hasher: HasherOptions): HashFileOptions {
  return shared.readAhead ? hasher : { ...hasher, overlap: false };
}
