// The dev server's hot reload from the outside: edits change responses, broken code gives a 500
// page until fixed, clients see no errors across reloads, signals end it cleanly, and no orphans.
import { execFileSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { pollUntil, startGw, tempApp, type GwServer } from "../helpers/gw.ts";

const START = `(environ: Record<string, unknown>, start: (status: string, headers: [string, string][]) => unknown)`;

/** An app module answering `body`, optionally importing `msg` from ./lib.ts. */
function appSource(body: string, { withLib = false }: { withLib?: boolean } = {}): string {
  return `${withLib ? 'import { msg } from "./lib.ts";\n' : ""}export default ${START} => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [${JSON.stringify(body)}${withLib ? ' + " " + msg' : ""}];
};
`;
}

/** GET `path` and return the status and body text. */
async function get(gw: GwServer, path: string = "/", headers: Record<string, string> = {}): Promise<{ status: number; text: string; type: string }> {
  const res = await gw.request(path, { headers });
  return { status: res.status, text: res.body.toString(), type: String(res.headers["content-type"]) };
}

/** Polls until GET / answers 200 with `text`. */
function untilBody(gw: GwServer, text: string, timeout: number = 5_000): Promise<{ status: number; text: string }> {
  return pollUntil(`GET / to answer 200 "${text}"`, () => get(gw), (r) => r.status === 200 && r.text === text, timeout);
}

function lines(text: string, pattern: RegExp): string[] {
  return text.split("\n").filter((line) => pattern.test(line));
}

describe.concurrent("hot reload", () => {
  test("a module that never finishes loading (a loop at import) does not hold gw at SIGTERM", async () => {
    const dir = tempApp({ "app.ts": `while (true) {}\nexport default ${START} => { start("200 OK", []); return ["x"]; };\n` });
    const gw = await startGw(["serve", "app.ts", "--port", "0"], { cwd: dir.dir });
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const started = performance.now();
      const exit = await gw.stop("SIGTERM", 10_000);
      expect([exit.code, exit.signal]).toEqual([0, null]);
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  });

  test("what the app writes to stderr as its last request ends reaches the log, across a reload and at SIGTERM", async () => {
    const app = (version: string): string => `export default ${START} => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  const body = (async function* () { yield "${version} "; await new Promise((r) => setTimeout(r, 300)); yield "done"; })();
  return Object.assign(body, { close: () => { for (let i = 0; i < 20; i++) process.stderr.write("APP ${version} closing " + i + "\\n"); } });
};
`;
    const dir = tempApp({ "app.ts": app("v1") });
    const gw = await startGw(["serve", "app.ts", "--port", "0"], { cwd: dir.dir });
    try {
      await gw.waitForStderr(/^gw: watching \d+ files? for changes$/);
      // A reload while v1's request streams: its worker retires once the request is over.
      const slow = get(gw);
      await new Promise((resolve) => setTimeout(resolve, 100));
      dir.write("app.ts", app("v2"));
      await gw.waitForStderr(/^gw: reloaded in \d+ ms/);
      expect((await slow).text).toBe("v1 done");
      await gw.waitForStderr(/^APP v1 closing 19$/);
      // SIGTERM while v2's request streams: it finishes, and so does what its close() wrote.
      const last = get(gw);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const exit = await gw.stop("SIGTERM");
      expect((await last).text).toBe("v2 done");
      expect(exit.code).toBe(0);
      expect(exit.stderr.match(/^APP v2 closing \d+$/gm)).toHaveLength(20);
    } finally {
      await gw.stop();
      dir.remove();
    }
  });


  test("an edit of app.ts, then of an imported lib.ts, changes the response; one notice per reload", async () => {
    const dir = tempApp({ "app.ts": appSource("app v1", { withLib: true }), "lib.ts": 'export const msg: string = "lib v1";\n' });
    const gw = await startGw(["serve", "app.ts", "--port", "0"], { cwd: dir.dir });
    try {
      expect(await get(gw)).toMatchObject({ status: 200, text: "app v1 lib v1" });
      await gw.waitForStderr(/^gw: watching \d+ files? for changes$/);

      dir.write("app.ts", appSource("app v2", { withLib: true }));
      await untilBody(gw, "app v2 lib v1");
      await gw.waitForStderr(/reloaded in \d+ ms.*\(app\.ts\)/);

      dir.write("lib.ts", 'export const msg: string = "lib v2";\n');
      await untilBody(gw, "app v2 lib v2");
      await gw.waitForStderr(/reloaded in \d+ ms.*\(lib\.ts\)/);

      const stderr = gw.stderr();
      expect(lines(stderr, /watching/)).toEqual(["gw: watching 2 files for changes"]);
      const reloads = lines(stderr, /reloaded in/);
      expect(reloads).toHaveLength(2);
      expect(reloads[0]).toMatch(/^gw: reloaded in \d+ ms \(app\.ts\)$/);
      expect(reloads[1]).toMatch(/^gw: reloaded in \d+ ms \(lib\.ts\)$/);
    } finally {
      await gw.stop();
      dir.remove();
    }
  });

  for (const [label, broken, message] of [
    ["a syntax error", 'export default ) => ["never"];\n', "Expression expected"],
    ["a throw at import", 'const where: string = "import";\nthrow new Error(`boom at ${where} time`);\nexport default () => [];\n', "boom at import time"],
  ] as const) {
    test(`${label}: every request gets a 500 naming the file until it is fixed`, async () => {
      const dir = tempApp({ "app.ts": appSource("before") });
      const gw = await startGw(["serve", "app.ts", "--port", "0"], { cwd: dir.dir });
      try {
        expect(await get(gw)).toMatchObject({ status: 200, text: "before" });
        await gw.waitForStderr(/^gw: watching/);

        dir.write("app.ts", broken);
        const text = await pollUntil("a 500 after the broken edit", () => get(gw), (r) => r.status === 500);
        expect(text.type).toMatch(/^text\/plain/);
        expect(text.text).toContain("app.ts");
        expect(text.text).toContain(message);
        // Every request, not only the first.
        expect(await get(gw, "/other?x=1")).toMatchObject({ status: 500 });

        const html = await get(gw, "/", { Accept: "text/html,application/xhtml+xml,*/*;q=0.8" });
        expect(html.status).toBe(500);
        expect(html.type).toMatch(/^text\/html/);
        expect(html.text).toMatch(/^<!doctype html>/i);
        expect(html.text).toContain(message);
        expect(html.text).toContain("app.ts");

        await gw.waitForStderr(new RegExp(message));
        dir.write("app.ts", appSource("after the fix"));
        await untilBody(gw, "after the fix");
      } finally {
        const exit = await gw.stop();
        expect(exit.code).toBe(0);
        dir.remove();
      }
    });
  }

  test("clients looping through 10 reloads see no connection error and only 200s", async () => {
    const dir = tempApp({ "app.ts": appSource("gen 0") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet"], { cwd: dir.dir });
    const errors: string[] = [];
    const statuses = new Map<number, number>();
    const bodies = new Set<string>();
    let isEditing = true;
    const count = (status: number): void => void statuses.set(status, (statuses.get(status) ?? 0) + 1);
    try {
      expect(await get(gw)).toMatchObject({ status: 200, text: "gen 0" });
      await gw.waitForStderr(/^gw: watching/);

      // fetch keeps its connections alive (undici's pool); node:http with agent false opens one per request.
      const keepAlive = async (): Promise<number> => {
        let n = 0;
        while (isEditing) {
          try {
            const res = await fetch(`${gw.url}/`, { signal: AbortSignal.timeout(5_000) });
            const text = await res.text();
            count(res.status);
            bodies.add(text);
            n++;
          } catch (error) {
            errors.push(`fetch: ${String((error as Error).cause ?? error)}`);
          }
        }
        return n;
      };
      const fresh = async (): Promise<number> => {
        let n = 0;
        while (isEditing) {
          try {
            const res = await gw.request("/", { headers: { Connection: "close" } });
            count(res.status);
            bodies.add(res.body.toString());
            n++;
          } catch (error) {
            errors.push(`http: ${String(error)}`);
          }
        }
        return n;
      };
      const clients = Promise.all([keepAlive(), fresh()]);
      try {
        for (let gen = 1; gen <= 10; gen++) {
          await new Promise((resolve) => setTimeout(resolve, 300));
          dir.write("app.ts", appSource(`gen ${gen}`));
        }
        await untilBody(gw, "gen 10");
        await gw.waitForStderr(/reloaded in/);
      } finally {
        isEditing = false;
      }
      const [viaFetch, viaFresh] = await clients;
      expect(errors).toEqual([]);
      expect([...statuses.keys()]).toEqual([200]);
      expect(viaFetch).toBeGreaterThan(10);
      expect(viaFresh).toBeGreaterThan(10);
      // The clients saw the app change under them, not one frozen version.
      expect(bodies.size).toBeGreaterThan(2);
      expect([...bodies].every((body) => /^gen \d+$/.test(body))).toBe(true);
    } finally {
      await gw.stop();
      dir.remove();
    }
  });

  for (const mode of ["reload", "--no-reload"] as const) {
    test(`SIGTERM during a slow request: it completes with 200, then exit 0 (${mode})`, async () => {
      const dir = tempApp({
        "app.ts": `export default async ${START} => {
  (environ["gw.errors"] as { write(text: string): void; flush?(): void }).write("slow request started\\n");
  await new Promise((resolve) => setTimeout(resolve, 1000));
  start("200 OK", [["Content-Type", "text/plain"]]);
  return ["slow but complete"];
};
`,
      });
      const args = ["serve", "app.ts", "--port", "0", ...(mode === "--no-reload" ? ["--no-reload"] : [])];
      const gw = await startGw(args, { cwd: dir.dir });
      try {
        const pending = gw.request("/slow", { timeout: 8_000 });
        await gw.waitForStderr(/slow request started/);
        const startedAt = Date.now();
        process.kill(gw.pid, "SIGTERM");
        const res = await pending;
        expect(res.status).toBe(200);
        expect(res.body.toString()).toBe("slow but complete");
        // One signal only: a second one would mean "force".
        const exit = await gw.waitForExit(8_000);
        expect(exit.signal).toBeNull();
        expect(exit.code).toBe(0);
        expect(Date.now() - startedAt).toBeLessThan(8_000);
        expect(exit.stderr).toMatch(/"GET \/slow HTTP\/1\.1" 200 17$/m);
      } finally {
        await gw.stop("SIGKILL");
        dir.remove();
      }
    });
  }

  test("--no-reload serves from the main thread, without a worker or a watcher", async () => {
    const source = `import { isMainThread } from "node:worker_threads";
export default ${START} => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [\`main thread: \${isMainThread}\`];
};
`;
    const dir = tempApp({ "app.ts": source });
    const plain = await startGw(["serve", "app.ts", "--port", "0", "--no-reload"], { cwd: dir.dir });
    const reloading = await startGw(["serve", "app.ts", "--port", "0"], { cwd: dir.dir });
    try {
      expect(await get(plain)).toMatchObject({ status: 200, text: "main thread: true" });
      expect(await get(reloading)).toMatchObject({ status: 200, text: "main thread: false" });
      await reloading.waitForStderr(/^gw: watching/);
    } finally {
      const [plainExit, reloadingExit] = await Promise.all([plain.stop(), reloading.stop()]);
      dir.remove();
      expect(plainExit.code).toBe(0);
      expect(reloadingExit.code).toBe(0);
      expect(plainExit.stderr).not.toContain("watching");
      expect(plainExit.stderr).not.toContain("reload");
    }
  });

  test("--watch adds a file the app does not import", async () => {
    const dir = tempApp({
      "data.txt": "data v1",
      "app.ts": `import { readFileSync } from "node:fs";
const data = readFileSync(new URL("./data.txt", import.meta.url), "utf8");
export default ${START} => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [data];
};
`,
    });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--watch", "data.txt"], { cwd: dir.dir });
    try {
      expect(await get(gw)).toMatchObject({ status: 200, text: "data v1" });
      await gw.waitForStderr(/^gw: watching 2 files for changes$/);
      dir.write("data.txt", "data v2");
      await untilBody(gw, "data v2");
      expect(await gw.waitForStderr(/reloaded in/)).toMatch(/\(data\.txt\)$/);
    } finally {
      await gw.stop();
      dir.remove();
    }
  });

  test("the validator warns about spec slips while reloading; --no-validate silences it", async () => {
    // No Content-Type: legal for node:http, but the validator flags it.
    const source = `export default ${START} => { start("200 OK", []); return ["sloppy"]; };\n`;
    const dir = tempApp({ "app.ts": source });
    const checked = await startGw(["serve", "app.ts", "--port", "0"], { cwd: dir.dir });
    const unchecked = await startGw(["serve", "app.ts", "--port", "0", "--no-validate"], { cwd: dir.dir });
    try {
      expect(await get(checked)).toMatchObject({ status: 200, text: "sloppy" });
      expect(await get(unchecked)).toMatchObject({ status: 200, text: "sloppy" });
      expect(await checked.waitForStderr(/warning/i)).toMatch(/Content-Type/);
    } finally {
      const [, uncheckedExit] = await Promise.all([checked.stop(), unchecked.stop()]);
      dir.remove();
      expect(uncheckedExit.stderr).not.toMatch(/warning/i);
      expect(uncheckedExit.stderr).toMatch(/"GET \/ HTTP\/1\.1" 200 6$/m);
    }
  });

  test("SIGKILL of gw leaves no process behind", async () => {
    const dir = tempApp({ "app.ts": appSource("alive") });
    // The absolute app path puts the temp dir on gw's command line, so ps can find anything of it.
    const gw = await startGw(["serve", dir.path("app.ts"), "--port", "0"], { cwd: dir.dir });
    const ours = (): string[] =>
      execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" }).split("\n").filter((line) => line.includes(dir.dir));
    try {
      expect(await get(gw)).toMatchObject({ status: 200, text: "alive" });
      await gw.waitForStderr(/^gw: watching/);
      expect(ours().length).toBeGreaterThan(0);
      const exit = await gw.stop("SIGKILL");
      expect(exit.signal).toBe("SIGKILL");
      expect(ours()).toEqual([]);
      await expect(pollUntil("a refused connection", () => get(gw).then(() => "answered", () => "refused"), (r) => r === "refused", 2_000)).resolves.toBe("refused");
    } finally {
      await gw.stop("SIGKILL");
      dir.remove();
    }
  });
});
