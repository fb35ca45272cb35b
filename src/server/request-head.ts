// A second, lenient reading of a request head that node's strict parser refused. Python's
// http.server and wsgiref take what HTTP/1.x servers have always taken: a lone LF as a line end
// (RFC 9112 §2.2 allows it), raw bytes above 0x7F in the target, a target without its leading
// slash. Anything that smells of request smuggling is still refused.

import { BAD_FIELD_VALUE, CONTROL, TOKEN } from "../core/http-syntax.ts";

// node:http by getBuiltinModule, not import: see docs/ARCHITECTURE.md, "Startup".
const { METHODS } = process.getBuiltinModule("node:http");

/** A request head read leniently, ready to be served. */
export interface LenientRequest {
  method: string;
  /** The target, made acceptable: raw bytes percent-encoded, a leading "/" added where missing. */
  target: string;
  major: number;
  minor: number;
  /** Names and values in turn, as IncomingMessage.rawHeaders. */
  rawHeaders: string[];
  /** The whole body (Content-Length bytes), already in the packet. */
  body: Buffer;
}

/** A head that can only be refused, with the status to refuse it with. */
export interface LenientRefusal {
  status: 400 | 414 | 431 | 501 | 505;
  /** The request line for the access log ("" when there is none). */
  requestLine: string;
}

const KNOWN_METHODS = new Set(METHODS);
const VERSION = /^HTTP\/(\d)\.(\d)$/;
const DIGITS = /^\d+$/;
/** Python's http.server refuses a longer request line with 414. */
export const MAX_REQUEST_LINE = 65536;
/** Python's http.server (http.client's _MAXHEADERS) refuses more header fields with 431. */
export const MAX_HEADERS = 100;

/** Percent-encodes the bytes above 0x7F that a target may not carry raw. */
function encodeTarget(target: string): string {
  let out = "";
  for (let i = 0; i < target.length; i++) {
    const code = target.charCodeAt(i);
    out += code > 0x7f ? "%" + code.toString(16).toUpperCase() : target[i];
  }
  // Python serves "GET cgi-bin/x.py" as "/cgi-bin/x.py"; an absolute URL and "*" stay as they are.
  return out.startsWith("/") || out === "*" || /^[a-z][a-z0-9+.-]*:\/\//i.test(out) ? out : "/" + out;
}

/**
 * Reads the request head at the start of `packet` (latin-1, one char per byte). Returns the
 * request when it can be served, a refusal, or undefined when the head is not all in the packet.
 */
export function readLenientHead(packet: Buffer): LenientRequest | LenientRefusal | undefined {
  const text = packet.toString("latin1");
  const lineEnd = text.indexOf("\n");
  if (lineEnd === -1) return text.length > MAX_REQUEST_LINE ? { status: 414, requestLine: "" } : undefined;
  const requestLine = text.slice(0, lineEnd).replace(/\r$/, "");
  if (requestLine.length > MAX_REQUEST_LINE) return { status: 414, requestLine: "" };
  const refuse = (status: LenientRefusal["status"]): LenientRefusal => ({ status, requestLine });
  const words = requestLine.split(/[ \t]+/);
  if (words.length !== 3 || words[0] === "" || words[1] === "") return refuse(400);
  const [method, rawTarget, version] = words as [string, string, string];
  const versionMatch = VERSION.exec(version);
  if (versionMatch === null) return refuse(400);
  const major = Number(versionMatch[1]);
  if (major !== 1) return refuse(505);
  // Control characters in a target are refused as node refuses them: they serve only to forge logs.
  if (!TOKEN.test(method) || CONTROL.test(rawTarget)) return refuse(400);
  // node's parser knows only these; Python answers any other method with 501 as well.
  if (!KNOWN_METHODS.has(method) || method === "CONNECT") return refuse(501);

  const rawHeaders: string[] = [];
  let at = lineEnd + 1;
  let contentLength: string | undefined;
  let hasHost = false;
  for (;;) {
    const end = text.indexOf("\n", at);
    if (end === -1) return undefined;
    const line = text.slice(at, end).replace(/\r$/, "");
    at = end + 1;
    if (line === "") break;
    if (rawHeaders.length >= 2 * MAX_HEADERS) return refuse(431);
    const colon = line.indexOf(":");
    // No obsolete line folding (a line starting with whitespace): RFC 9112 §5.2 lets a server refuse it.
    if (colon <= 0) return refuse(400);
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name) || BAD_FIELD_VALUE.test(value)) return refuse(400);
    const lower = name.toLowerCase();
    // Framing that node refused is not second-guessed: no chunked bodies, one plain Content-Length.
    if (lower === "transfer-encoding") return refuse(400);
    if (lower === "content-length") {
      if (contentLength !== undefined || !DIGITS.test(value)) return refuse(400);
      contentLength = value;
    }
    if (lower === "host") hasHost = true;
    rawHeaders.push(name, value);
  }
  // RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400, as node answers it.
  if (!hasHost && versionMatch[2] !== "0") return refuse(400);
  const length = contentLength === undefined ? 0 : Number(contentLength);
  // Only a body that came whole with the head: the rest of the connection is not read again.
  if (packet.length - at < length) return refuse(400);
  return {
    method,
    target: encodeTarget(rawTarget),
    major,
    minor: Number(versionMatch[2]),
    rawHeaders,
    body: packet.subarray(at, at + length),
  };
}
