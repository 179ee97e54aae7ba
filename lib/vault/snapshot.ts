/**
 * `commit`: a snapshot of a source folder as a new commit on a branch.
 *
 * The source is walked with the one walker (OS litter left out as dispatchcopy leaves it, and
 * ASC MHL histories too: a checkout writes its own). A file the stat cache knows unchanged is
 * not read; every other file is imported (import.ts). Once every object and its record are on
 * the device, the commit is written, then the branch moved to it by compare-and-swap, then the
 * stat cache saved. Killed at any point, the vault stays consistent: the branch names the old
 * commit or the new one, never a half one, and a commit run again finishes the work (objects
 * already stored are found and not stored twice).
 */
import { hostname } from "node:os";
import { closeSync, realpathSync } from "node:fs";
import { CliError, describeSystemError, ExitCode } from "../core/errors.ts";
import { baseOf, compareUtf8, showName } from "../core/names.ts";
import { loginName } from "../core/user.ts";
import { NO_PROGRESS, type ProgressFactory } from "../core/sink.ts";
import { HeldFolder, statFd, type EntryStat } from "../io/held_folder.ts";
import { DEFAULT_IGNORES, IgnoreList } from "../io/ignore.ts";
import { walkFiles, type SpecialPolicy, type WalkEntry } from "../io/walk.ts";
import { encodeCommit, type CommitEntry } from "./commit.ts";
import { BATCH_FILES, ImportError, Importer, type ImportMode } from "./import.ts";
import { branchNameProblem, commitPathProblem, shortId } from "./layout.ts";
import { changeTimeTrust, loadStatCache, saveStatCache, stillAsCached, TRUSTED_FILE_SYSTEMS, type CachedLine, type CachedStat } from "./stat_cache.ts";
import { BranchMovedError, type Vault } from "./store.ts";

/** Files hashed at once when reflinks or hard links bring them in. */
const HASHERS = 2;

/** Options of {@link snapshot}. */
export interface SnapshotOptions {
  branch: string;
  message: string;
  /** @default "auto" */
  mode?: ImportMode;
  /** Links inside the source: `follow` (a link to a file inside is that file) or `skip`. @default "follow" */
  links?: "follow" | "skip";
  /** @default "fail" */
  special?: SpecialPolicy;
  /** `user@host` (default: $USER and this machine's name). */
  author?: string;
  /** Files copied at once in copy mode (more may wait for their flush meanwhile). @default 2 */
  jobs?: number;
  /** Read every file, whatever the stat cache says. @default false */
  readAll?: boolean;
  /** Notes for stderr (what was left out on purpose, how files come in). */
  onNote?: (line: string) => void;
  /** Each entry that could not be included, by path: the commit is then not made. */
  onProblem?: (path: string, message: string) => void;
  progress?: ProgressFactory;
}

/** What a commit did. */
export interface SnapshotResult {
  /** The new commit, or the branch's commit when nothing changed. */
  id: string;
  branch: string;
  parent: string | undefined;
  /** True when the tree was the branch's already: no commit was made. */
  unchanged: boolean;
  files: number;
  bytes: number;
  /** Files read (not known to the stat cache), and their bytes. */
  read: { files: number; bytes: number };
  /** Objects the vault did not have, and their bytes. */
  stored: { files: number; bytes: number };
  /** How files came in: reflink, hardlink or copy (`auto` resolved), or "none" when nothing was read. */
  mode: ImportMode | "none";
}

/** `$USER@host`, as commits name their author ($USER unset: the user of this process's uid). */
export function defaultAuthor(): string {
  return `${process.env.USER || process.env.LOGNAME || userName()}@${hostname()}`;
}

function userName(): string {
  return loginName() ?? `uid${process.getuid?.() ?? "?"}`;
}

/** What a walk of the source leaves out: OS litter and ASC MHL histories. */
function sourceIgnore(onHistory: (path: string) => void): { matches: (path: string, isFolder: boolean) => boolean } {
  const litter = new IgnoreList(DEFAULT_IGNORES);
  return {
    matches: (path, isFolder) => {
      if (isFolder && baseOf(path) === "ascmhl") {
        onHistory(path);
        return true;
      }
      return litter.matches(path);
    },
  };
}

/** One file of the source, as the commit will hold it. */
interface Planned {
  walked: WalkEntry;
  path: string;
  stat?: EntryStat;
  imported?: { id: string; size: number; stat: EntryStat };
}

/**
 * Runs `work` on every item in order of start: at most `limit` at once that read and write,
 * and at most `waiting` more that have written everything and wait for a group flush (each
 * calls its `written` when it gets there).
 */
async function forEachPipelined<T>(items: readonly T[], limit: number, waiting: number, work: (item: T, written: () => void) => Promise<void>, idle: () => void): Promise<void> {
  let active = 0;
  const inFlight = new Set<Promise<void>>();
  const wake: Array<() => void> = [];
  for (const item of items) {
    while (active >= limit || inFlight.size >= limit + waiting) await new Promise<void>((resolve) => wake.push(resolve));
    active++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      active--;
      wake.shift()?.();
    };
    const task = work(item, release).finally(() => {
      release();
      inFlight.delete(task);
      wake.shift()?.();
    });
    inFlight.add(task);
  }
  // Nothing more to start: those waiting for a flush have it now.
  while (inFlight.size > 0) {
    idle();
    await Promise.race(inFlight);
  }
}

/** Entries in byte order of their paths (most often they come so from the walk already). */
function sortedByPath(entries: CommitEntry[]): CommitEntry[] {
  for (let i = 1; i < entries.length; i++) {
    if (compareUtf8(entries[i - 1]!.path, entries[i]!.path) > 0) return entries.sort((a, b) => compareUtf8(a.path, b.path));
  }
  return entries;
}

/** Refuses a source that holds the vault, or lies inside it. */
function checkPlaces(vault: Vault, source: string): string {
  let real: string;
  let vaultReal: string;
  try {
    real = realpathSync(source);
    vaultReal = realpathSync(vault.path);
  } catch (error) {
    throw new CliError(`cannot read the source: ${describeSystemError(error)}`, { path: source });
  }
  const inside = (a: string, b: string) => a === b || a.startsWith(b.endsWith("/") ? b : `${b}/`);
  if (inside(vaultReal, real)) throw new CliError("holds the vault; commit a folder the vault is not in", { path: source });
  if (inside(real, vaultReal)) throw new CliError("is inside the vault; commit a folder outside it", { path: source });
  return real;
}

/**
 * Commits the folder `source` to a branch (made if new).
 * @throws {CliError} when anything could not be included (each named through `onProblem`
 *   first; nothing is committed), or when the branch moved meanwhile.
 */
export async function snapshot(vault: Vault, source: string, options: SnapshotOptions): Promise<SnapshotResult> {
  const branch = options.branch;
  const branchProblem = branchNameProblem(branch);
  if (branchProblem) throw new CliError(`bad branch name '${branch}': ${branchProblem}`);
  const note = options.onNote ?? (() => {});
  let problems = 0;
  const problem = (path: string, message: string) => {
    problems++;
    options.onProblem?.(path, message);
  };
  const real = checkPlaces(vault, source);
  vault.lock("shared");
  const parent = vault.readRef(branch);
  const parentHeader = parent ? await vault.readHeader(parent) : undefined;
  if (!parent) {
    const others = vault.listBranchNames();
    if (others.length > 0) note(`branch '${branch}' is new and starts a history of its own; to start it from another branch, make it first with 'cartvault branch STORE ${branch} --from ${others.includes("main") ? "main" : others[0]}'`);
  }

  let held: HeldFolder;
  try {
    held = HeldFolder.open(source);
  } catch (error) {
    throw new CliError(`cannot read the source: ${describeSystemError(error)}`, { path: source });
  }
  try {
    const walkStartNs = BigInt(Date.now()) * 1_000_000n;
    const histories: string[] = [];
    const walked = walkFiles(held, {
      ignore: sourceIgnore((path) => histories.push(path)),
      links: options.links ?? "follow",
      special: options.special ?? "fail",
      onProblem: (p) => problem(p.path, p.message),
      onSkipped: (p) => note(`${showName(p.path)}: ${p.message}`),
    });
    for (const path of histories) note(`${showName(held.pathOf(path))}: an ASC MHL history, not committed (a checkout writes its own)`);

    // Paths as the commit holds them (NFC), each once.
    const planned: Planned[] = [];
    const byPath = new Map<string, string>();
    for (const entry of walked) {
      const path = entry.relativePath.normalize("NFC");
      const bad = commitPathProblem(path);
      if (bad) {
        problem(entry.path, `cannot be committed: ${bad}`);
        continue;
      }
      const twin = byPath.get(path);
      if (twin !== undefined) {
        problem(entry.path, `cannot be committed: it and ${showName(held.pathOf(twin))} are one name in Unicode NFC, as a commit holds names`);
        continue;
      }
      byPath.set(path, entry.relativePath);
      planned.push({ walked: entry, path });
    }
    if (problems > 0) throw new CliError(`${problems} entr${problems === 1 ? "y" : "ies"} could not be included (named above); nothing was committed`, { path: source });

    // What the stat cache knows unchanged is not read.
    const sourceDev = held.dev;
    // The cache is believed only where the change time is real, and only for files on SRC's own file system.
    const trust = changeTimeTrust(held.fd);
    if (!trust.trusted && !options.readAll) note(`${showName(source)} is on ${trust.fileSystem}, whose change time cannot be trusted: every file is read (the stat cache is used on ${TRUSTED_FILE_SYSTEMS})`);
    const useCache = trust.trusted && !options.readAll;
    const cache = useCache ? loadStatCache(vault, real, sourceDev) : { commit: undefined, entries: new Map<string, CachedLine>() };
    const saveCache = (state: { commit: string | undefined; entries: Map<string, CachedStat> }) => {
      if (trust.trusted) saveStatCache(vault, real, sourceDev, state, walkStartNs);
    };
    const toRead: Planned[] = [];
    const hits: Array<{ item: Planned; cached: CachedLine }> = [];
    for (const item of planned) {
      let stat: EntryStat | undefined;
      try {
        stat = statOf(held, item.walked);
      } catch (error) {
        problem(item.walked.path, `cannot be read: ${describeSystemError(error)}`);
        continue;
      }
      if (stat?.kind !== "file") {
        problem(item.walked.path, "disappeared or changed kind while the source was walked");
        continue;
      }
      item.stat = stat;
      const cached = stat.dev === sourceDev ? cache.entries.get(item.walked.relativePath) : undefined;
      if (cached && stillAsCached(cached, stat)) {
        hits.push({ item, cached });
        item.imported = { id: cached.id, size: cached.size, stat };
      } else toRead.push(item);
    }
    if (problems > 0) throw new CliError(`${problems} entr${problems === 1 ? "y" : "ies"} could not be read (named above); nothing was committed`, { path: source });

    const author = options.author ?? defaultAuthor();
    const draftOf = () => ({
      parents: parent ? [parent] : [],
      author,
      time: new Date().toISOString(),
      message: options.message,
      entries: sortedByPath(planned.map((item) => ({ path: item.path, id: item.imported!.id, size: item.imported!.size, mode: item.imported!.stat.mode & 0o777, mtimeNs: item.imported!.stat.mtimeNs }))),
    });
    const cacheOf = () =>
      new Map<string, CachedStat>(
        planned.map((item) => {
          const s = item.imported!.stat;
          return [item.walked.relativePath, { size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, ino: s.ino, id: item.imported!.id }];
        }),
      );
    const unchanged = (): SnapshotResult => ({
      id: parent!,
      branch,
      parent,
      unchanged: true,
      files: planned.length,
      bytes: planned.reduce((n, p) => n + p.imported!.size, 0),
      read: { files: 0, bytes: 0 },
      stored: { files: 0, bytes: 0 },
      mode: "none",
    });
    // Nothing to read and the branch's tree comes out: nothing changed, no commit.
    if (toRead.length === 0 && parentHeader && (await encodeCommit(draftOf())).tree === parentHeader.tree) {
      // The cache already says exactly this unless it holds more (files since removed).
      if (cache.commit !== parent || cache.entries.size !== planned.length) saveCache({ commit: parent, entries: cacheOf() });
      return unchanged();
    }
    // Otherwise the cache is trusted only as far as the branch's commit agrees with it (the
    // cache is this machine's, and could be stale or planted): a file it knows is taken as
    // unchanged only if the branch's commit holds that object at that path; others are read.
    const before = parent ? new Map((await vault.readCommit(parent)).entries.map((e) => [e.path, e])) : new Map<string, CommitEntry>();
    for (const { item, cached } of hits) {
      const was = before.get(item.path);
      if (!was || was.id !== cached.id || was.size !== cached.size) {
        item.imported = undefined;
        toRead.push(item);
      }
    }

    // Import what must be read.
    toRead.sort((a, b) => compareUtf8(a.path, b.path));
    // Clones and links cost nothing to make: hashing them is the work, on both cores.
    const importer = new Importer(vault, held, options.mode ?? "auto", toRead.length > 1 ? HASHERS : 1);
    const progress = options.progress?.({ files: toRead.length, bytes: toRead.reduce((n, p) => n + p.stat!.size, 0) }) ?? NO_PROGRESS;
    const stored = { files: 0, bytes: 0 };
    const read = { files: 0, bytes: 0 };
    let mismatches = 0;
    const one = async (item: Planned, written: () => void = () => {}) => {
      try {
        const result = await importer.importFile(item.walked.relativePath, item.walked.throughLink ?? false, item.stat!, written, before.get(item.path)?.size === item.stat!.size);
        item.imported = { id: result.id, size: result.size, stat: result.stat };
        read.files++;
        read.bytes += result.size;
        if (result.stored) {
          stored.files++;
          stored.bytes += result.size;
        }
        progress.fileDone(result.size);
      } catch (error) {
        progress.clear();
        if (error instanceof ImportError && error.mismatch) mismatches++;
        problem(item.walked.path, error instanceof ImportError ? error.message : `cannot be imported: ${describeSystemError(error)}`);
      }
    };
    // The first file decides what `auto` means; copies then run several at once, and those
    // that wait for their flush let the next ones start.
    if (toRead.length > 0) await one(toRead[0]!);
    try {
      await forEachPipelined(toRead.slice(1), importer.mode === "copy" ? Math.max(1, options.jobs ?? 2) : HASHERS, BATCH_FILES, one, () => importer.flushNow());
    } finally {
      importer.finish();
    }
    progress.finish();
    if (problems > 0) {
      throw new CliError(`${problems} file(s) could not be imported (named above); nothing was committed (what was stored is kept for the next try)`, {
        path: source,
        exitCode: mismatches > 0 ? ExitCode.VerifyFailed : ExitCode.UsageOrIo,
      });
    }

    const draft = draftOf();
    const encoded = await encodeCommit(draft);
    const files = draft.entries.length;
    const bytes = draft.entries.reduce((n, e) => n + e.size, 0);
    const base = { branch, parent, files, bytes, read, stored, mode: read.files === 0 ? "none" : importer.mode } as const;
    const cacheEntries = cacheOf();
    if (parentHeader && parentHeader.tree === encoded.tree) {
      saveCache({ commit: parent, entries: cacheEntries });
      return { ...base, id: parent!, unchanged: true };
    }
    const id = vault.writeCommit(encoded);
    try {
      vault.updateBranch(branch, parent, id);
    } catch (error) {
      if (error instanceof BranchMovedError) {
        saveCache({ commit: undefined, entries: cacheEntries });
        throw new CliError(`${error.message}. This snapshot is commit ${id}, on no branch; commit again to put it on top, or keep it as it is with 'cartvault branch STORE NAME --from ${shortId(id)}'`, { path: error.path });
      }
      throw error;
    }
    saveCache({ commit: id, entries: cacheEntries });
    return { ...base, id, unchanged: false };
  } finally {
    held.close();
  }
}

/** A walked file's state now, with its times to the nanosecond (a followed link: its target's). */
function statOf(held: HeldFolder, entry: WalkEntry): EntryStat | undefined {
  if (!entry.throughLink) return held.stat(entry.relativePath);
  const fd = held.openReadInside(entry.relativePath);
  try {
    return statFd(fd);
  } finally {
    closeSync(fd);
  }
}
