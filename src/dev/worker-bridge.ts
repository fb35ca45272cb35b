// Runs a gw app in a worker thread behind a gw app in the main thread: WorkerBridge is the main
// side (an App that forwards each request), PortHandler the worker side (a handler whose transport
// is a message port). The dev server's reloader swaps workers under live connections this way.
import type { MessagePort, Worker } from "node:worker_threads";
import { BaseHandler, BUFFER_LIMIT } from "../gateway/base-handler.ts";
import { byteLength } from "../gateway/checks.ts";
import { BodyInput } from "../core/input.ts";
import type { App, Chunk, Environ, ErrorStream, HeaderPair } from "../core/types.ts";

/** The messages between the two sides, one request each, matched by id. */
export type ToWorker =
  | { type: "request"; id: number; environ: Record<string, string | boolean | number> }
  | { type: "body"; id: number; chunk: Uint8Array | null }
  | { type: "ack"; id: number; bytes: number }
  | { type: "abort"; id: number };

/** What a worker sends back about a request. */
export type FromWorker =
  | { type: "head"; id: number; status: string; headers: HeaderPair[] }
  | { type: "data"; id: number; chunk: Chunk }
  | { type: "end"; id: number; chunk?: Chunk }
  | { type: "abort"; id: number }
  | { type: "read"; id: number; size: number };

/** Raised on the main side when the worker died or cut a response. */
export class WorkerGoneError extends Error {
  override name = "WorkerGoneError";
}

interface Pending {
  environ: Environ;
  startResponse: (status: string, headers: HeaderPair[]) => unknown;
  chunks: Chunk[];
  isEnded: boolean;
  error: Error | undefined;
  wake: (() => void) | undefined;
}

/** The environ keys that cross to the worker: strings, numbers and booleans, no objects. */
function portableEnviron(environ: Environ): Record<string, string | boolean | number> {
  const out: Record<string, string | boolean | number> = {};
  for (const key in environ) {
    const value = environ[key];
    if (typeof value === "string" || typeof value === "boolean" || typeof value === "number") out[key] = value;
  }
  return out;
}

/**
 * The main side: an App that hands each request to a worker running PortHandler and streams
 * the response back, with backpressure both ways.
 */
export class WorkerBridge {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #onIdle: (() => void) | undefined;

  constructor(worker: Worker) {
    this.#worker = worker;
    worker.on("message", (message: FromWorker | { type: string }) => this.#receive(message as FromWorker));
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#onIdle = resolve));
  }

  /** Fails every request in flight: the worker is gone. */
  fail(reason: string): void {
    for (const [, pending] of this.#pending) {
      pending.error = new WorkerGoneError(reason);
      pending.wake?.();
    }
  }

  #post(message: ToWorker): void {
    this.#worker.postMessage(message);
  }

  #receive(message: FromWorker): void {
    if (!("id" in message)) return;
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    switch (message.type) {
      case "head":
        pending.startResponse(message.status, message.headers);
        break;
      case "data":
        pending.chunks.push(message.chunk);
        break;
      case "end":
        if (message.chunk !== undefined) pending.chunks.push(message.chunk);
        pending.isEnded = true;
        break;
      case "abort":
        pending.error = new WorkerGoneError("the app's response was cut off");
        break;
      case "read":
        void this.#sendBody(message.id, pending.environ, message.size);
        return;
    }
    const wake = pending.wake;
    pending.wake = undefined;
    wake?.();
  }

  async #sendBody(id: number, environ: Environ, size: number): Promise<void> {
    let chunk: Uint8Array | null;
    try {
      const read = await environ["gw.input"].read(size);
      chunk = read.byteLength === 0 ? null : read;
    } catch {
      chunk = null;
    }
    if (this.#pending.has(id)) this.#post({ type: "body", id, chunk });
  }

  #done(id: number): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0) {
      const idle = this.#onIdle;
      this.#onIdle = undefined;
      idle?.();
    }
  }

  /** The bridge as an app: forwards one request, yields the worker's chunks as they come. */
  readonly app: App = (environ, startResponse) => {
    const id = ++this.#nextId;
    const pending: Pending = { environ, startResponse, chunks: [], isEnded: false, error: undefined, wake: undefined };
    this.#pending.set(id, pending);
    this.#post({ type: "request", id, environ: portableEnviron(environ) });
    let isClosed = false;
    const next = async (): Promise<IteratorResult<Chunk>> => {
      for (;;) {
        const chunk = pending.chunks.shift();
        if (chunk !== undefined) {
          this.#post({ type: "ack", id, bytes: byteLength(chunk) });
          return { done: false, value: chunk };
        }
        if (pending.error !== undefined) throw pending.error;
        if (pending.isEnded || isClosed) return { done: true, value: undefined };
        await new Promise<void>((resolve) => (pending.wake = resolve));
      }
    };
    return {
      [Symbol.asyncIterator]: () => ({ next }),
      close: () => {
        if (isClosed) return;
        isClosed = true;
        // The client went away or the response failed: tell the worker to stop the app's body.
        if (!pending.isEnded) this.#post({ type: "abort", id });
        this.#done(id);
      },
    };
  };
}

/** The worker side's per-request handler: its transport is the message port to the main thread. */
export class PortHandler extends BaseHandler {
  readonly #port: MessagePort;
  readonly #id: number;
  readonly #onDone: () => void;
  #unacked = 0;
  #drained: (() => void) | undefined;

  constructor(port: MessagePort, id: number, environ: Environ, errors: ErrorStream, onDone: () => void) {
    super(environ, errors);
    this.#port = port;
    this.#id = id;
    this.#onDone = onDone;
  }

  #post(message: FromWorker): void {
    this.#port.postMessage(message);
  }

  protected override sendHeaders(_code: number, status: string, headers: HeaderPair[], contentLength: number): void {
    const out = contentLength >= 0 ? [...headers, ["Content-Length", String(contentLength)] as HeaderPair] : headers;
    this.#post({ type: "head", id: this.#id, status, headers: out });
  }

  protected override sendData(chunk: Chunk): boolean {
    this.#post({ type: "data", id: this.#id, chunk });
    this.#unacked += byteLength(chunk);
    return this.#unacked < BUFFER_LIMIT;
  }

  protected override sendEnd(chunk?: Chunk): void {
    this.#post(chunk === undefined ? { type: "end", id: this.#id } : { type: "end", id: this.#id, chunk });
  }

  protected override abortConnection(): void {
    this.#post({ type: "abort", id: this.#id });
  }

  protected override waitForDrain(): Promise<void> {
    return new Promise((resolve) => (this.#drained = resolve));
  }

  protected override onFinish(): void {
    this.#onDone();
  }

  /** The main thread took `bytes` more of the body. */
  acknowledge(bytes: number): void {
    this.#unacked -= bytes;
    if (this.#unacked < BUFFER_LIMIT) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained?.();
    }
  }

  /** The client went away: stop and close the app's body. */
  abort(): void {
    this.handleAbort();
  }
}

/** gw.input on the worker side: pulls the request body from the main thread chunk by chunk. */
export function portInput(port: MessagePort, id: number, waiters: Map<number, (chunk: Uint8Array | null) => void>): BodyInput {
  const source: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      next: () =>
        new Promise<IteratorResult<Uint8Array>>((resolve) => {
          waiters.set(id, (chunk) => resolve(chunk === null ? { done: true, value: undefined } : { done: false, value: chunk }));
          port.postMessage({ type: "read", id, size: 65536 } satisfies FromWorker);
        }),
    }),
  };
  return new BodyInput(source);
}
