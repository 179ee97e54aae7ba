/**
 * Where a copy may go. A destination that is the source, lies inside it or holds it would make
 * an offload "verify" the card against itself (and write into the card); two destinations that
 * are one folder would count one copy twice. Folders are compared by what they are (device and
 * inode, through every link, and by their path within their file system, so that a folder bound
 * elsewhere is found under either name), never by how their paths are spelled; a destination
 * that does not exist yet is judged by the nearest folder above it that does.
 */
import { closeSync, constants, lstatSync, openSync, readlinkSync, statSync } from "node:fs";
import { fileSystemType } from "../io/libc.ts";
import { mountHolding } from "../io/mounts.ts";
import { fsPath, joinPath, nameFromBytes, parentOf, resolvePath, showName } from "../core/names.ts";

/** A folder's place: its identity and those of every folder above it. */
export interface FolderPlace {
  /** The path as given. */
  given: string;
  /** `dev:ino` of the folder, when it exists. */
  self: string | undefined;
  /** `dev:ino` of the folder (when it exists) and of every folder above it, up to `/`. */
  chain: Set<string>;
  /** The real path of the nearest existing folder, with the parts that do not exist yet. */
  canonical: string;
  /** The same as a path from its file system's root, on that file system's device (a folder bound elsewhere is found under either name). */
  inFileSystem?: { device: string; path: string };
}

function identity(path: string): string | undefined {
  try {
    const stats = statSync(fsPath(path));
    return `${stats.dev}:${stats.ino}`;
  } catch {
    return undefined;
  }
}

/** Links followed at most while a path is resolved (the kernel's own limit; past it, ELOOP). */
const MOST_LINKS = 40;

/**
 * Where `path` leads, resolved as the kernel resolves it: name by name from the left, each link
 * followed where it stands (so `LINK/..` is the folder above the link's target, not the folder
 * holding the link), and a link that leads nowhere yet followed to where it would lead. Gives the
 * real path of the deepest entry that exists and the names below it that do not (yet).
 */
function resolveAsKernel(path: string): { real: string; missing: string[]; throughProc: boolean; upFromMissing: boolean } {
  // A stack of the names still to resolve, the next one last.
  const pending = (path.startsWith("/") ? path : `${process.cwd()}/${path}`).split("/").reverse();
  let real = "/";
  const missing: string[] = [];
  let links = 0;
  // A link of a proc file system (a process's cwd, root, fd) leads where its text does not say.
  let throughProc = false;
  // `..` after a name that does not exist: the folder made for that name stays behind.
  let upFromMissing = false;
  while (pending.length > 0) {
    const part = pending.pop()!;
    if (part === "" || part === ".") continue;
    if (missing.length > 0) {
      // Below a name that does not exist, the run makes each folder as it is named.
      if (part === "..") {
        missing.pop();
        upFromMissing = true;
      } else missing.push(part);
      continue;
    }
    if (part === "..") {
      real = parentOf(real);
      continue;
    }
    const next = joinPath(real, part);
    let stats: ReturnType<typeof lstatSync>;
    try {
      stats = lstatSync(fsPath(next));
    } catch {
      missing.push(part);
      continue;
    }
    if (stats.isSymbolicLink() && links++ < MOST_LINKS) {
      if (onProcFileSystem(real)) throughProc = true;
      const target = nameFromBytes(readlinkSync(fsPath(next), "buffer"));
      if (target.startsWith("/")) real = "/";
      pending.push(...target.split("/").reverse());
      continue;
    }
    real = next;
  }
  return { real, missing, throughProc, upFromMissing };
}

/** The magic number of a proc file system (statfs `f_type`). */
const PROC_SUPER_MAGIC = 0x9fa0;

/** Whether the folder at `path` (a real path) is on a proc file system, wherever it is mounted. */
function onProcFileSystem(path: string): boolean {
  if (path === "/proc" || path.startsWith("/proc/")) return true;
  let fd: number | undefined;
  try {
    fd = openSync(fsPath(path), constants.O_RDONLY | constants.O_DIRECTORY);
    return fileSystemType(fd) === PROC_SUPER_MAGIC;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Why a path given to a tool cannot be taken as it is spelled, or undefined: one that holds
 * `..` after a link leads where the kernel takes it (above the link's target), while a path
 * built from it as text (`PATH/ascmhl`, a temporary file beside it) would fold the `..` away
 * and lead elsewhere; one with `..` after a name that does not exist has a folder made for that
 * name; one through a link of a proc file system leads where its text does not say.
 * @example
 * pathSpellingProblem("/mnt/raid/A001"); // undefined
 */
export function pathSpellingProblem(path: string): string | undefined {
  const asGiven = resolveAsKernel(path);
  if (asGiven.throughProc) return "goes through a link of /proc; give the folder's own path";
  if (asGiven.upFromMissing) return `holds '..' after a name that does not exist (a folder would be made for it), which leads to ${showName(joinPath(asGiven.real, ...asGiven.missing))}; give that path`;
  const folded = resolveAsKernel(resolvePath(path));
  const spelled = (r: { real: string; missing: string[] }) => joinPath(r.real, ...r.missing);
  if (spelled(asGiven) !== spelled(folded)) return `holds '..' after a link, which leads to ${showName(spelled(asGiven))}; give that path`;
  return undefined;
}

/**
 * Where a real path lies in its file system: the device, and the path from that file system's
 * root. A folder bound elsewhere (`mount --bind CARD/X /mnt/x`) is the same place under either
 * name, though the folders above the two names differ. The mount is the one the kernel finds
 * the path on (not the longest mount point before it: a mount may be covered by a later one),
 * looked up as mounts are now; none where that mount is not listed (a chroot's own).
 */
function placeInFileSystem(real: string): { device: string; path: string } | undefined {
  const mount = mountHolding(real);
  if (!mount) return undefined;
  const under = mount.point === "/" || real === mount.point || real.startsWith(`${mount.point}/`);
  if (!under) return undefined;
  const rest = mount.point === "/" ? real : real.slice(mount.point.length);
  return { device: mount.device, path: joinPath(mount.root, rest.replace(/^\/+/, "")) };
}

/** The place of a folder that may not exist yet. */
export function folderPlace(path: string): FolderPlace {
  const { real, missing } = resolveAsKernel(path);
  const chain = new Set<string>();
  for (let p = real; ; p = parentOf(p)) {
    const id = identity(p);
    if (id) chain.add(id);
    if (parentOf(p) === p) break;
  }
  const inFileSystem = placeInFileSystem(real);
  return {
    given: path,
    self: missing.length === 0 ? identity(real) : undefined,
    chain,
    canonical: missing.length ? joinPath(real, ...missing) : real,
    ...(inFileSystem ? { inFileSystem: { device: inFileSystem.device, path: joinPath(inFileSystem.path, ...missing) } } : {}),
  };
}

function inside(inner: FolderPlace, outer: FolderPlace): boolean {
  if (outer.self && inner.chain.has(outer.self)) return true;
  const a = inner.inFileSystem;
  const b = outer.inFileSystem;
  if (a && b && a.device === b.device && a.path.startsWith(b.path === "/" ? "/" : `${b.path}/`) && a.path !== b.path) return true;
  return inner.canonical.startsWith(`${outer.canonical}/`);
}

function same(a: FolderPlace, b: FolderPlace): boolean {
  const x = a.inFileSystem;
  const y = b.inFileSystem;
  if (x && y && x.device === y.device && x.path === y.path) return true;
  return (a.self !== undefined && a.self === b.self) || a.canonical === b.canonical;
}

/**
 * Why each destination cannot take an offload of `source` (a folder), by index; empty when all
 * can. A destination is refused when it is the source, inside it, or holds it, and when it is
 * the same folder as an earlier destination or lies inside or around one.
 */
export function refusedPlaces(source: string, destinations: readonly string[]): Map<number, string> {
  const src = folderPlace(source);
  const places = destinations.map(folderPlace);
  const refused = new Map<number, string>();
  places.forEach((d, i) => {
    if (same(d, src)) refused.set(i, "is the source itself; choose a folder on another drive");
    else if (inside(d, src)) refused.set(i, "is inside the source; choose a folder outside the card");
    else if (inside(src, d)) refused.set(i, "holds the source; choose a folder that does not contain the card");
    else {
      for (let j = 0; j < i; j++) {
        const other = places[j]!;
        if (refused.has(j)) continue;
        if (same(d, other)) refused.set(i, `is the same folder as ${other.given}; each destination must be a folder of its own`);
        else if (inside(d, other) || inside(other, d)) refused.set(i, `${inside(d, other) ? "is inside" : "holds"} ${other.given}; each destination must be a folder of its own`);
        if (refused.has(i)) break;
      }
    }
  });
  return refused;
}

/**
 * What `look` finds at `path`, or at its nearest existing parent when `path` cannot be looked at
 * (a destination may not exist yet); undefined when nothing up to the root can be.
 * @example
 * import { statSync } from "node:fs";
 * atNearestExisting("/mnt/raid/A001/not/made/yet", (p) => statSync(p).dev);
 */
export function atNearestExisting<T>(path: string, look: (existing: string) => T): T | undefined {
  for (let probe = path; ; ) {
    try {
      return look(probe);
    } catch {
      const up = parentOf(probe);
      if (up === probe) return undefined;
      probe = up;
    }
  }
}

/**
 * Why a record of the run (a sum file, a report) cannot be written at `path`: it would be the
 * source or a copy, or land inside the card or a destination, where it replaces a copy or its
 * history, or is a file the card does not hold; undefined when it can be written there.
 * `places` are the source and the destinations (folders, or in single-file mode the files).
 * @example
 * recordPlaceProblem("/mnt/raid/A001/sums.xxh", [{ path: "/Volumes/A001", role: "the source" }, { path: "/mnt/raid/A001", role: "the destination" }]);
 * // "is inside the destination /mnt/raid/A001"
 */
export function recordPlaceProblem(path: string, places: ReadonlyArray<{ path: string; role: string }>): string | undefined {
  const record = folderPlace(path);
  for (const { path: given, role } of places) {
    const place = folderPlace(given);
    if (same(record, place)) return `is ${role} ${given} itself`;
    if (inside(record, place)) return `is inside ${role} ${given}`;
  }
  return undefined;
}
