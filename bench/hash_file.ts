#!/usr/bin/env bun
/**
 * Benchmark harness: hashes one file with the library (`hashPath` from lib/hash) and prints the
 * lowercase hex digest. Used by bench/hash.ts to time the library where no tool exists yet.
 *
 *   bun bench/hash_file.ts ALGO FILE [--engine auto|native|wasm|js]
 */
import { hashPath, resolveAlgorithm, type Engine } from "../lib/hash/mod.ts";

const args = process.argv.slice(2);
let engine: Engine | "auto" = "auto";
const operands: string[] = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!;
  if (arg === "--engine") engine = args[++i] as Engine | "auto";
  else if (arg.startsWith("--engine=")) engine = arg.slice("--engine=".length) as Engine | "auto";
  else operands.push(arg);
}
if (operands.length !== 2 || !["auto", "native", "wasm", "js"].includes(engine)) {
  process.stderr.write("usage: bun bench/hash_file.ts ALGO FILE [--engine auto|native|wasm|js]\n");
  process.exit(2);
}
const [name, path] = operands as [string, string];
const algorithm = resolveAlgorithm(name);
const { hexes } = await hashPath(path, [algorithm], { engine });
process.stdout.write(`${hexes.get(algorithm)}\n`);
