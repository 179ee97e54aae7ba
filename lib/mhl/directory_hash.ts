/**
 * Directory hashes as the reference computes them. For each folder and format:
 * - content: the hash of the children's raw digests, concatenated in the lexicographic order of
 *   their printed form;
 * - structure: the same over, per child, hash(UTF-8 name ‖ raw digest), where a file contributes
 *   its content digest and a folder its structure digest.
 * Ignored entries are not children. An empty folder hashes nothing.
 */
import { nameBytes } from "../core/names.ts";
import { PIECES, type PieceHasher, piecesNow } from "../hash/native_batch.ts";
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

/** Bytes of names and digests gathered for one call of a piece hasher. */
const PIECE_BYTES = 64 << 10;

/**
 * Collects a folder's children and yields its content and structure hashes in one format. Each
 * child keeps only two printed digests (a folder of 200,000 files holds 400,000 short strings,
 * not 200,000 hashers at work or 400,000 byte arrays): the structure hash of a child is
 * computed when it is added, once the hash engine is loaded. In the XXH formats, once
 * lib/hash/native_batch.ts has prepared them, children's names and digests are gathered and
 * their structure hashes made up to {@link PIECES} in one native call: a hasher, two updates
 * and a digest per child cost more than the hashing (BENCHMARKS.md).
 */
export class DirectoryHash {
  readonly format: HashFormat;
  #content: string[] = [];
  /** Per child: the printed hash of its name's bytes and the digest its structure hash covers. */
  #structure: string[] = [];
  /** Children added before the hash engine was loaded: their structure hash is made in {@link finish}. */
  #waiting: Array<[Uint8Array, Uint8Array]> = [];
  /** The native piece hasher, and the children's name ‖ digest gathered for it. */
  readonly #pieces: PieceHasher | undefined;
  #data: Buffer | undefined;
  #ends: Uint32Array | undefined;
  #used = 0;
  #count = 0;

  constructor(format: HashFormat) {
    this.format = format;
    this.#pieces = piecesNow(algorithmOf(format));
  }

  /**
   * Room for one more child of at most `bytes`: the buffers start small and grow to
   * {@link PIECE_BYTES} and {@link PIECES}, for a folder holding one folder is held open with
   * each of its ancestors while the walk is beneath it.
   */
  #room(bytes: number): void {
    if (!this.#data || this.#used + bytes > this.#data.length) {
      const data = Buffer.allocUnsafe(Math.min(PIECE_BYTES, Math.max(1024, 2 * (this.#data?.length ?? 0), this.#used + bytes)));
      if (this.#data) this.#data.copy(data, 0, 0, this.#used);
      this.#data = data;
    }
    if (!this.#ends || this.#count === this.#ends.length) {
      const ends = new Uint32Array(Math.min(PIECES, Math.max(16, 2 * (this.#ends?.length ?? 0))));
      if (this.#ends) ends.set(this.#ends.subarray(0, this.#count));
      this.#ends = ends;
    }
  }

  /** Makes the structure hashes of the children gathered for the piece hasher. */
  #hashPieces(): void {
    if (this.#count === 0) return;
    for (const hash of this.#pieces!(this.#data!, this.#ends!, this.#count)) this.#structure.push(hash);
    this.#used = 0;
    this.#count = 0;
  }

  #addStructure(name: string, printed: string): void {
    // A name is at most 3 bytes per UTF-16 unit, a digest (a C4 ID's SHA-512) 64 bytes.
    const most = 3 * name.length + 64;
    if (this.#pieces && most <= PIECE_BYTES) {
      if (this.#count === PIECES || this.#used + most > PIECE_BYTES) this.#hashPieces();
      this.#room(most);
      const data = this.#data!;
      let at = this.#used;
      if (name.isWellFormed()) at += data.write(name, at, "utf8");
      else {
        const bytes = nameBytes(name);
        data.set(bytes, at);
        at += bytes.length;
      }
      at += digestInto(this.format, printed, data, at);
      this.#used = at;
      this.#ends![this.#count++] = at;
      return;
    }
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
    if (this.#pieces) this.#hashPieces();
    this.#data = undefined;
    this.#ends = undefined;
    for (const [name, digest] of this.#waiting) this.#structure.push(hashBytesNow(this.format, [name, digest]) ?? (await hashBytes(this.format, name, digest)));
    this.#waiting = [];
    return {
      content: await hashOfHashList(this.format, this.#content),
      structure: await hashOfHashList(this.format, this.#structure),
    };
  }
}
