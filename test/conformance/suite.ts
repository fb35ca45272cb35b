// The HTTP expectations every gw gateway meets, written once (srvx's pattern) and run against each
// gateway by test/conformance.test.ts over real sockets on 127.0.0.1.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test as vitestTest } from "vitest";
import { ERROR_BODY } from "../../src/gateway/base-handler.ts";
import type { AnyApp } from "../../src/core/types.ts";
import {
  ARRAY_BODY, CLASS_HELLO, CLOSE_KEY_HEADER, ClosingClass, HelloClass, ThrowingClass, FIRST_CHUNK, HEAD_AWARE_BODY, HELLO, SECRET, arrayBody, closeRegistry, closeTracked,
  echoBody, echoEnviron, fileDownload, headAware, hello, noContent, streamedText, streaming, throwsAfterFirstChunk,
  throwsBeforeStart,
} from "../helpers/apps.ts";
import { RawConnection, decodeChunked, header, rawExchange, sendRequest, sleep, waitUntil } from "../helpers/http-client.ts";

/** A running gateway: its base URL (http://127.0.0.1:PORT/) and how to stop it. */
export interface StartedGateway {
  url: string;
  close(): Promise<void>;
}

/** Starts `app` behind one gateway, listening on 127.0.0.1 with port 0. */
export type StartGateway = (app: AnyApp) => Promise<StartedGateway>;

/** Runs `use` against `app` behind the gateway, and always stops the gateway. */
async function withGateway<T>(start: StartGateway, app: AnyApp, use: (url: string) => Promise<T>): Promise<T> {
  const gateway = await start(app);
  try {
    return await use(gateway.url);
  } finally {
    await gateway.close();
  }
}

let keys = 0;
function uniqueKey(label: string): string {
  keys++;
  return `${label}-${process.pid}-${keys}-${Date.now()}`;
}

/** Options for conformanceSuite. */
export interface SuiteOptions {
  /**
   * Tests this gateway cannot meet by its nature, by exact title, each with the reason; they are
   * not registered. Only for a limit of the gateway's interface (say, Fetch's Headers joining
   * repeated fields), never for a bug; the gateway's own test file then states what holds instead.
   */
  omit?: Readonly<Record<string, string>>;
}

/** Registers the conformance suite for one gateway under describe(name). */
export function conformanceSuite(name: string, start: StartGateway, options: SuiteOptions = {}): void {
  const omit = options.omit ?? {};
  const titles = new Set<string>();
  const test = (title: string, fn: () => Promise<void>): void => {
    titles.add(title);
    if (omit[title] === undefined) vitestTest(title, fn);
  };
  describe(name, () => {
    afterAll(() => {
      // A renamed test must not slip out of an omit list unnoticed.
      for (const title of Object.keys(omit)) expect(titles, `omit names no test: ${title}`).toContain(title);
    });
    describe("environ", () => {
      let gateway: StartedGateway;
      beforeAll(async () => {
        gateway = await start(echoEnviron);
      });
      afterAll(async () => {
        await gateway?.close();
      });

      async function environFor(path: string, options: Parameters<typeof sendRequest>[2] = {}): Promise<Record<string, unknown>> {
        const response = await sendRequest(gateway.url, path, options);
        expect(response.status).toBe(200);
        return JSON.parse(response.body.toString("utf8")) as Record<string, unknown>;
      }

      test("CGI keys of a plain GET at the root", async () => {
        const environ = await environFor("/");
        const url = new URL(gateway.url);
        expect(environ).toMatchObject({
          REQUEST_METHOD: "GET",
          SCRIPT_NAME: "",
          PATH_INFO: "/",
          QUERY_STRING: "",
          SERVER_NAME: url.hostname,
          SERVER_PORT: url.port,
          SERVER_PROTOCOL: "HTTP/1.1",
          REMOTE_ADDR: "127.0.0.1",
        });
      });

      test("gw.* keys", async () => {
        const environ = await environFor("/");
        expect(environ).toMatchObject({
          "gw.version": [1, 0],
          "gw.url_scheme": "http",
          "gw.input": "<object>",
          "gw.input.read": "function",
          "gw.input.readline": "function",
          "gw.errors": "<object>",
          "gw.errors.write": "function",
          "gw.file_wrapper": "<function>",
        });
        for (const key of ["gw.multithread", "gw.multiprocess", "gw.run_once"]) expect(typeof environ[key]).toBe("boolean");
        expect(environ["gw.run_once"]).toBe(false);
      });

      test("REQUEST_METHOD is the method sent", async () => {
        for (const method of ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"]) {
          const environ = await environFor("/", { method, body: "" });
          expect(environ.REQUEST_METHOD).toBe(method);
        }
      });

      test("PATH_INFO is percent-decoded", async () => {
        expect((await environFor("/a%20b/c")).PATH_INFO).toBe("/a b/c");
        expect((await environFor("/caf%C3%A9/%E2%82%AC")).PATH_INFO).toBe("/café/€");
        expect((await environFor("/x%2Fy")).PATH_INFO).toBe("/x/y");
        expect((await environFor("/plain/path.txt")).PATH_INFO).toBe("/plain/path.txt");
      });

      test("a malformed escape stays as it is and an invalid UTF-8 byte decodes as latin-1, without a crash", async () => {
        expect((await environFor("/bad%ZZ/%4")).PATH_INFO).toBe("/bad%ZZ/%4");
        expect((await environFor("/%FF")).PATH_INFO).toBe("/\u00ff");
        expect((await environFor("/caf%E9")).PATH_INFO).toBe("/caf\u00e9");
        // The gateway still serves after the odd paths.
        expect((await environFor("/after")).PATH_INFO).toBe("/after");
      });

      test("QUERY_STRING is raw, without '?', and '' when there is none", async () => {
        const environ = await environFor("/search?q=a%20b+c&x=%FF&&y");
        expect(environ.PATH_INFO).toBe("/search");
        expect(environ.QUERY_STRING).toBe("q=a%20b+c&x=%FF&&y");
        expect((await environFor("/search")).QUERY_STRING).toBe("");
        expect((await environFor("/search?")).QUERY_STRING).toBe("");
      });

      test("CONTENT_TYPE and CONTENT_LENGTH come without the HTTP_ prefix", async () => {
        const environ = await environFor("/form", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": 7 },
          body: "a=1&b=2",
        });
        expect(environ.CONTENT_TYPE).toBe("application/x-www-form-urlencoded");
        expect(environ.CONTENT_LENGTH).toBe("7");
        expect(environ).not.toHaveProperty("HTTP_CONTENT_TYPE");
        expect(environ).not.toHaveProperty("HTTP_CONTENT_LENGTH");
      });

      test("a GET without a body has no CONTENT_TYPE and an empty or missing CONTENT_LENGTH", async () => {
        const environ = await environFor("/");
        expect(environ.CONTENT_TYPE ?? "").toBe("");
        expect(environ.CONTENT_LENGTH ?? "").toBe("");
      });

      test("other headers become HTTP_* keys", async () => {
        const environ = await environFor("/", { headers: { "X-Custom-Thing": "v1", Accept: "text/plain", "user-agent": "gw-test" } });
        expect(environ.HTTP_X_CUSTOM_THING).toBe("v1");
        expect(environ.HTTP_ACCEPT).toBe("text/plain");
        expect(environ.HTTP_USER_AGENT).toBe("gw-test");
        expect(environ.HTTP_HOST).toBe(new URL(gateway.url).host);
      });

      test("a repeated header is joined with ','", async () => {
        const connection = await RawConnection.open(gateway.url);
        try {
          connection.send("GET /multi HTTP/1.1\r\nHost: localhost\r\nX-Multi: a\r\nX-Multi: b\r\nX-Multi: c d\r\nConnection: close\r\n\r\n");
          const response = await connection.readResponse();
          expect(response.status).toBe(200);
          const environ = JSON.parse(response.body.toString("utf8")) as Record<string, unknown>;
          expect(environ.HTTP_X_MULTI).toBe("a,b,c d");
        } finally {
          connection.close();
        }
      });

      test("an HTTP/1.0 request has SERVER_PROTOCOL HTTP/1.0", async () => {
        const raw = await rawExchange(gateway.url, "GET /old HTTP/1.0\r\n\r\n");
        const text = raw.toString("utf8");
        const body = text.slice(text.indexOf("\r\n\r\n") + 4);
        const environ = JSON.parse(body) as Record<string, unknown>;
        expect(environ.SERVER_PROTOCOL).toBe("HTTP/1.0");
        expect(environ.PATH_INFO).toBe("/old");
      });
    });

    describe("responses", () => {
      test("a one-chunk body gets Content-Length", async () => {
        await withGateway(start, hello, async (url) => {
          const response = await sendRequest(url, "/");
          expect(response.status).toBe(200);
          expect(response.body.toString()).toBe(HELLO);
          expect(response.headers["content-length"]).toBe(String(HELLO.length));
          expect(response.headers["transfer-encoding"]).toBeUndefined();
          expect(response.headers["content-type"]).toBe("text/plain; charset=utf-8");
        });
      });

      test("an array body of several chunks gets Content-Length, not chunked", async () => {
        await withGateway(start, arrayBody, async (url) => {
          const response = await sendRequest(url, "/");
          const text = ARRAY_BODY.join("");
          expect(response.body.toString()).toBe(text);
          expect(response.headers["content-length"]).toBe(String(Buffer.byteLength(text)));
          expect(response.headers["transfer-encoding"]).toBeUndefined();
        });
      });

      test("a multi-chunk generator on HTTP/1.1 is sent chunked", async () => {
        await withGateway(start, streaming, async (url) => {
          const connection = await RawConnection.open(url);
          try {
            connection.send("GET /?n=4&delay=5 HTTP/1.1\r\nHost: localhost\r\n\r\n");
            const response = await connection.readResponse();
            expect(response.status).toBe(200);
            expect(header(response, "transfer-encoding")).toBe("chunked");
            expect(header(response, "content-length")).toBeUndefined();
            expect(response.body.toString()).toBe(streamedText(4));
            // Framed as chunks on the wire, not one blob.
            expect(response.wire.length).toBeGreaterThan(response.body.length);
          } finally {
            connection.close();
          }
        });
      });

      test("an HTTP/1.0 request to a streaming app gets a close-delimited body", async () => {
        await withGateway(start, streaming, async (url) => {
          const connection = await RawConnection.open(url);
          try {
            connection.send("GET /?n=5&delay=5 HTTP/1.0\r\n\r\n");
            const head = await connection.readHead();
            expect(head.status).toBe(200);
            expect(head.headers.get("transfer-encoding")).toBeUndefined();
            expect(head.headers.get("content-length")).toBeUndefined();
            await connection.waitForClose();
            expect(connection.pending.toString()).toBe(streamedText(5));
          } finally {
            connection.close();
          }
        });
      });

      test("204 has no body and no framing headers", async () => {
        await withGateway(start, noContent, async (url) => {
          const raw = await rawExchange(url, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
          const text = raw.toString("latin1");
          const end = text.indexOf("\r\n\r\n");
          expect(text.startsWith("HTTP/1.1 204 ")).toBe(true);
          expect(end).toBeGreaterThan(0);
          expect(raw.length - (end + 4)).toBe(0);
          expect(text.slice(0, end).toLowerCase()).not.toContain("transfer-encoding");
          expect(text.slice(0, end).toLowerCase()).not.toMatch(/content-length: [1-9]/);
        });
      });

      test("file_wrapper sends the file byte-exact with Content-Length = its size", async () => {
        const dir = await mkdtemp(join(tmpdir(), "gw-conformance-"));
        try {
          const path = join(dir, "download.bin");
          const data = randomBytes(300 * 1024 + 17);
          await writeFile(path, data);
          await withGateway(start, fileDownload(path), async (url) => {
            const response = await sendRequest(url, "/download.bin");
            expect(response.status).toBe(200);
            expect(response.body.length).toBe(data.length);
            expect(response.body.equals(data)).toBe(true);
            expect(response.headers["content-length"]).toBe(String(data.length));
          });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    });

    describe("HEAD", () => {
      test("a HEAD request gets Content-Length and no body bytes on the wire", async () => {
        await withGateway(start, hello, async (url) => {
          const raw = await rawExchange(url, "HEAD / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
          const text = raw.toString("latin1");
          const end = text.indexOf("\r\n\r\n");
          expect(text.startsWith("HTTP/1.1 200 ")).toBe(true);
          expect(text.slice(0, end)).toMatch(/\r\ncontent-length: 13\r?(\n|$)/i);
          expect(raw.length - (end + 4)).toBe(0);
        });
      });

      test("a HEAD-aware app's own Content-Length is kept, with no body bytes", async () => {
        await withGateway(start, headAware, async (url) => {
          const connection = await RawConnection.open(url);
          try {
            connection.send("HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n");
            const head = await connection.readResponse({ isHead: true });
            expect(head.status).toBe(200);
            expect(header(head, "content-length")).toBe(String(HEAD_AWARE_BODY.length));
            // The same connection then serves a GET; any stray body bytes from the HEAD would corrupt it.
            connection.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
            const get = await connection.readResponse();
            expect(get.statusLine.startsWith("HTTP/1.1 200")).toBe(true);
            expect(get.body.toString()).toBe(HEAD_AWARE_BODY);
          } finally {
            connection.close();
          }
        });
      });
    });

    describe("connections", () => {
      test("keep-alive: two requests over one raw connection", async () => {
        await withGateway(start, hello, async (url) => {
          const connection = await RawConnection.open(url);
          try {
            connection.send("GET /one HTTP/1.1\r\nHost: localhost\r\n\r\n");
            const first = await connection.readResponse();
            expect(first.body.toString()).toBe(HELLO);
            expect(header(first, "connection")?.toLowerCase()).not.toBe("close");
            connection.send("GET /two HTTP/1.1\r\nHost: localhost\r\n\r\n");
            const second = await connection.readResponse();
            expect(second.status).toBe(200);
            expect(second.body.toString()).toBe(HELLO);
            expect(connection.isClosed).toBe(false);
          } finally {
            connection.close();
          }
        });
      });

      test("keep-alive: an Agent with maxSockets 1 reuses its socket", async () => {
        await withGateway(start, hello, async (url) => {
          const agent = new Agent({ keepAlive: true, maxSockets: 1 });
          try {
            const first = await sendRequest(url, "/a", { agent });
            const second = await sendRequest(url, "/b", { agent });
            expect(first.body.toString()).toBe(HELLO);
            expect(second.body.toString()).toBe(HELLO);
            expect(first.localPort).toBeTypeOf("number");
            expect(second.localPort).toBe(first.localPort);
          } finally {
            agent.destroy();
          }
        });
      });

      test("a 1 MiB random POST is echoed byte-exact", async () => {
        await withGateway(start, echoBody, async (url) => {
          const data = randomBytes(1024 * 1024);
          const response = await sendRequest(url, "/echo", {
            method: "POST",
            headers: { "Content-Type": "application/octet-stream", "Content-Length": data.length },
            body: data,
            timeout: 15_000,
          });
          expect(response.status).toBe(200);
          expect(response.body.length).toBe(data.length);
          expect(response.body.equals(data)).toBe(true);
        });
      });

      test("a chunked request body is echoed", async () => {
        await withGateway(start, echoBody, async (url) => {
          const connection = await RawConnection.open(url);
          try {
            connection.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
            connection.send("5\r\nhello\r\n");
            await sleep(20);
            connection.send("6\r\n world\r\n19\r\n, sent in several chunks!\r\n0\r\n\r\n");
            const response = await connection.readResponse();
            expect(response.status).toBe(200);
            expect(header(response, "content-type")).toBe("text/plain");
            expect(response.body.toString()).toBe("hello world, sent in several chunks!");
          } finally {
            connection.close();
          }
        });
      });
    });

    describe("errors", () => {
      test("an app that throws before startResponse gets a 500 with the generic body, no trace", async () => {
        await withGateway(start, throwsBeforeStart, async (url) => {
          const response = await sendRequest(url, "/");
          expect(response.status).toBe(500);
          const body = response.body.toString();
          expect(body).toBe(ERROR_BODY);
          expect(body).not.toContain(SECRET);
          expect(body).not.toContain("    at ");
          expect(JSON.stringify(response.headers)).not.toContain(SECRET);
        });
      });

      test("after a 500 the gateway keeps serving, on the same connection and on new ones", async () => {
        await withGateway(start, throwsBeforeStart, async (url) => {
          const connection = await RawConnection.open(url);
          try {
            for (let i = 0; i < 3; i++) {
              connection.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
              const response = await connection.readResponse();
              expect(response.status).toBe(500);
              expect(response.body.toString()).toBe(ERROR_BODY);
            }
          } finally {
            connection.close();
          }
          const fresh = await sendRequest(url, "/again");
          expect(fresh.status).toBe(500);
        });
      });

      test("an error after the first chunk cuts the connection: the client sees an incomplete response", async () => {
        await withGateway(start, throwsAfterFirstChunk, async (url) => {
          const connection = await RawConnection.open(url);
          try {
            connection.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
            const head = await connection.readHead();
            expect(head.status).toBe(200);
            await connection.waitForClose();
            const wire = connection.pending;
            expect(wire.toString()).toContain(FIRST_CHUNK);
            expect(wire.toString()).not.toContain(SECRET);
            if (head.headers.get("transfer-encoding")?.[0] === "chunked") {
              // No terminating zero-length chunk: the body is visibly incomplete.
              expect(decodeChunked(wire)).toBeUndefined();
            } else {
              const length = head.headers.get("content-length")?.[0];
              expect(length).toBeDefined();
              expect(wire.length).toBeLessThan(Number(length));
            }
          } finally {
            connection.close();
          }
          // node's own client reports the same response as an error, not a complete body.
          await expect(sendRequest(url, "/")).rejects.toThrow();
        });
      });
    });

    describe("body close()", () => {
      test("close() is called exactly once when the body ends normally", async () => {
        await withGateway(start, closeTracked, async (url) => {
          const key = uniqueKey("normal");
          const response = await sendRequest(url, "/?n=3", { headers: { [CLOSE_KEY_HEADER]: key } });
          expect(response.body.toString()).toBe("tick 0\ntick 1\ntick 2\n");
          await waitUntil("close() was called", () => (closeRegistry.get(key)?.closeCalls ?? 0) >= 1);
          await sleep(100);
          expect(closeRegistry.get(key)).toEqual({ closeCalls: 1, produced: 3 });
        });
      });

      test("close() is called exactly once when the client disconnects mid-stream", async () => {
        await withGateway(start, closeTracked, async (url) => {
          const key = uniqueKey("abort");
          const connection = await RawConnection.open(url);
          try {
            connection.send(`GET /?n=inf&delay=20 HTTP/1.1\r\nHost: localhost\r\n${CLOSE_KEY_HEADER}: ${key}\r\n\r\n`);
            await connection.readHead();
            await waitUntil("the first body bytes arrived", () => connection.pending.length > 0);
          } finally {
            connection.close();
          }
          await waitUntil("close() was called after the disconnect", () => (closeRegistry.get(key)?.closeCalls ?? 0) >= 1, 3_000);
          const producedAtClose = closeRegistry.get(key)!.produced;
          await sleep(200);
          const record = closeRegistry.get(key)!;
          expect(record.closeCalls).toBe(1);
          // The endless body stopped being pulled once the client was gone.
          expect(record.produced).toBeLessThanOrEqual(producedAtClose + 1);
        });
      });
    });

    describe("class applications (PEP 3333)", () => {
      test("a class is constructed per request and its instance is the body", async () => {
        await withGateway(start, HelloClass, async (url) => {
          for (let i = 0; i < 2; i++) {
            const response = await sendRequest(url, "/");
            expect([response.status, response.body.toString()]).toEqual([200, CLASS_HELLO]);
            expect(response.headers["content-length"]).toBe(String(CLASS_HELLO.length));
          }
        });
      });

      test("an async iterable instance streams, and its close() is called exactly once", async () => {
        await withGateway(start, ClosingClass, async (url) => {
          const key = uniqueKey("class");
          const response = await sendRequest(url, "/?n=3", { headers: { [CLOSE_KEY_HEADER]: key } });
          expect(response.body.toString()).toBe("part 0\npart 1\npart 2\n");
          await waitUntil("close() was called", () => (closeRegistry.get(key)?.closeCalls ?? 0) >= 1);
          await sleep(50);
          expect(closeRegistry.get(key)).toEqual({ closeCalls: 1, produced: 3 });
        });
      });

      test("a constructor that throws gets the generic 500", async () => {
        await withGateway(start, ThrowingClass, async (url) => {
          const response = await sendRequest(url, "/");
          expect([response.status, response.body.toString()]).toEqual([500, ERROR_BODY]);
          expect(response.body.toString()).not.toContain(SECRET);
        });
      });
    });
  });
}
