// A streaming response: the handler returns an async generator, and each chunk goes to the
// client as it is made (chunked on HTTP/1.1), with backpressure from a slow client.
// Run it with `npx gw serve examples/streaming.ts` and `curl -N http://127.0.0.1:8000/count/5`.
import { application, ctx } from "gw";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function* count(to: number, delay: number): AsyncGenerator<string> {
  for (let i = 1; i <= to; i++) {
    if (i > 1) await sleep(delay);
    yield `${i}\n`;
  }
  yield "done\n";
}

export default application([
  ["/", () => "Try /count/5 (one line every 200 ms, or ?delay=MS)\n"],
  ["/count/(\\d{1,4})", (to: string) => {
    const delay = Number(new URLSearchParams(ctx.environ.QUERY_STRING).get("delay") ?? 200);
    return count(Number(to), Math.min(Math.max(delay, 0), 5_000));
  }],
]);
