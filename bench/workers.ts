// The `--workers` half of `npm run bench`: hello keep-alive through one worker against the plain
// server; CPU time per request for 1 and 2 workers (every gw process on CPU 0, wrk on CPU 1),
// saturated and at a fixed offered rate, each next to node:cluster with no gw code in the same
// alternating rounds, with context switches to explain a difference; and SIGHUP until all run new code.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { median, pinned, reportWrkErrors, wrkRate } from "./common.ts";

const GW_BIN = join(import.meta.dirname, "..", "bin", "gw.js");
const TICK_US = 1e6 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim() || "100");

function helloApp(version: number): string {
  return `export default (_environ: unknown, start: (s: string, h: [string, string][]) => void) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return ["Hello world! ${version}"];
};\n`;
}

interface Server {
  child: ChildProcess;
  port: number;
  stderr: () => string;
}

/** Starts gw pinned to CPU 0 (its workers inherit the pinning) and waits for the ready line. */
function startGw(dir: string, extra: string[]): Promise<Server> {
  return startPinned(dir, [GW_BIN, "serve", "app.ts", "--port", "0", "--quiet", ...extra]);
}

/** The anchor: `workers` node:cluster processes with a plain node:http hello, no gw (cluster-hello.ts). */
function startCluster(dir: string, workers: number): Promise<Server> {
  return startPinned(dir, [join(import.meta.dirname, "cluster-hello.ts"), String(workers)]);
}

async function startPinned(dir: string, nodeArgs: string[]): Promise<Server> {
  const child = spawn(...pinned(0, process.execPath, nodeArgs), { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  for await (const line of createInterface({ input: child.stdout! })) {
    const match = / port (\d+) /.exec(line);
    if (match) return { child, port: Number(match[1]), stderr: () => stderr };
  }
  throw new Error(`${nodeArgs.join(" ")} exited before it was ready:\n${stderr}`);
}

async function stop(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  server.child.kill("SIGTERM");
  await once(server.child, "exit");
}

/** The pids of `root`'s children (taskset execs node, so the root is gw itself: the supervisor). */
function children(root: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(root)], { encoding: "utf8" }).trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A process's CPU and context switches so far, every thread counted. */
interface Usage {
  /** user+sys from /proc/<pid>/stat (fields 14 and 15), in microseconds: clock ticks, 10 ms each. */
  statMicros: number;
  /** Time on a CPU from /proc/<pid>/task/*\/schedstat, in microseconds: nanosecond counters. */
  runMicros: number;
  voluntary: number;
  involuntary: number;
}

function usage(pid: number): Usage {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const result: Usage = { statMicros: (Number(fields[11]) + Number(fields[12])) * TICK_US, runMicros: 0, voluntary: 0, involuntary: 0 };
  // /proc/<pid>/status counts the main thread's switches only; V8's and libuv's threads have their own.
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      result.runMicros += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]) / 1000;
      const status = readFileSync(`/proc/${pid}/task/${task}/status`, "utf8");
      result.voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)![1]);
      result.involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)![1]);
    } catch {
      // A thread that ended in between.
    }
  }
  return result;
}

/** One round's figures, each over the requests wrk completed in it. */
interface Round {
  rps: number;
  /** Requests wrk completed: the weight of this round when rounds are pooled. */
  requests: number;
  /** Microseconds a request: every gw process, from /proc/<pid>/stat. */
  cpu: number;
  /** Microseconds a request: every gw process, from schedstat (finer). */
  run: number;
  /** Microseconds a request: the supervisor alone, from schedstat. */
  supervisor: number;
  /** Context switches a request, every gw process. */
  voluntary: number;
  involuntary: number;
  /** Each worker's share of the requests' CPU time (from schedstat), for the balance. */
  shares: number[];
}

/** One wrk round against `server` (a fixed rate when `script` paces it): rate, CPU and switches a request. */
async function round(server: Server, seconds: number, connections: number, script?: string): Promise<Round> {
  const supervisor = server.child.pid!;
  const workers = children(supervisor);
  const pids = [supervisor, ...workers];
  const before = pids.map(usage);
  let out = "";
  const rps = await wrkRate(`http://127.0.0.1:${server.port}/`, { connections, seconds, script, report: (text) => {
    reportWrkErrors(text);
    out = text;
  } });
  const after = pids.map(usage);
  // wrk's count of answered requests, not rate × seconds: wrk's run is not exactly `seconds` long.
  const requests = Number(/(\d+) requests in/.exec(out)![1]);
  const delta = (key: keyof Usage, from = 0): number => after.slice(from).reduce((sum, u, i) => sum + u[key] - before[i + from]![key], 0);
  const workerRun = after.slice(1).map((u, i) => u.runMicros - before[i + 1]!.runMicros);
  const workerTotal = workerRun.reduce((a, b) => a + b, 0);
  return {
    rps,
    requests,
    cpu: delta("statMicros") / requests,
    run: delta("runMicros") / requests,
    supervisor: (after[0]!.runMicros - before[0]!.runMicros) / requests,
    voluntary: delta("voluntary") / requests,
    involuntary: delta("involuntary") / requests,
    shares: workerRun.map((run) => run / workerTotal),
  };
}

/** A per-request figure over several rounds: their totals over their requests. */
function pooled(rounds: Round[], key: "cpu" | "run" | "supervisor" | "voluntary" | "involuntary"): number {
  let total = 0;
  let requests = 0;
  for (const r of rounds) {
    total += r[key] * r.requests;
    requests += r.requests;
  }
  return total / requests;
}

/** Milliseconds a process's main thread has run, from its schedstat. */
function mainThreadMs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
}

/**
 * Saturated one-second rounds until every worker's main thread has run for 500 ms. Each worker
 * process compiles its own hot path: V8's background compiler threads took about 15 µs a request
 * in a worker's first busy round and under 1 µs after. Which worker takes a round's connections is
 * the kernel's choice (every worker accepts on the shared socket), so one warm-up round could
 * leave a worker cold, and its compiling would be counted against 2 workers in a measured round.
 */
async function warm(server: Server): Promise<void> {
  const workers = children(server.child.pid!);
  const before = workers.map(mainThreadMs);
  for (let i = 0; i < 20; i++) {
    await wrkRate(`http://127.0.0.1:${server.port}/`, { connections: 50, seconds: 1 });
    if (workers.every((pid, k) => mainThreadMs(pid) - before[k]! >= 500)) return;
  }
  process.stderr.write(`bench: a worker of ${workers.length} stayed cold after 20 warm-up rounds\n`);
}

/** Milliseconds from SIGHUP until the supervisor logs that every worker runs the new code. */
async function hupLatency(server: Server, dir: string, workers: number, version: number): Promise<number> {
  const done = (server.stderr().match(/SIGHUP: \d+ workers? on the new code/g) ?? []).length;
  writeFileSync(join(dir, "app.ts"), helloApp(version));
  const start = performance.now();
  server.child.kill("SIGHUP");
  while ((server.stderr().match(/SIGHUP: \d+ workers? on the new code/g) ?? []).length === done) {
    if (performance.now() - start > 20_000) throw new Error(`no roll after SIGHUP with ${workers} workers:\n${server.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return performance.now() - start;
}

/** "median (min–max)" with `digits` decimals. */
function spread(values: number[], digits: number): string {
  return `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;
}

/** Requests a second offered in the fixed-rate rounds: a third of what one worker on one core serves, so no round is CPU-bound. */
const FIXED_RATE = 4000;
const FIXED_CONNECTIONS = 20;

/**
 * The CPU rounds are short and alternate among the servers. The machine's speed drifts by tens
 * of per cent over seconds here (one server, same load, 2 s rounds: 35.7–44.3 µs a request),
 * which 5 rounds of 2 s a server could not separate from a 5 % difference: the per-round ratio
 * of 2 workers to 1 spanned 0.81–1.28. Alternating 1 s rounds puts the servers compared under
 * the same drift; the ratio is the median of 3 × --rounds of them, and each server's rounds
 * pooled (CPU over requests) are shown too. Pooling alone was moved by single rounds the host
 * stalled (one at 2.4 × its neighbours): three runs pooled 1.020, 1.052 and 1.106.
 */
const CPU_ROUND_SECONDS = 1;

/** Runs the workers scenarios and returns their table rows. */
export async function benchWorkers(options: { seconds: number; rounds: number }): Promise<string[][]> {
  const dir = mkdtempSync(join(tmpdir(), "gw-bench-workers-"));
  writeFileSync(join(dir, "app.ts"), helloApp(0));
  // wrk paces each connection: a response, then a pause before the next request, drawn from 0 to
  // twice the mean (each wrk thread seeds its own generator). A fixed pause kept the connections,
  // which wrk opens together, in step: 20 requests arrived at once every 5 ms, as no set of
  // independent clients sends them, and 2 workers split each burst that 1 worker took in one wakeup.
  const paced = join(dir, "paced.lua");
  const mean = (FIXED_CONNECTIONS * 1000) / FIXED_RATE;
  writeFileSync(paced, `math.randomseed(tonumber(tostring({}):match("0x(%x+)"), 16))\nfunction delay() return math.random(0, ${2 * mean}) end\n`);
  const rows: string[][] = [];
  const alternations = options.rounds * 3;
  try {
    const plain = await startGw(dir, ["--no-reload"]);
    const one = await startGw(dir, ["--workers", "1"]);
    const two = await startGw(dir, ["--workers", "2"]);
    const clusterOne = await startCluster(dir, 1);
    const clusterTwo = await startCluster(dir, 2);
    type Name = "plain" | "one" | "two" | "clusterOne" | "clusterTwo";
    const servers: Record<Name, Server> = { plain, one, two, clusterOne, clusterTwo };
    const saturated: Record<Name, Round[]> = { plain: [], one: [], two: [], clusterOne: [], clusterTwo: [] };
    const fixed: Record<Name, Round[]> = { plain: [], one: [], two: [], clusterOne: [], clusterTwo: [] };
    try {
      await round(plain, 1, 50);
      for (const server of [one, two, clusterOne, clusterTwo]) await warm(server);
      // Saturated (50 connections, as fast as gw answers) or paced at the fixed rate; the order
      // is reversed every other time, so that no server always follows the same one.
      const order: Name[] = ["plain", "one", "two", "clusterOne", "clusterTwo"];
      for (let i = 0; i < alternations; i++) {
        for (const name of i % 2 === 0 ? order : [...order].reverse()) saturated[name].push(await round(servers[name], CPU_ROUND_SECONDS, 50));
      }
      const fixedOrder: Name[] = ["one", "two", "clusterOne", "clusterTwo"];
      for (let i = 0; i < alternations; i++) {
        for (const name of i % 2 === 0 ? fixedOrder : [...fixedOrder].reverse()) fixed[name].push(await round(servers[name], CPU_ROUND_SECONDS, FIXED_CONNECTIONS, paced));
      }
    } finally {
      await Promise.all(Object.values(servers).map(stop));
    }
    const per = (rounds: Round[], key: "rps" | "cpu" | "run" | "supervisor" | "voluntary" | "involuntary", digits = 1): string => spread(rounds.map((r) => r[key]), digits);
    /**
     * Pooled µs a request (schedstat) of b and a, and b's ratio to a: the median of the rounds'
     * ratios (a round the host stalls, 2.4 × its neighbours once, moves it little), with their
     * range and the pooled ratio beside it. `rounds` are the per-round ratios, for the anchor's.
     */
    const compare = (results: Record<Name, Round[]>, a: Name, b: Name): { ratio: number; rounds: number[]; cells: string[] } => {
      const rounds = results[b].map((r, i) => r.run / results[a][i]!.run);
      const ratio = median(rounds);
      const pooledRatio = pooled(results[b], "run") / pooled(results[a], "run");
      return { ratio, rounds, cells: [pooled(results[b], "run").toFixed(1), pooled(results[a], "run").toFixed(1), `${spread(rounds, 3)}, pooled ${pooledRatio.toFixed(3)}`] };
    };
    /** gw's ratio over the anchor's, round by round (both measured in the same alternation). */
    const ownRise = (gw: { rounds: number[] }, anchor: { rounds: number[] }): string => spread(gw.rounds.map((r, i) => r / anchor.rounds[i]!), 3);
    const ratios = saturated.one.map((r, i) => r.rps / saturated.plain[i]!.rps);
    const ratio = median(ratios);
    const label = `${alternations} alternating ${CPU_ROUND_SECONDS} s rounds`;
    rows.push(["hello keep-alive: --workers 1 vs --no-reload, req/s", per(saturated.one, "rps", 0), per(saturated.plain, "rps", 0), ratio.toFixed(2), ">= 0.95", ratio >= 0.95 ? "ok" : "BELOW"]);
    const gwSaturated = compare(saturated, "one", "two");
    const anchorSaturated = compare(saturated, "clusterOne", "clusterTwo");
    rows.push([`CPU µs/request saturated (wrk -c50 on CPU 1, every gw process on CPU 0), ${label}: 2 workers vs 1`, ...gwSaturated.cells, "<= 1.05", gwSaturated.ratio <= 1.05 ? "ok" : "ABOVE"]);
    rows.push([`  anchor, no gw: node:cluster hello on node:http, same rounds, 2 workers vs 1`, ...anchorSaturated.cells, "", ""]);
    rows.push([`  gw's own rise: gw's ratio ÷ the anchor's, round by round`, "", "", ownRise(gwSaturated, anchorSaturated), "", ""]);
    rows.push([`  same rounds: CPU µs/request from /proc/<pid>/stat (10 ms ticks)`, pooled(saturated.two, "cpu").toFixed(1), pooled(saturated.one, "cpu").toFixed(1), "", "", ""]);
    rows.push([`  same rounds: req/s`, per(saturated.two, "rps", 0), per(saturated.one, "rps", 0), "", "", ""]);
    rows.push([`  same rounds: supervisor's CPU µs/request`, pooled(saturated.two, "supervisor").toFixed(2), pooled(saturated.one, "supervisor").toFixed(2), "", "", ""]);
    rows.push([`  same rounds: context switches/request, voluntary / involuntary`, `${pooled(saturated.two, "voluntary").toFixed(3)} / ${pooled(saturated.two, "involuntary").toFixed(3)}`, `${pooled(saturated.one, "voluntary").toFixed(3)} / ${pooled(saturated.one, "involuntary").toFixed(3)}`, "", "", ""]);
    rows.push([`  --no-reload (no supervisor), same rounds: CPU µs/request`, pooled(saturated.plain, "run").toFixed(1), "", "", "", ""]);
    const gwFixed = compare(fixed, "one", "two");
    const anchorFixed = compare(fixed, "clusterOne", "clusterTwo");
    rows.push([`CPU µs/request at ${FIXED_RATE} req/s offered (${FIXED_CONNECTIONS} paced connections), ${label}: 2 workers vs 1`, ...gwFixed.cells, "", ""]);
    rows.push([`  anchor, no gw: node:cluster hello on node:http, same rounds, 2 workers vs 1`, ...anchorFixed.cells, "", ""]);
    rows.push([`  gw's own rise: gw's ratio ÷ the anchor's, round by round`, "", "", ownRise(gwFixed, anchorFixed), "", ""]);
    rows.push([`  same rounds: req/s served`, per(fixed.two, "rps", 0), per(fixed.one, "rps", 0), "", "", ""]);
    rows.push([`  same rounds: context switches/request, voluntary / involuntary`, `${pooled(fixed.two, "voluntary").toFixed(3)} / ${pooled(fixed.two, "involuntary").toFixed(3)}`, `${pooled(fixed.one, "voluntary").toFixed(3)} / ${pooled(fixed.one, "involuntary").toFixed(3)}`, "", "", ""]);
    rows.push([`  same rounds: worker shares of CPU, 2 workers`, spread(fixed.two.map((r) => Math.max(...r.shares) * 100), 0) + " % busiest", "", "", "", ""]);
    for (const workers of [1, 4]) {
      const server = await startGw(dir, ["--workers", String(workers)]);
      try {
        const times: number[] = [];
        for (let i = 1; i <= 5; i++) times.push(await hupLatency(server, dir, workers, i));
        rows.push([`SIGHUP to every worker on new code, ${workers} worker${workers === 1 ? "" : "s"} (ms, median of 5)`, median(times).toFixed(0), "", "", "", ""]);
      } finally {
        await stop(server);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
