/**
 * Checksum lines: the GNU form (`<hex>  <name>`, `<hex> *<name>`) and the BSD tag form
 * (`ALGO (name) = <hex>`), written and parsed. The parsers follow the two anchors exactly:
 * b3sum's strict reader and xxhsum 0.8's permissive one.
 */
import { nameBytes, nameFromBytes } from "../core/names.ts";
import { escapeName, unescapeName, type EscapedName } from "./escape.ts";

/** A parsed checksum line. */
export interface SumLine {
  /** `gnu` for `<hex>  <name>`, `bsd` for `ALGO (name) = <hex>`. */
  style: "gnu" | "bsd";
  /** The BSD tag (`XXH64`, `XXH3_LE`, `SHA256`…), if any. */
  tag: string | undefined;
  /** The digest as written. */
  hex: string;
  /** The file name, unescaped. */
  name: string;
  /** The name as written in the line (with a leading `\` when escaped), for messages. */
  display: string;
  /** True when the GNU line marks binary mode (`<hex> *<name>`). */
  binary: boolean;
}

/** The GNU form: `<hex>  <name>` (or ` *` for binary mode); escaped names start the line with `\`. */
export function formatGnuLine(hex: string, name: EscapedName, binary = false): string {
  return `${name.escaped ? "\\" : ""}${hex} ${binary ? "*" : " "}${name.text}\n`;
}

/** The BSD tag form: `TAG (<name>) = <hex>`; escaped names start the line with `\`. */
export function formatBsdLine(tag: string, hex: string, name: EscapedName): string {
  return `${name.escaped ? "\\" : ""}${tag} (${name.text}) = ${hex}\n`;
}

export { escapeName };

/**
 * The name a sequence of bytes stands for (lib/core/names.ts's `nameFromBytes`), keeping a
 * leading byte order mark as part of it: U+FEFF is a character like any other in a name or a
 * check line, and both anchors read it so.
 */
export function decodeName(bytes: Uint8Array): string {
  let bom = "";
  let rest = bytes;
  while (rest.length >= 3 && rest[0] === 0xef && rest[1] === 0xbb && rest[2] === 0xbf) {
    bom += "\ufeff";
    rest = rest.subarray(3);
  }
  return bom + nameFromBytes(rest);
}

/**
 * A line for stdout: the text itself, or, when it carries bytes that are not UTF-8 (a name
 * xxhsum prints back as it found it), exactly those bytes.
 */
export function lineData(text: string): string | Uint8Array {
  return text.isWellFormed() ? text : nameBytes(text);
}

const LOWER_HEX = /^[0-9a-f]*$/;
const ANY_HEX = /^[0-9a-fA-F]*$/;

/**
 * Parses a line as b3sum 1.x checks it: optional leading `\` (escaped name), exactly
 * `hexLength` lowercase hex digits, two spaces, a non-empty name. Returns the reason as b3sum
 * words it when the line is refused.
 */
export function parseB3sumLine(raw: string, hexLength = 64): SumLine | string {
  let line = raw.replace(/\n+$/, "");
  if (line.length === 0) return "Empty line";
  let escaped = false;
  if (line.startsWith("\\")) {
    escaped = true;
    line = line.slice(1);
  }
  const prefixLength = hexLength + 2;
  if (Buffer.byteLength(line, "utf8") <= prefixLength) return "Short line";
  if (!/^[\x00-\x7f]*$/.test(line.slice(0, prefixLength))) return "Non-ASCII prefix";
  if (line.slice(hexLength, prefixLength) !== "  ") return "Invalid space";
  const hex = line.slice(0, hexLength);
  if (!LOWER_HEX.test(hex)) return "Invalid hex";
  const written = line.slice(prefixLength);
  let name = written;
  if (escaped) {
    try {
      name = unescapeName(written, { bytes: true });
    } catch (error) {
      return (error as Error).message;
    }
  }
  const invalid = invalidPathCharacter(name);
  if (invalid) return invalid;
  return { style: "gnu", tag: undefined, hex, name, display: escaped ? `\\${written}` : written, binary: false };
}

/**
 * Refuses names that could make two different paths look the same: NUL truncates a path on
 * Unix, and U+FFFD stands for any invalid UTF-8 sequence.
 */
export function invalidPathCharacter(name: string): string | undefined {
  if (name.includes("\0")) return "Null character in path";
  if (name.includes("\uFFFD")) return "Unicode replacement character in path";
  return undefined;
}

/**
 * Parses a line as xxhsum 0.8 checks it: either `<hex><sep><any char><name>` or
 * `<TAG> (<name>) = <hex>`. The hex may be any case. Returns undefined for an improperly
 * formatted line. A line starting with `\` carries an escaped name (written by xxsum for names
 * with a newline, which xxhsum would write raw and break the file, and for names of bytes that
 * are not UTF-8 found by `-r`).
 */
export function parseXxhsumLine(raw: string): SumLine | undefined {
  let line = raw;
  let escaped = false;
  if (line.startsWith("\\")) {
    escaped = true;
    line = line.slice(1);
  }
  const firstSpace = line.indexOf(" ");
  if (firstSpace < 0 || firstSpace + 1 >= line.length) return undefined;
  let parsed: SumLine;
  if (line[firstSpace + 1] === "(") {
    const lastSpace = line.lastIndexOf(" ");
    if (lastSpace - firstSpace < 5) return undefined;
    if (line.slice(lastSpace - 3, lastSpace) !== ") =") return undefined;
    const written = line.slice(firstSpace + 2, lastSpace - 3);
    parsed = { style: "bsd", tag: line.slice(0, firstSpace), hex: line.slice(lastSpace + 1), name: written, display: written, binary: false };
  } else {
    const written = line.slice(firstSpace + 2);
    parsed = { style: "gnu", tag: undefined, hex: line.slice(0, firstSpace), name: written, display: written, binary: line[firstSpace + 1] === "*" };
  }
  if (!ANY_HEX.test(parsed.hex)) return undefined;
  if (escaped) {
    try {
      parsed.name = unescapeName(parsed.name, { bytes: true });
    } catch {
      return undefined;
    }
  }
  return parsed;
}
