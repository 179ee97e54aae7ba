/**
 * The lines of a vault file (a commit, a stat cache), read as a stream: one chunk at a time,
 * each line bounded, every byte also handed to the caller (to hash the file as it is read).
 */
import { readChunks } from "../io/reader.ts";

/** One line as read; `bytes` is valid until the next line is asked for. */
export interface FileLine {
  bytes: Uint8Array;
  /** 1 for the first line. */
  number: number;
  /** True for bytes after the last newline (a file that does not end with one). */
  last: boolean;
  /** True for a line longer than the limit (`bytes` then holds its start only). */
  tooLong: boolean;
}

/**
 * The lines of an open file, from its first byte, without their newlines.
 * @param onBytes receives every chunk read, in order, before its lines are given
 * @param maxLine the longest line held; a longer one is given once with `tooLong`
 * @example
 * declare const fd: number, hasher: { update(chunk: Uint8Array): void }, parse: (bytes: Uint8Array) => void;
 * for (const line of readLines(fd, (chunk) => hasher.update(chunk), 65536)) parse(line.bytes);
 */
export function* readLines(fd: number, onBytes: (chunk: Uint8Array) => void, maxLine: number): Generator<FileLine> {
  let carry: Uint8Array | undefined;
  let number = 0;
  for (const chunk of readChunks(fd, { chunkSize: 1 << 20, overlap: false })) {
    onBytes(chunk);
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      if (newline < 0) break;
      let bytes = chunk.subarray(start, newline);
      if (carry) {
        bytes = Buffer.concat([carry, bytes]);
        carry = undefined;
      }
      yield { bytes, number: ++number, last: false, tooLong: bytes.length > maxLine };
      start = newline + 1;
    }
    if (start < chunk.length) {
      // A copy: the chunk's memory is reused for the next read (and Buffer's slice is a view).
      const rest = new Uint8Array(chunk.subarray(start));
      carry = carry ? Buffer.concat([carry, rest]) : rest;
      if (carry.length > maxLine) {
        yield { bytes: carry, number: ++number, last: false, tooLong: true };
        return;
      }
    }
  }
  if (carry) yield { bytes: carry, number: ++number, last: true, tooLong: false };
}
