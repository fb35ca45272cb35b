// readLenientHead: the second, lenient reading of a head node's parser refused.
import { describe, expect, test } from "vitest";
import { MAX_REQUEST_LINE, readLenientHead, type LenientRequest } from "../../../src/server/request-head.ts";

function read(text: string): ReturnType<typeof readLenientHead> {
  return readLenientHead(Buffer.from(text, "latin1"));
}

function request(text: string): LenientRequest {
  const head = read(text);
  if (head === undefined || !("method" in head)) throw new Error(`not a request: ${JSON.stringify(head)}`);
  return head;
}

describe("readLenientHead", () => {
  test("a lone LF ends the request line and each header line (RFC 9112 §2.2)", () => {
    const head = request("GET /x?q=1 HTTP/1.0\nHost: a\r\nX-Two:  b c \n\n");
    expect(head).toMatchObject({ method: "GET", target: "/x?q=1", major: 1, minor: 0, rawHeaders: ["Host", "a", "X-Two", "b c"] });
    expect(head.body.length).toBe(0);
  });

  test("HTTP/1.1 without Host is refused with 400 (RFC 9112 §3.2); HTTP/1.0 needs none", () => {
    expect(read("GET /nobody HTTP/1.1\n\n")).toMatchObject({ status: 400 });
    expect(request("GET /nobody HTTP/1.0\n\n").target).toBe("/nobody");
  });

  test("raw bytes above 0x7F in the target are percent-encoded; escapes already there stay", () => {
    expect(request("GET /\x80%80 HTTP/1.0\n\n").target).toBe("/%80%80");
    expect(request("GET /\xe2\x82\xac HTTP/1.1\nHost: h\n\n").target).toBe("/%E2%82%AC");
  });

  test("a target without its leading slash gets one; '*' and absolute URLs stay", () => {
    expect(request("GET cgi-bin/x.py HTTP/1.0\n\n").target).toBe("/cgi-bin/x.py");
    expect(request("OPTIONS * HTTP/1.1\nHost: h\n\n").target).toBe("*");
    expect(request("GET http://h/p HTTP/1.1\nHost: h\n\n").target).toBe("http://h/p");
  });

  test("a body that came whole with the head is kept, exactly Content-Length bytes", () => {
    const head = request("POST /p HTTP/1.0\nContent-Length: 5\n\nhello, more");
    expect(head.body.toString()).toBe("hello");
    expect(read("POST /p HTTP/1.0\nContent-Length: 50\n\nhello")).toEqual({ status: 400, requestLine: "POST /p HTTP/1.0" });
  });

  test("smuggling-prone framing is refused: Transfer-Encoding, two or odd Content-Lengths, folded lines", () => {
    for (const text of [
      "POST / HTTP/1.1\nTransfer-Encoding: chunked\n\n",
      "POST / HTTP/1.1\nContent-Length: 1\nContent-Length: 1\n\nx",
      "POST / HTTP/1.1\nContent-Length: +1\n\nx",
      "GET / HTTP/1.1\nX: a\n  folded\n\n",
      "GET / HTTP/1.1\nBad Name: a\n\n",
      "GET / HTTP/1.1\nX: a\x01b\n\n",
    ]) {
      expect(read(text), JSON.stringify(text)).toMatchObject({ status: 400 });
    }
  });

  test("refusals carry Python's status: 501 unknown method, 505 not HTTP/1.x, 400 otherwise, 414 too long", () => {
    expect(read("FOO / HTTP/1.0\n\n")).toEqual({ status: 501, requestLine: "FOO / HTTP/1.0" });
    expect(read("custom / HTTP/1.0\n\n")).toMatchObject({ status: 501 });
    expect(read("CONNECT h:1 HTTP/1.1\n\n")).toMatchObject({ status: 501 });
    expect(read("GET / HTTP/2.0\n\n")).toMatchObject({ status: 505 });
    expect(read("GET / HTTP/1\n\n")).toMatchObject({ status: 400 });
    expect(read("GET /\n\n")).toMatchObject({ status: 400 });
    expect(read("GET /a\x1bb HTTP/1.1\n\n")).toMatchObject({ status: 400 });
    expect(read(`GET /${"x".repeat(MAX_REQUEST_LINE)} HTTP/1.0\n\n`)).toMatchObject({ status: 414 });
    expect(read(`GET /${"x".repeat(MAX_REQUEST_LINE)}`)).toMatchObject({ status: 414 });
  });

  test("a head not all in the packet is undefined: nothing more is read", () => {
    expect(read("GET / HTT")).toBeUndefined();
    expect(read("GET / HTTP/1.0\nHost: a\n")).toBeUndefined();
  });
});

test("more than 100 header fields is a 431, as in Python (#16)", () => {
  const fields = (count: number): string => Array.from({ length: count }, (_, i) => `X-${i}: v\n`).join("");
  expect(readLenientHead(Buffer.from(`GET / HTTP/1.0\n${fields(101)}\n`, "latin1"))).toMatchObject({ status: 431 });
  expect(readLenientHead(Buffer.from(`GET / HTTP/1.0\n${fields(100)}\n`, "latin1"))).toMatchObject({ method: "GET" });
});
