// Node listener apps under `gw serve`, from the outside: Express, Koa, Fastify and a plain
// createServer module, exported or started with listen() at import, each serve and hot-reload
// with no failed request under a bounded client loop.
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ROOT, startGw, tempApp, type GwServer } from "../helpers/gw.ts";

const APPS: Record<string, (version: number) => string> = {
  "express-export.mjs": (v) => `import express from "express";
const app = express();
app.get("/", (req, res) => res.type("text").send("express v${v}"));
export default app;
`,
  "express-listen.mjs": (v) => `import express from "express";
const app = express();
app.get("/", (req, res) => res.type("text").send("express-listen v${v}"));
app.listen(3000, () => console.log("listening on 3000"));
`,
  "koa-listen.mjs": (v) => `import Koa from "koa";
const app = new Koa();
app.use((ctx) => { ctx.body = "koa v${v}"; });
app.listen(3000);
`,
  "fastify-export.mjs": (v) => `import Fastify from "fastify";
const app = Fastify();
app.get("/", async () => "fastify v${v}");
export default app;
`,
  "plain-listen.mjs": (v) => `import { createServer } from "node:http";
createServer((req, res) => { res.setHeader("Content-Type", "text/plain"); res.end("plain v${v}"); }).listen(3000);
`,
};

/** Requests "/" in a loop until stopped (bounded by `limit`), counting answers that are not 200. */
function clientLoop(gw: GwServer, limit: number = 20_000): { stop(): Promise<{ sent: number; failed: string[] }> } {
  let isStopped = false;
  const failed: string[] = [];
  let sent = 0;
  const loop = (async () => {
    while (!isStopped && sent < limit) {
      sent++;
      try {
        const response = await gw.request("/");
        if (response.status !== 200) failed.push(`${response.status} ${response.body.toString().slice(0, 200)}`);
      } catch (error) {
        failed.push(String(error));
      }
    }
  })();
  return {
    async stop() {
      isStopped = true;
      await loop;
      return { sent, failed };
    },
  };
}

describe.concurrent("Node listener apps under gw serve", () => {
  for (const [name, source] of Object.entries(APPS)) {
    const label = name.replace(/\.mjs$/, "");
    test(`${label}: serves, then 10 reloads with 0 failed requests`, async () => {
      const app = tempApp({ [name]: source(1) });
      // The frameworks come from gw's own devDependencies.
      symlinkSync(join(ROOT, "node_modules"), app.path("node_modules"));
      const gw = await startGw(["serve", name, "--port", "0"], { cwd: app.dir });
      try {
        const first = await gw.request("/");
        expect([first.status, first.body.toString()]).toEqual([200, `${label.split("-")[0]}${label.endsWith("listen") && label.startsWith("express") ? "-listen" : ""} v1`]);
        if (name.includes("listen")) {
          await gw.waitForStderr(/gw: the app calls listen\(\); gw serves that server on http:\/\/127\.0\.0\.1:\d+\/ instead/);
        }
        await gw.waitForStderr(/watching \d+ files? for changes/);
        const client = clientLoop(gw);
        for (let v = 2; v <= 11; v++) {
          app.write(name, source(v));
          const deadline = Date.now() + 10_000;
          for (;;) {
            const body = (await gw.request("/")).body.toString();
            if (body.endsWith(` v${v}`)) break;
            if (Date.now() > deadline) throw new Error(`reload ${v} not served; last: ${body}`);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
        const { sent, failed } = await client.stop();
        expect(failed).toEqual([]);
        expect(sent).toBeGreaterThan(10);
        expect(gw.stderr().match(/reloaded in \d+ ms/g)?.length).toBeGreaterThanOrEqual(10);
        expect(gw.stderr().match(/gw serves that server/g)?.length ?? 0).toBeLessThanOrEqual(1);
      } finally {
        await gw.stop();
        app.remove();
      }
    }, 60_000);
  }
});

describe.concurrent("listen() at import under --no-reload", () => {
  const LISTENERS: Record<string, string> = {
    "plain-listen.mjs": `import { createServer } from "node:http";
const server = createServer((req, res) => { res.setHeader("Content-Type", "text/plain"); res.end("plain " + req.url); });
server.listen(3000, () => console.log("listen callback, bound to " + JSON.stringify(server.address())));
server.listen(3001);
`,
    "express-listen.mjs": `import express from "express";
const app = express();
app.get("/:name", (req, res) => res.type("text").send("express " + req.params.name));
const server = app.listen(3000, () => console.log("listen callback, bound to " + JSON.stringify(server.address())));
`,
  };
  for (const [name, source] of Object.entries(LISTENERS)) {
    const label = name.replace(/-listen\.mjs$/, "");
    test(`${label}: served on gw's socket in gw's own process, said once, port 3000 never bound`, async () => {
      const app = tempApp({ [name]: source });
      symlinkSync(join(ROOT, "node_modules"), app.path("node_modules"));
      const gw = await startGw(["serve", name, "--port", "0", "--no-reload"], { cwd: app.dir });
      try {
        const response = await gw.request("/there");
        expect([response.status, response.body.toString()]).toEqual([200, `${label} /there`.replace("express /", "express ")]);
        // The callback and 'listening' still come, but nothing was bound.
        expect(gw.stdout()).toContain("listen callback, bound to null");
        expect(gw.stderr().match(/gw: the app calls listen\(\); gw serves that server on its own address instead/g)).toHaveLength(1);
        expect(gw.stderr()).not.toMatch(/watching|reloaded/);
      } finally {
        await gw.stop();
        app.remove();
      }
    }, 30_000);
  }

  test("under --workers 2 each worker serves the listen() server on the shared socket; port 3000 is never bound", async () => {
    const app = tempApp({ "plain-listen.mjs": LISTENERS["plain-listen.mjs"]! });
    const gw = await startGw(["serve", "plain-listen.mjs", "--port", "0", "--workers", "2"], { cwd: app.dir });
    try {
      const response = await gw.request("/w");
      expect([response.status, response.body.toString()]).toEqual([200, "plain /w"]);
      expect(gw.stderr().match(/gw: the app calls listen\(\)/g)).toHaveLength(2);
      await expect(fetch("http://127.0.0.1:3000/", { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
    } finally {
      await gw.stop();
      app.remove();
    }
  }, 30_000);
});
