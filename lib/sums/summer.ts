/**
 * Hash mode shared by the summing tools: hash every input (in parallel with `--jobs`, output
 * still in input order) and print one line per input in the tool's dialect, or JSON.
 */
import { statSync } from "node:fs";
import { fsPath } from "../core/names.ts";
import type { LineSink, ProgressFactory } from "../core/sink.ts";
import { NO_PROGRESS } from "../core/sink.ts";
import type { Algorithm } from "../hash/algorithms.ts";
import { hashFromPosition, type HashFileOptions } from "../hash/file.ts";
import { nativeRuns, RUNS_FROM_FILES, RunsAhead, runThreads, runWork } from "../hash/native_batch.ts";
import { guardedWait } from "../core/interrupt_guard.ts";
import { failedResult, hashingPlan, hashInOrder, type HashJobResult, type Work } from "../hash/pool.ts";
import type { SumDialect } from "./dialect.ts";
import type { SumInput } from "./inputs.ts";

/** How to run hash mode. */
export interface SumOptions {
  algorithm: Algorithm;
  hasher: HashFileOptions;
  /** Files hashed at once (Workers). @default 1 */
  jobs: number;
  /**
   * No `--jobs` was given: small files are spread over the cores in batches (unless their
   * format hashes faster than a file is read), larger ones hashed here one at a time, reading
   * ahead on a second thread.
   */
  spread?: boolean;
  /** One JSON object per input instead of sum lines. */
  json: boolean;
  /** Makes the progress sink, when progress is shown. */
  progress?: ProgressFactory;
}

/**
 * Hashes standard input in this thread from where it stands, reported like a worker result:
 * `{ read -r line; b3sum-ts -; } < file` hashes the rest of the file, as the anchors do.
 */
export async function hashStdin(algorithms: Algorithm[], hasher: HashFileOptions): Promise<HashJobResult> {
  await guardedWait(0);
  try {
    const { hexes, size } = await hashFromPosition(0, algorithms, hasher);
    return { id: -1, ok: true, hexes: [...hexes.entries()], size };
  } catch (error) {
    return failedResult(-1, error);
  }
}

function sizeOf(input: SumInput): number {
  if (input.kind === "stdin") return 0;
  if (input.size !== undefined) return input.size;
  try {
    return statSync(fsPath(input.path)).size;
  } catch {
    return 0;
  }
}

/**
 * How one input is hashed: stdin here; a file found by a walk opened beneath its held folder
 * (never through a link that leaves it) and handed over by descriptor; a file named on the
 * command line opened by its path, as the anchors open it.
 */
export function planInput(input: SumInput, algorithms: Algorithm[], hasher: HashFileOptions): Work {
  if (input.kind === "stdin") return { here: () => hashStdin(algorithms, hasher) };
  if (input.folder && input.relative !== undefined) {
    let fd: number;
    try {
      fd = input.folder.openReadInside(input.relative);
    } catch (error) {
      return { failed: error };
    }
    return { job: { path: input.path, fd, algorithms, options: hasher } };
  }
  return { job: { path: input.path, algorithms, options: hasher } };
}

/**
 * Hashes and prints every input. Returns the number of inputs that could not be hashed.
 */
export async function runSums(inputs: readonly SumInput[], dialect: SumDialect, options: SumOptions, out: LineSink): Promise<number> {
  let failures = 0;
  const progress = options.progress?.({ files: inputs.length, bytes: inputs.reduce((sum, input) => sum + sizeOf(input), 0) }) ?? NO_PROGRESS;
  // One input: hashed here (reading ahead on a second thread) rather than in one worker.
  const { parallelism, options: inOrder } = hashingPlan(options.spread === true ? undefined : options.jobs, [options.algorithm], inputs.length);
  // Small files found by a walk, in runs of a folder's files, natively (XXH formats hashed there, BLAKE3 read there).
  const native = inputs.filter((input) => input.folder).length >= RUNS_FROM_FILES ? await nativeRuns([options.algorithm], options.hasher, runThreads(options.spread === true ? undefined : options.jobs)) : undefined;
  const ahead = native && new RunsAhead([...inputs], native, (input) => (input.folder && input.relative !== undefined ? { folder: input.folder, relative: input.relative, size: input.size } : undefined));
  try {
    await hashInOrder(
      inputs,
      parallelism,
      (input) => {
        const done = ahead?.take(input);
        if (done) return runWork(options.algorithm, done);
        return planInput(input, [options.algorithm], options.hasher);
      },
      (input, result) => {
        if (!result) return;
        progress.clear();
        if (!result.ok) {
          failures++;
          if (options.json) out.data(`${JSON.stringify({ name: input.name, error: result.detail ?? result.message, code: result.code ?? null })}\n`);
          const line = dialect.hashError(input, { code: result.code, message: result.message, detail: result.detail });
          out.error(result.code === "EISDIR" ? `${line}; use -r to hash the files in it` : line);
        } else {
          const hex = result.hexes[0]![1];
          if (options.json) {
            out.data(`${JSON.stringify({ name: input.name, algorithm: options.algorithm, digest: hex, size: result.size })}\n`);
          } else {
            out.data(dialect.formatSum(input, hex));
          }
        }
        progress.fileDone(result.ok ? result.size : 0);
      },
      inOrder,
    );
  } finally {
    // A run read ahead that no file asked for is waited for: its thread writes to memory of ours.
    ahead?.settle();
  }
  out.flush();
  progress.finish();
  return failures;
}
