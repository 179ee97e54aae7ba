/**
 * The record writer thread behind {@link VtapeWriter}: it creates the virtual tape's record
 * files from the shared ring while the calling thread reads and hashes the next blocks, so the
 * copy into the page cache (the largest cost of writing a virtual tape) runs beside them. A
 * worker entry point (lib/thread/entry_points.ts).
 */
import { serveRing } from "../thread/ring.ts";
import { recordLane } from "./vtape.ts";

serveRing(recordLane);
