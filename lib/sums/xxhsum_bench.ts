/**
 * xxsum's `-b` benchmark: hashes a sample (or each file named) repeatedly with each XXH variant
 * and reports iterations per second and throughput, in xxhsum 0.8's line shape and numbering
 * (`-b1,3`, `-b0` the default set, `-b29` and above or `--benchmark-all` every variant). Only
 * unseeded digests are computed here, so the seeded and secret variants are named as not
 * measured rather than timed as something they are not.
 */
import type { Algorithm } from "../hash/algorithms.ts";
import type { HasherOptions } from "../hash/options.ts";
import { createHasher } from "../hash/registry.ts";

/** xxhsum's variants in its order: id 2k+1 is variant k on an aligned buffer, 2k+2 unaligned. */
const VARIANTS = ["XXH32", "XXH64", "XXH3_64b", "XXH3_64b w/seed", "XXH3_64b w/secret", "XXH128", "XXH128 w/seed", "XXH128 w/secret", "XXH32_stream", "XXH64_stream", "XXH3_stream", "XXH3_stream w/seed", "XXH128_stream", "XXH128_stream w/seed"] as const;

/** The highest benchmark id (28: 14 variants, aligned and unaligned). */
export const LAST_BENCH_ID = VARIANTS.length * 2;

/** xxhsum's default set: XXH32, XXH64, XXH3_64b, XXH128, aligned. */
export const DEFAULT_BENCH_IDS = [1, 3, 5, 11];

/** What one benchmark id measures. */
export interface BenchVariant {
  id: number;
  /** xxhsum's label, e.g. `XXH64 unaligned`. */
  label: string;
  /** The algorithm, or undefined for a seeded or secret variant (not measured here). */
  algorithm: Algorithm | undefined;
  unaligned: boolean;
}

/** The variant of an id (1 to {@link LAST_BENCH_ID}). */
export function benchVariant(id: number): BenchVariant {
  const base = VARIANTS[Math.floor((id - 1) / 2)]!;
  const unaligned = id % 2 === 0;
  const seeded = base.includes("w/");
  const algorithm: Algorithm = base.startsWith("XXH32") ? "xxh32" : base.startsWith("XXH64") ? "xxh64" : base.startsWith("XXH128") ? "xxh128" : "xxh3";
  return { id, label: unaligned ? `${base} unaligned` : base, algorithm: seeded ? undefined : algorithm, unaligned };
}

/**
 * The ids `-b` selects, by xxhsum's rules: none (or only 0) gives the default set; an id above
 * {@link LAST_BENCH_ID} gives every variant; otherwise the ids given, in order, once each.
 */
export function selectBenchIds(ids: readonly number[]): number[] {
  const wanted = ids.filter((id) => id > 0);
  if (wanted.length === 0) return DEFAULT_BENCH_IDS;
  if (wanted.some((id) => id > LAST_BENCH_ID)) return Array.from({ length: LAST_BENCH_ID }, (_, i) => i + 1);
  return [...new Set(wanted)].sort((a, b) => a - b);
}

/** A buffer to benchmark: the built-in sample or a file's bytes. */
export interface BenchSample {
  bytes: Uint8Array;
}

/** A deterministic sample of `size` bytes. */
export function benchSample(size: number): BenchSample {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  return { bytes };
}

/**
 * Runs the selected variants over a sample: `iterations` rounds of about a second each, the
 * fastest kept; 0 iterations is one quick round (xxhsum's "quick evaluation, no claim of
 * accuracy"). Returns one line per variant.
 */
export async function runBenchmark(ids: readonly number[], iterations: number, sample: BenchSample, hasher: HasherOptions): Promise<string[]> {
  const lines: string[] = [];
  const size = sample.bytes.length;
  // The unaligned variants read from 3 bytes into a buffer, as xxhsum's do.
  const shifted = new Uint8Array(size + 3);
  shifted.set(sample.bytes, 3);
  const unalignedView = shifted.subarray(3);
  const roundMs = iterations === 0 ? 50 : 1000;
  for (const id of selectBenchIds(ids)) {
    const variant = benchVariant(id);
    const head = `${String(id).padStart(2)}#${variant.label.padEnd(29).slice(0, 29)} : ${String(size).padStart(10)} -> `;
    if (!variant.algorithm) {
      lines.push(`${head}not measured (xxsum computes unseeded digests only)`);
      continue;
    }
    const input = variant.unaligned ? unalignedView : sample.bytes;
    let best = 0;
    for (let round = 0; round < Math.max(1, iterations); round++) {
      let count = 0;
      const started = performance.now();
      while (performance.now() - started < roundMs) {
        const h = await createHasher(variant.algorithm, hasher);
        h.update(input);
        h.digest();
        count++;
      }
      best = Math.max(best, count / ((performance.now() - started) / 1000));
    }
    const mbps = (best * size) / (1 << 20);
    lines.push(`${head}${best.toFixed(0).padStart(8)} it/s (${mbps.toFixed(1).padStart(7)} MB/s) `);
  }
  return lines;
}
