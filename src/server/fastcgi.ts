// The FastCGI responder (FastCGI 1.0; web.py's runfcgi through flup): takes web servers'
// connections on a listening socket; fastcgi-connection.ts serves each one.
import type { Server, Socket } from "node:net";
import { ErrorOutput, type TextSink } from "../core/input.ts";
import { AccessLog } from "../core/log.ts";
import type { AnyApp } from "../core/types.ts";
import type { BaseHandler } from "../gateway/base-handler.ts";
import { Connection, type ConnectionHost } from "./fastcgi-connection.ts";
import { OpenConnections } from "./open-connections.ts";
import { requestLineOf } from "./params.ts";

/** Options for serveFastCgi. */
export interface FastCgiOptions {
  /** Where access-log lines go; null for none. @default process.stderr */
  log?: TextSink | null;
  /** Restyles each access-log line (given without its newline). */
  decorateLog?: (line: string, status: number | string) => string;
  /** Where tracebacks and dropped-connection lines go (gw.errors goes to the web server). @default process.stderr */
  errors?: TextSink;
  /** Bytes of PARAMS one request may send; more drops the connection. @default 1048576 */
  maxParams?: number;
  /** Connections served at once, as GET_VALUES reports FCGI_MAX_CONNS. @default 1024 */
  maxConns?: number;
  /** Requests served at once across connections (FCGI_MAX_REQS); more get END_REQUEST OVERLOADED. @default 1024 */
  maxReqs?: number;
  /** gw.multiprocess: other processes serve the same app. @default false */
  isMultiprocess?: boolean;
  /** Milliseconds the web server may take to accept more of a response before the connection is cut. @default 120000 */
  drainTimeout?: number;
  /** Milliseconds shutdown() waits for in-flight requests before cutting them. @default 10000 */
  shutdownTimeout?: number;
  /** Called after each request is logged (a `--workers` worker counts them for --max-requests). */
  onRequestDone?: () => void;
}

/** A gw app served as a FastCGI responder on a listening socket; made by serveFastCgi. */
export class FastCgiServer implements ConnectionHost {
  /** The listening socket (TCP, Unix or inherited). */
  readonly listener: Server;
  /** The app it serves; may be replaced between requests. */
  app: AnyApp;
  /** Requests in flight across all connections. */
  inFlight = 0;
  /** Whether shutdown() was called. */
  isClosing = false;
  /** Where tracebacks and dropped-connection lines go. */
  readonly errors: ErrorOutput;
  /** Bytes of PARAMS one request may send. */
  readonly maxParams: number;
  /** Milliseconds a web server may take to accept more of an answer. */
  readonly drainTimeout: number;
  /** How the environ is built from PARAMS. */
  readonly paramsOptions: { isMultiprocess: boolean };
  readonly #log: AccessLog | undefined;
  readonly #maxConns: number;
  readonly #maxReqs: number;
  readonly #shutdownTimeout: number;
  readonly #onRequestDone: (() => void) | undefined;
  readonly #connections = new OpenConnections<Connection>();

  /** Use serveFastCgi(). */
  constructor(listener: Server, app: AnyApp, options: FastCgiOptions = {}) {
    this.listener = listener;
    this.app = app;
    this.errors = new ErrorOutput(options.errors ?? process.stderr);
    const log = options.log === undefined ? process.stderr : options.log;
    this.#log = log === null ? undefined : new AccessLog(log, options.decorateLog);
    this.maxParams = options.maxParams ?? 1024 * 1024;
    this.#maxConns = options.maxConns ?? 1024;
    this.#maxReqs = options.maxReqs ?? 1024;
    this.drainTimeout = options.drainTimeout ?? 120_000;
    this.#shutdownTimeout = options.shutdownTimeout ?? 10_000;
    this.#onRequestDone = options.onRequestDone;
    this.paramsOptions = { isMultiprocess: options.isMultiprocess ?? false };
    listener.maxConnections = this.#maxConns;
    listener.on("connection", (socket: Socket) => {
      if (this.isClosing) {
        socket.destroy();
        return;
      }
      this.#connections.add(new Connection(this, socket));
    });
  }

  /** Whether a new request would exceed FCGI_MAX_REQS. */
  get isFull(): boolean {
    return this.inFlight >= this.#maxReqs;
  }

  /** The answer to a GET_VALUES query for `name` (FastCGI §4.1); undefined for a variable gw does not know. */
  valueOf(name: string): string | undefined {
    if (name === "FCGI_MAX_CONNS") return String(this.#maxConns);
    if (name === "FCGI_MAX_REQS") return String(this.#maxReqs);
    if (name === "FCGI_MPXS_CONNS") return "1";
    return undefined;
  }

  /** Writes the access-log line of a finished request. */
  logRequest(handler: BaseHandler): void {
    const environ = handler.environ;
    this.#log?.log(environ.REMOTE_ADDR ?? "-", requestLineOf(environ), handler.statusCode || "-", handler.bytesSent);
    this.#onRequestDone?.();
  }

  /** Logs a connection dropped over a protocol violation, one line. */
  logDrop(socket: Socket, reason: string): void {
    const peer = socket.remoteAddress ?? "the web server";
    this.errors.write(`gw: dropped a FastCGI connection from ${peer}: ${reason}\n`);
  }

  /** Forgets a closed connection (shutdown waits for the last). */
  connectionClosed(connection: Connection): void {
    this.#connections.delete(connection);
  }

  /**
   * Stops accepting, lets in-flight requests finish (cutting them after the timeout), closes
   * idle connections (after `idleGrace` ms, serving requests that come on them until then) and
   * resolves once every connection is closed.
   */
  async shutdown(timeout: number = this.#shutdownTimeout, idleGrace: number = 0): Promise<void> {
    if (this.isClosing) return;
    this.isClosing = true;
    await this.#connections.drain(this.listener, {
      timeout,
      idleGrace,
      isIdle: (connection) => connection.isIdle,
      closeIdle: (connection) => connection.socket.end(),
      destroy: (connection) => connection.socket.destroy(),
    });
    this.#log?.flush();
  }
}

/** Serves `app` as a FastCGI responder on an already listening server (see bindListener). */
export function serveFastCgi(listener: Server, app: AnyApp, options: FastCgiOptions = {}): FastCgiServer {
  return new FastCgiServer(listener, app, options);
}
