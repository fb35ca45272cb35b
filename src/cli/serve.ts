// `gw serve APP` and `gw demo`: load the app, bind, print the ready line, serve until a signal.
import pc from "picocolors";
import { demoApp } from "../demo.ts";
import { loadApp } from "../load.ts";
import { makeServer } from "../server.ts";
import type { App } from "../types.ts";
import type { Io } from "./io.ts";

/** What `gw serve` and `gw demo` were asked to do. */
export interface ServeOptions {
  /** path[:export] of the user's module; undefined serves the demo app. */
  app: string | undefined;
  host: string;
  port: number;
  isQuiet: boolean;
}

/** Serves until SIGINT or SIGTERM, then finishes in-flight requests and resolves to 0. */
export async function serve(options: ServeOptions, io: Io): Promise<number> {
  const app: App = options.app === undefined ? demoApp : (await loadApp(options.app, io.cwd)).app;
  const server = await makeServer(options.host, options.port, app, {
    log: options.isQuiet ? null : io.stderr,
    errors: io.stderr,
  });
  io.stdout.write(server.readyLine + "\n");
  let signals = 0;
  const stop = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      io.stderr.write(pc.dim(`\n${signal}: finishing in-flight requests (again to force)\n`));
      void server.shutdown();
    } else {
      server.httpServer.closeAllConnections();
    }
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    await server.serveForever();
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  return 0;
}
