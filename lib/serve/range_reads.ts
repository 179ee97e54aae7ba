/**
 * Reads of tape records on other threads. The serving thread plans which records a range needs
 * (pieces: a record file, a position in it, a length, where in the buffer) and a read thread
 * copies them from the page cache into the response's shared buffer, so the serving thread goes
 * on answering other connections meanwhile. A thread that did not start, failed or ended is
 * made up for: the serving thread reads the pieces itself (reads can be repeated), and that is
 * said once (CARTKIT_DEBUG=1).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { RequestPool, ThreadFailure } from "../thread/requests.ts";
import { DescriptorCache } from "./descriptors.ts";

/** Bytes of one file to read into a buffer. */
export interface ReadPiece {
  path: string;
  /** Where in the file. */
  position: number;
  length: number;
  /** Where in the buffer. */
  at: number;
}

/** What a read thread is asked: pieces to read into one shared buffer. */
export interface PiecesRequest {
  buffer: SharedArrayBuffer;
  pieces: ReadPiece[];
}

/** This thread's open files: a 1 MiB range of a tape touches two or three records. */
const descriptors = new DescriptorCache(256);

/**
 * Opens a record file as the tape reader does: never through a link (a record is a file of the
 * tape folder itself), and only a regular file.
 * @throws the system error (ELOOP for a link) or an error with code EINVAL for anything else.
 */
function openRecordFile(path: string): number {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw Object.assign(new Error(`${path}: not a tape record (not a regular file); never read`), { code: "EINVAL" });
  }
  return fd;
}

/**
 * Reads each piece into the buffer; returns how many bytes each got (fewer than asked only
 * where the file ends early).
 * @throws the system error of an open or read that failed.
 */
export function readPieces({ buffer, pieces }: PiecesRequest): number[] {
  const into = new Uint8Array(buffer);
  return pieces.map(({ path, position, length, at }) => {
    const fd = descriptors.acquire(path, () => openRecordFile(path));
    try {
      let got = 0;
      while (got < length) {
        const n = readSync(fd, into, at + got, length - got, position + got);
        if (n === 0) break;
        got += n;
      }
      return got;
    } finally {
      descriptors.release(path, fd);
    }
  });
}

/**
 * Threads that read pieces for the server.
 * @example
 * const reads = new RangeReads(1);
 * const buffer = new SharedArrayBuffer(4096);
 * const got = await reads.read({ buffer, pieces: [{ path: "vt/1_10_R", position: 0, length: 4096, at: 0 }] });
 */
export class RangeReads {
  readonly #pool: RequestPool<PiecesRequest, number[]>;

  /** `threads` read threads (at least 1), started on the first read; `script` (tests) replaces their entry point. */
  constructor(threads: number, options: { script?: string } = {}) {
    this.#pool = new RequestPool("range", { size: threads, script: options.script });
  }

  /**
   * Reads the pieces on a read thread, or on this one when the threads are gone.
   * @throws the system error of an open or read that failed.
   */
  async read(request: PiecesRequest): Promise<number[]> {
    try {
      return await this.#pool.request(request);
    } catch (error) {
      if (error instanceof ThreadFailure) return readPieces(request);
      throw error;
    }
  }

  /** Ends the threads. */
  close(): void {
    this.#pool.close();
  }
}
