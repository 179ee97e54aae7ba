/**
 * Memory over a long walk. Per file, the tools make short-lived strings, buffers and results
 * that often live just long enough (a batch, a flush group) to be kept past the engine's young
 * collections; only a full collection frees them, and the engine runs one rarely while the live
 * heap is small. Over a million files the process then grows by about a kilobyte per file of
 * garbage (measured in BENCHMARKS.md, "Memory over a million files"). {@link collectNowAndThen},
 * called once per file, runs a full collection whenever the resident size grew by
 * {@link GROWTH_BYTES} since the last one: a few collections per million files.
 *
 * Below {@link ROOMY_BYTES} of resident size, a collection also waits until the engine's heap
 * has doubled since the last one: much of a run's growth is not garbage (what it keeps of each
 * file until its records are written, worker threads, the allocator's own pages). A 20,000-file
 * offload made six full collections that freed 0 to 25 MiB each and took 126 ms of its main
 * thread; now three or four ("Fewer full collections", BENCHMARKS.md). Past that size, every
 * growth of {@link GROWTH_BYTES} calls for one, as before, or of a quarter of what the process
 * holds beyond it, once that is more (a history of a million files read whole). A loop that
 * makes garbage for each of a million files calls {@link collectNowAndThen} too, or nothing
 * looks until it is done.
 */

/** Growth of the resident size that calls for a full collection. */
export const GROWTH_BYTES = 32 << 20;
/** The resident size below which a collection also waits for the heap to have doubled. */
export const ROOMY_BYTES = 384 << 20;
/** Files (or kilobytes of text) between two looks at the resident size (a look reads /proc). */
const LOOK_EVERY = 2048;

/** The resident size and the heap: now, or right after the last full collection. */
export interface MemoryLook {
  resident: number;
  heap: number;
}

/**
 * Whether memory as it is `now` calls for a full collection, given what it was right after the
 * last one (see the module's note).
 * @example
 * const MiB = 1 << 20;
 * wantsCollection({ resident: 200 * MiB, heap: 60 * MiB }, { resident: 160 * MiB, heap: 40 * MiB }); // false: not doubled
 * wantsCollection({ resident: 200 * MiB, heap: 80 * MiB }, { resident: 160 * MiB, heap: 40 * MiB }); // true
 */
export function wantsCollection(now: MemoryLook, last: MemoryLook): boolean {
  if (now.resident - last.resident < growthStep(last.resident)) return false;
  return now.resident >= ROOMY_BYTES || now.heap >= 2 * last.heap;
}

/**
 * The growth that calls for a collection after one that left `resident`: {@link GROWTH_BYTES},
 * and past {@link ROOMY_BYTES} a quarter of what lies beyond it. A full collection takes time in
 * proportion to what is live: `mhl-verify verify` of a million files holds its history's 1.8 GiB
 * and made nine of half a second each, 32 MiB apart, that freed nothing.
 */
function growthStep(resident: number): number {
  return Math.max(GROWTH_BYTES, (resident - ROOMY_BYTES) / 4);
}

/** What {@link wantsCollection} is given: the process's resident size and its heap. */
function look(): MemoryLook {
  const usage = process.memoryUsage();
  return { resident: usage.rss, heap: usage.heapUsed + usage.external };
}

let calls = 0;
let last: MemoryLook | undefined;

/**
 * Call once per file handled, or with the kilobytes of a piece of text written: now and then,
 * a full garbage collection (see the module's note).
 */
export function collectNowAndThen(work = 1): void {
  calls += work;
  if (calls < LOOK_EVERY) return;
  calls = 0;
  const now = look();
  last ??= now;
  if (!wantsCollection(now, last)) return;
  Bun.gc(true);
  last = look();
}
