// One web server's connection to the FastCGI responder: records in, each request run through a
// BaseHandler, its answer out as STDOUT (and STDERR) records; fastcgi.ts owns the listener.
import { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import { BodyInput, type ErrorOutput } from "../core/input.ts";
import type { AnyApp, Chunk, Environ, ErrorStream, HeaderPair } from "../core/types.ts";
import { BaseHandler, BUFFER_LIMIT } from "../gateway/base-handler.ts";
import { runHandler } from "../gateway/run.ts";
import { cgiHead } from "../gateway/stream-handler.ts";
import {
  encodeEndRequest, encodePairs, encodeRecord, encodeStream, encodeUnknownType, FCGI_ABORT_REQUEST, FCGI_BEGIN_REQUEST,
  FCGI_GET_VALUES, FCGI_GET_VALUES_RESULT, FCGI_HEADER_LEN, FCGI_KEEP_CONN, FCGI_OVERLOADED, FCGI_PARAMS,
  FCGI_REQUEST_COMPLETE, FCGI_RESPONDER, FCGI_STDERR, FCGI_STDIN, FCGI_STDOUT, FCGI_UNKNOWN_ROLE, parseBeginRequestBody,
  readPairs, RecordReader, writeEndRequest, writeHeader,
} from "./fastcgi-records.ts";
import { environFromParams, type ParamsOptions } from "./params.ts";
import { RequestBody, type FlowControl } from "./request-body.ts";

/** What a connection needs of its server: the app, limits, counters and logs. */
export interface ConnectionHost {
  readonly app: AnyApp;
  readonly errors: ErrorOutput;
  readonly maxParams: number;
  readonly drainTimeout: number;
  readonly paramsOptions: ParamsOptions;
  /** Requests in flight across all connections. */
  inFlight: number;
  readonly isClosing: boolean;
  /** Whether a new request would exceed FCGI_MAX_REQS. */
  readonly isFull: boolean;
  /** The GET_VALUES answer for `name`; undefined for a variable gw does not know. */
  valueOf(name: string): string | undefined;
  logRequest(handler: BaseHandler): void;
  logDrop(socket: Socket, reason: string): void;
  connectionClosed(connection: Connection): void;
}

// A response whose head and body fit in this many bytes goes out as one buffer with its
// END_REQUEST: one write, one syscall. Larger ones are written as header-and-slice pairs.
const SMALL_RESPONSE = 16 * 1024;

/** One request on a connection, from BEGIN_REQUEST to END_REQUEST. */
interface Request {
  readonly id: number;
  readonly isKeepConn: boolean;
  readonly body: RequestBody;
  params: Buffer[];
  paramsSize: number;
  handler: FastCgiHandler | undefined;
  hasStderr: boolean;
  isEnded: boolean;
}

/** gw.errors of one request: STDERR records while it runs, the server's error sink after. */
class StderrStream implements ErrorStream {
  readonly #connection: Connection;
  readonly #request: Request;

  constructor(connection: Connection, request: Request) {
    this.#connection = connection;
    this.#request = request;
  }

  write(text: string): void {
    this.#connection.sendStderr(this.#request, text);
  }

  writelines(lines: Iterable<string>): void {
    for (const line of lines) this.write(line);
  }

  flush(): void {}
}

/** The handler of one FastCGI request: the CGI head and body as STDOUT records. */
class FastCgiHandler extends BaseHandler {
  private readonly connection: Connection;
  private readonly request: Request;
  private head: string | undefined;

  constructor(connection: Connection, request: Request, environ: Environ, errors: ErrorStream) {
    super(environ, errors);
    this.connection = connection;
    this.request = request;
  }

  protected override sendHeaders(_code: number, status: string, headers: HeaderPair[], contentLength: number): void {
    // Held back and sent with the first body bytes, which BaseHandler hands over right after.
    this.head = cgiHead(status, headers, contentLength);
  }

  protected override sendData(chunk: Chunk): boolean {
    const head = this.head;
    this.head = undefined;
    return this.connection.sendStdout(this.request, head, chunk, false);
  }

  protected override sendEnd(chunk?: Chunk): void {
    const head = this.head;
    this.head = undefined;
    this.connection.sendStdout(this.request, head, chunk, true);
  }

  protected override abortConnection(): void {
    // FastCGI has no way to say "this response is broken" but closing: the web server then
    // cuts its client's response too (other requests multiplexed on the connection go with it).
    this.connection.socket.destroy();
  }

  protected override waitForDrain(): Promise<void> {
    return this.connection.drained();
  }

  protected override onFinish(): void {
    this.connection.finished(this.request, this);
  }

  /** Ends the response because the web server aborted the request or went away. */
  abort(): void {
    this.handleAbort();
  }
}

/** One web server connection: its records in, its requests' records out. */
export class Connection implements FlowControl {
  readonly socket: Socket;
  readonly #server: ConnectionHost;
  readonly #reader: RecordReader;
  readonly #requests = new Map<number, Request>();
  #holds = 0;
  /** Whether the web server has sent all it will (half-closed): the last answer ends the connection. */
  #isPeerDone = false;
  #drain: Promise<void> | undefined;

  constructor(server: ConnectionHost, socket: Socket) {
    this.#server = server;
    this.socket = socket;
    this.#reader = new RecordReader((type, id, content) => this.#onRecord(type, id, content));
    // The web server may close its sending side and still wait for the answer.
    socket.allowHalfOpen = true;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      const error = this.#reader.push(chunk);
      if (error !== undefined) this.drop(error);
    });
    socket.on("end", () => {
      this.#isPeerDone = true;
      if (!this.#reader.isBetweenRecords) this.drop("the connection ended in the middle of a record");
      else if (this.#requests.size === 0) socket.end();
    });
    // A reset or a write to a closed peer: 'close' follows and aborts what is in flight.
    socket.on("error", () => {});
    socket.on("close", () => this.#closed());
  }

  get isIdle(): boolean {
    return this.#requests.size === 0;
  }

  /** Drops the connection over a protocol violation, with one log line. */
  drop(reason: string): void {
    if (this.socket.destroyed) return;
    this.#server.logDrop(this.socket, reason);
    this.socket.destroy();
  }

  hold(): void {
    if (this.#holds++ === 0) this.socket.pause();
  }

  release(): void {
    if (--this.#holds === 0 && !this.socket.destroyed) this.socket.resume();
  }

  #onRecord(type: number, id: number, content: Buffer): string | undefined {
    if (id === 0) return this.#management(type, content);
    if (type === FCGI_BEGIN_REQUEST) return this.#begin(id, content);
    const request = this.#requests.get(id);
    // FastCGI §3.3: records of a request that is not active are ignored (a late STDIN after an
    // early answer, say).
    if (request === undefined) return undefined;
    if (type === FCGI_STDIN) {
      if (content.length === 0) request.body.end();
      else request.body.push(content);
    } else if (type === FCGI_PARAMS) {
      if (request.handler !== undefined) return `PARAMS for request ${id} after its PARAMS stream ended`;
      if (content.length === 0) return this.#start(request);
      request.paramsSize += content.length;
      if (request.paramsSize > this.#server.maxParams) return `request ${id} sent more than ${this.#server.maxParams} bytes of PARAMS`;
      request.params.push(content);
    } else if (type === FCGI_ABORT_REQUEST) {
      this.#abort(request);
    }
    // FCGI_DATA belongs to the Filter role; any other type is the application's to send.
    return undefined;
  }

  #management(type: number, content: Buffer): string | undefined {
    if (type !== FCGI_GET_VALUES) {
      this.socket.write(encodeUnknownType(type));
      return undefined;
    }
    const answer: [string, string][] = [];
    const error = readPairs(content, (name) => {
      const value = this.#server.valueOf(name);
      if (value !== undefined) answer.push([name, value]);
    });
    if (error !== undefined) return `GET_VALUES: ${error}`;
    this.socket.write(encodeRecord(FCGI_GET_VALUES_RESULT, 0, encodePairs(answer)));
    return undefined;
  }

  #begin(id: number, content: Buffer): string | undefined {
    if (this.#requests.has(id)) return `a second BEGIN_REQUEST for request id ${id}, which is still in flight`;
    const begin = parseBeginRequestBody(content);
    if (typeof begin === "string") return begin;
    const isKeepConn = (begin.flags & FCGI_KEEP_CONN) !== 0;
    const refusal = begin.role !== FCGI_RESPONDER ? FCGI_UNKNOWN_ROLE : this.#server.isFull ? FCGI_OVERLOADED : -1;
    if (refusal !== -1) {
      this.socket.write(encodeEndRequest(id, 0, refusal));
      if (!isKeepConn && this.#requests.size === 0) this.socket.end();
      return undefined;
    }
    const request: Request = {
      id, isKeepConn, body: new RequestBody(this), params: [], paramsSize: 0, handler: undefined, hasStderr: false, isEnded: false,
    };
    this.#requests.set(id, request);
    this.#server.inFlight++;
    return undefined;
  }

  #start(request: Request): string | undefined {
    const server = this.#server;
    const params = request.params.length === 1 ? request.params[0]! : Buffer.concat(request.params, request.paramsSize);
    request.params = [];
    const pairs: string[] = [];
    const error = readPairs(params, (name, value) => pairs.push(name, value));
    if (error !== undefined) return `request ${request.id}'s PARAMS: ${error}`;
    const environ = environFromParams(pairs, new BodyInput(request.body), new StderrStream(this, request), server.paramsOptions);
    const handler = new FastCgiHandler(this, request, environ, server.errors);
    request.handler = handler;
    runHandler(handler, server.app, server.errors);
    return undefined;
  }

  #abort(request: Request): void {
    const handler = request.handler;
    if (handler === undefined) {
      // Aborted before its PARAMS ended: no app ran, so only the END_REQUEST is owed.
      this.#forget(request);
      this.socket.write(encodeEndRequest(request.id, 0, FCGI_REQUEST_COMPLETE));
      if (!request.isKeepConn) this.socket.end();
      return;
    }
    handler.abort();
    request.body.fail(new Error("the web server aborted the request"));
  }

  #forget(request: Request): void {
    if (this.#requests.get(request.id) !== request) return;
    this.#requests.delete(request.id);
    this.#server.inFlight--;
    request.body.discard();
  }

  /** The handler is done with `request`: log it, owe no more records, maybe close. */
  finished(request: Request, handler: FastCgiHandler): void {
    this.#forget(request);
    this.#server.logRequest(handler);
    if (this.socket.destroyed) return;
    // FastCGI §5.4: an aborted request still gets its END_REQUEST.
    if (!request.isEnded) this.socket.write(encodeEndRequest(request.id, 0, FCGI_REQUEST_COMPLETE));
    const isLast = this.#requests.size === 0 && (this.#server.isClosing || this.#isPeerDone);
    if (!request.isKeepConn || isLast) this.socket.end();
  }

  #closed(): void {
    for (const request of [...this.#requests.values()]) {
      this.#forget(request);
      request.handler?.abort();
      request.body.fail(new Error("the web server closed the connection"));
    }
    this.#server.connectionClosed(this);
  }

  /** Resolves when the socket can take more, or is gone; cuts a web server that stopped reading. */
  drained(): Promise<void> {
    if (this.#drain !== undefined) return this.#drain;
    const socket = this.socket;
    this.#drain = new Promise((resolve) => {
      const timer = setTimeout(() => socket.destroy(), this.#server.drainTimeout);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        socket.off("drain", done);
        socket.off("close", done);
        this.#drain = undefined;
        resolve();
      };
      socket.on("drain", done);
      socket.on("close", done);
    });
    return this.#drain;
  }

  /**
   * Sends the head (if not out yet) and a chunk as STDOUT; the last one adds the empty STDOUT
   * (and STDERR) that end the streams and END_REQUEST, in the same write when small.
   * Returns false when the socket wants a drain.
   */
  sendStdout(request: Request, head: string | undefined, chunk: Chunk | undefined, isLast: boolean): boolean {
    const socket = this.socket;
    if (socket.destroyed) return true;
    const id = request.id;
    const headLength = head === undefined ? 0 : head.length;
    const dataLength = chunk === undefined ? 0 : typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
    const length = headLength + dataLength;
    const tail = isLast ? (request.hasStderr ? 32 : 24) : 0;
    if (isLast) request.isEnded = true;
    if (length <= SMALL_RESPONSE) {
      const out = Buffer.allocUnsafe((length > 0 ? FCGI_HEADER_LEN + length : 0) + tail);
      let at = 0;
      if (length > 0) {
        writeHeader(out, 0, FCGI_STDOUT, id, length);
        at = FCGI_HEADER_LEN;
        if (head !== undefined) at += out.write(head, at, "latin1");
        if (typeof chunk === "string") at += out.write(chunk, at, "utf8");
        else if (chunk !== undefined) {
          out.set(chunk, at);
          at += dataLength;
        }
      }
      if (isLast) writeEnd(out, at, request);
      socket.write(out);
    } else {
      const parts: Uint8Array[] = [];
      if (head !== undefined) encodeStream(FCGI_STDOUT, id, Buffer.from(head, "latin1"), parts);
      if (chunk !== undefined) encodeStream(FCGI_STDOUT, id, typeof chunk === "string" ? Buffer.from(chunk) : chunk, parts);
      if (isLast) {
        const end = Buffer.allocUnsafe(tail);
        writeEnd(end, 0, request);
        parts.push(end);
      }
      socket.cork();
      for (const part of parts) socket.write(part);
      socket.uncork();
    }
    // Not write()'s own false: see BUFFER_LIMIT.
    return socket.writableLength < BUFFER_LIMIT;
  }

  /** gw.errors text of `request` as STDERR records; after END_REQUEST it goes to the server's sink. */
  sendStderr(request: Request, text: string): void {
    if (request.isEnded || this.socket.destroyed || this.#requests.get(request.id) !== request) {
      this.#server.errors.write(text);
      return;
    }
    const data = Buffer.from(text);
    if (data.length === 0) return;
    request.hasStderr = true;
    const parts: Uint8Array[] = [];
    encodeStream(FCGI_STDERR, request.id, data, parts);
    this.socket.cork();
    for (const part of parts) this.socket.write(part);
    this.socket.uncork();
  }
}

/** Writes the records that end a request at `at`: empty STDOUT, empty STDERR if any was sent, END_REQUEST. */
function writeEnd(out: Buffer, at: number, request: Request): void {
  writeHeader(out, at, FCGI_STDOUT, request.id, 0);
  at += FCGI_HEADER_LEN;
  if (request.hasStderr) {
    writeHeader(out, at, FCGI_STDERR, request.id, 0);
    at += FCGI_HEADER_LEN;
  }
  writeEndRequest(out, at, request.id, 0, FCGI_REQUEST_COMPLETE);
}
