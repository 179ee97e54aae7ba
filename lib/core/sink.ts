/**
 * How library code reports to whoever runs it, without printing itself: a line sink for data
 * and diagnostics, and a progress sink for work over files and bytes. lib/cli's `Output` and
 * `Progress` are the terminal's implementations; tests and other programs can pass their own.
 */

/** Data for stdout and diagnostic lines for stderr, kept in order (lib/cli's `Output`). */
export interface LineSink {
  /** Queues data (stdout). */
  data(text: string | Uint8Array): void;
  /** One diagnostic line (stderr); a newline is added. */
  error(line: string): void;
  /** Writes pending data. */
  flush(): void;
}

/** Files and bytes done against a known total (lib/cli's `Progress`). */
export interface ProgressSink {
  /** One more file of `bytes` bytes is done. */
  fileDone(bytes: number): void;
  /** Takes the progress line off the terminal before a diagnostic is printed. */
  clear(): void;
  /** The work is over. */
  finish(): void;
}

/** Makes the progress sink of a run once its totals are known. */
export type ProgressFactory = (totals: { files: number; bytes: number }) => ProgressSink;

/** A progress sink that shows nothing. */
export const NO_PROGRESS: ProgressSink = { fileDone() {}, clear() {}, finish() {} };
