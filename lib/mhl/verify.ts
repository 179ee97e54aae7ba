/**
 * `verify` and `diff`: compare a folder with its history. `verify` hashes every file with the
 * format of its original hash and compares; `diff` only compares names. Both report files
 * missing from the folder, files new to it, and (verify) files whose content changed. Nothing
 * is written.
 */
import { realpathSync } from "node:fs";
import { describeSystemError } from "../core/errors.ts";
import { joinPath, resolvePath, showName, xmlNameProblem } from "../core/names.ts";
import type { SpecialPolicy } from "../io/walk.ts";
import { nativeRuns, RUNS_FROM_FILES, RunsAhead, runThreads, runWork } from "../hash/native_batch.ts";
import { hashingPlan, hashInOrder } from "../hash/pool.ts";
import { NO_PROGRESS, type ProgressFactory } from "../core/sink.ts";
import { entriesError, mhlError, MhlExit } from "./exit_codes.ts";
import { algorithmOf } from "./formats.ts";
import { History, pathsOnDisk } from "./history.ts";
import { IgnoreSpec } from "./ignore.ts";
import type { MhlLog } from "./log.ts";
import type { HashEntry } from "./model.ts";
import { postOrderFolders, type TreeEntry, walkPolicies, withFilesBeneath } from "./tree.ts";

/** Options of {@link verifyFolder}. */
export interface VerifyOptions {
  /** Only this file is hashed (`-sf`). */
  singleFile?: string;
  /** Verify against this external packing list instead of the history (`-pl`). */
  packingList?: string;
  ignore?: string[];
  ignoreFile?: string;
  /** Files hashed at once (`--jobs`). @default files in slow formats spread over the cores (hashingPlan) */
  jobs?: number;
  /** Makes the progress sink, when progress is shown. */
  progress?: ProgressFactory;
  /** Compare names only (`diff`). */
  namesOnly?: boolean;
  /** Links met in the walk (lib/io/walk.ts); one that leaves the root is never followed. @default "follow" */
  links?: "follow" | "skip";
  /** FIFOs, sockets and devices. @default "fail" */
  special?: SpecialPolicy;
}

/** Recorded paths not found, minus ignored ones, sorted. */
export function missingPaths(notFound: Set<string>, ignore: IgnoreSpec, history: History): string[] {
  return [...notFound].filter((p) => !isIgnoredRecord(p, ignore, history)).sort();
}

/**
 * Recorded files that an ignore pattern now hides (one a later generation added, or `-i`): the
 * walk does not see them, so they are not verified. The reference passes them in silence; here
 * each is named.
 */
export function ignoredRecordedFiles(notFound: Set<string>, ignore: IgnoreSpec, history: History): string[] {
  return [...notFound]
    .filter((p) => {
      const { history: owner, path } = history.historyFor(p);
      return owner.latestMedia(path)?.isDirectory === false && isIgnoredRecord(p, ignore, history);
    })
    .sort();
}

function isIgnoredRecord(p: string, ignore: IgnoreSpec, history: History): boolean {
  const { history: owner, path } = history.historyFor(p);
  return ignore.ignores(p, owner.latestMedia(path)?.isDirectory ?? false);
}

/** The reference's report of missing files. */
export function reportMissing(missing: readonly string[], log: MhlLog): void {
  log.error(`ERROR: ${missing.length} missing file(s):`);
  for (const path of missing) {
    log.error(`  ${showName(path)}`);
    log.event({ event: "missing", path });
  }
}

/**
 * Verifies (or diffs) `root` against its history. Files are read beneath the root: a link is
 * followed only while it stays inside; one that leaves, dangles, or a FIFO is named and counted.
 * A name XML cannot hold (not UTF-8, a control character) cannot be in a history: it is reported
 * as a new file, with why.
 * @throws {CliError} 30 without history, 10 missing, 20 single file not found, 21 new files,
 *   11 mismatch (the last of these that applies, as the reference decides); 2 when nothing else
 *   failed but entries could not be examined (named as found).
 */
export async function verifyFolder(root: string, options: VerifyOptions, log: MhlLog): Promise<void> {
  log.verbose(`check folder at path: ${showName(root)}`);
  const history = options.packingList ? History.fromPackingList(options.packingList, root) : await History.load(root, "", { nested: "later" });
  if (history.generations.length === 0) throw mhlError(MhlExit.NoHistory, root);
  const ignore = IgnoreSpec.forRun(history.latestIgnorePatterns(), options.ignore ?? [], options.ignoreFile);
  const single = options.singleFile === undefined ? undefined : realpathOrSelf(resolvePath(root, options.singleFile));
  await withFilesBeneath(root, async (held, opened) => {
    let problems = 0;
    const nested: string[] = [];
    const folders = postOrderFolders(
      held,
      ignore,
      (path, message) => {
        problems++;
        log.error(`ERROR: ${showName(path)}: ${message}`);
      },
      { ...walkPolicies(options, log), onHistory: (path) => nested.push(path) },
    );
    if (!options.packingList) await history.attachNested(nested);
    // A nested history the latest generation references and that is gone: its files cannot be
    // verified (they are not new), and the run fails with the reference's "missing history".
    const lost = options.packingList ? [] : history.lostReferencedHistories();
    for (const root of lost) log.error(`ERROR: missing ASC MHL history at ${showName(root)} (a generation references it): files beneath it cannot be verified`);
    const lostRootOf = (path: string) => lost.find((root) => path.startsWith(`${root}/`));
    const notFound = history.expectedPaths();
    const onDisk = new Set<string>();
    for (const folder of folders) for (const entry of folder.entries) onDisk.add(entry.relativePath);
    // Also an ignored file: a recorded name in another normalization is not another name's while it is there.
    const present = pathsOnDisk(onDisk, held);
    const claimed = new Set<string>();

    const files: Array<{ entry: TreeEntry; original: HashEntry | undefined }> = [];
    let totalBytes = 0;
    for (const folder of folders) {
      for (const entry of folder.entries) {
        const at = history.locate(entry.relativePath, present, claimed, entry.isDirectory);
        // A file replaced by a folder of its name (or the reverse) leaves its record missing.
        if (History.sameKind(at, entry.isDirectory)) notFound.delete(history.recordedFromHere(at));
        if (entry.isDirectory) continue;
        const original = at.history.originalEntry(at.history.originalPathOf(at.recorded));
        if (single !== undefined && realpathOrSelf(entry.path) !== single) continue;
        files.push({ entry, original });
        if (original && !options.namesOnly) totalBytes += entry.size;
      }
    }

    let newFiles = 0;
    let unverified = 0;
    let mismatches = 0;
    let checked = 0;
    const progress = (options.namesOnly ? undefined : options.progress?.({ files: files.length, bytes: totalBytes })) ?? NO_PROGRESS;
    const recorded = files.flatMap(({ original }) => (original ? [algorithmOf(original.format)] : []));
    const hashing = hashingPlan(options.namesOnly ? 1 : options.jobs, new Set(recorded), recorded.length);
    // Small files in native runs when every recorded digest is in one XXH format.
    const formats = new Set(recorded);
    const native = !options.namesOnly && formats.size === 1 && recorded.length >= RUNS_FROM_FILES ? await nativeRuns([...formats], {}, runThreads(options.jobs)) : undefined;
    const ahead = native && new RunsAhead([...files], native, ({ entry, original }) => (original ? { folder: held, relative: entry.relativePath, size: entry.size } : undefined));
    try {
      await hashInOrder(
        files,
        hashing.parallelism,
        (file) => {
          const { entry, original } = file;
          // Asked for every file, hashed or not: the runs' list lets go of it.
          const run = ahead?.take(file);
          if (!original || options.namesOnly) return undefined;
          if (run) return runWork(algorithmOf(original.format), run);
          return opened.work(entry.relativePath, entry.path, [algorithmOf(original.format)]);
        },
        ({ entry, original }, result) => {
          if (result) opened.done(entry.relativePath);
          const path = entry.relativePath;
          const shown = showName(path);
          if (!original) {
            progress.clear();
            const lostRoot = lostRootOf(path);
            if (lostRoot !== undefined) {
              log.error(`ERROR: not verified: ${shown} (the ASC MHL history of ${showName(lostRoot)} is missing)`);
              log.event({ event: "unverified", path });
              unverified++;
              return;
            }
            const problem = xmlNameProblem(path);
            log.error(problem === undefined ? `found new file ${shown}` : `found new file ${shown} (its ${problem}: ASC MHL cannot record it)`);
            log.event({ event: "new", path });
            newFiles++;
            return;
          }
          checked++;
          if (options.namesOnly) return;
          if (!result?.ok) {
            progress.clear();
            log.error(`ERROR: could not read ${shown}: ${result ? describeSystemError(result) : "unknown error"}`);
            log.event({ event: "unreadable", path, message: result?.message });
            mismatches++;
            return;
          }
          progress.fileDone(result.size);
          const current = result.hexes[0]![1];
          if (current === original.value) {
            log.verbose(`verification (${original.format}) of file ${shown}: OK`);
            log.event({ event: "ok", path, format: original.format, hash: current });
          } else {
            progress.clear();
            log.error(`ERROR: hash mismatch        for ${shown} old ${original.format}: ${original.value}, new ${original.format}: ${current}`);
            log.event({ event: "mismatch", path, format: original.format, expected: original.value, hash: current });
            mismatches++;
          }
        },
        hashing.options,
      );
    } finally {
      ahead?.settle();
    }
    progress.finish();

    const missing = missingPaths(notFound, ignore, history);
    if (missing.length > 0) reportMissing(missing, log);
    const ignored = ignoredRecordedFiles(notFound, ignore, history);
    for (const path of ignored) {
      log.error(`note: not verified: ${showName(path)} (recorded in the history, now matched by an ignore pattern)`);
      log.event({ event: "ignored", path });
    }
    let code: number = missing.length > 0 ? MhlExit.MissingFiles : MhlExit.Ok;
    if (options.namesOnly) {
      if (code === MhlExit.Ok && newFiles > 0) code = MhlExit.NewFiles;
    } else {
      // Only a named file that is not there is an error: a history of folders and no files verifies.
      if (single !== undefined && checked === 0) code = MhlExit.SingleFileNotFound;
      if (newFiles > 0) code = MhlExit.NewFiles;
      if (mismatches > 0) code = MhlExit.HashMismatch;
    }
    // As create does: after missing files and mismatches, a lost nested history fails the run.
    if (lost.length > 0 && code !== MhlExit.MissingFiles && code !== MhlExit.HashMismatch) code = MhlExit.NoHistory;
    log.event({ event: "result", exitCode: code, checked, newFiles, unverified, mismatches, missing: missing.length, ignored: ignored.length, problems });
    if (code === MhlExit.NoHistory) throw mhlError(code, lost.map((child) => joinPath(root, child)).join(", "));
    if (code !== MhlExit.Ok) throw mhlError(code, root);
    if (problems > 0) throw entriesError(problems, "examined");
  });
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
