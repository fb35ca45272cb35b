// The file-server half of `npm run bench`: gw against `python3 -m http.server --cgi --directory D`
// on the same generated tree, in the same run, alternating rounds: a sh CGI script, a 1 KiB file,
// a 1 MiB file and a listing of 1,000 files. The files are served by `gw serve --directory D`,
// the script by `gw serve --cgi --directory D`: --cgi runs V8 in a leaner mode that makes forks
// cheap and JavaScript slower (docs/PERFORMANCE.md, "CGI and fork"), a price a folder without
// scripts does not pay. Anchors: nginx (one process) for files, lighttpd's mod_cgi for the script.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get, type IncomingMessage } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { freePort, hasWrk, median, pinned, wrkRate } from "./common.ts";

const GW_BIN = join(import.meta.dirname, "..", "bin", "gw.js");

/** Options for benchStatic. */
export interface StaticBenchOptions {
  /** Seconds per measured round. @default 2 */
  seconds?: number;
  /** Rounds per scenario; the ratio reported is the median of the per-round ratios. @default 5 */
  rounds?: number;
}

interface Scenario {
  title: string;
  path: string;
  connections: number;
  /** gw ÷ python. */
  target: number;
  /** Which gw serves it: `gw serve --directory` or `gw serve --cgi --directory`. */
  gw: "files" | "cgi";
  /** The third server, whose req/s and gw ÷ it fill the last two columns. */
  anchor: "nginx" | "lighttpd";
}

const SCENARIOS: Scenario[] = [
  { title: "CGI: sh hello script, 16 clients (anchor: lighttpd mod_cgi)", path: "/cgi-bin/hello.sh", connections: 16, target: 2, gw: "cgi", anchor: "lighttpd" },
  { title: "1 KiB file, 50 clients", path: "/1k.bin", connections: 50, target: 3, gw: "files", anchor: "nginx" },
  { title: "1 MiB file, 16 clients", path: "/1m.bin", connections: 16, target: 1, gw: "files", anchor: "nginx" },
  { title: "listing of 1,000 files, 16 clients", path: "/many/", connections: 16, target: 1, gw: "files", anchor: "nginx" },
];

const hasPython = spawnSync("python3", ["--version"]).status === 0;
const NGINX = ["/usr/sbin/nginx", "nginx"].find((path) => spawnSync(path, ["-v"]).status === 0);
const LIGHTTPD = ["/usr/sbin/lighttpd", "lighttpd"].find((path) => spawnSync(path, ["-v"]).status === 0);

function makeTree(): string {
  const root = mkdtempSync(join(tmpdir(), "gw-bench-static-"));
  // http.server runs CGI scripts as nobody when it runs as root: the tree must be readable.
  chmodSync(root, 0o755);
  mkdirSync(join(root, "cgi-bin"));
  writeFileSync(join(root, "cgi-bin", "hello.sh"), "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nHello World\\n'\n");
  chmodSync(join(root, "cgi-bin", "hello.sh"), 0o755);
  writeFileSync(join(root, "1k.bin"), Buffer.alloc(1024, "k"));
  writeFileSync(join(root, "1m.bin"), Buffer.alloc(1024 * 1024, "m"));
  mkdirSync(join(root, "many"));
  for (let i = 0; i < 1000; i++) writeFileSync(join(root, "many", `file-${String(i).padStart(4, "0")}.txt`), "");
  return root;
}

async function waitForPort(port: number, child: ChildProcess, timeout: number = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode} before listening`);
    const isOpen = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (isOpen) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listened on port ${port} within ${timeout} ms`);
}

// Both servers run on CPU 0, where their CGI children inherit it; wrk runs on CPU 1.
async function startPython(root: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const [command, args] = pinned(0, "python3", ["-m", "http.server", "--cgi", "--bind", "127.0.0.1", String(port), "--directory", root]);
  // Its access log goes nowhere, as gw's --quiet does. Its own process group: http.server forks
  // a copy of itself per CGI request, and those must go when it does.
  const child = spawn(command, args, { stdio: "ignore", detached: true });
  await waitForPort(port, child);
  return { child, port };
}

/**
 * nginx from the system as the anchor for the file scenarios (it has no CGI): in the foreground,
 * one process (no master, no daemon), pinned like the others, with a config in a temp folder.
 */
async function startNginx(root: string): Promise<{ child: ChildProcess; port: number; conf: string } | undefined> {
  if (NGINX === undefined) return undefined;
  const port = await freePort();
  const conf = mkdtempSync(join(tmpdir(), "gw-bench-nginx-"));
  writeFileSync(join(conf, "nginx.conf"), `daemon off;
master_process off;
worker_processes 1;
error_log ${conf}/error.log;
pid ${conf}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${conf}/body;
  proxy_temp_path ${conf}/proxy;
  fastcgi_temp_path ${conf}/fastcgi;
  uwsgi_temp_path ${conf}/uwsgi;
  scgi_temp_path ${conf}/scgi;
  sendfile on;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    autoindex on;
  }
}
`);
  const [command, args] = pinned(0, NGINX, ["-p", conf, "-c", join(conf, "nginx.conf")]);
  const child = spawn(command, args, { stdio: "ignore", detached: true });
  await waitForPort(port, child);
  return { child, port, conf };
}

/**
 * lighttpd from the system as the anchor for the CGI scenario: in the foreground (-D), its one
 * process pinned like the others (its scripts inherit the CPU), mod_cgi running every file under
 * /cgi-bin/ as a program, as gw and http.server do.
 */
async function startLighttpd(root: string): Promise<{ child: ChildProcess; port: number; conf: string } | undefined> {
  if (LIGHTTPD === undefined) return undefined;
  const port = await freePort();
  const conf = mkdtempSync(join(tmpdir(), "gw-bench-lighttpd-"));
  writeFileSync(join(conf, "lighttpd.conf"), `server.document-root = "${root}"
server.bind = "127.0.0.1"
server.port = ${port}
server.errorlog = "${conf}/error.log"
server.modules = ( "mod_cgi" )
$HTTP["url"] =~ "^/cgi-bin/" { cgi.assign = ( "" => "" ) }
`);
  const [command, args] = pinned(0, LIGHTTPD, ["-D", "-f", join(conf, "lighttpd.conf")]);
  const child = spawn(command, args, { stdio: "ignore", detached: true });
  await waitForPort(port, child);
  return { child, port, conf };
}

async function startGw(root: string, withCgi: boolean): Promise<{ child: ChildProcess; port: number }> {
  const [command, args] = pinned(0, process.execPath, [GW_BIN, "serve", ...(withCgi ? ["--cgi"] : []), "--directory", root, "--port", "0", "--quiet"]);
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, NO_COLOR: "1" }, detached: true });
  for await (const line of createInterface({ input: child.stdout! })) {
    const match = / port (\d+) /.exec(line);
    if (match) return { child, port: Number(match[1]) };
  }
  throw new Error("gw exited before its ready line");
}

/** Kills the server's whole process group (taskset execs the server, so its pid leads the group). */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, "exit");
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
  await exited;
}

async function load(port: number, scenario: Scenario, seconds: number): Promise<number> {
  const url = `http://127.0.0.1:${port}${scenario.path}`;
  if (hasWrk) {
    return wrkRate(url, {
      connections: scenario.connections,
      seconds,
      report(out) {
        const failures = /Non-2xx or 3xx responses: (\d+)/.exec(out);
        if (failures) process.stderr.write(`  ${scenario.path} on port ${port}: ${failures[1]} responses were not 2xx/3xx\n`);
      },
    });
  }
  const { default: autocannon } = await import("autocannon");
  const result = await autocannon({ url, connections: scenario.connections, duration: seconds });
  return result.requests.average;
}

/** One GET, so a broken set-up fails loudly instead of timing error pages. */
async function check(port: number, path: string): Promise<void> {
  // Lenient parsing: http.server passes a CGI script's bare-LF header lines through as they are.
  const response = await new Promise<IncomingMessage>((resolve, reject) =>
    get({ host: "127.0.0.1", port, path, insecureHTTPParser: true }, resolve).on("error", reject));
  let size = 0;
  for await (const chunk of response) size += (chunk as Buffer).byteLength;
  if (response.statusCode !== 200 || size === 0) throw new Error(`GET ${path} on port ${port}: status ${response.statusCode}, ${size} bytes`);
}

/**
 * Measures requests/s of gw and of Python's http.server on each scenario, alternating which goes
 * first each round, and returns table rows: scenario, gw req/s, python req/s, ratio, target, verdict,
 * then the anchor's req/s (nginx for files, lighttpd for CGI) and gw ÷ anchor ("-" without it).
 */
export async function benchStatic(options: StaticBenchOptions = {}): Promise<string[][]> {
  const seconds = options.seconds ?? 2;
  const rounds = options.rounds ?? 5;
  if (!hasPython) return [["(python3 not found: nothing to compare with)", "", "", "", "", ""]];
  const root = makeTree();
  const gw = { files: await startGw(root, false), cgi: await startGw(root, true) };
  const python = await startPython(root);
  const anchors = { nginx: await startNginx(root), lighttpd: await startLighttpd(root) };
  const rows: string[][] = [];
  try {
    for (const scenario of SCENARIOS) {
      const gwServer = gw[scenario.gw];
      const servers = { gw: gwServer, python };
      const rates = { gw: [] as number[], python: [] as number[] };
      const ratios: number[] = [];
      await check(gwServer.port, scenario.path);
      await check(python.port, scenario.path);
      // Warm-up: the JIT, the page cache and Python's imports settle before anything counts.
      await load(gwServer.port, scenario, 1);
      await load(python.port, scenario, 1);
      for (let round = 0; round < rounds; round++) {
        for (const side of round % 2 === 0 ? (["gw", "python"] as const) : (["python", "gw"] as const)) {
          rates[side].push(await load(servers[side].port, scenario, seconds));
        }
        ratios.push(rates.gw.at(-1)! / rates.python.at(-1)!);
      }
      const ratio = median(ratios);
      process.stderr.write(`  ${scenario.path}: gw/python per round ${ratios.map((r) => r.toFixed(2)).join(" ")}\n`);
      let anchorCells = ["-", "-"];
      const anchor = anchors[scenario.anchor];
      if (anchor !== undefined) {
        await check(anchor.port, scenario.path);
        await load(anchor.port, scenario, 1);
        const anchorRates: number[] = [];
        const versus: number[] = [];
        // gw and the anchor alternate too, so both see the same machine state.
        for (let round = 0; round < rounds; round++) {
          let gwRate: number;
          if (round % 2 === 0) {
            gwRate = await load(gwServer.port, scenario, seconds);
            anchorRates.push(await load(anchor.port, scenario, seconds));
          } else {
            anchorRates.push(await load(anchor.port, scenario, seconds));
            gwRate = await load(gwServer.port, scenario, seconds);
          }
          versus.push(gwRate / anchorRates.at(-1)!);
        }
        process.stderr.write(`  ${scenario.path}: gw/${scenario.anchor} per round ${versus.map((r) => r.toFixed(2)).join(" ")}\n`);
        anchorCells = [median(anchorRates).toFixed(0), median(versus).toFixed(2)];
      }
      rows.push([scenario.title, median(rates.gw).toFixed(0), median(rates.python).toFixed(0), ratio.toFixed(2), `>= ${scenario.target}`, ratio >= scenario.target ? "ok" : "BELOW", ...anchorCells]);
    }
  } finally {
    for (const server of [gw.files, gw.cgi, python]) await stop(server.child);
    for (const anchor of [anchors.nginx, anchors.lighttpd]) {
      if (anchor === undefined) continue;
      await stop(anchor.child);
      rmSync(anchor.conf, { recursive: true, force: true });
    }
    rmSync(root, { recursive: true, force: true });
  }
  return rows;
}
