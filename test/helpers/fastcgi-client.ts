// A raw FastCGI client for the tests: sends records as a web server would (or would never), and
// collects what comes back per request id.
import { connect, type Socket } from "node:net";
import {
  encodeBeginRequestBody, encodePairs, encodeRecord, FCGI_END_REQUEST, FCGI_KEEP_CONN, FCGI_PARAMS, FCGI_RESPONDER, FCGI_STDERR,
  FCGI_STDIN, FCGI_STDOUT, FCGI_BEGIN_REQUEST, parseEndRequestBody, RecordReader,
} from "../../src/server/fastcgi-records.ts";

/** What came back for one request id. */
export interface FastCgiReply {
  stdout: Buffer;
  stderr: Buffer;
  /** Set once END_REQUEST arrived. */
  end?: { appStatus: number; protocolStatus: number };
}

/** Where a FastCGI server listens: a port on 127.0.0.1 or a socket path. */
export type FastCgiAddress = number | string;

/** The records of one whole request: BEGIN_REQUEST, PARAMS (ended), STDIN (ended). */
export function requestRecords(id: number, params: Record<string, string>, body: Uint8Array | string = "", flags: number = 0, role: number = FCGI_RESPONDER): Buffer {
  const data = typeof body === "string" ? Buffer.from(body) : Buffer.from(body);
  const parts = [encodeRecord(FCGI_BEGIN_REQUEST, id, encodeBeginRequestBody(role, flags))];
  const pairs = encodePairs(Object.entries(params));
  for (let at = 0; at < pairs.length; at += 1000) parts.push(encodeRecord(FCGI_PARAMS, id, pairs.subarray(at, at + 1000)));
  parts.push(encodeRecord(FCGI_PARAMS, id));
  for (let at = 0; at < data.length; at += 65535) parts.push(encodeRecord(FCGI_STDIN, id, data.subarray(at, at + 65535)));
  parts.push(encodeRecord(FCGI_STDIN, id));
  return Buffer.concat(parts);
}

/** A connection to a FastCGI server that records every reply by request id. */
export class FastCgiConnection {
  readonly socket: Socket;
  readonly replies = new Map<number, FastCgiReply>();
  /** Management records (request id 0) as [type, content]. */
  readonly management: [number, Buffer][] = [];
  isClosed = false;
  readonly #watchers = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    const reader = new RecordReader((type, id, content) => {
      if (id === 0) this.management.push([type, Buffer.from(content)]);
      else {
        let reply = this.replies.get(id);
        if (reply === undefined) this.replies.set(id, (reply = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) }));
        if (type === FCGI_STDOUT) reply.stdout = Buffer.concat([reply.stdout, content]);
        else if (type === FCGI_STDERR) reply.stderr = Buffer.concat([reply.stderr, content]);
        else if (type === FCGI_END_REQUEST) {
          const end = parseEndRequestBody(content);
          if (typeof end !== "string") reply.end = end;
        }
      }
      this.#notify();
      return undefined;
    });
    socket.on("data", (chunk: Buffer) => reader.push(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      this.isClosed = true;
      this.#notify();
    });
  }

  /** Connects to `address`. */
  static open(address: FastCgiAddress): Promise<FastCgiConnection> {
    return new Promise((resolve, reject) => {
      const socket = typeof address === "number" ? connect(address, "127.0.0.1") : connect(address);
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new FastCgiConnection(socket));
      });
    });
  }

  #notify(): void {
    for (const watcher of this.#watchers) watcher();
  }

  send(data: Uint8Array): void {
    this.socket.write(data);
  }

  /** Resolves once `check` holds, or rejects after `timeout` ms. */
  waitFor(what: string, check: () => boolean, timeout: number = 5_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const poll = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.#watchers.delete(poll);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#watchers.delete(poll);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeout);
      this.#watchers.add(poll);
      poll();
    });
  }

  /** Resolves with request `id`'s reply once its END_REQUEST arrived. */
  async reply(id: number, timeout?: number): Promise<FastCgiReply> {
    await this.waitFor(`END_REQUEST for request ${id}`, () => this.replies.get(id)?.end !== undefined, timeout);
    return this.replies.get(id)!;
  }

  /** Resolves once the server closed the connection. */
  closed(timeout?: number): Promise<void> {
    return this.waitFor("the connection to close", () => this.isClosed, timeout);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One request on a fresh connection; resolves with its reply and whether the server then closed. */
export async function fastcgiRequest(address: FastCgiAddress, params: Record<string, string>, body: Uint8Array | string = "", isKeepConn: boolean = false): Promise<FastCgiReply> {
  const connection = await FastCgiConnection.open(address);
  try {
    connection.send(requestRecords(1, params, body, isKeepConn ? FCGI_KEEP_CONN : 0));
    return await connection.reply(1);
  } finally {
    connection.close();
  }
}

/** A reply's CGI head and body. */
export function splitResponse(stdout: Buffer): { head: string; body: Buffer } {
  const end = stdout.indexOf("\r\n\r\n");
  return { head: stdout.subarray(0, end).toString("latin1"), body: stdout.subarray(end + 4) };
}
