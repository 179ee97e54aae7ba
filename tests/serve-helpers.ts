/**
 * What the cartserve tests share: a request line sent exactly as written, and a server started
 * as a program with the address it prints.
 */
import { connect } from "node:net";
import { readStdoutUntil } from "./helpers.ts";

/**
 * Sends a request line exactly as written (fetch would normalise the path) and returns the
 * status, the whole answer, and its body (taken out of its chunks when sent chunked).
 */
export function rawRequest(port: number, target: string, method = "GET", version = "1.1", headers = ""): Promise<{ status: number; text: string; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(`${method} ${target} HTTP/${version}\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("end", () => {
      const whole = Buffer.concat(chunks);
      const text = whole.toString("latin1");
      const headEnd = text.indexOf("\r\n\r\n");
      const raw = whole.subarray(headEnd + 4);
      const body = /\r\ntransfer-encoding: chunked\r\n/i.test(text.slice(0, headEnd + 2)) ? unchunked(raw) : new Uint8Array(raw);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), text, body });
    });
  });
}

/**
 * A GET of `range` whose answer is not read until `finish` is called: `started` settles once
 * the request is sent.
 */
export function pausedRequest(port: number, range: string): { started: Promise<void>; finish: () => Promise<{ head: string; body: Uint8Array }> } {
  const chunks: Buffer[] = [];
  let ended: () => void;
  let failed: (error: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    ended = resolve;
    failed = reject;
  });
  let socket: ReturnType<typeof connect>;
  const started = new Promise<void>((resolve) => {
    socket = connect(port, "127.0.0.1", () => {
      socket.pause();
      socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: ${range}\r\nConnection: close\r\n\r\n`, () => resolve());
    });
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", (error) => failed(error));
    socket.on("end", () => ended());
  });
  return {
    started,
    async finish() {
      socket.resume();
      await done;
      const whole = Buffer.concat(chunks);
      const headEnd = whole.indexOf("\r\n\r\n", 0, "latin1");
      const head = whole.toString("latin1", 0, headEnd + 2);
      const raw = whole.subarray(headEnd + 4);
      return { head, body: /\r\ntransfer-encoding: chunked\r\n/i.test(head) ? unchunked(raw) : new Uint8Array(raw) };
    },
  };
}

/**
 * The bytes of a chunked body (RFC 9112 7.1), which must end with its last chunk.
 * @throws when the framing is wrong.
 */
function unchunked(raw: Buffer): Uint8Array {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = raw.indexOf("\r\n", at, "latin1");
    const size = lineEnd < 0 ? NaN : Number.parseInt(raw.toString("latin1", at, lineEnd), 16);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`bad chunk size at byte ${at}`);
    if (size === 0) return new Uint8Array(Buffer.concat(parts));
    const start = lineEnd + 2;
    if (raw.length < start + size + 2 || raw.toString("latin1", start + size, start + size + 2) !== "\r\n") throw new Error(`chunk at byte ${at} is cut short`);
    parts.push(raw.subarray(start, start + size));
    at = start + size + 2;
  }
}

/** Starts a program that prints an address on its first line of stdout (cartserve), and waits for that line. */
export async function startPrinting(cmd: string[], cwd: string, env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" }): Promise<{ proc: Bun.Subprocess<"ignore", "pipe", "pipe">; url: string }> {
  const proc = Bun.spawn({ cmd, cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env });
  const text = await readStdoutUntil(proc.stdout, "\n");
  return { proc, url: text.trim() };
}
