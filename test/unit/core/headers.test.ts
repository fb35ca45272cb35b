import { describe, expect, test } from "vitest";
import { HeaderList, formatParam } from "../../../src/core/headers.ts";
import type { HeaderPair } from "../../../src/core/types.ts";

describe("HeaderList construction", () => {
  test("counts pairs, duplicates included", () => {
    expect(new HeaderList().length).toBe(0);
    expect(new HeaderList([]).length).toBe(0);
    expect(new HeaderList([["x", "y"], ["X", "z"]]).length).toBe(2);
  });

  test("rejects anything but an array of string pairs, naming the bad pair", () => {
    expect(() => new HeaderList("foo" as unknown as HeaderPair[])).toThrow(TypeError);
    expect(() => new HeaderList([["x", 1]] as unknown as HeaderPair[])).toThrow(/"x".*got 1/);
    expect(() => new HeaderList([[2, "y"]] as unknown as HeaderPair[])).toThrow(/name must be a string, got 2/);
    expect(() => new HeaderList([["x"]] as unknown as HeaderPair[])).toThrow(/\[name, value\] pair, got \["x"\]/);
    expect(() => new HeaderList([["x", "y", "z"]] as unknown as HeaderPair[])).toThrow(TypeError);
  });

  test("rejects CR or LF in a pair it is given", () => {
    expect(() => new HeaderList([["x", "a\r\nSet-Cookie: evil"]])).toThrow(TypeError);
    expect(() => new HeaderList([["x\n", "a"]])).toThrow(TypeError);
  });
});

describe("HeaderList as a mapping", () => {
  test("keys, values and items keep order, and items is a copy", () => {
    const list: HeaderPair[] = [["x", "y"], ["A", "b"]];
    const headers = new HeaderList(list);
    expect(headers.keys()).toEqual(["x", "A"]);
    expect(headers.values()).toEqual(["y", "b"]);
    const items = headers.items();
    expect(items).toEqual(list);
    expect(items).not.toBe(list);
    items[0]![1] = "changed";
    items.push(["new", "pair"]);
    expect(list).toEqual([["x", "y"], ["A", "b"]]);
  });

  test("lookups ignore case", () => {
    const headers = new HeaderList();
    headers.set("Foo", "bar");
    for (const name of ["foo", "Foo", "FOO"]) {
      expect(headers.get(name)).toBe("bar");
      expect(headers.has(name)).toBe(true);
      expect(headers.getAll(name)).toEqual(["bar"]);
    }
    expect(headers.get("bar")).toBeUndefined();
    expect(headers.has("bar")).toBe(false);
    expect(headers.getAll("bar")).toEqual([]);
  });

  test("get returns the first value, or the fallback when absent", () => {
    const headers = new HeaderList([["Vary", "a"], ["vary", "b"]]);
    expect(headers.get("VARY")).toBe("a");
    expect(headers.get("vary", "whee")).toBe("a");
    expect(headers.get("zoo", "whee")).toBe("whee");
    expect(headers.get("zoo", null)).toBeNull();
  });

  test("an empty value still counts as present", () => {
    const headers = new HeaderList([["X-Empty", ""]]);
    expect(headers.has("x-empty")).toBe(true);
    expect(headers.get("x-empty", "fallback")).toBe("");
  });

  test("set replaces every value and moves the header to the end", () => {
    const headers = new HeaderList([["foo", "1"], ["Other", "o"], ["FOO", "2"]]);
    headers.set("Foo", "baz");
    expect(headers.items()).toEqual([["Other", "o"], ["Foo", "baz"]]);
    expect(headers.getAll("foo")).toEqual(["baz"]);
  });

  test("delete removes every match and ignores a missing name", () => {
    const headers = new HeaderList([["a", "1"], ["B", "2"], ["A", "3"], ["c", "4"]]);
    headers.delete("missing");
    expect(headers.length).toBe(4);
    headers.delete("a");
    expect(headers.items()).toEqual([["B", "2"], ["c", "4"]]);
  });

  test("setDefault returns the existing value or adds the new one", () => {
    const headers = new HeaderList([["foo", "baz"]]);
    expect(headers.setDefault("FOO", "whee")).toBe("baz");
    expect(headers.setDefault("zoo", "whee")).toBe("whee");
    expect(headers.items()).toEqual([["foo", "baz"], ["zoo", "whee"]]);
  });

  test("iterates over the pairs in order", () => {
    const headers = new HeaderList([["a", "1"], ["b", "2"]]);
    expect([...headers]).toEqual([["a", "1"], ["b", "2"]]);
  });
});

describe("HeaderList shares the caller's array", () => {
  test("set, setDefault, addHeader and delete show in the array passed in", () => {
    const list: HeaderPair[] = [["Content-Type", "text/plain"], ["X-Old", "1"]];
    const headers = new HeaderList(list);
    headers.set("X-New", "2");
    headers.setDefault("Content-Length", "0");
    headers.addHeader("Cache-Control", "no-cache");
    headers.delete("x-old");
    expect(list).toEqual([
      ["Content-Type", "text/plain"],
      ["X-New", "2"],
      ["Content-Length", "0"],
      ["Cache-Control", "no-cache"],
    ]);
  });

  test("a change made to the array shows in the list", () => {
    const list: HeaderPair[] = [];
    const headers = new HeaderList(list);
    list.push(["Late", "yes"]);
    expect(headers.get("late")).toBe("yes");
    expect(headers.length).toBe(1);
  });
});

describe("addHeader", () => {
  test("always quotes a parameter value, as wsgiref does", () => {
    const headers = new HeaderList();
    headers.addHeader("content-disposition", "attachment", { filename: "bud.gif" });
    expect(headers.get("Content-Disposition")).toBe('attachment; filename="bud.gif"');
  });

  test("turns underscores into dashes and gives bare names for null, undefined, true or empty", () => {
    const headers = new HeaderList();
    headers.addHeader("X", "v", { max_age: "3", no_store: null, http_only: true, gone: undefined, empty: "" });
    expect(headers.get("x")).toBe('v; max-age="3"; no-store; http-only; gone; empty');
  });

  test("escapes backslashes and quotes inside the quoted value", () => {
    const headers = new HeaderList();
    headers.addHeader("X", "v", { name: 'a "b" \\c d' });
    expect(headers.get("x")).toBe('v; name="a \\"b\\" \\\\c d"');
  });

  test("a null value leaves only the parameters", () => {
    const headers = new HeaderList();
    headers.addHeader("X", null, { a: "1", b: null });
    expect(headers.get("x")).toBe('a="1"; b');
  });

  test("adds a header, keeping those already there", () => {
    const headers = new HeaderList();
    headers.addHeader("foo", "bar", { baz: "spam" });
    headers.addHeader("Foo", "bar", { cheese: null });
    expect(headers.getAll("foo")).toEqual(['bar; baz="spam"', "bar; cheese"]);
    expect(headers.toString()).toBe('foo: bar; baz="spam"\r\nFoo: bar; cheese\r\n\r\n');
  });
});

describe("formatParam", () => {
  test.each([
    ["plain", false, "p=plain"],
    ["plain", true, 'p="plain"'],
    ["a b", false, 'p="a b"'],
    ["a\tb", false, 'p="a\tb"'],
    ...[..."()<>@,;:/[]?="].map((c): [string, boolean, string] => [`x${c}`, false, `p="x${c}"`]),
    ['say "hi"', false, 'p="say \\"hi\\""'],
    ["back\\slash", false, 'p="back\\\\slash"'],
  ])("%j (quote=%s) formats as %s", (value, quote, expected) => {
    expect(formatParam("p", value, quote)).toBe(expected);
  });

  test("a missing or empty value gives the bare name", () => {
    expect(formatParam("p")).toBe("p");
    expect(formatParam("p", null)).toBe("p");
    expect(formatParam("p", "")).toBe("p");
  });
});

describe("control characters", () => {
  const controls = [...Array(32).keys(), 0x7f].map((code) => String.fromCharCode(code));

  test.each(controls.map((c) => [c.charCodeAt(0).toString(16).padStart(4, "0"), c]))("U+%s is refused in every name and value", (_code, c) => {
    const headers = new HeaderList();
    expect(() => headers.set(`key${c}`, "val")).toThrow(TypeError);
    expect(() => headers.addHeader(`key${c}`, "val", { param: "p" })).toThrow(TypeError);
    expect(() => headers.addHeader("key", "val", { [`param${c}`]: "p" })).toThrow(TypeError);
    expect(() => headers.setDefault(`key${c}`, "val")).toThrow(TypeError);
    if (c !== "\t") {
      expect(() => headers.set("key", `val${c}`)).toThrow(TypeError);
      expect(() => headers.addHeader("key", `val${c}`, { param: "p" })).toThrow(TypeError);
      expect(() => headers.addHeader("key", "val", { param: `p${c}` })).toThrow(TypeError);
      expect(() => headers.setDefault("key", `val${c}`)).toThrow(TypeError);
    }
    expect(headers.length).toBe(0);
  });

  test("a tab is allowed in a value (RFC 9110 §5.5)", () => {
    const headers = new HeaderList();
    headers.set("X", "a\tb");
    expect(headers.get("x")).toBe("a\tb");
  });
});

describe("wire format", () => {
  test("an empty list is just the blank line", () => {
    expect(new HeaderList().toString()).toBe("\r\n");
  });

  test("toString gives exact lines in order, then the blank line", () => {
    const headers = new HeaderList([["Content-Type", "text/plain"], ["Set-Cookie", "a=1"], ["set-cookie", "b=2"]]);
    expect(String(headers)).toBe("Content-Type: text/plain\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\n");
  });

  test("toBytes encodes latin-1, one byte per character", () => {
    const headers = new HeaderList([["X-Name", "caf\u00e9"]]);
    expect(Array.from(headers.toBytes())).toEqual([...Buffer.from("X-Name: caf\xe9\r\n\r\n", "latin1")]);
    expect(headers.toBytes().byteLength).toBe(16);
  });

  test("toBytes refuses characters beyond latin-1 instead of mangling them", () => {
    const headers = new HeaderList([["X-Name", "\u20ac"]]);
    expect(() => headers.toBytes()).toThrow(/outside latin-1/);
  });
});
