import { afterEach, describe, expect, test, vi } from "vitest";
import { AccessLog, escapeControl, formatAccessLine, logDate, readyLine } from "../../../src/core/log.ts";

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("logDate", () => {
  // Dates are built from local fields, as logDate reads local fields, so the test holds in any time zone.
  test("formats local time as http.server does: day/Mon/year hh:mm:ss", () => {
    expect(logDate(new Date(2026, 10, 21, 13, 9, 29))).toBe("21/Nov/2026 13:09:29");
  });

  test("pads single digits to two and uses English month abbreviations", () => {
    expect(logDate(new Date(2026, 0, 5, 3, 4, 5))).toBe("05/Jan/2026 03:04:05");
    expect(logDate(new Date(1999, 11, 31, 23, 59, 59))).toBe("31/Dec/1999 23:59:59");
  });
});

describe("formatAccessLine", () => {
  test("writes the common log format of http.server, newline included", () => {
    expect(formatAccessLine("127.0.0.1", "GET /x?y HTTP/1.1", 200, 3338, "21/Nov/2026 13:09:29"))
      .toBe('127.0.0.1 - - [21/Nov/2026 13:09:29] "GET /x?y HTTP/1.1" 200 3338\n');
  });

  test("takes status and size as strings too, e.g. '-' for an unknown size", () => {
    expect(formatAccessLine("::1", "HEAD / HTTP/1.0", "404", "-", "01/Jan/2026 00:00:00"))
      .toBe('::1 - - [01/Jan/2026 00:00:00] "HEAD / HTTP/1.0" 404 -\n');
  });

  test("escapes control characters in the request line as \\xNN, so a request cannot forge log lines", () => {
    const line = formatAccessLine("127.0.0.1", "GET /\x1b[31mred\nfake 200 HTTP/1.1", 400, 0, "21/Nov/2026 13:09:29");
    expect(line).toBe('127.0.0.1 - - [21/Nov/2026 13:09:29] "GET /\\x1b[31mred\\x0afake 200 HTTP/1.1" 400 0\n');
    expect(line.split("\n")).toHaveLength(2);
  });

  test("uses the current time when no date is given", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(new Date(2026, 10, 21, 13, 9, 29));
      expect(formatAccessLine("1.2.3.4", "GET / HTTP/1.1", 200, 1)).toContain("[21/Nov/2026 13:09:29]");
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("escapeControl", () => {
  test.each([
    ["\x00", "\\x00"],
    ["\t", "\\x09"],
    ["\r", "\\x0d"],
    ["\x7f", "\\x7f"],
    ["\x85", "\\x85"],
    ["\x9f", "\\x9f"],
  ])("escapes C0, DEL and C1 controls: %j becomes %s, in lower-case hex like Python", (char, escaped) => {
    expect(escapeControl(`a${char}b`)).toBe(`a${escaped}b`);
  });

  test("a backslash becomes \\\\, so a literal \\x1b cannot pass for an escaped ESC (as in Python 3.11.7)", () => {
    expect(escapeControl("/lit\\x1b")).toBe("/lit\\\\x1b");
    expect(escapeControl("/lit\x1b")).toBe("/lit\\x1b");
  });

  test("leaves printable text alone, latin-1 and beyond included", () => {
    const text = "GET /café/\u00a0/€?q=~ HTTP/1.1";
    expect(escapeControl(text)).toBe(text);
  });
});

describe("readyLine", () => {
  test("for an IPv4 host", () => {
    expect(readyLine("127.0.0.1", 8000)).toBe("Serving HTTP on 127.0.0.1 port 8000 (http://127.0.0.1:8000/) ...");
  });

  test("an IPv6 host is bracketed in the URL only", () => {
    expect(readyLine("::1", 8080)).toBe("Serving HTTP on ::1 port 8080 (http://[::1]:8080/) ...");
    expect(readyLine("::", 0)).toBe("Serving HTTP on :: port 0 (http://[::]:0/) ...");
  });

  test("a host name is used as it is", () => {
    expect(readyLine("localhost", 3000)).toBe("Serving HTTP on localhost port 3000 (http://localhost:3000/) ...");
  });
});

describe("AccessLog", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function sink(): { writes: string[]; write: (text: string) => number } {
    const writes: string[] = [];
    return { writes, write: (text: string) => writes.push(text) };
  }

  test("joins the lines of one event-loop turn into one write, made on the next turn", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date(2026, 10, 21, 13, 9, 29));
    const out = sink();
    const log = new AccessLog(out);
    log.log("127.0.0.1", "GET /a HTTP/1.1", 200, 5);
    log.log("127.0.0.2", "GET /b HTTP/1.1", 404, 0);
    expect(out.writes).toEqual([]);
    await nextTurn();
    expect(out.writes).toEqual([
      '127.0.0.1 - - [21/Nov/2026 13:09:29] "GET /a HTTP/1.1" 200 5\n' +
        '127.0.0.2 - - [21/Nov/2026 13:09:29] "GET /b HTTP/1.1" 404 0\n',
    ]);
  });

  test("lines logged on a later turn go out in a later write", async () => {
    const out = sink();
    const log = new AccessLog(out);
    log.log("127.0.0.1", "GET /1 HTTP/1.1", 200, 1);
    await nextTurn();
    log.log("127.0.0.1", "GET /2 HTTP/1.1", 200, 2);
    await nextTurn();
    expect(out.writes).toHaveLength(2);
    expect(out.writes[0]).toContain('"GET /1 HTTP/1.1" 200 1\n');
    expect(out.writes[1]).toContain('"GET /2 HTTP/1.1" 200 2\n');
  });

  test("flush() writes what is pending at once, and the scheduled write then adds nothing", async () => {
    const out = sink();
    const log = new AccessLog(out);
    log.log("127.0.0.1", "GET / HTTP/1.1", 200, 13);
    log.flush();
    expect(out.writes).toHaveLength(1);
    expect(out.writes[0]).toMatch(/^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4} \d{2}:\d{2}:\d{2}\] "GET \/ HTTP\/1\.1" 200 13\n$/);
    await nextTurn();
    expect(out.writes).toHaveLength(1);
  });

  test("flush() with nothing pending writes nothing", () => {
    const out = sink();
    new AccessLog(out).flush();
    expect(out.writes).toEqual([]);
  });

  test("the cached date string moves on when the clock passes into the next second", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date(2026, 10, 21, 13, 9, 29, 900));
    const out = sink();
    const log = new AccessLog(out);
    log.log("127.0.0.1", "GET /a HTTP/1.1", 200, 1);
    vi.setSystemTime(new Date(2026, 10, 21, 13, 9, 30, 100));
    log.log("127.0.0.1", "GET /b HTTP/1.1", 200, 1);
    log.flush();
    const [first, second] = out.writes[0]!.trimEnd().split("\n");
    expect(first).toContain("[21/Nov/2026 13:09:29]");
    expect(second).toContain("[21/Nov/2026 13:09:30]");
  });

  test("escapes control characters in logged request lines", () => {
    const out = sink();
    const log = new AccessLog(out);
    log.log("127.0.0.1", "GET /\r\nInjected: 1 HTTP/1.1", 400, 0);
    log.flush();
    expect(out.writes[0]).toContain('"GET /\\x0d\\x0aInjected: 1 HTTP/1.1"');
    expect(out.writes[0]!.split("\n")).toHaveLength(2);
  });
});
