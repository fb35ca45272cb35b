// The gw command line: builds the commander program and runs one command. main() returns the
// exit code; it never calls process.exit, so tests can run it in-process (with an Io of their
// own: the process's Io lets `serve --cgi` re-run the process with a Node flag).
import { availableParallelism } from "node:os";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { UserError } from "../core/errors.ts";
import { VERSION } from "../core/version.ts";
import { processIo, type Io } from "./io.ts";
import type { AppKind } from "../dev/load.ts";
import type { FolderOptions, WorkerOptions } from "./serve.ts";
import { report } from "./report.ts";

/** Parses a --port value: a whole number from 0 to 65535. */
export function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new InvalidArgumentError(`"${value}" is not a port (a whole number from 0 to 65535)`);
  }
  return Number(value);
}

/** Parses --inspect's optional port; a word that is not one was most likely meant as APP. */
function parseInspectPort(value: string): number {
  if (/^\d+$/.test(value)) return parsePort(value);
  throw new InvalidArgumentError(`"${value}" is not a port; put APP before --inspect, or write --inspect=PORT`);
}

/** The longest a Node timer waits (2³¹ − 1 ms): a longer one fires after 1 ms instead. */
const MAX_SECONDS = 2_147_483;

/** Parses --cgi-timeout and the workers' timeouts: a number of seconds above 0, at most MAX_SECONDS. */
export function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(seconds > 0)) throw new InvalidArgumentError(`"${value}" is not a number of seconds above 0`);
  if (seconds > MAX_SECONDS) throw new InvalidArgumentError(`${value} seconds is more than ${MAX_SECONDS} (about 24 days), the longest a timer can wait`);
  return seconds;
}

/** Parses --cgi-max: a whole number from 1. */
export function parseCount(value: string): number {
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`"${value}" is not a whole number from 1`);
  return Number(value);
}

/** Parses --cgi-max-body: a size in bytes with an optional k, M or G suffix. */
export function parseByteSize(value: string): number {
  const match = /^(\d+)([kKmMgG]?)$/.exec(value);
  if (match === null) throw new InvalidArgumentError(`"${value}" is not a size (like 1G, 512M, 64k or 1000)`);
  const unit = match[2]!.toLowerCase();
  return Number(match[1]) * (unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : 1);
}

/** Collects a repeatable NAME=VALUE option (--cgi-env, --cgi-assign). */
function collectPair(what: string): (value: string, previous: string[] | undefined) => string[] {
  return (value, previous) => {
    if (value.indexOf("=") <= 0) throw new InvalidArgumentError(`"${value}" is not ${what}`);
    return [...(previous ?? []), value];
  };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** --gw, --fetch and --node, which force how the module's export is taken (every command that loads APP). */
function addKindOptions(command: Command): Command {
  return command
    .option("--gw", "take the export as a gw app (environ, startResponse), whatever its shape")
    .option("--fetch", "take the export as a Fetch handler (Request) => Response")
    .option("--node", "take the export as a Node (req, res) listener (Express, Koa's callback(), a createServer handler)");
}

/** The kind --gw, --fetch or --node chose; "auto" for none; a UserError for more than one. */
function kindOf(options: { gw?: boolean; fetch?: boolean; node?: boolean }): AppKind {
  const kinds = (["gw", "fetch", "node"] as const).filter((kind) => options[kind] === true);
  if (kinds.length > 1) throw new UserError(`choose one of --gw, --fetch and --node, not ${kinds.map((kind) => `--${kind}`).join(" and ")}`);
  return kinds[0] ?? "auto";
}

/** Workers a CPU may have: well past what any app needs (each is a Node process of 60–90 MB). */
const WORKERS_PER_CPU = 32;

/**
 * Parses --workers: a whole number from 1 to 32 per CPU, or "auto" for one per CPU. The bound
 * keeps a typo (100000) from forking until the machine runs out of memory.
 */
export function parseWorkers(value: string): number {
  const cpus = availableParallelism();
  if (value === "auto") return cpus;
  const count = parseCount(value);
  const most = WORKERS_PER_CPU * cpus;
  if (count > most) throw new InvalidArgumentError(`${count} is more than ${most}, ${WORKERS_PER_CPU} for each of this machine's ${cpus} CPUs; each worker is a Node process of 60–90 MB`);
  return count;
}

/** Parses --max-requests-jitter: a whole number from 0. */
export function parseCountOrZero(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a whole number from 0`);
  return Number(value);
}

/** Parses --socket-mode: permission bits in octal, like chmod's (660, 0660). */
export function parseMode(value: string): number {
  if (!/^0?[0-7]{3}$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a file mode (three octal digits, like 660)`);
  return Number.parseInt(value, 8);
}

interface FrontCommandOptions {
  socket?: string;
  socketMode?: number;
  host?: string;
  port?: number;
  quiet?: boolean;
  reload?: boolean;
  directory?: string;
  cgi?: boolean;
  cgiDir?: string[];
  cgiTimeout: number;
  cgiMax?: number;
  cgiMaxBody: number;
  cgiEnv?: string[];
  cgiPassEnv?: string[];
  cgiAssign?: string[];
  cgiUser?: string;
  scriptName?: string;
  gw?: boolean;
  fetch?: boolean;
  node?: boolean;
  workers?: number;
  timeout: number;
  gracefulTimeout: number;
  maxRequests?: number;
  maxRequestsJitter: number;
}

interface ServeCommandOptions {
  workers?: number;
  timeout: number;
  gracefulTimeout: number;
  maxRequests?: number;
  maxRequestsJitter: number;
  host: string;
  port?: number;
  quiet?: boolean;
  reload: boolean;
  watch?: string[];
  validate: boolean;
  directory?: string;
  cgi?: boolean;
  cgiDir?: string[];
  cgiTimeout: number;
  cgiMax?: number;
  allowedHost?: string[];
  cgiMaxBody: number;
  cgiEnv?: string[];
  cgiPassEnv?: string[];
  cgiAssign?: string[];
  cgiUser?: string;
  auth?: string[];
  htpasswd?: string;
  headerUnderscores: string;
  static?: string[] | false;
  gw?: boolean;
  livereload?: boolean;
  inspect?: true | number;
  https?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  fetch?: boolean;
  node?: boolean;
}

/** The env files of one `gw serve` call, in command-line order across both flags. */
interface EnvFileList {
  path: string;
  isOptional: boolean;
}

/** Adds --workers and the options that tune them (gw serve, fastcgi, scgi). */
function addWorkerOptions(command: Command): Command {
  return command
    .option("-w, --workers <n>", "serve APP from N worker processes under a supervisor (\"auto\": one per CPU); no reload", parseWorkers)
    .option("--timeout <seconds>", "with --workers: replace a worker whose event loop stays blocked this long", parseSeconds, 30)
    .option("--graceful-timeout <seconds>", "with --workers: time a stopping worker has to finish its requests", parseSeconds, 30)
    .option("--max-requests <n>", "with --workers: replace a worker gracefully after about N requests", parseCount)
    .option("--max-requests-jitter <n>", "with --max-requests: add 0..N at random per worker, so they do not restart together", parseCountOrZero, 0);
}

/** The options that tune --workers, by the name commander gives their values. */
const WORKER_TUNING = [["timeout", "--timeout"], ["gracefulTimeout", "--graceful-timeout"], ["maxRequests", "--max-requests"], ["maxRequestsJitter", "--max-requests-jitter"]] as const;

/**
 * The WorkerOptions of a command's --workers and its tuning options; undefined without --workers.
 * A tuning option given without --workers, or a jitter without --max-requests, is a UserError:
 * it would do nothing.
 */
function workerOptions(options: { workers?: number; timeout: number; gracefulTimeout: number; maxRequests?: number; maxRequestsJitter: number }, command: Command): WorkerOptions | undefined {
  const given = WORKER_TUNING.filter(([key]) => command.getOptionValueSource(key) === "cli").map(([, flag]) => flag);
  if (options.workers === undefined && given.length > 0) throw new UserError(`${given[0]} tunes --workers, which is not given: add --workers N`);
  if (options.maxRequests === undefined && given.includes("--max-requests-jitter")) throw new UserError("--max-requests-jitter spreads --max-requests, which is not given");
  return options.workers === undefined ? undefined : {
    count: options.workers,
    timeout: options.timeout,
    gracefulTimeout: options.gracefulTimeout,
    maxRequests: options.maxRequests ?? 0,
    maxRequestsJitter: options.maxRequestsJitter,
  };
}

/** The folder and CGI flags `gw serve`, `gw fastcgi` and `gw scgi` share. */
function addFolderOptions(command: Command): Command {
  return command
    .option("-d, --directory <dir>", "serve this folder's files instead of an app (default: the current folder)")
    .option("--cgi", "also run scripts under /cgi-bin/ and /htbin/ as CGI/1.1 programs")
    .option("--cgi-dir <path...>", "more URL folders whose files are CGI scripts (implies --cgi)")
    .option("--cgi-timeout <seconds>", "kill a CGI script still running after this many seconds", parseSeconds, 30)
    .option("--cgi-max <n>", `CGI scripts that may run at once (default: 4 x CPU cores = ${4 * availableParallelism()})`, parseCount)
    .option("--cgi-max-body <size>", "largest request body a CGI script gets (k, M, G suffixes); larger is a 413", parseByteSize, 1024 ** 3)
    .option("--cgi-env <name=value>", "set a variable for every CGI script (repeatable)", collectPair("NAME=VALUE"))
    .option("--cgi-pass-env <name>", "pass one of gw's own environment variables to CGI scripts (repeatable)", collect)
    .option("--cgi-assign <ext=program>", "run CGI files with this extension through PROGRAM, like .py=python3 (repeatable)", collectPair("EXT=PROGRAM"))
    .option("--cgi-user <user>", "run CGI scripts as this user (gw must run as root)");
}

/** The folder and CGI options `gw serve`, `gw fastcgi` and `gw scgi` share, as `FolderOptions`. */
function folderOptionsOf(options: FolderCommandOptions): FolderOptions {
  return {
    directory: options.directory ?? ".",
    hasCgi: options.cgi === true || options.cgiDir !== undefined,
    cgiDirectories: ["/cgi-bin", "/htbin", ...(options.cgiDir ?? [])],
    cgiTimeout: options.cgiTimeout,
    cgiMax: options.cgiMax ?? 4 * availableParallelism(),
    cgiMaxBody: options.cgiMaxBody,
    cgiEnv: options.cgiEnv ?? [],
    cgiPassEnv: options.cgiPassEnv ?? [],
    cgiAssign: options.cgiAssign ?? [],
    cgiUser: options.cgiUser,
  };
}

/** The folder and CGI flags, as commander parses them. */
type FolderCommandOptions = Pick<FrontCommandOptions, "directory" | "cgi" | "cgiDir" | "cgiTimeout" | "cgiMax" | "cgiMaxBody" | "cgiEnv" | "cgiPassEnv" | "cgiAssign" | "cgiUser">;

function defaultPort(io: Io): number {
  const fromEnv = io.env.PORT;
  if (fromEnv === undefined || fromEnv === "") return 8000;
  try {
    return parsePort(fromEnv);
  } catch {
    // A $PORT that is not a port is said, not passed over: the server would answer elsewhere.
    throw new UserError(`$PORT is ${JSON.stringify(fromEnv)}, not a port (a whole number from 0 to 65535); fix it, unset it, or give --port`);
  }
}

/** Runs gw with `argv` (without node and the script) and resolves to the exit code. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let result: Promise<number> = Promise.resolve(0);
  // Both env-file flags fill one list, so "later files win" follows the command line's order.
  const envFiles: EnvFileList[] = [];
  const addEnvFile = (isOptional: boolean) => (path: string): EnvFileList[] => {
    envFiles.push({ path, isOptional });
    return envFiles;
  };
  const program = new Command("gw")
    .description("Python's WSGI model for TypeScript: serve a gw app, the demo, or run an app as a CGI script.")
    .version(VERSION, "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });

  const serveCommand = program
    .command("serve")
    .description("serve APP (path[:export]) over HTTP; without APP, serve a folder's files (and CGI scripts with --cgi)")
    .argument("[app]", "the module to serve, as path[:export]; default export, else the export named app")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("-p, --port <port>", "port to listen on; 0 picks a free one (default: $PORT, else 8000)", parsePort)
    .option("-q, --quiet", "no access log")
    .option("--no-reload", "do not restart on file changes")
    .option("--watch <path...>", "more files or folders to watch for changes")
    .option("--no-validate", "do not check the app against the spec while reloading")
    .option("--https", "serve HTTPS with a self-signed certificate for localhost (made once, kept in ~/.cache/gw)")
    .option("--tls-cert <file>", "serve HTTPS with this certificate (PEM); needs --tls-key")
    .option("--tls-key <file>", "the private key (PEM) for --tls-cert")
    .option("--inspect [port]", "open the inspector on 127.0.0.1:PORT (default 9229); each reloaded app appears as a worker target", parseInspectPort)
    .option("--livereload", "HTML pages reload in the browser after each good reload")
    .option("--env-file <file>", "load variables into the app's process.env (repeatable; later files win; an edit reloads)", addEnvFile(false))
    .option("--env-file-if-exists <file>", "the same, for a file that may be missing", addEnvFile(true))
    .option("--allowed-host <name>", "while reloading, also answer to this Host (repeatable; .name for subdomains, all for any)", collect)
    // Collected as given and checked where the logins are built: commander's own message for a
    // refused value would repeat it, and it may be a password.
    .option("--auth <user:password>", "require HTTP Basic authentication with this login (repeatable)", collect)
    .option("--htpasswd <file>", "require HTTP Basic authentication with the logins of an htpasswd file (bcrypt, SHA, apr1-MD5)")
    .option("--static <url=dir>", "serve DIR's files under URL in front of APP (repeatable; a static/ folder beside APP is served under /static/)", collectPair("URL=DIR"))
    .option("--no-static", "do not serve the static/ folder beside APP")
    .option("--header-underscores <mode>", "request headers with _ in their names: drop (the default) or keep", "drop");
  addWorkerOptions(addKindOptions(addFolderOptions(serveCommand)))
    .action((app: string | undefined, options: ServeCommandOptions, command: Command) => {
      const isFolder = app === undefined || options.directory !== undefined || options.cgi === true || options.cgiDir !== undefined;
      if (options.headerUnderscores !== "drop" && options.headerUnderscores !== "keep") {
        throw new UserError(`--header-underscores is drop or keep, not ${JSON.stringify(options.headerUnderscores)}`);
      }
      const cgiOnly = [["--cgi-env", options.cgiEnv], ["--cgi-pass-env", options.cgiPassEnv], ["--cgi-assign", options.cgiAssign], ["--cgi-user", options.cgiUser]] as const;
      const stray = cgiOnly.find(([, value]) => value !== undefined);
      if (stray !== undefined && options.cgi !== true && options.cgiDir === undefined) {
        throw new UserError(`${stray[0]} configures CGI scripts: add --cgi`);
      }
      if (isFolder && app !== undefined) {
        throw new UserError(`serve either APP or a folder (--directory, --cgi), not both; got ${app}`);
      }
      // Both take several values, so an APP after them becomes one of their values.
      const notUrlFolder = options.cgiDir?.find((path) => !path.startsWith("/"));
      if (notUrlFolder !== undefined) {
        throw new UserError(`--cgi-dir takes URL folders like /scripts, not ${JSON.stringify(notUrlFolder)}${app === undefined ? " (to serve an APP, put it before the options)" : ""}`);
      }
      const option = options.watch?.find((path) => path.startsWith("-"));
      if (option !== undefined) throw new UserError(`--watch takes paths, and ${JSON.stringify(option)} is an option: give --watch its paths`);
      if (options.watch !== undefined && (isFolder || !options.reload)) {
        throw new UserError(isFolder
          ? `--watch adds paths to an app's reload, and no APP was given${app === undefined ? ` (if it is among ${options.watch.join(" ")}, put it before --watch)` : ""}`
          : "--watch adds paths to the reload, and --no-reload turns reloading off");
      }
      const kind = kindOf(options);
      if (options.workers !== undefined && isFolder) throw new UserError("--workers serves an APP; give the module to serve");
      if (options.workers !== undefined && options.watch !== undefined) {
        throw new UserError("--workers does not reload; restart the workers with SIGHUP instead of --watch");
      }
      if (options.workers !== undefined && options.inspect !== undefined) {
        throw new UserError("--inspect debugs the dev server's app; --workers runs without it (debug with gw serve APP --inspect)");
      }
      if (options.livereload === true && (isFolder || !options.reload || options.workers !== undefined)) {
        throw new UserError(`--livereload refreshes pages after the app reloads, and ${isFolder ? "a folder is not an app" : options.workers !== undefined ? "--workers does not reload" : "--no-reload turns reloading off"}`);
      }
      result = import("./serve.ts").then((serve) =>
        serve.serve({
          app,
          kind,
          shouldLiveReload: options.livereload === true,
          inspectPort: options.inspect === undefined ? undefined : options.inspect === true ? 9229 : options.inspect,
          tls: { isSelfSigned: options.https === true, certFile: options.tlsCert, keyFile: options.tlsKey },
          host: options.host,
          port: options.port ?? defaultPort(io),
          isQuiet: options.quiet === true,
          shouldReload: options.reload && !isFolder && options.workers === undefined,
          workers: workerOptions(options, command),
          watch: options.watch ?? [],
          shouldValidate: options.validate,
          envFiles,
          allowedHosts: options.allowedHost ?? [],
          folder: isFolder ? folderOptionsOf(options) : undefined,
          auth: options.auth ?? [],
          htpasswd: options.htpasswd,
          keepUnderscoreHeaders: options.headerUnderscores === "keep",
          static: options.static === false ? false : options.static ?? [],
        }, io),
      );
    });

  program
    .command("demo")
    .description("serve the demo app: Hello world! and the environ")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("-p, --port <port>", "port to listen on; 0 picks a free one (default: $PORT, else 8000)", parsePort)
    .option("-q, --quiet", "no access log")
    .action((options: { host: string; port?: number; quiet?: boolean }) => {
      result = import("./serve.ts").then((serve) =>
        serve.serve({
          app: undefined,
          kind: "auto",
          shouldLiveReload: false,
          inspectPort: undefined,
          tls: { isSelfSigned: false, certFile: undefined, keyFile: undefined },
          host: options.host,
          port: options.port ?? defaultPort(io),
          isQuiet: options.quiet === true,
          shouldReload: false,
          watch: [],
          shouldValidate: false,
          envFiles: [],
          folder: undefined,
          auth: [],
          htpasswd: undefined,
          keepUnderscoreHeaders: false,
          static: false,
        }, io),
      );
    });

  const cgiCommand = program
    .command("cgi")
    .description("run APP once as a CGI program: environ from the environment, body from stdin, response on stdout")
    .argument("<app>", "the module to run, as path[:export]");
  addKindOptions(cgiCommand).action((app: string, options: { gw?: boolean; fetch?: boolean; node?: boolean }) => {
    const kind = kindOf(options);
    result = import("./cgi.ts").then((cgi) => cgi.runCgi(app, io, kind));
  });

  for (const [name, protocol, port] of [["fastcgi", "FastCGI", 9000], ["scgi", "SCGI", 4000]] as const) {
    const command = program
      .command(name)
      .description(`serve APP (path[:export]) as ${protocol === "FastCGI" ? "a FastCGI responder" : "an SCGI server"} behind a web server; without APP, serve a folder as gw serve does`)
      .argument("[app]", "the module to serve, as path[:export]; default export, else the export named app")
      .option("--socket <path>", "listen on this Unix socket (a stale one left by a dead gw is replaced)")
      .option("--socket-mode <mode>", "permissions of the --socket file, in octal (e.g. 660)", parseMode)
      .option("--host <host>", "address to listen on (default: 127.0.0.1)")
      .option("-p, --port <port>", `port to listen on (default: ${port}; with neither --socket nor --port, fd 0 when it is a listening socket)`, parsePort)
      .option("-q, --quiet", "no access log")
      .option("--reload", "reload APP when its files change, as gw serve does (off by default: a production front)");
    addFolderOptions(command);
    if (protocol === "SCGI") command.option("--script-name <prefix>", "SCRIPT_NAME for every request; PATH_INFO is REQUEST_URI's path after it");
    addKindOptions(command);
    addWorkerOptions(command);
    command.action((app: string | undefined, options: FrontCommandOptions, self: Command) => {
      const kind = kindOf(options);
      const isFolder = app === undefined || options.directory !== undefined || options.cgi === true || options.cgiDir !== undefined;
      if (isFolder && app !== undefined) throw new UserError(`serve either APP or a folder (--directory, --cgi), not both; got ${app}`);
      if (options.workers !== undefined && isFolder) throw new UserError("--workers serves an APP; give the module to serve");
      if (options.reload === true && isFolder) throw new UserError("--reload reloads an APP; a folder's files and scripts are read afresh on every request");
      if (options.reload === true && options.workers !== undefined) throw new UserError("--workers does not reload; restart the workers with SIGHUP instead of --reload");
      let scriptName = options.scriptName;
      if (scriptName !== undefined) {
        // PEP 3333: SCRIPT_NAME is '' or starts with "/" and never ends with one.
        scriptName = scriptName.replace(/\/+$/, "");
        if (scriptName !== "" && !scriptName.startsWith("/")) throw new UserError(`--script-name must start with "/" (got ${options.scriptName})`);
      }
      result = import("./front.ts").then((front) =>
        front.serveFront(protocol, {
          app: isFolder ? undefined : app,
          kind,
          socket: options.socket,
          socketMode: options.socketMode,
          host: options.host,
          port: options.port,
          defaultPort: port,
          isQuiet: options.quiet === true,
          shouldReload: options.reload === true,
          scriptName,
          workers: workerOptions(options, self),
          folder: isFolder ? folderOptionsOf(options) : undefined,
        }, io),
      );
    });
  }

  try {
    await program.parseAsync(argv, { from: "user" });
    return await result;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    return report(error, io);
  }
}
