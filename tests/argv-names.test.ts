/**
 * Names given on the command line are bytes too. A folder named `card` + byte 0xE9 reaches
 * `process.argv` as `card\uFFFD`, which is another folder's name; every tool takes the exact
 * bytes from the kernel and works on the folder it was given, or refuses by name where a format
 * cannot hold the name. Never the look-alike.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fsPath } from "../lib/core/names.ts";
import { runners, tempDir } from "./helpers.ts";

setDefaultTimeout(120_000);

const REAL = "card\udce9";
const LOOKALIKE = "card\ufffd";

/** Runs `tool ARGS` through sh, where `$S` is the folder named card + 0xE9 and `$D` dest + 0xE9. */
function shell(command: string[], script: string, cwd: string): { code: number; stdout: string; stderr: string } {
  const quoted = command.map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(" ");
  const result = Bun.spawnSync(["sh", "-c", `S=$(printf 'card\\351'); D=$(printf 'dest\\351'); ${script.replaceAll("TOOL", quoted)}`], { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  return { code: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

for (const runner of runners()) {
  describe(`names on the command line are bytes (${runner.label})`, () => {
    const setup = () => {
      const dir = tempDir("cartkit-argv-");
      for (const [name, text] of [
        [REAL, "REAL\n"],
        [LOOKALIKE, "FAKE\n"],
      ] as const) {
        mkdirSync(fsPath(`${dir}/${name}`));
        writeFileSync(fsPath(`${dir}/${name}/clip.mov`), text);
      }
      return dir;
    };

    test("dispatchcopy copies the folder it was given, into the destination it was given", () => {
      const dir = setup();
      let r = shell(runner.command("dispatchcopy"), `TOOL -r "$S" out`, dir);
      expect(r.code).toBe(0);
      expect(readFileSync(join(dir, "out", "clip.mov"), "utf8")).toBe("REAL\n");
      r = shell(runner.command("dispatchcopy"), `TOOL -r "$S" "$D"`, dir);
      // The copy is made and verified there; its ASC MHL cannot be named by a path that is not UTF-8.
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("dest\\xe9: NOT COMPLETE: ASC MHL generation not written: the destination's own path is not UTF-8");
      expect(readFileSync(fsPath(`${dir}/dest\udce9/clip.mov`), "utf8")).toBe("REAL\n");
      expect(() => readFileSync(fsPath(`${dir}/dest\ufffd/clip.mov`))).toThrow();
    });

    test("dispatchcopy --sums writes a name that is not UTF-8 as \\xHH, which xxsum -c reads back as that file", () => {
      const dir = tempDir("cartkit-argv-");
      mkdirSync(join(dir, "src"));
      writeFileSync(fsPath(`${dir}/src/caf\udce9.mov`), "SAME");
      writeFileSync(join(dir, "src", "caf\ufffd.mov"), "SAME");
      let r = shell(runner.command("dispatchcopy"), `TOOL -r --no-mhl --sums sums.txt src d1`, dir);
      expect(r.code).toBe(0);
      expect(readFileSync(join(dir, "sums.txt"), "utf8")).toBe("\\7d2899c412dc0007  caf\\xe9.mov\n7d2899c412dc0007  caf\ufffd.mov\n");
      writeFileSync(fsPath(`${dir}/d1/caf\udce9.mov`), "EVIL");
      r = shell(runner.command("xxsum"), `cd d1 && TOOL -c ../sums.txt`, dir);
      expect([r.code, r.stdout]).toEqual([1, "\\caf\\xe9.mov: FAILED\ncaf\ufffd.mov: OK\n1 computed checksum did NOT match\n"]);
    });

    test("mhl-verify refuses the folder by name and writes nothing anywhere; ltfs-pack plans it; cartvault commits it", () => {
      const dir = setup();
      let r = shell(runner.command("mhl-verify"), `TOOL create "$S"`, dir);
      expect([r.code, r.stderr]).toEqual([2, "mhl-verify: card\\xe9: a path that is not UTF-8 cannot hold an ASC MHL history (the format names and finds it by UTF-8 text); rename the folder\n"]);
      expect(() => readFileSync(fsPath(`${dir}/${LOOKALIKE}/ascmhl/ascmhl_chain.xml`))).toThrow();
      r = shell(runner.command("ltfs-pack"), `TOOL plan "$S" --tape 10MiB --reserve 1MiB`, dir);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("card\\xe9/clip.mov");
      expect(r.stdout).not.toContain(LOOKALIKE);
      r = shell(runner.command("cartvault"), `TOOL init v && TOOL commit v "$S" && TOOL cat v main clip.mov`, dir);
      expect(r.code).toBe(0);
      expect(r.stdout.endsWith("REAL\n")).toBe(true);
    });
  });
}
