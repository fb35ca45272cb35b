// A request body that arrives in pieces from a connection (FastCGI STDIN records) as gw.input's
// source: pulled by the app, with the connection paused while too much waits unread.

/** What a body asks of its connection: stop reading, and read again. */
export interface FlowControl {
  /** Stops reading from the connection until as many release() calls as hold() calls. */
  hold(): void;
  /** Undoes one hold(). */
  release(): void;
}

/** Bytes queued for one request before its connection stops reading. @default 262144 */
export const BODY_HIGH_WATER: number = 256 * 1024;

const DONE: IteratorResult<Uint8Array> = { value: undefined, done: true };

/**
 * The body of one request as an async iterator: push() queues what the web server sent, next()
 * hands it to the app. Past the high-water mark the connection is held, so a slow app slows its
 * web server rather than growing gw's memory.
 */
export class RequestBody implements AsyncIterableIterator<Uint8Array> {
  private readonly flow: FlowControl;
  private chunks: Uint8Array[] = [];
  private queued = 0;
  private isHolding = false;
  private isEnded = false;
  private failure: Error | undefined;
  private waiter: { resolve: (step: IteratorResult<Uint8Array>) => void; reject: (error: Error) => void } | undefined;

  constructor(flow: FlowControl) {
    this.flow = flow;
  }

  /** Queues a piece of the body (or hands it straight to a waiting reader). */
  push(chunk: Uint8Array): void {
    if (this.isEnded) return;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      waiter.resolve({ value: chunk, done: false });
      return;
    }
    this.chunks.push(chunk);
    this.queued += chunk.byteLength;
    if (!this.isHolding && this.queued > BODY_HIGH_WATER) {
      this.isHolding = true;
      this.flow.hold();
    }
  }

  /** The body is complete: a reader gets what is queued, then the end. */
  end(): void {
    if (this.isEnded) return;
    this.isEnded = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve(DONE);
  }

  /** The request is gone (aborted, connection closed): a waiting or later read rejects with `error`. */
  fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.discard();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }

  /** Drops what is queued and stops holding the connection: the request is over. */
  discard(): void {
    this.chunks = [];
    this.queued = 0;
    this.isEnded = true;
    if (this.isHolding) {
      this.isHolding = false;
      this.flow.release();
    }
  }

  /** The next piece of the body. */
  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.chunks.length > 0) {
      const chunk = this.chunks.shift()!;
      this.queued -= chunk.byteLength;
      if (this.isHolding && this.queued <= BODY_HIGH_WATER / 2) {
        this.isHolding = false;
        this.flow.release();
      }
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.isEnded) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** The app stopped reading early: nothing more is kept. */
  return(): Promise<IteratorResult<Uint8Array>> {
    this.discard();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
