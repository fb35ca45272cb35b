// The dev server's worker thread: waits booted (gw and the TypeScript hooks loaded) until the
// reloader asks it to import the user's app, then serves the requests the main thread forwards.
import { fileURLToPath } from "node:url";
import { MessageChannel, parentPort, type MessagePort } from "node:worker_threads";
import { PortHandler, portInput, type FromWorker, type ToWorker } from "./worker-bridge.ts";
import { UserError, ValidationError } from "../core/errors.ts";
import { GW_VERSION } from "../core/version.ts";
import { ErrorOutput } from "../core/input.ts";
import { captureListens, hasLoadedTypeScript, importedPackages, installLoaderHooks, loadApp, loadedUserFiles, type AppKind } from "./load.ts";
import { runtimeErrorPage } from "./error-page.ts";
import type { FailureResponse } from "../gateway/base-handler.ts";
import { fileWrapper } from "../core/util.ts";
import { validator } from "../core/validate.ts";
import type { AnyApp, Environ } from "../core/types.ts";

/** What the reloader sends a worker besides requests. */
export type Command =
  | { type: "load"; spec: string; cwd: string; shouldValidate: boolean; kind: AppKind }
  | { type: "preload"; urls: string[] }
  | { type: "exit" };

/** What a worker reports besides responses: a load's outcome, or that it has imported what it was told to preload. */
export type Report = LoadReport | { type: "preloaded" };

/** What a worker reports about loading the app. */
export type LoadReport =
  /** `packages`: what the next standby worker imports ahead (the app's packages, and gw's own modules the app needed). */
  | { type: "loaded"; files: string[]; packages: string[]; hasCapturedListen: boolean }
  | { type: "failed"; message: string; stack: string; files: string[]; isUserError: boolean };

const GW_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The first stack frame in the user's code, not gw's or Node's. */
function userFrame(stack: string): string | undefined {
  for (const line of stack.split("\n").slice(1)) {
    const text = line.trim();
    if (!text.startsWith("at ") || text.includes("node:") || text.includes(GW_ROOT) || text.includes("/node_modules/")) continue;
    return text;
  }
  return undefined;
}

/**
 * The handler in dev: a validator complaint is one warning line plus the app's own frame, and
 * an error before the headers gets the dev error page instead of the plain 500.
 */
class DevHandler extends PortHandler {
  protected override errorResponse(error: unknown): FailureResponse {
    return runtimeErrorPage(error, this.environ);
  }

  protected override logException(error: unknown): void {
    if (error instanceof ValidationError) {
      const frame = error.stack === undefined ? undefined : userFrame(error.stack);
      this.errors.write(`gw: warning: ${error.message}${frame === undefined ? "" : `\n    ${frame}`}\n`);
      return;
    }
    super.logException(error);
  }
}

const port = parentPort;
if (port === null) throw new Error("reload-worker.ts runs only as a worker thread");
installLoaderHooks();
// The module's own app.listen(3000) must not bind: gw serves that server on its socket.
let hasCapturedListen = false;
captureListens(() => (hasCapturedListen = true));

// What a standby worker imports ahead of the reload that will need it, besides the app's packages.
// The first TypeScript transform compiles Node's wasm stripper (40 to 100 ms of CPU): a TypeScript
// app's next worker pays that while standing by, by importing this module; a JavaScript app's
// worker never pays it (on a busy machine it delayed an Express app's reload by as much).
const WARM_TYPESCRIPT = `data:text/javascript,${encodeURIComponent('import { stripTypeScriptTypes } from "node:module"; stripTypeScriptTypes?.("enum E { A } const x: number = E.A;", { mode: "transform" });')}`;
// A Node listener app's next worker loads the adapter while standing by, not during the reload.
const NODE_ADAPTER = new URL(import.meta.url.endsWith(".ts") ? "../adapters/from-node.ts" : "../adapters/from-node.js", import.meta.url).href;

const WARM_ENVIRON = { REQUEST_METHOD: "GET", SCRIPT_NAME: "", PATH_INFO: "/", QUERY_STRING: "", SERVER_NAME: "localhost", SERVER_PORT: "80", SERVER_PROTOCOL: "HTTP/1.1", HTTP_HOST: "localhost", "gw.url_scheme": "http", "gw.multithread": true, "gw.multiprocess": false, "gw.run_once": false };

/**
 * One made-up request, no user code, through the path a real one takes (the handler, the
 * validator, a private message port, and the Node adapter for a listener app): gw's and Node's
 * code is compiled before the new worker's first real request. In an Express app that request
 * took 5 to 8 ms cold, and the validator alone 1.5 to 2.5 ms of it.
 */
let warmUps = 0;
function warmUp(app: AnyApp): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  // Negative ids: never a real request's, nor another warm-up's running at the same time.
  const id = -++warmUps;
  return new Promise((resolve) => {
    port2.on("message", (message: FromWorker) => {
      if (message.type !== "end" && message.type !== "abort") return;
      port1.close();
      resolve();
    });
    serve(port1, id, WARM_ENVIRON, validator(app));
  });
}

function warmNodeAdapter(module: unknown): Promise<void> {
  const { fromNodeListener } = module as typeof import("../adapters/from-node.ts");
  return warmUp(fromNodeListener((_req, res) => {
    res.setHeader("Content-Type", "text/plain");
    res.end("warm");
  }));
}

/** The modules the next standby worker should import before it is needed: see `preload`. */
function preloads(isNodeListener: boolean): string[] {
  const urls = importedPackages();
  if (hasLoadedTypeScript()) urls.push(WARM_TYPESCRIPT);
  if (isNodeListener) urls.push(NODE_ADAPTER);
  return urls;
}

let app: AnyApp | undefined;
const preloaded = new Set<string>();
const errors = new ErrorOutput(process.stderr);
const handlers = new Map<number, DevHandler>();
const bodyWaiters = new Map<number, (chunk: Uint8Array | null) => void>();

async function load(command: Extract<Command, { type: "load" }>): Promise<LoadReport> {
  try {
    const loaded = await loadApp(command.spec, command.cwd, command.kind);
    app = command.shouldValidate ? validator(loaded.app) : loaded.app;
    return { type: "loaded", files: loadedUserFiles(), packages: preloads(loaded.isNodeListener), hasCapturedListen };
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const failure = error instanceof Error ? error : new Error(String(error));
    return {
      type: "failed",
      message: failure.message,
      stack: cause instanceof Error ? (cause.stack ?? cause.message) : String(cause),
      files: loadedUserFiles(),
      isUserError: failure instanceof UserError,
    };
  }
}

function serve(to: MessagePort, id: number, portable: Record<string, string | boolean | number>, served: AnyApp): void {
  const environ = {
    ...portable,
    "gw.version": GW_VERSION,
    "gw.input": portInput(to, id, bodyWaiters),
    "gw.errors": errors,
    "gw.file_wrapper": fileWrapper,
  } as unknown as Environ;
  const handler = new DevHandler(to, id, environ, errors, () => handlers.delete(id));
  handlers.set(id, handler);
  const running = handler.run(served);
  if (running !== undefined) running.catch((error: unknown) => handler.environ["gw.errors"].write(`gw: internal error: ${String(error)}\n`));
}

// Every worker warms gw's request path while it stands by.
let preloading: Promise<void> = warmUp((_environ, start) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return ["warm"];
});

port.on("message", (message: ToWorker | Command) => {
  switch (message.type) {
    case "load":
      void preloading.then(() => load(message)).then((report) => port.postMessage(report));
      break;
    case "preload":
      // While standing by: the app's packages (Express, say) are imported before the reload needs them.
      // A standby told again after the reload that made it (with that load's list) imports only what is new.
      preloading = Promise.all([preloading, ...message.urls.filter((url) => !preloaded.has(url)).map((url) => {
        preloaded.add(url);
        return import(url).then((module: unknown) => (url === NODE_ADAPTER ? warmNodeAdapter(module) : undefined)).catch(() => undefined);
      })]).then(() => port.postMessage({ type: "preloaded" } satisfies Report));
      break;
    case "request":
      serve(port, message.id, message.environ, app!);
      break;
    case "body": {
      const wake = bodyWaiters.get(message.id);
      bodyWaiters.delete(message.id);
      wake?.(message.chunk);
      break;
    }
    case "ack":
      handlers.get(message.id)?.acknowledge(message.bytes);
      break;
    case "abort":
      handlers.get(message.id)?.abort();
      bodyWaiters.get(message.id)?.(null);
      break;
    case "exit":
      // Ends this thread with what the app wrote to stdout and stderr delivered first (the
      // reloader's terminate() could drop the last of it).
      process.exit(0);
  }
});
