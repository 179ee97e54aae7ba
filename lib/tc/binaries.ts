/**
 * Where ffmpeg and ffprobe come from: the `FFMPEG` / `FFPROBE` environment variables, then
 * PATH, then a binary shipped inside an npm package (`@ffmpeg-installer/<platform>-<arch>`,
 * `@ffprobe-installer/<platform>-<arch>`, `ffprobe-static`), so a machine that only ran
 * `npm ci` works.
 */
import { accessSync, chmodSync, constants, existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { CliError, ExitCode } from "../core/errors.ts";

/** The two programs tc-extract drives. */
export type FfmpegProgram = "ffmpeg" | "ffprobe";

/** Paths inside npm packages that ship the program in their tarball, for this platform. */
export function npmCandidates(program: FfmpegProgram, platform = process.platform, arch = process.arch): string[] {
  const exe = platform === "win32" ? `${program}.exe` : program;
  const installer = `@${program}-installer/${platform}-${arch}/${exe}`;
  return program === "ffmpeg" ? [installer] : [installer, `ffprobe-static/bin/${platform}/${arch}/${exe}`];
}

/** Folders whose `node_modules` may hold the packages: around the source, the executable and the working folder. */
function searchRoots(): string[] {
  const starts = [import.meta.dir, dirname(process.execPath), process.cwd()];
  const roots: string[] = [];
  for (const start of starts) {
    let dir = start;
    for (;;) {
      if (!roots.includes(dir)) roots.push(dir);
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return roots;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The path of ffmpeg or ffprobe. Throws a usage/I-O error (exit 2) naming every place looked
 * at when there is none.
 *
 * @example
 * ```ts
 * import { findProgram } from "./binaries.ts";
 * const ffmpeg = findProgram("ffmpeg"); // "/usr/bin/ffmpeg"
 * ```
 */
export function findProgram(program: FfmpegProgram, env: Record<string, string | undefined> = process.env): string {
  const variable = program.toUpperCase();
  const fromEnv = env[variable];
  if (fromEnv) {
    if (!executable(fromEnv)) throw new CliError(`${variable}=${fromEnv} is not an executable file`, { exitCode: ExitCode.UsageOrIo });
    return fromEnv;
  }
  const onPath = Bun.which(program, { PATH: env.PATH ?? "" });
  if (onPath) return onPath;
  for (const root of searchRoots()) {
    for (const candidate of npmCandidates(program)) {
      const path = join(root, "node_modules", candidate);
      if (!existsSync(path)) continue;
      // Package managers that skip install scripts leave the binary without its execute bit.
      if (!executable(path)) {
        try {
          chmodSync(path, statSync(path).mode | 0o100);
        } catch {
          continue;
        }
      }
      if (executable(path)) return path;
    }
  }
  throw new CliError(
    `${program} not found: set ${variable}, put it on PATH, or install ${npmCandidates(program)
      .map((c) =>
        c
          .split("/")
          .slice(0, c.startsWith("@") ? 2 : 1)
          .join("/"),
      )
      .join(" or ")}`,
    { exitCode: ExitCode.UsageOrIo },
  );
}
