/**
 * `gc`: removes what nothing reaches. Kept: every commit some branch's history holds, and
 * every object and record those commits use. Removed: other commits (left by a refused or
 * interrupted commit), objects and records no kept commit uses, files being imported by a
 * command that stopped (tmp/), and partial names left where files could not be made nameless.
 *
 * It runs alone: every other command holds the vault's shared lock from start to end, and gc
 * takes it exclusively or not at all, so an object a running commit has stored (or found) is
 * never removed under it.
 */
import { CliError, ExitCode } from "../core/errors.ts";
import { ancestors, HeaderCache } from "./history.ts";
import { commitPath, objectPath, recordPath, shortId } from "./layout.ts";
import { isPartialName, type Vault } from "./store.ts";

/** What gc removed (or, with `dryRun`, would remove). */
export interface GcResult {
  commits: { kept: number; removed: string[] };
  objects: { kept: number; removed: number; bytes: number };
  records: number;
  /** Files of stopped imports and partial names. */
  leftovers: number;
}

/** Removes everything unreachable. The caller holds the vault's exclusive lock. */
export async function collectGarbage(vault: Vault, options: { dryRun?: boolean; onRemoved?: (relative: string) => void } = {}): Promise<GcResult> {
  const remove = (relative: string) => {
    options.onRemoved?.(relative);
    if (!options.dryRun) vault.held.remove(relative);
  };
  const problems: string[] = [];
  const branches = vault.listBranches((relative, message) => problems.push(`${vault.pathOf(relative)}: ${message}`));
  if (problems.length > 0) throw new CliError(`cannot tell what is reachable: ${problems[0]}; nothing was removed`, { path: vault.path, exitCode: ExitCode.VerifyFailed });
  const cache = new HeaderCache(vault);
  const keep = new Set<string>();
  for (const branch of branches) for (const id of await ancestors(vault, branch.id, cache)) keep.add(id);
  const used = new Set<string>();
  for (const id of keep) {
    // A kept commit that cannot be read would hide objects it uses: nothing is removed then.
    for (const e of (await vault.readCommit(id)).entries) used.add(e.id);
  }
  const result: GcResult = { commits: { kept: keep.size, removed: [] }, objects: { kept: 0, removed: 0, bytes: 0 }, records: 0, leftovers: 0 };
  const leftover = (relative: string) => {
    if (isPartialName(relative.slice(relative.lastIndexOf("/") + 1))) {
      result.leftovers++;
      remove(relative);
    }
  };
  for (const id of [...vault.objectIds("commits", leftover)]) {
    if (keep.has(id)) continue;
    result.commits.removed.push(id);
    remove(commitPath(id));
  }
  for (const id of [...vault.objectIds("objects", leftover)]) {
    if (used.has(id)) {
      result.objects.kept++;
      continue;
    }
    result.objects.removed++;
    result.objects.bytes += vault.objectStat(id)?.size ?? 0;
    remove(objectPath(id));
  }
  for (const id of [...vault.objectIds("records", leftover)]) {
    if (used.has(id)) continue;
    result.records++;
    remove(recordPath(id));
  }
  for (const entry of vault.held.list("tmp")) {
    result.leftovers++;
    remove(`tmp/${entry.name}`);
  }
  // Partial names of refs whose replacement stopped half way.
  const stack = ["refs/heads"];
  while (stack.length > 0) {
    const folder = stack.pop()!;
    for (const entry of vault.held.list(folder)) {
      const kind = entry.kind ?? vault.held.stat(`${folder}/${entry.name}`)?.kind;
      if (kind === "folder") stack.push(`${folder}/${entry.name}`);
      else leftover(`${folder}/${entry.name}`);
    }
  }
  return result;
}

/** A line per removed commit, for --dry-run and the log. */
export function describeRemovedCommits(ids: readonly string[]): string[] {
  return ids.map((id) => `commit ${shortId(id)} (on no branch)`);
}
