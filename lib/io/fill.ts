/**
 * One chunk read, the way both reading threads do it: a file chunk is filled completely (a
 * short read before the end is retried, so no byte is skipped); from a pipe, whatever arrived.
 */
import { readSync } from "node:fs";

/**
 * Reads up to `length` bytes into `buffer` at `offset`, from `position` (null: the current
 * position, for pipes). Returns the bytes read; fewer than `length` from a file means the end.
 * Non-blocking stdin that has nothing yet is waited for, unless `stop()` says to give up.
 */
export function fillChunk(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null, stop: () => boolean = () => false): number {
  let n = 0;
  while (n < length) {
    let got: number;
    try {
      got = readSync(fd, buffer, offset + n, length - n, position === null ? null : position + n);
    } catch (error) {
      if ((error as { code?: string }).code !== "EAGAIN" || stop()) throw error;
      Bun.sleepSync(1);
      continue;
    }
    if (got === 0) break;
    n += got;
    if (position === null) break;
  }
  return n;
}
