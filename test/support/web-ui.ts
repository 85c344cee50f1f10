/**
 * The harness of the web UI's browser tests: the whole local stack (auth, agent-ws, terminal-ws, bullboard and web
 * behind the TLS edge, recording terminal sessions), a real OpenSSH sshd, reference agents, and one headless Chromium
 * whose isolated contexts (one per signed-in person) record what went wrong: page errors, failed requests, 4xx/5xx
 * answers, console errors and Content-Security-Policy violations.
 */
import { localEdge } from "@patchmon-ws/edge";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";
import { ReferenceAgent } from "@patchmon-ws/agent";
import type { CreatedHostResponse, HostRecord, Permission, UserView } from "@patchmon-ws/protocol";
import { CHROMIUM_ARGS, CHROMIUM_PATH, startSshd, type TestSshd } from "@patchmon-ws/testkit";
import { REPO_ROOT, startStack, type RunningService, type Stack } from "@patchmon-ws/stack";

export const WEB_DIST = join(REPO_ROOT, "web", "dist");
export const SCREENSHOT_DIR = join(REPO_ROOT, ".screenshots");

let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}-${Date.now().toString(36)}`;

/** The stack, the sshd and the reference agents the tests start. */
export class WebStack {
  private readonly agents = new Set<ReferenceAgent>();
  private readonly dir = mkdtempSync(join(tmpdir(), "patchmon-ws-web-ui-"));

  private constructor(
    readonly stack: Stack,
    readonly sshd: TestSshd,
  ) {}

  static async start(): Promise<WebStack> {
    if (!existsSync(join(WEB_DIST, "index.html"))) throw new Error("web/dist is not built: run `npm run build:web` before the browser tests");
    const [sshd, stack] = await Promise.allSettled([
      startSshd(),
      startStack({
        services: ["auth", "agent-ws", "terminal-ws", "bullboard", "web"],
        edge: localEdge({ healthCheckIntervalMs: 500 }),
        serviceEnv: { "terminal-ws": { RECORD_SESSIONS: "true" } },
        timeoutMs: 60_000,
      }),
    ]);
    if (sshd.status === "rejected" || stack.status === "rejected") {
      if (sshd.status === "fulfilled") await sshd.value.dispose();
      if (stack.status === "fulfilled") await stack.value.stop();
      throw sshd.status === "rejected" ? sshd.reason : (stack as PromiseRejectedResult).reason;
    }
    return new WebStack(stack.value, sshd.value);
  }

  get url(): string {
    return this.stack.edgeUrl!;
  }

  get ca(): string {
    return this.stack.edge!.certificate;
  }

  get admin(): { username: string; password: string } {
    return this.stack.admin;
  }

  adminToken(): Promise<string> {
    return this.stack.auth.adminToken();
  }

  /** A host registered through the API, its SSH target the test sshd. */
  async createHost(name: string): Promise<CreatedHostResponse> {
    return this.stack.auth.client.createHost(await this.adminToken(), {
      name: unique(name),
      ssh: { address: this.sshd.host, port: this.sshd.port, username: this.sshd.user.username },
    });
  }

  async getHost(id: string): Promise<HostRecord> {
    return this.stack.auth.client.getHost(await this.adminToken(), id);
  }

  /** A user (not an admin) with these permissions. */
  async createUser(permissions: Permission[]): Promise<UserView & { password: string }> {
    const password = `pw-${Math.random().toString(36).slice(2)}-long`;
    const user = await this.stack.auth.client.createUser(await this.adminToken(), { username: unique("operator"), password, permissions });
    return { ...user, password };
  }

  /** Starts a reference agent with these credentials (it retries quickly while no agent-ws replica answers). */
  startAgent(credentials: { apiId: string; apiKey: string }): ReferenceAgent {
    const agent = new ReferenceAgent({
      server: this.url,
      ca: this.ca,
      apiId: credentials.apiId,
      apiKey: credentials.apiKey,
      backoff: { initialMs: 200, maxMs: 1000 },
      sshProxy: { enabled: true, knownHostsFile: join(this.dir, `${credentials.apiId}-known_hosts`) },
    });
    agent.on("error", () => undefined);
    this.agents.add(agent);
    agent.start();
    return agent;
  }

  async stopAgent(agent: ReferenceAgent): Promise<void> {
    this.agents.delete(agent);
    await agent.stop();
  }

  /**
   * Stops every agent-ws replica (SIGTERM: status streams end with `closing`, agents are closed with 1012). The edge
   * keeps their addresses, as a proxy does for a crashed backend: it answers 502/503 until a replica is back.
   */
  async stopAgentWs(): Promise<void> {
    const replicas: RunningService[] = this.stack.services["agent-ws"]!.splice(0);
    await Promise.all(replicas.map((r) => r.stop()));
  }

  /** Starts a fresh agent-ws replica; the edge routes to it alone. */
  async startAgentWs(): Promise<void> {
    await this.stack.startReplica("agent-ws");
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.agents].map((a) => a.stop()));
    await this.stack.stop();
    await this.sshd.dispose();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One browser context (a person's browser profile): its pages and what went wrong in them. */
export interface UiContext {
  context: BrowserContext;
  /** Problems since the last call: page errors, failed requests, 4xx/5xx answers, console errors, CSP violations. */
  takeProblems(): string[];
}

/** The few browser globals the page scripts use (tests compile without the DOM library). */
interface CspReporterWindow {
  __reportCsp(directive: string, uri: string, source: string): void;
}
interface CspDocument {
  addEventListener(type: "securitypolicyviolation", listener: (e: { blockedURI: string; violatedDirective: string; sourceFile: string }) => void): void;
}

/** One headless Chromium (Debian's, as the testkit launches it) shared by every test, with a context per person. */
export class UiBrowser {
  private constructor(private readonly browser: Browser) {}

  static async launch(): Promise<UiBrowser> {
    return new UiBrowser(await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true }));
  }

  async newContext(viewport = { width: 1280, height: 800 }): Promise<UiContext> {
    const context = await this.browser.newContext({ ignoreHTTPSErrors: true, viewport });
    const problems: string[] = [];
    await context.exposeBinding("__reportCsp", (_source, directive: string, uri: string, file: string) => {
      problems.push(`csp ${directive} blocked ${uri || "(inline)"} in ${file}`);
    });
    await context.addInitScript(() => {
      const g = globalThis as unknown as { document: CspDocument } & CspReporterWindow;
      g.document.addEventListener("securitypolicyviolation", (e) => g.__reportCsp(e.violatedDirective, e.blockedURI, e.sourceFile));
    });
    const watch = (page: Page) => {
      page.on("pageerror", (e) => problems.push(`pageerror ${e.message}`));
      page.on("requestfailed", (r) => problems.push(`failed ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ""}`));
      page.on("response", (r) => {
        if (r.status() >= 400) problems.push(`${r.status()} ${r.request().method()} ${r.url()}`);
      });
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console ${m.text()} ${m.location().url}`.trimEnd());
      });
    };
    context.on("page", watch);
    return { context, takeProblems: () => problems.splice(0) };
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
  }
}

/** axe-core's violations of impact serious or critical on the page as it is now, one line each. */
export async function seriousA11yViolations(page: Page, include?: string): Promise<string[]> {
  let builder = new AxeBuilder({ page });
  if (include) builder = builder.include(include);
  const { violations, passes } = await builder.analyze();
  if (passes.length === 0) throw new Error("axe-core checked nothing on the page");
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

interface ScreenDocument {
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
}

/** The lines xterm.js shows (its DOM renderer draws one <div> per row in .xterm-rows), trailing blanks trimmed. */
export async function terminalLines(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    Array.from((globalThis as unknown as { document: ScreenDocument }).document.querySelectorAll(".xterm-rows > div"), (row) =>
      (row.textContent ?? "").replace(/\u00a0/g, " ").trimEnd(),
    ),
  );
}
