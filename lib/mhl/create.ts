/**
 * `create`: hash a folder (or single files) and write a new generation into its history and
 * every nested history. The first generation records `original` hashes; later ones verify the
 * recorded hashes (`verified` / `failed`), add new files as `original`, and are written even when
 * something failed — the generation documents the failure — before the run exits non-zero.
 */
import { isAbsolute, relative } from "node:path";
import { hashFd } from "../hash/file.ts";
import { nativeRuns, preparePieces, RUNS_FROM_FILES, RunsAhead, runThreads, runWork } from "../hash/native_batch.ts";
import { hashingPlan, hashInOrder, type HashJobResult, type Work } from "../hash/pool.ts";
import { CliError, describeSystemError } from "../core/errors.ts";
import { collectNowAndThen } from "../core/memory.ts";
import { compareUtf8, joinPath, resolvePath, showName, xmlNameProblem } from "../core/names.ts";
import { compareFileState, HeldFolder, stateKeyOf } from "../io/held_folder.ts";
import type { SpecialPolicy } from "../io/walk.ts";
import { NO_PROGRESS, type ProgressFactory } from "../core/sink.ts";
import { isoDate, isoDateOfMs, now } from "./dates.ts";
import { DirectoryHash } from "./directory_hash.ts";
import { entriesError, mhlError, MhlExit } from "./exit_codes.ts";
import { algorithmOf, inXsdOrder, type HashFormat } from "./formats.ts";
import { History, HISTORY_FOLDER, pathsOnDisk } from "./history.ts";
import { IgnoreSpec } from "./ignore.ts";
import type { MhlLog } from "./log.ts";
import type { HashEntry } from "./model.ts";
import { baseName, exactKey, joinRelative, parentPath, pathKey } from "./paths.ts";
import { GenerationSession, type CreatorOptions } from "./session.ts";
import { type FilesBeneath, postOrderFolders, withFilesBeneath, type TreeEntry, type TreeFolder, walkPolicies } from "./tree.ts";
import { missingPaths, reportMissing } from "./verify.ts";

/** Digests a caller already computed for a file (e.g. while copying it), and the file's state then. */
export interface KnownDigest {
  /** Size in bytes when the digests were computed. */
  size: number;
  /** `mtimeMs` as `stat` reported it when the digests were computed. */
  mtimeMs: number;
  /** Canonical digests (as the hashers print them), by format. */
  hexes: ReadonlyMap<HashFormat, string>;
  /**
   * The file's {@link stateKeyOf} when the digests were proven against it (an offload's read-back):
   * then the file must still be in that state when the generation takes them, or the generation
   * is refused. Without it, size and mtime decide whether the digests are used or the file hashed.
   */
  state?: string;
  /**
   * The digests of the bytes written to the file, which was never read back (an offload's
   * `--verify none`): they say what it must hold, so they are taken only as the first record of
   * a file (`original`). A file its history has a record of is hashed, so that an action of
   * `verified` or `failed` is always of bytes read from it; a file hashed (that, or not the size
   * and time given) must have these digests, or the generation is refused.
   */
  unread?: boolean;
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
  /** Files hashed at once (`--jobs`). @default files in slow formats spread over the cores (hashingPlan) */
  jobs?: number;
  /** Makes the progress sink, when progress is shown. */
  progress?: ProgressFactory;
  /**
   * Digests the caller already has, by root-relative `/`-separated path (the exact name; one
   * written in another Unicode normalization is found when the exact name is not on disk). A
   * file is not read when its size and mtime (as the walk found them) equal the entry's exactly
   * and every format it needs is present; otherwise it is hashed as usual.
   */
  knownDigests?: Map<string, KnownDigest>;
  /**
   * Links met in the walk (lib/io/walk.ts): `follow` takes a link to a file inside the tree as
   * that file; `skip` leaves links out. A link that leaves the tree is never followed.
   * @default "follow"
   */
  links?: "follow" | "skip";
  /** FIFOs, sockets and devices: `fail` names each and fails the run, `skip` leaves them out. @default "fail" */
  special?: SpecialPolicy;
  /**
   * The files a caller put there (an offload's copies, and what its destination held before):
   * any other file found is refused by name and no generation is written, so a file that
   * appeared meanwhile is never sealed beside the copies.
   */
  expected?: (relativePath: string) => boolean;
  /** What the caller's copies are, in the words of a message that cannot record them. @default "verified" */
  copiesAre?: "verified" | "in place, not read back";
  /**
   * The generation's date: one for every destination of an offload, so that those of one name
   * name their generations alike. @default now
   */
  date?: Date;
  /**
   * Told, in one line, when the temporary file the entries are set aside in cannot be used (they
   * are held in memory instead); a caller that makes several generations in one run says it once.
   * @default the log's error line
   */
  onSpoolFallback?: (message: string) => void;
}

/** Formats to compute for a path: recorded ones that were asked for (or the first recorded), then the new ones. */
function formatsFor(existing: HashFormat[], requested: HashFormat[]): HashFormat[] {
  const out = existing.filter((f) => requested.includes(f));
  if (existing.length > 0 && out.length === 0) out.push(existing[0]!);
  for (const f of requested) if (!out.includes(f)) out.push(f);
  return out;
}

/** A file to hash, or a folder whose entries are all done (post-order). */
type Item = TreeEntry | { folder: Pick<TreeFolder, "relativePath" | "mtimeMs"> };

/** What `create` counts besides hashes: entries it could not record, by name. */
interface Refusals {
  count: number;
  /** Folders (root-relative) whose directory hash cannot describe them: something in them is missing. */
  incomplete: Set<string>;
}

/** Marks a folder and every folder above it as not fully described. */
function markIncomplete(refusals: Refusals, folder: string): void {
  for (let path = folder; ; path = parentPath(path)) {
    if (refusals.incomplete.has(path)) return;
    refusals.incomplete.add(path);
    if (path === "") return;
  }
}

/** The root-relative path of an absolute path the walk reported. */
function relativeTo(root: string, path: string): string {
  return path === root ? "" : path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path;
}

/**
 * Creates a new generation for `root`.
 * @throws {CliError} with the reference's exit code after writing, when files failed
 *   verification (11) or were missing (10); 2 when entries could not be recorded (a name that is
 *   not UTF-8, an unreadable folder, a link out of the tree, a FIFO: each named as found).
 */
export async function createGeneration(root: string, options: CreateOptions, log: MhlLog): Promise<TwinSource | undefined> {
  return await withFilesBeneath(root, (held, files) => createIn(held, files, options, log));
}

/**
 * A generation made from known digests alone (no file read, no nested history, nothing refused,
 * nothing shown per file): all that went into its bytes, so that a destination found to hold the
 * very same (its history, every name, kind, size and time the walk finds, and the digests given
 * for it) gets those bytes as its own generation ({@link createTwinGeneration}) instead of
 * making them again.
 */
export interface TwinSource {
  root: string;
  /** The generation's file name in `root/ascmhl/`, and its C4 in that history's chain. */
  fileName: string;
  c4: string;
  date: Date;
  /** The history's chain before the generation was added. */
  chainBefore: string;
  /** {@link ListingDigest} of the walk. */
  listing: string;
  /** {@link knownFingerprint} of the digests given. */
  known: string;
  /** {@link settingsOf} the options it was made with. */
  settings: string;
}

/** The options that go into a generation's bytes, besides the digests given and the walk. */
function settingsOf(options: CreateOptions): string {
  const { formats, noDirectoryHashes, ignore, ignoreFile, links, special, tool, author, location, comment } = options;
  return JSON.stringify({ formats, noDirectoryHashes, ignore, ignoreFile, links, special, tool, author, location, comment });
}

/**
 * A walk's listing as one digest: each folder below the root with its time, and each entry's
 * name, kind, size and time, in walk order (the root's own time is written nowhere).
 */
class ListingDigest {
  readonly #hasher = new Bun.CryptoHasher("sha256");

  add(folder: TreeFolder, entries: readonly TreeEntry[]): void {
    let text = folder.relativePath === "" ? "\0" : `${folder.relativePath}\0${folder.mtimeMs}\0`;
    for (const e of entries) {
      text += `${e.name}\0${e.isDirectory ? "d" : "f"}\0${e.size}\0${e.mtimeMs}\0`;
      if (text.length < 1 << 16) continue;
      this.#hasher.update(text);
      text = "";
    }
    this.#hasher.update(`${text}\n`);
  }

  hex(): string {
    return this.#hasher.digest("hex");
  }
}

/** The digests given to a generation, in their order: paths, sizes, times, digests, and whether each was read back. */
function knownFingerprint(known: ReadonlyMap<string, KnownDigest> | undefined): string {
  const hasher = new Bun.CryptoHasher("sha256");
  let text = "";
  for (const [path, d] of known ?? []) {
    text += `${path}\0${d.size}\0${d.mtimeMs}\0${d.unread ? "u" : ""}${d.state === undefined ? "" : "s"}\0`;
    for (const [format, hex] of d.hexes) text += `${format}:${hex}\0`;
    text += "\n";
    if (text.length < 1 << 16) continue;
    hasher.update(text);
    text = "";
  }
  hasher.update(text);
  return hasher.digest("hex");
}

/**
 * Gives the destination at `root` the generation `twin` made for another one, when it holds the
 * very same: its history's chain as the other's was, no nested history, the same walk (every
 * name, kind, size and time, nothing refused, nothing unexpected), the same digests given, and
 * each read-back copy still in the state it was read back in. The bytes are copied, and added to
 * the chain only if what was written here has the other's C4.
 * @returns false when any of that differs (nothing written): make the generation here instead.
 * @throws {CliError} as writing the generation fails.
 */
export async function createTwinGeneration(root: string, options: CreateOptions, log: MhlLog, twin: TwinSource): Promise<boolean> {
  if (log.verboseEnabled || log.json || options.detectRenaming || (options.singleFiles?.length ?? 0) > 0) return false;
  if (settingsOf(options) !== twin.settings || knownFingerprint(options.knownDigests) !== twin.known) return false;
  const held = HeldFolder.open(root);
  try {
    let history: History;
    try {
      history = await History.load(root, "", { nested: "later" });
    } catch {
      return false;
    }
    if (JSON.stringify(history.chain) !== twin.chainBefore || (history.generations.at(-1)?.generation.references.length ?? 0) > 0) return false;
    const ignore = IgnoreSpec.forRun(history.latestIgnorePatterns(), options.ignore ?? [], options.ignoreFile);
    let same = true;
    const differs = () => {
      same = false;
    };
    const folders = postOrderFolders(held, ignore, differs, { ...walkPolicies(options, log), onSkipped: differs, onHistory: differs });
    const listing = new ListingDigest();
    for (const folder of folders) {
      if (!same || xmlNameProblem(folder.relativePath) !== undefined) return false;
      for (const entry of folder.entries) {
        if (xmlNameProblem(entry.name) !== undefined) return false;
        if (!entry.isDirectory && options.expected && !options.expected(entry.relativePath)) return false;
      }
      listing.add(folder, folder.entries);
    }
    if (!same || listing.hex() !== twin.listing) return false;
    for (const [path, digest] of options.knownDigests ?? []) if (digest.state !== undefined && stateNow(held, path, digest.state) !== "same") return false;
    await history.writeGenerationOf(twin.root, twin.fileName, twin.c4, twin.date);
    return true;
  } finally {
    held.close();
  }
}

/**
 * The generation of one destination of several: `twin`'s bytes where it holds the very same
 * ({@link createTwinGeneration}), else its own ({@link createGeneration}). Whatever keeps it from
 * the twin's bytes (the other destination gone, its generation changed since) makes it make its
 * own, as it would have, after `clearBegun` removed what was begun (an empty history folder).
 * @returns the generation later destinations may take: `twin` while it could be read, else this
 *   one's, if it is one ({@link TwinSource}).
 * @throws as {@link createGeneration} does.
 */
export async function createGenerationOrTwin(root: string, options: CreateOptions, log: MhlLog, twin: TwinSource | undefined, clearBegun: () => void): Promise<TwinSource | undefined> {
  if (twin) {
    try {
      if (await createTwinGeneration(root, options, log, twin)) return twin;
    } catch {
      twin = undefined;
      clearBegun();
    }
  }
  const made = await createGeneration(root, options, log);
  return twin ?? made;
}

async function createIn(held: HeldFolder, files: FilesBeneath, options: CreateOptions, log: MhlLog): Promise<TwinSource | undefined> {
  const root = held.path;
  const date = options.date ?? now();
  const hashDate = isoDate(date);
  const singleFiles = options.singleFiles ?? [];
  // A whole-folder run walks the tree anyway: nested histories are attached as the walk meets them.
  const history = await History.load(root, "", { nested: singleFiles.length > 0 ? "find" : "later" });
  /** Whether the generation is made of known digests alone, and nothing else of this destination's than its walk ({@link TwinSource}). */
  let pure = !log.verboseEnabled && !log.json && !options.detectRenaming;
  const ignore = IgnoreSpec.forRun(history.latestIgnorePatterns(), options.ignore ?? [], options.ignoreFile);
  if (options.knownDigests) {
    // Files a caller copied and proved must all be recorded: a pattern the history carries (a
    // card's own history copied with it, or the destination's) must not leave one out unsaid.
    const defaults = IgnoreSpec.forRun(undefined);
    const hidden = [...options.knownDigests.keys()].filter((path) => ignore.ignores(path, false) && !defaults.ignores(path, false)).sort(compareUtf8);
    if (hidden.length > 0) {
      const proven = (options.copiesAre ?? "verified") === "verified";
      throw new CliError(
        `${hidden.length} ${proven ? "verified" : "copied"} file(s) would not be recorded: the history's ignore patterns (${ignore.patterns.map((p) => `'${showName(p)}'`).join(", ")}) match ${hidden
          .slice(0, 3)
          .map((p) => `'${showName(p)}'`)
          .join(", ")}${hidden.length > 3 ? ", …" : ""}; the copies themselves are ${proven ? "verified" : "in place, not read back"}`,
      );
    }
  }
  // Each entry is written out as it is made, unless renames are looked for afterwards (they
  // change entries) or single files are recorded (one may be named twice).
  using session = new GenerationSession(history, ignore, { spool: !options.detectRenaming && singleFiles.length === 0, onSpoolFallback: options.onSpoolFallback ?? ((message) => log.error(message)) });
  const requested = inXsdOrder(options.formats);
  log.verbose(`Creating new generation for folder at path: ${showName(root)} ...`);

  let failures = 0;
  /** Records one file's digests; `at` says its history, its name on disk and the name its history knows it by. */
  const sealFile = (at: Located, relativePath: string, hexes: Map<HashFormat, string>, size: number, mtimeMs: number): void => {
    const { history: owner, recorded } = at;
    // Lines and events are made only when shown: a run of a million files makes none of them.
    const shown = () => showName(relativePath);
    const { verboseEnabled: verbose, json } = log;
    const existing = owner.existingFormats(recorded);
    const original = owner.originalEntry(owner.originalPathOf(recorded));
    const entries: HashEntry[] = [];
    let existingVerified = true;
    for (const format of existing) {
      const value = hexes.get(format);
      if (value === undefined) continue;
      const first = owner.firstEntry(recorded, format)!;
      if (first.value === value) {
        entries.push({ format, value, action: "verified", hashDate });
        if (verbose) log.verbose(`  verified                      ${shown()}  ${format}: OK`);
        if (json) log.event({ event: "verified", path: relativePath, format, hash: value });
      } else {
        existingVerified = false;
        failures++;
        entries.push({ format, value, action: "failed", hashDate });
        log.error(`ERROR: hash mismatch for        ${shown()}  ${format} (old): ${first.value}, ${format} (new): ${value}`);
        if (json) log.event({ event: "failed", path: relativePath, format, expected: first.value, hash: value });
      }
    }
    for (const [format, value] of hexes) {
      if (existing.includes(format)) continue;
      if (!original) {
        entries.push({ format, value, action: "original", hashDate });
        if (verbose) log.verbose(`  created original hash for     ${shown()}  ${format}: ${value}`);
        if (json) log.event({ event: "original", path: relativePath, format, hash: value });
      } else if (existingVerified) {
        entries.push({ format, value, action: "verified", hashDate });
        if (verbose) log.verbose(`  created new (verif.) hash for ${shown()}  ${format}: ${value}`);
        if (json) log.event({ event: "new", path: relativePath, format, hash: value });
      }
    }
    // Files of one second share one date string.
    const lastModified = dated(() => isoDateOfMs(mtimeMs), shown());
    session.record(owner, { path: at.path, isDirectory: false, size, lastModified, entries });
  };

  // The caller's map as it is when its paths are exact keys already (no copy of one entry per file).
  let known = options.knownDigests ?? new Map<string, KnownDigest>();
  for (const path of known.keys()) {
    if (exactKey(path) === path) continue;
    known = new Map([...known].map(([p, digest]) => [exactKey(p), digest]));
    break;
  }
  /** Known paths by their NFC form: made on the first name not found exactly, which is rare. */
  let knownByNfc: Map<string, string[]> | undefined;
  /** The known digest of a file: by its exact name, else by the one name equal in NFC that is not on disk itself. */
  const knownFor = (relativePath: string, onDisk: ReadonlySet<string>): KnownDigest | undefined => {
    if (known.size === 0) return undefined;
    const exact = known.get(exactKey(relativePath));
    if (exact) return exact;
    if (!knownByNfc) {
      knownByNfc = new Map();
      for (const path of known.keys()) knownByNfc.set(pathKey(path), [...(knownByNfc.get(pathKey(path)) ?? []), path]);
    }
    const others = (knownByNfc.get(pathKey(relativePath)) ?? []).filter((p) => !onDisk.has(p));
    return others.length === 1 ? known.get(others[0]!) : undefined;
  };
  /** A known digest as the generation may take it: one never read back is no verification of an earlier record. */
  const usable = (digest: KnownDigest | undefined, existing: readonly HashFormat[]): KnownDigest | undefined => (digest?.unread && existing.length > 0 ? undefined : digest);
  // Files whose known digests still describe them get no job (a job-less item does not hold up
  // the workers, as work run in this thread would); their result waits here, by relative path.
  const fromKnown = new Map<string, HashJobResult>();
  /** Known digests a file read again must have (one numbered anew since they were proven). */
  const mustMatch = new Map<string, KnownDigest>();
  /** The hashing job for a file, or nothing when its known digests still describe it. */
  const plan = (entry: TreeEntry, at: Located, onDisk: ReadonlySet<string>): Work => {
    if (options.expected && !options.expected(entry.relativePath)) throw new CliError("appeared while the generation was being made and is not one of the files copied; no generation written (check it, then run again)", { path: entry.path });
    // Asked for every file, whether it is hashed here or not: the runs' list lets go of it.
    const run = ahead?.take(entry);
    const existing = at.history.existingFormats(at.recorded);
    const formats = formatsFor(existing, requested);
    const known = knownFor(entry.relativePath, onDisk);
    const digest = usable(known, existing);
    if (digest?.state !== undefined) {
      const how = stateNow(held, entry.relativePath, digest.state);
      if (how === "changed") throw new CliError(CHANGED_AFTER_VERIFIED, { path: entry.path });
      // Numbered anew (FAT, exFAT, FUSE): read again, and taken only with the digests proven.
      if (how === "renumbered") {
        mustMatch.set(entry.relativePath, digest);
        return files.work(entry.relativePath, entry.path, formats.map(algorithmOf));
      }
    }
    if (digest && formats.every((f) => digest.hexes.has(f)) && entry.size === digest.size && entry.mtimeMs === digest.mtimeMs) {
      fromKnown.set(entry.relativePath, { id: -1, ok: true, hexes: formats.map((f) => [f, digest.hexes.get(f)!]), size: entry.size });
      return undefined;
    }
    // A copy never read back, hashed here (a record to verify, or not the size and time it was
    // given): it must hold the bytes written to it, or it is not sealed.
    if (known?.unread && known.hexes.size > 0) mustMatch.set(entry.relativePath, known);
    if (run && formats.length === 1) return runWork(algorithmOf(formats[0]!), run);
    return files.work(entry.relativePath, entry.path, formats.map(algorithmOf));
  };
  /** Small files hashed in native runs ahead of {@link plan} (XXH formats), when only one format is asked for. */
  let ahead: RunsAhead<TreeEntry> | undefined;
  const hexesOf = (hashed: HashJobResult | undefined, entry: TreeEntry): { hexes: Map<HashFormat, string>; size: number } => {
    if (hashed) files.done(entry.relativePath);
    if (hashed) pure = false;
    const result = hashed ?? fromKnown.get(entry.relativePath);
    fromKnown.delete(entry.relativePath);
    if (!result?.ok) throw new CliError(result ? describeSystemError(result) : "could not be hashed", { path: entry.path });
    const proven = mustMatch.get(entry.relativePath);
    if (proven) {
      mustMatch.delete(entry.relativePath);
      const compared = (result.hexes as [HashFormat, string][]).filter(([format]) => proven.hexes.has(format));
      if (compared.length === 0 || compared.some(([format, hex]) => proven.hexes.get(format) !== hex)) throw new CliError(proven.unread ? CHANGED_AFTER_COPIED : CHANGED_AFTER_VERIFIED, { path: entry.path });
    }
    return { hexes: new Map(result.hexes as [HashFormat, string][]), size: result.size };
  };
  const refusals: Refusals = { count: 0, incomplete: new Set() };
  const walkOptions = walkPolicies(options, log);
  const onProblem = (path: string, message: string) => {
    refusals.count++;
    log.error(`ERROR: ${showName(path)}: ${message}`);
    markIncomplete(refusals, parentPath(relativeTo(root, path)));
  };
  /** A folder's entries that ASC MHL can hold; every name it cannot is refused by name. */
  const recordable = (folder: TreeFolder): TreeEntry[] =>
    folder.entries.filter((entry) => {
      const problem = xmlNameProblem(entry.name);
      if (problem === undefined) return true;
      refusals.count++;
      log.error(`ERROR: ${showName(entry.relativePath)}: ${problem}, which ASC MHL cannot record; ${entry.isDirectory ? "this folder and everything in it are" : "this file is"} left out (rename it to record it)`);
      markIncomplete(refusals, folder.relativePath);
      return false;
    });

  if (options.singleFiles && options.singleFiles.length > 0) {
    const entries: TreeEntry[] = [];
    for (const given of options.singleFiles) {
      const absolute = resolvePath(given);
      const rel = relative(root, absolute).split("\\").join("/");
      if (rel.startsWith("..") || isAbsolute(rel)) throw new CliError("is not inside the root folder", { path: given });
      const stat = held.stat(rel);
      if (!stat) throw new CliError("No such file or directory", { path: given });
      if (stat.kind === "folder") {
        for (const folder of postOrderFolders(absolute, ignore, onProblem, walkOptions)) {
          if (xmlNameProblem(folder.relativePath) !== undefined) continue;
          for (const e of recordable(folder)) if (!e.isDirectory) entries.push({ name: e.name, relativePath: joinRelative(rel, e.relativePath), path: e.path, isDirectory: false, size: e.size, mtimeMs: e.mtimeMs });
        }
      } else if (xmlNameProblem(rel) !== undefined) {
        refusals.count++;
        log.error(`ERROR: ${showName(rel)}: ${xmlNameProblem(rel)}, which ASC MHL cannot record; this file is left out (rename it to record it)`);
      } else entries.push({ name: baseName(rel), relativePath: rel, path: absolute, isDirectory: false, size: stat.size, mtimeMs: stat.mtimeMs });
    }
    const onDisk = new Set(entries.map((e) => e.relativePath));
    // A recorded name in another normalization is this file's only when nothing is at it on disk, named with -sf or not.
    const present = pathsOnDisk(onDisk, held);
    const claimed = new Set<string>();
    // Each file located once: a second look would find the recorded name it was given claimed.
    const located = new Map<string, Located>();
    const locateFile = (relativePath: string): Located => {
      let at = located.get(relativePath);
      if (!at) located.set(relativePath, (at = history.locate(relativePath, present, claimed)));
      return at;
    };
    const hashing = hashingPlan(options.jobs, requested.map(algorithmOf), entries.length);
    await hashInOrder(
      entries,
      hashing.parallelism,
      (e) => plan(e, locateFile(e.relativePath), onDisk),
      (e, result) => {
        const { hexes, size } = hexesOf(result, e);
        sealFile(locateFile(e.relativePath), e.relativePath, hexes, size, e.mtimeMs);
      },
      hashing.options,
    );
    await session.commit(date, options, log);
    if (failures > 0) throw mhlError(MhlExit.HashMismatch);
    if (refusals.count > 0) throw notRecorded(refusals.count);
    return undefined;
  }

  // Child histories the latest generation references, by their root relative to this one.
  const referencedChildren = (history.generations.at(-1)?.generation.references ?? []).map((ref) => parentPath(parentPath(exactKey(ref.path)))).filter((child) => child !== "" && kindAt(held, `${child}/${HISTORY_FOLDER}`) !== "folder");
  const nested: string[] = [];
  const folders = postOrderFolders(held, ignore, onProblem, { ...walkOptions, onHistory: (path) => nested.push(path) });
  await history.attachNested(nested);
  const notFound = history.expectedPaths();
  const onDisk = new Set<string>();
  const onDiskFolders = new Set<string>();
  // Also an ignored file: a recorded name in another normalization is not another name's while it is there.
  const onDiskOnly = pathsOnDisk(onDisk, held);
  // A name looked up beyond the walk's makes the generation depend on more than the walk.
  const present = {
    has: (path: string): boolean => {
      if (!onDisk.has(path)) pure = false;
      return onDiskOnly.has(path);
    },
  };
  const listing = new ListingDigest();
  if (nested.length > 0 || (history.generations.at(-1)?.generation.references.length ?? 0) > 0) pure = false;
  const items: Array<Item | undefined> = [];
  let totalBytes = 0;
  let totalFiles = 0;
  for (const folder of folders) {
    // A folder whose name XML cannot hold was refused where its parent lists it.
    if (xmlNameProblem(folder.relativePath) !== undefined) continue;
    const children = recordable(folder);
    // A million entries listed here make garbage of their own: the walk's collections go on.
    collectNowAndThen(children.length);
    if (pure) listing.add(folder, children);
    for (const entry of children) {
      onDisk.add(entry.relativePath);
      if (entry.isDirectory) onDiskFolders.add(entry.relativePath);
      else {
        items.push(entry);
        totalFiles++;
        totalBytes += entry.size;
      }
    }
    // The folder's item keeps no list of its entries: its directory hashes gather its children as each is done.
    items.push({ folder: { relativePath: folder.relativePath, mtimeMs: folder.mtimeMs } });
  }
  // From here each folder is held by its item alone, and let go once hashed.
  folders.length = 0;
  const claimed = new Set<string>();
  const located = new Map<string, Located>();
  const locate = (relativePath: string): Located => {
    let at = located.get(relativePath);
    if (!at) {
      at = history.locate(relativePath, present, claimed, onDiskFolders.has(relativePath));
      located.set(relativePath, at);
    }
    return at;
  };
  // With nothing recorded there is nothing to find missing, and no recorded name a file could
  // claim: each file is located when it is sealed, not all of them up front.
  if (notFound.size > 0) {
    for (const path of onDisk) {
      const at = locate(path);
      if (History.sameKind(at, onDiskFolders.has(path))) notFound.delete(history.recordedFromHere(at));
    }
  }
  const progress = options.progress?.({ files: totalFiles, bytes: totalBytes }) ?? NO_PROGRESS;

  /**
   * The directory hashes of each folder whose children are being done, per format. A child is
   * added when it is done (the walk is post-order), so no folder holds its files' digests until
   * its own turn: a folder of 200,000 files keeps two short strings per file, not a map each.
   */
  const gathering = new Map<string, Map<HashFormat, DirectoryHash>>();
  const gatherFor = (folder: string): Map<HashFormat, DirectoryHash> | undefined => {
    if (options.noDirectoryHashes || refusals.incomplete.has(folder)) return undefined;
    let hashes = gathering.get(folder);
    if (!hashes) gathering.set(folder, (hashes = new Map(requested.map((format) => [format, new DirectoryHash(format)]))));
    return hashes;
  };
  const renameCandidates: string[] = [];
  const newFolders: string[] = [];
  const hashing = hashingPlan(options.jobs, requested.map(algorithmOf));
  const native = requested.length === 1 && totalFiles >= RUNS_FROM_FILES ? await nativeRuns([algorithmOf(requested[0]!)], {}, runThreads(options.jobs)) : undefined;
  // Structure hashes of many children in native calls (XXH formats), made ready before the first folder gathers.
  if (!options.noDirectoryHashes && totalFiles >= RUNS_FROM_FILES) for (const format of requested) await preparePieces(algorithmOf(format));
  if (native) {
    // The runs' own list, which lets go of each file once past it.
    const onlyFiles = items.filter((item): item is TreeEntry => item !== undefined && !("folder" in item));
    // A file for a run is hashed in the one format asked for, and not known already: what plan() does for it.
    ahead = new RunsAhead(onlyFiles, native, (entry) => {
      if (options.expected && !options.expected(entry.relativePath)) return undefined;
      const at = locate(entry.relativePath);
      const existing = at.history.existingFormats(at.recorded);
      if (usable(knownFor(entry.relativePath, onDisk), existing)) return undefined;
      const formats = formatsFor(existing, requested);
      if (formats.length !== 1 || algorithmOf(formats[0]!) !== native.algorithm) return undefined;
      return { folder: held, relative: entry.relativePath, size: entry.size };
    });
  }
  try {
    await hashInOrder(
      handOut(items),
      hashing.parallelism,
      (item) => ("folder" in item ? undefined : plan(item, locate(item.relativePath), onDisk)),
      async (item, result) => {
        if (!("folder" in item)) {
          const { hexes, size } = hexesOf(result, item);
          progress.fileDone(size);
          progress.clear();
          const at = locate(item.relativePath);
          located.delete(item.relativePath);
          if (isRenameCandidate(at)) renameCandidates.push(item.relativePath);
          sealFile(at, item.relativePath, hexes, size, item.mtimeMs);
          for (const [format, dir] of gatherFor(parentPath(item.relativePath)) ?? []) dir.addFile(item.name, hexes.get(format)!);
          return;
        }
        const folder = item.folder;
        const hashes = new Map<HashFormat, { content: string; structure: string }>();
        // An empty folder gathered nothing: it hashes nothing, in each format.
        const gathered = gatherFor(folder.relativePath);
        gathering.delete(folder.relativePath);
        for (const [format, dir] of gathered ?? []) hashes.set(format, await dir.finish());
        // A folder with no directory hash leaves its parent incomplete too: the parent gathers nothing.
        if (folder.relativePath !== "") for (const [format, dir] of gatherFor(parentPath(folder.relativePath)) ?? []) dir.addDirectory(baseName(folder.relativePath), hashes.get(format)!.content, hashes.get(format)!.structure);
        const shown = showName(folder.relativePath);
        if (folder.relativePath !== "") {
          const at = locate(folder.relativePath);
          located.delete(folder.relativePath);
          if (at.path !== "." && !at.history.latestMedia(at.recorded)) newFolders.push(folder.relativePath);
          // The root of a nested history is a folder of its parent history: new there, it may be a renamed one.
          const parent = at.history.parent;
          if (at.path === "." && parent && !parent.latestMedia(parent.relativeFromHere(at.history))) newFolders.push(folder.relativePath);
        }
        const entries: HashEntry[] = [...hashes].map(([format, h]) => ({ format, value: h.content, structure: h.structure, hashDate }));
        for (const [format, h] of hashes) {
          log.verbose(folder.relativePath === "" ? `  calculated root hash  ${format}: ${h.content} (content), ${h.structure} (structure)` : `  calculated directory hash for ${shown}  ${format}: ${h.content} (content), ${h.structure} (structure)`);
          log.event({ event: "directory", path: folder.relativePath === "" ? "." : folder.relativePath, format, content: h.content, structure: h.structure });
        }
        if (hashes.size === 0 && folder.relativePath !== "") log.verbose(`  added directory entry for     ${shown}`);
        const lastModified = dated(() => isoDate(new Date(folder.mtimeMs)), shown === "" ? "." : shown);
        const { history: owner, path } = history.historyFor(folder.relativePath);
        if (path === ".") {
          session.setRootHash(owner, entries);
          // The root of a nested history is also a folder of its parent history.
          if (owner.parent) session.record(owner.parent, { path: owner.parent.relativeFromHere(owner), isDirectory: true, lastModified, entries: entries.map((e) => ({ ...e })) });
        } else {
          session.record(owner, { path, isDirectory: true, lastModified, entries });
        }
      },
      hashing.options,
    );
  } finally {
    ahead?.settle();
  }
  progress.finish();

  let lostHistories = referencedChildren;
  if (options.detectRenaming) {
    const renamedFolders = await detectRenames(history, session, notFound, renameCandidates, newFolders, files, log);
    // A child history that moved with its renamed folder is not lost; one whose folder was
    // renamed and lost its ascmhl/ is reported under its new name, as the reference does.
    lostHistories = lostHistories.flatMap((child) => {
      const to = renamedFolders.get(child);
      if (to === undefined) return [child];
      return kindAt(held, `${to}/${HISTORY_FOLDER}`) === "folder" ? [] : [to];
    });
  }
  const chainBefore = JSON.stringify(history.chain);
  const written = await session.commit(date, options, log);

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
  if (lostHistories.length > 0) throw mhlError(MhlExit.NoHistory, lostHistories.map((child) => joinPath(root, child)).join(", "));
  if (refusals.count > 0) throw notRecorded(refusals.count);
  const link = history.chain.at(-1);
  const only = written.length === 1 ? written[0] : undefined;
  if (!pure || !only || only !== history.generations.at(-1) || !link || link.fileName !== only.fileName) return undefined;
  return { root, fileName: link.fileName, c4: link.c4, date, chainBefore, listing: listing.hex(), known: knownFingerprint(options.knownDigests), settings: settingsOf(options) };
}

/** The items of a list one by one, each let go by the list as it is handed out. */
function* handOut<T>(list: Array<T | undefined>): Generator<T, void, undefined> {
  for (let i = 0; i < list.length; i++) {
    const item = list[i]!;
    list[i] = undefined;
    yield item;
  }
}

/** What is at a path beneath the root, or undefined when nothing (or nothing that can be examined) is. */
const CHANGED_AFTER_VERIFIED = "changed after it was verified; not sealed into an ASC MHL (run again to copy it)";
/** A copy never read back that holds other bytes than were written to it. */
const CHANGED_AFTER_COPIED = "holds other bytes than were written to it (changed after it was copied); not sealed into an ASC MHL (run again to copy it)";

/** How the file at `relativePath` compares with `state` ({@link stateKeyOf}, {@link compareFileState}). */
function stateNow(held: HeldFolder, relativePath: string, state: string): "same" | "renumbered" | "changed" {
  try {
    const now = held.stat(relativePath);
    return now?.kind === "file" ? compareFileState(stateKeyOf(now), state) : "changed";
  } catch {
    return "changed";
  }
}

function kindAt(held: HeldFolder, relativePath: string): string | undefined {
  try {
    return held.stat(relativePath)?.kind;
  } catch {
    return undefined;
  }
}

/** A record's date, or the error that names the entry whose time no date can hold. */
function dated(date: () => string, shown: string): string {
  try {
    return date();
  } catch {
    throw new Error(`${shown}: has a modification time no date can hold; give it a real one (touch) and create again`);
  }
}

/** Where a name on disk stands in the histories: its history, its path there, its recorded path. */
type Located = { history: History; path: string; recorded: string };

/**
 * A file found under a name its history's latest generation does not hold: new, or back under
 * an earlier name. Only such files can be the new name of a file not found (`-dr`).
 */
function isRenameCandidate(at: Located): boolean {
  const latest = at.history.generations.at(-1);
  if (!latest) return false;
  const media = latest.byPath.get(at.recorded);
  return !media || exactKey(media.path) !== at.recorded;
}

/** The error for entries `create` could not record (each was named as it was found). */
function notRecorded(count: number): CliError {
  return entriesError(count, "recorded", "the generation documents the rest");
}

/**
 * Pairs files not found any more with new files of the same hash, records the old name as
 * `previousPath` of the new entry and drops it from the missing ones (`-dr`). A new file that
 * has no hash in the old file's format (the history in xxh64, this run in xxh128) is hashed in
 * that format too, as the reference does. Folders are paired the same way by their content
 * hash, the previous path recorded on the new folder's entry.
 * @returns renamed folders, old path → new path (relative to the root).
 */
async function detectRenames(history: History, session: GenerationSession, notFound: Set<string>, newFiles: string[], newFolders: string[], files: FilesBeneath, log: MhlLog): Promise<Map<string, string>> {
  const renamedFolders = new Map<string, string>();
  for (const newPath of newFolders) {
    let { history: owner, path } = history.historyFor(newPath);
    // A nested history's root is recorded (and renamed) in its parent history.
    if (path === "." && owner.parent) ({ history: owner, path } = { history: owner.parent, path: owner.parent.relativeFromHere(owner) });
    const media = session.find(owner, path);
    if (!media || media.entries.length === 0) continue;
    for (const oldPath of notFound) {
      const old = history.historyFor(oldPath);
      if (old.history !== owner || !owner.latestMedia(old.path)?.isDirectory) continue;
      const oldEntry = owner.firstEntry(old.path);
      const current = oldEntry && media.entries.find((e) => e.format === oldEntry.format);
      if (!current || current.value !== oldEntry!.value) continue;
      if (baseName(newPath) !== baseName(oldPath)) log.info(`a renamed folder was detected: from ${showName(old.path)} to ${showName(path)}`);
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
      let value = media.entries.find((e) => e.format === oldEntry.format)?.value;
      if (value === undefined) value = await hashOnce(files, newPath, oldEntry.format);
      if (value !== oldEntry.value) continue;
      if (baseName(newPath) !== baseName(oldPath)) log.info(`a renamed file was detected: from ${showName(old.path)} to ${showName(newPath)}`);
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

/** One file's digest in one more format (read beneath the root); undefined when it cannot be read. */
async function hashOnce(files: FilesBeneath, relativePath: string, format: HashFormat): Promise<string | undefined> {
  const work = files.work(relativePath, relativePath, [algorithmOf(format)]);
  try {
    if (!work || !("job" in work) || work.job.fd === undefined) return undefined;
    return (await hashFd(work.job.fd, [algorithmOf(format)])).hexes.get(algorithmOf(format));
  } finally {
    files.done(relativePath);
  }
}
