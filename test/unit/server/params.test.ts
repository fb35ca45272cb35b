// environFromParams: the environ from a web server's variables, as docs/SPEC.md §13.1 states.
import { describe, expect, test } from "vitest";
import { ErrorOutput, inputFromBytes } from "../../../src/core/input.ts";
import type { Environ } from "../../../src/core/types.ts";
import { environFromParams, requestLineOf } from "../../../src/server/params.ts";

function environ(pairs: Record<string, string> | [string, string][], scriptName?: string): Environ {
  const flat = (Array.isArray(pairs) ? pairs : Object.entries(pairs)).flat();
  return environFromParams(flat, inputFromBytes(), new ErrorOutput({ write: () => true }), { scriptName });
}

describe("environFromParams", () => {
  test("required keys get PEP 3333 defaults when the web server sends none; PATH_INFO '/' at the root", () => {
    expect(environ({})).toMatchObject({
      REQUEST_METHOD: "GET", SCRIPT_NAME: "", PATH_INFO: "/", QUERY_STRING: "", SERVER_NAME: "localhost", SERVER_PORT: "80",
      SERVER_PROTOCOL: "HTTP/1.0", "gw.url_scheme": "http", "gw.version": [1, 0], "gw.multiprocess": false,
    });
  });

  test("SCRIPT_NAME and PATH_INFO bytes are UTF-8 when valid, else latin-1", () => {
    const utf8 = Buffer.from("/caf\u00e9", "utf8").toString("latin1");
    expect(environ({ SCRIPT_NAME: utf8, PATH_INFO: utf8 })).toMatchObject({ SCRIPT_NAME: "/caf\u00e9", PATH_INFO: "/caf\u00e9" });
    expect(environ({ PATH_INFO: "/\u00ff" }).PATH_INFO).toBe("/\u00ff");
  });

  test("no PATH_INFO: REQUEST_URI's decoded path after SCRIPT_NAME, by whole segments", () => {
    expect(environ({ REQUEST_URI: "/a%20b?x=1" }).PATH_INFO).toBe("/a b");
    expect(environ({ SCRIPT_NAME: "/app", REQUEST_URI: "/app/x" })).toMatchObject({ SCRIPT_NAME: "/app", PATH_INFO: "/x" });
    expect(environ({ SCRIPT_NAME: "/app", REQUEST_URI: "/application" }).PATH_INFO).toBe("/application");
  });

  test("an absolute-form REQUEST_URI (Apache passes it raw) gives the path after its authority", () => {
    expect(environ({ REQUEST_URI: "http://h.example/env/x?q=1" }).PATH_INFO).toBe("/env/x");
    expect(environ({ REQUEST_URI: "http://h.example" }).PATH_INFO).toBe("/");
    expect(environ({ SCRIPT_NAME: "/app", REQUEST_URI: "https://h.example/app/a%20b" })).toMatchObject({ SCRIPT_NAME: "/app", PATH_INFO: "/a b" });
    expect(environ({}, "/").PATH_INFO).toBe("");
  });

  test("a scriptName option overrides what was sent", () => {
    expect(environ({ SCRIPT_NAME: "/whole/path", PATH_INFO: "", REQUEST_URI: "/whole/path" }, "/whole")).toMatchObject({ SCRIPT_NAME: "/whole", PATH_INFO: "/path" });
    expect(environ({ SCRIPT_NAME: "/x", REQUEST_URI: "/x" }, "")).toMatchObject({ SCRIPT_NAME: "", PATH_INFO: "/x" });
  });

  test("repeated HTTP_* are joined (Cookie with '; '), others take the last value", () => {
    const result = environ([["HTTP_X", "a"], ["HTTP_X", "b"], ["HTTP_COOKIE", "a=1"], ["HTTP_COOKIE", "b=2"], ["SCRIPT_NAME", "/one"], ["SCRIPT_NAME", "/two"]]);
    expect(result).toMatchObject({ HTTP_X: "a,b", HTTP_COOKIE: "a=1; b=2", SCRIPT_NAME: "/two" });
  });

  test("HTTP_CONTENT_*, gw.* and __proto__ names are dropped; HTTPS=on means https", () => {
    const result = environ([["HTTP_CONTENT_LENGTH", "3"], ["HTTP_CONTENT_TYPE", "x"], ["gw.input", "x"], ["__proto__", "x"], ["HTTPS", "on"]]);
    expect(result).not.toHaveProperty("HTTP_CONTENT_LENGTH");
    expect(result).not.toHaveProperty("HTTP_CONTENT_TYPE");
    expect(typeof result["gw.input"]).toBe("object");
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(result["gw.url_scheme"]).toBe("https");
  });

  test("the access-log request line: REQUEST_URI as sent, else rebuilt", () => {
    expect(requestLineOf(environ({ REQUEST_METHOD: "POST", REQUEST_URI: "/a%20b?q", SERVER_PROTOCOL: "HTTP/1.1" }))).toBe("POST /a%20b?q HTTP/1.1");
    expect(requestLineOf(environ({ SCRIPT_NAME: "/s", PATH_INFO: "/p", QUERY_STRING: "q" }))).toBe("GET /s/p?q HTTP/1.0");
  });
});
