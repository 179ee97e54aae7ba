/** Options for creating hashers. */
import type { Engine } from "./hasher.ts";

/** How to create a hasher. */
export interface HasherOptions {
  /**
   * Which engine computes the digest; `auto` takes the fastest one that works here.
   * @default "auto"
   */
  engine?: Engine | "auto";
  /** BLAKE3 keyed mode (b3sum `--keyed`): exactly 32 bytes. */
  key?: Uint8Array;
  /** BLAKE3 key derivation (b3sum `--derive-key`): the context string. */
  deriveKeyContext?: string;
  /**
   * BLAKE3 output length in bytes (b3sum `-l`).
   * @default 32
   */
  outputLength?: number;
}
