// `gw serve --livereload` as a browser sees it: an HTML page reloads itself after a save; JSON
// and pages without the flag are left as the app sent them.
import { existsSync } from "node:fs";
import { afterAll, expect, test } from "vitest";
import { CHROMIUM, launchChromium, MISSING, type Browser } from "../helpers/browser.ts";
import { startGw, tempApp, type GwServer, type TempApp } from "../helpers/gw.ts";

let gw: GwServer | undefined;
let plain: GwServer | undefined;
let app: TempApp | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
  await plain?.stop();
  app?.remove();
});

const page = (version: string): string => `export default (env: { PATH_INFO: string }, start: Function) => {
  if (env.PATH_INFO === "/data") {
    start("200 OK", [["Content-Type", "application/json"]]);
    return ['{"v":"${version}"}'];
  }
  start("200 OK", [["Content-Type", "text/html; charset=utf-8"]]);
  return ["<!DOCTYPE html><title>t</title><h1>${version}</h1>"];
};
`;

test("an HTML page reloads after a save; other responses are untouched", async () => {
  expect(existsSync(CHROMIUM), MISSING).toBe(true);
  app = tempApp({ "app.ts": page("one") }, "gw-livereload-");
  gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet", "--livereload"], { cwd: app.dir });
  plain = await startGw(["serve", "app.ts", "--port", "0", "--quiet"], { cwd: app.dir });

  const html = await gw.request("/");
  expect(html.body.toString()).toMatch(/^<!DOCTYPE html><title>t<\/title><h1>one<\/h1><script>/);
  expect(html.headers["content-length"]).toBeUndefined();
  const json = await gw.request("/data");
  expect([json.body.toString(), json.headers["content-length"]]).toEqual(['{"v":"one"}', "11"]);
  expect((await plain.request("/")).body.toString()).toBe("<!DOCTYPE html><title>t</title><h1>one</h1>");

  await gw.waitForStderr(/watching \d+ files? for changes/);
  browser = await launchChromium();
  const tab = browser.context.pages()[0] ?? (await browser.context.newPage());
  tab.setDefaultTimeout(10_000);
  await tab.goto(gw.url + "/");
  expect(await tab.locator("h1").textContent()).toBe("one");
  // Let the page read the current generation before the save.
  await tab.waitForTimeout(700);
  app.write("app.ts", page("two"));
  // No navigation from the test: the injected script reloads the page.
  await tab.waitForFunction(`document.querySelector("h1")?.textContent === "two"`, undefined, { timeout: 10_000 });
}, 60_000);
