/**
 * Bringing a source file's bytes into a vault as an object named by their BLAKE3, in one of
 * three ways:
 *
 * - `reflink`: the new object shares the source's extents (FICLONE): no data is copied. The
 *   clone, not the source, is then read and hashed, so the name always fits the bytes stored
 *   even if the source changes meanwhile.
 * - `hardlink`: the object is the source file itself, linked into the vault and made
 *   read-only (the source file becomes read-only too: it is the same file). Only a file owned
 *   by the vault's user (the effective uid) and writable by no one else is linked: whoever
 *   owns the inode can make it writable again and change the vault's object. Any other file is
 *   refused by name (`--import copy` or `reflink` takes it).
 * - `copy`: the copy engine (lib/offload/copy.ts) copies it into the vault, hashing in flight,
 *   and reads the copy back from the device before it is trusted.
 *
 * A new object has no name until it is complete and flushed; a second file with the same
 * bytes finds the object there and stores nothing. Each object gets its record (size and
 * XXH128, taken in the same read) once the object is in place.
 */
import { closeSync, fchmodSync, fsyncSync, openSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { describeSystemError } from "../core/errors.ts";
import { hashFd } from "../hash/file.ts";
import { HashPool } from "../hash/pool.ts";
import { FlushBarrier } from "../io/flush_barrier.ts";
import { statFd, type EntryStat, type HeldFolder, type NewFile } from "../io/held_folder.ts";
import { cloneFile, flushFileSystem } from "../io/libc.ts";
import { copyFile } from "../offload/copy.ts";
import { objectPath, recordPath } from "./layout.ts";
import type { Vault } from "./store.ts";

/** How files come into the vault. */
export type ImportMode = "auto" | "reflink" | "hardlink" | "copy";
export const IMPORT_MODES: readonly ImportMode[] = ["auto", "reflink", "hardlink", "copy"];

/** What became of one file. */
export interface Imported {
  id: string;
  size: number;
  xxh128: string;
  /** The source file as it was when its bytes were taken. */
  stat: EntryStat;
  /** True when the vault did not have these bytes before. */
  stored: boolean;
  how: "reflink" | "hardlink" | "copy";
}

/** A file that could not be imported, and why (`mismatch`: a copy read back differently). */
export class ImportError extends Error {
  readonly mismatch: boolean;
  constructor(message: string, mismatch = false) {
    super(message);
    this.mismatch = mismatch;
  }
}

/** Clone errors that mean "no reflinks between these two places", not "this file failed". */
const NO_REFLINK = new Set(["EXDEV", "EOPNOTSUPP", "ENOTSUP", "EINVAL", "ENOTTY", "ENOSYS", "EPERM"]);

/** New objects that wait, flushed together before they get their names. */
export const BATCH_FILES = 64;

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing more to release
  }
}

/** Opens a new file made by createNew for reading (a nameless one through /proc). */
function reopen(vault: Vault, file: NewFile): number {
  return file.partial === undefined ? openSync(`/proc/self/fd/${file.fd}`, "r") : vault.held.openRead(file.partial);
}

function sameContent(a: EntryStat, b: EntryStat): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino && a.dev === b.dev;
}

/**
 * Why a file cannot become a vault object by hard link: it must belong to the user the vault
 * runs as and be writable by no one else (its owner could make it writable again, and a group
 * or anyone could write it before it is made read-only). Undefined when it can.
 */
export function hardlinkProblem(stat: EntryStat, euid = process.geteuid?.()): string | undefined {
  const fix = "; a hard link would let them change the vault's object (use --import copy or reflink)";
  if (euid !== undefined && stat.uid !== euid) return `cannot be hard-linked into the vault: it belongs to uid ${stat.uid}, not to the vault's user (uid ${euid})${fix}`;
  if ((stat.mode & 0o022) !== 0) return `cannot be hard-linked into the vault: its group or others may write it (mode ${(stat.mode & 0o7777).toString(8).padStart(4, "0")})${fix}`;
  return undefined;
}

/**
 * BLAKE3 and XXH128 of open files, in one read each: here, or on threads of their own so
 * that several files are hashed at once (a clone costs nothing to make; hashing it is the work).
 */
export class Hashing {
  readonly #threads: number;
  #pool: HashPool | undefined;
  #next = 0;

  constructor(threads: number) {
    this.#threads = threads;
  }

  /** Hashes everything in `fd` (left open). */
  async hash(fd: number, path: string): Promise<{ hexes: Map<string, string>; size: number }> {
    if (this.#threads <= 1) return hashFd(fd, ["blake3", "xxh128"]);
    this.#pool ??= new HashPool(this.#threads);
    const result = await this.#pool.run({ id: this.#next++, path, fd, keepFd: true, algorithms: ["blake3", "xxh128"], options: {} });
    if (!result.ok) throw Object.assign(new Error(result.detail ?? result.message), { code: result.code });
    return { hexes: new Map(result.hexes), size: result.size };
  }

  /** Stops the threads. */
  close(): void {
    this.#pool?.close();
  }
}

/** Imports files of one source into a vault. Call {@link finish} before the objects are used. */
export class Importer {
  readonly #vault: Vault;
  readonly #source: HeldFolder;
  #mode: ImportMode;
  readonly #barrier = new FlushBarrier(BATCH_FILES);
  #waiting: Array<{ file: NewFile; id: string; size: number; xxh128: string }> = [];
  /** Objects named while this import ran (two source files with one content). */
  #named = new Set<string>();
  /** Records written while this import ran. */
  #recorded = new Set<string>();

  readonly #hashing: Hashing;

  /** `hashers`: files hashed at once on threads of their own (1: here). */
  constructor(vault: Vault, source: HeldFolder, mode: ImportMode, hashers = 1) {
    this.#vault = vault;
    this.#source = source;
    this.#mode = mode;
    this.#hashing = new Hashing(hashers);
  }

  /** The mode in use now (`auto` becomes `reflink` or `copy` at the first file). */
  get mode(): ImportMode {
    return this.#mode;
  }

  /**
   * Imports one file. `onWritten` is called once its bytes are written and it only waits for
   * a flush (the next file can start then). `likelyStored` says the vault probably has its
   * bytes already (copy mode then hashes before it copies).
   * @throws {ImportError} when it cannot be imported (named reason).
   */
  async importFile(relative: string, throughLink: boolean, walked: EntryStat, onWritten: () => void = () => {}, likelyStored = false): Promise<Imported> {
    if (this.#mode === "copy") {
      const found = likelyStored ? await this.#findStored(relative, throughLink, walked) : undefined;
      if (found) {
        onWritten();
        return found;
      }
      return this.#copy(relative, throughLink, walked, onWritten);
    }
    let src: number;
    try {
      src = throughLink ? this.#source.openReadInside(relative) : this.#source.openRead(relative);
    } catch (error) {
      throw new ImportError(`cannot be read: ${describeSystemError(error)}`);
    }
    try {
      const before = statFd(src);
      if (before.kind !== "file") throw new ImportError("is not a regular file");
      if (this.#mode === "hardlink") {
        const notOurs = hardlinkProblem(before);
        if (notOurs) throw new ImportError(notOurs);
        return await this.#hardlink(src, before);
      }
      const cloned = await this.#reflink(src, before);
      if (cloned) return cloned;
    } finally {
      closeQuietly(src);
    }
    return this.#copy(relative, throughLink, walked, onWritten);
  }

  /** Clones, hashes the clone, and queues it for its name; undefined when `auto` falls back to copying. */
  async #reflink(src: number, before: EntryStat): Promise<Imported | undefined> {
    const file = this.#vault.held.createNew("tmp/import", 0o444);
    const failed = cloneFile(file.fd, src);
    if (failed) {
      closeQuietly(file.fd);
      this.#vault.held.discardNew(file);
      if (this.#mode === "auto" && NO_REFLINK.has(failed)) {
        // The first file decides: no reflinks between these two places, so copies from now on.
        if (this.#named.size === 0 && this.#waiting.length === 0) this.#mode = "copy";
        return undefined;
      }
      throw new ImportError(NO_REFLINK.has(failed) ? `cannot be reflinked into the vault (${failed}: the source and the vault must be on one file system that supports reflinks, e.g. XFS with reflink=1 or Btrfs); use --import copy` : `cannot be reflinked: ${failed}`);
    }
    if (this.#mode === "auto") this.#mode = "reflink";
    let digests;
    try {
      const reader = reopen(this.#vault, file);
      try {
        digests = await this.#hashing.hash(reader, this.#vault.held.pathOf("tmp/import"));
      } finally {
        closeQuietly(reader);
      }
      const after = statFd(src);
      if (!sameContent(before, after)) throw new ImportError("changed while it was committed; commit again");
    } catch (error) {
      closeQuietly(file.fd);
      this.#vault.held.discardNew(file);
      throw error instanceof ImportError ? error : new ImportError(`cannot be read: ${describeSystemError(error)}`);
    }
    const id = digests.hexes.get("blake3")!;
    const xxh128 = digests.hexes.get("xxh128")!;
    const stored = !this.#named.has(id) && this.#vault.objectStat(id) === undefined;
    if (stored) {
      this.#named.add(id);
      this.#waiting.push({ file, id, size: digests.size, xxh128 });
      if (this.#waiting.length >= BATCH_FILES) this.#placeWaiting();
    } else {
      closeQuietly(file.fd);
      this.#vault.held.discardNew(file);
      this.#ensureRecord(id, digests.size, xxh128);
    }
    return { id, size: digests.size, xxh128, stat: before, stored, how: "reflink" };
  }

  /** One flush for the waiting clones, then their names and records. */
  #placeWaiting(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    if (waiting.length === 0) return;
    if (!flushFileSystem(this.#vault.path)) for (const w of waiting) fsyncSync(w.file.fd);
    for (const w of waiting) {
      try {
        this.#vault.placeObject(w.file, w.id);
        this.#ensureRecord(w.id, w.size, w.xxh128);
      } finally {
        closeQuietly(w.file.fd);
      }
    }
  }

  async #hardlink(src: number, before: EntryStat): Promise<Imported> {
    const digests = await this.#hashing.hash(src, this.#source.path);
    const id = digests.hexes.get("blake3")!;
    const xxh128 = digests.hexes.get("xxh128")!;
    let stored = false;
    if (!this.#named.has(id) && this.#vault.objectStat(id) === undefined) {
      try {
        this.#vault.makeFolderOf(objectPath(id));
        this.#vault.held.linkFd(src, objectPath(id));
        stored = true;
        this.#named.add(id);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === "EXDEV") throw new ImportError("cannot be hard-linked into the vault: the source and the vault are on two file systems; use --import copy or reflink");
        if (code !== "EEXIST") throw new ImportError(`cannot be hard-linked into the vault: ${describeSystemError(error)}`);
      }
    }
    if (stored) fchmodSync(src, 0o444);
    const after = statFd(src);
    if (before.size !== after.size || before.mtimeNs !== after.mtimeNs || digests.size !== before.size) {
      if (stored) this.#vault.held.remove(objectPath(id));
      throw new ImportError("changed while it was committed; commit again");
    }
    this.#ensureRecord(id, digests.size, xxh128);
    return { id, size: digests.size, xxh128, stat: after, stored, how: "hardlink" };
  }

  /**
   * For a file whose bytes the vault probably has (it was committed at this path with this
   * size, and only its times moved): hashed first, and not copied at all if the object is
   * there. Undefined when it is not (then it is copied, read a second time).
   */
  async #findStored(relative: string, throughLink: boolean, walked: EntryStat): Promise<Imported | undefined> {
    let src: number;
    try {
      src = throughLink ? this.#source.openReadInside(relative) : this.#source.openRead(relative);
    } catch {
      return undefined;
    }
    try {
      const digests = await this.#hashing.hash(src, this.#source.path);
      const now = statFd(src);
      const id = digests.hexes.get("blake3")!;
      if (now.size !== walked.size || now.mtimeNs !== walked.mtimeNs || now.ino !== walked.ino || digests.size !== walked.size) return undefined;
      if (this.#vault.objectStat(id)?.kind !== "file") return undefined;
      this.#ensureRecord(id, digests.size, digests.hexes.get("xxh128")!);
      return { id, size: digests.size, xxh128: digests.hexes.get("xxh128")!, stat: walked, stored: false, how: "copy" };
    } finally {
      closeQuietly(src);
    }
  }

  /**
   * Copies through the copy engine. The file must still be as walked (`walked`, taken to the
   * nanosecond): the engine reports times to the microsecond only.
   */
  async #copy(relative: string, throughLink: boolean, walked: EntryStat, onWritten: () => void): Promise<Imported> {
    const staging = `tmp/${randomBytes(8).toString("hex")}`;
    const outcome = await copyFile({ folder: this.#source, relative, throughLink }, [{ folder: this.#vault.held, relative: staging }], {
      algorithms: ["blake3", "xxh128"],
      verify: "dest",
      modes: { umask: 0o222 },
      flushVia: (folder, fsyncOwn) => this.#barrier.wait(folder.path, fsyncOwn),
      onWritten,
    });
    const dest = outcome.destinations[0]!;
    if (outcome.sourceError || dest.status !== "verified") {
      if (dest.status === "verified" || dest.status === "mismatch") this.#removeQuietly(staging);
      throw new ImportError(outcome.sourceError ? `cannot be read: ${outcome.sourceError}` : `not copied: ${dest.reason ?? dest.status}`, dest.status === "mismatch");
    }
    const read = outcome.sourceStat!;
    if (read.size !== walked.size || read.ino !== walked.ino || read.dev !== walked.dev || (read.mtimeNs > walked.mtimeNs ? read.mtimeNs - walked.mtimeNs : walked.mtimeNs - read.mtimeNs) > 1000n) {
      this.#removeQuietly(staging);
      throw new ImportError("changed while it was committed; commit again");
    }
    const id = outcome.hexes.get("blake3")!;
    const xxh128 = outcome.hexes.get("xxh128")!;
    let stored = true;
    try {
      this.#vault.makeFolderOf(objectPath(id));
      this.#vault.held.rename(staging, objectPath(id), false);
      this.#named.add(id);
    } catch (error) {
      this.#removeQuietly(staging);
      if ((error as { code?: string }).code !== "EEXIST") throw new ImportError(`cannot be put into the vault: ${describeSystemError(error)}`);
      stored = false;
    }
    this.#ensureRecord(id, outcome.size, xxh128);
    return { id, size: outcome.size, xxh128, stat: walked, stored, how: "copy" };
  }

  #removeQuietly(relative: string): void {
    try {
      this.#vault.held.remove(relative);
    } catch {
      // tmp/ is cleared by gc
    }
  }

  /** Writes an object's record when it lacks one (an earlier run stopped between the two). */
  #ensureRecord(id: string, size: number, xxh128: string): void {
    if (this.#vault.writeRecord(id, { size, xxh128 })) this.#recorded.add(id);
  }

  /** Starts the flush that copies waiting for one are waiting for. */
  flushNow(): void {
    if (this.#barrier.waiting > 0) this.#barrier.flush();
  }

  /**
   * Names the objects still waiting and flushes everything: once this returns, every object
   * imported and its record are on the device.
   */
  finish(): void {
    this.#hashing.close();
    this.#placeWaiting();
    if (this.#named.size === 0 && this.#recorded.size === 0) return;
    if (!flushFileSystem(this.#vault.path)) {
      for (const id of this.#named) this.#vault.flushFolder(objectPath(id).slice(0, 10));
      for (const id of this.#recorded) this.#vault.flushFolder(recordPath(id).slice(0, 10));
    }
  }
}
