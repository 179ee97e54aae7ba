/**
 * A compiled tool restarts itself once without the JIT's top tier (lib/core/top_tier.ts): the
 * same process, arguments and environment byte for byte, one variable added, and its own name.
 */
import { expect, test } from "bun:test";
import { readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { givesOption } from "../lib/cli/command_line.ts";
import { manyFiles } from "../lib/cli/restart_first.ts";
import { ROOT, tempDir } from "./helpers.ts";

/**
 * What /proc shows of a process once its environment holds `BUN_JSC_useFTLJIT` and its name is
 * no longer the restart's "exe" (or, after 6 s, as it is then).
 */
async function settled(pid: number): Promise<{ cmdline: Buffer; environ: Buffer; comm: string }> {
  const now = () => ({ cmdline: readFileSync(`/proc/${pid}/cmdline`), environ: readFileSync(`/proc/${pid}/environ`), comm: readFileSync(`/proc/${pid}/comm`, "latin1") });
  for (let i = 0; i < 300; i++) {
    const seen = now();
    if (seen.environ.includes("BUN_JSC_useFTLJIT=") && seen.comm !== "exe\n") return seen;
    await Bun.sleep(20);
  }
  return now();
}

/** The entries of a NUL-separated /proc file, as latin1 text (one character a byte). */
function entries(raw: Buffer): string[] {
  return raw.toString("latin1").split("\0").slice(0, -1);
}

test("a compiled tool restarts with the same arguments and environment as bytes, the variable added, under its own name", async () => {
  const dir = tempDir("cartkit-tier-");
  // Bytes that are not UTF-8 in an argument and in the environment: a string would lose them.
  writeFileSync(join(dir, "a.txt"), "hello\n");
  const script = `exec env -i PATH=/usr/bin:/bin "ODD=$(printf 'a\\377b')" "$1" --files-from - "$(printf 'caf\\351')"`;
  const proc = Bun.spawn(["sh", "-c", script, "sh", join(ROOT, "dist/xxsum")], { cwd: dir, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const seen = await settled(proc.pid);
  proc.stdin.write("a.txt\n");
  proc.stdin.end();
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  expect(entries(seen.cmdline)).toEqual([join(ROOT, "dist/xxsum"), "--files-from", "-", "caf\xe9"]);
  expect(entries(seen.environ)).toEqual(["PATH=/usr/bin:/bin", "ODD=a\xffb", "BUN_JSC_useFTLJIT=false"]);
  expect(seen.comm).toBe("xxsum\n");
  // The restarted tool read stdin and was given the name's exact bytes.
  expect(stdout).toBe("e4c191d091bd8853  a.txt\n");
  expect(stderr).toBe("xxsum: caf\\xe9: No such file or directory\n");
  expect(code).toBe(1);
});

test("a run of a few files is not restarted", async () => {
  const proc = Bun.spawn([join(ROOT, "dist/xxsum"), "-"], { env: { PATH: "/usr/bin:/bin" }, stdin: "pipe", stdout: "pipe" });
  // Long enough for a restart to show: the restarted tool answers in about 30 ms.
  await Bun.sleep(500);
  const seen = { environ: readFileSync(`/proc/${proc.pid}/environ`), comm: readFileSync(`/proc/${proc.pid}/comm`, "latin1") };
  proc.stdin.end();
  expect(await proc.exited).toBe(0);
  expect(entries(seen.environ)).toEqual(["PATH=/usr/bin:/bin"]);
  expect(seen.comm).toBe("xxsum\n");
});

test("given BUN_JSC_useFTLJIT, a compiled tool runs as it was started", async () => {
  const proc = Bun.spawn([join(ROOT, "dist/xxsum"), "-r", "-"], { env: { PATH: "/usr/bin:/bin", BUN_JSC_useFTLJIT: "true" }, stdin: "pipe", stdout: "pipe" });
  const seen = await settled(proc.pid);
  proc.stdin.end();
  expect(await proc.exited).toBe(0);
  expect(entries(seen.environ)).toEqual(["PATH=/usr/bin:/bin", "BUN_JSC_useFTLJIT=true"]);
  expect(seen.comm).toBe("xxsum\n");
});

test("which runs count as many files", () => {
  expect(givesOption(["-rq", "card"], ["recursive"], "r")).toBe(true);
  expect(givesOption(["--recursive=yes"], ["recursive"], "r")).toBe(true);
  expect(givesOption(["card", "--", "-r"], ["recursive"], "r")).toBe(false);
  expect(givesOption(["-t", "xxh64", "clip.mov", "d1"], ["recursive"], "r")).toBe(false);
  expect(manyFiles("xxsum", ["-H2", "a", "b"])).toBe(false);
  expect(manyFiles("xxsum", ["-c", "SUMS"])).toBe(true);
  expect(manyFiles("b3sum-ts", ["--files-from", "-"])).toBe(true);
  expect(
    manyFiles(
      "b3sum-ts",
      Array.from({ length: 65 }, (_, i) => `f${i}`),
    ),
  ).toBe(true);
  expect(manyFiles("dispatchcopy", ["-r", "card", "d1"])).toBe(true);
  expect(manyFiles("dispatchcopy", ["clip.mov", "d1"])).toBe(false);
  expect(manyFiles("mhl-verify", ["info", "card"])).toBe(true);
  expect(manyFiles("ltfs-pack", ["catalog", "index.xml"])).toBe(true);
  expect(manyFiles("cartvault", ["--json", "checkout", "store", "main", "out"])).toBe(true);
  expect(manyFiles("cartvault", ["log", "store"])).toBe(false);
  expect(manyFiles("cartvault", ["--", "commit"])).toBe(false);
  expect(manyFiles("tc-extract", ["-r"])).toBe(false);
  expect(manyFiles("cartserve", ["-r"])).toBe(false);
  expect(manyFiles("toString", [])).toBe(false);
});

test("descriptors a compiled tool is given stay open across the restart, and a link keeps its name and meaning", async () => {
  const dir = tempDir("cartkit-tier-fds-");
  writeFileSync(join(dir, "a.txt"), "hello\n");
  writeFileSync(join(dir, "SUMS"), "e4c191d091bd8853  a.txt\n");
  symlinkSync(join(ROOT, "dist/xxsum"), join(dir, "xxh32sum"));
  // `-c /dev/fd/5 5<SUMS` is what `-c <(…)` comes to; the restart must not close descriptor 5.
  // The second sum file is stdin, held open until the restart is seen.
  const checked = Bun.spawn(["sh", "-c", `exec "$1" -c /dev/fd/5 - 5<SUMS 7</dev/null`, "sh", join(ROOT, "dist/xxsum")], { cwd: dir, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const seen = await settled(checked.pid);
  checked.stdin.write("e4c191d091bd8853  a.txt\n");
  checked.stdin.end();
  expect(await checked.exited).toBe(0);
  expect(await new Response(checked.stdout).text()).toBe("a.txt: OK\na.txt: OK\n");
  expect(entries(seen.environ)).toContain("BUN_JSC_useFTLJIT=false");
  // Called by a link's name (XXH32), the restarted tool is known by that name and hashes in XXH32.
  const linked = Bun.spawn([join(dir, "xxh32sum"), "--files-from", "-"], { cwd: dir, stdin: "pipe", stdout: "pipe" });
  const named = await settled(linked.pid);
  linked.stdin.write("a.txt\n");
  linked.stdin.end();
  expect(await linked.exited).toBe(0);
  expect({ comm: named.comm, restarted: entries(named.environ).includes("BUN_JSC_useFTLJIT=false") }).toEqual({ comm: "xxh32sum\n", restarted: true });
  expect(await new Response(linked.stdout).text()).toBe("946b5bf9  a.txt\n");
});
