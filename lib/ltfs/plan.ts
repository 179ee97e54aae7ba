/**
 * The tape plan: which files go on which LTFS tape, in which order, so that the fewest tapes are
 * used, no file is split, and a camera roll (a top-level folder under a source) stays on one tape
 * wherever it can. Empty folders go on tape too.
 *
 * A plan holds only what a tape can hold as the source has it: a name that is not UTF-8, two
 * names that are one in NFC (LTFS compares names so), a folder that cannot be read, a link that
 * leaves the tree or a FIFO is named, and no plan is made.
 */
import { realpathSync, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { unsafePathReason } from "../mhl/paths.ts";
import { CliError, describeSystemError } from "../core/errors.ts";
import { DEFAULT_IGNORES, IgnoreList } from "../io/ignore.ts";
import { baseOf, compareUtf8, isUtf8Name, resolvePath, showLine, showName, xmlNameProblem } from "../core/names.ts";
import { walkFiles, type SpecialPolicy, type WalkProblem } from "../io/walk.ts";
import { formatBytes } from "../core/units.ts";
import { blocksFor, type TapeCapacity } from "./capacity.ts";

/** Version of the plan file (`--json`); the `write` subcommand refuses versions it does not know. */
export const TAPE_PLAN_VERSION = 1;

/** Longest tape path a plan holds, in bytes: what a file system can restore it to (PATH_MAX). */
export const MAX_TAPE_PATH_BYTES = 4095;

/** One file of a plan. */
export interface PlannedFile {
  /** Absolute path to read it from, inside one of the plan's sources. */
  source: string;
  /** Path on the tape: relative, `/`-separated, the source's basename as its top folder. */
  path: string;
  /** Size in bytes when planned. */
  size: number;
  /** Blocks it occupies: ceil(size / block size). */
  blocks: number;
}

/** An empty folder of a plan (folders that hold files are made for them). */
export interface PlannedFolder {
  /** Absolute path it was found at, inside one of the plan's sources. */
  source: string;
  /** Path on the tape. */
  path: string;
}

/** One tape of a plan, its files in write order. */
export interface PlannedTape {
  /** 1-based tape number. */
  index: number;
  files: PlannedFile[];
  /** Empty folders on this tape, in path order. */
  folders: PlannedFolder[];
  bytes: number;
  blocks: number;
  /** Share of the usable blocks taken, 0…1. */
  fill: number;
}

/** A folder whose files went onto more than one tape, and why. */
export interface FolderSplit {
  /** The folder's path on tape. */
  folder: string;
  reason: string;
  /** The tapes holding its files. */
  tapes: number[];
}

/** A plan: what the `plan` subcommand prints and the `write` subcommand reads. */
export interface TapePlan {
  version: number;
  capacity: TapeCapacity;
  /** The sources as given, resolved to absolute paths. */
  sources: string[];
  tapes: PlannedTape[];
  splits: FolderSplit[];
  totals: { files: number; bytes: number; blocks: number };
}

/** Options for {@link planTapes}. */
export interface PlanOptions {
  capacity: TapeCapacity;
  /** Entries left out of the walk. @default the OS litter in {@link DEFAULT_IGNORES} */
  ignore?: IgnoreList;
  /**
   * Symbolic links: `follow` plans a link to a file inside the source as that file (a link
   * that leaves it or dangles is a problem); `skip` leaves links out. @default "follow"
   */
  links?: "follow" | "skip";
  /** FIFOs, sockets and devices: a problem, or left out with `skip`. @default "fail" */
  special?: SpecialPolicy;
  /**
   * What cannot go on tape (an unreadable folder, a link out of the tree, a FIFO, a name that is
   * not UTF-8, two names one in NFC): each is reported here, then no plan is made.
   */
  onProblem?: (problem: WalkProblem) => void;
  /** What the link and special-file policies left out on purpose. */
  onSkipped?: (problem: WalkProblem) => void;
}

/** A folder of the tree being packed. */
interface FolderNode {
  path: string;
  /** Where it was found. */
  source: string;
  parent: FolderNode | undefined;
  files: FileNode[];
  folders: FolderNode[];
  blocks: number;
  /** Write-order rank of its first file (or of itself, when empty): the tie-break that keeps packing deterministic. */
  rank: number;
}

interface FileNode extends PlannedFile {
  parent: FolderNode;
  rank: number;
}

/** Something to place on a tape: a whole folder or a single file. */
type Item = { folder: FolderNode; blocks: number; rank: number } | { file: FileNode; blocks: number; rank: number };

interface Bin {
  free: number;
  items: Item[];
}

interface Packing {
  bins: Bin[];
  splits: Map<FolderNode, string>;
}

const byBlocksThenRank = (a: Item, b: Item) => b.blocks - a.blocks || a.rank - b.rank;

/**
 * Plans the files below the sources onto tapes of `capacity`.
 *
 * The units are the top-level folders under each source (and any file lying directly in a
 * source). The algorithm:
 * 1. First-fit decreasing (largest first, ties in write order) of whole units onto as many tapes
 *    as needed. A unit larger than a whole tape is split into its subfolders and files, each of
 *    which is placed the same way (depth first).
 * 2. If that uses more tapes than the lower bound ceil(total blocks / usable blocks), the packing
 *    is retried with a fixed number of tapes, from the lower bound upwards: a unit that fits on
 *    no tape's remaining space is then split at its next level instead of opening a new tape.
 *    The first tape count that works is taken.
 * So the plan uses the fewest tapes this finds, and splits only folders that must be split for
 * that count. Files on each tape are written in path order (byte-wise, like `LC_ALL=C sort`),
 * which keeps every folder's files contiguous; tapes are numbered by their first file. An empty
 * folder takes no block and goes with the folder that holds it.
 * Cost: O(n log n + n·t) for n files and t tapes per attempt; no recursion.
 * @throws {CliError} a file larger than a tape's usable capacity (exit 2), a missing source,
 * two sources with the same basename or one inside another, and anything reported through
 * `onProblem` (after all are reported).
 * @example
 * import { parseReserve, parseTape, tapeCapacity } from "./capacity.ts";
 * const plan = planTapes(["/shoot/DAY01"], { capacity: tapeCapacity(parseTape("LTO-8"), parseReserve(undefined)) });
 * for (const tape of plan.tapes) console.log(tape.index, tape.files.length, tape.fill);
 */
export function planTapes(sources: readonly string[], options: PlanOptions): TapePlan {
  const { capacity } = options;
  const roots = readSources(sources, options);
  const files = roots.flatMap((root) => contentsOf(root).files);
  const largest = files.find((file) => file.blocks > capacity.usableBlocks);
  if (largest) {
    throw new CliError(`larger than a tape: ${largest.size} bytes in ${largest.blocks} blocks; a ${capacity.name} tape takes ${capacity.usableBlocks} blocks (${capacity.usableBytes} bytes) of files`, { path: showName(largest.source) });
  }

  const units: Item[] = roots.flatMap((root) => (isEmpty(root) ? [folderItem(root)] : childItems(root)));
  const totalBlocks = files.reduce((sum, file) => sum + file.blocks, 0);
  // Unbounded, only a file larger than a tape could fail, and that was refused above.
  let packing = pack(units, capacity.usableBlocks, Infinity)!;
  const lowerBound = Math.max(1, Math.ceil(totalBlocks / capacity.usableBlocks));
  const wholeFolderTapes = packing.bins.length;
  for (let tapes = lowerBound; tapes < wholeFolderTapes; tapes++) {
    const attempt = pack(units, capacity.usableBlocks, tapes);
    if (attempt) {
      packing = attempt;
      break;
    }
  }
  return assemble(
    roots.map((root) => root.source),
    packing,
    capacity,
  );
}

/** The tape's catalog entry, at its root (`write` adds it after the files). */
export const TAPE_CATALOG_FILE = "ltfs-pack-catalog.json";
/** The tape's ASC MHL history, at its root (`write` adds it after the files). */
export const TAPE_HISTORY_FOLDER = "ascmhl";

/** Why a tape path is one `write` keeps for the tape's own records, or undefined. */
function reservedPathProblem(path: string): string | undefined {
  const top = path.split("/")[0]!.normalize("NFC");
  if (top !== TAPE_HISTORY_FOLDER && top !== TAPE_CATALOG_FILE) return undefined;
  return `'${showName(top)}' at the tape's root is where the tape's own ${top === TAPE_HISTORY_FOLDER ? "ASC MHL history" : "catalog entry"} goes`;
}

/** The sources resolved, one name each on tape, none inside another. */
function checkSources(sources: readonly string[]): Array<{ given: string; source: string; name: string }> {
  if (sources.length === 0) throw new CliError("give at least one SRC folder");
  const seen = new Map<string, string>();
  const out: Array<{ given: string; source: string; name: string; real: string }> = [];
  for (const given of sources) {
    const source = resolvePath(given);
    const name = baseOf(source);
    if (name === "") throw new CliError("a source needs a name to become a folder on tape", { path: given });
    const reserved = reservedPathProblem(name);
    if (reserved) throw new CliError(`${reserved}; give the folder that holds it (the card) instead`, { path: given });
    const other = seen.get(name.normalize("NFC"));
    if (other !== undefined) throw new CliError(`same top folder name '${showName(name)}' on tape as ${showName(other)}; rename one`, { path: given });
    seen.set(name.normalize("NFC"), given);
    let isDirectory: boolean;
    let real: string;
    try {
      isDirectory = statSync(source).isDirectory();
      real = realpathSync(source);
    } catch (error) {
      throw new CliError(describeSystemError(error), { path: given, cause: error });
    }
    if (!isDirectory) throw new CliError("not a folder; give the folder that holds the cards or rolls", { path: given });
    for (const earlier of out) {
      const [outer, inner] = real.length <= earlier.real.length ? [real, earlier.real] : [earlier.real, real];
      if (inner === outer || inner.startsWith(outer === "/" ? "/" : `${outer}/`)) {
        throw new CliError(`is inside ${showName(earlier.given)} or holds it: its files would go on tape twice; give one of them`, { path: given });
      }
    }
    out.push({ given, source, name, real });
  }
  return out;
}

/**
 * The roots of the sources, one folder node each, named by basename, files ranked in write
 * order. Every problem is reported; then, if there was one, nothing is planned.
 */
function readSources(sources: readonly string[], options: PlanOptions): Array<FolderNode & { source: string }> {
  const ignore = options.ignore ?? new IgnoreList(DEFAULT_IGNORES);
  let problems = 0;
  const problem = (p: WalkProblem) => {
    problems++;
    options.onProblem?.(p);
  };
  const roots: Array<FolderNode & { source: string }> = [];
  for (const { source, name } of checkSources(sources)) {
    roots.push({ source, path: name, parent: undefined, files: [], folders: [], blocks: 0, rank: 0 });
  }
  // Write order is tape-path order: sources by name, then each walk's (sorted) order.
  roots.sort((a, b) => compareUtf8(a.path, b.path));
  let rank = 0;
  for (const root of roots) {
    const folders: Array<{ relativePath: string; path: string; mtimeMs: number }> = [];
    const files = walkFiles(root.source, {
      ignore,
      folders,
      links: options.links ?? "follow",
      special: options.special ?? "fail",
      onProblem: problem,
      onSkipped: options.onSkipped,
    });
    // Names a tape cannot hold: not UTF-8, or a character its XML index (and ASC MHL) cannot
    // carry (a folder's name once, not again for all below it).
    for (const entry of [...folders, ...files]) {
      const name = baseOf(entry.relativePath);
      if (!isUtf8Name(name)) problem({ path: entry.path, message: "name is not valid UTF-8; an LTFS index holds UTF-8 names only: rename it" });
      else if (xmlNameProblem(name)) problem({ path: entry.path, message: "name holds a control character, which an LTFS index (XML) cannot carry: rename it" });
    }
    // Leaves are files and folders nothing is in; they are ranked in path order, a folder as
    // if it held a file (its rank is where its contents would be).
    const holding = new Set<string>();
    for (const entry of [...folders, ...files]) {
      const slash = entry.relativePath.lastIndexOf("/");
      holding.add(slash < 0 ? "" : entry.relativePath.slice(0, slash));
    }
    const leaves: Array<{ key: string; relativePath: string; path: string; size?: number }> = [
      ...files.map((f) => ({ key: f.relativePath, relativePath: f.relativePath, path: f.path, size: f.size })),
      ...[{ relativePath: "", path: root.source }, ...folders].filter((f) => !holding.has(f.relativePath)).map((f) => ({ key: `${f.relativePath}/`, relativePath: f.relativePath, path: f.path })),
    ].sort((a, b) => compareUtf8(a.key, b.key));

    const nodes = new Map<string, FolderNode>([["", root]]);
    const folderOf = (relativeDir: string, source: string): FolderNode => {
      const existing = nodes.get(relativeDir);
      if (existing) return existing;
      // Made with its missing ancestors, outermost first (no recursion: depth is the tree's).
      const missing: Array<{ dir: string; source: string }> = [];
      let dir = relativeDir;
      let at = source;
      while (!nodes.has(dir)) {
        missing.push({ dir, source: at });
        const slash = dir.lastIndexOf("/");
        dir = slash < 0 ? "" : dir.slice(0, slash);
        at = at.slice(0, at.lastIndexOf("/"));
      }
      let parent = nodes.get(dir)!;
      for (const { dir: path, source: from } of missing.reverse()) {
        const node: FolderNode = { path: `${root.path}/${path}`, source: from, parent, files: [], folders: [], blocks: 0, rank };
        parent.folders.push(node);
        nodes.set(path, node);
        parent = node;
      }
      return parent;
    };
    for (const leaf of leaves) {
      if (leaf.size === undefined) {
        if (leaf.relativePath === "") root.rank = rank;
        else folderOf(leaf.relativePath, leaf.path);
        rank++;
        continue;
      }
      const slash = leaf.relativePath.lastIndexOf("/");
      const parent = folderOf(slash < 0 ? "" : leaf.relativePath.slice(0, slash), leaf.path.slice(0, leaf.path.lastIndexOf("/")));
      const blocks = blocksFor(leaf.size, options.capacity.blockSize);
      parent.files.push({ source: leaf.path, path: `${root.path}/${leaf.relativePath}`, size: leaf.size, blocks, parent, rank: rank++ });
      for (let node: FolderNode | undefined = parent; node; node = node.parent) node.blocks += blocks;
    }
    problems += reportNfcClashes(root, options.onProblem);
  }
  if (problems > 0) throw new CliError(`${problems} ${problems === 1 ? "entry" : "entries"} cannot go on tape as ${problems === 1 ? "it is" : "they are"}; no plan was made`);
  return roots;
}

/** Unicode form of a name, for telling apart two that look alike. */
function form(name: string): string {
  return name === name.normalize("NFC") ? "NFC" : name === name.normalize("NFD") ? "NFD" : "neither NFC nor NFD";
}

/** Reports names in one folder that are one name in NFC (LTFS compares names so); returns how many. */
function reportNfcClashes(root: FolderNode, onProblem: PlanOptions["onProblem"]): number {
  let clashes = 0;
  const stack: FolderNode[] = [root];
  while (stack.length > 0) {
    const folder = stack.pop()!;
    const seen = new Map<string, string>();
    const entries = [...folder.folders.map((f) => ({ name: baseOf(f.path), source: f.source })), ...folder.files.map((f) => ({ name: baseOf(f.path), source: f.source }))];
    for (const { name, source } of entries) {
      const key = name.normalize("NFC");
      const other = seen.get(key);
      if (other === undefined) {
        seen.set(key, name);
        continue;
      }
      clashes++;
      onProblem?.({
        path: source,
        message: `'${showName(name)}' (${form(name)}) and '${showName(other)}' (${form(other)}) in one folder are one name on tape, as LTFS compares names in NFC; rename one`,
      });
    }
    stack.push(...folder.folders);
  }
  return clashes;
}

function isEmpty(folder: FolderNode): boolean {
  return folder.files.length === 0 && folder.folders.length === 0;
}

/** Every file and every empty folder at or below a folder, iteratively. */
function contentsOf(folder: FolderNode): { files: FileNode[]; empty: FolderNode[] } {
  const files: FileNode[] = [];
  const empty: FolderNode[] = [];
  const stack: FolderNode[] = [folder];
  while (stack.length > 0) {
    const node = stack.pop()!;
    files.push(...node.files);
    if (isEmpty(node)) empty.push(node);
    stack.push(...node.folders);
  }
  return { files, empty };
}

function folderItem(folder: FolderNode): Item {
  return { folder, blocks: folder.blocks, rank: folder.rank };
}

/** A folder's subfolders and files as items to place. */
function childItems(folder: FolderNode): Item[] {
  return [...folder.folders.map(folderItem), ...folder.files.map((file): Item => ({ file, blocks: file.blocks, rank: file.rank }))];
}

/**
 * First-fit decreasing onto at most `maxBins` tapes of `usable` blocks; a folder that fits on no
 * tape (and no new tape may be opened) is split into its children, which are placed before the
 * next item (depth first, with a stack rather than recursion). Undefined when a file fits
 * nowhere.
 */
function pack(units: readonly Item[], usable: number, maxBins: number): Packing | undefined {
  const bins: Bin[] = [];
  const splits = new Map<FolderNode, string>();
  const stack: Array<{ items: Item[]; next: number }> = [{ items: [...units].sort(byBlocksThenRank), next: 0 }];
  while (stack.length > 0) {
    const level = stack.at(-1)!;
    const item = level.items[level.next++];
    if (item === undefined) {
      stack.pop();
      continue;
    }
    let bin = bins.find((b) => b.free >= item.blocks);
    if (!bin && bins.length < maxBins && item.blocks <= usable) {
      bin = { free: usable, items: [] };
      bins.push(bin);
    }
    if (bin) {
      bin.free -= item.blocks;
      bin.items.push(item);
      continue;
    }
    if (!("folder" in item)) return undefined;
    splits.set(item.folder, item.blocks > usable ? `larger than a tape (${item.blocks} blocks, a tape takes ${usable}); split at its subfolders` : `fits on no tape beside the rest in a ${maxBins}-tape plan; split at its subfolders to save a tape`);
    stack.push({ items: childItems(item.folder).sort(byBlocksThenRank), next: 0 });
  }
  return { bins, splits };
}

function assemble(sources: string[], packing: Packing, capacity: TapeCapacity): TapePlan {
  const tapeContents = packing.bins
    .map((bin) => {
      const files: FileNode[] = [];
      const empty: FolderNode[] = [];
      for (const item of bin.items) {
        if ("file" in item) files.push(item.file);
        else {
          const contents = contentsOf(item.folder);
          files.push(...contents.files);
          empty.push(...contents.empty);
        }
      }
      files.sort((a, b) => a.rank - b.rank);
      empty.sort((a, b) => a.rank - b.rank);
      const first = Math.min(files[0]?.rank ?? Infinity, empty[0]?.rank ?? Infinity);
      return { files, empty, first };
    })
    .filter((t) => t.files.length + t.empty.length > 0)
    .sort((a, b) => a.first - b.first);

  // The tapes each split folder landed on: every file reports its tape to its split ancestors.
  const tapesOf = new Map<FolderNode, Set<number>>([...packing.splits.keys()].map((folder) => [folder, new Set<number>()]));
  tapeContents.forEach(({ files, empty }, i) => {
    for (const start of [...files.map((f) => f.parent), ...empty]) {
      for (let node: FolderNode | undefined = start; node; node = node.parent) tapesOf.get(node)?.add(i + 1);
    }
  });

  const tapes = tapeContents.map(({ files, empty }, i): PlannedTape => {
    const blocks = files.reduce((sum, f) => sum + f.blocks, 0);
    return {
      index: i + 1,
      files: files.map(({ source, path, size, blocks }) => ({ source, path, size, blocks })),
      folders: empty.map(({ source, path }) => ({ source, path })),
      bytes: files.reduce((sum, f) => sum + f.size, 0),
      blocks,
      fill: Math.round((blocks / capacity.usableBlocks) * 1e6) / 1e6,
    };
  });
  const splits = [...packing.splits.entries()].sort(([a], [b]) => a.rank - b.rank || a.path.length - b.path.length).map(([folder, reason]): FolderSplit => ({ folder: folder.path, reason, tapes: [...tapesOf.get(folder)!].sort((a, b) => a - b) }));
  return {
    version: TAPE_PLAN_VERSION,
    capacity,
    sources,
    tapes,
    splits,
    totals: {
      files: tapes.reduce((sum, t) => sum + t.files.length, 0),
      bytes: tapes.reduce((sum, t) => sum + t.bytes, 0),
      blocks: tapes.reduce((sum, t) => sum + t.blocks, 0),
    },
  };
}

/**
 * The plan file `--json` prints: the plan with the tape's capacity spelled out.
 * @example
 * declare const plan: TapePlan;
 * process.stdout.write(`${JSON.stringify(planToJson(plan), null, 2)}\n`);
 */
export function planToJson(plan: TapePlan): object {
  const c = plan.capacity;
  return {
    format: "ltfs-pack plan",
    version: plan.version,
    tape: {
      name: c.name,
      nativeBytes: c.nativeBytes,
      dataPartitionBytes: c.dataPartitionBytes,
      reserveBytes: c.reserveBytes,
      formatBlocks: c.formatBlocks,
      usableBlocks: c.usableBlocks,
      usableBytes: c.usableBytes,
    },
    blockSize: c.blockSize,
    sources: plan.sources,
    tapes: plan.tapes,
    splits: plan.splits,
    totals: { tapes: plan.tapes.length, ...plan.totals },
  };
}

function percent(fill: number): string {
  return `${(Math.floor(fill * 1000) / 10).toFixed(1)}%`;
}

function splitLine(split: FolderSplit): string {
  return `split ${showName(split.folder)} (tapes ${split.tapes.join(", ")}): ${split.reason}`;
}

/** ", 2 empty folders" where there are any. */
function emptyFolders(count: number): string {
  return count === 0 ? "" : `, ${count} empty folder${count === 1 ? "" : "s"}`;
}

function summaryLine(plan: TapePlan, human: boolean): string {
  const c = plan.capacity;
  const size = (n: number) => (human ? formatBytes(n) : `${n} bytes`);
  const count = plan.tapes.length;
  const folders = emptyFolders(plan.tapes.reduce((sum, t) => sum + t.folders.length, 0));
  return `plan: ${count} tape${count === 1 ? "" : "s"}, ${plan.totals.files} files${folders}, ${size(plan.totals.bytes)}, ${plan.totals.blocks} blocks; ` + `${c.name} tape: ${c.usableBlocks} usable blocks of ${c.blockSize} bytes (${size(c.usableBytes)}), reserve ${size(c.reserveBytes)}`;
}

/**
 * The plan as plain text, for pipes and scripts: a heading per tape, then one line per file
 * (`tape<TAB>blocks<TAB>bytes<TAB>path`, in write order) and per empty folder (`path/`, no
 * blocks), the splits and a summary. Names are shown escaped ({@link showName}).
 * @example
 * declare const plan: TapePlan;
 * process.stdout.write(formatPlanText(plan));
 * // tape 1 of 1: 2 files, 1048577 bytes, 3 blocks, 21.4% full
 * // 1	2	1048576	DAY01/A001/C0001.MOV
 * // 1	1	1	DAY01/A001/notes.txt
 */
export function formatPlanText(plan: TapePlan): string {
  const lines: string[] = [];
  for (const tape of plan.tapes) {
    lines.push(`tape ${tape.index} of ${plan.tapes.length}: ${tape.files.length} files${emptyFolders(tape.folders.length)}, ${tape.bytes} bytes, ${tape.blocks} blocks, ${percent(tape.fill)} full`);
    for (const file of tape.files) lines.push(`${tape.index}\t${file.blocks}\t${file.size}\t${showName(file.path)}`);
    for (const folder of tape.folders) lines.push(`${tape.index}\t0\t0\t${showName(folder.path)}/`);
  }
  for (const split of plan.splits) lines.push(splitLine(split));
  lines.push(summaryLine(plan, false));
  return `${lines.join("\n")}\n`;
}

/**
 * The plan as a table for a terminal: per tape a heading and aligned columns (path, size,
 * blocks), then the splits and a summary; headings in bold unless `color` is false.
 * @example
 * declare const plan: TapePlan;
 * process.stdout.write(formatPlanTable(plan, { color: !process.env.NO_COLOR }));
 */
export function formatPlanTable(plan: TapePlan, options: { color?: boolean } = {}): string {
  const bold = (text: string) => (options.color ? `\u001b[1m${text}\u001b[22m` : text);
  const lines: string[] = [];
  for (const tape of plan.tapes) {
    const rows = [...tape.files.map((f) => [showName(f.path), formatBytes(f.size), String(f.blocks)] as const), ...tape.folders.map((f) => [`${showName(f.path)}/`, "", "0"] as const)];
    const header = ["FILE", "SIZE", "BLOCKS"] as const;
    const widths = [0, 1, 2].map((i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)));
    const row = (r: readonly string[]) => `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]!.padStart(widths[2]!)}`;
    lines.push(bold(`Tape ${tape.index} of ${plan.tapes.length}  ${tape.files.length} files${emptyFolders(tape.folders.length).replace(",", " ")}  ${formatBytes(tape.bytes)}  ${tape.blocks} blocks  ${percent(tape.fill)} full`));
    lines.push(row(header), `  ${"─".repeat(widths[0]! + widths[1]! + widths[2]! + 4)}`);
    for (const r of rows) lines.push(row(r));
    lines.push("");
  }
  if (plan.splits.length > 0) {
    lines.push(bold("Split folders"));
    for (const split of plan.splits) lines.push(`  ${splitLine(split).slice("split ".length)}`);
    lines.push("");
  }
  lines.push(summaryLine(plan, true));
  return `${lines.join("\n")}\n`;
}

/** A plan file as `write` reads it. */
export interface PlanFile {
  capacity: TapeCapacity;
  /** The folders the plan was made of: every file's and folder's source is inside one. */
  sources: string[];
  tapes: PlannedTape[];
}

/** Why a tape path cannot be written, or undefined when it can. */
function tapePathProblem(path: string): string | undefined {
  const unsafe = unsafePathReason(path);
  if (unsafe) return unsafe;
  if (!isUtf8Name(path)) return `path '${showName(path)}' is not UTF-8, which an LTFS index holds only`;
  if (xmlNameProblem(path)) return `path '${showName(path)}' holds a control character, which an LTFS index (XML) cannot carry`;
  if (path.split("/").some((n) => n === "" || n === "." || Buffer.byteLength(n) > 255)) return `path '${showName(path)}' has an empty, '.' or over-long name`;
  if (Buffer.byteLength(path) > MAX_TAPE_PATH_BYTES) return `path is longer than ${MAX_TAPE_PATH_BYTES} bytes`;
  return reservedPathProblem(path);
}

/** The source root `source` lies inside (the longest that holds it), or undefined. */
export function sourceRootOf(sources: readonly string[], source: string): string | undefined {
  let best: string | undefined;
  for (const root of sources) {
    const prefix = root.endsWith("/") ? root : `${root}/`;
    if (source.startsWith(prefix) && source.length > prefix.length && (best === undefined || root.length > best.length)) best = root;
  }
  return best;
}

/** Whether a source path stays inside its root: no `.`, `..` or empty components after it. */
function insideRoot(root: string, source: string): boolean {
  const rest = source.slice((root.endsWith("/") ? root : `${root}/`).length);
  return rest.split("/").every((part) => part !== "" && part !== "." && part !== "..");
}

/**
 * Reads a plan file written by `plan --json`. A plan may come from anyone: every tape path must
 * stay inside the volume and be one an LTFS index can hold, and every source must lie inside
 * one of the plan's source folders (a crafted plan cannot name /etc/shadow beside a card).
 * @throws {CliError} naming the file when it is not JSON, not a plan, of a version this build
 *   does not know, or holds a path that cannot be written or read as planned.
 */
export function readPlanFile(path: string, text: string): PlanFile {
  const bad = (what: string) => new CliError(`${what}; make it with 'ltfs-pack plan --json'`, { path });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw bad(`is not JSON (${(error as Error).message})`);
  }
  const plan = json as { format?: unknown; version?: unknown; tape?: Record<string, unknown>; blockSize?: unknown; sources?: unknown; tapes?: unknown };
  if (plan === null || typeof plan !== "object" || plan.format !== "ltfs-pack plan") throw bad("is not an ltfs-pack plan");
  if (plan.version !== TAPE_PLAN_VERSION) throw bad(`is a plan of version ${String(plan.version)}, this ltfs-pack reads version ${TAPE_PLAN_VERSION}`);
  const t = plan.tape ?? {};
  const number = (value: unknown, what: string): number => {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw bad(`has no valid ${what}`);
    return value;
  };
  const capacity: TapeCapacity = {
    name: typeof t.name === "string" ? t.name : "custom",
    nativeBytes: number(t.nativeBytes, "tape.nativeBytes"),
    dataPartitionBytes: number(t.dataPartitionBytes, "tape.dataPartitionBytes"),
    reserveBytes: number(t.reserveBytes, "tape.reserveBytes"),
    blockSize: number(plan.blockSize, "blockSize"),
    formatBlocks: number(t.formatBlocks, "tape.formatBlocks"),
    usableBlocks: number(t.usableBlocks, "tape.usableBlocks"),
    usableBytes: number(t.usableBytes, "tape.usableBytes"),
  };
  if (!Array.isArray(plan.sources) || plan.sources.length === 0) throw bad("has no sources");
  const sources = plan.sources.map((source: unknown) => {
    if (typeof source !== "string" || !isAbsolute(source) || source.includes("\0") || source.replace(/\/+$/, "") === "") {
      throw bad(`has a source folder that is not an absolute path below /: '${showName(String(source))}'`);
    }
    return source.length > 1 ? source.replace(/\/+$/, "") : source;
  });
  if (!Array.isArray(plan.tapes)) throw bad("has no tapes");
  const tapes = plan.tapes.map((tape: Record<string, unknown>, i: number): PlannedTape => {
    if (!Array.isArray(tape?.files)) throw bad(`has no files for tape ${i + 1}`);
    // A folder's source may be a source folder itself: an empty card is planned as one.
    const source = (value: unknown, folder = false): string => {
      if (typeof value !== "string" || !isAbsolute(value) || value.includes("\0")) throw bad(`has a source that is not an absolute path on tape ${i + 1}: '${showName(String(value))}'`);
      if (folder && sources.includes(value)) return value;
      const root = sourceRootOf(sources, value);
      if (root === undefined || !insideRoot(root, value)) throw bad(`has a source outside the plan's source folders on tape ${i + 1}: '${showName(value)}'`);
      return value;
    };
    // A tape path names where the file goes on the volume (and under a mount point): it must
    // stay inside it, and every name must be one LTFS can hold.
    const tapePath = (value: unknown): string => {
      if (typeof value !== "string") throw bad(`has a file without source or path on tape ${i + 1}`);
      const problem = tapePathProblem(value);
      if (problem) throw bad(`has a tape path that cannot be written on tape ${i + 1} (${showLine(problem.replace(/\0/g, "\\0"))})`);
      return value;
    };
    const files = tape.files.map((f: Record<string, unknown>): PlannedFile => {
      if (typeof f?.source !== "string" || typeof f.path !== "string") throw bad(`has a file without source or path on tape ${i + 1}`);
      const path = tapePath(f.path);
      return { source: source(f.source), path, size: number(f.size, "file size"), blocks: number(f.blocks, "file blocks") };
    });
    if (tape.folders !== undefined && !Array.isArray(tape.folders)) throw bad(`has folders that are not a list on tape ${i + 1}`);
    const folders = ((tape.folders ?? []) as Record<string, unknown>[]).map((f): PlannedFolder => {
      if (typeof f?.source !== "string" || typeof f.path !== "string") throw bad(`has a folder without source or path on tape ${i + 1}`);
      const path = tapePath(f.path);
      return { source: source(f.source, true), path };
    });
    const filePaths = new Set(files.map((f) => f.path.normalize("NFC")));
    if (filePaths.size !== files.length) throw bad(`names one tape path twice on tape ${i + 1}`);
    const paths = new Set(filePaths);
    for (const folder of folders) {
      const key = folder.path.normalize("NFC");
      if (paths.has(key)) throw bad(`names one tape path twice on tape ${i + 1}`);
      paths.add(key);
    }
    for (const path of paths) {
      for (let cut = path.indexOf("/"); cut > 0; cut = path.indexOf("/", cut + 1)) {
        if (filePaths.has(path.slice(0, cut))) {
          throw bad(`has '${showName(path.slice(0, cut))}' both as a file and as a folder on tape ${i + 1}`);
        }
      }
    }
    return { index: number(tape.index, "tape index"), files, folders, bytes: number(tape.bytes, "tape bytes"), blocks: number(tape.blocks, "tape blocks"), fill: Number(tape.fill) };
  });
  return { capacity, sources, tapes };
}
