/**
 * The one interface every streaming hasher implements, whatever engine computes it.
 */
import type { Algorithm } from "./algorithms.ts";

/** Engines: napi add-ons and node:crypto (`native`), WebAssembly (`wasm`), pure TypeScript (`js`). */
export const ENGINES = ["native", "wasm", "js"] as const;

/** One of {@link ENGINES}. */
export type Engine = (typeof ENGINES)[number];

/** A streaming hash over one sequence of bytes. */
export interface Hasher {
  /** Canonical algorithm name. */
  readonly algorithm: Algorithm;
  /** Engine that computes it. */
  readonly engine: Engine;
  /** Feeds the next bytes. The chunk may be reused by the caller as soon as this returns. */
  update(chunk: Uint8Array): void;
  /**
   * Finishes and returns the digest in canonical byte order (as the native tools print it:
   * XXH32/XXH64/XXH3 big-endian, XXH128 high half then low half). May be called more than once.
   */
  digest(): Uint8Array;
  /**
   * The digest as the native tools print it: lowercase zero-padded hex, or the `c4…` ID for c4.
   */
  hex(): string;
}

/** Two lowercase hex digits per byte value. */
const HEX_PAIRS = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/**
 * Lowercase hex of bytes. A digest is a few bytes, printed once per file: built from a table,
 * without touching the array's `.buffer` (which makes the engine give a small typed array a
 * buffer of its own, costing more than hashing a small file).
 */
export function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (let i = 0; i < bytes.length; i++) hex += HEX_PAIRS[bytes[i]!]!;
  return hex;
}

/**
 * Base class doing the bookkeeping every engine needs: a digest is computed once and cached;
 * updates after it are a programming error.
 */
export abstract class BaseHasher implements Hasher {
  readonly algorithm: Algorithm;
  readonly engine: Engine;
  #digest: Uint8Array | undefined;

  constructor(algorithm: Algorithm, engine: Engine) {
    this.algorithm = algorithm;
    this.engine = engine;
  }

  update(chunk: Uint8Array): void {
    if (this.#digest) throw new Error(`${this.algorithm}: update after digest`);
    this.write(chunk);
  }

  digest(): Uint8Array {
    this.#digest ??= this.finish();
    return this.#digest;
  }

  hex(): string {
    return toHex(this.digest());
  }

  /** Feeds bytes to the engine. */
  protected abstract write(chunk: Uint8Array): void;
  /** Returns the canonical digest bytes. Called once. */
  protected abstract finish(): Uint8Array;
}
