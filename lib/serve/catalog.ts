/**
 * Every source's files in one list: what `/api/files` returns and what the portal searches.
 * Each file has its address (`/files/<SOURCE>/<PATH>`, percent-encoded byte by byte), its
 * recorded digests, and the tapes that hold the same content (the same digest in any format
 * both record). Names in addresses are bytes: a request's path is decoded back to them, and a
 * segment that decodes to a slash, NUL, `.` or `..` never names a file.
 */
import { CliError } from "../core/errors.ts";
import { nameBytes, nameFromBytes } from "../core/names.ts";
import { isClip } from "./media_types.ts";
import { contentKey, type Source, type SourceFile } from "./source.ts";

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
  /** ISO 8601. */
  modified: string;
  /** Treated as a clip by the portal (previews, playback, extraction). */
  clip: boolean;
  /** The content key (`xxh128-<hex>`) previews are cached by, when a digest is recorded. */
  key?: string;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * Percent-encodes one path segment byte by byte (a name that is not UTF-8 keeps its bytes).
 * @example
 * encodeSegment("A001C001 v2.mov"); // "A001C001%20v2.mov"
 */
export function encodeSegment(name: string): string {
  let out = "";
  for (const byte of nameBytes(name)) {
    const char = String.fromCharCode(byte);
    out += byte < 0x80 && UNRESERVED.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** A percent-encoded segment back to the name it stands for; undefined when malformed or not a single safe name. */
export function decodeSegment(segment: string): string | undefined {
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
  if (bytes.includes(0x2f) || bytes.includes(0)) return undefined;
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
    for (const source of sources) {
      if (source.tapeSerial === undefined) continue;
      for (const file of source.files()) {
        for (const [format, value] of Object.entries(file.digests)) {
          const key = `${format}:${value}`;
          let set = holders.get(key);
          if (!set) holders.set(key, (set = new Set()));
          set.add(source.tapeSerial);
        }
      }
    }
    const entries: CatalogEntry[] = [];
    for (const source of sources) {
      for (const file of source.files()) {
        const tapes = new Set<string>(source.tapeSerial === undefined ? [] : [source.tapeSerial]);
        for (const [format, value] of Object.entries(file.digests)) for (const serial of holders.get(`${format}:${value}`) ?? []) tapes.add(serial);
        const key = contentKey(file);
        entries.push({
          source: source.name,
          kind: source.kind,
          path: file.path,
          size: file.size,
          url: fileUrl(source.name, file.path),
          digests: file.digests,
          tapes: [...tapes].sort(naturalCompare),
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
    for (const segment of segments) {
      const name = decodeSegment(segment);
      if (name === undefined) return undefined;
      names.push(name);
    }
    const source = this.#byName.get(names[0]!);
    const file = source?.file(names.slice(1).join("/"));
    return source && file ? { source, file } : undefined;
  }
}
