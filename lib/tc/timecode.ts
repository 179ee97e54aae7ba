/**
 * SMPTE 12M timecode with integer frame math. A `Timecode` is a frame count since midnight
 * plus the rate and counting mode that give it a label; every conversion goes through the
 * frame count, so nothing is rounded on the way.
 */
import { usageError } from "../core/errors.ts";
import { allowsDropFrame, type FrameRate } from "./rate.ts";

/** A rational number of seconds, `num/den`. */
export interface Seconds {
  readonly num: number;
  readonly den: number;
}

/** Frames in one timecode hour. At 29.97 NDF that is 108000 labels, not 29.97 × 3600 rounded. */
export function framesPerHour(rate: FrameRate, dropFrame: boolean): number {
  return 6 * framesPerTenMinutes(rate, dropFrame);
}

/** Frames in one 24-hour timecode day: where the labels wrap to 00:00:00:00. */
export function framesPerDay(rate: FrameRate, dropFrame: boolean): number {
  return 24 * framesPerHour(rate, dropFrame);
}

function framesPerTenMinutes(rate: FrameRate, dropFrame: boolean): number {
  return rate.base * 600 - (dropFrame ? 9 * rate.dropPerMinute : 0);
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/**
 * A timecode: a frame position within the day at a frame rate, drop-frame or not.
 *
 * @example
 * ```ts
 * import { parseRate } from "./rate.ts";
 * import { Timecode } from "./timecode.ts";
 * const rate = parseRate("29.97");
 * const tc = Timecode.parse("00:01:00;02", rate);
 * tc.frames; // 1800
 * tc.add(-1).toString(); // "00:00:59;29"
 * ```
 */
export class Timecode {
  /** Frames since 00:00:00:00, always in [0, framesPerDay). */
  readonly frames: number;
  readonly rate: FrameRate;
  readonly dropFrame: boolean;

  private constructor(frames: number, rate: FrameRate, dropFrame: boolean) {
    this.frames = frames;
    this.rate = rate;
    this.dropFrame = dropFrame;
  }

  /** The timecode `frames` after midnight; wraps around the 24-hour day either way. */
  static fromFrames(frames: number, rate: FrameRate, dropFrame = false): Timecode {
    if (!Number.isSafeInteger(frames)) throw usageError(`frame count ${frames} is not a whole number`);
    if (dropFrame && !allowsDropFrame(rate)) throw usageError(`drop-frame timecode does not exist at ${rate.label} fps`);
    const day = framesPerDay(rate, dropFrame);
    return new Timecode(((frames % day) + day) % day, rate, dropFrame);
  }

  /**
   * Parses `HH:MM:SS:FF` (non-drop) or `HH:MM:SS;FF` / `HH:MM:SS.FF` (drop-frame). `dropFrame`
   * forces a counting mode; a label whose separator says otherwise is refused. A drop-frame label
   * that is skipped in drop-frame counting (e.g. `00:01:00;00`) is an error, never shifted.
   */
  static parse(text: string, rate: FrameRate, options: { dropFrame?: boolean } = {}): Timecode {
    const match = /^(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.])(\d{2,3})$/.exec(text.trim());
    if (!match) throw usageError(`invalid timecode '${text}': expected HH:MM:SS:FF (or HH:MM:SS;FF for drop-frame)`);
    const [, hh, mm, ss, sep, ff] = match;
    const labelDrop = sep !== ":";
    if (options.dropFrame !== undefined && options.dropFrame !== labelDrop) {
      // A ':' label read as drop-frame is common in EDLs with FCM: DROP FRAME; the other way is a contradiction.
      if (labelDrop) throw usageError(`timecode '${text}' is drop-frame but non-drop-frame was asked for`);
    }
    const dropFrame = options.dropFrame ?? labelDrop;
    if (dropFrame && !allowsDropFrame(rate)) {
      throw usageError(`timecode '${text}': drop-frame does not exist at ${rate.label} fps (only 29.97 and 59.94)`);
    }
    const [h, m, s, f] = [Number(hh), Number(mm), Number(ss), Number(ff)];
    if (h > 23 || m > 59 || s > 59 || f >= rate.base) {
      throw usageError(`invalid timecode '${text}': fields out of range at ${rate.label} fps (HH<24, MM<60, SS<60, FF<${rate.base})`);
    }
    const minutes = h * 60 + m;
    let frames = (minutes * 60 + s) * rate.base + f;
    if (dropFrame) {
      if (s === 0 && f < rate.dropPerMinute && m % 10 !== 0) {
        throw usageError(`invalid drop-frame timecode '${text}': frames 00–${pad(rate.dropPerMinute - 1)} of minute ${pad(m)} are skipped at ${rate.label} DF`);
      }
      frames -= rate.dropPerMinute * (minutes - Math.floor(minutes / 10));
    }
    return new Timecode(frames, rate, dropFrame);
  }

  /** The label, `HH:MM:SS:FF` or `HH:MM:SS;FF`. */
  toString(): string {
    let n = this.frames;
    if (this.dropFrame) {
      const drop = this.rate.dropPerMinute;
      const tenMinutes = framesPerTenMinutes(this.rate, true);
      const minute = this.rate.base * 60 - drop;
      const blocks = Math.floor(n / tenMinutes);
      const rest = n % tenMinutes;
      n += 9 * drop * blocks + (rest >= drop ? drop * Math.floor((rest - drop) / minute) : 0);
    }
    const f = n % this.rate.base;
    const totalSeconds = Math.floor(n / this.rate.base);
    const label = `${pad(Math.floor(totalSeconds / 3600))}:${pad(Math.floor(totalSeconds / 60) % 60)}:${pad(totalSeconds % 60)}`;
    return `${label}${this.dropFrame ? ";" : ":"}${pad(f)}`;
  }

  /** This timecode moved by `frames` (negative goes back), wrapping at midnight. */
  add(frames: number): Timecode {
    return Timecode.fromFrames(this.frames + frames, this.rate, this.dropFrame);
  }

  /** Frames from `other` forward to this one, in [0, framesPerDay): crossing midnight counts forward. */
  since(other: Timecode): number {
    this.#assertSameClock(other);
    const day = framesPerDay(this.rate, this.dropFrame);
    return (this.frames - other.frames + day) % day;
  }

  /** Orders two timecodes on the same clock by label (no wrap): negative, 0 or positive. */
  compare(other: Timecode): number {
    this.#assertSameClock(other);
    return this.frames - other.frames;
  }

  /** Whether both name the same frame on the same clock. */
  equals(other: Timecode): boolean {
    return this.rate === other.rate && this.dropFrame === other.dropFrame && this.frames === other.frames;
  }

  /** Real time since midnight as an exact rational. */
  seconds(): Seconds {
    return framesToSeconds(this.frames, this.rate);
  }

  #assertSameClock(other: Timecode): void {
    if (this.rate !== other.rate || this.dropFrame !== other.dropFrame) {
      throw usageError(`cannot compare ${this} (${this.rate.label}${this.dropFrame ? " DF" : ""}) with ${other} (${other.rate.label}${other.dropFrame ? " DF" : ""})`);
    }
  }
}

/** The duration of `frames` frames as an exact rational number of seconds. */
export function framesToSeconds(frames: number, rate: FrameRate): Seconds {
  return { num: frames * rate.den, den: rate.num };
}

/** The duration of `frames` frames in whole microseconds, floored (a seek that lands on or before the frame). */
export function framesToMicroseconds(frames: number, rate: FrameRate): bigint {
  const num = BigInt(frames) * BigInt(rate.den) * 1_000_000n;
  const den = BigInt(rate.num);
  const q = num / den;
  return num < 0n && q * den !== num ? q - 1n : q;
}

/** Microseconds as seconds with six decimals, the form ffmpeg's `-ss` reads: 1001 → "0.001001". */
export function formatMicroseconds(us: bigint): string {
  const sign = us < 0n ? "-" : "";
  const abs = us < 0n ? -us : us;
  return `${sign}${abs / 1_000_000n}.${String(abs % 1_000_000n).padStart(6, "0")}`;
}

/**
 * A span of frames on one clock: `in` is the first frame, `out` the first frame after it — the
 * convention of EDL source and record times.
 *
 * @example
 * ```ts
 * import { parseRate } from "./rate.ts";
 * import { Timecode, TimecodeRange } from "./timecode.ts";
 * const rate = parseRate("25");
 * const range = new TimecodeRange(Timecode.parse("01:00:00:00", rate), Timecode.parse("01:00:01:00", rate));
 * range.duration; // 25
 * ```
 */
export class TimecodeRange {
  readonly in: Timecode;
  readonly out: Timecode;

  constructor(inPoint: Timecode, outPoint: Timecode) {
    this.in = inPoint;
    this.out = outPoint;
    inPoint.since(outPoint); // same clock
  }

  /** Frames in the range; a range that crosses midnight counts forward over it. */
  get duration(): number {
    return this.out.since(this.in);
  }

  /** The range grown by `before` frames at the in point and `after` frames at the out point. */
  extend(before: number, after = before): TimecodeRange {
    return new TimecodeRange(this.in.add(-before), this.out.add(after));
  }

  /** Whether the frame `tc` lies in [in, out). */
  contains(tc: Timecode): boolean {
    return tc.since(this.in) < this.duration;
  }

  toString(): string {
    return `${this.in}-${this.out}`;
  }
}
