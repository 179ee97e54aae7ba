/**
 * One generation for destinations that hold the very same (lib/mhl/create.ts,
 * createTwinGeneration): a destination gets another's generation bytes only when its history,
 * its walk (every name, kind, size and time) and the digests given for it are the other's, and
 * each read-back copy is still the file it was. Anything else, and nothing is written there: the
 * destination makes its own generation.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashPath } from "../lib/hash/mod.ts";
import { HeldFolder, stateKeyOf } from "../lib/io/held_folder.ts";
import { createGeneration, createGenerationOrTwin, type CreateOptions, createTwinGeneration, type KnownDigest } from "../lib/mhl/create.ts";
import { MhlLog } from "../lib/mhl/log.ts";
import type { LineSink } from "../lib/core/sink.ts";
import { randomBytes, runners, tempDir, tool } from "./helpers.ts";

setDefaultTimeout(60_000);

const FILES = ["A001/C001.mov", "A001/C002.mov", "A002/sub/C003.mov", "readme.txt"];
const FOLDERS = ["A002/sub", "A001", "A002"];
const WHEN = new Date("2026-11-30T10:20:30.123Z");

/** A card's tree, every file and folder with the same times (the root's own is written nowhere). */
function makeTree(root: string): void {
  for (const [i, path] of FILES.entries()) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), randomBytes(2000 + i * 700, i + 1));
    utimesSync(join(root, path), WHEN, WHEN);
  }
  retime(root);
}

/** Puts the folders' times back: what a change left there is then not what tells it. */
function retime(root: string): void {
  for (const folder of FOLDERS) utimesSync(join(root, folder), WHEN, WHEN);
}

/** The digests an offload would give for the copies at `root`: written, never read back (or read back, with their state). */
async function knownFor(root: string, readBack = false): Promise<Map<string, KnownDigest>> {
  const known = new Map<string, KnownDigest>();
  const held = HeldFolder.open(root);
  try {
    for (const path of FILES) {
      const stat = held.stat(path)!;
      const hex = (await hashPath(join(root, path), ["xxh64"])).hexes.get("xxh64")!;
      known.set(path, { size: stat.size, mtimeMs: stat.mtimeMs, hexes: new Map([["xxh64", hex]]), ...(readBack ? { state: stateKeyOf(stat) } : { unread: true }) });
    }
  } finally {
    held.close();
  }
  return known;
}

const quiet: LineSink = { data: () => {}, error: () => {}, flush: () => {} } as unknown as LineSink;
const log = () => new MhlLog({ output: quiet });
const options = (known: Map<string, KnownDigest>, extra: Partial<CreateOptions> = {}): CreateOptions => ({ formats: ["xxh64"], knownDigests: known, tool: { name: "dispatchcopy", version: "1" }, ...extra });
const historyOf = (root: string): string[] => (existsSync(join(root, "ascmhl")) ? readdirSync(join(root, "ascmhl")).sort() : []);
const generationOf = (root: string): string =>
  join(
    root,
    "ascmhl",
    historyOf(root)
      .filter((n) => n.endsWith(".mhl"))
      .at(-1)!,
  );
const source = runners()[0]!;

describe("a generation given to a destination that holds the very same", () => {
  const dir = tempDir("mhl-twin-");
  let n = 0;
  /** Two destinations alike (`first` sealed already), `second` changed by `change` before its turn. */
  const pair = async (change: (second: string) => void = () => {}, readBack = false) => {
    const top = join(dir, `${++n}`);
    const [first, second] = [join(top, "first"), join(top, "second")];
    makeTree(first);
    makeTree(second);
    const twin = await createGeneration(first, options(await knownFor(first, readBack)), log());
    change(second);
    return { first, second, twin: twin!, known: await knownFor(second, readBack) };
  };

  test("the same tree, history and digests: the other's bytes, chained under this destination's name, and it verifies", async () => {
    for (const readBack of [false, true]) {
      const { first, second, twin, known } = await pair(undefined, readBack);
      expect(twin).toBeDefined();
      expect(await createTwinGeneration(second, options(known), log(), twin)).toBe(true);
      expect(historyOf(second)).toEqual([twin.fileName.replace("_first_", "_second_"), "ascmhl_chain.xml"]);
      expect(readFileSync(generationOf(second))).toEqual(readFileSync(generationOf(first)));
      const chain = readFileSync(join(second, "ascmhl", "ascmhl_chain.xml"), "utf8");
      expect(chain).toContain(`<path>${twin.fileName.replace("_first_", "_second_")}</path>`);
      expect(chain).toContain(`<c4>${twin.c4}</c4>`);
      expect(tool(source, "mhl-verify", ["verify", second]).code).toBe(0);
    }
  });

  /** Each way a destination can differ: nothing is written there, and its own generation records what it holds. */
  const differences: Array<[string, (second: string) => void, boolean?]> = [
    ["a folder's time", (second) => utimesSync(join(second, "A002", "sub"), WHEN, new Date(WHEN.getTime() + 1000))],
    ["a file's time", (second) => utimesSync(join(second, "readme.txt"), WHEN, new Date(WHEN.getTime() + 1))],
    ["a file's size (and bytes)", (second) => writeFileSync(join(second, "readme.txt"), "other\n")],
    ["a file more", (second) => writeFileSync(join(second, "A001", "extra.txt"), "more\n")],
    ["a file fewer", (second) => rmSync(join(second, "A001", "C002.mov"))],
    ["a file renamed", (second) => renameSync(join(second, "A001", "C002.mov"), join(second, "A001", "C002.MOV"))],
    ["an empty folder more", (second) => mkdirSync(join(second, "A003"))],
    ["a history of its own", (second) => tool(source, "mhl-verify", ["create", second, "-h", "xxh64"])],
    ["a link to a file of the tree", (second) => symlinkSync("C001.mov", join(second, "A001", "C009.mov"))],
    [
      "a copy read back, then replaced by another file with the same bytes, size and times",
      (second) => {
        const copy = join(second, "A001", "C001.mov");
        linkSync(copy, `${copy}.keep`);
        writeFileSync(`${copy}.new`, readFileSync(copy));
        utimesSync(`${copy}.new`, WHEN, WHEN);
        renameSync(`${copy}.new`, copy);
        rmSync(`${copy}.keep`);
        retime(second);
      },
      true,
    ],
  ];
  for (const [what, change, readBack] of differences) {
    test(`${what}: not taken from the other`, async () => {
      // The digests given are the other's (and, read back, the state before the change): only the destination differs.
      const { second, twin, known } = await pair(undefined, readBack);
      change(second);
      const before = historyOf(second);
      expect(await createTwinGeneration(second, options(known), log(), twin)).toBe(false);
      expect(historyOf(second)).toEqual(before);
    });
  }

  test("a file more, in a destination that expects it: its own generation records it", async () => {
    const { second, twin, known } = await pair((d) => writeFileSync(join(d, "A001", "extra.txt"), "more\n"));
    expect(await createTwinGeneration(second, options(known), log(), twin)).toBe(false);
    // Made here, it reads the file more (so it is no twin of its own).
    expect(await createGeneration(second, options(known), log())).toBeUndefined();
    expect(readFileSync(generationOf(second), "utf8")).toContain(">A001/extra.txt</path>");
    expect(tool(source, "mhl-verify", ["verify", second]).code).toBe(0);
  });

  test("a file the caller did not put there (not expected): not taken from the other", async () => {
    const { second, twin, known } = await pair();
    const expected = (path: string) => path !== "A002/sub/C003.mov";
    expect(await createTwinGeneration(second, options(known, { expected }), log(), twin)).toBe(false);
    expect(historyOf(second)).toEqual([]);
  });

  test("other digests given (one copy's, or whether it was read back): not taken from the other", async () => {
    const { second, twin, known } = await pair();
    const other = new Map(known);
    other.set("readme.txt", { ...known.get("readme.txt")!, hexes: new Map([["xxh64", "0123456789abcdef"]]) });
    expect(await createTwinGeneration(second, options(other), log(), twin)).toBe(false);
    const readBack = new Map(known);
    readBack.set("readme.txt", { ...known.get("readme.txt")!, unread: undefined });
    expect(await createTwinGeneration(second, options(readBack), log(), twin)).toBe(false);
    expect(historyOf(second)).toEqual([]);
  });

  test("lines shown per file, renames looked for, or other settings: not taken from the other", async () => {
    const { second, twin, known } = await pair();
    expect(await createTwinGeneration(second, options(known), new MhlLog({ output: quiet, verbose: true }), twin)).toBe(false);
    expect(await createTwinGeneration(second, options(known), new MhlLog({ output: quiet, json: true }), twin)).toBe(false);
    expect(await createTwinGeneration(second, options(known, { detectRenaming: true }), log(), twin)).toBe(false);
    // Nor with other settings: formats, directory hashes, ignore patterns, creator.
    for (const other of [{ formats: ["xxh64", "md5"] }, { noDirectoryHashes: true }, { ignore: ["*.txt"] }, { location: "stage 5" }, { tool: { name: "dispatchcopy", version: "2" } }] as Partial<CreateOptions>[]) {
      expect(await createTwinGeneration(second, options(known, other), log(), twin)).toBe(false);
    }
    expect(historyOf(second)).toEqual([]);
  });

  test("a FIFO (left out or refused): not taken from the other", async () => {
    for (const special of ["skip", "fail"] as const) {
      const { second, twin, known } = await pair((d) => {
        execFileSync("mkfifo", [join(d, "A001", "pipe")]);
        retime(d);
      });
      expect(await createTwinGeneration(second, options(known, { special }), log(), twin)).toBe(false);
      expect(historyOf(second)).toEqual([]);
    }
  });

  test("a nested history: not taken from the other", async () => {
    const { second, twin, known } = await pair((d) => {
      tool(source, "mhl-verify", ["create", join(d, "A002"), "-h", "xxh64"]);
      retime(d);
    });
    expect(await createTwinGeneration(second, options(known), log(), twin)).toBe(false);
    expect(historyOf(second)).toEqual([]);
  });

  test("bytes written that are not the other's C4: refused, nothing left there, and a chain left as it was", async () => {
    const { second, twin, known } = await pair();
    const wrong = { ...twin, c4: `${twin.c4.slice(0, -4)}xxxx` };
    await expect(createTwinGeneration(second, options(known), log(), wrong)).rejects.toThrow("not the generation it was written from");
    // Nothing written, and no empty history folder (one without a chain would not load).
    expect(existsSync(join(second, "ascmhl"))).toBe(false);
    // A history that was there (the same in both: same folder name, date and host) keeps its
    // folder and chain as they were.
    const top = join(dir, `${++n}`);
    const [a, b] = [join(top, "a", "CARD"), join(top, "b", "CARD")];
    const env = { CARTKIT_MHL_NOW: "2026-11-30T09:00:00Z", CARTKIT_MHL_HOSTNAME: "cart-01" };
    for (const root of [a, b]) {
      makeTree(root);
      expect(tool(source, "mhl-verify", ["create", root, "-h", "xxh64"], { env }).code).toBe(0);
      retime(root);
    }
    const earlier = historyOf(b);
    const chain = readFileSync(join(b, "ascmhl", "ascmhl_chain.xml"));
    const itsTwin = await createGeneration(a, options(await knownFor(a, true)), log());
    expect(itsTwin).toBeDefined();
    const itsKnown = await knownFor(b, true);
    await expect(createTwinGeneration(b, options(itsKnown), log(), { ...itsTwin!, c4: "c4wrong" })).rejects.toThrow("not the generation it was written from");
    expect([historyOf(b), readFileSync(join(b, "ascmhl", "ascmhl_chain.xml"))]).toEqual([earlier, chain]);
    // With the right C4, the same history takes the other's bytes.
    expect(await createTwinGeneration(b, options(itsKnown), log(), itsTwin!)).toBe(true);
    expect(readFileSync(generationOf(b))).toEqual(readFileSync(generationOf(a)));
    expect(tool(source, "mhl-verify", ["verify", b]).code).toBe(0);
  });

  test("the other's generation gone, or changed since it was written: this destination makes its own, and it verifies", async () => {
    const breaks: Array<[string, (generation: string) => void]> = [
      ["gone", (generation) => rmSync(generation)],
      ["changed", (generation) => appendFileSync(generation, " ")],
    ];
    for (const [what, breakIt] of breaks) {
      const { first, second, twin, known } = await pair();
      breakIt(generationOf(first));
      let cleared = 0;
      const next = await createGenerationOrTwin(second, options(known), log(), twin, () => cleared++);
      expect({ what, cleared, own: next !== twin && next?.root === second }).toEqual({ what, cleared: 1, own: true });
      expect(historyOf(second)).toEqual([next!.fileName, "ascmhl_chain.xml"]);
      expect(tool(source, "mhl-verify", ["verify", second]).code).toBe(0);
    }
    // Held the same and the other's readable: its bytes, and the same twin for the next one.
    const { first, second, twin, known } = await pair();
    expect(await createGenerationOrTwin(second, options(known), log(), twin, () => {})).toBe(twin);
    expect(readFileSync(generationOf(second))).toEqual(readFileSync(generationOf(first)));
  });

  test("no twin where a file was read, a nested history met, or lines are shown per file", async () => {
    const top = join(dir, "impure");
    makeTree(top);
    const known = await knownFor(top);
    known.delete("readme.txt");
    expect(await createGeneration(top, options(known), log())).toBeUndefined();
    rmSync(join(top, "ascmhl"), { recursive: true });
    tool(source, "mhl-verify", ["create", join(top, "A002"), "-h", "xxh64"]);
    expect(await createGeneration(top, options(await knownFor(top)), log())).toBeUndefined();
    rmSync(join(top, "ascmhl"), { recursive: true });
    rmSync(join(top, "A002", "ascmhl"), { recursive: true });
    expect(await createGeneration(top, options(await knownFor(top)), new MhlLog({ output: quiet, verbose: true }))).toBeUndefined();
    rmSync(join(top, "ascmhl"), { recursive: true });
    expect(await createGeneration(top, options(await knownFor(top)), log())).toBeDefined();
  });
});
