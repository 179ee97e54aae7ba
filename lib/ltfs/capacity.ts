/**
 * How many bytes of file data an LTFS tape takes: the cartridge's native capacity, less the
 * index partition, the records LTFS writes before the first file, and a reserve for the indexes
 * written while the tape fills — counted in whole 512 KiB blocks, because that is how LTFS lays
 * files down.
 *
 * Where the numbers come from:
 * - Native capacities (decimal TB) are the LTO Program's: LTO-5 1.5 TB, LTO-6 2.5 TB,
 *   LTO-7 6 TB, LTO-8 12 TB, LTO-9 18 TB.
 * - Wraps per cartridge follow from the track counts: LTO-5 80 (1280 tracks / 16 per wrap),
 *   LTO-6 136 (2176 / 16), LTO-7 112 (3584 / 32), LTO-8 208 (6656 / 32), LTO-9 280 (8960 / 32).
 * - `mkltfs` asks the drive for the smallest index partition it allows (LTFS reference
 *   implementation, src/libltfs/tape.c, `tape_format`: "round up to minimum partition size"), which
 *   on LTO is 2 wraps, plus 2 guard wraps between the partitions (the reference file backend
 *   models the same layout, src/tape_drivers/generic/file/filedebug_tc.c: "2 wraps for
 *   partition 0, 2 guard wraps, other wraps are for partition 1"). So the data partition holds
 *   native × (wraps − 4) / wraps bytes, e.g. 1.425 TB on LTO-5 (the "≈1.43 TB" LTFS users see).
 *   A real drive reports its own figure; ours is the estimate a plan can be made with offline.
 * - Before the first file, `ltfs_format_tape` (src/libltfs/ltfs.c) writes on the data partition
 *   the label construct — VOL1 record, filemark, `ltfslabel` XML record, filemark — and the
 *   first index construct — filemark, index record, filemark: positions 0–6. We count each as a
 *   full block ({@link FORMAT_BLOCKS}), so file data starts at block 7, as on a fresh tape.
 * - LTFS writes each file's data in records of the volume's block size, 524288 bytes by default
 *   (`LTFS_DEFAULT_BLOCKSIZE`, src/libltfs/ltfs.h), and never shares a record between files: a
 *   file occupies ceil(size / 524288) blocks and an empty file none.
 * - Every sync and the unmount append an index (filemark, index XML, filemark) to the data
 *   partition; its size grows with the file count. The reserve pays for those: by default 5% of
 *   the data partition and at least 100 GB. A reserve the user gives is taken as given — the
 *   100 GB floor applies only to the default, so `--reserve 0` plans to the last block.
 */
import { usageError } from "../core/errors.ts";
import { parseSize } from "../core/units.ts";

/** LTFS's default block (record) size: `LTFS_DEFAULT_BLOCKSIZE` in the reference implementation. */
export const LTFS_BLOCK_SIZE = 524_288;

/** Data-partition positions used before the first file: VOL1, filemark, LTFS label, filemark, filemark, index, filemark. */
export const FORMAT_BLOCKS = 7;

/** Index partition (2 wraps) and guard wraps (2) taken from every LTO cartridge's wraps. */
export const INDEX_AND_GUARD_WRAPS = 4;

/** The default reserve when the user gives none: this fraction of the data partition… */
export const DEFAULT_RESERVE_FRACTION = 0.05;
/** …but at least this many bytes (100 GB). */
export const DEFAULT_RESERVE_MIN_BYTES = 100_000_000_000;

/** An LTO generation LTFS can format (LTO-5 introduced partitions). */
export interface LtoGeneration {
  /** `LTO-5` … `LTO-9`. */
  name: string;
  /** Native (uncompressed) capacity in bytes. */
  nativeBytes: number;
  /** Wraps on the cartridge. */
  wraps: number;
}

/** The generations `--tape` accepts by name. */
export const LTO_GENERATIONS: readonly LtoGeneration[] = [
  { name: "LTO-5", nativeBytes: 1_500_000_000_000, wraps: 80 },
  { name: "LTO-6", nativeBytes: 2_500_000_000_000, wraps: 136 },
  { name: "LTO-7", nativeBytes: 6_000_000_000_000, wraps: 112 },
  { name: "LTO-8", nativeBytes: 12_000_000_000_000, wraps: 208 },
  { name: "LTO-9", nativeBytes: 18_000_000_000_000, wraps: 280 },
];

/** A tape as the user named it, before the reserve. */
export interface TapeKind {
  /** `LTO-8`, or `custom` for a byte count. */
  name: string;
  /** Native capacity in bytes (for a byte count: the count). */
  nativeBytes: number;
  /** Bytes of the data partition (for a byte count: the count, taken as the data partition). */
  dataPartitionBytes: number;
}

/**
 * Reads `--tape`: an LTO generation (`LTO-8` or `LTO8`, any case) or a size in bytes (`10MiB`,
 * `12TB`). A size is the data partition's capacity — what
 * the drive reports for partition b — so no index partition is taken from it.
 * @example
 * parseTape("LTO-8").dataPartitionBytes; // 11769230769230
 * parseTape("10MiB").dataPartitionBytes; // 10485760
 */
export function parseTape(text: string): TapeKind {
  const normalized = text
    .trim()
    .toUpperCase()
    .replace(/^LTO-?/, "LTO-");
  const generation = LTO_GENERATIONS.find((g) => g.name === normalized);
  if (generation) {
    const dataPartitionBytes = Math.floor((generation.nativeBytes * (generation.wraps - INDEX_AND_GUARD_WRAPS)) / generation.wraps);
    return { name: generation.name, nativeBytes: generation.nativeBytes, dataPartitionBytes };
  }
  if (/^LTO-/.test(normalized)) {
    throw usageError(`unknown tape '${text}'; use ${LTO_GENERATIONS.map((g) => g.name).join(", ")} or a size in bytes`);
  }
  const bytes = parseSize(text, "tape capacity");
  return { name: "custom", nativeBytes: bytes, dataPartitionBytes: bytes };
}

/** The reserve as the user gave it. */
export type Reserve = { kind: "default" } | { kind: "percent"; percent: number } | { kind: "bytes"; bytes: number };

/**
 * Reads `--reserve`: a percentage of the data partition (`5%`, `2.5%`) or a size (`100GB`, `0`).
 * No value means the default (5%, at least 100 GB).
 * @example
 * parseReserve("5%");    // { kind: "percent", percent: 5 }
 * parseReserve("100GB"); // { kind: "bytes", bytes: 100000000000 }
 */
export function parseReserve(text: string | undefined): Reserve {
  if (text === undefined) return { kind: "default" };
  const percent = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text);
  if (percent) {
    const value = Number(percent[1]);
    if (value >= 100) throw usageError(`invalid reserve '${text}': must be less than 100%`);
    return { kind: "percent", percent: value };
  }
  return { kind: "bytes", bytes: parseSize(text, "reserve") };
}

/** What a plan can put on one tape. */
export interface TapeCapacity {
  /** `LTO-8` or `custom`. */
  name: string;
  nativeBytes: number;
  dataPartitionBytes: number;
  /** Bytes held back for indexes. */
  reserveBytes: number;
  /** Block size files are rounded to. */
  blockSize: number;
  /** Blocks before the first file (label construct and first index). */
  formatBlocks: number;
  /** Blocks of file data a tape takes. */
  usableBlocks: number;
  /** `usableBlocks × blockSize`. */
  usableBytes: number;
}

/**
 * The usable capacity of a tape: floor((data partition − reserve) / block size) − format blocks.
 * @example
 * const cap = tapeCapacity(parseTape("10MiB"), parseReserve("0"));
 * cap.usableBlocks; // 13 (20 blocks, less the 7 LTFS writes when formatting)
 */
export function tapeCapacity(tape: TapeKind, reserve: Reserve, blockSize = LTFS_BLOCK_SIZE): TapeCapacity {
  const partition = tape.dataPartitionBytes;
  const reserveBytes = reserve.kind === "bytes" ? reserve.bytes : reserve.kind === "percent" ? Math.ceil((partition * reserve.percent) / 100) : Math.max(Math.ceil(partition * DEFAULT_RESERVE_FRACTION), DEFAULT_RESERVE_MIN_BYTES);
  const usableBlocks = Math.floor(Math.max(0, partition - reserveBytes) / blockSize) - FORMAT_BLOCKS;
  if (usableBlocks < 1) {
    const hint = reserve.kind === "default" ? " (the default reserve is 5%, at least 100 GB; give --reserve)" : "";
    throw usageError(`tape of ${partition} bytes with a reserve of ${reserveBytes} bytes leaves no room for data${hint}`);
  }
  return {
    name: tape.name,
    nativeBytes: tape.nativeBytes,
    dataPartitionBytes: partition,
    reserveBytes,
    blockSize,
    formatBlocks: FORMAT_BLOCKS,
    usableBlocks,
    usableBytes: usableBlocks * blockSize,
  };
}

/**
 * Blocks a file of this size occupies on tape: LTFS never shares a block between files.
 * @example
 * blocksFor(0);      // 0
 * blocksFor(1);      // 1
 * blocksFor(524289); // 2
 */
export function blocksFor(size: number, blockSize = LTFS_BLOCK_SIZE): number {
  return Math.ceil(size / blockSize);
}
