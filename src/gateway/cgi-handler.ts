// An app run AS a CGI program (wsgiref.handlers.CGIHandler): the environ from the process
// environment, the body from stdin, a `Status:` header block and the body on stdout.
import type { Readable, Writable } from "node:stream";
import { environFromCgi } from "../core/environ.ts";
import { StreamHandler } from "./stream-handler.ts";

/** Options for CgiHandler; each defaults to this process's own. */
export interface CgiHandlerOptions {
  /** The CGI meta-variables the environ is built from. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** The request body. @default process.stdin */
  stdin?: Readable;
  /** Where the response goes; a stream given here is ended with the response. @default process.stdout */
  stdout?: Writable;
  /** Where gw.errors writes. @default process.stderr */
  stderr?: Writable;
}

/**
 * Runs an app as a CGI program (wsgiref's CGIHandler): the environ from the process
 * environment, the body from stdin, the response with a Status header on stdout.
 */
export class CgiHandler extends StreamHandler {
  constructor(options: CgiHandlerOptions = {}) {
    const stderr = options.stderr ?? process.stderr;
    const environ = environFromCgi(options.env ?? process.env, options.stdin ?? process.stdin, stderr);
    const stdout = options.stdout ?? process.stdout;
    super(environ, stdout, environ["gw.errors"], { shouldEnd: options.stdout !== undefined });
    // A reader that goes away (the web server's client left, or `| head -c 100`) fails the next
    // write with EPIPE: a client leaving, as wsgiref takes its BrokenPipeError. The body is closed.
    stdout.once("error", () => this.handleAbort());
  }
}
