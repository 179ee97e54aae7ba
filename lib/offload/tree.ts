/**
 * Tree mode of the copy engine: offload a card (a folder) to several destination folders. The
 * source is walked once in a fixed order; folders (empty ones too) are made in every
 * destination; files are copied with {@link copyFile} (`jobs` at a time); folder times are set
 * last. Every planned file gets a result for every destination, whatever goes wrong: a file
 * that was not copied is named, never missing from the result.
 *
 * A run can always be run again: a file already in place is read back from the device and
 * compared with the source (read again too), and counts only if identical; the rest is copied.
 * So an interrupted offload is finished by running it again (`--resume` says so, and does
 * exactly that): nothing is trusted that was not read back in this run.
 */
import { closeSync, fstatSync, futimesSync, fsyncSync, mkdirSync, statfsSync } from "node:fs";
import { CliError, describeSystemError } from "../core/errors.ts";
import { baseOf, compareUtf8, flatString, fsPath, joinPath, nameBytes, nameFromBytes, parentOf, showName } from "../core/names.ts";
import type { Algorithm } from "../hash/algorithms.ts";
import { Digests } from "../hash/digests.ts";
import type { HasherOptions } from "../hash/options.ts";
import { fatKindOf, type FatKind } from "../io/fat.ts";
import { FlushBarrier } from "../io/flush_barrier.ts";
import { FileLock } from "../io/file_lock.ts";
import { WriteThreads } from "../io/write_threads.ts";
import { flushFileSystemOf, openFileLimit, setFileTimes, waitingDescriptors } from "../io/libc.ts";
import { compareFileState, type EntryStat, finalNameOfPartial, folderCacheFor, HeldFolder, stateKeyOf, statFd } from "../io/held_folder.ts";
import { hashFd } from "../hash/file.ts";
import type { IgnoreList } from "../io/ignore.ts";
import { chainVerdict, isHistoryChain, type ChainVerdict } from "./history_copy.ts";
import { CHAIN_FILE_NAME } from "../mhl/chain.ts";
import { HISTORY_FOLDER } from "../mhl/history.ts";
import { eachFile, walkFolders, type LinkPolicy, type SpecialPolicy, type WalkEntry, type WalkProblem } from "../io/walk.ts";
import { spaceNeeded } from "./space.ts";
import { copyFile, GOOD_STATUSES, isUnsupported, nameRuleBroken, type CopyTarget, type DestinationOutcome, type ModePolicy, type VerifyMode } from "./copy.ts";
import { deviceOf } from "./jobs.ts";
import { atNearestExisting, refusedPlaces } from "./places.ts";
import { collectNowAndThen } from "../core/memory.ts";

/**
 * Written copies that may wait for their group flush, at most: each holds an open new file per
 * destination, and while one group flushes the next gathers, so two groups are bounded by the
 * descriptors this process may open (a quarter of them), and each by a group that still
 * flushes quickly.
 */
function maxWaitingFiles(destinations: number, limit = openFileLimit()): number {
  return Math.max(2, Math.min(1024, waitingDescriptors(2 * destinations, limit)));
}

/**
 * Descriptors an offload to `destinations` with `jobs` files at once needs under a limit of
 * `limit`: the runtime's own and its threads', each held folder (the source and each
 * destination) with its folder cache, two flush groups of waiting copies (sized from the limit:
 * a slow flush fills them), and the files in flight, each with its source, a new file per
 * destination and (reading the source back, --verify source+dest) the source once more.
 */
function descriptorsUsed(limit: number, destinations: number, jobs: number): number {
  return 20 + (destinations + 1) * (1 + folderCacheFor(limit)) + 2 * maxWaitingFiles(destinations, limit) * destinations + jobs * (destinations + 2);
}

/** The lowest limit on open files under which {@link descriptorsUsed} fits (measured: BENCHMARKS.md, "A low limit on open files"). */
export function descriptorsNeeded(destinations: number, jobs: number): number {
  let limit = 16;
  while (descriptorsUsed(limit, destinations, jobs) > limit) limit++;
  return limit;
}

/**
 * Refuses, before anything is written, an offload that the limit on open files (`ulimit -n`)
 * cannot hold: it would fail most of its copies one by one, or stop the runtime itself.
 * @throws {CliError} saying how many are needed and what to do.
 */
export function refuseTooFewDescriptors(destinations: number, jobs: number, files: number): void {
  const limit = openFileLimit();
  const atOnce = Math.max(1, Math.min(jobs, files));
  const needed = descriptorsNeeded(destinations, atOnce);
  if (limit >= needed) return;
  throw new CliError(`the limit on open files (ulimit -n ${limit}) is too low to copy to ${destinations} destination(s) with ${atOnce} file(s) at once: at least ${needed} are needed; raise the limit to ${needed} or more, or use fewer destinations or a lower --jobs`);
}

/**
 * How long the first written copy waits for others before the group flush starts; while one
 * flush runs, the next group gathers.
 */
const FLUSH_GATHER_MS = 50;

/** One entry of the plan: a file, or a link to recreate (`links: "copy"`). */
export interface PlannedFile {
  /** Path below the source root, `/`-separated. */
  relativePath: string;
  /** Path below each destination root (after a rename). */
  destinationPath: string;
  /** The source path, for messages. */
  source: string;
  size: number;
  mtimeMs: number;
  /** `link`: recreated as a link to {@link linkTarget}. @default "file" */
  kind?: "file" | "link";
  linkTarget?: string;
  /** A file reached through a link inside the source. */
  throughLink?: boolean;
}

/** A planned file as the plan holds it: its source path is made only when asked for. */
class Planned implements PlannedFile {
  readonly #root: string;
  readonly relativePath: string;
  readonly destinationPath: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly kind?: "file" | "link";
  readonly linkTarget?: string;
  readonly throughLink?: boolean;

  constructor(root: string, entry: WalkEntry, destinationPath: string) {
    this.#root = root;
    this.relativePath = entry.relativePath;
    this.destinationPath = destinationPath;
    this.size = entry.size;
    this.mtimeMs = entry.mtimeMs;
    if (entry.kind === "link") {
      this.kind = "link";
      this.linkTarget = entry.linkTarget;
    }
    if (entry.throughLink) this.throughLink = true;
  }

  get source(): string {
    return joinPath(this.#root, this.relativePath);
  }
}

/** What an offload will do, before it does it. */
export interface OffloadPlan {
  source: string;
  destinations: string[];
  files: PlannedFile[];
  /** Folders to make, with the source's modification times (in whole nanoseconds where the walk had them). */
  folders: Array<{ relativePath: string; mtimeMs: number; mtimeNs?: bigint }>;
  bytes: number;
  /** Bytes each destination still needs, and has. */
  space: Array<{ root: string; needed: number; available: number; sharedWith?: string[] }>;
  /** What the walk could not include: each is a failure of the run. */
  problems: WalkProblem[];
  /** What the policies left out on purpose. */
  skipped: WalkProblem[];
  /** Destinations that cannot take this offload at all, and why (by root). */
  refused: Map<string, string>;
  /** What each destination held when planned: relative path → size (-1: not a regular file, {@link HELD_LINK}: a symbolic link). */
  existing: Map<string, Map<string, number>>;
  /** The policies the walk used. */
  links: LinkPolicy;
  special: SpecialPolicy;
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
  /** Whether to flush files written below this destination root. */
  flush: (destinationRoot: string) => boolean;
  rateLimit?: number;
  /** Maps a file name (not its folders) to its destination name. */
  rename?: (name: string) => string;
  /** Owner and mode bits of the copies. */
  modes?: ModePolicy;
  /** Called as each file finishes. */
  onFile?: (file: PlannedFile, result: FileResult) => void;
  /** Called with bytes copied since the last call. */
  onBytes?: (bytes: number) => void;
  /**
   * Look at the source once more when the copies are done ({@link checkSourceAgain}); a caller
   * that writes records afterwards turns this off and looks itself, last.
   * @default true
   */
  checkSource?: boolean;
}

/** One file's result on one destination. */
export type RootedOutcome = DestinationOutcome & { root: string };

/** One file's result. */
export interface FileResult {
  /** The source's digests, as read in flight (a {@link Digests} once the file is done). */
  hexes: ReadonlyMap<Algorithm, string>;
  destinations: RootedOutcome[];
  sourceError?: string;
  /**
   * The source file as it was read, to tell a change after the copy: its size, modification
   * time (ms), inode and change time (ns), `/`-separated ({@link sourceStateOf}). One string, as
   * a result is held per file until the records are written.
   */
  sourceState?: string;
}

/** A folder or file of the plan that could not be read when the source was looked at again. */
export interface UnreadEntry {
  /** Below the source root. */
  path: string;
  folder: boolean;
  /** The system's reason. */
  why: string;
}

/** The result of an offload. */
export interface OffloadResult {
  /** Every planned file, in plan order, each with a result for every destination. */
  files: Array<{ file: PlannedFile; result: FileResult }>;
  /** Roots where every file verified (or was present) and nothing else went wrong. */
  completeRoots: string[];
  /** Destinations that could not be used at all, and why (refused, no space, cannot be made). */
  unusable: Map<string, string>;
  /** Per destination root, what went wrong beyond single files (a folder that could not be made, the root moved). */
  rootProblems: Map<string, string[]>;
  /** Files that appeared in the source during the run (not copied). */
  newInSource: string[];
  /** Files of the source that changed after they were copied (the copies hold them as they were). */
  changedInSource: string[];
  /**
   * Folders and files of the plan that could not be read when the source was looked at again
   * (relative path, and why): what changed in them meanwhile is unknown.
   */
  unreadInSource: UnreadEntry[];
  /** Why the source could not be looked at again after the copies (then what changed in it is unknown). */
  sourceUnseen?: string;
  /** Per destination root, files that appeared there during the run and are not from the source. */
  strays: Map<string, string[]>;
  seconds: number;
}

/** Refuses a rename result that is not one file name. */
function checkRenamed(original: string, name: string): void {
  if (!name || name.includes("/") || name.includes("\0") || name === "." || name === "..") {
    throw Object.assign(new Error(`the rename turns '${showName(original)}' into the invalid name '${showName(name)}'`), { code: "ERENAME" });
  }
}

/**
 * What the destination walks leave out: OS litter and histories. A name like one of our partial
 * files is not left out: the partials this run makes are gone (in place or removed) before the
 * stray check, so one there then is not this run's (another program's, or planted), and one
 * there before the run is what the destination held.
 */
function destinationIgnore(ignore: IgnoreList): { matches: (path: string, isFolder: boolean) => boolean } {
  return {
    matches: (path, isFolder) => ignore.matches(path) || (isFolder && path === "ascmhl"),
  };
}

/**
 * Walks the source and checks names, places and space; nothing is written.
 * @throws an error with code ERENAME when the rename makes an invalid name or two files one.
 */
export function planOffload(source: string, destinations: readonly string[], options: Pick<OffloadOptions, "ignore" | "rename" | "overwrite"> & { links?: LinkPolicy; special?: SpecialPolicy }): OffloadPlan {
  const problems: WalkProblem[] = [];
  const skipped: WalkProblem[] = [];
  const folders: Array<{ relativePath: string; path: string; mtimeMs: number; mtimeNs?: bigint }> = [];
  const walk = eachFile(source, {
    ignore: options.ignore,
    onProblem: (p) => problems.push(p),
    onSkipped: (p) => skipped.push(p),
    folders,
    links: options.links ?? "follow",
    special: options.special ?? "fail",
  });
  // With a rename, two names may become one; without, every name stays its own.
  const seen = options.rename ? new Map<string, string>() : undefined;
  const files: PlannedFile[] = [];
  for (const entry of walk) {
    let destinationPath = entry.relativePath;
    if (options.rename) {
      const original = baseOf(entry.relativePath);
      const name = options.rename(original);
      checkRenamed(original, name);
      if (name !== original) {
        const folder = entry.relativePath.includes("/") ? parentOf(entry.relativePath) : "";
        destinationPath = folder === "" ? name : flatString(`${folder}/${name}`);
      }
      const clash = seen!.get(destinationPath);
      if (clash) throw Object.assign(new Error(`'${showName(clash)}' and '${showName(entry.relativePath)}' would both be written as '${showName(destinationPath)}'`), { code: "ERENAME" });
      seen!.set(destinationPath, entry.relativePath);
    }
    files.push(new Planned(source, entry, destinationPath));
  }
  folders.sort((a, b) => compareUtf8(a.relativePath, b.relativePath));
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  const refusedByIndex = refusedPlaces(source, destinations);
  const refused = new Map([...refusedByIndex].map(([i, why]) => [destinations[i]!, why]));
  // What each destination holds already: one walk, not a stat per file.
  const existing = new Map<string, Map<string, number>>();
  for (const root of destinations) {
    const held = new Map<string, number>();
    if (!refused.has(root)) {
      try {
        // Folders too: a folder where a file goes is named as such, not found only at the rename.
        // FIFOs, sockets and devices too (-1): the user's, never a copy, and no stray either.
        const special = (p: WalkProblem) => {
          if (p.relativePath !== undefined) held.set(p.relativePath, -1);
        };
        // Everything: what the offload leaves out of the card (OS litter, --ignore) is still what
        // the destination held, and its generation records it. Its history too: a card's own
        // history copied there by an earlier run is found there, compared and not copied again.
        walkFolders(root, { links: "copy", special: "skip", onSkipped: special }, (level) => {
          for (const item of level.items) held.set(item.relativePath, item.kind === "file" ? item.size : item.kind === "link" ? HELD_LINK : -1);
        });
      } catch {
        // a destination that does not exist yet holds nothing
      }
    }
    existing.set(root, held);
  }
  const space: OffloadPlan["space"] = destinations.map((root) => {
    const held = existing.get(root)!;
    const available = availableBytes(root);
    // In the destination's blocks; a file with holes by its data where holes stay holes (space.ts).
    const needed = spaceNeeded(
      source,
      files.filter((f) => options.overwrite || held.get(f.destinationPath) !== f.size),
      root,
      available,
    );
    return { root, needed, available };
  });
  // Destinations on one file system share its free space: each has what the others leave.
  const devices = destinations.map(deviceOf);
  for (const [i, sp] of space.entries()) {
    const others = space.filter((_, j) => j !== i && devices[j] !== "unknown" && devices[j] === devices[i]);
    if (others.length === 0) continue;
    sp.available = Math.max(0, sp.available - others.reduce((sum, o) => sum + o.needed, 0));
    sp.sharedWith = others.map((o) => o.root);
  }
  return {
    source,
    destinations: [...destinations],
    files,
    folders: folders.map(({ relativePath, mtimeMs, mtimeNs }) => (mtimeNs !== undefined ? { relativePath, mtimeMs, mtimeNs } : { relativePath, mtimeMs })),
    bytes,
    space,
    problems,
    skipped,
    refused,
    existing,
    links: options.links ?? "follow",
    special: options.special ?? "fail",
  };
}

/**
 * Free bytes for an unprivileged writer on the file system holding `path` (or its nearest
 * existing parent). Infinity for one that tells no size at all (fusefat reports 0 blocks in
 * all): there a full disk is met file by file, as anywhere.
 */
export function availableBytes(path: string): number {
  return (
    atNearestExisting(path, (existing) => {
      const fs = statfsSync(existing);
      return Number(fs.blocks) === 0 ? Number.POSITIVE_INFINITY : Number(fs.bavail) * Number(fs.bsize);
    }) ?? 0
  );
}

/** One destination during a run. */
interface DestinationState {
  root: string;
  /** Why the whole destination cannot be written, when it cannot. */
  unusable?: string;
  held?: HeldFolder;
  /** Folders that could not be made, and why. */
  badFolders: Map<string, string>;
  /** Files that were there before the run (relative), to tell strays apart. */
  /**
   * What the destination held before the run (relative path → size, -1: not a regular file,
   * {@link HELD_LINK}: a symbolic link):
   * the plan's own map, so that a name this run removes is gone from what its records trust.
   */
  before: Map<string, number>;
  problems: string[];
  /** "FAT" or "exFAT" when the destination is one: names it cannot hold are refused before they are tried. */
  fat?: FatKind;
  /** By history folder: whether the destination's history there continues the card's ({@link historyVerdict}). */
  histories: Map<string, ChainVerdict | undefined>;
}

/**
 * The locks of the destination folders this process writes into, by folder (device and inode),
 * held from the copies until the caller's records are written ({@link releaseDestinationLocks}),
 * or until the process ends.
 */
const destinationLocks = new Map<string, FileLock>();

/** Lets go of the destinations' locks, once the run's records are written. */
export function releaseDestinationLocks(): void {
  for (const lock of destinationLocks.values()) lock.release();
  destinationLocks.clear();
}

function prepareDestination(root: string, plan: OffloadPlan): DestinationState {
  const state: DestinationState = { root, badFolders: new Map(), before: new Map(), problems: [], histories: new Map() };
  const refused = plan.refused.get(root);
  if (refused) {
    state.unusable = refused;
    return state;
  }
  const space = plan.space.find((s) => s.root === root);
  if (space && space.needed > space.available) {
    state.unusable = `not enough space: needs ${space.needed} bytes, has ${space.available} free${space.sharedWith ? ` once ${space.sharedWith.map((r) => `'${showName(r)}'`).join(" and ")} on the same file system ${space.sharedWith.length > 1 ? "have" : "has"} what ${space.sharedWith.length > 1 ? "they need" : "it needs"}` : ""}`;
    return state;
  }
  try {
    mkdirSync(fsPath(root), { recursive: true });
    state.held = HeldFolder.open(root);
  } catch (error) {
    state.unusable = `cannot be used: ${describeSystemError(error)}`;
    return state;
  }
  // Before anything is made or cleared in it: another run writing into this very folder would
  // take this one's files for its own (and clear its partial files and unfinished generation).
  const key = `${state.held.dev}:${state.held.ino}`;
  if (state.held.byDescriptor && !destinationLocks.has(key)) {
    let lock: FileLock | "busy" | undefined;
    try {
      lock = FileLock.tryFolder(state.held.openAgain(), root);
    } catch (error) {
      state.held.close();
      state.held = undefined;
      state.unusable = `cannot be used: ${describeSystemError(error)}`;
      return state;
    }
    if (lock === "busy") {
      state.held.close();
      state.held = undefined;
      state.unusable = "in use: another offload is writing into this folder now (it holds the folder's lock); run this one again when that one has finished";
      return state;
    }
    if (lock) destinationLocks.set(key, lock);
  }
  state.before = plan.existing.get(root) ?? new Map();
  plan.existing.set(root, state.before);
  state.fat = fatKindOf(state.held.fd, fstatSync(state.held.fd).dev);
  for (const folder of plan.folders) {
    if (badFolderReason(state, folder.relativePath) !== undefined) continue;
    const rule = state.fat && nameRuleBroken(baseOf(folder.relativePath));
    if (rule) {
      state.badFolders.set(folder.relativePath, `folder not made: ${showName(state.root)} is ${state.fat}, and ${rule}`);
      continue;
    }
    try {
      state.held.makeFolders(folder.relativePath);
    } catch (error) {
      state.badFolders.set(folder.relativePath, `folder cannot be made: ${describeSystemError(error)}`);
    }
  }
  removeStalePartials(state, plan);
  return state;
}

/**
 * Removes hidden partial files a killed run left beside the names this run writes, where the
 * file system could not make nameless files. A partial name that is itself a file of the
 * source is the user's, and is left alone.
 */
function removeStalePartials(state: DestinationState, plan: OffloadPlan): void {
  const namesByFolder = new Map<string, Set<string>>();
  for (const f of plan.files) {
    const folder = f.destinationPath.includes("/") ? parentOf(f.destinationPath) : "";
    const names = namesByFolder.get(folder) ?? new Set<string>();
    names.add(baseOf(f.destinationPath));
    namesByFolder.set(folder, names);
  }
  for (const [folder, names] of namesByFolder) {
    if (state.badFolders.has(folder)) continue;
    let entries;
    try {
      entries = state.held!.list(folder);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const forName = finalNameOfPartial(entry.name);
      if (forName === undefined || !names.has(forName) || names.has(entry.name) || entry.kind === "folder") continue;
      const path = folder === "" ? entry.name : `${folder}/${entry.name}`;
      try {
        state.held!.remove(path);
        // Gone: one there at the end is not the destination's from before.
        state.before.delete(path);
      } catch {
        // left as it is: a partial name never counts as a copy
      }
    }
  }
}

/** Why `folder` is missing from the destination, when it is a folder that could not be made or lies beneath one. */
function badFolderReason(state: DestinationState, folder: string): string | undefined {
  for (const [bad, why] of state.badFolders) if (folder === bad || folder.startsWith(`${bad}/`)) return why;
  return undefined;
}

/** Why a destination cannot take `file`, before it is tried; undefined when it can. */
function blockedReason(state: DestinationState, file: PlannedFile): string | undefined {
  if (state.unusable) return `not copied: ${showName(state.root)} ${state.unusable}`;
  const folder = file.destinationPath.includes("/") ? parentOf(file.destinationPath) : "";
  const why = badFolderReason(state, folder);
  if (why !== undefined) return `not copied: ${why}`;
  // Some FUSE drivers write such a name as it is; the drive then shows it to no other system.
  const rule = state.fat && nameRuleBroken(baseOf(file.destinationPath));
  if (rule) return `not copied: ${showName(state.root)} is ${state.fat}, and ${rule}`;
  return undefined;
}

/**
 * Names that are one name on a destination that ignores case or Unicode normalization
 * (exFAT, FAT, APFS, SMB shares), by folder: explains an entry that "appeared" under a final
 * name that was free when the copy began.
 */
function caseTwins(plan: OffloadPlan): (destinationPath: string) => string | undefined {
  let index: Map<string, string[]> | undefined;
  return (destinationPath) => {
    if (!index) {
      index = new Map();
      for (const f of plan.files) {
        const key = f.destinationPath.normalize("NFC").toLowerCase();
        index.set(key, [...(index.get(key) ?? []), f.destinationPath]);
      }
    }
    const twins = (index.get(destinationPath.normalize("NFC").toLowerCase()) ?? []).filter((p) => p !== destinationPath);
    return twins.length ? twins[0] : undefined;
  };
}

/**
 * Runs a plan. Destinations that fail for one file go on with the others; the result says,
 * file by file and destination by destination, what happened.
 */
export async function runOffload(plan: OffloadPlan, options: OffloadOptions): Promise<OffloadResult> {
  const started = performance.now();
  let sourceRoot: HeldFolder;
  try {
    sourceRoot = HeldFolder.open(plan.source);
  } catch (error) {
    throw Object.assign(new Error(`cannot read the source: ${describeSystemError(error)}`), { code: (error as { code?: string }).code, path: plan.source });
  }
  const states = plan.destinations.map((root) => prepareDestination(root, plan));
  const twinOf = caseTwins(plan);
  // The card's history chains, by the history folder they are copied into.
  const chainSources = new Map(plan.files.filter((f) => f.kind !== "link" && isHistoryChain(f.destinationPath)).map((f) => [parentOf(f.destinationPath), f.relativePath]));
  const results: Array<{ file: PlannedFile; result: FileResult } | undefined> = new Array(plan.files.length);
  // `jobs` copies read and write at once. A copy that has written everything waits for the
  // group flush without holding its slot, so the next file starts meanwhile (at most
  // maxWaiting wait, each holding its open new files). A flush starts when half of them wait
  // (or soon after the first), so the other half is written while it runs.
  const destinations = states.filter((s) => !s.unusable).length;
  const maxWaiting = maxWaitingFiles(destinations);
  const barrier = new FlushBarrier(Math.max(1, (maxWaiting >> 1) * destinations), FLUSH_GATHER_MS);
  const jobs = Math.max(1, options.jobs);
  let writing = 0;
  const waitingForSlot: Array<() => void> = [];
  const inFlight = new Set<Promise<void>>();
  const writeThreads = WriteThreads.open();
  const release = () => {
    writing--;
    waitingForSlot.shift()?.();
  };
  try {
    for (let index = 0; index < plan.files.length; index++) {
      while (writing >= jobs || inFlight.size >= jobs + maxWaiting) {
        await new Promise<void>((resolve) => waitingForSlot.push(resolve));
      }
      writing++;
      collectNowAndThen();
      const file = plan.files[index]!;
      let released = false;
      const releaseOnce = () => {
        if (!released) {
          released = true;
          release();
        }
      };
      const task = copyOne(file, sourceRoot, states, options, { barrier, onWritten: releaseOnce, twinOf, writeThreads, chainSources })
        .catch((error: unknown) => failedEverywhere(states, `not copied: internal error: ${describeSystemError(error)}`))
        .then((result) => {
          results[index] = { file, result };
          try {
            options.onFile?.(file, result);
          } catch {
            // a reporting problem must not lose the result
          }
        })
        .finally(() => {
          releaseOnce();
          inFlight.delete(task);
          waitingForSlot.shift()?.();
        });
      inFlight.add(task);
    }
    // The last copies flush now; one still writing (a large file) joins a flush when it is done.
    barrier.flush();
    await Promise.all(inFlight);
  } finally {
    writeThreads?.close();
    sourceRoot.close();
  }

  const files = plan.files.map((file, index) => results[index] ?? { file, result: failedEverywhere(states, "not copied: the run ended before this file") });
  finishFolders(states, plan, options, files);
  const { appeared: newInSource, changed: changedInSource, unread: unreadInSource, unseen: sourceUnseen } = options.checkSource === false ? { appeared: [], changed: [], unread: [], unseen: undefined } : await checkSourceAgain(plan, files, options.ignore);
  const strays = new Map<string, string[]>();
  const completeRoots: string[] = [];
  // Plan order is result order: the finder gives the index of a planned name.
  const planned = finderByPath(Array.from(files.keys()), (i) => files[i]!.file.destinationPath);
  for (const state of states) {
    // A destination that died: what it can still say is said; nothing of it stops the others.
    try {
      // A destination whose device failed during the run cannot prove which names reached it
      // (a file system shut down may even report a later flush of a folder as done): every copy
      // on it is named as not proven, and a rerun reads back what is really there.
      let deadBecause: string | undefined;
      if (state.held) {
        try {
          statFd(state.held.fd);
        } catch (error) {
          deadBecause = describeSystemError(error);
        }
      }
      if (deadBecause !== undefined) {
        state.problems.push(`${showName(state.root)}: its device failed during the run (${deadBecause})`);
        for (const { result } of files) {
          const mine = result.destinations.find((d) => d.root === state.root);
          if (!mine || !GOOD_STATUSES.has(mine.status)) continue;
          Object.assign(mine, { status: "failed", reason: `not proven on the device: it failed before the run ended (${deadBecause})`, kind: "other" });
          state.problems.push(`${showName(mine.path)}: failed: not proven on the device: it failed before the run ended (${deadBecause})`);
        }
        continue;
      }
      if (state.held && !state.held.stillAt()) state.problems.push(`${showName(state.root)} no longer leads to the folder the files were written into (moved or replaced during the run)`);
      if (state.held) {
        const problems: string[] = [];
        const found: string[] = [];
        // A FIFO, socket or device that was not there before is a stray even at a planned name:
        // it is never a copy (a copy put in place and then replaced by one is not the copy).
        const special = (p: WalkProblem) => {
          if (p.relativePath !== undefined && state.before.get(p.relativePath) !== -1) found.push(p.relativePath);
        };
        // Each copy that was read back (or checked by size) is still the file it was then: a
        // copy replaced, rewritten or removed after its check is not the copy that was checked.
        const seen = new Uint8Array(files.length);
        const leftOut = destinationIgnore(options.ignore);
        const walkIgnores = (path: string) => {
          if (leftOut.matches(path, false)) return true;
          for (let at = path.indexOf("/"); at >= 0; at = path.indexOf("/", at + 1)) if (leftOut.matches(path.slice(0, at), true)) return true;
          return false;
        };
        // Unstat'ed where the listing says "file": a copy checked is stat'ed by stillAsChecked, and the rest needs only its kind.
        for (const entry of eachFile(state.held, { links: "copy", special: "skip", details: false, ignore: destinationIgnore(options.ignore), onProblem: (p) => problems.push(`${showName(p.path)}: ${p.message}`), onSkipped: special })) {
          const index = planned(entry.relativePath);
          if (index === undefined) {
            // The user's only as what it was: a file where a FIFO or a folder stood is new.
            const was = state.before.get(entry.relativePath);
            if (was === undefined || (entry.kind === "file" ? was < 0 : was !== HELD_LINK)) found.push(entry.relativePath);
            continue;
          }
          seen[index] = 1;
          const { file, result } = files[index]!;
          const mine = result.destinations.find((d) => d.root === state.root);
          if (!mine || !GOOD_STATUSES.has(mine.status)) continue;
          const still = file.kind === "link" ? entry.kind === "link" && entry.linkTarget === file.linkTarget : mine.readBack === undefined || (await stillAsChecked(state.held!, entry.relativePath, mine.readBack, result.hexes));
          if (!still) notAsChecked(state, mine, "changed or replaced after it was checked");
        }
        for (let index = 0; index < files.length; index++) {
          if (seen[index]) continue;
          const { file, result } = files[index]!;
          const mine = result.destinations.find((d) => d.root === state.root);
          // Every good copy, read back or not, must be there: gone, or put under another's name
          // where names differing in case are one, it is not on the destination (a name the walk
          // leaves out, as the card's own ascmhl folder, is not looked at here).
          if (mine && GOOD_STATUSES.has(mine.status) && !walkIgnores(file.destinationPath)) notAsChecked(state, mine, `gone from the destination after it was ${mine.status === "copied" ? "copied" : "checked"}`);
        }
        if (found.length) strays.set(state.root, found.sort(compareUtf8));
        // On a destination whose files failed, those are named already; on one that looked
        // complete, a folder that can no longer be read is news.
        const allGood = files.every(({ result }) => result.destinations.some((d) => d.root === state.root && GOOD_STATUSES.has(d.status)));
        if (allGood) state.problems.push(...problems);
      }
    } catch (error) {
      state.problems.push(`${showName(state.root)}: cannot be checked after the copy: ${describeSystemError(error)}`);
    }
    const good = !state.unusable && state.badFolders.size === 0 && state.problems.length === 0 && plan.problems.length === 0 && files.every(({ result }) => result.destinations.some((d) => d.root === state.root && GOOD_STATUSES.has(d.status)));
    if (good) completeRoots.push(state.root);
  }
  for (const state of states) {
    try {
      state.held?.close();
    } catch {
      // a dead device: its descriptors are gone either way
    }
  }
  const rootProblems = new Map(states.map((s) => [s.root, [...[...s.badFolders].map(([folder, why]) => `${showName(joinPath(s.root, folder))}: ${why}`), ...s.problems]]));
  const unusable = new Map(states.filter((s) => s.unusable).map((s) => [s.root, s.unusable!]));
  return { files, completeRoots, unusable, rootProblems, newInSource, changedInSource, unreadInSource, ...(sourceUnseen === undefined ? {} : { sourceUnseen }), strays, seconds: (performance.now() - started) / 1000 };
}

/**
 * True when the file at `relativePath` in `folder` (a copy read back, a card file read) is still
 * in the state it was checked in (`checked`, its {@link stateKeyOf}): the same inode, size,
 * modification and change times to the nanosecond. One that differs only by its inode (FAT,
 * exFAT and FUSE number a file anew once the kernel forgot it) is read again: it is the same
 * file only if its bytes still have the card's digests.
 */
export async function stillAsChecked(folder: HeldFolder, relativePath: string, checked: string, hexes: ReadonlyMap<Algorithm, string>): Promise<boolean> {
  let how: "same" | "renumbered" | "changed";
  try {
    const now = folder.stat(relativePath);
    how = now?.kind === "file" ? compareFileState(stateKeyOf(now), checked) : "changed";
  } catch {
    return false;
  }
  return how === "same" || (how === "renumbered" && (await sameBytesAsCopied(() => folder.openRead(relativePath), hexes)));
}

/**
 * Whether a file numbered anew (only its inode differs from when it was read or checked: FAT,
 * exFAT and FUSE number a file anew once the kernel forgot it) still holds the bytes that were
 * copied: read again, it has every one of `hexes`. False when it cannot be read, is not a
 * regular file, or there is no digest to compare.
 */
async function sameBytesAsCopied(open: () => number, hexes: ReadonlyMap<Algorithm, string>): Promise<boolean> {
  if (hexes.size === 0) return false;
  const again = await digestsOfRegularFile(open, [...hexes.keys()]);
  return again !== undefined && [...hexes].every(([algorithm, hex]) => again.get(algorithm) === hex);
}

/**
 * The digests of the file `open` gives, read whole, when it is a regular file (a FIFO or device
 * swapped in under its name is not read); undefined when it cannot be opened or read.
 */
export async function digestsOfRegularFile(open: () => number, algorithms: readonly Algorithm[]): Promise<Map<Algorithm, string> | undefined> {
  let fd: number | undefined;
  try {
    fd = open();
    if (statFd(fd).kind !== "file") return undefined;
    return (await hashFd(fd, algorithms)).hexes;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** What {@link OffloadPlan.existing} holds for a symbolic link. */
export const HELD_LINK = -2;

/** Fails a copy that is no longer the one that was checked, and names it. */
function notAsChecked(state: DestinationState, outcome: RootedOutcome, why: string): void {
  const reason = `${why}: what is there now is not what was ${outcome.status === "copied" ? "copied" : "verified"} (run again to copy it)`;
  Object.assign(outcome, { status: "failed", reason, kind: "other" });
  state.problems.push(`${showName(outcome.path)}: failed: ${reason}`);
}

/** A source file's {@link FileResult.sourceState}. */
function sourceStateOf(stat: { size: number; mtimeMs: number; ino: bigint; ctimeNs: bigint }): string {
  return flatString(`${stat.size}/${stat.mtimeMs}/${stat.ino}/${stat.ctimeNs}`);
}

function parseSourceState(state: string): { size: number; mtimeMs: number; ino: bigint; ctimeNs: bigint } {
  const [size, mtimeMs, ino, ctimeNs] = state.split("/");
  return { size: Number(size), mtimeMs: Number(mtimeMs), ino: BigInt(ino!), ctimeNs: BigInt(ctimeNs!) };
}

function failedEverywhere(states: DestinationState[], reason: string): FileResult {
  return { hexes: new Map(), destinations: states.map((s) => ({ root: s.root, path: s.root, status: "failed" as const, reason })) };
}

/**
 * True when the change time of a file the walk gave (asked with `changeTimes`) is not `ctimeNs`
 * any more: written with its modification time put back (touch -d), or its mode or owner
 * changed. Within a microsecond, as a time taken through a millisecond float comes back.
 */
function changeTimeMoved(entry: WalkEntry, ctimeNs: bigint): boolean {
  const now = entry.ctimeNs;
  if (now === undefined) return true;
  const apart = now > ctimeNs ? now - ctimeNs : ctimeNs - now;
  return apart > 1000n;
}

/**
 * The source once more, after the copies: entries the plan did not see (made during the run,
 * not copied), files that changed after they were copied (their copies hold them as they
 * were read), and folders and files of the plan that cannot be read now (what changed in them
 * is unknown). Each is named; none is passed as complete. {@link runOffload} looks once; a
 * caller that does more afterwards (writes records) looks again as its last step.
 */
export async function checkSourceAgain(plan: OffloadPlan, files: ReadonlyArray<{ file: PlannedFile; result: FileResult }>, ignore: IgnoreList): Promise<{ appeared: string[]; changed: string[]; unread: UnreadEntry[]; unseen?: string }> {
  const prefix = `${plan.source.replace(/\/+$/, "")}/`;
  const relativeOf = (p: WalkProblem) => p.relativePath ?? (p.path.startsWith(prefix) ? p.path.slice(prefix.length) : p.path);
  // Planned files are found in the plan's own lists (in byte order, as the walk made them), not
  // in a second index of every path: the walk again is streamed, not collected.
  const planned = finderByPath(plan.files, (f) => f.relativePath);
  const plannedFolder = finderByPath(plan.folders, (f) => f.relativePath);
  const copied = finderByPath(files, (f) => f.file.relativePath);
  const named = new Set([...plan.problems.map(relativeOf), ...plan.skipped.map(relativeOf)]);
  const appeared: string[] = [];
  const changed: string[] = [];
  const unread: UnreadEntry[] = [];
  let unseen: string | undefined;
  let held: HeldFolder | undefined;
  const openAgain = (entry: WalkEntry): number => {
    held ??= HeldFolder.open(plan.source);
    return entry.throughLink ? held.openReadInside(entry.relativePath) : held.openRead(entry.relativePath);
  };
  try {
    // Something refused or left out again (a FIFO, an unreadable folder) is news only if the plan did not name it.
    const note = (p: WalkProblem) => {
      const relativePath = relativeOf(p);
      if (named.has(relativePath)) return;
      // A folder or file of the plan that cannot be read now did not appear: what became of it is unknown.
      if (p.unreadable !== undefined && relativePath === "") unseen ??= p.unreadable;
      else if (p.unreadable !== undefined && plannedFolder(relativePath) !== undefined) unread.push({ path: relativePath, folder: true, why: p.unreadable });
      else if (p.unreadable !== undefined && planned(relativePath) !== undefined) unread.push({ path: relativePath, folder: false, why: p.unreadable });
      // A copied file that is something else now (a FIFO, a link that leads nowhere) changed.
      else if (planned(relativePath) !== undefined) changed.push(relativePath);
      else appeared.push(relativePath);
    };
    for (const entry of eachFile(plan.source, { ignore, links: plan.links, special: plan.special, changeTimes: true, onProblem: note, onSkipped: note })) {
      // A file or link the walk gives now and the plan did not copy: new, even where the plan
      // had left something else out under that name (a FIFO replaced by a file).
      const file = planned(entry.relativePath);
      if (file === undefined) {
        appeared.push(entry.relativePath);
        continue;
      }
      if ((file.kind ?? "file") !== entry.kind || (entry.kind === "link" && entry.linkTarget !== file.linkTarget)) {
        changed.push(entry.relativePath);
        continue;
      }
      const done = copied(entry.relativePath);
      const state = done?.result.sourceState;
      const was = state === undefined ? undefined : parseSourceState(state);
      if (!was || entry.kind !== "file") continue;
      if (was.size !== entry.size || was.mtimeMs !== entry.mtimeMs || changeTimeMoved(entry, was.ctimeNs)) changed.push(entry.relativePath);
      // Numbered anew while the copies were made (FAT, exFAT and FUSE, once the kernel forgot
      // it): the same file only if its bytes still have the copies' digests.
      else if (was.ino !== entry.ino && !(await sameBytesAsCopied(() => openAgain(entry), done!.result.hexes))) changed.push(entry.relativePath);
    }
  } catch (error) {
    // The source cannot be looked at again (moved, removed, unreadable): what changed or appeared
    // meanwhile is unknown, which is not the same as nothing.
    return { appeared: [], changed: [], unread: [], unseen: describeSystemError(error) };
  } finally {
    held?.close();
  }
  return { appeared: appeared.sort(compareUtf8), changed: changed.sort(compareUtf8), unread: unread.sort((a, b) => compareUtf8(a.path, b.path)), ...(unseen === undefined ? {} : { unseen }) };
}

/**
 * Finds an item of a list by its path: by binary search in the list's own order when its paths
 * are in byte order (a plan's are, as the walk made them), else through a map made once (a
 * rename can reorder the names, or leave one that is no file name at all). Asked in that order
 * (a walk again of the same tree), each is found by one comparison.
 */
export function finderByPath<T>(items: readonly T[], pathOf: (item: T) => string): (path: string) => T | undefined {
  let byPath: Map<string, T> | undefined;
  const viaMap = (path: string) => (byPath ??= new Map(items.map((item) => [pathOf(item), item]))).get(path);
  let sorted = true;
  try {
    for (let i = 1; i < items.length && sorted; i++) sorted = compareUtf8(pathOf(items[i - 1]!), pathOf(items[i]!)) < 0;
  } catch {
    sorted = false;
  }
  if (!sorted) return viaMap;
  // Asked in the list's own order (a walk of the same tree), the item after the last one found
  // is the one asked for: compared once, not searched for.
  let next = 0;
  return (path) => {
    if (next < items.length && pathOf(items[next]!) === path) return items[next++];
    let low = 0;
    let high = items.length - 1;
    try {
      while (low <= high) {
        const middle = (low + high) >>> 1;
        const side = compareUtf8(pathOf(items[middle]!), path);
        if (side === 0) {
          next = middle + 1;
          return items[middle];
        }
        if (side < 0) low = middle + 1;
        else high = middle - 1;
      }
      return undefined;
    } catch {
      return viaMap(path);
    }
  };
}

/**
 * Folder times last (every file written into a folder changed its mtime), then the folders
 * flushed, so the new names are durable: one syncfs for a destination's file system, or each
 * folder's own fsync where that fails (then a folder that cannot be flushed is known by name)
 * and for a folder on another file system mounted inside the destination.
 */
function finishFolders(states: DestinationState[], plan: OffloadPlan, options: OffloadOptions, files: ReadonlyArray<{ file: PlannedFile; result: FileResult }>): void {
  const folders = [...plan.folders].sort((a, b) => compareUtf8(b.relativePath, a.relativePath));
  for (const state of states) {
    if (!state.held) continue;
    const flush = options.flush(state.root);
    const unflushed = new Map<string, string>();
    const failed = (folder: string, error: unknown) => {
      const code = (error as { code?: string }).code;
      if (code === "EINVAL" || code === "EBADF" || code === "EPERM") return; // a file system that cannot flush folders
      const why = describeSystemError(error);
      state.problems.push(`${showName(joinPath(state.root, folder))}: folder cannot be finished: ${why}`);
      unflushed.set(folder, why);
    };
    // By name: a held folder keeps a bounded number of folder descriptors open.
    const toFlush: string[] = [];
    const elsewhere: string[] = [];
    for (const folder of [...folders, { relativePath: "", mtimeMs: Number.NaN, mtimeNs: undefined }]) {
      // A folder that could not be made, and those beneath it (named once, as the one made not).
      if (badFolderReason(state, folder.relativePath) !== undefined) continue;
      try {
        const fd = state.held.folderFd(folder.relativePath);
        // The time's own failure never keeps the folder from its flush.
        try {
          if (folder.mtimeNs !== undefined) setFileTimes(fd, folder.mtimeNs, folder.mtimeNs);
          else if (!Number.isNaN(folder.mtimeMs)) {
            const when = new Date(folder.mtimeMs);
            futimesSync(fd, when, when);
          }
        } catch (error) {
          // A file system that keeps no folder times (as for files), or will not let them be set.
          if (!isUnsupported(error) && (error as { code?: string }).code !== "EPERM") state.problems.push(`${showName(joinPath(state.root, folder.relativePath))}: folder time not set: ${describeSystemError(error)}`);
        }
        if (flush) (statFd(fd).dev === state.held.dev ? toFlush : elsewhere).push(folder.relativePath);
      } catch (error) {
        failed(folder.relativePath, error);
      }
    }
    const each = !flush ? [] : flushFileSystemOf(state.held.fd) ? elsewhere : [...toFlush, ...elsewhere];
    for (const relativePath of each) {
      try {
        fsyncSync(state.held.folderFd(relativePath));
      } catch (error) {
        failed(relativePath, error);
      }
    }
    if (unflushed.size === 0) continue;
    // The names of the copies in a folder that could not be flushed may not have reached the
    // device (a drive pulled before the end): those copies are not complete, each is named.
    for (const { file, result } of files) {
      const folder = file.destinationPath.includes("/") ? parentOf(file.destinationPath) : "";
      const why = unflushed.get(folder);
      if (why === undefined) continue;
      const mine = result.destinations.find((d) => d.root === state.root);
      if (!mine || !GOOD_STATUSES.has(mine.status)) continue;
      Object.assign(mine, { status: "failed", reason: `its name may not have reached the device: the folder could not be flushed (${why})`, kind: "other" });
      state.problems.push(`${showName(mine.path)}: failed: its name may not have reached the device: the folder could not be flushed (${why})`);
    }
  }
}

/**
 * For a file in one of the card's history folders (`ascmhl/`, `…/ascmhl/`), whether the
 * history already at that place in the destination continues the card's (lib/offload/history_copy.ts),
 * found once per folder and destination: undefined where the destination holds no chain there
 * (or the card has none), and the file is copied as any other.
 */
function historyVerdict(state: DestinationState, file: PlannedFile, sourceRoot: HeldFolder, chainSources: ReadonlyMap<string, string>): ChainVerdict | undefined {
  // The nearest history folder above the file: what is in a folder of `ascmhl/` is the history's too.
  const at = `/${file.destinationPath}`.lastIndexOf(`/${HISTORY_FOLDER}/`);
  if (at < 0 || !state.held) return undefined;
  const folder = file.destinationPath.slice(0, at + HISTORY_FOLDER.length);
  if (state.histories.has(folder)) return state.histories.get(folder);
  const chain = `${folder}/${CHAIN_FILE_NAME}`;
  const source = chainSources.get(folder);
  const verdict = source !== undefined && state.before.has(chain) ? chainVerdict(sourceRoot, source, state.held, chain) : undefined;
  state.histories.set(folder, verdict);
  return verdict;
}

async function copyOne(file: PlannedFile, sourceRoot: HeldFolder, states: DestinationState[], options: OffloadOptions, hooks: { barrier: FlushBarrier; onWritten: () => void; twinOf: (path: string) => string | undefined; writeThreads?: WriteThreads; chainSources: ReadonlyMap<string, string> }): Promise<FileResult> {
  const blocked = new Map<string, string>();
  const targets: Array<CopyTarget & { root: string }> = [];
  /** The card's chain where the destination's history continues it: compared, not copied. */
  const continued: RootedOutcome[] = [];
  for (const state of states) {
    const reason = blockedReason(state, file);
    const history = reason || options.overwrite ? undefined : historyVerdict(state, file, sourceRoot, hooks.chainSources);
    if (reason) blocked.set(state.root, reason);
    else if (history && !history.continues) blocked.set(state.root, `not copied: ${history.reason}`);
    // One that lists the card's generations and no more is compared as any file (present when identical).
    else if (history && history.own > 0 && isHistoryChain(file.destinationPath)) continued.push({ root: state.root, path: joinPath(state.root, file.destinationPath), status: "continued", reason: history.reason });
    else targets.push({ root: state.root, folder: state.held!, relative: file.destinationPath, flush: options.flush(state.root), absent: !state.before.has(file.destinationPath) });
  }
  const blockedOutcomes = (): RootedOutcome[] => [...blocked].map(([root, reason]) => ({ root, path: joinPath(root, file.destinationPath), status: "failed", reason, kind: states.find((s) => s.root === root)?.unusable ? "destination" : "other" }));
  if (file.kind === "link") {
    // The link's own times (never its target's), for each copy of it; a link gone since the walk is found in the look at the source after the copies.
    let times: EntryStat | undefined;
    try {
      times = sourceRoot.stat(file.relativePath);
    } catch {
      times = undefined;
    }
    hooks.onWritten();
    return { hexes: new Map(), destinations: [...blockedOutcomes(), ...continued, ...targets.map((t) => placeLink(t, file, options.overwrite, times?.kind === "link" ? times : undefined))] };
  }
  // A chain compared, not copied, is still read for its digests (the sum file and the report
  // record it) and for its state (the look at the card after the copies finds it changed).
  if (targets.length === 0 && continued.length === 0) {
    hooks.onWritten();
    return { hexes: new Map(), destinations: blockedOutcomes() };
  }
  let last = 0;
  const outcome = await copyFile({ folder: sourceRoot, relative: file.relativePath, throughLink: file.throughLink }, targets, {
    algorithms: options.algorithms,
    hasher: options.hasher,
    chunkSize: options.chunkSize,
    verify: options.verify,
    overwrite: options.overwrite,
    rateLimit: options.rateLimit,
    modes: options.modes,
    flushVia: (folder, fsyncOwn) => hooks.barrier.wait(folder.path, fsyncOwn),
    writeThreads: hooks.writeThreads,
    onWritten: hooks.onWritten,
    onProgress: (copied) => {
      options.onBytes?.(copied - last);
      last = copied;
    },
    explainAppeared: (target) => {
      const twin = hooks.twinOf(target.relative);
      return twin ? `two source names are one name on this destination (it does not tell case or Unicode normalization apart): '${showName(twin)}' and '${showName(target.relative)}'` : undefined;
    },
  });
  hooks.onWritten();
  // Compared again once the card's chain was read for its digests: what the card's chain held
  // from then on is what the destination's continues (a change after it is the look's to find).
  for (const [i, mine] of continued.entries()) {
    const state = states.find((s) => s.root === mine.root)!;
    const again = outcome.sourceError ? undefined : chainVerdict(sourceRoot, file.relativePath, state.held!, file.destinationPath);
    if (!again?.continues || again.own === 0) continued[i] = { ...mine, status: "failed", reason: again ? `not copied: ${again.continues ? "one of the two chains changed while they were compared" : again.reason}` : `not checked: the source ${outcome.sourceError}`, kind: "other" };
  }
  return {
    hexes: new Digests(outcome.hexes),
    destinations: [...blockedOutcomes(), ...continued, ...outcome.destinations.map((d, i) => ({ ...withoutEchoedDigests(d, outcome.hexes), root: targets[i]!.root }))],
    ...(outcome.sourceError ? { sourceError: outcome.sourceError } : {}),
    ...(outcome.sourceStat && !outcome.sourceError ? { sourceState: sourceStateOf(outcome.sourceStat) } : {}),
  };
}

/**
 * A destination's outcome without the digests it read back when they are the source's own (a
 * verified copy): the result of every file is held to the end of the run, and a reader of it
 * takes the source's digests where a destination has none of its own.
 */
function withoutEchoedDigests(outcome: DestinationOutcome, source: Map<Algorithm, string>): DestinationOutcome {
  const read = outcome.hexes;
  if (!read || read.size !== source.size || [...read].some(([algorithm, hex]) => source.get(algorithm) !== hex)) return outcome;
  const { hexes: _, ...rest } = outcome;
  return rest;
}

/**
 * Recreates a link (`links: "copy"`): its target as stored, never followed, and its source's
 * times (`times`) on the link itself; an identical link is present, and keeps its own times.
 */
function placeLink(target: CopyTarget & { root: string }, file: PlannedFile, overwrite: boolean, times: EntryStat | undefined): RootedOutcome {
  const path = target.folder.pathOf(target.relative);
  const wanted = file.linkTarget ?? "";
  try {
    const existing = target.folder.stat(target.relative);
    if (existing) {
      if (existing.kind === "link" && target.folder.readLink(target.relative) === wanted) return { root: target.root, path, status: "present" };
      if (!overwrite || existing.kind === "folder") return { root: target.root, path, status: "failed", reason: existing.kind === "folder" ? "a folder is at this name; it is never replaced" : "something else is at this name", kind: existing.kind === "folder" ? "other" : "exists" };
      target.folder.remove(target.relative);
    }
    target.folder.makeLink(wanted, target.relative);
    const back = target.folder.readLink(target.relative);
    if (back !== wanted) return { root: target.root, path, status: "mismatch", reason: `the link reads back as '${showName(back)}'` };
  } catch (error) {
    return { root: target.root, path, status: "failed", reason: `link cannot be made: ${describeSystemError(error)}` };
  }
  try {
    if (times) target.folder.setLinkTimes(target.relative, times.atimeNs, times.mtimeNs);
  } catch (error) {
    // As for a file: a file system that keeps no times leaves the link with what it gives.
    if (!isUnsupported(error)) return { root: target.root, path, status: "failed", reason: `link times not set: ${describeSystemError(error)}` };
  }
  return { root: target.root, path, status: "verified" };
}

/**
 * Parses a sed-style substitution, `s/REGEX/REPLACEMENT/` with optional `g` and `i` flags and
 * any delimiter, into a function applied to file names.
 * @example
 * parseRename("s/^A001/B001/")("A001C001.mov"); // "B001C001.mov"
 */
export function parseRename(expression: string): (name: string) => string {
  const delimiter = expression[1];
  const invalid = () => Object.assign(new Error(`invalid rename '${expression}'; expected s/REGEX/REPLACEMENT/ (flags g, i)`), { code: "ERENAME" });
  if (!expression.startsWith("s") || !delimiter || /[\w\s\\]/.test(delimiter)) throw invalid();
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
  if (parts.length !== 3 || !/^[gi]*$/.test(parts[2]!)) throw invalid();
  let pattern: RegExp;
  try {
    pattern = new RegExp(parts[0]!, parts[2]);
  } catch (error) {
    throw Object.assign(new Error(`invalid rename '${expression}': ${(error as Error).message}`), { code: "ERENAME" });
  }
  const replacement = parts[1]!.replace(/\\(\d)/g, "$$$1");
  // The new name as bytes would read it back: a rule that joins two escaped bytes into one
  // character (`\xc3` and `\xa9` into `é`) names the file as `é` would (one name, one file).
  return (name) => {
    const renamed = name.replace(pattern, replacement);
    try {
      return nameFromBytes(nameBytes(renamed));
    } catch {
      // no file name (a character split in two): refused by name when the file is planned
      return renamed;
    }
  };
}
