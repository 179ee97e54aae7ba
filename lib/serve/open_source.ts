/**
 * Turns a command-line SOURCE into a source, detecting what it is: a virtual tape (a folder with
 * the file backend's `0_0_R` and `1_0_R` records), a mounted LTFS volume (its root shows LTFS's
 * volume attributes), or a plain folder (a destination with its ASC MHL). `NAME=PATH` gives the
 * source its name in addresses. A cartvault store (`STORE`, `STORE@REF`) is detected here once
 * the vault exists: it implements {@link Source} over its objects.
 */
import { existsSync, statSync } from "node:fs";
import { CliError, describeSystemError } from "../core/errors.ts";
import { fsPath, joinPath } from "../core/names.ts";
import type { RangeReads } from "./range_reads.ts";
import type { Source } from "./source.ts";
import { isLtfsMount, TreeSource } from "./tree_source.ts";
import { VtapeSource } from "./vtape_source.ts";

/** A source argument split into an optional name and a path. */
export function splitSourceArgument(argument: string): { name?: string; path: string } {
  // A path that exists is a path, even with an `=` in it.
  if (existsSync(fsPath(argument))) return { path: argument };
  const match = /^([^=/]+)=(.+)$/s.exec(argument);
  return match ? { name: match[1], path: match[2]! } : { path: argument };
}

/**
 * Opens one source; a virtual tape reads its records on the threads of `reads` when given.
 * @throws {CliError} naming the argument when it is none of the kinds served, or cannot be read.
 */
export async function openSource(argument: string, reads?: RangeReads): Promise<Source> {
  const { name, path } = splitSourceArgument(argument);
  let stats;
  try {
    stats = statSync(fsPath(path));
  } catch (error) {
    if (/@[^/]+$/.test(path)) throw new CliError(`not found; a cartvault STORE@REF cannot be served yet (no vault support in this version)`, { path });
    throw new CliError(`cannot be read: ${describeSystemError(error)}`, { path });
  }
  if (!stats.isDirectory()) throw new CliError("is not a folder: give a virtual tape, a mounted LTFS volume or a destination folder", { path });
  if (existsSync(fsPath(joinPath(path, "0_0_R"))) && existsSync(fsPath(joinPath(path, "1_0_R")))) return new VtapeSource(path, name, reads);
  try {
    if (isLtfsMount(path)) return TreeSource.openMount(path, name);
    return await TreeSource.openFolder(path, name);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot be read: ${describeSystemError(error)}`, { path });
  }
}
