/**
 * The SSH terminal end to end in proxy mode: browser → edge → terminal-ws → NATS → the agent-ws replica holding the host's
 * reference agent → the agent's own SSH client → the real sshd. Two agent-ws replicas, so the session crosses
 * replicas over the relay stream; the agent killed mid-session; terminal-ws killed mid-session (the agent is told
 * ssh_proxy_disconnect); a paste larger than an agent frame; proxying disabled on the agent; no agent at all.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReferenceAgent, type SshProxySessionEvent } from "@patchmon-ws/agent";
import { CloseCode } from "@patchmon-ws/protocol";
import { ManagedProcess, REPO_ROOT } from "@patchmon-ws/stack";
import { eventually, TerminalStack } from "./support/terminal-stack.js";

let t: TerminalStack;
const dir = mkdtempSync(join(tmpdir(), "patchmon-ws-proxy-"));
const agents: ReferenceAgent[] = [];

beforeAll(async () => {
  t = await TerminalStack.start({
    services: [
      "auth",
      { name: "agent-ws", replicas: 2 },
      { name: "terminal-ws", replicas: 1 },
    ],
  });
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface AgentStatus {
  connected: boolean;
  replica: string | null;
}

async function agentOnline(hostId: string): Promise<AgentStatus> {
  return eventually(async () => {
    const res = await t.api<{ host: AgentStatus }>(`/api/v1/agents/${hostId}/status`);
    return res.body.host?.connected && res.body.host;
  }, 15_000, "the agent online");
}

/** A host registered with the test sshd's port (the agent connects to localhost:<port>) and its reference agent. */
async function hostWithAgent(name: string, sshProxy = true) {
  const created = await t.createHost(name);
  const agent = t.agentFor(created, sshProxy ? join(dir, `${name}-known_hosts`) : undefined);
  agents.push(agent);
  agent.start();
  const status = await agentOnline(created.host.id);
  return { ...created, agent, status };
}

describe("a terminal through the host's agent (proxy mode)", () => {
  it("connects across replicas, runs commands, follows resizes, takes a paste larger than an agent frame, and disconnects", async () => {
    const { host, status, agent } = await hostWithAgent("proxied");
    expect(status.replica).toMatch(/.+/);
    const closed: string[] = [];
    agent.on("ssh_proxy", (event: SshProxySessionEvent) => {
      if (event.state === "closed") closed.push(event.sessionId);
    });
    const terminal = await t.shell(host.id, undefined, { connection_mode: "proxy" });
    expect(terminal.messages[0]).toMatchObject({ type: "connected", connection_mode: "proxy", host_key: { fingerprint: t.sshd.hostKeyFingerprint } });
    terminal.type("echo via-agent-$((6 * 7))\n");
    await terminal.waitForOutput("via-agent-42");
    let mark = terminal.outputLength;
    terminal.resize(111, 33);
    terminal.type("stty size\n");
    await terminal.waitForOutput(/33 111/, { from: mark });
    // 200 KB in one go: split into frames under the agent's 64 KiB limit, in order, nothing lost. Raw mode: a
    // canonical-mode line holds 4095 characters at most.
    const paste = "0123456789abcdef".repeat(12_500);
    mark = terminal.outputLength;
    // The paste may only start once the terminal is raw: printf's %s form prints "raw-now" only when it runs, never
    // in the echo of the command line.
    terminal.type("stty raw -echo; printf '%s-%s\\n' raw now; head -c 200000 | wc -c; stty sane\n");
    await terminal.waitForOutput("raw-now", { from: mark });
    for (let i = 0; i < paste.length; i += 50_000) terminal.type(paste.slice(i, i + 50_000));
    await terminal.waitForOutput(/\b200000\b/, { from: mark, timeoutMs: 20_000 });
    const sessionId = (terminal.messages[0] as { session_id: string }).session_id;
    expect(await terminal.disconnect()).toMatchObject({ code: CloseCode.NORMAL });
    await eventually(() => closed.includes(sessionId), 10_000, "the agent's SSH session closed");
  });

  it("is refused with PROXY_DISABLED (4008) by an agent that does not allow proxying", async () => {
    const { host } = await hostWithAgent("no-proxy", false);
    const terminal = await t.open(host.id);
    terminal.connect({ connection_mode: "proxy", username: t.sshd.user.username, password: t.sshd.user.password });
    expect((await terminal.closed).code).toBe(CloseCode.TARGET_REFUSED);
    expect(terminal.errors[0]).toMatchObject({ code: "PROXY_DISABLED", message: expect.stringContaining("ssh-proxy-enabled") });
  });

  it("is AGENT_OFFLINE (4006) when the host has no agent connected", async () => {
    const { host } = await t.createHost("agentless");
    const terminal = await t.open(host.id);
    terminal.connect({ connection_mode: "proxy", username: "root", password: "x" });
    expect((await terminal.closed).code).toBe(CloseCode.TARGET_UNAVAILABLE);
    expect(terminal.errors[0]).toMatchObject({ code: "AGENT_OFFLINE" });
  });

  it("reports a wrong password through the agent as SSH_AUTH_FAILED (4008)", async () => {
    const { host } = await hostWithAgent("proxied-wrong-password");
    const terminal = await t.open(host.id);
    terminal.connect({ connection_mode: "proxy", username: t.sshd.user.username, password: "not-the-password" });
    expect((await terminal.closed).code).toBe(CloseCode.TARGET_REFUSED);
    expect(terminal.errors[0]).toMatchObject({ code: "SSH_AUTH_FAILED" });
  });

  it("tells the browser (error, closed, 4006) when the agent is killed mid-session", async () => {
    const created = await t.createHost("killed-agent");
    const caFile = join(dir, "edge-ca.pem");
    writeFileSync(caFile, t.ca);
    const cli = new ManagedProcess(
      process.execPath,
      ["--conditions=source", "--import", "tsx", join(REPO_ROOT, "agent/src/cli.ts"), "run", "--server", t.edgeUrl, "--ca", caFile, "--ssh-proxy-enabled", "--known-hosts", join(dir, "killed-known_hosts")],
      { cwd: REPO_ROOT, env: { ...process.env, PATCHMON_API_ID: created.host.apiId, PATCHMON_API_KEY: created.apiKey } },
    );
    try {
      await agentOnline(created.host.id);
      const terminal = await t.shell(created.host.id, undefined, { connection_mode: "proxy" });
      terminal.type("echo before-kill\n");
      await terminal.waitForOutput("before-kill");
      const killedAt = Date.now();
      await cli.kill();
      const close = await terminal.ws.waitForClose(60_000);
      expect(close.code).toBe(CloseCode.TARGET_UNAVAILABLE);
      expect(terminal.errors[0]).toMatchObject({ code: "AGENT_OFFLINE" });
      // A killed process's socket is closed by its kernel: agent-ws sees it at once, well within the heartbeat bound.
      expect(Date.now() - killedAt).toBeLessThan(10_000);
    } finally {
      await cli.kill();
    }
  });

  it("tells the agent ssh_proxy_disconnect when the terminal-ws replica holding the browser dies", async () => {
    const { host, agent } = await hostWithAgent("orphaned");
    const extra = await t.stack.startReplica("terminal-ws");
    const edge = t.stack.edge!;
    const regular = t.stack.services["terminal-ws"]!.filter((r) => r !== extra).map((r) => r.url);
    edge.setUpstreams("terminal-ws", [extra.url]);
    const events: SshProxySessionEvent[] = [];
    agent.on("ssh_proxy", (event: SshProxySessionEvent) => events.push(event));
    try {
      const terminal = await t.shell(host.id, undefined, { connection_mode: "proxy" });
      const sessionId = (terminal.messages[0] as { session_id: string }).session_id;
      terminal.type("echo doomed\n");
      await terminal.waitForOutput("doomed");
      await extra.kill();
      // The holder notices the silence (RELAY_TIMEOUT_MS, 15 s) and disconnects the agent's session.
      await eventually(() => events.some((e) => e.state === "closed" && e.sessionId === sessionId), 30_000, "the agent's session closed");
      expect((await terminal.closed).code).toBe(1006);
    } finally {
      edge.setUpstreams("terminal-ws", regular);
    }
  }, 60_000);
});
