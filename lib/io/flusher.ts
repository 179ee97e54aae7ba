/**
 * Flushing a whole file system (syncfs) without blocking the calling thread: the call runs on a
 * flusher thread (lib/io/flush_worker.ts) while copies go on. A syncfs waits for every dirty
 * page of the file system, which takes as long as the device needs; on the calling thread it
 * stopped every copy in flight for that long.
 */
import { flushFileSystem } from "./libc.ts";
import { workerUrl } from "../thread/worker_url.ts";

/** What the flusher thread is sent. */
export interface FlushRequest {
  id: number;
  folder: string;
}

let thread: Worker | undefined;
/** Set when the flusher thread failed: flushes then run on the calling thread. */
let failed = false;
let lastId = 0;
const pending = new Map<number, { folder: string; resolve: (ok: boolean) => void }>();

function flusher(): Worker {
  if (thread) return thread;
  const worker = new Worker(workerUrl(import.meta.url, "lib/io/flusher.ts", "lib/io/flush_worker.ts"));
  worker.onmessage = (event: MessageEvent<{ id: number; ok: boolean }>) => {
    const request = pending.get(event.data.id);
    pending.delete(event.data.id);
    // Idle, the thread must not keep the process alive; busy, it must (the caller awaits it).
    if (pending.size === 0) worker.unref();
    request?.resolve(event.data.ok);
  };
  // A thread that fails to load or ends: what it was asked is flushed here, and so is what follows.
  const giveUp = () => {
    if (thread !== worker) return;
    failed = true;
    thread = undefined;
    worker.terminate();
    for (const [id, request] of pending) {
      pending.delete(id);
      request.resolve(flushFileSystem(request.folder));
    }
  };
  worker.onerror = giveUp;
  worker.addEventListener("close", giveUp);
  thread = worker;
  return worker;
}

/**
 * Flushes the file system holding `folder` (Linux syncfs) on the flusher thread. Resolves
 * false where syncfs is missing or fails, so the caller flushes file by file instead.
 */
export function flushFileSystemOffThread(folder: string): Promise<boolean> {
  if (failed) return Promise.resolve(flushFileSystem(folder));
  const worker = flusher();
  return new Promise((resolve) => {
    const id = ++lastId;
    pending.set(id, { folder, resolve });
    worker.ref();
    worker.postMessage({ id, folder } satisfies FlushRequest);
  });
}
