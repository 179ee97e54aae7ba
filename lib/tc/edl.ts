/**
 * CMX 3600 edit decision lists: TITLE, FCM, event lines (cuts, dissolves, wipes), and the
 * comment lines editors attach to events (clip names, source files, locators, CDL, speed
 * changes), as Avid Media Composer, Premiere, Resolve, Final Cut (through XML-to-EDL tools) and
 * Nucoda write them.
 *
 * The parser reads a list line by line and hands each event out once nothing later in the list
 * can change it: memory is bounded by a window of recent events, never by the list's length. An
 * event keeps its timecodes as written; {@link eventNeed} says which source frames it needs at a
 * frame rate (its own length or what an M2 speed consumes, plus the frames a dissolve or wipe
 * plays past its out point), so a batch can read the labels at the rate of the media it finds.
 */
import { CliError } from "../core/errors.ts";
import { showLine } from "../core/names.ts";
import { COUNT_LIMIT, type ListLine, linesOfText, MAX_LINE_CHARS } from "./edl_lines.ts";
import { type FrameRate, parseRate } from "./rate.ts";
import { Timecode } from "./timecode.ts";

/** A `* LOC:` locator, or a Resolve marker line (`note |C:color |M:name |D:frames`). */
export interface EdlMarker {
  timecode: string;
  color: string | null;
  comment: string;
}

/** An `M2` speed change: `fps` frames per second of source per second of record (negative = reverse, 0 = freeze). */
export interface EdlSpeed {
  reel: string;
  fps: number;
  timecode: string;
}

/** One event line and everything attached to it. Timecodes are strings exactly as in the file. */
export interface EdlEvent {
  /** Event number as written ("001", "000123"). */
  event: string;
  reel: string;
  track: string;
  /** C, D, W### (wipe code). */
  transition: string;
  /** Dissolve or wipe length in frames; null for a cut. */
  transitionFrames: number | null;
  sourceIn: string;
  sourceOut: string;
  recordIn: string;
  recordOut: string;
  clipName: string | null;
  toClipName: string | null;
  sourceFile: string | null;
  markers: EdlMarker[];
  speed: EdlSpeed | null;
  /** A freeze frame (M2 at 0 fps or a `* FREEZE FRAME` comment). */
  freeze: boolean;
  /** `BL`/`BLACK` or `BARS`: no media to extract. */
  generator: "black" | "bars" | null;
  /** `* ASC_SOP` / `* ASC_SAT` values as written. */
  cdl: { sop: string | null; sat: string | null };
  /** `SPLIT:` lines (audio/video delay) as written. */
  splits: string[];
  /** Extra audio channels from `AUD` lines. */
  audio: string[];
  /** Every other comment line, without the leading `*`. */
  comments: string[];
  /** Whether FCM was DROP FRAME for this event. */
  dropFrame: boolean;
  /** In a two-line transition: `from` for the outgoing line, `to` for the incoming one; else null. */
  side: "from" | "to" | null;
  /** Frames past its own that a dissolve or wipe plays from it. */
  overlapFrames: number;
  /** 1-based line number of the event line. */
  line: number;
  /** The lines that follow it in the list up to the next event line (comments, M2, AUD, SPLIT, FCM), as written. */
  attached: string[];
}

/** The source frames an event needs at one rate. */
export interface EventNeed {
  /** First source frame. */
  in: Timecode;
  /** First frame after the ones it needs (exclusive). */
  out: Timecode;
  /** How many: 0 for black and bars. */
  frames: number;
}

/** Options of {@link EdlParser}. */
export interface EdlOptions {
  /**
   * Frame rate of the timecodes: every label is checked at it as it is read. Without it (and
   * with `labelsOnly`), labels are checked for their form only and read later at the rate of
   * the media ({@link eventNeed}).
   */
  rate?: FrameRate;
  /** Check labels for their form only; needs no rate. @default false */
  labelsOnly?: boolean;
  /** Skip malformed lines with a warning instead of failing. @default false */
  lenient?: boolean;
  /** Name used in error messages. */
  path?: string;
  /** Receives each warning in lenient mode: `line N: why (skipped)`, or `(read as one)` for a transition under two numbers. */
  onWarning?: (message: string) => void;
}

/** A whole parsed list (for lists already in memory). */
export interface Edl {
  title: string | null;
  rate: FrameRate;
  /** FCM in force at the start (before any event). */
  dropFrame: boolean;
  events: EdlEvent[];
  /** Warnings in lenient mode, as `line N: why (skipped)`. */
  warnings: string[];
}

const TRACK = /^(V|B|A\d*|AA|A\d*\/V|AA\/V|NONE)$/;
const TC = /^(\d{2})[:;.](\d{2})[:;.](\d{2})[:;.](\d{2,3})$/;
/** C0 controls but tab, DEL and C1 controls: never in a text list, never let into a name or a message. */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;
/** Comments some systems write without the leading `*` (Avid's `EFFECTS NAME IS …`, Premiere's clip names). */
const BARE_COMMENT = /^(FROM CLIP NAME|TO CLIP NAME|FROM CLIP|TO CLIP|FROM FILE|TO FILE|SOURCE FILE|LOC|ASC_SOP|ASC_SAT|EFFECTS NAME IS|FREEZE FRAME|AUDIO LEVEL AT)\b/i;
/** A Resolve marker: an optional note, then `|C:color |M:name |D:frames`. */
const RESOLVE_MARKER = /^(.*?)\s*\|C:(\S*)\s*\|M:(.*?)\s*\|D:(\d+)$/;
/** Events held back in case a later transition extends them: far more than sit between a cut and its dissolve. */
const WINDOW = 64;
/** Lines attached to one event, at most: a real list has a handful. */
const MAX_ATTACHED = 1000;

/** An error about one line of the list. */
function lineError(lineNo: number, message: string, path?: string): CliError {
  return new CliError(`line ${lineNo}: ${message}`, { path });
}

/**
 * The rate a list's timecodes are read at when none is given: 29.97 when any line says
 * `FCM: DROP FRAME`, else 24. Reads the lines once, a line at a time.
 */
export function listRate(lines: Iterable<ListLine>): FrameRate {
  for (const line of lines) if (line.text !== undefined && /^FCM:\s*DROP/i.test(line.text.trim())) return parseRate("29.97");
  return parseRate("24");
}

/**
 * Reads a CMX 3600 list line by line. A malformed line is an error naming its line number and
 * what was expected; with `lenient` it is skipped and reported through `onWarning`.
 *
 * @example
 * ```ts
 * import { EdlParser } from "./edl.ts";
 * import { linesOfText } from "./edl_lines.ts";
 * import { parseRate } from "./rate.ts";
 * const parser = new EdlParser({ rate: parseRate("24") });
 * for (const event of parser.events(linesOfText("001  AX  V  C  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n"))) {
 *   event.reel; // "AX"
 * }
 * ```
 */
export class EdlParser {
  /** The TITLE line's text. */
  title: string | null = null;
  /** FCM in force before the first event. */
  dropFrame = false;
  readonly rate: FrameRate | undefined;
  readonly #options: EdlOptions;
  /** Events not handed out yet, oldest first; the current group (one event number) at the end. */
  #pending: EdlEvent[] = [];
  /** Where the current group starts in #pending. */
  #groupStart = 0;
  #fcm = false;
  #sawEvent = false;

  constructor(options: EdlOptions = {}) {
    if (!options.rate && !options.labelsOnly) throw new TypeError("EdlParser needs a rate unless labelsOnly");
    this.#options = options;
    this.rate = options.labelsOnly ? undefined : options.rate;
  }

  /** The events of `lines`, each handed out once nothing later can change it. */
  *events(lines: Iterable<ListLine>): Generator<EdlEvent> {
    for (const line of lines) yield* this.push(line);
    yield* this.end();
  }

  /** Reads one line; returns the events it completed. */
  push(entry: ListLine): EdlEvent[] {
    if (entry.tooLong) {
      this.#fail(entry.number, `${entry.length === null ? `is longer than ${COUNT_LIMIT} characters` : `is ${entry.length} characters long`}; EDL lines are at most ${MAX_LINE_CHARS}`);
      return [];
    }
    if (CONTROL.test(entry.text)) {
      this.#fail(entry.number, "contains a control character (NUL or other); an EDL is plain text");
      return [];
    }
    const line = entry.text.trim();
    if (line === "") return [];
    try {
      this.#read(line, entry.number);
    } catch (error) {
      this.#fail(entry.number, (error as Error).message, error instanceof CliError && error.message.startsWith("line "));
    }
    return this.#ready(false);
  }

  /** Ends the list; returns the events still held. */
  end(): EdlEvent[] {
    this.#closeGroup();
    return this.#ready(true);
  }

  #fail(lineNo: number, message: string, numbered = false): void {
    const text = numbered ? message : `line ${lineNo}: ${message}`;
    if (!this.#options.lenient) throw new CliError(text, { path: this.#options.path });
    this.#options.onWarning?.(`${text} (skipped)`);
  }

  get #group(): EdlEvent[] {
    return this.#pending.slice(this.#groupStart);
  }

  #read(line: string, lineNo: number): void {
    const title = /^TITLE:\s*(.*)$/i.exec(line);
    if (title) {
      if (!this.#sawEvent) this.title = title[1]!.trim();
      else this.#attach(line);
      return;
    }
    const fcm = /^FCM:\s*(.*)$/i.exec(line);
    if (fcm) {
      const mode = fcm[1]!.trim().toUpperCase();
      let drop: boolean;
      if (/^DROP[ -]?FRAME$/.test(mode)) drop = true;
      else if (/^NON[ -]?DROP[ -]?FRAME$/.test(mode)) drop = false;
      else throw new Error(`expected 'FCM: DROP FRAME' or 'FCM: NON-DROP FRAME', got '${showLine(line)}'`);
      if (drop && this.rate && this.rate.dropPerMinute === 0) throw new Error(`FCM: DROP FRAME needs a 29.97 or 59.94 rate (given ${this.rate.label}); pass --rate`);
      this.#fcm = drop;
      if (!this.#sawEvent) this.dropFrame = drop;
      return;
    }
    if (line.startsWith("*") || BARE_COMMENT.test(line) || (line.includes("|C:") && RESOLVE_MARKER.test(line))) {
      const group = this.#group;
      if (group.length === 0) return; // header comments
      this.#attach(line);
      this.#comment(group, line.replace(/^\*\s*/, ""));
      return;
    }
    const fields = line.split(/[ \t]+/);
    const m2 = fields[0] === "M2" ? fields : fields[1] === "M2" ? fields.slice(1) : undefined;
    if (m2) {
      const group = this.#group;
      if (group.length === 0) throw new Error(`M2 line before any event`);
      const fps = Number(m2[2]);
      if (m2.length < 4 || !/^-?\d+(\.\d+)?$/.test(m2[2] ?? "") || !Number.isFinite(fps) || !TC.test(m2[3]!)) throw new Error(`expected 'M2 REEL SPEED TIMECODE', got '${showLine(line)}'`);
      this.#checkLabel(m2[3]!, group[group.length - 1]!.dropFrame);
      this.#attach(line);
      const target = group.find((e) => e.reel === m2[1]) ?? group[group.length - 1]!;
      target.speed = { reel: m2[1]!, fps, timecode: m2[3]! };
      if (fps === 0) target.freeze = true;
      return;
    }
    if (/^SPLIT:/i.test(line)) {
      const group = this.#group;
      if (group.length === 0) throw new Error(`SPLIT line before any event`);
      this.#attach(line);
      group[group.length - 1]!.splits.push(line.replace(/^SPLIT:\s*/i, ""));
      return;
    }
    if (/^AUD\b/i.test(line)) {
      const group = this.#group;
      if (group.length === 0) throw new Error(`AUD line before any event`);
      this.#attach(line);
      group[group.length - 1]!.audio.push(...fields.slice(1));
      return;
    }
    if (!/^\d{3,6}$/.test(fields[0]!)) {
      throw new Error(`expected an event line (NNN REEL TRACK TRANSITION [DURATION] SRC-IN SRC-OUT REC-IN REC-OUT), a comment (*) or TITLE/FCM, got '${showLine(line)}'`);
    }
    const event = this.#eventLine(fields, line, lineNo);
    const group = this.#group;
    const previous = group[group.length - 1];
    if (previous && previous.event !== event.event && event.transitionFrames !== null && group.length === 1 && previous.transitionFrames === null && previous.sourceIn === previous.sourceOut) {
      // A transition whose outgoing zero-length line carries another number (as Premiere writes them).
      const message = `the ${event.transition === "D" ? "dissolve" : "wipe"} is event ${event.event} but its outgoing zero-length line (line ${previous.line}) is event ${previous.event}; the two lines of a transition share one number (--lenient reads them as one transition)`;
      if (!this.#options.lenient) throw new Error(message);
      this.#options.onWarning?.(`line ${lineNo}: ${message} (read as one)`);
    } else if (!previous || previous.event !== event.event) {
      this.#closeGroup();
    }
    this.#sawEvent = true;
    this.#pending.push(event);
  }

  #eventLine(fields: string[], line: string, lineNo: number): EdlEvent {
    const [event, reel, track, transition] = fields;
    if (reel === undefined || track === undefined || transition === undefined) throw new Error(`expected 'NNN REEL TRACK TRANSITION …', got '${showLine(line)}'`);
    if (!TRACK.test(track)) throw new Error(`expected a track (V, A, A2, AA, B, A2/V, AA/V, NONE), got '${showLine(track)}'`);
    let rest = fields.slice(4);
    let transitionFrames: number | null = null;
    if (/^K/.test(transition)) throw new Error(`key transitions (${showLine(transition)}) are not supported`);
    if (transition === "D" || /^W\d{3}$/.test(transition)) {
      const duration = rest[0];
      if (duration === undefined || !/^\d{1,4}$/.test(duration)) throw new Error(`expected the ${transition === "D" ? "dissolve" : "wipe"} length in frames after '${transition}', got '${showLine(duration ?? "")}'`);
      transitionFrames = Number(duration);
      rest = rest.slice(1);
    } else if (transition !== "C") {
      throw new Error(`expected a transition C, D NNN or W### NNN, got '${showLine(transition)}'`);
    }
    if (rest.length !== 4 || !rest.every((t) => TC.test(t))) {
      throw new Error(`expected four timecodes (source in, source out, record in, record out), got '${showLine(rest.join(" "))}'`);
    }
    // At a known rate, the labels are read when the event is complete (eventNeed), naming this line.
    if (!this.rate) for (const tc of rest) this.#checkLabel(tc, this.#fcm);
    const upper = reel.toUpperCase();
    return {
      event: event!,
      reel,
      track,
      transition,
      transitionFrames,
      sourceIn: rest[0]!,
      sourceOut: rest[1]!,
      recordIn: rest[2]!,
      recordOut: rest[3]!,
      clipName: null,
      toClipName: null,
      sourceFile: null,
      markers: [],
      speed: null,
      freeze: false,
      generator: upper === "BL" || upper === "BLACK" ? "black" : upper === "BARS" ? "bars" : null,
      cdl: { sop: null, sat: null },
      splits: [],
      audio: [],
      comments: [],
      dropFrame: this.#fcm,
      side: null,
      overlapFrames: 0,
      line: lineNo,
      attached: [],
    };
  }

  /** A label checked at the list's rate, or for its form only. */
  #checkLabel(label: string, dropFrame: boolean): void {
    if (this.rate) {
      Timecode.parse(label, this.rate, { dropFrame });
      return;
    }
    const [, hh, mm, ss, ff] = TC.exec(label)!;
    if (Number(hh) > 23 || Number(mm) > 59 || Number(ss) > 59 || Number(ff) > 59) {
      throw new Error(`invalid timecode '${label}': fields out of range at any rate (HH<24, MM<60, SS<60, FF<60)`);
    }
  }

  /** Keeps a line as written with the event it follows. */
  #attach(line: string): void {
    const last = this.#pending[this.#pending.length - 1];
    if (!last) return;
    if (last.attached.length >= MAX_ATTACHED) throw new Error(`more than ${MAX_ATTACHED} lines attached to event ${last.event} (line ${last.line})`);
    last.attached.push(line);
  }

  #comment(group: EdlEvent[], comment: string): void {
    const first = group[0]!;
    const last = group[group.length - 1]!;
    const field = /^([A-Z_ ]+?)\s*:\s*(.*)$/i.exec(comment);
    const key = field?.[1]?.toUpperCase().replace(/\s+/g, " ");
    const value = field?.[2]?.trim() ?? "";
    switch (key) {
      case "FROM CLIP NAME":
        first.clipName = value;
        return;
      case "TO CLIP NAME":
        for (const e of group) e.toClipName = value;
        if (group.length > 1) last.clipName = value;
        return;
      case "FROM CLIP":
      case "FROM FILE":
      case "SOURCE FILE":
        first.sourceFile = value;
        return;
      case "TO CLIP":
      case "TO FILE":
        last.sourceFile = value;
        return;
      case "LOC": {
        const loc = /^(\S+)\s+(\S+)?\s*(.*)$/.exec(value);
        if (!loc || !TC.test(loc[1]!)) throw new Error(`expected '* LOC: TIMECODE COLOR TEXT', got '${showLine(comment)}'`);
        this.#checkLabel(loc[1]!, last.dropFrame);
        last.markers.push({ timecode: loc[1]!, color: loc[2] ?? null, comment: loc[3]!.trim() });
        return;
      }
    }
    const marker = RESOLVE_MARKER.exec(comment);
    if (marker) {
      const [, note, color, name] = marker;
      last.markers.push({ timecode: last.recordIn, color: color || null, comment: note ? `${name}: ${note}` : name! });
      return;
    }
    const asc = /^ASC_(SOP|SAT)\s+(.*)$/i.exec(comment);
    if (asc) {
      if (asc[1]!.toUpperCase() === "SOP") last.cdl.sop = asc[2]!.trim();
      else last.cdl.sat = asc[2]!.trim();
      return;
    }
    if (/^FREEZE FRAME/i.test(comment)) last.freeze = true;
    last.comments.push(comment);
  }

  /**
   * The current group is complete: pair the lines of each transition, give the outgoing line
   * (and the event that cut to the same frame just before) the frames the transition plays,
   * and check every event at the list's rate.
   */
  #closeGroup(): void {
    const group = this.#group;
    for (let i = 1; i < group.length; i++) {
      const incoming = group[i]!;
      const outgoing = group[i - 1]!;
      if (incoming.transitionFrames === null) continue;
      outgoing.side = "from";
      incoming.side = "to";
      if (outgoing.generator) continue;
      outgoing.overlapFrames += incoming.transitionFrames;
      const at = this.#pending.indexOf(outgoing);
      for (let j = at - 1; j >= 0; j--) {
        const earlier = this.#pending[j]!;
        if (earlier.reel !== outgoing.reel || earlier.generator || !shareChannel(earlier.track, outgoing.track)) continue;
        if (!earlier.speed && !earlier.freeze && sameLabel(earlier.sourceOut, outgoing.sourceIn)) earlier.overlapFrames += incoming.transitionFrames;
        break;
      }
    }
    if (this.rate) {
      for (const event of group) {
        try {
          eventNeed(event, this.rate);
        } catch (error) {
          if (!this.#options.lenient) throw Object.assign(error as CliError, { path: this.#options.path });
          this.#options.onWarning?.(`${(error as Error).message} (skipped)`);
          this.#pending.splice(this.#pending.indexOf(event), 1);
        }
      }
    }
    this.#groupStart = this.#pending.length;
  }

  /** Events no later line can change: those before the current group and beyond the window (all, at the end). */
  #ready(all: boolean): EdlEvent[] {
    const count = all ? this.#pending.length : Math.max(0, this.#groupStart - WINDOW);
    if (count === 0) return [];
    this.#groupStart -= count;
    return this.#pending.splice(0, count);
  }
}

/** The channels a track field stands for: V, A1, A2… (`B` is V and A1, `AA/V` is V, A1 and A2). */
function channels(track: string): string[] {
  switch (track) {
    case "V":
      return ["V"];
    case "B":
      return ["V", "A1"];
    case "A":
      return ["A1"];
    case "AA":
      return ["A1", "A2"];
    case "AA/V":
      return ["V", "A1", "A2"];
    case "NONE":
      return [];
  }
  const audio = /^A(\d+)(\/V)?$/.exec(track);
  return audio ? [`A${audio[1]}`, ...(audio[2] ? ["V"] : [])] : [track];
}

/** Whether two events share a channel, so one can continue the other. */
function shareChannel(a: string, b: string): boolean {
  const theirs = channels(b);
  return channels(a).some((c) => theirs.includes(c));
}

/** Whether two labels name the same frame number (separators aside). */
function sameLabel(a: string, b: string): boolean {
  return a.replace(/[:;.]/g, ":") === b.replace(/[:;.]/g, ":");
}

/**
 * The source frames `event` needs at `rate`: its own length (source out − source in), or for an
 * M2 speed what its record length consumes (rounded up; reverse runs back from the source in),
 * one frame for a freeze, nothing for black and bars; plus the frames a transition plays past it.
 * A source out before the source in is refused, naming the line, unless the event crosses
 * midnight: then its length over midnight equals its record length at this rate.
 * @throws CliError naming the line when a label cannot exist at `rate`, or the event runs backwards.
 * @example
 * ```ts
 * import { parseRate } from "./rate.ts";
 * declare const event: EdlEvent;
 * const need = eventNeed(event, parseRate("25"));
 * need.frames; // 50 for a 2-second cut
 * ```
 */
export function eventNeed(event: EdlEvent, rate: FrameRate, dropFrame = event.dropFrame): EventNeed {
  const cached = needs.get(event);
  if (cached && cached.rate === rate && cached.dropFrame === dropFrame && cached.overlapFrames === event.overlapFrames) return cached.need;
  const need = computeNeed(event, rate, dropFrame);
  needs.set(event, { rate, dropFrame, overlapFrames: event.overlapFrames, need });
  return need;
}

/** The last need worked out for each event (the parser checks it, the caller then asks again). */
const needs = new WeakMap<EdlEvent, { rate: FrameRate; dropFrame: boolean; overlapFrames: number; need: EventNeed }>();

function computeNeed(event: EdlEvent, rate: FrameRate, dropFrame: boolean): EventNeed {
  const clock = { dropFrame };
  const read = (label: string): Timecode => {
    try {
      return Timecode.parse(label, rate, clock);
    } catch (error) {
      throw lineError(event.line, (error as Error).message);
    }
  };
  const sourceIn = read(event.sourceIn);
  const sourceOut = read(event.sourceOut);
  const recordIn = read(event.recordIn);
  const recordOut = read(event.recordOut);
  const own = sourceOut.since(sourceIn);
  const record = recordOut.since(recordIn);
  if (sourceOut.compare(sourceIn) < 0 && own !== record) {
    throw lineError(event.line, `source out ${event.sourceOut} is before source in ${event.sourceIn}: a reversed event (over midnight it would be ${own} frames at ${rate.label} fps, but its record side is ${record})`);
  }
  if (recordOut.compare(recordIn) < 0 && own !== record) {
    throw lineError(event.line, `record out ${event.recordOut} is before record in ${event.recordIn}: a reversed event (over midnight it would be ${record} frames at ${rate.label} fps, but its source side is ${own})`);
  }
  let start = sourceIn;
  let frames = own;
  if (event.generator) frames = 0;
  else if (event.freeze) frames = 1;
  else if (event.speed) {
    // Speed in fps of source per record second: record frames × |fps| / timebase, rounded up.
    frames = Math.max(Math.ceil((record * Math.abs(event.speed.fps)) / rate.base), 1);
    if (event.speed.fps < 0) start = sourceIn.add(-(frames - 1));
  }
  if (!event.generator) frames += event.overlapFrames;
  return { in: start, out: start.add(frames), frames };
}

/**
 * An event as `tc-extract edl --json` prints it: its fields, and the source frames it needs at
 * `rate` (`neededIn`, `neededOut`, `neededFrames`).
 */
export function eventRecord(event: EdlEvent, rate: FrameRate): Record<string, unknown> {
  const need = eventNeed(event, rate);
  const { attached: _attached, side, overlapFrames: _overlap, line, ...fields } = event;
  return { ...fields, neededIn: need.in.toString(), neededOut: need.out.toString(), neededFrames: need.frames, line, side };
}

/**
 * Parses a whole list held in memory (tests, small lists). Without `rate`, 29.97 when the list
 * says FCM: DROP FRAME, else 24.
 *
 * @example
 * ```ts
 * import { parseEdl } from "./edl.ts";
 * const edl = parseEdl("TITLE: CUT\nFCM: NON-DROP FRAME\n001  AX  V  C  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n", {});
 * edl.events[0]!.reel; // "AX"
 * ```
 */
export function parseEdl(text: string, options: EdlOptions = {}): Edl {
  const rate = options.rate ?? listRate(linesOfText(text));
  const warnings: string[] = [];
  const onWarning = (w: string) => {
    warnings.push(w);
    options.onWarning?.(w);
  };
  const parser = new EdlParser({ ...options, rate, onWarning });
  const events = [...parser.events(linesOfText(text))];
  return { title: parser.title, rate, dropFrame: parser.dropFrame, events, warnings };
}
