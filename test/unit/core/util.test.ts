import { mkdtempSync, openSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { ProtocolError } from "../../../src/core/errors.ts";
import { BodyInput, ErrorOutput } from "../../../src/core/input.ts";
import { HOP_BY_HOP, isHopByHop } from "../../../src/core/http-syntax.ts";
import type { Environ, StartResponse } from "../../../src/core/types.ts";
import {
  FileWrapper,
  applicationUri,
  callApp,
  isAppClass,
  fileWrapper,
  guessScheme,
  requestUri,
  setupTestingDefaults,
  shiftPathInfo,
} from "../../../src/core/util.ts";

const env = (extra: Record<string, unknown> = {}): Environ => setupTestingDefaults({ ...extra });

describe("shiftPathInfo", () => {
  // [SCRIPT_NAME in, PATH_INFO in, shifted name, SCRIPT_NAME out, PATH_INFO out], as wsgiref's checkShift.
  test.each([
    ["", "/", "", "/", ""],
    ["", "/x", "x", "/x", ""],
    ["/", "", undefined, "/", ""],
    ["/a", "/x/y", "x", "/a/x", "/y"],
    ["/a", "/x/", "x", "/a/x", "/"],
    ["/a/b", "/../y", "..", "/a", "/y"],
    ["", "/../y", "..", "", "/y"],
    ["/a/b", "//y", "y", "/a/b/y", ""],
    ["/a/b", "//y/", "y", "/a/b/y", "/"],
    ["/a/b", "/./y", "y", "/a/b/y", ""],
    ["/a/b", "/./y/", "y", "/a/b/y", "/"],
    ["/a/b", "///./..//y/.//", "..", "/a", "/y/"],
    ["/a/b", "///", "", "/a/b/", ""],
    ["/a/b", "/.//", "", "/a/b/", ""],
    ["/a/b", "/x//", "x", "/a/b/x", "/"],
    ["/a/b", "/.", undefined, "/a/b", ""],
  ])("SCRIPT_NAME %j, PATH_INFO %j shifts %j", (scriptIn, pathIn, name, scriptOut, pathOut) => {
    const environ = env({ SCRIPT_NAME: scriptIn, PATH_INFO: pathIn });
    expect(shiftPathInfo(environ)).toBe(name);
    expect([environ.SCRIPT_NAME, environ.PATH_INFO]).toEqual([scriptOut, pathOut]);
  });

  test("an empty PATH_INFO shifts nothing and leaves SCRIPT_NAME alone", () => {
    const environ = { SCRIPT_NAME: "/app", PATH_INFO: "" };
    expect(shiftPathInfo(environ)).toBeUndefined();
    expect(environ).toEqual({ SCRIPT_NAME: "/app", PATH_INFO: "" });
  });

  test("walks a whole path one segment at a time", () => {
    const environ = { SCRIPT_NAME: "", PATH_INFO: "/a/b/" };
    const names = [];
    for (let name = shiftPathInfo(environ); name !== undefined; name = shiftPathInfo(environ)) names.push(name);
    expect(names).toEqual(["a", "b", ""]);
    expect(environ).toEqual({ SCRIPT_NAME: "/a/b/", PATH_INFO: "" });
  });

  test("refuses a PATH_INFO without its leading slash", () => {
    expect(() => shiftPathInfo({ SCRIPT_NAME: "", PATH_INFO: "x/y" })).toThrow(ProtocolError);
  });
});

describe("guessScheme", () => {
  test.each([
    [{}, "http"],
    [{ HTTPS: "foo" }, "http"],
    [{ HTTPS: "off" }, "http"],
    [{ HTTPS: "on" }, "https"],
    [{ HTTPS: "yes" }, "https"],
    [{ HTTPS: "1" }, "https"],
  ])("%j is %s", (environ, scheme) => {
    expect(guessScheme(environ)).toBe(scheme);
  });
});

describe("applicationUri", () => {
  test.each([
    ["http://127.0.0.1/", {}],
    ["http://127.0.0.1/spam", { SCRIPT_NAME: "/spam" }],
    ["http://127.0.0.1/sp%C3%A4m", { SCRIPT_NAME: "/sp\u00e4m" }],
    ["http://127.0.0.1/a%20b%3Bc", { SCRIPT_NAME: "/a b;c" }],
    ["http://spam.example.com:2071/", { HTTP_HOST: "spam.example.com:2071", SERVER_PORT: "2071" }],
    ["http://spam.example.com/", { SERVER_NAME: "spam.example.com" }],
    ["http://127.0.0.1/", { HTTP_HOST: "127.0.0.1", SERVER_NAME: "spam.example.com" }],
    ["https://127.0.0.1/", { HTTPS: "on" }],
  ])("is %s for %j", (uri, extra) => {
    expect(applicationUri(env(extra))).toBe(uri);
  });

  test.each([
    ["http", "80", "http://example.com/"],
    ["http", "8000", "http://example.com:8000/"],
    ["http", "443", "http://example.com:443/"],
    ["https", "443", "https://example.com/"],
    ["https", "80", "https://example.com:80/"],
    ["https", "8443", "https://example.com:8443/"],
  ] as const)("without HTTP_HOST, %s on port %s is %s", (scheme, port, uri) => {
    const environ = env({ SERVER_NAME: "example.com", SERVER_PORT: port, "gw.url_scheme": scheme });
    delete environ.HTTP_HOST;
    expect(applicationUri(environ)).toBe(uri);
  });

  test("without HTTP_HOST, an IPv6 SERVER_NAME goes in brackets (RFC 3986 §3.2.2)", () => {
    const environ = env({ SERVER_NAME: "::1", SERVER_PORT: "8000" });
    delete environ.HTTP_HOST;
    expect(applicationUri(environ)).toBe("http://[::1]:8000/");
    expect(applicationUri({ ...environ, SERVER_NAME: "[::1]" })).toBe("http://[::1]:8000/");
  });
});

describe("requestUri", () => {
  test.each([
    ["http://127.0.0.1/", {}],
    ["http://127.0.0.1/spam", { SCRIPT_NAME: "/spam" }],
    ["http://127.0.0.1/spammity/spam", { SCRIPT_NAME: "/spammity", PATH_INFO: "/spam" }],
    ["http://127.0.0.1/spammity/sp%C3%A4m", { SCRIPT_NAME: "/spammity", PATH_INFO: "/sp\u00e4m" }],
    ["http://127.0.0.1/spammity/%E2%82%AC%F0%9F%98%80", { SCRIPT_NAME: "/spammity", PATH_INFO: "/\u20ac\u{1f600}" }],
    ["http://127.0.0.1/spammity/a%20b%3F%23%25", { SCRIPT_NAME: "/spammity", PATH_INFO: "/a b?#%" }],
    ["http://127.0.0.1/spammity/spam;ham", { SCRIPT_NAME: "/spammity", PATH_INFO: "/spam;ham" }],
    ["http://127.0.0.1/spammity/spam;cookie=1234,5678", { SCRIPT_NAME: "/spammity", PATH_INFO: "/spam;cookie=1234,5678" }],
    ["http://127.0.0.1/a-b_c.d~e", { SCRIPT_NAME: "", PATH_INFO: "/a-b_c.d~e" }],
    ["http://127.0.0.1/x%0Ay", { SCRIPT_NAME: "", PATH_INFO: "/x\ny" }],
    ["http://127.0.0.1/spammity/spam?say=ni", { SCRIPT_NAME: "/spammity", PATH_INFO: "/spam", QUERY_STRING: "say=ni" }],
    ["http://127.0.0.1/spammity/spam?s%E4y=ni", { SCRIPT_NAME: "/spammity", PATH_INFO: "/spam", QUERY_STRING: "s%E4y=ni" }],
  ])("is %s for %j", (uri, extra) => {
    expect(requestUri(env(extra))).toBe(uri);
  });

  test("leaves the query out when asked", () => {
    const environ = env({ SCRIPT_NAME: "/spammity", PATH_INFO: "/spam", QUERY_STRING: "say=ni" });
    expect(requestUri(environ, false)).toBe("http://127.0.0.1/spammity/spam");
    expect(requestUri(environ, true)).toBe("http://127.0.0.1/spammity/spam?say=ni");
  });

  test("an empty query adds no '?'", () => {
    expect(requestUri(env({ PATH_INFO: "/x", SCRIPT_NAME: "", QUERY_STRING: "" }))).toBe("http://127.0.0.1/x");
  });
});

describe("setupTestingDefaults", () => {
  test("fills wsgiref's defaults into an empty environ, in place", () => {
    const raw: Record<string, unknown> = {};
    const environ = setupTestingDefaults(raw);
    expect(environ).toBe(raw);
    expect(environ).toMatchObject({
      SERVER_NAME: "127.0.0.1",
      SERVER_PORT: "80",
      SERVER_PROTOCOL: "HTTP/1.0",
      HTTP_HOST: "127.0.0.1",
      REQUEST_METHOD: "GET",
      SCRIPT_NAME: "",
      PATH_INFO: "/",
      QUERY_STRING: "",
      "gw.version": [1, 0],
      "gw.run_once": false,
      "gw.multithread": false,
      "gw.multiprocess": false,
      "gw.url_scheme": "http",
    });
    expect(environ["gw.input"]).toBeInstanceOf(BodyInput);
    expect(environ["gw.errors"]).toBeInstanceOf(ErrorOutput);
  });

  test("gw.input is an empty body", async () => {
    expect((await env()["gw.input"].read()).byteLength).toBe(0);
  });

  test.each([
    "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "HTTP_HOST", "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO",
    "QUERY_STRING", "gw.version", "gw.run_once", "gw.multithread", "gw.multiprocess", "gw.input", "gw.errors",
    "gw.url_scheme",
  ])("keeps a %s that is already set", (key) => {
    const mine = { mine: true };
    const environ = setupTestingDefaults({ [key]: mine });
    expect(environ[key]).toBe(mine);
  });

  test.each([
    ["HTTP_HOST", "foo.bar", { SERVER_NAME: "foo.bar" }],
    ["gw.url_scheme", "https", { HTTPS: "on" }],
    ["gw.url_scheme", "https", { HTTPS: "1" }],
    ["gw.url_scheme", "https", { HTTPS: "yes" }],
    ["gw.url_scheme", "http", { HTTPS: "foo" }],
    ["SERVER_PORT", "80", { HTTPS: "foo" }],
    ["SERVER_PORT", "443", { HTTPS: "on" }],
    ["SERVER_PORT", "443", { "gw.url_scheme": "https" }],
  ])("derives %s = %s from %j", (key, value, given) => {
    expect(env(given)[key]).toBe(value);
  });

  test("a given SCRIPT_NAME or PATH_INFO stops both defaults", () => {
    expect(env({ SCRIPT_NAME: "/app" }).PATH_INFO).toBeUndefined();
    expect(env({ PATH_INFO: "/x" }).SCRIPT_NAME).toBeUndefined();
  });

  test("a key holding undefined counts as unset", () => {
    expect(env({ REQUEST_METHOD: undefined }).REQUEST_METHOD).toBe("GET");
  });
});

describe("isHopByHop", () => {
  const hops = ["Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailers",
    "Transfer-Encoding", "Upgrade"];
  const title = (name: string): string => name.toLowerCase().replace(/(^|-)([a-z])/g, (m) => m.toUpperCase());

  test.each(hops)("%s is hop-by-hop in any case", (name) => {
    for (const spelling of [name, title(name), name.toUpperCase(), name.toLowerCase()]) {
      expect(isHopByHop(spelling)).toBe(true);
    }
  });

  test.each(["Accept", "Cache-Control", "Date", "Pragma", "Trailer", "Via", "Warning", "Content-Length", ""])(
    "%j is not hop-by-hop",
    (name) => {
      for (const spelling of [name, name.toUpperCase(), name.toLowerCase()]) expect(isHopByHop(spelling)).toBe(false);
    },
  );

  test("HOP_BY_HOP holds exactly the eight lower-case names", () => {
    expect([...HOP_BY_HOP].sort()).toEqual(hops.map((name) => name.toLowerCase()).sort());
  });
});

describe("FileWrapper", () => {
  const dir = mkdtempSync(join(tmpdir(), "gw-util-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // 150 000 bytes of every byte value, so any re-encoding or off-by-one shows.
  const content = Buffer.from(Array.from({ length: 150_000 }, (_, i) => (i * 7) % 256));
  const path = join(dir, "data.bin");
  writeFileSync(path, content);

  // Linux lists a process's open descriptors as links in /proc/self/fd.
  const openCount = (file: string): number =>
    readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === file;
      } catch {
        return false;
      }
    }).length;

  async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of body) chunks.push(chunk);
    return chunks;
  }

  test("streams a path byte for byte in blockSize chunks", async () => {
    const wrapper = new FileWrapper(path, 40_000);
    const chunks = await collect(wrapper);
    expect(chunks.map((c) => c.byteLength)).toEqual([40_000, 40_000, 40_000, 30_000]);
    expect(Buffer.concat(chunks).equals(content)).toBe(true);
    await wrapper.close();
  });

  test("reads 64 KiB blocks by default and exposes file and blockSize", async () => {
    const wrapper = fileWrapper(path) as FileWrapper;
    expect(wrapper).toBeInstanceOf(FileWrapper);
    expect([wrapper.file, wrapper.blockSize]).toEqual([path, 65536]);
    expect((await collect(wrapper)).map((c) => c.byteLength)).toEqual([65536, 65536, 150_000 - 131072]);
    await wrapper.close();
  });

  test("an empty file yields nothing", async () => {
    const empty = join(dir, "empty.bin");
    writeFileSync(empty, "");
    const wrapper = new FileWrapper(empty);
    expect(await collect(wrapper)).toEqual([]);
    await wrapper.close();
  });

  test("a missing path rejects on first read, and close still succeeds", async () => {
    const wrapper = new FileWrapper(join(dir, "nope.bin"));
    await expect(collect(wrapper)).rejects.toMatchObject({ code: "ENOENT" });
    await expect(wrapper.close()).resolves.toBeUndefined();
  });

  test("streams from a descriptor and closes it once", async () => {
    const own = join(dir, "fd.bin");
    writeFileSync(own, content);
    const fd = openSync(own, "r");
    const wrapper = new FileWrapper(fd, 100_000);
    const chunks = await collect(wrapper);
    expect(chunks.map((c) => c.byteLength)).toEqual([100_000, 50_000]);
    expect(Buffer.concat(chunks).equals(content)).toBe(true);
    expect(openCount(own)).toBe(1);
    const first = wrapper.close();
    expect(wrapper.close()).toBe(first);
    await first;
    expect(wrapper.isClosed).toBe(true);
    expect(openCount(own)).toBe(0);
  });

  test("close before reading opens nothing and ends iteration", async () => {
    const wrapper = new FileWrapper(path);
    await wrapper.close();
    expect(await collect(wrapper)).toEqual([]);
  });

  test("close mid-stream stops the chunks", async () => {
    const wrapper = new FileWrapper(path, 1000);
    const seen: number[] = [];
    for await (const chunk of wrapper) {
      seen.push(chunk.byteLength);
      if (seen.length === 2) void wrapper.close();
    }
    expect(seen).toEqual([1000, 1000]);
  });

  test("passes an iterable's chunks through and calls its close exactly once", async () => {
    let closes = 0;
    const source = Object.assign([new Uint8Array([1, 2]), new Uint8Array([3])], { close: () => void closes++ });
    const wrapper = new FileWrapper(source, 1);
    expect(wrapper.file).toBe(source);
    expect((await collect(wrapper)).map((c) => [...c])).toEqual([[1, 2], [3]]);
    expect(closes).toBe(0);
    await Promise.all([wrapper.close(), wrapper.close()]);
    await wrapper.close();
    expect(closes).toBe(1);
  });

  test("reads an async iterable without a close", async () => {
    async function* gen(): AsyncGenerator<Uint8Array> {
      yield Buffer.from("he");
      yield Buffer.from("llo");
    }
    const wrapper = new FileWrapper(gen());
    expect(Buffer.concat(await collect(wrapper)).toString()).toBe("hello");
    await expect(wrapper.close()).resolves.toBeUndefined();
  });

  test("refuses a blockSize that is not a positive integer", () => {
    for (const size of [0, -1, 1.5, Number.NaN]) expect(() => new FileWrapper(path, size)).toThrow(RangeError);
  });

  test("close on a path wrapper closes the handle it opened", async () => {
    const own = join(dir, "handle.bin");
    writeFileSync(own, content);
    const wrapper = new FileWrapper(own, 10);
    const iterator = wrapper[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.byteLength).toBe(10);
    expect(openCount(own)).toBe(1);
    await Promise.all([wrapper.close(), wrapper.close()]);
    expect(openCount(own)).toBe(0);
    expect((await iterator.next()).done).toBe(true);
  });
});

describe("isAppClass and callApp (PEP 3333 class applications)", () => {
  const start = (): StartResponse => () => () => Promise.resolve();
  const environ = setupTestingDefaults({});
  class Hello {
    *[Symbol.iterator](): Iterator<string> {
      yield "class";
    }
  }
  class Sub extends Hello {}
  function plain(): string[] {
    return ["function"];
  }

  test("classes (also subclasses) are classes; functions, arrows, async and bound functions are not", () => {
    expect([isAppClass(Hello), isAppClass(Sub)]).toEqual([true, true]);
    expect([isAppClass(plain), isAppClass(() => []), isAppClass(async () => []), isAppClass(plain.bind(null))]).toEqual([false, false, false, false]);
    // Asked again: the cached answers hold.
    expect([isAppClass(Hello), isAppClass(plain), isAppClass(Hello)]).toEqual([true, false, true]);
  });

  test("callApp constructs a class and calls a function", () => {
    expect(callApp(Hello, environ, start())).toBeInstanceOf(Hello);
    expect(callApp(plain, environ, start())).toEqual(["function"]);
  });
});
