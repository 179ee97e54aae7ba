/**
 * What the cartserve tests share: a request line sent exactly as written, and a server started
 * as a program with the address it prints.
 */
import { connect } from "node:net";
import { readStdoutUntil } from "./helpers.ts";

/** Sends a request line exactly as written (fetch would normalise the path) and returns the status and the whole answer. */
export function rawRequest(port: number, target: string, method = "GET"): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("end", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
  });
}

/** Starts a program that prints an address on its first line of stdout (cartserve), and waits for that line. */
export async function startPrinting(cmd: string[], cwd: string, env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" }): Promise<{ proc: Bun.Subprocess<"ignore", "pipe", "pipe">; url: string }> {
  const proc = Bun.spawn({ cmd, cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env });
  const text = await readStdoutUntil(proc.stdout, "\n");
  return { proc, url: text.trim() };
}
