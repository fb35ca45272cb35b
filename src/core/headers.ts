// HeaderList: an ordered, case-insensitive list of response headers and its wire format
// (port of wsgiref.headers.Headers, renamed so it never shadows the Fetch `Headers` global).
import { show } from "./describe.ts";
import { BAD_FIELD_VALUE, CONTROL } from "./http-syntax.ts";
import type { HeaderPair } from "./types.ts";

// RFC 2045 tspecials plus whitespace: a parameter value holding one of these must be quoted.
const TSPECIALS = /[\s()<>@,;:\\"/[\]?=]/;
const NON_LATIN1 = /[^\x00-\xff]/;

function checkName(name: unknown): string {
  if (typeof name !== "string") throw new TypeError(`header name must be a string, got ${show(name)}`);
  if (CONTROL.test(name)) throw new TypeError(`control character in header name ${JSON.stringify(name)}`);
  return name;
}

function checkValue(value: unknown, name: string): string {
  if (typeof value !== "string") {
    throw new TypeError(`value of header ${JSON.stringify(name)} must be a string, got ${show(value)}`);
  }
  if (BAD_FIELD_VALUE.test(value)) {
    throw new TypeError(`control character in value of header ${JSON.stringify(name)}: ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Formats one header parameter as wsgiref's `_formatparam` does: a bare name when the value is
 * missing or empty, else `name="value"` (always when `quote`, otherwise only if a tspecial or
 * whitespace needs it) with `\` and `"` backslash-escaped inside the quotes.
 */
export function formatParam(param: string, value?: string | null, quote: boolean = true): string {
  if (value === undefined || value === null || value.length === 0) return param;
  if (!quote && !TSPECIALS.test(value)) return `${param}=${value}`;
  return `${param}="${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** Parameters for addHeader: a string gives `name="value"`; null, undefined or true a bare name. */
export type HeaderParams = Record<string, string | null | undefined | true>;

/**
 * An ordered, case-insensitive list of `[name, value]` pairs over an array it shares with the
 * caller (mutations show in that array), with the header-block wire format.
 */
export class HeaderList implements Iterable<HeaderPair> {
  #headers: HeaderPair[];

  /** Wraps `headers` by reference after checking every pair is two strings free of CR, LF and other controls. */
  constructor(headers: HeaderPair[] = []) {
    if (!Array.isArray(headers)) throw new TypeError("HeaderList needs an array of [name, value] pairs");
    for (const pair of headers as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new TypeError(`header must be a [name, value] pair, got ${show(pair)}`);
      }
      checkValue(pair[1], checkName(pair[0]));
    }
    this.#headers = headers;
  }

  /** The number of headers, duplicates included. */
  get length(): number {
    return this.#headers.length;
  }

  /** The first value of header `name` (any case), or `fallback` (undefined unless given) when absent. */
  get(name: string): string | undefined;
  get<T>(name: string, fallback: T): string | T;
  get<T>(name: string, fallback?: T): string | T | undefined {
    const wanted = checkName(name).toLowerCase();
    for (const [key, value] of this.#headers) {
      if (key.toLowerCase() === wanted) return value;
    }
    return fallback;
  }

  /** Every value of header `name` (any case), in order; empty when absent. */
  getAll(name: string): string[] {
    const wanted = checkName(name).toLowerCase();
    const values: string[] = [];
    for (const [key, value] of this.#headers) {
      if (key.toLowerCase() === wanted) values.push(value);
    }
    return values;
  }

  /** Whether header `name` (any case) is present. */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Removes every header `name` (any case); a missing header is not an error. */
  delete(name: string): void {
    const wanted = checkName(name).toLowerCase();
    let kept = 0;
    // Compact in place, so the caller's array sees the deletion.
    for (const pair of this.#headers) {
      if (pair[0].toLowerCase() !== wanted) this.#headers[kept++] = pair;
    }
    this.#headers.length = kept;
  }

  /** Replaces every header `name` with one `[name, value]` pair at the end. */
  set(name: string, value: string): void {
    const pair: HeaderPair = [checkName(name), checkValue(value, name)];
    this.delete(name);
    this.#headers.push(pair);
  }

  /** The first value of header `name`; when absent, appends `[name, value]` and returns `value`. */
  setDefault(name: string, value: string): string {
    const found = this.get(name);
    if (found !== undefined) return found;
    this.#headers.push([name, checkValue(value, name)]);
    return value;
  }

  /**
   * Appends header `name` with `value` (omitted when null) followed by `; param` parts, where
   * underscores in a parameter name become dashes, as in `addHeader("Content-Disposition",
   * "attachment", { filename: "a.gif" })`.
   */
  addHeader(name: string, value: string | null, params: HeaderParams = {}): void {
    checkName(name);
    const parts: string[] = [];
    if (value !== null) parts.push(checkValue(value, name));
    for (const [key, param] of Object.entries(params)) {
      const dashed = checkName(key).replaceAll("_", "-");
      if (param === null || param === undefined || param === true) parts.push(dashed);
      else parts.push(formatParam(dashed, checkValue(param, name)));
    }
    this.#headers.push([name, parts.join("; ")]);
  }

  /** The header names in order, duplicates included. */
  keys(): string[] {
    return this.#headers.map((pair) => pair[0]);
  }

  /** The header values in order. */
  values(): string[] {
    return this.#headers.map((pair) => pair[1]);
  }

  /** A copy of the pairs in order; changing it leaves the list alone. */
  items(): HeaderPair[] {
    return this.#headers.map(([key, value]): HeaderPair => [key, value]);
  }

  /** Iterates over the pairs in order. */
  [Symbol.iterator](): Iterator<HeaderPair> {
    return this.#headers[Symbol.iterator]();
  }

  /** The header block: one `Name: value\r\n` line per header, then the blank line `\r\n`. */
  toString(): string {
    let block = "";
    for (const [key, value] of this.#headers) block += `${key}: ${value}\r\n`;
    return block + "\r\n";
  }

  /** The header block as latin-1 bytes; throws a TypeError if any character is beyond U+00FF. */
  toBytes(): Uint8Array {
    const block = this.toString();
    const bad = NON_LATIN1.exec(block);
    // Buffer's latin1 encoder silently drops the high byte, which would corrupt the header.
    if (bad !== null) throw new TypeError(`header block has a character outside latin-1: ${JSON.stringify(bad[0])}`);
    return Buffer.from(block, "latin1");
  }
}
