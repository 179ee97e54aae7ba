/**
 * Where tc-extract writes: a folder held by its descriptor, files created there nameless (or
 * under a hidden partial name) and given their final name only when complete, never replacing
 * what is there unless asked, never through a link. ffmpeg writes into the new file through the
 * descriptor handed to it, so it never opens a path of ours and its `-y` only ever overwrites a
 * file this run created.
 *
 * Names made from an EDL (event, reel, clip name) pass through {@link safeName}: letters,
 * digits, `.`, `_` and `-` only, never a leading dot or dash, never a folder.
 */
import { closeSync, mkdirSync } from "node:fs";
import { CliError, describeSystemError, ExitCode } from "../core/errors.ts";
import { fsPath, joinPath, showName } from "../core/names.ts";
import { writeAll } from "../io/atomic_file.ts";
import { HeldFolder, type NewFile } from "../io/held_folder.ts";

/** Longest part of a name made by {@link safeName}, in characters. */
const SAFE_PART = 64;

/**
 * Text from an EDL or a file name as part of an output name: each character outside
 * `A–Z a–z 0–9 . _ -` becomes `_`, a leading `.` or `-` too, and it is cut to 64 characters.
 * @example
 * safeName("../../etc/x"); // "_.._etc_x"
 * safeName("A001C003"); // "A001C003"
 */
export function safeName(text: string, max = SAFE_PART): string {
  const safe = text
    .replace(/[^A-Za-z0-9._-]/g, "_")
    .replace(/^[.-]/, "_")
    .slice(0, max);
  return safe === "" ? "_" : safe;
}

/** A file being written into an {@link OutputFolder}. */
export interface NewOutput {
  /** Its final name in the folder. */
  name: string;
  /** The folder's path joined with the name, for messages and reports. */
  path: string;
  /** Open for writing: hand it to ffmpeg. */
  fd: number;
  file: NewFile;
}

/** A folder that outputs are put into, held open by its descriptor. */
export class OutputFolder {
  readonly path: string;
  readonly #folder: HeldFolder;
  readonly #replace: boolean;

  private constructor(path: string, folder: HeldFolder, replace: boolean) {
    this.path = path;
    this.#folder = folder;
    this.#replace = replace;
  }

  /**
   * Holds the folder at `path` (made, with its parents, when `create` and it is missing).
   * `replace`: outputs may replace files already there (`--force`).
   */
  static open(path: string, options: { create: boolean; replace: boolean }): OutputFolder {
    try {
      if (options.create) mkdirSync(fsPath(path), { recursive: true });
      return new OutputFolder(path, HeldFolder.open(path), options.replace);
    } catch (error) {
      throw new CliError(`cannot use as the output folder: ${describeSystemError(error)}`, { path: showName(path) });
    }
  }

  /** The path of `name` in this folder. */
  pathOf(name: string): string {
    return joinPath(this.path, name);
  }

  /**
   * Checks that `name` can be written: one file name, and nothing there unless replacing.
   * @throws CliError (exit 2) naming the file.
   */
  check(name: string): void {
    if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
      throw new CliError(`not a file name: ${showName(name)}`, { path: showName(this.path) });
    }
    if (this.#replace) return;
    if (this.#folder.stat(name) !== undefined) {
      throw new CliError(`already exists; tc-extract never replaces a file it did not write in this run (pass --force to replace it)`, { path: showName(this.pathOf(name)), exitCode: ExitCode.UsageOrIo });
    }
  }

  /** A new empty file that will become `name` ({@link place}); checked first. */
  create(name: string): NewOutput {
    this.check(name);
    let file: NewFile;
    try {
      file = this.#folder.createNew(name, 0o666);
    } catch (error) {
      throw new CliError(`cannot create: ${describeSystemError(error)}`, { path: showName(this.pathOf(name)) });
    }
    return { name, path: this.pathOf(name), fd: file.fd, file };
  }

  /**
   * Gives a complete output its final name and closes it. Without `--force`, a file that
   * appeared under that name meanwhile is left alone and the output is refused.
   */
  place(output: NewOutput): void {
    try {
      this.#folder.placeNew(output.file, this.#replace);
    } catch (error) {
      this.discard(output);
      const code = (error as { code?: string }).code;
      if (code === "EEXIST") throw new CliError(`appeared while it was being written; left as it is (pass --force to replace it)`, { path: showName(output.path) });
      throw new CliError(`cannot put in place: ${describeSystemError(error)}`, { path: showName(output.path) });
    }
    closeSync(output.fd);
  }

  /** Removes an output that will not be placed. */
  discard(output: NewOutput): void {
    try {
      closeSync(output.fd);
    } catch {
      // already closed
    }
    try {
      this.#folder.discardNew(output.file);
    } catch {
      // nothing more to do: a nameless file is gone once closed
    }
  }

  /** Writes a whole small file (a report, a conformed EDL) under `name`. */
  writeFile(name: string, text: string): void {
    const output = this.create(name);
    try {
      writeAll(output.fd, Buffer.from(text));
    } catch (error) {
      this.discard(output);
      throw new CliError(`cannot write: ${describeSystemError(error)}`, { path: showName(output.path) });
    }
    this.place(output);
  }

  close(): void {
    this.#folder.close();
  }
}
