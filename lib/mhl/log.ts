/**
 * What the MHL commands tell the user: the reference's log lines on stderr (progress lines only
 * with `--verbose`, errors always) and, with `--json`, one JSON object per event on stdout.
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

  /** A line shown with `--verbose` (the reference's `-v` lines). */
  verbose(line: string): void {
    if (this.verboseEnabled) this.#out.error(line);
  }

  /** A line always shown. */
  info(line: string): void {
    this.#out.error(line);
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
