/**
 * A virtual tape (`ltfs-pack write --vtape`) as a source: its latest index (read by lib/ltfs)
 * lists the files and carries their digests as attributes; a byte range is read from the
 * records its extents name, one record file at a time, nothing restored first. Bytes that no
 * extent covers read as zeros, as LTFS defines them.
 */
import { describeSystemError } from "../core/errors.ts";
import { compareUtf8 } from "../core/names.ts";
import { readSync } from "node:fs";
import { type LtfsExtent, ltfsTimeMs } from "../ltfs/index_model.ts";
import { Volume } from "../ltfs/volume.ts";
import { RefusedRecord } from "../ltfs/vtape.ts";
import { TAPE_CATALOG_FILE } from "../ltfs/plan.ts";
import { hashesFromXattrs } from "../ltfs/write.ts";
import { DescriptorCache } from "./descriptors.ts";
import type { ReadPiece, RangeReads } from "./range_reads.ts";
import { FileTable, SourceError, type RangeReader, type Source, type SourceFile, type SourceProblem } from "./source.ts";

/** A file of the tape and where its bytes are. */
interface TapeFile extends SourceFile {
  extents: LtfsExtent[];
}

/** Whether a path is bookkeeping, not content: an ASC MHL history (the tape's or a card's), ltfs-pack's catalog entry. */
export function isBookkeeping(path: string): boolean {
  return path === TAPE_CATALOG_FILE || path.split("/").includes("ascmhl");
}

/** A virtual tape opened for serving. */
export class VtapeSource implements Source {
  readonly kind = "vtape" as const;
  readonly name: string;
  readonly location: string;
  readonly tapeSerial: string;
  readonly problems: SourceProblem[] = [];
  readonly #volume: Volume;
  readonly #table: FileTable;
  readonly #records = new DescriptorCache(256);
  readonly #reads: RangeReads | undefined;

  /**
   * Opens the virtual tape in `dir`, named by its serial unless `name` is given. With `reads`,
   * a range read into a shared buffer is read on those threads.
   * @throws {CliError} naming the folder when it is not a readable LTFS virtual tape.
   */
  constructor(dir: string, name?: string, reads?: RangeReads) {
    this.#reads = reads;
    this.#volume = Volume.open(dir);
    this.location = dir;
    this.tapeSerial = this.#volume.label.serial || this.#volume.latest.index.root.name || dir;
    this.name = name ?? this.tapeSerial;
    const files: TapeFile[] = [];
    for (const { path, file } of this.#volume.files()) {
      if (isBookkeeping(path)) continue;
      if (file.symlinkTarget !== undefined) {
        this.problems.push({ path, message: `a symbolic link on tape (to ${file.symlinkTarget}); not served` });
        continue;
      }
      const refused = this.#refusedRecord(file.extents);
      if (refused) {
        this.problems.push({ path, message: `${refused.message}; not served` });
        continue;
      }
      files.push({
        path,
        size: file.length,
        mtimeMs: ltfsTimeMs(file.modifyTime) || 0,
        digests: Object.fromEntries(hashesFromXattrs(file.xattrs)),
        extents: [...file.extents].sort((a, b) => a.fileOffset - b.fileOffset),
      });
    }
    this.#table = new FileTable(files, compareUtf8);
  }

  /** The first record the extents read that is listed as a link or not a regular file. */
  #refusedRecord(extents: readonly LtfsExtent[]): RefusedRecord | undefined {
    const blockSize = this.#volume.label.blockSize;
    for (const extent of extents) {
      const partition = this.#volume.partitionNumber(extent.partition);
      const last = extent.startBlock + Math.ceil((extent.byteOffset + extent.byteCount) / blockSize);
      const refused = this.#volume.tape.refusedIn(partition, extent.startBlock, last);
      if (refused) return refused;
    }
    return undefined;
  }

  files(): readonly SourceFile[] {
    return this.#table.list;
  }

  file(path: string): SourceFile | undefined {
    return this.#table.get(path);
  }

  open(file: SourceFile, start: number, end: number): RangeReader {
    const entry = file as TapeFile;
    if (this.#table.get(file.path) !== file) throw new SourceError(file.path, "missing", "not on this tape");
    return new ExtentReader(this.#volume, this.#records, this.#reads, entry, start, end);
  }

  close(): void {
    this.#records.close();
    this.#volume.close();
  }
}

/** Where the bytes at a position are: `n` bytes of a hole (zeros), or of one record. */
type Stretch = { n: number; record?: { path: string; within: number; block: number; partition: string } };

/**
 * Reads `[start, end)` of a tape file through its extents: on this thread, or, into a shared
 * buffer when read threads are given, on those.
 */
class ExtentReader implements RangeReader {
  readonly #volume: Volume;
  readonly #records: DescriptorCache;
  readonly #reads: RangeReads | undefined;
  readonly #file: TapeFile;
  #position: number;
  readonly #end: number;
  /** Index of the first extent that may still hold bytes at or after the position. */
  #extent = 0;

  constructor(volume: Volume, records: DescriptorCache, reads: RangeReads | undefined, file: TapeFile, start: number, end: number) {
    this.#volume = volume;
    this.#records = records;
    this.#reads = reads;
    this.#file = file;
    this.#position = start;
    this.#end = end;
  }

  read(into: Uint8Array): number | Promise<number> {
    if (this.#reads !== undefined && into.buffer instanceof SharedArrayBuffer) return this.#readOnThreads(into, this.#reads);
    let filled = 0;
    while (filled < into.length && this.#position < this.#end) {
      const stretch = this.#stretch(Math.min(into.length - filled, this.#end - this.#position));
      if (stretch.record) this.#readRecord(stretch, into, filled);
      else into.fill(0, filled, filled + stretch.n);
      filled += stretch.n;
      this.#position += stretch.n;
    }
    return filled;
  }

  /** Fills `into` as {@link read} does, the records' bytes read by the read threads. */
  async #readOnThreads(into: Uint8Array, reads: RangeReads): Promise<number> {
    const stretches: Stretch[] = [];
    const pieces: ReadPiece[] = [];
    let filled = 0;
    while (filled < into.length && this.#position < this.#end) {
      const stretch = this.#stretch(Math.min(into.length - filled, this.#end - this.#position));
      if (stretch.record) {
        stretches.push(stretch);
        pieces.push({ path: stretch.record.path, position: stretch.record.within, length: stretch.n, at: into.byteOffset + filled });
      } else {
        into.fill(0, filled, filled + stretch.n);
      }
      filled += stretch.n;
      this.#position += stretch.n;
    }
    if (pieces.length === 0) return filled;
    let got: number[];
    try {
      got = await reads.read({ buffer: into.buffer as SharedArrayBuffer, pieces });
    } catch (error) {
      throw new SourceError(this.#file.path, "unreadable", `a record cannot be read: ${describeSystemError(error)}`);
    }
    got.forEach((n, i) => {
      if (n < pieces[i]!.length) throw this.#tooShort(stretches[i]!, n);
    });
    return filled;
  }

  /** The stretch at the position, at most `want` bytes: up to the next extent, or within one record. */
  #stretch(want: number): Stretch {
    const extents = this.#file.extents;
    const position = this.#position;
    while (this.#extent < extents.length && extents[this.#extent]!.fileOffset + extents[this.#extent]!.byteCount <= position) this.#extent++;
    const extent = extents[this.#extent];
    // A hole: zeros up to the next extent.
    if (extent === undefined || position < extent.fileOffset) return { n: Math.min(want, (extent?.fileOffset ?? this.#end) - position) };
    const blockSize = this.#volume.label.blockSize;
    const inExtent = position - extent.fileOffset + extent.byteOffset;
    const block = extent.startBlock + Math.floor(inExtent / blockSize);
    const within = inExtent % blockSize;
    const n = Math.min(want, blockSize - within, extent.fileOffset + extent.byteCount - position);
    const path = this.#volume.tape.recordPath(this.#volume.partitionNumber(extent.partition), block);
    return { n, record: { path, within, block, partition: extent.partition } };
  }

  /** Reads a record's stretch into `into` at `at`, on this thread. */
  #readRecord(stretch: Stretch, into: Uint8Array, at: number): void {
    const { path, within, block, partition } = stretch.record!;
    let fd: number;
    try {
      // Beneath the tape folder, never through a link, a regular file only.
      fd = this.#records.acquire(path, () => this.#volume.tape.openRecord(this.#volume.partitionNumber(partition), block));
    } catch (error) {
      if (error instanceof RefusedRecord) throw new SourceError(this.#file.path, "unreadable", error.message);
      throw new SourceError(this.#file.path, "unreadable", `block ${block} of partition ${partition} cannot be read: ${describeSystemError(error)}`);
    }
    let got = 0;
    try {
      while (got < stretch.n) {
        const k = readSync(fd, into, at + got, stretch.n - got, within + got);
        if (k === 0) break;
        got += k;
      }
    } finally {
      this.#records.release(path, fd);
    }
    if (got < stretch.n) throw this.#tooShort(stretch, got);
  }

  #tooShort(stretch: Stretch, got: number): SourceError {
    const { within, block, partition } = stretch.record!;
    return new SourceError(this.#file.path, "unreadable", `block ${block} of partition ${partition} is ${within + got} bytes, too short for the extent`);
  }

  close(): void {
    this.#position = this.#end;
  }
}
