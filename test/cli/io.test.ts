// processIo().relaunch from the outside: a real node process that replaces itself.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ROOT } from "../helpers/gw.ts";

const canRelaunch = process.platform !== "win32" && process.execve !== undefined;
let folder: string;
let script: string;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), "gw-relaunch-"));
  script = join(folder, "relaunch.mjs");
  // Says who it is, asks for --no-deprecation, and says it went on.
  writeFileSync(script, [
    `const { processIo } = await import(${JSON.stringify(join(ROOT, "src", "cli", "io.ts"))});`,
    "console.log(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, args: process.argv.slice(2) }));",
    'processIo().relaunch(["--no-deprecation"]);',
    'console.log("went on");',
  ].join("\n"));
});

afterAll(() => rmSync(folder, { recursive: true, force: true }));

function run(nodeFlags: string[]): string[] {
  const result = spawnSync(process.execPath, [...nodeFlags, script, "one", "--two"], { encoding: "utf8" });
  expect(result.stderr).toBe("");
  return result.stdout.trim().split("\n");
}

test.runIf(canRelaunch)("relaunch runs the same command again with the flags added, in the same process, once", () => {
  const lines = run([]);
  expect(lines).toHaveLength(3);
  const [before, after] = lines.slice(0, 2).map((line) => JSON.parse(line));
  expect(before).toEqual({ pid: after.pid, execArgv: [], args: ["one", "--two"] });
  expect(after).toEqual({ pid: before.pid, execArgv: ["--no-deprecation"], args: ["one", "--two"] });
  expect(lines[2]).toBe("went on");
});

test.runIf(canRelaunch)("relaunch keeps the flags it was started with and does nothing once it has every one", () => {
  const lines = run(["--no-deprecation", "--stack-size=2000"]);
  expect(lines).toHaveLength(2);
  expect(JSON.parse(String(lines[0])).execArgv).toEqual(["--no-deprecation", "--stack-size=2000"]);
  expect(lines[1]).toBe("went on");
});

test.runIf(canRelaunch)("relaunch adds only the flags missing", () => {
  const lines = run(["--stack-size=2000"]);
  expect(JSON.parse(String(lines[1])).execArgv).toEqual(["--no-deprecation", "--stack-size=2000"]);
  expect(lines).toHaveLength(3);
});
