// What every bench file shares, so every scenario is measured the same way: the server on CPU 0
// and wrk on CPU 1 (so they do not fight over one core and rounds vary less), rates read from
// wrk's own summary, and medians rather than means.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

/** True when wrk is on the PATH. */
export const hasWrk: boolean = spawnSync("wrk", ["--version"]).error === undefined;
/** True on Linux with taskset, which pinned() needs. */
export const hasTaskset: boolean = process.platform === "linux" && spawnSync("taskset", ["-c", "0", "true"]).status === 0;

/** The command and arguments that run `command` on `cpu` when taskset is there, else as they are. */
export function pinned(cpu: number, command: string, commandArgs: string[]): [string, string[]] {
  return hasTaskset ? ["taskset", ["-c", String(cpu), command, ...commandArgs]] : [command, commandArgs];
}

/** Options for wrkRate. */
export interface WrkOptions {
  connections: number;
  seconds: number;
  /** A Lua script for wrk's -s. */
  script?: string | undefined;
  /** Called with wrk's stdout before the rate is read. @default reportWrkErrors */
  report?: (out: string) => void;
}

/** Writes wrk's non-2xx/3xx count or socket errors, if any, to stderr. */
export function reportWrkErrors(out: string): void {
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
  if (errors) process.stderr.write(`  wrk reported: ${errors[0]}\n`);
}

/** Runs one wrk thread on CPU 1 against `url` and returns its requests/s. */
export async function wrkRate(url: string, options: WrkOptions): Promise<number> {
  const { connections, seconds, script, report = reportWrkErrors } = options;
  const wrkArgs = ["-t1", `-c${connections}`, `-d${seconds}s`, ...(script ? ["-s", script] : []), url];
  const child = spawn(...pinned(1, "wrk", wrkArgs), { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (data: Buffer) => (out += data));
  await once(child, "exit");
  report(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!rps) throw new Error(`could not read wrk's output:\n${out}`);
  return Number(rps[1]);
}

/** The middle value (the upper one of an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** A port on 127.0.0.1 that was free a moment ago, for servers that cannot take --port 0. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/** Microseconds every thread of `pids` has run so far (/proc/<pid>/task/<tid>/schedstat, nanosecond counters; Linux). */
export function runMicros(pids: readonly number[]): number {
  let nanos = 0;
  for (const pid of pids) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        nanos += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // A thread that ended in between.
      }
    }
  }
  return nanos / 1000;
}
