/**
 * A small, strict XML reader and writer for the MHL formats (lib/mhl) and the LTFS index and
 * label (lib/ltfs). The reader builds a tree of elements with line numbers and refuses what
 * these formats never need and an attacker would use: DOCTYPE declarations (DTDs), entity
 * declarations, external entities, and any entity other than the five predefined ones and
 * numeric character references. Errors name the file and line.
 */
import { CliError } from "../core/errors.ts";

/** An element: its name as written (prefix included), attributes, children and line. */
export interface XmlElement {
  name: string;
  /** Local name without a namespace prefix. */
  localName: string;
  attributes: Map<string, string>;
  children: XmlNode[];
  /** 1-based line of the start tag. */
  line: number;
}

/** Element or text. */
export type XmlNode = XmlElement | string;

/** A parse error, exit code 2 by default, naming the file and line. */
export class XmlError extends CliError {
  readonly line: number;
  constructor(file: string, line: number, message: string, exitCode = 2) {
    super(`line ${line}: ${message}`, { path: file, exitCode });
    this.line = line;
  }
}

const PREDEFINED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Options of {@link parseXml}. */
export interface ParseOptions {
  /**
   * Called with each complete element and its parent; returning true takes the element out of
   * the tree (with the layout text before it), so a reader can turn a long list into its own
   * objects one element at a time instead of holding every element of the document.
   */
  consume?: (element: XmlElement, parent: XmlElement) => boolean;
  /**
   * Most elements, attributes and pieces of text the tree may hold at once (those of elements
   * `consume` took are not counted): a file of a few megabytes of `<x/>` would otherwise hold
   * millions of elements, some 250 bytes each. More is an error naming the file and line.
   * @default no bound
   */
  maxElements?: number;
  /**
   * Most characters of text one element may hold (a hostile file must not make the reader
   * hold one huge path); more is an error naming the file and line.
   * @default 65536
   */
  maxText?: number;
  /**
   * Called at each start tag inside the root element, with where it starts (its `<`), its line
   * and its parent: a reader that recognizes the whole element there, in a layout it reads
   * faster itself, returns where the element ends (after its end tag) and the element is taken
   * out of the tree as by `consume`; -1 lets this reader read it. What it takes must be read
   * exactly as this reader and `consume` would read it (it is an optimization, never a
   * second grammar): anything else is left to this reader, which names what is wrong.
   */
  skim?: (text: string, at: number, line: number, parent: XmlElement) => number;
}

function isXmlCharacter(code: number): boolean {
  return code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}

/** A start tag's `<name` (see {@link parseXml}). */
const START_TAG = /<([A-Za-z_][\w.:-]*)/y;
/** A start tag's next attribute, or its end. */
const ATTRIBUTE = /\s*(?:(\/?>)|([A-Za-z_][\w.:-]*)\s*=\s*("([^"]*)"|'([^']*)'))/y;

/**
 * Parses an XML document and returns its root element.
 * @param file name used in error messages
 * @throws {XmlError} for malformed XML, DTDs, entity declarations and unknown entities.
 * @example
 * declare const text: string;
 * const root = parseXml(text, "0001_A002R2EC_2020-01-16_091500Z.mhl");
 * childElement(root, "creatorinfo");
 */
export function parseXml(text: string, file: string, options: ParseOptions = {}): XmlElement {
  const consume = options.consume;
  const skim = options.skim;
  /** Hands a complete element to `consume`; one it takes leaves the tree, with the layout before it. */
  const completed = (element: XmlElement, heldBefore: number) => {
    const parent = stack.at(-1);
    if (!consume || !parent || !consume(element, parent)) return;
    // It leaves the tree with whatever it still holds: every element made since it began.
    held = heldBefore;
    parent.children.pop();
    const before = parent.children.at(-1);
    if (typeof before === "string" && before.trim() === "") {
      parent.children.pop();
      held--;
    }
  };
  const maxElements = options.maxElements ?? Number.POSITIVE_INFINITY;
  /** Elements in the tree now, and how many there were as each open element began. */
  let held = 0;
  const heldAt: number[] = [];
  let pos = 0;
  let line = 1;
  const fail = (message: string): never => {
    throw new XmlError(file, line, message);
  };
  /** The next line feed at or after `pos` (-1: none left), found by the engine's search once each. */
  let nextLineFeed = text.indexOf("\n");
  const advance = (to: number) => {
    while (nextLineFeed >= 0 && nextLineFeed < to) {
      line++;
      nextLineFeed = text.indexOf("\n", nextLineFeed + 1);
    }
    pos = to;
  };
  const maxText = options.maxText ?? 1 << 16;
  /** Non-blank text each open element holds so far, by depth. */
  const textHeld: number[] = [];
  const addText = (raw: string) => {
    const depth = stack.length - 1;
    if (raw.trim() !== "") textHeld[depth] = (textHeld[depth] ?? 0) + raw.length;
    if ((textHeld[depth] ?? 0) > maxText) fail(`text of <${stack[depth]!.name}> is longer than ${maxText} characters`);
    // A piece of text is held as an element is: comments can cut layout into any number of them.
    if (++held > maxElements) fail(`more than ${maxElements.toLocaleString("en")} elements, attributes and pieces of text`);
    stack[depth]!.children.push(raw);
  };
  const decode = (raw: string): string => {
    // Most text and values hold no reference: nothing to replace (once per element of a
    // generation of many files).
    if (!raw.includes("&")) return raw;
    return raw.replace(/&([^;&\s]*);?/g, (match, body: string) => {
      if (!match.endsWith(";")) fail(`unterminated entity reference '${match}'`);
      if (body.startsWith("#x") || body.startsWith("#X")) {
        const code = Number.parseInt(body.slice(2), 16);
        if (!/^#[xX][0-9a-fA-F]+$/.test(body) || !isXmlCharacter(code)) fail(`invalid character reference '&${body};'`);
        return String.fromCodePoint(code);
      }
      if (body.startsWith("#")) {
        const code = Number(body.slice(1));
        if (!/^#\d+$/.test(body) || !isXmlCharacter(code)) fail(`invalid character reference '&${body};'`);
        return String.fromCodePoint(code);
      }
      const value = PREDEFINED[body];
      if (value === undefined) fail(`entity '&${body};' is not allowed (only &amp; &lt; &gt; &quot; &apos; and numeric references)`);
      return value!;
    });
  };
  /** A text chunk longer than any element may hold is refused before it is copied. */
  const checkLength = (from: number, to: number) => {
    // (outside the root element, text is an error of its own below)
    if (stack.length > 0 && to - from > maxText) fail(`text of <${stack.at(-1)!.name}> is longer than ${maxText} characters`);
  };

  if (text.charCodeAt(0) === 0xfeff) pos = 1;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (pos < text.length) {
    const lt = text.indexOf("<", pos);
    if (lt < 0) {
      checkLength(pos, text.length);
      const rest = text.slice(pos);
      if (rest.trim() !== "") {
        if (stack.length === 0) fail("text after the root element");
        addText(decode(rest));
      }
      advance(text.length);
      break;
    }
    if (lt > pos) {
      checkLength(pos, lt);
      const raw = text.slice(pos, lt);
      if (stack.length > 0) addText(decode(raw));
      else if (raw.trim() !== "") fail("text outside the root element");
      advance(lt);
    }
    // The character after '<' tells the kind (a start tag, the most common, in one look).
    const next = text.charCodeAt(pos + 1);
    if (next === 0x3f /* <? */) {
      const end = text.indexOf("?>", pos);
      if (end < 0) fail("unterminated processing instruction");
      advance(end + 2);
    } else if (next === 0x21 /* <! */ && text.startsWith("<!--", pos)) {
      const end = text.indexOf("-->", pos);
      if (end < 0) fail("unterminated comment");
      advance(end + 3);
    } else if (next === 0x21 && text.startsWith("<![CDATA[", pos)) {
      const end = text.indexOf("]]>", pos);
      if (end < 0) fail("unterminated CDATA section");
      if (stack.length === 0) fail("CDATA outside the root element");
      checkLength(pos + 9, end);
      addText(text.slice(pos + 9, end));
      advance(end + 3);
    } else if (next === 0x21) {
      const word = /^<!([A-Z]+)/.exec(text.slice(pos, pos + 12))?.[1] ?? "";
      fail(word === "DOCTYPE" ? "DOCTYPE declarations (DTDs) are not allowed" : word === "ENTITY" ? "entity declarations are not allowed" : `unexpected '<!${word}'`);
    } else if (next === 0x2f /* </ */) {
      const end = text.indexOf(">", pos);
      if (end < 0) fail("unterminated end tag");
      const name = text.slice(pos + 2, end).trim();
      const open = stack.pop();
      const heldBefore = heldAt.pop() ?? 0;
      textHeld.length = stack.length;
      if (!open) fail(`end tag </${name}> without a start tag`);
      if (open!.name !== name) fail(`end tag </${name}> does not match <${open!.name}> (line ${open!.line})`);
      advance(end + 1);
      completed(open!, heldBefore);
    } else {
      if (skim && stack.length > 0) {
        const parent = stack.at(-1)!;
        const end = skim(text, pos, line, parent);
        if (end > pos) {
          // Taken as by `consume`: with the layout text before it.
          const before = parent.children.at(-1);
          if (typeof before === "string" && before.trim() === "") {
            parent.children.pop();
            held--;
          }
          advance(end);
          continue;
        }
      }
      // Matched where they stand (sticky), not on a copy of what follows: a tag name is read
      // up to 255 characters and a tag's attribute up to 65,536 characters, as before.
      START_TAG.lastIndex = pos;
      const match = START_TAG.exec(text);
      if (!match) fail("malformed start tag");
      const name = match![1]!.slice(0, 255);
      const startLine = line;
      let i = pos + 1 + name.length;
      const attributes = new Map<string, string>();
      for (;;) {
        ATTRIBUTE.lastIndex = i;
        let rest = ATTRIBUTE.exec(text);
        if (rest && rest[0].length > 65536) rest = null;
        if (!rest) {
          advance(i);
          fail(`malformed attribute in <${name}>`);
        }
        i += rest![0].length;
        if (rest![1]) break;
        const attrName = rest![2]!;
        if (attributes.has(attrName)) fail(`duplicate attribute '${attrName}' in <${name}>`);
        // Counted as they come (120 elements of 20,000 attributes each took 830 MB), and below.
        if (held + 1 + attributes.size >= maxElements) fail(`more than ${maxElements.toLocaleString("en")} elements, attributes and pieces of text`);
        attributes.set(attrName, decode(rest![4] ?? rest![5] ?? ""));
      }
      const selfClosing = text[i - 2] === "/";
      const heldBefore = held;
      held += 1 + attributes.size;
      if (held > maxElements) fail(`more than ${maxElements.toLocaleString("en")} elements, attributes and pieces of text`);
      const element: XmlElement = { name, localName: name.slice(name.indexOf(":") + 1), attributes, children: [], line: startLine };
      if (stack.length > 0) stack.at(-1)!.children.push(element);
      else if (root) fail("more than one root element");
      else root = element;
      if (!selfClosing) {
        textHeld[stack.push(element) - 1] = 0;
        heldAt.push(heldBefore);
      }
      advance(i);
      if (selfClosing) completed(element, heldBefore);
    }
  }
  if (stack.length > 0) fail(`<${stack.at(-1)!.name}> (line ${stack.at(-1)!.line}) is never closed`);
  if (!root) fail("no root element");
  return root!;
}

/** Child elements, optionally only those with this local name. */
export function childElements(element: XmlElement, localName?: string): XmlElement[] {
  return element.children.filter((c): c is XmlElement => typeof c !== "string" && (localName === undefined || c.localName === localName));
}

/** The first child element with this local name, or undefined. */
export function childElement(element: XmlElement, localName: string): XmlElement | undefined {
  return childElements(element, localName)[0];
}

/**
 * The element's text content, exactly (not trimmed: a file name may begin or end with a space).
 */
export function textOf(element: XmlElement | undefined): string {
  if (!element) return "";
  return element.children.filter((c): c is string => typeof c === "string").join("");
}

/** Characters {@link escapeText} replaces. */
const NEEDS_ESCAPE = /[&<>\r\n\t]/;

/**
 * Escapes text content. CR, LF and TAB are written as character references: a parser turns a
 * raw CR (or CR LF) into LF, and in an attribute any of them into a space, so a name holding one
 * would be read back as another name.
 */
export function escapeText(text: string): string {
  // Most text (hashes, dates, sizes, plain names) needs nothing: one scan instead of six.
  if (!NEEDS_ESCAPE.test(text)) return text;
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll("\r", "&#13;").replaceAll("\n", "&#10;").replaceAll("\t", "&#9;");
}

/** Escapes an attribute value (double-quoted). */
export function escapeAttribute(text: string): string {
  const escaped = escapeText(text);
  return escaped.includes('"') ? escaped.replaceAll('"', "&quot;") : escaped;
}

/** Indentation by depth, two spaces a level: made once for the depths documents have. */
const INDENTS: string[] = Array.from({ length: 64 }, (_, depth) => "  ".repeat(depth));
function indentOf(depth: number): string {
  return INDENTS[depth] ?? "  ".repeat(depth);
}

/**
 * Writes indented XML (two spaces per level, as the reference writes MHL files), starting with
 * the UTF-8 declaration.
 * @example
 * const w = new XmlWriter();
 * w.open("hashlist", { version: "2.0", xmlns: "urn:ASC:MHL:v2.0" });
 * w.leaf("hostname", {}, "cart-01");
 * w.close();
 * w.toString();
 */
export class XmlWriter {
  #lines: string[];
  #pending = 0;
  #open: string[];
  readonly #sink: ((text: string) => void) | undefined;

  /**
   * @param sink receives the text in pieces as it is written (then {@link end} sends the rest);
   *   without one, {@link toString} gives the whole document.
   * @param within for a fragment of a document (no XML declaration): the elements it is
   *   written inside, for its indentation; {@link flush} sends what is pending.
   */
  constructor(sink?: (text: string) => void, within?: readonly string[]) {
    this.#sink = sink;
    this.#lines = within ? [] : ['<?xml version="1.0" encoding="UTF-8"?>'];
    this.#open = within ? [...within] : [];
  }

  #push(line: string): void {
    this.#lines.push(line);
    this.#pending += line.length;
    // A generation of 200,000 files is written in pieces, never held whole.
    if (this.#sink && this.#pending >= 1 << 16) {
      this.#sink(`${this.#lines.join("\n")}\n`);
      this.#lines = [];
      this.#pending = 0;
    }
  }

  #attrs(attributes: Record<string, string | undefined>): string {
    let text = "";
    for (const key of Object.keys(attributes)) {
      const value = attributes[key];
      if (value !== undefined) text += ` ${key}="${escapeAttribute(value)}"`;
    }
    return text;
  }

  /** Opens an element; children follow until {@link close}. */
  open(name: string, attributes: Record<string, string | undefined> = {}): this {
    this.#push(`${indentOf(this.#open.length)}<${name}${this.#attrs(attributes)}>`);
    this.#open.push(name);
    return this;
  }

  /** An element with text content (or empty) on one line. */
  leaf(name: string, attributes: Record<string, string | undefined>, text?: string): this {
    const indent = indentOf(this.#open.length);
    this.#push(text === undefined ? `${indent}<${name}${this.#attrs(attributes)}/>` : `${indent}<${name}${this.#attrs(attributes)}>${escapeText(text)}</${name}>`);
    return this;
  }

  /** Closes the innermost open element. */
  close(): this {
    const name = this.#open.pop();
    if (name === undefined) throw new Error("XmlWriter: nothing to close");
    this.#push(`${indentOf(this.#open.length)}</${name}>`);
    return this;
  }

  /** Text a fragment writer made (whole lines, each ending in a newline), as it stands. */
  raw(text: string): this {
    if (text !== "") this.#push(text.endsWith("\n") ? text.slice(0, -1) : text);
    return this;
  }

  /** Sends the lines written so far to the sink (a fragment's writer, when its part is done). */
  flush(): void {
    if (!this.#sink) throw new Error("XmlWriter: flush() needs a sink");
    if (this.#lines.length > 0) this.#sink(`${this.#lines.join("\n")}\n`);
    this.#lines = [];
    this.#pending = 0;
  }

  /** Sends what is left to the sink (the document ends with a newline). */
  end(): void {
    if (this.#open.length) throw new Error(`XmlWriter: <${this.#open.at(-1)}> is still open`);
    if (!this.#sink) throw new Error("XmlWriter: end() needs a sink; use toString()");
    this.flush();
  }

  /** The document, ending with a newline. */
  toString(): string {
    if (this.#open.length) throw new Error(`XmlWriter: <${this.#open.at(-1)}> is still open`);
    return `${this.#lines.join("\n")}\n`;
  }
}
