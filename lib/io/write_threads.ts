/**
 * Small copies written on a thread per destination. On a tree of small files the calls each
 * copy makes on a destination (create it nameless, write it, set its times and mode, and after
 * the group flush give it its name) cost more than reading and hashing its source; made one
 * after another on the thread that reads, two destinations took twice what one took
 * (BENCHMARKS.md, "Many small files: dispatchcopy"). Here each destination has a thread of its
 * own that makes those calls, in C, in the order they were asked for, while the calling
 * thread reads the next files.
 *
 * What a copy promises does not change: the file is nameless (`O_TMPFILE`) until its name is
 * given, and its name is asked for only after the caller's flush returned. The caller keeps
 * the source side and every decision; a thread only makes the calls and says what each gave.
 * Where a file cannot be made nameless (no `O_TMPFILE` there), the caller's own path makes it.
 *
 * The loop is C compiled at first use by the compiler Bun carries (bun:ffi `cc`); where that
 * cannot be done the caller writes as before, said with CARTKIT_DEBUG=1.
 * CARTKIT_WRITE_THREADS=0 turns it off.
 */
import { ptr, type Pointer } from "bun:ffi";
import { compiledOnce } from "../core/native_code.ts";
import { reportThreadFallback } from "../thread/fallback.ts";

/** The variable that turns write threads off (`0`), to compare against the calling thread's writes. */
export const WRITE_THREADS_VARIABLE = "CARTKIT_WRITE_THREADS";

/** Requests a thread holds at once (its ring); past that the caller waits for the oldest. */
const RING_SLOTS = 4096;

/** Requests told to the thread together; fewer are told at the next turn of the event loop. */
const PUBLISH_EVERY = 8;

/** Bytes of one request (the C `struct task`). */
const SLOT_BYTES = 128;

const KIND_CREATE = 1;
const KIND_PLACE = 2;

/** Which call a failed request failed in. */
export type WriteStage = "create" | "write" | "metadata" | "stat" | "place";
const STAGES: Record<number, WriteStage> = { 1: "create", 2: "write", 3: "metadata", 4: "stat", 5: "place" };

/**
 * The loop. A request's layout (`struct task`) is the ring's slot: the caller fills it and
 * pushes; the thread answers in `err`, `stage`, `fd`, `ino` and the device numbers, then sets
 * `state` to 1. Requests are answered in the order pushed.
 */
const SOURCE = `
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned long usize;
extern int openat(int dirfd, const char *path, int flags, ...);
extern long pwrite(int fd, const void *buffer, usize count, long offset);
extern int close(int fd);
extern int fchmod(int fd, u32 mode);
extern int fchown(int fd, u32 uid, u32 gid);
extern int futimens(int fd, const void *times);
extern int linkat(int from_dirfd, const char *from, int to_dirfd, const char *to, int flags);
extern int statx(int dirfd, const char *path, int flags, u32 mask, void *buffer);
extern int sync_file_range(int fd, long offset, long length, u32 flags);
extern int snprintf(char *out, usize size, const char *format, ...);
extern int *__errno_location(void);
extern void *malloc(usize size);
extern void free(void *pointer);
extern int pthread_mutex_lock(void *mutex);
extern int pthread_mutex_unlock(void *mutex);
extern int pthread_cond_wait(void *cond, void *mutex);
extern int pthread_cond_signal(void *cond);
extern int pthread_cond_broadcast(void *cond);
extern int pthread_create(void *thread, const void *attributes, void *(*start)(void *), void *argument);
extern int pthread_join(unsigned long thread, void **result);

struct task {
  int state, kind, dirfd, fd;
  u32 data_lo, data_hi;
  int length;
  u32 mode;
  int flags;
  u32 uid, gid;
  int err, stage;
  u32 name_lo, name_hi;
  int pad1;
  long long times[4];
  u64 ino;
  u32 major, minor;
  int pad2[4];
};

struct writer {
  u64 lock[8];  /* pthread_mutex_t, zeros: PTHREAD_MUTEX_INITIALIZER */
  u64 more[8];  /* pthread_cond_t, zeros: PTHREAD_COND_INITIALIZER */
  u64 done[8];
  volatile long pushed;
  long answered, capacity;
  volatile int sleeping;
  int stop;
  /* Set once linking by descriptor was refused here (no CAP_DAC_READ_SEARCH on an older kernel): then only /proc is tried. */
  int empty_path_refused;
  struct task *slots;
  unsigned long thread;
};

#define O_WRONLY 01
#define O_CLOEXEC 02000000
#define O_TMPFILE 020200000
#define AT_FDCWD -100
#define AT_SYMLINK_FOLLOW 0x400
#define AT_EMPTY_PATH 0x1000
#define AT_SYMLINK_NOFOLLOW 0x100
#define EINTR 4
#define EIO 5
#define ENOENT 2
#define EPERM 1
#define ENOSYS 38
#define EOPNOTSUPP 95


static int unsupported(int e) { return e == ENOSYS || e == EOPNOTSUPP; }

static void fail(struct task *t, int stage) {
  t->err = *__errno_location();
  if (t->err == 0) t->err = EIO;
  t->stage = stage;
}

static void create_one(struct task *t) {
  const unsigned char *data = (const unsigned char *)(((u64)t->data_hi << 32) | t->data_lo);
  /* Made with its mode (a nameless file is no one's to open meanwhile); set again below where the umask or a default ACL gave another. */
  int fd = openat(t->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, t->mode & 0777);
  if (fd < 0) { fail(t, 1); return; }
  for (long at = 0; at < t->length; ) {
    long n = pwrite(fd, data + at, t->length - at, at);
    if (n < 0 && *__errno_location() == EINTR) continue;
    if (n <= 0) { if (n == 0) *__errno_location() = EIO; fail(t, 2); close(fd); return; }
    at += n;
  }
  if (t->flags & 2) sync_file_range(fd, 0, 0, 2 /* SYNC_FILE_RANGE_WRITE */);
  /* The owner first: chown clears setuid and setgid. */
  if ((t->flags & 1) && fchown(fd, t->uid, t->gid) != 0) { fail(t, 3); close(fd); return; }
  if (futimens(fd, t->times) != 0 && !unsupported(*__errno_location())) { fail(t, 3); close(fd); return; }
  unsigned char st[256];
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, 0x7ff /* STATX_BASIC_STATS */, st) != 0) { fail(t, 4); close(fd); return; }
  if ((*(unsigned short *)(st + 28) & 07777) != t->mode && fchmod(fd, t->mode) != 0 && !unsupported(*__errno_location())) { fail(t, 3); close(fd); return; }
  t->ino = *(u64 *)(st + 32);
  t->major = *(u32 *)(st + 136);
  t->minor = *(u32 *)(st + 140);
  t->fd = fd;
}

static void place_one(struct writer *w, struct task *t) {
  const char *name = (const char *)(((u64)t->name_hi << 32) | t->name_lo);
  int done = -1;
  if (!w->empty_path_refused) {
    done = linkat(t->fd, "", t->dirfd, name, AT_EMPTY_PATH);
    /* Without the capability the kernel answers ENOENT as if the name were empty. */
    if (done != 0 && *__errno_location() != ENOENT && *__errno_location() != EPERM) { fail(t, 5); close(t->fd); return; }
  }
  if (done != 0) {
    char from[40];
    snprintf(from, sizeof from, "/proc/self/fd/%d", t->fd);
    if (linkat(AT_FDCWD, from, t->dirfd, name, AT_SYMLINK_FOLLOW) != 0) { fail(t, 5); close(t->fd); return; }
    w->empty_path_refused = 1;
  }
  close(t->fd);
}

/* A full barrier: a store before it is seen by every thread before a load after it. */
static void fence(void) {
#if defined(__aarch64__)
  __asm__ __volatile__("dmb ish" ::: "memory");
#else
  __asm__ __volatile__("mfence" ::: "memory");
#endif
}

static void *serve(void *argument) {
  struct writer *w = argument;
  for (;;) {
    pthread_mutex_lock(w->lock);
    /* Asleep only once said so: a push after that signals (see writer_push). */
    w->sleeping = 1;
    fence();
    while (w->answered == w->pushed && !w->stop) pthread_cond_wait(w->more, w->lock);
    w->sleeping = 0;
    long from = w->answered, to = w->pushed;
    pthread_mutex_unlock(w->lock);
    if (from == to) return 0;
    for (long i = from; i < to; i++) {
      struct task *t = &w->slots[i % w->capacity];
      t->err = 0;
      t->stage = 0;
      if (t->kind == 1) create_one(t);
      else place_one(w, t);
      /* Every answer is stored before the state says so (x86-64 and ARM64 stores: the barrier keeps the compiler's order; ARM64 needs its own). */
      __asm__ __volatile__("" ::: "memory");
#if defined(__aarch64__)
      __asm__ __volatile__("dmb ish" ::: "memory");
#endif
      *(volatile int *)&t->state = 1;
    }
    pthread_mutex_lock(w->lock);
    w->answered = to;
    pthread_cond_broadcast(w->done);
    pthread_mutex_unlock(w->lock);
  }
}

void *writer_start(struct task *slots, long capacity) {
  struct writer *w = malloc(sizeof *w);
  if (!w) return 0;
  for (int i = 0; i < 8; i++) w->lock[i] = w->more[i] = w->done[i] = 0;
  w->pushed = w->answered = 0;
  w->sleeping = 0;
  w->empty_path_refused = 0;
  w->capacity = capacity;
  w->stop = 0;
  w->slots = slots;
  if (pthread_create(&w->thread, 0, serve, w) != 0) { free(w); return 0; }
  return w;
}

/* Publishes requests up to \`pushed\`; wakes the thread only where it sleeps or is about to. */
void writer_push(struct writer *w, long pushed) {
  w->pushed = pushed;
  fence();
  if (!w->sleeping) return;
  pthread_mutex_lock(w->lock);
  pthread_cond_signal(w->more);
  pthread_mutex_unlock(w->lock);
}

/* Waits until the first \`count\` requests are answered. */
void writer_wait(struct writer *w, long count) {
  pthread_mutex_lock(w->lock);
  while (w->answered < count) pthread_cond_wait(w->done, w->lock);
  pthread_mutex_unlock(w->lock);
}

/* Answers what was pushed, then ends the thread. */
void writer_stop(struct writer *w) {
  pthread_mutex_lock(w->lock);
  w->stop = 1;
  pthread_cond_signal(w->more);
  pthread_mutex_unlock(w->lock);
  pthread_join(w->thread, 0);
  free(w);
}
`;

interface Compiled {
  start: (slots: Uint8Array, capacity: number) => Pointer | null;
  push: (writer: Pointer, pushed: number) => void;
  wait: (writer: Pointer, count: number) => void;
  stop: (writer: Pointer) => void;
}

const compile = compiledOnce(
  "cartkit-write-threads",
  SOURCE,
  {
    writer_start: { args: ["ptr", "i64"], returns: "ptr" },
    writer_push: { args: ["ptr", "i64"], returns: "void" },
    writer_wait: { args: ["ptr", "i64"], returns: "void" },
    writer_stop: { args: ["ptr"], returns: "void" },
  },
  (symbols): Compiled => ({
    start: symbols.writer_start as unknown as Compiled["start"],
    push: symbols.writer_push as unknown as Compiled["push"],
    wait: symbols.writer_wait as unknown as Compiled["wait"],
    stop: symbols.writer_stop as unknown as Compiled["stop"],
  }),
  {
    off: () => process.env[WRITE_THREADS_VARIABLE] === "0",
    onFailure: (error) => reportThreadFallback(`small copies are written on the calling thread: write threads could not be set up (${(error as Error)?.message ?? error})`),
  },
);

/** Buffers lent for copies' bytes, by size class (powers of two from 4 KiB), kept for the next files. */
const spareBuffers = new Map<number, Uint8Array[]>();
/** Bytes of spare buffers kept, at most. */
const SPARE_BYTES = 32 << 20;
let spareBytes = 0;

/** Bytes of buffers lent at once, at most: past that a copy waits for one to come back before it reads its source. */
const LENT_BYTES = 32 << 20;

/** The size class of a buffer for `size` bytes. */
function roomFor(size: number): number {
  return Math.max(4096, 2 ** Math.ceil(Math.log2(Math.max(size, 1))));
}

/** A buffer of at least `size` bytes: its own memory (never a view of something else), reused where one is spare. */
function takeBuffer(size: number): Uint8Array {
  const room = roomFor(size);
  const spare = spareBuffers.get(room)?.pop();
  if (spare) {
    spareBytes -= room;
    return spare;
  }
  return new Uint8Array(new ArrayBuffer(room));
}

function keepSpare(buffer: Uint8Array): void {
  const room = buffer.buffer.byteLength;
  if (spareBytes + room > SPARE_BYTES) return;
  const list = spareBuffers.get(room);
  if (list) list.push(new Uint8Array(buffer.buffer));
  else spareBuffers.set(room, [new Uint8Array(buffer.buffer)]);
  spareBytes += room;
}

/** What a create request gave: the new nameless file, or the errno of the call that failed (nothing is left open then). */
export type Created = { fd: number; ino: bigint; devMajor: number; devMinor: number } | { errno: number; stage: WriteStage };

/** What a place request gave: 0, or the errno of the link (the file is closed either way). */
export type Placed = { errno: number };

/** What a create request carries. */
export interface CreateRequest {
  /** The folder it is made in (held open by the caller until answered). */
  dirfd: number;
  /** Its bytes (held by the request until answered). */
  data: Uint8Array;
  /** Permission bits it is given. */
  mode: number;
  /** Access and modification times, as futimens takes them (two timespecs). */
  times: Uint8Array;
  /** Its owner, set first, when given. */
  owner?: { uid: number; gid: number };
  /** Start its write-back once written. */
  writeback?: boolean;
}

interface Waiting {
  resolve: (value: Created | Placed) => void;
  kind: number;
  /** Memory the thread reads until it answers. */
  held: unknown[];
}

/** One destination's thread. */
class WriteThread {
  readonly #native: Compiled;
  readonly #handle: Pointer;
  readonly #slots: Uint8Array;
  readonly #ints: Int32Array;
  readonly #view: DataView;
  #pushed = 0;
  /** Requests the thread has been told of. */
  #published = 0;
  #publishing: ReturnType<typeof setImmediate> | undefined;
  #collected = 0;
  /** The caller waiting on each slot's answer. */
  readonly #waiting: Array<Waiting | undefined> = new Array(RING_SLOTS);
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(native: Compiled, slots: Uint8Array, handle: Pointer) {
    this.#native = native;
    this.#slots = slots;
    this.#handle = handle;
    this.#ints = new Int32Array(slots.buffer);
    this.#view = new DataView(slots.buffer);
  }

  static start(native: Compiled): WriteThread | undefined {
    const slots = new Uint8Array(new ArrayBuffer(RING_SLOTS * SLOT_BYTES));
    const handle = native.start(slots, RING_SLOTS);
    return handle ? new WriteThread(native, slots, handle) : undefined;
  }

  create(request: CreateRequest): Promise<Created> {
    const slot = this.#slot();
    const v = this.#view;
    const at = slot * SLOT_BYTES;
    v.setInt32(at + 4, KIND_CREATE, true);
    v.setInt32(at + 8, request.dirfd, true);
    setPointer(v, at + 16, request.data.length > 0 ? ptr(request.data) : 0);
    v.setInt32(at + 24, request.data.length, true);
    v.setUint32(at + 28, request.mode, true);
    v.setInt32(at + 32, (request.owner ? 1 : 0) | (request.writeback ? 2 : 0), true);
    v.setUint32(at + 36, request.owner?.uid ?? 0, true);
    v.setUint32(at + 40, request.owner?.gid ?? 0, true);
    this.#slots.set(request.times, at + 64);
    return this.#push(KIND_CREATE, [request.data]) as Promise<Created>;
  }

  /** Links the nameless file `fd` as `name` (a C string) in `dirfd`, then closes it. */
  place(fd: number, dirfd: number, name: Uint8Array): Promise<Placed> {
    const slot = this.#slot();
    const v = this.#view;
    const at = slot * SLOT_BYTES;
    v.setInt32(at + 4, KIND_PLACE, true);
    v.setInt32(at + 8, dirfd, true);
    v.setInt32(at + 12, fd, true);
    setPointer(v, at + 52, ptr(name));
    return this.#push(KIND_PLACE, [name]) as Promise<Placed>;
  }

  /** Waits for every request, then ends the thread. */
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#publishing) clearImmediate(this.#publishing);
    this.#timer = undefined;
    this.#publishing = undefined;
    if (this.#published < this.#pushed) this.#publish();
    this.#native.stop(this.#handle);
    this.#collect();
  }

  /** The next free slot, waiting for the thread where all are taken. */
  #slot(): number {
    if (this.#pushed - this.#collected >= RING_SLOTS) {
      if (this.#published < this.#pushed) this.#publish();
      this.#native.wait(this.#handle, this.#collected + 1);
      this.#collect();
    }
    const slot = this.#pushed % RING_SLOTS;
    Atomics.store(this.#ints, (slot * SLOT_BYTES) >> 2, 0);
    return slot;
  }

  #push(kind: number, held: unknown[]): Promise<Created | Placed> {
    const slot = this.#pushed % RING_SLOTS;
    const answer = new Promise<Created | Placed>((resolve) => {
      this.#waiting[slot] = { resolve, kind, held };
    });
    this.#pushed++;
    // Published a few at a time: waking a sleeping thread costs more than its request.
    if (this.#pushed - this.#published >= PUBLISH_EVERY) this.#publish();
    else this.#publishing ??= setImmediate(this.#publishNow);
    this.#collect();
    this.#timer ??= setTimeout(this.#poll, 1);
    return answer;
  }

  #publish(): void {
    this.#published = this.#pushed;
    this.#native.push(this.#handle, this.#pushed);
  }

  readonly #publishNow = () => {
    this.#publishing = undefined;
    if (this.#published < this.#pushed) this.#publish();
  };
  readonly #poll = () => {
    this.#timer = undefined;
    if (this.#published < this.#pushed) this.#publish();
    this.#collect();
    if (this.#collected < this.#pushed) this.#timer = setTimeout(this.#poll, 1);
  };

  /** Hands every answered request its answer, in order. */
  #collect(): void {
    const v = this.#view;
    while (this.#collected < this.#pushed) {
      const slot = this.#collected % RING_SLOTS;
      const at = slot * SLOT_BYTES;
      if (Atomics.load(this.#ints, at >> 2) !== 1) return;
      const waiting = this.#waiting[slot]!;
      this.#waiting[slot] = undefined;
      const errno = v.getInt32(at + 44, true);
      this.#collected++;
      if (waiting.kind === KIND_PLACE) waiting.resolve({ errno });
      else if (errno !== 0) waiting.resolve({ errno, stage: STAGES[v.getInt32(at + 48, true)] ?? "create" });
      else waiting.resolve({ fd: v.getInt32(at + 12, true), ino: v.getBigUint64(at + 96, true), devMajor: v.getUint32(at + 104, true), devMinor: v.getUint32(at + 108, true) });
    }
  }
}

function setPointer(view: DataView, at: number, pointer: number): void {
  view.setUint32(at, pointer % 2 ** 32, true);
  view.setUint32(at + 4, Math.floor(pointer / 2 ** 32), true);
}

/**
 * A thread per destination, made as each is first written to; {@link close} ends them. Every
 * request is answered before close returns.
 */
export class WriteThreads {
  readonly #native: Compiled;
  readonly #threads = new Map<object, WriteThread | undefined>();
  #lentBytes = 0;
  readonly #waitingForRoom: Array<() => void> = [];

  private constructor(native: Compiled) {
    this.#native = native;
  }

  /** Undefined where the loop cannot be compiled (or CARTKIT_WRITE_THREADS=0). */
  static open(): WriteThreads | undefined {
    const native = compile();
    return native ? new WriteThreads(native) : undefined;
  }

  /** The thread writing to `destination` (any object standing for it); undefined where none could be started. */
  of(destination: object): WriteThread | undefined {
    if (this.#threads.has(destination)) return this.#threads.get(destination);
    const thread = WriteThread.start(this.#native);
    if (!thread) reportThreadFallback("a destination's small copies are written on the calling thread: its write thread could not be started");
    this.#threads.set(destination, thread);
    return thread;
  }

  /**
   * A buffer of at least `size` bytes for a copy's bytes, which the threads may read until every
   * request given it is answered; then {@link giveBackBuffer}. Waits while {@link LENT_BYTES}
   * are lent (threads slower than the source would otherwise have the whole run in memory).
   */
  async borrowBuffer(size: number): Promise<Uint8Array> {
    const room = roomFor(size);
    while (this.#lentBytes > 0 && this.#lentBytes + room > LENT_BYTES) await new Promise<void>((resolve) => this.#waitingForRoom.push(resolve));
    this.#lentBytes += room;
    return takeBuffer(size);
  }

  giveBackBuffer(buffer: Uint8Array): void {
    this.#lentBytes -= buffer.buffer.byteLength;
    keepSpare(buffer);
    this.#waitingForRoom.shift()?.();
  }

  close(): void {
    for (const thread of this.#threads.values()) thread?.stop();
    this.#threads.clear();
  }
}

export type { WriteThread };
