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
  let raw: Buffer;
  try {
    raw = readFileSync("/proc/self/environ");
  } catch {
    return given;
  }
  const key = Buffer.from(`${name}=`);
  for (let start = 0; start < raw.length; ) {
    let end = raw.indexOf(0, start);
    if (end < 0) end = raw.length;
    const entry = raw.subarray(start, end);
    if (entry.subarray(0, key.length).equals(key)) {
      const bytes = entry.subarray(key.length);
      return lossy.decode(bytes) === given ? nameFromBytes(bytes) : given;
    }
    start = end + 1;
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
