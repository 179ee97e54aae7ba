/** lib/xml/xml (as the MHL formats use it): the strict reader refuses DTDs and entities; writer and reader round-trip. */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readChain } from "../lib/mhl/chain.ts";
import { plainMediaHash, readGeneration } from "../lib/mhl/generation.ts";
import { childElement, childElements, parseXml, textOf, XmlWriter } from "../lib/xml/xml.ts";

const FIXTURE = join(import.meta.dir, "fixtures/ascmhl/scenarios/scenario_02/file_server/A002R2EC/ascmhl/0002_A002R2EC_2020-01-17_143000Z.mhl");

test("reads a reference generation file with line numbers", () => {
  const root = parseXml(readFileSync(FIXTURE, "utf8"), "0002.mhl");
  expect(root.localName).toBe("hashlist");
  expect(root.attributes.get("xmlns")).toBe("urn:ASC:MHL:v2.0");
  expect(textOf(childElement(childElement(root, "creatorinfo")!, "hostname"))).toBe("myHost.local");
  const hashes = childElements(childElement(root, "hashes")!, "hash");
  expect(hashes).toHaveLength(3);
  expect(hashes[0]!.line).toBe(25);
  expect(textOf(childElement(hashes[0]!, "path"))).toBe("Clips/A002C006_141024_R2EC.mov");
  expect(childElement(hashes[0]!, "xxh64")!.attributes.get("action")).toBe("verified");
});

test("refuses DTDs, entity declarations, external and unknown entities, naming file and line", () => {
  const cases: Array<[string, string]> = [
    ['<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e "boom">]>\n<x>&e;</x>', "evil.mhl: line 2: DOCTYPE declarations (DTDs) are not allowed"],
    ['<x>\n<!ENTITY e SYSTEM "file:///etc/passwd">\n</x>', "evil.mhl: line 2: entity declarations are not allowed"],
    ["<x>\n\n<p>&xxe;</p></x>", "evil.mhl: line 3: entity '&xxe;' is not allowed (only &amp; &lt; &gt; &quot; &apos; and numeric references)"],
    ["<x>\n<p>a</q></x>", "evil.mhl: line 2: end tag </q> does not match <p> (line 2)"],
    ["<x><p>", "evil.mhl: line 1: <p> (line 1) is never closed"],
  ];
  for (const [xml, message] of cases) {
    let caught: { path?: string; message?: string } | undefined;
    try {
      parseXml(xml, "evil.mhl");
    } catch (error) {
      caught = error as { path?: string; message?: string };
    }
    expect(`${caught?.path}: ${caught?.message}`).toBe(message);
  }
});

test("decodes the predefined entities and character references; the writer escapes", () => {
  const root = parseXml(`<a t="&quot;x&apos; &amp; &#65;&#x42;">A &lt;b&gt; &amp; c<![CDATA[<raw>]]></a>`, "t");
  expect(root.attributes.get("t")).toBe(`"x' & AB`);
  expect(textOf(root)).toBe("A <b> & c<raw>");
  const w = new XmlWriter().open("r", { v: 'a"<&' }).leaf("p", { size: "5" }, "Tom & Jerry <1>.mov").leaf("e", {}).close();
  const xml = w.toString();
  expect(xml).toBe('<?xml version="1.0" encoding="UTF-8"?>\n<r v="a&quot;&lt;&amp;">\n  <p size="5">Tom &amp; Jerry &lt;1&gt;.mov</p>\n  <e/>\n</r>\n');
  const back = parseXml(xml, "w");
  expect(back.attributes.get("v")).toBe('a"<&');
  expect(textOf(childElement(back, "p"))).toBe("Tom & Jerry <1>.mov");
});

/** The message of the error `parseXml` throws for a document, as a tool prints it. */
function refusal(xml: string, options: Parameters<typeof parseXml>[2] = {}): string {
  try {
    parseXml(xml, "evil.mhl", options);
  } catch (error) {
    const e = error as { path?: string; message?: string };
    return `${e.path}: ${e.message}`;
  }
  return "accepted";
}

test("CR, LF and TAB are written as character references and read back; references to forbidden controls are refused", () => {
  const xml = new XmlWriter().open("r", { v: "a\tb" }).leaf("p", {}, "cr\rlf\ntab\tx").close().toString();
  expect(xml).toBe('<?xml version="1.0" encoding="UTF-8"?>\n<r v="a&#9;b">\n  <p>cr&#13;lf&#10;tab&#9;x</p>\n</r>\n');
  const back = parseXml(xml, "w");
  expect([back.attributes.get("v"), textOf(childElement(back, "p"))]).toEqual(["a\tb", "cr\rlf\ntab\tx"]);
  expect(refusal("<x>\n<p>a&#1;b</p></x>")).toBe("evil.mhl: line 2: invalid character reference '&#1;'");
  expect(refusal("<x>\n<p>a&#x1b;b</p></x>")).toBe("evil.mhl: line 2: invalid character reference '&#x1b;'");
  expect(refusal("<x>\n<p>a&#xFFFE;b</p></x>")).toBe("evil.mhl: line 2: invalid character reference '&#xFFFE;'");
});

test("the text one element holds is bounded: a huge path is refused naming file and line, before it is copied", () => {
  const path = "b".repeat(70_000);
  expect(refusal(`<x>\n<path>${path}</path></x>`)).toBe("evil.mhl: line 2: text of <path> is longer than 65536 characters");
  // split into pieces by comments or CDATA, it is the same element's text
  const pieces = Array.from({ length: 3 }, () => "b".repeat(30_000));
  expect(refusal(`<x>\n<path>${pieces.join("<!-- -->")}</path></x>`)).toBe("evil.mhl: line 2: text of <path> is longer than 65536 characters");
  expect(refusal(`<x>\n<path><![CDATA[${path}]]></path></x>`)).toBe("evil.mhl: line 2: text of <path> is longer than 65536 characters");
  // layout between many elements is not text of theirs: a long list is fine
  const list = `<hashes>${"\n    <hash><path>a.mov</path></hash>".repeat(20_000)}\n</hashes>`;
  expect(childElements(parseXml(list, "ok.mhl"), "hash")).toHaveLength(20_000);
  expect(textOf(childElement(parseXml(`<x><p>${"c".repeat(100)}</p></x>`, "small.mhl", { maxText: 100 }), "p"))).toHaveLength(100);
  expect(refusal(`<x><p>${"c".repeat(101)}</p></x>`, { maxText: 100 })).toBe("evil.mhl: line 1: text of <p> is longer than 100 characters");
});

test("a tag name is read up to 255 characters and an attribute up to 64 KiB; past that the tag is malformed, naming file and line", () => {
  const long = "n".repeat(255);
  expect(parseXml(`<${long} a="1"/>`, "f.mhl").name).toBe(long);
  expect(() => parseXml(`<r>\n<${long}x/>\n</r>`, "f.mhl")).toThrow(`line 2: malformed attribute in <${long}>`);
  const value = "v".repeat(65530);
  expect(parseXml(`<r a="${value}"/>`, "f.mhl").attributes.get("a")).toBe(value);
  expect(() => parseXml(`<r a="${value}vvvv"/>`, "f.mhl")).toThrow("line 1: malformed attribute in <r>");
  expect(parseXml(`<r a='x &amp; y' b="plain"/>`, "f.mhl").attributes).toEqual(
    new Map([
      ["a", "x & y"],
      ["b", "plain"],
    ]),
  );
});

test("the writer indents two spaces a level at any depth and leaves out undefined attributes; the reader counts lines across comments, CDATA and text", () => {
  const w = new XmlWriter().open("a").open("b", { x: undefined, y: "1" }).open("c").open("d").leaf("e", { k: "v", u: undefined }, "t").leaf("f", {}).close().close().close().close();
  expect(w.toString()).toBe('<?xml version="1.0" encoding="UTF-8"?>\n<a>\n  <b y="1">\n    <c>\n      <d>\n        <e k="v">t</e>\n        <f/>\n      </d>\n    </c>\n  </b>\n</a>\n');
  // Past the depths made once (64), the same two spaces a level.
  const deep = new XmlWriter(undefined, []);
  for (let depth = 0; depth < 70; depth++) deep.open("n");
  deep.leaf("x", {}, "y");
  for (let depth = 0; depth < 70; depth++) deep.close();
  const deepLines = deep.toString().split("\n");
  expect(deepLines[70]).toBe(`${" ".repeat(140)}<x>y</x>`);
  expect(deepLines.slice(0, 70).map((line) => line.indexOf("<"))).toEqual(Array.from({ length: 70 }, (_, depth) => 2 * depth));
  const text = "<r>\n<!-- one\ntwo -->\n<![CDATA[x\ny]]>\nz\n\n<q>\n</q>\n<1";
  expect(() => parseXml(text, "t.xml")).toThrow("line 10: malformed start tag");
  const root = parseXml("<r>\n<!-- a\nb -->\n<p>\n</p><s/>\n</r>", "t.xml");
  expect(childElements(root).map((e) => [e.name, e.line])).toEqual([
    ["p", 4],
    ["s", 5],
  ]);
});

test("the writer writes an attributes object's own keys only; a document on one line or with CR line ends is read with its lines counted", () => {
  const inherited = Object.create({ inherited: "no" }, { own: { value: "yes", enumerable: true } }) as Record<string, string>;
  expect(new XmlWriter(undefined, []).leaf("a", inherited).toString()).toBe('<a own="yes"/>\n');
  const entries = Array.from({ length: 2000 }, (_, i) => `<hash><path size="${i}">f${i}.mov</path></hash>`).join("");
  const root = parseXml(`<hashlist><hashes>${entries}</hashes></hashlist>`, "one.mhl");
  expect(childElements(childElement(root, "hashes")!).map((e) => e.line)).toEqual(Array.from({ length: 2000 }, () => 1));
  expect(() => parseXml(`<r>${entries}<1`, "one.mhl")).toThrow("line 1: malformed start tag");
  expect(() => parseXml("<r>\r<a>\r</a>\r<1", "cr.xml")).toThrow("line 1: malformed start tag");
  expect(() => parseXml("<r>\r\n<a>\r\n</a>\r\n<1", "crlf.xml")).toThrow("line 4: malformed start tag");
});

test("a generation's <hash> elements read in one match are read exactly as the XML reader reads them, over every fixture and each variant that must not be", () => {
  /** The generation, or the error, read both ways. */
  const both = (text: string) =>
    [true, false].map((skim) => {
      try {
        return JSON.stringify(readGeneration(text, "g.mhl", { skim }));
      } catch (error) {
        return `error: ${(error as Error).message}`;
      }
    });
  const fixtures = readdirSync(join(import.meta.dir, "fixtures/ascmhl"), { recursive: true, encoding: "utf8" }).filter((p) => p.endsWith(".mhl") && p.includes("/ascmhl/"));
  expect(fixtures.length).toBeGreaterThan(10);
  /** How many of a text's `<hash>` elements the one match reads. */
  const matched = (text: string) => [...text.matchAll(/<hash>/g)].filter((m) => plainMediaHash(text, m.index, 1) !== undefined).length;
  let plain = 0;
  for (const path of fixtures) {
    const text = readFileSync(join(import.meta.dir, "fixtures/ascmhl", path), "utf8");
    const [skimmed, read] = both(text);
    expect(skimmed).toBe(read!);
    plain += matched(text);
  }
  // The reference's own files are in the plain layout: the match reads their files' elements.
  expect(plain).toBeGreaterThan(20);
  const head = '<?xml version="1.0" encoding="UTF-8"?>\n<hashlist version="2.0" xmlns="urn:ASC:MHL:v2.0">\n  <creatorinfo><creationdate>d</creationdate><hostname>h</hostname><tool version="1">t</tool></creatorinfo>\n  <processinfo><process>in-place</process></processinfo>\n  <hashes>\n';
  const tail = "  </hashes>\n</hashlist>\n";
  const hash = (inner: string) => `    <hash>\n      ${inner}\n    </hash>\n`;
  const good = '<path size="5" lastmodificationdate="2020-01-01T00:00:00+00:00">A/b.mov</path>\n      <xxh128 action="original" hashdate="2020-01-02T00:00:00+00:00">0123456789abcdef0123456789abcdef</xxh128>';
  const variants = [
    good,
    '<path>A/b.mov</path><md5 action="verified" hashdate="x">00</md5><sha1 action="failed" hashdate="y">11</sha1>',
    '<path size="0">empty</path>\r\n<xxh64 action="original" hashdate="">ab</xxh64>',
    good.replace("A/b.mov", "A/b&amp;c.mov"),
    good.replace("A/b.mov", "../escape"),
    good.replace("A/b.mov", "/etc/passwd"),
    good.replace("A/b.mov", "C:x"),
    good.replace("A/b.mov", ""),
    good.replace('size="5"', 'size="05"'),
    good.replace('size="5"', 'size="-5"'),
    good.replace('size="5"', `size="${"9".repeat(20)}"`),
    good.replace('size="5" lastmodificationdate="2020-01-01T00:00:00+00:00"', 'lastmodificationdate="2020" size="5"'),
    good.replace('action="original"', 'action="copied"'),
    good.replace('action="original" hashdate="2020-01-02T00:00:00+00:00"', 'hashdate="2020" action="original"'),
    good.replace("</xxh128>", "</md5>"),
    good.replace("<xxh128", "<xxh999").replace("</xxh128>", "</xxh999>"),
    good.replace("0123456789abcdef0123456789abcdef", " 0123 "),
    good.replace("0123456789abcdef0123456789abcdef", "&#48;1"),
    good.replace("hashdate=", 'hashdate="x" hashdate='),
    `${good}<previousPath>old/b.mov</previousPath>`,
    `${good}<unknown/>`,
    good.replace("<path", "<mhl:path").replace("</path>", "</mhl:path>"),
    good.replace("A/b.mov", `A/${"x".repeat(70_000)}`),
    good.replace("\n      ", " ".repeat(70_000)),
    good.replace('"2020-01-01T00:00:00+00:00"', "'2020-01-01T00:00:00+00:00'"),
    good.replace("A/b.mov", "A/b\tc\n.mov"),
    good.replace("</path>", "</path >"),
  ];
  for (const inner of variants) {
    for (const text of [head + hash(inner) + tail, head + hash(good) + hash(inner) + hash(good.replace("b.mov", "c.mov")) + tail]) {
      const [skimmed, read] = both(text);
      expect(skimmed).toBe(read!);
    }
  }
  // Which of them the match reads itself: the writers' layouts; an entity, an unsafe path, another
  // order of attributes, a mismatched end tag or an unknown action is left to the XML reader.
  expect(variants.map((inner) => matched(head + hash(inner) + tail))).toEqual([1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  // Each entry keeps the line its <hash> starts on.
  const generation = readGeneration(head + hash(good) + hash(good.replace("b.mov", "c.mov")) + tail, "g.mhl");
  expect(generation.hashes.map((h) => [h.path, h.line, h.size])).toEqual([
    ["A/b.mov", 6, 5],
    ["A/c.mov", 10, 5],
  ]);
});

test("the tree holds at most maxElements at once: elements taken by consume leave it with their children", () => {
  const items = 5000;
  const text = `<r>\n${"<item><a>1</a><b>2</b></item>\n".repeat(items)}</r>`;
  let taken = 0;
  const root = parseXml(text, "items.xml", {
    maxElements: 1000,
    consume: (element) => {
      if (element.localName !== "item") return false;
      taken++;
      return true;
    },
  });
  expect([taken, childElements(root).length]).toEqual([items, 0]);
  // Kept, each item is three elements and three pieces of text (its two values, the line feed
  // after it): the 1,001st is refused where it stands, on the 167th item's line.
  expect(() => parseXml(text, "items.xml", { maxElements: 1000 })).toThrow("line 168: more than 1,000 elements, attributes and pieces of text");
  // Layout cut into pieces by comments is held too: 2,000 of them are refused.
  expect(() => parseXml(`<r>${" <!---->".repeat(2000)}</r>`, "layout.xml", { maxElements: 1000 })).toThrow("line 1: more than 1,000 elements, attributes and pieces of text");
});

test("a generation or chain of a flood of elements is refused at 200,000, not held", () => {
  const generation = readFileSync(FIXTURE, "utf8").replace("<hashes>", `<hashes>${"<x/>".repeat(250_000)}`);
  expect(() => readGeneration(generation, "0002.mhl")).toThrow("more than 200,000 elements, attributes and pieces of text");
  // As many file entries are read, each leaving the tree as it is read (with the XML reader too).
  const entry = /<hash>[\s\S]*?<\/hash>/.exec(generation)![0];
  const many = readFileSync(FIXTURE, "utf8").replace("<hashes>", `<hashes>${Array.from({ length: 100_000 }, (_, i) => entry.replace(/<path([^>]*)>[^<]*</, `<path$1>many/${i}<`)).join("")}`);
  for (const skim of [true, false]) expect(readGeneration(many, "many.mhl", { skim }).hashes.length).toBeGreaterThan(100_000);
  const chain = `<?xml version="1.0" encoding="UTF-8"?>\n<ascmhldirectory xmlns="urn:ASC:MHL:DIRECTORY:v2.0">${"<x/>".repeat(250_000)}</ascmhldirectory>\n`;
  expect(() => readChain(chain, "ascmhl_chain.xml")).toThrow("line 2: more than 200,000 elements, attributes and pieces of text");
});

test("an element's attributes count toward the bound; a generation carries at most 1,000 ignore patterns", () => {
  const attributes = Array.from({ length: 250_000 }, (_, i) => `a${i}=""`).join(" ");
  expect(() => readGeneration(readFileSync(FIXTURE, "utf8").replace("<hashes>", `<hashes><x ${attributes}/>`), "0002.mhl")).toThrow("more than 200,000 elements, attributes and pieces of text");
  const withPatterns = (count: number) => readFileSync(FIXTURE, "utf8").replace(/<ignore>[\s\S]*?<\/ignore>/, `<ignore>${Array.from({ length: count }, (_, i) => `<pattern>p${i}</pattern>`).join("")}</ignore>`);
  expect(readGeneration(withPatterns(1000), "0002.mhl").processInfo.ignorePatterns.length).toBe(1000);
  expect(() => readGeneration(withPatterns(1001), "0002.mhl")).toThrow("more than 1,000 ignore patterns");
  const withLong = (lengths: number[]) => readFileSync(FIXTURE, "utf8").replace(/<ignore>[\s\S]*?<\/ignore>/, `<ignore>${lengths.map((n) => `<pattern>*?${"a".repeat(n - 2)}</pattern>`).join("")}</ignore>`);
  expect(readGeneration(withLong([1024, ...Array(63).fill(1024)]), "0002.mhl").processInfo.ignorePatterns.length).toBe(64);
  expect(() => readGeneration(withLong([1025]), "0002.mhl")).toThrow("an ignore pattern longer than 1,024 characters");
  expect(() => readGeneration(withLong(Array(65).fill(1024)), "0002.mhl")).toThrow("ignore patterns longer than 65,536 characters in all");
});
