// The shared conformance suite through the Fetch adapter (toFetchHandler behind a small Fetch host
// over node:http), and a parity check: a Hono app served natively by @hono/node-server and through
// fromFetchHandler under makeServer answers the same requests the same way.
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { toFetchHandler } from "../../src/adapters/to-fetch.ts";
import { fromFetchHandler } from "../../src/adapters/from-fetch.ts";
import { makeServer, type HttpServer } from "../../src/server/http.ts";
import { conformanceSuite, type StartGateway } from "./suite.ts";
import { echoEnviron } from "../helpers/apps.ts";
import { RawConnection, sendRequest, waitUntil, type FetchedResponse } from "../helpers/http-client.ts";
import { serveFetch } from "../helpers/fetch-bridge.ts";
import { expectNoGatewayFaults, expectTraceInSink, recordingSink } from "../helpers/gateways.ts";

describe("toFetchHandler", () => {
  const errors = recordingSink();
  const start: StartGateway = (app) => serveFetch(toFetchHandler(app, { errors }));

  conformanceSuite("toFetchHandler behind a Fetch host", start, {
    omit: {
      // WHATWG Fetch's Headers combines repeated fields into one value joined with ", " before any
      // handler sees the Request; the original split is gone. The test below states what holds.
      "a repeated header is joined with ','": "Fetch joins repeated request headers with \", \"",
    },
  });

  test("a repeated header arrives as Fetch joined it, with ', '", async () => {
    const gateway = await start(echoEnviron);
    const connection = await RawConnection.open(gateway.url);
    try {
      connection.send("GET /multi HTTP/1.1\r\nHost: localhost\r\nX-Multi: a\r\nX-Multi: b\r\nX-Multi: c d\r\nConnection: close\r\n\r\n");
      const response = await connection.readResponse();
      expect((JSON.parse(response.body.toString("utf8")) as Record<string, unknown>).HTTP_X_MULTI).toBe("a, b, c d");
    } finally {
      connection.close();
      await gateway.close();
    }
  });

  test("an app's trace goes to options.errors, never to the client", () => expectTraceInSink(start, errors));

  afterAll(() => expectNoGatewayFaults(errors.text()));
});

/** The same Hono app for both servers. */
function honoApp(): Hono {
  const app = new Hono();
  app.get("/", (c) => c.text("Hello from Hono"));
  app.get("/json/:id", (c) => c.json({ id: c.req.param("id"), q: c.req.query("q") ?? null }));
  app.get("/html", (c) => c.html("<h1>hi</h1>"));
  app.post("/echo", async (c) => c.text(`${c.req.header("content-type") ?? ""}|${await c.req.text()}`, 201));
  app.get("/cookies", (c) => {
    c.header("Set-Cookie", "a=1; Path=/", { append: true });
    c.header("Set-Cookie", "b=2; HttpOnly", { append: true });
    return c.text("two cookies");
  });
  app.get("/redirect", (c) => c.redirect("/json/7", 302));
  app.get("/stream", (c) =>
    c.body(new ReadableStream<Uint8Array>({
      async start(controller) {
        for (let i = 0; i < 3; i++) {
          controller.enqueue(new TextEncoder().encode(`part ${i}\n`));
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        controller.close();
      },
    }), 200, { "Content-Type": "text/plain" }));
  app.get("/error", () => {
    throw new Error("hono handler failed");
  });
  app.onError((error, c) => c.text(`caught: ${error.message}`, 500));
  app.get("/path/*", (c) => c.text(new URL(c.req.url).pathname));
  return app;
}

// The parity compares what an app can rely on. Framing headers (Date, Connection, Keep-Alive,
// Transfer-Encoding) are the server's; gw adds Server; @hono/node-server writes "; " before the
// charset of a bare string body where undici's Response writes ";".
const IGNORED = new Set(["date", "connection", "keep-alive", "transfer-encoding", "server"]);

function relevant(response: FetchedResponse): Record<string, unknown> {
  const headers: [string, string][] = [];
  for (let i = 0; i < response.rawHeaders.length; i += 2) {
    const name = response.rawHeaders[i]!.toLowerCase();
    let value = response.rawHeaders[i + 1]!;
    if (IGNORED.has(name)) continue;
    if (name === "content-type") value = value.replace(/;\s*/g, "; ").toLowerCase();
    headers.push([name, value]);
  }
  headers.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { status: response.status, headers, body: response.body.toString("utf8") };
}

describe("fromFetchHandler: a Hono app under gw behaves as under @hono/node-server", () => {
  let native: ServerType;
  let nativeUrl: string;
  let gw: HttpServer;
  const errors = recordingSink();

  beforeAll(async () => {
    const app = honoApp();
    nativeUrl = await new Promise<string>((resolve) => {
      native = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => resolve(`http://127.0.0.1:${info.port}/`));
    });
    gw = await makeServer("127.0.0.1", 0, fromFetchHandler(app.fetch), { log: null, errors });
    void gw.serveForever();
  });

  afterAll(async () => {
    await gw.shutdown(1_000);
    await new Promise<void>((resolve) => native.close(() => resolve()));
  });

  const cases: [string, string, { method?: string; headers?: Record<string, string>; body?: string }][] = [
    ["GET /", "/", {}],
    ["GET a JSON route with a param and a query", "/json/42?q=x%20y", {}],
    ["GET HTML", "/html", {}],
    ["POST with a body and a 201", "/echo", { method: "POST", headers: { "Content-Type": "text/plain" }, body: "hello body" }],
    ["two Set-Cookie headers", "/cookies", {}],
    ["a redirect", "/redirect", {}],
    ["a streamed body", "/stream", {}],
    ["a handler error caught by onError", "/error", {}],
    ["no route: Hono's 404", "/missing", {}],
    ["HEAD of a route", "/", { method: "HEAD" }],
    ["HEAD of a streamed route", "/stream", { method: "HEAD" }],
    ["an encoded path reaches the router as sent", "/path/a%2Fb/caf%C3%A9", {}],
  ];

  test.each(cases)("%s", async (_what, path, options) => {
    const [fromNative, fromGw] = await Promise.all([sendRequest(nativeUrl, path, options), sendRequest(gw.url, path, options)]);
    const expected = relevant(fromNative);
    const actual = relevant(fromGw);
    // node frames an empty body of unknown length as an empty chunked body, gw's handler as
    // Content-Length: 0 (SPEC §5.1): the same message. Any other length must match.
    if (fromNative.headers["content-length"] === undefined && options.method !== "HEAD" && fromGw.body.length === 0) {
      actual.headers = (actual.headers as [string, string][]).filter((pair) => pair.join(":") !== "content-length:0");
    }
    expect(actual).toEqual(expected);
  });

  test("a streamed body streams under gw too: the first part arrives before the body ends", async () => {
    const connection = await RawConnection.open(gw.url);
    try {
      connection.send("GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const head = await connection.readHead();
      expect(head.headers.get("transfer-encoding")).toEqual(["chunked"]);
      await waitUntil("the first part", () => connection.pending.toString().includes("part 0"));
      expect(connection.pending.toString()).not.toContain("0\r\n\r\n");
    } finally {
      connection.close();
    }
  });

  test("a one-chunk body gets Content-Length under gw, as natively", async () => {
    const [fromNative, fromGw] = await Promise.all([sendRequest(nativeUrl, "/"), sendRequest(gw.url, "/")]);
    expect(fromNative.headers["content-length"]).toBe("15");
    expect(fromGw.headers["content-length"]).toBe("15");
  });

  afterAll(() => {
    expect(errors.text()).toBe("");
  });
});
