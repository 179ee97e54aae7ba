/**
 * cartserve over a cartvault store made by the compiled cartvault (init, commit, branch): every
 * branch of a store, or `STORE@REF`, served from the vault's objects by a real server on
 * loopback, checked with fetch and curl against the committed bytes, status codes and headers.
 * A damaged, truncated, missing or linked object is never served as good. The Range cases every
 * source shares run over a vault too, in serve.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseListen } from "../lib/serve/access.ts";
import { Catalog } from "../lib/serve/catalog.ts";
import { openSource, openSources } from "../lib/serve/open_source.ts";
import { startServer, type RunningServer, type ServerEvent } from "../lib/serve/server.ts";
import type { Source } from "../lib/serve/source.ts";
import { VERIFIED_BYTES } from "../lib/serve/vault_source.ts";
import { STORE_MARKER } from "../lib/vault/layout.ts";
import { anchor, asNobody, COMPILED, IS_ROOT, randomBytes, run, runners, tempDir, tool, type ToolRunner } from "./helpers.ts";
import { rawRequest, startPrinting } from "./serve-helpers.ts";
import { flipBit, writeTree, type Tree } from "./vault-helpers.ts";

const dir = tempDir("cartserve-vault-");
const store = join(dir, "STORE");
/** Larger than what is hashed before any byte is sent. */
const CLIP = "DAY01/A001/CLIPS/A001C001.mov";
const SMALL = "DAY01/A001/CLIPS/A001C002 take #2.mov";
const NOTES = "DAY01/notes.txt";

const main: Tree = {
  [CLIP]: randomBytes(3 * VERIFIED_BYTES + 4321, 31),
  [SMALL]: randomBytes(200_000, 32),
  [NOTES]: "day 1\n",
  "DAY01/empty.bin": new Uint8Array(0),
};
/** The regrade branch: a new notes file and a CDL; the clips are the same objects. */
const grade: Tree = { ...main, [NOTES]: "day 1, regraded\n", "DAY01/A001/CLIPS/A001C001.cdl": "<ColorDecisionList/>\n" };

const bytesOf = (tree: Tree, path: string): Uint8Array => (typeof tree[path] === "string" ? new TextEncoder().encode(tree[path] as string) : (tree[path] as Uint8Array));
/** A file's bytes, as a plain Uint8Array to compare with. */
const fileBytes = (path: string): Uint8Array => new Uint8Array(readFileSync(path));
const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");
const ref = (name: string, at = store) => readFileSync(join(at, "refs/heads", name), "utf8").trim();

beforeAll(() => {
  writeTree(join(dir, "day1"), main);
  writeTree(join(dir, "regrade"), grade);
  const vault = (args: string[]) => expect(tool(COMPILED, "cartvault", args, { cwd: dir })).toMatchObject({ code: 0 });
  vault(["init", "STORE"]);
  vault(["commit", "STORE", "day1", "-m", "day 1"]);
  vault(["branch", "STORE", "grade/v2", "--from", "main"]);
  vault(["commit", "STORE", "regrade", "--branch", "grade/v2", "-m", "regrade"]);
});

/** A server over sources; its events are kept. */
async function serving(sources: Source[]): Promise<{ server: RunningServer; base: string; events: ServerEvent[]; close: () => Promise<void> }> {
  const events: ServerEvent[] = [];
  const server = startServer({ catalog: new Catalog(sources), listen: parseListen("127.0.0.1:0"), proxies: join(dir, `proxies-${Math.random().toString(36).slice(2)}`), probeClips: false, onEvent: (e) => events.push(e) });
  return {
    server,
    base: server.url.replace(/\/$/, ""),
    events,
    close: async () => {
      await server.stop();
      for (const source of sources) source.close();
    },
  };
}

async function get(base: string, path: string, headers: Record<string, string> = {}, method = "GET") {
  const response = await fetch(`${base}${path}`, { method, headers });
  const body: Uint8Array = new Uint8Array(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body };
}

interface Listed {
  source: string;
  kind: string;
  path: string;
  size: number;
  url: string;
  digests: Record<string, string>;
  tapes: string[];
  versions: { source: string; commit: string; branch?: string }[];
}

describe("a whole store: every branch", () => {
  let at: Awaited<ReturnType<typeof serving>>;
  beforeAll(async () => {
    at = await serving(await openSources(store));
  });
  afterAll(async () => {
    await at?.close();
  });

  test("/api/files lists each branch's files with source, path, size, url, b3sum's BLAKE3, xxhsum's XXH128 and the versions holding each", async () => {
    const list = (await (await fetch(`${at.base}/api/files`)).json()) as Listed[];
    expect([...new Set(list.map((f) => f.source))].sort()).toEqual(["STORE@grade/v2", "STORE@main"]);
    expect(list.filter((f) => f.source === "STORE@main").map((f) => f.path)).toEqual([CLIP, SMALL, "DAY01/empty.bin", NOTES]);
    expect(list.filter((f) => f.source === "STORE@grade/v2").map((f) => f.path)).toEqual([CLIP.replace(".mov", ".cdl"), CLIP, SMALL, "DAY01/empty.bin", NOTES]);
    const clip = list.find((f) => f.source === "STORE@grade/v2" && f.path === CLIP)!;
    expect(clip).toMatchObject({ kind: "vault", size: bytesOf(main, CLIP).length, url: `/files/STORE@grade%2Fv2/${CLIP}`, tapes: [] });
    const b3sum = anchor("b3sum");
    if (b3sum) expect(clip.digests.blake3).toBe(run([b3sum, "--no-names", join(dir, "day1", CLIP)]).stdout.trim());
    const xxhsum = anchor("xxhsum");
    if (xxhsum) expect(clip.digests.xxh128).toBe(run([xxhsum, "-H2", join(dir, "day1", CLIP)]).stdout.split(" ")[0]!);
    expect(Object.keys(clip.digests).sort()).toEqual(["blake3", "xxh128"]);
    // The clip is in both versions; each version's notes in its own only.
    const both = [
      { source: "STORE@grade/v2", commit: ref("grade/v2"), branch: "grade/v2" },
      { source: "STORE@main", commit: ref("main"), branch: "main" },
    ];
    expect(clip.versions).toEqual(both);
    expect(list.find((f) => f.source === "STORE@main" && f.path === CLIP)!.versions).toEqual(both);
    expect(list.find((f) => f.source === "STORE@main" && f.path === NOTES)!.versions).toEqual([both[1]!]);
    expect(list.find((f) => f.source === "STORE@grade/v2" && f.path === NOTES)!.versions).toEqual([both[0]!]);
  });

  test("every file of each version, whole, is what was committed; HEAD, 304 and If-Range by the BLAKE3 entity-tag", async () => {
    for (const [branch, tree] of [
      ["main", main],
      ["grade%2Fv2", grade],
    ] as const) {
      for (const path of Object.keys(tree)) {
        const r = await get(at.base, `/files/STORE@${branch}/${encodePath(path)}`);
        expect([branch, path, r.status]).toEqual([branch, path, 200]);
        expect(r.body).toEqual(bytesOf(tree, path));
      }
    }
    const path = `/files/STORE@main/${encodePath(SMALL)}`;
    const head = await get(at.base, path, {}, "HEAD");
    const etag = head.headers.get("etag")!;
    expect(etag).toBe(`"blake3-${((await (await fetch(`${at.base}/api/files`)).json()) as Listed[]).find((f) => f.url === path)!.digests.blake3}"`);
    expect([head.status, head.headers.get("content-length"), head.headers.get("accept-ranges"), head.headers.get("content-type"), head.body.length]).toEqual([200, "200000", "bytes", "video/quicktime", 0]);
    expect((await get(at.base, path, { "if-none-match": etag })).status).toBe(304);
    const ranged = await get(at.base, path, { range: "bytes=10-19", "if-range": etag });
    expect([ranged.status, ranged.headers.get("content-range")]).toEqual([206, "bytes 10-19/200000"]);
    expect(ranged.body).toEqual(bytesOf(main, SMALL).subarray(10, 20));
    expect((await get(at.base, path, { range: "bytes=10-19", "if-range": '"blake3-0000"' })).status).toBe(200);
    // The same content in two versions has one entity-tag.
    expect((await get(at.base, `/files/STORE@grade%2Fv2/${encodePath(SMALL)}`, {}, "HEAD")).headers.get("etag")).toBe(etag);
  });

  test("paths resolve inside the commit only: '..', encoded slashes, NUL and the store's own files are 404", async () => {
    writeFileSync(join(dir, "secret.txt"), "TOP SECRET\n");
    const attempts = [
      "/files/STORE@main/../secret.txt",
      "/files/STORE@main/%2e%2e/%2e%2e/secret.txt",
      "/files/STORE@main/DAY01%2Fnotes.txt",
      "/files/STORE@main/DAY01/..%2F..%2Fsecret.txt",
      "/files/STORE@main/DAY01/notes.txt%00",
      "/files/STORE@main/DAY01/notes.txt%00.mov",
      "/files/STORE@main//DAY01/notes.txt",
      "/files/STORE@main/cartvault",
      "/files/STORE@main/refs/heads/main",
      `/files/STORE@main/objects/${(((await (await fetch(`${at.base}/api/files`)).json()) as Listed[])[0]!.digests.blake3!).replace(/^(..)/, "$1/")}`,
      "/files/STORE@grade/v2/DAY01/notes.txt",
      "/files/STORE@main%2F..%2F..%2Fsecret.txt/x",
      "/files/STORE/DAY01/notes.txt",
      "/files/STORE@nope/DAY01/notes.txt",
    ];
    for (const target of attempts) {
      const r = await rawRequest(at.server.port, target);
      expect([target, r.status]).toEqual([target, 404]);
      expect(r.text).not.toContain("SECRET");
      expect(r.text).not.toContain(STORE_MARKER);
    }
    // '@' may come percent-encoded: the same address.
    expect((await get(at.base, "/files/STORE%40main/DAY01/notes.txt")).body).toEqual(bytesOf(main, NOTES));
  });
});

describe("STORE@REF", () => {
  test("a branch, a commit id or its prefix, and NAME=STORE@REF: one version each, as committed then; a ref that cannot be read is named and left out", async () => {
    const first = ref("main");
    const prefix = first.slice(0, 10);
    const sources = [await openSource(`${store}@grade/v2`), ...(await openSources(`${store}@${prefix}`)), await openSource(`OLD=${store}@${first}`)];
    expect(sources.map((s) => [s.name, s.kind, s.version])).toEqual([
      ["STORE@grade/v2", "vault", { vault: "STORE", ref: "grade/v2", commit: ref("grade/v2"), branch: "grade/v2" }],
      [`STORE@${prefix}`, "vault", { vault: "STORE", ref: prefix, commit: first }],
      [`OLD@${first}`, "vault", { vault: "OLD", ref: first, commit: first }],
    ]);
    const at = await serving(sources);
    try {
      expect((await get(at.base, `/files/STORE@grade%2Fv2/${NOTES}`)).body).toEqual(bytesOf(grade, NOTES));
      expect((await get(at.base, `/files/STORE@${prefix}/${NOTES}`)).body).toEqual(bytesOf(main, NOTES));
      const r = await get(at.base, `/files/OLD@${first}/${encodePath(CLIP)}`, { range: "bytes=-100" });
      expect([r.status, r.headers.get("content-range")]).toEqual([206, `bytes ${bytesOf(main, CLIP).length - 100}-${bytesOf(main, CLIP).length - 1}/${bytesOf(main, CLIP).length}`]);
      expect(r.body).toEqual(bytesOf(main, CLIP).subarray(-100));
    } finally {
      await at.close();
    }
    // A ref that cannot be read is named and left out; the other branches are served.
    const stray = join(dir, "stray-refs");
    cpSync(store, stray, { recursive: true });
    writeFileSync(join(stray, "refs/heads/bad name"), `${first}\n`);
    writeFileSync(join(stray, "refs/heads/broken"), "not a commit\n");
    const served = await openSources(stray);
    try {
      expect(served.map((s) => s.name)).toEqual(["stray-refs@grade/v2", "stray-refs@main"]);
      expect(served[0]!.problems).toEqual([
        { path: join(stray, "refs/heads/bad name"), message: "not a branch name; not served (check the store with 'cartvault verify')" },
        { path: join(stray, "refs/heads/broken"), message: "branch 'broken' does not hold one commit id (a ref is '<64 hex digits>' and a newline); not served (check the store with 'cartvault verify')" },
      ]);
    } finally {
      for (const source of served) source.close();
    }
    // A whole store opened as one source is refused: it is several versions.
    await expect(openSource(store)).rejects.toThrow("is a vault of 2 branches: open each with STORE@REF");
  });
});

describe("an object that is not what its name says is never served as good", () => {
  /** A copy of the store, its object of `path` (on main), and a server over the copy's main. */
  async function damagedCopy(name: string, path: string) {
    const copy = join(dir, name);
    cpSync(store, copy, { recursive: true });
    const at = await serving([await openSource(`${copy}@main`)]);
    const listed = ((await (await fetch(`${at.base}/api/files`)).json()) as Listed[]).find((f) => f.path === path)!;
    const id = listed.digests.blake3!;
    return { at, object: join(copy, "objects", id.slice(0, 2), id.slice(2)), url: listed.url, id };
  }
  const sourceErrors = (events: ServerEvent[]) => events.map((e) => `${e.event} ${e.path}: ${e.message}`);

  test("a small object with one bit flipped: 500 for every request, a range of one byte too, and said once, naming the object", async () => {
    const { at, object, url, id } = await damagedCopy("flip-small", SMALL);
    try {
      flipBit(object, 150_000);
      for (const headers of [{}, { range: "bytes=0-0" }, { range: "bytes=0-9,100-109" }] as Record<string, string>[]) {
        const r = await get(at.base, url, headers);
        expect([headers, r.status, r.headers.get("cache-control"), new TextDecoder().decode(r.body)]).toEqual([headers, 500, "no-store", "the file's bytes are damaged; not served\n"]);
      }
      expect((await get(at.base, url, {}, "HEAD")).status).toBe(500);
      expect(sourceErrors(at.events)).toEqual([`source-error ${url}: object ${id.slice(0, 12)} (${SMALL}) is damaged: its bytes do not match its id; not served as good (check the store with 'cartvault verify ${join(dir, "flip-small")}'): ${object}`]);
    } finally {
      await at.close();
    }
  });

  test("a large object with one bit flipped: the whole-file response is cut before its end, then every request is 500", async () => {
    const { at, object, url, id } = await damagedCopy("flip-large", CLIP);
    try {
      const size = bytesOf(main, CLIP).length;
      flipBit(object, size - 10);
      // A range of a large object not yet read whole is served after the cheap checks (as a tape's records are).
      const early = await get(at.base, url, { range: "bytes=0-99" });
      expect([early.status, early.body]).toEqual([206, bytesOf(main, CLIP).subarray(0, 100)]);
      const out = join(dir, "cut.bin");
      // curl in its own process, waited for without blocking this one (the server runs here).
      const proc = Bun.spawn({ cmd: ["curl", "-sS", "-o", out, "-w", "%{http_code}", `${at.base}${url}`], stdout: "pipe", stderr: "pipe" });
      const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      expect([code === 0, stdout]).toEqual([false, "200"]);
      // Cut: "transfer closed with outstanding read data" or a reset, depending on what was in flight.
      expect(stderr).toMatch(/^curl: \((18|56)\) /);
      const got = fileBytes(out);
      expect(got.length).toBeLessThan(size);
      expect(got).toEqual(bytesOf(main, CLIP).subarray(0, got.length));
      for (const headers of [{}, { range: "bytes=0-99" }] as Record<string, string>[]) expect((await get(at.base, url, headers)).status).toBe(500);
      expect(sourceErrors(at.events)).toEqual([`body-error ${url}: object ${id.slice(0, 12)} (${CLIP}) is damaged: its bytes do not match its id; not served as good (check the store with 'cartvault verify ${join(dir, "flip-large")}'): ${object}`]);
    } finally {
      await at.close();
    }
  });

  test("a truncated object is 500 at once, whatever the range; a missing one is 404; each named", async () => {
    const { at, object, url, id } = await damagedCopy("short", CLIP);
    const other = await (async () => {
      const listed = ((await (await fetch(`${at.base}/api/files`)).json()) as Listed[]).find((f) => f.path === NOTES)!;
      return { url: listed.url, object: join(dir, "short", "objects", listed.digests.blake3!.slice(0, 2), listed.digests.blake3!.slice(2)), id: listed.digests.blake3! };
    })();
    try {
      chmodSync(object, 0o644);
      truncateSync(object, 1000);
      expect((await get(at.base, url, { range: "bytes=0-99" })).status).toBe(500);
      rmSync(other.object);
      expect((await get(at.base, other.url)).status).toBe(404);
      expect(sourceErrors(at.events)).toEqual([
        `source-error ${url}: object ${id.slice(0, 12)} (${CLIP}) is 1000 bytes where the commit records ${bytesOf(main, CLIP).length}; not served as good (check the store with 'cartvault verify ${join(dir, "short")}'): ${object}`,
        `source-error ${other.url}: object ${other.id.slice(0, 12)} (${NOTES}) is missing from the vault: ${other.object}`,
      ]);
    } finally {
      await at.close();
    }
  });

  test("an object swapped for a symbolic link is never followed, even to the right bytes: 500", async () => {
    const { at, object, url } = await damagedCopy("linked", SMALL);
    try {
      const outside = join(dir, "outside.mov");
      writeFileSync(outside, bytesOf(main, SMALL));
      rmSync(object);
      symlinkSync(outside, object);
      const r = await get(at.base, url);
      expect(r.status).toBe(500);
      expect(r.body.length).toBeLessThan(100);
      expect(at.events.map((e) => e.message)).toEqual([expect.stringContaining(`(${SMALL}) is a symbolic link, never followed; not served as good`)]);
    } finally {
      await at.close();
    }
  });
});

/** Starts the tool and waits for the address it prints. */
function startTool(r: ToolRunner, args: string[]) {
  return startPrinting([...r.command("cartserve"), ...args, "--listen", "127.0.0.1:0"], dir);
}

for (const r of runners()) {
  describe(`the tool (${r.label})`, () => {
    test("serves every branch of a store and STORE@REF; curl gets the committed bytes, ranges, validators; a damaged object is 500 and named once", async () => {
      const copy = `tool-${r.label}`;
      cpSync(store, join(dir, copy), { recursive: true });
      const { proc, url } = await startTool(r, [copy, `OLD=${copy}@${ref("main").slice(0, 8)}`, "--proxies", `px-${r.label}`]);
      try {
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
        const clip = `${url}files/${copy}@grade%2Fv2/${encodePath(CLIP)}`;
        const size = bytesOf(main, CLIP).length;
        const whole = run(["curl", "-sS", "-o", join(dir, `whole-${r.label}`), "-w", "%{http_code} %{size_download}", clip]);
        expect([whole.code, whole.stdout]).toEqual([0, `200 ${size}`]);
        expect(fileBytes(join(dir, `whole-${r.label}`))).toEqual(bytesOf(main, CLIP));
        const ranged = run(["curl", "-sS", "-D", "-", "-o", join(dir, `range-${r.label}`), "-r", "1000-1999,5000-5009", clip]);
        expect(ranged.stdout).toMatch(/^HTTP\/1\.1 206 /);
        expect(ranged.stdout).toMatch(/content-type: multipart\/byteranges; boundary=/i);
        const single = run(["curl", "-sS", "-D", "-", "-r", "1000-1999", "-o", join(dir, `single-${r.label}`), clip]);
        expect(single.stdout).toContain(`Content-Range: bytes 1000-1999/${size}\r\n`);
        expect(single.stdout).toMatch(/ETag: "blake3-[0-9a-f]{64}"\r\n/);
        expect(fileBytes(join(dir, `single-${r.label}`))).toEqual(bytesOf(main, CLIP).subarray(1000, 2000));
        const etag = /ETag: ("blake3-[0-9a-f]{64}")/.exec(single.stdout)![1]!;
        expect(run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", `If-None-Match: ${etag}`, clip]).stdout).toBe("304");
        const old = await fetch(`${url}files/OLD@${ref("main").slice(0, 8)}/${NOTES}`);
        expect([old.status, await old.text()]).toEqual([200, "day 1\n"]);
        // Damage the small clip's object: two requests, one line.
        const list = (await (await fetch(`${url}api/files`)).json()) as Listed[];
        const small = list.find((f) => f.source === `${copy}@main` && f.path === SMALL)!;
        flipBit(join(dir, copy, "objects", small.digests.blake3!.slice(0, 2), small.digests.blake3!.slice(2)), 7);
        expect((await fetch(`${url}${small.url.slice(1)}`)).status).toBe(500);
        expect((await fetch(`${url}${small.url.slice(1)}`, { headers: { range: "bytes=0-0" } })).status).toBe(500);
        // Damage the large clip's object near its end: the whole-file response is cut, and said.
        const large = list.find((f) => f.source === `${copy}@main` && f.path === CLIP)!;
        flipBit(join(dir, copy, "objects", large.digests.blake3!.slice(0, 2), large.digests.blake3!.slice(2)), size - 3);
        // Either the body is cut before its end (the damage found while it went out), or, when the
        // whole object was read before the first byte was sent, the answer is 500: never a 200 whole.
        const cut = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", `${url}${large.url.slice(1)}`]);
        expect(cut.code === 0 ? `HTTP ${cut.stdout}` : cut.stderr).toMatch(/^(curl: \((18|56)\) |HTTP 500$)/);
        expect((await fetch(`${url}${large.url.slice(1)}`, { headers: { range: "bytes=0-0" } })).status).toBe(500);
      } finally {
        proc.kill();
        await proc.exited;
      }
      const stderr = await new Response(proc.stderr).text();
      expect(stderr).toContain(`cartserve: vault ${copy}@grade/v2: 5 files from ${copy}@grade/v2 (commit ${ref("grade/v2").slice(0, 12)})\n`);
      expect(stderr).toContain(`cartserve: vault ${copy}@main: 4 files from ${copy}@main (commit ${ref("main").slice(0, 12)})\n`);
      expect(stderr).toContain(`cartserve: vault OLD@${ref("main").slice(0, 8)}: 4 files from ${copy}@${ref("main").slice(0, 8)} (commit ${ref("main").slice(0, 12)})\n`);
      // One line each, never a stack trace.
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(stderr.split("\n").filter((line) => line.includes(`(${CLIP}) is damaged`))).toEqual([expect.stringMatching(/: response cut: object [0-9a-f]{12} .* is damaged: its bytes do not match its id; not served as good/)]);
      const damaged = stderr.split("\n").filter((line) => line.includes(`(${SMALL}) is damaged`));
      expect(damaged).toEqual([expect.stringMatching(new RegExp(`^cartserve: /files/${copy}@main/DAY01/A001/CLIPS/A001C002%20take%20%232\\.mov: not served: object [0-9a-f]{12} \\(${SMALL}\\) is damaged: its bytes do not match its id; not served as good \\(check the store with 'cartvault verify ${copy}'\\): `))]);
    }, 60_000);
  });
}

test("run as nobody, the compiled cartserve serves a store it cannot write to, and leaves it as it was", async () => {
  if (!IS_ROOT) return;
  const copy = join(dir, "readonly");
  cpSync(store, copy, { recursive: true });
  chmodSync(dir, 0o755);
  const before = readdirSync(copy, { recursive: true }).map(String).sort();
  const mtimes = before.map((name) => statSync(join(copy, name)).mtimeMs);
  const { proc, url } = await startPrinting(asNobody([...COMPILED.command("cartserve"), copy, "--listen", "127.0.0.1:0"]), dir);
  try {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const r = await fetch(`${url}files/readonly@grade%2Fv2/${encodePath(CLIP)}`, { headers: { range: "bytes=100-100099" } });
    const body: Uint8Array = new Uint8Array(await r.arrayBuffer());
    expect([r.status, body]).toEqual([206, bytesOf(grade, CLIP).subarray(100, 100_100)]);
  } finally {
    proc.kill();
    await proc.exited;
  }
  expect(readdirSync(copy, { recursive: true }).map(String).sort()).toEqual(before);
  expect(before.map((name) => statSync(join(copy, name)).mtimeMs)).toEqual(mtimes);
}, 60_000);
