// Runs the built bin/gw.js as a real process for the black-box CLI tests: startGw for servers
// (waits for the ready line), runGw for commands that run to completion, tempApp for app folders.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sendRequest, type FetchedResponse, type SendOptions } from "./http-client.ts";

/** The repository root. */
export const ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The built CLI entry point. */
export const GW_BIN: string = join(ROOT, "bin", "gw.js");
/** The ready line, as a pattern with the host and the port captured. */
export const READY_LINE: RegExp = /^Serving HTTPS? on (\S+) port (\d+) \(https?:\/\/(\S+):(\d+)\/\) \.\.\.$/;

/** Options for startGw and runGw. */
export interface GwOptions {
  cwd?: string;
  /** Added to the environment (NO_COLOR=1 is always set). */
  env?: Record<string, string>;
  /** When false, the child gets only `env` (plus NO_COLOR), not this process's environment. @default true */
  shouldInheritEnv?: boolean;
  /** An executable to run instead of `node bin/gw.js` (an installed package's `.bin/gw`, say). */
  command?: string;
  /** startGw: the ready line to wait for, host and port as groups 1 and 2. @default READY_LINE */
  ready?: RegExp;
  /** startGw: a file descriptor of this process to give gw as its fd 0. @default "ignore" */
  stdin?: number;
}

/** What a finished gw process left behind. */
export interface GwExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running gw server. */
export interface GwServer {
  child: ChildProcess;
  pid: number;
  port: number;
  host: string;
  /** http://host:port */
  url: string;
  readyLine: string;
  stdout(): string;
  stderr(): string;
  stderrLines(): string[];
  /** Resolves with the first stderr line matching `pattern`, or rejects after `timeout` ms. */
  waitForStderr(pattern: RegExp, timeout?: number): Promise<string>;
  /** One request over a fresh connection (node:http, agent false). */
  request(path: string, options?: SendOptions): Promise<FetchedResponse>;
  /** Sends `signal` (if still running) and resolves once the process exited; SIGKILL after `timeout`. */
  stop(signal?: NodeJS.Signals, timeout?: number): Promise<GwExit>;
  /** Resolves once the process exited on its own; SIGKILLs it after `timeout` ms (exit.signal then says so). */
  waitForExit(timeout?: number): Promise<GwExit>;
  /** Resolves once the process exited. */
  exited: Promise<GwExit>;
}

function childEnv(options: GwOptions): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = options.shouldInheritEnv === false ? {} : { ...process.env };
  // The child must not inherit vitest's colour forcing or loader flags.
  delete base.FORCE_COLOR;
  delete base.NODE_OPTIONS;
  return { ...base, ...options.env, NO_COLOR: "1" };
}

/** Spawns `gw ...args` and resolves once it printed its ready line; rejects (and kills it) otherwise. */
export async function startGw(args: string[], options: GwOptions = {}, readyTimeout: number = 10_000): Promise<GwServer> {
  const [file, argv] = options.command === undefined ? [process.execPath, [GW_BIN, ...args]] : [options.command, args];
  const child = spawn(file, argv, { cwd: options.cwd, env: childEnv(options), stdio: [options.stdin ?? "ignore", "pipe", "pipe"] });
  const ready = options.ready ?? READY_LINE;
  let stdout = "";
  let stderr = "";
  const watchers = new Set<() => void>();
  const notify = (): void => watchers.forEach((watcher) => watcher());
  child.stdout!.setEncoding("utf8").on("data", (text: string) => {
    stdout += text;
    notify();
  });
  child.stderr!.setEncoding("utf8").on("data", (text: string) => {
    stderr += text;
    notify();
  });
  const exited = new Promise<GwExit>((resolve) => {
    child.on("close", (code, signal) => {
      notify();
      resolve({ code, signal, stdout, stderr });
    });
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const waitFor = <T>(what: string, check: () => T | undefined, timeout: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const poll = (): void => {
        const found = check();
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (hasExited) {
          done();
          reject(new Error(`gw exited before ${what}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      }, timeout);
      const done = (): void => {
        clearTimeout(timer);
        watchers.delete(poll);
      };
      watchers.add(poll);
      void exited.then(poll);
      poll();
    });

  const stop = async (signal: NodeJS.Signals = "SIGTERM", timeout: number = 10_000): Promise<GwExit> => {
    if (!hasExited && child.pid !== undefined) process.kill(child.pid, signal);
    const timer = setTimeout(() => {
      if (!hasExited && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    }, timeout);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  let readyLine: string;
  try {
    readyLine = await waitFor("the ready line", () => stdout.split("\n").find((line) => ready.test(line)), readyTimeout);
  } catch (error) {
    await stop("SIGKILL");
    throw error;
  }
  const match = ready.exec(readyLine)!;
  const host = match[1]!;
  const port = Number(match[2]);
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return {
    child,
    pid: child.pid!,
    port,
    host,
    url,
    readyLine,
    stdout: () => stdout,
    stderr: () => stderr,
    stderrLines: () => stderr.split("\n").filter((line) => line !== ""),
    waitForStderr: (pattern, timeout = 5_000) =>
      waitFor(`a stderr line matching ${pattern}`, () => stderr.split("\n").find((line) => pattern.test(line)), timeout),
    request: (path, requestOptions) => sendRequest(url, path, requestOptions),
    stop,
    waitForExit: async (timeout = 10_000) => {
      const timer = setTimeout(() => {
        if (!hasExited) process.kill(child.pid!, "SIGKILL");
      }, timeout);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    exited,
  };
}

/** What runGw returns. */
export interface GwRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** True when gw had not exited after the timeout and was killed. */
  hasTimedOut: boolean;
}

/**
 * Runs `gw ...args` to completion, feeding `input` to stdin. A gw still running after `timeout` ms
 * is killed with SIGKILL and reported with hasTimedOut (exitCode null), so tests assert on it.
 */
export function runGw(args: string[], options: GwOptions & { input?: Uint8Array | string; timeout?: number } = {}): Promise<GwRun> {
  const timeout = options.timeout ?? 15_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GW_BIN, ...args], { cwd: options.cwd, env: childEnv(options), stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    let hasTimedOut = false;
    const timer = setTimeout(() => {
      hasTimedOut = true;
      child.kill("SIGKILL");
    }, timeout);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, stdout: Buffer.concat(out), stderr, hasTimedOut });
    });
    // A command that never reads stdin may exit first; its EPIPE is not the test's concern.
    child.stdin.on("error", () => {});
    child.stdin.end(options.input);
  });
}

/** A fresh temp folder holding `files` (name → content); remove() deletes it. */
export interface TempApp {
  dir: string;
  path(name: string): string;
  write(name: string, content: string): void;
  remove(): void;
}

/** Makes a temp folder under the OS temp dir with the given files ("sub/name" makes the folder). */
export function tempApp(files: Record<string, string>, prefix: string = "gw-cli-"): TempApp {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const write = (name: string, content: string): void => {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  };
  for (const [name, content] of Object.entries(files)) write(name, content);
  return { dir, path: (name) => join(dir, name), write, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Calls `attempt` until `isDone(result)` holds (errors count as not done), or throws after `timeout` ms. */
export async function pollUntil<T>(what: string, attempt: () => Promise<T>, isDone: (result: T) => boolean, timeout: number = 5_000): Promise<T> {
  const deadline = Date.now() + timeout;
  let last: T | Error | undefined;
  for (;;) {
    try {
      last = await attempt();
      if (isDone(last)) return last;
    } catch (error) {
      last = error instanceof Error ? error : new Error(String(error));
    }
    if (Date.now() > deadline) {
      const shown = last instanceof Error ? last.message : JSON.stringify(last, (_key, value: unknown) =>
        value instanceof Object && "type" in value && value.type === "Buffer" ? "<bytes>" : value);
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${shown}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A plain-text gw app module whose response body is `body`. */
export function textApp(body: string, extra: string = ""): string {
  return `${extra}
export default (environ: Record<string, unknown>, start: (status: string, headers: [string, string][]) => unknown) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [${JSON.stringify(body)}];
};
`;
}
