/**
 * The hasher registry: which engines compute which algorithm, in order of speed, and the one
 * function every tool calls to get a hasher.
 */
import { usageError } from "../core/errors.ts";
import type { Algorithm } from "./algorithms.ts";
import { ENGINES, type Engine, type Hasher } from "./hasher.ts";
import type { HasherOptions } from "./options.ts";

/** Engines that implement each algorithm, fastest first (measured: BENCHMARKS.md). */
export const ENGINE_SUPPORT: Record<Algorithm, readonly Engine[]> = {
  xxh32: ["native", "wasm"],
  xxh64: ["native", "wasm"],
  xxh3: ["native", "wasm"],
  xxh128: ["native", "wasm"],
  blake3: ["native", "js"],
  md5: ["native", "js"],
  sha1: ["native", "js"],
  sha256: ["native", "js"],
  sha512: ["native", "js"],
  c4: ["native", "js"],
  crc32: ["native", "js"],
};

/**
 * Parses an `--engine` value (`auto` when none is given).
 * @throws {CliError} (usage) naming the value and the engines there are.
 */
export function parseEngine(value: string | undefined): Engine | "auto" {
  const engine = value ?? "auto";
  if (engine === "auto" || (ENGINES as readonly string[]).includes(engine)) return engine as Engine | "auto";
  throw usageError(`unknown engine '${engine}'; use one of: auto, ${ENGINES.join(", ")}`);
}

/**
 * Refuses, before any work starts, an engine named on the command line that cannot compute
 * one of the algorithms the run needs.
 * @throws {CliError} (usage) naming the algorithm and the engines it has.
 */
export function assertEngineSupports(algorithms: readonly Algorithm[], engine: Engine | "auto" | undefined): void {
  if (engine === undefined || engine === "auto") return;
  for (const algorithm of algorithms) {
    const supported = ENGINE_SUPPORT[algorithm];
    if (!supported.includes(engine)) throw usageError(`${algorithm} has no ${engine} engine; available: ${supported.join(", ")}`);
  }
}

type Engines = {
  native?: typeof import("./engines/native.ts");
  wasm?: typeof import("./engines/wasm.ts");
  js?: typeof import("./engines/js.ts");
};

/**
 * Engines are imported when first used (loading them all would cost every run start-up time),
 * and kept: an import per hasher costs a tenth of the time of hashing many small files.
 */
const loaded: Engines = {};

async function createWith(engine: Engine, algorithm: Algorithm, options: HasherOptions): Promise<Hasher | undefined> {
  switch (engine) {
    case "native":
      return (loaded.native ??= await import("./engines/native.ts")).createNativeHasher(algorithm, options);
    case "wasm":
      return (loaded.wasm ??= await import("./engines/wasm.ts")).createWasmHasher(algorithm);
    case "js":
      return (loaded.js ??= await import("./engines/js.ts")).createJsHasher(algorithm, options);
  }
}

/** {@link createWith} without waiting: undefined when the engine is not loaded yet. */
function createLoaded(engine: Engine, algorithm: Algorithm, options: HasherOptions): Hasher | undefined | "not loaded" {
  switch (engine) {
    case "native":
      return loaded.native ? loaded.native.createNativeHasher(algorithm, options) : "not loaded";
    case "wasm":
      return "not loaded"; // made asynchronously
    case "js":
      return loaded.js ? loaded.js.createJsHasher(algorithm, options) : "not loaded";
  }
}

/**
 * The hasher {@link createHasher} would give, made without waiting when the engine it picks is
 * loaded already (every file after the first); undefined when only {@link createHasher} can say.
 */
export function createHasherNow(algorithm: Algorithm, options: HasherOptions): Hasher | undefined {
  const wanted = options.engine ?? "auto";
  for (const engine of wanted === "auto" ? ENGINE_SUPPORT[algorithm] : [wanted]) {
    if (!ENGINE_SUPPORT[algorithm].includes(engine)) return undefined;
    let hasher: Hasher | undefined | "not loaded";
    try {
      hasher = createLoaded(engine, algorithm, options);
    } catch {
      if (wanted !== "auto") return undefined;
      continue;
    }
    if (hasher === "not loaded" || hasher === undefined) {
      if (hasher === undefined && wanted === "auto") continue;
      return undefined;
    }
    return hasher;
  }
  return undefined;
}

/**
 * Creates a streaming hasher. With `engine: "auto"` (the default) the fastest engine that loads
 * on this platform and supports the options is used; a named engine is used or refused.
 * @throws {CliError} when the named engine does not implement the algorithm.
 * @example
 * const h = await createHasher("xxh64");
 * h.update(new TextEncoder().encode("abc"));
 * h.hex(); // "44bc2cf5ad770999"
 */
export async function createHasher(algorithm: Algorithm, options: HasherOptions = {}): Promise<Hasher> {
  const wanted = options.engine ?? "auto";
  const supported = ENGINE_SUPPORT[algorithm];
  if (wanted !== "auto") {
    assertEngineSupports([algorithm], wanted);
    const hasher = await createWith(wanted, algorithm, options);
    if (!hasher) throw usageError(`the ${wanted} ${algorithm} engine cannot compute this output length; use --engine js`);
    return hasher;
  }
  let lastError: unknown;
  for (const engine of supported) {
    try {
      const hasher = await createWith(engine, algorithm, options);
      if (hasher) return hasher;
    } catch (error) {
      // A native add-on missing for this platform: fall through to the portable engines.
      lastError = error;
    }
  }
  throw new Error(`no engine can compute ${algorithm} here`, { cause: lastError });
}

/** Several hashers fed from the same bytes. */
export class HasherSet {
  readonly hashers: readonly Hasher[];
  constructor(hashers: readonly Hasher[]) {
    this.hashers = hashers;
  }
  /** Feeds the same chunk to every hasher. */
  update(chunk: Uint8Array): void {
    for (const hasher of this.hashers) hasher.update(chunk);
  }
  /** Each algorithm's printed digest. */
  hexes(): Map<Algorithm, string> {
    return new Map(this.hashers.map((h) => [h.algorithm, h.hex()]));
  }
}

/**
 * Creates one hasher per algorithm to run over the same stream (duplicates are dropped).
 * @example
 * declare const bytes: Uint8Array;
 * const set = await createHashers(["xxh64", "md5"]);
 * set.update(bytes);
 * set.hexes().get("md5");
 */
export async function createHashers(algorithms: readonly Algorithm[], options: HasherOptions = {}): Promise<HasherSet> {
  return createHashersNow(algorithms, options) ?? new HasherSet(await Promise.all([...new Set(algorithms)].map((a) => createHasher(a, options))));
}

/**
 * {@link createHashers} without waiting, once the engines it needs are loaded (undefined
 * before): hashing many small files, a promise per file costs more than the hash.
 */
export function createHashersNow(algorithms: readonly Algorithm[], options: HasherOptions = {}): HasherSet | undefined {
  const hashers: Hasher[] = [];
  for (const algorithm of algorithms.length === 1 ? algorithms : new Set(algorithms)) {
    const hasher = createHasherNow(algorithm, options);
    if (!hasher) {
      // A state taken for one that was made is given back by finishing it.
      for (const made of hashers) made.digest();
      return undefined;
    }
    hashers.push(hasher);
  }
  return new HasherSet(hashers);
}
