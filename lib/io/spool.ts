/**
 * Text set aside on disk instead of in memory, as `sort` spills to its temporary folder: pieces
 * filed under keys in one nameless file (made in `$TMPDIR`, then unlinked, so nothing is left
 * behind whatever happens to the process), read back per key in the order they were written.
 * A run over a million files holds the pieces' places, not their text.
 */
import { closeSync, mkdtempSync, openSync, rmdirSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CliError, describeSystemError } from "../core/errors.ts";
import { writeAll } from "./atomic_file.ts";
import { fillChunk } from "./fill.ts";

/** Pieces of text by key, kept in a nameless temporary file. */
export class Spool<K> {
  #fd: number | undefined;
  #end = 0;
  /** Each key's pieces: where they start in the file, and their length in bytes. */
  #pieces = new Map<K, number[]>();

  /** The nameless file, made on the first piece. */
  #file(): number {
    if (this.#fd !== undefined) return this.#fd;
    const base = tmpdir();
    let folder: string | undefined;
    try {
      // A fresh folder of our own (mode 0700): no other user can have put a name in it.
      folder = mkdtempSync(join(base, "cartkit-spool-"));
      const path = join(folder, "spool");
      this.#fd = openSync(path, "wx+", 0o600);
      unlinkSync(path);
      rmdirSync(folder);
      return this.#fd;
    } catch (error) {
      throw new CliError(`cannot set work aside in the temporary folder: ${describeSystemError(error)} (set TMPDIR to a folder with room)`, { path: folder ?? base });
    }
  }

  /** Adds a piece of text under `key`. */
  write(key: K, text: string): void {
    if (text === "") return;
    const bytes = Buffer.from(text);
    const fd = this.#file();
    try {
      writeAll(fd, bytes, this.#end);
    } catch (error) {
      throw new CliError(`cannot set work aside in the temporary folder: ${describeSystemError(error)} (set TMPDIR to a folder with room)`, { path: tmpdir() });
    }
    let pieces = this.#pieces.get(key);
    if (!pieces) this.#pieces.set(key, (pieces = []));
    pieces.push(this.#end, bytes.length);
    this.#end += bytes.length;
  }

  /** The pieces filed under `key`, in the order they were written. */
  *read(key: K): Generator<string, void, undefined> {
    const pieces = this.#pieces.get(key) ?? [];
    for (let i = 0; i < pieces.length; i += 2) {
      const buffer = Buffer.allocUnsafe(pieces[i + 1]!);
      const got = fillChunk(this.#fd!, buffer, 0, buffer.length, pieces[i]!);
      if (got !== buffer.length) throw new CliError(`the temporary file ended early (${got} of ${buffer.length} bytes at ${pieces[i]}): it was changed by something else`, { path: tmpdir() });
      yield buffer.toString("utf8");
    }
  }

  /** Lets the file go (it has no name: its space is freed). */
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    this.#pieces.clear();
    this.#end = 0;
  }
}
