/** Streaming hashers: one registry of algorithms and engines, file hashing, parallel pools. */
export { ALGORITHMS, DIGEST_BYTES, DISPLAY_NAME, isAlgorithm, resolveAlgorithm, type Algorithm } from "./algorithms.ts";
export { ENGINES, toHex, type Engine, type Hasher } from "./hasher.ts";
export type { HasherOptions } from "./options.ts";
export { ENGINE_SUPPORT, HasherSet, assertEngineSupports, createHasher, createHashers } from "./registry.ts";
export { hashFd, hashFromPosition, hashOpenFile, hashPath, type FileDigests, type HashFileOptions } from "./file.ts";
export { HashPool, failedResult, hashInOrder, runJobHere, type HashJob, type HashJobResult } from "./pool.ts";
export { c4FromSha512, sha512FromC4 } from "./c4.ts";
