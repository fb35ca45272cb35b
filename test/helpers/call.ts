// Calls an app once in memory (StreamHandler in CGI mode, no sockets) with validator() around it,
// and parses what came out: for the app-layer tests (router, mount, HTTP errors, Fetch adapters).
import type { AnyApp, HeaderPair } from "../../src/core/types.ts";
import { validator } from "../../src/core/validate.ts";
import { runInMemory } from "./memory.ts";

/** What one in-memory call produced. */
export interface Called {
  /** The status line, e.g. "404 Not Found". */
  status: string;
  code: number;
  /** The response headers in order, as sent. */
  headers: HeaderPair[];
  /** The first value of a header (any case), or undefined. */
  header(name: string): string | undefined;
  body: string;
  bytes: Buffer;
  /** Everything written to gw.errors. */
  errors: string;
  /** Whether the handler cut the output instead of ending it. */
  isCut: boolean;
}

/** Options for call(). */
export interface CallOptions {
  method?: string;
  body?: string | Uint8Array;
  /** Request headers; Content-Type and Content-Length become CONTENT_TYPE and CONTENT_LENGTH. */
  headers?: Record<string, string>;
  /** Extra environ keys (SCRIPT_NAME, HTTP_HOST, SERVER_PORT…). */
  environ?: Record<string, unknown>;
  /** Wrap the app in validator(). @default true */
  shouldValidate?: boolean;
}

/** Calls `app` for `target` ("/path?query") and returns the parsed response. */
export async function call(app: AnyApp, target: string, options: CallOptions = {}): Promise<Called> {
  const mark = target.indexOf("?");
  const overrides: Record<string, unknown> = {
    REQUEST_METHOD: options.method ?? "GET",
    SCRIPT_NAME: "",
    PATH_INFO: mark === -1 ? target : target.slice(0, mark),
    QUERY_STRING: mark === -1 ? "" : target.slice(mark + 1),
    SERVER_PROTOCOL: "HTTP/1.1",
    ...options.environ,
  };
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    const key = name.toUpperCase().replaceAll("-", "_");
    overrides[key === "CONTENT_TYPE" || key === "CONTENT_LENGTH" ? key : `HTTP_${key}`] = value;
  }
  if (options.body !== undefined && overrides.CONTENT_LENGTH === undefined) {
    overrides.CONTENT_LENGTH = String(Buffer.byteLength(options.body));
  }
  const result = await runInMemory(options.shouldValidate === false ? app : validator(app), overrides, { body: options.body });
  const lines = result.head.split("\r\n").filter((line) => line !== "");
  const status = (lines.shift() ?? "").replace(/^Status: /, "");
  const headers = lines.map((line): HeaderPair => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  return {
    status,
    code: Number(status.slice(0, 3)),
    headers,
    header: (name) => headers.find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1],
    body: result.body.toString("utf8"),
    bytes: result.body,
    errors: result.errors,
    isCut: result.isCut,
  };
}
