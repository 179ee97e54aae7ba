/**
 * The space a tree's files will take on a destination, for the check made before an offload
 * starts (a destination that cannot hold the card is refused, not filled).
 *
 * A file takes whole blocks of the destination's file system. A file with holes is copied with
 * them (lib/offload/copy.ts writes only its data ranges, after setting its size), so on a file
 * system that keeps holes it takes the blocks of its data alone: six files of 2 GiB holding 1 MB
 * each need 6 MB, not 12 GiB. A file system that keeps no holes (FAT and exFAT, whose files are
 * one run of clusters, and anything not known to keep them: NFS, FUSE) fills every hole when the
 * size is set, so there a file takes its full size.
 *
 * The figure errs on the side of refusing: each data range is counted in whole destination
 * blocks (a block two ranges share once), and each range adds
 * {@link RANGE_RECORD_BYTES} for the record its file system keeps of it. Holes are looked for
 * only when the plain sum does not fit: a card of dense clips costs no more than before.
 */
import { fstatSync, statfsSync } from "node:fs";
import { HeldFolder, withFileIn } from "../io/held_folder.ts";
import { dataRanges } from "../io/libc.ts";
import { atNearestExisting } from "./places.ts";
import { isSparse } from "./sparse.ts";

/**
 * File systems (statfs f_type) whose files keep holes: ext2/3/4, XFS, Btrfs, tmpfs, F2FS, ZFS,
 * bcachefs.
 */
const KEEP_HOLES = new Set([0xef53, 0x58465342, 0x9123683e, 0x01021994, 0xf2f52010, 0x2fc12fc1, 0xca451a4e]);

/**
 * Network file systems, whose statfs block size is a transfer size (NFS and SMB say 1 MiB), not
 * the unit a file takes: counting 20,000 small files in it would refuse a share that holds them
 * with room to spare, so there the sizes are summed as they are. Everywhere else (local file
 * systems, FAT and exFAT whose clusters may be 128 KiB, exfat-fuse, which reports its cluster)
 * a file takes whole blocks: NFS, SMB 1, CIFS, SMB 2/3, Ceph, 9p, AFS.
 */
const TRANSFER_SIZED = new Set([0x6969, 0x517b, 0xff534d42, 0xfe534d42, 0x00c36400, 0x01021997, 0x5346414f]);

/**
 * What a file system keeps per data range of a file, in bytes, counted high: ext4's extent entry
 * is 12 bytes (340 to a 4 KiB block), XFS's extent record 16, in blocks that may be half full.
 */
export const RANGE_RECORD_BYTES = 32;

/** What a destination's file system does with a file's bytes. */
export interface DestinationBlocks {
  /** Its block size (statfs f_bsize). */
  blockSize: number;
  /** Whether a hole stays a hole. */
  keepsHoles: boolean;
}

/**
 * The file system holding `path` (or its nearest existing parent: a destination may not exist
 * yet). Unknown (nothing to stat): blocks of one byte, no holes, the plain sum of sizes.
 * @example
 * destinationBlocks("/mnt/raid/A001"); // { blockSize: 4096, keepsHoles: true }
 */
export function destinationBlocks(path: string): DestinationBlocks {
  return (
    atNearestExisting(path, (existing) => {
      const fs = statfsSync(existing);
      const type = Number(fs.type) >>> 0;
      return { blockSize: TRANSFER_SIZED.has(type) ? 1 : Math.max(1, Number(fs.bsize)), keepsHoles: KEEP_HOLES.has(type) };
    }) ?? { blockSize: 1, keepsHoles: false }
  );
}

/** Bytes in whole blocks of `blockSize`. */
function inBlocks(bytes: number, blockSize: number): number {
  return Math.ceil(bytes / blockSize) * blockSize;
}

/** A source file as the plan lists it. */
export interface SourceFileRef {
  /** Path beneath the source root. */
  relativePath: string;
  size: number;
  /** Reached through a link inside the source. */
  throughLink?: boolean;
}

/**
 * The bytes a file takes on a file system with `blockSize` blocks that keeps holes: with holes,
 * each of its data ranges in whole blocks and a record per range; without, or when it cannot be
 * read, its full size in blocks.
 */
function onHoleKeeping(folder: HeldFolder, file: SourceFileRef, blockSize: number): number {
  const whole = inBlocks(file.size, blockSize);
  try {
    // Its blocks first, from its folder's entry: only a file with holes is opened.
    const entry = file.throughLink ? undefined : folder.stat(file.relativePath);
    if (entry && (entry.kind !== "file" || !isSparse(entry.size, entry.blocks))) return whole;
  } catch {
    return whole;
  }
  const counted = withFileIn(folder, file.relativePath, (fd) => onHoleKeepingOpen(fd, whole, blockSize), { inside: file.throughLink });
  return counted ?? whole;
}

/** {@link onHoleKeeping} of the open file (`whole`: its full size in blocks). */
function onHoleKeepingOpen(fd: number, whole: number, blockSize: number): number {
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || !isSparse(stat.size, stat.blocks)) return inBlocks(stat.size, blockSize);
    let bytes = 0;
    // Ranges that share a block count it once.
    let counted = 0;
    for (const [start, end] of dataRanges(fd, stat.size)) {
      const from = Math.max(Math.floor(start / blockSize) * blockSize, counted);
      const to = inBlocks(end, blockSize);
      if (to > from) bytes += to - from;
      counted = Math.max(counted, to);
      bytes += RANGE_RECORD_BYTES;
      // Holes or not, never more than the whole file.
      if (bytes >= whole) return whole;
    }
    return bytes;
  } catch {
    return whole;
  }
}

/**
 * The space `files` (beneath the folder `sourceRoot`) will take on the destination at `root`,
 * which has `available` bytes free: their sizes in whole blocks, and where that does not fit and
 * the destination keeps holes, files with holes counted by their data.
 * @example
 * const needed = spaceNeeded("/media/card", [{ relativePath: "disk.img", size: 2 ** 31 }], "/mnt/raid/A001", 1e9);
 */
export function spaceNeeded(sourceRoot: string, files: readonly SourceFileRef[], root: string, available: number): number {
  const { blockSize, keepsHoles } = destinationBlocks(root);
  let needed = 0;
  for (const f of files) needed += inBlocks(f.size, blockSize);
  if (needed <= available || !keepsHoles) return needed;
  let folder: HeldFolder;
  try {
    folder = HeldFolder.open(sourceRoot);
  } catch {
    return needed;
  }
  try {
    needed = 0;
    for (const f of files) needed += onHoleKeeping(folder, f, blockSize);
    return needed;
  } finally {
    folder.close();
  }
}
