#!/usr/bin/env bun
/**
 * Reads every file below a folder from the device: each file's cached pages are dropped first
 * (posix_fadvise DONTNEED, lib/io/libc.ts), then it is read to the end. The read-back half of a
 * verified copy's floor: `cp -r && sync -f` and then this is what a copy read back costs.
 *
 *   bun bench/cold_read.ts DIR
 */
import { closeSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { evictFromCache } from "../lib/io/libc.ts";

const buffer = Buffer.allocUnsafe(1 << 20);
let bytes = 0;
const stack = [process.argv[2] ?? "."];
while (stack.length > 0) {
  const folder = stack.pop()!;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      stack.push(path);
      continue;
    }
    const fd = openSync(path, "r");
    try {
      evictFromCache(fd);
      for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) bytes += n;
      evictFromCache(fd);
    } finally {
      closeSync(fd);
    }
  }
}
process.stderr.write(`read ${bytes} bytes\n`);
