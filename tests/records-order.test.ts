/**
 * The records of one tree are the same bytes whichever tool makes them and however the walk
 * holds the tree: dispatchcopy's sum file is `xxsum -r` of the destination, its ASC MHL
 * generation is `mhl-verify create` of a copy of the card, and both list every file in byte
 * order, with the names where a folder's name ends ('a' beside 'a.txt', 'a-b', 'a0') and names
 * that are not UTF-8 or not in the Basic Multilingual Plane.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compareUtf8, nameBytes } from "../lib/core/names.ts";
import { finderByPath } from "../lib/offload/tree.ts";
import { run, runners, tempDir, tool } from "./helpers.ts";

const ENV = { TZ: "UTC", CARTKIT_MHL_HOSTNAME: "cart-01", CARTKIT_MHL_NOW: "2026-02-03T04:05:06Z" };
const FILES = ["a/x", "a.txt", "a-b/x", "a!", "a0", "a/b/c", "a/b.d", "ab/z", "é/1", "é.mov", "\u{1f3ac}/clip", "\u{1f3ac}.txt", "Z/a/b/c/d", "flat/0", "flat/1", "flat/10", "flat/2"];

function makeCard(root: string): string {
  const card = join(root, "CARD");
  for (const [i, f] of FILES.entries()) {
    mkdirSync(join(card, f, ".."), { recursive: true });
    writeFileSync(join(card, f), `${f} ${i}`);
  }
  const when = new Date("2026-01-02T03:04:05Z");
  for (const f of FILES) utimesSync(join(card, f), when, when);
  for (const folder of ["", "a", "a/b", "a-b", "ab", "é", "\u{1f3ac}", "Z", "Z/a", "Z/a/b", "Z/a/b/c", "flat"]) utimesSync(join(card, folder), when, when);
  return card;
}

/** The paths of a generation's `<hash>` entries, in the order written. */
function hashedPaths(xml: string): string[] {
  return [...xml.matchAll(/<hash>\s*<path[^>]*>([^<]*)<\/path>/g)].map((m) => m[1]!);
}

for (const runner of runners()) {
  describe(`records of a tree (${runner.label})`, () => {
    test("dispatchcopy's sum file and generation are xxsum's and mhl-verify's for the same tree, in byte order", () => {
      const dir = tempDir("cartkit-records-");
      const card = makeCard(dir);
      const sums = join(dir, "card.xxh64");
      const copied = tool(runner, "dispatchcopy", ["-r", "--sums", sums, card, join(dir, "D1", "CARD")], { env: ENV });
      expect([copied.code, copied.stdout]).toEqual([0, ""]);

      const sorted = [...FILES].sort((x, y) => Buffer.compare(nameBytes(x), nameBytes(y)));
      const lines = readFileSync(sums, "utf8").trimEnd().split("\n");
      expect(lines.map((l) => l.slice(18))).toEqual(sorted);
      const summed = tool(runner, "xxsum", ["-H1", "-r", join(dir, "D1", "CARD")]);
      const withoutHistory = summed.stdout.split(/(?<=\n)/).filter((line) => !line.slice(18).startsWith("ascmhl/"));
      expect([summed.code, withoutHistory.join("")]).toEqual([0, readFileSync(sums, "utf8")]);

      // The same card hashed in place by mhl-verify: the same generation but for the tool's name.
      mkdirSync(join(dir, "D2"));
      expect(run(["cp", "-a", card, join(dir, "D2", "CARD")]).code).toBe(0);
      const created = tool(runner, "mhl-verify", ["create", join(dir, "D2", "CARD"), "-h", "xxh64"], { env: ENV });
      expect([created.code, created.stderr]).toEqual([0, ""]);
      const generation = (root: string) => {
        const names = readdirSync(join(root, "ascmhl")).filter((n) => n.endsWith(".mhl"));
        expect(names).toEqual(["0001_CARD_2026-02-03_040506Z.mhl"]);
        return readFileSync(join(root, "ascmhl", names[0]!), "utf8").replace(/<tool [^>]*>[^<]*<\/tool>/, "<tool/>");
      };
      const offloaded = generation(join(dir, "D1", "CARD"));
      expect(offloaded).toBe(generation(join(dir, "D2", "CARD")));
      expect(hashedPaths(offloaded).filter((p) => FILES.includes(p))).toEqual([
        // Folders' files first (children before their parent), each folder in byte order.
        ...["Z/a/b/c/d", "a/b/c", "a/b.d", "a/x", "a-b/x", "ab/z", "flat/0", "flat/1", "flat/10", "flat/2", "é/1", "\u{1f3ac}/clip"],
        ...["a!", "a.txt", "a0", "é.mov", "\u{1f3ac}.txt"],
      ]);
    });
  });
}

describe("finderByPath: a planned name found in the plan's own order", () => {
  // Byte order, with a name that is not UTF-8 (an escaped byte) and one beyond the Basic Multilingual Plane.
  const paths = ["a", "a.txt", "a/b", "a0", "b", `b/\udce9`, "\u{1f3ac}"];
  const items = paths.map((path, index) => ({ path, index }));

  test("asked in order, out of order, again, and for names between two planned ones", () => {
    const find = finderByPath(items, (item) => item.path);
    // In order, as a walk of the same tree asks.
    expect(paths.map((p) => find(p)?.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // A name not planned, just after one found: never the next planned one.
    expect(find("a")?.index).toBe(0);
    expect(find("a-")).toBeUndefined();
    expect(find("a.txt")?.index).toBe(1);
    expect(find("a.txu")).toBeUndefined();
    // The same name twice, then backwards.
    expect(find("a0")?.index).toBe(3);
    expect(find("a0")?.index).toBe(3);
    expect([...paths].reverse().map((p) => find(p)?.index)).toEqual([6, 5, 4, 3, 2, 1, 0]);
    expect(find(`b/\udce8`)).toBeUndefined();
    expect(find("")).toBeUndefined();
  });

  test("random lists and lookups: the same item a search of the whole list finds", () => {
    // Names from few parts, so that many sort next to each other ('a', 'a.', 'a/', 'a0', escaped bytes, astral).
    const parts = ["a", "/", ".", "0", "é", `\udce9`, "\u{1f3ac}", "b"];
    let seed = 16;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const name = () => Array.from({ length: 1 + random(4) }, () => parts[random(parts.length)]!).join("");
    let asked = 0;
    for (let round = 0; round < 300; round++) {
      const list = [...new Set(Array.from({ length: random(40) }, name))].sort(compareUtf8).map((path, index) => ({ path, index }));
      const find = finderByPath(list, (item) => item.path);
      const queries = [...list.map((item) => item.path), ...Array.from({ length: 20 }, name)];
      // In order, then shuffled, then in order again.
      for (const order of [queries, [...queries].sort(() => random(3) - 1), queries]) {
        for (const query of order) {
          expect(find(query)?.index).toBe(list.find((item) => item.path === query)?.index);
          asked++;
        }
      }
    }
    expect(asked).toBeGreaterThan(10_000);
  });

  test("a list not in byte order is looked up by name", () => {
    const shuffled = [items[3]!, items[0]!, items[6]!, items[1]!];
    const find = finderByPath(shuffled, (item) => item.path);
    expect(["a0", "a", "\u{1f3ac}", "a.txt", "b"].map((p) => find(p)?.index)).toEqual([3, 0, 6, 1, undefined]);
  });
});
