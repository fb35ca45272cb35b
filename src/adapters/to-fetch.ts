// A gw app as a Fetch handler: toFetchHandler runs it as `(Request) => Response` for Bun, Deno,
// workers and srvx; FetchResponseHandler is its handler over a ReadableStream. The other way
// round is from-fetch.ts.
import { BaseHandler, BUFFER_LIMIT } from "../gateway/base-handler.ts";
import { decodePath, headerKey, remoteAddress } from "../core/environ.ts";
import { runHandler } from "../gateway/run.ts";
import { BodyInput, ErrorOutput, inputFromBytes, type TextSink } from "../core/input.ts";
import { fileWrapper } from "../core/util.ts";
import { GW_VERSION, SERVER_SOFTWARE } from "../core/version.ts";
import type { AnyApp, Chunk, Environ, ErrorStream, HeaderPair } from "../core/types.ts";

/** What the host knows about a request beyond the Request itself; every field is optional. */
export interface FetchInfo {
  /** The client's address: a string, or Deno's `info.remoteAddr` ({ hostname, port }). */
  remoteAddr?: string | { hostname: string; port?: number };
  /** Bun's `server.requestIP(request)`, when Bun's server object is passed as the info. */
  requestIP?: (request: Request) => { address: string; port?: number } | null;
  /** The HTTP version the client spoke, when the host knows it. @default "HTTP/1.1" */
  serverProtocol?: string;
}

/** A gw app as a Fetch handler. */
export type FetchHandler = (request: Request, info?: FetchInfo) => Promise<Response>;

/** A Fetch handler of any host: one Request in, a Response (or a promise of one) out. */
export type FetchLike = (request: Request) => Response | Promise<Response>;

/** Options for toFetchHandler. */
export interface FetchHandlerOptions {
  /** Where gw.errors and tracebacks go. @default process.stderr */
  errors?: TextSink;
  /** Bytes the response stream buffers before the app's body waits for the client. @default 262144 */
  highWaterMark?: number;
  /** Keep request headers whose names hold "_" (dropped by default, as in the node server). @default false */
  keepUnderscoreHeaders?: boolean;
}

function remoteOf(request: Request, info: FetchInfo | undefined): { address: string; port: string } | undefined {
  let address: string | undefined;
  let port: number | undefined;
  const remote = info?.remoteAddr;
  if (typeof remote === "string") address = remote;
  else if (remote !== undefined) ({ hostname: address, port } = remote);
  else if (typeof info?.requestIP === "function") {
    const found = info.requestIP(request);
    if (found) ({ address, port } = found);
  } else {
    // srvx's ServerRequest carries the address itself.
    const ip = (request as { ip?: unknown }).ip;
    if (typeof ip === "string") address = ip;
  }
  if (address === undefined) return undefined;
  return { address: remoteAddress(address), port: port === undefined ? "" : String(port) };
}

/**
 * The environ of a Fetch Request (PEP 3333 "environ Variables"): PATH_INFO is the URL's path,
 * percent-decoded; repeated headers arrive joined with ", ", since Fetch's Headers joins them.
 */
export function environFromFetch(request: Request, info: FetchInfo | undefined, errors: ErrorOutput, keepUnderscoreHeaders: boolean = false): Environ {
  const url = new URL(request.url);
  const https = url.protocol === "https:";
  const hostname = url.hostname;
  const remote = remoteOf(request, info);
  const environ: Environ = {
    REQUEST_METHOD: request.method,
    SCRIPT_NAME: "",
    // The URL parser has percent-encoded every non-ASCII byte, so this is the latin-1 string decodePath wants.
    PATH_INFO: decodePath(url.pathname),
    QUERY_STRING: url.search.slice(1),
    REQUEST_URI: url.pathname + url.search,
    SERVER_NAME: hostname.startsWith("[") ? hostname.slice(1, -1) : hostname,
    SERVER_PORT: url.port || (https ? "443" : "80"),
    SERVER_PROTOCOL: info?.serverProtocol ?? "HTTP/1.1",
    SERVER_SOFTWARE,
    GATEWAY_INTERFACE: "CGI/1.1",
    "gw.version": GW_VERSION,
    "gw.url_scheme": https ? "https" : "http",
    "gw.input": request.body === null ? inputFromBytes() : new BodyInput(request.body as AsyncIterable<Uint8Array>),
    "gw.errors": errors,
    "gw.multithread": false,
    "gw.multiprocess": false,
    "gw.run_once": false,
    "gw.file_wrapper": fileWrapper,
  };
  if (remote !== undefined) {
    environ.REMOTE_ADDR = remote.address;
    if (remote.port !== "") environ.REMOTE_PORT = remote.port;
  }
  for (const [name, value] of request.headers) {
    // PEP 3333: Content-Type and Content-Length have no HTTP_ prefix. Fetch gives names in lower case.
    if (name === "content-type") environ.CONTENT_TYPE = value;
    else if (name === "content-length") environ.CONTENT_LENGTH = value;
    else {
      const key = headerKey(name, keepUnderscoreHeaders);
      if (key !== undefined) environ[key] = value;
    }
  }
  return environ;
}

function toBytes(chunk: Chunk): Uint8Array {
  return typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

interface Head {
  status: number;
  statusText: string;
  headers: Headers;
}

/**
 * The handler over a Fetch Response: the headers become a Response, the body a ReadableStream
 * whose pull() is the drain signal and whose cancel() is the client going away. A body that is
 * complete before the Response is needed goes out as bytes, so the host frames it with a length.
 */
export class FetchResponseHandler extends BaseHandler {
  readonly #request: Request;
  readonly #resolve: (response: Response) => void;
  readonly #limit: number;
  #head: Head | undefined;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #isEnded = false;
  #cutReason: Error | undefined;
  #isMaterialized = false;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #drained: (() => void) | undefined;
  #onSignalAbort: (() => void) | undefined;

  constructor(request: Request, environ: Environ, errors: ErrorStream, resolve: (response: Response) => void, limit: number = BUFFER_LIMIT) {
    super(environ, errors);
    this.#request = request;
    this.#resolve = resolve;
    this.#limit = limit;
  }

  protected override sendHeaders(code: number, status: string, headers: HeaderPair[], contentLength: number): void {
    const out = new Headers();
    for (let i = 0; i < headers.length; i++) {
      const [name, value] = headers[i]!;
      out.append(name, value);
    }
    if (contentLength >= 0) out.set("Content-Length", String(contentLength));
    if (!this.hasServerHeader) out.set("Server", SERVER_SOFTWARE);
    this.#head = { status: code, statusText: status.slice(4), headers: out };
    // The rest of a body the app already has arrives in this same turn; waiting one microtask
    // lets it go out as bytes with a length instead of as a stream.
    queueMicrotask(() => this.materialize());
  }

  protected override sendData(chunk: Chunk): boolean {
    const bytes = toBytes(chunk);
    const controller = this.#controller;
    if (controller !== undefined) {
      controller.enqueue(bytes);
      return (controller.desiredSize ?? 0) > 0;
    }
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.byteLength;
    return this.#pendingBytes < this.#limit;
  }

  protected override sendEnd(chunk?: Chunk): void {
    if (chunk !== undefined) this.sendData(chunk);
    this.#isEnded = true;
    this.#controller?.close();
  }

  protected override abortConnection(): void {
    const reason = new Error("the response was cut off: the app failed after its headers were sent");
    if (this.#controller !== undefined) this.#controller.error(reason);
    else this.#cutReason = reason;
  }

  protected override waitForDrain(): Promise<void> {
    const controller = this.#controller;
    if (controller !== undefined && (controller.desiredSize ?? 0) > 0) return Promise.resolve();
    return new Promise((resolve) => (this.#drained = resolve));
  }

  protected override watchForAbort(): void {
    const signal = this.#request.signal;
    if (signal.aborted) return this.handleAbort();
    this.#onSignalAbort = () => this.handleAbort();
    signal.addEventListener("abort", this.#onSignalAbort, { once: true });
  }

  protected override onFinish(): void {
    if (this.#onSignalAbort !== undefined) this.#request.signal.removeEventListener("abort", this.#onSignalAbort);
    // Aborted before any headers: the host still wants a Response, though nobody will read it.
    if (!this.#isMaterialized && this.#head === undefined) {
      this.#isMaterialized = true;
      this.#resolve(new Response(null, { status: 500, statusText: "Internal Server Error" }));
    }
  }

  #wake(): void {
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.();
  }

  /** Resolves the Response once the headers are out: with bytes when the body is complete, else a stream. */
  materialize(): void {
    const head = this.#head;
    if (this.#isMaterialized || head === undefined) return;
    this.#isMaterialized = true;
    const pending = this.#pending;
    this.#pending = [];
    let body: Uint8Array | ReadableStream<Uint8Array> | null;
    if (this.#isEnded && this.#cutReason === undefined) {
      body = pending.length === 0 ? null : concat(pending, this.#pendingBytes);
    } else {
      const cut = this.#cutReason;
      body = new ReadableStream<Uint8Array>(
        {
          start: (controller) => {
            for (const chunk of pending) controller.enqueue(chunk);
            if (cut !== undefined) controller.error(cut);
            else if (this.#isEnded) controller.close();
            else this.#controller = controller;
          },
          pull: () => this.#wake(),
          cancel: () => {
            this.#controller = undefined;
            this.handleAbort();
          },
        },
        { highWaterMark: this.#limit, size: (chunk) => chunk.byteLength },
      );
    }
    this.#pendingBytes = 0;
    let response: Response;
    try {
      response = new Response(body, head);
    } catch (error) {
      // Fetch refuses some statuses HTTP allows (a final 1xx, a 205 with a body); say so, send a 500.
      this.logException(error);
      response = new Response(null, { status: 500, statusText: "Internal Server Error" });
    }
    this.#resolve(response);
  }
}

/**
 * A gw app as a Fetch handler `(request, info?) => Promise<Response>`, streaming both ways: the
 * request body is gw.input, the response body a ReadableStream that the app fills only as fast
 * as the client reads. `info` carries what the host knows (client address, HTTP version).
 */
export function toFetchHandler(app: AnyApp, options: FetchHandlerOptions = {}): FetchHandler {
  const errors = new ErrorOutput(options.errors ?? process.stderr);
  const limit = options.highWaterMark ?? BUFFER_LIMIT;
  const keepUnderscores = options.keepUnderscoreHeaders === true;
  return (request, info) =>
    new Promise<Response>((resolve) => {
      const handler = new FetchResponseHandler(request, environFromFetch(request, info, errors, keepUnderscores), errors, resolve, limit);
      // A handler rethrows only on a double fault; the host still gets a Response (cut or 500).
      if (!runHandler(handler, app, errors)) handler.materialize();
    });
}
