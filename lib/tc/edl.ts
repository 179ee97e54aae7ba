/**
 * CMX 3600 edit decision lists: TITLE, FCM, event lines (cuts, dissolves, wipes), and the
 * comment lines editors attach to events (clip names, source files, locators, CDL, speed
 * changes). Each event line becomes one `EdlEvent` that also says which source frames the cut
 * really needs, including the overlap a dissolve takes past the outgoing clip's out point.
 */
import { CliError } from "../core/errors.ts";
import { type FrameRate, parseRate } from "./rate.ts";
import { Timecode } from "./timecode.ts";

/** A `* LOC:` locator. */
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
  /** C, D, W### (wipe code), K… */
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
  /** First source frame the event needs. */
  neededIn: string;
  /** First source frame after the ones it needs (exclusive). */
  neededOut: string;
  /** How many source frames the event needs: its length, plus a dissolve's overlap, scaled by M2 speed. */
  neededFrames: number;
  /** 1-based line number of the event line. */
  line: number;
}

/** A parsed EDL. */
export interface Edl {
  title: string | null;
  rate: FrameRate;
  /** FCM in force at the start (before any event). */
  dropFrame: boolean;
  events: EdlEvent[];
  /** Lines skipped in lenient mode, as `line N: why`. */
  warnings: string[];
}

/** Options of {@link parseEdl}. */
export interface EdlOptions {
  /** Frame rate of the timecodes. @default 29.97 when the list says FCM: DROP FRAME, else 24 */
  rate?: FrameRate;
  /** Skip malformed lines with a warning instead of failing. @default false */
  lenient?: boolean;
  /** Name used in error messages. */
  path?: string;
}

const TRACK = /^(V|B|A\d*|AA|A\d*\/V|AA\/V|NONE)$/;
const TC = /^\d{2}[:;.]\d{2}[:;.]\d{2}[:;.]\d{2,3}$/;

/** Longest line read: far beyond any CMX 3600 line (comments included), far below a hostile one. */
const MAX_LINE = 4096;

/**
 * Parses a CMX 3600 EDL. A malformed line is an error naming its line number and what was
 * expected; with `lenient` it is skipped and listed in `warnings`.
 *
 * @example
 * ```ts
 * import { parseEdl } from "./edl.ts";
 * const edl = parseEdl("TITLE: CUT\nFCM: NON-DROP FRAME\n001  AX  V  C  01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n", {});
 * edl.events[0]!.neededFrames; // 24
 * ```
 */
export function parseEdl(text: string, options: EdlOptions = {}): Edl {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n|\r/);
  const rate = options.rate ?? (lines.some((l) => /^FCM:\s*DROP/i.test(l.trim())) ? parseRate("29.97") : parseRate("24"));
  const edl: Edl = { title: null, rate, dropFrame: false, events: [], warnings: [] };
  let dropFrame = false;
  let sawEvent = false;
  let group: EdlEvent[] = [];

  const fail = (lineNo: number, message: string): void => {
    if (!options.lenient) throw new CliError(`line ${lineNo}: ${message}`, { path: options.path });
    edl.warnings.push(`line ${lineNo}: ${message}`);
  };

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.trim();
    if (line === "") continue;
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(line)) {
      fail(lineNo, "contains a control character (NUL or other); an EDL is plain text");
      continue;
    }
    if (line.length > MAX_LINE) {
      fail(lineNo, `is ${line.length} characters long; EDL lines are at most ${MAX_LINE}`);
      continue;
    }
    try {
      const title = /^TITLE:\s*(.*)$/i.exec(line);
      if (title) {
        edl.title = title[1]!.trim();
        continue;
      }
      const fcm = /^FCM:\s*(.*)$/i.exec(line);
      if (fcm) {
        const mode = fcm[1]!.trim().toUpperCase();
        if (/^DROP[ -]?FRAME$/.test(mode)) dropFrame = true;
        else if (/^NON[ -]?DROP[ -]?FRAME$/.test(mode)) dropFrame = false;
        else throw new Error(`expected 'FCM: DROP FRAME' or 'FCM: NON-DROP FRAME', got '${line}'`);
        if (dropFrame && rate.dropPerMinute === 0) throw new Error(`FCM: DROP FRAME needs a 29.97 or 59.94 rate (given ${rate.label}); pass --rate`);
        if (!sawEvent) edl.dropFrame = dropFrame;
        continue;
      }
      if (line.startsWith("*")) {
        if (group.length === 0) continue; // header comments
        attachComment(group, line.replace(/^\*\s*/, ""), rate);
        continue;
      }
      const fields = line.split(/[ \t]+/);
      const m2 = fields[0] === "M2" ? fields : fields[1] === "M2" ? fields.slice(1) : undefined;
      if (m2) {
        if (group.length === 0) throw new Error(`M2 line before any event`);
        const fps = Number(m2[2]);
        if (m2.length < 4 || !Number.isFinite(fps) || !TC.test(m2[3]!)) throw new Error(`expected 'M2 REEL SPEED TIMECODE', got '${line}'`);
        const target = group.find((e) => e.reel === m2[1]) ?? group[group.length - 1]!;
        target.speed = { reel: m2[1]!, fps, timecode: m2[3]! };
        if (fps === 0) target.freeze = true;
        continue;
      }
      if (/^SPLIT:/i.test(line)) {
        if (group.length === 0) throw new Error(`SPLIT line before any event`);
        group[group.length - 1]!.splits.push(line.replace(/^SPLIT:\s*/i, ""));
        continue;
      }
      if (/^AUD\b/i.test(line)) {
        if (group.length === 0) throw new Error(`AUD line before any event`);
        group[group.length - 1]!.audio.push(...fields.slice(1));
        continue;
      }
      if (!/^\d{3,6}$/.test(fields[0]!)) {
        throw new Error(`expected an event line (NNN REEL TRACK TRANSITION [DURATION] SRC-IN SRC-OUT REC-IN REC-OUT), a comment (*) or TITLE/FCM, got '${line}'`);
      }
      const event = parseEventLine(fields, line, lineNo, dropFrame, rate);
      sawEvent = true;
      if (group.length > 0 && group[0]!.event === event.event) group.push(event);
      else group = [event];
      edl.events.push(event);
    } catch (error) {
      fail(lineNo, (error as Error).message);
    }
  }
  for (const event of edl.events) computeNeeded(event, rate);
  applyDissolveOverlap(edl.events, rate);
  return edl;
}

function parseEventLine(fields: string[], line: string, lineNo: number, dropFrame: boolean, rate: FrameRate): EdlEvent {
  const [event, reel, track, transition] = fields;
  if (reel === undefined || track === undefined || transition === undefined) throw new Error(`expected 'NNN REEL TRACK TRANSITION …', got '${line}'`);
  if (!TRACK.test(track)) throw new Error(`expected a track (V, A, A2, AA, B, A2/V, AA/V), got '${track}'`);
  let rest = fields.slice(4);
  let transitionFrames: number | null = null;
  if (/^K/.test(transition)) throw new Error(`key transitions (${transition}) are not supported`);
  if (transition === "D" || /^W\d{3}$/.test(transition)) {
    const duration = rest[0];
    if (duration === undefined || !/^\d{1,4}$/.test(duration)) throw new Error(`expected the ${transition === "D" ? "dissolve" : "wipe"} length in frames after '${transition}', got '${duration ?? ""}'`);
    transitionFrames = Number(duration);
    rest = rest.slice(1);
  } else if (transition !== "C") {
    throw new Error(`expected a transition C, D NNN or W### NNN, got '${transition}'`);
  }
  if (rest.length !== 4 || !rest.every((t) => TC.test(t))) {
    throw new Error(`expected four timecodes (source in, source out, record in, record out), got '${rest.join(" ")}'`);
  }
  for (const tc of rest) Timecode.parse(tc, rate, { dropFrame });
  const upper = reel.toUpperCase();
  return {
    event: event!, reel, track, transition, transitionFrames,
    sourceIn: rest[0]!, sourceOut: rest[1]!, recordIn: rest[2]!, recordOut: rest[3]!,
    clipName: null, toClipName: null, sourceFile: null, markers: [], speed: null, freeze: false,
    generator: upper === "BL" || upper === "BLACK" ? "black" : upper === "BARS" ? "bars" : null,
    cdl: { sop: null, sat: null }, splits: [], audio: [], comments: [], dropFrame,
    neededIn: rest[0]!, neededOut: rest[1]!, neededFrames: 0, line: lineNo,
  };
}

function attachComment(group: EdlEvent[], comment: string, rate: FrameRate): void {
  const first = group[0]!;
  const last = group[group.length - 1]!;
  const field = /^([A-Z_ ]+?)\s*:\s*(.*)$/i.exec(comment);
  const key = field?.[1]!.toUpperCase().replace(/\s+/g, " ");
  const value = field?.[2]!.trim() ?? "";
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
      if (!loc || !TC.test(loc[1]!)) throw new Error(`expected '* LOC: TIMECODE COLOR TEXT', got '* ${comment}'`);
      Timecode.parse(loc[1]!, rate, { dropFrame: last.dropFrame });
      last.markers.push({ timecode: loc[1]!, color: loc[2] ?? null, comment: loc[3]!.trim() });
      return;
    }
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

/** Source frames an event needs: its own length, or what its record length consumes at an M2 speed. */
function computeNeeded(event: EdlEvent, rate: FrameRate): void {
  const clock = { dropFrame: event.dropFrame };
  const sourceIn = Timecode.parse(event.sourceIn, rate, clock);
  const sourceOut = Timecode.parse(event.sourceOut, rate, clock);
  const recordLength = Timecode.parse(event.recordOut, rate, clock).since(Timecode.parse(event.recordIn, rate, clock));
  let start = sourceIn;
  let frames = sourceOut.since(sourceIn);
  if (event.generator) frames = 0;
  else if (event.freeze) frames = 1;
  else if (event.speed) {
    // Speed in fps of source per record second: record frames × |fps| / timebase, rounded up.
    const consumed = Math.ceil((recordLength * Math.abs(event.speed.fps)) / rate.base);
    frames = Math.max(consumed, 1);
    if (event.speed.fps < 0) start = sourceIn.add(-(frames - 1));
  }
  event.neededIn = start.toString();
  event.neededFrames = frames;
  event.neededOut = start.add(frames).toString();
}

/**
 * In a two-line transition the first line is the outgoing clip, held at one frame (in = out);
 * the dissolve plays its next `transitionFrames` frames. That line needs them, and so does the
 * earlier event that cut to the same reel and ended on that frame.
 */
function applyDissolveOverlap(events: EdlEvent[], rate: FrameRate): void {
  for (let i = 1; i < events.length; i++) {
    const incoming = events[i]!;
    const outgoing = events[i - 1]!;
    if (incoming.event !== outgoing.event || incoming.transitionFrames === null || outgoing.generator) continue;
    const overlap = incoming.transitionFrames;
    const clock = { dropFrame: outgoing.dropFrame };
    const outIn = Timecode.parse(outgoing.neededIn, rate, clock);
    outgoing.neededFrames += overlap;
    outgoing.neededOut = outIn.add(outgoing.neededFrames).toString();
    for (let j = i - 2; j >= 0; j--) {
      const earlier = events[j]!;
      if (earlier.reel !== outgoing.reel || earlier.generator) continue;
      const earlierClock = { dropFrame: earlier.dropFrame };
      if (Timecode.parse(earlier.neededOut, rate, earlierClock).frames === Timecode.parse(outgoing.sourceIn, rate, earlierClock).frames) {
        earlier.neededFrames += overlap;
        earlier.neededOut = Timecode.parse(earlier.neededIn, rate, { dropFrame: earlier.dropFrame }).add(earlier.neededFrames).toString();
      }
      break;
    }
  }
}
