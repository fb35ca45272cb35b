// What `gw fastcgi` and `gw scgi` share: where to listen (a socket file, host and port, or fd 0
// when a web server spawned gw), the app or folder to serve, the ready line and a graceful stop.
import type { Server } from "node:net";
import { UserError } from "../core/errors.ts";
import type { AnyApp } from "../core/types.ts";
import type { AppKind } from "../dev/load.ts";
import type { ListenTarget } from "../server/listen.ts";
import type { Io } from "./io.ts";
import { folderApp, serveWorkers, untilStopped, type FolderOptions, type WorkerOptions } from "./serve.ts";
import { accessLineDecorator, colorsFor } from "./style.ts";

/** The protocol a front speaks. */
export type FrontProtocol = "FastCGI" | "SCGI";

/** What `gw fastcgi` or `gw scgi` was asked to do. */
export interface FrontOptions {
  /** path[:export] of the user's module; undefined serves `folder`. */
  app: string | undefined;
  /** How the module's export is taken (--gw, --fetch, --node). @default "auto" */
  kind?: AppKind;
  socket: string | undefined;
  socketMode: number | undefined;
  host: string | undefined;
  port: number | undefined;
  /** The port when neither --socket nor --port is given and fd 0 is no listening socket. */
  defaultPort: number;
  isQuiet: boolean;
  /** --reload: serve APP through the dev server's reloader. */
  shouldReload?: boolean;
  folder: FolderOptions | undefined;
  /** SCGI's --script-name. */
  scriptName?: string;
  /** Serve APP from worker processes under a supervisor (--workers). */
  workers?: WorkerOptions | undefined;
}

/**
 * Where to listen: a socket file excludes --host and --port; neither means fd 0 if `fdListens`
 * says it is a listening socket, else the default port.
 */
async function targetFor(options: FrontOptions, fdListens: () => Promise<boolean>): Promise<ListenTarget> {
  if (options.socket !== undefined) {
    if (options.host !== undefined || options.port !== undefined) throw new UserError("listen on either --socket or --host/--port, not both");
    return { socket: options.socket, mode: options.socketMode };
  }
  if (options.socketMode !== undefined) throw new UserError("--socket-mode needs --socket");
  // FastCGI §2.2: a web server that spawns the application passes the listening socket as fd 0.
  if (options.host === undefined && options.port === undefined && (await fdListens())) return { fd: 0 };
  return { host: options.host ?? "127.0.0.1", port: options.port ?? options.defaultPort };
}

/** Binds where targetFor says; an inherited fd 0 is bound while it is probed. */
async function listenerFor(options: FrontOptions): Promise<{ listener: Server; target: ListenTarget }> {
  const { bindListener, inheritedListener } = await import("../server/listen.ts");
  let inherited: Server | undefined;
  const target = await targetFor(options, async () => (inherited = await inheritedListener(0)) !== undefined);
  return { listener: inherited ?? (await bindListener(target)), target };
}

/**
 * Serves APP from `--workers` processes: the supervisor clears a stale socket file, then its
 * workers listen (through node:cluster, or each on fd 0) and run the protocol's front.
 */
async function serveFrontWorkers(protocol: FrontProtocol, app: string, options: FrontOptions, workers: WorkerOptions, io: Io): Promise<number> {
  const { clearStaleSocket, describeTarget, isListeningFd } = await import("../server/listen.ts");
  const listen = await targetFor(options, () => isListeningFd(0));
  if ("socket" in listen) await clearStaleSocket(listen.socket);
  const setup = { front: protocol.toLowerCase(), listen, app, kind: options.kind, isQuiet: options.isQuiet, scriptName: options.scriptName };
  return serveWorkers(setup, (port) => `Serving ${protocol} on ${describeTarget(listen, port)} ...`, workers, io);
}

/** Starts the protocol's server for `app` on `listener`, logging as `gw serve` does. */
async function startServer(protocol: FrontProtocol, listener: Server, app: AnyApp, options: FrontOptions, io: Io): Promise<{ shutdown(): Promise<void> }> {
  const serverOptions = { log: options.isQuiet ? null : io.stderr, decorateLog: accessLineDecorator(colorsFor(io)), errors: io.stderr };
  return protocol === "FastCGI"
    ? (await import("../server/fastcgi.ts")).serveFastCgi(listener, app, serverOptions)
    : (await import("../server/scgi.ts")).serveScgi(listener, app, { ...serverOptions, scriptName: options.scriptName });
}

/**
 * Serves APP through the dev server's reloader: the main thread owns the socket and the web
 * server's connections, the app runs in a worker thread swapped on each change.
 */
async function serveFrontReloading(protocol: FrontProtocol, app: string, options: FrontOptions, io: Io): Promise<number> {
  const [{ startReloader }, { describeListener }] = await Promise.all([import("../dev/reloader.ts"), import("../server/listen.ts")]);
  const reloader = await startReloader({
    app,
    kind: options.kind,
    host: "",
    port: 0,
    cwd: io.cwd,
    watch: [],
    shouldValidate: true,
    log: options.isQuiet ? null : io.stderr,
    stdout: io.stdout,
    stderr: io.stderr,
    style: colorsFor(io),
    bind: async (front) => {
      const { listener, target } = await listenerFor(options);
      const server = await startServer(protocol, listener, front, options, io);
      const where = describeListener(listener, target);
      const closed = new Promise<void>((resolve) => listener.once("close", () => resolve()));
      return { readyLine: `Serving ${protocol} on ${where} ...`, where, closed, shutdown: () => server.shutdown() };
    },
  });
  return untilStopped(io, () => reloader.close(), reloader.server.closed, () => {});
}

/** Serves until SIGINT or SIGTERM; resolves to the exit code. */
export async function serveFront(protocol: FrontProtocol, options: FrontOptions, io: Io): Promise<number> {
  if (options.workers !== undefined) {
    if (options.app === undefined) throw new UserError("--workers serves an APP; give the module to serve");
    return serveFrontWorkers(protocol, options.app, options, options.workers, io);
  }
  if (options.shouldReload === true && options.app !== undefined) return serveFrontReloading(protocol, options.app, options, io);
  let app: AnyApp;
  // CGI scripts run in process groups of their own, which a forced exit would leave behind.
  let killAll = (): void => {};
  if (options.folder !== undefined) {
    const folder = await folderApp(options.folder, io);
    app = folder.app;
    killAll = folder.killAll;
  } else {
    app = (await (await import("../dev/load.ts")).loadApp(options.app!, io.cwd, options.kind)).app;
  }
  const { listener, target } = await listenerFor(options);
  const server = await startServer(protocol, listener, app, options, io);
  const { describeListener } = await import("../server/listen.ts");
  io.stdout.write(`Serving ${protocol} on ${describeListener(listener, target)} ...\n`);
  const closed = new Promise<void>((resolve) => listener.once("close", () => resolve()));
  return untilStopped(io, () => server.shutdown().then(killAll), closed, killAll);
}
