// The gw command line: builds the commander program and runs one command. main() returns the
// exit code; it never calls process.exit, so tests can run it in-process.
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { VERSION } from "../version.ts";
import type { Io } from "./io.ts";
import { report } from "./report.ts";

/** Parses a --port value: a whole number from 0 to 65535. */
export function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new InvalidArgumentError(`"${value}" is not a port (a whole number from 0 to 65535)`);
  }
  return Number(value);
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
export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }): Promise<number> {
  let result: Promise<number> = Promise.resolve(0);
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
    .description("serve APP (path[:export]) over HTTP")
    .argument("<app>", "the module to serve, as path[:export]; default export, else the export named app")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("-p, --port <port>", "port to listen on; 0 picks a free one (default: $PORT, else 8000)", parsePort)
    .option("-q, --quiet", "no access log")
    .option("--no-reload", "do not restart on file changes")
    .option("--watch <path...>", "more files or folders to watch for changes")
    .option("--no-validate", "do not check the app against the spec while reloading")
    .action((app: string, options: { host: string; port?: number; quiet?: boolean; reload: boolean; watch?: string[]; validate: boolean }) => {
      result = import("./serve.ts").then((serve) =>
        serve.serve({
          app,
          host: options.host,
          port: options.port ?? defaultPort(io),
          isQuiet: options.quiet === true,
          shouldReload: options.reload,
          watch: options.watch ?? [],
          shouldValidate: options.validate,
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
          host: options.host,
          port: options.port ?? defaultPort(io),
          isQuiet: options.quiet === true,
          shouldReload: false,
          watch: [],
          shouldValidate: false,
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
