// A Node `(req, res)` listener as a gw app: fromNodeListener runs Express, Koa's callback(), Fastify
// or a plain createServer handler under any gw gateway, with Node's own IncomingMessage and ServerResponse.
//
// No HTTP text is made or parsed here. The request is built from the environ as Node's parser would
// fill it (node-parts.ts); the response is a real ServerResponse whose three output hooks are
// replaced: _storeHeader (where Node would render the head) records the status and header pairs,
// _send (where head and body bytes would go to the socket) queues the body for gw, and _finish
// marks the end. 1xx interim responses, written straight to the socket, go nowhere. Everything
// else (setHeader, writeHead, write/end with their callbacks, 'finish', 'close', drains,
// req.pipe) is Node's own code.
import type { IncomingMessage, RequestListener, Server, ServerResponse } from "node:http";
import { isContentLength, isHopByHop, mayHaveBody } from "../core/http-syntax.ts";
import type { App, Body, Chunk, HeaderPair, StartResponse } from "../core/types.ts";
import { baseFinish, kNeedDrain, kOutHeaders, listenerSocket, makeRequest, type ListenerSocket, type Callback, type NodeInternals } from "./node-parts.ts";

// node:http by getBuiltinModule, not import: see docs/ARCHITECTURE.md, "Startup".
const http = process.getBuiltinModule("node:http");

/** A Node request listener, or a server whose "request" listeners are the app. */
export type NodeListener = RequestListener | Server;

// The hooks below are own properties of each req and res, not a subclass: Express swaps the
// prototypes of req and res for its own (which inherit Node's), and an own property survives that
// where an overriding prototype would be cut out of the chain. They find their exchange through
// the socket, which req keeps for good (res only until Node's server would detach it after
// 'finish'; a late flushHeaders() still reaches _send then).
function exchangeOf(message: IncomingMessage | ServerResponse): Exchange {
  const socket = message.socket ?? (message as ServerResponse).req.socket;
  return (socket as unknown as ListenerSocket).exchange as Exchange;
}

// Node's own _read resumes the socket the parser feeds; here the body comes from gw.input.
function readBody(this: IncomingMessage): void {
  const self = this as unknown as NodeInternals;
  if (!self._consuming) {
    self._readableState.readingMore = false;
    self._consuming = true;
  }
  exchangeOf(this).pull();
}

let lastCode = 0;
let lastReason = "";
let lastStatus = "";
let lastHeader = "";

// Where Node renders the head as text: the status and header pairs are kept for startResponse.
function storeHeader(this: ServerResponse, _firstLine: string, headers: unknown): void {
  const pairs: HeaderPair[] = [];
  if (headers === (this as unknown as Record<symbol, unknown>)[kOutHeaders]) {
    // Collected by setHeader(), which validated each name and value already.
    const stored = headers as Record<string, [string, unknown]>;
    for (const key in stored) addHeader(pairs, stored[key]![0], stored[key]![1], false);
  } else if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as [string, unknown][]) addHeader(pairs, pair[0], pair[1], true);
    } else {
      if (headers.length % 2 !== 0) throw Object.assign(new TypeError("The argument 'headers' is invalid"), { code: "ERR_INVALID_ARG_VALUE" });
      for (let i = 0; i < headers.length; i += 2) addHeader(pairs, headers[i] as string, headers[i + 1], true);
    }
  } else if (headers !== null && typeof headers === "object") {
    const given = headers as Record<string, unknown>;
    for (const key in given) if (Object.hasOwn(given, key)) addHeader(pairs, key, given[key], true);
  }
  const code = this.statusCode;
  const reason = this.statusMessage || http.STATUS_CODES[code] || "Unknown";
  // Most responses of an app share one status: the strings of the last one are reused.
  if (code !== lastCode || reason !== lastReason) {
    lastCode = code;
    lastReason = reason;
    lastStatus = `${code} ${reason}`;
    lastHeader = `HTTP/1.1 ${lastStatus}\r\n\r\n`;
  }
  exchangeOf(this).head(lastStatus, pairs);
  const self = this as unknown as NodeInternals;
  // Truthy, as after Node's own _storeHeader: headersSent and every "headers already sent" check read it.
  self._header = lastHeader;
  self._headerSent = false;
  // gw frames the body for its client: whatever Node would have chunked goes through as it is.
  this.chunkedEncoding = false;
}

// Where Node sends the head and body bytes to the socket: the body is queued for gw.
function send(this: ServerResponse, data: string | Uint8Array, encoding: BufferEncoding | null | undefined, callback?: Callback): boolean {
  (this as unknown as NodeInternals)._headerSent = true;
  return exchangeOf(this).write(data, encoding, callback);
}

// end() calls this once everything is handed over: the response is complete.
function finish(this: ServerResponse): void {
  baseFinish.call(this);
  exchangeOf(this).end();
}

/** One queued write: a chunk (maybe empty) and the callback Node gave with it. */
interface Write {
  chunk: Chunk;
  callback: Callback;
}

/** Adds one header as gw pairs: values in an array are one line each, as Node writes them. */
function addHeader(pairs: HeaderPair[], name: string, value: unknown, shouldValidate: boolean): void {
  if (shouldValidate) http.validateHeaderName(name);
  if (Array.isArray(value)) {
    // Node joins a repeated Cookie with "; " and writes every other repeated header line by line.
    if (value.length >= 2 && name.length === 6 && name.toLowerCase() === "cookie") {
      addHeader(pairs, name, value.join("; "), shouldValidate);
      return;
    }
    for (const item of value) addHeader(pairs, name, item, shouldValidate);
    return;
  }
  if (shouldValidate) http.validateHeaderValue(name, value as string);
  // Framing is gw's: it sets Content-Length or chunking for the client it talks to.
  if (isHopByHop(name)) return;
  pairs.push([name, String(value)]);
}

function abortedError(): Error {
  return Object.assign(new Error("aborted"), { code: "ECONNRESET" });
}

const kExchange = Symbol("gw.exchange");

/** The array body of a response ended before the listener returned: its chunks, and close(). */
interface ArrayBody extends Array<Chunk> {
  [kExchange]: Exchange | undefined;
  close(): void;
}

/** An array body's close(), bound to the array: finishes its exchange once, and lets go of it. */
function closeArrayBody(this: ArrayBody): void {
  const exchange = this[kExchange];
  this[kExchange] = undefined;
  exchange?.close(true);
}

/** Runs the callbacks of writes that are over, and empties the array (see Exchange's #callStartResponse). */
function runCallbacks(writes: Write[], error: Error | undefined): void {
  for (const write of writes) if (typeof write.callback === "function") write.callback(error ?? null);
  writes.length = 0;
}

function emitClose(res: ServerResponse): void {
  const self = res as unknown as NodeInternals;
  if (self._closed) return;
  res.destroyed = true;
  self._closed = true;
  res.emit("close");
}

/**
 * One request between gw and the listener: the response's queue of writes, the body gw iterates,
 * and the bookkeeping Node's server does around a response ('finish' detaches the socket,
 * unread request bytes are drained, 'close' follows).
 */
class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly socket: ListenerSocket;
  /** Dropped once called: see #callStartResponse. */
  startResponse: StartResponse | undefined;
  status = "";
  headers: HeaderPair[] = [];
  writes: Write[] = [];
  /** The writes gw has taken; their callbacks run once gw asks for more (it sent them). */
  taken: Write[] = [];
  /** gw.input while the listener has not read all of it. */
  input: AsyncIterator<Uint8Array> | undefined = undefined;
  isPulling = false;
  isEnded = false;
  isStarted = false;
  isDone = false;
  error: Error | undefined = undefined;
  wake: (() => void) | undefined = undefined;

  constructor(req: IncomingMessage, res: ServerResponse, socket: ListenerSocket, startResponse: StartResponse) {
    this.req = req;
    this.res = res;
    this.socket = socket;
    this.startResponse = startResponse;
  }

  /** Moves one chunk of gw.input into the request, and more while the listener keeps up. */
  pull(): void {
    const input = this.input;
    if (this.isPulling || input === undefined) return;
    this.isPulling = true;
    const req = this.req;
    input.next().then(
      (step) => {
        this.isPulling = false;
        if (step.done === true) {
          this.input = undefined;
          req.complete = true;
          req.push(null);
        } else if (req.push(step.value)) {
          this.pull();
        }
      },
      (error: unknown) => {
        this.isPulling = false;
        this.input = undefined;
        req.destroy(error as Error);
      },
    );
  }

  head(status: string, headers: HeaderPair[]): void {
    this.status = status;
    this.headers = headers;
  }

  write(data: string | Uint8Array, encoding: BufferEncoding | null | undefined, callback: Callback): boolean {
    let chunk: Chunk = data;
    if (typeof data === "string" && data.length > 0 && encoding && encoding !== "utf8" && encoding !== "utf-8") chunk = Buffer.from(data, encoding);
    if (this.isDone) {
      // The client left: Node's socket would refuse the write too.
      if (typeof callback === "function") process.nextTick(callback, abortedError());
      return false;
    }
    this.writes.push({ chunk, callback });
    const res = this.res as unknown as NodeInternals;
    // Node counts what a response holds back in outputSize, and end() waits on it before
    // 'finish' (as on a socket's buffer): the queue gw has not taken yet counts there.
    res.outputSize += chunk.length;
    this.#wake();
    return res.outputSize < this.res.writableHighWaterMark;
  }

  end(): void {
    this.isEnded = true;
    this.#wake();
  }

  /** The listener (or Node for it) destroyed the socket: the response is cut. */
  onSocketClose(cause: Error | null): void {
    if (this.isDone) return;
    if (!this.isEnded) this.error = new Error("the Node listener destroyed its response before ending it", cause === null ? undefined : { cause });
    this.#wake();
  }

  /** The listener's promise rejected before the response was over. */
  fail(error: unknown): void {
    if (this.isDone || this.isEnded) return;
    this.error = error instanceof Error ? error : new Error(String(error));
    this.#wake();
  }

  #wake(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Calls startResponse; a body known in full gets its Content-Length, as gw sets for an array. */
  #start(): void {
    this.isStarted = true;
    const headers = this.headers;
    if (this.isEnded && this.req.method !== "HEAD" && mayHaveBody(this.res.statusCode) && !headers.some((pair) => isContentLength(pair[0]))) {
      let total = 0;
      for (const write of this.writes) total += Buffer.byteLength(write.chunk);
      headers.push(["Content-Length", String(total)]);
    }
    this.#callStartResponse(headers);
  }

  /**
   * startResponse holds gw's side of the request (its handler, the environ). Once called it is
   * dropped, as write callbacks are once run and the array body's exchange once closed: an
   * object of a finished request that V8 has already moved to its old generation would keep
   * whatever it still points to alive through every young-generation collection until the next
   * full one, and at thousands of requests a second that was every request's whole graph
   * (docs/PERFORMANCE.md, "fromNodeListener and the young generation").
   */
  #callStartResponse(headers: HeaderPair[]): void {
    const startResponse = this.startResponse!;
    this.startResponse = undefined;
    startResponse(this.status, headers);
  }

  /** The whole response, already written: the chunks as an array body, with close() to finish it. */
  arrayBody(): Body {
    this.isStarted = true;
    this.#callStartResponse(this.headers);
    const writes = this.writes;
    const chunks = [] as unknown as ArrayBody;
    for (const write of writes) if (write.chunk.length > 0) chunks.push(write.chunk);
    this.writes = [];
    this.taken = writes;
    (this.res as unknown as NodeInternals).outputSize = 0;
    // close() is one function bound to its array, which finds the exchange there, rather than a
    // closure made per response: V8 kept each such closure stored on its array, and through it
    // the whole request, reachable from its old generation until the next full collection
    // (1.2 MB moved a young collection; a bound function moved nothing: docs/PERFORMANCE.md,
    // "What kept the requests"). Bound, it still closes this response when a middleware calls
    // it detached or copies it onto an array of its own.
    chunks[kExchange] = this;
    chunks.close = closeArrayBody.bind(chunks);
    return chunks;
  }

  /** The body gw iterates while the listener is still writing. */
  streamBody(): Body {
    const next = (): Promise<IteratorResult<Chunk>> => {
      this.#release();
      return new Promise((resolve, reject) => {
        const step = (): void => {
          for (;;) {
            if (this.error !== undefined) return reject(this.error);
            if (!this.isStarted && this.status !== "" && (this.isEnded || this.writes.length > 0)) this.#start();
            const write = this.writes.shift();
            if (write === undefined) break;
            this.taken.push(write);
            (this.res as unknown as NodeInternals).outputSize -= write.chunk.length;
            if (write.chunk.length > 0) return resolve({ done: false, value: write.chunk });
          }
          if (this.isEnded || this.isDone) return resolve({ done: true, value: undefined });
          this.wake = step;
        };
        step();
      });
    };
    return { [Symbol.asyncIterator]: () => ({ next }), close: () => this.close() };
  }

  /** gw sent what it took: run those writes' callbacks (the last one emits 'finish'), and drain. */
  #release(): void {
    const res = this.res;
    if (this.taken.length > 0) {
      const taken = this.taken;
      this.taken = [];
      process.nextTick(runCallbacks, taken, undefined);
    }
    if (res.writableNeedDrain && (res as unknown as NodeInternals).outputSize < res.writableHighWaterMark) {
      // What Node's server does on its socket's 'drain' for the response that owed one (Node's
      // own _flush() would do it only on Node 24, and only once nothing was left to flush).
      (res as unknown as Record<symbol, boolean>)[kNeedDrain] = false;
      res.emit("drain");
    }
  }

  /**
   * gw is done with the body: sent in full, failed, or the client left. An array body was handed
   * to the transport in one go, so its callbacks (and 'finish') run now, saving a tick.
   */
  close(isArray: boolean = false): void {
    if (this.isDone) return;
    const isComplete = this.isEnded && this.writes.length === 0 && this.error === undefined;
    this.isDone = true;
    const { req, res, socket } = this;
    if (isComplete) {
      // The write callbacks, as a socket runs them once its bytes are out; the last emits 'finish'.
      const taken = this.taken;
      this.taken = [];
      if (isArray) runCallbacks(taken, undefined);
      else process.nextTick(runCallbacks, taken, undefined);
      return;
    }
    // Cut short: the listener sees what a dropped connection shows it.
    const pending = [...this.taken, ...this.writes];
    this.taken = [];
    this.writes = [];
    (res as unknown as NodeInternals).outputSize = 0;
    socket._hadError = true;
    process.nextTick(runCallbacks, pending, abortedError());
    if (!req.complete) req.destroy(abortedError());
    else if (!req.destroyed) req.destroy();
    socket.destroy();
  }
}

/**
 * What Node's server does on a response's 'finish' (its listener comes before the app's): drains
 * an unread request body, detaches the socket, and emits 'close' on the next tick.
 */
function onResponseFinish(this: ServerResponse): void {
  const internals = this.req as unknown as NodeInternals & { _dump(): void };
  if (!internals._consuming && !internals._readableState.resumeScheduled) internals._dump();
  if (this.socket !== null) this.detachSocket(this.socket);
  process.nextTick(emitClose, this);
}

/**
 * Runs a Node `(req, res)` listener (or an http.Server's request listeners) as a gw app, with
 * Node's real IncomingMessage and ServerResponse: setHeader, writeHead (objects and raw arrays),
 * write/end callbacks, 'finish' and 'close', req.pipe and backpressure both ways. No HTTP text is
 * made or parsed: the head and the body chunks go to gw as they are. A response the listener ends
 * before returning is an array body (gw sets Content-Length); any other streams. gw's client leaving
 * destroys the listener's socket, so req and res see 'close' once, as on a dropped connection.
 */
export function fromNodeListener(listener: NodeListener): App {
  const server = listener instanceof http.Server ? listener : null;
  const call = listener as RequestListener;
  return function nodeListenerApp(environ, startResponse): Body {
    const socket = listenerSocket(environ, server);
    const req = makeRequest(environ, socket);
    const res = new http.ServerResponse(req);
    const exchange = new Exchange(req, res, socket, startResponse);
    req._read = readBody;
    const hooks = res as unknown as Record<string, unknown>;
    hooks._storeHeader = storeHeader;
    hooks._send = send;
    hooks._finish = finish;
    // gw's front adds Date (and Server); the listener must not add a second one.
    res.sendDate = false;
    socket.exchange = exchange;
    res.assignSocket(socket as unknown as Parameters<ServerResponse["assignSocket"]>[0]);
    res.on("finish", onResponseFinish);
    const length = environ.CONTENT_LENGTH;
    const hasBody = (length !== undefined && length !== "" && length !== "0") || environ.HTTP_TRANSFER_ENCODING !== undefined;
    if (hasBody) exchange.input = environ["gw.input"][Symbol.asyncIterator]();
    let result: unknown;
    try {
      result = server === null ? call(req, res) : server.emit("request", req, res);
    } catch (error) {
      // Node would crash on this; gw answers 500 (or cuts a started response) and logs it.
      exchange.close();
      throw error;
    }
    if (result !== null && typeof result === "object" && typeof (result as { then?: unknown }).then === "function") {
      (result as Promise<unknown>).then(undefined, (error: unknown) => exchange.fail(error));
    }
    if (!hasBody) {
      // As Node's parser does for a request without a body, right after the 'request' event.
      req.complete = true;
      req.push(null);
    }
    if (exchange.isEnded && exchange.error === undefined) return exchange.arrayBody();
    return exchange.streamBody();
  };
}
