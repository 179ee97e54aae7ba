/**
 * `merge`: FROM merged into the branch TO as a commit with two parents (TO's commit first),
 * against their nearest common ancestor. With conflicts and no `prefer`, nothing is written.
 * The branch moves by compare-and-swap: if TO moved while the merge was made, nothing changes.
 */
import { CliError } from "../core/errors.ts";
import { encodeCommit } from "./commit.ts";
import { ancestors, HeaderCache, mergeBase } from "./history.ts";
import { shortId } from "./layout.ts";
import { mergeTrees, type Conflict } from "./merge.ts";
import { defaultAuthor } from "./snapshot.ts";
import type { Vault } from "./store.ts";

/** What a merge did. */
export interface MergeOutcome {
  into: string;
  from: string;
  fromId: string;
  base: string | undefined;
  /** The merge commit; undefined when nothing was written. */
  commit: string | undefined;
  /** True when TO already held FROM. */
  upToDate: boolean;
  conflicts: Conflict[];
  resolved: Conflict[];
}

/** Merges `from` (a REF) into the branch `into`. */
export async function mergeInto(vault: Vault, from: string, into: string, options: { prefer?: "ours" | "theirs"; message?: string; author?: string } = {}): Promise<MergeOutcome> {
  const intoId = vault.readRef(into);
  if (!intoId) throw new CliError(`no branch '${into}' to merge into`, { path: vault.path });
  const source = vault.resolve(from);
  const outcome: MergeOutcome = { into, from, fromId: source.id, base: undefined, commit: undefined, upToDate: false, conflicts: [], resolved: [] };
  const cache = new HeaderCache(vault);
  if ((await ancestors(vault, intoId, cache)).has(source.id)) return { ...outcome, upToDate: true, base: source.id };
  const base = await mergeBase(vault, intoId, source.id, cache);
  const [baseCommit, ours, theirs] = await Promise.all([base ? vault.readCommit(base) : undefined, vault.readCommit(intoId), vault.readCommit(source.id)]);
  const merged = mergeTrees(baseCommit?.entries ?? [], ours.entries, theirs.entries, options.prefer);
  outcome.base = base;
  outcome.conflicts = merged.conflicts;
  outcome.resolved = merged.resolved;
  if (merged.conflicts.length > 0) return outcome;
  const encoded = await encodeCommit({
    parents: [intoId, source.id],
    author: options.author ?? defaultAuthor(),
    time: new Date().toISOString(),
    message: options.message ?? `merge ${source.branch ? `'${source.branch}'` : shortId(source.id)} into '${into}'`,
    entries: merged.entries,
  });
  vault.writeCommit(encoded);
  vault.updateBranch(into, intoId, encoded.id);
  outcome.commit = encoded.id;
  return outcome;
}
