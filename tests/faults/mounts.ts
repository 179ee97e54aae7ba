/**
 * Real file systems for fault tests: a small tmpfs (a full disk), a loop-mounted ext4 (made with
 * the options a test needs), a loop-mounted XFS (shut down with `xfs_io -x -c shutdown`, what a
 * pulled drive does to a mounted file system), and a loop-backed exFAT through exfat-fuse (whose
 * daemon can be killed, and which keeps FAT's name rules and knows no case), and a FAT32 image
 * through fusefat (which keeps no modes or times, and takes ASCII names only). Each needs root;
 * each is unmounted after the test file.
 */
import { afterAll } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { IS_ROOT, run } from "../helpers.ts";

/** A mounted file system made for a test. */
export interface TestMount {
  path: string;
  /** Simulates the drive going away (XFS: shutdown; exFAT: the FUSE daemon killed). */
  pull(): void;
}

const cleanups: Array<() => void> = [];
afterAll(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
});

/** Throws in CI, where every fault test must run; elsewhere tells the caller to skip. */
function need(what: string, ok: boolean): boolean {
  if (!ok && process.env.CI === "true") throw new Error(`CI must be able to ${what} (root, xfsprogs, exfatprogs, exfat-fuse, dosfstools, fusefat)`);
  return ok;
}

/** True where these mounts can be made here (root, and the tools installed). */
export const CAN_MOUNT = IS_ROOT && ["mkfs.xfs", "xfs_io", "mkfs.exfat", "mount.exfat-fuse", "losetup"].every((t) => Bun.which(t) !== null);

/** A tmpfs of `size` (e.g. "1m") at `dir/name`. */
export function tmpfs(dir: string, name: string, size: string): TestMount | undefined {
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  if (!need("mount a tmpfs", run(["mount", "-t", "tmpfs", "-o", `size=${size}`, "tmpfs", path]).code === 0)) return undefined;
  cleanups.push(() => run(["umount", "-l", path]));
  return { path, pull: () => run(["umount", "-l", path]) };
}

/**
 * An overlayfs at `dir/name` whose lower layer is a tmpfs holding what `fill` writes into it,
 * with `xino=on`: its inode numbers carry the layer in their high bits, above 2^53.
 */
export function overlay(dir: string, name: string, fill: (lower: string) => void): TestMount | undefined {
  const lower = tmpfs(dir, `${name}-lower`, "16m");
  if (!lower) return undefined;
  fill(lower.path);
  const path = join(dir, name);
  for (const sub of [path, join(dir, `${name}-upper`), join(dir, `${name}-work`)]) mkdirSync(sub, { recursive: true });
  const options = `lowerdir=${lower.path},upperdir=${join(dir, `${name}-upper`)},workdir=${join(dir, `${name}-work`)},xino=on`;
  if (!need("mount an overlayfs", run(["mount", "-t", "overlay", "overlay", "-o", options, path]).code === 0)) return undefined;
  cleanups.push(() => run(["umount", "-l", path]));
  return { path, pull: () => run(["umount", "-l", path]) };
}

/** A loop-mounted XFS of `megabytes` at `dir/name`. */
export function xfs(dir: string, name: string, megabytes = 300): TestMount | undefined {
  const image = join(dir, `${name}.xfs.img`);
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  const made = run(["truncate", "-s", `${megabytes}M`, image]).code === 0 && run(["mkfs.xfs", "-q", image]).code === 0;
  if (!need("make an XFS", made && run(["mount", "-o", "loop", image, path]).code === 0)) return undefined;
  cleanups.push(() => run(["umount", "-l", path]));
  return { path, pull: () => run(["xfs_io", "-x", "-c", "shutdown", path]) };
}

/** A loop-mounted ext4 of `megabytes` at `dir/name`, made with `mkfs` options (e.g. `-b 4096`, `-I 128`). */
export function ext4(dir: string, name: string, megabytes: number, mkfs: string[] = []): TestMount | undefined {
  const image = join(dir, `${name}.ext4.img`);
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  const made = run(["truncate", "-s", `${megabytes}M`, image]).code === 0 && run(["mkfs.ext4", "-q", ...mkfs, image]).code === 0;
  if (!need("make an ext4", made && run(["mount", "-o", "loop", image, path]).code === 0)) return undefined;
  cleanups.push(() => run(["umount", "-l", path]));
  return { path, pull: () => run(["umount", "-l", path]) };
}

/** A loop-backed exFAT of `megabytes`, made with `mkfs` options (e.g. `-c 128K`), mounted through exfat-fuse at `dir/name`. */
export function exfat(dir: string, name: string, megabytes = 200, mkfs: string[] = []): TestMount | undefined {
  const image = join(dir, `${name}.exfat.img`);
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  if (!need("make an exFAT", run(["truncate", "-s", `${megabytes}M`, image]).code === 0 && run(["mkfs.exfat", ...mkfs, image]).code === 0)) return undefined;
  const loop = run(["losetup", "-f", "--show", image]).stdout.trim();
  if (!need("attach a loop device", loop.startsWith("/dev/loop"))) return undefined;
  cleanups.push(() => run(["losetup", "-d", loop]));
  if (!need("mount exfat-fuse", run(["mount.exfat-fuse", loop, path]).code === 0)) return undefined;
  cleanups.push(() => run(["umount", "-l", path]));
  const daemon = () => {
    for (const line of run(["pgrep", "-a", "mount.exfat"]).stdout.split("\n")) {
      const [pid, ...cmd] = line.trim().split(" ");
      if (pid && cmd.join(" ").includes(loop)) return Number(pid);
    }
    return undefined;
  };
  return {
    path,
    pull: () => {
      const pid = daemon();
      if (pid) process.kill(pid, "SIGKILL");
    },
  };
}

/** True where a FAT image can be made and mounted through fusefat here. */
export const CAN_MOUNT_FAT = IS_ROOT && ["mkfs.vfat", "fusefat"].every((t) => Bun.which(t) !== null);

/** A FAT32 image of `megabytes`, mounted through fusefat (read-write) at `dir/name`. */
export function fat(dir: string, name: string, megabytes = 100): TestMount | undefined {
  const image = join(dir, `${name}.fat.img`);
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  if (!need("make a FAT", run(["truncate", "-s", `${megabytes}M`, image]).code === 0 && run(["mkfs.vfat", "-F", "32", image]).code === 0)) return undefined;
  if (!need("mount fusefat", run(["fusefat", "-o", "rw+", image, path]).code === 0)) return undefined;
  cleanups.push(() => run(["umount", "-l", path]));
  return {
    path,
    pull: () => {
      for (const pid of run(["pgrep", "-f", `^fusefat .*${image} `])
        .stdout.split("\n")
        .filter(Boolean))
        process.kill(Number(pid), "SIGKILL");
    },
  };
}

/** The mounts that hold `path` right now (for assertions that a mount is really there). */
export function mountedAt(path: string): boolean {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[1] === path);
}
