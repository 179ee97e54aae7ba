/**
 * The reader thread behind {@link readChunks}: it claims chunks of the file and copies them into
 * the shared ring while the calling thread hashes, so reading and hashing use both cores (see
 * lib/io/ring.ts). Built as an extra entry point of every tool (scripts/build.ts).
 */
import { errnoOf } from "../core/errors.ts";
import { fillChunk } from "./fill.ts";
import { controlLength, lengthIndex, RING, type RingJob } from "./ring.ts";

declare const self: Worker;

function work(job: RingJob): void {
  const data = new Uint8Array(job.data);
  const control = new Int32Array(job.control);
  if (control.length !== controlLength(job.slots)) throw new Error("ring layout mismatch");
  const stopped = () => Atomics.load(control, RING.cancel) !== 0 || Atomics.load(control, RING.errno) !== 0;
  // Take the job, unless the caller finished it alone or the ring has moved on to another file.
  if (Atomics.compareExchange(control, RING.job, job.id, -job.id) !== job.id) return;
  try {
    for (;;) {
      if (stopped()) return;
      const k = Atomics.load(control, RING.claim);
      if (k >= Atomics.load(control, RING.eofAt)) return;
      const consumed = Atomics.load(control, RING.consumed);
      if (k - consumed >= job.slots) {
        Atomics.wait(control, RING.consumed, consumed, 100);
        continue;
      }
      if (Atomics.compareExchange(control, RING.claim, k, k + 1) !== k) continue;
      const slot = k % job.slots;
      const n = fillChunk(job.fd, data, slot * job.chunkSize, job.chunkSize, job.positioned ? k * job.chunkSize : null, stopped);
      if (job.positioned ? n < job.chunkSize : n === 0) {
        // The end: no chunk after this one exists.
        let eof = Atomics.load(control, RING.eofAt);
        while (k + 1 < eof) {
          const seen = Atomics.compareExchange(control, RING.eofAt, eof, k + 1);
          if (seen === eof) break;
          eof = seen;
        }
      }
      Atomics.store(control, lengthIndex(job.slots, slot), n);
      Atomics.store(control, RING.tags + slot, k + 1);
      Atomics.notify(control, RING.tags + slot);
      if (!job.positioned && n === 0) return;
    }
  } catch (error) {
    Atomics.store(control, RING.errno, errnoOf(error));
    for (let slot = 0; slot < job.slots; slot++) Atomics.notify(control, RING.tags + slot);
  } finally {
    Atomics.store(control, RING.busy, 0);
    Atomics.notify(control, RING.busy);
  }
}

self.onmessage = (event: MessageEvent<RingJob>) => work(event.data);

