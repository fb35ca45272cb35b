// The gw command line: builds the commander program and runs one command. main() returns the
// exit code; it never calls process.exit, so tests can run it in-process (with an Io of their
// own: the process's Io lets `serve --cgi` re-run the process with a Node flag).
import { availableParallelism } from "node:os";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { UserError } from "../core/errors.ts";
import { VERSION } from "../core/version.ts";
import { processIo, type Io } from "./io.ts";
import { report } from "./report.ts";

/** Parses a --port value: a whole number from 0 to 65535. */
export function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new InvalidArgumentError(`"${value}" is not a port (a whole number from 0 to 65535)`);
  }
  return Number(value);
}

/** Parses --cgi-timeout: a number of seconds above 0. */
export function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(seconds > 0)) throw new InvalidArgumentError(`"${value}" is not a number of seconds above 0`);
  return seconds;
}

/** Parses --cgi-max: a whole number from 1. */
export function parseCount(value: string): number {
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`"${value}" is not a whole number from 1`);
  return Number(value);
}

interface ServeCommandOptions {
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

function defaultPort(io: Io): number {
  const fromEnv = io.env.PORT;
  if (fromEnv === undefined || fromEnv === "") return 8000;
  try {
    return parsePort(fromEnv);
  } catch {
    return 8000;
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

  program
    .command("serve")
    .description("serve APP (path[:export]) over HTTP; without APP, serve a folder's files (and CGI scripts with --cgi)")
    .argument("[app]", "the module to serve, as path[:export]; default export, else the export named app")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("-p, --port <port>", "port to listen on; 0 picks a free one (default: $PORT, else 8000)", parsePort)
    .option("-q, --quiet", "no access log")
    .option("--no-reload", "do not restart on file changes")
    .option("--watch <path...>", "more files or folders to watch for changes")
    .option("--no-validate", "do not check the app against the spec while reloading")
    .option("--gw", "take the export as a gw app (environ, startResponse), whatever its shape")
    .option("--fetch", "take the export as a Fetch handler (Request) => Response")
    .option("--node", "take the export as a Node (req, res) listener (Express, Koa's callback(), a createServer handler)")
    .option("--https", "serve HTTPS with a self-signed certificate for localhost (made once, kept in ~/.cache/gw)")
    .option("--tls-cert <file>", "serve HTTPS with this certificate (PEM); needs --tls-key")
    .option("--tls-key <file>", "the private key (PEM) for --tls-cert")
    .option("--inspect [port]", "open the inspector on 127.0.0.1:PORT (default 9229); each reloaded app appears as a worker target", parsePort)
    .option("--livereload", "HTML pages reload in the browser after each good reload")
    .option("--env-file <file>", "load variables into the app's process.env (repeatable; later files win; an edit reloads)", addEnvFile(false))
    .option("--env-file-if-exists <file>", "the same, for a file that may be missing", addEnvFile(true))
    .option("-d, --directory <dir>", "serve this folder's files instead of an app (default: the current folder)")
    .option("--cgi", "also run scripts under /cgi-bin/ and /htbin/ as CGI/1.1 programs")
    .option("--cgi-dir <path...>", "more URL folders whose files are CGI scripts (implies --cgi)")
    .option("--cgi-timeout <seconds>", "kill a CGI script still running after this many seconds", parseSeconds, 30)
    .option("--cgi-max <n>", `CGI scripts that may run at once (default: 4 x CPU cores = ${4 * availableParallelism()})`, parseCount)
    .action((app: string | undefined, options: ServeCommandOptions) => {
      const isFolder = app === undefined || options.directory !== undefined || options.cgi === true || options.cgiDir !== undefined;
      if (isFolder && app !== undefined) {
        throw new UserError(`serve either APP or a folder (--directory, --cgi), not both; got ${app}`);
      }
      const kinds = (["gw", "fetch", "node"] as const).filter((kind) => options[kind] === true);
      if (kinds.length > 1) throw new UserError(`choose one of --gw, --fetch and --node, not ${kinds.map((kind) => `--${kind}`).join(" and ")}`);
      result = import("./serve.ts").then((serve) =>
        serve.serve({
          app,
          kind: kinds[0] ?? "auto",
          shouldLiveReload: options.livereload === true,
          inspectPort: options.inspect === undefined ? undefined : options.inspect === true ? 9229 : options.inspect,
          tls: { isSelfSigned: options.https === true, certFile: options.tlsCert, keyFile: options.tlsKey },
          host: options.host,
          port: options.port ?? defaultPort(io),
          isQuiet: options.quiet === true,
          shouldReload: options.reload && !isFolder,
          watch: options.watch ?? [],
          shouldValidate: options.validate,
          envFiles,
          folder: isFolder
            ? {
              directory: options.directory ?? ".",
              hasCgi: options.cgi === true || options.cgiDir !== undefined,
              cgiDirectories: ["/cgi-bin", "/htbin", ...(options.cgiDir ?? [])],
              cgiTimeout: options.cgiTimeout,
              cgiMax: options.cgiMax ?? 4 * availableParallelism(),
            }
            : undefined,
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
        }, io),
      );
    });

  program
    .command("cgi")
    .description("run APP once as a CGI program: environ from the environment, body from stdin, response on stdout")
    .argument("<app>", "the module to run, as path[:export]")
    .action((app: string) => {
      result = import("./cgi.ts").then((cgi) => cgi.runCgi(app, io));
    });

  try {
    await program.parseAsync(argv, { from: "user" });
    return await result;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    return report(error, io);
  }
}
