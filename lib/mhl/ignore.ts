/**
 * Ignore patterns of an MHL history, with gitwildmatch (`.gitignore`) semantics as the reference
 * applies them: the defaults `.DS_Store`, `ascmhl`, `ascmhl/`; the latest generation's patterns
 * replace the defaults; `-i PATTERN` and `-ii FILE` add to them (no duplicates).
 */
import { guardWaitOn } from "../core/interrupt_guard.ts";
import { readFileSync } from "node:fs";
import { Wildmatch } from "../io/wildmatch.ts";

/** Patterns used when a history has none yet. */
export const DEFAULT_MHL_IGNORES: readonly string[] = [".DS_Store", "ascmhl", "ascmhl/"];

interface CompiledPattern {
  negated: boolean;
  directoryOnly: boolean;
  match: Wildmatch;
}

/** Trailing spaces are dropped unless escaped with a backslash (as git does). */
function trimTrailingSpaces(line: string): string {
  let end = line.length;
  while (end > 0 && /\s/.test(line[end - 1]!)) {
    let backslashes = 0;
    for (let i = end - 2; i >= 0 && line[i] === "\\"; i--) backslashes++;
    if (backslashes % 2 === 1) break;
    end--;
  }
  return line.slice(0, end);
}

function compile(line: string): CompiledPattern | undefined {
  let pattern = trimTrailingSpaces(line);
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
  return { negated, directoryOnly, match: Wildmatch.compile(pattern, { anchored }) };
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
    const seen = new Set<string>();
    const add = (list: Iterable<string>) => {
      for (const p of list) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push(p);
      }
    };
    add(latest && latest.length > 0 ? latest : DEFAULT_MHL_IGNORES);
    add(extra);
    if (file !== undefined) guardWaitOn(file);
    if (file !== undefined)
      add(
        readFileSync(file, "utf8")
          .split("\n")
          .map((l) => l.replace(/\r$/, ""))
          .filter((l) => l !== ""),
      );
    return new IgnoreSpec(out);
  }

  #matchOne(path: string, isDirectory: boolean): boolean | undefined {
    let verdict: boolean | undefined;
    for (const p of this.#compiled) {
      if (p.directoryOnly && !isDirectory) continue;
      if (p.match.matches(path)) verdict = !p.negated;
    }
    return verdict;
  }

  /**
   * True when the entry itself is ignored, its folders not considered: what a walk asks, having
   * never entered an ignored folder.
   */
  ignoresEntry(relativePath: string, isDirectory: boolean): boolean {
    return this.#matchOne(relativePath, isDirectory) === true;
  }

  /**
   * True when the entry at this relative path is ignored, itself or through an ignored parent
   * folder (as git: nothing below an ignored folder can be re-included).
   */
  ignores(relativePath: string, isDirectory: boolean): boolean {
    for (let slash = relativePath.indexOf("/"); slash >= 0; slash = relativePath.indexOf("/", slash + 1)) {
      if (this.#matchOne(relativePath.slice(0, slash), true)) return true;
    }
    return this.#matchOne(relativePath, isDirectory) === true;
  }
}
