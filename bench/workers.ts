// The `--workers` half of `npm run bench`: hello keep-alive through one worker against the plain
// server, CPU time per request for 1 and 2 workers (user+sys of every server process from /proc,
// over the requests wrk counted), and the time from SIGHUP until every worker runs the new code.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { median, pinned, wrkRate } from "./common.ts";

const GW_BIN = join(import.meta.dirname, "..", "bin", "gw.js");
const TICK_US = 1e6 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim() || "100");

function helloApp(version: number): string {
  return `export default (_environ: unknown, start: (s: string, h: [string, string][]) => void) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return ["Hello world! ${version}"];
};\n`;
}

interface Round {
  rps: number;
  cpu: number;
}

interface Server {
  child: ChildProcess;
  port: number;
  stderr: () => string;
}

/** Starts gw pinned to CPU 0 (its workers inherit the pinning), or free on every CPU, and waits for the ready line. */
async function startGw(dir: string, extra: string[], isPinned = true): Promise<Server> {
  const gwArgs = [GW_BIN, "serve", "app.ts", "--port", "0", "--quiet", ...extra];
  const [command, args] = isPinned ? pinned(0, process.execPath, gwArgs) : [process.execPath, gwArgs];
  const child = spawn(command, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  for await (const line of createInterface({ input: child.stdout! })) {
    const match = / port (\d+) /.exec(line);
    if (match) return { child, port: Number(match[1]), stderr: () => stderr };
  }
  throw new Error(`gw ${extra.join(" ")} exited before it was ready:\n${stderr}`);
}

async function stop(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  server.child.kill("SIGTERM");
  await once(server.child, "exit");
}

/** The pids of `root` and all its descendants (taskset execs node, so the root is gw itself). */
function tree(root: number): number[] {
  const pids = [root];
  for (let i = 0; i < pids.length; i++) {
    try {
      const out = execFileSync("ps", ["-o", "pid=", "--ppid", String(pids[i])], { encoding: "utf8" });
      pids.push(...out.trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      // No children.
    }
  }
  return pids;
}

/** user+sys CPU microseconds of `pids`, from /proc/<pid>/stat (fields 14 and 15). */
function cpuMicros(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * TICK_US;
}

/** One wrk round against `server`: req/s and CPU microseconds per request of all its processes. */
async function round(server: Server, seconds: number): Promise<Round> {
  const pids = tree(server.child.pid!);
  const before = cpuMicros(pids);
  const rps = await wrkRate(`http://127.0.0.1:${server.port}/`, { connections: 50, seconds });
  return { rps, cpu: (cpuMicros(pids) - before) / (rps * seconds) };
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

/** Runs the workers scenarios and returns their table rows. */
export async function benchWorkers(options: { seconds: number; rounds: number }): Promise<string[][]> {
  const dir = mkdtempSync(join(tmpdir(), "gw-bench-workers-"));
  writeFileSync(join(dir, "app.ts"), helloApp(0));
  const rows: string[][] = [];
  try {
    const plain = await startGw(dir, ["--no-reload"]);
    const one = await startGw(dir, ["--workers", "1"]);
    const two = await startGw(dir, ["--workers", "2"]);
    const spread = await startGw(dir, ["--workers", "2"], false);
    const results = { plain: [] as Round[], one: [] as Round[], two: [] as Round[], spread: [] as Round[] };
    const ratios: number[] = [];
    try {
      for (const server of [plain, one, two, spread]) await round(server, 1);
      for (let i = 0; i < options.rounds; i++) {
        const order = i % 2 === 0 ? (["plain", "one", "two", "spread"] as const) : (["spread", "two", "one", "plain"] as const);
        for (const name of order) results[name].push(await round({ plain, one, two, spread }[name], options.seconds));
        ratios.push(results.one.at(-1)!.rps / results.plain.at(-1)!.rps);
      }
    } finally {
      await Promise.all([stop(plain), stop(one), stop(two), stop(spread)]);
    }
    const rps = (name: keyof typeof results): number => median(results[name].map((r) => r.rps));
    const cpu = (name: keyof typeof results): number => median(results[name].map((r) => r.cpu));
    const ratio = median(ratios);
    rows.push(["hello keep-alive: --workers 1 vs --no-reload", rps("one").toFixed(0), rps("plain").toFixed(0), ratio.toFixed(2), ">= 0.95", ratio >= 0.95 ? "ok" : "BELOW"]);
    rows.push(["CPU us/request: --no-reload, 1 worker, 2 workers", cpu("plain").toFixed(1), `${cpu("one").toFixed(1)} / ${cpu("two").toFixed(1)}`, (cpu("two") / cpu("one")).toFixed(2), "2 vs 1 <= 1.05", cpu("two") / cpu("one") <= 1.05 ? "ok" : "ABOVE"]);
    rows.push(["req/s, 2 workers vs 1 (all gw on CPU 0)", rps("two").toFixed(0), rps("one").toFixed(0), (rps("two") / rps("one")).toFixed(2), "", ""]);
    rows.push(["2 workers free on both CPUs (wrk on CPU 1): req/s, CPU us/request", rps("spread").toFixed(0), cpu("spread").toFixed(1), (cpu("spread") / cpu("one")).toFixed(2), "", ""]);
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
