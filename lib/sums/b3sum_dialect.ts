/**
 * b3sum 1.x's wording, byte for byte on stdout: `<hex>  <name>` lines with b3sum's escaping,
 * `name: OK`, `name: FAILED`, `name: FAILED (<io error>)`, parse errors on stderr, no summary.
 * A file named on the command line whose name is not UTF-8 is printed as b3sum prints it, with
 * U+FFFD for each such byte (and `-c` refuses that character, as b3sum does); one found by `-r`
 * is written with `\xHH` escapes, which `-c` reads back as the same bytes.
 */
import { describeAsRustIoError } from "../core/errors.ts";
import { showName } from "../core/names.ts";
import type { CheckContext, CheckCounts, CheckLine, ErrorLike, SumDialect } from "./dialect.ts";
import { b3sumNeedsEscape, escapeName } from "./escape.ts";
import { errorName, type SumInput } from "./inputs.ts";
import { formatGnuLine, parseB3sumLine } from "./lines.ts";

/** Output shape of b3sum's hash mode. */
export interface B3sumFormat {
  /** `--no-names`: the hex only. */
  noNames: boolean;
  /** `--raw`: the digest bytes, nothing else. */
  raw: boolean;
}

/** The b3sum dialect. */
export function b3sumDialect(tool: string, format: B3sumFormat): SumDialect {
  return {
    tool,
    stdinName: "-",
    checkEncoding: "utf8",
    tooLong: "refused",
    formatSum(input: SumInput, hex: string) {
      if (format.raw) return Buffer.from(hex, "hex");
      if (format.noNames) return `${hex}\n`;
      const name = input.escapeBytes ? input.name : input.name.toWellFormed();
      return formatGnuLine(hex, escapeName(name, b3sumNeedsEscape, { bytes: input.escapeBytes === true }));
    },
    hashError(input: SumInput, error: ErrorLike) {
      return `${tool}: ${showName(errorName(input))}: ${describeAsRustIoError(error)}`;
    },
    parseCheckLine(text: string): CheckLine | string {
      const parsed = parseB3sumLine(text);
      if (typeof parsed === "string") return parsed;
      return { algorithm: "blake3", expectedHex: parsed.hex, name: parsed.name, display: parsed.display, stdin: parsed.name === "-" };
    },
    malformed(ctx: CheckContext, lineNumber: number, reason: string) {
      ctx.out.error(`${tool}: ${showName(ctx.checkFile)}:${lineNumber}: ${reason}`);
    },
    endsFile(ctx: CheckContext, lineNumber: number, reason: string) {
      ctx.out.error(`${tool}: ${showName(ctx.checkFile)}:${lineNumber}: ${reason}; the rest of the file was not read`);
    },
    unreadable(_ctx: CheckContext, _lineNumber: number, line: CheckLine, error: ErrorLike) {
      return `${line.display}: FAILED (${describeAsRustIoError(error)})\n`;
    },
    passed(counts: CheckCounts) {
      const checked = counts.ok + counts.mismatched + counts.unreadable + counts.rejected;
      return counts.improper === 0 && counts.mismatched === 0 && counts.unreadable === 0 && counts.rejected === 0 && (checked > 0 || counts.ignoredMissing > 0);
    },
    summary(ctx: CheckContext, counts: CheckCounts) {
      // b3sum passes an empty check file silently; a manifest that verifies nothing must not.
      if (counts.proper === 0 && counts.improper === 0) {
        ctx.out.error(`${tool}: ${showName(ctx.checkFile)}: no checksum lines found; nothing was verified`);
      }
    },
    cannotRead(ctx: CheckContext, error: ErrorLike) {
      ctx.out.error(`${tool}: ${showName(ctx.checkFile)}: ${describeAsRustIoError(error)}`);
    },
  };
}
