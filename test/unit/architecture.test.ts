// Keeps the folder rules of docs/ARCHITECTURE.md true: each folder of src/ is a layer and imports
// only the folders its rule allows; nothing outside cli/ imports cli/, commander or picocolors;
// only dev/reloader imports chokidar; and gw's start stays light.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const src = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

/** What each folder may import besides itself. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  core: [],
  gateway: ["core"],
  adapters: ["gateway", "core"],
  app: ["core"],
  files: ["core"],
  cgi: ["files", "core"],
  server: ["adapters", "gateway", "core"],
  dev: ["server", "adapters", "gateway", "app", "files", "cgi", "core"],
  cli: ["dev", "server", "adapters", "gateway", "app", "files", "cgi", "core"],
  ".": ["server", "adapters", "gateway", "app", "files", "cgi", "core"],
};

function folderOf(module: string): string {
  const slash = module.indexOf("/");
  return slash === -1 ? "." : module.slice(0, slash);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : [],
  );
}

const IMPORT = /^\s*(?:import|export)\b[^"']*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm;

const files = sourceFiles(src).map((path) => relative(src, path).replaceAll("\\", "/"));

describe("architecture", () => {
  test("every module sits in a folder with a rule, and src/ holds only index.ts", () => {
    for (const file of files) expect(MAY_IMPORT[folderOf(file)], file).toBeDefined();
    expect(files.filter((file) => folderOf(file) === ".")).toEqual(["index.ts"]);
  });

  test.each(files)("%s imports only what its folder may", (file) => {
    const text = readFileSync(join(src, file), "utf8");
    const folder = folderOf(file);
    const problems: string[] = [];
    for (const match of text.matchAll(IMPORT)) {
      const target = match[1] ?? match[2]!;
      const line = text.slice(0, match.index).split("\n").length;
      if (target.startsWith(".")) {
        const imported = relative(src, resolve(dirname(join(src, file)), target)).replaceAll("\\", "/");
        const other = folderOf(imported);
        if (other === "cli" && folder !== "cli") problems.push(`line ${line}: imports the CLI (${target})`);
        else if (other !== folder && !MAY_IMPORT[folder]!.includes(other)) problems.push(`line ${line}: ${folder}/ may not import ${other}/ (${target})`);
      } else if ((target === "commander" || target === "picocolors") && folder !== "cli") {
        problems.push(`line ${line}: ${target} belongs to cli/ only`);
      } else if (target === "chokidar" && file !== "dev/reloader.ts") {
        problems.push(`line ${line}: chokidar belongs to dev/reloader.ts only`);
      } else if (target === "node:http" && !match[0].trimStart().startsWith("import type")) {
        problems.push(`line ${line}: take node:http's values from process.getBuiltinModule (docs/ARCHITECTURE.md, "Startup")`);
      }
    }
    expect(problems).toEqual([]);
  });

  test("the rule catches a wrong-way import", () => {
    expect(MAY_IMPORT.core).toEqual([]);
    expect(MAY_IMPORT.server).not.toContain("dev");
    expect(MAY_IMPORT.app).not.toContain("gateway");
  });

  // An ESM import of node:http loads node's fetch (undici) and with it TLS and OpenSSL: about 40 ms
  // at every start, and memory that every CGI fork copies.
  test("the server, the file server, the CGI runner and the module loader start without node's fetch, TLS or crypto", () => {
    const dist = join(src, "..", "dist");
    const modules = ["server/http.js", "files/static.js", "cgi/runner.js", "dev/load.js", "dev/reloader.js", "cli/main.js", "cli/serve.js"];
    const script = [
      ...modules.map((module) => `await import(${JSON.stringify(join(dist, module))});`),
      "console.log(process.moduleLoadList.filter((name) => /undici|tls|crypto/.test(name)).join(', '));",
    ].join("\n");
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toBe("");
  });
});
