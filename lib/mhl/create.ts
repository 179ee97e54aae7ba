/**
 * `create`: hash a folder (or single files) and write a new generation into its history and
 * every nested history. The first generation records `original` hashes; later ones verify the
 * recorded hashes (`verified` / `failed`), add new files as `original`, and are written even when
 * something failed — the generation documents the failure — before the run exits non-zero.
 */
import { statSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import { hashInOrder, type HashJobResult } from "../hash/pool.ts";
import { CliError } from "../cli/errors.ts";
import { Progress } from "../cli/progress.ts";
import { isoDate, now } from "./dates.ts";
import { DirectoryHash } from "./directory_hash.ts";
import { mhlError, MhlExit } from "./exit_codes.ts";
import { algorithmOf, inXsdOrder, type HashFormat } from "./formats.ts";
import { History } from "./history.ts";
import { IgnoreSpec } from "./ignore.ts";
import type { MhlLog } from "./log.ts";
import type { HashEntry } from "./model.ts";
import { baseName, pathKey } from "./paths.ts";
import { GenerationSession, type CreatorOptions } from "./session.ts";
import { postOrderFolders, type TreeEntry } from "./tree.ts";
import { missingPaths, reportMissing } from "./verify.ts";

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
  progress?: boolean;
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

  const plan = (relativePath: string, path: string) => {
    const { history: owner, path: inner } = history.historyFor(relativePath);
    return { path, algorithms: formatsFor(owner.existingFormats(inner), requested).map(algorithmOf), options: {} };
  };
  const hexesOf = (result: HashJobResult | undefined, path: string): { hexes: Map<HashFormat, string>; size: number } => {
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
    await hashInOrder(entries, options.jobs ?? 1, (e) => ({ job: plan(e.relativePath, e.path) }), (e, result) => {
      const { hexes, size } = hexesOf(result, e.path);
      sealFile(e.relativePath, hexes, size, statSync(e.path).mtime);
    });
    await session.commit(date, options, log);
    if (failures > 0) throw mhlError(MhlExit.HashMismatch);
    return;
  }

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
        totalBytes += statSync(entry.path).size;
      }
    }
    items.push({ kind: "folder", relativePath: folder.relativePath, path: folder.path, children: folder.entries });
  }
  const progress = new Progress({ enabled: options.progress ?? false, totalFiles, totalBytes });

  const fileHashes = new Map<string, Map<HashFormat, string>>();
  const folderHashes = new Map<string, Map<HashFormat, { content: string; structure: string }>>();
  const newFiles: string[] = [];
  await hashInOrder(items, options.jobs ?? 1, (item) => (item.kind === "file" ? { job: plan(item.entry.relativePath, item.entry.path) } : undefined), async (item, result) => {
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

  if (options.detectRenaming) detectRenames(history, session, notFound, newFiles, log);
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
}

/**
 * Pairs files not found any more with new files of the same hash, records the old name as
 * `previousPath` of the new entry and drops it from the missing ones (`-dr`).
 */
function detectRenames(history: History, session: GenerationSession, notFound: Set<string>, newFiles: string[], log: MhlLog): void {
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
}

