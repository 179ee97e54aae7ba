/**
 * The response to a GET or HEAD of one representation: preconditions (304, 412), `Range` and
 * `If-Range` (206 single or multipart/byteranges, 416), HEAD with the headers a GET would get.
 * Bodies are streams pulled by the connection: a chunk is read only when the client has taken
 * the last one, so memory stays flat however many clients there are and however slowly they
 * read, and a slow client holds one chunk, not the file.
 */
import { randomBytes } from "node:crypto";
import { evaluatePreconditions, httpDate, ifRangeHolds, parseRange, type ByteRange, type Validators } from "./http_ranges.ts";
import type { RangeReader } from "./source.ts";

/** Bytes read per pull of a streamed body. */
export const CHUNK_BYTES = 256 << 10;
/** A body up to this size is read at once and sent from one buffer (the common 1 MiB range; why: BENCHMARKS.md, "Notes on the serve benchmark"). */
export const BUFFERED_BYTES = 1 << 20;

/** What can be served: its length, type, validators and a way to read a byte range of it. */
export interface Representation {
  size: number;
  contentType: string;
  validators: Validators;
  /** Opens `[start, end)`. @throws {SourceError} when it cannot be read. */
  open(start: number, end: number): RangeReader;
  /** Further headers for 200 and 206 responses (e.g. `Content-Disposition`). */
  headers?: Record<string, string>;
  /**
   * A single range read at once (206) is written straight from its read buffer to the
   * connection, sent chunked, without Content-Length: no copy of it is made when the connection
   * takes it all at once (Bun copies only what the connection cannot take yet), where a body
   * given whole is always copied first. Only a 206: its Content-Range still tells an HTTP/1.0
   * client, which cannot be sent chunks and reads to the close, how long the body must be; a
   * 200 keeps its Content-Length. For the archive's files, fetched by tools and players that
   * read Content-Range; proxies keep Content-Length for the players that want it.
   */
  writeDirect?: boolean;
}

/** Told when a body could not be completed after its headers were sent (the connection is cut). */
export type BodyErrorListener = (error: unknown) => void;

/** Headers that describe the representation, sent with 200, 206 and HEAD. */
function representationHeaders(rep: Representation): Record<string, string> {
  const headers: Record<string, string> = { "accept-ranges": "bytes", "content-type": rep.contentType, ...rep.headers };
  if (rep.validators.etag !== undefined) headers.etag = rep.validators.etag;
  if (rep.validators.lastModifiedSeconds !== undefined) headers["last-modified"] = httpDate(rep.validators.lastModifiedSeconds);
  return headers;
}

/**
 * Answers a GET or HEAD of `rep`.
 * @throws {SourceError} when the first bytes cannot be opened (the caller answers 404).
 */
export async function respond(request: Request, rep: Representation, onBodyError: BodyErrorListener = () => {}): Promise<Response> {
  const header = (name: string) => request.headers.get(name);
  const head = request.method === "HEAD";
  const precondition = evaluatePreconditions(header, rep.validators);
  if (precondition === 304) {
    // RFC 9110 15.4.5: the validators, and Last-Modified only when there is no entity-tag.
    const headers: Record<string, string> = {};
    if (rep.validators.etag !== undefined) headers.etag = rep.validators.etag;
    else if (rep.validators.lastModifiedSeconds !== undefined) headers["last-modified"] = httpDate(rep.validators.lastModifiedSeconds);
    return new Response(null, { status: 304, headers });
  }
  if (precondition === 412) return new Response(head ? null : "precondition failed\n", { status: 412, headers: { "content-type": "text/plain; charset=utf-8" } });

  const headers = representationHeaders(rep);
  // Range is defined for GET only; HEAD answers as a GET without Range would (RFC 9110 14.2).
  const range = header("range");
  const answer = !head && range !== null && ifRangeHolds(header("if-range"), rep.validators) ? parseRange(range, rep.size) : { kind: "whole" as const };
  if (answer.kind === "unsatisfiable") {
    return new Response("range not satisfiable\n", { status: 416, headers: { "content-range": `bytes */${rep.size}`, "content-type": "text/plain; charset=utf-8", "accept-ranges": "bytes" } });
  }
  if (answer.kind === "whole") {
    headers["content-length"] = String(rep.size);
    if (head) {
      // Opened, its first byte read, and let go: a file gone, changed, known damaged, or a tape
      // record swapped for a link or a FIFO answers HEAD as it would GET.
      const reader = rep.open(0, Math.min(1, rep.size));
      try {
        if (rep.size > 0) await reader.read(new Uint8Array(1));
      } finally {
        reader.close();
      }
      return new Response(null, { status: 200, headers });
    }
    return withBody(rep, { start: 0, end: rep.size }, { status: 200, headers }, false, onBodyError);
  }
  const ranges = answer.ranges;
  if (ranges.length === 1) {
    const only = ranges[0]!;
    headers["content-range"] = `bytes ${only.start}-${only.end - 1}/${rep.size}`;
    if (!rep.writeDirect) headers["content-length"] = String(only.end - only.start);
    return withBody(rep, only, { status: 206, headers }, rep.writeDirect === true, onBodyError);
  }
  const boundary = randomBytes(12).toString("hex");
  const parts = ranges.map((r, i) => ({
    range: r,
    head: new TextEncoder().encode(`${i === 0 ? "" : "\r\n"}--${boundary}\r\ncontent-type: ${rep.contentType}\r\ncontent-range: bytes ${r.start}-${r.end - 1}/${rep.size}\r\n\r\n`),
  }));
  const tail = new TextEncoder().encode(`\r\n--${boundary}--\r\n`);
  headers["content-type"] = `multipart/byteranges; boundary=${boundary}`;
  headers["content-length"] = String(parts.reduce((sum, p) => sum + p.head.length + p.range.end - p.range.start, tail.length));
  // The first part is opened now, so a missing file is known before any header is sent.
  const first = rep.open(ranges[0]!.start, ranges[0]!.end);
  return new Response(multipartBody(rep, parts, first, tail, onBodyError), { status: 206, headers });
}

/**
 * Buffers for bodies read at once, kept from response to response. Bun copies bytes given as a
 * body when the Response is made, and what a direct write hands it that the connection cannot
 * take at once (tests/serve.test.ts holds it to both), so a buffer is free again as soon as the
 * Response exists or the write has returned: no fresh MiB to allocate, zero and collect per
 * request. More than one is out only while responses overlap. They are shared memory, so a read
 * thread can fill them (lib/serve/range_reads.ts).
 */
const spareBuffers: Uint8Array[] = [];
/** Buffers kept when nobody uses them. */
const SPARE_BUFFERS = 4;

function giveBack(buffer: Uint8Array): void {
  if (spareBuffers.length < SPARE_BUFFERS) spareBuffers.push(buffer);
}

/** The response for one range, its body opened now (so a missing file is known before any header is sent): read at once into a kept buffer when small, else a pulled stream. */
async function withBody(rep: Representation, { start, end }: ByteRange, init: ResponseInit, direct: boolean, onBodyError: BodyErrorListener): Promise<Response> {
  if (end === start) return new Response(null, init);
  const reader = rep.open(start, end);
  if (end - start > BUFFERED_BYTES) return new Response(pulled([{ reader: () => reader, prefix: undefined, length: end - start }], undefined, onBodyError), init);
  const buffer = spareBuffers.pop() ?? new Uint8Array(new SharedArrayBuffer(BUFFERED_BYTES));
  let lent = false;
  try {
    const bytes = buffer.subarray(0, end - start);
    let filled = 0;
    while (filled < bytes.length) {
      const n = await reader.read(bytes.subarray(filled));
      if (n === 0) break;
      filled += n;
    }
    if (filled < bytes.length) throw new Error(`only ${filled} of ${bytes.length} bytes could be read`);
    if (!direct) return new Response(bytes, init);
    lent = true;
    return new Response(
      writtenOnce(bytes, () => giveBack(buffer)),
      init,
    );
  } finally {
    reader.close();
    if (!lent) giveBack(buffer);
  }
}

/**
 * A body written to the connection in one direct write when the connection pulls it. The
 * buffer is given back, and let go by the stream, as soon as the write returns (a stalled
 * client then holds only what Bun copied, not the buffer as well), or when the body is
 * cancelled before it was pulled; once either way. A pull after that only ends the body.
 */
function writtenOnce(bytes: Uint8Array, done: () => void): ReadableStream<Uint8Array> {
  let body: Uint8Array | undefined = bytes;
  let release: (() => void) | undefined = done;
  const letGo = () => {
    const giveBack = release;
    body = undefined;
    release = undefined;
    giveBack?.();
  };
  /** Writes the body, lets it go, and returns what the write returned (no reference to the bytes). */
  const writeNow = (controller: ReadableStreamDirectController): number | Promise<number> | undefined => {
    if (body === undefined) return undefined;
    try {
      return controller.write(body);
    } finally {
      letGo();
    }
  };
  return new ReadableStream({
    type: "direct",
    async pull(controller) {
      const pending = writeNow(controller);
      if (pending !== undefined) await pending;
      controller.close();
    },
    cancel: letGo,
  }) as ReadableStream<Uint8Array>;
}

/** A multipart/byteranges body: each part's header, then its bytes, then the closing delimiter. */
function multipartBody(rep: Representation, parts: { range: ByteRange; head: Uint8Array }[], first: RangeReader, tail: Uint8Array, onBodyError: BodyErrorListener): ReadableStream<Uint8Array> {
  return pulled(
    parts.map((p, i) => ({ reader: () => (i === 0 ? first : rep.open(p.range.start, p.range.end)), prefix: p.head, length: p.range.end - p.range.start })),
    tail,
    onBodyError,
  );
}

interface Segment {
  reader: () => RangeReader;
  prefix: Uint8Array | undefined;
  length: number;
}

/**
 * A stream that reads its segments one chunk per pull. With a high-water mark of 0 nothing is
 * read ahead of the client: the connection's backpressure is the only pace.
 */
function pulled(segments: Segment[], tail: Uint8Array | undefined, onBodyError: BodyErrorListener): ReadableStream<Uint8Array> {
  let index = 0;
  let current: RangeReader | undefined;
  let left = 0;
  let tailSent = tail === undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            if (current !== undefined && left > 0) {
              const chunk = new Uint8Array(Math.min(CHUNK_BYTES, left));
              const n = await current.read(chunk);
              if (n === 0) throw new Error(`the source ended ${left} bytes early`);
              left -= n;
              if (left === 0) {
                current.close();
                current = undefined;
              }
              controller.enqueue(chunk.subarray(0, n));
              return;
            }
            const segment = segments[index];
            if (segment === undefined) {
              if (!tailSent) {
                tailSent = true;
                controller.enqueue(tail!);
                return;
              }
              controller.close();
              return;
            }
            index++;
            current = segment.reader();
            left = segment.length;
            if (segment.prefix) {
              controller.enqueue(segment.prefix);
              return;
            }
          }
        } catch (error) {
          current?.close();
          current = undefined;
          onBodyError(error);
          // The connection is reset, so the client sees a failed transfer, never a short whole one.
          // The error was told above: given to the stream, Bun would print it with a stack trace.
          controller.error(undefined);
        }
      },
      cancel() {
        current?.close();
        current = undefined;
      },
    },
    { highWaterMark: 0 },
  );
}
