/**
 * `verify -dh`: recompute the content and structure hash of every folder and compare them with
 * the directory hashes of every generation (root hashes for the root and for the roots of
 * nested histories). A format fails when any folder mismatches; the run fails (12) when every
 * format compared failed.
 */
import { CliError, usageError } from "../core/errors.ts";
import { NO_PROGRESS, type ProgressFactory } from "../core/sink.ts";
import { hashingPlan, hashInOrder } from "../hash/pool.ts";
import { DirectoryHash } from "./directory_hash.ts";
import { entriesError, mhlError, MhlExit } from "./exit_codes.ts";
import { algorithmOf, type HashFormat } from "./formats.ts";
import { History, pathsOnDisk } from "./history.ts";
import { IgnoreSpec } from "./ignore.ts";
import type { MhlLog } from "./log.ts";
import type { HashEntry } from "./model.ts";
import { exactKey } from "./paths.ts";
import { type FilesBeneath, postOrderFolders, withFilesBeneath, type TreeEntry, type TreeFolder } from "./tree.ts";
import type { HeldFolder } from "../io/held_folder.ts";
import { showName } from "../core/names.ts";

/** Options of {@link verifyDirectoryHashes}. */
export interface DirectoryVerifyOptions {
  format?: HashFormat;
  ignore?: string[];
  ignoreFile?: string;
  /** Print the hashes, compare nothing (`-co`). */
  calculateOnly?: boolean;
  /** Only the root folder (`-ro`). */
  rootOnly?: boolean;
  /**
   * Files hashed at once (`--jobs`).
   * @default files in slow formats spread over the cores (hashingPlan)
   */
  jobs?: number;
  /**
   * Makes the progress sink, when progress is shown.
   */
  progress?: ProgressFactory;
}

/** Recorded directory hashes of a folder (relative to its history), with their generation. */
function recorded(history: History, path: string): Array<{ entry: HashEntry; generation: number }> {
  const out: Array<{ entry: HashEntry; generation: number }> = [];
  for (const g of history.generations) {
    if (path === ".") for (const entry of g.generation.processInfo.rootHash) out.push({ entry, generation: g.number });
    else {
      const media = g.byPath.get(exactKey(path));
      if (media?.isDirectory && exactKey(media.path) === exactKey(path)) for (const entry of media.entries) out.push({ entry, generation: g.number });
    }
  }
  return out;
}

/**
 * Verifies the directory hashes of `root`.
 * @throws {CliError} 12 when every compared format had a mismatch.
 */
export async function verifyDirectoryHashes(root: string, options: DirectoryVerifyOptions, log: MhlLog): Promise<void> {
  await withFilesBeneath(root, (held, opened) => verifyIn(held, opened, options, log));
}

async function verifyIn(held: HeldFolder, opened: FilesBeneath, options: DirectoryVerifyOptions, log: MhlLog): Promise<void> {
  const root = held.path;
  log.verbose(`check folder at path: ${showName(root)}`);
  const history = await History.load(root);
  const ignore = IgnoreSpec.forRun(history.latestIgnorePatterns(), options.ignore ?? [], options.ignoreFile);
  // The formats of the root hashes (a root hash covers every file beneath it), and of the folders' hashes.
  const rootFormats = new Set<HashFormat>();
  const folderFormats = new Set<HashFormat>();
  for (const g of history.generations) {
    for (const e of g.generation.processInfo.rootHash) rootFormats.add(e.format);
    for (const media of g.byPath.values()) if (media.isDirectory) for (const e of media.entries) folderFormats.add(e.format);
  }
  const recordedFormats = new Set([...rootFormats, ...folderFormats]);
  if (!options.calculateOnly) {
    // A format no generation holds a directory hash in would compare nothing, and say so by exiting 0.
    const held = [...recordedFormats].sort();
    if (held.length === 0) throw usageError("the history holds no directory hashes (its generations were made with -n); nothing would be compared");
    if (options.format && !recordedFormats.has(options.format)) throw usageError(`-h ${options.format}: the history holds no directory hashes in ${options.format} (it holds ${held.join(", ")}); nothing would be compared`);
  }
  // Asked for, else the root hashes'; with none (a name ASC MHL cannot hold left every root
  // incomplete), the folders' hashes, which are still to be compared.
  const formats: HashFormat[] = options.format ? [options.format] : [...(rootFormats.size > 0 ? rootFormats : folderFormats)];
  if (formats.length === 0) formats.push("c4");
  formats.sort();

  const failedFormats = new Set<HashFormat>();
  const computed = new Map<string, Map<HashFormat, { content: string; structure: string }>>();
  // Every file is hashed on the pool (`--jobs`); results come back in walk order, so each folder
  // is finished after its files, exactly as in a serial walk.
  type Item = { kind: "file"; entry: TreeEntry } | { kind: "folder"; folder: TreeFolder };
  let problems = 0;
  const items: Item[] = postOrderFolders(held, ignore, (path, message) => {
    problems++;
    log.error(`ERROR: ${showName(path)}: ${message}`);
  }).flatMap((folder): Item[] => [...folder.entries.filter((e) => !e.isDirectory).map((entry): Item => ({ kind: "file", entry })), { kind: "folder", folder }]);
  const fileHashes = new Map<string, Map<string, string>>();
  const files = items.flatMap((i) => (i.kind === "file" ? [i.entry] : []));
  // A folder is compared with its record under its own name or, as verify finds files, under
  // the one name the history holds for it in another normalization.
  const found = new Set<string>();
  for (const item of items) if (item.kind === "folder") for (const entry of item.folder.entries) found.add(entry.relativePath);
  const present = pathsOnDisk(found, held);
  const claimed = new Set<string>();
  const progress = options.progress?.({ files: files.length, bytes: files.reduce((sum, e) => sum + e.size, 0) }) ?? NO_PROGRESS;
  const hashing = hashingPlan(options.jobs, formats.map(algorithmOf), files.length);
  await hashInOrder(
    items,
    hashing.parallelism,
    (item) => (item.kind === "file" ? opened.work(item.entry.relativePath, item.entry.path, formats.map(algorithmOf)) : undefined),
    async (item, result) => {
      if (item.kind === "file") {
        if (result) opened.done(item.entry.relativePath);
        if (!result?.ok) throw new CliError(result?.message ?? "could not be hashed", { path: item.entry.path });
        fileHashes.set(item.entry.relativePath, new Map(result.hexes));
        progress.fileDone(result.size);
        return;
      }
      progress.clear();
      const folder = item.folder;
      const contexts = new Map(formats.map((f) => [f, new DirectoryHash(f)]));
      for (const child of folder.entries) {
        if (child.isDirectory) {
          const sub = computed.get(child.relativePath)!;
          computed.delete(child.relativePath);
          for (const [f, dir] of contexts) dir.addDirectory(child.name, sub.get(f)!.content, sub.get(f)!.structure);
        } else {
          const hexes = fileHashes.get(child.relativePath)!;
          fileHashes.delete(child.relativePath);
          for (const [f, dir] of contexts) dir.addFile(child.name, hexes.get(algorithmOf(f))!);
        }
      }
      const hashes = new Map<HashFormat, { content: string; structure: string }>();
      for (const [f, dir] of contexts) hashes.set(f, await dir.finish());
      computed.set(folder.relativePath, hashes);
      const label = folder.relativePath === "" ? "." : showName(folder.relativePath);
      for (const [f, h] of hashes) {
        log.event({ event: "directory", path: folder.relativePath === "" ? "." : folder.relativePath, format: f, content: h.content, structure: h.structure });
        if (options.calculateOnly && (!options.rootOnly || label === ".")) {
          log.info(label === "." ? `  calculated root hash  ${f}: ${h.content} (content), ${h.structure} (structure)` : `  calculated directory hash for ${label}  ${f}: ${h.content} (content), ${h.structure} (structure)`);
        }
      }
      if (options.calculateOnly || (options.rootOnly && label !== ".")) return;
      const at = history.locate(folder.relativePath, present, claimed, true);
      const { history: owner, path } = at;
      const records = recorded(owner, at.recorded);
      if (owner !== history && path === "." && owner.parent) records.push(...recorded(owner.parent, owner.parent.relativeFromHere(owner)));
      for (const { entry, generation } of records) {
        const h = hashes.get(entry.format);
        if (!h) continue;
        const tag = `(generation ${String(generation).padStart(4, "0")})`;
        if (h.content === entry.value && h.structure === entry.structure) {
          log.verbose(label === "." ? `  verification of root folder   OK ${tag}` : `  verification of folder        ${label} OK ${tag}`);
          continue;
        }
        failedFormats.add(entry.format);
        if (h.content !== entry.value) log.error(`ERROR: content hash mismatch   for ${label} old ${entry.format}: ${entry.value}, new ${entry.format}: ${h.content} ${tag}`);
        if (h.structure !== entry.structure) log.error(`ERROR: structure hash mismatch for ${label} old ${entry.format}: ${entry.structure}, new ${entry.format}: ${h.structure} ${tag}`);
        log.event({ event: "directory-mismatch", path: folder.relativePath === "" ? "." : folder.relativePath, format: entry.format, generation });
      }
    },
    hashing.options,
  );
  progress.finish();
  if (failedFormats.size > 0 && failedFormats.size === formats.length) throw mhlError(MhlExit.DirectoryHashMismatch);
  if (problems > 0) throw entriesError(problems, "examined");
}
