// The handler over a byte stream (wsgiref.handlers.SimpleHandler): StreamHandler writes the
// response to a Writable, as HTTP or as CGI output. cgi-handler.ts builds CgiHandler on it.
import type { Writable } from "node:stream";
import { BaseHandler } from "./base-handler.ts";
import { SERVER_SOFTWARE } from "../core/version.ts";
import type { Chunk, Environ, ErrorStream, HeaderPair } from "../core/types.ts";

/**
 * A CGI response head (RFC 3875 §6.3): a Status header, the app's headers and Content-Length
 * when `contentLength` ≥ 0, then the blank line. CGI programs and FastCGI and SCGI fronts send it.
 */
export function cgiHead(status: string, headers: readonly HeaderPair[], contentLength: number): string {
  // RFC 3875 §6.3.3: a CGI program gives its status in a Status header.
  let head = `Status: ${status}\r\n`;
  for (let i = 0; i < headers.length; i++) head += `${headers[i]![0]}: ${headers[i]![1]}\r\n`;
  if (contentLength >= 0) head += `Content-Length: ${contentLength}\r\n`;
  return head + "\r\n";
}

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
      for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
      if (contentLength >= 0) head += `Content-Length: ${contentLength}\r\n`;
      // The stream ends with the response (§5.2): an HTTP/1.1 client must be told (RFC 9112 §9.6).
      if (version === "HTTP/1.1") head += "Connection: close\r\n";
      head += "\r\n";
    } else {
      head = cgiHead(status, headers, contentLength);
    }
    this.#stdout.write(Buffer.from(head, "latin1"));
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
