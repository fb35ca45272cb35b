// `gw fastcgi APP --workers N` and `gw scgi APP --workers N` from the outside: real processes,
// real signals, a raw FastCGI client and bounded load loops. The app answers its own pid, so the
// tests can tell the workers apart and see a SIGHUP swap the code.
import { spawnSync } from "node:child_process";
import { connect, createServer, type Server } from "node:net";
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { encodeScgiHead } from "../../src/server/scgi-netstring.ts";
import { FCGI_KEEP_CONN } from "../../src/server/fastcgi-records.ts";
import { FastCgiConnection, fastcgiRequest, requestRecords, splitResponse, type FastCgiAddress } from "../helpers/fastcgi-client.ts";
import { pollUntil, runGw, startGw, tempApp } from "../helpers/gw.ts";

const TCP_READY = /^Serving (?:FastCGI|SCGI) on (\S+) port (\d+) \.\.\.$/;
const UNIX_READY = /^Serving FastCGI on unix:(\S+)() \.\.\.$/;
const GET = { REQUEST_METHOD: "GET", SCRIPT_NAME: "", PATH_INFO: "/", REQUEST_URI: "/", SERVER_PROTOCOL: "HTTP/1.1", REMOTE_ADDR: "192.0.2.7" };

/**
 * An app answering `<body> <pid> <gw.multiprocess> <SCRIPT_NAME>|<PATH_INFO>`; /busy blocks its
 * worker 150 ms first, /slow answers after 1.5 s without blocking.
 */
function appSource(body: string): string {
  return `export default (environ: Record<string, unknown>, start: (status: string, headers: [string, string][]) => unknown) => {
  if (String(environ.PATH_INFO).endsWith("/busy")) for (const end = Date.now() + 150; Date.now() < end;);
  const text = ${JSON.stringify(body)} + " " + process.pid + " " + environ["gw.multiprocess"] + " " + environ.SCRIPT_NAME + "|" + environ.PATH_INFO;
  const send = () => { start("200 OK", [["Content-Type", "text/plain"]]); return [text]; };
  if (String(environ.PATH_INFO).endsWith("/slow")) return new Promise((resolve) => setTimeout(() => resolve(send()), 1500));
  return send();
};
`;
}

async function ask(address: FastCgiAddress, path: string = "/"): Promise<string> {
  const reply = await fastcgiRequest(address, { ...GET, PATH_INFO: path, REQUEST_URI: path });
  const { head, body } = splitResponse(reply.stdout);
  if (!head.startsWith("Status: 200 OK")) throw new Error(`unexpected head: ${head}`);
  return body.toString();
}

/**
 * The pids of the workers that answered 10 rounds of: a request that blocks its worker for 150 ms,
 * then 30 ms later one more, which only another worker can accept.
 */
async function distinctPids(address: FastCgiAddress): Promise<Set<string>> {
  const pids = new Set<string>();
  for (let round = 0; round < 10 && pids.size < 2; round++) {
    const busy = ask(address, "/busy");
    await new Promise((resolve) => setTimeout(resolve, 30));
    for (const body of await Promise.all([busy, ask(address)])) pids.add(body.split(" ").at(-3)!);
  }
  return pids;
}

/**
 * Two web-server-like clients until stop(): one a connection a request, one on a FCGI_KEEP_CONN
 * connection. A kept connection the server ends while idle (a draining worker) is reopened, as
 * nginx does; a request that got a partial or no answer on an open connection is a failure.
 */
function loop(address: FastCgiAddress): { stop: () => Promise<{ failures: string[]; bodies: string[]; kept: number }> } {
  let isRunning = true;
  const failures: string[] = [];
  const bodies: string[] = [];
  let keptAnswers = 0;
  const fresh = async (): Promise<void> => {
    while (isRunning) {
      try {
        bodies.push(await ask(address));
      } catch (error) {
        failures.push(`fresh: ${String(error)}`);
      }
    }
  };
  const kept = async (): Promise<void> => {
    let connection: FastCgiConnection | undefined;
    let id = 0;
    while (isRunning) {
      try {
        connection ??= await FastCgiConnection.open(address);
        id++;
        connection.send(requestRecords(id, GET, "", FCGI_KEEP_CONN));
        await connection.waitFor(`reply ${id}`, () => connection!.replies.get(id)?.end !== undefined || connection!.isClosed);
        const reply = connection.replies.get(id);
        if (reply?.end !== undefined) {
          bodies.push(splitResponse(reply.stdout).body.toString());
          keptAnswers++;
        }
        else if (reply !== undefined) failures.push(`kept: request ${id} cut after ${reply.stdout.length} bytes`);
        if (connection.isClosed) connection = undefined;
      } catch (error) {
        failures.push(`kept: ${String(error)}`);
        connection?.close();
        connection = undefined;
      }
    }
    connection?.close();
  };
  const clients = Promise.all([fresh(), kept()]);
  return {
    stop: async () => {
      isRunning = false;
      await clients;
      return { failures, bodies, kept: keptAnswers };
    },
  };
}

const lines = (text: string, pattern: RegExp): number => text.split("\n").filter((line) => pattern.test(line)).length;

describe("gw fastcgi --workers", () => {
  test("2 workers answer from 2 pids; 3 SIGHUPs under looping clients fail no request and swap the code; SIGTERM exits 0", async () => {
    const dir = tempApp({ "app.ts": appSource("gen 0") }, "gw-fcgi-workers-");
    const gw = await startGw(["fastcgi", "app.ts", "--workers", "2", "--port", "0", "--quiet"], { cwd: dir.dir, ready: TCP_READY });
    try {
      expect(gw.readyLine).toBe(`Serving FastCGI on 127.0.0.1 port ${gw.port} ...`);
      // The ready line comes once, after both workers said they were ready (stderr may lag stdout).
      await pollUntil("2 ready workers", async () => lines(gw.stderr(), /^gw: worker \d \(pid \d+\) ready/), (n) => n === 2);
      expect(await ask(gw.port)).toMatch(/^gen 0 \d+ true \|\/$/);
      const pids = await distinctPids(gw.port);
      expect(pids.size).toBe(2);
      expect(pids.has(String(gw.pid))).toBe(false);
      const load = loop(gw.port);
      for (let gen = 1; gen <= 3; gen++) {
        dir.write("app.ts", appSource(`gen ${gen}`));
        gw.child.kill("SIGHUP");
        await pollUntil(`rolled ${gen} times`, async () => lines(gw.stderr(), /^gw: SIGHUP: 2 workers on the new code$/), (n) => n === gen, 15_000);
      }
      const result = await load.stop();
      expect(result.failures).toEqual([]);
      expect(result.bodies.length).toBeGreaterThan(20);
      expect(result.kept).toBeGreaterThan(5);
      // Answers came from the old and the new code: 3 generations of 2 workers, and the first.
      expect(new Set(result.bodies.map((body) => body.split(" ").slice(0, 3).join(" "))).size).toBeGreaterThan(3);
      expect(await ask(gw.port)).toMatch(/^gen 3 /);
      const exit = await gw.stop("SIGTERM");
      expect(exit.code).toBe(0);
      expect(exit.stdout.match(/Serving FastCGI/g)).toHaveLength(1);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 90_000);

  test("--socket with --socket-mode and --workers 2: a stale socket is replaced, the mode set, the file removed at exit", async () => {
    const dir = tempApp({ "app.ts": appSource("unix") }, "gw-fcgi-workers-");
    const socket = join(dir.dir, "gw.sock");
    // A server killed while listening leaves its socket file behind.
    spawnSync(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, "SIGKILL"))`]);
    expect(statSync(socket).isSocket()).toBe(true);
    const gw = await startGw(["fastcgi", "app.ts", "--workers", "2", "--socket", socket, "--socket-mode", "660", "--quiet"], { cwd: dir.dir, ready: UNIX_READY });
    try {
      expect(gw.readyLine).toBe(`Serving FastCGI on unix:${socket} ...`);
      expect(statSync(socket).mode & 0o777).toBe(0o660);
      expect((await distinctPids(socket)).size).toBe(2);
      const live = await runGw(["fastcgi", "app.ts", "--workers", "2", "--socket", socket], { cwd: dir.dir });
      expect([live.exitCode, live.stderr.trim()]).toEqual([1, `gw: another server is listening on ${socket}; stop it or choose another --socket`]);
      expect((await gw.stop("SIGTERM")).code).toBe(0);
      expect(() => statSync(socket)).toThrow();
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 60_000);

  test("fd 0 (a web server spawned gw) with --workers 1: each worker listens on it, and a killed lone worker's successor still does", async () => {
    const dir = tempApp({ "app.ts": appSource("fd") }, "gw-fcgi-workers-");
    const listener: Server = createServer();
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const port = (listener.address() as { port: number }).port;
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    const gw = await startGw(["fastcgi", "app.ts", "--workers", "1", "--quiet"], { cwd: dir.dir, ready: /^Serving FastCGI on (fd 0)() \.\.\.$/, stdin: fd });
    // The parent stops accepting, as a spawning web server does: connections go to gw.
    listener.close();
    try {
      // The supervisor must keep fd 0 open for the successor of each lone worker.
      let previous = String(gw.pid);
      for (let kill = 1; kill <= 3; kill++) {
        const pid = (await pollUntil("a worker", () => ask(port).catch(() => ""), (body) => body !== "" && body.split(" ").at(-3) !== previous, 10_000)).split(" ").at(-3)!;
        process.kill(Number(pid), "SIGKILL");
        await pollUntil(`kill ${kill} seen`, async () => lines(gw.stderr(), /^gw: worker 1 \(pid \d+\) exited with signal SIGKILL; started pid \d+$/), (n) => n === kill);
        previous = pid;
      }
      expect((await ask(port)).split(" ").at(-3)).not.toBe(previous);
      expect((await gw.stop("SIGTERM")).code).toBe(0);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 60_000);

  test("SIGTERM: a request in flight on a FCGI_KEEP_CONN connection gets its whole answer, then the connection ends; exit 0", async () => {
    const dir = tempApp({ "app.ts": appSource("drain") }, "gw-fcgi-workers-");
    const gw = await startGw(["fastcgi", "app.ts", "--workers", "2", "--port", "0", "--quiet"], { cwd: dir.dir, ready: TCP_READY });
    try {
      const connection = await FastCgiConnection.open(gw.port);
      connection.send(requestRecords(1, { ...GET, PATH_INFO: "/slow", REQUEST_URI: "/slow" }, "", FCGI_KEEP_CONN));
      // The request is running (it answers after 1.5 s) when the signal comes.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const exited = gw.stop("SIGTERM", 10_000);
      const reply = await connection.reply(1, 5_000);
      expect(splitResponse(reply.stdout).body.toString()).toMatch(/^drain \d+ true \|\/slow$/);
      await connection.closed(5_000);
      expect((await exited).code).toBe(0);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 30_000);

  test("--workers without APP is one line, exit 1", async () => {
    const run = await runGw(["fastcgi", "--workers", "2", "--port", "0"]);
    expect([run.exitCode, run.stderr.trim()]).toEqual([1, "gw: --workers serves an APP; give the module to serve"]);
  });
});

function scgiGet(port: number, uri: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let out = "";
    socket.on("data", (data: Buffer) => (out += data.toString("latin1")));
    socket.on("error", reject);
    socket.on("end", () => {
      socket.end();
      resolve(out);
    });
    socket.write(encodeScgiHead(0, [["REQUEST_METHOD", "GET"], ["REQUEST_URI", uri], ["SERVER_PROTOCOL", "HTTP/1.1"]]));
  });
}

describe("gw scgi --workers", () => {
  test("2 workers with --script-name answer from 2 pids, each access line logged once; SIGTERM exits 0", async () => {
    const dir = tempApp({ "app.ts": appSource("scgi") }, "gw-scgi-workers-");
    const gw = await startGw(["scgi", "app.ts", "--workers", "2", "--port", "0", "--script-name", "/app"], { cwd: dir.dir, ready: TCP_READY });
    try {
      expect(gw.readyLine).toBe(`Serving SCGI on 127.0.0.1 port ${gw.port} ...`);
      const pids = new Set<string>();
      let asked = 0;
      // As distinctPids does: the second request comes while the first blocks its worker.
      for (let round = 0; round < 10 && pids.size < 2; round++) {
        const busy = scgiGet(gw.port, "/app/busy");
        await new Promise((resolve) => setTimeout(resolve, 30));
        for (const answer of await Promise.all([busy, scgiGet(gw.port, "/app/x")])) {
          asked++;
          expect(answer).toMatch(/^Status: 200 OK\r\n[^]*\r\n\r\nscgi \d+ true \/app\|\/(x|busy)$/);
          pids.add(answer.slice(answer.indexOf("\r\n\r\n") + 4).split(" ")[1]!);
        }
      }
      expect(pids.size).toBe(2);
      await pollUntil("every access line", async () => lines(gw.stderr(), /"GET \/app\/(x|busy) HTTP\/1\.1" 200 /), (n) => n === asked);
      expect((await gw.stop("SIGTERM")).code).toBe(0);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  }, 60_000);
});
