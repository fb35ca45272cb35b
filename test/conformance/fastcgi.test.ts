// The shared conformance suite through nginx, as a browser sees gw behind it: nginx → gw's
// FastCGI responder over a Unix socket (keep-conn), and nginx → gw's SCGI server over TCP.
// Both use docs/deploy's nginx configs; one nginx and one gw server per front, the app swapped per test.
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "node:net";
import { afterAll, describe, test } from "vitest";
import { bindListener, portOf } from "../../src/server/listen.ts";
import { serveFastCgi, type FastCgiServer } from "../../src/server/fastcgi.ts";
import { serveScgi, type ScgiServer } from "../../src/server/scgi.ts";
import type { AnyApp } from "../../src/core/types.ts";
import { conformanceSuite, type StartGateway } from "./suite.ts";
import { expectNoGatewayFaults, expectTraceInSink, recordingSink } from "../helpers/gateways.ts";
import { deployConfig, startNginx, tempDir, type WebServer } from "../helpers/web-servers.ts";

const NGINX_OMITS = {
  // nginx answers a malformed percent escape itself, with 400, before any upstream sees it.
  "a malformed escape stays as it is and an invalid UTF-8 byte decodes as latin-1, without a crash": "nginx refuses %ZZ with 400 itself",
  // nginx stops sending a request body once the answer has begun (its upstreams are half-duplex),
  // so an app that echoes while it reads stalls after about 200 KB. The web-server tests echo a
  // body read whole first; test/unit/server checks full-duplex echo with a raw FastCGI client.
  "a 1 MiB random POST is echoed byte-exact": "nginx stops sending the request body once the response has started",
};

/** One gw front and one nginx before it, started on first use; each start() swaps the app. */
function sharedFront(begin: () => Promise<{ nginx: WebServer; server: { app: AnyApp; shutdown(timeout?: number): Promise<void> } }>): { start: StartGateway; stop(): Promise<void> } {
  let running: ReturnType<typeof begin> | undefined;
  return {
    start: async (app) => {
      running ??= begin();
      const { nginx, server } = await running;
      server.app = app;
      return { url: nginx.url, close: async () => {} };
    },
    stop: async () => {
      if (running === undefined) return;
      const { nginx, server } = await running;
      await nginx.stop();
      await server.shutdown(1_000);
    },
  };
}

describe("FastCGI behind nginx", () => {
  const errors = recordingSink();
  const front = sharedFront(async () => {
    const dir = tempDir("gw-fcgi-conf-");
    const socket = join(dir, "gw.sock");
    const listener: Server = await bindListener({ socket, mode: 0o666 });
    const server: FastCgiServer = serveFastCgi(listener, () => [], { log: null, errors });
    const nginx = await startNginx(deployConfig("nginx-fastcgi.conf", [["/run/gw/gw.sock", socket]]));
    // The socket's folder goes when nginx's does.
    const stop = nginx.stop;
    nginx.stop = async () => {
      await stop();
      await server.shutdown(1_000);
      rmSync(dir, { recursive: true, force: true });
    };
    return { nginx, server };
  });
  conformanceSuite("nginx → gw fastcgi", front.start, { omit: NGINX_OMITS });
  test("an app's trace goes to the server's errors sink", () => expectTraceInSink(front.start, errors));
  afterAll(async () => {
    await front.stop();
    expectNoGatewayFaults(errors.text());
  });
});

describe("SCGI behind nginx", () => {
  const errors = recordingSink();
  const front = sharedFront(async () => {
    const listener = await bindListener({ host: "127.0.0.1", port: 0 });
    const server: ScgiServer = serveScgi(listener, () => [], { log: null, errors });
    const nginx = await startNginx(deployConfig("nginx-scgi.conf", [["127.0.0.1:4000", `127.0.0.1:${portOf(listener)}`]]));
    return { nginx, server };
  });
  conformanceSuite("nginx → gw scgi", front.start, {
    omit: {
      ...NGINX_OMITS,
      "a GET without a body has no CONTENT_TYPE and an empty or missing CONTENT_LENGTH": "SCGI always sends CONTENT_LENGTH, 0 for no body",
    },
  });
  test("an app's trace goes to the server's errors sink", () => expectTraceInSink(front.start, errors));
  afterAll(async () => {
    await front.stop();
    expectNoGatewayFaults(errors.text());
  });
});
