/**
 * The lines of an EDL, read a chunk at a time with a bounded line length: a list of a million
 * events costs one chunk and one line of memory, and a hostile file that is one 1 GB line is
 * refused after its first MiB, never held (a line past the limit is only counted, up to 1 MiB,
 * so that the error can say how long it is).
 *
 * Lines end at `\n`, `\r\n` or a lone `\r` (lists from old Macs). Each line is decoded as a
 * name (lib/core/names.ts): UTF-8 as usual, and each byte that is not UTF-8 (a list saved in
 * Latin-1 or Windows-1252) as one escaped byte, so clip names match the bytes of file names and
 * are shown escaped, never guessed.
 */
import { closeSync, openSync } from "node:fs";
import { CliError, describeSystemError } from "../core/errors.ts";
import { fsPath, nameFromBytes, showName } from "../core/names.ts";
import { readChunks } from "../io/reader.ts";

/** Longest line read, in characters: far beyond any CMX 3600 line (comments included), far below a hostile one. */
export const MAX_LINE_CHARS = 4096;
/** How far a longer line is still counted (read, never held) so that the error can say how long it is. */
export const COUNT_LIMIT = 1 << 20;

/** One line of the list: its text, or the news that it is longer than the limit. */
export type ListLine =
  | { number: number; text: string; tooLong?: undefined; length?: undefined }
  /**
   * A line longer than the limit: its length in characters, or null when it is longer than
   * {@link COUNT_LIMIT} (given as soon as it passes that; the rest is skipped unread by a
   * caller that stops, never held by one that goes on).
   */
  | { number: number; text?: undefined; tooLong: true; length: number | null };

const LF = 0x0a;
const CR = 0x0d;

/**
 * The lines in a sequence of byte chunks (a leading UTF-8 byte order mark is dropped). Lengths
 * are in characters: bytes that do not continue a UTF-8 sequence.
 *
 * @example
 * ```ts
 * import { linesOfChunks } from "./edl_lines.ts";
 * [...linesOfChunks([new TextEncoder().encode("TITLE: A\r\n001")])].map((l) => l.text); // ["TITLE: A", "001"]
 * ```
 */
export function* linesOfChunks(chunks: Iterable<Uint8Array>, maxChars = MAX_LINE_CHARS, countLimit = COUNT_LIMIT): Generator<ListLine> {
  // Four bytes at the most for each character.
  const line = new Uint8Array(maxChars * 4);
  let length = 0;
  let chars = 0;
  /** store: the line fits so far; count: too long, still counted; skip: too long and said so. */
  let mode: "store" | "count" | "skip" = "store";
  let number = 1;
  let afterCr = false;
  const finish = (): ListLine | undefined => {
    const done: ListLine | undefined = mode === "store" ? { number, text: decode(line.subarray(0, length), number === 1) } : mode === "count" ? { number, tooLong: true, length: chars } : undefined;
    number++;
    length = 0;
    chars = 0;
    mode = "store";
    return done;
  };
  /** Adds a piece of the current line; the news when it passes the counting limit. */
  const append = (bytes: Uint8Array): ListLine | undefined => {
    if (mode === "skip") return undefined;
    for (let i = 0; i < bytes.length; i++) if ((bytes[i]! & 0xc0) !== 0x80) chars++;
    if (mode === "store") {
      if (chars <= maxChars) {
        line.set(bytes, length);
        length += bytes.length;
        return undefined;
      }
      mode = "count";
    }
    if (chars > countLimit) {
      mode = "skip";
      return { number, tooLong: true, length: null };
    }
    return undefined;
  };
  for (const chunk of chunks) {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte !== LF && byte !== CR) continue;
      if (byte === LF && afterCr && i === start) {
        // The \n of a \r\n split across chunks (or right after a \r line end).
        afterCr = false;
        start = i + 1;
        continue;
      }
      const piece = append(chunk.subarray(start, i));
      if (piece) yield piece;
      const done = finish();
      if (done) yield done;
      afterCr = byte === CR;
      start = i + 1;
      if (afterCr && i + 1 < chunk.length && chunk[i + 1] === LF) {
        start = i + 2;
        i++;
        afterCr = false;
      }
    }
    if (start < chunk.length) {
      afterCr = false;
      const piece = append(chunk.subarray(start));
      if (piece) yield piece;
    }
  }
  if (length > 0 || mode !== "store") {
    const done = finish();
    if (done) yield done;
  }
}

function decode(bytes: Uint8Array, first: boolean): string {
  const text = nameFromBytes(bytes);
  return first && text.startsWith("\uFEFF") ? text.slice(1) : text;
}

/** The lines of a string (for lists already in memory, and for tests). */
export function linesOfText(text: string): Generator<ListLine> {
  return linesOfChunks([new TextEncoder().encode(text)]);
}

/**
 * The lines of the file at `path`, read 64 KiB at a time. The file is closed when the loop
 * ends, however it ends.
 * @throws CliError (exit 2) naming the file when it cannot be opened or read.
 */
export function* linesOfFile(path: string): Generator<ListLine> {
  let fd: number;
  try {
    fd = openSync(fsPath(path), "r");
  } catch (error) {
    throw new CliError(`cannot read: ${describeSystemError(error)}`, { path: showName(path) });
  }
  try {
    yield* linesOfChunks(guardedChunks(fd, path));
  } finally {
    closeSync(fd);
  }
}

function* guardedChunks(fd: number, path: string): Generator<Uint8Array> {
  const chunks = readChunks(fd, { chunkSize: 64 << 10, overlap: false });
  for (;;) {
    let next: IteratorResult<Uint8Array>;
    try {
      next = chunks.next();
    } catch (error) {
      throw new CliError(`cannot read: ${describeSystemError(error)}`, { path: showName(path) });
    }
    if (next.done) return;
    yield next.value;
  }
}
