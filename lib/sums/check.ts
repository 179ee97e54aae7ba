/**
 * Check mode shared by the summing tools: read check files, hash every listed file (in
 * parallel with `--jobs`, verdicts still in line order), compare, and report in the tool's
 * dialect. With `--root DIR` the listed paths are resolved below DIR, so a manifest made at the
 * source checks a copy elsewhere; paths that are absolute or climb out with `..` are refused.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LineSink } from "../core/sink.ts";
import type { HashFileOptions } from "../hash/file.ts";
import { hashInOrder, type Work } from "../hash/pool.ts";
import type { CheckContext, CheckCounts, CheckFlags, CheckLine, CheckOutcome, SumDialect } from "./dialect.ts";
import { unsafeManifestPath } from "./inputs.ts";
import { hashStdin } from "./summer.ts";

/** How to run check mode. */
export interface CheckOptions {
  flags: CheckFlags;
  hasher: HashFileOptions;
  /** Files hashed at once (Workers). */
  jobs: number;
  /** Resolve listed paths below this folder. */
  root: string | undefined;
  /** One JSON object per line instead of the dialect's wording. */
  json: boolean;
}

type Item =
  | { lineNumber: number; malformed: string }
  | { lineNumber: number; line: CheckLine; rejected?: string };

function parseCheckFile(bytes: Uint8Array, dialect: SumDialect): Item[] {
  const items: Item[] = [];
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let start = 0;
  let lineNumber = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    lineNumber++;
    let text: string | undefined;
    try {
      text = decoder.decode(bytes.subarray(start, end));
    } catch {
      text = undefined;
    }
    start = end + 1;
    if (text === undefined) {
      items.push({ lineNumber, malformed: "Invalid UTF-8" });
      continue;
    }
    const parsed = dialect.parseCheckLine(text);
    if (typeof parsed === "string") {
      items.push({ lineNumber, malformed: parsed });
      continue;
    }
    const rejected = parsed.stdin ? undefined : unsafeManifestPath(parsed.name);
    items.push(rejected ? { lineNumber, line: parsed, rejected } : { lineNumber, line: parsed });
  }
  return items;
}

function emptyCounts(): CheckCounts {
  return { proper: 0, improper: 0, ok: 0, mismatched: 0, unreadable: 0, rejected: 0, ignoredMissing: 0 };
}

/** How one check file ended: every listed file read back and matched, or not, or unreadable. */
export type CheckVerdict = "passed" | "failed" | "unreadable";

/**
 * Checks one check file (`-` for stdin) and reports in the dialect's wording.
 */
export async function checkOne(checkFile: string, dialect: SumDialect, options: CheckOptions, out: LineSink): Promise<CheckVerdict> {
  const ctx: CheckContext = { checkFile: checkFile === "-" ? dialect.stdinName : checkFile, flags: options.flags, out };
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(checkFile === "-" ? 0 : checkFile);
  } catch (error) {
    const e = error as { code?: string; message?: string };
    if (options.json) out.data(`${JSON.stringify({ checkFile: ctx.checkFile, status: "unreadable", error: e.message ?? String(error) })}\n`);
    dialect.cannotRead(ctx, { code: e.code, message: e.message ?? String(error) });
    return "unreadable";
  }
  const counts = emptyCounts();
  const items = parseCheckFile(bytes, dialect);
  const plan = (item: Item): Work => {
    if (!("line" in item) || item.rejected) return undefined;
    const { line } = item;
    if (line.stdin) return { here: () => hashStdin([line.algorithm], options.hasher) };
    const path = options.root !== undefined ? join(options.root, line.name) : line.name;
    return { job: { path, algorithms: [line.algorithm], options: options.hasher } };
  };
  const entries = items.filter((i) => "line" in i).length;
  await hashInOrder(items, entries > 1 ? options.jobs : 1, plan, (item, result) => {
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
      outcome = { kind: "unreadable", error: { code: result!.code, message: result!.message } };
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
  });
  let passed = dialect.passed(counts, options.flags);
  if (options.json) out.data(`${JSON.stringify({ checkFile: ctx.checkFile, status: passed ? "passed" : "failed", ...counts })}\n`);
  else dialect.summary(ctx, counts);
  // --ignore-missing must not turn "nothing could be read" into success.
  if (options.flags.ignoreMissing && counts.ignoredMissing > 0 && counts.ok + counts.mismatched + counts.unreadable + counts.rejected === 0) {
    out.error(`${dialect.tool}: ${ctx.checkFile}: no file was verified`);
    passed = false;
  }
  return passed ? "passed" : "failed";
}

/** Prints a verdict as both anchors do: `name: OK` / `name: FAILED` on stdout, muted by --quiet/--status. */
function report(ctx: CheckContext, dialect: SumDialect, lineNumber: number, line: CheckLine, outcome: CheckOutcome): void {
  const { quiet, status } = ctx.flags;
  switch (outcome.kind) {
    case "ok":
      if (!quiet && !status) ctx.out.data(`${line.display}: OK\n`);
      break;
    case "failed":
      if (!status) ctx.out.data(`${line.display}: FAILED\n`);
      break;
    case "unreadable":
      if (!status) ctx.out.data(dialect.unreadable(ctx, lineNumber, line, outcome.error));
      break;
    case "rejected":
      // The name is shown with control characters escaped: a hostile line must not write raw
      // NULs or terminal escapes into a log.
      ctx.out.error(`${dialect.tool}: ${ctx.checkFile}:${lineNumber}: ${printable(line.display)}: ${outcome.reason}`);
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
      return { ...base, status: "unreadable", error: outcome.error.message };
    case "rejected":
      return { ...base, status: "rejected", error: outcome.reason };
  }
}

/**
 * Checks every check file in order (stdin when none is given) and returns the exit code:
 * 0 all passed, 1 a check failed, 2 a check file could not be read.
 */
export async function runChecks(checkFiles: readonly string[], dialect: SumDialect, options: CheckOptions, out: LineSink): Promise<number> {
  let code = 0;
  for (const file of checkFiles.length ? checkFiles : ["-"]) {
    const verdict = await checkOne(file, dialect, options, out);
    if (verdict === "unreadable") code = 2;
    else if (verdict === "failed" && code === 0) code = 1;
  }
  out.flush();
  return code;
}

/** A name for a message: control characters as `\xNN`, and at most 200 characters. */
function printable(name: string): string {
  const escaped = name.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return escaped.length > 200 ? `${escaped.slice(0, 200)}…` : escaped;
}
