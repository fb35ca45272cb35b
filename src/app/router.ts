// web.py's application in TypeScript: a URL table of anchored regular expressions dispatching to
// handler classes, functions, sub-applications or "redirect" strings, with processors around each
// request. The result is a gw app; its per-request context is context.ts, its responses responses.ts.
import { DEFAULT_TYPE, RequestContext, storage } from "./context.ts";
import { Redirect, methodNotAllowed, notFound, redirect } from "./http-errors.ts";
import { respond, respondError } from "./results.ts";
import { Html, type Layout } from "./template.ts";
import type { Body, Environ, StartResponse } from "../core/types.ts";
import { KNOWN_METHODS } from "../core/http-syntax.ts";
import { isThenable } from "../core/util.ts";

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
  /**
   * web.py's `render(..., base="layout")`: wraps every Html a handler returns, given `ctx.vars`;
   * in nested applications the innermost one with a layout wraps the page. @default none
   */
  layout?: Layout;
}

const NO_GROUPS: readonly (string | undefined)[] = [];
const METHOD_NAME = /^[A-Z][A-Z0-9_-]*$/;
// A pattern without these characters matches only itself, so a string compare does.
const REGEX_SYNTAX = /[\\^$.|?*+()[\]{}]/;
const QUANTIFIER = /[?*+{]/;

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
  readonly layout: Layout | undefined;
}

const applications = new WeakMap<Function, AppState>();

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
    // A handler gets the pattern's groups: one that takes two with none to get is a gw app
    // (environ, startResponse) put where only an application() mounts, which would answer 500.
    // (The pattern or "" always matches "", and its result has one slot more than the groups.)
    if (target.kind === "function" && target.handler.length >= 2 && new RegExp(`${regex.source}|`).exec("")!.length === 1) {
      throw new TypeError(`${where}: this function takes two arguments and the pattern captures none: a gw app (environ, startResponse)? Only an application() mounts here; mount other apps with mount({ "/prefix": app, "/": thisApplication })`);
    }
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
  let result: unknown;
  if (processors.length === 0) result = handle(app, context);
  else {
    const step = (index: number): unknown =>
      index < processors.length ? processors[index]!(() => step(index + 1)) : handle(app, context);
    result = step(0);
  }
  if (app.layout === undefined) return result;
  return isThenable(result) ? Promise.resolve(result).then((value) => layOut(app, context, value)) : layOut(app, context, result);
}

/** Wraps an Html result in the application's layout, unless an inner application's already did. */
function layOut(app: AppState, context: RequestContext, result: unknown): unknown {
  if (!(result instanceof Html) || context.shared.isLaidOut) return result;
  context.shared.isLaidOut = true;
  return app.layout!(result, context.vars);
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
    layout: options.layout,
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

