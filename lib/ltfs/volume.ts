/**
 * Reading an LTFS volume on a virtual tape without the reference implementation: its labels,
 * the latest index (the newer of the index partition's and the last complete one on the data
 * partition, so an interrupted write still reads as of its last file set), and any file's bytes
 * through its extents.
 */
import { closeSync } from "node:fs";
import { fillChunk } from "../io/fill.ts";
import { CliError, describeSystemError } from "../core/errors.ts";
import { XmlError } from "../xml/xml.ts";
import { showName } from "../core/names.ts";
import type { IndexProblem } from "./index_check.ts";
import type { LtfsDirectory, LtfsEntry, LtfsFile, LtfsIndex } from "./index_model.ts";
import { readIndexXml } from "./index_xml.ts";
import { readLabelXml, readVol1, type LtfsLabel } from "./label.ts";
import { DATA_PARTITION, INDEX_PARTITION, RefusedRecord, VtapeReader } from "./vtape.ts";

/** An index as found on tape. */
export interface FoundIndex {
  index: LtfsIndex;
  /** The XML as stored. */
  xml: string;
  partition: number;
  block: number;
}

/** A file of the index with its path. */
export interface IndexedFile {
  /** `/`-separated, from the volume root, without a leading `/`. */
  path: string;
  file: LtfsFile;
}

/** A virtual tape opened for reading. */
export class Volume {
  readonly dir: string;
  readonly tape: VtapeReader;
  readonly label: LtfsLabel;
  /** The newest index on the tape. */
  readonly latest: FoundIndex;
  /** Data-partition end of data, and whether it had its mark. */
  readonly dataEnd: { block: number; complete: boolean };
  /**
   * True when the index partition holds the latest generation, as a volume closed (unmounted)
   * cleanly does; a write that was interrupted leaves newer indexes on the data partition only.
   */
  readonly closed: boolean;

  private constructor(dir: string, tape: VtapeReader, label: LtfsLabel, latest: FoundIndex, dataEnd: { block: number; complete: boolean }, closed: boolean) {
    this.dir = dir;
    this.tape = tape;
    this.label = label;
    this.latest = latest;
    this.dataEnd = dataEnd;
    this.closed = closed;
  }

  /**
   * Opens the virtual tape in `dir`.
   * @throws {CliError} naming the folder when it is not an LTFS virtual tape or holds no readable index;
   *   {@link RefusedRecord} (exit 1) when a label or index record is a link or not a regular file.
   */
  static open(dir: string): Volume {
    let tape: VtapeReader;
    try {
      tape = new VtapeReader(dir);
    } catch (error) {
      throw new CliError(`cannot be read as a virtual tape: ${describeSystemError(error)}`, { path: dir });
    }
    try {
      return Volume.#read(dir, tape);
    } catch (error) {
      tape.close();
      throw error;
    }
  }

  static #read(dir: string, tape: VtapeReader): Volume {
    const notLtfs = (why: string) => new CliError(`is not an LTFS virtual tape (${why}); give the folder written by 'ltfs-pack write --vtape'`, { path: dir });
    if (tape.kind(INDEX_PARTITION, 0) !== "R" || tape.kind(DATA_PARTITION, 0) !== "R") throw notLtfs("no VOL1 record at block 0");
    const serial = readVol1(tape.readRecord(DATA_PARTITION, 0));
    if (serial === undefined) throw notLtfs("block 0 is not an LTFS VOL1 label");
    if (tape.kind(DATA_PARTITION, 2) !== "R") throw notLtfs("no ltfslabel record at block 2");
    let label: LtfsLabel;
    try {
      label = readLabelXml(new TextDecoder().decode(tape.readRecord(DATA_PARTITION, 2)), `${dir}/1_2_R`, serial);
    } catch (error) {
      if (error instanceof XmlError) throw notLtfs(error.message);
      throw error;
    }
    const candidates: FoundIndex[] = [];
    for (const partition of [INDEX_PARTITION, DATA_PARTITION]) {
      const found = lastIndexOn(tape, partition, dir);
      if (found) candidates.push(found);
    }
    if (candidates.length === 0) throw notLtfs("no readable index on either partition");
    const latest = candidates.reduce((a, b) => (b.index.generationNumber > a.index.generationNumber ? b : a));
    const closed = candidates.some((c) => c.partition === INDEX_PARTITION && c.index.generationNumber === latest.index.generationNumber);
    return new Volume(dir, tape, label, latest, tape.endOfData(DATA_PARTITION), closed);
  }

  /** Every file of the latest index, in tree order. */
  files(): IndexedFile[] {
    return indexFiles(this.latest.index.root);
  }

  /** The physical partition of an extent's partition letter. */
  partitionNumber(letter: string): number {
    return letter === this.label.indexPartition ? INDEX_PARTITION : DATA_PARTITION;
  }

  /**
   * Streams a file's bytes, extent by extent, as whole records (the last one cut to length);
   * bytes no extent covers are zeros. Each chunk is valid until the next is asked for.
   * @throws {CliError} naming the file when a record is missing or shorter than its extent needs.
   */
  *read(entry: IndexedFile): Generator<Uint8Array> {
    const blockSize = this.label.blockSize;
    const extents = [...entry.file.extents].sort((a, b) => a.fileOffset - b.fileOffset);
    let offset = 0;
    const zeros = (n: number) => new Uint8Array(Math.min(n, blockSize));
    for (const extent of extents) {
      while (offset < extent.fileOffset) {
        const chunk = zeros(extent.fileOffset - offset);
        offset += chunk.length;
        yield chunk;
      }
      const partition = this.partitionNumber(extent.partition);
      let block = extent.startBlock;
      let skip = extent.byteOffset;
      let left = extent.byteCount;
      const buffer = new Uint8Array(blockSize);
      while (left > 0) {
        if (this.tape.kind(partition, block) !== "R") throw new CliError(`${showName(entry.path)}: block ${block} of partition ${extent.partition} holds no record`, { path: this.dir });
        let fd: number;
        try {
          fd = this.tape.openRecord(partition, block);
        } catch (error) {
          if (error instanceof RefusedRecord) throw new CliError(`${showName(entry.path)}: ${error.message}`, { path: this.dir, exitCode: error.exitCode });
          throw new CliError(`${showName(entry.path)}: block ${block} cannot be read: ${describeSystemError(error)}`, { path: this.dir });
        }
        let got: number;
        try {
          got = fillChunk(fd, buffer, 0, blockSize, 0);
        } finally {
          closeSync(fd);
        }
        const take = Math.min(left, got - skip);
        if (take <= 0) throw new CliError(`${showName(entry.path)}: block ${block} of partition ${extent.partition} is ${got} bytes, too short for the extent`, { path: this.dir });
        yield buffer.subarray(skip, skip + take);
        left -= take;
        offset += take;
        skip = 0;
        block++;
      }
    }
    while (offset < entry.file.length) {
      const chunk = zeros(entry.file.length - offset);
      offset += chunk.length;
      yield chunk;
    }
  }

  /** Lets go of the tape folder. */
  close(): void {
    this.tape.close();
  }

  /** A whole (small) file's bytes. */
  readAll(entry: IndexedFile): Uint8Array {
    // read() hands out one reused buffer; each chunk is copied before the next is read.
    const parts: Uint8Array[] = [];
    for (const chunk of this.read(entry)) parts.push(chunk.slice());
    return Buffer.concat(parts);
  }
}

/**
 * Every entry below a directory (files and directories) with its path, in tree order: each
 * directory's contents in index order, a directory before what it holds. Iterative, so an index
 * nested deeper than the call stack is walked too.
 */
export function* indexEntries(root: LtfsDirectory): Generator<{ path: string; entry: LtfsEntry }> {
  const stack: Array<{ directory: LtfsDirectory; prefix: string; next: number }> = [{ directory: root, prefix: "", next: 0 }];
  while (stack.length > 0) {
    const top = stack.at(-1)!;
    const entry = top.directory.contents[top.next++];
    if (entry === undefined) {
      stack.pop();
      continue;
    }
    const path = top.prefix === "" ? entry.name : `${top.prefix}/${entry.name}`;
    yield { path, entry };
    if (entry.kind === "directory") stack.push({ directory: entry, prefix: path, next: 0 });
  }
}

/** Every file under a directory, with paths, in tree order. */
export function indexFiles(root: LtfsDirectory): IndexedFile[] {
  const out: IndexedFile[] = [];
  for (const { path, entry } of indexEntries(root)) if (entry.kind === "file") out.push({ path, file: entry });
  return out;
}

/** Every directory under a directory (not itself), by path. */
export function indexFolders(root: LtfsDirectory): string[] {
  const out: string[] = [];
  for (const { path, entry } of indexEntries(root)) if (entry.kind === "directory") out.push(path);
  return out;
}

/** An index construct's records read and parsed, or why they could not be. */
type ReadConstruct = { found: FoundIndex; error?: undefined } | { found?: undefined; error: string };

/** Reads the index whose records start at `first` and run to the next file mark. */
function readIndexAt(tape: VtapeReader, partition: number, first: number, dir: string): ReadConstruct {
  if (tape.kind(partition, first) !== "R") return { error: `no index record at block ${first}` };
  const parts: Uint8Array[] = [];
  let block = first;
  for (; tape.kind(partition, block) === "R"; block++) parts.push(tape.readRecord(partition, block));
  if (tape.kind(partition, block) !== "F") return { error: `the index at block ${first} is not followed by a file mark` };
  let xml: string;
  try {
    xml = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(parts));
  } catch {
    return { error: `the index at block ${first} is not UTF-8` };
  }
  if (!xml.slice(0, 256).includes("<ltfsindex")) return { error: `block ${first} does not begin an index` };
  try {
    return { found: { index: readIndexXml(xml, `${dir}/${partition}_${first}_R`), xml, partition, block: first } };
  } catch (error) {
    if (!(error instanceof XmlError)) throw error;
    return { error: error.message };
  }
}

/** The first block of the partition's last index construct (file mark, records, file mark, end), if it ends in one. */
function lastConstructStart(tape: VtapeReader, partition: number): number | undefined {
  const mark = tape.endOfData(partition).block - 1;
  if (mark <= 3 || tape.kind(partition, mark) !== "F" || tape.kind(partition, mark - 1) !== "R") return undefined;
  let first = mark - 1;
  while (first > 0 && tape.kind(partition, first - 1) === "R") first--;
  return tape.kind(partition, first - 1) === "F" ? first : undefined;
}

/**
 * The last complete index construct on a partition: searching back from its end for a file
 * mark preceded by records that read as an index, which themselves follow a file mark.
 */
function lastIndexOn(tape: VtapeReader, partition: number, dir: string): FoundIndex | undefined {
  const end = tape.endOfData(partition).block;
  for (let mark = end - 1; mark > 3; mark--) {
    if (tape.kind(partition, mark) !== "F" || tape.kind(partition, mark - 1) !== "R") continue;
    let first = mark - 1;
    while (first > 0 && tape.kind(partition, first - 1) === "R") first--;
    if (tape.kind(partition, first - 1) !== "F") continue;
    const read = readIndexAt(tape, partition, first, dir);
    if (read.found) return read.found;
    mark = first;
  }
  return undefined;
}

/** Most differences between two copies of an index that are named one by one. */
const MAX_DIFFERENCES = 20;

/**
 * What two copies of one index generation must agree on, per entry. Not the access time: the
 * reference LTFS counts files read on a mount as a change to access times alone, which makes no
 * new generation, and at unmount writes the index partition's copy with the new times over the
 * same generation number as the data partition's (src/libltfs/ltfs.c, `ltfs_set_index_dirty`
 * and `ltfs_unmount`).
 */
function entryFields(entry: LtfsEntry): Record<string, string> {
  const fields: Record<string, string> = {
    kind: entry.kind,
    readonly: String(entry.readOnly),
    fileuid: String(entry.fileUid),
    creationtime: entry.creationTime,
    changetime: entry.changeTime,
    modifytime: entry.modifyTime,
    backuptime: entry.backupTime,
    // Text and bytes apart: bytes whose base64 is a copy's text are not that text.
    extendedattributes: JSON.stringify(entry.xattrs.map(({ key, value }) => (typeof value === "string" ? [key, "text", value] : [key, "base64", Buffer.from(value).toString("base64")]))),
  };
  if (entry.kind === "file") {
    fields.length = String(entry.length);
    fields.extents = JSON.stringify(entry.extents);
    if (entry.symlinkTarget !== undefined) fields.symlink = entry.symlinkTarget;
  }
  return fields;
}

/**
 * Where the data partition's copy of an index generation differs from the index partition's
 * (the location, the back pointer, the update time and access times may differ; nothing else).
 */
function indexDifferences(onIndex: LtfsIndex, onData: LtfsIndex, where: string): IndexProblem[] {
  const problems: IndexProblem[] = [];
  const say = (path: string, what: string, a: string | undefined, b: string | undefined) => problems.push({ path, message: a === undefined ? `${what} only in ${where}` : b === undefined ? `${what} missing from ${where}` : `${what} is ${showName(a)} in the index partition's copy, ${showName(b)} in ${where}` });
  for (const field of ["volumeUuid", "highestFileUid", "allowPolicyUpdate", "volumeLockState"] as const) {
    const a = String(onIndex[field]);
    const b = String(onData[field]);
    if (a !== b) say("ltfsindex", field.toLowerCase(), a, b);
  }
  const byPath = new Map<string, Record<string, string>>();
  byPath.set("/", entryFields(onIndex.root));
  for (const { path, entry } of indexEntries(onIndex.root)) byPath.set(`/${path}`, entryFields(entry));
  const seen = new Set<string>();
  const compare = (path: string, b: Record<string, string>) => {
    seen.add(path);
    const a = byPath.get(path);
    if (!a) return say(path, "the entry is", undefined, "");
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) if (a[key] !== b[key]) say(path, key, a[key], b[key]);
  };
  compare("/", entryFields(onData.root));
  for (const { path, entry } of indexEntries(onData.root)) compare(`/${path}`, entryFields(entry));
  for (const path of byPath.keys()) if (!seen.has(path)) say(path, "the entry is", "", undefined);
  if (problems.length > MAX_DIFFERENCES) {
    const more = problems.length - MAX_DIFFERENCES;
    problems.length = MAX_DIFFERENCES;
    problems.push({ path: "ltfsindex", message: `and ${more} more difference(s) between the two copies` });
  }
  return problems;
}

/**
 * Checks the indexes a reader falls back on: the last index on each partition must read, and
 * the index partition's must have an identical copy on the data partition where its back
 * pointer says (LTFS writes every generation there first). A reader uses one copy; damage to
 * the other is found only here.
 */
export function checkIndexCopies(volume: Volume): IndexProblem[] {
  const { tape, dir, label } = volume;
  const problems: IndexProblem[] = [];
  const name = (partition: number) => (partition === INDEX_PARTITION ? `index partition (${label.indexPartition})` : `data partition (${label.dataPartition})`);
  let checkedOnData: number | undefined;
  const ipStart = lastConstructStart(tape, INDEX_PARTITION);
  const ip = ipStart === undefined ? undefined : readIndexAt(tape, INDEX_PARTITION, ipStart, dir);
  if (ip === undefined) problems.push({ path: "ltfsindex", message: `the ${name(INDEX_PARTITION)} does not end with an index` });
  else if (ip.error !== undefined) problems.push({ path: "ltfsindex", message: `the last index on the ${name(INDEX_PARTITION)} (block ${ipStart}) cannot be read: ${ip.error}` });
  else {
    const back = ip.found.index.previousGenerationLocation;
    const generation = ip.found.index.generationNumber;
    if (!back || back.partition !== label.dataPartition) {
      problems.push({ path: "ltfsindex", message: `the index partition's generation ${generation} does not point back to its copy on the data partition` });
    } else {
      checkedOnData = back.startBlock;
      const copy = readIndexAt(tape, DATA_PARTITION, back.startBlock, dir);
      const where = `the data partition's copy (block ${back.startBlock})`;
      if (copy.error !== undefined) problems.push({ path: "ltfsindex", message: `${where} of generation ${generation} cannot be read: ${copy.error}` });
      else if (copy.found.index.generationNumber > generation) {
        problems.push({ path: "ltfsindex", message: `${where} is generation ${copy.found.index.generationNumber}, newer than the index partition's ${generation}` });
      } else if (copy.found.index.generationNumber === generation) problems.push(...indexDifferences(ip.found.index, copy.found.index, where));
      // An older generation there is how the reference leaves a volume whose index changed with
      // nothing written to the data partition since its last index (a folder made, times or an
      // attribute set, files moved to the index partition by a placement policy): it writes the
      // new generation on the index partition only, pointing back to that one
      // (src/libltfs/ltfs.c, `ltfs_write_index`; ltfsck calls it consistent). Nothing to compare.
    }
  }
  const dpStart = lastConstructStart(tape, DATA_PARTITION);
  if (dpStart === undefined) problems.push({ path: "ltfsindex", message: `the ${name(DATA_PARTITION)} does not end with an index` });
  else if (dpStart !== checkedOnData) {
    const dp = readIndexAt(tape, DATA_PARTITION, dpStart, dir);
    if (dp.error !== undefined) problems.push({ path: "ltfsindex", message: `the last index on the ${name(DATA_PARTITION)} (block ${dpStart}) cannot be read: ${dp.error}` });
  }
  return problems;
}
