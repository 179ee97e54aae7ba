/**
 * xxsum's `-b` benchmark: hashes an in-memory sample repeatedly with each XXH variant and
 * prints iterations per second and throughput on stderr, in xxhsum's line shape.
 */
import type { Algorithm } from "../hash/algorithms.ts";
import type { HasherOptions } from "../hash/options.ts";
import { createHasher } from "../hash/registry.ts";

/** Benchmark ids as xxhsum numbers its default set. */
export const BENCH_IDS: Record<number, { algorithm: Algorithm; label: string }> = {
  1: { algorithm: "xxh32", label: "XXH32" },
  3: { algorithm: "xxh64", label: "XXH64" },
  5: { algorithm: "xxh3", label: "XXH3_64b" },
  11: { algorithm: "xxh128", label: "XXH128" },
};

/** Runs the selected benchmarks (all four when `ids` is empty), `iterations` rounds of ~1 s each, best kept. */
export async function runBenchmark(ids: number[], iterations: number, sampleSize: number, hasher: HasherOptions): Promise<string[]> {
  const sample = new Uint8Array(sampleSize);
  for (let i = 0; i < sample.length; i++) sample[i] = (i * 2654435761) >>> 24;
  const chosen = ids.length ? ids : Object.keys(BENCH_IDS).map(Number);
  const lines: string[] = [];
  for (const id of chosen) {
    const bench = BENCH_IDS[id];
    if (!bench) continue;
    let best = 0;
    for (let round = 0; round < Math.max(1, iterations); round++) {
      let count = 0;
      const started = performance.now();
      while (performance.now() - started < 1000) {
        const h = await createHasher(bench.algorithm, hasher);
        h.update(sample);
        h.digest();
        count++;
      }
      best = Math.max(best, count / ((performance.now() - started) / 1000));
    }
    const mbps = (best * sampleSize) / (1 << 20);
    lines.push(`${String(id).padStart(2)}#${bench.label.padEnd(29).slice(0, 29)} : ${String(sampleSize).padStart(10)} -> ${best.toFixed(0).padStart(8)} it/s (${mbps.toFixed(1).padStart(7)} MB/s) `);
  }
  return lines;
}
