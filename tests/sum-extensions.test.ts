/**
 * What both summers add to their anchors, tested on both tools, compiled and from source:
 * recursive manifests, checking a copy with --root, file lists, --jobs, --json, --progress,
 * refused manifest paths, --ignore-missing and ignore patterns.
 */
import { describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes, runners, tempDir, tool } from "./helpers.ts";

const TOOLS = [
  { name: "b3sum-ts", args: [] as string[], hexLength: 64 },
  { name: "xxsum", args: ["-H2"], hexLength: 32 },
];

/** A small camera card: two clips, a sidecar, the usual OS litter. */
function makeCard(root: string): string {
  const card = join(root, "A001");
  mkdirSync(join(card, "CLIPS"), { recursive: true });
  mkdirSync(join(card, ".Spotlight-V100"), { recursive: true });
  writeFileSync(join(card, "CLIPS", "A001C002.mov"), randomBytes(300_000, 2));
  writeFileSync(join(card, "CLIPS", "A001C001.mov"), randomBytes(200_000, 1));
  writeFileSync(join(card, "CLIPS", "._A001C001.mov"), "resource fork");
  writeFileSync(join(card, "sidecar.xml"), "<clip/>");
  writeFileSync(join(card, ".DS_Store"), "finder");
  writeFileSync(join(card, ".Spotlight-V100", "index"), "spotlight");
  return card;
}

const MANIFEST_NAMES = ["CLIPS/A001C001.mov", "CLIPS/A001C002.mov", "sidecar.xml"];

for (const runner of runners()) {
  for (const t of TOOLS) {
    describe(`${t.name} extensions (${runner.label})`, () => {
      const root = tempDir("cartkit-ext-");
      const card = makeCard(root);
      const sum = (args: string[], stdin?: string) => tool(runner, t.name, [...t.args, ...args], { cwd: root, stdin });
      const line = new RegExp(`^[0-9a-f]{${t.hexLength}} {2}(.+)$`);
      const namesOf = (stdout: string) =>
        stdout
          .trimEnd()
          .split("\n")
          .map((l) => line.exec(l)![1]);

      test("-r writes a manifest with sorted paths relative to the folder, OS litter left out", { timeout: 60_000 }, () => {
        const result = sum(["-r", "A001"]);
        expect(result.code).toBe(0);
        expect(namesOf(result.stdout)).toEqual(MANIFEST_NAMES);
        // Two operands: names keep their folder.
        expect(namesOf(sum(["-r", "A001/CLIPS", "A001/sidecar.xml"]).stdout)).toEqual(["A001/CLIPS/A001C001.mov", "A001/CLIPS/A001C002.mov", "A001/sidecar.xml"]);
        expect(namesOf(sum(["-r", "--no-default-ignores", "A001"]).stdout)).toEqual([".DS_Store", ".Spotlight-V100/index", "CLIPS/._A001C001.mov", ...MANIFEST_NAMES]);
        expect(namesOf(sum(["-r", "--ignore", "*.xml", "A001"]).stdout)).toEqual(MANIFEST_NAMES.slice(0, 2));
      });

      test("--root: files named '-' and 'stdin' are the files beneath the root, never standard input", () => {
        const source = join(root, "dashes");
        mkdirSync(source);
        for (const name of ["-", "stdin"]) writeFileSync(join(source, name), "data");
        const manifest = sum(["-r", "dashes"]);
        expect([manifest.code, namesOf(manifest.stdout)]).toEqual([0, ["-", "stdin"]]);
        writeFileSync(join(root, "dashes.sum"), manifest.stdout);
        const copy = join(root, "dashes-copy");
        cpSync(source, copy, { recursive: true });
        expect(sum(["-c", "dashes.sum", "--root", "dashes-copy"], "")).toMatchObject({ code: 0, stdout: "-: OK\nstdin: OK\n" });
        // Changed in the copy, while standard input holds the listed bytes: each file is read, and fails.
        for (const name of ["-", "stdin"]) writeFileSync(join(copy, name), "EVIL");
        const failed = `-: FAILED\nstdin: FAILED\n${t.name === "xxsum" ? "2 computed checksums did NOT match\n" : ""}`;
        expect(sum(["-c", "dashes.sum", "--root", "dashes-copy"], "data")).toMatchObject({ code: 1, stdout: failed });
      });

      test("--jobs 2 prints exactly what --jobs 1 prints", { timeout: 60_000 }, () => {
        const one = sum(["-r", "--jobs", "1", "A001"]);
        const two = sum(["-r", "--jobs", "2", "A001"]);
        expect(two.code).toBe(0);
        expect(two.stdout).toBe(one.stdout);
        const checked = sum(["-c", "--jobs", "2", "--root", "A001", "-"], one.stdout);
        expect(checked).toMatchObject({ code: 0, stdout: MANIFEST_NAMES.map((n) => `${n}: OK\n`).join("") });
      });

      test("-c MANIFEST --root COPY proves a copy, and catches a changed or missing file", { timeout: 60_000 }, () => {
        const manifest = sum(["-r", "A001"]).stdout;
        writeFileSync(join(root, "A001.sum"), manifest);
        const copy = join(root, "copy");
        cpSync(card, copy, { recursive: true });
        expect(sum(["-c", "A001.sum", "--root", "copy"])).toMatchObject({ code: 0, stdout: MANIFEST_NAMES.map((n) => `${n}: OK\n`).join("") });

        // One flipped byte in the middle of a clip must fail.
        const clip = randomBytes(300_000, 2);
        clip[150_000] = clip[150_000]! ^ 0x01;
        writeFileSync(join(copy, "CLIPS", "A001C002.mov"), clip);
        const tampered = sum(["-c", "A001.sum", "--root", "copy"]);
        expect(tampered.code).toBe(1);
        expect(tampered.stdout).toContain("CLIPS/A001C002.mov: FAILED\n");
        expect(tampered.stdout).toContain("CLIPS/A001C001.mov: OK\n");
      });

      test("--ignore-missing skips absent files but never passes when nothing was verified", { timeout: 60_000 }, () => {
        const manifest = sum(["-r", "A001"]).stdout;
        const partial = join(root, "partial");
        mkdirSync(join(partial, "CLIPS"), { recursive: true });
        cpSync(join(card, "CLIPS", "A001C001.mov"), join(partial, "CLIPS", "A001C001.mov"));
        const result = sum(["-c", "--ignore-missing", "--root", "partial", "-"], manifest);
        expect(result).toMatchObject({ code: 0, stdout: "CLIPS/A001C001.mov: OK\n" });
        const empty = join(root, "empty-copy");
        mkdirSync(empty, { recursive: true });
        const nothing = sum(["-c", "--ignore-missing", "--root", empty, "-"], manifest);
        expect(nothing).toMatchObject({ code: 1, stdout: "", stderr: `${t.name}: -: no file was verified\n`.replace("-:", t.name === "xxsum" ? "stdin:" : "-:") });
        // A --root that cannot be opened is an I/O error naming it.
        const nowhere = sum(["-c", "--root", join(root, "nowhere"), "-"], manifest);
        expect(nowhere).toMatchObject({ code: 2, stdout: "", stderr: `${t.name}: ${join(root, "nowhere")}: cannot open the --root folder: No such file or directory\n` });
      });

      test("check mode refuses manifest paths that are absolute or climb out of the root", { timeout: 60_000 }, () => {
        const good = sum(["-r", "A001"]).stdout.split("\n")[0]!;
        const hex = good.slice(0, t.hexLength);
        const manifest = `${hex}  /etc/passwd\n${hex}  ../A001/CLIPS/A001C001.mov\n${good}\n`;
        writeFileSync(join(root, "evil.sum"), manifest);
        const result = sum(["-c", "evil.sum", "--root", "A001"]);
        expect(result.code).toBe(1);
        expect(result.stdout).toBe("CLIPS/A001C001.mov: OK\n");
        expect(result.stderr).toBe([`${t.name}: evil.sum:1: /etc/passwd: absolute path in manifest; manifest paths must be relative to their root`, `${t.name}: evil.sum:2: ../A001/CLIPS/A001C001.mov: path escapes the manifest's root ('..'); manifest paths must stay inside their root`, ""].join("\n"));
      });

      test("--files-from reads operands from a list, newline- or NUL-separated, or from stdin", { timeout: 60_000 }, () => {
        writeFileSync(join(root, "list.txt"), "A001/sidecar.xml\nA001/CLIPS/A001C001.mov\n");
        writeFileSync(join(root, "list0"), "A001/sidecar.xml\0A001/CLIPS/A001C001.mov\0");
        const expected = ["A001/sidecar.xml", "A001/CLIPS/A001C001.mov"];
        expect(namesOf(sum(["--files-from", "list.txt"]).stdout)).toEqual(expected);
        expect(namesOf(sum(["--files-from", "list0", "-0"]).stdout)).toEqual(expected);
        expect(namesOf(sum(["--files-from", "-"], "A001/sidecar.xml\nA001/CLIPS/A001C001.mov\n").stdout)).toEqual(expected);
        const missing = sum(["--files-from", "nolist.txt"]);
        expect(missing).toMatchObject({ code: 2, stdout: "" });
        expect(missing.stderr).toBe(`${t.name}: nolist.txt: cannot read the file list: No such file or directory; check the path given to --files-from\n`);
      });

      test("--json prints one object per file, and per check line", { timeout: 60_000 }, () => {
        const result = sum(["--json", "-r", "A001"]);
        const objects = result.stdout
          .trimEnd()
          .split("\n")
          .map((l) => JSON.parse(l));
        expect(objects.map((o) => [o.name, o.size])).toEqual([
          ["CLIPS/A001C001.mov", 200_000],
          ["CLIPS/A001C002.mov", 300_000],
          ["sidecar.xml", 7],
        ]);
        expect(objects[0].digest).toMatch(new RegExp(`^[0-9a-f]{${t.hexLength}}$`));
        const manifest = sum(["-r", "A001"]).stdout;
        const checked = sum(["-c", "--json", "--root", "A001", "-"], manifest)
          .stdout.trimEnd()
          .split("\n")
          .map((l) => JSON.parse(l));
        expect(checked.map((o) => o.status)).toEqual(["ok", "ok", "ok", "passed"]);
        expect(checked[0].expected).toBe(checked[0].actual);
      });

      test("--progress reports on stderr and leaves stdout alone", { timeout: 60_000 }, () => {
        const plain = sum(["-r", "A001"]);
        const withProgress = sum(["-r", "--progress", "A001"]);
        expect(withProgress.stdout).toBe(plain.stdout);
        expect(withProgress.stderr).toMatch(/^3\/3 files, 488\.3 KiB of 488\.3 KiB, [\d.]+ [KMG]?i?B\/s\n$/);
      });
    });
  }
}
