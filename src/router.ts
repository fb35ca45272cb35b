// web.py's application in TypeScript: a URL table of anchored regular expressions dispatching to
// handler classes, functions, sub-applications or "redirect" strings, processors around each
// request, and a per-request context (web.ctx) kept in AsyncLocalStorage. The result is a gw app.
import { AsyncLocalStorage } from "node:async_hooks";
import { HttpError, Redirect, methodNotAllowed, notFound, redirect } from "./http-errors.ts";
import { FileWrapper } from "./util.ts";
import type { Body, Chunk, Environ, HeaderPair, StartResponse } from "./types.ts";

/**
 * What a handler returns: a string or bytes (sent whole, with Content-Length), an array of chunks,
 * any other iterable or async iterable of chunks (streamed), a FileWrapper, null or undefined (an
 * empty body), `json(value)`, or a plain object or array when the response's Content-Type is JSON.
 */
export type Result = unknown;

/** A handler function: called with the URL pattern's captured groups, returns a Result. */
export type HandlerFunction = (...groups: never[]) => unknown;

/** A handler class: made once per request; its GET, POST… method gets the captured groups. */
export type HandlerClass = new () => object;

/** What a URL pattern maps to: a class, a function, a sub-application, or "redirect /new/path". */
export type Handler = HandlerClass | HandlerFunction | Application | `redirect ${string}`;

/** One row of the URL table: a pattern anchored at both ends and its handler. */
export type UrlEntry = readonly [pattern: string | RegExp, handler: Handler];

/** An around-handler (web.py's processor): calls `handler()` and returns its result, or its own. */
export type Processor = (handler: () => unknown) => unknown;

/** A gw app made by application(): a URL table with processors. */
export interface Application {
  (environ: Environ, startResponse: StartResponse): Body | Promise<Body>;
  /** The processors, outermost first. */
  readonly processors: readonly Processor[];
  /** Adds a processor inside the ones already added (web.py's add_processor); returns the application. */
  addProcessor(processor: Processor): Application;
}

/** Options for application(). */
export interface ApplicationOptions {
  /** Processors, outermost first. @default [] */
  processors?: Processor[];
  /** The Content-Type of a response whose handler set none. @default "text/plain; charset=utf-8" */
  contentType?: string;
}

/** The per-request context, like web.py's web.ctx; `ctx` is the current request's. */
export interface Context {
  /** The environ as this application sees it (a sub-application's has SCRIPT_NAME and PATH_INFO shifted). */
  readonly environ: Environ;
  /** REQUEST_METHOD. */
  readonly method: string;
  /** PATH_INFO: the path below this application's mount point. */
  readonly path: string;
  /** "?" and the query string, or "" when there is none. */
  readonly query: string;
  /** path + query. */
  readonly fullpath: string;
  /** SCRIPT_NAME: where this application is mounted ("" at the root). */
  readonly homepath: string;
  /** The scheme and host, e.g. "http://example.com:8080". */
  readonly homedomain: string;
  /** homedomain + homepath: the application's base URL. */
  readonly home: string;
  /** The Host header, else SERVER_NAME. */
  readonly host: string;
  /** REMOTE_ADDR, or "" when unknown. */
  readonly ip: string;
  /** gw.url_scheme. */
  readonly protocol: "http" | "https";
  /** The response status line. @default "200 OK" */
  status: string;
  /** The response headers. */
  headers: HeaderPair[];
  /** Values processors and handlers share during one request. */
  readonly state: Record<string, unknown>;
}

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
const DEFAULT_TYPE = "text/plain; charset=utf-8";
const NO_GROUPS: readonly (string | undefined)[] = [];
const KNOWN_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"];
const METHOD_NAME = /^[A-Z][A-Z0-9_-]*$/;
// A pattern without these characters matches only itself, so a string compare does.
const REGEX_SYNTAX = /[\\^$.|?*+()[\]{}]/;
const QUANTIFIER = /[?*+{]/;

/** What one request's contexts share, however deep it goes into sub-applications. */
interface Shared {
  status: string;
  headers: HeaderPair[];
  /** Made on first use: most requests never touch it. */
  state: Record<string, unknown> | undefined;
  contentType: string;
  data: Promise<Uint8Array> | undefined;
  /** The innermost context that handled the request: the body is iterated in it. */
  last: RequestContext;
}

class RequestContext implements Context {
  readonly environ: Environ;
  readonly shared: Shared;

  constructor(environ: Environ, shared: Shared | undefined) {
    this.environ = environ;
    this.shared = shared ?? { status: "200 OK", headers: [], state: undefined, contentType: DEFAULT_TYPE, data: undefined, last: this };
    this.shared.last = this;
  }

  get method(): string {
    return this.environ.REQUEST_METHOD;
  }

  get path(): string {
    return this.environ.PATH_INFO;
  }

  get query(): string {
    const query = this.environ.QUERY_STRING;
    return query ? `?${query}` : "";
  }

  get fullpath(): string {
    return this.path + this.query;
  }

  get homepath(): string {
    return this.environ.SCRIPT_NAME;
  }

  get host(): string {
    return this.environ.HTTP_HOST || this.environ.SERVER_NAME;
  }

  get homedomain(): string {
    const environ = this.environ;
    const scheme = environ["gw.url_scheme"];
    if (environ.HTTP_HOST) return `${scheme}://${environ.HTTP_HOST}`;
    const port = environ.SERVER_PORT;
    const isDefault = port === (scheme === "https" ? "443" : "80");
    return `${scheme}://${environ.SERVER_NAME}${isDefault ? "" : `:${port}`}`;
  }

  get home(): string {
    return this.homedomain + this.homepath;
  }

  get ip(): string {
    return this.environ.REMOTE_ADDR ?? "";
  }

  get protocol(): "http" | "https" {
    return this.environ["gw.url_scheme"];
  }

  get status(): string {
    return this.shared.status;
  }

  set status(status: string) {
    this.shared.status = status;
  }

  get headers(): HeaderPair[] {
    return this.shared.headers;
  }

  set headers(headers: HeaderPair[]) {
    this.shared.headers = headers;
  }

  get state(): Record<string, unknown> {
    return (this.shared.state ??= {});
  }
}

const storage = new AsyncLocalStorage<RequestContext>();

function current(): RequestContext {
  const context = storage.getStore();
  if (context === undefined) throw new Error("ctx is only available while an application handles a request");
  return context;
}

/** The current request's context (web.ctx); reading it outside a request throws. */
export const ctx: Context = {
  get environ(): Environ {
    return current().environ;
  },
  get method(): string {
    return current().method;
  },
  get path(): string {
    return current().path;
  },
  get query(): string {
    return current().query;
  },
  get fullpath(): string {
    return current().fullpath;
  },
  get homepath(): string {
    return current().homepath;
  },
  get homedomain(): string {
    return current().homedomain;
  },
  get home(): string {
    return current().home;
  },
  get host(): string {
    return current().host;
  },
  get ip(): string {
    return current().ip;
  },
  get protocol(): "http" | "https" {
    return current().protocol;
  },
  get status(): string {
    return current().status;
  },
  set status(status: string) {
    current().status = status;
  },
  get headers(): HeaderPair[] {
    return current().headers;
  },
  set headers(headers: HeaderPair[]) {
    current().headers = headers;
  },
  get state(): Record<string, unknown> {
    return current().state;
  },
};

/** Adds a response header to the current request (web.py's web.header). */
export function header(name: string, value: string): void {
  current().headers.push([name, value]);
}

/** The whole request body of the current request, read once and shared by later calls (web.py's web.data). */
export function data(): Promise<Uint8Array> {
  const context = current();
  return (context.shared.data ??= context.environ["gw.input"].read());
}

/**
 * The query parameters of the current request, followed by the fields of an
 * application/x-www-form-urlencoded body (web.py's web.input).
 */
export async function input(): Promise<URLSearchParams> {
  const environ = current().environ;
  const params = new URLSearchParams(environ.QUERY_STRING);
  const type = (environ.CONTENT_TYPE ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/x-www-form-urlencoded") {
    for (const [name, value] of new URLSearchParams(new TextDecoder().decode(await data()))) params.append(name, value);
  }
  return params;
}

// ---- the URL table ------------------------------------------------------------------------------

type Target =
  | { kind: "class"; handler: HandlerClass; methods: ReadonlySet<string>; allow: readonly string[] }
  | { kind: "function"; handler: (...groups: (string | undefined)[]) => unknown }
  | { kind: "redirect"; location: string }
  | { kind: "sub"; app: AppState };

interface Route {
  readonly pattern: RegExp;
  /** The whole path this route matches, when the pattern is plain text. */
  readonly literal: string | undefined;
  /** Text every matching path starts with: a cheap test before the regex. */
  readonly prefix: string;
  readonly target: Target;
}

interface AppState {
  readonly routes: readonly Route[];
  /** The sub-application routes, longest prefix first. */
  readonly subs: readonly Route[];
  readonly processors: Processor[];
  readonly contentType: string;
}

const applications = new WeakMap<Function, AppState>();

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") &&
    typeof (value as PromiseLike<unknown>).then === "function";
}

/** The literal text a pattern's matches start with; "" when that is not plain to see. */
function literalPrefix(source: string): string {
  if (source.includes("|")) return "";
  const at = source.search(REGEX_SYNTAX);
  if (at === -1) return source;
  // "ab?" matches "a": a quantifier makes the character before it optional.
  return QUANTIFIER.test(source[at]!) ? source.slice(0, Math.max(0, at - 1)) : source.slice(0, at);
}

/** The uppercase methods a handler class defines, its own and inherited (web.py looks them up with hasattr). */
function methodsOf(handler: HandlerClass): Set<string> {
  const methods = new Set<string>();
  for (let proto: object | null = handler.prototype as object; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (!METHOD_NAME.test(name)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (typeof descriptor?.value === "function") methods.add(name);
    }
  }
  return methods;
}

function isClass(handler: Function): boolean {
  if (Function.prototype.toString.call(handler).startsWith("class")) return true;
  // An ES5-style constructor counts when its prototype has a GET, POST… method.
  const proto = (handler as { prototype?: unknown }).prototype;
  return typeof proto === "object" && proto !== null && methodsOf(handler as HandlerClass).size > 0;
}

function allowList(methods: ReadonlySet<string>): string[] {
  const allow = new Set<string>();
  for (const method of KNOWN_METHODS) {
    if (methods.has(method) || (method === "HEAD" && methods.has("GET"))) allow.add(method);
  }
  for (const method of [...methods].sort()) allow.add(method);
  return [...allow];
}

function compileTarget(handler: Handler, where: string): Target {
  if (typeof handler === "string") {
    if (!handler.startsWith("redirect ")) {
      throw new TypeError(`${where}: a string handler must be "redirect <url>", got ${JSON.stringify(handler)}`);
    }
    return { kind: "redirect", location: handler.slice(9).trim() };
  }
  if (typeof handler !== "function") throw new TypeError(`${where}: a handler must be a class, a function, an application or "redirect <url>"`);
  const sub = applications.get(handler);
  if (sub !== undefined) return { kind: "sub", app: sub };
  if (isClass(handler)) {
    const methods = methodsOf(handler as HandlerClass);
    return { kind: "class", handler: handler as HandlerClass, methods, allow: allowList(methods) };
  }
  return { kind: "function", handler: handler as (...groups: (string | undefined)[]) => unknown };
}

function compileRoute(entry: UrlEntry, index: number): Route {
  if (!Array.isArray(entry) || entry.length !== 2) throw new TypeError(`urls[${index}] must be a [pattern, handler] pair`);
  const [pattern, handler] = entry;
  const where = `urls[${index}] (${String(pattern)})`;
  const target = compileTarget(handler, where);
  if (target.kind === "sub") {
    if (typeof pattern !== "string" || (pattern !== "" && !pattern.startsWith("/"))) {
      throw new TypeError(`${where}: a sub-application's pattern must be a path prefix like "/blog"`);
    }
    // CherryPy's rule: a prefix starts with "/" and does not end with one; "" is the root.
    const prefix = pattern.replace(/\/+$/, "");
    return { pattern: /^$/, literal: undefined, prefix, target };
  }
  let regex: RegExp;
  if (typeof pattern === "string") {
    regex = new RegExp(`^(?:${pattern})$`);
  } else if (pattern instanceof RegExp) {
    // g and y would make exec() stateful across requests.
    regex = new RegExp(`^(?:${pattern.source})$`, pattern.flags.replace(/[gy]/g, ""));
  } else {
    throw new TypeError(`${where}: a pattern must be a string or a RegExp`);
  }
  const isPlain = typeof pattern === "string" && !REGEX_SYNTAX.test(pattern);
  const isCaseless = pattern instanceof RegExp && pattern.flags.includes("i");
  return {
    pattern: regex,
    literal: isPlain ? pattern : undefined,
    prefix: isCaseless ? "" : literalPrefix(typeof pattern === "string" ? pattern : pattern.source),
    target,
  };
}

function isUnder(path: string, prefix: string): boolean {
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f);
}

// The groups of the last match: match() and its caller run in one synchronous step, so a
// module variable is safe and saves an object per request.
let matchedGroups: readonly (string | undefined)[] = NO_GROUPS;

/** The first route matching `path` (its groups in matchedGroups); among sub-applications, the longest prefix. */
function match(app: AppState, path: string): Route | undefined {
  const routes = app.routes;
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i]!;
    if (route.target.kind === "sub") {
      if (!isUnder(path, route.prefix)) continue;
      for (const sub of app.subs) {
        if (isUnder(path, sub.prefix)) {
          matchedGroups = NO_GROUPS;
          return sub;
        }
      }
      continue;
    }
    const literal = route.literal;
    if (literal !== undefined) {
      if (path === literal) {
        matchedGroups = NO_GROUPS;
        return route;
      }
      continue;
    }
    if (!path.startsWith(route.prefix)) continue;
    const found = route.pattern.exec(path);
    if (found !== null) {
      matchedGroups = found.length === 1 ? NO_GROUPS : found.slice(1);
      return route;
    }
  }
  return undefined;
}

/** web.py's handle(): finds the route and delegates to its handler. */
function handle(app: AppState, context: RequestContext): unknown {
  context.shared.contentType = app.contentType;
  const path = context.path;
  const route = match(app, path);
  if (route === undefined) throw notFound();
  const groups = matchedGroups;
  const target = route.target;
  switch (target.kind) {
    case "class": {
      let method = context.method;
      if (!target.methods.has(method)) {
        // web.py: a class without HEAD answers it with GET; the gateway then drops the body.
        if (method === "HEAD" && target.methods.has("GET")) method = "GET";
        else throw methodNotAllowed(target.allow);
      }
      const instance = new target.handler() as Record<string, (...args: (string | undefined)[]) => unknown>;
      return instance[method]!(...groups);
    }
    case "function":
      return target.handler(...groups);
    case "redirect": {
      let location = target.location.includes("$") ? path.replace(route.pattern, target.location) : target.location;
      // web.py keeps the query on a GET, so a moved search page keeps its parameters.
      if (context.method === "GET" && context.environ.QUERY_STRING) location += `?${context.environ.QUERY_STRING}`;
      throw redirect(location);
    }
    case "sub":
      return delegate(target.app, route.prefix, context);
  }
}

function bindRedirect(error: unknown, environ: Environ): unknown {
  if (error instanceof Redirect) error.bind(environ);
  return error;
}

/** Runs a sub-application with SCRIPT_NAME and PATH_INFO shifted, in a context of its own. */
function delegate(app: AppState, prefix: string, context: RequestContext): unknown {
  const outer = context.environ;
  // Copied, as CherryPy's dispatcher does: the outer application's processors keep their view.
  const environ = { ...outer } as Environ;
  environ.SCRIPT_NAME = outer.SCRIPT_NAME + prefix;
  environ.PATH_INFO = outer.PATH_INFO.slice(prefix.length);
  const child = new RequestContext(environ, context.shared);
  let result: unknown;
  try {
    result = storage.run(child, handleWithProcessors, app, child);
  } catch (error) {
    throw bindRedirect(error, environ);
  }
  if (!isThenable(result)) return result;
  return Promise.resolve(result).then(undefined, (error: unknown) => {
    throw bindRedirect(error, environ);
  });
}

/** web.py's handle_with_processors: processors[0] outermost, the handler innermost. */
function handleWithProcessors(app: AppState, context: RequestContext): unknown {
  const processors = app.processors;
  if (processors.length === 0) return handle(app, context);
  const step = (index: number): unknown =>
    index < processors.length ? processors[index]!(() => step(index + 1)) : handle(app, context);
  return step(0);
}

// ---- results into responses ----------------------------------------------------------------------

function isJsonType(headers: readonly HeaderPair[]): boolean {
  for (const [name, value] of headers) {
    if (name.length === 12 && name.toLowerCase() === "content-type") {
      const type = value.split(";")[0]!.trim().toLowerCase();
      return type === JSON_TYPE || type.endsWith("+json");
    }
  }
  return false;
}

/** Calls startResponse with the context's status and headers, adding a Content-Type if none was set. */
function start(context: RequestContext, startResponse: StartResponse, isJson: boolean): void {
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
    if (code >= 200 && code !== 204 && code !== 304) headers.push(["Content-Type", isJson ? JSON_TYPE : shared.contentType]);
  }
  startResponse(shared.status, headers);
}

function isEmptyChunk(chunk: unknown): boolean {
  return chunk === "" || (chunk instanceof Uint8Array && chunk.byteLength === 0);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  return typeof value === "object" ? `an object (${value.constructor?.name ?? "no prototype"})` : `a ${typeof value}`;
}

/** Turns a handler's result into a gw body. */
function respond(result: unknown, context: RequestContext, startResponse: StartResponse): Body {
  if (typeof result === "string") {
    start(context, startResponse, false);
    return result.length === 0 ? [] : [result];
  }
  if (result instanceof Uint8Array) {
    start(context, startResponse, false);
    return result.byteLength === 0 ? [] : [result];
  }
  if (result === undefined || result === null) {
    start(context, startResponse, false);
    return [];
  }
  if (result instanceof JsonBody) {
    start(context, startResponse, true);
    return [JSON.stringify(result.value) ?? "null"];
  }
  const isJson = isJsonType(context.shared.headers);
  if (result instanceof FileWrapper) {
    // Passed as it is, so the gateway can stat a path and send Content-Length.
    start(context, startResponse, false);
    return result;
  }
  if (Array.isArray(result)) {
    start(context, startResponse, isJson);
    return isJson ? [JSON.stringify(result)] : result;
  }
  if (typeof result === "object") {
    const iterable = result as Partial<Iterable<Chunk> & AsyncIterable<Chunk>>;
    if (typeof iterable[Symbol.iterator] === "function") return new SyncBody(iterable as Iterable<Chunk>, context.shared.last, startResponse);
    if (typeof iterable[Symbol.asyncIterator] === "function") return new AsyncBody(iterable as AsyncIterable<Chunk>, context.shared.last, startResponse);
  }
  if (isJson) {
    start(context, startResponse, true);
    return [JSON.stringify(result) ?? "null"];
  }
  throw new TypeError(`a handler returned ${describe(result)}: return a string, bytes, an iterable of chunks, or json(value)`);
}

/** An HttpError becomes its response; the headers set before it stay unless the error sets the same name. */
function respondError(error: unknown, context: RequestContext, startResponse: StartResponse): Body {
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
 * A streamed result: each step runs in the request's context, and startResponse waits for the
 * first chunk, so a generator may still set ctx.status and headers (or throw an HttpError)
 * before its first yield, as web.py allows.
 */
class SyncBody implements IterableIterator<Chunk> {
  readonly #source: Iterable<Chunk> & { close?: () => unknown };
  readonly #context: RequestContext;
  readonly #startResponse: StartResponse;
  #iterator: Iterator<Chunk> | undefined;
  #isStarted = false;
  #errorBody: Chunk[] | undefined;

  constructor(source: Iterable<Chunk>, context: RequestContext, startResponse: StartResponse) {
    this.#source = source;
    this.#context = context;
    this.#startResponse = startResponse;
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<Chunk> {
    if (this.#errorBody !== undefined) return nextOf(this.#errorBody);
    let step: IteratorResult<Chunk>;
    try {
      step = storage.run(this.#context, stepSync, this);
    } catch (error) {
      if (this.#isStarted) throw error;
      this.#isStarted = true;
      this.#errorBody = [...respondError(error, this.#context, this.#startResponse) as Chunk[]];
      return nextOf(this.#errorBody);
    }
    if (!this.#isStarted && (step.done === true || !isEmptyChunk(step.value))) {
      this.#isStarted = true;
      start(this.#context, this.#startResponse, false);
    }
    return step;
  }

  /** Called by stepSync inside the context. */
  pull(): IteratorResult<Chunk> {
    this.#iterator ??= this.#source[Symbol.iterator]();
    return this.#iterator.next();
  }

  return(): IteratorResult<Chunk> {
    const iterator = this.#iterator;
    if (iterator?.return !== undefined) storage.run(this.#context, () => iterator.return!());
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
class AsyncBody implements AsyncIterableIterator<Chunk> {
  readonly #source: AsyncIterable<Chunk> & { close?: () => unknown };
  readonly #context: RequestContext;
  readonly #startResponse: StartResponse;
  #iterator: AsyncIterator<Chunk> | undefined;
  #isStarted = false;
  #errorBody: Chunk[] | undefined;

  constructor(source: AsyncIterable<Chunk>, context: RequestContext, startResponse: StartResponse) {
    this.#source = source;
    this.#context = context;
    this.#startResponse = startResponse;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Chunk>> {
    if (this.#errorBody !== undefined) return nextOf(this.#errorBody);
    let step: IteratorResult<Chunk>;
    try {
      step = await storage.run(this.#context, stepAsync, this);
    } catch (error) {
      if (this.#isStarted) throw error;
      this.#isStarted = true;
      this.#errorBody = [...respondError(error, this.#context, this.#startResponse) as Chunk[]];
      return nextOf(this.#errorBody);
    }
    if (!this.#isStarted && (step.done === true || !isEmptyChunk(step.value))) {
      this.#isStarted = true;
      start(this.#context, this.#startResponse, false);
    }
    return step;
  }

  /** Called by stepAsync inside the context. */
  pull(): Promise<IteratorResult<Chunk>> {
    this.#iterator ??= this.#source[Symbol.asyncIterator]();
    return this.#iterator.next();
  }

  async return(): Promise<IteratorResult<Chunk>> {
    const iterator = this.#iterator;
    if (iterator?.return !== undefined) await storage.run(this.#context, () => iterator.return!());
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

function run(app: AppState, context: RequestContext, startResponse: StartResponse): Body | Promise<Body> {
  let result: unknown;
  try {
    result = handleWithProcessors(app, context);
  } catch (error) {
    return respondError(error, context, startResponse);
  }
  if (!isThenable(result)) return respond(result, context, startResponse);
  return Promise.resolve(result).then(
    (value) => respond(value, context, startResponse),
    (error: unknown) => respondError(error, context, startResponse),
  );
}

/**
 * web.py's application: `urls` maps patterns, anchored at both ends, to handlers; the first match
 * wins (among sub-applications, the longest prefix), its groups become the handler's arguments,
 * and nothing matched is a 404. The result is a gw app, and a sub-application of another one.
 */
export function application(urls: readonly UrlEntry[], options: ApplicationOptions = {}): Application {
  const routes = urls.map(compileRoute);
  const state: AppState = {
    routes,
    subs: routes.filter((route) => route.target.kind === "sub").sort((a, b) => b.prefix.length - a.prefix.length),
    processors: [...(options.processors ?? [])],
    contentType: options.contentType ?? DEFAULT_TYPE,
  };
  const app = function application(environ: Environ, startResponse: StartResponse): Body | Promise<Body> {
    const context = new RequestContext(environ, undefined);
    return storage.run(context, run, state, context, startResponse);
  } as Application;
  Object.defineProperty(app, "processors", { get: (): readonly Processor[] => state.processors, enumerable: true });
  (app as { addProcessor: Application["addProcessor"] }).addProcessor = (processor: Processor): Application => {
    if (typeof processor !== "function") throw new TypeError("a processor must be a function of the handler");
    state.processors.push(processor);
    return app;
  };
  applications.set(app, state);
  return app;
}

/** Whether `value` is an application made by application(). */
export function isApplication(value: unknown): value is Application {
  return typeof value === "function" && applications.has(value);
}

/** A processor that runs `hook` before each request's handler (web.py's loadhook). */
export function loadHook(hook: () => unknown): Processor {
  return (handler) => {
    const done = hook();
    return isThenable(done) ? Promise.resolve(done).then(handler) : handler();
  };
}

