/**
 * Legacy MHL (Media Hash List 1.0 and 1.1, mediahashlist.org): the flat `<hashlist
 * version="1.1">` files that Silverstack, ShotPut Pro, Hedge, Offload Manager and the original
 * `mhl` tool write next to the folders they seal. Reading, verifying and writing.
 *
 * The format, as the 1.1 schema (MediaHashList_v1_1.xsd) and the original tool define it:
 * - `<hashlist version="1.0|1.1">` without a namespace, holding an optional `<creationdate>`,
 *   an optional `<creatorinfo>` (name, username, hostname, tool, source, startdate, finishdate,
 *   log) and one `<hash>` per file.
 * - `<hash>`: `<file>` (path relative to the folder holding the .mhl, `/`-separated), `<size>`,
 *   optional `<creationdate>`, `<lastmodificationdate>`, `<hashdate>`, and one or more of:
 *   - `<md5>`, `<sha1>`: lowercase hex;
 *   - `<xxhash>`: XXH32 as an unsigned DECIMAL number of at most 10 digits (the original tool
 *     prints it zero-padded, `%010u`);
 *   - `<xxhash64>`: XXH64 as hex of the digest's bytes in LITTLE-ENDIAN order (the original tool
 *     printed the bytes of the `uint64_t` as they lie in an x86 machine's memory); this is what
 *     `xxhsum -H1 --little-endian` prints;
 *   - `<xxhash64be>`: XXH64 big-endian hex, as `xxhsum -H1` prints it; what current tools write;
 *   - `<null/>`: no hash was computed (only the size can be checked).
 * - Dates are kept as written: the schema says xs:dateTime, but early writers used other forms
 *   (`2012-12-15 17-40-05`).
 *
 * Choices made here:
 * - Paths: `\` is read as a separator like `/`, because Windows writers put `\` in `<file>`
 *   (the original tool converts separators to the OS's when it reads); a file name containing a
 *   backslash therefore cannot be verified on Linux/macOS and would be reported missing, never
 *   wrongly verified. Absolute paths (`/x`, `C:\x`, `\\server\x`), `..` segments and NUL are
 *   refused with an error naming the .mhl and the line. Layout whitespace around a path
 *   (a leading or trailing run that contains a line break) is dropped; spaces are kept.
 * - A file whose name on disk is in another Unicode normalization than in the MHL (NFD names
 *   written on macOS) is still found: names are compared NFC when the exact name is absent.
 * - Hash elements this module does not know (e.g. `<sha256>`) are kept in `unknownHashes` and
 *   reported, never verified and never silently counted as verified. An entry with nothing
 *   verifiable is `unverified`, which fails verification: a check that proves nothing must not
 *   pass.
 * - Files in the folder that the MHL does not list are NOT errors: a legacy MHL seals what it
 *   lists, and the folder usually holds other MHLs, reports and later additions.
 */
import { guardWaitOn } from "../core/interrupt_guard.ts";
import { closeSync, fstatSync, readFileSync, statSync, type Stats } from "node:fs";
import { formatBytes } from "../core/units.ts";
import { HISTORY_FILE_MOST_BYTES, HISTORY_MOST_ELEMENTS } from "./generation.ts";
import { dirname, resolve } from "node:path";
import { joinPath } from "../core/names.ts";
import type { HeldFolder } from "../io/held_folder.ts";
import { withFilesBeneath, type FilesBeneath } from "./tree.ts";
import { CliError, describeSystemError } from "../core/errors.ts";
import { writeFileAtomically } from "../io/atomic_file.ts";
import type { Algorithm } from "../hash/algorithms.ts";
import { hashingPlan, hashInOrder } from "../hash/pool.ts";
import { MhlExit } from "./exit_codes.ts";
import { decodeXmlBytes } from "./legacy_encoding.ts";
import { childElements, parseXml, textOf, XmlWriter, type XmlElement } from "../xml/xml.ts";

/** The hash elements of legacy MHL, in the order this module writes them. */
export const LEGACY_HASH_TYPES = ["md5", "sha1", "xxhash", "xxhash64", "xxhash64be"] as const;

/** One of {@link LEGACY_HASH_TYPES}. */
export type LegacyHashType = (typeof LEGACY_HASH_TYPES)[number];

/** The cartkit algorithm that computes each legacy hash type. */
export const LEGACY_ALGORITHM: Record<LegacyHashType, Algorithm> = {
  md5: "md5",
  sha1: "sha1",
  xxhash: "xxh32",
  xxhash64: "xxh64",
  xxhash64be: "xxh64",
};

/** Who wrote the MHL, as `<creatorinfo>` says; every field as written, absent when missing. */
export interface LegacyCreatorInfo {
  name?: string;
  username?: string;
  hostname?: string;
  tool?: string;
  source?: string;
  startdate?: string;
  finishdate?: string;
  log?: string;
}

/** One `<hash>` element: a file and its hashes. */
export interface LegacyEntry {
  /** Path relative to the .mhl's folder, `/`-separated (backslashes read as separators). */
  file: string;
  /** The `<file>` text exactly as written. */
  fileAsWritten: string;
  /** Line of the `<hash>` element. */
  line: number;
  /** `<size>` in bytes, when given. */
  size?: number;
  creationdate?: string;
  lastmodificationdate?: string;
  hashdate?: string;
  /** Known hashes in MHL notation (hex lowercase, `xxhash` decimal as written). */
  hashes: Partial<Record<LegacyHashType, string>>;
  /** Other elements inside `<hash>` (hashes this module cannot check), by name. */
  unknownHashes: Record<string, string>;
  /** True when the entry has `<null/>` (no hash computed). */
  nullHash: boolean;
}

/** A legacy MHL file. */
export interface LegacyHashList {
  /** Path of the .mhl file as given. */
  path: string;
  /** `version` attribute: "1.0" or "1.1". */
  version: string;
  /** `<creationdate>` of the list, when present. */
  creationdate?: string;
  creator: LegacyCreatorInfo;
  entries: LegacyEntry[];
}

const CREATOR_FIELDS = ["name", "username", "hostname", "tool", "source", "startdate", "finishdate", "log"] as const;
const ENTRY_DATES = ["creationdate", "lastmodificationdate", "hashdate"] as const;

/**
 * True for a legacy MHL document: root element `hashlist` with `version` 1.0 or 1.1 and no
 * ASC MHL v2 namespace. Cheap: looks only at the root start tag.
 * @example
 * isLegacyMhl('<?xml version="1.0"?>\n<hashlist version="1.1"><hash/></hashlist>'); // true
 * isLegacyMhl('<hashlist version="2.0" xmlns="urn:ASC:MHL:v2.0">'); // false
 */
export function isLegacyMhl(text: string): boolean {
  // Skip the declaration, comments and processing instructions before the root element.
  const root = /^\uFEFF?(?:\s|<\?[\s\S]*?\?>|<!--[\s\S]*?-->)*<(?:[A-Za-z_][\w.-]*:)?hashlist(\s[^>]*)?\/?>/.exec(text);
  if (!root) return false;
  const attributes = root[1] ?? "";
  if (/urn:ASC:MHL/i.test(attributes)) return false;
  return /\sversion\s*=\s*["']1\.[01]["']/.test(attributes);
}

/** Drops a leading or trailing run of whitespace that contains a line break (indentation). */
function stripLayout(text: string): string {
  return text.replace(/^[ \t]*[\r\n]\s*/, "").replace(/\s*[\r\n][ \t]*$/, "");
}

/**
 * Turns a `<file>` value into a safe relative `/`-separated path, or throws naming the .mhl
 * and line. `\` counts as a separator; `.` and empty segments are dropped.
 */
function relativePathOf(written: string, mhl: string, where: string): string {
  const fail = (why: string): never => {
    throw new CliError(`${where}: ${why}: '${written}'`, { path: mhl });
  };
  if (written === "") fail("empty <file> path");
  if (written.includes("\0")) fail("<file> path contains NUL");
  if (/^[\\/]/.test(written) || /^[A-Za-z]:/.test(written)) fail("absolute <file> path is not allowed");
  const segments = written.split(/[\\/]/).filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) fail("<file> path must not contain '..'");
  if (segments.length === 0) fail("<file> path names no file");
  return segments.join("/");
}

const HEX_LENGTH: Partial<Record<LegacyHashType, number>> = { md5: 32, sha1: 40, xxhash64: 16 };

/** Validates and normalises a hash value as written; throws naming file and line. */
function normaliseHash(type: LegacyHashType, raw: string, mhl: string, where: string): string {
  const value = raw.trim().toLowerCase();
  const fail = (expected: string): never => {
    throw new CliError(`${where}: <${type}> must be ${expected}, not '${raw.trim()}'`, { path: mhl });
  };
  if (type === "xxhash") {
    if (/^\d{1,10}$/.test(value)) {
      if (Number(value) > 0xffffffff) fail("an XXH32 value (decimal, at most 4294967295)");
      return value;
    }
    // Not what the schema says, but unambiguous: 8 hex digits with a letter among them.
    if (/^[0-9a-f]{8}$/.test(value)) return value;
    return fail("an XXH32 value (decimal, at most 10 digits)");
  }
  if (type === "xxhash64be") {
    // Big-endian is a number: a writer that dropped leading zeros still means the same value.
    if (!/^[0-9a-f]{1,16}$/.test(value)) fail("16 hex digits");
    return value;
  }
  const length = HEX_LENGTH[type]!;
  if (value.length !== length || !/^[0-9a-f]+$/.test(value)) fail(`${length} hex digits`);
  return value;
}

/**
 * Converts a hash as written in a legacy MHL into the canonical hex cartkit's hashers print
 * (XXH32/XXH64 big-endian).
 * @example
 * canonicalHex("xxhash", "3204945916"); // "bf0797fc"
 * canonicalHex("xxhash64", "e338d99e661114f6"); // "f61411669ed938e3"
 */
export function canonicalHex(type: LegacyHashType, value: string): string {
  switch (type) {
    case "xxhash":
      return /^\d+$/.test(value) ? Number(value).toString(16).padStart(8, "0") : value;
    case "xxhash64":
      return value.match(/../g)!.reverse().join("");
    case "xxhash64be":
      return value.padStart(16, "0");
    default:
      return value;
  }
}

/**
 * Converts a canonical hex digest (as cartkit's hashers print it) into the notation of a legacy
 * hash element: XXH32 → 10-digit zero-padded decimal (as the original tool writes it), XXH64 →
 * little-endian hex for `xxhash64`, big-endian for `xxhash64be`.
 * @example
 * legacyNotation("xxhash", "bf0797fc"); // "3204945916"
 * legacyNotation("xxhash64", "f61411669ed938e3"); // "e338d99e661114f6"
 */
export function legacyNotation(type: LegacyHashType, canonical: string): string {
  switch (type) {
    case "xxhash":
      return Number.parseInt(canonical, 16).toString().padStart(10, "0");
    case "xxhash64":
      return canonical.match(/../g)!.reverse().join("");
    default:
      return canonical;
  }
}

function isLegacyHashType(name: string): name is LegacyHashType {
  return (LEGACY_HASH_TYPES as readonly string[]).includes(name);
}

function parseEntry(hash: XmlElement, mhl: string): LegacyEntry {
  const entry: LegacyEntry = { file: "", fileAsWritten: "", line: hash.line, hashes: {}, unknownHashes: {}, nullHash: false };
  let sawFile = false;
  for (const child of childElements(hash)) {
    const name = child.localName;
    const fail = (why: string): never => {
      throw new CliError(`line ${child.line}: ${why}`, { path: mhl });
    };
    if (name === "file") {
      if (sawFile) fail("<hash> has more than one <file>");
      sawFile = true;
      entry.fileAsWritten = textOf(child);
      entry.file = relativePathOf(stripLayout(entry.fileAsWritten), mhl, `line ${child.line}`);
    } else if (name === "size") {
      const text = textOf(child).trim();
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) fail(`<size> must be a number of bytes, not '${text}'`);
      entry.size = Number(text);
    } else if ((ENTRY_DATES as readonly string[]).includes(name)) {
      entry[name as (typeof ENTRY_DATES)[number]] = textOf(child).trim();
    } else if (name === "null") {
      entry.nullHash = true;
    } else if (isLegacyHashType(name)) {
      const value = normaliseHash(name, textOf(child), mhl, `line ${child.line}`);
      const before = entry.hashes[name];
      if (before !== undefined && canonicalHex(name, before) !== canonicalHex(name, value)) {
        fail(`<hash> has two different <${name}> values`);
      }
      entry.hashes[name] = value;
    } else {
      entry.unknownHashes[name] = textOf(child).trim();
    }
  }
  if (!sawFile) throw new CliError(`line ${hash.line}: <hash> has no <file>`, { path: mhl });
  return entry;
}

/**
 * Parses the text of a legacy MHL file.
 * @param mhl name used in error messages
 * @throws {CliError} naming the file and line for malformed XML, a document that is not a
 * legacy MHL, unsafe paths and malformed values.
 * @example
 * declare const text: string;
 * const list = parseLegacyMhl(text, "A001_2016-04-18_144645.mhl");
 * list.entries[0]?.hashes.xxhash64be;
 */
export function parseLegacyMhl(text: string, mhl: string): LegacyHashList {
  // Each <hash> becomes an entry as soon as it is read; anything else the file holds is bounded
  // (a few megabytes of `<a/>` would otherwise be millions of elements held at once).
  const hashes: LegacyEntry[] = [];
  const root = parseXml(text, mhl, {
    maxElements: HISTORY_MOST_ELEMENTS,
    consume: (element, parent) => {
      if (parent.localName !== "hashlist" || element.localName !== "hash") return false;
      hashes.push(parseEntry(element, mhl));
      return true;
    },
  });
  const version = root.attributes.get("version");
  if (root.localName !== "hashlist" || (root.attributes.get("xmlns") ?? "").startsWith("urn:ASC:MHL")) {
    throw new CliError(`line ${root.line}: not a legacy MHL file (root element <${root.name}>${root.attributes.has("xmlns") ? ` in ${root.attributes.get("xmlns")}` : ""})`, { path: mhl });
  }
  if (version !== "1.0" && version !== "1.1") {
    throw new CliError(`line ${root.line}: unsupported MHL version '${version ?? ""}' (legacy MHL is 1.0 or 1.1)`, { path: mhl });
  }
  const list: LegacyHashList = { path: mhl, version, creator: {}, entries: hashes };
  for (const child of childElements(root)) {
    if (child.localName === "creationdate") list.creationdate = textOf(child).trim();
    else if (child.localName === "creatorinfo") {
      for (const field of childElements(child)) {
        if ((CREATOR_FIELDS as readonly string[]).includes(field.localName)) {
          list.creator[field.localName as (typeof CREATOR_FIELDS)[number]] = textOf(field).trim();
        }
      }
    }
  }
  return list;
}

/**
 * Reads a legacy MHL file (any encoding the original tool read: UTF-8, UTF-16/32, or the one the
 * XML declaration names).
 * @throws {CliError} naming the file (and line) when it cannot be read or is malformed.
 * @example
 * const list = readLegacyMhl("/Volumes/RAID/A001/A001_2016-04-18_144645.mhl");
 * for (const entry of list.entries) console.log(entry.file, entry.hashes);
 */
export function readLegacyMhl(path: string): LegacyHashList {
  let bytes: Uint8Array;
  try {
    guardWaitOn(path);
    // Read whole to be parsed, so only up to what a history's file may hold.
    const size = statSync(path).size;
    if (size > HISTORY_FILE_MOST_BYTES) throw new CliError(`more than the ${formatBytes(HISTORY_FILE_MOST_BYTES)} an MHL file is read up to; it is not read`, { path });
    bytes = readFileSync(path);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(describeSystemError(error), { path, cause: error });
  }
  return parseLegacyMhl(decodeXmlBytes(bytes, path), path);
}

/** The outcome for one entry. */
export type LegacyVerifyStatus = "ok" | "mismatch" | "size-mismatch" | "missing" | "unreadable" | "unverified";

/** One hash compared. Values are in MHL notation (decimal for `xxhash`, LE hex for `xxhash64`). */
export interface LegacyHashCheck {
  type: LegacyHashType;
  expected: string;
  actual: string;
  ok: boolean;
}

/** What verifying one entry found. */
export interface LegacyVerifyResult {
  entry: LegacyEntry;
  /** The file's path on disk (the .mhl's folder joined with the entry's path). */
  path: string;
  status: LegacyVerifyStatus;
  /** Every hash compared (empty unless the file was read). */
  checks: LegacyHashCheck[];
  /** Size found on disk, when the file could be examined. */
  actualSize?: number;
  /** Unknown hash elements of the entry, not verified. */
  unknownTypes: string[];
  /** Why a file is unreadable (or missing), as strerror says it. */
  message?: string;
}

/** The outcome of {@link verifyLegacyMhl}. */
export interface LegacyVerifyReport {
  list: LegacyHashList;
  /** The folder the entries are relative to. */
  root: string;
  /** One per entry, in the MHL's order. */
  results: LegacyVerifyResult[];
  counts: Record<LegacyVerifyStatus, number>;
  /**
   * The reference tool's codes ({@link MhlExit}): 0 all ok; 11 when anything mismatched (hash
   * or size), was unreadable or unverifiable (it wins over missing, as in the reference); else
   * 10 when files are missing.
   */
  exitCode: number;
}

/** Options for {@link verifyLegacyMhl}. */
export interface LegacyVerifyOptions {
  /**
   * Files hashed at once, each on its own worker.
   * @default files in slow formats spread over the cores (hashingPlan)
   */
  jobs?: number;
  /** Called for each entry in the MHL's order as soon as it is known. */
  onResult?: (result: LegacyVerifyResult) => void;
}

/**
 * Finds a relative path below the held folder: exactly when it exists, else comparing each name
 * in NFC so a name written NFC in the MHL finds a file stored NFD (and the reverse). Nothing is
 * resolved through a link on the way.
 */
function locate(held: HeldFolder, relative: string): string {
  try {
    if (held.stat(relative)) return relative;
  } catch {
    // fall through to the normalization-insensitive search
  }
  let folder = "";
  for (const segment of relative.split("/")) {
    const wanted = segment.normalize("NFC");
    let names: string[];
    try {
      names = held.list(folder).map((e) => e.name);
    } catch {
      return relative;
    }
    const found = names.find((n) => n === segment) ?? names.find((n) => n.normalize("NFC") === wanted);
    if (found === undefined) return relative;
    folder = folder === "" ? found : `${folder}/${found}`;
  }
  return folder;
}

/**
 * What is at a listed path, read beneath the folder: a link is followed only while it stays
 * inside (one that leaves is refused, never read); throws with the system error otherwise.
 */
function examine(held: HeldFolder, relative: string): Stats {
  const fd = held.openReadInside(relative);
  try {
    return fstatSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Verifies every file a legacy MHL lists, relative to the folder holding the .mhl: each file is
 * read once and hashed with every algorithm its entry lists; sizes are compared first (a wrong
 * size fails without reading). Files are opened beneath that folder: a listed name that is a
 * link leaving it is reported unreadable and never read. Files in the folder that the MHL does
 * not list are not errors.
 * @throws {CliError} when the MHL itself cannot be read or is malformed.
 * @example
 * const report = await verifyLegacyMhl("A001/A001_2016-04-18_144645.mhl", {
 *   jobs: 4,
 *   onResult: (r) => console.log(r.status, r.entry.file),
 * });
 * process.exitCode = report.exitCode;
 */
export async function verifyLegacyMhl(path: string, options: LegacyVerifyOptions = {}): Promise<LegacyVerifyReport> {
  const list = readLegacyMhl(path);
  return withFilesBeneath(dirname(resolve(path)), (held, opened) => verifyIn(list, held, opened, options));
}

async function verifyIn(list: LegacyHashList, held: HeldFolder, opened: FilesBeneath, options: LegacyVerifyOptions): Promise<LegacyVerifyReport> {
  const root = held.path;
  const results: LegacyVerifyResult[] = [];
  const counts: Record<LegacyVerifyStatus, number> = { ok: 0, mismatch: 0, "size-mismatch": 0, missing: 0, unreadable: 0, unverified: 0 };

  type Item = { entry: LegacyEntry; relative: string; path: string; types: LegacyHashType[]; early?: LegacyVerifyResult };
  const items: Item[] = list.entries.map((entry) => {
    const relative = locate(held, entry.file);
    const filePath = joinPath(root, relative);
    const types = LEGACY_HASH_TYPES.filter((t) => entry.hashes[t] !== undefined);
    const base = { entry, path: filePath, checks: [], unknownTypes: Object.keys(entry.unknownHashes) };
    let early: LegacyVerifyResult | undefined;
    try {
      const stat = examine(held, relative);
      if (stat.isDirectory()) early = { ...base, status: "unreadable", message: describeSystemError({ code: "EISDIR" }) };
      else if (!stat.isFile()) early = { ...base, status: "unreadable", message: "not a regular file" };
      else if (entry.size !== undefined && stat.size !== entry.size) early = { ...base, status: "size-mismatch", actualSize: stat.size };
      else if (types.length === 0) early = { ...base, status: "unverified", actualSize: stat.size };
    } catch (error) {
      const code = (error as { code?: string }).code;
      early = { ...base, status: code === "ENOENT" || code === "ENOTDIR" ? "missing" : "unreadable", message: describeSystemError(error) };
    }
    return { entry, relative, path: filePath, types, early };
  });

  const record = (result: LegacyVerifyResult) => {
    results.push(result);
    counts[result.status]++;
    options.onResult?.(result);
  };

  const read = items.filter((item) => !item.early);
  const hashing = hashingPlan(options.jobs, new Set(read.flatMap((item) => item.types.map((t) => LEGACY_ALGORITHM[t]))), read.length);
  await hashInOrder(
    items,
    hashing.parallelism,
    (item) => (item.early ? undefined : opened.work(item.relative, item.path, [...new Set(item.types.map((t) => LEGACY_ALGORITHM[t]))])),
    (item, outcome) => {
      if (outcome) opened.done(item.relative);
      if (item.early || !outcome) {
        record(item.early!);
        return;
      }
      const base = { entry: item.entry, path: item.path, unknownTypes: Object.keys(item.entry.unknownHashes) };
      if (!outcome.ok) {
        const missing = outcome.code === "ENOENT" || outcome.code === "ENOTDIR";
        record({ ...base, status: missing ? "missing" : "unreadable", checks: [], message: outcome.code ? describeSystemError({ code: outcome.code }) : outcome.message });
        return;
      }
      const digests = new Map(outcome.hexes);
      const checks = item.types.map((type): LegacyHashCheck => {
        const expected = item.entry.hashes[type]!;
        const canonical = digests.get(LEGACY_ALGORITHM[type])!;
        return { type, expected, actual: legacyNotation(type, canonical), ok: canonicalHex(type, expected) === canonical };
      });
      // The file may have changed between the size check and the read.
      const sizeOk = item.entry.size === undefined || outcome.size === item.entry.size;
      const status: LegacyVerifyStatus = checks.some((c) => !c.ok) ? "mismatch" : sizeOk ? "ok" : "size-mismatch";
      record({ ...base, status, checks, actualSize: outcome.size });
    },
    hashing.options,
  );

  const failed = counts.mismatch + counts["size-mismatch"] + counts.unreadable + counts.unverified;
  const exitCode = failed > 0 ? MhlExit.HashMismatch : counts.missing > 0 ? MhlExit.MissingFiles : MhlExit.Ok;
  return { list, root, results, counts, exitCode };
}

/** A file to list in a written legacy MHL. */
export interface LegacyEntryInput {
  /** Relative `/`-separated path (checked like a read path). */
  file: string;
  size: number;
  /** Written as `YYYY-MM-DDTHH:MM:SSZ` when a Date. */
  lastmodificationdate?: Date | string;
  hashdate?: Date | string;
  /** Hashes in MHL notation; see {@link legacyNotation} to convert hasher output. */
  hashes: Partial<Record<LegacyHashType, string>>;
}

/** What {@link writeLegacyMhl} writes. */
export interface LegacyWriteInput {
  creator: Omit<LegacyCreatorInfo, "startdate" | "finishdate"> & { startdate?: Date | string; finishdate?: Date | string };
  entries: LegacyEntryInput[];
}

/** ISO 8601 UTC to the second, as the original tool writes dates. */
function formatDate(date: Date | string | undefined): string | undefined {
  if (date === undefined || typeof date === "string") return date;
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Renders a version 1.1 legacy MHL document in the layout the original tool writes (creator info
 * first, then per file: file, size, lastmodificationdate, hashes, hashdate).
 * @throws {CliError} for an unsafe path, a malformed hash or an entry without a hash.
 * @example
 * const xml = renderLegacyMhl({
 *   creator: { name: "DIT", username: "dit", hostname: "cart-01", tool: "cartkit 0.1.0" },
 *   entries: [{ file: "Clips/A001C001.mov", size: 1024, hashes: { xxhash64be: "f61411669ed938e3" } }],
 * }, "A001.mhl");
 */
export function renderLegacyMhl(input: LegacyWriteInput, mhl: string): string {
  const w = new XmlWriter().open("hashlist", { version: "1.1" });
  w.open("creatorinfo");
  for (const field of CREATOR_FIELDS) {
    const value = field === "startdate" || field === "finishdate" ? formatDate(input.creator[field]) : input.creator[field];
    if (value !== undefined) w.leaf(field, {}, value);
  }
  w.close();
  input.entries.forEach((entry, index) => {
    const where = `entry ${index + 1}`;
    const file = relativePathOf(entry.file, mhl, where);
    if (file !== entry.file) throw new CliError(`${where}: path must be relative and '/'-separated: '${entry.file}'`, { path: mhl });
    if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw new CliError(`${where}: bad size ${entry.size}`, { path: mhl });
    const types = LEGACY_HASH_TYPES.filter((t) => entry.hashes[t] !== undefined);
    if (types.length === 0) throw new CliError(`${where}: '${entry.file}' has no hash`, { path: mhl });
    w.open("hash");
    w.leaf("file", {}, file);
    w.leaf("size", {}, String(entry.size));
    const modified = formatDate(entry.lastmodificationdate);
    if (modified !== undefined) w.leaf("lastmodificationdate", {}, modified);
    for (const type of types) w.leaf(type, {}, normaliseHash(type, entry.hashes[type]!, mhl, where));
    const hashed = formatDate(entry.hashdate);
    if (hashed !== undefined) w.leaf("hashdate", {}, hashed);
    w.close();
  });
  return w.close().toString();
}

/**
 * Writes a version 1.1 legacy MHL file (for software that reads only MHL 1.1), atomically: a
 * partial file beside it, flushed, then a rename. {@link readLegacyMhl} reads it back unchanged.
 * @throws {CliError} for bad entries or when the file cannot be written.
 * @example
 * writeLegacyMhl("A001/A001_2024-05-01_120000.mhl", {
 *   creator: { name: "DIT", username: "dit", hostname: "cart-01", tool: "cartkit 0.1.0", startdate: new Date(), finishdate: new Date() },
 *   entries: [{ file: "Clips/A001C001.mov", size: 1024, hashes: { xxhash64be: "f61411669ed938e3", md5: "91cae4eeb20d47ca70abbbf058a74e80" } }],
 * });
 */
export function writeLegacyMhl(path: string, input: LegacyWriteInput): void {
  const text = renderLegacyMhl(input, path);
  try {
    writeFileAtomically(path, text, { overwrite: true });
  } catch (error) {
    throw new CliError(describeSystemError(error), { path, cause: error });
  }
}
