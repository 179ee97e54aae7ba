/**
 * What the server serves from: a source lists its files (size, recorded digests, modification
 * time) and opens a byte range of one as a reader. A virtual tape, a mounted LTFS volume, a
 * plain folder with its ASC MHL, and one commit of a cartvault store (each branch of a store,
 * or `STORE@REF`) are sources; a source whose reads are asynchronous (one that hashes what it
 * hands on, an object store) returns promises from {@link RangeReader.read}.
 */

/** Where a source's files live. */
export type SourceKind = "vtape" | "mount" | "folder" | "vault";

/** One file of a source. */
export interface SourceFile {
  /** `/`-separated path inside the source; names are bytes (lib/core/names.ts). */
  path: string;
  size: number;
  /** Modification time, milliseconds since the epoch. */
  mtimeMs: number;
  /** Digests recorded for the content (format → lower-case hex, or a C4 ID): never computed here. */
  digests: Readonly<Record<string, string>>;
  /** The digest format its entity-tag is made from, when not the first of {@link DIGEST_PREFERENCE} recorded (a vault's BLAKE3). */
  tagFormat?: string;
}

/** The version of a vault a source is: the store, the REF given (a branch, a commit id), the commit it named at start. */
export interface VaultVersion {
  /** The vault's name in addresses (its folder's name, or the NAME given). */
  vault: string;
  ref: string;
  commit: string;
  /** The branch, when the REF named one. */
  branch?: string;
}

/** A byte range of one file, read front to back. */
export interface RangeReader {
  /**
   * Fills the start of `into` with the range's next bytes; returns how many (0 once the range is
   * done). Fewer bytes than asked only at the range's end.
   * @throws {SourceError} when the bytes cannot be read (a record missing, the file changed).
   */
  read(into: Uint8Array): number | Promise<number>;
  /** Lets go of what the reader holds; safe to call twice. */
  close(): void;
}

/** Something a source found it cannot include or serve, for the tool to report. */
export interface SourceProblem {
  path: string;
  message: string;
}

/** A place files are served from. */
export interface Source {
  /** Its name in addresses (`/files/<name>/…`): a tape serial, a folder's name, `STORE@REF`. */
  readonly name: string;
  readonly kind: SourceKind;
  /** What it was opened from (the path given), for messages. */
  readonly location: string;
  /** Tape serial when the source is a tape (a virtual tape, a mounted volume). */
  readonly tapeSerial: string | undefined;
  /** Which version of a vault, when the source is one. */
  readonly version?: VaultVersion;
  /** Its files, sorted by path in byte order. */
  files(): readonly SourceFile[];
  /** A file by its path, or undefined. */
  file(path: string): SourceFile | undefined;
  /**
   * Opens bytes `[start, end)` of a file.
   * @throws {SourceError} when the file can no longer be read as listed.
   */
  open(file: SourceFile, start: number, end: number): RangeReader;
  /** What was left out when the source was opened (named, never dropped silently). */
  readonly problems: readonly SourceProblem[];
  close(): void;
}

/** A file that cannot be served as listed: gone, changed since it was listed, unreadable, or damaged. */
export class SourceError extends Error {
  readonly path: string;
  /**
   * `missing`: nothing to serve (404); `changed` or `unreadable`: the bytes are not what was
   * listed (404, or the response is cut; said on stderr); `damaged`: the bytes are there but
   * are not the content recorded for them (500, or the response is cut; said on stderr).
   */
  readonly reason: "missing" | "changed" | "unreadable" | "damaged";
  /** Said already (a damaged object asked for again): the server does not say it again. */
  readonly repeated: boolean;
  constructor(path: string, reason: SourceError["reason"], message: string, repeated = false) {
    super(message);
    this.name = "SourceError";
    this.path = path;
    this.reason = reason;
    this.repeated = repeated;
  }
}

/** A file's validators' source: the digest format preferred for entity-tags and content keys, strongest first. */
export const DIGEST_PREFERENCE = ["xxh128", "blake3", "sha1", "md5", "xxh3", "xxh64", "c4"] as const;

/**
 * The digest that names a file's content (`xxh128-<hex>`), or undefined when none is recorded.
 * @example
 * contentKey({ digests: { md5: "0cc1…", xxh128: "8c5e…" } }); // "xxh128-8c5e…"
 */
export function contentKey(file: Pick<SourceFile, "digests">): string | undefined {
  for (const format of DIGEST_PREFERENCE) {
    const value = file.digests[format];
    if (value !== undefined && /^[0-9A-Za-z]+$/.test(value)) return `${format}-${value}`;
  }
  return undefined;
}

/**
 * The strong entity-tag of a file (`"xxh128-<hex>"`): from its {@link SourceFile.tagFormat}
 * digest when it has one, else as {@link contentKey}; undefined when no digest is recorded.
 * @example
 * entityTag({ digests: { blake3: "af13…", xxh128: "8c5e…" }, tagFormat: "blake3" }); // "\"blake3-af13…\""
 */
export function entityTag(file: Pick<SourceFile, "digests" | "tagFormat">): string | undefined {
  const tagged = file.tagFormat === undefined ? undefined : file.digests[file.tagFormat];
  const key = tagged !== undefined && /^[0-9A-Za-z]+$/.test(tagged) ? `${file.tagFormat}-${tagged}` : contentKey(file);
  return key === undefined ? undefined : `"${key}"`;
}

/** Files sorted by path in byte order, with a map to find them. */
export class FileTable {
  readonly list: readonly SourceFile[];
  readonly #byPath: Map<string, SourceFile>;
  constructor(files: SourceFile[], compare: (a: string, b: string) => number) {
    this.list = files.sort((a, b) => compare(a.path, b.path));
    this.#byPath = new Map(files.map((f) => [f.path, f]));
  }
  get(path: string): SourceFile | undefined {
    return this.#byPath.get(path);
  }
}
