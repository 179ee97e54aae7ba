/**
 * Hashers that also take runs of zeros (the holes of a sparse file) without reading a buffer of
 * zeros. The digest is always that of the same bytes fed one by one: a run of zeros is hashed,
 * only faster where the algorithm allows it.
 *
 * XXH64 allows it: a 32-byte stripe of zeros turns each of its four lanes into
 * rotl(lane, 31) × PRIME64_1, nothing else, so a run of zeros is that step repeated, with no
 * memory read and one multiplication per lane instead of two. It is done here in a small
 * hand-assembled WebAssembly function that runs about twice as fast as the xxHash library over
 * a zero buffer (BENCHMARKS.md, "Sparse files"). The state after a run depends on the state
 * before it, so no digest of zeros can be computed once and reused; every other algorithm here
 * (XXH3, XXH128, BLAKE3, MD5, SHA) is fed a buffer of zeros.
 */
import type { Algorithm } from "./algorithms.ts";
import { BaseHasher, type Hasher } from "./hasher.ts";
import type { HasherOptions } from "./options.ts";
import { createHasher } from "./registry.ts";

const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;
const M64 = (1n << 64n) - 1n;

/** Signed LEB128 of a 64-bit constant, as `i64.const` takes it. */
function sleb(value: bigint): number[] {
  let v = BigInt.asIntN(64, value);
  const out: number[] = [];
  for (;;) {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (byte & 0x40) === 0) || (v === -1n && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    const byte = value & 0x7f;
    value >>>= 7;
    out.push(value ? byte | 0x80 : byte);
  } while (value);
  return out;
}

/** Where the four lanes are in the module's memory, and where the data to hash is put. */
const LANES = 0;
const DATA = 64;
const DATA_BYTES = 1 << 20;

/**
 * The module: `zeros(n)` runs n stripes of zeros, `stripes(at, n)` n stripes of the data at
 * `at`, both over the four lanes at {@link LANES} (xxHash's XXH64 round, spelled out).
 */
function moduleBytes(): Uint8Array {
  const I32_CONST = 0x41;
  const I64_CONST = 0x42;
  const I64_LOAD = 0x29;
  const I64_STORE = 0x37;
  const GET = 0x20;
  const SET = 0x21;
  const load = (first: number) => [0, 1, 2, 3].flatMap((k) => [I32_CONST, LANES, I64_LOAD, 3, k * 8, SET, first + k]);
  const store = (first: number) => [0, 1, 2, 3].flatMap((k) => [I32_CONST, LANES, GET, first + k, I64_STORE, 3, k * 8]);
  const times = (count: number, body: number[]) => [0x02, 0x40, 0x03, 0x40, GET, count, 0x45, 0x0d, 1, ...body, GET, count, I32_CONST, 1, 0x6b, SET, count, 0x0c, 0, 0x0b, 0x0b];
  // lane = rotl(lane, 31) * P1
  const zeroRound = (lane: number) => [GET, lane, I64_CONST, 31, 0x89, I64_CONST, ...sleb(P1), 0x7e, SET, lane];
  // lane = rotl(lane + load64(at + 8k) * P2, 31) * P1
  const dataRound = (lane: number, k: number) => [GET, lane, GET, 0, I64_LOAD, 3, k * 8, I64_CONST, ...sleb(P2), 0x7e, 0x7c, I64_CONST, 31, 0x89, I64_CONST, ...sleb(P1), 0x7e, SET, lane];
  const zeros = [1, 4, 0x7e, ...load(1), ...times(0, [1, 2, 3, 4].flatMap(zeroRound)), ...store(1), 0x0b];
  const stripes = [1, 4, 0x7e, ...load(2), ...times(1, [...[0, 1, 2, 3].flatMap((k) => dataRound(k + 2, k)), GET, 0, I32_CONST, 32, 0x6a, SET, 0]), ...store(2), 0x0b];
  const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
  const name = (text: string) => [...uleb(text.length), ...new TextEncoder().encode(text)];
  const pages = (DATA + DATA_BYTES + 0xffff) >>> 16;
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(1, [2, 0x60, 1, 0x7f, 0, 0x60, 2, 0x7f, 0x7f, 0]),
    ...section(3, [2, 0, 1]),
    ...section(5, [1, 0, ...uleb(pages)]),
    ...section(7, [3, ...name("memory"), 2, 0, ...name("zeros"), 0, 0, ...name("stripes"), 0, 1]),
    ...section(10, [2, ...uleb(zeros.length), ...zeros, ...uleb(stripes.length), ...stripes]),
  ]);
}

interface Rounds {
  memory: Uint8Array;
  lanes: BigUint64Array;
  zeros(count: number): void;
  stripes(at: number, count: number): void;
}

let rounds: Rounds | undefined;

/** The module, made once per thread (every XXH64 state here lends it its lanes in turn). */
function loadRounds(): Rounds {
  if (rounds) return rounds;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()));
  const exports = instance.exports as { memory: WebAssembly.Memory; zeros(count: number): void; stripes(at: number, count: number): void };
  rounds = { memory: new Uint8Array(exports.memory.buffer), lanes: new BigUint64Array(exports.memory.buffer, LANES, 4), zeros: exports.zeros, stripes: exports.stripes };
  return rounds;
}

const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M64;
const round = (acc: bigint, input: bigint) => (rotl((acc + input * P2) & M64, 31n) * P1) & M64;

/** XXH64 (seed 0) that takes runs of zeros in O(stripes) multiplications, without reading them. */
export class Xxh64ZeroRuns extends BaseHasher {
  #lanes = new BigUint64Array([(P1 + P2) & M64, P2, 0n, (1n << 64n) - P1]);
  #pending = new Uint8Array(32);
  #pendingLength = 0;
  #total = 0;

  constructor() {
    super("xxh64", "wasm");
  }

  /** Runs `run` on the module with this state's lanes in it. */
  #withLanes(run: (r: Rounds) => void): void {
    const r = loadRounds();
    r.lanes.set(this.#lanes);
    run(r);
    this.#lanes.set(r.lanes);
  }

  protected write(chunk: Uint8Array): void {
    this.#total += chunk.length;
    let at = 0;
    if (this.#pendingLength > 0) {
      at = Math.min(32 - this.#pendingLength, chunk.length);
      this.#pending.set(chunk.subarray(0, at), this.#pendingLength);
      this.#pendingLength += at;
      if (this.#pendingLength < 32) return;
      this.#withLanes((r) => {
        r.memory.set(this.#pending, DATA);
        r.stripes(DATA, 1);
      });
      this.#pendingLength = 0;
    }
    const whole = (chunk.length - at) & ~31;
    if (whole > 0) {
      this.#withLanes((r) => {
        for (let end = at + whole; at < end; ) {
          const piece = Math.min(end - at, DATA_BYTES);
          r.memory.set(chunk.subarray(at, at + piece), DATA);
          r.stripes(DATA, piece / 32);
          at += piece;
        }
      });
    }
    this.#pending.set(chunk.subarray(at), 0);
    this.#pendingLength = chunk.length - at;
  }

  /** Feeds `length` zero bytes. */
  zeros(length: number): void {
    this.#total += length;
    let left = length;
    if (this.#pendingLength > 0) {
      const take = Math.min(32 - this.#pendingLength, left);
      this.#pending.fill(0, this.#pendingLength, this.#pendingLength + take);
      this.#pendingLength += take;
      left -= take;
      if (this.#pendingLength < 32) return;
      this.#withLanes((r) => {
        r.memory.set(this.#pending, DATA);
        r.stripes(DATA, 1);
      });
      this.#pendingLength = 0;
    }
    let stripes = Math.floor(left / 32);
    if (stripes > 0) {
      this.#withLanes((r) => {
        for (; stripes > 0; stripes -= Math.min(stripes, 1 << 30)) r.zeros(Math.min(stripes, 1 << 30));
      });
    }
    this.#pendingLength = left % 32;
    this.#pending.fill(0, 0, this.#pendingLength);
  }

  protected finish(): Uint8Array {
    const [v1, v2, v3, v4] = this.#lanes as unknown as [bigint, bigint, bigint, bigint];
    let h: bigint;
    if (this.#total >= 32) {
      h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M64;
      for (const v of [v1, v2, v3, v4]) h = ((((h ^ round(0n, v)) * P1) & M64) + P4) & M64;
    } else {
      h = P5;
    }
    h = (h + BigInt(this.#total)) & M64;
    const tail = new DataView(this.#pending.buffer, 0, this.#pendingLength);
    let p = 0;
    for (; p + 8 <= this.#pendingLength; p += 8) h = (((rotl(h ^ round(0n, tail.getBigUint64(p, true)), 27n) * P1) & M64) + P4) & M64;
    if (p + 4 <= this.#pendingLength) {
      h = (((rotl(h ^ ((BigInt(tail.getUint32(p, true)) * P1) & M64), 23n) * P2) & M64) + P3) & M64;
      p += 4;
    }
    for (; p < this.#pendingLength; p++) h = (rotl(h ^ ((BigInt(this.#pending[p]!) * P5) & M64), 11n) * P1) & M64;
    h = ((h ^ (h >> 33n)) * P2) & M64;
    h = ((h ^ (h >> 29n)) * P3) & M64;
    h ^= h >> 32n;
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, h);
    return out;
  }
}

const ZEROS = new Uint8Array(1 << 20);

/** Hashers over one stream of bytes that also take runs of zeros. */
export class ZeroRunHashers {
  readonly #hashers: readonly Hasher[];
  constructor(hashers: readonly Hasher[]) {
    this.#hashers = hashers;
  }
  /** Feeds the same chunk to every hasher. */
  update(chunk: Uint8Array): void {
    for (const hasher of this.#hashers) hasher.update(chunk);
  }
  /** Feeds `length` zero bytes to every hasher. */
  zeros(length: number): void {
    for (const hasher of this.#hashers) {
      if (hasher instanceof Xxh64ZeroRuns) hasher.zeros(length);
      else for (let left = length; left > 0; left -= ZEROS.length) hasher.update(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
    }
  }
  /** Each algorithm's printed digest. */
  hexes(): Map<Algorithm, string> {
    return new Map(this.#hashers.map((h) => [h.algorithm, h.hex()]));
  }
}

/**
 * One hasher per algorithm (duplicates dropped), each taking runs of zeros: XXH64 by
 * {@link Xxh64ZeroRuns} unless another engine is asked for, the others from the registry.
 * @example
 * const set = await createZeroRunHashers(["xxh64", "md5"]);
 * set.update(new TextEncoder().encode("abc"));
 * set.zeros(1 << 30); // "abc" and a GiB of zeros
 * set.hexes().get("xxh64");
 */
export async function createZeroRunHashers(algorithms: readonly Algorithm[], options: HasherOptions = {}): Promise<ZeroRunHashers> {
  const own = (a: Algorithm) => a === "xxh64" && (options.engine ?? "auto") === "auto";
  return new ZeroRunHashers(await Promise.all([...new Set(algorithms)].map((a) => (own(a) ? new Xxh64ZeroRuns() : createHasher(a, options)))));
}
