/** lib/io: the pipelined reader, the fan-out writer, the tree walker and the libc calls, on real files. */
import { expect, test } from "bun:test";
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describeSystemError, errnoError, errnoOf } from "../lib/core/errors.ts";
import { Fanout, type FanoutFailure, type FanoutOptions } from "../lib/io/fanout.ts";
import { IgnoreList, DEFAULT_IGNORES } from "../lib/io/ignore.ts";
import { dateOfNs, getXattr, renameNoReplace, setFileTimes, setXattr } from "../lib/io/libc.ts";
import { readChunks } from "../lib/io/reader.ts";
import { compareUtf8, nameBytes } from "../lib/core/names.ts";
import { eachFile, walkFiles } from "../lib/io/walk.ts";
import { asNobody, BUN, randomBytes, ROOT, run, tempDir } from "./helpers.ts";

function readAll(path: string, chunkSize: number, overlap: boolean): { bytes: Buffer; chunks: number } {
  const fd = openSync(path, "r");
  const parts: Buffer[] = [];
  try {
    for (const chunk of readChunks(fd, { chunkSize, overlap })) parts.push(Buffer.from(chunk)); // copy: buffers are reused
  } finally {
    closeSync(fd);
  }
  return { bytes: Buffer.concat(parts), chunks: parts.length };
}

test("the reader returns every byte in order for sizes around the chunk size, on this thread or overlapped", () => {
  const dir = tempDir();
  const chunk = 4096;
  for (const size of [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 10 * chunk + 17]) {
    const data = randomBytes(size, size + 3);
    const path = join(dir, `f${size}`);
    writeFileSync(path, data);
    for (const overlap of [false, true]) {
      const { bytes, chunks } = readAll(path, chunk, overlap);
      expect({ size, overlap, equal: bytes.equals(Buffer.from(data)) }).toEqual({ size, overlap, equal: true });
      expect(chunks).toBe(Math.ceil(size / chunk));
    }
  }
});

test("the reader reads a pipe sequentially to the end", async () => {
  const data = randomBytes(300_000, 11);
  const dir = tempDir();
  const fifo = join(dir, "fifo");
  Bun.spawnSync({ cmd: ["mkfifo", fifo] });
  const writer = Bun.spawn({ cmd: ["sh", "-c", `cat > '${fifo}'`], stdin: data });
  const { bytes } = readAll(fifo, 8192, true);
  await writer.exited;
  expect(bytes.equals(Buffer.from(data))).toBe(true);
  const again = Bun.spawn({ cmd: ["sh", "-c", `cat > '${fifo}'`], stdin: data });
  expect(readAll(fifo, 8192, false).bytes.equals(Buffer.from(data))).toBe(true);
  await again.exited;
});

test("the walker lists regular files in byte order of their relative paths, leaving out ignored ones", () => {
  const root = tempDir();
  for (const dir of ["A001/CLIPS", "A001/.Spotlight-V100", "b", "a-b", "empty"]) mkdirSync(join(root, dir), { recursive: true });
  const files = ["A001/CLIPS/C002.mov", "A001/CLIPS/C001.mov", "A001/._C001.mov", "A001/.DS_Store", "A001/.Spotlight-V100/store.db", "b/Z", "a-b/x", "a", "é.txt", "Zed"];
  for (const f of files) writeFileSync(join(root, f), f);
  symlinkSync(join(root, "b"), join(root, "link-to-dir"));
  symlinkSync(join(root, "a"), join(root, "link-to-file"));
  symlinkSync("a-b/x", join(root, "relative-link"));
  symlinkSync(join(root, "nowhere"), join(root, "dangling"));
  symlinkSync("/etc/hostname", join(root, "leaves"));
  symlinkSync("../../etc/hostname", join(root, "climbs"));
  Bun.spawnSync({ cmd: ["mkfifo", join(root, "fifo")] });
  const problems: string[] = [];
  const skipped: string[] = [];
  const entries = walkFiles(root, {
    ignore: new IgnoreList(DEFAULT_IGNORES),
    onProblem: (p) => problems.push(`${p.path.slice(root.length + 1)}: ${p.message}`),
    onSkipped: (p) => skipped.push(`${p.path.slice(root.length + 1)}: ${p.message}`),
  });
  expect(entries.map((e) => e.relativePath)).toEqual(["A001/CLIPS/C001.mov", "A001/CLIPS/C002.mov", "Zed", "a", "a-b/x", "b/Z", "link-to-file", "relative-link", "é.txt"]);
  expect(entries[0]!.size).toBe("A001/CLIPS/C001.mov".length);
  expect(entries.find((e) => e.relativePath === "relative-link")).toMatchObject({ size: 5, throughLink: true });
  expect(problems.sort()).toEqual(["climbs: symbolic link that leaves the tree, not followed", "dangling: dangling symbolic link", "fifo: a FIFO (named pipe), not a regular file: it cannot be copied or hashed", "leaves: symbolic link that leaves the tree, not followed"]);
  expect(skipped).toEqual(["link-to-dir: symbolic link to a folder inside the tree, not entered (its files are walked where they are)"]);

  // The other policies: links listed as links, or left out; special files left out.
  const copied = walkFiles(root, { ignore: new IgnoreList(DEFAULT_IGNORES), links: "copy", special: "skip" });
  expect(copied.filter((e) => e.kind === "link").map((e) => [e.relativePath, e.linkTarget])).toEqual([
    ["climbs", "../../etc/hostname"],
    ["dangling", join(root, "nowhere")],
    ["leaves", "/etc/hostname"],
    ["link-to-dir", join(root, "b")],
    ["link-to-file", join(root, "a")],
    ["relative-link", "a-b/x"],
  ]);
  const noLinks: string[] = [];
  expect(walkFiles(root, { ignore: new IgnoreList(DEFAULT_IGNORES), links: "skip", special: "skip", onProblem: (p) => noLinks.push(p.message) }).map((e) => e.relativePath)).toEqual(["A001/CLIPS/C001.mov", "A001/CLIPS/C002.mov", "Zed", "a", "a-b/x", "b/Z", "é.txt"]);
  expect(noLinks).toEqual([]);
});

test("the walker reads names as bytes, reports folders it cannot read, and goes deep without recursion", () => {
  const root = tempDir();
  const raw = Buffer.concat([Buffer.from(`${root}/caf`), Buffer.from([0xe9]), Buffer.from(".mov")]);
  writeFileSync(raw, "bytes");
  mkdirSync(join(root, "locked"));
  writeFileSync(join(root, "locked", "inside.mov"), "x");
  const deep = join(root, ...Array(1500).fill("d"));
  expect(run(["mkdir", "-p", deep]).code).toBe(0);
  writeFileSync(join(deep, "bottom.mov"), "deep");
  chmodSync(root, 0o755);
  chmodSync(join(root, "locked"), 0o000);
  try {
    const entries = walkFiles(root, {});
    const names = entries.map((e) => e.relativePath);
    expect(names).toContain("caf\udce9.mov");
    expect(names).toContain(`${"d/".repeat(1500)}bottom.mov`);
    expect(entries.find((e) => e.relativePath === "caf\udce9.mov")!.size).toBe(5);
    // Permissions mean nothing to root: the unreadable folder is walked as nobody.
    const script = join(root, "walk.ts");
    writeFileSync(
      script,
      `import { walkFiles } from ${JSON.stringify(join(ROOT, "lib/io/walk.ts"))};
const problems = [];
const files = walkFiles(process.argv[2], { onProblem: (p) => problems.push(p.path.slice(process.argv[2].length + 1) + ": " + p.message) });
console.log(JSON.stringify({ files: files.length, problems }));`,
    );
    const result = run(asNobody([BUN, script, root]));
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(result.stdout)).toEqual({ files: 3, problems: ["locked: folder cannot be read: Permission denied"] });
  } finally {
    chmodSync(join(root, "locked"), 0o755);
  }
});

test("the walker gives paths in byte order one folder at a time, a folder sorting as its name and a slash", () => {
  const root = tempDir();
  // Each pair differs where a folder's name ends: '.', '-' and '!' sort before '/', '0' and 'é' after.
  const files = ["a/x", "a.txt", "a-b/x", "a!", "a0", "a/b/c", "a/b.d", "ab/z", "é/1", "é.mov", "\u{1f3ac}/clip", "\u{1f3ac}.txt", "Z/a/b/c/d"];
  for (const f of files) {
    mkdirSync(join(root, f, ".."), { recursive: true });
    writeFileSync(join(root, f), f);
  }
  const raw = Buffer.concat([Buffer.from(`${root}/caf`), Buffer.from([0xe9])]);
  mkdirSync(raw);
  writeFileSync(Buffer.concat([raw, Buffer.from("/in")]), "x");
  writeFileSync(Buffer.concat([raw, Buffer.from(".mov")]), "x");
  const expected = [...files, "caf\udce9/in", "caf\udce9.mov"].sort((x, y) => Buffer.compare(nameBytes(x), nameBytes(y)));
  const folders: Array<{ relativePath: string; path: string; mtimeMs: number }> = [];
  const walked = [...eachFile(root, { folders })].map((e) => e.relativePath);
  expect(walked).toEqual(expected);
  expect(walkFiles(root, {}).map((e) => e.relativePath)).toEqual(expected);
  expect(walkFiles(root, {}).find((e) => e.relativePath === "a/b/c")!.path).toBe(join(root, "a/b/c"));
  expect(folders.map((f) => f.relativePath).sort()).toEqual(["Z", "Z/a", "Z/a/b", "Z/a/b/c", "a", "a-b", "a/b", "ab", "caf\udce9", "é", "\u{1f3ac}"].sort());
});

test("ignore patterns match names at any depth, or paths when they hold a slash", () => {
  const list = new IgnoreList(["*.tmp", "CACHE/", "proxies/**/*.mp4", "?.log"]);
  expect(list.matches("a/b/c.tmp")).toBe(true);
  expect(list.matches("CACHE")).toBe(true);
  expect(list.matches("x/CACHE")).toBe(true);
  expect(list.matches("proxies/day1/a.mp4")).toBe(true);
  expect(list.matches("other/day1/a.mp4")).toBe(false);
  expect(list.matches("a.log")).toBe(true);
  expect(list.matches("ab.log")).toBe(false);
  expect(list.matches("c.tmpx")).toBe(false);
});

test("byte-order comparison puts '-' before '/' and upper case before lower case", () => {
  expect(["a/b", "a-b", "B", "a"].sort(compareUtf8)).toEqual(["B", "a", "a-b", "a/b"]);
});

test("the comparison is exactly the order of the UTF-8 bytes, astral characters included", () => {
  // U+FF5E sorts before U+1F600 both ways, though its UTF-16 unit 0xFF5E is above 0xD83D.
  const pieces = ["a", "é", "日", "～", "😀", "/", "-", "Z", "\u{10FFFF}"];
  const words = [""];
  for (const x of pieces) for (const y of pieces) words.push(x, x + y);
  for (const a of words) {
    for (const b of words) {
      expect({ a, b, sign: Math.sign(compareUtf8(a, b)) }).toEqual({ a, b, sign: Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))) });
    }
  }
});

test("a reader stopped early lets go of the file, and the next file reads whole", () => {
  const dir = tempDir();
  const first = randomBytes(64 * 4096 + 5, 21);
  const second = randomBytes(50 * 4096 + 3, 22);
  writeFileSync(join(dir, "first"), first);
  writeFileSync(join(dir, "second"), second);
  const fd = openSync(join(dir, "first"), "r");
  let seen = 0;
  for (const chunk of readChunks(fd, { chunkSize: 4096, overlap: true })) {
    expect(Buffer.from(chunk).equals(Buffer.from(first.subarray(seen, seen + chunk.length)))).toBe(true);
    seen += chunk.length;
    if (seen >= 3 * 4096) break;
  }
  closeSync(fd);
  expect(readAll(join(dir, "second"), 4096, true).bytes.equals(Buffer.from(second))).toBe(true);
  expect(readAll(join(dir, "first"), 4096, true).bytes.equals(Buffer.from(first))).toBe(true);
});

test("a read error on the reader thread reaches the caller with its code", () => {
  const dir = tempDir();
  const fd = openSync(dir, "r");
  try {
    expect(() => [...readChunks(fd, { overlap: true })]).toThrow(expect.objectContaining({ code: "EISDIR" }));
    expect(() => [...readChunks(fd, { overlap: false })]).toThrow(expect.objectContaining({ code: "EISDIR" }));
  } finally {
    closeSync(fd);
  }
});

test("readers open at the same time never share a buffer", () => {
  const dir = tempDir();
  const a = randomBytes(40 * 4096, 31);
  const b = randomBytes(40 * 4096, 32);
  writeFileSync(join(dir, "a"), a);
  writeFileSync(join(dir, "b"), b);
  for (const overlap of [true, false]) {
    const fa = openSync(join(dir, "a"), "r");
    const fb = openSync(join(dir, "b"), "r");
    const ra = readChunks(fa, { chunkSize: 4096, overlap });
    const rb = readChunks(fb, { chunkSize: 4096, overlap });
    let offset = 0;
    for (;;) {
      const x = ra.next();
      const y = rb.next();
      if (x.done || y.done) {
        expect(Boolean(x.done && y.done)).toBe(true);
        break;
      }
      // Both views are alive together: each must still hold its own file's bytes.
      expect(Buffer.from(x.value).equals(Buffer.from(a.subarray(offset, offset + 4096)))).toBe(true);
      expect(Buffer.from(y.value).equals(Buffer.from(b.subarray(offset, offset + 4096)))).toBe(true);
      offset += 4096;
    }
    expect(offset).toBe(40 * 4096);
    closeSync(fa);
    closeSync(fb);
  }
});

test("hundreds of files in a row read whole through the reused ring", () => {
  const dir = tempDir();
  const files = Array.from({ length: 300 }, (_, i) => {
    const data = randomBytes(3 * 4096 + (i % 7), 1000 + i);
    const path = join(dir, `f${i}`);
    writeFileSync(path, data);
    return { path, data };
  });
  for (const { path, data } of files) {
    expect(readAll(path, 4096, true).bytes.equals(Buffer.from(data))).toBe(true);
  }
});

test("file system flushes on the flusher thread all answer, and the idle thread lets the process end", () => {
  const dir = tempDir();
  const script = join(dir, "flush.ts");
  // A separate process: once the flushes are answered, the idle flusher thread must not hold it
  // open (the test would time out).
  writeFileSync(
    script,
    [
      `import { flushFileSystemOffThread } from ${JSON.stringify(join(ROOT, "lib/io/flusher.ts"))};`,
      `import { writeFileSync } from "node:fs";`,
      `for (let i = 0; i < 5; i++) writeFileSync(${JSON.stringify(dir)} + "/f" + i, "x".repeat(100000));`,
      `const results = await Promise.all([1, 2, 3].map(() => flushFileSystemOffThread(${JSON.stringify(dir)})));`,
      `console.log(JSON.stringify(results));`,
      `console.log(JSON.stringify(await flushFileSystemOffThread(${JSON.stringify(dir)})));`,
    ].join("\n"),
  );
  const result = run([BUN, script], { cwd: dir });
  expect([result.code, result.stdout, result.stderr]).toEqual([0, "[true,true,true]\ntrue\n", ""]);
});

/** Writes `data` through a fan-out to `fds`, `chunkSize` bytes a chunk; returns the failures reported. */
async function fanOut(data: Uint8Array, fds: number[], chunkSize: number, options: FanoutOptions = {}): Promise<FanoutFailure[]> {
  const fanout = Fanout.open(
    fds.map((fd) => ({ fd, writeback: true })),
    chunkSize,
    { size: data.length, ...options },
  );
  if (!fanout) throw new Error("the fan-out threads are busy");
  const failures: FanoutFailure[] = [];
  try {
    for (let at = 0; at < data.length; at += chunkSize) {
      const next = fanout.buffer();
      const buffer = next instanceof Promise ? await next : next;
      const part = data.subarray(at, at + chunkSize);
      buffer.set(part);
      fanout.commit(part.length);
      failures.push(...fanout.failures());
    }
    failures.push(...(await fanout.finish()));
  } finally {
    fanout.close();
  }
  return failures;
}

function failedCodes(failures: FanoutFailure[]): { index: number; code?: string; errno: number }[] {
  return failures.map((f) => ({ index: f.index, code: f.error.code, errno: f.error.errno }));
}

function openFiles(dir: string, names: string[]): { paths: string[]; fds: number[] } {
  const paths = names.map((n) => join(dir, n));
  return { paths, fds: paths.map((p) => openSync(p, "w")) };
}

test("a fan-out writes every chunk to every file, the last one short, around its ring many times", async () => {
  const dir = tempDir();
  const chunk = 4096;
  const data = randomBytes(100 * chunk + 17, 41);
  const { paths, fds } = openFiles(dir, ["a", "b", "c"]);
  try {
    expect(await fanOut(data, fds, chunk)).toEqual([]);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  for (const p of paths) expect(readFileSync(p).equals(Buffer.from(data))).toBe(true);
  // Once it is closed the threads serve the next fan-out, of another shape.
  const again = openFiles(dir, ["d"]);
  try {
    expect(await fanOut(data.subarray(0, 5 * chunk), again.fds, chunk)).toEqual([]);
  } finally {
    closeSync(again.fds[0]!);
  }
  expect(readFileSync(again.paths[0]!).equals(Buffer.from(data.subarray(0, 5 * chunk)))).toBe(true);
});

test("3 MiB chunks through the fan-out (a ring of two buffers): every byte arrives", async () => {
  const dir = tempDir();
  const chunk = 3 << 20;
  const data = randomBytes(5 * chunk + 17, 44);
  const { paths, fds } = openFiles(dir, ["a", "b"]);
  try {
    expect(await fanOut(data, fds, chunk)).toEqual([]);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  for (const p of paths) expect(readFileSync(p).equals(Buffer.from(data))).toBe(true);
});

test("one fan-out at a time holds the threads", () => {
  const dir = tempDir();
  const { fds } = openFiles(dir, ["a", "b"]);
  const first = Fanout.open([{ fd: fds[0]! }], 4096);
  try {
    expect(first).toBeDefined();
    expect(Fanout.open([{ fd: fds[1]! }], 4096)).toBeUndefined();
  } finally {
    first?.close();
    for (const fd of fds) closeSync(fd);
  }
  const { fds: more } = openFiles(dir, ["c"]);
  const second = Fanout.open([{ fd: more[0]! }], 4096);
  expect(second).toBeDefined();
  second?.close();
  closeSync(more[0]!);
});

test("a file whose writes fail is reported once, with its index and code; the others are written whole", async () => {
  const dir = tempDir();
  const chunk = 4096;
  const data = randomBytes(50 * chunk, 42);
  writeFileSync(join(dir, "readonly"), "");
  const { paths, fds } = openFiles(dir, ["a", "c"]);
  const readOnly = openSync(join(dir, "readonly"), "r");
  try {
    expect(failedCodes(await fanOut(data, [fds[0]!, readOnly, fds[1]!], chunk))).toEqual([{ index: 1, code: "EBADF", errno: 9 }]);
  } finally {
    for (const fd of [...fds, readOnly]) closeSync(fd);
  }
  for (const p of paths) expect(readFileSync(p).equals(Buffer.from(data))).toBe(true);
  expect(readFileSync(join(dir, "readonly")).length).toBe(0);
});

test("writer threads that never start: the calling thread writes their files", async () => {
  const dir = tempDir();
  const chunk = 4096;
  const data = randomBytes(40 * chunk + 5, 43);
  const { paths, fds } = openFiles(dir, ["a", "b"]);
  try {
    expect(await fanOut(data, fds, chunk, { workerScript: join(dir, "no-such-worker.ts") })).toEqual([]);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  for (const p of paths) expect(readFileSync(p).equals(Buffer.from(data))).toBe(true);
}, 20_000);

test("each file is reserved before it is written: one that cannot fit fails before a byte of it is written", async () => {
  const dir = tempDir();
  const small = join(dir, "small");
  mkdirSync(small);
  if (run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", small]).code !== 0) {
    if (process.env.CI === "true") throw new Error("CI must be able to mount a tmpfs (root)");
    return;
  }
  try {
    const chunk = 256 << 10;
    const data = randomBytes(32 * chunk, 45);
    const fds = [openSync(join(dir, "a"), "w"), openSync(join(small, "b"), "w")];
    try {
      expect(failedCodes(await fanOut(data, fds, chunk))).toEqual([{ index: 1, code: "ENOSPC", errno: 28 }]);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    expect(readFileSync(join(dir, "a")).equals(Buffer.from(data))).toBe(true);
    // Without the reservation the first 4 MiB would have been written before the drive was full.
    expect(statSync(join(small, "b")).size).toBe(0);
  } finally {
    run(["umount", small]);
  }
});

test("renaming without replacing: renames, refuses an existing name, and names what else went wrong", () => {
  const dir = tempDir();
  for (let i = 0; i < 200; i++) {
    writeFileSync(join(dir, `.c${i}.partial`), `clip ${i}`);
    expect(renameNoReplace(join(dir, `.c${i}.partial`), join(dir, `c${i}.mov`))).toBe(true);
    expect(readFileSync(join(dir, `c${i}.mov`), "utf8")).toBe(`clip ${i}`);
  }
  writeFileSync(join(dir, "new"), "new");
  expect(() => renameNoReplace(join(dir, "new"), join(dir, "c0.mov"))).toThrow(expect.objectContaining({ code: "EEXIST" }));
  expect(readFileSync(join(dir, "c0.mov"), "utf8")).toBe("clip 0");
  expect(readFileSync(join(dir, "new"), "utf8")).toBe("new");
  expect(() => renameNoReplace(join(dir, "missing"), join(dir, "x"))).toThrow(expect.objectContaining({ code: "ENOENT", errno: 2 }));
  // Across file systems (tmpfs to this disk): a code of its own, not an I/O error.
  const shm = join("/dev/shm", `cartkit-rename-${process.pid}`);
  writeFileSync(shm, "x");
  try {
    expect(() => renameNoReplace(shm, join(dir, "from-shm"))).toThrow(expect.objectContaining({ code: "EXDEV", errno: 18 }));
  } finally {
    rmSync(shm, { force: true });
  }
});

test("extended attributes round-trip, an empty value included", () => {
  const dir = tempDir();
  const file = join(dir, "f");
  writeFileSync(file, "");
  setXattr(file, "user.cartkit.test", "ünï value");
  setXattr(file, "user.cartkit.empty", "");
  expect(getXattr(file, "user.cartkit.test")).toBe("ünï value");
  expect(getXattr(file, "user.cartkit.empty")).toBe("");
  expect(getXattr(file, "user.cartkit.none")).toBeUndefined();
});

test("errors cross threads as errno numbers and come back with their names, or their numbers, never a guess", () => {
  expect(errnoOf({ code: "EDQUOT" })).toBe(122);
  // Node's errors carry negative numbers; a code this table lacks keeps its number.
  expect(errnoOf({ code: "EOWNERDEAD", errno: -130 })).toBe(130);
  expect(errnoOf({ code: "ENEWER", errno: -150 })).toBe(150);
  expect(errnoOf(new Error("no code"))).toBe(5);
  expect(describeSystemError(errnoError(errnoOf({ code: "EXDEV" }), "write failed"))).toBe("Invalid cross-device link");
  // Every Linux errno has its name (EOWNERDEAD is 130); a number past them keeps its number.
  const named = errnoError(130, "write failed");
  expect([named.code, named.errno, describeSystemError(named)]).toEqual(["EOWNERDEAD", 130, "Owner died"]);
  const unnamed = errnoError(150, "write failed");
  expect([unnamed.code, unnamed.errno, describeSystemError(unnamed)]).toEqual([undefined, 150, "write failed (errno 150)"]);
  // A /proc file of a process that ended gives ESRCH on open: strerror's phrase, not a number.
  expect(describeSystemError(errnoError(3, "cannot open"))).toBe("No such process");
  expect(describeSystemError(errnoError(95))).toBe("Operation not supported");
  expect(describeSystemError(Object.assign(new Error("x"), { code: "ENOTSUP" }))).toBe("Operation not supported");
  // A code that is an Object property name is not a table entry.
  expect([errnoOf({ code: "constructor" }), describeSystemError(Object.assign(new Error("odd"), { code: "toString" }))]).toEqual([5, "odd"]);
});

test("stdout data is written byte for byte as each piece encodes on its own, surrogate halves never joined across pieces", () => {
  // Lines are joined before encoding; a piece ending in a high surrogate or starting with a low
  // one must still encode as it would alone (each half U+FFFD), not as the pair the two make.
  const script = `
    import { Output } from ${JSON.stringify(join(ROOT, "lib/cli/output.ts"))};
    const out = new Output();
    const pieces = ["a  x\\n", "b\\ud83d", "\\ude00c\\n", new Uint8Array([0xff, 0x0a]), "é\\n", "z".repeat(70000), "\\n"];
    for (const p of pieces) out.data(p);
    out.flush();`;
  const result = Bun.spawnSync([BUN, "-e", script]);
  expect(result.exitCode).toBe(0);
  const encoder = new TextEncoder();
  const expected = Buffer.concat([encoder.encode("a  x\n"), encoder.encode("b\ud83d"), encoder.encode("\ude00c\n"), Buffer.from([0xff, 0x0a]), encoder.encode("é\n"), encoder.encode("z".repeat(70000)), encoder.encode("\n")]);
  expect(Buffer.from(result.stdout).equals(expected)).toBe(true);
  expect(Buffer.from(result.stdout).includes(Buffer.from("\u{1f600}"))).toBe(false);
});

test("ignore patterns with and without a slash are matched together: a name at any depth, a path from the root", () => {
  const list = new IgnoreList(["._*", "*.tmp", "Thumbs.db", "CACHE/*.bin", "/top/x"]);
  expect(["._a.mov", "A/._a.mov", "A/b.tmp", "A/B/Thumbs.db", "CACHE/a.bin", "top/x"].map((p) => list.matches(p))).toEqual([true, true, true, true, true, true]);
  expect(["a._mov", "A/Thumbs.db.mov", "A/CACHE/a.bin", "CACHE/a/b.bin", "A/top/x", "tmp"].map((p) => list.matches(p))).toEqual([false, false, false, false, false, false]);
  expect(new IgnoreList([]).matches("anything")).toBe(false);
});

test("setFileTimes sets both times to the nanosecond, before 1970 and a tenth of a microsecond before a second; dateOfNs (where futimens is not called) rounds down to the millisecond", () => {
  const dir = tempDir("cartkit-times-");
  const path = join(dir, "f");
  writeFileSync(path, "x");
  const fd = openSync(path, "r+");
  try {
    for (const [atimeNs, mtimeNs] of [
      [1_735_787_045_999_999_900n, -1n],
      [-1_000_000_000_000_000_001n, 1_735_787_045_123_456_789n],
      [0n, 999_999_999n],
    ] as const) {
      setFileTimes(fd, atimeNs, mtimeNs);
      const stat = statSync(path, { bigint: true });
      expect([stat.atimeNs, stat.mtimeNs]).toEqual([atimeNs, mtimeNs]);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  expect(dateOfNs(-1n).toISOString()).toBe("1969-12-31T23:59:59.999Z");
  expect(dateOfNs(-1_000_000n).toISOString()).toBe("1969-12-31T23:59:59.999Z");
  expect(dateOfNs(-1_000_001n).toISOString()).toBe("1969-12-31T23:59:59.998Z");
  expect(dateOfNs(1_735_787_045_999_999_900n).toISOString()).toBe("2025-01-02T03:04:05.999Z");
  expect(dateOfNs(0n).getTime()).toBe(0);
});
