// Builds the environ: from a node:http request (wsgiref.simple_server's get_environ) and from a
// CGI process's variables (wsgiref.handlers.CGIHandler). PEP 3333 "environ Variables".
import type { IncomingMessage } from "node:http";
import { BodyInput, ErrorOutput, type TextSink } from "./input.ts";
import { fileWrapper, guessScheme } from "./util.ts";
import { GW_VERSION, SERVER_SOFTWARE } from "./version.ts";
import { hasUnderscore } from "./http-syntax.ts";
import type { Environ, ErrorStream, InputStream } from "./types.ts";

/** What a server knows before any request arrives; shared by all its requests. */
export interface ServerInfo {
  /** SERVER_NAME: the host name the server answers as. */
  serverName: string;
  /** SERVER_PORT, as a string. */
  serverPort: string;
  /** gw.errors, shared by every request. */
  errors: ErrorOutput;
  /** gw.url_scheme. @default "http" */
  urlScheme?: "http" | "https";
  /** Keep request headers whose names hold "_" (dropped by default: see hasUnderscore). @default false */
  keepUnderscoreHeaders?: boolean;
}

/** Server facts for environFromRequest, with gw.errors writing to `errors`. */
export function makeServerInfo(serverName: string, serverPort: number | string, errors: TextSink): ServerInfo {
  return { serverName, serverPort: String(serverPort), errors: new ErrorOutput(errors), urlScheme: "http" };
}

/** The environ key a header name maps to, with the number of the last environ that got it. */
interface KeySlot {
  readonly key: string;
  /** The environ (numbered by environCount) this key was last set in: a repeat within one request shows here. */
  seen: number;
  /** Whether the slot is memoised, hence the only slot for its key; an unmemoised one is checked against the environ. */
  isShared: boolean;
  /** The header name holds "_": its own slot, never shared, dropped unless the server keeps such names. */
  readonly hasUnderscore: boolean;
}

const CONTENT_TYPE: KeySlot = { key: "CONTENT_TYPE", seen: 0, isShared: true, hasUnderscore: false };
const CONTENT_LENGTH: KeySlot = { key: "CONTENT_LENGTH", seen: 0, isShared: true, hasUnderscore: false };

/** Header names longer than this are not memoised: clients choose them, and a memo must not keep their bytes. */
export const MAX_MEMO_KEY = 64;
/** Names a header memo holds before it starts over, so a flood of odd names cannot keep ordinary ones out for good. */
export const MAX_MEMO_ENTRIES = 1024;

// Header names repeat across requests, so their slots are memoised; bounded in count and length
// because clients choose the names. Every name of one key ("Host", "host") shares its key's slot.
const slotsByName = new Map<string, KeySlot | null>();
const slotsByKey = new Map<string, KeySlot>([[CONTENT_TYPE.key, CONTENT_TYPE], [CONTENT_LENGTH.key, CONTENT_LENGTH]]);
// Set when a name found the memo full; the memo starts over before the next request is read, never
// within one, where a fresh slot for a key already set would not know it (isShared's invariant).
let isMemoFull = false;
let environCount = 0;
// A client sends the same names in the same order on every request, so the slot found at each
// position is kept with its name: when the name there is the same as last time, the Map lookup
// (and its hashing of node's freshly made name string) is skipped (docs/PERFORMANCE.md).
const lastNames: string[] = [];
const lastSlots: (KeySlot | null)[] = [];

/** Empties the header-name memos (the permanent Content-Type and Content-Length slots stay). */
export function resetMemos(): void {
  for (const slot of slotsByKey.values()) {
    // A slot still held somewhere (a caller's variable) must now be checked against the environ.
    if (slot !== CONTENT_TYPE && slot !== CONTENT_LENGTH) slot.isShared = false;
  }
  slotsByName.clear();
  slotsByKey.clear();
  slotsByKey.set(CONTENT_TYPE.key, CONTENT_TYPE).set(CONTENT_LENGTH.key, CONTENT_LENGTH);
  lastNames.length = 0;
  lastSlots.length = 0;
  isMemoFull = false;
}

/** How many names and keys the header memo holds (for tests of its bounds). */
export function headerMemoSize(): { names: number; keys: number } {
  return { names: slotsByName.size, keys: slotsByKey.size };
}

/** The slot of a request header; null for a name that would pose as Content-Type or Content-Length. */
function headerSlot(name: string): KeySlot | null {
  let slot = slotsByName.get(name);
  if (slot === undefined) {
    const length = name.length;
    let key: string | undefined;
    // PEP 3333: Content-Type and Content-Length have no HTTP_ prefix.
    if (length === 12 && name.toLowerCase() === "content-type") key = "CONTENT_TYPE";
    else if (length === 14 && name.toLowerCase() === "content-length") key = "CONTENT_LENGTH";
    else {
      key = "HTTP_" + name.toUpperCase().replaceAll("-", "_");
      // "Content_Length" would give HTTP_CONTENT_LENGTH, a key PEP 3333 forbids.
      if (key === "HTTP_CONTENT_LENGTH" || key === "HTTP_CONTENT_TYPE") key = undefined;
    }
    const isUnderscored = key !== undefined && hasUnderscore(name);
    slot = key === undefined ? null : isUnderscored ? { key, seen: 0, isShared: false, hasUnderscore: true } : (slotsByKey.get(key) ?? { key, seen: 0, isShared: false, hasUnderscore: false });
    if (length <= MAX_MEMO_KEY) {
      if (slotsByName.size < MAX_MEMO_ENTRIES) {
        slotsByName.set(name, slot);
        if (slot !== null && !slot.isShared && !isUnderscored) {
          slot.isShared = true;
          slotsByKey.set(slot.key, slot);
        }
      } else {
        isMemoFull = true;
      }
    }
  }
  return slot;
}

/**
 * The environ key of a request header other than Content-Type and Content-Length: "HTTP_" plus
 * the name upper-cased with "-" as "_"; undefined for a name that would pose as one of those two
 * ("Content_Length" → HTTP_CONTENT_LENGTH, a key PEP 3333 forbids).
 */
export function headerKey(name: string, keepUnderscoreHeaders: boolean = false): string | undefined {
  if (isMemoFull) resetMemos();
  const slot = headerSlot(name);
  if (slot !== null && slot.hasUnderscore && !keepUnderscoreHeaders) return undefined;
  return slot === null || slot === CONTENT_TYPE || slot === CONTENT_LENGTH ? undefined : slot.key;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** Whether the first `end` chars of `raw` hold no "%" and nothing above U+007F (a scan: cheaper than a regex on short paths). */
function isPlain(raw: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const code = raw.charCodeAt(i);
    if (code === 0x25 || code > 0x7f) return false;
  }
  return true;
}

/**
 * Percent-decodes a request path into its bytes; a malformed escape such as %ZZ stays as it is.
 * Node hands the request line over as latin-1, so every other code unit is one byte.
 */
export function percentDecodeBytes(raw: string): Uint8Array {
  const bytes = new Uint8Array(raw.length);
  let length = 0;
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code === 0x25 && i + 2 < raw.length) {
      const high = hexValue(raw.charCodeAt(i + 1));
      const low = high === -1 ? -1 : hexValue(raw.charCodeAt(i + 2));
      if (low !== -1) {
        bytes[length++] = (high << 4) | low;
        i += 2;
        continue;
      }
    }
    bytes[length++] = code & 0xff;
  }
  return bytes.subarray(0, length);
}

/** Bytes as text: UTF-8 when valid, else latin-1 (one char per byte, as PEP 3333 does). */
export function textOfBytes(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
  }
}

/**
 * The path of a request target's path part (before any "?"): an absolute-form target (RFC 9112
 * §3.2.2) carries scheme and host, and PATH_INFO is the path after them.
 */
export function originPath(path: string): string {
  if (path.charCodeAt(0) === 0x2f || path === "*" || path === "") return path;
  const scheme = ABSOLUTE_FORM.exec(path);
  // A target without its leading "/" ("cgi-bin/x.py", http.server takes it) gets one.
  if (scheme === null) return "/" + path;
  const slash = path.indexOf("/", scheme[0].length);
  return slash === -1 ? "/" : path.slice(slash);
}

// RFC 9112 §3.2.2: a scheme, then "://" and the authority.
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** The authority of an absolute-form target ("http://h:1/x" gives "h:1"), without userinfo; undefined for any other. */
function authorityOf(target: string): string | undefined {
  const scheme = ABSOLUTE_FORM.exec(target);
  if (scheme === null) return undefined;
  let end = target.indexOf("/", scheme[0].length);
  if (end === -1) end = target.length;
  const authority = target.slice(scheme[0].length, end);
  const host = authority.slice(authority.lastIndexOf("@") + 1);
  // "http:///x" names no host: the Host header stands (and is checked as ever).
  return host === "" ? undefined : host;
}

/** Percent-decodes a request path to text (textOfBytes), so no input throws. */
export function decodePath(raw: string): string {
  return isPlain(raw, raw.length) ? raw : textOfBytes(percentDecodeBytes(raw));
}

/** A client address for REMOTE_ADDR: "::ffff:1.2.3.4" (IPv4 on a dual-stack listener) becomes "1.2.3.4". */
export function remoteAddress(address: string | undefined): string {
  if (address === undefined) return "";
  // A dual-stack listener reports IPv4 clients as "::ffff:1.2.3.4"; CGI and logs want "1.2.3.4".
  // The first char is tested first, since plain IPv4 addresses are the common case.
  return address.charCodeAt(0) === 0x3a && address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/** REMOTE_ADDR and REMOTE_PORT of one connection. */
interface Peer {
  readonly address: string;
  readonly port: string;
}

// A connection's peer never changes, and node's remoteAddress and remotePort getters each go
// through a megamorphic _handle getter (docs/PERFORMANCE.md), so keep-alive
// requests reuse the peer their connection's first request found.
const peers = new WeakMap<object, Peer>();

function peerOf(socket: IncomingMessage["socket"]): Peer {
  let peer = peers.get(socket);
  if (peer === undefined) {
    const address = socket.remoteAddress;
    peer = { address: remoteAddress(address), port: String(socket.remotePort ?? "") };
    // A socket that is already closed has no address: ask again next time rather than keep "".
    if (address !== undefined) peers.set(socket, peer);
  }
  return peer;
}

/** The environ for one node:http request. gw.input reads the request lazily. */
export function environFromRequest(req: IncomingMessage, server: ServerInfo): Environ {
  const url = req.url ?? "/";
  // One pass finds the "?" and whether the path needs decodePath at all.
  let mark = 0;
  while (mark < url.length && url.charCodeAt(mark) !== 0x3f) mark++;
  const plain = isPlain(url, mark);
  let path = url;
  let query = "";
  if (mark < url.length) {
    path = url.slice(0, mark);
    query = url.slice(mark + 1);
  }
  // An absolute-form target names the host itself, and RFC 9112 §3.2.2 has it replace Host.
  let authority: string | undefined;
  if (path.charCodeAt(0) !== 0x2f) {
    authority = authorityOf(path);
    path = originPath(path);
  }
  const peer = peerOf(req.socket);
  const environ: Environ = {
    REQUEST_METHOD: req.method ?? "GET",
    SCRIPT_NAME: "",
    PATH_INFO: plain ? path : decodePath(path),
    QUERY_STRING: query,
    REQUEST_URI: url,
    SERVER_NAME: server.serverName,
    SERVER_PORT: server.serverPort,
    SERVER_PROTOCOL: req.httpVersion === "1.1" ? "HTTP/1.1" : "HTTP/" + req.httpVersion,
    SERVER_SOFTWARE,
    GATEWAY_INTERFACE: "CGI/1.1",
    REMOTE_ADDR: peer.address,
    REMOTE_PORT: peer.port,
    "gw.version": GW_VERSION,
    "gw.url_scheme": server.urlScheme ?? "http",
    "gw.input": new BodyInput(req),
    "gw.errors": server.errors,
    "gw.multithread": false,
    "gw.multiprocess": false,
    "gw.run_once": false,
    "gw.file_wrapper": fileWrapper,
  };
  // Wraps before it leaves the small-integer range; a stale match only costs the check below.
  const stamp = environCount = (environCount + 1) & 0x3fffffff;
  if (isMemoFull) resetMemos();
  const raw = req.rawHeaders;
  // Set once a kept underscore name wrote a key: from then on every key is joined, not overwritten.
  let isMixed = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const at = i >> 1;
    let slot: KeySlot | null;
    if (at < lastNames.length && lastNames[at] === name) {
      slot = lastSlots[at]!;
    } else {
      slot = headerSlot(name);
      // A long name is not kept either: it would hold the client's bytes as the memo would.
      if (at < 64 && name.length <= MAX_MEMO_KEY) {
        lastNames[at] = name;
        lastSlots[at] = slot;
      }
    }
    if (slot === null) continue;
    if (slot.hasUnderscore) {
      if (server.keepUnderscoreHeaders !== true) continue;
      isMixed = true;
    }
    const key = slot.key;
    const value = raw[i + 1]!;
    // A repeated header is joined with "," (wsgiref), Cookie with "; " (RFC 9113 §8.2.3), so
    // cookie parsers see separate cookies. The slot tells whether the key is set already:
    // reading the environ back is a megamorphic load that misses (docs/PERFORMANCE.md).
    if (slot.seen !== stamp && slot.isShared && !isMixed) {
      environ[key] = value;
    } else {
      const previous = environ[key];
      environ[key] = previous === undefined ? value : `${previous as string}${key === "HTTP_COOKIE" ? "; " : ","}${value}`;
    }
    slot.seen = stamp;
  }
  if (authority !== undefined) environ.HTTP_HOST = authority;
  return environ;
}

/** Minimal readable shape for a CGI program's standard input. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * The start of an environ built from CGI-style variables (a CGI program's environment, FastCGI
 * or SCGI params): PEP 3333's defaults for the CGI keys a request may lack, and the gw.* keys.
 */
export function cgiStyleEnviron(input: InputStream, errors: ErrorStream, mode: { urlScheme: Environ["gw.url_scheme"]; isMultiprocess: boolean; isRunOnce: boolean }): Environ {
  return {
    REQUEST_METHOD: "GET",
    SCRIPT_NAME: "",
    PATH_INFO: "",
    QUERY_STRING: "",
    SERVER_NAME: "localhost",
    SERVER_PORT: "80",
    SERVER_PROTOCOL: "HTTP/1.0",
    "gw.version": GW_VERSION,
    "gw.url_scheme": mode.urlScheme,
    "gw.input": input,
    "gw.errors": errors,
    "gw.multithread": false,
    "gw.multiprocess": mode.isMultiprocess,
    "gw.run_once": mode.isRunOnce,
    "gw.file_wrapper": fileWrapper,
  };
}

/**
 * The environ of a CGI program (RFC 3875 §4.1): every variable of `env`, with PEP 3333's
 * defaults for missing ones; gw.input reads at most CONTENT_LENGTH bytes of `stdin`.
 */
export function environFromCgi(env: NodeJS.ProcessEnv, stdin: ByteSource, stderr: TextSink): Environ {
  // RFC 3875 §4.1.2: no CONTENT_LENGTH means no body.
  const length = Number.parseInt(env.CONTENT_LENGTH ?? "", 10);
  const input = new BodyInput(stdin, Number.isNaN(length) || length < 0 ? 0 : length);
  const environ = cgiStyleEnviron(input, new ErrorOutput(stderr), { urlScheme: guessScheme(env), isMultiprocess: true, isRunOnce: true });
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined) environ[key] = value;
  }
  return environ;
}
