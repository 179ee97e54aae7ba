/**
 * Progress on stderr: a redrawn line on a terminal, a plain line every few seconds otherwise
 * (only when asked with `--progress`). Never on stdout.
 */
import type { ProgressFactory, ProgressSink } from "../core/sink.ts";
import { formatBytes, formatDuration } from "../core/units.ts";

/** Counts files and bytes done against a known total and reports rate and ETA. */
export class Progress implements ProgressSink {
  #enabled: boolean;
  #tty: boolean;
  #totalFiles: number;
  #totalBytes: number;
  #files = 0;
  #bytes = 0;
  #started = performance.now();
  #lastDraw = 0;
  #drawn = false;

  #detail: (() => string) | undefined;

  /** `detail`, when given, is appended to each line (e.g. how each destination is doing). */
  constructor(options: { enabled: boolean; totalFiles: number; totalBytes: number; detail?: () => string }) {
    this.#tty = Boolean(process.stderr.isTTY);
    this.#enabled = options.enabled;
    this.#totalFiles = options.totalFiles;
    this.#totalBytes = options.totalBytes;
    this.#detail = options.detail;
  }

  /** Records one finished file of `bytes` bytes. */
  fileDone(bytes: number): void {
    this.#files++;
    this.#bytes += bytes;
    const now = performance.now();
    if (this.#enabled && now - this.#lastDraw >= (this.#tty ? 200 : 2000)) {
      this.#lastDraw = now;
      this.#draw(now);
    }
  }

  /** The status line as it is drawn. */
  line(now = performance.now()): string {
    const seconds = Math.max((now - this.#started) / 1000, 1e-3);
    const rate = this.#bytes / seconds;
    const left = this.#totalBytes - this.#bytes;
    const eta = rate > 0 && left > 0 ? `, ETA ${formatDuration(left / rate)}` : "";
    const detail = this.#detail ? `; ${this.#detail()}` : "";
    return `${this.#files}/${this.#totalFiles} files, ${formatBytes(this.#bytes)} of ${formatBytes(this.#totalBytes)}, ${formatBytes(rate)}/s${eta}${detail}`;
  }

  #draw(now: number): void {
    if (this.#tty) {
      process.stderr.write(`\r\u001b[K${this.line(now)}`);
      this.#drawn = true;
    } else {
      process.stderr.write(`${this.line(now)}\n`);
    }
  }

  /** Clears the terminal line (call before printing diagnostics on a TTY) . */
  clear(): void {
    if (this.#drawn) {
      process.stderr.write("\r\u001b[K");
      this.#drawn = false;
    }
  }

  /** Prints the final line when enabled. */
  finish(): void {
    if (!this.#enabled) return;
    this.clear();
    process.stderr.write(`${this.line()}\n`);
  }
}

/**
 * The progress factory a tool hands to library code: a {@link Progress} on stderr once the
 * totals are known, or nothing when progress is not shown.
 */
export function progressFor(enabled: boolean, detail?: () => string): ProgressFactory | undefined {
  return enabled ? (totals) => new Progress({ enabled: true, totalFiles: totals.files, totalBytes: totals.bytes, detail }) : undefined;
}
