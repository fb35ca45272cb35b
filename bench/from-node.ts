// `node bench/from-node.ts [--seconds N] [--rounds N] [--instructions] [--requests N] [--trials N]`: an Express 5
// app on plain node:http against the same app behind gw (makeServer + fromNodeListener).
// Default: alternating wrk rounds, each server alone in its own process on CPU 0 (wrk runs on CPU 1,
// as in every bench: bench/common.ts), req/s medians, spread and the ratio (target >= 0.85), and
// each server's CPU time a request (all its threads, /proc schedstat) with the same ratio. Two
// servers in one process would share a heap and Express's compiled code, which taxes both unevenly.
// --instructions: each server alone in a process under valgrind's callgrind, driven by a keep-alive
// client for N and 2N requests; the difference divided by N is the per-request instruction count.
// It does not depend on the machine's load, but it does on when V8 optimizes a function or runs a
// full collection, which may land in either run (three runs of 1500 gave 0.81, 0.89 and 0.86): so
// --trials pairs (3 by default), the median ratio and its spread.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, request, Agent } from "node:http";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import express from "express";
import { fromNodeListener } from "../src/adapters/from-node.ts";
import { makeServer } from "../src/server/http.ts";
import { median, pinned, runMicros, wrkRate } from "./common.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "2" },
    rounds: { type: "string", default: "5" },
    instructions: { type: "boolean", default: false },
    requests: { type: "string", default: "2000" },
    trials: { type: "string", default: "3" },
    // Internal: run one server until SIGTERM.
    serve: { type: "string" },
  },
});

function helloApp(): express.Express {
  const app = express();
  app.get("/", (_req, res) => void res.type("text").send("Hello, world!"));
  return app;
}

/** Starts the Express app on node:http ("node") or behind gw ("gw"); resolves to its URL. */
async function start(kind: string): Promise<{ url: string; close: () => Promise<void> }> {
  const app = helloApp();
  if (kind === "node") {
    const plain = createServer(app).listen(0, "127.0.0.1");
    await once(plain, "listening");
    return { url: `http://127.0.0.1:${(plain.address() as { port: number }).port}/`, close: async () => void plain.close() };
  }
  const gw = await makeServer("127.0.0.1", 0, fromNodeListener(app), { log: null });
  void gw.serveForever();
  return { url: gw.url, close: () => gw.shutdown(1_000) };
}

if (args.serve !== undefined) {
  const server = await start(args.serve);
  // A normal exit, so that callgrind writes its counts.
  process.on("SIGTERM", () => process.exit(0));
  console.log(`URL ${server.url}`);
} else if (args.instructions) {
  await instructionCounts(Number(args.requests), Number(args.trials));
} else {
  await wallClock(Number(args.seconds), Number(args.rounds));
}

/** Runs one server (`--serve kind`) in a child process, pinned as `pin` says; resolves to its URL. */
async function startChild(kind: string, pin: (command: string, commandArgs: string[]) => [string, string[]]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(...pin(process.execPath, [import.meta.filename, "--serve", kind]), { stdio: ["ignore", "pipe", "inherit"] });
  for await (const line of createInterface({ input: child.stdout! })) {
    const match = /^URL (.*)$/.exec(line);
    if (match) return { url: match[1]!, child };
  }
  throw new Error(`the ${kind} server exited before listening`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  await once(child, "exit");
}

async function wallClock(seconds: number, rounds: number): Promise<void> {
  const onCpu0 = (command: string, commandArgs: string[]): [string, string[]] => pinned(0, command, commandArgs);
  const plain = await startChild("node", onCpu0);
  const gw = await startChild("gw", onCpu0);
  const gwRates: number[] = [];
  const plainRates: number[] = [];
  const ratios: number[] = [];
  const gwCosts: number[] = [];
  const plainCosts: number[] = [];
  const costRatios: number[] = [];
  // One round: requests/s, and the server's CPU time a request (every thread, from /proc) in µs.
  const measure = async (server: { url: string; child: ChildProcess }): Promise<[number, number]> => {
    const before = runMicros([server.child.pid!]);
    const rate = await wrkRate(server.url, { connections: 50, seconds });
    return [rate, (runMicros([server.child.pid!]) - before) / (rate * seconds)];
  };
  // A warm-up round each, unmeasured: a fresh process's first second is mostly V8 compiling.
  await wrkRate(plain.url, { connections: 50, seconds: 1 });
  await wrkRate(gw.url, { connections: 50, seconds: 1 });
  for (let round = 0; round < rounds; round++) {
    // Alternating which goes first, so a drift in the machine's load does not favour one.
    const first = round % 2 === 0;
    const p = first ? await measure(plain) : undefined;
    const [g, gCost] = await measure(gw);
    const [p2, pCost] = p ?? (await measure(plain));
    plainRates.push(p2);
    gwRates.push(g);
    ratios.push(g / p2);
    gwCosts.push(gCost);
    plainCosts.push(pCost);
    costRatios.push(pCost / gCost);
  }
  console.log(`fromNodeListener(express) vs express on node:http, wrk -c50, ${seconds}s x ${rounds} interleaved, node ${process.version}`);
  console.log(`| scenario | gw | node:http | ratio (median) | ratio spread | target |`);
  console.log(`|---|---|---|---|---|---|`);
  console.log(`| Express hello, requests/s | ${Math.round(median(gwRates))} | ${Math.round(median(plainRates))} | ${median(ratios).toFixed(2)} | ${spread(ratios, 2)} | >= 0.85 |`);
  // The server's own CPU a request: what waits on the machine's other work (wrk, neighbours) drops out.
  console.log(`| Express hello, CPU µs a request (ratio node:http / gw) | ${median(gwCosts).toFixed(1)} | ${median(plainCosts).toFixed(1)} | ${median(costRatios).toFixed(2)} | ${spread(costRatios, 2)} | >= 0.85 |`);
  await stopChild(plain.child);
  await stopChild(gw.child);
}

/** The lowest and highest of some values, as "low–high". */
function spread(values: number[], digits: number): string {
  return `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
}

/** Sends `count` GETs over 4 keep-alive connections, 4 in flight. */
async function drive(url: string, count: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  let sent = 0;
  const one = async (): Promise<void> => {
    while (sent < count) {
      sent++;
      await new Promise<void>((resolve, reject) => {
        request(url, { agent }, (res) => {
          res.resume();
          res.on("end", resolve);
        }).on("error", reject).end();
      });
    }
  };
  await Promise.all([one(), one(), one(), one()]);
  agent.destroy();
}

/** Instructions the server process ran to answer `count` requests (plus start-up), by callgrind. */
async function callgrindTotal(kind: string, count: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "gw-callgrind-"));
  const out = join(dir, "callgrind.out");
  const { url, child } = await startChild(kind, (command, commandArgs) => ["valgrind", ["-q", "--tool=callgrind", `--callgrind-out-file=${out}`, command, ...commandArgs]]);
  await drive(url, count);
  await stopChild(child);
  const totals = /^(?:summary|totals): (\d+)/m.exec(readFileSync(out, "utf8"));
  rmSync(dir, { recursive: true, force: true });
  if (!totals) throw new Error("no totals in callgrind's output");
  return Number(totals[1]);
}

async function instructionCounts(count: number, trials: number): Promise<void> {
  if (spawnSync("valgrind", ["--version"]).error !== undefined) throw new Error("--instructions needs valgrind");
  const perRequest: Record<string, number[]> = { node: [], gw: [] };
  const ratios: number[] = [];
  for (let trial = 0; trial < trials; trial++) {
    for (const kind of ["node", "gw"]) {
      const small = await callgrindTotal(kind, count);
      const large = await callgrindTotal(kind, 2 * count);
      perRequest[kind]!.push((large - small) / count);
    }
    ratios.push(perRequest.node![trial]! / perRequest.gw![trial]!);
  }
  const thousands = (values: number[]): string => `${(median(values) / 1000).toFixed(1)}k (${spread(values.map((value) => value / 1000), 1)}k)`;
  console.log(`Express hello, instructions per request (callgrind, ${count} vs ${2 * count} keep-alive requests, ${trials} trials: median and spread), node ${process.version}`);
  console.log(`| server | instructions/request | ratio (node:http / gw) | ratio spread | target |`);
  console.log(`|---|---|---|---|---|`);
  console.log(`| express on node:http | ${thousands(perRequest.node!)} | | | |`);
  console.log(`| gw + fromNodeListener | ${thousands(perRequest.gw!)} | ${median(ratios).toFixed(2)} | ${spread(ratios, 2)} | >= 0.85 |`);
}
