/**
 * Digests by algorithm, read-only and small: what a long run holds per file until its records
 * are written. A `Map` holding one entry takes about 300 bytes; this takes about 80.
 */
import type { Algorithm } from "./algorithms.ts";

/** A read-only map of algorithm to hex digest, kept as one flat list. */
export class Digests<A extends string = Algorithm> implements ReadonlyMap<A, string> {
  /** Algorithm, digest, algorithm, digest… */
  readonly #flat: readonly string[];

  constructor(entries: Iterable<readonly [A, string]>) {
    const flat: string[] = [];
    for (const [algorithm, hex] of entries) {
      const at = flat.indexOf(algorithm);
      if (at >= 0 && at % 2 === 0) flat[at + 1] = hex;
      else flat.push(algorithm, hex);
    }
    this.#flat = flat;
  }

  get size(): number {
    return this.#flat.length >> 1;
  }

  get(algorithm: A): string | undefined {
    const flat = this.#flat;
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === algorithm) return flat[i + 1];
    return undefined;
  }

  has(algorithm: A): boolean {
    return this.get(algorithm) !== undefined;
  }

  forEach(callback: (hex: string, algorithm: A, map: ReadonlyMap<A, string>) => void, thisArg?: unknown): void {
    for (const [algorithm, hex] of this.#pairs()) callback.call(thisArg, hex, algorithm, this);
  }

  entries(): MapIterator<[A, string]> {
    return new Map(this.#pairs()).entries();
  }

  keys(): MapIterator<A> {
    return new Map(this.#pairs()).keys();
  }

  values(): MapIterator<string> {
    return new Map(this.#pairs()).values();
  }

  [Symbol.iterator](): MapIterator<[A, string]> {
    return this.entries();
  }

  #pairs(): Array<[A, string]> {
    const pairs: Array<[A, string]> = [];
    for (let i = 0; i < this.#flat.length; i += 2) pairs.push([this.#flat[i] as A, this.#flat[i + 1]!]);
    return pairs;
  }
}
