/**
 * A writer thread of a fan-out (lib/io/fanout.ts): reserves one file's blocks, then writes it
 * chunk after chunk from the shared ring, at its own pace, starting write-back as it goes when
 * asked. A worker entry point (lib/thread/entry_points.ts).
 */
import { serveRing } from "../thread/ring.ts";
import { fanoutLane } from "./fanout.ts";

serveRing(fanoutLane);
