/**
 * The invariant as a program. Each run builds a random card from a hostile alphabet (names that
 * are not UTF-8, NFC/NFD and case twins, newlines, leading dashes, 255-byte names, deep paths;
 * links inside and out, dangling links, FIFOs, empty and unreadable folders, sparse and empty
 * files, now and then a folder of hundreds of small frames), then puts one of the compiled tools to work on it under one random fault, and judges
 * the result against the promise that tool makes:
 *
 * - dispatchcopy (kill -9 then --resume, a tiny tmpfs, a loop XFS shut down mid-run, an exFAT or
 *   FAT destination whose FUSE daemon is killed, the source grown, truncated or replaced mid-run,
 *   a run as nobody, a copy damaged afterwards): exit 0 ⇒ every destination holds every file of
 *   the source byte for byte, its ASC MHL verifies (mhl-verify), and nothing partial is left;
 *   exit ≠ 0 ⇒ every file that is not on every destination byte for byte is named on stderr, and
 *   no file under a final name differs from the source (a file changed mid-run may hold what was
 *   read, if it is named). A copy damaged after a clean run makes mhl-verify fail, naming it.
 *   Now and then the card carries its own ASC MHL history (at its root, and in a folder): its
 *   generations are files like the others, and each destination's chain must continue the card's.
 *   Some runs read the card again (`--verify source+dest`), some check sizes only or nothing
 *   (`--verify size`, `none`): a destination that failed must still be named, and the generation
 *   must still hold what the card held (a copy damaged afterwards fails `mhl-verify`).
 * - ltfs-pack (plan, write to one to three virtual tapes, verify each; killed mid-write, a copy
 *   on a tiny tmpfs or on an XFS shut down mid-write, the source changed, a run as nobody, a
 *   record damaged after the write): the plan lists every file or names what it refuses; a
 *   write that exits 0 leaves every copy holding every file byte for byte (read through the
 *   tape's index) and verifying; a write that fails names what a copy lacks; `verify` exits 0
 *   only for a tape that holds every file of the card byte for byte.
 * - xxsum and b3sum-ts (-r, then -c, and the anchor's own -c on the same lines: the source
 *   changed mid-run, a run as nobody, a file damaged afterwards): exit 0 ⇒ one line for every
 *   file, each with the digest of bytes the file held, which `-c` and the anchor confirm;
 *   exit ≠ 0 ⇒ every file without a right line is named. After damage, `-c` exits 1 and names
 *   each damaged file.
 *
 * A pulled drive is mounted again first, so what it kept is what is judged. Used by
 * tests/faults/chaos.test.ts (a short fixed set, in CI) and bench/chaos.ts (many runs).
 */
import { chmodSync, closeSync, existsSync, ftruncateSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { nameBytes, nameFromBytes, showLine, showName } from "../../lib/core/names.ts";
import { Volume } from "../../lib/ltfs/volume.ts";
import { IS_ROOT, ROOT, run } from "../helpers.ts";

/** The faults a run can be put under. */
export const FAULTS = ["none", "kill", "tmpfs-full", "xfs-pull", "exfat-kill", "fat-kill", "source-change", "as-nobody", "damage"] as const;
export type Fault = (typeof FAULTS)[number];

/** The tools a run can put to work. */
export const TOOLS = ["dispatchcopy", "ltfs-pack", "xxsum", "b3sum-ts"] as const;
export type Tool = (typeof TOOLS)[number];

/** The faults each tool is tried under. */
export const TOOL_FAULTS: Record<Tool, readonly Fault[]> = {
  dispatchcopy: ["none", "kill", "tmpfs-full", "xfs-pull", "exfat-kill", "fat-kill", "source-change", "as-nobody", "damage"],
  "ltfs-pack": ["none", "kill", "tmpfs-full", "xfs-pull", "source-change", "as-nobody", "damage"],
  xxsum: ["none", "source-change", "as-nobody", "damage"],
  "b3sum-ts": ["none", "source-change", "as-nobody", "damage"],
};

/** Faults that need root and the file system tools. */
const MOUNT_FAULTS: ReadonlySet<Fault> = new Set(["tmpfs-full", "xfs-pull", "exfat-kill", "fat-kill", "as-nobody"]);

/** What one run did and what it found wrong. */
export interface ChaosResult {
  seed: number;
  tool: Tool;
  fault: Fault;
  args: string[];
  exitCode: number;
  files: number;
  /** Everything that breaks the invariant; empty for a clean run. */
  violations: string[];
  seconds: number;
}

/** A small, seeded random number generator (the same seed builds the same card). */
class Random {
  #x: number;
  constructor(seed: number) {
    this.#x = (seed * 2654435761) >>> 0 || 1;
  }
  next(): number {
    let x = this.#x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#x = x >>> 0;
    return this.#x / 2 ** 32;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    let i = 0;
    for (; i + 4 <= length; i += 4) out.writeUInt32LE((this.next() * 2 ** 32) >>> 0, i);
    for (; i < length; i++) out[i] = this.int(256);
    return out;
  }
}

/** The card a run builds: what the walk should find and what it should refuse. */
interface Card {
  root: string;
  /** Relative path (bytes as latin1 text) → content. */
  files: Map<string, Buffer>;
  /** Entries that must make the run fail unless a policy skips them (named on stderr). */
  problems: string[];
  folders: string[];
  /** Files changed mid-run, with the content they had before. */
  changed?: Map<string, Buffer>;
  /**
   * The card's own ASC MHL histories (folder of each `ascmhl/`, relative) and the generations
   * each chain lists: a destination's chain at that place must list them first (the
   * destination's generation continues it). The generation files are among `files`.
   */
  histories?: Map<string, string[]>;
  /** When the change was made, and when the run ended (performance.now()). */
  changedAt?: number;
  exitedAt?: number;
}

const ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";

/**
 * One name from the hostile alphabet, as bytes. A gentle card draws only names every
 * destination can hold and an ASC MHL can record (so that runs also end in exit 0 and the
 * success side of the invariant is checked as often as the failure side).
 */
function hostileName(rng: Random, taken: Set<string>, gentle: boolean): Buffer {
  for (;;) {
    const word = Array.from({ length: 1 + rng.int(10) }, () => ASCII[rng.int(ASCII.length)]).join("");
    const kind = gentle ? rng.pick([0, 1, 4, 5, 9, 12, 13]) : rng.int(14);
    let name: Buffer;
    switch (kind) {
      case 0:
        name = Buffer.from(`café_${word}.mov`.normalize("NFC"));
        break;
      case 1:
        name = Buffer.from(`café_${word}.mov`.normalize("NFD"));
        break;
      case 2:
        name = Buffer.concat([Buffer.from(`caf`), Buffer.from([0xe9]), Buffer.from(`_${word}.mov`)]);
        break;
      case 3:
        name = Buffer.from(`new\nline_${word}`);
        break;
      case 4:
        name = Buffer.from(`-rf_${word}`);
        break;
      case 5:
        name = Buffer.from(`${"x".repeat(251 - word.length)}${word}.mov`.slice(0, 255));
        break;
      case 6:
        name = Buffer.from(`esc\u001b[31m_${word}`);
        break;
      case 7:
        name = Buffer.from(`at 10:00 ${word}.mov`);
        break;
      case 8:
        name = Buffer.from(`trailing dot ${word}.`);
        break;
      case 9:
        name = Buffer.from(`日本語_${word}.mxf`);
        break;
      case 10:
        name = Buffer.from(`${word.toUpperCase()}.MOV`);
        break;
      case 11:
        name = Buffer.from(`${word.toLowerCase()}.mov`);
        break;
      default:
        name = Buffer.from(`${word}.${rng.pick(["mov", "mxf", "wav", "xml", "dng", "ari"])}`);
    }
    const key = name.toString("latin1");
    if (key === "." || key === ".." || taken.has(key) || key.startsWith("._") || key === ".DS_Store") continue;
    taken.add(key);
    return name;
  }
}

/** A size from the shapes cards have: empty, tiny, page edges, chunk edges, a few MiB, and now and then a large one. */
function size(rng: Random): number {
  return rng.pick([0, 1, 4095, 4096, 65_537, 262_147, 300_000, 1_048_576 + 7, 2_500_000, rng.chance(0.15) ? 18 * 1024 * 1024 + 3 : 700_000]);
}

function bytesPath(root: string, rel: string): Buffer {
  return Buffer.concat([Buffer.from(`${root}/`), Buffer.from(rel, "latin1")]);
}

/** Builds a random card below `root`. */
function buildCard(rng: Random, root: string, options: { unreadable: boolean; special: boolean; gentle: boolean }): Card {
  const card: Card = { root, files: new Map(), problems: [], folders: [] };
  mkdirSync(root, { recursive: true });
  const grow = (rel: string, depth: number) => {
    const taken = new Set<string>();
    const entries = 1 + rng.int(depth === 0 ? 7 : 5);
    for (let i = 0; i < entries; i++) {
      const name = hostileName(rng, taken, options.gentle).toString("latin1");
      const child = rel ? `${rel}/${name}` : name;
      if (Buffer.byteLength(`${root}/${child}`, "latin1") > 3800) continue;
      const roll = rng.int(20);
      if (roll < 3 && depth < 5) {
        mkdirSync(bytesPath(root, child));
        card.folders.push(child);
        if (rng.chance(0.8)) grow(child, depth + 1);
      } else if (roll === 3 && options.special) {
        // python3 takes the name as bytes, whatever they are.
        run(["python3", "-c", "import os, sys; os.mkfifo(bytes.fromhex(sys.argv[1]))", bytesPath(root, child).toString("hex")]);
        card.problems.push(child);
      } else if (roll === 4 && card.files.size > 0 && rng.chance(0.5)) {
        // A link to a file inside the card: copied as that file.
        const [target, content] = [...card.files][rng.int(card.files.size)]!;
        symlinkSync(bytesPath(root, target), bytesPath(root, child));
        card.files.set(child, content);
      } else if (roll === 5 && options.special) {
        symlinkSync(rng.chance(0.5) ? "/etc/hostname" : "nowhere/at/all", bytesPath(root, child));
        card.problems.push(child);
      } else if (roll === 6) {
        // Sparse: a hole, then a few bytes.
        const length = 3_000_000 + rng.int(1000);
        const fd = openSync(bytesPath(root, child), "w");
        ftruncateSync(fd, length);
        const tail = rng.bytes(64);
        writeSync(fd, tail, 0, tail.length, length - tail.length);
        closeSync(fd);
        card.files.set(child, readFileSync(bytesPath(root, child)));
      } else {
        const content = rng.bytes(size(rng));
        writeFileSync(bytesPath(root, child), content);
        card.files.set(child, content);
      }
    }
  };
  grow("", 0);
  // Now and then a folder of frames: enough small files for the summers' native runs (16 or
  // more), some over what a BLAKE3 run reads whole (64 KiB), a few hostile names among them.
  if (rng.chance(0.35)) {
    const frames = rng.pick(["FRAMES", "A001_C002"]);
    mkdirSync(join(root, frames));
    card.folders.push(frames);
    const taken = new Set<string>();
    const count = 16 + rng.int(240);
    for (let i = 0; i < count; i++) {
      // hostileName keeps the names it gives in `taken`; a frame's name cannot be one of them.
      const name = rng.chance(0.05) ? hostileName(rng, taken, options.gentle).toString("latin1") : `frame_${String(i).padStart(5, "0")}.dng`;
      const content = rng.bytes(rng.chance(0.1) ? 65_536 + rng.int(20_000) : rng.int(40_000));
      writeFileSync(bytesPath(root, `${frames}/${name}`), content);
      card.files.set(`${frames}/${name}`, content);
    }
  }
  // Now and then a deep chain of folders.
  if (rng.chance(0.3)) {
    const chain = Array.from({ length: 30 + rng.int(30) }, () => "d").join("/");
    mkdirSync(join(root, chain), { recursive: true });
    const content = rng.bytes(100);
    writeFileSync(join(root, chain, "deep.mov"), content);
    card.files.set(`${chain}/deep.mov`, content);
    card.folders.push(...chain.split("/").map((_, i, all) => all.slice(0, i + 1).join("/")));
  }
  mkdirSync(join(root, "EMPTY"), { recursive: true });
  card.folders.push("EMPTY");
  if (options.unreadable) {
    mkdirSync(join(root, "LOCKED"));
    writeFileSync(join(root, "LOCKED", "inside.mov"), "locked away");
    chmodSync(join(root, "LOCKED"), 0o000);
    card.problems.push("LOCKED");
  }
  return card;
}

/** Every regular file below a destination (relative, latin1 names), leaving out its history. */
function filesBelow(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    let names: Buffer[];
    try {
      names = readdirSync(rel ? bytesPath(root, rel) : Buffer.from(root), { encoding: "buffer" }) as unknown as Buffer[];
    } catch {
      return;
    }
    for (const raw of names) {
      const name = raw.toString("latin1");
      const child = rel ? `${rel}/${name}` : name;
      if (child === "ascmhl") continue;
      let kind: string;
      try {
        const st = lstatSync(bytesPath(root, child));
        kind = st.isDirectory() ? "folder" : st.isFile() ? "file" : st.isSymbolicLink() ? "link" : "other";
      } catch {
        continue;
      }
      if (kind === "folder") walk(child);
      else out.set(child, kind);
    }
  };
  walk("");
  return out;
}

/** What is at a path of a destination's root history (which {@link filesBelow} leaves out): "file", or undefined. */
function historyKind(root: string, rel: string): string | undefined {
  if (!rel.startsWith("ascmhl/")) return undefined;
  try {
    return lstatSync(bytesPath(root, rel)).isFile() ? "file" : undefined;
  } catch {
    return undefined;
  }
}

/** The generation names the chain of the history in `folder` (relative) lists, or undefined. */
function chainAt(root: string, folder: string): string[] | undefined {
  try {
    const text = readFileSync(bytesPath(root, folder ? `${folder}/ascmhl/ascmhl_chain.xml` : "ascmhl/ascmhl_chain.xml"), "utf8");
    return [...text.matchAll(/<path>([^<]*)<\/path>/g)].map((m) => m[1]!);
  } catch {
    return undefined;
  }
}

/**
 * Gives the card its own ASC MHL history, as a camera or an earlier offload leaves one: now and
 * then in one of its folders first, then at its root (`mhl-verify create`, whatever it says of
 * hostile names: what it wrote is the card's history). Its generations join the card's files.
 */
function addHistory(card: Card, rng: Random): void {
  const mhl = join(ROOT, "dist", "mhl-verify");
  // Folders named in printable ASCII (a name is passed as a string), and readable.
  const readable = card.folders.filter((f) => f !== "LOCKED" && !f.startsWith("LOCKED/") && /^[\x20-\x7e]+$/.test(f));
  if (readable.length > 0 && rng.chance(0.5)) run([mhl, "create", "-h", "xxh64", join(card.root, rng.pick(readable))]);
  run([mhl, "create", "-h", "xxh64", card.root]);
  card.histories = new Map();
  for (const folder of ["", ...readable]) {
    const chain = chainAt(card.root, folder);
    if (chain === undefined) continue;
    card.histories.set(folder, chain);
    for (const name of chain) {
      const rel = folder ? `${folder}/ascmhl/${name}` : `ascmhl/${name}`;
      card.files.set(rel, readFileSync(bytesPath(card.root, rel)));
    }
  }
}

/** How a relative path (latin1 bytes) is shown on stderr. */
function shown(rel: string): string {
  return showName(nameFromBytes(Buffer.from(rel, "latin1")));
}

/** One destination of a run. */
interface Destination {
  path: string;
  kind: "plain" | "tmpfs" | "xfs" | "exfat" | "fat";
  /** Pulls the drive (xfs, exfat, fat). */
  pull?: () => void;
  /** Mounts a pulled drive again, so that what it kept can be judged. */
  remount?: () => void;
  pulled?: boolean;
  /** Holds FAT's or exFAT's name rules (and no case). */
  fat?: boolean;
}

/** Makes a destination of `kind` below `work`. */
function makeDestination(work: string, index: number, kind: Destination["kind"], rng: Random, cardBytes: number): Destination {
  const mount = join(work, `m${index}`);
  if (kind === "plain") return { path: join(work, `d${index}`, "CARD"), kind };
  mkdirSync(mount, { recursive: true });
  if (kind === "tmpfs") {
    const pages = Math.max(16, Math.floor((cardBytes * (0.2 + rng.next() * 0.7)) / 4096));
    run(["mount", "-t", "tmpfs", "-o", `size=${pages * 4096}`, "tmpfs", mount]);
    return { path: join(mount, "CARD"), kind };
  }
  if (kind === "xfs") {
    const image = join(work, `x${index}.img`);
    run(["truncate", "-s", "300M", image]);
    run(["mkfs.xfs", "-q", image]);
    run(["mount", "-o", "loop", image, mount]);
    return {
      path: join(mount, "CARD"),
      kind,
      pull: () => run(["xfs_io", "-x", "-c", "shutdown", mount]),
      remount: () => {
        run(["umount", mount]);
        run(["mount", "-o", "loop", image, mount]);
      },
    };
  }
  if (kind === "fat") {
    // FAT32 through fusefat (this kernel has no vfat), in the mode that writes.
    const image = join(work, `f${index}.img`);
    run(["truncate", "-s", "300M", image]);
    run(["mkfs.vfat", "-F", "32", image]);
    const mountFat = () => run(["fusefat", "-o", "rw+", image, mount]);
    mountFat();
    return {
      path: join(mount, "CARD"),
      kind,
      fat: true,
      pull: () => {
        for (const pid of daemonOf(`^fusefat .*${image} `)) process.kill(pid, "SIGKILL");
      },
      remount: () => {
        run(["umount", "-l", mount]);
        run(["fsck.vfat", "-a", image]);
        mountFat();
      },
    };
  }
  const image = join(work, `e${index}.img`);
  run(["truncate", "-s", "300M", image]);
  run(["mkfs.exfat", image]);
  const loop = run(["losetup", "-f", "--show", image]).stdout.trim();
  run(["mount.exfat-fuse", loop, mount]);
  return {
    path: join(mount, "CARD"),
    kind,
    fat: true,
    pull: () => {
      for (const pid of daemonOf(`mount.exfat-fuse ${loop} `)) process.kill(pid, "SIGKILL");
    },
    remount: () => {
      run(["umount", "-l", mount]);
      run(["fsck.exfat", "-y", loop]);
      run(["mount.exfat-fuse", loop, mount]);
    },
  };
}

/** The processes whose command line matches `pattern` (a FUSE daemon; the paths in it are plain). */
function daemonOf(pattern: string): number[] {
  return run(["pgrep", "-f", pattern]).stdout.trim().split("\n").filter(Boolean).map(Number);
}

/** Unmounts everything a run mounted below `work` and frees its loop devices. */
function cleanUp(work: string): void {
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((p) => p.startsWith(`${work}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) run(["umount", "-l", m]);
  for (const line of run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"]).stdout.split("\n")) {
    const [name, back] = line.trim().split(/\s+/);
    if (name && back?.startsWith(`${work}/`)) run(["losetup", "-d", name]);
  }
  run(["chmod", "-R", "u+rwx", work]);
  run(["rm", "-rf", work]);
}

/** Changes one file of the card while it is being copied: grown, cut short, or replaced by another. */
function changeSource(card: Card, rng: Random): void {
  const regular = [...card.files.keys()].filter((rel) => {
    try {
      return lstatSync(bytesPath(card.root, rel)).isFile();
    } catch {
      return false;
    }
  });
  if (regular.length === 0) return;
  const rel = rng.pick(regular);
  const path = bytesPath(card.root, rel);
  const old = card.files.get(rel)!;
  const how = rng.int(4);
  if (how === 0) writeFileSync(path, Buffer.concat([old, Buffer.from("grown")]));
  else if (how === 1) writeFileSync(path, old.subarray(0, Math.floor(old.length / 2)));
  else if (how === 2 && old.length > 0) {
    // Rewritten in place, the same size, its times put back to the nanosecond (only the change
    // time tells); python3 takes the name as bytes, whatever they are.
    const script = "import os, sys\np = bytes.fromhex(sys.argv[1]); at = int(sys.argv[2]); st = os.stat(p)\nwith open(p, 'r+b') as f:\n    f.seek(at); b = f.read(1); f.seek(at); f.write(bytes([b[0] ^ 0xff]))\nos.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))";
    run(["python3", "-c", script, path.toString("hex"), String(rng.int(old.length))]);
  } else {
    const at = rel.lastIndexOf("/");
    const next = bytesPath(card.root, `${at < 0 ? "" : rel.slice(0, at + 1)}.chaos-replacement`);
    writeFileSync(next, rng.bytes(5000));
    renameSync(next, path);
  }
  const now = readFileSync(path);
  card.changed ??= new Map();
  // Links to the file read what it holds now, too.
  for (const [other, content] of card.files) {
    if (content !== old) continue;
    card.changed.set(other, old);
    card.files.set(other, now);
  }
}

/** Runs a tool, killing it, pulling a drive or changing the source on the way when the fault says so (`within` ms of its start). */
async function offload(cmd: string[], cwd: string, fault: Fault, rng: Random, destinations: Destination[], card: Card, within = 600): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  const stdout = new Response(proc.stdout).text();
  const stderr = new Response(proc.stderr).text();
  const after = Math.min(30, within) + rng.int(within);
  if (fault === "kill") {
    await Bun.sleep(after);
    proc.kill("SIGKILL");
  } else if (fault === "xfs-pull" || fault === "exfat-kill" || fault === "fat-kill") {
    await Bun.sleep(after);
    for (const d of destinations)
      if (d.pull && !d.pulled) {
        d.pull();
        d.pulled = true;
      }
  } else if (fault === "source-change" && card.files.size > 0) {
    await Bun.sleep(after);
    if (proc.exitCode === null) {
      changeSource(card, rng);
      card.changedAt = performance.now();
    }
  }
  const code = await proc.exited;
  card.exitedAt = performance.now();
  return { code, stdout: await stdout, stderr: await stderr };
}

/** What one run of a tool left to judge. */
interface Outcome {
  args: string[];
  code: number;
  /** Everything the tools printed on stderr (and stdout, where it is not data), for the stack-trace check. */
  stderr: string;
}

/** What every tool's run needs. */
interface Context {
  rng: Random;
  work: string;
  fault: Fault;
  card: Card;
  /** The command prefix that runs a tool as nobody (empty as root). */
  as: string[];
  canMount: boolean;
  violations: string[];
}

/**
 * One randomized run. `work` is a folder the run may fill and remove. The tool and the fault are
 * drawn from the seed unless given.
 */
export async function chaosRun(seed: number, work: string, forced?: Fault, forcedTool?: Tool): Promise<ChaosResult> {
  const started = performance.now();
  const rng = new Random(seed);
  const canMount = IS_ROOT && ["mkfs.xfs", "mount.exfat-fuse", "mkfs.vfat", "fusefat"].every((name) => Bun.which(name) !== null);
  const usable = (f: Fault) => canMount || !MOUNT_FAULTS.has(f);
  const tools: readonly Tool[] = forced ? TOOLS.filter((t) => TOOL_FAULTS[t].includes(forced)) : ["dispatchcopy", "dispatchcopy", "ltfs-pack", "xxsum", "b3sum-ts"];
  const tool: Tool = forcedTool ?? rng.pick(tools);
  const fault: Fault = forced ?? rng.pick(TOOL_FAULTS[tool].filter(usable));
  if (!TOOL_FAULTS[tool].includes(fault)) throw new Error(`${tool} is not tried under ${fault}; it is tried under ${TOOL_FAULTS[tool].join(", ")}`);
  mkdirSync(work, { recursive: true });
  const violations: string[] = [];
  const gentle = rng.chance(0.5);
  const special = !gentle && rng.chance(0.5);
  const card = buildCard(rng, join(work, "src"), { unreadable: fault === "as-nobody", special, gentle });
  const as = fault === "as-nobody" ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
  if (as.length) run(["chmod", "-R", "a+rwX", work]);
  if (fault === "as-nobody") chmodSync(join(card.root, "LOCKED"), 0o000);
  const context: Context = { rng, work, fault, card, as, canMount, violations };
  const outcome = tool === "dispatchcopy" ? await offloadRun(context) : tool === "ltfs-pack" ? await tapeRun(context) : await sumsRun(context, tool);
  // A frame ends in its line and column ("at f (file.ts:12:5)"); a file of the card may be named "at 10:00 D.mov".
  for (const line of outcome.stderr.split("\n")) if (/^\s+at .*:\d+:\d+\)?$/.test(line)) violations.push(`stack trace on stderr: ${line.trim()}`);
  if (existsSync(join(card.root, "LOCKED"))) chmodSync(join(card.root, "LOCKED"), 0o755);
  if ((violations.length || process.env.CHAOS_SHOW === "all") && process.env.CHAOS_SHOW) process.stderr.write(`--- seed ${seed} ${tool} ${fault}: ${JSON.stringify(outcome.args)}\n${outcome.stderr}\n`);
  cleanUp(work);
  return { seed, tool, fault, args: outcome.args, exitCode: outcome.code, files: card.files.size, violations, seconds: (performance.now() - started) / 1000 };
}

/** True when a change to the card landed so close to the run's exit that it cannot be told from one just after it. */
function changedAtExit(card: Card): boolean {
  return card.changedAt !== undefined && card.exitedAt !== undefined && card.exitedAt - card.changedAt < 100;
}

/**
 * Damages a file in place: one byte flipped, cut one byte short, one byte added, or removed.
 * Returns what was done.
 */
function damage(path: Buffer, rng: Random): string {
  const bytes = readFileSync(path);
  const how = bytes.length === 0 ? rng.pick([2, 3]) : rng.int(4);
  if (how === 0) {
    const at = rng.int(bytes.length);
    bytes[at] = bytes[at]! ^ (1 << rng.int(8));
    writeFileSync(path, bytes);
    return `byte ${at} flipped`;
  }
  if (how === 1) {
    writeFileSync(path, bytes.subarray(0, bytes.length - 1));
    return "cut one byte short";
  }
  if (how === 2) {
    writeFileSync(path, Buffer.concat([bytes, Buffer.from([rng.int(256)])]));
    return "one byte added";
  }
  rmSync(path);
  return "removed";
}

/** dispatchcopy -r to one to three destinations, resumed after a kill; each destination's ASC MHL checked by mhl-verify. */
async function offloadRun({ rng, work, fault, card, as, canMount, violations }: Context): Promise<Outcome> {
  const cardBytes = [...card.files.values()].reduce((sum, c) => sum + c.length, 0);
  const kinds: Array<Destination["kind"]> = ["plain"];
  if (fault === "tmpfs-full") kinds.push("tmpfs");
  if (fault === "xfs-pull") kinds.push("xfs");
  if (fault === "exfat-kill") kinds.push("exfat");
  if (fault === "fat-kill") kinds.push("fat");
  if (rng.chance(0.4)) kinds.push("plain");
  if (canMount && fault !== "exfat-kill" && fault !== "fat-kill" && rng.chance(0.15)) kinds.push(rng.pick(["exfat", "fat"] as const));
  const destinations = kinds.map((kind, i) => makeDestination(work, i, kind, rng, cardBytes));
  const algorithms = rng.pick([[], ["-t", "xxh128"], ["-t", "md5", "-t", "xxh64"], ["-t", "blake3"], ["-t", "sha1"]]);
  const args = [
    "-r",
    ...algorithms,
    ...rng.pick([[], ["--jobs", "2"], ["--jobs", "4"]]),
    ...rng.pick([[], [], [], [], ["--verify", "source+dest"], ["--verify", "none"], ["--verify", "size"]]),
    ...(fault === "kill" || fault === "source-change" || fault === "xfs-pull" ? ["--rate-limit", "30MB/s"] : []),
    "src",
    ...destinations.map((d) => d.path.slice(work.length + 1)),
  ];
  if (as.length) run(["chmod", "-R", "a+rwX", ...destinations.map((d) => join(d.path, ".."))]);
  if (rng.chance(0.25)) addHistory(card, rng);
  const dispatchcopy = join(ROOT, "dist", "dispatchcopy");
  const during = fault === "damage" ? "none" : fault;
  let result = await offload([...as, dispatchcopy, ...args], work, during, rng, destinations, card);
  let printed = result.stderr + result.stdout;
  if (fault === "kill") {
    // Killed (maybe more than once); the same command with --resume finishes.
    if (rng.chance(0.5)) printed += (await offload([...as, dispatchcopy, ...args], work, "kill", rng, destinations, card)).stderr;
    result = await offload([...as, dispatchcopy, "--resume", ...args], work, "none", rng, destinations, card);
    printed += result.stderr + result.stdout;
  }
  for (const d of destinations) if (d.pulled && d.remount) d.remount();

  const named = (rel: string) => result.stderr.includes(shown(rel));
  // A destination that could not be used at all is named once, with every file: "none of the N files".
  const wholeDestinationNamed = (d: Destination) => new RegExp(`^dispatchcopy: ${escapeRegExp(d.path.slice(work.length + 1))}: NOT COMPLETE: .*none of the \\d+ files was copied to it$`, "m").test(result.stderr);
  if (result.code === 0) {
    if (card.problems.length) violations.push(`exit 0 with entries that cannot be copied: ${card.problems.map(shown).join(", ")}`);
    for (const d of destinations) {
      const there = filesBelow(d.path);
      for (const [rel, content] of card.files) {
        let ok = false;
        try {
          const copy = (there.get(rel) ?? historyKind(d.path, rel)) === "file" ? readFileSync(bytesPath(d.path, rel)) : undefined;
          // A change that lands as the run exits cannot be told from one just after it.
          ok = (copy?.equals(content) ?? false) || (changedAtExit(card) && (card.changed?.get(rel)?.equals(copy ?? Buffer.alloc(0)) ?? false) && copy !== undefined);
        } catch {
          ok = false;
        }
        if (!ok) violations.push(`exit 0 but ${d.kind} ${d.path} lacks ${shown(rel)} byte for byte`);
      }
      for (const [rel] of there) if (rel.endsWith(".partial")) violations.push(`exit 0 but a partial file is left: ${shown(rel)}`);
      for (const [folder, generations] of card.histories ?? []) {
        const chain = chainAt(d.path, folder);
        if (chain === undefined || generations.some((name, i) => chain[i] !== name)) violations.push(`exit 0 but the chain of ${d.path}/${shown(folder || ".")}/ascmhl (${chain?.join(", ") ?? "none"}) does not continue the card's (${generations.join(", ")})`);
      }
      const verified = run([join(ROOT, "dist", "mhl-verify"), "verify", d.path]);
      printed += verified.stderr;
      if (verified.code !== 0) violations.push(`exit 0 but mhl-verify verify ${d.path} exits ${verified.code}: ${verified.stderr.trim().split("\n")[0]}`);
    }
    // A copy damaged afterwards: mhl-verify fails and names it.
    const d = destinations[0]!;
    const files = [...card.files.keys()];
    if (fault === "damage" && files.length > 0 && violations.length === 0) {
      const rel = rng.pick(files);
      const what = damage(bytesPath(d.path, rel), rng);
      const verified = run([join(ROOT, "dist", "mhl-verify"), "verify", d.path]);
      printed += verified.stderr;
      if (verified.code === 0 || !verified.stderr.includes(shown(rel))) violations.push(`${shown(rel)} on ${d.path} ${what}, but mhl-verify verify exits ${verified.code}${verified.code === 0 ? "" : " without naming it"}: ${verified.stderr.trim().split("\n")[0] ?? ""}`);
    }
  } else {
    for (const rel of card.problems) if (!named(rel)) violations.push(`exit ${result.code}, but the entry that cannot be copied is not named: ${shown(rel)}`);
    for (const d of destinations) {
      const there = filesBelow(d.path);
      for (const [rel, content] of card.files) {
        let copy: Buffer | undefined;
        try {
          copy = (there.get(rel) ?? historyKind(d.path, rel)) === "file" ? readFileSync(bytesPath(d.path, rel)) : undefined;
        } catch {
          copy = undefined;
        }
        const same = copy?.equals(content) ?? false;
        const lateChange = card.changed?.has(rel) && changedAtExit(card);
        if (!same && !named(rel) && !wholeDestinationNamed(d) && !lateChange) violations.push(`exit ${result.code}: ${shown(rel)} is not on ${d.kind} ${d.path} byte for byte, and is not named`);
        if (copy && !same) {
          const before = card.changed?.get(rel);
          if (!(before && copy.equals(before) && (named(rel) || changedAtExit(card)))) violations.push(`${d.kind} ${d.path} holds ${shown(rel)} under its final name with bytes the source never had (${copy.length} bytes; the source has ${content.length}${before ? `, had ${before.length}` : ""})`);
        }
      }
    }
  }
  return { args, code: result.code, stderr: printed };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The entries of the card an LTFS tape cannot hold as they are, which `ltfs-pack plan` must
 * refuse by name: a name that is not UTF-8, one with a character XML cannot carry, two names in one
 * folder that are one in NFC.
 */
function untapeable(card: Card): string[] {
  const entries = [...card.files.keys(), ...card.folders, ...card.problems];
  const out = new Set<string>();
  const siblings = new Map<string, Map<string, string[]>>();
  for (const rel of entries) {
    const at = rel.lastIndexOf("/");
    const parent = at < 0 ? "" : rel.slice(0, at);
    const raw = Buffer.from(rel.slice(at + 1), "latin1");
    const name = nameFromBytes(raw);
    // XML 1.0 carries no C0 control but tab, line feed and carriage return.
    if (!name.isWellFormed() || /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.test(name)) out.add(rel);
    const byNfc = siblings.get(parent) ?? new Map<string, string[]>();
    siblings.set(parent, byNfc);
    const group = byNfc.get(name.normalize("NFC")) ?? [];
    if (!group.includes(rel)) group.push(rel);
    byNfc.set(name.normalize("NFC"), group);
  }
  for (const byNfc of siblings.values()) for (const group of byNfc.values()) if (group.length > 1) for (const rel of group) out.add(rel);
  return [...out];
}

/** The key a card's path (latin1 bytes) has on tape: LTFS names are stored in NFC (README says so). */
function onTape(rel: string): string {
  return Buffer.from(`src/${nameFromBytes(Buffer.from(rel, "latin1")).normalize("NFC")}`, "utf8").toString("latin1");
}

/** Every file on a virtual tape (latin1 paths from the volume root) with its bytes, read through its latest index; or why it cannot be read. */
function tapeFiles(path: string): Map<string, Buffer> | string {
  const out = new Map<string, Buffer>();
  try {
    const volume = Volume.open(path);
    try {
      for (const entry of volume.files()) out.set(Buffer.from(entry.path, "utf8").toString("latin1"), Buffer.from(volume.readAll(entry)));
    } finally {
      volume.close();
    }
  } catch (error) {
    return (error as Error).message;
  }
  return out;
}

/** ltfs-pack plan, write to one to three virtual tapes, verify each copy. */
async function tapeRun({ rng, work, fault, card, as, violations }: Context): Promise<Outcome> {
  const ltfs = join(ROOT, "dist", "ltfs-pack");
  const planArgs = ["plan", "src", "--tape", "2GiB", "--reserve", "0", "--json"];
  const plan = run([...as, ltfs, ...planArgs], { cwd: work });
  let printed = plan.stderr;
  const refused = untapeable(card);
  const planNamed = (rel: string) => plan.stderr.includes(shown(rel));
  if (plan.code !== 0) {
    for (const rel of [...card.problems, ...refused]) if (!planNamed(rel)) violations.push(`plan exits ${plan.code}, but it does not name ${shown(rel)}, which a tape cannot hold as it is`);
    if (card.problems.length === 0 && refused.length === 0) violations.push(`plan exits ${plan.code} for a card a tape can hold: ${plan.stderr.trim().split("\n")[0]}`);
    return { args: planArgs, code: plan.code, stderr: printed };
  }
  if (card.problems.length || refused.length) violations.push(`plan exits 0 with entries a tape cannot hold as they are: ${[...card.problems, ...refused].map(shown).join(", ")}`);
  const planned = new Set<string>();
  const parsed = JSON.parse(plan.stdout) as { tapes: Array<{ files: Array<{ path: string }> }> };
  for (const tape of parsed.tapes) for (const f of tape.files) planned.add(Buffer.from(f.path, "utf8").toString("latin1"));
  if (parsed.tapes.length !== 1) violations.push(`plan spans ${parsed.tapes.length} tapes for a card of a few MiB`);
  for (const rel of card.files.keys()) if (!planned.has(`src/${rel}`)) violations.push(`plan exits 0 but leaves out ${shown(rel)}`);
  for (const path of planned) if (!card.files.has(path.slice(4))) violations.push(`plan lists ${shown(path)}, which is not a file of the card`);
  writeFileSync(join(work, "plan.json"), plan.stdout);

  const cardBytes = [...card.files.values()].reduce((sum, c) => sum + c.length, 0);
  const kinds: Array<Destination["kind"]> = ["plain"];
  if (fault === "tmpfs-full") kinds.push("tmpfs");
  if (fault === "xfs-pull") kinds.push("xfs");
  if (rng.chance(0.4)) kinds.push("plain");
  const copies = kinds.map((kind, i) => makeDestination(work, i, kind, rng, cardBytes));
  for (const copy of copies) mkdirSync(join(copy.path, ".."), { recursive: true });
  if (as.length) run(["chmod", "-R", "a+rwX", ...copies.map((d) => join(d.path, ".."))]);
  const args = ["write", "plan.json", "--tape", "1", ...copies.flatMap((d) => ["--vtape", d.path.slice(work.length + 1)]), "--hash", rng.pick(["xxh128", "md5,xxh64", "c4", "sha1,xxh3"])];
  const result = await offload([...as, ltfs, ...args], work, fault === "damage" ? "none" : fault, rng, copies, card);
  printed += result.stderr + result.stdout;
  for (const d of copies) if (d.pulled && d.remount) d.remount();
  const killed = fault === "kill" && result.code !== 0 && result.code !== 1 && result.code !== 2;
  const named = (rel: string) => result.stderr.includes(shown(`src/${rel}`)) || result.stderr.includes(shown(rel));

  // A record of a tape written cleanly, damaged afterwards: verify must fail, naming its file.
  let damaged: { copy: Destination; rel: string } | undefined;
  const nonEmpty = [...card.files].filter(([, content]) => content.length > 0).map(([rel]) => rel);
  if (fault === "damage" && result.code === 0 && nonEmpty.length > 0) {
    const copy = copies[0]!;
    const rel = rng.pick(nonEmpty);
    const volume = Volume.open(copy.path);
    try {
      const entry = volume.files().find((f) => Buffer.from(f.path, "utf8").toString("latin1") === onTape(rel));
      const extent = entry?.file.extents[0];
      if (extent) {
        const record = join(copy.path, `${volume.partitionNumber(extent.partition)}_${extent.startBlock}_R`);
        const bytes = readFileSync(record);
        const at = extent.byteOffset + rng.int(Math.min(bytes.length - extent.byteOffset, extent.byteCount));
        bytes[at] = bytes[at]! ^ (1 << rng.int(8));
        writeFileSync(record, bytes);
        damaged = { copy, rel };
      }
    } finally {
      volume.close();
    }
  }

  for (const copy of copies) {
    const verify = run([ltfs, "verify", "--vtape", copy.path.slice(work.length + 1)], { cwd: work });
    printed += verify.stderr;
    const held = tapeFiles(copy.path);
    const lacking: string[] = [];
    for (const [rel, content] of card.files) {
      const bytes = typeof held === "string" ? undefined : held.get(onTape(rel));
      if (!bytes?.equals(content)) lacking.push(rel);
      const before = card.changed?.get(rel);
      if (bytes && !bytes.equals(content) && !(before && bytes.equals(before)) && damaged?.copy !== copy) violations.push(`${copy.kind} tape ${copy.path} holds ${shown(rel)} with bytes the source never had`);
    }
    const late = (rel: string) => card.changed?.has(rel) && changedAtExit(card);
    // verify holds a tape to what was written: a file changed after it was read may be there as it was.
    const asItWas = (rel: string) => {
      const before = card.changed?.get(rel);
      return before !== undefined && typeof held !== "string" && (held.get(onTape(rel))?.equals(before) ?? false);
    };
    if (verify.code === 0) for (const rel of lacking) if (!asItWas(rel)) violations.push(`ltfs-pack verify ${copy.path} exits 0 but the tape lacks ${shown(rel)} byte for byte${typeof held === "string" ? ` (${held})` : ""}`);
    if (damaged?.copy === copy) {
      if (verify.code !== 1 || !verify.stderr.includes(shown(onTape(damaged.rel)))) violations.push(`a record of ${shown(damaged.rel)} on ${copy.path} damaged, but verify exits ${verify.code}${verify.code === 1 ? " without naming it" : ""}`);
    } else if (result.code === 0) {
      if (verify.code !== 0) violations.push(`write exits 0 but verify ${copy.path} exits ${verify.code}: ${verify.stderr.trim().split("\n")[0]}`);
      for (const rel of lacking) if (!late(rel)) violations.push(`write exits 0 but ${copy.kind} tape ${copy.path} lacks ${shown(rel)} byte for byte`);
    } else if (!killed) {
      const copyNamed = result.stderr.includes(copy.path.slice(work.length + 1));
      for (const rel of lacking) if (!named(rel) && !copyNamed && !late(rel)) violations.push(`write exits ${result.code}: ${shown(rel)} is not on ${copy.kind} tape ${copy.path} byte for byte, and neither it nor the copy is named`);
    }
  }
  return { args, code: result.code, stderr: printed };
}

/** The digest an anchor gives these bytes, as hex (from its stdin). */
function anchorDigest(tool: Tool, algorithm: string, bytes: Buffer): string {
  const cmd = tool === "xxsum" ? ["xxhsum", algorithm, "-"] : ["b3sum", "--no-names", "-"];
  const out = run(cmd, { stdin: bytes }).stdout.trim();
  // GNU style (HEX  stdin), or BSD style for XXH3 (XXH3 (stdin) = HEX).
  return (out.match(/= ([0-9a-f]+)$/) ?? out.match(/^([0-9a-f]+)/))?.[1] ?? "";
}

interface CheckLine {
  name?: string;
  status?: string;
  expected?: string;
}

/** `tool -c --json`: each listed file (latin1 path) with its line's status and digest. */
function checked(tool: Tool, args: string[], cwd: string): { code: number; lines: Map<string, CheckLine>; stderr: string } {
  const result = run([join(ROOT, "dist", tool), "-c", "--json", ...args], { cwd });
  const lines = new Map<string, CheckLine>();
  for (const text of result.stdout.split("\n")) {
    if (!text.startsWith("{")) continue;
    const line = JSON.parse(text) as CheckLine;
    if (line.name !== undefined) lines.set(Buffer.from(nameBytes(line.name)).toString("latin1"), line);
  }
  return { code: result.code, lines, stderr: result.stderr };
}

/** xxsum or b3sum-ts -r over the card, checked with -c and with the anchor's own -c; a damaged file after. */
async function sumsRun({ rng, work, fault, card, as, violations }: Context, tool: Tool): Promise<Outcome> {
  const algorithm = tool === "xxsum" ? rng.pick(["-H0", "-H1", "-H2", "-H3"]) : "";
  const args = ["-r", ...(algorithm ? [algorithm] : []), ...rng.pick([[], ["--jobs", "1"], ["--jobs", "2"], ["--jobs", "4"]]), "src"];
  // Hashing a card takes tens of milliseconds: a change lands within them.
  const result = await offload([...as, join(ROOT, "dist", tool), ...args], work, fault === "damage" ? "none" : fault, rng, [], card, 40);
  let printed = result.stderr;
  const sums = join(work, "sums.txt");
  writeFileSync(sums, result.stdout);
  const check = checked(tool, [sums], card.root);
  printed += check.stderr;
  const named = (rel: string) => result.stderr.includes(shown(rel));
  // A line for a file that changed mid-run may hold the digest of what it was before.
  const rightLine = (rel: string, line: CheckLine | undefined): boolean => {
    if (line?.status === "ok") return true;
    const before = card.changed?.get(rel);
    return before !== undefined && line?.expected === anchorDigest(tool, algorithm, before);
  };
  if (result.code === 0) {
    if (card.problems.length) violations.push(`exit 0 with entries that cannot be hashed: ${card.problems.map(shown).join(", ")}`);
    for (const rel of card.files.keys()) if (!rightLine(rel, check.lines.get(rel))) violations.push(`exit 0 but ${shown(rel)} ${check.lines.has(rel) ? `has a line -c reports ${check.lines.get(rel)?.status}` : "has no line"}`);
    for (const rel of check.lines.keys()) if (!card.files.has(rel)) violations.push(`exit 0 with a line for ${shown(rel)}, which is not a file of the card`);
    const anchor = tool === "xxsum" ? "xxhsum" : "b3sum";
    if (!card.changed && Bun.which(anchor)) {
      // The anchor reads every line whose name it can spell: \xHH is ours alone, and Debian's
      // xxhsum (0.8.1) reads no escaped line at all (0.8.2 reads \\ and \n, as b3sum does).
      const theirs = result.stdout.split("\n").filter((line) => line && (tool === "xxsum" ? !line.startsWith("\\") : !line.includes("\\x")));
      writeFileSync(join(work, "theirs.txt"), theirs.map((line) => `${line}\n`).join(""));
      const checkedByAnchor = run([anchor, "-c", join(work, "theirs.txt")], { cwd: card.root });
      const ok = checkedByAnchor.stdout.split("\n").filter((line) => line.endsWith(": OK")).length;
      if (theirs.length > 0 && (checkedByAnchor.code !== 0 || ok !== theirs.length))
        violations.push(
          `${anchor} -c of ${theirs.length} lines exits ${checkedByAnchor.code} with ${ok} OK: ${showLine(
            `${checkedByAnchor.stdout}${checkedByAnchor.stderr}`
              .split("\n")
              .filter((line) => line && !line.endsWith(": OK"))
              .join(" | "),
          )}`,
        );
    }
    // A file damaged afterwards: -c exits 1 and names it (and every link to it).
    const regular = [...card.files].filter(([rel]) => lstatSync(bytesPath(card.root, rel)).isFile());
    if (fault === "damage" && regular.length > 0 && !card.changed) {
      const [rel, content] = rng.pick(regular);
      const what = damage(bytesPath(card.root, rel), rng);
      const affected = [...card.files].filter(([, c]) => c === content).map(([r]) => r);
      const again = checked(tool, [sums, "--root", "src"], work);
      printed += again.stderr;
      if (again.code !== 1) violations.push(`${shown(rel)} ${what}, but ${tool} -c --root exits ${again.code}`);
      // The report of each line is on stdout (here one JSON object per line), as the anchors have it.
      for (const r of affected) if (!again.lines.has(r) || again.lines.get(r)?.status === "ok") violations.push(`${shown(rel)} ${what}, but ${tool} -c --root ${again.lines.has(r) ? "reports OK for" : "reports nothing of"} ${shown(r)}`);
      for (const r of card.files.keys()) if (!affected.includes(r) && again.lines.get(r)?.status !== "ok") violations.push(`${shown(rel)} ${what}, and ${tool} -c --root reports ${again.lines.get(r)?.status} for ${shown(r)}, which is untouched`);
    }
  } else {
    for (const rel of card.problems) if (!named(rel)) violations.push(`exit ${result.code}, but the entry that cannot be hashed is not named: ${shown(rel)}`);
    for (const rel of card.files.keys()) if (!rightLine(rel, check.lines.get(rel)) && !named(rel) && !(card.changed?.has(rel) && changedAtExit(card))) violations.push(`exit ${result.code}: ${shown(rel)} has no right line and is not named`);
  }
  return { args, code: result.code, stderr: printed };
}

/** Removes a folder a failed run may have left (unmounting what it mounted). */
export function abandon(work: string): void {
  if (existsSync(work)) cleanUp(work);
  rmSync(work, { recursive: true, force: true });
}
