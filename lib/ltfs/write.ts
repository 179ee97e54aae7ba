/**
 * Writing one tape of a plan, hashing every byte in flight: either a complete LTFS volume on a
 * virtual tape ({@link writeVtape}, the reference file backend's layout) or through a mounted
 * LTFS volume ({@link writeMount}). Both add, after the files, an ASC MHL history of the tape
 * (`ascmhl/`) and the tape's catalog entry (`ltfs-pack-catalog.json`), and both leave a
 * consistent volume at the end of a file set (a top-level folder), as LTFS syncs: those whose
 * index is due ({@link INDEX_SPACING}).
 *
 * On a virtual tape the layout is the reference's: on each partition the label construct (VOL1
 * record, file mark, `ltfslabel`), then index constructs (file mark, index records, file mark);
 * file data on the data partition in records of the block size, one extent per file. The first
 * index (generation 1) is written as `mkltfs` does, one after each file set on the data
 * partition while it is small beside the data before it ({@link INDEX_SPACING}), and at the end
 * the same generation on both partitions, the index partition's copy pointing back to the data
 * partition's.
 */
import { randomUUID } from "node:crypto";
import { closeSync, existsSync, fstatSync, mkdirSync, readdirSync, statfsSync, statSync, writeFileSync, type BigIntStats } from "node:fs";
import { join } from "node:path";
import { CliError, describeSystemError } from "../core/errors.ts";
import { turnDue } from "../core/turns.ts";
import { fsPath, joinPath, parentOf, showName } from "../core/names.ts";
import { createHashers } from "../hash/registry.ts";
import { writeAll } from "../io/atomic_file.ts";
import { fillChunk } from "../io/fill.ts";
import { HeldFolder, withFileIn, type NewFile } from "../io/held_folder.ts";
import { getXattr, setFileTimes, setXattr } from "../io/libc.ts";
import { algorithmOf, HASH_FORMATS, normalizeDigest, type HashFormat } from "../mhl/formats.ts";
import { hashBytes } from "../mhl/directory_hash.ts";
import { historyFromListing } from "../mhl/listing.ts";
import { indexTreeXml, writeIndexXml } from "./index_xml.ts";
import { emptyDirectory, formatLtfsTime, LTFS_INDEX_VERSION, ltfsTimeMs, type LtfsDirectory, type LtfsFile, type LtfsIndex, type LtfsXattr, type TapePosition } from "./index_model.ts";
import { vol1Record, writeLabelXml, type LtfsLabel } from "./label.ts";
import { sourceRootOf, TAPE_CATALOG_FILE, TAPE_HISTORY_FOLDER, type PlanFile, type PlannedFile, type PlannedFolder } from "./plan.ts";
import { cartridgeConfigXml, CARTRIDGE_CONFIG, DATA_PARTITION, INDEX_PARTITION, VtapeWriter, writeCoherency } from "./vtape.ts";

/**
 * Whether a volume label's creator is `ltfs-pack write` (`ltfs-pack <version> - <platform>`):
 * then its write ends with the catalog entry, and a volume without one is a write that did not
 * finish.
 */
export function creatorIsWrite(creator: string): boolean {
  return creator.startsWith("ltfs-pack ");
}

/** Spec-defined hash attribute names (LTFS 2.4 `ltfs.hash.*`); other formats go under `cartkit.hash.`. */
const SPEC_HASH_NAMES: Partial<Record<HashFormat, string>> = { md5: "ltfs.hash.md5sum", sha1: "ltfs.hash.sha1sum" };

/** The index attribute that holds a digest of `format`. */
export function hashAttributeName(format: HashFormat): string {
  return SPEC_HASH_NAMES[format] ?? `cartkit.hash.${format}`;
}

/** The format an index attribute holds a digest of, if it is one. */
export function formatOfHashAttribute(key: string): HashFormat | undefined {
  for (const [format, name] of Object.entries(SPEC_HASH_NAMES)) if (name === key) return format as HashFormat;
  const m = /^cartkit\.hash\.([a-z0-9]+)$/.exec(key);
  return m ? (m[1] as HashFormat) : undefined;
}

/** The digests held in an entry's index attributes, by format. */
export function hashesFromXattrs(xattrs: readonly LtfsXattr[]): Map<HashFormat, string> {
  const out = new Map<HashFormat, string>();
  for (const x of xattrs) {
    const format = formatOfHashAttribute(x.key);
    if (format && typeof x.value === "string") out.set(format, normalizeDigest(format, x.value));
  }
  return out;
}

/** The digests a mounted volume shows for a file (LTFS presents index attributes as `user.*`). */
export function hashesOnMount(path: string): Map<HashFormat, string> {
  const out = new Map<HashFormat, string>();
  for (const format of HASH_FORMATS) {
    const value = getXattr(path, `user.${hashAttributeName(format)}`);
    if (value !== undefined) out.set(format, normalizeDigest(format, value));
  }
  return out;
}

/** What happened to a file, as reported while writing. */
export type WriteEvent =
  | { event: "file"; path: string; size: number; hashes: Record<string, string>; startBlock?: number }
  | { event: "folder"; path: string }
  | { event: "failed"; path: string; message: string }
  | { event: "index"; partition: string; block: number; generation: number; reason: string }
  | { event: "warning"; message: string };

/** A file now on tape. */
export interface WrittenFile {
  path: string;
  size: number;
  modified: Date;
  hexes: Map<HashFormat, string>;
  /** Data-partition block of its first byte (vtape, or an LTFS mount that tells). */
  startBlock?: number;
}

/** What {@link writeVtape} and {@link writeMount} share. */
export interface WriteOptions {
  plan: PlanFile;
  /** 1-based tape number in the plan. */
  tapeNumber: number;
  /** Volume serial (barcode), 1–6 of A–Z, 0–9. */
  serial: string;
  formats: HashFormat[];
  /** `<tool> <version>` for the index's creator and the MHL's tool. */
  tool: { name: string; version: string };
  onEvent?: (event: WriteEvent) => void;
  /** Called with bytes done after each block, for progress. */
  onBytes?: (bytes: number) => void;
  /**
   * Flush the file system before each index becomes part of a virtual tape, so a power cut
   * leaves it consistent; false flushes nothing, as `cp` does (a killed process still leaves
   * it consistent; a power cut before the system writes it back may not). @default true
   */
  flush?: boolean;
}

/** A file of the plan that is not on the tape, and why. */
export interface UnwrittenFile {
  path: string;
  size: number;
  message: string;
}

/** The outcome. */
export interface WriteSummary {
  serial: string;
  volumeUuid?: string;
  files: WrittenFile[];
  /** Empty folders made (folders that hold files are made for them). */
  folders: string[];
  failed: UnwrittenFile[];
  bytes: number;
  /** Data-partition blocks used (vtape). */
  blocks?: number;
  generation?: number;
}

/** Timestamps of a source, in the index's time form. */
function timesOf(stat: BigIntStats, backup: string) {
  const birth = stat.birthtimeNs > 0n ? stat.birthtimeNs : stat.mtimeNs;
  return {
    creationTime: formatLtfsTime(birth),
    changeTime: formatLtfsTime(stat.ctimeNs),
    modifyTime: formatLtfsTime(stat.mtimeNs),
    accessTime: formatLtfsTime(stat.atimeNs),
    backupTime: backup,
  };
}

/**
 * Groups a tape's files into file sets: runs of files of the same card or roll (a folder in a
 * source, the plan's unit); files at a source's top level form sets of their own.
 */
function fileSets(files: readonly PlannedFile[]): PlannedFile[][] {
  const sets: PlannedFile[][] = [];
  let current: string | undefined;
  for (const file of files) {
    const parts = file.path.split("/");
    const key = parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!;
    if (key !== current || sets.length === 0) sets.push([]);
    current = key;
    sets.at(-1)!.push(file);
  }
  return sets;
}

/** The name a file set is reported by. */
function setName(set: readonly PlannedFile[]): string {
  const parts = set[0]!.path.split("/");
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/**
 * The folder a tape folder was read from: the entry's source, up as many levels as the folder
 * is above the entry (the plan's file or empty folder).
 */
function sourceFolderOf(entry: PlannedFile | PlannedFolder, folderPath: string): string {
  const levels = entry.path.split("/").length - (folderPath === "" ? 0 : folderPath.split("/").length);
  let folder = entry.source;
  for (let i = 0; i < levels; i++) folder = parentOf(folder);
  return folder;
}

/** A source file that cannot be written to tape as planned: that file fails, the others go on. */
class SourceError extends CliError {}

/**
 * The plan's source folders, each held open once: a source is opened beneath its folder,
 * following a link only while it stays inside (a plan from `--links follow` names such files),
 * never out of it, whatever the plan says.
 */
class SourceFolders {
  readonly #sources: readonly string[];
  readonly #held = new Map<string, HeldFolder | Error>();

  constructor(sources: readonly string[]) {
    this.#sources = sources;
  }

  /**
   * Opens a planned source for reading and tells what it is now.
   * @throws {SourceError} naming the source when it cannot be opened or is not a regular file.
   */
  open(file: PlannedFile): { fd: number; stat: BigIntStats } {
    const root = sourceRootOf(this.#sources, file.source);
    if (root === undefined) throw new SourceError("is outside the plan's source folders; make the plan again", { path: showName(file.source) });
    let held = this.#held.get(root);
    if (held === undefined) {
      try {
        held = HeldFolder.open(root);
      } catch (error) {
        held = error instanceof Error ? error : new Error(String(error));
      }
      this.#held.set(root, held);
    }
    if (held instanceof Error) throw new SourceError(`cannot be read: its source folder cannot be opened: ${describeSystemError(held)}`, { path: showName(file.source) });
    let fd: number;
    try {
      fd = held.openReadInside(file.source.slice((root.endsWith("/") ? root : `${root}/`).length));
    } catch (error) {
      throw new SourceError(`cannot be read: ${describeSystemError(error)}`, { path: showName(file.source) });
    }
    const stat = fstatSync(fd, { bigint: true });
    if (!stat.isFile()) {
      closeSync(fd);
      throw new SourceError("is no longer a regular file; make the plan again", { path: showName(file.source) });
    }
    // Past ±275,760 years a time is no date: the catalog and the report could not record the file.
    if (Number.isNaN(new Date(Number(stat.mtimeNs / 1_000_000n)).getTime())) {
      closeSync(fd);
      throw new SourceError(`has a modification time no date can hold (${stat.mtimeNs} ns from 1970); give it a real one (touch) and plan again`, { path: showName(file.source) });
    }
    return { fd, stat };
  }

  close(): void {
    for (const held of this.#held.values()) if (!(held instanceof Error)) held.close();
    this.#held.clear();
  }
}

/** Where a source's blocks go: a buffer to read the next block into, then how much of it to keep. */
interface BlockSink {
  buffer(): Uint8Array;
  commit(length: number): void;
}

/**
 * Reads an opened source file block by block into the buffers `sink` gives, hashing each block
 * before handing it back, and checks that it is still the file the plan saw. Closes `fd`.
 * @throws {SourceError} naming the source when it cannot be read, or its size differs from the
 *   plan's (or changed while it was read).
 */
async function readSource(file: PlannedFile, source: { fd: number; stat: BigIntStats }, formats: readonly HashFormat[], blockSize: number, sink: BlockSink, onBytes?: (n: number) => void): Promise<Map<HashFormat, string>> {
  const { fd, stat } = source;
  const path = showName(file.source);
  try {
    if (Number(stat.size) !== file.size) throw new SourceError(`is ${stat.size} bytes, the plan says ${file.size}; the file changed since the plan was made, make it again`, { path });
    const hashers = await createHashers(formats.map(algorithmOf));
    let done = 0;
    while (done < file.size) {
      const want = Math.min(blockSize, file.size - done);
      const buffer = sink.buffer();
      let got: number;
      try {
        got = fillChunk(fd, buffer, 0, want, done);
      } catch (error) {
        throw new SourceError(`read failed: ${describeSystemError(error)}`, { path });
      }
      if (got !== want) throw new SourceError(`shrank while it was read (ended at ${done + got} of ${file.size} bytes)`, { path });
      hashers.update(buffer.subarray(0, got));
      sink.commit(got);
      done += got;
      onBytes?.(got);
      // Ctrl-C and SIGTERM are handled on the event loop: it gets a turn now and then.
      const turn = turnDue();
      if (turn) await turn;
    }
    const after = fstatSync(fd, { bigint: true });
    if (Number(after.size) !== file.size || after.mtimeNs !== stat.mtimeNs) throw new SourceError("changed while it was read; write the tape again", { path });
    const hexes = new Map<HashFormat, string>();
    for (const [algorithm, hex] of hashers.hexes()) for (const f of formats) if (algorithmOf(f) === algorithm) hexes.set(f, hex);
    return hexes;
  } finally {
    closeSync(fd);
  }
}

/** What a tape holds besides its files, for its catalog entry and MHL. */
interface TapeContents {
  files: readonly WrittenFile[];
  folders: readonly { path: string; modified: Date }[];
  /** Files of the plan that are not on the tape. */
  failed: readonly UnwrittenFile[];
}

/**
 * The tape's catalog entry: what `catalog` reads back without the index, and what `verify`
 * holds the tape to — every file of the plan, with the plan's size, and the files of the plan
 * that could not be written (a tape with any is not complete).
 */
function tapeCatalogEntry(options: WriteOptions, volumeUuid: string | undefined, contents: TapeContents, written: string): Uint8Array {
  const entry = {
    format: "ltfs-pack tape",
    version: 1,
    tape: {
      serial: options.serial,
      volumeUuid,
      number: options.tapeNumber,
      of: options.plan.tapes.length,
      written,
      kind: options.plan.capacity.name,
      usableBytes: options.plan.capacity.usableBytes,
      blockSize: options.plan.capacity.blockSize,
    },
    files: contents.files.map((f) => ({ path: f.path, size: f.size, modified: f.modified.toISOString(), hashes: Object.fromEntries(f.hexes), startBlock: f.startBlock })),
    folders: contents.folders.map((f) => f.path),
    notWritten: contents.failed.map((f) => ({ path: f.path, size: f.size, reason: f.message })),
  };
  return new TextEncoder().encode(`${JSON.stringify(entry, null, 1)}\n`);
}

/**
 * The generated files that close a tape: the MHL generation (which records the catalog entry
 * too, so the whole volume verifies) and its chain, then the catalog entry, last: a tape whose
 * write stopped before the end has no entry, and `catalog` and `verify` say it is not complete.
 */
async function closingFiles(options: WriteOptions, volumeUuid: string | undefined, contents: TapeContents, date: Date): Promise<{ path: string; bytes: Uint8Array }[]> {
  const entry = tapeCatalogEntry(options, volumeUuid, contents, date.toISOString());
  const hexes = new Map<HashFormat, string>();
  for (const format of options.formats) hexes.set(format, await hashBytes(format, entry));
  // Histories the sources carry (a card's ascmhl/) are left out, as the generation's own ignore
  // patterns say; their files are still on tape with their digests in the index.
  const outsideHistories = (path: string) => !path.split("/").includes(TAPE_HISTORY_FOLDER);
  const listed = [...contents.files.filter((f) => outsideHistories(f.path)), { path: TAPE_CATALOG_FILE, size: entry.length, modified: date, hexes }];
  const history = await historyFromListing(
    listed,
    contents.folders.filter((f) => outsideHistories(f.path)),
    {
      formats: options.formats,
      rootName: options.serial,
      date,
      process: "transfer",
      tool: options.tool,
    },
  );
  return [
    { path: `${TAPE_HISTORY_FOLDER}/${history.generationFileName}`, bytes: history.generation },
    { path: `${TAPE_HISTORY_FOLDER}/ascmhl_chain.xml`, bytes: history.chain },
    { path: TAPE_CATALOG_FILE, bytes: entry },
  ];
}

/** The plan's tape `n`, or a usage error. */
export function plannedTape(plan: PlanFile, n: number) {
  const tape = plan.tapes.find((t) => t.index === n);
  if (!tape) throw new CliError(`the plan has ${plan.tapes.length} tape(s); --tape ${n} is not one of them`);
  return tape;
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Times of a folder or file as the index records them: a function of the tape path. */
type TimesOf = (path: string) => ReturnType<typeof timesOf>;

/** An index under construction: the directory tree and its UID counter. */
class IndexTree {
  readonly root: LtfsDirectory;
  #folders = new Map<string, LtfsDirectory>();
  highestUid = 1;

  constructor(volumeName: string, time: string) {
    this.root = emptyDirectory(volumeName, 1, time);
    this.#folders.set("", this.root);
  }

  nextUid(): number {
    return ++this.highestUid;
  }

  /** The folder at `path`, created (with `times(path)`) along with its parents when missing; no recursion. */
  folder(path: string, times: TimesOf): LtfsDirectory {
    const existing = this.#folders.get(path);
    if (existing) return existing;
    const missing: string[] = [];
    for (let at = path; !this.#folders.has(at); at = at.includes("/") ? at.slice(0, at.lastIndexOf("/")) : "") missing.push(at);
    let parent = this.#folders.get(missing.length === 0 ? path : parentKey(missing.at(-1)!))!;
    for (const at of missing.reverse()) {
      const folder: LtfsDirectory = { kind: "directory", name: at.slice(at.lastIndexOf("/") + 1), readOnly: false, fileUid: this.nextUid(), xattrs: [], contents: [], ...times(at) };
      parent.contents.push(folder);
      this.#folders.set(at, folder);
      parent = folder;
    }
    return parent;
  }
}

/** The tape path of the folder holding `path` ("" at the top). */
function parentKey(path: string): string {
  return path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
}

/** Times of the source folder a tape folder was read from (`entry` lies at or below it); now, when it is gone. */
function folderTimesFrom(entry: PlannedFile | PlannedFolder): TimesOf {
  return (path) => {
    const backup = formatLtfsTime(nowNs());
    try {
      return timesOf(statSync(fsPath(sourceFolderOf(entry, path)), { bigint: true }), backup);
    } catch {
      return { creationTime: backup, changeTime: backup, modifyTime: backup, accessTime: backup, backupTime: backup };
    }
  };
}

/**
 * Writes tape `tapeNumber` of the plan as a new LTFS volume in `dir` (created; it must not exist
 * or be empty). Record files are made readable by their owner only (0600): a tape may hold
 * files nobody else may read.
 * @throws {CliError} for a folder that is not empty, a plan without that tape, or a write error
 *   on the virtual tape. Source files that cannot be read are reported through `onEvent` and
 *   left out; the summary and the tape's catalog entry list them.
 */
export async function writeVtape(dir: string, options: WriteOptions): Promise<WriteSummary> {
  plannedTape(options.plan, options.tapeNumber);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new CliError("is not a folder; give a new or empty folder for the virtual tape", { path: dir });
    if (readdirSync(dir).length > 0) throw new CliError("is not empty; a virtual tape is written into a new or empty folder, never over one", { path: dir });
  }
  mkdirSync(dir, { recursive: true });

  const w = new VtapeWriter(dir, {
    recordSize: options.plan.capacity.blockSize,
    writeback: options.flush !== false,
    onNoThread: () => options.onEvent?.({ event: "warning", message: "the record writer thread did not start; writing on one thread, more slowly" }),
  });
  const sources = new SourceFolders(options.plan.sources);
  try {
    return await writeVolume(w, sources, options);
  } finally {
    w.stop();
    sources.close();
  }
}

/** The body of {@link writeVtape}: everything written through `w`. */
async function writeVolume(w: VtapeWriter, sources: SourceFolders, options: WriteOptions): Promise<WriteSummary> {
  const dir = w.dir;
  const tape = plannedTape(options.plan, options.tapeNumber);
  const capacity = options.plan.capacity;
  const blockSize = w.recordSize;
  const volumeUuid = randomUUID();
  const formatTime = formatLtfsTime(nowNs());
  const creator = `${options.tool.name} ${options.tool.version} - ${process.platform}`;
  const label: LtfsLabel = {
    serial: options.serial,
    creator,
    formatTime,
    volumeUuid,
    indexPartition: "a",
    dataPartition: "b",
    blockSize,
    compression: false,
  };
  const letter = (partition: number) => (partition === INDEX_PARTITION ? "a" : "b");
  // The backend gives 5% of its capacity to the index partition; size it so the data partition holds the plan's.
  const capacityMb = Math.ceil(capacity.dataPartitionBytes / 1_000_000 / 0.95) + 1;
  writeFileSync(join(dir, CARTRIDGE_CONFIG), cartridgeConfigXml(capacityMb));

  const records = (bytes: Uint8Array) => {
    const out: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += blockSize) out.push(bytes.subarray(at, Math.min(bytes.length, at + blockSize)));
    return out;
  };

  // Label construct on both partitions: VOL1, file mark, ltfslabel, file mark.
  for (const partition of [DATA_PARTITION, INDEX_PARTITION]) {
    w.writeRecord(partition, vol1Record(options.serial));
    w.writeFilemark(partition);
    w.writeRecord(partition, new TextEncoder().encode(writeLabelXml(label, letter(partition))));
    w.writeFilemark(partition);
  }

  const tree = new IndexTree(options.serial, formatTime);
  let generation = 0;
  let previous: TapePosition | undefined;
  /** The update time of the generation being written: both copies of a generation carry the same. */
  let updateTime = formatTime;
  const spacing = new IndexSpacing();
  /** The root's element of the generation being written: its second copy is made from it. */
  let treeXml = "";
  /** Writes an index construct (file mark, index records, file mark) at the end of `partition`. */
  const writeIndex = (partition: number, reason: string, sameGeneration = false) => {
    if (!sameGeneration) {
      generation++;
      updateTime = formatLtfsTime(nowNs());
      treeXml = indexTreeXml(tree.root);
    }
    w.writeFilemark(partition);
    const location: TapePosition = { partition: letter(partition), startBlock: w.position(partition) };
    const index: LtfsIndex = {
      version: LTFS_INDEX_VERSION,
      creator,
      volumeUuid,
      generationNumber: generation,
      updateTime,
      location,
      allowPolicyUpdate: true,
      highestFileUid: tree.highestUid,
      volumeLockState: "unlocked",
      root: tree.root,
    };
    if (previous) index.previousGenerationLocation = previous;
    const xml = new TextEncoder().encode(writeIndexXml(index, treeXml));
    for (const record of records(xml)) w.writeRecord(partition, record);
    spacing.written(xml.length, tree.highestUid);
    w.writeFilemark(partition);
    // Data and index on disk before the end mark makes them part of the volume.
    if (options.flush !== false) w.flush();
    w.markEnd(partition);
    if (partition === DATA_PARTITION) previous = location;
    options.onEvent?.({ event: "index", partition: location.partition, block: location.startBlock, generation, reason });
  };

  // Generation 1, as mkltfs leaves a fresh volume: an empty index on both partitions, the data
  // partition's first. The index partition's closing index is written over this one, from its
  // leading file mark, as LTFS does at every unmount.
  writeIndex(DATA_PARTITION, "format");
  const indexPartitionAppend = w.position(INDEX_PARTITION);
  writeIndex(INDEX_PARTITION, "format", true);
  const indexPartitionIndexBlock = indexPartitionAppend + 1;

  const files: WrittenFile[] = [];
  const failed: UnwrittenFile[] = [];
  const dataSink: BlockSink = { buffer: () => w.recordBuffer(), commit: (length) => w.commitRecord(DATA_PARTITION, length) };
  let bytes = 0;
  const backup = () => formatLtfsTime(nowNs());

  const addFile = (path: string, entry: Omit<LtfsFile, "name" | "fileUid">, times: TimesOf) => {
    const folder = tree.folder(parentKey(path), times);
    folder.contents.push({ ...entry, name: path.slice(path.lastIndexOf("/") + 1), fileUid: tree.nextUid() });
  };

  // Empty folders first: every index written from here on holds the whole tree of folders.
  const folders = tape.folders.map((folder) => {
    const path = folder.path.normalize("NFC");
    const times = folderTimesFrom(folder);
    tree.folder(path, times);
    options.onEvent?.({ event: "folder", path });
    return { path, modified: new Date(ltfsTimeMs(times(path).modifyTime)) };
  });

  for (const set of fileSets(tape.files)) {
    for (const file of set) {
      // Names go into the index in NFC, as LTFS presents and compares them.
      const tapePath = file.path.normalize("NFC");
      const startBlock = w.position(DATA_PARTITION);
      try {
        const source = sources.open(file);
        const hexes = await readSource(file, source, options.formats, blockSize, dataSink, options.onBytes);
        const { stat } = source;
        const xattrs: LtfsXattr[] = [...hexes].map(([format, value]) => ({ key: hashAttributeName(format), value }));
        addFile(
          tapePath,
          {
            kind: "file",
            readOnly: (Number(stat.mode) & 0o222) === 0,
            length: file.size,
            xattrs,
            extents: file.size === 0 ? [] : [{ fileOffset: 0, partition: "b", startBlock, byteOffset: 0, byteCount: file.size }],
            ...timesOf(stat, backup()),
          },
          folderTimesFrom(file),
        );
        const written: WrittenFile = { path: tapePath, size: file.size, modified: new Date(Number(stat.mtimeNs / 1_000_000n)), hexes };
        if (file.size > 0) written.startBlock = startBlock;
        files.push(written);
        bytes += file.size;
        spacing.data(file.size);
        options.onEvent?.({ event: "file", path: tapePath, size: file.size, hashes: Object.fromEntries(hexes), startBlock: written.startBlock });
      } catch (error) {
        // A source that fails is left out; a tape that fails ends the write.
        if (!(error instanceof SourceError)) throw error;
        const message = `${error.path}: ${error.message}`;
        failed.push({ path: tapePath, size: file.size, message });
        options.onEvent?.({ event: "failed", path: tapePath, message });
      }
    }
    if (spacing.due(tree.highestUid)) writeIndex(DATA_PARTITION, `file set ${setName(set)}`);
  }

  // The tape's own MHL history and catalog entry, after the data.
  const now = new Date();
  const nowText = formatLtfsTime(BigInt(now.getTime()) * 1_000_000n);
  const generatedTimes = () => ({ creationTime: nowText, changeTime: nowText, modifyTime: nowText, accessTime: nowText, backupTime: nowText });
  for (const generated of await closingFiles(options, volumeUuid, { files, folders, failed }, now)) {
    const startBlock = w.position(DATA_PARTITION);
    for (const record of records(generated.bytes)) w.writeRecord(DATA_PARTITION, record);
    addFile(
      generated.path,
      {
        kind: "file",
        readOnly: false,
        length: generated.bytes.length,
        xattrs: [],
        extents: [{ fileOffset: 0, partition: "b", startBlock, byteOffset: 0, byteCount: generated.bytes.length }],
        ...generatedTimes(),
      },
      generatedTimes,
    );
  }
  // Closing: the last generation on the data partition, then the same on the index partition,
  // written over the index partition's previous index construct (from its leading file mark).
  writeIndex(DATA_PARTITION, "close");
  w.truncate(INDEX_PARTITION, indexPartitionAppend);
  writeIndex(INDEX_PARTITION, "close", true);
  w.close();
  writeCoherency(dir, volumeUuid, generation, previous!.startBlock, indexPartitionIndexBlock);
  if (options.flush !== false) w.flush();
  return { serial: options.serial, volumeUuid, files, folders: folders.map((f) => f.path), failed, bytes, blocks: w.position(DATA_PARTITION), generation };
}

/**
 * Data written between two indexes, at least, as a multiple of the index's size: the indexes a
 * tape takes while it fills (the closing one aside) then hold at most a twentieth of its data,
 * the 5% the plan's default reserve keeps for them (lib/ltfs/capacity.ts). An index holds every
 * file on the tape so far (about 1 KiB each), so one after every card of 500 frames of 32 KiB
 * would take as much tape as the frames by the fortieth card.
 */
export const INDEX_SPACING = 20;

/**
 * What an index takes per file or folder it lists, as the reference LTFS writes it through a
 * mount (which shows no index's size): a file's entry with its extent and digest attributes is
 * about 1 KiB (20,000 frames: 23.5 MB).
 */
export const MOUNT_INDEX_BYTES_PER_ENTRY = 1024;

/**
 * When a file set's index is due: once the data written since the last index is
 * {@link INDEX_SPACING} times the index's size (estimated from the last one's bytes per entry).
 * Skipped, the write since the last index is less than twenty indexes' worth: what an
 * interruption there costs to write again.
 */
class IndexSpacing {
  #bytesPerEntry = 0;
  #dataSince = 0;

  /** An index of `bytes` covering `entries` files and folders was written. */
  written(bytes: number, entries: number): void {
    this.#bytesPerEntry = bytes / Math.max(1, entries);
    this.#dataSince = 0;
  }

  /** File data written. */
  data(bytes: number): void {
    this.#dataSince += bytes;
  }

  /** Whether an index of `entries` files and folders is due now. */
  due(entries: number): boolean {
    return this.#dataSince >= INDEX_SPACING * this.#bytesPerEntry * entries;
  }
}

/**
 * Writes tape `tapeNumber` of the plan through a mounted LTFS volume: free space checked first,
 * files in plan order as one stream, each made nameless (or under a hidden temporary name) and
 * put in place only when complete, digests set as `user.` attributes (LTFS stores
 * `user.ltfs.hash.*` in the index), and an index written (`user.ltfs.sync`) after a file set
 * when it is due ({@link INDEX_SPACING}), and at the end. Everything below the mount point is
 * made without following a link (a link planted in the volume is an error, never written
 * through); each file gets its source's permission bits (less the umask; never setuid, setgid
 * or sticky). A folder that is not an LTFS mount is written the same way, without the
 * LTFS-only steps, and the caller is told through `isLtfs`.
 */
export async function writeMount(mount: string, options: WriteOptions): Promise<WriteSummary & { isLtfs: boolean }> {
  const tape = plannedTape(options.plan, options.tapeNumber);
  let volume: HeldFolder;
  try {
    if (!statSync(mount).isDirectory()) throw new CliError("is not a folder; give the mount point of an LTFS volume", { path: mount });
    volume = HeldFolder.open(mount);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot be used: ${describeSystemError(error)}`, { path: mount });
  }
  const sources = new SourceFolders(options.plan.sources);
  try {
    return await writeThroughMount(mount, volume, sources, tape, options);
  } finally {
    sources.close();
    volume.close();
  }
}

/** The body of {@link writeMount}. */
async function writeThroughMount(mount: string, volume: HeldFolder, sources: SourceFolders, tape: PlanFile["tapes"][number], options: WriteOptions): Promise<WriteSummary & { isLtfs: boolean }> {
  const isLtfs = getXattr(mount, "user.ltfs.volumeUUID") !== undefined;
  const fs = statfsSync(mount);
  const free = Number(fs.bavail) * Number(fs.bsize);
  const needed = tape.files.reduce((sum, f) => sum + f.blocks * options.plan.capacity.blockSize, 0);
  if (free < needed) {
    throw new CliError(`has ${free} bytes free, tape ${options.tapeNumber} of the plan needs ${needed}; load a blank tape or plan again`, { path: mount });
  }
  // Raw paths: the tool shows them escaped.
  const where = (path: string) => joinPath(mount, path);
  const existing = (path: string) => {
    try {
      return volume.stat(path);
    } catch (error) {
      throw new CliError(`cannot be written: ${describeSystemError(error)}; nothing was written`, { path: where(path) });
    }
  };
  // A volume that holds a tape's records already: its MHL and catalog entry would stand for the
  // first write, and the files of this one would verify against nothing.
  for (const own of [TAPE_HISTORY_FOLDER, TAPE_CATALOG_FILE]) {
    if (existing(own) !== undefined) throw new CliError("is on the volume: it holds a written tape already; nothing was written (load a blank tape)", { path: where(own) });
  }
  for (const file of tape.files) {
    if (existing(file.path) !== undefined) throw new CliError("already exists on the volume; nothing was written (load a blank tape, or plan without it)", { path: where(file.path) });
  }
  for (const folder of tape.folders) {
    const found = existing(folder.path);
    if (found !== undefined && found.kind !== "folder") throw new CliError("is on the volume and is not a folder; nothing was written (load a blank tape, or plan without it)", { path: where(folder.path) });
  }
  const blockSize = options.plan.capacity.blockSize;
  const buffer = new Uint8Array(blockSize);
  const files: WrittenFile[] = [];
  const failed: UnwrittenFile[] = [];
  let bytes = 0;
  const writeFailed = (error: unknown, path: string) => (error instanceof CliError ? error : new CliError(`write failed: ${describeSystemError(error)}`, { path: where(path) }));
  // LTFS shows no index's size: each is taken as MOUNT_INDEX_BYTES_PER_ENTRY per file and folder.
  const spacing = new IndexSpacing();
  spacing.written(MOUNT_INDEX_BYTES_PER_ENTRY, 1);
  const sync = (reason: string) => {
    if (!isLtfs) return;
    setXattr(mount, "user.ltfs.sync", "1");
    spacing.written(MOUNT_INDEX_BYTES_PER_ENTRY, 1);
    options.onEvent?.({ event: "index", partition: "b", block: Number(getXattr(mount, "user.ltfs.indexLocation")?.split(":")[1] ?? 0), generation: Number(getXattr(mount, "user.ltfs.indexGeneration") ?? 0), reason });
  };
  const folders = tape.folders.map((folder) => {
    try {
      volume.makeFolders(folder.path);
    } catch (error) {
      throw writeFailed(error, folder.path);
    }
    options.onEvent?.({ event: "folder", path: folder.path });
    return { path: folder.path.normalize("NFC"), modified: new Date(ltfsTimeMs(folderTimesFrom(folder)(folder.path).modifyTime)) };
  });
  for (const set of fileSets(tape.files)) {
    for (const file of set) {
      let out: NewFile | undefined;
      try {
        const source = sources.open(file);
        const { stat } = source;
        try {
          volume.makeFolders(parentOf(file.path) === "." ? "" : parentOf(file.path));
          out = volume.createNew(file.path, Number(stat.mode) & 0o777);
        } catch (error) {
          closeSync(source.fd);
          throw writeFailed(error, file.path);
        }
        const fd = out.fd;
        const hexes = await readSource(file, source, options.formats, blockSize, { buffer: () => buffer, commit: (length) => writeAll(fd, buffer.subarray(0, length)) }, options.onBytes);
        setFileTimes(fd, stat.atimeNs, stat.mtimeNs);
        for (const [format, value] of hexes) trySetXattr(`/proc/self/fd/${fd}`, `user.${hashAttributeName(format)}`, value);
        volume.placeNew(out, false);
        closeSync(fd);
        out = undefined;
        const written: WrittenFile = { path: file.path.normalize("NFC"), size: file.size, modified: new Date(Number(stat.mtimeNs / 1_000_000n)), hexes };
        const start = isLtfs ? startBlockOf(volume, file.path) : undefined;
        if (start !== undefined && file.size > 0) written.startBlock = start;
        files.push(written);
        bytes += file.size;
        spacing.data(file.size);
        options.onEvent?.({ event: "file", path: file.path, size: file.size, hashes: Object.fromEntries(hexes), startBlock: written.startBlock });
      } catch (error) {
        if (out) discard(volume, out);
        if (!(error instanceof SourceError)) throw writeFailed(error, file.path);
        const message = `${error.path}: ${error.message}`;
        failed.push({ path: file.path, size: file.size, message });
        options.onEvent?.({ event: "failed", path: file.path, message });
      }
    }
    if (spacing.due(files.length + folders.length)) sync(`file set ${setName(set)}`);
  }
  const volumeUuid = isLtfs ? getXattr(mount, "user.ltfs.volumeUUID") : undefined;
  for (const generated of await closingFiles(options, volumeUuid, { files, folders, failed }, new Date())) {
    let out: NewFile | undefined;
    try {
      volume.makeFolders(parentOf(generated.path) === "." ? "" : parentOf(generated.path));
      out = volume.createNew(generated.path, 0o644);
      writeAll(out.fd, generated.bytes);
      volume.placeNew(out, false);
      closeSync(out.fd);
    } catch (error) {
      if (out) discard(volume, out);
      throw writeFailed(error, generated.path);
    }
  }
  sync("close");
  return { serial: options.serial, volumeUuid, files, folders: folders.map((f) => f.path), failed, bytes, isLtfs };
}

/** Where LTFS put a file's first block, read through the file itself (never through a link). */
function startBlockOf(volume: HeldFolder, path: string): number | undefined {
  const start = withFileIn(volume, path, (fd) => getXattr(`/proc/self/fd/${fd}`, "user.ltfs.startblock"));
  return start === undefined ? undefined : Number(start);
}

/** Closes and removes a file that will not be put in place. */
function discard(volume: HeldFolder, file: NewFile): void {
  try {
    closeSync(file.fd);
  } catch {
    // already closed
  }
  try {
    volume.discardNew(file);
  } catch {
    // gone already: nothing is left under a final name either way
  }
}

/** Sets an attribute where the file system keeps them; a file system without them loses only the copy of the digest. */
function trySetXattr(path: string, name: string, value: string): void {
  try {
    setXattr(path, name, value);
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOTSUP" && (error as { code?: string }).code !== "EOPNOTSUPP") throw error;
  }
}
