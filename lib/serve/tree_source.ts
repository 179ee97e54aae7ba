/**
 * Sources that are folders on a file system: a destination with its ASC MHL (digests from the
 * latest generation of its `ascmhl/` history, checked against the chain first), and a mounted
 * LTFS volume (digests from the `user.*` attributes LTFS presents, as ltfs-pack writes them).
 *
 * A destination may be hostile and the server may run as root, so the folder is held open and
 * every file is opened beneath it without following a link (lib/io/held_folder.ts): links are
 * left out of the listing (and named), and a link swapped in later is not followed either. A
 * file is served only while its size and modification time are what was listed, so a recorded
 * digest is never sent as the entity-tag of other bytes.
 */
import { closeSync, fstatSync, readSync } from "node:fs";
import { describeSystemError } from "../core/errors.ts";
import { baseOf, compareUtf8 } from "../core/names.ts";
import { HeldFolder } from "../io/held_folder.ts";
import { getXattr } from "../io/libc.ts";
import { walkFiles } from "../io/walk.ts";
import { hashesOnMount } from "../ltfs/write.ts";
import { readChain } from "../mhl/chain.ts";
import { hashBytes } from "../mhl/directory_hash.ts";
import { normalizeDigest } from "../mhl/formats.ts";
import { HISTORY_FILE_MOST_BYTES, readGeneration } from "../mhl/generation.ts";
import { pathKey } from "../mhl/paths.ts";
import { DescriptorCache } from "./descriptors.ts";
import { FileTable, SourceError, type RangeReader, type Source, type SourceFile, type SourceProblem } from "./source.ts";
import { isBookkeeping } from "./vtape_source.ts";

/** Descriptors kept open per folder source. */
const OPEN_FILES = 64;

/** The digests a tree's files carry, by path. */
type DigestLookup = (relativePath: string, size: number) => Record<string, string>;

/** A folder source: a destination with its MHL, or a mounted LTFS volume. */
export class TreeSource implements Source {
  readonly kind: "folder" | "mount";
  readonly name: string;
  readonly location: string;
  readonly tapeSerial: string | undefined;
  readonly problems: SourceProblem[];
  readonly #held: HeldFolder;
  readonly #table: FileTable;
  readonly #open = new DescriptorCache(OPEN_FILES);

  private constructor(kind: "folder" | "mount", held: HeldFolder, name: string, tapeSerial: string | undefined, files: SourceFile[], problems: SourceProblem[]) {
    this.kind = kind;
    this.#held = held;
    this.location = held.path;
    this.name = name;
    this.tapeSerial = tapeSerial;
    this.problems = problems;
    this.#table = new FileTable(files, compareUtf8);
  }

  /**
   * Opens a destination folder; digests come from the latest generation of its ASC MHL history.
   * @throws {Error} with the system error when the folder cannot be opened.
   */
  static async openFolder(path: string, name?: string): Promise<TreeSource> {
    const held = HeldFolder.open(path);
    const problems: SourceProblem[] = [];
    const recorded = await latestGeneration(held, problems);
    const lookup: DigestLookup = (relativePath, size) => {
      const entry = recorded?.get(pathKey(relativePath));
      if (!entry) {
        if (recorded) problems.push({ path: held.pathOf(relativePath), message: "not in the latest MHL generation; served without an entity-tag" });
        return {};
      }
      if (entry.size !== undefined && entry.size !== size) {
        problems.push({ path: held.pathOf(relativePath), message: `is ${size} bytes, the MHL records ${entry.size}; served without its recorded digests` });
        return {};
      }
      return entry.digests;
    };
    const files = listTree(held, problems, lookup);
    return new TreeSource("folder", held, name ?? baseOf(path), undefined, files, problems);
  }

  /**
   * Opens a mounted LTFS volume; digests come from the `user.*` hash attributes LTFS shows.
   * @throws {Error} with the system error when the mount point cannot be opened.
   */
  static openMount(path: string, name?: string): TreeSource {
    const held = HeldFolder.open(path);
    const problems: SourceProblem[] = [];
    const files = listTree(held, problems, (relativePath) => Object.fromEntries(hashesOnMount(held.pathOf(relativePath))));
    const serial = getXattr(path, "user.ltfs.volumeSerial")?.trim() || baseOf(path);
    return new TreeSource("mount", held, name ?? serial, serial, files, problems);
  }

  files(): readonly SourceFile[] {
    return this.#table.list;
  }

  file(path: string): SourceFile | undefined {
    return this.#table.get(path);
  }

  open(file: SourceFile, start: number, end: number): RangeReader {
    if (this.#table.get(file.path) !== file) throw new SourceError(file.path, "missing", "not in this folder");
    let fd: number;
    try {
      fd = this.#open.acquire(file.path, () => this.#held.openRead(file.path));
    } catch (error) {
      throw new SourceError(file.path, "missing", `cannot be opened: ${describeSystemError(error)}`);
    }
    let stats;
    try {
      stats = fstatSync(fd);
    } catch (error) {
      this.#open.release(file.path, fd);
      throw new SourceError(file.path, "unreadable", describeSystemError(error));
    }
    if (!stats.isFile() || stats.size !== file.size || stats.mtimeMs !== file.mtimeMs) {
      this.#open.release(file.path, fd);
      this.#open.forget(file.path);
      throw new SourceError(file.path, "missing", stats.isFile() ? "changed since the server listed it (size or modification time); restart the server to serve it as it is now" : "is no longer a regular file");
    }
    return new DescriptorReader(this.#open, file.path, fd, start, end);
  }

  close(): void {
    this.#open.close();
    this.#held.close();
  }
}

/** Reads `[start, end)` through a held descriptor. */
class DescriptorReader implements RangeReader {
  readonly #cache: DescriptorCache;
  readonly #key: string;
  #fd: number | undefined;
  #position: number;
  readonly #end: number;

  constructor(cache: DescriptorCache, key: string, fd: number, start: number, end: number) {
    this.#cache = cache;
    this.#key = key;
    this.#fd = fd;
    this.#position = start;
    this.#end = end;
  }

  read(into: Uint8Array): number {
    const fd = this.#fd;
    if (fd === undefined) return 0;
    let filled = 0;
    const want = Math.min(into.length, this.#end - this.#position);
    while (filled < want) {
      let n: number;
      try {
        n = readSync(fd, into, filled, want - filled, this.#position);
      } catch (error) {
        throw new SourceError(this.#key, "unreadable", describeSystemError(error));
      }
      if (n === 0) throw new SourceError(this.#key, "changed", `ended at byte ${this.#position}, before the ${this.#end} bytes listed`);
      filled += n;
      this.#position += n;
    }
    if (this.#position >= this.#end) this.close();
    return filled;
  }

  close(): void {
    if (this.#fd === undefined) return;
    this.#cache.release(this.#key, this.#fd);
    this.#fd = undefined;
  }
}

/** Every file below the held folder (links and special files named and left out), with its digests. */
function listTree(held: HeldFolder, problems: SourceProblem[], digests: DigestLookup): SourceFile[] {
  const note = (p: { path: string; message: string }) => problems.push({ path: p.path, message: p.message });
  const walked = walkFiles(held, { links: "skip", special: "skip", onProblem: note, onSkipped: (p) => note({ path: p.path, message: p.message.replace(/ \(--(links|special) skip\)$/, "; not served") }) });
  return walked.filter((f) => f.kind === "file" && !isBookkeeping(f.relativePath)).map((f) => ({ path: f.relativePath, size: f.size, mtimeMs: f.mtimeMs, digests: digests(f.relativePath, f.size) }));
}

/** What the latest generation records for one file. */
interface Recorded {
  size?: number;
  digests: Record<string, string>;
}

/** Reads a small file beneath the held folder, whole, refusing one larger than `max`. */
function readHeldFile(held: HeldFolder, relative: string, max: number): Uint8Array {
  const fd = held.openRead(relative);
  try {
    const size = fstatSync(fd).size;
    if (size > max) throw new Error(`is ${size} bytes, more than the ${max} read for an MHL file`);
    const bytes = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, bytes, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return bytes.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * The latest generation of the folder's `ascmhl/` history, by path key; undefined when the
 * folder has none or it cannot be trusted (each reason is a problem).
 */
async function latestGeneration(held: HeldFolder, problems: SourceProblem[]): Promise<Map<string, Recorded> | undefined> {
  const chainPath = "ascmhl/ascmhl_chain.xml";
  if (held.stat("ascmhl")?.kind !== "folder") {
    problems.push({ path: held.path, message: "has no ascmhl/ history; its files are served without entity-tags" });
    return undefined;
  }
  try {
    const chain = readChain(new TextDecoder().decode(readHeldFile(held, chainPath, HISTORY_FILE_MOST_BYTES)), held.pathOf(chainPath));
    const latest = chain.reduce<(typeof chain)[number] | undefined>((a, b) => (a === undefined || b.sequenceNumber > a.sequenceNumber ? b : a), undefined);
    if (!latest) throw new Error("the chain lists no generation");
    const file = `ascmhl/${latest.fileName}`;
    const bytes = readHeldFile(held, file, HISTORY_FILE_MOST_BYTES);
    const c4 = await hashBytes("c4", bytes);
    if (c4 !== latest.c4) throw new Error(`${file}: C4 ${c4} differs from the chain's ${latest.c4}; the MHL was altered`);
    const generation = readGeneration(new TextDecoder().decode(bytes), held.pathOf(file));
    const out = new Map<string, Recorded>();
    for (const media of generation.hashes) {
      if (media.isDirectory) continue;
      out.set(pathKey(media.path), { size: media.size, digests: Object.fromEntries(media.entries.map((e) => [e.format, normalizeDigest(e.format, e.value)])) });
    }
    return out;
  } catch (error) {
    problems.push({ path: held.pathOf(chainPath), message: `the MHL history cannot be used (${error instanceof Error ? error.message : String(error)}); files are served without entity-tags` });
    return undefined;
  }
}

/** Whether a folder is a mounted LTFS volume (LTFS shows its volume attributes on the root). */
export function isLtfsMount(path: string): boolean {
  return getXattr(path, "user.ltfs.volumeUUID") !== undefined || getXattr(path, "user.ltfs.volumeSerial") !== undefined;
}
