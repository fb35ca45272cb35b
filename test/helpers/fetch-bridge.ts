// A tiny Fetch host over node:http, as Bun or Deno would be: each request becomes a Request,
// the handler's Response is written back as it streams. It tells the handler the client address
// and HTTP version through FetchInfo, cancels the body when the client goes away, and cuts the
// connection when the body stream errors. Used to run the conformance suite through toFetchHandler.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { FetchInfo } from "../../src/adapters/to-fetch.ts";
import { serveListener } from "./gateways.ts";

/** What the bridge calls for each request. */
export type BridgedHandler = (request: Request, info: FetchInfo) => Response | Promise<Response>;

/** A listening bridge. */
export interface FetchBridge {
  /** http://127.0.0.1:PORT/ */
  url: string;
  close(): Promise<void>;
}

async function handle(handler: BridgedHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  const headers: [string, string][] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  const request = new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
    method: req.method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : null,
    signal: abort.signal,
    duplex: "half",
  } as RequestInit);
  let response: Response;
  try {
    response = await handler(request, { remoteAddr: req.socket.remoteAddress ?? "", serverProtocol: `HTTP/${req.httpVersion}` });
  } catch {
    res.writeHead(500, { "Content-Length": "0" }).end();
    return;
  }
  const out: [string, string][] = [];
  for (const [name, value] of response.headers) if (name !== "set-cookie") out.push([name, value]);
  for (const cookie of response.headers.getSetCookie()) out.push(["set-cookie", cookie]);
  res.writeHead(response.status, response.statusText, out.flat());
  if (response.body === null || req.method === "HEAD") {
    await response.body?.cancel();
    res.end();
    return;
  }
  const reader = response.body.getReader();
  res.on("close", () => {
    if (!res.writableFinished) reader.cancel().catch(() => undefined);
  });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off("drain", done);
            res.off("close", done);
            resolve();
          };
          res.on("drain", done);
          res.on("close", done);
        });
      }
    }
    res.end();
  } catch {
    // The body failed after the headers: the client must see an incomplete response.
    res.destroy();
  }
}

/** Serves `handler` on 127.0.0.1 with a free port. */
export function serveFetch(handler: BridgedHandler): Promise<FetchBridge> {
  return serveListener((req, res) => void handle(handler, req, res));
}
