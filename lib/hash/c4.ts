/**
 * C4 IDs (SMPTE ST 2114): the SHA-512 digest read as a big-endian integer, written in base58
 * with the Bitcoin alphabet, left-padded with '1' to 88 characters and prefixed with `c4`.
 */

const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const ID_DIGITS = 88;

/**
 * Encodes a 64-byte SHA-512 digest as a 90-character C4 ID.
 * @example
 * declare const sha512Bytes: Uint8Array;
 * c4FromSha512(sha512Bytes); // "c4…" (90 characters)
 */
export function c4FromSha512(digest: Uint8Array): string {
  if (digest.length !== 64) throw new Error(`c4 needs a 64-byte SHA-512 digest, got ${digest.length} bytes`);
  let value = BigInt(`0x${Buffer.from(digest).toString("hex")}`);
  const digits: string[] = [];
  while (value > 0n) {
    digits.push(ALPHABET[Number(value % 58n)]!);
    value /= 58n;
  }
  return `c4${digits.reverse().join("").padStart(ID_DIGITS, "1")}`;
}

/** Decodes a C4 ID back to its SHA-512 digest, or undefined if it is not a well-formed ID. */
export function sha512FromC4(id: string): Uint8Array | undefined {
  if (id.length !== ID_DIGITS + 2 || !id.startsWith("c4")) return undefined;
  let value = 0n;
  for (const ch of id.slice(2)) {
    const digit = ALPHABET.indexOf(ch);
    if (digit < 0) return undefined;
    value = value * 58n + BigInt(digit);
  }
  const hex = value.toString(16);
  if (hex.length > 128) return undefined;
  return Uint8Array.from(Buffer.from(hex.padStart(128, "0"), "hex"));
}
