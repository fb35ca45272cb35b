// Where each value of an `html` template sits (element text, an attribute value, a tag, a script),
// found once per call site by a small HTML tokenizer over the template's static parts (the HTML
// Standard's tokenizer states, merged where they render a value alike); and safeUrl, for the one
// attribute value escaping cannot make safe.

/** Element content, a quoted attribute value or a comment: the value is escaped. */
export const TEXT = 0;
/** Right after `name=`: escaped and put in double quotes. */
export const UNQUOTED = 1;
/** Where attribute names go, a tag name, an end tag: only Html or nothing. */
export const TAG = 2;
/** Inside <script> or <style>, where entities mean nothing: no text. */
export const RAW_TEXT = 3;

/** How a value is rendered where it sits. */
export type Kind = typeof TEXT | typeof UNQUOTED | typeof TAG | typeof RAW_TEXT;

const LT = 60, GT = 62, QUOT = 34, APOS = 39;

// The tokenizer's states (HTML's own, merged where they render values alike).
const S = {
  DATA: 0, TAG_NAME: 1, IN_TAG: 2, ATTR_NAME: 3, AFTER_NAME: 4, BEFORE_VALUE: 5, DOUBLE: 6, SINGLE: 7,
  UNQUOTED_VALUE: 8, COMMENT: 9, DECLARATION: 10, END_TAG: 11, RAW: 12,
} as const;

const kindsCache = new WeakMap<TemplateStringsArray, readonly Kind[]>();
// One-entry memo in front of the WeakMap: a loop calls the same call site many times in a row.
let lastStrings: TemplateStringsArray | undefined;
let lastKinds: readonly Kind[] = [];

/** The kind of each value of a template, from its static parts; cached by the strings array, which is one object per call site. */
export function kindsOf(strings: TemplateStringsArray): readonly Kind[] {
  if (strings === lastStrings) return lastKinds;
  let kinds = kindsCache.get(strings);
  if (kinds === undefined) {
    kinds = scanKinds(strings);
    kindsCache.set(strings, kinds);
  }
  lastStrings = strings;
  lastKinds = kinds;
  return kinds;
}

const isSpace = (code: number): boolean => code === 32 || code === 9 || code === 10 || code === 12 || code === 13;
const isLetter = (code: number): boolean => (code | 32) >= 97 && (code | 32) <= 122;

/** A small HTML tokenizer over the static text: the state at each hole says how to render its value. */
function scanKinds(strings: readonly string[]): Kind[] {
  const kinds: Kind[] = [];
  let state: number = S.DATA;
  let tagName = "";
  let rawEnd = "";
  for (let index = 0; index < strings.length; index++) {
    const text = strings[index]!;
    if (index > 0) {
      const kind = kindAt(state, strings, index);
      kinds.push(kind);
      if (kind === UNQUOTED) state = S.IN_TAG;
    }
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      switch (state) {
        case S.DATA:
          if (code !== LT) break;
          if (text.startsWith("<!--", i)) { state = S.COMMENT; i += 3; }
          else if (text.charCodeAt(i + 1) === 47) state = S.END_TAG;
          else if (text.charCodeAt(i + 1) === 33 || text.charCodeAt(i + 1) === 63) state = S.DECLARATION;
          else if (isLetter(text.charCodeAt(i + 1)) || i + 1 === text.length) { state = S.TAG_NAME; tagName = ""; }
          break;
        case S.TAG_NAME:
          if (isSpace(code) || code === 47) state = S.IN_TAG;
          else if (code === GT) state = afterTag(tagName);
          else tagName += String.fromCharCode(code | 32);
          break;
        case S.IN_TAG:
          if (code === GT) state = afterTag(tagName);
          else if (!isSpace(code) && code !== 47) state = S.ATTR_NAME;
          break;
        case S.ATTR_NAME:
        case S.AFTER_NAME:
          if (code === 61) state = S.BEFORE_VALUE;
          else if (code === GT) state = afterTag(tagName);
          else if (code === 47) state = S.IN_TAG;
          else if (isSpace(code)) state = S.AFTER_NAME;
          else state = S.ATTR_NAME;
          break;
        case S.BEFORE_VALUE:
          if (code === QUOT) state = S.DOUBLE;
          else if (code === APOS) state = S.SINGLE;
          else if (code === GT) state = afterTag(tagName);
          else if (!isSpace(code)) state = S.UNQUOTED_VALUE;
          break;
        case S.DOUBLE:
          if (code === QUOT) state = S.IN_TAG;
          break;
        case S.SINGLE:
          if (code === APOS) state = S.IN_TAG;
          break;
        case S.UNQUOTED_VALUE:
          if (isSpace(code)) state = S.IN_TAG;
          else if (code === GT) state = afterTag(tagName);
          break;
        case S.COMMENT:
          if (text.startsWith("-->", i)) { state = S.DATA; i += 2; }
          break;
        case S.DECLARATION:
        case S.END_TAG:
          if (code === GT) state = S.DATA;
          break;
        case S.RAW:
          if (code === LT && text.slice(i + 2, i + 2 + rawEnd.length).toLowerCase() === rawEnd && text.charCodeAt(i + 1) === 47) state = S.END_TAG;
          break;
      }
      if (state === S.RAW && rawEnd === "") rawEnd = tagName;
      else if (state !== S.RAW) rawEnd = "";
    }
  }
  return kinds;
}

function afterTag(tagName: string): number {
  return tagName === "script" || tagName === "style" ? S.RAW : S.DATA;
}

function kindAt(state: number, strings: readonly string[], index: number): Kind {
  switch (state) {
    case S.DATA:
    case S.COMMENT:
    case S.DOUBLE:
    case S.SINGLE:
      return TEXT;
    case S.RAW:
      return RAW_TEXT;
    case S.BEFORE_VALUE: {
      const next = strings[index]!.charCodeAt(0);
      // The quotes gw adds must close before the tag goes on: `a=${x}>`, not `a=${x}b`.
      if (Number.isNaN(next) || isSpace(next) || next === GT || next === 47) return UNQUOTED;
      throw new TypeError(`html: the unquoted attribute value ${where(strings, index - 1)} goes on after the value; put it in quotes: name="…\${…}…"`);
    }
    case S.UNQUOTED_VALUE:
      throw new TypeError(`html: a value inside an unquoted attribute value ${where(strings, index - 1)}; put the attribute value in quotes: name="…\${…}…"`);
    default:
      return TAG;
  }
}

/** Names a value by the static text before it, for error messages. */
export function where(strings: readonly string[], index: number): string {
  const before = strings[index]!.slice(-30).replace(/\s+/g, " ");
  return `at \${…} #${index + 1} (after ${JSON.stringify(before)})`;
}

const SAFE_SCHEMES = new Set(["http", "https", "mailto", "tel"]);
const SCHEME = /^([a-z][a-z0-9+.-]*):/i;
// The URL parser drops these before it reads the scheme, so "java\tscript:" is javascript:.
const IGNORED_IN_URL = /[\t\n\r]/g;
const LEADING_CONTROL = /^[\u0000-\u0020]+/;

/** The URL itself when it is relative or http(s), mailto or tel; otherwise "about:invalid#unsafe-url" (for href and src). */
export function safeUrl(url: string): string {
  const scheme = SCHEME.exec(url.replace(IGNORED_IN_URL, "").replace(LEADING_CONTROL, ""));
  return scheme === null || SAFE_SCHEMES.has(scheme[1]!.toLowerCase()) ? url : "about:invalid#unsafe-url";
}
