// Runs /cgi-bin/ and /htbin/ scripts as RFC 3875 CGI/1.1 programs (http.server's
// CGIHTTPRequestHandler): never through a shell, one process group each, streamed both ways,
// killed on timeout or client abort, at most N at once.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { open } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { extname } from "node:path";
import type { Readable, Writable } from "node:stream";
import { parseCgiHead, type CgiHead } from "./cgi-response.ts";
import { decodePath } from "./environ.ts";
import { inputFromBytes } from "./input.ts";
import { escapeControl } from "./log.ts";
import { findInside, realFolder, sendError, staticApp, type StaticOptions } from "./static.ts";
import { bytesToVariable, requestPath, splitPath, toFsPath, type PathParts } from "./url-path.ts";
import type { App, Body, Chunk, Environ, ErrorStream, StartResponse } from "./types.ts";

/** Options for cgiApp. */
export interface CgiOptions {
  /** URL folders whose files run as CGI scripts (CGIHTTPRequestHandler.cgi_directories). @default ["/cgi-bin", "/htbin"] */
  directories?: readonly string[];
  /** Seconds a script may run before its whole process group is killed. @default 30 */
  timeout?: number;
  /** Scripts that may run at once; later requests wait their turn. @default 4 × the CPU count */
  maxRunning?: number;
  /** Serves what is not a CGI script (a static app, say); a 404 page when not given. */
  fallback?: App;
  /** The variables every script gets before the request's own. @default PATH, LANG, LANGUAGE, LC_ALL, LC_CTYPE, TZ and TMPDIR from process.env */
  env?: Readonly<Record<string, string>>;
}

/** A CGI app, plus what a server needs to stop it cleanly. */
export type CgiApp = App & {
  /** How many scripts are running now. */
  readonly running: number;
  /** Kills every running script's process group and turns away waiting requests; for shutdown. */
  killAll(): void;
};

/** Options for cgiHttpApp: the CGI options and the static ones. */
export type CgiHttpOptions = Omit<CgiOptions, "fallback"> & StaticOptions;

/** The variables of the server's own environment that scripts inherit by default. */
export const INHERITED_ENV: readonly string[] = ["PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT"];
const MAX_LOCAL_REDIRECTS = 10;
const REDIRECTS_KEY = "cgi.redirects";
const STDERR_LINE_LIMIT = 8 * 1024;

/** A script error that is already explained in one line: no stack in the log. */
class CgiScriptError extends Error {
  override name = "CgiScriptError";
  constructor(message: string) {
    super(message);
    this.stack = `gw: ${message}`;
  }
}

/** A counting semaphore with a FIFO queue: the limit on scripts running at once. */
class Slots {
  #free: number;
  readonly #waiting = new Set<() => void>();
  constructor(size: number) {
    this.#free = size;
  }
  /** Takes a slot now (undefined) or returns a promise that resolves when one is handed over. */
  take(onQueued: (wake: () => void) => void): Promise<void> | undefined {
    if (this.#free > 0) {
      this.#free--;
      return undefined;
    }
    return new Promise((resolve) => {
      this.#waiting.add(resolve);
      onQueued(resolve);
    });
  }
  /** Gives a slot back, straight to the longest waiter if there is one. */
  give(): void {
    for (const next of this.#waiting) {
      this.#waiting.delete(next);
      next();
      return;
    }
    this.#free++;
  }
  /** Removes a waiter; true when it was still waiting (and so holds no slot). */
  forget(waiter: () => void): boolean {
    return this.#waiting.delete(waiter);
  }
}

/** How to run one script file. */
interface Launch {
  command: string;
  args: string[];
}

interface Runner {
  root: Buffer;
  directories: ReadonlySet<string>;
  timeout: number;
  slots: Slots;
  env: Readonly<Record<string, string>>;
  /** Requests between locating their script and the end of its process group. */
  runs: Set<ScriptRun>;
  /** Scripts whose process is running now. */
  running: number;
  launches: Map<string, { key: string; launch: Launch | undefined }>;
  fallback: App | undefined;
  /** The whole CGI app, for local redirects. */
  site: App;
}

/**
 * Runs the CGI scripts under `root` (CGIHTTPRequestHandler's CGI half): a path whose first
 * segments name one of `directories` runs the script it names, with the rest as PATH_INFO. Other
 * paths go to `fallback`. Throws a UserError when `root` is not a folder.
 */
export function cgiApp(root: string, options: CgiOptions = {}): CgiApp {
  const directories = new Set<string>();
  for (const directory of options.directories ?? ["/cgi-bin", "/htbin"]) {
    const parts = splitPath(Buffer.from(directory, "utf8").toString("latin1"));
    if (parts !== undefined && parts.segments.length > 0) directories.add("/" + parts.segments.join("/"));
  }
  const runner: Runner = {
    root: realFolder(root),
    directories,
    timeout: (options.timeout ?? 30) * 1000,
    slots: new Slots(options.maxRunning ?? 4 * availableParallelism()),
    env: options.env ?? inheritedEnv(),
    runs: new Set(),
    running: 0,
    launches: new Map(),
    fallback: options.fallback,
    site: undefined as unknown as App,
  };
  const app = (environ: Environ, startResponse: StartResponse): Body | Promise<Body> => {
    const parts = splitPath(requestPath(environ));
    if (parts === undefined) return sendError(startResponse, 404, "File not found");
    const scriptDepth = cgiDepth(runner.directories, parts);
    if (scriptDepth === 0) {
      if (runner.fallback !== undefined) return runner.fallback(environ, startResponse);
      return sendError(startResponse, 404, "File not found");
    }
    const run = new ScriptRun(runner, environ, startResponse, parts, scriptDepth);
    return Object.assign(run.body(), { close: () => run.close() });
  };
  runner.site = app;
  return Object.defineProperties(app, {
    running: { get: () => runner.running },
    killAll: {
      value: () => {
        for (const run of runner.runs) run.terminate();
      },
    },
  }) as CgiApp;
}

/**
 * A folder's files with CGI scripts under /cgi-bin/ and /htbin/ (CGIHTTPRequestHandler): the
 * CGI app with a static app behind it; POST to anything but a script is a 501, as in http.server.
 */
export function cgiHttpApp(root: string, options: CgiHttpOptions = {}): CgiApp {
  const files = staticApp(root, options);
  const fallback: App = (environ, startResponse) =>
    environ.REQUEST_METHOD === "POST" ? sendError(startResponse, 501, "Can only POST to CGI scripts") : files(environ, startResponse);
  return cgiApp(root, { ...options, fallback });
}

function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * How many segments name the CGI folder (is_cgi): the shortest prefix that is one of the
 * folders and has something after it; 0 when the path is not a script's.
 */
function cgiDepth(directories: ReadonlySet<string>, parts: PathParts): number {
  let prefix = "";
  const segments = parts.segments;
  for (let depth = 1; depth <= segments.length; depth++) {
    prefix += "/" + segments[depth - 1]!;
    if (directories.has(prefix) && (depth < segments.length || parts.hasTrailingSlash)) return depth;
  }
  return 0;
}

const SEARCH_WORD = /^(?:[A-Za-z0-9\-_.!~*'();/?:@&,$]|%[0-9A-Fa-f]{2})+$/;

/**
 * RFC 3875 §4.4: a query without "=" is a search string, and its "+"-separated words become the
 * script's arguments, decoded. If any word is not a valid search word, is not UTF-8 or would
 * read as an option (starts with "-"), there are no arguments at all.
 */
export function searchArguments(query: string): string[] {
  if (query === "" || query.includes("=")) return [];
  const words: string[] = [];
  for (const word of query.split("+")) {
    if (!SEARCH_WORD.test(word)) return [];
    let decoded: string;
    try {
      decoded = decodeURIComponent(word);
    } catch {
      return [];
    }
    if (decoded.startsWith("-") || decoded.includes("\0")) return [];
    words.push(decoded);
  }
  return words;
}

const BASIC_CREDENTIALS = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The environment of one script (RFC 3875 §4.1), built fresh: the inherited variables, the
 * meta-variables, then HTTP_* for the request headers except Authorization (§4.1.18) and Proxy
 * (httpoxy: HTTP_PROXY would steer the script's own HTTP clients).
 */
export function scriptEnv(base: Readonly<Record<string, string>>, environ: Environ, script: { name: string; pathInfo: string; pathTranslated: string | undefined }): Record<string, string> {
  const env: Record<string, string> = { ...base };
  env.GATEWAY_INTERFACE = "CGI/1.1";
  env.SERVER_SOFTWARE = environ.SERVER_SOFTWARE ?? "gw";
  env.SERVER_NAME = environ.SERVER_NAME;
  env.SERVER_PORT = environ.SERVER_PORT;
  env.SERVER_PROTOCOL = environ.SERVER_PROTOCOL;
  env.REQUEST_METHOD = environ.REQUEST_METHOD;
  env.SCRIPT_NAME = script.name;
  env.PATH_INFO = script.pathInfo;
  if (script.pathTranslated !== undefined) env.PATH_TRANSLATED = script.pathTranslated;
  env.QUERY_STRING = environ.QUERY_STRING ?? "";
  if (environ.REMOTE_ADDR !== undefined) {
    env.REMOTE_ADDR = environ.REMOTE_ADDR;
    // §4.1.9: REMOTE_HOST may hold the address when the name is not looked up.
    env.REMOTE_HOST = environ.REMOTE_ADDR;
  }
  if (environ.REMOTE_PORT !== undefined) env.REMOTE_PORT = environ.REMOTE_PORT;
  if (environ.REQUEST_URI !== undefined) env.REQUEST_URI = environ.REQUEST_URI;
  if (environ.CONTENT_LENGTH !== undefined) env.CONTENT_LENGTH = environ.CONTENT_LENGTH;
  if (environ.CONTENT_TYPE !== undefined) env.CONTENT_TYPE = environ.CONTENT_TYPE;
  const authorization = environ.HTTP_AUTHORIZATION;
  if (authorization !== undefined) {
    const [scheme, credentials, extra] = authorization.trim().split(/\s+/);
    if (scheme !== undefined && scheme !== "" && credentials !== undefined && extra === undefined) {
      env.AUTH_TYPE = scheme;
      if (scheme.toLowerCase() === "basic" && BASIC_CREDENTIALS.test(credentials)) {
        const decoded = Buffer.from(credentials, "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        if (colon !== -1 && !decoded.includes("\0")) env.REMOTE_USER = decoded.slice(0, colon);
      }
    }
  }
  for (const key in environ) {
    if (key.charCodeAt(0) !== 0x48 || !key.startsWith("HTTP_")) continue;
    if (key === "HTTP_PROXY" || key === "HTTP_AUTHORIZATION" || key === "HTTP_PROXY_AUTHORIZATION") continue;
    const value = environ[key];
    if (typeof value === "string") env[key] = value;
  }
  return env;
}

const NODE_EXTENSIONS = new Set([".js", ".mjs", ".cjs", ".ts", ".mts", ".cts"]);

/**
 * How to run a script file: an executable with a "#!" line or an ELF header runs as itself;
 * otherwise by extension (.py with python3, .js/.ts with this Node, .sh with sh); else undefined (403).
 */
async function chooseLaunch(path: string, mode: number): Promise<Launch | undefined> {
  if ((mode & 0o111) !== 0) {
    const file = await open(path, "r");
    try {
      const { buffer, bytesRead } = await file.read(Buffer.alloc(4), 0, 4, 0);
      const magic = buffer.subarray(0, bytesRead);
      // Without a "#!" line execve fails, and some libcs then hand the file to /bin/sh; never let them.
      if ((magic[0] === 0x23 && magic[1] === 0x21) || magic.equals(Buffer.from("\x7fELF", "latin1"))) return { command: path, args: [] };
    } finally {
      await file.close();
    }
  }
  const extension = extname(path).toLowerCase();
  if (extension === ".py") return { command: "python3", args: ["-u", path] };
  if (NODE_EXTENSIONS.has(extension)) return { command: process.execPath, args: ["--disable-warning=ExperimentalWarning", path] };
  if (extension === ".sh") return { command: "/bin/sh", args: [path] };
  return undefined;
}

/** chooseLaunch, remembered per file until its inode, size, mode or mtime changes. */
async function launchFor(runner: Runner, path: string, stats: { ino: number; size: number; mode: number; mtimeMs: number }): Promise<Launch | undefined> {
  const key = `${stats.ino}:${stats.size}:${stats.mode}:${stats.mtimeMs}`;
  const known = runner.launches.get(path);
  if (known !== undefined && known.key === key) return known.launch;
  const launch = await chooseLaunch(path, stats.mode);
  if (runner.launches.size >= 256) runner.launches.clear();
  runner.launches.set(path, { key, launch });
  return launch;
}

/** One request to a script: locate it, wait for a slot, run it, relay its response. */
class ScriptRun {
  readonly #runner: Runner;
  readonly #environ: Environ;
  readonly #startResponse: StartResponse;
  readonly #parts: PathParts;
  readonly #depth: number;
  readonly #errors: ErrorStream;
  #name = "";
  #child: ChildProcess | undefined;
  #wake: (() => void) | undefined;
  #hasSlot = false;
  #isDenied = false;
  #isClosed = false;
  #isTimedOut = false;
  #hasFailedToStart = false;
  #hasExited = false;
  #isStdoutDone = false;
  #isDraining = false;
  #hasStarted = false;
  #timer: NodeJS.Timeout | undefined;
  #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;

  constructor(runner: Runner, environ: Environ, startResponse: StartResponse, parts: PathParts, depth: number) {
    this.#runner = runner;
    this.#environ = environ;
    this.#startResponse = startResponse;
    this.#parts = parts;
    this.#depth = depth;
    this.#errors = environ["gw.errors"];
  }

  #log(message: string): void {
    this.#errors.write(`gw: CGI ${this.#name}: ${message}\n`);
  }

  /**
   * The handler calls this when the response is over. After a normal end the script may keep
   * running (it closed its stdout early); HEAD and local redirects let it finish; anything else
   * (the client went away, the response failed) kills its process group.
   */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#unqueue();
    if (this.#child === undefined) {
      this.#runner.runs.delete(this);
      return;
    }
    if (this.#isDraining || (this.#isStdoutDone && !this.#isTimedOut)) return;
    this.terminate();
  }

  /** Kills the script's process group now, whatever state it is in (abort, shutdown). */
  terminate(): void {
    this.#isClosed = true;
    this.#unqueue();
    if (this.#child === undefined) {
      this.#runner.runs.delete(this);
      return;
    }
    this.#killGroup();
    this.#child.stdout?.destroy();
    this.#stdoutDone();
  }

  /** A request still waiting for a slot leaves the queue and wakes up without one. */
  #unqueue(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    if (wake !== undefined && this.#runner.slots.forget(wake)) {
      this.#isDenied = true;
      wake();
    }
  }

  #killGroup(): void {
    const pid = this.#child?.pid;
    if (pid === undefined) return;
    try {
      // Negative: the whole process group, so whatever the script started dies with it.
      process.kill(-pid, "SIGKILL");
    } catch {
      // ESRCH: the group is already gone, the usual case once the script has ended.
    }
  }

  #exited(): void {
    if (this.#hasExited) return;
    this.#hasExited = true;
    this.#runner.running--;
    if (this.#hasSlot) {
      this.#hasSlot = false;
      this.#runner.slots.give();
    }
    this.#settle();
  }

  #stdoutDone(): void {
    if (this.#isStdoutDone) return;
    this.#isStdoutDone = true;
    this.#settle();
  }

  /** Once the script has exited and its stdout is closed: kill what it left behind, stop the timer. */
  #settle(): void {
    if (!this.#hasExited || !this.#isStdoutDone) return;
    clearTimeout(this.#timer);
    this.#killGroup();
    this.#runner.runs.delete(this);
  }

  async *body(): AsyncGenerator<Chunk, void, undefined> {
    const runner = this.#runner;
    runner.runs.add(this);
    try {
      yield* this.#run();
    } finally {
      if (this.#child === undefined) runner.runs.delete(this);
    }
  }

  async *#run(): AsyncGenerator<Chunk, void, undefined> {
    const runner = this.#runner;
    const segments = this.#parts.segments;
    const mount = this.#environ.SCRIPT_NAME ?? "";
    // run_cgi: folders after the CGI folder are walked; the first thing that is not one is the script.
    let depth = this.#depth;
    let found;
    for (;;) {
      this.#name = mount + bytesToVariable("/" + segments.slice(0, depth + 1).join("/"));
      if (depth === segments.length) {
        yield* this.#error(403, `CGI script is not a plain file (${JSON.stringify(this.#name)})`);
        return;
      }
      found = findInside(runner.root, toFsPath(runner.root, segments.slice(0, depth + 1)));
      if (found === undefined) {
        yield* this.#error(404, `No such CGI script (${JSON.stringify(this.#name)})`);
        return;
      }
      if (!found.stats.isDirectory()) break;
      depth++;
    }
    const scriptPath = found.path.toString("utf8");
    let launch: Launch | undefined;
    // A name that is not UTF-8 cannot be handed to spawn() intact, so it is not run.
    if (found.stats.isFile() && Buffer.from(scriptPath, "utf8").equals(found.path)) {
      launch = await launchFor(runner, scriptPath, found.stats).catch(() => undefined);
    }
    if (launch === undefined) {
      yield* this.#error(403, `CGI script ${found.stats.isFile() ? "is not executable" : "is not a plain file"} (${JSON.stringify(this.#name)})`);
      return;
    }
    const environ = this.#environ;
    if (environ.CONTENT_LENGTH === undefined && environ.HTTP_TRANSFER_ENCODING !== undefined) {
      // RFC 3875 §4.1.2: a body comes with its CONTENT_LENGTH, which a chunked upload lacks.
      yield* this.#error(411, "Length Required");
      return;
    }
    const rest = segments.slice(depth + 1);
    const slash = this.#parts.hasTrailingSlash ? "/" : "";
    const pathBytes = rest.length > 0 ? "/" + rest.join("/") + slash : slash;
    const env = scriptEnv(runner.env, environ, {
      name: this.#name,
      pathInfo: bytesToVariable(pathBytes),
      pathTranslated: pathBytes === "" ? undefined : bytesToVariable(toFsPath(runner.root, rest).toString("latin1") + slash),
    });

    const queued = runner.slots.take((wake) => (this.#wake = wake));
    if (queued !== undefined) await queued;
    this.#wake = undefined;
    if (this.#isClosed) {
      if (!this.#isDenied) runner.slots.give();
      return;
    }
    this.#hasSlot = true;
    const child = this.#spawn(launch, env, scriptPath);
    if (child === undefined) {
      this.#hasSlot = false;
      runner.slots.give();
      yield* this.#error(500, "CGI script could not be started");
      return;
    }
    yield* this.#relay(child);
  }

  #error(code: number, message: string): Iterable<Chunk> {
    return sendError(this.#startResponse, code, message) as Iterable<Chunk>;
  }

  #spawn(launch: Launch, env: Record<string, string>, scriptPath: string): ChildProcess | undefined {
    const environ = this.#environ;
    const hasBody = environ.CONTENT_LENGTH !== undefined && environ.CONTENT_LENGTH !== "0";
    const args = [...launch.args, ...searchArguments(environ.QUERY_STRING ?? "")];
    let child: ChildProcess;
    try {
      child = spawn(launch.command, args, {
        cwd: scriptPath.slice(0, scriptPath.lastIndexOf("/")) || "/",
        env,
        // Its own process group (setsid), so a timeout or an abort kills everything the script started.
        detached: true,
        stdio: [hasBody ? "pipe" : "ignore", "pipe", "pipe"],
        windowsHide: true,
      });
    } catch (error) {
      this.#log(`cannot start it: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
    this.#child = child;
    this.#runner.running++;
    this.#exit = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        // RFC 3875 leaves this to the server; like http.server, a late failure is only logged.
        if (code !== 0 && code !== null && this.#hasStarted) this.#log(`exited with status ${code}`);
        resolve({ code, signal });
        this.#exited();
      });
      child.once("error", (error: NodeJS.ErrnoException) => {
        // spawn() reports ENOENT and EACCES here, and then there is no exit event.
        this.#hasFailedToStart = true;
        this.#log(error.code === "ENOENT" ? `cannot start it: ${launch.command} not found` : `cannot start it: ${error.message}`);
        resolve({ code: null, signal: null });
        this.#exited();
      });
    });
    this.#timer = setTimeout(() => {
      this.#isTimedOut = true;
      this.#log(`killed: still running after ${this.#runner.timeout / 1000} s (--cgi-timeout)`);
      this.#killGroup();
    }, this.#runner.timeout);
    this.#forwardStderr(child.stderr!);
    if (hasBody) void this.#pumpInput(child.stdin!);
    return child;
  }

  /** Streams the request body to the script's stdin, as fast as the script reads it. */
  async #pumpInput(stdin: Writable): Promise<void> {
    // A script may exit without reading its input: the EPIPE then is no error of ours.
    stdin.on("error", () => undefined);
    try {
      for await (const chunk of this.#environ["gw.input"]) {
        if (this.#isClosed || stdin.destroyed) break;
        if (!stdin.write(chunk)) await Promise.race([once(stdin, "drain"), once(stdin, "close")]);
      }
    } catch {
      // The client went away mid-upload: the script sees its input end early.
    }
    stdin.end();
  }

  /** The script's stderr, one line at a time, to the server's log with the script's name in front. */
  #forwardStderr(stderr: Readable): void {
    let partial = "";
    stderr.setEncoding("utf8");
    stderr.on("data", (text: string) => {
      partial += text;
      let newline = partial.indexOf("\n");
      while (newline !== -1 || partial.length > STDERR_LINE_LIMIT) {
        const end = newline === -1 ? STDERR_LINE_LIMIT : newline;
        this.#errors.write(`${this.#name}: ${escapeControl(partial.slice(0, end).replace(/\r$/, ""))}\n`);
        partial = partial.slice(newline === -1 ? end : end + 1);
        newline = partial.indexOf("\n");
      }
    });
    stderr.on("end", () => {
      if (partial !== "") this.#errors.write(`${this.#name}: ${escapeControl(partial)}\n`);
    });
  }

  /** Reads the header block, answers it, then streams the body as the script writes it. */
  async *#relay(child: ChildProcess): AsyncGenerator<Chunk, void, undefined> {
    const isNph = this.#name.slice(this.#name.lastIndexOf("/") + 1).startsWith("nph-");
    const stdout = child.stdout!;
    // Not destroyed when the loop stops early: HEAD and local redirects let the script finish.
    const chunks = stdout.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<Buffer>;
    let pending: Buffer | undefined;
    let head: CgiHead | undefined;
    let isComplete = false;
    try {
      for await (const chunk of chunks) {
        if (this.#isClosed) return;
        if (head !== undefined) {
          yield chunk;
          continue;
        }
        pending = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
        const parsed = parseCgiHead(pending, isNph);
        if (parsed === "more") continue;
        if ("error" in parsed) {
          this.#log(`answered 502, its output is not a CGI response: ${parsed.error}`);
          this.terminate();
          yield* this.#error(502, "Bad Gateway: the CGI script's output is not a CGI response");
          return;
        }
        head = parsed;
        this.#hasStarted = true;
        if (head.localRedirect !== undefined) {
          this.#drain(stdout);
          yield* this.#redirect(head.localRedirect);
          return;
        }
        this.#startResponse(head.status, head.headers);
        if (this.#environ.REQUEST_METHOD === "HEAD") this.#isDraining = true;
        const body = pending.subarray(head.bodyStart);
        pending = undefined;
        if (body.byteLength > 0) yield body;
      }
      isComplete = true;
    } catch (error) {
      // Destroyed under the loop by close() or terminate(): the response is over already.
      if (this.#isClosed) return;
      throw error;
    } finally {
      if (!isComplete && this.#isDraining) this.#drain(stdout);
    }
    this.#stdoutDone();
    if (this.#isClosed) return;
    if (this.#isTimedOut) {
      if (head !== undefined) throw new CgiScriptError(`CGI ${this.#name} timed out after its response started; the connection was cut`);
      yield* this.#error(504, "CGI script timed out");
      return;
    }
    if (head !== undefined) return;
    const { code, signal } = await this.#exit!;
    if (this.#isClosed) return;
    if (this.#hasFailedToStart) {
      yield* this.#error(500, "CGI script could not be started");
    } else if (code !== 0) {
      this.#log(`answered 500: ${signal !== null ? `killed by ${signal}` : `exited with status ${code}`} before its header block`);
      yield* this.#error(500, "CGI script failed");
    } else {
      this.#log(`answered 502: ${pending === undefined ? "it printed nothing" : "its output ended inside the header block"}`);
      yield* this.#error(502, "Bad Gateway: the CGI script's output is not a CGI response");
    }
  }

  /** Lets the script run to its end, its output thrown away (HEAD, local redirects). */
  #drain(stdout: Readable): void {
    this.#isDraining = true;
    if (this.#isStdoutDone) return;
    if (stdout.readableEnded || stdout.destroyed) return this.#stdoutDone();
    stdout.once("end", () => this.#stdoutDone());
    stdout.once("close", () => this.#stdoutDone());
    stdout.resume();
  }

  /** RFC 3875 §6.2.2: a local Location is answered as if the client had asked for it, with GET. */
  async *#redirect(location: string): AsyncGenerator<Chunk, void, undefined> {
    const environ = this.#environ;
    const count = (typeof environ[REDIRECTS_KEY] === "number" ? environ[REDIRECTS_KEY] : 0) + 1;
    if (count > MAX_LOCAL_REDIRECTS) {
      this.#log(`answered 500: more than ${MAX_LOCAL_REDIRECTS} local redirects in a row`);
      yield* this.#error(500, "Too many local redirects");
      return;
    }
    const mark = location.indexOf("?");
    let path = decodePath(mark === -1 ? location : location.slice(0, mark));
    const mount = environ.SCRIPT_NAME ?? "";
    if (mount !== "" && path.startsWith(mount + "/")) path = path.slice(mount.length);
    const inner: Environ = {
      ...environ,
      REQUEST_METHOD: environ.REQUEST_METHOD === "HEAD" ? "HEAD" : "GET",
      PATH_INFO: path,
      QUERY_STRING: mark === -1 ? "" : location.slice(mark + 1),
      REQUEST_URI: location,
      CONTENT_LENGTH: undefined,
      CONTENT_TYPE: undefined,
      "gw.input": inputFromBytes(),
      [REDIRECTS_KEY]: count,
    };
    const body = await this.#runner.site(inner, this.#startResponse);
    try {
      for await (const chunk of body as AsyncIterable<Chunk>) yield chunk;
    } finally {
      await body.close?.();
    }
  }
}
