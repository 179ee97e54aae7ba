/**
 * The algorithm names cartkit knows, their aliases and their digest sizes. This is the one list:
 * every tool resolves user-supplied names through {@link resolveAlgorithm}.
 */
import { usageError } from "../core/errors.ts";

/** Canonical algorithm names. */
export const ALGORITHMS = ["xxh32", "xxh64", "xxh3", "xxh128", "blake3", "md5", "sha1", "sha256", "sha512", "c4", "crc32"] as const;

/** One of {@link ALGORITHMS}. */
export type Algorithm = (typeof ALGORITHMS)[number];

/** Digest size in bytes (c4 is a SHA-512 digest shown in base58). */
export const DIGEST_BYTES: Record<Algorithm, number> = {
  xxh32: 4,
  xxh64: 8,
  xxh3: 8,
  xxh128: 16,
  blake3: 32,
  md5: 16,
  sha1: 20,
  sha256: 32,
  sha512: 64,
  c4: 64,
  crc32: 4,
};

/** Names as the native tools and MHL files spell them (BSD tag lines, log lines). */
export const DISPLAY_NAME: Record<Algorithm, string> = {
  xxh32: "XXH32",
  xxh64: "XXH64",
  xxh3: "XXH3",
  xxh128: "XXH128",
  blake3: "BLAKE3",
  md5: "MD5",
  sha1: "SHA1",
  sha256: "SHA256",
  sha512: "SHA512",
  c4: "C4",
  crc32: "CRC32",
};

const ALIASES: Record<string, Algorithm> = {
  xxh64be: "xxh64",
  xxhash64: "xxh64",
  xxhash64be: "xxh64",
  xxhash: "xxh32",
  xxhash32: "xxh32",
  xxh3_64: "xxh3",
  xxh3_128: "xxh128",
  "xxh3-64": "xxh3",
  "xxh3-128": "xxh128",
  "sha-1": "sha1",
  "sha-256": "sha256",
  "sha-512": "sha512",
  b3: "blake3",
};

/** True when `name` is a canonical algorithm name. */
export function isAlgorithm(name: string): name is Algorithm {
  return (ALGORITHMS as readonly string[]).includes(name);
}

/**
 * Resolves a user-supplied name (any case, aliases such as `xxh64be`) to its canonical name.
 * @throws {CliError} naming the bad value and the accepted names.
 * @example
 * resolveAlgorithm("XXH64BE"); // "xxh64"
 */
export function resolveAlgorithm(name: string): Algorithm {
  const lower = name.trim().toLowerCase();
  if (isAlgorithm(lower)) return lower;
  const alias = ALIASES[lower];
  if (alias) return alias;
  throw usageError(`unknown hash algorithm '${name}'; use one of: ${ALGORITHMS.join(", ")}`);
}
