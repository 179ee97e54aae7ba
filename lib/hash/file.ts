/**
 * Hashing whole files and streams: the reader feeding a set of hashers.
 */
import { closeSync, fstatSync, openSync } from "node:fs";
import { fsPath } from "../core/names.ts";
import { readChunks, type ReadChunksOptions } from "../io/reader.ts";
import type { Algorithm } from "./algorithms.ts";
import type { Hasher } from "./hasher.ts";
import type { HasherOptions } from "./options.ts";
import { createHashers } from "./registry.ts";

/** Native XXH3 and XXH128 hash faster than a core copies from the page cache. */
function outrunsReading(hasher: Hasher): boolean {
  return hasher.engine === "native" && (hasher.algorithm === "xxh3" || hasher.algorithm === "xxh128");
}

/** Digests of one input. */
export interface FileDigests {
  /** Printed digest per algorithm, in the order asked for. */
  hexes: Map<Algorithm, string>;
  /** Raw digest bytes per algorithm (canonical order). */
  digests: Map<Algorithm, Uint8Array>;
  /** Bytes read. */
  size: number;
}

/** Options for {@link hashFd} and {@link hashPath}. */
export interface HashFileOptions extends HasherOptions, ReadChunksOptions {}

/**
 * Hashes everything readable from an open descriptor (a file, a pipe, stdin) with one or more
 * algorithms in a single pass.
 */
export async function hashFd(fd: number, algorithms: readonly Algorithm[], options: HashFileOptions = {}): Promise<FileDigests> {
  const set = await createHashers(algorithms, options);
  let size = 0;
  // A hash that outruns the copy from the page cache gains nothing from a reader thread, and
  // loses the cache locality of reading on the hashing core (measured: BENCHMARKS.md).
  const overlap = options.overlap ?? (set.hashers.every(outrunsReading) ? false : undefined);
  for (const chunk of readChunks(fd, { ...options, overlap })) {
    set.update(chunk);
    size += chunk.length;
  }
  return {
    hexes: set.hexes(),
    digests: new Map(set.hashers.map((h) => [h.algorithm, h.digest()])),
    size,
  };
}

/**
 * Opens and hashes a file. Directories are refused with EISDIR, as `read(2)` would.
 * @example
 * const { hexes } = await hashPath("clip.mov", ["xxh64", "md5"]);
 */
export async function hashPath(path: string, algorithms: readonly Algorithm[], options: HashFileOptions = {}): Promise<FileDigests> {
  const fd = openSync(fsPath(path), "r");
  try {
    if (fstatSync(fd).isDirectory()) {
      throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read`), { code: "EISDIR" });
    }
    return await hashFd(fd, algorithms, options);
  } finally {
    closeSync(fd);
  }
}
