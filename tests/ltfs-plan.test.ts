/**
 * ltfs-pack plan, from source and compiled: capacities and reserves, a set that fills a tape to
 * the block, one byte over, a roll larger than a tape, a split that saves a tape, 20k tiny files,
 * a file larger than a tape, deterministic order, the JSON plan file and the terminal table.
 * Tapes are small (`--tape 10752KiB --reserve 0`: 21 blocks, less 7 for LTFS's labels and first
 * index, leaves 14 blocks of 524288 bytes) so the trees stay small; big files are sparse.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { blocksFor, parseReserve, parseTape, tapeCapacity } from "../lib/ltfs/capacity.ts";
import { planTapes } from "../lib/ltfs/plan.ts";
import { asNobody, IS_ROOT, run, runners, tempDir, tool } from "./helpers.ts";

const MiB = 1024 * 1024;
const BLOCK = 524_288;

/** Writes files (sparse, by size) below `root`. */
function makeTree(root: string, files: Record<string, number>): string {
  for (const [path, size] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, "");
    truncateSync(full, size);
  }
  return root;
}

/** 14 blocks exactly: the usable capacity of a 10 MiB tape without reserve. */
const EXACT_FIT = {
  "A001/C001.mov": 3 * MiB, // 6 blocks
  "A001/empty.txt": 0, // no block
  "A002/C001.mov": 3 * MiB + 1, // 7 blocks
  "A002/meta.xml": 100, // 1 block
  ".DS_Store": 6148, // litter: left out
  "A002/._C001.mov": 4096, // litter: left out
};

describe("tape capacity", () => {
  test("LTO generations: data partition, default reserve (5%, at least 100 GB), usable blocks", () => {
    // LTO-5: 1.5 TB × 76/80 wraps = 1.425 TB; 5% would be 71.25 GB, so the 100 GB floor applies:
    // floor((1425e9 − 100e9) / 524288) − 6 = 2527236 − 6.
    expect(tapeCapacity(parseTape("LTO-5"), parseReserve(undefined))).toEqual({
      name: "LTO-5",
      nativeBytes: 1_500_000_000_000,
      dataPartitionBytes: 1_425_000_000_000,
      reserveBytes: 100_000_000_000,
      blockSize: BLOCK,
      formatBlocks: 7,
      usableBlocks: 2_527_229,
      usableBytes: 2_527_229 * BLOCK,
    });
    // LTO-8: 12 TB × 204/208 wraps; 5% is above 100 GB.
    expect(tapeCapacity(parseTape("lto8"), parseReserve(undefined))).toMatchObject({
      name: "LTO-8",
      dataPartitionBytes: 11_769_230_769_230,
      reserveBytes: 588_461_538_462,
      usableBlocks: 21_325_617,
    });
    expect(parseTape("LTO-6").dataPartitionBytes).toBe(2_426_470_588_235);
    expect(parseTape("LTO-7").dataPartitionBytes).toBe(5_785_714_285_714);
    expect(parseTape("LTO-9").dataPartitionBytes).toBe(17_742_857_142_857);
  });

  test("an explicit reserve is taken as given: no 100 GB floor", () => {
    expect(tapeCapacity(parseTape("LTO-5"), parseReserve("5%")).reserveBytes).toBe(71_250_000_000);
    expect(tapeCapacity(parseTape("LTO-5"), parseReserve("100GB")).reserveBytes).toBe(100_000_000_000);
    expect(tapeCapacity(parseTape("10752KiB"), parseReserve("0"))).toMatchObject({ dataPartitionBytes: 10_752 * 1024, reserveBytes: 0, usableBlocks: 14 });
    expect(tapeCapacity(parseTape("10752KiB"), parseReserve("10%"))).toMatchObject({ reserveBytes: 1_101_005, usableBlocks: 11 });
  });

  test("bad values and tapes too small are usage errors naming the value", () => {
    expect(() => parseTape("LTO-4")).toThrow("unknown tape 'LTO-4'; use LTO-5, LTO-6, LTO-7, LTO-8, LTO-9 or a size in bytes");
    expect(() => parseTape("big")).toThrow("invalid tape capacity 'big'");
    expect(() => parseReserve("100%")).toThrow("invalid reserve '100%': must be less than 100%");
    expect(() => tapeCapacity(parseTape("10752KiB"), parseReserve(undefined))).toThrow("leaves no room for data (the default reserve is 5%, at least 100 GB; give --reserve)");
    expect(() => tapeCapacity(parseTape("3MiB"), parseReserve("0"))).toThrow("tape of 3145728 bytes with a reserve of 0 bytes leaves no room for data");
  });

  test("block rounding: a file takes whole blocks, an empty file none", () => {
    expect([0, 1, BLOCK, BLOCK + 1, 3 * MiB + 1].map((n) => blocksFor(n))).toEqual([0, 1, 1, 2, 7]);
  });
});

describe("planTapes", () => {
  const small = tapeCapacity(parseTape("10752KiB"), parseReserve("0"));

  test("three rolls of 9 blocks on 14-block tapes: 2 tapes by splitting the last roll, not 3 whole", () => {
    const files: Record<string, number> = {};
    for (const roll of ["A001", "A002", "A003"]) for (let i = 1; i <= 9; i++) files[`${roll}/C00${i}.mov`] = BLOCK;
    const day = makeTree(join(tempDir("cartkit-ltfs-"), "DAY01"), files);
    const plan = planTapes([day], { capacity: small });
    expect(plan.tapes.map((t) => t.files.map((f) => f.path.slice("DAY01/".length)))).toEqual([
      [...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `A001/C00${i}.mov`), ...[1, 2, 3, 4, 5].map((i) => `A003/C00${i}.mov`)],
      [...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `A002/C00${i}.mov`), ...[6, 7, 8, 9].map((i) => `A003/C00${i}.mov`)],
    ]);
    expect(plan.tapes.map((t) => [t.blocks, t.fill])).toEqual([
      [14, 1],
      [13, 0.928571],
    ]);
    expect(plan.splits).toEqual([{ folder: "DAY01/A003", reason: "fits on no tape beside the rest in a 2-tape plan; split at its subfolders to save a tape", tapes: [1, 2] }]);
  });

  test("rolls that cannot share a tape with a split stay whole: 3 tapes, no split", () => {
    const files: Record<string, number> = {};
    // Each roll is one 9-block file: no way to use 2 tapes without splitting a file.
    for (const roll of ["A001", "A002", "A003"]) files[`${roll}/C001.mov`] = 9 * BLOCK;
    const day = makeTree(join(tempDir("cartkit-ltfs-"), "DAY01"), files);
    const plan = planTapes([day], { capacity: small });
    expect(plan.tapes.map((t) => t.files.map((f) => f.path))).toEqual([["DAY01/A001/C001.mov"], ["DAY01/A002/C001.mov"], ["DAY01/A003/C001.mov"]]);
    expect(plan.splits).toEqual([]);
  });

  test("a source without files: its empty folders go on one tape, and a source with nothing at all is itself one", () => {
    const dir = tempDir("cartkit-ltfs-");
    const day = join(dir, "EMPTY");
    mkdirSync(join(day, "A001"), { recursive: true });
    mkdirSync(join(day, "B001/sub/deeper"), { recursive: true });
    writeFileSync(join(day, ".DS_Store"), "x");
    mkdirSync(join(dir, "NOTHING"));
    const plan = planTapes([day, join(dir, "NOTHING")], { capacity: small });
    expect(plan).toMatchObject({ splits: [], totals: { files: 0, bytes: 0, blocks: 0 } });
    expect(plan.tapes).toEqual([
      {
        index: 1,
        files: [],
        bytes: 0,
        blocks: 0,
        fill: 0,
        folders: [
          { source: join(day, "A001"), path: "EMPTY/A001" },
          { source: join(day, "B001/sub/deeper"), path: "EMPTY/B001/sub/deeper" },
          { source: join(dir, "NOTHING"), path: "NOTHING" },
        ],
      },
    ]);
  });

  test("an empty folder goes with the folder that holds it, also when that folder is split", () => {
    const files: Record<string, number> = {};
    for (const roll of ["A001", "A002", "A003"]) for (let i = 1; i <= 9; i++) files[`${roll}/C00${i}.mov`] = BLOCK;
    const day = makeTree(join(tempDir("cartkit-ltfs-"), "DAY01"), files);
    mkdirSync(join(day, "A002/EMPTY"));
    mkdirSync(join(day, "A003/EMPTY"));
    const plan = planTapes([day], { capacity: small });
    expect(plan.tapes.map((t) => t.folders.map((f) => f.path))).toEqual([["DAY01/A003/EMPTY"], ["DAY01/A002/EMPTY"]]);
    expect(plan.splits.map((s) => s.folder)).toEqual(["DAY01/A003"]);
  });
});

for (const runner of runners()) {
  describe(`ltfs-pack plan (${runner.label})`, () => {
    const pack = (args: string[], cwd: string) => tool(runner, "ltfs-pack", args, { cwd });

    test("exact fit: 14 blocks fill a 14-block tape to 100%; litter left out; plain text when not a TTY", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY01"), EXACT_FIT);
      const result = pack(["plan", "DAY01", "--tape", "10752KiB", "--reserve", "0"], dir);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(
        "tape 1 of 1: 4 files, 6291557 bytes, 14 blocks, 100.0% full\n" +
          "1\t6\t3145728\tDAY01/A001/C001.mov\n" +
          "1\t0\t0\tDAY01/A001/empty.txt\n" +
          "1\t7\t3145729\tDAY01/A002/C001.mov\n" +
          "1\t1\t100\tDAY01/A002/meta.xml\n" +
          "plan: 1 tape, 4 files, 6291557 bytes, 14 blocks; custom tape: 14 usable blocks of 524288 bytes (7340032 bytes), reserve 0 bytes\n",
      );
    });

    test("one byte over: the second roll no longer fits beside the first and goes to tape 2 whole", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY01"), { ...EXACT_FIT, "A002/meta.xml": BLOCK + 1 });
      const result = pack(["plan", "DAY01", "--tape=10752KiB", "--reserve=0"], dir);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(
        "tape 1 of 2: 2 files, 3145728 bytes, 6 blocks, 42.8% full\n" +
          "1\t6\t3145728\tDAY01/A001/C001.mov\n" +
          "1\t0\t0\tDAY01/A001/empty.txt\n" +
          "tape 2 of 2: 2 files, 3670018 bytes, 9 blocks, 64.2% full\n" +
          "2\t7\t3145729\tDAY01/A002/C001.mov\n" +
          "2\t2\t524289\tDAY01/A002/meta.xml\n" +
          "plan: 2 tapes, 4 files, 6815746 bytes, 15 blocks; custom tape: 14 usable blocks of 524288 bytes (7340032 bytes), reserve 0 bytes\n",
      );
    });

    test("a roll larger than a tape is split at its next folder level, and the split is reported", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY02"), {
        "B001/CLIP1/a.mxf": 5 * MiB, // 10 blocks
        "B001/CLIP2/a.mxf": 5 * MiB, // 10 blocks
        "B002/x.mov": 2 * MiB, // 4 blocks
      });
      const result = pack(["plan", "DAY02", "--tape", "10752KiB", "--reserve", "0"], dir);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(
        // First fit, largest first: B001 fits nowhere, so CLIP1 opens tape 1 and CLIP2 tape 2;
        // B002 then goes to the first tape with room.
        "tape 1 of 2: 2 files, 7340032 bytes, 14 blocks, 100.0% full\n" +
          "1\t10\t5242880\tDAY02/B001/CLIP1/a.mxf\n" +
          "1\t4\t2097152\tDAY02/B002/x.mov\n" +
          "tape 2 of 2: 1 files, 5242880 bytes, 10 blocks, 71.4% full\n" +
          "2\t10\t5242880\tDAY02/B001/CLIP2/a.mxf\n" +
          "split DAY02/B001 (tapes 1, 2): larger than a tape (20 blocks, a tape takes 14); split at its subfolders\n" +
          "plan: 2 tapes, 3 files, 12582912 bytes, 24 blocks; custom tape: 14 usable blocks of 524288 bytes (7340032 bytes), reserve 0 bytes\n",
      );
    });

    test("a file larger than a tape is an error naming it (exit 2), nothing on stdout", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY03"), { "C001/small.mov": 10, "C001/huge.mov": 7 * MiB + 1 });
      const result = pack(["plan", "DAY03", "--tape", "10752KiB", "--reserve", "0"], dir);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe(`ltfs-pack plan: ${join(dir, "DAY03", "C001", "huge.mov")}: larger than a tape: 7340033 bytes in 15 blocks; a custom tape takes 14 blocks (7340032 bytes) of files\n`);
      expect(result.code).toBe(2);
    });

    test("20k tiny files: block rounding dominates; 3 tapes of 8185 blocks by splitting one roll", () => {
      const dir = tempDir("cartkit-ltfs-");
      const files: Record<string, number> = {};
      for (const roll of ["R1", "R2", "R3", "R4"]) for (let i = 0; i < 5000; i++) files[`${roll}/f${String(i).padStart(5, "0")}.txt`] = 1;
      makeTree(join(dir, "TINY"), files);
      // 4 GiB = 8192 blocks, 8185 usable: two 5000-block rolls never share a tape.
      const result = pack(["plan", "TINY", "--tape", "4GiB", "--reserve", "0", "--json"], dir);
      expect(result.code).toBe(0);
      const plan = JSON.parse(result.stdout);
      expect(plan.totals).toEqual({ tapes: 3, files: 20000, bytes: 20000, blocks: 20000 });
      expect(plan.tapes.map((t: { blocks: number; bytes: number }) => [t.blocks, t.bytes])).toEqual([
        [8185, 8185],
        [6815, 6815],
        [5000, 5000],
      ]);
      expect(plan.tapes[0].files.at(-1).path).toBe("TINY/R4/f03184.txt");
      expect(plan.tapes[1].files[5000].path).toBe("TINY/R4/f03185.txt");
      expect(plan.splits).toEqual([{ folder: "TINY/R4", reason: "fits on no tape beside the rest in a 3-tape plan; split at its subfolders to save a tape", tapes: [1, 2] }]);
      // Under a second of CPU, but a shared machine has taken over a minute of wall time for it.
    }, 180_000);

    test("deterministic: same plan twice and whatever the order of the sources", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY01"), { "A001/a.mov": 3 * MiB, "A002/b.mov": 3 * MiB, "A003/c.mov": 3 * MiB });
      makeTree(join(dir, "DAY02"), { "B001/a.mov": 5 * MiB, "B002/b.mov": 1 });
      const first = pack(["plan", "DAY02", "DAY01", "--tape", "10752KiB", "--reserve", "0"], dir);
      const second = pack(["plan", "DAY01", "DAY02", "--tape", "10752KiB", "--reserve", "0"], dir);
      expect(first.code).toBe(0);
      expect(second.stdout).toBe(first.stdout);
      expect(first.stdout).toBe(
        // 29 blocks need 3 tapes; B001 (10) first, then the 6-block rolls pair up, B002 joins B001.
        // Tapes are numbered by their first file in path order; fill is rounded down.
        "tape 1 of 3: 2 files, 6291456 bytes, 12 blocks, 85.7% full\n" +
          "1\t6\t3145728\tDAY01/A001/a.mov\n" +
          "1\t6\t3145728\tDAY01/A002/b.mov\n" +
          "tape 2 of 3: 1 files, 3145728 bytes, 6 blocks, 42.8% full\n" +
          "2\t6\t3145728\tDAY01/A003/c.mov\n" +
          "tape 3 of 3: 2 files, 5242881 bytes, 11 blocks, 78.5% full\n" +
          "3\t10\t5242880\tDAY02/B001/a.mov\n" +
          "3\t1\t1\tDAY02/B002/b.mov\n" +
          "plan: 3 tapes, 5 files, 14680065 bytes, 29 blocks; custom tape: 14 usable blocks of 524288 bytes (7340032 bytes), reserve 0 bytes\n",
      );
    });

    test("--json: the plan file the write subcommand reads", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY01"), EXACT_FIT);
      const result = pack(["plan", "DAY01", "--tape", "10752KiB", "--reserve", "0", "--json"], dir);
      expect(result.code).toBe(0);
      const file = (path: string, size: number, blocks: number) => ({ source: join(dir, "DAY01", path), path: `DAY01/${path}`, size, blocks });
      expect(JSON.parse(result.stdout)).toEqual({
        format: "ltfs-pack plan",
        version: 1,
        tape: { name: "custom", nativeBytes: 10_752 * 1024, dataPartitionBytes: 10_752 * 1024, reserveBytes: 0, formatBlocks: 7, usableBlocks: 14, usableBytes: 7_340_032 },
        blockSize: BLOCK,
        sources: [join(dir, "DAY01")],
        tapes: [
          {
            index: 1,
            files: [file("A001/C001.mov", 3 * MiB, 6), file("A001/empty.txt", 0, 0), file("A002/C001.mov", 3 * MiB + 1, 7), file("A002/meta.xml", 100, 1)],
            folders: [],
            bytes: 6_291_557,
            blocks: 14,
            fill: 1,
          },
        ],
        splits: [],
        totals: { tapes: 1, files: 4, bytes: 6_291_557, blocks: 14 },
      });
      expect(result.stdout.endsWith("}\n")).toBe(true);
    });

    test("on a terminal: a table per tape, the splits and a summary", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY02"), { "B001/CLIP1/a.mxf": 5 * MiB, "B001/CLIP2/a.mxf": 5 * MiB, "B002/x.mov": 2 * MiB });
      const cmd = [...runner.command("ltfs-pack"), "plan", "DAY02", "--tape", "10752KiB", "--reserve", "0"].map((a) => `'${a}'`).join(" ");
      const result = run(["script", "-qec", cmd, "/dev/null"], { cwd: dir });
      expect(result.code).toBe(0);
      expect(result.stdout.replace(/\r\n/g, "\n")).toBe(
        "Tape 1 of 2  2 files  7.0 MiB  14 blocks  100.0% full\n" +
          "  FILE                       SIZE  BLOCKS\n" +
          "  ───────────────────────────────────────\n" +
          "  DAY02/B001/CLIP1/a.mxf  5.0 MiB      10\n" +
          "  DAY02/B002/x.mov        2.0 MiB       4\n" +
          "\n" +
          "Tape 2 of 2  1 files  5.0 MiB  10 blocks  71.4% full\n" +
          "  FILE                       SIZE  BLOCKS\n" +
          "  ───────────────────────────────────────\n" +
          "  DAY02/B001/CLIP2/a.mxf  5.0 MiB      10\n" +
          "\n" +
          "Split folders\n" +
          "  DAY02/B001 (tapes 1, 2): larger than a tape (20 blocks, a tape takes 14); split at its subfolders\n" +
          "\n" +
          "plan: 2 tapes, 3 files, 12.0 MiB, 24 blocks; custom tape: 14 usable blocks of 524288 bytes (7.0 MiB), reserve 0 B\n",
      );
    });

    test("usage: --help lists plan and the exit codes; unknown command, missing --tape, bad values exit 2", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY01"), { "A001/a.mov": 1 });
      const help = pack(["--help"], dir);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("COMMANDS\n\n     plan    Span folders over LTFS tapes");
      for (const command of ["write", "verify", "index", "catalog"]) expect(help.stdout).toMatch(new RegExp(`\\n +${command} {4}\\S`));
      expect(help.stdout).toContain("Exit codes: 0 done and every check passed; 1 a verification or index check\nfailed; 2 usage error, unknown command, or input that cannot be read.\n");
      const planHelp = pack(["plan", "--help"], dir);
      expect(planHelp.code).toBe(0);
      expect(planHelp.stdout).toContain("USAGE ltfs-pack plan [OPTIONS] SRC... --tape TAPE\n");
      // The sub-command's help comes whichever side of the sub-command --help is given.
      expect(pack(["--help", "plan"], dir).stdout).toBe(planHelp.stdout);
      for (const [command, usage] of [
        ["write", "USAGE ltfs-pack write [OPTIONS] PLAN --tape N (--vtape DIR | --mount MOUNTPOINT)...\n"],
        ["verify", "USAGE ltfs-pack verify [OPTIONS] --vtape DIR | --mount MOUNTPOINT\n"],
        ["index", "USAGE ltfs-pack index [OPTIONS] [INDEX.xml | --vtape DIR]\n"],
        ["catalog", "USAGE ltfs-pack catalog [OPTIONS] TAPE... -o DIR\n"],
      ]) {
        const sub = pack([command!, "--help"], dir);
        expect([sub.code, sub.stdout]).toEqual([0, expect.stringContaining(usage!)]);
      }
      expect(pack(["--version"], dir).stdout).toMatch(/^ltfs-pack \d+\.\d+\.\d+\n$/);
      expect(planHelp.stdout).toContain("Exit codes:\n  0  the plan was made\n");

      const cases: Array<[string[], string]> = [
        [["restore", "DAY01"], "ltfs-pack: unknown command 'restore'; see 'ltfs-pack --help'\n"],
        [[], "ltfs-pack: missing command; see 'ltfs-pack --help'\n"],
        [["plan", "DAY01"], "ltfs-pack plan: Missing required argument: --tape; see 'ltfs-pack plan --help'\n"],
        [["plan", "DAY01", "--tape", "LTO-4"], "ltfs-pack plan: unknown tape 'LTO-4'; use LTO-5, LTO-6, LTO-7, LTO-8, LTO-9 or a size in bytes\n"],
        [["plan", "DAY01", "--tape", "10752KiB"], "ltfs-pack plan: tape of 11010048 bytes with a reserve of 100000000000 bytes leaves no room for data (the default reserve is 5%, at least 100 GB; give --reserve)\n"],
        [["plan", "DAY01", "--tape", "LTO-8", "--reserve", "lots"], "ltfs-pack plan: invalid reserve 'lots'; use a number of bytes with an optional unit, e.g. 8388608, 8M, 8MiB, 1GB\n"],
        [["plan", "NOPE", "--tape", "LTO-8"], "ltfs-pack plan: NOPE: No such file or directory\n"],
        [["plan", "DAY01", "--tape", "LTO-8", "--bogus"], "ltfs-pack plan: unrecognized option '--bogus'; see 'ltfs-pack plan --help'\n"],
        [["plan", "DAY01", "--tape", "LTO-8", "--links", "copy"], "ltfs-pack plan: Invalid value for argument: --links (copy). Expected one of: follow, skip.; see 'ltfs-pack plan --help'\n"],
        [["write", "--tape", "1", "--vtape", "vt"], "ltfs-pack write: Missing required positional argument: PLAN; see 'ltfs-pack write --help'\n"],
        [["--bogus"], "ltfs-pack: missing command; see 'ltfs-pack --help'\n"],
      ];
      for (const [args, stderr] of cases) {
        const result = pack(args, dir);
        expect([result.code, result.stdout, result.stderr]).toEqual([2, "", stderr]);
      }
    });

    test("names a tape cannot hold are refused up front, each named: not UTF-8, NFC/NFD twins (exit 2, no plan)", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY01"), { "A001/ok.mov": 10, "A001/caf\u00e9.mov": 1, "A001/cafe\u0301.mov": 2, "A002/x.mov": 3 });
      // caf + byte 0xE9 + .mov: a Latin-1 name, as another system may leave on a card.
      writeFileSync(Buffer.from(`${join(dir, "DAY01/A002")}/caf\xe9.mov`, "latin1"), "latin-1 name");
      mkdirSync(Buffer.from(`${join(dir, "DAY01")}/R\xf6lle`, "latin1"));
      writeFileSync(Buffer.from(`${join(dir, "DAY01")}/R\xf6lle/inside.mov`, "latin1"), "below a Latin-1 folder");
      // A control character: valid UTF-8, but no XML (the index, the ASC MHL) can carry it.
      writeFileSync(join(dir, "DAY01/A002/esc\x1b[31m.mov"), "an escape sequence");
      const result = pack(["plan", "DAY01", "--tape", "LTO-9", "--json"], dir);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe(
        `ltfs-pack plan: ${join(dir, "DAY01/R")}\\xf6lle: name is not valid UTF-8; an LTFS index holds UTF-8 names only: rename it\n` +
          `ltfs-pack plan: ${join(dir, "DAY01/A002/caf")}\\xe9.mov: name is not valid UTF-8; an LTFS index holds UTF-8 names only: rename it\n` +
          `ltfs-pack plan: ${join(dir, "DAY01/A002/esc")}\\e[31m.mov: name holds a control character, which an LTFS index (XML) cannot carry: rename it\n` +
          `ltfs-pack plan: ${join(dir, "DAY01/A001/caf\u00e9.mov")}: 'caf\u00e9.mov' (NFC) and 'cafe\u0301.mov' (NFD) in one folder are one name on tape, as LTFS compares names in NFC; rename one\n` +
          "ltfs-pack plan: 4 entries cannot go on tape as they are; no plan was made\n",
      );
      expect(result.code).toBe(2);
    });

    test("--links follow|skip and --special fail|skip: what is left out is named, what cannot be followed fails the plan", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY01"), { "A001/clip.mov": 1000 });
      symlinkSync("clip.mov", join(dir, "DAY01/A001/inside.mov"));
      symlinkSync("/etc/hostname", join(dir, "DAY01/A001/outside.mov"));
      run(["mkfifo", join(dir, "DAY01/A001/pipe")]);
      const failed = pack(["plan", "DAY01", "--tape", "LTO-9"], dir);
      expect([failed.code, failed.stdout, failed.stderr]).toEqual([
        2,
        "",
        `ltfs-pack plan: ${join(dir, "DAY01/A001/outside.mov")}: symbolic link that leaves the tree, not followed\n` +
          `ltfs-pack plan: ${join(dir, "DAY01/A001/pipe")}: a FIFO (named pipe), not a regular file: it cannot be copied or hashed\n` +
          "ltfs-pack plan: 2 entries cannot go on tape as they are; no plan was made\n",
      ]);
      const skipped = pack(["plan", "DAY01", "--tape", "LTO-9", "--links=skip", "--special", "skip"], dir);
      expect(skipped.code).toBe(0);
      expect(skipped.stderr).toBe(
        `ltfs-pack plan: ${join(dir, "DAY01/A001/inside.mov")}: symbolic link, left out (--links skip)\n` + `ltfs-pack plan: ${join(dir, "DAY01/A001/outside.mov")}: symbolic link, left out (--links skip)\n` + `ltfs-pack plan: ${join(dir, "DAY01/A001/pipe")}: a FIFO (named pipe), left out (--special skip)\n`,
      );
      expect(skipped.stdout.split("\n").filter((l) => l.startsWith("1\t"))).toEqual(["1\t1\t1000\tDAY01/A001/clip.mov"]);
      // Followed, a link inside the source goes on tape as the file it names.
      rmSync(join(dir, "DAY01/A001/outside.mov"));
      const followed = pack(["plan", "DAY01", "--tape", "LTO-9", "--special", "skip"], dir);
      expect(followed.code).toBe(0);
      expect(followed.stdout.split("\n").filter((l) => l.startsWith("1\t"))).toEqual(["1\t1\t1000\tDAY01/A001/clip.mov", "1\t1\t1000\tDAY01/A001/inside.mov"]);
    });

    test("empty folders are planned, in text and JSON", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY01"), { "A001/a.mov": 10 });
      mkdirSync(join(dir, "DAY01/A001/EMPTY"));
      mkdirSync(join(dir, "DAY01/B001"));
      const text = pack(["plan", "DAY01", "--tape", "10752KiB", "--reserve", "0"], dir);
      expect([text.code, text.stderr]).toEqual([0, ""]);
      expect(text.stdout).toBe(
        "tape 1 of 1: 1 files, 2 empty folders, 10 bytes, 1 blocks, 7.1% full\n" + "1\t1\t10\tDAY01/A001/a.mov\n" + "1\t0\t0\tDAY01/A001/EMPTY/\n" + "1\t0\t0\tDAY01/B001/\n" + "plan: 1 tape, 1 files, 2 empty folders, 10 bytes, 1 blocks; custom tape: 14 usable blocks of 524288 bytes (7340032 bytes), reserve 0 bytes\n",
      );
      const json = JSON.parse(pack(["plan", "DAY01", "--tape", "10752KiB", "--reserve", "0", "--json"], dir).stdout);
      expect(json.tapes[0].folders).toEqual([
        { source: join(dir, "DAY01/A001/EMPTY"), path: "DAY01/A001/EMPTY" },
        { source: join(dir, "DAY01/B001"), path: "DAY01/B001" },
      ]);
    });

    test("names are shown escaped: newline, C1 CSI, DEL and a backslash (ESC is refused: no XML carries it)", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY01"), { "A001/a\nINFO: fake\u009b31m\u007f\\.mov": 1 });
      const result = pack(["plan", "DAY01", "--tape", "10752KiB", "--reserve", "0"], dir);
      expect([result.code, result.stderr]).toEqual([0, ""]);
      expect(result.stdout.split("\n")[1]).toBe("1\t1\t1\tDAY01/A001/a\\nINFO: fake\\x9b31m\\x7f\\\\.mov");
    });

    test("a source inside another would go on tape twice: refused", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY01"), { "A001/a.mov": 1 });
      const result = pack(["plan", "DAY01", "DAY01/A001", "--tape", "LTO-9"], dir);
      expect([result.code, result.stdout, result.stderr]).toEqual([2, "", "ltfs-pack plan: DAY01/A001: is inside DAY01 or holds it: its files would go on tape twice; give one of them\n"]);
    });

    test("an LTO-8 tape with the default reserve holds a small day on one tape", () => {
      const dir = tempDir("cartkit-ltfs-");
      makeTree(join(dir, "DAY01"), { "A001/a.mov": 1, "A002/b.mov": 2 });
      const result = pack(["plan", "DAY01", "--tape", "LTO-8"], dir);
      expect(result.code).toBe(0);
      expect(result.stdout.split("\n").at(-2)).toBe("plan: 1 tape, 2 files, 3 bytes, 2 blocks; LTO-8 tape: 21325617 usable blocks of 524288 bytes (11180765085696 bytes), reserve 588461538462 bytes");
    });
  });
}

describe("ltfs-pack plan: permissions", () => {
  test.if(IS_ROOT)("a folder that cannot be read fails the plan, named (exit 2, no plan), run as nobody", () => {
    const dir = tempDir("cartkit-ltfs-");
    chmodSync(dir, 0o755);
    makeTree(join(dir, "DAY01"), { "A001/a.mov": 10, "A002/b.mov": 20, "A003/c.mov": 30 });
    chmodSync(join(dir, "DAY01/A002"), 0o000);
    chmodSync(join(dir, "DAY01/A003"), 0o644); // listed, but not entered
    for (const runner of runners()) {
      const result = run(asNobody([...runner.command("ltfs-pack"), "plan", "DAY01", "--tape", "LTO-9"]), { cwd: dir });
      expect([result.code, result.stdout, result.stderr]).toEqual([
        2,
        "",
        `ltfs-pack plan: ${join(dir, "DAY01/A002")}: folder cannot be read: Permission denied\n` + `ltfs-pack plan: ${join(dir, "DAY01/A003")}: folder cannot be read: Permission denied\n` + "ltfs-pack plan: 2 entries cannot go on tape as they are; no plan was made\n",
      ]);
    }
  });
});
