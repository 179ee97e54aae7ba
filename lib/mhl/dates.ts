/**
 * Dates as the reference writes them: local time with its UTC offset, no fractions
 * (`2020-01-17T14:30:00+00:00`), and the UTC stamp in generation file names
 * (`2020-01-17_143000Z`). The clock is injectable for tests and reproducible runs.
 */
import { usageError } from "../core/errors.ts";
import { flatString } from "../core/names.ts";

/** Environment variable that fixes "now" (any date `Date` parses, e.g. `2020-01-17T14:30:00Z`). */
export const NOW_VARIABLE = "CARTKIT_MHL_NOW";

/** The current time, or the one fixed by {@link NOW_VARIABLE}. */
export function now(): Date {
  const fixed = process.env[NOW_VARIABLE];
  if (fixed === undefined || fixed === "") return new Date();
  const date = new Date(fixed);
  if (Number.isNaN(date.getTime())) throw usageError(`${NOW_VARIABLE}: invalid date '${fixed}'`);
  return date;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/**
 * ISO 8601 in local time with the offset, seconds precision.
 * @example
 * isoDate(new Date("2020-01-17T14:30:00Z")); // "2020-01-17T14:30:00+00:00" with TZ=UTC
 */
export function isoDate(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new RangeError("not a date: a time past ±275,760 years");
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  // xs:dateTime: at least four digits of year; before year 1 a minus and the year BC (XSD 1.0
  // has no year 0: the year JavaScript numbers 0 is 1 BC, -0001).
  const year = date.getFullYear();
  return `${year <= 0 ? `-${pad(1 - year, 4)}` : pad(year, 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The last {@link isoDateOfMs} answer: the files of a tree were mostly written in the same few seconds. */
let lastSecond = Number.NaN;
let lastIso = "";

/**
 * {@link isoDate} of a time in milliseconds (a file's mtime), the same text; a time in the same
 * second as the one before is not converted again (local time and its offset cost more than
 * hashing a small file), and the files of that second share one string, stored in one piece.
 * @example
 * isoDateOfMs(Date.parse("2020-01-17T14:30:00.250Z")); // "2020-01-17T14:30:00+00:00" with TZ=UTC
 */
export function isoDateOfMs(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    lastIso = flatString(isoDate(new Date(ms)));
    lastSecond = second;
  }
  return lastIso;
}

/** The UTC stamp in a generation file name, e.g. `2020-01-17_143000Z`. */
export function fileNameStamp(date: Date): string {
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}_${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
}

/** The local date in a collection folder name, e.g. `2020-01-17`. */
export function localDay(date: Date): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
