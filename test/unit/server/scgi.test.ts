// The SCGI server over a real socket: a body read across chunks, a head in pieces, a client that
// half-closes, a request whose body is never read, and a failed answer reset rather than ended.
import { connect } from "node:net";
import { afterEach, expect, test } from "vitest";
import type { App, Chunk } from "../../../src/core/types.ts";
import { validator } from "../../../src/core/validate.ts";
import { bindListener, portOf } from "../../../src/server/listen.ts";
import { encodeScgiHead } from "../../../src/server/scgi-netstring.ts";
import { serveScgi, type ScgiServer } from "../../../src/server/scgi.ts";
import { recordingSink } from "../../helpers/gateways.ts";
import { sleep } from "../../helpers/http-client.ts";

let server: ScgiServer | undefined;
afterEach(async () => {
  await server?.shutdown(500);
  server = undefined;
});

async function start(app: App): Promise<number> {
  const listener = await bindListener({ host: "127.0.0.1", port: 0 });
  server = serveScgi(listener, app, { log: null, errors: recordingSink() });
  return portOf(listener)!;
}

/** Sends `parts` with a pause between them, half-closes, and resolves with the answer and how it ended. */
function exchange(port: number, parts: Buffer[]): Promise<{ text: string; isReset: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    let isReset = false;
    socket.on("data", (data: Buffer) => (text += data.toString("latin1")));
    socket.on("error", () => (isReset = true));
    socket.on("close", () => resolve({ text, isReset }));
    void (async () => {
      for (const part of parts) {
        socket.write(part);
        await sleep(10);
      }
      socket.end();
    })();
  });
}

const counter: App = validator(async (environ, start) => {
  const body = await environ["gw.input"].read();
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [`${environ.CONTENT_LENGTH} ${body.byteLength} ${Buffer.from(body).subarray(-3).toString()}`];
});

test("a head in pieces and a body across chunks are read whole, exactly CONTENT_LENGTH bytes", async () => {
  const port = await start(counter);
  const head = encodeScgiHead(300_000, [["REQUEST_METHOD", "POST"]]);
  const body = Buffer.alloc(300_000, 0x61);
  body.write("xyz", 300_000 - 3);
  const { text } = await exchange(port, [head.subarray(0, 5), head.subarray(5), body.subarray(0, 1000), body.subarray(1000), Buffer.from("extra")]);
  expect(text).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n\r\n300000 300000 xyz");
});

test("an app that never reads its body still answers", async () => {
  const port = await start(validator((_environ, start) => {
    start("200 OK", [["Content-Type", "text/plain"]]);
    return ["ignored"];
  }));
  const { text } = await exchange(port, [encodeScgiHead(100_000), Buffer.alloc(100_000)]);
  expect(text.endsWith("\r\n\r\nignored")).toBe(true);
});

test("an error after the first chunk resets the connection: the answer cannot pass as whole", async () => {
  const port = await start(validator((_environ, start) => {
    start("200 OK", [["Content-Type", "text/plain"]]);
    return (async function* (): AsyncGenerator<Chunk> {
      yield "first";
      await sleep(20);
      throw new Error("boom");
    })();
  }));
  const socket = connect(port, "127.0.0.1");
  socket.write(encodeScgiHead(0));
  const ended = await new Promise<string>((resolve) => {
    socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
    socket.on("end", () => resolve("end"));
    socket.resume();
  });
  expect(ended).toBe("ECONNRESET");
});

test("a request without a body is closed as soon as its answer is out, not when the web server closes", async () => {
  const port = await start(validator((_environ, start) => {
    start("200 OK", [["Content-Type", "text/plain"]]);
    return ["hello"];
  }));
  // A client that keeps its own side open, as nginx does until it has read the whole answer.
  const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  socket.write(encodeScgiHead(0, [["REQUEST_METHOD", "GET"]]));
  let text = "";
  socket.on("data", (data: Buffer) => (text += data.toString("latin1")));
  const ended = await new Promise<string>((resolve) => {
    socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
    socket.on("end", () => resolve("end"));
  });
  expect(ended).toBe("end");
  expect(text).toBe("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  // gw's socket is gone although this client never closed: nothing is left for shutdown to wait on.
  const listener = server!.listener;
  await expect.poll(() => new Promise<number>((resolve) => listener.getConnections((_error, count) => resolve(count)))).toBe(0);
  socket.destroy();
});

test("a streamed answer larger than the socket buffers reaches a slow reader whole before the close", async () => {
  const size = 128 * 65_536;
  const port = await start(validator((_environ, start) => {
    start("200 OK", [["Content-Type", "application/octet-stream"]]);
    return (async function* (): AsyncGenerator<Chunk> {
      for (let i = 0; i < 128; i++) yield Buffer.alloc(65_536, 0x78);
    })();
  }));
  for (let round = 0; round < 3; round++) {
    const socket = connect(port, "127.0.0.1");
    socket.write(encodeScgiHead(0));
    // Not reading yet: the answer piles up in gw's socket when the app ends.
    socket.pause();
    await sleep(200);
    let received = 0;
    socket.on("data", (data: Buffer) => (received += data.byteLength));
    const isReset = await new Promise<boolean>((resolve) => {
      socket.on("error", () => resolve(true));
      socket.on("close", () => resolve(false));
      socket.resume();
    });
    expect(isReset).toBe(false);
    // The head (status and type) and then every body byte.
    expect(received).toBe("Status: 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n".length + size);
  }
});
