// The published package works: `npm pack` gives a tarball that installs into a fresh folder and
// whose `gw` serves a TypeScript app there, with only a Node ≥ 22.12 on PATH (the repo's own).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { ROOT, startGw } from "../helpers/gw.ts";

const dir = mkdtempSync(join(tmpdir(), "gw-pack-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("npm pack installs into a fresh folder and `gw serve app.ts` serves there", async () => {
  // dist/ is already built by the global setup, so the pack needs no scripts.
  const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}` };
  const npm = (args: string[], cwd: string): string => execFileSync("npm", args, { cwd, env, encoding: "utf8" });
  const tarball = npm(["pack", "--ignore-scripts", "--silent", "--pack-destination", dir], ROOT).trim().split("\n").pop()!;
  const project = join(dir, "project");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "pack-check", private: true, type: "module" }));
  npm(["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", join(dir, tarball)], project);
  expect(readdirSync(join(project, "node_modules", "gw", "dist"))).toContain("index.js");
  // The source maps' sources are in the package, so stack traces can name real files; and the licence.
  expect(readdirSync(join(project, "node_modules", "gw", "src"))).toContain("index.ts");
  expect(readdirSync(join(project, "node_modules", "gw"))).toContain("LICENSE");
  writeFileSync(join(project, "app.ts"), [
    'import type { App } from "gw";',
    "const app: App = (environ, start) => {",
    '  start("200 OK", [["Content-Type", "text/plain"]]);',
    "  return [`packed ${environ.PATH_INFO}`];",
    "};",
    "export default app;",
  ].join("\n"));
  const server = await startGw(["serve", "app.ts", "--port", "0", "--no-reload"], {
    cwd: project, env: { PATH: env.PATH! }, command: join(project, "node_modules", ".bin", "gw"),
  }, 20_000);
  try {
    const response = await server.request("/here");
    expect([response.status, response.body.toString()]).toEqual([200, "packed /here"]);
  } finally {
    await server.stop();
  }
}, 120_000);
