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
}

/** The new entries of one run, per history. */
export class GenerationSession {
  readonly root: History;
  readonly ignore: IgnoreSpec;
  #lists = new Map<History, NewGeneration>();

  constructor(root: History, ignore: IgnoreSpec) {
    this.root = root;
    this.ignore = ignore;
  }

  #list(history: History): NewGeneration {
    let list = this.#lists.get(history);
    if (!list) this.#lists.set(history, (list = new NewGeneration()));
    return list;
  }

  /** The entry for a path in a history's new generation, created if needed. */
  media(history: History, path: string, init: Omit<MediaHash, "path" | "entries">): MediaHash {
    const list = this.#list(history);
    const key = exactKey(path);
    let media = list.byKey.get(key);
    if (!media) {
      media = { path, entries: [], ...init };
      list.hashes.push(media);
      list.byKey.set(key, media);
    }
    return media;
  }

  /** Looks up a path's new entry in a history. */
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
    const written = new Map<History, LoadedGeneration>();
    const info = creatorInfo(date, creator);
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
      const loaded = await history.writeGeneration(generation, date);
      written.set(history, loaded);
      log.verbose(`Created new generation ${showName(joinRelative(this.root.relativeFromHere(history), "ascmhl", loaded.fileName))}`);
      log.event({ event: "generation", path: joinRelative(this.root.relativeFromHere(history), "ascmhl", loaded.fileName) });
    }
    return [...written.values()];
  }
}
