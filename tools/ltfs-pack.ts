#!/usr/bin/env bun
/**
 * ltfs-pack — put folders of camera cards onto LTFS tapes. `plan` spans the sources over the
 * fewest tapes, never splitting a file and keeping each card or roll on one tape where it fits;
 * `write` writes a tape of the plan (a virtual tape in the reference file backend's layout, or
 * through a mounted volume) hashing in flight; `verify` reads it back against its MHL; `index`
 * prints or checks its index; `catalog` makes an offline catalog of many tapes.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { defineCommand } from "citty";
import { CliError, describeSystemError, usageError } from "../lib/core/errors.ts";
import { Output } from "../lib/cli/output.ts";
import { Progress } from "../lib/cli/progress.ts";
import { runTool } from "../lib/cli/run.ts";
import { parseCount } from "../lib/core/units.ts";
import { DEFAULT_HASH_FORMAT, HASH_FORMATS, parseHashFormat } from "../lib/mhl/formats.ts";
import { SERIAL_PATTERN } from "../lib/ltfs/label.ts";
import { writeFileAtomically } from "../lib/io/atomic_file.ts";
import { buildCatalog } from "../lib/ltfs/catalog.ts";
import { catalogHtml } from "../lib/ltfs/catalog_html.ts";
import { checkIndex, type IndexCheckOptions } from "../lib/ltfs/index_check.ts";
import type { LtfsIndex } from "../lib/ltfs/index_model.ts";
import { readIndexFile } from "../lib/ltfs/index_xml.ts";
import { verifyMount, verifyVtape, type VerifyResult } from "../lib/ltfs/verify.ts";
import { indexFiles, Volume } from "../lib/ltfs/volume.ts";
import { plannedTape, TAPE_CATALOG_FILE, writeMount, writeVtape, type WriteEvent } from "../lib/ltfs/write.ts";
import { LTO_GENERATIONS, parseReserve, parseTape, tapeCapacity } from "../lib/ltfs/capacity.ts";
import { formatPlanTable, formatPlanText, planTapes, planToJson, readPlanFile } from "../lib/ltfs/plan.ts";
import { VERSION } from "../lib/core/version.ts";

const TOOL = "ltfs-pack";

const EXIT_CODES = `Exit codes:
  0  the plan was made
  2  usage error, unknown command, unreadable source, or a file larger than a tape`;

const plan = defineCommand({
  meta: { name: `${TOOL} plan`, version: VERSION, description: "Span folders over LTFS tapes: fewest tapes, no file split, each card/roll on one tape where it fits." },
  args: {
    src: { type: "positional", description: "Folders to plan (more may follow); the folders in each (cards, rolls) are kept together" },
    tape: { type: "string", required: true, description: `Tape: ${LTO_GENERATIONS.map((g) => g.name).join(", ")}, or the data partition's size in bytes (e.g. 10MiB)`, valueHint: "TAPE" },
    reserve: { type: "string", description: "Held back for indexes: a percentage or a size (default 5%, at least 100GB)", valueHint: "SIZE|PCT%" },
    json: { type: "boolean", description: "Print the plan file as JSON (what `write` reads)" },
  },
});

const PLAN_EPILOGUE = `Capacity: an LTO tape's data partition is its native capacity (LTO-5 1.5 TB,
LTO-6 2.5 TB, LTO-7 6 TB, LTO-8 12 TB, LTO-9 18 TB) less the index partition and
guard wraps (4 wraps of 80/136/112/208/280); a size given to --tape is taken as
the data partition. From it come the reserve and the 7 blocks LTFS writes when
formatting (labels, first index); files take whole 524288-byte blocks each, an
empty file none. The default reserve is 5% and at least 100 GB; a --reserve you
give is used as given (0 plans to the last block).

Plan: whole top-level folders first-fit decreasing; a folder larger than a tape
is split at its next level. If that needs more tapes than the total requires,
fewer tapes are tried, splitting folders that fit nowhere, and each split is
reported. Files are written in path order. OS litter (.DS_Store, ._*, …) is
left out. Output: a table on a terminal, plain text otherwise, JSON with --json.

${EXIT_CODES}`;

const write = defineCommand({
  meta: { name: `${TOOL} write`, version: VERSION, description: "Write one tape of a plan: a virtual tape (LTFS file-backend layout) or a mounted LTFS volume, hashing in flight." },
  args: {
    plan: { type: "positional", description: "The plan file (ltfs-pack plan --json)" },
    tape: { type: "string", required: true, description: "Which tape of the plan to write (1, 2, …)", valueHint: "N" },
    vtape: { type: "string", description: "Write a new LTFS volume into this folder (new or empty); give it again for each further copy", valueHint: "DIR" },
    mount: { type: "string", description: "Write through this mounted LTFS volume; give it again for each further copy", valueHint: "MOUNTPOINT" },
    serial: { type: "string", description: "Volume serial (barcode) per copy, comma-separated: 1-6 of A-Z, 0-9 (default CA0001, CB0001, … for tape 1)", valueHint: "S[,S…]" },
    copies: { type: "string", description: "How many copies to write; must match the --vtape/--mount given (a guard against a forgotten one)", valueHint: "N" },
    hash: { type: "string", description: `Digests to take in flight, comma-separated: ${HASH_FORMATS.join(", ")} (default xxh128)`, valueHint: "FORMAT[,…]" },
    json: { type: "boolean", description: "Print one JSON event per line (file, failed, index, tape) instead of the summary" },
    progress: { type: "boolean", description: "Show progress on stderr" },
    flush: { type: "boolean", default: true, description: "Virtual tape: flush the file system before every index (--no-flush: never, as cp; a power cut before the system writes the data back may then lose the tape)" },
  },
});

const verify = defineCommand({
  meta: { name: `${TOOL} verify`, version: VERSION, description: "Re-read every file of a tape in start-block order and compare with the tape's ASC MHL." },
  args: {
    vtape: { type: "string", description: "The virtual tape to verify", valueHint: "DIR" },
    mount: { type: "string", description: "The mounted LTFS volume to verify", valueHint: "MOUNTPOINT" },
    json: { type: "boolean", description: "Print one JSON result per file" },
    progress: { type: "boolean", description: "Show progress on stderr" },
  },
});

const index = defineCommand({
  meta: { name: `${TOOL} index`, version: VERSION, description: "Print a tape's latest LTFS index, or check it." },
  args: {
    source: { type: "positional", required: false, description: "An index XML file (or give --vtape)" },
    vtape: { type: "string", description: "Read the latest index of this virtual tape", valueHint: "DIR" },
    check: { type: "boolean", description: "Check the index instead of printing it: names, UIDs, extents, version, UUID, times" },
  },
});

const catalog = defineCommand({
  meta: { name: `${TOOL} catalog`, version: VERSION, description: "Build an offline catalog (JSON and one static HTML page) of tapes: virtual tapes, mounts or saved index XML." },
  args: {
    tapes: { type: "positional", description: "Virtual tape folders, LTFS mount points or index XML files" },
    output: { type: "string", alias: "o", required: true, description: "Folder for catalog.json and index.html (created; existing files are replaced only with --force)", valueHint: "DIR" },
    force: { type: "boolean", description: "Replace catalog.json and index.html in the output folder" },
  },
});

const command = defineCommand({
  meta: { name: TOOL, version: VERSION, description: "Plan, write, verify and catalog LTFS tapes of camera cards." },
  subCommands: { plan, write, verify, index, catalog },
});

const EPILOGUE = `Commands: plan, write, verify, index, catalog. Run '${TOOL} COMMAND --help' for
each command's options and exit codes.

Exit codes: 0 done and every check passed; 1 a verification or index check
failed; 2 usage error, unknown command, or input that cannot be read.`;

async function runPlan(args: Record<string, unknown>): Promise<number> {
  const sources = (args._ as string[] | undefined) ?? [];
  const capacity = tapeCapacity(parseTape(String(args.tape)), parseReserve(args.reserve as string | undefined));
  const out = new Output();
  const result = planTapes(sources, { capacity, onProblem: (problem) => out.error(`${TOOL} ${name}: ${problem.path}: ${problem.message}`) });
  if (args.json) out.data(`${JSON.stringify(planToJson(result), null, 2)}\n`);
  else if (process.stdout.isTTY) out.data(formatPlanTable(result, { color: !process.env.NO_COLOR }));
  else out.data(formatPlanText(result));
  out.flush();
  return 0;
}

/** Every value of a repeatable option (`--vtape A --vtape=B`), in order. */
function allValues(raw: readonly string[], option: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === "--") break;
    if (raw[i] === option && i + 1 < raw.length) values.push(raw[++i]!);
    else if (raw[i]!.startsWith(`${option}=`)) values.push(raw[i]!.slice(option.length + 1));
  }
  return values;
}

const WRITE_EPILOGUE = `Each copy is a --vtape folder or a --mount point; give either option once per
copy. The sources are read again for every copy, and every copy must hash the same.

--vtape writes a complete LTFS 2.4 volume in the reference file backend's layout
(<partition>_<block>_R records, _F file marks, _E end of data), readable with
'ltfs -o tape_backend=file -o devname=DIR' and checked with 'ltfsck -e file DIR'.
--mount writes through a mounted LTFS volume in plan order, one file at a time,
and syncs the index (user.ltfs.sync) after every file set; free space is checked
first and no existing file is replaced.

Every file is hashed while it is written; digests go into the index as
attributes (ltfs.hash.md5sum, ltfs.hash.sha1sum, cartkit.hash.<format>). After
the files come an ASC MHL history (ascmhl/) and the tape's catalog entry
(${TAPE_CATALOG_FILE}). An index is written after each top-level folder, so an
interrupted write leaves a volume readable as of its last complete folder. On a
virtual tape each index becomes part of the volume only after the file system
is flushed, so that holds through a power cut too (--no-flush flushes nothing,
as cp: then it holds for a killed process, not for a power cut).

Exit codes:
  0  every file was written
  2  usage error, a plan or target that cannot be used, or a source that could
     not be read or changed since the plan (the others are written; the summary
     names it)`;

async function runWrite(args: Record<string, unknown>, raw: string[]): Promise<number> {
  const planPath = ((args._ as string[] | undefined) ?? [])[0];
  if (!planPath) throw usageError(`missing plan file; see '${TOOL} write --help'`);
  const vtapes = allValues(raw, "--vtape");
  const mounts = allValues(raw, "--mount");
  const targets = [...vtapes.map((dir) => ({ kind: "vtape" as const, dir })), ...mounts.map((dir) => ({ kind: "mount" as const, dir }))];
  if (targets.length === 0) throw usageError(`give --vtape DIR or --mount MOUNTPOINT; see '${TOOL} write --help'`);
  if (args.copies !== undefined && parseCount(String(args.copies), "--copies") !== targets.length) {
    throw usageError(`--copies ${args.copies} but ${targets.length} target(s) given; give one --vtape or --mount per copy`);
  }
  const tapeNumber = parseCount(String(args.tape), "--tape");
  const formats = args.hash === undefined ? [DEFAULT_HASH_FORMAT] : String(args.hash).split(",").map((f) => parseHashFormat(f.trim()));
  let text: string;
  try {
    text = readFileSync(planPath, "utf8");
  } catch (error) {
    throw new CliError(`cannot be read: ${describeSystemError(error)}`, { path: planPath });
  }
  const plan = readPlanFile(planPath, text);
  const serials = args.serial === undefined
    ? targets.map((_, i) => `C${String.fromCharCode(65 + i)}${String(tapeNumber).padStart(4, "0")}`)
    : String(args.serial).split(",").map((s) => s.trim().toUpperCase());
  if (serials.length !== targets.length) throw usageError(`${serials.length} serial(s) for ${targets.length} copies; give one per --vtape/--mount`);
  for (const serial of serials) if (!SERIAL_PATTERN.test(serial)) throw usageError(`invalid serial '${serial}': 1-6 of A-Z, 0-9`);
  const tape = plannedTape(plan, tapeNumber);

  const out = new Output();
  const json = Boolean(args.json);
  let failures = 0;
  let first: Map<string, Record<string, string>> | undefined;
  for (const [i, target] of targets.entries()) {
    const progress = new Progress({ enabled: Boolean(args.progress), totalFiles: tape.files.length, totalBytes: tape.bytes });
    const digests = new Map<string, Record<string, string>>();
    const options = {
      plan, tapeNumber, serial: serials[i]!, formats, tool: { name: TOOL, version: VERSION }, flush: args.flush !== false,
      onEvent: (event: WriteEvent) => {
        if (event.event === "file") {
          progress.fileDone(event.size);
          digests.set(event.path, event.hashes);
        }
        if (event.event === "failed" || event.event === "warning") {
          progress.clear();
          out.error(`${TOOL} ${name}: ${event.message}`);
        }
        if (json) out.data(`${JSON.stringify({ ...event, serial: serials[i] })}\n`);
        // An index event marks a consistent volume: let a watcher see it now.
        if (event.event === "index") out.flush();
      },
    };
    const summary = target.kind === "vtape" ? await writeVtape(target.dir, options) : await writeMount(target.dir, options);
    progress.finish();
    if ("isLtfs" in summary && !summary.isLtfs) out.error(`${TOOL} ${name}: ${target.dir}: not an LTFS mount (no user.ltfs.volumeUUID); written as a plain folder, no index syncs`);
    // Copies must agree: a source that hashes differently the second time changed under us.
    if (first) {
      for (const [path, hashes] of digests) {
        if (first.has(path) && JSON.stringify(first.get(path)) !== JSON.stringify(hashes)) {
          failures++;
          out.error(`${TOOL} ${name}: ${path}: hashes differently on copy ${i + 1} than on copy 1; the source changed while the copies were written`);
        }
      }
    } else first = digests;
    failures += summary.failed.length;
    const line = `tape ${tapeNumber} of ${plan.tapes.length} → ${target.kind} ${target.dir}: serial ${summary.serial}, ${summary.files.length} files, ${summary.bytes} bytes` +
      (summary.blocks !== undefined ? `, ${summary.blocks} blocks on the data partition` : "") +
      (summary.generation !== undefined ? `, index generation ${summary.generation}` : "") +
      (summary.volumeUuid ? `, volume ${summary.volumeUuid}` : "") +
      (summary.failed.length > 0 ? `; ${summary.failed.length} NOT written` : "");
    if (json) out.data(`${JSON.stringify({ event: "tape", target: target.dir, kind: target.kind, serial: summary.serial, volumeUuid: summary.volumeUuid, files: summary.files.length, bytes: summary.bytes, failed: summary.failed.length, generation: summary.generation })}\n`);
    else out.data(`${line}\n`);
    out.flush();
  }
  out.flush();
  return failures > 0 ? 2 : 0;
}

const VERIFY_EPILOGUE = `Reads every file of the tape in start-block order (the order a drive streams
best), hashes it, and compares with the tape's ASC MHL (ascmhl/, its latest
generation, whose C4 is checked against the chain) and with the digests in the
index. A virtual tape is read through its latest index by ltfs-pack itself; a
mount is read through the file system, ordered by user.ltfs.startblock.

Output: a summary line on stdout (one JSON object per file with --json);
each failure on stderr.

Exit codes:
  0  every file read back and matched
  1  a file differed, could not be read, was missing, or had no digest recorded
  2  usage error, or not a readable LTFS tape`;

async function runVerify(args: Record<string, unknown>): Promise<number> {
  const vtape = args.vtape as string | undefined;
  const mount = args.mount as string | undefined;
  if ((vtape === undefined) === (mount === undefined)) throw usageError(`give one of --vtape DIR or --mount MOUNTPOINT; see '${TOOL} verify --help'`);
  const out = new Output();
  const json = Boolean(args.json);
  const onResult = (result: VerifyResult) => {
    if (json) out.data(`${JSON.stringify(result)}\n`);
    if (result.status === "ok") return;
    const detail = result.mismatches?.map((m) => `${m.format} ${m.found}, ${m.source === "mhl" ? "the MHL" : "the index"} says ${m.expected}`).join("; ");
    out.error(`${TOOL} ${name}: ${result.path}: ${result.status === "mismatch" ? "MISMATCH" : result.status.toUpperCase()}${detail ? `: ${detail}` : ""}${result.message ? ` (${result.message})` : ""}`);
  };
  const target = (vtape ?? mount)!;
  const summary = vtape !== undefined ? await verifyVtape(vtape, onResult) : await verifyMount(mount!, onResult);
  for (const problem of summary.problems) out.error(`${TOOL} ${name}: ${problem}`);
  const failed = summary.failed + summary.problems.length;
  if (!summary.mhl) out.error(`${TOOL} ${name}: ${target}: no ASC MHL on the tape (ascmhl/); compared with the index's digests only`);
  if (!json) {
    out.data(failed === 0
      ? `verified ${target}: ${summary.checked} files, ${summary.bytes} bytes read back, all match${summary.mhl ? ` ${summary.mhl}` : " the index"}\n`
      : `FAILED ${target}: ${failed} of ${summary.checked} files do not verify (${summary.bytes} bytes read back)\n`);
  }
  out.flush();
  return failed > 0 || !summary.mhl ? 1 : 0;
}

const INDEX_EPILOGUE = `Prints the latest index of a virtual tape (or an index XML file) as stored.
With --check, prints instead each problem found, one per line, as 'path: problem':
names unique per folder, ≤ 255 bytes, without '/' or NUL; file UIDs unique and
not above highestfileuid; extents within the file's length and (for a virtual
tape) inside the blocks written; version 2.4.0; a lowercase UUID; valid times.

Exit codes:
  0  printed, or checked and sound
  1  --check found problems
  2  usage error, or not a readable index or tape`;

async function runIndex(args: Record<string, unknown>): Promise<number> {
  const vtape = args.vtape as string | undefined;
  const file = ((args._ as string[] | undefined) ?? [])[0];
  if ((vtape === undefined) === (file === undefined)) throw usageError(`give --vtape DIR or an index XML file; see '${TOOL} index --help'`);
  let xml: string;
  let parsed: LtfsIndex;
  const options: IndexCheckOptions = {};
  if (vtape !== undefined) {
    const volume = Volume.open(vtape);
    xml = volume.latest.xml;
    parsed = volume.latest.index;
    options.blockSize = volume.label.blockSize;
    options.writtenBlocks = { [volume.label.dataPartition]: volume.dataEnd.block, [volume.label.indexPartition]: volume.tape.endOfData(0).block };
  } else {
    ({ xml, index: parsed } = readIndexFile(file!));
  }
  const out = new Output();
  if (!args.check) {
    out.data(xml.endsWith("\n") ? xml : `${xml}\n`);
    out.flush();
    return 0;
  }
  const problems = checkIndex(parsed, options);
  for (const problem of problems) out.data(`${problem.path}: ${problem.message}\n`);
  out.error(problems.length === 0
    ? `${TOOL} ${name}: ${vtape ?? file}: index generation ${parsed.generationNumber} is sound (${indexFiles(parsed.root).length} files)`
    : `${TOOL} ${name}: ${vtape ?? file}: ${problems.length} problem(s) in index generation ${parsed.generationNumber}`);
  out.flush();
  return problems.length > 0 ? 1 : 0;
}

const CATALOG_EPILOGUE = `Reads each tape — a virtual tape folder (its latest index), a mounted LTFS
volume (a walk, with digests and start blocks from LTFS's attributes) or a saved
index XML file — and writes to the output folder:
  catalog.json  one record per file: tape serial, path, size, digests, start block
  index.html    one self-contained page: search by name, path or digest (all
                words must match; the search is kept in the address as #q=…),
                which tape(s) hold each file, and a fill bar per tape
The tapes' own ascmhl/ and ${TAPE_CATALOG_FILE} are left out.

Exit codes:
  0  the catalog was written
  2  usage error, a tape that cannot be read, two tapes with one serial, or
     catalog files already in the folder (give --force to replace them)`;

async function runCatalog(args: Record<string, unknown>): Promise<number> {
  const tapes = (args._ as string[] | undefined) ?? [];
  if (tapes.length === 0) throw usageError(`give at least one tape (virtual tape folder, mount point or index XML); see '${TOOL} catalog --help'`);
  const dir = String(args.output);
  const catalogData = buildCatalog(tapes);
  mkdirSync(dir, { recursive: true });
  const overwrite = Boolean(args.force);
  for (const name of ["catalog.json", "index.html"]) {
    if (!overwrite && existsSync(join(dir, name))) throw new CliError("already exists; give --force to replace it", { path: join(dir, name) });
  }
  writeFileAtomically(join(dir, "catalog.json"), `${JSON.stringify(catalogData, null, 1)}\n`, { overwrite });
  writeFileAtomically(join(dir, "index.html"), catalogHtml(catalogData), { overwrite });
  const out = new Output();
  for (const tape of catalogData.tapes) out.data(`${tape.serial}\t${tape.kind}\t${tape.files} files\t${tape.bytes} bytes\t${tape.source}\n`);
  out.error(`${TOOL} ${name}: catalog of ${catalogData.tapes.length} tape(s), ${catalogData.files.length} files: ${join(dir, "catalog.json")}, ${join(dir, "index.html")}`);
  out.flush();
  return 0;
}

/** The subcommand's position: the first argument that is not an option of `ltfs-pack` itself. */
const raw = process.argv.slice(2);
const at = raw.findIndex((arg) => !arg.startsWith("-"));
const name = at < 0 || raw.slice(0, at).includes("--") ? undefined : raw[at];
const rest = at < 0 ? raw : [...raw.slice(0, at), ...raw.slice(at + 1)];

if (name === "plan") {
  await runTool({ command: plan, epilogue: PLAN_EPILOGUE, main: (args) => runPlan(args as Record<string, unknown>) }, rest);
} else if (name === "write") {
  await runTool({ command: write, epilogue: WRITE_EPILOGUE, main: (args) => runWrite(args as Record<string, unknown>, rest) }, rest);
} else if (name === "verify") {
  await runTool({ command: verify, epilogue: VERIFY_EPILOGUE, main: (args) => runVerify(args as Record<string, unknown>) }, rest);
} else if (name === "index") {
  await runTool({ command: index, epilogue: INDEX_EPILOGUE, main: (args) => runIndex(args as Record<string, unknown>) }, rest);
} else if (name === "catalog") {
  await runTool({ command: catalog, epilogue: CATALOG_EPILOGUE, main: (args) => runCatalog(args as Record<string, unknown>) }, rest);
} else {
  await runTool({
    command,
    epilogue: EPILOGUE,
    main: async () => {
      throw usageError(name === undefined ? `missing command; see '${TOOL} --help'` : `unknown command '${name}'; see '${TOOL} --help'`);
    },
  }, raw);
}
