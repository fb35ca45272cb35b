// Several apps under one server: mount() dispatches on the path prefix (longest first) and shifts
// SCRIPT_NAME and PATH_INFO, and compose() wraps the whole in middleware. The /api app is a plain
// Fetch handler run through fromFetchHandler. Run it with `npx gw serve examples/mounted.ts`.
import { application, compose, ctx, fromFetchHandler, json, mount, type App, type Middleware } from "gw";

const home = application([
  ["/", () => "Home. See /blog/ and /api/time\n"],
  ["/(.+)", (rest: string) => `home has no page "${rest}"\n`],
]);

const blog = application([
  ["/?", () => `the blog index, mounted at ${ctx.homepath} (${ctx.home})\n`],
  ["/posts/(\\d+)", (id: string) => json({ post: Number(id), SCRIPT_NAME: ctx.environ.SCRIPT_NAME, PATH_INFO: ctx.path })],
]);

const api = fromFetchHandler((request) => {
  const path = new URL(request.url).pathname;
  if (path === "/api/time") return Response.json({ now: new Date().toISOString() });
  return new Response("no such endpoint\n", { status: 404, headers: { "Content-Type": "text/plain" } });
});

/** Adds X-Served-By to every response, whichever app made it. */
const servedBy: Middleware = (app: App): App => (environ, startResponse) =>
  app(environ, (status, headers, excInfo) => startResponse(status, [...headers, ["X-Served-By", "gw mount example"]], excInfo));

export default compose(servedBy)(mount({ "/": home, "/blog": blog, "/api": api }));
