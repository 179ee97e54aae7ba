/**
 * mhl-verify and hostile trees: names that differ only in normalization, names that are not
 * UTF-8, links out of the root, FIFOs and unreadable folders, and names that try to forge log
 * lines. Nothing is dropped silently, nothing is read through a link that leaves the root.
 */
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { c4FromSha512 } from "../lib/hash/c4.ts";
import { c4OfFile } from "../lib/mhl/history.ts";
import { asNobody, IS_ROOT, run, runners, straceOrSkip, tempDir, tool } from "./helpers.ts";

// Every test here starts real processes; on a busy 2-core machine one can take longer than 5 s.
setDefaultTimeout(120_000);

const ENV = { TZ: "UTC", CARTKIT_MHL_HOSTNAME: "cart-01" };

/** The generation files of a root, in order. */
function generations(root: string): string[] {
  return readdirSync(join(root, "ascmhl"))
    .filter((f) => f.endsWith(".mhl"))
    .sort();
}

function latest(root: string): string {
  return readFileSync(join(root, "ascmhl", generations(root).at(-1)!), "utf8");
}

/** The `<hash>` element recorded for a path, or undefined. */
function hashOf(text: string, path: string): string | undefined {
  return new RegExp(`<path[^>]*>${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}</path>\\s*<xxh64[^>]*>([0-9a-f]+)</xxh64>`).exec(text)?.[1];
}

for (const runner of runners()) {
  describe(`mhl-verify names and links (${runner.label})`, () => {
    const dir = tempDir("mhl-names-");
    let n = 0;
    const fresh = () => {
      const root = join(dir, `${runner.label}-${++n}`, "CARD");
      mkdirSync(root, { recursive: true });
      return root;
    };
    const mhl = (args: string[], env: Record<string, string> = {}) => tool(runner, "mhl-verify", args, { env: { ...ENV, CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z", ...env } });

    test("a history's chain, generation or folder that is a link, a FIFO, too large or not text is refused by name (31, 32, 2), never followed, waited on or read whole", () => {
      /** What the NUL byte's line says (known once the generation is planted). */
      let nulAt = "";
      const cases: Array<[string, (history: string, generation: string) => void, number, string]> = [
        [
          "chain FIFO",
          (h) => {
            rmSync(join(h, "ascmhl_chain.xml"));
            run(["mkfifo", join(h, "ascmhl_chain.xml")]);
          },
          32,
          "ascmhl_chain.xml (it is not a regular file)",
        ],
        [
          "chain link to an endless device",
          (h) => {
            rmSync(join(h, "ascmhl_chain.xml"));
            symlinkSync("/dev/zero", join(h, "ascmhl_chain.xml"));
          },
          32,
          "ascmhl_chain.xml (it is a symbolic link, never followed in a history)",
        ],
        [
          "generation FIFO",
          (_, g) => {
            rmSync(g);
            run(["mkfifo", g]);
          },
          31,
          "(it is not a regular file)",
        ],
        [
          "generation link",
          (_, g) => {
            renameSync(g, `${g}.real`);
            symlinkSync(`${g}.real`, g);
          },
          31,
          "(it is a symbolic link, never followed in a history)",
        ],
        [
          "history folder link",
          (h) => {
            renameSync(h, `${h}.real`);
            symlinkSync(`${h}.real`, h);
          },
          32,
          "ascmhl (it is a symbolic link, never followed in a history)",
        ],
        [
          // Refused by its size before a byte is read, whatever the chain says of it.
          "generation of 3 GiB",
          (_, g) => truncateSync(g, 3 * 2 ** 30),
          31,
          "(it is 3,221,225,472 bytes, more than the 512.0 MiB a history's file is read up to; it is not read)",
        ],
        ["chain of 600 MiB", (h) => truncateSync(join(h, "ascmhl_chain.xml"), 600 * 2 ** 20), 32, "ascmhl_chain.xml (it is 629,145,600 bytes, more than the 512.0 MiB a history's file is read up to; it is not read)"],
        [
          // The chain names it by its C4: only the NUL byte after its text refuses it.
          "generation with 64 MiB of NUL bytes after its text",
          (h, g) => {
            const text = readFileSync(g);
            nulAt = `line ${text.toString("latin1").split("\n").length}: a NUL byte (byte ${text.length}), which no XML text holds: not an ASC MHL file`;
            truncateSync(g, text.length + 64 * 2 ** 20);
            const chain = join(h, "ascmhl_chain.xml");
            const c4 = c4FromSha512(createHash("sha512").update(readFileSync(g)).digest());
            writeFileSync(chain, readFileSync(chain, "utf8").replace(/<c4>[^<]+<\/c4>/, `<c4>${c4}</c4>`));
          },
          2,
          "",
        ],
        [
          // Listed with its C4, any other file would be hashed whole each time the chain names it.
          "chain listing a file that is not a generation",
          (h) => {
            writeFileSync(join(h, "big.bin"), "not a generation");
            const chain = join(h, "ascmhl_chain.xml");
            const c4 = c4FromSha512(createHash("sha512").update("not a generation").digest());
            writeFileSync(chain, readFileSync(chain, "utf8").replace("</ascmhldirectory>", `<hashlist sequencenr="2"><path>big.bin</path><c4>${c4}</c4></hashlist></ascmhldirectory>`));
          },
          31,
          "big.bin (ascmhl_chain.xml lists it, but it is not a generation (NNNN_….mhl))",
        ],
      ];
      for (const [what, plant, code, says] of cases) {
        const root = fresh();
        writeFileSync(join(root, "a.mov"), "a");
        expect(mhl(["create", root, "-h", "xxh64"]).code).toBe(0);
        const history = join(root, "ascmhl");
        const generation = join(history, readdirSync(history).find((name) => name.endsWith(".mhl"))!);
        plant(history, generation);
        const r = run([...runner.command("mhl-verify"), "verify", root], { env: ENV, timeoutMs: 20_000 });
        const expected = says || `${generation}: ${nulAt}`;
        expect({ what, code: r.code, stderr: r.stderr.trimEnd().slice(-expected.length) }).toEqual({ what, code, stderr: expected });
      }
    });
    test("a destination's ascmhl that is a link out of the tree: dispatchcopy refuses it and removes nothing where it points", () => {
      const card = fresh();
      writeFileSync(join(card, "A001.mov"), "a clip");
      const victim = join(card, "..", "victim");
      mkdirSync(victim);
      // What a run of dispatchcopy killed in its history would leave, and would clear up.
      writeFileSync(join(victim, ".ascmhl_chain.xml.partial"), "kept");
      const planted = join(victim, "0009_victim_2024-01-01_000000Z.mhl");
      const ofMhlVerify = latest(recordedRoot({ "x.mov": "x" }));
      expect(ofMhlVerify).toContain(">mhl-verify</tool>");
      writeFileSync(planted, ofMhlVerify.replace(">mhl-verify</tool>", ">dispatchcopy</tool>"));
      const dest = join(card, "..", "d1");
      mkdirSync(dest);
      symlinkSync(victim, join(dest, "ascmhl"));
      const r = tool(runner, "dispatchcopy", ["-r", card, dest], { env: ENV });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("ascmhl (it is a symbolic link");
      expect(readdirSync(victim).sort()).toEqual([".ascmhl_chain.xml.partial", "0009_victim_2024-01-01_000000Z.mhl"]);
      expect(readFileSync(join(dest, "A001.mov"), "utf8")).toBe("a clip");
    });

    test("a history file is read in pieces, each looked at as it comes: a sparse chain is refused in its first (needs strace)", () => {
      const strace = straceOrSkip();
      if (!strace) return;
      const root = recordedRoot({ "a.mov": "a" });
      const chain = join(root, "ascmhl", "ascmhl_chain.xml");
      const text = readFileSync(chain);
      truncateSync(chain, 500 * 2 ** 20);
      const log = join(root, "..", "reads.log");
      const r = run([strace, "-f", "-qq", "-o", log, "-P", chain, "-e", "trace=read,pread64", ...runner.command("mhl-verify"), "verify", root], { env: ENV });
      expect([r.code, r.stderr.trimEnd().endsWith(`line ${text.toString("latin1").split("\n").length}: a NUL byte (byte ${text.length}), which no XML text holds: not an ASC MHL file`)]).toEqual([2, true]);
      const read = readFileSync(log, "utf8")
        .split("\n")
        .map((line) => Number(/\) = (\d+)$/.exec(line)?.[1] ?? 0))
        .reduce((a, b) => a + b, 0);
      // One piece is read, the one the NUL byte is in; before, the whole 500 MiB.
      expect(read).toBe(2 ** 20);
    });

    test("a card's own history that holds a killed run's leftovers is copied as it is, and refused, never cleared in the copy", () => {
      const card = recordedRoot({ "A001.mov": "a clip" });
      const unchained = "0003_CARD_2024-01-01_000000Z.mhl";
      writeFileSync(join(card, "ascmhl", unchained), latest(card).replace(">mhl-verify</tool>", ">dispatchcopy</tool>"));
      writeFileSync(join(card, "ascmhl", ".zz.partial"), "left");
      const dest = join(card, "..", "d1");
      const r = tool(runner, "dispatchcopy", ["-r", card, dest], { env: ENV });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${unchained} (it is not listed in ascmhl_chain.xml)`);
      expect(readdirSync(join(dest, "ascmhl")).sort()).toEqual(readdirSync(join(card, "ascmhl")).sort());
      expect(readFileSync(join(dest, "ascmhl", ".zz.partial"), "utf8")).toBe("left");
    });

    test("a root whose name holds a line feed: its generations, named after it, are read back", () => {
      const root = join(fresh(), "..", "A001\nB");
      mkdirSync(root);
      writeFileSync(join(root, "a.mov"), "a");
      expect(mhl(["create", root, "-h", "xxh64"]).code).toBe(0);
      expect(mhl(["create", root, "-h", "xxh64"]).code).toBe(0);
      expect(readdirSync(join(root, "ascmhl")).filter((n) => n.endsWith(".mhl")).length).toBe(2);
      const r = mhl(["verify", root]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
    });

    test("a generation is read once: its C4 is of the bytes it is parsed from (needs strace)", () => {
      const strace = straceOrSkip();
      if (!strace) return;
      const root = recordedRoot({ "a.mov": "a" });
      const generation = join(root, "ascmhl", readdirSync(join(root, "ascmhl")).find((n) => n.endsWith(".mhl"))!);
      const log = join(root, "..", "opens.log");
      const r = run([strace, "-f", "-qq", "-o", log, "-P", generation, "-e", "trace=open,openat,openat2", ...runner.command("mhl-verify"), "verify", root], { env: ENV });
      expect(r.code).toBe(0);
      expect(
        readFileSync(log, "utf8")
          .split("\n")
          .filter((line) => line.includes(generation)).length,
      ).toBe(1);
      if (!IS_ROOT) return;
      // A device planted as the chain is refused by what it is, never opened (a rewinding tape node would rewind).
      const chain = join(root, "ascmhl", "ascmhl_chain.xml");
      rmSync(chain);
      expect(run(["mknod", chain, "c", "1", "3"]).code).toBe(0);
      const refused = run([strace, "-f", "-qq", "-o", log, "-P", chain, "-e", "trace=open,openat,openat2", ...runner.command("mhl-verify"), "verify", root], { env: ENV });
      expect([refused.code, refused.stderr.trimEnd().endsWith("ascmhl_chain.xml (it is not a regular file)")]).toEqual([32, true]);
      expect(
        readFileSync(log, "utf8")
          .split("\n")
          .filter((line) => line.includes(chain)).length,
      ).toBe(0);
    });

    /** A fresh root holding `entries` (path → bytes; a path ending in `/` is a folder), with a first generation in xxh64. */
    const recordedRoot = (entries: Record<string, string>): string => {
      const root = fresh();
      for (const [path, text] of Object.entries(entries)) {
        if (path.endsWith("/")) mkdirSync(join(root, path), { recursive: true });
        else {
          mkdirSync(dirname(join(root, path)), { recursive: true });
          writeFileSync(join(root, path), text);
        }
      }
      expect(mhl(["create", root, "-h", "xxh64"]).code).toBe(0);
      return root;
    };

    test("a card's own history whose ignore patterns would leave a copied file out: dispatchcopy names it and writes no generation", () => {
      const card = fresh();
      writeFileSync(join(card, "readme.txt"), "readme");
      expect(mhl(["create", "--ignore", "*.mov", card]).code).toBe(0);
      writeFileSync(join(card, "A001.mov"), "a clip the card's history ignores");
      const dest = join(card, "..", "d1");
      const r = tool(runner, "dispatchcopy", ["-r", card, dest], { env: ENV });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`: ASC MHL generation not written: 1 verified file(s) would not be recorded: the history's ignore patterns ('.DS_Store', 'ascmhl', 'ascmhl/', '*.mov') match 'A001.mov'; the copies themselves are verified\n`);
      expect(readFileSync(join(dest, "A001.mov"), "utf8")).toBe("a clip the card's history ignores");
      expect(generations(dest)).toEqual(generations(card));
    });

    test("a tree of folders and no files is sealed and verifies; -sf of a file that is not there is 20", () => {
      const root = fresh();
      mkdirSync(join(root, "A", "B"), { recursive: true });
      let r = mhl(["create", root, "-h", "xxh64"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(latest(root)).toMatch(/<path lastmodificationdate="[^"]+">A\/B<\/path>/);
      r = mhl(["verify", root]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      r = mhl(["verify", root, "-sf", join(root, "A", "x.mov")]);
      expect(r.code).toBe(20);
      writeFileSync(join(root, "A", "x.mov"), "x");
      r = mhl(["verify", root]);
      expect(r.code).toBe(21);
    });

    test("two files whose names differ only in normalization are both recorded and hashed", () => {
      const root = fresh();
      writeFileSync(join(root, "caf\u00e9.mov"), "NFC bytes");
      writeFileSync(join(root, "cafe\u0301.mov"), "NFD bytes");
      const r = mhl(["create", root, "-h", "xxh64", "-v"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const text = latest(root);
      expect([hashOf(text, "caf\u00e9.mov"), hashOf(text, "cafe\u0301.mov")].every((h) => h !== undefined)).toBe(true);
      expect(hashOf(text, "caf\u00e9.mov")).not.toBe(hashOf(text, "cafe\u0301.mov"));
      expect(r.stdout).toContain("  created original hash for     caf\u00e9.mov  xxh64: ");
      expect(r.stdout).toContain("  created original hash for     cafe\u0301.mov  xxh64: ");
      expect(mhl(["verify", root]).code).toBe(0);
      // each is verified against its own record: changing one fails that one only
      writeFileSync(join(root, "cafe\u0301.mov"), "NFD changed");
      const v = mhl(["verify", root]);
      expect(v.code).toBe(11);
      expect(v.stderr).toStartWith("ERROR: hash mismatch        for cafe\u0301.mov old xxh64: ");
      // the NFC fallback still serves a name missing under its recorded form: a second create
      // after one of the two is renamed into the other's normalization is a rename (10), not a merge
      rmSync(join(root, "cafe\u0301.mov"));
      const c = mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" });
      expect([c.code, c.stderr]).toEqual([10, `ERROR: 1 missing file(s):\n  cafe\u0301.mov\nmhl-verify: Files referenced in the ASC MHL history are missing\n`]);
    });

    test("a folder renamed into NFD (as macOS may) is compared with its NFC records: verify and create find a changed byte (11)", () => {
      const root = recordedRoot({ "Caf\u00e9/a.mov": "a clip", "b.mov": "b clip" });
      renameSync(join(root, "Caf\u00e9"), join(root, "Cafe\u0301"));
      const same = mhl(["verify", root, "-v"]);
      expect([same.code, same.stderr]).toEqual([0, ""]);
      writeFileSync(join(root, "Cafe\u0301", "a.mov"), "a clip, changed");
      const broken = mhl(["verify", root]);
      expect(broken.code).toBe(11);
      expect(broken.stderr).toStartWith("ERROR: hash mismatch        for Cafe\u0301/a.mov old xxh64: ");
      const c = mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" });
      expect(c.code).toBe(11);
      expect(c.stderr).toStartWith("ERROR: hash mismatch for        Cafe\u0301/a.mov  xxh64 (old): ");
    });

    test("a file gone, and a folder made under its name in the other normalization, is missing: create names it (10) and does not take the folder for it", () => {
      const root = recordedRoot({ "Caf\u00e9": "a file", "b.mov": "b clip" });
      rmSync(join(root, "Caf\u00e9"));
      mkdirSync(join(root, "Cafe\u0301"));
      writeFileSync(join(root, "Cafe\u0301", "x.mov"), "x");
      const c = mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" });
      expect([c.code, c.stderr]).toEqual([10, "ERROR: 1 missing file(s):\n  Caf\u00e9\nmhl-verify: Files referenced in the ASC MHL history are missing\n"]);
      expect(mhl(["verify", root]).code).toBe(10);
    });

    test("create -sf of a file renamed into NFD compares it with its NFC record; a changed one fails (11)", () => {
      const root = recordedRoot({ "caf\u00e9.mov": "a clip", "b.mov": "b clip" });
      renameSync(join(root, "caf\u00e9.mov"), join(root, "cafe\u0301.mov"));
      const same = mhl(["create", root, "-h", "xxh64", "-sf", join(root, "cafe\u0301.mov"), "-v"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" });
      expect([same.code, same.stderr]).toEqual([0, ""]);
      expect(same.stdout).toContain("  verified                      cafe\u0301.mov  xxh64: OK\n");
      expect(same.stdout).not.toContain("original");
      writeFileSync(join(root, "cafe\u0301.mov"), "a clip, changed");
      const changed = mhl(["create", root, "-h", "xxh64", "-sf", join(root, "cafe\u0301.mov")], { CARTKIT_MHL_NOW: "2024-01-03T00:00:00Z" });
      expect(changed.code).toBe(11);
      expect(changed.stderr).toStartWith("ERROR: hash mismatch for        cafe\u0301.mov  xxh64 (old): ");
    });

    test("a recorded name in another normalization is never given to a second name while its own file is on disk: -sf, ignore patterns", () => {
      const root = recordedRoot({ "f\u00e9": "AAA", keep: "x" });
      // The NFC file changes; a copy of its old bytes appears under the NFD name and is named with -sf.
      writeFileSync(join(root, "f\u00e9"), "CORRUPT");
      writeFileSync(join(root, "fe\u0301"), "AAA");
      const sf = mhl(["create", root, "-h", "xxh64", "-sf", join(root, "fe\u0301"), "-v"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" });
      expect([sf.code, sf.stderr]).toEqual([0, ""]);
      expect(sf.stdout).toContain("  created original hash for     fe\u0301  xxh64: ");
      expect(hashOf(latest(root), "f\u00e9")).toBeUndefined();
      const v = mhl(["verify", root]);
      expect(v.code).toBe(11);
      expect(v.stderr).toStartWith("ERROR: hash mismatch        for f\u00e9 old xxh64: ");
      // An ignored file is on disk all the same: its record stays its own, and verify says it is not verified.
      const other = recordedRoot({ "f\u00e9": "AAA", keep: "x" });
      writeFileSync(join(other, "fe\u0301"), "AAA");
      expect(mhl(["create", other, "-h", "xxh64", "-i", "f\u00e9"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" }).code).toBe(0);
      expect(hashOf(latest(other), "fe\u0301")).toBeDefined();
      const ignored = mhl(["verify", other, "-i", "f\u00e9"]);
      expect([ignored.code, ignored.stderr]).toEqual([0, "note: not verified: f\u00e9 (recorded in the history, now matched by an ignore pattern)\n"]);
    });

    test("-dr: a file renamed away, then back under its first name in the other normalization, is a rename back; verify -dh still checks a folder renamed into NFD", () => {
      const root = recordedRoot({ "f\u00e9": "AAA", keep: "x" });
      renameSync(join(root, "f\u00e9"), join(root, "x"));
      expect(mhl(["create", root, "-h", "xxh64", "-dr"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" }).code).toBe(0);
      renameSync(join(root, "x"), join(root, "fe\u0301"));
      const back = mhl(["create", root, "-h", "xxh64", "-dr"], { CARTKIT_MHL_NOW: "2024-01-03T00:00:00Z" });
      expect([back.code, back.stdout]).toEqual([0, "a renamed file was detected: from x to fe\u0301\n"]);
      expect([mhl(["verify", root]).code, mhl(["verify", root]).stderr]).toEqual([0, ""]);

      const tree = recordedRoot({ "d\u00e9/f": "AAA", keep: "x" });
      renameSync(join(tree, "d\u00e9"), join(tree, "de\u0301"));
      expect(mhl(["create", tree, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" }).code).toBe(0);
      writeFileSync(join(tree, "de\u0301", "f"), "BAD");
      const dh = mhl(["verify", tree, "-dh", "-ro"]);
      expect(dh.code).toBe(12);
      const folderOnly = mhl(["verify", tree, "-dh"]);
      expect(folderOnly.code).toBe(12);
      expect(folderOnly.stderr).toContain("ERROR: content hash mismatch   for de\u0301 old xxh64: ");
      expect(folderOnly.stderr).toContain("(generation 0002)");
    });

    test("a file replaced by a folder of its very name is missing, in verify and in every create after (10), as a file deleted is; so is a folder replaced by a file", () => {
      const root = recordedRoot({ a: "hello", "D/in": "in", keep: "x" });
      rmSync(join(root, "a"));
      mkdirSync(join(root, "a"));
      writeFileSync(join(root, "a", "b"), "y");
      const v = mhl(["verify", root]);
      expect(v.code).toBe(21);
      expect(v.stderr).toContain("ERROR: 1 missing file(s):\n  a\n");
      for (const day of ["02", "03"]) {
        const c = mhl(["create", root, "-h", "xxh64"], { CARTKIT_MHL_NOW: `2024-01-${day}T00:00:00Z` });
        expect({ day, code: c.code, stderr: c.stderr }).toEqual({ day, code: 10, stderr: "ERROR: 1 missing file(s):\n  a\nmhl-verify: Files referenced in the ASC MHL history are missing\n" });
      }
      expect(mhl(["verify", root]).code).toBe(10);
      const other = recordedRoot({ "D/": "", keep: "x" });
      rmSync(join(other, "D"), { recursive: true });
      writeFileSync(join(other, "D"), "now a file");
      const c = mhl(["create", other, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" });
      expect(c.code).not.toBe(0);
      expect(c.stderr).toContain("  D\n");
      // A nested history made where its parent recorded a file does not make that file a folder.
      for (const inner of ["x", "sub"]) {
        const nested = recordedRoot({ "sub/a": "a", x: "hello", keep: "x" });
        const gone = inner === "x" ? "x" : "sub/a";
        rmSync(join(nested, gone));
        mkdirSync(join(nested, gone));
        writeFileSync(join(nested, gone, "f"), "in");
        expect(mhl(["create", join(nested, inner), "-h", "xxh64"]).code).toBe(0);
        const nv = mhl(["verify", nested]);
        expect({ inner, code: nv.code, stderr: nv.stderr }).toEqual({ inner, code: 10, stderr: `ERROR: 1 missing file(s):\n  ${gone}\nmhl-verify: Files referenced in the ASC MHL history are missing\n` });
        expect({ inner, create: mhl(["create", nested, "-h", "xxh64"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" }).code }).toEqual({ inner, create: 10 });
      }
      // A name left by a rename (-dr) is free: a folder made there later is not the file that left.
      const moved = recordedRoot({ clip: "zz", keep: "x" });
      renameSync(join(moved, "clip"), join(moved, "t"));
      mkdirSync(join(moved, "clip"));
      renameSync(join(moved, "t"), join(moved, "clip", "clip"));
      expect(mhl(["create", moved, "-h", "xxh64", "-dr"], { CARTKIT_MHL_NOW: "2024-01-02T00:00:00Z" }).code).toBe(0);
      for (const day of ["03", "04"]) {
        expect({ day, verify: mhl(["verify", moved]).code }).toEqual({ day, verify: 0 });
        expect({ day, create: mhl(["create", moved, "-h", "xxh64"], { CARTKIT_MHL_NOW: `2024-01-${day}T00:00:00Z` }).code }).toEqual({ day, create: 0 });
      }
    });

    test("a name that is not UTF-8 is refused by name; the generation records the rest; verify reports it as new", () => {
      const root = fresh();
      writeFileSync(join(root, "ok.mov"), "fine");
      writeFileSync(Buffer.from(`${root}/caf\xe9.mov`, "latin1"), "latin-1 name");
      mkdirSync(Buffer.from(`${root}/d\xe9p`, "latin1"));
      writeFileSync(Buffer.from(`${root}/d\xe9p/inside.mov`, "latin1"), "in a folder named in latin-1");
      const r = mhl(["create", root, "-h", "xxh64"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        [
          "ERROR: caf\\xe9.mov: name is not valid UTF-8, which ASC MHL cannot record; this file is left out (rename it to record it)",
          "ERROR: d\\xe9p: name is not valid UTF-8, which ASC MHL cannot record; this folder and everything in it are left out (rename it to record it)",
          "mhl-verify: 2 entries could not be recorded (named above); the generation documents the rest",
          "",
        ].join("\n"),
      );
      const text = latest(root);
      expect(hashOf(text, "ok.mov")).toBeDefined();
      // the root's directory hash would not describe the folder: none is written
      expect(text).not.toContain("<roothash>");
      const v = mhl(["verify", root]);
      expect([v.code, v.stderr]).toEqual([
        21,
        [
          // in the walk's order: a folder's sub-folders before its files
          "found new file d\\xe9p/inside.mov (its name is not valid UTF-8: ASC MHL cannot record it)",
          "found new file caf\\xe9.mov (its name is not valid UTF-8: ASC MHL cannot record it)",
          "mhl-verify: New files not referenced in the ASC MHL history have been found",
          "",
        ].join("\n"),
      ]);
    });

    test("names with CR, LF and TAB are written as character references and read back; other C0 controls are refused by name", async () => {
      const root = fresh();
      const kept = ["cr\rx.mov", "lf\nx.mov", "tab\tx.mov", "crlf\r\nx.mov"];
      for (const [i, name] of kept.entries()) writeFileSync(join(root, name), `kept ${i}`);
      writeFileSync(join(root, "ctl\x01x.mov"), "a C0 control");
      writeFileSync(join(root, "esc\x1b[31m.mov"), "an escape sequence");
      const r = mhl(["create", root, "-h", "xxh64"]);
      expect([r.code, r.stderr]).toEqual([
        2,
        [
          "ERROR: ctl\\x01x.mov: name holds a control character that XML cannot carry, which ASC MHL cannot record; this file is left out (rename it to record it)",
          "ERROR: esc\\e[31m.mov: name holds a control character that XML cannot carry, which ASC MHL cannot record; this file is left out (rename it to record it)",
          "mhl-verify: 2 entries could not be recorded (named above); the generation documents the rest",
          "",
        ].join("\n"),
      ]);
      const text = latest(root);
      for (const name of ["cr&#13;x.mov", "lf&#10;x.mov", "tab&#9;x.mov", "crlf&#13;&#10;x.mov"]) expect(text).toContain(`>${name}</path>`);
      // a standard parser takes every file we wrote, and reads the names back unchanged
      for (const file of [...generations(root), "ascmhl_chain.xml"]) {
        const lint = run(["xmllint", "--noout", join(root, "ascmhl", file)]);
        expect([file, lint.code, lint.stderr]).toEqual([file, 0, ""]);
      }
      const read = run(["python3", "-c", "import sys, json, xml.etree.ElementTree as ET; print(json.dumps(sorted(p.text for p in ET.parse(sys.argv[1]).iter('{urn:ASC:MHL:v2.0}path'))))", join(root, "ascmhl", generations(root)[0]!)]);
      expect(JSON.parse(read.stdout)).toEqual([...kept].sort());
      const v = mhl(["verify", root, "-v"]);
      expect([v.code, v.stderr]).toEqual([
        21,
        [
          "found new file ctl\\x01x.mov (its name holds a control character that XML cannot carry: ASC MHL cannot record it)",
          "found new file esc\\e[31m.mov (its name holds a control character that XML cannot carry: ASC MHL cannot record it)",
          "mhl-verify: New files not referenced in the ASC MHL history have been found",
          "",
        ].join("\n"),
      ]);
      for (const name of kept) expect(v.stdout).toContain(`verification (xxh64) of file ${name.replaceAll("\r", "\\r").replaceAll("\n", "\\n").replaceAll("\t", "\\t")}: OK`);
      // a history that carries a forbidden character as a reference is refused as malformed
      const generation = join(root, "ascmhl", generations(root)[0]!);
      const chain = join(root, "ascmhl/ascmhl_chain.xml");
      for (const forbidden of ["&#1;", "&#x1b;"]) {
        const before = await c4OfFile(generation);
        writeFileSync(generation, readFileSync(generation, "utf8").replace(/>tab[^<]*x\.mov</, `>tab${forbidden}x.mov<`));
        writeFileSync(chain, readFileSync(chain, "utf8").replace(before, await c4OfFile(generation)));
        const m = mhl(["verify", root]);
        expect(m.code).toBe(2);
        expect(m.stderr).toMatch(new RegExp(`^mhl-verify: ${generation}: line \\d+: invalid character reference '${forbidden}'\n$`));
      }
    });

    test("dispatchcopy seals a CR in a name as a character reference and refuses a name with another control", () => {
      const base = join(dir, `${runner.label}-${++n}`);
      mkdirSync(join(base, "src"), { recursive: true });
      writeFileSync(join(base, "src/cr\rx.mov"), "carriage return");
      let r = tool(runner, "dispatchcopy", ["-r", join(base, "src"), join(base, "d1")]);
      expect([r.code, r.stderr.includes("NOT COMPLETE")]).toEqual([0, false]);
      const sealed = join(base, "d1/ascmhl", readdirSync(join(base, "d1/ascmhl")).find((f) => f.endsWith(".mhl"))!);
      expect(readFileSync(sealed, "utf8")).toContain(">cr&#13;x.mov</path>");
      expect(run(["xmllint", "--noout", sealed]).code).toBe(0);
      expect(mhl(["verify", join(base, "d1")]).code).toBe(0);
      writeFileSync(join(base, "src/ctl\x01x.mov"), "a C0 control");
      r = tool(runner, "dispatchcopy", ["-r", join(base, "src"), join(base, "d2")]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`dispatchcopy: ${join(base, "d2")}: ASC MHL generation not written: 1 name(s) are not UTF-8 or hold a control character, and an ASC MHL cannot hold them (ctl\\x01x.mov); the copies themselves are verified\n`);
    });

    test("a link out of the root, a FIFO: create names each and fails; --links skip and --special skip leave them out", () => {
      const root = fresh();
      const outside = join(root, "..", "secret.txt");
      writeFileSync(outside, "not on the card");
      writeFileSync(join(root, "clip.mov"), "clip");
      symlinkSync(outside, join(root, "escape.mov"));
      symlinkSync("clip.mov", join(root, "alias.mov"));
      expect(run(["mkfifo", join(root, "pipe")]).code).toBe(0);
      let r = mhl(["create", root, "-h", "xxh64"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe([`ERROR: ${root}/escape.mov: symbolic link that leaves the tree, not followed`, `ERROR: ${root}/pipe: a FIFO (named pipe), not a regular file: it cannot be copied or hashed`, "mhl-verify: 2 entries could not be recorded (named above); the generation documents the rest", ""].join("\n"));
      // a link to a file inside counts as that file
      expect(hashOf(latest(root), "alias.mov")).toBe(hashOf(latest(root), "clip.mov"));
      expect(latest(root)).not.toContain("escape.mov");
      rmSync(join(root, "ascmhl"), { recursive: true });
      r = mhl(["create", root, "-h", "xxh64", "--links", "skip", "--special", "skip"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe([`${root}/alias.mov: symbolic link, left out (--links skip)`, `${root}/escape.mov: symbolic link, left out (--links skip)`, `${root}/pipe: a FIFO (named pipe), left out (--special skip)`, ""].join("\n"));
      expect(mhl(["verify", root, "--links", "skip", "--special", "skip"]).code).toBe(0);
      expect(mhl(["create", root, "--links", "copy"]).code).toBe(2);
    });

    test("an ascmhl folder planted as a link to another folder is never written through", () => {
      const root = fresh();
      writeFileSync(join(root, "clip.mov"), "clip");
      const elsewhere = join(root, "..", "elsewhere");
      mkdirSync(elsewhere);
      symlinkSync(elsewhere, join(root, "ascmhl"));
      const r = mhl(["create", root, "-h", "xxh64"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${root}/ascmhl`);
      expect(readdirSync(elsewhere)).toEqual([]);
    });

    test("verify never reads a file through a link that leaves the root, even with the recorded digest", () => {
      const root = fresh();
      writeFileSync(join(root, "shadow"), "root:secret");
      writeFileSync(join(root, "clip.mov"), "clip");
      expect(mhl(["create", root, "-h", "xxh64"]).code).toBe(0);
      // the recorded file is swapped for a link to a file outside with the same bytes
      const outside = join(root, "..", "shadow-outside");
      writeFileSync(outside, "root:secret");
      rmSync(join(root, "shadow"));
      symlinkSync(outside, join(root, "shadow"));
      const r = mhl(["verify", root]);
      expect([r.code, r.stderr]).toEqual([10, [`ERROR: ${root}/shadow: symbolic link that leaves the tree, not followed`, "ERROR: 1 missing file(s):", "  shadow", "mhl-verify: Files referenced in the ASC MHL history are missing", ""].join("\n")]);
      expect(mhl(["verify", "-dh", root]).code).not.toBe(0);
    });

    test("legacy verify does not follow a listed name that is a link out of the folder", () => {
      const root = fresh();
      writeFileSync(join(root, "clip.mov"), "clip");
      const outside = join(root, "..", "passwd-copy");
      writeFileSync(outside, "root:x:0:0");
      symlinkSync(outside, join(root, "link"));
      // md5 of "root:x:0:0", as the file outside holds it
      const md5 = new Bun.CryptoHasher("md5").update("root:x:0:0").digest("hex");
      const clip = new Bun.CryptoHasher("md5").update("clip").digest("hex");
      writeFileSync(join(root, "seal.mhl"), `<?xml version="1.0" encoding="UTF-8"?>\n<hashlist version="1.1">\n<hash><file>clip.mov</file><size>4</size><md5>${clip}</md5></hash>\n<hash><file>link</file><size>10</size><md5>${md5}</md5></hash>\n</hashlist>\n`);
      const r = mhl(["verify", join(root, "seal.mhl")]);
      expect(r.code).toBe(11);
      expect(r.stderr).toStartWith("ERROR: could not read link: ");
      expect(r.stderr).toContain("leaves");
    });

    test("verify -dh compares each folder's recorded hash when the root has none (a name ASC MHL cannot hold left it out): a changed file is found", () => {
      const root = fresh();
      mkdirSync(join(root, "CLIPS"));
      writeFileSync(join(root, "CLIPS", "a.mov"), "clip a");
      writeFileSync(join(root, "notes.txt"), "notes");
      writeFileSync(Buffer.from(`${root}/caf\xe9.mov`, "latin1"), "latin-1 name");
      expect(mhl(["create", root]).code).toBe(2);
      expect(mhl(["verify", "-dh", root])).toMatchObject({ code: 0, stderr: "" });
      writeFileSync(join(root, "CLIPS", "a.mov"), "clip A");
      const r = mhl(["verify", "-dh", root]);
      expect(r.code).toBe(12);
      expect(r.stderr).toStartWith("ERROR: content hash mismatch   for CLIPS old xxh128: ");
    });

    test("verify -dh of a history with a root hash in one format and folders' hashes only in another: a changed file fails it (exit 12)", () => {
      const root = fresh();
      mkdirSync(join(root, "a"));
      mkdirSync(join(root, "b"));
      writeFileSync(join(root, "top.txt"), "top");
      writeFileSync(join(root, "b", "y"), "y");
      const latin1 = Buffer.from(`${root}/a/n\xff`, "latin1");
      writeFileSync(latin1, "z");
      // The first generation has no root hash (the name leaves the root incomplete); renamed, the second has one in md5.
      expect(mhl(["create", root, "-h", "xxh128"]).code).toBe(2);
      renameSync(latin1, join(root, "a", "n"));
      expect(mhl(["create", root, "-h", "md5"], { CARTKIT_MHL_NOW: "2024-01-01T00:00:01Z" }).code).toBe(0);
      expect(mhl(["verify", "-dh", root])).toMatchObject({ code: 0, stderr: "" });
      writeFileSync(join(root, "top.txt"), "changed");
      const r = mhl(["verify", "-dh", root]);
      expect(r.code).toBe(12);
      expect(r.stderr).toStartWith("ERROR: content hash mismatch   for . old md5: ");
    });

    test("create --legacy keeps --special and --links, as create does", () => {
      const root = fresh();
      writeFileSync(join(root, "a.mov"), "a");
      expect(Bun.spawnSync(["mkfifo", join(root, "pipe")]).exitCode).toBe(0);
      symlinkSync("a.mov", join(root, "link.mov"));
      const seal = (options: string[]) => {
        for (const f of readdirSync(root)) if (f.endsWith(".mhl")) rmSync(join(root, f));
        const r = mhl(["create", root, "--legacy", "-h", "md5", ...options]);
        const files = readdirSync(root).filter((f) => f.endsWith(".mhl"));
        return { code: r.code, stderr: r.stderr, listed: files.length === 1 ? [...readFileSync(join(root, files[0]!), "utf8").matchAll(/<file>([^<]*)<\/file>/g)].map((m) => m[1]) : [] };
      };
      const failed = seal([]);
      expect(failed.code).toBe(2);
      expect(failed.stderr).toStartWith(`ERROR: ${root}/pipe: a FIFO (named pipe), not a regular file`);
      expect(failed.listed).toEqual(["a.mov", "link.mov"]);
      expect(seal(["--special", "skip"])).toEqual({ code: 0, stderr: `${root}/pipe: a FIFO (named pipe), left out (--special skip)\n`, listed: ["a.mov", "link.mov"] });
      expect(seal(["--special", "skip", "--links", "skip"])).toEqual({ code: 0, stderr: `${root}/link.mov: symbolic link, left out (--links skip)\n${root}/pipe: a FIFO (named pipe), left out (--special skip)\n`, listed: ["a.mov"] });
    });

    test("create --legacy: a name swapped between a file and a link out of the tree while the run goes is refused or read as the file, never followed out", { timeout: 120_000 }, () => {
      const root = fresh();
      const outside = join(root, "..");
      for (let i = 0; i < 300; i++) writeFileSync(join(root, `f${String(i).padStart(3, "0")}.dng`), `frame ${i}`);
      writeFileSync(join(outside, "secret"), "not on the card");
      writeFileSync(join(outside, "reg"), "the card's own file");
      for (let v = 0; v < 20; v++) writeFileSync(join(root, `zz_${v}.dng`), "the card's own file");
      // Each swap is one rename from outside the tree: each of the 20 names is always the card's
      // file or the link. A name the walk found a file and the run opens as the link is followed
      // out by an open that is not made beneath the root (a fifth of the names or so, each run).
      const swapper = Bun.spawn({
        cmd: [
          process.execPath,
          "-e",
          `const { linkSync, renameSync, symlinkSync, rmSync } = require("node:fs"); for (let i = 0; ; i++) for (let v = 0; v < 20; v++) { rmSync("t", { force: true }); if (i % 2) symlinkSync(${JSON.stringify(join(outside, "secret"))}, "t"); else linkSync("reg", "t"); renameSync("t", "CARD/zz_" + v + ".dng"); }`,
        ],
        cwd: outside,
        stdout: "ignore",
        stderr: "ignore",
      });
      try {
        const secret = createHash("md5").update("not on the card").digest("hex");
        for (let run = 0; run < 12; run++) {
          for (const f of readdirSync(root)) if (f.endsWith(".mhl")) rmSync(join(root, f));
          const r = mhl(["create", root, "--legacy", "-h", "md5", ...(run % 2 ? ["--jobs", "1"] : [])]);
          expect([0, 2]).toContain(r.code);
          const written = readdirSync(root).filter((f) => f.endsWith(".mhl"));
          if (r.code === 0) expect(written).toHaveLength(1);
          for (const f of written) {
            const text = readFileSync(join(root, f), "utf8");
            expect(text).not.toContain(secret);
            expect(text).not.toContain("<size>15</size>");
          }
        }
      } finally {
        swapper.kill("SIGKILL");
      }
    });

    test("legacy verify of a list that names one file several times, with --jobs", () => {
      const root = fresh();
      writeFileSync(join(root, "clip.mov"), "clip");
      const md5 = new Bun.CryptoHasher("md5").update("clip").digest("hex");
      const entry = (size: number) => `<hash><file>clip.mov</file><size>${size}</size><md5>${md5}</md5></hash>`;
      writeFileSync(join(root, "seal.mhl"), `<?xml version="1.0" encoding="UTF-8"?>\n<hashlist version="1.1">\n${[4, 5, 4, 4, 5, 4].map(entry).join("\n")}\n</hashlist>\n`);
      const r = mhl(["verify", join(root, "seal.mhl"), "--jobs", "3", "-v"]);
      expect(r.code).toBe(11);
      expect(r.stdout.split("verification (md5) of file clip.mov: OK").length - 1).toBe(4);
      expect(r.stderr).toBe("ERROR: size mismatch        for clip.mov old size: 5, new size: 4\n".repeat(2) + `mhl-verify: ${join(root, "seal.mhl")}: Verification of files listed in the MHL file failed\n`);
    });

    test.skipIf(!IS_ROOT)("a folder nobody may read is named and fails the run", () => {
      const root = fresh();
      mkdirSync(join(root, "locked"));
      writeFileSync(join(root, "locked", "a.mov"), "a");
      writeFileSync(join(root, "b.mov"), "b");
      chmodSync(dir, 0o755);
      chmodSync(join(root, ".."), 0o777);
      chmodSync(root, 0o777);
      chmodSync(join(root, "locked"), 0o000);
      try {
        const r = run(asNobody([...runner.command("mhl-verify"), "create", root, "-h", "xxh64"]), { env: { ...ENV, CARTKIT_MHL_NOW: "2024-01-01T00:00:00Z" } });
        expect(r.code).toBe(2);
        expect(r.stderr).toBe(`ERROR: ${root}/locked: folder cannot be read: Permission denied\nmhl-verify: 1 entry could not be recorded (named above); the generation documents the rest\n`);
        expect(hashOf(latest(root), "b.mov")).toBeDefined();
      } finally {
        chmodSync(join(root, "locked"), 0o755);
      }
    });

    test("names that would forge log lines are escaped: from the disk and from inside MHL XML", async () => {
      const root = fresh();
      // (ESC and other C0 controls XML cannot carry are refused by create: see above)
      const evil = "a\nERROR: all good\u009b[2J\u007f.mov";
      writeFileSync(join(root, evil), "x");
      writeFileSync(join(root, "plain.mov"), "y");
      let r = mhl(["create", root, "-h", "xxh64", "-v"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("  created original hash for     a\\nERROR: all good\\x9b[2J\\x7f.mov  xxh64: ");
      expect(r.stdout.split("\n").filter((l) => l.startsWith("ERROR"))).toEqual([]);
      r = mhl(["verify", root, "-v"]);
      expect(r.stdout).toContain("verification (xxh64) of file a\\nERROR: all good\\x9b[2J\\x7f.mov: OK\n");
      // a path inside the XML (a character reference: no file needed) reported missing
      rmSync(join(root, evil));
      r = mhl(["verify", root]);
      expect(r.code).toBe(10);
      expect(r.stderr).toBe("ERROR: 1 missing file(s):\n  a\\nERROR: all good\\x9b[2J\\x7f.mov\nmhl-verify: Files referenced in the ASC MHL history are missing\n");
      r = mhl(["info", root, "-sf", join(root, "x")]);
      expect(r.stdout.split("\n").every((l) => !l.includes("\u009b"))).toBe(true);
      // a refused path inside the XML is shown escaped in the error too
      const file = join(root, "ascmhl", generations(root)[0]!);
      writeFileSync(file, readFileSync(file, "utf8").replace(/>a[^<]*\.mov<\/path>/, ">../&#155;[2J.mov</path>"));
      const chain = join(root, "ascmhl", "ascmhl_chain.xml");
      writeFileSync(chain, readFileSync(chain, "utf8").replace(/<c4>[^<]+<\/c4>/, `<c4>${await c4OfFile(file)}</c4>`));
      r = mhl(["verify", root]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("refusing path '../\\x9b[2J.mov' escapes the root");
    });
  });
}
