/**
 * What an offload leaves behind besides the copies: a sum file (lib/sums format), a JSON report
 * of every file and destination, and an ASC MHL generation in each destination that received
 * every file (lib/mhl, the same file `mhl-verify create` writes).
 *
 * A generation seals the digests that were compared with the source when each copy was read
 * back, never digests taken later: a copy that changed since its read-back (its size, times or
 * inode differ from then) is not sealed, and its destination gets no generation. A copy not read
 * back (`--verify none`) is sealed with the digests of the bytes written to it, the card's, as
 * its first record, while it has the size and time it was given: what it must hold, which a
 * later `mhl-verify verify` compares, not what it may hold instead. One hashed for its
 * generation must hold those bytes, or its destination gets no generation.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { CliError, describeSystemError } from "../core/errors.ts";
import { isUtf8Name, joinPath, showName, xmlNameProblem } from "../core/names.ts";
import type { LineSink } from "../core/sink.ts";
import { VERSION } from "../core/version.ts";
import { compareFileState, HeldFolder } from "../io/held_folder.ts";
import { createGenerationOrTwin, type CreateOptions, type KnownDigest, type TwinSource } from "../mhl/create.ts";
import { isHashFormat, type HashFormat } from "../mhl/formats.ts";
import { CHAIN_FILE_NAME } from "../mhl/chain.ts";
import { HISTORY_FOLDER, isGenerationName, removeUnchainedGenerations } from "../mhl/history.ts";
import { now } from "../mhl/dates.ts";
import { MhlLog } from "../mhl/log.ts";
import { escapeName } from "../sums/escape.ts";
import { formatBsdLine, formatGnuLine } from "../sums/lines.ts";
import { writeFileAtomically } from "../io/atomic_file.ts";
import { readBackStateOf } from "./copy.ts";
import { collectNowAndThen } from "../core/memory.ts";
import { hashLabel, type HashChoice } from "./dispatch_log.ts";
import { digestsOfRegularFile, finderByPath, HELD_LINK, type FileResult, type PlannedFile } from "./tree.ts";

/** Where to write records. */
export interface RecordTargets {
  /** Sum file of the first chosen hash. */
  sums?: string;
  /** JSON report. */
  report?: string;
  /** Destination roots that get an ASC MHL generation. */
  mhlRoots?: string[];
  /** The destinations that hold every copy, whose chain files the sum file describes. @default mhlRoots */
  roots?: string[];
  /**
   * Why a record cannot be written at a path now (inside the card or a destination), asked again
   * just before each is written: a folder of its path may have been swapped for a link since
   * the run began.
   */
  placeProblem?: (path: string) => string | undefined;
  source?: string;
  /** Where the MHL generations' lines go. */
  output: LineSink;
  /** Tells a line about the records that is no failure (the tool names itself in it). @default the output's error line, as it is */
  note?: (line: string) => void;
  /** The folders of the offload (relative), so that one an ASC MHL cannot hold is named too. */
  folders?: string[];
  /** What else the report should say about the run. */
  extra?: Record<string, unknown>;
  /**
   * What each destination root held before the run (the plan's `existing`): with the copies,
   * the only files its generation may record; anything else appeared during the run.
   */
  existing?: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

/** The generation files in a root's history folder now. */
function listGenerationFiles(root: string): string[] {
  try {
    return readdirSync(join(root, HISTORY_FOLDER)).filter(isGenerationName);
  } catch {
    return [];
  }
}

/** A library error's message as it is; a system error as strerror's phrase with the file it concerns. */
function messageOf(error: unknown): string {
  if (error instanceof CliError) return error.path ? `${showName(error.path)}: ${error.message}` : error.message;
  const path = (error as { path?: string }).path;
  return `${describeSystemError(error)}${path ? ` (${showName(path)})` : ""}`;
}

/** An offload's digests in ASC MHL's formats: the result's own map when all are (no second map per file). */
function formatHexes(hexes: FileResult["hexes"]): ReadonlyMap<HashFormat, string> {
  for (const algorithm of hexes.keys()) {
    if (isHashFormat(algorithm)) continue;
    const ofFormats = new Map<HashFormat, string>();
    for (const [a, hex] of hexes) if (isHashFormat(a)) ofFormats.set(a, hex);
    return ofFormats;
  }
  return hexes as ReadonlyMap<HashFormat, string>;
}

/** A record that could not be written: the destination root it concerns (if any) and why. */
export interface RecordProblem {
  root?: string;
  message: string;
}

/**
 * The digests an offload compared for the files of one destination root, for
 * {@link createGeneration}, so that it records them and does not read the files again. Digests
 * are given only for copies that were read back (verified, or already present and identical) and
 * in ASC MHL's formats; every checked copy (a size-checked one too) is given with its state, so
 * that the generation takes it (by these digests, or hashing it) only while it is still the file
 * it was then: same inode, size, modification and change times. A copy not checked at all is
 * given the digests of the bytes written, with the size and time the copy was given (not looked
 * at here): the generation takes them while the walk finds the copy so, and hashes it otherwise
 * (then it must have them).
 * @returns the known digests, and the files that changed since they were read back.
 * @example
 * declare const offload: { files: Parameters<typeof knownDigestsFor>[1] };
 * const { known, changed } = knownDigestsFor("/Volumes/RAID/A001", offload.files);
 */
export function knownDigestsFor(root: string, files: ReadonlyArray<{ file: PlannedFile; result: FileResult }>): { known: Map<string, KnownDigest>; changed: string[] } {
  const known = new Map<string, KnownDigest>();
  const changed: string[] = [];
  let held: HeldFolder;
  try {
    held = HeldFolder.open(root);
  } catch {
    return { known, changed: files.map(({ file }) => file.destinationPath) };
  }
  try {
    for (const { file, result } of files) {
      collectNowAndThen();
      if (result.sourceError || file.kind === "link") continue;
      const destination = result.destinations.find((d) => d.root === root);
      if (destination?.status === "copied") {
        // Given even with no digest in ASC MHL's formats (a run in sha256 alone): the generation
        // then hashes it, and names it if the history's ignore patterns would leave it out.
        known.set(file.destinationPath, { size: file.size, mtimeMs: file.mtimeMs, hexes: formatHexes(result.hexes), unread: true });
        continue;
      }
      if (!destination || (destination.status !== "verified" && destination.status !== "present" && destination.status !== "size-checked") || !destination.readBack) continue;
      // The result's own digests when every one is a format ASC MHL knows (no second map per file);
      // none for a copy whose size alone was checked. A copy with none is still given with its
      // state: the generation hashes it, but only while it is the copy that was checked.
      const hexes = destination.status === "size-checked" ? new Map<HashFormat, string>() : formatHexes(result.hexes);
      let now;
      try {
        now = held.stat(file.destinationPath);
      } catch {
        now = undefined;
      }
      const how = now?.kind === "file" ? compareFileState(readBackStateOf(now), destination.readBack) : "changed";
      if (now?.kind !== "file" || how === "changed") {
        changed.push(file.destinationPath);
        continue;
      }
      // A copy numbered anew keeps the state it was read back in: the generation reads it again
      // and takes it only if its bytes still have these digests.
      known.set(file.destinationPath, { size: now.size, mtimeMs: now.mtimeMs, hexes, state: destination.readBack });
    }
  } finally {
    held.close();
  }
  return { known, changed };
}

/** A file directly in a history's folder: the folder holding the history (none at the root) and the file's name. */
const IN_HISTORY = new RegExp(`^(?:(.*)/)?${HISTORY_FOLDER}/([^/]+)$`, "s");

/** Whether a path is a history's chain file, which a generation written after the copies extends. */
function isChainPath(path: string): boolean {
  const tail = `${HISTORY_FOLDER}/${CHAIN_FILE_NAME}`;
  return path === tail || path.endsWith(`/${tail}`);
}

/**
 * Writes the sum file: each copied file's digest in the first chosen hash, as the destinations
 * hold it when the run ends, so that a check in any of them passes. A history's chain copied
 * with the card may not be the card's there: each destination's generation extends it after it
 * was copied, and one an earlier run extended is continued, not copied again. Its line gets the
 * digest the destinations' chains have now, when they all have the same (the card's, where no
 * generation was added). Chains that differ (destinations of other names, whose generations are
 * named for them) are left out and said in a note: `mhl-verify verify` checks each.
 * @param roots the destinations that hold every copy
 * @returns what could not be written, one problem each.
 */
async function writeSumFile(sums: string, sorted: ReadonlyArray<{ file: PlannedFile; result: FileResult }>, first: HashChoice, roots: readonly string[], note: (line: string) => void, placeProblem?: (path: string) => string | undefined): Promise<RecordProblem[]> {
  const problems: RecordProblem[] = [];
  const lines: string[] = [];
  for (const { file, result } of sorted) {
    let hex = result.sourceError ? undefined : result.hexes.get(first.algorithm);
    if (hex === undefined) continue;
    if (roots.length > 0 && isChainPath(file.destinationPath)) {
      const held: Array<string | undefined> = [];
      for (const root of roots) held.push(await digestHeld(root, file.destinationPath, first.algorithm));
      const unread = roots.filter((_, i) => held[i] === undefined);
      const digests = new Set(held);
      if (unread.length > 0 || digests.size !== 1) {
        const why = unread.length > 0 ? `it cannot be read as a file in ${unread.map(showName).join(", ")}` : `the destinations' ASC MHL chains differ, each listing its own generations (${roots.map(showName).join(", ")})`;
        note(`${showName(sums)}: ${showName(file.destinationPath)} left out: ${why}; mhl-verify verify checks each`);
        continue;
      }
      hex = held[0]!;
    }
    // Bytes that are not UTF-8 as \xHH, as xxsum -r writes them and xxsum -c reads them back.
    const name = escapeName(file.destinationPath, undefined, { bytes: true });
    // Canonical digests, in the line style of the tool that checks them (xxhsum writes XXH3 tagged).
    lines.push(first.algorithm === "xxh3" ? formatBsdLine("XXH3", hex, name) : formatGnuLine(hex, name));
  }
  try {
    const problem = placeProblem?.(sums);
    if (problem) throw new Error(problem);
    writeFileAtomically(sums, lines.join(""), { overwrite: true });
  } catch (error) {
    problems.push({ message: `${showName(sums)}: sum file not written: ${messageOf(error)}` });
  }
  return problems;
}

/** The digest of the regular file `relative` beneath `root` (no link followed), or undefined when it cannot be read. */
async function digestHeld(root: string, relative: string, algorithm: HashChoice["algorithm"]): Promise<string | undefined> {
  let held: HeldFolder;
  try {
    held = HeldFolder.open(root);
  } catch {
    return undefined;
  }
  try {
    return (await digestsOfRegularFile(() => held.openRead(relative), [algorithm]))?.get(algorithm);
  } finally {
    held.close();
  }
}

/**
 * Writes the sum file, the report and the MHL generations.
 * @returns what could not be written, one problem each; empty when all went well.
 */
export async function writeOffloadRecords(targets: RecordTargets, files: Array<{ file: PlannedFile; result: FileResult }>, choices: HashChoice[]): Promise<RecordProblem[]> {
  const problems: RecordProblem[] = [];
  const sorted = [...files].sort((a, b) => (a.file.destinationPath < b.file.destinationPath ? -1 : a.file.destinationPath > b.file.destinationPath ? 1 : 0));
  if (targets.report) {
    const report = {
      source: targets.source ?? null,
      hashes: choices.map((c) => c.label),
      ...targets.extra,
      files: sorted.map(({ file, result }) => ({
        path: file.destinationPath,
        source: file.source,
        size: file.size,
        ...(file.kind === "link" ? { link: file.linkTarget ?? null } : {}),
        hashes: Object.fromEntries(choices.map((c) => [c.label, result.hexes.get(c.algorithm) ? hashLabel(c, result.hexes.get(c.algorithm)!).split(":")[1] : null])),
        sourceError: result.sourceError ?? null,
        destinations: result.destinations.map((d) => ({ root: d.root, path: d.path, status: d.status, reason: d.reason ?? null, coldRead: d.coldRead ?? null })),
      })),
    };
    try {
      const problem = targets.placeProblem?.(targets.report);
      if (problem) throw new Error(problem);
      writeFileAtomically(targets.report, `${JSON.stringify(report, null, 2)}\n`, { overwrite: true });
    } catch (error) {
      problems.push({ message: `${showName(targets.report)}: report not written: ${messageOf(error)}` });
    }
  }
  const formats = [...new Set(choices.map((c) => c.algorithm).filter((a): a is HashFormat => isHashFormat(a)))];
  const unrecordable = [
    ...files.filter(({ file }) => file.kind !== "link" && xmlNameProblem(file.destinationPath) !== undefined).map(({ file }) => file.destinationPath),
    ...(targets.folders ?? []).filter((folder) => xmlNameProblem(folder) !== undefined && !files.some(({ file }) => file.destinationPath.startsWith(`${folder}/`))),
  ];
  /** Every name the offload planned in a destination (copies, links, files already there and identical). */
  const planned = targets.existing ? finderByPath(files, ({ file }) => file.destinationPath) : undefined;
  // What this run copied into a destination's histories (a card's own, at its root or in a
  // folder, copied with it), by the history's folder ("" for the root's): never cleared as what a
  // killed run left; such a history is sealed as it is, or refused by name.
  const copiedHistories = new Map<string, Set<string>>();
  for (const { file } of files) {
    const found = IN_HISTORY.exec(file.destinationPath);
    if (!found) continue;
    const [, under = "", name] = found as unknown as [string, string | undefined, string];
    copiedHistories.set(under, (copiedHistories.get(under) ?? new Set()).add(name));
  }
  const keepCopied = (name: string) => copiedHistories.get("")?.has(name) === true;
  // One temporary folder for every generation of the run: where it cannot be used, that is said once.
  let spoolFallbackTold = false;
  const onSpoolFallback = (message: string) => {
    if (spoolFallbackTold) return;
    spoolFallbackTold = true;
    targets.output.error(message);
  };
  /** The first generation made of known digests alone, for destinations that hold the very same. */
  let twin: TwinSource | undefined;
  // One date for the run's generations: destinations of one name name theirs alike (and their chains are the same).
  const date = now();
  for (const root of targets.mhlRoots ?? []) {
    // What the copies of this destination are: read back, or in place only (--verify none, size).
    const copies = files.some(({ result }) => result.destinations.some((d) => d.root === root && (d.status === "copied" || d.status === "size-checked"))) ? "in place, not read back" : "verified";
    if (!isUtf8Name(root)) {
      problems.push({ root, message: `${showName(root)}: ASC MHL generation not written: the destination's own path is not UTF-8, and its history is found and named by it; the copies themselves are ${copies} (rename the folder to record them)` });
      continue;
    }
    if (unrecordable.length) {
      problems.push({
        root,
        message: `${showName(root)}: ASC MHL generation not written: ${unrecordable.length} name(s) are not UTF-8 or hold a control character, and an ASC MHL cannot hold them (${unrecordable.slice(0, 3).map(showName).join(", ")}${unrecordable.length > 3 ? ", …" : ""}); the copies themselves are ${copies}`,
      });
      continue;
    }
    const { known, changed } = knownDigestsFor(root, files);
    if (changed.length) {
      for (const path of changed) problems.push({ root, message: `${showName(root)}/${showName(path)}: changed after it was verified; not sealed into an ASC MHL` });
      problems.push({ root, message: `${showName(root)}: ASC MHL generation not written: files changed after they were verified` });
      continue;
    }
    // What the history held before the run touched it: never removed below, whatever fails.
    let before = listGenerationFiles(root);
    const heldBefore = targets.existing?.get(root);
    // What the destination held: a file, or a link (the generation follows one to its file).
    const expected = heldBefore && planned && ((path: string) => planned(path) !== undefined || (heldBefore.get(path) ?? -1) >= 0 || heldBefore.get(path) === HELD_LINK);
    try {
      // A run killed while it wrote its generation left it out of the chain: set that aside first
      // (never removed: a finished run's record whose chain was replaced since looks the same).
      // In the card's nested histories too: a run killed while it wrote theirs left one there.
      for (const under of new Set(["", ...copiedHistories.keys()])) {
        const keep = (name: string) => copiedHistories.get(under)?.has(name) === true;
        for (const { name, asideAs } of removeUnchainedGenerations(root, "dispatchcopy", keep, true, under)) {
          if (asideAs) (targets.note ?? ((line: string) => targets.output.error(line)))(`${showName(joinPath(root, under, HISTORY_FOLDER, name))}: not in the history's chain (left by a run stopped before it added it, or its chain was replaced since); kept as ${showName(asideAs)}, which no history reads`);
        }
      }
      before = listGenerationFiles(root);
      const options: CreateOptions = {
        formats: formats.length ? formats : ["xxh64"],
        knownDigests: known,
        copiesAre: copies,
        expected,
        onSpoolFallback,
        tool: { name: "dispatchcopy", version: VERSION },
        date,
      };
      const log = new MhlLog({ output: targets.output });
      // A destination that holds the very same as one sealed before gets that generation's bytes.
      twin = await createGenerationOrTwin(root, options, log, twin, () => removeUnchainedGenerations(root, "dispatchcopy", (name) => keepCopied(name) || before.includes(name)));
    } catch (error) {
      const written = listGenerationFiles(root).filter((name) => !before.includes(name));
      const exitCode = (error as { exitCode?: number }).exitCode;
      if (written.length > 0 && exitCode !== undefined && exitCode >= 10 && exitCode < 30) {
        // The generation is written and documents what failed (the history says so too).
        problems.push({ root, message: `${showName(root)}: ASC MHL generation ${written.join(", ")} written; it records a failure against the earlier history: ${messageOf(error)}` });
        continue;
      }
      // Never leave a generation of this run's that is not in the chain (a history that does not verify).
      try {
        removeUnchainedGenerations(root, "dispatchcopy", (name) => keepCopied(name) || before.includes(name));
      } catch {
        // reported below either way
      }
      // One in the chain stays: written without what it could not record (a FIFO the destination holds).
      const kept = listGenerationFiles(root).filter((name) => !before.includes(name));
      problems.push({ root, message: `${showName(root)}: ASC MHL generation ${kept.length ? `${kept.join(", ")} written, but` : "not written:"} ${messageOf(error)}` });
    }
  }
  if (targets.sums) problems.push(...(await writeSumFile(targets.sums, sorted, choices[0]!, targets.roots ?? targets.mhlRoots ?? [], targets.note ?? ((line) => targets.output.error(line)), targets.placeProblem)));
  return problems;
}
