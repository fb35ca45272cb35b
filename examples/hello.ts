// The smallest gw app: a function of the environ and startResponse that returns the body.
// Run it with `npx gw serve examples/hello.ts` and open http://127.0.0.1:8000/.
import type { App } from "gw";

const hello: App = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
  return [`Hello, world! You asked for ${environ.PATH_INFO}\n`];
};

export default hello;
