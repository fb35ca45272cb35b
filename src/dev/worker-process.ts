// The entry module of a `--workers` worker process: loads the user's app (here, because only
// dev/ may import user code) and runs it under the supervisor with the front it names.
import type { App } from "../core/types.ts";
import { appFunction } from "../core/util.ts";
import { makeServer } from "../server/http.ts";
import { failWorker, runWorker, workerSetup, type StartFront } from "../server/worker.ts";
import { installLoaderHooks, loadApp } from "./load.ts";

/** The fronts a worker can run, by the name the supervisor gives; FastCGI and SCGI join here. */
export const FRONTS: Record<string, StartFront> = {
  http: async (app, target, hooks) => {
    const host = "host" in target ? target.host : "";
    const port = "port" in target ? target.port : 0;
    const server = await makeServer(host, port, app, {
      log: hooks.log,
      errors: hooks.errors,
      onRequestDone: hooks.onRequestDone,
      ...("fd" in target ? { handle: { fd: target.fd } } : {}),
    });
    void server.serveForever();
    return { port: server.port, drain: (timeout) => server.drain(timeout) };
  },
};

const setup = workerSetup();
let app: App;
try {
  installLoaderHooks();
  app = appFunction((await loadApp(setup.app, setup.cwd)).app);
  await runWorker(setup, app, FRONTS);
} catch (error) {
  failWorker(error);
}
