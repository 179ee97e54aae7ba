/**
 * The stats of a folder's entries in one native call, on two threads: a walk stats every entry
 * it lists (size and date for the record, the kind where the listing gives none), and on a tree
 * of 20,000 small files one call out of JavaScript each, all on the calling thread, was most of
 * the walk. The names are the listing's bytes; each is stat'ed beneath the folder's descriptor
 * without following a link, as {@link HeldFolder.statEntry} does.
 */
import { availableParallelism } from "node:os";
import { type Pointer, ptr } from "bun:ffi";
import { compiledOnce } from "../core/native_code.ts";

/** Most entries one call stats: its buffer is 256 bytes an entry. */
export const STAT_BATCH = 1024;

/** Fewest entries worth a second thread: starting one costs about what 20 stats do. */
const SECOND_THREAD_LEAST = 64;

const SOURCE = `
extern int statx(int dirfd, const char *path, int flags, unsigned int mask, void *buffer);
extern int *__errno_location(void);
extern int pthread_create(void *thread, const void *attributes, void *(*start)(void *), void *argument);
extern int pthread_join(unsigned long thread, void **result);

struct part { int dirfd; const char **names; int from; int to; unsigned char *out; int *errors; };

/* AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS: as the walk's own calls. */
static void stat_part(struct part *part) {
  for (int i = part->from; i < part->to; i++) {
    part->errors[i] = statx(part->dirfd, part->names[i], 0x100, 0x7ff, part->out + 256L * i) == 0 ? 0 : *__errno_location();
  }
}

static void *stat_thread(void *argument) {
  stat_part((struct part *)argument);
  return 0;
}

/* Stats \`count\` names (one after another, each with its NUL) beneath \`dirfd\` into \`out\` (256
   bytes each) and \`errors\` (0, or the errno), the second half on a thread of its own when
   \`threads\` > 1. */
int stat_names(int dirfd, const char *names, int count, unsigned char *out, int *errors, int threads) {
  const char *starts[${STAT_BATCH}];
  if (count > ${STAT_BATCH}) count = ${STAT_BATCH};
  for (int i = 0; i < count; i++) {
    starts[i] = names;
    while (*names) names++;
    names++;
  }
  int half = threads > 1 && count >= ${SECOND_THREAD_LEAST} ? count / 2 : count;
  struct part mine = { dirfd, starts, 0, half, out, errors };
  struct part theirs = { dirfd, starts, half, count, out, errors };
  unsigned long thread = 0;
  int started = half < count && pthread_create(&thread, 0, stat_thread, &theirs) == 0;
  if (half < count && !started) mine.to = count;
  stat_part(&mine);
  if (started) pthread_join(thread, 0);
  return count;
}
`;

type StatNames = (dirfd: number, names: Pointer, count: number, out: Pointer, errors: Pointer, threads: number) => number;

/** The compiled call, or null where native code cannot be compiled (the caller stats one by one). */
const native = compiledOnce("cartkit-stat-batch", SOURCE, { stat_names: { args: ["i32", "ptr", "i32", "ptr", "ptr", "i32"], returns: "i32" } }, (symbols) => ({ statNames: symbols.stat_names as unknown as StatNames }));

const THREADS = availableParallelism() > 1 ? 2 : 1;

/** The buffers of one call, reused. */
const out = new Uint8Array(256 * STAT_BATCH);
const outView = new DataView(out.buffer);
const errors = new Int32Array(STAT_BATCH);
const names = new Uint8Array(256 * STAT_BATCH);

/**
 * Stats `cNames` (each a name's bytes and a NUL, at most {@link STAT_BATCH}) beneath `dirfd`
 * and gives each one's statx buffer and errno to `each` (the view is valid only during that
 * call). False where it cannot (no native code): nothing was stat'ed.
 */
export function statNames(dirfd: number, cNames: readonly Uint8Array[], each: (index: number, errno: number, view: DataView, offset: number) => void): boolean {
  const call = native();
  if (!call || cNames.length > STAT_BATCH) return false;
  let at = 0;
  for (const name of cNames) {
    names.set(name, at);
    at += name.length;
  }
  const count = call.statNames(dirfd, ptr(names), cNames.length, ptr(out), ptr(errors), THREADS);
  for (let i = 0; i < count; i++) each(i, errors[i]!, outView, 256 * i);
  return true;
}
