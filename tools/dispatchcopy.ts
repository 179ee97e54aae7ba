#!/usr/bin/env bun
/**
 * dispatchcopy — read once, write to every destination, hash in flight, verify from the device.
 * Takes Offload Manager's pfndispatchcopy arguments and prints its log lines (-v); `-r` offloads
 * a whole card to several drives, with an ASC MHL generation, a sum file and a JSON report.
 */
import { statSync } from "node:fs";
import { basename, join } from "node:path";
import { defineCommand } from "citty";
import { CliError, usageError } from "../lib/core/errors.ts";
import { Output } from "../lib/cli/output.ts";
import { Progress } from "../lib/cli/progress.ts";
import { rewriteArgs, runTool, setInterruptNote } from "../lib/cli/run.ts";
import { formatBytes, parseByteRate, parseCount, parseSize } from "../lib/core/units.ts";
import type { HasherOptions } from "../lib/hash/options.ts";
import { assertEngineSupports, parseEngine } from "../lib/hash/registry.ts";
import { ENGINES } from "../lib/hash/hasher.ts";
import { copyFile, VERIFY_MODES, type VerifyMode } from "../lib/offload/copy.ts";
import { exitCodeOf, GOOD, hashChoice, hashLabel, reportDestinations, speedLine, type HashChoice } from "../lib/offload/dispatch_log.ts";
import { DEFAULT_IGNORES, IgnoreList } from "../lib/io/ignore.ts";
import { parseRename, planOffload, runOffload, type FileResult, type PlannedFile } from "../lib/offload/tree.ts";
import { writeOffloadRecords } from "../lib/offload/records.ts";
import { escapeName } from "../lib/sums/escape.ts";
import { VERSION } from "../lib/core/version.ts";

const TOOL = "dispatchcopy";

const command = defineCommand({
  meta: { name: TOOL, version: VERSION, description: "Copy a file or a card to several destinations, hash in flight, verify every copy from the device." },
  args: {
    verbose: { type: "boolean", alias: "v", description: "Log as Offload Manager does (INFO: lines on stderr)" },
    keep: { type: "boolean", alias: "k", description: "Keep the source (always: dispatchcopy never moves)" },
    "file-size": { type: "string", description: "Refuse a source that is not exactly N bytes (-f_size N)", valueHint: "N" },
    "buffer-size": { type: "string", description: "Bytes per read and write (-b N; default 256KiB)", valueHint: "SIZE" },
    verify: { type: "string", description: `After the copy: ${VERIFY_MODES.join(", ")} (default dest: read every copy back from the device)`, valueHint: "MODE" },
    overwrite: { type: "boolean", description: "Replace existing destination files (never done otherwise)" },
    recursive: { type: "boolean", alias: "r", description: "SOURCE is a folder (a card): offload all of it" },
    jobs: { type: "string", description: "Files copied at once in -r mode (default 1)", valueHint: "N" },
    mhl: { type: "boolean", default: true, description: "With -r: write an ASC MHL generation into each destination (--no-mhl: don't)" },
    sums: { type: "string", description: "With -r: write a sum file of the first -t hash (relative paths)", valueHint: "FILE" },
    report: { type: "string", description: "Write a JSON report of every file and destination", valueHint: "FILE" },
    resume: { type: "boolean", description: "With -r: skip files an interrupted run already verified (journal in each destination)" },
    "dry-run": { type: "boolean", description: "List what would be copied and the space needed; copy nothing" },
    "rate-limit": { type: "string", description: "Read at most this fast, e.g. 200MB/s", valueHint: "RATE" },
    rename: { type: "string", description: "With -r: rename files, s/REGEX/REPLACEMENT/[gi]", valueHint: "EXPR" },
    json: { type: "boolean", description: "Print JSON events on stdout (start, progress, file-done, verified, error, summary)" },
    progress: { type: "boolean", description: "Show progress on stderr even when it is not a terminal" },
    ignore: { type: "string", description: "With -r: comma-separated patterns to leave out (added to the defaults)", valueHint: "PATTERNS" },
    "default-ignores": { type: "boolean", default: true, description: `With -r: leave out ${DEFAULT_IGNORES.join(" ")}` },
    engine: { type: "string", description: `Hash engine: auto, ${ENGINES.join(", ")}`, valueHint: "NAME" },
  },
});

const EPILOGUE = `pfndispatchcopy arguments, as in Offload Manager's logs:
  -t ALGO            xxh64be (default), xxh64, xxh3, xxh128, md5, sha1, sha256, blake3, c4;
                     repeat for several (one read). xxh64 prints little-endian, as
                     Offload Manager does; xxh64be big-endian. Also --hash ALGO.
  -f_size N          also --file-size N
  -b N               also --buffer-size N
  -noflush_dest PATH no fsync for destinations below PATH; also --no-flush PATH
  -k                 accepted; the source is always kept

Every destination is written under .<name>.<random>.partial, flushed, renamed into
place (never over an existing file unless --overwrite; an identical existing file is
reported as present), then read back from the device (its pages dropped from the
cache first) and compared with the source's digests. A failing destination is
dropped and the others finish.

Exit codes:
  0  every destination verified (or already held an identical file)
  1  a destination read back differently from the source (verification failed)
  2  usage error, unreadable or changing source, or a destination that could not
     be written, flushed or read back`;

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

function isUnder(path: string, folder: string): boolean {
  const f = folder.replace(/\/+$/, "");
  return path === f || path.startsWith(`${f}/`);
}

async function main(args: Record<string, unknown>, split: ReturnType<typeof splitArgs>): Promise<number> {
  const operands = (args._ as string[]) ?? [];
  if (operands.length < 2) throw usageError("give a SOURCE and at least one DEST; see 'dispatchcopy --help'");
  const [source, ...destinations] = operands as [string, ...string[]];
  const choices: HashChoice[] = (split.hashes.length ? split.hashes : ["xxh64be"]).map(hashChoice);
  const algorithms = [...new Set(choices.map((c) => c.algorithm))];
  const engine = parseEngine(args.engine as string | undefined);
  assertEngineSupports(algorithms, engine);
  const hasher: HasherOptions = { engine };
  const verify = ((args.verify as string | undefined) ?? "dest") as VerifyMode;
  if (!VERIFY_MODES.includes(verify)) throw usageError(`invalid --verify '${verify}'; use one of: ${VERIFY_MODES.join(", ")}`);
  const chunkSize = args["buffer-size"] === undefined ? undefined : parseSize(String(args["buffer-size"]), "buffer size");
  if (chunkSize !== undefined && (chunkSize < 4096 || chunkSize > 64 << 20)) throw usageError(`buffer size ${chunkSize} is out of range; use 4KiB to 64MiB`);
  const rateLimit = args["rate-limit"] === undefined ? undefined : parseByteRate(String(args["rate-limit"]), "--rate-limit");
  const flush = (path: string) => !split.noFlush.some((folder) => isUnder(path, folder));
  const verbose = Boolean(args.verbose);
  const json = Boolean(args.json);
  const out = new Output();
  const info = (line: string) => verbose && out.error(`INFO: ${line}`);
  const event = (e: Record<string, unknown>) => json && out.data(`${JSON.stringify(e)}\n`);

  let sourceStats;
  try {
    sourceStats = statSync(source);
  } catch (error) {
    throw new CliError(`cannot read the source: ${(error as { code?: string }).code === "ENOENT" ? "No such file or directory" : (error as Error).message}`, { path: source });
  }

  if (sourceStats.isDirectory()) {
    if (!args.recursive) throw new CliError("is a folder; use -r to offload a folder", { path: source });
    return offloadTree(source, destinations, { args, split, choices, algorithms, hasher, verify, chunkSize, rateLimit, flush, out, info, event });
  }

  // File mode: DEST is a file path, or an existing folder to copy into.
  const targets = destinations.map((dest) => {
    let path = dest;
    try {
      if (statSync(dest).isDirectory()) path = join(dest, basename(source));
    } catch {
      // a new file name
    }
    return { path, flush: flush(path) };
  });
  const expectedSize = args["file-size"] === undefined ? undefined : parseCount(String(args["file-size"]), "-f_size", 0);
  const progress = new Progress({ enabled: Boolean(args.progress) || Boolean(process.stderr.isTTY && !verbose && !json), totalFiles: 1, totalBytes: sourceStats.size });
  info(`copying ${source}...`);
  event({ event: "start", source, destinations: targets.map((t) => t.path), files: 1, bytes: sourceStats.size });
  let lastLog = performance.now();
  const outcome = await copyFile(source, targets, {
    algorithms, hasher, chunkSize, verify, overwrite: Boolean(args.overwrite), expectedSize, rateLimit,
    onProgress: (copied, total) => {
      const now = performance.now();
      if (now - lastLog >= 1000) {
        lastLog = now;
        info(`copied ${copied} of ${total} bytes`);
        event({ event: "progress", source, copied, total });
      }
    },
  });
  progress.fileDone(outcome.size);
  progress.finish();
  if (outcome.sourceError) {
    out.error(`${TOOL}: ${source}: ${outcome.sourceError}`);
    event({ event: "error", source, error: outcome.sourceError });
  } else {
    info(`copied ${outcome.size} of ${outcome.size} bytes`);
    for (const choice of choices) info(`hash ${hashLabel(choice, outcome.hexes.get(choice.algorithm)!)}`);
    info(speedLine(outcome.size, outcome.copySeconds));
  }
  for (const d of outcome.destinations) {
    if (GOOD.has(d.status) && !outcome.sourceError) {
      info(`Copy completed successfully for destination file${expectedSize !== undefined || verify !== "none" ? " with file size check" : ""} (${d.path})`);
    }
  }
  if (!outcome.sourceError && outcome.destinations.some((d) => d.status !== "failed")) {
    info("moving files in place..");
    info("flushing files");
  }
  reportDestinations(TOOL, outcome.destinations, choices, outcome.hexes, { out, info, event }, source);
  info("done.");
  event({ event: "summary", source, exitCode: exitCodeOf(outcome.destinations) });
  if (args.report) await writeOffloadRecords({ report: String(args.report), output: out }, [{ file: { relativePath: basename(source), destinationPath: basename(source), source, size: outcome.size, mtimeMs: sourceStats.mtimeMs }, result: { hexes: outcome.hexes, destinations: outcome.destinations.map((d) => ({ ...d, root: d.path })), ...(outcome.sourceError ? { sourceError: outcome.sourceError } : {}) } }], choices);
  out.flush();
  return exitCodeOf(outcome.destinations);
}

interface TreeContext {
  args: Record<string, unknown>;
  split: ReturnType<typeof splitArgs>;
  choices: HashChoice[];
  algorithms: ReturnType<typeof hashChoice>["algorithm"][];
  hasher: HasherOptions;
  verify: VerifyMode;
  chunkSize: number | undefined;
  rateLimit: number | undefined;
  flush: (path: string) => boolean;
  out: Output;
  info: (line: string) => void;
  event: (e: Record<string, unknown>) => void;
}

async function offloadTree(source: string, destinations: string[], ctx: TreeContext): Promise<number> {
  const { args, out, info, event } = ctx;
  const ignore = new IgnoreList([
    ...(args["default-ignores"] === false ? [] : DEFAULT_IGNORES),
    ...String(args.ignore ?? "").split(",").map((p) => p.trim()).filter(Boolean),
  ]);
  const rename = args.rename === undefined ? undefined : parseRename(String(args.rename));
  const overwrite = Boolean(args.overwrite);
  const plan = planOffload(source, destinations, { ignore, rename, overwrite });
  for (const p of plan.problems) out.error(`${TOOL}: ${p.path}: ${p.message}`);
  const short = plan.space.filter((s) => s.needed > s.available);
  if (args["dry-run"]) {
    const shown = (name: string) => {
      const e = escapeName(name);
      return e.escaped ? `\\${e.text}` : e.text;
    };
    for (const f of plan.files) out.data(`${shown(f.relativePath)}${f.destinationPath !== f.relativePath ? ` -> ${shown(f.destinationPath)}` : ""}\t${f.size}\n`);
    for (const s of plan.space) out.error(`${TOOL}: ${s.root}: needs ${formatBytes(s.needed)} for ${plan.files.length} files, has ${formatBytes(s.available)} free${s.needed > s.available ? " — NOT ENOUGH" : ""}`);
    out.flush();
    return short.length ? 2 : 0;
  }
  if (short.length) {
    for (const s of short) out.error(`${TOOL}: ${s.root}: not enough space: needs ${formatBytes(s.needed)}, has ${formatBytes(s.available)}; free some space or choose another destination`);
    return 2;
  }
  const jobs = args.jobs === undefined ? 1 : parseCount(String(args.jobs), "--jobs");
  // Every destination gets each chunk at the same time, so files, bytes, rate and ETA are
  // theirs alike; what differs is whether a destination has dropped files.
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
  setInterruptNote(() => `${done} of ${plan.files.length} files done; the journal in each destination keeps what was verified: run again with --resume to finish`);
  const results = await runOffload(plan, {
    algorithms: ctx.algorithms,
    hasher: ctx.hasher,
    chunkSize: ctx.chunkSize,
    verify: ctx.verify,
    overwrite,
    jobs,
    ignore,
    flush: ctx.flush,
    rateLimit: ctx.rateLimit,
    rename,
    resume: Boolean(args.resume),
    onBytes: (bytes) => {
      copied += bytes;
      const now = performance.now();
      if (now - lastEvent >= 1000) {
        lastEvent = now;
        event({ event: "progress", copied, total: plan.bytes });
      }
    },
    onFile: (file: PlannedFile, result: FileResult) => {
      progress.clear();
      info(`copying ${file.source}...`);
      if (result.sourceError) out.error(`${TOOL}: ${file.source}: ${result.sourceError}`);
      else for (const choice of ctx.choices) info(`hash ${hashLabel(choice, result.hexes.get(choice.algorithm)!)}`);
      reportDestinations(TOOL, result.destinations, ctx.choices, result.hexes, { out, info, event }, file.source);
      for (const d of result.destinations) if (!GOOD.has(d.status)) failedBy.set(d.root, (failedBy.get(d.root) ?? 0) + 1);
      event({ event: "file-done", source: file.source, path: file.destinationPath, size: file.size, hashes: Object.fromEntries(result.hexes), destinations: result.destinations.map((d) => ({ root: d.root, status: d.status, reason: d.reason ?? null })) });
      progress.fileDone(file.size);
      done++;
    },
  });
  setInterruptNote(undefined);
  progress.finish();
  const all = results.files.flatMap((f) => f.result.destinations);
  const problems = await writeOffloadRecords({ sums: args.sums as string | undefined, report: args.report as string | undefined, mhlRoots: args.mhl === false ? [] : results.completeRoots, source, output: out }, results.files, ctx.choices);
  for (const problem of problems) out.error(`${TOOL}: ${problem}`);
  // A copy that read back differently (1) outranks I/O trouble (2), an unwritten MHL included.
  const copies = exitCodeOf(all);
  const code = copies === 1 ? 1 : Math.max(copies, problems.length ? 2 : 0);
  for (const root of destinations) {
    const mine = all.filter((d) => (d as { root?: string }).root === root);
    const bad = mine.filter((d) => !GOOD.has(d.status)).length;
    out.error(`${TOOL}: ${root}: ${bad === 0 ? `${plan.files.length} files, ${formatBytes(plan.bytes)} ${ctx.verify === "dest" || ctx.verify === "source+dest" ? "verified from the device" : ctx.verify === "size" ? "copied, sizes checked" : "copied, not verified"}` : `${bad} of ${plan.files.length} files FAILED`}`);
  }
  info("done.");
  event({ event: "summary", source, files: plan.files.length, bytes: plan.bytes, seconds: results.seconds, exitCode: code, complete: results.completeRoots });
  out.flush();
  return code;
}

let split: ReturnType<typeof splitArgs> = { rest: [], hashes: [], noFlush: [] };
await runTool({ command, epilogue: EPILOGUE, main: (args) => main(args as Record<string, unknown>, split) }, () => {
  split = splitArgs(process.argv.slice(2));
  return split.rest;
});
