// The dev server's error page as a browser sees it: a broken app shows the message and the file,
// and once a save fixes the code the page reloads itself into the app's new response.
import { existsSync } from "node:fs";
import { afterAll, expect, test } from "vitest";
import { CHROMIUM, launchChromium, MISSING, type Browser } from "../helpers/browser.ts";
import { startGw, tempApp, type GwServer, type TempApp } from "../helpers/gw.ts";

let gw: GwServer | undefined;
let app: TempApp | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
  app?.remove();
});

test("a broken app's error page names the problem, then turns into the fixed app by itself", async () => {
  expect(existsSync(CHROMIUM), MISSING).toBe(true);
  app = tempApp({ "app.ts": `export default (env: unknown, start: Function) => {\n  start("200 OK", [["Content-Type", "text/html"]]);\n  return ["<h1>fixed " +;\n};\n` }, "gw-browser-reload-");
  gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet"], { cwd: app.dir });
  await gw.waitForStderr(/waiting for a change/);
  browser = await launchChromium();
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  page.setDefaultTimeout(10_000);

  const response = await page.goto(gw.url + "/");
  expect(response?.status()).toBe(500);
  expect(await page.locator("h1").textContent()).toBe("The app failed to load");
  expect(await page.locator("body").textContent()).toContain("app.ts:3");

  app.write("app.ts", `export default (env: unknown, start: Function) => {\n  start("200 OK", [["Content-Type", "text/html"]]);\n  return ["<h1>fixed</h1>"];\n};\n`);
  // No navigation from the test: the page polls the dev server and reloads itself.
  await page.waitForFunction(`document.querySelector("h1")?.textContent === "fixed"`, undefined, { timeout: 10_000 });
  expect(await page.title()).not.toContain("failed");
}, 60_000);
