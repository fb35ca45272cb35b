// What the file server remembers between requests, and how each request proves it still holds:
// where a request path really leads (realpath costs a readlink per path segment, about four
// times a stat) and the bytes of small files. Every request stats its file once; a remembered
// answer is used only while that stat shows the same version of the same file, so a changed file
// is always served new (docs/PERFORMANCE.md, "Static files").
import { readFileSync, realpathSync, statSync, type Stats } from "node:fs";
import { isAscii, isInside } from "./url-path.ts";

/** A file or folder found inside the root. */
export interface Found {
  /** The real path, inside the root. */
  path: Buffer;
  /** The real path as a byte string (one char per byte), for keys. */
  key: string;
  stats: Stats;
}

/** Whether two stats show the same version of the same file: device, inode, size, mtime and ctime. */
export function isSameVersion(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.dev === b.dev;
}

// A remembered real path is trusted for this long, then resolved again. Within it a hit needs the
// same version of the same inode, whose bytes were inside the root (and not under a CGI folder)
// when resolved: moving a folder away and leaving a link in its place can at most serve for this
// long the unchanged bytes that were served a moment before.
const RESOLVE_AGAIN_MS = 1000;
const PATHS_KEPT = 4096;

const realPaths = new Map<string, { real: Buffer; realKey: string; stats: Stats; at: number }>();

// The cgi app and the file server behind it look up the same path in the same request; the
// second lookup takes the first's answer when it is for the same environ and path.
let handedOver: { token: object; key: string; found: Found } | undefined;

/** Lets the next findInside of `path` for the same `token` (the request's environ) reuse `found`. */
export function handOver(token: object, path: Buffer | string, found: Found): void {
  handedOver = { token, key: typeof path === "string" ? path : path.toString("latin1"), found };
}

/**
 * The real path and stats of `path` (bytes, or a byte string with one char per byte) if it exists
 * inside `root`; undefined otherwise. A symbolic link anywhere on the way that leads out of the
 * root counts as not there. `token`, when given, takes an answer handed over for the same request.
 */
export function findInside(root: Buffer, path: Buffer | string, token?: object): Found | undefined {
  let key: string;
  if (typeof path === "string") {
    key = path;
    // An ASCII path goes to the file system as it is; others as their bytes.
    if (!isAscii(path)) path = Buffer.from(path, "latin1");
  } else {
    key = path.toString("latin1");
  }
  const given = handedOver;
  if (given !== undefined) {
    handedOver = undefined;
    if (given.token === token && given.key === key && isInside(root, given.found.path)) return given.found;
  }
  let stats: Stats | undefined;
  try {
    // No exception for a missing file: V8 builds a stack trace for each, the bulk of a 404's cost.
    stats = statSync(path, { throwIfNoEntry: false });
  } catch {
    // EACCES, ELOOP, ENAMETOOLONG: to the client, all of them are "not found".
    return undefined;
  }
  if (stats === undefined) return undefined;
  const now = performance.now();
  const known = realPaths.get(key);
  if (known !== undefined && now - known.at < RESOLVE_AGAIN_MS && isSameVersion(known.stats, stats)) {
    return isInside(root, known.real) ? { path: known.real, key: known.realKey, stats } : undefined;
  }
  let real: Buffer;
  try {
    real = realpathSync.native(path, { encoding: "buffer" });
    if (!isInside(root, real)) return undefined;
    stats = statSync(real);
  } catch {
    return undefined;
  }
  if (known !== undefined) realPaths.delete(key);
  else if (realPaths.size >= PATHS_KEPT) realPaths.delete(realPaths.keys().next().value!);
  const realKey = real.toString("latin1");
  realPaths.set(key, { real, realKey, stats, at: now });
  return { path: real, key: realKey, stats };
}

// Timestamps have a granularity (a kernel tick; 1 s on some file systems, 2 s on FAT), so two
// writes within one tick can leave size, mtime and ctime alike. Bytes read while the file's last
// change was younger than this may be followed by such a write, and are not kept (git's "racy
// clean" rule). Older ones are: any later write gets a later timestamp.
const RACY_MS = 3000;

/** The wall clock the racy rule reads; tests move it. */
export const wallClock: { now: () => number } = { now: Date.now };

/** The bytes of small files, each valid while its stats show the same version of it. */
export class SmallFiles {
  readonly #entries = new Map<string, { stats: Stats; data: Buffer }>();
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** The file's bytes: from the cache when its stats (taken for this request) still match, else read now. */
  read(file: Found): Buffer {
    const { path, key, stats } = file;
    const known = this.#entries.get(key);
    if (known !== undefined && isSameVersion(known.stats, stats)) return known.data;
    const started = wallClock.now();
    const data = readFileSync(path);
    if (known !== undefined) {
      this.#entries.delete(key);
      this.#bytes -= known.data.byteLength;
    }
    if (started - Math.max(stats.mtimeMs, stats.ctimeMs) <= RACY_MS || data.byteLength !== stats.size || data.byteLength > this.#maxBytes) return data;
    // The oldest entries go first once the cache is full (a Map iterates in insertion order).
    for (const [oldKey, old] of this.#entries) {
      if (this.#bytes + data.byteLength <= this.#maxBytes) break;
      this.#entries.delete(oldKey);
      this.#bytes -= old.data.byteLength;
    }
    this.#entries.set(key, { stats, data });
    this.#bytes += data.byteLength;
    return data;
  }
}
