// The entry module of a `--workers` worker process: loads the user's app (here, because only
// dev/ may import user code) and runs it under the supervisor with the front it names.
import { readFileSync } from "node:fs";
import type { App } from "../core/types.ts";
import { appFunction } from "../core/util.ts";
import { serveFastCgi } from "../server/fastcgi.ts";
import { makeServer } from "../server/http.ts";
import { bindListener, portOf } from "../server/listen.ts";
import { serveScgi } from "../server/scgi.ts";
import { failWorker, runWorker, workerSetup, type StartFront } from "../server/worker.ts";
import { envWithFiles, readEnvFiles } from "./env-files.ts";
import { buildLayers, type FrontLayers } from "./layers.ts";
import { installLoaderHooks, loadAppInProcess } from "./load.ts";

// Milliseconds a draining FastCGI or SCGI worker keeps idle connections open for requests on their way.
const IDLE_GRACE = 2_000;

/** The fronts a worker can run, by the name the supervisor gives. */
export const FRONTS: Record<string, StartFront> = {
  http: async (app, target, hooks, setup) => {
    if ("socket" in target) throw new Error("the HTTP front listens on a host and port");
    const host = "host" in target ? target.host : "";
    const port = "port" in target ? target.port : 0;
    const tls = setup.tls === undefined ? undefined : { cert: readFileSync(setup.tls.certFile), key: readFileSync(setup.tls.keyFile) };
    const server = await makeServer(host, port, app, {
      tls,
      keepUnderscoreHeaders: setup.keepUnderscoreHeaders === true,
      log: hooks.log,
      errors: hooks.errors,
      onRequestDone: hooks.onRequestDone,
      ...("fd" in target ? { handle: { fd: target.fd } } : {}),
    });
    void server.serveForever();
    return { port: server.port, readyLine: server.readyLine, drain: (timeout) => server.drain(timeout) };
  },
  // Behind a web server: shutdown() is the drain (keep-conn connections end after their last
  // request); connections still idle after 2 s are closed, as HttpServer.drain does.
  fastcgi: async (app, target, hooks) => {
    const listener = await bindListener(target, true);
    const server = serveFastCgi(listener, app, hooks);
    return { port: portOf(listener) ?? 0, drain: (timeout) => server.shutdown(timeout, IDLE_GRACE) };
  },
  scgi: async (app, target, hooks, setup) => {
    const listener = await bindListener(target, true);
    const server = serveScgi(listener, app, { ...hooks, scriptName: setup.scriptName });
    return { port: portOf(listener) ?? 0, drain: (timeout) => server.shutdown(timeout, IDLE_GRACE) };
  },
};

const setup = workerSetup();
let app: App;
try {
  installLoaderHooks();
  // Before the app's import, which may read them; a later SIGHUP's workers read the files afresh.
  if (setup.envFiles !== undefined && setup.envFiles.length > 0) Object.assign(process.env, envWithFiles(process.env, readEnvFiles(setup.envFiles, setup.cwd)));
  // A module that calls listen() at import is served on the supervisor's socket instead.
  const loaded = appFunction((await loadAppInProcess(setup.app, setup.cwd, setup.kind ?? "auto", (line) => process.stderr.write(`${line}\n`))).app);
  app = setup.layers === undefined ? loaded : buildLayers(setup.layers as FrontLayers)(loaded);
  await runWorker(setup, app, FRONTS);
} catch (error) {
  failWorker(error);
}
