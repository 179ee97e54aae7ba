/**
 * Escaping of file names in checksum lines, the coreutils/b3sum convention: a name that holds a
 * backslash or a newline is written with `\\` and `\n`, and the line starts with one `\`.
 * Written once, used both ways.
 */

/** A name as it appears in a checksum line. */
export interface EscapedName {
  /** The name with `\` and newline escaped if needed. */
  text: string;
  /** True when the line must start with `\`. */
  escaped: boolean;
}

/**
 * Escapes a name when `needsEscape(name)` says so (by default: it holds `\` or a newline, as
 * b3sum does).
 * @example
 * escapeName("a\nb"); // { text: "a\\nb", escaped: true }
 */
export function escapeName(name: string, needsEscape: (name: string) => boolean = (n) => n.includes("\\") || n.includes("\n")): EscapedName {
  if (!needsEscape(name)) return { text: name, escaped: false };
  return { text: name.replaceAll("\\", "\\\\").replaceAll("\n", "\\n"), escaped: true };
}

/**
 * Reverses {@link escapeName}. Any escape other than `\\` and `\n` is an error: a check is a
 * security tool, and guessing what an odd escape meant could make two names look the same.
 * @throws {Error} "Invalid backslash escape"
 */
export function unescapeName(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = text[i + 1];
    if (next === "n") out += "\n";
    else if (next === "\\") out += "\\";
    else throw new Error("Invalid backslash escape");
    i++;
  }
  return out;
}
