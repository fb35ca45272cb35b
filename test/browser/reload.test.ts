// The dev server's error page as a browser sees it: a broken app shows the message and the file,
// and once a save fixes the code the page reloads itself into the app's new response.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, expect, test } from "vitest";
import { startGw, tempApp, type GwServer, type TempApp } from "../helpers/gw.ts";

const CHROMIUM = "/usr/bin/chromium";
let gw: GwServer | undefined;
let app: TempApp | undefined;
let browser: BrowserContext | undefined;
let profile: string | undefined;

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
  app?.remove();
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
});

test("a broken app's error page names the problem, then turns into the fixed app by itself", async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: .ci/run installs Debian's chromium`).toBe(true);
  app = tempApp({ "app.ts": `export default (env: unknown, start: Function) => {\n  start("200 OK", [["Content-Type", "text/html"]]);\n  return ["<h1>fixed " +;\n};\n` }, "gw-browser-reload-");
  gw = await startGw(["serve", "app.ts", "--port", "0", "--quiet"], { cwd: app.dir });
  await gw.waitForStderr(/waiting for a change/);
  profile = mkdtempSync(join(tmpdir(), "gw-browser-profile-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 20_000,
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
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
