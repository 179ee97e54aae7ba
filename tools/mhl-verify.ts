#!/usr/bin/env bun
/**
 * mhl-verify — ASC MHL v2.0 histories, a drop-in for the reference `ascmhl`: same commands,
 * arguments, files and exit codes (`create`, `verify`, `diff`, `info`, `flatten`), plus
 * parallel hashing, progress and JSON output.
 */
// First: a run of many files restarts before the rest is loaded.
import "../lib/cli/restart_first.ts";
import { existsSync, statSync } from "node:fs";
import { defineCommand, type ArgsDef, type ParsedArgs } from "citty";
import { CliError, usageError } from "../lib/core/errors.ts";
import { rewriteArgs, runTool } from "../lib/cli/run.ts";
import { programArgs } from "../lib/cli/command_line.ts";
import { progressFor } from "../lib/cli/progress.ts";
import { Output } from "../lib/cli/output.ts";
import { parseCount } from "../lib/core/units.ts";
import { createGeneration } from "../lib/mhl/create.ts";
import { EXIT_CODE_HELP, mhlError, MhlExit } from "../lib/mhl/exit_codes.ts";
import { flattenHistory } from "../lib/mhl/flatten.ts";
import { DEFAULT_HASH_FORMAT, HASH_FORMATS, parseHashFormat } from "../lib/mhl/formats.ts";
import { historyRootAbove, showInfo } from "../lib/mhl/info.ts";
import { LEGACY_HASH_TYPES } from "../lib/mhl/legacy.ts";
import { createLegacyFile, isLegacyMhlFile, verifyLegacyFile } from "../lib/mhl/legacy_commands.ts";
import { MhlLog } from "../lib/mhl/log.ts";
import { verifyDirectoryHashes } from "../lib/mhl/directory_verify.ts";
import { verifyFolder } from "../lib/mhl/verify.ts";
import { VERSION } from "../lib/core/version.ts";
import { fsPath, isUtf8Name, resolvePath } from "../lib/core/names.ts";

const TOOL = "mhl-verify";

const ARGS = {
  hash_format: { type: "string", description: `-h: hash format, repeatable (create; default ${DEFAULT_HASH_FORMAT}): ${HASH_FORMATS.join(", ")}`, valueHint: "FORMAT" },
  no_directory_hashes: { type: "boolean", description: "-n: no directory hashes, only directory entries (create, flatten)" },
  detect_renaming: { type: "boolean", description: "-dr: detect renamed files and folders (create)" },
  legacy: { type: "boolean", description: "create: write one legacy MHL v1.1 file ROOT/<root>_<YYYY-MM-DD>_<HHMMSS>.mhl instead (-h md5, sha1, xxh64; default xxh64)" },
  single_file: { type: "string", description: "-sf: only this file, repeatable for create and info", valueHint: "PATH" },
  ignore: { type: "string", description: "-i: a pattern to ignore (gitwildmatch), repeatable", valueHint: "PATTERN" },
  ignore_spec: { type: "string", description: "-ii: a file of patterns to ignore", valueHint: "FILE" },
  directory_hash: { type: "boolean", description: "-dh: verify directory hashes only (verify)" },
  calculate_only: { type: "boolean", description: "-co: with -dh, print hashes without comparing" },
  root_only: { type: "boolean", description: "-ro: with -dh, the root folder only" },
  packing_list: { type: "string", description: "-pl: verify against an external packing list", valueHint: "FILE" },
  author_name: { type: "string", description: "<author> name (create, flatten)" },
  author_email: { type: "string", description: "<author> email" },
  author_phone: { type: "string", description: "<author> phone" },
  author_role: { type: "string", description: "<author> role" },
  location: { type: "string", description: "<location> of <creatorinfo>" },
  comment: { type: "string", description: "<comment> of <creatorinfo>" },
  links: { type: "string", description: "create, verify, diff: symbolic links: follow (default; a link to a file inside ROOT counts as that file) or skip; a link that leaves ROOT is never followed", valueHint: "follow|skip" },
  special: { type: "string", description: "create, verify, diff: FIFOs, sockets, devices: fail (default; each named, exit non-zero) or skip", valueHint: "fail|skip" },
  verbose: { type: "boolean", description: "-v: print every file and folder, as ascmhl -v" },
  jobs: { type: "string", description: "-j: files hashed in parallel, output unchanged; 1: a single thread (default: files under 2 MiB in md5, sha1 or c4 in batches on every core, larger ones one at a time, read ahead; xxh64, xxh3, xxh128 on one thread)", valueHint: "N" },
  json: { type: "boolean", description: "one JSON object per event on stdout" },
  progress: { type: "boolean", description: "progress on stderr (default: when stderr is a terminal)" },
} as const satisfies ArgsDef;

type Args = ParsedArgs<typeof ARGS>;

const command = defineCommand({
  meta: { name: TOOL, version: VERSION, description: "Create and verify ASC MHL v2.0 histories (ascmhl-compatible).\n\nUsage: mhl-verify [create|verify|diff|info|flatten] ROOT [DEST] [options]" },
  args: ARGS,
});

const EPILOGUE = `Commands (verify is the default):
  create ROOT       hash ROOT and write a new generation into ROOT/ascmhl
                    (and into every nested history); later generations verify
  verify ROOT       hash every file and compare with its original hash; -dh
                    for directory hashes; -pl FILE against a packing list
  diff ROOT         compare names only: missing and new files, no hashing
  info ROOT         generations of the history; -sf FILE: a file's hashes
  flatten ROOT DEST one packing list of all files and formats in
                    DEST/collection_<date>/

Legacy MHL v1.0/v1.1 (<hashlist version="1.x">):
  verify FILE.mhl   hash every file the list names, relative to its folder
                    (md5, sha1, xxhash, xxhash64, xxhash64be); unlisted files
                    are not errors; exit 0, 10 missing, 11 mismatch
  create ROOT --legacy [-h md5|sha1|xxh64]
                    seal ROOT into ROOT/<root>_<YYYY-MM-DD>_<HHMMSS>.mhl (local
                    time) for software that reads only v1.1; xxh64 is written
                    as <xxhash64be>; c4, xxh3, xxh128 are refused

Information and -v lines go to stdout, errors to stderr, as ascmhl prints them
(with --json, stdout holds only the events). Names are shown escaped.
A link that leaves ROOT is never followed; names that are not UTF-8 cannot be
recorded in ASC MHL and are refused by name (exit 2 after the generation is
written). Names are compared exactly, in NFC only for a recorded name missing
from the disk.

Generation files are named NNNN_<root>_<YYYY-MM-DD>_<HHMMSS>Z.mhl and listed with
their C4 in ascmhl/ascmhl_chain.xml. Default ignore patterns: .DS_Store, ascmhl,
ascmhl/ (a history keeps the patterns of its latest generation).
Set CARTKIT_MHL_NOW (e.g. 2020-01-17T14:30:00Z) and CARTKIT_MHL_HOSTNAME to
write reproducible generations.

${EXIT_CODE_HELP}`;

const STRING_OPTIONS = new Set(["links", "special", "hash_format", "single_file", "ignore", "ignore_spec", "packing_list", "author_name", "author_email", "author_phone", "author_role", "location", "comment", "jobs"]);
const SHORT: Record<string, string> = {
  "-h": "hash_format",
  "-n": "no_directory_hashes",
  "-dr": "detect_renaming",
  "-sf": "single_file",
  "-i": "ignore",
  "-ii": "ignore_spec",
  "-dh": "directory_hash",
  "-co": "calculate_only",
  "-ro": "root_only",
  "-pl": "packing_list",
  "-v": "verbose",
  "-j": "jobs",
};

/** Values `-h` takes: ASC MHL v2 formats and, for `create --legacy`, the legacy names. */
const HASH_NAMES: readonly string[] = [...HASH_FORMATS, ...LEGACY_HASH_TYPES, "xxh32"];

/** The reference's multi-letter short options (`-dr`, `-sf`, `-ii` …) and `--opt value` as `--opt=value`. */
function normalizeArgs(raw: string[]): string[] {
  return rewriteArgs(raw, (arg, cursor) => {
    // `-h` is the hash format when a format follows, as in ascmhl; alone it asks for help.
    if (arg === "-h" && !HASH_NAMES.includes(cursor.peek()?.toLowerCase() ?? "")) return ["--help"];
    const long = SHORT[arg] ?? (arg.startsWith("--") && !arg.includes("=") ? arg.slice(2) : undefined);
    if (long !== undefined && STRING_OPTIONS.has(long)) return [`--${long}=${cursor.take()}`];
    if (long !== undefined && SHORT[arg]) return [`--${long}`];
    return [arg];
  });
}

/** Every value given for a string option (they may repeat). */
function allValues(args: string[], name: string): string[] {
  const prefix = `--${name}=`;
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).filter((a) => a.startsWith(prefix)).map((a) => a.slice(prefix.length));
}

const COMMANDS = new Set(["create", "verify", "diff", "info", "flatten"]);

async function main(args: Args, raw: string[]): Promise<number> {
  const positional = args._.slice();
  const commandName = positional.length > 0 && COMMANDS.has(positional[0]!) ? positional.shift()! : "verify";
  const log = new MhlLog({ output: new Output(), verbose: Boolean(args.verbose), json: Boolean(args.json) });
  const jobs = args.jobs === undefined ? undefined : parseCount(args.jobs, "--jobs");
  const progress = progressFor(args.progress === undefined ? Boolean(process.stderr.isTTY) : Boolean(args.progress));
  const ignore = allValues(raw, "ignore");
  const ignoreFile = args.ignore_spec === undefined ? undefined : args.ignore_spec;
  const creator = {
    author: [args.author_name, args.author_email, args.author_phone, args.author_role].some((v) => v !== undefined) ? { name: args.author_name, email: args.author_email, phone: args.author_phone, role: args.author_role } : undefined,
    location: args.location,
    comment: args.comment,
  };
  const links = args.links === undefined ? "follow" : args.links;
  if (links !== "follow" && links !== "skip") throw usageError(`--links: '${links}' is not one of follow, skip`);
  const special = args.special === undefined ? "fail" : args.special;
  if (special !== "fail" && special !== "skip") throw usageError(`--special: '${special}' is not one of fail, skip`);
  const singleFiles = allValues(raw, "single_file");
  // `info -sf FILE` without ROOT: the history above the file, as the reference finds it.
  if (commandName === "info" && positional.length === 0 && singleFiles.length > 0) {
    for (const file of singleFiles) if (!existsSync(fsPath(file))) throw new CliError("No such file or directory", { path: file });
    positional.push(historyRootAbove(singleFiles[0]!));
  }
  const want = commandName === "flatten" ? 2 : 1;
  if (positional.length !== want) throw usageError(`${commandName} needs ${want === 2 ? "ROOT and DEST" : "ROOT"}; see '${TOOL} --help'`);
  const given = positional[0]!;
  if (!existsSync(fsPath(given))) throw new CliError("No such file or directory", { path: given });
  const root = resolvePath(given);
  if (!isUtf8Name(root)) throw new CliError("a path that is not UTF-8 cannot hold an ASC MHL history (the format names and finds it by UTF-8 text); rename the folder", { path: given });
  // A ROOT that is a file (and not a legacy MHL) has no history, as the reference says (30).
  const isFolder = statSync(fsPath(root)).isDirectory();
  if (ignoreFile !== undefined && !existsSync(ignoreFile)) throw new CliError("No such file or directory", { path: ignoreFile });

  try {
    switch (commandName) {
      case "create": {
        if (args.legacy) {
          if (!statSync(fsPath(root)).isDirectory()) throw new CliError("Not a directory", { path: given });
          for (const [option, flag] of [
            ["detect_renaming", "-dr"],
            ["single_file", "-sf"],
            ["no_directory_hashes", "-n"],
          ] as const) {
            if (args[option]) throw usageError(`${flag} does not apply to create --legacy`);
          }
          await createLegacyFile(root, { formats: allValues(raw, "hash_format"), authorName: args.author_name, ignore, ignoreFile, jobs, progress, links, special }, log);
          break;
        }
        const formats = allValues(raw, "hash_format").map(parseHashFormat);
        await createGeneration(
          root,
          {
            ...creator,
            formats: formats.length > 0 ? formats : [DEFAULT_HASH_FORMAT],
            noDirectoryHashes: Boolean(args.no_directory_hashes),
            detectRenaming: Boolean(args.detect_renaming),
            singleFiles,
            ignore,
            ignoreFile,
            jobs,
            progress,
            links,
            special,
          },
          log,
        );
        break;
      }
      case "verify": {
        if (isLegacyMhlFile(root)) {
          for (const [option, flag] of [
            ["directory_hash", "-dh"],
            ["single_file", "-sf"],
            ["packing_list", "-pl"],
          ] as const) {
            if (args[option] !== undefined && args[option] !== false) throw usageError(`${flag} does not apply to a legacy MHL file`);
          }
          await verifyLegacyFile(given, { jobs, progress }, log);
          break;
        }
        if (!isFolder) throw mhlError(MhlExit.NoHistory, root);
        if (args.directory_hash) {
          const format = args.hash_format === undefined ? undefined : parseHashFormat(args.hash_format);
          await verifyDirectoryHashes(root, { format, ignore, ignoreFile, calculateOnly: Boolean(args.calculate_only), rootOnly: Boolean(args.root_only), jobs, progress }, log);
          break;
        }
        const singleFile = args.single_file === undefined ? undefined : args.single_file;
        const packingList = args.packing_list === undefined ? undefined : args.packing_list;
        if (packingList !== undefined && !existsSync(packingList)) throw new CliError("No such file or directory", { path: packingList });
        await verifyFolder(root, { singleFile, packingList, ignore, ignoreFile, jobs, progress, links, special }, log);
        break;
      }
      case "diff":
        if (!isFolder) throw mhlError(MhlExit.NoHistory, root);
        await verifyFolder(root, { ignore, ignoreFile, namesOnly: true, links, special }, log);
        break;
      case "info":
        if (!isFolder) throw mhlError(MhlExit.NoHistory, root);
        await showInfo(root, singleFiles, log);
        break;
      case "flatten":
        await flattenHistory(root, resolvePath(positional[1]!), { ...creator, ignore, ignoreFile }, log);
        break;
    }
  } finally {
    log.flush();
  }
  return MhlExit.Ok;
}

await runTool({ command, operands: "[create|verify|diff|info|flatten] ROOT [DEST]", epilogue: EPILOGUE, main: (args, raw) => main(args, raw) }, () => normalizeArgs(programArgs()));
