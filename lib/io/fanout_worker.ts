/**
 * A writer thread of a fan-out (lib/io/fanout.ts): reserves one file's blocks, then writes it
 * chunk after chunk from the shared ring, at its own pace, starting write-back as it goes when
 * asked. Built as an extra entry point of every tool (scripts/build.ts).
 */
import { errnoOf } from "../core/errors.ts";
import { writeAll } from "./atomic_file.ts";
import { FANOUT, FILE, fileField, slotLength, WRITEBACK_BYTES, type FanoutJob } from "./fanout.ts";
import { preallocate, startWriteback } from "./libc.ts";

declare const self: Worker;

function work(job: FanoutJob): void {
  const control = new Int32Array(job.control);
  const data = new Uint8Array(job.data);
  const busy = fileField(job.index, FILE.busy);
  const written = fileField(job.index, FILE.written);
  // Busy first, then take the job: the caller waits for busy to clear before it closes the file.
  Atomics.store(control, busy, 1);
  try {
    if (Atomics.compareExchange(control, fileField(job.index, FILE.owner), job.id, -job.id) !== job.id) return;
    const fail = (error: unknown) => {
      Atomics.store(control, fileField(job.index, FILE.errno), errnoOf(error));
      Atomics.notify(control, written);
    };
    const full = preallocate(job.fd, job.reserve);
    if (full) return fail({ code: full });
    let writtenBack = 0;
    for (let k = 0; ; k++) {
      for (;;) {
        if (Atomics.load(control, FANOUT.stop) !== 0) return;
        const posted = Atomics.load(control, FANOUT.posted);
        if (k < posted) break;
        Atomics.wait(control, FANOUT.posted, posted, 1000);
      }
      const slot = k % job.slots;
      const length = Atomics.load(control, slotLength(job.files, slot));
      try {
        writeAll(job.fd, data.subarray(slot * job.chunkSize, slot * job.chunkSize + length), k * job.chunkSize);
      } catch (error) {
        return fail(error);
      }
      const end = k * job.chunkSize + length;
      if (job.writeback && end - writtenBack >= WRITEBACK_BYTES) {
        startWriteback(job.fd, writtenBack, end - writtenBack);
        writtenBack = end;
      }
      Atomics.store(control, written, k + 1);
      Atomics.notify(control, written);
    }
  } finally {
    Atomics.store(control, busy, 0);
    Atomics.notify(control, busy);
  }
}

self.onmessage = (event: MessageEvent<FanoutJob>) => work(event.data);
