// Every example runs as a user would run it: `gw serve examples/NAME.ts --port 0 --no-reload` with
// the built bin, then real requests over a socket.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { RawConnection, waitUntil } from "./helpers/http-client.ts";
import { ROOT, startGw, type GwServer } from "./helpers/gw.ts";

async function withExample(name: string, use: (server: GwServer) => Promise<void>): Promise<void> {
  const server = await startGw(["serve", join("examples", `${name}.ts`), "--port", "0", "--no-reload"], { cwd: ROOT });
  try {
    await use(server);
  } finally {
    const exit = await server.stop();
    // SIGTERM finishes in-flight requests and exits 0; an app bug would show on stderr.
    expect(exit.code).toBe(0);
    expect(exit.stderr).not.toMatch(/internal error|Error:/);
  }
}

describe("examples", () => {
  test("hello", async () => {
    await withExample("hello", async (server) => {
      const response = await server.request("/some/path");
      expect(response.status).toBe(200);
      expect(response.headers["content-type"]).toBe("text/plain; charset=utf-8");
      expect(response.body.toString()).toBe("Hello, world! You asked for /some/path\n");
      await server.waitForStderr(/"GET \/some\/path HTTP\/1.1" 200 39$/);
    });
  });

  test("routed: classes, captured groups, HEAD, 405, a redirect string, a processor", async () => {
    await withExample("routed", async (server) => {
      const index = await server.request("/");
      expect(index.body.toString()).toContain(`2. Routing like web.py (${server.url}/posts/2)`);
      expect(index.headers["x-handled-in"]).toMatch(/^\d+\.\d{3}ms$/);

      const post = await server.request("/posts/3");
      expect(post.headers["content-type"]).toBe("application/json");
      expect(JSON.parse(post.body.toString())).toEqual({ id: 3, title: "Streaming bodies", month: "2026-11" });

      const missing = await server.request("/posts/99");
      expect([missing.status, missing.body.toString()]).toEqual([404, "no post 99\n"]);

      const archive = await server.request("/archive/2026/10");
      expect(archive.body.toString()).toBe("1 post(s) in 2026-10\n- Hello, gw\n");
      expect((await server.request("/archive/2026")).body.toString()).toMatch(/^3 post\(s\) in 2026\n/);
      expect((await server.request("/archive/26")).status).toBe(404);

      const head = await server.request("/posts/3", { method: "HEAD" });
      expect([head.status, head.headers["content-length"], head.body.length]).toEqual([200, String(post.body.length), 0]);

      const deleted = await server.request("/posts/3", { method: "DELETE" });
      expect([deleted.status, deleted.headers.allow]).toEqual([405, "GET, HEAD"]);

      const latest = await server.request("/latest?from=feed");
      expect([latest.status, latest.headers.location]).toEqual([301, "/posts/3?from=feed"]);

      expect((await server.request("/hello/ada")).body.toString()).toBe("Hello, ada!\n");
    });
  });

  test("streaming: lines arrive one by one, chunked", async () => {
    await withExample("streaming", async (server) => {
      const connection = await RawConnection.open(server.url);
      try {
        connection.send("GET /count/3?delay=300 HTTP/1.1\r\nHost: localhost\r\n\r\n");
        const head = await connection.readHead();
        expect(head.status).toBe(200);
        expect(head.headers.get("transfer-encoding")).toEqual(["chunked"]);
        await waitUntil("the first line", () => connection.pending.toString().includes("1\n"));
        // The last line is 600 ms away: the first one came on its own.
        expect(connection.pending.toString()).not.toContain("done");
        await waitUntil("the end of the body", () => connection.pending.toString().endsWith("0\r\n\r\n"), 5_000);
      } finally {
        connection.close();
      }
      const whole = await server.request("/count/4?delay=1");
      expect(whole.body.toString()).toBe("1\n2\n3\n4\ndone\n");
    });
  });

  test("download: the file through gw.file_wrapper, with its length and a Content-Disposition", async () => {
    await withExample("download", async (server) => {
      const file = readFileSync(join(ROOT, "examples", "files", "report.csv"));
      const response = await server.request("/report.csv");
      expect(response.status).toBe(200);
      expect(response.headers["content-type"]).toBe("text/csv; charset=utf-8");
      expect(response.headers["content-disposition"]).toBe('attachment; filename="report.csv"');
      expect(response.headers["content-length"]).toBe(String(file.length));
      expect(response.body.equals(file)).toBe(true);
    });
  });

  test("form: GET shows the form, POST answers with the name escaped by html, an empty name is a 400", async () => {
    await withExample("form", async (server) => {
      const page = await server.request("/");
      expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(page.body.toString()).toContain('<form method="post"');

      const body = "name=Ada+%3Cb%3E&colour=green";
      const posted = await server.request("/", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": body.length },
        body,
      });
      expect(posted.status).toBe(200);
      expect(posted.body.toString()).toContain("<p>Hello, Ada &lt;b&gt;! You like green.</p>");

      const empty = await server.request("/", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "name=" });
      expect([empty.status, empty.body.toString()]).toEqual([400, "a name is required\n"]);
    });
  });

  test("page: a layout, a loop with its parity and an else, and a slow part streamed after the rest", async () => {
    await withExample("page", async (server) => {
      const connection = await RawConnection.open(server.url);
      try {
        connection.send("GET /?delay=400 HTTP/1.1\r\nHost: localhost\r\n\r\n");
        const head = await connection.readHead();
        expect([head.status, head.headers.get("content-type"), head.headers.get("transfer-encoding")])
          .toEqual([200, ["text/html; charset=utf-8"], ["chunked"]]);
        await waitUntil("the table", () => connection.pending.toString().includes("</table>"));
        // The report is 400 ms away: the layout's top and the table came on their own.
        expect(connection.pending.toString()).not.toContain("Report:");
        await waitUntil("the end of the page", () => connection.pending.toString().endsWith("0\r\n\r\n"), 5_000);
      } finally {
        connection.close();
      }
      const page = (await server.request("/?delay=1")).body.toString();
      expect(page).toMatch(/^<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Service board · status<\/title>/);
      expect(page).toContain('<tr class="odd"><td>1</td><td>api</td><td>up</td><td>p99 &lt; 40 ms</td></tr>');
      expect(page).toContain('<tr class="even"><td>2</td><td>search &lt;beta&gt;</td><td>up</td><td>re-indexing &quot;docs&quot; &amp; &#x27;blog&#x27;</td></tr>');
      expect(page).toContain('<tr class="odd"><td>3</td><td>mail</td><td>down</td>');
      expect(page).toContain('<section id="report"><p>Report: 1 of 3 down.</p></section>');
      expect(page).toMatch(/<footer>served by gw<\/footer>\n<\/body>\n<\/html>\n$/);

      const empty = await server.request("/empty");
      expect(empty.headers["content-length"]).toBe(String(empty.body.length));
      expect(empty.body.toString()).toContain('<h1>No services</h1>\n<table>\n<tr><td colspan="4">no services</td></tr>\n</table>');
    });
  });

  test("mounted: each prefix reaches its app with SCRIPT_NAME shifted, middleware around them all", async () => {
    await withExample("mounted", async (server) => {
      const home = await server.request("/");
      expect(home.body.toString()).toBe("Home. See /blog/ and /api/time\n");
      expect(home.headers["x-served-by"]).toBe("gw mount example");

      const post = await server.request("/blog/posts/12");
      expect(JSON.parse(post.body.toString())).toEqual({ post: 12, SCRIPT_NAME: "/blog", PATH_INFO: "/posts/12" });
      expect(post.headers["x-served-by"]).toBe("gw mount example");

      expect((await server.request("/blog")).body.toString()).toBe(`the blog index, mounted at /blog (${server.url}/blog)\n`);
      expect((await server.request("/blogroll")).body.toString()).toBe('home has no page "blogroll"\n');

      const time = await server.request("/api/time");
      expect(time.headers["content-type"]).toBe("application/json");
      expect(Date.parse((JSON.parse(time.body.toString()) as { now: string }).now)).not.toBeNaN();
      expect((await server.request("/api/nope")).status).toBe(404);
    });
  });

  test("hono: an unchanged Hono app, found by its fetch method", async () => {
    await withExample("hono", async (server) => {
      const hello = await server.request("/");
      expect([hello.status, hello.body.toString()]).toEqual([200, "Hello from Hono, served by gw\n"]);
      expect(hello.headers["content-length"]).toBe("30");

      const user = await server.request("/users/7?verbose=1");
      expect(JSON.parse(user.body.toString())).toEqual({ id: "7", verbose: true });

      const echo = await server.request("/echo", { method: "POST", headers: { "Content-Type": "text/plain" }, body: "round trip" });
      expect([echo.status, echo.headers["x-echo-length"], echo.body.toString()]).toEqual([201, "10", "round trip"]);

      const cookies = await server.request("/cookie");
      expect(cookies.headers["set-cookie"]).toEqual(["flavour=oat; Path=/", "theme=dark; Path=/"]);

      expect((await server.request("/nowhere")).status).toBe(404);
    });
  });
});
