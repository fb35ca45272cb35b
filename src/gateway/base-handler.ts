// The reference handler: runs one request of an app over a transport (wsgiref.handlers).
// BaseHandler holds the PEP 3333 rules; its byte-stream and CGI subclasses are in stream-handler.ts.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { inspect } from "node:util";
import { ProtocolError } from "../core/errors.ts";
import { describe } from "../core/describe.ts";
import { isContentLength, isValidHost, mayHaveBody } from "../core/http-syntax.ts";
import { FileWrapper, callApp, isThenable } from "../core/util.ts";
import { byteLength, checkChunk, checkHeaders, parseStatus } from "./checks.ts";
import type { AnyApp, App, Body, Chunk, Environ, ErrorStream, ExcInfo, HeaderPair, StartResponse, Write } from "../core/types.ts";

/**
 * Bytes a transport may hold for a slow client before the body waits for a drain: a false from a
 * stream's write() says only that its 16 KiB buffer is full, and waiting on each costs a round trip.
 */
export const BUFFER_LIMIT: number = 256 * 1024;

/** The status of the response a handler sends when the app fails before its headers are out. */
export const ERROR_STATUS = "500 Internal Server Error";
/** The body of that response: no details, since a trace never goes to the client. */
export const ERROR_BODY = "A server error occurred.  Please contact the administrator.";

const RESOLVED: Promise<void> = Promise.resolve();

/** The response a handler sends for an app that failed before its headers were out. */
export interface FailureResponse {
  status: string;
  headers: HeaderPair[];
  body: Chunk;
}
/** The body of the 400 a request with a malformed Host gets, from every gateway, before the app runs. */
export const BAD_HOST_BODY = "Bad Request: the Host header is not host[:port]\n";

// RFC 9110 §7.2 and RFC 9112 §3.2 (400 for a bad or repeated Host): apps build URLs from
// HTTP_HOST, so "Host: x/admin?" must never reach one (docs/SECURITY.md).
const badHost: App = (_environ, startResponse) => {
  startResponse("400 Bad Request", [["Content-Type", "text/plain; charset=utf-8"]]);
  return [BAD_HOST_BODY];
};

/**
 * An error as the log shows it: as Node prints an uncaught one (the stack, then own properties
 * such as code and errno, and the cause). An error whose stack is one line was made without
 * frames on purpose (a CGI script's timeout, say): that line is the whole entry.
 */
function traceOf(error: unknown): string {
  if (!(error instanceof Error)) return `non-Error thrown: ${typeof error === "string" ? error : inspect(error)}`;
  const stack = error.stack;
  if (typeof stack === "string" && stack !== "" && !stack.includes("\n") && error.cause === undefined) return stack;
  return inspect(error);
}

/**
 * Runs one request of an app (wsgiref's BaseHandler): startResponse checks, deferred headers,
 * Content-Length or streaming, HEAD, backpressure, close() once, and errors into 500s.
 * Subclasses supply the transport through the protected `send*` methods.
 */
export abstract class BaseHandler {
  /** The environ the app is called with. */
  readonly environ: Environ;
  /** Where tracebacks go (wsgiref's get_stderr). */
  protected readonly errors: ErrorStream;

  /** The status the app gave, once it called startResponse. */
  status: string | undefined;
  /** The numeric status that was sent; 0 until headers are out. */
  statusCode = 0;
  /** Body bytes handed to the transport. */
  bytesSent = 0;
  /** Whether the status and headers have been handed to the transport. */
  headersSent = false;
  /** Whether the client went away before the response ended. */
  isAborted = false;

  // Plain private fields, not #fields: a handler is built per request, and V8 defines #fields
  // through a slower generic path (docs/PERFORMANCE.md, "Hot path").
  private code = 0;
  private headers: HeaderPair[] = [];
  private declaredLength = -1;
  /** Whether the app set a Server header (then the handler adds none). */
  protected hasServerHeader = false;
  private isBodyless = false;
  private isHead: boolean;
  private isEnded = false;
  private isFinished = false;
  private isBodyClosed = false;
  private body: Body | undefined;
  private iterator: Iterator<Chunk> | AsyncIterator<Chunk> | undefined;
  private held: Chunk | undefined;
  private drainWaiter: (() => void) | undefined;
  private isWatching = false;

  constructor(environ: Environ, errors: ErrorStream) {
    this.environ = environ;
    this.errors = errors;
    this.isHead = environ.REQUEST_METHOD === "HEAD";
  }

  // ---- transport: the override points -------------------------------------------------------

  /** Sends the status and headers; `contentLength` ≥ 0 means "add Content-Length". */
  protected abstract sendHeaders(code: number, status: string, headers: HeaderPair[], contentLength: number): void;
  /** Sends body bytes; returns false when the transport wants a drain before more. */
  protected abstract sendData(chunk: Chunk): boolean;
  /** Ends the response, with a last chunk if given. */
  protected abstract sendEnd(chunk?: Chunk): void;
  /** Cuts the connection: the response cannot be completed. */
  protected abstract abortConnection(): void;
  /** Resolves when the transport can take more (or the client went away). */
  protected waitForDrain(): Promise<void> {
    return RESOLVED;
  }
  /** Called once before the handler first waits, so the transport can report aborts. */
  protected watchForAbort(): void {}
  /** Called once when the response is over (sent, failed or aborted): access logs hook here. */
  protected onFinish(): void {}

  /**
   * The response for an app that failed before its headers were out (wsgiref's error_output):
   * the plain 500, which names nothing. Only the dev server overrides it, with its error page.
   */
  protected errorResponse(_error: unknown): FailureResponse {
    return { status: ERROR_STATUS, headers: [["Content-Type", "text/plain"]], body: ERROR_BODY };
  }

  /** Writes an error's trace to the error stream (wsgiref's log_exception). */
  protected logException(error: unknown): void {
    const trace = traceOf(error);
    this.errors.write(trace.endsWith("\n") ? trace : trace + "\n");
  }

  /** The transport calls this when the client disconnects: stops the body and closes it. */
  protected handleAbort(): void {
    if (this.isFinished) return;
    this.isAborted = true;
    this.#wakeDrain();
    this.#finish();
  }

  /** Signals the end of a drain wait; transports call it from their drain event. */
  protected handleDrain(): void {
    this.#wakeDrain();
  }

  #watch(): void {
    if (this.isWatching) return;
    this.isWatching = true;
    this.watchForAbort();
  }

  #wakeDrain(): void {
    const wake = this.drainWaiter;
    this.drainWaiter = undefined;
    wake?.();
  }

  #drain(): Promise<void> {
    if (this.isAborted) return RESOLVED;
    return new Promise((resolve) => {
      this.drainWaiter = resolve;
      this.waitForDrain().then(() => this.#wakeDrain(), () => this.#wakeDrain());
    });
  }

  // ---- the app side ---------------------------------------------------------------------------

  /** PEP 3333 start_response: records status and headers; they go out with the first body bytes. */
  readonly startResponse: StartResponse = (status: string, headers: HeaderPair[], excInfo?: ExcInfo): Write => {
    if (excInfo !== undefined && excInfo !== null) {
      // PEP 3333: once headers are out they cannot change, so the app's own error propagates.
      // A held first chunk counts as sent: it belongs to the old status, not the replacement.
      if (this.headersSent || this.held !== undefined) throw excInfo;
    } else if (this.status !== undefined) {
      throw new ProtocolError("startResponse was called a second time without excInfo");
    }
    const code = parseStatus(status);
    // A 1xx is interim (RFC 9110 §15.2): sent as final, the client would wait for the real one.
    if (code < 200) throw new ProtocolError(`status ${code} is an interim response, which cannot end a request; interim responses are the server's business`);
    const facts = checkHeaders(headers);
    this.status = status;
    this.code = code;
    // A copy: what the app adds to its array after this call (web.py's header() once the body
    // started, say) would otherwise go out unchecked with the held first chunk.
    this.headers = headers.slice();
    this.declaredLength = facts.declaredLength;
    this.hasServerHeader = facts.hasServer;
    return this.write;
  };

  /** The legacy write() callable startResponse returns. */
  private readonly write: Write = (chunk: Chunk): Promise<void> => {
    if (this.status === undefined) throw new ProtocolError("write() was called before startResponse");
    if (this.isFinished) throw new ProtocolError("write() was called after the response ended");
    checkChunk(chunk);
    this.#flushHeld();
    if (byteLength(chunk) === 0 || this.#emit(chunk, false)) return RESOLVED;
    this.#watch();
    return this.#drain();
  };

  /**
   * Runs the app for this request (a class application is constructed with `new`). Returns nothing when the app and its body were synchronous,
   * else a promise that settles when the response is over; it rejects only on a double fault.
   */
  run(app: AnyApp): void | Promise<void> {
    const host = this.environ.HTTP_HOST;
    if (host !== undefined && !isValidHost(host)) app = badHost;
    let result: Body | Promise<Body>;
    try {
      result = callApp(app, this.environ, this.startResponse);
    } catch (error) {
      return this.#fail(error);
    }
    if (isThenable(result)) {
      this.#watch();
      return (result as Promise<Body>).then((body) => this.#respond(body), (error: unknown) => this.#fail(error));
    }
    return this.#respond(result);
  }

  #respond(body: Body): void | Promise<void> {
    this.body = body;
    try {
      if (this.isAborted) {
        // The client left while an async app was still working: #finish ran without a body.
        this.#closeBody();
        return this.#finish();
      }
      if (Array.isArray(body)) return this.#sendArray(body);
      if (body instanceof FileWrapper && typeof body.file === "string") return this.#sendFile(body.file, body.blockSize);
      if (body === null || body === undefined || typeof body !== "object" || body instanceof Uint8Array) {
        throw new ProtocolError(`the app must return an iterable of chunks, not ${describe(body)}; wrap a single chunk as [chunk]`);
      }
      const sync = (body as Partial<Iterable<Chunk>>)[Symbol.iterator];
      if (typeof sync === "function") return this.#sendSync(sync.call(body));
      const async = (body as Partial<AsyncIterable<Chunk>>)[Symbol.asyncIterator];
      if (typeof async === "function") return this.#sendStream(async.call(body));
      throw new ProtocolError(`the app must return an Iterable or AsyncIterable of chunks, not ${describe(body)}`);
    } catch (error) {
      return this.#fail(error);
    }
  }

  /** gw.file_wrapper over a path: the size is known up front, so Content-Length is set. */
  async #sendFile(path: string, blockSize: number): Promise<void> {
    this.#watch();
    let size: number;
    try {
      const info = await stat(path);
      if (this.status === undefined) throw new ProtocolError("the app returned a file without calling startResponse");
      size = info.isFile() ? info.size : -1;
    } catch (error) {
      return this.#fail(error);
    }
    if (size === 0) {
      try {
        this.#endEmpty();
      } catch (error) {
        return this.#fail(error);
      }
      return this.#finish();
    }
    if (size > 0 && this.declaredLength < 0 && !this.headersSent) {
      this.#sendHead(size);
      // Enforced like an app's own Content-Length, in case the file changes while it is sent.
      this.declaredLength = size;
    }
    const stream = createReadStream(path, { highWaterMark: blockSize });
    return this.#sendStream(stream[Symbol.asyncIterator]());
  }

  /** The whole body is known, so Content-Length can be set however many chunks there are. */
  #sendArray(chunks: readonly unknown[]): void {
    if (chunks.length === 1) {
      const chunk = checkChunk(chunks[0]);
      // .length, not byteLength: a string is empty exactly when it has no bytes, and #emit
      // measures the chunk anyway (Buffer.byteLength is a call into C++).
      if (chunk.length === 0) this.#endEmpty();
      else this.#emit(chunk, true);
      return this.#finish();
    }
    let total = 0;
    for (const chunk of chunks) total += byteLength(checkChunk(chunk));
    if (total === 0) {
      this.#endEmpty();
      return this.#finish();
    }
    if (!this.headersSent) {
      const declared = this.declaredLength;
      // The whole body is known, so a mismatch can still fail into a clean 500.
      if (declared >= 0 && declared !== total && !this.isHead && mayHaveBody(this.code)) {
        throw new ProtocolError(`the app's body is ${total} bytes, not its Content-Length of ${declared}`);
      }
      this.#sendHead(total);
    }
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i] as Chunk;
      if (byteLength(chunk) === 0) continue;
      // Already in memory: buffering it in the transport costs nothing more, so no drain waits.
      if (i === chunks.length - 1) this.#emit(chunk, true);
      else this.#emit(chunk, false);
      if (this.isEnded) break;
    }
    if (!this.isEnded) this.#endEmpty();
    this.#finish();
  }

  /**
   * A sync iterable: the first non-empty chunk is held until the next one shows whether it is
   * the whole body (then Content-Length is set); this stays synchronous until a drain is needed.
   */
  #sendSync(iterator: Iterator<Chunk>): void | Promise<void> {
    this.iterator = iterator;
    for (;;) {
      if (this.isAborted || this.isEnded) return this.#finish();
      const step = iterator.next();
      if (step.done === true) {
        this.iterator = undefined;
        break;
      }
      const chunk = checkChunk(step.value);
      if (byteLength(chunk) === 0) continue;
      if (this.held === undefined && !this.headersSent) {
        this.held = chunk;
        continue;
      }
      this.#flushHeld();
      if (!this.#emit(chunk, false)) {
        this.#watch();
        return this.#drain().then(() => this.#sendStream(iterator));
      }
    }
    this.#endBody();
    this.#finish();
  }

  /** Any iterator, waiting for chunks and drains; the first chunk sends the headers. */
  async #sendStream(iterator: Iterator<Chunk> | AsyncIterator<Chunk>): Promise<void> {
    this.iterator = iterator;
    this.#watch();
    try {
      for (;;) {
        if (this.isAborted || this.isEnded) return this.#finish();
        let step = iterator.next();
        if (isThenable(step)) step = await step;
        if (this.isAborted) return this.#finish();
        if (step.done === true) {
          this.iterator = undefined;
          break;
        }
        const chunk = checkChunk(step.value);
        if (byteLength(chunk) === 0) continue;
        this.#flushHeld();
        if (!this.#emit(chunk, false)) await this.#drain();
      }
      this.#endBody();
      this.#finish();
    } catch (error) {
      return this.#fail(error);
    }
  }

  #flushHeld(): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    this.#emit(held, false);
  }

  /** The body iterator is done: send the held chunk as the whole body, or end the stream. */
  #endBody(): void {
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) this.#emit(held, true);
    else this.#endEmpty();
  }

  #sendHead(knownLength: number): void {
    const code = this.code;
    const hasBody = mayHaveBody(code);
    const contentLength = this.declaredLength < 0 && hasBody ? knownLength : -1;
    let headers = this.headers;
    // RFC 9110 §8.6: a 204 has no Content-Length (a 304's announces the selected representation's).
    if (code === 204 && this.declaredLength >= 0) headers = headers.filter((pair) => !isContentLength(pair[0]));
    this.sendHeaders(code, this.status!, headers, contentLength);
    this.statusCode = code;
    this.headersSent = true;
    this.isBodyless = this.isHead || !hasBody;
  }

  /**
   * Hands one chunk to the transport, sending the headers first if they are not out yet.
   * Returns false when the transport asks for a drain.
   */
  #emit(chunk: Chunk, isLast: boolean): boolean {
    if (this.status === undefined) throw new ProtocolError("the body produced data before startResponse was called");
    const size = byteLength(chunk);
    const declared = this.declaredLength;
    if (declared >= 0 && !this.isBodyless) {
      const total = this.bytesSent + size;
      // PEP 3333: never send more than Content-Length, nor end short of it (the client would hang).
      if (total > declared) throw new ProtocolError(`the app sent more than its Content-Length of ${declared} bytes`);
      if (isLast && total < declared && !this.isHead) {
        throw new ProtocolError(`the app sent ${total} bytes, fewer than its Content-Length of ${declared}`);
      }
    }
    if (!this.headersSent) this.#sendHead(isLast ? size : -1);
    if (this.isBodyless) {
      this.sendEnd();
      this.isEnded = true;
      return true;
    }
    this.bytesSent += size;
    if (isLast) {
      this.sendEnd(chunk);
      this.isEnded = true;
      return true;
    }
    return this.sendData(chunk);
  }

  /** Ends the response with no more bytes; an empty body gets Content-Length: 0. */
  #endEmpty(): void {
    if (this.isEnded) return;
    if (this.status === undefined) throw new ProtocolError("the app returned without calling startResponse");
    const declared = this.declaredLength;
    // Checked before the headers go out, so a short body can still fail into a clean 500.
    const isBodyless = this.headersSent ? this.isBodyless : this.isHead || !mayHaveBody(this.code);
    if (declared > this.bytesSent && !isBodyless) {
      throw new ProtocolError(`the app sent ${this.bytesSent} bytes, fewer than its Content-Length of ${declared}`);
    }
    // An app answering HEAD with no body has not said how long the GET body is: claim nothing.
    if (!this.headersSent) this.#sendHead(this.isHead ? -1 : 0);
    this.sendEnd();
    this.isEnded = true;
  }

  /** An error from the app or the body: wsgiref's handle_error. */
  #fail(error: unknown): void | Promise<void> {
    // A client that hung up makes reads and writes fail; that is no app error (wsgiref is silent too).
    if (this.isAborted) return this.#finish();
    this.logException(error);
    if (this.isEnded) return this.#finish();
    if (!this.headersSent) {
      let response: FailureResponse;
      try {
        response = this.errorResponse(error);
        this.code = response.status === ERROR_STATUS ? 500 : parseStatus(response.status);
      } catch (pageError) {
        // A broken error page must not hide the app's error: log it and send the plain 500.
        this.logException(pageError);
        response = BaseHandler.prototype.errorResponse.call(this, error);
        this.code = 500;
      }
      this.status = response.status;
      this.headers = response.headers;
      this.declaredLength = -1;
      this.hasServerHeader = false;
      this.held = undefined;
      try {
        this.#emit(response.body, true);
      } catch (secondError) {
        // A fault while reporting a fault: nothing sane can be sent, so cut the line and rethrow.
        this.abortConnection();
        this.#finish();
        throw secondError;
      }
    } else {
      // PEP 3333: the status line is already out, so a 500 is impossible; cut the connection.
      this.abortConnection();
    }
    return this.#finish();
  }

  /** Closes the body exactly once and reports the end of the response. */
  #finish(): void {
    if (this.isFinished) return;
    this.isFinished = true;
    const iterator = this.iterator;
    // An unfinished generator's finally blocks run only when it is told to return; the
    // iterator is dropped once done, so this covers errors, aborts and HEAD's early end.
    if (iterator !== undefined) {
      try {
        const returned = iterator.return?.();
        if (isThenable(returned)) returned.then(undefined, (error: unknown) => this.logException(error));
      } catch (error) {
        this.logException(error);
      }
    }
    this.#closeBody();
    // Done with the body: a finished handler that V8 already moved to its old generation would
    // otherwise keep the body (an adapter's whole request) alive through every young-generation
    // collection until the next full one (docs/PERFORMANCE.md, "fromNodeListener and the young
    // generation").
    this.body = undefined;
    this.onFinish();
  }

  /** PEP 3333: close() runs exactly once, whenever the body arrives and however the response ends. */
  #closeBody(): void {
    const body = this.body as { close?: () => unknown } | undefined;
    if (this.isBodyClosed || body === undefined || body === null || typeof body.close !== "function") return;
    this.isBodyClosed = true;
    try {
      const closed = body.close();
      if (isThenable(closed)) closed.then(undefined, (error: unknown) => this.logException(error));
    } catch (error) {
      this.logException(error);
    }
  }
}
