// gw behind nginx, in the same run, alternating rounds: hello through FastCGI (Unix socket,
// keep-conn) and SCGI against `gw serve` behind proxy_pass with upstream keepalive, FastCGI
// against php-fpm (pm static, one child), and a 100 MiB chunked upload's RSS growth in gw.
// nginx runs one worker; nginx and the backend share CPU 0, wrk runs on CPU 1. Each row gives the
// median and (min–max) of interleaved rounds, and the CPU nginx and the backend spent a request.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { deployConfig, startNginx, tempDir, type WebServer } from "../test/helpers/web-servers.ts";
import { freePort, hasTaskset, median, pinned, reportWrkErrors, runMicros, wrkRate } from "./common.ts";

const GW_BIN = join(import.meta.dirname, "..", "bin", "gw.js");

/** Options for benchBehind. */
export interface BehindBenchOptions {
  /** Seconds per measured round. @default 2 */
  seconds?: number;
  /** Rounds per pair; the ratio reported is the median of the per-round ratios. @default 5 */
  rounds?: number;
}

interface Backend {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a backend pinned to CPU 0 and resolves once it printed a line matching `ready`, or once the file `ready` exists. */
async function startBackend(command: string, args: string[], ready: RegExp | string): Promise<Backend> {
  const child = spawn(...pinned(0, command, args), { stdio: ["ignore", "pipe", "pipe"] });
  const lines = createInterface({ input: child.stdout! });
  const errors = createInterface({ input: child.stderr! });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} was not ready after 10 s`));
    }, 10_000);
    let output = "";
    if (typeof ready === "string") {
      const poll = setInterval(() => {
        if (!existsSync(ready)) return;
        clearInterval(poll);
        clearTimeout(timer);
        resolve();
      }, 20);
      child.once("exit", () => clearInterval(poll));
    }
    const check = (line: string): void => {
      output += line + "\n";
      if (typeof ready === "string" || !ready.test(line)) return;
      clearTimeout(timer);
      resolve();
    };
    lines.on("line", check);
    errors.on("line", check);
    child.once("exit", () => reject(new Error(`${command} exited before it was ready:\n${output}`)));
  });
  return {
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGTERM first: php-fpm's master then ends its pool, which SIGKILL would orphan.
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await once(child, "exit");
      clearTimeout(timer);
    },
  };
}

/** nginx's master and worker pids. */
function nginxPids(nginx: WebServer): number[] {
  const children = spawnSync("pgrep", ["-P", String(nginx.pid)]).stdout.toString().split("\n").filter(Boolean).map(Number);
  return [nginx.pid, ...children];
}

/** Pins nginx's master and its worker to CPU 0, like the backends. */
function pinNginx(nginx: WebServer): void {
  if (!hasTaskset) return;
  for (const pid of nginxPids(nginx)) spawnSync("taskset", ["-a", "-p", "-c", "0", String(pid)]);
}

/** "median (min–max)". */
function spread(values: number[], digits: number): string {
  return `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;
}

function rssKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
}

/** Sends `total` bytes chunked in 64 KiB pieces, honouring backpressure; resolves with the answer. */
function upload(url: string, total: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "Transfer-Encoding": "chunked", "Content-Type": "application/octet-stream" } }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (text: string) => (body += text));
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    const piece = Buffer.alloc(64 * 1024, 0x78);
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        sent += piece.length;
        if (!req.write(piece)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

/** Measures each pair in alternating rounds; returns the table rows. */
export async function benchBehind(options: BehindBenchOptions = {}): Promise<string[][]> {
  const seconds = options.seconds ?? 2;
  const rounds = options.rounds ?? 5;
  const dir = tempDir("gw-bench-behind-");
  const app = join(dir, "hello.ts");
  writeFileSync(app, `export default (_e: unknown, start: (s: string, h: [string, string][]) => void) => { start("200 OK", [["Content-Type", "text/plain"]]); return ["Hello, world!"]; };\n`);
  const counter = join(dir, "count.ts");
  writeFileSync(counter, `export default async (environ: any, start: any) => { let n = 0; for await (const chunk of environ["gw.input"]) n += chunk.byteLength; start("200 OK", [["Content-Type", "text/plain"]]); return [String(n)]; };\n`);
  const backends: Backend[] = [];
  const webServers: WebServer[] = [];
  const rows: string[][] = [];
  try {
    const fcgiSocket = join(dir, "gw.sock");
    backends.push(await startBackend(process.execPath, [GW_BIN, "fastcgi", app, "--socket", fcgiSocket, "--quiet"], /^Serving FastCGI/));
    // A Unix socket: SCGI opens a connection per request, and a TCP connect and close cost nginx
    // (on the same CPU as gw here) several times what a Unix socket's do.
    const scgiSocket = join(dir, "scgi.sock");
    backends.push(await startBackend(process.execPath, [GW_BIN, "scgi", app, "--socket", scgiSocket, "--quiet"], /^Serving SCGI/));
    const httpPort = await freePort();
    backends.push(await startBackend(process.execPath, [GW_BIN, "serve", app, "--port", String(httpPort), "--no-reload", "--quiet"], /^Serving HTTP/));
    const fastcgi = await startNginx(deployConfig("nginx-fastcgi.conf", [["/run/gw/gw.sock", fcgiSocket]]));
    const scgi = await startNginx(deployConfig("nginx-scgi.conf", [["127.0.0.1:4000", `unix:${scgiSocket}`]]));
    const proxy = await startNginx(`upstream gw_http { server 127.0.0.1:${httpPort}; keepalive 8; }
server { listen 80; server_name example.com; location / { proxy_pass http://gw_http; proxy_http_version 1.1; proxy_set_header Connection ""; } }`);
    webServers.push(fastcgi, scgi, proxy);
    const hasPhp = spawnSync("php-fpm8.2", ["-v"]).status === 0;
    let php: WebServer | undefined;
    if (hasPhp) {
      writeFileSync(join(dir, "hello.php"), "<?php header('Content-Type: text/plain'); echo 'Hello, world!';\n");
      writeFileSync(join(dir, "php-fpm.conf"), `[global]\npid = ${dir}/php-fpm.pid\nerror_log = ${dir}/php-fpm.log\ndaemonize = no\n[www]\nlisten = ${dir}/php.sock\nlisten.mode = 0666\npm = static\npm.max_children = 1\n`);
      backends.push(await startBackend("php-fpm8.2", ["-F", "-R", "-y", join(dir, "php-fpm.conf")], join(dir, "php.sock")));
      php = await startNginx(deployConfig("nginx-fastcgi.conf", [["/run/gw/gw.sock", join(dir, "php.sock")], ["fastcgi_param SCRIPT_NAME       \"\";", `fastcgi_param SCRIPT_FILENAME ${dir}/hello.php;`],
        // A kept connection would tie php-fpm's one child to one of nginx's connections, and
        // requests on the others would wait for it: php-fpm is run as its guides set it up.
        ["fastcgi_keep_conn on;", "fastcgi_keep_conn off;"], ["keepalive 8;", ""]]));
      webServers.push(php);
    }
    for (const web of webServers) pinNginx(web);

    // Each web server with the backend behind it, for the CPU they use together on CPU 0.
    const [fcgiBackend, scgiBackend, httpBackend] = backends.map((backend) => backend.child.pid!);
    const pidsOf = new Map<WebServer, number[]>([[fastcgi, [fcgiBackend!]], [scgi, [scgiBackend!]], [proxy, [httpBackend!]]]);
    if (php !== undefined) pidsOf.set(php, [backends[3]!.child.pid!, ...spawnSync("pgrep", ["-P", String(backends[3]!.child.pid)]).stdout.toString().split("\n").filter(Boolean).map(Number)]);
    const pairs: [string, WebServer, WebServer, string][] = [
      ["hello: nginx → gw fastcgi (unix, keep-conn) vs nginx → gw serve (proxy_pass, keepalive)", fastcgi, proxy, ">= 1.0"],
      ["hello: nginx → gw scgi (unix) vs nginx → gw serve (proxy_pass, keepalive)", scgi, proxy, ">= 0.9"],
    ];
    if (php !== undefined) pairs.push(["hello: nginx → gw fastcgi vs nginx → php-fpm (pm static, 1 child)", fastcgi, php, ">= 1.0"]);
    /** One wrk round: req/s, and CPU µs a request of nginx and the backend (on CPU 0 both). */
    const measure = async (web: WebServer, duration: number): Promise<{ rps: number; cpu: number }> => {
      const pids = [...nginxPids(web), ...pidsOf.get(web)!];
      const before = runMicros(pids);
      let out = "";
      const rps = await wrkRate(web.url, { connections: 50, seconds: duration, report: (text) => {
        reportWrkErrors(text);
        out = text;
      } });
      return { rps, cpu: (runMicros(pids) - before) / Number(/(\d+) requests in/.exec(out)![1]) };
    };
    for (const [title, left, right, target] of pairs) {
      await measure(left, 1);
      await measure(right, 1);
      const lefts: { rps: number; cpu: number }[] = [];
      const rights: { rps: number; cpu: number }[] = [];
      const ratios: number[] = [];
      for (let round = 0; round < rounds; round++) {
        for (const side of round % 2 === 0 ? [0, 1] : [1, 0]) (side === 0 ? lefts : rights).push(await measure(side === 0 ? left : right, seconds));
        ratios.push(lefts.at(-1)!.rps / rights.at(-1)!.rps);
      }
      const ratio = median(ratios);
      const minimum = Number(target.slice(3));
      rows.push([title, spread(lefts.map((r) => r.rps), 0), spread(rights.map((r) => r.rps), 0), spread(ratios, 2), target, ratio >= minimum ? "ok" : "BELOW"]);
      rows.push(["  CPU µs/request, nginx + backend (all of CPU 0's work)", spread(lefts.map((r) => r.cpu), 1), spread(rights.map((r) => r.cpu), 1), spread(lefts.map((r, i) => r.cpu / rights[i]!.cpu), 2), "", ""]);
    }

    // The upload: a fresh gw counting bytes, request buffering off, RSS before and at its peak.
    const uploadSocket = join(dir, "count.sock");
    const uploader = await startBackend(process.execPath, [GW_BIN, "fastcgi", counter, "--socket", uploadSocket, "--quiet"], /^Serving FastCGI/);
    backends.push(uploader);
    const uploadNginx = await startNginx(deployConfig("nginx-fastcgi.conf", [["/run/gw/gw.sock", uploadSocket]]));
    webServers.push(uploadNginx);
    const total = 100 * 1024 * 1024;
    await upload(uploadNginx.url, 1024 * 1024);
    const before = rssKiB(uploader.child.pid!, "VmRSS");
    const started = performance.now();
    const counted = await upload(uploadNginx.url, total);
    const elapsed = (performance.now() - started) / 1000;
    const growth = (rssKiB(uploader.child.pid!, "VmHWM") - before) / 1024;
    if (counted !== String(total)) throw new Error(`the upload app counted ${counted} bytes, not ${total}`);
    rows.push([`100 MiB chunked upload through nginx (buffering off): gw RSS growth, MiB (${(100 / elapsed).toFixed(0)} MiB/s)`, growth.toFixed(1), "-", "-", "<= 16", growth <= 16 ? "ok" : "ABOVE"]);
  } finally {
    for (const web of webServers) await web.stop();
    for (const backend of backends) await backend.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
