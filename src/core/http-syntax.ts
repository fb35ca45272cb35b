// HTTP's grammar, in one place for every layer (RFC 9110): tokens, field values, hop-by-hop
// names, the request methods gw knows, and which statuses may carry content.

/** RFC 9110 §5.6.2: a token (a method, a field name). */
export const TOKEN: RegExp = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** RFC 9110 §5.5: control characters, none of which a field name may hold. */
export const CONTROL: RegExp = /[\x00-\x1f\x7f]/;

/** RFC 9110 §5.5: what a field value must not hold: controls other than HTAB (CR and LF would split the header). */
export const BAD_FIELD_VALUE: RegExp = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * BAD_FIELD_VALUE plus code points above U+00FF. PEP 3333: status and headers are latin-1, and a
 * higher code point would lose its high byte on the wire (U+010A becomes LF) and forge a header.
 */
export const BAD_LATIN1_FIELD_VALUE: RegExp = /[\x00-\x08\x0a-\x1f\x7f\u0100-\uffff]/;

const TOKEN_CHARS = new Uint8Array(128);
for (const char of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN_CHARS[char.charCodeAt(0)] = 1;

/** Whether the UTF-16 code unit `code` is a token character (a table lookup, for scanners). */
export function isTokenChar(code: number): boolean {
  return code < 128 && TOKEN_CHARS[code] === 1;
}

/** The lower-case names of the hop-by-hop headers of RFC 2616 §13.5.1, which an app must not send. */
/**
 * Whether a request header name holds "_": CGI and the environ spell "-" as "_", so such a name
 * could pose as a dashed header a proxy set ("X_Forwarded_For"); gw drops them unless asked
 * (nginx's underscores_in_headers, gunicorn's header_map).
 */
export function hasUnderscore(name: string): boolean {
  return name.includes("_");
}

/** Whether a header name is Content-Length, in any case. */
export function isContentLength(name: string): boolean {
  return name.length === 14 && name.toLowerCase() === "content-length";
}

export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailers",
  "transfer-encoding",
  "upgrade",
]);

// The lengths of the hop-by-hop names as bits: most names (Content-Type, Content-Length, ETag)
// are ruled out by their length, before any lowercasing.
const HOP_BY_HOP_LENGTHS = [...HOP_BY_HOP].reduce((bits, name) => bits | (1 << name.length), 0);

/** Whether header `name` (any case) is a hop-by-hop header. */
export function isHopByHop(name: string): boolean {
  const length = name.length;
  return length < 32 && ((HOP_BY_HOP_LENGTHS >>> length) & 1) === 1 && HOP_BY_HOP.has(name.toLowerCase());
}

/** The methods of RFC 9110 §9 and RFC 5789 (PATCH): what the router dispatches and the validator expects. */
export const KNOWN_METHODS: readonly string[] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"];

/** Whether a response with status `code` may have content (RFC 9110 §6.4.1: not 1xx, 204 or 304). */
export function mayHaveBody(code: number): boolean {
  return code >= 200 && code !== 204 && code !== 304;
}

// RFC 3986 §3.2.2 reg-name and IPv4 characters gw takes in a Host: unreserved only. Sub-delims
// are left out on purpose: "," is what a repeated Host is joined with (RFC 9112 §3.2 wants a 400).
const HOST_CHARS = new Uint8Array(128);
for (const char of "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") HOST_CHARS[char.charCodeAt(0)] = 1;
const IPV6_CHARS = new Uint8Array(128);
for (const char of ":.0123456789ABCDEFabcdef") IPV6_CHARS[char.charCodeAt(0)] = 1;

/**
 * Whether a Host header value is `host[:port]` (RFC 9110 §7.2): a name or IPv4 address of
 * unreserved characters, or an IPv6 literal in brackets, then up to five port digits. Anything
 * else ("x/admin?", "a@b", "a,b" from a repeated Host, a backslash) could change the URL built from it.
 */
export function isValidHost(host: string): boolean {
  const length = host.length;
  let at = 0;
  if (length > 0 && host.charCodeAt(0) === 0x5b) {
    const close = host.indexOf("]");
    // "[::1]" at least: an address needs two colons.
    if (close < 3) return false;
    for (at = 1; at < close; at++) {
      const code = host.charCodeAt(at);
      if (code >= 128 || IPV6_CHARS[code] !== 1) return false;
    }
    at = close + 1;
  } else {
    while (at < length) {
      const code = host.charCodeAt(at);
      if (code >= 128 || HOST_CHARS[code] !== 1) break;
      at++;
    }
    if (at === 0) return length === 0;
  }
  if (at === length) return true;
  if (host.charCodeAt(at) !== 0x3a || length - at - 1 > 5) return false;
  for (at++; at < length; at++) {
    const code = host.charCodeAt(at);
    if (code < 0x30 || code > 0x39) return false;
  }
  return true;
}

/**
 * Whether an Accept header asks for HTML: it lists text/html with a q above 0 (a browser's does).
 * `*` ranges do not count: curl and most libraries send `*\/*` and want text.
 */
export function acceptsHtml(accept: unknown): boolean {
  if (typeof accept !== "string" || !accept.includes("html")) return false;
  for (const item of accept.split(",")) {
    const [range, ...params] = item.split(";");
    if (range!.trim().toLowerCase() !== "text/html") continue;
    const q = params.map((param) => param.trim().toLowerCase()).find((param) => param.startsWith("q="));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}
