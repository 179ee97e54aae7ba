/**
 * lib/hash: every algorithm and every engine against published test vectors, against each
 * other, and against the native tools on random inputs of awkward sizes, fed in odd chunks.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ALGORITHMS, ENGINE_SUPPORT, c4FromSha512, createHasher, createHashers, hashFromPosition, hashInOrder, hashOpenFile, hashPath, HashPool, resolveAlgorithm, sha512FromC4, toHex, type Algorithm, type HashJob } from "../lib/hash/mod.ts";
import { runBatchHere } from "../lib/hash/pool.ts";
import { anchor, randomBytes, run, tempDir } from "./helpers.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** Published vectors: xxHash's sanity tests, the BLAKE3 paper, RFC 1321, FIPS 180, SMPTE ST 2114 (C4), zlib. */
const VECTORS: Record<Algorithm, Array<[string, string]>> = {
  xxh32: [
    ["", "02cc5d05"],
    ["abc", "32d153ff"],
  ],
  xxh64: [
    ["", "ef46db3751d8e999"],
    ["abc", "44bc2cf5ad770999"],
  ],
  xxh3: [
    ["", "2d06800538d394c2"],
    ["abc", "78af5f94892f3950"],
  ],
  xxh128: [
    ["", "99aa06d3014798d86001c324468d497f"],
    ["abc", "06b05ab6733a618578af5f94892f3950"],
  ],
  blake3: [
    ["", "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"],
    ["abc", "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"],
  ],
  md5: [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
  ],
  sha1: [
    ["", "da39a3ee5e6b4b0d3255bfef95601890afd80709"],
    ["abc", "a9993e364706816aba3e25717850c26c9cd0d89d"],
  ],
  sha256: [
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  ],
  sha512: [["abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"]],
  c4: [["", "c459dsjfscH38cYeXXYogktxf4Cd9ibshE3BHUo6a58hBXmRQdZrAkZzsWcbWtDg5oQstpDuni4Hirj75GEmTc1sFT"]],
  crc32: [
    ["", "00000000"],
    ["123456789", "cbf43926"],
  ],
};

describe("published test vectors, every engine", () => {
  for (const algorithm of ALGORITHMS) {
    for (const engine of ENGINE_SUPPORT[algorithm]) {
      test(`${algorithm} (${engine})`, async () => {
        for (const [input, expected] of VECTORS[algorithm]) {
          const h = await createHasher(algorithm, { engine });
          expect(h.engine).toBe(engine);
          h.update(enc(input));
          expect(h.hex()).toBe(expected);
        }
      });
    }
  }
});

test("c4 of a generation file equals the ASC MHL reference chain", async () => {
  const mhl = join(import.meta.dir, "fixtures/ascmhl/scenarios/scenario_01/travel_01/A002R2EC/ascmhl/0001_A002R2EC_2020-01-16_091500Z.mhl");
  const { hexes } = await hashPath(mhl, ["c4"]);
  expect(hexes.get("c4")).toBe("c43qQABrjeiU3kteaNFtgwufQRLKxgMJEZfNSj6LcZ8fKwB568U8As9eScRsnb64NfqiAYzjNUXs81tAxPB77PUThb");
});

test("c4 ids are 90 characters and decode back to the SHA-512 digest", async () => {
  for (const size of [0, 1, 100, 5000]) {
    const h = await createHasher("sha512");
    h.update(randomBytes(size, size + 7));
    const id = c4FromSha512(h.digest());
    expect(id).toHaveLength(90);
    expect(id.startsWith("c4")).toBe(true);
    expect(Buffer.from(sha512FromC4(id)!).toString("hex")).toBe(h.hex());
  }
  expect(sha512FromC4("c4notanid")).toBeUndefined();
});

test("a digest is stable: hex() twice gives the same, update after digest throws", async () => {
  const h = await createHasher("xxh64");
  h.update(enc("abc"));
  expect(h.hex()).toBe("44bc2cf5ad770999");
  expect(h.hex()).toBe("44bc2cf5ad770999");
  expect(() => h.update(enc("more"))).toThrow("update after digest");
});

test("createHashers feeds several algorithms from one stream", async () => {
  const set = await createHashers(["xxh64", "md5", "xxh64"]);
  expect(set.hashers.map((h) => h.algorithm)).toEqual(["xxh64", "md5"]);
  set.update(enc("ab"));
  set.update(enc("c"));
  expect(Object.fromEntries(set.hexes())).toEqual({ xxh64: "44bc2cf5ad770999", md5: "900150983cd24fb0d6963f7d28e17f72" });
});

test("algorithm names resolve case-insensitively with aliases, and unknown names are refused", () => {
  expect(resolveAlgorithm("XXH64BE")).toBe("xxh64");
  expect(resolveAlgorithm("SHA-256")).toBe("sha256");
  expect(resolveAlgorithm("xxh3_128")).toBe("xxh128");
  expect(() => resolveAlgorithm("sha3")).toThrow("unknown hash algorithm 'sha3'; use one of: xxh32, xxh64");
});

test("a named engine that lacks the algorithm is refused with the ones that exist", async () => {
  expect(createHasher("xxh64", { engine: "js" })).rejects.toThrow("xxh64 has no js engine; available: native, wasm");
  expect(createHasher("md5", { engine: "wasm" })).rejects.toThrow("md5 has no wasm engine; available: native, js");
});

test("BLAKE3 keyed, derive-key and extended output agree across engines", async () => {
  const key = randomBytes(32, 99);
  const data = randomBytes(10_000, 5);
  for (const options of [{ key }, { deriveKeyContext: "cartkit 2026-11-22 test" }, { outputLength: 16 }]) {
    const native = await createHasher("blake3", { ...options, engine: "native" });
    const js = await createHasher("blake3", { ...options, engine: "js" });
    native.update(data);
    js.update(data);
    expect(native.hex()).toBe(js.hex());
  }
  // Longer than 32 bytes only the js engine can produce; auto picks it.
  const long = await createHasher("blake3", { outputLength: 64 });
  expect(long.engine).toBe("js");
  long.update(enc("abc"));
  expect(long.hex().slice(0, 64)).toBe(VECTORS.blake3[1]![1]);
  expect(long.hex()).toHaveLength(128);
  expect(createHasher("blake3", { outputLength: 64, engine: "native" })).rejects.toThrow("cannot compute this output length");
});

const SIZES = [0, 1, 63, 64, 65, 1023, 1024, 1025, 4 * 1024 * 1024 + 1];
/** Odd split points so no chunk boundary lines up with a block size. */
const CHUNKS = [1, 7, 13, 63, 65, 127, 1000, 4097, 65537];

async function hashInOddChunks(algorithm: Algorithm, engine: "native" | "wasm" | "js", data: Uint8Array): Promise<string> {
  const h = await createHasher(algorithm, { engine });
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const size = CHUNKS[i % CHUNKS.length]!;
    h.update(data.subarray(offset, offset + size));
    offset += size;
  }
  return h.hex();
}

const NATIVE_TOOLS: Array<{ algorithm: Algorithm; cmd: string[] }> = [
  { algorithm: "xxh32", cmd: ["xxhsum", "-H0"] },
  { algorithm: "xxh64", cmd: ["xxhsum", "-H1"] },
  { algorithm: "xxh128", cmd: ["xxhsum", "-H2"] },
  { algorithm: "xxh3", cmd: ["xxhsum", "-H3"] },
  { algorithm: "blake3", cmd: ["b3sum"] },
  { algorithm: "md5", cmd: ["md5sum"] },
  { algorithm: "sha1", cmd: ["sha1sum"] },
  { algorithm: "sha256", cmd: ["sha256sum"] },
  { algorithm: "sha512", cmd: ["sha512sum"] },
];

/** The digest a native tool prints for a file (GNU or BSD line). */
function nativeDigest(cmd: string[], file: string): string {
  const result = run([...cmd, file]);
  expect(result.code).toBe(0);
  const line = result.stdout.trim();
  const bsd = / = ([0-9a-f]+)$/.exec(line);
  return bsd ? bsd[1]! : line.split(" ")[0]!;
}

describe("against the native tools, random inputs of awkward sizes", () => {
  const dir = tempDir("cartkit-hash-");
  const files = SIZES.map((size) => {
    const path = join(dir, `random-${size}.bin`);
    const data = randomBytes(size, size + 1);
    writeFileSync(path, data);
    return { size, path, data };
  });

  for (const { algorithm, cmd } of NATIVE_TOOLS) {
    const native = anchor(cmd[0]!);
    test.skipIf(!native)(`${algorithm} equals ${cmd.join(" ")}`, async () => {
      for (const { size, path, data } of files) {
        const expected = nativeDigest(cmd, path);
        expect({ size, digest: (await hashPath(path, [algorithm])).hexes.get(algorithm) }).toEqual({ size, digest: expected });
        for (const engine of ENGINE_SUPPORT[algorithm]) {
          // The pure-TypeScript engines are slow; 1 KiB-range sizes already cross every block boundary.
          if (engine === "js" && size > 4096) continue;
          expect({ size, engine, digest: await hashInOddChunks(algorithm, engine, data) }).toEqual({ size, engine, digest: expected });
        }
      }
    });
  }

  test("crc32 native and js agree on every size and chunking", async () => {
    for (const { data } of files) {
      const sample = data.subarray(0, 70_000);
      expect(await hashInOddChunks("crc32", "js", sample)).toBe(await hashInOddChunks("crc32", "native", sample));
    }
  });
});

describe("hashing by descriptor and by bytes", () => {
  const dir = tempDir("cartkit-hashfd-");
  const latin1 = Buffer.concat([Buffer.from(`${dir}/`), Buffer.from("caf\xe9.mov", "latin1")]);
  writeFileSync(latin1, "bytes of a latin-1 name");
  const escapedPath = `${dir}/caf\udce9.mov`;

  test("a path that holds bytes that are not UTF-8 is opened as those bytes", async () => {
    expect((await hashPath(escapedPath, ["xxh64"])).hexes.get("xxh64")).toBe(xxh64Of("bytes of a latin-1 name"));
  });

  test("jobs with a descriptor hash what it reads, close it, and give --jobs N the order of --jobs 1", async () => {
    const names = Array.from({ length: 12 }, (_, i) => join(dir, `f${i}`));
    for (const [i, name] of names.entries()) writeFileSync(name, randomBytes(1000 + i * 777, i + 1));
    const expected = await Promise.all(names.map(async (name) => (await hashPath(name, ["blake3"])).hexes.get("blake3")));
    for (const parallelism of [1, 3]) {
      const opened: number[] = [];
      const got: Array<string | undefined> = [];
      await hashInOrder(
        names,
        parallelism,
        (name) => {
          const fd = openSync(name, "r");
          opened.push(fd);
          return { job: { path: name, fd, algorithms: ["blake3"], options: {} } };
        },
        (_name, result) => {
          got.push(result?.ok ? result.hexes[0]![1] : undefined);
        },
      );
      expect(got).toEqual(expected);
      // Each descriptor was closed by its job (its number may since name something else).
      const inodes = new Set(names.map((name) => statSync(name).ino));
      for (const fd of opened) expectClosed(fd, inodes);
    }
  });

  test("under --jobs N, small files in XXH formats are hashed on the calling thread (no hashing thread starts); BLAKE3 ones go to threads", async () => {
    const names = Array.from({ length: 40 }, (_, i) => join(dir, `here${i}`));
    for (const [i, name] of names.entries()) writeFileSync(name, randomBytes(32 << 10, i + 70));
    /** This process's threads while the last result comes in (a hashing thread lives until the run ends). */
    const threadsDuring = async (algorithms: Algorithm[]): Promise<number> => {
      let threads = 0;
      const got: string[] = [];
      await hashInOrder(
        names,
        3,
        (name) => ({ job: { path: name, fd: openSync(name, "r"), algorithms, options: {} } }),
        (_name, result) => {
          got.push(result?.ok ? result.hexes[0]![1] : "failed");
          threads = readdirSync("/proc/self/task").length;
        },
      );
      const expected = await Promise.all(names.map(async (name) => (await hashPath(name, algorithms)).hexes.get(algorithms[0]!)!));
      expect(got).toEqual(expected);
      return threads;
    };
    await threadsDuring(["xxh128"]);
    // (at most: a thread of an earlier test may end meanwhile, never one start)
    const before = readdirSync("/proc/self/task").length;
    expect(await threadsDuring(["xxh128", "xxh64"])).toBeLessThanOrEqual(before);
    const beforeBlake3 = readdirSync("/proc/self/task").length;
    expect(await threadsDuring(["blake3"])).toBeGreaterThan(beforeBlake3);
  });

  test("a batch sent to a hashing thread answers like the same jobs run here: digests of every algorithm list, kept and closed descriptors, a failure in its place", async () => {
    const names = Array.from({ length: 9 }, (_, i) => join(dir, `batch${i}`));
    for (const [i, name] of names.entries()) writeFileSync(name, randomBytes(500 + i * 301, i + 40));
    const folderFd = openSync(dir, "r");
    const lists: Algorithm[][] = [["xxh64"], ["blake3", "md5"], ["xxh128"]];
    const jobs = (): HashJob[] => [
      ...names.map((name, i) => ({ id: 100 + i, path: name, fd: openSync(name, "r"), algorithms: lists[i % 3]!, options: i === 4 ? { engine: "native" as const } : {}, ...(i === 2 ? { keepFd: true } : {}), ...(i % 2 ? { size: 500 + i * 301 } : {}) })),
      { id: 200, path: dir, fd: folderFd, keepFd: true, algorithms: ["xxh64"], options: {} },
    ];
    const here = jobs();
    const expected = await runBatchHere(here);
    const pool = new HashPool(2);
    try {
      const sent = jobs();
      const got = await Promise.all(await pool.runBatch(sent));
      expect(got).toEqual(expected);
      expect(got.map((r) => r.id)).toEqual([100, 101, 102, 103, 104, 105, 106, 107, 108, 200]);
      expect(got[9]).toMatchObject({ ok: false, code: "EISDIR" });
      expect((got[1] as { hexes: unknown }).hexes).toEqual([...(await hashPath(names[1]!, ["blake3", "md5"])).hexes.entries()]);
      // Descriptors a job owns are closed; kept ones stay open for their caller.
      for (const [i, job] of sent.entries()) {
        if (job.keepFd) expect(fstatSync(job.fd!).size).toBeGreaterThan(0);
        else expectClosed(job.fd!, new Set(names.map((name) => statSync(name).ino)));
        if (job.keepFd && i < names.length) closeSync(job.fd!);
      }
      closeSync(here[2]!.fd!);
    } finally {
      pool.close();
      closeSync(folderFd);
    }
  });

  test("a known failure keeps its place and its detail", async () => {
    const results: unknown[] = [];
    await hashInOrder(
      ["a", "b"],
      1,
      (item) => (item === "a" ? { failed: Object.assign(new Error("x"), { code: "EXDEV", detail: "a link that leaves the root" }) } : { job: { path: escapedPath, algorithms: ["xxh64"], options: {} } }),
      (_item, result) => {
        results.push(result?.ok ? "ok" : { code: result?.code, detail: result?.detail });
      },
    );
    expect(results).toEqual([{ code: "EXDEV", detail: "a link that leaves the root" }, "ok"]);
  });

  test("hashOpenFile refuses a folder and a FIFO; hashFromPosition reads on from where a descriptor stands", async () => {
    const folder = openSync(dir, "r");
    await expect(hashOpenFile(folder, ["xxh64"])).rejects.toMatchObject({ code: "EISDIR" });
    closeSync(folder);
    const fifo = join(dir, "fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const fifoFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    await expect(hashOpenFile(fifoFd, ["xxh64"])).rejects.toMatchObject({ code: "EFTYPE" });
    closeSync(fifoFd);
    writeFileSync(join(dir, "two"), "line1\nrest\n");
    const fd = openSync(join(dir, "two"), "r");
    readSync(fd, Buffer.alloc(6), 0, 6, null);
    expect((await hashFromPosition(fd, ["xxh64"])).hexes.get("xxh64")).toBe(xxh64Of("rest\n"));
    expect((await hashFromPosition(fd, ["xxh64"])).size).toBe(0);
    closeSync(fd);
  });
});

/** A descriptor was closed: it is gone, or its number was given again to something that is none of these files. */
function expectClosed(fd: number, inodes: ReadonlySet<number>): void {
  let ino: number;
  try {
    ino = fstatSync(fd).ino;
  } catch {
    return;
  }
  expect(inodes.has(ino)).toBe(false);
}

function xxh64Of(text: string): string {
  return run(["xxhsum", "-"], { stdin: text }).stdout.slice(0, 16);
}

test("digests print as lowercase hex, two digits a byte, from a view into a larger buffer as well", () => {
  const whole = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  expect(toHex(whole)).toBe(Buffer.from(whole).toString("hex"));
  expect(toHex(whole.subarray(250, 260))).toBe("fafbfcfdfeff00010203");
  expect(toHex(new Uint8Array(0))).toBe("");
});
