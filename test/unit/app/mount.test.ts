// mount() (CherryPy's WSGIPathInfoDispatcher) and compose(), in memory through validator().
import { describe, expect, test } from "vitest";
import { ctx } from "../../../src/app/context.ts";
import { compose, mount, type Middleware } from "../../../src/app/mount.ts";
import { application } from "../../../src/app/router.ts";
import type { App, Environ } from "../../../src/core/types.ts";
import { call } from "../../helpers/call.ts";

/** An app that answers with its name and the SCRIPT_NAME and PATH_INFO it was given. */
function named(name: string): App {
  return (environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [`${name} ${JSON.stringify([environ.SCRIPT_NAME, environ.PATH_INFO])}`];
  };
}

describe("mount", () => {
  const app = mount({ "/": named("root"), "/blog": named("blog"), "/blog/admin": named("admin") });

  test("the prefix moves from PATH_INFO to SCRIPT_NAME", async () => {
    expect((await call(app, "/blog/2024/post")).body).toBe('blog ["/blog","/2024/post"]');
    expect((await call(app, "/blog/")).body).toBe('blog ["/blog","/"]');
    expect((await call(app, "/blog")).body).toBe('blog ["/blog",""]');
  });

  test("the longest prefix wins, whatever the order they were given in", async () => {
    const reversed = mount([["/blog/admin", named("admin")], ["/blog", named("blog")]]);
    const forward = mount([["/blog", named("blog")], ["/blog/admin", named("admin")]]);
    for (const dispatcher of [app, reversed, forward]) {
      expect((await call(dispatcher, "/blog/admin/users")).body).toBe('admin ["/blog/admin","/users"]');
      expect((await call(dispatcher, "/blog/administrator")).body).toBe('blog ["/blog","/administrator"]');
    }
  });

  test("a prefix matches whole segments: /blogger goes to the root app", async () => {
    expect((await call(app, "/blogger")).body).toBe('root ["","/blogger"]');
    expect((await call(app, "/")).body).toBe('root ["","/"]');
  });

  test("an empty PATH_INFO counts as '/'", async () => {
    expect((await call(app, "", { environ: { SCRIPT_NAME: "/site" } })).body).toBe('root ["/site","/"]');
  });

  test("no match is a 404 with an empty text/plain body", async () => {
    const response = await call(mount({ "/api": named("api") }), "/other");
    expect(response.status).toBe("404 Not Found");
    expect(response.header("Content-Type")).toBe("text/plain");
    expect(response.header("Content-Length")).toBe("0");
    expect(response.body).toBe("");
  });

  test("a trailing slash on a prefix is dropped", async () => {
    expect((await call(mount({ "/docs/": named("docs") }), "/docs/a")).body).toBe('docs ["/docs","/a"]');
  });

  test("an existing SCRIPT_NAME is kept in front", async () => {
    expect((await call(app, "/blog/x", { environ: { SCRIPT_NAME: "/site" } })).body).toBe('blog ["/site/blog","/x"]');
  });

  test("the caller's environ is not changed", async () => {
    let outer: Environ | undefined;
    const watcher: App = (environ, startResponse) => {
      outer = environ;
      const body = app(environ, startResponse);
      return body;
    };
    await call(watcher, "/blog/x");
    expect([outer?.SCRIPT_NAME, outer?.PATH_INFO]).toEqual(["", "/blog/x"]);
  });

  test("a bad prefix or app fails at once", () => {
    expect(() => mount({ blog: named("x") })).toThrow(/must be "" or start with "\/"/);
    expect(() => mount({ "/x": "app" as unknown as App })).toThrow(/must be a function/);
  });

  test("applications mounted see their own home and path", async () => {
    const blog = application([["/(.*)", (rest: string) => `${ctx.home} ${ctx.homepath} ${ctx.path} ${rest}`]]);
    const response = await call(mount({ "/blog": blog }), "/blog/a/b", { environ: { HTTP_HOST: "example.com" } });
    expect(response.body).toBe("http://example.com/blog /blog /a/b a/b");
  });
});

describe("compose", () => {
  /** A middleware that adds its name to X-Trace on the way out and to a log on the way in. */
  const tag = (name: string, log: string[]): Middleware => (inner) => (environ, startResponse) => {
    log.push(name);
    return inner(environ, (status, headers, excInfo) => startResponse(status, [...headers, ["X-Trace", name]], excInfo));
  };

  test("compose(a, b)(app) is a(b(app)): the first sees the request first", async () => {
    const log: string[] = [];
    const app = compose(tag("a", log), tag("b", log))(named("app"));
    const response = await call(app, "/");
    expect(log).toEqual(["a", "b"]);
    expect(response.headers.filter(([name]) => name === "X-Trace").map(([, value]) => value)).toEqual(["b", "a"]);
    expect(response.body).toBe('app ["","/"]');
  });

  test("compose() with nothing is the identity", () => {
    const app = named("same");
    expect(compose()(app)).toBe(app);
  });

  test("a non-function middleware fails at once", () => {
    expect(() => compose(tag("a", []), "b" as unknown as Middleware)).toThrow(/middleware 1 is not a function/);
  });
});
