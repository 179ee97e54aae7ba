/**
 * Hash mode shared by the summing tools: hash every input (in parallel with `--jobs`, output
 * still in input order) and print one line per input in the tool's dialect, or JSON.
 */
import { statSync } from "node:fs";
import type { LineSink, ProgressFactory } from "../core/sink.ts";
import { NO_PROGRESS } from "../core/sink.ts";
import type { Algorithm } from "../hash/algorithms.ts";
import { hashFd, type HashFileOptions } from "../hash/file.ts";
import type { HasherOptions } from "../hash/options.ts";
import { hashInOrder, type HashJobResult } from "../hash/pool.ts";
import type { SumDialect } from "./dialect.ts";
import type { SumInput } from "./inputs.ts";

/** How to run hash mode. */
export interface SumOptions {
  algorithm: Algorithm;
  hasher: HashFileOptions;
  /** Files hashed at once (Workers). @default 1 */
  jobs: number;
  /** One JSON object per input instead of sum lines. */
  json: boolean;
  /** Makes the progress sink, when progress is shown. */
  progress?: ProgressFactory;
}

/** Hashes standard input in this thread, reported like a worker result. */
export async function hashStdin(algorithms: Algorithm[], hasher: HashFileOptions): Promise<HashJobResult> {
  try {
    const { hexes, size } = await hashFd(0, algorithms, hasher);
    return { id: -1, ok: true, hexes: [...hexes.entries()], size };
  } catch (error) {
    const e = error as { code?: string; message?: string };
    return { id: -1, ok: false, code: e.code, message: e.message ?? String(error) };
  }
}

function sizeOf(input: SumInput): number {
  if (input.kind === "stdin") return 0;
  try {
    return statSync(input.path).size;
  } catch {
    return 0;
  }
}

/**
 * Hashes and prints every input. Returns the number of inputs that could not be hashed.
 */
export async function runSums(inputs: readonly SumInput[], dialect: SumDialect, options: SumOptions, out: LineSink): Promise<number> {
  let failures = 0;
  const progress = options.progress?.({ files: inputs.length, bytes: inputs.reduce((sum, input) => sum + sizeOf(input), 0) }) ?? NO_PROGRESS;
  await hashInOrder(
    inputs,
    // One input: hash it here (reading ahead on a second thread) rather than in one worker.
    inputs.length > 1 ? options.jobs : 1,
    (input) =>
      input.kind === "stdin"
        ? { here: () => hashStdin([options.algorithm], options.hasher) }
        : { job: { path: input.path, algorithms: [options.algorithm], options: options.hasher } },
    (input, result) => {
      if (!result) return;
      progress.clear();
      if (!result.ok) {
        failures++;
        if (options.json) out.data(`${JSON.stringify({ name: input.name, error: result.message, code: result.code ?? null })}\n`);
        const line = dialect.hashError(input, { code: result.code, message: result.message });
        out.error(result.code === "EISDIR" ? `${line}; use -r to hash the files in it` : line);
      } else {
        const hex = result.hexes[0]![1];
        if (options.json) {
          out.data(`${JSON.stringify({ name: input.name, algorithm: options.algorithm, digest: hex, size: result.size })}\n`);
        } else {
          out.data(dialect.formatSum(input, Uint8Array.from(Buffer.from(hex, "hex"))));
        }
      }
      progress.fileDone(result.ok ? result.size : 0);
    },
  );
  out.flush();
  progress.finish();
  return failures;
}
