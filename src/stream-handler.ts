// Handlers over byte streams (wsgiref.handlers' SimpleHandler and CGIHandler): StreamHandler writes
// the response to a Writable, as HTTP or as CGI output; CgiHandler runs an app as a CGI program.
import type { Readable, Writable } from "node:stream";
import { environFromCgi } from "./environ.ts";
import { BaseHandler } from "./handlers.ts";
import { SERVER_SOFTWARE } from "./version.ts";
import type { Chunk, Environ, ErrorStream, HeaderPair } from "./types.ts";

/** Options for StreamHandler. */
export interface StreamHandlerOptions {
  /** Speak as an HTTP origin server (status line, Date, Server) rather than a CGI program. @default false */
  isOriginServer?: boolean;
  /** End `stdout` when the response is over. @default true */
  shouldEnd?: boolean;
}

/** A handler that writes the response to a byte stream (wsgiref's SimpleHandler). */
export class StreamHandler extends BaseHandler {
  /** Whether this handler speaks HTTP itself (status line, Date, Server) rather than CGI. */
  protected readonly isOriginServer: boolean;
  readonly #stdout: Writable;
  readonly #shouldEnd: boolean;

  constructor(environ: Environ, stdout: Writable, errors: ErrorStream, options: StreamHandlerOptions = {}) {
    super(environ, errors);
    this.#stdout = stdout;
    this.isOriginServer = options.isOriginServer ?? false;
    this.#shouldEnd = options.shouldEnd ?? true;
  }

  protected override sendHeaders(_code: number, status: string, headers: HeaderPair[], contentLength: number): void {
    let head: string;
    if (this.isOriginServer) {
      const version = this.environ.SERVER_PROTOCOL === "HTTP/1.1" ? "HTTP/1.1" : "HTTP/1.0";
      head = `${version} ${status}\r\n`;
      if (!headers.some(([name]) => name.toLowerCase() === "date")) head += `Date: ${new Date().toUTCString()}\r\n`;
      if (!this.hasServerHeader) head += `Server: ${SERVER_SOFTWARE}\r\n`;
    } else {
      // RFC 3875 §6.3.3: a CGI program gives its status in a Status header.
      head = `Status: ${status}\r\n`;
    }
    for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
    if (contentLength >= 0) head += `Content-Length: ${contentLength}\r\n`;
    this.#stdout.write(Buffer.from(head + "\r\n", "latin1"));
  }

  protected override sendData(chunk: Chunk): boolean {
    return this.#stdout.write(chunk);
  }

  protected override sendEnd(chunk?: Chunk): void {
    if (chunk !== undefined) this.#stdout.write(chunk);
    if (this.#shouldEnd) this.#stdout.end();
  }

  protected override abortConnection(): void {
    this.#stdout.destroy();
  }

  protected override waitForDrain(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.#stdout.off("drain", done);
        this.#stdout.off("close", done);
        resolve();
      };
      this.#stdout.on("drain", done);
      this.#stdout.on("close", done);
    });
  }

  protected override watchForAbort(): void {
    this.#stdout.once("close", () => {
      if (!this.#stdout.writableFinished) this.handleAbort();
    });
  }
}

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
    super(environ, options.stdout ?? process.stdout, environ["gw.errors"], { shouldEnd: options.stdout !== undefined });
  }
}
