/**
 * Buffered stdout for line-oriented data, kept in order with stderr: anything pending on stdout
 * is written before a diagnostic goes to stderr, so a terminal shows both as they happened.
 */
import { writeSync } from "node:fs";
import type { LineSink } from "../core/sink.ts";

/** Every {@link Output} made, for {@link flushOutputs}. */
const outputs = new Set<WeakRef<Output>>();

/**
 * Writes out what every {@link Output} holds: on Ctrl-C or SIGTERM, the lines of what was done
 * reach stdout before the process ends.
 */
export function flushOutputs(): void {
  for (const ref of outputs) {
    const output = ref.deref();
    if (output) output.flush();
    else outputs.delete(ref);
  }
}

/**
 * {@link flushOutputs} for a tool that is ending anyway (Ctrl-C): a reader that went away
 * (a pipeline the same Ctrl-C stopped) ends the writing, not the process, so the tool still
 * says why it stopped and exits with the signal's status.
 */
export function flushOutputsWhileEnding(): void {
  brokenPipeEnds = false;
  try {
    flushOutputs();
  } catch (error) {
    if ((error as { code?: string }).code !== "EPIPE") throw error;
  } finally {
    brokenPipeEnds = true;
  }
}

/** Whether a closed pipe ends the process (see writeAll); false while a tool is ending anyway. */
let brokenPipeEnds = true;

/** Line output to stdout (fd 1) with stderr (fd 2) diagnostics interleaved in order. */
export class Output implements LineSink {
  constructor() {
    outputs.add(new WeakRef(this));
  }

  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** Text not encoded yet: one encoding per flush, not one per line (a line per small file). */
  #text = "";
  #encoder = new TextEncoder();

  /** Queues data for stdout; written when 64 KiB are pending, before stderr, and on flush. */
  data(text: string | Uint8Array): void {
    if (typeof text === "string") {
      // Text is encoded as each piece would be on its own: a piece that could pair a surrogate
      // with its neighbour's is not joined to it.
      const first = text.charCodeAt(0);
      const last = text.charCodeAt(text.length - 1);
      if (!(first >= 0xdc00 && first <= 0xdfff) && !(last >= 0xd800 && last <= 0xdbff)) {
        this.#text += text;
        if (this.#text.length >= 1 << 16) this.flush();
        return;
      }
      this.#encodeText();
      this.#push(this.#encoder.encode(text));
      return;
    }
    this.#encodeText();
    this.#push(text);
  }

  #encodeText(): void {
    if (this.#text === "") return;
    const text = this.#text;
    this.#text = "";
    this.#push(this.#encoder.encode(text));
  }

  #push(bytes: Uint8Array): void {
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
    if (this.#text !== "") {
      const text = this.#text;
      this.#text = "";
      const bytes = this.#encoder.encode(text);
      this.#pending.push(bytes);
      this.#pendingBytes += bytes.length;
    }
    if (this.#pendingBytes === 0) return;
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    writeAll(1, all);
  }
}

/** 128 + SIGPIPE: the status of a command whose reader went away before it was done. */
const EXIT_BROKEN_PIPE = 141;

function writeAll(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "EAGAIN") continue;
      // A closed pipe (`| head`) ends the run quietly, with the status a shell gives a command
      // that SIGPIPE killed (the anchors, coreutils): what was not written was not checked or
      // not reported, so it is never a success.
      if (code === "EPIPE" && brokenPipeEnds) process.exit(fd === 1 ? EXIT_BROKEN_PIPE : 2);
      throw error;
    }
  }
}
