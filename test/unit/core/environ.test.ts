import type { IncomingMessage } from "node:http";
import { describe, expect, test } from "vitest";
import { execFileSync } from "node:child_process";
import {
  MAX_MEMO_ENTRIES, MAX_MEMO_KEY, decodePath, environFromCgi, environFromRequest, headerKey, headerMemoSize, makeServerInfo, resetMemos,
  type ServerInfo,
} from "../../../src/core/environ.ts";
import { BodyInput, ErrorOutput } from "../../../src/core/input.ts";
import { fileWrapper } from "../../../src/core/util.ts";
import { validator } from "../../../src/core/validate.ts";
import { SERVER_SOFTWARE } from "../../../src/core/version.ts";
import type { Environ, StartResponse } from "../../../src/core/types.ts";

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();

describe("decodePath", () => {
  test("a path without '%' comes back as it is", () => {
    expect(decodePath("/plain/path")).toBe("/plain/path");
    expect(decodePath("")).toBe("");
  });

  test("%20 is a space", () => {
    expect(decodePath("/a%20b")).toBe("/a b");
  });

  test("escapes of multi-byte UTF-8 decode to one character", () => {
    expect(decodePath("/caf%C3%A9")).toBe("/café");
    expect(decodePath("/%E2%82%AC")).toBe("/€");
    expect(decodePath("/%F0%9F%98%80")).toBe("/😀");
  });

  test("bytes that are not valid UTF-8 fall back to latin-1, one char per byte", () => {
    expect(decodePath("/%FF")).toBe("/\u00ff");
    // A latin-1 "été": E9 is not a UTF-8 lead byte followed by a continuation byte.
    expect(decodePath("/%E9t%E9")).toBe("/\u00e9t\u00e9");
    // A truncated UTF-8 sequence is invalid as a whole, so each byte stands alone.
    expect(decodePath("/%C3")).toBe("/\u00c3");
  });

  test("malformed escapes are left as they are", () => {
    expect(decodePath("/%ZZ")).toBe("/%ZZ");
    expect(decodePath("/a%")).toBe("/a%");
    expect(decodePath("/a%4")).toBe("/a%4");
    expect(decodePath("/%4G%20")).toBe("/%4G ");
  });

  test("hex digits may be of either case", () => {
    expect(decodePath("/%c3%A9%4a%4A")).toBe("/éJJ");
  });

  test("an escaped '%' is decoded once, not twice", () => {
    expect(decodePath("/100%2541")).toBe("/100%41");
  });

  test("raw non-ASCII from Node's latin-1 request line is read as UTF-8 bytes", () => {
    // Node hands "/café" sent as UTF-8 over as the latin-1 string "/cafÃ©".
    expect(decodePath("/caf\u00c3\u00a9")).toBe("/café");
  });
});

interface FakeRequest {
  url?: string;
  method?: string;
  httpVersion: string;
  rawHeaders: string[];
  socket: { remoteAddress?: string; remotePort?: number };
  [Symbol.asyncIterator]?: () => AsyncIterator<Uint8Array>;
}

/** A minimal stand-in for an IncomingMessage: only what environFromRequest reads. */
function fakeRequest(overrides: Partial<FakeRequest> = {}): IncomingMessage {
  const request: FakeRequest = {
    url: "/",
    method: "GET",
    httpVersion: "1.1",
    rawHeaders: [],
    socket: { remoteAddress: "127.0.0.1", remotePort: 54321 },
    ...overrides,
  };
  return request as unknown as IncomingMessage;
}

function server(errors: string[] = []): ServerInfo {
  return makeServerInfo("localhost", 8000, { write: (text: string) => errors.push(text) });
}

describe("environFromRequest", () => {
  test("fills the CGI keys from the request line and the server", () => {
    const environ = environFromRequest(fakeRequest({ url: "/hello", method: "POST" }), server());
    expect(environ).toMatchObject({
      REQUEST_METHOD: "POST",
      SCRIPT_NAME: "",
      PATH_INFO: "/hello",
      QUERY_STRING: "",
      REQUEST_URI: "/hello",
      SERVER_NAME: "localhost",
      SERVER_PORT: "8000",
      SERVER_PROTOCOL: "HTTP/1.1",
      SERVER_SOFTWARE,
      GATEWAY_INTERFACE: "CGI/1.1",
      REMOTE_ADDR: "127.0.0.1",
      REMOTE_PORT: "54321",
    });
  });

  test("SERVER_PROTOCOL follows the request's HTTP version", () => {
    expect(environFromRequest(fakeRequest({ httpVersion: "1.0" }), server()).SERVER_PROTOCOL).toBe("HTTP/1.0");
  });

  test("the query is split at the first '?', and kept raw", () => {
    const environ = environFromRequest(fakeRequest({ url: "/p%20q?a=1?b=%20&c" }), server());
    expect(environ.PATH_INFO).toBe("/p q");
    expect(environ.QUERY_STRING).toBe("a=1?b=%20&c");
    expect(environ.REQUEST_URI).toBe("/p%20q?a=1?b=%20&c");
  });

  test("a trailing '?' gives an empty query", () => {
    const environ = environFromRequest(fakeRequest({ url: "/p?" }), server());
    expect([environ.PATH_INFO, environ.QUERY_STRING]).toEqual(["/p", ""]);
  });

  test.each([
    ["http://example.com:8080/a/b?x=1", "/a/b", "x=1"],
    ["https://example.com/", "/", ""],
    ["http://example.com", "/", ""],
    ["http://example.com?q", "/", "q"],
    ["http://example.com/caf%C3%A9", "/café", ""],
  ])("the absolute-form target %s gives PATH_INFO %s", (url, pathInfo, query) => {
    const environ = environFromRequest(fakeRequest({ url }), server());
    expect([environ.PATH_INFO, environ.QUERY_STRING]).toEqual([pathInfo, query]);
  });

  test("an origin-form path that starts with '//' is kept whole, not read as a host", () => {
    expect(environFromRequest(fakeRequest({ url: "//double/slash" }), server()).PATH_INFO).toBe("//double/slash");
  });

  test("the asterisk-form target of OPTIONS * stays '*'", () => {
    expect(environFromRequest(fakeRequest({ url: "*", method: "OPTIONS" }), server()).PATH_INFO).toBe("*");
  });

  test("headers become HTTP_ keys, upper case with dashes as underscores", () => {
    const environ = environFromRequest(fakeRequest({
      rawHeaders: ["Host", "example.com", "X-Forwarded-For", "10.0.0.1", "user-agent", "test/1"],
    }), server());
    expect(environ.HTTP_HOST).toBe("example.com");
    expect(environ.HTTP_X_FORWARDED_FOR).toBe("10.0.0.1");
    expect(environ.HTTP_USER_AGENT).toBe("test/1");
  });

  test("a repeated header is joined with ',', whatever the case of its name", () => {
    const environ = environFromRequest(fakeRequest({ rawHeaders: ["Accept", "text/html", "accept", "text/plain", "ACCEPT", "*/*"] }), server());
    expect(environ.HTTP_ACCEPT).toBe("text/html,text/plain,*/*");
  });

  test("repeated Cookie headers are joined with '; ', so each cookie stays its own", () => {
    const environ = environFromRequest(fakeRequest({ rawHeaders: ["Cookie", "a=1", "cookie", "b=2", "Accept", "x"] }), server());
    expect(environ.HTTP_COOKIE).toBe("a=1; b=2");
    expect(environ.HTTP_ACCEPT).toBe("x");
  });

  test("Content-Type and Content-Length have no HTTP_ prefix", () => {
    const environ = environFromRequest(fakeRequest({
      rawHeaders: ["content-type", "application/json", "Content-Length", "42"],
    }), server());
    expect(environ.CONTENT_TYPE).toBe("application/json");
    expect(environ.CONTENT_LENGTH).toBe("42");
    expect("HTTP_CONTENT_TYPE" in environ).toBe(false);
    expect("HTTP_CONTENT_LENGTH" in environ).toBe(false);
  });

  test("no Content-Type or Content-Length header leaves those keys out", () => {
    const environ = environFromRequest(fakeRequest(), server());
    expect("CONTENT_TYPE" in environ).toBe(false);
    expect("CONTENT_LENGTH" in environ).toBe(false);
  });

  test.each([
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["::1", "::1"],
    ["2001:db8::1", "2001:db8::1"],
    ["192.168.0.9", "192.168.0.9"],
    [undefined, ""],
  ])("REMOTE_ADDR for a socket address of %s is %j", (address, expected) => {
    const environ = environFromRequest(fakeRequest({ socket: { remoteAddress: address, remotePort: 1 } }), server());
    expect(environ.REMOTE_ADDR).toBe(expected);
  });

  test("the gw.* keys", () => {
    const info = server();
    const environ = environFromRequest(fakeRequest(), info);
    expect(environ["gw.version"]).toEqual([1, 0]);
    expect(environ["gw.url_scheme"]).toBe("http");
    expect(environ["gw.input"]).toBeInstanceOf(BodyInput);
    expect(environ["gw.errors"]).toBe(info.errors);
    expect(environ["gw.multithread"]).toBe(false);
    expect(environ["gw.multiprocess"]).toBe(false);
    expect(environ["gw.run_once"]).toBe(false);
    expect(environ["gw.file_wrapper"]).toBe(fileWrapper);
  });

  test("gw.url_scheme comes from the server info", () => {
    const info: ServerInfo = { ...server(), urlScheme: "https" };
    expect(environFromRequest(fakeRequest(), info)["gw.url_scheme"]).toBe("https");
  });

  test("gw.errors writes to the server's sink", () => {
    const errors: string[] = [];
    environFromRequest(fakeRequest(), server(errors))["gw.errors"].write("oops\n");
    expect(errors).toEqual(["oops\n"]);
  });

  test("gw.input reads the request body, and only when asked", async () => {
    let isOpened = false;
    const request = fakeRequest({
      [Symbol.asyncIterator]: () => {
        isOpened = true;
        const chunks = [Buffer.from("a=1&"), Buffer.from("b=2")];
        return { next: async () => chunks.length > 0 ? { done: false, value: chunks.shift()! } : { done: true, value: undefined } };
      },
    });
    const environ = environFromRequest(request, server());
    expect(isOpened).toBe(false);
    expect(text(await environ["gw.input"].read())).toBe("a=1&b=2");
  });

  test("the environ passes the validator", () => {
    const environ = environFromRequest(fakeRequest({ url: "/x?y=1", rawHeaders: ["Host", "h", "Content-Length", "0"] }), server());
    const start: StartResponse = () => () => Promise.resolve();
    const app = validator((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return [];
    }, { onWarning: (message) => { throw new Error(message); } });
    expect(() => app(environ, start)).not.toThrow();
  });
});

describe("environFromCgi", () => {
  const stderrSink = (): { sink: { write: (text: string) => number }; written: string[] } => {
    const written: string[] = [];
    return { sink: { write: (text: string) => written.push(text) }, written };
  };

  test("copies every variable of the environment", () => {
    const environ = environFromCgi({
      REQUEST_METHOD: "POST", PATH_INFO: "/x", QUERY_STRING: "a=b", HTTP_HOST: "example.org", SERVER_PORT: "8080", CUSTOM_THING: "1",
    }, [], stderrSink().sink);
    expect(environ).toMatchObject({
      REQUEST_METHOD: "POST", PATH_INFO: "/x", QUERY_STRING: "a=b", HTTP_HOST: "example.org", SERVER_PORT: "8080", CUSTOM_THING: "1",
    });
  });

  test("skips variables whose value is undefined", () => {
    const environ = environFromCgi({ UNSET: undefined }, [], stderrSink().sink);
    expect("UNSET" in environ).toBe(false);
  });

  test("fills PEP 3333's required keys with defaults when the environment lacks them", () => {
    const environ = environFromCgi({}, [], stderrSink().sink);
    expect(environ).toMatchObject({
      REQUEST_METHOD: "GET",
      SCRIPT_NAME: "",
      PATH_INFO: "",
      QUERY_STRING: "",
      SERVER_NAME: "localhost",
      SERVER_PORT: "80",
      SERVER_PROTOCOL: "HTTP/1.0",
    });
  });

  test("a CGI program runs once in its own process", () => {
    const environ = environFromCgi({}, [], stderrSink().sink);
    expect(environ["gw.multiprocess"]).toBe(true);
    expect(environ["gw.run_once"]).toBe(true);
    expect(environ["gw.multithread"]).toBe(false);
    expect(environ["gw.version"]).toEqual([1, 0]);
    expect(environ["gw.file_wrapper"]).toBe(fileWrapper);
  });

  test.each([
    [{ HTTPS: "on" }, "https"],
    [{ HTTPS: "1" }, "https"],
    [{ HTTPS: "yes" }, "https"],
    [{ HTTPS: "off" }, "http"],
    [{}, "http"],
  ])("%j gives gw.url_scheme %s", (env, scheme) => {
    expect(environFromCgi(env, [], stderrSink().sink)["gw.url_scheme"]).toBe(scheme);
  });

  test("gw.errors writes to the given stderr", () => {
    const { sink, written } = stderrSink();
    const errors = environFromCgi({}, [], sink)["gw.errors"];
    expect(errors).toBeInstanceOf(ErrorOutput);
    errors.write("trace\n");
    expect(written).toEqual(["trace\n"]);
  });

  test("gw.input reads at most CONTENT_LENGTH bytes of stdin", async () => {
    const stdin = [Buffer.from("hello"), Buffer.from(" world, and more")];
    const input = environFromCgi({ CONTENT_LENGTH: "8" }, stdin, stderrSink().sink)["gw.input"];
    expect(text(await input.read())).toBe("hello wo");
    expect((await input.read()).byteLength).toBe(0);
  });

  test.each([
    [{}, "no CONTENT_LENGTH"],
    [{ CONTENT_LENGTH: "" }, "an empty CONTENT_LENGTH"],
    [{ CONTENT_LENGTH: "abc" }, "a CONTENT_LENGTH that is not a number"],
    [{ CONTENT_LENGTH: "-5" }, "a negative CONTENT_LENGTH"],
  ])("%j means no body (%s), whatever stdin holds", async (env, _label) => {
    const input = environFromCgi(env, [Buffer.from("unread")], stderrSink().sink)["gw.input"];
    expect((await input.read()).byteLength).toBe(0);
  });

  test("the environ passes the validator", () => {
    const environ: Environ = environFromCgi({ REQUEST_METHOD: "GET", PATH_INFO: "/" }, [], stderrSink().sink);
    const app = validator((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return [];
    }, { onWarning: (message) => { throw new Error(message); } });
    expect(() => app(environ, () => () => Promise.resolve())).not.toThrow();
  });
});

describe("the header-name memo (#16)", () => {
  const serverInfo = makeServerInfo("localhost", 8000, { write: () => true });
  const environOf = (rawHeaders: string[]): Environ => environFromRequest({ url: "/", method: "GET", httpVersion: "1.1", rawHeaders, socket: { remoteAddress: "127.0.0.1", remotePort: 1 } } as unknown as IncomingMessage, serverInfo);

  test("long names are never kept, and a full memo starts over so ordinary names are cached again", () => {
    resetMemos();
    environOf(["Host", "h", "Accept", "*/*"]);
    expect(headerMemoSize()).toEqual({ names: 2, keys: 4 });
    const long = "X-" + "a".repeat(MAX_MEMO_KEY);
    expect(environOf([long, "1"])[headerKey(long)!]).toBe("1");
    expect(headerMemoSize().names).toBe(2);
    for (let i = 0; i < MAX_MEMO_ENTRIES + 10; i++) environOf([`X-Unique-${i}`, "v"]);
    // Full after MAX_MEMO_ENTRIES names; it started over once and holds what came since.
    expect(headerMemoSize().names).toBeLessThanOrEqual(MAX_MEMO_ENTRIES);
    environOf(["Host", "h"]);
    const { names } = headerMemoSize();
    environOf(["Host", "h"]);
    expect(headerMemoSize().names).toBe(names);
    expect(environOf(["Host", "a", "host", "b", "Accept", "x"])).toMatchObject({ HTTP_HOST: "a,b", HTTP_ACCEPT: "x" });
  });

  test("1,100 unique 60 KB header names leave no large retained heap (measured after GC in a child)", () => {
    const script = `
      import { environFromRequest, headerKey, makeServerInfo } from ${JSON.stringify(new URL("../../../src/core/environ.ts", import.meta.url).href)};
      const info = makeServerInfo("localhost", 8000, { write: () => true });
      const socket = { remoteAddress: "127.0.0.1", remotePort: 1 };
      const used = () => { globalThis.gc(); globalThis.gc(); return process.memoryUsage().heapUsed; };
      const before = used();
      for (let i = 0; i < 1100; i++) {
        const name = "X-" + String(i).padStart(5, "0") + "y".repeat(60_000);
        environFromRequest({ url: "/", method: "GET", httpVersion: "1.1", rawHeaders: [name, "v", "Host", "h"], socket }, info);
        headerKey(name.toLowerCase());
      }
      process.stdout.write(String(Math.round((used() - before) / 1e6)));
    `;
    const output = execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    // Before the bound, the memo held about 90 MB here (names, and their HTTP_ keys).
    expect(Number(output)).toBeLessThan(5);
  });
});

describe("underscore header names", () => {
  const spoofed = ["X-Forwarded-For", "1.2.3.4", "X_Forwarded_For", "6.6.6.6", "Remote_User", "admin", "x_forwarded_for", "7.7.7.7"];

  test("are dropped by default: the dashed header alone arrives, whatever the order", () => {
    for (const rawHeaders of [spoofed, [...spoofed.slice(2), ...spoofed.slice(0, 2)]]) {
      const environ = environFromRequest(fakeRequest({ rawHeaders }), server());
      expect([environ.HTTP_X_FORWARDED_FOR, environ.HTTP_REMOTE_USER]).toEqual(["1.2.3.4", undefined]);
    }
  });

  test("are kept, joined in arrival order, when the server keeps them", () => {
    const info = { ...server(), keepUnderscoreHeaders: true };
    for (let round = 0; round < 2; round++) {
      const environ = environFromRequest(fakeRequest({ rawHeaders: [...spoofed.slice(2, 4), ...spoofed.slice(0, 2)] }), info);
      expect(environ.HTTP_X_FORWARDED_FOR).toBe("6.6.6.6,1.2.3.4");
    }
    expect(environFromRequest(fakeRequest({ rawHeaders: spoofed }), info).HTTP_REMOTE_USER).toBe("admin");
  });
});
