// Bench servers: `node bench/servers.ts <impl> <scenario>` listens on a free port on 127.0.0.1
// and prints "PORT <n>". Each scenario exists once for gw and once for a raw node:http server.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { makeServer } from "../src/server.ts";
import type { App } from "../src/types.ts";

const HELLO = "Hello, world!";
const KIB = Buffer.alloc(1024, "x");

const gwApps: Record<string, App> = {
  hello: (_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [HELLO];
  },
  stream: (_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
    return (function* () {
      for (let i = 0; i < 100; i++) yield KIB;
    })();
  },
  echo: async (environ, startResponse) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of environ["gw.input"]) chunks.push(chunk);
    startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
    return chunks;
  },
};

type Listener = (req: IncomingMessage, res: ServerResponse) => void;
const rawListeners: Record<string, Listener> = {
  hello: (_req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(HELLO) });
    res.end(HELLO);
  },
  stream: (_req, res) => {
    res.writeHead(200, { "Content-Type": "application/octet-stream" });
    for (let i = 0; i < 100; i++) res.write(KIB);
    res.end();
  },
  echo: async (req, res) => {
    const chunks: Uint8Array[] = [];
    let length = 0;
    for await (const chunk of req) {
      chunks.push(chunk);
      length += chunk.byteLength;
    }
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": length });
    for (const chunk of chunks) res.write(chunk);
    res.end();
  },
};

const [impl, scenario] = process.argv.slice(2);
// Exit cleanly on SIGINT so --cpu-prof can write its profile.
if (!process.listenerCount("SIGINT")) process.on("SIGINT", () => process.exit(0));
if (scenario === undefined || !(scenario in gwApps)) throw new Error(`usage: servers.ts gw|raw ${Object.keys(gwApps).join("|")}`);
if (impl === "gw") {
  const server = await makeServer("127.0.0.1", 0, gwApps[scenario]!, { log: null });
  process.stdout.write(`PORT ${server.port}\n`);
  void server.serveForever();
} else if (impl === "raw") {
  const server = createServer(rawListeners[scenario]!);
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(`PORT ${typeof address === "object" && address !== null ? address.port : 0}\n`);
  });
} else {
  throw new Error(`unknown implementation ${impl}`);
}
