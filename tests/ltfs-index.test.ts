/** lib/ltfs index model, XML writer/reader and checker. */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { indexFiles, indexFolders } from "../lib/ltfs/volume.ts";
import { runners, tempDir, tool } from "./helpers.ts";
import { checkIndex } from "../lib/ltfs/index_check.ts";
import { emptyDirectory, formatLtfsTime, type LtfsDirectory, type LtfsFile, type LtfsIndex } from "../lib/ltfs/index_model.ts";
import { indexTreeXml, parseLtfsTime, percentDecodeName, percentEncodeName, readIndexXml, writeIndexXml } from "../lib/ltfs/index_xml.ts";

const T0 = "2024-03-01T09:15:00.123456789Z";
const T1 = "2024-03-01T10:00:00.000000001Z";
const BLOCK = 524_288;
const times = (t: string) => ({ creationTime: t, changeTime: t, modifyTime: t, accessTime: t, backupTime: t });

function file(name: string, fileUid: number, length: number, extents: LtfsFile["extents"] = [], xattrs: LtfsFile["xattrs"] = []): LtfsFile {
  return { kind: "file", name, readOnly: false, ...times(T0), fileUid, length, extents, xattrs };
}

function directory(name: string, fileUid: number, contents: LtfsDirectory["contents"]): LtfsDirectory {
  return { ...emptyDirectory(name, fileUid, T1), contents };
}

/** A day's offload: two camera rolls, deep sound folders, unicode and awkward names. */
function realisticIndex(): LtfsIndex {
  const clip = file(
    "A001C003_240301_R1AB.mov",
    5,
    3 * BLOCK + 1000,
    [
      { fileOffset: 0, partition: "b", startBlock: 20, byteOffset: 4096, byteCount: 2 * BLOCK },
      { fileOffset: 2 * BLOCK, partition: "b", startBlock: 23, byteOffset: 0, byteCount: BLOCK + 1000 },
    ],
    [
      { key: "ltfs.hash.xxh64sum", value: "1d3b5c7a9e0f2468" },
      { key: "user.cartkit.source", value: "/Volumes/A001/CLIPS/A001C003.mov" },
      { key: "user.cartkit.raw", value: new Uint8Array([0, 1, 2, 0xff]) },
    ],
  );
  return {
    version: "2.4.0",
    creator: "cartkit 0.1.0 - Linux - ltfs-pack",
    comment: "day 3 & 4 <selects>",
    volumeUuid: "0b2a6c2e-9f4d-4e0a-8d3c-2f6a1b7c9e01",
    generationNumber: 3,
    updateTime: T1,
    location: { partition: "a", startBlock: 12 },
    previousGenerationLocation: { partition: "b", startBlock: 40 },
    allowPolicyUpdate: true,
    dataPlacementPolicy: { indexPartitionCriteria: { size: 1_048_576, names: ["*.xml", "*.mhl"] } },
    highestFileUid: 14,
    volumeLockState: "unlocked",
    root: directory("TAPE001", 1, [
      directory("A001", 2, [directory("CLIPS", 3, [clip, file("empty.txt", 6, 0)]), file("Café – résumé ✓.txt", 7, 10, [{ fileOffset: 0, partition: "b", startBlock: 24, byteOffset: 0, byteCount: 10 }]), file("time:code 01.edl", 8, 5, [{ fileOffset: 0, partition: "b", startBlock: 25, byteOffset: 0, byteCount: 5 }])]),
      directory("Sound", 9, [directory("Day 3", 10, [directory("Roll 1", 11, [directory("深い", 12, [file(" leading space & <tags>.wav", 13, 0, [], [{ key: "user.note", value: "" }]), { ...file("latest.wav", 14, 0), symlinkTarget: "../Roll 1/深い/ leading space & <tags>.wav" }])])])]),
    ]),
  };
}

test("a realistic index survives write → read unchanged and is sound", () => {
  const index = realisticIndex();
  const text = writeIndexXml(index);
  expect(readIndexXml(text, "index.xml")).toEqual(index);
  expect(writeIndexXml(readIndexXml(text, "index.xml"))).toBe(text);
  expect(checkIndex(index, { blockSize: BLOCK, writtenBlocks: { a: 20, b: 26 } })).toEqual([]);
  // the name with ':' goes percent-encoded, byte by byte for everything outside the plain set
  expect(text).toContain('<name percentencoded="true">time%3Acode%2001.edl</name>');
  expect(text).toContain('<value type="base64">AAEC/w==</value>');
});

test("the root's element made once gives both copies of a generation byte for byte", () => {
  const index = realisticIndex();
  const tree = indexTreeXml(index.root);
  expect(tree).toStartWith("  <directory>\n    <name>TAPE001</name>\n");
  expect(tree).toEndWith("  </directory>\n");
  expect(writeIndexXml(index, tree)).toBe(writeIndexXml(index));
  const otherCopy = { ...index, location: { partition: "b" as const, startBlock: 40 } };
  delete otherCopy.previousGenerationLocation;
  expect(writeIndexXml(otherCopy, tree)).toBe(writeIndexXml(otherCopy));
  const empty = { ...index, root: emptyDirectory("TAPE001", 1, T1) };
  expect(writeIndexXml(empty, indexTreeXml(empty.root))).toBe(writeIndexXml(empty));
});

test("writes a small index byte for byte in the reference's element order", () => {
  const index: LtfsIndex = {
    version: "2.4.0",
    creator: "cartkit",
    volumeUuid: "0b2a6c2e-9f4d-4e0a-8d3c-2f6a1b7c9e01",
    generationNumber: 1,
    updateTime: T1,
    location: { partition: "b", startBlock: 7 },
    allowPolicyUpdate: false,
    highestFileUid: 2,
    root: directory("", 1, [file("a.bin", 2, 5, [{ fileOffset: 0, partition: "b", startBlock: 5, byteOffset: 0, byteCount: 5 }], [{ key: "ltfs.hash.xxh64sum", value: "26c7827d889f6da3" }])]),
  };
  expect(writeIndexXml(index)).toBe(`<?xml version="1.0" encoding="UTF-8"?>
<ltfsindex version="2.4.0">
  <creator>cartkit</creator>
  <volumeuuid>0b2a6c2e-9f4d-4e0a-8d3c-2f6a1b7c9e01</volumeuuid>
  <generationnumber>1</generationnumber>
  <updatetime>2024-03-01T10:00:00.000000001Z</updatetime>
  <location>
    <partition>b</partition>
    <startblock>7</startblock>
  </location>
  <allowpolicyupdate>false</allowpolicyupdate>
  <highestfileuid>2</highestfileuid>
  <directory>
    <name/>
    <readonly>false</readonly>
    <creationtime>2024-03-01T10:00:00.000000001Z</creationtime>
    <changetime>2024-03-01T10:00:00.000000001Z</changetime>
    <modifytime>2024-03-01T10:00:00.000000001Z</modifytime>
    <accesstime>2024-03-01T10:00:00.000000001Z</accesstime>
    <backuptime>2024-03-01T10:00:00.000000001Z</backuptime>
    <fileuid>1</fileuid>
    <contents>
      <file>
        <name>a.bin</name>
        <length>5</length>
        <readonly>false</readonly>
        <creationtime>2024-03-01T09:15:00.123456789Z</creationtime>
        <changetime>2024-03-01T09:15:00.123456789Z</changetime>
        <modifytime>2024-03-01T09:15:00.123456789Z</modifytime>
        <accesstime>2024-03-01T09:15:00.123456789Z</accesstime>
        <backuptime>2024-03-01T09:15:00.123456789Z</backuptime>
        <fileuid>2</fileuid>
        <extendedattributes>
          <xattr>
            <key>ltfs.hash.xxh64sum</key>
            <value>26c7827d889f6da3</value>
          </xattr>
        </extendedattributes>
        <extentinfo>
          <extent>
            <fileoffset>0</fileoffset>
            <partition>b</partition>
            <startblock>5</startblock>
            <byteoffset>0</byteoffset>
            <bytecount>5</bytecount>
          </extent>
        </extentinfo>
      </file>
    </contents>
  </directory>
</ltfsindex>
`);
});

// As the reference writes an index to tape: a newline per element, no indentation, volumelockstate,
// percent-encoded names, base64 xattr values; plus a tag it does not know, which readers skip.
const REFERENCE_STYLE = `<?xml version="1.0" encoding="UTF-8"?>
<ltfsindex version="2.4.0">
<creator>IBM LTFS 2.4.8.1 (Build 10) - Linux - ltfs</creator>
<volumeuuid>3B5C8E2A-1F0D-4C6B-9A7E-5D4C3B2A1F0E</volumeuuid>
<generationnumber>2</generationnumber>
<updatetime>2023-11-20T16:02:11.5Z</updatetime>
<location>
<partition>a</partition>
<startblock>6</startblock>
</location>
<previousgenerationlocation>
<partition>b</partition>
<startblock>20</startblock>
</previousgenerationlocation>
<allowpolicyupdate>true</allowpolicyupdate>
<dataplacementpolicy>
<indexpartitioncriteria>
<size>1048576</size>
<name>*.txt</name>
</indexpartitioncriteria>
</dataplacementpolicy>
<highestfileuid>4</highestfileuid>
<volumelockstate>unlocked</volumelockstate>
<directory>
<name>MYTAPE</name>
<readonly>false</readonly>
<creationtime>2023-11-20T15:59:00.000000000Z</creationtime>
<changetime>2023-11-20T16:01:00.000000000Z</changetime>
<modifytime>2023-11-20T16:01:00.000000000Z</modifytime>
<accesstime>2023-11-20T16:01:00.000000000Z</accesstime>
<backuptime>2023-11-20T15:59:00.000000000Z</backuptime>
<fileuid>1</fileuid>
<contents>
<directory>
<name percentencoded="true">Roll%3A1%20%C3%A9</name>
<readonly>false</readonly>
<creationtime>2023-11-20T16:00:00.000000000Z</creationtime>
<changetime>2023-11-20T16:00:00.000000000Z</changetime>
<modifytime>2023-11-20T16:00:00.000000000Z</modifytime>
<accesstime>2023-11-20T16:00:00.000000000Z</accesstime>
<backuptime>2023-11-20T16:00:00.000000000Z</backuptime>
<fileuid>3</fileuid>
<contents/>
</directory>
<file>
<name>clip &amp; notes.txt</name>
<length>1200</length>
<readonly>true</readonly>
<creationtime>2023-11-20T16:00:30.250000000Z</creationtime>
<changetime>2023-11-20T16:00:31.000000000Z</changetime>
<modifytime>2023-11-20T16:00:31.000000000Z</modifytime>
<accesstime>2023-11-20T16:00:31.000000000Z</accesstime>
<backuptime>2023-11-20T16:00:30.250000000Z</backuptime>
<fileuid>4</fileuid>
<extendedattributes>
<xattr>
<key>user.md5</key>
<value type="base64">3q2+7w==</value>
</xattr>
</extendedattributes>
<extentinfo>
<extent>
<fileoffset>0</fileoffset>
<partition>a</partition>
<startblock>4</startblock>
<byteoffset>0</byteoffset>
<bytecount>1200</bytecount>
</extent>
</extentinfo>
<vendortag>kept by the reference, skipped here</vendortag>
</file>
</contents>
</directory>
</ltfsindex>
`;

test("reads an index written the way the reference writes one", () => {
  const index = readIndexXml(REFERENCE_STYLE, "ref.xml");
  expect(index).toEqual({
    version: "2.4.0",
    creator: "IBM LTFS 2.4.8.1 (Build 10) - Linux - ltfs",
    volumeUuid: "3b5c8e2a-1f0d-4c6b-9a7e-5d4c3b2a1f0e",
    generationNumber: 2,
    updateTime: "2023-11-20T16:02:11.000000005Z",
    location: { partition: "a", startBlock: 6 },
    previousGenerationLocation: { partition: "b", startBlock: 20 },
    allowPolicyUpdate: true,
    dataPlacementPolicy: { indexPartitionCriteria: { size: 1_048_576, names: ["*.txt"] } },
    highestFileUid: 4,
    volumeLockState: "unlocked",
    root: {
      kind: "directory",
      name: "MYTAPE",
      readOnly: false,
      fileUid: 1,
      xattrs: [],
      creationTime: "2023-11-20T15:59:00.000000000Z",
      changeTime: "2023-11-20T16:01:00.000000000Z",
      modifyTime: "2023-11-20T16:01:00.000000000Z",
      accessTime: "2023-11-20T16:01:00.000000000Z",
      backupTime: "2023-11-20T15:59:00.000000000Z",
      contents: [
        { ...emptyDirectory("Roll:1 é", 3, "2023-11-20T16:00:00.000000000Z") },
        {
          kind: "file",
          name: "clip & notes.txt",
          length: 1200,
          readOnly: true,
          fileUid: 4,
          creationTime: "2023-11-20T16:00:30.250000000Z",
          changeTime: "2023-11-20T16:00:31.000000000Z",
          modifyTime: "2023-11-20T16:00:31.000000000Z",
          accessTime: "2023-11-20T16:00:31.000000000Z",
          backupTime: "2023-11-20T16:00:30.250000000Z",
          xattrs: [{ key: "user.md5", value: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) }],
          extents: [{ fileOffset: 0, partition: "a", startBlock: 4, byteOffset: 0, byteCount: 1200 }],
        },
      ],
    },
  });
  expect(checkIndex(index)).toEqual([]);
});

test("times: nine digits and Z written; the reference's shorter fractions read as nanoseconds", () => {
  expect(formatLtfsTime(1_709_284_500_123_456_789n)).toBe("2024-03-01T09:15:00.123456789Z");
  expect(formatLtfsTime(-1n)).toBe("1969-12-31T23:59:59.999999999Z");
  expect(parseLtfsTime("2024-3-1T9:15:00.5Z")).toBe("2024-03-01T09:15:00.000000005Z");
  expect(parseLtfsTime("2024-02-30T00:00:00.000000000Z")).toBeUndefined();
  expect(parseLtfsTime("2024-03-01T09:15:00Z")).toBeUndefined();
  expect(parseLtfsTime("2024-03-01T09:15:00.0000000000Z")).toBeUndefined();
  expect(parseLtfsTime("2024-03-01 09:15:00.000000000Z")).toBeUndefined();
});

test("percent-encoding matches the reference: plain printable ASCII kept, all else %XX per byte", () => {
  expect(percentEncodeName("a:b c%é\u0001~")).toBe("a%3Ab%20c%25%C3%A9%01~");
  expect(percentDecodeName("a%3Ab%20c%25%C3%A9%01~")).toBe("a:b c%é\u0001~");
  expect(percentDecodeName("bad%2")).toBeUndefined();
  expect(percentDecodeName("bad%C3")).toBeUndefined();
  const index = realisticIndex();
  index.root.contents.push(file("line\r\nbreak\u0007", 15, 0));
  index.highestFileUid = 15;
  const text = writeIndexXml(index);
  expect(text).toContain('<name percentencoded="true">line%0D%0Abreak%07</name>');
  expect(readIndexXml(text, "index.xml")).toEqual(index);
});

function readError(text: string): string {
  try {
    readIndexXml(text, "bad.xml");
  } catch (error) {
    const e = error as { path?: string; message?: string; exitCode?: number };
    return `${e.path}: ${e.message} (exit ${e.exitCode})`;
  }
  return "no error";
}

test("the reader refuses DTDs, entities and malformed values, naming file and line", () => {
  const ok = writeIndexXml(realisticIndex());
  const lineOf = (needle: string) => ok.slice(0, ok.indexOf(needle)).split("\n").length;
  const cases: Array<[string, string]> = [
    [ok.replace("<ltfsindex", '<!DOCTYPE ltfsindex [<!ENTITY x "y">]>\n<ltfsindex'), "bad.xml: line 2: DOCTYPE declarations (DTDs) are not allowed (exit 2)"],
    [ok.replace("<creator>cartkit", "<creator>&xxe;cartkit"), "bad.xml: line 3: entity '&xxe;' is not allowed (only &amp; &lt; &gt; &quot; &apos; and numeric references) (exit 2)"],
    [ok.replace('version="2.4.0"', 'version="3.0.0"'), "bad.xml: line 2: index version '3.0.0' is not supported (2.x.y) (exit 2)"],
    [ok.replace("<length>10</length>", "<length>-10</length>"), `bad.xml: line ${lineOf("<length>10</length>")}: <length> is not a non-negative integer: '-10' (exit 2)`],
    [ok.replace("<startblock>23</startblock>", "<startblock>2x3</startblock>"), `bad.xml: line ${lineOf("<startblock>23</startblock>")}: <startblock> is not a non-negative integer: '2x3' (exit 2)`],
    [ok.replace("<partition>b</partition>\n    <startblock>40", "<partition>B</partition>\n        <startblock>40"), `bad.xml: line ${lineOf("<partition>b</partition>\n    <startblock>40")}: <partition> is not a partition letter a-z: 'B' (exit 2)`],
    [ok.replace("<updatetime>2024-03-01T10:00:00.000000001Z", "<updatetime>2024-03-01T10:00:00+01:00"), "bad.xml: line 7: <updatetime> is not a time (YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ): '2024-03-01T10:00:00+01:00' (exit 2)"],
    [ok.replace("<allowpolicyupdate>true", "<allowpolicyupdate>yes"), `bad.xml: line ${lineOf("<allowpolicyupdate>")}: <allowpolicyupdate> is not a boolean: 'yes' (exit 2)`],
    [ok.replace("<volumeuuid>0b2a6c2e", "<volumeuuid>zz2a6c2e"), "bad.xml: line 5: <volumeuuid> is not a UUID: 'zz2a6c2e-9f4d-4e0a-8d3c-2f6a1b7c9e01' (exit 2)"],
    [ok.replace("<fileuid>7</fileuid>", ""), `bad.xml: line ${lineOf("<name>Café") - 1}: <file> has no <fileuid> (exit 2)`],
    [ok.replace("<fileuid>7</fileuid>", "<fileuid>7</fileuid><fileuid>7</fileuid>"), `bad.xml: line ${lineOf("<fileuid>7</fileuid>")}: <fileuid> appears more than once in <file> (exit 2)`],
    [ok.replace('<value type="base64">AAEC/w==', '<value type="base64">AAEC/w='), `bad.xml: line ${lineOf("AAEC/w==")}: <value type="base64"> is not base64: 'AAEC/w=' (exit 2)`],
    [ok.replace("time%3Acode", "time%3Gcode"), `bad.xml: line ${lineOf("time%3Acode")}: <name> is not valid percent-encoded UTF-8: 'time%3Gcode%2001.edl' (exit 2)`],
    [ok.replace("<ltfsindex", "<ltfslabel").replace("</ltfsindex>", "</ltfslabel>"), "bad.xml: line 2: the root element is <ltfslabel>, not <ltfsindex> (exit 2)"],
  ];
  for (const [text, message] of cases) expect(readError(text)).toBe(message);
});

test("checkIndex reports each problem of a crafted bad index", () => {
  const index = realisticIndex();
  index.version = "2.2.0";
  index.volumeUuid = "0B2A6C2E-9F4D-4E0A-8D3C-2F6A1B7C9E01";
  index.generationNumber = 0;
  index.updateTime = "2024-03-01T10:00:00.5Z";
  index.highestFileUid = 13;
  const a001 = index.root.contents[0] as LtfsDirectory;
  const clips = a001.contents[0] as LtfsDirectory;
  const clip = clips.contents[0] as LtfsFile;
  clip.extents[1]!.fileOffset = 2 * BLOCK - 10; // overlaps the first extent, still inside the length
  clip.extents.push({ fileOffset: 3 * BLOCK + 1000, partition: "b", startBlock: 25, byteOffset: BLOCK, byteCount: 1 });
  a001.contents.push(file("Cafe\u0301 – résumé ✓.txt", 20, 0), file("a/b", 21, 0), file("nul\0", 22, 0), file("x".repeat(200) + "é".repeat(28), 23, 0), file("empty.txt", 7, 0));
  clips.contents.push(
    file(
      "empty.txt",
      2,
      0,
      [],
      [
        { key: "user.a", value: "1" },
        { key: "user.a", value: "2" },
      ],
    ),
  );
  clips.contents[1]!.changeTime = "2024-13-01T00:00:00.000000000Z";
  index.root.contents.push(file("", 16, 0));
  expect(checkIndex(index, { blockSize: BLOCK, writtenBlocks: { b: 26 } })).toEqual([
    { path: "ltfsindex", message: "version is '2.2.0', not '2.4.0'" },
    { path: "ltfsindex", message: "volumeuuid '0B2A6C2E-9F4D-4E0A-8D3C-2F6A1B7C9E01' is not a lowercase UUID (8-4-4-4-12 hex digits)" },
    { path: "ltfsindex", message: "generationnumber is 0, must be an integer of at least 1" },
    { path: "ltfsindex", message: "updatetime '2024-03-01T10:00:00.5Z' is not a time of the form YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ" },
    { path: "/A001/CLIPS/A001C003_240301_R1AB.mov", message: "extent 3: ends at file offset 1573865, past the file length 1573864" },
    { path: "/A001/CLIPS/A001C003_240301_R1AB.mov", message: "extent 3: byteoffset 524288 is not inside a 524288-byte block" },
    { path: "/A001/CLIPS/A001C003_240301_R1AB.mov", message: "extent 3: blocks 25-26 on partition b reach past the 26 blocks written" },
    { path: "/A001/CLIPS/A001C003_240301_R1AB.mov", message: "extents 1 and 2 overlap at file offset 1048566" },
    { path: "/A001/CLIPS/empty.txt", message: "changetime '2024-13-01T00:00:00.000000000Z' is not a time of the form YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ" },
    { path: "/A001/CLIPS/empty.txt", message: "name appears more than once in its directory" },
    { path: "/A001/CLIPS/empty.txt", message: "fileuid 2 is also used by /A001" },
    { path: "/A001/CLIPS/empty.txt", message: "xattr 'user.a' appears more than once" },
    { path: "/A001/Cafe\u0301 – résumé ✓.txt", message: "name is the same as 'Café – résumé ✓.txt' after NFC normalisation (the reference reads names as NFC)" },
    { path: "/A001/Cafe\u0301 – résumé ✓.txt", message: "fileuid 20 is above highestfileuid 13" },
    { path: "/A001/a/b", message: "name contains '/'" },
    { path: "/A001/a/b", message: "fileuid 21 is above highestfileuid 13" },
    { path: "/A001/nul\0", message: "name contains NUL" },
    { path: "/A001/nul\0", message: "fileuid 22 is above highestfileuid 13" },
    { path: `/A001/${"x".repeat(200)}${"é".repeat(28)}`, message: "name is 256 bytes of UTF-8, more than 255" },
    { path: `/A001/${"x".repeat(200)}${"é".repeat(28)}`, message: "fileuid 23 is above highestfileuid 13" },
    { path: "/A001/empty.txt", message: "fileuid 7 is also used by /A001/Café – résumé ✓.txt" },
    { path: "/Sound/Day 3/Roll 1/深い/latest.wav", message: "fileuid 14 is above highestfileuid 13" },
    { path: "/", message: "name is empty" },
    { path: "/", message: "fileuid 16 is above highestfileuid 13" },
  ]);
});

test("checkIndex: root uid, symlink with extents, partition letters", () => {
  const index = realisticIndex();
  index.root.fileUid = 2;
  index.location.partition = "A";
  const link = ((((index.root.contents[1] as LtfsDirectory).contents[0] as LtfsDirectory).contents[0] as LtfsDirectory).contents[0] as LtfsDirectory).contents[1] as LtfsFile;
  link.extents.push({ fileOffset: 0, partition: "1", startBlock: 3, byteOffset: 0, byteCount: 0 });
  expect(checkIndex(index)).toEqual([
    { path: "ltfsindex", message: "location partition 'A' is not a letter a-z" },
    { path: "/", message: "the root directory's fileuid is 2, must be 1" },
    { path: "/A001", message: "fileuid 2 is also used by /" },
    { path: "/Sound/Day 3/Roll 1/深い/latest.wav", message: "a symbolic link must not have extents" },
    { path: "/Sound/Day 3/Roll 1/深い/latest.wav", message: "extent 1: partition '1' is not a letter a-z" },
    { path: "/Sound/Day 3/Roll 1/深い/latest.wav", message: "extent 1: bytecount is 0, must be at least 1" },
  ]);
});

/** An index XML text whose root holds `depth` nested directories named `d`, with one file at the bottom named `name`. */
function nestedIndexXml(depth: number, name = "f"): string {
  const t = "2026-01-01T00:00:00.000000000Z";
  const stamp = `<creationtime>${t}</creationtime><changetime>${t}</changetime><modifytime>${t}</modifytime><accesstime>${t}</accesstime><backuptime>${t}</backuptime>`;
  const parts: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>\n<ltfsindex version="2.4.0"><creator>t</creator><volumeuuid>0b2a6c2e-9f4d-4e0a-8d3c-2f6a1b7c9e01</volumeuuid>',
    `<generationnumber>1</generationnumber><updatetime>${t}</updatetime><location><partition>a</partition><startblock>5</startblock></location>`,
    `<allowpolicyupdate>true</allowpolicyupdate><highestfileuid>${depth + 2}</highestfileuid>\n`,
    `<directory><name>V</name><readonly>false</readonly>${stamp}<fileuid>1</fileuid><contents>\n`,
  ];
  for (let i = 0; i < depth; i++) parts.push(`<directory><name>d</name><readonly>false</readonly>${stamp}<fileuid>${i + 2}</fileuid><contents>\n`);
  parts.push(`<file>${name}<length>1</length><readonly>false</readonly>${stamp}<fileuid>${depth + 2}</fileuid>`, "<extentinfo><extent><fileoffset>0</fileoffset><partition>b</partition><startblock>7</startblock><byteoffset>0</byteoffset><bytecount>1</bytecount></extent></extentinfo></file>\n");
  for (let i = 0; i <= depth; i++) parts.push("</contents></directory>\n");
  parts.push("</ltfsindex>\n");
  return parts.join("").replace(`<file>${name}`, `<file>${name.startsWith("<name") ? name : `<name>${name}</name>`}`);
}

test("an index nested 20,000 deep is read, checked and walked without running out of stack", () => {
  const index = readIndexXml(nestedIndexXml(20_000), "deep.xml");
  expect(checkIndex(index, { blockSize: BLOCK, writtenBlocks: { b: 8 } })).toEqual([]);
  const files = indexFiles(index.root);
  expect(files.map((f) => [f.path.length, f.path.endsWith("/d/f"), f.file.length])).toEqual([[40_001, true, 1]]);
  expect(indexFolders(index.root)).toHaveLength(20_000);
}, 30_000);

test("the writer walks with a stack too: a 1,000-deep index round-trips (indentation grows with depth, so deeper ones are not written)", () => {
  const index = readIndexXml(nestedIndexXml(1_000), "deep.xml");
  const again = readIndexXml(writeIndexXml(index), "again.xml");
  expect(indexFiles(again.root).map((f) => f.path)).toEqual(indexFiles(index.root).map((f) => f.path));
  expect(writeIndexXml(again)).toBe(writeIndexXml(index));
});

describe.each(runners())("ltfs-pack index and catalog on hostile indexes ($label)", (runner) => {
  test("20,000 folders deep: index --check and catalog finish (no 'Maximum call stack size exceeded')", () => {
    const dir = tempDir("cartkit-ltfsi-");
    writeFileSync(join(dir, "deep.xml"), nestedIndexXml(20_000));
    const check = tool(runner, "ltfs-pack", ["index", "deep.xml", "--check"], { cwd: dir });
    expect([check.code, check.stdout, check.stderr]).toEqual([0, "", "ltfs-pack index: deep.xml: index generation 1 is sound (1 files)\n"]);
    const catalog = tool(runner, "ltfs-pack", ["catalog", "deep.xml", "-o", "cat"], { cwd: dir });
    expect([catalog.code, catalog.stdout]).toEqual([0, "V\tindex\t1 files\t1 bytes\tdeep.xml\n"]);
    expect(JSON.parse(readFileSync(join(dir, "cat/catalog.json"), "utf8")).files[0].path).toHaveLength(40_001);
  }, 60_000);

  test("index --check shows names escaped: NUL, ESC and a newline cannot reach the terminal raw", () => {
    const dir = tempDir("cartkit-ltfsi-");
    writeFileSync(join(dir, "i.xml"), nestedIndexXml(1, '<name percentencoded="true">a%00b%1B%5B31m%0AINFO: fake</name>'));
    const check = tool(runner, "ltfs-pack", ["index", "i.xml", "--check"], { cwd: dir });
    expect([check.code, check.stdout]).toEqual([1, "/d/a\\x00b\\e[31m\\nINFO: fake: name contains NUL\n"]);
    expect(check.stdout + check.stderr).not.toMatch(/[\u0000\u001b]/);
  });
});
