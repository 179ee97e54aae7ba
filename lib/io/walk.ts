/**
 * The tree walker: every entry below a root, in one deterministic order (relative paths compared
 * byte by byte, like `LC_ALL=C sort`), ignored entries left out, and nothing left out silently.
 *
 * Names are read as bytes (lib/core/names.ts) and every name is resolved beneath the root
 * without following a link on its way (lib/io/held_folder.ts). What the walk meets besides
 * files and folders is decided by policy, the same in every tool:
 *
 * - links ({@link LinkPolicy}): `follow` takes a link to a file inside the tree as that file
 *   (a link that leaves the tree, dangles or points to a folder is a problem); `copy` lists the
 *   link itself, for a copy that recreates it; `skip` leaves links out (reported, not a problem);
 * - FIFOs, sockets and devices ({@link SpecialPolicy}): a problem, or left out with `skip`.
 *
 * A folder that cannot be read is a problem too. A problem is reported through `onProblem`; the
 * tool counts it and fails the run. The walk uses no recursion: depth is bounded by nothing but
 * the path length the kernel takes.
 */
import { closeSync } from "node:fs";
import { describeSystemError, strerrorOf } from "../core/errors.ts";
import { compareUtf8, flatString, joinPath } from "../core/names.ts";
import { HeldFolder, kindInWords, statFd, type EntryKind, type EntryStat } from "./held_folder.ts";
import { IgnoreList } from "./ignore.ts";
import { collectNowAndThen } from "../core/memory.ts";
import { STAT_BATCH } from "./stat_batch.ts";

/** Fewest entries of a folder stat'ed in native calls (lib/io/stat_batch.ts): fewer are stat'ed one by one. */
const BATCH_LEAST = 32;

/** What the walk does with a symbolic link. */
export type LinkPolicy = "follow" | "copy" | "skip";
export const LINK_POLICIES: readonly LinkPolicy[] = ["follow", "copy", "skip"];

/** What the walk does with FIFOs, sockets and devices. */
export type SpecialPolicy = "fail" | "skip";

/** A file (or, with `links: "copy"`, a link) found by {@link walkFiles}. */
export interface WalkEntry {
  /** Path relative to the root, `/`-separated. */
  relativePath: string;
  /** The root joined with the relative path (for messages and for tools that take paths). */
  path: string;
  /** `file`, or `link` for a link listed as itself (`links: "copy"`). */
  kind: "file" | "link";
  /** Size in bytes when walked (a link: 0). */
  size: number;
  /** Modification time when walked. */
  mtimeMs: number;
  /** Inode when walked (a followed link: its target's). */
  ino: bigint;
  /** Change time when walked, when asked for ({@link WalkOptions.changeTimes}). */
  ctimeNs?: bigint;
  /** For `kind: "link"`: where it points, as stored. */
  linkTarget?: string;
  /** True for a file reached through a link inside the tree (`links: "follow"`). */
  throughLink?: boolean;
}

/** Something the walk could not include: reported, counted, never silently dropped. */
export interface WalkProblem {
  path: string;
  message: string;
  /** The entry's path below the walk's root (`""`: the root itself), when the walk gives it. */
  relativePath?: string;
  /** Why the entry could not be read, when that is the problem (not what the entry is). */
  unreadable?: string;
}

/** Options for {@link walkFiles} and {@link walkFolders}. */
export interface WalkOptions {
  /** Entries to leave out; ignored folders are not entered. */
  ignore?: WalkIgnore;
  /** Called for what the walk could not include (see the module's description). */
  onProblem?: (problem: WalkProblem) => void;
  /** Called for what the policies say to leave out (links with `skip`, special files with `skip`). */
  onSkipped?: (problem: WalkProblem) => void;
  /** Receives every folder below the root (relative path, `/`-separated), parents first. */
  folders?: Array<{ relativePath: string; path: string; mtimeMs: number; mtimeNs?: bigint }>;
  /** @default "follow" */
  links?: LinkPolicy;
  /** @default "fail" */
  special?: SpecialPolicy;
  /**
   * Stat every entry. False leaves a regular file the folder's listing already names as one
   * unstat'ed (one system call less per file, for callers that measure what they open): its
   * `size` and `mtimeMs` are NaN and its `ino` 0n. Folders, links and entries whose kind the file
   * system does not list are stat'ed whatever this says.
   * @default true
   */
  details?: boolean;
  /** Give each file its change time ({@link TreeItem.ctimeNs}), from the stat the walk makes anyway. */
  changeTimes?: boolean;
}

/** Decides what a walk leaves out ({@link IgnoreList}, or the ASC MHL ignore patterns). */
export interface WalkIgnore {
  matches(relativePath: string, isFolder: boolean): boolean;
}

/** One entry of a folder, as {@link walkFolders} gives it. */
export interface TreeItem {
  name: string;
  relativePath: string;
  kind: "file" | "folder" | "link";
  size: number;
  mtimeMs: number;
  /** The inode (with the walk's device, the entry's identity; for a followed link, its target's). */
  ino: bigint;
  /** A file's change time, when the walk was asked for it ({@link WalkOptions.changeTimes}). */
  ctimeNs?: bigint;
  /** A folder's modification time in whole nanoseconds (what a copy of the folder is given). */
  mtimeNs?: bigint;
  linkTarget?: string;
  throughLink?: boolean;
}

/** A folder and its entries (sorted in byte order), as {@link walkFolders} gives it. */
export interface TreeLevel {
  /** "" for the root. */
  relativePath: string;
  path: string;
  mtimeMs: number;
  items: TreeItem[];
}

/** What a link inside the tree leads to, if it stays inside. */
function statThroughLink(root: HeldFolder, relativePath: string): { stat?: EntryStat; message?: string } {
  let fd: number;
  try {
    fd = root.openReadInside(relativePath);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "EXDEV") return { message: "symbolic link that leaves the tree, not followed" };
    if (code === "ENOENT") return { message: "dangling symbolic link" };
    if (code === "ELOOP") return { message: "symbolic link that cannot be followed safely here (a loop, or no way to keep it inside the tree)" };
    return { message: `symbolic link that cannot be followed: ${describeSystemError(error)}` };
  }
  try {
    return { stat: statFd(fd) };
  } finally {
    closeSync(fd);
  }
}

/** A walk's settings, resolved once. */
interface WalkContext {
  held: HeldFolder;
  ignore: WalkIgnore;
  problem: (problem: WalkProblem) => void;
  skipped: (problem: WalkProblem) => void;
  links: LinkPolicy;
  special: SpecialPolicy;
  details: boolean;
  changeTimes: boolean;
}

function contextOf(held: HeldFolder, options: WalkOptions): WalkContext {
  return {
    held,
    ignore: options.ignore ?? new IgnoreList([]),
    problem: options.onProblem ?? (() => {}),
    skipped: options.onSkipped ?? (() => {}),
    links: options.links ?? "follow",
    special: options.special ?? "fail",
    details: options.details ?? true,
    changeTimes: options.changeTimes ?? false,
  };
}

/**
 * The entries of one folder that the policies keep, sorted in byte order by name; undefined
 * when the folder cannot be read (reported). Each relative path is stored flat: it is held for
 * as long as the caller keeps the entry, often for the whole run.
 */
function readLevel(context: WalkContext, folder: string): TreeItem[] | undefined {
  const { held, ignore, problem, skipped, links, special, details, changeTimes } = context;
  let listed;
  try {
    listed = held.list(folder);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === "ELOOP" || code === "ENOTDIR" ? describeSystemError(error) : strerrorOf(error);
    problem({ path: held.pathOf(folder), relativePath: folder, message: `folder cannot be read: ${why}`, unreadable: why });
    return undefined;
  }
  const items: TreeItem[] = [];
  // Where every entry is stat'ed, they are in native calls of up to STAT_BATCH entries.
  const batched = details && listed.length >= BATCH_LEAST;
  let batch: Array<EntryStat | undefined | Error> | undefined;
  let batchFrom = 0;
  for (let index = 0; index < listed.length; index++) {
    const entry = listed[index]!;
    // A folder of 200,000 files makes that many stats before the first is given.
    collectNowAndThen();
    const relativePath = folder === "" ? entry.name : flatString(`${folder}/${entry.name}`);
    const path = () => held.pathOf(relativePath);
    if (!details && entry.kind === "file") {
      if (ignore.matches(relativePath, false)) continue;
      items.push({ name: entry.name, relativePath, kind: "file", size: NaN, mtimeMs: NaN, ino: 0n });
      continue;
    }
    // Every entry comes here where they are batched (details): a new call at each STAT_BATCH.
    if (batched && index % STAT_BATCH === 0) {
      batchFrom = index;
      batch = held.statEntries(folder, listed.slice(index, index + STAT_BATCH));
    }
    let stat: EntryStat | undefined;
    try {
      const given = batch && index < batchFrom + batch.length ? batch[index - batchFrom] : held.statEntry(folder, entry);
      if (given instanceof Error) throw given;
      stat = given;
    } catch (error) {
      problem({ path: path(), relativePath, message: `cannot be read: ${strerrorOf(error)}`, unreadable: strerrorOf(error) });
      continue;
    }
    if (!stat) continue; // removed since the listing
    const kind: EntryKind = stat.kind;
    if (kind === "folder") {
      if (ignore.matches(relativePath, true)) continue;
      items.push({ name: entry.name, relativePath, kind: "folder", size: 0, mtimeMs: stat.mtimeMs, mtimeNs: stat.mtimeNs, ino: stat.ino });
      continue;
    }
    if (ignore.matches(relativePath, false)) continue;
    if (kind === "file") {
      items.push(changeTimes ? { name: entry.name, relativePath, kind: "file", size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, ctimeNs: stat.ctimeNs } : { name: entry.name, relativePath, kind: "file", size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino });
      continue;
    }
    if (kind === "link") {
      if (links === "skip") {
        skipped({ path: path(), relativePath, message: "symbolic link, left out (--links skip)" });
        continue;
      }
      if (links === "copy") {
        let target: string;
        try {
          target = held.readLink(relativePath);
        } catch (error) {
          problem({ path: path(), relativePath, message: `symbolic link that cannot be read: ${strerrorOf(error)}` });
          continue;
        }
        items.push({ name: entry.name, relativePath, kind: "link", size: 0, mtimeMs: stat.mtimeMs, ino: stat.ino, linkTarget: target });
        continue;
      }
      const through = statThroughLink(held, relativePath);
      if (!through.stat) {
        problem({ path: path(), relativePath, message: through.message! });
        continue;
      }
      if (through.stat.kind === "folder") {
        skipped({ path: path(), relativePath, message: "symbolic link to a folder inside the tree, not entered (its files are walked where they are)" });
        continue;
      }
      if (through.stat.kind !== "file") {
        problem({ path: path(), relativePath, message: `symbolic link to ${kindInWords(through.stat.kind)}, not followed` });
        continue;
      }
      items.push({ name: entry.name, relativePath, kind: "file", size: through.stat.size, mtimeMs: through.stat.mtimeMs, ino: through.stat.ino, throughLink: true, ...(changeTimes ? { ctimeNs: through.stat.ctimeNs } : {}) });
      continue;
    }
    const what = kindInWords(kind);
    if (special === "skip") skipped({ path: path(), relativePath, message: `${what}, left out (--special skip)` });
    else problem({ path: path(), relativePath, message: `${what}, not a regular file: it cannot be copied or hashed` });
  }
  return items;
}

/** The root's own stat, or undefined (reported) when it cannot be read. */
function rootStatOf(context: WalkContext): EntryStat | undefined | null {
  try {
    return context.held.stat("");
  } catch (error) {
    context.problem({ path: context.held.path, relativePath: "", message: `folder cannot be read: ${strerrorOf(error)}`, unreadable: strerrorOf(error) });
    return null;
  }
}

/**
 * Walks the folders below `root` (the root first), each with its entries sorted in byte order,
 * calling `visit` for each before entering its sub-folders (depth first, iteratively).
 * Entries are what the policies keep: files, folders, and links (`copy`). Returns false when
 * the root could not be read.
 */
export function walkFolders(root: string | HeldFolder, options: WalkOptions, visit: (level: TreeLevel) => void): boolean {
  const held = typeof root === "string" ? HeldFolder.open(root) : root;
  const context = contextOf(held, options);
  try {
    const rootStat = rootStatOf(context);
    if (rootStat === null) return false;
    const stack: Array<{ relativePath: string; mtimeMs: number }> = [{ relativePath: "", mtimeMs: rootStat?.mtimeMs ?? 0 }];
    let rootRead = true;
    while (stack.length > 0) {
      const folder = stack.pop()!;
      const items = readLevel(context, folder.relativePath);
      if (!items) {
        if (folder.relativePath === "") rootRead = false;
        continue;
      }
      visit({ relativePath: folder.relativePath, path: held.pathOf(folder.relativePath), mtimeMs: folder.mtimeMs, items });
      for (let i = items.length - 1; i >= 0; i--) {
        const item = items[i]!;
        collectNowAndThen();
        if (item.kind === "folder") stack.push({ relativePath: item.relativePath, mtimeMs: item.mtimeMs });
      }
    }
    return rootRead;
  } finally {
    if (typeof root === "string") held.close();
  }
}

/**
 * A folder's entries in the order their paths sort in: a folder `a` sorts as `a/`, since every
 * path beneath it starts so (`a.txt` before `a/x`, `a/x` before `a0`). Walking each folder in
 * this order gives every path of the tree in byte order without sorting them all.
 */
function inPathOrder(items: TreeItem[]): TreeItem[] {
  if (!items.some((item) => item.kind === "folder")) return items;
  const keyOf = (item: TreeItem) => (item.kind === "folder" ? `${item.name}/` : item.name);
  return items.slice().sort((a, b) => compareUtf8(keyOf(a), keyOf(b)));
}

/** A file found by a walk; its absolute path is made only when asked for. */
class WalkedFile implements WalkEntry {
  readonly #root: string;
  readonly relativePath: string;
  readonly kind: "file" | "link";
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: bigint;
  readonly ctimeNs?: bigint;
  readonly linkTarget?: string;
  readonly throughLink?: boolean;

  constructor(root: string, item: TreeItem) {
    this.#root = root;
    this.relativePath = item.relativePath;
    this.kind = item.kind === "link" ? "link" : "file";
    this.size = item.size;
    this.mtimeMs = item.mtimeMs;
    this.ino = item.ino;
    if (item.ctimeNs !== undefined) this.ctimeNs = item.ctimeNs;
    if (item.linkTarget !== undefined) this.linkTarget = item.linkTarget;
    if (item.throughLink) this.throughLink = true;
  }

  get path(): string {
    return joinPath(this.#root, this.relativePath);
  }
}

/**
 * Every file below `root` (and, with `links: "copy"`, every link), one at a time, in byte order
 * of their relative paths. Only the folders on the way to the current one are held, so a tree
 * of any size is walked in the memory of its largest folder.
 * @example
 * declare const problems: WalkProblem[], use: (relativePath: string) => void;
 * for (const f of eachFile("/Volumes/A001", { onProblem: (p) => problems.push(p) })) use(f.relativePath);
 */
export function* eachFile(root: string | HeldFolder, options: WalkOptions = {}): Generator<WalkEntry, void, undefined> {
  const held = typeof root === "string" ? HeldFolder.open(root) : root;
  const context = contextOf(held, options);
  try {
    const rootStat = rootStatOf(context);
    if (rootStat === null) return;
    const rootItems = readLevel(context, "");
    if (!rootItems) return;
    const stack: Array<{ items: TreeItem[]; next: number }> = [{ items: inPathOrder(rootItems), next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next >= top.items.length) {
        stack.pop();
        continue;
      }
      const item = top.items[top.next++]!;
      if (item.kind !== "folder") {
        collectNowAndThen();
        yield new WalkedFile(held.path, item);
        continue;
      }
      const items = readLevel(context, item.relativePath);
      if (!items) continue;
      options.folders?.push({ relativePath: item.relativePath, path: held.pathOf(item.relativePath), mtimeMs: item.mtimeMs, ...(item.mtimeNs !== undefined ? { mtimeNs: item.mtimeNs } : {}) });
      stack.push({ items: inPathOrder(items), next: 0 });
    }
  } finally {
    if (typeof root === "string") held.close();
  }
}

/**
 * Lists every file below `root` (and, with `links: "copy"`, every link), sorted by relative
 * path in byte order ({@link eachFile}, collected).
 * @example
 * declare const problems: WalkProblem[], use: (relativePath: string) => void;
 * for (const f of walkFiles("/Volumes/A001", { onProblem: (p) => problems.push(p) })) use(f.relativePath);
 */
export function walkFiles(root: string | HeldFolder, options: WalkOptions = {}): WalkEntry[] {
  const out = [...eachFile(root, options)];
  options.folders?.sort((a, b) => compareUtf8(a.relativePath, b.relativePath));
  return out;
}
