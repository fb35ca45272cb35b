// `gw serve APP`, `gw serve --directory DIR [--cgi]` and `gw demo`: load the app (or hand it to the
// reloader, or build the file server), bind, print the ready line, serve until SIGINT or SIGTERM,
// then finish in-flight requests (and kill CGI scripts still running) and exit 0.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { UserError } from "../core/errors.ts";
import { appFunction } from "../core/util.ts";
import { fileURLToPath } from "node:url";
import type { App } from "../core/types.ts";
import type { WorkerSetup } from "../server/worker.ts";
import type { Io } from "./io.ts";
import { accessLineDecorator, colorsFor } from "./style.ts";

/** What `gw serve` and `gw demo` were asked to do. */
export interface ServeOptions {
  /** path[:export] of the user's module; undefined serves the demo app. */
  app: string | undefined;
  /** How the export is taken: by the loader's rules, or forced by --gw, --fetch or --node. */
  kind: "auto" | "gw" | "fetch" | "node";
  /** --https (a cached self-signed certificate), or --tls-cert and --tls-key. */
  tls: { isSelfSigned: boolean; certFile: string | undefined; keyFile: string | undefined };
  /** --inspect[=PORT]: the inspector's port (0 picks one); undefined for none. */
  inspectPort: number | undefined;
  /** --livereload: HTML pages reload after each good reload (reload mode only). */
  shouldLiveReload: boolean;
  host: string;
  port: number;
  isQuiet: boolean;
  shouldReload: boolean;
  watch: string[];
  shouldValidate: boolean;
  /** --env-file and --env-file-if-exists, in command-line order. */
  envFiles: { path: string; isOptional: boolean }[];
  /** Hosts the dev server answers besides local ones (--allowed-host); only with reload on. */
  allowedHosts?: string[];
  /** Serve a folder's files (and CGI scripts) instead of an app; set when there is no APP. */
  folder: FolderOptions | undefined;
  /** --auth USER:PASSWORD logins. */
  auth: string[];
  /** --htpasswd FILE. */
  htpasswd: string | undefined;
  /** --header-underscores keep. */
  keepUnderscoreHeaders: boolean;
  /** --static URL=DIR values, or false for --no-static. */
  static: string[] | false;
  /** Serve APP from worker processes under a supervisor (--workers). */
  workers?: WorkerOptions | undefined;
}

/** What `gw serve APP --workers N` was asked for. */
export interface WorkerOptions {
  count: number;
  timeout: number;
  gracefulTimeout: number;
  maxRequests: number;
  maxRequestsJitter: number;
}

/**
 * Runs an app in supervised worker processes until SIGTERM/SIGINT, each running the front
 * `setup` names (http, fastcgi, scgi); `readyLine` turns the bound port into the ready line of a
 * front whose workers do not report their own (the HTTP server does).
 * Resolves to the exit code.
 */
export async function serveWorkers(setup: Omit<WorkerSetup, "cwd" | "isMultiprocess" | "heartbeat" | "maxRequests">, readyLine: ((port: number) => string) | undefined, workers: WorkerOptions, io: Io): Promise<number> {
  const { superviseWorkers } = await import("../server/workers.ts");
  const entry = new URL(import.meta.url.endsWith(".ts") ? "../dev/worker-process.ts" : "../dev/worker-process.js", import.meta.url);
  return superviseWorkers({
    workerModule: fileURLToPath(entry),
    setup: { ...setup, cwd: io.cwd },
    ...workers,
    stdout: io.stdout,
    stderr: io.stderr,
    readyLine,
  });
}

/** What `gw serve --directory DIR [--cgi]` serves. */
export interface FolderOptions {
  directory: string;
  hasCgi: boolean;
  /** URL folders whose files are CGI scripts. */
  cgiDirectories: string[];
  /** Seconds before a CGI script is killed. */
  cgiTimeout: number;
  /** CGI scripts that may run at once. */
  cgiMax: number;
  /** The largest request body a script gets, in bytes. */
  cgiMaxBody: number;
  /** --cgi-env NAME=VALUE pairs. */
  cgiEnv: string[];
  /** --cgi-pass-env names. */
  cgiPassEnv: string[];
  /** --cgi-assign EXT=PROGRAM pairs. */
  cgiAssign: string[];
  /** --cgi-user USER. */
  cgiUser: string | undefined;
}

/** The variables every CGI script gets: the inherited ones, --cgi-pass-env, then --cgi-env. */
async function cgiEnvironment(folder: FolderOptions, io: Io): Promise<Record<string, string>> {
  const { inheritedEnv } = await import("../cgi/script.ts");
  const env = inheritedEnv();
  for (const name of folder.cgiPassEnv) {
    const value = io.env[name];
    if (value !== undefined) env[name] = value;
  }
  for (const pair of folder.cgiEnv) {
    const equals = pair.indexOf("=");
    env[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return env;
}

/** The uid and gid of --cgi-user, from `id`; a UserError for a user that does not exist. */
async function userIds(user: string): Promise<{ uid: number; gid: number }> {
  const { execFileSync } = await import("node:child_process");
  try {
    const id = (flag: string): number => Number(execFileSync("id", [flag, "--", user], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    return { uid: id("-u"), gid: id("-g") };
  } catch (error) {
    throw new UserError(`--cgi-user: no such user: ${user}`, { cause: error });
  }
}

/**
 * The app that serves a folder's files, and with `hasCgi` its CGI scripts (which kills every
 * script still running). `gw serve`, `gw fastcgi` and `gw scgi` without APP all serve this.
 */
export async function folderApp(folder: FolderOptions, io: Io): Promise<{ app: App; killAll: () => void }> {
  const root = resolve(io.cwd, folder.directory);
  if (!folder.hasCgi) return { app: (await import("../files/static.ts")).staticApp(root), killAll: () => {} };
  // Each CGI request forks this process, and a fork's cost grows with V8's malloc arenas and
  // heap mappings, which these flags keep small (docs/PERFORMANCE.md, "CGI and fork").
  io.relaunch?.(["--single-threaded", "--max-semi-space-size=1"]);
  const [{ cgiHttpApp }, { parseAssign }] = await Promise.all([import("../cgi/runner.ts"), import("../cgi/script.ts")]);
  let assign: Map<string, string>;
  try {
    assign = parseAssign(folder.cgiAssign);
  } catch (error) {
    throw new UserError(`--cgi-assign: ${(error as Error).message}`);
  }
  const user = folder.cgiUser === undefined ? undefined : await userIds(folder.cgiUser);
  if (user === undefined && process.getuid?.() === 0) {
    io.stderr.write(colorsFor(io).yellow("gw: CGI scripts run as root, as gw does; --cgi-user USER runs them as another user") + "\n");
  }
  const scripts = cgiHttpApp(root, {
    directories: folder.cgiDirectories,
    timeout: folder.cgiTimeout,
    maxRunning: folder.cgiMax,
    maxBody: folder.cgiMaxBody,
    env: await cgiEnvironment(folder, io),
    assign,
    user,
  });
  return { app: scripts, killAll: () => scripts.killAll() };
}

/**
 * Opens the inspector in this (the main) thread: the reload workers are worker threads, which a
 * client that enables the NodeWorker domain (Chrome DevTools, VS Code) sees and attaches to, one
 * new target per reload, all through this one port.
 */
async function openInspector(port: number, isReloading: boolean, io: Io, pc: { dim(text: string): string }): Promise<void> {
  const inspector = await import("node:inspector");
  try {
    inspector.open(port, "127.0.0.1", false);
  } catch (error) {
    throw new UserError(`cannot open the inspector on 127.0.0.1:${port}: ${(error as Error).message}; use --inspect=0 for a free port`, { cause: error });
  }
  // A port in use is not thrown: Node prints its own line and leaves the inspector closed.
  const url = inspector.url();
  if (url === undefined) throw new UserError(`cannot open the inspector on 127.0.0.1:${port}: the port is in use; use --inspect=0 for a free port`);
  const targets = isReloading ? "; each reload is a new worker target" : "";
  io.stderr.write(pc.dim(`gw: inspector on ${url} (chrome://inspect, or VS Code "attach" to 127.0.0.1:${new URL(url).port})${targets}`) + "\n");
}

/** The certificate and key to serve HTTPS with, and their files; undefined for HTTP. Mistakes are UserErrors. */
async function tlsFor(asked: ServeOptions["tls"], io: Io, pc: { dim(text: string): string }): Promise<TlsFiles | undefined> {
  if (asked.certFile !== undefined || asked.keyFile !== undefined) {
    if (asked.isSelfSigned) throw new UserError("use either --https or --tls-cert and --tls-key, not both");
    if (asked.certFile === undefined || asked.keyFile === undefined) throw new UserError("--tls-cert and --tls-key go together");
    const certFile = resolve(io.cwd, asked.certFile);
    const keyFile = resolve(io.cwd, asked.keyFile);
    const read = (flag: string, file: string): string => {
      try {
        return readFileSync(file, "utf8");
      } catch (error) {
        throw new UserError(`${flag} ${file}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message}`, { cause: error });
      }
    };
    const files = { cert: read("--tls-cert", certFile), key: read("--tls-key", keyFile), certFile, keyFile };
    try {
      // OpenSSL's own check of both files and of the pair, before any socket is bound.
      process.getBuiltinModule("node:tls").createSecureContext({ cert: files.cert, key: files.key });
    } catch (error) {
      throw new UserError(`--tls-cert ${asked.certFile} with --tls-key ${asked.keyFile}: ${(error as Error).message.replace(/^error:[0-9A-F]+:/, "")}`, { cause: error });
    }
    return files;
  }
  if (!asked.isSelfSigned) return undefined;
  const { cacheFolder, localCertificate } = await import("../dev/certificate.ts");
  const made = await localCertificate(cacheFolder(io.env));
  io.stderr.write(pc.dim(`gw: HTTPS with a self-signed certificate for localhost, 127.0.0.1 and ::1 ${made.isNew ? "made now in" : "from"} ${made.certFile}; trust it to silence browser warnings`) + "\n");
  return made;
}

/** A certificate and key in PEM, and the files they were read from. */
interface TlsFiles {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

/** Serves until a signal; resolves to the exit code. */
export async function serve(options: ServeOptions, io: Io): Promise<number> {
  const { buildLayers, decideLayers } = await import("../dev/layers.ts");
  const layers = decideLayers(options, io.cwd, (line) => io.stderr.write(line + "\n"));
  // Built now, before any socket is bound: a missing folder or htpasswd file is a one-line error.
  const withLayers = buildLayers(layers);
  const pc = colorsFor(io);
  const tls = await tlsFor(options.tls, io, pc);
  if (options.workers !== undefined && options.app !== undefined) {
    withLayers(() => []);
    if (options.envFiles.length > 0) {
      // Read here for the one-line error; each worker reads them again as it boots.
      const { readEnvFiles } = await import("../dev/env-files.ts");
      readEnvFiles(options.envFiles, io.cwd);
    }
    // Each worker process builds the same layers again from this setup, and reads the
    // certificate, key and env files as it boots: SIGHUP picks up new ones, as it does new code.
    const setup = {
      front: "http",
      listen: { host: options.host, port: options.port },
      app: options.app,
      kind: options.kind,
      isQuiet: options.isQuiet,
      layers,
      keepUnderscoreHeaders: options.keepUnderscoreHeaders,
      envFiles: options.envFiles,
      ...(tls === undefined ? {} : { tls: { certFile: tls.certFile, keyFile: tls.keyFile } }),
    };
    // The ready line is the first worker's HTTP server's own (HTTPS, both addresses of localhost).
    return serveWorkers(setup, undefined, options.workers, io);
  }
  if (options.inspectPort !== undefined) await openInspector(options.inspectPort, options.shouldReload && options.app !== undefined, io, pc);
  // The servers here get the PEM text only (https.createServer takes the object's fields as options).
  const pem = tls && { cert: tls.cert, key: tls.key };
  const logOptions = { log: options.isQuiet ? null : io.stderr, decorateLog: accessLineDecorator(pc), errors: io.stderr, keepUnderscoreHeaders: options.keepUnderscoreHeaders, tls: pem };
  let close: () => Promise<void>;
  let closed: Promise<void>;
  // CGI scripts run in process groups of their own, which a forced exit would leave behind.
  let killAll = (): void => {};
  if (options.folder !== undefined) {
    const { makeServer } = await import("../server/http.ts");
    const folder = await folderApp(options.folder, io);
    killAll = folder.killAll;
    const server = await makeServer(options.host, options.port, withLayers(folder.app), logOptions);
    io.stdout.write(server.readyLine + "\n");
    // Shutdown waits for in-flight requests; CGI scripts still running after that are killed.
    close = () => server.shutdown().then(killAll);
    closed = server.serveForever().then(killAll);
  } else if (options.shouldReload && options.app !== undefined) {
    const { startReloader } = await import("../dev/reloader.ts");
    const reloader = await startReloader({
      app: options.app,
      host: options.host,
      port: options.port,
      cwd: io.cwd,
      watch: options.watch,
      envFiles: options.envFiles,
      kind: options.kind,
      tls: pem,
      shouldLiveReload: options.shouldLiveReload,
      shouldValidate: options.shouldValidate,
      allowedHosts: options.allowedHosts,
      wrap: withLayers,
      keepUnderscoreHeaders: options.keepUnderscoreHeaders,
      log: logOptions.log,
      decorateLog: logOptions.decorateLog,
      stdout: io.stdout,
      stderr: io.stderr,
      style: pc,
    });
    close = () => reloader.close();
    closed = reloader.server.closed;
  } else {
    if (options.envFiles.length > 0) {
      // Without reload the app runs in this process: its variables go into this process.env.
      const { envWithFiles, readEnvFiles } = await import("../dev/env-files.ts");
      Object.assign(process.env, envWithFiles(process.env, readEnvFiles(options.envFiles, io.cwd)));
    }
    const [{ makeServer }, app] = await Promise.all([
      import("../server/http.ts"),
      options.app === undefined
        ? import("../app/demo.ts").then((demo) => demo.demoApp)
        : import("../dev/load.ts").then((load) => load.loadAppInProcess(options.app!, io.cwd, options.kind, (line) => io.stderr.write(pc.dim(line) + "\n"))).then((loaded) => appFunction(loaded.app)),
    ]);
    const server = await makeServer(options.host, options.port, withLayers(app), logOptions);
    io.stdout.write(server.readyLine + "\n");
    close = () => server.shutdown();
    closed = server.serveForever();
  }
  return untilStopped(io, close, closed, killAll);
}

/**
 * Waits until the server is closed; the first SIGINT or SIGTERM calls `close` (finish in-flight
 * requests), a second one kills what is left and exits 1. Resolves to the exit code, 0.
 */
export async function untilStopped(io: Io, close: () => Promise<void>, closed: Promise<void>, killAll: () => void): Promise<number> {
  let signals = 0;
  let stopping: Promise<void> | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      io.stderr.write(colorsFor(io).dim(`gw: ${signal}, finishing in-flight requests (again to force)`) + "\n");
      stopping = close();
    } else {
      killAll();
      process.exit(1);
    }
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    await closed;
    await stopping;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  return 0;
}
