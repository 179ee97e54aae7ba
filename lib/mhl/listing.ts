/**
 * A first ASC MHL generation made from a listing rather than a folder on disk: for media that
 * cannot be walked while it is written (a tape), the writer knows each file's path, size, time
 * and digests, and this builds the generation (file hashes, directory content and structure
 * hashes, the root hash) and its chain, ready to be written as bytes.
 */
import { compareUtf8 } from "../core/names.ts";
import { writeChain } from "./chain.ts";
import { fileNameStamp, isoDate } from "./dates.ts";
import { DirectoryHash, hashBytes } from "./directory_hash.ts";
import { inXsdOrder, type HashFormat } from "./formats.ts";
import { writeGeneration } from "./generation.ts";
import { DEFAULT_MHL_IGNORES } from "./ignore.ts";
import type { Generation, HashEntry, MediaHash } from "./model.ts";
import { creatorInfo, type CreatorOptions } from "./session.ts";

/** A file of the listing. */
export interface ListedFile {
  /** Root-relative, `/`-separated. */
  path: string;
  size: number;
  modified: Date;
  /** Digests by format; every format of the generation must be present. */
  hexes: ReadonlyMap<HashFormat, string>;
}

/** A folder of the listing (folders holding listed files are implied; list empty ones here). */
export interface ListedFolder {
  path: string;
  modified: Date;
}

/** The two files of a one-generation history, as bytes to write under `ascmhl/`. */
export interface ListingHistory {
  generationFileName: string;
  generation: Uint8Array;
  chain: Uint8Array;
}

interface Node {
  name: string;
  path: string;
  modified?: Date;
  folders: Map<string, Node>;
  files: ListedFile[];
}

/**
 * Builds generation 1 of a history rooted at the listing's root, named `<rootName>`.
 * @example
 * import { VERSION } from "../core/version.ts";
 * declare const files: Parameters<typeof historyFromListing>[0];
 * const history = await historyFromListing(files, [], { formats: ["xxh128"], rootName: "CK0001", date: new Date(), process: "transfer", tool: { name: "ltfs-pack", version: VERSION } });
 */
export async function historyFromListing(files: readonly ListedFile[], folders: readonly ListedFolder[], options: CreatorOptions & { formats: HashFormat[]; rootName: string; date: Date; process: Generation["processInfo"]["process"] }): Promise<ListingHistory> {
  const formats = inXsdOrder(options.formats);
  const hashDate = isoDate(options.date);
  const root: Node = { name: "", path: "", folders: new Map(), files: [] };
  const folderOf = (path: string): Node => {
    let node = root;
    if (path === "") return node;
    for (const name of path.split("/")) {
      let next = node.folders.get(name);
      if (!next) node.folders.set(name, (next = { name, path: node.path === "" ? name : `${node.path}/${name}`, folders: new Map(), files: [] }));
      node = next;
    }
    return node;
  };
  for (const folder of folders) folderOf(folder.path).modified = folder.modified;
  for (const file of files) {
    const cut = file.path.lastIndexOf("/");
    folderOf(cut < 0 ? "" : file.path.slice(0, cut)).files.push(file);
  }

  const hashes: MediaHash[] = [];
  let rootHash: HashEntry[] = [];
  const visit = async (node: Node): Promise<Map<HashFormat, { content: string; structure: string }>> => {
    const sums = formats.map((f) => new DirectoryHash(f));
    for (const file of [...node.files].sort((a, b) => compareUtf8(a.path, b.path))) {
      const entries: HashEntry[] = formats.map((format) => {
        const value = file.hexes.get(format);
        if (value === undefined) throw new Error(`historyFromListing: ${file.path} has no ${format} digest`);
        return { format, value, action: "original", hashDate };
      });
      hashes.push({ path: file.path, isDirectory: false, size: file.size, lastModified: isoDate(file.modified), entries });
      const name = file.path.slice(file.path.lastIndexOf("/") + 1);
      for (const [i, format] of formats.entries()) sums[i]!.addFile(name, file.hexes.get(format)!);
    }
    for (const child of [...node.folders.values()].sort((a, b) => compareUtf8(a.name, b.name))) {
      const sub = await visit(child);
      for (const [i, format] of formats.entries()) sums[i]!.addDirectory(child.name, sub.get(format)!.content, sub.get(format)!.structure);
    }
    const result = new Map<HashFormat, { content: string; structure: string }>();
    for (const [i, format] of formats.entries()) result.set(format, await sums[i]!.finish());
    const entries: HashEntry[] = [...result].map(([format, h]) => ({ format, value: h.content, structure: h.structure, hashDate }));
    if (node.path === "") rootHash = entries;
    else hashes.push({ path: node.path, isDirectory: true, lastModified: isoDate(node.modified ?? options.date), entries });
    return result;
  };
  await visit(root);

  const generation: Generation = {
    creatorInfo: creatorInfo(options.date, options),
    processInfo: { process: options.process, rootHash, ignorePatterns: [...DEFAULT_MHL_IGNORES] },
    hashes,
    references: [],
  };
  const text = new TextEncoder().encode(writeGeneration(generation));
  const generationFileName = `0001_${options.rootName}_${fileNameStamp(options.date)}.mhl`;
  const chain = writeChain([{ sequenceNumber: 1, fileName: generationFileName, c4: await hashBytes("c4", text) }]);
  return { generationFileName, generation: text, chain: new TextEncoder().encode(chain) };
}
