/**
 * One error type for every tool: it carries the exit code and the path it concerns, so the
 * top-level runner can print `tool: path: message` on one line and exit with the right code.
 */

/** Exit codes shared by the tools unless a drop-in anchor defines its own. */
export const ExitCode = {
  /** Everything was done and every check passed. */
  Ok: 0,
  /** A verification failed: a digest did not match, a file listed for checking was missing. */
  VerifyFailed: 1,
  /** Bad usage, unreadable input, I/O error. */
  UsageOrIo: 2,
} as const;

/** An error meant for the user: one line, no stack trace. */
export class CliError extends Error {
  /** Exit code the process should end with. */
  readonly exitCode: number;
  /** File or directory the error concerns, printed before the message. */
  readonly path: string | undefined;

  constructor(message: string, options: { exitCode?: number; path?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "CliError";
    this.exitCode = options.exitCode ?? ExitCode.UsageOrIo;
    this.path = options.path;
  }
}

/** A usage error (bad flag, bad value): exit code 2. */
export function usageError(message: string): CliError {
  return new CliError(message, { exitCode: ExitCode.UsageOrIo });
}

/**
 * Turns a Node/Bun system error into a short human phrase, e.g. ENOENT → "No such file or directory".
 * The phrases follow strerror(3), which is what the native tools print.
 */
export function describeSystemError(error: unknown): string {
  const detail = (error as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return detail;
  return strerrorOf(error);
}

/**
 * strerror's phrase for a system error's code ("Permission denied"), without the detail a
 * library added, for a caller that says what was being done itself.
 */
export function strerrorOf(error: unknown): string {
  const code = (error as { code?: string } | null)?.code;
  switch (code) {
    case "ENOENT":
      return "No such file or directory";
    case "EACCES":
      return "Permission denied";
    case "EPERM":
      return "Operation not permitted";
    case "EISDIR":
      return "Is a directory";
    case "ENOTDIR":
      return "Not a directory";
    case "EIO":
      return "Input/output error";
    case "ENOSPC":
      return "No space left on device";
    case "EROFS":
      return "Read-only file system";
    case "EMFILE":
      return "Too many open files";
    case "ELOOP":
      return "Too many levels of symbolic links";
    case "ENAMETOOLONG":
      return "File name too long";
    case "EEXIST":
      return "File exists";
    case "EINVAL":
      return "Invalid argument";
    case "ENXIO":
      return "No such device or address";
    case "EINTR":
      return "Interrupted system call";
    case "EFAULT":
      return "Bad address";
    case "EXDEV":
      return "Invalid cross-device link";
    case "ENODEV":
      return "No such device";
    case "EMLINK":
      return "Too many links";
    case "ENOTEMPTY":
      return "Directory not empty";
    case "EOPNOTSUPP":
      return "Operation not supported";
    case "ETIMEDOUT":
      return "Connection timed out";
    case "ESTALE":
      return "Stale file handle";
    case "EUCLEAN":
      return "Structure needs cleaning";
    case "EDQUOT":
      return "Disk quota exceeded";
    case "ENOTCONN":
      return "Transport endpoint is not connected";
    case "ESHUTDOWN":
      return "Cannot send after transport endpoint shutdown";
    case "ENOTSUP":
      return "Operation not supported";
    case "EILSEQ":
      return "Invalid or incomplete multibyte or wide character";
    case "EBADF":
      return "Bad file descriptor";
    case "EBUSY":
      return "Device or resource busy";
    case "ENOMEM":
      return "Cannot allocate memory";
    case "EAGAIN":
      return "Resource temporarily unavailable";
    case "EFBIG":
      return "File too large";
    case "EOVERFLOW":
      return "Value too large for defined data type";
  }
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message === "string" && message !== "") return message;
  return String(error);
}

/**
 * A system error whose phrase says more than strerror would: `detail` is what
 * {@link describeSystemError} gives (e.g. "a symbolic link is where a folder is needed: …"),
 * `code` what programs test.
 */
export function explainedError(code: string, detail: string, path?: string): Error & { code: string; detail: string; path?: string } {
  return Object.assign(new Error(detail), { code, detail, ...(path === undefined ? {} : { path }) });
}

/** errno numbers (Linux) by code, for messages that print them and for passing errors between threads. */
export const ERRNO: Record<string, number> = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EMFILE: 24,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ENAMETOOLONG: 36,
  ENOTEMPTY: 39,
  ELOOP: 40,
  EILSEQ: 84,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETIMEDOUT: 110,
  ESTALE: 116,
  EUCLEAN: 117,
  EDQUOT: 122,
};

/** The code of an errno number (inverse of {@link ERRNO}). */
export function errnoCode(errno: number): string | undefined {
  return Object.keys(ERRNO).find((code) => ERRNO[code] === errno);
}

/**
 * The errno number of a system error, to hand it to another thread: by its code, else the
 * number the error carries (Node's are negative), else EIO.
 */
export function errnoOf(error: unknown): number {
  const { code, errno } = (error ?? {}) as { code?: string; errno?: number };
  return (code ? ERRNO[code] : undefined) ?? (typeof errno === "number" && errno !== 0 ? Math.abs(errno) : ERRNO.EIO!);
}

/**
 * The error for an errno number (from another thread, or from a C call): its code when it has
 * a name here, so that {@link describeSystemError} gives strerror's phrase, and otherwise a
 * message with the number rather than a guess.
 */
export function errnoError(errno: number, message = "system error", path?: string): Error & { code?: string; errno: number } {
  return Object.assign(new Error(`${message} (errno ${errno})`), { code: errnoCode(errno), errno, path });
}

/**
 * The message Rust's `std::io::Error` prints for a system error (b3sum's wording),
 * e.g. "No such file or directory (os error 2)".
 */
export function describeAsRustIoError(error: unknown): string {
  const code = (error as { code?: string } | null)?.code;
  const errno = code ? ERRNO[code] : undefined;
  return errno === undefined ? describeSystemError(error) : `${describeSystemError(error)} (os error ${errno})`;
}
