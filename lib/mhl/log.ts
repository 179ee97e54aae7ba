/**
 * What the MHL commands tell the user, where the reference tells it: information and the `-v`
 * lines on stdout, errors on stderr (so `mhl-verify info R | grep …` works). With `--json`,
 * stdout carries one JSON object per event and nothing else; the information lines then go to
 * stderr. Every name in a line is shown with `showName` by the caller.
 */
import type { LineSink } from "../core/sink.ts";

/** The log of one command run. */
export class MhlLog {
  readonly verboseEnabled: boolean;
  readonly json: boolean;
  #out: LineSink;

  /** `output` receives the lines (stderr) and events (stdout); lib/cli's `Output` on a terminal. */
  constructor(options: { output: LineSink; verbose?: boolean; json?: boolean }) {
    this.verboseEnabled = options.verbose ?? false;
    this.json = options.json ?? false;
    this.#out = options.output;
  }

  /** A line shown with `--verbose` (the reference's `-v` lines), on stdout. */
  verbose(line: string): void {
    if (this.verboseEnabled) this.info(line);
  }

  /** A line of information always shown, on stdout (stderr with `--json`). */
  info(line: string): void {
    if (this.json) this.#out.error(line);
    else this.#out.data(`${line}\n`);
  }

  /** An error line, always shown. */
  error(line: string): void {
    this.#out.error(line);
  }

  /** A data record for `--json` (ignored otherwise). */
  event(record: Record<string, unknown>): void {
    if (this.json) this.#out.data(`${JSON.stringify(record)}\n`);
  }

  /** Writes pending data. */
  flush(): void {
    this.#out.flush();
  }
}
