// The template library (Templetor's features as `html`): escaping by position, raw, nesting,
// iterables, each() and its loop, and the streaming of promises and async iterables.
import { describe, expect, test } from "vitest";
import { escapeHtml } from "../../../src/core/util.ts";
import { each, html, raw, safeUrl, type Html, type HtmlValue, type Loop, type PageVars } from "../../../src/app/template.ts";
import { ctx, header } from "../../../src/app/context.ts";
import { notFound } from "../../../src/app/http-errors.ts";
import { application, loadHook } from "../../../src/app/router.ts";
import { call } from "../../helpers/call.ts";
import { list } from "./fixtures/broken-template.ts";

async function chunksOf(page: Html): Promise<string[]> {
  const chunks: string[] = [];
  for await (const chunk of page) chunks.push(chunk);
  return chunks;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

describe("escaping", () => {
  test.each([
    ["&", "&amp;"],
    ["<", "&lt;"],
    [">", "&gt;"],
    ['"', "&quot;"],
    ["'", "&#x27;"],
  ])("%s in text and in quoted attributes", (char, entity) => {
    expect(html`<p>${char}</p>`.toString()).toBe(`<p>${entity}</p>`);
    expect(html`<p>a${char}b${char}</p>`.toString()).toBe(`<p>a${entity}b${entity}</p>`);
    expect(html`<a title="${char}">x</a>`.toString()).toBe(`<a title="${entity}">x</a>`);
    expect(html`<a title='${char}'>x</a>`.toString()).toBe(`<a title='${entity}'>x</a>`);
  });

  test("a value with nothing to escape is the same string; mixed text is escaped throughout", () => {
    expect(escapeHtml("plain text")).toBe("plain text");
    expect(html`${`<script>alert("x" & 'y')</script>`}`.toString()).toBe("&lt;script&gt;alert(&quot;x&quot; &amp; &#x27;y&#x27;)&lt;/script&gt;");
    expect(html`${"Zürich ✓ 😀 <"}`.toString()).toBe("Zürich ✓ 😀 &lt;");
  });

  test("a value right after name= is escaped and quoted", () => {
    expect(html`<input value=${`a b" onfocus='x'`}>`.toString()).toBe(`<input value="a b&quot; onfocus=&#x27;x&#x27;">`);
    expect(html`<input value=${5} />`.toString()).toBe(`<input value="5" />`);
    expect(html`<input value=${null}>`.toString()).toBe(`<input value="">`);
  });

  test("a value inside an unquoted attribute value is refused at the call site", () => {
    expect(() => html`<a class=big${"x"}>`).toThrow(/inside an unquoted attribute value .*put the attribute value in quotes/);
    expect(() => html`<a class=${"x"}big>`).toThrow(/put it in quotes/);
  });

  test("text where attribute names go, or in <script> and <style>, is refused; raw markup is taken", () => {
    expect(() => html`<input ${"onfocus=alert(1)"}>`).toThrow(/where attribute names go/);
    expect(() => html`<${"script"}>`).toThrow(/where attribute names go/);
    expect(html`<input ${raw("checked")} ${false}>`.toString()).toBe("<input checked >");
    expect(() => html`<script>let x = ${"</script>"};</script>`).toThrow(/inside <script> or <style>/);
    expect(() => html`<style>a { color: ${"red"} }</style>`).toThrow(/inside <script> or <style>/);
    expect(html`<script>let n = ${42};</script><p>${"<"}</p>`.toString()).toBe("<script>let n = 42;</script><p>&lt;</p>");
  });

  test("a comment, a doctype and an end tag do not confuse the positions", () => {
    expect(html`<!doctype html><!-- a <b> --><p title="${"<"}">${"&"}</p><br/>${"'"}`.toString())
      .toBe(`<!doctype html><!-- a <b> --><p title="&lt;">&amp;</p><br/>&#x27;`);
  });
});

describe("values", () => {
  test("raw is not escaped, and nested Html is never escaped twice", () => {
    const inner = html`<b>${"<i>"}</b>`;
    expect(html`<p>${raw("<em>ok</em>")}${inner}</p>`.toString()).toBe("<p><em>ok</em><b>&lt;i&gt;</b></p>");
    expect(html`${html`${html`${"&"}`}`}`.toString()).toBe("&amp;");
    expect(() => raw(5 as unknown as string)).toThrow(/raw\(\) takes a string/);
  });

  test("an Html is reusable: the same text every time, in several pages", async () => {
    const part = html`<i>${"a&b"}</i>`;
    expect(html`${part}${part}`.toString()).toBe("<i>a&amp;b</i><i>a&amp;b</i>");
    expect(await part.text()).toBe("<i>a&amp;b</i>");
    expect(await chunksOf(part)).toEqual(["<i>a&amp;b</i>"]);
    expect(await chunksOf(part)).toEqual(["<i>a&amp;b</i>"]);
    expect(await chunksOf(html``)).toEqual([]);
  });

  test("arrays and iterables concatenate, their strings escaped; null, undefined and false are nothing", () => {
    function* items(): Generator<HtmlValue> {
      yield "<a>";
      yield html`<b>`;
      yield [1, [2n, null]];
    }
    expect(html`${["x", "&", html`<br>`]}|${new Set(["s"])}|${items()}`.toString()).toBe("x&amp;<br>|s|&lt;a&gt;<b>12");
    expect(html`[${null}${undefined}${false}${[]}${0}${""}]`.toString()).toBe("[0]");
    expect(html`${-1.5} ${12345678901234567890n}`.toString()).toBe("-1.5 12345678901234567890");
  });

  test("any other value is a type error, and a clear runtime error naming the place", () => {
    // @ts-expect-error an object is not an HtmlValue
    expect(() => html`<p>${{ a: 1 }}</p>`).toThrow(/cannot render an object at \$\{…\} #1 \(after "<p>"\)/);
    // @ts-expect-error true is not an HtmlValue (only false renders nothing)
    expect(() => html`${true}`).toThrow(/cannot render the boolean true/);
    // @ts-expect-error a function is not an HtmlValue
    expect(() => html`<p>${() => "x"}</p>`).toThrow(/cannot render a function/);
    // @ts-expect-error a Date is not an HtmlValue
    expect(() => html`${new Date(0)}`).toThrow(/cannot render a Date/);
    // @ts-expect-error a symbol is not an HtmlValue
    expect(() => html`${Symbol("s")}`).toThrow(/cannot render a symbol/);
  });

  test("safeUrl passes relative and http(s)/mailto/tel URLs, and blocks script schemes however written", () => {
    for (const url of ["/a?b=c", "page.html", "https://example.com/", "HTTP://x", "mailto:a@b.c", "tel:+1", "#top", "a/b:c"]) {
      expect(safeUrl(url)).toBe(url);
    }
    for (const url of ["javascript:alert(1)", "JavaScript:x", " javascript:x", "java\tscript:x", "\u0001javascript:x", "data:text/html,x", "vbscript:x"]) {
      expect(safeUrl(url)).toBe("about:invalid#unsafe-url");
    }
    expect(html`<a href="${safeUrl("javascript:x")}">`.toString()).toBe('<a href="about:invalid#unsafe-url">');
  });
});

describe("each", () => {
  const fields = (name: string, loop: Loop): Html =>
    html`${name}:${loop.index},${loop.index0},${String(loop.first)},${String(loop.last)},${String(loop.odd)},${String(loop.even)},${loop.parity},${loop.revindex},${loop.revindex0},${loop.length};`;

  test("three items: every loop field", () => {
    expect(each(["a", "b", "c"], fields).toString()).toBe(
      "a:1,0,true,false,true,false,odd,3,2,3;" +
      "b:2,1,false,false,false,true,even,2,1,3;" +
      "c:3,2,false,true,true,false,odd,1,0,3;",
    );
  });

  test("one item is first and last", () => {
    expect(each(new Set(["a"]), fields).toString()).toBe("a:1,0,true,true,true,false,odd,1,0,1;");
  });

  test("no items: nothing, or the else value or function", () => {
    expect(each([], fields).toString()).toBe("");
    expect(each([], fields, html`<p>none</p>`).toString()).toBe("<p>none</p>");
    expect(each([], fields, () => "<none>").toString()).toBe("&lt;none&gt;");
    expect(each(["x"], fields, "unused").toString()).toBe("x:1,0,true,true,true,false,odd,1,0,1;");
  });

  test("each escapes what its function returns and keeps each loop its own", async () => {
    const loops: number[] = [];
    const page = each(["<", ">"], async (item, loop) => {
      await Promise.resolve();
      loops.push(loop.index);
      return item;
    });
    expect(await page.text()).toBe("&lt;&gt;");
    expect(loops).toEqual([1, 2]);
  });
});

describe("async values", () => {
  test("a promise: the text before it is one chunk, sent before the promise resolves", async () => {
    const slow = deferred<HtmlValue>();
    const page = html`<head>${"&"}</head>${slow.promise}<footer></footer>`;
    expect(page.isAsync).toBe(true);
    expect(() => page.toString()).toThrow(/await page.text\(\)/);
    const iterator = page[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: "<head>&amp;</head>" });
    const next = iterator.next();
    slow.resolve(html`<main>${"<"}</main>`);
    expect(await next).toEqual({ done: false, value: "<main>&lt;</main><footer></footer>" });
    expect((await iterator.next()).done).toBe(true);
  });

  test("promises and async iterables stream in order, whatever order they resolve in, and nest", async () => {
    const late = new Promise<string>((resolve) => setTimeout(() => resolve("<1>"), 30));
    const early = Promise.resolve(html`<2>${Promise.resolve("&")}`);
    async function* rows(): AsyncGenerator<HtmlValue> {
      yield html`<tr>`;
      await new Promise((resolve) => setTimeout(resolve, 5));
      yield ["x", Promise.resolve("y")];
    }
    const page = html`[${late}|${early}|${rows()}|${[Promise.resolve(3)]}]`;
    expect(await page.text()).toBe("[&lt;1&gt;|<2>&amp;|<tr>xy|3]");
    const chunks = await chunksOf(html`a${Promise.resolve("b")}c`);
    expect(chunks).toEqual(["a", "bc"]);
  });

  test("a pending value keeps its position: in a quoted attribute it is escaped, after name= it is quoted", async () => {
    expect(await html`<a title="${Promise.resolve('"')}" id=${Promise.resolve("x y")}>`.text()).toBe('<a title="&quot;" id="x y">');
    await expect(html`<p ${Promise.resolve("onclick=x")}>`.text()).rejects.toThrow(/where attribute names go/);
  });

  test("a rejected value before the first chunk: the first read throws", async () => {
    const page = html`${Promise.reject(new Error("db down"))}<p>after</p>`;
    const iterator = page[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toThrow("db down");
    await expect(page.text()).rejects.toThrow("db down");
  });

  test("a rejected value after the first chunk: the first chunk arrives, then the error", async () => {
    const page = html`<h1>top</h1>${Promise.reject(new Error("late failure"))}`;
    const iterator = page[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: "<h1>top</h1>" });
    await expect(iterator.next()).rejects.toThrow("late failure");
  });

  test("an async iterable that fails midway, and one left early, are closed", async () => {
    let isClosed = false;
    async function* failing(): AsyncGenerator<string> {
      try {
        yield "one";
        throw new Error("row 2 failed");
      } finally {
        isClosed = true;
      }
    }
    await expect(html`${failing()}`.text()).rejects.toThrow("row 2 failed");
    expect(isClosed).toBe(true);

    let isReturned = false;
    async function* endless(): AsyncGenerator<string> {
      try {
        for (;;) yield "x";
      } finally {
        isReturned = true;
      }
    }
    const iterator = html`<p>${endless()}`[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();
    await iterator.return!();
    expect(isReturned).toBe(true);
  });

  test("a page with a rejected promise that is never read does not raise an unhandled rejection", async () => {
    const seen: unknown[] = [];
    const onRejection = (reason: unknown): void => void seen.push(reason);
    process.on("unhandledRejection", onRejection);
    try {
      html`${Promise.reject(new Error("never read"))}`;
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.off("unhandledRejection", onRejection);
    }
    expect(seen).toEqual([]);
  });
});

test("a throw inside a template function names the template module's line", () => {
  let error: unknown;
  try {
    list();
  } catch (caught) {
    error = caught;
  }
  expect((error as Error).message).toBe("no user");
  expect((error as Error).stack).toMatch(/broken-template\.ts:8:\d+/);
});

// ---- through application(): layout, vars, Content-Type, streaming and errors ----------------------

declare module "../../../src/app/template.ts" {
  interface PageVars {
    user?: string;
  }
}

const layout = (page: Html, vars: PageVars): Html =>
  html`<title>${vars.title ?? "untitled"}</title>${vars.user === undefined ? false : html`<nav>${vars.user}</nav>`}<main>${page}</main>`;

describe("through application()", () => {
  test("every Html a handler returns is wrapped in the layout with the vars it set, as text/html", async () => {
    const app = application([
      ["/", () => {
        ctx.vars.title = "Home & away";
        return html`<p>${"<hi>"}</p>`;
      }],
      ["/bare", () => html`<p>no vars</p>`],
    ], { layout });
    const home = await call(app, "/");
    expect(home.body).toBe("<title>Home &amp; away</title><main><p>&lt;hi&gt;</p></main>");
    expect(home.header("Content-Type")).toBe("text/html; charset=utf-8");
    expect(home.header("Content-Length")).toBe(String(home.bytes.length));
    expect((await call(app, "/bare")).body).toBe("<title>untitled</title><main><p>no vars</p></main>");
    // @ts-expect-error a var PageVars does not declare is a type error
    expect(() => (ctx.vars.titel = "x")).toThrow(/only available while an application handles a request/);
  });

  test("a processor sets vars for every page; strings and JSON are not wrapped; a handler's type wins", async () => {
    const app = application([
      ["/page", () => html`<p>page</p>`],
      ["/text", () => "plain"],
      ["/svg", () => {
        header("Content-Type", "image/svg+xml");
        return html`<svg></svg>`;
      }],
    ], { layout, processors: [loadHook(() => void (ctx.vars.user = "ada"))] });
    expect((await call(app, "/page")).body).toBe("<title>untitled</title><nav>ada</nav><main><p>page</p></main>");
    const text = await call(app, "/text");
    expect([text.body, text.header("Content-Type")]).toEqual(["plain", "text/plain; charset=utf-8"]);
    const svg = await call(app, "/svg");
    expect(svg.header("Content-Type")).toBe("image/svg+xml");
  });

  test("without a layout an Html is sent as it is, as text/html; an async handler's Html too", async () => {
    const app = application([["/", async () => {
      await Promise.resolve();
      return html`<p>${"&"}</p>`;
    }]]);
    const page = await call(app, "/");
    expect([page.body, page.header("Content-Type")]).toEqual(["<p>&amp;</p>", "text/html; charset=utf-8"]);
  });

  test("the innermost application with a layout wraps the page, once", async () => {
    const inner = application([["/a", () => html`a`]], { layout: (page) => html`<inner>${page}</inner>` });
    const plain = application([["/b", () => html`b`]]);
    const outer = application([["/in", inner], ["/plain", plain]], { layout: (page) => html`<outer>${page}</outer>` });
    expect((await call(outer, "/in/a")).body).toBe("<inner>a</inner>");
    expect((await call(outer, "/plain/b")).body).toBe("<outer>b</outer>");
  });

  test("a streamed page: the layout's top goes first, then the pending part, chunked", async () => {
    const app = application([["/", () => html`<p>${new Promise((resolve) => setTimeout(() => resolve("late"), 20))}</p>`]], { layout });
    const page = await call(app, "/");
    expect(page.body).toBe("<title>untitled</title><main><p>late</p></main>");
    expect(page.header("Content-Type")).toBe("text/html; charset=utf-8");
    expect(page.header("Content-Length")).toBeUndefined();
  });

  test("a pending value failing before the first chunk is a 500, or the HttpError's own response", async () => {
    const app = application([
      ["/fail", () => html`${Promise.reject(new Error("db down"))}<p>after</p>`],
      ["/missing", () => html`${Promise.reject(notFound("no such page\n"))}`],
    ]);
    const failed = await call(app, "/fail");
    expect([failed.code, failed.isCut]).toEqual([500, false]);
    expect(failed.errors).toContain("db down");
    const missing = await call(app, "/missing");
    expect([missing.code, missing.body]).toEqual([404, "no such page\n"]);
  });

  test("a pending value failing after the first chunk cuts the response", async () => {
    const app = application([["/", () => html`<h1>top</h1>${Promise.reject(new Error("late failure"))}`]], { layout });
    const page = await call(app, "/");
    expect(page.code).toBe(200);
    expect(page.isCut).toBe(true);
    expect(page.body).toContain("<h1>top</h1>");
    expect(page.errors).toContain("late failure");
  });
});
