// `gw serve --directory DIR [--cgi]` from the outside: the built bin, a real port, real scripts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { RawConnection, waitUntil } from "../helpers/http-client.ts";
import { ROOT, runGw, startGw } from "../helpers/gw.ts";
import { groupMembers } from "../helpers/processes.ts";

const FIXTURES = join(ROOT, "test", "fixtures");

describe.concurrent("gw serve with a folder", () => {
  test("--directory: files and listings, scripts are just files, one access line each", async () => {
    const gw = await startGw(["serve", "--directory", FIXTURES, "--port", "0"]);
    try {
      const listing = await gw.request("/");
      expect([listing.status, listing.body.toString()]).toEqual([200, expect.stringContaining('<a href="cgi-bin/">cgi-bin/</a>')]);
      const script = await gw.request("/cgi-bin/hello.sh");
      expect([script.status, script.body.toString()]).toEqual([200, readFileSync(join(FIXTURES, "cgi-bin", "hello.sh"), "utf8")]);
      await gw.waitForStderr(/"GET \/cgi-bin\/hello\.sh HTTP\/1\.1" 200 \d+$/);
      expect(gw.stderrLines().filter((line) => line.includes('"GET /'))).toHaveLength(2);
    } finally {
      await gw.stop();
    }
  });

  test("no APP and no --directory: the current folder, like python -m http.server", async () => {
    const gw = await startGw(["serve", "--port", "0"], { cwd: join(FIXTURES, "cgi-bin") });
    try {
      expect((await gw.request("/file1.py")).body.toString()).toContain('print("Hello World")');
    } finally {
      await gw.stop();
    }
  });

  test("--cgi: scripts run, the rest is served, stderr lines are prefixed; SIGTERM exits 0", async () => {
    const gw = await startGw(["serve", "--cgi", "--directory", FIXTURES, "--port", "0"]);
    try {
      const response = await gw.request("/cgi-bin/file4.py?x=1");
      expect([response.status, response.body.toString()]).toEqual([200, "x=1\n"]);
      expect((await gw.request("/cgi-bin/fail.sh")).status).toBe(500);
      await gw.waitForStderr(/^\/cgi-bin\/fail\.sh: something broke$/);
      expect((await gw.request("/apps/hello.ts")).status).toBe(200);
    } finally {
      expect((await gw.stop()).code).toBe(0);
    }
  });

  // A fork copies the server's malloc heaps; V8's background threads each grow one (docs/ARCHITECTURE.md).
  test.runIf(process.platform === "linux" && process.execve !== undefined)("--cgi: the server runs itself again with V8's background threads off and a small young generation, same pid, one ready line", async () => {
    const [cgi, files] = await Promise.all([
      startGw(["serve", "--cgi", "--directory", FIXTURES, "--port", "0"]),
      startGw(["serve", "--directory", FIXTURES, "--port", "0"]),
    ]);
    try {
      const nodeFlags = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      expect(nodeFlags(cgi.pid)).toEqual(expect.arrayContaining(["--single-threaded", "--max-semi-space-size=1"]));
      expect(nodeFlags(files.pid)).not.toContain("--single-threaded");
      expect((await cgi.request("/cgi-bin/file1.py")).body.toString()).toBe("Hello World\n");
      expect(cgi.stdout().match(/Serving HTTP/g)).toHaveLength(1);
    } finally {
      expect((await cgi.stop()).code).toBe(0);
      await files.stop();
    }
  });

  test("--cgi-dir adds a CGI folder (and implies --cgi)", async () => {
    const gw = await startGw(["serve", "--cgi-dir", "/sub/dir/cgi-bin", "--directory", FIXTURES, "--port", "0"]);
    try {
      expect((await gw.request("/sub/dir/cgi-bin/file5.py")).body.toString()).toBe("Hello World\n");
      expect((await gw.request("/cgi-bin/file1.py")).body.toString()).toBe("Hello World\n");
    } finally {
      await gw.stop();
    }
  });

  test("--cgi-timeout: a slow script is a 504", async () => {
    const gw = await startGw(["serve", "--cgi", "--cgi-timeout", "0.5", "--directory", FIXTURES, "--port", "0"]);
    try {
      expect((await gw.request("/cgi-bin/silent.sh", { timeout: 5_000 })).status).toBe(504);
      await gw.waitForStderr(/killed: still running after 0\.5 s/);
    } finally {
      await gw.stop();
    }
  });

  test("a forced exit (a second signal) still kills running scripts", async () => {
    const gw = await startGw(["serve", "--cgi", "--directory", FIXTURES, "--port", "0"]);
    const connection = await RawConnection.open(gw.url);
    try {
      connection.send("GET /cgi-bin/sleepy.sh HTTP/1.1\r\nHost: x\r\n\r\n");
      await waitUntil("the pgid line", () => /pgid \d+/.test(connection.pending.toString()));
      const pgid = Number(/pgid (\d+)/.exec(connection.pending.toString())![1]);
      expect(groupMembers(pgid).length).toBeGreaterThan(0);
      gw.child.kill("SIGTERM");
      await gw.waitForStderr(/SIGTERM, finishing in-flight requests/);
      const exit = await gw.stop("SIGTERM");
      expect(exit.code).toBe(1);
      await waitUntil("the script's group is gone", () => groupMembers(pgid).length === 0, 3_000);
    } finally {
      connection.close();
      await gw.stop("SIGKILL");
    }
  });

  test("a folder that does not exist: one line, exit 1", async () => {
    const run = await runGw(["serve", "--directory", join(FIXTURES, "nope"), "--port", "0"]);
    expect([run.exitCode, run.stderr.trim().split("\n")]).toEqual([1, [`gw: directory not found: ${join(FIXTURES, "nope")}`]]);
  });

  test("APP and --directory together: one line, exit 1", async () => {
    const run = await runGw(["serve", "app.ts", "--directory", ".", "--port", "0"], { cwd: FIXTURES });
    expect(run.exitCode).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual(["gw: serve either APP or a folder (--directory, --cgi), not both; got app.ts"]);
  });

  test.each([
    [["--watch", "src", "app.ts"], 'gw: --watch adds paths to an app\'s reload, and no APP was given (if it is among src app.ts, put it before --watch)'],
    [["--cgi-dir", "/x", "app.ts"], 'gw: --cgi-dir takes URL folders like /scripts, not "app.ts" (to serve an APP, put it before the options)'],
    [["app.ts", "--no-reload", "--watch", "src"], "gw: --watch adds paths to the reload, and --no-reload turns reloading off"],
    [["app.ts", "--watch", "--quiet"], 'gw: --watch takes paths, and "--quiet" is an option: give --watch its paths'],
  ])("a variadic option that swallowed APP, or a --watch with nothing to reload: %j is one line", async (args, line) => {
    const run = await runGw(["serve", ...args, "--port", "0"], { cwd: FIXTURES });
    expect([run.exitCode, run.stderr.trim()]).toEqual([1, line]);
  });

  test.each([
    [["--cgi-timeout", "0"], /--cgi-timeout.*"0" is not a number of seconds above 0/],
    [["--cgi-timeout", "soon"], /"soon" is not a number of seconds/],
    // Past 2³¹ − 1 ms a Node timer fires at once: every script would be a 504.
    [["--cgi-timeout", "2147484"], /--cgi-timeout.*2147484 seconds is more than 2147483 \(about 24 days\)/],
    [["--cgi-max", "0"], /--cgi-max.*"0" is not a whole number from 1/],
  ])("bad %j: a usage error", async (args, message) => {
    const run = await runGw(["serve", "--cgi", ...args, "--port", "0"], { cwd: FIXTURES });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(message);
  });

  test("--help lists the folder options", async () => {
    const help = (await runGw(["serve", "--help"])).stdout.toString();
    for (const option of ["--directory <dir>", "--cgi ", "--cgi-dir <path...>", "--cgi-timeout <seconds>", "--cgi-max <n>"]) expect(help).toContain(option);
  });
});
