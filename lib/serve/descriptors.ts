/**
 * Open file descriptors kept for reuse. Serving random ranges opens the same files over and over
 * (a 1 MiB range of a virtual tape touches two or three record files), and opening and closing
 * them per request costs throughput (BENCHMARKS.md, "Notes on the serve benchmark"). A
 * descriptor in use is never closed: it is closed when released, if the cache has meanwhile
 * grown past its size.
 */
import { closeSync } from "node:fs";

interface Held {
  fd: number;
  refs: number;
}

/** Descriptors by key, least recently used first. */
export class DescriptorCache {
  readonly #max: number;
  readonly #held = new Map<string, Held>();
  /** Descriptors forgotten while in use, closed when the last user releases them. */
  readonly #orphans = new Map<number, Held>();

  /** @param max descriptors kept open while unused. @default 256 */
  constructor(max = 256) {
    this.#max = max;
  }

  /**
   * The descriptor for `key`, opened with `open` when not held; the caller {@link release}s it.
   * @throws whatever `open` throws.
   */
  acquire(key: string, open: () => number): number {
    let held = this.#held.get(key);
    if (held) this.#held.delete(key);
    else held = { fd: open(), refs: 0 };
    held.refs++;
    this.#held.set(key, held);
    return held.fd;
  }

  /** Gives back the descriptor `fd` that {@link acquire} gave for `key`. */
  release(key: string, fd: number): void {
    const held = this.#held.get(key);
    if (held && held.fd === fd) {
      held.refs--;
      this.#trim();
      return;
    }
    const orphan = this.#orphans.get(fd);
    if (orphan && --orphan.refs <= 0) {
      this.#orphans.delete(fd);
      closeSync(fd);
    }
  }

  /** Closes and forgets the descriptor of `key` once nobody uses it (after it turned out stale). */
  forget(key: string): void {
    const held = this.#held.get(key);
    if (!held) return;
    this.#held.delete(key);
    if (held.refs <= 0) closeSync(held.fd);
    else this.#orphans.set(held.fd, held);
  }

  /** How many are open. */
  get size(): number {
    return this.#held.size;
  }

  #trim(): void {
    if (this.#held.size <= this.#max) return;
    for (const [key, held] of this.#held) {
      if (this.#held.size <= this.#max) break;
      if (held.refs > 0) continue;
      this.#held.delete(key);
      closeSync(held.fd);
    }
  }

  /** Closes every descriptor. */
  close(): void {
    for (const held of [...this.#held.values(), ...this.#orphans.values()]) closeSync(held.fd);
    this.#held.clear();
    this.#orphans.clear();
  }
}
