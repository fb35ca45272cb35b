import { PassThrough, Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { describe, expect, test, vi } from "vitest";
import { ProtocolError } from "../../../src/core/errors.ts";
import { ERROR_BODY, ERROR_STATUS } from "../../../src/gateway/base-handler.ts";
import { ErrorOutput } from "../../../src/core/input.ts";
import { CgiHandler } from "../../../src/gateway/cgi-handler.ts";
import { StreamHandler } from "../../../src/gateway/stream-handler.ts";
import { HOP_BY_HOP } from "../../../src/core/http-syntax.ts";
import { setupTestingDefaults } from "../../../src/core/util.ts";
import { validator } from "../../../src/core/validate.ts";
import { SERVER_SOFTWARE } from "../../../src/core/version.ts";
import type { App, Body, Chunk, HeaderPair, StartResponse } from "../../../src/core/types.ts";
import { runInMemory, type MemoryResult } from "../../helpers/memory.ts";

const TEXT: HeaderPair[] = [["Content-Type", "text/plain"]];
const ERROR_HEAD = `Status: ${ERROR_STATUS}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(ERROR_BODY)}\r\n\r\n`;

/** The values of header `name` (any case) in a head, in order. */
function headerValues(head: string, name: string): string[] {
  const prefix = `${name.toLowerCase()}: `;
  return head.split("\r\n").filter((line) => line.toLowerCase().startsWith(prefix)).map((line) => line.slice(prefix.length));
}

/** Asserts the response is the handler's canned 500, cleanly ended, and the trace mentions `message`. */
function expectClean500(result: MemoryResult, message: string | RegExp): void {
  expect(result.head).toBe(ERROR_HEAD);
  expect(result.body.toString()).toBe(ERROR_BODY);
  expect(result.isCut).toBe(false);
  expect(result.errors).toMatch(message);
}

/** A bare app whose startResponse call is expected to throw; returns that error and the response. */
async function startFailure(status: unknown, headers: unknown): Promise<{ error: unknown; result: MemoryResult }> {
  let error: unknown;
  const app: App = (_environ, start) => {
    try {
      (start as (status: unknown, headers: unknown) => unknown)(status, headers);
    } catch (caught) {
      error = caught;
      throw caught;
    }
    return ["should not be sent"];
  };
  const result = await runInMemory(app);
  return { error, result };
}

/** A body of `chunks` whose close() counts its calls. */
function closable(chunks: Iterable<Chunk> | AsyncIterable<Chunk>): { body: Body; closes: () => number } {
  let count = 0;
  const body = Object.assign(chunks, { close: () => void count++ }) as Body;
  return { body, closes: () => count };
}

describe("startResponse: the status", () => {
  test.each([
    ["200OK", "no space after the code"],
    ["20 OK", "two digits"],
    ["abc OK", "letters for digits"],
    ["099 Nope", "a code under 100"],
    ["1000 OK", "four digits"],
    ["200", "no space or reason"],
    ["", "empty"],
    ["200 OK\r\nX-Evil: 1", "CR LF in the reason"],
    ["200 O\nK", "LF in the reason"],
    ["200 OK\x00", "NUL"],
    ["200 \x7f", "DEL"],
  ])("%j is refused (%s) and the client gets a 500", async (status) => {
    const { error, result } = await startFailure(status, TEXT);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as Error).message).toContain("like \"200 OK\"");
    expectClean500(result, /ProtocolError: status must be/);
  });

  test("a status that is not a string is refused", async () => {
    const { error, result } = await startFailure(200, TEXT);
    expect(error).toBeInstanceOf(ProtocolError);
    expectClean500(result, "(got 200)");
  });

  test("a well-formed status goes out verbatim, whatever its reason phrase", async () => {
    const app: App = (_environ, start) => {
      start("418 I'm a teapot", TEXT);
      return ["short and stout"];
    };
    const { head, errors } = await runInMemory(validator(app));
    expect(head.startsWith("Status: 418 I'm a teapot\r\n")).toBe(true);
    expect(errors).toBe("");
  });
});

describe("startResponse: the headers", () => {
  test.each([
    [{}, "an object"],
    ["Content-Type: text/plain", "a string"],
    [undefined, "undefined"],
    [new Map([["Content-Type", "text/plain"]]), "a Map"],
  ])("headers must be an array: %j is refused (%s)", async (headers, _label) => {
    const { error, result } = await startFailure("200 OK", headers);
    expect(error).toBeInstanceOf(ProtocolError);
    expectClean500(result, "headers must be an array of [name, value] pairs");
  });

  test.each([
    [[["X-A"]]],
    [[["X-A", "1", "2"]]],
    [["X-A: 1"]],
    [[{ name: "X-A", value: "1" }]],
  ])("each header must be a 2-element array: %j is refused", async (headers) => {
    const { error, result } = await startFailure("200 OK", headers);
    expect(error).toBeInstanceOf(ProtocolError);
    expectClean500(result, "each header must be a [name, value] pair");
  });

  test.each([
    [[["X-A", 1]], "string, number"],
    [[[1, "a"]], "number, string"],
    [[["X-A", null]], "string, object"],
    [[["X-A", undefined]], "string, undefined"],
  ])("names and values must be strings: %j is refused", async (headers, types) => {
    const { error, result } = await startFailure("200 OK", headers);
    expect(error).toBeInstanceOf(ProtocolError);
    expectClean500(result, `must be strings (got [${types}])`);
  });

  test.each(["Bad Name", "X:Y", "", "Ümlaut", "X-A\r\n", "(x)"])("a name that is not an HTTP token (%j) is refused", async (name) => {
    const { error, result } = await startFailure("200 OK", [[name, "v"]]);
    expect(error).toBeInstanceOf(ProtocolError);
    expectClean500(result, "is not an HTTP token");
  });

  test.each([
    "a\r\nSet-Cookie: evil=1",
    "a\nb",
    "a\rb",
    "nul\x00",
    "del\x7f",
  ])("a value with a control character (%j) is refused, so no header can be forged", async (value) => {
    const { error, result } = await startFailure("200 OK", [["X-A", value]]);
    expect(error).toBeInstanceOf(ProtocolError);
    expectClean500(result, "header X-A has a control character");
    expect(result.raw.toString("latin1")).not.toContain("evil");
  });

  test("a value with a character above U+00FF is refused: latin-1 would truncate U+010A to a LF", async () => {
    const { error, result } = await startFailure("200 OK", [["X-A", "x\u010aSet-Cookie: evil=1"]]);
    expect(error).toBeInstanceOf(ProtocolError);
    expectClean500(result, "header X-A");
    expect(result.raw.toString("latin1")).not.toContain("evil");
  });

  test("a status with a character above U+00FF is refused for the same reason", async () => {
    const { error } = await startFailure("200 O\u010aK", TEXT);
    expect(error).toBeInstanceOf(ProtocolError);
  });

  test("a tab and latin-1 letters are allowed in a value and written as single bytes", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", [...TEXT, ["X-A", "a\tb caf\u00e9"]]);
      return ["x"];
    };
    const { raw, errors } = await runInMemory(validator(app));
    expect(raw.includes(Buffer.from("X-A: a\tb caf\xe9\r\n", "latin1"))).toBe(true);
    expect(errors).toBe("");
  });

  test.each([...HOP_BY_HOP].flatMap((name) => [name, name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase())]))(
    "the hop-by-hop header %s is refused",
    async (name) => {
      const { error, result } = await startFailure("200 OK", [...TEXT, [name, "x"]]);
      expect(error).toBeInstanceOf(ProtocolError);
      expectClean500(result, `hop-by-hop header ${name}`);
    },
  );

  test("HOP_BY_HOP holds the eight RFC 2616 §13.5.1 names the test above walks", () => {
    expect(HOP_BY_HOP.size).toBe(8);
  });

  test.each(["abc", "-1", "1.5", "", " 5", "0x10"])("a Content-Length of %j is refused", async (value) => {
    const { error, result } = await startFailure("200 OK", [["Content-Length", value]]);
    expect(error).toBeInstanceOf(ProtocolError);
    expectClean500(result, "Content-Length must be a whole number");
  });

  test.each(["100 Continue", "103 Early Hints", "101 Switching Protocols"])("the interim status %j cannot end a request", async (status) => {
    const { error, result } = await startFailure(status, TEXT);
    expect(error).toBeInstanceOf(ProtocolError);
    expectClean500(result, "is an interim response");
  });

  test("a 204 drops the app's Content-Length (RFC 9110 §8.6); a 304 keeps it", async () => {
    const noContent = await runInMemory((_environ, start) => {
      start("204 No Content", [["Content-Length", "9"]]);
      return [];
    });
    expect(headerValues(noContent.head, "Content-Length")).toEqual([]);
    const notModified = await runInMemory((_environ, start) => {
      start("304 Not Modified", [["Content-Length", "9"]]);
      return [];
    });
    expect(headerValues(notModified.head, "Content-Length")).toEqual(["9"]);
  });

  test("two Content-Length headers that disagree are refused; two that agree pass", async () => {
    const { error, result } = await startFailure("200 OK", [["Content-Length", "1"], ["Content-Length", "3"]]);
    expect(error).toBeInstanceOf(ProtocolError);
    expectClean500(result, "two Content-Length headers disagree (1 and 3)");
    const agreeing = await runInMemory((_environ, start) => {
      start("200 OK", [["Content-Length", "3"], ["content-length", "3"]]);
      return ["abc"];
    });
    expect(agreeing.body.toString()).toBe("abc");
    expect(agreeing.errors).toBe("");
  });

  test("pairs the app adds to its array after startResponse do not go out, with a sync body's held chunk or later", async () => {
    const app: App = (_environ, start) => {
      const headers: HeaderPair[] = [...TEXT];
      start("200 OK", headers);
      return (function* () {
        yield "abc";
        // The first chunk is still held (§3.10): these land before the head is written.
        headers.push(["Content-Length", "1"], ["Transfer-Encoding", "chunked"], ["X-Late", "1"]);
        yield "def";
      })();
    };
    const { head, body, errors } = await runInMemory(app);
    expect(body.toString()).toBe("abcdef");
    expect(headerValues(head, "Content-Length")).toEqual([]);
    expect(headerValues(head, "Transfer-Encoding")).toEqual([]);
    expect(headerValues(head, "X-Late")).toEqual([]);
    expect(errors).toBe("");
  });

  test("a refused call records nothing, so the app may call startResponse again without excInfo", async () => {
    const app: App = (_environ, start) => {
      expect(() => start("200 OK", [["Bad Name", "x"]])).toThrow(ProtocolError);
      start("202 Accepted", TEXT);
      return ["ok"];
    };
    const { head, body, errors } = await runInMemory(app);
    expect(head).toBe("Status: 202 Accepted\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n");
    expect(body.toString()).toBe("ok");
    expect(errors).toBe("");
  });
});

describe("startResponse: a second call", () => {
  test.each([undefined, null])("without excInfo (%s) is a ProtocolError and the client gets a 500", async (excInfo) => {
    let error: unknown;
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      try {
        start("201 Created", TEXT, excInfo);
      } catch (caught) {
        error = caught;
        throw caught;
      }
      return ["x"];
    };
    const result = await runInMemory(app);
    expect(error).toBeInstanceOf(ProtocolError);
    expectClean500(result, "startResponse was called a second time without excInfo");
  });

  test("with excInfo before the headers are out replaces the status, the headers and the declared length", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", [...TEXT, ["X-Old", "1"], ["Content-Length", "100"]]);
      try {
        throw new Error("template failed");
      } catch (error) {
        start("503 Service Unavailable", [["Content-Type", "text/html"]], error);
      }
      return ["sorry"];
    };
    const { head, body, errors } = await runInMemory(validator(app));
    expect(head).toBe("Status: 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n");
    expect(body.toString()).toBe("sorry");
    expect(errors).toBe("");
  });

  test("with excInfo after the headers are out rethrows the app's error and cuts the connection", async () => {
    const original = new Error("failed half way");
    let rethrown: unknown;
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return (async function* () {
        yield "part1";
        try {
          start("500 Oops", TEXT, original);
        } catch (caught) {
          rethrown = caught;
          throw caught;
        }
        yield "never";
      })();
    };
    const { head, body, errors, isCut } = await runInMemory(validator(app));
    expect(rethrown).toBe(original);
    expect(head).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n");
    expect(body.toString()).toBe("part1");
    expect(isCut).toBe(true);
    expect(errors).toContain("Error: failed half way");
  });

  test("with excInfo after a sync generator's first chunk rethrows, and the old body never goes out under the new status", async () => {
    const original = new Error("failed after the first chunk");
    let rethrown: unknown;
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return (function* () {
        yield "<partial page>";
        try {
          start("500 Oops", TEXT, original);
        } catch (caught) {
          rethrown = caught;
          throw caught;
        }
        yield "error page";
      })();
    };
    const result = await runInMemory(app);
    expect(rethrown).toBe(original);
    // The held chunk was never sent, so a clean 500 is still possible; the app's replacement is not.
    expectClean500(result, "Error: failed after the first chunk");
    expect(result.raw.toString()).not.toContain("<partial page>");
  });

  test("with excInfo after a legacy write() rethrows the app's error", async () => {
    const original = new Error("after write");
    let rethrown: unknown;
    const app: App = async (_environ, start) => {
      const write = start("200 OK", TEXT);
      await write("streamed");
      try {
        start("500 Oops", TEXT, original);
      } catch (caught) {
        rethrown = caught;
        throw caught;
      }
      return [];
    };
    const { head, body, isCut } = await runInMemory(app);
    expect(rethrown).toBe(original);
    expect(head).toContain("Status: 200 OK\r\n");
    expect(body.toString()).toBe("streamed");
    expect(isCut).toBe(true);
  });
});

describe("deferred headers", () => {
  test("a sync app that throws after startResponse gets a clean 500", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      throw new Error("kaboom");
    };
    const result = await runInMemory(validator(app));
    expectClean500(result, "Error: kaboom");
    expect(result.raw.toString()).not.toContain("200 OK");
  });

  test("an async app that rejects after startResponse gets a clean 500", async () => {
    const app: App = async (_environ, start) => {
      start("200 OK", TEXT);
      await Promise.resolve();
      throw new Error("async kaboom");
    };
    const result = await runInMemory(validator(app));
    expectClean500(result, "Error: async kaboom");
  });

  test("a generator that yields only empty chunks and then throws still gets a clean 500", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return (function* () {
        yield "";
        yield new Uint8Array(0);
        throw new Error("after empties");
      })();
    };
    const result = await runInMemory(validator(app));
    expectClean500(result, "Error: after empties");
  });

  test("an async generator's empty chunks don't send the headers either", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return (async function* () {
        yield "";
        throw new Error("async after empty");
      })();
    };
    const result = await runInMemory(validator(app));
    expectClean500(result, "Error: async after empty");
  });

  test("an empty write() does not send the headers", async () => {
    const app: App = (_environ, start) => {
      const write = start("200 OK", TEXT);
      void write("");
      throw new Error("after empty write");
    };
    const result = await runInMemory(validator(app));
    expectClean500(result, "Error: after empty write");
  });
});

describe("Content-Length", () => {
  // Arrays are run bare: validator() wraps every body in a plain iterable, hiding the array.
  test("an array of one chunk gets its length", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return ["hello"];
    };
    const { head, body } = await runInMemory(app);
    expect(head).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
    expect(body.toString()).toBe("hello");
  });

  test("an array of several chunks gets the sum of their byte lengths", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return ["ab", "", new Uint8Array([0x63, 0x64]), "é"];
    };
    const { head, body } = await runInMemory(app);
    // 2 + 0 + 2 + 2 ("é" is two bytes in UTF-8).
    expect(headerValues(head, "Content-Length")).toEqual(["6"]);
    expect(body.toString()).toBe("abcdé");
  });

  test("a sync generator of one chunk gets its length", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return (function* () {
        yield "";
        yield "only";
      })();
    };
    const { head, body } = await runInMemory(validator(app));
    expect(headerValues(head, "Content-Length")).toEqual(["4"]);
    expect(body.toString()).toBe("only");
  });

  test("a sync generator of two chunks is streamed without Content-Length", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return (function* () {
        yield "one ";
        yield "two";
      })();
    };
    const { head, body, errors } = await runInMemory(validator(app));
    expect(head).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n");
    expect(body.toString()).toBe("one two");
    expect(errors).toBe("");
  });

  test("an async generator is streamed without Content-Length, even with one chunk", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return (async function* () {
        yield "solo";
      })();
    };
    const { head, body } = await runInMemory(validator(app));
    expect(headerValues(head, "Content-Length")).toEqual([]);
    expect(body.toString()).toBe("solo");
  });

  test.each([
    ["an empty array", (): Body => []],
    ["an array of empty chunks", (): Body => ["", new Uint8Array(0)]],
    ["an empty generator", (): Body => (function* (): Generator<Chunk> {})()],
    ["an empty async generator", (): Body => (async function* (): AsyncGenerator<Chunk> {})()],
  ])("%s sends Content-Length: 0", async (_label, makeBody) => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return makeBody();
    };
    const { head, body, isCut } = await runInMemory(validator(app));
    expect(head).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n");
    expect(body.byteLength).toBe(0);
    expect(isCut).toBe(false);
  });

  test.each(["Content-Length", "content-length", "CONTENT-LENGTH"])("the app's own %s is honoured and not duplicated", async (name) => {
    const app: App = (_environ, start) => {
      start("200 OK", [...TEXT, [name, "5"]]);
      return ["hello"];
    };
    const { head, body } = await runInMemory(validator(app));
    expect(headerValues(head, "content-length")).toEqual(["5"]);
    expect(head).toContain(`${name}: 5\r\n`);
    expect(body.toString()).toBe("hello");
  });

  test("the app's Content-Length is kept for a streamed body that matches it", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", [...TEXT, ["Content-Length", "6"]]);
      return (function* () {
        yield "abc";
        yield "def";
      })();
    };
    const { head, body, errors } = await runInMemory(validator(app));
    expect(headerValues(head, "content-length")).toEqual(["6"]);
    expect(body.toString()).toBe("abcdef");
    expect(errors).toBe("");
  });

  test("a single chunk longer than the declared length fails into a clean 500", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", [["Content-Length", "3"]]);
      return ["hello"];
    };
    expectClean500(await runInMemory(app), "more than its Content-Length of 3 bytes");
  });

  test("a stream longer than the declared length is cut before the extra bytes go out", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", [["Content-Length", "3"]]);
      return (async function* () {
        yield "ab";
        yield "cd";
      })();
    };
    const { head, body, errors, isCut } = await runInMemory(app);
    expect(head).toBe("Status: 200 OK\r\nContent-Length: 3\r\n\r\n");
    expect(body.toString()).toBe("ab");
    expect(isCut).toBe(true);
    expect(errors).toContain("more than its Content-Length of 3 bytes");
  });

  test("a single chunk shorter than the declared length fails into a clean 500", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", [["Content-Length", "10"]]);
      return ["hello"];
    };
    expectClean500(await runInMemory(app), "the app sent 5 bytes, fewer than its Content-Length of 10");
  });

  test("an empty body with a declared length fails into a clean 500, not headers and a cut", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", [["Content-Length", "10"]]);
      return [];
    };
    expectClean500(await runInMemory(app), "fewer than its Content-Length of 10");
  });

  test("an array of several chunks that misses the declared length fails into a clean 500", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", [["Content-Length", "10"]]);
      return ["ab", "cd"];
    };
    expectClean500(await runInMemory(app), "Content-Length of 10");
  });

  test("a stream that ends short of the declared length is cut, so the client cannot mistake it for whole", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", [["Content-Length", "10"]]);
      return (async function* () {
        yield "ab";
      })();
    };
    const { body, errors, isCut } = await runInMemory(app);
    expect(body.toString()).toBe("ab");
    expect(isCut).toBe(true);
    expect(errors).toContain("the app sent 2 bytes, fewer than its Content-Length of 10");
  });
});

describe("HEAD, 204 and 304", () => {
  test("HEAD sends no body but keeps the Content-Length of the body it would send", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return ["hello"];
    };
    const { head, body } = await runInMemory(validator(app), { REQUEST_METHOD: "HEAD" });
    expect(head).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
    expect(body.byteLength).toBe(0);
  });

  test("HEAD keeps the app's Content-Length when the app returns no body", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", [...TEXT, ["Content-Length", "1234"]]);
      return [];
    };
    const { head, body, errors } = await runInMemory(validator(app), { REQUEST_METHOD: "HEAD" });
    expect(headerValues(head, "content-length")).toEqual(["1234"]);
    expect(body.byteLength).toBe(0);
    expect(errors).toBe("");
  });

  test("HEAD answered with an empty body claims no Content-Length: the GET length is unknown", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return [];
    };
    const { head, body } = await runInMemory(validator(app), { REQUEST_METHOD: "HEAD" });
    expect(head).not.toContain("Content-Length");
    expect(body.byteLength).toBe(0);
  });

  test("HEAD with a streamed body sends nothing after the headers and runs the generator's finally", async () => {
    let isFinallyRun = false;
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return (function* () {
        try {
          yield "a";
          yield "b";
          yield "c";
        } finally {
          isFinallyRun = true;
        }
      })();
    };
    const { head, body } = await runInMemory(validator(app), { REQUEST_METHOD: "HEAD" });
    expect(head).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n");
    expect(body.byteLength).toBe(0);
    expect(isFinallyRun).toBe(true);
  });

  test.each(["204 No Content", "304 Not Modified"])("%s sends neither a body nor a computed Content-Length", async (status) => {
    const app: App = (_environ, start) => {
      start(status, [["X-A", "1"]]);
      return ["stray body the app should not have sent"];
    };
    const { head, body, errors } = await runInMemory(app);
    expect(head).toBe(`Status: ${status}\r\nX-A: 1\r\n\r\n`);
    expect(body.byteLength).toBe(0);
    expect(errors).toBe("");
  });

  test("a 304 keeps the app's Content-Length (the size of the cached representation) with an empty body", async () => {
    const app: App = (_environ, start) => {
      start("304 Not Modified", [["Content-Length", "500"]]);
      return [];
    };
    const { head, body, errors } = await runInMemory(validator(app));
    expect(head).toBe("Status: 304 Not Modified\r\nContent-Length: 500\r\n\r\n");
    expect(body.byteLength).toBe(0);
    expect(errors).toBe("");
  });
});

describe("bodies and write()", () => {
  test("string chunks are sent UTF-8 encoded and Content-Length counts bytes", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return ["é"];
    };
    const { head, body } = await runInMemory(validator(app));
    expect(headerValues(head, "Content-Length")).toEqual(["2"]);
    expect([...body]).toEqual([0xc3, 0xa9]);
  });

  test("Uint8Array chunks are sent byte for byte", async () => {
    const bytes = new Uint8Array([0, 1, 0xfe, 0xff]);
    const app: App = (_environ, start) => {
      start("200 OK", [["Content-Type", "application/octet-stream"]]);
      return [bytes];
    };
    const { body } = await runInMemory(validator(app));
    expect([...body]).toEqual([0, 1, 0xfe, 0xff]);
  });

  test("legacy write() output comes before the body's chunks, and no Content-Length is guessed", async () => {
    const app: App = (_environ, start) => {
      const write = start("200 OK", TEXT);
      void write("one ");
      void write(new Uint8Array([0x74, 0x77, 0x6f, 0x20]));
      return ["three"];
    };
    const { head, body, errors } = await runInMemory(validator(app));
    expect(head).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n");
    expect(body.toString()).toBe("one two three");
    expect(errors).toBe("");
  });

  test("write() returns a promise that settles", async () => {
    let settled: unknown = "pending";
    const app: App = async (_environ, start) => {
      const write = start("200 OK", TEXT);
      settled = await write("x");
      return [];
    };
    await runInMemory(validator(app));
    expect(settled).toBeUndefined();
  });

  test("write() after the response ended is a ProtocolError", async () => {
    let write: ((chunk: Chunk) => Promise<void>) | undefined;
    const app: App = (_environ, start) => {
      write = start("200 OK", TEXT);
      return ["done"];
    };
    await runInMemory(app);
    expect(() => write!("late")).toThrow(ProtocolError);
    expect(() => write!("late")).toThrow("write() was called after the response ended");
  });

  test("a body that yields before startResponse is a ProtocolError and a 500", async () => {
    const app: App = () => (function* () {
      yield "too early";
    })();
    expectClean500(await runInMemory(app), "ProtocolError: the body produced data before startResponse was called");
  });

  test("an app that returns without calling startResponse gets a 500", async () => {
    const app: App = () => [];
    expectClean500(await runInMemory(app), "ProtocolError: the app returned without calling startResponse");
  });

  test.each([
    ["a string", "hello", /not the string "hello"; wrap a single chunk as \[chunk\]/],
    ["a Uint8Array", new Uint8Array([104, 105]), /not a Uint8Array of 2 bytes; wrap a single chunk as \[chunk\]/],
    ["undefined", undefined, /iterable of chunks, not undefined/],
    ["null", null, /iterable of chunks, not null/],
    ["a number", 42, /iterable of chunks, not the number 42/],
    ["a plain object", { chunk: "x" }, /Iterable or AsyncIterable of chunks, not an object/],
  ])("an app returning %s as its body gets a 500 and a message naming the mistake", async (_label, returned, message) => {
    const app = ((_environ: unknown, start: StartResponse) => {
      start("200 OK", TEXT);
      return returned;
    }) as unknown as App;
    const result = await runInMemory(app);
    expectClean500(result, message);
    expect(result.errors).toContain("ProtocolError");
    expect(result.body.toString()).not.toContain("hello");
  });

  test.each([
    ["a number", 42, "not the number 42"],
    ["null", null, "not null"],
    ["an object", { text: "x" }, "not an object"],
  ])("a body chunk that is %s gets a 500 naming it", async (_label, chunk, named) => {
    const app = ((_environ: unknown, start: StartResponse) => {
      start("200 OK", TEXT);
      return ["fine", chunk];
    }) as unknown as App;
    expectClean500(await runInMemory(app), `a body chunk must be a Uint8Array or a string, ${named}`);
  });

  test("an error's trace goes to gw.errors and never into the response", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      throw new Error("secret-detail-1234");
    };
    const { raw, errors } = await runInMemory(validator(app));
    expect(errors).toMatch(/^Error: secret-detail-1234\n\s+at /);
    expect(raw.toString()).not.toContain("secret-detail-1234");
    expect(raw.toString()).not.toContain("    at ");
  });

  test("a thrown non-Error is logged by its string form", async () => {
    const app: App = () => {
      throw "plain string";
    };
    expectClean500(await runInMemory(app), "non-Error thrown: plain string\n");
  });

  test("the log has what Node prints of an error: its own properties and its cause's stack", async () => {
    const app: App = () => {
      throw Object.assign(new Error("query failed", { cause: new Error("ECONNREFUSED 127.0.0.1:5432") }), { code: "E_DB" });
    };
    const result = await runInMemory(app);
    expectClean500(result, /^Error: query failed\n\s+at /);
    expect(result.errors).toMatch(/\[cause\]: Error: ECONNREFUSED 127\.0\.0\.1:5432\n\s+at /);
    expect(result.errors).toMatch(/code: 'E_DB'/);
    const thrown: App = () => {
      throw { status: 418 };
    };
    expectClean500(await runInMemory(thrown), "non-Error thrown: { status: 418 }\n");
  });
});

describe("close()", () => {
  test("is called once when the response ends normally", async () => {
    const { body, closes } = closable(["a", "b"]);
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return body;
    };
    const { body: sent, errors } = await runInMemory(validator(app));
    expect(sent.toString()).toBe("ab");
    expect(closes()).toBe(1);
    // The validator throws on a second close(); the handler would log that.
    expect(errors).toBe("");
  });

  test("is called once when the body's generator throws", async () => {
    const { body, closes } = closable((function* () {
      yield "partial";
      throw new Error("generator failed");
    })());
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return body;
    };
    const result = await runInMemory(validator(app));
    expect(closes()).toBe(1);
    expectClean500(result, "Error: generator failed");
    expect(result.errors).not.toContain("twice");
  });

  test("is called once when the body's startResponse call fails its checks", async () => {
    let closes = 0;
    const app: App = (_environ, start) => Object.assign((function* () {
      start("200 OK", [["Connection", "close"]]);
      yield "x";
    })(), { close: () => void closes++ });
    const result = await runInMemory(app);
    expect(closes).toBe(1);
    expectClean500(result, "hop-by-hop header Connection");
  });

  test("is called once when the app returned a body without calling startResponse", async () => {
    const { body, closes } = closable([]);
    const result = await runInMemory(() => body);
    expect(closes()).toBe(1);
    expectClean500(result, "without calling startResponse");
  });

  test("is called once, and only after the body is done, for an async body", async () => {
    const events: string[] = [];
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return Object.assign((async function* () {
        events.push("first");
        yield "1";
        events.push("second");
        yield "2";
      })(), { close: () => void events.push("close") });
    };
    const { body } = await runInMemory(validator(app));
    expect(body.toString()).toBe("12");
    expect(events).toEqual(["first", "second", "close"]);
  });
});

describe("client aborts", () => {
  /** Runs `app` over a PassThrough that nobody reads, destroyed once `shouldCut` says so. */
  async function runAborted(app: App, shouldCut: (written: number) => boolean): Promise<StreamHandler> {
    let written = 0;
    const stdout = new PassThrough({ highWaterMark: 16 });
    const realWrite = stdout.write.bind(stdout);
    stdout.write = ((chunk: Chunk, ...rest: never[]) => {
      written++;
      const result = realWrite(chunk, ...rest);
      if (shouldCut(written)) setImmediate(() => stdout.destroy());
      return result;
    }) as typeof stdout.write;
    const environ = setupTestingDefaults({ "gw.errors": new ErrorOutput({ write: () => true }) });
    const handler = new StreamHandler(environ, stdout, environ["gw.errors"]);
    await handler.run(app);
    return handler;
  }

  test("a sync generator blocked on backpressure runs its finally and is closed once", async () => {
    let isFinallyRun = false;
    let closes = 0;
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return Object.assign((function* () {
        try {
          for (;;) yield "x".repeat(1024);
        } finally {
          isFinallyRun = true;
        }
      })(), { close: () => void closes++ });
    };
    const handler = await runAborted(app, (written) => written >= 2);
    expect(handler.isAborted).toBe(true);
    expect(isFinallyRun).toBe(true);
    expect(closes).toBe(1);
  });

  test("an async generator runs its finally once the client is gone", async () => {
    let isFinallyRun = false;
    let yields = 0;
    const app: App = (_environ, start) => {
      start("200 OK", TEXT);
      return (async function* () {
        try {
          for (;;) {
            yields++;
            yield "chunk";
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
        } finally {
          isFinallyRun = true;
        }
      })();
    };
    const handler = await runAborted(app, (written) => written >= 1);
    await vi.waitFor(() => expect(isFinallyRun).toBe(true));
    expect(handler.isAborted).toBe(true);
    expect(yields).toBeLessThan(50);
  });

  test("many backpressured write() calls leave one close listener, not one per wait", async () => {
    const stdout = new PassThrough({ highWaterMark: 4 });
    stdout.resume();
    let listeners = -1;
    const app: App = async (_environ, start) => {
      const write = start("200 OK", TEXT);
      for (let i = 0; i < 20; i++) await write("0123456789abcdef");
      listeners = stdout.listenerCount("close");
      return [];
    };
    const environ = setupTestingDefaults({ "gw.errors": new ErrorOutput({ write: () => true }) });
    await new StreamHandler(environ, stdout, environ["gw.errors"]).run(app);
    expect(listeners).toBe(1);
  });
});

describe("CGI and origin-server output", () => {
  const hello: App = (_environ, start) => {
    start("200 OK", TEXT);
    return ["Hello, world!"];
  };

  test("CGI mode writes a Status header and neither Date nor Server", async () => {
    const { head } = await runInMemory(validator(hello));
    expect(head.startsWith("Status: 200 OK\r\n")).toBe(true);
    expect(head).not.toMatch(/^HTTP\//);
    expect(headerValues(head, "Date")).toEqual([]);
    expect(headerValues(head, "Server")).toEqual([]);
  });

  test("origin mode writes an HTTP/1.0 status line, Date and Server", async () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const { head, body } = await runInMemory(validator(hello), {}, { isOriginServer: true });
    expect(head.startsWith("HTTP/1.0 200 OK\r\n")).toBe(true);
    const dates = headerValues(head, "Date");
    expect(dates).toHaveLength(1);
    // RFC 9110 §5.6.7 IMF-fixdate, e.g. "Sat, 21 Nov 2026 13:09:29 GMT".
    expect(dates[0]).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    const sent = Date.parse(dates[0]!);
    expect(sent).toBeGreaterThanOrEqual(before);
    expect(sent).toBeLessThanOrEqual(Date.now());
    expect(headerValues(head, "Server")).toEqual([SERVER_SOFTWARE]);
    expect(head).not.toContain("Status:");
    expect(body.toString()).toBe("Hello, world!");
  });

  test("origin mode answers HTTP/1.1 to an HTTP/1.1 request, with Connection: close (the stream ends with it)", async () => {
    const { head } = await runInMemory(validator(hello), { SERVER_PROTOCOL: "HTTP/1.1" }, { isOriginServer: true });
    expect(head.startsWith("HTTP/1.1 200 OK\r\n")).toBe(true);
    expect(headerValues(head, "Connection")).toEqual(["close"]);
    const old = await runInMemory(validator(hello), { SERVER_PROTOCOL: "HTTP/1.0" }, { isOriginServer: true });
    expect(headerValues(old.head, "Connection")).toEqual([]);
  });

  test("origin mode keeps the app's own Date and Server and adds none", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", [...TEXT, ["Server", "mine/1.0"], ["date", "Thu, 01 Jan 2026 00:00:00 GMT"]]);
      return ["x"];
    };
    const { head } = await runInMemory(validator(app), {}, { isOriginServer: true });
    expect(headerValues(head, "Server")).toEqual(["mine/1.0"]);
    expect(headerValues(head, "Date")).toEqual(["Thu, 01 Jan 2026 00:00:00 GMT"]);
  });

  test("origin mode's 500 carries a Server header even if the failed app had set its own", async () => {
    const app: App = (_environ, start) => {
      start("200 OK", [...TEXT, ["Server", "mine/1.0"]]);
      throw new Error("x");
    };
    const { head } = await runInMemory(app, {}, { isOriginServer: true });
    expect(head.startsWith(`HTTP/1.0 ${ERROR_STATUS}\r\n`)).toBe(true);
    expect(headerValues(head, "Server")).toEqual([SERVER_SOFTWARE]);
  });

  /** Runs a CgiHandler over in-memory stdio; returns stdout and stderr text. */
  async function runCgi(app: App, env: NodeJS.ProcessEnv, stdin: Readable): Promise<{ stdout: string; stderr: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const out: Buffer[] = [];
    let errText = "";
    stdout.on("data", (chunk: Buffer) => out.push(chunk));
    stderr.on("data", (chunk: Buffer) => (errText += chunk.toString()));
    await new CgiHandler({ env, stdin, stdout, stderr }).run(app);
    await finished(stdout);
    return { stdout: Buffer.concat(out).toString("latin1"), stderr: errText };
  }

  test("CgiHandler writes exactly the CGI response for hello world", async () => {
    const { stdout, stderr } = await runCgi(validator(hello), { REQUEST_METHOD: "GET", PATH_INFO: "/" }, Readable.from([]));
    expect(stdout).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!");
    expect(stderr).toBe("");
  });

  test("a CGI POST reads exactly CONTENT_LENGTH bytes even when stdin holds more", async () => {
    let received = "";
    const app: App = async (environ, start) => {
      received = Buffer.from(await environ["gw.input"].read()).toString();
      start("200 OK", TEXT);
      return [`got ${received.length}`];
    };
    const stdin = Readable.from([Buffer.from("hel"), Buffer.from("lo, wo"), Buffer.from("rld; and then trailing junk")]);
    const { stdout } = await runCgi(
      validator(app),
      { REQUEST_METHOD: "POST", PATH_INFO: "/", CONTENT_LENGTH: "12", CONTENT_TYPE: "text/plain" },
      stdin,
    );
    expect(received).toBe("hello, world");
    expect(stdout.endsWith("\r\n\r\ngot 12")).toBe(true);
  });

  test("CgiHandler's app errors go to the given stderr, and stdout gets the 500", async () => {
    const app: App = () => {
      throw new Error("cgi failure");
    };
    const { stdout, stderr } = await runCgi(app, { REQUEST_METHOD: "GET" }, Readable.from([]));
    expect(stdout).toBe(ERROR_HEAD + ERROR_BODY);
    expect(stderr).toContain("Error: cgi failure");
  });
});

describe("errorResponse: the override point for the response to a failed app", () => {
  async function runWith(handlerClass: typeof StreamHandler, app: App): Promise<{ out: string; errors: string }> {
    const environ = setupTestingDefaults({ REQUEST_METHOD: "GET" });
    const errors = new PassThrough();
    environ["gw.errors"] = new ErrorOutput(errors);
    const stdout = new PassThrough();
    const parts: Buffer[] = [];
    stdout.on("data", (chunk: Buffer) => parts.push(chunk));
    await new handlerClass(environ, stdout, environ["gw.errors"]).run(app);
    stdout.end();
    await finished(stdout);
    return { out: Buffer.concat(parts).toString(), errors: String(errors.read() ?? "") };
  }
  const fails: App = () => {
    throw new Error("app failed");
  };

  test("a subclass's page replaces the plain 500, status and headers included", async () => {
    class PageHandler extends StreamHandler {
      protected override errorResponse(error: unknown): { status: string; headers: HeaderPair[]; body: Chunk } {
        return { status: "503 Service Unavailable", headers: [["Content-Type", "text/html"]], body: `<p>${(error as Error).message}</p>` };
      }
    }
    const { out } = await runWith(PageHandler, fails);
    expect(out).toMatch(/^Status: 503 Service Unavailable\r\n/);
    expect(out).toContain("Content-Type: text/html\r\n");
    expect(out.endsWith("\r\n\r\n<p>app failed</p>")).toBe(true);
  });

  test("a page that fails itself is logged, and the plain 500 goes out", async () => {
    class BrokenPageHandler extends StreamHandler {
      protected override errorResponse(): never {
        throw new Error("page broke");
      }
    }
    const { out, errors } = await runWith(BrokenPageHandler, fails);
    expect(out).toContain(`500 Internal Server Error\r\n`);
    expect(out.endsWith(ERROR_BODY)).toBe(true);
    expect(errors).toContain("Error: app failed");
    expect(errors).toContain("Error: page broke");
  });
});
