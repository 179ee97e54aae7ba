/**
 * Commits: immutable manifests in one canonical byte form, named by the BLAKE3 of those bytes,
 * so that a commit cannot be altered without changing its id, and its id names its parents:
 * history is tamper-evident, as in git.
 *
 * ```
 * cartvault commit 1
 * tree <BLAKE3 of the entry lines below the blank line>
 * parent <commit id>                     (none, one, or two for a merge; in order)
 * author <user@host>
 * time <ISO 8601 UTC, milliseconds>
 * message <text>
 * files <count> <bytes>
 *
 * <object id> <size> <mode, 4 octal digits> <mtime, ns since 1970> <path>
 * …                                      (one line per file, in byte order of the paths)
 * ```
 *
 * Texts and paths keep their bytes, with `\`, newline and carriage return escaped
 * (layout.ts). Numbers are decimal without leading zeros. Reading is strict: a commit whose
 * bytes are not exactly this form, whose id is not the BLAKE3 of its bytes, or that holds a
 * path a checkout could not write beneath its folder, is refused with the reason and the line.
 * Commits are read as a stream, one bounded line at a time.
 */
import { closeSync, fstatSync } from "node:fs";
import { compareUtf8 } from "../core/names.ts";
import { createHasher } from "../hash/registry.ts";
import type { Hasher } from "../hash/hasher.ts";
import { commitPathProblem, escapeField, isId, unescapeField } from "./layout.ts";
import { readLines } from "./lines.ts";

/** First line of every commit. */
const MAGIC = "cartvault commit 1";

/** One file of a commit. */
export interface CommitEntry {
  /** Relative, `/`-separated, NFC (layout.ts `commitPathProblem`). */
  path: string;
  /** The object holding its bytes. */
  id: string;
  size: number;
  /** Permission bits (`mode & 0o777`). */
  mode: number;
  /** Modification time, nanoseconds since 1970. */
  mtimeNs: bigint;
}

/** What a commit says besides its files. */
export interface CommitHeader {
  id: string;
  /** BLAKE3 of the entry lines: two commits with one tree hold the same files. */
  tree: string;
  parents: string[];
  author: string;
  /** ISO 8601, UTC. */
  time: string;
  message: string;
  /** Number of files and their total size. */
  files: number;
  bytes: number;
}

/** A commit, read whole. */
export interface Commit extends CommitHeader {
  entries: CommitEntry[];
}

/** A commit to write: everything but what is computed from it. */
export interface CommitDraft {
  parents: string[];
  author: string;
  time: string;
  message: string;
  /** In byte order of their paths, each path once. */
  entries: readonly CommitEntry[];
}

/** A commit that cannot be read as one: says which and why. */
export class CommitFormatError extends Error {
  readonly line: number | undefined;
  constructor(message: string, line?: number) {
    super(line === undefined ? message : `${message} (line ${line})`);
    this.name = "CommitFormatError";
    this.line = line;
  }
}

const encoder = new TextEncoder();

/** Collects bytes into one buffer, few allocations. */
class ByteWriter {
  #chunks: Uint8Array[] = [];
  #text = "";
  text(s: string): void {
    this.#text += s;
    if (this.#text.length > 1 << 16) this.#flushText();
  }
  bytes(b: Uint8Array): void {
    this.#flushText();
    this.#chunks.push(b);
  }
  #flushText(): void {
    if (this.#text) this.#chunks.push(encoder.encode(this.#text));
    this.#text = "";
  }
  finish(): Uint8Array {
    this.#flushText();
    return Buffer.concat(this.#chunks);
  }
}

/** The line of one entry (its path escaped; a well-formed name without `\`, LF, CR goes as text). */
function writeEntry(out: ByteWriter, e: CommitEntry): void {
  const head = `${e.id} ${e.size} ${e.mode.toString(8).padStart(4, "0")} ${e.mtimeNs} `;
  if (e.path.isWellFormed() && !/[\\\n\r]/.test(e.path)) {
    out.text(`${head}${e.path}\n`);
    return;
  }
  out.text(head);
  out.bytes(escapeField(e.path));
  out.text("\n");
}

/** Checks the entries of a draft as a reader will: valid paths, byte order, no file where a folder is. */
export function entriesProblem(entries: readonly CommitEntry[]): string | undefined {
  const files = new Set<string>();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const problem = commitPathProblem(e.path);
    if (problem) return `${problem}: ${JSON.stringify(e.path)}`;
    if (i > 0 && compareUtf8(entries[i - 1]!.path, e.path) >= 0) return `paths out of order or repeated at ${JSON.stringify(e.path)}`;
    files.add(e.path);
  }
  for (const path of files) {
    for (let at = path.indexOf("/"); at >= 0; at = path.indexOf("/", at + 1)) {
      if (files.has(path.slice(0, at))) return `${JSON.stringify(path.slice(0, at))} is a file and a folder`;
    }
  }
  return undefined;
}

/** BLAKE3 over bytes fed in order. */
async function blake3(): Promise<Hasher> {
  return createHasher("blake3");
}

/**
 * The canonical bytes of a commit, its id and its tree.
 * @throws {CommitFormatError} when an entry's path could not be read back (see {@link entriesProblem}).
 */
export async function encodeCommit(draft: CommitDraft): Promise<{ id: string; tree: string; bytes: Uint8Array }> {
  const problem = entriesProblem(draft.entries);
  if (problem) throw new CommitFormatError(problem);
  for (const parent of draft.parents) if (!isId(parent)) throw new CommitFormatError(`not a commit id: ${parent}`);
  const body = new ByteWriter();
  let bytes = 0;
  for (const e of draft.entries) {
    writeEntry(body, e);
    bytes += e.size;
  }
  const entries = body.finish();
  const treeHasher = await blake3();
  treeHasher.update(entries);
  const tree = treeHasher.hex();
  const head = new ByteWriter();
  head.text(`${MAGIC}\ntree ${tree}\n`);
  for (const parent of draft.parents) head.text(`parent ${parent}\n`);
  head.text("author ");
  head.bytes(escapeField(draft.author));
  head.text(`\ntime ${draft.time}\nmessage `);
  head.bytes(escapeField(draft.message));
  head.text(`\nfiles ${draft.entries.length} ${bytes}\n\n`);
  head.bytes(entries);
  const all = head.finish();
  const idHasher = await blake3();
  idHasher.update(all);
  return { id: idHasher.hex(), tree, bytes: all };
}

/** Longest line a commit may hold: a message, or an entry with the longest path escaped. */
export const MAX_COMMIT_LINE = 64 << 10;

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const SIGNED_DECIMAL = /^(0|-?[1-9][0-9]*)$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const latin1 = new TextDecoder("latin1");

function text(bytes: Uint8Array): string {
  return latin1.decode(bytes);
}

/** One entry line's fields. */
function parseEntry(line: Uint8Array, number: number): CommitEntry {
  const spaces: number[] = [];
  for (let i = 0; i < line.length && spaces.length < 4; i++) if (line[i] === 0x20) spaces.push(i);
  if (spaces.length < 4) throw new CommitFormatError("an entry needs an id, a size, a mode, an mtime and a path", number);
  const [a, b, c, d] = spaces as [number, number, number, number];
  const id = text(line.subarray(0, a));
  const size = text(line.subarray(a + 1, b));
  const mode = text(line.subarray(b + 1, c));
  const mtime = text(line.subarray(c + 1, d));
  if (!isId(id)) throw new CommitFormatError(`not an object id: ${JSON.stringify(id)}`, number);
  if (!DECIMAL.test(size) || !Number.isSafeInteger(Number(size))) throw new CommitFormatError(`not a size: ${JSON.stringify(size)}`, number);
  if (!/^0[0-7]{3}$/.test(mode)) throw new CommitFormatError(`not a mode: ${JSON.stringify(mode)}`, number);
  if (!SIGNED_DECIMAL.test(mtime) || mtime.length > 21) throw new CommitFormatError(`not a modification time: ${JSON.stringify(mtime)}`, number);
  const path = unescapeField(line.subarray(d + 1));
  if (path === undefined) throw new CommitFormatError("a path with a stray backslash or carriage return", number);
  const problem = commitPathProblem(path);
  if (problem) throw new CommitFormatError(`refused: ${problem}: ${JSON.stringify(path)}`, number);
  return { path, id, size: Number(size), mode: Number.parseInt(mode, 8), mtimeNs: BigInt(mtime) };
}

/**
 * Reads the commit open as `fd` (the descriptor is closed). With `headerOnly`, stops at the
 * blank line, so a commit of a million files costs no more than one of ten; its id is then
 * not checked (the caller trusts where it came from: a ref, a parent line). Otherwise every
 * byte is hashed and must give `id`, and every entry is checked.
 * @throws {CommitFormatError} naming what is wrong and where.
 */
export async function readCommit(fd: number, id: string, headerOnly: true): Promise<CommitHeader>;
export async function readCommit(fd: number, id: string, headerOnly?: false): Promise<Commit>;
export async function readCommit(fd: number, id: string, headerOnly = false): Promise<CommitHeader | Commit> {
  try {
    const idHasher = headerOnly ? undefined : await blake3();
    const treeHasher = headerOnly ? undefined : await blake3();
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new CommitFormatError("not a regular file");
    let inEntries = false;
    // The chunk read last and where it starts: the entries start within it.
    let offset = 0;
    let lastChunk: Uint8Array = new Uint8Array(0);
    let lastStart = 0;
    const onBytes = (chunk: Uint8Array) => {
      idHasher?.update(chunk);
      if (inEntries) treeHasher?.update(chunk);
      lastChunk = chunk;
      lastStart = offset;
      offset += chunk.length;
    };
    const header: Partial<CommitHeader> & { parents: string[] } = { id, parents: [] };
    const entries: CommitEntry[] = [];
    let bytesSeen = 0;
    let position = 0;
    let expect: "magic" | "tree" | "parent" | "time" | "message" | "files" | "blank" = "magic";
    for (const line of readLines(fd, onBytes, MAX_COMMIT_LINE)) {
      if (line.tooLong) throw new CommitFormatError(`a line longer than ${MAX_COMMIT_LINE} bytes`, line.number);
      if (line.last) throw new CommitFormatError("the last line has no newline", line.number);
      position += line.bytes.length + 1;
      if (inEntries) {
        const entry = parseEntry(line.bytes, line.number);
        const previous = entries.at(-1);
        if (previous && compareUtf8(previous.path, entry.path) >= 0) throw new CommitFormatError(`paths out of order or repeated at ${JSON.stringify(entry.path)}`, line.number);
        entries.push(entry);
        bytesSeen += entry.size;
        continue;
      }
      const t = text(line.bytes);
      const field = (name: string) => (t.startsWith(`${name} `) ? line.bytes.subarray(name.length + 1) : undefined);
      switch (expect) {
        case "magic":
          if (t !== MAGIC) throw new CommitFormatError(`not a cartvault commit (expected '${MAGIC}')`, line.number);
          expect = "tree";
          break;
        case "tree": {
          const tree = field("tree");
          if (!tree || !isId(text(tree))) throw new CommitFormatError("expected 'tree <id>'", line.number);
          header.tree = text(tree);
          expect = "parent";
          break;
        }
        case "parent": {
          const parent = field("parent");
          if (parent) {
            if (!isId(text(parent))) throw new CommitFormatError(`not a commit id: ${JSON.stringify(text(parent))}`, line.number);
            if (header.parents.length >= 2) throw new CommitFormatError("more than two parents", line.number);
            header.parents.push(text(parent));
            break;
          }
          const author = field("author");
          if (!author) throw new CommitFormatError("expected 'parent <id>' or 'author <name>'", line.number);
          header.author = unescapeField(author);
          if (header.author === undefined) throw new CommitFormatError("an author with a stray backslash", line.number);
          expect = "time";
          break;
        }
        case "time": {
          const time = field("time");
          if (!time || !TIME.test(text(time)) || Number.isNaN(Date.parse(text(time)))) throw new CommitFormatError("expected 'time <YYYY-MM-DDTHH:MM:SS.mmmZ>'", line.number);
          header.time = text(time);
          expect = "message";
          break;
        }
        case "message": {
          const message = field("message");
          header.message = message ? unescapeField(message) : undefined;
          if (header.message === undefined) throw new CommitFormatError("expected 'message <text>'", line.number);
          expect = "files";
          break;
        }
        case "files": {
          const m = /^files (0|[1-9][0-9]*) (0|[1-9][0-9]*)$/.exec(t);
          if (!m || !Number.isSafeInteger(Number(m[2]))) throw new CommitFormatError("expected 'files <count> <bytes>'", line.number);
          header.files = Number(m[1]);
          header.bytes = Number(m[2]);
          expect = "blank";
          break;
        }
        case "blank":
          if (line.bytes.length !== 0) throw new CommitFormatError("expected a blank line before the entries", line.number);
          if (headerOnly) return header as CommitHeader;
          inEntries = true;
          // The rest of this chunk is the first bytes of the entries.
          treeHasher!.update(lastChunk.subarray(position - lastStart));
          break;
      }
    }
    if (!inEntries) throw new CommitFormatError("ends before its entries");
    if (entries.length !== header.files || bytesSeen !== header.bytes) throw new CommitFormatError(`says ${header.files} files of ${header.bytes} bytes, holds ${entries.length} of ${bytesSeen}`);
    const problem = entriesProblem(entries);
    if (problem) throw new CommitFormatError(`refused: ${problem}`);
    if (idHasher!.hex() !== id) throw new CommitFormatError("its bytes do not match its id (altered or damaged)");
    if (treeHasher!.hex() !== header.tree) throw new CommitFormatError("its entries do not match its tree id");
    return { ...(header as CommitHeader), entries };
  } finally {
    closeSync(fd);
  }
}
