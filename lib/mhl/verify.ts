/**
 * `verify` and `diff`: compare a folder with its history. `verify` hashes every file with the
 * format of its original hash and compares; `diff` only compares names. Both report files
 * missing from the folder, files new to it, and (verify) files whose content changed. Nothing
 * is written.
 */
import { realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { hashInOrder } from "../hash/pool.ts";
import { NO_PROGRESS, type ProgressFactory } from "../core/sink.ts";
import { mhlError, MhlExit } from "./exit_codes.ts";
import { algorithmOf } from "./formats.ts";
import { History } from "./history.ts";
import { IgnoreSpec } from "./ignore.ts";
import type { MhlLog } from "./log.ts";
import type { HashEntry } from "./model.ts";
import { pathKey } from "./paths.ts";
import { postOrderFolders, type TreeEntry } from "./tree.ts";

/** Options of {@link verifyFolder}. */
export interface VerifyOptions {
  /** Only this file is hashed (`-sf`). */
  singleFile?: string;
  /** Verify against this external packing list instead of the history (`-pl`). */
  packingList?: string;
  ignore?: string[];
  ignoreFile?: string;
  jobs?: number;
  /** Makes the progress sink, when progress is shown. */
  progress?: ProgressFactory;
  /** Compare names only (`diff`). */
  namesOnly?: boolean;
}

/** Recorded paths not found, minus ignored ones, sorted. */
export function missingPaths(notFound: Set<string>, ignore: IgnoreSpec, history: History): string[] {
  return [...notFound]
    .filter((p) => {
      const { history: owner, path } = history.historyFor(p);
      return !ignore.ignores(p, owner.latestMedia(path)?.isDirectory ?? false);
    })
    .sort();
}

/** The reference's report of missing files. */
export function reportMissing(missing: readonly string[], log: MhlLog): void {
  log.error(`ERROR: ${missing.length} missing file(s):`);
  for (const path of missing) {
    log.error(`  ${path}`);
    log.event({ event: "missing", path });
  }
}

/**
 * Verifies (or diffs) `root` against its history.
 * @throws {CliError} 30 without history, 10 missing, 20 single file not found, 21 new files,
 *   11 mismatch (the last of these that applies, as the reference decides).
 */
export async function verifyFolder(root: string, options: VerifyOptions, log: MhlLog): Promise<void> {
  log.verbose(`check folder at path: ${root}`);
  const history = options.packingList ? History.fromPackingList(options.packingList, root) : await History.load(root);
  if (history.generations.length === 0) throw mhlError(MhlExit.NoHistory, root);
  const ignore = IgnoreSpec.forRun(history.latestIgnorePatterns(), options.ignore ?? [], options.ignoreFile);
  const renames = history.renames();
  const notFound = new Set([...history.recordedPaths()].map((p) => renames.get(p) ?? p));
  const single = options.singleFile === undefined ? undefined : realpathOrSelf(resolve(root, options.singleFile));

  const files: Array<{ entry: TreeEntry; original: HashEntry | undefined }> = [];
  let totalBytes = 0;
  for (const folder of postOrderFolders(root, ignore, (path, message) => log.error(`${path}: ${message}`))) {
    for (const entry of folder.entries) {
      notFound.delete(pathKey(entry.relativePath));
      if (entry.isDirectory) continue;
      const { history: owner, path } = history.historyFor(entry.relativePath);
      const original = owner.originalEntry(owner.originalPathOf(path));
      if (single !== undefined && realpathOrSelf(entry.path) !== single) continue;
      files.push({ entry, original });
      if (original && options.progress && !options.namesOnly) totalBytes += statSync(entry.path).size;
    }
  }

  let newFiles = 0;
  let mismatches = 0;
  let checked = 0;
  const progress = (options.namesOnly ? undefined : options.progress?.({ files: files.length, bytes: totalBytes })) ?? NO_PROGRESS;
  await hashInOrder(
    files,
    options.namesOnly ? 1 : (options.jobs ?? 1),
    ({ entry, original }) => (original && !options.namesOnly ? { job: { path: entry.path, algorithms: [algorithmOf(original.format)], options: {} } } : undefined),
    ({ entry, original }, result) => {
      const path = entry.relativePath;
      if (!original) {
        progress.clear();
        log.error(`found new file ${path}`);
        log.event({ event: "new", path });
        newFiles++;
        return;
      }
      checked++;
      if (options.namesOnly) return;
      if (!result || !result.ok) {
        progress.clear();
        log.error(`ERROR: could not read ${path}: ${result?.message ?? "unknown error"}`);
        log.event({ event: "unreadable", path, message: result?.message });
        mismatches++;
        return;
      }
      progress.fileDone(result.size);
      const current = result.hexes[0]![1];
      if (current === original.value) {
        log.verbose(`verification (${original.format}) of file ${path}: OK`);
        log.event({ event: "ok", path, format: original.format, hash: current });
      } else {
        progress.clear();
        log.error(`ERROR: hash mismatch        for ${path} old ${original.format}: ${original.value}, new ${original.format}: ${current}`);
        log.event({ event: "mismatch", path, format: original.format, expected: original.value, hash: current });
        mismatches++;
      }
    },
  );
  progress.finish();

  const missing = missingPaths(notFound, ignore, history);
  if (missing.length > 0) reportMissing(missing, log);
  let code: number = missing.length > 0 ? MhlExit.MissingFiles : MhlExit.Ok;
  if (options.namesOnly) {
    if (code === MhlExit.Ok && newFiles > 0) code = MhlExit.NewFiles;
  } else {
    if (checked === 0) code = MhlExit.SingleFileNotFound;
    if (newFiles > 0) code = MhlExit.NewFiles;
    if (mismatches > 0) code = MhlExit.HashMismatch;
  }
  log.event({ event: "result", exitCode: code, checked, newFiles, mismatches, missing: missing.length });
  if (code !== MhlExit.Ok) throw mhlError(code, root);
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
