// A Fetch handler as a gw app: fromFetchHandler runs a `(Request) => Response` function (Hono,
// srvx) under any gw gateway, building the Request from the environ. The other way round is to-fetch.ts.
import { MAX_MEMO_ENTRIES, MAX_MEMO_KEY, decodePath } from "../core/environ.ts";
import { isHopByHop, isValidHost } from "../core/http-syntax.ts";
import { hostUri, requestUri } from "../core/util.ts";
import type { App, Body, Environ, HeaderPair } from "../core/types.ts";
import type { FetchLike } from "./to-fetch.ts";

// node:http by getBuiltinModule, not import: see docs/ARCHITECTURE.md, "Startup".
const { STATUS_CODES } = process.getBuiltinModule("node:http");

// Environ keys repeat across requests, so their header names are memoised; bounded in count and
// in key length because clients choose them, and cleared when full so ordinary names stay cached.
const requestHeaderNames = new Map<string, string>();
function requestHeaderName(key: string): string {
  let name = requestHeaderNames.get(key);
  if (name === undefined) {
    name = key.slice(5).toLowerCase().replaceAll("_", "-");
    if (key.length <= MAX_MEMO_KEY) {
      if (requestHeaderNames.size >= MAX_MEMO_ENTRIES) requestHeaderNames.clear();
      requestHeaderNames.set(key, name);
    }
  }
  return name;
}

/** How many header names the memo holds (for tests of its bound). */
export function requestHeaderMemoSize(): number {
  return requestHeaderNames.size;
}

/**
 * A path for a URL: "\" percent-encoded, since the URL parser reads it as "/" and
 * "/public\..\admin" would reach the handler as "/admin" while any proxy in front saw "/public".
 */
function escapeBackslashes(path: string): string {
  return path.includes("\\") ? path.replaceAll("\\", "%5C") : path;
}

/** The URL of the request: the raw target when nothing has rewritten the path, else requestUri. */
function urlOf(environ: Environ): string {
  const uri = environ.REQUEST_URI;
  if (environ.SCRIPT_NAME === "" && typeof uri === "string" && uri.charCodeAt(0) === 0x2f) {
    const mark = uri.indexOf("?");
    const path = mark === -1 ? uri : uri.slice(0, mark);
    const query = mark === -1 ? "" : uri.slice(mark + 1);
    // The raw target keeps escapes such as %2F that PATH_INFO has decoded, which routers may care about.
    if (query === environ.QUERY_STRING && decodePath(path) === environ.PATH_INFO) {
      return hostUri(environ) + (mark === -1 ? escapeBackslashes(path) : escapeBackslashes(path) + "?" + query);
    }
  }
  // requestUri percent-encodes every "\" in SCRIPT_NAME and PATH_INFO already.
  return requestUri(environ);
}

/**
 * The Request a Fetch handler gets. Its `signal` is made on first use: undici's own signal
 * following (init.signal) costs a FinalizationRegistry entry per request, which most handlers
 * never read. Aborted when gw stops the response early (the client went away).
 */
class GatewayRequest extends Request {
  #abort: AbortController | undefined;
  #isAborted = false;

  static {
    // An accessor in place of Request's own `signal` (TypeScript types it as a plain property).
    Object.defineProperty(GatewayRequest.prototype, "signal", {
      configurable: true,
      get(this: GatewayRequest): AbortSignal {
        this.#abort ??= new AbortController();
        if (this.#isAborted) this.#abort.abort();
        return this.#abort.signal;
      },
    });
  }

  /** Aborts the signal, now or when it is first read. */
  static abort(request: GatewayRequest): void {
    request.#isAborted = true;
    request.#abort?.abort();
  }
}

function requestOf(environ: Environ): GatewayRequest {
  const host = environ.HTTP_HOST;
  // Any gw gateway has refused such a Host already; an app called some other way must not build a URL from it.
  if (host !== undefined && !isValidHost(host)) throw new TypeError("the Host header is not host[:port]");
  const headers: [string, string][] = [];
  for (const key in environ) {
    if (key.charCodeAt(0) === 0x48 && key.startsWith("HTTP_")) {
      const value = environ[key];
      if (typeof value === "string") headers.push([requestHeaderName(key), value]);
    }
  }
  if (environ.CONTENT_TYPE) headers.push(["content-type", environ.CONTENT_TYPE]);
  if (environ.CONTENT_LENGTH) headers.push(["content-length", environ.CONTENT_LENGTH]);
  const method = environ.REQUEST_METHOD;
  let body: ReadableStream<Uint8Array> | null = null;
  if (method !== "GET" && method !== "HEAD" && environ.CONTENT_LENGTH !== "0") {
    const input = environ["gw.input"];
    let iterator: AsyncIterator<Uint8Array> | undefined;
    body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        iterator ??= input[Symbol.asyncIterator]();
        const step = await iterator.next();
        if (step.done === true) controller.close();
        else controller.enqueue(step.value);
      },
      async cancel() {
        await iterator?.return?.();
      },
    });
  }
  return new GatewayRequest(urlOf(environ), { method, headers, body, duplex: "half" } as RequestInit);
}

function statusLineOf(response: Response): string {
  const code = response.status;
  return `${code} ${response.statusText || STATUS_CODES[code] || "Unknown"}`;
}

function headersOf(response: Response): HeaderPair[] {
  const headers: HeaderPair[] = [];
  for (const [name, value] of response.headers) {
    // Set-Cookie must not be joined (RFC 6265 §3); getSetCookie() gives each one.
    if (name === "set-cookie") continue;
    // The connection belongs to gw's server (PEP 3333), and it frames the body itself.
    if (isHopByHop(name)) continue;
    headers.push([name, value]);
  }
  for (const cookie of response.headers.getSetCookie()) headers.push(["set-cookie", cookie]);
  return headers;
}

type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>;

const TICK = Symbol("tick");

/** Resolves after pending I/O callbacks: long enough for a body already in memory to say it is done. */
function tick(): Promise<typeof TICK> {
  return new Promise((resolve) => setImmediate(resolve, TICK));
}

/** The Response body as a gw body: yields its chunks, cancels the stream and aborts the request on an early close(). */
function bodyOf(first: Uint8Array, next: Promise<ReadResult>, reader: ReadableStreamDefaultReader<Uint8Array>, request: GatewayRequest): Body {
  let held: Uint8Array | undefined = first;
  let waiting: Promise<ReadResult> | undefined = next;
  let isDone = false;
  const stop = (): void => {
    if (isDone) return;
    isDone = true;
    // The client went away or gw stopped early: the handler may stop producing.
    GatewayRequest.abort(request);
    reader.cancel().catch(() => undefined);
  };
  const iterator: AsyncIterator<Uint8Array> = {
    async next() {
      if (held !== undefined) {
        const value = held;
        held = undefined;
        return { done: false, value };
      }
      if (isDone) return { done: true, value: undefined };
      const read = waiting ?? reader.read();
      waiting = undefined;
      const step = await read;
      if (step.done === true) {
        isDone = true;
        return { done: true, value: undefined };
      }
      return { done: false, value: step.value };
    },
    async return() {
      stop();
      return { done: true, value: undefined };
    },
  };
  return { [Symbol.asyncIterator]: () => iterator, close: stop };
}

/**
 * A Fetch handler `(request) => Response` (Hono's `app.fetch`, srvx, any worker-style function)
 * as a gw app. The Request is built from the environ (its body streams from gw.input); the
 * Response's status, headers (each Set-Cookie on its own) and body stream back. A body that is
 * already complete in memory is sent with Content-Length.
 */
export function fromFetchHandler(handler: FetchLike): App {
  if (typeof handler !== "function") throw new TypeError("fromFetchHandler needs a function (request) => Response");
  return async function fetchApp(environ, startResponse) {
    let request: GatewayRequest;
    try {
      request = requestOf(environ);
    } catch {
      // new Request() refuses a URL or header it cannot parse (a bad Host, say): the client's fault.
      startResponse("400 Bad Request", [["Content-Type", "text/plain"]]);
      return ["bad request"];
    }
    const response = await handler(request);
    if (response === null || typeof response !== "object" || typeof response.status !== "number" || typeof response.headers?.getSetCookie !== "function") {
      throw new TypeError(`the Fetch handler returned ${response === null ? "null" : typeof response}, not a Response`);
    }
    startResponse(statusLineOf(response), headersOf(response));
    const stream = response.body;
    // A HEAD-aware handler (Hono) answers HEAD with GET's headers and no body: the gateway then
    // claims no length rather than "Content-Length: 0" (SPEC §5.4).
    if (stream === null) return [];
    const reader = stream.getReader();
    const first = await reader.read();
    if (first.done === true) return [];
    const next = reader.read();
    // Awaited later, or never when gw stops early; a rejection then must not go unhandled.
    next.catch(() => undefined);
    // A body built from a string or bytes is done within the same turn; then it is sent whole.
    const settled = await Promise.race([next, tick()]);
    if (settled !== TICK && settled.done === true) return [first.value];
    return bodyOf(first.value, next, reader, request);
  };
}
