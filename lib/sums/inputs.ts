/**
 * What a summing tool hashes: the operands on the command line, `-` for stdin, folders walked
 * with `-r`, and lists read with `--files-from` (newline- or NUL-separated).
 */
import { readFileSync, statSync } from "node:fs";
import { posix } from "node:path";
import { CliError, describeSystemError } from "../core/errors.ts";
import { IgnoreList } from "../io/ignore.ts";
import { walkFiles, type WalkProblem } from "../io/walk.ts";

/** One thing to hash. */
export interface SumInput {
  /** `stdin` reads standard input; `file` opens `path`. */
  kind: "stdin" | "file";
  /** Path to open. */
  path: string;
  /** Name printed in the sum line. */
  name: string;
}

/** Options for {@link collectInputs}. */
export interface CollectOptions {
  /** Walk folder operands (`-r`). */
  recursive?: boolean;
  /** Patterns left out of walks. */
  ignore?: IgnoreList;
  /** A file holding more operands, one per line (`-` for stdin). */
  filesFrom?: string;
  /** Operands in `filesFrom` are NUL-separated (`-0`). */
  nulSeparated?: boolean;
  /** Name printed for standard input (b3sum: `-`, xxhsum: `stdin`). */
  stdinName: string;
  /** Called for entries a walk had to leave out. */
  onProblem?: (problem: WalkProblem) => void;
}

/** Reads a `--files-from` list: one path per line, or per NUL with `-0`. Empty entries are skipped. */
export function readFileList(source: string, nulSeparated: boolean): string[] {
  let text: string;
  try {
    text = readFileSync(source === "-" ? 0 : source, "utf8");
  } catch (error) {
    throw new CliError(`cannot read the file list: ${describeSystemError(error)}; check the path given to --files-from`, { path: source });
  }
  return text.split(nulSeparated ? "\0" : "\n").filter((entry) => entry !== "");
}

/**
 * Turns operands into inputs in command-line order. With no operand (and no list) the input is
 * stdin. With `recursive`, a folder operand becomes its files in sorted order, named relative
 * to the folder when it is the only operand (a manifest to check later with `--root`), or
 * `folder/relative` otherwise.
 * @example
 * collectInputs(["card"], { recursive: true, stdinName: "-" }); // card's files, relative names
 */
export function collectInputs(operands: readonly string[], options: CollectOptions): SumInput[] {
  const all = [...operands];
  if (options.filesFrom !== undefined) all.push(...readFileList(options.filesFrom, options.nulSeparated ?? false));
  if (all.length === 0 && options.filesFrom === undefined) all.push("-");
  const inputs: SumInput[] = [];
  for (const operand of all) {
    if (operand === "-") {
      inputs.push({ kind: "stdin", path: "-", name: options.stdinName });
      continue;
    }
    if (options.recursive && isDirectory(operand)) {
      const single = all.length === 1;
      for (const entry of walkFiles(operand, { ignore: options.ignore, onProblem: options.onProblem })) {
        inputs.push({ kind: "file", path: entry.path, name: single ? entry.relativePath : posix.join(operand, entry.relativePath) });
      }
      continue;
    }
    inputs.push({ kind: "file", path: operand, name: operand });
  }
  return inputs;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Checks a path taken from a manifest before it is opened: it must be relative, `/`-separated,
 * and stay inside the root it is resolved against.
 * @returns the reason it is refused, or undefined when it is safe.
 */
export function unsafeManifestPath(name: string): string | undefined {
  if (name.includes("\0")) return "path contains a NUL character";
  if (name.startsWith("/") || /^[A-Za-z]:[\\/]/.test(name)) return "absolute path in manifest; manifest paths must be relative to their root";
  if (name.split("/").includes("..")) return "path escapes the manifest's root ('..'); manifest paths must stay inside their root";
  return undefined;
}
