// The Node pieces fromNodeListener (from-node.ts) builds on: the socket a listener sees, the
// request as Node's parser would fill it from the environ, and the few http internals it hooks.
import type { IncomingMessage, Server } from "node:http";
import type { Duplex as DuplexType } from "node:stream";
import type { Environ } from "../core/types.ts";

// node:http and node:stream by getBuiltinModule, not import: see docs/ARCHITECTURE.md, "Startup".
const http = process.getBuiltinModule("node:http");
const { Duplex, Readable, Writable, getDefaultHighWaterMark } = process.getBuiltinModule("node:stream");

/** What a listener's socket tells when it is destroyed (from-node's exchange). */
export interface SocketOwner {
  /** `error` is what the socket was destroyed with, if anything. */
  onSocketClose(error: Error | null): void;
}

/** A write or end callback as Node passes it. */
export type Callback = ((error?: Error | null) => void) | null | undefined;

/** The parts of Node's http internals this adapter works with (stable since Node 0.x). */
export interface NodeInternals {
  _header: string | null;
  _headerSent: boolean;
  _closed: boolean;
  _consuming: boolean;
  _readableState: { readingMore: boolean; resumeScheduled: boolean };
  outputSize: number;
  _finish(): void;
}
/** ServerResponse's own _finish, which the hook calls before marking the end. */
export const baseFinish: () => void = (http.ServerResponse.prototype as unknown as NodeInternals)._finish;

// Node's own symbols are found on a response made once here: its own symbol properties.
const probeResponse = new http.ServerResponse(new http.IncomingMessage(null as never));

// Node's own symbol for the headers setHeader() collects: _storeHeader gets that very object when
// the headers came from setHeader(), and a plain object or array when only writeHead() gave them.
/** Node's own symbol for the headers setHeader() collects. */
export const kOutHeaders: symbol = (() => {
  probeResponse.setHeader("x-probe", "1");
  const found = Object.getOwnPropertySymbols(probeResponse).find((symbol) => {
    const value = (probeResponse as unknown as Record<symbol, unknown>)[symbol];
    return typeof value === "object" && value !== null && "x-probe" in value;
  });
  if (found === undefined) throw new Error("this Node's ServerResponse keeps its headers where gw cannot find them");
  return found;
})();

/**
 * Node's own flag for "write() said false, 'drain' is owed", described "kNeedDrain" (Node 22 and
 * 24): from-node's exchange clears it and emits 'drain' once gw has taken what was held back.
 */
export const kNeedDrain: symbol = (() => {
  const found = Object.getOwnPropertySymbols(probeResponse).find((symbol) => symbol.description === "kNeedDrain");
  if (found === undefined) throw new Error("this Node's ServerResponse keeps its drain flag where gw cannot find it");
  return found;
})();

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

function targetOf(environ: Environ): string {
  const uri = environ.REQUEST_URI;
  if (typeof uri === "string" && uri.charCodeAt(0) === 0x2f && environ.SCRIPT_NAME === "") return uri;
  const path = encodeURI(environ.SCRIPT_NAME + environ.PATH_INFO) || "/";
  return environ.QUERY_STRING ? `${path}?${environ.QUERY_STRING}` : path;
}

// ---- the listener socket's writable side -----------------------------------------------------
//
// Duplex's constructor gives every stream a WritableState, and WritableState makes a callback
// bound to its stream (its `onwrite`). V8 placed a share of those functions in its old generation
// (found there right after the socket was made: about half while the code warmed up, a few per
// cent after), and an old object that points to a young one keeps it alive through every
// young-generation collection until the next full one: each such socket kept its request's whole
// graph (req, res, the exchange, gw's handler and environ), megabytes moved a collection
// (docs/PERFORMANCE.md, "What kept the requests"). A listener's socket is written to almost never
// (gw frames the response), so its WritableState is built without that callback: the same fields
// with the same values (copied from one real state made here) on WritableState's prototype, and
// the callback made, bound to its socket, the first time Node's code asks for it.

type WritableStateClass = new (options: undefined, stream: DuplexType, isDuplex: boolean) => Record<PropertyKey, unknown>;
const WritableState = (Writable as unknown as { WritableState: WritableStateClass }).WritableState;
const kOwner = Symbol("gw.writableStateOwner");

/** The prototype of the light states: WritableState's, plus onwrite made on demand. */
const lightStatePrototype: object = Object.create(WritableState.prototype, {
  onwrite: {
    get(this: Record<PropertyKey, unknown>): unknown {
      const onwrite = new WritableState(undefined, this[kOwner] as DuplexType, true).onwrite;
      Object.defineProperty(this, "onwrite", { value: onwrite, writable: true, enumerable: true, configurable: true });
      return onwrite;
    },
    set(this: Record<PropertyKey, unknown>, value: unknown): void {
      Object.defineProperty(this, "onwrite", { value, writable: true, enumerable: true, configurable: true });
    },
    configurable: true,
  },
});

/** A fresh WritableState's own fields but onwrite: Node keeps plain values there (counts, bits, nulls). */
const freshStateFields: Record<PropertyKey, unknown> = (() => {
  const probe = (new Duplex() as unknown as { _writableState: Record<PropertyKey, unknown> })._writableState;
  const fields: Record<PropertyKey, unknown> = {};
  for (const key of Reflect.ownKeys(probe)) {
    if (key === "onwrite") continue;
    const value = probe[key];
    if ((typeof value === "object" && value !== null) || typeof value === "function") {
      throw new Error(`this Node's WritableState keeps an object in ${String(key)}, which gw cannot copy`);
    }
    fields[key] = value;
  }
  return fields;
})();

// The base of the listener's socket: Duplex's constructor, with the light writable state. A
// function, not a class, so that SocketForListener (a class) can extend it and still be a
// Duplex by its prototype: `socket instanceof Duplex` (and Writable) hold, every method is Node's.
function ListenerDuplex(this: DuplexType & { _writableState: object }): void {
  Readable.call(this as never);
  const state = Object.assign(Object.create(lightStatePrototype) as Record<PropertyKey, unknown>, freshStateFields);
  // As a real state reads it, so that stream.setDefaultHighWaterMark() made later counts.
  state.highWaterMark = getDefaultHighWaterMark(false);
  state[kOwner] = this;
  this._writableState = state;
  this.allowHalfOpen = true;
}
Object.setPrototypeOf(ListenerDuplex.prototype, Duplex.prototype);
Object.setPrototypeOf(ListenerDuplex, Duplex);

/**
 * The listener's socket: addresses from the environ (so req.ip, req.socket.remoteAddress and
 * req.secure work) and the socket methods frameworks call. Nothing is sent through it; what
 * code writes to it directly (a hand-made 100 Continue, say) is dropped, since gw frames the
 * response. Destroying it is how the listener cuts the response, and how gw tells it the client left.
 */
class SocketForListener extends (ListenerDuplex as unknown as typeof Duplex) {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  remoteFamily: string;
  localAddress: string;
  localPort: number;
  encrypted: true | undefined;
  server: Server | null;
  _hadError = false;
  exchange: SocketOwner | undefined = undefined;

  constructor(environ: Environ, server: Server | null) {
    super();
    const remote = environ.REMOTE_ADDR;
    this.remoteAddress = remote;
    this.remotePort = environ.REMOTE_PORT === undefined ? undefined : Number(environ.REMOTE_PORT);
    this.remoteFamily = remote !== undefined && remote.includes(":") ? "IPv6" : "IPv4";
    this.localAddress = environ.SERVER_NAME;
    this.localPort = Number(environ.SERVER_PORT);
    // Express's req.protocol and Koa's ctx.secure read this.
    this.encrypted = environ["gw.url_scheme"] === "https" ? true : undefined;
    this.server = server;
  }

  override _read(): void {}

  override _write(_chunk: unknown, _encoding: string, callback: () => void): void {
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Node's server listens for 'error' on every connection's socket (socketOnError), so a
    // listener's res.destroy(error) only closes that connection. Here nobody may listen: the
    // error would be thrown and take the process down. It goes to listeners that there are.
    callback(this.listenerCount("error") > 0 ? error : null);
    this.exchange?.onSocketClose(error);
  }

  address(): { address: string; port: number; family: string } {
    return { address: this.localAddress, port: this.localPort, family: this.remoteFamily };
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  setTimeout(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}

/** The socket fromNodeListener hands a listener: a Duplex with a connection's fields. */
export interface ListenerSocket extends DuplexType {
  /** Told when the socket is destroyed. */
  exchange: SocketOwner | undefined;
  /** Set when the response was cut, so Node's onFinish does not emit 'finish'. */
  _hadError: boolean;
}

/** A socket for one request, addressed as the environ says. */
export function listenerSocket(environ: Environ, server: Server | null): ListenerSocket {
  return new SocketForListener(environ, server);
}

/** The request as Node's parser would fill it. */
export function makeRequest(environ: Environ, socket: ListenerSocket): IncomingMessage {
  const req = new http.IncomingMessage(socket as unknown as DuplexType as never);
  const minor = environ.SERVER_PROTOCOL === "HTTP/1.0" ? 0 : 1;
  req.httpVersionMajor = 1;
  req.httpVersionMinor = minor;
  req.httpVersion = minor === 0 ? "1.0" : "1.1";
  req.method = environ.REQUEST_METHOD;
  req.url = targetOf(environ);
  const headers: Record<string, string> = {};
  const raw: string[] = [];
  for (const key in environ) {
    if (key.charCodeAt(0) !== 0x48 || !key.startsWith("HTTP_")) continue;
    const value = environ[key];
    if (typeof value !== "string") continue;
    const name = headerName(key);
    headers[name] = value;
    raw.push(name, value);
  }
  const type = environ.CONTENT_TYPE;
  if (type) {
    headers["content-type"] = type;
    raw.push("content-type", type);
  }
  const length = environ.CONTENT_LENGTH;
  if (length) {
    headers["content-length"] = length;
    raw.push("content-length", length);
  }
  req.headers = headers;
  req.rawHeaders = raw;
  return req;
}

