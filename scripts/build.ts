#!/usr/bin/env bun
/**
 * Compiles every tools/*.ts into a standalone executable in dist/. Every worker entry point of
 * the library (lib/thread/entry_points.ts: hashing, reading, flushing, fan-out writing, writing
 * virtual-tape records) is compiled in as an extra entry point: without them the compiled binary
 * runs, but its Workers never answer.
 *
 *   bun scripts/build.ts [TOOL...]                          this machine's platform, into dist/
 *   bun scripts/build.ts --target=bun-linux-arm64 [TOOL...]  another platform, into dist/<target>/
 *
 * A binary embeds the native hash engines installed for its platform; for another target,
 * install that platform's engine packages first (see README), or it uses the WebAssembly ones.
 */
import { readdirSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { WORKER_ENTRY_POINTS } from "../lib/thread/entry_points.ts";

/**
 * A compiled binary would otherwise read `.env` and `bunfig.toml` from the folder it is started
 * in: a card's `bunfig.toml` could preload a script, run as root by an offload started there,
 * and a `.env` could set the tools' own variables. Nothing is read from the working folder.
 */
const NO_AUTOLOAD = ["--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--no-compile-autoload-tsconfig", "--no-compile-autoload-package-json"];

const root = join(import.meta.dir, "..");
const args = process.argv.slice(2);
const target = args.find((a) => a.startsWith("--target="))?.slice("--target=".length);
const only = args.filter((a) => !a.startsWith("--"));
const outDir = target ? join("dist", target) : "dist";
const tools = readdirSync(join(root, "tools"))
  .filter((f) => f.endsWith(".ts"))
  .map((f) => f.slice(0, -3))
  .filter((t) => only.length === 0 || only.includes(t))
  .sort();

mkdirSync(join(root, outDir), { recursive: true });
let failed = 0;
for (const tool of tools) {
  const started = performance.now();
  const proc = Bun.spawnSync({
    cmd: [process.execPath, "build", "--compile", ...NO_AUTOLOAD, "--bytecode", "--format=esm", "--minify-whitespace", "--minify-syntax", ...(target ? [`--target=${target}`] : []), `tools/${tool}.ts`, ...Object.values(WORKER_ENTRY_POINTS), "--outfile", `${outDir}/${tool}`],
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (proc.exitCode !== 0) {
    failed++;
    process.stderr.write(`build: ${tool}: failed\n${proc.stdout.toString()}${proc.stderr.toString()}`);
  } else {
    process.stderr.write(`build: ${outDir}/${tool} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
  }
}
process.exit(failed ? 1 : 0);
