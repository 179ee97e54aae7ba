/**
 * `checkout`: a commit's files, materialized in a folder that is new or empty.
 *
 * Each file is made without a name (lib/io/held_folder.ts `createNew`), as a reflink of its
 * object (no data copied) or as a copy, and what it holds is hashed before it gets its name: a
 * file whose bytes do not hash to its object's id (a damaged object) is never put in place.
 * With `hardlink`, asked for explicitly, the object itself is linked in after it was hashed
 * (the files are then read-only, and changing one would change the vault). Files are flushed
 * in groups before they are named. Every file and folder is made through descriptors held from
 * the start, and at the end each folder made must still be the one at its path (device and
 * inode), each file the one made, and nothing else may be there: a file moved away or replaced
 * meanwhile is named as missing, an entry that appeared is named as a stray (never recorded).
 * Last, an ASC MHL generation is written into the folder from the digests taken (XXH128, as the
 * object's record has it), so `mhl-verify verify DIR` proves the checkout later, anywhere; it is
 * read back and kept only if it records exactly the files checked out, with their digests.
 */
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync } from "node:fs";
import { CliError, describeSystemError, ExitCode } from "../core/errors.ts";
import { compareUtf8, isUtf8Name, joinPath, parentOf, showName } from "../core/names.ts";
import { NO_PROGRESS, type LineSink, type ProgressFactory } from "../core/sink.ts";
import { VERSION } from "../core/version.ts";
import { writeAll } from "../io/atomic_file.ts";
import { HeldFolder, MadeFolderLost, statFd, type EntryStat, type NewFile } from "../io/held_folder.ts";
import { cloneFile, flushFileSystem, setFileTimes } from "../io/libc.ts";
import { readChunks } from "../io/reader.ts";
import { createGeneration, type KnownDigest } from "../mhl/create.ts";
import { readGeneration } from "../mhl/generation.ts";
import { MhlLog } from "../mhl/log.ts";
import type { CommitEntry } from "./commit.ts";
import { Hashing } from "./import.ts";
import { shortId } from "./layout.ts";
import type { Vault } from "./store.ts";

/** How files are made in the folder. */
export type LinkMode = "auto" | "reflink" | "hardlink" | "copy";
export const LINK_MODES: readonly LinkMode[] = ["auto", "reflink", "hardlink", "copy"];

/** Options of {@link checkout}. */
export interface CheckoutOptions {
  /** @default "auto": reflinks where the folder and the vault share a file system that has them, else copies */
  mode?: LinkMode;
  /** Receives the lines of the ASC MHL generation's log (errors only). */
  output: LineSink;
  /** Each file that could not be made, by path. */
  onProblem?: (path: string, message: string) => void;
  progress?: ProgressFactory;
}

/** What a checkout did. */
export interface CheckoutResult {
  id: string;
  files: number;
  bytes: number;
  /** How files were made (`auto` resolved). */
  mode: LinkMode;
  /** Files whose object was damaged or missing (never written). */
  damaged: number;
  /** Files that could not be made for another reason. */
  failed: number;
  /** Files made and proven, then moved, removed or replaced (or their folder) before the checkout ended. */
  missing: number;
  /** Entries that appeared in the folder during the checkout (named, never recorded). */
  strays: number;
  /** The ASC MHL generation written, relative to the folder; undefined when none was. */
  generation: string | undefined;
}

/** Files flushed together before they get their names. */
const BATCH_FILES = 64;
const BATCH_BYTES = 512 << 20;
const NO_REFLINK = new Set(["EXDEV", "EOPNOTSUPP", "ENOTSUP", "EINVAL", "ENOTTY", "ENOSYS", "EPERM"]);

class Damaged extends Error {}

/** A file not made because the folder it goes in, made by the checkout, was moved or replaced at once. */
class FolderGone extends Error {}

/** What is said of a file whose folder, made by the checkout, was moved or replaced. */
function inMovedFolder(folder: string): string {
  return `is not in place: its folder ${showName(folder)} was moved or replaced during the checkout`;
}

/** The identity of a folder the checkout made that was gone before it could be opened: never at any path. */
const GONE: Identity = { dev: "", ino: -1n };

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // released either way
  }
}

/** Opens the folder to check out into: made if missing, refused unless empty. */
function openTarget(dir: string): HeldFolder {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new CliError(`cannot make the folder: ${describeSystemError(error)}`, { path: dir });
  }
  let held: HeldFolder;
  try {
    held = HeldFolder.open(dir);
  } catch (error) {
    throw new CliError(describeSystemError(error), { path: dir });
  }
  if (held.list("").length > 0) {
    held.close();
    throw new CliError("is not empty; a checkout goes into a new or empty folder", { path: dir });
  }
  return held;
}

/** A file made, waiting for its flush and its name. */
interface Made {
  entry: CommitEntry;
  file: NewFile | undefined;
  xxh128: string;
  /** The object itself, when it was hard-linked in. */
  linked?: EntryStat;
}

/** Identity of a file or folder: what must still be at its path when the checkout ends. */
interface Identity {
  dev: string;
  ino: bigint;
}

function sameEntry(now: EntryStat | undefined, kind: EntryStat["kind"], made: Identity): boolean {
  return now !== undefined && now.kind === kind && now.dev === made.dev && now.ino === made.ino;
}

function statQuietly(held: HeldFolder, relative: string): EntryStat | undefined {
  try {
    return held.stat(relative);
  } catch {
    return undefined;
  }
}

/**
 * Checks out the commit `id` into `dir`.
 * @throws {CliError} when the folder cannot be used, or the commit holds a path an ASC MHL
 *   history needs for itself.
 */
export async function checkout(vault: Vault, id: string, dir: string, options: CheckoutOptions): Promise<CheckoutResult> {
  const commit = await vault.readCommit(id);
  const reserved = commit.entries.find((e) => e.path.split("/").slice(0, -1).includes("ascmhl") || e.path === "ascmhl");
  if (reserved) throw new CliError(`commit ${shortId(id)} holds ${showName(reserved.path)}; a checkout keeps 'ascmhl' for its own ASC MHL history`, { path: vault.path });
  const held = openTarget(dir);
  const problem = options.onProblem ?? (() => {});
  let mode: LinkMode = options.mode ?? "auto";
  let damaged = 0;
  let failed = 0;
  /** Files not made because their folder was moved or replaced the instant it was made. */
  const notMade: string[] = [];
  const known = new Map<string, KnownDigest>();
  /** Files in place, and folders made, by relative path: what the end must still find. */
  const placed = new Map<string, Identity>();
  const folders = new Map<string, Identity>();
  /** Folders made and lost at once (moved or replaced before they were opened): never made again. */
  const gone: string[] = [];
  const progress = options.progress?.({ files: commit.entries.length, bytes: commit.bytes }) ?? NO_PROGRESS;
  try {
    let batch: Made[] = [];
    let batchBytes = 0;
    const place = () => {
      const ready = batch;
      batch = [];
      batchBytes = 0;
      const nameless = ready.filter((m) => m.file);
      if (nameless.length > 0 && !flushFileSystem(dir)) for (const m of nameless) fsyncSync(m.file!.fd);
      for (const m of ready) {
        try {
          if (m.file) held.placeNew(m.file, false);
          const stat = m.linked ?? statFd(m.file!.fd);
          placed.set(m.entry.path, { dev: stat.dev, ino: stat.ino });
          known.set(m.entry.path, { size: stat.size, mtimeMs: stat.mtimeMs, hexes: new Map([["xxh128", m.xxh128]]) });
        } catch (error) {
          failed++;
          problem(held.pathOf(m.entry.path), `cannot be put in place: ${describeSystemError(error)}`);
        } finally {
          if (m.file) closeQuietly(m.file.fd);
        }
      }
    };
    // Several files at once: while one is hashed on another thread, the next is made.
    const hashing = new Hashing(commit.entries.length > 1 ? 2 : 1);
    const one = async (entry: CommitEntry) => {
      try {
        const made = await materialize(vault, held, folders, gone, entry, mode, hashing, (chosen) => {
          mode = chosen;
        });
        batch.push(made);
        batchBytes += entry.size;
        progress.fileDone(entry.size);
        if (batch.length >= BATCH_FILES || batchBytes >= BATCH_BYTES) place();
      } catch (error) {
        progress.clear();
        if (error instanceof Damaged) {
          damaged++;
          problem(held.pathOf(entry.path), error.message);
        } else if (error instanceof FolderGone) {
          notMade.push(entry.path);
          problem(held.pathOf(entry.path), error.message);
        } else if (error instanceof CliError) {
          throw error;
        } else {
          failed++;
          problem(held.pathOf(entry.path), `cannot be made: ${describeSystemError(error)}`);
        }
      }
    };
    try {
      // The first file decides what `auto` means; then three lanes (two hash while one makes).
      if (commit.entries.length > 0) await one(commit.entries[0]!);
      let next = 1;
      const lane = async () => {
        while (next < commit.entries.length) await one(commit.entries[next++]!);
      };
      await Promise.all([lane(), lane(), lane()]);
    } finally {
      hashing.close();
    }
    place();
    progress.finish();
    // What the folder holds now must be what was made: each loss and each stray named once.
    const named = new Set<string>(notMade.map((path) => `-${path}`));
    let missing = notMade.length;
    let strays = 0;
    const look = (generation?: string) => {
      const found = audit(held, placed, folders, generation);
      for (const m of found.missing) {
        if (named.has(`-${m.path}`)) continue;
        named.add(`-${m.path}`);
        missing++;
        problem(held.pathOf(m.path), m.message);
      }
      for (const path of found.strays) {
        if (named.has(`+${path}`)) continue;
        named.add(`+${path}`);
        strays++;
        problem(held.pathOf(path), `appeared in the folder during the checkout; it is not part of commit ${shortId(id)} and was not recorded`);
      }
    };
    look();
    let generation: string | undefined;
    const notUtf8 = commit.entries.filter((e) => !isUtf8Name(e.path)).map((e) => e.path);
    if (damaged === 0 && failed === 0 && missing === 0 && strays === 0) {
      if (notUtf8.length > 0) {
        for (const path of notUtf8) problem(held.pathOf(path), "its name is not UTF-8, which an ASC MHL cannot hold");
        failed += notUtf8.length;
      } else {
        generation = await writeGeneration(held, known, options.output);
        // The generation was written from a walk of the folder: it must hold exactly what was proven.
        const wrong = recordedWrongly(held, generation, known);
        for (const [path, message] of wrong) {
          if (!placed.has(path)) {
            strays++;
            named.add(`+${path}`);
          } else {
            missing++;
            named.add(`-${path}`);
          }
          problem(held.pathOf(path), message);
        }
        look(generation);
        if (wrong.size > 0 || missing > 0 || strays > 0) {
          withdraw(held, generation);
          generation = undefined;
        }
      }
    }
    return { id, files: commit.entries.length, bytes: commit.bytes, mode, damaged, failed, missing, strays, generation };
  } finally {
    held.close();
  }
}

/** Makes one file, checked against its id; a `Damaged` error when the object is not what it should be. */
async function materialize(vault: Vault, held: HeldFolder, folders: Map<string, Identity>, gone: string[], entry: CommitEntry, mode: LinkMode, hashing: Hashing, switchTo: (mode: LinkMode) => void): Promise<Made> {
  const record = vault.readRecord(entry.id);
  if (!record) throw new Damaged(`object ${shortId(entry.id)} has no record in the vault (run cartvault verify); not written`);
  if (record.size !== entry.size) throw new Damaged(`object ${shortId(entry.id)} is recorded with ${record.size} bytes, the commit says ${entry.size}; not written`);
  let obj: number;
  try {
    obj = vault.openObject(entry.id);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new Damaged(code === "ENOENT" ? `object ${shortId(entry.id)} is missing from the vault; not written` : `object ${shortId(entry.id)} cannot be read: ${describeSystemError(error)}; not written`);
  }
  try {
    const folder = parentOf(entry.path);
    if (folder !== ".") makeFolders(held, folders, gone, folder);
    if (mode === "hardlink") {
      const digests = await hashing.hash(obj, held.pathOf(entry.path));
      check(entry, digests.hexes.get("blake3")!, digests.hexes.get("xxh128")!, digests.size, record.xxh128);
      try {
        held.linkFd(obj, entry.path);
      } catch (error) {
        if ((error as { code?: string }).code === "EXDEV") throw new CliError("--link hardlink: the folder is not on the vault's file system; use --link copy or reflink", { path: held.path });
        throw error;
      }
      return { entry, file: undefined, xxh128: record.xxh128, linked: statFd(obj) };
    }
    const file = held.createNew(entry.path, 0o600);
    try {
      if (mode !== "copy") {
        const failed = cloneFile(file.fd, obj);
        if (failed && (mode === "reflink" || !NO_REFLINK.has(failed))) {
          throw NO_REFLINK.has(failed) ? new CliError(`--link reflink: the folder and the vault cannot share extents (${failed}); use --link copy`, { path: held.path }) : new Error(`reflink failed: ${failed}`);
        }
        if (mode === "auto") switchTo(failed ? "copy" : "reflink");
        mode = failed ? "copy" : "reflink";
      }
      if (mode === "copy") {
        let at = 0;
        for (const chunk of readChunks(obj)) {
          writeAll(file.fd, chunk, at);
          at += chunk.length;
        }
      }
      // What the new file holds is hashed, whether shared with the object or copied from it.
      const reader = file.partial === undefined ? openSync(`/proc/self/fd/${file.fd}`, "r") : held.openRead(file.partial);
      let digests;
      try {
        digests = await hashing.hash(reader, held.pathOf(entry.path));
      } finally {
        closeQuietly(reader);
      }
      check(entry, digests.hexes.get("blake3")!, digests.hexes.get("xxh128")!, digests.size, record.xxh128);
      fchmodSync(file.fd, entry.mode);
      setFileTimes(file.fd, entry.mtimeNs, entry.mtimeNs);
      return { entry, file, xxh128: digests.hexes.get("xxh128")! };
    } catch (error) {
      closeQuietly(file.fd);
      held.discardNew(file);
      throw error;
    }
  } finally {
    closeQuietly(obj);
  }
}

/** Refuses bytes that do not hash to their id (or to the recorded XXH128). */
function check(entry: CommitEntry, blake3: string, xxh128: string, size: number, recorded: string): void {
  if (blake3 !== entry.id || size !== entry.size) throw new Damaged(`object ${shortId(entry.id)} is damaged: its bytes do not match its id; not written`);
  if (xxh128 !== recorded) throw new Damaged(`object ${shortId(entry.id)}'s record is damaged: its XXH128 is not the bytes'; not written`);
}

/**
 * Makes `folder` and the folders above it, each opened once through its parent's descriptor
 * (the descriptor files are then made through) and its identity kept for the end.
 */
function makeFolders(held: HeldFolder, folders: Map<string, Identity>, gone: string[], folder: string): void {
  const lost = gone.find((path) => folder === path || folder.startsWith(`${path}/`));
  if (lost !== undefined) throw new FolderGone(inMovedFolder(lost));
  if (folders.has(folder)) return;
  try {
    held.makeFolders(folder, 0o755);
  } catch (error) {
    // Never made again: the end names what took its place, and each file meant for it.
    if (!(error instanceof MadeFolderLost)) throw error;
    gone.push(...keepIdentities(held, folders, parentOf(error.relative), true), error.relative);
    folders.set(error.relative, GONE);
    throw new FolderGone(inMovedFolder(error.relative));
  }
  keepIdentities(held, folders, folder, false);
}

/**
 * Keeps the identity of `folder` and of each folder above it, as they are now; one that cannot
 * be opened throws, or with `quiet` is kept as never at any path and returned.
 */
function keepIdentities(held: HeldFolder, folders: Map<string, Identity>, folder: string, quiet: boolean): string[] {
  const lost: string[] = [];
  if (folder === "." || folder === "") return lost;
  const parts = folder.split("/");
  for (let k = 1; k <= parts.length; k++) {
    const path = parts.slice(0, k).join("/");
    if (folders.has(path)) continue;
    let identity = GONE;
    try {
      const stat = statFd(held.folderFd(path));
      identity = { dev: stat.dev, ino: stat.ino };
    } catch (error) {
      if (!quiet) throw error;
      lost.push(path);
    }
    folders.set(path, identity);
  }
  return lost;
}

/**
 * Compares the folder with what the checkout made: each folder made still the one at its path,
 * each file placed still there, and nothing else (but the ASC MHL history: `generation`, once
 * written, and its chain).
 */
function audit(held: HeldFolder, placed: Map<string, Identity>, folders: Map<string, Identity>, generation: string | undefined): { missing: Array<{ path: string; message: string }>; strays: string[] } {
  const missing: Array<{ path: string; message: string }> = [];
  const strays: string[] = [];
  if (!held.stillAt()) {
    for (const path of placed.keys()) missing.push({ path, message: `is not in ${showName(held.path)}: the folder was moved or replaced during the checkout` });
    return { missing, strays };
  }
  const moved = new Set<string>();
  for (const [path, made] of [...folders].sort(([a], [b]) => compareUtf8(a, b))) {
    const above = parentOf(path);
    if (moved.has(above)) {
      moved.add(path);
      continue;
    }
    if (!sameEntry(statQuietly(held, path), "folder", made)) moved.add(path);
  }
  /** The names each folder should hold. */
  const expected = new Map<string, Set<string>>([["", new Set(["ascmhl"])]]);
  const expect = (path: string) => {
    const slash = path.lastIndexOf("/");
    const folder = slash < 0 ? "" : path.slice(0, slash);
    let names = expected.get(folder);
    if (!names) expected.set(folder, (names = new Set()));
    names.add(path.slice(slash + 1));
  };
  for (const path of folders.keys()) expect(path);
  for (const [path, made] of [...placed].sort(([a], [b]) => compareUtf8(a, b))) {
    expect(path);
    const folder = parentOf(path);
    if (moved.has(folder)) missing.push({ path, message: inMovedFolder(folder) });
    else if (!sameEntry(statQuietly(held, path), "file", made)) missing.push({ path, message: "is not in place: it was moved, removed or replaced during the checkout" });
  }
  for (const [folder, names] of expected) {
    if (folder !== "" && moved.has(folder)) continue;
    let entries;
    try {
      entries = held.list(folder);
    } catch {
      continue;
    }
    for (const e of entries) if (!names.has(e.name)) strays.push(folder === "" ? e.name : joinPath(folder, e.name));
  }
  if (!moved.has("") && generation !== undefined) {
    // The history folder holds the generation and its chain, nothing else.
    const own = new Set([generation.slice("ascmhl/".length), "ascmhl_chain.xml"]);
    try {
      for (const e of held.list("ascmhl")) if (!own.has(e.name)) strays.push(`ascmhl/${e.name}`);
    } catch {
      missing.push({ path: generation, message: "is not in place: the ASC MHL history was moved or replaced during the checkout" });
    }
  }
  return { missing, strays: strays.sort(compareUtf8) };
}

/** The ASC MHL generation of the checkout, from the digests taken; returns its file name. */
async function writeGeneration(held: HeldFolder, known: Map<string, KnownDigest>, output: LineSink): Promise<string> {
  await createGeneration(held.path, { formats: ["xxh128"], knownDigests: known, tool: { name: "cartvault", version: VERSION } }, new MhlLog({ output }));
  const names = held
    .list("ascmhl")
    .map((e) => e.name)
    .filter((n) => /^\d{4}_.*\.mhl$/.test(n))
    .sort();
  return `ascmhl/${names.at(-1)}`;
}

/**
 * What the generation records that was not checked out and proven (by path, with what is
 * wrong), and each proven file it does not record or records with other digests.
 */
function recordedWrongly(held: HeldFolder, generation: string, known: Map<string, KnownDigest>): Map<string, string> {
  const wrong = new Map<string, string>();
  let recorded;
  try {
    const fd = held.openRead(generation);
    try {
      recorded = readGeneration(new TextDecoder().decode(readAll(fd)), held.pathOf(generation));
    } finally {
      closeQuietly(fd);
    }
  } catch (error) {
    for (const path of known.keys()) wrong.set(path, `is not recorded: the ASC MHL generation written cannot be read back (${error instanceof Error ? error.message : String(error)})`);
    return wrong;
  }
  const seen = new Set<string>();
  for (const media of recorded.hashes) {
    if (media.isDirectory) continue;
    seen.add(media.path);
    const digest = known.get(media.path);
    const xxh128 = media.entries.find((e) => e.format === "xxh128")?.value;
    if (!digest) wrong.set(media.path, "appeared in the folder during the checkout and was recorded by its ASC MHL generation; it is not part of the commit");
    else if (xxh128 !== digest.hexes.get("xxh128")) wrong.set(media.path, "changed during the checkout: its ASC MHL generation records other bytes than were checked out");
  }
  for (const path of known.keys()) if (!seen.has(path)) wrong.set(path, "is not recorded by the ASC MHL generation: it was moved or removed during the checkout");
  return wrong;
}

function readAll(fd: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const chunk of readChunks(fd)) chunks.push(chunk.slice());
  return Buffer.concat(chunks);
}

/** Removes a generation that does not describe the checkout (and the history, when that is all it held). */
function withdraw(held: HeldFolder, generation: string): void {
  for (const path of [generation, "ascmhl/ascmhl_chain.xml"]) {
    try {
      held.remove(path);
    } catch {
      // already gone
    }
  }
  try {
    held.removeFolder("ascmhl");
  } catch {
    // something else is in it: named as a stray
  }
}

/** Exit code of a checkout: 1 when an object was damaged or missing or the folder does not hold exactly the commit, 2 when something else failed. */
export function checkoutExitCode(result: CheckoutResult): number {
  return result.damaged > 0 || result.missing > 0 || result.strays > 0 ? ExitCode.VerifyFailed : result.failed > 0 ? ExitCode.UsageOrIo : ExitCode.Ok;
}
