/**
 * Names are bytes. A file name on Linux is any sequence of bytes but `/` and NUL; most are
 * UTF-8, some are not (a card formatted with another code page, `caf\xE9.mov`). cartkit carries
 * every name as a JavaScript string that maps one to one onto its bytes: valid UTF-8 is decoded
 * as usual, and each byte that is not part of valid UTF-8 becomes one lone surrogate,
 * U+DC80 + (byte − 0x80) (the "surrogateescape" mapping Python uses for the same purpose). A
 * string made this way turns back into exactly the bytes it came from ({@link nameBytes}), so a
 * copy gets a byte-identical name, and strings of valid UTF-8 stay what they always were.
 *
 * - To the file system, {@link fsPath} hands a string where the name is valid UTF-8 and a
 *   Buffer of the original bytes where it is not.
 * - To people, {@link showName} escapes what a terminal would act on or hide.
 * - In JSON, `JSON.stringify` writes a lone surrogate as `\udcXX`: lossless for readers that
 *   keep strings as UTF-16 (JavaScript, Python's `surrogatepass`), replaced by U+FFFD elsewhere.
 * - Formats that hold only UTF-8 (ASC MHL, LTFS indexes) check {@link isUtf8Name} and refuse a
 *   name that is not, by name.
 */

// ignoreBOM: a name that starts with U+FEFF keeps it (it is part of the name, not a marker).
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** First and last code unit of the escapes: U+DC80 stands for byte 0x80, U+DCFF for 0xFF. */
const ESCAPE_FIRST = 0xdc80;
const ESCAPE_LAST = 0xdcff;

/** The length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there starts none. */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return 1;
  const cont = (k: number) => i + k < bytes.length && (bytes[i + k]! & 0xc0) === 0x80;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const b1 = bytes[i + 1]!;
    if (b0 === 0xe0 && b1 < 0xa0) return 0; // overlong
    if (b0 === 0xed && b1 >= 0xa0) return 0; // a UTF-16 surrogate, not a character
    return 3;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const b1 = bytes[i + 1]!;
    if (b0 === 0xf0 && b1 < 0x90) return 0; // overlong
    if (b0 === 0xf4 && b1 >= 0x90) return 0; // beyond U+10FFFF
    return 4;
  }
  return 0;
}

/**
 * The name a sequence of bytes stands for: its UTF-8 text, with each byte that is not part of
 * valid UTF-8 carried as one lone surrogate.
 * @example
 * nameFromBytes(Buffer.from([0x63, 0x61, 0x66, 0xe9])); // "caf\udce9"
 */
export function nameFromBytes(bytes: Uint8Array): string {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    // not valid UTF-8: decode sequence by sequence
  }
  let out = "";
  let start = 0;
  for (let i = 0; i < bytes.length; ) {
    const n = sequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += strictDecoder.decode(bytes.subarray(start, i)) + String.fromCharCode(ESCAPE_FIRST + bytes[i]! - 0x80);
    i++;
    start = i;
  }
  return out + strictDecoder.decode(bytes.subarray(start));
}

/**
 * The same string, stored in one piece. A string built by concatenation is kept as the list of
 * its parts until something reads it whole (several strings per path): one that is held for
 * every file of a tree is made flat here first, so it costs its bytes and little more.
 * @example
 * declare const folder: string, name: string;
 * const relativePath = flatString(`${folder}/${name}`);
 */
export function flatString(text: string): string {
  // A comparison reads the whole string, which makes the engine join its parts in place.
  return text < "\u0000" ? text : text;
}

/** True when the name is valid UTF-8 (it carries no escaped byte). */
export function isUtf8Name(name: string): boolean {
  return name.isWellFormed();
}

/** Characters XML 1.0 cannot carry at all, not even as a character reference. */
const NOT_XML_CHARACTER = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;

/**
 * Why an XML format (ASC MHL, legacy MHL) cannot hold a name, or undefined when it can: a name
 * that is not UTF-8, or one with a C0 control other than TAB, LF and CR (or U+FFFE, U+FFFF),
 * which XML 1.0 forbids even as a character reference. Such a name is refused by name, never
 * written into a file that parsers would reject.
 * @example
 * xmlNameProblem("A001.mov"); // undefined
 * xmlNameProblem("esc\x1b[31m"); // "name holds a control character that XML cannot carry"
 */
export function xmlNameProblem(name: string): string | undefined {
  if (!name.isWellFormed()) return "name is not valid UTF-8";
  if (NOT_XML_CHARACTER.test(name)) return "name holds a control character that XML cannot carry";
  return undefined;
}

/**
 * The bytes a name stands for (the inverse of {@link nameFromBytes}).
 * @throws {TypeError} for a lone surrogate that is not an escaped byte: no name has it.
 */
export function nameBytes(name: string): Uint8Array {
  if (name.isWellFormed()) return encoder.encode(name);
  const parts: number[] = [];
  let run = "";
  const flush = () => {
    if (run) for (const b of encoder.encode(run)) parts.push(b);
    run = "";
  };
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < name.length) {
      const next = name.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        run += name[i]! + name[i + 1]!;
        i++;
        continue;
      }
    }
    if (unit >= ESCAPE_FIRST && unit <= ESCAPE_LAST) {
      flush();
      parts.push(unit - ESCAPE_FIRST + 0x80);
      continue;
    }
    if (unit >= 0xd800 && unit <= 0xdfff) throw new TypeError(`not a file name: a lone UTF-16 surrogate (U+${unit.toString(16).toUpperCase()}) at ${i}`);
    run += name[i]!;
  }
  flush();
  return Uint8Array.from(parts);
}

/**
 * What to give node:fs for a path: the string itself when it is valid UTF-8, else a Buffer of
 * its bytes, so that a name that is not UTF-8 reaches the kernel unchanged.
 */
export function fsPath(path: string): string | Buffer {
  return path.isWellFormed() ? path : Buffer.from(nameBytes(path));
}

/**
 * Byte order of the names' bytes, the order of `LC_ALL=C sort` (and of the ASC MHL reference's
 * folder listings). For valid UTF-8, byte order is code point order; and where neither string
 * holds a surrogate at the first code unit they differ in, code point order is code unit
 * order, so most names are compared code unit by code unit, without encoding them.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate (an astral character, or an escaped byte) decides by its bytes.
    if ((x & 0xf800) === 0xd800 || (y & 0xf800) === 0xd800) return compareByCodePoint(a, b);
    return x - y;
  }
  return a.length - b.length;
}

function compareByCodePoint(a: string, b: string): number {
  if (!a.isWellFormed() || !b.isWellFormed()) return Buffer.compare(nameBytes(a), nameBytes(b));
  const ai = a[Symbol.iterator]();
  const bi = b[Symbol.iterator]();
  for (;;) {
    const x = ai.next();
    const y = bi.next();
    if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/** Characters a terminal acts on or that hide or reorder text: C0, DEL, C1, line and paragraph separators, bidirectional controls. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\\]|[\udc80-\udcff]/u;

/**
 * A name as shown to people, on one line and unable to move the cursor or forge a log line: a
 * backslash is doubled; `\n`, `\r`, `\t` and `\e` are written so; other C0, DEL and C1
 * characters and bytes that are not UTF-8 as `\xHH`; line separators and bidirectional
 * controls as `\u{HHHH}`. Everything else is shown as it is.
 * @example
 * showName("caf\udce9.mov"); // "caf\\xe9.mov"
 * showName("a\nINFO: fake"); // "a\\nINFO: fake"
 */
export function showName(name: string): string {
  return escapeUnsafe(name, true);
}

/**
 * A line of text from elsewhere (another program's message, a line of an input file) made safe
 * for a terminal and a log the same way as {@link showName}, backslashes left as they are.
 */
export function showLine(text: string): string {
  return escapeUnsafe(text, false);
}

function escapeUnsafe(text: string, backslash: boolean): string {
  if (!UNSAFE.test(text) && text.isWellFormed()) return text;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && text.charCodeAt(i + 1) >= 0xdc00 && text.charCodeAt(i + 1) <= 0xdfff) {
      out += text[i]! + text[i + 1]!;
      i++;
    } else if (unit === 0x5c) out += backslash ? "\\\\" : "\\";
    else if (unit === 0x0a) out += "\\n";
    else if (unit === 0x0d) out += "\\r";
    else if (unit === 0x09) out += "\\t";
    else if (unit === 0x1b) out += "\\e";
    else if (unit < 0x20 || (unit >= 0x7f && unit <= 0x9f)) out += `\\x${unit.toString(16).padStart(2, "0")}`;
    else if (unit >= ESCAPE_FIRST && unit <= ESCAPE_LAST) out += `\\x${(unit - ESCAPE_FIRST + 0x80).toString(16)}`;
    else if (unit >= 0xd800 && unit <= 0xdfff) out += `\\u{${unit.toString(16)}}`;
    else if (unit === 0x2028 || unit === 0x2029 || (unit >= 0x202a && unit <= 0x202e) || (unit >= 0x2066 && unit <= 0x2069)) out += `\\u{${unit.toString(16)}}`;
    else out += text[i]!;
  }
  return out;
}

/**
 * Joins path parts with `/`, as `node:path`'s `join` does for plain relative parts, but keeps
 * every code unit: Bun's `node:path` functions replace a lone surrogate with U+FFFD, which
 * would turn an escaped byte into another name. Use these for any path that holds a name read
 * from a disk, a manifest or a plan.
 * @example
 * joinPath("/Volumes/A001", "CLIPS/caf\udce9.mov"); // "/Volumes/A001/CLIPS/caf\udce9.mov"
 */
export function joinPath(...parts: string[]): string {
  let out = "";
  for (const part of parts) {
    if (part === "" || part === ".") continue;
    if (out === "" || part.startsWith("/")) out = part;
    else out = out.endsWith("/") ? `${out}${part}` : `${out}/${part}`;
  }
  return out === "" ? "." : out;
}

/** The last part of a `/`-separated path (trailing slashes ignored), keeping every code unit. */
export function baseOf(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** The path without its last part (`.` for a bare name, `/` for the root), keeping every code unit. */
export function parentOf(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const at = trimmed.lastIndexOf("/");
  if (at < 0) return ".";
  return at === 0 ? "/" : trimmed.slice(0, at);
}

/**
 * The absolute form of `parts` as node:path's `resolve` gives it (`.` and `..` folded, from the
 * working folder), keeping every code unit: a name that is not UTF-8 stays that name.
 * @example
 * resolvePath("/cards", "caf\udce9", "..", "A001"); // "/cards/A001"
 */
export function resolvePath(...parts: string[]): string {
  let path = process.cwd();
  for (const part of parts) if (part !== "") path = part.startsWith("/") ? part : `${path}/${part}`;
  const kept: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") kept.pop();
    else kept.push(segment);
  }
  return `/${kept.join("/")}`;
}
