/**
 * Which volume a path is on, for the offload report: its mount point, device, file system,
 * label (the card's volume name) and the serial number of the disk it is on, where the system
 * gives one. Linux only: the mount comes from /proc/self/mountinfo (matched by device number),
 * the label from udev (lsblk) or the file system itself (blkid), the serial from sysfs (SD and
 * MMC cards carry their own serial there, NVMe and virtio disks theirs) or udev (USB readers:
 * often the reader's serial, not the card's). A loop device names its backing file.
 * Programs are run without a shell, with a device path as their only operand.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { baseOf, parentOf } from "../core/names.ts";
import { mountHolding } from "../io/mounts.ts";

/** What the system says about the volume holding a path. */
export interface VolumeInfo {
  mountPoint: string;
  fsType: string;
  /** The block device (`/dev/sdb1`), or null for a file system without one (tmpfs, NFS). */
  device: string | null;
  /** The volume name (file system label). */
  label: string | null;
  uuid: string | null;
  /** The disk's serial number. */
  serial: string | null;
  /** The disk's vendor and model. */
  model: string | null;
  /** For a loop device: the file it is backed by. */
  backingFile: string | null;
}

function run(cmd: string[]): string | undefined {
  try {
    const proc = Bun.spawnSync({ cmd, stdin: "ignore", stdout: "pipe", stderr: "ignore", timeout: 10_000 });
    return proc.exitCode === 0 ? proc.stdout.toString() : undefined;
  } catch {
    return undefined;
  }
}

function readTrimmed(path: string): string | null {
  try {
    const text = readFileSync(path, "utf8").replace(/\0+$/, "").trim();
    return text === "" ? null : text;
  } catch {
    return null;
  }
}

/** blkid's `KEY=value` lines (values with `\` escapes). */
function blkid(device: string): Map<string, string> {
  const out = run(["blkid", "-o", "export", "--", device]) ?? run(["blkid", "-p", "-o", "export", "--", device]) ?? "";
  const fields = new Map<string, string>();
  for (const line of out.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1).replace(/\\(.)/g, "$1"));
  }
  return fields;
}

function udevProperties(device: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of (run(["udevadm", "info", "--query=property", `--name=${device}`]) ?? "").split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  return fields;
}

/** The whole disk a partition belongs to (`sdb1` → `sdb`), by sysfs. */
function diskOf(name: string): string {
  if (!existsSync(`/sys/class/block/${name}/partition`)) return name;
  try {
    return baseOf(parentOf(realpathSync(`/sys/class/block/${name}`)));
  } catch {
    return name;
  }
}

/**
 * Describes the volume holding `path`; undefined where the system cannot say (not Linux, no
 * /proc).
 * @example
 * const volume = describeVolume("/media/dit/A001/CLIPS");
 * volume?.label; // "A001"
 */
export function describeVolume(path: string): VolumeInfo | undefined {
  if (process.platform !== "linux") return undefined;
  // The mount the kernel finds the path on: a covered or bound one is not mistaken for it.
  const mount = mountHolding(path);
  if (!mount) return undefined;
  const info: VolumeInfo = { mountPoint: mount.point, fsType: mount.fsType, device: null, label: null, uuid: null, serial: null, model: null, backingFile: null };
  if (!mount.source.startsWith("/dev/")) return info;
  let device = mount.source;
  try {
    device = realpathSync(mount.source);
  } catch {
    // keep the name the mount table gives
  }
  info.device = device;
  const name = baseOf(device);
  const disk = diskOf(name);
  const udev = udevProperties(device);
  const diskUdev = disk === name ? udev : udevProperties(`/dev/${disk}`);
  const probed = udev.has("ID_FS_LABEL") || udev.has("ID_FS_UUID") ? new Map<string, string>() : blkid(device);
  info.label = udev.get("ID_FS_LABEL") ?? probed.get("LABEL") ?? null;
  info.uuid = udev.get("ID_FS_UUID") ?? probed.get("UUID") ?? null;
  const probedType = probed.get("TYPE") ?? udev.get("ID_FS_TYPE");
  if (probedType && info.fsType.startsWith("fuse")) info.fsType = `${probedType} through FUSE`;
  info.serial = readTrimmed(`/sys/block/${disk}/device/serial`) ?? readTrimmed(`/sys/block/${disk}/serial`) ?? diskUdev.get("ID_SERIAL_SHORT") ?? diskUdev.get("ID_SERIAL") ?? null;
  // SCSI and USB disks have vendor and model files; MMC cards a name; virtio's vendor is a PCI id.
  const model = readTrimmed(`/sys/block/${disk}/device/model`) ?? readTrimmed(`/sys/block/${disk}/device/name`) ?? diskUdev.get("ID_MODEL") ?? null;
  const vendor = model ? (readTrimmed(`/sys/block/${disk}/device/vendor`) ?? diskUdev.get("ID_VENDOR") ?? null) : null;
  info.model = [vendor, model].filter(Boolean).join(" ") || null;
  info.backingFile = readTrimmed(`/sys/block/${disk}/loop/backing_file`);
  return info;
}
