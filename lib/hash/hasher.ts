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

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
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
