/**
 * `info`: the generations of a history and its nested histories, or the recorded hashes of
 * single files through all generations.
 */
import { relative, resolve } from "node:path";
import { mhlError, MhlExit } from "./exit_codes.ts";
import { History } from "./history.ts";
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

function logHistory(history: History, log: MhlLog): void {
  for (const g of history.generations) {
    log.info(`  Generation ${g.number} (${g.generation.creatorInfo.creationDate})`);
    log.verbose(`     CreatorInfo: ${creatorSummary(g.generation.creatorInfo)}\n     ProcessInfo: ${g.generation.processInfo.process}`);
    log.event({ event: "generation", root: history.root, number: g.number, file: g.fileName, creationDate: g.generation.creatorInfo.creationDate, hostname: g.generation.creatorInfo.hostname });
  }
  for (const child of history.children) {
    log.info(`\nChild History at ${child.root}:`);
    logHistory(child, log);
  }
}

/**
 * Prints the history at `root`, or the entries of `singleFiles` (paths relative to the current
 * folder, as given on the command line).
 * @throws {CliError} 30 when there is no history.
 */
export async function showInfo(root: string, singleFiles: string[], log: MhlLog): Promise<void> {
  log.info(`Info with history at path: ${root}`);
  const history = await History.load(root);
  if (history.generations.length === 0) throw mhlError(MhlExit.NoHistory, root);
  if (singleFiles.length === 0) {
    logHistory(history, log);
    return;
  }
  for (const given of singleFiles) {
    const relativePath = relative(root, resolve(given)).split("\\").join("/");
    log.info(`${relativePath}:`);
    const { history: owner, path } = history.historyFor(relativePath);
    const paths = [path];
    for (let i = 0; i < paths.length; i++) {
      for (const g of owner.generations) {
        const media = g.byPath.get(paths[i]!.normalize("NFC"));
        if (!media) continue;
        if (media.previousPath && !paths.includes(media.previousPath)) paths.push(media.previousPath);
        for (const e of media.entries) {
          log.info(`  Generation ${g.number} (${g.generation.creatorInfo.creationDate}) ${e.format}: ${e.value} (${e.action ?? "directory"})`);
          log.event({ event: "hash", path: relativePath, generation: g.number, format: e.format, hash: e.value, action: e.action ?? null, recordedAs: media.path });
        }
      }
    }
  }
}
