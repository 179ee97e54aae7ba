/**
 * The conformed EDL a batch writes beside its extractions: the list as it was, line for line
 * (M2 speed lines, freeze frames, locators, CDL, AUD, SPLIT and every other comment kept where
 * they were), with each extracted event's clip-name and source-file comments pointing at the
 * file that holds its frames. Both sides of a transition point at their own files. Output
 * timecode is the segment's first frame, so source timecodes stay as they were.
 */
import type { EdlEvent } from "./edl.ts";

/** Comment lines that name an event's clip or file: replaced for the sides that were extracted. */
const NAMING = /^\*?\s*(FROM CLIP NAME|TO CLIP NAME|SOURCE FILE|FROM CLIP|FROM FILE|TO CLIP|TO FILE)\s*:/i;
const CONCERNS_TO = /^\*?\s*(TO CLIP NAME|TO CLIP|TO FILE)\s*:/i;

function fcm(dropFrame: boolean): string {
  return `FCM: ${dropFrame ? "DROP FRAME" : "NON-DROP FRAME"}`;
}

/** The event line in the usual column layout. */
export function eventLine(e: EdlEvent): string {
  const transition = e.transitionFrames === null ? e.transition.padEnd(9) : `${e.transition.padEnd(4)} ${String(e.transitionFrames).padStart(3, "0")} `;
  return `${e.event}  ${e.reel.padEnd(8)} ${e.track.padEnd(5)} ${transition} ${e.sourceIn} ${e.sourceOut} ${e.recordIn} ${e.recordOut}`;
}

/** The name of an output without its extension (its clip name). */
function stem(name: string): string {
  return name.replace(/\.[^.]*$/, "");
}

/**
 * Writes a conformed EDL one event at a time (`write` receives text as it is ready).
 * @example
 * ```ts
 * import type { EdlEvent } from "./edl.ts";
 * declare const event: EdlEvent;
 * const chunks: string[] = [];
 * const conformed = new ConformedEdl((text) => chunks.push(text), "CUT", false);
 * conformed.add(event, "001_A001_A001C003.mov");
 * ```
 */
export class ConformedEdl {
  readonly #write: (text: string) => void;
  #dropFrame: boolean;
  /** The outgoing side of the transition being written, and its output. */
  #from: { event: EdlEvent; output: string | null } | undefined;

  constructor(write: (text: string) => void, title: string | null, dropFrame: boolean) {
    this.#write = write;
    this.#dropFrame = dropFrame;
    write(`TITLE: ${title ?? "CONFORMED"}\n${fcm(dropFrame)}\n\n`);
  }

  /** Adds an event, with the name of the file that holds its frames (null when nothing was extracted for it). */
  add(event: EdlEvent, output: string | null): void {
    const lines: string[] = [];
    if (event.dropFrame !== this.#dropFrame) {
      this.#dropFrame = event.dropFrame;
      lines.push(fcm(event.dropFrame));
    }
    lines.push(eventLine(event));
    if (event.side === "from") {
      this.#from = { event, output };
      lines.push(...event.attached);
      this.#write(`${lines.join("\n")}\n`);
      return;
    }
    const from = event.side === "to" ? this.#from : undefined;
    this.#from = undefined;
    const fromOutput = event.side === "to" ? (from?.output ?? null) : output;
    const toOutput = event.side === "to" ? output : null;
    for (const line of event.attached) {
      if (NAMING.test(line) && (CONCERNS_TO.test(line) ? toOutput !== null : fromOutput !== null)) continue;
      lines.push(line);
    }
    if (event.side === "to") {
      if (fromOutput) lines.push(`* FROM CLIP NAME: ${stem(fromOutput)}`);
      if (toOutput) lines.push(`* TO CLIP NAME: ${stem(toOutput)}`);
      if (fromOutput) lines.push(`* FROM FILE: ${fromOutput}`);
      if (toOutput) lines.push(`* TO FILE: ${toOutput}`);
    } else if (output) {
      lines.push(`* FROM CLIP NAME: ${stem(output)}`, `* SOURCE FILE: ${output}`);
    }
    this.#write(`${lines.join("\n")}\n`);
  }
}
