/**
 * The compiled binaries stand alone: copied into an empty folder far from node_modules, they
 * still load their native engines and their hash workers.
 */
import { expect, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashPath } from "../lib/hash/mod.ts";
import { randomBytes, ROOT, run, tempDir } from "./helpers.ts";

test("dist binaries run from an empty folder, native engines and --jobs included", () => {
  const dir = tempDir("cartkit-standalone-");
  for (const name of ["xxsum", "b3sum-ts"]) copyFileSync(join(ROOT, "dist", name), join(dir, name));
  writeFileSync(join(dir, "a.txt"), "hello\n");
  writeFileSync(join(dir, "b.txt"), "");
  const env = { PATH: "/usr/bin:/bin", NODE_PATH: "" };
  expect(run([join(dir, "xxsum"), "-H2", "--engine", "native", "--jobs", "2", "a.txt", "b.txt"], { cwd: dir, env }).stdout)
    .toBe("6bba86c7e069f56d5a10b435f1c8e49c  a.txt\n99aa06d3014798d86001c324468d497f  b.txt\n");
  expect(run([join(dir, "xxsum"), "-H3", "--engine", "native", "a.txt"], { cwd: dir, env }).stdout).toBe("XXH3 (a.txt) = 99fc819aaba2462a\n");
  expect(run([join(dir, "b3sum-ts"), "--engine", "native", "--jobs", "2", "a.txt", "b.txt"], { cwd: dir, env }).stdout).toBe(
    "8e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99  a.txt\naf1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262  b.txt\n",
  );
});

test("dist binaries read large files and pipes on their reader thread, digests intact", async () => {
  const dir = tempDir("cartkit-large-");
  for (const name of ["xxsum", "b3sum-ts"]) copyFileSync(join(ROOT, "dist", name), join(dir, name));
  const data = randomBytes(9 * 1024 * 1024 + 13, 77);
  writeFileSync(join(dir, "large.bin"), data);
  const expected = await hashPath(join(dir, "large.bin"), ["xxh64", "blake3"], { overlap: false });
  const env = { PATH: "/usr/bin:/bin" };
  expect(run([join(dir, "xxsum"), "large.bin"], { cwd: dir, env }).stdout).toBe(`${expected.hexes.get("xxh64")}  large.bin\n`);
  expect(run([join(dir, "b3sum-ts"), "large.bin"], { cwd: dir, env }).stdout).toBe(`${expected.hexes.get("blake3")}  large.bin\n`);
  expect(run([join(dir, "b3sum-ts"), "-"], { cwd: dir, env, stdin: data }).stdout).toBe(`${expected.hexes.get("blake3")}  -\n`);
});

test("every engine gives the same lines through the tools", () => {
  const dir = tempDir("cartkit-engines-");
  writeFileSync(join(dir, "a.txt"), "hello\n");
  const xx = (engine: string, h: string) => run([join(ROOT, "dist", "xxsum"), h, "--engine", engine, "a.txt"], { cwd: dir });
  for (const h of ["-H0", "-H1", "-H2", "-H3"]) expect(xx("wasm", h).stdout).toBe(xx("native", h).stdout);
  expect(xx("js", "-H1")).toMatchObject({ code: 2, stderr: "xxsum: xxh64 has no js engine; available: native, wasm\n" });
  const b3 = (engine: string) => run([join(ROOT, "dist", "b3sum-ts"), "--engine", engine, "a.txt"], { cwd: dir }).stdout;
  expect(b3("js")).toBe(b3("native"));
  expect(b3("native")).toBe("8e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99  a.txt\n");
});
