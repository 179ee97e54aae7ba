/**
 * Whether a folder lives on FAT or exFAT, whose names cannot hold `" * / : < > ? \ |`, control
 * characters, or a trailing dot or space. The kernel's drivers say so by their file system type;
 * exFAT or FAT mounted through FUSE (exfat-fuse, fusefat) shows only as `fuseblk`, so its device's
 * boot sector is read (its first 512 bytes) when the mount names a device this process can read.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { fileSystemType } from "./libc.ts";
import { majorMinor, readMounts } from "./mounts.ts";

const MSDOS_MAGIC = 0x4d44;
const EXFAT_MAGIC = 0x2011bab0;
const FUSE_MAGIC = 0x65735546;

/**
 * False on a file system whose inode numbers are not a file's lasting identity: FAT and exFAT
 * (the kernel numbers a file anew when it reads it again) and FUSE (exfat-fuse, fusefat and
 * most others number what the kernel asks about, and again after it forgot it).
 * @example
 * import { openSync } from "node:fs";
 * inodesAreStable(openSync("/mnt/card", "r")); // false on an exFAT card
 */
export function inodesAreStable(fd: number): boolean {
  const type = fileSystemType(fd);
  return type !== MSDOS_MAGIC && type !== EXFAT_MAGIC && type !== FUSE_MAGIC;
}

/** "FAT", "exFAT", or undefined for any other file system (or one that cannot be told). */
export type FatKind = "FAT" | "exFAT";

/**
 * The FAT kind of the file system holding the open folder `fd`, whose device number is `dev`
 * (as node:fs's `stats.dev` gives it).
 * @example
 * import { openSync, statSync } from "node:fs";
 * const fd = openSync("/mnt/card", "r");
 * const kind = fatKindOf(fd, statSync("/mnt/card").dev); // "exFAT"
 */
export function fatKindOf(fd: number, dev: number | bigint): FatKind | undefined {
  const type = fileSystemType(fd);
  if (type === MSDOS_MAGIC) return "FAT";
  if (type === EXFAT_MAGIC) return "exFAT";
  if (type !== FUSE_MAGIC) return undefined;
  const device = mountSource(BigInt(dev));
  return device === undefined ? undefined : bootSectorKind(device);
}

/** The source of the mount whose device is `dev`, when it is a device path. */
function mountSource(dev: bigint): string | undefined {
  const device = majorMinor(dev);
  return readMounts().find((m) => m.device === device && m.source.startsWith("/dev/"))?.source;
}

/** What a device's boot sector says it holds. */
function bootSectorKind(device: string): FatKind | undefined {
  let fd: number;
  try {
    fd = openSync(device, "r");
  } catch {
    return undefined;
  }
  try {
    const sector = Buffer.alloc(512);
    if (readSync(fd, sector, 0, 512, 0) < 512) return undefined;
    if (sector.toString("latin1", 3, 11) === "EXFAT   ") return "exFAT";
    const fat = sector.toString("latin1", 54, 59) === "FAT12" || sector.toString("latin1", 54, 59) === "FAT16" || sector.toString("latin1", 82, 87) === "FAT32";
    return fat && sector[510] === 0x55 && sector[511] === 0xaa ? "FAT" : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
