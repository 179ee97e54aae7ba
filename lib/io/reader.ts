/**
 * The chunked reader: reads a file front to back into a small pool of reused buffers, keeping
 * the next reads in flight while the caller hashes (or writes) the current chunk. Measured here:
 * 1 MiB chunks with four reads in flight match `cat`, and let hashing overlap the copy out of
 * the page cache (BENCHMARKS.md). Sources are never mmapped: a pulled card would kill the
 * process with SIGBUS instead of giving an I/O error.
 */
import { fstatSync, read, readSync } from "node:fs";

/** Options for {@link readChunks}. */
export interface ReadChunksOptions {
  /**
   * Bytes per read.
   * @default 1048576
   */
  chunkSize?: number;
  /**
   * Reads kept in flight for regular files (pipes and terminals are read one at a time).
   * @default 4
   */
  depth?: number;
}

/** Default chunk size: 1 MiB. */
export const DEFAULT_CHUNK_SIZE = 1 << 20;

function readAt(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buffer, offset, length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead)));
  });
}

/**
 * Yields the file's bytes in order, as views into reused buffers: a yielded chunk is valid only
 * until the loop asks for the next one. Works for regular files (positioned, pipelined reads)
 * and for pipes and stdin (sequential reads).
 * @example
 * for await (const chunk of readChunks(fd)) hasher.update(chunk);
 */
export async function* readChunks(fd: number, options: ReadChunksOptions = {}): AsyncGenerator<Uint8Array> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const regular = fstatSync(fd).isFile();
  if (!regular) {
    const buffer = Buffer.allocUnsafe(chunkSize);
    for (;;) {
      const n = await readAt(fd, buffer, 0, chunkSize, null);
      if (n === 0) return;
      yield buffer.subarray(0, n);
    }
  }

  const depth = Math.max(1, options.depth ?? 4);
  const buffers = Array.from({ length: depth }, () => Buffer.allocUnsafe(chunkSize));
  const pending: Promise<number>[] = [];
  let nextPosition = 0;
  for (let i = 0; i < depth; i++) {
    pending.push(readAt(fd, buffers[i]!, 0, chunkSize, nextPosition));
    nextPosition += chunkSize;
  }
  try {
    for (let slot = 0; ; slot = (slot + 1) % depth) {
      const buffer = buffers[slot]!;
      let n = await pending.shift()!;
      // pread returns short only at end of file; if it ever does so early (network file
      // systems), finish this chunk synchronously so no byte is skipped.
      while (n > 0 && n < chunkSize) {
        const more = readSync(fd, buffer, n, chunkSize - n, nextPosition - depth * chunkSize + n);
        if (more === 0) break;
        n += more;
      }
      if (n === 0) return;
      yield buffer.subarray(0, n);
      if (n < chunkSize) return;
      pending.push(readAt(fd, buffer, 0, chunkSize, nextPosition));
      nextPosition += chunkSize;
    }
  } finally {
    // Let reads still in flight settle before the caller closes the descriptor.
    await Promise.allSettled(pending);
  }
}
