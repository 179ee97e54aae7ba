/**
 * `verify`: re-read every file of a tape, in start-block order (as the reference's
 * `ltfs_ordered_copy` reads, so a real drive streams instead of shoe-shining), hash it, and
 * compare with the tape's own ASC MHL — and with the digests the index carries as attributes.
 * Sizes are held to every record of them: the bytes read must be the length the index (or the
 * file system) gives, the size the MHL records and the size the tape's plan gave. The tape's
 * catalog entry names the files of its plan that could not be written: each is a failure. On a
 * virtual tape, both copies of the last index (index and data partition) are checked too.
 * The MHL's chain is checked first: a generation whose C4 differs from its chain entry is reported.
 */
import { closeSync, readFileSync } from "node:fs";
import { CliError, describeSystemError } from "../core/errors.ts";
import { showName } from "../core/names.ts";
import { createHashers } from "../hash/registry.ts";
import { HeldFolder, withFileIn } from "../io/held_folder.ts";
import { DEFAULT_IGNORES, IgnoreList } from "../io/ignore.ts";
import { getXattr } from "../io/libc.ts";
import { readChunks } from "../io/reader.ts";
import { walkFiles } from "../io/walk.ts";
import { readChain } from "../mhl/chain.ts";
import { hashBytes } from "../mhl/directory_hash.ts";
import { algorithmOf, type HashFormat } from "../mhl/formats.ts";
import { readGeneration } from "../mhl/generation.ts";
import { pathKey } from "../mhl/paths.ts";
import { XmlError } from "../xml/xml.ts";
import { checkIndexCopies, indexFolders, Volume } from "./volume.ts";
import { TAPE_CATALOG_FILE } from "./plan.ts";
import { creatorIsWrite, hashesFromXattrs, hashesOnMount } from "./write.ts";

/** The outcome for one file (or a folder, for `missing`). */
export interface VerifyResult {
  path: string;
  status: "ok" | "mismatch" | "missing" | "unreadable" | "unrecorded" | "not-written";
  /** The length the index (or the file system) gives. */
  size?: number;
  startBlock?: number;
  /** Format → expected and found digests, for a mismatch. */
  mismatches?: { format: HashFormat; expected: string; found: string; source: "mhl" | "index" }[];
  message?: string;
}

/** A file as verification reads it. */
interface Candidate {
  path: string;
  /** Its length as the index (or the file system) gives it. */
  size: number;
  startBlock: number | undefined;
  /** Digests the index (or the mount's attributes) carries. */
  recorded: Map<HashFormat, string>;
  chunks(): Iterable<Uint8Array>;
}

/** What the tape's MHL says: expected digests and sizes by path, and its folders. */
interface Expected {
  generationFile: string;
  byPath: Map<string, { path: string; size?: number; hexes: Map<HashFormat, string> }>;
  folders: Map<string, string>;
  problems: string[];
}

/** What the tape's own catalog entry (written last by `write`) says of the plan. */
interface TapeRecord {
  files: Map<string, { path: string; size: number }>;
  folders: string[];
  notWritten: { path: string; size: number; reason: string }[];
}

/**
 * Reads the latest generation through `readText`, checking its C4 against the chain.
 * @throws {CliError} naming `tape` (exit 1) when the MHL on it cannot be read.
 */
async function readMhl(tape: string, readText: (path: string) => Uint8Array | undefined): Promise<Expected | undefined> {
  try {
    return await readLatestGeneration(readText);
  } catch (error) {
    if (error instanceof XmlError || error instanceof CliError) throw new CliError(`the tape's MHL cannot be read: ${error.message}`, { path: tape, exitCode: 1 });
    throw error;
  }
}

async function readLatestGeneration(readText: (path: string) => Uint8Array | undefined): Promise<Expected | undefined> {
  const chainBytes = readText("ascmhl/ascmhl_chain.xml");
  if (!chainBytes) return undefined;
  const chain = readChain(new TextDecoder().decode(chainBytes), "ascmhl/ascmhl_chain.xml");
  const latest = chain.at(-1);
  if (!latest) return undefined;
  const generationFile = `ascmhl/${latest.fileName}`;
  const bytes = readText(generationFile);
  if (!bytes) throw new CliError(`the chain names ${generationFile}, which is not on the tape`);
  const problems: string[] = [];
  const c4 = await hashBytes("c4", bytes);
  if (c4 !== latest.c4) problems.push(`${generationFile}: C4 ${c4} differs from the chain's ${latest.c4}; the MHL was altered`);
  const generation = readGeneration(new TextDecoder().decode(bytes), generationFile);
  const byPath = new Map<string, { path: string; size?: number; hexes: Map<HashFormat, string> }>();
  const folders = new Map<string, string>();
  for (const media of generation.hashes) {
    if (media.isDirectory) {
      if (pathKey(media.path) !== "") folders.set(pathKey(media.path), media.path);
      continue;
    }
    byPath.set(pathKey(media.path), { path: media.path, size: media.size, hexes: new Map(media.entries.map((e) => [e.format, e.value])) });
  }
  return { generationFile, byPath, folders, problems };
}

/** Reads the tape's catalog entry; undefined when there is none, a problem when it is not one. */
function readTapeRecord(bytes: Uint8Array | undefined, problems: string[]): TapeRecord | undefined {
  if (bytes === undefined) return undefined;
  let entry: { files?: unknown; folders?: unknown; notWritten?: unknown };
  try {
    entry = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    problems.push(`${TAPE_CATALOG_FILE}: cannot be read as the tape's catalog entry (${(error as Error).message}); the plan's sizes are not checked`);
    return undefined;
  }
  const list = (value: unknown) => (Array.isArray(value) ? value : []);
  const files = new Map<string, { path: string; size: number }>();
  for (const f of list(entry.files)) {
    if (typeof f?.path === "string" && typeof f.size === "number") files.set(pathKey(f.path), { path: f.path, size: f.size });
  }
  return {
    files,
    folders: list(entry.folders).filter((f): f is string => typeof f === "string"),
    notWritten: list(entry.notWritten)
      .filter((f) => typeof f?.path === "string")
      .map((f) => ({ path: f.path, size: Number(f.size), reason: String(f.reason ?? "") })),
  };
}

/** What a verification reports while it runs. */
export interface VerifyHooks {
  /** Each file's outcome (and each missing folder's), as it is known. */
  onResult: (result: VerifyResult) => void;
  /** Told once, before reading: how many files and bytes are to be read. */
  onStart?: (files: number, bytes: number) => void;
}

/** Counts of a verification. */
interface Counts {
  /** Files read back. */
  checked: number;
  /** Files that did not verify: differed, unreadable, missing or never written. */
  failed: number;
  /** Files the tape should hold: read back, missing or never written. */
  expected: number;
  bytes: number;
}

/** Hashes and compares the candidates, in start-block order, reporting each. */
async function verifyCandidates(candidates: Candidate[], folders: ReadonlySet<string>, expected: Expected | undefined, record: TapeRecord | undefined, sizeSource: string, { onResult, onStart }: VerifyHooks): Promise<Counts> {
  const ordered = [...candidates].sort((a, b) => (a.startBlock ?? -1) - (b.startBlock ?? -1));
  onStart?.(
    ordered.length,
    ordered.reduce((sum, c) => sum + c.size, 0),
  );
  let failed = 0;
  let bytes = 0;
  let absent = 0;
  const seen = new Set<string>();
  for (const candidate of ordered) {
    const key = pathKey(candidate.path);
    seen.add(key);
    const mhl = expected?.byPath.get(key);
    const planned = record?.files.get(key);
    const formats = new Set<HashFormat>([...(mhl?.hexes.keys() ?? []), ...candidate.recorded.keys()]);
    const base = { path: candidate.path, size: candidate.size, startBlock: candidate.startBlock };
    if (formats.size === 0) {
      failed++;
      onResult({ ...base, status: "unrecorded", message: "no digest recorded in the tape's MHL or index" });
      continue;
    }
    const hashers = await createHashers([...formats].map(algorithmOf));
    let read = 0;
    try {
      for (const chunk of candidate.chunks()) {
        hashers.update(chunk);
        read += chunk.length;
      }
    } catch (error) {
      failed++;
      onResult({ ...base, status: "unreadable", message: error instanceof CliError ? error.message : describeSystemError(error) });
      continue;
    }
    bytes += read;
    const found = new Map<HashFormat, string>();
    for (const [algorithm, hex] of hashers.hexes()) for (const f of formats) if (algorithmOf(f) === algorithm) found.set(f, hex);
    const mismatches: NonNullable<VerifyResult["mismatches"]> = [];
    for (const [format, value] of mhl?.hexes ?? []) if (found.get(format) !== value) mismatches.push({ format, expected: value, found: found.get(format)!, source: "mhl" });
    for (const [format, value] of candidate.recorded) if (found.get(format) !== value) mismatches.push({ format, expected: value, found: found.get(format)!, source: "index" });
    // Every record of the size must be the bytes read: a flipped bit in the index's <length>
    // leaves the digests matching the extents' bytes, not the file the index describes.
    const sizes: string[] = [];
    if (candidate.size !== read) sizes.push(`${sizeSource} says ${candidate.size}`);
    if (mhl?.size !== undefined && mhl.size !== read) sizes.push(`the MHL records ${mhl.size}`);
    if (planned !== undefined && planned.size !== read) sizes.push(`the tape's plan says ${planned.size}`);
    if (mismatches.length > 0 || sizes.length > 0) {
      failed++;
      onResult({ ...base, status: "mismatch", mismatches, message: sizes.length > 0 ? `read ${read} bytes, ${sizes.join(", ")}` : undefined });
    } else onResult({ ...base, status: "ok" });
  }
  const missing = (path: string, message: string) => {
    failed++;
    absent++;
    onResult({ path, status: "missing", message });
  };
  for (const [key, entry] of expected?.byPath ?? []) if (!seen.has(key)) missing(entry.path, `recorded in ${expected!.generationFile} but not on the tape`);
  for (const [key, entry] of record?.files ?? []) {
    if (!seen.has(key) && !expected?.byPath.has(key)) missing(entry.path, `written according to ${TAPE_CATALOG_FILE} but not on the tape`);
  }
  for (const file of record?.notWritten ?? []) {
    failed++;
    absent++;
    onResult({ path: file.path, size: file.size, status: "not-written", message: `in the tape's plan but never written: ${file.reason}` });
  }
  const folderKeys = new Set([...folders].map(pathKey));
  const wantedFolders = new Map<string, string>([...(expected?.folders ?? []), ...(record?.folders ?? []).map((f): [string, string] => [pathKey(f), f])]);
  for (const [key, path] of wantedFolders) {
    if (!folderKeys.has(key) && !key.split("/").includes("ascmhl")) missing(`${path}/`, "folder recorded in the tape's MHL or plan, but not on the tape");
  }
  return { checked: ordered.length, failed, expected: ordered.length + absent, bytes };
}

/** Outcome of a verification run. */
export interface VerifySummary extends Counts {
  /** The MHL generation compared with, if the tape has one. */
  mhl: string | undefined;
  /** Problems with the tape itself (its MHL, its indexes, folders that could not be read), each a line. */
  problems: string[];
}

/**
 * The one line `verify` prints, and its exit code: 0 only when every file was read back and
 * matched an MHL, and nothing else is wrong.
 * @example
 * declare const summary: Parameters<typeof verifyVerdict>[1];
 * const { line, code } = verifyVerdict("vt", summary); // "verified vt: 3 files, 1300012 bytes read back, all match ascmhl/…"
 */
export function verifyVerdict(target: string, summary: VerifySummary): { line: string; code: 0 | 1 } {
  const { checked, failed, expected, bytes, mhl, problems } = summary;
  if (failed === 0 && problems.length === 0 && mhl) return { line: `verified ${target}: ${checked} files, ${bytes} bytes read back, all match ${mhl}`, code: 0 };
  if (failed === 0 && problems.length === 0) {
    return { line: `FAILED ${target}: no ASC MHL on the tape to verify against; ${checked} files, ${bytes} bytes read back match the index's digests only`, code: 1 };
  }
  const parts = [`${failed} of ${expected} files do not verify`];
  if (problems.length > 0) parts.push(`${problems.length} problem(s) with the tape`);
  if (!mhl) parts.push("no ASC MHL");
  return { line: `FAILED ${target}: ${parts.join(", ")} (${bytes} bytes read back)`, code: 1 };
}

/** An index problem as a line. */
function problemLine(dir: string, problem: { path: string; message: string }): string {
  return problem.path === "ltfsindex" ? `${dir}: ${problem.message}` : `${dir}: ${showName(problem.path)}: ${problem.message}`;
}

/**
 * Verifies a virtual tape.
 * @throws {CliError} when the folder is not a readable LTFS virtual tape.
 */
export async function verifyVtape(dir: string, hooks: VerifyHooks): Promise<VerifySummary> {
  const volume = Volume.open(dir);
  try {
    return await verifyOpenVtape(dir, volume, hooks);
  } finally {
    volume.close();
  }
}

async function verifyOpenVtape(dir: string, volume: Volume, hooks: VerifyHooks): Promise<VerifySummary> {
  const problems = checkIndexCopies(volume).map((p) => problemLine(dir, p));
  const entries = volume.files();
  const byKey = new Map(entries.map((e) => [pathKey(e.path), e]));
  const readText = (path: string) => {
    const entry = byKey.get(pathKey(path));
    return entry ? volume.readAll(entry) : undefined;
  };
  const expected = await readMhl(dir, readText);
  let recordBytes: Uint8Array | undefined;
  try {
    recordBytes = readText(TAPE_CATALOG_FILE);
  } catch (error) {
    problems.push(`${dir}: ${TAPE_CATALOG_FILE}: cannot be read: ${error instanceof CliError ? error.message : describeSystemError(error)}`);
  }
  const record = readTapeRecord(recordBytes, problems);
  // A write that did not finish: it ends with the catalog entry and the index partition's copy
  // of the last generation. Its files may all verify; the tape is still not what was planned.
  if (!volume.closed) problems.push(`${dir}: the data partition holds a newer index (generation ${volume.latest.index.generationNumber}) than the index partition: the volume was not closed (a write or mount that did not finish; ltfsck recovers it)`);
  else if (recordBytes === undefined && creatorIsWrite(volume.label.creator)) problems.push(`${dir}: no ${TAPE_CATALOG_FILE} on a volume ltfs-pack formatted: its write did not finish`);
  const candidates: Candidate[] = entries
    .filter((e) => !e.path.startsWith("ascmhl/"))
    .map((e) => ({
      path: e.path,
      size: e.file.length,
      recorded: hashesFromXattrs(e.file.xattrs),
      startBlock: e.file.extents.length > 0 ? Math.min(...e.file.extents.map((x) => x.startBlock)) : undefined,
      chunks: () => volume.read(e),
    }));
  const counts = await verifyCandidates(candidates, new Set(indexFolders(volume.latest.index.root)), expected, record, "the index", hooks);
  return { ...counts, mhl: expected?.generationFile, problems: [...(expected?.problems ?? []), ...problems] };
}

/** A file's bytes, read in 4 MiB chunks by the shared reader (a read-ahead thread for large files). */
function* fileChunks(folder: HeldFolder, relativePath: string): Generator<Uint8Array> {
  const fd = folder.openRead(relativePath);
  try {
    yield* readChunks(fd, { chunkSize: 4 * 1024 * 1024 });
  } finally {
    closeSync(fd);
  }
}

/**
 * Verifies a mounted LTFS volume (ordering by `user.ltfs.startblock` where LTFS gives it). A
 * folder that cannot be read is a problem, and the files in it are missing.
 * @throws {CliError} when the mount point cannot be read.
 */
export async function verifyMount(mount: string, hooks: VerifyHooks): Promise<VerifySummary> {
  const problems: string[] = [];
  let held: HeldFolder;
  try {
    held = HeldFolder.open(mount);
  } catch (error) {
    throw new CliError(`cannot be read: ${describeSystemError(error)}`, { path: mount });
  }
  try {
    const folders: Array<{ relativePath: string; path: string; mtimeMs: number }> = [];
    // A folder that cannot be read is there: it is reported as a problem, not as missing.
    const unreadable: string[] = [];
    const files = walkFiles(held, {
      // The tape's own history is read as the MHL; a card's history (deeper) is a file of the tape, as on a virtual tape.
      ignore: new IgnoreList([...DEFAULT_IGNORES, "/ascmhl/"]),
      folders,
      links: "skip",
      onProblem: (p) => {
        problems.push(`${showName(p.path)}: ${p.message}`);
        if (p.path.startsWith(`${held.path}/`)) unreadable.push(p.path.slice(held.path.length + 1));
      },
      onSkipped: (p) => problems.push(`${showName(p.path)}: ${p.message}; a tape written by ltfs-pack holds none`),
    });
    if (files.length === 0 && problems.length > 0) throw new CliError(`cannot be read: ${problems[0]}`, { path: mount });
    const readText = (path: string) => withFileIn(held, path, (fd) => readFileSync(fd));
    const expected = await readMhl(mount, readText);
    const record = readTapeRecord(readText(TAPE_CATALOG_FILE), problems);
    const candidates: Candidate[] = files.map((f) => {
      const recorded = hashesOnMount(f.path);
      const start = getXattr(f.path, "user.ltfs.startblock");
      return { path: f.relativePath, size: f.size, recorded, startBlock: start === undefined ? undefined : Number(start), chunks: () => fileChunks(held, f.relativePath) };
    });
    const counts = await verifyCandidates(candidates, new Set([...folders.map((f) => f.relativePath), ...unreadable]), expected, record, "the file system", hooks);
    return { ...counts, mhl: expected?.generationFile, problems: [...(expected?.problems ?? []), ...problems] };
  } finally {
    held.close();
  }
}
