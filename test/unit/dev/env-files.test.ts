// Env files for the dev server: Node's parser, later files winning, the real environment winning
// over files, changed keys by name, and a missing --env-file as gw's one-line error.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { main } from "../../../src/cli/main.ts";
import { UserError } from "../../../src/core/errors.ts";
import { changedKeys, envWithFiles, readEnvFiles } from "../../../src/dev/env-files.ts";

const dir = mkdtempSync(join(tmpdir(), "gw-env-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "a.env"), "# comment\nA=1\nexport B='two words'\nC=\"line\\nbreak\"\n");
writeFileSync(join(dir, "b.env"), "A=override\n");

describe("readEnvFiles", () => {
  test("parses with Node's rules, later files win, into an object without a prototype", () => {
    const vars = readEnvFiles([{ path: "a.env", isOptional: false }, { path: "b.env", isOptional: false }], dir);
    expect({ ...vars }).toEqual({ A: "override", B: "two words", C: "line\nbreak" });
    expect(Object.getPrototypeOf(vars)).toBeNull();
  });

  test("a missing optional file is skipped; a missing required one is a one-line UserError", () => {
    expect({ ...readEnvFiles([{ path: "gone.env", isOptional: true }, { path: "b.env", isOptional: false }], dir) }).toEqual({ A: "override" });
    expect(() => readEnvFiles([{ path: "gone.env", isOptional: false }], dir)).toThrow(new UserError("--env-file gone.env: no such file"));
  });
});

test("envWithFiles: the real environment wins, as with node --env-file", () => {
  expect(envWithFiles({ A: "shell", PATH: "/bin" }, { A: "file", B: "file" })).toEqual({ A: "shell", PATH: "/bin", B: "file" });
});

test("changedKeys names added, changed and removed keys, sorted", () => {
  expect(changedKeys({ A: "1", B: "2", C: "3" }, { A: "1", B: "x", D: "4" })).toEqual(["B", "C", "D"]);
});

test("main() in-process: a missing --env-file is gw's one line, exit 1, before anything binds", async () => {
  const out: string[] = [];
  const err: string[] = [];
  writeFileSync(join(dir, "app.mjs"), "export default (e, s) => { s('200 OK', []); return []; };\n");
  const io = { stdout: { write: (text: string) => out.push(text) }, stderr: { write: (text: string) => err.push(text) }, env: { NO_COLOR: "1" }, cwd: dir };
  for (const mode of [[], ["--no-reload"]]) {
    err.length = 0;
    const code = await main(["serve", "app.mjs", "--port", "0", ...mode, "--env-file", "nope.env"], io);
    expect([code, err.join("")]).toEqual([1, "gw: --env-file nope.env: no such file\n"]);
  }
  expect(out).toEqual([]);
});
