// DNS rebinding against `gw serve APP` with reload on (#16 item 9): a Host that is not local, not
// the bound host and not --allowed-host gets a 403 page, even where the app failed to load.
import { describe, expect, test } from "vitest";
import { startGw, tempApp } from "../helpers/gw.ts";

const APP = `export default (_environ: unknown, start: (status: string, headers: [string, string][]) => unknown) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return ["secret page"];
};
`;

describe.concurrent("gw serve --allowed-host", () => {
  test("reload on: a rebinding Host gets 403 with how to allow it; local Hosts get the app", async () => {
    const dir = tempApp({ "app.ts": APP, "broken.ts": "export default 1 +;\n" });
    const gw = await startGw(["serve", "app.ts", "--port", "0"], { cwd: dir.dir });
    try {
      const refused = await gw.request("/", { headers: { Host: "rebind.attacker.example" } });
      expect(refused.status).toBe(403);
      expect(refused.body.toString()).toContain("--allowed-host rebind.attacker.example");
      expect(refused.body.toString()).not.toContain("secret page");
      for (const host of ["localhost", `localhost:${gw.port}`, `127.0.0.1:${gw.port}`, "app.localhost"]) {
        const response = await gw.request("/", { headers: { Host: host } });
        expect([response.status, response.body.toString()], host).toEqual([200, "secret page"]);
      }
    } finally {
      await gw.stop();
    }
    // The load-failure page shows absolute file paths: a rebinding page must not read it either.
    const broken = await startGw(["serve", "broken.ts", "--port", "0"], { cwd: dir.dir });
    try {
      await broken.waitForStderr(/waiting for a change/);
      expect((await broken.request("/", { headers: { Host: "localhost" } })).body.toString()).toContain(dir.dir);
      const refused = await broken.request("/", { headers: { Host: "rebind.attacker.example" } });
      expect(refused.status).toBe(403);
      expect(refused.body.toString()).not.toContain(dir.dir);
    } finally {
      await broken.stop();
      dir.remove();
    }
  });

  test("the static folders in front of the app are guarded too: static/ beside it and --static", async () => {
    const dir = tempApp({ "app.ts": APP, "static/a.txt": "beside secret\n", "data/x.txt": "data secret\n" });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--static", "/data=data"], { cwd: dir.dir });
    try {
      for (const path of ["/static/a.txt", "/data/x.txt", "/data/"]) {
        const refused = await gw.request(path, { headers: { Host: "rebind.attacker.example" } });
        expect([refused.status, refused.body.toString().includes("secret")], path).toEqual([403, false]);
        expect((await gw.request(path, { headers: { Host: "localhost" } })).status, path).toBe(200);
      }
    } finally {
      await gw.stop();
      dir.remove();
    }
  });

  test("--allowed-host names pass (repeatable, .name for subdomains); --no-reload is unaffected", async () => {
    const dir = tempApp({ "app.ts": APP });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--allowed-host", "dev.example", "--allowed-host", ".corp.test"], { cwd: dir.dir });
    const plain = await startGw(["serve", "app.ts", "--port", "0", "--no-reload"], { cwd: dir.dir });
    try {
      for (const [host, status] of [["dev.example", 200], ["a.corp.test", 200], ["corp.test", 200], ["other.example", 403]] as const) {
        expect((await gw.request("/", { headers: { Host: host } })).status, host).toBe(status);
      }
      expect((await plain.request("/", { headers: { Host: "rebind.attacker.example" } })).status).toBe(200);
    } finally {
      await Promise.all([gw.stop(), plain.stop()]);
      dir.remove();
    }
  });
});
