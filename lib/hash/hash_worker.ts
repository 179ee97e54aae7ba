/**
 * Worker side of {@link HashPool}: hashes one file per request. A worker entry point
 * (lib/thread/entry_points.ts).
 */
import { runJobHere, type HashJob } from "./pool.ts";
import { answerRequests } from "../thread/requests.ts";

answerRequests((job: HashJob) => runJobHere(job));
