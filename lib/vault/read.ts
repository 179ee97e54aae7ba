/**
 * Reading a file of a commit out of the vault (`cat`), never handing on bytes that do not
 * match their id: the object is hashed first, then read again and hashed again as it is
 * handed on (a change between the two reads is reported, exit 1).
 */
import { closeSync } from "node:fs";
import { CliError, describeSystemError, ExitCode } from "../core/errors.ts";
import { hashFd } from "../hash/file.ts";
import { createHasher } from "../hash/registry.ts";
import { readChunks } from "../io/reader.ts";
import type { CommitEntry } from "./commit.ts";
import { objectPath, shortId } from "./layout.ts";
import type { Vault } from "./store.ts";

/** Hands the bytes of `entry`'s object to `write`, chunk by chunk, once they are proven. */
export async function catObject(vault: Vault, entry: CommitEntry, write: (chunk: Uint8Array) => void): Promise<void> {
  const damaged = (what: string) => new CliError(`object ${shortId(entry.id)} (${entry.path}) ${what}`, { path: vault.pathOf(objectPath(entry.id)), exitCode: ExitCode.VerifyFailed });
  let fd: number;
  try {
    fd = vault.openObject(entry.id);
  } catch (error) {
    throw damaged((error as { code?: string }).code === "ENOENT" ? "is missing" : `cannot be read: ${describeSystemError(error)}`);
  }
  try {
    const first = await hashFd(fd, ["blake3"]);
    if (first.hexes.get("blake3") !== entry.id || first.size !== entry.size) throw damaged("is damaged: its bytes do not match its id; nothing written");
    const again = await createHasher("blake3");
    for (const chunk of readChunks(fd)) {
      again.update(chunk);
      write(chunk);
    }
    if (again.hex() !== entry.id) throw damaged("changed while it was written out: what was written does not match its id");
  } finally {
    closeSync(fd);
  }
}
