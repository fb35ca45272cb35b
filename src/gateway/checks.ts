// The checks a handler makes on what an app hands it (PEP 3333 "The start_response() Callable"):
// the status, each header pair, each body chunk. Apps send the same literals on every response,
// so the last status and the pair at each of the first 16 positions are remembered, and a repeat
// costs a comparison; resetChecks() is for tests.
// Imported, not the global: node's global Buffer is a getter, a call on every use.
import { Buffer } from "node:buffer";
import { describe } from "../core/describe.ts";
import { ProtocolError } from "../core/errors.ts";
import { BAD_LATIN1_FIELD_VALUE, isHopByHop, TOKEN } from "../core/http-syntax.ts";
import type { Chunk } from "../core/types.ts";

const DIGITS = /^[0-9]+$/;

/** A chunk's size in bytes (a string counts as UTF-8). */
export function byteLength(chunk: Chunk): number {
  return typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
}

/** The chunk itself if it is a Uint8Array or a string; a ProtocolError otherwise. */
export function checkChunk(chunk: unknown): Chunk {
  if (typeof chunk === "string" || chunk instanceof Uint8Array) return chunk;
  throw new ProtocolError(`a body chunk must be a Uint8Array or a string, not ${describe(chunk)}`);
}

function digit(text: string, at: number): number {
  const value = text.charCodeAt(at) - 0x30;
  return value >= 0 && value <= 9 ? value : NaN;
}

// The last status that passed, kept as a valid pair from the start: a start such as "" would let an app's "" through.
let lastStatus = "200 OK";
let lastCode = 200;

/** Parses "200 OK" into 200; PEP 3333: three digits, a space, then the reason phrase. */
export function parseStatus(status: unknown): number {
  if (status === lastStatus) return lastCode;
  if (typeof status === "string" && status.length >= 4 && status.charCodeAt(3) === 0x20) {
    const code = digit(status, 0) * 100 + digit(status, 1) * 10 + digit(status, 2);
    if (code >= 100 && !BAD_LATIN1_FIELD_VALUE.test(status)) {
      lastStatus = status;
      lastCode = code;
      return code;
    }
  }
  throw new ProtocolError(`status must be 3 digits from 100, a space and a latin-1 reason without control characters, like "200 OK" (got ${JSON.stringify(status)})`);
}

// The pair that passed at each position: an app that sends the same literals each time skips the
// checks. (Sets of every name and value that passed paid nothing measurable: docs/PERFORMANCE.md.)
const lastNames: string[] = [];
const lastValues: string[] = [];

/** Checks the header pair at position `at` of a startResponse call: a token name, a latin-1 value without controls. */
function checkPair(at: number, name: string, value: string): void {
  if (at < lastNames.length && lastNames[at] === name && lastValues[at] === value) return;
  if (!TOKEN.test(name)) throw new ProtocolError(`header name ${JSON.stringify(name)} is not an HTTP token`);
  if (BAD_LATIN1_FIELD_VALUE.test(value)) throw new ProtocolError(`header ${name} has a control character or a character above U+00FF in its value`);
  // Positions fill in order from 0, so the arrays never have holes.
  if (at < 16) {
    lastNames[at] = name;
    lastValues[at] = value;
  }
}

/** What checkHeaders found out about a header list. */
export interface HeaderFacts {
  /** The app's Content-Length, or -1 when it set none. */
  declaredLength: number;
  /** Whether the app set a Server header. */
  hasServer: boolean;
}

// One record, refilled by each call and read at once by the caller: no allocation per request.
const facts: HeaderFacts = { declaredLength: -1, hasServer: false };

/** Checks the headers a startResponse call got (pairs of latin-1 strings, no hop-by-hop) and what they declare. */
export function checkHeaders(headers: unknown): Readonly<HeaderFacts> {
  if (!Array.isArray(headers)) throw new ProtocolError(`headers must be an array of [name, value] pairs, not ${describe(headers)}`);
  let declared = -1;
  let hasServer = false;
  // Indexed loops, no destructuring: this runs per request and array iterators cost there.
  for (let i = 0; i < headers.length; i++) {
    const pair = headers[i] as unknown;
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new ProtocolError(`each header must be a [name, value] pair, not ${describe(pair)}`);
    }
    const name = pair[0] as unknown;
    const value = pair[1] as unknown;
    if (typeof name !== "string" || typeof value !== "string") {
      throw new ProtocolError(`header names and values must be strings (got [${typeof name}, ${typeof value}])`);
    }
    checkPair(i, name, value);
    const length = name.length;
    if (length === 14 && name.toLowerCase() === "content-length") {
      if (!DIGITS.test(value)) throw new ProtocolError(`Content-Length must be a whole number (got ${JSON.stringify(value)})`);
      const bytes = Number(value);
      // Two lengths that disagree make the response unreadable (RFC 9112, section 6.3).
      if (declared >= 0 && bytes !== declared) throw new ProtocolError(`two Content-Length headers disagree (${declared} and ${bytes})`);
      declared = bytes;
    } else if (length === 6 && name.toLowerCase() === "server") {
      hasServer = true;
    } else if (isHopByHop(name)) {
      throw new ProtocolError(`hop-by-hop header ${name} is the server's business, not the app's (PEP 3333)`);
    }
  }
  facts.declaredLength = declared;
  facts.hasServer = hasServer;
  return facts;
}

/** Forgets what passed, so a test starts from nothing remembered. */
export function resetChecks(): void {
  lastStatus = "200 OK";
  lastCode = 200;
  lastNames.length = 0;
  lastValues.length = 0;
}
