// gw behind the web servers people run, with docs/deploy's configs: nginx (FastCGI over a Unix
// socket and TCP, keep-conn on and off, a streamed chunked upload; SCGI), lighttpd (spawning gw
// on fd 0; SCGI) and Apache 2.4 (mod_proxy_fcgi, mod_proxy_scgi), plus cgi-fcgi as a bare client.
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import type { App, Environ } from "../../src/core/types.ts";
import { validator } from "../../src/core/validate.ts";
import { serveFastCgi, type FastCgiServer } from "../../src/server/fastcgi.ts";
import { bindListener, portOf, type ListenTarget } from "../../src/server/listen.ts";
import { serveScgi, type ScgiServer } from "../../src/server/scgi.ts";
import { ROOT } from "../helpers/gw.ts";
import { RawConnection, sendRequest } from "../helpers/http-client.ts";
import { recordingSink } from "../helpers/gateways.ts";
import { deployConfig, startApache, startLighttpd, startNginx, tempDir, type WebServer } from "../helpers/web-servers.ts";

/** The environ keys a deployment cares about, as JSON; a POST body is counted, not echoed. */
const describeRequest: App = validator(async (environ, start) => {
  let bytes = 0;
  for await (const chunk of environ["gw.input"]) bytes += chunk.byteLength;
  const keys = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL", "REMOTE_ADDR", "HTTP_X_TEST", "gw.url_scheme"];
  const out: Record<string, unknown> = { bytes };
  for (const key of keys) out[key] = (environ as Environ)[key];
  start("200 OK", [["Content-Type", "application/json"]]);
  return [JSON.stringify(out)];
});

type Front = { server: FastCgiServer | ScgiServer; address: string; close(): Promise<void> };

async function front(kind: "fastcgi" | "scgi", target: ListenTarget, scriptName?: string): Promise<Front> {
  const listener = await bindListener(target);
  const errors = recordingSink();
  const app = describeRequest;
  const server = kind === "fastcgi" ? serveFastCgi(listener, app, { log: null, errors }) : serveScgi(listener, app, { log: null, errors, scriptName });
  const address = "socket" in target ? target.socket : `127.0.0.1:${portOf(listener)}`;
  return { server, address, close: () => server.shutdown(1_000) };
}

async function environThrough(web: WebServer, path: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const response = await sendRequest(web.url, path, { headers: { "X-Test": "yes", ...headers } });
  expect(response.status, response.body.toString()).toBe(200);
  return JSON.parse(response.body.toString()) as Record<string, unknown>;
}

const ROOT_GET = { REQUEST_METHOD: "GET", SCRIPT_NAME: "", PATH_INFO: "/a b/c", QUERY_STRING: "q=1", SERVER_PROTOCOL: "HTTP/1.1", REMOTE_ADDR: "127.0.0.1", HTTP_X_TEST: "yes", "gw.url_scheme": "http" };

const cleanups: (() => Promise<void>)[] = [];

/** A temp folder removed after the tests. */
function socketDir(): string {
  const dir = tempDir("gw-deploy-");
  cleanups.unshift(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe("nginx", () => {
  test("fastcgi_pass to a Unix socket, keep-conn: the environ as the app expects it, connections reused", async () => {
    const dir = socketDir();
    const gw = await front("fastcgi", { socket: join(dir, "gw.sock") });
    const nginx = await startNginx(deployConfig("nginx-fastcgi.conf", [["/run/gw/gw.sock", gw.address]]));
    cleanups.push(gw.close, nginx.stop);
    expect(await environThrough(nginx, "/a%20b/c?q=1")).toEqual({ bytes: 0, ...ROOT_GET });
    let connections = 0;
    gw.server.listener.on("connection", () => connections++);
    for (let i = 0; i < 5; i++) await environThrough(nginx, "/");
    expect(connections).toBeLessThanOrEqual(1);
  });

  test("fastcgi_pass to TCP with keep-conn off: gw closes after each request, every request answered", async () => {
    const gw = await front("fastcgi", { host: "127.0.0.1", port: 0 });
    const config = deployConfig("nginx-fastcgi.conf", [["unix:/run/gw/gw.sock", gw.address], ["fastcgi_keep_conn on;", "fastcgi_keep_conn off;"], ["keepalive 8;", ""]]);
    const nginx = await startNginx(config);
    cleanups.push(gw.close, nginx.stop);
    let connections = 0;
    gw.server.listener.on("connection", () => connections++);
    for (let i = 0; i < 4; i++) expect((await environThrough(nginx, "/x")).PATH_INFO).toBe("/x");
    expect(connections).toBe(4);
  });

  test("fastcgi_request_buffering off: a chunked upload streams through to the app, every byte counted", async () => {
    const dir = socketDir();
    const gw = await front("fastcgi", { socket: join(dir, "gw.sock") });
    const nginx = await startNginx(deployConfig("nginx-fastcgi.conf", [["/run/gw/gw.sock", gw.address]]));
    cleanups.push(gw.close, nginx.stop);
    const connection = await RawConnection.open(nginx.url);
    try {
      connection.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
      const piece = "z".repeat(64 * 1024);
      for (let i = 0; i < 64; i++) connection.send(`${piece.length.toString(16)}\r\n${piece}\r\n`);
      connection.send("0\r\n\r\n");
      const response = await connection.readResponse();
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body.toString())).toMatchObject({ bytes: 64 * 64 * 1024, REQUEST_METHOD: "POST" });
    } finally {
      connection.close();
    }
  });

  test("scgi_pass: the environ, PATH_INFO from REQUEST_URI", async () => {
    const gw = await front("scgi", { host: "127.0.0.1", port: 0 });
    const nginx = await startNginx(deployConfig("nginx-scgi.conf", [["127.0.0.1:4000", gw.address]]));
    cleanups.push(gw.close, nginx.stop);
    expect(await environThrough(nginx, "/a%20b/c?q=1")).toEqual({ bytes: 0, ...ROOT_GET });
    // Uploads, with a length and chunked, arrive whole: the config keeps nginx's request
    // buffering, since unbuffered nginx sends as CONTENT_LENGTH only what it has read so far.
    const body = Buffer.alloc(300_000, 0x61);
    for (const headers of [{ "Content-Length": String(body.length) }, { "Transfer-Encoding": "chunked" }] as Record<string, string>[]) {
      const response = await sendRequest(nginx.url, "/up", { method: "POST", headers, body });
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body.toString())).toMatchObject({ bytes: body.length, REQUEST_METHOD: "POST" });
    }
  });
});

describe("lighttpd", () => {
  test("mod_fastcgi with bin-path spawns `gw fastcgi APP`, which serves on fd 0", async () => {
    const dir = socketDir();
    const app = join(dir, "app.ts");
    writeFileSync(app, `export default (environ, start) => { start("200 OK", [["Content-Type", "text/plain"]]); return [\`pid \${process.pid} \${environ.SCRIPT_NAME}|\${environ.PATH_INFO}\`]; };\n`);
    const gw = `${process.execPath} ${join(ROOT, "bin", "gw.js")} fastcgi ${app}`;
    const config = deployConfig("lighttpd-fastcgi.conf", [["/run/lighttpd/gw.sock", join(dir, "gw.sock")], ["/usr/local/bin/gw fastcgi /srv/app/app.ts", gw]]);
    const lighttpd = await startLighttpd(config, dir);
    cleanups.push(lighttpd.stop);
    const first = await sendRequest(lighttpd.url, "/p/q", { timeout: 15_000 });
    expect([first.status, first.body.toString()]).toEqual([200, expect.stringMatching(/^pid \d+ \|\/p\/q$/)]);
    // The one spawned gw serves every request.
    const second = await sendRequest(lighttpd.url, "/r");
    expect(second.body.toString().split(" ")[1]).toBe(first.body.toString().split(" ")[1]);
  });

  test("mod_scgi to `gw scgi`'s server", async () => {
    const gw = await front("scgi", { host: "127.0.0.1", port: 0 });
    const [, port] = gw.address.split(":");
    const lighttpd = await startLighttpd(deployConfig("lighttpd-scgi.conf", [['"port" => 4000', `"port" => ${port}`]]));
    cleanups.push(gw.close, lighttpd.stop);
    expect(await environThrough(lighttpd, "/a%20b/c?q=1")).toMatchObject({ ...ROOT_GET, bytes: 0 });
  });
});

describe("Apache 2.4", () => {
  test("mod_proxy_fcgi: the environ, and a POST body", async () => {
    const gw = await front("fastcgi", { host: "127.0.0.1", port: 0 });
    const apache = await startApache(deployConfig("apache-fastcgi.conf", [["127.0.0.1:9000", gw.address]]), "proxy_fcgi");
    cleanups.push(gw.close, apache.stop);
    expect(await environThrough(apache, "/a%20b/c?q=1")).toMatchObject({ ...ROOT_GET, bytes: 0 });
    const post = await sendRequest(apache.url, "/p", { method: "POST", body: "x".repeat(100_000), headers: { "Content-Length": 100_000 } });
    expect(JSON.parse(post.body.toString())).toMatchObject({ bytes: 100_000, PATH_INFO: "/p" });
  });

  test("mod_proxy_scgi, gw with --script-name /: the environ", async () => {
    const gw = await front("scgi", { host: "127.0.0.1", port: 0 }, "");
    const apache = await startApache(deployConfig("apache-scgi.conf", [["127.0.0.1:4000", gw.address]]), "proxy_scgi");
    cleanups.push(gw.close, apache.stop);
    expect(await environThrough(apache, "/a%20b/c?q=1")).toMatchObject({ ...ROOT_GET, bytes: 0 });
  });
});

describe("cgi-fcgi (libfcgi)", () => {
  test("a plain FastCGI client gets the CGI response", async () => {
    const dir = socketDir();
    const gw = await front("fastcgi", { socket: join(dir, "gw.sock") });
    cleanups.push(gw.close);
    // Not spawnSync: the server runs in this process and must answer meanwhile.
    const child = spawn("cgi-fcgi", ["-bind", "-connect", gw.address], {
      env: { REQUEST_METHOD: "POST", CONTENT_LENGTH: "5", PATH_INFO: "/cgi", SERVER_PROTOCOL: "HTTP/1.0", REMOTE_ADDR: "127.0.0.1", HTTP_X_TEST: "yes" },
    });
    child.stdin.end("hello");
    let out = "";
    child.stdout.setEncoding("latin1").on("data", (text: string) => (out += text));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await new Promise((resolve) => child.once("close", resolve));
    clearTimeout(timer);
    expect(out).toMatch(/^Status: 200 OK\r\nContent-Type: application\/json\r\nContent-Length: \d+\r\n\r\n/);
    expect(JSON.parse(out.slice(out.indexOf("\r\n\r\n") + 4))).toMatchObject({ bytes: 5, PATH_INFO: "/cgi", REQUEST_METHOD: "POST" });
  });
});
