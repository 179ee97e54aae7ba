/**
 * Flushing a whole file system (syncfs) without blocking the calling thread: the call runs on a
 * flusher thread (lib/io/flush_worker.ts) while copies go on. A syncfs waits for every dirty
 * page of the file system, which takes as long as the device needs; on the calling thread it
 * stopped every copy in flight for that long.
 */
import { flushFileSystem } from "./libc.ts";
import { RequestPool } from "../thread/requests.ts";

/** The flusher thread, started at the first flush; idle, it does not keep the process alive. */
const flusher = new RequestPool<string, boolean>("flush");
/** Set when the flusher thread failed: flushes then run on the calling thread. */
let failed = false;

/**
 * Flushes the file system holding `folder` (Linux syncfs) on the flusher thread. Resolves
 * false where syncfs is missing or fails, so the caller flushes file by file instead. When the
 * flusher thread does not start, fails or ends, this flush and the ones after it run here.
 */
export async function flushFileSystemOffThread(folder: string): Promise<boolean> {
  if (!failed) {
    try {
      return await flusher.request(folder);
    } catch {
      failed = true;
    }
  }
  return flushFileSystem(folder);
}
