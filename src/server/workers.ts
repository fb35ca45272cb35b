// The supervisor of `--workers N` (gunicorn's arbiter on node:cluster): it forks the workers,
// which share one listening socket that node:cluster binds once and each worker accepts on
// (SCHED_NONE: the supervisor never touches a request), and it restarts, scales and watches them.
import type { Worker } from "node:cluster";
import { relative } from "node:path";
import type { TextSink } from "../core/input.ts";
import { SETUP_VARIABLE, STALL_FD, type ListenTarget, type SupervisorMessage, type WorkerMessage, type WorkerSetup } from "./worker.ts";

/** Options for superviseWorkers. */
export interface SupervisorOptions {
  /** The worker entry module (a file path), which loads the app and calls runWorker. */
  workerModule: string;
  /** What each worker runs; isMultiprocess is set from the count. */
  setup: Omit<WorkerSetup, "isMultiprocess" | "heartbeat" | "maxRequests">;
  count: number;
  /** Seconds a worker's event loop may stay blocked before it is killed. @default 30 */
  timeout: number;
  /** Seconds a stopping worker has to finish its requests. @default 30 */
  gracefulTimeout: number;
  /** Requests after which a worker is replaced (0: never), plus a random 0..jitter. */
  maxRequests: number;
  maxRequestsJitter: number;
  /** Where the ready line goes. */
  stdout: TextSink;
  /** Where supervisor events go. */
  stderr: TextSink;
  /** Turns a port into the ready line, for fronts whose workers do not report their own. */
  readyLine?: (port: number) => string;
  /** Node flags for the workers. */
  execArgv?: string[];
}

interface Slot {
  id: number;
  worker: Worker;
  generation: number;
  state: "booting" | "ready" | "draining";
  lastBeat: number;
  /** Set when the supervisor ended it on purpose (drain, timeout), so its exit is not a crash. */
  isRetired: boolean;
  /** The request line the worker's watchdog last reported its blocked event loop serving. */
  stalledOn: string | undefined;
  /** Why it did not boot, as it reported before exiting. */
  failure?: string;
}

const BOOT_RETRIES = 5;

/** Runs the workers until SIGTERM/SIGINT; resolves to the exit code (0, or 1 when the code never boots). */
export async function superviseWorkers(options: SupervisorOptions): Promise<number> {
  const cluster = (await import("node:cluster")).default;
  // Each worker accepts on the shared socket itself; round-robin would route every connection
  // through this process (docs/PERFORMANCE.md, "Workers").
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const stdio = ["inherit", "inherit", "inherit", "ipc", "pipe"];
  cluster.setupPrimary({ exec: options.workerModule, args: [], stdio, ...(options.execArgv ? { execArgv: options.execArgv } : {}) });
  const { stdout, stderr } = options;
  const listen = await concretePort(options.setup.listen);
  const heartbeat = Math.max(100, Math.min(1000, options.timeout * 250));
  const slots = new Map<number, Slot>();
  /** Every worker process not yet exited, whatever its state, with its slot. */
  const alive = new Map<Worker, Slot>();
  let count = options.count;
  let generation = 1;
  let isStopping = false;
  let isRolling = false;
  let hasPrintedReady = false;
  let bootFailures = 0;
  let recycling: Slot | undefined;
  const retiring: Slot[] = [];
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));

  const log = (line: string): void => void stderr.write(`gw: ${line}\n`);
  const live = (): Slot[] => [...slots.values()];

  function fork(id: number, gen: number): Slot {
    const jitter = options.maxRequestsJitter > 0 ? Math.floor(Math.random() * (options.maxRequestsJitter + 1)) : 0;
    const setup: WorkerSetup = {
      ...options.setup,
      listen,
      isMultiprocess: count > 1,
      heartbeat,
      maxRequests: options.maxRequests > 0 ? options.maxRequests + jitter : 0,
    };
    const worker = cluster.fork({ [SETUP_VARIABLE]: JSON.stringify(setup) });
    const slot: Slot = { id, worker, generation: gen, state: "booting", lastBeat: Date.now(), isRetired: false, stalledOn: undefined };
    const stalls = worker.process.stdio[STALL_FD] as NodeJS.ReadableStream | null | undefined;
    stalls?.setEncoding("utf8");
    stalls?.on("data", (text: string) => (slot.stalledOn = text.trim().split("\n").at(-1)));
    alive.set(worker, slot);
    // A message to a worker that is exiting fails with an 'error' event; its 'exit' event follows and is what counts.
    worker.on("error", () => {});
    worker.on("message", (message: WorkerMessage) => onMessage(slot, message));
    worker.on("exit", (code, signal) => {
      alive.delete(worker);
      onExit(slot, code, signal);
    });
    return slot;
  }

  function drain(slot: Slot): void {
    slot.state = "draining";
    slot.isRetired = true;
    const message: SupervisorMessage = { gw: "drain", timeout: options.gracefulTimeout * 1000 };
    if (slot.worker.isConnected()) slot.worker.send(message);
    const kill = setTimeout(() => slot.worker.process.kill("SIGKILL"), options.gracefulTimeout * 1000 + 1000);
    kill.unref();
    slot.worker.once("exit", () => clearTimeout(kill));
  }

  function onMessage(slot: Slot, message: WorkerMessage): void {
    slot.lastBeat = Date.now();
    slot.stalledOn = undefined;
    switch (message.gw) {
      case "ready": {
        slot.state = "ready";
        bootFailures = 0;
        log(`worker ${slot.id} (pid ${slot.worker.process.pid}) ready, RSS ${mb(message.rss)}`);
        if (!hasPrintedReady && live().filter((s) => s.state === "ready").length >= count) {
          hasPrintedReady = true;
          stdout.write((message.readyLine ?? options.readyLine?.(message.port) ?? `Serving on port ${message.port}`) + "\n");
          log(`supervisor pid ${process.pid}, RSS ${mb(process.memoryUsage.rss())}`);
        }
        break;
      }
      case "failed":
        slot.failure = failureText(message, options.setup.cwd);
        if (!hasPrintedReady) {
          // The code (or the address) cannot work: say so once and stop instead of a fork loop.
          stderr.write(message.isUserError ? `gw: ${message.message}\n` : `gw: the app failed to load: ${message.message}\n${message.detail}\n`);
          stopAll(1, true);
        }
        break;
      case "retire":
        retiring.push(slot);
        recycleNext();
        break;
    }
  }

  /** Replaces a worker that reached --max-requests: the new one first, one recycling at a time. */
  function recycleNext(): void {
    if (recycling !== undefined || isStopping || isRolling) return;
    let old: Slot | undefined;
    while (old === undefined && retiring.length > 0) {
      const slot = retiring.shift()!;
      if (slots.get(slot.id) === slot && slot.state === "ready") old = slot;
    }
    if (old === undefined) return;
    recycling = old;
    const next = fork(old.id, generation);
    void whenBooted([next]).then((isReady) => {
      recycling = undefined;
      if (isStopping) return;
      if (isReady && slots.get(old.id) === old) {
        slots.set(old.id, next);
        drain(old);
        log(`worker ${old.id} (pid ${old.worker.process.pid}) reached --max-requests; pid ${next.worker.process.pid} serves in its place`);
      } else {
        next.isRetired = true;
        next.worker.process.kill("SIGKILL");
      }
      recycleNext();
    });
  }

  function onExit(slot: Slot, code: number | null, signal: string | null): void {
    const current = slots.get(slot.id);
    if (current === slot) slots.delete(slot.id);
    if (isStopping) {
      if (alive.size === 0) finish(exitCode);
      return;
    }
    if (slot.isRetired || current !== slot) return;
    const how = signal !== null ? `with signal ${signal}` : `with code ${code}`;
    if (slot.state === "booting") {
      bootFailures++;
      if (bootFailures >= BOOT_RETRIES && live().every((s) => s.state !== "ready")) {
        log(`worker ${slot.id} (pid ${slot.worker.process.pid}) exited ${how} before it was ready, ${bootFailures} times; giving up`);
        stopAll(1, true);
        return;
      }
      const delay = Math.min(10_000, 100 * 2 ** bootFailures);
      const why = slot.failure === undefined ? "" : ` (${slot.failure})`;
      log(`worker ${slot.id} (pid ${slot.worker.process.pid}) exited ${how} before it was ready${why}; retrying in ${delay / 1000} s`);
      setTimeout(() => {
        if (!isStopping && !slots.has(slot.id) && slot.id <= count) slots.set(slot.id, fork(slot.id, generation));
      }, delay);
      return;
    }
    const next = fork(slot.id, generation);
    slots.set(slot.id, next);
    log(`worker ${slot.id} (pid ${slot.worker.process.pid}) exited ${how}; started pid ${next.worker.process.pid}`);
  }

  /** Resolves true once every one of `started` is ready, false as soon as one fails or exits. */
  function whenBooted(started: Slot[]): Promise<boolean> {
    return new Promise((resolve) => {
      let waiting = started.length;
      for (const slot of started) {
        slot.worker.on("message", (message: WorkerMessage) => {
          if (message.gw === "ready" && --waiting === 0) resolve(true);
          if (message.gw === "failed") {
            lastFailure = failureText(message, options.setup.cwd);
            resolve(false);
          }
        });
        slot.worker.once("exit", () => resolve(false));
      }
    });
  }
  let lastFailure = "";

  /** SIGHUP: every worker anew from the code on disk; the old ones drain only once all new ones are ready. */
  async function roll(): Promise<void> {
    if (isRolling || isStopping) return;
    isRolling = true;
    generation++;
    const old = live();
    const fresh = old.map((slot) => fork(slot.id, generation));
    lastFailure = "";
    const isReady = await whenBooted(fresh);
    isRolling = false;
    if (isStopping) return;
    if (!isReady) {
      recycleNext();
      for (const slot of fresh) {
        slot.isRetired = true;
        slot.worker.process.kill("SIGKILL");
      }
      log(`SIGHUP: the new code did not start (${lastFailure || "a worker exited"}); the old workers keep serving`);
      return;
    }
    for (const slot of fresh) {
      const previous = slots.get(slot.id);
      slots.set(slot.id, slot);
      if (previous !== undefined) drain(previous);
    }
    log(`SIGHUP: ${fresh.length} worker${fresh.length === 1 ? "" : "s"} on the new code`);
    recycleNext();
  }

  let exitCode = 0;
  function stopAll(code: number, isForced: boolean): void {
    exitCode = code;
    isStopping = true;
    clearInterval(watchdog);
    for (const [worker, slot] of alive) {
      // A booting worker serves nothing yet, and would miss a drain message sent before it
      // listens for one: it would start serving after the stop and hold it for the whole
      // --graceful-timeout. It is ended at once.
      if (isForced || slot.state === "booting") {
        slot.isRetired = true;
        worker.process.kill("SIGKILL");
      } else if (slot.state !== "draining") {
        drain(slot);
      }
    }
    if (alive.size === 0) finish(code);
  }

  // --timeout: a worker whose heartbeat stopped has a blocked event loop (a slow async request
  // still beats); it is killed and replaced. The loop may have blocked up to a heartbeat after
  // its last beat, so the kill waits --timeout plus a heartbeat from that beat: never before the
  // loop has been blocked --timeout seconds, and what the line reports is a lower bound.
  const watchdog = setInterval(() => {
    const now = Date.now();
    for (const slot of live()) {
      if (slot.state !== "ready" || now - slot.lastBeat < options.timeout * 1000 + heartbeat) continue;
      slot.isRetired = true;
      slot.worker.process.kill("SIGKILL");
      slots.delete(slot.id);
      const next = fork(slot.id, generation);
      slots.set(slot.id, next);
      const serving = slot.stalledOn === undefined ? "" : ` serving "${slot.stalledOn}"`;
      log(`worker ${slot.id} (pid ${slot.worker.process.pid}) blocked for at least ${((now - slot.lastBeat - heartbeat) / 1000).toFixed(1)} s${serving} (--timeout ${options.timeout}); killed it, started pid ${next.worker.process.pid}`);
    }
  }, Math.min(1000, heartbeat));

  let signals = 0;
  const onStop = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      log(`${signal}, finishing in-flight requests (again to force)`);
      stopAll(0, false);
    } else {
      stopAll(1, true);
    }
  };
  const onHup = (): void => void roll();
  /** Tells every worker whether it now shares the app with others (gw.multiprocess). */
  const announceCount = (): void => {
    const message: SupervisorMessage = { gw: "multiprocess", value: count > 1 };
    for (const slot of live()) if (slot.worker.isConnected()) slot.worker.send(message);
  };
  const onTtin = (): void => {
    if (isStopping) return;
    count++;
    const slot = fork(count, generation);
    slots.set(count, slot);
    announceCount();
    log(`SIGTTIN: ${count} workers`);
  };
  const onTtou = (): void => {
    const last = slots.get(count);
    if (isStopping || count <= 1 || last === undefined) return;
    slots.delete(count);
    count--;
    drain(last);
    announceCount();
    log(`SIGTTOU: ${count} worker${count === 1 ? "" : "s"}`);
  };
  const handlers: [NodeJS.Signals, (signal: NodeJS.Signals) => void][] = [
    ["SIGINT", onStop], ["SIGTERM", onStop], ["SIGHUP", onHup], ["SIGTTIN", onTtin], ["SIGTTOU", onTtou],
  ];
  for (const [signal, handler] of handlers) process.on(signal, handler);
  for (let id = 1; id <= count; id++) slots.set(id, fork(id, generation));
  try {
    return await finished;
  } finally {
    clearInterval(watchdog);
    for (const [signal, handler] of handlers) process.off(signal, handler);
  }
}

/**
 * The target with port 0 replaced by a port free now. node:cluster closes the shared socket when
 * its last worker exits (a lone worker crashing), and the replacement binds again: to the same
 * port only if it asks for that port, not 0.
 */
async function concretePort(target: ListenTarget): Promise<ListenTarget> {
  if (!("port" in target) || target.port !== 0) return target;
  const net = await import("node:net");
  const probe = net.createServer();
  const port = await new Promise<number>((resolve) => {
    // A host that cannot be bound stays as it was; the first worker's listen says why, in one line.
    probe.once("error", () => resolve(0));
    probe.listen(0, target.host, () => resolve((probe.address() as { port: number }).port));
  });
  if (port !== 0) probe.close();
  return { host: target.host, port };
}

/**
 * What a worker's failure says, with the file and line when its trace starts with them: Node
 * puts a SyntaxError's place there, before the message ("Expression expected" alone names nothing).
 */
function failureText(failure: { message: string; detail: string }, cwd: string): string {
  const place = /^(?:file:\/\/)?(\/[^\n]*?):(\d+)\n/.exec(failure.detail);
  return place === null ? failure.message : `${failure.message} at ${relative(cwd, decodeURI(place[1]!))}:${place[2]}`;
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}
