/**
 * Timecode arithmetic as written on a command line: `01:00:00:00+48`,
 * `01:00:10:00-01:00:00:00`, `86400`. Every operand becomes a frame count; the result is a
 * frame count that the caller prints as frames, timecode or seconds.
 */
import { usageError } from "../core/errors.ts";
import type { FrameRate } from "./rate.ts";
import { formatMicroseconds, framesToMicroseconds, Timecode } from "./timecode.ts";

/** What an expression evaluated to. */
export interface TimecodeValue {
  /** The result in frames (a position, or a difference when timecodes were subtracted). */
  frames: number;
  /** Whether the expression started with a timecode label (so a plain conversion prints frames). */
  startsWithTimecode: boolean;
  /** The counting mode used: forced, or taken from the first drop-frame label. */
  dropFrame: boolean;
}

/** The output forms of `tc-extract tc --to`. */
export type TimecodeForm = "frames" | "tc" | "seconds";

const TIMECODE = /^\d{1,2}[:;.]\d{2}[:;.]\d{2}[:;.]\d{2,3}$/;

/**
 * Evaluates `OPERAND ((+|-) OPERAND)*` where an operand is a timecode label or a frame number.
 *
 * @example
 * ```ts
 * import { parseRate } from "./rate.ts";
 * import { evaluateTimecode } from "./expression.ts";
 * evaluateTimecode("01:00:10:00-01:00:00:00", parseRate("25")).frames; // 250
 * ```
 */
export function evaluateTimecode(text: string, rate: FrameRate, dropFrame?: boolean): TimecodeValue {
  const expression = text.trim();
  const tokens = expression.split(/([+-])/).map((t) => t.trim());
  if (tokens.length === 0 || tokens.some((t, i) => i % 2 === 0 && t === "")) {
    throw usageError(`invalid value '${text}': expected a timecode, a frame number, or A+B / A-B of them`);
  }
  const first = tokens[0]!;
  const startsWithTimecode = TIMECODE.test(first);
  const labels = tokens.filter((t, i) => i % 2 === 0 && TIMECODE.test(t));
  const dropLabels = labels.filter((t) => /[;.]\d+$/.test(t));
  if (dropFrame === undefined && dropLabels.length > 0 && dropLabels.length < labels.length) {
    throw usageError(`invalid value '${text}': it mixes drop-frame (;) and non-drop-frame (:) labels; pass --df or --ndf to say how to count them`);
  }
  const mode = dropFrame ?? dropLabels.length > 0;
  let frames = 0;
  for (let i = 0; i < tokens.length; i += 2) {
    const sign = i === 0 || tokens[i - 1] === "+" ? 1 : -1;
    frames += sign * operandFrames(tokens[i]!, rate, mode, text);
  }
  return { frames, startsWithTimecode, dropFrame: mode };
}

function operandFrames(token: string, rate: FrameRate, dropFrame: boolean, text: string): number {
  if (TIMECODE.test(token)) return Timecode.parse(token, rate, { dropFrame }).frames;
  if (/^\d+$/.test(token)) {
    const n = Number(token);
    if (!Number.isSafeInteger(n)) throw usageError(`frame number '${token}' is too large`);
    return n;
  }
  throw usageError(`invalid value '${text}': '${token}' is neither a timecode (HH:MM:SS:FF) nor a frame number`);
}

/**
 * Prints a value in a form. Timecode wraps around the 24-hour day; frames and seconds keep the
 * sign of a negative difference.
 */
export function formatTimecodeValue(value: TimecodeValue, form: TimecodeForm, rate: FrameRate): string {
  switch (form) {
    case "frames":
      return String(value.frames);
    case "tc":
      return Timecode.fromFrames(value.frames, rate, value.dropFrame).toString();
    case "seconds":
      return formatMicroseconds(framesToMicroseconds(value.frames, rate));
  }
}
