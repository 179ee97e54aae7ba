/**
 * An offload's destinations that hold the very same get one generation: the first is made, the
 * others get its bytes once each is found to hold the same history, walk and digests
 * (lib/mhl/create.ts, createTwinGeneration). What differs still gets a generation of its own.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, runners, smallCard, straceOrSkip, tempDir, tool, withoutJobLine } from "./helpers.ts";

setDefaultTimeout(120_000);

const ENV = { TZ: "UTC", CARTKIT_MHL_HOSTNAME: "cart-01" };
const FILES = ["A001/C001.mov", "A001/C002.mov", "A002/sub/C003.mov", "readme.txt"];

const generationOf = (root: string): string => join(root, "ascmhl", readdirSync(join(root, "ascmhl")).find((name) => name.endsWith(".mhl"))!);

for (const runner of runners()) {
  describe(`dispatchcopy: one generation for destinations that hold the same (${runner.label})`, () => {
    const dir = tempDir("offload-twin-");
    let n = 0;
    const card = () => smallCard(join(dir, `${runner.label}-${++n}`), FILES);

    for (const verify of ["none", "dest"]) {
      test(`--verify ${verify}, three destinations alike: the first's generation, read for each other one only (needs strace), and each verifies`, () => {
        const strace = straceOrSkip();
        if (!strace) return;
        const { root, top } = card();
        const destinations = ["D1", "D2", "D3"].map((d) => join(top, d));
        const log = join(top, "strace.log");
        const r = run([strace, "-f", "-qq", "-o", log, "-e", "trace=open,openat,openat2", ...runner.command("dispatchcopy"), "-r", "--verify", verify, "-t", "xxh64", root, ...destinations], { env: ENV });
        expect([r.code, withoutJobLine(r.stderr)]).toEqual([0, destinations.map((d) => `dispatchcopy: ${d}: 4 files, 17.6 KiB ${verify === "none" ? "copied, not verified" : "verified from the device"}\n`).join("")]);
        const [first, ...others] = destinations.map(generationOf);
        for (const other of others) expect(readFileSync(other)).toEqual(readFileSync(first!));
        // Its C4 is taken as it is written: it is opened to be read only as each other destination's is written from it.
        const opens = (file: string) =>
          readFileSync(log, "utf8")
            .split("\n")
            .filter((line) => line.includes(`"${file.split("/").pop()}"`) && line.includes("O_RDONLY")).length;
        expect(opens(first!)).toBe(2);
        for (const other of others) expect(opens(other)).toBe(0);
        for (const d of destinations) expect(tool(runner, "mhl-verify", ["verify", d]).code).toBe(0);
      });
    }

    test("a destination that held a file of its own: its generation records it, the others' do not, and each verifies", () => {
      const { root, top } = card();
      const [d1, d2, d3] = ["D1", "D2", "D3"].map((d) => join(top, d));
      mkdirSync(join(d2!, "A001"), { recursive: true });
      writeFileSync(join(d2!, "A001", "notes.txt"), "the camera report\n");
      const r = tool(runner, "dispatchcopy", ["-r", "--verify", "none", "-t", "xxh64", root, d1!, d2!, d3!], { env: ENV });
      expect(r.code).toBe(0);
      expect(readFileSync(generationOf(d2!), "utf8")).toContain(">A001/notes.txt</path>");
      for (const d of [d1!, d3!]) expect(readFileSync(generationOf(d), "utf8")).not.toContain("notes.txt");
      expect(readFileSync(generationOf(d3!))).toEqual(readFileSync(generationOf(d1!)));
      for (const d of [d1!, d2!, d3!]) expect(tool(runner, "mhl-verify", ["verify", d]).code).toBe(0);
    });
  });
}
