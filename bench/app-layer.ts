// The app layer's half of `npm run bench`, each pair in the same run with alternating rounds:
// a 50-route application against the bare hello app, toNodeListener inside http.createServer
// against makeServer, and a Hono app through fromFetchHandler against @hono/node-server.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { hasWrk, median, pinned, wrkRate } from "./common.ts";

/** Options for benchAppLayer. */
export interface AppLayerOptions {
  /** Seconds per measured round. @default 2 */
  seconds?: number;
  /** Rounds per pair; the median ratio is reported. @default 7 */
  rounds?: number;
}

interface Side {
  impl: string;
  scenario: string;
  path: string;
}

interface Pair {
  title: string;
  gw: Side;
  baseline: Side;
  target: number | undefined;
}

const PAIRS: Pair[] = [
  {
    title: "50-route application (25th route) vs bare hello, makeServer",
    gw: { impl: "gw", scenario: "routes50", path: "/r24/42" },
    baseline: { impl: "gw", scenario: "hello", path: "/" },
    target: 0.85,
  },
  {
    title: "toNodeListener in http.createServer vs makeServer, hello",
    gw: { impl: "listener", scenario: "hello", path: "/" },
    baseline: { impl: "gw", scenario: "hello", path: "/" },
    target: 0.9,
  },
  {
    title: "fromFetchHandler(Hono) under makeServer vs @hono/node-server",
    gw: { impl: "gw", scenario: "hono", path: "/" },
    baseline: { impl: "hono-node", scenario: "hono", path: "/" },
    target: undefined,
  },
];

const CONNECTIONS = 50;

async function startServer(side: Side): Promise<{ child: ChildProcess; port: number }> {
  const [command, commandArgs] = pinned(0, process.execPath, [join(import.meta.dirname, "servers.ts"), side.impl, side.scenario]);
  const child = spawn(command, commandArgs, { stdio: ["ignore", "pipe", "inherit"] });
  for await (const line of createInterface({ input: child.stdout! })) {
    const match = /^PORT (\d+)$/.exec(line);
    if (match) return { child, port: Number(match[1]) };
  }
  throw new Error(`${side.impl} ${side.scenario} server exited before listening`);
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill("SIGKILL");
  await once(child, "exit");
}

async function load(port: number, path: string, seconds: number): Promise<number> {
  const url = `http://127.0.0.1:${port}${path}`;
  if (hasWrk) return wrkRate(url, { connections: CONNECTIONS, seconds });
  const { default: autocannon } = await import("autocannon");
  const result = await autocannon({ url, connections: CONNECTIONS, duration: seconds });
  return result.requests.average;
}

/**
 * Runs the three app-layer pairs and returns one row each: scenario, gw req/s, baseline req/s,
 * ratio (the median of per-round ratios) and target.
 */
export async function benchAppLayer(options: AppLayerOptions = {}): Promise<string[][]> {
  const seconds = options.seconds ?? 2;
  const rounds = options.rounds ?? 7;
  const rows: string[][] = [];
  for (const pair of PAIRS) {
    const servers = { gw: await startServer(pair.gw), baseline: await startServer(pair.baseline) };
    const measured = { gw: [] as number[], baseline: [] as number[] };
    const ratios: number[] = [];
    try {
      // Warm-up: let the JIT settle on both sides before anything counts.
      await load(servers.gw.port, pair.gw.path, 1);
      await load(servers.baseline.port, pair.baseline.path, 1);
      for (let round = 0; round < rounds; round++) {
        // Back-to-back in alternating order, so drift on a shared machine hits both sides alike.
        for (const side of round % 2 === 0 ? (["gw", "baseline"] as const) : (["baseline", "gw"] as const)) {
          measured[side].push(await load(servers[side].port, pair[side].path, seconds));
        }
        ratios.push(measured.gw.at(-1)! / measured.baseline.at(-1)!);
      }
    } finally {
      await stopServer(servers.gw.child);
      await stopServer(servers.baseline.child);
    }
    const ratio = median(ratios);
    const target = pair.target === undefined ? "(none)" : `>= ${pair.target}${ratio >= pair.target ? "" : " BELOW"}`;
    rows.push([pair.title, median(measured.gw).toFixed(0), median(measured.baseline).toFixed(0), ratio.toFixed(2), target]);
  }
  return rows;
}
