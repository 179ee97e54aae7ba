/**
 * CRC-32 (IEEE 802.3, as zlib and `cksum -a crc32b` compute it) in plain TypeScript: the
 * portable engine behind `crc32`, and the reference the native zlib engine is tested against.
 */

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * Continues a CRC-32 over `bytes` from a previous value (0 to start).
 * @example
 * crc32Update(0, new TextEncoder().encode("hello")); // 0x3610a686
 */
export function crc32Update(previous: number, bytes: Uint8Array): number {
  let c = ~previous >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** A 32-bit value as 4 big-endian bytes. */
export function u32BigEndian(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}
