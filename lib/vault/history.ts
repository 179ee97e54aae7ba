/**
 * Walking history: the commits before a commit, newest first, and the nearest common
 * ancestor of two commits (the base of a three-way merge). Only commit headers are read.
 */
import type { CommitHeader } from "./commit.ts";
import type { Vault } from "./store.ts";

/** Commit headers read during one command, by id. */
export class HeaderCache {
  readonly #vault: Vault;
  readonly #headers = new Map<string, CommitHeader>();
  constructor(vault: Vault) {
    this.#vault = vault;
  }
  async get(id: string): Promise<CommitHeader> {
    let header = this.#headers.get(id);
    if (!header) {
      header = await this.#vault.readHeader(id);
      this.#headers.set(id, header);
    }
    return header;
  }
}

/** Newer first: by time, then by id (a fixed order for commits made in the same millisecond). */
function newerFirst(a: CommitHeader, b: CommitHeader): number {
  return a.time !== b.time ? (a.time < b.time ? 1 : -1) : a.id < b.id ? 1 : -1;
}

/**
 * The commits reachable from `starts` (themselves included), newest first, each once.
 * @example
 * import type { Vault } from "./store.ts";
 * declare const vault: Vault, head: string, print: (message: string) => void;
 * for await (const commit of history(vault, [head])) print(commit.message);
 */
export async function* history(vault: Vault, starts: readonly string[], cache = new HeaderCache(vault)): AsyncGenerator<CommitHeader> {
  const seen = new Set<string>(starts);
  const queue: CommitHeader[] = [];
  for (const id of seen) queue.push(await cache.get(id));
  while (queue.length > 0) {
    queue.sort(newerFirst);
    const next = queue.shift()!;
    yield next;
    for (const parent of next.parents) {
      if (seen.has(parent)) continue;
      seen.add(parent);
      queue.push(await cache.get(parent));
    }
  }
}

/** Every commit reachable from `start`, itself included. */
export async function ancestors(vault: Vault, start: string, cache = new HeaderCache(vault)): Promise<Set<string>> {
  const out = new Set<string>([start]);
  const stack = [start];
  while (stack.length > 0) {
    for (const parent of (await cache.get(stack.pop()!)).parents) {
      if (!out.has(parent)) {
        out.add(parent);
        stack.push(parent);
      }
    }
  }
  return out;
}

/**
 * The nearest common ancestor of two commits: a common ancestor no other common ancestor
 * descends from. Where history crossed (two such), the newer is taken. Undefined when the
 * two histories share nothing.
 */
export async function mergeBase(vault: Vault, a: string, b: string, cache = new HeaderCache(vault)): Promise<string | undefined> {
  const ofA = await ancestors(vault, a, cache);
  // The common ancestors nearest to b: met walking back from b, not walked past.
  const candidates = new Set<string>();
  const seen = new Set<string>([b]);
  const stack = [b];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (ofA.has(id)) {
      candidates.add(id);
      continue;
    }
    for (const parent of (await cache.get(id)).parents) {
      if (!seen.has(parent)) {
        seen.add(parent);
        stack.push(parent);
      }
    }
  }
  for (const c of [...candidates]) {
    for (const older of await ancestors(vault, c, cache)) if (older !== c) candidates.delete(older);
  }
  const heads = await Promise.all([...candidates].map((id) => cache.get(id)));
  heads.sort(newerFirst);
  return heads[0]?.id;
}
