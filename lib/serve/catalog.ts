/**
 * Every source's files in one list: what `/api/files` returns and what the portal searches.
 * Each file has its address (`/files/<SOURCE>/<PATH>`, percent-encoded byte by byte), its
 * recorded digests, and the tapes and vault versions that hold the same content (the same
 * digest in any format both record). Names in addresses are bytes: a request's path is decoded
 * back to them, and a segment of the path that decodes to a slash, NUL, `.` or `..` never
 * names a file. Only the source's own segment may hold an encoded slash (a vault branch such
 * as `VAULT@grade/v2`): it must then be exactly a source's name.
 */
import { CliError } from "../core/errors.ts";
import { nameBytes, nameFromBytes } from "../core/names.ts";
import { isClip } from "./media_types.ts";
import { contentKey, type Source, type SourceFile, type VaultVersion } from "./source.ts";

/** A vault version holding a file's content. */
export interface HeldVersion {
  /** The source's name (`VAULT@REF`). */
  source: string;
  /** The commit it serves. */
  commit: string;
  branch?: string;
}

/** One file as `/api/files` lists it. */
export interface CatalogEntry {
  source: string;
  kind: Source["kind"];
  path: string;
  size: number;
  /** The `/files/…` address. */
  url: string;
  digests: Readonly<Record<string, string>>;
  /** Serials of the tapes holding the same content (this one included when it is a tape), sorted. */
  tapes: string[];
  /** The vault versions served that hold the same content (this one included when it is one), in natural order. */
  versions: HeldVersion[];
  /** ISO 8601. */
  modified: string;
  /** Treated as a clip by the portal (previews, playback, extraction). */
  clip: boolean;
  /** The content key (`xxh128-<hex>`) previews are cached by, when a digest is recorded. */
  key?: string;
}

/** Kept as they are: RFC 3986's unreserved characters, and `@` (a path character, in every vault source's name). */
const UNRESERVED = /^[A-Za-z0-9\-._~@]$/;

/**
 * Percent-encodes one path segment byte by byte (a name that is not UTF-8 keeps its bytes).
 * @example
 * encodeSegment("A001C001 v2.mov"); // "A001C001%20v2.mov"
 * encodeSegment("VAULT@grade/v2"); // "VAULT@grade%2Fv2"
 */
export function encodeSegment(name: string): string {
  let out = "";
  for (const byte of nameBytes(name)) {
    const char = String.fromCharCode(byte);
    out += byte < 0x80 && UNRESERVED.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * A percent-encoded segment back to the name it stands for; undefined when malformed or not a
 * single safe name (`slashes`: a slash may be in it, for a source's name).
 */
export function decodeSegment(segment: string, slashes = false): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c === 0x25) {
      const hex = segment.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else bytes.push(...new TextEncoder().encode(segment[i]!));
  }
  if ((!slashes && bytes.includes(0x2f)) || bytes.includes(0)) return undefined;
  const name = nameFromBytes(Uint8Array.from(bytes));
  if (name === "" || name === "." || name === "..") return undefined;
  return name;
}

/** The address of a file. */
export function fileUrl(source: string, path: string): string {
  return `/files/${encodeSegment(source)}/${path.split("/").map(encodeSegment).join("/")}`;
}

/** Natural order (`s2` before `s10`), the order people sort takes and reels in. */
export const naturalCompare = new Intl.Collator("en", { numeric: true, sensitivity: "variant" }).compare;

/** Every source's files, by address. */
export class Catalog {
  readonly sources: readonly Source[];
  readonly entries: readonly CatalogEntry[];
  readonly #byName: Map<string, Source>;

  /** @throws {CliError} when two sources have the same name (give one `NAME=PATH`). */
  constructor(sources: readonly Source[]) {
    this.#byName = new Map();
    for (const source of sources) {
      const twin = this.#byName.get(source.name);
      if (twin) throw new CliError(`is named ${source.name}, like ${twin.location}; name one with NAME=PATH`, { path: source.location });
      this.#byName.set(source.name, source);
    }
    this.sources = sources;
    const holders = new Map<string, Set<string>>();
    const versionHolders = new Map<string, Set<Source>>();
    const note = <T>(map: Map<string, Set<T>>, file: SourceFile, holder: T) => {
      for (const [format, value] of Object.entries(file.digests)) {
        const key = `${format}:${value}`;
        let set = map.get(key);
        if (!set) map.set(key, (set = new Set()));
        set.add(holder);
      }
    };
    for (const source of sources) {
      if (source.tapeSerial !== undefined) for (const file of source.files()) note(holders, file, source.tapeSerial);
      if (source.version !== undefined) for (const file of source.files()) note(versionHolders, file, source);
    }
    const entries: CatalogEntry[] = [];
    for (const source of sources) {
      for (const file of source.files()) {
        const tapes = new Set<string>(source.tapeSerial === undefined ? [] : [source.tapeSerial]);
        const versions = new Set<Source>(source.version === undefined ? [] : [source]);
        for (const [format, value] of Object.entries(file.digests)) {
          for (const serial of holders.get(`${format}:${value}`) ?? []) tapes.add(serial);
          for (const holder of versionHolders.get(`${format}:${value}`) ?? []) versions.add(holder);
        }
        const key = contentKey(file);
        entries.push({
          source: source.name,
          kind: source.kind,
          path: file.path,
          size: file.size,
          url: fileUrl(source.name, file.path),
          digests: file.digests,
          tapes: [...tapes].sort(naturalCompare),
          versions: [...versions].sort((a, b) => naturalCompare(a.name, b.name)).map((v) => heldVersion(v.name, v.version!)),
          modified: new Date(file.mtimeMs).toISOString(),
          clip: isClip(file.path),
          ...(key ? { key } : {}),
        });
      }
    }
    this.entries = entries.sort((a, b) => naturalCompare(a.path, b.path) || naturalCompare(a.source, b.source));
  }

  /** A source by its name. */
  source(name: string): Source | undefined {
    return this.#byName.get(name);
  }

  /**
   * The source and file an address path (after `/files/`, still percent-encoded) names, or
   * undefined: every segment must decode to one safe name and the file must be listed.
   */
  resolve(encodedPath: string): { source: Source; file: SourceFile } | undefined {
    const segments = encodedPath.split("/");
    if (segments.length < 2) return undefined;
    const names: string[] = [];
    for (const [i, segment] of segments.entries()) {
      const name = decodeSegment(segment, i === 0);
      if (name === undefined) return undefined;
      names.push(name);
    }
    const source = this.#byName.get(names[0]!);
    const file = source?.file(names.slice(1).join("/"));
    return source && file ? { source, file } : undefined;
  }
}

function heldVersion(source: string, version: VaultVersion): HeldVersion {
  return { source, commit: version.commit, ...(version.branch ? { branch: version.branch } : {}) };
}
