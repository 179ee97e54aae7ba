#!/usr/bin/env bun
/**
 * The main job on built-in sample data: a small camera card is made in a temp folder, a
 * manifest is written with b3sum-ts and xxsum, the card is copied, the copy is proven against
 * the manifest, and then one flipped byte in the copy is caught. Uses the compiled tools in
 * dist/ when present, else runs them from source.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "cartkit-demo-"));

function toolCommand(name: string): string[] {
  const compiled = join(root, "dist", name);
  return existsSync(compiled) ? [compiled] : [process.execPath, join(root, "tools", `${name}.ts`)];
}

function step(title: string): void {
  process.stdout.write(`\n== ${title}\n`);
}

function sh(name: string, args: string[], stdin?: string): number {
  process.stdout.write(`$ ${name} ${args.map((a) => (/[\s'"]/.test(a) ? `'${a}'` : a)).join(" ")}\n`);
  const proc = Bun.spawnSync({ cmd: [...toolCommand(name), ...args], cwd: work, stdin: stdin ? Buffer.from(stdin) : "ignore", stdout: "pipe", stderr: "pipe" });
  process.stdout.write(proc.stdout.toString());
  if (proc.stderr.length) process.stdout.write(proc.stderr.toString());
  process.stdout.write(`(exit ${proc.exitCode})\n`);
  return proc.exitCode ?? -1;
}

/** Deterministic "footage": the same bytes on every machine. */
function footage(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

try {
  step("A camera card: two clips, a sidecar, and the OS litter nobody wants in a manifest");
  const card = join(work, "A001_C001");
  mkdirSync(join(card, "CLIPS"), { recursive: true });
  writeFileSync(join(card, "CLIPS", "A001C001_261122.mov"), footage(3 << 20, 1));
  writeFileSync(join(card, "CLIPS", "A001C002_261122.mov"), footage(5 << 20, 2));
  writeFileSync(join(card, "A001_C001.xml"), "<clips><clip>A001C001</clip><clip>A001C002</clip></clips>\n");
  writeFileSync(join(card, ".DS_Store"), "finder");
  writeFileSync(join(card, "CLIPS", "._A001C001_261122.mov"), "resource fork");

  step("Manifests of the card (BLAKE3 and XXH128), two files hashed at once");
  const b3 = Bun.spawnSync({ cmd: [...toolCommand("b3sum-ts"), "-r", "--jobs", "2", "A001_C001"], cwd: work, stdout: "pipe" });
  writeFileSync(join(work, "A001_C001.b3"), b3.stdout);
  sh("xxsum", ["-H2", "-r", "--jobs", "2", "A001_C001"]);
  process.stdout.write(`$ b3sum-ts -r --jobs 2 A001_C001 > A001_C001.b3\n${readFileSync(join(work, "A001_C001.b3"), "utf8")}`);

  step("Copy the card to a shuttle drive and prove the copy against the manifest");
  const shuttle = join(work, "SHUTTLE_01", "A001_C001");
  cpSync(card, shuttle, { recursive: true });
  const good = sh("b3sum-ts", ["-c", "A001_C001.b3", "--root", "SHUTTLE_01/A001_C001"]);

  step("One flipped bit in the copy is caught");
  const clip = join(shuttle, "CLIPS", "A001C002_261122.mov");
  const bytes = readFileSync(clip);
  bytes[bytes.length >> 1]! ^= 0x10;
  writeFileSync(clip, bytes);
  const bad = sh("b3sum-ts", ["-c", "A001_C001.b3", "--root", "SHUTTLE_01/A001_C001"]);

  step("Result");
  const ok = good === 0 && bad === 1;
  process.stdout.write(ok ? "The good copy verified; the damaged copy was refused.\n" : "Unexpected result: see the exit codes above.\n");
  process.exitCode = ok ? 0 : 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
