// A Node `(req, res)` listener as a gw app: fromNodeListener runs Express, Koa's callback(), Fastify
// or a plain createServer handler under any gw gateway, with Node's own IncomingMessage and ServerResponse.
import type { IncomingMessage, RequestListener, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { isHopByHop } from "../core/http-syntax.ts";
import type { App, Body, Chunk, Environ, HeaderPair } from "../core/types.ts";

// node:http and node:stream by getBuiltinModule, not import: see docs/ARCHITECTURE.md, "Startup".
const http = process.getBuiltinModule("node:http");
const { duplexPair } = process.getBuiltinModule("node:stream");

// The server end of each pair, by its client end.
const peers = new WeakMap<Duplex, Duplex>();

/** A Node request listener, or a server whose "request" listeners are the app. */
export type NodeListener = RequestListener | Server;

const headerNames = new Map<string, string>();
function headerName(key: string): string {
  let name = headerNames.get(key);
  if (name === undefined) {
    name = key.slice(5).toLowerCase().replaceAll("_", "-");
    // Capped: clients choose header names.
    if (headerNames.size < 1024) headerNames.set(key, name);
  }
  return name;
}

/** The request head the listener's server parses: the raw target, and the headers from the environ. */
function requestHeaders(environ: Environ): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const key in environ) {
    if (key.charCodeAt(0) !== 0x48 || !key.startsWith("HTTP_")) continue;
    const value = environ[key];
    // The pair carries one request, framed by gw: the client's own framing headers do not apply.
    if (typeof value === "string" && key !== "HTTP_CONNECTION" && key !== "HTTP_TRANSFER_ENCODING" && key !== "HTTP_KEEP_ALIVE") {
      headers[headerName(key)] = value;
    }
  }
  if (environ.CONTENT_TYPE) headers["content-type"] = environ.CONTENT_TYPE;
  if (environ.CONTENT_LENGTH) headers["content-length"] = environ.CONTENT_LENGTH;
  return headers;
}

function targetOf(environ: Environ): string {
  const uri = environ.REQUEST_URI;
  if (typeof uri === "string" && uri.charCodeAt(0) === 0x2f && environ.SCRIPT_NAME === "") return uri;
  const path = encodeURI(environ.SCRIPT_NAME + environ.PATH_INFO) || "/";
  return environ.QUERY_STRING ? `${path}?${environ.QUERY_STRING}` : path;
}

/** Gives the server's end of the pair the addresses a socket has, so req.ip and req.socket work. */
function dressSocket(socket: Duplex, environ: Environ): void {
  const fields: Record<string, unknown> = {
    remoteAddress: environ.REMOTE_ADDR,
    remotePort: environ.REMOTE_PORT === undefined ? undefined : Number(environ.REMOTE_PORT),
    localAddress: environ.SERVER_NAME,
    localPort: Number(environ.SERVER_PORT),
    remoteFamily: typeof environ.REMOTE_ADDR === "string" && environ.REMOTE_ADDR.includes(":") ? "IPv6" : "IPv4",
    // Express's req.protocol and Koa's ctx.secure read this.
    encrypted: environ["gw.url_scheme"] === "https" ? true : undefined,
  };
  for (const name in fields) Object.defineProperty(socket, name, { value: fields[name], configurable: true, writable: true });
}

/** The socket methods node's client and server call on a connection; an in-memory pair needs none. */
function socketLike(stream: Duplex): Duplex {
  const self = (): Duplex => stream;
  return Object.assign(stream, { setNoDelay: self, setKeepAlive: self, setTimeout: self, ref: self, unref: self });
}

/**
 * Runs a Node `(req, res)` listener (or an http.Server's request listeners) as a gw app. Each
 * request is written to a private server over an in-memory socket pair, so the listener gets
 * Node's real IncomingMessage and ServerResponse (setHeader, writeHead, write/end callbacks,
 * piping, backpressure, 'close' on abort); its response is read back with Node's HTTP parser.
 */
export function fromNodeListener(listener: NodeListener): App {
  const server: Server = listener instanceof http.Server ? listener : http.createServer(listener);
  // gw's front adds Date (and Server); the listener's server must not add a second one.
  server.prependListener("request", (_req: IncomingMessage, res: ServerResponse) => (res.sendDate = false));
  // Keep-alive pairs, reused across requests: a fresh pair costs two HTTP parsers and a connection.
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });
  agent.createConnection = (): Duplex => {
    const [clientSide, serverSide] = duplexPair();
    peers.set(clientSide, socketLike(serverSide));
    server.emit("connection", serverSide);
    return socketLike(clientSide);
  };
  return function nodeListenerApp(environ, startResponse): Promise<Body> {
    const request = http.request({
      method: environ.REQUEST_METHOD,
      path: targetOf(environ),
      headers: requestHeaders(environ),
      agent,
      setHost: false,
    });
    let clientSide: Duplex | undefined;
    request.once("socket", (socket: Duplex) => {
      clientSide = socket;
      // The pair may have carried another client's request: it takes this client's addresses.
      dressSocket(peers.get(socket)!, environ);
    });
    const hasBody = (environ.CONTENT_LENGTH !== undefined && environ.CONTENT_LENGTH !== "" && environ.CONTENT_LENGTH !== "0") ||
      environ.HTTP_TRANSFER_ENCODING !== undefined;
    if (hasBody) void pipeInput(environ, request);
    else request.end();
    return new Promise((resolve, reject) => {
      request.once("error", reject);
      request.once("response", (response: IncomingMessage) => {
        request.off("error", reject);
        const headers: HeaderPair[] = [];
        const raw = response.rawHeaders;
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i]!;
          // Framing is gw's: it sets Content-Length or chunking for the client it talks to.
          if (!isHopByHop(name)) headers.push([name, raw[i + 1]!]);
        }
        startResponse(`${response.statusCode} ${response.statusMessage || http.STATUS_CODES[response.statusCode!] || "Unknown"}`, headers);
        resolve(responseBody(response, clientSide!));
      });
    });
  };
}

/** Streams gw.input into the listener's request, waiting for drains. */
async function pipeInput(environ: Environ, request: ReturnType<typeof http.request>): Promise<void> {
  try {
    for await (const chunk of environ["gw.input"]) {
      if (!request.write(chunk)) await new Promise<void>((resolve) => request.once("drain", resolve));
    }
    request.end();
  } catch (error) {
    request.destroy(error as Error);
  }
}

/** The parsed response body as a gw body; close() tears the pair down, so an abort reaches the listener. */
function responseBody(response: IncomingMessage, clientSide: Duplex): Body {
  return {
    [Symbol.asyncIterator]: (): AsyncIterator<Chunk> => response[Symbol.asyncIterator]() as AsyncIterator<Chunk>,
    close(): void {
      if (response.complete) return;
      // Stopped early (the client left): the pair cannot be reused. Its two ends do not destroy
      // each other, and the server's end is the listener's socket, which must see the close.
      clientSide.destroy();
      peers.get(clientSide)?.destroy();
    },
  };
}
