// OpenConnections: drain() closes idle connections (after the grace), waits for busy ones, and
// cuts what is left when the timeout ends.
import { createServer } from "node:net";
import { once } from "node:events";
import { expect, test } from "vitest";
import { OpenConnections } from "../../../src/server/open-connections.ts";

interface Fake {
  name: string;
  isIdle: boolean;
}

async function listening(): Promise<ReturnType<typeof createServer>> {
  const listener = createServer().listen(0, "127.0.0.1");
  await once(listener, "listening");
  return listener;
}

test("idle connections are closed at once, busy ones are waited for, and the listener stops", async () => {
  const open = new OpenConnections<Fake>();
  const idle = { name: "idle", isIdle: true };
  const marked = { name: "marked", isIdle: true };
  const working = { name: "working", isIdle: false };
  for (const connection of [idle, marked, working]) open.add(connection);
  open.markBusy(marked);
  const closed: string[] = [];
  const listener = await listening();
  let isDone = false;
  const drained = open.drain(listener, {
    timeout: 5_000,
    isIdle: (connection) => connection.isIdle,
    closeIdle: (connection) => {
      closed.push(connection.name);
      open.delete(connection);
    },
    destroy: (connection) => closed.push(`cut ${connection.name}`),
  }).then(() => (isDone = true));
  expect(closed).toEqual(["idle"]);
  expect(listener.listening).toBe(false);
  open.delete(marked);
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(isDone).toBe(false);
  open.delete(working);
  await drained;
  expect(open.size).toBe(0);
});

test("the grace delays closing idle connections, and the timeout cuts every one left", async () => {
  const open = new OpenConnections<Fake>();
  const late = { name: "late", isIdle: true };
  const stuck = { name: "stuck", isIdle: false };
  open.add(late);
  open.add(stuck);
  const events: string[] = [];
  const started = performance.now();
  await open.drain(await listening(), {
    timeout: 150,
    idleGrace: 50,
    isIdle: (connection) => connection.isIdle,
    closeIdle: (connection) => {
      events.push(`close ${connection.name} after ${performance.now() - started >= 45 ? "grace" : "none"}`);
      open.delete(connection);
    },
    destroy: (connection) => {
      events.push(`cut ${connection.name}`);
      open.delete(connection);
    },
  });
  expect(events).toEqual(["close late after grace", "cut stuck"]);
  expect(performance.now() - started).toBeGreaterThanOrEqual(145);
});
