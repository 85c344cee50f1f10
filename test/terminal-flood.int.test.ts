/**
 * The SSH terminal's back-pressure. A flood of output (hundreds of MB of base64 through a PTY) towards a browser that stopped
 * reading must slow the shell, not fill terminal-ws's memory: the browser's socket is paused, the edge's buffers
 * fill, terminal-ws's socket passes its high-water mark, the SSH channel is paused, sshd stops the process.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReferenceAgent } from "@patchmon-ws/agent";
import { type TerminalTestClient } from "@patchmon-ws/testkit";
import { processRss } from "@patchmon-ws/stack";
import { eventually, TerminalStack } from "./support/terminal-stack.js";

const MiB = 1024 * 1024;
let t: TerminalStack;
const dir = mkdtempSync(join(tmpdir(), "patchmon-ws-flood-"));

beforeAll(async () => {
  t = await TerminalStack.start({ services: ["auth", "agent-ws", "terminal-ws"] });
});

afterAll(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Pauses the browser's socket during a flood and samples the RSS of the given processes for 8 s: what went through
 * before the pause took effect was allocated and becomes garbage (V8's young generation fills, then stays); what must
 * not happen is growth that keeps pace with the flood. Then reads again and interrupts the flood.
 */
async function floodWhilePaused(terminal: TerminalTestClient, pids: Record<string, number>): Promise<void> {
  terminal.type("seq 1 20000 | tail -1\n");
  await terminal.waitForOutput("20000");
  const baseline = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processRss(pid)]));
  terminal.ws.ws.pause();
  terminal.discardOutput();
  terminal.type("head -c 400000000 /dev/zero | base64\n");
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(pids).map((name) => [name, []]));
  const started = Date.now();
  while (Date.now() - started < 8000) {
    for (const [name, pid] of Object.entries(pids)) samples[name]!.push(processRss(pid) - baseline[name]!);
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const [name, series] of Object.entries(samples)) {
    const half = series.length >> 1;
    const peak = Math.max(...series);
    const lateGrowth = Math.max(...series.slice(half)) - Math.max(...series.slice(0, half));
    expect({ name, peakUnder48MiB: peak < 48 * MiB, lateGrowthUnder8MiB: lateGrowth < 8 * MiB }).toEqual({ name, peakUnder48MiB: true, lateGrowthUnder8MiB: true });
  }
  // Paused, the socket got hardly anything: unthrottled the PTY produces several hundred MB in those seconds.
  expect(terminal.outputLength).toBeLessThan(8 * MiB);
  terminal.discardOutput();
  terminal.ws.ws.resume();
  await terminal.waitForOutput(/AAAA/);
  terminal.type("\x03");
  terminal.type("echo flood-over\n");
  await terminal.waitForOutput("flood-over", { timeoutMs: 20_000 });
  expect(terminal.errors).toEqual([]);
}

describe("output flood to a slow reader", () => {
  it("keeps terminal-ws's RSS bounded while the browser does not read, and flows again when it does (direct)", async () => {
    const { host } = await t.createHost("flood");
    const terminal = await t.shell(host.id);
    await floodWhilePaused(terminal, { "terminal-ws": t.stack.service("terminal-ws").process.child.pid! });
    await terminal.disconnect();
  });

  it("bounds terminal-ws and agent-ws alike through the agent relay (proxy), and the agent's session survives", async () => {
    const created = await t.createHost("flood-proxy");
    const agent = new ReferenceAgent({
      server: t.edgeUrl,
      ca: t.ca,
      apiId: created.host.apiId,
      apiKey: created.apiKey,
      sshProxy: { enabled: true, knownHostsFile: join(dir, "known_hosts") },
    });
    agent.on("error", () => undefined);
    agent.start();
    try {
      await eventually(async () => (await t.api<{ host: { connected: boolean } }>(`/api/v1/agents/${created.host.id}/status`)).body.host?.connected, 15_000, "agent online");
      const terminal = await t.shell(created.host.id, undefined, { connection_mode: "proxy" });
      await floodWhilePaused(terminal, {
        "terminal-ws": t.stack.service("terminal-ws").process.child.pid!,
        "agent-ws": t.stack.service("agent-ws").process.child.pid!,
      });
      await terminal.disconnect();
    } finally {
      await agent.stop();
    }
  });
});
