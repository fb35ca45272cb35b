import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { SERVER_SOFTWARE, VERSION } from "../../../src/core/version.ts";

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

describe("version", () => {
  test("VERSION equals package.json's version", () => {
    expect(VERSION).toBe(pkg.version);
  });

  test("SERVER_SOFTWARE names gw's version and the running node's", () => {
    expect(SERVER_SOFTWARE).toBe(`gw/${pkg.version} node/${process.versions.node}`);
  });
});
