#!/usr/bin/env bun
/**
 * tc-extract — SMPTE timecode arithmetic, CMX 3600 EDL parsing, and frame-exact extraction of
 * timecode ranges (single, batch from an EDL, proxies) through ffmpeg.
 */
// First: a run of many files restarts before the rest is loaded.
import "../lib/cli/restart_first.ts";
import { defineCommand, type ArgsDef, type ParsedArgs } from "citty";
import { usageError } from "../lib/core/errors.ts";
import { showName } from "../lib/core/names.ts";
import { Output } from "../lib/cli/output.ts";
import { runTool } from "../lib/cli/run.ts";
import { parseCount } from "../lib/core/units.ts";
import { EdlParser, eventNeed, eventRecord, listRate } from "../lib/tc/edl.ts";
import { linesOfFile } from "../lib/tc/edl_lines.ts";
import { evaluateTimecode, formatTimecodeValue, type TimecodeForm } from "../lib/tc/expression.ts";
import { parseRate } from "../lib/tc/rate.ts";
import { runBatch } from "../lib/tc/batch.ts";
import { runExtraction } from "../lib/tc/extract.ts";
import { runProxies } from "../lib/tc/proxy.ts";
import { VERSION } from "../lib/core/version.ts";

const TOOL = "tc-extract";

const ARGS = {
  rate: { type: "string", description: "Frame rate: 23.976 24 25 29.97 30 47.952 48 50 59.94 60 (or num/den)", valueHint: "R" },
  df: { type: "boolean", description: "tc: drop-frame counting (29.97/59.94)" },
  ndf: { type: "boolean", description: "tc: non-drop-frame counting" },
  to: { type: "string", description: "tc: print frames, tc or seconds (default: frames for a timecode, tc for a frame number)", valueHint: "FORM" },
  json: { type: "boolean", description: "edl/extraction: JSON lines on stdout" },
  lenient: { type: "boolean", description: "edl, --edl: skip malformed lines with a warning (and read a transition under two numbers as one)" },
  in: { type: "string", description: "Extraction: first frame (timecode)", valueHint: "TC" },
  out: { type: "string", description: "Extraction: frame after the last one (timecode, exclusive)", valueHint: "TC" },
  handles: { type: "string", description: "Extra frames before the in and after the out point (default 0)", valueHint: "N" },
  output: { type: "string", alias: "o", description: "Output file (single) or folder (batch, proxy)", valueHint: "PATH" },
  codec: { type: "string", description: "Re-encode: prores_proxy prores_lt prores_422 prores_hq (default) dnxhr_lb dnxhr_hq h264_intra", valueHint: "C" },
  copy: { type: "boolean", description: "Stream copy (intra-only sources: exactly the frames asked for)" },
  "allow-inexact": { type: "boolean", description: "With --copy: allow a long-GOP source (the output holds whole GOPs, and says which frames)" },
  force: { type: "boolean", description: "Replace outputs that already exist (never otherwise)" },
  edl: { type: "string", description: "Batch: extract every event of this EDL", valueHint: "FILE" },
  media: { type: "string", description: "Batch: folder searched for the events' media", valueHint: "DIR" },
  jobs: { type: "string", description: "Batch/proxy: ffmpeg processes at once (default 1)", valueHint: "N" },
  preset: { type: "string", description: "proxy: prores_proxy (default), dnxhr_lb, h264_540p", valueHint: "P" },
  burn: { type: "string", description: "proxy: burn in tc, name or tc,name", valueHint: "LIST" },
  "dry-run": { type: "boolean", description: "Print the ffmpeg commands instead of running them" },
} as const satisfies ArgsDef;

type Args = ParsedArgs<typeof ARGS>;

const command = defineCommand({
  meta: { name: TOOL, version: VERSION, description: "Timecode math, CMX 3600 EDLs, and frame-exact extraction through ffmpeg." },
  args: ARGS,
});

const EPILOGUE = `Usage:
  tc-extract tc --rate R [--df|--ndf] [--to frames|tc|seconds] [VALUE...]
      Convert timecodes or frame numbers (or A+B, A-B of them), from the
      arguments or one per line from stdin. Seconds are floored to whole µs.
  tc-extract edl FILE [--rate R] [--json] [--lenient]
      Parse a CMX 3600 EDL, streamed; one JSON object per event line. Without
      --rate, 29.97 if the list says FCM: DROP FRAME, else 24. Lines longer
      than 4096 characters and control characters are refused, naming the line.
  tc-extract SOURCE --in TC --out TC [--handles N] [-o OUT] [--codec C | --copy]
      Extract [in-handles, out+handles) frame-exactly (frames counted from
      the first video frame); the output's timecode is the segment's first
      frame; each audio stream is cut to the samples that play with those
      frames and written as PCM. OUT is .mov or .mxf. Handles stop where the
      source does (said on stderr). The output is probed afterwards: frames
      and samples not as planned exit 1.
      --copy: video packets copied, from an intra-only source exactly the
      frames asked for. --copy --allow-inexact on long-GOP: whole GOPs, from
      the keyframe at or before --in to the one at or after --out; the
      output's timecode is its real first frame, and stderr says which.
  tc-extract --edl CUT.edl --media DIR [-o OUTDIR] [--handles N] [--jobs N]
      Extract every event whose media is found under DIR (by clip name,
      source file or reel, and start timecode range), reading its timecodes
      at that media's rate; writes report.json and a conformed EDL pointing
      at the extracted files into OUTDIR. Output names: NNN[_from|_to]_REEL_
      CLIP.mov from letters, digits, . _ - only.
  tc-extract proxy SOURCE... -o DIR [--preset P] [--burn tc,name]
      Proxies with the same start timecode, rate, frames, audio channels
      and base name, so editors relink.

Outputs are created as new files inside the output folder and named only
when complete; an existing file is never replaced unless --force.

ffmpeg and ffprobe: FFMPEG / FFPROBE, then PATH, then an npm-installed
@ffmpeg-installer / @ffprobe-installer (or ffprobe-static) binary.

Exit codes:
  0  done
  1  some events had no media, an output did not hold what was planned, or
     part of the media folder could not be searched
  2  usage error, unreadable input, malformed EDL, an existing output,
     ffmpeg failure`;

async function readStdinLines(): Promise<string[]> {
  const text = await new Response(Bun.stdin.stream()).text();
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

async function timecodeCommand(args: Args, values: string[], out: Output): Promise<number> {
  if (args.rate === undefined) throw usageError(`tc needs --rate; see '${TOOL} --help'`);
  if (args.df && args.ndf) throw usageError(`--df and --ndf exclude each other`);
  const rate = parseRate(args.rate);
  const form = args.to === undefined ? undefined : args.to;
  if (form !== undefined && !["frames", "tc", "seconds"].includes(form)) throw usageError(`--to ${form}: expected frames, tc or seconds`);
  const dropFrame = args.df ? true : args.ndf ? false : undefined;
  const inputs = values.length > 0 ? values : await readStdinLines();
  for (const input of inputs) {
    const value = evaluateTimecode(input, rate, dropFrame);
    out.data(`${formatTimecodeValue(value, (form as TimecodeForm | undefined) ?? (value.startsWithTimecode ? "frames" : "tc"), rate)}\n`);
  }
  return 0;
}

function edlCommand(args: Args, operands: string[], out: Output): number {
  if (operands.length !== 1) throw usageError(`edl needs one FILE; see '${TOOL} --help'`);
  const path = operands[0]!;
  const rate = args.rate === undefined ? listRate(linesOfFile(path)) : parseRate(args.rate);
  const parser = new EdlParser({ rate, lenient: Boolean(args.lenient), path: showName(path), onWarning: (warning) => out.error(`${TOOL}: ${showName(path)}: warning: ${warning}`) });
  for (const event of parser.events(linesOfFile(path))) {
    if (args.json) {
      out.data(`${JSON.stringify(eventRecord(event, rate))}\n`);
      continue;
    }
    const need = eventNeed(event, rate);
    out.data(`${event.event} ${showName(event.reel)} ${event.track} ${event.transition}${event.transitionFrames === null ? "" : ` ${event.transitionFrames}`} ${event.sourceIn} ${event.sourceOut} ${event.recordIn} ${event.recordOut} need ${need.in}-${need.out} (${need.frames})\n`);
  }
  return 0;
}

async function main(args: Args): Promise<number> {
  const positional = args._.slice();
  const out = new Output();
  const handles = args.handles === undefined ? 0 : parseCount(args.handles, "--handles", 0);
  const jobs = args.jobs === undefined ? 1 : parseCount(args.jobs, "--jobs");
  const common = { dryRun: Boolean(args["dry-run"]), json: Boolean(args.json), force: Boolean(args.force), out };
  try {
    if (positional[0] === "tc") return await timecodeCommand(args, positional.slice(1), out);
    if (positional[0] === "edl" && args.edl === undefined) return edlCommand(args, positional.slice(1), out);
    if (positional[0] === "proxy") {
      if (args.output === undefined) throw usageError(`proxy needs -o DIR`);
      return await runProxies(positional.slice(1), { ...common, outDir: args.output, preset: args.preset, burn: args.burn, jobs });
    }
    if (args.edl !== undefined) {
      if (positional.length > 0) throw usageError(`--edl takes no SOURCE operands`);
      if (args.media === undefined) throw usageError(`--edl needs --media DIR`);
      return await runBatch({
        ...common,
        edlPath: args.edl,
        mediaDir: args.media,
        outDir: args.output ?? ".",
        handles,
        jobs,
        rate: args.rate === undefined ? undefined : parseRate(args.rate),
        codec: args.codec,
        copy: Boolean(args.copy),
        allowInexact: Boolean(args["allow-inexact"]),
        lenient: Boolean(args.lenient),
      });
    }
    if (positional.length !== 1) throw usageError(`expected one SOURCE (or tc, edl, proxy, --edl); see '${TOOL} --help'`);
    if (args.in === undefined || args.out === undefined) throw usageError(`extraction needs --in TC and --out TC`);
    return await runExtraction({
      ...common,
      source: positional[0]!,
      inPoint: args.in,
      outPoint: args.out,
      handles,
      output: args.output,
      codec: args.codec,
      copy: Boolean(args.copy),
      allowInexact: Boolean(args["allow-inexact"]),
    });
  } finally {
    out.flush();
  }
}

await runTool({ command, operands: "SOURCE --in TC --out TC | --edl EDL --media DIR | edl EDL | tc EXPRESSION... | proxy FILE...", epilogue: EPILOGUE, main: (args) => main(args) });
