/**
 * `du`: what the vault holds and what it costs. Logical bytes are what the files add up to
 * (per branch: its commit's files; for the history: every commit's); physical bytes are what
 * the vault's files take on the device (allocated blocks, each inode once: a hard-linked or
 * shared object is counted once). Commit headers carry their file count and bytes, so no
 * file list is read.
 */
import { history, HeaderCache } from "./history.ts";
import type { Vault } from "./store.ts";

/** One branch's size. */
export interface BranchUsage {
  name: string;
  commit: string;
  files: number;
  bytes: number;
}

/** The vault's usage. */
export interface Usage {
  branches: BranchUsage[];
  /** Sum of the branches' logical bytes. */
  logical: number;
  /** Every commit of every branch's history: how many and their logical bytes together. */
  history: { commits: number; bytes: number };
  objects: { count: number; bytes: number };
  /** Allocated bytes of everything in the vault (objects, records, commits, refs, caches). */
  physical: number;
  /** Allocated bytes of the objects alone. */
  physicalObjects: number;
}

/** Measures the vault. */
export async function usage(vault: Vault): Promise<Usage> {
  const branches: BranchUsage[] = [];
  const cache = new HeaderCache(vault);
  for (const branch of vault.listBranches()) {
    const header = await cache.get(branch.id);
    branches.push({ name: branch.name, commit: branch.id, files: header.files, bytes: header.bytes });
  }
  let historyBytes = 0;
  let commits = 0;
  for await (const header of history(
    vault,
    branches.map((b) => b.commit),
    cache,
  )) {
    commits++;
    historyBytes += header.bytes;
  }
  const inodes = new Set<string>();
  let physical = 0;
  let physicalObjects = 0;
  let objectCount = 0;
  let objectBytes = 0;
  const stack = [""];
  while (stack.length > 0) {
    const folder = stack.pop()!;
    for (const entry of vault.held.list(folder)) {
      const relative = folder === "" ? entry.name : `${folder}/${entry.name}`;
      const stat = vault.held.stat(relative);
      if (!stat) continue;
      if (stat.kind === "folder") stack.push(relative);
      const key = `${stat.dev}:${stat.ino}`;
      const allocated = stat.blocks * 512;
      const isObject = relative.startsWith("objects/") && stat.kind === "file";
      if (isObject) {
        objectCount++;
        objectBytes += stat.size;
      }
      if (inodes.has(key)) continue;
      inodes.add(key);
      physical += allocated;
      if (isObject) physicalObjects += allocated;
    }
  }
  return {
    branches,
    logical: branches.reduce((n, b) => n + b.bytes, 0),
    history: { commits, bytes: historyBytes },
    objects: { count: objectCount, bytes: objectBytes },
    physical,
    physicalObjects,
  };
}
