// `gw serve --cgi` with real clients: curl's chunked uploads, --cgi-max-body, --cgi-env,
// --cgi-pass-env, --cgi-assign, the execute-bit rule, and underscore headers dropped.
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startGw, type GwServer } from "../helpers/gw.ts";
import { RawConnection, waitUntil } from "../helpers/http-client.ts";

let root: string;
let spool: string;
let gw: GwServer;

function script(name: string, text: string, mode: number = 0o755): void {
  writeFileSync(join(root, "cgi-bin", name), text);
  chmodSync(join(root, "cgi-bin", name), mode);
}

/** The gw-cgi-body-* files in the TMPDIR gw was given. */
function spoolFiles(): string[] {
  return readdirSync(spool).filter((name) => name.startsWith("gw-cgi-body-"));
}

/** curl with the given arguments; resolves to its stdout (curl is the real client here). */
function curl(args: string[], input?: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("curl", ["-sS", ...args], { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (data: Buffer) => (out += data.toString()));
    child.stderr!.on("data", (data: Buffer) => (err += data.toString()));
    if (input !== undefined) input.pipe(child.stdin!);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`curl exited ${code}: ${err}`))));
  });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "gw-cgi-options-"));
  spool = mkdtempSync(join(tmpdir(), "gw-cgi-spool-"));
  mkdirSync(join(root, "cgi-bin"));
  // Counts and hashes stdin: the script sees the exact bytes and the length it was promised.
  script("count.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\necho \"length=$CONTENT_LENGTH te=${HTTP_TRANSFER_ENCODING:-none}\"\nsha256sum | cut -d' ' -f1\n");
  script("fail.sh", "#!/bin/sh\nexit 3\n");
  script("env.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nenv | sort\n");
  script("plain.sh", "printf 'Content-Type: text/plain\\n\\nran by sh\\n'\n", 0o644);
  script("tool.py", "print('Content-Type: text/plain')\nprint()\nprint('python ran me')\n", 0o644);
  script("info.php", "<?php header('Content-Type: text/plain'); echo $_SERVER['PATH_INFO'], ' ', $_GET['x'], ' ', file_get_contents('php://input'), ' ', basename(__FILE__), \"\\n\";\n", 0o644);
  gw = await startGw([
    "serve", "--cgi", "--directory", root, "--port", "0", "--cgi-max-body", "60M",
    "--cgi-env", "REPO_ROOT=/srv/repos", "--cgi-env", "EMPTY=", "--cgi-pass-env", "GW_TEST_PASSED", "--cgi-assign", ".py=python3", "--cgi-assign", ".php=php-cgi",
  ], { env: { GW_TEST_PASSED: "from gw's env", GW_TEST_HIDDEN: "secret", TMPDIR: spool } });
});

afterAll(async () => {
  await gw?.stop();
  rmSync(root, { recursive: true, force: true });
  rmSync(spool, { recursive: true, force: true });
});

describe("chunked request bodies", () => {
  test("50 MiB from curl with Transfer-Encoding: chunked reach the script whole, with CONTENT_LENGTH; no temp file is left", { timeout: 60_000 }, async () => {
    const file = join(spool, "upload.bin");
    execFileSync("sh", ["-c", `head -c ${50 * 1024 * 1024} /dev/urandom > '${file}'`]);
    const expected = execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0];
    const rss = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${gw.pid}/status`, "utf8"))![1]) * 1024;
    const before = rss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rss())), 50);
    const out = await curl(["-H", "Transfer-Encoding: chunked", "--data-binary", `@${file}`, `${gw.url}/cgi-bin/count.sh`]).finally(() => clearInterval(sampler));
    rmSync(file);
    // Past 1 MiB the body goes to disk a chunk at a time: gw never holds the 50 MiB.
    expect(peak - before).toBeLessThan(25 * 1024 * 1024);
    expect(out).toBe(`length=${50 * 1024 * 1024} te=none\n${expected}\n`);
    expect(spoolFiles()).toEqual([]);
  });

  test("a body above --cgi-max-body is a 413 and the script never starts, chunked or with a length", async () => {
    const big = Buffer.alloc(61 * 1024 * 1024);
    const chunked = await gw.request("/cgi-bin/count.sh", { method: "POST", headers: { "Transfer-Encoding": "chunked" }, body: big, timeout: 30_000 }).catch(() => ({ status: 0 }));
    // The server may close before the whole upload is read; then curl-like clients see the 413 or a reset.
    expect([413, 0]).toContain(chunked.status);
    const declared = await new Promise<string>((resolve) => {
      void RawConnection.open(gw.url).then(async (connection) => {
        connection.send(`POST /cgi-bin/count.sh HTTP/1.1\r\nHost: x\r\nContent-Length: ${61 * 1024 * 1024}\r\n\r\n`);
        resolve(String((await connection.readHead()).status));
        connection.close();
      });
    });
    expect(declared).toBe("413");
    expect(gw.stderr()).not.toMatch(/CGI \/cgi-bin\/count\.sh/);
    expect(spoolFiles()).toEqual([]);
  });

  test("the temp file is gone after a script failure and after a client abort mid-upload", async () => {
    const failed = await gw.request("/cgi-bin/fail.sh", { method: "POST", headers: { "Transfer-Encoding": "chunked" }, body: Buffer.alloc(3 * 1024 * 1024), timeout: 15_000 });
    expect(failed.status).toBe(500);
    const connection = await RawConnection.open(gw.url);
    connection.send("POST /cgi-bin/count.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    const piece = Buffer.alloc(2 * 1024 * 1024, 1);
    connection.send(Buffer.concat([Buffer.from(piece.length.toString(16) + "\r\n"), piece, Buffer.from("\r\n")]));
    await new Promise((resolve) => setTimeout(resolve, 300));
    connection.close();
    await waitUntil("no spool file", () => spoolFiles().length === 0, 3_000);
  });
});

describe("the script's environment and what runs", () => {
  test("--cgi-env and --cgi-pass-env reach every script; the rest of gw's environment does not", async () => {
    const env = (await gw.request("/cgi-bin/env.sh")).body.toString();
    expect(env).toContain("REPO_ROOT=/srv/repos\n");
    expect(env).toContain("EMPTY=\n");
    expect(env).toContain("GW_TEST_PASSED=from gw's env\n");
    expect(env).not.toContain("GW_TEST_HIDDEN");
  });

  test("a script without its execute bit is a 403 and does not run; --cgi-assign runs its type", async () => {
    const plain = await gw.request("/cgi-bin/plain.sh");
    expect([plain.status, plain.body.toString()]).toEqual([403, expect.not.stringContaining("ran by sh")]);
    const python = await gw.request("/cgi-bin/tool.py");
    expect([python.status, python.body.toString()]).toEqual([200, "python ran me\n"]);
  });

  test("--cgi-assign .php=php-cgi runs PHP as lighttpd's cgi.assign does: SCRIPT_FILENAME and REDIRECT_STATUS are set", async () => {
    const response = await gw.request("/cgi-bin/info.php/more?x=1", { method: "POST", body: "posted", headers: { "Content-Type": "text/plain" } });
    expect([response.status, response.body.toString()]).toEqual([200, "/more 1 posted info.php\n"]);
    const env = (await gw.request("/cgi-bin/env.sh")).body.toString();
    expect(env).toContain(`SCRIPT_FILENAME=${join(root, "cgi-bin", "env.sh")}\n`);
    // Only an assigned program is vouched for.
    expect(env).not.toContain("REDIRECT_STATUS");
  });

  test("a path with a byte that is not UTF-8 reaches the script as Python gives it: U+FFFD, the rest intact", async () => {
    const env = (await gw.request("/cgi-bin/env.sh/%ff%E2%82%AC")).body.toString();
    expect(env).toContain("PATH_INFO=/\ufffd€\n");
  });

  test("underscore headers never reach a script: X_Forwarded_For cannot pose as X-Forwarded-For", async () => {
    const connection = await RawConnection.open(gw.url);
    try {
      connection.send("GET /cgi-bin/env.sh HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\nX_Forwarded_For: 6.6.6.6\r\nRemote_User: admin\r\nConnection: close\r\n\r\n");
      await connection.waitForClose(5_000);
      const text = connection.pending.toString();
      expect(text).toContain("HTTP_X_FORWARDED_FOR=1.2.3.4\n");
      expect(text).not.toContain("6.6.6.6");
      expect(text).not.toContain("HTTP_REMOTE_USER");
    } finally {
      connection.close();
    }
  });
});

describe.runIf(process.getuid?.() === 0)("gw running as root", () => {
  test("says once that scripts run as root; --cgi-user runs them as another user", async () => {
    chmodSync(root, 0o755);
    script("whoami.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nid -u\n");
    const nobody = execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }).trim();
    expect((await gw.request("/cgi-bin/whoami.sh")).body.toString()).toBe("0\n");
    expect(gw.stderr().match(/CGI scripts run as root/g)).toHaveLength(1);
    const other = await startGw(["serve", "--cgi", "--directory", root, "--port", "0", "--cgi-user", "nobody"]);
    try {
      expect((await other.request("/cgi-bin/whoami.sh")).body.toString()).toBe(`${nobody}\n`);
      expect(other.stderr()).not.toContain("run as root");
    } finally {
      await other.stop();
    }
  });

  test("--cgi-user with no such user is one line", async () => {
    const { runGw } = await import("../helpers/gw.ts");
    const result = await runGw(["serve", "--cgi", "--directory", root, "--port", "0", "--cgi-user", "no-such-user-gw"]);
    expect([result.exitCode, result.stderr.toString().trim()]).toEqual([1, "gw: --cgi-user: no such user: no-such-user-gw"]);
  });
});

test("a CGI option without --cgi is one line that says to add it", async () => {
  const { runGw } = await import("../helpers/gw.ts");
  const result = await runGw(["serve", "--directory", root, "--port", "0", "--cgi-assign", ".py=python3"]);
  expect([result.exitCode, result.stderr.toString().trim()]).toEqual([1, "gw: --cgi-assign configures CGI scripts: add --cgi"]);
});
