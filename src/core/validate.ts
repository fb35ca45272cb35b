// validator(app): middleware that checks both sides of the gw interface (PEP 3333) and throws on
// the first broken rule; a port of Python's wsgiref.validate, adapted to promises and async bodies.
import { show } from "./describe.ts";
import { ValidationError } from "./errors.ts";
import { BAD_LATIN1_FIELD_VALUE, CONTROL, HOP_BY_HOP, KNOWN_METHODS, TOKEN } from "./http-syntax.ts";
import { FileWrapper, callApp, isThenable } from "./util.ts";
import type { App, AnyApp, Body, Chunk, Environ, ErrorStream, HeaderPair, InputStream, StartResponse, Write } from "./types.ts";

/** Options for validator(). */
export interface ValidatorOptions {
  /**
   * Receives each non-fatal finding (an unknown method or status code, a missing Content-Type).
   * @default writes "gw validator warning: <message>\n" to environ["gw.errors"]
   */
  onWarning?: (message: string) => void;
}

type Warn = (message: string) => void;

/** What one request has done so far, shared by the startResponse, write and body wrappers. */
interface RequestState {
  isStarted: boolean;
  isIterated: boolean;
  isClosed: boolean;
}

const REQUIRED_STRINGS = [
  "REQUEST_METHOD", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
] as const;
const REQUIRED_GW_KEYS = [
  "gw.version", "gw.url_scheme", "gw.input", "gw.errors", "gw.multithread", "gw.multiprocess", "gw.run_once",
] as const;
const KEY_HINTS: Partial<Record<string, string>> = {
  SCRIPT_NAME: " ('' when the app is mounted at the root)",
  QUERY_STRING: " ('' when the URL has no query)",
};
const METHODS: ReadonlySet<string> = new Set(KNOWN_METHODS);

/** Wraps an app so every call checks the environ, startResponse, write, gw.input, gw.errors and the body. */
export function validator(app: AnyApp, options: ValidatorOptions = {}): App {
  return function lintApp(environ: Environ, startResponse: StartResponse): Body | Promise<Body> {
    if (arguments.length !== 2) {
      fail(`an app takes exactly 2 arguments, environ and startResponse (got ${arguments.length})`);
    }
    const warn: Warn = options.onWarning ?? ((message) => environ["gw.errors"].write(`gw validator warning: ${message}\n`));
    checkEnviron(environ, warn);
    if (typeof startResponse !== "function") fail(`startResponse must be a function (got ${show(startResponse)})`);

    const state: RequestState = { isStarted: false, isIterated: false, isClosed: false };
    environ["gw.input"] = new CheckedInput(environ["gw.input"]);
    environ["gw.errors"] = new CheckedErrors(environ["gw.errors"]);
    const result = callApp(app, environ, checkedStartResponse(startResponse, state, warn));
    // A sync app stays sync, so servers keep their fast path for plain bodies.
    if (isThenable(result)) return Promise.resolve(result).then((body) => wrapBody(body, state));
    return wrapBody(result, state);
  };
}

function fail(message: string): never {
  throw new ValidationError(`gw validator: ${message}`);
}

function isChunk(value: unknown): value is Chunk {
  return typeof value === "string" || value instanceof Uint8Array;
}


function checkEnviron(environ: Environ, warn: Warn): void {
  if (typeof environ !== "object" || environ === null) fail(`environ must be a plain object (got ${show(environ)})`);
  const proto: unknown = Object.getPrototypeOf(environ);
  if (proto !== Object.prototype && proto !== null) fail(`environ must be a plain object (got ${show(environ)})`);
  const env = environ as Record<string, unknown>;

  for (const key of [...REQUIRED_STRINGS, ...REQUIRED_GW_KEYS]) {
    if (!(key in env)) fail(`environ is missing the required key ${key}${KEY_HINTS[key] ?? ""}`);
  }
  for (const key of ["HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"]) {
    if (key in env) fail(`environ must not have ${key}; that header belongs in ${key.slice(5)}`);
  }
  // PEP 3333: keys without a dot are CGI variables, whose values are strings; undefined counts as absent.
  for (const [key, value] of Object.entries(env)) {
    if (!key.includes(".") && value !== undefined && typeof value !== "string") {
      fail(`CGI variable ${key} must be a string (got ${show(value)})`);
    }
  }

  const version = env["gw.version"];
  if (!Array.isArray(version) || version.length !== 2 || version[0] !== 1 || version[1] !== 0) {
    fail(`environ["gw.version"] must be [1, 0] (got ${show(version)})`);
  }
  const scheme = env["gw.url_scheme"];
  if (scheme !== "http" && scheme !== "https") fail(`environ["gw.url_scheme"] must be "http" or "https" (got ${show(scheme)})`);
  checkMethods("gw.input", env["gw.input"], ["read", "readline", "readlines", Symbol.asyncIterator]);
  checkMethods("gw.errors", env["gw.errors"], ["write", "writelines", "flush"]);
  for (const key of ["gw.multithread", "gw.multiprocess", "gw.run_once"]) {
    if (typeof env[key] !== "boolean") fail(`environ["${key}"] must be a boolean (got ${show(env[key])})`);
  }
  const fileWrapper = env["gw.file_wrapper"];
  if (fileWrapper !== undefined && typeof fileWrapper !== "function") {
    fail(`environ["gw.file_wrapper"] must be a function when present (got ${show(fileWrapper)})`);
  }

  const { SCRIPT_NAME, PATH_INFO, CONTENT_LENGTH, REQUEST_METHOD } = environ;
  if (SCRIPT_NAME !== "" && !SCRIPT_NAME.startsWith("/")) fail(`SCRIPT_NAME must be '' or start with "/" (got ${show(SCRIPT_NAME)})`);
  // PEP 3333 keeps the slash in PATH_INFO: the root mount is SCRIPT_NAME '' and PATH_INFO '/'.
  // The one exception is wsgiref's: shiftPathInfo moving a path's last, empty segment ("/blog/"
  // shifted twice) leaves SCRIPT_NAME "/blog/" and PATH_INFO ''.
  if (SCRIPT_NAME.endsWith("/") && (SCRIPT_NAME === "/" || PATH_INFO !== "")) {
    fail(`SCRIPT_NAME must not end with "/"; the slash belongs to PATH_INFO (got ${show(SCRIPT_NAME)})`);
  }
  if (PATH_INFO !== "" && !PATH_INFO.startsWith("/")) fail(`PATH_INFO must be '' or start with "/" (got ${show(PATH_INFO)})`);
  if (SCRIPT_NAME === "" && PATH_INFO === "") fail(`SCRIPT_NAME and PATH_INFO must not both be empty; PATH_INFO should be "/" at the root`);
  if (CONTENT_LENGTH !== undefined && CONTENT_LENGTH !== "" && !/^[0-9]+$/.test(CONTENT_LENGTH)) {
    fail(`CONTENT_LENGTH must be '' or a non-negative integer (got ${show(CONTENT_LENGTH)})`);
  }
  if (!METHODS.has(REQUEST_METHOD)) warn(`unknown REQUEST_METHOD ${show(REQUEST_METHOD)}`);
}

function checkMethods(name: string, value: unknown, methods: (string | symbol)[]): void {
  if (typeof value !== "object" || value === null) fail(`environ["${name}"] must be an object (got ${show(value)})`);
  for (const method of methods) {
    if (typeof (value as Record<string | symbol, unknown>)[method] !== "function") {
      const label = typeof method === "string" ? `${method}()` : `[${method.description ?? ""}]()`;
      fail(`environ["${name}"] must have a ${label} method`);
    }
  }
}

function checkedStartResponse(startResponse: StartResponse, state: RequestState, warn: Warn): StartResponse {
  return function (status: string, headers: HeaderPair[], excInfo?: unknown): Write {
    if (arguments.length !== 2 && arguments.length !== 3) {
      fail(`startResponse takes 2 or 3 arguments, status, headers and optional excInfo (got ${arguments.length})`);
    }
    if (state.isClosed) fail("startResponse was called after the body was closed");
    // PEP 3333: only an app that caught an error may replace a status it already set.
    if (state.isStarted && (excInfo === undefined || excInfo === null)) {
      fail("startResponse was called a second time without excInfo");
    }
    const code = checkStatus(status, warn);
    checkHeaders(headers);
    checkContentType(code, headers, warn);
    state.isStarted = true;

    const write: unknown = arguments.length === 3 ? startResponse(status, headers, excInfo) : startResponse(status, headers);
    if (typeof write !== "function") fail(`the server's startResponse must return a write function (got ${show(write)})`);
    return checkedWrite(write as Write, state);
  };
}

function checkStatus(status: unknown, warn: Warn): number {
  if (typeof status !== "string") fail(`status must be a string like "200 OK" (got ${show(status)})`);
  if (!/^[0-9]{3} ./s.test(status)) fail(`status must be 3 digits, a space and a reason phrase (got ${show(status)})`);
  if (CONTROL.test(status)) fail(`status must not contain control characters (got ${show(status)})`);
  const code = Number(status.slice(0, 3));
  if (code < 100) fail(`status code must be 100 or more (got ${show(status)})`);
  if (code < 200) fail(`status ${code} is an interim (1xx) response, which cannot end a request; interim responses are the server's business (got ${show(status)})`);
  if (code > 599) warn(`status code ${code} is outside the HTTP classes 1xx-5xx`);
  return code;
}

function checkHeaders(headers: unknown): void {
  if (!Array.isArray(headers)) fail(`headers must be an Array of [name, value] pairs (got ${show(headers)})`);
  for (const pair of headers as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2) fail(`each header must be a [name, value] pair (got ${show(pair)})`);
    const [name, value] = pair as unknown[];
    if (typeof name !== "string" || typeof value !== "string") {
      fail(`a header's name and value must be strings (got ${show(pair)})`);
    }
    if (!TOKEN.test(name)) fail(`header name must be an HTTP token (got ${show(name)})`);
    const lower = name.toLowerCase();
    // wsgiref: "Status" is how CGI scripts give the status; in gw it goes to startResponse.
    if (lower === "status") fail(`the Status header is not allowed; pass the status to startResponse`);
    if (name.endsWith("-") || name.endsWith("_")) fail(`header name must not end in "-" or "_" (got ${show(name)})`);
    if (HOP_BY_HOP.has(lower)) fail(`hop-by-hop header ${show(name)} is not allowed; the server manages the connection`);
    // SPEC §3.3: header values are latin-1, since a higher code point loses its high byte on the wire.
    if (BAD_LATIN1_FIELD_VALUE.test(value)) {
      fail(`header value must not contain CR, LF, other control characters or characters above U+00FF (got ${show(name)}: ${show(value)})`);
    }
  }
}

function checkContentType(code: number, headers: HeaderPair[], warn: Warn): void {
  const hasContentType = headers.some(([name]) => name.toLowerCase() === "content-type");
  // 204 and 304 responses never carry content, so a Content-Type there describes nothing.
  if (code === 204 || code === 304) {
    if (hasContentType) fail(`a ${code} response has no content, so it must not have a Content-Type header`);
  } else if (!hasContentType) {
    warn(`no Content-Type header in a ${code} response`);
  }
}

function checkedWrite(write: Write, state: RequestState): Write {
  return function (chunk: Chunk): Promise<void> {
    if (arguments.length !== 1) fail(`write() takes exactly 1 argument (got ${arguments.length})`);
    if (!isChunk(chunk)) fail(`write() takes a Uint8Array or a string (got ${show(chunk)})`);
    if (state.isClosed) fail("write() was called after the body was closed");
    const result: unknown = write(chunk);
    if (!isThenable(result)) fail(`the server's write() must return a Promise (got ${show(result)})`);
    return Promise.resolve(result).then(() => undefined);
  };
}

/** gw.input as the app sees it: checks argument types and what the server's stream returns. */
class CheckedInput implements InputStream {
  #input: InputStream;

  constructor(input: InputStream) {
    this.#input = input;
  }

  read(size?: number): Promise<Uint8Array> {
    checkSize("read", size, arguments.length);
    return checkBytes("read", this.#input.read(size), size);
  }

  readline(size?: number): Promise<Uint8Array> {
    checkSize("readline", size, arguments.length);
    return checkBytes("readline", this.#input.readline(size), size);
  }

  async readlines(hint?: number): Promise<Uint8Array[]> {
    checkSize("readlines", hint, arguments.length);
    const lines: unknown = await this.#input.readlines(hint);
    if (!Array.isArray(lines) || !lines.every((line) => line instanceof Uint8Array)) {
      fail(`gw.input.readlines() must resolve to an Array of Uint8Array (got ${show(lines)})`);
    }
    return lines as Uint8Array[];
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for await (const chunk of this.#input as AsyncIterable<unknown>) {
      if (!(chunk instanceof Uint8Array)) fail(`iterating gw.input must yield Uint8Array chunks (got ${show(chunk)})`);
      yield chunk;
    }
  }

  close(): never {
    fail("gw.input.close() must not be called; the server owns the request body");
  }
}

function checkSize(method: string, size: unknown, count: number): void {
  if (count > 1) fail(`gw.input.${method}() takes at most 1 argument (got ${count})`);
  if (size !== undefined && !Number.isInteger(size)) fail(`gw.input.${method}() size must be an integer (got ${show(size)})`);
}

async function checkBytes(method: string, pending: unknown, size: number | undefined): Promise<Uint8Array> {
  if (!isThenable(pending)) fail(`gw.input.${method}() must return a Promise (got ${show(pending)})`);
  const bytes: unknown = await pending;
  if (!(bytes instanceof Uint8Array)) fail(`gw.input.${method}() must resolve to a Uint8Array (got ${show(bytes)})`);
  if (size !== undefined && size >= 0 && bytes.byteLength > size) {
    fail(`gw.input.${method}(${size}) must return at most ${size} bytes (got ${bytes.byteLength})`);
  }
  return bytes;
}

/** gw.errors as the app sees it: text only, and never closed by the app. */
class CheckedErrors implements ErrorStream {
  #errors: ErrorStream;

  constructor(errors: ErrorStream) {
    this.#errors = errors;
  }

  write(text: string): void {
    if (typeof text !== "string") fail(`gw.errors.write() takes a string (got ${show(text)})`);
    this.#errors.write(text);
  }

  writelines(lines: Iterable<string>): void {
    if (typeof (lines as Partial<Iterable<unknown>> | null)?.[Symbol.iterator] !== "function") {
      fail(`gw.errors.writelines() takes an iterable of strings (got ${show(lines)})`);
    }
    const checked = Array.from(lines as Iterable<unknown>, (line) => {
      if (typeof line !== "string") fail(`gw.errors.writelines() takes an iterable of strings (got an item ${show(line)})`);
      return line;
    });
    this.#errors.writelines(checked);
  }

  flush(): void {
    this.#errors.flush();
  }

  close(): never {
    fail("gw.errors.close() must not be called; the server owns the error stream");
  }
}

type AnyBody = Partial<Iterable<unknown>> & Partial<AsyncIterable<unknown>> & { close?: unknown };

/**
 * Checks what the app returned and wraps it with the same shape: a sync iterator only if the body
 * has one, an async iterator only if it has one, and close() only if the body has close().
 */
function wrapBody(body: unknown, state: RequestState): Body {
  if (body === undefined || body === null) fail(`an app must return a body, if only an empty array (got ${show(body)})`);
  if (typeof body === "string") {
    fail(`an app must not return a string as its body; return [text], since a string would be sent one character at a time`);
  }
  if (body instanceof Uint8Array) {
    fail(`an app must not return a Uint8Array as its body; return [bytes], since it would be sent one byte at a time`);
  }
  // An array is the whole body already and a FileWrapper is the server's own object; both pass
  // through unwrapped so the server can still frame them with a Content-Length.
  if (Array.isArray(body) && (body as AnyBody).close === undefined) {
    for (const chunk of body as unknown[]) {
      if (!isChunk(chunk)) fail(`each body chunk must be a Uint8Array or a string (got ${show(chunk)})`);
    }
    if (!state.isStarted) fail("the app returned its body but startResponse was never called");
    return body as Body;
  }
  if (body instanceof FileWrapper) {
    if (!state.isStarted) fail("the app returned a file but startResponse was never called");
    return body;
  }
  const source = body as AnyBody;
  const syncIterator = source[Symbol.iterator];
  const asyncIterator = source[Symbol.asyncIterator];
  if (typeof syncIterator !== "function" && typeof asyncIterator !== "function") {
    fail(`the body must be an Iterable or AsyncIterable of chunks (got ${show(body)})`);
  }
  const close = source.close;
  if (close !== undefined && typeof close !== "function") fail(`body.close must be a function when present (got ${show(close)})`);

  const wrapper: AnyBody = {};
  if (typeof syncIterator === "function") {
    wrapper[Symbol.iterator] = () => checkedIterator(beginIteration(state, () => syncIterator.call(source)), state);
  }
  if (typeof asyncIterator === "function") {
    wrapper[Symbol.asyncIterator] = () => checkedAsyncIterator(beginIteration(state, () => asyncIterator.call(source)), state);
  }
  if (typeof close === "function") {
    wrapper.close = () => {
      if (state.isClosed) fail("body.close() was called twice; the server must call it exactly once");
      state.isClosed = true;
      return close.call(source);
    };
  }
  return wrapper as Body;
}

function beginIteration<T>(state: RequestState, open: () => T): T {
  if (state.isClosed) fail("the body was iterated after close()");
  if (state.isIterated) fail("the body was iterated twice; a server must iterate it once");
  state.isIterated = true;
  return open();
}

function checkStep(step: IteratorResult<unknown>, state: RequestState): IteratorResult<Chunk> {
  if (step.done === true) {
    if (!state.isStarted) fail("the body ended but startResponse was never called");
    return { done: true, value: undefined };
  }
  if (!isChunk(step.value)) fail(`each body chunk must be a Uint8Array or a string (got ${show(step.value)})`);
  // PEP 3333: the status must be set before the first body chunk, so the server can send headers.
  if (!state.isStarted) fail("the body yielded a chunk before startResponse was called");
  return step as IteratorResult<Chunk>;
}

function checkedIterator(iterator: Iterator<unknown>, state: RequestState): Iterator<Chunk> {
  return {
    next(): IteratorResult<Chunk> {
      if (state.isClosed) fail("the body was iterated after close()");
      return checkStep(iterator.next(), state);
    },
    // A server that stops early (error, client abort) must still let a generator's finally run.
    return(): IteratorResult<Chunk> {
      iterator.return?.();
      return { done: true, value: undefined };
    },
  };
}

function checkedAsyncIterator(iterator: AsyncIterator<unknown>, state: RequestState): AsyncIterator<Chunk> {
  return {
    async next(): Promise<IteratorResult<Chunk>> {
      if (state.isClosed) fail("the body was iterated after close()");
      return checkStep(await iterator.next(), state);
    },
    async return(): Promise<IteratorResult<Chunk>> {
      await iterator.return?.();
      return { done: true, value: undefined };
    },
  };
}
