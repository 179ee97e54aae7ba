/**
 * A generation being built: the new entries for every history touched by one `create` run, and
 * the commit that writes them children first, so each parent can reference (and C4) its
 * children's new generations.
 */
import { hostname } from "node:os";
import { showName } from "../core/names.ts";
import { VERSION } from "../core/version.ts";
import { isoDate } from "./dates.ts";
import { c4OfFile, type History, type LoadedGeneration } from "./history.ts";
import { IgnoreSpec } from "./ignore.ts";
import type { MhlLog } from "./log.ts";
import type { Author, CreatorInfo, Generation, HashEntry, MediaHash } from "./model.ts";
import { exactKey, joinRelative } from "./paths.ts";
import { Spool } from "../io/spool.ts";
import { XmlWriter } from "../xml/xml.ts";
import { HASHES_WITHIN, writeMediaHash } from "./generation.ts";

/** Environment variable that fixes the host name written into generations (for reproducible files). */
export const HOSTNAME_VARIABLE = "CARTKIT_MHL_HOSTNAME";

/** Who and where, for `<creatorinfo>`. */
export interface CreatorOptions {
  author?: Author;
  location?: string;
  comment?: string;
  /**
   * The `<tool>` named in `<creatorinfo>`, for callers that write generations themselves.
   * @default { name: "mhl-verify", version: VERSION }
   */
  tool?: { name: string; version: string };
}

/** The `<creatorinfo>` for a generation written now. */
export function creatorInfo(date: Date, options: CreatorOptions): CreatorInfo {
  return {
    creationDate: isoDate(date),
    hostname: process.env[HOSTNAME_VARIABLE] || hostname(),
    tool: options.tool ?? { name: "mhl-verify", version: VERSION },
    authors: options.author ? [options.author] : [],
    location: options.location,
    comment: options.comment,
  };
}

class NewGeneration {
  hashes: MediaHash[] = [];
  byKey = new Map<string, MediaHash>();
  rootHash: HashEntry[] = [];
  /** With a spool: the writer of this history's elements, whose text goes to the spool. */
  spooled?: XmlWriter;
}

/** The new entries of one run, per history. */
export class GenerationSession implements Disposable {
  readonly root: History;
  readonly ignore: IgnoreSpec;
  #lists = new Map<History, NewGeneration>();
  readonly #spool: Spool<NewGeneration> | undefined;

  /**
   * @param options.spool write each entry out as it is recorded (to a temporary file, then into
   *   the generation): a run of a million files holds none of them. Entries then cannot be
   *   looked up or changed ({@link find}): only {@link record} them, each once.
   * @param options.onSpoolFallback told, in one line, when the temporary file cannot be used and
   *   the entries are held in memory after all
   */
  constructor(root: History, ignore: IgnoreSpec, options: { spool?: boolean; onSpoolFallback?: (message: string) => void } = {}) {
    this.root = root;
    this.ignore = ignore;
    if (options.spool) this.#spool = new Spool(options.onSpoolFallback);
  }

  /** Lets the spool go (a run that stops before {@link commit} leaves nothing behind). */
  [Symbol.dispose](): void {
    this.#spool?.close();
  }

  /**
   * Records a complete entry: a path recorded before gets the formats it lacks (without a
   * spool), or is written out (with one).
   */
  record(history: History, media: MediaHash): void {
    const list = this.#list(history);
    if (!this.#spool) {
      const key = exactKey(media.path);
      const existing = list.byKey.get(key);
      if (!existing) {
        list.hashes.push(media);
        list.byKey.set(key, media);
        return;
      }
      for (const e of media.entries) if (!existing.entries.some((m) => m.format === e.format)) existing.entries.push(e);
      return;
    }
    const spool = this.#spool;
    list.spooled ??= new XmlWriter((text) => spool.write(list, text), HASHES_WITHIN);
    writeMediaHash(list.spooled, media);
  }

  #list(history: History): NewGeneration {
    let list = this.#lists.get(history);
    if (!list) this.#lists.set(history, (list = new NewGeneration()));
    return list;
  }

  /** Looks up a path's new entry in a history (never found with a spool). */
  find(history: History, path: string): MediaHash | undefined {
    return this.#lists.get(history)?.byKey.get(exactKey(path));
  }

  /** Sets the root hashes of a history's new generation. */
  setRootHash(history: History, entries: HashEntry[]): void {
    this.#list(history).rootHash = entries;
  }

  /**
   * Writes a new generation for every history that has entries (or a child with a new
   * generation), children first, and logs each one.
   */
  async commit(date: Date, creator: CreatorOptions, log: MhlLog, process: Generation["processInfo"]["process"] = "in-place"): Promise<LoadedGeneration[]> {
    try {
      return await this.#commit(date, creator, log, process);
    } finally {
      this[Symbol.dispose]();
    }
  }

  async #commit(date: Date, creator: CreatorOptions, log: MhlLog, process: Generation["processInfo"]["process"]): Promise<LoadedGeneration[]> {
    const written = new Map<History, LoadedGeneration>();
    const info = creatorInfo(date, creator);
    // Every history's last entries are set aside before the first generation is written: nothing
    // that could still go wrong with them comes after a generation is on disk.
    for (const list of this.#lists.values()) list.spooled?.flush();
    for (const history of this.root.postOrder()) {
      const list = this.#lists.get(history);
      const children = history.children.filter((c) => written.has(c));
      if (!list && children.length === 0) continue;
      const generation: Generation = {
        creatorInfo: info,
        processInfo: {
          process,
          rootHash: list?.rootHash ?? [],
          ignorePatterns: IgnoreSpec.forRun(history.latestIgnorePatterns(), this.ignore.patterns).patterns.slice(),
        },
        hashes: list?.hashes ?? [],
        references: children.map((child) => ({
          path: joinRelative(history.relativeFromHere(child), "ascmhl", written.get(child)!.fileName),
          c4: "",
        })),
      };
      // The C4 of each child's new generation is known once it is written.
      for (const [i, child] of children.entries()) generation.references[i]!.c4 = await c4OfFile(written.get(child)!.file);
      const loaded = await history.writeGeneration(generation, date, list && this.#spool?.read(list));
      written.set(history, loaded);
      log.verbose(`Created new generation ${showName(joinRelative(this.root.relativeFromHere(history), "ascmhl", loaded.fileName))}`);
      log.event({ event: "generation", path: joinRelative(this.root.relativeFromHere(history), "ascmhl", loaded.fileName) });
    }
    return [...written.values()];
  }
}
