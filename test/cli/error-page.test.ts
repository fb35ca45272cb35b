// The dev error page for runtime errors, from the outside: with reload on, an app that throws
// before its headers gets a 500 naming the user's file and line with its source (HTML for
// browsers, text for curl); --no-reload keeps the plain 500, which names nothing.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ERROR_BODY } from "../../src/gateway/base-handler.ts";
import { startGw, tempApp, type TempApp } from "../helpers/gw.ts";

const APP = `function lookup(name: string): string {
  const table: Record<string, string> = {};
  if (!(name in table)) throw new Error(\`no user named <\${name}>\`);
  return table[name]!;
}

export default async (environ: Record<string, unknown>, start: (s: string, h: [string, string][]) => unknown) => {
  await Promise.resolve();
  const user = lookup(String(environ.PATH_INFO).slice(1));
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [user];
};
`;

let app: TempApp;
beforeAll(() => {
  app = tempApp({ "app.ts": APP });
});
afterAll(() => app.remove());

describe("a runtime error before the headers", () => {
  test("with reload: text for curl names the file:line, shows the line, the request line, and folds gw's frames", async () => {
    const gw = await startGw(["serve", "app.ts", "--port", "0"], { cwd: app.dir });
    try {
      const response = await gw.request("/alice?x=1");
      const text = response.body.toString();
      expect(response.status).toBe(500);
      expect(response.headers["content-type"]).toBe("text/plain; charset=utf-8");
      expect(text).toContain("gw: GET /alice?x=1 HTTP/1.1 failed");
      expect(text).toContain("Error: no user named <alice>");
      // The user's frames first, the failing one with its source marked.
      expect(text.indexOf("at lookup (app.ts:3:")).toBeLessThan(text.indexOf("at default (app.ts:9:"));
      expect(text).toMatch(/^> 3 \|   if \(!\(name in table\)\) throw new Error/m);
      expect(text).toMatch(/^>\s+9 \|   const user = lookup/m);
      expect(text).not.toContain("base-handler");
      // The trace still goes to the terminal as before.
      await gw.waitForStderr(/Error: no user named <alice>/);
    } finally {
      await gw.stop();
    }
  });

  test("with reload: a browser gets an HTML page, escaped, with the source and the folded stack", async () => {
    const gw = await startGw(["serve", "app.ts", "--port", "0"], { cwd: app.dir });
    try {
      const response = await gw.request("/bob", { headers: { Accept: "text/html,application/xhtml+xml" } });
      const html = response.body.toString();
      expect([response.status, response.headers["content-type"]]).toEqual([500, "text/html; charset=utf-8"]);
      expect(html).toContain("<h1>Error: no user named &lt;bob&gt;</h1>");
      expect(html).toContain("<code>GET /bob HTTP/1.1</code>");
      expect(html).toContain("at <code>lookup (app.ts:3:");
      expect(html).toContain("&gt; 3 |   if (!(name in table))");
      expect(html).toMatch(/<details><summary>Full stack \(\d+ frames of gw, Node and libraries\)<\/summary><pre>Error: no user named &lt;bob&gt;/);
    } finally {
      await gw.stop();
    }
  });

  test("--no-reload: the plain 500, no message, no stack", async () => {
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--no-reload"], { cwd: app.dir });
    try {
      for (const accept of ["*/*", "text/html"]) {
        const response = await gw.request("/carol", { headers: { Accept: accept } });
        expect([response.status, response.body.toString()]).toEqual([500, ERROR_BODY]);
      }
      await gw.waitForStderr(/Error: no user named <carol>/);
    } finally {
      await gw.stop();
    }
  });
});
