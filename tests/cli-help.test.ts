/** Every tool's --help shows what it takes: its USAGE line names the operands, not only [OPTIONS]. */
import { expect, test } from "bun:test";
import { COMPILED, tool } from "./helpers.ts";

const USAGE: Record<string, string> = {
  "b3sum-ts": "USAGE b3sum-ts [OPTIONS] [FILE]...",
  xxsum: "USAGE xxsum [OPTIONS] [FILE]...",
  dispatchcopy: "USAGE dispatchcopy [OPTIONS] SOURCE DEST...",
  "mhl-verify": "USAGE mhl-verify [OPTIONS] [create|verify|diff|info|flatten] ROOT [DEST]",
  "tc-extract": "USAGE tc-extract [OPTIONS] SOURCE --in TC --out TC | --edl EDL --media DIR | edl EDL | tc EXPRESSION... | proxy FILE...",
  cartserve: "USAGE cartserve [OPTIONS] <SOURCES>",
  "ltfs-pack": "USAGE ltfs-pack plan|write|verify|index|catalog",
};

test.each(Object.entries(USAGE))("%s --help names its operands", (name, usage) => {
  const help = tool(COMPILED, name, ["--help"]);
  expect(help.code).toBe(0);
  expect(help.stdout.split("\n").find((l) => l.startsWith("USAGE"))).toBe(usage);
});
