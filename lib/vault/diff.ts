/**
 * What changed between two commits, file by file: added, removed, modified (other bytes or
 * other permission bits at the same path) and renamed (the same bytes gone from one path and
 * arrived at another: content, not names, decides). A file whose only change is its
 * modification time is not listed.
 */
import { compareUtf8 } from "../core/names.ts";
import type { CommitEntry } from "./commit.ts";

/** One change. */
export type Change = { kind: "added"; path: string; to: CommitEntry } | { kind: "removed"; path: string; from: CommitEntry } | { kind: "modified"; path: string; from: CommitEntry; to: CommitEntry } | { kind: "renamed"; path: string; fromPath: string; from: CommitEntry; to: CommitEntry };

/** True when two entries hold the same bytes with the same permission bits. */
export function sameFile(a: CommitEntry | undefined, b: CommitEntry | undefined): boolean {
  return a === undefined ? b === undefined : b !== undefined && a.id === b.id && a.mode === b.mode;
}

/**
 * The changes from tree `a` to tree `b` (each sorted by path), in order of the path they
 * concern (a rename: its new path).
 * @example
 * import type { Commit } from "./commit.ts";
 * declare const before: Commit, after: Commit;
 * diffTrees(before.entries, after.entries).filter((c) => c.kind === "renamed");
 */
export function diffTrees(a: readonly CommitEntry[], b: readonly CommitEntry[]): Change[] {
  const removed: CommitEntry[] = [];
  const added: CommitEntry[] = [];
  const changes: Change[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const order = i >= a.length ? 1 : j >= b.length ? -1 : compareUtf8(a[i]!.path, b[j]!.path);
    if (order < 0) removed.push(a[i++]!);
    else if (order > 0) added.push(b[j++]!);
    else {
      if (!sameFile(a[i], b[j])) changes.push({ kind: "modified", path: b[j]!.path, from: a[i]!, to: b[j]! });
      i++;
      j++;
    }
  }
  // Renames: the same object leaving one path and arriving at another, paired in path order.
  const leaving = new Map<string, CommitEntry[]>();
  for (const e of removed) leaving.set(e.id, [...(leaving.get(e.id) ?? []), e]);
  const renamedFrom = new Set<CommitEntry>();
  for (const to of added) {
    const from = leaving.get(to.id)?.shift();
    if (from) {
      renamedFrom.add(from);
      changes.push({ kind: "renamed", path: to.path, fromPath: from.path, from, to });
    } else {
      changes.push({ kind: "added", path: to.path, to });
    }
  }
  for (const from of removed) if (!renamedFrom.has(from)) changes.push({ kind: "removed", path: from.path, from });
  return changes.sort((x, y) => compareUtf8(x.path, y.path));
}
