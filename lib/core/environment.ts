/**
 * The environment as the kernel handed it over. A value is bytes: a folder named with bytes that
 * are not UTF-8 (`TMPDIR=/tmp/t\xFF`) reaches `process.env` with U+FFFD in place of them, which
 * names another folder (or none). On Linux the exact bytes are in /proc/self/environ; a value
 * that lost bytes is taken from there, carried as lib/core/names.ts carries names — the same
 * way lib/cli/command_line.ts takes the arguments from /proc/self/cmdline.
 */
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { nameFromBytes } from "./names.ts";

const lossy = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * The NUL-separated entries of a file such as /proc/self/cmdline or /proc/self/environ, as the
 * kernel gave them (bytes); undefined when it cannot be read.
 * @example
 * procEntries("/proc/self/cmdline")?.length; // the runtime's arguments and the program's
 */
export function procEntries(path: string): Uint8Array[] | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch {
    return undefined;
  }
  const entries: Uint8Array[] = [];
  for (let start = 0; start < raw.length; ) {
    let end = raw.indexOf(0, start);
    if (end < 0) end = raw.length;
    entries.push(raw.subarray(start, end));
    start = end + 1;
  }
  return entries;
}

/**
 * An environment variable's value, with bytes that are not UTF-8 kept (names.ts); undefined
 * when it is not set. The runtime's value is taken as it is unless it lost bytes and
 * /proc/self/environ holds the same variable, read loosely the same text (a value the program
 * changed since it started is never replaced by the one it started with).
 * @example
 * environmentValue("TMPDIR"); // "/tmp/t\udcff" where TMPDIR=/tmp/t\xFF
 */
export function environmentValue(name: string): string | undefined {
  const given = process.env[name];
  if (given === undefined || !given.includes("\ufffd")) return given;
  const key = Buffer.from(`${name}=`);
  for (const entry of procEntries("/proc/self/environ") ?? []) {
    if (!key.equals(entry.subarray(0, key.length))) continue;
    const bytes = entry.subarray(key.length);
    return lossy.decode(bytes) === given ? nameFromBytes(bytes) : given;
  }
  return given;
}

/**
 * The folder for temporary files, `os.tmpdir()` (from `TMPDIR`, `TMP` or `TEMP`, else `/tmp`),
 * with its name's bytes kept where that lost some ({@link environmentValue}): give it to
 * node:fs through `fsPath`.
 * @example
 * temporaryFolder(); // "/tmp/t\udcff" where TMPDIR=/tmp/t\xFF
 */
export function temporaryFolder(): string {
  const given = tmpdir();
  if (!given.includes("\ufffd")) return given;
  const variable = ["TMPDIR", "TMP", "TEMP"].find((name) => process.env[name]);
  const value = variable === undefined ? undefined : environmentValue(variable);
  if (value === undefined) return given;
  return value.length > 1 && value.endsWith("/") ? value.slice(0, -1) : value;
}
