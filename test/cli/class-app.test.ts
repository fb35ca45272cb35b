// The seeds' class application (PEP 3333, the wsgiref walk-through) from the outside: gw serve
// with and without the reloader, and gw cgi, each construct it per request.
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ROOT, runGw, startGw } from "../helpers/gw.ts";

const CLASS_APP = join(ROOT, "test", "fixtures", "apps", "class-app.ts");

describe.concurrent("a class application", () => {
  for (const mode of [[], ["--no-reload"]]) {
    test(`gw serve ${mode.join(" ") || "(reload)"} answers "Hello world!" on every request`, async () => {
      const gw = await startGw(["serve", CLASS_APP, "--port", "0", ...mode]);
      try {
        for (let i = 0; i < 3; i++) {
          const response = await gw.request("/");
          expect([response.status, response.body.toString()]).toEqual([200, "Hello world!"]);
          expect(response.headers["content-length"]).toBe("12");
        }
        expect(gw.stderr()).not.toContain("Error");
      } finally {
        await gw.stop();
      }
    });
  }

  test("gw cgi runs it once", async () => {
    const run = await runGw(["cgi", CLASS_APP], { env: { REQUEST_METHOD: "GET", PATH_INFO: "/" }, shouldInheritEnv: false });
    expect(run.stdout.toString("latin1")).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHello world!");
    expect([run.exitCode, run.stderr]).toEqual([0, ""]);
  });
});
