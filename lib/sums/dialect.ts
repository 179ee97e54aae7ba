/**
 * A dialect is everything that differs between the summing tools: how a sum line is written,
 * how a check line is read, and how check results are worded. The engines in `summer.ts` and
 * `check.ts` are shared.
 */
import type { Algorithm } from "../hash/algorithms.ts";
import type { LineSink } from "../core/sink.ts";
import type { SumInput } from "./inputs.ts";

/** A system error as a worker reports it. */
export interface ErrorLike {
  code?: string | undefined;
  message: string;
  /** What happened, when it says more than strerror's phrase for the code. */
  detail?: string | undefined;
}

/** One line of a check file that parsed. */
export interface CheckLine {
  algorithm: Algorithm;
  /** Expected digest, lowercase hex in canonical (big-endian) byte order. */
  expectedHex: string;
  /** Path to check (unescaped, relative to the root or the current directory). */
  name: string;
  /** The name as the line wrote it, for messages. */
  display: string;
  /** True when the name stands for standard input (`-` for b3sum, `stdin` for xxhsum). */
  stdin: boolean;
}

/** Where a check line's verdict came from. */
export type CheckOutcome = { kind: "ok"; actualHex: string } | { kind: "failed"; actualHex: string } | { kind: "unreadable"; error: ErrorLike } | { kind: "rejected"; reason: string };

/** Counts for one check file. */
export interface CheckCounts {
  proper: number;
  improper: number;
  ok: number;
  mismatched: number;
  unreadable: number;
  rejected: number;
  ignoredMissing: number;
}

/** Flags of check mode that change what is printed. */
export interface CheckFlags {
  quiet: boolean;
  status: boolean;
  strict: boolean;
  warn: boolean;
  ignoreMissing: boolean;
}

/** The context a dialect reports into. */
export interface CheckContext {
  /** Check file as named on the command line (or the dialect's stdin name). */
  checkFile: string;
  flags: CheckFlags;
  out: LineSink;
}

/** Everything a summing tool's output depends on. */
export interface SumDialect {
  /** Program name for stderr messages. */
  tool: string;
  /** Name printed for standard input. */
  stdinName: string;
  /**
   * How the anchor reads a check file: `utf8` (b3sum: a line that is not UTF-8 is refused) or
   * `bytes` (xxhsum: a name is any bytes, printed back as they are).
   */
  checkEncoding: "utf8" | "bytes";
  /**
   * What a check line longer than the longest line this reader takes does: `ends-file` (xxhsum:
   * "Line too long", and the rest of that file is not read) or `refused` (that line fails, the
   * next is read).
   */
  tooLong: "ends-file" | "refused";
  /** The sum line (or raw bytes) for one input, from its digest as lowercase hex in canonical order. */
  formatSum(input: SumInput, hex: string): string | Uint8Array;
  /** The stderr line for an input that could not be hashed. */
  hashError(input: SumInput, error: ErrorLike): string;
  /** Parses one check line (without its newline); a string is the reason it is malformed. */
  parseCheckLine(line: string): CheckLine | string;
  /** Reports a malformed line. */
  malformed(ctx: CheckContext, lineNumber: number, reason: string): void;
  /** Reports the line at which reading the check file stopped (a line too long, for xxhsum). */
  endsFile(ctx: CheckContext, lineNumber: number, reason: string): void;
  /**
   * The stdout line for a listed file that could not be read (both anchors print `name: OK`
   * and `name: FAILED` alike; they differ here).
   */
  unreadable(ctx: CheckContext, lineNumber: number, line: CheckLine, error: ErrorLike): string;
  /** Whether a check file with these counts passed, by the anchor's rules. */
  passed(counts: CheckCounts, flags: CheckFlags): boolean;
  /** Prints the end-of-file summary, if the anchor prints one. */
  summary(ctx: CheckContext, counts: CheckCounts): void;
  /** Reports a check file that could not be read. */
  cannotRead(ctx: CheckContext, error: ErrorLike): void;
}
