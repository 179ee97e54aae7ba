/**
 * Three-way merge at file level. Each path is decided by comparing the two sides with their
 * nearest common ancestor (the base): what one side changed and the other did not is taken;
 * what both changed the same way is taken once; everything else is a conflict:
 *
 * - `both-modified`: both changed the file, differently;
 * - `deleted-by-ours` / `deleted-by-theirs`: one side deleted what the other changed;
 * - `both-added`: both added the path, with other bytes;
 * - `file-folder`: one side has a file where the other has a folder of files.
 *
 * "Ours" is the branch merged into, "theirs" the one merged from. `prefer` settles every
 * conflict for one side (its file, or its deletion); without it a merge with a conflict makes
 * nothing.
 */
import { compareUtf8 } from "../core/names.ts";
import type { CommitEntry } from "./commit.ts";
import { sameFile } from "./diff.ts";

/** The kinds of conflict. */
export type ConflictKind = "both-modified" | "deleted-by-ours" | "deleted-by-theirs" | "both-added" | "file-folder";

/** A path the two sides disagree on, with both sides (and the base). */
export interface Conflict {
  kind: ConflictKind;
  path: string;
  base?: CommitEntry;
  ours?: CommitEntry;
  theirs?: CommitEntry;
  /**
   * For `file-folder`: a path inside the folder of the side that has one (`ours` and `theirs`
   * are then each side's entry in the clash, at `path` or at `inside`).
   */
  inside?: string;
  /** Where `prefer` settled it, the side taken. */
  resolvedFor?: "ours" | "theirs";
}

/** The result of a merge. */
export interface MergeResult {
  entries: CommitEntry[];
  /** Conflicts left (none when `prefer` was given). */
  conflicts: Conflict[];
  /** Conflicts `prefer` settled. */
  resolved: Conflict[];
}

type Side = "ours" | "theirs" | "both";

function byPath(entries: readonly CommitEntry[]): Map<string, CommitEntry> {
  return new Map(entries.map((e) => [e.path, e]));
}

/**
 * Merges `theirs` into `ours` against `base` (each a commit's entries).
 * @example
 * import type { Commit } from "./commit.ts";
 * declare const base: Commit, main: Commit, regrade: Commit;
 * const { entries, conflicts } = mergeTrees(base.entries, main.entries, regrade.entries);
 */
export function mergeTrees(base: readonly CommitEntry[], ours: readonly CommitEntry[], theirs: readonly CommitEntry[], prefer?: "ours" | "theirs"): MergeResult {
  const b = byPath(base);
  const o = byPath(ours);
  const t = byPath(theirs);
  const paths = [...new Set([...b.keys(), ...o.keys(), ...t.keys()])].sort(compareUtf8);
  const result = new Map<string, { entry: CommitEntry; side: Side }>();
  const conflicts: Conflict[] = [];
  const resolved: Conflict[] = [];
  const settle = (conflict: Conflict) => {
    if (!prefer) {
      conflicts.push(conflict);
      // Both sides stay visible to the folder check below.
      if (conflict.ours) result.set(conflict.path, { entry: conflict.ours, side: conflict.theirs ? "both" : "ours" });
      else if (conflict.theirs) result.set(conflict.path, { entry: conflict.theirs, side: "theirs" });
      return;
    }
    conflict.resolvedFor = prefer;
    resolved.push(conflict);
    const chosen = prefer === "ours" ? conflict.ours : conflict.theirs;
    if (chosen) result.set(conflict.path, { entry: chosen, side: prefer });
  };
  for (const path of paths) {
    const be = b.get(path);
    const oe = o.get(path);
    const te = t.get(path);
    if (sameFile(oe, te)) {
      if (oe) result.set(path, { entry: oe, side: "both" });
      continue;
    }
    if (sameFile(be, oe)) {
      if (te) result.set(path, { entry: te, side: "theirs" });
      continue;
    }
    if (sameFile(be, te)) {
      if (oe) result.set(path, { entry: oe, side: "ours" });
      continue;
    }
    const kind: ConflictKind = !be ? "both-added" : !oe ? "deleted-by-ours" : !te ? "deleted-by-theirs" : "both-modified";
    settle({ kind, path, base: be, ours: oe, theirs: te });
  }
  // A file on one side where the other has a folder: reported once per such path.
  const clashes = new Set<string>();
  for (const path of [...result.keys()]) {
    const inner = result.get(path);
    if (!inner) continue;
    for (let at = path.indexOf("/"); at >= 0; at = path.indexOf("/", at + 1)) {
      const folder = path.slice(0, at);
      const outer = result.get(folder);
      if (!outer) continue;
      const outerIsOurs = outer.side !== "theirs";
      const conflict: Conflict = {
        kind: "file-folder",
        path: folder,
        inside: path,
        ours: outerIsOurs ? outer.entry : inner.entry,
        theirs: outerIsOurs ? inner.entry : outer.entry,
      };
      if (!prefer) {
        if (!clashes.has(folder)) conflicts.push(conflict);
        clashes.add(folder);
        break;
      }
      if (!clashes.has(folder)) {
        conflict.resolvedFor = prefer;
        resolved.push(conflict);
      }
      clashes.add(folder);
      // The side not preferred gives way: its file, or its files in the folder.
      if ((outerIsOurs ? "ours" : "theirs") !== prefer) result.delete(folder);
      else result.delete(path);
      break;
    }
  }
  const entries = [...result.values()].map((r) => r.entry).sort((x, y) => compareUtf8(x.path, y.path));
  return { entries, conflicts, resolved };
}
