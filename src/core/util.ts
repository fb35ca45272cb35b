// Environ helpers (URIs, path shifting, testing defaults), FileWrapper (port of wsgiref.util),
// and the small helpers every layer shares (isThenable, escapeHtml, callApp).
import { close as closeFd, read as readFd } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { ErrorOutput, inputFromBytes } from "./input.ts";
import { ProtocolError } from "./errors.ts";
import { GW_VERSION } from "./version.ts";
import type { App, AppClass, AnyApp, Body, Environ, FileLike, FileWrapperFactory, StartResponse } from "./types.ts";

const AMP = 38, LT = 60, GT = 62, QUOT = 34, APOS = 39;
const HAS_HTML_SPECIAL = /[&<>"']/;

/** Escapes text for HTML element content and quoted attribute values (html.escape with quote=True). */
export function escapeHtml(text: string): string {
  // Most values have nothing to escape and come back as they are. Measured on node 24 (templates
  // bench): a char scan is faster up to about 16 chars, one irregexp test beyond.
  const length = text.length;
  if (length > 16) return HAS_HTML_SPECIAL.test(text) ? escapeFrom(text, 0) : text;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code <= GT && (code === AMP || code === LT || code === GT || code === QUOT || code === APOS)) return escapeFrom(text, i);
  }
  return text;
}

function escapeFrom(text: string, start: number): string {
  let out = text.slice(0, start);
  let last = start;
  for (let i = start; i < text.length; i++) {
    let entity: string;
    switch (text.charCodeAt(i)) {
      case AMP: entity = "&amp;"; break;
      case LT: entity = "&lt;"; break;
      case GT: entity = "&gt;"; break;
      case QUOT: entity = "&quot;"; break;
      case APOS: entity = "&#x27;"; break;
      default: continue;
    }
    if (last < i) out += text.slice(last, i);
    out += entity;
    last = i + 1;
  }
  return last < text.length ? out + text.slice(last) : out;
}

/** Whether `value` is a promise or other thenable; checked before awaiting, so sync stays sync. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") &&
    typeof (value as PromiseLike<unknown>).then === "function";
}

const CLASS_SOURCE = /^class[\s{]/;
// Whether each function seen is a class; weak, so reloaded apps are not kept alive.
const classKinds = new WeakMap<Function, boolean>();
// One-entry cache in front of the WeakMap: a server runs the same app on every request.
let lastApp: Function | undefined;
let lastIsClass = false;

/**
 * Whether `app` is a class application: JavaScript classes cannot be called without `new`, and
 * only their source text tells them from functions; checked once per function.
 */
export function isAppClass(app: AnyApp): app is AppClass {
  if (app === lastApp) return lastIsClass;
  let isClass = classKinds.get(app);
  if (isClass === undefined) {
    isClass = CLASS_SOURCE.test(Function.prototype.toString.call(app));
    classKinds.set(app, isClass);
  }
  lastApp = app;
  lastIsClass = isClass;
  return isClass;
}

/** Calls an app for one request: a class application (PEP 3333) is constructed, a function called. */
export function callApp(app: AnyApp, environ: Environ, startResponse: StartResponse): Body | Promise<Body> {
  return isAppClass(app) ? new app(environ, startResponse) : app(environ, startResponse);
}

/** The app as a function: a class application wrapped so that each call constructs it; a function as it is. */
export function appFunction(app: AnyApp): App {
  if (!isAppClass(app)) return app;
  return (environ, startResponse) => new app(environ, startResponse);
}

/** The guessed gw.url_scheme: "https" when the HTTPS variable is "on", "yes" or "1", else "http". */
export function guessScheme(environ: Readonly<Record<string, unknown>>): "http" | "https" {
  const https = environ.HTTPS;
  return https === "on" || https === "yes" || https === "1" ? "https" : "http";
}

// Bytes urllib.parse.quote never escapes (RFC 3986 unreserved) plus the caller's safe set.
function safeTable(extra: string): boolean[] {
  const table = new Array<boolean>(128).fill(false);
  for (const char of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~" + extra) {
    table[char.charCodeAt(0)] = true;
  }
  return table;
}

const SCRIPT_NAME_SAFE = safeTable("/");
const PATH_INFO_SAFE = safeTable("/;=,");

const HEX = "0123456789ABCDEF";

/** Percent-encodes a byte string (one char per byte) except the safe bytes. */
function quoteByteString(bytes: string, safe: readonly boolean[]): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const code = bytes.charCodeAt(i);
    out += code < 128 && safe[code] === true ? bytes[i] : "%" + HEX[(code >> 4) & 15] + HEX[code & 15];
  }
  return out;
}

/**
 * Percent-encodes the UTF-8 bytes of `text` except the safe ones. wsgiref encodes latin-1, which
 * cannot hold a JS string's code points above U+00FF; so "/späm" becomes "/sp%C3%A4m", not "/sp%E4m".
 */
function quote(text: string, safe: readonly boolean[]): string {
  return quoteByteString(Buffer.from(text, "utf8").toString("latin1"), safe);
}

/** Percent-encodes a byte string for a URL path, leaving unreserved characters and "/" (urllib's quote). */
export function quoteBytes(bytes: string): string {
  return quoteByteString(bytes, SCRIPT_NAME_SAFE);
}

/** The app's base URI: scheme, host (HTTP_HOST, else SERVER_NAME plus any non-default port) and quoted SCRIPT_NAME. */
export function applicationUri(environ: Environ): string {
  return hostUri(environ) + quote(environ.SCRIPT_NAME || "/", SCRIPT_NAME_SAFE);
}

/** Scheme and host: HTTP_HOST, else SERVER_NAME plus SERVER_PORT unless it is the scheme's default. */
export function hostUri(environ: Environ): string {
  const scheme = environ["gw.url_scheme"];
  if (environ.HTTP_HOST) return `${scheme}://${environ.HTTP_HOST}`;
  const isDefault = environ.SERVER_PORT === (scheme === "https" ? "443" : "80");
  // An IPv6 address goes in brackets (RFC 3986 §3.2.2): "http://::1:8000" is no URL.
  const name = environ.SERVER_NAME;
  const host = name.includes(":") && !name.startsWith("[") ? `[${name}]` : name;
  return `${scheme}://${host}${isDefault ? "" : `:${environ.SERVER_PORT}`}`;
}

/** The full request URI: applicationUri plus quoted PATH_INFO, and "?" QUERY_STRING when includeQuery and non-empty. */
export function requestUri(environ: Environ, includeQuery: boolean = true): string {
  let url = applicationUri(environ);
  const pathInfo = quote(environ.PATH_INFO ?? "", PATH_INFO_SAFE);
  // applicationUri already ended with the "/" standing in for an empty SCRIPT_NAME.
  url += environ.SCRIPT_NAME ? pathInfo : pathInfo.slice(1);
  if (includeQuery && environ.QUERY_STRING) url += `?${environ.QUERY_STRING}`;
  return url;
}

// A port of posixpath.normpath, including its rule that exactly two leading slashes are kept.
function normpath(path: string): string {
  if (path === "") return ".";
  const slashes = !path.startsWith("/") ? 0 : path.startsWith("//") && !path.startsWith("///") ? 2 : 1;
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== ".." || (slashes === 0 && parts.length === 0) || parts.at(-1) === "..") parts.push(part);
    else if (parts.length > 0) parts.pop();
  }
  return "/".repeat(slashes) + parts.join("/") || ".";
}

/**
 * Moves the next segment of PATH_INFO onto SCRIPT_NAME (in place) and returns it; undefined when
 * PATH_INFO is empty or just "/.". A trailing "/" shifts as "" so "/x" and "/x/" stay distinct.
 */
export function shiftPathInfo(environ: Pick<Environ, "SCRIPT_NAME" | "PATH_INFO">): string | undefined {
  const pathInfo = environ.PATH_INFO ?? "";
  if (pathInfo === "") return undefined;
  if (!pathInfo.startsWith("/")) {
    throw new ProtocolError(`PATH_INFO must be empty or start with "/", got ${JSON.stringify(pathInfo)}`);
  }
  const parts = pathInfo.split("/");
  // Empty and "." segments collapse, except the last one, which tells "/x" from "/x/".
  const middle = parts.slice(1, -1).filter((part) => part !== "" && part !== ".");
  const rest = [...middle, parts[parts.length - 1] ?? ""];
  const name = rest.shift() ?? "";

  let scriptName = normpath(`${environ.SCRIPT_NAME ?? ""}/${name}`);
  if (scriptName.endsWith("/")) scriptName = scriptName.slice(0, -1);
  if (name === "" && !scriptName.endsWith("/")) scriptName += "/";

  environ.SCRIPT_NAME = scriptName;
  environ.PATH_INFO = ["", ...rest].join("/");
  // "/." keeps its only segment above; it means "no more path", so PATH_INFO ends up "".
  return name === "." ? undefined : name;
}

/**
 * Fills wsgiref's testing defaults into `environ` in place, keeping every key already set (a key
 * holding undefined counts as unset), and returns it; for tests only, since the values are fake.
 * Unlike wsgiref it also defaults QUERY_STRING to "", which gw's environ always has.
 */
export function setupTestingDefaults(environ: Record<string, unknown>): Environ {
  const setDefault = (key: string, value: unknown): void => {
    if (environ[key] === undefined) environ[key] = value;
  };
  setDefault("SERVER_NAME", "127.0.0.1");
  setDefault("SERVER_PROTOCOL", "HTTP/1.0");
  setDefault("HTTP_HOST", environ.SERVER_NAME);
  setDefault("REQUEST_METHOD", "GET");
  if (environ.SCRIPT_NAME === undefined && environ.PATH_INFO === undefined) {
    environ.SCRIPT_NAME = "";
    environ.PATH_INFO = "/";
  }
  setDefault("QUERY_STRING", "");
  setDefault("gw.version", GW_VERSION);
  setDefault("gw.run_once", false);
  setDefault("gw.multithread", false);
  setDefault("gw.multiprocess", false);
  if (environ["gw.input"] === undefined) environ["gw.input"] = inputFromBytes();
  if (environ["gw.errors"] === undefined) environ["gw.errors"] = new ErrorOutput(process.stderr);
  setDefault("gw.url_scheme", guessScheme(environ));
  if (environ["gw.url_scheme"] === "http") setDefault("SERVER_PORT", "80");
  else if (environ["gw.url_scheme"] === "https") setDefault("SERVER_PORT", "443");
  return environ as Environ;
}

function readFromFd(fd: number, buffer: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    readFd(fd, buffer, 0, buffer.byteLength, null, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead)));
  });
}

function closeDescriptor(fd: number): Promise<void> {
  return new Promise((resolve, reject) => closeFd(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * A response body over a file: a path (opened on first read), a file descriptor (owned from
 * now on) or an iterable of bytes; handlers may spot it with instanceof and send `file` directly.
 */
export class FileWrapper implements AsyncIterable<Uint8Array> {
  /** The wrapped path, descriptor or iterable, as given. */
  readonly file: FileLike;
  /** The most bytes one chunk read from a path or descriptor holds. */
  readonly blockSize: number;
  #handle: Promise<FileHandle> | undefined;
  #pending: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;

  /** Wraps `file`, to be read `blockSize` bytes (default 65536, 64 KiB) at a time. */
  constructor(file: FileLike, blockSize: number = 65536) {
    if (!Number.isSafeInteger(blockSize) || blockSize <= 0) {
      throw new RangeError(`blockSize must be a positive integer, got ${blockSize}`);
    }
    this.file = file;
    this.blockSize = blockSize;
  }

  /** Whether close() has been called. */
  get isClosed(): boolean {
    return this.#closing !== undefined;
  }

  /** Yields the content: blockSize chunks from a path or descriptor, an iterable's own chunks as they come. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    const file = this.file;
    if (typeof file !== "string" && typeof file !== "number") {
      for await (const chunk of file) {
        if (this.#closing !== undefined) return;
        yield chunk;
      }
      return;
    }
    while (this.#closing === undefined) {
      const read = this.#read(file);
      this.#pending = read.catch(() => undefined);
      const chunk = await read;
      if (chunk.byteLength === 0) return;
      yield chunk;
    }
  }

  async #read(file: string | number): Promise<Uint8Array> {
    // Zeroed, not allocUnsafe: a short last chunk must not expose stale memory through .buffer.
    const buffer = Buffer.alloc(this.blockSize);
    let bytesRead: number;
    if (typeof file === "number") {
      bytesRead = await readFromFd(file, buffer);
    } else {
      this.#handle ??= open(file, "r");
      bytesRead = (await (await this.#handle).read(buffer, 0, this.blockSize, null)).bytesRead;
    }
    return buffer.subarray(0, bytesRead);
  }

  /** Closes the descriptor or the handle it opened, or calls the wrapped iterable's close(); runs once, later calls share the result. */
  close(): Promise<void> {
    this.#closing ??= this.#release();
    return this.#closing;
  }

  async #release(): Promise<void> {
    const file = this.file;
    // A read still in flight would race the close and could hit a reused descriptor.
    await this.#pending;
    if (typeof file === "number") {
      await closeDescriptor(file);
    } else if (typeof file === "string") {
      // A failed open already rejected the read that caused it; there is nothing to close.
      const handle = await this.#handle?.catch(() => undefined);
      await handle?.close();
    } else {
      const close = (file as { close?: unknown }).close;
      if (typeof close === "function") await close.call(file);
    }
  }
}

/** gw.file_wrapper: wraps `file` in a FileWrapper. */
export const fileWrapper: FileWrapperFactory = (file, blockSize) => new FileWrapper(file, blockSize);
