// The Fetch adapters without sockets: toFetchHandler called with Request objects, and
// fromFetchHandler run in memory through validator().
import { describe, expect, test } from "vitest";
import { environFromFetch, toFetchHandler } from "../../../src/adapters/to-fetch.ts";
import { fromFetchHandler, requestHeaderMemoSize } from "../../../src/adapters/from-fetch.ts";
import { MAX_MEMO_ENTRIES, MAX_MEMO_KEY } from "../../../src/core/environ.ts";
import { ctx } from "../../../src/app/context.ts";
import { BAD_HOST_BODY, ERROR_BODY } from "../../../src/gateway/base-handler.ts";
import { ErrorOutput } from "../../../src/core/input.ts";
import { application } from "../../../src/app/router.ts";
import type { App, Chunk } from "../../../src/core/types.ts";
import { validator } from "../../../src/core/validate.ts";
import { call } from "../../helpers/call.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sink(): { write(text: string): boolean; text(): string } {
  let text = "";
  return { write: (part: string) => ((text += part), true), text: () => text };
}

const text = (body: Chunk[] | (() => Iterable<Chunk> | AsyncIterable<Chunk>), headers: [string, string][] = []): App =>
  validator((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"], ...headers]);
    return typeof body === "function" ? body() : body;
  });

describe("environFromFetch", () => {
  test("underscore header names are dropped unless kept", () => {
    const request = (): Request => new Request("http://example.com/", { headers: [["X-Forwarded-For", "1.2.3.4"], ["X_Forwarded_For", "6.6.6.6"], ["Remote_User", "admin"]] });
    const dropped = environFromFetch(request(), undefined, errors);
    expect([dropped.HTTP_X_FORWARDED_FOR, dropped.HTTP_REMOTE_USER]).toEqual(["1.2.3.4", undefined]);
    const kept = environFromFetch(request(), undefined, errors, true);
    expect(kept.HTTP_REMOTE_USER).toBe("admin");
  });

  const errors = new ErrorOutput({ write: () => true });

  test("the CGI keys come from the URL, the headers and the info", () => {
    const request = new Request("http://example.com:8080/caf%C3%A9/a%20b?q=1&r=%FF", {
      method: "POST",
      headers: { "Content-Type": "text/plain", "Content-Length": "3", "X-Thing": "v", Accept: "*/*" },
      body: "abc",
    });
    const environ = environFromFetch(request, { remoteAddr: "::ffff:10.1.2.3", serverProtocol: "HTTP/1.0" }, errors);
    expect(environ).toMatchObject({
      REQUEST_METHOD: "POST",
      SCRIPT_NAME: "",
      PATH_INFO: "/café/a b",
      QUERY_STRING: "q=1&r=%FF",
      REQUEST_URI: "/caf%C3%A9/a%20b?q=1&r=%FF",
      SERVER_NAME: "example.com",
      SERVER_PORT: "8080",
      SERVER_PROTOCOL: "HTTP/1.0",
      REMOTE_ADDR: "10.1.2.3",
      CONTENT_TYPE: "text/plain",
      CONTENT_LENGTH: "3",
      HTTP_X_THING: "v",
      HTTP_ACCEPT: "*/*",
      "gw.version": [1, 0],
      "gw.url_scheme": "http",
      "gw.run_once": false,
    });
    expect(environ).not.toHaveProperty("HTTP_CONTENT_TYPE");
    expect(typeof environ["gw.file_wrapper"]).toBe("function");
  });

  test("https gives gw.url_scheme https and port 443; IPv6 hosts lose their brackets", () => {
    const environ = environFromFetch(new Request("https://[::1]/x"), undefined, errors);
    expect([environ["gw.url_scheme"], environ.SERVER_PORT, environ.SERVER_NAME, environ.SERVER_PROTOCOL]).toEqual(["https", "443", "::1", "HTTP/1.1"]);
    expect(environ).not.toHaveProperty("REMOTE_ADDR");
  });

  test("the client address comes from Deno's info, Bun's requestIP or srvx's request.ip", () => {
    const request = new Request("http://h/");
    expect(environFromFetch(request, { remoteAddr: { hostname: "1.2.3.4", port: 5555 } }, errors)).toMatchObject({ REMOTE_ADDR: "1.2.3.4", REMOTE_PORT: "5555" });
    expect(environFromFetch(request, { requestIP: () => ({ address: "5.6.7.8", port: 1 }) }, errors)).toMatchObject({ REMOTE_ADDR: "5.6.7.8", REMOTE_PORT: "1" });
    Object.defineProperty(request, "ip", { value: "9.9.9.9" });
    expect(environFromFetch(request, undefined, errors).REMOTE_ADDR).toBe("9.9.9.9");
  });

  test("the URL's dot segments are resolved and malformed escapes kept, as the URL parser gives them", () => {
    const environ = environFromFetch(new Request("http://h/a/../b/%ZZ/%2F"), undefined, errors);
    expect(environ.PATH_INFO).toBe("/b/%ZZ//");
  });
});

describe("toFetchHandler", () => {
  test("a body known at once is sent as bytes with Content-Length and Server", async () => {
    const handler = toFetchHandler(text(["Hello, ", "world"]));
    const response = await handler(new Request("http://h/"));
    expect(response.status).toBe(200);
    expect(response.statusText).toBe("OK");
    expect(response.headers.get("content-length")).toBe("12");
    expect(response.headers.get("server")).toMatch(/^gw\//);
    expect(await response.text()).toBe("Hello, world");
  });

  test("an app's own Server header is kept", async () => {
    const response = await toFetchHandler(text(["x"], [["Server", "mine"]]))(new Request("http://h/"));
    expect(response.headers.get("server")).toBe("mine");
  });

  test("each Set-Cookie stays its own header", async () => {
    const response = await toFetchHandler(text(["x"], [["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]]))(new Request("http://h/"));
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
  });

  test("the Response arrives while the body is still being made, and streams", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const handler = toFetchHandler(text(async function* () {
      yield "first ";
      await gate;
      yield "second";
    }));
    const response = await handler(new Request("http://h/"));
    expect(response.headers.get("content-length")).toBeNull();
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("first ");
    release();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("second");
    expect((await reader.read()).done).toBe(true);
  });

  test("backpressure: an endless body is pulled only as fast as the client reads", async () => {
    let produced = 0;
    const handler = toFetchHandler(text(async function* () {
      for (;;) {
        produced++;
        yield "x".repeat(1024);
      }
    }), { highWaterMark: 8 * 1024 });
    const response = await handler(new Request("http://h/"));
    await sleep(50);
    const idle = produced;
    expect(idle).toBeLessThan(24);
    const reader = response.body!.getReader();
    for (let i = 0; i < 40; i++) await reader.read();
    await sleep(20);
    expect(produced).toBeGreaterThan(idle + 30);
    expect(produced).toBeLessThan(40 + 24);
    await reader.cancel();
  });

  test("cancelling the body stops the app's body and calls close() once", async () => {
    const events: string[] = [];
    const handler = toFetchHandler((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      const body = (async function* (): AsyncGenerator<Chunk> {
        try {
          for (;;) {
            await sleep(2);
            yield "tick ";
          }
        } finally {
          events.push("finally");
        }
      })();
      return Object.assign(body, { close: () => events.push("close") });
    });
    const response = await handler(new Request("http://h/"));
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    await sleep(20);
    // The generator may be mid-await when cancelled; its finally then runs after close().
    expect(events.sort()).toEqual(["close", "finally"]);
  });

  test("an aborted request before the headers closes the body and still settles", async () => {
    const events: string[] = [];
    const abort = new AbortController();
    const handler = toFetchHandler(async (_environ, startResponse) => {
      await sleep(30);
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return Object.assign(["late"], { close: () => events.push("close") });
    });
    const pending = handler(new Request("http://h/", { signal: abort.signal }));
    abort.abort();
    const response = await pending;
    expect(response.status).toBe(500);
    await sleep(40);
    expect(events).toEqual(["close"]);
  });

  test("the request body is gw.input, streamed", async () => {
    const handler = toFetchHandler(validator((environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", environ.CONTENT_TYPE ?? "application/octet-stream"]]);
      const input = environ["gw.input"];
      return (async function* (): AsyncGenerator<Chunk> {
        for await (const chunk of input) yield chunk;
      })();
    }));
    const parts = ["one ", "two ", "three"];
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const part = parts.shift();
        if (part === undefined) controller.close();
        else {
          await sleep(2);
          controller.enqueue(new TextEncoder().encode(part));
        }
      },
    });
    const response = await handler(new Request("http://h/echo", { method: "POST", body, headers: { "Content-Type": "text/x-test" }, duplex: "half" } as RequestInit));
    expect(response.headers.get("content-type")).toBe("text/x-test");
    expect(await response.text()).toBe("one two three");
  });

  test("HEAD keeps the length and sends no body; 204 has no body at all", async () => {
    const head = await toFetchHandler(text(["four"]))(new Request("http://h/", { method: "HEAD" }));
    expect(head.headers.get("content-length")).toBe("4");
    expect(head.body).toBeNull();
    const empty = await toFetchHandler(validator((_environ, startResponse) => {
      startResponse("204 No Content", []);
      return [];
    }))(new Request("http://h/"));
    expect([empty.status, empty.body, empty.headers.get("content-length")]).toEqual([204, null, null]);
  });

  test("an app that fails before its headers gets the generic 500, its trace goes to errors", async () => {
    const errors = sink();
    const handler = toFetchHandler(() => {
      throw new Error("kaboom 77");
    }, { errors });
    const response = await handler(new Request("http://h/"));
    expect(response.status).toBe(500);
    expect(await response.text()).toBe(ERROR_BODY);
    expect(errors.text()).toContain("Error: kaboom 77");
  });

  test("an app that fails after its first chunk errors the body stream", async () => {
    const handler = toFetchHandler(text(async function* () {
      yield "partial";
      await sleep(5);
      throw new Error("late failure");
    }), { errors: sink() });
    const response = await handler(new Request("http://h/"));
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("partial");
    await expect(reader.read()).rejects.toThrow(/cut off/);
  });

  test("a status Fetch cannot express becomes a 500, logged", async () => {
    const errors = sink();
    const handler = toFetchHandler((_environ, startResponse) => {
      startResponse("600 Odd", [["Content-Type", "text/plain"]]);
      return ["x"];
    }, { errors });
    const response = await handler(new Request("http://h/"));
    expect(response.status).toBe(500);
    expect(errors.text()).toMatch(/RangeError.*200 to 599/);
  });

  test("an application's context works under the Fetch adapter", async () => {
    const app = application([["/hi/(\\w+)", (name: string) => `hi ${name} at ${ctx.home}`]]);
    const response = await toFetchHandler(app)(new Request("http://example.com/hi/ada"));
    expect(await response.text()).toBe("hi ada at http://example.com");
  });
});

describe("fromFetchHandler", () => {
  test("the Request is built from the environ: method, URL, headers and a streamed body", async () => {
    let seen: Record<string, unknown> = {};
    const app = fromFetchHandler(async (request) => {
      seen = {
        method: request.method,
        url: request.url,
        type: request.headers.get("content-type"),
        length: request.headers.get("content-length"),
        custom: request.headers.get("x-custom-thing"),
        body: await request.text(),
      };
      return new Response("ok");
    });
    await call(app, "/a%20b/c?x=1", {
      method: "PUT",
      headers: { "Content-Type": "text/plain", "X-Custom-Thing": "yes", Host: "example.com:8080" },
      body: "payload",
      environ: { REQUEST_URI: "/a%20b/c?x=1", PATH_INFO: "/a b/c" },
    });
    expect(seen).toEqual({ method: "PUT", url: "http://example.com:8080/a%20b/c?x=1", type: "text/plain", length: "7", custom: "yes", body: "payload" });
  });

  test("under a mount point the URL is rebuilt from SCRIPT_NAME and PATH_INFO", async () => {
    let url = "";
    const app = fromFetchHandler((request) => {
      url = request.url;
      return new Response(null, { status: 204 });
    });
    await call(app, "/x y", { environ: { SCRIPT_NAME: "/api", REQUEST_URI: "/api/x%20y", HTTP_HOST: "h" } });
    expect(url).toBe("http://h/api/x%20y");
  });

  test("GET and HEAD have no body; other methods stream gw.input", async () => {
    const bodies: (string | null)[] = [];
    const app = fromFetchHandler(async (request) => {
      bodies.push(request.body === null ? null : await request.text());
      return new Response("");
    });
    await call(app, "/", { method: "GET" });
    await call(app, "/", { method: "DELETE", body: "" });
    await call(app, "/", { method: "PATCH", body: "p" });
    expect(bodies).toEqual([null, null, "p"]);
  });

  test("the status line takes the reason from node:http, or the Response's own", async () => {
    const withStatus = (status: number, statusText?: string): App =>
      fromFetchHandler(() => new Response("x", { status, statusText, headers: { "Content-Type": "text/plain" } }));
    expect((await call(withStatus(201), "/")).status).toBe("201 Created");
    expect((await call(withStatus(418), "/")).status).toBe("418 I'm a Teapot");
    expect((await call(withStatus(299), "/")).status).toBe("299 Unknown");
    expect((await call(withStatus(200, "Fine"), "/")).status).toBe("200 Fine");
  });

  test("every Set-Cookie is its own header; hop-by-hop headers are dropped", async () => {
    const app = fromFetchHandler(() => {
      const headers = new Headers({ "Content-Type": "text/plain", "Keep-Alive": "timeout=5", "X-Kept": "1" });
      headers.append("Set-Cookie", "a=1");
      headers.append("Set-Cookie", "b=2, c");
      return new Response("x", { headers });
    });
    const response = await call(app, "/");
    expect(response.headers.filter(([name]) => name === "set-cookie")).toEqual([["set-cookie", "a=1"], ["set-cookie", "b=2, c"]]);
    expect(response.header("keep-alive")).toBeUndefined();
    expect(response.header("x-kept")).toBe("1");
  });

  test("a body already in memory gets Content-Length; a slow stream does not", async () => {
    const whole = await call(fromFetchHandler(() => new Response("all at once", { headers: { "Content-Type": "text/plain" } })), "/");
    expect([whole.header("Content-Length"), whole.body]).toEqual(["11", "all at once"]);
    const slow = await call(fromFetchHandler(() => new Response(new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode("a"));
        await sleep(10);
        controller.enqueue(new TextEncoder().encode("b"));
        controller.close();
      },
    }), { headers: { "Content-Type": "text/plain" } })), "/");
    expect([slow.header("Content-Length"), slow.body]).toEqual([undefined, "ab"]);
  });

  test("HEAD: a body-less answer leaves the length open, a full one keeps it, and no body is sent", async () => {
    const headAware = fromFetchHandler((request) =>
      new Response(request.method === "HEAD" ? null : "twelve bytes", { headers: { "Content-Type": "text/plain" } }));
    const open = await call(headAware, "/", { method: "HEAD" });
    expect([open.status, open.header("Content-Length"), open.body]).toEqual(["200 OK", undefined, ""]);
    const naive = fromFetchHandler(() => new Response("twelve bytes", { headers: { "Content-Type": "text/plain" } }));
    const known = await call(naive, "/", { method: "HEAD" });
    expect([known.header("Content-Length"), known.body]).toEqual(["12", ""]);
  });

  test("stopping early cancels the Response body and aborts the request's signal", async () => {
    const events: string[] = [];
    const app = fromFetchHandler((request) => {
      request.signal.addEventListener("abort", () => events.push("aborted"));
      return new Response(new ReadableStream<Uint8Array>({
        async pull(controller) {
          await sleep(2);
          controller.enqueue(new TextEncoder().encode("chunk "));
        },
        cancel: () => {
          events.push("cancelled");
        },
      }), { headers: { "Content-Type": "text/plain" } });
    });
    const response = await call(app, "/", { method: "HEAD" });
    expect(response.body).toBe("");
    await sleep(10);
    expect(events.sort()).toEqual(["aborted", "cancelled"]);
  });

  test("a handler that throws is a 500 with the trace in gw.errors", async () => {
    const response = await call(fromFetchHandler(() => {
      throw new Error("fetch handler broke 99");
    }), "/");
    expect(response.code).toBe(500);
    expect(response.errors).toContain("fetch handler broke 99");
  });

  test("a handler that returns no Response is a 500 that says so", async () => {
    const response = await call(fromFetchHandler(() => undefined as unknown as Response), "/");
    expect(response.code).toBe(500);
    expect(response.errors).toContain("TypeError: the Fetch handler returned undefined, not a Response");
  });

  test("a Host Fetch cannot parse is a 400 (from the gateway, before the handler)", async () => {
    const response = await call(fromFetchHandler(() => new Response("never")), "/", { environ: { HTTP_HOST: "bad host" } });
    expect([response.code, response.body]).toEqual([400, BAD_HOST_BODY]);
  });

  test("its header-name memo keeps no long names and starts over when full (#16)", async () => {
    const seen: (string | null)[] = [];
    const app = fromFetchHandler((request) => {
      seen.push(request.headers.get("x-ordinary"));
      return new Response("ok");
    });
    const before = requestHeaderMemoSize();
    const long = `HTTP_X_${"L".repeat(MAX_MEMO_KEY)}`;
    await call(app, "/", { environ: { [long]: "1" } });
    expect(requestHeaderMemoSize()).toBe(before);
    for (let i = 0; i <= MAX_MEMO_ENTRIES; i++) await call(app, "/", { environ: { [`HTTP_X_N${i}`]: "v", HTTP_X_ORDINARY: String(i) } });
    expect(requestHeaderMemoSize()).toBeLessThanOrEqual(MAX_MEMO_ENTRIES);
    const size = requestHeaderMemoSize();
    await call(app, "/", { environ: { HTTP_X_ORDINARY: "again" } });
    expect([requestHeaderMemoSize(), seen.at(-1)]).toEqual([size, "again"]);
  });

  test("a gw app survives the round trip through both adapters", async () => {
    const inner = application([["/n/(\\d+)", (n: string) => `n=${n} ${ctx.method}`]]);
    const roundTrip = fromFetchHandler(toFetchHandler(inner));
    const response = await call(roundTrip, "/n/5", { environ: { HTTP_HOST: "h" } });
    expect([response.status, response.body, response.header("content-length")]).toEqual(["200 OK", "n=5 GET", "7"]);
  });

  test("fromFetchHandler refuses a non-function at once", () => {
    expect(() => fromFetchHandler("nope" as never)).toThrow(TypeError);
  });
});
