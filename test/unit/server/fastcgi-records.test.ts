// FastCGI records: headers, padding, name-value pairs and the streaming RecordReader.
import { describe, expect, test } from "vitest";
import {
  encodeBeginRequestBody, encodeEndRequest, encodePairs, encodeRecord, encodeStream, encodeUnknownType, FCGI_BEGIN_REQUEST,
  FCGI_END_REQUEST, FCGI_GET_VALUES, FCGI_KEEP_CONN, FCGI_MAX_CONTENT, FCGI_PARAMS, FCGI_RESPONDER, FCGI_STDIN, FCGI_STDOUT,
  FCGI_UNKNOWN_TYPE, latin1, paddingFor, parseBeginRequestBody, parseEndRequestBody, readPairs, RecordReader,
} from "../../../src/server/fastcgi-records.ts";

interface Seen {
  type: number;
  requestId: number;
  content: string;
}

function collect(): { reader: RecordReader; seen: Seen[] } {
  const seen: Seen[] = [];
  const reader = new RecordReader((type, requestId, content) => {
    seen.push({ type, requestId, content: content.toString("latin1") });
    return undefined;
  });
  return { reader, seen };
}

function pairsOf(data: Uint8Array): [string, string][] | string {
  const pairs: [string, string][] = [];
  const error = readPairs(data, (name, value) => pairs.push([name, value]));
  return error ?? pairs;
}

describe("records", () => {
  test("a record is its 8-byte header, the content and padding to a multiple of 8", () => {
    const record = encodeRecord(FCGI_STDOUT, 0x1234, Buffer.from("hello"));
    expect([...record.subarray(0, 8)]).toEqual([1, FCGI_STDOUT, 0x12, 0x34, 0, 5, 3, 0]);
    expect(record.subarray(8, 13).toString()).toBe("hello");
    expect(record.length).toBe(16);
    expect([0, 1, 7, 8, 9].map(paddingFor)).toEqual([0, 7, 1, 0, 7]);
  });

  test("content over 65535 bytes is refused by encodeRecord and split by encodeStream without copying", () => {
    expect(() => encodeRecord(FCGI_STDOUT, 1, Buffer.alloc(FCGI_MAX_CONTENT + 1))).toThrow(RangeError);
    const data = Buffer.alloc(FCGI_MAX_CONTENT * 2 + 10, 0x61);
    const out: Uint8Array[] = [];
    encodeStream(FCGI_STDOUT, 7, data, out);
    expect(out.map((part) => part.byteLength)).toEqual([8, FCGI_MAX_CONTENT, 8, FCGI_MAX_CONTENT, 8, 10]);
    expect(out[1]!.buffer).toBe(data.buffer);
    const { reader, seen } = collect();
    for (const part of out) reader.push(Buffer.from(part));
    expect(seen.map((record) => record.content.length)).toEqual([FCGI_MAX_CONTENT, FCGI_MAX_CONTENT, 10]);
  });

  test("an empty stream is one empty record: the end of the stream", () => {
    const out: Uint8Array[] = [];
    encodeStream(FCGI_STDIN, 3, Buffer.alloc(0), out);
    expect(out.map((part) => [...part])).toEqual([[1, FCGI_STDIN, 0, 3, 0, 0, 0, 0]]);
  });

  test("BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE bodies round-trip", () => {
    expect(parseBeginRequestBody(encodeBeginRequestBody(FCGI_RESPONDER, FCGI_KEEP_CONN))).toEqual({ role: 1, flags: 1 });
    expect(parseBeginRequestBody(encodeBeginRequestBody(0x0102, 0))).toEqual({ role: 0x0102, flags: 0 });
    expect(parseBeginRequestBody(Buffer.alloc(7))).toMatch(/7 bytes/);
    const end = encodeEndRequest(9, 0xdeadbeef, 3);
    expect([...end.subarray(0, 8)]).toEqual([1, FCGI_END_REQUEST, 0, 9, 0, 8, 0, 0]);
    expect(parseEndRequestBody(end.subarray(8))).toEqual({ appStatus: 0xdeadbeef, protocolStatus: 3 });
    expect([...encodeUnknownType(42)]).toEqual([1, FCGI_UNKNOWN_TYPE, 0, 0, 0, 8, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe("name-value pairs", () => {
  test("lengths below 128 take one byte, longer ones four with the high bit set", () => {
    const long = "v".repeat(200);
    const data = encodePairs([["A", "1"], ["LONG", long], ["", ""]]);
    expect([...data.subarray(0, 4)]).toEqual([1, 1, 0x41, 0x31]);
    expect([...data.subarray(4, 9)]).toEqual([4, 0x80, 0, 0, 200]);
    expect(pairsOf(data)).toEqual([["A", "1"], ["LONG", long], ["", ""]]);
  });

  test("a 4-byte length is read for names too, and for lengths of 127/128 exactly", () => {
    const name = "N".repeat(128);
    expect(pairsOf(encodePairs([[name, "x".repeat(127)]]))).toEqual([[name, "x".repeat(127)]]);
  });

  test("names and values are latin-1: every byte one char, UTF-8 left for the environ to decide", () => {
    const data = encodePairs([["PATH_INFO", Buffer.from("/caf\u00e9", "utf8")], ["X", Buffer.from([0xff, 0x00, 0x80])]]);
    expect(pairsOf(data)).toEqual([["PATH_INFO", "/caf\u00c3\u00a9"], ["X", "\u00ff\u0000\u0080"]]);
  });

  test("truncated streams are reported, not read past", () => {
    const data = encodePairs([["NAME", "value"]]);
    expect(pairsOf(data.subarray(0, data.length - 1))).toMatch(/runs past the end/);
    expect(pairsOf(Buffer.from([4]))).toMatch(/no value length/);
    expect(pairsOf(Buffer.from([0x80, 0]))).toMatch(/name length runs past/);
    expect(pairsOf(Buffer.from([1, 0x80]))).toMatch(/value length runs past/);
    expect(pairsOf(Buffer.from([0xff, 0xff, 0xff, 0xff, 0]))).toMatch(/runs past the end/);
  });

  test("latin1 reads any length, one char a byte", () => {
    const bytes = Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 37) & 0xff));
    for (const end of [0, 1, 64, 65, 200]) expect(latin1(bytes, 0, end)).toBe(bytes.subarray(0, end).toString("latin1"));
  });
});

describe("RecordReader", () => {
  const stream = Buffer.concat([
    encodeRecord(FCGI_BEGIN_REQUEST, 1, encodeBeginRequestBody(FCGI_RESPONDER, FCGI_KEEP_CONN)),
    encodeRecord(FCGI_PARAMS, 1, encodePairs([["REQUEST_METHOD", "POST"]])),
    encodeRecord(FCGI_PARAMS, 1),
    encodeRecord(FCGI_STDIN, 1, Buffer.from("body!")),
    encodeRecord(FCGI_STDIN, 1),
    encodeRecord(FCGI_GET_VALUES, 0, encodePairs([["FCGI_MPXS_CONNS", ""]])),
  ]);

  test("a whole stream in one chunk gives every record, padding skipped", () => {
    const { reader, seen } = collect();
    expect(reader.push(stream)).toBeUndefined();
    expect(seen.map((record) => [record.type, record.requestId, record.content.length])).toEqual([
      [FCGI_BEGIN_REQUEST, 1, 8], [FCGI_PARAMS, 1, 20], [FCGI_PARAMS, 1, 0], [FCGI_STDIN, 1, 5], [FCGI_STDIN, 1, 0], [FCGI_GET_VALUES, 0, 17],
    ]);
    expect(seen[3]!.content).toBe("body!");
    expect(reader.isBetweenRecords).toBe(true);
  });

  test("the same stream cut at every byte boundary gives the same records", () => {
    const { reader: whole, seen: expected } = collect();
    whole.push(stream);
    for (let cut = 1; cut < stream.length; cut++) {
      const { reader, seen } = collect();
      reader.push(stream.subarray(0, cut));
      reader.push(stream.subarray(cut));
      expect(seen, `cut at ${cut}`).toEqual(expected);
    }
    const { reader, seen } = collect();
    for (let i = 0; i < stream.length; i++) reader.push(stream.subarray(i, i + 1));
    expect(seen).toEqual(expected);
  });

  test("content in one chunk is a slice of it; a split record is assembled once", () => {
    const contents: Buffer[] = [];
    const reader = new RecordReader((_type, _id, content) => {
      contents.push(content);
      return undefined;
    });
    const record = encodeRecord(FCGI_STDIN, 1, Buffer.alloc(1000, 0x62));
    reader.push(record);
    expect(contents[0]!.buffer).toBe(record.buffer);
    reader.push(record.subarray(0, 500));
    expect(reader.isBetweenRecords).toBe(false);
    reader.push(record.subarray(500));
    expect(contents[1]!.toString()).toBe("b".repeat(1000));
  });

  test("a record of another version is a malformed stream, and stays one", () => {
    const { reader, seen } = collect();
    const bad = encodeRecord(FCGI_STDIN, 1, Buffer.from("x"));
    bad[0] = 2;
    expect(reader.push(bad)).toMatch(/version 2/);
    expect(reader.push(encodeRecord(FCGI_STDIN, 1))).toMatch(/version 2/);
    expect(seen).toEqual([]);
  });

  test("a message from the handler stops the reader before the next record", () => {
    let calls = 0;
    const reader = new RecordReader(() => (++calls === 2 ? "duplicate request id 1" : undefined));
    expect(reader.push(stream)).toBe("duplicate request id 1");
    expect(calls).toBe(2);
    expect(reader.push(stream)).toBe("duplicate request id 1");
  });
});
