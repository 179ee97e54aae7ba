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
  const known = code !== undefined && Object.hasOwn(SYSTEM_ERRORS, code) ? SYSTEM_ERRORS[code] : undefined;
  if (known) return known[1];
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

/** Linux's errno numbers and strerror(3) phrases, by code. */
const SYSTEM_ERRORS: Record<string, readonly [number, string]> = {
  EPERM: [1, "Operation not permitted"],
  ENOENT: [2, "No such file or directory"],
  ESRCH: [3, "No such process"],
  EINTR: [4, "Interrupted system call"],
  EIO: [5, "Input/output error"],
  ENXIO: [6, "No such device or address"],
  E2BIG: [7, "Argument list too long"],
  ENOEXEC: [8, "Exec format error"],
  EBADF: [9, "Bad file descriptor"],
  ECHILD: [10, "No child processes"],
  EAGAIN: [11, "Resource temporarily unavailable"],
  ENOMEM: [12, "Cannot allocate memory"],
  EACCES: [13, "Permission denied"],
  EFAULT: [14, "Bad address"],
  ENOTBLK: [15, "Block device required"],
  EBUSY: [16, "Device or resource busy"],
  EEXIST: [17, "File exists"],
  EXDEV: [18, "Invalid cross-device link"],
  ENODEV: [19, "No such device"],
  ENOTDIR: [20, "Not a directory"],
  EISDIR: [21, "Is a directory"],
  EINVAL: [22, "Invalid argument"],
  ENFILE: [23, "Too many open files in system"],
  EMFILE: [24, "Too many open files"],
  ENOTTY: [25, "Inappropriate ioctl for device"],
  ETXTBSY: [26, "Text file busy"],
  EFBIG: [27, "File too large"],
  ENOSPC: [28, "No space left on device"],
  ESPIPE: [29, "Illegal seek"],
  EROFS: [30, "Read-only file system"],
  EMLINK: [31, "Too many links"],
  EPIPE: [32, "Broken pipe"],
  EDOM: [33, "Numerical argument out of domain"],
  ERANGE: [34, "Numerical result out of range"],
  EDEADLK: [35, "Resource deadlock avoided"],
  ENAMETOOLONG: [36, "File name too long"],
  ENOLCK: [37, "No locks available"],
  ENOSYS: [38, "Function not implemented"],
  ENOTEMPTY: [39, "Directory not empty"],
  ELOOP: [40, "Too many levels of symbolic links"],
  ENOMSG: [42, "No message of desired type"],
  EIDRM: [43, "Identifier removed"],
  ECHRNG: [44, "Channel number out of range"],
  EL2NSYNC: [45, "Level 2 not synchronized"],
  EL3HLT: [46, "Level 3 halted"],
  EL3RST: [47, "Level 3 reset"],
  ELNRNG: [48, "Link number out of range"],
  EUNATCH: [49, "Protocol driver not attached"],
  ENOCSI: [50, "No CSI structure available"],
  EL2HLT: [51, "Level 2 halted"],
  EBADE: [52, "Invalid exchange"],
  EBADR: [53, "Invalid request descriptor"],
  EXFULL: [54, "Exchange full"],
  ENOANO: [55, "No anode"],
  EBADRQC: [56, "Invalid request code"],
  EBADSLT: [57, "Invalid slot"],
  EBFONT: [59, "Bad font file format"],
  ENOSTR: [60, "Device not a stream"],
  ENODATA: [61, "No data available"],
  ETIME: [62, "Timer expired"],
  ENOSR: [63, "Out of streams resources"],
  ENONET: [64, "Machine is not on the network"],
  ENOPKG: [65, "Package not installed"],
  EREMOTE: [66, "Object is remote"],
  ENOLINK: [67, "Link has been severed"],
  EADV: [68, "Advertise error"],
  ESRMNT: [69, "Srmount error"],
  ECOMM: [70, "Communication error on send"],
  EPROTO: [71, "Protocol error"],
  EMULTIHOP: [72, "Multihop attempted"],
  EDOTDOT: [73, "RFS specific error"],
  EBADMSG: [74, "Bad message"],
  EOVERFLOW: [75, "Value too large for defined data type"],
  ENOTUNIQ: [76, "Name not unique on network"],
  EBADFD: [77, "File descriptor in bad state"],
  EREMCHG: [78, "Remote address changed"],
  ELIBACC: [79, "Can not access a needed shared library"],
  ELIBBAD: [80, "Accessing a corrupted shared library"],
  ELIBSCN: [81, ".lib section in a.out corrupted"],
  ELIBMAX: [82, "Attempting to link in too many shared libraries"],
  ELIBEXEC: [83, "Cannot exec a shared library directly"],
  EILSEQ: [84, "Invalid or incomplete multibyte or wide character"],
  ERESTART: [85, "Interrupted system call should be restarted"],
  ESTRPIPE: [86, "Streams pipe error"],
  EUSERS: [87, "Too many users"],
  ENOTSOCK: [88, "Socket operation on non-socket"],
  EDESTADDRREQ: [89, "Destination address required"],
  EMSGSIZE: [90, "Message too long"],
  EPROTOTYPE: [91, "Protocol wrong type for socket"],
  ENOPROTOOPT: [92, "Protocol not available"],
  EPROTONOSUPPORT: [93, "Protocol not supported"],
  ESOCKTNOSUPPORT: [94, "Socket type not supported"],
  EOPNOTSUPP: [95, "Operation not supported"],
  EPFNOSUPPORT: [96, "Protocol family not supported"],
  EAFNOSUPPORT: [97, "Address family not supported by protocol"],
  EADDRINUSE: [98, "Address already in use"],
  EADDRNOTAVAIL: [99, "Cannot assign requested address"],
  ENETDOWN: [100, "Network is down"],
  ENETUNREACH: [101, "Network is unreachable"],
  ENETRESET: [102, "Network dropped connection on reset"],
  ECONNABORTED: [103, "Software caused connection abort"],
  ECONNRESET: [104, "Connection reset by peer"],
  ENOBUFS: [105, "No buffer space available"],
  EISCONN: [106, "Transport endpoint is already connected"],
  ENOTCONN: [107, "Transport endpoint is not connected"],
  ESHUTDOWN: [108, "Cannot send after transport endpoint shutdown"],
  ETOOMANYREFS: [109, "Too many references: cannot splice"],
  ETIMEDOUT: [110, "Connection timed out"],
  ECONNREFUSED: [111, "Connection refused"],
  EHOSTDOWN: [112, "Host is down"],
  EHOSTUNREACH: [113, "No route to host"],
  EALREADY: [114, "Operation already in progress"],
  EINPROGRESS: [115, "Operation now in progress"],
  ESTALE: [116, "Stale file handle"],
  EUCLEAN: [117, "Structure needs cleaning"],
  ENOTNAM: [118, "Not a XENIX named type file"],
  ENAVAIL: [119, "No XENIX semaphores available"],
  EISNAM: [120, "Is a named type file"],
  EREMOTEIO: [121, "Remote I/O error"],
  EDQUOT: [122, "Disk quota exceeded"],
  ENOMEDIUM: [123, "No medium found"],
  EMEDIUMTYPE: [124, "Wrong medium type"],
  ECANCELED: [125, "Operation canceled"],
  ENOKEY: [126, "Required key not available"],
  EKEYEXPIRED: [127, "Key has expired"],
  EKEYREVOKED: [128, "Key has been revoked"],
  EKEYREJECTED: [129, "Key was rejected by service"],
  EOWNERDEAD: [130, "Owner died"],
  ENOTRECOVERABLE: [131, "State not recoverable"],
  ERFKILL: [132, "Operation not possible due to RF-kill"],
  EHWPOISON: [133, "Memory page has hardware error"],
};

/** errno numbers (Linux) by code, for messages that print them and for passing errors between threads. */
export const ERRNO: Record<string, number> = Object.fromEntries(Object.entries(SYSTEM_ERRORS).map(([code, [errno]]) => [code, errno]));

/** ENOTSUP is EOPNOTSUPP's other name on Linux (the same number): its phrase, not a second number. */
SYSTEM_ERRORS.ENOTSUP = SYSTEM_ERRORS.EOPNOTSUPP!;

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
  return (code && Object.hasOwn(ERRNO, code) ? ERRNO[code] : undefined) ?? (typeof errno === "number" && errno !== 0 ? Math.abs(errno) : ERRNO.EIO!);
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
  const errno = code && Object.hasOwn(ERRNO, code) ? ERRNO[code] : undefined;
  return errno === undefined ? describeSystemError(error) : `${describeSystemError(error)} (os error ${errno})`;
}
