// `gw serve APP` with a static/ folder beside the app (web.py's runsimple), --static URL=DIR and
// --no-static, with and without reload: the file server answers under the prefix, the app never sees it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { rawExchange } from "../helpers/http-client.ts";
import { startGw } from "../helpers/gw.ts";

let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "gw-static-app-"));
  mkdirSync(join(root, "static", "css"), { recursive: true });
  mkdirSync(join(root, "public"));
  writeFileSync(join(root, "static", "css", "site.css"), "body { color: red }\n");
  writeFileSync(join(root, "public", "robots.txt"), "User-agent: *\n");
  writeFileSync(join(root, "secret.txt"), "not for the web\n");
  writeFileSync(join(root, "app.ts"), `export default (environ: Record<string, unknown>, start: (s: string, h: [string, string][]) => unknown) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return ["app saw " + String(environ.PATH_INFO)];
};
`);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.each([["--no-reload"], ["--reload"]])("gw serve APP %s", (mode) => {
  test("static/ beside the app is served under /static/ with ETag, 304 and Range; the rest goes to the app", async () => {
    const gw = await startGw(["serve", join(root, "app.ts"), "--port", "0", ...(mode === "--no-reload" ? ["--no-reload"] : []), "--static", "/assets=public"], { cwd: root });
    try {
      expect(gw.stderr()).toContain(`gw: serving ${join(root, "static")} under /static/ (--no-static turns this off)`);
      const css = await gw.request("/static/css/site.css");
      expect([css.status, css.headers["content-type"], css.body.toString()]).toEqual([200, "text/css; charset=utf-8", "body { color: red }\n"]);
      const etag = css.headers.etag as string;
      expect((await gw.request("/static/css/site.css", { headers: { "If-None-Match": etag } })).status).toBe(304);
      const range = await gw.request("/static/css/site.css", { headers: { Range: "bytes=0-3" } });
      expect([range.status, range.body.toString()]).toEqual([206, "body"]);
      expect((await gw.request("/assets/robots.txt")).body.toString()).toBe("User-agent: *\n");
      // Missing under the prefix: the file server's 404, not the app.
      const missing = await gw.request("/static/nope.css");
      expect([missing.status, missing.body.toString()]).toEqual([404, expect.not.stringContaining("app saw")]);
      for (const target of ["/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/..%2fsecret.txt", "/static/../app.ts", "/assets/%2e%2e/%2e%2e/etc/passwd"]) {
        const raw = (await rawExchange(gw.url, `GET ${target} HTTP/1.0\r\n\r\n`)).toString("latin1");
        expect([target, raw.slice(9, 12), raw.includes("not for the web"), raw.includes("app saw")]).toEqual([target, "404", false, false]);
      }
      expect((await gw.request("/staticky")).body.toString()).toBe("app saw /staticky");
      expect((await gw.request("/hello")).body.toString()).toBe("app saw /hello");
    } finally {
      await gw.stop();
    }
  });
});

test("--no-static hands /static/ to the app", async () => {
  const gw = await startGw(["serve", join(root, "app.ts"), "--port", "0", "--no-reload", "--no-static"]);
  try {
    expect(gw.stderr()).not.toContain("under /static/");
    expect((await gw.request("/static/css/site.css")).body.toString()).toBe("app saw /static/css/site.css");
  } finally {
    await gw.stop();
  }
});
