// Debian's chromium, headless, as every browser test starts it: a fresh profile, and the flags
// that keep it off the network this machine does not have.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

/** Where Debian's chromium package puts the browser; .ci/run installs it. */
export const CHROMIUM = "/usr/bin/chromium";

/** The failure message when chromium is missing (tests fail then, never skip). */
export const MISSING = `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does`;

/** A running headless chromium; close() also removes its profile. */
export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches headless chromium with a fresh profile. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(MISSING);
  const profile = mkdtempSync(join(tmpdir(), "gw-browser-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 20_000,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
