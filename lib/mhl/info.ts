/**
 * `info`: the generations of a history and its nested histories, or the recorded hashes of
 * single files through all generations.
 */
import { statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { joinPath, showLine, showName } from "../core/names.ts";
import { mhlError, MhlExit } from "./exit_codes.ts";
import { History, HISTORY_FOLDER } from "./history.ts";
import { exactKey, joinRelative } from "./paths.ts";
import type { MhlLog } from "./log.ts";
import type { CreatorInfo } from "./model.ts";

function creatorSummary(c: CreatorInfo): string {
  let summary = c.hostname || "[unknown host]";
  summary += `, ${c.tool.name}${c.tool.version ? ` ${c.tool.version}` : ""}`;
  for (const a of c.authors) {
    summary += `, ${a.name ?? ""}${a.role ? ` [${a.role}]` : ""}`;
    const details = [a.email, a.phone].filter(Boolean);
    if (details.length) summary += ` (${details.join(", ")})`;
  }
  if (c.location) summary += `, at/in ${c.location}`;
  if (c.comment) summary += `, "${c.comment}"`;
  return summary;
}

/** The generations of a history and of every nested one, without recursion. */
function logHistory(history: History, log: MhlLog): void {
  const stack: History[] = [history];
  let first = true;
  while (stack.length > 0) {
    const h = stack.pop()!;
    if (!first) log.info(`\nChild History at ${showName(h.root)}:`);
    first = false;
    for (const g of h.generations) {
      log.info(`  Generation ${g.number} (${showLine(g.generation.creatorInfo.creationDate)})`);
      log.verbose(`     CreatorInfo: ${showLine(creatorSummary(g.generation.creatorInfo))}\n     ProcessInfo: ${g.generation.processInfo.process}`);
      log.event({ event: "generation", root: h.root, number: g.number, file: g.fileName, creationDate: g.generation.creatorInfo.creationDate, hostname: g.generation.creatorInfo.hostname });
    }
    for (let i = h.children.length - 1; i >= 0; i--) stack.push(h.children[i]!);
  }
}

/**
 * The folder holding the history a file belongs to: the nearest folder above it with an
 * `ascmhl/` folder, as the reference finds it when `info -sf FILE` names no root.
 * @throws {CliError} 30 when there is none up to `/`.
 */
export function historyRootAbove(file: string): string {
  let folder = dirname(resolve(file));
  for (;;) {
    try {
      if (statSync(join(folder, HISTORY_FOLDER)).isDirectory()) return folder;
    } catch {
      // not here: one folder up
    }
    const parent = dirname(folder);
    if (parent === folder) throw mhlError(MhlExit.NoHistory, file);
    folder = parent;
  }
}

/**
 * Prints the history at `root`, or the entries of `singleFiles` (paths relative to the current
 * folder, as given on the command line) generation by generation. A file in a nested history
 * is looked up there. With `-v`, as the reference: each entry with the file's path, creator and
 * process, and after an entry that records a rename, the same section for the previous name.
 * @throws {CliError} 30 when there is no history.
 */
export async function showInfo(root: string, singleFiles: string[], log: MhlLog): Promise<void> {
  log.info(`Info with history at path: ${showName(root)}`);
  const history = await History.load(root);
  if (history.generations.length === 0) throw mhlError(MhlExit.NoHistory, root);
  if (singleFiles.length === 0) {
    logHistory(history, log);
    return;
  }
  for (const given of singleFiles) {
    // Sections still to print: a previous name's section comes right after the entry naming it.
    const stack: Array<{ path: string; generation: number; entry: number; header: boolean }> = [{ path: relative(root, resolve(given)).split("\\").join("/"), generation: 0, entry: 0, header: false }];
    while (stack.length > 0) {
      const frame = stack.at(-1)!;
      if (!frame.header) {
        if (stack.length > 1) log.info(`Info with history at path: ${showName(root)}`);
        log.info(`${showName(frame.path)}:`);
        frame.header = true;
      }
      const { history: owner, path } = history.historyFor(frame.path);
      const g = owner.generations[frame.generation];
      if (!g) {
        stack.pop();
        continue;
      }
      const media = g.byPath.get(exactKey(path));
      const e = media?.entries[frame.entry];
      if (!media || !e) {
        frame.generation++;
        frame.entry = 0;
        continue;
      }
      frame.entry++;
      const line = `  Generation ${g.number} (${showLine(g.generation.creatorInfo.creationDate)}) ${e.format}: ${e.value} (${e.action ?? "directory"})`;
      log.event({ event: "hash", path: frame.path, generation: g.number, format: e.format, hash: e.value, action: e.action ?? null, recordedAs: media.path });
      if (!log.verboseEnabled) {
        log.info(line);
        continue;
      }
      log.info(`${line} \n    ${showName(joinPath(owner.root, media.path))}\n     CreatorInfo: ${showLine(creatorSummary(g.generation.creatorInfo))}\n     ProcessInfo: ${g.generation.processInfo.process}`);
      if (media.previousPath !== undefined && exactKey(path) === exactKey(media.path)) {
        log.info(` In previous generations the file was named: ${showName(media.previousPath)}\n\n`);
        const previous = joinRelative(history.relativeFromHere(owner), media.previousPath);
        // A chain of renames that comes back to a name already being shown ends there.
        if (!stack.some((f) => f.path === previous)) stack.push({ path: previous, generation: 0, entry: 0, header: false });
      }
    }
  }
}
