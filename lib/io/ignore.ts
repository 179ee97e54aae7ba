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
  /** Patterns without `/`: matched against the last name, taken once per path. */
  #byName: Wildmatch[] = [];
  #byPath: Wildmatch[] = [];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns;
    for (const pattern of patterns) {
      const trimmed = pattern.replace(/\/+$/, "");
      if (trimmed === "") continue;
      const anchored = trimmed.includes("/");
      const compiled = Wildmatch.compile(anchored ? trimmed.replace(/^\/+/, "") : trimmed, { anchored });
      (anchored ? this.#byPath : this.#byName).push(compiled);
    }
  }

  /** True when the entry at this relative path (`/`-separated) is ignored. */
  matches(relativePath: string): boolean {
    // Called once per walked entry: plain loops, the last name cut out once.
    if (this.#byName.length > 0) {
      const name = relativePath.slice(relativePath.lastIndexOf("/") + 1);
      for (const m of this.#byName) if (m.matches(name)) return true;
    }
    for (const m of this.#byPath) if (m.matches(relativePath)) return true;
    return false;
  }
}
