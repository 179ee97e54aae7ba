import { openSync, read, closeSync } from "node:fs";
import { Xxh64, xxh3 } from "@node-rs/xxhash";
import { Blake3Hasher } from "@napi-rs/blake-hash";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const addon = require("/work/main/node_modules/xxhash-addon/prebuilds/linux-x64/addon.napi.glibc.node");
const path = process.argv[2]; const chunk = Number(process.argv[3]); const depth = Number(process.argv[4]);
function mk(name: string): any {
  switch (name) {
    case "xxh64": return new Xxh64();
    case "xxh3": return xxh3.Xxh3.withSeed();
    case "a64": return new addon.XXHash64(Buffer.alloc(8));
    case "a128": return new addon.XXHash128(Buffer.alloc(8));
    case "a3": return new addon.XXHash3(Buffer.alloc(8));
    case "b3": return new Blake3Hasher();
    case "md5": return new Bun.CryptoHasher("md5");
    case "sha256": return new Bun.CryptoHasher("sha256");
  }
}
const readP = (fd: number, buf: Buffer, pos: number) => new Promise<number>((res, rej) => read(fd, buf, 0, buf.length, pos, (e, n) => e ? rej(e) : res(n)));
async function pipelined(name: string) {
  const h = mk(name); const fd = openSync(path, "r");
  const bufs = Array.from({ length: depth }, () => Buffer.allocUnsafe(chunk));
  let pos = 0; const q: Promise<number>[] = [];
  for (let i = 0; i < depth; i++) { q.push(readP(fd, bufs[i], pos)); pos += chunk; }
  let i = 0;
  for (;;) {
    const n = await q.shift()!; const b = bufs[i % depth];
    if (n <= 0) break;
    h.update(n === chunk ? b : b.subarray(0, n));
    q.push(readP(fd, b, pos)); pos += chunk; i++;
    if (n < chunk) break;
  }
  await Promise.allSettled(q);
  closeSync(fd); return h.digest();
}
for (const name of process.argv.slice(5)) {
  const t = performance.now(); const d: any = await pipelined(name); const e = performance.now() - t;
  console.log(`${name} pipe ${(e/1000).toFixed(3)}s ${typeof d === "bigint" ? d.toString(16) : Buffer.isBuffer(d) ? d.toString("hex") : d}`);
}
