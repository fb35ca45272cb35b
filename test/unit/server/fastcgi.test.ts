// The FastCGI responder over a real Unix socket, driven record by record: what web servers send
// (keep-conn or not) and what they never do (multiplexing, GET_VALUES, aborts, broken records).
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import type { App, Chunk } from "../../../src/core/types.ts";
import { validator } from "../../../src/core/validate.ts";
import {
  encodeBeginRequestBody, encodePairs, encodeRecord, FCGI_ABORT_REQUEST, FCGI_AUTHORIZER, FCGI_BEGIN_REQUEST, FCGI_GET_VALUES,
  FCGI_GET_VALUES_RESULT, FCGI_KEEP_CONN, FCGI_OVERLOADED, FCGI_PARAMS, FCGI_REQUEST_COMPLETE, FCGI_STDIN, FCGI_UNKNOWN_ROLE,
  FCGI_UNKNOWN_TYPE, readPairs,
} from "../../../src/server/fastcgi-records.ts";
import { serveFastCgi, type FastCgiOptions, type FastCgiServer } from "../../../src/server/fastcgi.ts";
import { bindListener } from "../../../src/server/listen.ts";
import { FastCgiConnection, fastcgiRequest, requestRecords, splitResponse } from "../../helpers/fastcgi-client.ts";
import { recordingSink } from "../../helpers/gateways.ts";
import { sleep, waitUntil } from "../../helpers/http-client.ts";
import { tempDir } from "../../helpers/web-servers.ts";

const GET = { REQUEST_METHOD: "GET", SCRIPT_NAME: "", PATH_INFO: "/", REQUEST_URI: "/", SERVER_PROTOCOL: "HTTP/1.1", REMOTE_ADDR: "10.1.2.3" };

const hello: App = validator((environ, start) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [`hello ${environ.PATH_INFO}`];
});

let dir: string;
let socket: string;
let server: FastCgiServer | undefined;
let log: ReturnType<typeof recordingSink>;
let errors: ReturnType<typeof recordingSink>;

async function start(app: App, options: FastCgiOptions = {}): Promise<FastCgiServer> {
  server = serveFastCgi(await bindListener({ socket }), app, { log, errors, ...options });
  return server;
}

beforeEach(() => {
  dir = tempDir("gw-fcgi-unit-");
  socket = join(dir, "gw.sock");
  log = recordingSink();
  errors = recordingSink();
});

afterEach(async () => {
  await server?.shutdown(500);
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe("requests", () => {
  test("a GET gets a CGI head, the body and END_REQUEST; the access log names the web server's REMOTE_ADDR", async () => {
    await start(hello);
    const reply = await fastcgiRequest(socket, { ...GET, PATH_INFO: "/x", REQUEST_URI: "/x?q" });
    const { head, body } = splitResponse(reply.stdout);
    expect(head).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8");
    expect(body.toString()).toBe("hello /x");
    expect(reply.end).toEqual({ appStatus: 0, protocolStatus: FCGI_REQUEST_COMPLETE });
    await waitUntil("the access log line", () => log.text() !== "");
    expect(log.text()).toMatch(/^10\.1\.2\.3 - - \[.+\] "GET \/x\?q HTTP\/1\.1" 200 8\n$/);
  });

  test("without FCGI_KEEP_CONN the connection closes after END_REQUEST; with it, it serves the next", async () => {
    await start(hello);
    const once = await FastCgiConnection.open(socket);
    once.send(requestRecords(1, GET));
    await once.reply(1);
    await once.closed();
    const kept = await FastCgiConnection.open(socket);
    try {
      for (const id of [1, 2, 1]) {
        kept.replies.delete(id);
        kept.send(requestRecords(id, { ...GET, PATH_INFO: `/${id}` }, "", FCGI_KEEP_CONN));
        expect(splitResponse((await kept.reply(id)).stdout).body.toString()).toBe(`hello /${id}`);
      }
      await sleep(50);
      expect(kept.isClosed).toBe(false);
    } finally {
      kept.close();
    }
  });

  test("a web server that half-closes after its request still gets the answer, then the close", async () => {
    await start(validator(async (_environ, start) => {
      await sleep(20);
      start("200 OK", [["Content-Type", "text/plain"]]);
      return ["late"];
    }));
    const connection = await FastCgiConnection.open(socket);
    connection.socket.end(requestRecords(1, GET, "", FCGI_KEEP_CONN));
    expect(splitResponse((await connection.reply(1)).stdout).body.toString()).toBe("late");
    await connection.closed();
  });

  test("multiplexed requests on one connection run at once and answer in their own records", async () => {
    let releaseFirst = (): void => {};
    const gate = new Promise<void>((resolve) => (releaseFirst = resolve));
    await start(validator(async (environ, start) => {
      if (environ.PATH_INFO === "/slow") await gate;
      start("200 OK", [["Content-Type", "text/plain"]]);
      return [`done ${environ.PATH_INFO}`];
    }));
    const connection = await FastCgiConnection.open(socket);
    try {
      connection.send(requestRecords(7, { ...GET, PATH_INFO: "/slow" }, "", FCGI_KEEP_CONN));
      connection.send(requestRecords(300, { ...GET, PATH_INFO: "/fast" }, "", FCGI_KEEP_CONN));
      expect(splitResponse((await connection.reply(300)).stdout).body.toString()).toBe("done /fast");
      expect(connection.replies.get(7)?.end).toBeUndefined();
      releaseFirst();
      expect(splitResponse((await connection.reply(7)).stdout).body.toString()).toBe("done /slow");
    } finally {
      connection.close();
    }
  });

  test("PARAMS split across records mid-pair, padded records and a body of many STDIN records arrive whole", async () => {
    await start(validator(async (environ, start) => {
      const body = await environ["gw.input"].read();
      start("200 OK", [["Content-Type", "text/plain"]]);
      return [`${environ.HTTP_X_LONG?.length} ${body.byteLength} ${Buffer.from(body).subarray(0, 3).toString()}`];
    }));
    const long = "v".repeat(5000);
    const reply = await fastcgiRequest(socket, { ...GET, REQUEST_METHOD: "POST", HTTP_X_LONG: long }, Buffer.alloc(200_000, 0x61));
    expect(splitResponse(reply.stdout).body.toString()).toBe("5000 200000 aaa");
  });

  test("a body is echoed while it streams in (full duplex), byte-exact", async () => {
    await start(validator((environ, start) => {
      start("200 OK", [["Content-Type", "application/octet-stream"]]);
      const input = environ["gw.input"];
      return (async function* (): AsyncGenerator<Chunk> {
        for await (const chunk of input) yield chunk;
      })();
    }));
    const data = randomBytes(3 * 1024 * 1024);
    const reply = await fastcgiRequest(socket, { ...GET, REQUEST_METHOD: "POST" }, data);
    expect(splitResponse(reply.stdout).body.equals(data)).toBe(true);
  });

  test("the environ is what the web server sent: HTTPS=on, UTF-8 PATH_INFO, repeated headers joined, gw.* names ignored", async () => {
    await start(validator((environ, start) => {
      start("200 OK", [["Content-Type", "application/json"]]);
      return [JSON.stringify({ scheme: environ["gw.url_scheme"], path: environ.PATH_INFO, multi: environ.HTTP_X_MULTI, custom: environ.CUSTOM_VAR, version: environ["gw.version"] })];
    }));
    const connection = await FastCgiConnection.open(socket);
    try {
      const pairs = encodePairs([
        ...Object.entries(GET).filter(([name]) => name !== "PATH_INFO"), ["PATH_INFO", Buffer.from("/caf\u00e9", "utf8")],
        ["HTTPS", "on"], ["HTTP_X_MULTI", "a"], ["HTTP_X_MULTI", "b"], ["CUSTOM_VAR", "1"], ["gw.version", "x"],
      ]);
      connection.send(Buffer.concat([
        encodeRecord(FCGI_BEGIN_REQUEST, 1, encodeBeginRequestBody(1, 0)), encodeRecord(FCGI_PARAMS, 1, pairs), encodeRecord(FCGI_PARAMS, 1), encodeRecord(FCGI_STDIN, 1),
      ]));
      const body = JSON.parse(splitResponse((await connection.reply(1)).stdout).body.toString()) as Record<string, unknown>;
      expect(body).toEqual({ scheme: "https", path: "/caf\u00e9", multi: "a,b", custom: "1", version: [1, 0] });
    } finally {
      connection.close();
    }
  });

  test("gw.errors goes out as STDERR records, ended by an empty one before END_REQUEST", async () => {
    await start(validator((environ, start) => {
      environ["gw.errors"].write("careful\n");
      start("200 OK", [["Content-Type", "text/plain"]]);
      return ["ok"];
    }));
    const reply = await fastcgiRequest(socket, GET);
    expect(reply.stderr.toString()).toBe("careful\n");
    expect(errors.text()).toBe("");
  });

  test("an error after the first chunk cuts the connection: no END_REQUEST passes the answer off as whole", async () => {
    await start(validator((_environ, start) => {
      start("200 OK", [["Content-Type", "text/plain"]]);
      return (async function* (): AsyncGenerator<Chunk> {
        yield "first";
        await sleep(10);
        throw new Error("boom after first");
      })();
    }));
    const connection = await FastCgiConnection.open(socket);
    connection.send(requestRecords(1, GET, "", FCGI_KEEP_CONN));
    await connection.closed();
    expect(splitResponse(connection.replies.get(1)!.stdout).body.toString()).toBe("first");
    expect(connection.replies.get(1)!.end).toBeUndefined();
    expect(errors.text()).toContain("boom after first");
  });
});

describe("management records and refusals", () => {
  test("GET_VALUES is answered for the variables gw knows, and only those", async () => {
    await start(hello, { maxConns: 50, maxReqs: 70 });
    const connection = await FastCgiConnection.open(socket);
    try {
      connection.send(encodeRecord(FCGI_GET_VALUES, 0, encodePairs([["FCGI_MAX_CONNS", ""], ["FCGI_MAX_REQS", ""], ["FCGI_MPXS_CONNS", ""], ["OTHER", ""]])));
      await connection.waitFor("GET_VALUES_RESULT", () => connection.management.length > 0);
      const [type, content] = connection.management[0]!;
      expect(type).toBe(FCGI_GET_VALUES_RESULT);
      const values: Record<string, string> = {};
      readPairs(content, (name, value) => (values[name] = value));
      expect(values).toEqual({ FCGI_MAX_CONNS: "50", FCGI_MAX_REQS: "70", FCGI_MPXS_CONNS: "1" });
    } finally {
      connection.close();
    }
  });

  test("an unknown management record gets UNKNOWN_TYPE naming its type; the connection goes on", async () => {
    await start(hello);
    const connection = await FastCgiConnection.open(socket);
    try {
      connection.send(encodeRecord(42, 0, Buffer.from("??")));
      await connection.waitFor("UNKNOWN_TYPE", () => connection.management.length > 0);
      expect(connection.management[0]![0]).toBe(FCGI_UNKNOWN_TYPE);
      expect(connection.management[0]![1][0]).toBe(42);
      connection.send(requestRecords(1, GET));
      expect((await connection.reply(1)).end?.protocolStatus).toBe(FCGI_REQUEST_COMPLETE);
    } finally {
      connection.close();
    }
  });

  test("a role other than RESPONDER gets END_REQUEST with UNKNOWN_ROLE and no app call", async () => {
    let calls = 0;
    await start(() => {
      calls++;
      return [];
    });
    const connection = await FastCgiConnection.open(socket);
    try {
      connection.send(requestRecords(1, GET, "", 0, FCGI_AUTHORIZER));
      expect((await connection.reply(1)).end).toEqual({ appStatus: 0, protocolStatus: FCGI_UNKNOWN_ROLE });
      expect(calls).toBe(0);
    } finally {
      connection.close();
    }
  });

  test("past FCGI_MAX_REQS a request gets END_REQUEST with OVERLOADED", async () => {
    const gate = new Promise<void>(() => {});
    await start(async () => {
      await gate;
      return [];
    }, { maxReqs: 1, shutdownTimeout: 100 });
    const connection = await FastCgiConnection.open(socket);
    try {
      connection.send(requestRecords(1, GET, "", FCGI_KEEP_CONN));
      connection.send(requestRecords(2, GET, "", FCGI_KEEP_CONN));
      expect((await connection.reply(2)).end?.protocolStatus).toBe(FCGI_OVERLOADED);
    } finally {
      connection.close();
    }
  });
});

describe("aborts", () => {
  function endless(closes: { count: number }): App {
    return validator((_environ, start) => {
      start("200 OK", [["Content-Type", "text/plain"]]);
      let i = 0;
      return {
        async *[Symbol.asyncIterator](): AsyncGenerator<Chunk> {
          for (; i < 10_000; i++) {
            await sleep(5);
            yield `tick ${i}\n`;
          }
        },
        close: () => void closes.count++,
      };
    });
  }

  test("ABORT_REQUEST ends the body (close() once) and still gets END_REQUEST; the connection serves on", async () => {
    const closes = { count: 0 };
    await start(endless(closes));
    const connection = await FastCgiConnection.open(socket);
    try {
      connection.send(requestRecords(1, GET, "", FCGI_KEEP_CONN));
      await connection.waitFor("some body", () => (connection.replies.get(1)?.stdout.length ?? 0) > 50);
      connection.send(encodeRecord(FCGI_ABORT_REQUEST, 1));
      expect((await connection.reply(1)).end?.protocolStatus).toBe(FCGI_REQUEST_COMPLETE);
      await sleep(50);
      expect(closes.count).toBe(1);
      expect(connection.isClosed).toBe(false);
    } finally {
      connection.close();
    }
  });

  test("a closed connection ends every body on it, each close() once", async () => {
    const closes = { count: 0 };
    await start(endless(closes));
    const connection = await FastCgiConnection.open(socket);
    connection.send(requestRecords(1, GET, "", FCGI_KEEP_CONN));
    connection.send(requestRecords(2, GET, "", FCGI_KEEP_CONN));
    await connection.waitFor("both bodies", () => (connection.replies.get(1)?.stdout.length ?? 0) > 0 && (connection.replies.get(2)?.stdout.length ?? 0) > 0);
    connection.close();
    await waitUntil("both bodies closed", () => closes.count === 2);
    await sleep(50);
    expect(closes.count).toBe(2);
    expect(server!.inFlight).toBe(0);
  });
});

describe("broken streams drop the connection with one log line; gw serves on", () => {
  const badVersion = Buffer.from(encodeRecord(FCGI_STDIN, 1, Buffer.from("x")));
  badVersion[0] = 9;
  test.each([
    ["a record of another version", badVersion, /protocol version 9/],
    ["a second BEGIN_REQUEST for an id in flight", Buffer.concat([
      encodeRecord(FCGI_BEGIN_REQUEST, 5, encodeBeginRequestBody(1, 0)), encodeRecord(FCGI_BEGIN_REQUEST, 5, encodeBeginRequestBody(1, 0)),
    ]), /second BEGIN_REQUEST for request id 5/],
    ["a BEGIN_REQUEST body of the wrong size", encodeRecord(FCGI_BEGIN_REQUEST, 1, Buffer.alloc(3)), /3 bytes of content/],
    ["a name-value length past the end", Buffer.concat([
      encodeRecord(FCGI_BEGIN_REQUEST, 1, encodeBeginRequestBody(1, 0)), encodeRecord(FCGI_PARAMS, 1, Buffer.from([10, 1, 65])), encodeRecord(FCGI_PARAMS, 1),
    ]), /runs past the end/],
    ["PARAMS over the limit", Buffer.concat([
      encodeRecord(FCGI_BEGIN_REQUEST, 1, encodeBeginRequestBody(1, 0)), encodeRecord(FCGI_PARAMS, 1, encodePairs([["BIG", "x".repeat(2000)]])),
    ]), /more than 1000 bytes of PARAMS/],
  ])("%s", async (_name, wire, message) => {
    await start(hello, { maxParams: 1000 });
    const connection = await FastCgiConnection.open(socket);
    connection.send(wire);
    await connection.closed();
    await waitUntil("the log line", () => errors.text() !== "");
    expect(errors.text().trimEnd().split("\n")).toHaveLength(1);
    expect(errors.text()).toMatch(/^gw: dropped a FastCGI connection from .*: /);
    expect(errors.text()).toMatch(message);
    expect(splitResponse((await fastcgiRequest(socket, GET)).stdout).body.toString()).toBe("hello /");
  });

  test("a connection that ends inside a record is dropped, one line", async () => {
    await start(hello);
    const connection = await FastCgiConnection.open(socket);
    connection.socket.end(requestRecords(1, GET).subarray(0, 12));
    await waitUntil("the log line", () => errors.text() !== "");
    expect(errors.text()).toMatch(/in the middle of a record/);
  });
});

describe("shutdown", () => {
  test("finishes a request in flight, closes idle keep-conn connections and stops accepting", async () => {
    let release = (): void => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    await start(validator(async (_environ, start) => {
      await gate;
      start("200 OK", [["Content-Type", "text/plain"]]);
      return ["late"];
    }));
    const busy = await FastCgiConnection.open(socket);
    const idle = await FastCgiConnection.open(socket);
    busy.send(requestRecords(1, GET, "", FCGI_KEEP_CONN));
    await waitUntil("the request is in flight", () => server!.inFlight === 1);
    const stopped = server!.shutdown(5_000);
    await idle.closed();
    release();
    expect(splitResponse((await busy.reply(1)).stdout).body.toString()).toBe("late");
    await busy.closed();
    await stopped;
    await expect(FastCgiConnection.open(socket)).rejects.toThrow();
  });
});
