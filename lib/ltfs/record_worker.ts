/**
 * The record writer thread behind {@link VtapeWriter}: it creates the virtual tape's record
 * files from the shared ring while the calling thread reads and hashes the next blocks, so the
 * copy into the page cache (the largest cost of writing a virtual tape) runs beside them. Built as
 * an extra entry point of every tool (scripts/build.ts).
 */
import { errnoOf } from "../core/errors.ts";
import { RECORDS, recordMeta, writeRecordFile, type RecordJob } from "./vtape.ts";

declare const self: Worker;

function work(job: RecordJob): void {
  const control = new Int32Array(job.control);
  // Take the job, unless the caller has already taken it back to write the records itself.
  if (Atomics.compareExchange(control, RECORDS.owner, 0, 1) !== 0) return;
  try {
    writeRecords(job, control);
  } catch (error) {
    // Anything else that goes wrong here must reach the caller too, or it would wait forever.
    fail(control, -1, -1, error);
  }
}

/** Records the failure of the record at (`partition`, `block`; -1 when not writing one) and wakes the caller. */
function fail(control: Int32Array, partition: number, block: number, error: unknown): void {
  control[RECORDS.failedPartition] = partition;
  control[RECORDS.failedBlock] = block;
  Atomics.store(control, RECORDS.errno, errnoOf(error));
  Atomics.notify(control, RECORDS.written);
}

function writeRecords(job: RecordJob, control: Int32Array): void {
  const data = new Uint8Array(job.data);
  for (let k = 0; ; k++) {
    for (;;) {
      const posted = Atomics.load(control, RECORDS.posted);
      if (k < posted) break;
      if (Atomics.load(control, RECORDS.stop) !== 0) return;
      Atomics.wait(control, RECORDS.posted, posted, 1000);
    }
    const slot = k % job.slots;
    const meta = recordMeta(slot);
    const partition = control[meta]!;
    const block = control[meta + 1]!;
    const length = control[meta + 2]!;
    try {
      writeRecordFile(job.dir, partition, block, data.subarray(slot * job.recordSize, slot * job.recordSize + length), job.writeback);
    } catch (error) {
      fail(control, partition, block, error);
      return;
    }
    Atomics.store(control, RECORDS.written, k + 1);
    Atomics.notify(control, RECORDS.written);
  }
}

self.onmessage = (event: MessageEvent<RecordJob>) => work(event.data);
