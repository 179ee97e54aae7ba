/**
 * `npm run demo`: the main job on built-in sample data, end to end — a card made with ffmpeg,
 * offloaded to two destinations, proven, one EDL event extracted, both projects written to
 * virtual tapes, the tapes verified and catalogued, the project kept in a vault with a regrade
 * branch — and every step passes.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT, run, runners } from "./helpers.ts";
import { startPrinting } from "./serve-helpers.ts";

test("the demo runs every step of the job and every verification passes, and the cartserve command it prints serves its tapes, vault and RAID copy", async () => {
  const result = run([BUN, `${ROOT}/scripts/demo.ts`]);
  const work = /Everything is in (\S+):/.exec(result.stdout)?.[1];
  try {
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout.match(/^ok +\d+\.\d\d s {2}/gm)).toHaveLength(8);
    expect(result.stdout).not.toContain("FAILED");
    expect(result.stdout).toContain("Every verification passed.\n");
    expect(work).toBeDefined();
    // The offloads: the sums list the clips, not the OS litter.
    const sums = readFileSync(join(work!, "A001.xxh128"), "utf8");
    expect(sums).toMatch(/^[0-9a-f]{32} {2}CLIPS\/A001C002_261122AB\.mov$/m);
    expect(sums).not.toContain(".DS_Store");
    expect(sums).not.toContain("._A001C001");
    // The extraction: 2 s of the clip plus 10 frames of handles each side.
    const report = JSON.parse(readFileSync(join(work!, "CONFORM", "report.json"), "utf8"));
    expect(JSON.stringify(report)).toContain('"frames":70');
    // Both tapes and the catalog.
    expect(result.stdout).toMatch(/verified TAPES\/PX0001: 9 files, \d+ bytes read back, all match ascmhl\/0001_PX0001_/);
    expect(result.stdout).toMatch(/verified TAPES\/PX0101: 9 files, \d+ bytes read back, all match ascmhl\/0001_PX0101_/);
    expect(existsSync(join(work!, "CATALOG", "index.html"))).toBe(true);
    const catalog = JSON.parse(readFileSync(join(work!, "CATALOG", "catalog.json"), "utf8"));
    expect(catalog.tapes.map((t: { serial: string }) => t.serial)).toEqual(["PX0001", "PX0101"]);
    // The vault: a branch costs nothing until it changes, then only what changed.
    expect(result.stdout).toMatch(/^main +[0-9a-f]{12} +6 +2\.\d MiB\nregrade +[0-9a-f]{12} +6 +2\.\d MiB\n\nlogical, all branches: +4\.\d MiB\nlogical, whole history: +2\.\d MiB in 1 commits\nobjects: +6, /m);
    expect(result.stdout).toContain("A\tDAY01/A001/CLIPS/A001C002_261122AB.cdl\nM\tDAY01/A001/CLIPS/A001C002_261122AB.xml\n");
    expect(result.stdout).toMatch(/; 7 file\(s\) read, 2 new object\(s\) stored \(\d+ B\) by /);
    // The portal: the command printed last serves both tapes, every branch of the vault and the RAID copy.
    const printed = /^Portal: http:\/\/127\.0\.0\.1:8740\/ \(cd \S+ && cartserve (.+); or npm run demo -- --serve\)$/m.exec(result.stdout)?.[1];
    expect(printed).toBe("TAPES/PX0001 TAPES/PX0101 VAULT RAID=RAID/PROJECT/DAY01/A001 --proxies PREVIEWS");
    const { proc, url } = await startPrinting([...runners()[0]!.command("cartserve"), ...printed!.split(" "), "--listen", "127.0.0.1:0"], work!);
    try {
      const list = (await (await fetch(new URL("/api/files", url))).json()) as { source: string; path: string; url: string; tapes: string[]; versions: { source: string }[] }[];
      expect([...new Set(list.map((f) => f.source))].sort()).toEqual(["PX0001", "PX0101", "RAID", "VAULT@main", "VAULT@regrade"]);
      const graded = list.find((f) => f.source === "VAULT@regrade" && f.path === "DAY01/A001/CLIPS/A001C002_261122AB.mov")!;
      expect([graded.url, graded.tapes, graded.versions.map((v) => v.source)]).toEqual(["/files/VAULT@regrade/DAY01/A001/CLIPS/A001C002_261122AB.mov", ["PX0001", "PX0101"], ["VAULT@main", "VAULT@regrade"]]);
      const ranged = await fetch(new URL(graded.url, url), { headers: { range: "bytes=0-1023" } });
      expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(new Uint8Array(readFileSync(join(work!, "RAID/PROJECT/DAY01/A001/CLIPS/A001C002_261122AB.mov")).subarray(0, 1024)));
    } finally {
      proc.kill();
      await proc.exited;
    }
  } finally {
    if (work) rmSync(work, { recursive: true, force: true });
  }
}, 120_000);
