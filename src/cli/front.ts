// What `gw fastcgi` and `gw scgi` share: where to listen (a socket file, host and port, or fd 0
// when a web server spawned gw), the app or folder to serve, the ready line and a graceful stop.
import type { Server } from "node:net";
import { UserError } from "../core/errors.ts";
import type { AnyApp, App } from "../core/types.ts";
import type { ListenTarget } from "../server/listen.ts";
import type { Io } from "./io.ts";
import { folderApp, type FolderOptions } from "./serve.ts";
import { accessLineDecorator, colorsFor } from "./style.ts";

/** The protocol a front speaks. */
export type FrontProtocol = "FastCGI" | "SCGI";

/** What `gw fastcgi` or `gw scgi` was asked to do. */
export interface FrontOptions {
  /** path[:export] of the user's module; undefined serves `folder`. */
  app: string | undefined;
  socket: string | undefined;
  socketMode: number | undefined;
  host: string | undefined;
  port: number | undefined;
  /** The port when neither --socket nor --port is given and fd 0 is no listening socket. */
  defaultPort: number;
  isQuiet: boolean;
  folder: FolderOptions | undefined;
  /** SCGI's --script-name. */
  scriptName?: string;
}

/** Listening on a socket file excludes --host and --port; neither means fd 0 if it listens, else the default port. */
async function listenerFor(options: FrontOptions): Promise<{ listener: Server; target: ListenTarget }> {
  const { bindListener, inheritedListener } = await import("../server/listen.ts");
  if (options.socket !== undefined) {
    if (options.host !== undefined || options.port !== undefined) throw new UserError("listen on either --socket or --host/--port, not both");
    const target = { socket: options.socket, mode: options.socketMode };
    return { listener: await bindListener(target), target };
  }
  if (options.socketMode !== undefined) throw new UserError("--socket-mode needs --socket");
  if (options.host === undefined && options.port === undefined) {
    // FastCGI §2.2: a web server that spawns the application passes the listening socket as fd 0.
    const inherited = await inheritedListener(0);
    if (inherited !== undefined) return { listener: inherited, target: { fd: 0 } };
  }
  const target = { host: options.host ?? "127.0.0.1", port: options.port ?? options.defaultPort };
  return { listener: await bindListener(target), target };
}

/** Serves until SIGINT or SIGTERM; resolves to the exit code. */
export async function serveFront(protocol: FrontProtocol, options: FrontOptions, io: Io): Promise<number> {
  const pc = colorsFor(io);
  let app: AnyApp;
  // CGI scripts run in process groups of their own, which a forced exit would leave behind.
  let killAll = (): void => {};
  if (options.folder !== undefined) {
    const folder = await folderApp(options.folder, io);
    app = folder.app;
    killAll = folder.killAll;
  } else {
    app = (await (await import("../dev/load.ts")).loadApp(options.app!, io.cwd)).app;
  }
  const { listener, target } = await listenerFor(options);
  const serverOptions = { log: options.isQuiet ? null : io.stderr, decorateLog: accessLineDecorator(pc), errors: io.stderr };
  const server = protocol === "FastCGI"
    ? (await import("../server/fastcgi.ts")).serveFastCgi(listener, app, serverOptions)
    : (await import("../server/scgi.ts")).serveScgi(listener, app, { ...serverOptions, scriptName: options.scriptName });
  const { describeListener } = await import("../server/listen.ts");
  io.stdout.write(`Serving ${protocol} on ${describeListener(listener, target)} ...\n`);
  const closed = new Promise<void>((resolve) => listener.once("close", () => resolve()));
  let signals = 0;
  let stopped: Promise<void> | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      io.stderr.write(pc.dim(`gw: ${signal}, finishing in-flight requests (again to force)`) + "\n");
      stopped = server.shutdown().then(killAll);
    } else {
      killAll();
      process.exit(1);
    }
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    await closed;
    await stopped;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  return 0;
}
