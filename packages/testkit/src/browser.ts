import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

/**
 * Debian's Chromium with the flags this machine needs (no sandbox as root, no GPU, no QUIC, no background traffic to
 * Google that the closed network refuses) and a fresh profile. playwright-core drives it; `npx playwright install`
 * cannot work here.
 */
export const CHROMIUM_PATH = "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--disable-dev-shm-usage",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface TestBrowser {
  context: BrowserContext;
  /** What went wrong in any page since the last `takeProblems()`: page errors, failed requests, 4xx/5xx answers, CSP violations. */
  takeProblems(): string[];
  close(): Promise<void>;
}

export interface TestBrowserOptions {
  viewport?: { width: number; height: number };
  /** Accept the edge's self-signed certificate (default true). */
  ignoreHTTPSErrors?: boolean;
}

/** Launches headless Chromium with a fresh, throw-away profile. */
export async function launchBrowser(options: TestBrowserOptions = {}): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "patchmon-ws-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    headless: true,
    ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? true,
    viewport: options.viewport ?? { width: 1280, height: 800 },
  });
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on("pageerror", (e) => problems.push(`pageerror ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`failed ${r.url()} ${r.failure()?.errorText ?? ""}`));
    page.on("response", (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    });
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console ${m.text()}`);
    });
  };
  // CSP violations raise no console error by themselves: report each as one.
  await context.addInitScript(() => {
    const g = globalThis as unknown as { document: { addEventListener(t: string, f: (e: { violatedDirective: string; blockedURI: string }) => void): void }; console: Console };
    g.document.addEventListener("securitypolicyviolation", (e) => g.console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  context.on("page", watch);
  for (const page of context.pages()) watch(page);
  return {
    context,
    takeProblems: () => problems.splice(0),
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
