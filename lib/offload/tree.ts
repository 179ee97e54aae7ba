/**
 * Tree mode of the copy engine: offload a card (a folder) to several destination folders. The
 * source is walked once in a fixed order; folders (empty ones too) are made in every
 * destination; files are copied with {@link copyFile} (`jobs` at a time); folder mtimes are set
 * last; a journal in each destination records every file that verified, so `resume` after a
 * crash continues where the run stopped.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, utimesSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { CliError, ExitCode } from "../core/errors.ts";
import type { Algorithm } from "../hash/algorithms.ts";
import type { HasherOptions } from "../hash/options.ts";
import { flushFolder } from "../io/atomic_file.ts";
import { FlushBarrier } from "../io/flush_barrier.ts";
import { copyFile, type DestinationOutcome, type VerifyMode } from "./copy.ts";
import { IgnoreList } from "../io/ignore.ts";
import { walkFiles, type WalkProblem } from "../io/walk.ts";

/** Written copies that may wait for one group flush at a time. */
const MAX_WAITING = 64;

/** Name of the journal kept in each destination root while an offload is incomplete. */
export const JOURNAL_NAME = ".dispatchcopy-journal.jsonl";

/** One file of the plan. */
export interface PlannedFile {
  /** Path below the source root, `/`-separated. */
  relativePath: string;
  /** Path below each destination root (after --rename). */
  destinationPath: string;
  source: string;
  size: number;
  mtimeMs: number;
}

/** What an offload will do, before it does it. */
export interface OffloadPlan {
  source: string;
  destinations: string[];
  files: PlannedFile[];
  folders: Array<{ relativePath: string; mtimeMs: number }>;
  bytes: number;
  /** Bytes each destination still needs, and has. */
  space: Array<{ root: string; needed: number; available: number }>;
  problems: WalkProblem[];
}

/** Options of an offload. */
export interface OffloadOptions {
  algorithms: Algorithm[];
  hasher?: HasherOptions;
  chunkSize?: number;
  verify: VerifyMode;
  overwrite: boolean;
  /** Files copied at once. @default 1 */
  jobs: number;
  ignore: IgnoreList;
  /** Whether to fsync files written below this destination root. */
  flush: (destinationRoot: string) => boolean;
  rateLimit?: number;
  /** Maps a file name (not its folders) to its destination name. */
  rename?: (name: string) => string;
  /** Skip files a previous run's journal says were verified. */
  resume: boolean;
  /** Called as each file finishes. */
  onFile?: (file: PlannedFile, result: FileResult) => void;
  /** Called with bytes copied since the last call. */
  onBytes?: (bytes: number) => void;
}

/** One file's result. */
export interface FileResult {
  hexes: Map<Algorithm, string>;
  destinations: Array<DestinationOutcome & { root: string; resumed?: boolean }>;
  sourceError?: string;
}

/** The result of an offload. */
export interface OffloadResult {
  files: Array<{ file: PlannedFile; result: FileResult }>;
  /** Roots where every file verified (or was present). */
  completeRoots: string[];
  seconds: number;
}

interface JournalRecord {
  path: string;
  size: number;
  mtimeMs: number;
  hexes: Record<string, string>;
}

/** Walks the source and checks names and space; nothing is written. */
export function planOffload(source: string, destinations: readonly string[], options: Pick<OffloadOptions, "ignore" | "rename" | "overwrite">): OffloadPlan {
  const problems: WalkProblem[] = [];
  const folders: Array<{ relativePath: string; path: string; mtimeMs: number }> = [];
  const walked = walkFiles(source, { ignore: options.ignore, onProblem: (p) => problems.push(p), folders });
  const seen = new Map<string, string>();
  const files: PlannedFile[] = walked.map((entry) => {
    const folder = posix.dirname(entry.relativePath);
    const name = options.rename ? options.rename(posix.basename(entry.relativePath)) : posix.basename(entry.relativePath);
    if (!name || name.includes("/") || name === "." || name === "..") {
      throw new CliError(`--rename turns '${entry.relativePath}' into the invalid name '${name}'; fix the expression`, { exitCode: ExitCode.UsageOrIo });
    }
    const destinationPath = folder === "." ? name : `${folder}/${name}`;
    const key = destinationPath.normalize("NFC");
    const clash = seen.get(key);
    if (clash) throw new CliError(`'${clash}' and '${entry.relativePath}' would both be written as '${destinationPath}'; change --rename`, { exitCode: ExitCode.UsageOrIo });
    seen.set(key, entry.relativePath);
    return { relativePath: entry.relativePath, destinationPath, source: entry.path, size: entry.size, mtimeMs: entry.mtimeMs };
  });
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  const space = destinations.map((root) => {
    let needed = 0;
    for (const f of files) {
      let present = false;
      try {
        present = !options.overwrite && statSync(join(root, f.destinationPath)).size === f.size;
      } catch {
        present = false;
      }
      if (!present) needed += f.size;
    }
    return { root, needed, available: availableBytes(root) };
  });
  return { source, destinations: [...destinations], files, folders: folders.map(({ relativePath, mtimeMs }) => ({ relativePath, mtimeMs })), bytes, space, problems };
}

/** Free bytes for an unprivileged writer on the file system holding `path` (or its nearest existing parent). */
export function availableBytes(path: string): number {
  let probe = path;
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  const fs = statfsSync(probe);
  return Number(fs.bavail) * Number(fs.bsize);
}

function readJournal(root: string): Map<string, JournalRecord> {
  const records = new Map<string, JournalRecord>();
  const path = join(root, JOURNAL_NAME);
  if (!existsSync(path)) return records;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const record = JSON.parse(line) as JournalRecord;
      records.set(record.path, record);
    } catch {
      // a line cut short by the crash: that file is simply copied again
    }
  }
  return records;
}

function appendJournal(root: string, record: JournalRecord): void {
  const path = join(root, JOURNAL_NAME);
  appendFileSync(path, `${JSON.stringify(record)}\n`);
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Removes partial files a killed run left beside the names this run will write. */
function removeStalePartials(folder: string, names: Set<string>): void {
  let entries: string[];
  try {
    entries = readdirSync(folder);
  } catch {
    return;
  }
  for (const entry of entries) {
    const match = /^\.(.+)\.[0-9a-f]{8}\.partial$/s.exec(entry);
    if (match && names.has(match[1]!)) rmSync(join(folder, entry), { force: true });
  }
}

/**
 * Runs a plan. Destinations that fail for one file go on with the others; the result says,
 * file by file and destination by destination, what happened.
 */
export async function runOffload(plan: OffloadPlan, options: OffloadOptions): Promise<OffloadResult> {
  const started = performance.now();
  for (const root of plan.destinations) {
    mkdirSync(root, { recursive: true });
    for (const folder of plan.folders) mkdirSync(join(root, folder.relativePath), { recursive: true });
  }
  const journals = new Map(plan.destinations.map((root) => [root, options.resume ? readJournal(root) : new Map<string, JournalRecord>()]));
  // Leftovers of a killed run, for the names about to be written.
  const namesByFolder = new Map<string, Set<string>>();
  for (const f of plan.files) {
    const folder = posix.dirname(f.destinationPath);
    const names = namesByFolder.get(folder) ?? new Set<string>();
    names.add(posix.basename(f.destinationPath));
    namesByFolder.set(folder, names);
  }
  for (const root of plan.destinations) for (const [folder, names] of namesByFolder) removeStalePartials(join(root, folder), names);

  const results: Array<{ file: PlannedFile; result: FileResult } | undefined> = new Array(plan.files.length);
  // `jobs` copies read and write at once. A copy that has written everything waits for the
  // group flush without holding its slot, so the next file starts meanwhile (at most
  // MAX_WAITING wait, each holding its open partial files).
  const barrier = new FlushBarrier(MAX_WAITING);
  const jobs = Math.max(1, options.jobs);
  let writing = 0;
  const waitingForSlot: Array<() => void> = [];
  const inFlight = new Set<Promise<void>>();
  const release = () => {
    writing--;
    waitingForSlot.shift()?.();
  };
  for (let index = 0; index < plan.files.length; index++) {
    while (writing >= jobs || inFlight.size >= jobs + MAX_WAITING) {
      await new Promise<void>((resolve) => waitingForSlot.push(resolve));
    }
    writing++;
    const file = plan.files[index]!;
    let released = false;
    const releaseOnce = () => {
      if (!released) {
        released = true;
        release();
      }
    };
    const task = copyOne(file, plan, options, journals, { barrier, onWritten: releaseOnce })
      .then((result) => {
        results[index] = { file, result };
        options.onFile?.(file, result);
      })
      .finally(() => {
        releaseOnce();
        inFlight.delete(task);
        waitingForSlot.shift()?.();
      });
    inFlight.add(task);
  }
  barrier.flush();
  while (inFlight.size) {
    await Promise.race(inFlight);
    if (barrier.waiting) barrier.flush();
  }

  // Folder times last (every file written into a folder changed its mtime), then each folder
  // flushed once, so the new names are durable.
  for (const root of plan.destinations) {
    for (const folder of [...plan.folders].reverse()) {
      const when = new Date(folder.mtimeMs);
      try {
        utimesSync(join(root, folder.relativePath), when, when);
      } catch {
        // a folder that could not be made was reported with its files
      }
    }
    if (options.flush(root)) {
      for (const folder of [...plan.folders.map((f) => join(root, f.relativePath)), root]) {
        try {
          flushFolder(folder);
        } catch {
          // reported with its files if it is unusable
        }
      }
    }
  }
  const done = results.filter((r): r is { file: PlannedFile; result: FileResult } => r !== undefined);
  const completeRoots = plan.destinations.filter((root) =>
    done.every(({ result }) => result.destinations.some((d) => d.root === root && (d.status === "verified" || d.status === "present" || d.status === "size-checked" || d.status === "copied"))),
  );
  for (const root of completeRoots) rmSync(join(root, JOURNAL_NAME), { force: true });
  return { files: done, completeRoots, seconds: (performance.now() - started) / 1000 };
}

async function copyOne(
  file: PlannedFile, plan: OffloadPlan, options: OffloadOptions, journals: Map<string, Map<string, JournalRecord>>,
  hooks: { barrier: FlushBarrier; onWritten: () => void },
): Promise<FileResult> {
  const resumed: Array<DestinationOutcome & { root: string; resumed: true }> = [];
  const targets: Array<{ root: string; path: string; flush: boolean }> = [];
  let knownHexes: Map<Algorithm, string> | undefined;
  for (const root of plan.destinations) {
    const path = join(root, file.destinationPath);
    const record = journals.get(root)!.get(file.destinationPath);
    if (record && record.size === file.size && record.mtimeMs === file.mtimeMs && options.algorithms.every((a) => record.hexes[a])) {
      try {
        if (statSync(path).size === file.size) {
          knownHexes = new Map(options.algorithms.map((a) => [a, record.hexes[a]!]));
          resumed.push({ root, path, status: "verified", resumed: true, reason: "verified by the run that was interrupted (journal)" });
          continue;
        }
      } catch {
        // gone: copy again
      }
    }
    targets.push({ root, path, flush: options.flush(root) });
  }
  if (targets.length === 0) return { hexes: knownHexes!, destinations: resumed };
  let last = 0;
  const outcome = await copyFile(file.source, targets.map(({ path, flush }) => ({ path, flush })), {
    algorithms: options.algorithms,
    hasher: options.hasher,
    chunkSize: options.chunkSize,
    verify: options.verify,
    overwrite: options.overwrite,
    rateLimit: options.rateLimit,
    flushFolders: false,
    flushVia: (path, fsyncOwn) => hooks.barrier.wait(path, fsyncOwn),
    onWritten: hooks.onWritten,
    onProgress: (copied) => {
      options.onBytes?.(copied - last);
      last = copied;
    },
  });
  const destinations = [
    ...resumed,
    ...outcome.destinations.map((d, i) => ({ ...d, root: targets[i]!.root })),
  ];
  for (const d of destinations) {
    if ("resumed" in d || (d.status !== "verified" && d.status !== "present")) continue;
    appendJournal(d.root, { path: file.destinationPath, size: file.size, mtimeMs: file.mtimeMs, hexes: Object.fromEntries(outcome.hexes) });
  }
  return { hexes: outcome.hexes, destinations, ...(outcome.sourceError ? { sourceError: outcome.sourceError } : {}) };
}

/**
 * Parses a sed-style substitution, `s/REGEX/REPLACEMENT/` with optional `g` and `i` flags and
 * any delimiter, into a function applied to file names.
 * @example
 * parseRename("s/^A001/B001/")("A001C001.mov"); // "B001C001.mov"
 */
export function parseRename(expression: string): (name: string) => string {
  const delimiter = expression[1];
  if (!expression.startsWith("s") || !delimiter || /[\w\s\\]/.test(delimiter)) {
    throw new CliError(`invalid --rename '${expression}'; expected s/REGEX/REPLACEMENT/ (flags g, i)`);
  }
  const parts: string[] = [];
  let current = "";
  for (let i = 2; i < expression.length; i++) {
    const ch = expression[i]!;
    if (ch === "\\" && expression[i + 1] === delimiter) {
      current += delimiter;
      i++;
    } else if (ch === delimiter) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  if (parts.length !== 3 || !/^[gi]*$/.test(parts[2]!)) throw new CliError(`invalid --rename '${expression}'; expected s/REGEX/REPLACEMENT/ (flags g, i)`);
  let pattern: RegExp;
  try {
    pattern = new RegExp(parts[0]!, parts[2]);
  } catch (error) {
    throw new CliError(`invalid --rename '${expression}': ${(error as Error).message}`);
  }
  const replacement = parts[1]!.replace(/\\(\d)/g, "$$$1");
  return (name) => name.replace(pattern, replacement);
}

