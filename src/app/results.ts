// Handler results into gw responses, as web.py's application.wsgi() does: strings, bytes, chunks,
// JSON and streams, with the context's status and headers; an HttpError becomes its own response.
import { storage, type RequestContext } from "./context.ts";
import { HttpError } from "./http-errors.ts";
import { Html } from "./template.ts";
import { describe } from "../core/describe.ts";
import { mayHaveBody } from "../core/http-syntax.ts";
import { FileWrapper } from "../core/util.ts";
import type { Body, Chunk, HeaderPair, StartResponse } from "../core/types.ts";

/** A handler's promise to be sent as JSON: see json(). */
export class JsonBody {
  /** The value to serialise. */
  readonly value: unknown;

  constructor(value: unknown) {
    this.value = value;
  }
}

/** Marks `value` to be sent as JSON, with Content-Type application/json unless the handler set one. */
export function json(value: unknown): JsonBody {
  return new JsonBody(value);
}

const JSON_TYPE = "application/json";
const HTML_TYPE = "text/html; charset=utf-8";

function isJsonType(headers: readonly HeaderPair[]): boolean {
  for (const [name, value] of headers) {
    if (name.length === 12 && name.toLowerCase() === "content-type") {
      const type = value.split(";")[0]!.trim().toLowerCase();
      return type === JSON_TYPE || type.endsWith("+json");
    }
  }
  return false;
}

/** Calls startResponse with the context's status and headers, adding a Content-Type (`type`, else the application's) if none was set. */
function start(context: RequestContext, startResponse: StartResponse, type?: string): void {
  const shared = context.shared;
  const headers = shared.headers;
  let hasType = false;
  for (let i = 0; i < headers.length; i++) {
    const name = headers[i]![0];
    if (name.length === 12 && name.toLowerCase() === "content-type") hasType = true;
  }
  if (!hasType) {
    const code = Number(shared.status.slice(0, 3));
    // RFC 9110 §15.3.5, §15.4.5: 204 and 304 carry no content, so no type either.
    if (mayHaveBody(code)) headers.push(["Content-Type", type ?? shared.contentType]);
  }
  startResponse(shared.status, headers);
}

function isEmptyChunk(chunk: unknown): boolean {
  return chunk === "" || (chunk instanceof Uint8Array && chunk.byteLength === 0);
}

/** Turns a handler's result into a gw body, calling startResponse with the context's status and headers. */
export function respond(result: unknown, context: RequestContext, startResponse: StartResponse): Body {
  if (typeof result === "string") {
    start(context, startResponse);
    return result.length === 0 ? [] : [result];
  }
  if (result instanceof Uint8Array) {
    start(context, startResponse);
    return result.byteLength === 0 ? [] : [result];
  }
  if (result === undefined || result === null) {
    start(context, startResponse);
    return [];
  }
  if (result instanceof Html) {
    // A page with nothing pending is one string, sent with its length; the rest streams.
    if (result.isAsync) return new AsyncBody(result, context.shared.last, startResponse, HTML_TYPE);
    start(context, startResponse, HTML_TYPE);
    const text = result.toString();
    return text.length === 0 ? [] : [text];
  }
  if (result instanceof JsonBody) {
    start(context, startResponse, JSON_TYPE);
    return [JSON.stringify(result.value) ?? "null"];
  }
  const isJson = isJsonType(context.shared.headers);
  if (result instanceof FileWrapper) {
    // Passed as it is, so the gateway can stat a path and send Content-Length.
    start(context, startResponse);
    return result;
  }
  if (Array.isArray(result)) {
    start(context, startResponse, isJson ? JSON_TYPE : undefined);
    return isJson ? [JSON.stringify(result)] : result;
  }
  if (typeof result === "object") {
    const iterable = result as Partial<Iterable<Chunk> & AsyncIterable<Chunk>>;
    if (typeof iterable[Symbol.iterator] === "function") return new SyncBody(iterable as Iterable<Chunk>, context.shared.last, startResponse);
    if (typeof iterable[Symbol.asyncIterator] === "function") return new AsyncBody(iterable as AsyncIterable<Chunk>, context.shared.last, startResponse);
  }
  if (isJson) {
    start(context, startResponse, JSON_TYPE);
    return [JSON.stringify(result) ?? "null"];
  }
  throw new TypeError(`a handler returned ${describe(result)}: return a string, bytes, an iterable of chunks, or json(value)`);
}

/** An HttpError becomes its response; the headers set before it stay unless the error sets the same name. */
export function respondError(error: unknown, context: RequestContext, startResponse: StartResponse): Body {
  if (!(error instanceof HttpError)) throw error;
  const response = error.toResponse(context.environ);
  const replaced = new Set(response.headers.map(([name]) => name.toLowerCase()));
  replaced.add("content-length");
  const headers = context.shared.headers.filter(([name]) => !replaced.has(name.toLowerCase()));
  headers.push(...response.headers);
  context.shared.status = response.status;
  context.shared.headers = headers;
  startResponse(response.status, headers);
  return response.body === "" ? [] : [response.body];
}

/**
 * What a streamed result's two bodies share: startResponse waits for the first non-empty chunk,
 * and an error before it becomes the error page's body (after it, the error goes on to the server).
 */
abstract class StreamedBody {
  protected readonly context: RequestContext;
  readonly #startResponse: StartResponse;
  /** The Content-Type unless the handler set one; undefined for the application's. */
  readonly #type: string | undefined;
  #isStarted = false;
  #errorBody: Chunk[] | undefined;

  constructor(context: RequestContext, startResponse: StartResponse, type: string | undefined) {
    this.context = context;
    this.#startResponse = startResponse;
    this.#type = type;
  }

  /** The error page's next chunk, once an error before the first chunk made one. */
  protected pending(): IteratorResult<Chunk> | undefined {
    return this.#errorBody === undefined ? undefined : nextOf(this.#errorBody);
  }

  /** A step's error: before the first chunk, the error page; after it, thrown on. */
  protected failed(error: unknown): IteratorResult<Chunk> {
    if (this.#isStarted) throw error;
    this.#isStarted = true;
    this.#errorBody = [...respondError(error, this.context, this.#startResponse) as Chunk[]];
    return nextOf(this.#errorBody);
  }

  /** A step's result, starting the response at the first non-empty chunk or the end. */
  protected stepped(step: IteratorResult<Chunk>): IteratorResult<Chunk> {
    if (!this.#isStarted && (step.done === true || !isEmptyChunk(step.value))) {
      this.#isStarted = true;
      start(this.context, this.#startResponse, this.#type);
    }
    return step;
  }
}

/**
 * A streamed result: each step runs in the request's context, and startResponse waits for the
 * first chunk, so a generator may still set ctx.status and headers (or throw an HttpError)
 * before its first yield, as web.py allows.
 */
class SyncBody extends StreamedBody implements IterableIterator<Chunk> {
  readonly #source: Iterable<Chunk> & { close?: () => unknown };
  #iterator: Iterator<Chunk> | undefined;

  constructor(source: Iterable<Chunk>, context: RequestContext, startResponse: StartResponse) {
    super(context, startResponse, undefined);
    this.#source = source;
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<Chunk> {
    const pending = this.pending();
    if (pending !== undefined) return pending;
    try {
      return this.stepped(storage.run(this.context, stepSync, this));
    } catch (error) {
      return this.failed(error);
    }
  }

  /** Called by stepSync inside the context. */
  pull(): IteratorResult<Chunk> {
    this.#iterator ??= this.#source[Symbol.iterator]();
    return this.#iterator.next();
  }

  return(): IteratorResult<Chunk> {
    const iterator = this.#iterator;
    if (iterator?.return !== undefined) storage.run(this.context, () => iterator.return!());
    return { done: true, value: undefined };
  }

  /** Forwards to the result's own close(). */
  close(): unknown {
    return this.#source.close?.();
  }
}

function stepSync(body: SyncBody): IteratorResult<Chunk> {
  return body.pull();
}

function nextOf(chunks: Chunk[]): IteratorResult<Chunk> {
  const chunk = chunks.shift();
  return chunk === undefined ? { done: true, value: undefined } : { done: false, value: chunk };
}

/** The async twin of SyncBody. */
class AsyncBody extends StreamedBody implements AsyncIterableIterator<Chunk> {
  readonly #source: AsyncIterable<Chunk> & { close?: () => unknown };
  #iterator: AsyncIterator<Chunk> | undefined;

  constructor(source: AsyncIterable<Chunk>, context: RequestContext, startResponse: StartResponse, type?: string) {
    super(context, startResponse, type);
    this.#source = source;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Chunk>> {
    const pending = this.pending();
    if (pending !== undefined) return pending;
    let step: IteratorResult<Chunk>;
    try {
      step = await storage.run(this.context, stepAsync, this);
    } catch (error) {
      return this.failed(error);
    }
    return this.stepped(step);
  }

  /** Called by stepAsync inside the context. */
  pull(): Promise<IteratorResult<Chunk>> {
    this.#iterator ??= this.#source[Symbol.asyncIterator]();
    return this.#iterator.next();
  }

  async return(): Promise<IteratorResult<Chunk>> {
    const iterator = this.#iterator;
    if (iterator?.return !== undefined) await storage.run(this.context, () => iterator.return!());
    return { done: true, value: undefined };
  }

  /** Forwards to the result's own close(). */
  close(): unknown {
    return this.#source.close?.();
  }
}

function stepAsync(body: AsyncBody): Promise<IteratorResult<Chunk>> {
  return body.pull();
}
