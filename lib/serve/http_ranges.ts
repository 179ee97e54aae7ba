/**
 * HTTP range requests and conditional requests as RFC 9110 defines them (sections 13 and 14):
 * the `Range` header against a representation's length, the preconditions (`If-Match`,
 * `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since`) in the order 13.2.2 gives, and
 * `If-Range`. Pure functions of header values: the server decides the status from what they
 * return.
 */

/** Bytes `[start, end)` of a representation. */
export interface ByteRange {
  start: number;
  /** Exclusive. */
  end: number;
}

/** What a `Range` header asks for, once read against the representation's length. */
export type RangeAnswer =
  /** No `Range`, or one that is ignored (another unit, invalid syntax, too many ranges): the whole representation, 200. */
  | { kind: "whole" }
  /** One or more satisfiable ranges, overlapping and adjacent ones merged, in the order asked: 206. */
  | { kind: "ranges"; ranges: ByteRange[] }
  /** None of the ranges overlaps the representation: 416 with `Content-Range: bytes *\/LEN`. */
  | { kind: "unsatisfiable" };

/** Most range-specs read from one header; a longer list is ignored (RFC 9110 14.2 allows it: a broken client or an attack). */
export const MAX_RANGES = 100;

const OWS = /^[ \t]+|[ \t]+$/g;

/**
 * Reads a `Range` header for a representation of `length` bytes (RFC 9110 14.1.1, 14.2).
 * `bytes=0-99` is the first 100 bytes, `bytes=100-` everything from 100, `bytes=-100` the last
 * 100; a last position past the end is cut to the end. A range-spec whose last position is
 * before its first makes the whole header invalid, and an invalid header is ignored.
 *
 * @example
 * parseRange("bytes=0-99, -10", 1000); // { kind: "ranges", ranges: [{ start: 0, end: 100 }, { start: 990, end: 1000 }] }
 * parseRange("bytes=2000-", 1000); // { kind: "unsatisfiable" }
 * parseRange("bytes=5-1", 1000); // { kind: "whole" }
 */
export function parseRange(header: string | null | undefined, length: number): RangeAnswer {
  if (header === null || header === undefined) return { kind: "whole" };
  const match = /^bytes=(.*)$/is.exec(header);
  if (!match) return { kind: "whole" };
  // 1#range-spec: elements separated by commas with optional whitespace; empty elements are allowed and skipped.
  const specs = match[1]!
    .split(",")
    .map((s) => s.replace(OWS, ""))
    .filter((s) => s !== "");
  if (specs.length === 0 || specs.length > MAX_RANGES) return { kind: "whole" };
  const wanted: ByteRange[] = [];
  let satisfiableSuffix = false;
  for (const spec of specs) {
    const int = /^(\d+)-(\d*)$/.exec(spec);
    if (int) {
      const first = Number(int[1]);
      const last = int[2] === "" ? Infinity : Number(int[2]);
      if (last < first) return { kind: "whole" };
      if (first < length) wanted.push({ start: first, end: Math.min(last + 1, length) });
      continue;
    }
    const suffix = /^-(\d+)$/.exec(spec);
    if (!suffix) return { kind: "whole" };
    const count = Number(suffix[1]);
    if (count === 0) continue;
    satisfiableSuffix = true;
    if (length > 0) wanted.push({ start: Math.max(0, length - count), end: length });
  }
  if (wanted.length === 0) {
    // A non-zero suffix of an empty representation is satisfiable but names no byte: send it whole.
    return satisfiableSuffix ? { kind: "whole" } : { kind: "unsatisfiable" };
  }
  return { kind: "ranges", ranges: coalesce(wanted) };
}

/**
 * Merges ranges that overlap or touch (RFC 9110 14.6 lets a server coalesce them), keeping the
 * order in which they were first asked for.
 */
export function coalesce(ranges: readonly ByteRange[]): ByteRange[] {
  const out: ByteRange[] = [];
  for (const range of ranges) {
    let merged = { ...range };
    // Where the earliest range it absorbs stood; -1 while it absorbed none.
    let at = -1;
    for (let changed = true; changed; ) {
      changed = false;
      for (let i = 0; i < out.length; i++) {
        const other = out[i]!;
        if (merged.start > other.end || other.start > merged.end) continue;
        merged = { start: Math.min(merged.start, other.start), end: Math.max(merged.end, other.end) };
        out.splice(i, 1);
        at = at === -1 ? i : Math.min(at, i);
        changed = true;
        break;
      }
    }
    if (at === -1) out.push(merged);
    else out.splice(at, 0, merged);
  }
  return out;
}

/** The validators of a representation. */
export interface Validators {
  /** A strong entity-tag, quoted (`"xxh128-…"`), when the content's digest is known. */
  etag?: string;
  /** Last modification, in whole seconds since the epoch (HTTP dates have no finer grain). */
  lastModifiedSeconds?: number;
}

/** An entity-tag as read from a header: its opaque part and whether it was marked weak. */
interface EntityTag {
  weak: boolean;
  opaque: string;
}

/** The members of an `If-Match` / `If-None-Match` value: `*`, or entity-tags; undefined when malformed. */
function entityTags(value: string): "*" | EntityTag[] | undefined {
  if (value.trim() === "*") return "*";
  const tags: EntityTag[] = [];
  const pattern = /\s*(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)/gy;
  let consumed = 0;
  for (let m = pattern.exec(value); m !== null; m = pattern.exec(value)) {
    tags.push({ weak: m[1] !== undefined, opaque: m[2]! });
    consumed = pattern.lastIndex;
    if (consumed === value.length) break;
  }
  if (consumed !== value.length || tags.length === 0) return undefined;
  return tags;
}

/** The opaque part of our own (strong, quoted) entity-tag. */
function opaqueOf(etag: string): string {
  return etag.slice(1, -1);
}

/** An HTTP-date in whole seconds, or undefined when the value is not one. */
export function parseHttpDate(value: string): number | undefined {
  const text = value.trim();
  // IMF-fixdate, RFC 850 and asctime forms all name the weekday first.
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /.test(text)) return undefined;
  const ms = Date.parse(/GMT$/.test(text) ? text : `${text} GMT`);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/** Seconds since the epoch as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`). */
export function httpDate(seconds: number): string {
  return new Date(seconds * 1000).toUTCString();
}

/**
 * The outcome of the preconditions of a GET or HEAD (RFC 9110 13.2.2): 412 when `If-Match`
 * fails (or, without it, `If-Unmodified-Since`), 304 when `If-None-Match` matches (or, without
 * it, `If-Modified-Since` says unchanged), else 200 — go on and evaluate `Range`.
 */
export function evaluatePreconditions(header: (name: string) => string | null, validators: Validators): 200 | 304 | 412 {
  const ifMatch = header("if-match");
  if (ifMatch !== null) {
    const tags = entityTags(ifMatch);
    // Strong comparison: a weak tag never matches, and nothing matches a representation without one.
    const ok = tags === "*" || (tags !== undefined && validators.etag !== undefined && tags.some((t) => !t.weak && t.opaque === opaqueOf(validators.etag!)));
    if (!ok) return 412;
  } else {
    const since = header("if-unmodified-since");
    const date = since === null ? undefined : parseHttpDate(since);
    if (date !== undefined && validators.lastModifiedSeconds !== undefined && validators.lastModifiedSeconds > date) return 412;
  }
  const ifNoneMatch = header("if-none-match");
  if (ifNoneMatch !== null) {
    const tags = entityTags(ifNoneMatch);
    // Weak comparison: W/"x" matches "x".
    if (tags === "*") return 304;
    if (tags !== undefined && validators.etag !== undefined && tags.some((t) => t.opaque === opaqueOf(validators.etag!))) return 304;
    return 200;
  }
  const modifiedSince = header("if-modified-since");
  const date = modifiedSince === null ? undefined : parseHttpDate(modifiedSince);
  if (date !== undefined && validators.lastModifiedSeconds !== undefined && validators.lastModifiedSeconds <= date) return 304;
  return 200;
}

/**
 * Whether `Range` is to be honoured given `If-Range` (RFC 9110 13.1.5): true without the
 * header; with an entity-tag, only when it is strong and equal to the current one; with a date,
 * only when it is exactly the current `Last-Modified`.
 */
export function ifRangeHolds(value: string | null, validators: Validators): boolean {
  if (value === null) return true;
  const text = value.trim();
  if (text.startsWith('"') || text.startsWith("W/")) {
    const tags = entityTags(text);
    if (tags === undefined || tags === "*" || tags.length !== 1) return false;
    const tag = tags[0]!;
    return !tag.weak && validators.etag !== undefined && tag.opaque === opaqueOf(validators.etag);
  }
  const date = parseHttpDate(text);
  return date !== undefined && validators.lastModifiedSeconds !== undefined && date === validators.lastModifiedSeconds;
}
