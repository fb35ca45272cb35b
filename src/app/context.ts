// The per-request context of web.py's application (web.ctx, web.header, web.data, web.input from
// web/webapi.py), kept in AsyncLocalStorage so handlers and processors reach it without an argument.
import { AsyncLocalStorage } from "node:async_hooks";
import { hostUri } from "../core/util.ts";
import type { Environ, HeaderPair } from "../core/types.ts";
import type { PageVars } from "./template.ts";

/** The per-request context, like web.py's web.ctx; `ctx` is the current request's. */
export interface Context {
  /** The environ as this application sees it (a sub-application's has SCRIPT_NAME and PATH_INFO shifted). */
  readonly environ: Environ;
  /** REQUEST_METHOD. */
  readonly method: string;
  /** PATH_INFO: the path below this application's mount point. */
  readonly path: string;
  /** "?" and the query string, or "" when there is none. */
  readonly query: string;
  /** path + query. */
  readonly fullpath: string;
  /** SCRIPT_NAME: where this application is mounted ("" at the root). */
  readonly homepath: string;
  /** The scheme and host, e.g. "http://example.com:8080". */
  readonly homedomain: string;
  /** homedomain + homepath: the application's base URL. */
  readonly home: string;
  /** The Host header, else SERVER_NAME. */
  readonly host: string;
  /** REMOTE_ADDR, or "" when unknown. */
  readonly ip: string;
  /** gw.url_scheme. */
  readonly protocol: "http" | "https";
  /** The response status line. @default "200 OK" */
  status: string;
  /** The response headers. */
  headers: HeaderPair[];
  /** Values processors and handlers share during one request. */
  readonly state: Record<string, unknown>;
  /** What the application's layout gets with the page (web.py's `$var`), typed by PageVars. */
  readonly vars: PageVars;
}

/** The Content-Type of a response whose handler and application set none. */
export const DEFAULT_TYPE = "text/plain; charset=utf-8";

/** What one request's contexts share, however deep it goes into sub-applications. */
export interface Shared {
  /** What ctx.status reads and writes. */
  status: string;
  /** What ctx.headers reads and writes. */
  headers: HeaderPair[];
  /** Made on first use: most requests never touch it. */
  state: Record<string, unknown> | undefined;
  /** What ctx.vars reads; made on first use. */
  vars: PageVars | undefined;
  /** Whether a layout already wrapped the page, so an outer application's does not again. */
  isLaidOut: boolean;
  /** The Content-Type for a response whose handler set none: the innermost application's. */
  contentType: string;
  /** The request body, once data() has started reading it. */
  data: Promise<Uint8Array> | undefined;
  /** The innermost context that handled the request: the body is iterated in it. */
  last: RequestContext;
}

/** A Context over one environ; a sub-application's has its own environ and the outer one's Shared. */
export class RequestContext implements Context {
  readonly environ: Environ;
  readonly shared: Shared;

  constructor(environ: Environ, shared: Shared | undefined) {
    this.environ = environ;
    this.shared = shared ?? {
      status: "200 OK", headers: [], state: undefined, vars: undefined, isLaidOut: false, contentType: DEFAULT_TYPE, data: undefined, last: this,
    };
    this.shared.last = this;
  }

  get method(): string {
    return this.environ.REQUEST_METHOD;
  }

  get path(): string {
    return this.environ.PATH_INFO;
  }

  get query(): string {
    const query = this.environ.QUERY_STRING;
    return query ? `?${query}` : "";
  }

  get fullpath(): string {
    return this.path + this.query;
  }

  get homepath(): string {
    return this.environ.SCRIPT_NAME;
  }

  get host(): string {
    return this.environ.HTTP_HOST || this.environ.SERVER_NAME;
  }

  get homedomain(): string {
    return hostUri(this.environ);
  }

  get home(): string {
    return this.homedomain + this.homepath;
  }

  get ip(): string {
    return this.environ.REMOTE_ADDR ?? "";
  }

  get protocol(): "http" | "https" {
    return this.environ["gw.url_scheme"];
  }

  get status(): string {
    return this.shared.status;
  }

  set status(status: string) {
    this.shared.status = status;
  }

  get headers(): HeaderPair[] {
    return this.shared.headers;
  }

  set headers(headers: HeaderPair[]) {
    this.shared.headers = headers;
  }

  get state(): Record<string, unknown> {
    return (this.shared.state ??= {});
  }

  get vars(): PageVars {
    return (this.shared.vars ??= {});
  }
}

/** The store that holds the current request's RequestContext while an application runs it. */
export const storage: AsyncLocalStorage<RequestContext> = new AsyncLocalStorage<RequestContext>();

function current(): RequestContext {
  const context = storage.getStore();
  if (context === undefined) throw new Error("ctx is only available while an application handles a request");
  return context;
}

/** The current request's context (web.ctx); reading it outside a request throws. */
export const ctx: Context = {
  get environ(): Environ {
    return current().environ;
  },
  get method(): string {
    return current().method;
  },
  get path(): string {
    return current().path;
  },
  get query(): string {
    return current().query;
  },
  get fullpath(): string {
    return current().fullpath;
  },
  get homepath(): string {
    return current().homepath;
  },
  get homedomain(): string {
    return current().homedomain;
  },
  get home(): string {
    return current().home;
  },
  get host(): string {
    return current().host;
  },
  get ip(): string {
    return current().ip;
  },
  get protocol(): "http" | "https" {
    return current().protocol;
  },
  get status(): string {
    return current().status;
  },
  set status(status: string) {
    current().status = status;
  },
  get headers(): HeaderPair[] {
    return current().headers;
  },
  set headers(headers: HeaderPair[]) {
    current().headers = headers;
  },
  get state(): Record<string, unknown> {
    return current().state;
  },
  get vars(): PageVars {
    return current().vars;
  },
};

/** Adds a response header to the current request (web.py's web.header). */
export function header(name: string, value: string): void {
  current().headers.push([name, value]);
}

/** The whole request body of the current request, read once and shared by later calls (web.py's web.data). */
export function data(): Promise<Uint8Array> {
  const context = current();
  return (context.shared.data ??= context.environ["gw.input"].read());
}

/**
 * The query parameters of the current request, followed by the fields of an
 * application/x-www-form-urlencoded body (web.py's web.input).
 */
export async function input(): Promise<URLSearchParams> {
  const environ = current().environ;
  const params = new URLSearchParams(environ.QUERY_STRING);
  const type = (environ.CONTENT_TYPE ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/x-www-form-urlencoded") {
    for (const [name, value] of new URLSearchParams(new TextDecoder().decode(await data()))) params.append(name, value);
  }
  return params;
}
