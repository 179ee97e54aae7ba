/**
 * Writing the copies of one tape of a plan: each copy in turn, its sources read again for
 * each. A copy that fails (its drive full, its folder not empty) is named and never costs the
 * others: they are written all the same. Every copy must hash as the first good one did; a file
 * that hashes differently changed while the copies were written, and is named. Each source is
 * looked at before the first copy and after the last: one that changed in between (even after
 * every copy had read it) is named too, since a copy may hold it as it was.
 */
import { statSync } from "node:fs";
import { CliError, describeSystemError, usageError } from "../core/errors.ts";
import { fsPath } from "../core/names.ts";
import { SERIAL_PATTERN } from "./label.ts";
import { plannedTape, writeMount, writeVtape, type WriteEvent, type WriteOptions, type WriteSummary } from "./write.ts";

/** Where a copy goes: a new virtual tape folder, or a mounted LTFS volume. */
export interface CopyTarget {
  kind: "vtape" | "mount";
  dir: string;
}

/** How one copy went. */
export interface CopyOutcome {
  target: CopyTarget;
  serial: string;
  /** What was written, when the copy was written to its end. */
  summary?: WriteSummary & { isLtfs?: boolean };
  /** Why the copy stopped (it holds what it held at its last index, if anything). */
  error?: CliError;
  /** Tape paths that hashed differently here than on the first copy written (the source changed meanwhile). */
  disagreements: string[];
}

/**
 * The serials of the copies of tape `tapeNumber` when none are given: `C` + `A`, `B`, … per copy
 * + the tape number in four digits (CA0001, CB0001 for two copies of tape 1).
 * @throws {CliError} a usage error when they would not be valid serials (more than 26 copies, tape 10000 or later).
 * @example
 * defaultSerials(1, 2); // ["CA0001", "CB0001"]
 */
export function defaultSerials(tapeNumber: number, copies: number): string[] {
  if (copies > 26 || tapeNumber > 9999) throw usageError(`no default serial for copy ${copies} of tape ${tapeNumber}; give --serial`);
  return Array.from({ length: copies }, (_, i) => `C${String.fromCharCode(65 + i)}${String(tapeNumber).padStart(4, "0")}`);
}

/**
 * The serials of `copies` copies: as given (comma-separated, upper-cased), or the defaults.
 * @throws {CliError} a usage error for a count that is not one per copy, or a serial that is not 1-6 of A-Z, 0-9.
 */
export function copySerials(given: string | undefined, tapeNumber: number, copies: number): string[] {
  const serials = given === undefined ? defaultSerials(tapeNumber, copies) : given.split(",").map((s) => s.trim().toUpperCase());
  if (serials.length !== copies) throw usageError(`${serials.length} serial(s) for ${copies} copies; give one per copy`);
  for (const serial of serials) if (!SERIAL_PATTERN.test(serial)) throw usageError(`invalid serial '${serial}': 1-6 of A-Z, 0-9`);
  return serials;
}

/** Options for {@link writeCopies}: those of one write, less what differs per copy. */
export interface CopiesOptions extends Omit<WriteOptions, "serial" | "onEvent"> {
  /** One serial per target. */
  serials: string[];
  /** What happens while copy `copy` (0-based) is written. */
  onEvent?: (event: WriteEvent, copy: number) => void;
  /** Told when copy `copy` starts, before any of its events. */
  onCopyStart?: (copy: number) => void;
  /** Told when a copy is done, written or not. */
  onCopy?: (outcome: CopyOutcome, copy: number) => void;
}

/** A source of the tape that changed while its copies were written. */
export interface ChangedSource {
  /** The source path, as the plan gives it. */
  source: string;
  /** What changed, for people. */
  what: string;
}

/** What a source was when a write began: its identity, size and times (or that it could not be looked at). */
type SourceState = { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint } | undefined;

function sourceState(path: string): SourceState {
  try {
    const { dev, ino, size, mtimeNs, ctimeNs } = statSync(fsPath(path), { bigint: true });
    return { dev, ino, size, mtimeNs, ctimeNs };
  } catch {
    return undefined;
  }
}

function changeOf(was: SourceState, now: SourceState): string | undefined {
  // Missing then and now: the write failed on it and says so. There now but not then: whatever a
  // copy read of it cannot be compared with anything.
  if (!was) return now ? "it could not be looked at when the write began" : undefined;
  if (!now) return "removed or no longer readable";
  if (now.dev !== was.dev || now.ino !== was.ino) return "replaced by another file";
  if (now.size !== was.size) return `size ${was.size} → ${now.size} bytes`;
  if (now.mtimeNs !== was.mtimeNs) return "modified";
  if (now.ctimeNs !== was.ctimeNs) return "its change time moved (written with its modification time put back, or its mode or owner changed)";
  return undefined;
}

/**
 * Writes one tape of the plan to every target in turn.
 * @returns one outcome per target, in order, and the sources that changed while they were written.
 * @example
 * declare const { plan, tool }: Parameters<typeof writeCopies>[1];
 * const { outcomes, changed } = await writeCopies([{ kind: "vtape", dir: "vt1" }, { kind: "vtape", dir: "vt2" }], { plan, tapeNumber: 1, serials: defaultSerials(1, 2), formats: ["xxh128"], tool });
 * const failed = changed.length > 0 || outcomes.some((o) => o.error || o.disagreements.length > 0 || o.summary!.failed.length > 0);
 */
export async function writeCopies(targets: readonly CopyTarget[], options: CopiesOptions): Promise<{ outcomes: CopyOutcome[]; changed: ChangedSource[] }> {
  const { serials, onEvent, onCopyStart, onCopy, ...write } = options;
  if (serials.length !== targets.length) throw usageError(`${serials.length} serial(s) for ${targets.length} copies`);
  const sources = plannedTape(write.plan, write.tapeNumber).files.map((file) => ({ source: file.source, was: sourceState(file.source) }));
  const outcomes: CopyOutcome[] = [];
  let first: Map<string, string> | undefined;
  for (const [i, target] of targets.entries()) {
    onCopyStart?.(i);
    const digests = new Map<string, string>();
    const copy: WriteOptions = {
      ...write,
      serial: serials[i]!,
      onEvent: (event) => {
        if (event.event === "file") digests.set(event.path, JSON.stringify(event.hashes));
        onEvent?.(event, i);
      },
    };
    const outcome: CopyOutcome = { target, serial: serials[i]!, disagreements: [] };
    try {
      outcome.summary = target.kind === "vtape" ? await writeVtape(target.dir, copy) : await writeMount(target.dir, copy);
    } catch (error) {
      // This copy stops here; the next one is written all the same.
      outcome.error = error instanceof CliError ? error : new CliError(`write failed: ${describeSystemError(error)}`, { path: target.dir, cause: error });
    }
    if (first) {
      for (const [path, hashes] of digests) if (first.has(path) && first.get(path) !== hashes) outcome.disagreements.push(path);
    } else if (outcome.summary) first = digests;
    outcomes.push(outcome);
    onCopy?.(outcome, i);
  }
  const changed: ChangedSource[] = [];
  for (const { source, was } of sources) {
    const what = changeOf(was, sourceState(source));
    if (what) changed.push({ source, what });
  }
  return { outcomes, changed };
}

/**
 * The line that tells how a copy went: what it holds, or that it was not written.
 * @example
 * declare const outcome: CopyOutcome;
 * describeCopy(outcome, 1, 2); // "tape 1 of 2 → vtape vt: serial CA0001, 809 files, 1300012 bytes, 20 blocks on the data partition, index generation 5, volume …"
 */
export function describeCopy(outcome: CopyOutcome, tapeNumber: number, tapes: number): string {
  const head = `tape ${tapeNumber} of ${tapes} → ${outcome.target.kind} ${outcome.target.dir}`;
  const summary = outcome.summary;
  if (!summary) return `${head}: serial ${outcome.serial}, NOT written: ${outcome.error?.message ?? "stopped"}`;
  const folders = summary.folders.length > 0 ? `, ${summary.folders.length} empty folder${summary.folders.length === 1 ? "" : "s"}` : "";
  return (
    `${head}: serial ${summary.serial}, ${summary.files.length} files${folders}, ${summary.bytes} bytes` +
    (summary.blocks !== undefined ? `, ${summary.blocks} blocks on the data partition` : "") +
    (summary.generation !== undefined ? `, index generation ${summary.generation}` : "") +
    (summary.volumeUuid ? `, volume ${summary.volumeUuid}` : "") +
    (summary.failed.length > 0 ? `; ${summary.failed.length} NOT written` : "") +
    (outcome.disagreements.length > 0 ? `; ${outcome.disagreements.length} hash differently than on the first copy` : "")
  );
}
