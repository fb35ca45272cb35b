// Loading the user's module from the outside: every extension, with and without package.json,
// TypeScript that needs a transform, export selection, and stack traces that point at .ts lines.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runGw, startGw, tempApp, type TempApp } from "../helpers/gw.ts";

const START = `(environ: Record<string, unknown>, start: (status: string, headers: [string, string][]) => unknown)`;

/** Files under the temp folder; "dir/file" paths make their folder. */
const FILES: Record<string, string> = {
  "bare/app.ts": `export default ${START} => { start("200 OK", [["Content-Type", "text/plain"]]); return ["bare ts"]; };\n`,
  "commonjs/package.json": `{ "type": "commonjs" }\n`,
  "commonjs/app.ts": `export default ${START} => { start("200 OK", [["Content-Type", "text/plain"]]); return ["ts under commonjs"]; };\n`,
  "module/package.json": `{ "type": "module" }\n`,
  "module/app.ts": `export default ${START} => { start("200 OK", [["Content-Type", "text/plain"]]); return ["ts under module"]; };\n`,
  "bare/fancy.ts": `enum Color { Red = "red", Green = "green" }
namespace Counts { export const seven = 7; }
class Greeter {
  constructor(private readonly who: string, public times: number = 2) {}
  greet(): string { return \`hi \${this.who} x\${this.times}\`; }
}
export default ${START} => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [\`\${Color.Green} \${Counts.seven} \${new Greeter("you").greet()}\`];
};
`,
  "bare/app.mts": `export default ${START} => { start("200 OK", [["Content-Type", "text/plain"]]); return ["from mts"]; };\n`,
  "bare/app.cts": `const app = ${START} => { start("200 OK", [["Content-Type", "text/plain"]]); return ["from cts"]; };\nmodule.exports = app;\n`,
  "bare/app.js": `export default (environ, start) => { start("200 OK", [["Content-Type", "text/plain"]]); return ["from js"]; };\n`,
  "bare/app.mjs": `export default (environ, start) => { start("200 OK", [["Content-Type", "text/plain"]]); return ["from mjs"]; };\n`,
  "bare/app.cjs": `module.exports = (environ, start) => { start("200 OK", [["Content-Type", "text/plain"]]); return ["from cjs"]; };\n`,
  "commonjs/app.js": `module.exports = (environ, start) => { start("200 OK", [["Content-Type", "text/plain"]]); return ["cjs js"]; };\n`,
  "bare/multi.ts": `export const other = ${START} => { start("200 OK", [["Content-Type", "text/plain"]]); return ["the other export"]; };
export default ${START} => { start("200 OK", [["Content-Type", "text/plain"]]); return ["the default export"]; };
`,
  "bare/named.ts": `export const helper = 1;\nexport const app = ${START} => { start("200 OK", [["Content-Type", "text/plain"]]); return ["the app export"]; };\n`,
  "bare/throws.ts": `enum Kind { A, B }
interface Shape {
  kind: Kind;
  name: string;
}
const shape: Shape = { kind: Kind.B, name: "x" };
export default ${START} => {
  if (shape.kind === Kind.B) {
    throw new Error("thrown on line 9");
  }
  return [];
};
`,
};

let root: TempApp;
beforeAll(() => {
  root = tempApp({});
  for (const [name, content] of Object.entries(FILES)) {
    mkdirSync(join(root.dir, name, ".."), { recursive: true });
    writeFileSync(join(root.dir, name), content);
  }
});
afterAll(() => root.remove());

const CASES: [label: string, folder: string, spec: string, body: string][] = [
  [".ts with export default, no package.json", "bare", "app.ts", "bare ts"],
  ['.ts with export default under "type": "commonjs"', "commonjs", "app.ts", "ts under commonjs"],
  ['.ts under "type": "module"', "module", "app.ts", "ts under module"],
  ["enum, namespace and parameter properties", "bare", "fancy.ts", "green 7 hi you x2"],
  [".mts", "bare", "app.mts", "from mts"],
  [".cts with module.exports = app", "bare", "app.cts", "from cts"],
  [".js (ESM, no package.json)", "bare", "app.js", "from js"],
  ['.js (CommonJS under "type": "commonjs")', "commonjs", "app.js", "cjs js"],
  [".mjs", "bare", "app.mjs", "from mjs"],
  [".cjs", "bare", "app.cjs", "from cjs"],
  ["the default export when there are others", "bare", "multi.ts", "the default export"],
  ["app.ts:other picks a named export", "bare", "multi.ts:other", "the other export"],
  ["the export named app when there is no default", "bare", "named.ts", "the app export"],
];

describe.concurrent("loading apps", () => {
  for (const mode of ["--no-reload", "reload"] as const) {
    for (const [label, folder, spec, body] of CASES) {
      test(`${label} (${mode})`, async () => {
        const args = ["serve", spec, "--port", "0", ...(mode === "--no-reload" ? ["--no-reload"] : [])];
        const gw = await startGw(args, { cwd: join(root.dir, folder) });
        try {
          const res = await gw.request("/");
          expect(res.status, gw.stderr()).toBe(200);
          expect(res.body.toString()).toBe(body);
          expect(gw.stderr()).not.toMatch(/Warning|warning:/);
        } finally {
          await gw.stop();
        }
      });
    }

    test(`a thrown error's stack points at the .ts file and the throw's line (${mode})`, async () => {
      const args = ["serve", "throws.ts", "--port", "0", ...(mode === "--no-reload" ? ["--no-reload"] : [])];
      const gw = await startGw(args, { cwd: join(root.dir, "bare") });
      try {
        const res = await gw.request("/");
        expect(res.status).toBe(500);
        // With reload on the dev error page names the line; without, the plain 500 names nothing.
        if (mode === "--no-reload") expect(res.body.toString()).not.toContain("thrown on line 9");
        else expect(res.body.toString()).toMatch(/at .*throws\.ts:9:\d+\)?\n[\s\S]*> +9 \|.*thrown on line 9/);
        const at = await gw.waitForStderr(/^\s+at .*throws\.ts:\d+:\d+/);
        expect(at).toContain(`${join(root.dir, "bare", "throws.ts")}:9:`);
        expect(gw.stderr()).toMatch(/^Error: thrown on line 9$/m);
      } finally {
        await gw.stop();
      }
    });
  }
});

describe("an ES module with a syntax error", () => {
  test("the file, line and code frame are named, as node prints them (V8 keeps them out of the error)", async () => {
    const app = tempApp({ "broken.mjs": "export default (e, s) => {\n  const a = 1;\n  return [a +];\n};\n" });
    try {
      const run = await runGw(["serve", "broken.mjs", "--no-reload", "--port", "0"], { cwd: app.dir });
      expect(run.exitCode).toBe(1);
      expect(run.stderr).toContain(`${app.path("broken.mjs")}:3\n  return [a +];\n`);
      expect(run.stderr).toContain("SyntaxError: Unexpected token ']'");
    } finally {
      app.remove();
    }
  });
});
