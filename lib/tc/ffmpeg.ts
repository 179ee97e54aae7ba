/**
 * Running ffmpeg and ffprobe safely: argument lists (never a shell), inputs named so that ffmpeg
 * cannot take them for anything but a local media file, text escaped for ffmpeg's filtergraph
 * syntax, outputs written only into files this run created (handed over as a descriptor), and
 * the shell form of a command for `--dry-run`.
 */
import { CliError, ExitCode } from "../core/errors.ts";
import { nameBytes, showLine } from "../core/names.ts";

/** What a finished ffmpeg/ffprobe run returned. */
export interface ProgramResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Options put before every input: only the containers tc-extract reads, only local files. A
 * "clip" that is really a playlist or a concat script (`.mov` holding `#EXTM3U`) would
 * otherwise make ffmpeg open the files it names.
 */
export const INPUT_GUARD: readonly string[] = ["-format_whitelist", "mov,mxf,matroska,mpegts,avi", "-protocol_whitelist", "file"];

/** {@link INPUT_GUARD} for a source: only http and tcp for one read from our own server's address. */
export function inputGuard(source: { url?: string }): readonly string[] {
  return source.url === undefined ? INPUT_GUARD : ["-format_whitelist", "mov,mxf,matroska,mpegts,avi", "-protocol_whitelist", "http,tcp"];
}

/**
 * A path as an ffmpeg input or output operand: `file:` first, so that a name with a colon is
 * never read as a protocol (`concat:…`, `http:…`) and one starting with `-` never as an option.
 * @example
 * ffmpegPath("-x:y.mov"); // "file:-x:y.mov"
 */
export function ffmpegPath(path: string): string {
  return `file:${path}`;
}

/**
 * The path a child opens the `index`-th descriptor handed to it by (fds 3, 4, …). Media is
 * handed to ffmpeg this way: the file this process opened (beneath a held folder, links not
 * followed out of it) is the file ffmpeg reads, and a name that is not UTF-8 needs no argv
 * encoding; outputs are files this run created, which ffmpeg may overwrite with `-y`.
 */
export function childFdPath(index: number): string {
  return `/proc/self/fd/${3 + index}`;
}

/**
 * Text as the value of a filter option inside a filtergraph: escaped for the option level
 * (`\ ' :`) and again for the filtergraph level (`\ ' [ ] , ;`). Every ASCII character that is
 * not a letter or digit is escaped at both levels, so nothing in the text can end the value,
 * start another option or chain another filter; leading and trailing spaces are kept.
 * Characters beyond ASCII are never special and pass as they are.
 * @example
 * filterValue("a',drawtext=textfile=/etc/passwd"); // "a\\\\\\'\\\\\\,drawtext…" — one literal value
 */
export function filterValue(text: string): string {
  const level = (s: string) => s.replace(/[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]/g, (c) => `\\${c}`);
  return level(level(text));
}

/** Runs a program to completion without a shell; `fds` become its fds 3, 4, … ({@link childFdPath}). */
export async function runProgram(cmd: string[], options: { fds?: number[] } = {}): Promise<ProgramResult> {
  let proc;
  try {
    proc = Bun.spawn({ cmd, stdio: ["ignore", "pipe", "pipe", ...(options.fds ?? [])] });
  } catch (error) {
    throw new CliError(`cannot run: ${(error as Error).message}`, { path: cmd[0], exitCode: ExitCode.UsageOrIo });
  }
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Runs ffmpeg and throws (exit 2) with its last stderr lines, made safe to show, when it fails. */
export async function runFfmpeg(cmd: string[], what: string, options: { fds?: number[] } = {}): Promise<void> {
  const result = await runProgram(cmd, options);
  if (result.code !== 0) {
    const tail = result.stderr.trim().split("\n").slice(-3).join(" | ");
    throw new CliError(`ffmpeg failed (exit ${result.code}): ${showLine(tail)}`, { path: what, exitCode: ExitCode.UsageOrIo });
  }
}

/**
 * A command as a shell line, quoting only what needs it. An argument holding control characters
 * or bytes that are not UTF-8 is written in `$'…'` form with `\xHH` escapes (bash, zsh, ksh and
 * POSIX.1-2024 shells), so the line shows nothing a terminal would act on and runs as printed.
 *
 * @example
 * ```ts
 * import { shellLine } from "./ffmpeg.ts";
 * shellLine(["ffmpeg", "-i", "my clip.mov"]); // "ffmpeg -i 'my clip.mov'"
 * shellLine(["ls", "a\nb"]); // "ls $'a\x0ab'"
 * ```
 */
export function shellLine(cmd: readonly string[]): string {
  return cmd.map(shellWord).join(" ");
}

/** Characters a shell line must not show raw: C0, DEL, C1, line separators, bidirectional controls, escaped bytes. */
const UNSHOWABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\udc80-\udcff]/u;

function shellWord(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  if (!UNSHOWABLE.test(arg) && arg.isWellFormed()) return `'${arg.replace(/'/g, `'\\''`)}'`;
  let out = "";
  for (const char of arg) {
    if (char === "\\" || char === "'") out += `\\${char}`;
    else if (UNSHOWABLE.test(char)) for (const byte of nameBytes(char)) out += `\\x${byte.toString(16).padStart(2, "0")}`;
    else out += char;
  }
  return `$'${out}'`;
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
