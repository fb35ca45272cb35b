// Templates under `gw serve`, from the outside: a slow part streams after the rest of the page,
// an edit of a template module reloads, and a throw in a template names the template's line.
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { RawConnection, waitUntil } from "../helpers/http-client.ts";
import { ROOT, pollUntil, startGw, tempApp } from "../helpers/gw.ts";

const GW = JSON.stringify(join(ROOT, "dist", "index.js"));

/** An app whose page has a part that takes `?delay=` ms (the template is in ./page.ts). */
const APP = `import { application, ctx, html, type Html, type PageVars } from ${GW};
import { page } from "./page.ts";

const layout = (body: Html, vars: PageVars): Html => html\`<!doctype html><title>\${vars.title}</title><h1>top</h1>\${body}<footer>end</footer>\`;

class Slow {
  GET(): Html {
    ctx.vars.title = "slow";
    const delay = Number(new URLSearchParams(ctx.environ.QUERY_STRING).get("delay") ?? 500);
    return html\`<p>fast</p>\${new Promise<Html>((resolve) => setTimeout(() => resolve(html\`<p>slow</p>\`), delay))}\`;
  }
}

class Page {
  GET(name: string): Html {
    return page(name);
  }
}

export default application([["/slow", Slow], ["/page/(.*)", Page]], { layout });
`;

const PAGE = (version: string): string => `import { html, type Html } from ${GW};

export function page(name: string): Html {
  if (name === "boom") {
    throw new Error("template failed on purpose");
  }
  return html\`<p>${version} \${name}</p>\`;
}
`;

describe.concurrent("templates under gw serve", () => {
  test("a 500 ms part: the first bytes in under 100 ms, the whole page after the part", async () => {
    const dir = tempApp({ "app.ts": APP, "page.ts": PAGE("v1") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--no-reload"], { cwd: dir.dir });
    try {
      // Warm up: the first request loads and compiles the handler.
      expect((await gw.request("/slow?delay=0")).body.toString()).toContain("<p>slow</p>");
      const connection = await RawConnection.open(gw.url);
      try {
        const start = performance.now();
        connection.send("GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n");
        const head = await connection.readHead();
        expect(head.status).toBe(200);
        expect(head.headers.get("content-type")).toEqual(["text/html; charset=utf-8"]);
        expect(head.headers.get("transfer-encoding")).toEqual(["chunked"]);
        await waitUntil("the top of the page", () => connection.pending.toString().includes("<p>fast</p>"));
        const firstBytes = performance.now() - start;
        expect(connection.pending.toString()).toContain("<!doctype html><title>slow</title><h1>top</h1><p>fast</p>");
        expect(connection.pending.toString()).not.toContain("<p>slow</p>");
        await waitUntil("the end of the page", () => connection.pending.toString().endsWith("0\r\n\r\n"), 5_000);
        const whole = performance.now() - start;
        expect(connection.pending.toString()).toMatch(/<p>slow<\/p>(\r\n[0-9a-f]+\r\n)?<footer>end<\/footer>/);
        expect(firstBytes).toBeLessThan(100);
        expect(whole).toBeGreaterThanOrEqual(490);
      } finally {
        connection.close();
      }
    } finally {
      await gw.stop();
      dir.remove();
    }
  });

  test("an edit of a template module reloads; a throw in it names the template's line", async () => {
    const dir = tempApp({ "app.ts": APP, "page.ts": PAGE("v1") });
    const gw = await startGw(["serve", "app.ts", "--port", "0"], { cwd: dir.dir });
    try {
      const first = await gw.request("/page/ada");
      expect([first.status, first.body.toString()]).toEqual([200, "<!doctype html><title></title><h1>top</h1><p>v1 ada</p><footer>end</footer>"]);
      await gw.waitForStderr(/^gw: watching/);

      dir.write("page.ts", PAGE("v2"));
      await pollUntil("the edited template", () => gw.request("/page/ada"), (r) => r.body.toString().includes("<p>v2 ada</p>"));
      await gw.waitForStderr(/reloaded in \d+ ms.*\(page\.ts\)/);

      const failed = await gw.request("/page/boom");
      expect(failed.status).toBe(500);
      // The throw is on line 5 of page.ts: the trace the server logs names it.
      await gw.waitForStderr(/template failed on purpose/);
      await gw.waitForStderr(/page\.ts:5:\d+/);
    } finally {
      const exit = await gw.stop();
      dir.remove();
      expect(exit.code).toBe(0);
    }
  });
});
