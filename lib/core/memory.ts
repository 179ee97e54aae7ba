/**
 * Memory over a long walk. Per file, the tools make short-lived strings, buffers and results
 * that often live just long enough (a batch, a flush group) to be kept past the engine's young
 * collections; only a full collection frees them, and the engine runs one rarely while the live
 * heap is small. Over a million files the process then grows by about a kilobyte per file of
 * garbage (measured in BENCHMARKS.md, "Memory over a million files"). {@link collectNowAndThen},
 * called once per file, runs a full collection whenever the resident size grew by
 * {@link GROWTH_BYTES} since the last one: a few collections per million files.
 */

/** Growth of the resident size that calls for a full collection. */
export const GROWTH_BYTES = 32 << 20;
/** Files (or kilobytes of text) between two looks at the resident size (a look reads /proc). */
const LOOK_EVERY = 2048;

let calls = 0;
let residentAfterLast = 0;

/**
 * Call once per file handled, or with the kilobytes of a piece of text written: now and then,
 * a full garbage collection (see the module's note).
 */
export function collectNowAndThen(work = 1): void {
  calls += work;
  if (calls < LOOK_EVERY) return;
  calls = 0;
  const resident = process.memoryUsage.rss();
  if (residentAfterLast === 0) residentAfterLast = resident;
  if (resident - residentAfterLast < GROWTH_BYTES) return;
  Bun.gc(true);
  residentAfterLast = process.memoryUsage.rss();
}
