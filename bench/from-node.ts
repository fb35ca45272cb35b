// `node bench/from-node.ts [--seconds N] [--rounds N]`: an Express 5 app on plain node:http
// against the same app behind gw (makeServer + fromNodeListener), alternating rounds, with wrk.
// Prints req/s medians and the ratio (target >= 0.85). Server in-process on CPU 0 when taskset
// exists is not arranged here: run it on a quiet machine; the ratio is what matters.
import { createServer } from "node:http";
import { once } from "node:events";
import { parseArgs } from "node:util";
import express from "express";
import { fromNodeListener } from "../src/adapters/from-node.ts";
import { makeServer } from "../src/server/http.ts";
import { median, wrkRate } from "./common.ts";

const { values: args } = parseArgs({ options: { seconds: { type: "string", default: "2" }, rounds: { type: "string", default: "5" } } });
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);

const app = express();
app.get("/", (_req, res) => void res.type("text").send("Hello, world!"));

const plain = createServer(app).listen(0, "127.0.0.1");
await once(plain, "listening");
const plainUrl = `http://127.0.0.1:${(plain.address() as { port: number }).port}/`;
const gw = await makeServer("127.0.0.1", 0, fromNodeListener(app), { log: null });
void gw.serveForever();

const gwRates: number[] = [];
const plainRates: number[] = [];
const ratios: number[] = [];
for (let round = 0; round < rounds; round++) {
  const p = await wrkRate(plainUrl, { connections: 50, seconds });
  const g = await wrkRate(gw.url, { connections: 50, seconds });
  plainRates.push(p);
  gwRates.push(g);
  ratios.push(g / p);
}
console.log(`fromNodeListener(express) vs express on node:http, wrk -c50, ${seconds}s x ${rounds}, node ${process.version}`);
console.log(`| scenario | gw req/s | node:http req/s | ratio | target |`);
console.log(`|---|---|---|---|---|`);
console.log(`| Express hello | ${Math.round(median(gwRates))} | ${Math.round(median(plainRates))} | ${median(ratios).toFixed(2)} | >= 0.85 |`);
plain.close();
await gw.shutdown(1_000);
process.exit(0);
