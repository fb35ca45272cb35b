// From request paths to files: decoding exactly once, resolving dot segments, refusing escapes.
import { describe, expect, test } from "vitest";
import { bytesToText, isInside, requestPath, splitPath, toFsPath } from "../../../src/files/url-path.ts";
import { quoteBytes, setupTestingDefaults } from "../../../src/core/util.ts";

describe("splitPath", () => {
  test.each([
    ["/", [], true],
    ["", [], false],
    ["/a/b", ["a", "b"], false],
    ["/a/b/", ["a", "b"], true],
    ["//a///b//", ["a", "b"], true],
    ["/a/./b/.", ["a", "b"], true],
    ["/a/b/../c", ["a", "c"], false],
    ["/a/b/..", ["a"], true],
    ["a/b", ["a", "b"], false],
    ["/%2e%2e", ["%2e%2e"], false],
    ["/...", ["..."], false],
  ])("%j is %j", (path, segments, hasTrailingSlash) => {
    expect(splitPath(path)).toEqual({ segments, hasTrailingSlash });
  });

  test.each(["/..", "/../a", "/a/../..", "..", "/a/b/../../..", "/a\\b", "/a\0b", "/\\..\\x"])("%j is refused", (path) => {
    expect(splitPath(path)).toBeUndefined();
  });
});

describe("requestPath", () => {
  const environ = (extra: Record<string, unknown>) => setupTestingDefaults({ SCRIPT_NAME: "", ...extra });

  test("from REQUEST_URI when it agrees with PATH_INFO: decoded once, bytes kept", () => {
    expect(requestPath(environ({ PATH_INFO: "/a b", REQUEST_URI: "/a%20b?x" }))).toBe("/a b");
    expect(requestPath(environ({ PATH_INFO: "/%2e%2e", REQUEST_URI: "/%252e%252e" }))).toBe("/%2e%2e");
    expect(requestPath(environ({ PATH_INFO: "/caf\u00e9", REQUEST_URI: "/caf%C3%A9" }))).toBe("/caf\u00c3\u00a9");
    expect(requestPath(environ({ PATH_INFO: "/o\u00e9", REQUEST_URI: "/o%E9" }))).toBe("/o\u00e9");
  });

  test("from PATH_INFO as UTF-8 when REQUEST_URI is absent, elsewhere or disagrees", () => {
    expect(requestPath(environ({ PATH_INFO: "/caf\u00e9" }))).toBe("/caf\u00c3\u00a9");
    expect(requestPath(environ({ PATH_INFO: "/rewritten", REQUEST_URI: "/original" }))).toBe("/rewritten");
    expect(requestPath(environ({ SCRIPT_NAME: "/mount", PATH_INFO: "/x", REQUEST_URI: "/mount/x" }))).toBe("/x");
  });
});

describe("helpers", () => {
  test("quoteBytes keeps unreserved characters and slashes", () => {
    expect(quoteBytes("/a b/c?d#e%f&g:h")).toBe("/a%20b/c%3Fd%23e%25f%26g%3Ah");
    expect(quoteBytes("caf\u00c3\u00a9")).toBe("caf%C3%A9");
  });

  test("isInside compares whole path segments", () => {
    const root = Buffer.from("/srv/www");
    expect(isInside(root, Buffer.from("/srv/www"))).toBe(true);
    expect(isInside(root, Buffer.from("/srv/www/a"))).toBe(true);
    expect(isInside(root, Buffer.from("/srv/www2/a"))).toBe(false);
    expect(isInside(root, Buffer.from("/srv"))).toBe(false);
    expect(isInside(Buffer.from("/"), Buffer.from("/etc"))).toBe(true);
  });

  test("toFsPath joins byte segments under the root", () => {
    expect(toFsPath(Buffer.from("/srv"), ["a", "o\u00e9"])).toEqual(Buffer.from([...Buffer.from("/srv/a/o"), 0xe9]));
    expect(toFsPath(Buffer.from("/srv"), [])).toEqual(Buffer.from("/srv"));
  });

  test("bytes as text: U+FFFD for bad UTF-8, the valid characters around it kept", () => {
    expect(bytesToText("caf\u00c3\u00a9")).toBe("café");
    expect(bytesToText("o\u00e9")).toBe("o\ufffd");
    expect(bytesToText("/\u00ff\u00e2\u0082\u00ac")).toBe("/\ufffd€");
  });
});
