// parseCgiHead: RFC 3875 §6 header blocks, from good to malformed, and nph- status lines.
import { describe, expect, test } from "vitest";
import { HEAD_LIMIT, parseCgiHead, type CgiHead } from "../../../src/cgi/response.ts";

const parse = (text: string, isNph = false) => parseCgiHead(Buffer.from(text, "latin1"), isNph);
const head = (text: string, isNph = false): CgiHead => parse(text, isNph) as CgiHead;

describe("parseCgiHead", () => {
  test("a document response: LF or CRLF lines, body after the blank line", () => {
    for (const text of ["Content-Type: text/plain\n\nbody", "Content-Type: text/plain\r\n\r\nbody", "Content-Type:text/plain\r\n\nbody"]) {
      const result = head(text);
      expect([result.status, result.headers, text.slice(result.bodyStart), result.localRedirect]).toEqual(["200 OK", [["Content-Type", "text/plain"]], "body", undefined]);
    }
  });

  test("Status sets the status; a missing reason comes from the code", () => {
    expect(head("Status: 404 Gone Fishing\nContent-Type: text/plain\n\n").status).toBe("404 Gone Fishing");
    expect(head("Status: 404\n\n").status).toBe("404 Not Found");
    expect(head("Status: 404\n\n").headers).toEqual([]);
  });

  test("Location: a path is a local redirect, a URL a 302 unless a status is given", () => {
    expect(head("Location: /other?x=1\n\n").localRedirect).toBe("/other?x=1");
    expect([head("Location: http://example.com/\n\n").status, head("Location: http://example.com/\n\n").localRedirect]).toEqual(["302 Found", undefined]);
    expect(head("Location: //evil.example/\n\n").status).toBe("302 Found");
    expect(head("Status: 301 Moved\nLocation: /x\n\n").status).toBe("301 Moved");
    expect(head("Status: 301 Moved\nLocation: /x\n\n").localRedirect).toBeUndefined();
  });

  test("hop-by-hop fields are dropped; others keep their order and case; folded lines join", () => {
    const result = head("Content-Type: text/plain\nConnection: close\nKeep-Alive: timeout=5\nSet-Cookie: a=1\nSet-Cookie: b=2\nX-Long: one\n two\n\n");
    expect(result.headers).toEqual([["Content-Type", "text/plain"], ["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"], ["X-Long", "one two"]]);
  });

  test("framing is the server's: Transfer-Encoding, disagreeing Content-Lengths (any case) and a final 1xx are errors", () => {
    expect(parse("Content-Type: text/plain\nTransfer-Encoding: chunked\n\n")).toEqual({ error: expect.stringContaining("Transfer-Encoding") });
    expect(parse("content-length: 50\nContent-Length: 5\n\n")).toEqual({ error: expect.stringContaining("two different Content-Length") });
    expect(parse("Content-Length: 5x\n\n")).toEqual({ error: expect.stringContaining("not a number") });
    expect(parse("Status: 100 Continue\nContent-Type: text/plain\n\n")).toEqual({ error: expect.stringContaining("interim") });
    expect(parse("HTTP/1.1 101 Switching Protocols\n\n", true)).toEqual({ error: expect.stringContaining("interim") });
    // The same length twice is only a repeat: one is kept.
    expect(head("Content-Length: 5\ncontent-length: 5\n\n").headers).toEqual([["Content-Length", "5"]]);
  });

  test("an incomplete block asks for more, even split inside CRLF", () => {
    for (const text of ["", "Content-Ty", "Content-Type: text/plain", "Content-Type: text/plain\n", "Content-Type: text/plain\r\n\r"]) {
      expect([text, parse(text)]).toEqual([text, "more"]);
    }
  });

  test.each([
    ["Hello World\n", /does not start with a header block/],
    ["<html><body>", /does not start with a header block/],
    ["\nbody", /starts with an empty line/],
    ["Content-Type: text/plain\nno colon here\n\n", /malformed header line/],
    ["Status: abc\n\n", /Status header/],
    ["Status: 200 OK\nStatus: 404 No\n\n", /two Status headers/],
    ["Location: /a\nLocation: /b\n\n", /two Location headers/],
    ["X-Bad: a\x01b\n\n", /control character/],
    [" folded first\n\n", /does not start with a header block|folded/],
  ])("%j is an error", (text, message) => {
    const result = parse(text);
    expect(typeof result === "object" && "error" in result ? result.error : result).toMatch(message);
  });

  test("a header block past the limit is an error, complete or not", () => {
    expect(parse("X-Big: " + "a".repeat(HEAD_LIMIT) + "\n")).toEqual({ error: expect.stringMatching(/larger than/) });
    expect(parse("X-Big: " + "a".repeat(HEAD_LIMIT) + "\n\nbody")).toEqual({ error: expect.stringMatching(/larger than/) });
  });

  test("nph-: the status line is the script's, and Location is not interpreted", () => {
    const result = head("HTTP/1.1 202 Accepted\r\nLocation: /elsewhere\r\nX-Nph: yes\r\n\r\nraw", true);
    expect([result.status, result.headers, result.localRedirect]).toEqual(["202 Accepted", [["Location", "/elsewhere"], ["X-Nph", "yes"]], undefined]);
    expect(parse("Content-Type: text/plain\n\n", true)).toEqual({ error: expect.stringMatching(/HTTP status line/) });
    expect(parse("HTTP/1.0 99 Low\n\n", true)).toEqual({ error: expect.stringMatching(/HTTP status line/) });
  });
});
