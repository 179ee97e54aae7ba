/**
 * The offline catalog: every file of every tape, searchable with no tape loaded. Tapes are read
 * from virtual tapes (their latest index), mounted LTFS volumes (a walk with LTFS's attributes)
 * or saved index XML; each file becomes one record (tape serial, path, size, digests, start
 * block). The catalog is written as JSON and as one self-contained HTML page (see
 * `catalog_html.ts`).
 */
import { lstatSync, statfsSync, statSync } from "node:fs";
import { readRegularFile } from "../io/held_folder.ts";
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
}

/** The files of a catalog entry; undefined when the list is not what `write` writes (the entry is then not trusted). */
function entryFiles(files: unknown): EntryFile[] | undefined {
  if (!Array.isArray(files)) return undefined;
  const out: EntryFile[] = [];
  for (const f of files as unknown[]) {
    if (typeof f !== "object" || f === null) return undefined;
    const { path, size, modified, hashes, startBlock } = f as Record<string, unknown>;
    if (typeof path !== "string" || typeof size !== "number" || (modified !== undefined && typeof modified !== "string") || (startBlock !== undefined && typeof startBlock !== "number")) return undefined;
    if (hashes !== undefined && (typeof hashes !== "object" || hashes === null || Object.values(hashes).some((hex) => typeof hex !== "string"))) return undefined;
    out.push({ path, size, hashes: Object.fromEntries(Object.entries((hashes ?? {}) as Record<string, string>)), ...(modified !== undefined ? { modified } : {}) });
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
  // An entry that is not what `write` writes holds the tape to nothing: on a volume ltfs-pack
  // formatted that is as good as none.
  const unreadable = (): EntryFacts => ({ status: ours ? "incomplete" : "unknown", note: `its ${TAPE_CATALOG_FILE} cannot be read` });
  let entry: { tape?: { usableBytes?: unknown }; notWritten?: unknown; files?: unknown };
  try {
    entry = JSON.parse(text);
  } catch {
    return unreadable();
  }
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return unreadable();
  const written = entryFiles(entry.files);
  if (!written) return unreadable();
  const facts: EntryFacts = { status: "complete", written };
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
 * Whether a file's time on the tape (ISO or index time) is not the one written, by more than a
 * millisecond (before 1970, one rounding of nanoseconds truncates where the other floors). A
 * time written that does not read compares as no difference; one on the tape that does not
 * read, against one that does, is a difference.
 */
function timesDiffer(written: string | undefined, onTape: string | undefined): boolean {
  if (written === undefined) return false;
  const was = ltfsTimeMs(written);
  if (Number.isNaN(was)) return false;
  const now = onTape === undefined ? Number.NaN : ltfsTimeMs(onTape);
  return Number.isNaN(now) || Math.abs(now - was) > 1;
}

/**
 * Holds the tape to its catalog entry: a file the write put on it that is gone, or that differs
 * in size, digest attribute or (on LTFS, which keeps times to the nanosecond) modification time
 * (removed, replaced, rewritten or touched since), makes the tape incomplete, each named once.
 * Names are compared as LTFS presents them (NFC). Start blocks are not compared: LTFS moves
 * files between partitions by its placement rules. Files added since are cataloged as found.
 */
function holdToEntry(facts: EntryFacts, records: readonly CatalogRecord[], ltfs: boolean): Omit<EntryFacts, "written"> {
  const { written, ...rest } = facts;
  if (!written || facts.status === "unknown") return rest;
  const onTape = new Map<string, CatalogRecord>();
  for (const r of records) onTape.set(r.path, r);
  for (const r of records) if (!onTape.has(r.path.normalize("NFC"))) onTape.set(r.path.normalize("NFC"), r);
  const changed: NonNullable<CatalogTape["changed"]> = [];
  const seen = new Set<string>();
  for (const f of written) {
    if (isBookkeeping(f.path) || seen.has(f.path)) continue;
    seen.add(f.path);
    const r = onTape.get(f.path) ?? onTape.get(f.path.normalize("NFC"));
    const why = !r
      ? "not on the tape"
      : r.size !== f.size
        ? `${r.size} bytes on the tape, ${f.size} when written`
        : Object.entries(f.hashes).some(([format, hex]) => Object.hasOwn(r.hashes, format) && r.hashes[format] !== hex)
          ? "its digest on the tape is not the one written"
          : ltfs && timesDiffer(f.modified, r.modified)
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
    // A symbolic link is not a file of the tape (a file replaced by one is missing from it).
    if (isBookkeeping(path) || file.symlinkTarget !== undefined) continue;
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
    ...holdToEntry(facts, records, true),
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
  // A FIFO planted where the entry goes is never waited on, a link never followed.
  let entryText: string | undefined;
  try {
    entryText = readRegularFile(join(mount, TAPE_CATALOG_FILE)).toString("utf8");
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
  const facts = holdToEntry(entryFacts(entryText, undefined, creatorIsWrite(getXattr(mount, "user.ltfs.labelCreator") ?? "")), records, getXattr(mount, "user.ltfs.volumeUUID") !== undefined);
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
