import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { simulate, type Simulation } from "../src/simulate.js";
import { captureLogger } from "./support/agents.js";
import { TestPeer, type PeerOptions } from "./support/peer.js";
import { createTestPki, type TestPki } from "./support/tls.js";
import { waitFor } from "./support/wait.js";

let pki: TestPki;
const peers: TestPeer[] = [];
const simulations: Simulation[] = [];

beforeAll(async () => {
  pki = await createTestPki();
});
afterEach(async () => {
  await Promise.all(simulations.splice(0).map((s) => s.stop()));
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

async function startPeer(options: PeerOptions = {}) {
  const peer = await TestPeer.start(options);
  peers.push(peer);
  return peer;
}

const credentials = (count: number) => Array.from({ length: count }, (_, i) => ({ apiId: `sim_${i}`, apiKey: `key-${i}` }));

describe("simulate", () => {
  it("runs N agents from one process, each with its own identity, within the connection concurrency", async () => {
    const peer = await startPeer({ upgradeDelayMs: 30 });
    const simulation = await simulate({ server: peer.serverUrl(), agents: credentials(60), connectConcurrency: 5 });
    simulations.push(simulation);
    expect(simulation.agents).toHaveLength(60);
    await simulation.waitForConnected(60, 30_000);
    expect(simulation.connectedCount()).toBe(60);
    const ids = new Set(peer.connections.map((c) => c.headers["x-api-id"]));
    expect(ids.size).toBe(60);
    expect(peer.maxPendingUpgrades).toBeLessThanOrEqual(5);
    expect(peer.maxPendingUpgrades).toBeGreaterThanOrEqual(2);
    for (const connection of peer.connections) await connection.nextMessage((m) => m.type === "hello", "hello");
  });

  it("each simulated agent handles commands, acks and reports on its own", async () => {
    const peer = await startPeer();
    const simulation = await simulate({ server: peer.serverUrl(), agents: credentials(10) });
    simulations.push(simulation);
    await simulation.waitForConnected();
    const reports: string[] = [];
    simulation.agents.forEach((agent) => agent.on("report", () => reports.push(agent.apiId)));
    const target = peer.connections.find((c) => c.headers["x-api-id"] === "sim_7");
    target?.send({ type: "report_now", id: "only-7" });
    expect(await target?.nextMessage((m) => m.type === "ack", "ack")).toEqual({ type: "ack", id: "only-7", ok: true });
    expect(reports).toEqual(["sim_7"]);
  });

  it("tracks disconnects and reconnects in connectedCount()", async () => {
    const peer = await startPeer();
    const simulation = await simulate({ server: peer.serverUrl(), agents: credentials(8), backoff: { initialMs: 50, maxMs: 100 } });
    simulations.push(simulation);
    await simulation.waitForConnected();
    for (const connection of peer.connections.slice(0, 8)) connection.ws.close(1012, "restart");
    await waitFor(() => peer.connections.length >= 16, "eight reconnections");
    await simulation.waitForConnected(8, 15_000);
    expect(simulation.connectedCount()).toBe(8);
  });

  it("resumes TLS sessions across agents through the shared https agent", async () => {
    const peer = await startPeer({ tls: { key: pki.serverKey, cert: pki.serverCert } });
    const simulation = await simulate({ server: peer.serverUrl(), ca: pki.caCert, agents: credentials(6), connectConcurrency: 1 });
    simulations.push(simulation);
    await simulation.waitForConnected();
    const reused = peer.upgradeRequests.map((r) => r.tlsSessionReused);
    expect(reused[0]).toBe(false);
    expect(reused.slice(1).filter(Boolean).length).toBeGreaterThanOrEqual(1);
  });

  it("stop() closes every connection with 1000", async () => {
    const peer = await startPeer();
    const simulation = await simulate({ server: peer.serverUrl(), agents: credentials(12) });
    await simulation.waitForConnected();
    await simulation.stop();
    expect(simulation.connectedCount()).toBe(0);
    const closes = await Promise.all(peer.connections.map((c) => c.waitClosed()));
    expect(closes.every((c) => c.code === 1000)).toBe(true);
  });

  it("waitForConnected() rejects with a count when agents cannot connect", async () => {
    const peer = await startPeer({ refuse: () => ({ status: 401, body: { error: "The credentials are invalid.", code: "INVALID_CREDENTIALS" } }) });
    const logger = captureLogger();
    const simulation = await simulate({ server: peer.serverUrl(), agents: credentials(3), logger });
    simulations.push(simulation);
    await expect(simulation.waitForConnected(3, 300)).rejects.toThrow(/only 0 of 3 agents connected after 300 ms/);
    expect(logger.entries.some((e) => e.msg === "server rejected the connection with HTTP 401")).toBe(true);
  });

  it("refuses duplicate identities and bad credentials up front", async () => {
    await expect(simulate({ server: "https://h", agents: [{ apiId: "a", apiKey: "k" }, { apiId: "a", apiKey: "k2" }] })).rejects.toThrow(/appears twice/);
    await expect(simulate({ server: "https://h", agents: [{ apiId: "a b", apiKey: "k" }] })).rejects.toThrow(/^apiId:/);
    await expect(simulate({ server: "https://h", agents: credentials(1), connectConcurrency: 0 })).rejects.toThrow(/concurrency/);
  });
});
