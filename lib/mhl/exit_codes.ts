/**
 * The reference's exit codes and messages, kept so that scripts written for `ascmhl` work
 * unchanged with `mhl-verify`.
 */
import { CliError } from "../core/errors.ts";

/** Exit codes of `ascmhl` (and `mhl-verify`). */
export const MhlExit = {
  Ok: 0,
  Usage: 2,
  MissingFiles: 10,
  HashMismatch: 11,
  DirectoryHashMismatch: 12,
  SingleFileNotFound: 20,
  NewFiles: 21,
  NoHistory: 30,
  ModifiedManifest: 31,
  NoChain: 32,
  MissingManifest: 33,
} as const;

/** The message the reference prints with each code (then `detail`, when given, says why). */
export function mhlError(code: number, path?: string, detail?: string): CliError {
  const message = ((): string => {
    switch (code) {
      case MhlExit.MissingFiles:
        return "Files referenced in the ASC MHL history are missing";
      case MhlExit.HashMismatch:
        return "Verification of files referenced in the ASC MHL history failed";
      case MhlExit.DirectoryHashMismatch:
        return "Verification of directories referenced in the ASC MHL history failed";
      case MhlExit.SingleFileNotFound:
        return "Could not find single file.";
      case MhlExit.NewFiles:
        return "New files not referenced in the ASC MHL history have been found";
      case MhlExit.NoHistory:
        return `Missing ASC MHL history at path ${path}`;
      case MhlExit.ModifiedManifest:
        return `Modified ASC MHL manifest in history at path ${path}`;
      case MhlExit.NoChain:
        return `Missing ASC MHL chain file for path ${path}`;
      case MhlExit.MissingManifest:
        return `Missing ASC MHL manifest in history at path ${path}`;
      default:
        return `failed with code ${code}`;
    }
  })();
  return new CliError(detail ? `${message} (${detail})` : message, { exitCode: code });
}

/**
 * The error (2) for entries a run could not record or examine, each already named on its own
 * line; `rest` says what the run still did.
 */
export function entriesError(count: number, what: "recorded" | "examined", rest?: string, path?: string): CliError {
  return new CliError(`${count} entr${count === 1 ? "y" : "ies"} could not be ${what} (named above)${rest ? `; ${rest}` : ""}`, { exitCode: 2, path });
}

/** Help text listing every exit code. */
export const EXIT_CODE_HELP = `Exit codes (those of the reference ascmhl):
  0   success
  2   usage error, unreadable or malformed input (the message names file and line);
      entries that could not be recorded or examined, each named above: a name
      that is not UTF-8, a link out of ROOT, a FIFO, an unreadable folder
  10  files referenced in the history are missing
  11  a file's hash does not match its original hash
  12  a directory hash does not match (verify -dh; also when only the root's
      differs, where the reference exits 0)
  20  the single file (-sf) was not found
  21  new files not referenced in the history were found
  30  there is no ASC MHL history at the path (or the path is a file), or a
      nested history the latest generation references is gone
  31  a generation (.mhl) file was modified: its C4 differs from the chain's
      (or from the one a parent's reference recorded), or the chain omits it
  32  an ascmhl folder without ascmhl_chain.xml
  33  a generation listed in the chain (or referenced by a parent) is missing`;
