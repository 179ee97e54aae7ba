/**
 * Hostile inputs: manifests, MHL chains, EDLs, LTFS indexes and tape plans with `../`, absolute
 * paths, NUL, invalid UTF-8, 100 KB lines, entity bombs and external entities, wrong hash
 * lengths and huge numbers. Each is refused with one line naming the file (control characters
 * escaped, no stack trace), with the tool's exit code, and nothing is read or written outside
 * the root: a sentinel file outside stays untouched and no file appears outside the work folder.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMPILED, tempDir, tool } from "../helpers.ts";

interface Case {
  name: string;
  tool: string;
  /** Files to create in the work folder: name → content. */
  files: Record<string, string | Uint8Array>;
  args: string[];
  code: number;
  /** The whole of stderr. */
  stderr: string | RegExp;
}

const HEX32 = "0123456789abcdef0123456789abcdef";
const BOMB = '<?xml version="1.0"?>\n<!DOCTYPE b [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n<ltfsindex version="2.4.0"><creator>&b;</creator></ltfsindex>\n';
const EXTERNAL = '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<ltfsindex version="2.4.0"><creator>&x;</creator></ltfsindex>\n';
const EVENT = "001  A001C001 V     C        10:00:00:00 10:00:01:00 01:00:00:00 01:00:01:00";

/** A one-file LTFS index whose file has the given name and start block. */
function index(name: string, startBlock = "7"): string {
  const t = "2026-01-01T00:00:00.000000000Z";
  const times = `<creationtime>${t}</creationtime><changetime>${t}</changetime><modifytime>${t}</modifytime><accesstime>${t}</accesstime><backuptime>${t}</backuptime>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<ltfsindex version="2.4.0"><creator>t</creator><volumeuuid>0b2a6c2e-9f4d-4e0a-8d3c-2f6a1b7c9e01</volumeuuid><generationnumber>1</generationnumber>
<updatetime>${t}</updatetime><location><partition>a</partition><startblock>5</startblock></location><allowpolicyupdate>true</allowpolicyupdate><highestfileuid>2</highestfileuid>
<directory><name>V</name><readonly>false</readonly>${times}<fileuid>1</fileuid><contents>
<file><name>${name}</name><length>1</length><readonly>false</readonly>${times}<fileuid>2</fileuid>
<extentinfo><extent><fileoffset>0</fileoffset><partition>b</partition><startblock>${startBlock}</startblock><byteoffset>0</byteoffset><bytecount>1</bytecount></extent></extentinfo></file>
</contents></directory></ltfsindex>
`;
}

/** A plan file with one file, whose fields (and source folders) can be replaced. */
function plan(file: Record<string, unknown>, sources = ["/etc"]): string {
  return JSON.stringify({
    format: "ltfs-pack plan",
    version: 1,
    tape: { name: "LTO-9", nativeBytes: 18e12, dataPartitionBytes: 16e12, reserveBytes: 8e11, formatBlocks: 7, usableBlocks: 1000, usableBytes: 1000 * 524288 },
    blockSize: 524288,
    sources,
    tapes: [{ index: 1, files: [{ source: "/etc/hostname", path: "CARD/a.txt", size: 1, blocks: 1, ...file }], bytes: 1, blocks: 1, fill: 0 }],
  });
}

const CASES: Case[] = [
  { name: "manifest line escaping the root", tool: "xxsum", files: { "m.xxh": `${HEX32}  ../outside.txt\n` }, args: ["-c", "m.xxh", "--root", "root"], code: 1, stderr: "xxsum: m.xxh:1: ../outside.txt: path escapes the manifest's root ('..'); manifest paths must stay inside their root\n" },
  { name: "manifest line with an absolute path", tool: "b3sum-ts", files: { "m.b3": `${"a".repeat(64)}  /etc/passwd\n` }, args: ["-c", "m.b3"], code: 1, stderr: "b3sum-ts: m.b3:1: /etc/passwd: absolute path in manifest; manifest paths must be relative to their root\n" },
  { name: "manifest line with a NUL (shown escaped)", tool: "xxsum", files: { "m.xxh": `${HEX32}  a\u0000b.txt\n` }, args: ["-c", "m.xxh", "--root", "root"], code: 1, stderr: "xxsum: m.xxh:1: a\\x00b.txt: path contains a NUL character\n" },
  { name: "manifest with invalid UTF-8 and a short hash only", tool: "xxsum", files: { "m.xxh": new Uint8Array([...Buffer.from("0123  \xff\xfe.txt\n", "latin1")]) }, args: ["-c", "m.xxh", "--root", "root"], code: 1, stderr: "m.xxh: no properly formatted xxHash checksum lines found\n" },
  {
    name: "MHL chain naming a generation outside ascmhl/",
    tool: "mhl-verify",
    files: { "root/ascmhl/ascmhl_chain.xml": '<?xml version="1.0" encoding="UTF-8"?>\n<ascmhldirectory xmlns="urn:ASC:MHL:DIRECTORY:v2.0">\n  <hashlist sequencenr="1">\n    <path>../../evil.mhl</path>\n    <c4>c4x</c4>\n  </hashlist>\n</ascmhldirectory>\n' },
    args: ["verify", "root"],
    code: 2,
    stderr: /^mhl-verify: .*ascmhl_chain\.xml: line 4: refusing path '\.\.\/\.\.\/evil\.mhl' escapes the root\n$/,
  },
  { name: "EDL with a NUL", tool: "tc-extract", files: { "cut.edl": `TITLE: X\n${EVENT.replace("A001", "A0\u000001")}\n` }, args: ["edl", "cut.edl"], code: 2, stderr: "tc-extract: cut.edl: line 2: contains a control character (NUL or other); an EDL is plain text\n" },
  { name: "EDL with a 100 KB line", tool: "tc-extract", files: { "cut.edl": `TITLE: X\n${EVENT} ${"x".repeat(100_000)}\n` }, args: ["edl", "cut.edl"], code: 2, stderr: "tc-extract: cut.edl: line 2: is 100077 characters long; EDL lines are at most 4096\n" },
  { name: "EDL with huge timecode fields", tool: "tc-extract", files: { "cut.edl": `TITLE: X\n${EVENT.replace("10:00:01:00", "99:99:99:99")}\n` }, args: ["edl", "cut.edl"], code: 2, stderr: "tc-extract: cut.edl: line 2: invalid timecode '99:99:99:99': fields out of range at 24 fps (HH<24, MM<60, SS<60, FF<24)\n" },
  { name: "LTFS index with an entity bomb", tool: "ltfs-pack", files: { "i.xml": BOMB }, args: ["index", "i.xml", "--check"], code: 2, stderr: "ltfs-pack index: i.xml: line 2: DOCTYPE declarations (DTDs) are not allowed\n" },
  { name: "LTFS index with an external entity", tool: "ltfs-pack", files: { "i.xml": EXTERNAL }, args: ["index", "i.xml"], code: 2, stderr: "ltfs-pack index: i.xml: line 2: DOCTYPE declarations (DTDs) are not allowed\n" },
  { name: "LTFS index naming an entry '../../x'", tool: "ltfs-pack", files: { "i.xml": index("../../x") }, args: ["index", "i.xml", "--check"], code: 1, stderr: "ltfs-pack index: i.xml: 1 problem(s) in index generation 1\n" },
  { name: "LTFS index with invalid UTF-8", tool: "ltfs-pack", files: { "i.xml": Buffer.concat([Buffer.from(index("a")), Buffer.from([0xff, 0xfe])]) }, args: ["index", "i.xml"], code: 2, stderr: "ltfs-pack index: i.xml: is not UTF-8 text, so not an LTFS index; give the index XML as LTFS wrote it\n" },
  {
    name: "a saved index with invalid UTF-8 given to catalog",
    tool: "ltfs-pack",
    files: { "i.xml": Buffer.concat([Buffer.from(index("a")), Buffer.from([0xff])]) },
    args: ["catalog", "i.xml", "-o", "cat"],
    code: 2,
    stderr: "ltfs-pack catalog: i.xml: is not UTF-8 text, so not an LTFS index; give the index XML as LTFS wrote it\n",
  },
  { name: "LTFS index with a huge start block", tool: "ltfs-pack", files: { "i.xml": index("a", "99999999999999999999999") }, args: ["index", "i.xml", "--check"], code: 2, stderr: /^ltfs-pack index: i\.xml: line \d+: <startblock> is not a non-negative integer: '99999999999999999999999'\n$/ },
  {
    name: "plan with a tape path escaping the volume",
    tool: "ltfs-pack",
    files: { "p.json": plan({ path: "../../etc/cron.d/x" }) },
    args: ["write", "p.json", "--tape", "1", "--mount", "mnt"],
    code: 2,
    stderr: "ltfs-pack write: p.json: has a tape path that cannot be written on tape 1 (path '../../etc/cron.d/x' escapes the root); make it with 'ltfs-pack plan --json'\n",
  },
  {
    name: "plan with an absolute tape path",
    tool: "ltfs-pack",
    files: { "p.json": plan({ path: "/etc/x" }) },
    args: ["write", "p.json", "--tape", "1", "--vtape", "vt"],
    code: 2,
    stderr: "ltfs-pack write: p.json: has a tape path that cannot be written on tape 1 (absolute path '/etc/x'); make it with 'ltfs-pack plan --json'\n",
  },
  {
    name: "plan with a NUL in a tape path",
    tool: "ltfs-pack",
    files: { "p.json": plan({ path: "CARD/a\u0000b" }) },
    args: ["write", "p.json", "--tape", "1", "--vtape", "vt"],
    code: 2,
    stderr: "ltfs-pack write: p.json: has a tape path that cannot be written on tape 1 (path contains a NUL character); make it with 'ltfs-pack plan --json'\n",
  },
  { name: "plan with a huge size", tool: "ltfs-pack", files: { "p.json": plan({ size: 1e300 }) }, args: ["write", "p.json", "--tape", "1", "--vtape", "vt"], code: 2, stderr: "ltfs-pack write: p.json: has no valid file size; make it with 'ltfs-pack plan --json'\n" },
  {
    name: "plan naming one path twice",
    tool: "ltfs-pack",
    files: { "p.json": plan({}).replace(/"files":\[(\{[^\]]*\})\]/, '"files":[$1,$1]') },
    args: ["write", "p.json", "--tape", "1", "--vtape", "vt"],
    code: 2,
    stderr: "ltfs-pack write: p.json: names one tape path twice on tape 1; make it with 'ltfs-pack plan --json'\n",
  },
  {
    name: "plan naming /etc/shadow beside a card's folder",
    tool: "ltfs-pack",
    files: { "p.json": plan({ source: "/etc/shadow", path: "CARD/shadow" }, ["/tmp/CARD"]) },
    args: ["write", "p.json", "--tape", "1", "--vtape", "vt"],
    code: 2,
    stderr: "ltfs-pack write: p.json: has a source outside the plan's source folders on tape 1: '/etc/shadow'; make it with 'ltfs-pack plan --json'\n",
  },
  {
    name: "plan with a source climbing out of its folder",
    tool: "ltfs-pack",
    files: { "p.json": plan({ source: "/tmp/CARD/../../etc/shadow", path: "CARD/shadow" }, ["/tmp/CARD"]) },
    args: ["write", "p.json", "--tape", "1", "--mount", "mnt"],
    code: 2,
    stderr: "ltfs-pack write: p.json: has a source outside the plan's source folders on tape 1: '/tmp/CARD/../../etc/shadow'; make it with 'ltfs-pack plan --json'\n",
  },
  {
    name: "plan with a tape path that is not UTF-8",
    tool: "ltfs-pack",
    files: { "p.json": plan({ path: "CARD/caf\udce9\u001b.mov" }) },
    args: ["write", "p.json", "--tape", "1", "--vtape", "vt"],
    code: 2,
    stderr: "ltfs-pack write: p.json: has a tape path that cannot be written on tape 1 (path 'CARD/caf\\xe9\\e.mov' is not UTF-8, which an LTFS index holds only); make it with 'ltfs-pack plan --json'\n",
  },
];

/** Every path below `dir`, relative, sorted. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      out.push(rel);
      if (e.isDirectory()) walk(join(d, e.name), rel);
    }
  };
  walk(dir, "");
  return out.sort();
}

describe("hostile inputs are refused cleanly", () => {
  test.each(CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const outer = tempDir("cartkit-hostile-");
    const work = join(outer, "work");
    mkdirSync(join(work, "root"), { recursive: true });
    mkdirSync(join(work, "mnt"));
    writeFileSync(join(work, "root", "a.txt"), "inside\n");
    writeFileSync(join(outer, "outside.txt"), "sentinel\n");
    for (const [name, content] of Object.entries(c.files)) {
      mkdirSync(join(work, name, ".."), { recursive: true });
      writeFileSync(join(work, name), content);
    }
    const before = listing(outer);
    const result = tool(COMPILED, c.tool, c.args, { cwd: work });
    expect(result.code).toBe(c.code);
    if (typeof c.stderr === "string") expect(result.stderr).toBe(c.stderr);
    else expect(result.stderr).toMatch(c.stderr);
    expect(result.stderr).not.toContain("    at ");
    expect(result.stderr).not.toContain("\u0000");
    expect(listing(outer)).toEqual(before);
    expect(readFileSync(join(outer, "outside.txt"), "utf8")).toBe("sentinel\n");
  });
});
