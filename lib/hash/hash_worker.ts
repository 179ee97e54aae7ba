/**
 * Worker side of {@link HashPool}: hashes one file per message. Built as an extra entry point of
 * every compiled tool that hashes in parallel (see scripts/build.ts).
 */
import { runJobHere, type HashJob } from "./pool.ts";

declare const self: Worker;

self.onmessage = async (event: MessageEvent<HashJob>) => {
  self.postMessage(await runJobHere(event.data));
};
