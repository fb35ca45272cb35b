// The dev-server half of `npm run bench`: reload latency (write the file → first response with
// the new body), failed requests while reloading under load, and cold start, for `gw serve`
// next to `node --watch` on an equivalent plain node:http server, in the same run. Alone:
// `node bench/reload.ts [--edits N] [--reloads N] [--cold N] [--only gw|express|node]` (runs dist/: build first).
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request, Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { freePort } from "./common.ts";

// GW_BIN=<another checkout>/bin/gw.js compares that build's reloads with this one's, under the same load.
const GW_BIN = process.env.GW_BIN ?? join(import.meta.dirname, "..", "bin", "gw.js");

function gwApp(body: string): string {
  return `export default (_environ: unknown, start: (s: string, h: [string, string][]) => void) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [${JSON.stringify(body)}];
};\n`;
}

function expressApp(body: string): string {
  return `import express from "express";
const app = express();
app.get("/", (_req, res) => res.type("text").send(${JSON.stringify(body)}));
export default app;\n`;
}

function plainApp(body: string): string {
  return `import { createServer } from "node:http";
createServer((_req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain" });
  res.end(${JSON.stringify(body)});
}).listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening on " + process.env.PORT));\n`;
}

interface Side {
  name: string;
  file: string;
  write(version: number): void;
  start(): Promise<{ child: ChildProcess; port: number }>;
}

const agent = new Agent({ keepAlive: true, maxSockets: 8 });

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end();
  });
}

async function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  for await (const line of createInterface({ input: child.stdout! })) {
    if (pattern.test(line)) return line;
  }
  throw new Error("the server exited before it was ready");
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await once(child, "exit");
  clearTimeout(timer);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Edits the file `edits` times and times each until the new body is served. */
async function reloadLatency(side: Side, port: number, edits: number): Promise<number[]> {
  const times: number[] = [];
  for (let version = 1; version <= edits; version++) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const expected = `v${version}`;
    const started = performance.now();
    side.write(version);
    const deadline = started + 10_000;
    for (;;) {
      const response = await get(port).catch(() => undefined);
      if (response?.body === expected) break;
      if (performance.now() > deadline) throw new Error(`${side.name}: v${version} never served`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    times.push(performance.now() - started);
  }
  return times;
}

/** Keeps 8 clients busy while the file changes `reloads` times; counts failed requests. */
async function failuresUnderLoad(side: Side, port: number, reloads: number, startVersion: number): Promise<{ ok: number; failed: number }> {
  let ok = 0;
  let failed = 0;
  let isRunning = true;
  const client = async (): Promise<void> => {
    while (isRunning) {
      try {
        const response = await get(port);
        if (response.status === 200) ok++;
        else failed++;
      } catch {
        failed++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  };
  const clients = Array.from({ length: 8 }, client);
  for (let i = 0; i < reloads; i++) {
    side.write(startVersion + i);
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
  isRunning = false;
  await Promise.all(clients);
  return { ok, failed };
}

/** Median ms from spawn to the ready line, and from spawn to the first 200 from `port`. */
async function coldStart(command: string[], env: NodeJS.ProcessEnv, pattern: RegExp, cwd: string, runs: number, port: number): Promise<[number, number]> {
  const ready: number[] = [];
  const served: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const child = spawn(command[0]!, command.slice(1), { cwd, env, stdio: ["ignore", "pipe", "ignore"] });
    await waitForLine(child, pattern);
    ready.push(performance.now() - started);
    while ((await get(port).catch(() => undefined))?.status !== 200) await new Promise((resolve) => setTimeout(resolve, 1));
    served.push(performance.now() - started);
    await stop(child);
  }
  return [percentile(ready, 50), percentile(served, 50)];
}

/** Runs the dev-server bench and returns its table rows. */
export async function benchReload(options: { edits: number; reloads: number; coldRuns: number; only?: string | undefined }): Promise<string[][]> {
  const dir = mkdtempSync(join(tmpdir(), "gw-reload-bench-"));
  // The Express app imports gw's own devDependency.
  symlinkSync(join(import.meta.dirname, "..", "node_modules"), join(dir, "node_modules"));
  try {
    const sides: Side[] = [
      {
        name: "gw serve",
        file: join(dir, "app.ts"),
        write(version) {
          writeFileSync(this.file, gwApp(`v${version}`));
        },
        async start() {
          const child = spawn(process.execPath, [GW_BIN, "serve", "app.ts", "--port", "0", "--quiet"], { cwd: dir, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, NO_COLOR: "1" } });
          const line = await waitForLine(child, /^Serving HTTP on/);
          return { child, port: Number(/ port (\d+) /.exec(line)![1]) };
        },
      },
      {
        name: "gw serve (Express app)",
        file: join(dir, "express.mjs"),
        write(version) {
          writeFileSync(this.file, expressApp(`v${version}`));
        },
        async start() {
          const child = spawn(process.execPath, [GW_BIN, "serve", "express.mjs", "--port", "0", "--quiet"], { cwd: dir, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, NO_COLOR: "1" } });
          const line = await waitForLine(child, /^Serving HTTP on/);
          return { child, port: Number(/ port (\d+) /.exec(line)![1]) };
        },
      },
      {
        name: "node --watch",
        file: join(dir, "server.mjs"),
        write(version) {
          writeFileSync(this.file, plainApp(`v${version}`));
        },
        async start() {
          const port = await freePort();
          const child = spawn(process.execPath, ["--watch", "server.mjs"], { cwd: dir, stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, PORT: String(port) } });
          await waitForLine(child, /^listening on/);
          return { child, port };
        },
      },
    ];
    const rows: string[][] = [];
    const names: Record<string, string> = { gw: "gw serve", express: "gw serve (Express app)", node: "node --watch" };
    for (const side of sides) {
      if (options.only !== undefined && names[options.only] !== side.name) continue;
      side.write(0);
      const { child, port } = await side.start();
      try {
        while ((await get(port).catch(() => undefined))?.body !== "v0") await new Promise((resolve) => setTimeout(resolve, 10));
        const times = await reloadLatency(side, port, options.edits);
        const load = await failuresUnderLoad(side, port, options.reloads, options.edits + 1);
        rows.push([side.name, percentile(times, 50).toFixed(0), percentile(times, 90).toFixed(0), String(load.failed), String(load.ok)]);
      } finally {
        await stop(child);
      }
    }
    if (options.coldRuns === 0) return rows;
    const port = await freePort();
    const [gwReady, gwServed] = await coldStart([process.execPath, GW_BIN, "serve", "app.ts", "--port", String(port)], { ...process.env, NO_COLOR: "1" }, /^Serving HTTP on/, dir, options.coldRuns, port);
    const [nodeReady, nodeServed] = await coldStart([process.execPath, "server.mjs"], { ...process.env, PORT: String(port) }, /^listening on/, dir, options.coldRuns, port);
    rows.push(["cold start to the ready line (ms): gw serve app.ts / node server.mjs", gwReady.toFixed(0), nodeReady.toFixed(0), `ratio ${(gwReady / nodeReady).toFixed(2)}`, "target <= 1.5"]);
    rows.push(["cold start to the first 200 (ms): gw serve app.ts / node server.mjs", gwServed.toFixed(0), nodeServed.toFixed(0), `ratio ${(gwServed / nodeServed).toFixed(2)}`, "(no target)"]);
    return rows;
  } finally {
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { edits: { type: "string", default: "20" }, reloads: { type: "string", default: "10" }, cold: { type: "string", default: "0" }, only: { type: "string" } } });
  const rows = await benchReload({ edits: Number(values.edits), reloads: Number(values.reloads), coldRuns: Number(values.cold), only: values.only });
  console.log(`reload latency over ${values.edits} edits, failed requests over ${values.reloads} reloads under load (8 clients), node ${process.version}`);
  console.log("| server | p50 ms | p90 ms | failed | ok |");
  console.log("|---|---|---|---|---|");
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
}
