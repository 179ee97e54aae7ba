/**
 * A read thread behind {@link RangeReads} (lib/serve/range_reads.ts): copies pieces of tape
 * records into the shared buffer of a response. A worker entry point
 * (lib/thread/entry_points.ts).
 */
import { answerRequests } from "../thread/requests.ts";
import { readPieces, type PiecesRequest } from "./range_reads.ts";

answerRequests((request: PiecesRequest) => readPieces(request));
