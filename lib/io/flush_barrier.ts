/**
 * Group flushing for many small files: copies that have written everything wait here, and one
 * syncfs per file system makes all of them durable at once, before any of them is renamed into
 * place. A file still never carries its final name before its bytes are on the device; the
 * device just sees one flush for many files instead of one fsync each.
 *
 * One flush per file system at a time: files that start waiting while their file system is
 * being flushed wait for the next flush, which starts as soon as that one ends (a group commit:
 * the slower the device flushes, the more files each flush takes).
 */
import { statSync } from "node:fs";
import { flushFileSystemOffThread } from "./flusher.ts";

interface Waiter {
  folder: string;
  fsyncOwn: () => Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Collects waiting files and flushes their file systems together. */
export class FlushBarrier {
  /** Files waiting for the next flush, by file system. */
  readonly #waiting = new Map<string, Waiter[]>();
  #count = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #maxWaiting: number;
  readonly #maxDelayMs: number;
  /** File systems being flushed now. */
  readonly #busy = new Set<string>();
  /** The file system of each folder waited on (a run writes into few folders, each many times). */
  readonly #devices = new Map<string, string>();

  /**
   * @param maxWaiting flush as soon as this many files wait
   * @param maxDelayMs or this long after the first one started waiting
   */
  constructor(maxWaiting = 64, maxDelayMs = 200) {
    this.#maxWaiting = maxWaiting;
    this.#maxDelayMs = maxDelayMs;
  }

  /** Files waiting for the next flush (not those being flushed now). */
  get waiting(): number {
    return this.#count;
  }

  /**
   * Resolves once a written file on the file system holding `folder` (any existing folder of
   * it, e.g. the destination's root) is on the device. `fsyncOwn` flushes just that file, used
   * where a whole-file-system flush is unavailable.
   */
  wait(folder: string, fsyncOwn: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      const device = this.#deviceOf(folder);
      const group = this.#waiting.get(device);
      if (group) group.push({ folder, fsyncOwn, resolve, reject });
      else this.#waiting.set(device, [{ folder, fsyncOwn, resolve, reject }]);
      this.#count++;
      if (this.#count >= this.#maxWaiting) this.flush();
      else this.#timer ??= setTimeout(() => this.flush(), this.#maxDelayMs);
    });
  }

  /**
   * Starts a flush now: one syncfs per file system (on the flusher thread), or each file's own
   * fsync where that fails. The waiting files are resolved when theirs is done. Files of a file
   * system being flushed already go with its next flush, right after.
   */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const device of [...this.#waiting.keys()]) if (!this.#busy.has(device)) this.#startWaiting(device);
  }

  /** Flushes the files waiting on `device`, if any. */
  #startWaiting(device: string): void {
    const waiters = this.#waiting.get(device);
    if (!waiters) return;
    this.#waiting.delete(device);
    this.#count -= waiters.length;
    this.#busy.add(device);
    // Off this thread: the copies in flight go on while the device flushes.
    void flushFileSystemOffThread(waiters[0]!.folder).then((flushed) => {
      this.#busy.delete(device);
      if (flushed) for (const w of waiters) w.resolve();
      else for (const w of waiters) w.fsyncOwn().then(w.resolve, w.reject);
      // Whoever came while this device flushed: their flush starts now.
      this.#startWaiting(device);
    });
  }

  #deviceOf(folder: string): string {
    let device = this.#devices.get(folder);
    if (device === undefined) {
      try {
        device = String(statSync(folder).dev);
      } catch {
        // not cached: the folder may appear later
        return folder;
      }
      this.#devices.set(folder, device);
    }
    return device;
  }
}
