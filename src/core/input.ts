// gw.input and gw.errors: the request body as a lazy byte stream, and the error text sink
// (PEP 3333 "Input and Error Streams", adapted to promises).
import type { ErrorStream, InputStream } from "./types.ts";

const EMPTY = new Uint8Array(0);
const NEWLINE = 0x0a;

/**
 * The request body as gw.input. Nothing is read from the source until the app asks, and a
 * source is pulled one chunk at a time, so a slow app applies backpressure to the client.
 */
export class BodyInput implements InputStream {
  // Plain private fields and methods, not #names: one BodyInput is made per request, V8 defines
  // #fields through a slower generic path, and #methods add a brand to every instance.
  private source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  private iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array> | undefined;
  private buffer: Uint8Array = EMPTY;
  private remaining: number;
  private isDone = false;

  /** `limit` caps the bytes read (CONTENT_LENGTH for CGI stdin); omit it to read to the end. */
  constructor(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, limit: number = Infinity) {
    this.source = source;
    this.remaining = limit;
    if (limit <= 0) this.isDone = true;
  }

  /** Pulls one more chunk into the buffer; false at the end of the body. */
  private async fill(): Promise<boolean> {
    if (this.isDone) return false;
    if (this.iterator === undefined) {
      const source = this.source as Partial<AsyncIterable<Uint8Array>> & Partial<Iterable<Uint8Array>>;
      this.iterator = source[Symbol.asyncIterator]?.() ?? source[Symbol.iterator]!();
    }
    for (;;) {
      const step = await this.iterator.next();
      if (step.done) {
        this.isDone = true;
        return false;
      }
      let chunk = typeof step.value === "string" ? Buffer.from(step.value) : step.value;
      if (chunk.byteLength === 0) continue;
      if (chunk.byteLength >= this.remaining) {
        chunk = chunk.subarray(0, this.remaining);
        this.isDone = true;
        // A capped source (CGI stdin) may hold more; stop reading it without consuming further.
        void this.iterator.return?.();
      }
      this.remaining -= chunk.byteLength;
      this.buffer = this.buffer.byteLength === 0 ? chunk : concat(this.buffer, chunk);
      return true;
    }
  }

  private take(size: number): Uint8Array {
    const out = this.buffer.subarray(0, size);
    this.buffer = this.buffer.subarray(size);
    return out;
  }

  /** Reads up to `size` bytes; all that is left when size is omitted or negative. */
  async read(size?: number): Promise<Uint8Array> {
    const limit = size === undefined || size < 0 ? Infinity : size;
    if (limit === 0) return EMPTY;
    while (this.buffer.byteLength < limit && (await this.fill()));
    return this.take(Math.min(limit, this.buffer.byteLength));
  }

  /** Reads one line, "\n" included, of at most `size` bytes; an empty array at the end. */
  async readline(size?: number): Promise<Uint8Array> {
    const limit = size === undefined || size < 0 ? Infinity : size;
    if (limit === 0) return EMPTY;
    let scanned = 0;
    for (;;) {
      const at = this.buffer.indexOf(NEWLINE, scanned);
      if (at !== -1 && at < limit) return this.take(at + 1);
      if (this.buffer.byteLength >= limit) return this.take(limit);
      scanned = this.buffer.byteLength;
      if (!(await this.fill())) return this.take(this.buffer.byteLength);
    }
  }

  /** Reads the remaining lines; stops once `hint` bytes are read when a positive hint is given. */
  async readlines(hint?: number): Promise<Uint8Array[]> {
    const lines: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const line = await this.readline();
      if (line.byteLength === 0) return lines;
      lines.push(line);
      total += line.byteLength;
      if (hint !== undefined && hint > 0 && total >= hint) return lines;
    }
  }

  /** Yields the body in the chunks it arrives in. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.buffer.byteLength > 0) yield this.take(this.buffer.byteLength);
    while (await this.fill()) yield this.take(this.buffer.byteLength);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

/** gw.input over a fixed byte string (tests, setupTestingDefaults). */
export function inputFromBytes(data: Uint8Array | string = EMPTY): BodyInput {
  return new BodyInput([typeof data === "string" ? Buffer.from(data) : data]);
}

/** A writable that accepts text; the minimal shape gw.errors needs from its sink. */
export interface TextSink {
  write(text: string): unknown;
}

/** gw.errors over a stream such as process.stderr or a server's log stream. */
export class ErrorOutput implements ErrorStream {
  #sink: TextSink;

  constructor(sink: TextSink) {
    this.#sink = sink;
  }

  /** Writes error text as it is. */
  write(text: string): void {
    this.#sink.write(text);
  }

  /** Writes each string in turn, adding no newlines (PEP 3333 writelines). */
  writelines(lines: Iterable<string>): void {
    for (const line of lines) this.#sink.write(line);
  }

  /** Nothing is held back, so there is nothing to flush. */
  flush(): void {}
}
