// guessType: extension lookups as http.server does them, with a charset on text.
import { describe, expect, test } from "vitest";
import { DEFAULT_TYPE, guessType } from "../../../src/files/mime.ts";

describe("guessType", () => {
  test.each([
    ["index.html", "text/html; charset=utf-8"],
    ["/a/b/INDEX.HTM", "text/html; charset=utf-8"],
    ["app.mjs", "text/javascript; charset=utf-8"],
    ["logo.svg", "image/svg+xml; charset=utf-8"],
    ["photo.JPG", "image/jpeg"],
    ["font.woff2", "font/woff2"],
    ["archive.tar.gz", "application/gzip"],
    ["old.Z", "application/octet-stream"],
    ["module.wasm", "application/wasm"],
  ])("%s is %s", (name, type) => {
    expect(guessType(name)).toBe(type);
  });

  test("no extension, an unknown one, or a dotfile: application/octet-stream", () => {
    for (const name of ["test", "/dir.d/file", "data.unknownext", ".bashrc", "/x/.profile", "trailing."]) {
      expect([name, guessType(name)]).toEqual([name, DEFAULT_TYPE]);
    }
  });
});
