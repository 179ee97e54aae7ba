/**
 * cartserve on real sources with real servers on loopback: a destination folder with its ASC
 * MHL, a virtual tape written by ltfs-pack, a cartvault store made by the compiled cartvault
 * (more of it in serve-vault.test.ts), and a folder carrying LTFS's attributes as a mounted
 * volume shows them. Every Range case is checked against the file's bytes; conditionals, HEAD,
 * methods, the token off loopback, and each way a request might try to leave a folder.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:net";
import { setXattr } from "../lib/io/libc.ts";
import { coalesce, parseRange } from "../lib/serve/http_ranges.ts";
import { contentTypeOf } from "../lib/serve/media_types.ts";
import { Catalog, decodeSegment, encodeSegment } from "../lib/serve/catalog.ts";
import { openSource } from "../lib/serve/open_source.ts";
import { attachmentHeader, startServer, type RunningServer } from "../lib/serve/server.ts";
import { BUFFERED_BYTES, respond, type Representation } from "../lib/serve/respond.ts";
import { SourceError } from "../lib/serve/source.ts";
import { hlsCommand, mp4Command, type ClipInfo } from "../lib/serve/previews.ts";
import { Volume } from "../lib/ltfs/volume.ts";
import { parseListen } from "../lib/serve/access.ts";
import { RangeReads } from "../lib/serve/range_reads.ts";
import { onThreadFallback } from "../lib/thread/fallback.ts";
import { COMPILED, randomBytes, ROOT, runners, tempDir, tool, type ToolRunner } from "./helpers.ts";
import { pausedRequest, rawRequest, startPrinting } from "./serve-helpers.ts";

const BLOCK = 524_288;

/** A card-like tree: a clip-sized file over several tape blocks, a small one, names to encode. */
function makeCard(root: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>([
    ["CLIPS/A001C001.mov", randomBytes(3 * BLOCK + 12_345, 5)],
    ["CLIPS/A001C002 take 2.mxf", randomBytes(70_000, 6)],
    ["SOUND/scene 12 #1.wav", randomBytes(4096, 7)],
    ["notes.txt", new TextEncoder().encode("day 1\n")],
    ["empty.bin", new Uint8Array(0)],
  ]);
  for (const [path, bytes] of files) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), bytes);
  }
  return files;
}

const runner = runners()[0]!;
const dir = tempDir("cartserve-");
let card: Map<string, Uint8Array>;
let server: RunningServer;
let base: string;

beforeAll(async () => {
  card = makeCard(join(dir, "A001"));
  expect(tool(runner, "mhl-verify", ["create", "A001"], { cwd: dir }).code).toBe(0);
  const plan = tool(runner, "ltfs-pack", ["plan", "A001", "--tape", "LTO-9", "--json"], { cwd: dir });
  writeFileSync(join(dir, "plan.json"), plan.stdout);
  expect(tool(runner, "ltfs-pack", ["write", "plan.json", "--tape", "1", "--vtape", "vt", "--serial", "TS0001"], { cwd: dir }).code).toBe(0);
  // The same card in a vault, committed by the compiled tool.
  makeCard(join(dir, "project", "A001"));
  expect(tool(COMPILED, "cartvault", ["init", "VLT"], { cwd: dir }).code).toBe(0);
  expect(tool(COMPILED, "cartvault", ["commit", "VLT", "project", "-m", "day 1"], { cwd: dir }).code).toBe(0);
  const sources = [await openSource(join(dir, "vt")), await openSource(join(dir, "A001")), await openSource(`${join(dir, "VLT")}@main`)];
  server = startServer({ catalog: new Catalog(sources), listen: parseListen("127.0.0.1:0"), proxies: join(dir, "proxies"), probeClips: false });
  base = server.url.replace(/\/$/, "");
});

afterAll(async () => {
  await server?.stop();
});

const clip = () => card.get("CLIPS/A001C001.mov")!;
const tapeClip = "/files/TS0001/A001/CLIPS/A001C001.mov";
const folderClip = "/files/A001/CLIPS/A001C001.mov";
const vaultClip = "/files/VLT@main/A001/CLIPS/A001C001.mov";
/** The entity-tag each kind of source gives: the recorded XXH128, or the BLAKE3 a vault names the object by. */
const TAG = { "virtual tape": /^"xxh128-[0-9a-f]{32}"$/, folder: /^"xxh128-[0-9a-f]{32}"$/, vault: /^"blake3-[0-9a-f]{64}"$/ } as const;

async function get(path: string, headers: Record<string, string> = {}, method = "GET") {
  const response = await fetch(`${base}${path}`, { method, headers });
  const body: Uint8Array = new Uint8Array(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body };
}

/** A representation of bytes in memory; each read waits for `readsAfter` when given, and reads at most `readAtMost` bytes. */
function bytesRepresentation(bytes: Uint8Array, options: { writeDirect?: boolean; readsAfter?: () => Promise<void>; readAtMost?: number } = {}): Representation {
  return {
    size: bytes.length,
    contentType: "application/octet-stream",
    validators: {},
    writeDirect: options.writeDirect,
    open(start, end) {
      let position = start;
      const step = (into: Uint8Array) => {
        const n = Math.min(into.length, end - position, options.readAtMost ?? Number.POSITIVE_INFINITY);
        into.set(bytes.subarray(position, position + n));
        position += n;
        return n;
      };
      const waits = options.readsAfter;
      const later = async (into: Uint8Array) => {
        await waits?.();
        return step(into);
      };
      return { read: waits ? later : step, close() {} };
    },
  };
}

/** The parts of a multipart/byteranges body: each part's Content-Range and bytes. */
function multipartParts(body: Uint8Array, contentType: string): { range: string; type: string; bytes: Uint8Array }[] {
  const boundary = /boundary=([^;]+)/.exec(contentType)![1]!;
  const text = Buffer.from(body).toString("latin1");
  expect(body.length).toBeGreaterThan(0);
  const parts = text.split(`--${boundary}`).slice(1);
  expect(parts.at(-1)).toBe("--\r\n");
  return parts.slice(0, -1).map((part) => {
    const [head, ...rest] = part.replace(/^\r\n/, "").split("\r\n\r\n");
    const data = rest.join("\r\n\r\n").replace(/\r\n$/, "");
    return { range: /content-range: (.*)/i.exec(head!)![1]!, type: /content-type: (.*)/i.exec(head!)![1]!, bytes: new Uint8Array(Buffer.from(data, "latin1")) as Uint8Array };
  });
}

describe("Range requests (RFC 9110 14) against the bytes of the file", () => {
  for (const [label, path] of [
    ["virtual tape", tapeClip],
    ["folder", folderClip],
    ["vault", vaultClip],
  ] as const) {
    describe(`from a ${label}`, () => {
      test("no Range: 200, the whole file, Accept-Ranges, strong ETag from the recorded digest, Last-Modified", async () => {
        const r = await get(path);
        expect(r.status).toBe(200);
        expect(r.body).toEqual(clip());
        expect(r.headers.get("accept-ranges")).toBe("bytes");
        // Bodies over 1 MiB are streamed, and Bun sends a streamed body chunked, without Content-Length.
        expect([r.headers.get("content-length"), r.headers.get("transfer-encoding")]).toEqual([null, "chunked"]);
        expect(r.headers.get("etag")).toMatch(TAG[label]);
        expect(r.headers.get("content-type")).toBe("video/quicktime");
        const mtime = Math.floor(statSync(join(dir, label === "vault" ? "project/A001/CLIPS/A001C001.mov" : "A001/CLIPS/A001C001.mov")).mtimeMs / 1000);
        expect(r.headers.get("last-modified")).toBe(new Date(mtime * 1000).toUTCString());
      });

      test("a single range: 206 with Content-Range, exactly those bytes", async () => {
        for (const [first, last] of [
          [0, 0],
          [0, 99],
          [BLOCK - 10, BLOCK + 10],
          [12_345, 12_345 + 2 * BLOCK],
        ] as const) {
          const r = await get(path, { range: `bytes=${first}-${last}` });
          expect(r.status).toBe(206);
          expect(r.headers.get("content-range")).toBe(`bytes ${first}-${last}/${clip().length}`);
          // Written direct: with its length when Bun holds the whole body before the headers go, else chunked.
          const length = r.headers.get("content-length");
          expect(length === null ? r.headers.get("transfer-encoding") : length).toBe(length === null ? "chunked" : String(last - first + 1));
          expect(r.body).toEqual(clip().subarray(first, last + 1));
        }
      });

      test("open-ended and past-the-end ranges run to the end", async () => {
        const from = clip().length - 1000;
        let r = await get(path, { range: `bytes=${from}-` });
        expect([r.status, r.headers.get("content-range")]).toEqual([206, `bytes ${from}-${clip().length - 1}/${clip().length}`]);
        expect(r.body).toEqual(clip().subarray(from));
        r = await get(path, { range: `bytes=${from}-99999999999` });
        expect(r.body).toEqual(clip().subarray(from));
        r = await get(path, { range: "bytes=1-" });
        expect(r.body).toEqual(clip().subarray(1));
      });

      test("suffix ranges: the last N bytes, or all of a shorter file", async () => {
        let r = await get(path, { range: "bytes=-500" });
        expect([r.status, r.headers.get("content-range")]).toEqual([206, `bytes ${clip().length - 500}-${clip().length - 1}/${clip().length}`]);
        expect(r.body).toEqual(clip().subarray(clip().length - 500));
        r = await get(path, { range: `bytes=-${clip().length + 10}` });
        expect([r.status, r.headers.get("content-range")]).toEqual([206, `bytes 0-${clip().length - 1}/${clip().length}`]);
        expect(r.body).toEqual(clip());
      });

      test("several ranges: multipart/byteranges, in the order asked, each part right", async () => {
        const r = await get(path, { range: "bytes=1000000-1000099, 0-9,-5" });
        expect(r.status).toBe(206);
        expect(r.headers.get("content-type")).toMatch(/^multipart\/byteranges; boundary=[0-9a-f]+$/);
        expect(r.headers.get("content-range")).toBeNull();
        const parts = multipartParts(r.body, r.headers.get("content-type")!);
        const size = clip().length;
        expect(parts.map((p) => [p.range, p.type])).toEqual([
          [`bytes 1000000-1000099/${size}`, "video/quicktime"],
          [`bytes 0-9/${size}`, "video/quicktime"],
          [`bytes ${size - 5}-${size - 1}/${size}`, "video/quicktime"],
        ]);
        expect(parts[0]!.bytes).toEqual(clip().subarray(1_000_000, 1_000_100));
        expect(parts[1]!.bytes).toEqual(clip().subarray(0, 10));
        expect(parts[2]!.bytes).toEqual(clip().subarray(size - 5));
      });

      test("overlapping and adjacent ranges are merged; one left is a plain 206", async () => {
        const r = await get(path, { range: "bytes=100-199,150-299,300-399" });
        expect([r.status, r.headers.get("content-range")]).toEqual([206, `bytes 100-399/${clip().length}`]);
        expect(r.body).toEqual(clip().subarray(100, 400));
      });

      test("unsatisfiable: 416 with bytes */LEN; unsatisfiable parts of a satisfiable set are dropped", async () => {
        let r = await get(path, { range: `bytes=${clip().length}-` });
        expect([r.status, r.headers.get("content-range")]).toEqual([416, `bytes */${clip().length}`]);
        r = await get(path, { range: "bytes=-0" });
        expect([r.status, r.headers.get("content-range")]).toEqual([416, `bytes */${clip().length}`]);
        r = await get(path, { range: `bytes=${clip().length + 5}-, 0-3` });
        expect([r.status, r.headers.get("content-range")]).toEqual([206, `bytes 0-3/${clip().length}`]);
        expect(r.body).toEqual(clip().subarray(0, 4));
      });

      test("an invalid Range or another unit is ignored: 200 and the whole file", async () => {
        for (const range of ["bytes=5-1", "bytes=abc", "items=0-5", "bytes=0-1,x", "bytes="]) {
          const r = await get(path, { range });
          expect([range, r.status, r.body.length]).toEqual([range, 200, clip().length]);
        }
      });

      test("If-Range: the current strong ETag or Last-Modified keeps the range; anything else gets the whole file", async () => {
        const head = await get(path, {}, "HEAD");
        const etag = head.headers.get("etag")!;
        const lastModified = head.headers.get("last-modified")!;
        const ranged = async (ifRange: string) => (await get(path, { range: "bytes=0-9", "if-range": ifRange })).status;
        expect(await ranged(etag)).toBe(206);
        expect(await ranged(lastModified)).toBe(206);
        expect(await ranged(`W/${etag}`)).toBe(200);
        expect(await ranged('"xxh128-00000000000000000000000000000000"')).toBe(200);
        expect(await ranged(new Date(Date.parse(lastModified) - 1000).toUTCString())).toBe(200);
      });

      test("If-None-Match and If-Modified-Since: 304 with the ETag and no body; If-Match: 412 unless it matches", async () => {
        const etag = (await get(path, {}, "HEAD")).headers.get("etag")!;
        for (const value of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
          const r = await get(path, { "if-none-match": value, range: "bytes=0-9" });
          expect([value, r.status, r.headers.get("etag"), r.body.length, r.headers.get("last-modified")]).toEqual([value, 304, etag, 0, null]);
        }
        expect((await get(path, { "if-none-match": '"other"' })).status).toBe(200);
        const lastModified = (await get(path, {}, "HEAD")).headers.get("last-modified")!;
        expect((await get(path, { "if-modified-since": lastModified })).status).toBe(304);
        expect((await get(path, { "if-modified-since": new Date(Date.parse(lastModified) - 1000).toUTCString() })).status).toBe(200);
        // If-None-Match wins over If-Modified-Since.
        expect((await get(path, { "if-none-match": '"other"', "if-modified-since": lastModified })).status).toBe(200);
        expect((await get(path, { "if-match": '"other"' })).status).toBe(412);
        expect((await get(path, { "if-match": `W/${etag}` })).status).toBe(412);
        expect((await get(path, { "if-match": etag, range: "bytes=0-0" })).status).toBe(206);
        expect((await get(path, { "if-unmodified-since": new Date(Date.parse(lastModified) - 1000).toUTCString() })).status).toBe(412);
      });

      test("HEAD: the headers of a GET without the body; Range is ignored for HEAD", async () => {
        const r = await get(path, { range: "bytes=0-9" }, "HEAD");
        expect(r.status).toBe(200);
        expect(r.headers.get("content-length")).toBe(String(clip().length));
        expect(r.headers.get("accept-ranges")).toBe("bytes");
        expect(r.headers.get("etag")).toMatch(TAG[label]);
        expect(r.body.length).toBe(0);
      });
    });
  }

  test("every file of every source, whole, equals the card; an empty file is 200 with no bytes and 416 for a range", async () => {
    for (const [path, bytes] of card) {
      for (const prefix of ["/files/TS0001/A001/", "/files/A001/", "/files/VLT@main/A001/"]) {
        const r = await get(`${prefix}${path.split("/").map(encodeSegment).join("/")}`);
        expect([prefix + path, r.status]).toEqual([prefix + path, 200]);
        expect(r.body).toEqual(bytes);
      }
    }
    expect((await get("/files/TS0001/A001/empty.bin", { range: "bytes=0-" })).status).toBe(416);
    expect((await get("/files/TS0001/A001/empty.bin", { range: "bytes=-5" })).status).toBe(200);
    expect((await get("/files/VLT@main/A001/empty.bin", { range: "bytes=0-" })).status).toBe(416);
    expect((await get("/files/VLT@main/A001/empty.bin", { range: "bytes=-5" })).status).toBe(200);
  });

  test("content types of media", async () => {
    expect((await get("/files/A001/SOUND/scene%2012%20%231.wav", {}, "HEAD")).headers.get("content-type")).toBe("audio/wav");
    expect((await get("/files/A001/CLIPS/A001C002%20take%202.mxf", {}, "HEAD")).headers.get("content-type")).toBe("application/mxf");
    expect(["a.mov", "a.MP4", "a.mxf", "a.wav", "a.dpx", "a.exr", "a.ari", "a.r3d", "a.braw", "a.dng", "a.bin"].map(contentTypeOf)).toEqual([
      "video/quicktime",
      "video/mp4",
      "application/mxf",
      "audio/wav",
      "image/x-dpx",
      "image/x-exr",
      "image/x-arri-raw",
      "video/x-red-r3d",
      "video/x-blackmagic-raw",
      "image/x-adobe-dng",
      "application/octet-stream",
    ]);
  });
});

describe("tape records read on read threads", () => {
  /** Every kind of range of the tape's clip through a server whose tape reads on `reads`; each body against the file. */
  async function everyRange(reads: RangeReads): Promise<void> {
    const local = startServer({ catalog: new Catalog([await openSource(join(dir, "vt"), reads)]), listen: parseListen("127.0.0.1:0"), proxies: join(dir, "proxies-r"), probeClips: false });
    try {
      const at = local.url.replace(/\/$/, "");
      const bytes = clip();
      const ranges = [
        [0, 0],
        [BLOCK - 10, BLOCK + 10],
        [1, BUFFERED_BYTES],
        [bytes.length - BUFFERED_BYTES, bytes.length - 1],
        [12_345, 12_345 + 2 * BLOCK],
      ] as const;
      // Asked all at once, so reads overlap on the threads.
      const answers = await Promise.all(
        ranges.map(async ([first, last]) => {
          const response = await fetch(`${at}${tapeClip}`, { headers: { range: `bytes=${first}-${last}` } });
          return { status: response.status, range: response.headers.get("content-range"), body: new Uint8Array(await response.arrayBuffer()) };
        }),
      );
      for (const [i, [first, last]] of ranges.entries()) {
        expect({ ...answers[i]!, body: undefined }).toEqual({ status: 206, range: `bytes ${first}-${last}/${bytes.length}`, body: undefined });
        expect(answers[i]!.body).toEqual(bytes.slice(first, last + 1));
      }
      const whole = await fetch(`${at}${tapeClip}`);
      const wholeBody: Uint8Array = new Uint8Array(await whole.arrayBuffer());
      expect(wholeBody).toEqual(bytes);
      const small = await fetch(`${at}/files/TS0001/A001/notes.txt`);
      expect(await small.text()).toBe("day 1\n");
    } finally {
      await local.stop();
    }
  }

  test("every range's bytes are the file's, with two threads reading", async () => {
    const reads = new RangeReads(2);
    try {
      const said: string[] = [];
      const stop = onThreadFallback((reason) => said.push(reason));
      await everyRange(reads);
      stop();
      expect(said).toEqual([]);
    } finally {
      reads.close();
    }
  });

  test("threads that cannot start are made up for: the serving thread reads, the bytes are the same, and it is said once", async () => {
    const reads = new RangeReads(1, { script: join(ROOT, "tests/fixtures/thread/no-such-worker.ts") });
    try {
      const said: string[] = [];
      const stop = onThreadFallback((reason) => said.push(reason));
      await everyRange(reads);
      stop();
      expect(said).toHaveLength(1);
      expect(said[0]).toStartWith("the range thread failed: ");
    } finally {
      reads.close();
    }
  });
});

describe("/api/files", () => {
  test("one object per file with source, path, size, url, digests and the tapes holding the same content", async () => {
    const list = (await (await fetch(`${base}/api/files`)).json()) as { source: string; path: string; size: number; url: string; digests: Record<string, string>; tapes: string[] }[];
    const folderClipEntry = list.find((f) => f.source === "A001" && f.path === "CLIPS/A001C001.mov")!;
    const tapeEntry = list.find((f) => f.source === "TS0001" && f.path === "A001/CLIPS/A001C001.mov")!;
    expect(folderClipEntry).toMatchObject({ size: clip().length, url: folderClip, tapes: ["TS0001"] });
    expect(tapeEntry).toMatchObject({ size: clip().length, url: tapeClip, tapes: ["TS0001"] });
    expect(folderClipEntry.digests.xxh128).toBe(tapeEntry.digests.xxh128!);
    const mhl = readFileSync(join(dir, "A001/ascmhl", readdirSync(join(dir, "A001/ascmhl")).find((n) => n.endsWith(".mhl"))!), "utf8");
    expect(mhl).toContain(`<xxh128 action="original" hashdate=`);
    expect(mhl).toContain(`>${folderClipEntry.digests.xxh128}</xxh128>`);
    // The card's own history is not content of the folder source.
    expect(list.filter((f) => f.source === "A001").map((f) => f.path)).toEqual(["CLIPS/A001C001.mov", "CLIPS/A001C002 take 2.mxf", "empty.bin", "notes.txt", "SOUND/scene 12 #1.wav"]);
    expect(list.find((f) => f.path === "A001/CLIPS/A001C002 take 2.mxf")!.url).toBe("/files/TS0001/A001/CLIPS/A001C002%20take%202.mxf");
  });

  test("natural order: s2 before s10", () => {
    const sources = [
      {
        name: "X",
        kind: "folder",
        location: "x",
        tapeSerial: undefined,
        problems: [],
        files: () => ["s10.mov", "s2.mov", "S1.mov"].map((path) => ({ path, size: 1, mtimeMs: 0, digests: {} })),
        file: () => undefined,
        open: () => {
          throw new Error("unused");
        },
        close() {},
      },
    ] as const;
    expect(new Catalog(sources as never).entries.map((e) => e.path)).toEqual(["S1.mov", "s2.mov", "s10.mov"]);
  });
});

describe("paths resolve inside their source only", () => {
  test("each traversal attempt is 404 and shows nothing of what is outside", async () => {
    const outside = join(dir, "secret.txt");
    writeFileSync(outside, "TOP SECRET\n");
    const attempts = [
      "/files/A001/../secret.txt",
      "/files/A001/../../../../etc/passwd",
      "/files/A001/%2e%2e/secret.txt",
      "/files/A001/%2E%2E/%2E%2E/etc/passwd",
      "/files/A001/CLIPS%2F..%2F..%2Fsecret.txt",
      "/files/A001%2F..%2Fsecret.txt",
      "/files/A001/..%2Fsecret.txt",
      "/files/A001/notes.txt%00.mov",
      "/files/A001/notes.txt%00",
      "/files/A001//notes.txt",
      "/files/A001/%",
      "/files/A001/%zz",
      "/files/%2e%2e/etc/passwd",
      "/files/A001/link-out",
      "/files/A001/linked-folder/passwd",
      "/files/A001/CLIPS/link-in.mov",
      "/files/TS0001/../../etc/passwd",
      "/files/TS0001/A001/..%2F..%2F..%2Fetc%2Fpasswd",
      "/files/A001/ascmhl/ascmhl_chain.xml",
    ];
    for (const target of attempts) {
      const r = await rawRequest(server.port, target);
      expect([target, r.status]).toEqual([target, 404]);
      expect(r.text).not.toContain("TOP SECRET");
      expect(r.text).not.toContain("root:");
    }
    // The same names, decoded, are refused by the decoder itself.
    expect(["%2e%2e", "a%2Fb", "a%00", ".", "", "%"].map((segment) => decodeSegment(segment))).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  test("links in a folder are left out and named; a file swapped for a link after listing is not followed", async () => {
    const root = join(dir, "B001");
    makeCard(root);
    symlinkSync("/etc/passwd", join(root, "link-out"));
    symlinkSync("/etc", join(root, "linked-folder"));
    symlinkSync("A001C001.mov", join(root, "CLIPS/link-in.mov"));
    const source = await openSource(root);
    expect(source.files().map((f) => f.path)).not.toContain("link-out");
    expect(source.problems.map((p) => p.message)).toContain("symbolic link, left out; not served");
    expect(source.problems.map((p) => p.path)).toContain(join(root, "link-out"));
    const local = startServer({ catalog: new Catalog([source]), listen: parseListen("127.0.0.1:0"), proxies: join(dir, "proxies-b"), probeClips: false });
    try {
      expect((await rawRequest(local.port, "/files/B001/notes.txt")).status).toBe(200);
      for (const target of ["/files/B001/link-out", "/files/B001/linked-folder/passwd", "/files/B001/CLIPS/link-in.mov"]) expect((await rawRequest(local.port, target)).status).toBe(404);
      // Swap a listed file (not opened yet) for a link to outside, and a listed folder for a link to a folder outside.
      rmSync(join(root, "CLIPS/A001C002 take 2.mxf"));
      symlinkSync("/etc/passwd", join(root, "CLIPS/A001C002 take 2.mxf"));
      renameSync(join(root, "SOUND"), join(root, "SOUND.old"));
      mkdirSync(join(dir, "fake"));
      writeFileSync(join(dir, "fake", "scene 12 #1.wav"), "TOP SECRET\n");
      symlinkSync(join(dir, "fake"), join(root, "SOUND"));
      const swapped = await rawRequest(local.port, "/files/B001/CLIPS/A001C002%20take%202.mxf");
      expect(swapped.status).toBe(404);
      expect(swapped.text).not.toContain("root:");
      // The folder was held open while listing: its descriptor still names the folder that was
      // listed (now SOUND.old), so the listed bytes or a 404 are the only answers, never the link's.
      const folder = await rawRequest(local.port, "/files/B001/SOUND/scene%2012%20%231.wav");
      expect(folder.text).not.toContain("TOP SECRET");
      if (folder.status !== 404) expect([folder.status, folder.body]).toEqual([200, new Uint8Array(readFileSync(join(root, "SOUND.old/scene 12 #1.wav")))]);
    } finally {
      await local.stop();
      source.close();
    }
  });

  test("a file changed after listing is not served under its old entity-tag", async () => {
    const root = join(dir, "C001");
    makeCard(root);
    expect(tool(runner, "mhl-verify", ["create", "C001"], { cwd: dir }).code).toBe(0);
    const source = await openSource(root);
    const local = startServer({ catalog: new Catalog([source]), listen: parseListen("127.0.0.1:0"), proxies: join(dir, "proxies-c"), probeClips: false });
    try {
      expect((await rawRequest(local.port, "/files/C001/notes.txt")).status).toBe(200);
      writeFileSync(join(root, "notes.txt"), "day 1, changed\n");
      expect((await rawRequest(local.port, "/files/C001/notes.txt")).status).toBe(404);
    } finally {
      await local.stop();
      source.close();
    }
  });
});

describe("what the archive holds is never a page of this server; a request must name a loopback host", () => {
  /** A GET with the Host header given, on a socket of its own (fetch sets its own Host). */
  const withHost = (port: number, host: string, target: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
      const chunks: Buffer[] = [];
      socket.on("data", (c: Buffer) => chunks.push(c));
      socket.on("error", reject);
      socket.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
    });

  test("an XML file of the archive is sandboxed and never sniffed; the portal page is not sandboxed", async () => {
    const root = join(dir, "X");
    mkdirSync(root);
    writeFileSync(join(root, "evil.xml"), '<html xmlns="http://www.w3.org/1999/xhtml"><body><script>fetch("/api/files")</script></body></html>');
    const local = startServer({ catalog: new Catalog([await openSource(root)]), listen: parseListen("127.0.0.1:0"), proxies: join(dir, "proxies-x"), probeClips: false });
    try {
      const url = local.url.replace(/\/$/, "");
      const file = await fetch(`${url}/files/X/evil.xml`);
      expect([file.status, file.headers.get("content-security-policy"), file.headers.get("x-content-type-options")]).toEqual([200, "sandbox; default-src 'none'", "nosniff"]);
      const page = await fetch(`${url}/`);
      expect([page.status, page.headers.get("content-security-policy"), page.headers.get("x-content-type-options")]).toEqual([200, null, "nosniff"]);
      // A name that leads here from another site (DNS rebinding) is not answered; loopback names are.
      expect((await withHost(local.port, `attacker.example:${local.port}`, "/api/files")).split("\r\n")[0]).toBe("HTTP/1.1 421 Misdirected Request");
      for (const host of [`localhost:${local.port}`, `127.0.0.1:${local.port}`, `[::1]:${local.port}`, "LOCALHOST"]) expect([host, (await withHost(local.port, host, "/api/files")).split("\r\n")[0]]).toEqual([host, "HTTP/1.1 200 OK"]);
      // A name in a download's header: any characters, in filename*; an ASCII stand-in in filename.
      expect(attachmentHeader('日本 "x".mov')).toBe(`attachment; filename="__ _x_.mov"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%20%22x%22.mov`);
      // A malformed percent-encoding in an extract's name is no such file.
      expect((await fetch(`${url}/extracts/u-ed0521f447c301d9e891e49cbe23d108/%ZZ.mov`)).status).toBe(404);
    } finally {
      await local.stop();
    }
  });
});

describe("the server is read-only", () => {
  test("anything but GET and HEAD is 405 with Allow", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      const r = await fetch(`${base}${folderClip}`, { method, body: method === "POST" || method === "PUT" ? "x" : undefined });
      expect([method, r.status, r.headers.get("allow")]).toEqual([method, 405, "GET, HEAD"]);
    }
    expect((await rawRequest(server.port, "/api/files", "TRACE")).status).toBe(405);
  });
});

describe("units", () => {
  test("parseRange and coalesce", () => {
    expect(parseRange("bytes=0-99, -10", 1000)).toEqual({
      kind: "ranges",
      ranges: [
        { start: 0, end: 100 },
        { start: 990, end: 1000 },
      ],
    });
    expect(parseRange("BYTES=0-0", 10)).toEqual({ kind: "ranges", ranges: [{ start: 0, end: 1 }] });
    expect(parseRange("bytes=0-1,,2-3", 10)).toEqual({ kind: "ranges", ranges: [{ start: 0, end: 4 }] });
    expect(parseRange("bytes=2000-", 1000)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=5-1", 1000)).toEqual({ kind: "whole" });
    expect(parseRange(`bytes=${Array.from({ length: 101 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(",")}`, 10_000)).toEqual({ kind: "whole" });
    expect(
      coalesce([
        { start: 50, end: 60 },
        { start: 0, end: 10 },
        { start: 55, end: 70 },
        { start: 10, end: 20 },
      ]),
    ).toEqual([
      { start: 50, end: 70 },
      { start: 0, end: 20 },
    ]);
    expect(
      coalesce([
        { start: 0, end: 10 },
        { start: 20, end: 30 },
        { start: 5, end: 25 },
      ]),
    ).toEqual([{ start: 0, end: 30 }]);
  });

  test("Bun copies bytes given as a body when the Response is made: respond() reuses its read buffers on that", async () => {
    const buffer = randomBytes(BUFFERED_BYTES, 11);
    const view = buffer.subarray(100, 100 + 4096);
    const expected = view.slice();
    const response = new Response(view);
    buffer.fill(0);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(expected);
    // The buffers are shared memory, for the read threads.
    const shared = new Uint8Array(new SharedArrayBuffer(4096));
    shared.set(expected);
    const fromShared = new Response(shared);
    shared.fill(0);
    expect(new Uint8Array(await fromShared.arrayBuffer())).toEqual(expected);
  });

  test("bodies read at once stay apart while reads of an asynchronous source overlap", async () => {
    const bytes = randomBytes(4 * BUFFERED_BYTES, 12);
    // A source whose reads finish out of order, as an object store's would.
    const rep = bytesRepresentation(bytes, { readsAfter: () => Bun.sleep(Math.floor(Math.random() * 20)), readAtMost: 65_536 });
    const ranges = Array.from({ length: 12 }, (_, i) => [i * 250_001, i * 250_001 + BUFFERED_BYTES - i] as const);
    const responses = await Promise.all(ranges.map(([start, end]) => respond(new Request("http://x/", { headers: { range: `bytes=${start}-${end - 1}` } }), rep)));
    for (const [i, response] of responses.entries()) {
      const [start, end] = ranges[i]!;
      expect([response.status, response.headers.get("content-range")]).toEqual([206, `bytes ${start}-${end - 1}/${bytes.length}`]);
      expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes.slice(start, end));
    }
  });

  test("a body written direct is the range's bytes for a client that reads slowly while later responses reuse the read buffers; chunked or with its length", async () => {
    const bytes = randomBytes(4 * BUFFERED_BYTES, 13);
    const rep = bytesRepresentation(bytes, { writeDirect: true });
    // Read in the process too, whole and by a reader: the range once, not repeated.
    const whole = await respond(new Request("http://x/", { headers: { range: "bytes=10-99999" } }), rep);
    expect(new Uint8Array(await whole.arrayBuffer())).toEqual(new Uint8Array(bytes.subarray(10, 100_000)));
    const chunks: Uint8Array[] = [];
    for await (const chunk of (await respond(new Request("http://x/", { headers: { range: "bytes=5-70004" } }), rep)).body!) chunks.push(chunk);
    expect(new Uint8Array(Buffer.concat(chunks))).toEqual(new Uint8Array(bytes.subarray(5, 70_005)));
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (request) => respond(request, rep) });
    try {
      // Clients that do not read: most of each 1 MiB body cannot leave Bun while others are answered.
      const slow = Array.from({ length: 6 }, (_, i) => pausedRequest(server.port!, `bytes=${i * 300_007}-${i * 300_007 + BUFFERED_BYTES - 1}`));
      await Promise.all(slow.map((c) => c.started));
      await Bun.sleep(200);
      for (let i = 0; i < 8; i++) {
        const r = await fetch(`http://127.0.0.1:${server.port}/`, { headers: { range: `bytes=${2 * BUFFERED_BYTES + i}-${3 * BUFFERED_BYTES + i - 1}` } });
        expect(new Uint8Array(await r.arrayBuffer())).toEqual(new Uint8Array(bytes.subarray(2 * BUFFERED_BYTES + i, 3 * BUFFERED_BYTES + i)));
      }
      for (const [i, client] of slow.entries()) {
        const { head, body } = await client.finish();
        expect(head.toLowerCase()).toContain(`\r\ncontent-range: bytes ${i * 300_007}-${i * 300_007 + BUFFERED_BYTES - 1}/${bytes.length}\r\n`);
        expect(/\r\ntransfer-encoding: chunked\r\n/i.test(head) || head.toLowerCase().includes(`\r\ncontent-length: ${BUFFERED_BYTES}\r\n`)).toBe(true);
        expect(body).toEqual(new Uint8Array(bytes.subarray(i * 300_007, i * 300_007 + BUFFERED_BYTES)));
      }
      // A whole body keeps its Content-Length: an HTTP/1.0 client reads to the close and could not tell a cut one.
      const small: Representation = { ...rep, size: 200_000 };
      const smallServer = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (request) => respond(request, small) });
      try {
        for (const version of ["1.0", "1.1"]) {
          const whole = await rawRequest(smallServer.port!, "/", "GET", version);
          expect([whole.status, /\r\ncontent-length: (\d+)\r\n/i.exec(whole.text)?.[1], /\r\ntransfer-encoding/i.test(whole.text)]).toEqual([200, "200000", false]);
          expect(whole.body).toEqual(new Uint8Array(bytes.subarray(0, 200_000)));
          // A range says its length in Content-Range, whatever the version.
          const part = await rawRequest(smallServer.port!, "/", "GET", version, "Range: bytes=100-150099\r\n");
          expect([part.status, /\r\ncontent-range: (.*)\r\n/i.exec(part.text)?.[1]]).toEqual([206, "bytes 100-150099/200000"]);
          expect(part.body).toEqual(new Uint8Array(bytes.subarray(100, 150_100)));
        }
      } finally {
        await smallServer.stop(true);
      }
    } finally {
      await server.stop(true);
    }
  });

  test("listen addresses", () => {
    expect(parseListen("0.0.0.0:8080")).toEqual({ hostname: "0.0.0.0", port: 8080 });
    expect(parseListen("[::1]:0")).toEqual({ hostname: "::1", port: 0 });
    expect(parseListen("8740")).toEqual({ hostname: "127.0.0.1", port: 8740 });
    expect(parseListen(":8740")).toEqual({ hostname: "127.0.0.1", port: 8740 });
    expect(() => parseListen("host:99999")).toThrow("--listen host:99999: expected HOST:PORT, [IPv6]:PORT or PORT");
  });

  test("the proxy encodes read their input with only http and tcp and only the containers tc-extract reads", () => {
    const info: ClipInfo = {
      key: "k",
      codec: "h264",
      width: 1920,
      height: 1080,
      rate: "25",
      rateNum: 25,
      rateDen: 1,
      dropFrame: false,
      start: "01:00:00:00",
      hasTimecode: true,
      frames: 50,
      reel: null,
      audioChannels: [2],
      intraOnly: false,
      color: {},
    };
    const input = "http://127.0.0.1:1/files/TS0001/a.mov";
    for (const command of [hlsCommand("ffmpeg", input, info, "/tmp/out"), mp4Command("ffmpeg", input, info, "/tmp/out.mp4")]) {
      // Exactly one input, and the guard is what comes before it.
      expect(command.filter((a) => a === "-i")).toHaveLength(1);
      const at = command.indexOf("-i");
      expect(command.slice(at - 4, at + 2)).toEqual(["-format_whitelist", "mov,mxf,matroska,mpegts,avi", "-protocol_whitelist", "http,tcp", "-i", input]);
    }
  });
});

describe("a mounted LTFS volume (a folder with LTFS's attributes)", () => {
  test("is detected, named by its volume serial, and serves with the digests of its user.* attributes", async () => {
    const mount = join(dir, "mnt");
    const files = makeCard(mount);
    setXattr(mount, "user.ltfs.volumeSerial", "MT0001");
    setXattr(mount, "user.ltfs.volumeUUID", "0b2a6c2e-9f4d-4e0a-8d3c-2f6a1b7c9e01");
    const list = (await (await fetch(`${base}/api/files`)).json()) as { path: string; digests: Record<string, string> }[];
    const xxh = list.find((f) => f.path === "A001/CLIPS/A001C001.mov")!.digests.xxh128!;
    setXattr(join(mount, "CLIPS/A001C001.mov"), "user.cartkit.hash.xxh128", xxh);
    setXattr(join(mount, "CLIPS/A001C001.mov"), "user.ltfs.hash.md5sum", "0123456789ABCDEF0123456789ABCDEF");
    const source = await openSource(mount);
    expect([source.kind, source.name, source.tapeSerial]).toEqual(["mount", "MT0001", "MT0001"]);
    const vtape = await openSource(join(dir, "vt"));
    const local = startServer({ catalog: new Catalog([source, vtape]), listen: parseListen("127.0.0.1:0"), proxies: join(dir, "proxies-m"), probeClips: false });
    try {
      const entries = (await (await fetch(`${local.url}api/files`)).json()) as { source: string; path: string; digests: Record<string, string>; tapes: string[] }[];
      const entry = entries.find((f) => f.source === "MT0001" && f.path === "CLIPS/A001C001.mov")!;
      expect(entry.digests).toEqual({ md5: "0123456789abcdef0123456789abcdef", xxh128: xxh });
      expect(entry.tapes).toEqual(["MT0001", "TS0001"]);
      const r = await fetch(`${local.url}files/MT0001/CLIPS/A001C001.mov`, { headers: { range: "bytes=1000-1999" } });
      expect([r.status, r.headers.get("etag")]).toEqual([206, `"xxh128-${xxh}"`]);
      const bytes: Uint8Array = new Uint8Array(await r.arrayBuffer());
      expect(bytes).toEqual(files.get("CLIPS/A001C001.mov")!.subarray(1000, 2000));
    } finally {
      await local.stop();
      source.close();
      vtape.close();
    }
  });
});

/** Starts a command and waits for the first line it prints (the address cartserve serves at). */
/** Starts the tool and waits for the address it prints. */
function startTool(r: ToolRunner, args: string[], cwd: string) {
  return startPrinting([...r.command("cartserve"), ...args], cwd);
}

test("the compiled binary, copied into an empty folder, serves the portal and the hls.js it embeds", async () => {
  const alone = tempDir("cartserve-alone-");
  copyFileSync(join(ROOT, "dist", "cartserve"), join(alone, "cartserve"));
  const { proc, url } = await startPrinting([join(alone, "cartserve"), join(dir, "vt"), "--listen", "127.0.0.1:0"], alone, { PATH: "/usr/bin:/bin" });
  try {
    const script = await fetch(`${url}assets/hls.min.js`);
    expect([script.status, script.headers.get("content-type")]).toEqual([200, "text/javascript; charset=utf-8"]);
    expect(await script.text()).toBe(readFileSync(join(ROOT, "node_modules/hls.js/dist/hls.min.js"), "utf8"));
    const page = await (await fetch(url)).text();
    expect(page).toContain('<script src="/assets/hls.min.js"></script>');
  } finally {
    proc.kill();
    await proc.exited;
  }
}, 30_000);

test("the compiled binary starts its read threads: with CARTKIT_DEBUG=1 none is said to be made up for, and the bytes are the file's", async () => {
  const alone = tempDir("cartserve-threads-");
  copyFileSync(join(ROOT, "dist", "cartserve"), join(alone, "cartserve"));
  const { proc, url } = await startPrinting([join(alone, "cartserve"), join(dir, "vt"), "--threads", "2", "--listen", "127.0.0.1:0"], alone, { PATH: "/usr/bin:/bin", CARTKIT_DEBUG: "1", NO_COLOR: "1" });
  try {
    const ranges = [
      [0, BUFFERED_BYTES - 1],
      [BLOCK - 1, BLOCK],
      [100, 2 * BLOCK + 99],
      [2 * BLOCK, 3 * BLOCK + 12_344],
    ] as const;
    const bodies = await Promise.all(ranges.map(async ([first, last]) => new Uint8Array(await (await fetch(`${url}${tapeClip.slice(1)}`, { headers: { range: `bytes=${first}-${last}` } })).arrayBuffer())));
    for (const [i, [first, last]] of ranges.entries()) expect(bodies[i]!).toEqual(clip().slice(first, last + 1));
  } finally {
    proc.kill();
    await proc.exited;
  }
  const stderr = await new Response(proc.stderr).text();
  expect(stderr.split("\n").filter((line) => line.includes(": debug: "))).toEqual([]);
  expect(stderr).toContain("cartserve: vtape TS0001: 5 files from");
}, 30_000);

for (const r of runners()) {
  describe(`the tool (${r.label})`, () => {
    test("off loopback a token is generated and printed once with the URL; 401 without it", async () => {
      const { proc, url } = await startTool(r, ["vt", "A001", "--listen", "0.0.0.0:0", "--proxies", "px-tool"], dir);
      try {
        const match = /^http:\/\/0\.0\.0\.0:(\d+)\/\?token=([A-Za-z0-9_-]{32})$/.exec(url);
        expect(match).not.toBeNull();
        const [, port, token] = match!;
        const at = `http://127.0.0.1:${port}`;
        const none = await fetch(`${at}${tapeClip}`);
        expect([none.status, none.headers.get("www-authenticate")]).toEqual([401, 'Bearer realm="cartserve"']);
        expect((await fetch(`${at}/`)).status).toBe(401);
        expect((await fetch(`${at}/api/files`, { headers: { authorization: "Bearer wrong-token-wrong-token" } })).status).toBe(401);
        expect((await fetch(`${at}${tapeClip}`, { method: "POST", headers: {} })).status).toBe(401);
        const bearer = await fetch(`${at}${tapeClip}`, { headers: { authorization: `Bearer ${token}`, range: "bytes=0-9" } });
        expect(bearer.status).toBe(206);
        const first: Uint8Array = new Uint8Array(await bearer.arrayBuffer());
        expect(first).toEqual(clip().subarray(0, 10));
        const link = await fetch(`${at}/?token=${token}`);
        expect(link.status).toBe(200);
        const cookie = link.headers.get("set-cookie")!;
        expect(cookie).toBe(`cartserve_token=${token}; Path=/; HttpOnly; SameSite=Strict`);
        expect((await fetch(`${at}/api/files`, { headers: { cookie: cookie.split(";")[0]! } })).status).toBe(200);
        proc.kill();
        const stderr = await new Response(proc.stderr).text();
        expect(stderr).not.toContain(token!);
        expect(stderr).toContain("cartserve: a token was generated for this run; it is in the address above and is not shown again\n");
        expect(stderr).toContain("cartserve: vtape TS0001: 5 files from vt\n");
      } finally {
        proc.kill();
        await proc.exited;
      }
    }, 30_000);

    test("loopback needs no token; a given token is required even there", async () => {
      const { proc, url } = await startTool(r, ["vt", "--listen", "127.0.0.1:0", "--token", "a-token-of-my-own-1234"], dir);
      try {
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
        expect((await fetch(`${url}api/files`)).status).toBe(401);
        expect((await fetch(`${url}api/files?token=a-token-of-my-own-1234`)).status).toBe(200);
      } finally {
        proc.kill();
        await proc.exited;
      }
      const open = await startTool(r, ["vt", "--listen", "127.0.0.1:0"], dir);
      try {
        expect((await fetch(`${open.url}api/files`)).status).toBe(200);
      } finally {
        open.proc.kill();
        await open.proc.exited;
      }
    }, 30_000);

    test("usage errors: no source, a short token, a STORE@REF of no store or no such REF, two sources with one name", () => {
      expect(tool(r, "cartserve", [], { cwd: dir })).toMatchObject({ code: 2, stderr: "cartserve: Missing required positional argument: SOURCES; see 'cartserve --help'\n" });
      expect(tool(r, "cartserve", ["vt", "--token", "short"], { cwd: dir })).toMatchObject({ code: 2, stderr: "cartserve: --token: use at least 16 characters of A-Z a-z 0-9 . _ ~ -\n" });
      expect(tool(r, "cartserve", ["STORE@main"], { cwd: dir })).toMatchObject({ code: 2, stderr: "cartserve: STORE@main: not found, and STORE is no cartvault store to take main of (STORE@REF)\n" });
      expect(tool(r, "cartserve", ["VLT@nope"], { cwd: dir })).toMatchObject({ code: 2, stderr: "cartserve: VLT: no branch or commit 'nope' in this vault\n" });
      expect(tool(r, "cartserve", ["VLT@main", "VLT@main"], { cwd: dir }).stderr).toContain("cartserve: VLT@main: is named VLT@main, like VLT@main; name one with NAME=PATH\n");
      expect(tool(r, "cartserve", ["A001", "A001"], { cwd: dir }).stderr).toContain("cartserve: A001: is named A001, like A001; name one with NAME=PATH\n");
      expect(tool(r, "cartserve", ["--listen", "nowhere:x", "vt"], { cwd: dir })).toMatchObject({ code: 2, stderr: "cartserve: --listen nowhere:x: expected HOST:PORT, [IPv6]:PORT or PORT\n" });
    }, 30_000);
  });
}

/** A copy of the test tape and the record file holding the clip's first block (and the latest index's first record). */
function tapeCopy(name: string) {
  const at = join(dir, name);
  cpSync(join(dir, "vt"), at, { recursive: true });
  const volume = Volume.open(at);
  try {
    const extent = volume.files().find((f) => f.path === "A001/CLIPS/A001C001.mov")!.file.extents[0]!;
    return { at, record: `${volume.partitionNumber(extent.partition)}_${extent.startBlock}_R`, index: `${volume.latest.partition}_${volume.latest.block}_R` };
  } finally {
    volume.close();
  }
}

/** Bytes standing for a file outside the tape that a link would expose. */
const SECRET = "root:OUTSIDE-THE-TAPE-SECRET:19000:0:99999:7:::\n".repeat(20_000);

describe("a virtual tape's records are served from the tape folder only, never through a link", () => {
  test("a record swapped for a link after the tape was opened fails the read; the outside bytes are never sent", async () => {
    const { at, record } = tapeCopy("vt-swapped");
    writeFileSync(join(dir, "secret-swapped"), SECRET);
    const source = await openSource(at);
    const local = startServer({ catalog: new Catalog([source]), listen: parseListen("127.0.0.1:0"), proxies: join(dir, "proxies-swapped"), probeClips: false });
    try {
      rmSync(join(at, record));
      symlinkSync(join(dir, "secret-swapped"), join(at, record));
      const file = source.file("A001/CLIPS/A001C001.mov")!;
      const reader = source.open(file, 0, 100);
      expect(() => reader.read(new Uint8Array(100))).toThrow(new SourceError(file.path, "unreadable", `${record}: a symbolic link, not a tape record; never followed`));
      reader.close();
      const response = await fetch(`${local.url}files/TS0001/A001/CLIPS/A001C001.mov`, { headers: { range: "bytes=0-99" } });
      const body = await response.text();
      expect(response.status).toBe(404);
      expect(body).not.toContain("OUTSIDE-THE-TAPE");
      // HEAD answers as that GET: the record is looked at, not only the tape's table.
      const head = await fetch(`${local.url}files/TS0001/A001/CLIPS/A001C001.mov`, { method: "HEAD" });
      expect(head.status).toBe(404);
    } finally {
      await local.stop();
      source.close();
    }
  });

  for (const r of runners()) {
    test(`(${r.label}) a file whose record is a link to a file outside is left out, named, and answers 404 without its bytes`, async () => {
      const { at, record } = tapeCopy(`vt-link-${r.label}`);
      writeFileSync(join(dir, "secret-link"), SECRET);
      rmSync(join(at, record));
      symlinkSync(join(dir, "secret-link"), join(at, record));
      const { proc, url } = await startTool(r, [at, "--listen", "127.0.0.1:0", "--proxies", join(dir, `px-link-${r.label}`)], dir);
      try {
        for (const range of ["bytes=0-99", "bytes=0-"]) {
          const response = await fetch(`${url}files/TS0001/A001/CLIPS/A001C001.mov`, { headers: { range } });
          const body = await response.text();
          expect([range, response.status]).toEqual([range, 404]);
          expect(body).not.toContain("OUTSIDE-THE-TAPE");
        }
        const listed = (await (await fetch(`${url}api/files`)).json()) as { path: string }[];
        expect(listed.map((f) => f.path)).not.toContain("A001/CLIPS/A001C001.mov");
        expect(listed.map((f) => f.path)).toContain("A001/notes.txt");
        proc.kill();
        const stderr = await new Response(proc.stderr).text();
        expect(stderr).toContain(`cartserve: A001/CLIPS/A001C001.mov: ${record}: a symbolic link, not a tape record; never followed; not served\n`);
      } finally {
        proc.kill();
        await proc.exited;
      }
    }, 30_000);

    test(`(${r.label}) an index record that is a link refuses the tape (exit 1, named)`, () => {
      const { at, index } = tapeCopy(`vt-index-${r.label}`);
      renameSync(join(at, index), join(dir, `index-outside-${r.label}`));
      symlinkSync(join(dir, `index-outside-${r.label}`), join(at, index));
      const run = tool(r, "cartserve", [at, "--listen", "127.0.0.1:0"], { cwd: dir });
      expect([run.code, run.stdout, run.stderr]).toEqual([1, "", `cartserve: ${at}: ${index}: a symbolic link, not a tape record; never followed\n`]);
    }, 30_000);
  }
});
