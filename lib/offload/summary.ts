/**
 * The verdict of a tree offload, destination by destination: complete (every file the walk found
 * is on it, byte for byte, read back from the device, with its ASC MHL written when asked), or
 * not, and why. Exit 0 is given only when every destination is complete and nothing else went
 * wrong; a copy that read back differently outranks every other failure (exit 1).
 */
import { joinPath, showName } from "../core/names.ts";
import { formatBytes } from "../core/units.ts";
import { GOOD_STATUSES, type VerifyMode } from "./copy.ts";
import type { RecordProblem } from "./records.ts";
import type { OffloadPlan, OffloadResult, UnreadEntry } from "./tree.ts";

/** One destination's verdict. */
export interface DestinationVerdict {
  root: string;
  complete: boolean;
  /** Files of the plan not good on this destination. */
  failed: number;
  /** Files that read back differently. */
  mismatched: number;
  /** The summary line (without the tool's name). */
  line: string;
}

/** The verdicts and the exit code of a run. */
export interface OffloadVerdict {
  destinations: DestinationVerdict[];
  exitCode: 0 | 1 | 2;
}

function verifiedWords(verify: VerifyMode): string {
  return verify === "dest" || verify === "source+dest" ? "verified from the device" : verify === "size" ? "copied, sizes checked" : "copied, not verified";
}

/**
 * Judges every destination of a run.
 * @param records problems writing the sum file, report and MHL generations
 * @param mhl whether each destination was to get an ASC MHL generation
 */
export function judgeOffload(plan: OffloadPlan, result: OffloadResult, records: readonly RecordProblem[], verify: VerifyMode): OffloadVerdict {
  let anyMismatch = false;
  let anyFailure = plan.problems.length > 0 || result.newInSource.length > 0 || result.changedInSource.length > 0 || result.unreadInSource.length > 0 || result.sourceUnseen !== undefined || records.some((r) => r.root === undefined);
  const destinations = plan.destinations.map((root): DestinationVerdict => {
    let failed = 0;
    let mismatched = 0;
    let continued = 0;
    for (const { result: file } of result.files) {
      const mine = file.destinations.find((d) => d.root === root);
      if (!mine || !GOOD_STATUSES.has(mine.status)) failed++;
      if (mine?.status === "mismatch") mismatched++;
      if (mine?.status === "continued") continued++;
    }
    const reasons: string[] = [];
    const unusable = result.unusable.get(root);
    if (unusable) {
      anyFailure = true;
      return { root, complete: false, failed, mismatched, line: `NOT COMPLETE: ${unusable}; none of the ${plan.files.length} files was copied to it` };
    }
    if (failed) reasons.push(`${failed} of ${plan.files.length} files FAILED${mismatched ? ` (${mismatched} read back differently)` : ""}`);
    const rootProblems = result.rootProblems.get(root) ?? [];
    if (rootProblems.length) reasons.push(rootProblems[0]!);
    if (plan.problems.length) reasons.push(`${plan.problems.length} entr${plan.problems.length === 1 ? "y" : "ies"} of the source could not be copied (named above)`);
    if (result.newInSource.length) reasons.push(`${result.newInSource.length} file(s) appeared in the source during the offload and were not copied`);
    if (result.changedInSource.length) reasons.push(`${result.changedInSource.length} file(s) of the source changed after they were copied`);
    if (result.unreadInSource.length) reasons.push(`${result.unreadInSource.length} folder(s) or file(s) of the source could not be read again after the copy`);
    if (result.sourceUnseen !== undefined) reasons.push("the source could not be looked at again after the copy");
    const strays = result.strays.get(root) ?? [];
    if (strays.length) reasons.push(`${strays.length} file(s) appeared in it during the offload that are not from the source`);
    const mine = records.filter((r) => r.root === root);
    if (mine.length) reasons.push(mine.at(-1)!.message.replace(`${showName(root)}: `, ""));
    if (mismatched) anyMismatch = true;
    if (reasons.length) anyFailure = true;
    // A card's chain the destination's history continues was compared, not copied: it is not among the copies.
    const done = `${plan.files.length} files, ${formatBytes(plan.bytes)} ${verifiedWords(verify)}${continued ? `; ${continued} of them the card's ASC MHL chain${continued === 1 ? "" : "s"}, which this destination's history continues (not copied again)` : ""}`;
    return {
      root,
      complete: reasons.length === 0,
      failed,
      mismatched,
      line: reasons.length === 0 ? done : `NOT COMPLETE: ${reasons.join("; ")}`,
    };
  });
  return { destinations, exitCode: anyMismatch ? 1 : anyFailure ? 2 : 0 };
}

/**
 * The line that names a folder or file of the source that could not be read when the source
 * was looked at again after the copy (without the tool's name).
 * @example
 * unreadLine("/Volumes/A001", { path: "CLIPS", folder: true, why: "Permission denied" });
 * // "/Volumes/A001/CLIPS: folder could not be read again after the copy (Permission denied); what changed in it meanwhile is unknown"
 */
export function unreadLine(source: string, entry: UnreadEntry): string {
  return `${showName(joinPath(source, entry.path))}: ${entry.folder ? "folder" : "file"} could not be read again after the copy (${entry.why}); what changed in it meanwhile is unknown`;
}

/**
 * The line that says the source could not be looked at again after the copy at all (without the
 * tool's name).
 * @example
 * unseenLine("/Volumes/A001", "No such file or directory");
 */
export function unseenLine(source: string, why: string): string {
  return `${showName(source)}: cannot be looked at again after the copy (${why}); files that changed or appeared in it meanwhile cannot be ruled out`;
}
