// When gw colours its terminal output: stderr's own TTY test, NO_COLOR and FORCE_COLOR.
import { describe, expect, test } from "vitest";
import type { Io } from "../../../src/cli/io.ts";
import { accessLineDecorator, colorsFor, hasColor } from "../../../src/cli/style.ts";

function io(env: Record<string, string>, isTTY: boolean): Io {
  return { stdout: { write: () => true }, stderr: { write: () => true, isTTY }, env, cwd: "/" };
}

describe("hasColor", () => {
  test("on for a terminal", () => expect(hasColor(io({}, true))).toBe(true));
  test("off for a pipe or a file", () => expect(hasColor(io({}, false))).toBe(false));
  test("NO_COLOR turns it off, even on a terminal", () => expect(hasColor(io({ NO_COLOR: "1" }, true))).toBe(false));
  test("FORCE_COLOR turns it on for a pipe", () => expect(hasColor(io({ FORCE_COLOR: "1" }, false))).toBe(true));
  test("FORCE_COLOR=0 does not force", () => expect(hasColor(io({ FORCE_COLOR: "0" }, false))).toBe(false));
  test("NO_COLOR beats FORCE_COLOR", () => expect(hasColor(io({ NO_COLOR: "1", FORCE_COLOR: "1" }, true))).toBe(false));
  test("TERM=dumb is no colour terminal", () => expect(hasColor(io({ TERM: "dumb" }, true))).toBe(false));
});

describe("access lines", () => {
  const line = '127.0.0.1 - - [21/Nov/2026 13:09:29] "GET / HTTP/1.1" 200 13';

  test("are left alone when colour is off", () => {
    expect(accessLineDecorator(colorsFor(io({}, false)))).toBeUndefined();
  });

  test.each([
    [200, "\x1b[32m"],
    [304, "\x1b[36m"],
    [404, "\x1b[33m"],
    [500, "\x1b[31m"],
  ])("status %i is coloured %j, the text unchanged", (status, code) => {
    const decorate = accessLineDecorator(colorsFor(io({ FORCE_COLOR: "1" }, false)))!;
    const out = decorate(line, status);
    expect(out.startsWith(code)).toBe(true);
    expect(out.replace(/\x1b\[\d+m/g, "")).toBe(line);
  });
});
