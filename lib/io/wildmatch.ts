/**
 * Wildcard patterns over `/`-separated paths, matched in time linear in the path's length (times
 * the pattern's), with no backtracking. Ignore patterns come from places nobody vouches for (an
 * MHL history written by someone else, a command line pasted from a mail): a backtracking regex
 * turns `*a*a*a*…*c` against a 40-character name into minutes of one core, deaf to signals.
 *
 * A pattern compiles to a small automaton whose states are the positions between its tokens;
 * matching keeps the set of states the path so far can be in (a Thompson simulation), one step
 * per character. Tokens, as git's wildmatch defines them:
 * - `?` one character but `/`; `*` any run of characters without `/`;
 * - `**` as a whole segment: in the middle (`a/**\/b`) zero or more folders, at the end (`a/**`)
 *   everything below; elsewhere (`a**b`) it is `*`;
 * - `[abc]`, `[a-z]`, `[!a]` / `[^a]` one character of (or not of) a set, never `/`; `]` first in
 *   the set is a member; `\` escapes inside; a `[` without its `]` is itself;
 * - `\x` the character x itself; any other character itself.
 */

type Token = { kind: "char"; code: number } | { kind: "one" } | { kind: "class"; negated: boolean; ranges: number[] } | { kind: "star" } | { kind: "everything" } | { kind: "folders" };

const SLASH = 0x2f;

/** Options of {@link Wildmatch.compile}. */
export interface WildmatchOptions {
  /**
   * False: the pattern may match below any folder (as if it began with `**\/`); a pattern
   * without `/` then matches the path's last name.
   * @default true
   */
  anchored?: boolean;
}

/** The characters of a string as code points (a lone surrogate is one character). */
function codePoints(text: string): number[] {
  const out: number[] = [];
  for (const ch of text) out.push(ch.codePointAt(0)!);
  return out;
}

/** Reads a `[...]` set starting at `start` (the `[`); undefined when it never closes. */
function readClass(chars: number[], start: number): { token: Token; end: number } | undefined {
  let i = start + 1;
  let negated = false;
  if (chars[i] === 0x21 /* ! */ || chars[i] === 0x5e /* ^ */) {
    negated = true;
    i++;
  }
  const ranges: number[] = [];
  let first = true;
  for (; i < chars.length; i++) {
    let c = chars[i]!;
    if (c === 0x5d /* ] */ && !first) return { token: { kind: "class", negated, ranges }, end: i };
    first = false;
    if (c === 0x5c /* \ */ && i + 1 < chars.length) c = chars[++i]!;
    let hi = c;
    if (chars[i + 1] === 0x2d /* - */ && i + 2 < chars.length && chars[i + 2] !== 0x5d) {
      hi = chars[i + 2]!;
      i += 2;
      if (hi === 0x5c && i + 1 < chars.length) hi = chars[++i]!;
    }
    if (hi >= c) ranges.push(c, hi);
  }
  return undefined;
}

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  const segments = pattern.split("/");
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === "**") {
      tokens.push(last ? { kind: "everything" } : { kind: "folders" });
      return;
    }
    const chars = codePoints(segment);
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i]!;
      if (c === 0x2a /* * */) {
        while (chars[i + 1] === 0x2a) i++;
        tokens.push({ kind: "star" });
      } else if (c === 0x3f /* ? */) tokens.push({ kind: "one" });
      else if (c === 0x5b /* [ */) {
        const set = readClass(chars, i);
        if (set) {
          tokens.push(set.token);
          i = set.end;
        } else tokens.push({ kind: "char", code: c });
      } else if (c === 0x5c /* \ */ && i + 1 < chars.length) tokens.push({ kind: "char", code: chars[++i]! });
      else tokens.push({ kind: "char", code: c });
    }
    if (!last) tokens.push({ kind: "char", code: SLASH });
  });
  return tokens;
}

/**
 * A matcher for a pattern that is a literal, `literal*` or `*literal` (no `?`, `[`, `\`, no
 * other `*`), for a pattern matched against the last name only or anchored at the root.
 */
function quickMatcher(pattern: string, lastNameOnly: boolean): ((text: string) => boolean) | undefined {
  if (/[?[\\]/.test(pattern)) return undefined;
  const stars = pattern.split("*").length - 1;
  if (stars === 0) return (text) => text === pattern;
  if (!lastNameOnly || stars !== 1) return undefined;
  // In a last name there is no '/', so '*' is any run of characters here.
  if (pattern.endsWith("*")) {
    const prefix = pattern.slice(0, -1);
    return (text) => text.startsWith(prefix);
  }
  if (pattern.startsWith("*")) {
    const suffix = pattern.slice(1);
    return (text) => text.endsWith(suffix);
  }
  return undefined;
}

function inClass(token: { negated: boolean; ranges: number[] }, c: number): boolean {
  if (c === SLASH) return false;
  let found = false;
  for (let k = 0; k < token.ranges.length; k += 2) {
    if (c >= token.ranges[k]! && c <= token.ranges[k + 1]!) {
      found = true;
      break;
    }
  }
  return found !== token.negated;
}

/**
 * One compiled pattern.
 * @example
 * Wildmatch.compile("proxies/**\/*.mp4").matches("proxies/day1/a.mp4"); // true
 * Wildmatch.compile("*.tmp", { anchored: false }).matches("a/b/c.tmp"); // true
 */
export class Wildmatch {
  readonly pattern: string;
  readonly #tokens: Token[];
  /** Unanchored and without `/`: only the last name of a path can match. */
  readonly #lastNameOnly: boolean;
  /** State i: before token i (tokens.length: matched). State tokens.length + 1 + i: inside token i's folders. */
  #current: Uint8Array;
  #next: Uint8Array;

  /**
   * The shapes nearly every real pattern has, matched without the state machine: a literal
   * (`.DS_Store`), `prefix*` (`._*`), `*suffix` (`*.tmp`). Undefined for anything else.
   */
  readonly #quick: ((text: string) => boolean) | undefined;

  private constructor(pattern: string, tokens: Token[], lastNameOnly: boolean, quick: ((text: string) => boolean) | undefined) {
    this.pattern = pattern;
    this.#tokens = tokens;
    this.#lastNameOnly = lastNameOnly;
    this.#quick = quick;
    this.#current = new Uint8Array(2 * (tokens.length + 1));
    this.#next = new Uint8Array(2 * (tokens.length + 1));
  }

  /** Compiles a pattern (see the module's description for its syntax). */
  static compile(pattern: string, options: WildmatchOptions = {}): Wildmatch {
    const tokens = tokenize(pattern);
    // `**/x` where x holds no `/` is x matched against the last name: no need to run over the
    // folders before it (a path 2,000 folders deep costs its last name, not its length).
    const lastNameOnly = options.anchored === false && !pattern.includes("/");
    const floating = options.anchored === false && !lastNameOnly;
    if (floating) tokens.unshift({ kind: "folders" });
    return new Wildmatch(pattern, tokens, lastNameOnly, floating ? undefined : quickMatcher(pattern, lastNameOnly));
  }

  /** Follows the moves that read nothing: past `*`, `**` and a folders token. */
  #close(states: Uint8Array): void {
    const tokens = this.#tokens;
    for (let i = 0; i < tokens.length; i++) {
      if (states[i] && tokens[i]!.kind !== "char" && tokens[i]!.kind !== "one" && tokens[i]!.kind !== "class") states[i + 1] = 1;
    }
  }

  /** True when the whole path matches. */
  matches(path: string): boolean {
    if (this.#lastNameOnly) path = path.slice(path.lastIndexOf("/") + 1);
    if (this.#quick) return this.#quick(path);
    const tokens = this.#tokens;
    const m = tokens.length;
    const inside = m + 1;
    let current = this.#current;
    let next = this.#next;
    current.fill(0);
    current[0] = 1;
    this.#close(current);
    for (const ch of path) {
      const c = ch.codePointAt(0)!;
      next.fill(0);
      let any = false;
      for (let i = 0; i < m; i++) {
        const token = tokens[i]!;
        if (current[i]) {
          switch (token.kind) {
            case "char":
              if (c === token.code) next[i + 1] = 1;
              break;
            case "one":
              if (c !== SLASH) next[i + 1] = 1;
              break;
            case "class":
              if (inClass(token, c)) next[i + 1] = 1;
              break;
            case "star":
              if (c !== SLASH) next[i] = 1;
              break;
            case "everything":
              next[i] = 1;
              break;
            case "folders":
              next[inside + i] = 1;
              if (c === SLASH) next[i + 1] = 1;
              break;
          }
        }
        // Inside a folders token: any run of characters that ends with `/`.
        if (current[inside + i]) {
          next[inside + i] = 1;
          if (c === SLASH) next[i + 1] = 1;
        }
      }
      this.#close(next);
      for (let i = 0; i < next.length; i++) {
        if (next[i]) {
          any = true;
          break;
        }
      }
      if (!any) return false;
      [current, next] = [next, current];
    }
    return current[m] === 1;
  }
}
