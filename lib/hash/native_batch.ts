/**
 * Small files in XXH formats hashed in runs, in native code: one call opens, reads, hashes and
 * closes every file of a run in one folder. The per-file path makes four calls out of
 * JavaScript per file (open, fstat, read, hash) and a close, and on a tree of 32 KiB files
 * those cost more than the hashing (BENCHMARKS.md, "Small files in native runs").
 *
 * The loop is C compiled at start-up by the compiler Bun carries (bun:ffi `cc`), and it calls
 * the XXH functions of the xxhash-addon library the per-file engine has loaded; before first
 * use, each format's function is checked against that engine on a sample. Linux only (the loop
 * uses `statx`). A file the loop does not hash (it is a link, not a regular file, 4 MiB or
 * more, unreadable, or it grew while read) is left to the per-file path, which opens it again
 * and says what is wrong as it always has: this only ever makes a file faster, never different.
 * Anything that cannot be set up (no compiler, no library) leaves every file to the per-file
 * path, said with CARTKIT_DEBUG=1; CARTKIT_NATIVE_RUNS=0 turns it off.
 */
import type { Pointer } from "bun:ffi";
import { getSystemErrorMessage, getSystemErrorName } from "node:util";
import { compileNative } from "../core/native_code.ts";
import { cString, type HeldFolder, READ_NO_LINK } from "../io/held_folder.ts";
import { reportThreadFallback } from "../thread/fallback.ts";
import type { Algorithm } from "./algorithms.ts";
import type { HashFileOptions } from "./file.ts";
import { failedResult, type HashJobResult } from "./pool.ts";
import type { Hasher } from "./hasher.ts";
import { createHasher } from "./registry.ts";

/** The variable that turns native runs off (`0`), to compare against the per-file path. */
export const NATIVE_RUNS_VARIABLE = "CARTKIT_NATIVE_RUNS";

/** Files in one call at most. */
export const RUN_FILES = 256;

/**
 * Runs are set up for this many files or more: setting them up (compiling the loop, checking
 * it) costs about 10 ms, what a few files take the per-file path.
 */
export const RUNS_FROM_FILES = 16;

/**
 * How long a run goes on before it stops, after the file it is on: Ctrl-C and SIGTERM are
 * handled between runs, so on a slow or failing card a run must not hold them for long (the
 * per-file path gives them a turn as often).
 */
const RUN_NANOSECONDS = 25_000_000n;

/** Files smaller than this are read whole into one buffer and hashed in a run; larger ones are left to the per-file path (read in chunks). */
export const RUN_FILE_BYTES = 4 << 20;

/** How the C loop calls each format: its `kind`, the library's function, and the digest's hex length. */
const FORMATS: Partial<Record<Algorithm, { kind: number; symbols: string[]; hexLength: number }>> = {
  xxh32: { kind: 0, symbols: ["XXH32"], hexLength: 8 },
  xxh64: { kind: 1, symbols: ["XXH64"], hexLength: 16 },
  // The dispatching variants pick AVX2 or AVX-512 where the processor has them (x86-64 builds).
  xxh3: { kind: 2, symbols: ["XXH3_64bits_dispatch", "XXH3_64bits"], hexLength: 16 },
  xxh128: { kind: 3, symbols: ["XXH3_128bits_dispatch", "XXH3_128bits"], hexLength: 32 },
};

/**
 * The loop. No header is included: a cart machine has no C library headers, only the compiler
 * inside Bun. Per file it writes `status` (0: hashed; 1: left to the caller) and the size into
 * `out`, and the digest as lower-case hex into `hex` (32 characters a file).
 */
const SOURCE = `
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned long usize;
typedef struct { u64 low64; u64 high64; } h128;
extern int openat(int dirfd, const char *path, int flags, ...);
extern long pread(int fd, void *buffer, usize count, long offset);
extern int close(int fd);
extern int *__errno_location(void);
extern int statx(int dirfd, const char *path, int flags, unsigned int mask, void *buffer);

extern int dl_iterate_phdr(int (*visit)(void *info, usize size, void *data), void *data);
extern void *dlopen(const char *file, int mode);
extern void *dlsym(void *handle, const char *symbol);
extern int dlclose(void *handle);

static const char DIGITS[] = "0123456789abcdef";

struct lookup { const char *symbol; void *found; };

/* struct dl_phdr_info: dlpi_name (a pointer) after dlpi_addr. */
static int visit(void *info, usize size, void *data) {
  struct lookup *lookup = (struct lookup *)data;
  const char *name = ((const char **)info)[1];
  int length = 0;
  if (!name) return 0;
  while (name[length]) length++;
  /* Only a Node-API library: the one the per-file engine loaded. */
  if (length < 5 || name[length - 5] != '.' || name[length - 4] != 'n' || name[length - 3] != 'o' || name[length - 2] != 'd' || name[length - 1] != 'e') return 0;
  /* RTLD_LAZY | RTLD_NOLOAD: a library already loaded, by the name it was loaded by. */
  void *handle = dlopen(name, 1 | 4);
  if (!handle) return 0;
  void *symbol = dlsym(handle, lookup->symbol);
  dlclose(handle);
  if (!symbol) return 0;
  lookup->found = symbol;
  return 1;
}

void *find_function(const char *symbol) {
  struct lookup lookup;
  lookup.symbol = symbol;
  lookup.found = 0;
  dl_iterate_phdr(visit, &lookup);
  return lookup.found;
}

static void hex_of(char *out, u64 value, int digits) {
  for (int i = digits - 1; i >= 0; i--) {
    out[i] = DIGITS[value & 15];
    value >>= 4;
  }
}

void hash_bytes(void *fn, int kind, const unsigned char *data, long length, char *h) {
  if (kind == 0) {
    hex_of(h, ((u32 (*)(const void *, usize, u32))fn)(data, (usize)length, 0), 8);
  } else if (kind == 1) {
    hex_of(h, ((u64 (*)(const void *, usize, u64))fn)(data, (usize)length, 0), 16);
  } else if (kind == 2) {
    hex_of(h, ((u64 (*)(const void *, usize))fn)(data, (usize)length), 16);
  } else {
    h128 value = ((h128 (*)(const void *, usize))fn)(data, (usize)length);
    hex_of(h, value.high64, 16);
    hex_of(h + 16, value.low64, 16);
  }
}

/* Each of count pieces of data, one after another (piece i ends at ends[i]), hashed on its own. */
void hash_pieces(void *fn, int kind, const unsigned char *data, const unsigned int *ends, int count, char *hex) {
  unsigned int start = 0;
  for (int i = 0; i < count; i++) {
    hash_bytes(fn, kind, data + start, (long)(ends[i] - start), hex + 32 * i);
    start = ends[i];
  }
}

struct timespec_ { long seconds; long nanoseconds; };
extern int clock_gettime(int clock, struct timespec_ *now);

static long long nanoseconds(void) {
  struct timespec_ now;
  clock_gettime(1 /* CLOCK_MONOTONIC */, &now);
  return (long long)now.seconds * 1000000000LL + now.nanoseconds;
}

/* Returns how many of the files it came to: it stops after one once budget_ns have passed. */
int hash_run(int dirfd, const char *names, int count, int flags, unsigned char *buffer, long capacity, void *fn, int kind, u64 *out, char *hex, long long budget_ns) {
  const char *name = names;
  long long started = nanoseconds();
  int i = 0;
  for (; i < count; i++) {
    if (i > 0 && nanoseconds() - started > budget_ns) break;
    const char *this_name = name;
    while (*name) name++;
    name++;
    u64 *slot = out + 2 * i;
    slot[0] = 1;
    slot[1] = 0;
    int fd = openat(dirfd, this_name, flags);
    if (fd < 0) continue;
    /* struct statx: stx_mask (u32) at 0, stx_mode (u16) at 28, stx_size (u64) at 40; AT_EMPTY_PATH,
       STATX_TYPE | STATX_SIZE, both of which must be given: the size says when the file is read. */
    u64 sx[32];
    if (statx(fd, "", 0x1000, 0x201, sx) != 0 || (((u32 *)sx)[0] & 0x201) != 0x201 || (((unsigned short *)sx)[14] & 0170000) != 0100000 || sx[5] >= (u64)capacity) {
      close(fd);
      continue;
    }
    long expected = (long)sx[5];
    long total = 0;
    int whole = 1;
    int failed = 0;
    for (;;) {
      long n = pread(fd, buffer + total, (usize)(capacity - total), total);
      /* A read that failed is not read again by the caller (on a failing card each try pays the
         kernel's retries), except when interrupted or told to try again. */
      if (n < 0) {
        int e = *__errno_location();
        if (e != 4 && e != 11) failed = e;
        whole = 0;
        break;
      }
      if (n == 0) break;
      total += n;
      /* Grown to the buffer's size while read: the per-file path reads it in chunks. */
      if (total >= capacity) { whole = 0; break; }
      /* A short read once the size fstat gave is read: that is the end, with no read to learn it. */
      if (total >= expected) break;
    }
    close(fd);
    if (failed) {
      slot[0] = 2;
      slot[1] = (u64)failed;
    }
    if (!whole) continue;
    hash_bytes(fn, kind, buffer, total, hex + 32 * i);
    slot[0] = 0;
    slot[1] = (u64)total;
  }
  return i;
}
`;

/**
 * What the loop gave for one file: its digest and size, the error its read failed with (not
 * read again), or undefined (left to the per-file path).
 */
export type RunResult = { hex: string; size: number } | { error: Error } | undefined;

/** A failed read as the per-file path's `readSync` gives it (`EIO: i/o error, read`): the same result, the same words. */
function readError(errno: number): Error {
  const code = getSystemErrorName(-errno);
  return Object.assign(new Error(`${code}: ${getSystemErrorMessage(-errno)}, read`), { code, errno: -errno, syscall: "read" });
}

/** Hashes runs of files in one format. */
export interface NativeRuns {
  readonly algorithm: Algorithm;
  /**
   * Hashes the files `names` (each a name's bytes with a NUL at the end, no `/`) beneath the
   * folder `dirfd`, opened with `flags` (read-only, never following a link, non-blocking).
   * At most {@link RUN_FILES} names. The run stops after {@link RUN_NANOSECONDS} (a slow card,
   * a failing one): the results are of the first files, as many as it came to.
   */
  hash(dirfd: number, names: readonly Uint8Array[], flags: number): RunResult[];
}

type HashRun = (dirfd: number, names: Uint8Array, count: number, flags: number, buffer: Uint8Array, capacity: number, fn: Pointer, kind: number, out: BigUint64Array, hex: Uint8Array, budgetNs: bigint) => number;
type HashBytes = (fn: Pointer, kind: number, data: Uint8Array, length: number, hex: Uint8Array) => void;
type FindFunction = (symbol: Uint8Array) => Pointer | null;
type HashPieces = (fn: Pointer, kind: number, data: Uint8Array, ends: Uint32Array, count: number, hex: Uint8Array) => void;

interface Compiled {
  hashRun: HashRun;
  hashBytes: HashBytes;
  hashPieces: HashPieces;
  findFunction: FindFunction;
}

let compiled: Compiled | null | undefined;

/** Compiles {@link SOURCE} from a memory file (nothing is written to disk); null where it cannot be. */
function compile(): Compiled | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  if (process.env[NATIVE_RUNS_VARIABLE] === "0" || process.platform !== "linux") return compiled;
  try {
    const { symbols } = compileNative("cartkit-native-runs", SOURCE, {
      hash_run: { args: ["i32", "ptr", "i32", "i32", "ptr", "i64", "ptr", "i32", "ptr", "ptr", "i64"], returns: "i32" },
      hash_bytes: { args: ["ptr", "i32", "ptr", "i64", "ptr"], returns: "void" },
      hash_pieces: { args: ["ptr", "i32", "ptr", "ptr", "i32", "ptr"], returns: "void" },
      find_function: { args: ["ptr"], returns: "ptr" },
    });
    compiled = {
      hashRun: symbols.hash_run as unknown as HashRun,
      hashBytes: symbols.hash_bytes as unknown as HashBytes,
      hashPieces: symbols.hash_pieces as unknown as HashPieces,
      findFunction: symbols.find_function as unknown as FindFunction,
    };
  } catch (error) {
    reportThreadFallback(`small files are hashed one at a time: native runs could not be set up (${(error as Error)?.message ?? error})`);
  }
  return compiled;
}

/** A sample every format's function is checked on against the per-file engine: long enough for XXH3's block loop. */
const SAMPLE = (() => {
  const bytes = new Uint8Array(5000);
  let x = 0x9e3779b9;
  for (let i = 0; i < bytes.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
})();

/** Each format's function, checked (null: not found, or it disagreed with the per-file engine). */
const functions = new Map<Algorithm, Pointer | null>();

/** The function of `algorithm` in the library the per-file engine loaded, checked on {@link SAMPLE}; null where there is none. */
async function checkedFunction(algorithm: Algorithm, native: Compiled): Promise<Pointer | null> {
  const known = functions.get(algorithm);
  if (known !== undefined) return known;
  functions.set(algorithm, null);
  const format = FORMATS[algorithm]!;
  let reference: Hasher;
  try {
    // Loads the library, and gives the digest to agree with.
    reference = await createHasher(algorithm, { engine: "native" });
  } catch (error) {
    reportThreadFallback(`small files are hashed one at a time: the native ${algorithm} engine did not load (${(error as Error)?.message ?? error})`);
    return null;
  }
  reference.update(SAMPLE);
  const expected = reference.hex();
  for (const symbol of format.symbols) {
    const fn = native.findFunction(Buffer.from(`${symbol}\0`));
    if (!fn) continue;
    const hex = new Uint8Array(32);
    native.hashBytes(fn, format.kind, SAMPLE, SAMPLE.length, hex);
    const got = new TextDecoder().decode(hex.subarray(0, format.hexLength));
    if (got !== expected) {
      reportThreadFallback(`small files are hashed one at a time: the native ${symbol} gave ${got} where the engine gives ${expected}`);
      return null;
    }
    functions.set(algorithm, fn);
    return fn;
  }
  reportThreadFallback(`small files are hashed one at a time: no native ${format.symbols.join(" or ")} was found`);
  return null;
}

/**
 * Native runs for `algorithms` hashed with `options`, or undefined: more than one format, a
 * format other than XXH, an engine other than the native one, reading options (chunk size, a
 * reader thread), another system, or no compiler. `budgetNs`: how long a run goes on before it
 * stops ({@link RUN_NANOSECONDS}).
 * @example
 * const runs = await nativeRuns(["xxh128"], {});
 * // runs?.hash(folderFd, [nameBytes], READ_NO_LINK)
 */
export async function nativeRuns(algorithms: readonly Algorithm[], options: HashFileOptions, budgetNs: bigint = RUN_NANOSECONDS): Promise<NativeRuns | undefined> {
  if (algorithms.length !== 1) return undefined;
  const algorithm = algorithms[0]!;
  const format = FORMATS[algorithm];
  if (!format) return undefined;
  if ((options.engine ?? "auto") !== "auto" && options.engine !== "native") return undefined;
  if (options.chunkSize !== undefined || options.overlap === true) return undefined;
  const native = compile();
  if (!native) return undefined;
  const fn = await checkedFunction(algorithm, native);
  if (!fn) return undefined;
  const buffer = new Uint8Array(RUN_FILE_BYTES);
  const out = new BigUint64Array(2 * RUN_FILES);
  const hex = new Uint8Array(32 * RUN_FILES);
  return {
    algorithm,
    hash(dirfd, names, flags) {
      if (names.length > RUN_FILES) throw new RangeError(`at most ${RUN_FILES} files in a run`);
      let length = 0;
      for (const name of names) length += name.length;
      const packed = new Uint8Array(length);
      let at = 0;
      for (const name of names) {
        packed.set(name, at);
        at += name.length;
      }
      const reached = native.hashRun(dirfd, packed, names.length, flags, buffer, buffer.length, fn, format.kind, out, hex, budgetNs);
      return printedDigests(hex, reached, format.hexLength).map((digest, i) => {
        const status = out[2 * i];
        if (status === 0n) return { hex: digest, size: Number(out[2 * i + 1]) };
        return status === 2n ? { error: readError(Number(out[2 * i + 1])) } : undefined;
      });
    },
  };
}

const LATIN1 = new TextDecoder("latin1");

/** The first `count` digests the loop wrote as hex into `hex` (32 characters a slot), each `hexLength` long. */
function printedDigests(hex: Uint8Array, count: number, hexLength: number): string[] {
  const text = LATIN1.decode(hex.subarray(0, 32 * count));
  const out: string[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = text.slice(32 * i, 32 * i + hexLength);
  return out;
}

/** Most pieces in one {@link PieceHasher} call. */
export const PIECES = 1024;

/**
 * Hashes pieces of bytes laid one after another in `data` (piece i ends at `ends[i]`), each
 * on its own, in one call: the printed digests, in order. At most {@link PIECES} pieces.
 */
export type PieceHasher = (data: Uint8Array, ends: Uint32Array, count: number) => string[];

const pieceHashers = new Map<Algorithm, PieceHasher | null>();

/**
 * Makes {@link piecesNow} answer for `algorithm` (an XXH format): compiles the loop and checks
 * the format's function as {@link nativeRuns} does. False where it cannot (another format, no
 * compiler, runs turned off); then digests are made the usual way.
 */
export async function preparePieces(algorithm: Algorithm): Promise<boolean> {
  const known = pieceHashers.get(algorithm);
  if (known !== undefined) return known !== null;
  const format = FORMATS[algorithm];
  const native = format ? compile() : null;
  const fn = native ? await checkedFunction(algorithm, native) : null;
  if (!format || !native || !fn) {
    pieceHashers.set(algorithm, null);
    return false;
  }
  const hex = new Uint8Array(32 * PIECES);
  pieceHashers.set(algorithm, (data, ends, count) => {
    if (count > PIECES) throw new RangeError(`at most ${PIECES} pieces in a call`);
    native.hashPieces(fn, format.kind, data, ends, count, hex);
    return printedDigests(hex, count, format.hexLength);
  });
  return true;
}

/** The piece hasher of `algorithm` once {@link preparePieces} made it; undefined before, or where there is none. */
export function piecesNow(algorithm: Algorithm): PieceHasher | undefined {
  return pieceHashers.get(algorithm) ?? undefined;
}

/** A file's digest from a run as {@link hashInOrder} takes it: work already done. */
export function runWork(algorithm: Algorithm, run: NonNullable<RunResult>): { done: HashJobResult } {
  if ("error" in run) return { done: failedResult(-1, run.error) };
  return { done: { id: -1, ok: true, hexes: [[algorithm, run.hex]], size: run.size } };
}

/** Where a file found by a walk is: the folder held open, its path relative to it, its size when known. */
export interface Beneath {
  folder: HeldFolder;
  relative: string;
  size?: number;
}

/**
 * Hashes the files of a list in native runs ahead of the per-file path: asked for an item, it
 * hashes that item and the files after it in the same folder in one run, and keeps their
 * results until they are asked for. Items are asked for in the list's order; one passed over
 * (the caller hashed it another way, or not at all) is dropped. The list is the object's: it
 * lets go of each item once past it.
 */
export class RunsAhead<T> {
  readonly #items: Array<T | undefined>;
  readonly #runs: NativeRuns;
  readonly #locate: (item: T) => Beneath | undefined;
  /** The next item of the list not yet in a run. */
  #at = 0;
  /** The current run's items and results, and the next one to be asked for. */
  #members: T[] = [];
  #results: RunResult[] = [];
  #next = 0;

  /**
   * @param locate where an item is, or undefined when it is not for a run (the per-file path
   *   hashes it).
   */
  constructor(items: Array<T | undefined>, runs: NativeRuns, locate: (item: T) => Beneath | undefined) {
    this.#items = items;
    this.#runs = runs;
    this.#locate = locate;
  }

  /** `item`'s digest and size when a run hashed it; undefined: the per-file path hashes it. */
  take(item: T): RunResult {
    while (this.#next < this.#members.length) {
      const member = this.#members[this.#next];
      const result = this.#results[this.#next];
      this.#next++;
      if (member === item) return result;
    }
    let found = this.#at;
    while (found < this.#items.length && this.#items[found] !== item) found++;
    if (found >= this.#items.length) return undefined;
    for (; this.#at < found; this.#at++) this.#items[this.#at] = undefined;
    this.#run();
    if (this.#members.length === 0) {
      this.#items[this.#at++] = undefined;
      return undefined;
    }
    return this.take(item);
  }

  /** Hashes the run that starts at {@link #at} (none: the item there is for the per-file path). */
  #run(): void {
    this.#members = [];
    this.#results = [];
    this.#next = 0;
    const first = this.#locate(this.#items[this.#at]!);
    if (!first?.folder.byDescriptor) return;
    const slash = first.relative.lastIndexOf("/");
    const parent = slash < 0 ? "" : first.relative.slice(0, slash);
    let dirfd: number;
    try {
      dirfd = first.folder.folderFd(parent);
    } catch {
      return;
    }
    const members: T[] = [];
    const names: Uint8Array[] = [];
    for (let i = this.#at; i < this.#items.length && members.length < RUN_FILES; i++) {
      const item = this.#items[i]!;
      const where = i === this.#at ? first : this.#locate(item);
      if (!where || where.folder !== first.folder) break;
      const cut = where.relative.lastIndexOf("/");
      if (cut !== slash || (cut >= 0 && !where.relative.startsWith(parent))) break;
      const leaf = where.relative.slice(cut + 1);
      if (leaf === "" || leaf === "." || leaf === ".." || (where.size ?? 0) >= RUN_FILE_BYTES) break;
      members.push(item);
      names.push(cString(leaf));
    }
    if (members.length === 0) return;
    // A run cut short by time leaves the files it did not come to for the next run.
    this.#results = this.#runs.hash(dirfd, names, READ_NO_LINK);
    const reached = this.#results.length;
    this.#members = members.slice(0, reached);
    for (let i = 0; i < reached; i++) this.#items[this.#at + i] = undefined;
    this.#at += reached;
  }
}
