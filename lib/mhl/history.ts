/**
 * An ASC MHL history: the `ascmhl/` folder of a root with its chain and generations, and the
 * nested histories of sub-folders that have their own `ascmhl/`. Loading checks the chain
 * (every listed generation present, its C4 unchanged) before any generation is trusted.
 */
import { guardWaitOn } from "../core/interrupt_guard.ts";
import { closeSync, existsSync, fstatSync, fsyncSync, lstatSync, openSync, readdirSync, readSync } from "node:fs";
import { CliError, describeSystemError, explainedError } from "../core/errors.ts";
import { formatBytes } from "../core/units.ts";
import { XmlError } from "../xml/xml.ts";
import { compareUtf8, fsPath, joinPath } from "../core/names.ts";
import { HeldFolder, openRegularFile } from "../io/held_folder.ts";
import { flushFolder, writeAll, writeFileAtomically } from "../io/atomic_file.ts";
import { c4FromSha512 } from "../hash/c4.ts";
import { readChunks } from "../io/reader.ts";
import { basename, join } from "node:path";
import { hashPath } from "../hash/file.ts";
import { CHAIN_FILE_NAME, readChain, writeChain, type ChainLink } from "./chain.ts";
import { fileNameStamp } from "./dates.ts";
import { mhlError, MhlExit } from "./exit_codes.ts";
import type { HashFormat } from "./formats.ts";
import { hashBytes } from "./directory_hash.ts";
import { HISTORY_FILE_MOST_BYTES, readGeneration, streamGeneration } from "./generation.ts";
import type { Generation, HashEntry, MediaHash } from "./model.ts";
import { baseName, exactKey, joinRelative, parentPath, pathKey } from "./paths.ts";
import { collectNowAndThen } from "../core/memory.ts";

/** Per generation, the names its entries were renamed from (`previousPath`), made when first asked. */
const renamedFromCache = new WeakMap<LoadedGeneration, Set<string>>();

function renamedFrom(g: LoadedGeneration): Set<string> {
  let names = renamedFromCache.get(g);
  if (!names) {
    names = new Set();
    for (const media of g.generation.hashes) if (media.previousPath !== undefined) names.add(exactKey(media.previousPath));
    renamedFromCache.set(g, names);
  }
  return names;
}

/** The names on disk, as {@link History.locate} asks of them (relative to the outermost root). */
export interface PathsOnDisk {
  has(path: string): boolean;
}

/**
 * The names a walk found, and, asked of any other, whether something is at that name beneath
 * `held` all the same (a file an ignore pattern left out, one `-sf` did not name): a recorded
 * name in another normalization is never given to a second name while its own is on disk. A
 * name that cannot be looked at counts as there.
 */
export function pathsOnDisk(found: ReadonlySet<string>, held: HeldFolder): PathsOnDisk {
  return {
    has(path: string): boolean {
      if (found.has(path)) return true;
      try {
        return held.stat(path) !== undefined;
      } catch {
        return true;
      }
    },
  };
}

/** Name of the history folder. */
export const HISTORY_FOLDER = "ascmhl";

const GENERATION_NAME = /^(\d{4,})(?:_(.+))?\.mhl$/s;

/** A generation as loaded: its content, number and file. */
export interface LoadedGeneration {
  number: number;
  fileName: string;
  /** Absolute path of the `.mhl` file. */
  file: string;
  generation: Generation;
  /** Entries by path key, also under their previous path. */
  byPath: Map<string, MediaHash>;
}

/** A generation's entries by path, and by previous path where no entry of it has that path. */
function indexGeneration(generation: Generation): Map<string, MediaHash> {
  const byPath = new Map<string, MediaHash>();
  for (const h of generation.hashes) if (h.previousPath !== undefined) byPath.set(exactKey(h.previousPath), h);
  for (const h of generation.hashes) byPath.set(exactKey(h.path), h);
  return byPath;
}

/** The C4 ID of a file's bytes. */
export async function c4OfFile(path: string): Promise<string> {
  return (await hashPath(path, ["c4"])).hexes.get("c4")!;
}

/** Options of {@link History.load}. */
export interface LoadOptions {
  /**
   * `find`: look for nested histories below the root now (a listing of every folder);
   * `later`: the caller walks the tree anyway and calls {@link History.attachNested} with what
   * it met.
   * @default "find"
   */
  nested?: "find" | "later";
}

/**
 * A file of a history must be a regular file where it is: a link is never followed out of a
 * card, and a FIFO or device planted there is never waited on or read. This is the error, with
 * `exit` (the history's damage), for one that is not, or cannot be read.
 */
function historyFileProblem(file: string, exit: number, error: unknown): CliError {
  const code = (error as { code?: string }).code;
  return mhlError(exit, file, code === "ELOOP" ? "it is a symbolic link, never followed in a history" : code === "EFTYPE" ? "it is not a regular file" : `it cannot be read: ${describeSystemError(error)}`);
}

/**
 * The bytes of a history's file (or a packing list) open as `fd`, read once in pieces of 1 MiB,
 * each looked at as it comes: a NUL byte, which no XML text holds, is refused in the piece it
 * is in (a sparse file of gigabytes in its first), and nothing past
 * {@link HISTORY_FILE_MOST_BYTES} is read. A file that says its size is refused by it before a
 * byte is read, and, with `grew`, read to one byte past it: a file that grew meanwhile is
 * refused, not read on. What is checked (a C4) and parsed is this one copy.
 * @throws what `tooLarge` and `grew` make; {@link XmlError} (2) with the line of a NUL byte.
 */
function readBounded(fd: number, file: string, tooLarge: (size: number) => Error, grew?: () => Error): Buffer {
  const stat = fstatSync(fd);
  if (stat.isFile() && stat.size > HISTORY_FILE_MOST_BYTES) throw tooLarge(stat.size);
  const limit = stat.isFile() && grew ? stat.size + 1 : HISTORY_FILE_MOST_BYTES + 1;
  // One buffer of the size a file says (one byte more), grown only for one that says none (a FIFO).
  let bytes = Buffer.allocUnsafe(stat.isFile() ? Math.min(stat.size + 1, limit) : 1 << 20);
  let total = 0;
  while (total < limit) {
    if (total === bytes.length) bytes = Buffer.concat([bytes, Buffer.allocUnsafe(Math.min(bytes.length, limit - total))]);
    const n = readSync(fd, bytes, total, Math.min(1 << 20, bytes.length - total), null);
    if (n === 0) break;
    const nul = bytes.subarray(total, total + n).indexOf(0);
    if (nul >= 0) {
      let line = 1;
      for (let i = bytes.indexOf(10); i >= 0 && i < total + nul; i = bytes.indexOf(10, i + 1)) line++;
      throw new XmlError(file, line, `a NUL byte (byte ${total + nul}), which no XML text holds: not an ASC MHL file`);
    }
    total += n;
  }
  if (grew && stat.isFile() && total > stat.size) throw grew();
  if (total > HISTORY_FILE_MOST_BYTES) throw tooLarge(total);
  return bytes.subarray(0, total);
}

/**
 * The bytes of a history's file, opened as {@link openRegularFile} opens one (never through a
 * link at its end, never waiting on a FIFO), as {@link readBounded} reads them.
 * @throws {CliError} from {@link historyFileProblem}, or with `exit` for a file too large or
 *   that grew while read; {@link XmlError} (2) with the line of a NUL byte.
 */
function readHistoryFile(file: string, exit: number): Buffer {
  let fd: number;
  try {
    fd = openRegularFile(file);
  } catch (error) {
    throw historyFileProblem(file, exit, error);
  }
  try {
    return readHistoryBytes(fd, file, exit);
  } finally {
    closeSync(fd);
  }
}

/** {@link readBounded} of a history's file open as `fd`, which must be a regular file; errors as {@link readHistoryFile}'s. */
function readHistoryBytes(fd: number, file: string, exit: number): Buffer {
  try {
    if (!fstatSync(fd).isFile()) throw historyFileProblem(file, exit, { code: "EFTYPE" });
    return readBounded(
      fd,
      file,
      (size) => mhlError(exit, file, `it is ${size.toLocaleString("en")} bytes, more than the ${formatBytes(HISTORY_FILE_MOST_BYTES)} a history's file is read up to; it is not read`),
      () => mhlError(exit, file, "it grew while it was read"),
    );
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw historyFileProblem(file, exit, error);
  }
}

/**
 * The text of a packing list the user names (a file, or a FIFO written to), as
 * {@link readBounded} reads it.
 * @throws {CliError} (2) for one larger than the bound, {@link XmlError} (2) at a NUL byte.
 */
function readPackingList(file: string): string {
  const fd = openSync(fsPath(file), "r");
  try {
    return readBounded(fd, file, () => new CliError(`more than the ${formatBytes(HISTORY_FILE_MOST_BYTES)} a packing list is read up to; it is not read`, { path: file })).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** Whether a name in `ascmhl/` is read as a generation by {@link History.load}. */
export function isGenerationName(fileName: string): boolean {
  return !fileName.startsWith("._") && GENERATION_NAME.test(fileName);
}

/** One history folder and its nested histories. */
export class History {
  /** Absolute path of the root folder (the parent of `ascmhl/`). */
  readonly root: string;
  /** Path of this root relative to the outermost history's root ("" for the outermost). */
  readonly relativeRoot: string;
  readonly generations: LoadedGeneration[];
  readonly chain: ChainLink[];
  readonly children: History[] = [];
  parent: History | undefined;
  /** Recorded paths by their NFC form, built when a name is first looked up in NFC. */
  #byNfc: Map<string, string[]> | undefined;

  private constructor(root: string, relativeRoot: string, generations: LoadedGeneration[], chain: ChainLink[]) {
    this.root = root;
    this.relativeRoot = relativeRoot;
    this.generations = generations;
    this.chain = chain;
  }

  /**
   * A history made of one external packing list (a flattened `.mhl`), describing `root`.
   */
  static fromPackingList(file: string, root: string): History {
    guardWaitOn(file);
    const generation = readGeneration(readPackingList(file), file);
    return new History(root, "", [{ number: 1, fileName: basename(file), file, generation, byPath: indexGeneration(generation) }], []);
  }

  /** Absolute path of the `ascmhl/` folder. */
  get folder(): string {
    return join(this.root, HISTORY_FOLDER);
  }

  /**
   * Loads the history at `root` (empty when there is no `ascmhl/` folder) and every nested one.
   * @throws {CliError} 32 without a chain file, 33 for a missing generation, 31 for a modified one
   *   or one the chain does not list.
   */
  static async load(root: string, relativeRoot = "", options: LoadOptions = {}): Promise<History> {
    const folder = join(root, HISTORY_FOLDER);
    const chainFile = join(folder, CHAIN_FILE_NAME);
    let chain: ChainLink[] = [];
    const generations: LoadedGeneration[] = [];
    if (existsSync(folder)) {
      if (lstatSync(folder).isSymbolicLink()) throw mhlError(MhlExit.NoChain, folder, "it is a symbolic link, never followed in a history");
      if (!existsSync(chainFile)) throw mhlError(MhlExit.NoChain, chainFile);
      chain = readChain(readHistoryFile(chainFile, MhlExit.NoChain).toString("utf8"), chainFile);
      for (const link of chain) {
        const file = join(folder, link.fileName);
        if (!existsSync(file)) throw mhlError(MhlExit.MissingManifest, file);
        // A generation is proven on the very bytes it is parsed from, below; the chain lists
        // nothing else (each name it lists would otherwise be read whole, as often as listed).
        if (!isGenerationName(link.fileName)) throw mhlError(MhlExit.ModifiedManifest, file, `${CHAIN_FILE_NAME} lists it, but it is not a generation (NNNN_….mhl)`);
      }
      // A generation the chain does not list proves nothing: an emptied or edited chain must
      // not let a changed generation in.
      const chained = new Map<string, string[]>();
      for (const link of chain) chained.set(link.fileName, [...(chained.get(link.fileName) ?? []), link.c4]);
      for (const fileName of readdirSync(folder).sort()) {
        if (!isGenerationName(fileName)) continue;
        const match = GENERATION_NAME.exec(fileName)!;
        const file = join(folder, fileName);
        const c4s = chained.get(fileName);
        if (!c4s) throw mhlError(MhlExit.ModifiedManifest, file, `it is not listed in ${CHAIN_FILE_NAME}`);
        const bytes = readHistoryFile(file, MhlExit.ModifiedManifest);
        const c4 = await hashBytes("c4", bytes);
        if (c4s.some((listed) => listed !== c4)) throw mhlError(MhlExit.ModifiedManifest, file);
        const generation = readGeneration(bytes.toString("utf8"), file);
        generations.push({ number: Number(match[1]), fileName, file, generation, byPath: indexGeneration(generation) });
      }
      generations.sort((a, b) => a.number - b.number);
    }
    const history = new History(root, relativeRoot, generations, chain);
    if (options.nested !== "later") await history.#loadChildren(root);
    return history;
  }

  /**
   * Attaches the nested histories at these folders (relative to this root), as a walk that met
   * their `ascmhl/` folders reports them, each under the innermost one that holds it.
   */
  async attachNested(roots: Iterable<string>): Promise<void> {
    for (const relative of [...new Set(roots)].filter((r) => r !== "").sort(compareUtf8)) {
      let parent: History = this;
      for (;;) {
        const inner = parent.children.find((c) => relative.startsWith(`${this.relativeFromHere(c)}/`));
        if (!inner) break;
        parent = inner;
      }
      const child = await History.load(joinPath(this.root, relative), joinRelative(this.relativeRoot, relative), { nested: "later" });
      child.parent = parent;
      parent.children.push(child);
    }
  }

  /**
   * Finds the nested histories below this root: every folder (not entered through a link) that
   * holds an `ascmhl/` folder, the nearest ones only (theirs find their own). Iterative: the
   * depth of a tree costs no stack.
   */
  async #loadChildren(root: string): Promise<void> {
    let held: HeldFolder;
    try {
      held = HeldFolder.open(root);
    } catch {
      return;
    }
    try {
      const stack: string[] = [""];
      const found: string[] = [];
      while (stack.length > 0) {
        const relative = stack.pop()!;
        let entries;
        try {
          entries = held.list(relative);
        } catch {
          continue;
        }
        const folders: string[] = [];
        for (const entry of entries) {
          if (relative === "" && entry.name === HISTORY_FOLDER) continue;
          let kind = entry.kind;
          try {
            kind ??= held.statEntry(relative, entry)?.kind;
          } catch {
            // cannot be examined: the walk names it
          }
          if (kind === "folder") folders.push(joinRelative(relative, entry.name));
        }
        for (let i = folders.length - 1; i >= 0; i--) {
          const child = folders[i]!;
          let kind;
          try {
            kind = held.stat(`${child}/${HISTORY_FOLDER}`)?.kind;
          } catch {
            // a folder that cannot be entered: the walk names it
          }
          if (kind === "folder") found.push(child);
          else stack.push(child);
        }
      }
      found.sort(compareUtf8);
      for (const childRelative of found) {
        const child = await History.load(joinPath(root, childRelative), joinRelative(this.relativeRoot, childRelative));
        child.parent = this;
        this.children.push(child);
      }
    } finally {
      held.close();
    }
  }

  /**
   * Checks what each generation's `<references>` says of the nested histories: a referenced
   * generation must still be in its history's chain with the C4 the parent recorded, so a
   * nested history cannot be swapped for one made later over changed files. A nested history
   * that is gone is returned when the latest generation of its parent references it (an older
   * reference alone is a loss a later generation already recorded).
   * @returns the roots of the nested histories that are gone, relative to this root.
   * @throws {CliError} 33 for a referenced generation its history no longer lists, 31 for one
   *   whose C4 is not the one the parent recorded.
   */
  lostReferencedHistories(): string[] {
    const lost = new Set<string>();
    /** Each history's chain by file name, made when first asked (a reference each would search it whole). */
    const chains = new Map<History, Map<string, string>>();
    const c4Listed = (history: History, fileName: string): string | undefined => {
      let byName = chains.get(history);
      if (!byName) chains.set(history, (byName = new Map(history.chain.map((l) => [l.fileName, l.c4]))));
      return byName.get(fileName);
    };
    for (const history of this.postOrder()) {
      history.generations.forEach((generation, index) => {
        for (const reference of generation.generation.references) {
          const childRoot = parentPath(parentPath(exactKey(reference.path)));
          if (childRoot === "") continue;
          const found = history.historyFor(childRoot);
          if (found.path !== "." || found.history === history) {
            const root = joinRelative(this.relativeFromHere(history), childRoot);
            if (index === history.generations.length - 1) lost.add(root);
            continue;
          }
          const fileName = baseName(reference.path);
          const c4 = c4Listed(found.history, fileName);
          if (c4 === undefined) throw mhlError(MhlExit.MissingManifest, joinPath(found.history.root, HISTORY_FOLDER, fileName));
          if (c4 !== reference.c4) throw mhlError(MhlExit.ModifiedManifest, joinPath(found.history.root, HISTORY_FOLDER, fileName));
        }
      });
    }
    return [...lost].sort(compareUtf8);
  }

  /** This history and every nested one, children before their parents. */
  *postOrder(): Generator<History> {
    for (const child of this.children) yield* child.postOrder();
    yield this;
  }

  /** Path of the child root relative to this history's root. */
  relativeFromHere(history: History): string {
    return this.relativeRoot === "" ? history.relativeRoot : history.relativeRoot.slice(this.relativeRoot.length + 1);
  }

  /**
   * The innermost history responsible for a path relative to this root, and the path relative
   * to that history's root ("." for its root folder).
   */
  historyFor(relativePath: string): { history: History; path: string } {
    const key = exactKey(relativePath);
    for (const child of this.children) {
      const prefix = exactKey(this.relativeFromHere(child));
      if (key === prefix) return { history: child, path: "." };
      if (key.startsWith(`${prefix}/`)) return child.historyFor(key.slice(prefix.length + 1));
    }
    return { history: this, path: key === "" ? "." : relativePath };
  }

  /** The first `original` entry for a path, searching generations in order. */
  originalEntry(path: string): HashEntry | undefined {
    const key = exactKey(path);
    for (const g of this.generations) {
      const entry = g.byPath.get(key)?.entries.find((e) => e.action === "original");
      if (entry) return entry;
    }
    return undefined;
  }

  /** The first entry for a path (in a format, if given). */
  firstEntry(path: string, format?: HashFormat): HashEntry | undefined {
    const key = exactKey(path);
    for (const g of this.generations) {
      const media = g.byPath.get(key);
      if (!media) continue;
      const entry = format === undefined ? media.entries[0] : media.entries.find((e) => e.format === format);
      if (entry) return entry;
    }
    return undefined;
  }

  /** Every format recorded for a path, in order of first appearance. */
  existingFormats(path: string): HashFormat[] {
    const key = exactKey(path);
    const formats: HashFormat[] = [];
    for (const g of this.generations) {
      for (const e of g.byPath.get(key)?.entries ?? []) if (!formats.includes(e.format)) formats.push(e.format);
    }
    return formats;
  }

  /** The entry recorded for a path in any generation (the latest), or undefined. */
  latestMedia(path: string): MediaHash | undefined {
    const key = exactKey(path);
    for (let i = this.generations.length - 1; i >= 0; i--) {
      const media = this.generations[i]!.byPath.get(key);
      if (media && exactKey(media.path) === key) return media;
    }
    return undefined;
  }

  /** The name under which a path was first recorded (following `previousPath`), within this history. */
  originalPathOf(path: string): string {
    const key = exactKey(path);
    for (const g of this.generations) {
      const media = g.byPath.get(key);
      if (media && exactKey(media.path) === key) return media.previousPath ?? path;
    }
    return path;
  }

  /**
   * The paths the folder should hold now (files and folders, relative to this root, nested
   * histories included): every recorded path under its latest name, generation by generation
   * (a `previousPath` retires the old name, so renaming back to an earlier name works too).
   */
  expectedPaths(): Set<string> {
    const paths = new Set<string>();
    for (const g of this.generations) {
      for (const h of g.generation.hashes) {
        if (h.previousPath !== undefined) paths.delete(exactKey(h.previousPath));
      }
      for (const h of g.generation.hashes) paths.add(exactKey(h.path));
    }
    for (const child of this.children) {
      const prefix = this.relativeFromHere(child);
      for (const p of child.expectedPaths()) paths.add(joinRelative(prefix, p));
    }
    return paths;
  }

  /** True when some generation records this path (exactly, or as a previous path). */
  records(path: string): boolean {
    const key = exactKey(path);
    return this.generations.some((g) => g.byPath.has(key));
  }

  /**
   * The recorded path a name on disk stands for. The exact name first; only when no generation
   * records it, a recorded path equal to it in NFC whose own name is missing from the disk
   * (`isOnDisk` tells; paths relative to this root) and that was recorded as the same kind (a
   * folder for a folder, a file for a file): a name stored NFD by macOS still finds its NFC
   * record, but two real files whose names differ only in normalization stay two files, and a
   * folder made where a file of that name in another normalization was is not that file.
   * `isTaken` also says which recorded paths were already given to another name on disk.
   */
  recordedPathFor(path: string, isTaken: (recorded: string) => boolean, isFolder = false): string {
    if (this.records(path)) return exactKey(path);
    if (!this.#byNfc) {
      this.#byNfc = new Map();
      for (const g of this.generations) {
        for (const key of g.byPath.keys()) {
          const nfc = pathKey(key);
          const list = this.#byNfc.get(nfc) ?? [];
          if (!list.includes(key)) list.push(key);
          this.#byNfc.set(nfc, list);
        }
      }
    }
    for (const candidate of this.#byNfc.get(pathKey(path)) ?? []) {
      if (!isTaken(candidate) && this.recordsFolder(candidate) === isFolder) return candidate;
    }
    return exactKey(path);
  }

  /**
   * Whether the latest generation that records `path` recorded a folder there (false: a file;
   * undefined: no generation records it).
   */
  recordsFolder(path: string): boolean | undefined {
    const key = exactKey(path);
    for (let i = this.generations.length - 1; i >= 0; i--) {
      const media = this.generations[i]!.byPath.get(key);
      if (media) return media.isDirectory;
    }
    return undefined;
  }

  /**
   * True when an entry on disk, located at `at`, is what every record there was: a folder where
   * a folder was recorded, a file where a file was. A file replaced by a folder of its name (or
   * the reverse) leaves its record missing.
   */
  static sameKind(at: { history: History; path: string; recorded: string }, isFolder: boolean): boolean {
    // Asked of the history that holds the name and of every history around it: a nested
    // history made where a file was recorded by its parent does not make that file a folder.
    let history: History | undefined = at.history;
    let key = at.path === "." ? undefined : exactKey(at.recorded);
    if (key === undefined) {
      if (!history.parent) return true;
      key = exactKey(history.parent.relativeFromHere(history));
      history = history.parent;
    }
    while (history) {
      if (!history.#holdsAs(key, isFolder)) return false;
      if (!history.parent) break;
      key = joinRelative(history.parent.relativeFromHere(history), key);
      history = history.parent;
    }
    return true;
  }

  /**
   * False when a generation since the name was last left by a rename (-dr) recorded `key` as
   * the other kind: a file gone stays missing, as one deleted does, whatever is recorded at its
   * name since.
   */
  #holdsAs(key: string, isFolder: boolean): boolean {
    for (let i = this.generations.length - 1; i >= 0; i--) {
      const g = this.generations[i]!;
      const media = g.byPath.get(key);
      if (media && exactKey(media.path) === key && media.isDirectory !== isFolder) return false;
      if (renamedFrom(g).has(key)) break;
    }
    return true;
  }

  /** The recorded path of an entry {@link locate} found, relative to this root. */
  recordedFromHere(at: { history: History; path: string; recorded: string }): string {
    return at.path === "." ? this.relativeFromHere(at.history) : joinRelative(this.relativeFromHere(at.history), at.recorded);
  }

  /**
   * For a path found on disk (relative to this root, `/`-separated): the history responsible
   * for it, its path there, and the recorded path it stands for ({@link recordedPathFor}).
   * `onDisk` holds every path the walk found, relative to this root; `claimed` collects the
   * recorded paths (relative to this root) already given to a name in another normalization.
   * `isFolder`: the name on disk is a folder.
   */
  locate(relativePath: string, onDisk: PathsOnDisk, claimed: Set<string>, isFolder = false): { history: History; path: string; recorded: string } {
    const { history: owner, path } = this.historyFor(relativePath);
    if (path === ".") return { history: owner, path, recorded: path };
    const prefix = this.relativeFromHere(owner);
    const rooted = (candidate: string) => joinRelative(prefix, candidate);
    const recorded = owner.recordedPathFor(path, (candidate) => onDisk.has(rooted(candidate)) || claimed.has(rooted(candidate)), isFolder);
    if (recorded !== exactKey(path)) claimed.add(rooted(recorded));
    return { history: owner, path, recorded };
  }

  /** The ignore patterns of the latest generation, or undefined when there is none. */
  latestIgnorePatterns(): string[] | undefined {
    return this.generations.at(-1)?.generation.processInfo.ignorePatterns;
  }

  /** Number of the next generation. */
  nextNumber(): number {
    return (this.generations.at(-1)?.number ?? 0) + 1;
  }

  /**
   * Writes a new generation `NNNN_<root>_<stamp>.mhl` and appends it to the chain. Both files
   * are made beneath the root without following a link (an `ascmhl` planted as a link to
   * another folder is refused, never written through), complete and flushed before they get
   * their names, so a crash never leaves half a file. The generation is written in pieces, never
   * held whole. A generation never replaces a file of the same name.
   * @param spooled elements written after `generation.hashes` (see streamGeneration); they are
   *   in the file, not in the returned generation
   * @returns the new generation's file name.
   */
  async writeGeneration(generation: Generation, date: Date, spooled?: Iterable<string>): Promise<LoadedGeneration> {
    const { number, fileName, file } = await this.#addGeneration(date, (sink) => streamGeneration(generation, sink, spooled));
    const loaded = { number, fileName, file, generation, byPath: indexGeneration(generation) };
    this.generations.push(loaded);
    return loaded;
  }

  /**
   * Writes as this history's next generation the bytes of another history's generation file
   * (`source`, beneath `sourceRoot`: a twin destination's, made over the very same files and
   * history), and adds it to the chain only if what was written here has the C4 `c4`, the one
   * that history's chain gives it. The file is not parsed: the history is left as loaded.
   * @throws {CliError} when the bytes written here are not those (the file is removed), or as
   *   writing fails.
   */
  async writeGenerationOf(sourceRoot: string, source: string, c4: string, date: Date): Promise<string> {
    const sourceFolder = HeldFolder.open(sourceRoot);
    try {
      const fd = sourceFolder.openRead(`${HISTORY_FOLDER}/${source}`);
      try {
        // On this thread: a generation is read once, in a moment.
        const copy = (sink: (piece: string | Uint8Array) => void) => {
          for (const chunk of readChunks(fd, { overlap: false })) sink(chunk);
        };
        return (await this.#addGeneration(date, copy, c4)).fileName;
      } finally {
        closeSync(fd);
      }
    } finally {
      sourceFolder.close();
    }
  }

  /** Writes the next generation's file, then the chain that lists it (refused when its C4 is not `expectedC4`). */
  async #addGeneration(date: Date, write: (sink: (piece: string | Uint8Array) => void) => void, expectedC4?: string): Promise<{ number: number; fileName: string; file: string }> {
    const number = this.nextNumber();
    const name = `${String(number).padStart(4, "0")}_${basename(this.root)}_${fileNameStamp(date)}.mhl`;
    const file = join(this.folder, name);
    const held = HeldFolder.open(this.root);
    let c4 = "";
    // What a failure leaves of this is removed: the generation, while no chain lists it, and a
    // history folder this made (a history with a generation out of its chain, or none, does not load).
    let made = false;
    let placed = false;
    let chained = false;
    try {
      made = held.stat(HISTORY_FOLDER) === undefined;
      held.makeFolders(HISTORY_FOLDER);
      // The C4 of the bytes written, as they were written: what another process may put under
      // the name meanwhile is never what the chain vouches for.
      writeBeneath(held, `${HISTORY_FOLDER}/${name}`, write, false, (sha512) => {
        c4 = c4FromSha512(sha512);
        if (expectedC4 !== undefined && c4 !== expectedC4) throw new CliError(`not the generation it was written from: its C4 is ${c4}, not ${expectedC4}; not written`, { path: file });
      });
      placed = true;
      const link = { sequenceNumber: number, fileName: name, c4 };
      const chain = writeChain([...this.chain, link]);
      writeBeneath(held, `${HISTORY_FOLDER}/${CHAIN_FILE_NAME}`, (sink) => sink(chain), true);
      chained = true;
      this.chain.push(link);
      // the new names survive a power cut
      flushFolder(this.folder);
    } catch (error) {
      if (!chained) {
        try {
          if (placed) held.remove(`${HISTORY_FOLDER}/${name}`);
          if (made) held.removeFolder(HISTORY_FOLDER);
        } catch {
          // the device may be gone: the error below says what went wrong
        }
      }
      throw error;
    } finally {
      held.close();
    }
    return { number, fileName: name, file };
  }
}

/**
 * Writes a new file beneath a held folder: nameless (or under a partial name) until complete and
 * flushed. With `accept`, the SHA-512 of the bytes written is given to it before the file gets
 * its name; what it throws leaves nothing there.
 */
function writeBeneath(held: HeldFolder, relative: string, write: (sink: (piece: string | Uint8Array) => void) => void, replace: boolean, accept?: (sha512: Uint8Array) => void): void {
  const file = held.createNew(relative, 0o644);
  const hasher = accept ? new Bun.CryptoHasher("sha512") : undefined;
  const put = (bytes: Uint8Array) => {
    hasher?.update(bytes);
    writeAll(file.fd, bytes);
  };
  try {
    // Pieces gathered into writes of 64 KiB: one buffer and one system call per element of a
    // generation of a million files would be millions of each.
    let pending = "";
    write((text) => {
      if (typeof text !== "string") {
        if (pending !== "") put(Buffer.from(pending));
        pending = "";
        put(text);
        return;
      }
      pending += text;
      if (pending.length < 65_536) return;
      put(Buffer.from(pending));
      collectNowAndThen(pending.length >> 10);
      pending = "";
    });
    if (pending !== "") put(Buffer.from(pending));
    if (accept && hasher) accept(hasher.digest() as Uint8Array);
    fsyncSync(file.fd);
    held.placeNew(file, replace);
  } catch (error) {
    try {
      held.discardNew(file);
    } catch {
      // the device may be gone: the error below says why
    }
    // Say which file: a write error alone does not.
    if (error && typeof error === "object" && !(error as { path?: string }).path) Object.assign(error, { path: held.pathOf(relative) });
    throw error;
  } finally {
    closeSync(file.fd);
  }
}

/**
 * Writes `text` to `relative` beneath `held` (no link followed on the way: ELOOP), flushed and
 * put in place whole, replacing what is there.
 * @returns the C4 ID of the bytes written.
 */
export function writeTextBeneath(held: HeldFolder, relative: string, text: string): string {
  let c4 = "";
  writeBeneath(
    held,
    relative,
    (sink) => sink(text),
    true,
    (sha512) => {
      c4 = c4FromSha512(sha512);
    },
  );
  return c4;
}

/** Writes a history file (generation, chain) in one step: partial name, flush, rename. */
export function writeAtomically(path: string, text: string): void {
  writeFileAtomically(path, text, { overwrite: true });
}

/**
 * Clears what an interrupted run of `toolName` left in `root/ascmhl/` (or, with `under`, in the
 * nested history `root/under/ascmhl/`) without finishing it: a generation it wrote but never
 * added to the chain, and partial files of its atomic writes.
 * Generations by other tools are never touched, nor the names `keep` says (what the run
 * itself put there). Leaves an empty `ascmhl/` folder out, too, so the history loads again.
 * With `setAside`, such a generation out of a chain that is there is renamed `NAME.unchained`
 * (`NAME.unchained-2`, …), a name no history reads, instead of removed: it may also be a
 * finished run's record whose chain was replaced since (`--overwrite` of a card's history),
 * and it is never lost. With no chain at all (a run killed before it wrote its first), it is
 * removed: a history folder holding anything but a chain does not load.
 * @returns the names cleared, and for each one set aside its new name.
 */
export function removeUnchainedGenerations(root: string, toolName: string, keep: (name: string) => boolean = () => false, setAside = false, under = ""): Array<{ name: string; asideAs?: string }> {
  const held = HeldFolder.open(root);
  // A nested history's folder, reached beneath the root like everything here.
  const folder = under === "" ? HISTORY_FOLDER : `${under}/${HISTORY_FOLDER}`;
  try {
    // Only a folder of its own: an ascmhl/ that is a link (out of the tree or not) is never
    // entered, and what follows in it is reached beneath the root, never through a link.
    if (held.stat(folder)?.kind !== "folder") return [];
    const chainRelative = `${folder}/${CHAIN_FILE_NAME}`;
    const chained = new Set(held.stat(chainRelative) ? readHeldChain(held, chainRelative).map((l) => l.fileName) : []);
    const removed: Array<{ name: string; asideAs?: string }> = [];
    for (const { name } of held.list(folder)) {
      const relative = `${folder}/${name}`;
      const partial = name.startsWith(".") && name.endsWith(".partial");
      if (keep(name) || (!partial && (!GENERATION_NAME.test(name) || chained.has(name)))) continue;
      // Files alone: a folder or anything else under such a name was not left by a run.
      if (held.stat(relative)?.kind !== "file") continue;
      if (!partial) {
        let tool: string | undefined;
        try {
          tool = readGeneration(readHeld(held, relative, MhlExit.ModifiedManifest).toString("utf8"), held.pathOf(relative)).creatorInfo.tool.name;
        } catch {
          tool = undefined;
        }
        if (tool !== toolName) continue;
        if (setAside && held.stat(chainRelative)) {
          removed.push({ name, asideAs: setAsideUnder(held, folder, name) });
          continue;
        }
      }
      held.remove(relative);
      removed.push({ name });
    }
    if (held.list(folder).length === 0) {
      try {
        held.removeFolder(folder);
      } catch {
        // something arrived meanwhile: the folder stays
      }
    }
    return removed;
  } finally {
    held.close();
  }
}

/**
 * Renames `FOLDER/NAME` (a history folder beneath the held root) to the first free
 * `NAME.unchained`, `NAME.unchained-2`, … (never replacing); a name too long for that keeps its
 * sequence number alone (`0002.unchained`).
 * @returns the name it was given.
 */
function setAsideUnder(held: HeldFolder, folder: string, name: string): string {
  const base = Buffer.byteLength(name) + ".unchained-1000".length > 255 ? (GENERATION_NAME.exec(name)?.[1] ?? "generation") : name;
  for (let n = 1; ; n++) {
    const aside = `${base}.unchained${n === 1 ? "" : `-${n}`}`;
    try {
      held.rename(`${folder}/${name}`, `${folder}/${aside}`, false);
      return aside;
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST" || n >= 1000) throw error;
    }
  }
}

/**
 * The generations a chain file beneath a held folder lists, read as a history's files are:
 * never through a link, never a device, bounded.
 * @throws {CliError} (32) for one that cannot be read; {@link XmlError} for one that is not a chain.
 */
export function readHeldChain(held: HeldFolder, relative: string): ChainLink[] {
  return readChain(readHeld(held, relative, MhlExit.NoChain).toString("utf8"), held.pathOf(relative));
}

/** {@link readHistoryBytes} of a file beneath a held folder, opened without following a link. */
function readHeld(held: HeldFolder, relative: string, exit: number): Buffer {
  let fd: number;
  try {
    // Looked at before it is opened: a device planted there is never opened.
    const kind = held.stat(relative)?.kind;
    if (kind !== "file") throw kind === undefined ? explainedError("ENOENT", "No such file or directory") : explainedError(kind === "link" ? "ELOOP" : "EFTYPE", "not a regular file");
    fd = held.openRead(relative);
  } catch (error) {
    throw historyFileProblem(held.pathOf(relative), exit, error);
  }
  try {
    return readHistoryBytes(fd, held.pathOf(relative), exit);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw historyFileProblem(held.pathOf(relative), exit, error);
  } finally {
    closeSync(fd);
  }
}
