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
import { algorithmOf, digestBytes, digestInto, type HashFormat } from "./formats.ts";

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

/** Digests decoded into one buffer and handed to the hasher a buffer at a time, not one array each. */
const LIST_BUFFER = 64 << 10;

/** The printed hash of a list of printed hashes (sorted first, as the reference does). */
export async function hashOfHashList(format: HashFormat, printed: readonly string[]): Promise<string> {
  const sorted = [...printed].sort();
  const hasher = createHashersNow([algorithmOf(format)])?.hashers[0] ?? (await createHasher(algorithmOf(format)));
  const buffer = Buffer.allocUnsafe(LIST_BUFFER);
  let used = 0;
  for (const p of sorted) {
    // The longest digest (a C4 ID's SHA-512) is 64 bytes.
    if (used + 64 > LIST_BUFFER) {
      hasher.update(buffer.subarray(0, used));
      used = 0;
    }
    used += digestInto(format, p, buffer, used);
  }
  if (used > 0) hasher.update(buffer.subarray(0, used));
  return hasher.hex();
}

/**
 * Collects a folder's children and yields its content and structure hashes in one format. Each
 * child keeps only two printed digests (a folder of 200,000 files holds 400,000 short strings,
 * not 200,000 hashers at work or 400,000 byte arrays): the structure hash of a child is
 * computed when it is added, once the hash engine is loaded.
 */
export class DirectoryHash {
  readonly format: HashFormat;
  #content: string[] = [];
  /** Per child: the printed hash of its name's bytes and the digest its structure hash covers. */
  #structure: string[] = [];
  /** Children added before the hash engine was loaded: their structure hash is made in {@link finish}. */
  #waiting: Array<[Uint8Array, Uint8Array]> = [];

  constructor(format: HashFormat) {
    this.format = format;
  }

  #addStructure(name: string, printed: string): void {
    const parts = [nameBytes(name), digestBytes(this.format, printed)];
    const hash = hashBytesNow(this.format, parts);
    if (hash === undefined) this.#waiting.push(parts as [Uint8Array, Uint8Array]);
    else this.#structure.push(hash);
  }

  /** A file child: its name (as on disk) and its printed hash. */
  addFile(name: string, hash: string): void {
    this.#content.push(hash);
    this.#addStructure(name, hash);
  }

  /** A folder child: its name and its content and structure hashes. */
  addDirectory(name: string, content: string, structure: string): void {
    this.#content.push(content);
    this.#addStructure(name, structure);
  }

  /** The folder's content and structure hashes. */
  async finish(): Promise<{ content: string; structure: string }> {
    for (const [name, digest] of this.#waiting) this.#structure.push(hashBytesNow(this.format, [name, digest]) ?? (await hashBytes(this.format, name, digest)));
    this.#waiting = [];
    return {
      content: await hashOfHashList(this.format, this.#content),
      structure: await hashOfHashList(this.format, this.#structure),
    };
  }
}
