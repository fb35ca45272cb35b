// What the gateway test files share: a sink that records gw.errors, a node listener served on a
// free port, and the checks that an app's trace lands in the sink and no gateway fault does.
import { createServer, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "vitest";
import type { StartedGateway, StartGateway } from "../conformance/suite.ts";
import { SECRET, throwsBeforeStart } from "./apps.ts";
import { sendRequest, waitUntil } from "./http-client.ts";
import { fromNodeListener, type NodeListener } from "../../src/adapters/from-node.ts";
import { makeServer } from "../../src/server/http.ts";

/** A text sink that keeps what it was given. */
export function recordingSink(): { write(text: string): boolean; text(): string } {
  const parts: string[] = [];
  return {
    write(text: string): boolean {
      parts.push(text);
      return true;
    },
    text: () => parts.join(""),
  };
}

/** Serves a node:http listener on 127.0.0.1 with a free port; close() also cuts open connections. */
export async function serveListener(listener: RequestListener): Promise<StartedGateway> {
  const server = createServer(listener);
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
}

/** The app's trace goes to the gateway's errors sink, and never to the client. */
export async function expectTraceInSink(start: StartGateway, errors: { text(): string }): Promise<void> {
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
 * After a suite, the errors sink holds app traces only: a validator finding (say, body.close()
 * called twice) or a gateway bug must not show up.
 */
export function expectNoGatewayFaults(errors: string): void {
  expect(errors).not.toContain("ValidationError");
  expect(errors).not.toContain("gw validator");
  expect(errors).not.toContain("ProtocolError");
  expect(errors).not.toContain("internal error");
}

/** Serves `listener` through fromNodeListener behind makeServer while `use` runs; resolves to what gw logged on its error stream. */
export async function withNodeListener(listener: NodeListener, use: (url: string) => Promise<void>): Promise<string> {
  const errors = recordingSink();
  const server = await makeServer("127.0.0.1", 0, fromNodeListener(listener), { log: null, errors });
  void server.serveForever();
  try {
    await use(server.url);
  } finally {
    await server.shutdown(1_000);
  }
  return errors.text();
}
