/**
 * Reading an LTFS volume on a virtual tape without the reference implementation: its labels,
 * the latest index (the newer of the index partition's and the last complete one on the data
 * partition, so an interrupted write still reads as of its last file set), and any file's bytes
 * through its extents.
 */
import { closeSync, openSync } from "node:fs";
import { fillChunk } from "../io/fill.ts";
import { CliError, describeSystemError } from "../core/errors.ts";
import { XmlError } from "../xml/xml.ts";
import type { LtfsDirectory, LtfsFile, LtfsIndex } from "./index_model.ts";
import { readIndexXml } from "./index_xml.ts";
import { readLabelXml, readVol1, type LtfsLabel } from "./label.ts";
import { DATA_PARTITION, INDEX_PARTITION, VtapeReader } from "./vtape.ts";

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

  private constructor(dir: string, tape: VtapeReader, label: LtfsLabel, latest: FoundIndex, dataEnd: { block: number; complete: boolean }) {
    this.dir = dir;
    this.tape = tape;
    this.label = label;
    this.latest = latest;
    this.dataEnd = dataEnd;
  }

  /**
   * Opens the virtual tape in `dir`.
   * @throws {CliError} naming the folder when it is not an LTFS virtual tape or holds no readable index.
   */
  static open(dir: string): Volume {
    let tape: VtapeReader;
    try {
      tape = new VtapeReader(dir);
    } catch (error) {
      throw new CliError(`cannot be read as a virtual tape: ${describeSystemError(error)}`, { path: dir });
    }
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
    return new Volume(dir, tape, label, latest, tape.endOfData(DATA_PARTITION));
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
        if (this.tape.kind(partition, block) !== "R") throw new CliError(`${entry.path}: block ${block} of partition ${extent.partition} holds no record`, { path: this.dir });
        let fd: number;
        try {
          fd = openSync(this.tape.recordPath(partition, block), "r");
        } catch (error) {
          throw new CliError(`${entry.path}: block ${block} cannot be read: ${describeSystemError(error)}`, { path: this.dir });
        }
        let got: number;
        try {
          got = fillChunk(fd, buffer, 0, blockSize, 0);
        } finally {
          closeSync(fd);
        }
        const take = Math.min(left, got - skip);
        if (take <= 0) throw new CliError(`${entry.path}: block ${block} of partition ${extent.partition} is ${got} bytes, too short for the extent`, { path: this.dir });
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

  /** A whole (small) file's bytes. */
  readAll(entry: IndexedFile): Uint8Array {
    // read() hands out one reused buffer; each chunk is copied before the next is read.
    const parts: Uint8Array[] = [];
    for (const chunk of this.read(entry)) parts.push(chunk.slice());
    return Buffer.concat(parts);
  }
}

/** Every file under a directory, with paths. */
export function indexFiles(root: LtfsDirectory): IndexedFile[] {
  const out: IndexedFile[] = [];
  const walk = (dir: LtfsDirectory, prefix: string) => {
    for (const entry of dir.contents) {
      const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (entry.kind === "directory") walk(entry, path);
      else out.push({ path, file: entry });
    }
  };
  walk(root, "");
  return out;
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
    const head = tape.readRecord(partition, first);
    if (!new TextDecoder().decode(head.subarray(0, 256)).includes("<ltfsindex")) {
      mark = first;
      continue;
    }
    const parts: Uint8Array[] = [];
    for (let block = first; block < mark; block++) parts.push(tape.readRecord(partition, block));
    let xml: string;
    try {
      xml = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(parts));
    } catch {
      mark = first;
      continue;
    }
    try {
      return { index: readIndexXml(xml, `${dir}/${partition}_${first}_R`), xml, partition, block: first };
    } catch (error) {
      if (!(error instanceof XmlError)) throw error;
      mark = first;
    }
  }
  return undefined;
}
