// Loads the user's module and finds the app in it: the ONLY module that imports user code.
// TypeScript goes through Node's own transform (node:module stripTypeScriptTypes), not a bundler.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import * as nodeModule from "node:module";
import { dirname, extname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { FetchLike } from "../adapters/to-fetch.ts";
import type { NodeListener } from "../adapters/from-node.ts";
import { describe } from "../core/describe.ts";
import { AppLoadError, UserError } from "../core/errors.ts";
import type { AnyApp } from "../core/types.ts";
import { isAppClass } from "../core/util.ts";

/** How an export is taken: by the rules of appOf, or forced by `--gw`, `--fetch` or `--node`. */
export type AppKind = "auto" | "gw" | "fetch" | "node";

/** An app found in a user module. */
export interface LoadedApp {
  app: AnyApp;
  /** The module's absolute path. */
  file: string;
  /** The export the app came from ("default", "app" or the one asked for). */
  exportName: string;
  /** Whether the export was a Fetch handler, now wrapped with fromFetchHandler. */
  isFetchHandler: boolean;
  /** Whether the export (or a server the module started) was a Node listener, now wrapped with fromNodeListener. */
  isNodeListener: boolean;
}

const http = process.getBuiltinModule("node:http");
const net = process.getBuiltinModule("node:net");
/** Servers the user's code asked to listen() while listens are captured. */
const listened: InstanceType<typeof http.Server>[] = [];
const originalListen = net.Server.prototype.listen;
let captures = 0;

/**
 * Makes every http.Server that the user's code tells to listen() a server gw serves on its own
 * socket: the module's app.listen(3000) binds nothing, and its callback and 'listening' still
 * come. Returns the function that ends the capture (when no other capture is on), for a process
 * where gw binds its own http.Server next; the dev server's worker thread never ends it.
 */
export function captureListens(onCapture: (count: number) => void): () => void {
  let isReleased = false;
  captures++;
  net.Server.prototype.listen = function (this: InstanceType<typeof net.Server>, ...args: unknown[]) {
    if (!(this instanceof http.Server)) return (originalListen as (...rest: unknown[]) => unknown).apply(this, args) as ReturnType<typeof originalListen>;
    listened.push(this);
    onCapture(listened.length);
    const callback = args.findLast((arg) => typeof arg === "function") as (() => void) | undefined;
    if (callback !== undefined) this.once("listening", callback);
    process.nextTick(() => this.emit("listening"));
    return this;
  } as typeof originalListen;
  return () => {
    if (isReleased) return;
    isReleased = true;
    if (--captures === 0) net.Server.prototype.listen = originalListen;
  };
}

/**
 * loadApp for gw's own process (`gw serve --no-reload`): a module that starts its server with
 * listen() at import is served on gw's socket, as the dev server's worker does, and `say` gets
 * one line about it. The capture ends before this returns, so gw's own server binds.
 */
export async function loadAppInProcess(spec: string, cwd: string, kind: AppKind, say: (line: string) => void): Promise<LoadedApp> {
  let hasSaid = false;
  const release = captureListens(() => {
    if (hasSaid) return;
    hasSaid = true;
    say("gw: the app calls listen(); gw serves that server on its own address instead");
  });
  try {
    return await loadApp(spec, cwd, kind);
  } finally {
    release();
  }
}

const TS_EXTENSIONS = new Set([".ts", ".mts", ".cts"]);
const LOADABLE = new Set([".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"]);
const ESM_SYNTAX = /^\s*(?:import\s*[\w{*"'.(]|export\s+(?:default|const|let|var|function|async|class|enum|namespace|type|interface|abstract|declare|\{|\*))/m;

const userFiles = new Set<string>();
let hasStripped = false;
const packageUrls = new Set<string>();
const packageTypes = new Map<string, string | undefined>();

/** The "type" of the package.json nearest to `dir` (undefined when none says), cached per folder. */
function packageType(dir: string): string | undefined {
  if (packageTypes.has(dir)) return packageTypes.get(dir);
  let type: string | undefined;
  const manifest = join(dir, "package.json");
  if (existsSync(manifest)) {
    try {
      const parsed = JSON.parse(readFileSync(manifest, "utf8")) as { type?: unknown };
      type = typeof parsed.type === "string" ? parsed.type : undefined;
    } catch {
      type = undefined;
    }
  } else if (dirname(dir) !== dir) {
    type = packageType(dirname(dir));
  }
  packageTypes.set(dir, type);
  return type;
}
let isHooked = false;

type SyncHooks = {
  registerHooks?: (hooks: {
    resolve?: (specifier: string, context: { parentURL?: string }, next: (specifier: string, context?: object) => { url: string }) => { url: string };
    load?: (url: string, context: { format?: string | null }, next: (url: string, context?: object) => { format?: string | null; source?: unknown }) => { format?: string | null; source?: unknown; shortCircuit?: boolean };
  }) => unknown;
  stripTypeScriptTypes?: (code: string, options: { mode: "strip" | "transform"; sourceMap?: boolean; sourceUrl?: string }) => string;
};

/**
 * Teaches this process to load the user's TypeScript in full: enums, namespaces and parameter
 * properties (Node's transform mode), ESM syntax in a .ts file under a CommonJS package.json,
 * and stack traces that point at .ts lines. It also records every user file loaded, for watching.
 * Runs once; on a Node without synchronous hooks, Node's own loading is used as it is.
 */
export function installLoaderHooks(): void {
  if (isHooked) return;
  isHooked = true;
  const api = nodeModule as unknown as SyncHooks;
  const { registerHooks, stripTypeScriptTypes } = api;
  if (registerHooks === undefined) return;
  process.setSourceMapsEnabled(true);
  // Node flags stripTypeScriptTypes as experimental on every first call; gw users did not call
  // it, so that one warning would only confuse them. Every other warning passes through.
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]): void {
    if (String(warning instanceof Error ? warning.message : warning).includes("stripTypeScriptTypes")) return;
    (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  registerHooks({
    resolve(specifier, context, next) {
      const resolved = next(specifier, context);
      const parent = context.parentURL;
      // A package the user's own code imports: a fresh worker may import it ahead of the reload.
      if (parent !== undefined && parent.startsWith("file:") && !parent.includes("/node_modules/") && resolved.url.includes("/node_modules/")) {
        packageUrls.add(resolved.url);
      }
      return resolved;
    },
    load(url, context, next) {
      if (!url.startsWith("file:") || url.includes("/node_modules/")) return next(url, context);
      const path = fileURLToPath(url);
      userFiles.add(path);
      const extension = extname(path);
      if (!TS_EXTENSIONS.has(extension) || stripTypeScriptTypes === undefined) return next(url, context);
      const code = readFileSync(path, "utf8");
      let format: "module" | "commonjs";
      if (extension === ".mts") format = "module";
      else if (extension === ".cts") format = "commonjs";
      else {
        // A .ts file with import/export is a module whatever package.json says; Node alone
        // refuses it under "type": "commonjs".
        format = packageType(dirname(path)) === "module" || ESM_SYNTAX.test(code) ? "module" : "commonjs";
      }
      hasStripped = true;
      const source = stripTypeScriptTypes(code, { mode: "transform", sourceMap: true, sourceUrl: url });
      return { format, source, shortCircuit: true };
    },
  });
}

/** The packages (in node_modules) the user's files import, as resolved URLs. */
export function importedPackages(): string[] {
  return [...packageUrls];
}

/** Whether this process has transformed any TypeScript of the user's. */
export function hasLoadedTypeScript(): boolean {
  return hasStripped;
}

/** Every user file (outside node_modules) this process has loaded so far. */
export function loadedUserFiles(): string[] {
  return [...userFiles];
}

/** Splits "app.ts:name" into the file and the export name. */
export function parseAppSpec(spec: string): { file: string; exportName: string | undefined } {
  const colon = spec.lastIndexOf(":");
  // "C:\\app.ts" has a drive colon, not an export; an export name is an identifier.
  if (colon > 1 && /^[A-Za-z_$][\w$]*$/.test(spec.slice(colon + 1))) {
    return { file: spec.slice(0, colon), exportName: spec.slice(colon + 1) };
  }
  return { file: spec, exportName: undefined };
}

/**
 * The app an export holds. A class is a class application (PEP 3333), whatever its constructor
 * declares. An object with a `fetch` method (a Hono app, `export default { fetch }` for Bun, Deno
 * or srvx) is a Fetch handler, and so is a function whose `length` is 1, since a Fetch handler
 * declares one parameter (the Request) where a gw app declares two (environ and startResponse);
 * both are wrapped with fromFetchHandler. Any other function is a gw app.
 */
async function appOf(value: unknown, kind: AppKind): Promise<{ app: AnyApp } | { fetch: FetchLike } | { node: NodeListener } | undefined> {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) return undefined;
  const target = value as { fetch?: unknown; callback?: unknown; use?: unknown; server?: unknown; ready?: unknown };
  if (kind === "gw") return typeof value === "function" ? { app: value as AnyApp } : undefined;
  if (kind === "auto" || kind === "fetch") {
    if (typeof target.fetch === "function") return { fetch: (request) => (target.fetch as FetchLike)(request) };
    if (kind === "fetch") return typeof value === "function" ? { fetch: value as FetchLike } : undefined;
  }
  if (value instanceof http.Server) return { node: value };
  // Fastify: its server gets its routes once ready() has run the plugins.
  if (target.server instanceof http.Server && typeof target.ready === "function") {
    await (target.ready as () => Promise<unknown>).call(value);
    return { node: target.server };
  }
  // Koa: the app is an object whose callback() makes the listener.
  if (typeof target.callback === "function" && typeof target.use === "function") {
    return { node: (target.callback as () => NodeListener).call(value) };
  }
  if (typeof value !== "function") return undefined;
  if (kind === "node") return { node: value as NodeListener };
  if (isAppClass(value as AnyApp)) return { app: value as AnyApp };
  // Express and connect apps declare (req, res, next).
  if (value.length >= 3) return { node: value as NodeListener };
  return value.length === 1 ? { fetch: value as FetchLike } : { app: value as AnyApp };
}

/**
 * Resolves "path[:export]" against cwd and checks that the file is there and loadable, without
 * importing it; mistakes are one-line UserErrors.
 */
export function resolveAppSpec(spec: string, cwd: string): { file: string; exportName: string | undefined; path: string } {
  const { file, exportName } = parseAppSpec(spec);
  const path = resolve(cwd, file);
  if (!existsSync(path)) throw new UserError(`${file}: no such file`);
  if (!statSync(path).isFile()) throw new UserError(`${file}: not a file`);
  if (!LOADABLE.has(extname(path))) {
    throw new UserError(`${file}: not a module gw can load (use .ts, .mts, .cts, .js, .mjs or .cjs)`);
  }
  return { file, exportName, path };
}

/**
 * Puts the file, line and code frame of a syntax error at the head of its stack, as Node prints
 * an uncaught one. V8 keeps them out of an ES module's SyntaxError (only Node's fatal handler
 * sees them; a CommonJS or TypeScript file's error has them already), so the file is checked
 * again with `node --check`, which prints them: only when loading failed, about 80 ms.
 */
function addSyntaxPlace(error: SyntaxError, path: string): void {
  const stack = error.stack ?? "";
  if (/^(?:file:\/\/)?\/[^\n]*:\d+\n/.test(stack)) return;
  const check = spawnSync(process.execPath, ["--check", path], { encoding: "utf8", timeout: 10_000 });
  const end = check.stderr?.indexOf("\n\nSyntaxError") ?? -1;
  if (end === -1 || !check.stderr.startsWith(path)) return;
  error.stack = `${check.stderr.slice(0, end)}\n\n${stack}`;
}

/**
 * Imports `spec` ("path[:export]", relative to cwd) and returns its app: the named export when
 * given, else the default export, else the export named `app`. A Fetch handler export (see
 * appOf: an object with a `fetch` method, or a function of one parameter) is wrapped with
 * fromFetchHandler. Mistakes are UserErrors; a module that fails while importing is an
 * AppLoadError carrying the original error as its cause.
 */
export async function loadApp(spec: string, cwd: string = process.cwd(), kind: AppKind = "auto"): Promise<LoadedApp> {
  const { file, exportName, path } = resolveAppSpec(spec, cwd);
  installLoaderHooks();
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof SyntaxError) addSyntaxPlace(error, path);
    const reason = error instanceof Error ? error.message : String(error);
    throw new AppLoadError(`${file} failed to load: ${reason}`, { cause: error });
  }
  const names = Object.keys(namespace).filter((name) => name !== "module.exports");
  const has = names.length > 0 ? names.join(", ") : "none";
  let chosen: string;
  if (exportName !== undefined) {
    if (!(exportName in namespace)) throw new UserError(`${file}: no export named "${exportName}" (has: ${has})`);
    chosen = exportName;
  } else if (typeof namespace.default === "function" || (namespace.default !== undefined && namespace.app === undefined)) {
    chosen = "default";
  } else if (namespace.app !== undefined) {
    chosen = "app";
  } else {
    const server = await startedServer();
    if (server !== undefined) return { app: await fromNode(server), file: path, exportName: "listen()", isFetchHandler: false, isNodeListener: true };
    throw new UserError(`${file}: no default export and no export named "app" (has: ${has})`);
  }
  const value = namespace[chosen];
  const found = await appOf(value, kind);
  if (found === undefined) {
    throw new UserError(`${file}: export "${chosen}" is ${describe(value)}, not an app function or an object with a fetch method`);
  }
  if ("app" in found) return { app: found.app, file: path, exportName: chosen, isFetchHandler: false, isNodeListener: false };
  if ("node" in found) return { app: await fromNode(found.node), file: path, exportName: chosen, isFetchHandler: false, isNodeListener: true };
  // Imported only here: the Fetch adapter's Request subclass loads node's fetch (docs/ARCHITECTURE.md, "Startup").
  const { fromFetchHandler } = await import("../adapters/from-fetch.ts");
  return { app: fromFetchHandler(found.fetch), file: path, exportName: chosen, isFetchHandler: true, isNodeListener: false };
}

async function fromNode(listener: NodeListener): Promise<AnyApp> {
  const { fromNodeListener } = await import("../adapters/from-node.ts");
  return fromNodeListener(listener);
}

/**
 * The server a module without an app export told to listen(), when listens are captured. Some
 * frameworks listen a few ticks after import (Fastify runs its plugins first), so this waits a little.
 */
async function startedServer(): Promise<NodeListener | undefined> {
  if (captures === 0) return undefined;
  for (let waited = 0; listened.length === 0 && waited < 1_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  return listened.at(-1);
}
