// Keeps the layers of docs/ARCHITECTURE.md true: a module imports only from its own layer or a
// lower one, nothing outside cli/ imports cli/, commander or picocolors, and only the reloader
// imports chokidar; and gw's start stays light.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const src = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

const LAYERS: Record<string, number> = {
  "types.ts": 0, "errors.ts": 0, "version.ts": 0,
  "headers.ts": 1, "util.ts": 1, "log.ts": 1, "input.ts": 1,
  "mime.ts": 1, "pages.ts": 1, "request-head.ts": 1, "cgi-response.ts": 1, "cgi-script.ts": 1, "cgi-process.ts": 1,
  "environ.ts": 2, "context.ts": 2, "responses.ts": 2, "validate.ts": 2, "router.ts": 2, "url-path.ts": 2, "http-errors.ts": 2, "mount.ts": 2,
  "handlers.ts": 3, "stream-handler.ts": 3,
  "adapters/node.ts": 4, "adapters/fetch.ts": 4, "adapters/worker.ts": 4, "static.ts": 4, "cgi-runner.ts": 4, "demo.ts": 4,
  "server.ts": 5, "load.ts": 5, "reloader.ts": 5, "reload-worker.ts": 5,
};

function layerOf(module: string): number {
  if (module.startsWith("cli/")) return 6;
  if (module === "index.ts") return 7;
  const layer = LAYERS[module];
  if (layer === undefined) throw new Error(`src/${module} has no layer: add it to LAYERS here and to docs/ARCHITECTURE.md`);
  return layer;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : [],
  );
}

const IMPORT = /^\s*(?:import|export)\b[^"']*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm;

const files = sourceFiles(src).map((path) => relative(src, path).replaceAll("\\", "/"));

describe("architecture", () => {
  test("every module has a layer", () => {
    for (const file of files) expect(() => layerOf(file), file).not.toThrow();
  });

  test.each(files)("%s imports only its own layer or lower ones", (file) => {
    const text = readFileSync(join(src, file), "utf8");
    const problems: string[] = [];
    for (const match of text.matchAll(IMPORT)) {
      const target = match[1] ?? match[2]!;
      const line = text.slice(0, match.index).split("\n").length;
      if (target.startsWith(".")) {
        const imported = relative(src, resolve(dirname(join(src, file)), target)).replaceAll("\\", "/");
        if (imported.startsWith("cli/") && !file.startsWith("cli/")) problems.push(`line ${line}: imports the CLI (${target})`);
        else if (layerOf(imported) > layerOf(file)) problems.push(`line ${line}: ${target} is in a higher layer`);
      } else if ((target === "commander" || target === "picocolors") && !file.startsWith("cli/")) {
        problems.push(`line ${line}: ${target} belongs to cli/ only`);
      } else if (target === "chokidar" && file !== "reloader.ts") {
        problems.push(`line ${line}: chokidar belongs to reloader.ts only`);
      } else if (target === "node:http" && !match[0].trimStart().startsWith("import type")) {
        problems.push(`line ${line}: take node:http's values from process.getBuiltinModule (docs/ARCHITECTURE.md, "Startup")`);
      }
    }
    expect(problems).toEqual([]);
  });

  // An ESM import of node:http loads node's fetch (undici) and with it TLS and OpenSSL: about 40 ms
  // at every start, and memory that every CGI fork copies.
  test("the server, the file server, the CGI runner and the module loader start without node's fetch, TLS or crypto", () => {
    const dist = join(src, "..", "dist");
    const modules = ["server.js", "static.js", "cgi-runner.js", "load.js", "reloader.js", "cli/main.js", "cli/serve.js"];
    const script = [
      ...modules.map((module) => `await import(${JSON.stringify(join(dist, module))});`),
      "console.log(process.moduleLoadList.filter((name) => /undici|tls|crypto/.test(name)).join(', '));",
    ].join("\n");
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toBe("");
  });
});
