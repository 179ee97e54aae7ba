/**
 * Who may ask: the server listens on loopback unless told otherwise, and on any other address
 * only with a token. The token is given or generated (then printed once, with the URL); a
 * request carries it as `Authorization: Bearer T`, as `?token=T` (the link printed at start,
 * which also sets a cookie so the portal's own requests carry it), or as that cookie.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { usageError } from "../core/errors.ts";

/** Where to listen. */
export interface ListenAddress {
  hostname: string;
  port: number;
}

/** The default listen address. */
export const DEFAULT_LISTEN = "127.0.0.1:8740";

/** Name of the cookie the portal's token travels in. */
export const TOKEN_COOKIE = "cartserve_token";

/**
 * Reads `HOST:PORT`, `[V6]:PORT`, `:PORT` (loopback) or `PORT`.
 * @throws {CliError} (usage) naming the value when it is none of these.
 * @example
 * parseListen("0.0.0.0:8080"); // { hostname: "0.0.0.0", port: 8080 }
 * parseListen("[::1]:0"); // { hostname: "::1", port: 0 }
 */
export function parseListen(text: string): ListenAddress {
  const value = text.trim();
  const match = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:[\]]*):(\d{1,5})$/.exec(value) ?? /^()(\d{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) throw usageError(`--listen ${text}: expected HOST:PORT, [IPv6]:PORT or PORT`);
  return { hostname: match[1] || "127.0.0.1", port };
}

/** Whether an address only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || /^::ffff:127\./.test(host);
}

/** A fresh token: 24 random bytes, URL-safe. */
export function generateToken(): string {
  return randomBytes(24).toString("base64url");
}

/** Checks a token someone gave: long enough and URL-safe, so it can travel in a link and a cookie. */
export function checkToken(token: string): string {
  if (!/^[A-Za-z0-9._~-]{16,}$/.test(token)) throw usageError("--token: use at least 16 characters of A-Z a-z 0-9 . _ ~ -");
  return token;
}

/** The token a request carries, from its Authorization header, `?token=` or the cookie. */
export function presentedToken(request: Request, url: URL): string | undefined {
  const authorization = request.headers.get("authorization");
  const bearer = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
  if (bearer) return bearer;
  const query = url.searchParams.get("token");
  if (query) return query;
  const cookies = request.headers.get("cookie") ?? "";
  for (const part of cookies.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === TOKEN_COOKIE) return value.join("=");
  }
  return undefined;
}

/** Compares in constant time, so the answer's timing tells nothing about the token. */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
