/**
 * What an offload leaves behind besides the copies: a sum file (lib/sums format), a JSON report
 * of every file and destination, and an ASC MHL generation in each destination that received
 * every file (lib/mhl, the same file `mhl-verify create` writes).
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import type { LineSink } from "../core/sink.ts";
import { createGeneration, type KnownDigest } from "../mhl/create.ts";
import { removeUnchainedGenerations } from "../mhl/history.ts";
import { isHashFormat, type HashFormat } from "../mhl/formats.ts";
import { MhlLog } from "../mhl/log.ts";
import { escapeName } from "../sums/escape.ts";
import { VERSION } from "../core/version.ts";
import { formatBsdLine, formatGnuLine } from "../sums/lines.ts";
import { hashLabel, type HashChoice } from "./dispatch_log.ts";
import { writeFileAtomically } from "../io/atomic_file.ts";
import type { FileResult, PlannedFile } from "./tree.ts";

/** Where to write records. */
export interface RecordTargets {
  /** Sum file of the first chosen hash. */
  sums?: string;
  /** JSON report. */
  report?: string;
  /** Destination roots that get an ASC MHL generation. */
  mhlRoots?: string[];
  source?: string;
  /** Where the MHL generations' lines go. */
  output: LineSink;
}

/**
 * The digests an offload already has for the files of one destination root, for
 * {@link createGeneration} so that it does not read every file a third time. Only files whose
 * copy on this root was compared by hash (verified, or already present with the same digests)
 * are given, with the destination's size and mtime as `stat` reports them now, and only while
 * that mtime is still the source's as the copy set it: the copy stores mtimes to the
 * millisecond, so the source's sub-millisecond digits are compared away. Anything else is
 * left out and hashed by `createGeneration`.
 * @example
 * const known = knownDigestsFor("/Volumes/RAID/A001", offload.files);
 * await createGeneration("/Volumes/RAID/A001", { formats: ["xxh64"], knownDigests: known, tool: { name: "dispatchcopy", version: VERSION } }, log);
 */
export function knownDigestsFor(root: string, files: ReadonlyArray<{ file: PlannedFile; result: FileResult }>): Map<string, KnownDigest> {
  const known = new Map<string, KnownDigest>();
  for (const { file, result } of files) {
    if (result.sourceError) continue;
    const destination = result.destinations.find((d) => d.root === root);
    if (!destination || (destination.status !== "verified" && destination.status !== "present")) continue;
    const hexes = new Map<HashFormat, string>();
    for (const [algorithm, hex] of result.hexes) if (isHashFormat(algorithm)) hexes.set(algorithm, hex);
    if (hexes.size === 0) continue;
    let stat;
    try {
      stat = statSync(destination.path);
    } catch {
      continue;
    }
    if (stat.size !== file.size || Math.trunc(stat.mtimeMs) !== Math.trunc(file.mtimeMs)) continue;
    known.set(file.destinationPath, { size: stat.size, mtimeMs: stat.mtimeMs, hexes });
  }
  return known;
}

/**
 * Writes the sum file, the report and the MHL generations.
 * @returns problems writing the MHL generations (one line each), empty when all went well.
 */
export async function writeOffloadRecords(targets: RecordTargets, files: Array<{ file: PlannedFile; result: FileResult }>, choices: HashChoice[]): Promise<string[]> {
  const sorted = [...files].sort((a, b) => (a.file.destinationPath < b.file.destinationPath ? -1 : a.file.destinationPath > b.file.destinationPath ? 1 : 0));
  if (targets.sums) {
    const first = choices[0]!;
    const lines = sorted
      .filter(({ result }) => !result.sourceError && result.hexes.get(first.algorithm))
      // Canonical digests, in the line style of the tool that checks them (xxhsum writes XXH3 tagged).
      .map(({ file, result }) => {
        const hex = result.hexes.get(first.algorithm)!;
        const name = escapeName(file.destinationPath);
        return first.algorithm === "xxh3" ? formatBsdLine("XXH3", hex, name) : formatGnuLine(hex, name);
      });
    writeFileAtomically(targets.sums, lines.join(""), { overwrite: true });
  }
  if (targets.report) {
    const report = {
      source: targets.source ?? null,
      hashes: choices.map((c) => c.label),
      files: sorted.map(({ file, result }) => ({
        path: file.destinationPath,
        source: file.source,
        size: file.size,
        hashes: Object.fromEntries(choices.map((c) => [c.label, result.hexes.get(c.algorithm) ? hashLabel(c, result.hexes.get(c.algorithm)!).split(":")[1] : null])),
        sourceError: result.sourceError ?? null,
        destinations: result.destinations.map((d) => ({ root: d.root, path: d.path, status: d.status, reason: d.reason ?? null, coldRead: d.coldRead ?? null })),
      })),
    };
    writeFileAtomically(targets.report, `${JSON.stringify(report, null, 2)}\n`, { overwrite: true });
  }
  const problems: string[] = [];
  const formats = [...new Set(choices.map((c) => c.algorithm).filter((a): a is HashFormat => isHashFormat(a)))];
  for (const root of targets.mhlRoots ?? []) {
    try {
      // A run killed while it wrote its generation left it out of the chain: clear that first.
      removeUnchainedGenerations(root, "dispatchcopy");
      await createGeneration(root, {
        formats: formats.length ? formats : ["xxh64"],
        knownDigests: knownDigestsFor(root, files),
        tool: { name: "dispatchcopy", version: VERSION },
      }, new MhlLog({ output: targets.output }));
    } catch (error) {
      problems.push(`${root}: ASC MHL generation not written: ${(error as Error).message}`);
    }
  }
  return problems;
}
