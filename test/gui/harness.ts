// Shared set-up of the GUI tests: a real embedded facility, the GUI server on a free port, and Debian's
// Chromium driven by playwright-core. Screenshots go to test-artifacts/gui/.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

export const ARTIFACTS = join("test-artifacts", "gui");

/** Chromium flags for a root, GPU-less, offline machine. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A browser (playwright gives every launch a fresh temporary profile and removes it on close). */
export async function launchBrowser(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
  return { browser, close: () => browser.close() };
}

/** Saves a screenshot as a test artefact and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** Logs in through the page's header form. */
export async function login(page: Page, user: string, password: string): Promise<void> {
  await page.getByTestId("login-user").fill(user);
  await page.getByTestId("login-password").fill(password);
  await page.getByTestId("login").click();
  await page.getByTestId("logout").waitFor();
}
