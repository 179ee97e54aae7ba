/**
 * lib/thread: the registry of worker entry points, request/reply with threads that answer, fail,
 * end, start late or never, and the shared ring: its handshake under races, its fallback, and
 * its two shapes (the calling thread produces, or the lanes do).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { hashPath } from "../lib/hash/file.ts";
import { HashPool } from "../lib/hash/pool.ts";
import { WORKER_ENTRY_POINTS, type WorkerName } from "../lib/thread/entry_points.ts";
import { onThreadFallback } from "../lib/thread/fallback.ts";
import { RequestPool, ThreadFailure } from "../lib/thread/requests.ts";
import { Ring, type RingShape } from "../lib/thread/ring.ts";
import { spawnWorker, workerUrl } from "../lib/thread/spawn.ts";
import { countWords, MAX_SLOTS, patternByte, testLane, type TestLaneJob } from "./fixtures/thread/lanes.ts";
import type { Question } from "./fixtures/thread/answers.ts";
import { BUN, randomBytes, ROOT, run, tempDir } from "./helpers.ts";

const FIXTURES = join(ROOT, "tests/fixtures/thread");
const fixture = (name: string) => join(FIXTURES, name);
const NO_SUCH_SCRIPT = join(FIXTURES, "no-such-worker.ts");

/** Every .ts file below a folder. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

/** Collects the fallbacks reported while `body` runs. */
async function fallbacksDuring(body: () => unknown): Promise<string[]> {
  const said: string[] = [];
  const stop = onThreadFallback((reason) => said.push(reason));
  try {
    await body();
  } finally {
    stop();
  }
  return said;
}

describe("worker entry points", () => {
  test("every worker file under lib/ is registered, and every registered one exists", () => {
    const workers = sources(join(ROOT, "lib"))
      .filter((file) => !relative(ROOT, file).startsWith("lib/thread/"))
      .filter((file) => /^(serveRing|answerRequests)\(|self\.onmessage\s*=/m.test(readFileSync(file, "utf8")))
      .map((file) => relative(ROOT, file))
      .sort();
    expect((Object.values(WORKER_ENTRY_POINTS) as string[]).sort()).toEqual(workers);
    for (const path of workers) expect(existsSync(join(ROOT, path))).toBe(true);
  });

  test("from source, each name resolves to its entry point's file", () => {
    for (const [name, path] of Object.entries(WORKER_ENTRY_POINTS)) {
      expect(fileURLToPath(workerUrl(name as WorkerName))).toBe(join(ROOT, path));
    }
  });

  test("the build compiles the registered entry points into every tool, and names no worker itself", () => {
    const build = readFileSync(join(ROOT, "scripts/build.ts"), "utf8");
    expect(build).toContain("...Object.values(WORKER_ENTRY_POINTS)");
    expect(build).not.toMatch(/_worker\.ts/);
  });

  test("lib/thread stands on lib/core alone", () => {
    const targets = sources(join(ROOT, "lib/thread")).flatMap((file) =>
      // JSDoc lines left out: an example shows a worker file (in lib/io) importing what it serves.
      [
        ...readFileSync(file, "utf8")
          .replace(/^\s*\*.*$/gm, "")
          .matchAll(/from\s+["'](\.{1,2}\/[^"']+)["']/g),
      ].map((m) => relative(join(ROOT, "lib"), resolve(dirname(file), m[1]!))),
    );
    expect(targets.length).toBeGreaterThan(0);
    expect(targets.filter((target) => !target.startsWith("core/") && !target.startsWith("thread/"))).toEqual([]);
  });
});

describe("request/reply", () => {
  test("each answer settles its own request; an error thrown by the work comes back with its code, and the pool goes on", async () => {
    const pool = new RequestPool<Question, unknown>("hash", { script: fixture("answer_worker.ts"), size: 3 });
    try {
      const asked = Array.from({ length: 60 }, (_, i) => (i % 7 === 3 ? { sleep: 5 } : { echo: { i, text: `é${i}` } }));
      expect(await Promise.all(asked.map((q) => pool.request(q)))).toEqual(asked.map((q) => ("sleep" in q ? "slept" : q.echo)));
      const error = await pool.request({ fail: "x" }).catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(ThreadFailure);
      expect(error).toMatchObject({ message: "no such thing: x", code: "ENOENT", errno: 2 });
      expect(await pool.request({ echo: "still here" })).toBe("still here");
    } finally {
      pool.close();
    }
    expect(await pool.request({ echo: 1 }).catch((e: unknown) => e)).toMatchObject({ name: "ThreadFailure", ran: false, message: "the hash threads were closed" });
  });

  test("with depth, a thread holds the next requests while it answers one, answers them one at a time in the order sent, and is seen free as soon as it has answered", async () => {
    const dir = tempDir();
    const pool = new RequestPool<Question, unknown>("hash", { script: fixture("answer_worker.ts"), size: 1, depth: 2 });
    try {
      expect(pool.hasRoom()).toBe(true);
      // Each mark is written as its request is answered: the sleeps keep the first two busy while the rest queue.
      const asked: Question[] = [{ sleep: 50 }, { mark: join(dir, "1") }, { sleep: 20 }, { mark: join(dir, "2") }, { echo: "last" }];
      const answers = asked.map((q) => pool.request(q));
      expect(pool.hasRoom()).toBe(false);
      expect(await Promise.all(answers)).toEqual(["slept", "marked", "slept", "marked", "last"]);
      expect(statSync(join(dir, "1")).mtimeMs).toBeLessThanOrEqual(statSync(join(dir, "2")).mtimeMs);
      expect(pool.hasRoom()).toBe(true);
      // Only the first of `threads` threads: the request waits for it.
      expect(await pool.request({ echo: "first thread" }, 1)).toBe("first thread");
    } finally {
      pool.close();
    }
    expect(pool.hasRoom()).toBe(false);
  });

  test("a request taken back before its thread starts on it is never run; one its thread has taken cannot be taken back", async () => {
    const dir = tempDir();
    const pool = new RequestPool<Question, unknown>("hash", { script: fixture("answer_worker.ts"), size: 1, depth: 2 });
    try {
      const busy = pool.request({ sleep: 300 });
      const queued = pool.requestTakeable({ mark: join(dir, "queued") });
      const waiting = pool.requestTakeable({ mark: join(dir, "waiting") });
      // The first waits on the thread behind the sleep, the second in this thread: both come back.
      expect([queued.takeBack(), waiting.takeBack(), queued.takeBack()]).toEqual([true, true, true]);
      expect(await busy).toBe("slept");
      const answered = pool.requestTakeable({ mark: join(dir, "answered") });
      expect(await answered.answer).toBe("marked");
      expect(answered.takeBack()).toBe(false);
      // The thread skipped what was taken back, and is free for more.
      expect(await pool.request({ echo: "after" })).toBe("after");
      expect(pool.hasRoom()).toBe(true);
      expect(existsSync(join(dir, "queued"))).toBe(false);
      expect(existsSync(join(dir, "waiting"))).toBe(false);
    } finally {
      pool.close();
    }
  });

  test("a thread whose script cannot be loaded fails what it was sent, saying it never ran", async () => {
    const pool = new RequestPool<Question, unknown>("hash", { script: NO_SUCH_SCRIPT, size: 2 });
    let results: unknown[] = [];
    const said = await fallbacksDuring(async () => {
      results = await Promise.all([1, 2, 3].map((i) => pool.request({ echo: i }).catch((e: unknown) => e)));
    });
    for (const result of results) {
      expect(result).toBeInstanceOf(ThreadFailure);
      expect((result as ThreadFailure).ran).toBe(false);
      expect((result as ThreadFailure).message).toStartWith("the hash thread failed: ");
    }
    expect(said).toHaveLength(1);
    pool.close();
  });

  test("a thread that loads and never answers is given up after the start timeout; what it was sent never ran", async () => {
    const pool = new RequestPool<Question, unknown>("flush", { script: fixture("silent_worker.ts"), startTimeoutMs: 200 });
    let result: unknown;
    const said = await fallbacksDuring(async () => {
      result = await pool.request({ echo: 1 }).catch((e: unknown) => e);
    });
    expect(result).toMatchObject({ name: "ThreadFailure", ran: false, message: "the flush thread did not start within 0.2 s" });
    expect(said).toEqual(["the flush thread did not start within 0.2 s"]);
    // Failed once, the pool fails every later request at once.
    expect(await pool.request({ echo: 2 }).catch((e: unknown) => e)).toMatchObject({ ran: false, message: "the flush thread did not start within 0.2 s" });
    pool.close();
  });

  test("a thread that starts after it was given up runs nothing it was sent", async () => {
    const dir = tempDir();
    const mark = join(dir, "ran");
    const pool = new RequestPool<Question, unknown>("hash", { script: fixture("late_worker.ts"), startTimeoutMs: 100 });
    expect(await pool.request({ mark }).catch((e: unknown) => e)).toMatchObject({ ran: false, message: "the hash thread did not start within 0.1 s" });
    pool.close();
    // The thread is terminated; were it not, it would have loaded by now and found its start job taken back.
    await Bun.sleep(1200);
    expect(existsSync(mark)).toBe(false);
  });

  test("the start race: a thread that starts just as the timeout passes either answers or runs nothing, never both", async () => {
    const dir = tempDir();
    for (let i = 0; i < 12; i++) {
      const mark = join(dir, `ran${i}`);
      // The thread loads in about 600 ms: timeouts around it make both sides win sometimes.
      const pool = new RequestPool<Question, unknown>("hash", { script: fixture("late_worker.ts"), startTimeoutMs: 560 + 10 * i });
      const result = await pool.request({ mark }).catch((e: unknown) => e);
      pool.close();
      await Bun.sleep(100);
      if (result === "marked") {
        expect(existsSync(mark)).toBe(true);
      } else {
        expect(result).toMatchObject({ name: "ThreadFailure", ran: false });
        expect(existsSync(mark)).toBe(false);
      }
    }
  }, 60_000);

  test("a thread that ends while answering fails that request as perhaps run, and every later one as not run", async () => {
    const pool = new RequestPool<Question, unknown>("hash", { script: fixture("answer_worker.ts") });
    expect(await pool.request({ echo: "first" })).toBe("first");
    let ended: unknown;
    const said = await fallbacksDuring(async () => {
      ended = await pool.request({ exit: 3 }).catch((e: unknown) => e);
    });
    expect(ended).toMatchObject({ name: "ThreadFailure", ran: true, message: "the hash thread ended (exit code 3)" });
    expect(said).toEqual(["the hash thread ended (exit code 3)"]);
    expect(await pool.request({ echo: "after" }).catch((e: unknown) => e)).toMatchObject({ ran: false, message: "the hash thread ended (exit code 3)" });
    pool.close();
  });

  test("a thread answering keeps the process alive until it answers; idle, it lets the process end", () => {
    const dir = tempDir();
    const script = join(dir, "alive.ts");
    writeFileSync(script, [`import { RequestPool } from ${JSON.stringify(join(ROOT, "lib/thread/requests.ts"))};`, `const pool = new RequestPool("hash", { script: ${JSON.stringify(fixture("answer_worker.ts"))} });`, `void pool.request({ sleep: 300 }).then((answer) => console.log(answer));`].join("\n"));
    // Nothing else keeps the process alive while the thread sleeps: without the ref it would end
    // before printing; without the unref afterwards, never (the test would time out).
    const result = run([BUN, script], { cwd: dir });
    expect([result.code, result.stdout, result.stderr]).toEqual([0, "slept\n", ""]);
  });

  test("hash threads that never start: the jobs are hashed on the calling thread, digests intact", async () => {
    const dir = tempDir();
    const paths = [0, 1, 2, 3].map((i) => {
      const path = join(dir, `f${i}`);
      writeFileSync(path, randomBytes(100_000 + i, i));
      return path;
    });
    const pool = new HashPool(2, { script: fixture("silent_worker.ts"), startTimeoutMs: 100 });
    try {
      const results = await Promise.all(paths.map((path, id) => pool.run({ id, path, algorithms: ["xxh64"], options: {} })));
      for (const [id, path] of paths.entries()) {
        expect(results[id]).toEqual({ id, ok: true, hexes: [["xxh64", (await hashPath(path, ["xxh64"])).hexes.get("xxh64")!]], size: 100_000 + id });
      }
    } finally {
      pool.close();
    }
  });
});

/** A ring job where the calling thread produces `chunks` slots of the pattern; returns what each lane did. */
function produceHere(options: { lanes: number; slots: number; slotBytes: number; chunks: number; threads: readonly Worker[]; startTimeoutMs?: number; failAt?: (lane: number) => number; stepMs?: number }): {
  steps: number[][];
  onThreads: number[];
  wrongBytes: number;
  kept: number[];
  failures: ({ errno: number; at: number } | undefined)[];
} {
  const { lanes, slots, slotBytes, chunks } = options;
  const counts = new SharedArrayBuffer(4 * countWords(lanes));
  const ring = Ring.open({ producer: "caller", slots, slotBytes, lanes });
  const kept: number[] = [];
  let failures: ({ errno: number; at: number } | undefined)[] = [];
  try {
    ring.start<TestLaneJob>({
      worker: "fanout",
      params: Array.from({ length: lanes }, (_, lane) => ({ counts, lane, failAt: options.failAt?.(lane) ?? -1, stepMs: options.stepMs ?? 0, total: 0 })),
      threads: options.threads,
      work: testLane,
      onKept: (lane) => kept.push(lane),
      startTimeoutMs: options.startTimeoutMs,
    });
    for (let k = 0; k < chunks; k++) {
      ring.waitDone(k - slots + 1);
      const slot = ring.slot(k);
      const length = k % 3 === 2 ? slotBytes - 5 : slotBytes;
      for (let i = 0; i < length; i++) slot[i] = patternByte(k, i);
      ring.commit(length);
    }
    ring.waitDone(chunks);
    failures = Array.from({ length: lanes }, (_, lane) => ring.failure(lane));
  } finally {
    ring.release();
  }
  return { ...countsOf(counts, lanes, chunks), kept, failures };
}

function countsOf(counts: SharedArrayBuffer, lanes: number, chunks: number): { steps: number[][]; onThreads: number[]; wrongBytes: number } {
  const view = new Int32Array(counts);
  return {
    steps: Array.from({ length: lanes }, (_, lane) => [...view.subarray(lane * MAX_SLOTS, lane * MAX_SLOTS + chunks + 2)]),
    onThreads: Array.from({ length: lanes }, (_, lane) => view[lanes * MAX_SLOTS + lane]!),
    wrongBytes: view[lanes * MAX_SLOTS + lanes]!,
  };
}

/** `chunks` ones, then two zeros: each slot worked exactly once, and none past the end. */
const once = (chunks: number) => [...Array<number>(chunks).fill(1), 0, 0];

function laneThreads(count: number, script = fixture("lane_worker.ts")): Worker[] {
  return Array.from({ length: count }, () => spawnWorker({ script }));
}

describe("the ring, the calling thread producing", () => {
  test("every lane works every slot once, in order, on its own thread, around the ring many times", () => {
    const threads = laneThreads(3);
    try {
      const r = produceHere({ lanes: 3, slots: 4, slotBytes: 1000, chunks: 300, threads });
      expect(r).toEqual({ steps: [once(300), once(300), once(300)], onThreads: [300, 300, 300], wrongBytes: 0, kept: [], failures: [undefined, undefined, undefined] });
    } finally {
      for (const t of threads) t.terminate();
    }
  });

  test("the handshake race: a lane taken back as soon as it is offered is worked exactly once, by one side only", () => {
    const threads = laneThreads(3);
    try {
      for (let job = 0; job < 40; job++) {
        const r = produceHere({ lanes: 3, slots: 4, slotBytes: 64, chunks: 50, threads, startTimeoutMs: 0 });
        expect({ job, steps: r.steps, wrongBytes: r.wrongBytes }).toEqual({ job, steps: [once(50), once(50), once(50)], wrongBytes: 0 });
        for (let lane = 0; lane < 3; lane++) {
          // Its thread did all of it, or the calling thread did: a lane is never split.
          expect({ job, lane, onThread: r.onThreads[lane] }).toEqual({ job, lane, onThread: r.kept.includes(lane) ? 0 : 50 });
        }
      }
    } finally {
      for (const t of threads) t.terminate();
    }
  });

  test("a job message that reaches its thread after the ring moved on is ignored; the next job is the thread's", () => {
    const [thread] = laneThreads(1);
    try {
      // Warm: the thread has loaded.
      expect(produceHere({ lanes: 1, slots: 4, slotBytes: 64, chunks: 5, threads: [thread!] }).onThreads).toEqual([5]);
      // Busy for 500 ms: job A's message waits in its queue, A is taken back after 50 ms and done here.
      thread!.postMessage({ sleep: 500 });
      const a = produceHere({ lanes: 1, slots: 4, slotBytes: 64, chunks: 20, threads: [thread!], startTimeoutMs: 50 });
      expect(a).toMatchObject({ steps: [once(20)], onThreads: [0], kept: [0] });
      // Job B reuses A's shared memory; the thread then reads A's message (ignored: the ring serves B), then B's.
      const b = produceHere({ lanes: 1, slots: 4, slotBytes: 64, chunks: 30, threads: [thread!] });
      expect(b).toMatchObject({ steps: [once(30)], onThreads: [30], kept: [] });
    } finally {
      thread!.terminate();
    }
  });

  test("lanes whose thread never starts are worked on the calling thread, the others on theirs, and it is said", async () => {
    const threads = [...laneThreads(1), ...laneThreads(1, NO_SUCH_SCRIPT), ...laneThreads(1)];
    let r: ReturnType<typeof produceHere> | undefined;
    try {
      // The two threads that do start have started before the run (a loaded machine can take
      // longer than the timeout to start one), so only the one that never starts is given up.
      for (const thread of [threads[0]!, threads[2]!]) expect(produceHere({ lanes: 1, slots: 4, slotBytes: 64, chunks: 5, threads: [thread] }).onThreads).toEqual([5]);
      const said = await fallbacksDuring(() => {
        r = produceHere({ lanes: 3, slots: 4, slotBytes: 500, chunks: 60, threads, startTimeoutMs: 1000 });
      });
      expect(said).toEqual(["the fanout thread did not start within 1 s; the calling thread does its work"]);
    } finally {
      for (const t of threads) t.terminate();
    }
    expect(r).toEqual({ steps: [once(60), once(60), once(60)], onThreads: [60, 0, 60], wrongBytes: 0, kept: [1], failures: [undefined, undefined, undefined] });
  });

  test("a lane that fails is reported with its errno and slot and holds nothing back; the others finish", () => {
    const failAt = (lane: number) => (lane === 1 ? 37 : -1);
    const expected = {
      steps: [once(80), [...Array<number>(37).fill(1), ...Array<number>(45).fill(0)], once(80)],
      wrongBytes: 0,
      failures: [undefined, { errno: 5, at: 37 }, undefined],
    };
    const threads = laneThreads(3);
    try {
      expect(produceHere({ lanes: 3, slots: 4, slotBytes: 100, chunks: 80, threads, failAt })).toMatchObject(expected);
    } finally {
      for (const t of threads) t.terminate();
    }
    // Worked here (no threads), the same.
    expect(produceHere({ lanes: 3, slots: 4, slotBytes: 100, chunks: 80, threads: [], failAt })).toMatchObject({ ...expected, onThreads: [0, 0, 0] });
  });

  test("once released, nothing more is done on the ring, even by a thread that was in the middle of a slot", async () => {
    const [thread] = laneThreads(1);
    try {
      for (let i = 0; i < 6; i++) {
        const counts = new SharedArrayBuffer(4 * countWords(1));
        const ring = Ring.open({ producer: "caller", slots: 4, slotBytes: 16, lanes: 1 });
        ring.start<TestLaneJob>({ worker: "fanout", params: [{ counts, lane: 0, failAt: -1, stepMs: 60, total: 0 }], threads: [thread!], work: testLane });
        for (let k = 0; k < 3; k++) {
          ring.slot(k).fill(0);
          ring.commit(0);
        }
        await Bun.sleep(20 * i);
        ring.release();
        const atRelease = [...new Int32Array(counts, 0, 4)];
        await Bun.sleep(250);
        expect([...new Int32Array(counts, 0, 4)]).toEqual(atRelease);
      }
    } finally {
      thread!.terminate();
    }
  });
});

/** A ring job where lanes produce `total` bytes and this thread consumes them; returns the bytes and what each side did. */
function consumeHere(options: { total: number; slotBytes: number; threads: readonly Worker[]; callerClaims: boolean; startTimeoutMs?: number; failAt?: number; stepMs?: number }) {
  const shape: RingShape = { producer: "lanes", slots: 4, slotBytes: options.slotBytes, lanes: 1 };
  const counts = new SharedArrayBuffer(4 * countWords(1));
  const ring = Ring.open(shape);
  const kept: number[] = [];
  const parts: Buffer[] = [];
  try {
    ring.start<TestLaneJob>({
      worker: "read",
      params: [{ counts, lane: 0, failAt: options.failAt ?? -1, stepMs: options.stepMs ?? 0, total: options.total }],
      threads: options.threads,
      work: testLane,
      callerClaims: options.callerClaims,
      onKept: (lane) => kept.push(lane),
      startTimeoutMs: options.startTimeoutMs,
    });
    for (let k = 0; ; k++) {
      const length = ring.next(k, "read failed");
      if (length < 0) break;
      parts.push(Buffer.from(ring.bytes(k)));
      ring.recycle();
      if (length < options.slotBytes) break;
    }
  } finally {
    ring.release();
  }
  const chunks = Math.floor(options.total / options.slotBytes) + 1;
  return { bytes: Buffer.concat(parts), chunks, kept, ...countsOf(counts, 1, chunks) };
}

function pattern(total: number, slotBytes: number): Buffer {
  return Buffer.from(Array.from({ length: total }, (_, at) => patternByte(Math.floor(at / slotBytes), at % slotBytes)));
}

describe("the ring, lanes producing", () => {
  test("the calling thread consumes every slot in order, each filled once, by the lane's thread or by itself", () => {
    const [thread] = laneThreads(1);
    try {
      for (const [total, stepMs] of [
        [100 * 256 + 17, 0],
        [40 * 256, 0],
        [30 * 256 + 1, 2],
      ] as const) {
        const r = consumeHere({ total, slotBytes: 256, threads: [thread!], callerClaims: true, stepMs });
        expect(r.bytes.equals(pattern(total, 256))).toBe(true);
        // Slots past the end may be claimed and found empty, never worked twice.
        expect(r.steps[0]!.slice(0, r.chunks)).toEqual(Array<number>(r.chunks).fill(1));
        expect(r.steps[0]!.every((n) => n <= 1)).toBe(true);
        expect(r.kept).toEqual([]);
      }
    } finally {
      thread!.terminate();
    }
  });

  test("when the calling thread may not fill slots (a pipe), only the lane does, until the end", () => {
    const [thread] = laneThreads(1);
    try {
      const total = 50 * 128 + 3;
      const r = consumeHere({ total, slotBytes: 128, threads: [thread!], callerClaims: false });
      expect(r.bytes.equals(pattern(total, 128))).toBe(true);
      expect(r.onThreads).toEqual([r.chunks]);
    } finally {
      thread!.terminate();
    }
  });

  test("a lane whose thread never starts is filled by the calling thread after the timeout, in order", async () => {
    const [thread] = laneThreads(1, NO_SUCH_SCRIPT);
    const total = 20 * 128 + 9;
    let r: ReturnType<typeof consumeHere> | undefined;
    const said = await fallbacksDuring(() => {
      r = consumeHere({ total, slotBytes: 128, threads: [thread!], callerClaims: false, startTimeoutMs: 200 });
    });
    thread!.terminate();
    expect(r!.bytes.equals(pattern(total, 128))).toBe(true);
    expect({ onThreads: r!.onThreads, kept: r!.kept, steps: r!.steps[0]!.slice(0, r!.chunks + 1) }).toEqual({ onThreads: [0], kept: [0], steps: [...Array<number>(r!.chunks).fill(1), 0] });
    expect(said).toEqual(["the read thread did not start within 0.2 s; the calling thread does its work"]);
  });

  test("a lane that fails: the calling thread gets its errno", () => {
    const [thread] = laneThreads(1);
    try {
      expect(() => consumeHere({ total: 50 * 128, slotBytes: 128, threads: [thread!], callerClaims: false, failAt: 5 })).toThrow(expect.objectContaining({ code: "EIO", errno: 5 }));
    } finally {
      thread!.terminate();
    }
  });
});
