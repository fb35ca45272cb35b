// Real web servers for the FastCGI and SCGI tests: nginx, lighttpd and Apache, each started in the
// foreground on a free port of 127.0.0.1, its config in a temp folder, stopped by its PID.
// The configs are docs/deploy/*.conf (what docs/DEPLOY.md shows) with the paths and ports rewritten.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, pollUntil, ROOT } from "./gw.ts";

/** A running web server. */
export interface WebServer {
  /** http://127.0.0.1:PORT/ */
  url: string;
  port: number;
  pid: number;
  /** Its temp folder (config, logs, sockets may go here too). */
  dir: string;
  /** Its error log so far. */
  errorLog(): string;
  /** Stops it (SIGTERM, SIGKILL after 5 s) and removes its folder. */
  stop(): Promise<void>;
}

/** A temp folder others can enter: web server workers may run as another user than the test. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/**
 * docs/deploy/NAME with each [from, to] replaced; a `from` the file lacks throws, so a test
 * notices when the documented config changes under it.
 */
export function deployConfig(name: string, replacements: readonly (readonly [string, string])[]): string {
  let text = readFileSync(join(ROOT, "docs", "deploy", name), "utf8");
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`docs/deploy/${name} has no ${JSON.stringify(from)}`);
    text = text.replaceAll(from, to);
  }
  return text;
}

const isRoot = process.getuid?.() === 0;

async function launch(command: string, args: string[], dir: string, port: number, errorLog: string): Promise<WebServer> {
  const child: ChildProcess = spawn(command, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (text: string) => (output += text));
  child.stderr!.setEncoding("utf8").on("data", (text: string) => (output += text));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const readLog = (): string => {
    try {
      return readFileSync(errorLog, "utf8");
    } catch {
      return "";
    }
  };
  const stop = async (): Promise<void> => {
    if (!hasExited && child.pid !== undefined) {
      process.kill(child.pid, "SIGTERM");
      const timer = setTimeout(() => child.pid !== undefined && !hasExited && process.kill(child.pid, "SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await pollUntil(`${command} to listen on port ${port}`, async () => {
      if (hasExited) throw new Error(`${command} exited: ${output}${readLog()}`);
      return canConnect(port);
    }, (isUp) => isUp, 10_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `http://127.0.0.1:${port}/`, port, pid: child.pid!, dir, errorLog: () => output + readLog(), stop };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * nginx with one worker, `httpBlock` (a docs/deploy nginx file, its `listen 80;` and
 * `server_name example.com;` rewritten here) inside its http block.
 */
export async function startNginx(httpBlock: string): Promise<WebServer> {
  const dir = tempDir("gw-nginx-");
  const port = await freePort();
  const block = httpBlock.replaceAll("listen 80;", `listen 127.0.0.1:${port};`).replaceAll("server_name example.com;", "server_name 127.0.0.1;");
  for (const name of ["body", "fastcgi", "scgi", "proxy", "uwsgi"]) mkdirSync(join(dir, name));
  const config = `${isRoot ? "user root;\n" : ""}daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${dir}/body;
    fastcgi_temp_path ${dir}/fastcgi;
    scgi_temp_path ${dir}/scgi;
    proxy_temp_path ${dir}/proxy;
    uwsgi_temp_path ${dir}/uwsgi;
${block}
}
`;
  writeFileSync(join(dir, "nginx.conf"), config);
  return launch("nginx", ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], dir, port, join(dir, "error.log"));
}

/** lighttpd in the foreground (-D) with `snippet` (a docs/deploy lighttpd file) after its basics. */
export async function startLighttpd(snippet: string, dir: string = tempDir("gw-lighttpd-")): Promise<WebServer> {
  const port = await freePort();
  mkdirSync(join(dir, "www"), { recursive: true });
  const config = `server.document-root = "${dir}/www"
server.bind = "127.0.0.1"
server.port = ${port}
server.errorlog = "${dir}/error.log"
server.modules = ( )
${snippet}
`;
  writeFileSync(join(dir, "lighttpd.conf"), config);
  return launch("lighttpd", ["-D", "-f", join(dir, "lighttpd.conf")], dir, port, join(dir, "error.log"));
}

const APACHE_MODULES = "/usr/lib/apache2/modules";

/** Apache 2.4 in one process (-X), event MPM, mod_proxy with `module`, `snippet` in its server config. */
export async function startApache(snippet: string, module: "proxy_fcgi" | "proxy_scgi"): Promise<WebServer> {
  const dir = tempDir("gw-apache-");
  const port = await freePort();
  const config = `ServerRoot "${dir}"
Listen 127.0.0.1:${port}
ServerName 127.0.0.1
PidFile "${dir}/httpd.pid"
ErrorLog "${dir}/error.log"
LogLevel warn
LoadModule mpm_event_module ${APACHE_MODULES}/mod_mpm_event.so
LoadModule authz_core_module ${APACHE_MODULES}/mod_authz_core.so
LoadModule setenvif_module ${APACHE_MODULES}/mod_setenvif.so
LoadModule proxy_module ${APACHE_MODULES}/mod_proxy.so
LoadModule ${module}_module ${APACHE_MODULES}/mod_${module}.so
${isRoot ? "User nobody\nGroup nogroup\n" : ""}
${snippet}
`;
  writeFileSync(join(dir, "httpd.conf"), config);
  return launch("apache2", ["-X", "-f", join(dir, "httpd.conf")], dir, port, join(dir, "error.log"));
}
