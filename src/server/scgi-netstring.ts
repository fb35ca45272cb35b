// SCGI 1 request heads (python.ca/scgi/protocol.txt): a netstring of NUL-terminated names and
// values, CONTENT_LENGTH first, read incrementally and checked strictly before any app runs.
import { Buffer } from "node:buffer";
import { latin1 } from "./fastcgi-records.ts";

/** The longest head read by default: nginx sends a few KiB, big cookies a few more. @default 65536 */
export const SCGI_MAX_HEAD: number = 64 * 1024;

const COLON = 0x3a;
const COMMA = 0x2c;
// The length prefix of a netstring holding at most 2^53 bytes; a head's real bound is maxHead.
const MAX_DIGITS = 15;

/** A request head: its header pairs (flat: name, value, name, value...), body length and first body bytes. */
export interface ScgiHead {
  /** Names and values as latin-1 strings, in the order sent, flat. */
  pairs: string[];
  /** CONTENT_LENGTH: the body's length in bytes. */
  contentLength: number;
  /** Bytes after the head that came in the same chunk: the start of the body (may run past it). */
  rest: Buffer;
}

/**
 * Reads one SCGI request head from a connection's first chunks. push() returns undefined while
 * more bytes are needed, the head once complete, or a message for a malformed or oversized head.
 */
export class ScgiHeadReader {
  private readonly maxHead: number;
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private length = -1;
  private prefixLength = 0;
  private result: ScgiHead | string | undefined;

  /** `maxHead` bounds the netstring's content. @default SCGI_MAX_HEAD */
  constructor(maxHead: number = SCGI_MAX_HEAD) {
    this.maxHead = maxHead;
  }

  /** Reads a chunk; once a head or an error is returned, it is returned again for any later push. */
  push(chunk: Buffer): ScgiHead | string | undefined {
    if (this.result !== undefined) return this.result;
    // Chunks are kept as they come and joined once: concatenating on each push would cost
    // quadratic time on a client that trickles its head a byte at a time.
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.length < 0) {
      const prefix = this.#readPrefix();
      if (typeof prefix === "string") return (this.result = prefix);
      if (prefix === undefined) return undefined;
    }
    // The content, then the closing comma.
    if (this.received < this.prefixLength + this.length + 1) return undefined;
    const data = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.received);
    this.chunks.length = 0;
    const contentEnd = this.prefixLength + this.length;
    if (data[contentEnd] !== COMMA) return (this.result = `the SCGI head's netstring does not end in ',' after ${this.length} bytes`);
    const head = parseHeaders(data.subarray(this.prefixLength, contentEnd));
    if (typeof head === "string") return (this.result = head);
    return (this.result = { pairs: head.pairs, contentLength: head.contentLength, rest: data.subarray(contentEnd + 1) });
  }

  /** Reads the "<digits>:" prefix: undefined until the colon arrives, or a message. */
  #readPrefix(): number | string | undefined {
    let length = 0;
    let at = 0;
    for (const chunk of this.chunks) {
      for (let i = 0; i < chunk.length; i++, at++) {
        const byte = chunk[i]!;
        if (byte === COLON) {
          if (at === 0) return "the SCGI head does not start with a length";
          if (length > this.maxHead) return `the SCGI head is ${length} bytes, more than the limit of ${this.maxHead}`;
          this.length = length;
          this.prefixLength = at + 1;
          return length;
        }
        const digit = byte - 0x30;
        if (digit < 0 || digit > 9) return `the SCGI head starts with ${JSON.stringify(String.fromCharCode(byte))} where a length digit or ':' belongs`;
        // Netstrings forbid leading zeros; a 0-byte head is no SCGI head either, as it lacks CONTENT_LENGTH.
        if (at === 0 && digit === 0) return "the SCGI head's length starts with 0";
        if (at >= MAX_DIGITS) return "the SCGI head's length has too many digits";
        length = length * 10 + digit;
      }
    }
    if (length > this.maxHead) return `the SCGI head is ${length} bytes, more than the limit of ${this.maxHead}`;
    return undefined;
  }
}

/**
 * The netstring's content: NUL-terminated name and value pairs, CONTENT_LENGTH first with a
 * value of digits, an SCGI header of "1", no empty name and no second CONTENT_LENGTH.
 */
function parseHeaders(content: Buffer): { pairs: string[]; contentLength: number } | string {
  if (content.length === 0 || content[content.length - 1] !== 0) return "the SCGI head's last header does not end in NUL";
  const pairs: string[] = [];
  let contentLength = -1;
  let hasScgi = false;
  let at = 0;
  while (at < content.length) {
    const nameEnd = content.indexOf(0, at);
    if (nameEnd === at) return "the SCGI head has an empty header name";
    if (nameEnd === content.length - 1) return "the SCGI head's last header has a name and no value";
    const valueEnd = content.indexOf(0, nameEnd + 1);
    const name = latin1(content, at, nameEnd);
    const value = latin1(content, nameEnd + 1, valueEnd);
    if (pairs.length === 0) {
      if (name !== "CONTENT_LENGTH") return `the SCGI head starts with ${JSON.stringify(name)}, not CONTENT_LENGTH`;
      // Digits only, as for a netstring's length; leading zeros are harmless here.
      if (!/^[0-9]{1,15}$/.test(value)) return `the SCGI head's CONTENT_LENGTH is ${JSON.stringify(value)}, not a number of bytes`;
      contentLength = Number(value);
    } else if (name === "CONTENT_LENGTH") {
      // The first one frames the body; a second one could tell the app another length.
      return "the SCGI head has a second CONTENT_LENGTH";
    } else if (name === "SCGI") {
      if (value !== "1") return `the SCGI head's SCGI header is ${JSON.stringify(value)}, not "1"`;
      hasScgi = true;
    }
    pairs.push(name, value);
    at = valueEnd + 1;
  }
  if (!hasScgi) return "the SCGI head has no SCGI header";
  return { pairs, contentLength };
}

/** Encodes an SCGI request head (for clients and tests): CONTENT_LENGTH first, then SCGI=1 and `headers`. */
export function encodeScgiHead(contentLength: number, headers: Iterable<readonly [string, string]> = []): Buffer {
  let text = `CONTENT_LENGTH\0${contentLength}\0SCGI\x001\0`;
  for (const [name, value] of headers) text += `${name}\0${value}\0`;
  const content = Buffer.from(text, "latin1");
  return Buffer.concat([Buffer.from(`${content.length}:`, "latin1"), content, Buffer.from(",", "latin1")]);
}
