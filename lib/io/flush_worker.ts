/**
 * The flusher thread behind {@link flushFileSystemOffThread}: runs each syncfs it is asked for,
 * so the thread that reads, hashes and starts writes goes on while the device catches up. Built
 * as an extra entry point of every tool (scripts/build.ts).
 */
import { flushFileSystem } from "./libc.ts";
import type { FlushRequest } from "./flusher.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<FlushRequest>) => {
  self.postMessage({ id: event.data.id, ok: flushFileSystem(event.data.folder) });
};
