// toNodeListener mounted under a prefix in Express (a real Connect-style stack): the prefix the
// stack cut off req.url is the app's SCRIPT_NAME, so its redirects and links stay under it.
import express from "express";
import { afterEach, describe, expect, test } from "vitest";
import { toNodeListener } from "../../../src/adapters/node.ts";
import { application } from "../../../src/app/router.ts";
import { seeOther } from "../../../src/app/http-errors.ts";
import type { App } from "../../../src/core/types.ts";
import { serveListener } from "../../helpers/gateways.ts";
import { sendRequest } from "../../helpers/http-client.ts";
import type { StartedGateway } from "../../conformance/suite.ts";

/** Answers the environ keys a mount changes, as JSON. */
const showPaths: App = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  const { SCRIPT_NAME, PATH_INFO, QUERY_STRING, REQUEST_URI } = environ;
  return [JSON.stringify({ SCRIPT_NAME, PATH_INFO, QUERY_STRING, REQUEST_URI })];
};

let running: StartedGateway | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function paths(url: string, path: string): Promise<Record<string, string>> {
  const response = await sendRequest(url, path);
  expect(response.status).toBe(200);
  return JSON.parse(response.body.toString()) as Record<string, string>;
}

describe("toNodeListener mounted in Express", () => {
  test("the mount prefix is SCRIPT_NAME and PATH_INFO the rest; REQUEST_URI is the target as received", async () => {
    const site = express();
    site.use("/gw", toNodeListener(showPaths));
    site.use("/users/:id", toNodeListener(showPaths));
    running = await serveListener(site);
    expect(await paths(running.url, "/gw/a%20b?x=1")).toEqual({ SCRIPT_NAME: "/gw", PATH_INFO: "/a b", QUERY_STRING: "x=1", REQUEST_URI: "/gw/a%20b?x=1" });
    expect(await paths(running.url, "/gw/")).toEqual({ SCRIPT_NAME: "/gw", PATH_INFO: "/", QUERY_STRING: "", REQUEST_URI: "/gw/" });
    expect(await paths(running.url, "/gw")).toEqual({ SCRIPT_NAME: "/gw", PATH_INFO: "", QUERY_STRING: "", REQUEST_URI: "/gw" });
    expect(await paths(running.url, "/users/42/profile")).toEqual({ SCRIPT_NAME: "/users/42", PATH_INFO: "/profile", QUERY_STRING: "", REQUEST_URI: "/users/42/profile" });
  });

  test("unmounted, nothing changes: SCRIPT_NAME is empty", async () => {
    const site = express();
    site.use(toNodeListener(showPaths));
    running = await serveListener(site);
    expect(await paths(running.url, "/x?y")).toEqual({ SCRIPT_NAME: "", PATH_INFO: "/x", QUERY_STRING: "y", REQUEST_URI: "/x?y" });
  });

  test("an app-layer redirect to / stays under the mount", async () => {
    const site = express();
    site.use("/gw", toNodeListener(application([["/login", () => { throw seeOther("/"); }]])));
    running = await serveListener(site);
    const response = await sendRequest(running.url, "/gw/login");
    expect(response.status).toBe(303);
    expect(new URL(response.headers.location!, running.url).pathname).toBe("/gw/");
  });
});
