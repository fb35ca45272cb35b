// The HTTP grammar in core/http-syntax.ts: here the Host rule (RFC 9110 §7.2, RFC 3986 §3.2.2).
import { describe, expect, test } from "vitest";
import { isValidHost } from "../../../src/core/http-syntax.ts";

describe("isValidHost", () => {
  test.each([
    "", "localhost", "localhost:8000", "a.b-c_d~e", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:8000",
    "[2001:db8::ff00:42:8329]:443", "[::ffff:192.0.2.1]", "x:", "XN--BCHER-KVA.example",
  ])("%j is host[:port]", (host) => {
    expect(isValidHost(host)).toBe(true);
  });

  test.each([
    "x/admin?", "x?y", "x#y", "a@b", "user:pw@host", "a b", "a,b", "a;b", "x\\admin", "ex%41mple", ":80", "[]", "[::1",
    "::1", "[::1]x", "[::1]:x", "[v1.x]", "[::g]", "x:123456", "x:80:80", "x:-1", "bücher.example", "x\t", "x\r\nSet-Cookie: a",
  ])("%j is not", (host) => {
    expect(isValidHost(host)).toBe(false);
  });
});
