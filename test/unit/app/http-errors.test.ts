// Every HTTP error: its status, headers and body, on its own and thrown inside an application,
// and how a redirect's Location is resolved (web.py's home + urljoin).
import { describe, expect, test } from "vitest";
import {
  HttpError, Redirect, badRequest, conflict, errorApp, forbidden, found, gone, internalError, methodNotAllowed,
  notAcceptable, notFound, preconditionFailed, redirect, resolveLocation, seeOther, tempRedirect, unauthorized,
  unsupportedMediaType,
} from "../../../src/app/http-errors.ts";
import { application } from "../../../src/app/router.ts";
import type { Environ } from "../../../src/core/types.ts";
import { setupTestingDefaults } from "../../../src/core/util.ts";
import { call } from "../../helpers/call.ts";

const TEXT = ["Content-Type", "text/plain; charset=utf-8"];

/** [what, the error, status, extra headers after Content-Type, body] */
const ERRORS: [string, () => HttpError, string, [string, string][], string][] = [
  ["badRequest", () => badRequest(), "400 Bad Request", [], "bad request"],
  ["unauthorized", () => unauthorized(undefined, [["WWW-Authenticate", 'Basic realm="gw"']]), "401 Unauthorized", [["WWW-Authenticate", 'Basic realm="gw"']], "unauthorized"],
  ["forbidden", () => forbidden(), "403 Forbidden", [], "forbidden"],
  ["notFound", () => notFound(), "404 Not Found", [], "not found"],
  ["methodNotAllowed", () => methodNotAllowed(["GET", "HEAD", "POST"]), "405 Method Not Allowed", [["Allow", "GET, HEAD, POST"]], "method not allowed"],
  ["notAcceptable", () => notAcceptable(), "406 Not Acceptable", [], "not acceptable"],
  ["conflict", () => conflict(), "409 Conflict", [], "conflict"],
  ["gone", () => gone(), "410 Gone", [], "gone"],
  ["preconditionFailed", () => preconditionFailed(), "412 Precondition Failed", [], "precondition failed"],
  ["unsupportedMediaType", () => unsupportedMediaType(), "415 Unsupported Media Type", [], "unsupported media type"],
  ["internalError", () => internalError(), "500 Internal Server Error", [], "internal server error"],
  ["redirect", () => redirect("/new"), "301 Moved Permanently", [["Location", "/new"]], ""],
  ["redirect with a status", () => redirect("/new", 308), "308 Permanent Redirect", [["Location", "/new"]], ""],
  ["found", () => found("/new"), "302 Found", [["Location", "/new"]], ""],
  ["seeOther", () => seeOther("/new"), "303 See Other", [["Location", "/new"]], ""],
  ["tempRedirect", () => tempRedirect("/new"), "307 Temporary Redirect", [["Location", "/new"]], ""],
];

describe("each error", () => {
  test.each(ERRORS)("%s: status, headers and body", (_what, make, status, extra, body) => {
    const error = make();
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toBeInstanceOf(Error);
    expect(error.status).toBe(status);
    expect(error.code).toBe(Number(status.slice(0, 3)));
    expect(error.message).toBe(status);
    expect(error.headers).toEqual([TEXT, ...extra]);
    expect(error.body).toBe(body);
  });

  test.each(ERRORS)("%s thrown by a handler becomes its response", async (_what, make, status, extra, body) => {
    const app = application([["/here/x", () => {
      throw make();
    }]]);
    const response = await call(app, "/here/x");
    expect(response.status).toBe(status);
    expect(response.header("Content-Type")).toBe(TEXT[1]);
    for (const [name, value] of extra) {
      // A path Location goes out as a path (RFC 9110 §10.2.2), never with the client's Host.
      expect(response.header(name)).toBe(value);
    }
    expect(response.body).toBe(body);
    expect(response.header("Content-Length")).toBe(String(Buffer.byteLength(body)));
    // An HttpError is a response, not a failure: nothing is logged.
    expect(response.errors).toBe("");
  });

  test("a custom body and headers; a Content-Type given replaces the default", () => {
    const error = notFound("no such user", [["Content-Type", "application/json"], ["X-Reason", "gone"]]);
    expect(error.headers).toEqual([["Content-Type", "application/json"], ["X-Reason", "gone"]]);
    expect(error.body).toBe("no such user");
  });

  test("new HttpError takes a code (reason from node:http) or a whole status line", () => {
    expect(new HttpError(418).status).toBe("418 I'm a Teapot");
    expect(new HttpError(599).status).toBe("599 Unknown");
    const custom = new HttpError("429 Slow Down", [["Retry-After", "5"]], "wait");
    expect([custom.code, custom.headers, custom.body]).toEqual([429, [["Retry-After", "5"]], "wait"]);
    expect(new HttpError(400).headers).toEqual([TEXT]);
  });

  test("Redirect keeps the location as given", () => {
    const error = seeOther("../up");
    expect(error).toBeInstanceOf(Redirect);
    expect(error.location).toBe("../up");
  });
});

describe("as plain gw apps", () => {
  test("respond() sends the error from any app", async () => {
    const response = await call((environ, startResponse) => forbidden("keep out").respond(environ, startResponse), "/");
    expect([response.status, response.body, response.header("Content-Type")]).toEqual(["403 Forbidden", "keep out", TEXT[1]]);
  });

  test("errorApp answers every request with the error", async () => {
    const app = errorApp(new HttpError(503, [["Content-Type", "text/plain"], ["Retry-After", "60"]], "maintenance"));
    for (const path of ["/", "/a/b"]) {
      const response = await call(app, path);
      expect([response.status, response.header("Retry-After"), response.body]).toEqual(["503 Service Unavailable", "60", "maintenance"]);
    }
  });

  test("a redirect sent by a plain app resolves against that app's request", async () => {
    const response = await call((environ, startResponse) => found("next").respond(environ, startResponse), "/a/b", { environ: { SCRIPT_NAME: "/mnt" } });
    expect(response.header("Location")).toBe("/mnt/a/next");
  });
});

describe("resolveLocation", () => {
  const environ = (overrides: Record<string, unknown>): Environ => setupTestingDefaults({ SCRIPT_NAME: "", PATH_INFO: "/a/b", ...overrides });

  test("a path is joined to the app's home; a relative one to the current path first", () => {
    expect(resolveLocation("/x", environ({}))).toBe("/x");
    expect(resolveLocation("c", environ({}))).toBe("/a/c");
    expect(resolveLocation("../c?q=1#f", environ({}))).toBe("/c?q=1#f");
    expect(resolveLocation("?page=2", environ({}))).toBe("/a/b?page=2");
  });

  test("SCRIPT_NAME is part of the home; the host never is (#16)", () => {
    const mounted = environ({ SCRIPT_NAME: "/blog", HTTP_HOST: "example.com:8080" });
    expect(resolveLocation("/x", mounted)).toBe("/blog/x");
    const bare = environ({ HTTP_HOST: "", SERVER_NAME: "srv", SERVER_PORT: "8443", HTTPS: "on" });
    expect(resolveLocation("/x", bare)).toBe("/x");
  });

  test("a Host chosen by the client never ends up in a Location (#16)", async () => {
    const evil = { HTTP_HOST: "evil.example" };
    expect((await call((e, start) => seeOther("/x").respond(e, start), "/", { environ: evil })).header("Location")).toBe("/x");
    // ctx.home is absolute, built from the Host: on the request's own origin it becomes a path.
    expect(resolveLocation("http://evil.example/x?q#f", environ(evil))).toBe("/x?q#f");
    expect(resolveLocation("http://EVIL.example", environ(evil))).toBe("/");
    expect(resolveLocation("http://evil.example?q", environ(evil))).toBe("/?q");
    expect(resolveLocation("http://evil.example.org/x", environ(evil))).toBe("http://evil.example.org/x");
    expect(resolveLocation("https://evil.example/x", environ(evil))).toBe("https://evil.example/x");
  });

  test("a path never goes out as '//host', which a browser would follow off-site", () => {
    expect(resolveLocation("/.//evil.example/x", environ({}))).toBe("/.//evil.example/x");
    // A browser reads "\\" as "/": this is "//evil.example", a path here as below.
    expect(resolveLocation("/\\evil.example", environ({}))).toBe("/.//evil.example");
    expect(resolveLocation("..//evil.example", environ({ PATH_INFO: "/" }))).toBe("/.//evil.example");
    expect(resolveLocation("http://127.0.0.1//evil.example", environ({}))).toBe("/.//evil.example");
    expect(resolveLocation("http://127.0.0.1/\\evil.example", environ({}))).toBe("http://127.0.0.1/\\evil.example");
  });

  test("a URL with a scheme is left alone", () => {
    expect(resolveLocation("https://other.example/y", environ({}))).toBe("https://other.example/y");
    expect(resolveLocation("mailto:a@b.c", environ({}))).toBe("mailto:a@b.c");
  });

  test("a scheme-relative '//host/x' is a path on this site, as web.py makes it: no open redirect", () => {
    expect(resolveLocation("//evil.example/y?q#f", environ({}))).toBe("/.//evil.example/y?q#f");
    expect(resolveLocation("///evil.example", environ({}))).toBe("/.///evil.example");
    expect(resolveLocation("\\\\evil.example", environ({}))).toBe("/.//evil.example");
    expect(resolveLocation("//evil.example/y", environ({ SCRIPT_NAME: "/app" }))).toBe("/app//evil.example/y");
  });

  test("non-ASCII is percent-encoded, so the header stays ASCII", () => {
    expect(resolveLocation("/café ünï", environ({}))).toBe("/caf%C3%A9%20%C3%BCn%C3%AF");
  });

  test("bind() fixes the environ once; later binds and the caller's environ do not move it", () => {
    const error = redirect("x").bind(environ({ PATH_INFO: "/first/" })).bind(environ({ PATH_INFO: "/second/" }));
    expect(error.toResponse(environ({ PATH_INFO: "/third/" })).headers).toContainEqual(["Location", "/first/x"]);
  });
});
