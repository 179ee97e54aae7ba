/** lib/core/memory.ts: when a walk's full collections run. */
import { expect, test } from "bun:test";
import { GROWTH_BYTES, ROOMY_BYTES, wantsCollection } from "../lib/core/memory.ts";

const MiB = 1 << 20;

test("a full collection waits for the resident size to grow by the step (more, far past the roomy size), and below the roomy size for the heap to double", () => {
  const last = { resident: 160 * MiB, heap: 40 * MiB };
  // Less than the step of growth: never, however the heap grew.
  expect(wantsCollection({ resident: last.resident + GROWTH_BYTES - 1, heap: 400 * MiB }, last)).toBe(false);
  // Grown by the step, below the roomy size: only once the heap has doubled.
  expect(wantsCollection({ resident: last.resident + GROWTH_BYTES, heap: 80 * MiB - 1 }, last)).toBe(false);
  expect(wantsCollection({ resident: last.resident + GROWTH_BYTES, heap: 80 * MiB }, last)).toBe(true);
  // At the roomy size and past it: every step of growth, as the heap stands.
  expect(wantsCollection({ resident: ROOMY_BYTES - 1, heap: 41 * MiB }, last)).toBe(false);
  expect(wantsCollection({ resident: ROOMY_BYTES, heap: 41 * MiB }, last)).toBe(true);
  const big = { resident: 450 * MiB, heap: 300 * MiB };
  expect(wantsCollection({ resident: 450 * MiB + GROWTH_BYTES - 1, heap: 600 * MiB }, big)).toBe(false);
  expect(wantsCollection({ resident: 450 * MiB + GROWTH_BYTES, heap: 301 * MiB }, big)).toBe(true);
  // Far past it, a step of a quarter of what lies beyond: a large live heap is not collected every 32 MiB.
  const huge = { resident: 1984 * MiB, heap: 1800 * MiB };
  expect(wantsCollection({ resident: (1984 + 399) * MiB, heap: 1900 * MiB }, huge)).toBe(false);
  expect(wantsCollection({ resident: (1984 + 400) * MiB, heap: 1900 * MiB }, huge)).toBe(true);
  expect([GROWTH_BYTES, ROOMY_BYTES]).toEqual([32 * MiB, 384 * MiB]);
});
