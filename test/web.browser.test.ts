/**
 * The web UI in headless Chromium against the whole local stack (auth, agent-ws, terminal-ws, bullboard and web
 * behind the TLS edge; a real sshd; reference agents): signing in, live agent status (and its resumption after
 * agent-ws restarts), adding a host and its one-time key, commands, the SSH terminal with resizes, the recording
 * player, permissions, tabs that share a session, sign-out and revocation; on every page axe-core finds nothing
 * serious, the Content-Security-Policy blocks nothing and no page throws. Screenshots land in .screenshots/.
 *
 * One stack and one browser serve every test; the tests run in order and build on each other (the terminal session
 * of one is the recording of the next), each asserting its own part.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { Locator, Page } from "playwright-core";
import type { ReferenceAgent } from "@patchmon-ws/agent";
import type { CreatedHostResponse } from "@patchmon-ws/protocol";
import { screenshot, seriousA11yViolations, terminalLines, UiBrowser, WebStack, type UiContext } from "./support/web-ui.js";

/** The few browser globals the page scripts below use (tests compile without the DOM library). */
interface PageGlobals {
  __pmwsMarker?: string;
  localStorage: { length: number; key(i: number): string | null; getItem(k: string): string | null };
  sessionStorage: { length: number; key(i: number): string | null; getItem(k: string): string | null };
  document: { cookie: string };
  performance: { getEntriesByType(type: string): unknown[] };
  fetch(url: string, init: { headers: Record<string, string> }): Promise<{ status: number; text(): Promise<string> }>;
}

let ui: WebStack;
let browser: UiBrowser;
/** The admin's browser profile and its first tab. */
let admin: UiContext;
let tab: Page;
/** Hosts registered before the host list is first loaded. */
let alpha: CreatedHostResponse; // the sshd host: online/offline, the terminal
let bravo: CreatedHostResponse; // comes online while agent-ws is down; then takes commands
let idle: CreatedHostResponse; // never connected: the offline command
let bravoAgent: ReferenceAgent;
const contexts: UiContext[] = [];

beforeAll(async () => {
  [ui, browser] = await Promise.all([WebStack.start(), UiBrowser.launch()]);
  [alpha, bravo, idle] = await Promise.all([ui.createHost("alpha"), ui.createHost("bravo"), ui.createHost("idle")]);
  admin = await browser.newContext();
  contexts.push(admin);
}, 120_000);

/**
 * Content-Security-Policy violations seen by every test, asserted by the last one: one cause (a library probing for
 * eval, say) fails that test, not every test that loads a page.
 */
const cspViolations: string[] = [];
function keepCsp(problems: string[], test: string | undefined): string[] {
  cspViolations.push(...problems.filter((p) => p.startsWith("csp ")).map((p) => `${p} (during "${test}")`));
  return problems.filter((p) => !p.startsWith("csp "));
}

beforeEach(async () => {
  // A test that failed with a dialog open must not block the next one's clicks.
  for (let i = 0; tab && !tab.isClosed() && i < 3 && (await tab.locator("dialog[open]").count()) > 0; i++) await tab.keyboard.press("Escape");
});

afterEach((ctx) => {
  const problems = keepCsp(contexts.flatMap((c) => c.takeProblems()), ctx.task.name);
  if (ctx.task.result?.state === "fail" && problems.length) console.warn(`browser problems during "${ctx.task.name}":\n${problems.join("\n")}`);
});

afterAll(async () => {
  await browser?.close();
  await ui?.stop();
});

// ---------------------------------------------------------------------------------------------------------------

/** Asserts that nothing went wrong in a context's pages since the last check, apart from the problems expected. */
function expectNoProblems(context: UiContext, expected: RegExp[] = []): void {
  const problems = keepCsp(context.takeProblems(), expect.getState().currentTestName);
  // WEB_UI_DEBUG=1 prints the problems each test expected and let pass.
  if (process.env.WEB_UI_DEBUG && problems.length) console.log(`expected problems in "${expect.getState().currentTestName}":\n${problems.join("\n")}`);
  const unexpected = problems.filter((p) => !expected.some((e) => e.test(p)));
  expect(unexpected, "page errors, failed requests, 4xx/5xx answers or console errors").toEqual([]);
}

/** A provoked 4xx/5xx answer to `method url-pattern`: the response and the console line Chromium logs for it. */
function provoked(status: number, method: string, path: RegExp): RegExp[] {
  return [new RegExp(`^${status} ${method} https://[^ ]+${path.source}`), new RegExp(`^console Failed to load resource: the server responded with a status of ${status}\\b.*${path.source}`)];
}

async function expectAccessible(page: Page, what: string, include?: string): Promise<void> {
  expect(await seriousA11yViolations(page, include), `axe-core: serious or critical violations on ${what}`).toEqual([]);
}

async function signIn(page: Page, username: string, password: string): Promise<string> {
  await page.getByRole("heading", { name: "Sign in to PatchMon" }).waitFor();
  const login = page.waitForResponse((r) => r.url().endsWith("/api/v1/auth/login") && r.request().method() === "POST");
  await page.getByLabel("Username", { exact: true }).fill(username);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  const response = await login;
  expect(response.status()).toBe(200);
  await page.getByRole("heading", { name: "Hosts", level: 1 }).waitFor();
  return ((await response.json()) as { accessToken: string }).accessToken;
}

function hostRow(page: Page, hostId: string): Locator {
  return page.locator(`.host-row[data-host-id="${hostId}"]`);
}

/** Waits until a host's row shows this badge (the data-status attribute and the visible badge agree). */
async function expectBadge(page: Page, hostId: string, label: "WSS" | "WS" | "Offline", timeout = 15_000): Promise<void> {
  const row = hostRow(page, hostId);
  await page.locator(`.host-row[data-host-id="${hostId}"][data-status="${label}"]`).waitFor({ timeout });
  expect((await row.locator(".badge").innerText()).trim()).toBe(label);
}

/** Marks the document: the mark survives anything but a reload or a new document. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => void ((globalThis as unknown as PageGlobals).__pmwsMarker = "same-document"));
}

async function sameDocument(page: Page): Promise<boolean> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).__pmwsMarker === "same-document" && (globalThis as unknown as PageGlobals).performance.getEntriesByType("navigation").length === 1);
}

async function expectSignInPage(page: Page): Promise<void> {
  await page.getByRole("heading", { name: "Sign in to PatchMon" }).waitFor({ timeout: 15_000 });
  expect(await page.getByRole("navigation", { name: "Main" }).count()).toBe(0);
}

async function expectSignedIn(page: Page): Promise<void> {
  await page.getByRole("heading", { name: "Hosts", level: 1 }).waitFor({ timeout: 15_000 });
  expect(await page.getByRole("heading", { name: "Sign in to PatchMon" }).count()).toBe(0);
}

// The problems every status-stream reconnect may leave: the stream request cut when it ends (page closed or
// reloaded, or the stream closed by the client on `closing`).
const STREAM_CUT = /^failed GET https:\/\/[^ ]+\/api\/v1\/agents\/status\/stream\?[^ ]* net::ERR_ABORTED$/;
// What a reload or a closed tab cuts besides: a lazily loaded chunk, or the status stream's ticket, still on its way.
const RELOAD_CUT = /^failed (GET https:\/\/[^ ]+\/assets\/[\w.-]+\.js|POST https:\/\/[^ ]+\/api\/v1\/auth\/ticket) net::ERR_ABORTED$/;

// ---------------------------------------------------------------------------------------------------------------

describe("the web UI in Chromium, against the whole stack", { timeout: 60_000 }, () => {
  it("signs an admin in through the sign-in page; the access token is in no storage or cookie JavaScript can read", async () => {
    tab = await admin.context.newPage();
    const response = await tab.goto(`${ui.url}/`);
    expect(response?.status()).toBe(200);
    await tab.getByRole("heading", { name: "Sign in to PatchMon" }).waitFor();
    await expectAccessible(tab, "the sign-in page");
    await screenshot(tab, "sign-in");

    const accessToken = await signIn(tab, ui.admin.username, ui.admin.password);
    expect(accessToken).toMatch(/^eyJ/);
    await expect.poll(() => tab.getByRole("navigation", { name: "Main" }).getByRole("link").allInnerTexts()).toEqual(["Hosts", "Sessions", "Users"]);
    await tab.getByText(ui.admin.username, { exact: true }).waitFor();

    const readable = await tab.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      const dump = (s: PageGlobals["localStorage"]) => Array.from({ length: s.length }, (_, i) => `${s.key(i)}=${s.getItem(s.key(i) ?? "")}`);
      return { local: dump(g.localStorage), session: dump(g.sessionStorage), cookie: g.document.cookie };
    });
    const everything = JSON.stringify(readable);
    expect(everything).not.toContain(accessToken);
    expect(everything).not.toMatch(/eyJ[\w-]+\.[\w-]+\./); // no JWT at all
    // The refresh token is a cookie JavaScript cannot read, sent to the auth API only.
    const refresh = (await admin.context.cookies()).find((c) => c.name === "refresh_token");
    expect(refresh).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict", path: "/api/v1/auth" });
    expect(readable.cookie).not.toContain("refresh_token");
    expectNoProblems(admin);
  });

  it("shows an agent come online over WSS and go offline again, live, without a reload", async () => {
    await tab.getByText(/\d+ hosts, \d+ online/).waitFor();
    await tab.locator(".stream.live").getByText("Live").waitFor();
    await expectBadge(tab, alpha.host.id, "Offline");
    await markDocument(tab);

    const agent = ui.startAgent({ apiId: alpha.host.apiId, apiKey: alpha.apiKey });
    await expectBadge(tab, alpha.host.id, "WSS");
    expect(await hostRow(tab, alpha.host.id).locator(".status-detail").innerText()).toMatch(/^connected \d+ s ago, agent \S+/);
    await expectAccessible(tab, "the host list with rows");
    await screenshot(tab, "hosts");

    await ui.stopAgent(agent);
    await expectBadge(tab, alpha.host.id, "Offline");
    expect(await hostRow(tab, alpha.host.id).locator(".status-detail").innerText()).toMatch(/^disconnected \d+ s ago$/);
    expect(await sameDocument(tab)).toBe(true);
    expectNoProblems(admin);
  });

  it("resumes the status stream after agent-ws restarts and shows what changed meanwhile, without a reload", async () => {
    const alphaAgent = ui.startAgent({ apiId: alpha.host.apiId, apiKey: alpha.apiKey });
    await expectBadge(tab, alpha.host.id, "WSS");
    await expectBadge(tab, bravo.host.id, "Offline");
    await markDocument(tab);
    const streams: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (r.url().includes("/api/v1/agents/status/stream")) streams.push(r.url());
    };
    tab.on("request", onRequest);
    try {
      // The blip: every agent-ws replica goes away (SIGTERM: streams end, agents are closed and written offline).
      await ui.stopAgentWs();
      await tab.locator(".stream.reconnecting").getByText("Reconnecting…").waitFor();
      // Meanwhile alpha's agent is gone for good and bravo's starts (it connects once agent-ws is back).
      await ui.stopAgent(alphaAgent);
      bravoAgent = ui.startAgent({ apiId: bravo.host.apiId, apiKey: bravo.apiKey });
      await ui.startAgentWs();

      await expectBadge(tab, bravo.host.id, "WSS", 40_000);
      await expectBadge(tab, alpha.host.id, "Offline");
      await tab.locator(".stream.live").getByText("Live").waitFor();
      expect(await sameDocument(tab)).toBe(true);
      // It resumed: a stream opened after the blip named the last event it had seen.
      expect(streams.slice(1).some((url) => new URL(url).searchParams.has("lastEventId")), streams.join("\n")).toBe(true);
    } finally {
      tab.off("request", onRequest);
    }
    // While no replica answered, the edge refused the stream (and the agents).
    expectNoProblems(admin, [STREAM_CUT, ...provoked(502, "GET", /\/api\/v1\/agents\/status\/stream\?/), ...provoked(503, "GET", /\/api\/v1\/agents\/status\/stream\?/)]);
  });

  it("adds a host through the dialog, shows its API key once (it works), and never again", async () => {
    const name = `delta-${Date.now().toString(36)}`;
    await tab.getByRole("button", { name: "Add host" }).click();
    const form = tab.getByRole("dialog", { name: "Add a host" });
    await form.getByLabel("Name", { exact: true }).fill(name);
    await form.getByLabel("Address", { exact: true }).fill(ui.sshd.host);
    await form.getByLabel("Port", { exact: true }).fill(String(ui.sshd.port));
    await form.getByLabel("Default user", { exact: true }).fill(ui.sshd.user.username);
    await expectAccessible(tab, "the add-host dialog");
    await form.getByRole("button", { name: "Add host" }).click();

    const added = tab.getByRole("dialog", { name: `Host ${name} added` });
    await added.waitFor();
    const apiId = (await added.getByTestId("api-id").innerText()).trim();
    const apiKey = (await added.getByTestId("api-key").innerText()).trim();
    expect(apiId).toMatch(/\S{8,}/);
    expect(apiKey).toMatch(/\S{16,}/);
    const files = (await added.locator("pre").allInnerTexts()).join("\n");
    expect(files).toContain(apiId);
    expect(files).toContain(apiKey);
    expect(files).toContain(ui.url);
    await expectAccessible(tab, "the add-host dialog showing the new credentials");
    await added.getByRole("button", { name: "Done" }).click();
    await added.waitFor({ state: "detached" });

    // The row, and the key works: an agent using it comes online.
    const row = tab.locator(".host-row", { hasText: name });
    await row.waitFor();
    const hostId = (await row.getAttribute("data-host-id"))!;
    expect((await ui.getHost(hostId)).apiId).toBe(apiId);
    const agent = ui.startAgent({ apiId, apiKey });
    await expectBadge(tab, hostId, "WSS");

    // Manage never shows the key again.
    await tab.getByRole("button", { name: `Manage ${name}` }).click();
    const manage = tab.getByRole("dialog", { name: `Manage ${name}` });
    await manage.getByRole("heading", { name: "SSH host key" }).waitFor();
    expect(await manage.innerText()).not.toContain(apiKey);
    expect(await manage.getByTestId("api-key").count()).toBe(0);
    await expectAccessible(tab, "the manage dialog");
    await manage.getByRole("button", { name: "Close" }).click();
    await manage.waitFor({ state: "detached" });
    expect(await tab.locator("body").innerText()).not.toContain(apiKey);
    await ui.stopAgent(agent);
    expectNoProblems(admin);
  });

  it("sends Report now to a connected agent (acknowledged) and explains an offline one, then queues it", async () => {
    const commands: string[] = [];
    const reports: unknown[] = [];
    bravoAgent.on("command", (m) => commands.push(m.type));
    bravoAgent.on("report", (r) => reports.push(r));
    await expectBadge(tab, bravo.host.id, "WSS");
    await tab.getByRole("button", { name: `Send a command to ${bravo.host.name}` }).click();
    const dialog = tab.getByRole("dialog", { name: `Send a command to ${bravo.host.name}` });
    await dialog.getByLabel("Command").selectOption({ label: "Report now" });
    await expectAccessible(tab, "the command dialog");
    await dialog.getByRole("button", { name: "Send" }).click();
    await dialog.getByRole("status").getByText(/^Delivered and acknowledged by the agent/).waitFor();
    expect(commands).toEqual(["report_now"]);
    expect(reports).toHaveLength(1);
    await dialog.getByRole("button", { name: "Close" }).click();
    await dialog.waitFor({ state: "detached" });

    await tab.getByRole("button", { name: `Send a command to ${idle.host.name}` }).click();
    const offline = tab.getByRole("dialog", { name: `Send a command to ${idle.host.name}` });
    await offline.getByRole("button", { name: "Send" }).click();
    await offline.getByRole("status").getByText(`The agent of ${idle.host.name} is not connected, so nothing was sent. It has never connected.`, { exact: false }).waitFor();
    await expectAccessible(tab, "the command dialog explaining an offline agent");
    await offline.getByRole("button", { name: "Queue it" }).click();
    await offline.getByRole("status").getByText("Queued: it will be delivered when the agent reconnects.").waitFor();
    await offline.getByRole("button", { name: "Close" }).click();

    // Queued for real: the agent gets it when it connects.
    const late = ui.startAgent({ apiId: idle.host.apiId, apiKey: idle.apiKey });
    const delivered: string[] = [];
    late.on("command", (m) => delivered.push(m.type));
    await expect.poll(() => delivered, { timeout: 20_000 }).toContain("report_now");
    await ui.stopAgent(late);
    expectNoProblems(admin, provoked(409, "POST", new RegExp(`/api/v1/agents/${idle.host.id}/commands$`)));
  });

  it("lays the host list out for a narrow screen (375×740): every host's name readable, nothing serious for axe", async () => {
    await tab.setViewportSize({ width: 375, height: 740 });
    try {
      await expectBadge(tab, bravo.host.id, "WSS");
      await screenshot(tab, "hosts-narrow");
      await expectAccessible(tab, "the host list on a narrow screen");
      // Rows wrap on narrow screens (hosts.tsx); a name of 20-odd characters fits the width on a line of its own.
      const names = await tab.locator(".host-row .host-name strong").evaluateAll((elements) =>
        elements.map((e) => {
          const el = e as unknown as { textContent: string; scrollWidth: number; clientWidth: number };
          return { name: el.textContent, clipped: el.scrollWidth > el.clientWidth, width: el.clientWidth };
        }),
      );
      expect(names.length).toBeGreaterThanOrEqual(3);
      expect(names.filter((n) => n.clipped), "host names cut off (…) at 375 px").toEqual([]);
    } finally {
      await tab.setViewportSize({ width: 1280, height: 800 });
    }
    expectNoProblems(admin);
  });

  let terminal: Page;

  it("opens a terminal in a new tab from the host row, signs in to sshd and shows a command's output", async () => {
    const [opened] = await Promise.all([
      admin.context.waitForEvent("page"),
      tab.getByRole("link", { name: `Open a terminal to ${alpha.host.name} (new tab)` }).click(),
    ]);
    terminal = opened;
    await terminal.waitForURL(`${ui.url}/hosts/${alpha.host.id}/terminal`);
    await terminal.getByRole("heading", { name: `Terminal: ${alpha.host.name}` }).waitFor();
    expect(await terminal.getByRole("heading", { name: "Sign in to PatchMon" }).count()).toBe(0);
    const form = terminal.getByRole("form", { name: "Connect" });
    expect(await form.getByRole("radio", { name: "Direct" }).isChecked()).toBe(true);
    expect(await form.getByLabel("Username", { exact: true }).inputValue()).toBe(ui.sshd.user.username);
    await expectAccessible(terminal, "the terminal page's connect form");

    await form.getByLabel("SSH password").fill(ui.sshd.user.password);
    await form.getByRole("button", { name: "Connect" }).click();
    await terminal.getByText(/^Connected \(direct, host key SHA256:\S+ /).waitFor({ timeout: 20_000 });
    await terminal.locator(".xterm-screen").click();
    await terminal.keyboard.type("echo hello-from-browser");
    await terminal.keyboard.press("Enter");
    await expect.poll(() => terminalLines(terminal), { timeout: 15_000 }).toContain("hello-from-browser");
    await expectAccessible(terminal, "the connected terminal page");
    await screenshot(terminal, "terminal");
    expectNoProblems(admin);
  });

  it("follows the browser window's size: stty size in the shell changes with it", async () => {
    const sizes = async (): Promise<string[]> => (await terminalLines(terminal)).filter((l) => /^size=\d+ \d+$/.test(l));
    const rowsOnScreen = () => terminal.locator(".xterm-rows > div").count();
    const askSize = async (count: number): Promise<[number, number]> => {
      await terminal.keyboard.type("stty size | sed 's/^/size=/'");
      await terminal.keyboard.press("Enter");
      await expect.poll(async () => (await sizes()).length, { timeout: 10_000 }).toBe(count);
      const [rows, cols] = (await sizes()).at(-1)!.slice(5).split(" ").map(Number) as [number, number];
      return [rows, cols];
    };
    const [rows1, cols1] = await askSize(1);
    expect(rows1).toBe(await rowsOnScreen());

    await terminal.setViewportSize({ width: 900, height: 560 });
    await expect.poll(rowsOnScreen).toBeLessThan(rows1);
    const [rows2, cols2] = await askSize(2);
    expect(rows2).toBe(await rowsOnScreen());
    expect(rows2).toBeLessThan(rows1);
    expect(cols2).toBeLessThan(cols1);
    // Roughly in proportion to the width (the page's margins take their share).
    expect(cols2 / cols1).toBeGreaterThan(0.55);
    expect(cols2 / cols1).toBeLessThan(0.8);
    expectNoProblems(admin);
  });

  it("plays the session's recording on the Sessions page", async () => {
    await terminal.getByRole("button", { name: "Disconnect" }).click();
    await terminal.getByText("You disconnected.").waitFor();
    await terminal.close();

    await tab.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Sessions" }).click();
    await tab.getByRole("heading", { name: "Terminal sessions" }).waitFor();
    const row = tab.locator("tr[data-session-id]", { hasText: alpha.host.name });
    const play = row.getByRole("button", { name: new RegExp(`^Play the recording of ${ui.admin.username} on ${alpha.host.name}`) });
    // The list is read when the page opens; the session may still be closing then: filter again until it is there.
    await vi.waitFor(
      async () => {
        await tab.getByRole("button", { name: "Filter" }).click();
        await play.waitFor({ timeout: 1000 });
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(await row.count()).toBe(1);
    expect(await row.getAttribute("data-session-id")).toMatch(/\S+/);
    await expectAccessible(tab, "the sessions page");

    await play.click();
    const dialog = tab.getByRole("dialog", { name: new RegExp(`^Recording: ${ui.admin.username} on ${alpha.host.name}, `) });
    const player = dialog.getByTestId("player");
    await expect.poll(() => player.innerText(), { timeout: 20_000 }).toContain("hello-from-browser");
    await screenshot(tab, "recording-player");
    await expectAccessible(tab, "the recording player");
    await dialog.getByRole("button", { name: "Close" }).click();
    await dialog.waitFor({ state: "detached" });
    expectNoProblems(admin);
  });

  let operator: { id: string; username: string; password: string };
  let operatorContext: UiContext;
  let operatorTab: Page;

  it("keeps a user with can_use_ssh_terminal only out of Sessions and Users (links, pages and API)", async () => {
    operator = await ui.createUser(["can_use_ssh_terminal"]);
    operatorContext = await browser.newContext();
    contexts.push(operatorContext);
    operatorTab = await operatorContext.context.newPage();
    await operatorTab.goto(`${ui.url}/`);
    const token = await signIn(operatorTab, operator.username, operator.password);

    const nav = operatorTab.getByRole("navigation", { name: "Main" });
    await expect.poll(() => nav.getByRole("link").allInnerTexts()).toEqual(["Hosts"]);
    expect(await nav.getByRole("button").count()).toBe(0); // no Queues either
    await expectBadge(operatorTab, bravo.host.id, "WSS");
    expect(await operatorTab.getByRole("link", { name: `Open a terminal to ${alpha.host.name} (new tab)` }).count()).toBe(1);
    expect(await operatorTab.getByRole("button", { name: "Add host" }).count()).toBe(0);
    expect(await operatorTab.getByRole("button", { name: `Manage ${alpha.host.name}` }).count()).toBe(0);

    for (const path of ["/sessions", "/users"]) {
      await operatorTab.goto(`${ui.url}${path}`);
      await operatorTab.getByRole("heading", { name: "Not allowed" }).waitFor();
      expect(await operatorTab.getByRole("table").count()).toBe(0);
    }
    const statuses = await operatorTab.evaluate(async (bearer) => {
      const get = (url: string) => (globalThis as unknown as PageGlobals).fetch(url, { headers: { authorization: `Bearer ${bearer}` } }).then(async (r) => (await r.text(), r.status));
      return { sessions: await get("/api/v1/terminal/sessions"), users: await get("/api/v1/users") };
    }, token);
    expect(statuses).toEqual({ sessions: 403, users: 403 });

    await operatorTab.goto(`${ui.url}/`);
    await expectSignedIn(operatorTab);
    await operatorTab.locator(".stream.live").getByText("Live").waitFor();
    expectNoProblems(operatorContext, [STREAM_CUT, RELOAD_CUT, ...provoked(403, "GET", /\/api\/v1\/terminal\/sessions$/), ...provoked(403, "GET", /\/api\/v1\/users$/)]);
  });

  let second: Page;

  it("keeps a second tab signed in, and both through reloads at once (the refresh cookie, auth's grace window)", async () => {
    await tab.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Hosts" }).click();
    await expectSignedIn(tab);
    second = await admin.context.newPage();
    await second.goto(`${ui.url}/`);
    await expectSignedIn(second);
    await second.getByText(ui.admin.username, { exact: true }).waitFor();

    const refreshes: number[] = [];
    const onResponse = (r: { url(): string; status(): number }) => {
      if (r.url().endsWith("/api/v1/auth/refresh")) refreshes.push(r.status());
    };
    tab.on("response", onResponse);
    second.on("response", onResponse);
    try {
      await Promise.all([tab.reload(), second.reload()]);
      await Promise.all([expectSignedIn(tab), expectSignedIn(second)]);
      expect(refreshes).toEqual([200, 200]);
      // The session survived both refreshes: one more still works.
      await second.reload();
      await expectSignedIn(second);
      expect(refreshes).toEqual([200, 200, 200]);
    } finally {
      tab.off("response", onResponse);
      second.off("response", onResponse);
    }
    await expectBadge(tab, bravo.host.id, "WSS");
    expectNoProblems(admin, [STREAM_CUT, RELOAD_CUT]);
  });

  it("signs the other tab out when one signs out (and says nothing odd to the one that did)", async () => {
    // The logout's answer is slow to come back (as on a slow network): the session is revoked on the server at once,
    // so the status streams hear `revoked` before the signing-out tab has its answer. Held until the other tab is
    // on the sign-in page (through its stream; the tab's own BroadcastChannel note only follows the answer), at most 10 s.
    await second.route("**/api/v1/auth/logout", async (route) => {
      const response = await route.fetch();
      await tab.getByRole("heading", { name: "Sign in to PatchMon" }).waitFor({ timeout: 10_000 }).catch(() => undefined);
      await route.fulfill({ response });
    });
    await second.getByRole("button", { name: "Sign out" }).click();
    await expectSignInPage(second);
    await expectSignInPage(tab);
    // The tab that stayed says why; the one that signed out has nothing to explain.
    await tab.getByRole("status").getByText(/signed out in another tab|session was ended/).waitFor();
    const told = await second.getByRole("status").allInnerTexts();
    await second.close();
    await signIn(tab, ui.admin.username, ui.admin.password);
    expect(told, "notices on the sign-in page of the tab that signed out itself").toEqual([]);
    expectNoProblems(admin, [STREAM_CUT, RELOAD_CUT]);
  });

  it("returns a user whose account an admin disables to the sign-in page, saying why", async () => {
    await tab.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
    await tab.getByRole("heading", { name: "Users", level: 1 }).waitFor();
    const row = tab.getByRole("row").filter({ hasText: operator.username });
    await row.getByRole("cell", { name: "active" }).waitFor();
    await expectAccessible(tab, "the users page");

    await tab.getByRole("button", { name: `Disable ${operator.username}` }).click();
    await row.getByRole("cell", { name: "disabled" }).waitFor();
    await expectSignInPage(operatorTab);
    await operatorTab.getByRole("status").getByText(/disabled|session was ended/i).waitFor();
    expectNoProblems(admin);
    expectNoProblems(operatorContext, [STREAM_CUT]);
  });

  it("met no Content-Security-Policy violation on any page, in any test", () => {
    keepCsp(contexts.flatMap((c) => c.takeProblems()), "the end");
    expect(cspViolations).toEqual([]);
  });
});
