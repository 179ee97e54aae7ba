#!/usr/bin/env bun
/**
 * ltfs-pack — put folders of camera cards onto LTFS tapes. `plan` spans the sources over the
 * fewest tapes, never splitting a file and keeping each card or roll on one tape where it fits;
 * `write` writes a tape of the plan (a virtual tape in the reference file backend's layout, or
 * through a mounted volume) hashing in flight; `verify` reads it back against its MHL; `index`
 * prints or checks its index; `catalog` makes an offline catalog of many tapes.
 */
// First: a run of many files restarts before the rest is loaded.
import "../lib/cli/restart_first.ts";
import { guardWaitOn } from "../lib/core/interrupt_guard.ts";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { defineCommand } from "citty";
import { toolLog } from "../lib/cli/log.ts";
import { Output } from "../lib/cli/output.ts";
import { Progress } from "../lib/cli/progress.ts";
import { repeatedOption, runTool, type CommandArgs } from "../lib/cli/run.ts";
import { CliError, describeSystemError, usageError } from "../lib/core/errors.ts";
import { showLine, showName } from "../lib/core/names.ts";
import { parseCount } from "../lib/core/units.ts";
import { VERSION } from "../lib/core/version.ts";
import { writeFileAtomically } from "../lib/io/atomic_file.ts";
import { LTO_GENERATIONS, parseReserve, parseTape, tapeCapacity } from "../lib/ltfs/capacity.ts";
import { buildCatalog } from "../lib/ltfs/catalog.ts";
import { catalogHtml } from "../lib/ltfs/catalog_html.ts";
import { copySerials, describeCopy, writeCopies, type CopyTarget } from "../lib/ltfs/copies.ts";
import { checkIndex, type IndexCheckOptions, type IndexProblem } from "../lib/ltfs/index_check.ts";
import type { LtfsIndex } from "../lib/ltfs/index_model.ts";
import { readIndexFile } from "../lib/ltfs/index_xml.ts";
import { formatPlanTable, formatPlanText, planTapes, planToJson, readPlanFile, TAPE_CATALOG_FILE } from "../lib/ltfs/plan.ts";
import { verifyMount, verifyVerdict, verifyVtape, type VerifyResult } from "../lib/ltfs/verify.ts";
import { checkIndexCopies, indexFiles, Volume } from "../lib/ltfs/volume.ts";
import { plannedTape } from "../lib/ltfs/write.ts";
import { DEFAULT_HASH_FORMAT, HASH_FORMATS, parseHashFormat } from "../lib/mhl/formats.ts";

const TOOL = "ltfs-pack";

// ---------------------------------------------------------------------------------------------
// plan

const plan = defineCommand({
  meta: { name: "plan", description: "Span folders over LTFS tapes: fewest tapes, no file split, each card/roll on one tape where it fits." },
  args: {
    src: { type: "positional", description: "Folders to plan (more may follow); the folders in each (cards, rolls) are kept together" },
    tape: { type: "string", required: true, description: `Tape: ${LTO_GENERATIONS.map((g) => g.name).join(", ")}, or the data partition's size in bytes (e.g. 10MiB)`, valueHint: "TAPE" },
    reserve: { type: "string", description: "Held back for indexes: a percentage or a size (default 5%, at least 100GB)", valueHint: "SIZE|PCT%" },
    links: { type: "enum", options: ["follow", "skip"], default: "follow", description: "Symbolic links: follow one to a file inside the source (as that file), or skip them all" },
    special: { type: "enum", options: ["fail", "skip"], default: "fail", description: "FIFOs, sockets and devices: each an error, or skipped" },
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
reported. Files are written in path order; empty folders go on tape too. OS
litter (.DS_Store, ._*, …) is left out. Output: a table on a terminal, plain
text otherwise, JSON with --json. Names are shown escaped (\\n, \\xHH, \\\\).

What a tape cannot hold as it is stops the plan, each named on stderr: a name
that is not valid UTF-8 (an LTFS index holds UTF-8 only), two names in one
folder that are one in NFC (LTFS compares names so), a folder that cannot be
read, a link that leaves the source or dangles, a FIFO, socket or device. Rename
or fix them and plan again, or leave links or special files out (--links skip,
--special skip: each one left out is noted on stderr).

Exit codes:
  0  the plan was made
  2  usage error, unknown command, a source or entry that cannot go on tape (no
     plan is made), or a file larger than a tape`;

async function runPlan(args: CommandArgs<typeof plan>): Promise<number> {
  const capacity = tapeCapacity(parseTape(args.tape), parseReserve(args.reserve));
  const out = new Output();
  const log = toolLog(`${TOOL} plan`, { output: out });
  const result = planTapes(args._, {
    capacity,
    links: args.links,
    special: args.special,
    onProblem: (problem) => log.error(`${showName(problem.path)}: ${problem.message}`),
    onSkipped: (skipped) => log.warn(`${showName(skipped.path)}: ${skipped.message}`),
  });
  if (args.json) out.data(`${JSON.stringify(planToJson(result), null, 2)}\n`);
  else if (process.stdout.isTTY) out.data(formatPlanTable(result, { color: !process.env.NO_COLOR }));
  else out.data(formatPlanText(result));
  out.flush();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// write

const write = defineCommand({
  meta: { name: "write", description: "Write one tape of a plan: a virtual tape (LTFS file-backend layout) or a mounted LTFS volume, hashing in flight." },
  args: {
    plan: { type: "positional", required: true, description: "The plan file (ltfs-pack plan --json)" },
    tape: { type: "string", required: true, description: "Which tape of the plan to write (1, 2, …)", valueHint: "N" },
    vtape: { type: "string", description: "Write a new LTFS volume into this folder (new or empty); give it again for each further copy", valueHint: "DIR" },
    mount: { type: "string", description: "Write through this mounted LTFS volume; give it again for each further copy", valueHint: "MOUNTPOINT" },
    serial: { type: "string", description: "Volume serial (barcode) per copy, comma-separated: 1-6 of A-Z, 0-9 (default CA0001, CB0001, … for tape 1)", valueHint: "S[,S…]" },
    copies: { type: "string", description: "How many copies to write; must match the --vtape/--mount given (a guard against a forgotten one)", valueHint: "N" },
    hash: { type: "string", description: `Digests to take in flight, comma-separated: ${HASH_FORMATS.join(", ")} (default xxh128)`, valueHint: "FORMAT[,…]" },
    json: { type: "boolean", description: "Print one JSON event per line (file, folder, failed, index, tape) instead of the summary" },
    progress: { type: "boolean", description: "Show progress on stderr" },
    flush: { type: "boolean", default: true, description: "Virtual tape: flush the file system before every index (--no-flush: never, as cp; a power cut before the system writes the data back may then lose the tape)" },
  },
});

const WRITE_EPILOGUE = `Each copy is a --vtape folder or a --mount point; give either option once per
copy. The sources are read again for every copy, and every copy must hash the same.
A copy that fails (a full drive, a folder not empty) is named and the others are
written all the same.

--vtape writes a complete LTFS 2.4 volume in the reference file backend's layout
(<partition>_<block>_R records, _F file marks, _E end of data), readable with
'ltfs -o tape_backend=file -o devname=DIR' and checked with 'ltfsck -e file DIR'.
Record files are readable by their owner only (0600).
--mount writes through a mounted LTFS volume in plan order, one file at a time,
and syncs the index (user.ltfs.sync) after a file set once the data since the
last sync is 20 times the index (taken as 1 KiB a file), and at the end; free
space is checked first, no existing file is replaced, nothing is written through
a symbolic link in the volume, and each file gets its source's permission bits
(less the umask; never setuid, setgid or sticky).

Sources are read only from inside the plan's source folders, never through a
link that leaves them: a plan naming a file elsewhere is refused.

Every file is hashed while it is written; digests go into the index as
attributes (ltfs.hash.md5sum, ltfs.hash.sha1sum, cartkit.hash.<format>). After
the files come an ASC MHL history (ascmhl/) and the tape's catalog entry
(${TAPE_CATALOG_FILE}), which also lists the files of the plan that could not be
written (verify fails on them). An index is written after each top-level folder,
so an interrupted write leaves a volume readable as of its last complete folder;
on a virtual tape, a folder's index is left out while it would take more than a
twentieth of the data written since the last one (an index lists every file so
far, so folders of many small files would fill the tape with indexes): then the
volume reads as of the last index written, and verify and catalog call it
unfinished.
On a virtual tape each index becomes part of the volume only after the file
system is flushed, so that holds through a power cut too (--no-flush flushes
nothing, as cp: then it holds for a killed process, not for a power cut).

Every source is looked at before the first copy and again after the last: one
that changed in between (replaced, resized, modified, or its change time moved)
is named, even when every copy had read it first, since a copy may hold it as
it was: write the tape again. A source that could not be looked at when the
write began, and is there at its end, is named too. A card on exFAT through
exfat-fuse (no change time of its own) or FAT through fusefat (no times moved by
a write) can hide a same-size rewrite whose times are put back; two copies find
one made between their reads.

Exit codes:
  0  every file was written to every copy, and no source changed meanwhile
  2  usage error, a plan or target that cannot be used, a copy that failed, or a
     source that could not be read, changed since the plan or while the tape
     was written (the others are written; the summary names it)`;

async function runWrite(args: CommandArgs<typeof write>, rawArgs: string[]): Promise<number> {
  const targets: CopyTarget[] = [...repeatedOption(rawArgs, "--vtape").map((dir) => ({ kind: "vtape" as const, dir })), ...repeatedOption(rawArgs, "--mount").map((dir) => ({ kind: "mount" as const, dir }))];
  if (targets.length === 0) throw usageError(`give --vtape DIR or --mount MOUNTPOINT; see '${TOOL} write --help'`);
  if (args.copies !== undefined && parseCount(args.copies, "--copies") !== targets.length) {
    throw usageError(`--copies ${args.copies} but ${targets.length} target(s) given; give one --vtape or --mount per copy`);
  }
  const tapeNumber = parseCount(args.tape, "--tape");
  const formats = args.hash === undefined ? [DEFAULT_HASH_FORMAT] : args.hash.split(",").map((f) => parseHashFormat(f.trim()));
  let text: string;
  try {
    guardWaitOn(args.plan);
    text = readFileSync(args.plan, "utf8");
  } catch (error) {
    throw new CliError(`cannot be read: ${describeSystemError(error)}`, { path: args.plan });
  }
  const planFile = readPlanFile(args.plan, text);
  const tape = plannedTape(planFile, tapeNumber);
  const serials = copySerials(args.serial, tapeNumber, targets.length);

  const out = new Output();
  const log = toolLog(`${TOOL} write`, { output: out });
  const json = args.json === true;
  let progress = new Progress({ enabled: false, totalFiles: 0, totalBytes: 0 });
  const { outcomes, changed } = await writeCopies(targets, {
    plan: planFile,
    tapeNumber,
    serials,
    formats,
    tool: { name: TOOL, version: VERSION },
    flush: args.flush !== false,
    onCopyStart: () => {
      progress = new Progress({ enabled: args.progress === true, totalFiles: tape.files.length, totalBytes: tape.bytes });
    },
    onEvent: (event, copy) => {
      if (event.event === "file") progress.fileDone(event.size);
      if (event.event === "failed" || event.event === "warning") {
        progress.clear();
        log.error(`${showLine(event.message)}`);
      }
      if (json) out.data(`${JSON.stringify({ ...event, serial: serials[copy] })}\n`);
      // An index event marks a consistent volume: let a watcher see it now.
      if (event.event === "index") out.flush();
    },
    onCopy: (outcome, copy) => {
      progress.finish();
      const { target, summary, error } = outcome;
      if (error) log.error(`${error.path !== undefined ? `${showName(error.path)}: ` : ""}${showLine(error.message)}`);
      if (summary && "isLtfs" in summary && !summary.isLtfs) log.warn(`${target.dir}: not an LTFS mount (no user.ltfs.volumeUUID); written as a plain folder, no index syncs`);
      for (const path of outcome.disagreements) {
        log.error(`${showName(path)}: hashes differently on copy ${copy + 1} than on the first copy; the source changed while the copies were written`);
      }
      if (json) {
        out.data(
          `${JSON.stringify({
            event: "tape",
            target: target.dir,
            kind: target.kind,
            serial: outcome.serial,
            volumeUuid: summary?.volumeUuid,
            files: summary?.files.length ?? 0,
            folders: summary?.folders.length ?? 0,
            bytes: summary?.bytes ?? 0,
            failed: summary?.failed.length ?? 0,
            generation: summary?.generation,
            ...(error ? { error: error.message } : {}),
            ...(outcome.disagreements.length > 0 ? { differ: outcome.disagreements } : {}),
          })}\n`,
        );
      } else out.data(`${describeCopy(outcome, tapeNumber, planFile.tapes.length)}\n`);
      out.flush();
    },
  });
  const notWritten = outcomes.filter((o) => !o.summary);
  if (notWritten.length > 0 && targets.length > 1) {
    log.error(`${notWritten.length} of ${targets.length} copies NOT written: ${notWritten.map((o) => o.target.dir).join(", ")}`);
  }
  for (const { source, what } of changed) log.error(`${showName(source)}: changed while the tape was written (${what}); a copy may hold it as it was before: write the tape again`);
  out.flush();
  const failures = outcomes.reduce((sum, o) => sum + (o.summary ? o.summary.failed.length : 1) + o.disagreements.length, 0) + changed.length;
  return failures > 0 ? 2 : 0;
}

// ---------------------------------------------------------------------------------------------
// verify

const verify = defineCommand({
  meta: { name: "verify", description: "Re-read every file of a tape in start-block order and compare with the tape's ASC MHL." },
  args: {
    vtape: { type: "string", description: "The virtual tape to verify", valueHint: "DIR" },
    mount: { type: "string", description: "The mounted LTFS volume to verify", valueHint: "MOUNTPOINT" },
    json: { type: "boolean", description: "Print one JSON result per file" },
    progress: { type: "boolean", description: "Show progress on stderr" },
  },
});

const VERIFY_EPILOGUE = `Reads every file of the tape in start-block order (the order a drive streams
best), hashes it, and compares with the tape's ASC MHL (ascmhl/, its latest
generation, whose C4 is checked against the chain) and with the digests in the
index. The bytes read must be as many as the index (or the file system), the MHL
and the tape's plan (${TAPE_CATALOG_FILE}) each say; every file the plan could
not write is a failure, and every folder the tape records must be there. A
virtual tape is read through its latest index by ltfs-pack itself, and both
copies of that index (index and data partition) must read and agree; a mount is
read through the file system, ordered by user.ltfs.startblock.

Output: one line on stdout, 'verified …' or 'FAILED …' (one JSON object per file
with --json); each failure on stderr, names escaped.

Exit codes:
  0  every file read back and matched the tape's MHL
  1  a file differed, could not be read, was missing or never written, had no
     digest recorded; a damaged index copy; no MHL on the tape; or a record
     file of a virtual tape is a symbolic link or not a regular file (never
     followed or read)
  2  usage error, or not a readable LTFS tape`;

const STATUS: Record<VerifyResult["status"], string> = {
  ok: "OK",
  mismatch: "MISMATCH",
  missing: "MISSING",
  unreadable: "UNREADABLE",
  unrecorded: "UNRECORDED",
  "not-written": "NOT WRITTEN",
};

async function runVerify(args: CommandArgs<typeof verify>): Promise<number> {
  const { vtape, mount } = args;
  if ((vtape === undefined) === (mount === undefined)) throw usageError(`give one of --vtape DIR or --mount MOUNTPOINT; see '${TOOL} verify --help'`);
  const out = new Output();
  const log = toolLog(`${TOOL} verify`, { output: out });
  const json = args.json === true;
  const onResult = (result: VerifyResult) => {
    if (json) out.data(`${JSON.stringify(result)}\n`);
    if (result.status === "ok") return;
    const detail = result.mismatches?.map((m) => `${m.format} ${m.found}, ${m.source === "mhl" ? "the MHL" : "the index"} says ${m.expected}`).join("; ");
    log.error(`${showName(result.path)}: ${STATUS[result.status]}${detail ? `: ${detail}` : ""}${result.message ? ` (${showLine(result.message)})` : ""}`);
  };
  const target = vtape ?? mount!;
  let progress: Progress | undefined;
  const hooks = {
    onStart: (files: number, bytes: number) => {
      progress = new Progress({ enabled: args.progress === true, totalFiles: files, totalBytes: bytes });
    },
    onResult: (result: VerifyResult) => {
      if (result.status !== "missing" && result.status !== "not-written") progress?.fileDone(result.size ?? 0);
      if (result.status !== "ok") progress?.clear();
      onResult(result);
    },
  };
  const summary = vtape !== undefined ? await verifyVtape(vtape, hooks) : await verifyMount(target, hooks);
  progress?.finish();
  for (const problem of summary.problems) log.error(`${showLine(problem)}`);
  if (!summary.mhl) log.warn(`${target}: no ASC MHL on the tape (ascmhl/); compared with the index's digests only`);
  const verdict = verifyVerdict(target, summary);
  if (!json) out.data(`${verdict.line}\n`);
  out.flush();
  return verdict.code;
}

// ---------------------------------------------------------------------------------------------
// index

const index = defineCommand({
  meta: { name: "index", description: "Print a tape's latest LTFS index, or check it." },
  args: {
    source: { type: "positional", required: false, description: "An index XML file (or give --vtape)" },
    vtape: { type: "string", description: "Read the latest index of this virtual tape", valueHint: "DIR" },
    check: { type: "boolean", description: "Check the index instead of printing it: names, UIDs, extents, version, UUID, times" },
  },
});

const INDEX_EPILOGUE = `Prints the latest index of a virtual tape (or an index XML file) as stored.
With --check, prints instead each problem found, one per line, as 'path: problem'
(names escaped): names unique per folder, ≤ 255 bytes, without '/' or NUL; file
UIDs unique and not above highestfileuid; extents within the file's length and
(for a virtual tape) inside the blocks written; version 2.4.0; a lowercase UUID;
valid times. For a virtual tape, also that the last index on each partition
reads, and that the data partition's copy of the latest index is the index
partition's.

Exit codes:
  0  printed, or checked and sound
  1  --check found problems, or a label or index record of the virtual tape
     is a symbolic link or not a regular file (never followed or read)
  2  usage error, or not a readable index or tape`;

async function runIndex(args: CommandArgs<typeof index>): Promise<number> {
  const { vtape, source: file } = args;
  if ((vtape === undefined) === (file === undefined)) throw usageError(`give --vtape DIR or an index XML file; see '${TOOL} index --help'`);
  const out = new Output();
  const log = toolLog(`${TOOL} index`, { output: out });
  const problems: IndexProblem[] = [];
  const options: IndexCheckOptions = {};
  let found: { xml: string; index: LtfsIndex };
  if (vtape !== undefined) {
    const volume = Volume.open(vtape);
    found = volume.latest;
    options.blockSize = volume.label.blockSize;
    options.writtenBlocks = { [volume.label.dataPartition]: volume.dataEnd.block, [volume.label.indexPartition]: volume.tape.endOfData(0).block };
    if (args.check) problems.push(...checkIndexCopies(volume));
  } else found = readIndexFile(file!);
  if (!args.check) {
    out.data(found.xml.endsWith("\n") ? found.xml : `${found.xml}\n`);
    out.flush();
    return 0;
  }
  problems.unshift(...checkIndex(found.index, options));
  for (const problem of problems) out.data(`${showName(problem.path)}: ${showLine(problem.message)}\n`);
  const generation = found.index.generationNumber;
  if (problems.length === 0) log.info(`${vtape ?? file}: index generation ${generation} is sound (${indexFiles(found.index.root).length} files)`);
  else log.error(`${vtape ?? file}: ${problems.length} problem(s) in index generation ${generation}`);
  out.flush();
  return problems.length > 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// catalog

const catalog = defineCommand({
  meta: { name: "catalog", description: "Build an offline catalog (JSON and one static HTML page) of tapes: virtual tapes, mounts or saved index XML." },
  args: {
    tapes: { type: "positional", description: "Virtual tape folders, LTFS mount points or index XML files" },
    output: { type: "string", alias: "o", required: true, description: "Folder for catalog.json and index.html (created; existing files are replaced only with --force)", valueHint: "DIR" },
    force: { type: "boolean", description: "Replace catalog.json and index.html in the output folder" },
  },
});

const CATALOG_EPILOGUE = `Reads each tape — a virtual tape folder (its latest index), a mounted LTFS
volume (a walk, with digests and start blocks from LTFS's attributes) or a saved
index XML file — and writes to the output folder:
  catalog.json  one record per file: tape serial, path, size, digests, start block
  index.html    one self-contained page: search by name, path or digest (all
                words must match; the search is kept in the address as #q=…),
                which tape(s) hold each file, and a fill bar per tape
The tapes' own ascmhl/ and ${TAPE_CATALOG_FILE} are left out. Each tape is
marked complete (written to its end with every file of its plan), incomplete
(files of its plan not written, its write never finished, or files it wrote
gone or changed since: size, digest attribute or, on LTFS, modification time
unlike its catalog entry's; named on stderr and on the page) or unknown (a saved
index, or a tape not written by ltfs-pack). No file data is read: verify reads it.
A virtual tape whose two copies of its latest index disagree, or one of whose
indexes does not read, is named as damaged: verify it before trusting its records.

Exit codes:
  0  the catalog was written, and no tape in it is incomplete or damaged
  1  the catalog was written, and a tape in it is incomplete or damaged
  2  usage error, a tape that cannot be read, two tapes with one serial, or
     catalog files already in the folder (give --force to replace them)`;

async function runCatalog(args: CommandArgs<typeof catalog>): Promise<number> {
  const dir = args.output;
  const catalogData = buildCatalog(args._);
  mkdirSync(dir, { recursive: true });
  const overwrite = args.force === true;
  for (const name of ["catalog.json", "index.html"]) {
    if (!overwrite && existsSync(join(dir, name))) throw new CliError("already exists; give --force to replace it", { path: join(dir, name) });
  }
  writeFileAtomically(join(dir, "catalog.json"), `${JSON.stringify(catalogData, null, 1)}\n`, { overwrite });
  writeFileAtomically(join(dir, "index.html"), catalogHtml(catalogData), { overwrite });
  const out = new Output();
  const log = toolLog(`${TOOL} catalog`, { output: out });
  for (const tape of catalogData.tapes) {
    out.data(`${tape.serial}\t${tape.kind}\t${tape.files} files\t${tape.bytes} bytes\t${tape.source}\n`);
    for (const problem of tape.indexProblems ?? []) log.error(`${tape.source}: tape ${tape.serial}: INDEX DAMAGED: ${showLine(problem)}; verify it`);
    if (tape.status !== "incomplete") continue;
    const missing = [...(tape.notWritten ?? []).map((f) => showName(f.path)), ...(tape.changed ?? []).map((f) => `${showName(f.path)} (${f.reason})`)];
    log.error(`${tape.source}: tape ${tape.serial} is INCOMPLETE: ${tape.note}${missing.length > 0 ? `: ${missing.join(", ")}` : ""}`);
  }
  const flagged = catalogData.tapes.filter((t) => t.status === "incomplete" || (t.indexProblems?.length ?? 0) > 0).length;
  log.info(`catalog of ${catalogData.tapes.length} tape(s), ${catalogData.files.length} files${flagged > 0 ? `, ${flagged} tape(s) incomplete or damaged` : ""}: ${join(dir, "catalog.json")}, ${join(dir, "index.html")}`);
  out.flush();
  return flagged > 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------

const EPILOGUE = `Commands: plan, write, verify, index, catalog. Run '${TOOL} COMMAND --help' for
each command's options and exit codes.

Exit codes: 0 done and every check passed; 1 a verification or index check
failed; 2 usage error, unknown command, or input that cannot be read.`;

await runTool({
  command: defineCommand({ meta: { name: TOOL, version: VERSION, description: "Plan, write, verify and catalog LTFS tapes of camera cards." } }),
  epilogue: EPILOGUE,
  subCommands: {
    plan: { command: plan, operands: "SRC... --tape TAPE", epilogue: PLAN_EPILOGUE, main: runPlan },
    write: { command: write, operands: "PLAN --tape N (--vtape DIR | --mount MOUNTPOINT)...", epilogue: WRITE_EPILOGUE, main: runWrite },
    verify: { command: verify, operands: "--vtape DIR | --mount MOUNTPOINT", epilogue: VERIFY_EPILOGUE, main: runVerify },
    index: { command: index, operands: "[INDEX.xml | --vtape DIR]", epilogue: INDEX_EPILOGUE, main: runIndex },
    catalog: { command: catalog, operands: "TAPE... -o DIR", epilogue: CATALOG_EPILOGUE, main: runCatalog },
  },
});
