// The demo app (wsgiref.simple_server.demo_app): "Hello world!", a blank line, then the environ
// sorted, one `KEY = value` a line; an HTML page of the same for browsers.
import { acceptsHtml } from "../core/http-syntax.ts";
import { escapeControl } from "../core/log.ts";
import { escapeHtml } from "../core/util.ts";
import type { App } from "../core/types.ts";

function show(value: unknown): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return `[${value.join(", ")}]`;
  if (value !== null && typeof value === "object") return `<${value.constructor?.name ?? "object"}>`;
  if (typeof value === "function") return `<function ${value.name || "anonymous"}>`;
  return String(value);
}

/** Prints the environ it was called with: text/plain, or text/html when the client accepts HTML. */
export const demoApp: App = (environ, startResponse) => {
  const rows = Object.keys(environ).sort().map((key) => [key, show(environ[key])] as const);
  if (acceptsHtml(environ.HTTP_ACCEPT)) {
    const items = rows.map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(value)}</td></tr>`).join("\n");
    const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gw demo</title>
<style>body{font:15px system-ui,sans-serif;margin:2rem}th{text-align:left;padding-right:1.5rem;font-family:monospace}
td{font-family:monospace;word-break:break-all}tr:nth-child(odd){background:#f3f3f3}</style></head>
<body><h1>Hello world!</h1>
<table>
${items}
</table>
</body></html>
`;
    startResponse("200 OK", [["Content-Type", "text/html; charset=utf-8"]]);
    return [html];
  }
  // One line a key, whatever the client sent: a "%0A" in the path must not forge a line.
  const text = "Hello world!\n\n" + rows.map(([key, value]) => `${key} = ${escapeControl(value)}\n`).join("");
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
  return [text];
};
