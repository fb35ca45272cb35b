// `gw serve --env-file` from the outside: the app sees the files' variables (later files win),
// an edit reloads with the new values and the log names the changed keys but never a value.
import { describe, expect, test } from "vitest";
import { pollUntil, runGw, startGw, tempApp } from "../helpers/gw.ts";

const APP = `export default (environ: Record<string, unknown>, start: (s: string, h: [string, string][]) => unknown) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [\`\${process.env.GREETING}|\${process.env.TOKEN}|\${process.env.ONLY_LOCAL}|\${process.env.FROM_SHELL}\`];
};
`;


describe.concurrent("gw serve --env-file", () => {
  test("variables reach the app; an edit reloads with the new values and names the keys only", async () => {
    const dir = tempApp({ "app.ts": APP, ".env": "GREETING=hello\nTOKEN=old-secret-1\nFROM_SHELL=file\n", ".env.local": "ONLY_LOCAL=yes # comment\nGREETING=\"hi there\"\n" });
    try {
      const gw = await startGw(["serve", "app.ts", "--port", "0", "--env-file", ".env", "--env-file-if-exists", ".env.local", "--env-file-if-exists", ".env.missing"], {
        cwd: dir.dir,
        env: { FROM_SHELL: "shell" },
      });
      try {
        expect((await gw.request("/")).body.toString()).toBe("hi there|old-secret-1|yes|shell");
        await gw.waitForStderr(/watching \d+ files? for changes/);
        dir.write(".env", "GREETING=hello\nTOKEN=new-secret-2\nADDED=1\nFROM_SHELL=file\n");
        await pollUntil("the new value", () => gw.request("/").then((r) => r.body.toString()), (body) => body === "hi there|new-secret-2|yes|shell", 10_000);
        const line = await gw.waitForStderr(/reloaded in \d+ ms/);
        expect(line).toContain(".env: ADDED, TOKEN");
        expect(gw.stderr()).not.toContain("secret");
      } finally {
        await gw.stop();
      }
    } finally {
      dir.remove();
    }
  });

  test("--workers: every worker reads the files as it boots, so SIGHUP brings an edited value", async () => {
    const dir = tempApp({ "app.ts": APP, ".env": "GREETING=first\nTOKEN=t\nFROM_SHELL=file\n" });
    try {
      const gw = await startGw(["serve", "app.ts", "--port", "0", "--workers", "2", "--env-file", ".env"], { cwd: dir.dir, env: { FROM_SHELL: "shell" } });
      try {
        for (let i = 0; i < 4; i++) expect((await gw.request("/", { headers: { connection: "close" } })).body.toString()).toBe("first|t|undefined|shell");
        dir.write(".env", "GREETING=second\nTOKEN=t\n");
        gw.child.kill("SIGHUP");
        await gw.waitForStderr(/^gw: SIGHUP: 2 workers on the new code$/m);
        for (let i = 0; i < 4; i++) expect((await gw.request("/", { headers: { connection: "close" } })).body.toString()).toBe("second|t|undefined|shell");
      } finally {
        expect((await gw.stop()).code).toBe(0);
      }
      const run = await runGw(["serve", "app.ts", "--port", "0", "--workers", "1", "--env-file", "nope.env"], { cwd: dir.dir });
      expect(run.exitCode).not.toBe(0);
      expect(run.stderr).toMatch(/^(?:gw: --env-file nope\.env: no such file|\S*node: nope\.env: not found)\n$/);
    } finally {
      dir.remove();
    }
  }, 60_000);

  test("--no-reload loads the files into the app's process too", async () => {
    const dir = tempApp({ "app.ts": APP, "a.env": "GREETING=a\nTOKEN=t\n", "b.env": "GREETING=b\n" });
    try {
      const gw = await startGw(["serve", "app.ts", "--port", "0", "--no-reload", "--env-file", "a.env", "--env-file", "b.env"], { cwd: dir.dir });
      try {
        expect((await gw.request("/")).body.toString()).toBe("b|t|undefined|undefined");
      } finally {
        await gw.stop();
      }
    } finally {
      dir.remove();
    }
  });

  // Node itself checks an --env-file after the script path (nodejs/node#54232) and exits 9 with
  // its own line before gw runs; main() in-process gives gw's UserError (test/unit/dev/env-files).
  test.each([[[]], [["--no-reload"]]])("a missing --env-file is one line and a failed exit (%j)", async (mode) => {
    const dir = tempApp({ "app.ts": APP });
    try {
      const run = await runGw(["serve", "app.ts", "--port", "0", ...mode, "--env-file", "nope.env"], { cwd: dir.dir });
      expect(run.exitCode).not.toBe(0);
      expect(run.stderr).toMatch(/^(?:gw: --env-file nope\.env: no such file|\S*node: nope\.env: not found)\n$/);
    } finally {
      dir.remove();
    }
  });
});
