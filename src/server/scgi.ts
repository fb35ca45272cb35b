// The SCGI server (SCGI 1, python.ca/scgi/protocol.txt; web.py's runscgi through flup): one
// request a connection, its head a netstring, the answer a CGI response written to the socket.
import type { Server, Socket } from "node:net";
import { BodyInput, ErrorOutput, type TextSink } from "../core/input.ts";
import { AccessLog } from "../core/log.ts";
import type { AnyApp, Chunk, Environ, ErrorStream, HeaderPair } from "../core/types.ts";
import { BUFFER_LIMIT } from "../gateway/base-handler.ts";
import { runHandler } from "../gateway/run.ts";
import { cgiHead, StreamHandler } from "../gateway/stream-handler.ts";
import { environFromParams, requestLineOf, type ParamsOptions } from "./params.ts";
import { OpenConnections } from "./open-connections.ts";
import { SCGI_MAX_HEAD, ScgiHeadReader, type ScgiHead } from "./scgi-netstring.ts";

/** Options for serveScgi. */
export interface ScgiOptions {
  /** Where access-log lines go; null for none. @default process.stderr */
  log?: TextSink | null;
  /** Restyles each access-log line (given without its newline). */
  decorateLog?: (line: string, status: number | string) => string;
  /** Where gw.errors, tracebacks and dropped-connection lines go. @default process.stderr */
  errors?: TextSink;
  /** SCRIPT_NAME for every request; PATH_INFO is then REQUEST_URI's path after it. */
  scriptName?: string;
  /** Bytes a request head may have. @default 65536 */
  maxHead?: number;
  /** gw.multiprocess: other processes serve the same app. @default false */
  isMultiprocess?: boolean;
  /** Milliseconds a web server has to send a request head. @default 30000 */
  headTimeout?: number;
  /** Milliseconds shutdown() waits for in-flight requests before cutting them. @default 10000 */
  shutdownTimeout?: number;
  /** Called after each request is logged (a `--workers` worker counts them for --max-requests). */
  onRequestDone?: () => void;
}

// Milliseconds the unread rest of a body is read and dropped after the answer, so that closing
// with bytes unread (a TCP reset) cannot destroy the answer on its way (a lingering close).
const LINGER = 5_000;

const EMPTY = new Uint8Array(0);

/** The handler of one SCGI request: the CGI answer straight to the socket (StreamHandler's drain and abort handling). */
class ScgiHandler extends StreamHandler {
  private readonly socket: Socket;
  private readonly done: (handler: ScgiHandler) => void;
  /** Whether the web server has nothing more to send (no body, no bytes past the head). */
  private readonly isReadDone: boolean;
  private head: string | undefined;

  constructor(environ: Environ, socket: Socket, errors: ErrorStream, isReadDone: boolean, done: (handler: ScgiHandler) => void) {
    super(environ, socket, errors);
    this.socket = socket;
    this.isReadDone = isReadDone;
    this.done = done;
  }

  protected override sendHeaders(_code: number, status: string, headers: HeaderPair[], contentLength: number): void {
    // Held back and written with the first body bytes, which BaseHandler hands over right after.
    this.head = cgiHead(status, headers, contentLength);
  }

  protected override sendData(chunk: Chunk): boolean {
    this.socket.write(this.#withHead(chunk)!);
    // Not write()'s own false: see BUFFER_LIMIT.
    return this.socket.writableLength < BUFFER_LIMIT;
  }

  protected override sendEnd(chunk?: Chunk): void {
    const data = this.#withHead(chunk);
    const socket = this.socket;
    if (this.isReadDone) {
      // Nothing is left to read, so a close cannot reset the answer (RFC 1122 §4.2.2.13), and a close
      // alone ends the answer as a shutdown would: the connection goes as soon as the answer is
      // out, without a shutdown() and without waiting for the web server's own close.
      // Only once what is queued is out: destroy() drops a socket's unwritten bytes.
      if (data === undefined && socket.writableLength === 0) socket.destroy();
      else socket.write(data ?? EMPTY, () => socket.destroy());
    } else if (data === undefined) {
      socket.end();
    } else {
      socket.end(data);
    }
  }

  /** The held head and `chunk` as one buffer: one write (not a writev) for a small answer. */
  #withHead(chunk: Chunk | undefined): Uint8Array | string | undefined {
    const head = this.head;
    if (head === undefined) return chunk;
    this.head = undefined;
    if (chunk === undefined) return Buffer.from(head, "latin1");
    const size = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
    const out = Buffer.allocUnsafe(head.length + size);
    out.write(head, 0, "latin1");
    if (typeof chunk === "string") out.write(chunk, head.length, "utf8");
    else out.set(chunk, head.length);
    return out;
  }

  protected override abortConnection(): void {
    // An SCGI answer ends when the connection does, so a plain close would pass a cut response
    // off as whole; a reset tells the web server it is broken (nginx then cuts its client too).
    this.socket.resetAndDestroy();
  }

  protected override onFinish(): void {
    this.done(this);
  }
}

/** A gw app served over SCGI on a listening socket; made by serveScgi. */
export class ScgiServer {
  /** The listening socket (TCP, Unix or inherited). */
  readonly listener: Server;
  /** The app it serves; may be replaced between requests. */
  app: AnyApp;
  /** Whether shutdown() was called. */
  isClosing = false;
  readonly #errors: ErrorOutput;
  readonly #log: AccessLog | undefined;
  readonly #params: ParamsOptions;
  readonly #maxHead: number;
  readonly #headTimeout: number;
  readonly #shutdownTimeout: number;
  readonly #onRequestDone: (() => void) | undefined;
  /** Connections, with whether a request runs on each (a whole head came). */
  readonly #connections = new OpenConnections<Socket>();

  /** Use serveScgi(). */
  constructor(listener: Server, app: AnyApp, options: ScgiOptions = {}) {
    this.listener = listener;
    this.app = app;
    this.#errors = new ErrorOutput(options.errors ?? process.stderr);
    const log = options.log === undefined ? process.stderr : options.log;
    this.#log = log === null ? undefined : new AccessLog(log, options.decorateLog);
    this.#params = { scriptName: options.scriptName, isMultiprocess: options.isMultiprocess ?? false };
    this.#maxHead = options.maxHead ?? SCGI_MAX_HEAD;
    this.#headTimeout = options.headTimeout ?? 30_000;
    this.#shutdownTimeout = options.shutdownTimeout ?? 10_000;
    this.#onRequestDone = options.onRequestDone;
    listener.on("connection", (socket: Socket) => this.#accept(socket));
  }

  #accept(socket: Socket): void {
    if (this.isClosing) {
      socket.destroy();
      return;
    }
    this.#connections.add(socket);
    // The web server may close its sending side once the request is out and still read the answer.
    socket.allowHalfOpen = true;
    socket.on("error", ignore);
    socket.on("close", () => this.#connections.delete(socket));
    socket.setTimeout(this.#headTimeout, () => this.#drop(socket, "no whole request head in time"));
    const reader = new ScgiHeadReader(this.#maxHead);
    const onData = (chunk: Buffer): void => {
      const head = reader.push(chunk);
      if (head === undefined) return;
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.pause();
      socket.setTimeout(0);
      if (typeof head === "string") this.#drop(socket, head);
      else this.#start(socket, head);
    };
    const onEnd = (): void => this.#drop(socket, "the connection ended before the request head did");
    socket.on("data", onData);
    socket.on("end", onEnd);
  }

  #drop(socket: Socket, reason: string): void {
    if (socket.destroyed) return;
    this.#errors.write(`gw: dropped an SCGI connection from ${socket.remoteAddress ?? "the web server"}: ${reason}\n`);
    socket.destroy();
  }

  #start(socket: Socket, head: ScgiHead): void {
    this.#connections.markBusy(socket);
    if (head.rest.length > 0) socket.unshift(head.rest);
    // Not the stream's own iterator: its return() would destroy the socket the answer goes to.
    // Made on the first read only: most requests have no body to read.
    const source = { [Symbol.asyncIterator]: () => socket.iterator({ destroyOnReturn: false }) };
    const input = new BodyInput(source, head.contentLength);
    const environ = environFromParams(head.pairs, input, this.#errors, this.#params);
    const isReadDone = head.contentLength === 0 && head.rest.length === 0;
    const handler = new ScgiHandler(environ, socket, this.#errors, isReadDone, (done) => this.#finished(socket, done));
    runHandler(handler, this.app, this.#errors);
  }

  #finished(socket: Socket, handler: ScgiHandler): void {
    const environ = handler.environ;
    this.#log?.log(environ.REMOTE_ADDR ?? "-", requestLineOf(environ), handler.statusCode || "-", handler.bytesSent);
    this.#onRequestDone?.();
    // Only a body can be left unread; a request without one needs no lingering (and no timer).
    if (socket.destroyed || socket.readableEnded || environ.CONTENT_LENGTH === "0") return;
    // Reads and drops what the app left unread until the web server closes, for a while.
    socket.on("data", () => {});
    socket.resume();
    socket.setTimeout(LINGER, () => socket.destroy());
  }

  /**
   * Stops accepting, lets in-flight requests finish (cutting them after the timeout), closes
   * connections that have not sent a whole head (after `idleGrace` ms: a draining worker's newest
   * connections may have their head on the way), and resolves once every connection is closed.
   */
  async shutdown(timeout: number = this.#shutdownTimeout, idleGrace: number = 0): Promise<void> {
    if (this.isClosing) return;
    this.isClosing = true;
    await this.#connections.drain(this.listener, { timeout, idleGrace, closeIdle: destroy, destroy });
    this.#log?.flush();
  }
}

function ignore(): void {}

function destroy(socket: Socket): void {
  socket.destroy();
}

/** Serves `app` over SCGI on an already listening server (see bindListener). */
export function serveScgi(listener: Server, app: AnyApp, options: ScgiOptions = {}): ScgiServer {
  return new ScgiServer(listener, app, options);
}
