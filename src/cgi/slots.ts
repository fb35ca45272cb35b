// The limit on CGI scripts running at once: a counting semaphore whose waiters are served in order.

/** A counting semaphore with a FIFO queue: the limit on scripts running at once. */
export class Slots {
  #free: number;
  readonly #waiting = new Set<() => void>();
  /** A semaphore with `size` free slots. */
  constructor(size: number) {
    this.#free = size;
  }
  /** Takes a slot now (undefined) or returns a promise that resolves when one is handed over. */
  take(onQueued: (wake: () => void) => void): Promise<void> | undefined {
    if (this.#free > 0) {
      this.#free--;
      return undefined;
    }
    return new Promise((resolve) => {
      this.#waiting.add(resolve);
      onQueued(resolve);
    });
  }
  /** Gives a slot back, straight to the longest waiter if there is one. */
  give(): void {
    for (const next of this.#waiting) {
      this.#waiting.delete(next);
      next();
      return;
    }
    this.#free++;
  }
  /** Removes a waiter; true when it was still waiting (and so holds no slot). */
  forget(waiter: () => void): boolean {
    return this.#waiting.delete(waiter);
  }
}
