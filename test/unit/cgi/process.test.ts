// startScript: a script as its own process group, with stdin fed, stderr logged, a timeout and kills.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { startScript, type ScriptProcessOptions } from "../../../src/cgi/process.ts";
import { inputFromBytes } from "../../../src/core/input.ts";
import { waitUntil } from "../../helpers/http-client.ts";

function options(script: string, extra: Partial<ScriptProcessOptions> = {}): ScriptProcessOptions & { log(): string; events: string[] } {
  let log = "";
  const events: string[] = [];
  return {
    launch: { command: "/bin/sh", args: ["-c", script, "sh"] },
    args: [],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    cwd: "/",
    input: undefined,
    errors: { write: (text: string) => void (log += text), writelines: () => undefined, flush: () => undefined },
    name: "/cgi-bin/test.sh",
    timeout: 10_000,
    onExit: () => events.push("exit"),
    onSettled: () => events.push("settled"),
    log: () => log,
    events,
    ...extra,
  };
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

describe("startScript", () => {
  test("stdin from the input, stdout to read, exit then settled once", async () => {
    const opts = options("cat; echo done", { input: inputFromBytes("from the request\n") });
    const script = startScript(opts)!;
    expect(await readAll(script.stdout)).toBe("from the request\ndone\n");
    script.stdoutDone();
    expect(await script.exited).toEqual({ code: 0, signal: null, hasFailedToStart: false });
    await waitUntil("settled", () => opts.events.includes("settled"));
    expect(opts.events).toEqual(["exit", "settled"]);
  });

  test("stderr: one log line per line, named, control characters escaped, long lines cut", async () => {
    const opts = options(`printf 'one\\ntwo\\033[31m\\n' >&2; head -c 20000 /dev/zero | tr '\\0' x >&2`);
    const script = startScript(opts)!;
    await readAll(script.stdout);
    await script.exited;
    await waitUntil("the last stderr piece", () => opts.log().split("\n").length >= 6);
    const lines = opts.log().split("\n").filter((line) => line !== "");
    expect(lines.slice(0, 2)).toEqual(["/cgi-bin/test.sh: one", "/cgi-bin/test.sh: two\\x1b[31m"]);
    expect(lines.slice(2).map((line) => line.length - "/cgi-bin/test.sh: ".length)).toEqual([8192, 8192, 20000 - 2 * 8192]);
  });

  test("the timeout kills the whole group, children included", async () => {
    const opts = options("sleep 30 & sleep 30; echo never", { timeout: 300 });
    const script = startScript(opts)!;
    // The timeout closes stdout under the reader, so it ends early.
    const output = await readAll(script.stdout).catch((error: Error) => `(${error.message})`);
    const exit = await script.exited;
    expect([output, exit.signal, script.isTimedOut]).toEqual(["(Premature close)", "SIGKILL", true]);
    expect(opts.log()).toContain("gw: CGI /cgi-bin/test.sh: killed: still running after 0.3 s (--cgi-timeout)");
  });

  test("the timeout ends stdout even when a child escaped the group with setsid and holds the pipe", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-setsid-"));
    const pidFile = join(dir, "pid");
    const opts = options(`setsid sh -c 'echo $$ > ${pidFile}; exec sleep 1000' & echo 'Content-Type: text/plain'; echo; sleep 1000`, { timeout: 300 });
    const script = startScript(opts)!;
    const started = Date.now();
    await readAll(script.stdout).catch(() => "");
    expect([script.isTimedOut, Date.now() - started < 3_000]).toEqual([true, true]);
    await waitUntil("settled", () => opts.events.includes("settled"));
    // The escaped child is outside the group, so no kill of ours reached it: end it by its pid.
    await waitUntil("the escaped child's pid", () => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() !== "");
    process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  test("terminate kills it now and throws its output away", async () => {
    const opts = options("echo start; sleep 30");
    const script = startScript(opts)!;
    script.terminate();
    expect((await script.exited).signal).toBe("SIGKILL");
    await waitUntil("settled", () => opts.events.includes("settled"));
  });

  test("a missing interpreter: a log line and hasFailedToStart, with onExit still called", async () => {
    const opts = options("", { launch: { command: "/no/such/interpreter", args: [] } });
    const script = startScript(opts)!;
    expect((await script.exited).hasFailedToStart).toBe(true);
    // A script run as itself was there a moment ago: what is missing is the interpreter its #! names.
    expect(opts.log()).toContain("gw: CGI /cgi-bin/test.sh: cannot start it: the interpreter on its #! line was not found");
    expect(opts.events[0]).toBe("exit");
    const assigned = options("", { launch: { command: "/no/such/php-cgi", args: ["/srv/x.php"] } });
    expect((await startScript(assigned)!.exited).hasFailedToStart).toBe(true);
    expect(assigned.log()).toContain("cannot start it: /no/such/php-cgi was not found");
  });

  test("spawn refusing its arguments at once (a NUL byte) gives undefined and a log line", () => {
    const opts = options("echo", { args: ["a\0b"] });
    expect(startScript(opts)).toBeUndefined();
    expect(opts.log()).toContain("cannot start it");
  });
});
