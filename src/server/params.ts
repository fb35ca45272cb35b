// The environ of a request a web server describes in CGI variables (FastCGI PARAMS, SCGI
// headers): the variables as sent (RFC 3875 §4.1), PEP 3333's required keys defaulted.
import { cgiStyleEnviron, decodePath, originPath, textOfBytes } from "../core/environ.ts";
import type { Environ, ErrorStream, InputStream } from "../core/types.ts";
import { guessScheme } from "../core/util.ts";

/** How a front turns a web server's variables into an environ. */
export interface ParamsOptions {
  /**
   * SCRIPT_NAME for every request, for a web server that sends none it can be trusted with;
   * PATH_INFO is then the path of REQUEST_URI after it.
   */
  scriptName?: string;
  /** gw.multiprocess: whether other processes serve the same app. @default false */
  isMultiprocess?: boolean;
}

// Any char above U+007F: the variable's bytes were read one char a byte and may be UTF-8.
const HIGH = /[\u0080-\u00ff]/;

/** A path variable's bytes, read as latin-1, as text: UTF-8 when valid, else latin-1 (docs/SPEC.md). */
function pathText(value: string): string {
  return HIGH.test(value) ? textOfBytes(Buffer.from(value, "latin1")) : value;
}

/** `path` after `prefix` when the prefix is whole path segments of it, else all of `path`. */
function pathAfter(path: string, prefix: string): string {
  if (prefix === "" || !path.startsWith(prefix)) return path;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 0x2f ? path.slice(prefix.length) : path;
}

/** The path of REQUEST_URI, percent-decoded; "" when there is none. */
function uriPath(environ: Environ): string {
  const uri = environ.REQUEST_URI;
  if (typeof uri !== "string") return "";
  const mark = uri.indexOf("?");
  return decodePath(originPath(mark === -1 ? uri : uri.slice(0, mark)));
}

/**
 * Builds the environ from `pairs` (flat: name, value, name, value... as latin-1 strings). A
 * repeated HTTP_* variable (nginx before 1.23 sends each header line as its own) is joined with
 * "," (Cookie with "; "), any other repeated variable takes the last value, as a later
 * `fastcgi_param` would. Names starting "gw." are the server's own and are skipped, and so are
 * HTTP_CONTENT_LENGTH and HTTP_CONTENT_TYPE, which PEP 3333 forbids.
 */
export function environFromParams(pairs: readonly string[], input: InputStream, errors: ErrorStream, options: ParamsOptions): Environ {
  const environ = cgiStyleEnviron(input, errors, { urlScheme: "http", isMultiprocess: options.isMultiprocess ?? false, isRunOnce: false });
  let hasPathInfo = false;
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const name = pairs[i]!;
    const value = pairs[i + 1]!;
    const first = name.charCodeAt(0);
    if (first === 0x48 && name.startsWith("HTTP_")) {
      // PEP 3333: the two headers live in CONTENT_TYPE and CONTENT_LENGTH only, where the web
      // server puts them too (nginx sends each both ways).
      if (name === "HTTP_CONTENT_LENGTH" || name === "HTTP_CONTENT_TYPE") continue;
      const previous = environ[name];
      environ[name] = previous === undefined ? value : `${previous as string}${name === "HTTP_COOKIE" ? "; " : ","}${value}`;
    } else if (first === 0x67 && name.startsWith("gw.")) {
      continue;
    } else if (name === "__proto__") {
      // A plain assignment would replace the environ's prototype.
      continue;
    } else {
      environ[name] = value;
      if (name === "PATH_INFO") hasPathInfo = true;
    }
  }
  if (options.scriptName !== undefined) {
    environ.SCRIPT_NAME = options.scriptName;
    environ.PATH_INFO = pathAfter(uriPath(environ), options.scriptName);
  } else {
    environ.SCRIPT_NAME = pathText(environ.SCRIPT_NAME);
    if (hasPathInfo) {
      environ.PATH_INFO = pathText(environ.PATH_INFO);
    } else {
      // No PATH_INFO sent (nginx's stock fastcgi_params, every scgi_params): the rest of
      // REQUEST_URI's path after SCRIPT_NAME, as flup took it.
      environ.PATH_INFO = pathAfter(uriPath(environ), environ.SCRIPT_NAME);
    }
  }
  // gw's rule (docs/SPEC.md §6): at the root PATH_INFO is "/", never both empty.
  if (environ.SCRIPT_NAME === "" && environ.PATH_INFO === "") environ.PATH_INFO = "/";
  if (environ.HTTPS !== undefined) environ["gw.url_scheme"] = guessScheme(environ);
  return environ;
}

/** The request line for the access log: REQUEST_URI as sent, else rebuilt from the path and query. */
export function requestLineOf(environ: Environ): string {
  let target = environ.REQUEST_URI;
  if (typeof target !== "string") {
    target = environ.SCRIPT_NAME + environ.PATH_INFO;
    if (environ.QUERY_STRING !== "") target += "?" + environ.QUERY_STRING;
  }
  return `${environ.REQUEST_METHOD} ${target} ${environ.SERVER_PROTOCOL}`;
}
