// Runs an app through StreamHandler over in-memory streams, as wsgiref's tests do: no sockets.
import { PassThrough } from "node:stream";
import { finished } from "node:stream/promises";
import { StreamHandler } from "../../src/gateway/stream-handler.ts";
import { ErrorOutput, inputFromBytes } from "../../src/core/input.ts";
import { setupTestingDefaults } from "../../src/core/util.ts";
import type { AnyApp, Environ } from "../../src/core/types.ts";

/** Options for runInMemory. */
export interface MemoryOptions {
  /** The request body, given to the app as gw.input. @default empty */
  body?: Uint8Array | string;
  /** Speak HTTP (status line, Date, Server) instead of CGI. @default false */
  isOriginServer?: boolean;
}

/** What one in-memory request produced. */
export interface MemoryResult {
  /** Every byte the handler wrote. */
  raw: Buffer;
  /** The status line or Status header, the headers and the blank line ("" when none was written). */
  head: string;
  /** The bytes after the blank line. */
  body: Buffer;
  /** Everything written to gw.errors. */
  errors: string;
  /** Whether the handler cut the connection (destroyed its output) instead of ending it. */
  isCut: boolean;
  /** The environ the app was called with. */
  environ: Environ;
  handler: StreamHandler;
}

/** Builds a testing environ plus `overrides`, runs `app` once and collects the output. */
export async function runInMemory(app: AnyApp, overrides: Record<string, unknown> = {}, options: MemoryOptions = {}): Promise<MemoryResult> {
  let errors = "";
  const environ = setupTestingDefaults({
    ...overrides,
    "gw.input": inputFromBytes(options.body),
    "gw.errors": new ErrorOutput({ write: (text: string) => (errors += text) }),
  });
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
  const handler = new StreamHandler(environ, stdout, environ["gw.errors"], { isOriginServer: options.isOriginServer ?? false });
  const running = handler.run(app);
  if (running !== undefined) await running;
  let isCut = false;
  try {
    await finished(stdout);
  } catch {
    isCut = true;
  }
  const raw = Buffer.concat(chunks);
  const end = raw.indexOf("\r\n\r\n");
  const head = end === -1 ? "" : raw.subarray(0, end + 4).toString("latin1");
  const body = end === -1 ? raw : raw.subarray(end + 4);
  return { raw, head, body, errors, isCut, environ, handler };
}
