/**
 * The offline catalog: every file of every tape, searchable with no tape loaded. Tapes are read
 * from virtual tapes (their latest index), mounted LTFS volumes (a walk with LTFS's attributes)
 * or saved index XML; each file becomes one record (tape serial, path, size, digests, start
 * block). The catalog is written as JSON and as one self-contained HTML page (see
 * `catalog_html.ts`).
 */
import { lstatSync, readFileSync, statfsSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { CliError, describeSystemError } from "../core/errors.ts";
import { DEFAULT_IGNORES, IgnoreList } from "../io/ignore.ts";
import { getXattr } from "../io/libc.ts";
import { walkFiles } from "../io/walk.ts";
import { type LtfsIndex, ltfsTimeMs } from "./index_model.ts";
import { readIndexFile } from "./index_xml.ts";
import { showName } from "../core/names.ts";
import { checkIndexCopies, indexFiles, Volume } from "./volume.ts";
import { TAPE_CATALOG_FILE } from "./plan.ts";
import { creatorIsWrite, hashesFromXattrs, hashesOnMount } from "./write.ts";

/** One tape of the catalog. */
export interface CatalogTape {
  serial: string;
  volumeUuid?: string;
  /** Where it was read from, and how. */
  source: string;
  kind: "vtape" | "mount" | "index";
  generation?: number;
  updated?: string;
  files: number;
  bytes: number;
  /** Bytes of file data the tape holds when full, where known (for the fill bar). */
  capacityBytes?: number;
  /**
   * `complete`: written by `ltfs-pack write` to its end with every file of its plan;
   * `incomplete`: files of its plan were not written, or its write never finished;
   * `unknown`: no record of its plan (a saved index, a tape written by other software).
   */
  status: "complete" | "incomplete" | "unknown";
  /** Why it is incomplete or unknown. */
  note?: string;
  /** Files of its plan that are not on it. */
  notWritten?: { path: string; size: number; reason: string }[];
  /** Files its catalog entry says were written to it that are missing from it or changed on it since. */
  changed?: { path: string; size: number; reason: string }[];
  /**
   * What is wrong with a virtual tape's indexes (a copy that does not read, or two copies of the
   * latest that disagree): its records may not be what the tape holds; verify it.
   */
  indexProblems?: string[];
}

/** One file on one tape. */
export interface CatalogRecord {
  tape: string;
  path: string;
  size: number;
  /** Digests by format (`xxh128`, `md5`, …). */
  hashes: Record<string, string>;
  startBlock?: number;
  modified?: string;
}

/** A whole catalog. */
export interface Catalog {
  format: "ltfs-pack catalog";
  version: 1;
  created: string;
  tapes: CatalogTape[];
  files: CatalogRecord[];
}

/** Paths that are the tape's own bookkeeping, not content. */
function isBookkeeping(path: string): boolean {
  return path === TAPE_CATALOG_FILE || path.startsWith("ascmhl/");
}

/** What the tape's catalog entry (written last by `write`) says: capacity and completeness. */
interface EntryFacts {
  capacityBytes?: number;
  status: CatalogTape["status"];
  note?: string;
  notWritten?: CatalogTape["notWritten"];
  changed?: CatalogTape["changed"];
  /** The files the entry says the write put on the tape, to hold the tape to. */
  written?: EntryFile[];
}

/** A file as the tape's catalog entry lists it. */
interface EntryFile {
  path: string;
  size: number;
  modified?: string;
  hashes: Record<string, string>;
  startBlock?: number;
}

/** The files of a catalog entry, as far as they read (anything else is left out of the comparison). */
function entryFiles(files: unknown): EntryFile[] | undefined {
  if (!Array.isArray(files)) return undefined;
  const out: EntryFile[] = [];
  for (const f of files as Array<Record<string, unknown> | null>) {
    if (typeof f?.path !== "string" || typeof f.size !== "number") continue;
    const hashes: Record<string, string> = {};
    if (f.hashes && typeof f.hashes === "object") for (const [format, hex] of Object.entries(f.hashes)) if (typeof hex === "string") hashes[format] = hex;
    out.push({ path: f.path, size: f.size, hashes, ...(typeof f.modified === "string" ? { modified: f.modified } : {}), ...(typeof f.startBlock === "number" ? { startBlock: f.startBlock } : {}) });
  }
  return out;
}

/**
 * Reads the tape's catalog entry. `closed` tells (for a virtual tape) whether the index
 * partition holds the latest generation: a write that never finished leaves it older.
 */
function entryFacts(text: string | undefined, closed: boolean | undefined, ours: boolean): EntryFacts {
  if (text === undefined) {
    if (closed === false) return { status: "incomplete", note: "its write did not finish (no catalog entry; the index partition holds an older index than the data partition)" };
    if (ours) return { status: "incomplete", note: `its write did not finish (no ${TAPE_CATALOG_FILE} on a volume ltfs-pack formatted)` };
    return { status: "unknown", note: `no ${TAPE_CATALOG_FILE}: not written by ltfs-pack, or its write did not finish` };
  }
  let entry: { tape?: { usableBytes?: unknown }; notWritten?: unknown; files?: unknown };
  try {
    entry = JSON.parse(text);
  } catch {
    return { status: "unknown", note: `its ${TAPE_CATALOG_FILE} cannot be read` };
  }
  const facts: EntryFacts = { status: "complete" };
  const written = entryFiles(entry.files);
  if (written) facts.written = written;
  if (typeof entry.tape?.usableBytes === "number") facts.capacityBytes = entry.tape.usableBytes;
  const notWritten = (Array.isArray(entry.notWritten) ? entry.notWritten : []).filter((f) => typeof f?.path === "string").map((f) => ({ path: String(f.path), size: Number(f.size), reason: String(f.reason ?? "") }));
  if (notWritten.length > 0) {
    facts.status = "incomplete";
    facts.note = `${notWritten.length} file(s) of its plan not written`;
    facts.notWritten = notWritten;
  } else if (closed === false) {
    facts.status = "incomplete";
    facts.note = "its index partition holds an older index than its data partition (not closed cleanly)";
  }
  return facts;
}

/**
 * Whether two times (ISO or index times) differ by more than a millisecond (before 1970, one
 * rounding of nanoseconds truncates where the other floors); a time that does not read compares
 * as no difference.
 */
function timesDiffer(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const [x, y] = [ltfsTimeMs(a), ltfsTimeMs(b)];
  return !Number.isNaN(x) && !Number.isNaN(y) && Math.abs(x - y) > 1;
}

/**
 * Holds the tape to its catalog entry: a file the write put on it that is gone, or that differs
 * in size, digest, start block or modification time (replaced, rewritten or touched through a
 * mount since), makes the tape incomplete, each named. Files added since are cataloged as found.
 */
function holdToEntry(facts: EntryFacts, records: readonly CatalogRecord[]): Omit<EntryFacts, "written"> {
  const { written, ...rest } = facts;
  if (!written || facts.status === "unknown") return rest;
  const onTape = new Map(records.map((r) => [r.path, r]));
  const changed: NonNullable<CatalogTape["changed"]> = [];
  for (const f of written) {
    if (isBookkeeping(f.path)) continue;
    const r = onTape.get(f.path);
    const why = !r
      ? "not on the tape"
      : r.size !== f.size
        ? `${r.size} bytes on the tape, ${f.size} when written`
        : Object.entries(f.hashes).some(([format, hex]) => r.hashes[format] !== undefined && r.hashes[format] !== hex)
          ? "its digest on the tape is not the one written"
          : f.startBlock !== undefined && r.startBlock !== undefined && f.size > 0 && r.startBlock !== f.startBlock
            ? `its data starts at block ${r.startBlock}, written at ${f.startBlock}`
            : timesDiffer(f.modified, r.modified)
              ? `modified ${r.modified} on the tape, ${f.modified} when written`
              : undefined;
    if (why) changed.push({ path: f.path, size: f.size, reason: why });
  }
  if (changed.length === 0) return rest;
  const note = `${rest.notWritten?.length ? `${rest.note}; ` : ""}${changed.length} file(s) written to it missing or changed on it since (verify it)`;
  return { ...rest, status: "incomplete", note, changed };
}

/** Records and the tape line from an index. */
function fromIndex(index: LtfsIndex, serial: string, source: string, kind: CatalogTape["kind"], facts: EntryFacts): { tape: CatalogTape; records: CatalogRecord[] } {
  const records: CatalogRecord[] = [];
  for (const { path, file } of indexFiles(index.root)) {
    if (isBookkeeping(path)) continue;
    const record: CatalogRecord = { tape: serial, path, size: file.length, hashes: Object.fromEntries(hashesFromXattrs(file.xattrs)), modified: file.modifyTime };
    if (file.extents.length > 0) record.startBlock = Math.min(...file.extents.map((e) => e.startBlock));
    records.push(record);
  }
  const tape: CatalogTape = {
    serial,
    volumeUuid: index.volumeUuid,
    source,
    kind,
    generation: index.generationNumber,
    updated: index.updateTime,
    files: records.length,
    bytes: records.reduce((sum, r) => sum + r.size, 0),
    ...holdToEntry(facts, records),
  };
  return { tape, records };
}

/**
 * Reads one tape for the catalog: a virtual tape folder, an LTFS mount point (a folder that is
 * not a virtual tape), or an index XML file.
 * @throws {CliError} naming the path when it is none of these or cannot be read.
 */
export function readTapeForCatalog(path: string): { tape: CatalogTape; records: CatalogRecord[] } {
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    throw new CliError(`cannot be read: ${describeSystemError(error)}`, { path });
  }
  if (stat.isFile()) {
    const { index } = readIndexFile(path);
    return fromIndex(index, index.root.name || basename(path).replace(/\.xml$/i, ""), path, "index", { status: "unknown", note: "a saved index: the tape's record of its plan is not read" });
  }
  try {
    // A link there too makes it a virtual tape (whose reader refuses it), not a mount to walk.
    lstatSync(join(path, "1_0_R"));
  } catch {
    return fromMount(path);
  }
  const volume = Volume.open(path);
  try {
    return fromVolume(path, volume);
  } finally {
    volume.close();
  }
}

/** A virtual tape: its latest index, its catalog entry, and whether both copies of the index agree. */
function fromVolume(path: string, volume: Volume): { tape: CatalogTape; records: CatalogRecord[] } {
  const entry = volume.files().find((f) => f.path === TAPE_CATALOG_FILE);
  const facts = entryFacts(entry ? new TextDecoder().decode(volume.readAll(entry)) : undefined, volume.closed, creatorIsWrite(volume.label.creator));
  const read = fromIndex(volume.latest.index, volume.label.serial || volume.latest.index.root.name, path, "vtape", facts);
  const problems = checkIndexCopies(volume);
  if (problems.length > 0) read.tape.indexProblems = problems.map((p) => (p.path === "ltfsindex" ? p.message : `${showName(p.path)}: ${p.message}`));
  return read;
}

/** A mounted volume: walk it, taking digests and start blocks from the attributes LTFS shows. */
function fromMount(mount: string): { tape: CatalogTape; records: CatalogRecord[] } {
  const problems: string[] = [];
  const files = walkFiles(mount, { ignore: new IgnoreList([...DEFAULT_IGNORES]), onProblem: (p) => problems.push(`${p.path}: ${p.message}`) });
  if (files.length === 0 && problems.length > 0) throw new CliError(`cannot be read: ${problems[0]}`, { path: mount });
  let entryText: string | undefined;
  try {
    entryText = readFileSync(join(mount, TAPE_CATALOG_FILE), "utf8");
  } catch {
    entryText = undefined;
  }
  let serial = getXattr(mount, "user.ltfs.volumeSerial")?.trim();
  if (!serial && entryText) {
    try {
      serial = (JSON.parse(entryText) as { tape?: { serial?: string } }).tape?.serial;
    } catch {
      serial = undefined;
    }
  }
  serial ||= basename(mount);
  const records: CatalogRecord[] = [];
  for (const f of files) {
    if (isBookkeeping(f.relativePath)) continue;
    const record: CatalogRecord = { tape: serial, path: f.relativePath, size: f.size, hashes: Object.fromEntries(hashesOnMount(f.path)), modified: new Date(f.mtimeMs).toISOString() };
    const start = getXattr(f.path, "user.ltfs.startblock");
    if (start !== undefined && f.size > 0) record.startBlock = Number(start);
    records.push(record);
  }
  // LTFS shows the label's creator as an attribute of the mount's root.
  const facts = holdToEntry(entryFacts(entryText, undefined, creatorIsWrite(getXattr(mount, "user.ltfs.labelCreator") ?? "")), records);
  let capacityBytes = facts.capacityBytes;
  if (capacityBytes === undefined) {
    try {
      const fs = statfsSync(mount);
      capacityBytes = Number(fs.blocks) * Number(fs.bsize);
    } catch {
      capacityBytes = undefined;
    }
  }
  const tape: CatalogTape = {
    serial,
    volumeUuid: getXattr(mount, "user.ltfs.volumeUUID")?.trim(),
    source: mount,
    kind: "mount",
    files: records.length,
    bytes: records.reduce((sum, r) => sum + r.size, 0),
    ...facts,
  };
  if (capacityBytes !== undefined) tape.capacityBytes = capacityBytes;
  return { tape, records };
}

/**
 * Builds the catalog of several tapes.
 * @throws {CliError} when two tapes share a serial (the catalog could not tell them apart).
 */
export function buildCatalog(paths: readonly string[], created = new Date()): Catalog {
  const tapes: CatalogTape[] = [];
  const files: CatalogRecord[] = [];
  for (const path of paths) {
    const { tape, records } = readTapeForCatalog(path);
    const twin = tapes.find((t) => t.serial === tape.serial);
    if (twin) throw new CliError(`has serial ${tape.serial}, like ${twin.source}; catalog each tape once`, { path });
    tapes.push(tape);
    files.push(...records);
  }
  return { format: "ltfs-pack catalog", version: 1, created: created.toISOString(), tapes, files };
}
