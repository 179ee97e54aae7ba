/**
 * The HTTP server: read-only (GET and HEAD; anything else 405), files by `/files/<SOURCE>/<PATH>`,
 * the list at `/api/files`, the portal at `/`, and the portal's previews, proxies and
 * extractions. Every request is checked for the token first when one is required.
 *
 * | address | what |
 * |---|---|
 * | `/` | the portal (one page) |
 * | `/assets/hls.min.js` | hls.js, from npm, embedded |
 * | `/api/files` | JSON: one object per file (source, path, size, url, digests, tapes, …) |
 * | `/files/<SOURCE>/<PATH>` | a file, with ranges and validators |
 * | `/api/clip?url=<file url>` | the clip's metadata and proxy state |
 * | `/api/proxies?url=…` | starts making the clip's proxies; their state |
 * | `/api/extract?url=…&in=TC&out=TC&handles=N&codec=C` | extracts; JSON with the download address |
 * | `/proxies/<key>/…` | thumbnails, HLS playlists and segments, the progressive MP4 |
 * | `/extracts/<key>/<name>` | an extraction, as a download |
 */
import { existsSync, fstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import hlsScript from "hls.js/dist/hls.min.js" with { type: "text" };
import portalPage from "./portal.html" with { type: "text" };
import { CliError } from "../core/errors.ts";
import { isLoopback, presentedToken, TOKEN_COOKIE, tokenMatches, type ListenAddress } from "./access.ts";
import type { Catalog, CatalogEntry } from "./catalog.ts";
import { DescriptorCache } from "./descriptors.ts";
import { contentTypeOf } from "./media_types.ts";
import { Previews } from "./previews.ts";
import { respond, type Representation } from "./respond.ts";
import { entityTag, SourceError, type RangeReader, type Source, type SourceFile } from "./source.ts";

/** What the server tells its owner (the tool prints it). */
export type ServerEvent =
  | { event: "body-error"; path: string; message: string }
  | { event: "preview-error"; path: string; message: string }
  /** A file not served (404 or 500) because its bytes are missing, unreadable or damaged. */
  | { event: "source-error"; path: string; message: string };

/** Options of {@link startServer}. */
export interface ServerOptions {
  catalog: Catalog;
  listen: ListenAddress;
  /** Required of every request when set. */
  token?: string;
  /** The proxies folder: previews, renditions and extractions are kept there. */
  proxies: string;
  onEvent?: (event: ServerEvent) => void;
  /** Probe every clip in the background once started, so reels and timecodes can be searched. @default true */
  probeClips?: boolean;
}

/** A running server. */
export interface RunningServer {
  /** The portal's address (without the token). */
  url: string;
  port: number;
  previews: Previews;
  stop(): Promise<void>;
}

/**
 * Starts the server. A listen address other than loopback needs a token.
 * @throws {CliError} (usage) when listening off loopback without a token.
 */
export function startServer(options: ServerOptions): RunningServer {
  const { catalog, token } = options;
  if (!isLoopback(options.listen.hostname) && token === undefined) throw new CliError(`listening on ${options.listen.hostname} needs a token`);
  const onEvent = options.onEvent ?? (() => {});
  const byUrl = new Map<string, CatalogEntry>(catalog.entries.map((e) => [e.url, e]));
  const byKey = new Map<string, CatalogEntry>(catalog.entries.filter((e) => e.clip).map((e) => [Previews.keyOf(e), e]));
  const cacheFiles = new DescriptorCache(64);
  let port = 0;
  const internalHost = isLoopback(options.listen.hostname) || ["0.0.0.0", "::", ""].includes(options.listen.hostname) ? (options.listen.hostname.includes(":") ? "[::1]" : "127.0.0.1") : options.listen.hostname.includes(":") ? `[${options.listen.hostname}]` : options.listen.hostname;
  const previews = new Previews({
    dir: options.proxies,
    sourceUrl: (entry) => `http://${internalHost}:${port}${entry.url}${token ? `?token=${encodeURIComponent(token)}` : ""}`,
  });

  const fileRepresentation = (source: Source, file: SourceFile): Representation => {
    const etag = entityTag(file);
    return {
      size: file.size,
      contentType: contentTypeOf(file.path),
      validators: { ...(etag ? { etag } : {}), lastModifiedSeconds: Math.floor(file.mtimeMs / 1000) },
      open: (start, end) => source.open(file, start, end),
      writeDirect: true,
    };
  };

  /** A file of the proxies folder, by a path made only of checked names. */
  const cachedRepresentation = (relative: string, download?: string): Representation | undefined => {
    const path = join(previews.dir, relative);
    let size: number;
    let mtimeMs: number;
    try {
      const fd = cacheFiles.acquire(path, () => openSync(path, "r"));
      try {
        const stats = fstatSync(fd);
        if (!stats.isFile()) return undefined;
        size = stats.size;
        mtimeMs = stats.mtimeMs;
      } finally {
        cacheFiles.release(path, fd);
      }
    } catch {
      return undefined;
    }
    return {
      size,
      contentType: contentTypeOf(relative),
      // Made once and never changed: size and time tell versions apart.
      validators: { etag: `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`, lastModifiedSeconds: Math.floor(mtimeMs / 1000) },
      open: (start, end) => cachedReader(cacheFiles, path, start, end),
      headers: download ? { "content-disposition": attachmentHeader(download) } : undefined,
    };
  };

  const serve = async (request: Request, rep: Representation | undefined, what: string): Promise<Response> => {
    if (!rep) return notFound();
    try {
      return await respond(request, rep, (error) => {
        // A damaged object found by two responses at once is said by the first.
        if (!(error instanceof SourceError && error.repeated)) onEvent({ event: "body-error", path: what, message: error instanceof Error ? error.message : String(error) });
      });
    } catch (error) {
      if (error instanceof SourceError) {
        if (error.reason !== "missing" && !error.repeated) onEvent({ event: "source-error", path: what, message: error.message });
        // Damaged bytes are the server's fault, not the address's: 500, never cached as an answer.
        if (error.reason === "damaged") return new Response("the file's bytes are damaged; not served\n", { status: 500, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
        return notFound();
      }
      throw error;
    }
  };

  const entryOf = (url: URL): CatalogEntry | undefined => {
    const address = url.searchParams.get("url");
    return address === null ? undefined : byUrl.get(address);
  };

  const clipJson = async (entry: CatalogEntry, make: boolean): Promise<Response> => {
    try {
      const info = await previews.info(entry);
      const thumb = await previews.thumbnail(entry).catch(() => undefined);
      const proxies = make ? await previews.startProxies(entry) : previews.proxyState(entry);
      return json({ url: entry.url, info, thumbnail: thumb ? `/proxies/${thumb}` : null, proxies: withAddresses(proxies) });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      onEvent({ event: "preview-error", path: entry.url, message });
      return json({ url: entry.url, error: message }, 422);
    }
  };

  const route = async (request: Request, url: URL): Promise<Response> => {
    const path = url.pathname;
    if (path === "/" || path === "/index.html") return new Response(portalPage as unknown as string, { headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" } });
    if (path === "/assets/hls.min.js") return new Response(hlsScript, { headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "max-age=86400" } });
    if (path === "/api/files") {
      return json(
        catalog.entries.map((entry) => {
          const info = entry.clip ? previews.known(entry) : undefined;
          return { ...entry, ...(info ? { reel: info.reel, timecode: info.start, rate: info.rate } : {}) };
        }),
      );
    }
    if (path.startsWith("/files/")) {
      const resolved = catalog.resolve(path.slice("/files/".length));
      return serve(request, resolved ? fileRepresentation(resolved.source, resolved.file) : undefined, path);
    }
    if (path === "/api/clip" || path === "/api/proxies") {
      const entry = entryOf(url);
      if (!entry?.clip) return notFound();
      return clipJson(entry, path === "/api/proxies");
    }
    if (path === "/api/extract") {
      const entry = entryOf(url);
      if (!entry?.clip) return notFound();
      const inPoint = url.searchParams.get("in") ?? "";
      const outPoint = url.searchParams.get("out") ?? "";
      const handles = Number(url.searchParams.get("handles") ?? "0");
      if (!Number.isSafeInteger(handles) || handles < 0 || handles > 100_000) return json({ error: "handles: a whole number of frames" }, 400);
      try {
        const made = await previews.extract(entry, inPoint, outPoint, handles, url.searchParams.get("codec") ?? undefined);
        return json({ ...made, url: `/${made.relative.split("/").map(encodeURIComponent).join("/")}` });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        onEvent({ event: "preview-error", path: entry.url, message });
        return json({ error: message }, error instanceof CliError && error.exitCode === 2 && !/ffmpeg/.test(message) ? 400 : 500);
      }
    }
    const mp4 = /^\/proxies\/([^/]+)\/proxy\.mp4$/.exec(path);
    if (mp4 && Previews.isKey(mp4[1]!) && !existsSync(join(previews.dir, mp4[1]!, "proxy.mp4"))) {
      const entry = byKey.get(mp4[1]!);
      if (!entry) return notFound();
      try {
        const made = await previews.progressive(entry);
        if (made.state === "making") return new Response("the progressive MP4 is being made; ask again\n", { status: 503, headers: { "retry-after": "5", "content-type": "text/plain; charset=utf-8" } });
      } catch (error) {
        return json({ error: error instanceof Error ? error.message : String(error) }, 500);
      }
    }
    const proxied = /^\/proxies\/([^/]+)\/(thumb\.jpg|proxy\.mp4|hls\/master\.m3u8|hls\/(\d{3,4}p)\/(index\.m3u8|init(?:_\d{1,2})?\.mp4|seg_\d{5}\.m4s))$/.exec(path);
    if (proxied && Previews.isKey(proxied[1]!)) return serve(request, cachedRepresentation(`${proxied[1]}/${proxied[2]}`), path);
    const extracted = /^\/extracts\/([^/]+)\/([^/]+)$/.exec(path);
    if (extracted && Previews.isKey(extracted[1]!)) {
      let name: string | undefined;
      try {
        name = decodeURIComponent(extracted[2]!);
      } catch {
        // malformed percent-encoding: no such file
      }
      if (name !== undefined && /^[^/\\\0]+\.mov$/.test(name) && !name.startsWith(".")) return serve(request, cachedRepresentation(`extracts/${extracted[1]}/${name}`, name), path);
    }
    return notFound();
  };

  const server = Bun.serve({
    hostname: options.listen.hostname,
    port: options.listen.port,
    idleTimeout: 120,
    async fetch(request) {
      const url = new URL(request.url);
      // Without a token, a request must name this machine: a page of another site whose name was
      // made to lead here (DNS rebinding) names its own, and is not answered.
      if (token === undefined && !isLoopback(hostOf(request.headers.get("host") ?? url.host))) {
        return new Response("this server answers requests for a loopback name only (localhost, 127.0.0.1, [::1])\n", { status: 421, headers: { "content-type": "text/plain; charset=utf-8" } });
      }
      let setCookie: string | undefined;
      if (token !== undefined) {
        const given = presentedToken(request, url);
        if (!tokenMatches(token, given)) {
          return new Response("a token is needed: open the address printed when the server started\n", {
            status: 401,
            headers: { "www-authenticate": 'Bearer realm="cartserve"', "content-type": "text/plain; charset=utf-8" },
          });
        }
        if (url.searchParams.get("token") !== null) setCookie = `${TOKEN_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`;
      }
      if (request.method !== "GET" && request.method !== "HEAD") {
        return new Response("read-only: GET and HEAD only\n", { status: 405, headers: { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" } });
      }
      const response = await route(request, url);
      if (setCookie) response.headers.append("set-cookie", setCookie);
      // The archive's files are anyone's: an XML or SVG one holding a script must not run it as
      // this server's page. Only the portal's own page and script are documents of this origin.
      response.headers.set("x-content-type-options", "nosniff");
      if (!OWN_PAGES.has(url.pathname)) response.headers.set("content-security-policy", "sandbox; default-src 'none'");
      return response;
    },
    error(error) {
      onEvent({ event: "body-error", path: "", message: error instanceof Error ? error.message : String(error) });
      return new Response("internal error\n", { status: 500 });
    },
  });
  port = server.port ?? options.listen.port;
  let stopped = false;
  if (options.probeClips !== false) {
    void (async () => {
      for (const entry of catalog.entries) {
        if (stopped) return;
        if (!entry.clip || previews.known(entry)) continue;
        await previews.info(entry).catch((error: unknown) => onEvent({ event: "preview-error", path: entry.url, message: error instanceof Error ? error.message : String(error) }));
      }
    })();
  }
  const shownHost = options.listen.hostname.includes(":") ? `[${options.listen.hostname}]` : options.listen.hostname;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    previews,
    async stop() {
      stopped = true;
      await server.stop(true);
      cacheFiles.close();
    },
  };
}

/** The proxy state with the addresses the portal fetches. */
function withAddresses(state: ReturnType<Previews["proxyState"]>): unknown {
  if (state.state !== "ready") return state;
  return { state: "ready", hls: `/proxies/${state.hls}`, mp4: `/proxies/${state.hls.split("/")[0]}/proxy.mp4` };
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-cache" } });
}

function notFound(): Response {
  return new Response("not found\n", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/** Reads a range of a file of the proxies folder through a cached descriptor. */
function cachedReader(cache: DescriptorCache, path: string, start: number, end: number): RangeReader {
  let fd: number | undefined = cache.acquire(path, () => openSync(path, "r"));
  let position = start;
  return {
    read(into) {
      if (fd === undefined) return 0;
      const want = Math.min(into.length, end - position);
      let filled = 0;
      while (filled < want) {
        const n = readSync(fd, into, filled, want - filled, position);
        if (n === 0) break;
        filled += n;
        position += n;
      }
      return filled;
    },
    close() {
      if (fd !== undefined) cache.release(path, fd);
      fd = undefined;
    },
  };
}

/** The server's own page and its script: every other response is sandboxed. */
const OWN_PAGES = new Set(["/", "/index.html", "/assets/hls.min.js"]);

/** The host name of a Host header (`name:port`, `[v6]:port`), without brackets. */
function hostOf(host: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(host);
  if (bracketed) return bracketed[1]!;
  const colon = host.lastIndexOf(":");
  return colon >= 0 && host.indexOf(":") === colon ? host.slice(0, colon) : host;
}

/**
 * `Content-Disposition: attachment` for a file name of any characters (RFC 6266): an ASCII
 * stand-in in `filename`, the name itself in `filename*` (UTF-8, percent-encoded).
 */
export function attachmentHeader(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const encoded = encodeURIComponent(name.isWellFormed() ? name : name.toWellFormed()).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
