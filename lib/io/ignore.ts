/**
 * Ignore lists for tree walks: names that cameras and operating systems leave on cards and
 * drives and that nobody wants in a manifest or a copy.
 */

/** Ignored unless the user says otherwise: macOS and Windows housekeeping files. */
export const DEFAULT_IGNORES: readonly string[] = [
  ".DS_Store",
  ".Trashes",
  ".Spotlight-V100",
  ".fseventsd",
  ".TemporaryItems",
  "._*",
  "Thumbs.db",
  "desktop.ini",
];

function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === "*") {
      if (glob[i + 1] === "*") {
        source += ".*";
        i++;
      } else {
        source += "[^/]*";
      }
    } else if (ch === "?") {
      source += "[^/]";
    } else {
      source += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`, "u");
}

/**
 * A set of shell-style patterns (`*`, `?`, `**`). A pattern without `/` matches an entry's
 * name at any depth; a pattern with `/` matches the path relative to the walk's root.
 * @example
 * new IgnoreList(["._*", "CACHE/*.tmp"]).matches("A001/._clip.mov"); // true
 */
export class IgnoreList {
  readonly patterns: readonly string[];
  #byName: RegExp[] = [];
  #byPath: RegExp[] = [];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns;
    for (const pattern of patterns) {
      const trimmed = pattern.replace(/\/+$/, "");
      if (trimmed === "") continue;
      if (trimmed.includes("/")) this.#byPath.push(globToRegExp(trimmed.replace(/^\/+/, "")));
      else this.#byName.push(globToRegExp(trimmed));
    }
  }

  /** True when the entry at this relative path (`/`-separated) is ignored. */
  matches(relativePath: string): boolean {
    const name = relativePath.slice(relativePath.lastIndexOf("/") + 1);
    return this.#byName.some((re) => re.test(name)) || this.#byPath.some((re) => re.test(relativePath));
  }
}
