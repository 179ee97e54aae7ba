/**
 * Worker side of {@link HashPool}: hashes one file per request. A worker entry point
 * (lib/thread/entry_points.ts).
 */
import { answerBatch, runBatchHere, runJobHere, type BatchReply, type BatchRequest, type HashJob, type HashJobResult } from "./pool.ts";
import { answerRequests } from "../thread/requests.ts";

answerRequests(async (job: HashJob | HashJob[] | BatchRequest): Promise<HashJobResult | HashJobResult[] | BatchReply> => (Array.isArray(job) ? runBatchHere(job) : "fds" in job ? answerBatch(job) : runJobHere(job)));
