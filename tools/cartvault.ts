#!/usr/bin/env bun
/**
 * cartvault — versions and branches of a project without copying it: a content-addressed
 * store (objects named by BLAKE3, each with its size and XXH128), immutable commits, branches
 * as tiny refs changed by compare-and-swap, three-way merges at file level, checkouts by
 * reflink or copy with an ASC MHL generation, and a verify that hashes everything again.
 */
// First: a run of many files restarts before the rest is loaded.
import "../lib/cli/restart_first.ts";
import { writeSync } from "node:fs";
import { defineCommand, type ArgsDef } from "citty";
import { Output } from "../lib/cli/output.ts";
import { progressFor } from "../lib/cli/progress.ts";
import { runTool } from "../lib/cli/run.ts";
import { commandOperand, programArgs } from "../lib/cli/command_line.ts";
import { CliError, ExitCode, usageError } from "../lib/core/errors.ts";
import { baseOf, showName } from "../lib/core/names.ts";
import { formatBytes, parseCount } from "../lib/core/units.ts";
import { VERSION } from "../lib/core/version.ts";
import { checkout, checkoutExitCode, LINK_MODES, type LinkMode } from "../lib/vault/checkout.ts";
import { diffTrees } from "../lib/vault/diff.ts";
import { usage } from "../lib/vault/du.ts";
import { collectGarbage } from "../lib/vault/gc.ts";
import { history, HeaderCache } from "../lib/vault/history.ts";
import { IMPORT_MODES, type ImportMode } from "../lib/vault/import.ts";
import { shortId } from "../lib/vault/layout.ts";
import { mergeInto } from "../lib/vault/merge_command.ts";
import { catObject } from "../lib/vault/read.ts";
import { changeJson, changeLine, checkoutFailures, conflictJson, conflictLine, count, entryJson, findingText, headerJson, logText, lsLine, usageText, verifySummaryLine } from "../lib/vault/report.ts";
import { snapshot } from "../lib/vault/snapshot.ts";
import { Vault } from "../lib/vault/store.ts";
import { findingPath, verifyVault } from "../lib/vault/verify.ts";

const TOOL = "cartvault";
/** What its lines on stderr start with: the tool and the command, as errors are printed. */
let prefix = TOOL;
const json = { type: "boolean", description: "Print JSON on stdout (one object, or one per line for lists)" } as const;
const store = { type: "positional", description: "The vault (a folder made by 'cartvault init')" } as const;
const progress = { type: "boolean", description: "Show progress on stderr (default: when stderr is a terminal)" } as const;

const EXIT_CODES = `Exit codes:
  0  done; every check passed
  1  a verification failed: a damaged or missing object, commit or branch; a merge
     with conflicts (nothing written); a copy that read back differently; a checkout
     whose folder changed meanwhile (a file moved or replaced, an entry that appeared)
  2  usage error, unreadable input, a refused path or store file, an entry of SRC
     that could not be included, a branch that moved meanwhile (nothing changed)`;

/** The sub-commands: definition, what --help adds, and the work. */
const COMMANDS: Record<string, { args: ArgsDef; usage: string; description: string; run: (a: Record<string, unknown>, out: Output) => Promise<number> }> = {
  init: {
    usage: "init STORE",
    description: "Make a new vault in a new or empty folder.",
    args: { store, json },
    run: async (a, out) => {
      Vault.init(String(a.store)).close();
      if (a.json) out.data(`${JSON.stringify({ vault: a.store })}\n`);
      else out.error(`${prefix}: made an empty vault in ${showName(String(a.store))}`);
      return 0;
    },
  },
  commit: {
    usage: "commit STORE SRC [--branch main] [-m MSG] [--import auto|reflink|hardlink|copy] [--read-all]",
    description:
      "Snapshot SRC as a new commit on a branch (made if new); prints the commit id. Unchanged files known to the stat cache are not read where SRC's file system keeps a real change time (ext4, XFS, Btrfs, tmpfs, ZFS, F2FS, bcachefs; elsewhere, e.g. exFAT, FAT, FUSE, NFS, every file is read); content the vault has is not stored again.",
    args: {
      store,
      src: { type: "positional", description: "The folder to commit" },
      branch: { type: "string", description: "Branch to commit to (default main)", valueHint: "NAME" },
      message: { type: "string", alias: "m", description: "What this commit is", valueHint: "MSG" },
      import: {
        type: "string",
        description: "How files come in: auto (reflink where SRC and the vault share a file system that can, else copy), reflink, hardlink (SRC's files become the objects, read-only; only files of the user cartvault runs as that no group or other may write), copy (read back from the device)",
        valueHint: "MODE",
      },
      links: { type: "string", description: "Links in SRC: follow (a link to a file inside SRC is that file; one that leaves SRC fails) or skip", valueHint: "POLICY" },
      special: { type: "string", description: "FIFOs, sockets and devices in SRC: fail (named, exit 2) or skip", valueHint: "POLICY" },
      jobs: { type: "string", description: "Files copied at once with --import copy (default 4)", valueHint: "N" },
      "read-all": { type: "boolean", description: "Read every file, whatever the stat cache says (the cache is only used where SRC is on ext4, XFS, Btrfs, tmpfs, ZFS, F2FS or bcachefs, whose change time is real)" },
      progress,
      json,
    },
    run: async (a, out) => {
      const mode = choice(a.import, IMPORT_MODES, "auto", "--import") as ImportMode;
      const links = choice(a.links, ["follow", "skip"], "follow", "--links") as "follow" | "skip";
      const special = choice(a.special, ["fail", "skip"], "fail", "--special") as "fail" | "skip";
      const vault = open(a);
      const src = required(a.src, "SRC");
      const result = await snapshot(vault, src, {
        branch: String(a.branch ?? "main"),
        message: String(a.message ?? `snapshot of ${baseOf(src)}`),
        mode,
        links,
        special,
        jobs: a.jobs === undefined ? undefined : parseCount(String(a.jobs), "--jobs"),
        readAll: Boolean(a["read-all"]),
        onNote: (line) => out.error(`${prefix}: ${line}`),
        onProblem: (path, message) => out.error(`${prefix}: ${showName(path)}: ${message}`),
        progress: progressFor(Boolean(a.progress ?? process.stderr.isTTY)),
      });
      if (a.json) out.data(`${JSON.stringify(result)}\n`);
      else out.data(`${result.id}\n`);
      const stored = `${count(result.read.files)} file(s) read, ${count(result.stored.files)} new object(s) stored (${formatBytes(result.stored.bytes)})${result.mode === "none" ? "" : ` by ${result.mode}`}`;
      out.error(result.unchanged ? `${prefix}: nothing changed since ${shortId(result.id)} on '${result.branch}'; no commit made (${stored})` : `${prefix}: committed ${count(result.files)} files (${formatBytes(result.bytes)}) to '${result.branch}' as ${shortId(result.id)}; ${stored}`);
      return 0;
    },
  },
  branch: {
    usage: "branch STORE NAME [--from REF]",
    description: "Make a branch naming a commit (default: main's). No file data is touched.",
    args: { store, name: { type: "positional", description: "The new branch" }, from: { type: "string", description: "Branch, commit id or unique prefix (default main)", valueHint: "REF" }, json },
    run: async (a, out) => {
      const vault = open(a);
      const name = required(a.name, "NAME");
      const from = vault.resolve(String(a.from ?? "main"));
      vault.createBranch(name, from.id);
      if (a.json) out.data(`${JSON.stringify({ branch: name, commit: from.id })}\n`);
      else out.data(`${from.id}\n`);
      out.error(`${prefix}: branch '${name}' made at ${shortId(from.id)}${from.branch ? ` ('${from.branch}')` : ""}`);
      return 0;
    },
  },
  branches: {
    usage: "branches STORE",
    description: "List the branches and the commit each names.",
    args: { store, json },
    run: async (a, out) => {
      const vault = open(a);
      let bad = 0;
      for (const b of vault.listBranches((relative, message) => {
        bad++;
        out.error(`${prefix}: ${showName(vault.pathOf(relative))}: ${message}`);
      })) {
        out.data(a.json ? `${JSON.stringify({ branch: b.name, commit: b.id })}\n` : `${b.name}\t${b.id}\n`);
      }
      return bad > 0 ? ExitCode.VerifyFailed : 0;
    },
  },
  log: {
    usage: "log STORE [REF]",
    description: "The history of a branch or commit (default main), newest first.",
    args: { store, ref: { type: "positional", required: false, description: "Branch, commit id or prefix" }, json },
    run: async (a, out) => {
      const vault = open(a);
      const start = vault.resolve(String(a.ref ?? "main"));
      const names = new Map<string, string[]>();
      for (const b of vault.listBranches()) names.set(b.id, [...(names.get(b.id) ?? []), b.name]);
      for await (const c of history(vault, [start.id], new HeaderCache(vault))) {
        out.data(a.json ? `${JSON.stringify(headerJson(c, names.get(c.id) ?? []))}\n` : logText(c, names.get(c.id) ?? []));
      }
      return 0;
    },
  },
  ls: {
    usage: "ls STORE REF [PATH]",
    description: "The files of a commit (under PATH): mode, size, object id, path.",
    args: { store, ref: { type: "positional", description: "Branch, commit id or prefix" }, path: { type: "positional", required: false, description: "A file or folder of the commit" }, json },
    run: async (a, out) => {
      const vault = open(a);
      const commit = await commitAt(vault, a.ref, "REF");
      const under = a.path === undefined ? undefined : String(a.path).replace(/\/+$/, "");
      const entries = under === undefined || under === "" || under === "." ? commit.entries : commit.entries.filter((e) => e.path === under || e.path.startsWith(`${under}/`));
      if (under && entries.length === 0) throw new CliError(`no file or folder '${showName(under)}' in commit ${shortId(commit.id)}`, { path: vault.path });
      for (const e of entries) out.data(a.json ? `${JSON.stringify(entryJson(e))}\n` : lsLine(e));
      return 0;
    },
  },
  cat: {
    usage: "cat STORE REF PATH",
    description: "A file's bytes on stdout, checked against its id first (--json: what the file is, without its bytes).",
    args: { store, ref: { type: "positional", description: "Branch, commit id or prefix" }, path: { type: "positional", description: "A file of the commit" }, json },
    run: async (a, out) => {
      const vault = open(a);
      const commit = await commitAt(vault, a.ref, "REF");
      const path = required(a.path, "PATH");
      const entry = commit.entries.find((e) => e.path === path || e.path === path.normalize("NFC"));
      if (!entry) throw new CliError(`no file '${showName(path)}' in commit ${shortId(commit.id)}`, { path: vault.path });
      if (a.json) {
        out.data(`${JSON.stringify({ ...entryJson(entry), xxh128: vault.readRecord(entry.id)?.xxh128 ?? null })}\n`);
        return 0;
      }
      out.flush();
      await catObject(vault, entry, (chunk) => {
        for (let at = 0; at < chunk.length; ) at += writeSync(1, chunk, at, chunk.length - at);
      });
      return 0;
    },
  },
  diff: {
    usage: "diff STORE REF1 REF2",
    description: "What changed from REF1 to REF2: A added, D removed, M modified, R renamed (same content, new path).",
    args: { store, from: { type: "positional", description: "Branch, commit id or prefix" }, to: { type: "positional", description: "Branch, commit id or prefix" }, json },
    run: async (a, out) => {
      const vault = open(a);
      const before = await commitAt(vault, a.from, "REF1");
      const after = await commitAt(vault, a.to, "REF2");
      for (const c of diffTrees(before.entries, after.entries)) out.data(a.json ? `${JSON.stringify(changeJson(c))}\n` : changeLine(c));
      return 0;
    },
  },
  merge: {
    usage: "merge STORE FROM --into TO [-m MSG] [--prefer ours|theirs]",
    description: "Three-way merge of FROM into the branch TO against their nearest common ancestor; a merge commit with two parents. Conflicts are listed with both sides and nothing is written (exit 1), unless --prefer settles them.",
    args: {
      store,
      from: { type: "positional", description: "Branch, commit id or prefix to merge" },
      into: { type: "string", required: true, description: "The branch to merge into", valueHint: "TO" },
      message: { type: "string", alias: "m", description: "What this merge is", valueHint: "MSG" },
      prefer: { type: "string", description: "Settle every conflict for ours (TO) or theirs (FROM)", valueHint: "SIDE" },
      json,
    },
    run: async (a, out) => {
      const prefer = a.prefer === undefined ? undefined : (choice(a.prefer, ["ours", "theirs"], "ours", "--prefer") as "ours" | "theirs");
      const vault = open(a);
      const r = await mergeInto(vault, required(a.from, "FROM"), String(a.into), { prefer, message: a.message === undefined ? undefined : String(a.message) });
      if (a.json) out.data(`${JSON.stringify({ into: r.into, from: r.from, base: r.base ?? null, commit: r.commit ?? null, upToDate: r.upToDate, conflicts: r.conflicts.map(conflictJson), resolved: r.resolved.map(conflictJson) })}\n`);
      else {
        for (const c of [...r.conflicts, ...r.resolved]) out.data(conflictLine(c));
        if (r.commit) out.data(`${r.commit}\n`);
      }
      if (r.conflicts.length > 0) {
        out.error(`${prefix}: ${count(r.conflicts.length)} conflict(s) merging into '${r.into}'; nothing was written (settle them with --prefer ours|theirs, or change a branch and merge again)`);
        return ExitCode.VerifyFailed;
      }
      out.error(r.upToDate ? `${prefix}: '${r.into}' already holds ${shortId(r.fromId)}; nothing to merge` : `${prefix}: merged into '${r.into}' as ${shortId(r.commit!)}${r.resolved.length ? ` (${count(r.resolved.length)} conflict(s) settled for ${r.resolved[0]!.resolvedFor})` : ""}`);
      return 0;
    },
  },
  checkout: {
    usage: "checkout STORE REF DIR [--link auto|reflink|hardlink|copy]",
    description: "Materialize a commit into DIR (new or empty): every file checked against its id before it is named, then an ASC MHL generation from the stored digests.",
    args: {
      store,
      ref: { type: "positional", description: "Branch, commit id or prefix" },
      dir: { type: "positional", description: "The folder to fill" },
      link: { type: "string", description: "auto (reflinks where possible, else copies), reflink, copy, hardlink (read-only files that are the vault's objects)", valueHint: "MODE" },
      progress,
      json,
    },
    run: async (a, out) => {
      const mode = choice(a.link, LINK_MODES, "auto", "--link") as LinkMode;
      const vault = open(a);
      const ref = vault.resolve(required(a.ref, "REF"));
      const dir = required(a.dir, "DIR");
      const r = await checkout(vault, ref.id, dir, {
        mode,
        output: out,
        onProblem: (path, message) => out.error(`${prefix}: ${showName(path)}: ${message}`),
        progress: progressFor(Boolean(a.progress ?? process.stderr.isTTY)),
      });
      if (a.json) out.data(`${JSON.stringify({ commit: r.id, dir, ...r, id: undefined })}\n`);
      const code = checkoutExitCode(r);
      out.error(
        code === 0
          ? `${prefix}: checked out ${shortId(r.id)}${ref.branch ? ` ('${ref.branch}')` : ""} into ${showName(dir)}: ${count(r.files)} files, ${formatBytes(r.bytes)} by ${r.mode}, each checked against its id; ASC MHL ${r.generation}`
          : `${prefix}: ${showName(dir)}: ${checkoutFailures(r)} (named above); no ASC MHL written`,
      );
      return code;
    },
  },
  verify: {
    usage: "verify STORE [--jobs N]",
    description: "Hash every object again and check every commit and branch; a damaged or missing object is named with every commit and path that uses it.",
    args: { store, jobs: { type: "string", alias: "j", description: "Objects hashed at once (default 1)", valueHint: "N" }, progress, json },
    run: async (a, out) => {
      const vault = open(a);
      const summary = await verifyVault(vault, {
        jobs: a.jobs === undefined ? 1 : parseCount(String(a.jobs), "--jobs"),
        onFinding: (f) => out.data(a.json ? `${JSON.stringify({ finding: f.kind, subject: f.subject, path: findingPath(vault, f), message: f.message, usedBy: f.usedBy })}\n` : findingText(f, findingPath(vault, f))),
        onNote: (line) => out.error(`${prefix}: ${line}`),
        progress: progressFor(Boolean(a.progress ?? process.stderr.isTTY)),
      });
      out.data(a.json ? `${JSON.stringify({ verified: summary.findings === 0, ...summary })}\n` : verifySummaryLine(vault.path, summary));
      return summary.findings === 0 ? 0 : ExitCode.VerifyFailed;
    },
  },
  gc: {
    usage: "gc STORE [--dry-run]",
    description: "Remove commits no branch reaches, objects no kept commit uses, and leftovers of stopped commands. Runs alone.",
    args: { store, "dry-run": { type: "boolean", description: "List what would be removed; remove nothing" }, json },
    run: async (a, out) => {
      const vault = open(a, "exclusive");
      const dry = Boolean(a["dry-run"]);
      const r = await collectGarbage(vault, {
        dryRun: dry,
        onRemoved: (relative) => {
          if (dry && !a.json) out.data(`would remove ${vault.pathOf(relative)}\n`);
        },
      });
      if (a.json) out.data(`${JSON.stringify({ dryRun: dry, ...r })}\n`);
      out.error(
        `${prefix}: ${dry ? "would remove" : "removed"} ${count(r.commits.removed.length)} commit(s), ${count(r.objects.removed)} object(s) (${formatBytes(r.objects.bytes)}), ${count(r.records)} record(s), ${count(r.leftovers)} leftover(s); kept ${count(r.commits.kept)} commit(s), ${count(r.objects.kept)} object(s)`,
      );
      return 0;
    },
  },
  du: {
    usage: "du STORE",
    description: "Logical bytes per branch and of the whole history, physical bytes of the vault, and their ratio.",
    args: { store, json },
    run: async (a, out) => {
      const u = await usage(open(a));
      out.data(a.json ? `${JSON.stringify({ ...u, ratio: u.physical > 0 ? u.logical / u.physical : null })}\n` : usageText(u));
      return 0;
    },
  },
};

/** The vault named on the command line, opened and locked for the command. */
function open(a: Record<string, unknown>, lock: "shared" | "exclusive" = "shared"): Vault {
  const vault = Vault.open(required(a.store, "STORE"));
  vault.lock(lock);
  return vault;
}

/** The commit a REF given on the command line names, read whole and checked. */
function commitAt(vault: Vault, ref: unknown, name: string) {
  return vault.readCommit(vault.resolve(required(ref, name)).id);
}

function required(value: unknown, name: string): string {
  if (value === undefined || value === "") throw usageError(`missing ${name}; see '${prefix} --help'`);
  return String(value);
}

function choice(value: unknown, allowed: readonly string[], fallback: string, flag: string): string {
  const v = value === undefined ? fallback : String(value);
  if (!allowed.includes(v)) throw usageError(`invalid ${flag} '${v}'; use one of: ${allowed.join(", ")}`);
  return v;
}

const EPILOGUE = `Commands:
${Object.entries(COMMANDS)
  .map(([, c]) => `  ${c.usage}`)
  .join("\n")}

Run '${TOOL} COMMAND --help' for each. REF is a branch, a commit id, or a unique
prefix of one (4 hex digits or more). Every command takes --json.

${EXIT_CODES}`;

const raw = programArgs();
const { name, rest } = commandOperand(raw);
const chosen = name === undefined ? undefined : COMMANDS[name];

if (chosen) {
  prefix = `${TOOL} ${name}`;
  const command = defineCommand({ meta: { name: `${TOOL} ${name}`, version: VERSION, description: `${chosen.description}\n\nUsage: ${TOOL} ${chosen.usage}` }, args: chosen.args });
  await runTool(
    {
      command,
      epilogue: EXIT_CODES,
      main: async (args) => {
        const out = new Output();
        try {
          return await chosen.run(args as Record<string, unknown>, out);
        } finally {
          out.flush();
        }
      },
    },
    rest,
  );
} else {
  await runTool(
    {
      command: defineCommand({ meta: { name: TOOL, version: VERSION, description: "Versions and branches of a project without copying it: a content-addressed vault of whole media files." }, args: {} }),
      epilogue: EPILOGUE,
      main: async () => {
        throw usageError(name === undefined ? `missing command; see '${TOOL} --help'` : `unknown command '${name}'; see '${TOOL} --help'`);
      },
    },
    raw,
  );
}
