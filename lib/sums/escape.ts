/**
 * Escaping of file names in checksum lines, the coreutils/b3sum convention: a name that holds a
 * backslash or a newline is written with `\\` and `\n`, and the line starts with one `\`.
 *
 * cartkit extends it, for names read from a folder (`-r`) or a file list, with `\xHH` for each
 * byte that is not part of valid UTF-8 (lib/core/names.ts carries such a byte as one lone
 * surrogate): a checksum file is text, and a name of bytes written raw into it could not be read
 * back as the same name by every reader. The anchors never write `\x` (b3sum refuses it as an
 * invalid escape), so every line an anchor writes is still written the same, byte for byte.
 * Written once, used both ways.
 */
import { nameBytes, nameFromBytes } from "../core/names.ts";

/** A name as it appears in a checksum line. */
export interface EscapedName {
  /** The name with `\` and newline escaped if needed. */
  text: string;
  /** True when the line must start with `\`. */
  escaped: boolean;
}

/** Options of {@link escapeName} and {@link unescapeName}. */
export interface ByteEscapes {
  /** Write (or read) each byte that is not part of valid UTF-8 as `\xHH` (80–ff). */
  bytes?: boolean;
}

/** A lone surrogate standing for a byte (lib/core/names.ts); the `u` flag keeps pairs whole. */
const ESCAPED_BYTE = /[\udc80-\udcff]/gu;

/** b3sum's rule: a name is escaped when it holds a backslash or a newline. */
export function b3sumNeedsEscape(name: string): boolean {
  return name.includes("\\") || name.includes("\n");
}

/**
 * Escapes a name when `needsEscape(name)` says so (by default: it holds `\` or a newline, as
 * b3sum does), or, with `bytes`, when it holds bytes that are not UTF-8.
 * @example
 * escapeName("a\nb"); // { text: "a\\nb", escaped: true }
 * escapeName("caf\udce9.mov", undefined, { bytes: true }); // { text: "caf\\xe9.mov", escaped: true }
 */
export function escapeName(name: string, needsEscape: (name: string) => boolean = b3sumNeedsEscape, options: ByteEscapes = {}): EscapedName {
  const hasBytes = options.bytes === true && !name.isWellFormed();
  if (!hasBytes && !needsEscape(name)) return { text: name, escaped: false };
  let text = name.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
  if (hasBytes) text = text.replace(ESCAPED_BYTE, (c) => `\\x${(c.charCodeAt(0) - 0xdc00).toString(16)}`);
  return { text, escaped: true };
}

/**
 * Reverses {@link escapeName}. Any escape other than `\\`, `\n` (and, with `bytes`, `\x80` to
 * `\xff` for bytes that are not UTF-8) is an error: a check is a security tool, and guessing
 * what an odd escape meant could make two names look the same. So `\xc3\xa9` (the UTF-8 of
 * `é`, which is written as it is) and `\x41` are refused too: each name has one spelling.
 * @throws {Error} "Invalid backslash escape"
 */
export function unescapeName(text: string, options: ByteEscapes = {}): string {
  let out = "";
  let hasBytes = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = text[i + 1];
    if (next === "n") out += "\n";
    else if (next === "\\") out += "\\";
    else if (next === "x" && options.bytes && /^[89a-f][0-9a-f]$/.test(text.slice(i + 2, i + 4))) {
      out += String.fromCharCode(0xdc00 + Number.parseInt(text.slice(i + 2, i + 4), 16));
      hasBytes = true;
      i += 2;
    } else throw new Error("Invalid backslash escape");
    i++;
  }
  if (hasBytes && nameFromBytes(nameBytes(out)) !== out) throw new Error("Invalid backslash escape");
  return out;
}
