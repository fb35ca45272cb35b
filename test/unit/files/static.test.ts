// staticApp over real sockets on 127.0.0.1: the SimpleHTTPServerTestCase cases of CPython's
// test_httpservers, listings, validators and 304s, byte ranges, MIME types, a traversal corpus
// that must never leak a byte from outside the root, and streaming with bounded memory.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decodePath } from "../../../src/core/environ.ts";
import { UserError } from "../../../src/core/errors.ts";
import { makeServer, type HttpServer } from "../../../src/server/http.ts";
import { staticApp } from "../../../src/files/static.ts";
import { validator } from "../../../src/core/validate.ts";
import { RawConnection, rawExchange, sendRequest, sleep, waitUntil } from "../../helpers/http-client.ts";
import { runInMemory } from "../../helpers/memory.ts";

const DATA = "We are the knights who say Ni!";
const SECRET = "TOP-SECRET-7f3a9c";

let base: string;
let root: string;
let server: HttpServer;
let log = "";
let lastModified: Date;

function recordingSink(): { write(text: string): boolean } {
  return { write: (text: string) => ((log += text), true) };
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "gw-static-"));
  root = join(base, "www");
  const outside = join(base, "outside");
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, "secret.txt"), SECRET);
  writeFileSync(join(base, "secret.txt"), SECRET);
  writeFileSync(join(root, "test"), DATA);
  lastModified = new Date(Math.floor(Date.now() / 1000) * 1000 - 3600_000);
  utimesSync(join(root, "test"), lastModified, lastModified);
  mkdirSync(join(root, "spam", "index.html"), { recursive: true });
  mkdirSync(join(root, "withindex"));
  writeFileSync(join(root, "withindex", "index.html"), "Dummy index file\r\n");
  mkdirSync(join(root, "withhtm"));
  writeFileSync(join(root, "withhtm", "index.htm"), "<p>htm index</p>");
  mkdirSync(join(root, "list"));
  for (const name of ["<test&>.txt", "a b#c?d%e.txt", "ünïcode.txt", "Banana.txt", "apple.txt", "'quote\".txt"]) writeFileSync(join(root, "list", name), name);
  mkdirSync(join(root, "list", "Zfolder"));
  mkdirSync(join(root, "list", "afolder"));
  symlinkSync("apple.txt", join(root, "list", "link-to-apple"));
  symlinkSync("afolder", join(root, "list", "link-to-folder"));
  for (const [name, content] of [["page.html", "<h1>hi</h1>"], ["style.css", "p{}"], ["app.js", "1"], ["data.json", "{}"], ["image.png", "png"], ["UPPER.HTML", "x"], ["notes.md", "# x"]]) {
    writeFileSync(join(root, name!), content!);
  }
  writeFileSync(join(root, "digits.txt"), "0123456789");
  writeFileSync(join(root, "empty.txt"), "");
  // Symbolic links: one inside the root (fine), several leading out of it (never followed).
  symlinkSync("test", join(root, "link-in"));
  symlinkSync(join(outside, "secret.txt"), join(root, "link-out"));
  symlinkSync(outside, join(root, "link-out-dir"));
  mkdirSync(join(root, "sub"));
  symlinkSync("../../outside", join(root, "sub", "link-up"));
  symlinkSync("../../secret.txt", join(root, "sub", "link-up-file"));
  // A sparse 1 GiB file: no disk used, and serving it must not load it into memory.
  writeFileSync(join(root, "huge.bin"), "");
  truncateSync(join(root, "huge.bin"), 1024 ** 3);
  server = await makeServer("127.0.0.1", 0, validator(staticApp(root)), { log: recordingSink(), errors: recordingSink() });
  void server.serveForever();
});

afterAll(async () => {
  await server?.shutdown(500);
  rmSync(base, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}, method: string = "GET") => sendRequest(server.url, path, { headers, method });

describe("SimpleHTTPServerTestCase (CPython test_httpservers)", () => {
  test("test_get: files, folders, redirects and 404s", async () => {
    const file = await get("/test");
    expect([file.status, file.body.toString()]).toEqual([200, DATA]);
    // Issue17324: a trailing slash on a file names a folder, which it is not.
    expect((await get("/test/")).status).toBe(404);
    expect((await get("/")).status).toBe(200);
    const redirect = await get("/withindex");
    expect([redirect.status, redirect.headers["content-length"], redirect.headers.location]).toEqual([301, "0", "/withindex/"]);
    expect((await get("/list/?hi=2")).status).toBe(200);
    const withQuery = await get("/list?hi=1");
    expect([withQuery.status, withQuery.headers.location]).toEqual([301, "/list/?hi=1"]);
    expect((await get("/ThisDoesNotExist")).status).toBe(404);
    expect((await get("/ThisDoesNotExist/")).status).toBe(404);
    // A folder called index.html is not an index file: the folder is listed.
    const spam = await get("/spam/");
    expect([spam.status, spam.body.toString()]).toEqual([200, expect.stringContaining('href="index.html/"')]);
    const index = await get("/withindex/");
    expect([index.status, index.body.toString(), index.headers["content-type"]]).toEqual([200, "Dummy index file\r\n", "text/html; charset=utf-8"]);
    expect((await get("/withhtm/")).body.toString()).toBe("<p>htm index</p>");
  });

  test("test_head: headers, no body", async () => {
    const response = await get("/test", {}, "HEAD");
    expect([response.status, response.headers["content-length"], response.headers["content-type"], response.body.length]).toEqual([200, String(DATA.length), "application/octet-stream", 0]);
  });

  test("test_browser_cache: If-Modified-Since at or after Last-Modified is a 304", async () => {
    const same = await get("/test", { "If-Modified-Since": lastModified.toUTCString() });
    expect([same.status, same.body.length]).toEqual([304, 0]);
    const later = await get("/test", { "If-Modified-Since": new Date(lastModified.getTime() + 3600_000).toUTCString() });
    expect(later.status).toBe(304);
  });

  test("test_browser_cache_file_changed: an older If-Modified-Since is a 200", async () => {
    const older = await get("/test", { "If-Modified-Since": new Date(lastModified.getTime() - 365 * 86400_000).toUTCString() });
    expect([older.status, older.body.toString()]).toEqual([200, DATA]);
  });

  test("test_browser_cache_with_If_None_Match_header: If-None-Match overrides If-Modified-Since", async () => {
    const stale = await get("/test", { "If-Modified-Since": lastModified.toUTCString(), "If-None-Match": '"not-the-tag"' });
    expect(stale.status).toBe(200);
    // http.server ignores the tag's value and answers 200 even for "*"; RFC 9110 §13.1.2 says "*" matches.
    expect((await get("/test", { "If-Modified-Since": lastModified.toUTCString(), "If-None-Match": "*" })).status).toBe(304);
  });

  test("test_invalid_requests: methods other than GET and HEAD are 501s", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const response = await get("/test", {}, method);
      expect([method, response.status, response.headers.allow]).toEqual([method, 501, "GET, HEAD"]);
    }
  });

  test("test_last_modified: the file's mtime to the second", async () => {
    const response = await get("/test");
    expect(response.headers["last-modified"]).toBe(lastModified.toUTCString());
  });

  test("test_path_without_leading_slash: served on the wire as http.server serves it, and from PATH_INFO", async () => {
    const wire = (await rawExchange(server.url, "GET test HTTP/1.0\r\n\r\n")).toString("latin1");
    expect(wire).toMatch(/^HTTP\/1\.1 200 /);
    expect(wire.endsWith(`\r\n\r\n${DATA}`)).toBe(true);
    const app = staticApp(root);
    const file = await runInMemory(app, { PATH_INFO: "test", SCRIPT_NAME: "" });
    expect([file.head.split("\r\n")[0], file.body.toString()]).toEqual(["Status: 200 OK", DATA]);
    const folder = await runInMemory(app, { PATH_INFO: "withindex", SCRIPT_NAME: "", QUERY_STRING: "hi=1" });
    expect(folder.head).toContain("Location: /withindex/?hi=1\r\n");
    expect((await runInMemory(app, { PATH_INFO: "test/", SCRIPT_NAME: "" })).head).toMatch(/^Status: 404 /);
  });

  test("test_html_escape_filename: names are escaped in the listing, which names its charset", async () => {
    const response = await get("/list/");
    expect(response.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(response.body.toString()).toContain(">&lt;test&amp;&gt;.txt<");
  });

  test("test_get_dir_redirect_location_domain_injection_bug: Location never starts with //", async () => {
    const url = "/python.org/..%2f..%2f..%2f..%2f..%2f../%0a%0d/../withindex";
    for (const attack of [url, `/${url}`, `//${url}`]) {
      const response = await rawExchange(server.url, `GET ${attack} HTTP/1.0\r\n\r\n`);
      const text = response.toString("latin1");
      // ".." above the root is refused outright here, where http.server clamps it to the root.
      expect(text).toMatch(/^HTTP\/1\.1 404 /);
      expect(text).not.toMatch(/\r\nLocation: \/\//i);
    }
    const inside = await get("//python.org/../withindex?q");
    expect([inside.status, inside.headers.location]).toEqual([301, "/withindex/?q"]);
  });
});

describe("listings", () => {
  test("sorted folders first, then files, without regard to case; folders end in /, links in @", async () => {
    const html = (await get("/list/")).body.toString();
    const names = Array.from(html.matchAll(/<li[^>]*><a href="[^"]*">([^<]*)<\/a><\/li>/g), (match) => match[1]);
    expect(names).toEqual([
      "../", "afolder/", "link-to-folder@", "Zfolder/",
      "&#x27;quote&quot;.txt", "&lt;test&amp;&gt;.txt", "a b#c?d%e.txt", "apple.txt", "Banana.txt", "link-to-apple@", "ünïcode.txt",
    ]);
  });

  test("hrefs are percent-encoded, so every name links to itself", async () => {
    const html = (await get("/list/")).body.toString();
    expect(html).toContain('href="a%20b%23c%3Fd%25e.txt"');
    expect(html).toContain('href="%C3%BCn%C3%AFcode.txt"');
    expect(html).toContain('href="%3Ctest%26%3E.txt"');
    expect(html).toContain('href="link-to-folder/"');
    for (const href of Array.from(html.matchAll(/href="([^"]*\.txt)"/g), (match) => match[1]!)) {
      const response = await get(`/list/${href}`);
      expect([href, response.status]).toEqual([href, 200]);
    }
  });

  test("the top folder has no ../ link and shows only what is inside the root", async () => {
    const html = (await get("/")).body.toString();
    expect(html).not.toContain('href="../"');
    expect(html).toContain("<title>Directory listing for /</title>");
    expect(html).not.toContain(SECRET);
  });

  test("a listing is a complete HTML page with a length", async () => {
    const response = await get("/list/");
    expect(Number(response.headers["content-length"])).toBe(response.body.length);
    expect(response.body.toString()).toMatch(/^<!DOCTYPE html>\n<html lang="en">[\s\S]*<\/html>\n$/);
  });
});

describe("validators, 304 and ranges", () => {
  test("ETag and If-None-Match: a match is a 304 with the validators and no body", async () => {
    const first = await get("/test");
    const tag = first.headers.etag!;
    expect(tag).toMatch(/^"[0-9a-z]+-[0-9a-z]+-[0-9a-z]+"$/);
    const again = await get("/test", { "If-None-Match": `"other", W/${tag}` });
    expect([again.status, again.headers.etag, again.headers["last-modified"], again.body.length]).toEqual([304, tag, first.headers["last-modified"], 0]);
  });

  test("a changed file gets a new ETag and a 200", async () => {
    writeFileSync(join(root, "changing.txt"), "one");
    const tag = (await get("/changing.txt")).headers.etag!;
    writeFileSync(join(root, "changing.txt"), "two!");
    const response = await get("/changing.txt", { "If-None-Match": tag });
    expect([response.status, response.body.toString()]).toEqual([200, "two!"]);
    expect(response.headers.etag).not.toBe(tag);
  });

  test.each([
    ["bytes=0-3", 206, "0123", "bytes 0-3/10"],
    ["bytes=7-", 206, "789", "bytes 7-9/10"],
    ["bytes=-2", 206, "89", "bytes 8-9/10"],
    ["bytes=5-100", 206, "56789", "bytes 5-9/10"],
    ["bytes=-100", 206, "0123456789", "bytes 0-9/10"],
    ["bytes=0-0,5-6", 200, "0123456789", undefined],
    ["bytes=5-2", 200, "0123456789", undefined],
    ["items=0-3", 200, "0123456789", undefined],
  ])("Range %s", async (range, status, body, contentRange) => {
    const response = await get("/digits.txt", { Range: range });
    expect([response.status, response.body.toString(), response.headers["content-range"], response.headers["content-length"]]).toEqual([status, body, contentRange, String(body.length)]);
  });

  test("an unsatisfiable range is a 416 that names the size", async () => {
    for (const range of ["bytes=10-", "bytes=99-100", "bytes=-0"]) {
      const response = await get("/digits.txt", { Range: range });
      expect([range, response.status, response.headers["content-range"]]).toEqual([range, 416, "bytes */10"]);
    }
  });

  test("If-Range: the range applies only while the validator still matches", async () => {
    const { etag, "last-modified": modified } = (await get("/digits.txt")).headers;
    expect((await get("/digits.txt", { Range: "bytes=0-1", "If-Range": etag! })).status).toBe(206);
    expect((await get("/digits.txt", { Range: "bytes=0-1", "If-Range": modified! })).status).toBe(206);
    const stale = await get("/digits.txt", { Range: "bytes=0-1", "If-Range": '"old-tag"' });
    expect([stale.status, stale.body.toString()]).toEqual([200, "0123456789"]);
    expect((await get("/digits.txt", { Range: "bytes=0-1", "If-Range": "Thu, 01 Jan 1970 00:00:00 GMT" })).status).toBe(200);
  });

  test("HEAD with a range: the partial headers, no body", async () => {
    const response = await get("/digits.txt", { Range: "bytes=2-4" }, "HEAD");
    expect([response.status, response.headers["content-length"], response.headers["content-range"], response.body.length]).toEqual([206, "3", "bytes 2-4/10", 0]);
  });

  test("a range deep inside a 1 GiB file streams only that range", async () => {
    const start = 1024 ** 3 - 5_000_000;
    const response = await get("/huge.bin", { Range: `bytes=${start}-` });
    expect([response.status, response.body.length, response.headers["content-range"]]).toEqual([206, 5_000_000, `bytes ${start}-${1024 ** 3 - 1}/${1024 ** 3}`]);
  });

  test("an empty file: 200 with Content-Length 0", async () => {
    const response = await get("/empty.txt");
    expect([response.status, response.headers["content-length"], response.body.length]).toEqual([200, "0", 0]);
  });
});

describe("content types", () => {
  test.each([
    ["/page.html", "text/html; charset=utf-8"],
    ["/UPPER.HTML", "text/html; charset=utf-8"],
    ["/style.css", "text/css; charset=utf-8"],
    ["/app.js", "text/javascript; charset=utf-8"],
    ["/data.json", "application/json; charset=utf-8"],
    ["/notes.md", "text/markdown; charset=utf-8"],
    ["/image.png", "image/png"],
    ["/test", "application/octet-stream"],
    ["/link-in", "application/octet-stream"],
  ])("%s is %s", async (path, type) => {
    expect((await get(path)).headers["content-type"]).toBe(type);
  });
});

/**
 * Crafted request targets that try to leave the root. Each is sent byte for byte on a raw
 * connection; none may answer with a byte of the secret, and every one is a 404 (or a 400 when
 * node's parser refuses the request line before gw sees it).
 */
const TRAVERSALS = [
  "/../secret.txt",
  "/../outside/secret.txt",
  "/../../../../../../../../etc/passwd",
  "/..%2fsecret.txt",
  "/..%2Foutside%2Fsecret.txt",
  "/%2e%2e/secret.txt",
  "/%2E%2E/outside/secret.txt",
  "/.%2e/secret.txt",
  "/%2e./secret.txt",
  "/%2e%2e%2fsecret.txt",
  "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "/..\\secret.txt",
  "/..%5csecret.txt",
  "/%2e%2e%5csecret.txt",
  "/sub\\..\\..\\secret.txt",
  "/%252e%252e/secret.txt",
  "/%252e%252e%252fsecret.txt",
  "/..%252fsecret.txt",
  "/%25%32%65%25%32%65/secret.txt",
  "/%c0%ae%c0%ae/secret.txt",
  "/%c0%af../secret.txt",
  "/%e0%80%ae%e0%80%ae/secret.txt",
  "/..%00/secret.txt",
  "/test%00.html",
  "/%00",
  "/sub/../../secret.txt",
  "/sub/..%2f..%2fsecret.txt",
  "/sub/./../../outside/secret.txt",
  "/./../secret.txt",
  "//../secret.txt",
  "///..//..//secret.txt",
  "/....//secret.txt",
  "/.../secret.txt",
  "/..;/secret.txt",
  "/link-out",
  "/link-out-dir/secret.txt",
  "/link-out-dir/",
  "/link-out-dir",
  "/sub/link-up/secret.txt",
  "/sub/link-up/",
  "/sub/link-up-file",
  "/%6c%69%6e%6b-out",
  "http://localhost/../secret.txt",
  "http://localhost/%2e%2e/outside/secret.txt",
  "file:///etc/passwd",
  "/etc/passwd",
];

describe("traversal corpus: nothing outside the root, ever", () => {
  test(`${TRAVERSALS.length} crafted paths, zero escapes`, async () => {
    expect(TRAVERSALS.length).toBeGreaterThanOrEqual(30);
    const results: string[] = [];
    for (const target of TRAVERSALS) {
      const raw = (await rawExchange(server.url, Buffer.from(`GET ${target} HTTP/1.0\r\n\r\n`, "latin1"))).toString("latin1");
      const status = raw.slice(9, 12);
      if (raw.includes(SECRET) || raw.includes("root:") || (status !== "404" && status !== "400")) results.push(`${target} -> ${raw.split("\r\n")[0]}`);
    }
    expect(results).toEqual([]);
  });

  test("the same paths through the app directly (no HTTP parser in front) are 404s too", async () => {
    const app = staticApp(root);
    for (const target of TRAVERSALS.filter((path) => path.startsWith("/"))) {
      const mark = target.indexOf("?");
      const result = await runInMemory(app, { PATH_INFO: decodePath(mark === -1 ? target : target.slice(0, mark)), SCRIPT_NAME: "", REQUEST_URI: target });
      expect([target, result.head.split("\r\n")[0], result.body.includes(SECRET)]).toEqual([target, "Status: 404 Not Found", false]);
    }
  });

  test("a link that stays inside the root is followed", async () => {
    expect((await get("/link-in")).body.toString()).toBe(DATA);
    expect((await get("/list/link-to-apple")).body.toString()).toBe("apple.txt");
  });
});

describe("streaming from disk", () => {
  test("a 1 GiB file streams with backpressure: a stalled client holds little memory, and the file closes on abort", async () => {
    const fds = (): number => readdirSync("/proc/self/fd").length;
    const fdsBefore = fds();
    const before = process.memoryUsage().arrayBuffers;
    const connection = await RawConnection.open(server.url);
    try {
      connection.send("GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n");
      const head = await connection.readHead();
      expect([head.status, head.headers.get("content-length")?.[0]]).toEqual([200, String(1024 ** 3)]);
      connection.socket.pause();
      await sleep(500);
      const held = process.memoryUsage().arrayBuffers - before;
      // Socket buffers plus one block plus the handler's limit; nowhere near the file's size.
      expect(held).toBeLessThan(32 * 1024 * 1024);
      expect(connection.received).toBeLessThan(64 * 1024 * 1024);
    } finally {
      connection.close();
    }
    await waitUntil("the file descriptor is closed after the abort", () => fds() <= fdsBefore, 5_000);
  });

  test("the access log has the real byte count for a file and for a range", async () => {
    await get("/digits.txt", { Range: "bytes=2-4" });
    await get("/digits.txt?whole");
    await waitUntil("two log lines", () => log.includes('"GET /digits.txt?whole HTTP/1.1" 200 10'));
    expect(log).toMatch(/"GET \/digits\.txt HTTP\/1\.1" 206 3\n/);
  });
});

describe("staticApp itself", () => {
  test("a root that does not exist is a one-line UserError", () => {
    expect(() => staticApp(join(base, "nope"))).toThrow(UserError);
    expect(() => staticApp(join(base, "nope"))).toThrow(/^directory not found: /);
    expect(() => staticApp(join(root, "test"))).toThrow(/is not a directory/);
  });

  test("mounted below a SCRIPT_NAME: redirects and listings keep the mount point", async () => {
    const app = staticApp(root);
    const environ = (path: string): Record<string, unknown> => ({ SCRIPT_NAME: "/files", PATH_INFO: path });
    expect((await runInMemory(app, environ(""))).head).toContain("Location: /files/\r\n");
    expect((await runInMemory(app, environ("/list"))).head).toContain("Location: /files/list/\r\n");
    expect((await runInMemory(app, environ("/list/"))).body.toString()).toContain("<title>Directory listing for /files/list/</title>");
  });

  test("index options: another index name, and no listings", async () => {
    writeFileSync(join(root, "list", "README"), "read me");
    const app = staticApp(root, { index: ["README"], shouldList: false });
    expect((await runInMemory(app, { PATH_INFO: "/list/" })).body.toString()).toBe("read me");
    expect((await runInMemory(app, { PATH_INFO: "/sub/" })).head).toMatch(/^Status: 404 /);
  });

  test("the environ's REQUEST_URI keeps bytes that are not UTF-8, so such a file can be served", async () => {
    const name = Buffer.from([0x6f, 0xe9, 0x2e, 0x74, 0x78, 0x74]); // "o", 0xE9 (latin-1 é), ".txt"
    const dir = join(base, "bytes");
    mkdirSync(dir, { recursive: true });
    writeFileSync(Buffer.concat([Buffer.from(dir + "/"), name]), "latin-1 name");
    const app = staticApp(dir);
    const listing = (await runInMemory(app, { PATH_INFO: "/" })).body.toString();
    expect(listing).toContain('href="o%E9.txt"');
    const file = await runInMemory(app, { PATH_INFO: "/o\u00e9.txt", SCRIPT_NAME: "", REQUEST_URI: "/o%E9.txt" });
    expect(file.body.toString()).toBe("latin-1 name");
    // The same PATH_INFO without a REQUEST_URI reads as UTF-8 "é", a different name.
    expect((await runInMemory(app, { PATH_INFO: "/o\u00e9.txt", SCRIPT_NAME: "" })).head).toMatch(/^Status: 404 /);
  });
});

describe("big listings", () => {
  test("50 concurrent listings of a 20,000-entry folder leave a small file fast; a change is listed at once", { timeout: 60_000 }, async () => {
    const big = join(root, "big");
    mkdirSync(big);
    for (let i = 0; i < 20_000; i++) writeFileSync(join(big, `entry-${i}.txt`), "");
    try {
      const listings = Array.from({ length: 50 }, () => sendRequest(server.url, "/big/", { timeout: 30_000 }));
      await sleep(20);
      const started = Date.now();
      const small = await get("/test");
      const smallMs = Date.now() - started;
      const pages = await Promise.all(listings);
      expect([small.body.toString(), pages.every((page) => page.status === 200 && page.body.includes("entry-19999.txt"))]).toEqual([DATA, true]);
      // Before the cache each listing rendered the whole folder again: the small file waited 8-11 s.
      // The bound leaves room for a loaded CI machine (one render of the folder takes ~300 ms there).
      expect(smallMs).toBeLessThan(2500);
      writeFileSync(join(big, "new-entry.txt"), "");
      expect((await get("/big/")).body.toString()).toContain("new-entry.txt");
    } finally {
      rmSync(big, { recursive: true, force: true });
    }
  });
});
