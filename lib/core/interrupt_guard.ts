/**
 * Ctrl-C and SIGTERM while the main thread waits on something that may never come: a FIFO with
 * no writer, a pipe or terminal that stays silent. The tool's own handler (lib/cli/run.ts) runs
 * on the event loop, and such a wait holds the loop, so the signal would be taken and nothing
 * done (`xxhsum` and `b3sum`, which keep the default action, end at once).
 *
 * Armed before such a wait, a guard hears the signal as well: a native handler passes it on to
 * the runtime's and wakes a native thread, which, if the process has not ended within
 * {@link GRACE_MS}, says `NAME: interrupted (SIGNAL)` on stderr and exits with 128 + the signal's
 * number, as the tool's handler would. Whatever was left waiting was input, not a file being
 * written: nothing is ever left under a final name (partial files have hidden names).
 */
import { statSync } from "node:fs";
import { isMainThread } from "node:worker_threads";
import { fsPath } from "./names.ts";
import { compileNative } from "./native_code.ts";

/** How long the tool's own handler has to end the process before the guard does. */
export const GRACE_MS = 1500;

/**
 * The guard. sigaction's structure is glibc's on Linux (x86-64 and arm64 alike): the handler at
 * 0, a 128-byte mask, the flags at 136. The runtime's action is kept and called from ours, with
 * SA_SIGINFO's arguments when it asked for them; errno is kept for the code the signal stopped.
 */
const SOURCE = `
typedef unsigned long usize;
struct timespec_ { long sec; long nsec; };
extern int sigaction(int sig, const void *act, void *old);
extern int pipe2(int *fds, int flags);
extern int fcntl(int fd, int command, ...);
extern long read(int fd, void *buffer, usize count);
extern long write(int fd, const void *buffer, usize count);
extern int nanosleep(const struct timespec_ *wanted, struct timespec_ *left);
extern void _exit(int status);
extern int *__errno_location(void);
extern int pthread_create(void *thread, const void *attributes, void *(*start)(void *), void *argument);
extern int pthread_detach(unsigned long thread);

static int fds[2] = {-1, -1};
static unsigned char previous[2][256];
static char notes[2][512];
static int note_lengths[2];
static long grace_ms;

static void *watch(void *unused) {
  unsigned char sig = 0;
  while (read(fds[0], &sig, 1) != 1) {}
  struct timespec_ left;
  left.sec = grace_ms / 1000;
  left.nsec = (grace_ms % 1000) * 1000000L;
  while (nanosleep(&left, &left) != 0) {}
  int k = sig == 2 ? 0 : 1;
  write(2, notes[k], note_lengths[k]);
  _exit(128 + sig);
  return 0;
}

static void on_signal(int sig, void *info, void *context) {
  int saved = *__errno_location();
  unsigned char s = (unsigned char)sig;
  write(fds[1], &s, 1);
  *__errno_location() = saved;
  unsigned char *old = previous[sig == 2 ? 0 : 1];
  void *handler = *(void **)old;
  if ((usize)handler <= 1) return;
  if (*(int *)(old + 136) & 4) ((void (*)(int, void *, void *))handler)(sig, info, context);
  else ((void (*)(int))handler)(sig);
}

static void keep_note(int k, const char *text, int length) {
  if (length > 511) length = 511;
  for (int i = 0; i < length; i++) notes[k][i] = text[i];
  note_lengths[k] = length;
}

int arm(const char *on_int, int int_length, const char *on_term, int term_length, int grace) {
  keep_note(0, on_int, int_length);
  keep_note(1, on_term, term_length);
  grace_ms = grace;
  if (pipe2(fds, 02000000) != 0) return -1;
  if (fcntl(fds[1], 4, 04000) != 0) return -2;
  unsigned long thread;
  if (pthread_create(&thread, 0, watch, 0) != 0) return -3;
  pthread_detach(thread);
  int sigs[2] = {2, 15};
  for (int k = 0; k < 2; k++) {
    if (sigaction(sigs[k], 0, previous[k]) != 0) return -4;
    unsigned char action[256];
    for (int i = 0; i < 256; i++) action[i] = previous[k][i];
    *(void **)action = (void *)on_signal;
    *(int *)(action + 136) = *(int *)(previous[k] + 136) | 4;
    if (sigaction(sigs[k], action, 0) != 0) return -5;
  }
  return 0;
}
`;

let toolName: string | undefined;
/** What the tool lets out before a wait (its data lines so far), set with {@link setInterruptGuardName}. */
let beforeWait: (() => void) | undefined;
/** Kept for as long as the process lives: the handler and the thread run its code. */
let armed: unknown;

/**
 * Names the tool whose handler the guard stands in for (lib/cli/run.ts, when it sets that
 * handler up), and what it lets out before each wait: the lines of what is done show while the
 * rest is still to come, and are not lost if the guard has to end the process.
 */
export function setInterruptGuardName(name: string, letOut?: () => void): void {
  toolName = name;
  beforeWait = letOut;
}

/**
 * Arms the guard (once; later calls do nothing). Only for a tool whose handler is set up, on the
 * main thread (a worker's wait holds no event loop). Where the guard cannot be set up (no
 * compiler), a wait behaves as before. Returns whether the guard is armed.
 */
export function armInterruptGuard(): boolean {
  if (armed !== undefined) return armed !== null;
  if (toolName === undefined || !isMainThread) return false;
  armed = null;
  try {
    const { symbols } = compileNative("cartkit-interrupt-guard", SOURCE, { arm: { args: ["ptr", "i32", "ptr", "i32", "i32"], returns: "i32" } });
    const onInt = Buffer.from(`${toolName}: interrupted (SIGINT)\n`);
    const onTerm = Buffer.from(`${toolName}: interrupted (SIGTERM)\n`);
    if (symbols.arm(onInt, onInt.length, onTerm, onTerm.length, GRACE_MS) === 0) armed = symbols;
  } catch {
    // no compiler here: a wait is not guarded
  }
  return armed !== null;
}

/** Whether `path` names a FIFO (opening one for reading waits for a writer). */
export function isFifo(path: string): boolean {
  try {
    return statSync(fsPath(path)).isFIFO();
  } catch {
    return false; // not there: its open says so
  }
}

/**
 * Before a wait on `path`: lets out what the tool holds, and arms the guard when `path` is a FIFO
 * (opening one waits for a writer) or stands for standard input or a descriptor (`-`, a number),
 * which may be a pipe or terminal that never sends another byte. For a caller that cannot wait
 * a turn first ({@link guardedWait} can): a signal taken just before the guard was armed is
 * handled only when the wait ends. Returns whether `path` is such a wait.
 */
export function guardWaitOn(path: string | number): boolean {
  if (toolName === undefined) return false;
  if (typeof path === "string" && path !== "-" && !isFifo(path)) return false;
  beforeWait?.();
  armInterruptGuard();
  return true;
}

/**
 * {@link guardWaitOn}, then one turn of the event loop before the wait: a signal the runtime
 * took before the guard was armed is handled now, not lost behind the wait.
 */
export async function guardedWait(path: string | number): Promise<void> {
  if (!guardWaitOn(path)) return;
  // A timer, not an immediate: the loop then polls, which is where the runtime hands a signal over.
  await new Promise((resolve) => setTimeout(resolve, 1));
}

/** Whether the guard is armed: the tool waited, or was named something to wait on. */
export function guardArmed(): boolean {
  return armed !== undefined && armed !== null;
}

/**
 * Arms the guard at the start, with a turn of the loop, when an argument names something a
 * tool may wait on (`-`, a FIFO, also as an option's `=value`): a signal the runtime took before
 * is handled then, not lost behind a wait that cannot take a turn first. Other arguments cost a
 * stat each.
 */
export async function guardNamedWaits(args: readonly string[]): Promise<void> {
  if (toolName === undefined || guardArmed()) return;
  for (const arg of args) {
    const value = arg.startsWith("--") && arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : arg;
    if (value !== "-" && (value.startsWith("-") || !isFifo(value))) continue;
    await guardedWait(value);
    return;
  }
}
