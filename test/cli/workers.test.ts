// `gw serve APP --workers N` from the outside: real processes, real signals, bounded load loops.
// SIGHUP rolls onto new code with no failed request, broken code leaves the old workers serving,
// dead and blocked workers are replaced, TTIN/TTOU scale, max-requests recycles, SIGTERM drains.
import { execFileSync, spawn } from "node:child_process";
import { Agent } from "node:http";
import { describe, expect, test } from "vitest";
import { GW_BIN, pollUntil, runGw, startGw, tempApp, type GwServer } from "../helpers/gw.ts";
import { sendRequest } from "../helpers/http-client.ts";

const START = `(environ: Record<string, unknown>, start: (status: string, headers: [string, string][]) => unknown)`;

/** An app answering `<body> <pid> <gw.multiprocess>`; /slow answers after 3 s, /spin blocks its worker. */
function appSource(body: string): string {
  return `export default ${START} => {
  if (environ.PATH_INFO === "/spin") while (true) {}
  const text = ${JSON.stringify(body)} + " " + process.pid + " " + environ["gw.multiprocess"];
  const send = () => { start("200 OK", [["Content-Type", "text/plain"]]); return [text]; };
  if (environ.PATH_INFO === "/slow") return new Promise((resolve) => setTimeout(() => resolve(send()), 3000));
  return send();
};
`;
}

async function get(gw: GwServer, path: string = "/"): Promise<{ status: number; text: string }> {
  const res = await gw.request(path);
  return { status: res.status, text: res.body.toString() };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pids of the supervisor's children (its workers). */
function workerPids(gw: GwServer): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(gw.pid)], { encoding: "utf8" }).trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Two clients looping until stop(): one on kept-alive connections (fetch), one on a new connection a request. */
function loop(gw: GwServer): { stop: () => Promise<{ errors: string[]; statuses: number[]; bodies: string[]; count: number }> } {
  let isRunning = true;
  const errors: string[] = [];
  const statuses: number[] = [];
  const bodies: string[] = [];
  const keepAlive = async (): Promise<void> => {
    while (isRunning) {
      try {
        const res = await fetch(`${gw.url}/`, { signal: AbortSignal.timeout(5_000) });
        bodies.push(await res.text());
        statuses.push(res.status);
      } catch (error) {
        errors.push(`fetch: ${String((error as Error).cause ?? error)}`);
      }
    }
  };
  const fresh = async (): Promise<void> => {
    while (isRunning) {
      try {
        const res = await gw.request("/", { headers: { Connection: "close" } });
        bodies.push(res.body.toString());
        statuses.push(res.status);
      } catch (error) {
        errors.push(`http: ${String(error)}`);
      }
    }
  };
  const clients = Promise.all([keepAlive(), fresh()]);
  return {
    stop: async () => {
      isRunning = false;
      await clients;
      return { errors, statuses: statuses.filter((status) => status !== 200), bodies, count: statuses.length };
    },
  };
}

const count = (text: string, pattern: RegExp): number => text.split("\n").filter((line) => pattern.test(line)).length;

describe("gw serve --workers", () => {
  test("10 SIGHUPs under looping clients: 0 failed requests, and the served code changes each time", async () => {
    const dir = tempApp({ "app.ts": appSource("gen 0") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet", "--workers", "2"], { cwd: dir.dir });
    try {
      expect((await get(gw)).text).toMatch(/^gen 0 \d+ true$/);
      const load = loop(gw);
      for (let gen = 1; gen <= 10; gen++) {
        dir.write("app.ts", appSource(`gen ${gen}`));
        gw.child.kill("SIGHUP");
        await pollUntil(`rolled ${gen} times`, async () => count(gw.stderr(), /^gw: SIGHUP: 2 workers on the new code$/), (n) => n === gen, 10_000);
      }
      const result = await load.stop();
      expect(result.errors).toEqual([]);
      expect(result.statuses).toEqual([]);
      expect(result.count).toBeGreaterThan(50);
      expect(new Set(result.bodies.map((body) => body.split(" ")[1])).size).toBeGreaterThan(5);
      expect((await get(gw)).text).toMatch(/^gen 10 /);
      const exit = await gw.stop();
      expect([exit.code, exit.stderr]).toEqual([0, expect.any(String)]);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 90_000);

  test("SIGHUP with broken code keeps the old workers serving and names the error; fixed code then serves", async () => {
    const dir = tempApp({ "app.ts": appSource("good") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet", "--workers", "1"], { cwd: dir.dir });
    try {
      const before = (await get(gw)).text;
      dir.write("app.ts", 'throw new Error("broken on purpose");\n');
      gw.child.kill("SIGHUP");
      const line = await gw.waitForStderr(/^gw: SIGHUP: the new code did not start/);
      expect(line).toContain("broken on purpose");
      expect((await get(gw)).text).toBe(before);
      // A syntax error's message names no place by itself; the line adds the file and line.
      dir.write("app.ts", 'export default () => {\n  return ["x" +];\n};\n');
      gw.child.kill("SIGHUP");
      await pollUntil("the second refusal", async () => count(gw.stderr(), /^gw: SIGHUP: the new code did not start/), (n) => n === 2, 10_000);
      expect(gw.stderrLines().filter((text) => text.startsWith("gw: SIGHUP: the new code")).at(-1)).toMatch(/ at app\.ts:2\); the old workers keep serving$/);
      expect((await get(gw)).text).toBe(before);
      dir.write("app.ts", appSource("fixed"));
      gw.child.kill("SIGHUP");
      await gw.waitForStderr(/^gw: SIGHUP: 1 worker on the new code$/);
      expect((await get(gw)).text).toMatch(/^fixed \d+ false$/);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 30_000);

  test("a worker killed with SIGKILL under load is replaced within 2 s with one log line", async () => {
    const dir = tempApp({ "app.ts": appSource("app") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet", "--workers", "2"], { cwd: dir.dir });
    try {
      const load = loop(gw);
      const [victim] = workerPids(gw);
      const killedAt = Date.now();
      process.kill(victim!, "SIGKILL");
      const line = await gw.waitForStderr(new RegExp(`^gw: worker \\d \\(pid ${victim}\\) exited with signal SIGKILL; started pid \\d+$`), 2_000);
      const replacement = Number(/started pid (\d+)/.exec(line)![1]);
      await gw.waitForStderr(new RegExp(`\\(pid ${replacement}\\) ready`), 2_000 - (Date.now() - killedAt));
      const result = await load.stop();
      expect(result.statuses).toEqual([]);
      expect(workerPids(gw).sort()).toEqual(workerPids(gw).filter((pid) => pid !== victim).sort());
      expect(workerPids(gw)).toContain(replacement);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 30_000);

  test("--node reaches the workers: a two-parameter export is served as a Node listener", async () => {
    const dir = tempApp({ "listener.mjs": `export default (req, res) => { res.setHeader("Content-Type", "text/plain"); res.end("node " + req.url); };\n` });
    const gw = await startGw(["serve", "listener.mjs", "--node", "--port", "0", "--quiet", "--workers", "1"], { cwd: dir.dir });
    try {
      expect(await get(gw, "/x")).toEqual({ status: 200, text: "node /x" });
    } finally {
      await gw.stop();
      dir.remove();
    }
  }, 30_000);

  test("with one worker and --port 0, the replacement of a killed worker serves on the same port", async () => {
    const dir = tempApp({ "app.ts": appSource("app") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet", "--workers", "1"], { cwd: dir.dir });
    try {
      const [only] = workerPids(gw);
      process.kill(only!, "SIGKILL");
      await gw.waitForStderr(/^gw: worker 1 \(pid \d+\) ready/);
      await pollUntil("the new worker to answer", () => get(gw).catch(() => ({ status: 0, text: "" })), (r) => r.status === 200, 5_000);
      expect((await get(gw)).text).not.toContain(String(only));
      expect(gw.stdout().split("\n").filter(Boolean)).toHaveLength(1);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 30_000);

  test("access-log lines of two workers under load are whole lines, one a request", async () => {
    const dir = tempApp({ "app.ts": appSource("app") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--workers", "2"], { cwd: dir.dir });
    try {
      const results = await Promise.all(Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 40; i++) await get(gw, `/${"x".repeat(200)}?${i}`);
      }));
      expect(results).toHaveLength(8);
      await pollUntil("320 access lines", async () => count(gw.stderr(), /"GET \//), (n) => n >= 320, 5_000);
      const lines = gw.stderr().split("\n").filter(Boolean);
      const access = /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/x{200}\?\d+ HTTP\/1\.1" 200 \d+$/;
      expect(lines.filter((line) => !access.test(line) && !line.startsWith("gw: "))).toEqual([]);
      expect(lines.filter((line) => access.test(line))).toHaveLength(320);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 30_000);

  test("access-log lines stay whole while the log pipe is full, 4 KiB long lines cut to fit", async () => {
    const dir = tempApp({ "app.ts": appSource("app") });
    // gw's stderr is read only after a pause, so the pipe fills and every worker waits on it:
    // Node's own stream joined the queued lines into writes past PIPE_BUF, which the pipe split.
    const child = spawn(process.execPath, [GW_BIN, "serve", "app.ts", "--port", "0", "--workers", "3"], { cwd: dir.dir, stdio: ["ignore", "pipe", "pipe"] });
    try {
      child.stderr.pause();
      const port = await new Promise<number>((resolve) => child.stdout.on("data", (data: Buffer) => {
        const match = / port (\d+) /.exec(data.toString());
        if (match) resolve(Number(match[1]));
      }));
      const query = "q".repeat(3000);
      const agent = new Agent({ keepAlive: false });
      const requests = Promise.all(Array.from({ length: 12 }, async (_, client) => {
        for (let i = 0; i < 40; i++) {
          const path = i % 2 === 0 ? `/long${client}-${i}?${query}${query}` : `/short${client}-${i}`;
          await sendRequest(`http://127.0.0.1:${port}`, path, { agent });
        }
      }));
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      let text = "";
      child.stderr.setEncoding("utf8").on("data", (data: string) => (text += data));
      child.stderr.resume();
      await requests;
      await pollUntil("480 access lines", async () => count(text, /"GET \//), (n) => n >= 480, 10_000);
      const long = /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/long\d+-\d+\?q+… \[\d+ more bytes\]$/;
      const short = /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/short\d+-\d+ HTTP\/1\.1" 200 \d+$/;
      const lines = text.split("\n").filter(Boolean);
      expect(lines.filter((line) => !long.test(line) && !short.test(line) && !line.startsWith("gw: ")).map((line) => line.slice(0, 80))).toEqual([]);
      expect(lines.filter((line) => long.test(line)).every((line) => Buffer.byteLength(line) < 4096)).toBe(true);
      expect([lines.filter((line) => long.test(line)).length, lines.filter((line) => short.test(line)).length]).toEqual([240, 240]);
    } finally {
      child.kill("SIGKILL");
      dir.remove();
    }
  }, 30_000);

  test("SIGTERM lets a 3 s request finish, exits 0 and leaves no worker behind", async () => {
    const dir = tempApp({ "app.ts": appSource("app") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet", "--workers", "2"], { cwd: dir.dir });
    try {
      const workers = workerPids(gw);
      const slow = get(gw, "/slow");
      await new Promise((resolve) => setTimeout(resolve, 300));
      const exit = gw.stop("SIGTERM");
      expect((await slow).status).toBe(200);
      expect((await exit).code).toBe(0);
      expect(workers.filter(isAlive)).toEqual([]);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 30_000);

  test("SIGTERM while a worker boots ends it at once: no new worker serves, and no wait for --graceful-timeout", async () => {
    // Once the file "slow" exists, a worker takes 2 s to import the app.
    const slowBoot = `import { existsSync } from "node:fs";\nif (existsSync("slow")) await new Promise((resolve) => setTimeout(resolve, 2000));\n`;
    const dir = tempApp({ "app.ts": slowBoot + appSource("app") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet", "--workers", "2", "--graceful-timeout", "20"], { cwd: dir.dir });
    try {
      const first = workerPids(gw);
      dir.write("slow", "");
      process.kill(first[0]!, "SIGKILL");
      const fresh = await pollUntil("a replacement booting", async () => workerPids(gw).filter((pid) => !first.includes(pid)), (pids) => pids.length === 1, 5_000);
      const started = performance.now();
      const exit = await gw.stop("SIGTERM", 15_000);
      expect(exit.code).toBe(0);
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(exit.stderr.split(/SIGTERM, finishing/)[1]).not.toMatch(/ready, RSS/);
      await pollUntil("no worker left", async () => [...first, ...fresh].filter(isAlive), (left) => left.length === 0, 5_000);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 30_000);

  test("workers exit when the supervisor is killed with SIGKILL", async () => {
    const dir = tempApp({ "app.ts": appSource("app") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet", "--workers", "2"], { cwd: dir.dir });
    try {
      const workers = workerPids(gw);
      expect(workers).toHaveLength(2);
      await gw.stop("SIGKILL");
      await pollUntil("the workers to exit", async () => workers.filter(isAlive), (left) => left.length === 0, 5_000);
    } finally {
      dir.remove();
    }
  }, 30_000);

  test("SIGTTIN adds a worker, SIGTTOU removes one but never the last", async () => {
    const dir = tempApp({ "app.ts": appSource("app") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet", "--workers", "1"], { cwd: dir.dir });
    try {
      expect(workerPids(gw)).toHaveLength(1);
      // Each answer is "app <pid> <gw.multiprocess>", on a new connection each.
      const answers = async (): Promise<string[]> => {
        const bodies: string[] = [];
        for (let i = 0; i < 6; i++) bodies.push((await gw.request("/", { headers: { connection: "close" } })).body.toString());
        return bodies;
      };
      const [first] = workerPids(gw);
      expect(new Set(await answers())).toEqual(new Set([`app ${first} false`]));
      gw.child.kill("SIGTTIN");
      await gw.waitForStderr(/^gw: worker 2 \(pid \d+\) ready/);
      expect(workerPids(gw)).toHaveLength(2);
      // The first worker is told it is no longer alone.
      await pollUntil("gw.multiprocess true everywhere", answers, (bodies) => bodies.every((body) => body.endsWith(" true")), 5_000);
      gw.child.kill("SIGTTOU");
      await pollUntil("one worker", async () => workerPids(gw), (pids) => pids.length === 1, 5_000);
      await pollUntil("gw.multiprocess false again", answers, (bodies) => bodies.every((body) => body.endsWith(" false")), 5_000);
      gw.child.kill("SIGTTOU");
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(workerPids(gw)).toHaveLength(1);
      expect((await get(gw)).status).toBe(200);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 30_000);

  test("--max-requests recycles workers with 0 failed requests", async () => {
    const dir = tempApp({ "app.ts": appSource("app") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet", "--workers", "1", "--max-requests", "40", "--max-requests-jitter", "5"], { cwd: dir.dir });
    try {
      const load = loop(gw);
      await pollUntil("3 recycles", async () => count(gw.stderr(), /^gw: worker 1 \(pid \d+\) reached --max-requests; pid \d+ serves in its place$/), (n) => n >= 3, 15_000);
      const result = await load.stop();
      expect(result.errors).toEqual([]);
      expect(result.statuses).toEqual([]);
      expect(new Set(result.bodies.map((body) => body.split(" ")[1])).size).toBeGreaterThanOrEqual(3);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 30_000);

  test("--timeout: a worker blocked in while (true) {} is replaced while other paths keep answering", async () => {
    const dir = tempApp({ "app.ts": appSource("app") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet", "--workers", "2", "--timeout", "1"], { cwd: dir.dir });
    try {
      const sent = performance.now();
      const spin = gw.request("/spin").then(() => "answered", () => `cut after ${performance.now() - sent >= 1000 ? "1 s or more" : "less than 1 s"}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (let i = 0; i < 5; i++) expect((await get(gw)).status).toBe(200);
      const line = await gw.waitForStderr(/^gw: worker \d \(pid \d+\) blocked for at least \d+\.\d s serving "GET \/spin HTTP\/1\.1" \(--timeout 1\); killed it, started pid \d+$/, 5_000);
      expect(Number(/at least (\d+\.\d) s/.exec(line)![1])).toBeGreaterThanOrEqual(1);
      // Not before its loop was blocked for --timeout: a beat just before the block once gave a kill at 0.75 of it.
      expect(await spin).toBe("cut after 1 s or more");
      expect((await get(gw)).status).toBe(200);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 30_000);

  test("--auth, --htpasswd, --static and --header-underscores keep apply in every worker; the app cannot read the logins", async () => {
    const app = `export default ${START} => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [[environ.REMOTE_USER, environ.HTTP_X_ODD_NAME, process.pid, Object.keys(process.env).filter((key) => key.startsWith("GW_WORKER")).join("+") || "none"].join(" ")];
};
`;
    // {SHA} line for "sesame", as `htpasswd -s` writes it.
    const dir = tempApp({ "app.ts": app, "static/a.txt": "beside\n", "public/b.txt": "mapped\n", "logins": "bob:{SHA}CEo1Ae3vaEXy8eQZjsOiuBz1xrw=\n" });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--workers", "2", "--auth", "ann:secret", "--htpasswd", "logins", "--static", "/pub=public", "--header-underscores", "keep"], { cwd: dir.dir });
    const basic = (login: string): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(login).toString("base64")}` });
    try {
      const pids = new Set<string>();
      for (let i = 0; i < 20 && pids.size < 2; i++) {
        const res = await gw.request("/", { headers: { ...basic("ann:secret"), "X_Odd_Name": "kept", Connection: "close" } });
        const [user, odd, pid, leaked] = res.body.toString().split(" ");
        expect([res.status, user, odd, leaked]).toEqual([200, "ann", "kept", "none"]);
        pids.add(pid!);
      }
      expect(pids.size).toBe(2);
      expect((await gw.request("/", { headers: basic("bob:sesame") })).body.toString()).toMatch(/^bob /);
      const refused = await gw.request("/", { headers: basic("ann:wrong") });
      expect([refused.status, refused.headers["www-authenticate"]]).toEqual([401, 'Basic realm="gw"']);
      expect((await gw.request("/static/a.txt", { headers: basic("ann:secret") })).body.toString()).toBe("beside\n");
      expect((await gw.request("/pub/b.txt", { headers: basic("ann:secret") })).body.toString()).toBe("mapped\n");
      expect((await gw.request("/pub/b.txt")).status).toBe(401);
      expect(gw.stderr()).not.toContain("secret");
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 30_000);

  test("--workers with a missing --static folder or --htpasswd file is one line and no worker starts", async () => {
    const dir = tempApp({ "app.ts": appSource("x") });
    try {
      for (const args of [["--static", "/pub=nowhere"], ["--htpasswd", "nowhere"]]) {
        const run = await runGw(["serve", "app.ts", "--port", "0", "--workers", "2", ...args], { cwd: dir.dir });
        expect([run.exitCode, run.stderr.trim().split("\n").length]).toEqual([1, 1]);
        expect(run.stderr).toMatch(/nowhere/);
      }
    } finally {
      dir.remove();
    }
  }, 30_000);

  test("code that never loads ends gw with its error and exit 1; --workers with --watch is one line", async () => {
    const dir = tempApp({ "app.ts": "export const notAnApp = 1;\n" });
    try {
      const broken = await runGw(["serve", "app.ts", "--port", "0", "--workers", "2"], { cwd: dir.dir, timeout: 15_000 });
      expect(broken.exitCode).toBe(1);
      expect(broken.stderr).toMatch(/^gw: .*app\.ts/m);
      const both = await runGw(["serve", "app.ts", "--port", "0", "--workers", "2", "--watch", "."], { cwd: dir.dir });
      expect([both.exitCode, both.stderr.trim().split("\n").length]).toEqual([1, 1]);
    } finally {
      dir.remove();
    }
  }, 30_000);

  // Each of these was once taken and ignored: gw served without it and said nothing.
  test.each([
    [["--workers", "2", "--inspect"], "gw: --inspect debugs the dev server's app; --workers runs without it (debug with gw serve APP --inspect)"],
    [["--workers", "2", "--livereload"], "gw: --livereload refreshes pages after the app reloads, and --workers does not reload"],
    [["--no-reload", "--livereload"], "gw: --livereload refreshes pages after the app reloads, and --no-reload turns reloading off"],
    [["--timeout", "5"], "gw: --timeout tunes --workers, which is not given: add --workers N"],
    [["--no-reload", "--graceful-timeout", "5"], "gw: --graceful-timeout tunes --workers, which is not given: add --workers N"],
    [["--max-requests", "100"], "gw: --max-requests tunes --workers, which is not given: add --workers N"],
    [["--workers", "2", "--max-requests-jitter", "10"], "gw: --max-requests-jitter spreads --max-requests, which is not given"],
  ])("%j is one line, exit 1", async (args, line) => {
    const dir = tempApp({ "app.ts": appSource("x") });
    try {
      const run = await runGw(["serve", "app.ts", "--port", "0", ...args], { cwd: dir.dir });
      expect([run.exitCode, run.stderr]).toEqual([1, `${line}\n`]);
    } finally {
      dir.remove();
    }
  });
});
