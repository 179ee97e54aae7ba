/**
 * Sizes, rates and durations as people type and read them: `8MiB`, `8M`, `8388608`, `50MB/s`.
 * Parse errors name the bad value.
 */
import { usageError } from "./errors.ts";

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

/**
 * Parses a byte count: a whole number with an optional unit (`K`/`M`/`G`/`T` and `KiB`… are
 * powers of 1024, `KB`/`MB`… powers of 1000).
 * @example
 * parseSize("8MiB"); // 8388608
 * parseSize("8M");   // 8388608
 * parseSize("1GB");  // 1000000000
 */
export function parseSize(text: string, what = "size"): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw usageError(`invalid ${what} '${text}'; use a number of bytes with an optional unit, e.g. 8388608, 8M, 8MiB, 1GB`);
  }
  const value = Math.round(Number(match[1]) * unit);
  if (!Number.isSafeInteger(value)) throw usageError(`invalid ${what} '${text}': too large`);
  return value;
}

/**
 * Parses a transfer rate: a size per second, `/s` optional.
 * @example
 * parseByteRate("200MB/s"); // 200000000
 * parseByteRate("64MiB");   // 67108864
 */
export function parseByteRate(text: string, what = "rate"): number {
  return parseSize(text.replace(/\/s\s*$/i, ""), what);
}

/** Parses a positive whole number for a flag, naming the flag on error. */
export function parseCount(text: string, flag: string, min = 1): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min) {
    throw usageError(`invalid value '${text}' for ${flag}; expected a whole number of at least ${min}`);
  }
  return Number(text);
}

/** Formats bytes with a binary unit, e.g. "1.5 GiB". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[i]}`;
}

/** Formats seconds as `1:02:03` or `2:03` or `5s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * Parses a duration: a whole number with `s`, `m`, `h`, `d` or `w` (seconds when bare), or
 * several of them together.
 * @example
 * parseDuration("7d");    // 604800
 * parseDuration("1h30m"); // 5400
 * parseDuration("90");    // 90
 */
export function parseDuration(text: string, what = "duration"): number {
  const trimmed = text.trim().toLowerCase();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const parts = [...trimmed.matchAll(/(\d+)([smhdw])/g)];
  if (!trimmed || parts.map((p) => p[0]).join("") !== trimmed) {
    throw usageError(`invalid ${what} '${text}'; use a number with s, m, h, d or w, e.g. 90s, 12h, 7d, 1h30m`);
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]!]!, 0);
}
