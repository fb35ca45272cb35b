// Bench servers: `node bench/servers.ts <impl> <scenario>` listens on a free port on 127.0.0.1
// and prints "PORT <n>". Each scenario exists once for gw and once for a raw node:http server;
// both send the same response bytes (gw's Server header included), so only the work differs.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { fromFetchHandler } from "../src/adapters/from-fetch.ts";
import { toNodeListener } from "../src/adapters/node.ts";
import { header } from "../src/app/context.ts";
import { application, type UrlEntry } from "../src/app/router.ts";
import { makeServer } from "../src/server/http.ts";
import type { App } from "../src/core/types.ts";
import { SERVER_SOFTWARE } from "../src/core/version.ts";

const HELLO = "Hello, world!";
const KIB = Buffer.alloc(1024, "x");

/** 50 routes of the shape "/rN/(\\d+)", each a class with GET: the app-layer bench asks for the 25th. */
function routes50(): App {
  const urls: UrlEntry[] = [];
  for (let i = 0; i < 50; i++) {
    urls.push([`/r${i}/(\\d+)`, class {
      GET(_id: string): string {
        header("Content-Type", "text/plain");
        return HELLO;
      }
    }]);
  }
  return application(urls);
}

const hono = new Hono();
hono.get("/", (c) => c.text(HELLO));

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
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(HELLO), Server: SERVER_SOFTWARE });
    res.end(HELLO);
  },
  stream: (_req, res) => {
    res.writeHead(200, { "Content-Type": "application/octet-stream", Server: SERVER_SOFTWARE });
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
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": length, Server: SERVER_SOFTWARE });
    for (const chunk of chunks) res.write(chunk);
    res.end();
  },
};

// The app layer's scenarios: gw-only, compared with other gw setups or with Hono's own server.
gwApps.routes50 = routes50();
gwApps.hono = fromFetchHandler(hono.fetch);

const [impl, scenario] = process.argv.slice(2);
// Exit cleanly on SIGINT so --cpu-prof can write its profile.
if (!process.listenerCount("SIGINT")) process.on("SIGINT", () => process.exit(0));
if (scenario === undefined || !(scenario in gwApps)) throw new Error(`usage: servers.ts gw|raw|listener|hono-node ${Object.keys(gwApps).join("|")}`);
if (impl === "gw") {
  const server = await makeServer("127.0.0.1", 0, gwApps[scenario]!, { log: null });
  process.stdout.write(`PORT ${server.port}\n`);
  void server.serveForever();
} else if (impl === "listener") {
  const server = createServer(toNodeListener(gwApps[scenario]!));
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(`PORT ${typeof address === "object" && address !== null ? address.port : 0}\n`);
  });
} else if (impl === "hono-node") {
  serve({ fetch: hono.fetch, port: 0, hostname: "127.0.0.1" }, (info) => process.stdout.write(`PORT ${info.port}\n`));
} else if (impl === "raw") {
  const server = createServer(rawListeners[scenario]!);
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(`PORT ${typeof address === "object" && address !== null ? address.port : 0}\n`);
  });
} else {
  throw new Error(`unknown implementation ${impl}`);
}
