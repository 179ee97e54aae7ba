/**
 * A file written under a temporary name beside its final one, `.<name>.<random>.partial`, and
 * renamed into place only once complete and flushed: nothing incomplete ever carries the final
 * name. Never replaces an existing file unless asked.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { renameNoReplace } from "./libc.ts";

/** The temporary name for `finalPath`: hidden, random, and obviously unfinished. */
export function partialPathFor(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.${randomBytes(4).toString("hex")}.partial`);
}

/** Partial files being written now, so an interrupted run can remove them ({@link removeLivePartials}). */
const live = new Set<string>();

/**
 * Removes every partial file still being written (for a signal handler: Ctrl-C must not leave
 * `.partial` files behind). Returns how many were removed.
 */
export function removeLivePartials(): number {
  let removed = 0;
  for (const path of live) {
    try {
      rmSync(path, { force: true });
      removed++;
    } catch {
      // keep going: remove what can be removed
    }
  }
  live.clear();
  return removed;
}

/** A file being written; {@link commit} puts it in place, {@link discard} removes it. */
export class AtomicFile {
  /** Where the file will be. */
  readonly finalPath: string;
  /** Where it is written meanwhile. */
  readonly partialPath: string;
  /** Open for writing (O_EXCL: a leftover partial is never reused). */
  readonly fd: number;
  #closed = false;

  constructor(finalPath: string, mode = 0o644) {
    this.finalPath = finalPath;
    this.partialPath = partialPathFor(finalPath);
    this.fd = openSync(this.partialPath, "wx", mode);
    live.add(this.partialPath);
  }

  /** Flushes the data to the device (fsync). */
  flush(): void {
    fsyncSync(this.fd);
  }

  /** Closes the descriptor (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.fd);
  }

  /**
   * Closes and renames into place, then (unless `flushFolderNow` is false, for a caller that
   * flushes each folder once after many files) flushes the folder so the new name survives a
   * power cut.
   * @throws EEXIST when a file appeared under the final name and `overwrite` is false.
   */
  commit(overwrite: boolean, flushFolderNow = true): void {
    this.close();
    if (overwrite) renameSync(this.partialPath, this.finalPath);
    else renameNoReplace(this.partialPath, this.finalPath);
    live.delete(this.partialPath);
    if (flushFolderNow) flushFolder(dirname(this.finalPath));
  }

  /** Closes and removes the partial file. */
  discard(): void {
    try {
      this.close();
    } catch {
      // already unusable: removing the partial is what matters
    }
    rmSync(this.partialPath, { force: true });
    live.delete(this.partialPath);
  }
}

/** fsync of a folder, so renames and new entries in it are durable (ignored where unsupported). */
export function flushFolder(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    fsyncSync(fd);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== "EINVAL" && code !== "EISDIR" && code !== "EBADF" && code !== "EPERM") throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes all of `bytes` at the descriptor's position (or at `position`), however many writes that takes. */
export function writeAll(fd: number, bytes: Uint8Array, position?: number): void {
  for (let offset = 0; offset < bytes.length; ) {
    offset += writeSync(fd, bytes, offset, bytes.length - offset, position === undefined ? null : position + offset);
  }
}

/**
 * Writes a whole small file (a generation, a chain, a report, a sum file) the same way: under a
 * partial name, flushed, then renamed into place, so a reader never sees half of it.
 * @throws EEXIST when the file exists and `overwrite` is false.
 * @example
 * declare const xml: string;
 * writeFileAtomically("A001/ascmhl/ascmhl_chain.xml", xml, { overwrite: true });
 */
export function writeFileAtomically(path: string, text: string | Uint8Array, options: { overwrite: boolean }): void {
  const file = new AtomicFile(path);
  try {
    writeAll(file.fd, typeof text === "string" ? Buffer.from(text) : text);
    file.flush();
    file.commit(options.overwrite);
  } catch (error) {
    try {
      file.discard();
    } catch {
      // the file's device may be gone; the error below says why
    }
    // Say which file: a write error alone does not.
    if (error && typeof error === "object" && !(error as { path?: string }).path) Object.assign(error, { path });
    throw error;
  }
}
