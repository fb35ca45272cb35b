// `gw serve --inspect` from the outside: one inspector port for the dev server; a CDP client
// that enables the NodeWorker domain sees each reload's worker and can pause in the new code.
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { describe, expect, test } from "vitest";
import { pollUntil, runGw, startGw, tempApp } from "../helpers/gw.ts";

const app = (version: string): string => `export default (environ: Record<string, unknown>, start: (s: string, h: [string, string][]) => unknown) => {
  const version = "${version}";
  debugger;
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [version];
};
`;

type Message = { id?: number; method?: string; params?: Record<string, unknown>; result?: unknown };

/** A tiny CDP client over Node's WebSocket: send() resolves with the result, events are kept. */
async function cdp(url: string): Promise<{ send(method: string, params?: object): Promise<unknown>; events: Message[]; close(): void }> {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  const events: Message[] = [];
  const waiting = new Map<number, (result: unknown) => void>();
  let ids = 0;
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as Message;
    if (message.id !== undefined) waiting.get(message.id)?.(message.result);
    else events.push(message);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve) => {
        const id = ++ids;
        waiting.set(id, resolve);
        socket.send(JSON.stringify({ id, method, params }));
      }),
    events,
    close: () => socket.close(),
  };
}

describe("gw serve --inspect", () => {
  test("each reload is a new worker target, and a debugger statement in the new code pauses it", async () => {
    const dir = tempApp({ "app.ts": app("v1") });
    const gw = await startGw(["serve", "app.ts", "--port", "0", "--inspect=0"], { cwd: dir.dir });
    try {
      const line = await gw.waitForStderr(/^gw: inspector on ws:\/\//);
      const client = await cdp(/(ws:\/\/\S+)/.exec(line)![1]!);
      try {
        await client.send("NodeWorker.enable", { waitForDebuggerOnStart: false });
        const attached = (): string[] => client.events.filter((event) => event.method === "NodeWorker.attachedToWorker").map((event) => String(event.params!.sessionId));
        const enabled = new Set<string>();
        let messageId = 0;
        const toWorker = (sessionId: string, method: string): Promise<unknown> =>
          client.send("NodeWorker.sendMessageToWorker", { sessionId, message: JSON.stringify({ id: ++messageId, method }) });
        // Turns the debugger on in every worker there is, then requests "/": the worker serving it stops at `debugger`.
        const pausedRequest = async (): Promise<{ sessionId: string; body: string }> => {
          for (const sessionId of attached().filter((id) => !enabled.has(id))) {
            enabled.add(sessionId);
            await toWorker(sessionId, "Debugger.enable");
          }
          const seen = client.events.length;
          const response = gw.request("/");
          const paused = await pollUntil("a worker paused", async () =>
            client.events.slice(seen).find((event) => event.method === "NodeWorker.receivedMessageFromWorker" && String(event.params!.message).includes('"Debugger.paused"')), (found) => found !== undefined, 10_000);
          const sessionId = String(paused!.params!.sessionId);
          await toWorker(sessionId, "Debugger.resume");
          return { sessionId, body: (await response).body.toString() };
        };
        await pollUntil("the workers are targets", async () => attached().length, (count) => count >= 1);
        await gw.waitForStderr(/watching \d+ files? for changes/);
        const first = await pausedRequest();
        expect(first.body).toBe("v1");
        const before = new Set(attached());
        dir.write("app.ts", app("v2"));
        await gw.waitForStderr(/reloaded in \d+ ms/, 10_000);
        // Each reload boots another worker (the next standby), which appears as a new target.
        await pollUntil("a new worker target after the reload", async () => attached().filter((id) => !before.has(id)).length, (count) => count >= 1);
        const second = await pausedRequest();
        expect(second.body).toBe("v2");
        expect(second.sessionId).not.toBe(first.sessionId);
      } finally {
        client.close();
      }
    } finally {
      await gw.stop();
      dir.remove();
    }
  }, 60_000);

  test("--inspect before APP takes APP for its port: one line that says so", async () => {
    const run = await runGw(["serve", "--inspect", "app.ts"]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual([expect.stringMatching(/"app\.ts" is not a port; put APP before --inspect, or write --inspect=PORT$/)]);
  });

  test("a port in use is one line and exit 1, not a crash", async () => {
    const dir = tempApp({ "app.ts": app("v1") });
    const busy = createServer().listen(0, "127.0.0.1");
    try {
      await once(busy, "listening");
      const port = (busy.address() as AddressInfo).port;
      const run = await runGw(["serve", "app.ts", "--port", "0", `--inspect=${port}`], { cwd: dir.dir });
      expect(run.exitCode).toBe(1);
      // Node prints its own line first; gw's is the last, and there is no stack.
      expect(run.stderr.trim().split("\n").at(-1)).toBe(`gw: cannot open the inspector on 127.0.0.1:${port}: the port is in use; use --inspect=0 for a free port`);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    } finally {
      busy.close();
      dir.remove();
    }
  });
});
