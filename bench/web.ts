/**
 * Web UI benchmark (`npm run bench -- web`): headless Chromium (Debian's, through playwright-core) against the whole
 * local stack (edge, auth, agent-ws, terminal-ws, web; a real sshd), as production runs it (compiled services, the
 * Vite build served precompressed by services/web):
 *
 *  - first contentful paint of the host list (signed in);
 *  - time until 10 000 hosts are listed with live badges (2 000 of them online, simulated agents in another process);
 *  - badge latency: an agent's connect (its `connected` event) → the row's badge showing WSS, p50/p99;
 *  - keystroke echo in the browser terminal, key press → the character on xterm's screen, as a ratio to the same
 *    echo measured on the socket (terminal-ws through the edge) in the same run;
 *  - the terminal page's JavaScript, gzipped;
 *  - Lighthouse 12.2 performance and accessibility of the host list (desktop preset: the goal; mobile reported).
 */
import { localEdge } from "@patchmon-ws/edge";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import puppeteer from "puppeteer-core";
import lighthouse from "lighthouse";
import desktopConfig from "lighthouse/core/config/desktop-config.js";
import { ReferenceAgent } from "@patchmon-ws/agent";
import { CHROMIUM_ARGS, CHROMIUM_PATH, launchBrowser, startSshd, eventually } from "@patchmon-ws/testkit";
import { ManagedProcess, REPO_ROOT, startStack } from "@patchmon-ws/stack";
import { figure, knob, machine, percentile, perFigureMedian, printAndSave, type Figure } from "./lib/report.js";
import { COMPILED, NODE_ARGS } from "./lib/runtime.js";
import { terminalWs } from "./lib/terminal-probe.js";

const RUNS = knob("BENCH_RUNS", 3);
const HOSTS = knob("BENCH_HOSTS", 10_000);
const ONLINE = knob("BENCH_ONLINE", 2000);
const BADGE_SAMPLES = knob("BENCH_BADGE_SAMPLES", 100);
const KEYSTROKES = knob("BENCH_KEYSTROKES", 200);

// Code that runs in the page (evaluate, waitForFunction) reaches the browser's globals through `globalThis as any`:
// the benchmarks compile without the DOM library. Page clocks are epoch ms (performance.timeOrigin + now()),
// comparable with Date.now() here on one machine.

const dir = mkdtempSync(join(tmpdir(), "patchmon-ws-bench-web-"));
const sshd = await startSshd();
const stack = await startStack({
  services: ["auth", "agent-ws", "terminal-ws", "web"],
  edge: localEdge(),
  compiled: COMPILED,
  serviceEnv: { "terminal-ws": { RECORD_SESSIONS: "false" } },
  timeoutMs: 60_000,
});
const browser = await launchBrowser({ viewport: { width: 1280, height: 900 } });
let simulator: ManagedProcess | undefined;
const agents: ReferenceAgent[] = [];
try {
  const edgeUrl = stack.edgeUrl!;
  const token = await stack.auth.adminToken();

  // --- hosts: HOSTS in all, ONLINE of them with agents, and a handful for the badge latency --------------------------
  const created: { id: string; apiId: string; apiKey: string; name: string }[] = [];
  const ssh = { address: sshd.host, port: sshd.port, username: sshd.user.username };
  const createMany = async (count: number, prefix: string) => {
    const out: typeof created = [];
    for (let i = 0; i < count; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, count - i) }, (_, j) => stack.auth.client.createHost(token, { name: `${prefix}-${String(i + j).padStart(5, "0")}`, ssh })),
      );
      out.push(...batch.map((c) => ({ id: c.host.id, apiId: c.host.apiId, apiKey: c.apiKey, name: c.host.name })));
    }
    return out;
  };
  const badgeHosts = await createMany(20, "badge");
  created.push(...badgeHosts, ...(await createMany(HOSTS - badgeHosts.length, "host")));
  const credentialsFile = join(dir, "agents.json");
  writeFileSync(credentialsFile, JSON.stringify(created.slice(badgeHosts.length, badgeHosts.length + ONLINE).map(({ apiId, apiKey }) => ({ apiId, apiKey }))));
  const caFile = join(dir, "ca.pem");
  writeFileSync(caFile, stack.edge!.certificate);
  const cli = COMPILED ? join(REPO_ROOT, "agent", "dist", "cli.js") : join(REPO_ROOT, "agent", "src", "cli.ts");
  simulator = new ManagedProcess(process.execPath, [...NODE_ARGS, cli, "simulate", "--server", edgeUrl, "--ca", caFile, "--credentials-file", credentialsFile, "--log-level", "warn"], { cwd: REPO_ROOT });
  await simulator.waitForOutput(/"event":"all_connected"/, 120_000);

  // --- sign in once (the refresh cookie keeps every later page signed in) ----------------------------------------------
  const page = await browser.context.newPage();
  await page.goto(edgeUrl);
  await page.getByLabel("Username").fill(stack.admin.username);
  await page.getByLabel("Password").fill(stack.admin.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Hosts" }).waitFor();

  // --- first contentful paint, and the full list with live badges ------------------------------------------------------
  const fcp: number[] = [];
  const listed: number[] = [];
  const expected = `${HOSTS} hosts, ${ONLINE} online`;
  for (let run = 0; run < RUNS + 1; run++) {
    const fresh = await browser.context.newPage();
    await fresh.goto(edgeUrl, { waitUntil: "commit" });
    const at = await fresh.waitForFunction(
      (want) => {
        const { document, performance } = globalThis as any;
        const summary: string = document.querySelector(".summary")?.textContent ?? "";
        return summary.includes(want) && summary.includes("Live") && document.querySelectorAll(".host-row .badge").length > 0 ? performance.now() : false;
      },
      expected,
      { polling: "raf", timeout: 60_000 },
    );
    const paint = await fresh.evaluate(() => ((globalThis as any).performance.getEntriesByName("first-contentful-paint")[0]?.startTime as number | undefined) ?? NaN);
    if (run > 0) {
      // The first load warms caches and JIT; it is not counted.
      listed.push((await at.jsonValue()) as number);
      fcp.push(paint);
    }
    await fresh.close();
  }

  // --- badge latency -----------------------------------------------------------------------------------------------
  const watcher = await browser.context.newPage();
  await watcher.goto(edgeUrl);
  await watcher.getByRole("searchbox").fill("badge-");
  await watcher.waitForFunction(() => (globalThis as any).document.querySelectorAll(".host-row").length === 20, undefined, { timeout: 30_000 });
  await watcher.evaluate(() => {
    const { document, performance, MutationObserver } = globalThis as any;
    const seen: Record<string, number> = {};
    (globalThis as any).__badgeSeen = seen;
    const observer = new MutationObserver((records: { target: { dataset?: { status?: string; hostId?: string } } }[]) => {
      for (const record of records) {
        const data = record.target.dataset;
        if (data?.status === "WSS" && data.hostId) seen[data.hostId] ??= performance.timeOrigin + performance.now();
      }
    });
    observer.observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-status"] });
  });
  const badgeLatency: number[] = [];
  while (badgeLatency.length < BADGE_SAMPLES) {
    for (const host of badgeHosts) {
      if (badgeLatency.length >= BADGE_SAMPLES) break;
      await watcher.evaluate((id) => delete (globalThis as any).__badgeSeen[id], host.id);
      const agent = new ReferenceAgent({ server: edgeUrl, ca: stack.edge!.certificate, apiId: host.apiId, apiKey: host.apiKey });
      agent.on("error", () => undefined);
      const connected = new Promise<number>((resolve) => agent.once("connected", () => resolve(Date.now())));
      agent.start();
      const connectedAt = await connected;
      const seenAt = await eventually(() => watcher.evaluate((id) => (globalThis as any).__badgeSeen[id] as number | undefined, host.id), 10_000, "the badge");
      badgeLatency.push(seenAt - connectedAt);
      await agent.stop();
      await watcher.waitForFunction((id) => (globalThis as any).document.querySelector(`[data-host-id="${id}"]`)?.dataset.status === "Offline", host.id, { timeout: 10_000 }).catch(() => undefined);
    }
  }
  badgeLatency.sort((a, b) => a - b);

  // --- keystroke echo: on xterm's screen vs on the socket -------------------------------------------------------------
  const terminalHost = badgeHosts[0]!;
  const term = await browser.context.newPage();
  await term.goto(`${edgeUrl}/hosts/${terminalHost.id}/terminal`);
  await term.getByLabel("SSH password").fill(sshd.user.password);
  await term.getByRole("button", { name: "Connect" }).click();
  await term.getByText(/Connected \(direct/).waitFor();
  const scripts: string[] = await term.evaluate(() =>
    ((globalThis as any).performance.getEntriesByType("resource") as { name: string }[]).filter((r) => r.name.endsWith(".js")).map((r) => r.name),
  );
  await term.keyboard.type("cat > /dev/null\n");
  await term.evaluate(() => {
    const { document, performance, MutationObserver } = globalThis as any;
    const rows = document.querySelector(".xterm-rows");
    const count = () => ((rows.textContent as string).match(/q/g) ?? []).length;
    const state = { pressedAt: 0, echoes: [] as number[], expected: count(), recount: () => (state.expected = count()) };
    (globalThis as any).__echo = state;
    document.addEventListener("keydown", () => (state.pressedAt = performance.now()), true);
    new MutationObserver(() => {
      const now = count();
      if (now > state.expected) {
        state.expected = now;
        state.echoes.push(performance.now() - state.pressedAt);
      }
    }).observe(rows, { subtree: true, childList: true, characterData: true });
  });
  for (let i = 0; i < KEYSTROKES; i++) {
    const before: number = await term.evaluate(() => (globalThis as any).__echo.echoes.length);
    await term.keyboard.press("q");
    await term.waitForFunction((n) => (globalThis as any).__echo.echoes.length > n, before, { polling: "raf", timeout: 10_000 });
    if (i % 50 === 49) {
      // A new line (cat's line holds 4095 characters); should the screen scroll, the count starts over.
      await term.keyboard.press("Enter");
      await term.evaluate(() => (globalThis as any).__echo.recount());
    }
  }
  const browserEcho = ((await term.evaluate(() => (globalThis as any).__echo.echoes)) as number[]).sort((a, b) => a - b);
  const socketProbe = await terminalWs({
    url: `${edgeUrl.replace("https", "wss")}/api/v1/ssh-terminal/${terminalHost.id}?ticket=${await stack.auth.client.ticket(token, "ssh-terminal", terminalHost.id)}`,
    origin: edgeUrl,
    ca: stack.edge!.certificate,
    connect: { username: sshd.user.username, password: sshd.user.password },
  });
  socketProbe.write("cat > /dev/null\r");
  await new Promise((r) => setTimeout(r, 300));
  const socketEcho: number[] = [];
  for (let i = 0; i < KEYSTROKES; i++) {
    const echoed = socketProbe.waitFor("q", 10_000);
    const started = performance.now();
    socketProbe.write("q");
    await echoed;
    socketEcho.push(performance.now() - started);
    if (i % 50 === 49) socketProbe.write("\r");
  }
  socketEcho.sort((a, b) => a - b);
  await socketProbe.close();

  // The terminal page's JavaScript, gzipped as a server would send it (level 9), from the files the page loaded.
  const dist = join(REPO_ROOT, "web", "dist");
  const jsBytes = [...new Set(scripts)].filter((u) => u.includes("/assets/")).reduce((sum, url) => sum + gzipSync(readFileSync(join(dist, new URL(url).pathname))).length, 0);

  // --- Lighthouse ------------------------------------------------------------------------------------------------------
  const lighthouseScores: Record<"desktop" | "mobile", { performance: number[]; accessibility: number[] }> = { desktop: { performance: [], accessibility: [] }, mobile: { performance: [], accessibility: [] } };
  const chrome = await puppeteer.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, "--ignore-certificate-errors"], headless: true });
  try {
    const lhPage = await chrome.newPage();
    await lhPage.goto(edgeUrl);
    await lhPage.type("#username", stack.admin.username);
    await lhPage.type("#password", stack.admin.password);
    await lhPage.click("button[type=submit]");
    await lhPage.waitForSelector(".host-row", { timeout: 60_000 });
    for (const [preset, config] of [["desktop", desktopConfig], ["mobile", undefined]] as const) {
      const scores: { performance: number[]; accessibility: number[] } = { performance: [], accessibility: [] };
      for (let run = 0; run < RUNS; run++) {
        const result = await lighthouse(edgeUrl, { disableStorageReset: true, onlyCategories: ["performance", "accessibility"], logLevel: "error" }, config as never, lhPage as never);
        scores.performance.push((result?.lhr.categories.performance?.score ?? NaN) * 100);
        scores.accessibility.push((result?.lhr.categories.accessibility?.score ?? NaN) * 100);
      }
      lighthouseScores[preset] = scores;
    }
  } finally {
    await chrome.close();
  }

  // Loads and Lighthouse runs are independent samples without a baseline: each figure is the median of its own.
  const values = (samples: number[]) => samples.map((value) => ({ value }));
  const figures: Figure[] = [
    perFigureMedian({ name: "host list first contentful paint", runs: values(fcp), unit: "ms", goals: [{ kind: "max", value: 1000, strict: true }] }),
    perFigureMedian({ name: `${HOSTS} hosts listed with live badges (${ONLINE} online), from navigation`, runs: values(listed), unit: "ms", goals: [{ kind: "max", value: 2000, strict: true }] }),
    figure({ name: "badge reflects an agent's connect, p50", value: percentile(badgeLatency, 50), unit: "ms" }),
    figure({ name: "badge reflects an agent's connect, p99", value: percentile(badgeLatency, 99), unit: "ms", goals: [{ kind: "max", value: 500, strict: true }] }),
    figure({ name: "keystroke echo on the browser terminal's screen, p50", value: percentile(browserEcho, 50), unit: "ms", baseline: percentile(socketEcho, 50), baselineName: "the same echo on the socket (through the edge)" }),
    figure({ name: "keystroke echo on the browser terminal's screen, p99", value: percentile(browserEcho, 99), unit: "ms", baseline: percentile(socketEcho, 99), baselineName: "the same echo on the socket (through the edge)" }),
    figure({ name: "terminal page JavaScript, gzipped (xterm.js included)", value: Math.round(jsBytes / 1024), unit: "KiB", goals: [{ kind: "max", value: 300, strict: true }] }),
    perFigureMedian({ name: "Lighthouse performance, host list (desktop)", runs: values(lighthouseScores.desktop.performance), unit: "points", goals: [{ kind: "min", value: 95 }] }),
    perFigureMedian({ name: "Lighthouse accessibility, host list (desktop)", runs: values(lighthouseScores.desktop.accessibility), unit: "points", goals: [{ kind: "min", value: 95 }] }),
    perFigureMedian({ name: "Lighthouse performance, host list (mobile: slow 4G, 4× CPU)", runs: values(lighthouseScores.mobile.performance), unit: "points" }),
    perFigureMedian({ name: "Lighthouse accessibility, host list (mobile)", runs: values(lighthouseScores.mobile.accessibility), unit: "points" }),
  ];
  printAndSave({
    bench: "web",
    date: new Date().toISOString(),
    machine: machine(),
    method: `Chromium ${await browser.context.browser()?.version() ?? "(persistent context)"} headless, 1280×900; FCP and the full list over ${RUNS} loads after a warm-up (signed in by the refresh cookie; "listed" = the summary shows every host and the online count, the stream is live and rows carry badges, page clock from navigation); badge latency over ${BADGE_SAMPLES} connects of a reference agent (its connected event → a MutationObserver in the page sees data-status WSS, both clocks epoch ms on one machine); echo over ${KEYSTROKES} keys typed into cat (keydown → the character in .xterm-rows) against the same loop on a terminal-ws socket through the edge; JavaScript: the terminal page's loaded scripts gzipped at level 9; Lighthouse ${RUNS} runs per preset on the host list with ${HOSTS} hosts; loads and Lighthouse runs: per-figure medians`,
    runs: RUNS,
    figures,
  });
} finally {
  for (const agent of agents) await agent.stop().catch(() => undefined);
  await simulator?.stop();
  await browser.close();
  await stack.stop();
  await sshd.dispose();
  rmSync(dir, { recursive: true, force: true });
}
