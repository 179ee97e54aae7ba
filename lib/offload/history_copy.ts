/**
 * A card's own ASC MHL history, copied again. An offload copies a card's `ascmhl/` folders as
 * they are, and its generation then continues each chain in the destination, as `ascmhl create`
 * does after a copy (ASC MHL's own workflow). A later run over the same card (`--resume` after a
 * kill, or the same command again) finds the card's generations there, identical, and each
 * chain file different from the card's: the destination's lists the card's generations, then
 * its own. That is the history as it should be, not a file that differs; a chain that does not
 * begin with the card's generations is one that went apart from the card's, and is refused.
 */
import { CliError } from "../core/errors.ts";
import type { HeldFolder } from "../io/held_folder.ts";
import { CHAIN_FILE_NAME, type ChainLink } from "../mhl/chain.ts";
import { HISTORY_FOLDER, readHeldChain } from "../mhl/history.ts";

/** Whether a root-relative path names the chain file of a history (the root's or a nested one). */
export function isHistoryChain(relativePath: string): boolean {
  const tail = `${HISTORY_FOLDER}/${CHAIN_FILE_NAME}`;
  return relativePath === tail || relativePath.endsWith(`/${tail}`);
}

/** Whether a destination's chain continues the card's, and the words for either. */
export interface ChainVerdict {
  continues: boolean;
  /** Generations the destination's chain lists after the card's (when it continues it). */
  own: number;
  reason: string;
}

/** A chain's generation as the words name it. */
function named(link: ChainLink): string {
  return `generation ${link.sequenceNumber} (${link.fileName})`;
}

/** The message of a chain that could not be read, without the path the line names anyway. */
function why(error: unknown): string {
  return error instanceof CliError ? error.message : ((error as Error).message ?? String(error));
}

/**
 * Compares a card's chain file with the one its history folder already holds in a destination
 * (`relative`, the same place in both). The destination's continues the card's when it lists
 * every generation of the card's, in order, with the same sequence number, file name and C4
 * ID; it may list more after them (the destination's own). Both are read as a history's files
 * are: never through a link, never a device, bounded. The reason names the chain.
 * @example
 * declare const card: Parameters<typeof chainVerdict>[0], raid: Parameters<typeof chainVerdict>[0];
 * chainVerdict(card, "ascmhl/ascmhl_chain.xml", raid, "ascmhl/ascmhl_chain.xml");
 * // { continues: true, reason: "this destination's history continues the card's: …" }
 */
export function chainVerdict(source: HeldFolder, sourceRelative: string, destination: HeldFolder, relative: string): ChainVerdict {
  const apart = (why: string): ChainVerdict => ({
    continues: false,
    own: 0,
    reason: `this destination's ASC MHL history (${relative.slice(0, relative.length - CHAIN_FILE_NAME.length)}) is not the card's continued: ${why}; none of the card's files is written into it (compare the two with mhl-verify info; --overwrite would replace the destination's history)`,
  });
  let card: ChainLink[];
  let here: ChainLink[];
  try {
    card = readHeldChain(source, sourceRelative);
  } catch (error) {
    return apart(`the card's chain cannot be read as one (${why(error)})`);
  }
  try {
    here = readHeldChain(destination, relative);
  } catch (error) {
    return apart(`its chain cannot be read as one (${why(error)})`);
  }
  for (const [i, mine] of card.entries()) {
    const theirs = here[i];
    if (!theirs) return apart(`it lists ${here.length} generation(s), the card's ${card.length}: the card's history went on since it was copied here`);
    if (theirs.sequenceNumber !== mine.sequenceNumber || theirs.fileName !== mine.fileName || theirs.c4 !== mine.c4) {
      return apart(theirs.fileName === mine.fileName && theirs.sequenceNumber === mine.sequenceNumber ? `its ${named(theirs)} is another file than the card's of that name (another C4 ID)` : `its ${named(theirs)} is not the card's ${named(mine)}`);
    }
  }
  const own = here.length - card.length;
  return { continues: true, own, reason: `this destination's history continues the card's: its first ${card.length} generation(s) are the card's${own > 0 ? `, then ${own} of its own` : ""}` };
}
