// `gw serve APP` and `gw demo`: load the app (or hand it to the reloader), bind, print the ready
// line, serve until SIGINT or SIGTERM, then finish in-flight requests and exit 0.
import pc from "picocolors";
import type { Io } from "./io.ts";

/** What `gw serve` and `gw demo` were asked to do. */
export interface ServeOptions {
  /** path[:export] of the user's module; undefined serves the demo app. */
  app: string | undefined;
  host: string;
  port: number;
  isQuiet: boolean;
  shouldReload: boolean;
  watch: string[];
  shouldValidate: boolean;
}

/** Serves until a signal; resolves to the exit code. */
export async function serve(options: ServeOptions, io: Io): Promise<number> {
  let close: () => Promise<void>;
  let closed: Promise<void>;
  if (options.shouldReload && options.app !== undefined) {
    const { startReloader } = await import("../reloader.ts");
    const reloader = await startReloader({
      app: options.app,
      host: options.host,
      port: options.port,
      cwd: io.cwd,
      watch: options.watch,
      shouldValidate: options.shouldValidate,
      log: options.isQuiet ? null : io.stderr,
      stdout: io.stdout,
      stderr: io.stderr,
      style: pc,
    });
    close = () => reloader.close();
    closed = reloader.server.serveForever();
  } else {
    const [{ makeServer }, app] = await Promise.all([
      import("../server.ts"),
      options.app === undefined
        ? import("../demo.ts").then((demo) => demo.demoApp)
        : import("../load.ts").then((load) => load.loadApp(options.app!, io.cwd)).then((loaded) => loaded.app),
    ]);
    const server = await makeServer(options.host, options.port, app, { log: options.isQuiet ? null : io.stderr, errors: io.stderr });
    io.stdout.write(server.readyLine + "\n");
    close = () => server.shutdown();
    closed = server.serveForever();
  }
  let signals = 0;
  const stop = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      io.stderr.write(pc.dim(`gw: ${signal}, finishing in-flight requests (again to force)\n`));
      void close();
    } else {
      process.exit(1);
    }
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    await closed;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  return 0;
}
