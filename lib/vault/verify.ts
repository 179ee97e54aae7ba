/**
 * `verify`: every object read again and hashed (its BLAKE3 must be its name, its size and
 * XXH128 what its record says), every commit read whole (its bytes must hash to its id, its
 * parents must be there), every branch checked (one commit id, of a commit the vault has).
 * A damaged or missing object is reported with every commit and path that uses it.
 *
 * What an interrupted commit leaves (an object whose record was not written yet, a commit no
 * branch reaches) is not damage: it is noted, and `gc` removes it.
 */
import { CliError } from "../core/errors.ts";
import { NO_PROGRESS, type ProgressFactory } from "../core/sink.ts";
import { hashInOrder } from "../hash/pool.ts";
import type { Commit } from "./commit.ts";
import { commitPath, objectPath, shortId } from "./layout.ts";
import { isPartialName, type Vault } from "./store.ts";

/** What verify found wrong. */
export type FindingKind = "damaged-object" | "missing-object" | "bad-record" | "missing-record" | "damaged-commit" | "missing-commit" | "bad-branch";

/** A commit and a path that use a damaged or missing object. */
export interface Use {
  commit: string;
  /** Branches whose history holds the commit. */
  branches: string[];
  path: string;
}

/** One problem. */
export interface Finding {
  kind: FindingKind;
  /** The object, commit or branch concerned. */
  subject: string;
  message: string;
  /** For objects: who uses it. */
  usedBy?: Use[];
}

/** Options of {@link verifyVault}. */
export interface VerifyOptions {
  /** Objects hashed at once. @default 1 */
  jobs?: number;
  /** Each problem, as soon as everything about it is known. */
  onFinding: (finding: Finding) => void;
  /** What is not a problem but worth saying (leftovers of interrupted commits). */
  onNote?: (line: string) => void;
  progress?: ProgressFactory;
}

/** What was checked. */
export interface VerifySummary {
  objects: number;
  bytes: number;
  commits: number;
  branches: number;
  findings: number;
}

/**
 * Verifies a whole vault.
 * @returns what was checked and how many problems were found (each given to `onFinding`).
 */
export async function verifyVault(vault: Vault, options: VerifyOptions): Promise<VerifySummary> {
  const note = options.onNote ?? (() => {});
  let findings = 0;
  const found = (finding: Finding) => {
    findings++;
    options.onFinding(finding);
  };

  // Branches, and the commits each one's history holds.
  const branches = vault.listBranches((relative, message) => found({ kind: "bad-branch", subject: relative, message }));
  const commits = [
    ...vault.objectIds("commits", (relative) => {
      if (!isPartialName(relative.slice(relative.lastIndexOf("/") + 1))) note(`${vault.pathOf(relative)}: not a commit; left as it is`);
    }),
  ];
  const commitSet = new Set(commits);
  const readable = new Map<string, Commit["parents"]>();
  const used = new Map<string, number>();
  for (const id of commits) {
    let commit: Commit;
    try {
      commit = await vault.readCommit(id);
    } catch (error) {
      found({ kind: "damaged-commit", subject: id, message: error instanceof CliError ? error.message : String(error) });
      continue;
    }
    readable.set(id, commit.parents);
    for (const e of commit.entries) used.set(e.id, e.size);
    for (const parent of commit.parents) {
      if (!commitSet.has(parent)) found({ kind: "missing-commit", subject: parent, message: `commit ${shortId(parent)}, a parent of commit ${shortId(id)}, is missing` });
    }
  }
  const reachedBy = new Map<string, string[]>();
  for (const branch of branches) {
    const stack = [branch.id];
    const seen = new Set<string>();
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      reachedBy.set(id, [...(reachedBy.get(id) ?? []), branch.name]);
      stack.push(...(readable.get(id) ?? []).filter((p) => commitSet.has(p)));
    }
  }
  const unreached = commits.filter((id) => readable.has(id) && !reachedBy.has(id));
  if (unreached.length > 0) note(`${unreached.length} commit(s) on no branch (left by a refused or interrupted commit, or kept by id): ${unreached.slice(0, 3).map(shortId).join(", ")}${unreached.length > 3 ? ", …" : ""}; gc removes them`);

  // Objects, hashed again.
  const objects = [
    ...vault.objectIds("objects", (relative) => {
      if (!isPartialName(relative.slice(relative.lastIndexOf("/") + 1))) note(`${vault.pathOf(relative)}: not an object; left as it is`);
    }),
  ];
  const bad = new Map<string, Omit<Finding, "usedBy">>();
  let bytes = 0;
  let unrecorded = 0;
  const totals = options.progress ? { files: objects.length, bytes: objects.reduce((n, id) => n + (vault.objectStat(id)?.size ?? 0), 0) } : { files: 0, bytes: 0 };
  const progress = options.progress?.(totals) ?? NO_PROGRESS;
  await hashInOrder(
    objects,
    Math.max(1, options.jobs ?? 1),
    (id) => {
      try {
        const stat = vault.objectStat(id);
        if (stat?.kind !== "file") return { failed: Object.assign(new Error(stat?.kind === "link" ? "it is a symbolic link (links in a vault are never followed)" : `it is ${stat ? `a ${stat.kind}` : "gone"}, not a file`), { code: "EFTYPE" }) };
        return { job: { path: vault.pathOf(objectPath(id)), fd: vault.openObject(id), algorithms: ["blake3", "xxh128"], options: {} } };
      } catch (error) {
        return { failed: error };
      }
    },
    (id, result) => {
      if (!result?.ok) {
        bad.set(id, { kind: "damaged-object", subject: id, message: `object ${shortId(id)} cannot be read: ${result && !result.ok ? (result.detail ?? result.message) : "no result"}` });
        return;
      }
      bytes += result.size;
      progress.fileDone(result.size);
      const hexes = new Map(result.hexes);
      if (hexes.get("blake3") !== id) {
        bad.set(id, { kind: "damaged-object", subject: id, message: `object ${shortId(id)} is damaged: its bytes hash to ${shortId(hexes.get("blake3")!)}…, not to its name` });
        return;
      }
      let record;
      try {
        record = vault.readRecord(id);
      } catch (error) {
        bad.set(id, { kind: "bad-record", subject: id, message: (error as Error).message });
        return;
      }
      if (!record) {
        if (used.has(id)) bad.set(id, { kind: "missing-record", subject: id, message: `object ${shortId(id)} has no record` });
        else unrecorded++;
        return;
      }
      if (record.size !== result.size || record.xxh128 !== hexes.get("xxh128")) {
        bad.set(id, { kind: "bad-record", subject: id, message: `object ${shortId(id)}'s record (${record.size} bytes, XXH128 ${record.xxh128}) is not its bytes' (${result.size}, ${hexes.get("xxh128")})` });
        return;
      }
      const size = used.get(id);
      if (size !== undefined && size !== result.size) bad.set(id, { kind: "damaged-object", subject: id, message: `object ${shortId(id)} has ${result.size} bytes, a commit says ${size}` });
    },
  );
  progress.finish();
  if (unrecorded > 0) note(`${unrecorded} object(s) without a record and used by no commit (left by an interrupted commit); gc removes them`);
  const present = new Set(objects);
  for (const id of used.keys()) {
    if (!present.has(id)) bad.set(id, { kind: "missing-object", subject: id, message: `object ${shortId(id)} is missing` });
  }

  // Who uses each damaged or missing object: every commit and path.
  if (bad.size > 0) {
    const uses = new Map<string, Use[]>();
    for (const id of readable.keys()) {
      const commit = await vault.readCommit(id);
      for (const e of commit.entries) {
        if (bad.has(e.id)) uses.set(e.id, [...(uses.get(e.id) ?? []), { commit: id, branches: reachedBy.get(id) ?? [], path: e.path }]);
      }
    }
    for (const [id, finding] of bad) found({ ...finding, usedBy: uses.get(id) ?? [] });
  }
  return { objects: objects.length, bytes, commits: commits.length, branches: branches.length, findings };
}

/** Where a finding's subject is in the vault, for messages. */
export function findingPath(vault: Vault, finding: Finding): string {
  if (finding.kind === "bad-branch") return vault.pathOf(finding.subject);
  if (finding.kind === "damaged-commit" || finding.kind === "missing-commit") return vault.pathOf(commitPath(finding.subject));
  return vault.pathOf(objectPath(finding.subject));
}
