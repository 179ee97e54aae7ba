/**
 * A virtual tape in the layout of the LTFS reference implementation's file backend
 * (`tape_backend=file`): a folder with one file per tape position, named
 * `<partition>_<block>_<kind>` — `R` a record holding its bytes, `F` an empty file mark, `E` an
 * empty end-of-data mark. Partition 0 is the index partition, 1 the data partition. The backend
 * finds a partition's end by stepping through positions 0, 1, 2… until an `E` or a gap, so
 * positions are written contiguously and `E` always sits right after the last one.
 *
 * A cartridge configuration (`filedebug_tc_conf.xml`) tells the backend which cartridge type it
 * emulates and its capacity.
 */
import { closeSync, fsyncSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliError, describeSystemError, errnoError, ExitCode } from "../core/errors.ts";
import { flushFolder, writeAll } from "../io/atomic_file.ts";
import { HeldFolder, statFd, type EntryKind } from "../io/held_folder.ts";
import { canFlushFileSystem, flushFileSystem, startWriteback } from "../io/libc.ts";
import { Ring, type LaneWork } from "../thread/ring.ts";
import { spawnWorker } from "../thread/spawn.ts";

/** What is at a tape position. */
export type PositionKind = "R" | "F" | "E";

/** Physical partitions: the index partition is 0, the data partition 1. */
export const INDEX_PARTITION = 0;
export const DATA_PARTITION = 1;

/** The file the reference file backend keeps its cartridge settings in. */
export const CARTRIDGE_CONFIG = "filedebug_tc_conf.xml";

/** Mode of a record file: the owner's only. */
export const RECORD_MODE = 0o600;

/** The medium attribute files {@link writeCoherency} writes. */
const ATTRIBUTE_FILES = ["attr_0_9", "attr_0_80c", "attr_1_80c"];

const POSITION_NAME = /^([01])_(\d+)_([RFE])$/;

/** The name of the file for a position. */
export function positionFile(partition: number, block: number, kind: PositionKind): string {
  return `${partition}_${block}_${kind}`;
}

/** What the record writer thread is sent. */
export interface RecordJob {
  dir: string;
  /** Start each record's write-back to the device when it is written. */
  writeback: boolean;
}

/** The record ring's slot metadata: the record's partition and block. */
const PARTITION = 0;
const BLOCK = 1;

/**
 * The record ring's work (lib/thread/ring.ts, producer "caller", one lane), on the writer
 * thread or on the calling thread: each slot becomes the record file of its partition and block.
 */
export function recordLane(ring: Ring, job: RecordJob): LaneWork {
  return {
    step(k) {
      writeRecordFile(job.dir, ring.meta(k, PARTITION), ring.meta(k, BLOCK), ring.bytes(k), job.writeback);
    },
  };
}

/** Records in flight between the caller and the writer thread. */
const RING_SLOTS = 8;

/** Options for {@link VtapeWriter}. */
export interface VtapeWriterOptions {
  /** Largest record (the volume's block size). */
  recordSize: number;
  /**
   * Start each record's write-back to the device as soon as it is written (the data streams to
   * disk as it would to a drive, rather than piling up in memory), so flushes wait for little.
   */
  writeback?: boolean;
  /**
   * Write records on a second thread while the caller prepares the next ones.
   * @default true
   */
  thread?: boolean;
  /** Told when the writer thread did not start and the records are written on the calling thread. */
  onNoThread?: () => void;
  /** The writer thread's script, when not lib/ltfs/record_worker.ts (tests). */
  workerScript?: string;
}

/**
 * Writes positions in order on each partition. Each record is one file, written whole; by
 * default on a writer thread (lib/ltfs/record_worker.ts) fed through a ring of shared buffers, so
 * the caller fills the next record ({@link recordBuffer}, {@link commitRecord}) while the last
 * is copied into its file. The end-of-data mark is moved only at consistent points
 * ({@link markEnd}, after an index), once every record before it is written: the backend stops
 * at the first `E`, so positions written after it stay hidden until the mark moves past them,
 * and an interrupted write leaves the tape as of its last index — the bytes written since are
 * beyond the end of data, as on a tape.
 */
export class VtapeWriter {
  readonly dir: string;
  readonly recordSize: number;
  #next: [number, number] = [0, 0];
  #end: [number | undefined, number | undefined] = [undefined, undefined];
  readonly #writeback: boolean;
  /** Where syncfs is missing: positions written since the last flush, to flush file by file. */
  #unflushed: string[] | undefined = canFlushFileSystem() ? undefined : [];
  /** The record ring; undefined once stopped. */
  #ring: Ring | undefined;
  #thread: Worker | undefined;

  /** Starts a blank tape in `dir`. */
  constructor(dir: string, options: VtapeWriterOptions) {
    this.dir = dir;
    this.recordSize = options.recordSize;
    this.#writeback = options.writeback ?? false;
    // Without a thread, the ring's one lane is worked here: each record is written as it is committed.
    const thread = options.thread === false ? undefined : spawnWorker(options.workerScript === undefined ? "record" : { script: options.workerScript });
    this.#thread = thread;
    this.#ring = Ring.open({ producer: "caller", slots: thread ? RING_SLOTS : 1, slotBytes: this.recordSize, lanes: 1, metaWords: 2 });
    this.#ring.start<RecordJob>({
      worker: "record",
      params: [{ dir, writeback: this.#writeback }],
      threads: thread ? [thread] : [],
      work: recordLane,
      onKept: () => options.onNoThread?.(),
    });
  }

  /** The position the next write on `partition` goes to. */
  position(partition: number): number {
    return this.#next[partition as 0 | 1];
  }

  /**
   * A buffer of {@link recordSize} bytes to fill with the next record, then hand to
   * {@link commitRecord}. Waits while every buffer is still being written.
   * @throws {CliError} when an earlier record could not be written.
   */
  recordBuffer(): Uint8Array {
    const ring = this.#open();
    this.#waitFor(ring.head - ring.shape.slots + 1);
    return ring.slot(ring.head);
  }

  /** Writes the first `length` bytes of the last {@link recordBuffer} as the next record on `partition`; returns its block. */
  commitRecord(partition: number, length: number): number {
    if (length > this.recordSize) throw new RangeError(`record of ${length} bytes is larger than the block size ${this.recordSize}`);
    const ring = this.#open();
    const block = this.#next[partition as 0 | 1]++;
    this.#unflushed?.push(positionFile(partition, block, "R"));
    const k = ring.head;
    ring.setMeta(k, PARTITION, partition);
    ring.setMeta(k, BLOCK, block);
    ring.commit(length);
    // Written already when there is no thread: its failure is known now.
    this.#check(ring);
    return block;
  }

  /** Writes one record; returns its block number. */
  writeRecord(partition: number, bytes: Uint8Array): number {
    this.recordBuffer().set(bytes);
    return this.commitRecord(partition, bytes.length);
  }

  /** Writes a file mark; returns its position. */
  writeFilemark(partition: number): number {
    const block = this.#next[partition as 0 | 1]++;
    const name = positionFile(partition, block, "F");
    closeSync(openSync(join(this.dir, name), "wx"));
    this.#unflushed?.push(name);
    return block;
  }

  /** Moves `partition`'s end-of-data mark to the next position: what was written becomes visible. */
  markEnd(partition: number): void {
    this.drain();
    const block = this.#next[partition as 0 | 1];
    closeSync(openSync(join(this.dir, positionFile(partition, block, "E")), "w"));
    const previous = this.#end[partition as 0 | 1];
    if (previous !== undefined && previous !== block) rmSync(join(this.dir, positionFile(partition, previous, "E")), { force: true });
    this.#end[partition as 0 | 1] = block;
  }

  /**
   * Cuts `partition` back to `from`, as a drive overwrites: the end-of-data mark goes to `from`
   * first (so the partition is never without one), then what was beyond is removed.
   */
  truncate(partition: number, from: number): void {
    this.drain();
    const next = this.#next[partition as 0 | 1];
    closeSync(openSync(join(this.dir, positionFile(partition, from, "E")), "w"));
    for (let block = from; block <= next; block++) {
      for (const kind of ["R", "F", "E"] as const) {
        if (block === from && kind === "E") continue;
        rmSync(join(this.dir, positionFile(partition, block, kind)), { force: true });
      }
    }
    this.#next[partition as 0 | 1] = from;
    this.#end[partition as 0 | 1] = from;
  }

  /**
   * Makes everything written so far durable: one syncfs for the folder's file system, or where
   * that is missing, each position written since the last flush (those cut off since are
   * gone), the tape's settings and attribute files, and the folder.
   */
  flush(): void {
    this.drain();
    if (flushFileSystem(this.dir)) return;
    // The tape's other files (cartridge settings, medium attributes) are flushed too.
    const names = [...(this.#unflushed ?? []), CARTRIDGE_CONFIG, ...ATTRIBUTE_FILES];
    for (const name of names) {
      let fd: number;
      try {
        fd = openSync(join(this.dir, name), "r");
      } catch (error) {
        if ((error as { code?: string }).code === "ENOENT") continue;
        throw error;
      }
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    flushFolder(this.dir);
    this.#unflushed = this.#unflushed && [];
  }

  /**
   * Waits until every record handed over is in its file.
   * @throws {CliError} naming the record when one could not be written.
   */
  drain(): void {
    if (this.#ring) this.#waitFor(this.#ring.head);
  }

  /** Drains and lets the writer thread go. */
  close(): void {
    this.drain();
    this.stop();
  }

  /** Lets the writer thread go once it is done with the record it is writing (records not yet written are dropped). */
  stop(): void {
    const ring = this.#ring;
    if (!ring) return;
    this.#ring = undefined;
    ring.release();
    this.#thread?.terminate();
  }

  #open(): Ring {
    if (!this.#ring) throw new Error("the virtual tape writer is stopped");
    return this.#ring;
  }

  /**
   * Waits until at least `count` records are written; a writer thread that never started is
   * replaced by this one.
   */
  #waitFor(count: number): void {
    const ring = this.#ring!;
    ring.waitDone(count);
    this.#check(ring);
  }

  /** Throws the error of a record that could not be written, naming it, after stopping the writer. */
  #check(ring: Ring): void {
    const failure = ring.failure(0);
    if (!failure) return;
    const path = failure.at < 0 ? this.dir : join(this.dir, positionFile(ring.meta(failure.at, PARTITION), ring.meta(failure.at, BLOCK), "R"));
    this.stop();
    throw recordWriteError(path, errnoError(failure.errno));
  }
}

/**
 * Records from this size have their write-back started as they are written (`writeback`);
 * smaller ones, the small files of a card and the ends of files, are left to the flush before
 * the next index and to the kernel. Started one by one, a system call and a small device write
 * each, they cost 0.5 s of system time on 20,000 files of 32 KiB and saved the flush little.
 */
export const WRITEBACK_FROM_BYTES = 256 << 10;

/**
 * Creates a record's file (never over an existing one, readable by its owner only: a record
 * holds a file's bytes, whoever else may read the folder) and writes it whole, on whichever
 * thread writes the records. With `writeback`, the write-back to the device of a record of
 * {@link WRITEBACK_FROM_BYTES} or more starts at once.
 */
export function writeRecordFile(dir: string, partition: number, block: number, bytes: Uint8Array, writeback: boolean): void {
  const fd = openSync(join(dir, positionFile(partition, block, "R")), "wx", RECORD_MODE);
  try {
    writeAll(fd, bytes);
    if (writeback && bytes.length >= WRITEBACK_FROM_BYTES) startWriteback(fd);
  } finally {
    closeSync(fd);
  }
}

/** The one-line error for a virtual tape that could not be written at `path`. */
function recordWriteError(path: string, error: unknown): CliError {
  return new CliError(`write failed: ${describeSystemError(error)}; the virtual tape holds what was written up to its last index`, { path });
}

/** What a tape position's file is when it is not a regular file, as a reader names it. */
const NOT_A_FILE: Record<Exclude<EntryKind, "file">, string> = {
  link: "a symbolic link",
  folder: "a folder",
  fifo: "a FIFO",
  socket: "a socket",
  "char-device": "a character device",
  "block-device": "a block device",
};

/**
 * A tape position whose file is not a regular file of the tape folder: a symbolic link (to a
 * file anywhere, which would be read as the tape's bytes), a FIFO, a device. Never opened
 * through; the tape is not sound (exit 1).
 */
export class RefusedRecord extends CliError {
  /** The position's file name (`1_8_R`). */
  readonly record: string;
  constructor(dir: string, record: string, kind: Exclude<EntryKind, "file">) {
    super(`${record}: ${NOT_A_FILE[kind]}, not a tape record; never ${kind === "link" ? "followed" : "read"}`, { path: dir, exitCode: ExitCode.VerifyFailed });
    this.name = "RefusedRecord";
    this.record = record;
  }
}

/**
 * Reads a virtual tape's positions. Every file is opened beneath the tape folder, held by its
 * descriptor, without following a link ({@link HeldFolder}): a position that is a link (to
 * /etc/shadow, to a file outside) or not a regular file is refused by name, never read.
 */
export class VtapeReader {
  readonly dir: string;
  readonly #folder: HeldFolder;
  /** Per partition: kind of each position, by block. */
  readonly #kinds: [Map<number, PositionKind>, Map<number, PositionKind>] = [new Map(), new Map()];
  /** Per partition: records whose file was listed as something other than a regular file, by block. */
  readonly #oddities: [Map<number, Exclude<EntryKind, "file">>, Map<number, Exclude<EntryKind, "file">>] = [new Map(), new Map()];

  /**
   * Lists the folder once.
   * @throws {Error} with `code` ENOENT/ENOTDIR when `dir` is not a folder.
   */
  constructor(dir: string) {
    this.dir = dir;
    this.#folder = HeldFolder.open(dir);
    try {
      for (const entry of this.#folder.list("")) {
        const m = POSITION_NAME.exec(entry.name);
        if (!m) continue;
        const kind = entry.kind ?? this.#folder.stat(entry.name)?.kind;
        if (kind !== undefined && kind !== "file" && m[3] === "R") this.#oddities[Number(m[1]) as 0 | 1].set(Number(m[2]), kind);
        // A position holding an end-of-data mark is the end, whatever else is there (bytes
        // written after the last consistent point, as an interrupted write leaves them).
        const kinds = this.#kinds[Number(m[1]) as 0 | 1];
        if (kinds.get(Number(m[2])) !== "E") kinds.set(Number(m[2]), m[3] as PositionKind);
      }
    } catch (error) {
      this.#folder.close();
      throw error;
    }
  }

  /** What is at a position, the way the backend sees it (an `E` hides what is beyond). */
  kind(partition: number, block: number): PositionKind | undefined {
    return this.#kinds[partition as 0 | 1].get(block);
  }

  /**
   * The partition's end of data: the first position with an `E`, or with nothing. `complete`
   * is false when it ended in a gap (no end-of-data mark: a write was interrupted).
   */
  endOfData(partition: number): { block: number; complete: boolean } {
    const kinds = this.#kinds[partition as 0 | 1];
    let block = 0;
    for (;;) {
      const kind = kinds.get(block);
      if (kind === undefined) return { block, complete: false };
      if (kind === "E") return { block, complete: true };
      block++;
    }
  }

  /**
   * The refusal for the first record in blocks `[from, to)` of `partition` that was listed as a
   * link or other non-file, without opening anything (as many steps as such records, whatever
   * the span: an index may claim any extent).
   */
  refusedIn(partition: number, from: number, to: number): RefusedRecord | undefined {
    let first: [number, Exclude<EntryKind, "file">] | undefined;
    for (const [block, kind] of this.#oddities[partition as 0 | 1]) {
      if (block >= from && block < to && (first === undefined || block < first[0])) first = [block, kind];
    }
    return first && new RefusedRecord(this.dir, positionFile(partition, first[0], "R"), first[1]);
  }

  /**
   * Opens a record's file beneath the tape folder, never through a link, and only when it is a
   * regular file; the caller closes the descriptor.
   * @throws {RefusedRecord} when it is a link or not a regular file; a system error (with `code`) when it cannot be opened.
   */
  openRecord(partition: number, block: number): number {
    const name = positionFile(partition, block, "R");
    let fd: number;
    try {
      fd = this.#folder.openRead(name);
    } catch (error) {
      if ((error as { code?: string }).code === "ELOOP") throw new RefusedRecord(this.dir, name, "link");
      throw error;
    }
    try {
      const kind = statFd(fd).kind;
      if (kind !== "file") throw new RefusedRecord(this.dir, name, kind);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return fd;
  }

  /** The bytes of a record. @throws {Error} when the position holds no record; {@link RefusedRecord} when its file is not one. */
  readRecord(partition: number, block: number): Uint8Array {
    if (this.kind(partition, block) !== "R") throw new Error(`no record at partition ${partition} block ${block}`);
    const fd = this.openRecord(partition, block);
    try {
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Size of a record without reading it. @throws {RefusedRecord} when its file is not a record. */
  recordSize(partition: number, block: number): number {
    const name = positionFile(partition, block, "R");
    const stat = this.#folder.stat(name);
    if (stat === undefined) throw Object.assign(new Error(`no record file ${name}`), { code: "ENOENT", path: this.recordPath(partition, block) });
    if (stat.kind !== "file") throw new RefusedRecord(this.dir, name, stat.kind);
    return stat.size;
  }

  /** The path of a record's file, for messages. */
  recordPath(partition: number, block: number): string {
    return this.#folder.pathOf(positionFile(partition, block, "R"));
  }

  /** Lets go of the tape folder. */
  close(): void {
    this.#folder.close();
  }
}

/**
 * The backend's cartridge configuration. A folder opened as a device is driven as an LTO-5
 * drive, which mounts only LTO-5 cartridges, so the cartridge is declared as one (`L5`,
 * density 58h) whatever generation was planned; the capacity (in MB, of which the backend
 * gives 5% to the index partition) is what makes it as large as the planned tape.
 */
export function cartridgeConfigXml(capacityMb: number): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    "<filedebug_cartridge_config>",
    "    <dummy_io>false</dummy_io>",
    "    <emulate_readonly>false</emulate_readonly>",
    `    <capacity_mb>${capacityMb}</capacity_mb>`,
    "    <cart_type>L5</cart_type>",
    "    <density_code>58</density_code>",
    "    <delay_mode>None</delay_mode>",
    "</filedebug_cartridge_config>",
    "",
  ].join("\n");
}

/**
 * The medium auxiliary memory the backend keeps as `attr_<partition>_<id in hex>` files: the
 * volume change reference (0009h) and, per partition, LTFS's volume coherency information
 * (080Ch: that reference, the generation and block of the partition's last index, and the
 * volume UUID), which lets LTFS mount without a full consistency check.
 */
export function writeCoherency(dir: string, volumeUuid: string, generation: number, dataIndexBlock: number, indexIndexBlock: number): void {
  const changeReference = 1n;
  const vcr = new Uint8Array(9);
  const view = new DataView(vcr.buffer);
  view.setUint16(0, 0x0009);
  view.setUint16(3, 4);
  view.setUint32(5, Number(changeReference));
  writeFileSync(join(dir, "attr_0_9"), vcr);
  for (const [partition, block] of [
    [0, indexIndexBlock],
    [1, dataIndexBlock],
  ] as const) {
    const coherency = new Uint8Array(75);
    const v = new DataView(coherency.buffer);
    v.setUint16(0, 0x080c);
    v.setUint16(3, 70);
    coherency[5] = 8;
    v.setBigUint64(6, changeReference);
    v.setBigUint64(14, BigInt(generation));
    v.setBigUint64(22, BigInt(block));
    v.setUint16(30, 43);
    coherency.set(new TextEncoder().encode("LTFS"), 32);
    coherency.set(new TextEncoder().encode(volumeUuid), 37);
    coherency[74] = 1;
    writeFileSync(join(dir, `attr_${partition}_80c`), coherency);
  }
}
