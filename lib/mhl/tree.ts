/**
 * The walk every MHL command shares: folders in post-order (children before their parent), each
 * folder's entries sorted by code point, ignored entries left out and ignored folders not
 * entered — the order in which directory hashes can be computed bottom-up, and the order the
 * reference writes entries in.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { IgnoreSpec } from "./ignore.ts";
import { compareUtf8 } from "../core/names.ts";
import { joinRelative } from "./paths.ts";

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

/**
 * Lists folders below (and including) `root` in post-order. Symbolic links to folders are not
 * entered (they could loop) and are left out, as are sockets, FIFOs and devices.
 */
export function postOrderFolders(root: string, ignore: IgnoreSpec, onProblem: (path: string, message: string) => void = () => {}): TreeFolder[] {
  const out: TreeFolder[] = [];
  const visit = (path: string, relativePath: string) => {
    const entries: TreeEntry[] = [];
    const dirents = readdirSync(path, { withFileTypes: true }).sort((a, b) => compareUtf8(a.name, b.name));
    for (const dirent of dirents) {
      const name = dirent.name;
      const childPath = join(path, name);
      const childRelative = joinRelative(relativePath, name);
      const isLink = dirent.isSymbolicLink();
      let isDirectory: boolean;
      try {
        const stats = isLink ? statSync(childPath) : dirent;
        if (!stats.isFile() && !stats.isDirectory()) {
          onProblem(childPath, "not a regular file, skipped");
          continue;
        }
        isDirectory = stats.isDirectory();
      } catch {
        onProblem(childPath, "dangling symbolic link, skipped");
        continue;
      }
      if (ignore.ignores(childRelative, isDirectory)) continue;
      if (isDirectory && isLink) {
        onProblem(childPath, "symbolic link to a folder, not followed");
        continue;
      }
      entries.push({ name, relativePath: childRelative, path: childPath, isDirectory });
    }
    for (const entry of entries) if (entry.isDirectory) visit(entry.path, entry.relativePath);
    out.push({ relativePath, path, entries });
  };
  visit(root, "");
  return out;
}
