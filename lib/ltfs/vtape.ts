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
import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeAll } from "../io/atomic_file.ts";
import { flushFileSystem, startWriteback } from "../io/libc.ts";

/** What is at a tape position. */
export type PositionKind = "R" | "F" | "E";

/** Physical partitions: the index partition is 0, the data partition 1. */
export const INDEX_PARTITION = 0;
export const DATA_PARTITION = 1;

/** The file the reference file backend keeps its cartridge settings in. */
export const CARTRIDGE_CONFIG = "filedebug_tc_conf.xml";

const POSITION_NAME = /^([01])_(\d+)_([RFE])$/;

/** The name of the file for a position. */
export function positionFile(partition: number, block: number, kind: PositionKind): string {
  return `${partition}_${block}_${kind}`;
}

/**
 * Writes positions in order on each partition. Each record is one file, written whole. The
 * end-of-data mark is moved only at consistent points ({@link markEnd}, after an index): the
 * backend stops at the first `E`, so positions written after it stay hidden until the mark moves
 * past them, and an interrupted write leaves the tape as of its last index — the bytes written
 * since are beyond the end of data, as on a tape.
 */
export class VtapeWriter {
  readonly dir: string;
  #next: [number, number];
  #end: [number | undefined, number | undefined] = [undefined, undefined];

  readonly #writeback: boolean;

  /**
   * Starts a blank tape in `dir`. With `writeback`, each record's write-back to the device is
   * started as soon as it is written (the data streams to disk as it would to a drive, rather
   * than piling up in memory), so the flushes at indexes wait for little.
   */
  constructor(dir: string, writeback = false) {
    this.dir = dir;
    this.#next = [0, 0];
    this.#writeback = writeback;
  }

  /** The position the next write on `partition` goes to. */
  position(partition: number): number {
    return this.#next[partition as 0 | 1];
  }

  /** Writes one record; returns its block number. */
  writeRecord(partition: number, bytes: Uint8Array): number {
    const block = this.#next[partition as 0 | 1]++;
    const fd = openSync(join(this.dir, positionFile(partition, block, "R")), "wx");
    try {
      writeAll(fd, bytes);
      if (this.#writeback) startWriteback(fd);
    } finally {
      closeSync(fd);
    }
    return block;
  }

  /** Writes a file mark; returns its position. */
  writeFilemark(partition: number): number {
    const block = this.#next[partition as 0 | 1]++;
    closeSync(openSync(join(this.dir, positionFile(partition, block, "F")), "wx"));
    return block;
  }

  /** Moves `partition`'s end-of-data mark to the next position: what was written becomes visible. */
  markEnd(partition: number): void {
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

  /** Makes everything written so far durable (one syncfs for the folder's file system). */
  flush(): void {
    flushFileSystem(this.dir);
  }
}

/** Reads a virtual tape's positions. */
export class VtapeReader {
  readonly dir: string;
  /** Per partition: kind of each position, by block. */
  readonly #kinds: [Map<number, PositionKind>, Map<number, PositionKind>] = [new Map(), new Map()];

  /**
   * Lists the folder once.
   * @throws {Error} with `code` ENOENT/ENOTDIR when `dir` is not a folder.
   */
  constructor(dir: string) {
    this.dir = dir;
    for (const name of readdirSync(dir)) {
      const m = POSITION_NAME.exec(name);
      if (!m) continue;
      // A position holding an end-of-data mark is the end, whatever else is there (bytes
      // written after the last consistent point, as an interrupted write leaves them).
      const kinds = this.#kinds[Number(m[1]) as 0 | 1];
      if (kinds.get(Number(m[2])) !== "E") kinds.set(Number(m[2]), m[3] as PositionKind);
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

  /** The bytes of a record. @throws {Error} when the position holds no record. */
  readRecord(partition: number, block: number): Uint8Array {
    if (this.kind(partition, block) !== "R") throw new Error(`no record at partition ${partition} block ${block}`);
    return readFileSync(join(this.dir, positionFile(partition, block, "R")));
  }

  /** Size of a record without reading it. */
  recordSize(partition: number, block: number): number {
    return statSync(join(this.dir, positionFile(partition, block, "R"))).size;
  }

  /** The path of a record's file (for reading it in pieces). */
  recordPath(partition: number, block: number): string {
    return join(this.dir, positionFile(partition, block, "R"));
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
  for (const [partition, block] of [[0, indexIndexBlock], [1, dataIndexBlock]] as const) {
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
