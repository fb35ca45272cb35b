// The app layer (web.py's application): URL table semantics, handler kinds, results, processors
// and the per-request context, all in memory through validator().
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ctx, data, header, input } from "../../../src/app/context.ts";
import { notFound, seeOther } from "../../../src/app/http-errors.ts";
import { json } from "../../../src/app/results.ts";
import { application, isApplication, loadHook, type Processor } from "../../../src/app/router.ts";
import type { Chunk } from "../../../src/core/types.ts";
import { fileWrapper } from "../../../src/core/util.ts";
import { call } from "../../helpers/call.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("URL patterns", () => {
  const hit = (name: string) => () => name;

  test("a pattern is anchored at both ends", async () => {
    const app = application([["/a", hit("a")], ["/a/(.*)", hit("a/*")]]);
    expect((await call(app, "/a")).body).toBe("a");
    expect((await call(app, "/ab")).code).toBe(404);
    expect((await call(app, "/x/a")).code).toBe(404);
    expect((await call(app, "/a/")).body).toBe("a/*");
  });

  test("an alternation is anchored as a whole", async () => {
    const app = application([["/one|/two", hit("either")]]);
    expect((await call(app, "/two")).body).toBe("either");
    expect((await call(app, "/one/more")).code).toBe(404);
    expect((await call(app, "/x/two")).code).toBe(404);
  });

  test("a RegExp pattern is anchored too and keeps its flags", async () => {
    const app = application([[/\/items\/(\d+)/i, (id: string) => `item ${id}`]]);
    expect((await call(app, "/ITEMS/7")).body).toBe("item 7");
    expect((await call(app, "/items/7x")).code).toBe(404);
  });

  test("a global RegExp matches on every request, not every other one", async () => {
    const app = application([[/\/g\/(\d+)/g, (id: string) => id]]);
    for (let i = 0; i < 3; i++) expect((await call(app, `/g/${i}`)).body).toBe(String(i));
  });

  test("the first match wins, in table order", async () => {
    const app = application([["/(.*)", hit("catch-all")], ["/special", hit("special")]]);
    expect((await call(app, "/special")).body).toBe("catch-all");
  });

  test("captured groups are the handler's arguments; an unmatched optional group is undefined", async () => {
    class Post {
      GET(year: string, slug: string | undefined): string {
        return `${year}|${slug ?? "(none)"}`;
      }
    }
    const app = application([["/posts/(\\d{4})(?:/([a-z-]+))?", Post]]);
    expect((await call(app, "/posts/2024/hello-world")).body).toBe("2024|hello-world");
    expect((await call(app, "/posts/2024")).body).toBe("2024|(none)");
  });

  test("optional characters before a group still match (the literal prefix check is exact)", async () => {
    const app = application([["/colou?r/(\\w+)", (name: string) => name]]);
    expect((await call(app, "/color/red")).body).toBe("red");
    expect((await call(app, "/colour/blue")).body).toBe("blue");
  });

  test("groups match the percent-decoded PATH_INFO", async () => {
    const app = application([["/tag/(.+)", (tag: string) => `tag=${tag}`]]);
    const response = await call(app, "/tag/café");
    expect(response.body).toBe("tag=café");
  });

  test("nothing matched is a 404", async () => {
    const response = await call(application([]), "/anything");
    expect(response.status).toBe("404 Not Found");
    expect(response.body).toBe("not found");
  });

  test("a bad table fails when the application is made, naming the row", () => {
    expect(() => application([["/x", "index" as never]])).toThrow(/urls\[0\].*redirect <url>/);
    expect(() => application([["/x", 42 as never]])).toThrow(/urls\[0\]/);
    expect(() => application([["/x"] as never])).toThrow(/urls\[0\] must be a \[pattern, handler\] pair/);
    const sub = application([]);
    expect(() => application([[/\/blog/, sub]])).toThrow(/path prefix/);
    expect(() => application([["blog", sub]])).toThrow(/path prefix/);
  });
});

describe("handler classes", () => {
  class Page {
    GET(): string {
      return "page";
    }
    POST(): string {
      ctx.status = "201 Created";
      return "made";
    }
  }

  test("the request method picks the class's method, on a new instance per request", async () => {
    const instances: object[] = [];
    class Counter {
      constructor() {
        instances.push(this);
      }
      GET(): string {
        return String(instances.length);
      }
    }
    const app = application([["/", Counter], ["/page", Page]]);
    expect((await call(app, "/")).body).toBe("1");
    expect((await call(app, "/")).body).toBe("2");
    expect(instances[0]).not.toBe(instances[1]);
    const made = await call(app, "/page", { method: "POST", body: "" });
    expect([made.status, made.body]).toEqual(["201 Created", "made"]);
  });

  test("HEAD falls back to GET: the headers of GET, no body", async () => {
    const app = application([["/page", Page]]);
    const response = await call(app, "/page", { method: "HEAD" });
    expect(response.status).toBe("200 OK");
    expect(response.header("Content-Length")).toBe("4");
    expect(response.body).toBe("");
  });

  test("a class with its own HEAD gets HEAD", async () => {
    class Custom {
      GET(): string {
        return "get";
      }
      HEAD(): string {
        header("X-Head", "yes");
        return "";
      }
    }
    const response = await call(application([["/", Custom]]), "/", { method: "HEAD" });
    expect(response.header("X-Head")).toBe("yes");
  });

  test("a missing method is 405 with Allow listing the class's methods, HEAD included for GET", async () => {
    const response = await call(application([["/page", Page]]), "/page", { method: "DELETE" });
    expect(response.status).toBe("405 Method Not Allowed");
    expect(response.header("Allow")).toBe("GET, HEAD, POST");
  });

  test("inherited methods count, and methods are case-sensitive", async () => {
    class Base {
      GET(): string {
        return "base";
      }
    }
    class Child extends Base {
      PUT(): string {
        return "put";
      }
    }
    const app = application([["/", Child]]);
    expect((await call(app, "/")).body).toBe("base");
    expect((await call(app, "/", { method: "PUT", body: "" })).body).toBe("put");
    const lower = await call(app, "/", { method: "get", shouldValidate: false });
    expect(lower.code).toBe(405);
    expect(lower.header("Allow")).toBe("GET, HEAD, PUT");
  });

  test("a class without GET does not answer HEAD", async () => {
    class PostOnly {
      POST(): string {
        return "ok";
      }
    }
    const response = await call(application([["/", PostOnly]]), "/", { method: "HEAD" });
    expect(response.code).toBe(405);
    expect(response.header("Allow")).toBe("POST");
  });

  test("an async method is awaited", async () => {
    class Slow {
      async GET(): Promise<string> {
        await sleep(5);
        return "late";
      }
    }
    expect((await call(application([["/", Slow]]), "/")).body).toBe("late");
  });
});

describe("other handlers", () => {
  test("a function gets the groups and may be async", async () => {
    const app = application([
      ["/add/(\\d+)/(\\d+)", (a: string, b: string) => String(Number(a) + Number(b))],
      ["/later", async () => {
        await sleep(1);
        return "later";
      }],
    ]);
    expect((await call(app, "/add/2/3")).body).toBe("5");
    expect((await call(app, "/later")).body).toBe("later");
  });

  test("'redirect /new' is a 301 to the new path, keeping the query on GET", async () => {
    const app = application([["/old", "redirect /new"], ["/new", () => "new"]]);
    const get = await call(app, "/old?page=2");
    expect(get.status).toBe("301 Moved Permanently");
    expect(get.header("Location")).toBe("/new?page=2");
    const post = await call(app, "/old?page=2", { method: "POST", body: "" });
    expect(post.header("Location")).toBe("/new");
  });

  test("a redirect string may use the pattern's groups as $1", async () => {
    const app = application([["/u/(\\w+)", "redirect /users/$1"]]);
    expect((await call(app, "/u/ada")).header("Location")).toBe("/users/ada");
  });
});

describe("sub-applications", () => {
  const seen = () => {
    const where = (): string =>
      JSON.stringify([ctx.environ.SCRIPT_NAME, ctx.environ.PATH_INFO, ctx.homepath, ctx.path, ctx.home]);
    return application([["/", where], ["/(.*)", where], ["", where]]);
  };

  test("a sub-app gets SCRIPT_NAME and PATH_INFO shifted by its prefix", async () => {
    const app = application([["/blog", seen()]]);
    expect(JSON.parse((await call(app, "/blog/2024")).body)).toEqual(["/blog", "/2024", "/blog", "/2024", "http://127.0.0.1/blog"]);
    expect(JSON.parse((await call(app, "/blog/")).body)).toEqual(["/blog", "/", "/blog", "/", "http://127.0.0.1/blog"]);
    expect(JSON.parse((await call(app, "/blog")).body)).toEqual(["/blog", "", "/blog", "", "http://127.0.0.1/blog"]);
  });

  test("a prefix matches whole segments only", async () => {
    const app = application([["/blog", seen()], ["/(.*)", (rest: string) => `outer ${rest}`]]);
    expect((await call(app, "/blogger")).body).toBe("outer blogger");
  });

  test("the longest prefix wins, whatever the order", async () => {
    const blog = application([["/(.*)", () => "blog"]]);
    const admin = application([["/(.*)", () => "admin"]]);
    const app = application([["/blog", blog], ["/blog/admin", admin]]);
    expect((await call(app, "/blog/admin/users")).body).toBe("admin");
    expect((await call(app, "/blog/post")).body).toBe("blog");
  });

  test("a trailing slash on the prefix is ignored, and nesting adds up", async () => {
    const app = application([["/a/", application([["/b", seen()]])]]);
    expect(JSON.parse((await call(app, "/a/b/c")).body)).toEqual(["/a/b", "/c", "/a/b", "/c", "http://127.0.0.1/a/b"]);
  });

  test("the outer application's context keeps its own path", async () => {
    const paths: string[] = [];
    const outer = application([["/blog", seen()]], {
      processors: [(handler) => {
        const result = handler();
        paths.push(ctx.path, ctx.environ.PATH_INFO, ctx.environ.SCRIPT_NAME);
        return result;
      }],
    });
    await call(outer, "/blog/x");
    expect(paths).toEqual(["/blog/x", "/blog/x", ""]);
  });

  test("a plain gw app in the table is refused with a line naming mount(); a handler of two groups is not", async () => {
    const plain = (_environ: unknown, startResponse: (status: string, headers: [string, string][]) => void) => {
      startResponse("200 OK", []);
      return ["x"];
    };
    expect(() => application([["/admin", plain as never]])).toThrow(/urls\[0\] \(\/admin\): this function takes two arguments.*mount\(/);
    const app = application([["/(\\w+)/(\\d+)", (name: string, id: string) => `${name}:${id}`]]);
    expect((await call(app, "/post/7")).body).toBe("post:7");
  });

  test("nothing matched inside a sub-app is a 404", async () => {
    const app = application([["/blog", application([["/", () => "index"]])]]);
    expect((await call(app, "/blog/missing")).code).toBe(404);
  });

  test("a redirect thrown in a sub-app resolves against the sub-app", async () => {
    const blog = application([["/old", "redirect /new"], ["/go", () => {
      throw seeOther("next");
    }]]);
    const app = application([["/blog", blog]]);
    expect((await call(app, "/blog/old")).header("Location")).toBe("/blog/new");
    expect((await call(app, "/blog/go")).header("Location")).toBe("/blog/next");
  });

  test("the outer processors wrap the sub-app's", async () => {
    const order: string[] = [];
    const trace = (name: string): Processor => (handler) => {
      order.push(`${name} in`);
      const result = handler();
      order.push(`${name} out`);
      return result;
    };
    const inner = application([["/x", () => "x"]], { processors: [trace("inner")] });
    const outer = application([["/sub", inner]], { processors: [trace("outer")] });
    await call(outer, "/sub/x");
    expect(order).toEqual(["outer in", "inner in", "inner out", "outer out"]);
  });

  test("isApplication tells applications from plain functions", () => {
    expect(isApplication(application([]))).toBe(true);
    expect(isApplication(() => [])).toBe(false);
  });
});

describe("results", () => {
  const respond = (result: () => unknown, headers: [string, string][] = []) =>
    application([["/", () => {
      for (const [name, value] of headers) header(name, value);
      return result();
    }]]);

  test("a string gets Content-Length and the default text/plain type", async () => {
    const response = await call(respond(() => "héllo"), "/");
    expect(response.header("Content-Length")).toBe("6");
    expect(response.header("Content-Type")).toBe("text/plain; charset=utf-8");
    expect(response.body).toBe("héllo");
  });

  test("the default Content-Type is an option, and a handler's own wins", async () => {
    const html = application([["/", () => "<p>hi</p>"]], { contentType: "text/html; charset=utf-8" });
    expect((await call(html, "/")).header("Content-Type")).toBe("text/html; charset=utf-8");
    const own = await call(respond(() => "a,b", [["Content-Type", "text/csv"]]), "/");
    expect(own.headers.filter(([name]) => name.toLowerCase() === "content-type")).toEqual([["Content-Type", "text/csv"]]);
  });

  test("bytes, null and undefined", async () => {
    expect((await call(respond(() => new Uint8Array([104, 105])), "/")).body).toBe("hi");
    const empty = await call(respond(() => null), "/");
    expect([empty.body, empty.header("Content-Length")]).toEqual(["", "0"]);
    expect((await call(respond(() => undefined), "/")).body).toBe("");
  });

  test("json() sends JSON with application/json", async () => {
    const response = await call(respond(() => json({ a: [1, 2], b: "ü" })), "/");
    expect(response.header("Content-Type")).toBe("application/json");
    expect(JSON.parse(response.body)).toEqual({ a: [1, 2], b: "ü" });
    expect(response.header("Content-Length")).toBe(String(Buffer.byteLength(response.body)));
  });

  test("a plain object or array is JSON when the handler set a JSON Content-Type", async () => {
    const object = await call(respond(() => ({ ok: true }), [["Content-Type", "application/json"]]), "/");
    expect(object.body).toBe('{"ok":true}');
    const array = await call(respond(() => ["a", "b"], [["Content-Type", "application/problem+json"]]), "/");
    expect(array.body).toBe('["a","b"]');
  });

  test("a plain object without a JSON type is a 500, with a message saying what to return", async () => {
    const response = await call(respond(() => ({ ok: true })), "/");
    expect(response.code).toBe(500);
    expect(response.errors).toMatch(/TypeError: a handler returned an object: .*json\(value\)/);
  });

  test("an array of chunks is sent with its total length", async () => {
    const response = await call(respond(() => ["ab", "cd"]), "/", { shouldValidate: false });
    expect(response.header("Content-Length")).toBe("4");
    expect(response.body).toBe("abcd");
  });

  test("a generator streams, and may set the status and headers before its first yield", async () => {
    const app = respond(() => (function* (): Generator<Chunk> {
      ctx.status = "202 Accepted";
      header("X-Path", ctx.path);
      yield "one ";
      yield "two";
    })());
    const response = await call(app, "/");
    expect(response.status).toBe("202 Accepted");
    expect(response.header("X-Path")).toBe("/");
    expect(response.header("Content-Length")).toBeUndefined();
    expect(response.body).toBe("one two");
  });

  test("an async generator streams, with ctx available after each await", async () => {
    const app = application([["/(\\w+)", (name: string) => (async function* (): AsyncGenerator<Chunk> {
      for (let i = 0; i < 3; i++) {
        await sleep(2);
        yield `${name}:${ctx.path};`;
      }
    })()]]);
    expect((await call(app, "/abc")).body).toBe("abc:/abc;abc:/abc;abc:/abc;");
  });

  test("an HttpError thrown by a generator before its first chunk becomes the response", async () => {
    const app = respond(() => (async function* (): AsyncGenerator<Chunk> {
      throw notFound("no such stream");
    })());
    const response = await call(app, "/");
    expect([response.code, response.body]).toEqual([404, "no such stream"]);
  });

  test("an error after the first chunk cuts the response", async () => {
    const app = respond(() => (function* (): Generator<Chunk> {
      yield "partial";
      yield "more";
      throw new Error("broke mid-stream");
    })());
    const response = await call(app, "/");
    expect(response.isCut).toBe(true);
    expect(response.errors).toContain("broke mid-stream");
  });

  test("an early stop runs the generator's finally and the result's close()", async () => {
    const events: string[] = [];
    const app = respond(() => {
      const body = (function* (): Generator<Chunk> {
        try {
          yield "a";
          yield "b";
        } finally {
          events.push(`finally in ${ctx.path}`);
        }
      })();
      return Object.assign(body, { close: () => events.push("close") });
    });
    await call(app, "/", { method: "HEAD" });
    expect(events).toEqual(["finally in /", "close"]);
  });

  test("a FileWrapper is passed through, so the gateway sends the file's length", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gw-router-"));
    try {
      const path = join(dir, "f.txt");
      await writeFile(path, "file body\n");
      const app = application([["/f", () => ctx.environ["gw.file_wrapper"]!(path)]]);
      const response = await call(app, "/f", { shouldValidate: false, environ: { "gw.file_wrapper": fileWrapper } });
      expect(response.header("Content-Length")).toBe("10");
      expect(response.body).toBe("file body\n");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("204 gets no Content-Type", async () => {
    const app = application([["/", () => {
      ctx.status = "204 No Content";
      return null;
    }]]);
    const response = await call(app, "/");
    expect(response.status).toBe("204 No Content");
    expect(response.header("Content-Type")).toBeUndefined();
  });
});

describe("the context", () => {
  test("ctx describes the request", async () => {
    let seen: Record<string, unknown> = {};
    const app = application([["/where", () => {
      seen = {
        method: ctx.method, path: ctx.path, query: ctx.query, fullpath: ctx.fullpath, homepath: ctx.homepath,
        homedomain: ctx.homedomain, home: ctx.home, host: ctx.host, ip: ctx.ip, protocol: ctx.protocol,
        status: ctx.status, headers: [...ctx.headers], state: ctx.state,
      };
      return "";
    }]]);
    await call(app, "/where?x=1", { environ: { HTTP_HOST: "example.com:8080", REMOTE_ADDR: "10.0.0.9" } });
    expect(seen).toEqual({
      method: "GET", path: "/where", query: "?x=1", fullpath: "/where?x=1", homepath: "",
      homedomain: "http://example.com:8080", home: "http://example.com:8080", host: "example.com:8080",
      ip: "10.0.0.9", protocol: "http", status: "200 OK", headers: [], state: {},
    });
  });

  test("without a Host header, homedomain is SERVER_NAME plus a non-default port", async () => {
    let homedomain = "";
    const app = application([["/", () => {
      homedomain = ctx.homedomain;
      return "";
    }]]);
    await call(app, "/", { environ: { HTTP_HOST: "", SERVER_NAME: "srv", SERVER_PORT: "8443", HTTPS: "on" } });
    expect(homedomain).toBe("https://srv:8443");
  });

  test("ctx outside a request throws a clear error", () => {
    expect(() => ctx.path).toThrow(/only available while an application handles a request/);
    expect(() => header("X", "y")).toThrow(/only available/);
  });

  test("ctx.headers may be replaced, and header() appends", async () => {
    const app = application([["/", () => {
      ctx.headers = [["X-One", "1"]];
      header("X-Two", "2");
      return "ok";
    }]]);
    const response = await call(app, "/");
    expect(response.header("X-One")).toBe("1");
    expect(response.header("X-Two")).toBe("2");
  });

  test("data() reads the body once; input() merges the query and a urlencoded form", async () => {
    const app = application([["/form", async () => {
      const first = new TextDecoder().decode(await data());
      const again = new TextDecoder().decode(await data());
      const params = await input();
      return json({ first, again, name: params.get("name"), tags: params.getAll("tag") });
    }]]);
    const response = await call(app, "/form?tag=q", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded; charset=utf-8" },
      body: "name=Ada+L%C3%B6&tag=f",
    });
    expect(JSON.parse(response.body)).toEqual({ first: "name=Ada+L%C3%B6&tag=f", again: "name=Ada+L%C3%B6&tag=f", name: "Ada Lö", tags: ["q", "f"] });
  });

  test("input() ignores a body that is not a urlencoded form", async () => {
    const app = application([["/", async () => [...(await input()).keys()].join(",")]]);
    const response = await call(app, "/?a=1", { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"b":2}' });
    expect(response.body).toBe("a");
  });

  test("100 concurrent requests each see only their own context", async () => {
    const seenState: unknown[] = [];
    const app = application([["/req/(\\d+)", async (id: string) => {
      for (let step = 0; step < 3; step++) {
        await sleep(Math.random() * 5);
        if (ctx.path !== `/req/${id}` || ctx.state.id !== id) throw new Error(`request ${id} saw ${ctx.path}, state ${String(ctx.state.id)}`);
      }
      header("X-Id", id);
      return (async function* (): AsyncGenerator<Chunk> {
        await sleep(Math.random() * 5);
        yield `${ctx.path} `;
        await sleep(Math.random() * 5);
        yield String(ctx.state.id);
      })();
    }]], {
      processors: [async (handler) => {
        seenState.push({ ...ctx.state });
        ctx.state.id = ctx.path.slice(5);
        await sleep(Math.random() * 5);
        return handler();
      }],
    });
    const responses = await Promise.all(Array.from({ length: 100 }, (_, i) => call(app, `/req/${i}`)));
    responses.forEach((response, i) => {
      expect(response.status).toBe("200 OK");
      expect(response.header("X-Id")).toBe(String(i));
      expect(response.header("X-Id")).toBe(response.headers.find(([name]) => name === "X-Id")?.[1]);
      expect(response.headers.filter(([name]) => name === "X-Id")).toHaveLength(1);
      expect(response.body).toBe(`/req/${i} ${i}`);
    });
    // Every request started with a fresh, empty state.
    expect(seenState).toEqual(Array.from({ length: 100 }, () => ({})));
  });
});

describe("processors", () => {
  test("they run in order, each around the next, and see the handler's result", async () => {
    const order: string[] = [];
    const app = application([["/", () => {
      order.push("handler");
      return "body";
    }]], {
      processors: [
        (handler) => {
          order.push("first in");
          const result = handler();
          order.push(`first out (${String(result)})`);
          return result;
        },
        (handler) => {
          order.push("second in");
          const result = handler();
          order.push("second out");
          return `[${String(result)}]`;
        },
      ],
    });
    const response = await call(app, "/");
    expect(order).toEqual(["first in", "second in", "handler", "second out", "first out ([body])"]);
    expect(response.body).toBe("[body]");
  });

  test("addProcessor adds inside the existing ones and returns the application", async () => {
    const order: string[] = [];
    const app = application([["/", () => "x"]], { processors: [(handler) => (order.push("a"), handler())] });
    expect(app.addProcessor((handler) => (order.push("b"), handler()))).toBe(app);
    expect(app.processors).toHaveLength(2);
    await call(app, "/");
    expect(order).toEqual(["a", "b"]);
    expect(() => app.addProcessor("nope" as never)).toThrow(TypeError);
  });

  test("an async processor can wait before and after the handler", async () => {
    const app = application([["/", async () => "inner"]], {
      processors: [async (handler) => {
        await sleep(2);
        const result = await handler();
        await sleep(2);
        return `${String(result)}+outer`;
      }],
    });
    expect((await call(app, "/")).body).toBe("inner+outer");
  });

  test("a processor can turn an HttpError into another response, or raise one itself", async () => {
    const guard: Processor = (handler) => {
      if (ctx.path.startsWith("/admin")) throw seeOther("/login");
      return handler();
    };
    const soft404: Processor = async (handler) => {
      try {
        return await handler();
      } catch (error) {
        ctx.status = "200 OK";
        return `soft: ${(error as Error).message}`;
      }
    };
    const app = application([["/ok", () => "ok"]], { processors: [guard, soft404] });
    expect((await call(app, "/admin/x")).header("Location")).toBe("/login");
    expect((await call(app, "/missing")).body).toBe("soft: 404 Not Found");
  });

  test("headers set before an HttpError are kept, except the ones the error sets", async () => {
    const app = application([["/login", () => {
      header("Set-Cookie", "session=1");
      header("Content-Type", "text/html");
      throw seeOther("/home");
    }]]);
    const response = await call(app, "/login", { method: "POST", body: "" });
    expect(response.status).toBe("303 See Other");
    expect(response.header("Set-Cookie")).toBe("session=1");
    expect(response.headers.filter(([name]) => name.toLowerCase() === "content-type")).toEqual([["Content-Type", "text/plain; charset=utf-8"]]);
  });

  test("any other error propagates to the gateway: a 500 with the trace in gw.errors only", async () => {
    const app = application([["/", () => {
      throw new Error("handler bug 1234");
    }]]);
    const response = await call(app, "/");
    expect(response.code).toBe(500);
    expect(response.body).not.toContain("1234");
    expect(response.errors).toContain("Error: handler bug 1234");
  });

  test("loadHook runs before every handler, and may be async", async () => {
    const calls: string[] = [];
    const app = application([["/(\\w+)", (name: string) => {
      calls.push(`handler ${name}`);
      return String(ctx.state.user);
    }]], {
      processors: [loadHook(() => calls.push("sync hook")), loadHook(async () => {
        await sleep(1);
        ctx.state.user = "ada";
      })],
    });
    expect((await call(app, "/x")).body).toBe("ada");
    expect(calls).toEqual(["sync hook", "handler x"]);
  });
});
