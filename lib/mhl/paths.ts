/**
 * Paths inside MHL files: relative, `/`-separated, compared in Unicode NFC, and never allowed to
 * leave their root. A history is a security record: a `<path>` that points outside the folder
 * it describes is refused rather than interpreted.
 */
import { showName } from "../core/names.ts";

/** Why a path from an MHL file is refused, or undefined when it is acceptable. */
export function unsafePathReason(path: string): string | undefined {
  if (path === "") return "empty path";
  if (path.includes("\0")) return "path contains a NUL character";
  if (path.startsWith("/") || path.startsWith("\\") || /^[A-Za-z]:/.test(path)) return `absolute path '${showName(path)}'`;
  if (path.split(/[/\\]/).some((segment) => segment === "..")) return `path '${showName(path)}' escapes the root`;
  return undefined;
}

/**
 * The key under which a relative path is looked up first: exactly as written, without a leading
 * `./` or a trailing `/`. Two names that differ only in Unicode normalization are two files.
 */
export function exactKey(path: string): string {
  // Looked up once or more per file: most paths have nothing to take off.
  if (!path.startsWith("./") && !path.endsWith("/")) return path;
  return path.replace(/^(?:\.\/)+/, "").replace(/\/+$/, "");
}

/** The key under which a relative path is compared when its exact name is missing: NFC, no `./`, no trailing `/`. */
export function pathKey(path: string): string {
  return path
    .normalize("NFC")
    .replace(/^(?:\.\/)+/, "")
    .replace(/\/+$/, "");
}

/** Joins relative path segments with `/`, treating "" and "." as the root. */
export function joinRelative(...parts: string[]): string {
  return parts.filter((p) => p !== "" && p !== ".").join("/");
}

/** The last segment of a relative path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The parent of a relative path ("" for a top-level entry). */
export function parentPath(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}
