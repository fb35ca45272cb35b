// `npm run bench`: times gw against a raw node:http server doing the same work, in one run,
// alternating rounds, and prints requests/s and the ratio; then the app layer, reload, file-server
// and templates benches. Load comes from wrk when installed, else autocannon. Options: --seconds N
// (per round, default 2), --rounds N (default 7), --only NAME, --tool wrk|autocannon.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { hasTaskset, hasWrk, median, pinned, wrkRate } from "./common.ts";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "2" },
    rounds: { type: "string", default: "7" },
    only: { type: "string" },
    tool: { type: "string" },
  },
});
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const tool = args.tool ?? (hasWrk ? "wrk" : "autocannon");

interface Scenario {
  name: string;
  title: string;
  target: number;
  connections: number;
  method?: string;
  bodyBytes?: number;
}

const scenarios: Scenario[] = [
  { name: "hello", title: "hello world, keep-alive", target: 0.95, connections: 50 },
  { name: "stream", title: "100 x 1 KiB streamed body", target: 0.85, connections: 50 },
  { name: "echo", title: "1 MiB POST echo", target: 0.85, connections: 16, method: "POST", bodyBytes: 1 << 20 },
];

const here = import.meta.dirname;
const scratch = mkdtempSync(join(tmpdir(), "gw-bench-"));
// wrk's Lua scripts live here for the run only.
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));

async function startServer(impl: string, scenario: string): Promise<{ child: ChildProcess; port: number }> {
  const [command, commandArgs] = pinned(0, process.execPath, [join(here, "servers.ts"), impl, scenario]);
  const child = spawn(command, commandArgs, { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const match = /^PORT (\d+)$/.exec(line);
    if (match) return { child, port: Number(match[1]) };
  }
  throw new Error(`${impl} ${scenario} server exited before listening`);
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill("SIGKILL");
  await once(child, "exit");
}

function wrkScript(scenario: Scenario): string | undefined {
  if (scenario.bodyBytes === undefined) return undefined;
  const path = join(scratch, `${scenario.name}.lua`);
  writeFileSync(path, `wrk.method = "${scenario.method}"\nwrk.body = string.rep("x", ${scenario.bodyBytes})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`);
  return path;
}

async function load(scenario: Scenario, port: number, duration: number): Promise<number> {
  const url = `http://127.0.0.1:${port}/`;
  if (tool === "wrk") return wrkRate(url, { connections: scenario.connections, seconds: duration, script: wrkScript(scenario) });
  const { default: autocannon } = await import("autocannon");
  const result = await autocannon({
    url,
    connections: scenario.connections,
    duration,
    method: (scenario.method ?? "GET") as "GET",
    body: scenario.bodyBytes ? Buffer.alloc(scenario.bodyBytes, "x") : undefined,
  });
  return result.requests.average;
}

const rows: string[][] = [];
process.stdout.write(`gw bench: ${tool}${hasTaskset ? " (pinned: server cpu 0, load cpu 1)" : ""}, ${seconds}s x ${rounds} rounds each, node ${process.version}; req/s are medians, ratio is the median of per-round ratios\n`);
for (const scenario of scenarios) {
  if (args.only !== undefined && args.only !== scenario.name) continue;
  const gw: number[] = [];
  const raw: number[] = [];
  const ratios: number[] = [];
  const servers = { gw: await startServer("gw", scenario.name), raw: await startServer("raw", scenario.name) };
  try {
    // Warm-up: let the JIT settle on both sides before anything counts.
    await load(scenario, servers.gw.port, 1);
    await load(scenario, servers.raw.port, 1);
    for (let round = 0; round < rounds; round++) {
      // Back-to-back pairs in alternating order, so drift on a shared machine hits both sides
      // alike; each pair gives one ratio, and the median ratio is reported.
      for (const impl of round % 2 === 0 ? (["gw", "raw"] as const) : (["raw", "gw"] as const)) {
        (impl === "gw" ? gw : raw).push(await load(scenario, servers[impl].port, seconds));
      }
      ratios.push(gw.at(-1)! / raw.at(-1)!);
    }
  } finally {
    await stopServer(servers.gw.child);
    await stopServer(servers.raw.child);
  }
  const ratio = median(ratios);
  process.stderr.write(`  ${scenario.name}: per-round ratios ${ratios.map((r) => r.toFixed(2)).join(" ")}\n`);
  rows.push([scenario.title, median(gw).toFixed(0), median(raw).toFixed(0), ratio.toFixed(2), `>= ${scenario.target}`, ratio >= scenario.target ? "ok" : "BELOW"]);
}

if (rows.length > 0) printTable(["scenario", "gw req/s", "node:http req/s", "ratio", "target", ""], rows);

if (args.only === undefined || args.only === "app") {
  const { benchAppLayer } = await import("./app-layer.ts");
  process.stdout.write("\napp layer: same run, alternating rounds, median of per-round ratios\n");
  printTable(["scenario", "gw req/s", "baseline req/s", "ratio", "target"], await benchAppLayer({ seconds, rounds }));
}

if (args.only === undefined || args.only === "reload") {
  const { benchReload } = await import("./reload.ts");
  process.stdout.write("\ndev server: reload latency over 20 edits, failed requests over 10 reloads under load (8 clients)\n");
  const reloadRows = await benchReload({ edits: 20, reloads: 10, coldRuns: 7 });
  printTable(["server", "p50 ms", "p90 ms", "failed", "ok"], reloadRows);
  process.stdout.write("targets: gw p50 <= 120 ms, p90 <= 250 ms, 0 failed\n");
}

if (args.only === undefined || args.only === "static") {
  const { benchStatic } = await import("./static.ts");
  process.stdout.write("\nfile server: files from gw serve --directory D, the CGI script from gw serve --cgi --directory D, vs python3 -m http.server --cgi --directory D; the anchor is nginx (1 process) for files and lighttpd's mod_cgi for the script (same tree, same run)\n");
  const staticRows = await benchStatic({ seconds, rounds });
  printTable(["scenario", "gw req/s", "python req/s", "ratio", "target", "", "anchor req/s", "gw/anchor"], staticRows);
}

if ((args.only === undefined || args.only === "workers") && tool === "wrk") {
  const { benchWorkers } = await import("./workers.ts");
  process.stdout.write("\nworkers: gw serve APP --workers N, every gw process on CPU 0, wrk on CPU 1; CPU us/request = run time of every gw thread (/proc schedstat) / requests, at a fixed offered rate and saturated\n");
  printTable(["scenario", "gw", "baseline", "ratio", "target", ""], await benchWorkers({ seconds, rounds }));
}

if (args.only === undefined || args.only === "templates") {
  const { benchTemplates, benchTemplateServing } = await import("./templates.ts");
  process.stdout.write("\ntemplates: a 1,000-row table page to a string (same data, same HTML, escaping on), engines alternating per round\n");
  printTable(["engine", "renders/s to a string", "spread", "gw ÷ engine", "+ as UTF-8 bytes", "spread", "gw ÷ engine"], benchTemplates({ milliseconds: seconds * 500, rounds }));
  process.stdout.write("target: gw >= 1.2 × the fastest other engine, to a string\n");
  process.stdout.write("\nthe same page through gw serve (16 clients): one string vs streamed\n");
  printTable(["sent as", "req/s", "spread"], await benchTemplateServing({ seconds, rounds }));
}

if (args.only === undefined || args.only === "behind") {
  const { benchBehind } = await import("./behind.ts");
  process.stdout.write("\nbehind nginx (one worker; nginx and the backend on CPU 0): same run, alternating rounds, median of per-round ratios\n");
  printTable(["scenario", "gw req/s", "other req/s", "ratio", "target", ""], await benchBehind({ seconds, rounds }));
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (row: string[]): string => "| " + header.map((_, i) => (row[i] ?? "").padEnd(widths[i]!)).join(" | ") + " |";
  process.stdout.write([line(header), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...rows.map(line)].join("\n") + "\n");
}
