/**
 * The invariant as a program. Each run builds a random card from a hostile alphabet (names that
 * are not UTF-8, NFC/NFD and case twins, newlines, leading dashes, 255-byte names, deep paths;
 * links inside and out, dangling links, FIFOs, empty and unreadable folders, sparse and empty
 * files), offloads it with the compiled dispatchcopy under one random fault (kill -9 then
 * --resume, a tiny tmpfs, a loop XFS shut down mid-run, an exFAT whose FUSE daemon is killed,
 * the source grown, truncated or replaced mid-run, a run as nobody), and checks:
 *
 * - exit 0 ⇒ every destination holds every file of the source byte for byte, its ASC MHL
 *   verifies (mhl-verify), and nothing partial is left;
 * - exit ≠ 0 ⇒ every file that is not on every destination byte for byte is named on stderr,
 *   and no file under a final name differs from the source (a file changed mid-run may hold
 *   what was read, if it is named).
 *
 * A pulled drive is mounted again first, so what it kept is what is judged. Used by
 * tests/faults/chaos.test.ts (a short fixed set, in CI) and bench/chaos.ts (many runs).
 */
import { chmodSync, closeSync, existsSync, ftruncateSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { nameFromBytes, showName } from "../../lib/core/names.ts";
import { IS_ROOT, ROOT, run } from "../helpers.ts";

/** The faults a run can be put under. */
export const FAULTS = ["none", "kill", "tmpfs-full", "xfs-pull", "exfat-kill", "source-change", "as-nobody"] as const;
export type Fault = (typeof FAULTS)[number];

/** Faults that need root and the file system tools. */
const MOUNT_FAULTS: ReadonlySet<Fault> = new Set(["tmpfs-full", "xfs-pull", "exfat-kill", "as-nobody"]);

/** What one run did and what it found wrong. */
export interface ChaosResult {
  seed: number;
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

/** How a relative path (latin1 bytes) is shown on stderr. */
function shown(rel: string): string {
  return showName(nameFromBytes(Buffer.from(rel, "latin1")));
}

/** One destination of a run. */
interface Destination {
  path: string;
  kind: "plain" | "tmpfs" | "xfs" | "exfat";
  /** Pulls the drive (xfs, exfat). */
  pull?: () => void;
  /** Mounts a pulled drive again, so that what it kept can be judged. */
  remount?: () => void;
  pulled?: boolean;
  /** Holds exFAT's name rules (and no case). */
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
  const image = join(work, `e${index}.img`);
  run(["truncate", "-s", "300M", image]);
  run(["mkfs.exfat", image]);
  const loop = run(["losetup", "-f", "--show", image]).stdout.trim();
  run(["mount.exfat-fuse", loop, mount]);
  const daemon = () =>
    run(["pgrep", "-f", `mount.exfat-fuse ${loop} `])
      .stdout.trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
  return {
    path: join(mount, "CARD"),
    kind,
    fat: true,
    pull: () => {
      for (const pid of daemon()) process.kill(pid, "SIGKILL");
    },
    remount: () => {
      run(["umount", "-l", mount]);
      run(["fsck.exfat", "-y", loop]);
      run(["mount.exfat-fuse", loop, mount]);
    },
  };
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
  const how = rng.int(3);
  if (how === 0) writeFileSync(path, Buffer.concat([old, Buffer.from("grown")]));
  else if (how === 1) writeFileSync(path, old.subarray(0, Math.floor(old.length / 2)));
  else {
    const next = Buffer.concat([path, Buffer.from(".replacement")]);
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

/** Runs dispatchcopy, killing it or pulling a drive on the way when the fault says so. */
async function offload(cmd: string[], cwd: string, fault: Fault, rng: Random, destinations: Destination[], card: Card): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  const stdout = new Response(proc.stdout).text();
  const stderr = new Response(proc.stderr).text();
  const after = 30 + rng.int(600);
  if (fault === "kill") {
    await Bun.sleep(after);
    proc.kill("SIGKILL");
  } else if (fault === "xfs-pull" || fault === "exfat-kill") {
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

/**
 * One randomized run. `work` is a folder the run may fill and remove.
 */
export async function chaosRun(seed: number, work: string, forced?: Fault): Promise<ChaosResult> {
  const started = performance.now();
  const rng = new Random(seed);
  const canMount = IS_ROOT && Bun.which("mkfs.xfs") !== null && Bun.which("mount.exfat-fuse") !== null;
  const choices = FAULTS.filter((f) => canMount || !MOUNT_FAULTS.has(f));
  const fault: Fault = forced ?? rng.pick(choices);
  mkdirSync(work, { recursive: true });
  const violations: string[] = [];
  const gentle = rng.chance(0.5);
  const special = !gentle && rng.chance(0.5);
  const card = buildCard(rng, join(work, "src"), { unreadable: fault === "as-nobody", special, gentle });
  const cardBytes = [...card.files.values()].reduce((sum, c) => sum + c.length, 0);
  const kinds: Array<Destination["kind"]> = ["plain"];
  if (fault === "tmpfs-full") kinds.push("tmpfs");
  if (fault === "xfs-pull") kinds.push("xfs");
  if (fault === "exfat-kill") kinds.push("exfat");
  if (rng.chance(0.4)) kinds.push("plain");
  if (canMount && fault !== "exfat-kill" && rng.chance(0.15)) kinds.push("exfat");
  const destinations = kinds.map((kind, i) => makeDestination(work, i, kind, rng, cardBytes));
  const algorithms = rng.pick([[], ["-t", "xxh128"], ["-t", "md5", "-t", "xxh64"], ["-t", "blake3"], ["-t", "sha1"]]);
  const args = [
    "-r",
    ...algorithms,
    ...rng.pick([[], ["--jobs", "2"], ["--jobs", "4"]]),
    ...(rng.chance(0.15) ? ["--verify", "source+dest"] : []),
    ...(fault === "kill" || fault === "source-change" || fault === "xfs-pull" ? ["--rate-limit", "30MB/s"] : []),
    "src",
    ...destinations.map((d) => d.path.slice(work.length + 1)),
  ];
  const dispatchcopy = join(ROOT, "dist", "dispatchcopy");
  const as = fault === "as-nobody" ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
  if (as.length) run(["chmod", "-R", "a+rwX", work]);
  if (fault === "as-nobody") chmodSync(join(card.root, "LOCKED"), 0o000);
  let result = await offload([...as, dispatchcopy, ...args], work, fault, rng, destinations, card);
  if (fault === "kill") {
    // Killed (maybe more than once); the same command with --resume finishes.
    if (rng.chance(0.5)) await offload([...as, dispatchcopy, ...args], work, "kill", rng, destinations, card);
    result = await offload([...as, dispatchcopy, "--resume", ...args], work, "none", rng, destinations, card);
  }
  for (const line of `${result.stderr}\n${result.stdout}`.split("\n")) if (/^\s+at .*:\d+/.test(line)) violations.push(`stack trace on stderr: ${line.trim()}`);
  for (const d of destinations) if (d.pulled && d.remount) d.remount();

  const named = (rel: string) => result.stderr.includes(shown(rel));
  // A destination that could not be used at all is named once, with every file: "none of the N files".
  const wholeDestinationNamed = (d: Destination) => new RegExp(`^dispatchcopy: ${d.path.slice(work.length + 1).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: NOT COMPLETE: .*none of the \\d+ files was copied to it$`, "m").test(result.stderr);
  if (result.code === 0) {
    if (card.problems.length) violations.push(`exit 0 with entries that cannot be copied: ${card.problems.map(shown).join(", ")}`);
    for (const d of destinations) {
      const there = filesBelow(d.path);
      for (const [rel, content] of card.files) {
        let ok = false;
        try {
          ok = there.get(rel) === "file" && readFileSync(bytesPath(d.path, rel)).equals(content);
        } catch {
          ok = false;
        }
        if (!ok) violations.push(`exit 0 but ${d.kind} ${d.path} lacks ${shown(rel)} byte for byte`);
      }
      for (const [rel] of there) if (rel.endsWith(".partial")) violations.push(`exit 0 but a partial file is left: ${shown(rel)}`);
      const verified = run([join(ROOT, "dist", "mhl-verify"), "verify", d.path]);
      if (verified.code !== 0) violations.push(`exit 0 but mhl-verify verify ${d.path} exits ${verified.code}: ${verified.stderr.trim().split("\n")[0]}`);
    }
  } else {
    for (const rel of card.problems) if (!named(rel)) violations.push(`exit ${result.code}, but the entry that cannot be copied is not named: ${shown(rel)}`);
    for (const d of destinations) {
      const there = filesBelow(d.path);
      for (const [rel, content] of card.files) {
        let copy: Buffer | undefined;
        try {
          copy = there.get(rel) === "file" ? readFileSync(bytesPath(d.path, rel)) : undefined;
        } catch {
          copy = undefined;
        }
        const same = copy?.equals(content) ?? false;
        const lateChange = card.changed?.has(rel) && card.changedAt !== undefined && card.exitedAt !== undefined && card.exitedAt - card.changedAt < 100;
        if (!same && !named(rel) && !wholeDestinationNamed(d) && !lateChange) violations.push(`exit ${result.code}: ${shown(rel)} is not on ${d.kind} ${d.path} byte for byte, and is not named`);
        if (copy && !same) {
          const before = card.changed?.get(rel);
          // A change that lands as the run exits cannot be told from one just after it.
          const atExit = card.changedAt !== undefined && card.exitedAt !== undefined && card.exitedAt - card.changedAt < 100;
          if (!(before && copy.equals(before) && (named(rel) || atExit))) violations.push(`${d.kind} ${d.path} holds ${shown(rel)} under its final name with bytes the source never had (${copy.length} bytes; the source has ${content.length}${before ? `, had ${before.length}` : ""})`);
        }
      }
    }
  }
  if (existsSync(join(card.root, "LOCKED"))) chmodSync(join(card.root, "LOCKED"), 0o755);
  if ((violations.length || process.env.CHAOS_SHOW === "all") && process.env.CHAOS_SHOW) process.stderr.write(`--- seed ${seed}: ${JSON.stringify(args)}\n${result.stderr}\n`);
  cleanUp(work);
  return { seed, fault, args, exitCode: result.code, files: card.files.size, violations, seconds: (performance.now() - started) / 1000 };
}

/** Removes a folder a failed run may have left (unmounting what it mounted). */
export function abandon(work: string): void {
  if (existsSync(work)) cleanUp(work);
  rmSync(work, { recursive: true, force: true });
}
