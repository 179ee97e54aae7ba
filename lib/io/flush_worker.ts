/**
 * The flusher thread behind {@link flushFileSystemOffThread}: runs each syncfs it is asked for,
 * so the thread that reads, hashes and starts writes goes on while the device catches up. A
 * worker entry point (lib/thread/entry_points.ts).
 */
import { flushFileSystem } from "./libc.ts";
import { answerRequests } from "../thread/requests.ts";

answerRequests((folder: string) => flushFileSystem(folder));
