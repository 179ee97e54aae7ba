/**
 * The tree walker: every regular file below a root, in one deterministic order (relative paths
 * compared byte by byte as UTF-8, like `LC_ALL=C sort`), ignored entries left out.
 */
import { readdirSync, statSync, type Dirent, type Stats } from "node:fs";
import { describeSystemError } from "../core/errors.ts";
import { join } from "node:path";
import { compareUtf8 } from "../core/names.ts";
import { IgnoreList } from "./ignore.ts";

/** A file found by {@link walkFiles}. */
export interface WalkEntry {
  /** Path relative to the root, `/`-separated. */
  relativePath: string;
  /** Path to open (root joined with the relative path). */
  path: string;
  /** Size in bytes when walked. */
  size: number;
  /** Modification time when walked. */
  mtimeMs: number;
}

/** Something the walk could not include, reported rather than silently dropped. */
export interface WalkProblem {
  path: string;
  message: string;
}

/** Options for {@link walkFiles}. */
export interface WalkOptions {
  /** Entries to leave out; ignored folders are not entered. */
  ignore?: IgnoreList;
  /** Called for unreadable folders, dangling links and special files. */
  onProblem?: (problem: WalkProblem) => void;
  /** Receives every folder below the root (relative path, `/`-separated), parents first. */
  folders?: Array<{ relativePath: string; path: string; mtimeMs: number }>;
}

/**
 * Lists every regular file below `root`, sorted by relative path. Symbolic links to files are
 * followed; links to folders are not entered (they could loop), and are reported.
 * @example
 * for (const f of walkFiles("/Volumes/A001")) console.log(f.relativePath);
 */
export function walkFiles(root: string, options: WalkOptions = {}): WalkEntry[] {
  const out: WalkEntry[] = [];
  const ignore = options.ignore ?? new IgnoreList([]);
  const report = options.onProblem ?? (() => {});
  const visit = (dir: string, prefix: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      report({ path: dir, message: describeSystemError(error) });
      return;
    }
    for (const entry of entries) {
      const relativePath = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (ignore.matches(relativePath)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (options.folders) {
          try {
            options.folders.push({ relativePath, path, mtimeMs: statSync(path).mtimeMs });
          } catch (error) {
            report({ path, message: describeSystemError(error) });
          }
        }
        visit(path, relativePath);
        continue;
      }
      let stats: Stats;
      try {
        stats = statSync(path);
      } catch (error) {
        const dangling = entry.isSymbolicLink() && (error as { code?: string }).code === "ENOENT";
        report({ path, message: dangling ? "dangling symbolic link, skipped" : describeSystemError(error) });
        continue;
      }
      if (stats.isFile()) out.push({ relativePath, path, size: stats.size, mtimeMs: stats.mtimeMs });
      else if (stats.isDirectory()) report({ path, message: "symbolic link to a folder, not followed" });
      else report({ path, message: "not a regular file, skipped" });
    }
  };
  visit(root, "");
  out.sort((a, b) => compareUtf8(a.relativePath, b.relativePath));
  return out;
}
