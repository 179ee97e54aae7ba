/**
 * Buffered stdout for line-oriented data, kept in order with stderr: anything pending on stdout
 * is written before a diagnostic goes to stderr, so a terminal shows both as they happened.
 */
import { writeSync } from "node:fs";
import type { LineSink } from "../core/sink.ts";

/** Line output to stdout (fd 1) with stderr (fd 2) diagnostics interleaved in order. */
export class Output implements LineSink {
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #encoder = new TextEncoder();

  /** Queues data for stdout; written when 64 KiB are pending, before stderr, and on flush. */
  data(text: string | Uint8Array): void {
    const bytes = typeof text === "string" ? this.#encoder.encode(text) : text;
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    if (this.#pendingBytes >= 1 << 16) this.flush();
  }

  /** Writes one diagnostic line to stderr (a newline is added). */
  error(line: string): void {
    this.flush();
    writeAll(2, this.#encoder.encode(`${line}\n`));
  }

  /** Writes everything pending to stdout. */
  flush(): void {
    if (this.#pendingBytes === 0) return;
    const all = Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    writeAll(1, all);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "EAGAIN") continue;
      // A closed pipe (`| head`) ends the output quietly, as coreutils do.
      if (code === "EPIPE") process.exit(fd === 1 ? 0 : 2);
      throw error;
    }
  }
}
