/**
 * One commit of a cartvault store as a source: each branch of a store (`STORE`), or the commit
 * a REF names (`STORE@REF`). The commit, read and checked by lib/vault (its bytes hash to its
 * id, every path stays beneath a checkout's folder), lists the files; each file's bytes are the
 * object its entry names, opened beneath the store without following a link and read range by
 * range, never extracted or held whole. Its digests are the object's id (BLAKE3, which its
 * entity-tag is made from) and the XXH128 of its record.
 *
 * An object is named by the BLAKE3 of its bytes, so a damaged one can be told from a good one,
 * and one is never served as good:
 * - every request checks that the object is there (else 404), is a regular file and has the
 *   size the commit records (else 500);
 * - an object up to {@link VERIFIED_BYTES} is read and hashed whole before any byte of it is
 *   sent, whatever range is asked;
 * - a larger one is hashed as a whole-content body is sent, and the last bytes are held back
 *   until its digest matches: a mismatch cuts the response, so no client ever receives all of
 *   a damaged object;
 * - an object found damaged answers 500 to every later request until the server restarts, and
 *   is said once on stderr, named (object, path, where it is).
 * A range of a large object the server has not yet read whole is served after the cheap checks
 * only, as ranges of a tape's records are: `cartvault verify` proves every byte of a store.
 */
import { fstatSync, readSync, realpathSync } from "node:fs";
import { describeSystemError } from "../core/errors.ts";
import { baseOf, compareUtf8, fsPath, showName } from "../core/names.ts";
import type { HasherSet } from "../hash/registry.ts";
import { createHashers, createHashersNow } from "../hash/registry.ts";
import type { CommitEntry } from "../vault/commit.ts";
import { objectPath, shortId } from "../vault/layout.ts";
import type { Vault } from "../vault/store.ts";
import { DescriptorCache } from "./descriptors.ts";
import { FileTable, SourceError, type RangeReader, type Source, type SourceFile, type SourceProblem, type VaultVersion } from "./source.ts";

/** Objects up to this size are hashed whole before any of their bytes is sent. */
export const VERIFIED_BYTES = 1 << 20;

/** Objects kept open per store. */
const OPEN_OBJECTS = 64;

/** A file of the commit and the object holding it. */
interface ObjectFile extends SourceFile {
  object: string;
}

/**
 * What the sources of one store share: the vault, its open objects, and what is known of each
 * object's bytes (found damaged, or read whole and matching).
 */
export class ObjectShelf {
  /** The shelves in use, by the store's real path: every version of one store shares one. */
  static readonly #shelves = new Map<string, ObjectShelf>();
  readonly vault: Vault;
  readonly open = new DescriptorCache(OPEN_OBJECTS);
  /** Objects found damaged, and why. */
  readonly damaged = new Map<string, string>();
  readonly #key: string;
  #users = 0;

  private constructor(key: string, vault: Vault) {
    this.#key = key;
    this.vault = vault;
  }

  /**
   * The shelf of the store at `path`, shared with the versions of it already open; `openVault`
   * opens the store when none is.
   */
  static of(path: string, openVault: (path: string) => Vault): ObjectShelf {
    let key: string;
    try {
      key = realpathSync(fsPath(path));
    } catch {
      key = path;
    }
    let shelf = ObjectShelf.#shelves.get(key);
    if (!shelf) {
      shelf = new ObjectShelf(key, openVault(path));
      ObjectShelf.#shelves.set(key, shelf);
    }
    return shelf;
  }

  /** One more source uses the shelf; {@link leave} when it closes. */
  join(): void {
    this.#users++;
  }

  /** A source is done with it: the last one closes the vault. */
  leave(): void {
    this.#users--;
    this.closeIfUnused();
  }

  /** Closes the vault when no source uses it (a version that could not be opened leaves it so). */
  closeIfUnused(): void {
    if (this.#users > 0 || ObjectShelf.#shelves.get(this.#key) !== this) return;
    ObjectShelf.#shelves.delete(this.#key);
    this.open.close();
    this.vault.close();
  }

  /** Remembers a damaged object; returns the error to throw (said once). */
  markDamaged(entry: ObjectFile, what: string): SourceError {
    const message = `object ${shortId(entry.object)} (${showName(entry.path)}) ${what}; not served as good (check the store with 'cartvault verify ${showName(this.vault.path)}'): ${showName(this.vault.pathOf(objectPath(entry.object)))}`;
    const known = this.damaged.has(entry.object);
    if (!known) this.damaged.set(entry.object, message);
    this.open.forget(entry.object);
    return new SourceError(entry.path, "damaged", known ? this.damaged.get(entry.object)! : message, known);
  }
}

/** One version of a vault, served. */
export class VaultSource implements Source {
  readonly kind = "vault" as const;
  readonly name: string;
  readonly location: string;
  readonly tapeSerial = undefined;
  readonly version: VaultVersion;
  readonly problems: SourceProblem[] = [];
  readonly #shelf: ObjectShelf;
  readonly #table: FileTable;
  #closed = false;

  private constructor(shelf: ObjectShelf, version: VaultVersion, files: ObjectFile[]) {
    this.#shelf = shelf;
    this.version = version;
    this.name = `${version.vault}@${version.ref}`;
    this.location = `${shelf.vault.path}@${version.ref}`;
    this.#table = new FileTable(files, compareUtf8);
    shelf.join();
  }

  /**
   * The version `ref` (a branch, a commit id or a unique prefix of one) of the shelf's vault,
   * named `<vault>@<ref>` in addresses. `records` caches the objects' records between versions.
   * @throws {CliError} naming the store when the REF names no commit, or the commit cannot be trusted.
   */
  static async open(shelf: ObjectShelf, vaultName: string, ref: string, records = new Map<string, string | undefined | null>()): Promise<VaultSource> {
    const vault = shelf.vault;
    const resolved = vault.resolve(ref);
    const commit = await vault.readCommit(resolved.id);
    const problems: SourceProblem[] = [];
    const files: ObjectFile[] = [];
    for (const entry of commit.entries) {
      const xxh128 = recordedXxh128(vault, entry, records, problems);
      if (xxh128 === null) continue;
      files.push({
        path: entry.path,
        size: entry.size,
        mtimeMs: Number(entry.mtimeNs / 1_000_000n),
        digests: xxh128 === undefined ? { blake3: entry.id } : { blake3: entry.id, xxh128 },
        tagFormat: "blake3",
        object: entry.id,
      });
    }
    const source = new VaultSource(shelf, { vault: vaultName, ref, commit: resolved.id, ...(resolved.branch ? { branch: resolved.branch } : {}) }, files);
    source.problems.push(...problems);
    return source;
  }

  files(): readonly SourceFile[] {
    return this.#table.list;
  }

  file(path: string): SourceFile | undefined {
    return this.#table.get(path);
  }

  open(file: SourceFile, start: number, end: number): RangeReader {
    const entry = file as ObjectFile;
    if (this.#table.get(file.path) !== file) throw new SourceError(file.path, "missing", "not in this commit");
    const shelf = this.#shelf;
    const known = shelf.damaged.get(entry.object);
    if (known !== undefined) throw new SourceError(entry.path, "damaged", known, true);
    let fd: number;
    try {
      // Beneath the store, never through a link.
      fd = shelf.open.acquire(entry.object, () => shelf.vault.openObject(entry.object));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "ENOENT" || code === "ENOTDIR") throw new SourceError(entry.path, "unreadable", `object ${shortId(entry.object)} (${showName(entry.path)}) is missing from the vault: ${showName(shelf.vault.pathOf(objectPath(entry.object)))}`);
      if (code === "ELOOP") throw shelf.markDamaged(entry, "is a symbolic link, never followed");
      throw new SourceError(entry.path, "unreadable", `object ${shortId(entry.object)} (${showName(entry.path)}) cannot be opened: ${describeSystemError(error)}`);
    }
    let stats;
    try {
      stats = fstatSync(fd);
    } catch (error) {
      shelf.open.release(entry.object, fd);
      throw new SourceError(entry.path, "unreadable", describeSystemError(error));
    }
    if (!stats.isFile() || stats.size !== entry.size) {
      shelf.open.release(entry.object, fd);
      throw shelf.markDamaged(entry, stats.isFile() ? `is ${stats.size} bytes where the commit records ${entry.size}` : "is not a regular file");
    }
    return new ObjectReader(shelf, entry, fd, start, end);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#shelf.leave();
  }
}

/**
 * The XXH128 an object's record gives, undefined without a record, null when the record
 * contradicts the commit (the file is left out, named).
 */
function recordedXxh128(vault: Vault, entry: CommitEntry, records: Map<string, string | undefined | null>, problems: SourceProblem[]): string | undefined | null {
  if (records.has(entry.id)) return records.get(entry.id);
  let value: string | undefined | null;
  try {
    const record = vault.readRecord(entry.id);
    if (record === undefined) value = undefined;
    else if (record.size !== entry.size) {
      problems.push({ path: entry.path, message: `object ${shortId(entry.id)}'s record says ${record.size} bytes, the commit ${entry.size}; not served` });
      value = null;
    } else value = record.xxh128;
  } catch (error) {
    problems.push({ path: entry.path, message: `${(error as Error).message}; served with its BLAKE3 only` });
    value = undefined;
  }
  records.set(entry.id, value);
  return value;
}

/**
 * Reads `[start, end)` of an object: a small object whole and hashed first, a large one
 * straight, hashed on the way when the range is all of it.
 */
class ObjectReader implements RangeReader {
  readonly #shelf: ObjectShelf;
  readonly #entry: ObjectFile;
  #fd: number | undefined;
  #position: number;
  readonly #end: number;
  /** A small object's bytes, once proven. */
  #proven: Uint8Array | undefined;
  /** The hash of a whole large object, fed in order. */
  #hashers: HasherSet | undefined;
  readonly #hashing: boolean;

  constructor(shelf: ObjectShelf, entry: ObjectFile, fd: number, start: number, end: number) {
    this.#shelf = shelf;
    this.#entry = entry;
    this.#fd = fd;
    this.#position = start;
    this.#end = end;
    this.#hashing = entry.size <= VERIFIED_BYTES || (start === 0 && end === entry.size);
  }

  read(into: Uint8Array): number | Promise<number> {
    if (this.#fd === undefined && this.#proven === undefined) return 0;
    if (this.#position >= this.#end) return 0;
    if (!this.#hashing) return this.#readRange(into);
    if (this.#hashers === undefined) {
      const now = createHashersNow(["blake3"]);
      if (now === undefined) return createHashers(["blake3"]).then((made) => this.#readHashed(into, made));
      return this.#readHashed(into, now);
    }
    return this.#readHashed(into, this.#hashers);
  }

  /** Reads bytes at the position into `into` (as many as it and the range hold). */
  #readRange(into: Uint8Array): number {
    const fd = this.#fd!;
    const want = Math.min(into.length, this.#end - this.#position);
    let filled = 0;
    while (filled < want) {
      let n: number;
      try {
        n = readSync(fd, into, filled, want - filled, this.#position);
      } catch (error) {
        throw new SourceError(this.#entry.path, "unreadable", `object ${shortId(this.#entry.object)} cannot be read: ${describeSystemError(error)}`);
      }
      if (n === 0) throw this.#shelf.markDamaged(this.#entry, `ended at byte ${this.#position}, before the ${this.#entry.size} bytes the commit records`);
      filled += n;
      this.#position += n;
    }
    if (this.#position >= this.#end) this.close();
    return filled;
  }

  #readHashed(into: Uint8Array, hashers: HasherSet): number {
    this.#hashers = hashers;
    if (this.#entry.size <= VERIFIED_BYTES) {
      if (this.#proven === undefined) {
        this.#proven = this.#readWhole(hashers);
        // Proven and in memory: the descriptor is not needed any more.
        this.close();
      }
      const n = Math.min(into.length, this.#end - this.#position);
      into.set(this.#proven.subarray(this.#position, this.#position + n));
      this.#position += n;
      return n;
    }
    // A whole large object: the last bytes go out only once all of them hash to the id.
    const last = this.#position + Math.min(into.length, this.#end - this.#position) >= this.#end;
    const n = this.#readRange(into);
    hashers.update(into.subarray(0, n));
    if (last) this.#check(hashers);
    return n;
  }

  /** Reads and hashes a small object whole. */
  #readWhole(hashers: HasherSet): Uint8Array {
    const bytes = new Uint8Array(this.#entry.size);
    let got = 0;
    while (got < bytes.length) {
      let n: number;
      try {
        n = readSync(this.#fd!, bytes, got, bytes.length - got, got);
      } catch (error) {
        throw new SourceError(this.#entry.path, "unreadable", `object ${shortId(this.#entry.object)} cannot be read: ${describeSystemError(error)}`);
      }
      if (n === 0) throw this.#shelf.markDamaged(this.#entry, `ended at byte ${got}, before the ${this.#entry.size} bytes the commit records`);
      got += n;
    }
    hashers.update(bytes);
    this.#check(hashers);
    return bytes;
  }

  /** Compares the hash of the whole object with its id. */
  #check(hashers: HasherSet): void {
    if (hashers.hexes().get("blake3") === this.#entry.object) return;
    this.close();
    throw this.#shelf.markDamaged(this.#entry, "is damaged: its bytes do not match its id");
  }

  close(): void {
    if (this.#fd === undefined) return;
    this.#shelf.open.release(this.#entry.object, this.#fd);
    this.#fd = undefined;
  }
}

/** The name a store goes by in addresses when none is given: its folder's name. */
export function vaultNameOf(path: string): string {
  return baseOf(path.replace(/\/+$/, "")) || path;
}
