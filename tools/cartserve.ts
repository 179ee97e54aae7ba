#!/usr/bin/env bun
/**
 * cartserve — browse, stream and preview the archive without restoring it. Serves virtual
 * tapes (records read by their extents), mounted LTFS volumes, cartvault stores (objects read
 * where they are) and destination folders over HTTP with byte ranges and validators, lists every file at /api/files, and gives people a
 * portal to search, play proxies of clips at their source timecode, mark in/out and extract.
 */
// First: a run of many files restarts before the rest is loaded.
import "../lib/cli/restart_first.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineCommand, type ArgsDef, type ParsedArgs } from "citty";
import { toolLog } from "../lib/cli/log.ts";
import { Output } from "../lib/cli/output.ts";
import { runTool } from "../lib/cli/run.ts";
import { CliError, usageError } from "../lib/core/errors.ts";
import { parseCount } from "../lib/core/units.ts";
import { showName } from "../lib/core/names.ts";
import { VERSION } from "../lib/core/version.ts";
import { checkToken, DEFAULT_LISTEN, generateToken, isLoopback, parseListen } from "../lib/serve/access.ts";
import { Catalog } from "../lib/serve/catalog.ts";
import { openSources } from "../lib/serve/open_source.ts";
import { RangeReads } from "../lib/serve/range_reads.ts";
import { startServer } from "../lib/serve/server.ts";
import type { Source } from "../lib/serve/source.ts";

const TOOL = "cartserve";
/**
 * Read threads by default. On the 2 shared cores it was measured on (BENCHMARKS.md, notes on
 * the serve benchmark), a read thread cost more CPU per response than it saved the serving thread.
 */
const DEFAULT_THREADS = 0;

const ARGS = {
  sources: { type: "positional", description: "cartvault stores (STORE: every branch; STORE@REF: one version), virtual tapes, mounted LTFS volumes or destination folders (NAME=PATH to name one)" },
  listen: { type: "string", description: `Address to listen on (default ${DEFAULT_LISTEN}); off loopback a token is required`, valueHint: "HOST:PORT" },
  token: { type: "string", description: "Token every request must carry (generated and printed when listening off loopback without one)", valueHint: "T" },
  proxies: { type: "string", description: "Folder for previews, proxies and extractions, kept per content digest (default: a temporary folder removed at exit)", valueHint: "DIR" },
  threads: { type: "string", description: "Threads reading tape records for responses (default 0: the serving thread reads them)", valueHint: "N" },
  quiet: { type: "boolean", alias: "q", description: "Errors and warnings only on stderr" },
  verbose: { type: "boolean", alias: "v", description: "Debug lines on stderr too (also CARTKIT_DEBUG=1)" },
} as const satisfies ArgsDef;

type Args = ParsedArgs<typeof ARGS>;

const command = defineCommand({
  meta: { name: TOOL, version: VERSION, description: "Serve tapes, vaults and destinations over HTTP (ranges, validators) with a preview portal." },
  args: ARGS,
});

const EPILOGUE = `Sources are detected: a cartvault store (every branch, or STORE@REF: the
commit a branch, a commit id or a unique prefix of one names), a virtual tape
(ltfs-pack write --vtape), a mounted LTFS volume (its root carries LTFS's volume
attributes), or a folder (a destination with its ASC MHL). Each is addressed by
its name: VAULT@REF (the store folder's name, then the branch or REF), the tape
serial, or the folder's name; NAME=PATH names one yourself (NAME=STORE@REF is
addressed as NAME@REF). A branch is served as it was when the server started;
a ref that cannot be read is named on stderr and left out.

A vault's files are read from its objects (never through a link; the store's
shared lock is held so 'cartvault gc' waits). Their ETag is the BLAKE3 the
vault names the object by. An object that is missing answers 404; one that is
damaged (not a regular file, the wrong size, or bytes whose BLAKE3 is not its
name) answers 500, or has its response cut before its last bytes, and is named
once on stderr. Objects up to 1 MiB are hashed whole before any byte is sent; a
larger one is hashed whenever all of it is sent, its last bytes held until the
hash matches. Prove every byte with 'cartvault verify'.

Addresses:
  /                          the portal: search, thumbnails, playback, in/out, extract
  /api/files                 JSON: source, path, size, url, digests, tapes per file
  /files/<SOURCE>/<PATH>     a file: Range (single, open, suffix, multipart), If-Range,
                             ETag from the recorded digest, Last-Modified, 304, HEAD
Only GET and HEAD are answered (anything else: 405). Paths resolve inside their
source only; a link in a folder is never followed.

Reading: a body of up to 1 MiB is read into one buffer and sent at once; longer
bodies are streamed as the client takes them. --threads N has N threads copy
a tape's records from the page cache while the serving thread answers other
connections (default 0: the serving thread reads them; on 2 cores a read
thread cost more than it saved).

Access: loopback only by default. Listening on any other address needs a token
(--token, or one generated and printed once with the URL); requests without it
get 401. The token travels as 'Authorization: Bearer T', '?token=T' or the
cookie the portal link sets.

Prints the portal's URL on stdout, then serves until interrupted. Files served
without a recorded digest, and files left out, are named on stderr at start.

Exit codes:
  1    a virtual tape's label or index record is a symbolic link or not a
       regular file (never followed or read; a file whose data record is one is
       left out, named on stderr, and answers 404); a vault's branch or commit
       that cannot be trusted (its bytes do not hash to its id, a bad ref)
  2    usage error, or a source that cannot be read
  130  interrupted (Ctrl-C), 143 terminated: the normal way to stop it`;

async function main(args: Args): Promise<number> {
  const arguments_ = args._;
  if (arguments_.length === 0) throw usageError(`give at least one SOURCE; see '${TOOL} --help'`);
  const out = new Output();
  const log = toolLog(TOOL, { output: out, quiet: args.quiet, verbose: args.verbose });
  const listen = parseListen(args.listen ?? DEFAULT_LISTEN);
  let token = args.token === undefined ? undefined : checkToken(args.token);
  const generated = token === undefined && !isLoopback(listen.hostname);
  if (generated) token = generateToken();

  const threads = args.threads === undefined ? DEFAULT_THREADS : parseCount(args.threads, "--threads", 0);
  const reads = threads > 0 ? new RangeReads(threads) : undefined;
  const sources: Source[] = [];
  let problems = 0;
  for (const argument of arguments_) {
    for (const source of await openSources(argument, reads)) {
      sources.push(source);
      for (const problem of source.problems) log.warn(`${showName(problem.path)}: ${problem.message}`);
      problems += source.problems.length;
      const commit = source.version ? ` (commit ${source.version.commit.slice(0, 12)})` : "";
      log.info(`${source.kind} ${source.name}: ${source.files().length} files from ${showName(source.location)}${commit}`);
    }
  }
  const catalog = new Catalog(sources);
  if (problems > 0) log.warn(`${problems} file(s) left out or served without a recorded digest (named above)`);

  const temporary = args.proxies === undefined;
  const proxies = temporary ? mkdtempSync(join(tmpdir(), "cartserve-proxies-")) : args.proxies;
  if (temporary) {
    process.on("exit", () => rmSync(proxies, { recursive: true, force: true }));
    log.info(`previews are kept in ${proxies} until exit; give --proxies DIR to keep them`);
  }
  let server;
  try {
    server = startServer({
      catalog,
      listen,
      token,
      proxies,
      onEvent: (event) => log.warn(`${event.path}: ${{ "body-error": "response cut: ", "preview-error": "preview: ", "source-error": "not served: " }[event.event]}${event.message}`),
    });
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot listen on ${listen.hostname}:${listen.port}: ${(error as Error).message}`);
  }
  out.data(`${server.url}${generated ? `?token=${token}` : ""}\n`);
  if (generated) log.warn("a token was generated for this run; it is in the address above and is not shown again");
  out.flush();
  await new Promise(() => {});
  return 0;
}

await runTool({ command, epilogue: EPILOGUE, main: (args) => main(args) });
