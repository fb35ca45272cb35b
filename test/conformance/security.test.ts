// Attacks from the security review (#16) against every gateway: a Host that would change the URL
// an app builds, a backslash path that a URL parser turns into "/", and response headers named
// after Object.prototype's properties. Each reproduces the attack and asserts the safe answer.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { toNodeListener } from "../../src/adapters/node.ts";
import { fromFetchHandler } from "../../src/adapters/from-fetch.ts";
import { toFetchHandler } from "../../src/adapters/to-fetch.ts";
import { BAD_HOST_BODY } from "../../src/gateway/base-handler.ts";
import { makeServer } from "../../src/server/http.ts";
import { setupTestingDefaults } from "../../src/core/util.ts";
import type { App, HeaderPair } from "../../src/core/types.ts";
import type { StartGateway } from "./suite.ts";
import { call } from "../helpers/call.ts";
import { recordingSink, serveListener } from "../helpers/gateways.ts";
import { startGw, tempApp, type TempApp } from "../helpers/gw.ts";
import { RawConnection, header, type RawResponse } from "../helpers/http-client.ts";

/** Every Object.prototype name: each once looked up on a `{}` used as a map of header names. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

/** Sends one raw request and reads its response. */
async function exchange(url: string, request: string): Promise<RawResponse> {
  const connection = await RawConnection.open(url);
  try {
    connection.send(request);
    return await connection.readResponse();
  } finally {
    connection.close();
  }
}

function get(path: string, ...headerLines: string[]): string {
  return `GET ${path} HTTP/1.1\r\n${headerLines.map((line) => line + "\r\n").join("")}Connection: close\r\n\r\n`;
}

/** An app that records the URL it would build from the request, and says it ran. */
function urlRecorder(): { app: App; seen: string[] } {
  const seen: string[] = [];
  const app: App = (environ, startResponse) => {
    seen.push(`${String(environ.HTTP_HOST)} ${environ.PATH_INFO}`);
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return ["app ran"];
  };
  return { app, seen };
}

const gateways: [string, StartGateway][] = [
  ["makeServer", async (app) => {
    const server = await makeServer("127.0.0.1", 0, app, { log: null, errors: recordingSink() });
    void server.serveForever();
    return { url: server.url, close: () => server.shutdown(1_000) };
  }],
  ["toNodeListener", (app) => serveListener(toNodeListener(app, { errors: recordingSink() }))],
];

// Hosts that are not host[:port]: each could move the path, the user info or the port of a URL.
const BAD_HOSTS = ["x/admin?", "x\\admin", "a@evil.example", "evil.example#", "a b", "x:80/admin", "x:port", "[::1", "[::1]x", "a,b", "ex%41mple.com", "x:123456"];
const GOOD_HOSTS = ["localhost", "localhost:8000", "127.0.0.1:80", "[::1]:8000", "[::1]", "my-host.example.com", "under_score.local"];

describe.each(gateways)("Host grammar under %s", (_name, start) => {
  test.each(BAD_HOSTS)("Host: %s gets 400 and never reaches the app", async (host) => {
    const { app, seen } = urlRecorder();
    const gateway = await start(app);
    try {
      const response = await exchange(gateway.url, get("/public", `Host: ${host}`));
      expect(response.status).toBe(400);
      expect(response.body.toString()).toBe(BAD_HOST_BODY);
      expect(seen).toEqual([]);
    } finally {
      await gateway.close();
    }
  });

  test("two Host headers get 400 (RFC 9112 §3.2)", async () => {
    const { app, seen } = urlRecorder();
    const gateway = await start(app);
    try {
      const response = await exchange(gateway.url, get("/", "Host: a.example", "Host: b.example"));
      expect(response.status).toBe(400);
      expect(seen).toEqual([]);
    } finally {
      await gateway.close();
    }
  });

  test("ordinary Hosts, and none on HTTP/1.0, reach the app", async () => {
    const { app, seen } = urlRecorder();
    const gateway = await start(app);
    try {
      for (const host of GOOD_HOSTS) expect((await exchange(gateway.url, get("/", `Host: ${host}`))).status, host).toBe(200);
      expect((await exchange(gateway.url, "GET / HTTP/1.0\r\n\r\n")).status).toBe(200);
      expect(seen).toHaveLength(GOOD_HOSTS.length + 1);
    } finally {
      await gateway.close();
    }
  });
});

describe("a Fetch handler under makeServer", () => {
  const urls: string[] = [];
  const handler = fromFetchHandler((request) => {
    urls.push(request.url);
    return new Response(new URL(request.url).pathname);
  });
  let server: Awaited<ReturnType<typeof makeServer>>;
  beforeAll(async () => {
    server = await makeServer("127.0.0.1", 0, handler, { log: null, errors: recordingSink() });
    void server.serveForever();
  });
  afterAll(() => server.shutdown(1_000));

  test("Host: x/admin? cannot turn /public into /admin", async () => {
    urls.length = 0;
    const response = await exchange(server.url, get("/public", "Host: x/admin?"));
    expect(response.status).toBe(400);
    expect(urls).toEqual([]);
  });

  test("GET /public\\..\\admin reaches the handler as /public%5C..%5Cadmin, never /admin", async () => {
    urls.length = 0;
    const response = await exchange(server.url, get("/public\\..\\admin?q=\\", "Host: localhost"));
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe("/public%5C..%5Cadmin");
    expect(urls).toEqual(["http://localhost/public%5C..%5Cadmin?q=\\"]);
  });

  test("a rewritten path (SCRIPT_NAME set) keeps its backslashes escaped too", async () => {
    const called = await call(handler, "/b\\..\\admin", { environ: { SCRIPT_NAME: "/a", HTTP_HOST: "localhost" } });
    expect(called.body).toBe("/a/b%5C..%5Cadmin");
  });

  test("called without a gateway, it still answers a bad Host with 400", async () => {
    urls.length = 0;
    const statuses: string[] = [];
    const environ = setupTestingDefaults({ PATH_INFO: "/public", HTTP_HOST: "x/admin?" });
    const body = await handler(environ, (status) => {
      statuses.push(status);
      return () => Promise.resolve();
    });
    expect([statuses, body]).toEqual([["400 Bad Request"], ["bad request"]]);
    expect(urls).toEqual([]);
  });
});

test("toFetchHandler answers a bad Host with 400 before the app runs", async () => {
  const { app, seen } = urlRecorder();
  const fetchHandler = toFetchHandler(app, { errors: recordingSink() });
  const bad = await fetchHandler(new Request("http://localhost/public", { headers: { host: "x/admin?" } }));
  expect([bad.status, await bad.text()]).toEqual([400, BAD_HOST_BODY]);
  const good = await fetchHandler(new Request("http://localhost/public", { headers: { host: "localhost:8000" } }));
  expect(good.status).toBe(200);
  expect(seen).toEqual(["localhost:8000 /public"]);
});

/** Each Object.prototype name twice, with values "<name>-1" and "<name>-2". */
function prototypeHeaders(): HeaderPair[] {
  return PROTOTYPE_NAMES.flatMap((name): HeaderPair[] => [[name, `${name}-1`], [name, `${name}-2`]]);
}

/** Every Object.prototype name came through with both its values, as sent. */
function expectPrototypeHeaders(response: RawResponse, joined: boolean): void {
  expect(response.status, response.body.toString()).toBe(200);
  for (const name of PROTOTYPE_NAMES) {
    const values = response.headers.get(name.toLowerCase());
    expect(values, name).toEqual(joined ? [`${name}-1, ${name}-2`] : [`${name}-1`, `${name}-2`]);
  }
}

describe.each(gateways)("response headers named after Object.prototype under %s", (_name, start) => {
  test("an app's headers go out, repeated ones too", async () => {
    const gateway = await start((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"], ...prototypeHeaders()]);
      return ["ok"];
    });
    try {
      expectPrototypeHeaders(await exchange(gateway.url, get("/", "Host: localhost")), false);
    } finally {
      await gateway.close();
    }
  });

  test("a Fetch handler's headers go out", async () => {
    const gateway = await start(fromFetchHandler(() => new Response("ok", { headers: prototypeHeaders() })));
    try {
      // Fetch's Headers joins a repeated name with ", " before gw sees it.
      expectPrototypeHeaders(await exchange(gateway.url, get("/", "Host: localhost")), true);
    } finally {
      await gateway.close();
    }
  });
});

test("toFetchHandler passes headers named after Object.prototype", async () => {
  const fetchHandler = toFetchHandler((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"], ...prototypeHeaders()]);
    return ["ok"];
  }, { errors: recordingSink() });
  const response = await fetchHandler(new Request("http://localhost/"));
  expect(response.status).toBe(200);
  for (const name of PROTOTYPE_NAMES) expect(response.headers.get(name), name).toBe(`${name}-1, ${name}-2`);
});

describe("a CGI script under gw serve --cgi", () => {
  let folder: TempApp;
  beforeAll(() => {
    folder = tempApp({}, "gw-security-");
    mkdirSync(join(folder.dir, "cgi-bin"));
    const lines = prototypeHeaders().map(([name, value]) => `echo '${name}: ${value}'`).join("\n");
    const script = join(folder.dir, "cgi-bin", "proto.sh");
    writeFileSync(script, `#!/bin/sh\necho 'Content-Type: text/plain'\n${lines}\necho\necho ok\n`);
    chmodSync(script, 0o755);
  });
  afterAll(() => folder.remove());

  test("its headers named after Object.prototype go out", async () => {
    const gw = await startGw(["serve", "--cgi", "--port", "0", "--quiet"], { cwd: folder.dir });
    try {
      const response = await exchange(`${gw.url}/`, get("/cgi-bin/proto.sh", "Host: localhost"));
      expectPrototypeHeaders(response, false);
      expect(header(response, "content-type")).toBe("text/plain");
    } finally {
      await gw.stop();
    }
  });
});
