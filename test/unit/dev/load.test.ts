// loadApp's choice between a gw app and a Fetch handler: an object with a fetch method, or a
// function of one parameter, is wrapped with fromFetchHandler; a function of two, or a class, is a gw app.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { UserError } from "../../../src/core/errors.ts";
import { loadApp, loadAppInProcess } from "../../../src/dev/load.ts";
import { call } from "../../helpers/call.ts";

const dir = mkdtempSync(join(tmpdir(), "gw-load-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** Writes an .mjs module and returns its path. */
function module(source: string): string {
  const path = join(dir, `m${++files}.mjs`);
  writeFileSync(path, source);
  return path;
}

describe("loadApp and Fetch handlers", () => {
  test("a default export with a fetch method is a Fetch handler, called with this bound", async () => {
    const path = module(`export default {
  greeting: "hi",
  fetch(request) { return new Response(this.greeting + " " + new URL(request.url).pathname, { headers: { "Content-Type": "text/plain" } }); },
};`);
    const loaded = await loadApp(path);
    expect([loaded.exportName, loaded.isFetchHandler]).toEqual(["default", true]);
    expect((await call(loaded.app, "/there")).body).toBe("hi /there");
  });

  test("a function of one parameter is a Fetch handler", async () => {
    const loaded = await loadApp(module(`export default async (request) => new Response(request.method, { headers: { "Content-Type": "text/plain" } });`));
    expect(loaded.isFetchHandler).toBe(true);
    expect((await call(loaded.app, "/", { method: "DELETE", body: "" })).body).toBe("DELETE");
  });

  test("a function of two parameters is a gw app, used as it is", async () => {
    const path = module(`export default function app(environ, startResponse) {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["gw " + environ.PATH_INFO];
}`);
    const loaded = await loadApp(path);
    expect(loaded.isFetchHandler).toBe(false);
    expect((await call(loaded.app, "/p")).body).toBe("gw /p");
  });

  test("a named export picked with :name may be a Fetch handler object too", async () => {
    const path = module(`export const server = { fetch: () => new Response("named", { headers: { "Content-Type": "text/plain" } }) };`);
    const loaded = await loadApp(`${path}:server`);
    expect([loaded.exportName, loaded.isFetchHandler]).toEqual(["server", true]);
    expect((await call(loaded.app, "/")).body).toBe("named");
  });

  test("an object without fetch is a one-line UserError that says what would do", async () => {
    const path = module(`export default { handler: () => null };`);
    const failure = loadApp(path);
    await expect(failure).rejects.toBeInstanceOf(UserError);
    await expect(loadApp(path)).rejects.toThrow(/is an object, not an app function or an object with a fetch method/);
  });
});

describe("loadApp and class applications", () => {
  // A class of one declared parameter would be a Fetch handler by length; a class is never one.
  test.each(["environ, startResponse", "environ"])("a class (constructor(%s)) is a gw app, constructed per request", async (params) => {
    const path = module(`export default class App {
  constructor(${params}) { this.path = environ.PATH_INFO; this.start = arguments[1]; }
  *[Symbol.iterator]() { this.start("200 OK", [["Content-Type", "text/plain"]]); yield "class " + this.path; }
}`);
    const loaded = await loadApp(path);
    expect(loaded.isFetchHandler).toBe(false);
    expect((await call(loaded.app, "/c")).body).toBe("class /c");
    expect((await call(loaded.app, "/d")).body).toBe("class /d");
  });
});

describe("loadApp and Node listeners", () => {
  test("a function of three parameters (Express, connect) is a Node listener", async () => {
    const loaded = await loadApp(module(`export default function app(req, res, next) { res.setHeader("Content-Type", "text/plain"); res.end("node " + req.url); }`));
    expect([loaded.isNodeListener, loaded.isFetchHandler]).toEqual([true, false]);
    expect((await call(loaded.app, "/n?x=1", { shouldValidate: false })).body).toBe("node /n?x=1");
  });

  test("an http.Server and a Koa-like object (use + callback) are Node listeners", async () => {
    const server = await loadApp(module(`import { createServer } from "node:http";
export default createServer((req, res) => res.end("server"));`));
    const koa = await loadApp(module(`export default { use() {}, callback() { return (req, res) => res.end("koa-like"); } };`));
    expect([server.isNodeListener, koa.isNodeListener]).toEqual([true, true]);
    expect((await call(server.app, "/", { shouldValidate: false })).body).toBe("server");
    expect((await call(koa.app, "/", { shouldValidate: false })).body).toBe("koa-like");
  });

  test("--node, --gw and --fetch force the kind of a two-parameter function", async () => {
    const path = module(`export default (a, b) => {
  if (typeof b === "function") { b("200 OK", [["Content-Type", "text/plain"]]); return ["gw"]; }
  b.end("node");
}`);
    expect((await call((await loadApp(path, undefined, "node")).app, "/", { shouldValidate: false })).body).toBe("node");
    expect((await call((await loadApp(path, undefined, "gw")).app, "/")).body).toBe("gw");
    const fetchPath = module(`export default (request, extra) => new Response("fetch " + request.method, { headers: { "Content-Type": "text/plain" } });`);
    expect((await loadApp(fetchPath)).isFetchHandler).toBe(false);
    expect((await call((await loadApp(fetchPath, undefined, "fetch")).app, "/")).body).toBe("fetch GET");
  });

  test("loadAppInProcess serves a module's listen() at import, says so once, then lets the process bind again", async () => {
    const said: string[] = [];
    const path = module(`import { createServer } from "node:http";
const server = createServer((req, res) => res.end("started " + req.url));
server.listen(3999);
server.listen(3998, () => { globalThis.boundTo = server.address(); });`);
    const loaded = await loadAppInProcess(path, dir, "auto", (line) => said.push(line));
    expect([loaded.exportName, loaded.isNodeListener]).toEqual(["listen()", true]);
    expect((await call(loaded.app, "/x", { shouldValidate: false })).body).toBe("started /x");
    expect(said).toEqual(["gw: the app calls listen(); gw serves that server on its own address instead"]);
    expect((globalThis as { boundTo?: unknown }).boundTo).toBeNull();
    // The capture is over: gw's own server (any http.Server) binds for real now.
    const { createServer } = await import("node:http");
    const server = createServer().listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    expect(server.address()).not.toBeNull();
    server.close();
  });
});
