// The templates half of `npm run bench`: one 1,000-row table page (same data, same HTML, escaping
// on) rendered to a string by gw's `html`, hono's `html` helper, Eta, EJS and precompiled
// Handlebars, each as its docs show; rounds alternate engines and the medians are compared.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import ejs from "ejs";
import { Eta } from "eta";
import Handlebars from "handlebars";
import { html as honoHtml } from "hono/html";
import { benchData, gwPage, type Data } from "./template-page.ts";
import { hasWrk, median, pinned, wrkRate } from "./common.ts";

// ---- hono/html ----
const honoPage = (data: Data): string => String(honoHtml`<!doctype html>
<html><head><title>${data.title}</title></head>
<body><h1>${data.title}</h1>
<table>
${data.rows.map((row, i) => honoHtml`<tr class="${i % 2 === 0 ? "odd" : "even"}"><td>${row.id}</td><td><a href="/users/${row.id}">${row.name}</a></td><td>${row.email}</td><td>${row.city}</td><td>${row.score}</td><td>${row.isActive ? "yes" : "no"}</td></tr>
`)}</table>
</body></html>
`);

// ---- Eta, EJS (same syntax for this page) ----
const EMBEDDED = `<!doctype html>
<html><head><title><%= it.title %></title></head>
<body><h1><%= it.title %></h1>
<table>
<% it.rows.forEach(function (row, i) { %><tr class="<%= i % 2 === 0 ? "odd" : "even" %>"><td><%= row.id %></td><td><a href="/users/<%= row.id %>"><%= row.name %></a></td><td><%= row.email %></td><td><%= row.city %></td><td><%= row.score %></td><td><%= row.isActive ? "yes" : "no" %></td></tr>
<% }) %></table>
</body></html>
`;
const eta = new Eta({ cache: true });
eta.loadTemplate("@page", EMBEDDED);
const etaPage = (data: Data): string => eta.render("@page", data);
// EJS's `it` is its localsName option; compile once and call the function, as its README shows.
const ejsPage = ejs.compile(EMBEDDED, { localsName: "it", _with: false, strict: true }) as (data: Data) => string;

// ---- Handlebars, precompiled (what `handlebars` the CLI emits, loaded with Handlebars.template) ----
const handlebars = Handlebars.create();
handlebars.registerHelper("parity", (index: number) => (index % 2 === 0 ? "odd" : "even"));
handlebars.registerHelper("yesNo", (value: boolean) => (value ? "yes" : "no"));
const HANDLEBARS = `<!doctype html>
<html><head><title>{{title}}</title></head>
<body><h1>{{title}}</h1>
<table>
{{#each rows}}<tr class="{{parity @index}}"><td>{{id}}</td><td><a href="/users/{{id}}">{{name}}</a></td><td>{{email}}</td><td>{{city}}</td><td>{{score}}</td><td>{{yesNo isActive}}</td></tr>
{{/each}}</table>
</body></html>
`;
const handlebarsPage = handlebars.template(new Function(`return ${Handlebars.precompile(HANDLEBARS)}`)() as TemplateSpecification) as (data: Data) => string;
type TemplateSpecification = Parameters<typeof Handlebars.template>[0];

/** Each engine's render function: data in, the whole page as a string out. */
export const ENGINES: Record<string, (data: Data) => string> = {
  "gw html": (data) => gwPage(data).toString(),
  "hono html": honoPage,
  "eta": etaPage,
  "ejs": ejsPage,
  "handlebars (precompiled)": handlebarsPage,
};

/** The page with every engine's spelling of the quote entities made one, so outputs compare. */
export function normalise(page: string): string {
  return page.replaceAll("&#34;", "&quot;").replaceAll("&#39;", "&#x27;").replaceAll("&#x3D;", "=");
}

// "string": the page as a JS string, which V8 may keep as a rope of the pieces (every engine here
// builds one); "bytes": that string measured as UTF-8, which flattens it, as sending it would.
type Mode = "string" | "bytes";

function rate(render: (data: Data) => string, data: Data, milliseconds: number, mode: Mode): number {
  let count = 0;
  let sink = 0;
  const start = performance.now();
  let now = start;
  while (now - start < milliseconds) {
    for (let i = 0; i < 10; i++) sink += mode === "string" ? render(data).length : Buffer.byteLength(render(data));
    count += 10;
    now = performance.now();
  }
  if (sink === 0) throw new Error("rendered nothing");
  return (count * 1000) / (now - start);
}

/** Options for benchTemplates. */
export interface TemplateBenchOptions {
  /** Milliseconds per engine per round and mode. @default 1000 */
  milliseconds?: number;
  /** Rounds; medians are reported. @default 7 */
  rounds?: number;
}

/**
 * Renders the page with every engine in alternating rounds. One row per engine: renders/s to a
 * string (median, spread), gw's ratio to it, then the same with the string encoded as UTF-8.
 */
export function benchTemplates(options: TemplateBenchOptions = {}): string[][] {
  const milliseconds = options.milliseconds ?? 1000;
  const rounds = options.rounds ?? 7;
  const data = benchData();
  const expected = normalise(ENGINES["gw html"]!(data));
  for (const [name, render] of Object.entries(ENGINES)) {
    if (normalise(render(data)) !== expected) throw new Error(`${name} renders a different page`);
  }
  const names = Object.keys(ENGINES);
  const modes: Mode[] = ["string", "bytes"];
  const rates = new Map(names.flatMap((name) => modes.map((mode) => [`${name} ${mode}`, [] as number[]] as const)));
  for (const name of names) rate(ENGINES[name]!, data, 300, "bytes");
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const mode of modes) {
      for (const name of order) rates.get(`${name} ${mode}`)!.push(rate(ENGINES[name]!, data, milliseconds, mode));
    }
  }
  const cells = (name: string, mode: Mode): string[] => {
    const values = rates.get(`${name} ${mode}`)!;
    const gw = median(rates.get(`gw html ${mode}`)!);
    const value = median(values);
    const others = names.filter((other) => other !== "gw html").map((other) => median(rates.get(`${other} ${mode}`)!));
    const ratio = name === "gw html" ? `${(gw / Math.max(...others)).toFixed(2)} × fastest` : (gw / value).toFixed(2);
    return [value.toFixed(0), `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}`, ratio];
  };
  return names.map((name) => [name, ...cells(name, "string"), ...cells(name, "bytes")]);
}

const GW_BIN = join(import.meta.dirname, "..", "bin", "gw.js");

async function startGwServe(): Promise<{ child: ChildProcess; port: number }> {
  const app = join(import.meta.dirname, "template-app.ts");
  const [command, args] = pinned(0, process.execPath, [GW_BIN, "serve", app, "--port", "0", "--no-reload"]);
  // Its access log goes nowhere: one stderr line a request would be part of what is measured.
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "ignore"] });
  for await (const line of createInterface({ input: child.stdout! })) {
    const match = / port (\d+) /.exec(line);
    if (match) return { child, port: Number(match[1]) };
  }
  throw new Error("gw serve bench/template-app.ts exited before its ready line");
}

async function load(url: string, seconds: number): Promise<number> {
  if (hasWrk) return wrkRate(url, { connections: 16, seconds });
  const { default: autocannon } = await import("autocannon");
  return (await autocannon({ url, connections: 16, duration: seconds })).requests.average;
}

/** Serves the page with `gw serve` as one string and as a stream, alternating; rows: how, req/s (median), spread. */
export async function benchTemplateServing(options: { seconds?: number; rounds?: number } = {}): Promise<string[][]> {
  const seconds = options.seconds ?? 2;
  const rounds = options.rounds ?? 5;
  const server = await startGwServe();
  const rates = { string: [] as number[], stream: [] as number[] };
  try {
    const base = `http://127.0.0.1:${server.port}`;
    await load(`${base}/string`, 1);
    await load(`${base}/stream`, 1);
    for (let round = 0; round < rounds; round++) {
      for (const how of round % 2 === 0 ? (["string", "stream"] as const) : (["stream", "string"] as const)) {
        rates[how].push(await load(`${base}/${how}`, seconds));
      }
    }
  } finally {
    if (server.child.exitCode === null) {
      server.child.kill("SIGKILL");
      await once(server.child, "exit");
    }
  }
  const row = (title: string, values: number[]): string[] =>
    [title, median(values).toFixed(0), `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}`];
  return [row("one string (Content-Length)", rates.string), row("streamed (chunked, rows pending)", rates.stream)];
}

if (import.meta.main) {
  const table = benchTemplates({ milliseconds: Number(process.argv[2] ?? 1000), rounds: Number(process.argv[3] ?? 5) });
  for (const row of table) process.stdout.write(row.join(" | ") + "\n");
  if (process.argv[4] === "serve") for (const row of await benchTemplateServing()) process.stdout.write(row.join(" | ") + "\n");
}
