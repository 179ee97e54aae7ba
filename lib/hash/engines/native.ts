/**
 * Native engines: napi add-ons (xxhash-addon for the XXH family, @napi-rs/blake-hash for BLAKE3)
 * and Bun's built-in crypto for MD5/SHA. These are the fast paths measured in BENCHMARKS.md.
 */
import type { Algorithm } from "../algorithms.ts";
import { c4FromSha512 } from "../c4.ts";
import { u32BigEndian } from "../crc32.ts";
import { BaseHasher, type Hasher } from "../hasher.ts";
import type { HasherOptions } from "../options.ts";

interface XxhashAddonHasher {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
  reset(): void;
}

/**
 * Native states whose digest has been taken, reset and kept for the next file, per kind, on this
 * thread. Bun frees a napi hasher's memory late or never: measured over 100,000 one-line files,
 * 0.5 KB stays behind per XXH64 state and 2.6 KB per BLAKE3 state, so a check of ten million
 * lines grew by gigabytes; reusing states keeps it flat.
 */
const spareStates = new Map<string, Array<{ reset(): void }>>();
const MAX_SPARE = 16;

function takeState<T extends { reset(): void }>(kind: string, make: () => T): T {
  return (spareStates.get(kind)?.pop() as T | undefined) ?? make();
}

function giveBackState(kind: string, state: { reset(): void }): void {
  const list = spareStates.get(kind) ?? [];
  if (list.length >= MAX_SPARE) return;
  state.reset();
  list.push(state);
  spareStates.set(kind, list);
}
type XxhashAddonClass = new (seed: Buffer) => XxhashAddonHasher;
interface XxhashAddon {
  XXHash32: XxhashAddonClass;
  XXHash64: XxhashAddonClass;
  XXHash3: XxhashAddonClass;
  XXHash128: XxhashAddonClass;
}

let xxhashAddon: XxhashAddon | undefined;

/**
 * Loads xxhash-addon's prebuilt binary by a static path. Its own loader (node-gyp-build) searches
 * the file system at run time, which a `bun build --compile` executable cannot do; the bundler
 * embeds `.node` files named by literal `require(...)` calls (not `createRequire`'s).
 */
function loadXxhashAddon(): XxhashAddon {
  if (xxhashAddon) return xxhashAddon;
  const target = `${process.platform}-${process.arch}`;
  switch (target) {
    case "linux-x64":
      try {
        xxhashAddon = require("xxhash-addon/prebuilds/linux-x64/addon.napi.glibc.node");
      } catch {
        xxhashAddon = require("xxhash-addon/prebuilds/linux-x64/addon.napi.musl.node");
      }
      break;
    case "linux-arm64":
      try {
        xxhashAddon = require("xxhash-addon/prebuilds/linux-arm64/addon.napi.glibc.node");
      } catch {
        xxhashAddon = require("xxhash-addon/prebuilds/linux-arm64/addon.napi.musl.node");
      }
      break;
    case "darwin-x64":
      xxhashAddon = require("xxhash-addon/prebuilds/darwin-x64/addon.napi.node");
      break;
    case "darwin-arm64":
      xxhashAddon = require("xxhash-addon/prebuilds/darwin-arm64/addon.napi.node");
      break;
    default:
      throw new Error(`no prebuilt xxhash-addon for ${target}`);
  }
  return xxhashAddon!;
}

interface Blake3Native {
  update(input: Uint8Array): unknown;
  digestBuffer(): Uint8Array;
  reset(): void;
}
interface BlakeHashModule {
  blake3(input: Buffer): Buffer;
  Blake3Hasher: {
    new (): Blake3Native;
    newKeyed(key: Buffer): Blake3Native;
    newDeriveKey(context: string): Blake3Native;
  };
}

let blakeHash: BlakeHashModule | undefined;

function loadBlakeHash(): BlakeHashModule {
  blakeHash ??= require("@napi-rs/blake-hash") as BlakeHashModule;
  return blakeHash;
}

/**
 * The native engine's digest of a whole input in one call, as printed hex, for `algorithm`
 * with `options`; undefined where there is none (another format, a key, a derived key, another
 * length). One call in place of a hasher's make, update and digest: on a tree of small files
 * those calls cost a tenth of the hashing.
 * @throws where the add-on cannot be loaded.
 */
export function nativeOneCall(algorithm: Algorithm, options: HasherOptions): ((bytes: Buffer) => string) | undefined {
  if (algorithm !== "blake3" || options.key !== undefined || options.deriveKeyContext !== undefined || (options.outputLength ?? 32) !== 32) return undefined;
  const mod = loadBlakeHash();
  return (bytes) => mod.blake3(bytes).toString("hex");
}

class XxhashNative extends BaseHasher {
  #state: XxhashAddonHasher;
  constructor(algorithm: Algorithm, make: XxhashAddonClass, seedBytes: number) {
    super(algorithm, "native");
    // An explicit zero seed: constructing without one crashes under Bun (napi out-of-memory).
    this.#state = takeState(algorithm, () => new make(Buffer.alloc(seedBytes)));
  }
  protected write(chunk: Uint8Array): void {
    this.#state.update(chunk);
  }
  protected finish(): Uint8Array {
    const digest = new Uint8Array(this.#state.digest());
    // No update can follow a digest (BaseHasher), so the state is free for the next file.
    giveBackState(this.algorithm, this.#state);
    return digest;
  }
}

class Blake3NativeHasher extends BaseHasher {
  #state: Blake3Native;
  #kind: string;
  #length: number;
  constructor(options: HasherOptions) {
    super("blake3", "native");
    const mod = loadBlakeHash();
    // A reset keeps the key or the derivation context: states are kept apart by them.
    if (options.key) {
      this.#kind = `blake3 keyed ${Buffer.from(options.key).toString("hex")}`;
      this.#state = takeState(this.#kind, () => mod.Blake3Hasher.newKeyed(Buffer.from(options.key!)));
    } else if (options.deriveKeyContext !== undefined) {
      this.#kind = `blake3 derive ${options.deriveKeyContext}`;
      this.#state = takeState(this.#kind, () => mod.Blake3Hasher.newDeriveKey(options.deriveKeyContext!));
    } else {
      this.#kind = "blake3";
      this.#state = takeState(this.#kind, () => new mod.Blake3Hasher());
    }
    this.#length = options.outputLength ?? 32;
  }
  protected write(chunk: Uint8Array): void {
    this.#state.update(chunk);
  }
  protected finish(): Uint8Array {
    // BLAKE3 is an XOF: a shorter output is a prefix of the 32-byte one.
    const digest = new Uint8Array(this.#state.digestBuffer()).slice(0, this.#length);
    giveBackState(this.#kind, this.#state);
    return digest;
  }
}

class CryptoNative extends BaseHasher {
  #state: Bun.CryptoHasher;
  constructor(algorithm: Algorithm, bunName: "md5" | "sha1" | "sha256" | "sha512") {
    super(algorithm, "native");
    this.#state = new Bun.CryptoHasher(bunName);
  }
  protected write(chunk: Uint8Array): void {
    this.#state.update(chunk);
  }
  protected finish(): Uint8Array {
    return new Uint8Array(this.#state.digest());
  }
  override hex(): string {
    return this.algorithm === "c4" ? c4FromSha512(this.digest()) : super.hex();
  }
}

class Crc32Native extends BaseHasher {
  #value = 0;
  // node:zlib is loaded only for CRC-32, not on every start.
  #crc32: (data: Uint8Array, value: number) => number = (require("node:zlib") as typeof import("node:zlib")).crc32;
  constructor() {
    super("crc32", "native");
  }
  protected write(chunk: Uint8Array): void {
    this.#value = this.#crc32(chunk, this.#value);
  }
  protected finish(): Uint8Array {
    return u32BigEndian(this.#value);
  }
}

/**
 * Creates a native hasher, or returns undefined when this engine cannot compute the algorithm
 * with these options (BLAKE3 output longer than 32 bytes).
 * @throws when the add-on cannot be loaded on this platform.
 */
export function createNativeHasher(algorithm: Algorithm, options: HasherOptions): Hasher | undefined {
  switch (algorithm) {
    case "xxh32":
      return new XxhashNative(algorithm, loadXxhashAddon().XXHash32, 4);
    case "xxh64":
      return new XxhashNative(algorithm, loadXxhashAddon().XXHash64, 8);
    case "xxh3":
      return new XxhashNative(algorithm, loadXxhashAddon().XXHash3, 8);
    case "xxh128":
      return new XxhashNative(algorithm, loadXxhashAddon().XXHash128, 8);
    case "blake3":
      if ((options.outputLength ?? 32) > 32) return undefined;
      return new Blake3NativeHasher(options);
    case "md5":
    case "sha1":
    case "sha256":
    case "sha512":
      return new CryptoNative(algorithm, algorithm);
    case "c4":
      return new CryptoNative("c4", "sha512");
    case "crc32":
      return new Crc32Native();
  }
}
