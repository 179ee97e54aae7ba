/**
 * LTFS index XML (`<ltfsindex version="2.4.0">`): written in the element order of the reference
 * implementation's writer, so that its reader (and `ltfsck`) accept it, and read the way its
 * reader reads: child elements in any order, each required one exactly once, unknown ones
 * skipped. The reader goes through the strict {@link parseXml}, so DTDs and entities are refused;
 * every malformed value is reported with the file and line of its element.
 *
 * Names the index cannot hold as XML text (a `:` or a control character) are percent-encoded
 * byte by byte with `percentencoded="true"`, as the reference does; xattr values that are bytes,
 * or text XML cannot hold, are written as base64.
 */
import { guardWaitOn } from "../core/interrupt_guard.ts";
import { readFileSync } from "node:fs";
import { CliError, describeSystemError } from "../core/errors.ts";
import { childElements, parseXml, textOf, XmlError, type XmlElement, XmlWriter } from "../xml/xml.ts";
import type { IndexPartitionCriteria, LtfsDirectory, LtfsExtent, LtfsFile, LtfsIndex, LtfsTimes, LtfsXattr, TapePosition, VolumeLockState } from "./index_model.ts";

// ---------------------------------------------------------------------------------------------
// Names

/**
 * Characters a percent-encoded name keeps as they are: printable ASCII except space, `%` and `:`
 * (the reference's list). Everything else is written as `%XX` per UTF-8 byte.
 */
const PLAIN = /^[!-9;-~]$/;
const PERCENT_SIGN = 0x25;

/**
 * Whether a name must be percent-encoded: the reference encodes names with `:` or a C0 control
 * character other than tab and line feed. (The reference also leaves carriage return plain, but
 * an XML reader turns a raw CR into LF, so it is encoded here too.)
 */
export function needsPercentEncoding(name: string): boolean {
  return /[:\u0000-\u0008\u000b-\u001f]/.test(name);
}

/**
 * Percent-encodes a whole name the way the reference does.
 * @example
 * percentEncodeName("A001:C002.mov"); // "A001%3AC002.mov"
 */
export function percentEncodeName(name: string): string {
  let out = "";
  for (const character of name) {
    if (PLAIN.test(character) && character !== "%") out += character;
    else for (const byte of new TextEncoder().encode(character)) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * Decodes a percent-encoded name; `undefined` when a `%` is not followed by two hex digits or
 * the bytes are not UTF-8.
 * @example
 * percentDecodeName("A001%3AC002.mov"); // "A001:C002.mov"
 */
export function percentDecodeName(encoded: string): string | undefined {
  const source = new TextEncoder().encode(encoded);
  const bytes: number[] = [];
  for (let i = 0; i < source.length; i++) {
    if (source[i] !== PERCENT_SIGN) {
      bytes.push(source[i]!);
      continue;
    }
    const hex = String.fromCharCode(source[i + 1] ?? 0, source[i + 2] ?? 0);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
    bytes.push(Number.parseInt(hex, 16));
    i += 2;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Characters XML 1.0 cannot carry as text (and CR, which a reader would turn into LF). */
const NOT_XML_TEXT = /[\u0000-\u0008\u000b-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function writeName(w: XmlWriter, tag: string, name: string): void {
  if (needsPercentEncoding(name)) w.leaf(tag, { percentencoded: "true" }, percentEncodeName(name));
  else w.leaf(tag, {}, name);
}

function writePosition(w: XmlWriter, tag: string, position: TapePosition): void {
  w.open(tag).leaf("partition", {}, position.partition).leaf("startblock", {}, String(position.startBlock)).close();
}

function writeTimes(w: XmlWriter, times: LtfsTimes): void {
  w.leaf("creationtime", {}, times.creationTime);
  w.leaf("changetime", {}, times.changeTime);
  w.leaf("modifytime", {}, times.modifyTime);
  w.leaf("accesstime", {}, times.accessTime);
  w.leaf("backuptime", {}, times.backupTime);
}

function writeXattrs(w: XmlWriter, xattrs: LtfsXattr[]): void {
  if (xattrs.length === 0) return;
  w.open("extendedattributes");
  for (const { key, value } of xattrs) {
    w.open("xattr");
    writeName(w, "key", key);
    if (typeof value === "string" && value === "") w.leaf("value", {});
    else if (typeof value === "string" && !NOT_XML_TEXT.test(value)) w.leaf("value", {}, value);
    else {
      const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
      w.leaf("value", { type: "base64" }, Buffer.from(bytes).toString("base64"));
    }
    w.close();
  }
  w.close();
}

function writeFile(w: XmlWriter, file: LtfsFile): void {
  w.open("file");
  writeName(w, "name", file.name);
  w.leaf("length", {}, String(file.length));
  w.leaf("readonly", {}, String(file.readOnly));
  writeTimes(w, file);
  w.leaf("fileuid", {}, String(file.fileUid));
  writeXattrs(w, file.xattrs);
  if (file.symlinkTarget !== undefined) writeName(w, "symlink", file.symlinkTarget);
  else if (file.extents.length > 0) {
    w.open("extentinfo");
    for (const extent of file.extents) {
      w.open("extent").leaf("fileoffset", {}, String(extent.fileOffset)).leaf("partition", {}, extent.partition).leaf("startblock", {}, String(extent.startBlock)).leaf("byteoffset", {}, String(extent.byteOffset)).leaf("bytecount", {}, String(extent.byteCount)).close();
    }
    w.close();
  }
  w.close();
}

/** Opens a directory's element and writes its fields; false when it has no contents (then it is closed). */
function openDirectory(w: XmlWriter, directory: LtfsDirectory, isRoot: boolean): boolean {
  w.open("directory");
  if (isRoot && directory.name === "") w.leaf("name", {});
  else writeName(w, "name", directory.name);
  w.leaf("readonly", {}, String(directory.readOnly));
  writeTimes(w, directory);
  w.leaf("fileuid", {}, String(directory.fileUid));
  writeXattrs(w, directory.xattrs);
  if (directory.contents.length > 0) {
    w.open("contents");
    return true;
  }
  w.leaf("contents", {});
  w.close();
  return false;
}

/** Writes the directory tree depth first, with a stack: an index may be nested deeper than the call stack. */
function writeDirectory(w: XmlWriter, root: LtfsDirectory): void {
  const stack: Array<{ directory: LtfsDirectory; next: number }> = [];
  if (openDirectory(w, root, true)) stack.push({ directory: root, next: 0 });
  while (stack.length > 0) {
    const top = stack.at(-1)!;
    const entry = top.directory.contents[top.next++];
    if (entry === undefined) {
      w.close().close();
      stack.pop();
    } else if (entry.kind === "file") writeFile(w, entry);
    else if (openDirectory(w, entry, false)) stack.push({ directory: entry, next: 0 });
  }
}

/**
 * The root directory's element of an index as {@link writeIndexXml} writes it, for writing the
 * two copies of one generation (which differ only before it) from one.
 * @example
 * declare const index: Parameters<typeof writeIndexXml>[0];
 * const tree = indexTreeXml(index.root);
 * writeIndexXml(index, tree) === writeIndexXml(index); // true
 */
export function indexTreeXml(root: LtfsDirectory): string {
  const parts: string[] = [];
  const w = new XmlWriter((text) => parts.push(text), ["ltfsindex"]);
  writeDirectory(w, root);
  w.flush();
  return parts.join("");
}

/**
 * Writes an index as XML, two spaces per level, in the reference writer's element order:
 * creator, comment, volumeuuid, generationnumber, updatetime, location,
 * previousgenerationlocation, allowpolicyupdate, dataplacementpolicy, highestfileuid,
 * volumelockstate, directory. Entries are written in model order. Values are written as given;
 * run {@link checkIndex} first to refuse a bad index. `tree`, when given, is the root's element
 * as {@link indexTreeXml} made it for this index's root.
 * @example
 * declare const index: Parameters<typeof writeIndexXml>[0];
 * await Bun.write("index.xml", writeIndexXml(index));
 */
export function writeIndexXml(index: LtfsIndex, tree?: string): string {
  const w = new XmlWriter();
  w.open("ltfsindex", { version: index.version });
  w.leaf("creator", {}, index.creator);
  if (index.comment !== undefined && index.comment !== "") w.leaf("comment", {}, index.comment);
  w.leaf("volumeuuid", {}, index.volumeUuid);
  w.leaf("generationnumber", {}, String(index.generationNumber));
  w.leaf("updatetime", {}, index.updateTime);
  writePosition(w, "location", index.location);
  if (index.previousGenerationLocation) writePosition(w, "previousgenerationlocation", index.previousGenerationLocation);
  w.leaf("allowpolicyupdate", {}, String(index.allowPolicyUpdate));
  const criteria = index.dataPlacementPolicy?.indexPartitionCriteria;
  if (criteria) {
    w.open("dataplacementpolicy").open("indexpartitioncriteria");
    w.leaf("size", {}, String(criteria.size));
    for (const pattern of criteria.names) writeName(w, "name", pattern);
    w.close().close();
  }
  w.leaf("highestfileuid", {}, String(index.highestFileUid));
  if (index.volumeLockState) w.leaf("volumelockstate", {}, index.volumeLockState);
  if (tree === undefined) writeDirectory(w, index.root);
  else w.raw(tree);
  w.close();
  return w.toString();
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * Parses an index time as the reference reads it (`%d-%2d-%2dT%2d:%2d:%2d.%9ldZ`) and returns
 * it in the written form. Like the reference, 1–9 fractional digits are read as a count of
 * nanoseconds (`.5Z` is 5 ns, not half a second). Out-of-range fields are refused here, where
 * the reference would roll them over. `undefined` when it is not a time.
 * @example
 * parseLtfsTime("2024-03-01T09:15:00.000000001Z"); // "2024-03-01T09:15:00.000000001Z"
 */
export function parseLtfsTime(text: string): string | undefined {
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})T(\d{1,2}):(\d{1,2}):(\d{1,2})\.(\d{1,9})Z$/.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) return undefined;
  const two = (n: number) => String(n).padStart(2, "0");
  return `${m[1]}-${two(month)}-${two(day)}T${two(hour)}:${two(minute)}:${two(second)}.${String(Number(m[7])).padStart(9, "0")}Z`;
}

/** Reads one element's children: each known tag at most once, required ones present. */
class ElementFields {
  readonly #file: string;
  readonly #element: XmlElement;
  readonly #byName = new Map<string, XmlElement>();

  constructor(file: string, element: XmlElement, known: readonly string[]) {
    this.#file = file;
    this.#element = element;
    for (const child of childElements(element)) {
      if (!known.includes(child.localName)) continue; // the reference skips unknown tags too
      if (this.#byName.has(child.localName)) this.fail(child, `<${child.localName}> appears more than once in <${element.localName}>`);
      this.#byName.set(child.localName, child);
    }
  }

  fail(element: XmlElement, message: string): never {
    throw new XmlError(this.#file, element.line, message);
  }

  optional(tag: string): XmlElement | undefined {
    return this.#byName.get(tag);
  }

  required(tag: string): XmlElement {
    return this.#byName.get(tag) ?? this.fail(this.#element, `<${this.#element.localName}> has no <${tag}>`);
  }

  /** The element's text, which must be non-empty and hold no elements. */
  text(tag: string): string {
    const element = this.required(tag);
    return leafText(this.#file, element);
  }

  number(tag: string): number {
    const element = this.required(tag);
    const text = leafText(this.#file, element);
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) this.fail(element, `<${tag}> is not a non-negative integer: '${text}'`);
    return value;
  }

  boolean(tag: string): boolean {
    const element = this.required(tag);
    const text = leafText(this.#file, element);
    if (text === "true" || text === "1") return true;
    if (text === "false" || text === "0") return false;
    return this.fail(element, `<${tag}> is not a boolean: '${text}'`);
  }

  time(tag: string): string {
    const element = this.required(tag);
    const text = leafText(this.#file, element);
    return parseLtfsTime(text) ?? this.fail(element, `<${tag}> is not a time (YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ): '${text}'`);
  }

  partition(tag: string): string {
    const element = this.required(tag);
    const text = leafText(this.#file, element);
    if (!/^[a-z]$/.test(text)) this.fail(element, `<${tag}> is not a partition letter a-z: '${text}'`);
    return text;
  }
}

function leafText(file: string, element: XmlElement): string {
  if (childElements(element).length > 0) throw new XmlError(file, element.line, `<${element.localName}> must hold text, not elements`);
  const text = textOf(element);
  if (text === "") throw new XmlError(file, element.line, `<${element.localName}> is empty`);
  return text;
}

/** A name element's value, percent-decoded when it says so. */
function readName(file: string, element: XmlElement, allowEmpty = false): string {
  if (childElements(element).length > 0) throw new XmlError(file, element.line, `<${element.localName}> must hold text, not elements`);
  const text = textOf(element);
  if (text === "" && !allowEmpty) throw new XmlError(file, element.line, `<${element.localName}> is empty`);
  if (element.attributes.get("percentencoded") !== "true") return text;
  const decoded = percentDecodeName(text);
  if (decoded === undefined) throw new XmlError(file, element.line, `<${element.localName}> is not valid percent-encoded UTF-8: '${text}'`);
  return decoded;
}

function readPosition(file: string, element: XmlElement): TapePosition {
  const f = new ElementFields(file, element, ["partition", "startblock"]);
  return { partition: f.partition("partition"), startBlock: f.number("startblock") };
}

function readXattrs(file: string, element: XmlElement | undefined): LtfsXattr[] {
  if (!element) return [];
  return childElements(element, "xattr").map((xattr) => {
    const f = new ElementFields(file, xattr, ["key", "value"]);
    const key = readName(file, f.required("key"));
    const valueElement = f.required("value");
    const type = valueElement.attributes.get("type") ?? "text";
    const text = textOf(valueElement);
    if (type === "text") return { key, value: text };
    if (type !== "base64") f.fail(valueElement, `<value> has an unknown type '${type}' (text or base64)`);
    const compact = text.replace(/\s+/g, "");
    if (compact === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) {
      f.fail(valueElement, `<value type="base64"> is not base64: '${text}'`);
    }
    return { key, value: new Uint8Array(Buffer.from(compact, "base64")) };
  });
}

const TIME_TAGS = ["creationtime", "changetime", "modifytime", "accesstime", "backuptime"] as const;

function readTimes(f: ElementFields): LtfsTimes {
  return {
    creationTime: f.time("creationtime"),
    changeTime: f.time("changetime"),
    modifyTime: f.time("modifytime"),
    accessTime: f.time("accesstime"),
    backupTime: f.time("backuptime"),
  };
}

function readFile(file: string, element: XmlElement): LtfsFile {
  const f = new ElementFields(file, element, ["name", "length", "readonly", ...TIME_TAGS, "fileuid", "extendedattributes", "extentinfo", "symlink", "openforwrite"]);
  const entry: LtfsFile = {
    kind: "file",
    name: readName(file, f.required("name")),
    readOnly: f.boolean("readonly"),
    ...readTimes(f),
    fileUid: f.number("fileuid"),
    xattrs: readXattrs(file, f.optional("extendedattributes")),
    length: f.number("length"),
    extents: [],
  };
  const symlink = f.optional("symlink");
  const extentInfo = f.optional("extentinfo");
  if (symlink && extentInfo) f.fail(symlink, "a <file> with <symlink> must not have <extentinfo>");
  if (symlink) entry.symlinkTarget = readName(file, symlink);
  for (const extent of extentInfo ? childElements(extentInfo, "extent") : []) {
    const e = new ElementFields(file, extent, ["fileoffset", "partition", "startblock", "byteoffset", "bytecount"]);
    const read: LtfsExtent = {
      fileOffset: e.number("fileoffset"),
      partition: e.partition("partition"),
      startBlock: e.number("startblock"),
      byteOffset: e.number("byteoffset"),
      byteCount: e.number("bytecount"),
    };
    entry.extents.push(read);
  }
  return entry;
}

/** A directory's own fields; its contents are read by {@link readDirectory}. */
function readDirectoryFields(file: string, element: XmlElement, isRoot: boolean): { directory: LtfsDirectory; contents: XmlElement } {
  const f = new ElementFields(file, element, ["name", "readonly", ...TIME_TAGS, "fileuid", "extendedattributes", "contents"]);
  const directory: LtfsDirectory = {
    kind: "directory",
    name: readName(file, f.required("name"), isRoot),
    readOnly: f.boolean("readonly"),
    ...readTimes(f),
    fileUid: f.number("fileuid"),
    xattrs: readXattrs(file, f.optional("extendedattributes")),
    contents: [],
  };
  return { directory, contents: f.required("contents") };
}

/** Reads a directory tree with a stack, not recursion: a hostile index may be nested 20,000 deep. */
function readDirectory(file: string, element: XmlElement): LtfsDirectory {
  const root = readDirectoryFields(file, element, true);
  const stack = [root];
  while (stack.length > 0) {
    const { directory, contents } = stack.pop()!;
    for (const child of childElements(contents)) {
      if (child.localName === "file") directory.contents.push(readFile(file, child));
      else if (child.localName === "directory") {
        const sub = readDirectoryFields(file, child, false);
        directory.contents.push(sub.directory);
        stack.push(sub);
      }
    }
  }
  return root.directory;
}

function readCriteria(file: string, f: ElementFields): IndexPartitionCriteria | undefined {
  const policy = f.optional("dataplacementpolicy");
  if (!policy) return undefined;
  const p = new ElementFields(file, policy, ["indexpartitioncriteria"]);
  const criteria = p.required("indexpartitioncriteria");
  const c = new ElementFields(file, criteria, ["size"]);
  return { size: c.number("size"), names: childElements(criteria, "name").map((name) => readName(file, name)) };
}

/**
 * Reads an index document. Versions 2.x.y are read (the reference reads 1.0 to 2.99.99; the
 * 1.x forms without file UIDs are not); {@link checkIndex} reports a version other than 2.4.0.
 * Names are returned as written, not NFC-normalised, so that a checker can see duplicates.
 * @param file name used in error messages
 * @throws {XmlError} naming the file and line of a malformed document or value.
 * @example
 * const index = readIndexXml(await Bun.file("index.xml").text(), "index.xml");
 * index.root.contents.map((entry) => entry.name);
 */
export function readIndexXml(text: string, file: string): LtfsIndex {
  const root = parseXml(text, file);
  if (root.localName !== "ltfsindex") throw new XmlError(file, root.line, `the root element is <${root.name}>, not <ltfsindex>`);
  const version = root.attributes.get("version");
  if (version === undefined) throw new XmlError(file, root.line, "<ltfsindex> has no version attribute");
  if (!/^2\.\d{1,2}\.\d{1,2}$/.test(version)) throw new XmlError(file, root.line, `index version '${version}' is not supported (2.x.y)`);
  const f = new ElementFields(file, root, ["creator", "comment", "volumeuuid", "generationnumber", "updatetime", "location", "previousgenerationlocation", "allowpolicyupdate", "dataplacementpolicy", "highestfileuid", "volumelockstate", "directory"]);
  const uuidElement = f.required("volumeuuid");
  const volumeUuid = leafText(file, uuidElement);
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(volumeUuid)) {
    f.fail(uuidElement, `<volumeuuid> is not a UUID: '${volumeUuid}'`);
  }
  const index: LtfsIndex = {
    version,
    creator: f.text("creator"),
    volumeUuid: volumeUuid.toLowerCase(),
    generationNumber: f.number("generationnumber"),
    updateTime: f.time("updatetime"),
    location: readPosition(file, f.required("location")),
    allowPolicyUpdate: f.boolean("allowpolicyupdate"),
    highestFileUid: f.number("highestfileuid"),
    root: readDirectory(file, f.required("directory")),
  };
  const comment = f.optional("comment");
  if (comment) index.comment = leafText(file, comment);
  const previous = f.optional("previousgenerationlocation");
  if (previous) index.previousGenerationLocation = readPosition(file, previous);
  const criteria = readCriteria(file, f);
  if (criteria) index.dataPlacementPolicy = { indexPartitionCriteria: criteria };
  const lock = f.optional("volumelockstate");
  if (lock) {
    const state = leafText(file, lock);
    if (state !== "unlocked" && state !== "locked" && state !== "permlocked") f.fail(lock, `<volumelockstate> is not unlocked, locked or permlocked: '${state}'`);
    index.volumeLockState = state as VolumeLockState;
  }
  return index;
}

/**
 * Reads a saved index file: its text exactly as stored (it must be UTF-8, as LTFS writes it;
 * invalid bytes are refused, never replaced) and the index.
 * @throws {CliError} naming the file when it cannot be read or is not UTF-8, or {@link XmlError}.
 */
export function readIndexFile(path: string): { xml: string; index: LtfsIndex } {
  let bytes: Uint8Array;
  try {
    guardWaitOn(path);
    bytes = readFileSync(path);
  } catch (error) {
    throw new CliError(`cannot be read: ${describeSystemError(error)}`, { path });
  }
  let xml: string;
  try {
    xml = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new CliError("is not UTF-8 text, so not an LTFS index; give the index XML as LTFS wrote it", { path });
  }
  return { xml, index: readIndexXml(xml, path) };
}
