import { test } from "vitest";
import { runInMemory } from "../helpers/memory.ts";
import type { App } from "../../src/types.ts";

test("scratch", async () => {
  const err = new Error("boom");
  const app: App = (_e, start) => {
    start("200 OK", [["Content-Type", "text/plain"]]);
    return (async function* () { yield "part1"; start("500 X", [], err); yield "no"; })();
  };
  const r = await runInMemory(app);
  console.log(JSON.stringify({ raw: r.raw.toString(), isCut: r.isCut, errors: r.errors.slice(0, 100) }));
  const head: App = (_e, start) => {
    start("200 OK", [["Content-Type", "text/plain"]]);
    return (function* () { try { yield "a"; yield "b"; yield "c"; } finally { console.log("FINALLY RAN"); } })();
  };
  const h = await runInMemory(head, { REQUEST_METHOD: "HEAD" });
  console.log(JSON.stringify({ raw: h.raw.toString(), isCut: h.isCut, errors: h.errors }));
  const empty: App = (_e, start) => { start("200 OK", [["Content-Length", "10"]]); return []; };
  const e = await runInMemory(empty);
  console.log(JSON.stringify({ raw: e.raw.toString(), isCut: e.isCut, errors: e.errors.slice(0, 100) }));
});
