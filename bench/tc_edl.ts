#!/usr/bin/env bun
/**
 * Memory of `tc-extract edl` on hostile lists, from GNU time's maximum resident set size:
 * a list of a million events (`edl --json` must stream it), and one line of a gigabyte (refused
 * after its first MiB, never held).
 *
 *   bun bench/tc_edl.ts [--tool LABEL=PATH]... [--events N] [--line-mib N] [--runs N] [--dir DIR]
 *
 * Default tool: dist/tc-extract (built first when missing). Give another build of tc-extract
 * with --tool to compare (e.g. one compiled from an earlier commit). Prints a Markdown table:
 * median and range of RSS, CPU and wall time per tool and input, and checks each run's output
 * (the event count on stdout; nothing on stdout for the refused line).
 */
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { check, fail, median, ROOT } from "./common.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1]! : fallback;
};
const tools = args
  .flatMap((a, i) => (a === "--tool" ? [args[i + 1]!] : []))
  .map((t) => {
    const [label, path] = t.includes("=") ? t.split("=", 2) : [t, t];
    return { label: label!, path: path! };
  });
if (tools.length === 0) {
  const dist = join(ROOT, "dist", "tc-extract");
  if (!existsSync(dist)) check([process.execPath, join(ROOT, "scripts", "build.ts"), "tc-extract"]);
  tools.push({ label: "dist/tc-extract", path: dist });
}
const events = Number(option("--events", "1000000"));
const lineMib = Number(option("--line-mib", "1024"));
const runs = Number(option("--runs", "3"));
const dir = mkdtempSync(join(option("--dir", tmpdir()), "cartkit-tc-edl-bench-"));

/** A CMX 3600 list of `count` cuts at 25 fps, each with a clip-name comment, written in 1 MiB pieces. */
function writeList(path: string, count: number): void {
  const tc = (n: number) => {
    const f = n % 2160000;
    return `${String(Math.floor(f / 90000)).padStart(2, "0")}:${String(Math.floor(f / 1500) % 60).padStart(2, "0")}:${String(Math.floor(f / 25) % 60).padStart(2, "0")}:${String(f % 25).padStart(2, "0")}`;
  };
  const fd = openSync(path, "w");
  let text = "TITLE: BENCH\nFCM: NON-DROP FRAME\n";
  for (let i = 0; i < count; i++) {
    text += `${String(i % 1000).padStart(3, "0")}  R${String(i % 97).padStart(3, "0")}     V     C        ${tc(i * 10)} ${tc(i * 10 + 10)} ${tc(i * 10)} ${tc(i * 10 + 10)}\n* FROM CLIP NAME: CLIP${i}\n`;
    if (text.length > 1 << 20) {
      writeSync(fd, text);
      text = "";
    }
  }
  writeSync(fd, text);
  closeSync(fd);
}

/** One line of `mib` MiB of 'A', no newline. */
function writeLine(path: string, mib: number): void {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(1 << 20, 0x41);
  for (let i = 0; i < mib; i++) writeSync(fd, chunk);
  closeSync(fd);
}

/** Runs under GNU time -v: max RSS (MiB), wall seconds, exit code, and stdout's line count. */
async function measured(cmd: string[]): Promise<{ rssMib: number; seconds: number; cpu: number; code: number; lines: number; stderr: string }> {
  // The report goes to a file: a child that makes the shared stderr non-blocking can cut it short in a pipe.
  const report = join(dir, "time.txt");
  const proc = Bun.spawn({ cmd: ["/usr/bin/time", "-v", "-o", report, "bash", "-c", 'set -o pipefail; "$@" | wc -l', "bash", ...cmd], stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, toolErr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const err = readFileSync(report, "utf8");
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(err);
  const status = /Exit status: (\d+)/.exec(err);
  if (!rss || !wall) fail(`no GNU time figures for ${cmd.join(" ")}: ${err.slice(-400)}`);
  return {
    rssMib: Number(rss[1]) / 1024,
    seconds: Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]),
    cpu: Number(/User time \(seconds\): ([\d.]+)/.exec(err)?.[1] ?? 0) + Number(/System time \(seconds\): ([\d.]+)/.exec(err)?.[1] ?? 0),
    code: Number(status?.[1] ?? -1),
    lines: Number(out.trim()),
    stderr: toolErr.trim(),
  };
}

const list = join(dir, "million.edl");
const line = join(dir, "line.edl");
try {
  writeList(list, events);
  writeLine(line, lineMib);
  const rows: string[] = [];
  const range = (values: number[], digits: number) => `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;
  for (const { label, path } of tools) {
    for (const [input, cmd, expectLines] of [
      [`${events.toLocaleString("en")} events, \`edl --json\``, [path, "edl", list, "--json", "--rate", "25"], events],
      [`one ${lineMib} MiB line, \`edl\``, [path, "edl", line, "--rate", "25"], 0],
    ] as const) {
      const samples = [];
      for (let i = 0; i < runs; i++) samples.push(await measured([...cmd]));
      for (const s of samples) {
        if (s.lines !== expectLines) fail(`${label} on ${input}: ${s.lines} lines on stdout, ${expectLines} expected (exit ${s.code}: ${s.stderr.slice(0, 300)})`);
      }
      rows.push(
        `| ${label} | ${input} | ${range(
          samples.map((s) => s.rssMib),
          0,
        )} | ${range(
          samples.map((s) => s.cpu),
          2,
        )} | ${range(
          samples.map((s) => s.seconds),
          2,
        )} | ${samples[0]!.code} |`,
      );
    }
  }
  process.stdout.write(["| tool | input | max RSS MiB, median (range) | CPU s (user + sys), median (range) | wall s, median (range) | exit |", "|---|---|---|---|---|---|", ...rows, ""].join("\n"));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
