// Runs /cgi-bin/ and /htbin/ scripts as RFC 3875 CGI/1.1 programs (http.server's
// CGIHTTPRequestHandler): never through a shell, one process group each, streamed both ways,
// killed on timeout or client abort, at most N at once.
import { availableParallelism } from "node:os";
import { cgiDepth, isUnderCgiFolder, ScriptRun, type Runner } from "./script-run.ts";
import { Slots } from "./slots.ts";
import { inheritedEnv } from "./script.ts";
import { findInside, handOver, realFolder, sendError, staticApp, type StaticOptions } from "../files/static.ts";
import { requestPath, splitPath, toFsPath } from "../files/url-path.ts";
import type { App, Body, Environ, StartResponse } from "../core/types.ts";

/** Options for cgiApp. */
export interface CgiOptions {
  /** URL folders whose files run as CGI scripts (CGIHTTPRequestHandler.cgi_directories). @default ["/cgi-bin", "/htbin"] */
  directories?: readonly string[];
  /** Seconds a script may run before its whole process group is killed. @default 30 */
  timeout?: number;
  /** Scripts that may run at once; later requests wait their turn. @default 4 × the CPU count */
  maxRunning?: number;
  /** Serves what is not a CGI script (a static app, say); a 404 page when not given. */
  fallback?: App;
  /** The variables every script gets before the request's own. @default PATH, LANG, LANGUAGE, LC_ALL, LC_CTYPE, TZ and TMPDIR from process.env */
  env?: Readonly<Record<string, string>>;
  /** Programs that run files by extension (".py" → "python3"); other files need their execute bit and a #! line. @default none */
  assign?: ReadonlyMap<string, string>;
  /** The largest request body a script may get, in bytes; larger ones get 413 before it starts. @default 1 GiB */
  maxBody?: number;
  /** The user and group scripts run as; this process's own when undefined. */
  user?: { uid: number; gid: number };
}

/** A CGI app, plus what a server needs to stop it cleanly. */
export type CgiApp = App & {
  /** How many scripts are running now. */
  readonly running: number;
  /** Kills every running script's process group and turns away waiting requests; for shutdown. */
  killAll(): void;
};

/** Options for cgiHttpApp: the CGI options and the static ones. */
export type CgiHttpOptions = Omit<CgiOptions, "fallback"> & StaticOptions;

/**
 * Runs the CGI scripts under `root` (CGIHTTPRequestHandler's CGI half): a path whose first
 * segments name one of `directories` runs the script it names, with the rest as PATH_INFO. Other
 * paths go to `fallback`. Throws a UserError when `root` is not a folder.
 */
export function cgiApp(root: string, options: CgiOptions = {}): CgiApp {
  const directories = new Set<string>();
  for (const directory of options.directories ?? ["/cgi-bin", "/htbin"]) {
    const parts = splitPath(Buffer.from(directory, "utf8").toString("latin1"));
    if (parts !== undefined && parts.segments.length > 0) directories.add("/" + parts.segments.join("/"));
  }
  const runner: Runner = {
    root: realFolder(root),
    directories,
    timeout: (options.timeout ?? 30) * 1000,
    slots: new Slots(options.maxRunning ?? 4 * availableParallelism()),
    env: options.env ?? inheritedEnv(),
    assign: options.assign ?? new Map(),
    maxBody: options.maxBody ?? 1024 ** 3,
    user: options.user,
    realDirectories: [],
    runs: new Set(),
    running: 0,
    launches: new Map(),
    fallback: options.fallback,
    // The whole app, so a local redirect can land on a script or on the fallback alike.
    site: (environ, startResponse) => app(environ, startResponse),
  };
  const app = (environ: Environ, startResponse: StartResponse): Body | Promise<Body> => {
    const parts = splitPath(requestPath(environ));
    if (parts === undefined) return sendError(startResponse, 404, "File not found");
    let scriptDepth = cgiDepth(runner.directories, parts);
    if (scriptDepth === 0) {
      // Decided on the real path too: an alias of a CGI folder (a link, another case) runs its
      // scripts as scripts and never shows their source, lists them or reads their bytes.
      const path = toFsPath(runner.root, parts.segments);
      const found = findInside(runner.root, path);
      const withExtraPath = found === undefined ? aliasedScriptDepth(runner, parts.segments) : undefined;
      if (withExtraPath !== undefined) {
        scriptDepth = withExtraPath;
      } else if (found !== undefined && isUnderCgiFolder(runner, found.path)) {
        if (!found.stats.isFile() || parts.hasTrailingSlash) return sendError(startResponse, 403, "CGI folders are not listed");
        scriptDepth = parts.segments.length - 1;
      } else if (runner.fallback !== undefined) {
        // The file server behind looks the same path up again: it takes this answer instead.
        if (found !== undefined) handOver(environ, path, found);
        return runner.fallback(environ, startResponse);
      } else {
        return sendError(startResponse, 404, "File not found");
      }
    }
    const run = new ScriptRun(runner, environ, startResponse, parts, scriptDepth);
    return Object.assign(run.body(), { close: () => run.close() });
  };
  return Object.defineProperties(app, {
    running: { get: () => runner.running },
    killAll: {
      value: () => {
        for (const run of runner.runs) run.stop();
      },
    },
  }) as CgiApp;
}

/**
 * Where a path that names no file holds a script of an aliased CGI folder followed by extra path
 * ("/scripts/env.sh/x" with scripts a link to cgi-bin): the depth ScriptRun starts from, as for a
 * script named whole; undefined when no leading part of the path is such a script.
 */
function aliasedScriptDepth(runner: Runner, segments: readonly string[]): number | undefined {
  for (let count = 1; count < segments.length; count++) {
    const found = findInside(runner.root, toFsPath(runner.root, segments.slice(0, count)));
    if (found === undefined) return undefined;
    if (found.stats.isDirectory()) continue;
    return found.stats.isFile() && isUnderCgiFolder(runner, found.path) ? count - 1 : undefined;
  }
  return undefined;
}

/**
 * A folder's files with CGI scripts under /cgi-bin/ and /htbin/ (CGIHTTPRequestHandler): the
 * CGI app with a static app behind it; POST to anything but a script is a 501, as in http.server.
 */
export function cgiHttpApp(root: string, options: CgiHttpOptions = {}): CgiApp {
  const files = staticApp(root, options);
  const fallback: App = (environ, startResponse) =>
    environ.REQUEST_METHOD === "POST" ? sendError(startResponse, 501, "Can only POST to CGI scripts") : files(environ, startResponse);
  return cgiApp(root, { ...options, fallback });
}
