// The dev error page's parts: stack frames sorted into the user's and everyone else's, and the
// source excerpt around a failing line.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { runtimeErrorPage, sourceExcerpt, stackFrames } from "../../../src/dev/error-page.ts";
import { ROOT } from "../../helpers/gw.ts";
import { setupTestingDefaults } from "../../../src/core/util.ts";

const dir = mkdtempSync(join(tmpdir(), "gw-error-page-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, "app.ts");
writeFileSync(file, ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"].join("\n"));

describe("stackFrames", () => {
  test("the user's files are theirs; gw's src and dist, node_modules and node: are not", () => {
    const stack = [
      "Error: boom",
      `    at lookup (${file}:3:7)`,
      `    at ${pathToFileURL(file).href}:8:1`,
      `    at callApp (${pathToFileURL(join(ROOT, "dist", "core", "util.js")).href}:44:64)`,
      `    at DevHandler.run (${join(ROOT, "src", "gateway", "base-handler.ts")}:155:22)`,
      "    at Layer.handle (/srv/app/node_modules/express/lib/router/layer.js:95:5)",
      "    at process.processTicksAndRejections (node:internal/process/task_queues:105:5)",
    ].join("\n");
    const frames = stackFrames(stack);
    expect(frames.map((frame) => frame.isUser)).toEqual([true, true, false, false, false, false]);
    expect(frames.slice(0, 2).map((frame) => [frame.file, frame.line, frame.column])).toEqual([[file, 3, 7], [file, 8, 1]]);
  });
});

describe("sourceExcerpt", () => {
  test("three lines either side, the failing one marked, numbers aligned", () => {
    expect(sourceExcerpt(file, 8)).toBe(["   5 | five", "   6 | six", "   7 | seven", ">  8 | eight", "   9 | nine", "  10 | ten"].join("\n"));
    expect(sourceExcerpt(file, 1)!.split("\n")[0]).toBe("> 1 | one");
  });

  test("a missing file or a line past the end gives nothing", () => {
    expect(sourceExcerpt(join(dir, "gone.ts"), 1)).toBeUndefined();
    expect(sourceExcerpt(file, 11)).toBeUndefined();
  });
});

describe("runtimeErrorPage", () => {
  test("a thrown non-Error is shown by its string form, with the request line", () => {
    const environ = setupTestingDefaults({ REQUEST_METHOD: "POST", PATH_INFO: "/x", QUERY_STRING: "a=1" });
    const page = runtimeErrorPage("just a string", environ);
    expect(page.status).toBe("500 Internal Server Error");
    expect(page.body).toBe("gw: POST /x?a=1 HTTP/1.0 failed\n\nnon-Error thrown: just a string\n");
  });

  test("a thrown object is shown as Node would print it, not [object Object]", () => {
    const page = runtimeErrorPage({ code: 42, reason: "nope" }, setupTestingDefaults({}));
    expect(String(page.body).split("\n")[2]).toBe("non-Error thrown: { code: 42, reason: 'nope' }");
  });

  test("causes and an AggregateError's errors are named, on the text page and the HTML one", () => {
    const error = new AggregateError([new RangeError("first"), "second"], "all failed", { cause: new Error("outer", { cause: new TypeError("inner") }) });
    const text = String(runtimeErrorPage(error, setupTestingDefaults({})).body);
    expect(text.split("\n").slice(2, 7)).toEqual([
      "AggregateError: all failed",
      "  error: RangeError: first",
      "  error: non-Error thrown: second",
      "  caused by Error: outer",
      "  caused by TypeError: inner",
    ]);
    const html = String(runtimeErrorPage(error, setupTestingDefaults({ HTTP_ACCEPT: "text/html" })).body);
    expect(html).toContain("<p>caused by TypeError: inner</p>");
    // The full trace, as Node prints it, has the causes' stacks too.
    expect(html).toMatch(/\[cause\]: Error: outer/);
  });

  test("HTML only when Accept lists text/html with a q above 0", () => {
    const type = (accept: string): string => runtimeErrorPage(new Error("x"), setupTestingDefaults({ HTTP_ACCEPT: accept })).headers[0]![1];
    expect(type("text/html,application/xhtml+xml,*/*;q=0.8")).toBe("text/html; charset=utf-8");
    expect(type("application/json, text/html;q=0.5")).toBe("text/html; charset=utf-8");
    expect(type("text/html;q=0")).toBe("text/plain; charset=utf-8");
    expect(type("text/html; q=0.0, */*")).toBe("text/plain; charset=utf-8");
    expect(type("*/*")).toBe("text/plain; charset=utf-8");
  });

  test("a TypeError a Node listener throws when called as a gw app gets a hint to use --node", () => {
    const listener = (_req: unknown, res: { setHeader(name: string, value: string): void }): void => res.setHeader("a", "b");
    let error: unknown;
    try {
      listener({}, (() => {}) as never);
    } catch (caught) {
      error = caught;
    }
    expect(String(runtimeErrorPage(error, setupTestingDefaults({})).body)).toContain("serve it with --node");
    // Before the first frame: the source excerpt below quotes this test's own lines.
    const other = String(runtimeErrorPage(new TypeError("x.map is not a function"), setupTestingDefaults({})).body);
    expect(other.split("\n  at ")[0]).toBe("gw: GET / HTTP/1.0 failed\n\nTypeError: x.map is not a function");
  });
});
