// User errors from the outside: exit code 1 and one "gw:" line on stderr, never a stack trace;
// an app that breaks while importing shows its message and file.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runGw, startGw, tempApp, textApp, type GwRun, type TempApp } from "../helpers/gw.ts";

let app: TempApp;
beforeAll(() => {
  app = tempApp({
    "app.ts": textApp("ok"),
    "no-app.ts": "export const foo = 1;\nexport function bar(): void {}\n",
    "not-callable.ts": "export default 42;\n",
    "not-callable-app.ts": "export const app = { hello: 'world' };\n",
    "broken.ts": "export const x: number = ;\nexport default () => [];\n",
  });
});
afterAll(() => app.remove());

/** Checks the one-line user error shape and returns that line. */
function oneUserErrorLine(run: GwRun): string {
  expect(run.hasTimedOut, `gw was still running after the timeout; stderr:\n${run.stderr}`).toBe(false);
  expect(run.exitCode, run.stderr).toBe(1);
  expect(run.stderr).not.toContain("    at ");
  expect(run.stderr).not.toContain("internal error");
  const lines = run.stderr.split("\n").filter((line) => line !== "");
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^gw: /);
  return lines[0]!;
}

describe.concurrent("user errors: exit 1, one gw: line, no stack", () => {
  test("a missing file, with reload on too: a typo in the command is no broken app to wait on", async () => {
    const line = oneUserErrorLine(await runGw(["serve", "missing.ts", "--port", "0"], { cwd: app.dir, timeout: 5_000 }));
    expect(line).toContain("missing.ts");
  });

  test("a missing file", async () => {
    const line = oneUserErrorLine(await runGw(["serve", "missing.ts", "--port", "0", "--no-reload"], { cwd: app.dir }));
    expect(line).toContain("missing.ts");
  });

  test("no default export and no app export: the message lists the exports", async () => {
    const line = oneUserErrorLine(await runGw(["serve", "no-app.ts", "--port", "0", "--no-reload"], { cwd: app.dir }));
    expect(line).toContain("no-app.ts");
    expect(line).toContain("foo");
    expect(line).toContain("bar");
  });

  test("a default export that is not callable", async () => {
    const line = oneUserErrorLine(await runGw(["serve", "not-callable.ts", "--port", "0", "--no-reload"], { cwd: app.dir }));
    expect(line).toContain("not-callable.ts");
    expect(line).toContain("default");
    expect(line).toContain("number");
  });

  test("an app export that is not callable", async () => {
    const line = oneUserErrorLine(await runGw(["serve", "not-callable-app.ts", "--port", "0", "--no-reload"], { cwd: app.dir }));
    expect(line).toContain('"app"');
    expect(line).toContain("object");
  });

  test("path:name with a name the module does not export", async () => {
    const line = oneUserErrorLine(await runGw(["serve", "app.ts:nope", "--port", "0", "--no-reload"], { cwd: app.dir }));
    expect(line).toContain("app.ts");
    expect(line).toContain("nope");
    expect(line).toContain("default");
  });

  test("gw cgi with a missing file", async () => {
    const line = oneUserErrorLine(await runGw(["cgi", "missing.ts"], { cwd: app.dir, env: { REQUEST_METHOD: "GET" } }));
    expect(line).toContain("missing.ts");
  });

  for (const port of ["70000", "abc", "-1", "80.5"]) {
    test(`--port ${port} is commander's usage error, exit 1`, async () => {
      const run = await runGw(["serve", "app.ts", "--port", port, "--no-reload"], { cwd: app.dir });
      expect(run.exitCode).toBe(1);
      expect(run.stderr).toContain(`'${port}' is invalid`);
      expect(run.stderr).not.toContain("    at ");
      expect(run.stdout.toString()).not.toContain("Serving HTTP");
    });
  }

  for (const mode of [["--no-reload"], []]) {
    const label = mode.length === 0 ? "reload" : "--no-reload";
    test(`a port in use names the port and suggests --port 0 (${label})`, async () => {
      const first = await startGw(["serve", "app.ts", "--port", "0", "--no-reload"], { cwd: app.dir });
      try {
        const run = await runGw(["serve", "app.ts", "--port", String(first.port), ...mode], { cwd: app.dir, timeout: 5_000 });
        const line = oneUserErrorLine(run);
        expect(line).toContain(String(first.port));
        expect(line).toContain("--port 0");
        expect(run.stdout.toString()).toBe("");
        // The first server is untouched.
        expect((await first.request("/")).status).toBe(200);
      } finally {
        await first.stop();
      }
    });
  }

  test("a syntax error at import with --no-reload: exit 1, the message and the file", async () => {
    const run = await runGw(["serve", "broken.ts", "--port", "0", "--no-reload"], { cwd: app.dir });
    expect(run.exitCode).toBe(1);
    const first = run.stderr.split("\n")[0]!;
    expect(first).toMatch(/^gw: /);
    expect(first).toContain("broken.ts");
    expect(first).toContain("Expression expected");
    expect(run.stderr).not.toContain("internal error");
    expect(run.stdout.toString()).not.toContain("Serving HTTP");
  });

  test("a throw at import with --no-reload: exit 1, the message and the file:line", async () => {
    const dir = tempApp({ "app.ts": "const x: number = 1;\nthrow new Error(`import-time boom ${x}`);\nexport default () => [];\n" });
    try {
      const run = await runGw(["serve", "app.ts", "--port", "0", "--no-reload"], { cwd: dir.dir });
      expect(run.exitCode).toBe(1);
      expect(run.stderr.split("\n")[0]).toMatch(/^gw: .*app\.ts.*import-time boom 1/);
      expect(run.stderr).toContain(`${dir.path("app.ts")}:2:`);
      expect(run.stderr).not.toContain("internal error");
    } finally {
      dir.remove();
    }
  });
});
