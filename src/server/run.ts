// Runs an app the way its context asks (web.py's runwsgi): as a CGI program under a web server's
// CGI, as a FastCGI responder when spawned with a listening socket on fd 0, else over HTTP.
import type { Readable, Writable } from "node:stream";
import type { TextSink } from "../core/input.ts";
import type { AnyApp } from "../core/types.ts";
import { CgiHandler } from "../gateway/cgi-handler.ts";
import { serveFastCgi } from "./fastcgi.ts";
import { makeServer } from "./http.ts";
import { inheritedListener } from "./listen.ts";

/** Options for run(); each defaults to this process's own. */
export interface RunOptions {
  /** The environment the rules read (GATEWAY_INTERFACE, PORT), and a CGI request's variables. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** The descriptor that holds an inherited listening socket, if any. @default 0 */
  fd?: number;
  /** The host the HTTP server binds. @default "127.0.0.1" */
  host?: string;
  /** CGI: the request body. @default process.stdin */
  stdin?: Readable;
  /** CGI: where the response goes. @default process.stdout */
  stdout?: Writable;
  /** Where access-log lines, tracebacks and CGI's gw.errors go. @default process.stderr */
  stderr?: Writable & TextSink;
  /** Aborting it shuts the FastCGI or HTTP server down gracefully; run() then resolves. */
  signal?: AbortSignal;
}

/** What run() chose. */
export type RunMode = "cgi" | "fastcgi" | "http";

/**
 * Serves `app` as its context asks, and resolves once done: one CGI request when
 * GATEWAY_INTERFACE is set; FastCGI on fd 0 when it is a listening socket; else HTTP on $PORT
 * (8000 when unset or not a port) until the server shuts down.
 */
export async function run(app: AnyApp, options: RunOptions = {}): Promise<RunMode> {
  const env = options.env ?? process.env;
  const stderr = options.stderr ?? process.stderr;
  if (env.GATEWAY_INTERFACE !== undefined) {
    await new CgiHandler({ env, stdin: options.stdin, stdout: options.stdout, stderr }).run(app);
    return "cgi";
  }
  const inherited = await inheritedListener(options.fd ?? 0);
  if (inherited !== undefined) {
    const server = serveFastCgi(inherited, app, { log: stderr, errors: stderr });
    const closed = new Promise<void>((resolve) => inherited.once("close", () => resolve()));
    options.signal?.addEventListener("abort", () => void server.shutdown(), { once: true });
    await closed;
    return "fastcgi";
  }
  const port = /^\d{1,5}$/.test(env.PORT ?? "") && Number(env.PORT) <= 65535 ? Number(env.PORT) : 8000;
  const server = await makeServer(options.host ?? "127.0.0.1", port, app, { log: stderr, errors: stderr });
  options.signal?.addEventListener("abort", () => void server.shutdown(), { once: true });
  await server.serveForever();
  return "http";
}
