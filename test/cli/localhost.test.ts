// `--host localhost` listens on 127.0.0.1 and ::1 (one ready line each, the IPv4 one first), and
// `--host ::` is dual-stack: both answer on both loopback addresses.
import { describe, expect, test } from "vitest";
import { READY_LINE, startGw, tempApp, textApp } from "../helpers/gw.ts";
import { sendRequest } from "../helpers/http-client.ts";

describe.concurrent("loopback addresses", () => {
  for (const mode of [[], ["--no-reload"], ["--workers", "2"]]) {
    test(`--host localhost answers on 127.0.0.1 and ::1 ${mode.join(" ") || "(reload)"}`, async () => {
      const app = tempApp({ "app.ts": textApp("both") });
      const gw = await startGw(["serve", "app.ts", "--host", "localhost", "--port", "0", ...mode], { cwd: app.dir });
      try {
        const lines = gw.stdout().trim().split("\n");
        expect(lines).toEqual([
          `Serving HTTP on 127.0.0.1 port ${gw.port} (http://127.0.0.1:${gw.port}/) ...`,
          `Serving HTTP on ::1 port ${gw.port} (http://[::1]:${gw.port}/) ...`,
        ]);
        expect(lines.every((line) => READY_LINE.test(line))).toBe(true);
        for (const host of ["127.0.0.1", "[::1]"]) {
          const response = await sendRequest(`http://${host}:${gw.port}/`, "/");
          expect([host, response.status, response.body.toString()]).toEqual([host, 200, "both"]);
        }
      } finally {
        await gw.stop();
        app.remove();
      }
    });
  }

  test("--host :: is dual-stack", async () => {
    const app = tempApp({ "app.ts": textApp("dual") });
    const gw = await startGw(["serve", "app.ts", "--host", "::", "--port", "0", "--no-reload"], { cwd: app.dir });
    try {
      expect(gw.readyLine).toBe(`Serving HTTP on :: port ${gw.port} (http://[::]:${gw.port}/) ...`);
      for (const host of ["127.0.0.1", "[::1]"]) {
        const response = await sendRequest(`http://${host}:${gw.port}/`, "/");
        expect([host, response.body.toString()]).toEqual([host, "dual"]);
      }
    } finally {
      await gw.stop();
      app.remove();
    }
  });
});
