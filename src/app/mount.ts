// Path-prefix dispatch and middleware composition for gw apps: mount() is CherryPy's
// WSGIPathInfoDispatcher, compose() stacks middleware around an app.
import type { App, AnyApp } from "../core/types.ts";
import { callApp } from "../core/util.ts";

/** A middleware: takes an app, returns the app that wraps it (docs/SPEC.md §10). */
export type Middleware = (app: App) => App;

/** The apps mount() dispatches to, by path prefix: an object or [prefix, app] pairs. */
export type Mounts = Readonly<Record<string, AnyApp>> | Iterable<readonly [prefix: string, app: AnyApp]>;

const NOT_FOUND_HEADERS: readonly (readonly [string, string])[] = [["Content-Type", "text/plain"], ["Content-Length", "0"]];

function entriesOf(apps: Mounts): (readonly [string, AnyApp])[] {
  if (typeof (apps as Partial<Iterable<unknown>>)[Symbol.iterator] === "function") {
    return [...(apps as Iterable<readonly [string, AnyApp]>)];
  }
  return Object.entries(apps as Record<string, AnyApp>);
}

/**
 * One app of several by the start of PATH_INFO (CherryPy's WSGIPathInfoDispatcher): the longest
 * prefix first, matching whole segments ("/blog" takes "/blog" and "/blog/x", not "/blogger");
 * the chosen app gets a copy of the environ with the prefix moved from PATH_INFO to SCRIPT_NAME.
 * No match is a 404 with an empty body.
 */
export function mount(apps: Mounts): App {
  const table = entriesOf(apps).map(([prefix, app]): [string, AnyApp] => {
    if (typeof prefix !== "string" || (prefix !== "" && !prefix.startsWith("/"))) {
      throw new TypeError(`mount prefix ${JSON.stringify(prefix)} must be "" or start with "/"`);
    }
    if (typeof app !== "function") throw new TypeError(`mount(${JSON.stringify(prefix)}): the app must be a function`);
    // CherryPy's rule: a prefix starts with "/" but does not end with one; "/" becomes "".
    return [prefix.replace(/\/+$/, ""), app];
  });
  table.sort((a, b) => b[0].length - a[0].length);
  return function mounted(environ, startResponse) {
    const path = environ.PATH_INFO || "/";
    for (const [prefix, app] of table) {
      if (path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f)) {
        // A copy, as CherryPy makes: the caller's environ keeps its own SCRIPT_NAME and PATH_INFO.
        const inner = { ...environ };
        inner.SCRIPT_NAME = environ.SCRIPT_NAME + prefix;
        inner.PATH_INFO = path.slice(prefix.length);
        return callApp(app, inner, startResponse);
      }
    }
    startResponse("404 Not Found", NOT_FOUND_HEADERS.map(([name, value]) => [name, value]));
    return [];
  };
}

/**
 * Stacks middleware around an app: `compose(a, b)(app)` is `a(b(app))`, so the first one listed
 * sees each request first and each response last.
 */
export function compose(...middleware: Middleware[]): Middleware {
  for (const [index, wrap] of middleware.entries()) {
    if (typeof wrap !== "function") throw new TypeError(`compose: middleware ${index} is not a function`);
  }
  return (app) => middleware.reduceRight<App>((inner, wrap) => wrap(inner), app);
}
