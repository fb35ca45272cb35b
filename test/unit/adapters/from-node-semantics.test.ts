// What fromNodeListener must keep of Node's semantics now that it hands the head and body to gw
// directly (no HTTP text in between): streaming order, raw header arrays, repeated Set-Cookie,
// HEAD, 204/304, the listener's own Content-Length, errors after the headers, aborts, drains,
// and the events Node's server emits around a response.
import type { IncomingMessage, ServerResponse } from "node:http";
import express from "express";
import { describe, expect, test } from "vitest";
import { withNodeListener } from "../../helpers/gateways.ts";
import { decodeChunked, header, RawConnection, sendRequest, sleep, waitUntil } from "../../helpers/http-client.ts";

describe("fromNodeListener keeps Node's response semantics", () => {
  test("writes stream in order as they are made, and each callback runs after its bytes went out", async () => {
    const order: string[] = [];
    let release: () => void = () => {};
    const listener = (_req: IncomingMessage, res: ServerResponse): void => {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.write("one,", () => order.push("cb one"));
      res.write("two,", () => order.push("cb two"));
      // The third write waits for the test to have read the first two off the wire.
      new Promise<void>((resolve) => (release = resolve)).then(() => res.end("three", () => order.push("cb end")));
    };
    await withNodeListener(listener, async (url) => {
      const connection = await RawConnection.open(url);
      connection.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      const head = await connection.readHead();
      expect(header({ ...head, body: Buffer.alloc(0), wire: Buffer.alloc(0) }, "transfer-encoding")).toBe("chunked");
      await waitUntil("the first two writes arrived", () => connection.pending.toString().includes("two,"));
      expect(connection.pending.toString()).not.toContain("three");
      await waitUntil("both callbacks ran", () => order.length === 2);
      release();
      await waitUntil("the end arrived", () => decodeChunked(connection.pending) !== undefined);
      expect(decodeChunked(connection.pending)!.body.toString()).toBe("one,two,three");
      await waitUntil("the end callback ran", () => order.length === 3);
      expect(order).toEqual(["cb one", "cb two", "cb end"]);
      connection.close();
    });
  });

  test("writeHead with a raw flat array: repeated Set-Cookie, the listener's Content-Length, no chunking", async () => {
    const listener = (_req: IncomingMessage, res: ServerResponse): void => {
      res.writeHead(200, ["Content-Type", "text/plain", "Set-Cookie", "a=1", "Set-Cookie", "b=2", "Content-Length", "5"]);
      setTimeout(() => res.end("hello"), 5);
    };
    await withNodeListener(listener, async (url) => {
      const connection = await RawConnection.open(url);
      connection.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      const response = await connection.readResponse();
      expect(response.headers.get("set-cookie")).toEqual(["a=1", "b=2"]);
      expect(response.headers.get("content-length")).toEqual(["5"]);
      expect(response.headers.has("transfer-encoding")).toBe(false);
      expect(response.wire.toString()).toBe("hello");
      connection.close();
    });
  });

  test("setHeader, appendHeader and writeHead's object merge; pairs arrays work too; bad values throw as in Node", async () => {
    const thrown: string[] = [];
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      if (req.url === "/pairs") {
        res.writeHead(202, "Fine", [["X-A", "1"], ["X-A", "2"]] as unknown as string[]);
        res.end();
        return;
      }
      res.setHeader("Set-Cookie", ["a=1", "b=2"]);
      res.appendHeader("Set-Cookie", "c=3");
      res.setHeader("X-Number", 42);
      try {
        res.setHeader("X-Bad", "line\nbreak");
      } catch (error) {
        thrown.push((error as { code: string }).code);
      }
      res.writeHead(200, { "Content-Type": "text/plain", "X-Late": "yes" });
      res.end("ok");
    };
    await withNodeListener(listener, async (url) => {
      const merged = await sendRequest(url, "/");
      expect(merged.headers["set-cookie"]).toEqual(["a=1", "b=2", "c=3"]);
      expect([merged.headers["x-number"], merged.headers["x-late"], merged.headers["content-length"]]).toEqual(["42", "yes", "2"]);
      const pairs = await sendRequest(url, "/pairs");
      expect([pairs.status, pairs.headers["x-a"]]).toEqual([202, "1, 2"]);
    });
    expect(thrown).toEqual(["ERR_INVALID_CHAR"]);
  });

  test("hop-by-hop headers the listener sets are dropped, whatever their case; gw frames the response itself", async () => {
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      if (req.url === "/set") {
        res.setHeader("Connection", "close");
        res.setHeader("keep-alive", "timeout=99");
        res.setHeader("Transfer-Encoding", "chunked");
        res.setHeader("Upgrade", "h2c");
        res.setHeader("TE", "trailers");
        res.setHeader("X-Kept", "1");
        res.end("set");
      } else {
        res.writeHead(200, ["CONNECTION", "close", "Proxy-Authenticate", "Basic", "X-Kept", "2"]);
        res.end("raw");
      }
    };
    await withNodeListener(listener, async (url) => {
      const connection = await RawConnection.open(url);
      for (const [path, body, kept] of [["/set", "set", "1"], ["/raw", "raw", "2"]] as const) {
        connection.send(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
        const response = await connection.readResponse();
        // What is there of Connection and Keep-Alive is gw's server's own, for a kept-alive connection.
        expect(response.headers.get("connection")).toEqual(["keep-alive"]);
        expect(response.headers.get("keep-alive")).not.toContain("timeout=99");
        for (const name of ["transfer-encoding", "upgrade", "te", "proxy-authenticate"]) expect(response.headers.has(name)).toBe(false);
        expect(response.headers.get("content-length")).toEqual([String(body.length)]);
        expect([response.headers.get("x-kept"), response.wire.toString()]).toEqual([[kept], body]);
      }
      connection.close();
    });
  });

  test("a Trailer header and addTrailers() are dropped (a gw response has no trailers), not a 500", async () => {
    const listener = (_req: IncomingMessage, res: ServerResponse): void => {
      res.writeHead(200, { "Content-Type": "text/plain", Trailer: "X-Sum" });
      res.write("abc");
      res.addTrailers({ "X-Sum": "123" });
      res.end();
    };
    await withNodeListener(listener, async (url) => {
      const response = await sendRequest(url, "/");
      expect([response.status, response.body.toString(), response.headers["trailer"]]).toEqual([200, "abc", undefined]);
    });
  });

  test("res.destroy(error) after the headers cuts that response only; the server answers the next one", async () => {
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      if (req.url === "/ok") return void res.end("still here");
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.write("partial-");
      setTimeout(() => res.destroy(new Error("destroyed after the headers")), 20);
    };
    await withNodeListener(listener, async (url) => {
      const connection = await RawConnection.open(url);
      connection.send("GET /cut HTTP/1.1\r\nHost: x\r\n\r\n");
      await waitUntil("the connection closed", () => connection.isClosed);
      expect(connection.pending.toString()).toContain("partial-");
      expect((await sendRequest(url, "/ok")).body.toString()).toBe("still here");
    });
  });

  test("HEAD gets the GET's Content-Length and no body; the connection stays usable", async () => {
    const app = express();
    app.get("/", (_req, res) => void res.type("text").send("twelve bytes"));
    await withNodeListener(app, async (url) => {
      const connection = await RawConnection.open(url);
      connection.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
      const head = await connection.readResponse({ isHead: true });
      expect([head.status, head.headers.get("content-length")?.[0], head.wire.length]).toEqual([200, "12", 0]);
      connection.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      expect((await connection.readResponse()).body.toString()).toBe("twelve bytes");
      connection.close();
    });
  });

  test("204 and 304 have no body, whatever the listener writes, and keep the connection", async () => {
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      if (req.url === "/204") {
        res.writeHead(204);
        res.end("ignored");
      } else {
        res.writeHead(304, { ETag: '"x"' });
        res.end();
      }
    };
    await withNodeListener(listener, async (url) => {
      const connection = await RawConnection.open(url);
      for (const [path, status] of [["/204", 204], ["/304", 304], ["/204", 204]] as const) {
        connection.send(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
        const response = await connection.readResponse();
        expect([response.status, response.wire.length, response.headers.has("transfer-encoding")]).toEqual([status, 0, false]);
      }
      connection.close();
    });
  });

  test("a synchronous throw before the headers is gw's 500, logged; after the headers Express cuts the connection", async () => {
    const app = express();
    app.get("/partial", (_req, res) => {
      res.type("text");
      res.write("partial ");
      throw new Error("after the headers");
    });
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      if (req.url === "/sync") throw new Error("thrown by the listener");
      app(req, res);
    };
    const errors = await withNodeListener(listener, async (url) => {
      const sync = await sendRequest(url, "/sync");
      expect(sync.status).toBe(500);
      // finalhandler destroys the socket once headers are out: the client sees a cut, not a 500.
      await expect(sendRequest(url, "/partial")).rejects.toThrow();
      const after = await sendRequest(url, "/sync");
      expect(after.status).toBe(500);
    });
    expect(errors).toContain("thrown by the listener");
  });

  test("an async listener that rejects before responding gives a 500 and a logged trace", async () => {
    const listener = async (): Promise<void> => {
      await sleep(5);
      throw new Error("rejected later");
    };
    const errors = await withNodeListener(listener, async (url) => {
      expect((await sendRequest(url, "/")).status).toBe(500);
    });
    expect(errors).toContain("rejected later");
  });

  test("normal completion: 'finish' then 'close' once on res, 'end' and 'close' on req, socket detached", async () => {
    const events: string[] = [];
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      res.on("finish", () => {
        events.push(`finish writableFinished=${res.writableFinished} socket=${res.socket === null ? "null" : "set"}`);
        // Harmless after the end in Node (the bytes are buffered and dropped); harmless here too.
        res.flushHeaders();
      });
      res.on("close", () => events.push("res close"));
      req.on("end", () => events.push("req end"));
      req.on("close", () => events.push("req close"));
      res.end("done");
    };
    const errors = await withNodeListener(listener, async (url) => {
      expect((await sendRequest(url, "/")).body.toString()).toBe("done");
      await waitUntil("both closes", () => events.includes("res close") && events.includes("req close"));
      await sleep(20);
    });
    expect(events.filter((event) => event === "res close")).toHaveLength(1);
    expect(events.indexOf("finish writableFinished=true socket=null")).toBeGreaterThanOrEqual(0);
    expect(events.indexOf("finish writableFinished=true socket=null")).toBeLessThan(events.indexOf("res close"));
    expect(events.indexOf("req end")).toBeLessThan(events.indexOf("req close"));
    expect(errors).toBe("");
  });

  test("a client that leaves: res 'close' exactly once, req aborted, pending write callbacks get an error", async () => {
    const seen: string[] = [];
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      res.on("close", () => seen.push("res close"));
      res.on("finish", () => seen.push("finish"));
      req.on("close", () => seen.push(`req close aborted=${req.destroyed}`));
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.write("first\n");
      const timer = setInterval(() => {
        if (res.destroyed) {
          clearInterval(timer);
          res.write("after\n", (error) => seen.push(`write callback ${error ? "error" : "ok"}`));
          return;
        }
        res.write("tick\n");
      }, 5);
    };
    await withNodeListener(listener, async (url) => {
      const connection = await RawConnection.open(url);
      connection.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      await connection.readHead();
      connection.close();
      await waitUntil("the late write's callback ran", () => seen.some((event) => event.startsWith("write callback")), 3_000);
      await sleep(30);
    });
    expect(seen.filter((event) => event === "res close")).toHaveLength(1);
    expect(seen).toContain("req close aborted=true");
    expect(seen).toContain("write callback error");
    expect(seen).not.toContain("finish");
  });

  test("backpressure: write() says false at the high-water mark, 'drain' follows, 4 MiB arrive whole", async () => {
    let falses = 0;
    let drains = 0;
    const chunk = Buffer.alloc(64 * 1024, 120);
    const listener = (_req: IncomingMessage, res: ServerResponse): void => {
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      let left = 64;
      const pump = (): void => {
        while (left > 0) {
          left--;
          if (!res.write(chunk)) {
            falses++;
            res.once("drain", () => {
              drains++;
              pump();
            });
            return;
          }
        }
        res.end();
      };
      pump();
    };
    await withNodeListener(listener, async (url) => {
      const response = await sendRequest(url, "/");
      expect(response.body.length).toBe(64 * chunk.length);
    });
    expect(falses).toBeGreaterThan(0);
    expect(drains).toBe(falses);
  });

  test("a chunked upload is a body to the framework: express.text() reads it, Transfer-Encoding in req.headers", async () => {
    const app = express();
    app.use(express.text());
    app.post("/", (req, res) => void res.type("text").send(`${req.headers["transfer-encoding"]}:${(req.body as string).toUpperCase()}`));
    await withNodeListener(app, async (url) => {
      const connection = await RawConnection.open(url);
      connection.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
      expect((await connection.readResponse()).body.toString()).toBe("chunked:HELLO WORLD");
      connection.close();
    });
  });

  test("a body the listener never reads is drained, and the next request on the connection is answered", async () => {
    await withNodeListener((_req: IncomingMessage, res: ServerResponse) => res.end("ignored your body"), async (url) => {
      const connection = await RawConnection.open(url);
      const body = "x".repeat(200_000);
      connection.send(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      expect((await connection.readResponse()).body.toString()).toBe("ignored your body");
      connection.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      expect((await connection.readResponse()).body.toString()).toBe("ignored your body");
      connection.close();
    });
  });
});
