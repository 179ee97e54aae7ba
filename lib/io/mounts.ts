/**
 * This process's mounts, as Linux lists them in /proc/self/mountinfo: read in one place for
 * the tools that ask which mount holds a path (lib/offload/places.ts, lib/offload/volume.ts,
 * lib/io/fat.ts). Names are kept as bytes (lib/core/names.ts): a mount point that is not
 * UTF-8 compares with the paths the walks give.
 */
import { closeSync, openSync, readFileSync } from "node:fs";
import { fsPath, nameFromBytes } from "../core/names.ts";

/** One line of mountinfo. */
export interface Mount {
  /** The mount's id (as `mnt_id` of a descriptor on it gives it). */
  id: string;
  /** `major:minor` of the file system's device. */
  device: string;
  /** The folder of the file system mounted here (`/` but for a bind mount of a folder). */
  root: string;
  /** Where it is mounted. */
  point: string;
  fsType: string;
  /** What was mounted (`/dev/sdb1`, `tmpfs`, …). */
  source: string;
}

/** A field of mountinfo with its escapes undone (space, tab, newline and backslash are written in octal, `\040`). */
function unescapeField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * The mounts as they are now; none where they cannot be read (not Linux).
 * @example
 * readMounts().find((m) => m.point === "/")?.fsType; // "ext4"
 */
export function readMounts(): Mount[] {
  let text: string;
  try {
    text = readFileSync("/proc/self/mountinfo", "latin1");
  } catch {
    return [];
  }
  const asName = (field: string) => nameFromBytes(Buffer.from(unescapeField(field), "latin1"));
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    // The optional fields end at a lone "-"; the file system's type and source follow it.
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const fields = left.split(" ");
    const [fsType = "", source = ""] = right.split(" ");
    if (fields.length < 5) continue;
    mounts.push({ id: fields[0]!, device: fields[2]!, root: asName(fields[3]!), point: asName(fields[4]!), fsType, source: asName(source) });
  }
  return mounts;
}

/**
 * Linux's split of a device number into `major:minor`, as mountinfo writes it.
 * @example
 * majorMinor(2049); // "8:1"
 */
export function majorMinor(dev: number | bigint): string {
  const n = BigInt(dev);
  const major = ((n >> 8n) & 0xfffn) | ((n >> 32n) & ~0xfffn);
  const minor = (n & 0xffn) | ((n >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** `O_PATH`: a descriptor that names the entry, opening nothing for reading (a device, a FIFO). */
const O_PATH = 0o10000000;

/**
 * The mount `path` is on, as the kernel finds it (the `mnt_id` of a descriptor for it, looked up
 * in the mounts as they are now), not the longest mount point before it: a mount may be covered
 * by a later one, or bound elsewhere. None where that mount is not listed (a chroot's own) or
 * the path cannot be opened.
 * @example
 * mountHolding("/mnt/raid/A001")?.point; // "/mnt/raid"
 */
export function mountHolding(path: string): Mount | undefined {
  let fd: number | undefined;
  let id: string | undefined;
  try {
    fd = openSync(fsPath(path), O_PATH);
    id = /^mnt_id:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "latin1"))?.[1];
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return id === undefined ? undefined : readMounts().find((m) => m.id === id);
}
