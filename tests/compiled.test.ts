/**
 * The compiled binaries stand alone: copied into an empty folder far from node_modules, they
 * still load their native engines and start every worker thread.
 */
import { expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { hashPath } from "../lib/hash/mod.ts";
import { BUN, randomBytes, ROOT, run, tempDir } from "./helpers.ts";

test("dist binaries run from an empty folder, native engines and --jobs included", () => {
  const dir = tempDir("cartkit-standalone-");
  for (const name of ["xxsum", "b3sum-ts"]) copyFileSync(join(ROOT, "dist", name), join(dir, name));
  writeFileSync(join(dir, "a.txt"), "hello\n");
  writeFileSync(join(dir, "b.txt"), "");
  const env = { PATH: "/usr/bin:/bin", NODE_PATH: "" };
  expect(run([join(dir, "xxsum"), "-H2", "--engine", "native", "--jobs", "2", "a.txt", "b.txt"], { cwd: dir, env }).stdout).toBe("6bba86c7e069f56d5a10b435f1c8e49c  a.txt\n99aa06d3014798d86001c324468d497f  b.txt\n");
  expect(run([join(dir, "xxsum"), "-H3", "--engine", "native", "a.txt"], { cwd: dir, env }).stdout).toBe("XXH3 (a.txt) = 99fc819aaba2462a\n");
  expect(run([join(dir, "b3sum-ts"), "--engine", "native", "--jobs", "2", "a.txt", "b.txt"], { cwd: dir, env }).stdout).toBe("8e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99  a.txt\naf1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262  b.txt\n");
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

/** The lines a tool run with CARTKIT_DEBUG=1 says about worker threads it had to do without. */
function madeUpFor(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.includes(": debug: "));
}

/**
 * Work for each kind of worker thread: the hash pool (`--jobs`), the read ring (a large file, a
 * pipe), the fan-out and the hashing read-back (a 20 MiB copy to two destinations), the flusher
 * (a tree offload), the virtual-tape record writer. Each is what it shows and the command, given
 * the folder holding the binaries.
 */
function threadWork(dir: string): Array<[string, (bin: string) => string[]]> {
  writeFileSync(join(dir, "big.bin"), randomBytes(20 << 20, 5));
  writeFileSync(join(dir, "a.txt"), "hello\n");
  writeFileSync(join(dir, "b.txt"), "");
  mkdirSync(join(dir, "CARD/CLIPS"), { recursive: true });
  for (let i = 0; i < 30; i++) writeFileSync(join(dir, `CARD/CLIPS/c${i}.bin`), randomBytes(5000, i));
  for (const d of ["d1", "d2", "t1", "t2"]) mkdirSync(join(dir, d));
  writeFileSync(join(dir, "plan.json"), run([join(ROOT, "dist/ltfs-pack"), "plan", "CARD", "--tape", "LTO-9", "--json"], { cwd: dir }).stdout);
  return [
    ["hash threads", (bin) => [join(bin, "xxsum"), "--jobs", "2", "a.txt", "b.txt"]],
    ["read thread, file", (bin) => [join(bin, "b3sum-ts"), "big.bin"]],
    ["read thread, pipe", (bin) => ["sh", "-c", `cat big.bin | '${join(bin, "b3sum-ts")}' -`]],
    ["fan-out and read-back threads", (bin) => [join(bin, "dispatchcopy"), "-t", "xxh64", "big.bin", "d1", "d2"]],
    ["flusher thread", (bin) => [join(bin, "dispatchcopy"), "-r", "-t", "xxh64", "CARD", "t1/CARD", "t2/CARD"]],
    ["record thread", (bin) => [join(bin, "ltfs-pack"), "write", "plan.json", "--tape", "1", "--vtape", "vt"]],
  ];
}

test("in the dist binaries every worker thread starts: with CARTKIT_DEBUG=1, none is said to be made up for", () => {
  const dir = tempDir("cartkit-threads-");
  for (const [what, command] of threadWork(dir)) {
    const result = run(command(join(ROOT, "dist")), { cwd: dir, env: { CARTKIT_DEBUG: "1" } });
    expect({ what, code: result.code, debug: madeUpFor(result.stderr) }).toEqual({ what, code: 0, debug: [] });
  }
}, 120_000);

test("binaries built without the worker entry points still do the work, on the calling thread, and say so when debugging", () => {
  const dir = tempDir("cartkit-nothreads-");
  const bin = join(dir, "bin");
  for (const tool of ["xxsum", "b3sum-ts", "dispatchcopy", "ltfs-pack"]) {
    const built = run([BUN, "build", "--compile", `tools/${tool}.ts`, "--outfile", join(bin, tool)]);
    expect({ tool, code: built.code }).toEqual({ tool, code: 0 });
  }
  const said: Record<string, string[]> = {};
  const outputs: Record<string, string> = {};
  const work = threadWork(dir);
  for (const [what, command] of work) {
    const result = run(command(bin), { cwd: dir, env: { CARTKIT_DEBUG: "1" } });
    expect({ what, code: result.code }).toEqual({ what, code: 0 });
    said[what] = [...new Set(madeUpFor(result.stderr))];
    outputs[what] = result.stdout;
  }
  // A thread whose entry point is missing fails to load (Bun 1.4.4); one that loads and never
  // answers is given up after 3 s (tests/thread.test.ts). The ring's threads are not listened
  // to: they are given up after 3 s either way. A file smaller than the ring's threshold is read
  // on the calling thread anyway.
  const missing = (path: string) => `BuildMessage: ModuleNotFound resolving "/$bunfs/root/${path}" (entry point)`;
  expect(said).toEqual({
    "hash threads": [`xxsum: debug: the hash thread failed: ${missing("lib/hash/hash_worker.ts")}`],
    "read thread, file": [],
    "read thread, pipe": ["b3sum-ts: debug: the read thread did not start within 3 s; the calling thread does its work"],
    "fan-out and read-back threads": ["dispatchcopy: debug: the fanout thread did not start within 3 s; the calling thread does its work", `dispatchcopy: debug: the hash thread failed: ${missing("lib/hash/hash_worker.ts")}`],
    "flusher thread": [`dispatchcopy: debug: the flush thread failed: ${missing("lib/io/flush_worker.ts")}`],
    "record thread": ["ltfs-pack write: debug: the record thread did not start within 3 s; the calling thread does its work"],
  });
  // The digests are those the binaries with their threads print.
  for (const [what, command] of work.slice(0, 3)) {
    expect({ what, stdout: outputs[what] }).toEqual({ what, stdout: run(command(join(ROOT, "dist")), { cwd: dir }).stdout });
  }
}, 120_000);

test("dist binaries read no .env or bunfig.toml from the folder they start in", () => {
  // A card is hostile and offloads run as root: a bunfig.toml on it must not preload a script
  // into a tool started there, nor a .env set the tools' variables.
  const dir = tempDir("cartkit-workdir-");
  const marker = join(dir, "preloaded");
  writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./preload.js"]\n');
  writeFileSync(join(dir, "preload.js"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran");\n`);
  writeFileSync(join(dir, ".env"), "CARTKIT_MHL_HOSTNAME=from-dotenv\n");
  mkdirSync(join(dir, "card"));
  writeFileSync(join(dir, "card/a.txt"), "hello\n");
  for (const tool of readdirSync(join(ROOT, "dist")).filter((name) => !name.includes("."))) {
    const result = run([join(ROOT, "dist", tool), "--version"], { cwd: dir });
    expect({ tool, code: result.code, preloaded: existsSync(marker) }).toEqual({ tool, code: 0, preloaded: false });
  }
  expect(run([join(ROOT, "dist/mhl-verify"), "create", "card", "-h", "xxh64"], { cwd: dir }).code).toBe(0);
  const [generation] = readdirSync(join(dir, "card/ascmhl")).filter((name) => name.endsWith(".mhl"));
  const text = readFileSync(join(dir, "card/ascmhl", generation ?? ""), "utf8");
  expect(text).toContain(`<hostname>${hostname()}</hostname>`);
  expect(existsSync(marker)).toBe(false);
});
