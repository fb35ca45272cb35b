// SCGI request heads: the netstring, CONTENT_LENGTH first, SCGI=1, strict refusals.
import { describe, expect, test } from "vitest";
import { encodeScgiHead, ScgiHeadReader, type ScgiHead } from "../../../src/server/scgi-netstring.ts";

function read(...chunks: (string | Buffer)[]): ScgiHead | string | undefined {
  const reader = new ScgiHeadReader(1024);
  let result: ScgiHead | string | undefined;
  for (const chunk of chunks) result = reader.push(typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk);
  return result;
}

function head(...chunks: (string | Buffer)[]): ScgiHead {
  const result = read(...chunks);
  if (result === undefined || typeof result === "string") throw new Error(`no head: ${String(result)}`);
  return result;
}

describe("ScgiHeadReader", () => {
  test("the protocol's own example: 70 bytes of headers, then the body", () => {
    const wire = "70:CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00,What is the answer to life?";
    const result = head(wire);
    expect(result.pairs).toEqual(["CONTENT_LENGTH", "27", "SCGI", "1", "REQUEST_METHOD", "POST", "REQUEST_URI", "/deepthought"]);
    expect(result.contentLength).toBe(27);
    expect(result.rest.toString()).toBe("What is the answer to life?");
  });

  test("a head arriving a byte at a time is read once it is whole", () => {
    const wire = encodeScgiHead(3, [["PATH_INFO", "/x"], ["EMPTY", ""]]);
    const reader = new ScgiHeadReader();
    for (let i = 0; i < wire.length - 1; i++) expect(reader.push(wire.subarray(i, i + 1))).toBeUndefined();
    const result = reader.push(Buffer.concat([wire.subarray(wire.length - 1), Buffer.from("abc")]));
    expect(result).toMatchObject({ pairs: ["CONTENT_LENGTH", "3", "SCGI", "1", "PATH_INFO", "/x", "EMPTY", ""], contentLength: 3 });
    expect((result as ScgiHead).rest.toString()).toBe("abc");
  });

  test("header bytes are latin-1, one char a byte", () => {
    const wire = Buffer.concat([Buffer.from("30:CONTENT_LENGTH\x000\x00SCGI\x001\x00X\x00", "latin1"), Buffer.from([0xc3, 0xa9, 0xff, 0]), Buffer.from(",")]);
    expect(head(wire).pairs.slice(4)).toEqual(["X", "\u00c3\u00a9\u00ff"]);
  });

  // A netstring around `content`, its length counted here rather than by hand.
  const net = (content: string): string => `${Buffer.byteLength(content, "latin1")}:${content},`;

  test.each([
    ["no length", ":CONTENT_LENGTH\x000\x00,", /does not start with a length/],
    ["a leading zero", "025:CONTENT_LENGTH\x000\x00SCGI\x001\x00,", /starts with 0/],
    ["a letter in the length", "2x:", /where a length digit/],
    ["too many digits", "1234567890123456", /too many digits/],
    ["a head over the limit", "2000:", /more than the limit of 1024/],
    ["a head over the limit, before its colon", "20000", /more than the limit of 1024/],
    ["no comma", "24:CONTENT_LENGTH\x000\x00SCGI\x001\x00;", /does not end in ','/],
    ["another header first", net("SCGI\x001\x00CONTENT_LENGTH\x000\x00"), /starts with "SCGI", not CONTENT_LENGTH/],
    ["a length that is no number", net("CONTENT_LENGTH\x00-1\x00SCGI\x001\x00"), /not a number of bytes/],
    ["an empty length", net("CONTENT_LENGTH\x00\x00SCGI\x001\x00"), /not a number of bytes/],
    ["no SCGI header", net("CONTENT_LENGTH\x000\x00"), /no SCGI header/],
    ["SCGI other than 1", net("CONTENT_LENGTH\x000\x00SCGI\x002\x00"), /not "1"/],
    ["a second CONTENT_LENGTH", net("CONTENT_LENGTH\x000\x00SCGI\x001\x00CONTENT_LENGTH\x009\x00"), /second CONTENT_LENGTH/],
    ["an empty name", net("CONTENT_LENGTH\x000\x00SCGI\x001\x00\x00v\x00"), /empty header name/],
    ["a name without value", net("CONTENT_LENGTH\x000\x00SCGI\x001\x00XY\x00"), /name and no value/],
    ["no final NUL", net("CONTENT_LENGTH\x000\x00SCGI\x001\x00X"), /does not end in NUL/],
  ])("%s is refused", (_name, wire, message) => {
    expect(read(wire)).toMatch(message);
  });

  test("an error stays: later pushes return it again", () => {
    const reader = new ScgiHeadReader();
    expect(reader.push(Buffer.from("x"))).toMatch(/length digit/);
    expect(reader.push(encodeScgiHead(0))).toMatch(/length digit/);
  });
});
