/**
 * WebAssembly engines, portable to any platform Bun runs on: xxhash-wasm for XXH32/XXH64 and
 * hash-wasm for XXH3/XXH128 (xxhash-wasm has no XXH3 family; hash-wasm streams both).
 */
import xxhashWasm from "xxhash-wasm";
import { createXXHash128, createXXHash3, type IHasher } from "hash-wasm";
import type { Algorithm } from "../algorithms.ts";
import { u32BigEndian } from "../crc32.ts";
import { BaseHasher, type Hasher } from "../hasher.ts";

type XxhashApi = Awaited<ReturnType<typeof xxhashWasm>>;
let api: Promise<XxhashApi> | undefined;

class Xxh32Wasm extends BaseHasher {
  #state: ReturnType<XxhashApi["create32"]>;
  constructor(wasm: XxhashApi) {
    super("xxh32", "wasm");
    this.#state = wasm.create32(0);
  }
  protected write(chunk: Uint8Array): void {
    this.#state.update(chunk);
  }
  protected finish(): Uint8Array {
    return u32BigEndian(this.#state.digest());
  }
}

class Xxh64Wasm extends BaseHasher {
  #state: ReturnType<XxhashApi["create64"]>;
  constructor(wasm: XxhashApi) {
    super("xxh64", "wasm");
    this.#state = wasm.create64(0n);
  }
  protected write(chunk: Uint8Array): void {
    this.#state.update(chunk);
  }
  protected finish(): Uint8Array {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, this.#state.digest());
    return out;
  }
}

class HashWasm extends BaseHasher {
  #state: IHasher;
  constructor(algorithm: Algorithm, state: IHasher) {
    super(algorithm, "wasm");
    this.#state = state;
    this.#state.init();
  }
  protected write(chunk: Uint8Array): void {
    this.#state.update(chunk);
  }
  protected finish(): Uint8Array {
    return this.#state.digest("binary");
  }
}

/** Creates a WebAssembly hasher, or undefined when no WebAssembly engine has this algorithm. */
export async function createWasmHasher(algorithm: Algorithm): Promise<Hasher | undefined> {
  switch (algorithm) {
    case "xxh32":
      return new Xxh32Wasm(await (api ??= xxhashWasm()));
    case "xxh64":
      return new Xxh64Wasm(await (api ??= xxhashWasm()));
    case "xxh3":
      return new HashWasm(algorithm, await createXXHash3(0, 0));
    case "xxh128":
      return new HashWasm(algorithm, await createXXHash128(0, 0));
    default:
      return undefined;
  }
}
