// The per-request memos of the hot path (last status, header pairs by position, environ key slots
// by position) must never let a bad value through or lose a repeated header.
import type { IncomingMessage } from "node:http";
import { describe, expect, test } from "vitest";
import { MAX_MEMO_ENTRIES, environFromRequest, headerKey, headerMemoSize, makeServerInfo, resetMemos } from "../../../src/core/environ.ts";
import type { App, HeaderPair } from "../../../src/core/types.ts";
import { runInMemory } from "../../helpers/memory.ts";

const info = makeServerInfo("localhost", 8000, { write: () => true });

function environOf(rawHeaders: string[]): Record<string, unknown> {
  const request = { url: "/", method: "GET", httpVersion: "1.1", rawHeaders, socket: { remoteAddress: "127.0.0.1", remotePort: 1 } };
  return environFromRequest(request as unknown as IncomingMessage, info);
}

function statusApp(status: unknown, headers: HeaderPair[] = [["Content-Type", "text/plain"]]): App {
  return (_environ, start) => {
    (start as (status: unknown, headers: unknown) => unknown)(status, headers);
    return ["x"];
  };
}

describe("status and header checks after a good response", () => {
  test.each([[""], ["200"], ["20 OK"], ["200 O\nK"], [undefined]])("the status %j is still refused", async (status) => {
    expect((await runInMemory(statusApp("200 OK"))).head).toMatch(/^Status: 200 OK/);
    expect((await runInMemory(statusApp(status))).head).toMatch(/^Status: 500/);
  });

  test("a bad name or value at a position that held a good pair is still refused", async () => {
    expect((await runInMemory(statusApp("200 OK", [["Content-Type", "text/plain"], ["X-A", "1"]]))).head).toMatch(/^Status: 200/);
    expect((await runInMemory(statusApp("200 OK", [["Content-Type", "text/plain"], ["X A", "1"]]))).head).toMatch(/^Status: 500/);
    expect((await runInMemory(statusApp("200 OK", [["Content-Type", "text/plain"], ["X-A", "1\r\nX-B: 2"]]))).head).toMatch(/^Status: 500/);
  });
});

describe("environ header keys across requests", () => {
  test("a header repeated in one request is joined, in the next request too", () => {
    expect(environOf(["Host", "a"]).HTTP_HOST).toBe("a");
    expect(environOf(["Host", "a", "host", "b"]).HTTP_HOST).toBe("a,b");
    expect(environOf(["Host", "c"]).HTTP_HOST).toBe("c");
    expect(environOf(["X-Y", "1", "Host", "d", "HOST", "e"]).HTTP_HOST).toBe("d,e");
  });

  test("names at the same positions as the last request still map by their own name", () => {
    environOf(["Host", "a", "Accept", "b"]);
    const environ = environOf(["Host", "a", "Content-Length", "3", "content_length", "9"]);
    expect(environ.CONTENT_LENGTH).toBe("3");
    expect("HTTP_ACCEPT" in environ).toBe(false);
    expect("HTTP_CONTENT_LENGTH" in environ).toBe(false);
  });

  test("a repeated header is joined across the memo starting over, within a request and after it (#16)", () => {
    resetMemos();
    const flood = Array.from({ length: MAX_MEMO_ENTRIES + 100 }, (_, i) => [`X-Flood-${i}`, "f"]).flat();
    const environ = environOf(["X-A", "1", "Host", "h", ...flood, "x-a", "2", "HOST", "i"]);
    expect([environ.HTTP_X_A, environ.HTTP_HOST, environ["HTTP_X_FLOOD_1099"]]).toEqual(["1,2", "h,i", "f"]);
    // The memo filled up during that request and starts over before the next one.
    expect(headerMemoSize().names).toBe(MAX_MEMO_ENTRIES);
    const next = environOf(["X-A", "3", "Host", "h", "x-a", "4"]);
    expect(headerMemoSize().names).toBe(3);
    expect([next.HTTP_X_A, next.HTTP_HOST]).toEqual(["3,4", "h"]);
    // Same names at the same positions (the positional cache), then again in another order.
    expect(environOf(["X-A", "5", "Host", "h", "x-a", "6"]).HTTP_X_A).toBe("5,6");
    expect(environOf(["x-a", "7", "X-A", "8", "Host", "h"]).HTTP_X_A).toBe("7,8");
  });

  test("headerKey keeps its answers", () => {
    expect(headerKey("X-Forwarded-For")).toBe("HTTP_X_FORWARDED_FOR");
    expect(headerKey("Content-Type")).toBeUndefined();
    expect(headerKey("content_type")).toBeUndefined();
  });
});
