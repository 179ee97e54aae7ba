/**
 * Group flushing for many small files: copies that have written everything wait here, and one
 * syncfs per file system makes all of them durable at once, before any of them is renamed into
 * place. A file still never carries its final name before its bytes are on the device; the
 * device just sees one flush for many files instead of one fsync each.
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
  #waiting: Waiter[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #maxWaiting: number;
  readonly #maxDelayMs: number;

  /**
   * @param maxWaiting flush as soon as this many files wait
   * @param maxDelayMs or this long after the first one started waiting
   */
  constructor(maxWaiting = 64, maxDelayMs = 200) {
    this.#maxWaiting = maxWaiting;
    this.#maxDelayMs = maxDelayMs;
  }

  /** Files waiting for the next flush. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Resolves once a written file on the file system holding `folder` (any existing folder of
   * it, e.g. the destination's root) is on the device. `fsyncOwn` flushes just that file, used
   * where a whole-file-system flush is unavailable.
   */
  wait(folder: string, fsyncOwn: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ folder, fsyncOwn, resolve, reject });
      if (this.#waiting.length >= this.#maxWaiting) this.flush();
      else this.#timer ??= setTimeout(() => this.flush(), this.#maxDelayMs);
    });
  }

  /**
   * Starts a flush now: one syncfs per file system (on the flusher thread), or each file's own
   * fsync where that fails. The waiting files are resolved when theirs is done.
   */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#waiting.splice(0);
    const byDevice = new Map<string, Waiter[]>();
    for (const w of batch) {
      const device = deviceOf(w.folder);
      byDevice.set(device, [...(byDevice.get(device) ?? []), w]);
    }
    for (const waiters of byDevice.values()) {
      // Off this thread: the copies in flight go on while the device flushes.
      void flushFileSystemOffThread(waiters[0]!.folder).then((flushed) => {
        if (flushed) for (const w of waiters) w.resolve();
        else for (const w of waiters) w.fsyncOwn().then(w.resolve, w.reject);
      });
    }
  }
}

function deviceOf(folder: string): string {
  try {
    return String(statSync(folder).dev);
  } catch {
    return folder;
  }
}
