/**
 * Worker side of {@link HashPool}: hashes one file per request. A worker entry point
 * (lib/thread/entry_points.ts).
 */
import { runBatchHere, runJobHere, type HashJob, type HashJobResult } from "./pool.ts";
import { answerRequests } from "../thread/requests.ts";

answerRequests(async (job: HashJob | HashJob[]): Promise<HashJobResult | HashJobResult[]> => (Array.isArray(job) ? runBatchHere(job) : runJobHere(job)));
