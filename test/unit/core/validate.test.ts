import { describe, expect, test } from "vitest";
import { ValidationError } from "../../../src/core/errors.ts";
import { ErrorOutput, inputFromBytes } from "../../../src/core/input.ts";
import type { App, Body, Chunk, Environ, HeaderPair, StartResponse } from "../../../src/core/types.ts";
import { shiftPathInfo } from "../../../src/core/util.ts";
import { validator } from "../../../src/core/validate.ts";

type Loose = (...args: unknown[]) => unknown;
const loose = (fn: unknown): Loose => fn as Loose;
const TEXT: HeaderPair[] = [["Content-Type", "text/plain"]];

/** A valid environ; `overrides` replace keys and `without` deletes them. */
function makeEnviron(overrides: Record<string, unknown> = {}, without: string[] = []): { environ: Environ; logged: string[] } {
  const logged: string[] = [];
  const environ: Record<string, unknown> = {
    REQUEST_METHOD: "GET",
    SCRIPT_NAME: "",
    PATH_INFO: "/",
    QUERY_STRING: "",
    SERVER_NAME: "localhost",
    SERVER_PORT: "80",
    SERVER_PROTOCOL: "HTTP/1.1",
    "gw.version": [1, 0],
    "gw.url_scheme": "http",
    "gw.input": inputFromBytes("one\ntwo\n"),
    "gw.errors": new ErrorOutput({ write: (text: string) => logged.push(text) }),
    "gw.multithread": false,
    "gw.multiprocess": false,
    "gw.run_once": false,
    ...overrides,
  };
  for (const key of without) delete environ[key];
  return { environ: environ as Environ, logged };
}

/** A server-side startResponse that records its calls and what write() received. */
function fakeStart(): { start: StartResponse; calls: unknown[][]; written: Chunk[] } {
  const calls: unknown[][] = [];
  const written: Chunk[] = [];
  const start: StartResponse = (...args: unknown[]) => {
    calls.push(args);
    return (chunk: Chunk) => {
      written.push(chunk);
      return Promise.resolve();
    };
  };
  return { start, calls, written };
}

/** Runs a validated app the way a server would and returns the chunks; closes the body if it can. */
async function serve(app: App, environ: Environ = makeEnviron().environ): Promise<Chunk[]> {
  const body = await validator(app, { onWarning: () => {} })(environ, fakeStart().start);
  const chunks: Chunk[] = [];
  try {
    if (Symbol.asyncIterator in body) for await (const chunk of body) chunks.push(chunk);
    else for (const chunk of body) chunks.push(chunk);
  } finally {
    await body.close?.();
  }
  return chunks;
}

function expectViolation(run: () => unknown, rule: string): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ValidationError);
  expect((caught as Error).message).toMatch(/^gw validator: /);
  expect((caught as Error).message).toContain(rule);
}

async function expectRejection(run: () => unknown, rule: string): Promise<void> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ValidationError);
  expect((caught as Error).message).toMatch(/^gw validator: /);
  expect((caught as Error).message).toContain(rule);
}

const hello: App = (_environ, start) => {
  start("200 OK", TEXT);
  return ["Hello"];
};

/** Calls a validated app whose startResponse is given `args`, and returns what startResponse threw. */
function startWith(...args: unknown[]): () => unknown {
  const app: App = (_environ, start) => {
    loose(start)(...args);
    return [];
  };
  return () => validator(app, { onWarning: () => {} })(makeEnviron().environ, fakeStart().start);
}

describe("a correct app passes", () => {
  test("a sync app returns a sync iterable, not a promise", () => {
    const { start, calls } = fakeStart();
    const body = validator(hello)(makeEnviron().environ, start);
    expect(typeof (body as { then?: unknown }).then).toBe("undefined");
    expect(Symbol.iterator in body).toBe(true);
    expect(Symbol.asyncIterator in body).toBe(false);
    expect(Array.from(body as Iterable<Chunk>)).toEqual(["Hello"]);
    expect(calls).toEqual([["200 OK", TEXT]]);
  });

  test("an async app with an async generator body stays async", async () => {
    const app: App = async (_environ, start) => {
      start("200 OK", TEXT);
      return (async function* () {
        yield "a";
        yield new Uint8Array([98]);
      })();
    };
    const result = validator(app)(makeEnviron().environ, fakeStart().start);
    expect(result).toBeInstanceOf(Promise);
    const body = await result;
    expect(Symbol.iterator in body).toBe(false);
    expect(await serve(app)).toEqual(["a", new Uint8Array([98])]);
  });

  test("a generator may call startResponse lazily, before its first chunk", async () => {
    const app: App = (_environ, start) => (function* () {
      start("200 OK", TEXT);
      yield "late";
    })();
    expect(await serve(app)).toEqual(["late"]);
  });

  test("gw.input and gw.errors still work through the checking wrappers", async () => {
    const { environ, logged } = makeEnviron();
    const app: App = async (env, start) => {
      const line = await env["gw.input"].readline();
      const rest = await env["gw.input"].readlines();
      env["gw.errors"].write("note\n");
      env["gw.errors"].writelines(["a", "b"]);
      env["gw.errors"].flush();
      start("200 OK", TEXT);
      return [line, ...rest];
    };
    const chunks = await serve(app, environ);
    expect(chunks.map((chunk) => Buffer.from(chunk).toString())).toEqual(["one\n", "two\n"]);
    expect(logged.join("")).toBe("note\nab");
  });

  test("write() passes chunks to the server's write", async () => {
    const { start, written } = fakeStart();
    const app: App = async (_environ, startResponse) => {
      await startResponse("200 OK", TEXT)("early");
      return [];
    };
    await validator(app)(makeEnviron().environ, start);
    expect(written).toEqual(["early"]);
  });

  test("a second startResponse with excInfo is allowed", () => {
    const { start, calls } = fakeStart();
    const error = new Error("boom");
    const app: App = (_environ, startResponse) => {
      startResponse("200 OK", TEXT);
      startResponse("500 Internal Server Error", TEXT, error);
      return [];
    };
    Array.from(validator(app)(makeEnviron().environ, start) as Iterable<Chunk>);
    expect(calls).toEqual([["200 OK", TEXT], ["500 Internal Server Error", TEXT, error]]);
  });

  test("excInfo on the first call is allowed", () => {
    expect(() => startWith("500 Internal Server Error", TEXT, new Error("x"))()).not.toThrow();
  });

  test("a tab inside a header value is allowed", () => {
    expect(() => startWith("200 OK", [...TEXT, ["X-Note", "a\tb"]])()).not.toThrow();
  });

  test("close() passes through exactly once, and only when the body has one", () => {
    let closed = 0;
    const withClose: App = (_environ, start) => {
      start("200 OK", TEXT);
      return Object.assign(["x"], { close: () => void closed++ });
    };
    const body = validator(withClose)(makeEnviron().environ, fakeStart().start) as Body;
    Array.from(body as Iterable<Chunk>);
    body.close?.();
    expect(closed).toBe(1);
    const plain = validator(hello)(makeEnviron().environ, fakeStart().start) as Body;
    expect("close" in plain).toBe(false);
  });

  test("breaking out of the body runs the generator's finally", () => {
    let isFinished = false;
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return (function* () {
        try {
          yield "a";
          yield "b";
        } finally {
          isFinished = true;
        }
      })();
    };
    for (const chunk of validator(app)(makeEnviron().environ, fakeStart().start) as Iterable<Chunk>) {
      expect(chunk).toBe("a");
      break;
    }
    expect(isFinished).toBe(true);
  });
});

describe("warnings", () => {
  test("go to onWarning when it is given, not to gw.errors", () => {
    const { environ, logged } = makeEnviron({ REQUEST_METHOD: "BREW" });
    const warnings: string[] = [];
    const app: App = (_environ, start) => {
      start("200 OK", []);
      return [];
    };
    Array.from(validator(app, { onWarning: (m) => warnings.push(m) })(environ, fakeStart().start) as Iterable<Chunk>);
    expect(warnings).toEqual(['unknown REQUEST_METHOD "BREW"', "no Content-Type header in a 200 response"]);
    expect(logged).toEqual([]);
  });

  test("go to gw.errors by default", () => {
    const { environ, logged } = makeEnviron();
    const app: App = (_environ, start) => {
      start("799 Odd", TEXT);
      return [];
    };
    validator(app)(environ, fakeStart().start);
    expect(logged).toEqual(["gw validator warning: status code 799 is outside the HTTP classes 1xx-5xx\n"]);
  });
});

describe("the environ (server side)", () => {
  const run = (environ: Environ) => () => validator(hello)(environ, fakeStart().start);

  test("must be a plain object", () => {
    class FancyEnviron {}
    expectViolation(run(new FancyEnviron() as Environ), "environ must be a plain object (got a FancyEnviron)");
  });

  test.each([
    "REQUEST_METHOD", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
    "gw.version", "gw.url_scheme", "gw.input", "gw.errors", "gw.multithread", "gw.multiprocess", "gw.run_once",
  ])("must have %s", (key) => {
    expectViolation(run(makeEnviron({}, [key]).environ), `environ is missing the required key ${key}`);
  });

  test("must not have HTTP_CONTENT_TYPE", () => {
    expectViolation(run(makeEnviron({ HTTP_CONTENT_TYPE: "text/plain" }).environ), "must not have HTTP_CONTENT_TYPE; that header belongs in CONTENT_TYPE");
  });

  test("must not have HTTP_CONTENT_LENGTH", () => {
    expectViolation(run(makeEnviron({ HTTP_CONTENT_LENGTH: "3" }).environ), "must not have HTTP_CONTENT_LENGTH");
  });

  test("CGI variables must be strings", () => {
    expectViolation(run(makeEnviron({ SERVER_PORT: 80 }).environ), "CGI variable SERVER_PORT must be a string (got 80)");
  });

  test("gw.version must be [1, 0]", () => {
    expectViolation(run(makeEnviron({ "gw.version": [1, 1] }).environ), 'environ["gw.version"] must be [1, 0] (got [1,1])');
  });

  test("gw.url_scheme must be http or https", () => {
    expectViolation(run(makeEnviron({ "gw.url_scheme": "ftp" }).environ), 'environ["gw.url_scheme"] must be "http" or "https"');
  });

  test("gw.input must have the stream methods", () => {
    const input = { read() {}, readline() {}, readlines() {} };
    expectViolation(run(makeEnviron({ "gw.input": input }).environ), 'environ["gw.input"] must have a [Symbol.asyncIterator]() method');
  });

  test("gw.errors must have write, writelines and flush", () => {
    const errors = { write() {}, writelines() {} };
    expectViolation(run(makeEnviron({ "gw.errors": errors }).environ), 'environ["gw.errors"] must have a flush() method');
  });

  test("gw.multithread must be a boolean", () => {
    expectViolation(run(makeEnviron({ "gw.multithread": 1 }).environ), 'environ["gw.multithread"] must be a boolean');
  });

  test("gw.file_wrapper must be a function when present", () => {
    expectViolation(run(makeEnviron({ "gw.file_wrapper": {} }).environ), 'environ["gw.file_wrapper"] must be a function');
  });

  test("SCRIPT_NAME must start with a slash", () => {
    expectViolation(run(makeEnviron({ SCRIPT_NAME: "app" }).environ), `SCRIPT_NAME must be '' or start with "/" (got "app")`);
  });

  test("SCRIPT_NAME must not end with a slash, but for what shiftPathInfo leaves after a path's last, empty segment", async () => {
    expectViolation(run(makeEnviron({ SCRIPT_NAME: "/" }).environ), 'SCRIPT_NAME must not end with "/"');
    expectViolation(run(makeEnviron({ SCRIPT_NAME: "/blog/", PATH_INFO: "/x" }).environ), 'SCRIPT_NAME must not end with "/"');
    const environ = makeEnviron({ SCRIPT_NAME: "", PATH_INFO: "/blog/" }).environ;
    expect([shiftPathInfo(environ), shiftPathInfo(environ), environ.SCRIPT_NAME, environ.PATH_INFO]).toEqual(["blog", "", "/blog/", ""]);
    expect((await serve((_environ, start) => {
      start("200 OK", [["Content-Type", "text/plain"]]);
      return ["x"];
    }, environ)).join("")).toBe("x");
  });

  test("PATH_INFO must start with a slash", () => {
    expectViolation(run(makeEnviron({ PATH_INFO: "x" }).environ), `PATH_INFO must be '' or start with "/"`);
  });

  test("SCRIPT_NAME and PATH_INFO must not both be empty", () => {
    expectViolation(run(makeEnviron({ PATH_INFO: "" }).environ), "SCRIPT_NAME and PATH_INFO must not both be empty");
  });

  test("CONTENT_LENGTH must be a non-negative integer", () => {
    expectViolation(run(makeEnviron({ CONTENT_LENGTH: "-1" }).environ), 'CONTENT_LENGTH must be \'\' or a non-negative integer (got "-1")');
  });

  test("startResponse must be a function", () => {
    expectViolation(() => validator(hello)(makeEnviron().environ, "nope" as unknown as StartResponse), "startResponse must be a function");
  });

  test("the app must get exactly 2 arguments", () => {
    expectViolation(() => loose(validator(hello))(makeEnviron().environ), "an app takes exactly 2 arguments");
  });
});

describe("startResponse", () => {
  test("takes 2 or 3 arguments", () => {
    expectViolation(startWith("200 OK"), "startResponse takes 2 or 3 arguments");
  });

  test("status must be a string", () => {
    expectViolation(startWith(200, TEXT), "status must be a string");
  });

  test("status must be 3 digits, a space and a reason", () => {
    expectViolation(startWith("200OK", TEXT), 'status must be 3 digits, a space and a reason phrase (got "200OK")');
  });

  test("status must have a reason phrase", () => {
    expectViolation(startWith("200 ", TEXT), "status must be 3 digits, a space and a reason phrase");
  });

  test("status must not contain control characters", () => {
    expectViolation(startWith("200 OK\r\nX-Evil: 1", TEXT), "status must not contain control characters");
  });

  test("status code must be at least 100", () => {
    expectViolation(startWith("099 Low", TEXT), "status code must be 100 or more");
  });

  test.each(["100 Continue", "101 Switching Protocols", "103 Early Hints"])("an interim status %j cannot end a request (SPEC §3.2)", (status) => {
    expectViolation(startWith(status, TEXT), "is an interim (1xx) response");
  });

  test("headers must be an Array", () => {
    expectViolation(startWith("200 OK", { "Content-Type": "text/plain" }), "headers must be an Array of [name, value] pairs");
  });

  test("each header must be a pair", () => {
    expectViolation(startWith("200 OK", [["Content-Type", "text/plain", "extra"]]), "each header must be a [name, value] pair");
  });

  test("header names and values must be strings", () => {
    expectViolation(startWith("200 OK", [["Content-Length", 5]]), "a header's name and value must be strings");
  });

  test("header names must be tokens", () => {
    expectViolation(startWith("200 OK", [["Content Type", "text/plain"]]), 'header name must be an HTTP token (got "Content Type")');
  });

  test("the Status header is not allowed", () => {
    expectViolation(startWith("200 OK", [...TEXT, ["Status", "200 OK"]]), "the Status header is not allowed");
  });

  test("header names must not end in - or _", () => {
    expectViolation(startWith("200 OK", [...TEXT, ["X-Trailing_", "1"]]), 'header name must not end in "-" or "_"');
  });

  test("hop-by-hop headers are not allowed", () => {
    expectViolation(startWith("200 OK", [...TEXT, ["Transfer-Encoding", "chunked"]]), 'hop-by-hop header "Transfer-Encoding" is not allowed');
  });

  test("header values must not contain CR or LF", () => {
    expectViolation(startWith("200 OK", [...TEXT, ["X-Note", "a\r\nSet-Cookie: x"]]), "header value must not contain CR, LF, other control characters");
  });

  test("header values must be latin-1 (SPEC §3.3): U+010A would lose its high byte and become LF", () => {
    expectViolation(startWith("200 OK", [...TEXT, ["X-Note", "a\u010ASet-Cookie: x"]]), "or characters above U+00FF");
    expectViolation(startWith("200 OK", [...TEXT, ["X-Note", "caf\u00e9 \u2603"]]), "or characters above U+00FF");
    expect(startWith("200 OK", [...TEXT, ["X-Note", "caf\u00e9"]])).not.toThrow();
  });

  test("a 204 response must not have a Content-Type", () => {
    expectViolation(startWith("204 No Content", TEXT), "a 204 response has no content, so it must not have a Content-Type header");
  });

  test("a second call without excInfo is an error", () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      start("404 Not Found", TEXT);
      return [];
    };
    expectViolation(() => validator(app)(makeEnviron().environ, fakeStart().start), "startResponse was called a second time without excInfo");
  });

  test("the server's startResponse must return a write function", () => {
    const start = (() => undefined) as unknown as StartResponse;
    expectViolation(() => validator(hello)(makeEnviron().environ, start), "the server's startResponse must return a write function");
  });
});

describe("write()", () => {
  const writing = (chunk: unknown, start: StartResponse = fakeStart().start) => () => {
    const app: App = async (_environ, startResponse) => {
      await loose(startResponse("200 OK", TEXT))(chunk);
      return [];
    };
    return validator(app)(makeEnviron().environ, start);
  };

  test("takes a Uint8Array or a string", async () => {
    await expectRejection(writing(42), "write() takes a Uint8Array or a string (got 42)");
  });

  test("the server's write must return a promise", async () => {
    const start = (() => () => undefined) as unknown as StartResponse;
    await expectRejection(writing("x", start), "the server's write() must return a Promise");
  });

  test("must not be called after the body was closed", async () => {
    let write: ((chunk: Chunk) => Promise<void>) | undefined;
    const app: App = (_environ, start) => {
      write = start("200 OK", TEXT);
      return Object.assign([], { close: () => {} });
    };
    const body = validator(app)(makeEnviron().environ, fakeStart().start) as Body;
    body.close?.();
    expectViolation(() => write?.("late"), "write() was called after the body was closed");
  });
});

describe("gw.input and gw.errors (both sides)", () => {
  const reading = (use: (environ: Environ) => unknown, overrides: Record<string, unknown> = {}) => () => {
    const app: App = async (environ, start) => {
      await use(environ);
      start("200 OK", TEXT);
      return [];
    };
    return validator(app)(makeEnviron(overrides).environ, fakeStart().start);
  };

  test("read() size must be an integer", async () => {
    await expectRejection(reading((env) => loose(env["gw.input"].read)("10")), 'gw.input.read() size must be an integer (got "10")');
  });

  test("readline() size must be an integer", async () => {
    await expectRejection(reading((env) => env["gw.input"].readline(1.5)), "gw.input.readline() size must be an integer (got 1.5)");
  });

  test("read() takes at most one argument", async () => {
    await expectRejection(reading((env) => loose(env["gw.input"].read)(1, 2)), "gw.input.read() takes at most 1 argument");
  });

  test("the server's read() must resolve to a Uint8Array", async () => {
    const input = Object.assign(inputFromBytes("x"), { read: async () => "text" });
    await expectRejection(reading((env) => env["gw.input"].read(), { "gw.input": input }), "gw.input.read() must resolve to a Uint8Array");
  });

  test("the server's read(n) must not return more than n bytes", async () => {
    const input = Object.assign(inputFromBytes("x"), { read: async () => new Uint8Array(8) });
    await expectRejection(reading((env) => env["gw.input"].read(4), { "gw.input": input }), "gw.input.read(4) must return at most 4 bytes (got 8)");
  });

  test("the server's readlines() must resolve to an Array of Uint8Array", async () => {
    const input = Object.assign(inputFromBytes("x"), { readlines: async () => ["a"] });
    await expectRejection(reading((env) => env["gw.input"].readlines(), { "gw.input": input }), "gw.input.readlines() must resolve to an Array of Uint8Array");
  });

  test("iterating the server's input must yield Uint8Array chunks", async () => {
    const input = Object.assign(inputFromBytes("x"), { async *[Symbol.asyncIterator]() { yield "text"; } });
    const consume = async (env: Environ) => {
      for await (const chunk of env["gw.input"]) void chunk;
    };
    await expectRejection(reading(consume, { "gw.input": input }), "iterating gw.input must yield Uint8Array chunks");
  });

  test("gw.input.close() must not be called", async () => {
    await expectRejection(reading((env) => loose((env["gw.input"] as unknown as { close: unknown }).close)()), "gw.input.close() must not be called");
  });

  test("gw.errors.write() takes a string", async () => {
    await expectRejection(reading((env) => env["gw.errors"].write(new Uint8Array(1) as unknown as string)), "gw.errors.write() takes a string");
  });

  test("gw.errors.writelines() takes strings", async () => {
    await expectRejection(reading((env) => loose(env["gw.errors"].writelines)(["ok", 3])), "gw.errors.writelines() takes an iterable of strings (got an item 3)");
  });

  test("gw.errors.close() must not be called", async () => {
    await expectRejection(reading((env) => loose((env["gw.errors"] as unknown as { close: unknown }).close)()), "gw.errors.close() must not be called");
  });
});

describe("the body", () => {
  const returning = (body: unknown, isStarting = true) => () => {
    const app: App = (_environ, start) => {
      if (isStarting) start("200 OK", TEXT);
      return body as Body;
    };
    const result = validator(app)(makeEnviron().environ, fakeStart().start) as Body;
    return Array.from(result as Iterable<Chunk>);
  };

  test("must be returned", () => {
    expectViolation(returning(undefined), "an app must return a body, if only an empty array");
  });

  test("must not be a string", () => {
    expectViolation(returning("Hello"), "an app must not return a string as its body; return [text]");
  });

  test("must not be a Uint8Array", () => {
    expectViolation(returning(new Uint8Array(3)), "an app must not return a Uint8Array as its body; return [bytes]");
  });

  test("must be iterable", () => {
    expectViolation(returning({ length: 0 }), "the body must be an Iterable or AsyncIterable of chunks (got an object)");
  });

  test("close must be a function", () => {
    expectViolation(returning(Object.assign([], { close: true })), "body.close must be a function when present (got true)");
  });

  test("chunks must be Uint8Array or string", () => {
    expectViolation(returning([42]), "each body chunk must be a Uint8Array or a string (got 42)");
  });

  test("async chunks must be Uint8Array or string too", async () => {
    const app: App = async (_environ, start) => {
      start("200 OK", TEXT);
      return (async function* () {
        yield null as unknown as Chunk;
      })();
    };
    await expectRejection(() => serve(app), "each body chunk must be a Uint8Array or a string (got null)");
  });

  test("must not yield a chunk before startResponse", () => {
    expectViolation(returning(new Set(["early"]), false), "the body yielded a chunk before startResponse was called");
  });

  test("must not end without startResponse", () => {
    expectViolation(returning(new Set(), false), "the body ended but startResponse was never called");
  });

  test("an array body needs startResponse by the time the app returns", () => {
    expectViolation(returning(["early"], false), "the app returned its body but startResponse was never called");
  });

  test("an array body's chunks are checked at once", () => {
    expectViolation(returning(["ok", 42]), "each body chunk must be a Uint8Array or a string (got 42)");
  });

  test("an array body passes through as the same array, so servers can set Content-Length", () => {
    const chunks = ["a", "b"];
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return chunks;
    };
    expect(validator(app)(makeEnviron().environ, fakeStart().start)).toBe(chunks);
  });

  test("an async app's body must be checked as well", async () => {
    const app: App = async () => "Hello" as unknown as Body;
    await expectRejection(() => serve(app), "an app must not return a string as its body");
  });

  test("close() must not be called twice", () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return Object.assign([], { close: () => {} });
    };
    const body = validator(app)(makeEnviron().environ, fakeStart().start) as Body;
    body.close?.();
    expectViolation(() => body.close?.(), "body.close() was called twice");
  });

  test("must not be iterated after close()", () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return Object.assign(["a", "b"], { close: () => {} });
    };
    const body = validator(app)(makeEnviron().environ, fakeStart().start) as Body;
    const iterator = (body as Iterable<Chunk>)[Symbol.iterator]();
    iterator.next();
    body.close?.();
    expectViolation(() => iterator.next(), "the body was iterated after close()");
  });

  test("must not be iterated twice", () => {
    const once: App = (_environ, start) => {
      start("200 OK", TEXT);
      return new Set(["Hello"]);
    };
    const body = validator(once)(makeEnviron().environ, fakeStart().start) as Iterable<Chunk>;
    Array.from(body);
    expectViolation(() => Array.from(body), "the body was iterated twice");
  });
});
