// Templates: web.py's Templetor (web/template.py) as typed TypeScript. `html` is a tagged template
// whose values are escaped for where they sit; its result, an Html, renders at once when every
// value is ready and otherwise is a gw body that streams each part as it resolves, in order.
import { describe } from "../core/describe.ts";
import { escapeHtml } from "../core/util.ts";
import { RAW_TEXT, TAG, TEXT, UNQUOTED, kindsOf, where, type Kind } from "./template-positions.ts";

export { safeUrl } from "./template-positions.ts";

/**
 * A value `html` can render: text (escaped), a number or bigint, an Html (as it is), nothing
 * (null, undefined, false), an iterable of values, or a promise or async iterable of values (streamed).
 */
export type HtmlValue =
  | string | number | bigint | Html | null | undefined | false
  | Iterable<HtmlValue> | PromiseLike<HtmlValue> | AsyncIterable<HtmlValue>;

/**
 * The values a handler (or a processor) gives the layout, as `ctx.vars`: web.py's `$var`. An app
 * adds its own with `declare module "gw" { interface PageVars { user?: string } }`.
 */
export interface PageVars {
  /** The page title. */
  title?: string;
}

/** web.py's base layout: wraps each Html a handler returns, given the request's `ctx.vars`. */
export type Layout = (page: Html, vars: PageVars) => Html;

/** Templetor's `loop` inside each(): where the current item sits in the list. */
export interface Loop {
  /** The position, from 1. */
  readonly index: number;
  /** The position, from 0. */
  readonly index0: number;
  /** The number of items. */
  readonly length: number;
  /** Whether this is the first item. */
  readonly first: boolean;
  /** Whether this is the last item. */
  readonly last: boolean;
  /** Whether index (from 1) is odd. */
  readonly odd: boolean;
  /** Whether index (from 1) is even. */
  readonly even: boolean;
  /** "odd" or "even", for a CSS class. */
  readonly parity: "odd" | "even";
  /** Items left including this one: length for the first, 1 for the last. */
  readonly revindex: number;
  /** Items left after this one: 0 for the last. */
  readonly revindex0: number;
}

/** A value not ready yet: a promise or an async iterable, and where it sits. */
interface Pending {
  readonly value: PromiseLike<unknown> | AsyncIterable<unknown>;
  readonly kind: Kind;
  readonly isStream: boolean;
}

type Part = string | Pending;

const TOKEN = Symbol("gw.Html");
let make: (text: string, parts: Part[] | undefined) => Html;
let textOf: (page: Html) => string;
let partsOf: (page: Html) => readonly Part[] | undefined;

/**
 * The result of `html`, raw() and each(): escaped HTML text, immutable and reusable. Rendered
 * whole with toString() when every value was ready (see isAsync), with `await text()` always,
 * or as a gw body: an async iterable of chunks, one up to each value still pending.
 */
export class Html implements AsyncIterable<string> {
  // Private fields: nothing outside this module can change an Html, or forge one without raw().
  readonly #text: string;
  readonly #parts: readonly Part[] | undefined;

  static {
    make = (text, parts) => new Html(TOKEN, text, parts);
    textOf = (page) => page.#text;
    partsOf = (page) => page.#parts;
  }

  private constructor(token: typeof TOKEN, text: string, parts: Part[] | undefined) {
    if (token !== TOKEN) throw new TypeError("an Html is made by html``, raw() or each()");
    this.#text = text;
    this.#parts = parts;
  }

  /** Whether a promise or async iterable is inside, so only text() or streaming can render it. */
  get isAsync(): boolean {
    return this.#parts !== undefined;
  }

  /** The whole text; throws when the Html holds a pending value (use `await text()` then). */
  toString(): string {
    if (this.#parts !== undefined) throw new TypeError("this Html waits for a promise or async iterable: use `await page.text()`");
    return this.#text;
  }

  /** The whole text, once every pending value has resolved. */
  async text(): Promise<string> {
    if (this.#parts === undefined) return this.#text;
    let text = "";
    for await (const chunk of this) text += chunk;
    return text;
  }

  /** The chunks: the text up to each pending value, then what that value renders, in order. */
  [Symbol.asyncIterator](): AsyncIterator<string> {
    return this.#parts === undefined ? once(this.#text) : stream(this.#parts);
  }
}

function once(text: string): AsyncIterator<string> {
  let isDone = text === "";
  return {
    next: (): Promise<IteratorResult<string>> => {
      if (isDone) return Promise.resolve({ done: true, value: undefined });
      isDone = true;
      return Promise.resolve({ done: false, value: text });
    },
  };
}

// ---- rendering values ---------------------------------------------------------------------------------

/** Collects text and pending parts for one Html. */
class Builder {
  text: string;
  parts: Part[] | undefined = undefined;

  constructor(text: string) {
    this.text = text;
  }

  finish(): Html {
    const parts = this.parts;
    if (parts === undefined) return make(this.text, undefined);
    if (this.text !== "") parts.push(this.text);
    return make("", parts);
  }
}

function refuse(value: unknown, kind: Kind, strings: readonly string[] | undefined, index: number): never {
  const at = strings === undefined ? "" : ` ${where(strings, index)}`;
  if (kind === TAG) {
    throw new TypeError(`html: ${describe(value)}${at} sits where attribute names go, so text could add any attribute; pass raw("…") for markup you wrote, or put the value in quotes: name="\${…}"`);
  }
  if (kind === RAW_TEXT) {
    throw new TypeError(`html: ${describe(value)}${at} is inside <script> or <style>, where HTML escaping does not protect; pass raw(…) of text made safe for it, or a data- attribute`);
  }
  throw new TypeError(`html: cannot render ${describe(value)}${at}: pass a string, number, bigint, Html, null, undefined, false, an iterable, a promise or an async iterable of those`);
}

/** Adds one value to `out`: escaped, nested, iterated or left pending as `kind` requires. */
function add(out: Builder, value: unknown, kind: Kind, strings: readonly string[] | undefined, index: number): void {
  if (typeof value === "string") {
    if (kind === TEXT) out.text += escapeHtml(value);
    else if (kind === UNQUOTED) out.text += `"${escapeHtml(value)}"`;
    else refuse(value, kind, strings, index);
    return;
  }
  if (value instanceof Html) {
    const parts = partsOf(value);
    const quote = kind === UNQUOTED ? '"' : "";
    if (parts === undefined) {
      out.text += quote + textOf(value) + quote;
      return;
    }
    out.text += quote;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (typeof part === "string") out.text += part;
      else {
        (out.parts ??= []).push(out.text, part);
        out.text = "";
      }
    }
    out.text += quote;
    return;
  }
  if (value === null || value === undefined || value === false) {
    if (kind === UNQUOTED) out.text += '""';
    return;
  }
  if (typeof value === "number" || typeof value === "bigint") {
    if (kind === TAG) refuse(value, kind, strings, index);
    out.text += kind === UNQUOTED ? `"${value}"` : String(value);
    return;
  }
  if (typeof value === "object" || typeof value === "function") {
    const inner: Kind = kind === UNQUOTED ? TEXT : kind;
    if (kind === UNQUOTED) out.text += '"';
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) add(out, value[i], inner, strings, index);
    } else if (typeof (value as Partial<Iterable<unknown>>)[Symbol.iterator] === "function") {
      for (const item of value as Iterable<unknown>) add(out, item, inner, strings, index);
    } else if (typeof (value as Partial<PromiseLike<unknown>>).then === "function") {
      // Marked as handled now: a page that is never sent must not crash the process on a rejection.
      const promise = Promise.resolve(value as PromiseLike<unknown>);
      promise.then(undefined, ignore);
      pend(out, { value: promise, kind: inner, isStream: false });
    } else if (typeof (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === "function") {
      pend(out, { value: value as AsyncIterable<unknown>, kind: inner, isStream: true });
    } else {
      refuse(value, kind, strings, index);
    }
    if (kind === UNQUOTED) out.text += '"';
    return;
  }
  refuse(value, kind, strings, index);
}

function ignore(): void {}

function pend(out: Builder, pending: Pending): void {
  (out.parts ??= []).push(out.text, pending);
  out.text = "";
}

/**
 * Templetor's `$expr` as a tagged template: each value is escaped (`& < > " '`) unless it is an
 * Html (from `html`, raw() or each()); arrays and iterables concatenate; null, undefined and false
 * render nothing; promises and async iterables stream. A value right after `name=` is quoted; one
 * where attribute names go, or inside <script> or <style>, must be an Html.
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  const kinds = kindsOf(strings);
  let text = strings[0]!;
  // The common case inline: text and ready Html in element content or quoted attributes.
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (kinds[i] === TEXT) {
      if (typeof value === "string") {
        text += escapeHtml(value) + strings[i + 1]!;
        continue;
      }
      if (value instanceof Html && partsOf(value) === undefined) {
        text += textOf(value) + strings[i + 1]!;
        continue;
      }
      if (typeof value === "number") {
        text += value + strings[i + 1]!;
        continue;
      }
    }
    return htmlFrom(strings, values, kinds, i, text);
  }
  return make(text, undefined);
}

function htmlFrom(strings: TemplateStringsArray, values: readonly unknown[], kinds: readonly Kind[], from: number, text: string): Html {
  const out = new Builder(text);
  for (let i = from; i < values.length; i++) {
    add(out, values[i], kinds[i]!, strings, i);
    out.text += strings[i + 1]!;
  }
  return out.finish();
}

/** Templetor's `$:expr`: `text` as HTML, not escaped; only for markup you wrote or sanitised. */
export function raw(text: string): Html {
  if (typeof text !== "string") throw new TypeError(`raw() takes a string, not ${describe(text)}`);
  return make(text, undefined);
}

class LoopState implements Loop {
  readonly index0: number;
  readonly length: number;

  constructor(index0: number, length: number) {
    this.index0 = index0;
    this.length = length;
  }

  get index(): number {
    return this.index0 + 1;
  }

  get first(): boolean {
    return this.index0 === 0;
  }

  get last(): boolean {
    return this.index0 === this.length - 1;
  }

  get odd(): boolean {
    return this.index0 % 2 === 0;
  }

  get even(): boolean {
    return this.index0 % 2 === 1;
  }

  get parity(): "odd" | "even" {
    return this.index0 % 2 === 0 ? "odd" : "even";
  }

  get revindex(): number {
    return this.length - this.index0;
  }

  get revindex0(): number {
    return this.length - this.index0 - 1;
  }
}

/**
 * Templetor's `$for item in items:` with its `loop` and `$else`: renders `render(item, loop)`
 * for each item, or `otherwise` (a value, or a function giving one) when there are none.
 */
export function each<T>(items: Iterable<T>, render: (item: T, loop: Loop) => HtmlValue, otherwise?: HtmlValue | (() => HtmlValue)): Html {
  const list: readonly T[] = Array.isArray(items) ? items : Array.from(items);
  const length = list.length;
  if (length === 0) {
    const empty = typeof otherwise === "function" ? otherwise() : otherwise;
    if (empty instanceof Html) return empty;
    const out = new Builder("");
    add(out, empty, TEXT, undefined, 0);
    return out.finish();
  }
  const out = new Builder("");
  for (let i = 0; i < length; i++) {
    const value = render(list[i]!, new LoopState(i, length));
    if (value instanceof Html && partsOf(value) === undefined) out.text += textOf(value);
    else add(out, value, TEXT, undefined, i);
  }
  return out.finish();
}

// ---- streaming ------------------------------------------------------------------------------------

/** Renders a value that was pending once it is ready, where it sat. */
function rendered(value: unknown, kind: Kind): Html {
  if (value instanceof Html) return value;
  const out = new Builder("");
  add(out, value, kind, undefined, 0);
  return out.finish();
}

type Frame =
  | { readonly parts: readonly Part[]; index: number; readonly iterator?: undefined; readonly kind?: undefined }
  | { readonly parts?: undefined; index: number; readonly iterator: AsyncIterator<unknown>; readonly kind: Kind };

/**
 * The chunks of an Html with pending parts: the text up to each pending value goes out before the
 * wait, so a browser shows the top of a page while the slow part is still coming.
 */
async function* stream(root: readonly Part[]): AsyncGenerator<string, void, undefined> {
  const frames: Frame[] = [{ parts: root, index: 0 }];
  let buffer = "";
  try {
    while (frames.length > 0) {
      const frame = frames.at(-1)!;
      let next: Html;
      if (frame.iterator !== undefined) {
        if (buffer !== "") {
          yield buffer;
          buffer = "";
        }
        const step = await frame.iterator.next();
        if (step.done === true) {
          frames.pop();
          continue;
        }
        next = rendered(step.value, frame.kind);
      } else {
        if (frame.index === frame.parts.length) {
          frames.pop();
          continue;
        }
        const part = frame.parts[frame.index++]!;
        if (typeof part === "string") {
          buffer += part;
          continue;
        }
        if (part.isStream) {
          frames.push({ index: 0, iterator: (part.value as AsyncIterable<unknown>)[Symbol.asyncIterator](), kind: part.kind });
          continue;
        }
        if (buffer !== "") {
          yield buffer;
          buffer = "";
        }
        next = rendered(await part.value, part.kind);
      }
      const parts = partsOf(next);
      if (parts === undefined) buffer += textOf(next);
      else frames.push({ parts, index: 0 });
    }
    if (buffer !== "") yield buffer;
  } finally {
    // Stopped early (an error, or the client left): let open async iterables clean up.
    for (const frame of frames) {
      if (frame.iterator?.return !== undefined) await Promise.resolve(frame.iterator.return()).then(undefined, ignore);
    }
  }
}
