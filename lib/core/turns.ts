/**
 * Turns for the event loop during long synchronous work. A tree of small files is hashed file
 * after file without waiting on anything (a promise per file costs more than the hash), so the
 * loop that handles signals would get no turn until the end: Ctrl-C or SIGTERM during `xxsum
 * -r` of 100,000 files was handled only once all were hashed, and then never (the run exited
 * first). Such loops ask {@link turnDue} once per file.
 */

/** Time between two turns, at most. */
const TURN_MS = 50;
let lastTurn = performance.now();

/**
 * A promise to await when the event loop is due a turn (every {@link TURN_MS}); undefined,
 * at once, otherwise.
 * @example
 * declare const files: string[], hash: (file: string) => void;
 * for (const file of files) {
 *   hash(file);
 *   const turn = turnDue();
 *   if (turn) await turn;
 * }
 */
export function turnDue(): Promise<void> | undefined {
  const now = performance.now();
  if (now - lastTurn < TURN_MS) return undefined;
  lastTurn = now;
  return new Promise((resolve) => setImmediate(resolve));
}
