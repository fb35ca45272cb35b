// From a request path to a file under a root folder, byte for byte (http.server's translate_path
// and _url_collapse_path), refusing every path that would leave the root.
import { percentDecodeBytes, textOfBytes } from "../core/environ.ts";
import type { Environ } from "../core/types.ts";

/** A request path split into the segments it names under the root. */
export interface PathParts {
  /** The segments after "." and ".." are resolved, as byte strings (one char per byte). */
  segments: string[];
  /** Whether the path names a folder: it ends in "/", "/." or "/..". */
  hasTrailingSlash: boolean;
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
    const bytes = percentDecodeBytes(raw);
    if (textOfBytes(bytes) === pathInfo) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
  }
  return isAscii(pathInfo) ? pathInfo : Buffer.from(pathInfo, "utf8").toString("latin1");
}

const NON_ASCII = /[^\x00-\x7f]/;
/** Whether a string is all ASCII. */
export function isAscii(text: string): boolean {
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

/**
 * A byte string as text for people and for CGI variables: UTF-8, with U+FFFD for bytes that are
 * not (as Python's http.server decodes them). A script's environment goes out UTF-8 encoded, so
 * a one-char-per-byte string would reach it as other bytes (0xFF as "\xc3\xbf") and garble the
 * valid characters around it too.
 */
export function bytesToText(bytes: string): string {
  return isAscii(bytes) ? bytes : Buffer.from(bytes, "latin1").toString("utf8");
}
