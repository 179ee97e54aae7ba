/**
 * What a summing tool hashes: the operands on the command line, `-` for stdin, folders walked
 * with `-r`, and lists read with `--files-from` (newline- or NUL-separated).
 */
import { readFileSync, statSync } from "node:fs";
import { CliError, describeSystemError } from "../core/errors.ts";
import { guardWaitOn } from "../core/interrupt_guard.ts";
import { fsPath, joinPath, nameFromBytes } from "../core/names.ts";
import { HeldFolder } from "../io/held_folder.ts";
import type { IgnoreList } from "../io/ignore.ts";
import { eachFile, type LinkPolicy, type SpecialPolicy, type WalkEntry, type WalkProblem } from "../io/walk.ts";

/** One thing to hash. */
export interface SumInput {
  /** `stdin` reads standard input; `file` opens `path`. */
  kind: "stdin" | "file";
  /** Path to open (a name that is not UTF-8 carries its bytes: lib/core/names.ts). */
  path: string;
  /** Name printed in the sum line. */
  name: string;
  /**
   * The name was read from a folder (`-r`) or a file list: bytes that are not UTF-8 are written
   * as `\xHH` (escape.ts), so the manifest reads back as the same names. A name given on the
   * command line is written as the anchor writes it.
   */
  escapeBytes?: boolean;
  /** For a file found by a walk: the folder walked, held open; the file is opened beneath it. */
  folder?: HeldFolder;
  /** For a file found by a walk: its path relative to `folder`. */
  relative?: string;
  /** Size when found, when known (for progress). */
  size?: number;
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
  /** Links met by a walk (lib/io/walk.ts). @default "follow" */
  links?: Exclude<LinkPolicy, "copy">;
  /** FIFOs, sockets and devices met by a walk. @default "fail" */
  special?: SpecialPolicy;
  /** Called for what a walk could not include: the caller counts it as a failure. */
  onProblem?: (problem: WalkProblem) => void;
  /** Called for what a walk left out on purpose (`--links skip`, `--special skip`). */
  onSkipped?: (problem: WalkProblem) => void;
  /** Give each file found by a walk its size (for progress); otherwise only what it opens is measured. @default true */
  sizes?: boolean;
}

/**
 * Reads a `--files-from` list: one path per line, or per NUL with `-0`. Empty entries are
 * skipped. Paths are bytes: one that is not UTF-8 is kept as it is (lib/core/names.ts).
 */
export function readFileList(source: string, nulSeparated: boolean): string[] {
  let bytes: Buffer;
  try {
    guardWaitOn(source);
    bytes = readFileSync(source === "-" ? 0 : fsPath(source));
  } catch (error) {
    throw new CliError(`cannot read the file list: ${describeSystemError(error)}; check the path given to --files-from`, { path: source });
  }
  const separator = nulSeparated ? 0 : 0x0a;
  const entries: string[] = [];
  for (let start = 0; start < bytes.length; ) {
    let end = bytes.indexOf(separator, start);
    if (end < 0) end = bytes.length;
    if (end > start) entries.push(nameFromBytes(bytes.subarray(start, end)));
    start = end + 1;
  }
  return entries;
}

/**
 * Turns operands into inputs in command-line order. With no operand (and no list) the input is
 * stdin. With `recursive`, a folder operand becomes its files in byte order, named relative to
 * the folder when it is the only operand (a manifest to check later with `--root`), or
 * `folder/relative` otherwise; what the walk cannot include goes to `onProblem`.
 * @example
 * collectInputs(["card"], { recursive: true, stdinName: "-" }); // card's files, relative names
 */
export function collectInputs(operands: readonly string[], options: CollectOptions): SumInput[] {
  const listed = options.filesFrom !== undefined ? readFileList(options.filesFrom, options.nulSeparated ?? false) : [];
  const all = [...operands.map((operand) => ({ operand, fromList: false })), ...listed.map((operand) => ({ operand, fromList: true }))];
  if (all.length === 0 && options.filesFrom === undefined) all.push({ operand: "-", fromList: false });
  const inputs: SumInput[] = [];
  for (const { operand, fromList } of all) {
    if (operand === "-") {
      inputs.push({ kind: "stdin", path: "-", name: options.stdinName });
      continue;
    }
    if (options.recursive && isDirectory(operand)) {
      let folder: HeldFolder;
      try {
        folder = HeldFolder.open(operand);
      } catch (error) {
        options.onProblem?.({ path: operand, message: `folder cannot be read: ${describeSystemError(error)}` });
        continue;
      }
      const single = all.length === 1;
      const walked = eachFile(folder, {
        ignore: options.ignore,
        links: options.links ?? "follow",
        special: options.special ?? "fail",
        onProblem: options.onProblem,
        onSkipped: options.onSkipped,
        details: options.sizes ?? true,
      });
      for (const entry of walked) inputs.push(new WalkedInput(folder, entry, single ? entry.relativePath : joinPath(operand, entry.relativePath)));
      continue;
    }
    inputs.push({ kind: "file", path: operand, name: operand, ...(fromList ? { escapeBytes: true } : {}) });
  }
  return inputs;
}

/**
 * The name a message about `input` gives: a file found by a walk by its path from where the tool
 * was started (as the walk names a folder it cannot read), not by the name its sum line gives
 * it, relative to the folder walked.
 */
export function errorName(input: SumInput): string {
  return input.folder ? input.path : input.name;
}

/** A file found by a walk, as it waits to be hashed: its absolute path is made only for a message. */
class WalkedInput implements SumInput {
  readonly kind = "file";
  readonly name: string;
  readonly escapeBytes = true;
  readonly folder: HeldFolder;
  readonly relative: string;
  readonly size?: number;

  constructor(folder: HeldFolder, entry: WalkEntry, name: string) {
    this.name = name;
    this.folder = folder;
    this.relative = entry.relativePath;
    if (!Number.isNaN(entry.size)) this.size = entry.size;
  }

  get path(): string {
    return joinPath(this.folder.path, this.relative);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(fsPath(path)).isDirectory();
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
