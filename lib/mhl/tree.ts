/**
 * The walk every MHL command shares: folders in post-order (children before their parent), each
 * folder's entries sorted in byte order, ignored entries left out and ignored folders not
 * entered — the order in which directory hashes can be computed bottom-up, and the order the
 * reference writes entries in. It is lib/io's walker (names as bytes, nothing followed out of
 * the tree), arranged for the MHL commands.
 */
import { closeSync, fstatSync } from "node:fs";
import { describeSystemError } from "../core/errors.ts";
import { joinPath } from "../core/names.ts";
import type { Algorithm } from "../hash/algorithms.ts";
import type { HashJobResult, Work } from "../hash/pool.ts";
import { HeldFolder } from "../io/held_folder.ts";
import { walkFolders, type LinkPolicy, type SpecialPolicy, type TreeLevel } from "../io/walk.ts";
import { HISTORY_FOLDER } from "./history.ts";
import type { IgnoreSpec } from "./ignore.ts";

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

/**
 * Lists folders below (and including) `root` in post-order. What cannot be included (an
 * unreadable folder, a link out of the tree, a FIFO) goes to `onProblem`.
 */
export function postOrderFolders(root: string | HeldFolder, ignore: IgnoreSpec, onProblem: (path: string, message: string) => void = () => {}, options: TreeOptions = {}): TreeFolder[] {
  const rootPath = typeof root === "string" ? root : root.path;
  const levels = new Map<string, TreeLevel>();
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
    (level) => {
      levels.set(level.relativePath, level);
      readable.add(level.relativePath);
    },
  );
  // Post-order without recursion: a folder is emitted once all of its sub-folders were.
  const out: TreeFolder[] = [];
  const stack: Array<{ level: TreeLevel; next: number }> = [];
  const first = levels.get("");
  if (first) stack.push({ level: first, next: 0 });
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const items = top.level.items;
    while (top.next < items.length && items[top.next]!.kind !== "folder") top.next++;
    if (top.next < items.length) {
      const child = levels.get(items[top.next]!.relativePath);
      top.next++;
      if (child) stack.push({ level: child, next: 0 });
      continue;
    }
    stack.pop();
    levels.delete(top.level.relativePath);
    out.push({
      relativePath: top.level.relativePath,
      path: top.level.path,
      mtimeMs: top.level.mtimeMs,
      entries: items
        // An unreadable sub-folder was reported; it is not listed as an empty one.
        .filter((item) => item.kind !== "folder" || readable.has(item.relativePath))
        .map((item) => ({ name: item.name, relativePath: item.relativePath, path: joinPath(rootPath, item.relativePath), isDirectory: item.kind === "folder", size: item.size, mtimeMs: item.mtimeMs })),
    });
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
