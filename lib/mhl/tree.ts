/**
 * The walk every MHL command shares: folders in post-order (children before their parent), each
 * folder's entries sorted in byte order, ignored entries left out and ignored folders not
 * entered — the order in which directory hashes can be computed bottom-up, and the order the
 * reference writes entries in. It is lib/io's walker (names as bytes, nothing followed out of
 * the tree), arranged for the MHL commands.
 */
import { closeSync, fstatSync } from "node:fs";
import { describeSystemError } from "../core/errors.ts";
import { joinPath, showName } from "../core/names.ts";
import type { Algorithm } from "../hash/algorithms.ts";
import type { HashJobResult, Work } from "../hash/pool.ts";
import { HeldFolder } from "../io/held_folder.ts";
import { walkFolders, type LinkPolicy, type SpecialPolicy, type TreeItem, type TreeLevel } from "../io/walk.ts";
import { HISTORY_FOLDER } from "./history.ts";
import type { IgnoreSpec } from "./ignore.ts";
import type { MhlLog } from "./log.ts";

/** An entry of a folder. */
export interface TreeEntry {
  /** Name as on disk. */
  name: string;
  /** Path relative to the walk's root, `/`-separated. */
  relativePath: string;
  /** Absolute path. */
  path: string;
  isDirectory: boolean;
  /** Size when walked (a file; through a link: its target's). */
  size: number;
  /** Modification time when walked. */
  mtimeMs: number;
}

/** A folder and its (not ignored) entries. */
export interface TreeFolder {
  /** Path relative to the walk's root ("" for the root). */
  relativePath: string;
  path: string;
  /** Modification time when walked. */
  mtimeMs: number;
  entries: TreeEntry[];
}

/** How the MHL walk treats links and special files (lib/io/walk.ts). */
export interface TreeOptions {
  /** @default "follow" */
  links?: LinkPolicy;
  /** @default "fail" */
  special?: SpecialPolicy;
  /** Called for what the policies leave out on purpose. */
  onSkipped?: (path: string, message: string) => void;
  /** Called with each sub-folder (relative) that holds an `ascmhl/` folder: the root of a nested history. */
  onHistory?: (relativePath: string) => void;
}

/** A command's `--links` and `--special` with the MHL defaults, and each entry they leave out named on `log`. */
export function walkPolicies(options: { links?: LinkPolicy; special?: SpecialPolicy }, log: MhlLog): TreeOptions {
  return { links: options.links ?? "follow", special: options.special ?? "fail", onSkipped: (path, message) => log.error(`${showName(path)}: ${message}`) };
}

/**
 * An entry as the MHL walk holds it, for the whole run: its name and absolute path are made
 * from the relative path when asked for, not stored beside it.
 */
class Entry implements TreeEntry {
  readonly #root: string;
  readonly relativePath: string;
  readonly isDirectory: boolean;
  readonly size: number;
  readonly mtimeMs: number;

  constructor(root: string, item: TreeItem) {
    this.#root = root;
    this.relativePath = item.relativePath;
    this.isDirectory = item.kind === "folder";
    this.size = item.size;
    this.mtimeMs = item.mtimeMs;
  }

  get name(): string {
    return this.relativePath.slice(this.relativePath.lastIndexOf("/") + 1);
  }

  get path(): string {
    return joinPath(this.#root, this.relativePath);
  }
}

/**
 * Lists folders below (and including) `root` in post-order. What cannot be included (an
 * unreadable folder, a link out of the tree, a FIFO) goes to `onProblem`.
 */
export function postOrderFolders(root: string | HeldFolder, ignore: IgnoreSpec, onProblem: (path: string, message: string) => void = () => {}, options: TreeOptions = {}): TreeFolder[] {
  const rootPath = typeof root === "string" ? root : root.path;
  // Each folder as it is read, already in the form it is kept in (the walk's own items go).
  const levels = new Map<string, TreeFolder>();
  const readable = new Set<string>();
  walkFolders(
    root,
    {
      // The walk never enters an ignored folder: only the entry itself needs asking.
      ignore: {
        matches: (path, isFolder) => {
          if (isFolder && path.endsWith(`/${HISTORY_FOLDER}`)) options.onHistory?.(path.slice(0, -HISTORY_FOLDER.length - 1));
          return ignore.ignoresEntry(path, isFolder);
        },
      },
      onProblem: (p) => onProblem(p.path, p.message),
      onSkipped: (p) => options.onSkipped?.(p.path, p.message),
      links: options.links ?? "follow",
      special: options.special ?? "fail",
    },
    (level: TreeLevel) => {
      readable.add(level.relativePath);
      levels.set(level.relativePath, { relativePath: level.relativePath, path: level.path, mtimeMs: level.mtimeMs, entries: level.items.map((item) => new Entry(rootPath, item)) });
    },
  );
  // Post-order without recursion: a folder is emitted once all of its sub-folders were.
  const out: TreeFolder[] = [];
  const stack: Array<{ folder: TreeFolder; next: number }> = [];
  const first = levels.get("");
  if (first) stack.push({ folder: first, next: 0 });
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const entries = top.folder.entries;
    while (top.next < entries.length && !entries[top.next]!.isDirectory) top.next++;
    if (top.next < entries.length) {
      const child = levels.get(entries[top.next]!.relativePath);
      top.next++;
      if (child) stack.push({ folder: child, next: 0 });
      continue;
    }
    stack.pop();
    levels.delete(top.folder.relativePath);
    // An unreadable sub-folder was reported; it is not listed as an empty one.
    if (entries.some((entry) => entry.isDirectory && !readable.has(entry.relativePath))) top.folder.entries = entries.filter((entry) => !entry.isDirectory || readable.has(entry.relativePath));
    out.push(top.folder);
  }
  return out;
}

/**
 * The files of a walk, opened for hashing beneath the walk's root: a link is followed only
 * while it stays inside (as the walk's `follow` policy), so a name swapped for a link to
 * `/etc/shadow` after the walk is refused, not read. Each descriptor is handed to the hash pool
 * and closed when its result is in.
 */
export class FilesBeneath {
  readonly #held: HeldFolder;
  /** Open descriptors by relative path, oldest first (a list may name one file twice). */
  #open = new Map<string, number[]>();

  constructor(held: HeldFolder) {
    this.#held = held;
  }

  /** The hashing work for the file at `relativePath` (its absolute `path` names it in messages). */
  work(relativePath: string, path: string, algorithms: Algorithm[]): Work {
    let fd = -1;
    let failure: HashJobResult | undefined;
    let size = 0;
    try {
      fd = this.#held.openReadInside(relativePath);
      const stats = fstatSync(fd);
      if (!stats.isFile()) failure = { id: -1, ok: false, code: "EINVAL", message: "not a regular file" };
      size = stats.size;
    } catch (error) {
      failure = { id: -1, ok: false, code: (error as { code?: string }).code, message: describeSystemError(error) };
    }
    if (failure && fd >= 0) {
      closeSync(fd);
      fd = -1;
    }
    // Every work has its place in the list (-1: nothing open), so done() keeps step.
    const list = this.#open.get(relativePath);
    if (list) list.push(fd);
    else this.#open.set(relativePath, [fd]);
    if (failure) return { here: async () => failure };
    // Its size goes with it: the hashing thread need not ask fstat again.
    return { job: { path, fd, keepFd: true, size, algorithms, options: {} } };
  }

  /**
   * Closes the descriptor of a file whose result is in: call it once for each {@link work}
   * (results come in the order of the work), never for an item that had none.
   */
  done(relativePath: string): void {
    const list = this.#open.get(relativePath);
    const fd = list?.shift();
    if (list?.length === 0) this.#open.delete(relativePath);
    if (fd !== undefined && fd >= 0) closeSync(fd);
  }

  /** Closes whatever is still open (after a failure). */
  close(): void {
    for (const list of this.#open.values()) for (const fd of list) if (fd >= 0) closeSync(fd);
    this.#open.clear();
  }
}

/**
 * Runs `work` with `root` held open and its files opened beneath it ({@link FilesBeneath}),
 * closing both whatever happens.
 */
export async function withFilesBeneath<T>(root: string, work: (held: HeldFolder, files: FilesBeneath) => Promise<T>): Promise<T> {
  const held = HeldFolder.open(root);
  const files = new FilesBeneath(held);
  try {
    return await work(held, files);
  } finally {
    files.close();
    held.close();
  }
}
