/**
 * The LTFS index as the LTFS Format Specification 2.4 defines it and the reference
 * implementation writes it: one generation of the volume's directory tree, with each file's
 * extents on tape. Read and written by `index_xml.ts`, validated by `index_check.ts`.
 *
 * Numbers are JavaScript numbers: every byte count and block number of a tape (≤ 2^53) fits.
 * Times are kept as the index text (`2024-03-01T09:15:00.123456789Z`) so that nanoseconds
 * survive a round trip; {@link formatLtfsTime} makes one from epoch nanoseconds.
 */

/** The index version this module writes. */
export const LTFS_INDEX_VERSION = "2.4.0";

/** Longest name, in bytes of UTF-8, that names a file, directory or xattr. */
export const LTFS_NAME_MAX_BYTES = 255;

/** A position on tape: a partition letter (`a`…`z`) and a block number. */
export interface TapePosition {
  /** Partition identifier, one letter `a`…`z` (the index partition is usually `a`, data `b`). */
  partition: string;
  startBlock: number;
}

/** A run of a file's bytes on tape. */
export interface LtfsExtent {
  /** Offset of the run's first byte within the file. */
  fileOffset: number;
  partition: string;
  /** Block where the run starts. */
  startBlock: number;
  /** Offset of the run's first byte within that block. */
  byteOffset: number;
  /** Length of the run. */
  byteCount: number;
}

/**
 * An extended attribute. A string value is written as text (or base64 when XML cannot hold
 * it); a `Uint8Array` is always written as base64 and read back as one.
 */
export interface LtfsXattr {
  /** e.g. `ltfs.hash.xxh64sum`, `user.cartkit.xxh128`. */
  key: string;
  value: string | Uint8Array;
}

/** The times every entry carries, each in the index's time format. */
export interface LtfsTimes {
  creationTime: string;
  changeTime: string;
  modifyTime: string;
  accessTime: string;
  backupTime: string;
}

/** What files and directories share. */
interface LtfsEntryBase extends LtfsTimes {
  /** The entry's name as the user sees it (already percent-decoded). The root's is the volume name, "" for none. */
  name: string;
  readOnly: boolean;
  /** Unique within the volume; 1 is the root directory. */
  fileUid: number;
  xattrs: LtfsXattr[];
}

/** A file (or a symbolic link, when {@link LtfsFile.symlinkTarget} is set). */
export interface LtfsFile extends LtfsEntryBase {
  kind: "file";
  /** Length in bytes. Bytes no extent covers read as zeros (a sparse file). */
  length: number;
  /** Extents in the order written; an empty file has none. */
  extents: LtfsExtent[];
  /** Target of a symbolic link; such a file has no extents. */
  symlinkTarget?: string;
}

/** A directory and what it contains, in write order. */
export interface LtfsDirectory extends LtfsEntryBase {
  kind: "directory";
  contents: LtfsEntry[];
}

/** A file or a directory. */
export type LtfsEntry = LtfsFile | LtfsDirectory;

/** Files of at most `size` bytes whose names match one of `names` also go to the index partition. */
export interface IndexPartitionCriteria {
  size: number;
  /** Glob patterns such as `*.xml`. */
  names: string[];
}

/** Volume lock state (`volumelockstate`). */
export type VolumeLockState = "unlocked" | "locked" | "permlocked";

/**
 * One generation of an LTFS index.
 * @example
 * const index: LtfsIndex = {
 *   version: LTFS_INDEX_VERSION, creator: "cartkit 1.0.0 - Linux - ltfs-pack",
 *   volumeUuid: "0b2a6c2e-9f4d-4e0a-8d3c-2f6a1b7c9e01", generationNumber: 1,
 *   updateTime: formatLtfsTime(1_709_284_500_000_000_000n),
 *   location: { partition: "b", startBlock: 6 }, allowPolicyUpdate: true,
 *   highestFileUid: 1, root: emptyDirectory("", 1, formatLtfsTime(1_709_284_500_000_000_000n)),
 * };
 */
export interface LtfsIndex {
  /** `version` attribute of `<ltfsindex>`. @default LTFS_INDEX_VERSION */
  version: string;
  /** Free text naming the program that wrote the index. */
  creator: string;
  /** Optional commit message. */
  comment?: string;
  /** The volume's UUID, lowercase `8-4-4-4-12` hex. */
  volumeUuid: string;
  /** 1 for the first index of a volume, one more for each later one. */
  generationNumber: number;
  updateTime: string;
  /** Where this index itself is written. */
  location: TapePosition;
  /** Where the previous generation is; absent on a fresh volume. */
  previousGenerationLocation?: TapePosition;
  allowPolicyUpdate: boolean;
  dataPlacementPolicy?: { indexPartitionCriteria: IndexPartitionCriteria };
  /** The highest file UID in use. */
  highestFileUid: number;
  volumeLockState?: VolumeLockState;
  /** The root directory; its name is the volume name. */
  root: LtfsDirectory;
}

/**
 * Formats epoch nanoseconds (UTC) the way the index writes times: nine fractional digits and `Z`.
 * @example
 * formatLtfsTime(1_709_284_500_123_456_789n); // "2024-03-01T09:15:00.123456789Z"
 */
export function formatLtfsTime(epochNanoseconds: bigint): string {
  let seconds = epochNanoseconds / 1_000_000_000n;
  let nanoseconds = epochNanoseconds % 1_000_000_000n;
  if (nanoseconds < 0n) {
    nanoseconds += 1_000_000_000n;
    seconds -= 1n;
  }
  const date = new Date(Number(seconds) * 1000);
  return `${date.toISOString().slice(0, 19)}.${nanoseconds.toString().padStart(9, "0")}Z`;
}

/**
 * Milliseconds since the epoch of an index time (`2024-03-01T09:15:00.123456789Z`); NaN when the
 * text is not one.
 * @example
 * ltfsTimeMs("2024-03-01T09:15:00.123456789Z"); // 1709284500123
 */
export function ltfsTimeMs(text: string): number {
  return Date.parse(`${text.slice(0, 23)}Z`);
}

/**
 * A directory with no contents and all five times set to `time`.
 * @example
 * emptyDirectory("A001", 2, "2024-03-01T09:15:00.000000000Z");
 */
export function emptyDirectory(name: string, fileUid: number, time: string): LtfsDirectory {
  return {
    kind: "directory",
    name,
    readOnly: false,
    fileUid,
    xattrs: [],
    contents: [],
    creationTime: time,
    changeTime: time,
    modifyTime: time,
    accessTime: time,
    backupTime: time,
  };
}
