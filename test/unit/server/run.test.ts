// run(): CGI when GATEWAY_INTERFACE is set, FastCGI on an inherited listening socket, else HTTP on $PORT.
import { PassThrough } from "node:stream";
import { expect, test } from "vitest";
import type { App } from "../../../src/core/types.ts";
import { run } from "../../../src/server/run.ts";
import { sendRequest } from "../../helpers/http-client.ts";
import { freePort, pollUntil } from "../../helpers/gw.ts";

const hello: App = (environ, start) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [`hello ${environ.PATH_INFO}`];
};

test("with GATEWAY_INTERFACE set, one CGI request: the environment in, Status and body out", async () => {
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
  const mode = await run(hello, { env: { GATEWAY_INTERFACE: "CGI/1.1", REQUEST_METHOD: "GET", PATH_INFO: "/cgi" }, stdin: new PassThrough().end(), stdout, stderr: new PassThrough() });
  expect(mode).toBe("cgi");
  expect(Buffer.concat(chunks).toString()).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nhello /cgi");
});

test("otherwise, with no listening socket on the fd, HTTP on $PORT", async () => {
  const port = await freePort();
  const stderr = new PassThrough();
  const stop = new AbortController();
  const running = run(hello, { env: { PORT: String(port) }, fd: 1_000, stderr, signal: stop.signal });
  const response = await pollUntil("the HTTP server", () => sendRequest(`http://127.0.0.1:${port}/`, "/http"), (r) => r.status === 200);
  expect(response.body.toString()).toBe("hello /http");
  stop.abort();
  expect(await running).toBe("http");
});
