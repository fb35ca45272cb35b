// `gw cgi APP` from the outside: one request from the process env and stdin, the response on stdout.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ROOT, runGw, tempApp, type TempApp } from "../helpers/gw.ts";

let app: TempApp;
beforeAll(() => {
  app = tempApp({
    "hello.ts": `export default (environ: Record<string, unknown>, start: (status: string, headers: [string, string][]) => unknown) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return ["Hello, world!"];
};
`,
    "echo.ts": `type Input = { read(size?: number): Promise<Uint8Array> };
export default async (environ: Record<string, unknown>, start: (status: string, headers: [string, string][]) => unknown) => {
  const body = await (environ["gw.input"] as Input).read();
  start("200 OK", [["Content-Type", "application/octet-stream"], ["X-Method", String(environ.REQUEST_METHOD)]]);
  return [body];
};
`,
    "big.ts": `import { appendFileSync } from "node:fs";
export default (environ: Record<string, unknown>, start: (status: string, headers: [string, string][]) => unknown) => {
  start("200 OK", [["Content-Type", "application/octet-stream"]]);
  const chunks = Array.from({ length: 800 }, () => new Uint8Array(65536).fill(120));
  return Object.assign(chunks, { close: () => appendFileSync("closed.txt", "closed\\n") });
};
`,
    "bytes.ts": `export default (environ: Record<string, string>, start: (status: string, headers: [string, string][]) => unknown) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [Buffer.from(environ.PATH_INFO, "latin1").toString("hex") + " " + environ.HTTP_X_NAME];
};
`,
    "listener.mjs": `export default (req, res) => { res.setHeader("Content-Type", "text/plain"); res.end("node " + req.method + " " + req.url); };
`,
    "fails.ts": `export default (environ: Record<string, unknown>, start: unknown) => {
  throw new Error("cgi app failed on purpose");
};
`,
  });
});
afterAll(() => app.remove());

/** A minimal CGI environment: PATH plus the given variables, nothing inherited. */
function cgiEnv(vars: Record<string, string>): { env: Record<string, string>; shouldInheritEnv: false; cwd: string } {
  return { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...vars }, shouldInheritEnv: false, cwd: app.dir };
}

describe.concurrent("gw cgi", () => {
  test("the hello app: byte-exact response on stdout, exit 0", async () => {
    const run = await runGw(["cgi", "hello.ts"], cgiEnv({ REQUEST_METHOD: "GET", PATH_INFO: "/" }));
    expect(run.stdout.toString("latin1")).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!");
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toBe("");
  });

  test("a POST echo app gets the stdin body, byte-exact", async () => {
    const body = Buffer.from([0x61, 0x00, 0xff, 0x0d, 0x0a, 0xe2, 0x82, 0xac, 0x7a, 0x80]);
    const run = await runGw(["cgi", "echo.ts"], {
      ...cgiEnv({ REQUEST_METHOD: "POST", PATH_INFO: "/echo", CONTENT_LENGTH: String(body.byteLength), CONTENT_TYPE: "application/octet-stream" }),
      input: body,
    });
    expect(run.exitCode).toBe(0);
    const head = Buffer.from(`Status: 200 OK\r\nContent-Type: application/octet-stream\r\nX-Method: POST\r\nContent-Length: ${body.byteLength}\r\n\r\n`, "latin1");
    expect(run.stdout.equals(Buffer.concat([head, body])), JSON.stringify(run.stdout.toString("latin1"))).toBe(true);
  });

  test("the echo app reads only CONTENT_LENGTH bytes of stdin", async () => {
    const run = await runGw(["cgi", "echo.ts"], {
      ...cgiEnv({ REQUEST_METHOD: "POST", PATH_INFO: "/", CONTENT_LENGTH: "5" }),
      input: "12345 and more that is not the body",
    });
    expect(run.exitCode).toBe(0);
    expect(run.stdout.toString("latin1")).toMatch(/\r\nContent-Length: 5\r\n\r\n12345$/);
  });

  test("a reader that goes away (| head -c 100): exit 0, no EPIPE stack, and the body's close() runs once", () => {
    const gw = `'${process.execPath}' '${join(ROOT, "bin", "gw.js")}' cgi big.ts`;
    const run = spawnSync("bash", ["-c", `${gw} | head -c 100 > /dev/null; echo "exit \${PIPESTATUS[0]}"`], {
      cwd: app.dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", REQUEST_METHOD: "GET", PATH_INFO: "/" }, encoding: "utf8", timeout: 30_000,
    });
    expect(run.stdout.trim()).toBe("exit 0");
    expect(run.stderr).not.toContain("EPIPE");
    expect(existsSync(app.path("closed.txt")) && readFileSync(app.path("closed.txt"), "utf8")).toBe("closed\n");
  });

  test("variables keep their bytes: a PATH_INFO that is not UTF-8 is one character per byte, as the HTTP server gives it", () => {
    // Apache passes /caf%E9 decoded, as the byte 0xE9; node's process.env would have made it U+FFFD.
    const gw = `'${process.execPath}' '${join(ROOT, "bin", "gw.js")}' cgi bytes.ts`;
    const run = spawnSync("bash", ["-c", `env -i PATH="$PATH" REQUEST_METHOD=GET PATH_INFO=$'/\\xe9\\xff' HTTP_X_NAME=$'caf\\xc3\\xa9' ${gw}`], {
      cwd: app.dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, encoding: "utf8", timeout: 30_000,
    });
    expect(run.stdout).toMatch(/\r\n\r\n2fe9ff café$/);
  });

  test("--node takes a two-parameter export as a Node listener (as gw serve --node does)", async () => {
    const run = await runGw(["cgi", "listener.mjs", "--node"], cgiEnv({ REQUEST_METHOD: "GET", PATH_INFO: "/x", QUERY_STRING: "q=1" }));
    expect([run.exitCode, run.stdout.toString("latin1")]).toEqual([0, expect.stringMatching(/^Status: 200 OK\r\n[^]*\r\n\r\nnode GET \/x\?q=1$/)]);
    const both = await runGw(["cgi", "listener.mjs", "--node", "--gw"], cgiEnv({ REQUEST_METHOD: "GET" }));
    expect([both.exitCode, both.stderr.trim()]).toEqual([1, "gw: choose one of --gw, --fetch and --node, not --gw and --node"]);
  });

  test("a failing app: a Status: 500 response on stdout, the trace on stderr", async () => {
    const run = await runGw(["cgi", "fails.ts"], cgiEnv({ REQUEST_METHOD: "GET", PATH_INFO: "/" }));
    const out = run.stdout.toString("latin1");
    expect(out).toMatch(/^Status: 500 /);
    expect(out).toContain("\r\n\r\n");
    const [head, ...rest] = out.split("\r\n\r\n");
    const length = /\r\nContent-Length: (\d+)(\r\n|$)/.exec(head!);
    expect(length).not.toBeNull();
    expect(Buffer.byteLength(rest.join("\r\n\r\n"), "latin1")).toBe(Number(length![1]));
    expect(out).not.toContain("cgi app failed on purpose");
    expect(run.stderr).toContain("Error: cgi app failed on purpose");
    expect(run.stderr).toContain(`${app.path("fails.ts")}:2:`);
  });
});
