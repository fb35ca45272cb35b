// The dev server's hot reload: the main thread owns the socket, every connection and the watcher;
// the app runs in a worker thread, swapped new-before-old on each change (werkzeug's reloader idea).
import type { FSWatcher } from "chokidar";
import { statSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { basename, dirname, isAbsolute, relative, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { WorkerBridge } from "./worker-bridge.ts";
import type { TextSink } from "../core/input.ts";
import { resolveAppSpec } from "./load.ts";
import { changedKeys, envWithFiles, readEnvFiles, type EnvFile } from "./env-files.ts";
import { LIVERELOAD_SCRIPT, loadFailurePage, STATE_PATH, type LoadFailure } from "./error-page.ts";
import { hostChecker, refuseHost } from "./allowed-hosts.ts";
import type { Command, LoadReport, Report } from "./reload-worker.ts";
import type { AppKind } from "./load.ts";
import { makeServer } from "../server/http.ts";
import type { App, Body, Chunk, HeaderPair, StartResponse } from "../core/types.ts";

/** What runWithReloader needs to know. */
export interface ReloaderOptions {
  /** The app as path[:export]. */
  app: string;
  host: string;
  port: number;
  cwd: string;
  /** Extra files or folders to watch. */
  watch: string[];
  /** Env files for the app's process.env, in order (later ones win); an edit reloads. @default [] */
  envFiles?: EnvFile[];
  /** Wrap the app in the validator and log violations as warnings. @default true */
  shouldValidate: boolean;
  /** How the export is taken (--gw, --fetch, --node). @default "auto" */
  kind?: AppKind;
  /** Wraps the front app in the main thread (authentication, static files), so the app's worker never sees what it answers. */
  wrap?: (app: App) => App;
  /** Keep request headers whose names hold "_" (see makeServer). @default false */
  keepUnderscoreHeaders?: boolean;
  /** Where access-log lines go; null for none. */
  log: TextSink | null;
  /** The ready line, then whatever the app itself prints to stdout. */
  stdout: TextSink;
  /** Reload notices, app errors and the worker's own output. */
  stderr: TextSink;
  /** Restyles each access-log line (colour by status on a terminal). */
  decorateLog?: (line: string, status: number | string) => string;
  /** Decorates notices (colour); identity by default. */
  style: { dim(text: string): string; red(text: string): string; green(text: string): string; yellow(text: string): string };
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** Add a script to text/html responses that reloads the page after each good reload. @default false */
  shouldLiveReload?: boolean;
  /** Milliseconds of quiet after a change before its load is swapped in (a branch switch is a burst of changes; webpack's aggregateTimeout is 20 too). @default 20 */
  debounce?: number;
  /** Milliseconds an old worker gets to finish its in-flight requests. @default 10000 */
  drainTimeout?: number;
  /** Hosts served besides localhost, loopback and the bound host (--allowed-host: "name", ".name" or "all"). @default [] */
  allowedHosts?: readonly string[];
  /**
   * Serves the front app with another server than gw's HTTP server (gw fastcgi|scgi --reload);
   * host, port, tls and the HTTP options are then unused, and every Host is answered (the web
   * server in front decides which names reach gw).
   */
  bind?: (app: App) => Promise<ReloaderServer>;
}

/** The server in front of the reloader's app. */
export interface ReloaderServer {
  /** Printed on stdout once bound. */
  readonly readyLine: string;
  /** Where the app is served (a URL, or "unix:/path"), for the log. */
  readonly where: string;
  /** Resolves once the server has shut down. */
  readonly closed: Promise<void>;
  /** Stops accepting and finishes in-flight requests. */
  shutdown(): Promise<void>;
}

/** A running dev server: its server plus a way to stop it all. */
export interface Reloader {
  server: ReloaderServer;
  /** Stops accepting, finishes in-flight requests, ends the workers and the watcher. */
  close(): Promise<void>;
}

interface Slot {
  worker: Worker;
  bridge: WorkerBridge;
  isDead: boolean;
  /** Resolves once the worker has booted and imported what it was first told to preload. */
  ready: Promise<void>;
}

const WORKER_URL = new URL(import.meta.url.endsWith(".ts") ? "./reload-worker.ts" : "./reload-worker.js", import.meta.url);
const GW_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The user's files named in a stack, with the first one's file:line. */
function stackFiles(stack: string, cwd: string): { files: string[]; location: string | undefined } {
  const files: string[] = [];
  let location: string | undefined;
  for (const match of stack.matchAll(/(?:file:\/\/)?(\/[^\s:()'"]+\.(?:[cm]?ts|[cm]?js)):(\d+)(?::(\d+))?/g)) {
    const path = match[1]!;
    if (path.startsWith(GW_ROOT) || path.includes(`${sep}node_modules${sep}`)) continue;
    if (!files.includes(path)) files.push(path);
    location ??= `${relative(cwd, path) || basename(path)}:${match[2]}${match[3] === undefined ? "" : `:${match[3]}`}`;
  }
  return { files, location };
}

/** What identifies a file's content cheaply: inode, size and mtime ("gone" once deleted). */
function statOf(path: string): string {
  try {
    const info = statSync(path);
    return `${info.ino}:${info.size}:${info.mtimeMs}`;
  } catch {
    return "gone";
  }
}

function isIgnored(path: string): boolean {
  const name = basename(path);
  return (name.startsWith(".") && name.length > 1) || path.includes(`${sep}node_modules${sep}`) || path.endsWith(`${sep}node_modules`) ||
    path.includes(`${sep}dist${sep}`);
}

/**
 * Runs `app` and, when its response is an uncompressed text/html page, ends the body with the
 * live-reload script; the page grew, so the app's Content-Length is dropped.
 */
function withLiveReload(app: App, environ: Parameters<App>[0], start: StartResponse): Body {
  let isHtml = false;
  const watchStart: StartResponse = (status, headers, excInfo) => {
    const type = headers.find(([name]) => name.toLowerCase() === "content-type")?.[1] ?? "";
    const isEncoded = headers.some(([name]) => name.toLowerCase() === "content-encoding");
    const code = Number(status.slice(0, 3));
    isHtml = /^text\/html\b/i.test(type) && !isEncoded && code !== 204 && code !== 304;
    const sent: HeaderPair[] = isHtml ? headers.filter(([name]) => name.toLowerCase() !== "content-length") : headers;
    return start(status, sent, excInfo);
  };
  const body = app(environ, watchStart) as Body;
  return {
    async *[Symbol.asyncIterator](): AsyncGenerator<Chunk> {
      for await (const chunk of body as AsyncIterable<Chunk>) yield chunk;
      if (isHtml) yield LIVERELOAD_SCRIPT;
    },
    close: () => body.close?.(),
  };
}

/** gw's HTTP server for the front app, serving once bound. */
async function httpServer(app: App, options: ReloaderOptions): Promise<ReloaderServer> {
  const server = await makeServer(options.host, options.port, app, {
    log: options.log,
    errors: options.stderr,
    decorateLog: options.decorateLog,
    keepUnderscoreHeaders: options.keepUnderscoreHeaders,
    tls: options.tls,
  });
  return { readyLine: server.readyLine, where: server.url, closed: server.serveForever(), shutdown: () => server.shutdown() };
}

/**
 * Booted workers kept waiting. A worker takes 150 to 300 ms here to boot and import an Express
 * app's packages, longer than some gaps between two saves (a save, then a formatter's or a code
 * generator's write): with two waiting, the second reload still finds one ready. The second
 * costs memory (an Express app's dev server: 122 MiB RSS with one, 148 with two); the first
 * load's worker boots alone, and the others only after it has landed, to keep the cold start.
 */
const STANDBYS = 2;

/**
 * Milliseconds from a watch event to the load it starts. A save truncates the file, then writes
 * it: the event can come between the two, and a load whose files then change is thrown away.
 * Started at once, 10 of 60 saves (writeFileSync) here were loaded twice; 1 ms later, 3; 3 ms, none.
 */
const START_DELAY = 5;

/**
 * Ends a worker that ran the app so that what the app wrote last still reaches the log: the worker
 * exits itself, and Node delivers a worker's stdout and stderr before its 'exit', where
 * terminate() may drop them. A worker whose loop is blocked is terminated after a second.
 */
function endWorker(worker: Worker): Promise<void> {
  return new Promise((resolve) => {
    // Not unref'd: the worker is, and a stop awaiting this would otherwise leave the loop empty.
    const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 1_000);
    worker.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    worker.postMessage({ type: "exit" } satisfies Command);
  });
}

/**
 * Serves the app with hot reload. A change loads the new code in a booted standby worker; once
 * it is ready, new requests go to it and the old worker finishes its in-flight ones, then ends.
 * Client connections belong to the main thread, so none is refused or reset by a reload.
 */
export async function startReloader(options: ReloaderOptions): Promise<Reloader> {
  const style = options.style;
  const stderr = options.stderr;
  const debounce = options.debounce ?? 20;
  let current: Slot | undefined;
  // Booted workers waiting for the next reloads, oldest first (see STANDBYS).
  const standbys: Slot[] = [];
  let failure: LoadFailure | undefined;
  let generation = 0;
  let isClosing = false;
  // The packages the app imported last time, for standby workers to import while they wait.
  let packages: string[] = [];
  const envFiles = options.envFiles ?? [];
  const envPaths = new Map(envFiles.map((file) => [resolve(options.cwd, file.path), file.path]));
  // Read before binding: a missing --env-file is a one-line error, not a served app without it.
  let envVars = readEnvFiles(envFiles, options.cwd);
  // The variables of the app serving now, for the reload line's list of changed names.
  let servedEnvVars = envVars;

  const spawnSlot = (): Slot => {
    const worker = new Worker(WORKER_URL, { stdout: true, stderr: true, env: envWithFiles(process.env, envVars) });
    const ready = new Promise<void>((resolve) => {
      const onMessage = (message: Report): void => {
        if (message.type !== "preloaded") return;
        worker.off("message", onMessage);
        resolve();
      };
      worker.on("message", onMessage);
      worker.once("exit", () => resolve());
    });
    const slot: Slot = { worker, bridge: new WorkerBridge(worker), isDead: false, ready };
    worker.postMessage({ type: "preload", urls: packages } satisfies Command);
    // The app's own console output goes where it would without reload: stdout and stderr.
    (worker.stdout as Readable).on("data", (data: Buffer) => options.stdout.write(data.toString()));
    (worker.stderr as Readable).on("data", (data: Buffer) => stderr.write(data.toString()));
    worker.on("error", (error: Error) => {
      // An uncaught error in the app's own async code ends its worker; say so and load afresh.
      if (!isClosing) stderr.write(`${style.red("gw: the app crashed:")} ${error.stack ?? error.message}\n`);
    });
    worker.on("exit", () => {
      slot.isDead = true;
      slot.bridge.fail("the app's worker ended");
      const waiting = standbys.indexOf(slot);
      if (waiting !== -1) standbys.splice(waiting, 1);
      if (slot === current && !isClosing) {
        current = undefined;
        schedule(["(the worker ended)"]);
      }
    });
    worker.unref();
    return slot;
  };

  // Fills the list up to STANDBYS after the first load (and after new env variables), one worker
  // booting at a time: two booting together each took twice as long on a 2-core machine.
  let isRefilling = false;
  const refill = (): void => {
    if (isRefilling || isClosing || standbys.length >= STANDBYS) return;
    const slot = spawnSlot();
    standbys.push(slot);
    isRefilling = true;
    void slot.ready.then(() => {
      isRefilling = false;
      refill();
    });
  };

  const retire = (slot: Slot | undefined): void => {
    if (slot === undefined || slot.isDead) return;
    const timer = setTimeout(() => void slot.worker.terminate(), options.drainTimeout ?? 10_000);
    void slot.bridge.idle().then(() => {
      clearTimeout(timer);
      if (!slot.isDead) void endWorker(slot.worker);
    });
  };

  const loadInto = (slot: Slot): Promise<LoadReport> =>
    new Promise((resolve) => {
      const onMessage = (message: LoadReport | { type: string }): void => {
        if (message.type !== "loaded" && message.type !== "failed") return;
        slot.worker.off("message", onMessage);
        slot.worker.off("exit", onExit);
        resolve(message as LoadReport);
      };
      const onExit = (): void => {
        slot.worker.off("message", onMessage);
        resolve({ type: "failed", message: "the app's worker ended while loading", stack: "", files: [], isUserError: false });
      };
      slot.worker.on("message", onMessage);
      slot.worker.on("exit", onExit);
      const command: Command = { type: "load", spec: options.app, cwd: options.cwd, shouldValidate: options.shouldValidate, kind: options.kind ?? "auto" };
      slot.worker.postMessage(command);
    });

  // ---- watching ----------------------------------------------------------------------------
  const appFile = resolveAppSpec(options.app, options.cwd).path;
  const watched = new Set<string>();
  // chokidar loads after the ready line: the watcher is not needed before the app is.
  let watcher: Promise<FSWatcher> | undefined;
  // chokidar misses changes made before its first scan is done, so "watching" waits for it.
  let watcherReady: Promise<void> = Promise.resolve();
  const watchFiles = (files: string[]): void => {
    const fresh = files.filter((file) => isAbsolute(file) && !watched.has(file) && (!isIgnored(file) || envPaths.has(file)));
    for (const file of fresh) watched.add(file);
    if (fresh.length === 0) return;
    if (watcher === undefined) {
      watcher = import("chokidar").then(({ watch }) => {
        // Env files are dotfiles, watched because they were named.
        const created = watch(fresh, { ignoreInitial: true, ignored: (path: string) => isIgnored(path) && !envPaths.has(path) });
        created.on("all", (_event, path) => schedule([path]));
        return created;
      });
      watcherReady = watcher.then((created) => new Promise((resolve) => created.once("ready", () => resolve())));
    } else {
      void watcher.then((created) => created.add(fresh));
    }
  };

  // ---- reloading ---------------------------------------------------------------------------
  let changed: string[] = [];
  let changedAt = 0;
  let lastChangeAt = -Infinity;
  let startTimer: NodeJS.Timeout | undefined;
  let isReloading = false;
  /** The worker loading the app now: a stop ends it too (a module that never finishes loading). */
  let loadingSlot: Slot | undefined;
  let isPending = false;

  // A change starts a load almost at once, and the load is kept only if no change follows it
  // within `debounce` ms: one save costs the longer of the two, not their sum, and a burst (a
  // branch switch) still gives one reload, with what is on disk after it settles.
  function schedule(paths: string[]): void {
    if (isClosing) return;
    lastChangeAt = performance.now();
    if (changed.length === 0) changedAt = lastChangeAt;
    for (const path of paths) if (!changed.includes(path)) changed.push(path);
    clearTimeout(startTimer);
    startTimer = setTimeout(() => void reload(), START_DELAY);
  }

  const settled = async (): Promise<void> => {
    for (let wait = lastChangeAt + debounce - performance.now(); wait > 0; wait = lastChangeAt + debounce - performance.now()) await sleep(wait);
  };

  const loadedStats = new Map<string, string>();
  let hasSaidListen = false;

  async function reload(): Promise<void> {
    if (isReloading) {
      isPending = true;
      return;
    }
    const paths = changed;
    changed = [];
    const loadedFiles = [...new Set([appFile, ...paths.filter((path) => isAbsolute(path))])];
    const seen = new Map(loadedFiles.map((path) => [path, statOf(path)]));
    // One save can deliver its last watch event after the load it caused has already read the
    // file; a file whose stat is the one the previous load saw needs no second reload.
    if (paths.length > 0 && paths.every((path) => isAbsolute(path) && loadedStats.get(path) === seen.get(path))) return;
    let names = paths.map((path) => (isAbsolute(path) ? relative(options.cwd, path) || path : path));
    if (paths.some((path) => envPaths.has(path))) {
      let fresh: Record<string, string>;
      try {
        fresh = readEnvFiles(envFiles, options.cwd);
      } catch (error) {
        stderr.write(`${style.red("gw:")} ${(error as Error).message}; the app keeps its variables\n`);
        return;
      }
      // Only the names that changed are logged: values are often secrets.
      const keys = changedKeys(servedEnvVars, fresh);
      names = names.map((name, index) => (envPaths.has(paths[index]!) ? `${name}: ${keys.length > 0 ? keys.join(", ") : "no variable changed"}` : name));
      if (changedKeys(envVars, fresh).length > 0) {
        envVars = fresh;
        // The standby workers were started with the old variables.
        for (const slot of standbys.splice(0)) void slot.worker.terminate();
      }
    }
    isReloading = true;
    // Every load that lands (well or not) counts a generation.
    const isFirst = generation === 0;
    const startedAt = changedAt;
    const loadStartedAt = performance.now();
    // A standby whose worker ended is gone already: its exit handler takes it off the list.
    const slot = standbys.shift() ?? spawnSlot();
    // Its replacement boots while this one loads, and has until the reload after next to be
    // ready: an edit that comes soon after still finds a booted worker.
    if (!isFirst && standbys.length < STANDBYS) standbys.push(spawnSlot());
    loadingSlot = slot;
    const loading = loadInto(slot).finally(() => (loadingSlot = undefined));
    // The files this load may have read while a save was still writing them (an editor's
    // truncate, then its write), seen by their stat, not only by watch events.
    const moved = (): string[] => loadedFiles.filter((path) => seen.get(path) !== statOf(path));
    await settled();
    // Until the changes settle the load is a guess: a change since it began may have come
    // before it read a file. Past that it is kept, as a load begun after the quiet would be,
    // and a change during the rest of it reloads again (edits that keep coming every few hundred
    // ms on a busy machine would otherwise throw every load away).
    const movedBeforeQuiet = moved();
    const isStale = lastChangeAt > loadStartedAt || movedBeforeQuiet.length > 0;
    const report = isStale ? undefined : await loading;
    const movedMeanwhile = report === undefined ? [] : moved();
    if (isClosing) {
      void slot.worker.terminate();
    } else if (report === undefined) {
      // Load again once the files have been quiet for `debounce` ms; the log line names every
      // change since the first.
      void slot.worker.terminate();
      changed = [...new Set([...paths, ...changed])];
      changedAt = startedAt;
      if (movedBeforeQuiet.length > 0) schedule(movedBeforeQuiet);
    } else if (report.type === "failed" && movedMeanwhile.length > 0) {
      // The failure may be a half-written save, whose last watch event may not even have
      // arrived. The old code keeps serving; load again.
      void slot.worker.terminate();
      schedule(movedMeanwhile);
    } else if (report.type === "loaded") {
      if (report.hasCapturedListen && !hasSaidListen) {
        hasSaidListen = true;
        stderr.write(style.dim(`gw: the app calls listen(); gw serves that server on ${server.where} instead`) + "\n");
      }
      for (const [path, stat] of seen) loadedStats.set(path, stat);
      // A file that changed while this load read it loads again.
      if (movedMeanwhile.length > 0) schedule(movedMeanwhile);
      servedEnvVars = envVars;
      packages = report.packages;
      // Standbys started before this load imported what the load before it did; told again,
      // a worker imports only the URLs it was not given before.
      for (const waiting of standbys) waiting.worker.postMessage({ type: "preload", urls: packages } satisfies Command);
      const old = current;
      current = slot;
      failure = undefined;
      generation++;
      retire(old);
      // Without Node's module hooks (before 22.15) the import graph is unknown: watch the app's folder.
      watchFiles([appFile, ...(report.files.length > 0 ? report.files : [dirname(appFile)])]);
      if (!isFirst) {
        const took = Math.round(performance.now() - startedAt);
        stderr.write(style.green(`gw: reloaded in ${took} ms`) + style.dim(` (${names.join(", ")})`) + "\n");
      }
    } else {
      for (const [path, stat] of seen) loadedStats.set(path, stat);
      const { files, location } = stackFiles(report.stack, options.cwd);
      failure = { message: report.message, stack: report.stack, location };
      generation++;
      retire(current);
      current = undefined;
      // What the app printed before it failed to load still reaches the log.
      void endWorker(slot.worker);
      watchFiles([appFile, ...report.files, ...files]);
      stderr.write(`${style.red("gw:")} ${report.message}\n${report.isUserError ? "" : style.dim(report.stack) + "\n"}`);
      stderr.write(style.yellow("gw: waiting for a change to reload") + "\n");
    }
    if (isFirst && generation > 0) {
      await watcherReady;
      stderr.write(style.dim(`gw: watching ${watched.size} file${watched.size === 1 ? "" : "s"} for changes`) + "\n");
    }
    refill();
    isReloading = false;
    waiters.splice(0).forEach((wake) => wake());
    if (isPending) {
      isPending = false;
      await reload();
    }
  }

  // ---- the front app -----------------------------------------------------------------------
  const waiters: (() => void)[] = [];

  const front: App = async (environ, start) => {
    if (environ.PATH_INFO === STATE_PATH) {
      start("200 OK", [["Content-Type", "application/json"], ["Cache-Control", "no-store"]]);
      return [JSON.stringify({ generation, ok: failure === undefined && current !== undefined })];
    }
    // Before the first load, or while a crashed worker is replaced, requests wait rather than fail.
    while ((current === undefined || current.isDead) && failure === undefined && !isClosing) {
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    if (failure !== undefined || current === undefined) return loadFailurePage(failure!, generation, environ, start);
    if (options.shouldLiveReload === true && environ.REQUEST_METHOD !== "HEAD") return withLiveReload(current.bridge.app, environ, start);
    return current.bridge.app(environ, start);
  };

  // Bind and say so first; the first worker boots right after, and requests that arrive
  // meanwhile wait for it (the front app holds them) rather than being refused.
  const layered = options.wrap?.(front) ?? front;
  // DNS rebinding: a page on another name must not read the app, its error page or the static
  // folders and logins in front of it (docs/SECURITY.md). Behind a web server (bind), that
  // server decides which names reach gw.
  const isAllowedHost = hostChecker(options.host, options.allowedHosts);
  const wrapped: App = options.bind !== undefined ? layered : (environ, start) => (isAllowedHost(environ.HTTP_HOST) ? layered(environ, start) : refuseHost(environ, start));
  const server = options.bind !== undefined ? await options.bind(wrapped) : await httpServer(wrapped, options);
  options.stdout.write(server.readyLine + "\n");
  // The first load's worker boots alone; the others wait until it has landed (the cold start).
  standbys.push(spawnSlot());
  watchFiles([...options.watch.map((path) => resolve(options.cwd, path)), ...envPaths.keys()]);
  void reload();

  return {
    server,
    async close(): Promise<void> {
      isClosing = true;
      clearTimeout(startTimer);
      waiters.splice(0).forEach((wake) => wake());
      await server.shutdown();
      await (await watcher)?.close();
      await Promise.all([
        current === undefined || current.isDead ? undefined : endWorker(current.worker),
        loadingSlot?.worker.terminate(),
        ...standbys.map((slot) => slot.worker.terminate()),
      ]);
    },
  };
}
