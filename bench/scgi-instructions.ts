// gw's own instructions per SCGI request, deterministic enough to compare builds (valgrind's
// callgrind): `node bench/scgi-instructions.ts [requests] [concurrency]` runs a gw SCGI server
// under callgrind twice (a short and a long run of requests, each on a new connection as nginx's
// scgi module sends them) and prints the difference over the requests.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeScgiHead } from "../src/server/scgi-netstring.ts";

// What nginx-scgi.conf (test/fixtures) has nginx send for `GET /`.
const HEAD = encodeScgiHead(0, [
  ["SCGI", "1"], ["SCRIPT_NAME", ""], ["REQUEST_METHOD", "GET"], ["REQUEST_URI", "/"], ["QUERY_STRING", ""],
  ["CONTENT_TYPE", ""], ["SERVER_PROTOCOL", "HTTP/1.1"], ["SERVER_NAME", "example.com"], ["SERVER_PORT", "80"],
  ["REMOTE_ADDR", "127.0.0.1"], ["REMOTE_PORT", "40000"], ["REQUEST_SCHEME", "http"], ["GATEWAY_INTERFACE", "CGI/1.1"],
  ["SERVER_SOFTWARE", "nginx/1.22.1"], ["HTTP_HOST", "127.0.0.1"], ["HTTP_USER_AGENT", "wrk"],
]);

/** The server side: hello over SCGI on `socket`, exiting after `total` requests. */
async function serve(socket: string, total: number): Promise<void> {
  const { bindListener } = await import("../src/server/listen.ts");
  const { serveScgi } = await import("../src/server/scgi.ts");
  const listener: Server = await bindListener({ socket });
  let done = 0;
  serveScgi(listener, (_environ, start) => {
    start("200 OK", [["Content-Type", "text/plain"]]);
    return ["Hello, world!"];
  }, { log: null, onRequestDone: () => { if (++done === total) setTimeout(() => process.exit(0), 50); } });
}

/** One request on a new connection; resolves with the answer's bytes once gw closed. */
function one(socket: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const client = connect(socket);
    let bytes = 0;
    client.on("connect", () => client.write(HEAD));
    client.on("data", (chunk: Buffer) => (bytes += chunk.length));
    client.on("end", () => { client.end(); resolve(bytes); });
    client.on("error", reject);
  });
}

async function drive(socket: string, total: number, concurrency: number): Promise<void> {
  let sent = 0;
  const lane = async (): Promise<void> => {
    while (sent < total) {
      sent++;
      if ((await one(socket)) === 0) throw new Error("an empty answer");
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

async function measure(total: number, concurrency: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "gw-scgi-callgrind-"));
  const socket = join(dir, "s.sock");
  try {
    const child = spawn("valgrind", ["--tool=callgrind", `--callgrind-out-file=${dir}/cg.out`, process.execPath, "--single-threaded", import.meta.filename, "serve", socket, String(total)], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (t: string) => (stderr += t));
    while (!existsSync(socket)) {
      if (child.exitCode !== null) throw new Error(stderr);
      await new Promise((r) => setTimeout(r, 100));
    }
    await drive(socket, total, concurrency);
    await once(child, "exit");
    const files = readdirSync(dir).filter((f) => f.startsWith("cg.out"));
    let instructions = 0;
    for (const f of files) instructions += Number(/^summary: (\d+)/m.exec(readFileSync(join(dir, f), "utf8"))![1]);
    if (process.env.KEEP) for (const f of files) writeFileSync(join(process.env.KEEP, `${total}-${f}`), readFileSync(join(dir, f)));
    return instructions;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "serve") {
  await serve(process.argv[3]!, Number(process.argv[4]));
} else {
  const total = Number(process.argv[2] ?? 2000);
  const concurrency = Number(process.argv[3] ?? 4);
  const short = await measure(total / 4, concurrency);
  const long = await measure(total, concurrency);
  process.stdout.write(`${((long - short) / (total * 0.75)).toFixed(0)} instructions a request (${short} for ${total / 4}, ${long} for ${total})\n`);
}
