/**
 * Frame rates as exact rationals, and the timecode rules each one allows. Only the SMPTE 12M
 * rates are known: at any other rate there is no agreed timecode labelling, so it is refused.
 */
import { usageError } from "../core/errors.ts";

/** A video frame rate `num/den` frames per second and the timecode it carries. */
export interface FrameRate {
  /** Frames per second, numerator (e.g. 30000). */
  readonly num: number;
  /** Frames per second, denominator (e.g. 1001). */
  readonly den: number;
  /** Frame numbers per timecode second: 30 at 29.97 (the counting base of the labels). */
  readonly base: number;
  /** Frame numbers skipped each minute (except every tenth) in drop-frame counting; 0 = not allowed. */
  readonly dropPerMinute: number;
  /** The usual name: "29.97", "24", "23.976". */
  readonly label: string;
}

function rate(num: number, den: number, label: string, dropPerMinute = 0): FrameRate {
  return Object.freeze({ num, den, base: Math.round(num / den), dropPerMinute, label });
}

/** Every rate tc-extract knows, by name. Drop-frame exists only at 29.97 and 59.94. */
export const FRAME_RATES: readonly FrameRate[] = Object.freeze([rate(24000, 1001, "23.976"), rate(24, 1, "24"), rate(25, 1, "25"), rate(30000, 1001, "29.97", 2), rate(30, 1, "30"), rate(48000, 1001, "47.952"), rate(48, 1, "48"), rate(50, 1, "50"), rate(60000, 1001, "59.94", 4), rate(60, 1, "60")]);

const ALIASES: Record<string, string> = { "23.98": "23.976", "29.97": "29.97", "47.95": "47.952", "59.94": "59.94" };

/** The rate whose exact value is `num/den` (any reduced or unreduced form), or undefined. */
export function rateOfRatio(num: number, den: number): FrameRate | undefined {
  if (!(den > 0)) return undefined;
  return FRAME_RATES.find((r) => r.num * den === num * r.den);
}

/**
 * The rate a stored frame rate stands for: exact (`30000/1001`), or the SMPTE rate within 0.01%
 * of it, as a file with a 2997 time scale stores 29.97 (`2997/100`). 23.976 and 24 differ by
 * 0.1%, so no two rates are confused.
 * @example
 * rateNear(2997, 100)?.label; // "29.97"
 */
export function rateNear(num: number, den: number): FrameRate | undefined {
  if (!(den > 0) || !(num > 0)) return undefined;
  const exact = rateOfRatio(num, den);
  if (exact) return exact;
  const value = num / den;
  return FRAME_RATES.find((r) => Math.abs(value - r.num / r.den) <= (r.num / r.den) * 1e-4);
}

/**
 * Parses a frame rate: a name (`23.976`, `23.98`, `29.97`, `59.94`, `25`), a rational
 * (`30000/1001`, as ffprobe prints it) or an integer rate.
 *
 * @example
 * ```ts
 * import { parseRate } from "./rate.ts";
 * parseRate("30000/1001").label; // "29.97"
 * parseRate("23.98").num; // 24000
 * ```
 */
export function parseRate(text: string): FrameRate {
  const value = text.trim();
  const ratio = /^(\d+)\/(\d+)$/.exec(value);
  const found = ratio ? rateOfRatio(Number(ratio[1]), Number(ratio[2])) : FRAME_RATES.find((r) => r.label === (ALIASES[value] ?? value.replace(/\.0+$/, "")));
  if (!found) {
    throw usageError(`unsupported frame rate '${text}': use one of ${FRAME_RATES.map((r) => r.label).join(", ")} (or num/den)`);
  }
  return found;
}

/** Whether drop-frame counting is defined at this rate (29.97 and 59.94 only). */
export function allowsDropFrame(rate: FrameRate): boolean {
  return rate.dropPerMinute > 0;
}

/** `num/den` as ffmpeg's `-r` accepts it, e.g. "30000/1001". */
export function rateRatio(rate: FrameRate): string {
  return `${rate.num}/${rate.den}`;
}
