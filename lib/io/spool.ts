/**
 * Text set aside on disk instead of in memory, as `sort` spills to its temporary folder: pieces
 * filed under keys in one nameless file (made in `$TMPDIR`, then unlinked, so nothing is left
 * behind whatever happens to the process), read back per key in the order they were written.
 * A run over a million files holds the pieces' places, not their text.
 *
 * Where the file cannot be made or written (no such folder, no room, no inodes), the pieces from
 * then on are kept in memory instead, and `onFallback` says why once: a run never fails for it.
 */
import { closeSync, mkdtempSync, openSync, rmdirSync, unlinkSync } from "node:fs";
import { temporaryFolder } from "../core/environment.ts";
import { CliError, describeSystemError } from "../core/errors.ts";
import { fsPath, joinPath, nameFromBytes, showName } from "../core/names.ts";
import { writeAll } from "./atomic_file.ts";
import { fillChunk } from "./fill.ts";

/** Pieces of text by key, kept in a nameless temporary file (or, failing that, in memory). */
export class Spool<K> {
  #fd: number | undefined;
  /** The folder made for the file, while it could not be removed (a FUSE mount keeps an unlinked open file there). */
  #folder: string | undefined;
  /** False once the file could not be made or written: later pieces stay in memory. */
  #writable = true;
  #end = 0;
  /** Each key's pieces in order: a string (kept in memory), or a place in the file (start, length). */
  #pieces = new Map<K, Array<string | number>>();
  readonly #onFallback: (message: string) => void;

  /** @param onFallback told once, in one line, when pieces start being kept in memory */
  constructor(onFallback: (message: string) => void = () => {}) {
    this.#onFallback = onFallback;
  }

  /** The nameless file, made on the first piece; undefined when it cannot be used. */
  #file(): number | undefined {
    if (this.#fd !== undefined || !this.#writable) return this.#fd;
    let path: string | undefined;
    try {
      // A fresh folder of our own (mode 0700): no other user can have put a name in it. Its
      // name as bytes: a TMPDIR that is not UTF-8 is the folder it names.
      // (node:fs takes a Buffer prefix too, which its types do not say.)
      this.#folder = nameFromBytes(mkdtempSync(fsPath(joinPath(temporaryFolder(), "cartkit-spool-")) as string, { encoding: "buffer" }));
      path = joinPath(this.#folder, "spool");
      this.#fd = openSync(fsPath(path), "wx+", 0o600);
      unlinkSync(fsPath(path));
      path = undefined;
      this.#removeFolder();
    } catch (error) {
      if (path !== undefined) {
        try {
          unlinkSync(fsPath(path));
        } catch {
          // not made
        }
      }
      this.#removeFolder();
      this.#giveUp(error);
    }
    return this.#fd;
  }

  #removeFolder(): void {
    if (this.#folder === undefined) return;
    try {
      rmdirSync(fsPath(this.#folder));
      this.#folder = undefined;
    } catch {
      // tried again when the file is closed
    }
  }

  #giveUp(error: unknown): void {
    this.#writable = false;
    this.#onFallback(`${showName(temporaryFolder())}: cannot set work aside in the temporary folder (${describeSystemError(error)}); it is kept in memory instead (set TMPDIR to a folder with room)`);
  }

  /** Adds a piece of text under `key`. */
  write(key: K, text: string): void {
    if (text === "") return;
    let pieces = this.#pieces.get(key);
    if (!pieces) this.#pieces.set(key, (pieces = []));
    const fd = this.#file();
    if (fd !== undefined && this.#writable) {
      const bytes = Buffer.from(text);
      try {
        writeAll(fd, bytes, this.#end);
        pieces.push(this.#end, bytes.length);
        this.#end += bytes.length;
        return;
      } catch (error) {
        // What is in the file stays readable; the rest is kept here.
        this.#giveUp(error);
      }
    }
    pieces.push(text);
  }

  /** The pieces filed under `key`, in the order they were written. */
  *read(key: K): Generator<string, void, undefined> {
    const pieces = this.#pieces.get(key) ?? [];
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (typeof piece === "string") {
        yield piece;
        continue;
      }
      const start = piece;
      const buffer = Buffer.allocUnsafe(pieces[++i] as number);
      const got = fillChunk(this.#fd!, buffer, 0, buffer.length, start);
      if (got !== buffer.length) throw new CliError(`the temporary file ended early (${got} of ${buffer.length} bytes at ${start}): something else changed it`, { path: temporaryFolder() });
      yield buffer.toString("utf8");
    }
  }

  /** Lets the file go (it has no name: its space is freed). */
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    this.#removeFolder();
    this.#pieces.clear();
    this.#end = 0;
  }
}
