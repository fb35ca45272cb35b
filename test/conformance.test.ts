// Runs the shared conformance suite against each gateway: makeServer, and toNodeListener inside a
// plain http.createServer. Each gateway's gw.errors goes to a sink checked once its suite is done.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, test } from "vitest";
import { toNodeListener } from "../src/adapters/node.ts";
import { makeServer } from "../src/server.ts";
import { conformanceSuite, type StartGateway } from "./conformance.ts";
import { SECRET, throwsBeforeStart } from "./fixtures/apps.ts";
import { sendRequest, waitUntil } from "./fixtures/http-client.ts";

/** A text sink that keeps what it was given. */
function recordingSink(): { write(text: string): boolean; text(): string } {
  const parts: string[] = [];
  return {
    write(text: string): boolean {
      parts.push(text);
      return true;
    },
    text: () => parts.join(""),
  };
}

/** The app's trace goes to the gateway's errors sink, and only there. */
async function expectTraceInSink(start: StartGateway, errors: { text(): string }): Promise<void> {
  const gateway = await start(throwsBeforeStart);
  try {
    const response = await sendRequest(gateway.url, "/");
    expect(response.status).toBe(500);
    expect(response.body.toString()).not.toContain(SECRET);
    await waitUntil("the trace reaches the sink", () => errors.text().includes(SECRET));
    expect(errors.text()).toMatch(new RegExp(`Error: boom before start: ${SECRET}\\n\\s+at `));
  } finally {
    await gateway.close();
  }
}

/**
 * What a gateway may write to gw.errors during the suite: the throwing apps' own traces. A
 * validator finding (say, body.close() called twice) or a gateway bug must not show up.
 */
function expectNoGatewayFaults(errors: string): void {
  expect(errors).not.toContain("ValidationError");
  expect(errors).not.toContain("gw validator");
  expect(errors).not.toContain("ProtocolError");
  expect(errors).not.toContain("internal error");
}

describe("makeServer", () => {
  const errors = recordingSink();
  const start: StartGateway = async (app) => {
    const server = await makeServer("127.0.0.1", 0, app, { log: null, errors });
    void server.serveForever();
    return { url: server.url, close: () => server.shutdown(1_000) };
  };
  conformanceSuite("makeServer", start);
  test("an app's trace goes to options.errors", () => expectTraceInSink(start, errors));
  afterAll(() => expectNoGatewayFaults(errors.text()));
});

describe("toNodeListener", () => {
  const errors = recordingSink();
  const start: StartGateway = async (app) => {
    const server = createServer(toNodeListener(app, { errors }));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/`,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  };
  conformanceSuite("toNodeListener in http.createServer", start);
  test("an app's trace goes to options.errors", () => expectTraceInSink(start, errors));
  afterAll(() => expectNoGatewayFaults(errors.text()));
});
