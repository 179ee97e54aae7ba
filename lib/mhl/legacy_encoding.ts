/**
 * Decoding the bytes of a legacy MHL file into text. Most are UTF-8, but the original MHL tool
 * read (and its test suite carries) files in UTF-16 and UTF-32 with and without a byte order
 * mark, and in single- and multi-byte legacy encodings named in the XML declaration
 * (ISO-8859-15, windows-1251, EUC-JP…). The encoding is found the way XML 1.0 Appendix F
 * describes: byte order mark, else the pattern of `<?xml`, else the declaration's `encoding`.
 * Bytes that are not valid in the chosen encoding are an error, never replaced silently: a
 * replaced character in a file name would send verification to the wrong file.
 */
import { CliError } from "../core/errors.ts";

type Detected = { encoding: string; skip: number };

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

/** The encoding the first bytes announce, or undefined for an ASCII-compatible document. */
function detectByBytes(bytes: Uint8Array): Detected | undefined {
  if (startsWith(bytes, [0xef, 0xbb, 0xbf])) return { encoding: "utf-8", skip: 3 };
  if (startsWith(bytes, [0x00, 0x00, 0xfe, 0xff])) return { encoding: "utf-32be", skip: 4 };
  if (startsWith(bytes, [0xff, 0xfe, 0x00, 0x00])) return { encoding: "utf-32le", skip: 4 };
  if (startsWith(bytes, [0xfe, 0xff])) return { encoding: "utf-16be", skip: 2 };
  if (startsWith(bytes, [0xff, 0xfe])) return { encoding: "utf-16le", skip: 2 };
  if (startsWith(bytes, [0x00, 0x00, 0x00, 0x3c])) return { encoding: "utf-32be", skip: 0 };
  if (startsWith(bytes, [0x3c, 0x00, 0x00, 0x00])) return { encoding: "utf-32le", skip: 0 };
  if (startsWith(bytes, [0x00, 0x3c, 0x00, 0x3f])) return { encoding: "utf-16be", skip: 0 };
  if (startsWith(bytes, [0x3c, 0x00, 0x3f, 0x00])) return { encoding: "utf-16le", skip: 0 };
  return undefined;
}

/** TextDecoder has no UTF-32; it is simple enough to decode here. */
function decodeUtf32(bytes: Uint8Array, littleEndian: boolean, file: string): string {
  if (bytes.length % 4 !== 0) throw new CliError("is not valid UTF-32 (length is not a multiple of 4)", { path: file });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += 4) {
    const code = view.getUint32(i, littleEndian);
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      throw new CliError(`is not valid UTF-32 (code point 0x${code.toString(16)} at byte ${i})`, { path: file });
    }
    parts.push(String.fromCodePoint(code));
  }
  return parts.join("");
}

/**
 * Decodes an XML document's bytes, honouring a byte order mark, UTF-16/32 without one, and the
 * `encoding` of the XML declaration (UTF-8 when there is none).
 * @param file name used in error messages
 * @throws {CliError} for an unknown encoding or bytes that are invalid in it.
 * @example
 * import { readFileSync } from "node:fs";
 * const text = decodeXmlBytes(readFileSync("A001.mhl"), "A001.mhl");
 */
export function decodeXmlBytes(bytes: Uint8Array, file: string): string {
  let detected = detectByBytes(bytes);
  if (!detected) {
    // ASCII-compatible: the declaration, if any, is plain ASCII and can be read as Latin-1.
    const head = new TextDecoder("latin1").decode(bytes.subarray(0, 200));
    const declared = /^<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']/.exec(head)?.[1];
    detected = { encoding: declared?.toLowerCase() ?? "utf-8", skip: 0 };
  }
  const body = bytes.subarray(detected.skip);
  if (detected.encoding === "utf-32le" || detected.encoding === "utf-32be" || detected.encoding === "utf-32") {
    return decodeUtf32(body, detected.encoding !== "utf-32be", file);
  }
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(detected.encoding as ConstructorParameters<typeof TextDecoder>[0], { fatal: true, ignoreBOM: true });
  } catch {
    throw new CliError(`unsupported encoding '${detected.encoding}'`, { path: file });
  }
  try {
    return decoder.decode(body);
  } catch {
    throw new CliError(`is not valid ${detected.encoding.toUpperCase()} text`, { path: file });
  }
}
