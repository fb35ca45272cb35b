// gw's command line from the outside: help, version, the ready line, PORT, the access log and the demo.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { freePort, ROOT, runGw, startGw, tempApp, textApp, type TempApp } from "../helpers/gw.ts";

const ACCESS_LINE = /^127\.0\.0\.1 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4} \d\d:\d\d:\d\d\] "GET \/x\?y HTTP\/1\.1" 200 (\d+)$/;
const ESC = "\x1b";

let app: TempApp;
beforeAll(() => {
  app = tempApp({ "app.ts": textApp("hello from app.ts, ünïcode\n") });
});
afterAll(() => app.remove());

describe.concurrent("help and version", () => {
  test("gw --help exits 0 and lists the commands", async () => {
    const run = await runGw(["--help"]);
    expect(run.exitCode).toBe(0);
    const text = run.stdout.toString();
    expect(text).toMatch(/^Usage: gw /);
    for (const command of ["serve", "demo", "cgi"]) expect(text).toMatch(new RegExp(`^\\s+${command}\\b`, "m"));
  });

  test("gw --version prints package.json's version and exits 0", async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    const run = await runGw(["--version"]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout.toString().trim()).toBe(version);
  });

  test("gw serve --help lists every serve option", async () => {
    const run = await runGw(["serve", "--help"]);
    expect(run.exitCode).toBe(0);
    const text = run.stdout.toString();
    for (const flag of ["--port", "--host", "--no-reload", "--watch", "--quiet", "--no-validate"]) {
      expect(text, flag).toMatch(new RegExp(`(^|[\\s,])${flag}\\b`, "m"));
    }
  });
});

describe.concurrent("the ready line and the port", () => {
  test("--port 0 prints the exact ready line with the real port on stdout", async () => {
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--no-reload"], { cwd: app.dir });
    try {
      expect(gw.port).toBeGreaterThan(0);
      expect(gw.stdout()).toBe(`Serving HTTP on 127.0.0.1 port ${gw.port} (http://127.0.0.1:${gw.port}/) ...\n`);
      const res = await gw.request("/");
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe("hello from app.ts, ünïcode\n");
    } finally {
      await gw.stop();
    }
  });

  test("--host 127.0.0.1 listens there and says so", async () => {
    const gw = await startGw(["serve", "app.ts", "--host", "127.0.0.1", "--port", "0", "--no-reload"], { cwd: app.dir });
    try {
      expect(gw.readyLine).toBe(`Serving HTTP on 127.0.0.1 port ${gw.port} (http://127.0.0.1:${gw.port}/) ...`);
      expect((await gw.request("/")).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });

  test("PORT is used when --port is absent", async () => {
    const port = await freePort();
    const gw = await startGw(["serve", "app.ts", "--no-reload"], { cwd: app.dir, env: { PORT: String(port) } });
    try {
      expect(gw.port).toBe(port);
      expect(gw.readyLine).toBe(`Serving HTTP on 127.0.0.1 port ${port} (http://127.0.0.1:${port}/) ...`);
      expect((await gw.request("/")).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });

  test.each(["abc", "99999", "8000x", "-5"])("a PORT of %j is one line, not a silent 8000; --port still wins over it", async (value) => {
    const run = await runGw(["serve", "app.ts", "--no-reload"], { cwd: app.dir, env: { PORT: value } });
    expect([run.exitCode, run.stderr.trim()]).toEqual([1, `gw: $PORT is ${JSON.stringify(value)}, not a port (a whole number from 0 to 65535); fix it, unset it, or give --port`]);
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--no-reload"], { cwd: app.dir, env: { PORT: value } });
    await gw.stop();
  });

  test("--port wins over PORT", async () => {
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--no-reload"], { cwd: app.dir, env: { PORT: "1" } });
    try {
      expect(gw.port).not.toBe(1);
      expect((await gw.request("/")).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });
});

describe.concurrent("the access log", () => {
  for (const mode of ["--no-reload", "--reload"] as const) {
    test(`one exact line per request on stderr, size = body bytes, no colour (${mode})`, async () => {
      const args = ["serve", "app.ts", "--port", "0", ...(mode === "--no-reload" ? ["--no-reload"] : [])];
      const gw = await startGw(args, { cwd: app.dir });
      try {
        const res = await gw.request("/x?y");
        expect(res.status).toBe(200);
        const line = await gw.waitForStderr(/"GET \/x\?y /);
        const match = ACCESS_LINE.exec(line);
        expect(match, line).not.toBeNull();
        expect(Number(match![1])).toBe(res.body.byteLength);
        expect(res.body.byteLength).toBe(Buffer.byteLength("hello from app.ts, ünïcode\n"));
      } finally {
        const exit = await gw.stop();
        expect(exit.stderr).not.toContain(ESC);
        expect(exit.stdout).not.toContain(ESC);
        expect(exit.stderr.split("\n").filter((line) => line.includes('"GET /x?y ')).length).toBe(1);
      }
    });
  }

  test("--quiet writes no access line", async () => {
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--no-reload", "--quiet"], { cwd: app.dir });
    let exit;
    try {
      expect((await gw.request("/x?y")).status).toBe(200);
    } finally {
      // Shutdown flushes the log, so anything logged is in stderr once the process is gone.
      exit = await gw.stop();
    }
    expect(exit.code).toBe(0);
    expect(exit.stderr).not.toMatch(/"GET \/x\?y HTTP\/1\.1"/);
    expect(exit.stdout).toBe(`${gw.readyLine}\n`);
  });

  test("--quiet with reload writes no access line either", async () => {
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet"], { cwd: app.dir });
    let exit;
    try {
      expect((await gw.request("/x?y")).status).toBe(200);
    } finally {
      exit = await gw.stop();
    }
    expect(exit.stderr).not.toMatch(/"GET \/x\?y HTTP\/1\.1"/);
  });
});

describe.concurrent("gw demo", () => {
  test("text: Hello world!, a blank line, then the environ", async () => {
    const gw = await startGw(["demo", "--port", "0"]);
    try {
      const res = await gw.request("/x?y");
      expect(res.status).toBe(200);
      const body = res.body.toString();
      expect(body.startsWith("Hello world!\n\n")).toBe(true);
      expect(body).toMatch(/^REQUEST_METHOD = GET$/m);
      expect(body).toMatch(/^QUERY_STRING = y$/m);
      expect(body).toMatch(/^PATH_INFO = \/x$/m);
      // One line a key, whatever the path holds: a %0A cannot forge one.
      const forged = (await gw.request("/p%0AHTTP_HOST%20=%20evil.example")).body.toString();
      expect(forged).toMatch(/^PATH_INFO = \/p\\x0aHTTP_HOST = evil\.example$/m);
      expect(forged).not.toMatch(/^HTTP_HOST = evil/m);
    } finally {
      await gw.stop();
    }
  });

  test("Accept: text/html gets an HTML page", async () => {
    const gw = await startGw(["demo", "--port", "0"]);
    try {
      const res = await gw.request("/", { headers: { Accept: "text/html,application/xhtml+xml" } });
      expect(res.status).toBe(200);
      expect(res.headers["content-type"]).toMatch(/^text\/html/);
      const body = res.body.toString();
      expect(body).toMatch(/^<!doctype html>/i);
      expect(body).toContain("Hello world!");
      expect(body).toContain("REQUEST_METHOD");
    } finally {
      await gw.stop();
    }
  });
});
