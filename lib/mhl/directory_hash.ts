/**
 * Directory hashes as the reference computes them. For each folder and format:
 * - content: the hash of the children's raw digests, concatenated in the lexicographic order of
 *   their printed form;
 * - structure: the same over, per child, hash(UTF-8 name ‖ raw digest), where a file contributes
 *   its content digest and a folder its structure digest.
 * Ignored entries are not children. An empty folder hashes nothing.
 */
import { createHasher } from "../hash/registry.ts";
import { algorithmOf, digestBytes, type HashFormat } from "./formats.ts";

const encoder = new TextEncoder();

/** The printed hash of some bytes in a format. */
export async function hashBytes(format: HashFormat, ...parts: Uint8Array[]): Promise<string> {
  const hasher = await createHasher(algorithmOf(format));
  for (const part of parts) hasher.update(part);
  return hasher.hex();
}

/** The printed hash of a list of printed hashes (sorted first, as the reference does). */
export async function hashOfHashList(format: HashFormat, printed: readonly string[]): Promise<string> {
  const sorted = [...printed].sort();
  return hashBytes(format, ...sorted.map((p) => digestBytes(format, p)));
}

/** Collects a folder's children and yields its content and structure hashes in one format. */
export class DirectoryHash {
  readonly format: HashFormat;
  #content: string[] = [];
  #structure: Promise<string>[] = [];

  constructor(format: HashFormat) {
    this.format = format;
  }

  /** A file child: its name (as on disk) and its printed hash. */
  addFile(name: string, hash: string): void {
    this.#content.push(hash);
    this.#structure.push(hashBytes(this.format, encoder.encode(name), digestBytes(this.format, hash)));
  }

  /** A folder child: its name and its content and structure hashes. */
  addDirectory(name: string, content: string, structure: string): void {
    this.#content.push(content);
    this.#structure.push(hashBytes(this.format, encoder.encode(name), digestBytes(this.format, structure)));
  }

  /** The folder's content and structure hashes. */
  async finish(): Promise<{ content: string; structure: string }> {
    return {
      content: await hashOfHashList(this.format, this.#content),
      structure: await hashOfHashList(this.format, await Promise.all(this.#structure)),
    };
  }
}
