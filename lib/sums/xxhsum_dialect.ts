/**
 * xxhsum 0.8's wording, byte for byte on stdout: GNU lines for XXH32/XXH64/XXH128, BSD tag
 * lines for XXH3 (and for all with `--tag`), `_LE` tags, every line style in check mode, and
 * the md5sum-style summary. Names are bytes, printed back as they are, as xxhsum does. One
 * deliberate difference: a name holding a newline is escaped (`\` at the line start, `\n`,
 * `\\`), where xxhsum writes it raw and breaks its own file; and a name found by `-r` that is
 * not UTF-8 is written with `\xHH` escapes (a manifest is text).
 */
import { DISPLAY_NAME, type Algorithm } from "../hash/algorithms.ts";
import { describeSystemError } from "../core/errors.ts";
import { showName } from "../core/names.ts";
import type { CheckContext, CheckCounts, CheckFlags, CheckLine, ErrorLike, SumDialect } from "./dialect.ts";
import { escapeName } from "./escape.ts";
import { errorName, type SumInput } from "./inputs.ts";
import { formatBsdLine, formatGnuLine, lineData, parseXxhsumLine } from "./lines.ts";

/** Output shape of xxhsum's hash mode. */
export interface XxhsumFormat {
  algorithm: Algorithm;
  /** `--tag`: BSD lines (always on for XXH3, as in xxhsum). */
  tag: boolean;
  /** `--little-endian`: digest bytes reversed, `_LE` tags. */
  littleEndian: boolean;
}

const HEX_LENGTH_ALGORITHM: Record<number, Algorithm> = { 8: "xxh32", 16: "xxh64", 32: "xxh128" };
const DIGEST_HEX_LENGTH: Partial<Record<Algorithm, number>> = { xxh32: 8, xxh64: 16, xxh3: 16, xxh128: 32 };

function reverseHex(hex: string): string {
  return Buffer.from(hex, "hex").reverse().toString("hex");
}

/** Only a newline forces escaping; backslashes stay raw, as xxhsum writes them. */
function needsEscape(name: string): boolean {
  return name.includes("\n");
}

/** Algorithm of a BSD tag, by xxhsum's prefix rules (an unknown tag means XXH64). */
function tagAlgorithm(tag: string): Algorithm {
  if (tag.startsWith("XXH128")) return "xxh128";
  if (tag.startsWith("XXH64")) return "xxh64";
  if (tag.startsWith("XXH32")) return "xxh32";
  if (tag.startsWith("XXH3")) return "xxh3";
  return "xxh64";
}

/** The xxhsum dialect; `checkLittleEndian` is `--little-endian` in check mode (untagged lines). */
export function xxhsumDialect(tool: string, format: XxhsumFormat): SumDialect {
  const bsd = format.tag || format.algorithm === "xxh3";
  const tag = `${DISPLAY_NAME[format.algorithm]}${format.littleEndian ? "_LE" : ""}`;
  return {
    tool,
    stdinName: "stdin",
    checkEncoding: "bytes",
    tooLong: "ends-file",
    formatSum(input: SumInput, canonical: string) {
      const hex = format.littleEndian ? reverseHex(canonical) : canonical;
      const name = escapeName(input.name, needsEscape, { bytes: input.escapeBytes === true });
      return lineData(bsd ? formatBsdLine(tag, hex, name) : formatGnuLine(hex, name));
    },
    hashError(input: SumInput, error: ErrorLike) {
      return `${tool}: ${showName(errorName(input))}: ${describeSystemError(error)}`;
    },
    parseCheckLine(text: string): CheckLine | string {
      const parsed = parseXxhsumLine(text);
      if (!parsed) return "Improperly formatted checksum line.";
      let algorithm: Algorithm | undefined;
      let littleEndian = format.littleEndian;
      if (parsed.style === "bsd") {
        algorithm = tagAlgorithm(parsed.tag!);
        littleEndian = parsed.tag!.includes("_LE");
      } else {
        algorithm = HEX_LENGTH_ALGORITHM[parsed.hex.length];
      }
      if (!algorithm || DIGEST_HEX_LENGTH[algorithm] !== parsed.hex.length) return "Improperly formatted checksum line.";
      const hex = parsed.hex.toLowerCase();
      return {
        algorithm,
        expectedHex: littleEndian ? reverseHex(hex) : hex,
        name: parsed.name,
        display: text.startsWith("\\") ? `\\${parsed.display}` : parsed.display,
        stdin: parsed.name === "stdin",
      };
    },
    malformed(ctx: CheckContext, lineNumber: number, reason: string) {
      if (ctx.flags.warn) ctx.out.error(`${showName(ctx.checkFile)}:${lineNumber}: Error: ${reason}`);
    },
    endsFile(ctx: CheckContext, lineNumber: number, reason: string) {
      ctx.out.error(`${showName(ctx.checkFile)}:${lineNumber}: Error: ${reason}.`);
    },
    unreadable(ctx: CheckContext, lineNumber: number, line: CheckLine, error: ErrorLike) {
      return `${ctx.checkFile}:${lineNumber}: Could not open or read '${line.display}': ${describeSystemError(error)}.\n`;
    },
    passed(counts: CheckCounts, flags: CheckFlags) {
      return counts.proper > 0 && counts.mismatched === 0 && counts.unreadable === 0 && counts.rejected === 0 && (!flags.strict || counts.improper === 0);
    },
    summary(ctx: CheckContext, counts: CheckCounts) {
      if (counts.proper === 0) {
        ctx.out.error(`${showName(ctx.checkFile)}: no properly formatted xxHash checksum lines found`);
        return;
      }
      if (ctx.flags.status) return;
      const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
      if (counts.improper) ctx.out.data(`${plural(counts.improper, "line is", "lines are")} improperly formatted\n`);
      if (counts.unreadable) ctx.out.data(`${plural(counts.unreadable, "listed file", "listed files")} could not be read\n`);
      if (counts.mismatched) ctx.out.data(`${plural(counts.mismatched, "computed checksum", "computed checksums")} did NOT match\n`);
    },
    cannotRead(ctx: CheckContext, error: ErrorLike) {
      ctx.out.error(`${tool}: ${showName(ctx.checkFile)}: ${describeSystemError(error)}`);
    },
  };
}
