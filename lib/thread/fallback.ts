/**
 * Word of the calling thread making up for a thread: one that did not start in time, failed or
 * ended. The work still gets done (on the calling thread, or it fails by name), only slower, so
 * nothing is printed by default; a tool shows these with CARTKIT_DEBUG=1 (lib/cli/run.ts), and
 * the tests of the compiled binaries check that none happens there.
 */

/** Told why a thread was made up for, e.g. "the hash thread did not start within 3 s". */
export type ThreadFallbackListener = (reason: string) => void;

const listeners = new Set<ThreadFallbackListener>();

/**
 * Calls `listener` for every fallback from now on; returns the function that stops it.
 * @example
 * const log: string[] = [];
 * const stop = onThreadFallback((reason) => log.push(reason));
 */
export function onThreadFallback(listener: ThreadFallbackListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Tells the listeners. */
export function reportThreadFallback(reason: string): void {
  for (const listener of listeners) listener(reason);
}
