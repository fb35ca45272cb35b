// The dev server's page for an app that failed to load: the message, the file and line, the
// stack, as HTML for browsers (which reloads itself once a save fixes the code) or as text.
import { escapeHtml } from "../core/util.ts";
import { pageHead } from "../files/pages.ts";
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

const STYLE = "body{font:15px system-ui,sans-serif;margin:2rem;color:#222}h1{color:#b00020;font-size:1.3rem}" +
  "pre{background:#f6f6f6;padding:1rem;overflow:auto}";

/** Answers a request while the app cannot load: a 500 with the failure, HTML when the client accepts it. */
export function loadFailurePage(problem: LoadFailure, generation: number, environ: Environ, start: StartResponse): string[] {
  if ((environ.HTTP_ACCEPT ?? "").includes("text/html")) {
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
