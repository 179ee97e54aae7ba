/**
 * Turns a command-line SOURCE into sources, detecting what it is: a cartvault store (a folder
 * with its `cartvault` file: every branch, one source each, or `STORE@REF`: the commit REF
 * names), a virtual tape (a folder with the file backend's `0_0_R` and `1_0_R` records), a
 * mounted LTFS volume (its root shows LTFS's volume attributes), or a plain folder (a
 * destination with its ASC MHL). `NAME=PATH` gives the source its name in addresses (for a
 * store, the name before `@REF`).
 */
import { existsSync, statSync } from "node:fs";
import { CliError, describeSystemError, ExitCode } from "../core/errors.ts";
import { fsPath, joinPath, showName } from "../core/names.ts";
import { Vault } from "../vault/store.ts";
import type { RangeReads } from "./range_reads.ts";
import type { Source } from "./source.ts";
import { isLtfsMount, TreeSource } from "./tree_source.ts";
import { ObjectShelf, VaultSource, vaultNameOf } from "./vault_source.ts";
import { VtapeSource } from "./vtape_source.ts";

/** A source argument split into an optional name and a path. */
export function splitSourceArgument(argument: string): { name?: string; path: string } {
  // A path that exists is a path, even with an `=` in it.
  if (existsSync(fsPath(argument))) return { path: argument };
  const match = /^([^=/]+)=(.+)$/s.exec(argument);
  return match ? { name: match[1], path: match[2]! } : { path: argument };
}

/** Whether a folder is a cartvault store (it has the `cartvault` file that names one). */
function isStore(path: string): boolean {
  try {
    return statSync(fsPath(path)).isDirectory() && existsSync(fsPath(joinPath(path, "cartvault")));
  } catch {
    return false;
  }
}

/**
 * A `STORE@REF` split at the `@` after which the store is a cartvault store, or undefined (a
 * store's folder and a branch may both hold `@`: the longest store that exists wins).
 */
export function splitStoreRef(path: string): { store: string; ref: string } | undefined {
  for (let at = path.lastIndexOf("@"); at > 0; at = path.lastIndexOf("@", at - 1)) {
    const ref = path.slice(at + 1);
    if (ref !== "" && isStore(path.slice(0, at))) return { store: path.slice(0, at), ref };
  }
  return undefined;
}

/**
 * Opens one argument as its sources: one, or one per branch for a whole cartvault store. A
 * virtual tape reads its records on the threads of `reads` when given.
 * @throws {CliError} naming the argument when it is none of the kinds served, or cannot be read.
 */
export async function openSources(argument: string, reads?: RangeReads): Promise<Source[]> {
  const { name, path } = splitSourceArgument(argument);
  const storeRef = existsSync(fsPath(path)) ? undefined : splitStoreRef(path);
  if (storeRef) return [await openVersion(storeRef.store, name ?? vaultNameOf(storeRef.store), storeRef.ref)];
  if (isStore(path)) return openBranches(path, name ?? vaultNameOf(path));
  return [await openSource(argument, reads)];
}

/** The commit a REF of a store names, as one source. */
async function openVersion(store: string, vaultName: string, ref: string): Promise<Source> {
  const shelf = ObjectShelf.of(store, openStore);
  try {
    return await VaultSource.open(shelf, vaultName, ref);
  } finally {
    shelf.closeIfUnused();
  }
}

/** Every branch of a store, one source each. */
async function openBranches(store: string, vaultName: string): Promise<Source[]> {
  const shelf = ObjectShelf.of(store, openStore);
  const sources: Source[] = [];
  try {
    // A ref that cannot be read is named and left out; the branches that can be read are served.
    const bad: { path: string; message: string }[] = [];
    const branches = shelf.vault.listBranches((relative, message) => bad.push({ path: shelf.vault.pathOf(relative), message: `${message.replace(/^refused: /, "")}; not served (check the store with 'cartvault verify')` }));
    if (branches.length === 0) {
      if (bad.length > 0) throw new CliError(`no branch can be read (${bad[0]!.path}: ${bad[0]!.message})`, { path: store, exitCode: ExitCode.VerifyFailed });
      throw new CliError("the vault has no branch yet: commit something first ('cartvault commit')", { path: store });
    }
    const records = new Map<string, string | undefined | null>();
    for (const branch of branches) sources.push(await VaultSource.open(shelf, vaultName, branch.name, records));
    (sources[0] as VaultSource).problems.unshift(...bad);
  } catch (error) {
    for (const source of sources) source.close();
    throw error;
  } finally {
    shelf.closeIfUnused();
  }
  return sources;
}

/**
 * Opens a store and holds its shared lock while serving, so a garbage collection cannot
 * remove an object being served (commits may still be made meanwhile).
 */
function openStore(store: string): Vault {
  const vault = Vault.open(store);
  try {
    vault.lock("shared");
  } catch (error) {
    vault.close();
    throw error;
  }
  return vault;
}

/**
 * Opens a source that is one thing (not a whole store of several branches); a virtual tape
 * reads its records on the threads of `reads` when given.
 * @throws {CliError} naming the argument when it is none of the kinds served, or cannot be read.
 */
export async function openSource(argument: string, reads?: RangeReads): Promise<Source> {
  const { name, path } = splitSourceArgument(argument);
  if (isStore(path) || (!existsSync(fsPath(path)) && splitStoreRef(path))) {
    const sources = await openSources(argument, reads);
    if (sources.length === 1) return sources[0]!;
    for (const source of sources) source.close();
    throw new CliError(`is a vault of ${sources.length} branches: open each with STORE@REF`, { path });
  }
  let stats;
  try {
    stats = statSync(fsPath(path));
  } catch (error) {
    const at = path.lastIndexOf("@");
    if (at > 0) throw new CliError(`not found, and ${showName(path.slice(0, at))} is no cartvault store to take ${showName(path.slice(at + 1))} of (STORE@REF)`, { path });
    throw new CliError(`cannot be read: ${describeSystemError(error)}`, { path });
  }
  if (!stats.isDirectory()) throw new CliError("is not a folder: give a cartvault store, a virtual tape, a mounted LTFS volume or a destination folder", { path });
  if (existsSync(fsPath(joinPath(path, "0_0_R"))) && existsSync(fsPath(joinPath(path, "1_0_R")))) return new VtapeSource(path, name, reads);
  try {
    if (isLtfsMount(path)) return TreeSource.openMount(path, name);
    return await TreeSource.openFolder(path, name);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot be read: ${describeSystemError(error)}`, { path });
  }
}
