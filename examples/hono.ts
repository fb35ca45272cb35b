// A Hono app, unchanged, under gw: `gw serve` sees that the default export has a fetch method and
// wraps it with fromFetchHandler. Run it with `npx gw serve examples/hono.ts`.
import { Hono } from "hono";

const app = new Hono();

app.get("/", (c) => c.text("Hello from Hono, served by gw\n"));
app.get("/users/:id", (c) => c.json({ id: c.req.param("id"), verbose: c.req.query("verbose") === "1" }));
app.post("/echo", async (c) => {
  const body = await c.req.text();
  return c.text(body, 201, { "X-Echo-Length": String(body.length) });
});
app.get("/cookie", (c) => {
  c.header("Set-Cookie", "flavour=oat; Path=/", { append: true });
  c.header("Set-Cookie", "theme=dark; Path=/", { append: true });
  return c.text("two cookies set\n");
});

export default app;
