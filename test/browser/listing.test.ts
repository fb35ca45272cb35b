// The directory listing and a CGI page as a browser renders them: Debian's chromium, headless,
// driven by playwright-core against the built `gw serve --cgi`. It fails, never skips, when
// chromium is missing; .ci/run installs it.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CHROMIUM, launchChromium, MISSING, type Browser } from "../helpers/browser.ts";
import { ROOT, startGw, type GwServer } from "../helpers/gw.ts";

const NAMES = ["<b>bold.txt", "a&b.txt", "space name.txt", "ünïcode.txt", "100%.txt", "q?#.txt"];

let site: string;
let gw: GwServer;
let browser: Browser;
let page: Page | undefined;

beforeAll(async () => {
  // Without chromium every test below fails on its own (counted as failed, not skipped).
  if (!existsSync(CHROMIUM)) return;
  site = mkdtempSync(join(tmpdir(), "gw-browser-site-"));
  mkdirSync(join(site, "files", "sub folder"), { recursive: true });
  for (const name of NAMES) writeFileSync(join(site, "files", name), `content of ${name}`);
  mkdirSync(join(site, "cgi-bin"));
  copyFileSync(join(ROOT, "test", "fixtures", "cgi-bin", "page.py"), join(site, "cgi-bin", "page.py"));
  gw = await startGw(["serve", "--cgi", "--directory", site, "--port", "0", "--quiet"]);
  browser = await launchChromium();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  page.setDefaultTimeout(10_000);
}, 40_000);

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
  if (site !== undefined) rmSync(site, { recursive: true, force: true });
});

/** The browser page, or a failure that says what is missing. */
function tab(): Page {
  if (page === undefined) throw new Error(MISSING);
  return page;
}

describe("in Chromium", () => {
  test("chromium is installed", () => {
    expect(existsSync(CHROMIUM), MISSING).toBe(true);
  });

  test("the listing renders: title, names shown as text in order, folders first and marked", async () => {
    const page = tab();
    const response = await page.goto(`${gw.url}/files/`);
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe("Directory listing for /files/");
    expect(await page.locator("h1").innerText()).toBe("Directory listing for /files/");
    const links = await page.locator("li a").allInnerTexts();
    expect(links).toEqual(["../", "sub folder/", "100%.txt", "<b>bold.txt", "a&b.txt", "q?#.txt", "space name.txt", "ünïcode.txt"]);
    // A name is text, never markup: no <b> element came out of "<b>bold.txt".
    expect(await page.locator("li b").count()).toBe(0);
    expect(await page.locator("footer").innerText()).toBe("1 folder, 6 files");
  });

  test("every link in the listing opens what it names", async () => {
    const page = tab();
    for (const name of NAMES) {
      await page.goto(`${gw.url}/files/`);
      await Promise.all([page.waitForURL((url) => url.pathname !== "/files/"), page.getByRole("link", { name, exact: true }).click()]);
      expect([name, await page.locator("body").innerText()]).toEqual([name, `content of ${name}`]);
    }
    await page.goto(`${gw.url}/files/`);
    await Promise.all([page.waitForURL(`${gw.url}/files/sub%20folder/`), page.getByRole("link", { name: "sub folder/" }).click()]);
    expect(await page.title()).toBe("Directory listing for /files/sub folder/");
    await Promise.all([page.waitForURL(`${gw.url}/files/`), page.getByRole("link", { name: "../" }).click()]);
  });

  test("a folder without its slash redirects, and relative links still work", async () => {
    const page = tab();
    await page.goto(`${gw.url}/files?from=test`);
    expect(page.url()).toBe(`${gw.url}/files/?from=test`);
    expect(await page.locator("li a").count()).toBe(8);
  });

  test("a CGI page renders, and its form posts back to it", async () => {
    const page = tab();
    const response = await page.goto(`${gw.url}/cgi-bin/page.py?x=<i>hi</i>`);
    expect([response?.status(), response?.headers()["content-type"]]).toEqual([200, "text/html; charset=utf-8"]);
    expect(await page.title()).toBe("CGI page");
    expect(await page.locator("#greeting").innerText()).toBe("Hello from /cgi-bin/page.py");
    expect(await page.locator("#method").innerText()).toBe("GET");
    expect(await page.locator("#gateway").innerText()).toBe("CGI/1.1");
    expect(await page.locator("#query").innerText()).toBe("x=%3Ci%3Ehi%3C/i%3E");
    expect(await page.locator("#query i").count()).toBe(0);
    await Promise.all([page.waitForURL(`${gw.url}/cgi-bin/page.py`), page.getByRole("button", { name: "Send" }).click()]);
    expect(await page.locator("#method").innerText()).toBe("POST");
    expect(await page.locator("#posted").innerText()).toBe("word=h%C3%A9llo");
  });
});
