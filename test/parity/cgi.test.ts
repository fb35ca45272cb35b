// The same requests to `python3 -m http.server --cgi` and `gw serve --cgi` over fixtures/: the
// statuses, redirect targets and bodies agree wherever http.server follows RFC 3875, and the known
// differences are asserted as such, so a change on either side shows up here.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { request } from "node:http";
import { connect } from "node:net";
import { chmodSync, cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { freePort, pollUntil, ROOT, startGw, type GwServer } from "../helpers/gw.ts";

/**
 * A copy of fixtures/ that anyone may read: http.server running as root drops to the `nobody`
 * user before it runs a script, and a clone under a private temp folder (mode 0700) would make
 * every script a "Permission denied" on the Python side.
 */
function readableFixtures(): string {
  const dir = mkdtempSync(join(tmpdir(), "gw-parity-"));
  chmodSync(dir, 0o755);
  cpSync(join(ROOT, "test", "fixtures"), dir, { recursive: true });
  return dir;
}
const hasPython = spawnSync("python3", ["--version"]).status === 0;

interface Answer {
  status: number;
  location: string | undefined;
  body: string;
}

/** One request; lenient parsing, since http.server relays a script's bare-LF header lines as they are. */
function ask(port: number, path: string, method: string = "GET", body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, insecureHTTPParser: true, agent: false, timeout: 10_000 }, (res) => {
      let text = "";
      res.setEncoding("latin1");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: text }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

describe.skipIf(!hasPython)("parity with python3 -m http.server --cgi", () => {
  let python: ChildProcess;
  let pythonPort: number;
  let gw: GwServer;
  let FIXTURES: string;

  beforeAll(async () => {
    FIXTURES = readableFixtures();
    pythonPort = await freePort();
    python = spawn("python3", ["-m", "http.server", "--cgi", "--bind", "127.0.0.1", String(pythonPort), "--directory", FIXTURES], { stdio: "ignore" });
    gw = await startGw(["serve", "--cgi", "--directory", FIXTURES, "--port", "0", "--quiet"]);
    const connects = (): Promise<boolean> => new Promise((resolve) => {
      const socket = connect(pythonPort, "127.0.0.1", () => (socket.destroy(), resolve(true)));
      socket.on("error", () => resolve(false));
    });
    await pollUntil("python3 -m http.server to accept a connection", connects, (isUp) => isUp);
  }, 20_000);

  afterAll(async () => {
    await gw?.stop();
    if (FIXTURES !== undefined) rmSync(FIXTURES, { recursive: true, force: true });
    if (python !== undefined && python.exitCode === null) {
      python.kill("SIGKILL");
      await once(python, "exit");
    }
  });

  const both = async (path: string, method?: string, body?: string): Promise<[Answer, Answer]> =>
    [await ask(pythonPort, path, method, body), await ask(gw.port, path, method, body)];

  test.each([
    ["/cgi-bin/hello.sh"],
    ["/cgi-bin/nothere.sh"],
    ["/cgi-bin/data.txt"],
    ["/cgi-bin/"],
    ["/cgi-bin%2fhello.sh"],
    ["/apps/hello.ts"],
    ["/nothere"],
    ["/apps/hello.ts/"],
  ])("GET %s: same status and body", async (path) => {
    const [python, ours] = await both(path);
    expect(ours.status).toBe(python.status);
    if (python.status === 200) {
      // http.server relays the script's own header lines in its body: compare what follows them.
      const pythonBody = path.includes("/cgi-bin/") ? python.body.slice(python.body.search(/\r?\n\r?\n/) + 1).replace(/^\r?\n/, "") : python.body;
      expect(ours.body).toBe(pythonBody);
    }
  });

  test("a folder without its slash: the same 301, query kept", async () => {
    const [python, ours] = await both("/apps?x=1");
    expect([ours.status, ours.location]).toEqual([python.status, python.location]);
    expect(ours.location).toBe("/apps/?x=1");
  });

  test("POST to a file that is not a script: 501 on both", async () => {
    const [python, ours] = await both("/apps/hello.ts", "POST", "x=1");
    expect([python.status, ours.status]).toEqual([501, 501]);
  });

  test("a listing names the same entries", async () => {
    const [python, ours] = await both("/apps/");
    const names = (html: string): string[] => Array.from(html.matchAll(/<a href="([^"]+)">/g), (match) => match[1]!).filter((href) => href !== "../").sort();
    expect(names(ours.body)).toEqual(names(python.body));
  });

  test("differences by design: Status and Location are read (RFC 3875 §6), where http.server relays them under a 200", async () => {
    const [pythonStatus, ourStatus] = await both("/cgi-bin/status.sh");
    expect([pythonStatus.status, ourStatus.status]).toEqual([200, 418]);
    const [pythonRedirect, ourRedirect] = await both("/cgi-bin/redirect.sh?remote");
    expect([pythonRedirect.status, ourRedirect.status, ourRedirect.location]).toEqual([200, 302, "http://example.com/elsewhere"]);
  });

  test("differences by design: http.server sends its 200 line before the script runs, so these break there", async () => {
    // A failing script: http.server's headers never end; gw answers 500.
    await expect(ask(pythonPort, "/cgi-bin/fail.sh")).rejects.toThrow();
    expect((await ask(gw.port, "/cgi-bin/fail.sh")).status).toBe(500);
    // An nph- script: its status line lands among http.server's headers; gw sends it as the status.
    await expect(ask(pythonPort, "/cgi-bin/nph-hello.sh")).rejects.toThrow();
    expect((await ask(gw.port, "/cgi-bin/nph-hello.sh")).status).toBe(202);
  });
});
