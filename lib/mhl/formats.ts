/**
 * The hash formats an ASC MHL v2.0 file may hold, in the order the XSD lists them, and the
 * conversions between their printed form and their digest bytes.
 */
import { sha512FromC4 } from "../hash/c4.ts";
import type { Algorithm } from "../hash/algorithms.ts";
import { usageError } from "../core/errors.ts";

/** Hash formats of ASC MHL v2.0, in the XSD's element order (also alphabetical). */
export const HASH_FORMATS = ["c4", "md5", "sha1", "xxh128", "xxh3", "xxh64"] as const;

/** One of {@link HASH_FORMATS}. */
export type HashFormat = (typeof HASH_FORMATS)[number];

/** The format `create` uses when none is given, as in the reference. */
export const DEFAULT_HASH_FORMAT: HashFormat = "xxh128";

/** True when `name` is an MHL hash format element name. */
export function isHashFormat(name: string): name is HashFormat {
  return (HASH_FORMATS as readonly string[]).includes(name);
}

/**
 * Parses a `-h` value.
 * @throws {CliError} (usage) naming the value and the accepted formats.
 */
export function parseHashFormat(name: string): HashFormat {
  const lower = name.trim().toLowerCase();
  if (isHashFormat(lower)) return lower;
  throw usageError(`invalid hash format '${name}'; use one of: ${HASH_FORMATS.join(", ")}`);
}

/** The hasher registry's name for a format (they coincide today; kept apart on purpose). */
export function algorithmOf(format: HashFormat): Algorithm {
  return format;
}

/** Sorts formats into the XSD's order, dropping duplicates. */
export function inXsdOrder(formats: Iterable<HashFormat>): HashFormat[] {
  const set = new Set(formats);
  return HASH_FORMATS.filter((f) => set.has(f));
}

/** A printed hash as compared: hex in lower case; a C4 ID as written (base58 is case-sensitive). */
export function normalizeDigest(format: HashFormat, printed: string): string {
  return format === "c4" ? printed.trim() : printed.trim().toLowerCase();
}

/**
 * The digest bytes behind a printed hash: hex for every format but c4, whose ID is base58.
 * @throws {Error} when the text is not a well-formed digest of that format.
 */
export function digestBytes(format: HashFormat, printed: string): Uint8Array {
  if (format === "c4") {
    const bytes = sha512FromC4(printed);
    if (!bytes) throw new Error(`'${printed}' is not a C4 ID`);
    return bytes;
  }
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(printed)) throw new Error(`'${printed}' is not a ${format} hex digest`);
  // A copy (not Uint8Array.from, which reads a Buffer element by element): once per file.
  return new Uint8Array(Buffer.from(printed, "hex"));
}

/**
 * {@link digestBytes} written into `target` at `offset`, with no array of its own.
 * @returns the number of bytes written.
 * @throws {Error} when the text is not a well-formed digest of that format.
 */
export function digestInto(format: HashFormat, printed: string, target: Buffer, offset: number): number {
  if (format === "c4") {
    const bytes = digestBytes(format, printed);
    target.set(bytes, offset);
    return bytes.length;
  }
  // Buffer#write stops at the first character that is not hex: a short write is a bad digest.
  const written = printed.length % 2 === 0 ? target.write(printed, offset, "hex") : -1;
  if (written * 2 !== printed.length || written === 0) throw new Error(`'${printed}' is not a ${format} hex digest`);
  return written;
}
