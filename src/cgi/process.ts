// One running CGI script as a process group: started without a shell, its stdin fed from the
// request body, its stderr logged line by line, killed whole on timeout or abort, reaped when done.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import type { Launch } from "./script.ts";
import { escapeControl } from "../core/log.ts";
import type { ErrorStream } from "../core/types.ts";

/** How a script ended. */
export interface ScriptExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** spawn() failed (no such interpreter, no permission): the script never ran. */
  hasFailedToStart: boolean;
}

/** What startScript needs. */
export interface ScriptProcessOptions {
  launch: Launch;
  /** Arguments after launch.args (RFC 3875 §4.4 search words). */
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** The request body for stdin: chunks to pipe in, or a file descriptor the script reads itself; undefined gives an empty stdin. */
  input: Iterable<Uint8Array> | AsyncIterable<Uint8Array> | number | undefined;
  /** The user and group the script runs as (--cgi-user); this process's own when undefined. */
  user?: { uid: number; gid: number } | undefined;
  /** Where stderr lines and gw's notes about the script go. */
  errors: ErrorStream;
  /** The script's name in log lines (its SCRIPT_NAME). */
  name: string;
  /** Milliseconds before the whole process group is killed. */
  timeout: number;
  /** Runs once when the script's main process has exited (or failed to start). */
  onExit: () => void;
  /** Runs once when the process has exited and its stdout is closed: nothing of it is left. */
  onSettled: () => void;
}

// Longer stderr lines are cut into pieces, so a script cannot grow the server's memory.
const STDERR_LINE_LIMIT = 8 * 1024;

/** A running script; made by startScript. */
export class ScriptProcess {
  /** The script's standard output. */
  readonly stdout: Readable;
  /** Settles when the main process exits (or fails to start). */
  readonly exited: Promise<ScriptExit>;
  readonly #child: ChildProcess;
  readonly #options: ScriptProcessOptions;
  readonly #timer: NodeJS.Timeout;
  #hasExited = false;
  #isStdoutDone = false;
  #isTimedOut = false;

  constructor(child: ChildProcess, options: ScriptProcessOptions) {
    this.#child = child;
    this.#options = options;
    this.stdout = child.stdout!;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        resolve({ code, signal, hasFailedToStart: false });
        this.#exit();
      });
      child.once("error", (error: NodeJS.ErrnoException) => {
        // spawn() reports ENOENT and EACCES here, and then there is no exit event.
        // A script that runs as itself exists (it was just read): ENOENT is then its interpreter's.
        const missing = options.launch.args.length === 0 ? "the interpreter on its #! line" : options.launch.command;
        this.log(error.code === "ENOENT" ? `cannot start it: ${missing} was not found` : `cannot start it: ${error.message}`);
        resolve({ code: null, signal: null, hasFailedToStart: true });
        this.#exit();
      });
    });
    this.#timer = setTimeout(() => {
      this.#isTimedOut = true;
      this.log(`killed: still running after ${options.timeout / 1000} s (--cgi-timeout)`);
      this.kill();
      // A child that left the group (setsid) may still hold the pipes: close our ends, so the
      // response ends whatever it does.
      child.stderr?.destroy();
      child.stdin?.destroy();
      this.terminate();
    }, options.timeout);
    this.#forwardStderr(child.stderr!);
    if (options.input !== undefined && typeof options.input !== "number") void this.#pumpInput(child.stdin!, options.input);
  }

  /** Whether the timeout killed it. */
  get isTimedOut(): boolean {
    return this.#isTimedOut;
  }

  /** Whether its stdout has ended (or was thrown away). */
  get isStdoutDone(): boolean {
    return this.#isStdoutDone;
  }

  /** Writes a note about the script to the error stream: `gw: CGI /cgi-bin/x.sh: ...`. */
  log(message: string): void {
    logScript(this.#options, message);
  }

  /** SIGKILL to the whole process group: the script and everything it started. */
  kill(): void {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      // Negative: the process group, which detached: true made the script's own.
      process.kill(-pid, "SIGKILL");
    } catch {
      // ESRCH: the group is gone already, the usual case once the script has ended.
    }
  }

  /** Kills the group now and throws its output away (client gone, server shutting down). */
  terminate(): void {
    this.kill();
    this.stdout.destroy();
    this.stdoutDone();
  }

  /** The reader calls this when stdout has ended. */
  stdoutDone(): void {
    if (this.#isStdoutDone) return;
    this.#isStdoutDone = true;
    this.#settle();
  }

  /** Lets the script run to its end with its output thrown away (HEAD, local redirects). */
  drain(): void {
    if (this.#isStdoutDone) return;
    if (this.stdout.readableEnded || this.stdout.destroyed) return this.stdoutDone();
    this.stdout.once("end", () => this.stdoutDone());
    this.stdout.once("close", () => this.stdoutDone());
    this.stdout.resume();
  }

  #exit(): void {
    if (this.#hasExited) return;
    this.#hasExited = true;
    this.#options.onExit();
    this.#settle();
  }

  #settle(): void {
    if (!this.#hasExited || !this.#isStdoutDone) return;
    clearTimeout(this.#timer);
    // Whatever the script left running in its group (a stray background job) goes too.
    this.kill();
    this.#options.onSettled();
  }

  /** Streams the request body to stdin, as fast as the script reads it. */
  async #pumpInput(stdin: Writable, input: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
    // A script may exit without reading its input: the EPIPE then is no error of ours.
    stdin.on("error", () => undefined);
    try {
      for await (const chunk of input) {
        if (stdin.destroyed) break;
        if (!stdin.write(chunk)) await Promise.race([once(stdin, "drain"), once(stdin, "close")]);
      }
    } catch {
      // The client went away mid-upload: the script sees its input end early.
    }
    stdin.end();
  }

  /** Stderr, one line at a time, to the error stream with the script's name in front. */
  #forwardStderr(stderr: Readable): void {
    const { errors, name } = this.#options;
    let partial = "";
    stderr.setEncoding("utf8");
    stderr.on("data", (text: string) => {
      partial += text;
      let newline = partial.indexOf("\n");
      while (newline !== -1 || partial.length > STDERR_LINE_LIMIT) {
        const end = newline === -1 ? STDERR_LINE_LIMIT : newline;
        errors.write(`${name}: ${escapeControl(partial.slice(0, end).replace(/\r$/, ""))}\n`);
        partial = partial.slice(newline === -1 ? end : end + 1);
        newline = partial.indexOf("\n");
      }
    });
    stderr.on("end", () => {
      if (partial !== "") errors.write(`${name}: ${escapeControl(partial)}\n`);
    });
  }
}

/** Writes a note about a script to the error stream: `gw: CGI /cgi-bin/x.sh: ...`. */
function logScript(options: ScriptProcessOptions, message: string): void {
  options.errors.write(`gw: CGI ${options.name}: ${message}\n`);
}

/**
 * Starts a script: never through a shell, in its own process group (so it can be killed whole),
 * with a fresh environment. Undefined when spawn() throws at once (a NUL in an argument, say).
 */
export function startScript(options: ScriptProcessOptions): ScriptProcess | undefined {
  let child: ChildProcess;
  try {
    child = spawn(options.launch.command, [...options.launch.args, ...options.args], {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      // A spooled body's descriptor becomes the script's stdin as it is: no copy through this process.
      stdio: [options.input === undefined ? "ignore" : typeof options.input === "number" ? options.input : "pipe", "pipe", "pipe"],
      windowsHide: true,
      ...(options.user === undefined ? {} : { uid: options.user.uid, gid: options.user.gid }),
    });
  } catch (error) {
    logScript(options, `cannot start it: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  return new ScriptProcess(child, options);
}
