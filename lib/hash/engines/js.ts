/**
 * Pure TypeScript engines (@noble/hashes, and our CRC-32): slow but run anywhere, and the
 * only BLAKE3 engine that produces output lengths other than 32 bytes (b3sum `-l`).
 */
import { blake3 } from "@noble/hashes/blake3.js";
import { md5, sha1 } from "@noble/hashes/legacy.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import type { Algorithm } from "../algorithms.ts";
import { c4FromSha512 } from "../c4.ts";
import { crc32Update, u32BigEndian } from "../crc32.ts";
import { BaseHasher, type Hasher } from "../hasher.ts";
import type { HasherOptions } from "../options.ts";

interface NobleState {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
}

class NobleHasher extends BaseHasher {
  #state: NobleState;
  constructor(algorithm: Algorithm, state: NobleState) {
    super(algorithm, "js");
    this.#state = state;
  }
  protected write(chunk: Uint8Array): void {
    this.#state.update(chunk);
  }
  protected finish(): Uint8Array {
    return this.#state.digest();
  }
  override hex(): string {
    return this.algorithm === "c4" ? c4FromSha512(this.digest()) : super.hex();
  }
}

class Crc32Js extends BaseHasher {
  #value = 0;
  constructor() {
    super("crc32", "js");
  }
  protected write(chunk: Uint8Array): void {
    this.#value = crc32Update(this.#value, chunk);
  }
  protected finish(): Uint8Array {
    return u32BigEndian(this.#value);
  }
}

/** Creates a pure-TypeScript hasher, or undefined when this engine lacks the algorithm. */
export function createJsHasher(algorithm: Algorithm, options: HasherOptions): Hasher | undefined {
  switch (algorithm) {
    case "blake3":
      return new NobleHasher(
        algorithm,
        blake3.create({
          dkLen: options.outputLength ?? 32,
          ...(options.key ? { key: options.key } : {}),
          ...(options.deriveKeyContext !== undefined ? { context: new TextEncoder().encode(options.deriveKeyContext) } : {}),
        }),
      );
    case "md5":
      return new NobleHasher(algorithm, md5.create());
    case "sha1":
      return new NobleHasher(algorithm, sha1.create());
    case "sha256":
      return new NobleHasher(algorithm, sha256.create());
    case "sha512":
      return new NobleHasher(algorithm, sha512.create());
    case "c4":
      return new NobleHasher(algorithm, sha512.create());
    case "crc32":
      return new Crc32Js();
    default:
      return undefined;
  }
}
