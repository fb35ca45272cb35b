// Runs gw apps inside node:http: NodeHandler is the handler over a ServerResponse, and
// toNodeListener turns an app into a `(req, res)` listener for http.createServer or Connect.
import type { IncomingMessage, ServerResponse } from "node:http";
import { BaseHandler, BUFFER_LIMIT } from "../gateway/base-handler.ts";
import { runHandler } from "../gateway/run.ts";
import { decodePath, environFromRequest, makeServerInfo, type ServerInfo } from "../core/environ.ts";
import type { TextSink } from "../core/input.ts";
import { SERVER_SOFTWARE } from "../core/version.ts";
import type { AnyApp, Chunk, Environ, ErrorStream, HeaderPair } from "../core/types.ts";

// An app's status is usually one literal, the same string every time: the reason phrase of the
// last one is kept, and comparing costs less than slicing anew.
let lastStatus = "";
let lastReason = "";
function reasonOf(status: string): string {
  if (status !== lastStatus) {
    lastStatus = status;
    lastReason = status.slice(4);
  }
  return lastReason;
}

/** Options for NodeHandler. */
export interface NodeHandlerOptions {
  /** Runs once when the response is over (the access log hooks in here). */
  onDone?: (handler: NodeHandler) => void;
  /** Milliseconds a slow client may take to accept more of the body before it is cut off. @default 120000 */
  drainTimeout?: number;
}

/** The handler over a node:http ServerResponse: one request, one writeHead, node's own framing. */
export class NodeHandler extends BaseHandler {
  private readonly res: ServerResponse;
  private readonly done: ((handler: NodeHandler) => void) | undefined;
  private readonly drainTimeout: number;

  constructor(res: ServerResponse, environ: Environ, errors: ErrorStream, options: NodeHandlerOptions = {}) {
    super(environ, errors);
    this.res = res;
    this.done = options.onDone;
    this.drainTimeout = options.drainTimeout ?? 120_000;
  }

  protected override sendHeaders(code: number, status: string, headers: HeaderPair[], contentLength: number): void {
    // A flat array [name, value, ...]: with no setHeader before it (gw's own server) node walks it
    // in an indexed loop, where an object costs a for-in over a dictionary (about 4k instructions
    // a request, docs/PERFORMANCE.md); repeated names (Set-Cookie) are simply there twice, and
    // "constructor" or "__proto__" are names like any other. After setHeader (middleware around
    // toNodeListener) node overrides those names and appends these, as it would for an object.
    const out: string[] = [];
    for (let i = 0; i < headers.length; i++) {
      const pair = headers[i]!;
      // Trailer announces fields after a chunked body, which a gw response never carries; node
      // refuses it next to a Content-Length (a 500 for an app, or a Node listener, that set it).
      if (pair[0].length === 7 && pair[0].toLowerCase() === "trailer") continue;
      out.push(pair[0], pair[1]);
    }
    if (contentLength >= 0) out.push("Content-Length", String(contentLength));
    if (!this.hasServerHeader) out.push("Server", SERVER_SOFTWARE);
    // node adds Date itself, and chunked framing on HTTP/1.1 when no Content-Length is given.
    this.res.writeHead(code, reasonOf(status), out);
  }

  protected override sendData(chunk: Chunk): boolean {
    const res = this.res;
    res.write(chunk);
    // Not write()'s own false: see BUFFER_LIMIT.
    return res.writableLength < BUFFER_LIMIT;
  }

  protected override sendEnd(chunk?: Chunk): void {
    if (chunk === undefined) this.res.end();
    else this.res.end(chunk);
  }

  protected override abortConnection(): void {
    // node corks a response's writes until the next tick; what the app already sent goes out
    // before the cut, so the client sees the partial body (PEP 3333), not an empty reply.
    const socket = this.res.socket;
    if (socket !== null) while (socket.writableCorked > 0) socket.uncork();
    this.res.destroy();
  }

  protected override waitForDrain(): Promise<void> {
    const res = this.res;
    return new Promise((resolve) => {
      // A client that stops reading would hold the body open forever; the timer exists only
      // while waiting, so the fast path pays nothing for it.
      const timer = setTimeout(() => res.destroy(), this.drainTimeout);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        res.off("drain", done);
        res.off("close", done);
        resolve();
      };
      res.on("drain", done);
      res.on("close", done);
    });
  }

  protected override watchForAbort(): void {
    this.res.once("close", () => {
      if (!this.res.writableFinished) this.handleAbort();
    });
  }

  protected override onFinish(): void {
    this.done?.(this);
  }
}

/** Options for toNodeListener. */
export interface NodeListenerOptions {
  /** Where gw.errors and tracebacks go. @default process.stderr */
  errors?: TextSink;
  /** SERVER_NAME and SERVER_PORT; by default each request's local address and port. */
  serverName?: string;
  serverPort?: number;
}

/** The path of a request target, without its query. */
function pathOf(target: string): string {
  const mark = target.indexOf("?");
  return mark === -1 ? target : target.slice(0, mark);
}

/**
 * A listener mounted in Connect or Express (`app.use("/gw", listener)`) gets a req.url with the
 * mount's prefix cut off and the whole target in req.originalUrl (Express also gives the prefix
 * as req.baseUrl): the prefix becomes SCRIPT_NAME, as gw's own mount() would set it, so that
 * redirects and links the app makes stay under it, and REQUEST_URI is the target as received.
 */
function applyMount(environ: Environ, req: IncomingMessage): void {
  const mounted = req as IncomingMessage & { originalUrl?: unknown; baseUrl?: unknown };
  const original = mounted.originalUrl;
  const url = req.url ?? "/";
  if (typeof original !== "string" || original === url) return;
  const originalPath = pathOf(original);
  const path = pathOf(url);
  let prefix: string | undefined;
  if (typeof mounted.baseUrl === "string" && originalPath.startsWith(mounted.baseUrl)) prefix = mounted.baseUrl;
  else if (originalPath.endsWith(path)) prefix = originalPath.slice(0, originalPath.length - path.length);
  // Connect turns a request for the prefix itself ("/gw") into "/".
  else if (path === "/") prefix = originalPath;
  if (prefix === undefined || prefix === "") return;
  environ.SCRIPT_NAME = decodePath(prefix);
  if (originalPath === prefix) environ.PATH_INFO = "";
  environ.REQUEST_URI = original;
}

/**
 * A gw app as a `(req, res)` listener for http.createServer, Express or any Connect-style stack;
 * mounted under a prefix there, the app sees it as SCRIPT_NAME.
 */
export function toNodeListener(app: AnyApp, options: NodeListenerOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const sink = options.errors ?? process.stderr;
  const fixed: ServerInfo | undefined =
    options.serverName !== undefined && options.serverPort !== undefined
      ? makeServerInfo(options.serverName, options.serverPort, sink)
      : undefined;
  const shared = makeServerInfo("", "", sink);
  return (req, res) => {
    let info = fixed;
    if (info === undefined) {
      info = { ...shared, serverName: options.serverName ?? req.socket.localAddress ?? "", serverPort: String(options.serverPort ?? req.socket.localPort ?? "") };
    }
    const environ = environFromRequest(req, info);
    applyMount(environ, req);
    runHandler(new NodeHandler(res, environ, info.errors), app, info.errors);
  };
}
