// Runs the shared conformance suite against each gateway: makeServer, and toNodeListener inside a
// plain http.createServer. Each gateway's gw.errors goes to a sink checked once its suite is done.
import { afterAll, describe, test } from "vitest";
import { toNodeListener } from "../../src/adapters/node.ts";
import { makeServer } from "../../src/server/http.ts";
import { conformanceSuite, type StartGateway } from "./suite.ts";
import { expectNoGatewayFaults, expectTraceInSink, recordingSink, serveListener } from "../helpers/gateways.ts";

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
  const start: StartGateway = (app) => serveListener(toNodeListener(app, { errors }));
  conformanceSuite("toNodeListener in http.createServer", start);
  test("an app's trace goes to options.errors", () => expectTraceInSink(start, errors));
  afterAll(() => expectNoGatewayFaults(errors.text()));
});
