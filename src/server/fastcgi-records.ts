// FastCGI 1.0 records (the specification's §3 and §8): the record header, name-value pairs, the
// bodies of the fixed-size records, and RecordReader, which cuts a byte stream into records.
import { Buffer } from "node:buffer";

/** The only protocol version (FastCGI §8). */
export const FCGI_VERSION_1 = 1;
/** Bytes in a record header. */
export const FCGI_HEADER_LEN = 8;
/** The most content one record can carry: its length is 16 bits. */
export const FCGI_MAX_CONTENT = 65535;
/** The request id of management records. */
export const FCGI_NULL_REQUEST_ID = 0;

/** Starts a request: role and flags. */
export const FCGI_BEGIN_REQUEST = 1;
/** The web server gives up on a request. */
export const FCGI_ABORT_REQUEST = 2;
/** The application ends a request: app and protocol status. */
export const FCGI_END_REQUEST = 3;
/** The request's CGI variables, a stream of name-value pairs. */
export const FCGI_PARAMS = 4;
/** The request body, a stream. */
export const FCGI_STDIN = 5;
/** The response, a stream. */
export const FCGI_STDOUT = 6;
/** Error text for the web server's log, a stream. */
export const FCGI_STDERR = 7;
/** A filter's file data, a stream (unused by responders). */
export const FCGI_DATA = 8;
/** A management query for the application's variables. */
export const FCGI_GET_VALUES = 9;
/** The answer to GET_VALUES. */
export const FCGI_GET_VALUES_RESULT = 10;
/** The answer to a management record of a type the application does not know. */
export const FCGI_UNKNOWN_TYPE = 11;

/** The BEGIN_REQUEST flag that asks the application to keep the connection after the request. */
export const FCGI_KEEP_CONN = 1;

/** The role that answers HTTP requests: the only one gw plays. */
export const FCGI_RESPONDER = 1;
/** The role that only allows or denies requests. */
export const FCGI_AUTHORIZER = 2;
/** The role that filters a file's data. */
export const FCGI_FILTER = 3;

/** END_REQUEST status: the request ran normally. */
export const FCGI_REQUEST_COMPLETE = 0;
/** END_REQUEST status: a second request on a connection that does not multiplex. */
export const FCGI_CANT_MPX_CONN = 1;
/** END_REQUEST status: the application is out of capacity. */
export const FCGI_OVERLOADED = 2;
/** END_REQUEST status: a role the application does not play. */
export const FCGI_UNKNOWN_ROLE = 3;

const EMPTY = Buffer.alloc(0);

/** Writes a record header into `target` at `offset`. */
export function writeHeader(target: Uint8Array, offset: number, type: number, requestId: number, contentLength: number, paddingLength: number = 0): void {
  target[offset] = FCGI_VERSION_1;
  target[offset + 1] = type;
  target[offset + 2] = requestId >>> 8;
  target[offset + 3] = requestId & 0xff;
  target[offset + 4] = contentLength >>> 8;
  target[offset + 5] = contentLength & 0xff;
  target[offset + 6] = paddingLength;
  target[offset + 7] = 0;
}

/** Padding that brings `contentLength` to a multiple of 8, as the specification recommends. */
export function paddingFor(contentLength: number): number {
  return -contentLength & 7;
}

/** One record, header, content and padding, in a buffer of its own; content up to 65535 bytes. */
export function encodeRecord(type: number, requestId: number, content: Uint8Array = EMPTY): Buffer {
  if (content.byteLength > FCGI_MAX_CONTENT) throw new RangeError(`a record holds at most ${FCGI_MAX_CONTENT} bytes, not ${content.byteLength}`);
  const padding = paddingFor(content.byteLength);
  const out = Buffer.allocUnsafe(FCGI_HEADER_LEN + content.byteLength + padding);
  writeHeader(out, 0, type, requestId, content.byteLength, padding);
  out.set(content, FCGI_HEADER_LEN);
  out.fill(0, FCGI_HEADER_LEN + content.byteLength);
  return out;
}

/**
 * A stream's bytes (STDIN, STDOUT, STDERR...) as records of at most 65535 bytes each, appended to
 * `out`; a large payload is not copied: each record is its header and a slice of `data`.
 */
export function encodeStream(type: number, requestId: number, data: Uint8Array, out: Uint8Array[]): void {
  let offset = 0;
  do {
    const length = Math.min(FCGI_MAX_CONTENT, data.byteLength - offset);
    const header = Buffer.allocUnsafe(FCGI_HEADER_LEN);
    writeHeader(header, 0, type, requestId, length);
    out.push(header);
    if (length > 0) out.push(data.subarray(offset, offset + length));
    offset += length;
  } while (offset < data.byteLength);
}

/** The content of a BEGIN_REQUEST record (§5.1). */
export function encodeBeginRequestBody(role: number, flags: number): Buffer {
  return Buffer.from([role >>> 8, role & 0xff, flags, 0, 0, 0, 0, 0]);
}

/** A BEGIN_REQUEST record's role and flags; a message when the content is not 8 bytes. */
export function parseBeginRequestBody(content: Uint8Array): { role: number; flags: number } | string {
  if (content.byteLength !== 8) return `BEGIN_REQUEST with ${content.byteLength} bytes of content, not 8`;
  return { role: (content[0]! << 8) | content[1]!, flags: content[2]! };
}

/** A whole END_REQUEST record (§5.5). */
export function encodeEndRequest(requestId: number, appStatus: number, protocolStatus: number): Buffer {
  const out = Buffer.allocUnsafe(16);
  writeEndRequest(out, 0, requestId, appStatus, protocolStatus);
  return out;
}

/** Writes a whole END_REQUEST record (16 bytes) into `target` at `offset`. */
export function writeEndRequest(target: Uint8Array, offset: number, requestId: number, appStatus: number, protocolStatus: number): void {
  writeHeader(target, offset, FCGI_END_REQUEST, requestId, 8);
  const at = offset + FCGI_HEADER_LEN;
  target[at] = appStatus >>> 24;
  target[at + 1] = (appStatus >>> 16) & 0xff;
  target[at + 2] = (appStatus >>> 8) & 0xff;
  target[at + 3] = appStatus & 0xff;
  target[at + 4] = protocolStatus;
  target[at + 5] = 0;
  target[at + 6] = 0;
  target[at + 7] = 0;
}

/** An END_REQUEST record's statuses; a message when the content is not 8 bytes. */
export function parseEndRequestBody(content: Uint8Array): { appStatus: number; protocolStatus: number } | string {
  if (content.byteLength !== 8) return `END_REQUEST with ${content.byteLength} bytes of content, not 8`;
  const appStatus = ((content[0]! << 24) | (content[1]! << 16) | (content[2]! << 8) | content[3]!) >>> 0;
  return { appStatus, protocolStatus: content[4]! };
}

/** The UNKNOWN_TYPE record that answers a management record of type `type` (§4.2). */
export function encodeUnknownType(type: number): Buffer {
  return encodeRecord(FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, Buffer.from([type, 0, 0, 0, 0, 0, 0, 0]));
}

function lengthSize(length: number): number {
  return length < 128 ? 1 : 4;
}

function writeLength(out: Buffer, at: number, length: number): number {
  if (length < 128) {
    out[at] = length;
    return at + 1;
  }
  out.writeUInt32BE((length | 0x80000000) >>> 0, at);
  return at + 4;
}

/**
 * Name-value pairs (§3.4): each length in 1 byte below 128, else in 4 with the high bit set.
 * Strings are written as latin-1, one byte a char, as the environ reads them back.
 */
export function encodePairs(pairs: Iterable<readonly [string | Uint8Array, string | Uint8Array]>): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  for (const [name, value] of pairs) {
    const nameBytes = typeof name === "string" ? Buffer.from(name, "latin1") : Buffer.from(name);
    const valueBytes = typeof value === "string" ? Buffer.from(value, "latin1") : Buffer.from(value);
    const head = Buffer.allocUnsafe(lengthSize(nameBytes.length) + lengthSize(valueBytes.length));
    writeLength(head, writeLength(head, 0, nameBytes.length), valueBytes.length);
    parts.push(head, nameBytes, valueBytes);
    total += head.length + nameBytes.length + valueBytes.length;
  }
  return Buffer.concat(parts, total);
}

/** Bytes as a latin-1 string, one char a byte. */
export function latin1(data: Uint8Array, start: number, end: number): string {
  // An empty value is common (CONTENT_TYPE, SCRIPT_NAME); Buffer's slice is a call into C++.
  if (start === end) return "";
  return Buffer.prototype.latin1Slice.call(data, start, end) as string;
}

/**
 * Reads the name-value pairs of `data` (a whole PARAMS stream or GET_VALUES content), calling
 * `onPair` with both as latin-1 strings; returns a message when a length runs past the end.
 */
export function readPairs(data: Uint8Array, onPair: (name: string, value: string) => void): string | undefined {
  const end = data.byteLength;
  let at = 0;
  while (at < end) {
    let nameLength = data[at]!;
    if (nameLength < 128) at += 1;
    else if (at + 4 <= end) {
      nameLength = ((nameLength & 0x7f) << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!;
      at += 4;
    } else return "a name-value pair's name length runs past the end of its stream";
    if (at >= end) return "a name-value pair has no value length";
    let valueLength = data[at]!;
    if (valueLength < 128) at += 1;
    else if (at + 4 <= end) {
      valueLength = ((valueLength & 0x7f) << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!;
      at += 4;
    } else return "a name-value pair's value length runs past the end of its stream";
    const valueStart = at + nameLength;
    const valueEnd = valueStart + valueLength;
    if (valueEnd > end) return `a name-value pair of ${nameLength} + ${valueLength} bytes runs past the end of its stream`;
    onPair(latin1(data, at, valueStart), latin1(data, valueStart, valueEnd));
    at = valueEnd;
  }
  return undefined;
}

/** Receives one record: its type, request id and content (valid only during the call). */
export type RecordHandler = (type: number, requestId: number, content: Buffer) => string | undefined;

const HEADER = 0;
const CONTENT = 1;
const PADDING = 2;

/**
 * Cuts a connection's bytes into records. Content that lies whole in one chunk is handed over as
 * a slice of it; only a record split between chunks is assembled, into one buffer of its size.
 */
export class RecordReader {
  private readonly onRecord: RecordHandler;
  private readonly header = Buffer.alloc(FCGI_HEADER_LEN);
  private state = HEADER;
  private filled = 0;
  private type = 0;
  private requestId = 0;
  private contentLength = 0;
  private paddingLength = 0;
  private content: Buffer = EMPTY;
  private error: string | undefined;

  /** `onRecord` gets each record; a message it returns stops the reader, and push returns it. */
  constructor(onRecord: RecordHandler) {
    this.onRecord = onRecord;
  }

  /** Whether the reader stands between records (a connection may end cleanly only there). */
  get isBetweenRecords(): boolean {
    return this.state === HEADER && this.filled === 0;
  }

  /** Reads a chunk; returns a message once the stream is malformed (then every later push returns it). */
  push(chunk: Buffer): string | undefined {
    if (this.error !== undefined) return this.error;
    const end = chunk.length;
    let at = 0;
    while (at < end) {
      if (this.state === HEADER) {
        if (this.filled === 0 && end - at >= FCGI_HEADER_LEN) {
          this.#startRecord(chunk, at);
          at += FCGI_HEADER_LEN;
        } else {
          const take = Math.min(FCGI_HEADER_LEN - this.filled, end - at);
          chunk.copy(this.header, this.filled, at, at + take);
          this.filled += take;
          at += take;
          if (this.filled < FCGI_HEADER_LEN) return undefined;
          this.#startRecord(this.header, 0);
        }
        if (this.error !== undefined) return this.error;
        if (this.contentLength === 0) {
          if (this.#emit(EMPTY) !== undefined) return this.error;
          continue;
        }
        this.state = CONTENT;
        this.filled = 0;
      }
      if (this.state === CONTENT) {
        const need = this.contentLength - this.filled;
        if (this.filled === 0 && end - at >= need) {
          // The whole content is in this chunk: hand over a slice, no copy.
          const content = chunk.subarray(at, at + need);
          at += need;
          if (this.#emit(content) !== undefined) return this.error;
          continue;
        }
        if (this.filled === 0) this.content = Buffer.allocUnsafe(this.contentLength);
        const take = Math.min(need, end - at);
        chunk.copy(this.content, this.filled, at, at + take);
        this.filled += take;
        at += take;
        if (this.filled < this.contentLength) return undefined;
        const content = this.content;
        this.content = EMPTY;
        if (this.#emit(content) !== undefined) return this.error;
        continue;
      }
      const skip = Math.min(this.paddingLength - this.filled, end - at);
      this.filled += skip;
      at += skip;
      if (this.filled === this.paddingLength) {
        this.state = HEADER;
        this.filled = 0;
      }
    }
    return undefined;
  }

  #startRecord(source: Uint8Array, at: number): void {
    const version = source[at]!;
    if (version !== FCGI_VERSION_1) {
      this.error = `a record of protocol version ${version}, not ${FCGI_VERSION_1}`;
      return;
    }
    this.type = source[at + 1]!;
    this.requestId = (source[at + 2]! << 8) | source[at + 3]!;
    this.contentLength = (source[at + 4]! << 8) | source[at + 5]!;
    this.paddingLength = source[at + 6]!;
  }

  /** Hands one record over, then moves on to its padding (or the next header). */
  #emit(content: Buffer): string | undefined {
    this.state = this.paddingLength > 0 ? PADDING : HEADER;
    this.filled = 0;
    const error = this.onRecord(this.type, this.requestId, content);
    if (error !== undefined) this.error = error;
    return error;
  }
}
