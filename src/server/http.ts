// The reference HTTP server (wsgiref.simple_server): node:http, the handler, the access log and
// a graceful shutdown. makeServer binds; serveForever or handleRequest dispatch.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo, Server as NetServer, Socket } from "node:net";
import { hostname } from "node:os";
import { NodeHandler, type NodeHandlerOptions } from "../adapters/node.ts";
import { runHandler } from "../gateway/run.ts";
import { environFromRequest, makeServerInfo, remoteAddress, type ServerInfo } from "../core/environ.ts";
import { UserError } from "../core/errors.ts";
import type { TextSink } from "../core/input.ts";
import { AccessLog, readyLine } from "../core/log.ts";
import { MAX_HEADERS, MAX_REQUEST_LINE, readLenientHead, type LenientRequest } from "./request-head.ts";
import type { AnyApp } from "../core/types.ts";

// node:http by getBuiltinModule, not import: see docs/ARCHITECTURE.md, "Startup".
const http = process.getBuiltinModule("node:http");
const net = process.getBuiltinModule("node:net");
const netServerClose = net.Server.prototype.close;

// "localhost" names both loopback addresses; browsers and curl may try ::1 first.
const LOCALHOST = ["127.0.0.1", "::1"];

/** Options for makeServer. */
export interface ServerOptions {
  /** Where access-log lines go; null for none. @default process.stderr */
  log?: TextSink | null;
  /** Restyles each access-log line (given without its newline), e.g. to colour it by status. */
  decorateLog?: (line: string, status: number | string) => string;
  /** Where gw.errors and tracebacks go. @default process.stderr */
  errors?: TextSink;
  /** Milliseconds a client has to send its request headers (slowloris guard). @default 30000 */
  headersTimeout?: number;
  /** Milliseconds a client has to send a whole request. @default 300000 */
  requestTimeout?: number;
  /** Milliseconds an idle keep-alive connection stays open. @default 5000 */
  keepAliveTimeout?: number;
  /** Milliseconds a client may take to accept more of a response body before it is cut off. @default 120000 */
  drainTimeout?: number;
  /** Milliseconds shutdown() waits for in-flight requests before cutting them. @default 10000 */
  shutdownTimeout?: number;
  /** Serve HTTPS with this certificate and key (PEM); gw.url_scheme is then "https". */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Keep request headers whose names hold "_" in the environ (dropped by default). @default false */
  keepUnderscoreHeaders?: boolean;
  /** Called after each request is done (a worker counts them for --max-requests). */
  onRequestDone?: () => void;
  /** Listen on this already-bound server handle or descriptor instead of binding host and port. */
  handle?: { fd: number } | object;
}

type Mode = "idle" | "forever" | "one" | "draining" | "closed";

/** A gw app behind node:http (wsgiref's WSGIServer): made by makeServer, already listening. */
export class HttpServer {
  /** The node:http server underneath. */
  readonly httpServer: Server;
  /** The host it was asked to bind. */
  readonly host: string;
  /** The bound port (the real one when 0 was asked). */
  readonly port: number;
  /** The app it serves; may be replaced between requests. */
  app: AnyApp;
  /** The addresses it listens on: one, or 127.0.0.1 and ::1 for "localhost" (::1 where the machine has IPv6). */
  readonly addresses: readonly string[];
  /** Listeners on the addresses after the first, handing their connections to httpServer. */
  readonly #extraListeners: readonly NetServer[];

  #info: ServerInfo;
  #log: AccessLog | undefined;
  #mode: Mode = "idle";
  #queue: [IncomingMessage, ServerResponse][] = [];
  #onOne: (() => void) | undefined;
  #onClosed: (() => void) | undefined;
  #closed: Promise<void>;
  #shutdownTimeout: number;
  #onRequestDone: (() => void) | undefined;
  /** Sockets whose refused request was read again leniently: node's parser is done with them. */
  #recovered = new WeakSet<Socket>();
  /** One options object for every request's handler: nothing to allocate per request. */
  #handlerOptions: NodeHandlerOptions;

  /** Use makeServer(), which binds first. */
  constructor(httpServer: Server, host: string, app: AnyApp, options: ServerOptions, extraListeners: readonly NetServer[] = []) {
    this.httpServer = httpServer;
    this.host = host;
    this.app = app;
    this.#extraListeners = extraListeners;
    const first = host === "localhost" ? LOCALHOST[0]! : host;
    this.addresses = [first, ...extraListeners.map((listener) => (listener.address() as AddressInfo).address)];
    this.port = (httpServer.address() as AddressInfo).port;
    const wildcard = host === "" || host === "0.0.0.0" || host === "::";
    this.#info = makeServerInfo(wildcard ? hostname() : host, this.port, options.errors ?? process.stderr);
    if (options.tls !== undefined) this.#info.urlScheme = "https";
    if (options.keepUnderscoreHeaders === true) this.#info.keepUnderscoreHeaders = true;
    const log = options.log === undefined ? process.stderr : options.log;
    this.#log = log === null ? undefined : new AccessLog(log, options.decorateLog);
    this.#shutdownTimeout = options.shutdownTimeout ?? 10_000;
    this.#onRequestDone = options.onRequestDone;
    this.#handlerOptions = { onDone: (handler) => this.#finished(handler), drainTimeout: options.drainTimeout };
    this.#closed = new Promise((resolve) => (this.#onClosed = resolve));
    httpServer.on("request", (req: IncomingMessage, res: ServerResponse) => this.#accept(req, res));
    httpServer.on("clientError", (error: Error, socket: Socket) => this.#reject(error, socket));
    // CONNECT makes a tunnel, which no gw app can be; Python answers it with 501 too.
    httpServer.on("connect", (req: IncomingMessage, socket: Socket) => {
      socket.end(refusal(501));
      this.#logRefusal(socket, requestLineOf(req), 501);
    });
  }

  /** The server's base URL, e.g. http://127.0.0.1:8000/. */
  get url(): string {
    const host = this.host === "" || this.host === "0.0.0.0" ? "127.0.0.1" : this.host === "::" ? "::1" : this.host;
    return `${this.#info.urlScheme ?? "http"}://${host.includes(":") ? `[${host}]` : host}:${this.port}/`;
  }

  /**
   * The ready line for this server, as `python -m http.server` prints it; one line per address
   * when it listens on several ("localhost"), the first one being the primary.
   */
  get readyLine(): string {
    const scheme = this.#info.urlScheme ?? "http";
    if (this.addresses.length > 1 || this.host === "localhost") return this.addresses.map((address) => readyLine(address, this.port, scheme)).join("\n");
    return readyLine(this.host || "0.0.0.0", this.port, scheme);
  }

  #accept(req: IncomingMessage, res: ServerResponse): void {
    // node also parses "HTTP/2.0" and HTTP/0.9's bare "GET /"; gw speaks HTTP/1.x only.
    if (req.httpVersionMajor !== 1) return this.#refuseHead(req, res, 505);
    // Python's http.server refuses more than 100 fields; node keeps them all (maxHeadersCount 0).
    if (req.rawHeaders.length > 2 * MAX_HEADERS) return this.#refuseHead(req, res, 431);
    const framing = transferCodingRefusal(req);
    if (framing !== 0) return this.#refuseHead(req, res, framing);
    if (this.#mode === "forever") return this.#dispatch(req, res);
    if (this.#mode === "one") {
      this.#mode = "idle";
      return this.#dispatch(req, res);
    }
    if (this.#mode === "draining") {
      // A request that came in on a kept-alive connection while draining is served, and its
      // response ends the connection, so the client never races a close on an idle socket.
      res.shouldKeepAlive = false;
      return this.#dispatch(req, res);
    }
    if (this.#mode === "closed") {
      res.writeHead(503, { "Content-Length": "0", Connection: "close" }).end();
      return;
    }
    // Like a bound but not yet serving socket: the request waits until someone dispatches.
    this.#queue.push([req, res]);
  }

  /**
   * A request node's parser refused (bad syntax, control characters, headers too large). A head
   * that HTTP/1.x servers have always taken (a lone LF, raw bytes in the target; RFC 9112 §2.2)
   * is read again leniently and served; the rest is answered as Python's http.server answers it,
   * and logged the same way, so the line shows what was sent.
   */
  #reject(error: Error & { code?: string; rawPacket?: Buffer }, socket: Socket): void {
    if (this.#recovered.has(socket)) return;
    // Bad bytes after a request node parsed (pipelined junk, data after an HTTP/1.0 request): that
    // request and any queued behind it are answered, then the connection closes, as Python's
    // servers do. The packet is not read again: it holds a request already being served.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (inFlight != null) {
      this.#recovered.add(socket);
      if (inFlight.req?.complete === true && error.code !== "ECONNRESET") return closeAfterResponses(socket);
      // The fault is in that request's own body (a broken chunk, a body that stalled): it cannot be
      // answered by the app, and gets the refusal if nothing of its response went out yet.
      if (socket.writable && !inFlight.headersSent && error.code !== "ECONNRESET") socket.write(refusal(refusalCode(error, undefined, 0)));
      socket.destroy(error);
      return;
    }
    if (socket.writable && socket.bytesWritten === 0 && error.code !== "ECONNRESET") {
      // Only the first head on a connection is read again or logged: then the packet is all that
      // was ever read from it, where a later packet would hold a fragment.
      const raw = error.rawPacket;
      const first = raw !== undefined && socket.bytesRead === raw.length ? raw : undefined;
      const head = first !== undefined && error.code !== "HPE_HEADER_OVERFLOW" ? readLenientHead(first) : undefined;
      if (head !== undefined && "method" in head) return this.#serveRecovered(head, socket);
      const code = head !== undefined ? head.status : refusalCode(error, raw, socket.bytesRead);
      socket.write(refusal(code));
      const requestLine = head !== undefined ? head.requestLine : first === undefined ? "" : firstLineOf(first);
      if (requestLine !== "") this.#logRefusal(socket, requestLine, code);
    }
    socket.destroy(error);
  }

  /** Serves a leniently read request on its own socket, as the one request of that connection. */
  #serveRecovered(head: LenientRequest, socket: Socket): void {
    this.#recovered.add(socket);
    const req = new http.IncomingMessage(socket);
    req.method = head.method;
    req.url = head.target;
    req.httpVersionMajor = head.major;
    req.httpVersionMinor = head.minor;
    req.httpVersion = `${head.major}.${head.minor}`;
    req.rawHeaders = head.rawHeaders;
    if (head.body.length > 0) req.push(head.body);
    req.push(null);
    req.complete = true;
    const res = new http.ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.on("finish", () => {
      res.detachSocket(socket);
      socket.destroySoon();
    });
    this.#accept(req, res);
  }

  /** Answers a parsed request the app must not see, and closes its connection. */
  #refuseHead(req: IncomingMessage, res: ServerResponse, code: number): void {
    res.shouldKeepAlive = false;
    res.writeHead(code, { "Content-Length": "0", Connection: "close" }).end();
    this.#logRefusal(req.socket, requestLineOf(req), code);
  }

  /** Logs a request that never reached the app; the log escapes control characters, so a request cannot forge lines. */
  #logRefusal(socket: Socket, requestLine: string, code: number): void {
    this.#log?.log(remoteAddress(socket.remoteAddress) || "-", requestLine, code, "-");
  }

  #dispatch(req: IncomingMessage, res: ServerResponse): void {
    const handler = new NodeHandler(res, environFromRequest(req, this.#info), this.#info.errors, this.#handlerOptions);
    runHandler(handler, this.app, this.#info.errors);
  }

  #finished(handler: NodeHandler): void {
    const environ = handler.environ;
    this.#log?.log(environ.REMOTE_ADDR ?? "-", `${environ.REQUEST_METHOD} ${environ.REQUEST_URI} ${environ.SERVER_PROTOCOL}`, handler.statusCode || "-", handler.bytesSent, environ.REMOTE_USER as string | undefined);
    this.#onRequestDone?.();
    const one = this.#onOne;
    if (one !== undefined) {
      this.#onOne = undefined;
      one();
    }
    if (this.#mode === "closed") this.httpServer.closeIdleConnections();
  }

  /** Serves requests until shutdown() (wsgiref's serve_forever); resolves once shut down. */
  serveForever(): Promise<void> {
    if (this.#mode !== "closed") {
      this.#mode = "forever";
      for (const [req, res] of this.#queue.splice(0)) this.#dispatch(req, res);
    }
    return this.#closed;
  }

  /** Handles exactly one request, the next one to arrive or one already waiting, and resolves when its response is over. */
  handleRequest(): Promise<void> {
    if (this.#mode === "closed") return Promise.resolve();
    return new Promise((resolve) => {
      this.#onOne = resolve;
      const waiting = this.#queue.shift();
      if (waiting !== undefined) this.#dispatch(...waiting);
      else this.#mode = "one";
    });
  }

  /**
   * Stops accepting but keeps serving the open connections, each response now ending its
   * connection; after `grace` ms connections still idle are closed, after `timeout` ms every
   * one is. Resolves when every connection is closed (a worker's graceful stop).
   */
  async drain(timeout: number = this.#shutdownTimeout, grace: number = 2_000): Promise<void> {
    if (this.#mode === "closed" || this.#mode === "draining") return this.#closed;
    this.#mode = "draining";
    const idle = setTimeout(() => this.httpServer.closeIdleConnections(), Math.min(grace, timeout));
    const all = setTimeout(() => this.httpServer.closeAllConnections(), timeout);
    // net's close, not http's: http.Server#close also closes idle connections at once, and a
    // client may be sending on one of them right now.
    await new Promise<void>((resolve) => netServerClose.call(this.httpServer, () => resolve()));
    clearTimeout(idle);
    clearTimeout(all);
    this.#mode = "closed";
    this.#log?.flush();
    this.#onClosed?.();
    return this.#closed;
  }

  /**
   * Stops accepting, lets in-flight requests finish (cutting them after the shutdown timeout)
   * and resolves when every connection is closed.
   */
  async shutdown(timeout: number = this.#shutdownTimeout): Promise<void> {
    if (this.#mode !== "closed") {
      this.#mode = "closed";
      for (const [, res] of this.#queue.splice(0)) res.writeHead(503, { "Content-Length": "0", Connection: "close" }).end();
      for (const listener of this.#extraListeners) listener.close();
      const timer = setTimeout(() => this.httpServer.closeAllConnections(), timeout);
      timer.unref();
      await new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
      clearTimeout(timer);
      this.#log?.flush();
      this.#onClosed?.();
    }
    return this.#closed;
  }
}

function translateListenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  switch (error.code) {
    case "EADDRINUSE":
      return new UserError(`port ${port} on ${host} is in use; stop the other server or use --port 0`, { cause: error });
    case "EACCES":
      return new UserError(`no permission to listen on port ${port}; use a port above 1023`, { cause: error });
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
      return new UserError(`cannot listen on host ${host}: it is not an address of this machine`, { cause: error });
    default:
      return error;
  }
}

/**
 * Binds host and port and returns the server, ready to serveForever() (wsgiref's make_server).
 * A port in use, or a host that is not local, rejects with a one-line UserError.
 */
export async function makeServer(host: string, port: number, app: AnyApp, options: ServerOptions = {}): Promise<HttpServer> {
  // node:https only when asked: plain serving never loads TLS (docs/ARCHITECTURE.md, "Startup").
  const serverOptions = {
    // Python's limit for a request line; node's default (16 KiB for the whole head) is far shorter.
    maxHeaderSize: MAX_REQUEST_LINE,
    headersTimeout: options.headersTimeout ?? 30_000,
    requestTimeout: options.requestTimeout ?? 300_000,
    keepAliveTimeout: options.keepAliveTimeout ?? 5_000,
    connectionsCheckingInterval: 1_000,
  };
  // node:https only when asked: plain serving never loads TLS (docs/ARCHITECTURE.md, "Startup").
  const httpServer: Server = options.tls === undefined
    ? http.createServer(serverOptions)
    : (process.getBuiltinModule("node:https").createServer({ ...serverOptions, ...options.tls }) as unknown as Server);
  // Every pair is kept (the head is bounded by maxHeaderSize), so #accept sees how many came and
  // answers more than Python's 100 with 431. A cap would drop the pairs past it unseen, and on
  // Node 22 a Host among them made node answer 400 for a missing Host before #accept could.
  httpServer.maxHeadersCount = 0;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => reject(translateListenError(error, host, port));
    const onListening = (): void => {
      httpServer.off("error", onError);
      resolve();
    };
    httpServer.once("error", onError);
    if (options.handle !== undefined) httpServer.listen(options.handle, onListening);
    else httpServer.listen(port, host === "localhost" ? LOCALHOST[0] : host, onListening);
  });
  const extra = host === "localhost" && options.handle === undefined ? await listenAlso(httpServer, LOCALHOST[1]!, port) : undefined;
  return new HttpServer(httpServer, host, app, options, extra === undefined ? [] : [extra]);
}

/**
 * Listens on `address` too, on httpServer's port, feeding its connections to httpServer; undefined
 * when the machine lacks that address (no IPv6). With --port 0 the port was picked on the first
 * address and may be taken on this one: then both are picked again, a few times.
 */
async function listenAlso(httpServer: Server, address: string, askedPort: number): Promise<NetServer | undefined> {
  for (let attempt = 0; ; attempt++) {
    const port = (httpServer.address() as AddressInfo).port;
    const listener = net.createServer((socket) => httpServer.emit("connection", socket));
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      listener.once("error", resolve);
      listener.listen({ port, host: address, ipv6Only: true }, () => resolve(undefined));
    });
    if (error === undefined) return listener;
    if (error.code === "EADDRNOTAVAIL" || error.code === "EAFNOSUPPORT") return undefined;
    if (error.code !== "EADDRINUSE" || askedPort !== 0 || attempt >= 4) {
      httpServer.close();
      throw translateListenError(error, address, port);
    }
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(0, LOCALHOST[0], () => {
        httpServer.off("error", reject);
        resolve();
      });
    });
  }
}

/** The whole response to a request refused before it reached the app: the last on its connection. */
function refusal(code: number): string {
  return `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
}

function requestLineOf(req: IncomingMessage): string {
  return `${req.method} ${req.url} HTTP/${req.httpVersion}`;
}

/** The request line at the start of a packet node refused; "" when none ends within 4 KiB. */
function firstLineOf(packet: Buffer): string {
  const text = packet.subarray(0, 4096).toString("latin1");
  const end = text.search(/\r?\n/);
  return end > 0 ? text.slice(0, end) : "";
}

/**
 * RFC 9112 §6.1 on a request's Transfer-Encoding, which node's parser lets through: with HTTP/1.0
 * the framing is faulty (400: a front that reads it by Content-Length would disagree with gw), and
 * a coding other than chunked alone is one gw cannot decode (501; the app would get coded bytes).
 */
function transferCodingRefusal(req: IncomingMessage): 0 | 400 | 501 {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 17 || name.toLowerCase() !== "transfer-encoding") continue;
    if (req.httpVersionMinor === 0) return 400;
    if (raw[i + 1]!.trim().toLowerCase() !== "chunked") return 501;
  }
  return 0;
}

/** The status for a request node's parser refused, by the parser's error. */
function refusalCode(error: Error & { code?: string }, raw: Buffer | undefined, bytesRead: number): number {
  return error.code === "HPE_HEADER_OVERFLOW" ? (isRequestLineTooLong(raw, bytesRead) ? 414 : 431)
    : error.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW" ? 413
    : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
}

/** How long a closing connection reads and drops what its client still sends (see below). */
const LINGER = 2_000;

/**
 * Closes a connection once its in-flight response, and each one node queued behind it, has
 * finished. The close is a FIN after the last byte, and what the client still sends meanwhile is
 * read and dropped for a moment (node's parser, in its error state, takes it): closing with
 * unread bytes would send a reset, which can destroy the last response before the client reads it.
 */
function closeAfterResponses(socket: Socket): void {
  const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (current == null || socket.destroyed) {
    socket.end();
    socket.resume();
    setTimeout(() => socket.destroy(), LINGER).unref();
    return;
  }
  // Node's own 'finish' listener runs first and assigns the next queued response to the socket.
  let isFinished = false;
  current.once("finish", () => {
    isFinished = true;
    closeAfterResponses(socket);
  });
  current.once("close", () => {
    if (!isFinished) socket.destroy();
  });
}

/**
 * Whether a head too large for the parser is so because of its request line (414), not its
 * header fields (431: too many, or too long). `bytesRead` counts the connection's bytes up to
 * the end of `raw`, the packet that overflowed, which may start in the middle of the head.
 */
function isRequestLineTooLong(raw: Buffer | undefined, bytesRead: number): boolean {
  if (raw === undefined) return true;
  const lineEnd = raw.indexOf(0x0a);
  const offset = bytesRead - raw.length;
  // The connection's first packet starts with the request line: its length is right there.
  if (offset <= 0) return lineEnd === -1 || lineEnd > MAX_REQUEST_LINE;
  // No line end at all: still inside one line, most likely the request line (a huge URL).
  if (lineEnd === -1) return true;
  // The packet's first line is the request line (or its tail) only when it ends in a version;
  // then its length is known, as this is the connection's first request.
  if (!/ HTTP\/\d\.\d\r?$/.test(raw.subarray(0, lineEnd).toString("latin1"))) return false;
  return offset + lineEnd > MAX_REQUEST_LINE;
}
