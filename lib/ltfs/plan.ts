/**
 * The tape plan: which files go on which LTFS tape, in which order, so that the fewest tapes are
 * used, no file is split, and a camera roll (a top-level folder under a source) stays on one tape
 * wherever it can.
 */
import { statSync } from "node:fs";
import { basename, isAbsolute, resolve } from "node:path";
import { unsafePathReason } from "../mhl/paths.ts";
import { CliError, describeSystemError } from "../core/errors.ts";
import { DEFAULT_IGNORES, IgnoreList } from "../io/ignore.ts";
import { compareUtf8 } from "../core/names.ts";
import { walkFiles, type WalkProblem } from "../io/walk.ts";
import { formatBytes } from "../core/units.ts";
import { blocksFor, type TapeCapacity } from "./capacity.ts";

/** Version of the plan file (`--json`); the `write` subcommand refuses versions it does not know. */
export const TAPE_PLAN_VERSION = 1;

/** One file of a plan. */
export interface PlannedFile {
  /** Absolute path to read it from. */
  source: string;
  /** Path on the tape: relative, `/`-separated, the source's basename as its top folder. */
  path: string;
  /** Size in bytes when planned. */
  size: number;
  /** Blocks it occupies: ceil(size / block size). */
  blocks: number;
}

/** One tape of a plan, its files in write order. */
export interface PlannedTape {
  /** 1-based tape number. */
  index: number;
  files: PlannedFile[];
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
  /** Unreadable folders, dangling links, special files: reported here, left out of the plan. */
  onProblem?: (problem: WalkProblem) => void;
}

/** A folder of the tree being packed. */
interface FolderNode {
  path: string;
  parent: FolderNode | undefined;
  files: FileNode[];
  folders: FolderNode[];
  blocks: number;
  /** Write-order rank of its first file: the tie-break that keeps packing deterministic. */
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
 *    which is placed the same way (recursively).
 * 2. If that uses more tapes than the lower bound ceil(total blocks / usable blocks), the packing
 *    is retried with a fixed number of tapes, from the lower bound upwards: a unit that fits on
 *    no tape's remaining space is then split at its next level instead of opening a new tape.
 *    The first tape count that works is taken.
 * So the plan uses the fewest tapes this finds, and splits only folders that must be split for
 * that count. Files on each tape are written in path order (byte-wise, like `LC_ALL=C sort`),
 * which keeps every folder's files contiguous; tapes are numbered by their first file.
 * Cost: O(n log n + n·t) for n files and t tapes per attempt.
 * @throws {CliError} a file larger than a tape's usable capacity (exit 2), a missing source,
 * two sources with the same basename.
 * @example
 * const plan = planTapes(["/shoot/DAY01"], { capacity: tapeCapacity(parseTape("LTO-8"), parseReserve(undefined)) });
 * for (const tape of plan.tapes) console.log(tape.index, tape.files.length, tape.fill);
 */
export function planTapes(sources: readonly string[], options: PlanOptions): TapePlan {
  const { capacity } = options;
  const roots = readSources(sources, options);
  const files = roots.flatMap((root) => allFiles(root));
  const largest = files.find((file) => file.blocks > capacity.usableBlocks);
  if (largest) {
    throw new CliError(
      `larger than a tape: ${largest.size} bytes in ${largest.blocks} blocks; a ${capacity.name} tape takes ${capacity.usableBlocks} blocks (${capacity.usableBytes} bytes) of files`,
      { path: largest.source },
    );
  }

  const units: Item[] = roots.flatMap((root) => childItems(root));
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
  return assemble(roots.map((root) => root.source), packing, capacity);
}

/** The roots of the sources, one folder node each, named by basename, files ranked in write order. */
function readSources(sources: readonly string[], options: PlanOptions): Array<FolderNode & { source: string }> {
  if (sources.length === 0) throw new CliError("give at least one SRC folder");
  const ignore = options.ignore ?? new IgnoreList(DEFAULT_IGNORES);
  const seen = new Map<string, string>();
  const roots: Array<FolderNode & { source: string }> = [];
  for (const given of sources) {
    const source = resolve(given);
    const name = basename(source);
    if (name === "") throw new CliError("a source needs a name to become a folder on tape", { path: given });
    const other = seen.get(name.normalize("NFC"));
    if (other !== undefined) throw new CliError(`same top folder name '${name}' on tape as ${other}; rename one`, { path: given });
    seen.set(name.normalize("NFC"), given);
    let isDirectory: boolean;
    try {
      isDirectory = statSync(source).isDirectory();
    } catch (error) {
      throw new CliError(describeSystemError(error), { path: given, cause: error });
    }
    if (!isDirectory) throw new CliError("not a folder; give the folder that holds the cards or rolls", { path: given });
    roots.push({ source, path: name, parent: undefined, files: [], folders: [], blocks: 0, rank: 0 });
  }
  // Write order is tape-path order: sources by name, then each walk's (sorted) order.
  roots.sort((a, b) => compareUtf8(a.path, b.path));
  let rank = 0;
  for (const root of roots) {
    const folders = new Map<string, FolderNode>([["", root]]);
    const folderOf = (relativeDir: string): FolderNode => {
      let node = folders.get(relativeDir);
      if (node) return node;
      const slash = relativeDir.lastIndexOf("/");
      const parent = folderOf(slash < 0 ? "" : relativeDir.slice(0, slash));
      node = { path: `${root.path}/${relativeDir}`, parent, files: [], folders: [], blocks: 0, rank };
      parent.folders.push(node);
      folders.set(relativeDir, node);
      return node;
    };
    for (const entry of walkFiles(root.source, { ignore, onProblem: options.onProblem })) {
      const slash = entry.relativePath.lastIndexOf("/");
      const parent = folderOf(slash < 0 ? "" : entry.relativePath.slice(0, slash));
      const blocks = blocksFor(entry.size, options.capacity.blockSize);
      parent.files.push({ source: entry.path, path: `${root.path}/${entry.relativePath}`, size: entry.size, blocks, parent, rank: rank++ });
      for (let node: FolderNode | undefined = parent; node; node = node.parent) node.blocks += blocks;
    }
  }
  return roots;
}

function allFiles(folder: FolderNode): FileNode[] {
  const out: FileNode[] = [];
  const visit = (node: FolderNode) => {
    for (const file of node.files) out.push(file);
    for (const child of node.folders) visit(child);
  };
  visit(folder);
  return out;
}

/** A folder's subfolders and files as items to place. */
function childItems(folder: FolderNode): Item[] {
  return [
    ...folder.folders.map((child): Item => ({ folder: child, blocks: child.blocks, rank: child.rank })),
    ...folder.files.map((file): Item => ({ file, blocks: file.blocks, rank: file.rank })),
  ];
}

/**
 * First-fit decreasing onto at most `maxBins` tapes of `usable` blocks; a folder that fits on no
 * tape (and no new tape may be opened) is split into its children. Undefined when a file fits
 * nowhere.
 */
function pack(units: readonly Item[], usable: number, maxBins: number): Packing | undefined {
  const bins: Bin[] = [];
  const splits = new Map<FolderNode, string>();
  const place = (items: Item[]): boolean => {
    items.sort(byBlocksThenRank);
    for (const item of items) {
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
      if (!("folder" in item)) return false;
      splits.set(
        item.folder,
        item.blocks > usable
          ? `larger than a tape (${item.blocks} blocks, a tape takes ${usable}); split at its subfolders`
          : `fits on no tape beside the rest in a ${maxBins}-tape plan; split at its subfolders to save a tape`,
      );
      if (!place(childItems(item.folder))) return false;
    }
    return true;
  };
  return place([...units]) ? { bins, splits } : undefined;
}

function assemble(sources: string[], packing: Packing, capacity: TapeCapacity): TapePlan {
  const tapeFiles = packing.bins
    .map((bin) => bin.items.flatMap((item) => ("folder" in item ? allFiles(item.folder) : [item.file])).sort((a, b) => a.rank - b.rank))
    .filter((files) => files.length > 0)
    .sort((a, b) => a[0]!.rank - b[0]!.rank);

  // The tapes each split folder landed on: every file reports its tape to its split ancestors.
  const tapesOf = new Map<FolderNode, Set<number>>([...packing.splits.keys()].map((folder) => [folder, new Set<number>()]));
  tapeFiles.forEach((files, i) => {
    for (const file of files) {
      for (let node: FolderNode | undefined = file.parent; node; node = node.parent) tapesOf.get(node)?.add(i + 1);
    }
  });

  const tapes = tapeFiles.map((files, i): PlannedTape => {
    const blocks = files.reduce((sum, f) => sum + f.blocks, 0);
    return {
      index: i + 1,
      files: files.map(({ source, path, size, blocks }) => ({ source, path, size, blocks })),
      bytes: files.reduce((sum, f) => sum + f.size, 0),
      blocks,
      fill: Math.round((blocks / capacity.usableBlocks) * 1e6) / 1e6,
    };
  });
  const splits = [...packing.splits.entries()]
    .sort(([a], [b]) => a.rank - b.rank || a.path.length - b.path.length)
    .map(([folder, reason]): FolderSplit => ({ folder: folder.path, reason, tapes: [...tapesOf.get(folder)!].sort((a, b) => a - b) }));
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

/** A path for a text line: control characters (a newline in a name) shown escaped. */
function displayPath(path: string): string {
  return path.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === "\n" ? "\\n" : c === "\t" ? "\\t" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
}

function percent(fill: number): string {
  return `${(Math.floor(fill * 1000) / 10).toFixed(1)}%`;
}

function splitLine(split: FolderSplit): string {
  return `split ${displayPath(split.folder)} (tapes ${split.tapes.join(", ")}): ${split.reason}`;
}

function summaryLine(plan: TapePlan, human: boolean): string {
  const c = plan.capacity;
  const size = (n: number) => (human ? formatBytes(n) : `${n} bytes`);
  const count = plan.tapes.length;
  return `plan: ${count} tape${count === 1 ? "" : "s"}, ${plan.totals.files} files, ${size(plan.totals.bytes)}, ${plan.totals.blocks} blocks; ` +
    `${c.name} tape: ${c.usableBlocks} usable blocks of ${c.blockSize} bytes (${size(c.usableBytes)}), reserve ${size(c.reserveBytes)}`;
}

/**
 * The plan as plain text, for pipes and scripts: a heading per tape, then one line per file
 * (`tape<TAB>blocks<TAB>bytes<TAB>path`, in write order), the splits and a summary.
 * @example
 * process.stdout.write(formatPlanText(plan));
 * // tape 1 of 1: 2 files, 1048577 bytes, 3 blocks, 21.4% full
 * // 1	2	1048576	DAY01/A001/C0001.MOV
 * // 1	1	1	DAY01/A001/notes.txt
 */
export function formatPlanText(plan: TapePlan): string {
  const lines: string[] = [];
  for (const tape of plan.tapes) {
    lines.push(`tape ${tape.index} of ${plan.tapes.length}: ${tape.files.length} files, ${tape.bytes} bytes, ${tape.blocks} blocks, ${percent(tape.fill)} full`);
    for (const file of tape.files) lines.push(`${tape.index}\t${file.blocks}\t${file.size}\t${displayPath(file.path)}`);
  }
  for (const split of plan.splits) lines.push(splitLine(split));
  lines.push(summaryLine(plan, false));
  return `${lines.join("\n")}\n`;
}

/**
 * The plan as a table for a terminal: per tape a heading and aligned columns (path, size,
 * blocks), then the splits and a summary; headings in bold unless `color` is false.
 * @example
 * process.stdout.write(formatPlanTable(plan, { color: !process.env.NO_COLOR }));
 */
export function formatPlanTable(plan: TapePlan, options: { color?: boolean } = {}): string {
  const bold = (text: string) => (options.color ? `\u001b[1m${text}\u001b[22m` : text);
  const lines: string[] = [];
  for (const tape of plan.tapes) {
    const rows = tape.files.map((f) => [displayPath(f.path), formatBytes(f.size), String(f.blocks)] as const);
    const header = ["FILE", "SIZE", "BLOCKS"] as const;
    const widths = [0, 1, 2].map((i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)));
    const row = (r: readonly string[]) => `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]!.padStart(widths[2]!)}`;
    lines.push(bold(`Tape ${tape.index} of ${plan.tapes.length}  ${tape.files.length} files  ${formatBytes(tape.bytes)}  ${tape.blocks} blocks  ${percent(tape.fill)} full`));
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
  tapes: PlannedTape[];
}

/**
 * Reads a plan file written by `plan --json`.
 * @throws {CliError} naming the file when it is not JSON, not a plan, or of a version this build does not know.
 */
export function readPlanFile(path: string, text: string): PlanFile {
  const bad = (what: string) => new CliError(`${what}; make it with 'ltfs-pack plan --json'`, { path });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw bad(`is not JSON (${(error as Error).message})`);
  }
  const plan = json as { format?: unknown; version?: unknown; tape?: Record<string, unknown>; blockSize?: unknown; tapes?: unknown };
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
  if (!Array.isArray(plan.tapes)) throw bad("has no tapes");
  const tapes = plan.tapes.map((tape: Record<string, unknown>, i: number) => {
    if (!Array.isArray(tape?.files)) throw bad(`has no files for tape ${i + 1}`);
    const files = tape.files.map((f: Record<string, unknown>) => {
      if (typeof f?.source !== "string" || typeof f.path !== "string") throw bad(`has a file without source or path on tape ${i + 1}`);
      // A tape path names where the file goes on the volume (and under a mount point): it must
      // stay inside it, and every name must be one LTFS can hold.
      const unsafe = unsafePathReason(f.path) ?? (f.path.split("/").some((n) => n === "" || n === "." || n.length > 255 || new TextEncoder().encode(n).length > 255) ? `path '${f.path}' has an empty, '.' or over-long name` : undefined);
      if (unsafe) throw bad(`has a tape path that cannot be written on tape ${i + 1} (${unsafe.replace(/\0/g, "\\0")})`);
      if (!isAbsolute(f.source) || f.source.includes("\0")) throw bad(`has a source that is not an absolute path on tape ${i + 1}: '${f.source.replace(/\0/g, "\\0")}'`);
      return { source: f.source, path: f.path, size: number(f.size, "file size"), blocks: number(f.blocks, "file blocks") };
    });
    const paths = new Set(files.map((f: PlannedFile) => f.path.normalize("NFC")));
    if (paths.size !== files.length) throw bad(`names one tape path twice on tape ${i + 1}`);
    for (const path of paths) {
      for (let cut = path.indexOf("/"); cut > 0; cut = path.indexOf("/", cut + 1)) {
        if (paths.has(path.slice(0, cut))) throw bad(`has '${path.slice(0, cut)}' both as a file and as a folder on tape ${i + 1}`);
      }
    }
    return { index: number(tape.index, "tape index"), files, bytes: number(tape.bytes, "tape bytes"), blocks: number(tape.blocks, "tape blocks"), fill: Number(tape.fill) };
  });
  return { capacity, tapes };
}
