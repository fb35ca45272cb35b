// What the dev server watches, from the outside: files the app writes while serving do not make
// it reload, and a burst of changes to its modules (a branch switch) gives one reload.
import { closeSync, ftruncateSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { startGw, tempApp } from "../helpers/gw.ts";

const MODULES = 12;

function files(version: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < MODULES; i++) out[`part${i}.ts`] = `export const part${i} = "${version}";\n`;
  out["app.ts"] = `import { writeFileSync } from "node:fs";
${Array.from({ length: MODULES }, (_, i) => `import { part${i} } from "./part${i}.ts";`).join("\n")}
let hits = 0;
export default (environ: Record<string, unknown>, start: (s: string, h: [string, string][]) => unknown) => {
  // The app writes files next to its code while serving: a log and a cache, also a .ts file.
  hits++;
  writeFileSync(import.meta.dirname + "/requests.log", "hit " + hits + "\\n");
  writeFileSync(import.meta.dirname + "/generated-cache.ts", "export const hits = " + hits + ";\\n");
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [[${Array.from({ length: MODULES }, (_, i) => `part${i}`).join(", ")}].join(",")];
};
`;
  return out;
}

describe("watching", () => {
  test("files the app writes do not reload it; a burst of module edits gives one reload", async () => {
    const dir = tempApp(files(1));
    const gw = await startGw(["serve", "app.ts", "--port", "0"], { cwd: dir.dir });
    try {
      await gw.waitForStderr(/watching \d+ files? for changes/);
      for (let i = 0; i < 5; i++) expect((await gw.request("/")).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(gw.stderr()).not.toMatch(/reloaded in/);

      // A branch switch: every module rewritten within a few milliseconds.
      for (const [name, content] of Object.entries(files(2))) dir.write(name, content);
      await gw.waitForStderr(/reloaded in \d+ ms/, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(gw.stderr().match(/reloaded in \d+ ms/g)).toHaveLength(1);
      expect((await gw.request("/")).body.toString()).toBe(Array(MODULES).fill("2").join(","));
    } finally {
      await gw.stop();
      dir.remove();
    }
  }, 30_000);

  test("a save that truncates the file and writes it 15 ms later reloads once, with no failed load", async () => {
    const dir = tempApp(files(1));
    const gw = await startGw(["serve", "app.ts", "--port", "0"], { cwd: dir.dir });
    try {
      await gw.waitForStderr(/watching \d+ files? for changes/);
      // The reload starts loading a few ms after the first watch event, which here finds an
      // empty file: that load must be thrown away, not served or reported as a failure.
      const path = join(dir.dir, "part0.ts");
      const fd = openSync(path, "r+");
      ftruncateSync(fd, 0);
      closeSync(fd);
      await new Promise((resolve) => setTimeout(resolve, 15));
      writeFileSync(path, `export const part0 = "2";\n`);
      await gw.waitForStderr(/reloaded in \d+ ms/, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(gw.stderr()).not.toMatch(/failed|does not provide|waiting for a change/);
      expect(gw.stderr().match(/reloaded in \d+ ms/g)).toHaveLength(1);
      expect((await gw.request("/")).body.toString()).toBe(["2", ...Array(MODULES - 1).fill("1")].join(","));
    } finally {
      await gw.stop();
      dir.remove();
    }
  }, 30_000);
});
