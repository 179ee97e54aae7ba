/**
 * Directory hashes as the reference computes them. For each folder and format:
 * - content: the hash of the children's raw digests, concatenated in the lexicographic order of
 *   their printed form;
 * - structure: the same over, per child, hash(UTF-8 name ‖ raw digest), where a file contributes
 *   its content digest and a folder its structure digest.
 * Ignored entries are not children. An empty folder hashes nothing.
 */
import { nameBytes } from "../core/names.ts";
import { createHasher, createHashersNow } from "../hash/registry.ts";
import { algorithmOf, digestBytes, type HashFormat } from "./formats.ts";

/** The printed hash of some bytes in a format. */
export async function hashBytes(format: HashFormat, ...parts: Uint8Array[]): Promise<string> {
  const hasher = await createHasher(algorithmOf(format));
  for (const part of parts) hasher.update(part);
  return hasher.hex();
}

/**
 * {@link hashBytes} without waiting, once the engine is loaded (undefined before): a folder of
 * many files hashes one name and digest per file, and a promise each cost more than the hash.
 */
function hashBytesNow(format: HashFormat, parts: readonly Uint8Array[]): string | undefined {
  const set = createHashersNow([algorithmOf(format)]);
  if (!set) return undefined;
  for (const part of parts) set.update(part);
  return set.hashers[0]!.hex();
}

/** The printed hash of a list of printed hashes (sorted first, as the reference does). */
export async function hashOfHashList(format: HashFormat, printed: readonly string[]): Promise<string> {
  const sorted = [...printed].sort();
  const parts = sorted.map((p) => digestBytes(format, p));
  return hashBytesNow(format, parts) ?? hashBytes(format, ...parts);
}

/**
 * Collects a folder's children and yields its content and structure hashes in one format. Each
 * child keeps only its digests (a folder of 200,000 files holds 200,000 small digests, not
 * 200,000 hashers at work); the structure hash of a child is computed when it is added.
 */
export class DirectoryHash {
  readonly format: HashFormat;
  #content: string[] = [];
  /** Per child: its name's bytes and the digest its structure hash covers. */
  #children: Array<[Uint8Array, Uint8Array]> = [];

  constructor(format: HashFormat) {
    this.format = format;
  }

  #addStructure(name: string, digest: Uint8Array): void {
    this.#children.push([nameBytes(name), digest]);
  }

  /** A file child: its name (as on disk) and its printed hash. */
  addFile(name: string, hash: string): void {
    this.#content.push(hash);
    this.#addStructure(name, digestBytes(this.format, hash));
  }

  /** A folder child: its name and its content and structure hashes. */
  addDirectory(name: string, content: string, structure: string): void {
    this.#content.push(content);
    this.#addStructure(name, digestBytes(this.format, structure));
  }

  /** The folder's content and structure hashes. */
  async finish(): Promise<{ content: string; structure: string }> {
    // One child at a time: never more than one hasher at work.
    const structure: string[] = [];
    for (const [name, digest] of this.#children) structure.push(hashBytesNow(this.format, [name, digest]) ?? (await hashBytes(this.format, name, digest)));
    return {
      content: await hashOfHashList(this.format, this.#content),
      structure: await hashOfHashList(this.format, structure),
    };
  }
}
