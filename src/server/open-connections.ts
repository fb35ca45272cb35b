// The connections a front behind a web server (FastCGI, SCGI) has open, and its graceful
// shutdown: stop accepting, close the idle ones, wait for the busy ones, cut what is left late.
import type { Server } from "node:net";

/** How drain() closes connections. */
export interface DrainOptions<C> {
  /** Milliseconds in-flight requests get before every connection is cut. */
  timeout: number;
  /**
   * Milliseconds before idle connections are closed. A draining worker has just accepted
   * connections whose request is still on its way: closing those at once would lose a request
   * the web server already sent. @default 0
   */
  idleGrace?: number;
  /** Whether a connection not marked busy is idle now. @default every one is */
  isIdle?: (connection: C) => boolean;
  /** Closes an idle connection. */
  closeIdle: (connection: C) => void;
  /** Cuts a connection once the timeout is over. */
  destroy: (connection: C) => void;
}

/** A front's open connections, each with whether a request runs on it; made once a server. */
export class OpenConnections<C> {
  readonly #busy = new Map<C, boolean>();
  #onEmpty: (() => void) | undefined;

  /** How many are open. */
  get size(): number {
    return this.#busy.size;
  }

  /** Adds a new connection, idle. */
  add(connection: C): void {
    this.#busy.set(connection, false);
  }

  /** Marks a connection as serving a request: drain() waits for it rather than closing it. */
  markBusy(connection: C): void {
    this.#busy.set(connection, true);
  }

  /** Forgets a closed connection; the last one lets a waiting drain() finish. */
  delete(connection: C): void {
    this.#busy.delete(connection);
    if (this.#busy.size === 0) this.#onEmpty?.();
  }

  /**
   * Closes `listener`, closes idle connections (after the grace), cuts every connection left
   * after the timeout, and resolves once the listener and every connection are closed.
   */
  async drain(listener: Server, options: DrainOptions<C>): Promise<void> {
    const { timeout, idleGrace = 0, isIdle, closeIdle, destroy } = options;
    const listenerClosed = new Promise<void>((resolve) => listener.close(() => resolve()));
    const closeIdleOnes = (): void => {
      for (const [connection, isBusy] of this.#busy) if (!isBusy && (isIdle === undefined || isIdle(connection))) closeIdle(connection);
    };
    const grace = idleGrace > 0 ? setTimeout(closeIdleOnes, Math.min(idleGrace, timeout)) : undefined;
    if (grace === undefined) closeIdleOnes();
    const empty = this.#busy.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.#onEmpty = resolve));
    const timer = setTimeout(() => {
      for (const connection of this.#busy.keys()) destroy(connection);
    }, timeout);
    timer.unref();
    await Promise.all([listenerClosed, empty]);
    clearTimeout(timer);
    clearTimeout(grace);
  }
}
