/**
 * The walk every MHL command shares: folders in post-order (children before their parent), each
 * folder's entries sorted in byte order, ignored entries left out and ignored folders not
 * entered — the order in which directory hashes can be computed bottom-up, and the order the
 * reference writes entries in. It is lib/io's walker (names as bytes, nothing followed out of
 * the tree), arranged for the MHL commands.
 */
import { joinPath } from "../core/names.ts";
import { walkFolders, type LinkPolicy, type SpecialPolicy, type TreeLevel } from "../io/walk.ts";
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
}

/** A folder and its (not ignored) entries. */
export interface TreeFolder {
  /** Path relative to the walk's root ("" for the root). */
  relativePath: string;
  path: string;
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
}

/**
 * Lists folders below (and including) `root` in post-order. What cannot be included (an
 * unreadable folder, a link out of the tree, a FIFO) goes to `onProblem`.
 */
export function postOrderFolders(root: string, ignore: IgnoreSpec, onProblem: (path: string, message: string) => void = () => {}, options: TreeOptions = {}): TreeFolder[] {
  const levels = new Map<string, TreeLevel>();
  walkFolders(root, {
    ignore: { matches: (path, isFolder) => ignore.ignores(path, isFolder) },
    onProblem: (p) => onProblem(p.path, p.message),
    onSkipped: (p) => options.onSkipped?.(p.path, p.message),
    links: options.links ?? "follow",
    special: options.special ?? "fail",
  }, (level) => levels.set(level.relativePath, level));
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
    out.push({
      relativePath: top.level.relativePath,
      path: top.level.path,
      entries: items
        // An unreadable sub-folder was reported; it is not listed as an empty one.
        .filter((item) => item.kind !== "folder" || levels.has(item.relativePath))
        .map((item) => ({ name: item.name, relativePath: item.relativePath, path: joinPath(root, item.relativePath), isDirectory: item.kind === "folder" })),
    });
  }
  return out;
}
