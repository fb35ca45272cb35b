// A folder's files as a gw app (http.server's SimpleHTTPRequestHandler): index files, listings,
// MIME types, Last-Modified and ETag with 304s, single byte ranges (RFC 9110 §14), HEAD, and
// never a byte from outside the root, whatever the path or its symbolic links say.
// File system calls are synchronous, as in http.server: a stat or a read from the page cache takes
// microseconds, while a thread-pool round trip costs two context switches (bench: 1 KiB and 1 MiB files).
import { closeSync, openSync, readSync, realpathSync, statSync, type Stats } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { UserError } from "../core/errors.ts";
import { findInside, isSameVersion, SmallFiles, type Found } from "./file-cache.ts";
import { guessType } from "./mime.ts";
import { errorPage, listingPage, type ListingEntry } from "./pages.ts";
import { bytesToText, requestPath, splitPath, type PathParts } from "./url-path.ts";
import { quoteBytes } from "../core/util.ts";
import type { App, Body, Environ, HeaderPair, StartResponse } from "../core/types.ts";

// node:http by getBuiltinModule, not import: see docs/ARCHITECTURE.md, "Startup".
const { STATUS_CODES } = process.getBuiltinModule("node:http");

export { findInside, handOver, type Found } from "./file-cache.ts";

/** Options for staticApp. */
export interface StaticOptions {
  /** File names tried in order when a folder is asked for. @default ["index.html", "index.htm"] */
  index?: readonly string[];
  /** List a folder that has no index file; when false such a folder is a 404. @default true */
  shouldList?: boolean;
}

const HTML = "text/html; charset=utf-8";
// Files up to this size are read in one go and kept, checked against each request's stat: a
// kept Buffer goes to the socket as it is, while reading 1 MiB into fresh memory for each request
// cost 3-4 times the CPU (docs/PERFORMANCE.md, "Static files"). Bigger files stream in blocks,
// one block per pull, so the handler's backpressure applies.
const SMALL_FILE = 1024 * 1024;
const CACHE_BYTES = 32 * 1024 * 1024;
// Each block costs a write and a drain check, so big blocks halve the CPU a large file takes.
const BLOCK_SIZE = 512 * 1024;

const EXPLANATIONS: Readonly<Record<number, string>> = {
  400: "Bad request syntax or unsupported method.",
  403: "Request forbidden -- authorization will not help.",
  404: "Nothing matches the given URI.",
  411: "Client must specify Content-Length.",
  416: "Cannot satisfy request range.",
  500: "Server got itself in trouble.",
  501: "Server does not support this operation.",
  502: "Invalid responses from another server/proxy.",
  503: "The server cannot process the request due to a high load.",
  504: "The gateway server did not receive a timely response.",
};

/** Starts an error response with http.server's HTML error page and returns its body. */
export function sendError(startResponse: StartResponse, code: number, message?: string, headers: HeaderPair[] = []): Body {
  const reason = STATUS_CODES[code] ?? "Error";
  const page = Buffer.from(errorPage(code, message ?? reason, EXPLANATIONS[code] ?? reason));
  // Content-Length even though the body is an array: callers may relay it through a generator.
  startResponse(`${code} ${reason}`, [["Content-Type", HTML], ["Content-Length", String(page.byteLength)], ...headers]);
  return [page];
}

/** The real path of a folder to serve, as bytes; a UserError when it is not a folder. */
export function realFolder(root: string): Buffer {
  let real: Buffer;
  try {
    real = realpathSync(root, { encoding: "buffer" });
    if (!statSync(real).isDirectory()) throw new UserError(`${root} is not a directory`);
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`directory not found: ${root}`, { cause: error });
  }
  return real;
}

interface Site {
  root: Buffer;
  /** The root as a byte string, to build keys and paths from. */
  rootKey: string;
  index: readonly string[];
  /** "/" and each index name as a byte string. */
  indexKeys: readonly string[];
  shouldList: boolean;
  cache: SmallFiles;
  /** Last-Modified and ETag by real path, valid for the version of the file they were made for. */
  validators: Map<string, Validators>;
  /** Rendered listings by folder and shown path, valid while the folder's stats show the same version. */
  listings: Map<string, { stats: Stats; page: Promise<Buffer | undefined> }>;
}

// A listing of a big folder takes tens of milliseconds to render; concurrent and repeated requests
// share one rendering until the folder changes (its mtime, ctime, size or inode).
const LISTINGS_KEPT = 32;

/**
 * Serves the files under `root` (SimpleHTTPRequestHandler): GET and HEAD, index files, listings,
 * a 301 to add a folder's trailing slash, 304s and single ranges. Throws a UserError when `root`
 * is not a folder.
 */
export function staticApp(root: string, options: StaticOptions = {}): App {
  const real = realFolder(root);
  const index = options.index ?? ["index.html", "index.htm"];
  const site: Site = {
    root: real,
    rootKey: real.toString("latin1"),
    index,
    indexKeys: index.map((name) => Buffer.from("/" + name).toString("latin1")),
    shouldList: options.shouldList ?? true,
    cache: new SmallFiles(CACHE_BYTES),
    validators: new Map(),
    listings: new Map(),
  };
  return (environ, startResponse) => {
    const method = environ.REQUEST_METHOD;
    if (method !== "GET" && method !== "HEAD") {
      return sendError(startResponse, 501, `Unsupported method (${JSON.stringify(method)})`, [["Allow", "GET, HEAD"]]);
    }
    const parts = splitPath(requestPath(environ));
    if (parts === undefined) return sendError(startResponse, 404, "File not found");
    return serve(site, environ, startResponse, parts);
  };
}

function serve(site: Site, environ: Environ, startResponse: StartResponse, parts: PathParts): Body | Promise<Body> {
  const segments = parts.segments;
  const found = findInside(site.root, segments.length === 0 ? site.rootKey : site.rootKey + "/" + segments.join("/"), environ);
  if (found === undefined) return sendError(startResponse, 404, "File not found");
  if (found.stats.isDirectory()) {
    if (!parts.hasTrailingSlash) return redirectToFolder(environ, startResponse, parts);
    for (let i = 0; i < site.index.length; i++) {
      const index = findInside(site.root, found.key + site.indexKeys[i]!);
      if (index !== undefined && index.stats.isFile()) return sendFile(site, environ, startResponse, index, site.index[i]!);
    }
    if (!site.shouldList) return sendError(startResponse, 404, "File not found");
    return list(site, environ, startResponse, found, parts);
  }
  // Issue17324: "/file/" names a folder, and a file is not one. FIFOs and devices are never read.
  if (!found.stats.isFile() || parts.hasTrailingSlash) return sendError(startResponse, 404, "File not found");
  return sendFile(site, environ, startResponse, found, parts.segments.at(-1) ?? "");
}

/** The URL of this app's root: SCRIPT_NAME, quoted. */
function mountPoint(environ: Environ): string {
  const scriptName = environ.SCRIPT_NAME ?? "";
  return scriptName === "" ? "" : quoteBytes(Buffer.from(scriptName, "utf8").toString("latin1"));
}

/**
 * A folder asked for without its trailing slash: 301 to the slash form, query kept. The target is
 * built from the resolved segments, so it always starts with a single "/" and never names another host.
 */
function redirectToFolder(environ: Environ, startResponse: StartResponse, parts: PathParts): Body {
  let location = mountPoint(environ) + quoteBytes("/" + parts.segments.join("/"));
  if (parts.segments.length > 0) location += "/";
  if (environ.QUERY_STRING) location += "?" + environ.QUERY_STRING;
  startResponse("301 Moved Permanently", [["Location", location], ["Content-Length", "0"]]);
  return [];
}

/** The strong validator of a file: inode, size and modification time in microseconds. */
function entityTag(stats: Stats): string {
  return `"${stats.ino.toString(36)}-${stats.size.toString(36)}-${Math.round(stats.mtimeMs * 1000).toString(36)}"`;
}

/** RFC 9110 §13.1.2: whether an If-None-Match list names the current tag (weak comparison). */
function matchesTag(list: string, tag: string): boolean {
  if (list.trim() === "*") return true;
  for (const item of list.split(",")) {
    const candidate = item.trim();
    if ((candidate.startsWith("W/") ? candidate.slice(2) : candidate) === tag) return true;
  }
  return false;
}

/** RFC 9110 §13.2.2: If-None-Match decides when present; If-Modified-Since only without it. */
function isNotModified(environ: Environ, tag: string, modified: number): boolean {
  const noneMatch = environ.HTTP_IF_NONE_MATCH;
  if (noneMatch !== undefined) return matchesTag(noneMatch, tag);
  const since = environ.HTTP_IF_MODIFIED_SINCE;
  if (since === undefined) return false;
  const time = Date.parse(since);
  return !Number.isNaN(time) && modified <= time;
}

type ByteRange = { start: number; end: number } | "unsatisfiable" | undefined;

const RANGE = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i;

/**
 * One byte range of a file of `size` bytes (RFC 9110 §14.1.2). Undefined means "send it all":
 * no Range, a malformed one, or several ranges, which a server may answer in full.
 */
function parseRange(header: string, size: number): ByteRange {
  const match = RANGE.exec(header);
  if (match === null) return undefined;
  const [, first = "", last = ""] = match;
  if (first === "") {
    if (last === "") return undefined;
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== "" && Number(last) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end: last === "" ? size - 1 : Math.min(Number(last), size - 1) };
}

/** RFC 9110 §13.1.5: a Range applies only while If-Range still names this version of the file. */
function isRangeCurrent(ifRange: string | undefined, tag: string, lastModified: string): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  return value.startsWith('"') || value.startsWith("W/") ? value === tag : value === lastModified;
}

interface Validators {
  stats: Stats;
  /** mtime in whole seconds, as ms. */
  modified: number;
  lastModified: string;
  tag: string;
}

const VALIDATORS_KEPT = 1024;

/** The file's Last-Modified and ETag: formatting a date costs more than looking it up. */
function validatorsOf(site: Site, file: Found): Validators {
  const known = site.validators.get(file.key);
  if (known !== undefined && isSameVersion(known.stats, file.stats)) return known;
  const { stats } = file;
  const modified = Math.floor(stats.mtimeMs / 1000) * 1000;
  const made: Validators = { stats, modified, lastModified: new Date(modified).toUTCString(), tag: entityTag(stats) };
  if (known === undefined && site.validators.size >= VALIDATORS_KEPT) site.validators.clear();
  site.validators.set(file.key, made);
  return made;
}

function sendFile(site: Site, environ: Environ, startResponse: StartResponse, file: Found, name: string): Body {
  const { stats } = file;
  const size = stats.size;
  const { modified, lastModified, tag } = validatorsOf(site, file);
  if (isNotModified(environ, tag, modified)) {
    startResponse("304 Not Modified", [["Last-Modified", lastModified], ["ETag", tag]]);
    return [];
  }
  const headers: HeaderPair[] = [["Content-Type", guessType(name)], ["Last-Modified", lastModified], ["ETag", tag], ["Accept-Ranges", "bytes"]];
  let status = "200 OK";
  let start = 0;
  let end = size - 1;
  const rangeHeader = environ.HTTP_RANGE;
  if (rangeHeader !== undefined && isRangeCurrent(environ.HTTP_IF_RANGE, tag, lastModified)) {
    const range = parseRange(rangeHeader, size);
    if (range === "unsatisfiable") return sendError(startResponse, 416, "Requested Range Not Satisfiable", [["Content-Range", `bytes */${size}`]]);
    if (range !== undefined) {
      ({ start, end } = range);
      status = "206 Partial Content";
      headers.push(["Content-Range", `bytes ${start}-${end}/${size}`]);
    }
  }
  const length = size === 0 ? 0 : end - start + 1;
  headers.push(["Content-Length", String(length)]);
  // HEAD: the handler lets a declared Content-Length through with an empty body, so the file stays closed.
  if (length === 0 || environ.REQUEST_METHOD === "HEAD") {
    startResponse(status, headers);
    return [];
  }
  if (size <= SMALL_FILE) {
    const data = site.cache.read(file);
    if (length === size) {
      // Changed since the stat: the length sent must be the length of what is sent.
      if (data.byteLength !== size) headers[headers.length - 1] = ["Content-Length", String(data.byteLength)];
      startResponse(status, headers);
      return [data];
    }
    if (data.byteLength === size) {
      startResponse(status, headers);
      return [data.subarray(start, end + 1)];
    }
  }
  startResponse(status, headers);
  return fileBlocks(file.path, start, end);
}

/**
 * Bytes `start` to `end` of a file, one block per pull: the handler pulls the next only when the
 * client has taken the last, so a 1 GiB file never sits in memory. The file opens on the first
 * pull and closes when the body ends, fails or is cut short (return() runs the finally).
 */
function* fileBlocks(path: Buffer, start: number, end: number): Generator<Uint8Array, void, undefined> {
  const fd = openSync(path, "r");
  try {
    for (let at = start; at <= end;) {
      const block = Buffer.allocUnsafe(Math.min(BLOCK_SIZE, end - at + 1));
      const read = readSync(fd, block, 0, block.byteLength, at);
      // The file shrank since its stat; the handler reports the short body against Content-Length.
      if (read === 0) return;
      at += read;
      yield read === block.byteLength ? block : block.subarray(0, read);
    }
  } finally {
    closeSync(fd);
  }
}

async function list(site: Site, environ: Environ, startResponse: StartResponse, folder: Found, parts: PathParts): Promise<Body> {
  const shown = (environ.SCRIPT_NAME ?? "") + bytesToText("/" + parts.segments.join("/") + (parts.segments.length > 0 ? "/" : ""));
  const key = folder.key + "\0" + shown;
  const { stats } = folder;
  let known = site.listings.get(key);
  if (known === undefined || !isSameVersion(known.stats, stats)) {
    if (known === undefined && site.listings.size >= LISTINGS_KEPT) site.listings.delete(site.listings.keys().next().value!);
    known = { stats, page: render(folder.path, shown, parts.segments.length === 0) };
    site.listings.set(key, known);
    // A failed read is not kept: the next request tries again.
    const current = known;
    void current.page.then((page) => {
      if (page === undefined && site.listings.get(key) === current) site.listings.delete(key);
    });
  }
  const page = await known.page;
  if (page === undefined) return sendError(startResponse, 404, "No permission to list directory");
  startResponse("200 OK", [["Content-Type", HTML], ["Content-Length", String(page.byteLength)]]);
  return [page];
}

/** Reads a folder and renders its listing page; undefined when it cannot be read. */
async function render(folder: Buffer, shown: string, isTop: boolean): Promise<Buffer | undefined> {
  let dirents;
  try {
    dirents = await readdir(folder, { withFileTypes: true, encoding: "buffer" });
  } catch {
    return undefined;
  }
  const entries = await Promise.all(dirents.map(async (dirent): Promise<ListingEntry> => {
    const bytes = dirent.name.toString("latin1");
    const isSymlink = dirent.isSymbolicLink();
    let isDirectory = dirent.isDirectory();
    if (isSymlink) {
      // Only links cost a stat; readdir's types answer for everything else.
      isDirectory = await stat(Buffer.concat([folder, Buffer.from("/"), dirent.name])).then((info) => info.isDirectory(), () => false);
    }
    return { name: bytesToText(bytes), href: quoteBytes(bytes) + (isDirectory ? "/" : ""), isDirectory, isSymlink };
  }));
  return Buffer.from(listingPage(shown, entries, isTop));
}
