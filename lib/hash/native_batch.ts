/**
 * Small files hashed in runs, in native code: one call opens, reads and closes every file of a
 * run in one folder. The per-file path makes four calls out of JavaScript per file (open,
 * fstat, read, hash) and a close, and on a tree of 32 KiB files those cost more than the
 * hashing (BENCHMARKS.md, "Small files in native runs").
 *
 * XXH formats are hashed inside the loop too, on as many threads as the caller gives it: it
 * calls the XXH functions of the xxhash-addon library the per-file engine has loaded; before
 * first use, each format's function is checked against that engine on a sample. BLAKE3 has no
 * function C can call, so its runs only read: the files land in one buffer, and each is hashed
 * here by the engine the per-file path uses. With more than one thread, the next run is read
 * on a thread of its own while this one is hashed.
 *
 * The loops are C compiled at start-up by the compiler Bun carries (bun:ffi `cc`). Linux only
 * (they use `statx`). A file a run does not hash (it is a link, not a regular file, too large,
 * or it grew while read) is left to the per-file path, which opens it again and says what is
 * wrong as it always has; a file whose read fails is reported in that path's words, and not
 * read again. Each file is read to a read that gives nothing, as the per-file path reads it.
 * Anything that cannot be set up (no compiler, no library) leaves every file to the per-file
 * path, said with CARTKIT_DEBUG=1; CARTKIT_NATIVE_RUNS=0 turns it off.
 */
import type { Pointer } from "bun:ffi";
import { availableParallelism } from "node:os";
import { getSystemErrorMessage, getSystemErrorName } from "node:util";
import { errnoCode } from "../core/errors.ts";
import { compiledOnce } from "../core/native_code.ts";
import { cString, type HeldFolder, READ_NO_LINK } from "../io/held_folder.ts";
import { reportThreadFallback } from "../thread/fallback.ts";
import type { Algorithm } from "./algorithms.ts";
import type { HashFileOptions } from "./file.ts";
import { failedResult, type HashJobResult } from "./pool.ts";
import type { Hasher } from "./hasher.ts";
import { nativeOneCall } from "./engines/native.ts";
import { createHasher, createHasherNow } from "./registry.ts";

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

/** Most threads one run is hashed on (the C loop's MOST_THREADS). */
const MOST_THREADS = 16;

/**
 * Threads a run is hashed on when `--jobs` is not given: the cores, up to this many. Two
 * threads overlap one file's open, read and close in the kernel with another's; past a few, the
 * folder's files come faster than a run's start-up pays for.
 */
const DEFAULT_RUN_THREADS = 4;

/**
 * How many threads a run is hashed on: `jobs` when given (`--jobs`), up to twice the cores
 * (each run starts its helpers, and past that they only add their start: `mhl-verify create
 * --jobs 8` on 2 cores took 0.56 s against 0.52 s for `--jobs 1`); else the cores, at most
 * {@link DEFAULT_RUN_THREADS}.
 */
export function runThreads(jobs: number | undefined): number {
  if (jobs !== undefined) return Math.max(1, Math.min(MOST_THREADS, 2 * availableParallelism(), Math.floor(jobs)));
  return Math.max(1, Math.min(DEFAULT_RUN_THREADS, availableParallelism()));
}

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
 * inside Bun. Per file a run writes `status` (0: hashed; 1: left to the caller; 2: its read
 * failed; 3: left to the caller, too large) and the size or the errno into `out`, and the
 * digest as lower-case hex into `hex` (32 characters a file).
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

/* One run, shared by the threads that hash it. Files are claimed in order under the lock, so
   the files claimed are always the first ones, and each claimed file is finished before the
   run returns. */
struct run {
  int dirfd;
  const char **names;
  int count;
  int flags;
  unsigned char *buffers;
  long capacity;
  void *fn;
  int kind;
  u64 *out;
  char *hex;
  long long deadline;
  int next;
  u64 lock[8]; /* a pthread_mutex_t (40 bytes), all zeros: PTHREAD_MUTEX_INITIALIZER */
};

extern int pthread_mutex_lock(void *mutex);
extern int pthread_mutex_unlock(void *mutex);
extern int pthread_create(void *thread, const void *attributes, void *(*start)(void *), void *argument);
extern int pthread_join(unsigned long thread, void **result);

/* Where each of \`count\` names laid one after another, each with its NUL, starts. */
static void split_names(const char *names, int count, const char **starts) {
  for (int i = 0; i < count; i++) {
    starts[i] = names;
    while (*names) names++;
    names++;
  }
}

/* The next file to hash, or -1: none left, or the time is up (the first file is always taken). */
static int claim(struct run *run) {
  int i = -1;
  pthread_mutex_lock(run->lock);
  if (run->next < run->count && (run->next == 0 || nanoseconds() < run->deadline)) i = run->next++;
  pthread_mutex_unlock(run->lock);
  return i;
}

/* Opens the file \`name\` beneath \`dirfd\` and learns its size (into *size): its descriptor,
   or -1 where it is left to the caller (not there, a link, not a regular file). */
static int open_regular(int dirfd, const char *name, int flags, long *size) {
  int fd = openat(dirfd, name, flags);
  if (fd < 0) return -1;
  /* struct statx: stx_mask (u32) at 0, stx_mode (u16) at 28, stx_size (u64) at 40; AT_EMPTY_PATH,
     STATX_TYPE | STATX_SIZE, both of which must be given: the size says how much room to give it. */
  u64 sx[32];
  if (statx(fd, "", 0x1000, 0x201, sx) != 0 || (((u32 *)sx)[0] & 0x201) != 0x201 || (((unsigned short *)sx)[14] & 0170000) != 0100000 || sx[5] > 0x7fffffffffffLL) {
    close(fd);
    return -1;
  }
  *size = (long)sx[5];
  return fd;
}

/* Reads the open file \`fd\` whole into \`buffer\` (\`room\` bytes), and closes it. Returns 0
   (read: its size in *size), 1 (left to the caller: grown to \`room\` while read, or its read
   was interrupted) or 2 (its read failed, with *failed the errno). */
static int read_open(int fd, unsigned char *buffer, long room, long *size, int *failed) {
  long total = 0;
  int status = 0;
  for (;;) {
    long n = pread(fd, buffer + total, (usize)(room - total), total);
    /* A read that failed is not read again by the caller (on a failing card each try pays the
       kernel's retries), except when interrupted or told to try again. */
    if (n < 0) {
      int e = *__errno_location();
      status = 1;
      if (e != 4 && e != 11) {
        status = 2;
        *failed = e;
      }
      break;
    }
    if (n == 0) break;
    total += n;
    /* Grown to the room there is while read: the per-file path reads it in chunks. */
    if (total >= room) { status = 1; break; }
    /* Read on to a read that gives nothing: a short read is not the end everywhere (a FUSE file
       system with direct I/O gives what it has, and a size that says less). */
  }
  close(fd);
  *size = total;
  return status;
}

/* Reads the file \`name\` beneath \`dirfd\` whole into \`buffer\`: as read_open, or 1 where it is
   left to the caller (not there, a link, not a regular file), or 3 where it is as large as
   \`room\` or larger. */
static int read_whole(int dirfd, const char *name, int flags, unsigned char *buffer, long room, long *size, int *failed) {
  long expected = 0;
  int fd = open_regular(dirfd, name, flags, &expected);
  if (fd < 0) return 1;
  if (expected >= room) {
    close(fd);
    return 3;
  }
  /* Asked for one byte more than the size says, to learn that it grew while read; and no more:
     a file of /proc/sys refuses a larger read, and one that says it is empty but is not is
     left to the caller, which reads it to its end. */
  return read_open(fd, buffer, expected + 1, size, failed);
}

static void hash_one(struct run *run, int i, unsigned char *buffer) {
  u64 *slot = run->out + 2 * i;
  long size = 0;
  int failed = 0;
  int status = read_whole(run->dirfd, run->names[i], run->flags, buffer, run->capacity, &size, &failed);
  slot[0] = status == 3 ? 3 : 1;
  slot[1] = 0;
  if (status == 2) {
    slot[0] = 2;
    slot[1] = (u64)failed;
  }
  if (status != 0) return;
  hash_bytes(run->fn, run->kind, buffer, size, run->hex + 32 * i);
  slot[0] = 0;
  slot[1] = (u64)size;
}

struct worker { struct run *run; int index; };

static void *work(void *argument) {
  struct worker *worker = (struct worker *)argument;
  unsigned char *buffer = worker->run->buffers + (long)worker->index * worker->run->capacity;
  for (;;) {
    int i = claim(worker->run);
    if (i < 0) break;
    hash_one(worker->run, i, buffer);
  }
  return 0;
}

/* Most threads a run is hashed on. */
#define MOST_THREADS 16

/* A run and the threads that hash it: helpers started by crew_start, and the caller, which
   joins them in crew_finish with buffer 0 (\`buffers\` holds one buffer of \`capacity\` bytes a
   thread). */
struct crew {
  struct run run;
  const char *starts[256];
  struct worker workers[MOST_THREADS];
  unsigned long helpers[MOST_THREADS];
  int started;
};

static void crew_start(struct crew *crew, int dirfd, const char *names, int count, int flags, unsigned char *buffers, long capacity, void *fn, int kind, u64 *out, char *hex, long long budget_ns, int threads) {
  if (count > 256) count = 256;
  split_names(names, count, crew->starts);
  crew->run = (struct run){ .dirfd = dirfd, .names = crew->starts, .count = count, .flags = flags, .buffers = buffers, .capacity = capacity, .fn = fn, .kind = kind, .out = out, .hex = hex, .deadline = nanoseconds() + budget_ns };
  /* A helper for every few files at most: starting a thread costs what hashing a small file does. */
  if (threads > MOST_THREADS) threads = MOST_THREADS;
  if (threads > count / 4) threads = count / 4;
  crew->started = 0;
  for (int t = 1; t < threads; t++) {
    crew->workers[t].run = &crew->run;
    crew->workers[t].index = t;
    if (pthread_create(&crew->helpers[crew->started], 0, work, &crew->workers[t]) != 0) break;
    crew->started++;
  }
}

/* How many of the files the run came to, the first ones: it takes no new file once its time is up. */
static int crew_finish(struct crew *crew) {
  crew->workers[0].run = &crew->run;
  crew->workers[0].index = 0;
  work(&crew->workers[0]);
  for (int t = 0; t < crew->started; t++) pthread_join(crew->helpers[t], 0);
  return crew->run.next;
}

/* Hashes the files on up to \`threads\` threads, this one and helpers. Returns how many of the
   files it came to, the first ones: it takes no new file once budget_ns have passed. */
int hash_run(int dirfd, const char *names, int count, int flags, unsigned char *buffers, long capacity, void *fn, int kind, u64 *out, char *hex, long long budget_ns, int threads) {
  struct crew crew;
  crew_start(&crew, dirfd, names, count, flags, buffers, capacity, fn, kind, out, hex, budget_ns, threads);
  return crew_finish(&crew);
}

extern void *malloc(usize size);
extern void free(void *pointer);
extern int fcntl(int fd, int command, ...);

/* A run hashed on threads of its own (hash_start) while the caller works on the run before;
   the caller joins in when it waits for it (hash_wait). The folder is held by a descriptor of
   the run's own; names, buffers, out and hex must stay until hash_wait. */
void *hash_start(int dirfd, const char *names, int count, int flags, unsigned char *buffers, long capacity, void *fn, int kind, u64 *out, char *hex, long long budget_ns, int threads) {
  struct crew *crew = (struct crew *)malloc(sizeof(struct crew));
  if (!crew) return 0;
  /* F_DUPFD_CLOEXEC */
  int fd = fcntl(dirfd, 1030, 0);
  if (fd < 0) {
    free(crew);
    return 0;
  }
  crew_start(crew, fd, names, count, flags, buffers, capacity, fn, kind, out, hex, budget_ns, threads);
  return crew;
}

/* Hashes what hash_start's threads have not taken yet, waits for them, and lets the run go. */
int hash_wait(void *handle) {
  struct crew *crew = (struct crew *)handle;
  int reached = crew_finish(crew);
  close(crew->run.dirfd);
  free(crew);
  return reached;
}

/* Files read whole into \`data\` for a caller that hashes them itself: on a thread of their own
   while the caller hashes the files read before, and by the caller too once it is done with
   those (fill_wait). The thread takes files from the front and lays them from the start of
   \`data\`; the caller takes them from the back and lays them from the end. Per file, \`out\`
   takes three numbers: status (0: read; 1: left to the caller; 2: its read failed, errno
   next; 3: left to the caller, too large), where its bytes start in \`data\`, and its size. */
struct fill {
  int dirfd;
  const char *names[256];
  int count;
  int flags;
  unsigned char *data;
  u64 *out;
  long largest;
  long long deadline;
  /* Under the lock: the next file from the front; the files from \`back\` on are taken from
     the back; whether the time is up; the bytes taken from the start and the end. */
  int front;
  int back;
  int over;
  long low;
  long high;
  u64 lock[8];
  int threaded;
  unsigned long thread;
};

/* Reads file i, laying it at the start of the room left (from the front) or at its end. */
static void fill_one(struct fill *fill, int i, int from_front) {
  u64 *slot = fill->out + 3 * i;
  slot[0] = 1;
  slot[1] = 0;
  slot[2] = 0;
  long expected = 0;
  int fd = open_regular(fill->dirfd, fill->names[i], fill->flags, &expected);
  if (fd < 0) return;
  /* Large files are read in chunks by the per-file path. */
  if (expected >= fill->largest) {
    close(fd);
    slot[0] = 3;
    return;
  }
  /* Room for one byte more than the size says, to learn that it grew while read. */
  long room = expected + 1;
  long at = -1;
  pthread_mutex_lock(fill->lock);
  if (fill->high - fill->low >= room) {
    if (from_front) {
      at = fill->low;
      fill->low += room;
    } else {
      fill->high -= room;
      at = fill->high;
    }
  }
  /* Too large for the room left (it grew since the walk): left to the caller. */
  pthread_mutex_unlock(fill->lock);
  if (at < 0) {
    close(fd);
    return;
  }
  long size = 0;
  int failed = 0;
  int status = read_open(fd, fill->data + at, room, &size, &failed);
  slot[0] = (u64)status;
  slot[1] = (u64)at;
  slot[2] = status == 2 ? (u64)failed : (u64)size;
}

/* The next file to read from the front or the back, or -1: none left, or the time is up (the
   first file is always taken, from the front). The files no one took are left to the caller. */
static int fill_claim(struct fill *fill, int from_front) {
  int i = -1;
  pthread_mutex_lock(fill->lock);
  if (fill->front < fill->back && !fill->over) {
    if ((fill->front > 0 || !from_front) && nanoseconds() >= fill->deadline) {
      if (fill->front > 0) fill->over = 1;
    } else if (from_front) {
      i = fill->front++;
    } else {
      i = --fill->back;
    }
  }
  pthread_mutex_unlock(fill->lock);
  return i;
}

static void *fill_files(void *argument) {
  struct fill *fill = (struct fill *)argument;
  for (;;) {
    int i = fill_claim(fill, 1);
    if (i < 0) break;
    fill_one(fill, i, 1);
  }
  return 0;
}

/* Starts reading the run (on a thread of its own when \`threaded\` and one can be started,
   here otherwise). The folder is held by a descriptor of the run's own, so that the caller may
   close its own meanwhile; \`names\`, \`data\` and \`out\` must stay until fill_wait. Files of
   \`largest\` bytes or more are left to the caller. Returns 0 where it cannot start (no
   descriptor, no memory). */
void *fill_start(int dirfd, const char *names, int count, int flags, unsigned char *data, long capacity, long largest, u64 *out, long long budget_ns, int threaded) {
  struct fill *fill = (struct fill *)malloc(sizeof(struct fill));
  if (!fill) return 0;
  /* F_DUPFD_CLOEXEC */
  fill->dirfd = fcntl(dirfd, 1030, 0);
  if (fill->dirfd < 0) {
    free(fill);
    return 0;
  }
  if (count > 256) count = 256;
  split_names(names, count, fill->names);
  fill->count = count;
  fill->flags = flags;
  fill->data = data;
  fill->out = out;
  fill->largest = largest;
  fill->deadline = nanoseconds() + budget_ns;
  fill->front = 0;
  fill->back = count;
  fill->over = 0;
  /* Status 1 (left to the caller) for every file until one is taken. */
  for (int i = 0; i < count; i++) {
    out[3 * i] = 1;
    out[3 * i + 1] = 0;
    out[3 * i + 2] = 0;
  }
  fill->low = 0;
  fill->high = capacity;
  for (int i = 0; i < 8; i++) fill->lock[i] = 0;
  fill->threaded = threaded && pthread_create(&fill->thread, 0, fill_files, fill) == 0;
  if (!fill->threaded) fill_files(fill);
  return fill;
}

/* Waits for the run fill_start started, reading its files from the back meanwhile; how many
   files the run holds (those no one took before the time was up are left to the caller). */
int fill_wait(void *handle) {
  struct fill *fill = (struct fill *)handle;
  if (fill->threaded) {
    for (;;) {
      int i = fill_claim(fill, 0);
      if (i < 0) break;
      fill_one(fill, i, 0);
    }
    pthread_join(fill->thread, 0);
  }
  int reached = fill->count;
  close(fill->dirfd);
  free(fill);
  return reached;
}
`;

/**
 * What the loop gave for one file: its digest and size, the error its read failed with (not
 * read again), or undefined (left to the per-file path).
 */
export type RunResult = { hex: string; size: number } | { error: Error } | undefined;

/**
 * A failed read as the per-file path's `readSync` gives it (`EIO: i/o error, read`): the same
 * result, the same words. The runtime's fs names every Linux errno ("EUCLEAN: unknown error,
 * read", what ext4 and btrfs give for a bad checksum), where its util names only libuv's.
 */
function readError(errno: number): Error {
  const named = getSystemErrorName(-errno);
  const known = !named.startsWith("Unknown system error");
  const code = known ? named : (errnoCode(errno) ?? named);
  return Object.assign(new Error(`${code}: ${known ? getSystemErrorMessage(-errno) : "unknown error"}, read`), { code, errno: -errno, syscall: "read" });
}

/** Hashes runs of files in one format. */
export interface NativeRuns {
  readonly algorithm: Algorithm;
  /** Files of this many bytes or more are left to the per-file path: a run ends before one. */
  readonly largest: number;
  /** The most bytes of files one run holds, each counted one byte larger; unbounded where undefined. */
  readonly runBytes?: number;
  /** How many files the last run left to the per-file path because they were too large. */
  readonly largeLeft: number;
  /**
   * Hashes the files `names` (each a name's bytes with a NUL at the end, no `/`) beneath the
   * folder `dirfd`, opened with `flags` (read-only, never following a link, non-blocking).
   * At most {@link RUN_FILES} names. The run stops after {@link RUN_NANOSECONDS} (a slow card,
   * a failing one): in an XXH format, the results are of the first files, as many as it came
   * to; in BLAKE3, where two threads read a run from both ends, there is a result for each
   * file, and those it did not come to are left to the per-file path (undefined).
   */
  hash(dirfd: number, names: readonly Uint8Array[], flags: number, next?: NextRun): RunResult[];
  /** Waits for a run being read ahead, if one is: call it once done with the runs. */
  settle(): void;
}

/**
 * The run to be asked for after one, given how many of that one's files it came to: runs that
 * read ahead start reading it on a thread while this one's files are hashed. Undefined: none.
 */
export type NextRun = (reached: number) => { dirfd: number; names: readonly Uint8Array[] } | undefined;

type HashRun = (dirfd: number, names: Uint8Array, count: number, flags: number, buffers: Uint8Array, capacity: number, fn: Pointer, kind: number, out: BigUint64Array, hex: Uint8Array, budgetNs: bigint, threads: number) => number;
type HashBytes = (fn: Pointer, kind: number, data: Uint8Array, length: number, hex: Uint8Array) => void;
type FindFunction = (symbol: Uint8Array) => Pointer | null;
type HashPieces = (fn: Pointer, kind: number, data: Uint8Array, ends: Uint32Array, count: number, hex: Uint8Array) => void;

type HashStart = (dirfd: number, names: Uint8Array, count: number, flags: number, buffers: Uint8Array, capacity: number, fn: Pointer, kind: number, out: BigUint64Array, hex: Uint8Array, budgetNs: bigint, threads: number) => Pointer | null;
type HashWait = (handle: Pointer) => number;

type FillStart = (dirfd: number, names: Uint8Array, count: number, flags: number, data: Buffer, capacity: number, largest: number, out: BigUint64Array, budgetNs: bigint, threaded: number) => Pointer | null;
type FillWait = (handle: Pointer) => number;

interface Compiled {
  hashRun: HashRun;
  hashStart: HashStart;
  hashWait: HashWait;
  fillStart: FillStart;
  fillWait: FillWait;
  hashBytes: HashBytes;
  hashPieces: HashPieces;
  findFunction: FindFunction;
}

/** Compiles {@link SOURCE} from a memory file (nothing is written to disk) at first use; null where it cannot be. */
const compile = compiledOnce(
  "cartkit-native-runs",
  SOURCE,
  {
    hash_run: { args: ["i32", "ptr", "i32", "i32", "ptr", "i64", "ptr", "i32", "ptr", "ptr", "i64", "i32"], returns: "i32" },
    hash_bytes: { args: ["ptr", "i32", "ptr", "i64", "ptr"], returns: "void" },
    hash_pieces: { args: ["ptr", "i32", "ptr", "ptr", "i32", "ptr"], returns: "void" },
    find_function: { args: ["ptr"], returns: "ptr" },
    hash_start: { args: ["i32", "ptr", "i32", "i32", "ptr", "i64", "ptr", "i32", "ptr", "ptr", "i64", "i32"], returns: "ptr" },
    hash_wait: { args: ["ptr"], returns: "i32" },
    fill_start: { args: ["i32", "ptr", "i32", "i32", "ptr", "i64", "i64", "ptr", "i64", "i32"], returns: "ptr" },
    fill_wait: { args: ["ptr"], returns: "i32" },
  },
  (symbols): Compiled => ({
    hashRun: symbols.hash_run as unknown as HashRun,
    hashStart: symbols.hash_start as unknown as HashStart,
    hashWait: symbols.hash_wait as unknown as HashWait,
    fillStart: symbols.fill_start as unknown as FillStart,
    fillWait: symbols.fill_wait as unknown as FillWait,
    hashBytes: symbols.hash_bytes as unknown as HashBytes,
    hashPieces: symbols.hash_pieces as unknown as HashPieces,
    findFunction: symbols.find_function as unknown as FindFunction,
  }),
  {
    off: () => process.env[NATIVE_RUNS_VARIABLE] === "0",
    onFailure: (error) => reportThreadFallback(`small files are hashed one at a time: native runs could not be set up (${(error as Error)?.message ?? error})`),
  },
);

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
 * format with no runs (see {@link READ_RUN_FORMATS}), an engine other than the native one,
 * reading options (chunk size, a reader thread), another system, or no compiler. `threads`:
 * how many threads a run is read on ({@link runThreads}); `budgetNs`: how long a run goes on
 * before it stops ({@link RUN_NANOSECONDS}).
 * @example
 * const runs = await nativeRuns(["xxh128"], {});
 * // runs?.hash(folderFd, [nameBytes], READ_NO_LINK)
 */
export async function nativeRuns(algorithms: readonly Algorithm[], options: HashFileOptions, threads = 1, budgetNs: bigint = RUN_NANOSECONDS): Promise<NativeRuns | undefined> {
  if (algorithms.length !== 1) return undefined;
  const algorithm = algorithms[0]!;
  if ((options.engine ?? "auto") !== "auto" && options.engine !== "native") return undefined;
  if (options.chunkSize !== undefined || options.overlap === true) return undefined;
  const format = FORMATS[algorithm];
  if (!format && !READ_RUN_FORMATS.has(algorithm)) return undefined;
  const native = compile();
  if (!native) return undefined;
  const shares = Math.max(1, Math.min(MOST_THREADS, Math.floor(threads)));
  if (!format) return readRuns(algorithm, options, native, shares > 1, budgetNs);
  const fn = await checkedFunction(algorithm, native);
  if (!fn) return undefined;
  // Memory threads write to after the call that started them returns (see FillSet).
  const held: HashSet = {
    buffers: new Uint8Array(new ArrayBuffer(shares * RUN_FILE_BYTES)),
    out: new BigUint64Array(new ArrayBuffer(2 * 8 * RUN_FILES)),
    hex: new Uint8Array(new ArrayBuffer(32 * RUN_FILES)),
    names: new Uint8Array(new ArrayBuffer(FILL_NAME_BYTES)),
  };
  /** The run being hashed ahead on threads of its own: its names (the caller's list). */
  let pending: { handle: Pointer; names: readonly Uint8Array[] } | undefined;
  const wait = (handle: Pointer): number => {
    const reached = native.hashWait(handle);
    HASHING.delete(held);
    return reached;
  };
  let largeLeft = 0;
  return {
    algorithm,
    largest: RUN_FILE_BYTES,
    get largeLeft() {
      return largeLeft;
    },
    settle() {
      if (pending) wait(pending.handle);
      pending = undefined;
    },
    hash(dirfd, names, flags, next) {
      if (names.length > RUN_FILES) throw new RangeError(`at most ${RUN_FILES} files in a run`);
      let reached: number;
      if (pending?.names === names) {
        reached = wait(pending.handle);
        pending = undefined;
      } else {
        // A run hashed ahead that is not the one asked for (the caller went another way): dropped.
        if (pending) wait(pending.handle);
        pending = undefined;
        const count = packNames(names, held.names);
        reached = native.hashRun(dirfd, held.names, count, flags, held.buffers, RUN_FILE_BYTES, fn, format.kind, held.out, held.hex, budgetNs, shares);
      }
      largeLeft = 0;
      const { out, hex } = held;
      const results: RunResult[] = printedDigests(hex, reached, format.hexLength).map((digest, i) => {
        const status = out[2 * i];
        if (status === 0n) return { hex: digest, size: Number(out[2 * i + 1]) };
        if (status === 3n) largeLeft++;
        return status === 2n ? { error: readError(Number(out[2 * i + 1])) } : undefined;
      });
      // With threads to spare, the next run is hashed on them while the caller takes these results.
      if (shares > 1 && next) {
        const following = next(reached);
        // A thread started costs what hashing a few small files does.
        const count = following && following.names.length >= AHEAD_LEAST ? packNames(following.names, held.names) : 0;
        const handle = following && count > 0 ? native.hashStart(following.dirfd, held.names, count, flags, held.buffers, RUN_FILE_BYTES, fn, format.kind, held.out, held.hex, budgetNs, shares) : null;
        if (following && handle) {
          pending = { handle, names: following.names };
          HASHING.add(held);
        }
      }
      return results;
    },
  };
}

/** The memory of an XXH format's runs: the threads' buffers, the results, the names. */
interface HashSet {
  buffers: Uint8Array;
  out: BigUint64Array;
  hex: Uint8Array;
  names: Uint8Array;
}

/** Fewest files a run hashed ahead holds: a smaller one is hashed when asked for. */
const AHEAD_LEAST = 8;

/** Runs being hashed ahead, held here until waited for (as {@link READING}). */
const HASHING = new Set<HashSet>();

/**
 * Formats whose runs are read natively and hashed here, by the engine the per-file path uses:
 * those whose native engine hashes faster than the kernel reads small files, so reading them
 * in one call (and, with a second thread, the next run while this one is hashed) is what
 * counts. The slower ones gain more from being spread over the cores.
 */
const READ_RUN_FORMATS: ReadonlySet<Algorithm> = new Set(["blake3"]);

/**
 * Files this large or larger are left to the per-file path by runs that read whole: it reads
 * them in chunks that stay in the processor's cache while they are hashed, and at 100 KB and
 * more that is as fast or faster than a run's one read into memory and a second pass over it.
 */
const FILL_LARGEST = 64 << 10;

/** The bytes of one run read whole (each file's size and one byte more): a run is planned to fit, and a file that grew past the room left is left to the per-file path. */
const FILL_BYTES = 4 << 20;

/** Room for a run's names: {@link RUN_FILES} names of the longest a Linux name can be, with their NULs. */
const FILL_NAME_BYTES = RUN_FILES * 256;

/** Memory a thread may write to after the call that started it returns: typed arrays over ArrayBuffers of their own, which the collector neither moves nor frees while they are held. */
interface FillSet {
  data: Buffer;
  out: BigUint64Array;
  names: Uint8Array;
}

function fillSet(): FillSet {
  return { data: Buffer.from(new ArrayBuffer(FILL_BYTES)), out: new BigUint64Array(new ArrayBuffer(3 * 8 * RUN_FILES)), names: new Uint8Array(new ArrayBuffer(FILL_NAME_BYTES)) };
}

/**
 * The memory of runs being read on a thread, held here until they are waited for: a thread
 * writes to it after the call that started it returns, and a caller that let go of its runs
 * without {@link NativeRuns.settle} must not let the collector free it under the thread.
 */
const READING = new Set<FillSet[]>();

/** Packs as many of `names` as fit into `into` one after another; how many did. */
function packNames(names: readonly Uint8Array[], into: Uint8Array): number {
  let at = 0;
  let count = 0;
  for (const name of names) {
    if (at + name.length > into.length) break;
    into.set(name, at);
    at += name.length;
    count++;
  }
  return count;
}

/**
 * Runs read in native calls, each file hashed here by the engine the per-file path uses (so a
 * digest is the same either way). With `ahead`, the next run is read on a thread of its own
 * while this one's files are hashed.
 */
async function readRuns(algorithm: Algorithm, options: HashFileOptions, native: Compiled, ahead: boolean, budgetNs: bigint): Promise<NativeRuns | undefined> {
  try {
    // Loads the engine, so that a hasher can be made without waiting.
    (await createHasher(algorithm, options)).digest();
  } catch (error) {
    reportThreadFallback(`small files are hashed one at a time: the ${algorithm} engine did not load (${(error as Error)?.message ?? error})`);
    return undefined;
  }
  const probe = createHasherNow(algorithm, options);
  if (!probe) return undefined;
  probe.update(SAMPLE);
  // The engine's one call, where the per-file path would use its native engine and the call
  // agrees with it on the sample.
  let oneCall: ((bytes: Buffer) => string) | undefined;
  try {
    oneCall = probe.engine === "native" ? nativeOneCall(algorithm, options) : undefined;
  } catch {
    oneCall = undefined;
  }
  if (oneCall && oneCall(Buffer.from(SAMPLE)) !== probe.hex()) oneCall = undefined;
  const sets = [fillSet(), fillSet()];
  /** The run being read on a thread: its names (the caller's list) and the set it is read into. */
  let pending: { handle: Pointer; names: readonly Uint8Array[]; set: number } | undefined;
  const wait = (handle: Pointer): number => {
    const reached = native.fillWait(handle);
    READING.delete(sets);
    return reached;
  };
  const start = (set: number, dirfd: number, names: readonly Uint8Array[], flags: number, threaded: boolean): Pointer | null => {
    const into = sets[set]!;
    const count = packNames(names.slice(0, RUN_FILES), into.names);
    if (count === 0) return null;
    return native.fillStart(dirfd, into.names, count, flags, into.data, FILL_BYTES, FILL_LARGEST, into.out, budgetNs, threaded ? 1 : 0);
  };
  let largeLeft = 0;
  return {
    algorithm,
    largest: FILL_LARGEST,
    runBytes: FILL_BYTES,
    get largeLeft() {
      return largeLeft;
    },
    settle() {
      if (pending) wait(pending.handle);
      pending = undefined;
    },
    hash(dirfd, names, flags, next) {
      if (names.length > RUN_FILES) throw new RangeError(`at most ${RUN_FILES} files in a run`);
      largeLeft = 0;
      let set = 0;
      let reached = 0;
      if (pending?.names === names) {
        set = pending.set;
        reached = wait(pending.handle);
        pending = undefined;
      } else {
        // A run read ahead that is not the one asked for (the caller went another way): dropped.
        if (pending) wait(pending.handle);
        pending = undefined;
        const handle = start(set, dirfd, names, flags, false);
        if (!handle) return [];
        reached = wait(handle);
      }
      const { data, out } = sets[set]!;
      for (let i = 0; i < reached; i++) if (out[3 * i] === 3n) largeLeft++;
      if (ahead && next) {
        const following = next(reached);
        const handle = following && start(1 - set, following.dirfd, following.names, flags, true);
        if (following && handle) {
          pending = { handle, names: following.names, set: 1 - set };
          READING.add(sets);
        }
      }
      const results: RunResult[] = new Array(reached);
      for (let i = 0; i < reached; i++) {
        const status = out[3 * i];
        if (status === 2n) {
          results[i] = { error: readError(Number(out[3 * i + 2])) };
        } else if (status === 0n) {
          const from = Number(out[3 * i + 1]);
          const size = Number(out[3 * i + 2]);
          const bytes = data.subarray(from, from + size);
          if (oneCall) {
            results[i] = { hex: oneCall(bytes), size };
            continue;
          }
          const hasher = createHasherNow(algorithm, options);
          if (!hasher) {
            results[i] = undefined;
            continue;
          }
          hasher.update(bytes);
          results[i] = { hex: hasher.hex(), size };
        }
      }
      return results;
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

/** A run {@link RunsAhead} planned: its first item's place in the list, its folder, items and names. */
interface PlannedRun<T> {
  start: number;
  folder: HeldFolder;
  parent: string;
  dirfd: number;
  members: T[];
  names: Uint8Array[];
}

/**
 * Hashes the files of a list in native runs ahead of the per-file path: asked for an item, it
 * hashes that item and the files after it in the same folder in one run, and keeps their
 * results until they are asked for; runs that read ahead are given the run after it to read
 * meanwhile. Items are asked for in the list's order; one passed over
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
  /** The run planned to follow the current one (and being read ahead, where the runs do). */
  #ahead: PlannedRun<T> | undefined;
  /**
   * A folder whose files runs leave alone: most of a run's files were too large for one, so
   * the rest are likely too, and a run would only open them for the per-file path to open again.
   */
  #passOver: { folder: HeldFolder; parent: string } | undefined;

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

  /** Waits for a run being read ahead, if one is: call it once done with the list (see {@link NativeRuns.settle}). */
  settle(): void {
    this.#ahead = undefined;
    this.#runs.settle();
  }

  /** Hashes the run that starts at {@link #at} (none: the item there is for the per-file path). */
  #run(): void {
    this.#members = [];
    this.#results = [];
    this.#next = 0;
    const planned = this.#ahead?.start === this.#at ? this.#ahead : this.#plan(this.#at);
    this.#ahead = undefined;
    if (!planned) return;
    // A run cut short by time leaves the files it did not come to for the next run.
    this.#results = this.#runs.hash(planned.dirfd, planned.names, READ_NO_LINK, (reached) => {
      this.#noteLarge(planned, reached);
      this.#ahead = this.#plan(planned.start + reached);
      return this.#ahead;
    });
    const reached = this.#results.length;
    this.#noteLarge(planned, reached);
    this.#members = planned.members.slice(0, reached);
    for (let i = 0; i < reached; i++) this.#items[this.#at + i] = undefined;
    this.#at += reached;
  }

  /** Passes over the rest of `planned`'s folder when most of the `reached` files of its run were too large for one. */
  #noteLarge(planned: PlannedRun<T>, reached: number): void {
    if (this.#runs.largeLeft * 2 > reached) this.#passOver = { folder: planned.folder, parent: planned.parent };
  }

  /** The run that would start at item `start`: undefined when that item is for the per-file path, or past the end. */
  #plan(start: number): PlannedRun<T> | undefined {
    if (start >= this.#items.length || this.#items[start] === undefined) return undefined;
    const first = this.#locate(this.#items[start]!);
    if (!first?.folder.byDescriptor) return undefined;
    const slash = first.relative.lastIndexOf("/");
    const parent = slash < 0 ? "" : first.relative.slice(0, slash);
    if (this.#passOver?.folder === first.folder && this.#passOver.parent === parent) return undefined;
    let dirfd: number;
    try {
      dirfd = first.folder.folderFd(parent);
    } catch {
      return undefined;
    }
    const members: T[] = [];
    const names: Uint8Array[] = [];
    const { largest, runBytes } = this.#runs;
    let bytes = 0;
    for (let i = start; i < this.#items.length && members.length < RUN_FILES; i++) {
      const item = this.#items[i];
      if (item === undefined) break;
      const where = i === start ? first : this.#locate(item);
      if (!where || where.folder !== first.folder) break;
      const cut = where.relative.lastIndexOf("/");
      if (cut !== slash || (cut >= 0 && !where.relative.startsWith(parent))) break;
      const leaf = where.relative.slice(cut + 1);
      if (leaf === "" || leaf === "." || leaf === ".." || (where.size ?? 0) >= largest) break;
      // A file whose size the walk did not give is counted as large as a run file can be.
      bytes += (where.size ?? largest) + 1;
      if (runBytes !== undefined && bytes > runBytes && members.length > 0) break;
      members.push(item);
      names.push(cString(leaf));
    }
    return members.length === 0 ? undefined : { start, folder: first.folder, parent, dirfd, members, names };
  }
}
