#!/usr/bin/env bun
/**
 * dispatchcopy — read once, write to every destination, hash in flight, verify from the device.
 * Takes Offload Manager's pfndispatchcopy arguments and prints its log lines (-v); `-r` offloads
 * a whole card to several drives, with an ASC MHL generation, a sum file and a JSON report.
 */
// First: a run of many files restarts before the rest is loaded.
import "../lib/cli/restart_first.ts";
import { realpathSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { defineCommand, type ArgsDef, type ParsedArgs } from "citty";
import { Output } from "../lib/cli/output.ts";
import { Progress } from "../lib/cli/progress.ts";
import { rewriteArgs, runTool, setInterruptNote } from "../lib/cli/run.ts";
import { programArgs } from "../lib/cli/command_line.ts";
import { CliError, describeSystemError, usageError } from "../lib/core/errors.ts";
import { collectNowAndThen } from "../lib/core/memory.ts";
import { joinPath, showName } from "../lib/core/names.ts";
import { formatBytes, formatDuration, parseByteRate, parseCount, parseSize } from "../lib/core/units.ts";
import { VERSION } from "../lib/core/version.ts";
import type { Algorithm } from "../lib/hash/algorithms.ts";
import type { HasherOptions } from "../lib/hash/options.ts";
import { assertEngineSupports, parseEngine } from "../lib/hash/registry.ts";
import { ENGINES } from "../lib/hash/hasher.ts";
import { type EntryStat, HeldFolder, stateKeyOf } from "../lib/io/held_folder.ts";
import { DEFAULT_IGNORES, IgnoreList } from "../lib/io/ignore.ts";
import { LINK_POLICIES, type LinkPolicy, type SpecialPolicy } from "../lib/io/walk.ts";
import { copyFile, GOOD_STATUSES, VERIFY_MODES, type CopyTarget, type DestinationOutcome, type ModePolicy, type VerifyMode } from "../lib/offload/copy.ts";
import { exitCodeOf, hashChoice, hashLabel, reportDestinations, speedLine, type HashChoice } from "../lib/offload/dispatch_log.ts";
import { writeOffloadRecords } from "../lib/offload/records.ts";
import { judgeOffload, unreadLine, unseenLine } from "../lib/offload/summary.ts";
import { pathSpellingProblem, recordPlaceProblem } from "../lib/offload/places.ts";
import { checkSourceAgain, parseRename, planOffload, refuseTooFewDescriptors, releaseDestinationLocks, runOffload, stillAsChecked, type FileResult, type PlannedFile } from "../lib/offload/tree.ts";
import { escapeName } from "../lib/sums/escape.ts";
// Jobs, the queue, metrics and the HTML/PDF report (wired in at the end of this file).
import { JobRun } from "../lib/offload/job_run.ts";
import { defaultStateDir, JobStore } from "../lib/offload/jobs.ts";
import { JOBS_COMMAND, JOBS_EPILOGUE, RESUME_JOB_VARIABLE, runJobsCommand } from "../lib/offload/jobs_cli.ts";
import { buildOffloadReport, noChromiumMessage, reportKindOf, runProblems, writeOffloadReport, type ReportRun } from "../lib/offload/offload_report.ts";
import { findChromium } from "../lib/offload/report_pdf.ts";

const TOOL = "dispatchcopy";

const ARGS = {
  verbose: { type: "boolean", alias: "v", description: "Log as Offload Manager does (INFO: lines on stderr)" },
  keep: { type: "boolean", alias: "k", description: "Keep the source (always: dispatchcopy never moves)" },
  "file-size": { type: "string", description: "Refuse a source that is not exactly N bytes (-f_size N)", valueHint: "N" },
  "buffer-size": { type: "string", description: "Bytes per read and write (-b N; default 256KiB)", valueHint: "SIZE" },
  verify: { type: "string", description: `After the copy: ${VERIFY_MODES.join(", ")} (default dest: read every copy back from the device)`, valueHint: "MODE" },
  overwrite: { type: "boolean", description: "Replace existing destination entries (never done otherwise; never through a link)" },
  recursive: { type: "boolean", alias: "r", description: "SOURCE is a folder (a card): offload all of it" },
  jobs: { type: "string", description: "Files copied at once in -r mode (default 1)", valueHint: "N" },
  mhl: { type: "boolean", default: true, description: "With -r: write an ASC MHL generation into each complete destination (--no-mhl: don't)" },
  sums: { type: "string", description: "With -r: write a sum file of the first -t hash (relative paths)", valueHint: "FILE" },
  report: { type: "string", description: "Write a report of every file and destination: FILE.json, FILE.html (one printable page: job, volume, destinations, throughput, clips with thumbnails) or FILE.pdf (printed by Chromium)", valueHint: "FILE" },
  resume: { type: "boolean", description: "With -r: finish an interrupted offload (what is in place is read back and compared, the rest copied)" },
  "dry-run": { type: "boolean", description: "List what would be copied and the space needed; copy nothing" },
  "rate-limit": { type: "string", description: "Read at most this fast, e.g. 200MB/s", valueHint: "RATE" },
  rename: { type: "string", description: "With -r: rename files, s/REGEX/REPLACEMENT/[gi]", valueHint: "EXPR" },
  links: { type: "string", description: "With -r: symbolic links in the card: follow (default: a link to a file inside the card is copied as that file; one that leaves the card fails), copy (recreated as links), skip", valueHint: "POLICY" },
  special: { type: "string", description: "With -r: FIFOs, sockets and devices in the card: fail (default: named, exit 2) or skip", valueHint: "POLICY" },
  "keep-owner": { type: "boolean", description: "Give each copy the source's owner and group (as root)" },
  "keep-special-bits": { type: "boolean", description: "Keep setuid, setgid and sticky bits (only with --keep-owner)" },
  json: { type: "boolean", description: "Print JSON events on stdout (start, progress, file-done, verified, error, summary)" },
  progress: { type: "boolean", description: "Show progress on stderr even when it is not a terminal" },
  ignore: { type: "string", description: "With -r: comma-separated patterns to leave out (added to the defaults)", valueHint: "PATTERNS" },
  "default-ignores": { type: "boolean", default: true, description: `With -r: leave out ${DEFAULT_IGNORES.join(" ")}` },
  engine: { type: "string", description: `Hash engine: auto, ${ENGINES.join(", ")}`, valueHint: "NAME" },
  queue: { type: "boolean", description: "Wait until no other job writes to any of the destinations' drives, then start (first come, first served per drive)" },
  "state-dir": { type: "string", description: "Folder of the job state files (default $XDG_STATE_HOME/cartkit/jobs, ~/.local/state/cartkit/jobs)", valueHint: "DIR" },
  metrics: { type: "string", description: "Write Prometheus metrics of this job to FILE every 5 s and at the end (node_exporter's textfile collector)", valueHint: "FILE" },
} as const satisfies ArgsDef;

const command = defineCommand({
  meta: { name: TOOL, version: VERSION, description: "Copy a file or a card to several destinations, hash in flight, verify every copy from the device." },
  args: ARGS,
  subCommands: { jobs: JOBS_COMMAND },
});

const EPILOGUE = `SOURCE is a file (each DEST a file or a folder to copy into) or, with -r, a card:
a folder copied into one folder per DEST.

pfndispatchcopy arguments, as in Offload Manager's logs:
  -t ALGO            xxh64be (default), xxh64, xxh3, xxh128, md5, sha1, sha256, blake3, c4;
                     repeat for several (one read). xxh64 prints little-endian, as
                     Offload Manager does; xxh64be big-endian. Also --hash ALGO.
  -f_size N          also --file-size N
  -b N               also --buffer-size N
  -noflush_dest PATH no fsync for destinations below PATH; also --no-flush PATH
  -k                 accepted; the source is always kept

Every copy is written without a name (or under .<name>.<random>.partial), flushed, put in
place (never over an existing entry unless --overwrite, never through a symbolic link; an
identical existing file is read back and reported as present), then read back from the
device (its pages dropped from the cache first) and compared with the source's digests. A
failing destination is dropped and the others finish. Copies get the source's times and
permission bits less the umask; never setuid, setgid or sticky bits, unless
--keep-owner --keep-special-bits. A destination that is the source, inside it or holding
it, or two destinations that are one folder, are refused.

Every run is a job: its id is printed when it starts (-r; a single file only on a terminal
and without -v, whose lines are Offload Manager's), is in every --json event and in the
report, and its state file is kept in --state-dir. 'dispatchcopy jobs' lists them, shows, cancels, resumes and prunes them (see
'dispatchcopy jobs --help'); --queue waits for other jobs writing to the same drives.

Exit codes:
  0  every destination holds every file, verified (or already held an identical one)
  1  a destination read back differently from the source (verification failed)
  2  usage error; a source entry that could not be copied; a destination that could not
     be written, flushed, read back or given its ASC MHL; files that appeared in the
     source or a destination during the run (each is named on stderr); a report or
     metrics file that could not be written; a limit on open files (ulimit -n) too
     low for the destinations and --jobs asked (refused before anything is written)
  130, 143  interrupted by Ctrl-C or SIGTERM ('dispatchcopy jobs cancel'): partial files
     removed, the job recorded as cancelled`;

/** Offload Manager's single-dash long options and the repeatable ones, taken out before citty parses the rest. */
function splitArgs(raw: string[]): { rest: string[]; hashes: string[]; noFlush: string[] } {
  const hashes: string[] = [];
  const noFlush: string[] = [];
  const rest = rewriteArgs(raw, (arg, cursor) => {
    if (arg === "-t" || arg === "--hash") hashes.push(cursor.take());
    else if (arg.startsWith("--hash=")) hashes.push(arg.slice(7));
    else if (arg === "-noflush_dest" || arg === "--no-flush") noFlush.push(cursor.take());
    else if (arg.startsWith("--no-flush=")) noFlush.push(arg.slice(11));
    else if (arg === "-f_size") return [`--file-size=${cursor.take()}`];
    else if (arg === "-b") return [`--buffer-size=${cursor.take()}`];
    else return [arg];
    return [];
  });
  return { rest, hashes, noFlush };
}

type Args = ParsedArgs<typeof ARGS>;

function isUnder(path: string, folder: string): boolean {
  const f = folder.replace(/\/+$/, "");
  return path === f || path.startsWith(`${f}/`);
}

/** What the user can do about a failure: the library states the problem, the tool knows the flags. */
function advice(d: DestinationOutcome): string | undefined {
  return d.kind === "exists" ? "; use --overwrite to replace it" : undefined;
}

interface Settings {
  /** Why a record cannot be written at a path now (inside the card or a destination). */
  placeProblem?: (path: string) => string | undefined;
  choices: HashChoice[];
  algorithms: HashChoice["algorithm"][];
  hasher: HasherOptions;
  verify: VerifyMode;
  chunkSize: number | undefined;
  rateLimit: number | undefined;
  flush: (path: string) => boolean;
  modes: ModePolicy;
  out: Output;
  info: (line: string) => void;
  event: (e: Record<string, unknown>) => void;
  /** Whether {@link info} or {@link event} print anything (-v, --json): per-file lines are built only then. */
  chatty: boolean;
  /** The run's job (none for --dry-run). */
  job?: JobRun;
}

function settingsOf(args: Args, split: ReturnType<typeof splitArgs>): Settings {
  const choices: HashChoice[] = (split.hashes.length ? split.hashes : ["xxh64be"]).map(hashChoice);
  const algorithms = [...new Set(choices.map((c) => c.algorithm))];
  const engine = parseEngine(args.engine);
  assertEngineSupports(algorithms, engine);
  const verify = (args.verify ?? "dest") as VerifyMode;
  if (!VERIFY_MODES.includes(verify)) throw usageError(`invalid --verify '${verify}'; use one of: ${VERIFY_MODES.join(", ")}`);
  const chunkSize = args["buffer-size"] === undefined ? undefined : parseSize(args["buffer-size"], "buffer size");
  if (chunkSize !== undefined && (chunkSize < 4096 || chunkSize > 64 << 20)) throw usageError(`buffer size ${chunkSize} is out of range; use 4KiB to 64MiB`);
  if (args["keep-special-bits"] && !args["keep-owner"]) throw usageError("--keep-special-bits needs --keep-owner: setuid and setgid bits are kept only with the owner they belong to");
  const out = new Output();
  // Read once: each look at citty's arguments goes through a proxy, and a tree offload looks for every file.
  const verbose = Boolean(args.verbose);
  const json = Boolean(args.json);
  return {
    choices,
    algorithms,
    hasher: { engine },
    verify,
    chunkSize,
    rateLimit: args["rate-limit"] === undefined ? undefined : parseByteRate(args["rate-limit"], "--rate-limit"),
    flush: (path) => !split.noFlush.some((folder) => isUnder(path, folder)),
    modes: { umask: process.umask(), keepOwner: Boolean(args["keep-owner"]), keepSpecialBits: Boolean(args["keep-special-bits"]) },
    out,
    info: (line) => verbose && out.error(`INFO: ${line}`),
    chatty: verbose || json,
    // Events go out as they happen: a program reading them acts on each at once.
    event: (e) => {
      if (!json) return;
      out.data(`${JSON.stringify(e)}\n`);
      out.flush();
    },
  };
}

async function main(args: Args, split: ReturnType<typeof splitArgs>): Promise<number> {
  const operands = args._ ?? [];
  if (operands.length < 2) throw usageError("give a SOURCE and at least one DEST; see 'dispatchcopy --help'");
  const [source, ...destinations] = operands as [string, ...string[]];
  const settings = settingsOf(args, split);
  // Every --json event names the run's job, once it has one (startJob).
  const emit = settings.event;
  settings.event = (e) => emit(settings.job ? { ...e, job: settings.job.id } : e);
  let sourceStats;
  try {
    sourceStats = statSync(source);
  } catch (error) {
    throw new CliError(`cannot read the source: ${describeSystemError(error)}`, { path: source });
  }
  const tree = sourceStats.isDirectory();
  if (tree && !args.recursive) throw new CliError("is a folder; use -r to offload a folder", { path: source });
  // Paths that lead elsewhere than they read are refused first: every check below, and the
  // paths built from them, must agree on where each leads.
  for (const [what, path] of [["the source", source] as const, ...destinations.map((d) => ["the destination", d] as const)]) {
    const problem = pathSpellingProblem(path);
    if (problem) throw usageError(`${what} ${showName(path)} ${problem}`);
  }
  // A record written into the card or a destination would replace a copy or its history, or be a
  // file the card does not hold; in file mode, one written over the source or a copy. So would
  // the job's state and the metrics, written as the run goes.
  const places = [{ path: source, role: "the source" }, ...destinations.map((d) => ({ path: tree ? d : copyPathOf(source, d), role: "the destination" }))];
  for (const [option, value] of [
    ["--sums", args.sums],
    ["--report", args.report],
    ["--metrics", args.metrics],
    // Given or not: the job's state folder by default is under the home folder, which may be the
    // card's or a destination's (a dry run keeps no state).
    [args["state-dir"] === undefined ? "the job state folder" : "--state-dir", args["dry-run"] ? undefined : (args["state-dir"] ?? defaultStateDir())],
  ] as const) {
    if (value === undefined) continue;
    const spelling = pathSpellingProblem(String(value));
    if (spelling) throw usageError(`${option} ${showName(String(value))} ${spelling}`);
    const problem = recordPlaceProblem(String(value), places);
    if (problem && option === "the job state folder") throw usageError(`${option} ${showName(String(value))} ${problem}; give --state-dir outside the card and the destinations`);
    if (problem) throw usageError(`${option} ${showName(String(value))} ${problem}; ${option === "--state-dir" ? "keep the job state" : "write it"} outside the card and the destinations`);
  }
  settings.placeProblem = (path) => {
    const problem = recordPlaceProblem(path, places);
    return problem && `it ${problem} now (a folder of its path changed during the run)`;
  };
  if (tree) return offloadTree(source, destinations, args, settings);
  return copyOneFile(source, destinations, args, settings);
}

/** Where file mode puts the copy for DEST: into it when it is a folder, else at DEST. */
function copyPathOf(source: string, dest: string): string {
  try {
    if (statSync(dest).isDirectory()) return join(dest, basename(source));
  } catch {
    // not there yet: a file path
  }
  return dest;
}

/** File mode: each DEST is a file path, or an existing folder to copy into. */
async function copyOneFile(source: string, destinations: string[], args: Args, s: Settings): Promise<number> {
  const { out, info, event } = s;
  // The source is the file the user named, links in its path followed.
  const real = realpathSync(source);
  const sourceFolder = HeldFolder.open(dirname(real));
  const held: HeldFolder[] = [sourceFolder];
  const targets: CopyTarget[] = [];
  const unusable: DestinationOutcome[] = [];
  // The DEST operand of each outcome, in outcome order (targets, then unusable), for the job.
  const roots: string[] = [];
  const unusableRoots: string[] = [];
  for (const dest of destinations) {
    let folder = dest;
    let name = basename(source);
    try {
      if (!statSync(dest).isDirectory()) throw Object.assign(new Error("not a folder"), { code: "ENOTDIR" });
    } catch {
      folder = dirname(dest);
      name = basename(dest);
    }
    try {
      const h = HeldFolder.open(folder);
      held.push(h);
      targets.push({ folder: h, relative: name, flush: s.flush(join(folder, name)) });
      roots.push(dest);
    } catch (error) {
      unusable.push({ path: join(folder, name), status: "failed", reason: `its folder cannot be used: ${describeSystemError(error)}` });
      unusableRoots.push(dest);
    }
  }
  const expectedSize = args["file-size"] === undefined ? undefined : parseCount(args["file-size"], "-f_size", 0);
  // File mode is the drop-in: its stderr stays errors only (and -v Offload Manager's lines) unless a person watches.
  await startJob(args, source, destinations, s, Boolean(args.verbose) || !process.stderr.isTTY);
  const progress = new Progress({ enabled: Boolean(args.progress) || Boolean(process.stderr.isTTY && !args.verbose && !args.json), totalFiles: 1, totalBytes: statSync(real).size });
  info(`copying ${showName(source)}...`);
  event({ event: "start", source, destinations: [...targets.map((t) => t.folder.pathOf(t.relative)), ...unusable.map((u) => u.path)], files: 1, bytes: statSync(real).size });
  s.job?.planned(1, statSync(real).size);
  let lastLog = performance.now();
  let lastCopied = 0;
  const outcome = await copyFile({ folder: sourceFolder, relative: basename(real) }, targets, {
    algorithms: s.algorithms,
    hasher: s.hasher,
    chunkSize: s.chunkSize,
    verify: s.verify,
    overwrite: Boolean(args.overwrite),
    expectedSize,
    rateLimit: s.rateLimit,
    modes: s.modes,
    onProgress: (copied, total) => {
      s.job?.bytes(copied - lastCopied);
      lastCopied = copied;
      const now = performance.now();
      if (now - lastLog >= 1000) {
        lastLog = now;
        info(`copied ${copied} of ${total} bytes`);
        event({ event: "progress", source, copied, total });
      }
    },
  });
  // A destination folder moved or replaced during the copy: the copy is not where it was asked for.
  targets.forEach((target, i) => {
    const d = outcome.destinations[i];
    if (d && d.status !== "failed" && d.status !== "mismatch" && !target.folder.stillAt()) {
      Object.assign(d, { status: "failed", reason: `${showName(target.folder.path)} no longer leads to the folder the copy was written into (moved or replaced during the run)` });
    }
  });
  // The source once more, after its copies were checked, as a tree's files are: one changed
  // since it was read (written with its times put back, replaced) is named, and the run does not
  // pass; the copies hold it as it was read.
  const changedAfter = !outcome.sourceError && outcome.sourceStat !== undefined && (await changedSince(sourceFolder, basename(real), outcome.sourceStat, outcome.hexes));
  for (const h of held) h.close();
  outcome.destinations.push(...unusable);
  progress.fileDone(outcome.size);
  progress.finish();
  if (outcome.sourceError) {
    out.error(`${TOOL}: ${showName(source)}: ${outcome.sourceError}`);
    event({ event: "error", source, error: outcome.sourceError });
  } else {
    info(`copied ${outcome.size} of ${outcome.size} bytes`);
    for (const choice of s.choices) info(`hash ${hashLabel(choice, outcome.hexes.get(choice.algorithm)!)}`);
    info(speedLine(outcome.size, outcome.copySeconds));
  }
  for (const d of outcome.destinations) {
    if ((d.status === "verified" || d.status === "present" || d.status === "size-checked" || d.status === "copied") && !outcome.sourceError) {
      info(`Copy completed successfully for destination file${expectedSize !== undefined || s.verify !== "none" ? " with file size check" : ""} (${showName(d.path)})`);
    }
  }
  if (!outcome.sourceError && outcome.destinations.some((d) => d.status !== "failed")) {
    info("moving files in place..");
    info("flushing files");
  }
  reportDestinations(TOOL, outcome.destinations, s.choices, outcome.hexes, { out, info, event }, source, advice);
  const changedLine = `${showName(source)}: ${CHANGED_AFTER_COPY}`;
  if (changedAfter) {
    out.error(`${TOOL}: ${changedLine}`);
    event({ event: "error", source, error: CHANGED_AFTER_COPY });
  }
  info("done.");
  let code = exitCodeOf(outcome.destinations);
  if (changedAfter && code === 0) code = 2;
  const name = basename(real);
  const file: PlannedFile = { relativePath: name, destinationPath: name, source, size: outcome.size, mtimeMs: sourceStatsMtime(real) };
  const result: FileResult = { hexes: outcome.hexes, destinations: outcome.destinations.map((d) => ({ ...d, root: d.path })), ...(outcome.sourceError ? { sourceError: outcome.sourceError } : {}) };
  const asJob: FileResult = { ...result, destinations: result.destinations.map((d, i) => ({ ...d, root: [...roots, ...unusableRoots][i] ?? d.root })) };
  s.job?.fileDone(file, asJob);
  if (args.report && reportKindOf(String(args.report)) === "json") {
    const problems = await writeOffloadRecords({ report: String(args.report), placeProblem: s.placeProblem, output: out, extra: { job: s.job?.id ?? null } }, [{ file, result }], s.choices);
    for (const p of problems) out.error(`${TOOL}: ${p.message}`);
    if (problems.length && code === 0) code = 2;
  }
  code = await endJob(s, args, code, {
    source,
    files: [{ file, result: asJob }],
    destinations: asJob.destinations.map((d) => ({ root: d.root, complete: d.status !== "failed" && d.status !== "mismatch", line: d.status === "failed" || d.status === "mismatch" ? `${d.status === "mismatch" ? "VERIFICATION FAILED" : "failed"}: ${d.reason ?? "unknown error"}` : d.status })),
    problems: [...(outcome.sourceError ? [`${showName(source)}: ${outcome.sourceError}`] : []), ...(changedAfter ? [changedLine] : [])],
  });
  return finish(out, event, source, code);
}

/** What is said of a source file that changed after it was copied. */
const CHANGED_AFTER_COPY = "changed after it was copied; the copies hold it as it was read (run again with --overwrite to copy it as it is now)";

/**
 * True when the file `name` in `folder` is no longer `then`: its folder no longer at its path,
 * or the file another one or changed ({@link stillAsChecked}: one numbered anew is the same
 * file if its bytes still have the copies' digests `hexes`).
 */
async function changedSince(folder: HeldFolder, name: string, then: EntryStat, hexes: ReadonlyMap<Algorithm, string>): Promise<boolean> {
  // The folder is the one the path named at the start: a folder moved away and another put in
  // its place holds another file under that path.
  let there: boolean;
  try {
    there = folder.stillAt();
  } catch {
    return true;
  }
  return !there || !(await stillAsChecked(folder, name, stateKeyOf(then), hexes));
}

function sourceStatsMtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function finish(out: Output, event: Settings["event"], source: string, code: number): number {
  event({ event: "summary", source, exitCode: code });
  out.flush();
  return code;
}

/** Tree mode: a card to one folder per destination. */
async function offloadTree(source: string, destinations: string[], args: Args, s: Settings): Promise<number> {
  const { out, info, event } = s;
  const ignore = new IgnoreList([
    ...(args["default-ignores"] === false ? [] : DEFAULT_IGNORES),
    ...(args.ignore ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean),
  ]);
  const links = (args.links ?? "follow") as LinkPolicy;
  if (!LINK_POLICIES.includes(links)) throw usageError(`invalid --links '${links}'; use one of: ${LINK_POLICIES.join(", ")}`);
  const special = (args.special ?? "fail") as SpecialPolicy;
  if (special !== "fail" && special !== "skip") throw usageError(`invalid --special '${special}'; use fail or skip`);
  const overwrite = Boolean(args.overwrite);
  if (!args["dry-run"]) await startJob(args, source, destinations, s, false);
  let plan;
  try {
    const rename = args.rename === undefined ? undefined : parseRename(args.rename);
    plan = planOffload(source, destinations, { ignore, rename, overwrite, links, special });
  } catch (error) {
    if ((error as { code?: string }).code === "ERENAME") throw usageError(`--rename: ${(error as Error).message}`);
    throw error;
  }
  for (const p of plan.problems) out.error(`${TOOL}: ${showName(p.path)}: ${p.message}`);
  for (const p of plan.skipped) out.error(`${TOOL}: ${showName(p.path)}: ${p.message}`);
  if (args["dry-run"]) {
    const shown = (name: string) => {
      // Bytes that are not UTF-8 as \xHH, as the sum file and `xxsum -r` write them.
      const e = escapeName(name, undefined, { bytes: true });
      return e.escaped ? `\\${e.text}` : e.text;
    };
    for (const f of plan.files) {
      out.data(`${shown(f.relativePath)}${f.destinationPath !== f.relativePath ? ` -> ${shown(f.destinationPath)}` : ""}\t${f.size}\n`);
      collectNowAndThen();
    }
    for (const sp of plan.space) {
      const refused = plan.refused.get(sp.root);
      out.error(
        `${TOOL}: ${sp.root}: ${refused ? `REFUSED: ${refused}` : `needs ${formatBytes(sp.needed)} for ${plan.files.length} files, has ${Number.isFinite(sp.available) ? formatBytes(sp.available) : "an unknown amount"} free${sp.sharedWith ? ` beside ${sp.sharedWith.map((r) => showName(r)).join(", ")} (same file system)` : ""}${sp.needed > sp.available ? " — NOT ENOUGH" : ""}`}`,
      );
    }
    out.flush();
    return plan.problems.length || plan.refused.size || plan.space.some((sp) => sp.needed > sp.available) ? 2 : 0;
  }
  const jobs = args.jobs === undefined ? 1 : parseCount(args.jobs, "--jobs");
  refuseTooFewDescriptors(destinations.length, jobs, plan.files.length);
  s.job?.planned(plan.files.length, plan.bytes, [...plan.refused.keys(), ...plan.space.filter((sp) => sp.needed > sp.available).map((sp) => sp.root)]);
  const failedBy = new Map(destinations.map((d) => [d, 0]));
  const progress = new Progress({
    enabled: Boolean(args.progress) || Boolean(process.stderr.isTTY && !args.verbose && !args.json),
    totalFiles: plan.files.length,
    totalBytes: plan.bytes,
    detail: () => destinations.map((d) => `${d} ${failedBy.get(d) ? `${failedBy.get(d)} FAILED` : "ok"}`).join(", "),
  });
  event({ event: "start", source, destinations, files: plan.files.length, bytes: plan.bytes });
  let lastEvent = 0;
  let copied = 0;
  let done = 0;
  setInterruptNote(() => `${done} of ${plan.files.length} files done; run the same command again (with --resume) to finish: what is in place is read back and compared, the rest copied`);
  const results = await runOffload(plan, {
    algorithms: s.algorithms,
    hasher: s.hasher,
    chunkSize: s.chunkSize,
    verify: s.verify,
    overwrite,
    jobs,
    ignore,
    flush: s.flush,
    rateLimit: s.rateLimit,
    modes: s.modes,
    checkSource: false,
    onBytes: (bytes) => {
      s.job?.bytes(bytes);
      copied += bytes;
      const now = performance.now();
      if (now - lastEvent >= 1000) {
        lastEvent = now;
        event({ event: "progress", copied, total: plan.bytes });
      }
    },
    onFile: (file: PlannedFile, result: FileResult) => {
      s.job?.fileDone(file, result);
      progress.clear();
      if (s.chatty) info(`copying ${showName(file.source)}...`);
      if (result.sourceError) out.error(`${TOOL}: ${showName(file.source)}: ${result.sourceError}`);
      else if (s.chatty) for (const choice of s.choices) if (result.hexes.get(choice.algorithm)) info(`hash ${hashLabel(choice, result.hexes.get(choice.algorithm)!)}`);
      // A destination that could not be used at all is named once, in the summary. Without -v
      // or --json only failures print a line.
      const told = result.destinations.filter((d) => d.kind !== "destination" && (s.chatty || !GOOD_STATUSES.has(d.status)));
      if (told.length) reportDestinations(TOOL, told, s.choices, result.hexes, { out, info, event }, file.source, advice);
      for (const d of result.destinations) if (!GOOD_STATUSES.has(d.status)) failedBy.set(d.root, (failedBy.get(d.root) ?? 0) + 1);
      if (s.chatty) event({ event: "file-done", source: file.source, path: file.destinationPath, size: file.size, hashes: Object.fromEntries(result.hexes), destinations: result.destinations.map((d) => ({ root: d.root, status: d.status, reason: d.reason ?? null })) });
      progress.fileDone(file.size);
      done++;
    },
  });
  setInterruptNote(undefined);
  progress.finish();
  for (const problems of results.rootProblems.values()) for (const p of problems) out.error(`${TOOL}: ${p}`);
  const noGeneration = args.mhl === false ? "" : "; no ASC MHL generation written here";
  for (const [root, paths] of results.strays) for (const path of paths) out.error(`${TOOL}: ${showName(root)}/${showName(path)}: appeared in this destination during the offload and is not from the source${noGeneration} (check it, then run again)`);
  const mhlRoots = args.mhl === false ? [] : results.completeRoots.filter((root) => !results.strays.has(root));
  const records = await writeOffloadRecords({ sums: args.sums, mhlRoots, roots: results.completeRoots, placeProblem: s.placeProblem, source, output: out, note: (line) => out.error(`${TOOL}: ${line}`), folders: plan.folders.map((f) => f.relativePath), existing: plan.existing }, results.files, s.choices);
  // The source once more, last: what changed or appeared while the records were written counts too.
  const again = await checkSourceAgain(plan, results.files, ignore);
  results.newInSource = again.appeared;
  results.changedInSource = again.changed;
  results.unreadInSource = again.unread;
  if (again.unseen !== undefined) {
    results.sourceUnseen = again.unseen;
    out.error(`${TOOL}: ${unseenLine(source, again.unseen)}`);
  }
  for (const path of results.newInSource) out.error(`${TOOL}: ${showName(joinPath(source, path))}: appeared in the source during the offload; not copied (run again to copy it)`);
  for (const path of results.changedInSource) out.error(`${TOOL}: ${showName(joinPath(source, path))}: ${CHANGED_AFTER_COPY}`);
  for (const entry of results.unreadInSource) out.error(`${TOOL}: ${unreadLine(source, entry)}`);
  if (args.report && reportKindOf(String(args.report)) === "json") {
    records.push(
      ...(await writeOffloadRecords(
        {
          report: args.report,
          placeProblem: s.placeProblem,
          source,
          output: out,
          extra: {
            job: s.job?.id ?? null,
            problems: plan.problems.map((p) => ({ path: p.path, message: p.message })),
            skipped: plan.skipped.map((p) => ({ path: p.path, message: p.message })),
            appearedInSource: results.newInSource,
            changedInSource: results.changedInSource,
            unreadInSource: results.unreadInSource,
            appearedInDestinations: Object.fromEntries(results.strays),
          },
        },
        results.files,
        s.choices,
      )),
    );
  }
  for (const problem of records) out.error(`${TOOL}: ${problem.message}`);
  // Every record in a destination is written: another run may write into them now.
  releaseDestinationLocks();
  const verdict = judgeOffload(plan, results, records, s.verify);
  for (const d of verdict.destinations) out.error(`${TOOL}: ${showName(d.root)}: ${d.line}`);
  const exitCode = await endJob(s, args, verdict.exitCode, { source, files: results.files, destinations: verdict.destinations, problems: runProblems(source, plan, results, records) });
  info("done.");
  event({
    event: "summary",
    source,
    files: plan.files.length,
    bytes: plan.bytes,
    seconds: results.seconds,
    exitCode,
    complete: verdict.destinations.filter((d) => d.complete).map((d) => d.root),
    destinations: verdict.destinations.map((d) => ({ root: d.root, complete: d.complete, failed: d.failed, summary: d.line })),
  });
  out.flush();
  return exitCode;
}

// ---- Jobs (lib/offload/jobs.ts, job_run.ts, jobs_cli.ts) and the HTML/PDF report (offload_report.ts)

const RUN_STARTED = new Date();

/** How to start this tool again: the executable, and the script when run from source. */
function selfCommand(): string[] {
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}

/**
 * Makes this run a job (its state file in --state-dir; waiting first with --queue). A state
 * folder that cannot be used is said, and the run goes on without one (not with --queue, which
 * needs it).
 */
async function startJob(args: Args, source: string, destinations: string[], s: Settings, quiet: boolean): Promise<void> {
  const report = args.report === undefined ? undefined : String(args.report);
  if (report && reportKindOf(report) === "pdf" && !findChromium()) throw new CliError(noChromiumMessage(report), { path: report });
  const dir = args["state-dir"] === undefined ? defaultStateDir() : String(args["state-dir"]);
  let store: JobStore | undefined = new JobStore(dir);
  try {
    store.ensure();
  } catch (error) {
    if (args.queue) throw new CliError(`--queue needs the job state folder, which cannot be used: ${describeSystemError(error)}`, { path: dir });
    s.out.error(`${TOOL}: ${showName(dir)}: job state not kept: ${describeSystemError(error)}`);
    store = undefined;
  }
  let queuedAt = 0;
  s.job = await JobRun.start({
    store,
    resume: process.env[RESUME_JOB_VARIABLE] || undefined,
    args: programArgs(),
    cwd: process.cwd(),
    command: selfCommand(),
    source,
    destinations,
    queue: Boolean(args.queue),
    report,
    metrics: args.metrics === undefined ? undefined : String(args.metrics),
    placeProblem: s.placeProblem,
    onCreated: (job) => {
      process.on("exit", (code) => job.exited(code));
      if (!quiet) s.out.error(`${TOOL}: job ${job.id}`);
    },
    onQueued: (admission, job) => {
      queuedAt ||= performance.now();
      s.out.error(`${TOOL}: job ${job.id} queued (position ${admission.position}): waiting for ${admission.waitingFor.map((j) => `job ${j.id} (${j.state}, ${showName(j.source)})`).join(", ")}`);
      s.event({ event: "queued", job: job.id, position: admission.position, waitingFor: admission.waitingFor.map((j) => j.id) });
    },
    onProblem: (message) => s.out.error(`${TOOL}: ${message}`),
  });
  if (queuedAt) s.out.error(`${TOOL}: job ${s.job.id} started after ${formatDuration((performance.now() - queuedAt) / 1000)} in the queue`);
}

/**
 * The end of a run: the HTML or PDF report, then the job's last state and metrics.
 * @returns the exit code (2 when the report or the metrics could not be written and all else went well).
 */
async function endJob(s: Settings, args: Args, code: number, run: Pick<ReportRun, "source" | "files" | "destinations" | "problems">): Promise<number> {
  s.job?.endSamples();
  let final = code;
  const fail = (line: string) => {
    s.out.error(`${TOOL}: ${line}`);
    if (final === 0) final = 2;
  };
  const report = args.report === undefined ? undefined : String(args.report);
  if (report && reportKindOf(report) !== "json") {
    try {
      const built = await buildOffloadReport({ ...run, job: s.job, args: programArgs(), choices: s.choices, verify: s.verify, exitCode: code, started: RUN_STARTED, ended: new Date() });
      const problem = s.placeProblem?.(report);
      if (problem) throw new Error(problem);
      await writeOffloadReport(report, built);
    } catch (error) {
      fail(`${showName(report)}: report not written: ${describeSystemError(error)}`);
    }
  }
  for (const problem of s.job?.finish(final, run.destinations) ?? []) fail(problem);
  return final;
}

// `dispatchcopy jobs …` (a card folder named "jobs" is given as ./jobs). runTool never returns.
if (process.argv[2] === "jobs") await runTool({ command: JOBS_COMMAND, epilogue: JOBS_EPILOGUE, main: (args) => runJobsCommand(args as Record<string, unknown>, { out: new Output(), self: selfCommand(), tool: TOOL }) }, programArgs().slice(1));

let split: ReturnType<typeof splitArgs> = { rest: [], hashes: [], noFlush: [] };
await runTool({ command, operands: "SOURCE DEST...", epilogue: EPILOGUE, main: (args) => main(args, split) }, () => {
  split = splitArgs(programArgs());
  return split.rest;
});
