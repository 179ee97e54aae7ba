/**
 * `flatten`: every file of a history (nested histories included) with every hash format ever
 * recorded for it, in one packing list outside the history:
 * `DEST/collection_<date>/packinglist_<root>_<stamp>.mhl`, listed in `ascmhl_collection.xml`.
 */
import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { CliError } from "../core/errors.ts";
import { fsPath, showName } from "../core/names.ts";
import { HeldFolder } from "../io/held_folder.ts";
import { writeChain } from "./chain.ts";
import { fileNameStamp, localDay, now } from "./dates.ts";
import { mhlError, MhlExit } from "./exit_codes.ts";
import { writeGeneration } from "./generation.ts";
import { History, writeTextBeneath } from "./history.ts";
import { IgnoreSpec } from "./ignore.ts";
import type { MhlLog } from "./log.ts";
import type { Generation, MediaHash } from "./model.ts";
import { exactKey, joinRelative } from "./paths.ts";
import { creatorInfo, type CreatorOptions } from "./session.ts";

/** Options of {@link flattenHistory}. */
export interface FlattenOptions extends CreatorOptions {
  ignore?: string[];
  ignoreFile?: string;
}

/**
 * Writes the packing list and returns its path.
 * @throws {CliError} 30 when there is no history.
 */
export async function flattenHistory(root: string, destination: string, options: FlattenOptions, log: MhlLog): Promise<string> {
  log.verbose(`Flattening folder at path: ${showName(root)} ...`);
  const history = await History.load(root);
  if (history.generations.length === 0) throw mhlError(MhlExit.NoHistory, root);
  const ignore = IgnoreSpec.forRun(history.latestIgnorePatterns(), options.ignore ?? [], options.ignoreFile);
  const hashes: MediaHash[] = [];
  const byKey = new Map<string, MediaHash>();
  // The outermost history first (the reference flattens only it), then the nested ones.
  for (const h of [history, ...[...history.postOrder()].filter((n) => n !== history)]) {
    const prefix = history.relativeFromHere(h);
    for (const g of h.generations) {
      for (const media of g.generation.hashes) {
        if (media.isDirectory) continue;
        const path = joinRelative(prefix, media.path);
        for (const entry of media.entries) {
          if (entry.action === "failed") continue;
          let flat = byKey.get(exactKey(path));
          if (!flat) {
            // As the reference: no modification date (it does not read it back), the recorded
            // action and hash date, entries in the order they were first recorded.
            flat = { path, isDirectory: false, size: media.size, entries: [] };
            byKey.set(exactKey(path), flat);
            hashes.push(flat);
          }
          if (!flat.entries.some((e) => e.format === entry.format)) flat.entries.push({ ...entry });
        }
      }
    }
  }
  const date = now();
  const generation: Generation = {
    creatorInfo: creatorInfo(date, options),
    processInfo: { process: "flatten", rootHash: [], ignorePatterns: ignore.patterns.slice() },
    hashes,
    references: [],
  };
  // DEST as the user named it (links in its own path followed); beneath it, nothing is reached
  // through a link: a `collection_…` planted as a link out of DEST is refused, never written through.
  mkdirSync(fsPath(destination), { recursive: true });
  const held = HeldFolder.open(destination);
  const collection = `collection_${localDay(date)}`;
  const fileName = `packinglist_${basename(root)}_${fileNameStamp(date)}.mhl`;
  const file = join(destination, collection, fileName);
  try {
    held.makeFolders(collection);
    const c4 = writeTextBeneath(held, `${collection}/${fileName}`, writeGeneration(generation));
    writeTextBeneath(held, `${collection}/ascmhl_collection.xml`, writeChain([{ sequenceNumber: 1, fileName, c4 }]));
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ELOOP" || code === "ENOTDIR") throw new CliError(`${showName(join(destination, collection))} is a symbolic link or not a folder; a packing list is never written through one (remove it, or give another DEST)`);
    throw error;
  } finally {
    held.close();
  }
  log.verbose(`Created new packing list ${showName(file)}`);
  log.event({ event: "packinglist", path: file, files: hashes.length });
  return file;
}
