/**
 * `create`: hash a folder (or single files) and write a new generation into its history and
 * every nested history. The first generation records `original` hashes; later ones verify the
 * recorded hashes (`verified` / `failed`), add new files as `original`, and are written even when
 * something failed — the generation documents the failure — before the run exits non-zero.
 */
import { existsSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { hashInOrder, type HashJobResult, type Work } from "../hash/pool.ts";
import { CliError } from "../core/errors.ts";
import { NO_PROGRESS, type ProgressFactory } from "../core/sink.ts";
import { isoDate, now } from "./dates.ts";
import { DirectoryHash } from "./directory_hash.ts";
import { mhlError, MhlExit } from "./exit_codes.ts";
import { algorithmOf, inXsdOrder, type HashFormat } from "./formats.ts";
import { History, HISTORY_FOLDER } from "./history.ts";
import { IgnoreSpec } from "./ignore.ts";
import type { MhlLog } from "./log.ts";
import type { HashEntry } from "./model.ts";
import { baseName, parentPath, pathKey } from "./paths.ts";
import { GenerationSession, type CreatorOptions } from "./session.ts";
import { postOrderFolders, type TreeEntry } from "./tree.ts";
import { missingPaths, reportMissing } from "./verify.ts";

/** Digests a caller already computed for a file (e.g. while copying it), and the file's state then. */
export interface KnownDigest {
  /** Size in bytes when the digests were computed. */
  size: number;
  /** `mtimeMs` as `stat` reported it when the digests were computed. */
  mtimeMs: number;
  /** Canonical digests (as the hashers print them), by format. */
  hexes: Map<HashFormat, string>;
}

/** Options of {@link createGeneration}. */
export interface CreateOptions extends CreatorOptions {
  formats: HashFormat[];
  noDirectoryHashes?: boolean;
  detectRenaming?: boolean;
  /** Files or folders to record alone (`-sf`): no completeness check, no directory hashes. */
  singleFiles?: string[];
  ignore?: string[];
  ignoreFile?: string;
  jobs?: number;
  /** Makes the progress sink, when progress is shown. */
  progress?: ProgressFactory;
  /**
   * Digests the caller already has, by root-relative `/`-separated path (compared in NFC). A
   * file is not read when its size and mtime (stat, now) equal the entry's exactly and every
   * format it needs is present; otherwise it is hashed as usual.
   */
  knownDigests?: Map<string, KnownDigest>;
}

/** Formats to compute for a path: recorded ones that were asked for (or the first recorded), then the new ones. */
function formatsFor(existing: HashFormat[], requested: HashFormat[]): HashFormat[] {
  const out = existing.filter((f) => requested.includes(f));
  if (existing.length > 0 && out.length === 0) out.push(existing[0]!);
  for (const f of requested) if (!out.includes(f)) out.push(f);
  return out;
}

type Item =
  | { kind: "file"; entry: TreeEntry }
  | { kind: "folder"; relativePath: string; path: string; children: TreeEntry[] };

/**
 * Creates a new generation for `root`.
 * @throws {CliError} with the reference's exit code after writing, when files were missing (10)
 *   or failed verification (11).
 */
export async function createGeneration(root: string, options: CreateOptions, log: MhlLog): Promise<void> {
  const date = now();
  const hashDate = isoDate(date);
  const history = await History.load(root);
  const ignore = IgnoreSpec.forRun(history.latestIgnorePatterns(), options.ignore ?? [], options.ignoreFile);
  const session = new GenerationSession(history, ignore);
  const requested = inXsdOrder(options.formats);
  log.verbose(`Creating new generation for folder at path: ${root} ...`);

  let failures = 0;
  const sealFile = (relativePath: string, hexes: Map<HashFormat, string>, size: number, mtime: Date): void => {
    const { history: owner, path } = history.historyFor(relativePath);
    const existing = owner.existingFormats(path);
    const original = owner.originalEntry(path);
    const entries: HashEntry[] = [];
    let existingVerified = true;
    for (const format of existing) {
      const value = hexes.get(format);
      if (value === undefined) continue;
      const recorded = owner.firstEntry(path, format)!;
      if (recorded.value === value) {
        entries.push({ format, value, action: "verified", hashDate });
        log.verbose(`  verified                      ${relativePath}  ${format}: OK`);
        log.event({ event: "verified", path: relativePath, format, hash: value });
      } else {
        existingVerified = false;
        failures++;
        entries.push({ format, value, action: "failed", hashDate });
        log.error(`ERROR: hash mismatch for        ${relativePath}  ${format} (old): ${recorded.value}, ${format} (new): ${value}`);
        log.event({ event: "failed", path: relativePath, format, expected: recorded.value, hash: value });
      }
    }
    for (const [format, value] of hexes) {
      if (existing.includes(format)) continue;
      if (!original) {
        entries.push({ format, value, action: "original", hashDate });
        log.verbose(`  created original hash for     ${relativePath}  ${format}: ${value}`);
        log.event({ event: "original", path: relativePath, format, hash: value });
      } else if (existingVerified) {
        entries.push({ format, value, action: "verified", hashDate });
        log.verbose(`  created new (verif.) hash for ${relativePath}  ${format}: ${value}`);
        log.event({ event: "new", path: relativePath, format, hash: value });
      }
    }
    const media = session.media(owner, path, { isDirectory: false, size, lastModified: isoDate(mtime) });
    for (const e of entries) if (!media.entries.some((m) => m.format === e.format)) media.entries.push(e);
  };

  const known = new Map([...(options.knownDigests ?? [])].map(([path, digest]) => [pathKey(path), digest]));
  // Files whose known digests still describe them get no job (a job-less item does not hold up
  // the workers, as work run in this thread would); their result waits here, by absolute path.
  const fromKnown = new Map<string, HashJobResult>();
  /** The hashing job for a file, or nothing when its known digests still describe it. */
  const plan = (relativePath: string, path: string): Work => {
    const { history: owner, path: inner } = history.historyFor(relativePath);
    const formats = formatsFor(owner.existingFormats(inner), requested);
    const digest = known.get(pathKey(relativePath));
    if (digest && formats.every((f) => digest.hexes.has(f))) {
      const stat = statSync(path);
      if (stat.size === digest.size && stat.mtimeMs === digest.mtimeMs) {
        fromKnown.set(path, { id: -1, ok: true, hexes: formats.map((f) => [f, digest.hexes.get(f)!]), size: stat.size });
        return undefined;
      }
    }
    return { job: { path, algorithms: formats.map(algorithmOf), options: {} } };
  };
  const hexesOf = (hashed: HashJobResult | undefined, path: string): { hexes: Map<HashFormat, string>; size: number } => {
    const result = hashed ?? fromKnown.get(path);
    fromKnown.delete(path);
    if (!result || !result.ok) throw new CliError(result?.message ?? "could not be hashed", { path });
    return { hexes: new Map(result.hexes as [HashFormat, string][]), size: result.size };
  };

  if (options.singleFiles && options.singleFiles.length > 0) {
    const entries: TreeEntry[] = [];
    for (const given of options.singleFiles) {
      const absolute = resolve(given);
      const rel = relative(root, absolute).split("\\").join("/");
      if (rel.startsWith("..") || isAbsolute(rel)) throw new CliError("is not inside the root folder", { path: given });
      if (statSync(absolute).isDirectory()) {
        for (const folder of postOrderFolders(absolute, ignore)) {
          for (const e of folder.entries) if (!e.isDirectory) entries.push({ ...e, relativePath: relative(root, e.path).split("\\").join("/") });
        }
      } else entries.push({ name: baseName(rel), relativePath: rel, path: absolute, isDirectory: false });
    }
    await hashInOrder(entries, options.jobs ?? 1, (e) => plan(e.relativePath, e.path), (e, result) => {
      const { hexes, size } = hexesOf(result, e.path);
      sealFile(e.relativePath, hexes, size, statSync(e.path).mtime);
    });
    await session.commit(date, options, log);
    if (failures > 0) throw mhlError(MhlExit.HashMismatch);
    return;
  }

  // Child histories the latest generation references, by their root relative to this one.
  const referencedChildren = (history.generations.at(-1)?.generation.references ?? [])
    .map((ref) => parentPath(parentPath(pathKey(ref.path))))
    .filter((child) => child !== "" && !existsSync(join(root, ...child.split("/"), HISTORY_FOLDER)));
  const renames = history.renames();
  const notFound = new Set([...history.recordedPaths()].map((p) => renames.get(p) ?? p));
  const folders = postOrderFolders(root, ignore, (path, message) => log.error(`${path}: ${message}`));
  const items: Item[] = [];
  let totalBytes = 0;
  let totalFiles = 0;
  for (const folder of folders) {
    for (const entry of folder.entries) {
      notFound.delete(pathKey(entry.relativePath));
      if (!entry.isDirectory) {
        items.push({ kind: "file", entry });
        totalFiles++;
        if (options.progress) totalBytes += statSync(entry.path).size;
      }
    }
    items.push({ kind: "folder", relativePath: folder.relativePath, path: folder.path, children: folder.entries });
  }
  const progress = options.progress?.({ files: totalFiles, bytes: totalBytes }) ?? NO_PROGRESS;

  const fileHashes = new Map<string, Map<HashFormat, string>>();
  const folderHashes = new Map<string, Map<HashFormat, { content: string; structure: string }>>();
  const newFiles: string[] = [];
  const newFolders: string[] = [];
  await hashInOrder(items, options.jobs ?? 1, (item) => (item.kind === "file" ? plan(item.entry.relativePath, item.entry.path) : undefined), async (item, result) => {
    if (item.kind === "file") {
      const { hexes, size } = hexesOf(result, item.entry.path);
      progress.fileDone(size);
      progress.clear();
      const { history: owner, path } = history.historyFor(item.entry.relativePath);
      if (!owner.originalEntry(owner.originalPathOf(path))) newFiles.push(item.entry.relativePath);
      sealFile(item.entry.relativePath, hexes, size, statSync(item.entry.path).mtime);
      fileHashes.set(item.entry.relativePath, hexes);
      return;
    }
    const hashes = new Map<HashFormat, { content: string; structure: string }>();
    if (!options.noDirectoryHashes) {
      for (const format of requested) {
        const dir = new DirectoryHash(format);
        for (const child of item.children) {
          if (child.isDirectory) {
            const sub = folderHashes.get(child.relativePath)!.get(format)!;
            dir.addDirectory(child.name, sub.content, sub.structure);
          } else dir.addFile(child.name, fileHashes.get(child.relativePath)!.get(format)!);
        }
        hashes.set(format, await dir.finish());
      }
      for (const child of item.children) {
        if (child.isDirectory) folderHashes.delete(child.relativePath);
        else fileHashes.delete(child.relativePath);
      }
    }
    folderHashes.set(item.relativePath, hashes);
    if (item.relativePath !== "" && !history.historyFor(item.relativePath).history.latestMedia(history.historyFor(item.relativePath).path) && !recordedAsChildRoot(history, item.relativePath)) newFolders.push(item.relativePath);
    const entries: HashEntry[] = [...hashes].map(([format, h]) => ({ format, value: h.content, structure: h.structure, hashDate }));
    for (const [format, h] of hashes) {
      log.verbose(item.relativePath === ""
        ? `  calculated root hash  ${format}: ${h.content} (content), ${h.structure} (structure)`
        : `  calculated directory hash for ${item.relativePath}  ${format}: ${h.content} (content), ${h.structure} (structure)`);
      log.event({ event: "directory", path: item.relativePath === "" ? "." : item.relativePath, format, content: h.content, structure: h.structure });
    }
    if (hashes.size === 0 && item.relativePath !== "") log.verbose(`  added directory entry for     ${item.relativePath}`);
    const lastModified = isoDate(statSync(item.path).mtime);
    const { history: owner, path } = history.historyFor(item.relativePath);
    if (path === ".") {
      session.setRootHash(owner, entries);
      // The root of a nested history is also a folder of its parent history.
      if (owner.parent) session.media(owner.parent, owner.parent.relativeFromHere(owner), { isDirectory: true, lastModified }).entries.push(...entries.map((e) => ({ ...e })));
    } else {
      session.media(owner, path, { isDirectory: true, lastModified }).entries.push(...entries);
    }
  });
  progress.finish();

  let lostHistories = referencedChildren;
  if (options.detectRenaming) {
    const renamedFolders = detectRenames(history, session, notFound, newFiles, newFolders, log);
    // A child history that moved with its renamed folder is not lost; one whose folder was
    // renamed and lost its ascmhl/ is reported under its new name, as the reference does.
    lostHistories = lostHistories.flatMap((child) => {
      const to = renamedFolders.get(child);
      if (to === undefined) return [child];
      return existsSync(join(root, ...to.split("/"), HISTORY_FOLDER)) ? [] : [to];
    });
  }
  await session.commit(date, options, log);

  const missing = missingPaths(notFound, ignore, history);
  if (failures > 0) {
    if (missing.length > 0) reportMissing(missing, log);
    throw mhlError(MhlExit.HashMismatch);
  }
  if (missing.length > 0) {
    reportMissing(missing, log);
    throw mhlError(MhlExit.MissingFiles);
  }
  // Like the reference: the generation is written, then a referenced child history whose
  // ascmhl/ folder is gone fails the run (30), after missing files and mismatches.
  if (lostHistories.length > 0) throw mhlError(MhlExit.NoHistory, lostHistories.map((child) => join(root, ...child.split("/"))).join(", "));
}

/** True when a folder is the root of a nested history the outer history references (it has no entry of its own). */
function recordedAsChildRoot(history: History, relativePath: string): boolean {
  return history.historyFor(relativePath).path === ".";
}

/**
 * Pairs files not found any more with new files of the same hash, records the old name as
 * `previousPath` of the new entry and drops it from the missing ones (`-dr`). Folders are paired
 * the same way by their content hash (as the reference does), the previous path recorded on the
 * new folder's entry.
 * @returns renamed folders, old path → new path (relative to the root).
 */
function detectRenames(history: History, session: GenerationSession, notFound: Set<string>, newFiles: string[], newFolders: string[], log: MhlLog): Map<string, string> {
  const renamedFolders = new Map<string, string>();
  for (const newPath of newFolders) {
    const { history: owner, path } = history.historyFor(newPath);
    const media = session.find(owner, path);
    if (!media || media.entries.length === 0) continue;
    for (const oldPath of notFound) {
      const old = history.historyFor(oldPath);
      if (old.history !== owner || !owner.latestMedia(old.path)?.isDirectory) continue;
      const oldEntry = owner.firstEntry(old.path);
      const current = oldEntry && media.entries.find((e) => e.format === oldEntry.format);
      if (!current || current.value !== oldEntry!.value) continue;
      if (baseName(newPath) !== baseName(oldPath)) log.info(`a renamed folder was detected: from ${old.path} to ${path}`);
      media.previousPath = old.path;
      log.event({ event: "renamed", from: oldPath, to: newPath });
      notFound.delete(oldPath);
      renamedFolders.set(oldPath, newPath);
      break;
    }
  }
  for (const newPath of newFiles) {
    const { history: owner, path } = history.historyFor(newPath);
    const media = session.find(owner, path);
    if (!media) continue;
    for (const oldPath of notFound) {
      const old = history.historyFor(oldPath);
      if (old.history !== owner) continue;
      const oldEntry = owner.firstEntry(old.path);
      if (!oldEntry || owner.latestMedia(old.path)?.isDirectory) continue;
      const current = media.entries.find((e) => e.format === oldEntry.format);
      if (!current || current.value !== oldEntry.value) continue;
      if (baseName(newPath) !== baseName(oldPath)) log.info(`a renamed file was detected: from ${old.path} to ${newPath}`);
      media.previousPath = old.path;
      log.event({ event: "renamed", from: oldPath, to: newPath });
      notFound.delete(oldPath);
      break;
    }
  }
  // A folder whose recorded files were all found under new names was renamed, not lost.
  for (const path of [...notFound]) {
    const { history: owner, path: inner } = history.historyFor(path);
    if (!owner.latestMedia(inner)?.isDirectory) continue;
    if (![...notFound].some((other) => other.startsWith(`${path}/`))) notFound.delete(path);
  }
  return renamedFolders;
}

