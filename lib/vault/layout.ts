/**
 * The shape of a vault on disk, and the rules every name in it obeys. A vault is a folder:
 *
 * ```
 * cartvault                  "cartvault store 1": what this folder is
 * objects/ab/cdef…           file contents, named by the BLAKE3 of their bytes (read-only)
 * records/ab/cdef…           "<size> <xxh128>" of the object of the same name (read-only)
 * commits/ab/cdef…           commits, named by the BLAKE3 of their canonical bytes (read-only)
 * refs/heads/NAME            "<commit id>\n": a branch; replaced whole, by compare-and-swap
 * locks/, cache/, tmp/       this machine's: advisory locks, stat caches, files being imported
 * ```
 *
 * Everything under objects/, records/ and commits/ is written once, complete, under its final
 * name, and never changed: the same keys could live in an S3-compatible bucket (a PUT that must
 * not overwrite). Refs are tiny and change only by compare-and-swap (a lock and an atomic
 * rename here; a conditional PUT there). locks/, cache/ and tmp/ are local and disposable.
 */
import { nameBytes, nameFromBytes } from "../core/names.ts";

/** The first line of the `cartvault` file at a vault's root. */
export const STORE_MARKER = "cartvault store 1\n";

/** Folders of a vault, made by `init`. */
export const STORE_FOLDERS = ["objects", "records", "commits", "refs", "refs/heads", "locks", "cache", "tmp"] as const;

/** An object or commit id: the lowercase hex of a 32-byte BLAKE3 digest. */
export const ID_PATTERN = /^[0-9a-f]{64}$/;

/** True when `text` is a full id. */
export function isId(text: string): boolean {
  return ID_PATTERN.test(text);
}

/** The first 12 hex digits of an id, as people read ids. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** Where an object's bytes are, relative to the vault. */
export function objectPath(id: string): string {
  return `objects/${id.slice(0, 2)}/${id.slice(2)}`;
}

/** Where an object's record is. */
export function recordPath(id: string): string {
  return `records/${id.slice(0, 2)}/${id.slice(2)}`;
}

/** Where a commit is. */
export function commitPath(id: string): string {
  return `commits/${id.slice(0, 2)}/${id.slice(2)}`;
}

/** Where a branch's ref is. */
export function refPath(branch: string): string {
  return `refs/heads/${branch}`;
}

const BRANCH_PART = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * Why a branch name is refused, or undefined when it is good. Branch names are ASCII words
 * (letters, digits, `.`, `_`, `-`) joined by `/`, each part starting with a letter, digit or
 * `_`, at most 200 characters, without `..`; no part ends with `.lock` (names of the kind other tools use
 * for locks) and none is a full commit id (a branch must never shadow one).
 */
export function branchNameProblem(name: string): string | undefined {
  if (name === "") return "a branch name cannot be empty";
  if (name.length > 200) return "a branch name has at most 200 characters";
  if (name.includes("..")) return "a branch name cannot hold '..'";
  for (const part of name.split("/")) {
    if (!BRANCH_PART.test(part)) return "a branch name is made of letters, digits, '.', '_' and '-' in parts joined by '/', each part starting with a letter, a digit or '_'";
    if (part.endsWith(".lock")) return "no part of a branch name may end with '.lock'";
  }
  if (isId(name)) return "a branch name cannot be a commit id";
  return undefined;
}

/** A path of ASCII characters but NUL (a name the fast checks can judge). */
const ASCII = /^[\x01-\x7f]+$/;

/** Longest path a commit holds, in bytes (Linux's PATH_MAX less the terminating NUL). */
const MAX_PATH_BYTES = 4095;
/** Longest name of one folder or file, in bytes. */
const MAX_NAME_BYTES = 255;

/**
 * Why a path cannot be in a commit, or undefined when it can. A commit's paths are relative,
 * `/`-separated, in Unicode NFC, with no empty, `.` or `..` part and no NUL: a checkout can
 * only ever write beneath its folder.
 */
export function commitPathProblem(path: string): string | undefined {
  // Most paths are ASCII: one byte per character, nothing to normalize.
  if (ASCII.test(path)) {
    if (path.startsWith("/")) return "an absolute path";
    if (path.length > MAX_PATH_BYTES) return `a path longer than ${MAX_PATH_BYTES} bytes`;
    for (const part of path.split("/")) {
      if (part === "") return "a path with an empty part ('//' or a '/' at its end)";
      if (part === "." || part === "..") return `a path with a '${part}' part`;
      if (part.length > MAX_NAME_BYTES) return `a name longer than ${MAX_NAME_BYTES} bytes`;
    }
    return undefined;
  }
  if (path === "") return "an empty path";
  if (path.includes("\0")) return "a path with a NUL byte";
  if (path.startsWith("/")) return "an absolute path";
  for (const part of path.split("/")) {
    if (part === "") return "a path with an empty part ('//' or a '/' at its end)";
    if (part === "." || part === "..") return `a path with a '${part}' part`;
  }
  let bytes: Uint8Array;
  try {
    bytes = nameBytes(path);
  } catch {
    return "a path that is not a name (a lone UTF-16 surrogate)";
  }
  if (bytes.length > MAX_PATH_BYTES) return `a path longer than ${MAX_PATH_BYTES} bytes`;
  if (path.split("/").some((part) => nameBytes(part).length > MAX_NAME_BYTES)) return `a name longer than ${MAX_NAME_BYTES} bytes`;
  if (path.normalize("NFC") !== path) return "a path that is not in Unicode NFC";
  return undefined;
}

const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const RETURN = 0x0d;

/**
 * The bytes of a name or a message as one line of a vault file: the name's own bytes (a name
 * that is not UTF-8 keeps them), with `\` written `\\`, a newline `\n` and a carriage return
 * `\r`. {@link unescapeField} reverses it.
 * @example
 * new TextDecoder().decode(escapeField("a\nb\\c")); // "a\\nb\\\\c"
 */
export function escapeField(text: string): Uint8Array {
  const bytes = nameBytes(text);
  if (!bytes.includes(BACKSLASH) && !bytes.includes(NEWLINE) && !bytes.includes(RETURN)) return bytes;
  const out: number[] = [];
  for (const b of bytes) {
    if (b === BACKSLASH) out.push(BACKSLASH, BACKSLASH);
    else if (b === NEWLINE) out.push(BACKSLASH, 0x6e);
    else if (b === RETURN) out.push(BACKSLASH, 0x72);
    else out.push(b);
  }
  return Uint8Array.from(out);
}

/**
 * The text of a field written by {@link escapeField}; undefined for bytes it cannot have
 * written (a raw carriage return, a backslash before anything but `\`, `n` or `r`).
 */
export function unescapeField(bytes: Uint8Array): string | undefined {
  if (!bytes.includes(BACKSLASH)) return bytes.includes(RETURN) ? undefined : nameFromBytes(bytes);
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === RETURN) return undefined;
    if (b !== BACKSLASH) {
      out.push(b);
      continue;
    }
    const next = bytes[++i];
    if (next === BACKSLASH) out.push(BACKSLASH);
    else if (next === 0x6e) out.push(NEWLINE);
    else if (next === 0x72) out.push(RETURN);
    else return undefined;
  }
  return nameFromBytes(Uint8Array.from(out));
}
