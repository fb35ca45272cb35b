// From a request path to a file under a root folder, byte for byte (http.server's translate_path
// and _url_collapse_path), refusing every path that would leave the root.
import { isUtf8 } from "node:buffer";
import { decodePath } from "./environ.ts";
import type { Environ } from "./types.ts";

/** A request path split into the segments it names under the root. */
export interface PathParts {
  /** The segments after "." and ".." are resolved, as byte strings (one char per byte). */
  segments: string[];
  /** Whether the path names a folder: it ends in "/", "/." or "/..". */
  hasTrailingSlash: boolean;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** Percent-decodes once into a byte string; a malformed escape stays as it is, like decodePath. */
function unquoteBytes(raw: string): string {
  if (!raw.includes("%")) return raw;
  let out = "";
  let start = 0;
  for (let i = raw.indexOf("%"); i !== -1 && i + 2 < raw.length; i = raw.indexOf("%", i + 1)) {
    const high = hexValue(raw.charCodeAt(i + 1));
    const low = high === -1 ? -1 : hexValue(raw.charCodeAt(i + 2));
    if (low === -1) continue;
    out += raw.slice(start, i) + String.fromCharCode((high << 4) | low);
    start = i + 3;
    i += 2;
  }
  return out + raw.slice(start);
}

/**
 * The path the app is asked for (PATH_INFO), as a byte string: decoded from the raw REQUEST_URI
 * when the app sits at the root and PATH_INFO agrees with it, so a file name that is not UTF-8
 * keeps its bytes; else PATH_INFO's UTF-8 bytes. Decoded exactly once: "%252e" stays "%2e".
 */
export function requestPath(environ: Environ): string {
  const pathInfo = environ.PATH_INFO ?? "";
  const uri = environ.REQUEST_URI;
  if (environ.SCRIPT_NAME === "" && typeof uri === "string" && uri.charCodeAt(0) === 0x2f) {
    const mark = uri.indexOf("?");
    const raw = mark === -1 ? uri : uri.slice(0, mark);
    if (raw === pathInfo && isAscii(raw)) return raw;
    // Node reads the request line as latin-1, so each char of `raw` is one byte off the wire.
    if (decodePath(raw) === pathInfo) return unquoteBytes(raw);
  }
  return isAscii(pathInfo) ? pathInfo : Buffer.from(pathInfo, "utf8").toString("latin1");
}

const NON_ASCII = /[^\x00-\x7f]/;
function isAscii(text: string): boolean {
  return !NON_ASCII.test(text);
}

/**
 * Splits a byte-string path into segments: empty and "." segments drop out, ".." removes the one
 * before it. Undefined when ".." would climb above the root, or a segment holds a NUL or a
 * backslash (never a name on a POSIX server, always an attack elsewhere).
 */
export function splitPath(path: string): PathParts | undefined {
  if (path.includes("\0") || path.includes("\\")) return undefined;
  const segments: string[] = [];
  const words = path.split("/");
  let last = "";
  for (const word of words) {
    last = word;
    if (word === "" || word === ".") continue;
    if (word === "..") {
      if (segments.length === 0) return undefined;
      segments.pop();
    } else {
      segments.push(word);
    }
  }
  const hasTrailingSlash = words.length > 1 && (last === "" || last === "." || last === "..");
  return { segments, hasTrailingSlash };
}

/** The file system path of `segments` under `root` (a real path, no trailing slash), as bytes. */
export function toFsPath(root: Buffer, segments: readonly string[]): Buffer {
  if (segments.length === 0) return root;
  return Buffer.concat([root, Buffer.from("/" + segments.join("/"), "latin1")]);
}

/** Whether `path` is `root` or inside it, compared as bytes (both real paths). */
export function isInside(root: Buffer, path: Buffer): boolean {
  if (path.length === root.length) return path.equals(root);
  if (path.length < root.length) return false;
  // The root "/" already ends in a slash; any other root needs one after it.
  const rootLength = root.length === 1 ? 0 : root.length;
  return path[rootLength] === 0x2f && path.subarray(0, rootLength).equals(root.subarray(0, rootLength));
}

// RFC 3986 unreserved characters plus "/": what urllib.parse.quote leaves alone by default.
const SAFE = new Array<boolean>(128).fill(false);
for (const char of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/") SAFE[char.charCodeAt(0)] = true;
const HEX = "0123456789ABCDEF";

/** Percent-encodes a byte string for a URL, leaving unreserved characters and "/" as they are. */
export function quoteBytes(bytes: string): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const code = bytes.charCodeAt(i);
    if (code < 128 && SAFE[code] === true) out += bytes[i];
    else out += "%" + HEX[(code >> 4) & 15] + HEX[code & 15];
  }
  return out;
}

/** A byte string as text for people: UTF-8, with U+FFFD for bytes that are not. */
export function bytesToText(bytes: string): string {
  return isAscii(bytes) ? bytes : Buffer.from(bytes, "latin1").toString("utf8");
}

/** A byte string as text for CGI variables: UTF-8 when valid, else one char per byte (as PATH_INFO is). */
export function bytesToVariable(bytes: string): string {
  if (isAscii(bytes)) return bytes;
  const buffer = Buffer.from(bytes, "latin1");
  return isUtf8(buffer) ? buffer.toString("utf8") : bytes;
}
