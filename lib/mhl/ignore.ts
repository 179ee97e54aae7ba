/**
 * Ignore patterns of an MHL history, with gitwildmatch (`.gitignore`) semantics as the reference
 * applies them: the defaults `.DS_Store`, `ascmhl`, `ascmhl/`; the latest generation's patterns
 * replace the defaults; `-i PATTERN` and `-ii FILE` add to them (no duplicates).
 */
import { readFileSync } from "node:fs";

/** Patterns used when a history has none yet. */
export const DEFAULT_MHL_IGNORES: readonly string[] = [".DS_Store", "ascmhl", "ascmhl/"];

interface CompiledPattern {
  negated: boolean;
  directoryOnly: boolean;
  regex: RegExp;
}

function classToRegExp(glob: string, start: number): [string, number] | undefined {
  let i = start + 1;
  let body = "";
  if (glob[i] === "!" || glob[i] === "^") {
    body += "^";
    i++;
  }
  if (glob[i] === "]") {
    body += "\\]";
    i++;
  }
  for (; i < glob.length && glob[i] !== "]"; i++) body += glob[i] === "\\" ? "\\\\" : glob[i];
  if (i >= glob.length) return undefined;
  return [`[${body}]`, i];
}

function compile(line: string): CompiledPattern | undefined {
  let pattern = line.replace(/(?<!\\)\s+$/, "");
  if (pattern === "" || pattern.startsWith("#")) return undefined;
  const negated = pattern.startsWith("!");
  if (negated) pattern = pattern.slice(1);
  if (pattern.startsWith("\\#") || pattern.startsWith("\\!")) pattern = pattern.slice(1);
  const directoryOnly = pattern.endsWith("/");
  pattern = pattern.replace(/\/+$/, "");
  if (pattern === "") return undefined;
  // A slash at the start or in the middle anchors the pattern to the root.
  const anchored = pattern.includes("/");
  pattern = pattern.replace(/^\/+/, "");
  let source = anchored ? "^" : "^(?:.*/)?";
  const segments = pattern.split("/");
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === "**") {
      source += last ? ".*" : "(?:.*/)?";
      return;
    }
    for (let i = 0; i < segment.length; i++) {
      const ch = segment[i]!;
      if (ch === "*") {
        while (segment[i + 1] === "*") i++;
        source += "[^/]*";
      } else if (ch === "?") source += "[^/]";
      else if (ch === "[") {
        const klass = classToRegExp(segment, i);
        if (klass) {
          source += klass[0];
          i = klass[1];
        } else source += "\\[";
      } else if (ch === "\\" && i + 1 < segment.length) {
        source += segment[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      } else source += ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
    if (!last) source += "/";
  });
  return { negated, directoryOnly, regex: new RegExp(`${source}$`, "su") };
}

/**
 * An ordered list of gitwildmatch patterns; the last matching pattern decides, `!` re-includes.
 * @example
 * const spec = new IgnoreSpec(["*.tmp", "cache/"]);
 * spec.ignores("A001/clip.tmp", false); // true
 */
export class IgnoreSpec {
  readonly patterns: readonly string[];
  #compiled: CompiledPattern[];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns;
    this.#compiled = patterns.map(compile).filter((p): p is CompiledPattern => p !== undefined);
  }

  /**
   * Builds the spec for a run: the latest generation's patterns (or the defaults), then the
   * `-i` patterns, then the lines of the `-ii` file; duplicates dropped, order kept.
   */
  static forRun(latest: readonly string[] | undefined, extra: readonly string[] = [], file?: string): IgnoreSpec {
    const out: string[] = [];
    const add = (list: Iterable<string>) => {
      for (const p of list) if (!out.includes(p)) out.push(p);
    };
    add(latest && latest.length > 0 ? latest : DEFAULT_MHL_IGNORES);
    add(extra);
    if (file !== undefined) add(readFileSync(file, "utf8").split("\n").map((l) => l.replace(/\r$/, "")).filter((l) => l !== ""));
    return new IgnoreSpec(out);
  }

  #matchOne(path: string, isDirectory: boolean): boolean | undefined {
    let verdict: boolean | undefined;
    for (const p of this.#compiled) {
      if (p.directoryOnly && !isDirectory) continue;
      if (p.regex.test(path)) verdict = !p.negated;
    }
    return verdict;
  }

  /**
   * True when the entry at this relative path is ignored, itself or through an ignored parent
   * folder (as git: nothing below an ignored folder can be re-included).
   */
  ignores(relativePath: string, isDirectory: boolean): boolean {
    const segments = relativePath.split("/");
    for (let i = 1; i < segments.length; i++) {
      if (this.#matchOne(segments.slice(0, i).join("/"), true)) return true;
    }
    return this.#matchOne(relativePath, isDirectory) === true;
  }
}
