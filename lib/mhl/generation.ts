/**
 * Reading and writing ASC MHL v2.0 generation files (`urn:ASC:MHL:v2.0`). The writer produces
 * the reference's bytes (element order, indentation, attribute order); the reader is strict:
 * no DTDs or entities (lib/xml/xml.ts) and no `<path>` that is absolute or escapes the root.
 */
import { childElement, childElements, parseXml, textOf, XmlError, XmlWriter, type XmlElement } from "../xml/xml.ts";
import { HASH_FORMATS, type HashFormat, inXsdOrder, isHashFormat } from "./formats.ts";
import type { Author, Generation, HashAction, HashEntry, MediaHash } from "./model.ts";
import { unsafePathReason } from "./paths.ts";

/** Namespace of generation files. */
export const MHL_NAMESPACE = "urn:ASC:MHL:v2.0";

const ACTIONS = new Set<string>(["original", "verified", "failed"]);

function optionalText(parent: XmlElement, name: string): string | undefined {
  const element = childElement(parent, name);
  return element ? textOf(element) : undefined;
}

function checkedPath(element: XmlElement, file: string): string {
  const path = textOf(element);
  const reason = unsafePathReason(path);
  if (reason) throw new XmlError(file, element.line, `refusing ${reason}`);
  return path;
}

function hashEntries(container: XmlElement | undefined, file: string): HashEntry[] {
  if (!container) return [];
  const entries: HashEntry[] = [];
  for (const element of childElements(container)) {
    if (!isHashFormat(element.localName)) continue;
    const action = element.attributes.get("action");
    if (action !== undefined && !ACTIONS.has(action)) throw new XmlError(file, element.line, `unknown action '${action}'`);
    entries.push({
      format: element.localName,
      value: textOf(element).trim(),
      action: action as HashAction | undefined,
      hashDate: element.attributes.get("hashdate"),
    });
  }
  return entries;
}

/** Content entries with the structure hashes of the same formats attached. */
function directoryEntries(element: XmlElement, file: string): HashEntry[] {
  const content = hashEntries(childElement(element, "content"), file);
  const structure = hashEntries(childElement(element, "structure"), file);
  for (const entry of content) entry.structure = structure.find((s) => s.format === entry.format)?.value;
  return content;
}

/** One `<hash>` or `<directoryhash>` element as an entry. */
function mediaHash(element: XmlElement, file: string): MediaHash {
  const pathElement = childElement(element, "path");
  if (!pathElement) throw new XmlError(file, element.line, `<${element.name}> without <path>`);
  const isDirectory = element.localName === "directoryhash";
  const size = pathElement.attributes.get("size");
  if (size !== undefined && !/^\d+$/.test(size)) throw new XmlError(file, pathElement.line, `invalid size '${size}'`);
  const previous = childElement(element, "previousPath");
  return {
    path: checkedPath(pathElement, file),
    isDirectory,
    size: size === undefined ? undefined : Number(size),
    lastModified: pathElement.attributes.get("lastmodificationdate"),
    entries: isDirectory ? directoryEntries(element, file) : hashEntries(element, file),
    previousPath: previous ? checkedPath(previous, file) : undefined,
    line: element.line,
  };
}

/**
 * A file's `<hash>` as the writers lay it out (this one and the reference): `<path>` with its
 * size and date, then hash elements with their action and date, nothing escaped. Read in one
 * match, it is what {@link mediaHash} would make of it; any other `<hash>` is read as XML.
 * The bounds keep each part within what the XML reader accepts.
 */
const PLAIN_HASH = /<hash>[ \t\r\n]{0,4096}<path(?: size="(\d{1,15})")?(?: lastmodificationdate="([^"<&]{0,256})")?>([^<&]{1,65536})<\/path>[ \t\r\n]{0,4096}((?:<[a-z0-9]{2,6} action="[a-z]{6,8}" hashdate="[^"<&]{0,256}">[0-9A-Za-z]{0,256}<\/[a-z0-9]{2,6}>[ \t\r\n]{0,4096}){1,16})<\/hash>/y;
/** One hash element of {@link PLAIN_HASH}'s list. */
const PLAIN_ENTRY = /<([a-z0-9]+) action="([a-z]+)" hashdate="([^"]*)">([0-9A-Za-z]*)<\/([a-z0-9]+)>[ \t\r\n]*/y;

/**
 * Strings of a generation that repeat from entry to entry (formats, actions, hash dates, file
 * dates), kept once: a history of a million files read whole held six million strings, four of
 * them these (BENCHMARKS.md, "Repeated strings of a history kept once").
 */
const INTERNED = new Map<string, string>();
/** The one copy of `text` among the recent ones; the table starts over past 4,096. */
function interned(text: string): string {
  const known = INTERNED.get(text);
  if (known !== undefined) return known;
  if (INTERNED.size >= 4096) INTERNED.clear();
  INTERNED.set(text, text);
  return text;
}

/**
 * The `<hash>` at `at`, when {@link PLAIN_HASH} reads it whole: the entry and where it ends.
 * @param line the line `at` is on
 * @example
 * plainMediaHash('<hash><path size="1">a</path><md5 action="original" hashdate="d">00</md5></hash>', 0, 1)?.hash.path; // "a"
 */
export function plainMediaHash(text: string, at: number, line: number): { hash: MediaHash; end: number } | undefined {
  PLAIN_HASH.lastIndex = at;
  const match = PLAIN_HASH.exec(text);
  if (!match) return undefined;
  const [, size, lastModified, path, list] = match as unknown as [string, string | undefined, string | undefined, string, string];
  if (unsafePathReason(path)) return undefined;
  const entries: HashEntry[] = [];
  PLAIN_ENTRY.lastIndex = 0;
  while (PLAIN_ENTRY.lastIndex < list.length) {
    const e = PLAIN_ENTRY.exec(list);
    if (!e || e[1] !== e[5] || !isHashFormat(e[1]!) || !ACTIONS.has(e[2]!)) return undefined;
    entries.push({ format: interned(e[1]) as HashFormat, value: e[4]!, action: interned(e[2]!) as HashAction, hashDate: interned(e[3]!) });
  }
  return { hash: { path, isDirectory: false, size: size === undefined ? undefined : Number(size), lastModified: lastModified === undefined ? undefined : interned(lastModified), entries, previousPath: undefined, line }, end: PLAIN_HASH.lastIndex };
}

/**
 * The most bytes of a history's file (a generation, a chain) that are read: one is parsed from
 * its whole text, and this bounds the memory a planted file of gigabytes can take (a generation
 * of a million files is some 250 MB).
 */
export const HISTORY_FILE_MOST_BYTES = 512 << 20;

/**
 * The most elements, attributes and pieces of text a history's file holds at once besides its
 * file entries (which are taken as read): its creator and process information, ignore
 * patterns, references to nested histories; or a chain's generations, some four each.
 */
export const HISTORY_MOST_ELEMENTS = 200_000;

/**
 * Parses a generation file.
 * @param file the name used in error messages
 * @param options `skim: false` reads every `<hash>` as XML (the plain layout is otherwise read
 *   in one match, with the same result)
 * @throws {XmlError} for malformed XML, DTDs, entities, a wrong root element or an unsafe path.
 * @example
 * declare const path: string;
 * const generation = readGeneration(await Bun.file(path).text(), path);
 */
export function readGeneration(text: string, file: string, options: { skim?: boolean } = {}): Generation {
  // Each <hash> and <directoryhash> becomes an entry as soon as it is read: a generation of
  // 200,000 files never exists as 800,000 XML elements at once.
  const hashes: MediaHash[] = [];
  const root = parseXml(text, file, {
    maxElements: HISTORY_MOST_ELEMENTS,
    consume: (element, parent) => {
      if (parent.localName !== "hashes" || (element.localName !== "hash" && element.localName !== "directoryhash")) return false;
      hashes.push(mediaHash(element, file));
      return true;
    },
    skim:
      (options.skim ?? true)
        ? (text, at, line, parent) => {
            if (parent.localName !== "hashes" || text.charCodeAt(at + 1) !== 0x68 /* h */) return -1;
            const plain = plainMediaHash(text, at, line);
            if (!plain) return -1;
            hashes.push(plain.hash);
            return plain.end;
          }
        : undefined,
  });
  if (root.localName !== "hashlist") throw new XmlError(file, root.line, `expected <hashlist>, found <${root.name}>`);
  const version = root.attributes.get("version");
  if (version !== "2.0") throw new XmlError(file, root.line, `unsupported MHL version '${version ?? ""}' (expected 2.0)`);
  const creator = childElement(root, "creatorinfo");
  const process = childElement(root, "processinfo");
  if (!creator) throw new XmlError(file, root.line, "missing <creatorinfo>");
  if (!process) throw new XmlError(file, root.line, "missing <processinfo>");
  const tool = childElement(creator, "tool");
  const authors: Author[] = childElements(creator, "author").map((a) => ({
    name: textOf(a) || undefined,
    email: a.attributes.get("email"),
    phone: a.attributes.get("phone"),
    role: a.attributes.get("role"),
  }));
  const roothash = childElement(process, "roothash");
  // <hash> elements outside <hashes> (not in the XSD, read as before)
  for (const element of childElements(root).filter((e) => e.localName === "hash" || e.localName === "directoryhash")) hashes.push(mediaHash(element, file));
  const references = childElements(childElement(root, "references") ?? root, "hashlistreference").map((r) => {
    const pathElement = childElement(r, "path");
    if (!pathElement) throw new XmlError(file, r.line, "<hashlistreference> without <path>");
    return { path: checkedPath(pathElement, file), c4: optionalText(r, "c4")?.trim() ?? "" };
  });
  const processName = optionalText(process, "process") ?? "in-place";
  if (processName !== "in-place" && processName !== "transfer" && processName !== "flatten") {
    throw new XmlError(file, process.line, `unknown process '${processName}'`);
  }
  return {
    creatorInfo: {
      creationDate: optionalText(creator, "creationdate") ?? "",
      hostname: optionalText(creator, "hostname") ?? "",
      tool: { name: tool ? textOf(tool) : "", version: tool?.attributes.get("version") },
      authors,
      location: optionalText(creator, "location"),
      comment: optionalText(creator, "comment"),
    },
    processInfo: {
      process: processName,
      rootHash: roothash ? directoryEntries(roothash, file) : [],
      ignorePatterns: ignorePatternsOf(process, file),
    },
    hashes,
    references,
  };
}

/**
 * Most ignore patterns a generation may carry, and most characters in one and in all: each is
 * matched against every path of a run, so a planted list of 180,000 took a minute, and 997 of
 * 60,000 characters each 53 s and 3.3 GB (the writers record a handful of short ones).
 */
export const MOST_IGNORE_PATTERNS = 1000;
const MOST_PATTERN_CHARACTERS = 1024;
const MOST_PATTERNS_CHARACTERS = 64 << 10;

/** A generation's ignore patterns, within {@link MOST_IGNORE_PATTERNS} and the lengths above. */
function ignorePatternsOf(process: XmlElement, file: string): string[] {
  const patterns = childElements(childElement(process, "ignore") ?? process, "pattern");
  if (patterns.length > MOST_IGNORE_PATTERNS) throw new XmlError(file, patterns[MOST_IGNORE_PATTERNS]!.line, `more than ${MOST_IGNORE_PATTERNS.toLocaleString("en")} ignore patterns`);
  let total = 0;
  return patterns.map((element) => {
    const pattern = textOf(element);
    total += pattern.length;
    if (pattern.length > MOST_PATTERN_CHARACTERS) throw new XmlError(file, element.line, `an ignore pattern longer than ${MOST_PATTERN_CHARACTERS.toLocaleString("en")} characters`);
    if (total > MOST_PATTERNS_CHARACTERS) throw new XmlError(file, element.line, `ignore patterns longer than ${MOST_PATTERNS_CHARACTERS.toLocaleString("en")} characters in all`);
    return pattern;
  });
}

function writeDirectoryHashes(w: XmlWriter, entries: readonly HashEntry[]): void {
  const sorted = inXsdOrder(entries.map((e) => e.format)).map((f) => entries.find((e) => e.format === f)!);
  for (const part of ["content", "structure"] as const) {
    if (sorted.length === 0) {
      w.leaf(part, {});
      continue;
    }
    w.open(part);
    for (const e of sorted) {
      w.leaf(e.format, { action: e.action, hashdate: e.hashDate }, part === "content" ? e.value : (e.structure ?? ""));
    }
    w.close();
  }
}

/**
 * Serialises a generation exactly as the reference lays it out: `<creatorinfo>`,
 * `<processinfo>` (root hash only when there is one), `<hashes>` in the order given, and
 * `<references>` only when there are any. Hash elements follow the XSD's order.
 */
export function writeGeneration(generation: Generation): string {
  const parts: string[] = [];
  streamGeneration(generation, (text) => parts.push(text));
  return parts.join("");
}

/** Where a generation's `<hash>` and `<directoryhash>` elements stand. */
export const HASHES_WITHIN: readonly string[] = ["hashlist", "hashes"];

/**
 * Writes one `<hash>` or `<directoryhash>` element: into a generation, or into a fragment
 * writer made `within` {@link HASHES_WITHIN}, whose text is handed to {@link streamGeneration}
 * later.
 */
export function writeMediaHash(w: XmlWriter, h: MediaHash): void {
  w.open(h.isDirectory ? "directoryhash" : "hash");
  // The reference writes no size for an empty file (its test is the size's truth).
  w.leaf("path", { size: h.isDirectory || !h.size ? undefined : String(h.size), lastmodificationdate: h.lastModified }, h.path);
  if (h.isDirectory) writeDirectoryHashes(w, h.entries);
  else {
    for (const format of HASH_FORMATS) {
      const e = h.entries.find((x) => x.format === format);
      if (e) w.leaf(format, { action: e.action, hashdate: e.hashDate }, e.value);
    }
  }
  if (h.previousPath !== undefined) w.leaf("previousPath", {}, h.previousPath);
  w.close();
}

/**
 * {@link writeGeneration} in pieces of about 64 KiB, for writing a large generation to a file
 * without holding its text whole.
 * @param spooled elements written earlier by {@link writeMediaHash} (whole lines of text),
 *   after those of `generation.hashes`
 */
export function streamGeneration(generation: Generation, sink: (text: string) => void, spooled?: Iterable<string>): void {
  const w = new XmlWriter(sink);
  w.open("hashlist", { version: "2.0", xmlns: MHL_NAMESPACE });
  const c = generation.creatorInfo;
  w.open("creatorinfo");
  w.leaf("creationdate", {}, c.creationDate);
  w.leaf("hostname", {}, c.hostname);
  w.leaf("tool", { version: c.tool.version }, c.tool.name);
  for (const a of c.authors) w.leaf("author", { role: a.role, email: a.email, phone: a.phone }, a.name);
  if (c.location !== undefined) w.leaf("location", {}, c.location);
  if (c.comment !== undefined) w.leaf("comment", {}, c.comment);
  w.close();
  const p = generation.processInfo;
  w.open("processinfo");
  w.leaf("process", {}, p.process);
  if (p.rootHash.length > 0) {
    w.open("roothash");
    writeDirectoryHashes(w, p.rootHash);
    w.close();
  }
  if (p.ignorePatterns.length === 0) w.leaf("ignore", {});
  else {
    w.open("ignore");
    for (const pattern of p.ignorePatterns) w.leaf("pattern", {}, pattern);
    w.close();
  }
  w.close();
  // Always an open and a close tag, as the reference writes it (an empty list too: same XML as
  // `<hashes/>`, but other bytes, and a generation's C4 is its identity).
  // biome-ignore lint/complexity/noUselessLoneBlockStatements: the block mirrors the element it writes
  {
    w.open("hashes");
    for (const h of generation.hashes) writeMediaHash(w, h);
    for (const text of spooled ?? []) w.raw(text);
    w.close();
  }
  if (generation.references.length > 0) {
    w.open("references");
    for (const r of generation.references) {
      w.open("hashlistreference");
      w.leaf("path", {}, r.path);
      w.leaf("c4", {}, r.c4);
      w.close();
    }
    w.close();
  }
  w.close();
  w.end();
}
