// One worker process under the supervisor (server/workers.ts): runs a front (HTTP, FastCGI or
// SCGI) on the socket the supervisor shares through node:cluster, beats a heartbeat over IPC,
// and drains when told to: gunicorn's worker half of the arbiter.
import { fstatSync, writeSync } from "node:fs";
import type { App } from "../core/types.ts";
import type { TextSink } from "../core/input.ts";
import type { ListenTarget } from "./listen.ts";

/**
 * Where a worker listens: the supervisor's shared host and port or socket file (through
 * node:cluster), or an inherited descriptor (fd 0), which each worker listens on itself.
 */
export type { ListenTarget };

/** What the supervisor tells each worker to run (JSON, through the environment). */
export interface WorkerSetup {
  /** Which front serves the socket: a key of the fronts given to runWorker. */
  front: string;
  listen: ListenTarget;
  /** path[:export] of the user's module. */
  app: string;
  /** How its export is taken (--gw, --fetch, --node; dev/load's AppKind). @default "auto" */
  kind?: "auto" | "gw" | "fetch" | "node";
  cwd: string;
  isQuiet: boolean;
  /** gw.multiprocess: true when more than one worker serves. */
  isMultiprocess: boolean;
  /** Requests after which the worker asks to be replaced; 0 for never. */
  maxRequests: number;
  /** Milliseconds between heartbeats. */
  heartbeat: number;
  /** SCGI's --script-name. */
  scriptName?: string;
  /** The HTTP front's --header-underscores keep. */
  keepUnderscoreHeaders?: boolean;
  /** What the entry module puts in front of the app (dev/layers' FrontLayers; opaque here). */
  layers?: unknown;
  /** The HTTP front's certificate and key files (PEM), read at boot: HTTPS when set. */
  tls?: { certFile: string; keyFile: string };
  /** --env-file and --env-file-if-exists, which the entry module reads into process.env at boot. */
  envFiles?: { path: string; isOptional: boolean }[];
}

/** A front a worker runs: binds through the supervisor, serves, drains. */
export interface RunningFront {
  /** The bound port (0 on a descriptor). */
  readonly port: number;
  /** The front's own ready line, when it makes one (the HTTP server's: HTTPS, both addresses of localhost). */
  readonly readyLine?: string;
  /** Stops accepting, finishes open requests, closes every connection by `timeout` ms; resolves when done. */
  drain(timeout: number): Promise<void>;
}

/** Hooks a front calls so the worker can count and report its requests. */
export interface FrontHooks {
  /** Access-log sink (null with --quiet): one write per line group, whole lines only. */
  log: TextSink | null;
  errors: TextSink;
  /** Called once a request is done. */
  onRequestDone: () => void;
}

/** Starts a front for `app` on `target` (`setup` carries the front's own options). */
export type StartFront = (app: App, target: ListenTarget, hooks: FrontHooks, setup: WorkerSetup) => Promise<RunningFront>;

/** Messages a worker sends its supervisor. */
export type WorkerMessage =
  | { gw: "ready"; port: number; readyLine?: string; rss: number }
  | { gw: "failed"; message: string; detail: string; isUserError: boolean }
  | { gw: "beat"; served: number }
  | { gw: "retire" };

/** Messages the supervisor sends a worker. */
export type SupervisorMessage = { gw: "drain"; timeout: number } | { gw: "multiprocess"; value: boolean };

/** The environment variable that carries a worker's setup. */
export const SETUP_VARIABLE = "GW_WORKER_SETUP";

/**
 * Reads this worker's setup from its environment and removes it from there: it may hold --auth
 * logins, which the app must not find in its process.env.
 */
export function workerSetup(env: NodeJS.ProcessEnv = process.env): WorkerSetup {
  const text = env[SETUP_VARIABLE];
  if (text === undefined) throw new Error(`${SETUP_VARIABLE} is not set: this module runs only as a gw worker`);
  delete env[SETUP_VARIABLE];
  return JSON.parse(text) as WorkerSetup;
}

// With a callback, a send on a channel the supervisor's death closed is not an unhandled 'error'
// (EPIPE and a stack on stderr); node:cluster ends the worker on the disconnect that follows.
const ignoreSendError = (): void => {};

function send(message: WorkerMessage): void {
  process.send?.(message, ignoreSendError);
}

/** Tells the supervisor the app did not load (or bind), then exits 1. */
export function failWorker(error: unknown): void {
  const failure = error instanceof Error ? error : new Error(String(error));
  const cause = failure.cause instanceof Error ? failure.cause : failure;
  const message: WorkerMessage = { gw: "failed", message: failure.message, detail: cause.stack ?? cause.message, isUserError: failure.name === "UserError" };
  if (process.send === undefined) process.exit(1);
  process.send(message, () => process.exit(1));
}

/**
 * Writes access-log text to a pipe-safe sink: each write holds whole lines and at most PIPE_BUF
 * bytes, which POSIX makes atomic, so lines of several workers on one stderr never tear. A line
 * longer than that on its own (a request line with a 6 KB query) is cut to fit, and says how
 * many bytes it lost: written whole, it tore on a pipe under load.
 */
export function wholeLines(sink: TextSink, limit = 4096): TextSink {
  return {
    write(text: string): unknown {
      if (text.length <= limit / 4 || Buffer.byteLength(text) <= limit) return sink.write(text);
      let start = 0;
      while (start < text.length) {
        let end = start;
        let bytes = 0;
        for (let next = text.indexOf("\n", end) + 1; next > 0; next = text.indexOf("\n", end) + 1) {
          const size = Buffer.byteLength(text.slice(end, next));
          if (end > start && bytes + size > limit) break;
          bytes += size;
          end = next;
        }
        if (end === start) end = text.length;
        const piece = text.slice(start, end);
        sink.write(bytes <= limit ? piece : cutLine(piece, limit));
        start = end;
      }
      return true;
    },
  };
}

/** One line cut to at most `limit` bytes, ending with how many bytes were left out and its newline. */
function cutLine(line: string, limit: number): string {
  const bytes = Buffer.from(line.endsWith("\n") ? line.slice(0, -1) : line);
  // The note is at most 40 bytes; a character cut in two becomes U+FFFD (3 bytes), within that room.
  const kept = bytes.subarray(0, limit - 48).toString();
  return `${kept}… [${bytes.length - Buffer.byteLength(kept)} more bytes]\n`;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * stderr written with one write(2) for each chunk. Node's stream on a pipe is non-blocking and
 * joins chunks queued while the pipe is full into one writev, which may exceed PIPE_BUF and be
 * split among other workers' writes (3 processes writing 4 KiB lines to one pipe: 666 torn lines
 * in 30,000; with this, none). A write of at most PIPE_BUF bytes is whole or refused (EAGAIN,
 * retried after 1 ms), so a full pipe holds the worker back instead of tearing its lines.
 */
export const stderrWrites: TextSink = {
  write(text: string): boolean {
    const bytes = Buffer.from(text);
    for (let offset = 0; offset < bytes.length;) {
      try {
        offset += writeSync(2, bytes, offset);
      } catch (error) {
        // EPIPE and the like: nothing reads the log any more, and the requests go on without it.
        if ((error as NodeJS.ErrnoException).code !== "EAGAIN") return false;
        Atomics.wait(pause, 0, 0, 1);
      }
    }
    return true;
  },
};

/** Serves `app` with the named front until the supervisor says drain (or goes away); never returns early. */
export async function runWorker(setup: WorkerSetup, app: App, fronts: Record<string, StartFront>): Promise<void> {
  const start = fronts[setup.front];
  if (start === undefined) throw new Error(`no front named ${setup.front}`);
  const flags = { isMultiprocess: setup.isMultiprocess };
  const { app: served, tick } = watched(multiprocess(app, flags), setup.heartbeat);
  let count = 0;
  let hasRetired = false;
  const hooks: FrontHooks = {
    log: setup.isQuiet ? null : wholeLines(stderrWrites),
    errors: process.stderr,
    onRequestDone: () => {
      count++;
      if (setup.maxRequests > 0 && count >= setup.maxRequests && !hasRetired) {
        hasRetired = true;
        send({ gw: "retire" });
      }
    },
  };
  const front = await start(served, setup.listen, hooks, setup);
  const beat = setInterval(() => {
    tick();
    send({ gw: "beat", served: count });
  }, setup.heartbeat);
  let draining: Promise<void> | undefined;
  const drain = (timeout: number): Promise<void> => {
    // Access-log lines wait for the next turn of the loop; stderr on a pipe or file is written
    // synchronously, so once they are out the process may end, whatever handles the app holds.
    draining ??= front.drain(timeout).then(() => {
      clearInterval(beat);
      setImmediate(() => process.exit(0));
    });
    return draining;
  };
  process.on("message", (message: SupervisorMessage | { cmd?: string }) => {
    const order = message as SupervisorMessage;
    if (order.gw === "drain") void drain(order.timeout);
    else if (order.gw === "multiprocess") flags.isMultiprocess = order.value;
  });
  // The supervisor's own handling of SIGINT/SIGTERM reaches a worker as a drain message; a Ctrl+C
  // on the terminal signals the whole group, so the worker ignores the signal itself.
  process.on("SIGINT", () => {});
  process.on("SIGTERM", () => void drain(30_000));
  send({ gw: "ready", port: front.port, readyLine: front.readyLine, rss: process.memoryUsage.rss() });
}

/** The descriptor on which a worker reports the request its blocked event loop is serving. */
export const STALL_FD = 4;

// The watchdog runs in a thread of its own, so it still runs while the app blocks the main
// thread: it sees the tick stop and writes the request line the app last started to STALL_FD.
// The tick is the heartbeat's, and the watchdog sleeps a window of 1.5 heartbeats at a time: a
// timer of each of their own (every 25 and 50 ms) cost an idle worker about 1 % of a core in
// wakeups, which at a fixed request rate made 2 workers cost 8 % more CPU a request than 1.
const WATCHDOG = `
const { workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const state = new Int32Array(workerData.buffer, 0, 2);
const bytes = new Uint8Array(workerData.buffer, 8);
// Atomics.wait is a plain sleep here (nobody notifies): no event loop turns, one wakeup a window.
let last = Atomics.load(state, 0), isReported = false;
for (;;) {
  Atomics.wait(state, 0, last, workerData.window);
  const tick = Atomics.load(state, 0);
  if (tick !== last) { last = tick; isReported = false; continue; }
  if (isReported) continue;
  isReported = true;
  try { writeSync(workerData.fd, Buffer.from(bytes.slice(0, Atomics.load(state, 1))).toString() + "\\n"); } catch {}
}
`;
const LINE_BYTES = 1024;

/**
 * The app, recording each request line where the watchdog thread can read it, so the supervisor
 * can say what a blocked worker was serving, and the tick the heartbeat calls. The watchdog
 * reports a loop that has not ticked for a whole window of 1.5 heartbeats, so within 3 of the
 * block: before the supervisor's kill, which comes after --timeout, at least 4 heartbeats.
 * Without STALL_FD (not under a supervisor) the app is `app` and the tick does nothing.
 */
function watched(app: App, heartbeat: number): { app: App; tick: () => void } {
  let isPipe = false;
  try {
    // node makes a child's extra "pipe" a UNIX socket pair.
    const stat = fstatSync(STALL_FD);
    isPipe = stat.isSocket() || stat.isFIFO();
  } catch {
    return { app, tick: () => {} };
  }
  if (!isPipe) return { app, tick: () => {} };
  const buffer = new SharedArrayBuffer(8 + LINE_BYTES);
  const state = new Int32Array(buffer, 0, 2);
  const bytes = new Uint8Array(buffer, 8);
  const { Worker } = process.getBuiltinModule("node:worker_threads") as typeof import("node:worker_threads");
  new Worker(WATCHDOG, { eval: true, workerData: { buffer, fd: STALL_FD, window: Math.ceil(heartbeat * 1.5) } }).unref();
  const encoder = new TextEncoder();
  return {
    app: (environ, startResponse) => {
      const line = `${environ.REQUEST_METHOD} ${environ.REQUEST_URI ?? environ.PATH_INFO} ${environ.SERVER_PROTOCOL}`;
      Atomics.store(state, 1, encoder.encodeInto(line, bytes).written);
      return app(environ, startResponse);
    },
    tick: () => void Atomics.add(state, 0, 1),
  };
}

/** The app with gw.multiprocess set as the supervisor last said (SIGTTIN/SIGTTOU change it). */
function multiprocess(app: App, flags: { isMultiprocess: boolean }): App {
  return (environ, startResponse) => {
    environ["gw.multiprocess"] = flags.isMultiprocess;
    return app(environ, startResponse);
  };
}
