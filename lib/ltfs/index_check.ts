/**
 * Validation of an LTFS index beyond what the reference reader enforces: an index that passes
 * here can be written to tape, mounted, and restored onto an ordinary file system without two
 * files landing on one name, one UID naming two entries, or an extent pointing at blocks that
 * were never written. The checker reports every problem; it throws nothing.
 */
import { LTFS_INDEX_VERSION, LTFS_NAME_MAX_BYTES, type LtfsDirectory, type LtfsEntry, type LtfsFile, type LtfsIndex } from "./index_model.ts";
import { parseLtfsTime } from "./index_xml.ts";
import { showName } from "../core/names.ts";

/** One thing wrong with an index. */
export interface IndexProblem {
  /** `/`-separated path of the entry (`/` for the root), or `ltfsindex` for the index's own fields. */
  path: string;
  /** What is wrong, one line. */
  message: string;
}

/** What the index should agree with, when known. */
export interface IndexCheckOptions {
  /** The volume's block size; extents must start inside a block. @default undefined (not checked) */
  blockSize?: number;
  /**
   * Blocks written on each partition (`{ b: 1200 }`): every extent must end before this count.
   * Needs {@link blockSize}. @default undefined (not checked)
   */
  writtenBlocks?: Record<string, number>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CANONICAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/;
const TIME_FIELDS = [
  ["creationTime", "creationtime"],
  ["changeTime", "changetime"],
  ["modifyTime", "modifytime"],
  ["accessTime", "accesstime"],
  ["backupTime", "backuptime"],
] as const;

/**
 * Lists the problems of an index, in tree order; an empty list means it is sound.
 * @example
 * import { readIndexXml } from "./index_xml.ts";
 * declare const text: string;
 * const problems = checkIndex(readIndexXml(text, "index.xml"), { blockSize: 524288, writtenBlocks: { b: 1200 } });
 * for (const p of problems) console.error(`ltfs-pack: ${p.path}: ${p.message}`);
 */
export function checkIndex(index: LtfsIndex, options: IndexCheckOptions = {}): IndexProblem[] {
  const problems: IndexProblem[] = [];
  const report = (path: string, message: string) => problems.push({ path, message });
  const top = "ltfsindex";

  if (index.version !== LTFS_INDEX_VERSION) report(top, `version is '${index.version}', not '${LTFS_INDEX_VERSION}'`);
  if (!UUID.test(index.volumeUuid)) report(top, `volumeuuid '${index.volumeUuid}' is not a lowercase UUID (8-4-4-4-12 hex digits)`);
  if (!Number.isSafeInteger(index.generationNumber) || index.generationNumber < 1) {
    report(top, `generationnumber is ${index.generationNumber}, must be an integer of at least 1`);
  }
  checkTime(index.updateTime, "updatetime", top, report);
  checkPosition(index.location, "location", top, report);
  if (index.previousGenerationLocation) checkPosition(index.previousGenerationLocation, "previousgenerationlocation", top, report);

  const uids = new Map<number, string>();
  // Depth first with a stack (an index may nest deeper than the call stack), in tree order: a
  // name clash is reported when its entry is reached.
  const stack: Array<{ entry: LtfsEntry; path: string; isRoot: boolean; clash?: string }> = [{ entry: index.root, path: "/", isRoot: true }];
  while (stack.length > 0) {
    const { entry, path, isRoot, clash } = stack.pop()!;
    if (clash) report(path, clash);
    if (!isRoot) checkName(entry.name, path, report);
    for (const [field, tag] of TIME_FIELDS) checkTime(entry[field], tag, path, report);
    checkUid(entry, path, isRoot, index.highestFileUid, uids, report);
    const keys = new Set<string>();
    for (const { key } of entry.xattrs) {
      if (key === "" || key.includes("\0")) report(path, `xattr key '${showName(key)}' is empty or holds NUL`);
      if (keys.has(key)) report(path, `xattr '${showName(key)}' appears more than once`);
      keys.add(key);
    }
    if (entry.kind === "directory") stack.push(...childFrames(entry, path).reverse());
    else checkFile(entry, path, options, report);
  }
  return problems;
}

type Report = (path: string, message: string) => void;

function childPath(parent: string, name: string): string {
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}

/** A directory's entries to check, each with the clash of its name with an earlier one, if any. */
function childFrames(directory: LtfsDirectory, path: string): Array<{ entry: LtfsEntry; path: string; isRoot: false; clash?: string }> {
  const exact = new Set<string>();
  const normalised = new Map<string, string>();
  return directory.contents.map((entry) => {
    const entryPath = childPath(path, entry.name);
    const nfc = entry.name.normalize("NFC");
    let clash: string | undefined;
    if (exact.has(entry.name)) clash = "name appears more than once in its directory";
    else if (normalised.has(nfc)) {
      clash = `name is the same as '${showName(normalised.get(nfc)!)}' after NFC normalisation (the reference reads names as NFC)`;
    }
    exact.add(entry.name);
    if (!normalised.has(nfc)) normalised.set(nfc, entry.name);
    return { entry, path: entryPath, isRoot: false, clash };
  });
}

function checkName(name: string, path: string, report: Report): void {
  if (name === "") report(path, "name is empty");
  if (name.includes("/")) report(path, "name contains '/'");
  if (name.includes("\0")) report(path, "name contains NUL");
  if (name === "." || name === "..") report(path, `name '${name}' is not allowed`);
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > LTFS_NAME_MAX_BYTES) report(path, `name is ${bytes} bytes of UTF-8, more than ${LTFS_NAME_MAX_BYTES}`);
}

function checkTime(time: string, tag: string, path: string, report: Report): void {
  if (!CANONICAL_TIME.test(time) || parseLtfsTime(time) !== time) {
    report(path, `${tag} '${time}' is not a time of the form YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ`);
  }
}

function checkPosition(position: { partition: string; startBlock: number }, tag: string, path: string, report: Report): void {
  if (!/^[a-z]$/.test(position.partition)) report(path, `${tag} partition '${position.partition}' is not a letter a-z`);
  if (!Number.isSafeInteger(position.startBlock) || position.startBlock < 0) report(path, `${tag} startblock ${position.startBlock} is not a block number`);
}

function checkUid(entry: LtfsEntry, path: string, isRoot: boolean, highest: number, uids: Map<number, string>, report: Report): void {
  const uid = entry.fileUid;
  if (isRoot && uid !== 1) report(path, `the root directory's fileuid is ${uid}, must be 1`);
  if (!isRoot && (!Number.isSafeInteger(uid) || uid < 2)) report(path, `fileuid ${uid} is not allowed (2 or more; 1 is the root)`);
  const other = uids.get(uid);
  if (other !== undefined) report(path, `fileuid ${uid} is also used by ${other}`);
  else uids.set(uid, path);
  if (uid > highest) report(path, `fileuid ${uid} is above highestfileuid ${highest}`);
}

function checkFile(file: LtfsFile, path: string, options: IndexCheckOptions, report: Report): void {
  if (file.symlinkTarget !== undefined) {
    if (file.extents.length > 0) report(path, "a symbolic link must not have extents");
    if (file.symlinkTarget === "" || file.symlinkTarget.includes("\0")) report(path, "symlink target is empty or holds NUL");
  }
  const { blockSize, writtenBlocks } = options;
  file.extents.forEach((extent, i) => {
    const which = `extent ${i + 1}`;
    if (!/^[a-z]$/.test(extent.partition)) report(path, `${which}: partition '${extent.partition}' is not a letter a-z`);
    if (extent.byteCount <= 0) report(path, `${which}: bytecount is ${extent.byteCount}, must be at least 1`);
    const end = extent.fileOffset + extent.byteCount;
    if (end > file.length) report(path, `${which}: ends at file offset ${end}, past the file length ${file.length}`);
    if (blockSize === undefined) return;
    if (extent.byteOffset >= blockSize) report(path, `${which}: byteoffset ${extent.byteOffset} is not inside a ${blockSize}-byte block`);
    const written = writtenBlocks?.[extent.partition];
    if (written === undefined) return;
    const lastBlock = extent.startBlock + Math.ceil((extent.byteOffset + extent.byteCount) / blockSize) - 1;
    if (lastBlock >= written) {
      report(path, `${which}: blocks ${extent.startBlock}-${lastBlock} on partition ${extent.partition} reach past the ${written} blocks written`);
    }
  });
  const sorted = file.extents.map((extent, i) => ({ extent, i })).sort((a, b) => a.extent.fileOffset - b.extent.fileOffset);
  for (let k = 1; k < sorted.length; k++) {
    const before = sorted[k - 1]!;
    const after = sorted[k]!;
    if (before.extent.fileOffset + before.extent.byteCount > after.extent.fileOffset) {
      report(path, `extents ${before.i + 1} and ${after.i + 1} overlap at file offset ${after.extent.fileOffset}`);
    }
  }
}
