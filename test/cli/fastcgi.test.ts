// `gw fastcgi` and `gw scgi` from the outside: the built bin, real sockets, the ready line, the
// access log, Unix socket files (mode, stale, live), fd 0, folders and CGI scripts, user errors.
import { connect } from "node:net";
import { createServer, type Server } from "node:net";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, test } from "vitest";
import { encodeScgiHead } from "../../src/server/scgi-netstring.ts";
import { fastcgiRequest, splitResponse } from "../helpers/fastcgi-client.ts";
import { ROOT, runGw, startGw } from "../helpers/gw.ts";
import { tempDir } from "../helpers/web-servers.ts";
import { rmSync } from "node:fs";

const HELLO = join(ROOT, "test", "fixtures", "apps", "hello.ts");
const FIXTURES = join(ROOT, "test", "fixtures");
const TCP_READY = /^Serving (?:FastCGI|SCGI) on (\S+) port (\d+) \.\.\.$/;
const UNIX_READY = /^Serving FastCGI on unix:(\S+)() \.\.\.$/;
const FD_READY = /^Serving FastCGI on (fd 0)() \.\.\.$/;
const GET = { REQUEST_METHOD: "GET", SCRIPT_NAME: "", PATH_INFO: "/", REQUEST_URI: "/", SERVER_PROTOCOL: "HTTP/1.1", REMOTE_ADDR: "192.0.2.7" };

let dirs: string[] = [];
function dir(): string {
  const made = tempDir("gw-fcgi-cli-");
  dirs.push(made);
  return made;
}
afterAll(() => {
  for (const made of dirs) rmSync(made, { recursive: true, force: true });
  dirs = [];
});

function scgiRequest(address: number | string, head: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = typeof address === "number" ? connect(address, "127.0.0.1") : connect(address);
    let out = "";
    socket.on("data", (data: Buffer) => (out += data.toString("latin1")));
    socket.on("error", reject);
    socket.on("end", () => {
      socket.end();
      resolve(out);
    });
    socket.write(head);
  });
}

describe.concurrent("gw fastcgi", () => {
  test("--port 0: the ready line, an answer, one access line with the web server's REMOTE_ADDR, exit 0 on SIGTERM", async () => {
    const gw = await startGw(["fastcgi", HELLO, "--port", "0"], { ready: TCP_READY });
    try {
      expect(gw.readyLine).toBe(`Serving FastCGI on 127.0.0.1 port ${gw.port} ...`);
      const reply = await fastcgiRequest(gw.port, { ...GET, REQUEST_URI: "/hi?x" });
      expect(splitResponse(reply.stdout)).toEqual({ head: "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13", body: Buffer.from("Hello, world!") });
      expect(await gw.waitForStderr(/GET \/hi\?x/)).toMatch(/^192\.0\.2\.7 - - \[[^\]]+\] "GET \/hi\?x HTTP\/1\.1" 200 13$/);
    } finally {
      const exit = await gw.stop("SIGTERM");
      expect(exit.code).toBe(0);
    }
  });

  test("--socket with --socket-mode: the socket gets the mode, and is removed at exit", async () => {
    const socket = join(dir(), "gw.sock");
    const gw = await startGw(["fastcgi", HELLO, "--socket", socket, "--socket-mode", "660"], { ready: UNIX_READY });
    try {
      expect(gw.readyLine).toBe(`Serving FastCGI on unix:${socket} ...`);
      expect(statSync(socket).mode & 0o777).toBe(0o660);
      expect(splitResponse((await fastcgiRequest(socket, GET)).stdout).body.toString()).toBe("Hello, world!");
    } finally {
      expect((await gw.stop()).code).toBe(0);
    }
    expect(() => statSync(socket)).toThrow();
  });

  test("a stale socket file (nobody listening) is replaced; a live one or a plain file is one line, exit 1", async () => {
    const folder = dir();
    const stale = join(folder, "stale.sock");
    // A server killed while listening leaves its socket file behind.
    spawnSync(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, "SIGKILL"))`]);
    expect(statSync(stale).isSocket()).toBe(true);
    const gw = await startGw(["fastcgi", HELLO, "--socket", stale], { ready: UNIX_READY });
    try {
      const live = await runGw(["fastcgi", HELLO, "--socket", stale]);
      expect([live.exitCode, live.stderr.trim()]).toEqual([1, `gw: another server is listening on ${stale}; stop it or choose another --socket`]);
    } finally {
      await gw.stop();
    }
    const file = join(folder, "file");
    writeFileSync(file, "not a socket");
    const plain = await runGw(["fastcgi", HELLO, "--socket", file]);
    expect([plain.exitCode, plain.stderr.trim()]).toEqual([1, `gw: ${file} exists and is not a socket; remove it or choose another --socket`]);
  });

  test("without --socket or --port, a listening socket on fd 0 (a web server spawned gw) is served", async () => {
    const listener: Server = createServer();
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const port = (listener.address() as { port: number }).port;
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    const gw = await startGw(["fastcgi", HELLO], { ready: FD_READY, stdin: fd });
    // The parent stops accepting, as a spawning web server does: connections go to gw.
    listener.close();
    try {
      expect(gw.readyLine).toBe("Serving FastCGI on fd 0 ...");
      expect(splitResponse((await fastcgiRequest(port, GET)).stdout).body.toString()).toBe("Hello, world!");
    } finally {
      expect((await gw.stop()).code).toBe(0);
    }
  });

  test("--directory and --cgi serve a folder as gw serve does: files and CGI scripts", async () => {
    const gw = await startGw(["fastcgi", "--cgi", "--directory", FIXTURES, "--port", "0"], { ready: TCP_READY });
    try {
      const script = await fastcgiRequest(gw.port, { ...GET, PATH_INFO: "/cgi-bin/hello.sh", REQUEST_URI: "/cgi-bin/hello.sh" });
      expect(splitResponse(script.stdout).head).toMatch(/^Status: 200 OK\r\n/);
      const file = await fastcgiRequest(gw.port, { ...GET, PATH_INFO: "/apps/hello.ts", REQUEST_URI: "/apps/hello.ts" });
      expect(splitResponse(file.stdout).body.toString()).toContain("The smallest gw app");
    } finally {
      await gw.stop();
    }
  });

  test("--cgi: a body without a length (nginx streaming a chunked upload sends CONTENT_LENGTH \"\"; a bare client none) reaches the script with its length", async () => {
    const gw = await startGw(["fastcgi", "--cgi", "--directory", FIXTURES, "--port", "0", "--cgi-assign", ".js=node"], { ready: TCP_READY });
    try {
      const post = { ...GET, REQUEST_METHOD: "POST", PATH_INFO: "/cgi-bin/env.js", REQUEST_URI: "/cgi-bin/env.js", HTTP_TRANSFER_ENCODING: "chunked" };
      const body = "x".repeat(100_000);
      for (const params of [{ ...post, CONTENT_LENGTH: "" }, post]) {
        const reply = splitResponse((await fastcgiRequest(gw.port, params, body)).stdout);
        expect(reply.head).toMatch(/^Status: 200 OK\r\n/);
        const seen = JSON.parse(reply.body.toString()) as { env: Record<string, string>; stdin: string };
        expect([seen.env.CONTENT_LENGTH, seen.stdin.length, seen.env.HTTP_TRANSFER_ENCODING]).toEqual(["100000", 100_000, undefined]);
      }
      // A GET with no body still gets none, and no CONTENT_LENGTH made up for it.
      const get = JSON.parse(splitResponse((await fastcgiRequest(gw.port, { ...GET, PATH_INFO: "/cgi-bin/env.js", REQUEST_URI: "/cgi-bin/env.js" })).stdout).body.toString()) as { env: Record<string, string>; stdin: string };
      expect([get.env.CONTENT_LENGTH, get.stdin]).toEqual([undefined, ""]);
    } finally {
      await gw.stop();
    }
  });

  test("--node takes a two-parameter export as a Node listener", async () => {
    const app = join(dir(), "listener.mjs");
    writeFileSync(app, `export default (req, res) => { res.setHeader("Content-Type", "text/plain"); res.end("node " + req.url); };\n`);
    const gw = await startGw(["fastcgi", app, "--node", "--port", "0"], { ready: TCP_READY });
    try {
      const reply = splitResponse((await fastcgiRequest(gw.port, { ...GET, PATH_INFO: "/x", REQUEST_URI: "/x" })).stdout);
      expect([reply.head.startsWith("Status: 200 OK\r\n"), reply.body.toString()]).toEqual([true, "node /x"]);
    } finally {
      await gw.stop();
    }
  });

  test("--reload: an edit to the app is served on the same socket with no failed request, and the reload is logged", async () => {
    const folder = dir();
    const app = join(folder, "app.ts");
    const source = (text: string): string => `export default (environ: unknown, start: (s: string, h: [string, string][]) => void) => { start("200 OK", [["Content-Type", "text/plain"]]); return [${JSON.stringify(text)}]; };\n`;
    writeFileSync(app, source("first"));
    const gw = await startGw(["fastcgi", app, "--port", "0", "--reload"], { ready: TCP_READY });
    try {
      expect(splitResponse((await fastcgiRequest(gw.port, GET)).stdout).body.toString()).toBe("first");
      await gw.waitForStderr(/watching \d+ files? for changes/);
      const statuses: string[] = [];
      let isRunning = true;
      const client = (async () => {
        while (isRunning) statuses.push(splitResponse((await fastcgiRequest(gw.port, GET)).stdout).head.split("\r\n")[0]!);
      })();
      writeFileSync(app, source("second"));
      await gw.waitForStderr(/^gw: reloaded in \d+ ms/);
      isRunning = false;
      await client;
      expect(splitResponse((await fastcgiRequest(gw.port, GET)).stdout).body.toString()).toBe("second");
      expect(statuses.length).toBeGreaterThan(0);
      expect(statuses.filter((status) => status !== "Status: 200 OK")).toEqual([]);
    } finally {
      expect((await gw.stop("SIGTERM")).code).toBe(0);
    }
  });

  test.each([
    [["fastcgi", "--directory", FIXTURES, "--reload"], "gw: --reload reloads an APP; a folder's files and scripts are read afresh on every request"],
    [["scgi", HELLO, "--reload", "--workers", "2"], "gw: --workers does not reload; restart the workers with SIGHUP instead of --reload"],
    [["fastcgi", HELLO, "--socket", "/tmp/x.sock", "--port", "9"], "gw: listen on either --socket or --host/--port, not both"],
    [["fastcgi", HELLO, "--socket-mode", "660"], "gw: --socket-mode needs --socket"],
    [["fastcgi", HELLO, "--socket", "/tmp/gw-no-such-folder/x.sock"], "gw: cannot create the socket /tmp/gw-no-such-folder/x.sock: its folder does not exist"],
    [["scgi", HELLO, "--script-name", "app"], 'gw: --script-name must start with "/" (got app)'],
  ])("%j is one line, exit 1", async (args, line) => {
    const run = await runGw(args);
    expect([run.exitCode, run.stderr.trim()]).toEqual([1, line]);
  });
});

describe.concurrent("gw scgi", () => {
  test("--port 0 and --script-name: the ready line, the answer as a CGI response, PATH_INFO after the prefix", async () => {
    const app = join(dir(), "paths.ts");
    writeFileSync(app, `export default (environ, start) => { start("200 OK", [["Content-Type", "text/plain"]]); return [environ.SCRIPT_NAME + "|" + environ.PATH_INFO]; };\n`);
    const gw = await startGw(["scgi", app, "--port", "0", "--script-name", "/app/"], { ready: TCP_READY });
    try {
      expect(gw.readyLine).toBe(`Serving SCGI on 127.0.0.1 port ${gw.port} ...`);
      const answer = await scgiRequest(gw.port, encodeScgiHead(0, [["REQUEST_METHOD", "GET"], ["REQUEST_URI", "/app/a%20b?q"], ["SERVER_PROTOCOL", "HTTP/1.1"]]));
      expect(answer).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\n/app|/a b");
      await gw.waitForStderr(/"GET \/app\/a%20b\?q HTTP\/1\.1" 200 9$/);
    } finally {
      expect((await gw.stop()).code).toBe(0);
    }
  });

  test("--reload on a Unix socket: an edit is served on the same socket", async () => {
    const folder = dir();
    const app = join(folder, "app.ts");
    const socket = join(folder, "gw.sock");
    writeFileSync(app, `export default (environ, start) => { start("200 OK", [["Content-Type", "text/plain"]]); return ["one"]; };\n`);
    const gw = await startGw(["scgi", app, "--socket", socket, "--reload"], { ready: /^Serving SCGI on unix:(\S+)() \.\.\.$/ });
    try {
      const ask = (): Promise<string> => scgiRequest(socket, encodeScgiHead(0, [["REQUEST_METHOD", "GET"], ["REQUEST_URI", "/"]]));
      expect(await ask()).toMatch(/\r\n\r\none$/);
      await gw.waitForStderr(/watching \d+ files? for changes/);
      writeFileSync(app, `export default (environ, start) => { start("200 OK", [["Content-Type", "text/plain"]]); return ["two"]; };\n`);
      await gw.waitForStderr(/^gw: reloaded in \d+ ms/);
      expect(await ask()).toMatch(/\r\n\r\ntwo$/);
    } finally {
      expect((await gw.stop("SIGTERM")).code).toBe(0);
    }
  });

  test("a bad netstring drops the connection with one log line; gw serves on", async () => {
    const gw = await startGw(["scgi", HELLO, "--port", "0"], { ready: TCP_READY });
    try {
      expect(await scgiRequest(gw.port, Buffer.from("12:CONTENT_LENGTH\0"))).toBe("");
      await gw.waitForStderr(/dropped an SCGI connection/);
      expect(await scgiRequest(gw.port, encodeScgiHead(0, [["REQUEST_METHOD", "GET"]]))).toContain("Hello, world!");
      expect(gw.stderrLines().filter((line) => line.includes("dropped"))).toHaveLength(1);
    } finally {
      await gw.stop();
    }
  });
});
