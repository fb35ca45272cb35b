// HTTP errors as throwables that become responses: `throw notFound()` in a handler (port of
// web.py's webapi HTTPError family: NotFound, Redirect, SeeOther, NoMethod, InternalError…).
import { applicationUri, hostUri } from "../core/util.ts";
import type { App, Body, Environ, HeaderPair, StartResponse } from "../core/types.ts";

// node:http by getBuiltinModule, not import: see docs/ARCHITECTURE.md, "Startup".
const { STATUS_CODES } = process.getBuiltinModule("node:http");

const TEXT = "text/plain; charset=utf-8";
// RFC 3986 §3.1: a scheme, then ":". Such a URL names its host itself, and is sent as it is.
const HAS_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
// A network-path reference ("//host/x"), with "\\" for "/" as a browser reads it.
const SCHEME_RELATIVE = /^[/\\]{2}/;

/** The response an HttpError becomes: status line, headers and body. */
export interface ErrorResponse {
  status: string;
  headers: HeaderPair[];
  body: string;
}

function statusLine(status: number | string): string {
  if (typeof status === "string") return status;
  return `${status} ${STATUS_CODES[status] ?? "Unknown"}`;
}

/**
 * An HTTP response thrown as an error (web.py's HTTPError): an application turns it into its
 * status, headers and body, so a handler can stop anywhere with `throw notFound()`.
 */
export class HttpError extends Error {
  override name = "HttpError";
  /** The status line, e.g. "404 Not Found". */
  readonly status: string;
  /** The headers the response carries (Content-Type included). */
  readonly headers: HeaderPair[];
  /** The response body. */
  readonly body: string;

  /** A status given as a number gets node:http's reason phrase; headers default to a plain-text Content-Type. */
  constructor(status: number | string, headers: HeaderPair[] = [["Content-Type", TEXT]], body: string = "") {
    const line = statusLine(status);
    super(line);
    this.status = line;
    this.headers = headers;
    this.body = body;
  }

  /** The numeric status code. */
  get code(): number {
    return Number(this.status.slice(0, 3));
  }

  /** The status, headers and body to send for a request with this environ. */
  toResponse(_environ?: Environ): ErrorResponse {
    return { status: this.status, headers: this.headers.slice(), body: this.body };
  }

  /** Sends this error as the response of a plain gw app: `catch (e) { return e.respond(environ, startResponse) }`. */
  respond(environ: Environ, startResponse: StartResponse): Body {
    const { status, headers, body } = this.toResponse(environ);
    startResponse(status, headers);
    return body === "" ? [] : [body];
  }
}

/**
 * A redirect (web.py's Redirect). A relative `location` is resolved against the path of the app
 * that threw it, and a path is prefixed with the app's SCRIPT_NAME; it is sent as a path, never
 * with the client's Host (resolveLocation). A URL of another origin is sent as it is.
 */
export class Redirect extends HttpError {
  override name = "Redirect";
  /** The target as given to the constructor. */
  readonly location: string;
  #base: Environ | undefined;

  constructor(location: string, status: number = 301) {
    super(status, [["Content-Type", TEXT], ["Location", location]], "");
    this.location = location;
  }

  /**
   * Fixes the environ a relative location resolves against, unless one is fixed already; the
   * app layer calls it where the redirect was thrown, so a sub-application's redirect stays in it.
   */
  bind(environ: Environ): this {
    this.#base ??= environ;
    return this;
  }

  override toResponse(environ?: Environ): ErrorResponse {
    const base = this.#base ?? environ;
    const location = base === undefined ? this.location : resolveLocation(this.location, base);
    const headers = this.headers.map((pair): HeaderPair => (pair[0] === "Location" ? ["Location", location] : [pair[0], pair[1]]));
    return { status: this.status, headers, body: this.body };
  }
}

/**
 * The Location to send for `location` in a request with this environ: a relative one is resolved
 * against the app's path (web.py's urljoin) and sent as a path, percent-encoded so the header stays
 * ASCII; a URL on the request's own origin becomes its path too; any other URL is sent as it is.
 */
export function resolveLocation(location: string, environ: Environ): string {
  // RFC 9110 §10.2.2 allows a relative Location. An absolute one would name the host from the
  // client's Host header, which an attacker chooses (http.server and Werkzeug send paths too).
  if (HAS_SCHEME.test(location)) return sameOriginPath(location, environ) ?? location;
  const path = environ.PATH_INFO || "/";
  // A scheme-relative "//host/x" is a path on this site, as web.py makes every "/..." location
  // (it puts ctx.home in front): otherwise seeOther(input.next) would be an open redirect. "/."
  // in front keeps the URL parser from reading a host out of it.
  const relative = SCHEME_RELATIVE.test(location) ? "/." + location : location;
  const joined = new URL(relative, `http://gw.invalid${path.startsWith("/") ? path : "/" + path}`);
  // applicationUri ends with the "/" standing in for an empty SCRIPT_NAME; the joined path has its own.
  const home = applicationUri(environ).slice(hostUri(environ).length);
  return asPath((environ.SCRIPT_NAME ? home : home.slice(0, -1)) + joined.pathname + joined.search + joined.hash);
}

/** The path of an absolute `location` on the request's own scheme and host; undefined for any other. */
function sameOriginPath(location: string, environ: Environ): string | undefined {
  const origin = hostUri(environ);
  if (location.length < origin.length || location.slice(0, origin.length).toLowerCase() !== origin.toLowerCase()) return undefined;
  const rest = location.slice(origin.length);
  if (rest === "") return "/";
  // A browser reads "\" as "/" ("/\evil.example" is "//evil.example"): such a URL keeps its host.
  if (rest.includes("\\")) return undefined;
  const next = rest.charCodeAt(0);
  // "/", "?" or "#" must follow, or "http://host.evil" would pass for "http://host".
  if (next === 0x3f || next === 0x23) return "/" + rest;
  return next === 0x2f ? asPath(rest) : undefined;
}

/** A path that a browser cannot read as "//host": "/." in front keeps it a path (as the WHATWG URL serializer does). */
function asPath(path: string): string {
  return path.startsWith("//") ? "/." + path : path;
}

/** A plain-text error with the given status and body, plus any extra headers. */
function plain(status: number, body: string, headers: readonly HeaderPair[] = []): HttpError {
  const hasType = headers.some(([name]) => name.toLowerCase() === "content-type");
  return new HttpError(status, hasType ? [...headers] : [["Content-Type", TEXT], ...headers], body);
}

/** 400 Bad Request. */
export function badRequest(body: string = "bad request", headers: readonly HeaderPair[] = []): HttpError {
  return plain(400, body, headers);
}

/** 401 Unauthorized; pass a WWW-Authenticate header in `headers` (RFC 9110 §15.5.2). */
export function unauthorized(body: string = "unauthorized", headers: readonly HeaderPair[] = []): HttpError {
  return plain(401, body, headers);
}

/** 403 Forbidden. */
export function forbidden(body: string = "forbidden", headers: readonly HeaderPair[] = []): HttpError {
  return plain(403, body, headers);
}

/** 404 Not Found. */
export function notFound(body: string = "not found", headers: readonly HeaderPair[] = []): HttpError {
  return plain(404, body, headers);
}

/** 405 Method Not Allowed, with the Allow header RFC 9110 §15.5.6 requires. */
export function methodNotAllowed(allowed: readonly string[], body: string = "method not allowed"): HttpError {
  return plain(405, body, [["Allow", allowed.join(", ")]]);
}

/** 406 Not Acceptable. */
export function notAcceptable(body: string = "not acceptable", headers: readonly HeaderPair[] = []): HttpError {
  return plain(406, body, headers);
}

/** 409 Conflict. */
export function conflict(body: string = "conflict", headers: readonly HeaderPair[] = []): HttpError {
  return plain(409, body, headers);
}

/** 410 Gone. */
export function gone(body: string = "gone", headers: readonly HeaderPair[] = []): HttpError {
  return plain(410, body, headers);
}

/** 412 Precondition Failed. */
export function preconditionFailed(body: string = "precondition failed", headers: readonly HeaderPair[] = []): HttpError {
  return plain(412, body, headers);
}

/** 415 Unsupported Media Type. */
export function unsupportedMediaType(body: string = "unsupported media type", headers: readonly HeaderPair[] = []): HttpError {
  return plain(415, body, headers);
}

/** 500 Internal Server Error, for a handler that fails on purpose; no trace is logged or sent. */
export function internalError(body: string = "internal server error", headers: readonly HeaderPair[] = []): HttpError {
  return plain(500, body, headers);
}

/** 301 Moved Permanently (web.py's redirect); `status` picks another redirect code. */
export function redirect(location: string, status: number = 301): Redirect {
  return new Redirect(location, status);
}

/** 302 Found. */
export function found(location: string): Redirect {
  return new Redirect(location, 302);
}

/** 303 See Other: the answer to a POST, fetched with GET. */
export function seeOther(location: string): Redirect {
  return new Redirect(location, 303);
}

/** 307 Temporary Redirect: the method and body are repeated at the new location. */
export function tempRedirect(location: string): Redirect {
  return new Redirect(location, 307);
}

/** A gw app that answers every request with `error` (a fixed 404 page, a maintenance 503). */
export function errorApp(error: HttpError): App {
  return (environ, startResponse) => error.respond(environ, startResponse);
}
