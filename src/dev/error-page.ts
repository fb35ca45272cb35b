// The dev server's error pages: for an app that failed to load, and for a request that failed
// before its headers were out; HTML for browsers (reloading once a save fixes the code) or text.
import { readFileSync, statSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { acceptsHtml } from "../core/http-syntax.ts";
import { escapeHtml } from "../core/util.ts";
import { pageHead } from "../files/pages.ts";
import type { FailureResponse } from "../gateway/base-handler.ts";
import type { Environ, StartResponse } from "../core/types.ts";

/** Where the page polls for the reloader's state: the generation it serves, and whether it loaded. */
export const STATE_PATH = "/__gw__/state";

/** Why the app is not being served. */
export interface LoadFailure {
  message: string;
  stack: string;
  /** The user's file and line the failure points at, when the stack names one. */
  location: string | undefined;
}

/**
 * The script --livereload adds to HTML pages: it polls the reloader's state and reloads the page
 * once a newer generation of the app loaded well.
 */
export const LIVERELOAD_SCRIPT: string = `<script>(() => {
  let generation;
  setInterval(async () => {
    try {
      const state = await (await fetch(${JSON.stringify(STATE_PATH)}, { cache: "no-store" })).json();
      if (generation === undefined) generation = state.generation;
      else if (state.ok && state.generation !== generation) location.reload();
    } catch {}
  }, 300);
})();</script>
`;

const STYLE = "body{font:15px system-ui,sans-serif;margin:2rem;color:#222}h1{color:#b00020;font-size:1.3rem}" +
  "pre{background:#f6f6f6;padding:1rem;overflow:auto}";

/** Answers a request while the app cannot load: a 500 with the failure, HTML when the client accepts it. */
export function loadFailurePage(problem: LoadFailure, generation: number, environ: Environ, start: StartResponse): string[] {
  if (acceptsHtml(environ.HTTP_ACCEPT)) {
    start("500 Internal Server Error", [["Content-Type", "text/html; charset=utf-8"], ["Cache-Control", "no-store"]]);
    return [`${pageHead("gw: the app failed to load", STYLE)}<body><h1>The app failed to load</h1>
<p><strong>${escapeHtml(problem.message)}</strong></p>
${problem.location === undefined ? "" : `<p>at <code>${escapeHtml(problem.location)}</code></p>`}
<pre>${escapeHtml(problem.stack)}</pre>
<p><small>This page reloads itself once the code is fixed.</small></p>
<script>
const generation = ${generation};
setInterval(async () => {
  try {
    const state = await (await fetch(${JSON.stringify(STATE_PATH)}, { cache: "no-store" })).json();
    if (state.ok && state.generation !== generation) location.reload();
  } catch {}
}, 300);
</script>
</body></html>
`];
  }
  start("500 Internal Server Error", [["Content-Type", "text/plain; charset=utf-8"]]);
  return [`gw: the app failed to load\n\n${problem.message}\n${problem.location === undefined ? "" : `at ${problem.location}\n`}\n${problem.stack}\n`];
}

// gw's own code, wherever it is installed: its src/, dist/ and bin/ folders.
const GW_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const GW_DIRS = ["src/", "dist/", "bin/"].map((dir) => GW_ROOT + dir);
const FRAME_PLACE = /\(?((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)\)?$/;
const CONTEXT_LINES = 3;
const MAX_SOURCE_BYTES = 1 << 20;
const MAX_SHOWN_FRAMES = 3;

/** One line of a stack trace, with the place it names and whose code that is. */
export interface StackFrame {
  /** The frame as the stack shows it, without "at ". */
  text: string;
  /** The absolute file path, when the frame names a file. */
  file: string | undefined;
  line: number;
  column: number;
  /** The user's own code, or gw's, Node's and libraries' (folded on the page). */
  isUser: boolean;
}

/** Splits a V8 stack into frames, each marked as the user's own code or not. */
export function stackFrames(stack: string): StackFrame[] {
  const frames: StackFrame[] = [];
  for (const raw of stack.split("\n")) {
    const text = raw.trim();
    if (!text.startsWith("at ")) continue;
    const match = FRAME_PLACE.exec(text);
    let file: string | undefined;
    if (match !== null) {
      const place = match[1]!;
      try {
        file = place.startsWith("file://") ? fileURLToPath(place) : place.startsWith("/") ? place : undefined;
      } catch {
        file = undefined;
      }
    }
    const isUser = file !== undefined && !file.includes("/node_modules/") && !GW_DIRS.some((dir) => file.startsWith(dir));
    frames.push({ text: text.slice(3), file, line: Number(match?.[2] ?? 0), column: Number(match?.[3] ?? 0), isUser });
  }
  return frames;
}

/** A few numbered lines of source around `line`, the failing one marked with ">"; undefined when unreadable. */
export function sourceExcerpt(file: string, line: number): string | undefined {
  try {
    if (line < 1 || statSync(file).size > MAX_SOURCE_BYTES) return undefined;
    const lines = readFileSync(file, "utf8").split(/\r?\n/);
    if (line > lines.length) return undefined;
    const first = Math.max(1, line - CONTEXT_LINES);
    const last = Math.min(lines.length, line + CONTEXT_LINES);
    const width = String(last).length;
    const out: string[] = [];
    for (let n = first; n <= last; n++) out.push(`${n === line ? ">" : " "} ${String(n).padStart(width)} | ${lines[n - 1]}`);
    return out.join("\n");
  } catch {
    return undefined;
  }
}

/** What the page shows of an error: its headline, the user's frames with source, the rest folded. */
interface Report {
  headline: string;
  /** The errors behind it: its cause (and theirs), an AggregateError's errors; one line each. */
  behind: string[];
  /** A hint when the error looks like a Node listener served as a gw app. */
  hint: string | undefined;
  requestLine: string;
  shown: { where: string; excerpt: string | undefined }[];
  /** Everything Node would print of it (stack, own properties, causes). */
  stack: string;
  hidden: number;
}

/** An error's first line: `Name: message`, or what was thrown when it is not an Error. */
function headlineOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : `non-Error thrown: ${typeof error === "string" ? error : inspect(error, { breakLength: Infinity, depth: 2 })}`;
}

/** The causes of `error` (a few levels) and an AggregateError's errors, as headlines. */
function errorsBehind(error: unknown): string[] {
  const lines: string[] = [];
  if (error instanceof AggregateError) for (const inner of error.errors.slice(0, 10)) lines.push(`error: ${headlineOf(inner)}`);
  for (let cause = (error as { cause?: unknown } | null)?.cause, depth = 0; cause !== undefined && depth < 5; cause = (cause as { cause?: unknown } | null)?.cause, depth++) {
    lines.push(`caused by ${headlineOf(cause)}`);
  }
  return lines;
}

// What `res.setHeader(...)` and its kind throw when a Node (req, res) listener was called as a gw app.
const LISTENER_CALLED_AS_APP = /\b(?:setHeader|writeHead|getHeader|end|status|send|json|redirect|sendFile)\b is not a function/;

function reportOf(error: unknown, environ: Environ): Report {
  const isError = error instanceof Error;
  const headline = headlineOf(error);
  const stack = isError ? inspect(error) : headline;
  const hint = error instanceof TypeError && LISTENER_CALLED_AS_APP.test(error.message)
    ? "If the app is a Node (req, res) listener, serve it with --node: gw took it for a gw app (environ, startResponse)."
    : undefined;
  const frames = stackFrames(isError ? (error.stack ?? headline) : headline);
  const cwd = process.cwd();
  const user = frames.filter((frame) => frame.isUser);
  const shown = user.slice(0, MAX_SHOWN_FRAMES).map((frame, index) => ({
    where: frame.text.replace(frame.file!, relative(cwd, frame.file!)).replace(/file:\/\/(?=[^/])/, ""),
    // Source for the frames the error came through, the failing line first.
    excerpt: index < 2 ? sourceExcerpt(frame.file!, frame.line) : undefined,
  }));
  const query = environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : "";
  const uri = typeof environ.REQUEST_URI === "string" ? environ.REQUEST_URI : `${environ.SCRIPT_NAME ?? ""}${environ.PATH_INFO ?? ""}${query}`;
  return { headline, behind: errorsBehind(error), hint, requestLine: `${environ.REQUEST_METHOD} ${uri} ${environ.SERVER_PROTOCOL}`, shown, stack, hidden: frames.length - user.length };
}

/**
 * The dev server's 500 for a request whose app failed before its headers were out: the error, the
 * user's own frames first with the source around each failing line, gw's and Node's frames folded,
 * and the request line; HTML when the client accepts it (it reloads after the next good reload).
 */
export function runtimeErrorPage(error: unknown, environ: Environ): FailureResponse {
  const report = reportOf(error, environ);
  const status = "500 Internal Server Error";
  if (acceptsHtml(environ.HTTP_ACCEPT)) {
    const frames = report.shown.map((frame) =>
      `<h2>at <code>${escapeHtml(frame.where)}</code></h2>\n${frame.excerpt === undefined ? "" : `<pre class="src">${escapeHtml(frame.excerpt)}</pre>\n`}`).join("");
    const body = `${pageHead("gw: 500 Internal Server Error", STYLE + "h2{font-size:1rem;font-weight:normal}.src{border-left:3px solid #b00020}")}<body>
<h1>${escapeHtml(report.headline)}</h1>
${report.behind.map((line) => `<p>${escapeHtml(line)}</p>\n`).join("")}${report.hint === undefined ? "" : `<p><strong>${escapeHtml(report.hint)}</strong></p>\n`}<p><code>${escapeHtml(report.requestLine)}</code></p>
${frames}<details><summary>Full stack (${report.hidden} frame${report.hidden === 1 ? "" : "s"} of gw, Node and libraries)</summary><pre>${escapeHtml(report.stack)}</pre></details>
<p><small>The dev server shows this page because reload is on; with --no-reload a 500 names nothing. This page reloads itself after the next reload.</small></p>
${LIVERELOAD_SCRIPT}</body></html>
`;
    return { status, headers: [["Content-Type", "text/html; charset=utf-8"], ["Cache-Control", "no-store"]], body };
  }
  const frames = report.shown.map((frame) => `  at ${frame.where}\n${frame.excerpt === undefined ? "" : `\n${frame.excerpt}\n\n`}`).join("");
  const body = `gw: ${report.requestLine} failed\n\n${report.headline}\n${report.behind.map((line) => `  ${line}\n`).join("")}` +
    `${report.hint === undefined ? "" : `\n${report.hint}\n\n`}${frames}` +
    `${report.hidden > 0 ? `  (${report.hidden} frame${report.hidden === 1 ? "" : "s"} of gw, Node and libraries hidden)\n` : ""}`;
  return { status, headers: [["Content-Type", "text/plain; charset=utf-8"], ["Cache-Control", "no-store"]], body };
}
