/**
 * One chunk read, the way both reading threads do it: a file chunk is filled completely (a
 * short read before the end is retried, so no byte is skipped); from a pipe, whatever arrived.
 */
import { readSync } from "node:fs";
import { guardWaitOn } from "../core/interrupt_guard.ts";

/** How long a file that says "again" is asked again before its read fails. */
export const FILE_AGAIN_MS = 2_000;

/**
 * Reads up to `length` bytes into `buffer` at `offset`, from `position` (null: the current
 * position, for pipes). Returns the bytes read; fewer than `length` from a file means the end.
 * Non-blocking stdin that has nothing yet is waited for, unless `stop()` says to give up. A file
 * (a positioned read) that says "again" is asked again for {@link FILE_AGAIN_MS} at most: a
 * regular file that never has data (`/proc/kmsg`) fails with EAGAIN instead of holding the run.
 */
export function fillChunk(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null, stop: () => boolean = () => false): number {
  // A pipe or terminal may never send another byte: Ctrl-C must still end the tool.
  if (position === null) guardWaitOn(fd);
  let n = 0;
  let againSince: number | undefined;
  while (n < length) {
    let got: number;
    try {
      got = readSync(fd, buffer, offset + n, length - n, position === null ? null : position + n);
    } catch (error) {
      if ((error as { code?: string }).code !== "EAGAIN" || stop()) throw error;
      againSince ??= performance.now();
      if (position !== null && performance.now() - againSince > FILE_AGAIN_MS) throw error;
      Bun.sleepSync(1);
      continue;
    }
    againSince = undefined;
    if (got === 0) break;
    n += got;
    if (position === null) break;
  }
  return n;
}
