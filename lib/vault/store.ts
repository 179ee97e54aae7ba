/**
 * A vault held open: its folder (every name beneath it resolved without following a link,
 * lib/io/held_folder.ts), its locks, and the reading and writing of objects, records, commits
 * and refs. Whatever is read from a vault is checked before it is used: a ref must hold one
 * commit id, a commit must hash to its id and hold only paths a checkout can write beneath its
 * folder, a record must have its exact form. Anything else is refused with one line naming the
 * file and what is wrong.
 */
import { closeSync, fchmodSync, fsyncSync, mkdirSync, readSync } from "node:fs";
import { CliError, describeSystemError, ExitCode } from "../core/errors.ts";
import { showName } from "../core/names.ts";
import { writeAll } from "../io/atomic_file.ts";
import { finalNameOfPartial, HeldFolder, type EntryStat, type NewFile } from "../io/held_folder.ts";
import { tryLock, unlock } from "../io/libc.ts";
import { CommitFormatError, readCommit, type Commit, type CommitHeader } from "./commit.ts";
import { branchNameProblem, commitPath, isId, objectPath, recordPath, refPath, shortId, STORE_FOLDERS, STORE_MARKER } from "./layout.ts";

/** What a vault keeps about each object besides its bytes. */
export interface ObjectRecord {
  size: number;
  /** XXH128 of the bytes, as xxhsum -H2 prints it: what ASC MHL generations use. */
  xxh128: string;
}

/** A branch and the commit it names. */
export interface Branch {
  name: string;
  id: string;
}

/** The branch moved while a commit or merge was being made: the compare-and-swap refused it. */
export class BranchMovedError extends CliError {
  readonly current: string | undefined;
  constructor(branch: string, expected: string | undefined, current: string | undefined, path: string) {
    const was = expected ? shortId(expected) : "nothing";
    const now = current ? shortId(current) : "nothing";
    super(`branch '${branch}' moved from ${was} to ${now} while this was being made; nothing was changed`, { path });
    this.current = current;
  }
}

const RECORD = /^(0|[1-9][0-9]*) ([0-9a-f]{32})\n$/;
const REF = /^([0-9a-f]{64})\n$/;
const HEX = "0123456789abcdef";

/** How long a command waits for a garbage collection to finish, and for another process's ref update. */
const GC_WAIT_MS = 3000;
const REFS_WAIT_MS = 10_000;

/** Reads a whole small file beneath a held folder; undefined when it is not there. */
function readSmall(held: HeldFolder, relative: string, max: number): Uint8Array | undefined {
  let fd: number;
  try {
    fd = held.openRead(relative);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }
  try {
    const buffer = Buffer.alloc(max + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, length);
      if (n === 0 || length + n > max) {
        length += n;
        break;
      }
      length += n;
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/** True when a name is one of the hidden partial names a new file has while it is written. */
export function isPartialName(name: string): boolean {
  return finalNameOfPartial(name) !== undefined;
}

/** A vault's folder, held open. */
export class Vault {
  readonly path: string;
  readonly held: HeldFolder;
  #gcLock: number | undefined;

  private constructor(path: string, held: HeldFolder) {
    this.path = path;
    this.held = held;
  }

  /**
   * Makes a new vault in `path`, a folder that does not exist yet or is empty.
   * @throws {CliError} when the folder holds anything.
   */
  static init(path: string): Vault {
    try {
      mkdirSync(path, { recursive: true });
    } catch (error) {
      throw new CliError(`cannot make the vault's folder: ${describeSystemError(error)}`, { path });
    }
    const held = Vault.#hold(path);
    if (held.list("").length > 0) {
      held.close();
      throw new CliError("is not empty; a vault is made in a new or empty folder", { path });
    }
    for (const folder of STORE_FOLDERS) held.makeFolders(folder, 0o755);
    const vault = new Vault(path, held);
    vault.#writeNew("locks/gc", new Uint8Array(0), 0o644);
    vault.#writeNew("locks/refs", new Uint8Array(0), 0o644);
    // Last: a folder is a vault once everything above is there.
    vault.#writeNew("cartvault", new TextEncoder().encode(STORE_MARKER), 0o444);
    return vault;
  }

  /**
   * Opens the vault at `path` (links in `path` itself are followed: the user named it).
   * @throws {CliError} when there is no vault there.
   */
  static open(path: string): Vault {
    const held = Vault.#hold(path);
    let marker: Uint8Array | undefined;
    try {
      marker = readSmall(held, "cartvault", 64);
    } catch (error) {
      held.close();
      throw new CliError(`not a readable vault: ${describeSystemError(error)}`, { path });
    }
    if (!marker || Buffer.from(marker).toString("latin1") !== STORE_MARKER) {
      held.close();
      throw new CliError(`not a cartvault vault (no '${STORE_MARKER.trim()}' in its cartvault file); make one with 'cartvault init'`, { path });
    }
    return new Vault(path, held);
  }

  static #hold(path: string): HeldFolder {
    try {
      return HeldFolder.open(path);
    } catch (error) {
      throw new CliError(describeSystemError(error), { path });
    }
  }

  /** Releases the locks and closes every descriptor. */
  close(): void {
    if (this.#gcLock !== undefined) closeSync(this.#gcLock);
    this.#gcLock = undefined;
    this.held.close();
  }

  /** The absolute path of a name in the vault, for messages. */
  pathOf(relative: string): string {
    return this.held.pathOf(relative);
  }

  /** An error about one file of the vault. */
  #refused(relative: string, message: string, exitCode: number = ExitCode.UsageOrIo): CliError {
    return new CliError(message, { path: this.pathOf(relative), exitCode });
  }

  // ------------------------------------------------------------------ locks

  /**
   * Takes the vault's lock: `shared` for every command (many at once), `exclusive` for garbage
   * collection (alone). A shared lock waits a few seconds for a collection to end; an
   * exclusive one is refused at once while anything else runs. Held until {@link close} or
   * the process ends, however it ends.
   * @throws {CliError} when the lock cannot be had.
   */
  lock(kind: "shared" | "exclusive"): void {
    if (this.#gcLock !== undefined) return;
    const fd = this.#openLock("locks/gc");
    const until = Date.now() + (kind === "shared" ? GC_WAIT_MS : 0);
    for (;;) {
      if (tryLock(fd, kind)) break;
      if (Date.now() >= until) {
        closeSync(fd);
        throw new CliError(kind === "shared" ? "a garbage collection (cartvault gc) is running on this vault; try again when it is done" : "another cartvault command is using this vault; run gc again when it is done", { path: this.path });
      }
      Bun.sleepSync(20);
    }
    this.#gcLock = fd;
  }

  /**
   * Opens a lock file of the vault. One that was deleted (by hand, or by a clean-up of the
   * folder) is made again, empty, beneath the vault and never through a link: a lock file holds
   * nothing, and flock needs only a file every process opens by the same name.
   * @throws {CliError} when it cannot be opened nor made (one line saying what to do).
   */
  #openLock(relative: string): number {
    try {
      return this.held.openRead(relative);
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT") throw this.#refused(relative, `cannot open the vault's lock: ${describeSystemError(error)}`);
    }
    try {
      this.held.makeFolders("locks", 0o755);
      this.#writeNew(relative, new Uint8Array(0), 0o644);
      return this.held.openRead(relative);
    } catch (error) {
      throw this.#refused(relative, `the vault's lock file is missing and cannot be made again (${describeSystemError(error)}); run cartvault as the vault's owner once, or make it as an empty file`);
    }
  }

  /** Runs `work` holding the refs lock (one ref change at a time in the whole vault). */
  #withRefsLock<T>(work: () => T): T {
    const fd = this.#openLock("locks/refs");
    try {
      const until = Date.now() + REFS_WAIT_MS;
      while (!tryLock(fd, "exclusive")) {
        if (Date.now() >= until) throw this.#refused("locks/refs", "the branches are being changed by another process that does not finish; try again");
        Bun.sleepSync(5);
      }
      try {
        return work();
      } finally {
        unlock(fd);
      }
    } finally {
      closeSync(fd);
    }
  }

  // ------------------------------------------------------------------ small files

  /** Writes a new file complete under its name (flushed first), never over an existing one. */
  #writeNew(relative: string, bytes: Uint8Array, mode: number): "written" | "present" {
    const file = this.held.createNew(relative, mode);
    try {
      writeAll(file.fd, bytes, 0);
      fsyncSync(file.fd);
      this.held.placeNew(file, false);
      return "written";
    } catch (error) {
      this.held.discardNew(file);
      if ((error as { code?: string }).code === "EEXIST") return "present";
      throw error;
    } finally {
      closeSync(file.fd);
    }
  }

  /** Makes the folder an object, record or commit goes into (`objects/ab`…), made as needed. */
  makeFolderOf(relative: string): void {
    this.held.makeFolders(relative.slice(0, relative.lastIndexOf("/")), 0o755);
  }

  /** Flushes a folder of the vault, so that names made in it survive a power cut. */
  flushFolder(relative: string): void {
    fsyncSync(this.held.folderFd(relative));
  }

  // ------------------------------------------------------------------ objects

  /** The object's state, or undefined when the vault does not have it. */
  objectStat(id: string): EntryStat | undefined {
    return this.held.stat(objectPath(id));
  }

  /** Opens an object for reading (never through a link). */
  openObject(id: string): number {
    return this.held.openRead(objectPath(id));
  }

  /**
   * Puts a complete, flushed new file under an object's name, read-only.
   * @returns false when the vault already had the object (the new file is then discarded).
   */
  placeObject(file: NewFile, id: string): boolean {
    fchmodSync(file.fd, 0o444);
    this.makeFolderOf(objectPath(id));
    try {
      this.held.placeNew({ ...file, relative: objectPath(id) }, false);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
      this.held.discardNew(file);
      return false;
    }
  }

  /**
   * An object's record, or undefined when it has none.
   * @throws {CliError} when the record is not in its exact form.
   */
  readRecord(id: string): ObjectRecord | undefined {
    const bytes = readSmall(this.held, recordPath(id), 64);
    if (!bytes) return undefined;
    const m = RECORD.exec(Buffer.from(bytes).toString("latin1"));
    if (!m || !Number.isSafeInteger(Number(m[1]))) throw this.#refused(recordPath(id), "refused: not an object record ('<size> <xxh128>')", ExitCode.VerifyFailed);
    return { size: Number(m[1]), xxh128: m[2]! };
  }

  /**
   * Writes an object's record unless it has one; flushed by the caller (one flush for many).
   * @returns true when written, false when it was there.
   */
  writeRecord(id: string, record: ObjectRecord): boolean {
    if (this.held.stat(recordPath(id)) !== undefined) return false;
    this.makeFolderOf(recordPath(id));
    const file = this.held.createNew(recordPath(id), 0o444);
    try {
      writeAll(file.fd, new TextEncoder().encode(`${record.size} ${record.xxh128}\n`), 0);
      this.held.placeNew(file, false);
      return true;
    } catch (error) {
      this.held.discardNew(file);
      if ((error as { code?: string }).code !== "EEXIST") throw error;
      return false;
    } finally {
      closeSync(file.fd);
    }
  }

  /**
   * Every id named in a folder of the vault (`objects`, `records` or `commits`), whatever the
   * entry is (a link under an object's name is still that object, and damaged); other names
   * (partial names, strays) go to `onStray`.
   */
  *objectIds(kind: "objects" | "records" | "commits", onStray: (relative: string) => void = () => {}): Generator<string> {
    for (const a of HEX) {
      for (const b of HEX) {
        const folder = `${kind}/${a}${b}`;
        let entries;
        try {
          entries = this.held.list(folder);
        } catch (error) {
          if ((error as { code?: string }).code === "ENOENT") continue;
          throw error;
        }
        for (const entry of entries) {
          const id = `${a}${b}${entry.name}`;
          if (isId(id) && entry.kind !== "folder") yield id;
          else onStray(`${folder}/${entry.name}`);
        }
      }
    }
  }

  // ------------------------------------------------------------------ commits

  /** True when the vault holds a commit of this id (its bytes are not read). */
  hasCommit(id: string): boolean {
    return this.held.stat(commitPath(id))?.kind === "file";
  }

  #openCommit(id: string): number {
    try {
      return this.held.openRead(commitPath(id));
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") throw this.#refused(commitPath(id), `commit ${shortId(id)} is missing from the vault`, ExitCode.VerifyFailed);
      throw this.#refused(commitPath(id), `commit ${shortId(id)} cannot be read: ${describeSystemError(error)}`, ExitCode.VerifyFailed);
    }
  }

  /**
   * Reads a whole commit, checked: its bytes hash to its id, every path is one a checkout can
   * write beneath its folder.
   * @throws {CliError} (exit 1) naming the commit and what is wrong.
   */
  async readCommit(id: string): Promise<Commit> {
    try {
      return await readCommit(this.#openCommit(id), id);
    } catch (error) {
      throw this.#commitError(id, error);
    }
  }

  /** Reads what a commit says besides its files (parents, author, time, message, counts). */
  async readHeader(id: string): Promise<CommitHeader> {
    try {
      return await readCommit(this.#openCommit(id), id, true);
    } catch (error) {
      throw this.#commitError(id, error);
    }
  }

  #commitError(id: string, error: unknown): unknown {
    if (error instanceof CommitFormatError) return this.#refused(commitPath(id), `refused: commit ${shortId(id)}: ${error.message}`, ExitCode.VerifyFailed);
    if (error instanceof CliError) return error;
    return this.#refused(commitPath(id), `commit ${shortId(id)} cannot be read: ${describeSystemError(error)}`);
  }

  /** Writes a commit made by `encodeCommit` (flushed, then named, then its folder flushed); returns its id. */
  writeCommit(commit: { id: string; bytes: Uint8Array }): string {
    this.makeFolderOf(commitPath(commit.id));
    if (this.#writeNew(commitPath(commit.id), commit.bytes, 0o444) === "written") this.flushFolder(commitPath(commit.id).slice(0, 10));
    return commit.id;
  }

  // ------------------------------------------------------------------ refs

  /**
   * The commit a branch names, or undefined when there is no such branch.
   * @throws {CliError} when the ref is not exactly one commit id and a newline, or names a
   *   commit the vault does not have.
   */
  readRef(name: string): string | undefined {
    const relative = refPath(name);
    let bytes: Uint8Array | undefined;
    try {
      bytes = readSmall(this.held, relative, 80);
    } catch (error) {
      throw this.#refused(relative, `refused: branch '${name}' cannot be read: ${describeSystemError(error)}`, ExitCode.VerifyFailed);
    }
    if (!bytes) return undefined;
    const m = REF.exec(Buffer.from(bytes).toString("latin1"));
    if (!m) throw this.#refused(relative, `refused: branch '${name}' does not hold one commit id (a ref is '<64 hex digits>' and a newline)`, ExitCode.VerifyFailed);
    if (!this.hasCommit(m[1]!)) throw this.#refused(relative, `refused: branch '${name}' names commit ${shortId(m[1]!)}, which the vault does not have`, ExitCode.VerifyFailed);
    return m[1]!;
  }

  /**
   * Every branch, in byte order of their names. A file under refs/heads that is not a branch
   * (a bad name, a link, something else) is passed to `onProblem`.
   */
  listBranchNames(onProblem: (relative: string, message: string) => void = () => {}): string[] {
    const names: string[] = [];
    const stack = [""];
    while (stack.length > 0) {
      const prefix = stack.pop()!;
      const folder = prefix === "" ? "refs/heads" : `refs/heads/${prefix}`;
      for (const entry of this.held.list(folder)) {
        const name = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
        if (isPartialName(entry.name)) continue;
        const kind = entry.kind ?? this.held.stat(`${folder}/${entry.name}`)?.kind;
        if (kind === "folder" && stack.length + name.split("/").length < 64) stack.push(name);
        else if (kind === "file" && !branchNameProblem(name)) names.push(name);
        else onProblem(`${folder}/${entry.name}`, kind === "file" ? "not a branch name" : kind === "folder" ? "branch folders nested too deep" : `a ${kind ?? "thing"} where a branch should be`);
      }
    }
    return names.sort();
  }

  /** Every branch and its commit (refs that cannot be read go to `onProblem`). */
  listBranches(onProblem: (relative: string, message: string) => void = () => {}): Branch[] {
    const out: Branch[] = [];
    for (const name of this.listBranchNames(onProblem)) {
      try {
        const id = this.readRef(name);
        if (id) out.push({ name, id });
      } catch (error) {
        onProblem(refPath(name), (error as Error).message);
      }
    }
    return out;
  }

  /** Refuses a new branch name that a branch's folder or file is in the way of. */
  #checkBranchPlace(name: string): void {
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join("/");
      if (this.held.stat(refPath(prefix))?.kind === "file") throw new CliError(`branch '${name}' cannot be made: branch '${prefix}' exists`, { path: this.path });
    }
    if (this.held.stat(refPath(name))?.kind === "folder") throw new CliError(`branch '${name}' cannot be made: branches named '${name}/…' exist`, { path: this.path });
  }

  /** Writes a ref under the refs lock: flushed, then put in place whole (atomic rename), then its folder flushed. */
  #writeRef(name: string, id: string, replace: boolean): void {
    const relative = refPath(name);
    const folder = relative.slice(0, relative.lastIndexOf("/"));
    this.held.makeFolders(folder, 0o755);
    const file = this.held.createNew(relative, 0o644);
    try {
      writeAll(file.fd, new TextEncoder().encode(`${id}\n`), 0);
      fsyncSync(file.fd);
      this.held.placeNew(file, replace);
    } catch (error) {
      this.held.discardNew(file);
      if ((error as { code?: string }).code === "EEXIST") throw new CliError(`branch '${name}' exists already`, { path: this.path });
      throw error;
    } finally {
      closeSync(file.fd);
    }
    this.flushFolder(folder);
  }

  /**
   * Makes a new branch naming `id`. Only the tiny ref is written: no file data is touched.
   * @throws {CliError} when the name is bad or taken.
   */
  createBranch(name: string, id: string): void {
    const problem = branchNameProblem(name);
    if (problem) throw new CliError(`bad branch name '${name}': ${problem}`);
    this.#withRefsLock(() => {
      this.#checkBranchPlace(name);
      this.#writeRef(name, id, false);
    });
  }

  /**
   * Moves a branch from `expected` (undefined: the branch must not exist yet) to `next`, if
   * and only if it still names `expected`: compare-and-swap under the refs lock, the ref
   * replaced whole by an atomic rename.
   * @throws {BranchMovedError} when the branch names something else now.
   */
  updateBranch(name: string, expected: string | undefined, next: string): void {
    const problem = branchNameProblem(name);
    if (problem) throw new CliError(`bad branch name '${name}': ${problem}`);
    this.#withRefsLock(() => {
      const current = this.readRef(name);
      if (current !== expected) throw new BranchMovedError(name, expected, current, this.pathOf(refPath(name)));
      if (expected === undefined) this.#checkBranchPlace(name);
      this.#writeRef(name, next, expected !== undefined);
    });
  }

  /**
   * The commit a REF names: a branch, a full commit id, or a unique prefix of one (4 hex digits
   * or more).
   * @throws {CliError} when it names none, or several.
   */
  resolve(ref: string): { id: string; branch?: string } {
    if (!branchNameProblem(ref)) {
      const id = this.readRef(ref);
      if (id) return { id, branch: ref };
    }
    if (isId(ref)) {
      if (this.hasCommit(ref)) return { id: ref };
      throw new CliError(`no commit ${ref} in this vault`, { path: this.path });
    }
    if (/^[0-9a-f]{4,63}$/.test(ref)) {
      const folder = `commits/${ref.slice(0, 2)}`;
      const found = this.held
        .list(folder)
        .map((e) => `${ref.slice(0, 2)}${e.name}`)
        .filter((id) => isId(id) && id.startsWith(ref));
      if (found.length === 1) return { id: found[0]! };
      if (found.length > 1) throw new CliError(`'${ref}' is the start of ${found.length} commits (${found.slice(0, 3).map(shortId).join(", ")}…); give more digits`, { path: this.path });
    }
    throw new CliError(`no branch or commit '${showName(ref)}' in this vault`, { path: this.path });
  }
}
