// One request to a CGI script (RFC 3875): find the script on its real path, wait for a slot,
// run it, relay its response, and the state a runner shares between its requests.
import { parseCgiHead, type CgiHead } from "./response.ts";
import { Slots } from "./slots.ts";
import { startScript, type ScriptProcess } from "./process.ts";
import { chooseLaunch, scriptEnv, searchArguments, type Launch } from "./script.ts";
import { releaseBody, spoolBody, type SpooledBody } from "./body.ts";
import { decodePath } from "../core/environ.ts";
import { mayHaveBody } from "../core/http-syntax.ts";
import { inputFromBytes } from "../core/input.ts";
import { findInside, sendError } from "../files/static.ts";
import { bytesToText, toFsPath, type PathParts } from "../files/url-path.ts";
import type { App, Chunk, Environ, StartResponse } from "../core/types.ts";

const MAX_LOCAL_REDIRECTS = 10;
const REDIRECTS_KEY = "cgi.redirects";

/** A script error that is already explained in one line: no stack in the log. */
class CgiScriptError extends Error {
  override name = "CgiScriptError";
  constructor(message: string) {
    super(message);
    this.stack = `gw: ${message}`;
  }
}

/** What every request to one CGI app shares. */
export interface Runner {
  root: Buffer;
  directories: ReadonlySet<string>;
  timeout: number;
  slots: Slots;
  env: Readonly<Record<string, string>>;
  assign: ReadonlyMap<string, string>;
  maxBody: number;
  user: { uid: number; gid: number } | undefined;
  /** The real paths of the CGI folders that exist: a file under one is never static content. */
  realDirectories: Buffer[];
  /** Requests between locating their script and the end of its process group. */
  runs: Set<ScriptRun>;
  /** Scripts whose process is running now. */
  running: number;
  launches: Map<string, { key: string; launch: Launch | undefined }>;
  fallback: App | undefined;
  /** The whole CGI app, for local redirects. */
  site: App;
}

/** Whether a real path lies inside the real path of a CGI folder. */
export function isUnderCgiFolder(runner: Runner, real: Buffer): boolean {
  if (runner.realDirectories.length < runner.directories.size) {
    runner.realDirectories = [];
    for (const directory of runner.directories) {
      const found = findInside(runner.root, toFsPath(runner.root, directory.slice(1).split("/")));
      if (found !== undefined && found.stats.isDirectory()) runner.realDirectories.push(found.path);
    }
  }
  for (const folder of runner.realDirectories) {
    if (real.length > folder.length && real[folder.length] === 0x2f && real.subarray(0, folder.length).equals(folder)) return true;
    if (real.equals(folder)) return true;
  }
  return false;
}

/**
 * How many segments name the CGI folder (is_cgi): the shortest prefix that is one of the
 * folders and has something after it; 0 when the path is not a script's.
 */
export function cgiDepth(directories: ReadonlySet<string>, parts: PathParts): number {
  let prefix = "";
  const segments = parts.segments;
  for (let depth = 1; depth <= segments.length; depth++) {
    prefix += "/" + segments[depth - 1]!;
    if (directories.has(prefix) && (depth < segments.length || parts.hasTrailingSlash)) return depth;
  }
  return 0;
}

/** chooseLaunch, remembered per file until its inode, size, mode or mtime changes. */
async function launchFor(runner: Runner, path: string, stats: { ino: number; size: number; mode: number; mtimeMs: number }): Promise<Launch | undefined> {
  const key = `${stats.ino}:${stats.size}:${stats.mode}:${stats.mtimeMs}`;
  const known = runner.launches.get(path);
  if (known !== undefined && known.key === key) return known.launch;
  const launch = await chooseLaunch(path, stats.mode, runner.assign);
  if (runner.launches.size >= 256) runner.launches.clear();
  runner.launches.set(path, { key, launch });
  return launch;
}

/** One request to a script: locate it, wait for a slot, run it, relay its response. */
export class ScriptRun {
  readonly #runner: Runner;
  readonly #environ: Environ;
  readonly #startResponse: StartResponse;
  readonly #parts: PathParts;
  readonly #depth: number;
  #name = "";
  #script: ScriptProcess | undefined;
  #wake: (() => void) | undefined;
  #isDenied = false;
  /** The handler is done with this response (close() was called): nothing more goes out. */
  #isDone = false;
  /** The server stopped the script (killAll), so the response cannot be completed. */
  #isStopped = false;
  #isDraining = false;
  #hasStarted = false;
  #spooled: SpooledBody | undefined;

  constructor(runner: Runner, environ: Environ, startResponse: StartResponse, parts: PathParts, depth: number) {
    this.#runner = runner;
    this.#environ = environ;
    this.#startResponse = startResponse;
    this.#parts = parts;
    this.#depth = depth;
  }

  /**
   * The handler calls this when the response is over. After a normal end the script may keep
   * running (it closed its stdout early); HEAD and local redirects let it finish; anything else
   * (the client went away, the response failed) kills its process group.
   */
  close(): void {
    if (this.#isDone) return;
    this.#isDone = true;
    const script = this.#script;
    if (script !== undefined && (this.#isDraining || (script.isStdoutDone && !script.isTimedOut))) return;
    this.#kill();
  }

  /** Kills the script's process group now; its response, if still going, is cut (server shutdown). */
  stop(): void {
    this.#isStopped = true;
    this.#kill();
  }

  #kill(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    // Still queued for a slot: leave the queue and wake up without one.
    if (wake !== undefined && this.#runner.slots.forget(wake)) {
      this.#isDenied = true;
      wake();
    }
    if (this.#script === undefined) this.#runner.runs.delete(this);
    else this.#script.terminate();
  }

  /** Whether the response must end now: the handler is done, or the server stopped the script. */
  get #isOver(): boolean {
    return this.#isDone || this.#isStopped;
  }

  async *body(): AsyncGenerator<Chunk, void, undefined> {
    this.#runner.runs.add(this);
    try {
      yield* this.#run();
    } finally {
      releaseBody(this.#spooled);
      if (this.#script === undefined) this.#runner.runs.delete(this);
    }
  }

  #error(code: number, message: string): Iterable<Chunk> {
    return sendError(this.#startResponse, code, message) as Iterable<Chunk>;
  }

  async *#run(): AsyncGenerator<Chunk, void, undefined> {
    const runner = this.#runner;
    const environ = this.#environ;
    const segments = this.#parts.segments;
    const mount = environ.SCRIPT_NAME ?? "";
    // run_cgi: folders after the CGI folder are walked; the first thing that is not one is the script.
    let depth = this.#depth;
    let found;
    for (;;) {
      this.#name = mount + bytesToText("/" + segments.slice(0, depth + 1).join("/"));
      if (depth === segments.length) return yield* this.#error(403, `CGI script is not a plain file (${JSON.stringify(this.#name)})`);
      found = findInside(runner.root, toFsPath(runner.root, segments.slice(0, depth + 1)));
      if (found === undefined) return yield* this.#error(404, `No such CGI script (${JSON.stringify(this.#name)})`);
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
      const why = !found.stats.isFile() ? "is not a plain file" : (found.stats.mode & 0o111) === 0 ? "is not executable" : "has no #! line";
      return yield* this.#error(403, `CGI script ${why} (${JSON.stringify(this.#name)})`);
    }
    // RFC 3875 §4.1.2: a body comes with its CONTENT_LENGTH, which a chunked upload lacks; so the
    // body is read whole first (which also keeps slow uploads from holding a script slot).
    // Without a length the input is read to its end too: over HTTP that end comes at once for a
    // request without a body, and a FastCGI stdin stream ends on its own (nginx streaming a
    // chunked upload sends CONTENT_LENGTH "", a bare FastCGI client may send none).
    const declared = environ.CONTENT_LENGTH || undefined;
    if (declared !== undefined && Number(declared) > runner.maxBody) return yield* this.#error(413, "Request body larger than --cgi-max-body");
    if (declared !== "0") {
      const spooled = await spoolBody(environ["gw.input"], runner.maxBody, runner.timeout);
      if (typeof spooled !== "string") {
        // Nothing to pass on, and none announced: the script sees no body, as before.
        if (spooled.length === 0 && declared === undefined) releaseBody(spooled);
        else this.#spooled = spooled;
      }
      if (this.#isOver) return;
      if (spooled === "too-large") return yield* this.#error(413, "Request body larger than --cgi-max-body");
      if (spooled === "timeout") return yield* this.#error(408, "Request body timed out");
      if (spooled === "aborted" || (declared !== undefined && spooled.length !== Number(declared))) return yield* this.#error(400, "Request body ended early");
    }

    const rest = segments.slice(depth + 1);
    const slash = this.#parts.hasTrailingSlash ? "/" : "";
    const pathBytes = rest.length > 0 ? "/" + rest.join("/") + slash : slash;
    const env = scriptEnv(runner.env, environ, {
      name: this.#name,
      pathInfo: bytesToText(pathBytes),
      pathTranslated: pathBytes === "" ? undefined : bytesToText(toFsPath(runner.root, rest).toString("latin1") + slash),
      filename: scriptPath,
      isAssigned: launch.command !== scriptPath,
    });
    const spooled = this.#spooled;
    if (spooled !== undefined) {
      env.CONTENT_LENGTH = String(spooled.length);
      delete env.HTTP_TRANSFER_ENCODING;
    }

    const queued = runner.slots.take((wake) => (this.#wake = wake));
    if (queued !== undefined) await queued;
    this.#wake = undefined;
    if (this.#isOver) {
      if (!this.#isDenied) runner.slots.give();
      if (this.#isDone) return;
      return yield* this.#error(503, "The server is shutting down");
    }
    const script = startScript({
      launch,
      args: searchArguments(environ.QUERY_STRING ?? ""),
      env,
      // RFC 3875 §7.2: the script runs in its own folder.
      cwd: scriptPath.slice(0, scriptPath.lastIndexOf("/")) || "/",
      input: spooled === undefined ? undefined : spooled.kind === "file" ? spooled.fd : spooled.chunks,
      user: runner.user,
      errors: environ["gw.errors"],
      name: this.#name,
      timeout: runner.timeout,
      onExit: () => {
        runner.running--;
        runner.slots.give();
      },
      onSettled: () => runner.runs.delete(this),
    });
    // The script holds its own copy of the descriptor now.
    releaseBody(spooled);
    if (script === undefined) {
      runner.slots.give();
      return yield* this.#error(500, "CGI script could not be started");
    }
    this.#script = script;
    runner.running++;
    void script.exited.then(({ code }) => {
      // As in http.server, a failure after the response started is only logged.
      if (code !== 0 && code !== null && this.#hasStarted) script.log(`exited with status ${code}`);
    });
    yield* this.#relay(script);
  }

  /** Reads the header block, answers it, then streams the body as the script writes it. */
  async *#relay(script: ScriptProcess): AsyncGenerator<Chunk, void, undefined> {
    const isNph = this.#name.slice(this.#name.lastIndexOf("/") + 1).startsWith("nph-");
    // Not destroyed when the loop stops early: HEAD and local redirects let the script finish.
    const chunks = script.stdout.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<Buffer>;
    let pending: Buffer | undefined;
    let head: CgiHead | undefined;
    let isComplete = false;
    // What the script's own Content-Length still allows (-1: none). The response ends there: more
    // is cut off with a log line, as lighttpd does, and a script that runs on after it has written
    // that much does not hold the response.
    let allowed = -1;
    let overflow = undefined as Buffer | undefined;
    let isFull = false;
    /** Whether `chunk` fits what is allowed; if not, the part that does is kept as the overflow's. */
    const fits = (chunk: Buffer): boolean => {
      if (allowed < 0) return true;
      if (chunk.byteLength > allowed) {
        overflow = chunk.subarray(0, allowed);
        return false;
      }
      allowed -= chunk.byteLength;
      return true;
    };
    try {
      for await (const chunk of chunks) {
        if (this.#isOver) break;
        if (head !== undefined) {
          if (!fits(chunk)) break;
          yield chunk;
          if ((isFull = allowed === 0)) break;
          continue;
        }
        pending = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
        const parsed = parseCgiHead(pending, isNph);
        if (parsed === "more") continue;
        if ("error" in parsed) {
          script.log(`answered 502, its output is not a CGI response: ${parsed.error}`);
          script.terminate();
          return yield* this.#error(502, "Bad Gateway: the CGI script's output is not a CGI response");
        }
        head = parsed;
        this.#hasStarted = true;
        if (head.localRedirect !== undefined) {
          this.#isDraining = true;
          script.drain();
          return yield* this.#redirect(head.localRedirect, script);
        }
        this.#startResponse(head.status, head.headers);
        // HEAD ends at the first body bytes; the script still runs to its end.
        if (this.#environ.REQUEST_METHOD === "HEAD") this.#isDraining = true;
        // A 204's or 304's Content-Length describes no body here (the handler sends none).
        else if (mayHaveBody(Number(head.status.slice(0, 3)))) allowed = head.contentLength;
        const body = pending.subarray(head.bodyStart);
        pending = undefined;
        if (!fits(body)) break;
        if (body.byteLength > 0) yield body;
        if ((isFull = allowed === 0)) break;
      }
      if (overflow !== undefined || isFull) {
        if (overflow !== undefined) script.log(`sent more than its Content-Length of ${head!.contentLength} bytes; the rest was dropped`);
        // The script runs to its end; what it still writes is read and dropped.
        this.#isDraining = true;
        script.drain();
        if (overflow !== undefined && overflow.byteLength > 0) yield overflow;
        allowed = 0;
      }
      isComplete = true;
    } catch (error) {
      // stdout destroyed under the loop by close(), stop() or the timeout: handled below.
      if (!this.#isOver && !script.isTimedOut) throw error;
    } finally {
      if (!isComplete && this.#isDraining) script.drain();
    }
    // After the length was reached, drain() marks stdout done once the script's output ends.
    if (overflow === undefined && !isFull) script.stdoutDone();
    if (this.#isDone) return;
    if (this.#isStopped) {
      if (head !== undefined) throw new CgiScriptError(`CGI ${this.#name} was stopped by the server's shutdown; the connection was cut`);
      return yield* this.#error(503, "The server is shutting down");
    }
    if (script.isTimedOut) {
      if (head !== undefined) throw new CgiScriptError(`CGI ${this.#name} timed out after its response started; the connection was cut`);
      return yield* this.#error(504, "CGI script timed out");
    }
    if (head !== undefined) {
      // Short of its own Content-Length: the client must see a cut response, not wait for the rest.
      if (allowed > 0) throw new CgiScriptError(`CGI ${this.#name} ended ${allowed} bytes short of its Content-Length; the connection was cut`);
      return;
    }
    const { code, signal, hasFailedToStart } = await script.exited;
    if (this.#isDone) return;
    if (hasFailedToStart) return yield* this.#error(500, "CGI script could not be started");
    if (code !== 0) {
      script.log(`answered 500: ${signal !== null ? `killed by ${signal}` : `exited with status ${code}`} before its header block`);
      return yield* this.#error(500, "CGI script failed");
    }
    script.log(`answered 502: ${pending === undefined ? "it printed nothing" : "its output ended inside its header block"}`);
    yield* this.#error(502, "Bad Gateway: the CGI script's output is not a CGI response");
  }

  /** RFC 3875 §6.2.2: a local Location is answered as if the client had asked for it, with GET. */
  async *#redirect(location: string, script: ScriptProcess): AsyncGenerator<Chunk, void, undefined> {
    const environ = this.#environ;
    const count = (typeof environ[REDIRECTS_KEY] === "number" ? environ[REDIRECTS_KEY] : 0) + 1;
    if (count > MAX_LOCAL_REDIRECTS) {
      script.log(`answered 500: more than ${MAX_LOCAL_REDIRECTS} local redirects in a row`);
      return yield* this.#error(500, "Too many local redirects");
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
