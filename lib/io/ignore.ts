/**
 * Ignore lists for tree walks: names that cameras and operating systems leave on cards and
 * drives and that nobody wants in a manifest or a copy.
 */
import { Wildmatch } from "./wildmatch.ts";

/** Ignored unless the user says otherwise: macOS and Windows housekeeping files. */
export const DEFAULT_IGNORES: readonly string[] = [".DS_Store", ".Trashes", ".Spotlight-V100", ".fseventsd", ".TemporaryItems", "._*", "Thumbs.db", "desktop.ini"];

/**
 * A set of shell-style patterns (`*`, `?`, `**`, `[a-z]`, `\` escapes; lib/io/wildmatch.ts),
 * matched in linear time. A pattern without `/` matches an entry's name at any depth; a pattern
 * with `/` matches the path relative to the walk's root; a trailing `/` is dropped.
 * @example
 * new IgnoreList(["._*", "CACHE/*.tmp"]).matches("A001/._clip.mov"); // true
 */
export class IgnoreList {
  readonly patterns: readonly string[];
  #compiled: Wildmatch[] = [];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns;
    for (const pattern of patterns) {
      const trimmed = pattern.replace(/\/+$/, "");
      if (trimmed === "") continue;
      const anchored = trimmed.includes("/");
      this.#compiled.push(Wildmatch.compile(anchored ? trimmed.replace(/^\/+/, "") : trimmed, { anchored }));
    }
  }

  /** True when the entry at this relative path (`/`-separated) is ignored. */
  matches(relativePath: string): boolean {
    return this.#compiled.some((m) => m.matches(relativePath));
  }
}
