/**
 * `mhl-verify` on legacy MHL v1.x files: `verify FILE.mhl` checks every file a `<hashlist
 * version="1.x">` lists (relative to the folder holding it) and reports in the tool's usual
 * lines and JSON events; `create ROOT --legacy` seals a folder into one v1.1 file
 * `<root>_<YYYY-MM-DD>_<HHMMSS>.mhl` beside its content, for software that reads only v1.1.
 */
import { closeSync, constants, existsSync, openSync, readSync, statSync } from "node:fs";
import { userInfo, hostname } from "node:os";
import { basename, join } from "node:path";
import { CliError, usageError } from "../core/errors.ts";
import { showLine, showName, xmlNameProblem } from "../core/names.ts";
import { NO_PROGRESS, type ProgressFactory } from "../core/sink.ts";
import { hashingPlan, hashInOrder, type HashJobResult } from "../hash/pool.ts";
import { VERSION } from "../core/version.ts";
import { NOW_VARIABLE, now } from "./dates.ts";
import { entriesError, MhlExit } from "./exit_codes.ts";
import { IgnoreSpec } from "./ignore.ts";
import { decodeXmlBytes } from "./legacy_encoding.ts";
import { isLegacyMhl, LEGACY_ALGORITHM, LEGACY_HASH_TYPES, legacyNotation, readLegacyMhl, verifyLegacyMhl, writeLegacyMhl, type LegacyEntryInput, type LegacyHashType, type LegacyVerifyResult } from "./legacy.ts";
import type { MhlLog } from "./log.ts";
import { HOSTNAME_VARIABLE } from "./session.ts";
import { type FilesBeneath, postOrderFolders, walkPolicies, withFilesBeneath } from "./tree.ts";
import type { HeldFolder } from "../io/held_folder.ts";
import type { LinkPolicy, SpecialPolicy } from "../io/walk.ts";
import { reportMissing } from "./verify.ts";

/**
 * True when `path` is a file ending in `.mhl` whose root element is a legacy `<hashlist
 * version="1.0|1.1">` (in any encoding the legacy reader accepts).
 * @example
 * isLegacyMhlFile("A001/A001_2016-04-18_144645.mhl"); // true for a v1.1 file
 */
export function isLegacyMhlFile(path: string): boolean {
  if (!path.toLowerCase().endsWith(".mhl") || !existsSync(path) || !statSync(path).isFile()) return false;
  // Its root start tag tells: the first 64 KiB are read, not the whole file.
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const head = Buffer.alloc(1 << 16);
    const got = readSync(fd, head, 0, head.length, 0);
    // Cut short, the prefix may end inside a character (UTF-8, or a UTF-16 pair): up to 3 bytes less.
    for (let less = 0; less < (got === head.length ? 4 : 1); less++) {
      try {
        return isLegacyMhl(decodeXmlBytes(head.subarray(0, got - less), path));
      } catch {
        // a character cut in two: one byte less
      }
    }
    return false;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Options of {@link verifyLegacyFile}. */
export interface LegacyFileVerifyOptions {
  /**
   * Files hashed at once (`--jobs`).
   * @default files in slow formats spread over the cores (hashingPlan)
   */
  jobs?: number;
  /**
   * Makes the progress sink, when progress is shown.
   */
  progress?: ProgressFactory;
}

/** The line and event for one verified entry; missing files are collected for the summary. */
function reportResult(result: LegacyVerifyResult, log: MhlLog, missing: string[]): void {
  const path = result.entry.file;
  const shown = showName(path);
  for (const type of result.unknownTypes) log.error(`WARNING: hash type <${showLine(type)}> of ${shown} is unknown, not verified`);
  switch (result.status) {
    case "ok":
      for (const check of result.checks) {
        log.verbose(`verification (${check.type}) of file ${shown}: OK`);
        log.event({ event: "ok", path, format: check.type, hash: check.actual });
      }
      return;
    case "mismatch":
      for (const check of result.checks) {
        if (check.ok) continue;
        log.error(`ERROR: hash mismatch        for ${shown} old ${check.type}: ${check.expected}, new ${check.type}: ${check.actual}`);
        log.event({ event: "mismatch", path, format: check.type, expected: check.expected, hash: check.actual });
      }
      return;
    case "size-mismatch":
      log.error(`ERROR: size mismatch        for ${shown} old size: ${result.entry.size}, new size: ${result.actualSize}`);
      log.event({ event: "size-mismatch", path, expected: result.entry.size, size: result.actualSize });
      return;
    case "unverified":
      log.error(`ERROR: no verifiable hash   for ${shown}`);
      log.event({ event: "unverified", path, unknown: result.unknownTypes });
      return;
    case "unreadable":
      log.error(`ERROR: could not read ${shown}: ${result.message ?? "unknown error"}`);
      log.event({ event: "unreadable", path, message: result.message });
      return;
    case "missing":
      missing.push(path);
  }
}

/**
 * Verifies a legacy MHL file: every listed file, relative to the file's folder, is hashed with
 * every algorithm its entry lists. Files the MHL does not list are not errors.
 * @throws {CliError} with the report's exit code (10 missing, 11 mismatch/unreadable/unverified)
 *   after reporting every file, or 2 when the MHL file itself is unreadable or malformed.
 * @example
 * import { Output } from "../cli/output.ts";
 * import { MhlLog } from "./log.ts";
 * await verifyLegacyFile("A001/A001_2016-04-18_144645.mhl", { jobs: 4 }, new MhlLog({ output: new Output() }));
 */
export async function verifyLegacyFile(path: string, options: LegacyFileVerifyOptions, log: MhlLog): Promise<void> {
  log.verbose(`check legacy MHL file at path: ${showName(path)}`);
  const missing: string[] = [];
  // Parsed once more for the totals: the list is small next to the files it lists.
  const entries = readLegacyMhl(path).entries;
  // A list of nothing proves nothing: never a success.
  if (entries.length === 0) throw new CliError("lists no file (no <hash> entry): nothing was verified", { path, exitCode: MhlExit.Usage });
  const progress = options.progress?.({ files: entries.length, bytes: entries.reduce((sum, e) => sum + (e.size ?? 0), 0) }) ?? NO_PROGRESS;
  const report = await verifyLegacyMhl(path, {
    jobs: options.jobs,
    onResult: (result) => {
      progress.fileDone(result.actualSize ?? 0);
      if (result.status !== "ok") progress.clear();
      reportResult(result, log, missing);
    },
  });
  progress.finish();
  if (missing.length > 0) reportMissing(missing, log);
  const { counts } = report;
  log.event({
    event: "result",
    exitCode: report.exitCode,
    checked: report.results.length - counts.missing,
    newFiles: 0,
    mismatches: counts.mismatch + counts["size-mismatch"] + counts.unreadable + counts.unverified,
    missing: counts.missing,
  });
  if (report.exitCode === MhlExit.MissingFiles) throw new CliError("Files listed in the MHL file are missing", { path, exitCode: report.exitCode });
  if (report.exitCode !== MhlExit.Ok) throw new CliError("Verification of files listed in the MHL file failed", { path, exitCode: report.exitCode });
}

/**
 * The legacy hash type that holds a `-h` value: ASC MHL v2 names map to what v1.1 writers use
 * (`xxh64` → `xxhash64be`), legacy names are taken as they are (`xxh32` means `xxhash`).
 * @throws {CliError} (usage) for formats MHL v1.1 cannot hold (c4, xxh3, xxh128).
 * @example
 * legacyHashType("xxh64"); // "xxhash64be"
 */
export function legacyHashType(name: string): LegacyHashType {
  const lower = name.trim().toLowerCase();
  if (lower === "xxh64") return "xxhash64be";
  if (lower === "xxh32") return "xxhash";
  if ((LEGACY_HASH_TYPES as readonly string[]).includes(lower)) return lower as LegacyHashType;
  throw usageError(`hash format '${name}' cannot be written to a legacy MHL v1.1 file; use md5, sha1, xxh64 (xxhash64be), xxhash64 or xxhash`);
}

/** Options of {@link createLegacyFile}. */
export interface LegacyCreateOptions {
  /** `-h` values; see {@link legacyHashType}. Empty means xxh64 (`xxhash64be`). */
  formats: string[];
  /** `<creatorinfo><name>`. */
  authorName?: string;
  ignore?: string[];
  ignoreFile?: string;
  /** Files hashed at once (`--jobs`). @default files in slow formats spread over the cores (hashingPlan) */
  jobs?: number;
  /** Makes the progress sink, when progress is shown. */
  progress?: ProgressFactory;
  /** Links met in the walk: `follow` takes a link to a file inside the tree as that file, `skip` leaves links out. @default "follow" */
  links?: LinkPolicy;
  /** FIFOs, sockets and devices: `fail` names each and fails the run, `skip` leaves them out. @default "fail" */
  special?: SpecialPolicy;
}

/** The login name, or undefined where the system has none for this uid (some containers). */
function currentUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER || undefined;
  }
}

const pad = (n: number) => String(n).padStart(2, "0");

/**
 * The name Silverstack, ShotPut Pro and the original `mhl seal` give a seal: the folder's name
 * and the local date and time, `<root>_<YYYY-MM-DD>_<HHMMSS>.mhl`.
 * @example
 * legacyFileName("/Volumes/RAID/A001", new Date(2016, 3, 18, 14, 46, 45)); // "A001_2016-04-18_144645.mhl"
 */
export function legacyFileName(root: string, date: Date): string {
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${basename(root)}_${day}_${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}.mhl`;
}

/**
 * Seals `root` into a new legacy MHL v1.1 file in `root`: every file below it (without the
 * default ignores, `-i`/`-ii` patterns and the `.mhl` files at the top, which are the seals
 * themselves), hashed with each requested type.
 * @returns the path of the written file.
 * @throws {CliError} (usage) for a format v1.1 cannot hold; 2 when a file cannot be read or the
 *   MHL file already exists.
 * @example
 * import { Output } from "../cli/output.ts";
 * import { MhlLog } from "./log.ts";
 * const file = await createLegacyFile("/Volumes/RAID/A001", { formats: ["xxh64", "md5"] }, new MhlLog({ output: new Output() }));
 */
export async function createLegacyFile(root: string, options: LegacyCreateOptions, log: MhlLog): Promise<string> {
  const types = [...new Set((options.formats.length > 0 ? options.formats : ["xxh64"]).map(legacyHashType))];
  const ordered = LEGACY_HASH_TYPES.filter((t) => types.includes(t));
  const started = now();
  const target = join(root, legacyFileName(root, started));
  if (existsSync(target)) throw new CliError("File exists", { path: target });
  log.verbose(`Creating new legacy MHL file for folder at path: ${showName(root)} ...`);
  // Files are read through descriptors opened beneath the root, as create and verify read them:
  // a name swapped for a link after the walk is refused, not followed out of the tree.
  await withFilesBeneath(root, (held, opened) => sealBeneath(held, opened, { target, started, ordered }, options, log));
  return target;
}

/** {@link createLegacyFile} once the root is held: walks, hashes in the `ordered` types and writes `target`, started at `started`. */
async function sealBeneath(held: HeldFolder, opened: FilesBeneath, seal: { target: string; started: Date; ordered: LegacyHashType[] }, options: LegacyCreateOptions, log: MhlLog): Promise<void> {
  const { target, started, ordered } = seal;
  const fixedClock = Boolean(process.env[NOW_VARIABLE]);
  const ignore = IgnoreSpec.forRun(undefined, options.ignore ?? [], options.ignoreFile);
  let refused = 0;
  const walkOptions = walkPolicies(options, log);
  const files = postOrderFolders(
    held,
    ignore,
    (path, message) => {
      refused++;
      log.error(`ERROR: ${showName(path)}: ${message}`);
    },
    walkOptions,
  )
    .flatMap((folder) => folder.entries)
    .filter((e) => !e.isDirectory && !(!e.relativePath.includes("/") && e.name.toLowerCase().endsWith(".mhl")))
    .filter((e) => {
      const problem = xmlNameProblem(e.relativePath);
      if (problem === undefined) return true;
      refused++;
      log.error(`ERROR: ${showName(e.relativePath)}: ${problem}, which an MHL file cannot record; this file is left out (rename it to record it)`);
      return false;
    })
    .sort((a, b) => (a.relativePath < b.relativePath ? -1 : a.relativePath > b.relativePath ? 1 : 0));
  const progress = options.progress?.({ files: files.length, bytes: files.reduce((sum, f) => sum + f.size, 0) }) ?? NO_PROGRESS;
  const algorithms = [...new Set(ordered.map((t) => LEGACY_ALGORITHM[t]))];
  const entries: LegacyEntryInput[] = [];
  const hashing = hashingPlan(options.jobs, algorithms, files.length);
  await hashInOrder(
    files,
    hashing.parallelism,
    (f) => opened.work(f.relativePath, f.path, algorithms),
    (f, result: HashJobResult | undefined) => {
      if (result) opened.done(f.relativePath);
      if (!result?.ok) throw new CliError(result?.message ?? "could not be hashed", { path: f.path });
      progress.fileDone(result.size);
      const digests = new Map(result.hexes);
      const hashes: Partial<Record<LegacyHashType, string>> = {};
      for (const type of ordered) {
        hashes[type] = legacyNotation(type, digests.get(LEGACY_ALGORITHM[type])!);
        log.verbose(`  created original hash for     ${showName(f.relativePath)}  ${type}: ${hashes[type]}`);
        log.event({ event: "original", path: f.relativePath, format: type, hash: hashes[type] });
      }
      entries.push({ file: f.relativePath, size: result.size, lastmodificationdate: new Date(f.mtimeMs), hashdate: fixedClock ? started : new Date(), hashes });
    },
    hashing.options,
  );
  progress.finish();

  writeLegacyMhl(target, {
    creator: {
      name: options.authorName,
      username: currentUser(),
      hostname: process.env[HOSTNAME_VARIABLE] || hostname(),
      tool: `mhl-verify ${VERSION}`,
      startdate: started,
      finishdate: fixedClock ? started : new Date(),
    },
    entries,
  });
  log.verbose(`Created new legacy MHL file ${basename(target)}`);
  log.event({ event: "legacy-mhl", path: target });
  if (refused > 0) throw entriesError(refused, "recorded", "the MHL file lists the rest", target);
}
