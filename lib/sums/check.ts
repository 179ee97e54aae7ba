/**
 * Check mode shared by the summing tools: read check files, hash every listed file (in
 * parallel with `--jobs`, verdicts still in line order), compare, and report in the tool's
 * dialect.
 *
 * A check file is read as a stream: each line is checked as it arrives and forgotten, so a
 * manifest of ten million lines needs no more memory than one of ten. A line longer than the
 * longest the anchors take ({@link MAX_CHECK_LINE}) is never held whole.
 *
 * With `--root DIR` the listed paths are opened beneath DIR, held open by its descriptor
 * (lib/io/held_folder.ts): a manifest made at the source checks a copy elsewhere, and no line
 * can make the check read a file outside DIR, by `..`, by an absolute path, or through a
 * symbolic link in the copy that leads out of it (a link inside DIR is followed while it stays
 * inside).
 */
import { closeSync, constants, openSync } from "node:fs";
import { openRetryingAgain } from "../io/libc.ts";
import { guardedWait } from "../core/interrupt_guard.ts";
import { fsPath, joinPath, showName } from "../core/names.ts";
import type { LineSink } from "../core/sink.ts";
import type { HashFileOptions } from "../hash/file.ts";
import { hashInOrder, type HashJobResult, type Work } from "../hash/pool.ts";
import { fillChunk } from "../io/fill.ts";
import { HeldFolder } from "../io/held_folder.ts";
import type { CheckContext, CheckCounts, CheckFlags, CheckLine, CheckOutcome, ErrorLike, SumDialect } from "./dialect.ts";
import { unsafeManifestPath } from "./inputs.ts";
import { decodeName, lineData } from "./lines.ts";
import { hashStdin } from "./summer.ts";

/** How to run check mode. */
export interface CheckOptions {
  flags: CheckFlags;
  hasher: HashFileOptions;
  /** Files hashed at once (Workers). */
  jobs: number;
  /** Open listed paths beneath this folder. */
  root: string | undefined;
  /** One JSON object per line instead of the dialect's wording. */
  json: boolean;
}

/**
 * The longest check line read, in bytes before its newline: xxhsum 0.8's (a line of 32,767
 * bytes is "too long" there). No path the kernel opens is that long (PATH_MAX is 4,096).
 */
export const MAX_CHECK_LINE = 32_766;

/** One line of a check file as read: its bytes (valid until the next line is read), or too long to hold. */
export type RawCheckLine = { lineNumber: number; bytes: Uint8Array } | { lineNumber: number; tooLong: true };

/**
 * The lines of an open check file, from its current position, read in 64 KiB chunks. A line is
 * held only up to `maxLine` bytes; a longer one is reported once as `tooLong` and skipped.
 * `beforeWait` runs before each read after the first, which may wait for a pipe's writer: the
 * caller lets out the verdicts it holds, so lines checked show while the rest is still to come.
 * @example
 * declare const fd: number, parse: (bytes: Uint8Array) => void;
 * for (const line of readCheckLines(fd)) if ("bytes" in line) parse(line.bytes);
 */
export function* readCheckLines(fd: number, maxLine = MAX_CHECK_LINE, beforeWait?: () => void): Generator<RawCheckLine> {
  const chunk = Buffer.allocUnsafe(64 << 10);
  const line = Buffer.allocUnsafe(maxLine);
  let length = 0;
  let skipping = false;
  let lineNumber = 0;
  for (let reads = 0; ; reads++) {
    if (reads > 0) beforeWait?.();
    const n = fillChunk(fd, chunk, 0, chunk.length, null);
    if (n === 0) break;
    const view = chunk.subarray(0, n);
    let start = 0;
    while (start < n) {
      const newline = view.indexOf(0x0a, start);
      const end = newline < 0 ? n : newline;
      if (!skipping) {
        if (length + (end - start) > maxLine) {
          skipping = true;
          yield { lineNumber: ++lineNumber, tooLong: true };
        } else {
          line.set(view.subarray(start, end), length);
          length += end - start;
        }
      }
      if (newline < 0) break;
      if (skipping) skipping = false;
      else yield { lineNumber: ++lineNumber, bytes: line.subarray(0, length) };
      length = 0;
      start = newline + 1;
    }
  }
  if (!skipping && length > 0) yield { lineNumber: ++lineNumber, bytes: line.subarray(0, length) };
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * A line's text by the anchor's rule: UTF-8 or nothing (b3sum), or any bytes, each one that is
 * not UTF-8 carried as lib/core/names.ts does (xxhsum). A byte order mark stays part of the
 * line, as both anchors read it.
 */
function decodeLine(bytes: Uint8Array, encoding: SumDialect["checkEncoding"]): string | undefined {
  if (encoding === "utf8") {
    try {
      return utf8.decode(bytes);
    } catch {
      return undefined;
    }
  }
  return decodeName(bytes);
}

type Item = { lineNumber: number; malformed: string } | { lineNumber: number; endsFile: string } | { lineNumber: number; line: CheckLine; rejected?: string };

/** The check file's lines, parsed as they are read; `beforeWait` as for {@link readCheckLines}. */
function* checkItems(fd: number, dialect: SumDialect, beforeWait: () => void): Generator<Item> {
  for (const raw of readCheckLines(fd, MAX_CHECK_LINE, beforeWait)) {
    const { lineNumber } = raw;
    if ("tooLong" in raw) {
      if (dialect.tooLong === "ends-file") {
        yield { lineNumber, endsFile: "Line too long" };
        return;
      }
      yield { lineNumber, malformed: "Line too long" };
      continue;
    }
    const text = decodeLine(raw.bytes, dialect.checkEncoding);
    if (text === undefined) {
      yield { lineNumber, malformed: "Invalid UTF-8" };
      continue;
    }
    const parsed = dialect.parseCheckLine(text);
    if (typeof parsed === "string") {
      yield { lineNumber, malformed: parsed };
      continue;
    }
    const rejected = parsed.stdin ? undefined : unsafeManifestPath(parsed.name);
    yield rejected ? { lineNumber, line: parsed, rejected } : { lineNumber, line: parsed };
  }
}

function emptyCounts(): CheckCounts {
  return { proper: 0, improper: 0, ok: 0, mismatched: 0, unreadable: 0, rejected: 0, ignoredMissing: 0 };
}

/** How one check file ended: every listed file read back and matched, or not, or unreadable. */
export type CheckVerdict = "passed" | "failed" | "unreadable";

function errorLike(error: unknown): ErrorLike {
  const e = (error ?? {}) as { code?: string; message?: string; detail?: unknown };
  return { code: e.code, message: e.message ?? String(error), ...(typeof e.detail === "string" ? { detail: e.detail } : {}) };
}

/**
 * A listed path opened without --root: links followed, as the anchors open it, but never
 * waiting (a FIFO is then a named failure); a regular file under another process's lease is
 * asked for again until the lease is given back (lib/io/libc.ts `openRetryingAgain`).
 */
function openListed(name: string): number {
  return openRetryingAgain(() => openSync(fsPath(name), constants.O_RDONLY | constants.O_NONBLOCK));
}

function openCheckFile(checkFile: string): number {
  return checkFile === "-" ? 0 : openSync(fsPath(checkFile), "r");
}

/**
 * Checks one check file (`-` for stdin) and reports in the dialect's wording. With `root`, the
 * listed paths are opened beneath that held folder.
 */
export async function checkOne(checkFile: string, dialect: SumDialect, options: CheckOptions, out: LineSink, root?: HeldFolder): Promise<CheckVerdict> {
  const ctx: CheckContext = { checkFile: checkFile === "-" ? dialect.stdinName : checkFile, flags: options.flags, out };
  const cannotRead = (error: unknown): CheckVerdict => {
    const e = errorLike(error);
    if (options.json) out.data(`${JSON.stringify({ checkFile: ctx.checkFile, status: "unreadable", error: e.detail ?? e.message })}\n`);
    dialect.cannotRead(ctx, e);
    return "unreadable";
  };
  // Standard input or a FIFO may never send a line: Ctrl-C must still end the tool.
  await guardedWait(checkFile);
  let fd: number;
  try {
    fd = openCheckFile(checkFile);
  } catch (error) {
    return cannotRead(error);
  }
  const counts = emptyCounts();
  let endedEarly = false;
  const plan = (item: Item): Work => {
    if (!("line" in item) || item.rejected) return undefined;
    const { line } = item;
    // Beneath --root every listed name is a file there, one named '-' or 'stdin' too (as `-r` lists it).
    if (line.stdin && !root) return { here: () => hashStdin([line.algorithm], options.hasher) };
    let opened: number;
    try {
      opened = root ? root.openReadInside(line.name) : openListed(line.name);
    } catch (error) {
      return { failed: error };
    }
    return { job: { path: root ? joinPath(root.path, line.name) : line.name, fd: opened, algorithms: [line.algorithm], options: options.hasher } };
  };
  const onResult = (item: Item, result: HashJobResult | undefined) => {
    if ("endsFile" in item) {
      endedEarly = true;
      dialect.endsFile(ctx, item.lineNumber, item.endsFile);
      return;
    }
    if ("malformed" in item) {
      counts.improper++;
      if (options.json) out.data(`${JSON.stringify({ checkFile: ctx.checkFile, line: item.lineNumber, status: "malformed", reason: item.malformed })}\n`);
      else dialect.malformed(ctx, item.lineNumber, item.malformed);
      return;
    }
    counts.proper++;
    let outcome: CheckOutcome;
    if (item.rejected) {
      outcome = { kind: "rejected", reason: item.rejected };
      counts.rejected++;
    } else if (!result!.ok) {
      if (options.flags.ignoreMissing && result!.code === "ENOENT") {
        counts.ignoredMissing++;
        return;
      }
      outcome = { kind: "unreadable", error: { code: result!.code, message: result!.message, detail: result!.detail } };
      counts.unreadable++;
    } else {
      const actualHex = result!.hexes[0]![1];
      const same = actualHex === item.line.expectedHex;
      outcome = { kind: same ? "ok" : "failed", actualHex };
      if (same) counts.ok++;
      else counts.mismatched++;
    }
    if (options.json) out.data(`${JSON.stringify(jsonVerdict(ctx.checkFile, item.lineNumber, item.line, outcome))}\n`);
    else report(ctx, dialect, item.lineNumber, item.line, outcome);
  };
  try {
    await hashInOrder(
      checkItems(fd, dialect, () => out.flush()),
      options.jobs,
      plan,
      onResult,
    );
  } catch (error) {
    // The check file itself failed mid-way (an I/O error, a folder given as a check file).
    return cannotRead(error);
  } finally {
    if (fd !== 0) closeSync(fd);
  }
  let passed = dialect.passed(counts, options.flags) && !endedEarly;
  if (options.json) out.data(`${JSON.stringify({ checkFile: ctx.checkFile, status: passed ? "passed" : "failed", ...counts })}\n`);
  else dialect.summary(ctx, counts);
  // --ignore-missing must not turn "nothing could be read" into success.
  if (options.flags.ignoreMissing && counts.ignoredMissing > 0 && counts.ok + counts.mismatched + counts.unreadable + counts.rejected === 0) {
    out.error(`${dialect.tool}: ${showName(ctx.checkFile)}: no file was verified`);
    passed = false;
  }
  return passed ? "passed" : "failed";
}

/** Prints a verdict as both anchors do: `name: OK` / `name: FAILED` on stdout, muted by --quiet/--status. */
function report(ctx: CheckContext, dialect: SumDialect, lineNumber: number, line: CheckLine, outcome: CheckOutcome): void {
  const { quiet, status } = ctx.flags;
  switch (outcome.kind) {
    case "ok":
      if (!quiet && !status) ctx.out.data(lineData(`${line.display}: OK\n`));
      break;
    case "failed":
      if (!status) ctx.out.data(lineData(`${line.display}: FAILED\n`));
      break;
    case "unreadable":
      if (!status) ctx.out.data(lineData(dialect.unreadable(ctx, lineNumber, line, outcome.error)));
      break;
    case "rejected":
      // Shown escaped: a hostile line must not write raw NULs or terminal escapes into a log.
      ctx.out.error(`${dialect.tool}: ${showName(ctx.checkFile)}:${lineNumber}: ${showName(line.name)}: ${outcome.reason}`);
      break;
  }
}

function jsonVerdict(checkFile: string, lineNumber: number, line: CheckLine, outcome: CheckOutcome): Record<string, unknown> {
  const base = { checkFile, line: lineNumber, name: line.name, algorithm: line.algorithm, expected: line.expectedHex };
  switch (outcome.kind) {
    case "ok":
    case "failed":
      return { ...base, status: outcome.kind, actual: outcome.actualHex };
    case "unreadable":
      return { ...base, status: "unreadable", error: outcome.error.detail ?? outcome.error.message };
    case "rejected":
      return { ...base, status: "rejected", error: outcome.reason };
  }
}

/**
 * Checks every check file in order (stdin when none is given) and returns the exit code, the
 * anchors' own: 0 every check file passed, 1 a check failed or a check file could not be read.
 * @throws {CliError}-like system error when `--root` cannot be opened.
 */
export async function runChecks(checkFiles: readonly string[], dialect: SumDialect, options: CheckOptions, out: LineSink): Promise<number> {
  const root = options.root !== undefined ? HeldFolder.open(options.root) : undefined;
  let code = 0;
  try {
    for (const file of checkFiles.length ? checkFiles : ["-"]) {
      const verdict = await checkOne(file, dialect, options, out, root);
      if (verdict !== "passed") code = 1;
    }
  } finally {
    root?.close();
  }
  out.flush();
  return code;
}
