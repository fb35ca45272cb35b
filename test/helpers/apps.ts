// Real gw apps the conformance suite and server tests run over sockets. Each one is wrapped in
// validator(), so a gateway that breaks PEP 3333 (a second close(), headers after the body) fails loudly.
import type { App, Body, Chunk, Environ, HeaderPair, StartResponse } from "../../src/core/types.ts";
import { validator } from "../../src/core/validate.ts";

const TEXT: HeaderPair[] = [["Content-Type", "text/plain; charset=utf-8"]];

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function queryParam(environ: Environ, name: string): string | undefined {
  return new URLSearchParams(environ.QUERY_STRING).get(name) ?? undefined;
}

/** The body of `hello`: 13 bytes. */
export const HELLO = "Hello, world!";

/** "Hello, world!" as text/plain, one chunk (so Content-Length: 13). */
export const hello: App = validator((_environ, startResponse) => {
  startResponse("200 OK", [...TEXT]);
  return [HELLO];
});

/** A body of several array elements ("one", "two", "three"): the length is known up front. */
export const ARRAY_BODY = ["one ", "two ", "three"] as const;
export const arrayBody: App = validator((_environ, startResponse) => {
  startResponse("200 OK", [...TEXT]);
  return [...ARRAY_BODY];
});

/** The environ as JSON: strings, booleans, numbers and arrays as they are, anything else as "<typeof>". */
export const echoEnviron: App = validator((environ, startResponse) => {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(environ)) {
    const kind = typeof value;
    out[key] = kind === "string" || kind === "boolean" || kind === "number" || Array.isArray(value) ? value : `<${kind}>`;
  }
  const input = environ["gw.input"] as unknown as Record<string, unknown>;
  out["gw.input.read"] = typeof input.read;
  out["gw.input.readline"] = typeof input.readline;
  out["gw.errors.write"] = typeof environ["gw.errors"].write;
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  return [JSON.stringify(out)];
});

/** Streams gw.input back as it arrives, with the request's Content-Type. */
export const echoBody: App = validator((environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", environ.CONTENT_TYPE || "application/octet-stream"]]);
  const input = environ["gw.input"];
  return (async function* (): AsyncGenerator<Chunk> {
    for await (const chunk of input) yield chunk;
  })();
});

/** The chunks `streaming` sends for `?n=`: "chunk 0\n", "chunk 1\n", ... */
export function streamedText(n: number): string {
  let text = "";
  for (let i = 0; i < n; i++) text += `chunk ${i}\n`;
  return text;
}

/** `?n=N` chunks ("chunk i\n", default 3), `?delay=MS` between them; no Content-Length. */
export const streaming: App = validator((environ, startResponse) => {
  const n = Number(queryParam(environ, "n") ?? 3);
  const wait = Number(queryParam(environ, "delay") ?? 0);
  startResponse("200 OK", [...TEXT]);
  return (async function* (): AsyncGenerator<Chunk> {
    for (let i = 0; i < n; i++) {
      if (i > 0 && wait > 0) await delay(wait);
      yield `chunk ${i}\n`;
    }
  })();
});

/** The request header whose value keys the close registry. */
export const CLOSE_KEY_HEADER = "x-close-key";

/** What happened to the body of a `closeTracked` request, by its x-close-key. */
export interface CloseRecord {
  /** close() calls the server made. */
  closeCalls: number;
  /** Chunks the body produced. */
  produced: number;
}

/** The shared registry `closeTracked` writes to. */
export const closeRegistry: Map<string, CloseRecord> = new Map();

/**
 * A body with close(): `?n=N` chunks (default 3; "inf" for endless), `?delay=MS` between them.
 * close() calls are counted in closeRegistry under the x-close-key header, outside the validator,
 * so the count is what the server did even when the validator rejects a second call.
 */
export const closeTracked: App = (() => {
  const inner: App = validator((environ, startResponse) => {
    const key = String(environ.HTTP_X_CLOSE_KEY ?? "");
    const record: CloseRecord = { closeCalls: 0, produced: 0 };
    closeRegistry.set(key, record);
    const param = queryParam(environ, "n") ?? "3";
    const n = param === "inf" ? Infinity : Number(param);
    const wait = Number(queryParam(environ, "delay") ?? 0);
    startResponse("200 OK", [...TEXT]);
    const body = {
      async *[Symbol.asyncIterator](): AsyncGenerator<Chunk> {
        // Bounded even when "endless": about 5 minutes of 20 ms chunks.
        for (let i = 0; i < n && i < 100_000; i++) {
          if (i > 0 && wait > 0) await delay(wait);
          record.produced++;
          yield `tick ${i}\n`;
        }
      },
      close(): void {},
    };
    return body;
  });
  return (environ, startResponse) => {
    const key = String(environ.HTTP_X_CLOSE_KEY ?? "");
    const result = inner(environ, startResponse) as Body;
    const wrapped = {
      [Symbol.asyncIterator]: () => (result as AsyncIterable<Chunk>)[Symbol.asyncIterator](),
      close: (): unknown => {
        const record = closeRegistry.get(key);
        if (record !== undefined) record.closeCalls++;
        return result.close?.();
      },
    };
    return wrapped;
  };
})();

/** The message the throwing apps fail with; it must never reach the client. */
export const SECRET = "secret-detail-8f3a";

/** Throws before calling startResponse. */
export const throwsBeforeStart: App = validator(() => {
  throw new Error(`boom before start: ${SECRET}`);
});

/** The first chunk `throwsAfterFirstChunk` sends before it fails. */
export const FIRST_CHUNK = "first chunk\n";

/** Sends FIRST_CHUNK (so the headers are out), then throws. */
export const throwsAfterFirstChunk: App = validator((_environ, startResponse) => {
  startResponse("200 OK", [...TEXT]);
  return (async function* (): AsyncGenerator<Chunk> {
    yield FIRST_CHUNK;
    await delay(20);
    throw new Error(`boom after first chunk: ${SECRET}`);
  })();
});

/** The body `headAware` sends to GET: 1000 bytes. */
export const HEAD_AWARE_BODY = "x".repeat(1000);

/** Sets Content-Length itself and returns no body for HEAD (as PEP 3333 allows). */
export const headAware: App = validator((environ, startResponse) => {
  startResponse("200 OK", [...TEXT, ["Content-Length", String(Buffer.byteLength(HEAD_AWARE_BODY))]]);
  return environ.REQUEST_METHOD === "HEAD" ? [] : [HEAD_AWARE_BODY];
});

/** 204 No Content, no body, no Content-Type. */
export const noContent: App = validator((_environ, startResponse) => {
  startResponse("204 No Content", []);
  return [];
});

/** Sends the file at `path` through environ["gw.file_wrapper"], leaving Content-Length to the server. */
export function fileDownload(path: string): App {
  return validator((environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
    const wrap = environ["gw.file_wrapper"];
    if (wrap === undefined) throw new Error("this gateway has no gw.file_wrapper");
    return wrap(path, 16 * 1024);
  });
}

/** Bytes of `largeBody`'s body for `?mib=N` (default 10 MiB), in 64 KiB chunks made lazily. */
export const CHUNK_SIZE = 64 * 1024;

/** Counters `largeBody` updates, so a test can see how far the app got. */
export const largeBodyProgress: { produced: number } = { produced: 0 };

/** `?mib=N` MiB (default 10) with Content-Length, each 64 KiB chunk allocated only when pulled. */
export const largeBody: App = validator((environ, startResponse) => {
  const total = Number(queryParam(environ, "mib") ?? 10) * 1024 * 1024;
  startResponse("200 OK", [["Content-Type", "application/octet-stream"], ["Content-Length", String(total)]]);
  return (async function* (): AsyncGenerator<Chunk> {
    for (let sent = 0; sent < total; sent += CHUNK_SIZE) {
      largeBodyProgress.produced += CHUNK_SIZE;
      yield Buffer.alloc(CHUNK_SIZE, sent / CHUNK_SIZE);
    }
  })();
});

/**
 * Holds the response until `release()` is called: the app starts, signals `started`, then sends
 * HELLO. For shutdown tests that need a request in flight.
 */
export function gated(): { app: App; started: Promise<void>; release: () => void } {
  let markStarted!: () => void;
  let release!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const app = validator((_environ, startResponse) => {
    markStarted();
    startResponse("200 OK", [...TEXT]);
    return (async function* (): AsyncGenerator<Chunk> {
      yield "slow ";
      await released;
      yield HELLO;
    })();
  });
  return { app, started, release };
}

/** The body of the class applications below (the wsgiref walk-through's class app). */
export const CLASS_HELLO = "Hello world!";

/**
 * A class application (PEP 3333): the gateway constructs it per request and iterates the
 * instance; startResponse is called from inside the iteration, as in the wsgiref walk-through.
 */
export class HelloClass implements Iterable<Chunk> {
  readonly #startResponse: StartResponse;
  constructor(_environ: Environ, startResponse: StartResponse) {
    this.#startResponse = startResponse;
  }
  *[Symbol.iterator](): Iterator<Chunk> {
    this.#startResponse("200 OK", [...TEXT]);
    yield CLASS_HELLO;
  }
}

/** An async class application with close(), counted in closeRegistry under x-close-key. */
export class ClosingClass implements AsyncIterable<Chunk> {
  readonly #record: CloseRecord;
  readonly #n: number;
  constructor(environ: Environ, startResponse: StartResponse) {
    this.#record = { closeCalls: 0, produced: 0 };
    closeRegistry.set(String(environ.HTTP_X_CLOSE_KEY ?? ""), this.#record);
    this.#n = Number(queryParam(environ, "n") ?? 2);
    startResponse("200 OK", [...TEXT]);
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Chunk> {
    for (let i = 0; i < this.#n; i++) {
      await delay(1);
      this.#record.produced++;
      yield `part ${i}\n`;
    }
  }
  close(): void {
    this.#record.closeCalls++;
  }
}

/** A class application whose constructor throws before startResponse. */
export class ThrowingClass implements Iterable<Chunk> {
  constructor() {
    throw new Error(`class boom: ${SECRET}`);
  }
  *[Symbol.iterator](): Iterator<Chunk> {}
}
