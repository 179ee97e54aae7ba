/**
 * `verify`: re-read every file of a tape, in start-block order (as the reference's
 * `ltfs_ordered_copy` reads, so a real drive streams instead of shoe-shining), hash it, and
 * compare with the tape's own ASC MHL — and with the digests the index carries as attributes.
 * The MHL's chain is checked first: a generation whose C4 differs from its chain entry is reported.
 */
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CliError, describeSystemError } from "../core/errors.ts";
import { createHashers } from "../hash/registry.ts";
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
import { Volume } from "./volume.ts";
import { hashesFromXattrs, hashesOnMount } from "./write.ts";

/** The outcome for one file. */
export interface VerifyResult {
  path: string;
  status: "ok" | "mismatch" | "missing" | "unreadable" | "unrecorded";
  size?: number;
  startBlock?: number;
  /** Format → expected and found digests, for a mismatch. */
  mismatches?: { format: HashFormat; expected: string; found: string; source: "mhl" | "index" }[];
  message?: string;
}

/** A file as verification reads it. */
interface Candidate {
  path: string;
  size: number;
  startBlock: number | undefined;
  /** Digests the index (or the mount's attributes) carries. */
  recorded: Map<HashFormat, string>;
  chunks(): Iterable<Uint8Array>;
}

/** What the tape's MHL says: expected digests and sizes by path. */
interface Expected {
  generationFile: string;
  byPath: Map<string, { path: string; size?: number; hexes: Map<HashFormat, string> }>;
  problems: string[];
}

/** Reads the latest generation through `readText`, checking its C4 against the chain. */
async function readMhl(readText: (path: string) => Uint8Array | undefined): Promise<Expected | undefined> {
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
  for (const media of generation.hashes) {
    if (media.isDirectory) continue;
    byPath.set(pathKey(media.path), { path: media.path, size: media.size, hexes: new Map(media.entries.map((e) => [e.format, e.value])) });
  }
  return { generationFile, byPath, problems };
}

/** Hashes and compares the candidates, in start-block order, reporting each. */
async function verifyCandidates(candidates: Candidate[], expected: Expected | undefined, onResult: (result: VerifyResult) => void): Promise<{ checked: number; failed: number; bytes: number }> {
  const ordered = [...candidates].sort((a, b) => (a.startBlock ?? -1) - (b.startBlock ?? -1));
  let failed = 0;
  let bytes = 0;
  const seen = new Set<string>();
  for (const candidate of ordered) {
    const key = pathKey(candidate.path);
    seen.add(key);
    const mhl = expected?.byPath.get(key);
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
    const sizeWrong = mhl?.size !== undefined && mhl.size !== read;
    if (mismatches.length > 0 || sizeWrong) {
      failed++;
      onResult({ ...base, status: "mismatch", mismatches, message: sizeWrong ? `read ${read} bytes, the MHL records ${mhl!.size}` : undefined });
    } else onResult({ ...base, status: "ok" });
  }
  for (const [key, entry] of expected?.byPath ?? []) {
    if (seen.has(key)) continue;
    failed++;
    onResult({ path: entry.path, status: "missing", message: `recorded in ${expected!.generationFile} but not on the tape` });
  }
  return { checked: ordered.length, failed, bytes };
}


/** Outcome of a verification run. */
export interface VerifySummary {
  checked: number;
  failed: number;
  bytes: number;
  mhl: string | undefined;
  problems: string[];
}

/**
 * Verifies a virtual tape.
 * @throws {CliError} when the folder is not a readable LTFS virtual tape.
 */
export async function verifyVtape(dir: string, onResult: (result: VerifyResult) => void): Promise<VerifySummary> {
  const volume = Volume.open(dir);
  const entries = volume.files();
  const byKey = new Map(entries.map((e) => [pathKey(e.path), e]));
  let expected: Expected | undefined;
  try {
    expected = await readMhl((path) => {
      const entry = byKey.get(pathKey(path));
      return entry ? volume.readAll(entry) : undefined;
    });
  } catch (error) {
    if (error instanceof XmlError || error instanceof CliError) throw new CliError(`the tape's MHL cannot be read: ${error.message}`, { path: dir, exitCode: 1 });
    throw error;
  }
  const candidates: Candidate[] = entries
    .filter((e) => !e.path.startsWith("ascmhl/"))
    .map((e) => ({
      path: e.path, size: e.file.length, recorded: hashesFromXattrs(e.file.xattrs),
      startBlock: e.file.extents.length > 0 ? Math.min(...e.file.extents.map((x) => x.startBlock)) : undefined,
      chunks: () => volume.read(e),
    }));
  const summary = await verifyCandidates(candidates, expected, onResult);
  return { ...summary, mhl: expected?.generationFile, problems: expected?.problems ?? [] };
}

/** A file's bytes, read in 4 MiB chunks by the shared reader (a read-ahead thread for large files). */
function* fileChunks(path: string): Generator<Uint8Array> {
  const fd = openSync(path, "r");
  try {
    yield* readChunks(fd, { chunkSize: 4 * 1024 * 1024 });
  } finally {
    closeSync(fd);
  }
}

/**
 * Verifies a mounted LTFS volume (ordering by `user.ltfs.startblock` where LTFS gives it).
 * @throws {CliError} when the mount point cannot be read.
 */
export async function verifyMount(mount: string, onResult: (result: VerifyResult) => void): Promise<VerifySummary> {
  const problems: string[] = [];
  const files = walkFiles(mount, {
    ignore: new IgnoreList([...DEFAULT_IGNORES, "ascmhl/"]),
    onProblem: (p) => problems.push(`${p.path}: ${p.message}`),
  });
  if (files.length === 0 && problems.length > 0) throw new CliError(`cannot be read: ${problems[0]}`, { path: mount });
  let expected: Expected | undefined;
  try {
    expected = await readMhl((path) => {
      try {
        return readFileSync(join(mount, path));
      } catch {
        return undefined;
      }
    });
  } catch (error) {
    if (error instanceof XmlError || error instanceof CliError) throw new CliError(`the tape's MHL cannot be read: ${error.message}`, { path: mount, exitCode: 1 });
    throw error;
  }
  const candidates: Candidate[] = files.map((f) => {
    const recorded = hashesOnMount(f.path);
    const start = getXattr(f.path, "user.ltfs.startblock");
    return { path: f.relativePath, size: f.size, recorded, startBlock: start === undefined ? undefined : Number(start), chunks: () => fileChunks(f.path) };
  });
  const summary = await verifyCandidates(candidates, expected, onResult);
  return { ...summary, mhl: expected?.generationFile, problems: [...(expected?.problems ?? []), ...problems] };
}

