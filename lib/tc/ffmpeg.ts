/**
 * Running ffmpeg and ffprobe: argument lists in, exit status and stderr out, and the shell form
 * of a command for `--dry-run`.
 */
import { CliError, ExitCode } from "../core/errors.ts";

/** What a finished ffmpeg/ffprobe run returned. */
export interface ProgramResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion without a shell. */
export async function runProgram(cmd: string[]): Promise<ProgramResult> {
  let proc;
  try {
    proc = Bun.spawn({ cmd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  } catch (error) {
    throw new CliError(`cannot run: ${(error as Error).message}`, { path: cmd[0], exitCode: ExitCode.UsageOrIo });
  }
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Runs ffmpeg and throws (exit 2) with its last stderr lines when it fails. */
export async function runFfmpeg(cmd: string[], what: string): Promise<void> {
  const result = await runProgram(cmd);
  if (result.code !== 0) {
    const tail = result.stderr.trim().split("\n").slice(-3).join(" | ");
    throw new CliError(`ffmpeg failed (exit ${result.code}): ${tail}`, { path: what, exitCode: ExitCode.UsageOrIo });
  }
}

/**
 * A command as a POSIX shell line, quoting only what needs it.
 *
 * @example
 * ```ts
 * import { shellLine } from "./ffmpeg.ts";
 * shellLine(["ffmpeg", "-i", "my clip.mov"]); // "ffmpeg -i 'my clip.mov'"
 * ```
 */
export function shellLine(cmd: readonly string[]): string {
  return cmd.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(" ");
}

/** Runs `tasks` with at most `jobs` at once, keeping result order. */
export async function runLimited<T>(tasks: (() => Promise<T>)[], jobs: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, tasks.length)) }, worker));
  return results;
}
