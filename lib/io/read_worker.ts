/**
 * The reader thread behind {@link readChunks}: it claims chunks of the file and copies them into
 * the read ring while the calling thread hashes, so reading and hashing use both cores (see
 * lib/io/reader.ts). A worker entry point (lib/thread/entry_points.ts).
 */
import { serveRing } from "../thread/ring.ts";
import { readLane } from "./read_lane.ts";

serveRing(readLane);
