// The gw interface types: the app, its environ, startResponse and bodies (wsgiref.types).
// docs/SPEC.md states the rules behind every type here.

/** One piece of a response body: bytes, or a string sent UTF-8 encoded. */
export type Chunk = Uint8Array | string;

/** A response body: a sync or async iterable of chunks; an optional close() is called once. */
export type Body = (Iterable<Chunk> | AsyncIterable<Chunk>) & { close?: () => unknown };

/** A response header as a `[name, value]` pair of strings. */
export type HeaderPair = [name: string, value: string];

/**
 * The error an app caught, passed as startResponse's third argument to replace the status and
 * headers of a response (PEP 3333 exc_info); any value other than undefined or null counts.
 */
export type ExcInfo = unknown;

/** The legacy write callable startResponse returns; the promise settles when the chunk is handed to the client. */
export type Write = (chunk: Chunk) => Promise<void>;

/** The second argument of an app: begins the response. */
export type StartResponse = (status: string, headers: HeaderPair[], excInfo?: ExcInfo) => Write;

/** A gw application: a function of the environ and startResponse that returns the body. */
export type App = (environ: Environ, startResponse: StartResponse) => Body | Promise<Body>;

/**
 * A class application (PEP 3333): constructed with `new` per request, and the instance, an
 * iterable or async iterable of chunks with an optional close(), is the body.
 */
export type AppClass = new (environ: Environ, startResponse: StartResponse) => Body;

/** What a gateway runs: an app function or a class application. */
export type AnyApp = App | AppClass;

/** gw.input: the request body, read lazily. */
export interface InputStream extends AsyncIterable<Uint8Array> {
  /** Up to `size` bytes (all that is left when omitted or negative); an empty array at the end. */
  read(size?: number): Promise<Uint8Array>;
  /** One line including its "\n", at most `size` bytes; an empty array at the end. */
  readline(size?: number): Promise<Uint8Array>;
  /** All remaining lines. */
  readlines(hint?: number): Promise<Uint8Array[]>;
}

/** gw.errors: where an app writes error text; a server logs it. */
export interface ErrorStream {
  write(text: string): void;
  writelines(lines: Iterable<string>): void;
  flush(): void;
}

/** A file-like source FileWrapper can stream: a path, a file descriptor or a readable of bytes. */
export type FileLike = string | number | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** gw.file_wrapper: wraps a file so the server may send it efficiently. */
export type FileWrapperFactory = (file: FileLike, blockSize?: number) => Body;

/** The per-request environment: CGI keys, HTTP_* request headers and gw.* keys. */
export interface Environ {
  REQUEST_METHOD: string;
  /** The mount point of the app; '' at the root. */
  SCRIPT_NAME: string;
  /** The rest of the path, percent-decoded: UTF-8 when the bytes are valid UTF-8, else latin-1 (docs/SPEC.md). */
  PATH_INFO: string;
  /** The query without '?'; '' when there is none. */
  QUERY_STRING: string;
  CONTENT_TYPE?: string;
  CONTENT_LENGTH?: string;
  SERVER_NAME: string;
  SERVER_PORT: string;
  SERVER_PROTOCOL: string;
  REMOTE_ADDR?: string;
  REMOTE_PORT?: string;
  REQUEST_URI?: string;
  SERVER_SOFTWARE?: string;
  GATEWAY_INTERFACE?: string;
  "gw.version": readonly [1, 0];
  "gw.url_scheme": "http" | "https";
  "gw.input": InputStream;
  "gw.errors": ErrorStream;
  "gw.multithread": boolean;
  "gw.multiprocess": boolean;
  "gw.run_once": boolean;
  "gw.file_wrapper"?: FileWrapperFactory;
  [key: `HTTP_${string}`]: string | undefined;
  [key: string]: unknown;
}
