/**
 * lib/hash/zero_runs.ts: runs of zeros fed without a buffer give the digests of the same bytes
 * fed one by one, for every algorithm, whatever the lengths and where the runs fall.
 */
import { expect, test } from "bun:test";
import { ALGORITHMS } from "../lib/hash/algorithms.ts";
import { createHasher } from "../lib/hash/registry.ts";
import { createZeroRunHashers, Xxh64ZeroRuns } from "../lib/hash/zero_runs.ts";
import { randomBytes } from "./helpers.ts";

/** Lengths around the 32-byte stripe and the 1 MiB data window, and long runs. */
const LENGTHS = [0, 1, 3, 4, 7, 8, 12, 31, 32, 33, 63, 64, 65, 100, 4096, 70_001, (1 << 20) - 5, (1 << 20) + 37, 3 << 20];

test("XXH64 over runs of zeros and data equals the xxHash library over the same bytes", async () => {
  let seed = 1;
  const next = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let t = 0; t < 300; t++) {
    const reference = await createHasher("xxh64", { engine: "native" });
    const runs = new Xxh64ZeroRuns();
    const parts = 1 + next(6);
    const shape: string[] = [];
    for (let i = 0; i < parts; i++) {
      const length = LENGTHS[next(LENGTHS.length)]! + next(3);
      if (next(2) === 0) {
        reference.update(new Uint8Array(length));
        runs.zeros(length);
        shape.push(`zeros ${length}`);
      } else {
        const data = randomBytes(length, t * 10 + i + 1);
        reference.update(data);
        runs.update(data);
        shape.push(`data ${length}`);
      }
    }
    expect([shape.join(", "), runs.hex()]).toEqual([shape.join(", "), reference.hex()]);
  }
});

test("XXH64 of nothing, and of a GiB of zeros as the xxHash library gives them", async () => {
  expect(new Xxh64ZeroRuns().hex()).toBe("ef46db3751d8e999");
  const runs = new Xxh64ZeroRuns();
  runs.zeros(1 << 30);
  const reference = await createHasher("xxh64", { engine: "native" });
  const zeros = new Uint8Array(1 << 20);
  for (let i = 0; i < 1024; i++) reference.update(zeros);
  expect(runs.hex()).toBe(reference.hex());
});

test("every algorithm: data, a run of zeros, data gives the digest of the bytes written out", async () => {
  const head = randomBytes(1000, 3);
  const tail = randomBytes(77, 4);
  const dense = new Uint8Array(head.length + 5_000_000 + tail.length);
  dense.set(head, 0);
  dense.set(tail, head.length + 5_000_000);
  const algorithms = [...ALGORITHMS];
  const runs = await createZeroRunHashers(algorithms);
  runs.update(head);
  runs.zeros(5_000_000);
  runs.update(tail);
  const got = runs.hexes();
  for (const algorithm of algorithms) {
    const reference = await createHasher(algorithm);
    reference.update(dense);
    expect([algorithm, got.get(algorithm)]).toEqual([algorithm, reference.hex()]);
  }
  // Another engine asked for: XXH64 is that engine's, and the digest the same.
  const wasm = await createZeroRunHashers(["xxh64"], { engine: "wasm" });
  wasm.update(head);
  wasm.zeros(5_000_000);
  wasm.update(tail);
  expect(wasm.hexes().get("xxh64")).toBe(got.get("xxh64"));
});
