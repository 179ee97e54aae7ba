/**
 * How cartvault's results read: one function per result, giving the lines for people (names
 * shown safely, lib/core/names.ts) or the JSON records for programs. Nothing here prints.
 */
import { showLine, showName } from "../core/names.ts";
import { formatBytes } from "../core/units.ts";
import type { CommitEntry, CommitHeader } from "./commit.ts";
import type { Change } from "./diff.ts";
import type { Usage } from "./du.ts";
import { shortId } from "./layout.ts";
import type { Conflict } from "./merge.ts";
import type { Finding, VerifySummary } from "./verify.ts";

/** A count with thousands separators: 100,000. */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** What went wrong in a checkout, counted: "2 file(s) not checked out, 6 file(s) missing, 1 stray(s)". */
export function checkoutFailures(r: { damaged: number; failed: number; missing: number; strays: number }): string {
  const parts: string[] = [];
  if (r.damaged + r.failed > 0) parts.push(`${count(r.damaged + r.failed)} file(s) not checked out`);
  if (r.missing > 0) parts.push(`${count(r.missing)} file(s) moved, removed or replaced during the checkout`);
  if (r.strays > 0) parts.push(`${count(r.strays)} entr${r.strays === 1 ? "y" : "ies"} that appeared during the checkout`);
  return parts.join(", ");
}

/** A modification time in nanoseconds as ISO 8601 UTC with its nanoseconds. */
export function isoNs(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return `${iso.slice(0, 19)}.${frac.toString().padStart(9, "0")}Z`;
}

/** An entry as a JSON record. */
export function entryJson(e: CommitEntry): Record<string, unknown> {
  return { path: e.path, id: e.id, size: e.size, mode: e.mode.toString(8).padStart(4, "0"), mtime: isoNs(e.mtimeNs) };
}

/** `ls`: mode, size, id and path of each file. */
export function lsLine(e: CommitEntry): string {
  return `${e.mode.toString(8).padStart(4, "0")} ${String(e.size).padStart(12)} ${e.id} ${showName(e.path)}\n`;
}

/** `log`: one commit as git log shows one. */
export function logText(c: CommitHeader, branches: readonly string[]): string {
  const lines = [`commit ${c.id}${branches.length ? ` (${branches.join(", ")})` : ""}`];
  if (c.parents.length > 1) lines.push(`merge:  ${c.parents.map(shortId).join(" ")}`);
  lines.push(`author: ${showLine(c.author)}`, `date:   ${c.time}`, `files:  ${count(c.files)}, ${formatBytes(c.bytes)}`, "");
  for (const line of c.message.split("\n")) lines.push(`    ${showLine(line)}`);
  return `${lines.join("\n")}\n\n`;
}

/** A commit header as a JSON record. */
export function headerJson(c: CommitHeader, branches: readonly string[]): Record<string, unknown> {
  return { commit: c.id, branches, parents: c.parents, author: c.author, time: c.time, message: c.message, files: c.files, bytes: c.bytes, tree: c.tree };
}

const CHANGE_LETTER = { added: "A", removed: "D", modified: "M", renamed: "R" } as const;

/** `diff`: a letter and the path(s), as `git diff --name-status`. */
export function changeLine(c: Change): string {
  return c.kind === "renamed" ? `R\t${showName(c.fromPath)}\t${showName(c.path)}\n` : `${CHANGE_LETTER[c.kind]}\t${showName(c.path)}\n`;
}

/** A change as a JSON record. */
export function changeJson(c: Change): Record<string, unknown> {
  switch (c.kind) {
    case "added":
      return { change: "added", path: c.path, id: c.to.id, size: c.to.size };
    case "removed":
      return { change: "removed", path: c.path, id: c.from.id, size: c.from.size };
    case "modified":
      return { change: "modified", path: c.path, from: { id: c.from.id, size: c.from.size, mode: c.from.mode.toString(8) }, to: { id: c.to.id, size: c.to.size, mode: c.to.mode.toString(8) } };
    case "renamed":
      return { change: "renamed", from: c.fromPath, path: c.path, id: c.to.id, size: c.to.size };
  }
}

const CONFLICT_WORDS: Record<Conflict["kind"], string> = {
  "both-modified": "both modified",
  "deleted-by-ours": "deleted in ours, modified in theirs",
  "deleted-by-theirs": "modified in ours, deleted in theirs",
  "both-added": "both added",
  "file-folder": "a file in one, a folder in the other",
};

function side(e: CommitEntry | undefined): string {
  return e ? `${shortId(e.id)} ${formatBytes(e.size)}${e.mode !== 0o644 ? ` mode ${e.mode.toString(8).padStart(4, "0")}` : ""}` : "deleted";
}

/** `merge`: a conflict with both sides. */
export function conflictLine(c: Conflict): string {
  const where = c.kind === "file-folder" ? `ours ${showName(c.ours!.path)} ${side(c.ours)}; theirs ${showName(c.theirs!.path)} ${side(c.theirs)}` : `ours ${side(c.ours)}; theirs ${side(c.theirs)}${c.base ? `; base ${side(c.base)}` : ""}`;
  return `conflict (${CONFLICT_WORDS[c.kind]}): ${showName(c.path)}: ${where}${c.resolvedFor ? ` → ${c.resolvedFor}` : ""}\n`;
}

/** A conflict as a JSON record. */
export function conflictJson(c: Conflict): Record<string, unknown> {
  const e = (x: CommitEntry | undefined) => (x ? entryJson(x) : null);
  return { conflict: c.kind, path: c.path, ...(c.inside ? { inside: c.inside } : {}), base: e(c.base), ours: e(c.ours), theirs: e(c.theirs), ...(c.resolvedFor ? { resolvedFor: c.resolvedFor } : {}) };
}

/** `verify`: a finding and who uses what it concerns. */
export function findingText(f: Finding, path: string): string {
  const lines = [`${showName(path)}: ${f.message}`];
  for (const use of f.usedBy ?? []) lines.push(`  used by commit ${shortId(use.commit)}${use.branches.length ? ` (${use.branches.join(", ")})` : " (on no branch)"}: ${showName(use.path)}`);
  if (f.usedBy && f.usedBy.length === 0) lines.push("  used by no commit");
  return `${lines.join("\n")}\n`;
}

/** `verify`: the last line. */
export function verifySummaryLine(vault: string, s: VerifySummary): string {
  const what = `${count(s.objects)} objects (${formatBytes(s.bytes)} hashed again), ${count(s.commits)} commits, ${count(s.branches)} branches`;
  return s.findings === 0 ? `verified ${showName(vault)}: ${what}: all sound\n` : `${showName(vault)}: ${count(s.findings)} problem(s) in ${what}\n`;
}

/** `du`: a table. */
export function usageText(u: Usage): string {
  const width = Math.max(6, ...u.branches.map((b) => b.name.length));
  const lines = [`${"branch".padEnd(width)}  commit        files        logical`];
  for (const b of u.branches) lines.push(`${b.name.padEnd(width)}  ${shortId(b.commit)}  ${count(b.files).padStart(11)}  ${formatBytes(b.bytes).padStart(12)}`);
  const ratio = u.physical > 0 ? `${(u.logical / u.physical).toFixed(2)}×` : "—";
  lines.push(
    "",
    `logical, all branches:   ${formatBytes(u.logical)}`,
    `logical, whole history:  ${formatBytes(u.history.bytes)} in ${count(u.history.commits)} commits`,
    `objects:                 ${count(u.objects.count)}, ${formatBytes(u.objects.bytes)}`,
    `physical:                ${formatBytes(u.physical)} (objects ${formatBytes(u.physicalObjects)})`,
    `ratio:                   ${ratio} (logical of all branches / physical)`,
  );
  return `${lines.join("\n")}\n`;
}
