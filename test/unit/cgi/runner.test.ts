// cgiApp and cgiHttpApp over real sockets with real scripts from fixtures/cgi-bin: the
// CGIHTTPServerTestCase cases of CPython's test_httpservers, RFC 3875 variables and httpoxy,
// argv, runners, output parsing, streaming, timeouts, aborts, the concurrency limit, and a
// 200 MiB output with the server's memory flat.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cgiApp, cgiHttpApp, type CgiApp, type CgiOptions } from "../../../src/cgi/runner.ts";
import { makeServer, type HttpServer } from "../../../src/server/http.ts";
import { validator } from "../../../src/core/validate.ts";
import { RawConnection, decodeChunked, rawExchange, sendRequest, sleep, waitUntil, type SendOptions } from "../../helpers/http-client.ts";
import { ROOT, startGw } from "../../helpers/gw.ts";
import { runInMemory } from "../../helpers/memory.ts";
import { groupMembers } from "../../helpers/processes.ts";

const FIXTURES = join(ROOT, "test", "fixtures");
const REAL_FIXTURES = realpathSync(FIXTURES);
const HELLO = "Hello World\n";
// The fixtures that are not executable run through --cgi-assign programs, as a user would set them.
const ASSIGN = new Map([[".js", process.execPath], [".ts", process.execPath], [".py", "python3"], [".sh", "/bin/sh"]]);

interface Running {
  server: HttpServer;
  app: CgiApp;
  log(): string;
  get(path: string, options?: SendOptions): ReturnType<typeof sendRequest>;
}

const servers: HttpServer[] = [];

/** cgiHttpApp over `root` behind makeServer on 127.0.0.1:0, with its log kept. */
async function serve(root: string = FIXTURES, options: Omit<CgiOptions, "fallback"> = {}): Promise<Running> {
  let text = "";
  const sink = { write: (chunk: string) => ((text += chunk), true) };
  const app = cgiHttpApp(root, { directories: ["/cgi-bin", "/htbin", "/sub/dir/cgi-bin"], assign: ASSIGN, ...options });
  const server = await makeServer("127.0.0.1", 0, validator(app), { log: sink, errors: sink });
  servers.push(server);
  void server.serveForever();
  return { server, app, log: () => text, get: (path, requestOptions) => sendRequest(server.url, path, requestOptions) };
}

let main: Running;
beforeAll(async () => {
  main = await serve();
});

afterAll(async () => {
  main?.app.killAll();
  await Promise.all(servers.map((server) => server.shutdown(500)));
});

async function scriptEnv(path: string, options?: SendOptions): Promise<{ env: Record<string, string>; argv: string[]; cwd: string; stdin: string; node: string }> {
  const response = await main.get(path, options);
  expect([response.status, response.headers["content-type"]]).toEqual([200, "application/json"]);
  return JSON.parse(response.body.toString()) as { env: Record<string, string>; argv: string[]; cwd: string; stdin: string; node: string };
}

describe("CGIHTTPServerTestCase (CPython test_httpservers)", () => {
  const expectHello = async (path: string): Promise<void> => {
    const response = await main.get(path);
    expect([response.body.toString(), response.headers["content-type"], response.status]).toEqual([HELLO, "text/html", 200]);
  };

  test("test_headers_and_content", () => expectHello("/cgi-bin/file1.py"));

  test("test_issue19435: a path that collapses onto a missing script is a 404", async () => {
    const raw = await rawExchange(main.server.url, "GET ///////////nocgi.py/../cgi-bin/nothere.sh HTTP/1.0\r\n\r\n");
    expect(raw.toString("latin1")).toMatch(/^HTTP\/1\.1 404 /);
  });

  test("test_post: the body reaches the script's stdin", async () => {
    const response = await main.get("/cgi-bin/file2.py", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ spam: "1", eggs: "python", bacon: "123456" }).toString(),
    });
    expect(response.body.toString()).toBe("1, python, 123456\n");
  });

  test("test_invaliduri: no such script is a 404", async () => {
    expect((await main.get("/cgi-bin/invalid")).status).toBe(404);
  });

  test("test_authorization: Basic credentials do not get in the way", async () => {
    const response = await main.get("/cgi-bin/file1.py", { headers: { Authorization: `Basic ${Buffer.from("username:pass").toString("base64")}` } });
    expect([response.body.toString(), response.status]).toEqual([HELLO, 200]);
  });

  test("test_no_leading_slash: the script runs on the wire, as with http.server, and from PATH_INFO", async () => {
    const raw = (await rawExchange(main.server.url, "GET cgi-bin/file1.py HTTP/1.0\r\n\r\n")).toString("latin1");
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw).toContain(`\r\n\r\n${HELLO}`);
    const result = await runInMemory(cgiHttpApp(FIXTURES), { PATH_INFO: "cgi-bin/file1.py", SCRIPT_NAME: "", REQUEST_METHOD: "GET" });
    expect([result.head.split("\r\n")[0], result.body.toString()]).toEqual(["Status: 200 OK", HELLO]);
  });

  test("test_os_environ_is_not_altered", async () => {
    const saved = process.env.SERVER_SOFTWARE;
    process.env.SERVER_SOFTWARE = "Test CGI Server";
    try {
      await expectHello("/cgi-bin/file1.py");
      const { env } = await scriptEnv("/cgi-bin/env.js");
      expect(env.SERVER_SOFTWARE).toMatch(/^gw\//);
      expect(process.env.SERVER_SOFTWARE).toBe("Test CGI Server");
      expect(process.env.GATEWAY_INTERFACE).toBeUndefined();
      expect(process.env.QUERY_STRING).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.SERVER_SOFTWARE;
      else process.env.SERVER_SOFTWARE = saved;
    }
  });

  test("test_urlquote_decoding_in_cgi_check", () => expectHello("/cgi-bin%2ffile1.py"));

  test("test_nested_cgi_path_issue21323", () => expectHello("/cgi-bin/child-dir/file3.py"));

  test("test_query_with_multiple_question_mark", async () => {
    const response = await main.get("/cgi-bin/file4.py?a=b?c=d");
    expect([response.body.toString(), response.status]).toEqual(["a=b?c=d\n", 200]);
  });

  test("test_query_with_continuous_slashes", async () => {
    const response = await main.get("/cgi-bin/file4.py?k=aa%2F%2Fbb&//q//p//=//a//b//");
    expect(response.body.toString()).toBe("k=aa%2F%2Fbb&//q//p//=//a//b//\n");
  });

  test("test_cgi_path_in_sub_directories", () => expectHello("/sub/dir/cgi-bin/file5.py"));

  test("test_accept: repeated headers are joined", async () => {
    const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    expect((await scriptEnv("/cgi-bin/env.js", { headers: { Accept: browser } })).env.HTTP_ACCEPT).toBe(browser);
    const connection = await RawConnection.open(main.server.url);
    try {
      connection.send("GET /cgi-bin/env.js HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nACCEPT: text/plain\r\n\r\n");
      const response = await connection.readResponse();
      expect((JSON.parse(response.body.toString()) as { env: Record<string, string> }).env.HTTP_ACCEPT).toBe("text/html,text/plain");
    } finally {
      connection.close();
    }
  });
});

describe("RFC 3875 meta-variables", () => {
  test("every variable, from one POST with extra path, a query and credentials", async () => {
    const body = "name=value&x=1";
    const { env, cwd, stdin, node } = await scriptEnv("/cgi-bin/env.js/extra//path/?a+b", {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        Authorization: `Basic ${Buffer.from("alice:se:cret").toString("base64")}`,
        Cookie: "session=1",
        "X-Custom-Thing": "yes",
        Referer: "http://example.com/",
      },
      body,
    });
    expect(env).toMatchObject({
      GATEWAY_INTERFACE: "CGI/1.1",
      SERVER_NAME: "127.0.0.1",
      SERVER_PORT: String(main.server.port),
      SERVER_PROTOCOL: "HTTP/1.1",
      REQUEST_METHOD: "POST",
      SCRIPT_NAME: "/cgi-bin/env.js",
      PATH_INFO: "/extra/path/",
      PATH_TRANSLATED: `${REAL_FIXTURES}/extra/path/`,
      QUERY_STRING: "a+b",
      REMOTE_ADDR: "127.0.0.1",
      REMOTE_HOST: "127.0.0.1",
      CONTENT_LENGTH: String(body.length),
      CONTENT_TYPE: "application/x-www-form-urlencoded",
      AUTH_TYPE: "Basic",
      REMOTE_USER: "alice",
      HTTP_COOKIE: "session=1",
      HTTP_X_CUSTOM_THING: "yes",
      HTTP_REFERER: "http://example.com/",
    });
    expect(env.SERVER_SOFTWARE).toMatch(/^gw\/\S+ node\/\S+$/);
    // RFC 3875 §4.1.18: credentials reach the script as AUTH_TYPE and REMOTE_USER, not as a header.
    expect(env.HTTP_AUTHORIZATION).toBeUndefined();
    expect([stdin, cwd, node]).toEqual([body, join(REAL_FIXTURES, "cgi-bin"), process.execPath]);
  });

  test("no extra path: PATH_INFO is empty and PATH_TRANSLATED is not set", async () => {
    const { env } = await scriptEnv("/cgi-bin/env.js");
    expect([env.PATH_INFO, env.PATH_TRANSLATED, env.QUERY_STRING, env.CONTENT_LENGTH, env.AUTH_TYPE]).toEqual(["", undefined, "", undefined, undefined]);
  });

  test("httpoxy: a Proxy header never becomes HTTP_PROXY", async () => {
    const { env } = await scriptEnv("/cgi-bin/env.js", { headers: { Proxy: "http://evil.example:8080" } });
    expect(env.HTTP_PROXY).toBeUndefined();
    expect(Object.values(env)).not.toContain("http://evil.example:8080");
    const connection = await RawConnection.open(main.server.url);
    try {
      connection.send("GET /cgi-bin/env.js HTTP/1.1\r\nHost: x\r\nproxy: http://evil.example:1\r\nPROXY: http://evil.example:2\r\n\r\n");
      const response = await connection.readResponse();
      expect(response.body.toString()).not.toContain("evil.example");
    } finally {
      connection.close();
    }
  });

  test("the server's own environment stays out: only PATH, locale and TZ-like variables pass", async () => {
    process.env.GW_TEST_SECRET = "do-not-leak";
    try {
      // The runner copies what it passes on when it is made, so this app sees the variable.
      const app = cgiApp(FIXTURES, { assign: ASSIGN });
      const result = await runInMemory(app, { PATH_INFO: "/cgi-bin/env.js", SCRIPT_NAME: "", REQUEST_METHOD: "GET" });
      const { env } = JSON.parse(result.body.toString()) as { env: Record<string, string> };
      expect(env.GW_TEST_SECRET).toBeUndefined();
      expect(env.PATH).toBe(process.env.PATH);
      expect(Object.keys(env).filter((key) => !/^(PATH|LANG|LANGUAGE|LC_ALL|LC_CTYPE|TZ|TMPDIR|SYSTEMROOT)$/.test(key) && !/^[A-Z_]+$/.test(key))).toEqual([]);
    } finally {
      delete process.env.GW_TEST_SECRET;
    }
  });

  test("Basic credentials that do not decode give AUTH_TYPE only; other schemes give AUTH_TYPE", async () => {
    expect((await scriptEnv("/cgi-bin/env.js", { headers: { Authorization: "Basic !!!" } })).env).toMatchObject({ AUTH_TYPE: "Basic" });
    expect((await scriptEnv("/cgi-bin/env.js", { headers: { Authorization: "Basic !!!" } })).env.REMOTE_USER).toBeUndefined();
    expect((await scriptEnv("/cgi-bin/env.js", { headers: { Authorization: "Bearer abc.def" } })).env).toMatchObject({ AUTH_TYPE: "Bearer" });
  });
});

describe("the command line (RFC 3875 §4.4)", () => {
  test.each([
    ["a+b", ["a", "b"]],
    ["caf%C3%A9+x%20y", ["café", "x y"]],
    ["x=1", []],
    ["a+x=1", []],
    ["-v", []],
    ["a+-rf", []],
    ["%2dv", []],
    ["a++b", []],
    ["%FF", []],
    ["a%00b", []],
    ["a<b", []],
  ])("?%s gives argv %j", async (query, argv) => {
    expect((await scriptEnv(`/cgi-bin/env.js?${query}`)).argv).toEqual(argv);
  });
});

describe("how scripts run", () => {
  let dir: string;
  let other: Running;
  beforeAll(async () => {
    // www/ is the root; outside/ is its sibling, which nothing may reach.
    dir = mkdtempSync(join(tmpdir(), "gw-cgi-"));
    mkdirSync(join(dir, "www", "cgi-bin"), { recursive: true });
    mkdirSync(join(dir, "www", "htbin"));
    mkdirSync(join(dir, "outside"));
    const write = (name: string, text: string, mode: number): void => {
      const path = join(dir, name.startsWith("outside/") ? "" : "www", name);
      writeFileSync(path, text);
      chmodSync(path, mode);
    };
    write("cgi-bin/noshebang.py", "print('Content-Type: text/plain')\nprint()\nprint('python by extension')\n", 0o755);
    write("cgi-bin/noshebang.bin", "echo 'Content-Type: text/plain'; echo; echo 'a shell ran me'\n", 0o755);
    write("cgi-bin/notes.txt", "just text\n", 0o644);
    write("htbin/hi.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhtbin\\n'\n", 0o755);
    write("cgi-bin/plain.sh", "printf 'Content-Type: text/plain\\n\\nran\\n' > ran.txt\n", 0o644);
    write("outside/evil.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nescaped\\n'\n", 0o755);
    symlinkSync(join(dir, "outside", "evil.sh"), join(dir, "www", "cgi-bin", "link-out.sh"));
    write("cgi-bin/secret.sh", "#!/bin/sh\n# SOURCE-MARKER-5e1f\nprintf 'Content-Type: text/plain\\n\\nran secret\\n'\n", 0o755);
    write("cgi-bin/framing.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\ncontent-length: 50\\nContent-Length: 5\\n\\nhello'\n", 0o755);
    write("cgi-bin/interim.sh", "#!/bin/sh\nprintf 'Status: 100 Continue\\n\\n'\n", 0o755);
    write("cgi-bin/over.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\nContent-Length: 3\\n\\nok'\nsleep 0.1\nprintf 'kkkkk'\n", 0o755);
    write("cgi-bin/over-at-once.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\nContent-Length: 3\\n\\nokokok'\n", 0o755);
    write("cgi-bin/short.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\nContent-Length: 9\\n\\nok'\n", 0o755);
    write("cgi-bin/not-modified.sh", "#!/bin/sh\nprintf 'Status: 304 Not Modified\\nContent-Length: 1234\\n\\n'\n", 0o755);
    write("cgi-bin/exact-then-sleep.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\nContent-Length: 2\\n\\nok'\nsleep 3\n", 0o755);
    write("cgi-bin/fake-elf", "\x7fELF\nprintf 'Content-Type: text/plain\\n\\nran by sh\\n'\n", 0o755);
    write("cgi-bin/chunks.sh", "#!/bin/sh\nprintf 'Transfer-Encoding: chunked\\nContent-Type: text/plain\\n\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\n'\n", 0o755);
    // An alias of the CGI folder, as `ln -s cgi-bin scripts` makes it.
    symlinkSync("cgi-bin", join(dir, "www", "scripts"));
    other = await serve(join(dir, "www"), { directories: ["/cgi-bin", "/htbin"], assign: new Map() });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each([
    ["/cgi-bin/file1.py", 200, HELLO],
    ["/cgi-bin/hello.sh", 200, HELLO],
    ["/cgi-bin/plain.py", 200, "python 3."],
    ["/cgi-bin/plain.sh", 200, "sh without a shebang\n"],
    ["/cgi-bin/hello.ts", 200, "Hello from TypeScript\n"],
  ])("%s: %i", async (path, status, body) => {
    const response = await main.get(path);
    expect([response.status, response.body.toString().slice(0, body.length)]).toEqual([status, body]);
  });

  test("only executable scripts run: no execute bit or no #! is a 403 and nothing runs, never through /bin/sh", async () => {
    const plain = await other.get("/cgi-bin/plain.sh");
    expect([plain.status, plain.body.toString()]).toEqual([403, expect.stringContaining("is not executable")]);
    expect(existsSync(join(dir, "www", "cgi-bin", "ran.txt"))).toBe(false);
    const noShebang = await other.get("/cgi-bin/noshebang.py");
    expect([noShebang.status, noShebang.body.toString()]).toEqual([403, expect.stringContaining("has no #! line")]);
    const binary = await other.get("/cgi-bin/noshebang.bin");
    expect([binary.status, binary.body.toString()]).toEqual([403, expect.not.stringContaining("a shell ran me")]);
  });

  test("403 for what cannot run, 404 for what is not there", async () => {
    expect((await main.get("/cgi-bin/data.txt")).status).toBe(403);
    expect((await other.get("/cgi-bin/notes.txt")).status).toBe(403);
    expect((await main.get("/cgi-bin/child-dir/")).status).toBe(403);
    expect((await main.get("/cgi-bin/")).status).toBe(403);
    expect((await main.get("/cgi-bin/nothere.py")).status).toBe(404);
    expect((await main.get("/cgi-bin/child-dir/nothere.py/more")).status).toBe(404);
  });

  test("/htbin/ is a CGI folder too", async () => {
    expect((await other.get("/htbin/hi.sh")).body.toString()).toBe("htbin\n");
  });

  test("a script that is a link out of the root is not run", async () => {
    const response = await other.get("/cgi-bin/link-out.sh");
    expect([response.status, response.body.toString()]).toEqual([404, expect.not.stringContaining("escaped")]);
  });

  test("traversal through the CGI folder never runs or shows anything outside", async () => {
    const targets = [
      "/cgi-bin/../../outside/evil.sh", "/cgi-bin/%2e%2e/%2e%2e/outside/evil.sh", "/cgi-bin/..%2f..%2foutside%2fevil.sh",
      "/htbin/../../etc/passwd", "/cgi-bin/..\\..\\outside\\evil.sh", "/cgi-bin/%252e%252e/%252e%252e/outside/evil.sh",
      "/cgi-bin/link-out.sh/extra", "/cgi-bin/%2e%2e%2f%2e%2e%2foutside/evil.sh",
    ];
    for (const target of targets) {
      const raw = (await rawExchange(other.server.url, `GET ${target} HTTP/1.0\r\n\r\n`)).toString("latin1");
      expect([target, raw.slice(9, 12), raw.includes("escaped")]).toEqual([target, "404", false]);
    }
  });

  test("an alias or a case variant of a CGI folder never shows a script's source, lists or range-reads it", async () => {
    const targets = [
      "/scripts/secret.sh", "/scripts/./secret.sh", "/scripts%2fsecret.sh", "/cgi-bin/../scripts/secret.sh", "/sub/../scripts/secret.sh",
      "/scripts/", "/scripts", "/SCRIPTS/secret.sh", "/CGI-BIN/secret.sh", "/Cgi-Bin/secret.sh", "/cgi-BIN/secret.sh", "/%63gi-bin/secret.sh",
    ];
    for (const target of targets) {
      for (const extra of ["", "Range: bytes=0-20\r\n"]) {
        const raw = (await rawExchange(other.server.url, `GET ${target} HTTP/1.0\r\n${extra}\r\n`)).toString("latin1");
        expect([target, extra, raw.includes("SOURCE-MARKER"), raw.includes("secret.sh\"")]).toEqual([target, extra, false, false]);
      }
    }
    // Through the alias the script runs as a script, decided on its real path.
    expect((await other.get("/scripts/secret.sh")).body.toString()).toBe("ran secret\n");
    // With extra path after it, too (CGI.md: whatever URL reaches it); a missing name stays a 404.
    expect((await other.get("/scripts/secret.sh/more/path")).body.toString()).toBe("ran secret\n");
    expect((await other.get("/scripts/missing.sh/more")).status).toBe(404);
  });

  test("output that would break HTTP framing is a 502: two Content-Lengths, a final 1xx, a script's own Transfer-Encoding", async () => {
    for (const name of ["framing.sh", "interim.sh", "chunks.sh"]) {
      const response = await other.get(`/cgi-bin/${name}`);
      expect([name, response.status]).toEqual([name, 502]);
    }
    expect(other.log()).toContain("two different Content-Length");
  });

  test("a script's own Content-Length holds: more is cut off at it (lighttpd's way) with one log line; less cuts the connection", async () => {
    for (const [name, body] of [["over.sh", "okk"], ["over-at-once.sh", "oko"]]) {
      const response = await other.get(`/cgi-bin/${name}`);
      expect([name, response.status, response.body.toString()]).toEqual([name, 200, body]);
    }
    await waitUntil("the overflow lines", () => (other.log().match(/sent more than its Content-Length of 3 bytes; the rest was dropped/g) ?? []).length === 2);
    const raw = (await rawExchange(other.server.url, "GET /cgi-bin/short.sh HTTP/1.1\r\nHost: x\r\n\r\n")).toString("latin1");
    expect(raw).toMatch(/\r\nContent-Length: 9\r\n[^]*\r\n\r\nok$/);
    await waitUntil("the short line", () => other.log().includes("ended 7 bytes short of its Content-Length; the connection was cut"));
    expect(other.log()).not.toMatch(/ProtocolError|at #emit|\{\s*name:/);
  });

  test("the script's Content-Length ends the response: a script running on after it does not hold it; a 304's describes no body", async () => {
    const started = performance.now();
    const exact = await other.get("/cgi-bin/exact-then-sleep.sh");
    expect([exact.status, exact.body.toString()]).toEqual([200, "ok"]);
    expect(performance.now() - started).toBeLessThan(2_000);
    const notModified = await other.get("/cgi-bin/not-modified.sh");
    expect([notModified.status, notModified.headers["content-length"], notModified.body.length]).toEqual([304, "1234", 0]);
  });

  test("a file that only starts like an ELF program is a 403, never handed to /bin/sh", async () => {
    const response = await other.get("/cgi-bin/fake-elf");
    expect([response.status, response.body.toString().includes("ran by sh")]).toEqual([403, false]);
  });

  test("slow uploads do not hold script slots: two stalled bodies, and a third request still runs at once", async () => {
    const limited = await serve(join(dir, "www"), { directories: ["/cgi-bin"], assign: new Map(), maxRunning: 2 });
    const stalled = await Promise.all([1, 2].map(() => RawConnection.open(limited.server.url)));
    try {
      for (const connection of stalled) connection.send("POST /cgi-bin/secret.sh HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nab");
      await sleep(200);
      const started = Date.now();
      const third = await limited.get("/cgi-bin/secret.sh");
      expect([third.body.toString(), Date.now() - started < 2_000]).toEqual(["ran secret\n", true]);
    } finally {
      for (const connection of stalled) connection.close();
    }
  });

  test("POST to anything but a script is a 501, as in http.server", async () => {
    const response = await main.get("/cgi-bin%2f..%2fapps/", { method: "POST", body: "x" });
    expect(response.status).toBe(501);
    expect((await main.get("/apps/", { method: "POST", body: "x" })).status).toBe(501);
  });

  test("a chunked upload reaches the script whole, with its CONTENT_LENGTH", async () => {
    const response = await main.get("/cgi-bin/env.js", { method: "POST", headers: { "Transfer-Encoding": "chunked" }, body: "abc" });
    const { env, stdin } = JSON.parse(response.body.toString()) as { env: Record<string, string>; stdin: string };
    expect([response.status, env.CONTENT_LENGTH, env.HTTP_TRANSFER_ENCODING, stdin]).toEqual([200, "3", undefined, "abc"]);
  });
});

describe("the script's output (RFC 3875 §6)", () => {
  test("Status and extra headers pass on", async () => {
    const response = await main.get("/cgi-bin/status.sh");
    expect([response.status, response.headers["x-script"], response.body.toString()]).toEqual([418, "status.sh", "short and stout\n"]);
  });

  test("a local Location is served by the server itself, as a GET", async () => {
    const response = await main.get("/cgi-bin/redirect.sh?local", { method: "POST", body: "ignored" });
    expect([response.status, response.headers.location, response.body.toString()]).toEqual([200, undefined, "from=redirect\n"]);
  });

  test("a URL Location is a 302", async () => {
    const response = await main.get("/cgi-bin/redirect.sh?remote");
    expect([response.status, response.headers.location]).toEqual([302, "http://example.com/elsewhere"]);
  });

  test("an nph- script's status line and headers are its own", async () => {
    const response = await main.get("/cgi-bin/nph-hello.sh");
    expect([response.status, response.headers["x-nph"], response.body.toString()]).toEqual([202, "yes", "nph body\n"]);
  });

  test("output without a header block is a 502 with a clear log line", async () => {
    expect((await main.get("/cgi-bin/noheader.sh")).status).toBe(502);
    expect(main.log()).toContain('gw: CGI /cgi-bin/noheader.sh: answered 502, its output is not a CGI response: its output does not start with a header block (first bytes: "Hello, but no header block")');
    expect((await main.get("/cgi-bin/nothing.sh")).status).toBe(502);
    expect(main.log()).toContain("gw: CGI /cgi-bin/nothing.sh: answered 502: it printed nothing");
  });

  test("a script that fails before any output is a 500; its stderr is in the log under its name", async () => {
    expect((await main.get("/cgi-bin/fail.sh")).status).toBe(500);
    await waitUntil("the log lines", () => main.log().includes("exited with status 3"));
    expect(main.log()).toContain("/cgi-bin/fail.sh: something broke\n");
    expect(main.log()).toContain("gw: CGI /cgi-bin/fail.sh: answered 500: exited with status 3 before its header block\n");
  });

  test("stderr lines of a working script go to the log, prefixed", async () => {
    expect((await main.get("/cgi-bin/stderr.sh")).body.toString()).toBe("ok\n");
    await waitUntil("both stderr lines", () => main.log().includes("/cgi-bin/stderr.sh: second warning\n"));
    expect(main.log()).toContain("/cgi-bin/stderr.sh: first warning\n");
  });

  test("HEAD: the script's headers, no body", async () => {
    const response = await main.get("/cgi-bin/file1.py", { method: "HEAD" });
    expect([response.status, response.headers["content-type"], response.body.length]).toEqual([200, "text/html", 0]);
  });

  test("the access log has the real byte count, as for static files", async () => {
    await main.get("/cgi-bin/file1.py?logged");
    await waitUntil("the access line", () => main.log().includes('"GET /cgi-bin/file1.py?logged HTTP/1.1" 200 12\n'));
  });
});

describe("streaming", () => {
  test("the first bytes reach the client while the script is still running", async () => {
    const connection = await RawConnection.open(main.server.url);
    try {
      const started = Date.now();
      connection.send("GET /cgi-bin/stream.sh?1 HTTP/1.1\r\nHost: x\r\n\r\n");
      const head = await connection.readHead();
      expect(head.status).toBe(200);
      await waitUntil("the first line", () => connection.pending.includes("first\n"));
      const firstAt = Date.now() - started;
      await waitUntil("the end of the body", () => decodeChunked(connection.pending) !== undefined, 5_000);
      const endAt = Date.now() - started;
      expect(decodeChunked(connection.pending)!.body.toString()).toBe("first\nsecond\n");
      // The script sleeps a second between its lines; the first must not wait for the second.
      expect(endAt - firstAt).toBeGreaterThan(700);
    } finally {
      connection.close();
    }
  });

  test("a large request body streams to the script and back", async () => {
    const body = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const response = await main.get("/cgi-bin/echo.sh", { method: "POST", headers: { "Content-Type": "application/x-test" }, body, timeout: 15_000 });
    expect([response.status, response.headers["content-type"], response.body.equals(body)]).toEqual([200, "application/x-test", true]);
  });
});

describe("faults: timeouts, aborts, limits", () => {
  test("a script past its timeout before any output: its group is killed, 504", async () => {
    const quick = await serve(FIXTURES, { timeout: 0.5 });
    const started = Date.now();
    const response = await quick.get("/cgi-bin/silent.sh");
    expect([response.status, Date.now() - started < 5_000]).toEqual([504, true]);
    expect(quick.log()).toContain("gw: CGI /cgi-bin/silent.sh: killed: still running after 0.5 s (--cgi-timeout)");
    await waitUntil("no script left", () => quick.app.running === 0, 3_000);
  });

  test("a script past its timeout after its output started: the connection is cut, no process is left", async () => {
    const quick = await serve(FIXTURES, { timeout: 0.5 });
    const connection = await RawConnection.open(quick.server.url);
    try {
      connection.send("GET /cgi-bin/sleepy.sh HTTP/1.1\r\nHost: x\r\n\r\n");
      await connection.readHead();
      await waitUntil("the pgid line", () => /pgid \d+/.test(connection.pending.toString()));
      const pgid = Number(/pgid (\d+)/.exec(connection.pending.toString())![1]);
      await connection.waitForClose(5_000);
      // Cut, not ended: the chunked body never got its last chunk.
      expect(decodeChunked(connection.pending)).toBeUndefined();
      await waitUntil("the process group is gone", () => groupMembers(pgid).length === 0, 3_000);
    } finally {
      connection.close();
    }
  });

  test("a client that disconnects gets its script killed, with everything the script started", async () => {
    const connection = await RawConnection.open(main.server.url);
    connection.send("GET /cgi-bin/sleepy.sh HTTP/1.1\r\nHost: x\r\n\r\n");
    await connection.readHead();
    await waitUntil("the pgid line", () => /pgid \d+/.test(connection.pending.toString()));
    const pgid = Number(/pgid (\d+)/.exec(connection.pending.toString())![1]);
    await waitUntil("the sleep child", () => groupMembers(pgid).length >= 2, 3_000);
    connection.close();
    await waitUntil("the process group is gone", () => groupMembers(pgid).length === 0, 3_000);
    await waitUntil("the slot is free", () => main.app.running === 0, 3_000);
  });

  test("at most maxRunning scripts at once; the rest wait their turn", async () => {
    const limited = await serve(FIXTURES, { maxRunning: 2 });
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, limited.app.running)), 20);
    const started = Date.now();
    try {
      const responses = await Promise.all([1, 2, 3, 4].map(() => limited.get("/cgi-bin/stream.sh?0.5", { timeout: 10_000 })));
      expect(responses.map((response) => response.body.toString())).toEqual(Array(4).fill("first\nsecond\n"));
    } finally {
      clearInterval(sampler);
    }
    expect(peak).toBe(2);
    // Two rounds of half a second each, at the least.
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  test("a request that gives up while queued never starts its script", async () => {
    const limited = await serve(FIXTURES, { maxRunning: 1 });
    const first = limited.get("/cgi-bin/stream.sh?0.5");
    await waitUntil("the first script runs", () => limited.app.running === 1);
    const queued = await RawConnection.open(limited.server.url);
    queued.send("GET /cgi-bin/file4.py?queued HTTP/1.1\r\nHost: x\r\n\r\n");
    await sleep(100);
    queued.close();
    expect((await first).body.toString()).toBe("first\nsecond\n");
    await sleep(200);
    expect(limited.app.running).toBe(0);
    expect((await limited.get("/cgi-bin/file4.py?after")).body.toString()).toBe("after\n");
  });

  test("killAll stops every running script (server shutdown)", async () => {
    const connection = await RawConnection.open(main.server.url);
    try {
      connection.send("GET /cgi-bin/sleepy.sh HTTP/1.1\r\nHost: x\r\n\r\n");
      await waitUntil("the pgid line", () => /pgid \d+/.test(connection.pending.toString()));
      const pgid = Number(/pgid (\d+)/.exec(connection.pending.toString())![1]);
      main.app.killAll();
      await waitUntil("the process group is gone", () => groupMembers(pgid).length === 0, 3_000);
      await connection.waitForClose(3_000);
    } finally {
      connection.close();
    }
  });
});

describe("memory", () => {
  test("200 MiB of script output to a slow client: the server's memory stays flat", { timeout: 60_000 }, async () => {
    const gw = await startGw(["serve", "--cgi", "--directory", FIXTURES, "--port", "0", "--quiet"]);
    const rss = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${gw.pid}/status`, "utf8"))![1]) * 1024;
    try {
      // Warm up: the first CGI response grows the heap once; the baseline is taken after it.
      expect((await gw.request("/cgi-bin/big.sh?4", { timeout: 10_000 })).body.length).toBe(4 * 1024 * 1024);
      const baseline = rss();
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, rss())), 50);
      const connection = await RawConnection.open(gw.url);
      let received = 0;
      try {
        const { socket } = connection;
        socket.removeAllListeners("data");
        connection.send("GET /cgi-bin/big.sh?200 HTTP/1.0\r\n\r\n");
        socket.pause();
        // Stalled at first: the server must stop reading the script, not buffer its output.
        await sleep(1_000);
        const done = new Promise<void>((resolve) => socket.once("close", () => resolve()));
        socket.on("data", (chunk: Buffer) => {
          received += chunk.length;
          // A slow reader: a pause after every 16 MiB.
          if (received % (16 * 1024 * 1024) < chunk.length) {
            socket.pause();
            setTimeout(() => socket.resume(), 100);
          }
        });
        socket.resume();
        await Promise.race([done, sleep(45_000)]);
      } finally {
        clearInterval(sampler);
        connection.close();
      }
      const head = 100; // "HTTP/1.1 200 OK" and a few headers
      expect(received).toBeGreaterThan(200 * 1024 * 1024);
      expect(received).toBeLessThan(200 * 1024 * 1024 + head * 10);
      expect(peak - baseline).toBeLessThan(64 * 1024 * 1024);
    } finally {
      await gw.stop();
    }
  });
});
